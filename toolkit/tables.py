"""Plain tables as Markdown: what the benchmark report (:mod:`toolkit.report`), the matrix and selection
reports (:mod:`toolkit.plots`) and the CLI render their rows with. Pure functions, no toolkit imports."""

from __future__ import annotations

__all__ = ["to_markdown"]


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"

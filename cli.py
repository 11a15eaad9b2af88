"""The `xta` command line: a thin Typer shell over the ``toolkit`` library.

Each command turns flags into a config object, makes one library call and renders the result. Errors the
library raises as ``XtaError`` become one red line on stderr and exit code 1 (no traceback).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from toolkit.errors import XtaError

app = typer.Typer(
    help="xta: English intermediate-task adapters on a frozen multilingual encoder, evaluated zero-shot on XTREME-R.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="List the registered tasks, or show one.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")

console = Console()
err_console = Console(stderr=True)

DataDirOpt = typer.Option(None, "--data-dir", help="Local mirror of the original benchmark files (default: $XTA_DATA_DIR).")


def cli_errors(fn):
    """Turn XtaError into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except XtaError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what xta does.")):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def version():
    """Print xta's version."""
    from toolkit import __version__

    typer.echo(__version__)


@tasks_app.callback()
@cli_errors
def tasks(ctx: typer.Context, benchmark: Optional[str] = typer.Option(None, help="Only target tasks of xtreme-r or xtreme.")):
    """Table of every task: name, benchmark, shape, number of languages, main metric."""
    if ctx.invoked_subcommand:
        return
    from toolkit.tasks import all_tasks

    table = Table(title="xta tasks")
    for col in ("task", "benchmark", "shape", "#langs", "metric", "english training source"):
        table.add_column(col)
    for spec in all_tasks().values():
        if benchmark and benchmark not in spec.benchmarks:
            continue
        table.add_row(spec.name, ", ".join(spec.benchmarks), spec.shape, str(len(spec.langs())), spec.main_metric,
                      ", ".join(spec.train_from) or ("-" if spec.is_target else "(itself)"))
    console.print(table)


@tasks_app.command("show")
@cli_errors
def tasks_show(name: str, data_dir: Optional[Path] = DataDirOpt):
    """Everything about one task, and which of its languages are available locally."""
    from toolkit import data
    from toolkit.tasks import get_task

    spec = get_task(name)
    console.print(f"[bold]{spec.name}[/] (v{spec.version}) - {spec.description}")
    rows = [
        ("benchmarks", ", ".join(spec.benchmarks)), ("shape", spec.shape), ("category", spec.category or "-"),
        ("labels", ", ".join(spec.labels) if spec.labels else ("from data" if spec.open_labels else "-")),
        ("metrics", f"{', '.join(spec.metrics)} (main: {spec.main_metric})"),
        ("training source", ", ".join(spec.train_from) or "-"),
        ("languages", f"{len(spec.langs())}: {' '.join(spec.langs())}"),
        ("license", spec.license), ("citation", spec.citation),
    ]
    if spec.question_prompts:
        rows.append(("question prompts", "; ".join(f"{k} -> {v}" for k, v in spec.question_prompts.items())))
    if spec.adapter:
        rows.append(("adapter", ", ".join(f"{k}={v}" for k, v in spec.adapter.items())))
    table = Table(show_header=False)
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    splits = Table(title="splits")
    for col in ("split", "local files", "hub", "available locally"):
        splits.add_column(col)
    root = data.resolve_data_dir(data_dir)
    for split_name, src in spec.splits.items():
        hubs = src.hub if isinstance(src.hub, tuple) else ((src.hub,) if src.hub else ())
        local_langs = data.available_languages(spec, split_name, root) if root else []
        splits.add_row(
            split_name, "\n".join(s.pattern for s in src.local) or "-",
            "\n".join(f"{h.path}" + (f" [{h.config}]" if h.config else "") + f" {h.split}" for h in hubs) or "-",
            (" ".join(local_langs) or "none") if root else "(no --data-dir / XTA_DATA_DIR)",
        )
    console.print(splits)


if __name__ == "__main__":
    app()

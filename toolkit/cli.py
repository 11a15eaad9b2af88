"""The ``xta`` command as ``xta.cli`` (the console script's entry point) and ``python -m xta``.

The commands live in the top-level ``cli.py`` beside this package (in the repository and in an installed
wheel alike). It is loaded here by its path, not as ``import cli``: another installed module named ``cli``
cannot shadow it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "cli.py"


def _load():
    already = sys.modules.get("cli")
    if already is not None and Path(getattr(already, "__file__", "") or "").resolve() == _PATH:
        return already  # this repository's cli.py, imported as `cli` (the tests do)
    if "_xta_cli" in sys.modules:
        return sys.modules["_xta_cli"]
    spec = importlib.util.spec_from_file_location("_xta_cli", _PATH)
    if spec is None or spec.loader is None or not _PATH.is_file():
        raise ImportError(f"xta's command-line module is missing: {_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_xta_cli"] = module
    spec.loader.exec_module(module)
    return module


app = _load().app


def main() -> None:
    app(prog_name="xta")

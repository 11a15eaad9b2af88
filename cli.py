"""The `xta` command line: a thin Typer shell over the ``toolkit`` library."""

from __future__ import annotations

import typer

app = typer.Typer(help="xta: English intermediate-task adapters and zero-shot cross-lingual transfer.", no_args_is_help=True)


@app.command()
def version():
    """Print xta's version."""
    from toolkit import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()

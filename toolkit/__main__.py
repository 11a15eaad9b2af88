"""``python -m xta`` (or ``python -m toolkit``): the ``xta`` command."""

from toolkit.cli import main

main()

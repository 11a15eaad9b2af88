"""The XtaError hierarchy.

The library raises these with a message a user can act on; only the CLI turns them into exit codes
(see ``cli.py``). Messages are one line and name the file (and line) where there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class XtaError(Exception):
    """Base class of every error xta reports to a user (exit code 1 from the CLI)."""


class UnknownName(XtaError):
    """A task, language, adapter, setup or encoder name that xta does not know."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(set(known))
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = "" if close or len(known) > 60 else f" (known: {', '.join(known)})"
        super().__init__(f"unknown {kind} {name!r}{hint}{listing}")


class UnknownTask(UnknownName):
    def __init__(self, name: str, known: Iterable[str]):
        super().__init__("task", name, known)


class UnknownLanguage(UnknownName):
    def __init__(self, name: str, known: Iterable[str], task: str | None = None):
        super().__init__(f"language for {task}" if task else "language", name, known)


class ConfigError(XtaError):
    """An option or a card that cannot be used as given."""


class DataError(XtaError):
    """Data that is missing, unreachable or malformed. Names the file and, where known, the line."""

    def __init__(self, message: str, path: object | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        self.path, self.line = path, line
        super().__init__(f"{where}{message}")


class DataUnavailable(DataError):
    """Neither the Hub nor a local mirror can provide a dataset."""


class EncoderError(XtaError):
    """An encoder that cannot be loaded or does not fit (wrong file, checksum, hidden size...)."""


class SetupError(XtaError):
    """An adapter setup that cannot be parsed or composed."""


class ResultConflict(XtaError):
    """A finished result computed under another configuration would be replaced (``--overwrite`` allows it)."""


class UnsafeFileError(XtaError):
    """A file that would need pickle (or another code-executing format) to load."""

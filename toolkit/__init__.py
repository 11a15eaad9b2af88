"""xta: English intermediate-task adapters and zero-shot cross-lingual transfer on XTREME-R.

The Python API (``import xta``; the README's "Python API" section has a session)::

    import xta
    xta.list_tasks("demo")                       # the task registry, as a list of dicts
    enc = xta.load_encoder("embedded")           # a frozen encoder (loaded once per process)
    xta.train_adapter("cldr_kind", max_steps=30) # an adapter + head on English data -> TrainResult
    xta.evaluate_setup("auto", benchmark="demo") # zero-shot evaluation into the results store -> EvalRun
    xta.run_matrix(targets=("cldr_kind",), ...)  # the transfer matrix -> MatrixRun
    xta.read_results()                           # the results store as rows (pandas.DataFrame(rows) works)
    xta.select("xcopa", estimator="size")        # intermediate-task selection -> SelectionRun

Everything heavy (torch, transformers) is imported by the call that needs it, not by ``import xta``.
The library is installed under two names from one folder, ``xta`` and ``toolkit`` (the name this
repository's code uses); whichever a process imports first is the real one and the other an alias of it,
so ``xta.errors.XtaError is toolkit.errors.XtaError``.
"""

__version__ = "0.1.0"

import importlib as _importlib
import importlib.abc as _abc
import importlib.util as _util
import logging as _logging
import sys as _sys

_NAMES = ("xta", "toolkit")


class _AliasFinder(_abc.MetaPathFinder, _abc.Loader):
    """Import ``<alias>`` and ``<alias>.x.y`` as the already imported ``<real>`` / ``<real>.x.y`` (the
    same module objects, never a second copy of a module)."""

    def __init__(self, real: str, alias: str):
        self.real, self.alias = real, alias

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.alias and not fullname.startswith(self.alias + "."):
            return None
        real = _util.find_spec(self.real + fullname[len(self.alias):])
        if real is None:
            return None
        return _util.spec_from_loader(fullname, self, is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        return _importlib.import_module(self.real + spec.name[len(self.alias):])

    def exec_module(self, module):  # the real module has run already
        pass


def _install_alias() -> None:
    if __name__ not in _NAMES:  # imported some other way (a vendored copy): leave imports alone
        return
    alias = _NAMES[1 - _NAMES.index(__name__)]
    if any(isinstance(f, _AliasFinder) for f in _sys.meta_path) or alias in _sys.modules:
        return
    _sys.meta_path.insert(0, _AliasFinder(__name__, alias))


_install_alias()


def _not_the_inactive_adapters_notice(record: _logging.LogRecord) -> bool:
    """Drop the ``adapters`` library's "adapters available but none are activated" warning: xta runs the
    bare encoder on purpose (baselines, retrieval, dataset embeddings) while trained adapters stay loaded."""
    return "none are activated for the forward pass" not in record.getMessage()


_logging.getLogger("adapters.model_mixin").addFilter(_not_the_inactive_adapters_notice)

from .api import (  # noqa: E402  (after the alias: api's lazy imports use this package's own name)
    Table, evaluate_setup, list_tasks, load_encoder, read_results, run_matrix, select, train_adapter,
)

__all__ = ["__version__", "Table", "evaluate_setup", "list_tasks", "load_encoder", "read_results", "run_matrix",
           "select", "train_adapter"]

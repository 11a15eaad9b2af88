"""The Python API: what the ``xta`` commands do, as functions for notebooks and scripts (``import xta``).

Each function takes the command's options as keyword arguments (the config fields of
:class:`toolkit.config.TrainConfig`, :class:`toolkit.config.EvalConfig`, :class:`toolkit.matrix.MatrixConfig`;
a misspelled one is a ``ConfigError`` with a did-you-mean) and returns the library's result object.
Nothing here imports torch at module level: ``import xta`` stays fast, the first model call pays for it.

=============================  ===================================  ==============================
function                       what it does                         CLI
=============================  ===================================  ==============================
``list_tasks(benchmark)``      the task registry as rows             ``xta tasks``
``load_encoder(model)``        a frozen encoder, loaded once         ``--model``
``train_adapter(task, ...)``   an adapter + head on English data     ``xta train-adapter``
``evaluate_setup(setup, ...)`` zero-shot evaluation into the store   ``xta eval``
``run_matrix(config, ...)``    the transfer matrix                   ``xta matrix``
``read_results(...)``          the results store as rows             ``xta report``
``select(target, ...)``        intermediate-task selection           ``xta select``
=============================  ===================================  ==============================

Rows (:class:`Table`) are a list of flat dicts, so ``pandas.DataFrame(rows)`` gives a data frame (pandas
is not a dependency of xta; ``rows.to_records()`` returns the plain list).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PathLike = str | os.PathLike


class Table(list):
    """Rows as flat dicts (one per task, or per task and language): ``pandas.DataFrame(table)`` works."""

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as a plain list of dicts (copies)."""
        return [dict(row) for row in self]

    @property
    def columns(self) -> list[str]:
        """Every key of any row, in first-seen order."""
        return list(dict.fromkeys(k for row in self for k in row))


def _data_dir(data_dir: PathLike | None) -> str | None:
    return str(data_dir) if data_dir is not None else os.environ.get("XTA_DATA_DIR")


def _str(path: PathLike | None) -> str | None:
    return str(path) if path is not None else None


def list_tasks(benchmark: str | None = None) -> Table:
    """Every registered task (``benchmark``: only the target tasks of ``xtreme-r``, ``xtreme`` or ``demo``):
    name, benchmarks, shape, category, languages, main metric, English training source."""
    from .tasks import all_tasks

    return Table(
        {"task": spec.name, "benchmarks": list(spec.benchmarks), "target": spec.is_target, "shape": spec.shape,
         "category": spec.category, "n_langs": len(spec.langs()), "langs": list(spec.langs()),
         "main_metric": spec.main_metric, "train_from": list(spec.train_from), "version": spec.version}
        for spec in all_tasks().values() if not benchmark or benchmark in spec.benchmarks
    )


def load_encoder(model: PathLike = "embedded"):
    """A frozen encoder: ``"embedded"`` (multilingual-e5-small, offline), a Hub id or a local directory.
    Loaded once per process; pass it as ``encoder=`` to the other functions to share it."""
    from .encoders import load_encoder as _load

    return _load(model)


def train_adapter(task: str, *, encoder=None, data_dir: PathLike | None = None, artifacts_dir: PathLike | None = None,
                  force: bool = False, progress: bool = False, max_dev_examples: int | None = None, **options: Any):
    """Train an adapter (+ head) for ``task`` on its English data (``xta train-adapter``); returns a
    :class:`toolkit.train.TrainResult` (``.name``, ``.path``, ``.dev_scores``, ``.steps``).

    ``options`` are :class:`toolkit.config.TrainConfig` fields: ``model``, ``adapter_name``, ``max_steps``,
    ``batch_size``, ``learning_rate``, ``max_length``, ``train_split``, ``recipe``, ``init_from``, ...
    A finished run with the same configuration is reused (``force=True`` retrains).
    """
    from .config import TrainConfig, from_dict
    from .preflight import check_training

    cfg = from_dict(TrainConfig, {"task": task, "data_dir": _data_dir(data_dir), **options}, where="train_adapter")
    check_training(cfg, artifacts_dir, force=force)  # names and data first: no model is loaded for a typo
    from .train import train_adapter as _train

    return _train(cfg, encoder=encoder, artifacts_dir=artifacts_dir, force=force, progress=progress,
                  max_dev_examples=max_dev_examples)


def evaluate_setup(setup: str = "auto", *, encoder=None, data_dir: PathLike | None = None,
                   results_dir: PathLike | None = None, artifacts_dir: PathLike | None = None,
                   progress: bool = False, **options: Any):
    """Zero-shot evaluation of ``setup`` (``auto``, ``none``, an adapter name, ``stack:a,b``, ``fuse:a,b>t``)
    into the results store (``xta eval``); returns a :class:`toolkit.evaluate.EvalRun`. Read the scores with
    :func:`read_results`.

    ``options`` are :class:`toolkit.config.EvalConfig` fields: ``benchmark``, ``tasks``, ``langs``, ``model``,
    ``split``, ``max_eval_examples``, ``train_steps``, ``train_from``, ...
    """
    from .config import EvalConfig, from_dict
    from .evaluate import evaluate

    cfg = from_dict(EvalConfig, {"setup": setup, "data_dir": _data_dir(data_dir), "results_dir": _str(results_dir),
                                 "artifacts_dir": _str(artifacts_dir), **options}, where="evaluate_setup")
    return evaluate(cfg, encoder=encoder, progress=progress)


def run_matrix(config: PathLike | Any | None = None, *, progress: bool = False, **options: Any):
    """The transfer matrix (``xta matrix``): ``config`` is a matrix YAML file, a
    :class:`toolkit.matrix.MatrixConfig`, or None (then ``options`` are its fields: ``targets``,
    ``intermediates``, ``recipes``, ``langs``, ``benchmark``, ``target_steps``, ...; with a YAML file they
    override its keys). Returns a :class:`toolkit.matrix.MatrixRun` (``.scores``, ``.gains(recipe)``, ``.cost``)."""
    from .config import from_dict
    from .matrix import MatrixConfig, matrix_config_from_yaml, run_matrix as _run

    if isinstance(config, MatrixConfig):
        cfg = from_dict(MatrixConfig, {**_fields(config), **options}, where="run_matrix") if options else config
    elif config is not None:
        cfg = matrix_config_from_yaml(config, **options)
    else:
        if options.get("data_dir") is None and os.environ.get("XTA_DATA_DIR"):
            options["data_dir"] = os.environ["XTA_DATA_DIR"]
        cfg = from_dict(MatrixConfig, options, where="run_matrix")
    return _run(cfg, progress=progress)


def _fields(cfg) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def read_results(results_dir: PathLike | None = None, *, model: str | None = None, setup: str | None = None,
                 tasks: Iterable[str] | str | None = None, benchmark: str | None = None) -> Table:
    """The results store as one row per (encoder, setup, task, language): ``encoder``, ``setup``, ``task``,
    ``lang``, ``status`` (``ok``/``failed``), ``metric`` (the main metric's name), ``score`` (its value),
    ``split``, ``n_examples``, ``seed``, ``config_hash``, ``error`` and every metric as ``metric_<name>``.

    Filters: ``model`` (an encoder name as given to ``--model``), ``setup`` (its text, e.g. ``none``),
    ``tasks``, ``benchmark``. Damaged record files are skipped (``xta report`` names them).
    """
    from .results import ResultStore, encoder_id
    from .tasks import get_task

    wanted = {t.strip() for t in tasks.split(",")} if isinstance(tasks, str) else (set(tasks) if tasks else None)
    enc = encoder_id(model) if model else None
    rows = Table()
    for rec in ResultStore(results_dir).records():
        if enc and rec.encoder.get("id") != enc or setup and rec.setup.get("text") != setup:
            continue
        if wanted is not None and rec.task not in wanted:
            continue
        if benchmark:
            try:
                if benchmark not in get_task(rec.task).benchmarks:
                    continue
            except Exception:  # noqa: BLE001 - a record of a task no longer registered
                continue
        for lang, r in sorted(rec.languages.items()):
            row = {"encoder": rec.encoder.get("name"), "setup": rec.setup.get("text"), "task": rec.task, "lang": lang,
                   "status": r.status, "metric": rec.main_metric, "score": r.main, "split": r.split,
                   "n_examples": r.n_examples, "seed": rec.seed, "config_hash": r.config_hash, "error": r.error}
            row.update({f"metric_{k}": v for k, v in sorted(r.metrics.items())})
            rows.append(row)
    return rows


def select(target: str, candidates: Sequence[str] | str | None = None, *, estimator: str = "semb", budget: int = 1,  # noqa: PLR0913 (keyword-only: `xta select`'s flags)
           objective: str = "mean", data_dir: PathLike | None = None, n: int = 500, seed: int = 0,
           model: str | None = None, semb_model: str | None = None, semb_prefix: str | None = None,
           diversity_weight: float = 0.0, combine: str = "fuse", artifacts_dir: PathLike | None = None,
           encoder=None, semb_encoder=None, matrix: Mapping | None = None):
    """Pick intermediate tasks for ``target`` with a cheap estimator (``xta select``): ``semb``, ``logme``,
    ``size`` or ``random``. ``candidates`` default to every intermediate card. Returns a
    :class:`toolkit.selection.SelectionRun`: ``.selection.chosen``, ``.selection.command``, ``.estimates``,
    ``.skipped``."""
    from .selection import SEMB_MODEL, run_selection
    from .tasks import intermediate_tasks

    if isinstance(candidates, str):
        candidates = [c.strip() for c in candidates.split(",") if c.strip()]
    names = list(candidates) if candidates else [t.name for t in intermediate_tasks()]
    if estimator == "logme" and encoder is None:
        encoder = load_encoder(model or "embedded")
    if (estimator == "semb" or diversity_weight) and semb_encoder is None:
        semb_encoder = load_encoder(semb_model or SEMB_MODEL)
    return run_selection(target, names, budget=budget, objective=objective, estimator=estimator, encoder=encoder,
                         data_dir=_data_dir(data_dir), n=n, seed=seed, diversity_weight=diversity_weight,
                         combine=combine, matrix=matrix, artifacts_dir=artifacts_dir, semb_encoder=semb_encoder,
                         semb_prefix=semb_prefix)

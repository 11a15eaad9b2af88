"""Training logs and experiment trackers: ``train_log.jsonl`` always, TensorBoard / Weights & Biases on request.

``train_log.jsonl`` (one JSON object per line) lives in the run's checkpoint folder while it trains, so a
resumed run continues the same log (lines after the checkpoint's step are dropped first: no step twice,
none missing), and is saved beside the adapter at the end. Each logging line holds ``step``, ``epoch``
(when the run has one task and one phase), ``loss`` (the mean over the steps since the previous line),
``learning_rate``, ``examples_per_s`` and ``elapsed_s`` (training time, summed over resumed sessions); a dev
evaluation adds a line with ``dev`` (task -> metric -> value).

``report_to`` (HF Trainer's name): ``tensorboard`` (``torch.utils.tensorboard``; ``pip install
'xta[tensorboard]'``) and ``wandb`` (``pip install 'xta[wandb]'``; offline unless ``WANDB_MODE`` is set,
synced later with ``wandb sync``). Neither package is imported unless asked; a missing one is reported by
:func:`check_report_to` before any model loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .artifacts import adapter_dir
from .errors import ConfigError, XtaError
from .io import append_jsonl, atomic_write_text, read_jsonl

LOG_NAME = "train_log.jsonl"
REPORT_TO = ("none", "tensorboard", "wandb")
#: the module each tracker imports, and the extra that installs it
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}


class TrackerUnavailable(XtaError):
    """A tracker was asked for (``--report-to``) but its package is not installed."""


class Tracker(Protocol):
    """Receives each logged line's numbers; ``close`` at the end of the run."""

    def log(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


def parse_report_to(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` / ``["wandb"]`` / ``"none"`` -> the trackers asked for (``()`` for none)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    names = tuple(dict.fromkeys(p.strip().lower() for p in items if p.strip()))
    for name in names:
        if name not in REPORT_TO:
            raise ConfigError(f"report_to: unknown tracker {name!r} (use {', '.join(REPORT_TO)}, or a comma list)")
    if "none" in names and len(names) > 1:
        raise ConfigError(f"report_to: 'none' cannot be combined with other trackers ({', '.join(names)})")
    return tuple(n for n in names if n != "none")


def check_report_to(report_to: Sequence[str]) -> None:
    """Raise :class:`TrackerUnavailable` for a requested tracker whose package is missing (imports nothing)."""
    for name in report_to:
        module, extra = _PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise TrackerUnavailable(f"--report-to {name} needs the {module!r} package, which is not installed: "
                                     f"pip install 'xta[{extra}]' (or pip install {module}), or leave {name} out")


class TrainLog:
    """The run's ``train_log.jsonl`` (see module doc)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def start(self, resumed_step: int) -> None:
        """Keep the lines up to ``resumed_step``, rewritten atomically (0: a fresh run, no log until its first
        line, so a run that fails before it leaves no folder behind)."""
        if not resumed_step:
            self.path.unlink(missing_ok=True)
            return
        kept = [r for r in read_jsonl(self.path) if isinstance(r, dict) and isinstance(r.get("step"), int)
                and r["step"] <= resumed_step]
        atomic_write_text(self.path, "".join(_line(r) for r in kept))

    def log(self, record: Mapping[str, Any]) -> None:
        append_jsonl(self.path, dict(record))

    def records(self) -> list[dict[str, Any]]:
        return [r for r in read_jsonl(self.path) if isinstance(r, dict)]


def _line(record: Mapping[str, Any]) -> str:
    import json

    return json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=True) + "\n"


def read_train_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The lines of a ``train_log.jsonl`` file, or of the one in folder ``path`` ([] when there is none)."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_NAME
    return [r for r in read_jsonl(path) if isinstance(r, dict)]


def adapter_logs(names: Iterable[str], artifacts_dir: str | os.PathLike | None = None) -> dict[str, list[dict[str, Any]]]:
    """``{adapter: its train_log.jsonl lines}`` for those of ``names`` whose folder under
    ``<artifacts>/adapters/`` holds a training log (default artifacts: as :func:`toolkit.artifacts.default_artifacts_dir`)."""
    logs = {}
    for name in dict.fromkeys(names):
        try:
            lines = read_train_log(adapter_dir(name, artifacts_dir))
        except XtaError:  # a name no folder can have
            continue
        if lines:
            logs[name] = lines
    return logs


def flat_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """A log line's numbers under tracker names: ``train/loss``, ``train/learning_rate``, ``dev/<task>/<metric>``."""
    out: dict[str, float] = {}
    for key in ("loss", "learning_rate", "epoch", "examples_per_s"):
        if isinstance(record.get(key), (int, float)):
            out[f"train/{key}"] = float(record[key])
    for task, scores in (record.get("dev") or {}).items():
        for metric, value in (scores or {}).items():
            if isinstance(value, (int, float)):
                out[f"dev/{task}/{metric}"] = float(value)
    return out


class _TensorBoard:
    def __init__(self, log_dir: Path, resumed_step: int):
        module = importlib.import_module("torch.utils.tensorboard")
        # purge_step: events after the checkpoint (written before a crash) are hidden on resume
        self.writer = module.SummaryWriter(log_dir=str(log_dir), purge_step=resumed_step or None)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class _Wandb:
    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any]):
        wandb = importlib.import_module("wandb")
        run_dir.mkdir(parents=True, exist_ok=True)
        mode = os.environ.get("WANDB_MODE") or "offline"  # offline-safe by default: `wandb sync` uploads later
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or "xta", name=name, dir=str(run_dir),
                              config=dict(config), mode=mode, reinit=True)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def close(self) -> None:
        self.run.finish()


def open_trackers(report_to: Sequence[str], root: Path, name: str, config: Mapping[str, Any], resumed_step: int) -> list[Tracker]:
    """The requested trackers; TensorBoard writes under ``<root>/tensorboard/<name>/``, wandb under ``<root>/wandb/``."""
    check_report_to(report_to)
    trackers: list[Tracker] = []
    for tracker in report_to:
        if tracker == "tensorboard":
            trackers.append(_TensorBoard(root / "tensorboard" / name, resumed_step))
        elif tracker == "wandb":
            trackers.append(_Wandb(root / "wandb", name, config))
    return trackers

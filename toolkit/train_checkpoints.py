"""Checkpoints and hooks of a training run: the loop's state (:class:`TrainState`), the trainable tensors
(adapters and heads, never the frozen encoder), the resumable checkpoint folder (tensors, optimizer,
scheduler, RNG state, the run's history), the selected best step, and the run's hooks (progress bar or plain lines, training log, trackers).
Split out of :mod:`toolkit.train`, which uses them and re-exports them; ``toolkit.lang_adapters`` trains
language adapters with the same checkpointer."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import DataError
from .io import atomic_write_json, load_safetensors, save_safetensors_atomic

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """The training loop's state (:func:`toolkit.train.run_loop`), checkpointed as ``state.json``'s ``loop``."""

    step: int = 0
    best: float | None = None
    best_step: int | None = None
    best_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    bad_evals: int = 0
    stopped_early: bool = False
    # the training log's open window (steps since its last line) and the training time so far: checkpointed,
    # so a resumed run writes the same lines as an uninterrupted one (toolkit.tracking)
    window_loss: float = 0.0
    window_steps: int = 0
    window_examples: int = 0
    window_s: float = 0.0
    elapsed_s: float = 0.0


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Every trainable tensor by parameter name (the adapter, fusion and head weights)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class TrainCheckpointer:
    """``<artifacts>/checkpoints/<name>/``: ``state.json`` + ``trainable.safetensors`` +
    ``optimizer.safetensors`` (+ ``best.safetensors``), each file written atomically, the state last."""

    def __init__(self, path: Path, cfg_hash: str, every: int):
        self.path, self.hash, self.every = path, cfg_hash, max(1, every)
        # (optimizer param_groups, its state tensors, the scheduler's state) of a loaded checkpoint
        self._opt_state: tuple[Any, dict[str, torch.Tensor], Any] | None = None

    def _state_file(self) -> Path:
        return self.path / "state.json"

    def load(self, model, st: TrainState) -> int | None:
        """Restore trainable tensors, RNG and loop state from a checkpoint of the same config."""
        if not self._state_file().is_file():
            return None
        from .schemas import Anything, MapOf, NonNegInt, Obj, Str, load_json

        try:  # a damaged state file (edited, or from another version): start over rather than crash
            meta = load_json(self._state_file(), "checkpoint state", Obj(
                {"config_hash": Str, "step": NonNegInt, "optimizer": Anything, "scheduler": Anything,
                 "loop": MapOf(Anything)}))
        except DataError as exc:
            log.warning("ignoring checkpoint %s (%s); starting from step 0", self.path, exc)
            return None
        if meta.get("config_hash") != self.hash:
            log.warning("ignoring checkpoint %s of another configuration", self.path)
            return None
        tensors = load_safetensors(self.path / f"trainable-{meta['step']}.safetensors")
        expected = trainable_state(model)
        if set(tensors) != set(expected) or any(tensors[n].shape != expected[n].shape for n in tensors):
            # e.g. written by a version that also saved other tasks' heads: its optimizer state cannot be
            # mapped either, so the run starts over (same seed, same result) rather than fail
            odd = sorted(set(tensors) ^ set(expected))[:3] or [n for n in tensors if tensors[n].shape != expected[n].shape][:3]
            log.warning("ignoring checkpoint %s: its tensors do not match this training's (%s); starting from step 0",
                        self.path, ", ".join(odd))
            return None
        load_trainable(model, tensors)
        tensors = load_safetensors(self.path / f"optimizer-{meta['step']}.safetensors")
        torch.set_rng_state(tensors.pop("__rng_state__"))
        self._opt_state = (meta["optimizer"], tensors, meta["scheduler"])
        for key, value in meta["loop"].items():
            setattr(st, key, value)
        return st.step

    def restore_optimizer(self, opt, sched) -> None:
        if self._opt_state is None:
            return
        groups, tensors, sched_state = self._opt_state
        state = {}
        for key, value in tensors.items():
            idx, name = key.split(".", 1)
            state.setdefault(int(idx), {})[name] = value
        opt.load_state_dict({"state": state, "param_groups": groups})
        sched.load_state_dict(sched_state)

    def save(self, model, opt, sched, st: TrainState) -> None:
        from .distributed import is_main

        if not is_main():  # every rank holds the same weights and optimizer state; rank 0 writes them
            return
        self.path.mkdir(parents=True, exist_ok=True)
        save_safetensors_atomic(trainable_state(model), self.path / f"trainable-{st.step}.safetensors")
        sd = opt.state_dict()
        tensors = {f"{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items()}
        tensors["__rng_state__"] = torch.get_rng_state()
        save_safetensors_atomic(tensors, self.path / f"optimizer-{st.step}.safetensors")
        sched_state = sched.state_dict()  # LambdaLR: numbers, and lr_lambdas = [None] for a plain function
        loop = dataclasses.asdict(st)
        atomic_write_json(self._state_file(), {"config_hash": self.hash, "step": st.step, "loop": loop,
                                              "optimizer": sd["param_groups"], "scheduler": sched_state})
        self._prune(keep=st.step)

    def _prune(self, keep: int) -> None:
        for p in self.path.glob("*-*.safetensors"):
            if p.stem.rsplit("-", 1)[1] != str(keep):
                p.unlink(missing_ok=True)

    def save_best(self, model) -> None:
        from .distributed import is_main

        if not is_main():
            return
        save_safetensors_atomic(trainable_state(model), self.path / "best.safetensors")

    def best(self) -> dict[str, torch.Tensor] | None:
        path = self.path / "best.safetensors"
        return load_safetensors(path) if path.is_file() else None

    def remove(self) -> None:
        from .distributed import is_main

        if is_main():
            shutil.rmtree(self.path, ignore_errors=True)


def load_trainable(model, tensors: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in tensors if n not in params]
    if missing:
        raise DataError(f"checkpoint tensors do not match the model: {missing[:3]}")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)


class TrainHooks:
    """Progress display and the per-step callback (tests use it to kill a run at a step boundary)."""

    def __init__(self, show: bool, on_step: Callable[[int], None] | None, eval_batch_size: int, label: str,
                 train_log=None, trackers: Sequence[Any] = ()):
        self.show, self._on_step, self.eval_batch_size, self.label = show, on_step, eval_batch_size, label
        self.train_log, self.trackers = train_log, list(trackers)

    def record(self, line: dict[str, Any]) -> None:
        """One line of the training log, also sent to the trackers (``--report-to``)."""
        from .tracking import flat_scalars

        line = {k: v for k, v in line.items() if v is not None}
        if self.train_log is not None:
            self.train_log.log(line)
        scalars = flat_scalars(line)
        for tracker in self.trackers:
            tracker.log(line["step"], scalars)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()

    def on_step(self, step: int) -> None:
        if self._on_step is not None:
            self._on_step(step)

    def progress(self, total: int, done: int):
        if not self.show:
            return contextlib.nullcontext(lambda loss: None)
        from .progress import interactive

        if not interactive():  # nohup / SLURM / a redirect: periodic plain lines, not a bar shown only at the end
            return _plain_progress(self.label, total, done)
        return _rich_progress(self.label, total, done)


def _plain_progress(label: str, total: int, done: int):
    from .progress import PlainProgress

    @contextlib.contextmanager
    def ctx():
        plain = PlainProgress(label, total, done, unit="step")
        yield lambda loss: plain.advance(loss=loss)
        plain.close()

    return ctx()


def _rich_progress(label: str, total: int, done: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    @contextlib.contextmanager
    def ctx():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                   TextColumn("{task.fields[speed]:.2f} step/s"), TimeElapsedColumn(), TimeRemainingColumn())
        # on stderr: stdout carries only results (xta eval --json trains target adapters on the fly)
        with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:
            task = progress.add_task(label, total=total, completed=done, loss=float("nan"), speed=0.0)
            start = time.perf_counter()
            count = [0]

            def advance(loss: float) -> None:
                count[0] += 1
                progress.update(task, advance=1, loss=loss, speed=count[0] / max(time.perf_counter() - start, 1e-9))

            yield advance

    return ctx()

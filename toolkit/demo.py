"""``xta demo``: a whole transfer matrix in a few minutes on a laptop CPU, with no files and no Hub.

What it runs (issue 9), on the embedded encoder:

* **built-in data** (default): the CLDR mini benchmark (:mod:`toolkit.cldr`, benchmark ``demo``). Two
  English intermediate adapters, ``cldr_kind`` (what a name names) and ``cldr_continent`` (where a country
  is); three targets, ``cldr_continent``, ``cldr_kind`` (classification; each one's intermediate is the
  other task: the cell of a task with itself is not a transfer and is left out) and ``cldr_names``
  (Tatoeba-style name retrieval in 16 languages of every resource level, scored on sentence representations through the intermediate adapters,
  so its gains show what English intermediate training does to cross-lingual representations). Every
  target is trained in English only and evaluated zero-shot in about 48 languages.
* **real data** (``data_dir``): the XTREME-R targets XNLI, XCOPA and Tatoeba with the ANLI, CosmosQA and
  SIQA cards as intermediate tasks, from local files, with small budgets. Offline, the cards' training
  sets and XNLI's MNLI are not at hand: the cards and XNLI train on ``dev[:80%]`` and select on
  ``dev[80%:]`` of their English dev files, XCOPA's adapter trains on English COPA; XNLI is evaluated
  without English (its English dev split is its training data here).

The gains are computed from the scores, never written down: target score with the intermediate adapter
minus target score without one, per language. A second run with the same settings reuses the results
store and the adapters (no model work) and prints the same numbers; training and evaluation are seeded
and deterministic on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import check_positive, coerce_fields
from .matrix import Event, MatrixConfig, MatrixRun, TaskOverride, run_matrix

__all__ = ["DemoConfig", "demo_matrix_config", "run_demo", "DemoResult", "DEFAULT_OUT"]

DEFAULT_OUT = "xta_demo"
# cldr_names re-encodes its 300 English candidates per language: 16 languages across resource levels
# (Joshi et al. 2020 classes 1-5) keep the demo within its time budget
NAMES_LANGS = ("ar", "de", "es", "fr", "hi", "ja", "ru", "zh", "bg", "el", "fi", "he", "sw", "jv", "kk", "yo")


def _dev_slices(langs: tuple[str, ...] = ()) -> TaskOverride:
    """Train on the first 80% of the dev split, the rest as dev (cards with only a dev split at hand)."""
    return TaskOverride(train_split="dev[:80%]", dev_split="dev[80%:]", langs=langs)


@dataclass(frozen=True)
class DemoConfig:
    """Where the demo writes (``out_dir``: ``results/``, ``artifacts/``, ``report/``), which data, budgets."""

    out_dir: str = DEFAULT_OUT
    data_dir: str | None = None
    model: str = "embedded"
    seed: int = 42
    steps: int | None = None  # per adapter; default 60 (built-in) / 40 (real data)
    max_eval_examples: int | None = None  # per language; default 40 (built-in) / 100 (real data)
    executor: str = field(default="local")

    def __post_init__(self):
        coerce_fields(self)
        check_positive(self, "steps", "max_eval_examples", allow_none=True)


def demo_matrix_config(cfg: DemoConfig) -> MatrixConfig:
    """The MatrixConfig the demo runs (built-in CLDR tasks, or XTREME-R from ``cfg.data_dir``)."""
    out = Path(cfg.out_dir)
    common: dict[str, Any] = dict(
        model=cfg.model, seed=cfg.seed, recipes=("sequential",), executor=cfg.executor,
        results_dir=str(out / "results"), artifacts_dir=str(out / "artifacts"),
    )
    if cfg.data_dir is None:
        steps = cfg.steps or 60
        return MatrixConfig(
            targets=("cldr_continent", "cldr_kind", "cldr_names"), intermediates=("cldr_kind", "cldr_continent"),
            benchmark="demo", split="test", langs=("all",), intermediate_steps=steps, target_steps=steps,
            learning_rate=1e-3, batch_size=16, max_length=32, max_eval_examples=cfg.max_eval_examples or 40,
            eval_batch_size=64, overrides={"cldr_names": TaskOverride(langs=NAMES_LANGS)}, **common,
        )
    steps = cfg.steps or 40
    non_english_xnli = tuple(lang for lang in _task_langs("xnli") if lang != "en")
    return MatrixConfig(
        targets=("xnli", "xcopa", "tatoeba"), intermediates=("anli", "cosmosqa", "siqa"), benchmark="xtreme-r",
        split="auto", langs=("local",), intermediate_steps=steps, target_steps=steps, learning_rate=5e-4,
        batch_size=16, max_length=64, max_eval_examples=cfg.max_eval_examples or 100, max_dev_examples=100,
        data_dir=cfg.data_dir,
        overrides={"anli": _dev_slices(), "cosmosqa": _dev_slices(), "siqa": _dev_slices(),
                   "xnli": _dev_slices(non_english_xnli), "xcopa": TaskOverride(train_task="copa")},
        **common,
    )


def _task_langs(task: str) -> tuple[str, ...]:
    from .tasks import get_task

    return get_task(task).langs("xtreme-r")


@dataclass
class DemoResult:
    run: MatrixRun
    report: dict[str, str]  # file name -> path (report.md and the PNGs)

    @property
    def report_path(self) -> str:
        return self.report["report.md"]


def run_demo(cfg: DemoConfig, *, on_event: Event | None = None, progress: bool = True) -> DemoResult:
    """Run the demo matrix (resumable: a second run reuses everything) and write its report."""
    from .plots import write_matrix_report

    mcfg = demo_matrix_config(cfg)
    run = run_matrix(mcfg, on_event=on_event, progress=progress)
    title = "xta demo: CLDR transfer matrix" if cfg.data_dir is None else "xta demo: XTREME-R transfer matrix (local files)"
    report = write_matrix_report(run, Path(cfg.out_dir) / "report", title=title)
    return DemoResult(run, report)


def default_out_dir() -> str:
    """``$XTA_HOME/demo`` when XTA_HOME is set, else ``./xta_demo``."""
    home = os.environ.get("XTA_HOME")
    return str(Path(home) / "demo") if home else DEFAULT_OUT

"""Training seeds as a dimension outside the matrix (issue 17): ``xta train-adapter``, ``xta fuse``,
``xta stack`` and ``xta eval`` (its on-the-fly target adapters) with ``--seeds 1,2,3``.

The naming follows ``xta matrix --seeds`` (:func:`toolkit.matrix.seed_config`): the adapter trained with
seed ``s`` is ``s<s>_<name>``. Its inputs (``init_from``, the ``intermediate`` adapters of a stack or
fusion) are taken per seed, ``s<s>_<input>``, where such an adapter exists, else as named (a language
adapter, or an adapter trained once). ``xta eval`` keeps one artifacts directory and one results store per
seed, beside the given ones (``<root>-s<seed>``), so that ``--setup auto`` trains and finds each seed's
own target adapters without renaming them. A finished seed is reused like any finished run.

Summaries: the mean ± sd over seeds of every English dev score, and for evaluation the mean over seeds of
each task's mean score over languages with a two-stage bootstrap CI (seeds resampled, then the examples
within each seed and language, as :func:`toolkit.stats.compare_seeds` does for gains).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

import numpy as np

from .artifacts import CARD_NAME, adapter_dir, default_artifacts_dir
from .errors import ConfigError, DataError


def parse_seeds(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """``"1,2,3"`` -> ``(1, 2, 3)``: distinct non-negative integers, at least one."""
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    try:
        seeds = tuple(int(v) for v in items if str(v) != "")
    except ValueError:
        raise ConfigError(f"--seeds: expected integers such as 1,2,3, got {value!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds: expected distinct non-negative integers such as 1,2,3, got {value!r}")
    return seeds


def seed_name(name: str, seed: int) -> str:
    """The adapter trained with ``seed``: ``s<seed>_<name>`` (as ``xta matrix --seeds`` names them)."""
    return f"s{seed}_{name}"


def seed_root(root: str | Path, seed: int) -> Path:
    """The per-seed directory beside ``root``: ``<root>-s<seed>``."""
    root = Path(root)
    return root.with_name(f"{root.name}-s{seed}")


def _per_seed_input(name: str, seed: int, artifacts_dir) -> str:
    own = seed_name(name, seed)
    return own if (adapter_dir(own, artifacts_dir) / CARD_NAME).is_file() else name


def seed_train_config(cfg, seed: int, artifacts_dir=None):
    """The TrainConfig of one seed: named ``s<seed>_<name>``, trained with ``seed``, on the seed's own
    ``init_from`` / ``intermediate`` adapters where they exist."""
    changes: dict[str, Any] = {"seed": seed, "adapter_name": seed_name(cfg.name, seed)}
    if cfg.init_from:
        changes["init_from"] = _per_seed_input(cfg.init_from, seed, artifacts_dir)
    if cfg.intermediate:
        changes["intermediate"] = tuple(_per_seed_input(n, seed, artifacts_dir) for n in cfg.intermediate)
    return dataclasses.replace(cfg, **changes)


@dataclass
class SeedTraining:
    """One training configuration run once per seed."""

    results: dict[int, Any]  # seed -> TrainResult

    def dev_rows(self) -> tuple[list[str], list[list[str]]]:
        """Rows: ``task metric``; columns: every seed's English dev score, then mean ± sd over seeds."""
        keys = sorted({(t, m) for r in self.results.values() for t, ms in r.dev_scores.items() for m in ms})
        header = ["English dev", *(f"seed {s}" for s in self.results), "mean ± sd"]
        rows = []
        for task, metric in keys:
            values = [r.dev_scores.get(task, {}).get(metric) for r in self.results.values()]
            ok = [v for v in values if v is not None]
            rows.append([f"{task} {metric}", *("-" if v is None else f"{v:.2f}" for v in values), mean_sd(ok)])
        return header, rows


def mean_sd(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{fmean(values):.{digits}f} ± {stdev(values):.{digits}f}"


def train_seeds(cfg, seeds: Sequence[int], *, train=None, **kwargs) -> SeedTraining:
    """Train ``cfg`` once per seed (each resumable and reused when finished, as any ``train_adapter`` run)."""
    from .train import train_adapter

    train = train or train_adapter
    artifacts_dir = kwargs.get("artifacts_dir")
    return SeedTraining({s: train(seed_train_config(cfg, s, artifacts_dir), **kwargs) for s in parse_seeds(seeds)})


# --------------------------------------------------------------------------------------------------
# evaluation over seeds
# --------------------------------------------------------------------------------------------------


def seed_eval_config(cfg, seed: int):
    """The EvalConfig of one seed: its own artifacts and results directories, target adapters trained
    with ``seed`` (and the seed's bootstrap seeded with it)."""
    from .results import default_root

    if cfg.setup != "auto":
        raise ConfigError(f"--seeds: xta eval trains one target adapter per seed only with --setup auto (got "
                          f"--setup {cfg.setup!r}); train seeded adapters with xta train-adapter --seeds and "
                          "evaluate each, or run xta matrix --seeds")
    return dataclasses.replace(
        cfg, seed=seed,
        artifacts_dir=str(seed_root(cfg.artifacts_dir or default_artifacts_dir(), seed)),
        results_dir=str(seed_root(cfg.results_dir or default_root(), seed)),
    )


@dataclass
class SeedScore:
    """A task's mean score over languages, averaged over seeds, with its spread and two-stage CI."""

    task: str
    per_seed: dict[int, float]  # seed -> mean over the languages scored in every seed
    languages: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    resamples: int = 0

    @property
    def mean(self) -> float:
        return fmean(self.per_seed.values())

    @property
    def sd(self) -> float | None:
        return stdev(self.per_seed.values()) if len(self.per_seed) > 1 else None

    def fmt(self, digits: int = 1) -> str:
        text = f"{self.mean:.{digits}f}" + (f" ±{self.sd:.{digits}f}" if self.sd is not None else "")
        return text + (f" [{self.low:.{digits}f}, {self.high:.{digits}f}]" if self.low is not None else "")


def seed_score_ci(per_seed: Sequence[Mapping[Any, Any]], resamples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Two-stage percentile bootstrap CI of the mean over seeds of the mean score over languages
    (``per_seed[s] = {lang: ExampleRows}``): every draw resamples the examples within each seed and
    language, then averages ``S`` seeds picked with replacement."""
    from .stats import bootstrap_distribution, check_bootstrap_args, derived_seed, percentile_interval

    if not per_seed or any(not langs for langs in per_seed):
        raise DataError("seed_score_ci: every seed needs at least one language with per-example rows")
    check_bootstrap_args(resamples, level)
    draws = []
    for i, langs in enumerate(per_seed):
        keys = sorted(langs, key=str)
        draws.append(sum(bootstrap_distribution(langs[k], resamples, derived_seed(seed, i, k)) for k in keys) / len(keys))
    draws = np.stack(draws)  # (seeds, resamples)
    picked = np.random.default_rng(seed).integers(0, len(per_seed), size=(resamples, len(per_seed)))
    return percentile_interval(draws[picked, np.arange(resamples)[:, None]].mean(axis=1), level)


@dataclass
class SeedEval:
    """``xta eval --seeds``: one evaluation per seed (its own store) and the summaries over seeds."""

    config: Any
    runs: dict[int, Any]  # seed -> EvalRun

    def scores(self, resamples: int | None = None) -> list[SeedScore]:
        """Per task: the languages scored in every seed, their mean per seed, and the two-stage CI where
        every seed stored per-example rows for them."""
        from .results import RecordKey
        from .setups import setup_id

        resamples = self.config.bootstrap_resamples if resamples is None else resamples
        tasks: dict[str, list] = {}
        for run in self.runs.values():
            for t in run.tasks:
                tasks.setdefault(t.task, []).append((run, t))
        out = []
        for task, entries in tasks.items():
            if len(entries) != len(self.runs):
                continue
            recs = [(run, run.store.get(RecordKey(run.encoder_id, setup_id(t.setup), task))) for run, t in entries]
            if any(rec is None for _, rec in recs):
                continue
            common = set.intersection(*(set(rec.scores()) & set(t.languages) for (_, rec), (_, t) in zip(recs, entries)))
            if not common:
                continue
            langs = tuple(sorted(common))
            per_seed = {s: math.fsum(rec.scores()[l] for l in langs) / len(langs) for s, (_, rec) in zip(self.runs, recs)}
            score = SeedScore(task, per_seed, langs)
            rows = []
            for run, rec in recs:
                found = {}
                for lang in langs:
                    try:
                        r = run.store.get_example_rows(rec.key, lang)
                    except DataError:
                        r = None
                    if r is not None:
                        found[lang] = r
                rows.append(found)
            if resamples and all(len(f) == len(langs) for f in rows):
                score.low, score.high = seed_score_ci(rows, resamples, seed=min(self.runs))
                score.resamples = resamples
            out.append(score)
        return out


def score_rows(scores: Sequence[SeedScore], seeds: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    header = ["task", "languages", *(f"seed {s}" for s in seeds), "mean ±sd [95% CI]"]
    rows = [[s.task, str(len(s.languages)), *(f"{s.per_seed[k]:.1f}" for k in seeds), s.fmt()] for s in scores]
    return header, rows


def evaluate_seeds(cfg, seeds: Sequence[int], *, evaluate=None, **kwargs) -> SeedEval:
    """``evaluate`` once per seed, each on its own artifacts and results (finished seeds reused)."""
    from .evaluate import evaluate as _evaluate

    evaluate = evaluate or _evaluate
    seeds = parse_seeds(seeds)
    return SeedEval(cfg, {s: evaluate(seed_eval_config(cfg, s), **kwargs) for s in seeds})

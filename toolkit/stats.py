"""Uncertainty of every score and gain xta reports: per-example rows, bootstrap CIs, paired tests, corrections.

**Per-example rows** (:class:`ExampleRows`). Every per-language score is stored with one row of *additive*
sufficient statistics per test example, chosen so that the task's official metric on any multiset of
examples is a function of the column sums alone:

Official sources (google-research/xtreme at 838c13b; seqeval 1.2.2, the version XTREME pins and xta locks):

* ``kind="mean"`` (accuracy, Tatoeba accuracy, SQuAD/MLQA (EM + F1) / 2, mAP@20): one column ``score``,
  the example's own score on the 0-1 scale (hit or miss; the max over gold answers of EM and F1, averaged;
  AP@20). The metric is 100 x the mean. ``evaluate.py`` lines 81-84 (``accuracy``: correct / n); the QA
  scripts sum per-question maxima and divide by the number of questions (``third_party/evaluate_squad.py``
  lines 69-90, ``third_party/evaluate_mlqa.py`` lines 114-135); XTREME-R's mAP@20 averages per-query AP
  (``third_party/utils_lareqa.py`` lines 348-360, ``third_party/utils_mewslix.py`` lines 623-652); QA's
  main score (EM + F1) / 2 (``evaluate.py`` line 291) is linear, so also a mean of per-example values.
* ``kind="f1"`` (seqeval F1 of UD-POS / PAN-X, BUCC F1): columns ``tp``, ``n_pred``, ``n_gold``: the
  example's correct, predicted and gold chunks (a sentence's chunks; a source sentence's mined and gold
  pairs). The metric is seqeval's micro F1 (``evaluate.py`` lines 74-78 call ``seqeval.metrics.f1_score``;
  ``seqeval/metrics/sequence_labeling.py`` lines 108-128 count tp / pred / true chunks per type, which
  ``seqeval/metrics/v1.py`` lines 104-171 sum (micro) and turn into ``2 p r / (p + r)``, 0 on a zero
  denominator) = ``evaluate.py`` lines 87-98 (``bucc_f1``: the same formula on pair sets, 0 without a
  correct pair). seqeval's ``get_entities`` (``sequence_labeling.py`` lines 174-175) joins the sentences
  with an ``O`` between them, so no chunk crosses a sentence and the per-sentence counts add up to the
  corpus counts exactly. For BUCC the mined pairs
  are those at the threshold the score used (XTREME tunes it on the gold of the same data in
  ``utils_retrieve.py::bucc_optimize`` and then scores the mined list with ``evaluate.py::bucc_f1``); a
  resample rescores that list, it does not re-tune the threshold.

A bootstrap resample draws examples with replacement and treats each copy as a new example (as if the
resampled test set were written out with fresh ids), so the metric of a resample is the official metric of
that resampled test set: ``tests/test_stats.py`` recomputes it with ``toolkit.metrics`` on such sets.

**Statistics**, all seeded (``numpy.random.default_rng(seed)``) and vectorised over resamples:

* :func:`bootstrap_ci`: percentile bootstrap confidence interval of one score (Efron & Tibshirani 1993);
* :func:`compare`: the gain of ``other`` over ``base`` on the *same* examples with a paired bootstrap CI
  (one resample of example indices applied to both systems; Koehn 2004) and a two-sided
  approximate-randomization p-value (each example's pair of rows swapped with probability 1/2; Noreen
  1989, Riezler & Maxwell 2005; p = (1 + #{|d*| >= |d|}) / (1 + R));
* :func:`compare_languages`: the mean gain over languages, resampling (and permuting) examples within
  each language independently (a stratified bootstrap);
* :func:`compare_seeds`: the mean gain over training seeds (each a mean over languages) with a two-stage
  bootstrap CI that combines seed and example variance: each draw resamples the seeds with replacement and,
  within every (seed, language), the examples (Davison & Hinkley 1997, sec. 3.8; the hierarchical bootstrap
  that Dror et al. 2019 recommend for comparing seeded neural models); its p-value swaps rows within every
  (seed, language), the seeds held fixed, and the spread over seeds is reported as their standard deviation;
* :func:`adjust`: Holm (1979) step-down or Benjamini-Hochberg (1995) adjusted p-values over a family of
  tests (BH via ``scipy.stats.false_discovery_control``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .errors import ConfigError, DataError

__all__ = [
    "ExampleRows", "Comparison", "KINDS", "CORRECTIONS", "LEVEL", "ALPHA", "example_rows", "bootstrap_ci",
    "compare", "compare_languages", "compare_seeds", "pair_rows", "adjust", "holm", "benjamini_hochberg", "ci_entry", "derived_seed",
]

KINDS = {"mean": ("score",), "f1": ("tp", "n_pred", "n_gold")}
CORRECTIONS = ("holm", "bh", "none")
LEVEL = 0.95
ALPHA = 0.05
_CHUNK = 256  # resamples drawn at once (memory: _CHUNK x examples weights)


# --------------------------------------------------------------------------------------------------
# per-example rows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleRows:
    """Additive per-example statistics of one metric on one language (see the module docstring)."""

    metric: str
    kind: str
    ids: tuple[str, ...]
    rows: np.ndarray  # (n examples, len(KINDS[kind])) float64

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown example-row kind {self.kind!r} (known: {', '.join(KINDS)})")
        if not self.ids:
            raise DataError(f"{self.metric}: no examples; a score over zero examples is undefined")
        width = len(KINDS[self.kind])
        rows = np.asarray(self.rows, dtype=np.float64)
        if rows.size != len(self.ids) * width or not np.isfinite(rows).all() or (rows < 0).any():
            raise DataError(f"{self.metric}: per-example rows must be {len(self.ids)} x {width} finite, non-negative "
                            f"numbers ({', '.join(KINDS[self.kind])}), got shape {rows.shape}")
        object.__setattr__(self, "rows", rows.reshape(len(self.ids), width))
        object.__setattr__(self, "ids", tuple(str(i) for i in self.ids))

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def columns(self) -> tuple[str, ...]:
        return KINDS[self.kind]

    def value(self) -> float:
        """The metric (0-100) on all examples: equals the official score."""
        return float(self.weighted(np.ones((1, self.n)))[0])

    def weighted(self, weights: np.ndarray) -> np.ndarray:
        """The metric of each row of ``weights`` (resamples x examples: how often each example is drawn)."""
        weights = np.asarray(weights, dtype=np.float64)
        return _metric(self.kind, weights @ self.rows, weights.sum(axis=1))

    def to_json(self) -> dict[str, Any]:
        values = self.rows[:, 0].tolist() if self.kind == "mean" else self.rows.tolist()
        return {"metric": self.metric, "kind": self.kind, "columns": list(self.columns), "ids": list(self.ids),
                "rows": [_compact(v) for v in values]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExampleRows:
        try:
            return cls(str(data["metric"]), str(data["kind"]), tuple(data["ids"]), np.asarray(data["rows"], dtype=np.float64))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed per-example scores ({exc}); re-run xta eval to recompute them") from None


def _compact(value: Any) -> Any:
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return int(value) if float(value).is_integer() else value


def _metric(kind: str, sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The metric from column sums: 100 x mean, or seqeval's / bucc_f1's F1 (seqeval/metrics/v1.py lines
    104-171: precision and recall 0 on a zero denominator, F = 2 p r / (p + r) with a zero denominator as 1;
    xtreme evaluate.py lines 87-98: all 0 when nothing is correct)."""
    if kind == "mean":
        return 100.0 * sums[:, 0] / n
    tp, n_pred, n_gold = sums[:, 0], sums[:, 1], sums[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, tp / np.where(n_pred > 0, n_pred, 1), 0.0)
        recall = np.where(n_gold > 0, tp / np.where(n_gold > 0, n_gold, 1), 0.0)
        denom = precision + recall
        f1 = np.where((tp > 0) & (denom > 0), 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return 100.0 * f1


def example_rows(spec, examples: Any, ids: Sequence[str], predictions: Any, lang: str | None = None,
                 direction: str = "en2xx") -> ExampleRows | None:
    """Per-example rows of ``spec``'s main metric from what ``toolkit.evaluate`` scored: the examples (a list,
    or :class:`toolkit.data.RetrievalData`) and the stored ``ids``/``predictions`` (see
    ``ResultStore.put_predictions``; ``direction``: Tatoeba's search direction). None for a metric without
    per-example rows (``token_accuracy``)."""
    from . import metrics
    from .families import get_family

    main, family = spec.main_metric, get_family(spec)
    if not family.LABELLED:  # a retrieval pool: rows from its relevance map
        return _retrieval_rows(main, examples, ids, predictions, direction)
    if main == "accuracy":
        labels = [family.gold_label(ex) for ex in examples]  # as the predictions hold them (name or choice index)
        if len(labels) != len(predictions):
            raise DataError(f"{len(predictions)} predictions but {len(labels)} labels")
        # evaluate.py::accuracy: a hit is a prediction equal to its label
        return ExampleRows(main, "mean", tuple(ids), np.asarray([float(p == g) for p, g in zip(predictions, labels)], dtype=np.float64))
    if main == "seqeval_f1":
        return _seqeval_rows(main, ids, predictions, [family.gold_label(ex) for ex in examples])
    if main in ("qa_mean", "f1", "exact_match"):
        golds = metrics.gold_answers(list(examples))
        mlqa = "mlqa_f1" in spec.metrics
        if mlqa and lang is None:
            raise ConfigError("MLQA per-example scores need the answer language")
        values = []
        for qid, answers in golds:  # a question without prediction scores 0, as in the official scripts
            if qid not in predictions:
                values.append(0.0)
                continue
            em, f1 = (metrics.mlqa_example_scores(predictions[qid], answers, cast(str, lang)) if mlqa  # lang: checked above
                      else metrics.squad_example_scores(predictions[qid], answers))
            values.append({"qa_mean": (em + f1) / 2, "f1": f1, "exact_match": em}[main])
        return ExampleRows(main, "mean", tuple(q for q, _ in golds), np.asarray(values, dtype=np.float64))
    return None


def _seqeval_rows(metric: str, ids, predictions, gold) -> ExampleRows:
    """Per sentence: correct, predicted and gold chunks as seqeval's default mode decodes them."""
    import warnings

    from seqeval.metrics.sequence_labeling import get_entities

    y_true, y_pred = [[str(t) for t in s] for s in gold], [[str(t) for t in s] for s in predictions]
    if len(y_true) != len(y_pred):
        raise DataError(f"{len(y_pred)} predicted sequences but {len(y_true)} gold sequences")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t, p in zip(y_true, y_pred):
            true, pred = set(get_entities([t])), set(get_entities([p]))
            rows.append((len(true & pred), len(pred), len(true)))
    return ExampleRows(metric, "f1", tuple(ids), np.asarray(rows, dtype=np.float64))


def _retrieval_rows(metric: str, data, ids: Sequence[str], predictions: Sequence[Any], direction: str) -> ExampleRows | None:
    from .metrics import average_precision_at_k

    if metric == "accuracy":  # Tatoeba: ids search the other side, predictions are line indices
        # toolkit.retrieval.tatoeba_accuracy (en2xx: XTREME's similarity_search, the English sentences search)
        if direction == "en2xx":
            hits = [cid in data.gold.get(data.query_ids[i], ()) for cid, i in zip(ids, predictions)]
        else:  # xx2en
            hits = [data.candidate_ids[j] in data.gold.get(q, ()) for q, j in zip(ids, predictions)]
        return ExampleRows(metric, "mean", tuple(ids), np.asarray([float(h) for h in hits], dtype=np.float64))
    if metric == "bucc_f1":  # per source sentence: its correct, mined and gold pairs
        mined = {(str(s), str(t)) for s, t in zip(ids, predictions)}
        gold = {(q, c) for q, cs in data.gold.items() for c in cs}
        sources = list(dict.fromkeys([*map(str, data.query_ids), *(s for s, _ in sorted(mined | gold))]))
        tp, n_pred, n_gold = dict.fromkeys(sources, 0), dict.fromkeys(sources, 0), dict.fromkeys(sources, 0)
        for s, _ in mined:
            n_pred[s] += 1
        for pair in gold:
            n_gold[pair[0]] += 1
            tp[pair[0]] += pair in mined
        return ExampleRows(metric, "f1", tuple(sources), np.asarray([(tp[s], n_pred[s], n_gold[s]) for s in sources], dtype=np.float64))
    if metric == "map@20":  # per query with a relevant candidate: AP@20 (utils_lareqa.py::average_precision_at_k)
        rankings = dict(zip(ids, predictions))
        queries = [q for q in data.query_ids if data.gold.get(q)]
        return ExampleRows(metric, "mean", tuple(queries),
                           np.asarray([average_precision_at_k(data.gold[q], rankings.get(q, ()), 20) for q in queries], dtype=np.float64))
    return None


# --------------------------------------------------------------------------------------------------
# bootstrap and paired tests
# --------------------------------------------------------------------------------------------------


def bootstrap_draw_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` bootstrap resamples of ``n`` examples as draw counts (multinomial = n draws with replacement)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval (lo, hi) of ``values``."""
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


def check_bootstrap_args(resamples: int, level: float = LEVEL) -> None:
    """ConfigError unless ``resamples`` (or a permutation count) is a positive int and 0 < ``level`` < 1."""
    if not isinstance(resamples, int) or resamples < 1:
        raise ConfigError(f"resamples: expected a positive number, got {resamples!r}")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level: expected a confidence level between 0 and 1, got {level!r}")


def bootstrap_distribution(rows: ExampleRows, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """The metric on ``resamples`` bootstrap resamples of the examples."""
    check_bootstrap_args(resamples)
    rng = np.random.default_rng(seed)
    out = [rows.weighted(bootstrap_draw_counts(rng, rows.n, min(_CHUNK, resamples - start))) for start in range(0, resamples, _CHUNK)]
    return np.concatenate(out)


def bootstrap_ci(rows: ExampleRows, resamples: int = 1000, seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap ``level`` CI of the metric over the examples (0-100)."""
    check_bootstrap_args(resamples, level)
    return percentile_interval(bootstrap_distribution(rows, resamples, seed), level)


def ci_entry(rows: ExampleRows, resamples: int, seed: int, level: float = LEVEL) -> dict[str, Any]:
    """What a result record stores beside the metric: the interval and how it was computed."""
    lo, hi = bootstrap_ci(rows, resamples, seed, level)
    return {"metric": rows.metric, "low": lo, "high": hi, "level": level, "resamples": resamples, "seed": seed,
            "method": "percentile bootstrap over examples", "n_examples": rows.n}


def pair_rows(base: ExampleRows, other: ExampleRows) -> tuple[ExampleRows, ExampleRows]:
    """``other`` aligned with ``base`` example by example (by id); DataError when they do not score the same
    examples (a paired test needs the same test set, e.g. the same ``--max-eval-examples``)."""
    if base.metric != other.metric or base.kind != other.kind:
        raise DataError(f"cannot pair {base.metric} scores with {other.metric} scores")
    if base.ids == other.ids:
        return base, other
    if len(set(base.ids)) != base.n or set(base.ids) != set(other.ids) or len(set(other.ids)) != other.n:
        raise DataError(f"the two systems scored different examples ({base.n} vs {other.n}); "
                        "a paired comparison needs the same test examples")
    where = {i: k for k, i in enumerate(other.ids)}
    order = [where[i] for i in base.ids]
    return base, ExampleRows(other.metric, other.kind, base.ids, other.rows[order])


@dataclass(frozen=True)
class Comparison:
    """A gain of one system over a baseline on the same examples, with its uncertainty."""

    gain: float
    low: float
    high: float
    p_value: float
    n_examples: int
    resamples: int
    permutations: int
    level: float = LEVEL
    p_adjusted: float | None = None  # after a correction over a family of tests (see ``adjust``)
    seeds: int = 1  # training seeds the gain averages (compare_seeds)
    sd: float | None = None  # standard deviation of the per-seed gains (seeds > 1)

    @property
    def significant(self) -> bool:
        """Significant at ``ALPHA`` after correction (before, when no correction was applied)."""
        p = self.p_value if self.p_adjusted is None else self.p_adjusted
        return p < ALPHA

    def fmt(self, digits: int = 1, marker: str = "*") -> str:
        """``+1.2 [-0.3, +2.7]`` (over seeds: ``+1.2 ±0.4 [-0.3, +2.7]``, ± the sd over seeds) with
        ``marker`` appended when significant."""
        spread = f" ±{self.sd:.{digits}f}" if self.seeds > 1 and self.sd is not None else ""
        text = f"{self.gain:+.{digits}f}{spread} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"
        return text + (marker if self.significant else "")


def _gain_draws(base: ExampleRows, other: ExampleRows, rng: np.random.Generator, resamples: int) -> np.ndarray:
    out = []
    for start in range(0, resamples, _CHUNK):
        w = bootstrap_draw_counts(rng, base.n, min(_CHUNK, resamples - start))
        out.append(other.weighted(w) - base.weighted(w))
    return np.concatenate(out)


def _swap_draws(base: ExampleRows, other: ExampleRows, rng: np.random.Generator, permutations: int) -> np.ndarray:
    """The gain under ``permutations`` random swaps of each example's two rows (the null: no difference)."""
    out = []
    for start in range(0, permutations, _CHUNK):
        swap = rng.random((min(_CHUNK, permutations - start), base.n)) < 0.5
        ones = np.ones(base.n)
        keep = (~swap).astype(np.float64)
        flip = swap.astype(np.float64)
        a = _metric(base.kind, keep @ base.rows + flip @ other.rows, keep @ ones + flip @ ones)
        b = _metric(base.kind, keep @ other.rows + flip @ base.rows, keep @ ones + flip @ ones)
        out.append(b - a)
    return np.concatenate(out)


def _p_value(observed: float, null: np.ndarray) -> float:
    """Two-sided: (1 + #{|null| >= |observed|}) / (1 + R), with a tolerance for floating-point ties."""
    tol = 1e-9 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(np.abs(null) >= abs(observed) - tol)) / (1 + null.size))


def compare(base: ExampleRows, other: ExampleRows, resamples: int = 1000, permutations: int = 1000, seed: int = 0,
            level: float = LEVEL) -> Comparison:
    """Gain of ``other`` over ``base`` (same examples), paired bootstrap CI and approximate-randomization p."""
    check_bootstrap_args(resamples, level)
    check_bootstrap_args(permutations)
    base, other = pair_rows(base, other)
    rng = np.random.default_rng(seed)
    gain = other.value() - base.value()
    lo, hi = percentile_interval(_gain_draws(base, other, rng, resamples), level)
    p = _p_value(gain, _swap_draws(base, other, rng, permutations))
    return Comparison(gain, lo, hi, p, base.n, resamples, permutations, level)


def compare_languages(pairs: Mapping[Any, tuple[ExampleRows, ExampleRows]], resamples: int = 1000,
                      permutations: int = 1000, seed: int = 0, level: float = LEVEL,
                      weights: Mapping[Any, float] | None = None) -> Comparison:
    """The mean gain over languages (``{lang: (base, other)}``): examples resampled, and swapped, within each
    language independently; each draw averages the languages' gains. ``weights`` (summing to 1) weigh the
    strata instead, e.g. ``1 / (#targets x #languages of the target)`` for a mean over targets of their
    means over languages (keys may then be ``(target, lang)``)."""
    if not pairs:
        raise DataError("no languages to compare")
    check_bootstrap_args(resamples, level)
    check_bootstrap_args(permutations)
    keys = sorted(pairs, key=str)
    aligned = {k: pair_rows(*pairs[k]) for k in keys}
    w = {k: (1.0 / len(keys) if weights is None else float(weights[k])) for k in keys}
    rng = np.random.default_rng(seed)
    gain = math.fsum(w[k] * (o.value() - b.value()) for k, (b, o) in aligned.items())
    # pairs is not empty, so each sum is an array, never sum's start value 0 (the casts)
    boot = cast(np.ndarray, sum(w[k] * _gain_draws(b, o, rng, resamples) for k, (b, o) in aligned.items()))
    null = cast(np.ndarray, sum(w[k] * _swap_draws(b, o, rng, permutations) for k, (b, o) in aligned.items()))
    lo, hi = percentile_interval(boot, level)
    return Comparison(gain, lo, hi, _p_value(gain, null), sum(b.n for b, _ in aligned.values()), resamples,
                      permutations, level)


def compare_seeds(per_seed: Sequence[Mapping[Any, tuple[ExampleRows, ExampleRows]]], resamples: int = 1000,
                  permutations: int = 1000, seed: int = 0, level: float = LEVEL) -> Comparison:
    """The mean over training seeds of the mean gain over languages (``per_seed[s] = {lang: (base, other)}``,
    each seed's baseline and cell trained with that seed, scored on the same examples).

    CI: two-stage bootstrap. For every draw ``r``, each seed contributes its own stratified example
    bootstrap of its mean gain (examples resampled within each language); the draw then averages the gains
    of ``S`` seeds picked with replacement. Both the seed-to-seed variance and the example variance enter
    the interval. p-value: approximate randomization with every example's two rows swapped within its seed
    and language (the null: in no seed does the intermediate task change any example), the statistic being
    the same mean over seeds. ``sd``: the standard deviation (n - 1) of the per-seed gains."""
    if not per_seed or any(not pairs for pairs in per_seed):
        raise DataError("compare_seeds: every seed needs at least one language")
    check_bootstrap_args(resamples, level)
    check_bootstrap_args(permutations)
    rng = np.random.default_rng(seed)
    gains, boots, nulls, n = [], [], [], 0
    for pairs in per_seed:
        keys = sorted(pairs, key=str)
        aligned = [pair_rows(*pairs[k]) for k in keys]
        w = 1.0 / len(aligned)
        gains.append(math.fsum(w * (o.value() - b.value()) for b, o in aligned))
        boots.append(sum(w * _gain_draws(b, o, rng, resamples) for b, o in aligned))
        nulls.append(sum(w * _swap_draws(b, o, rng, permutations) for b, o in aligned))
        n += sum(b.n for b, _ in aligned)
    draws = np.stack(boots)  # (seeds, resamples)
    picked = rng.integers(0, len(per_seed), size=(resamples, len(per_seed)))
    two_stage = draws[picked, np.arange(resamples)[:, None]].mean(axis=1)
    gain = math.fsum(gains) / len(gains)
    lo, hi = percentile_interval(two_stage, level)
    p = _p_value(gain, np.stack(nulls).mean(axis=0))
    sd = float(np.std(gains, ddof=1)) if len(gains) > 1 else 0.0
    return Comparison(gain, lo, hi, p, n, resamples, permutations, level, seeds=len(gains), sd=sd)


def derived_seed(seed: int, *key: Any) -> int:
    """A seed of its own for each comparison (``seed`` and a stable hash of ``key``): the draws of different
    gains are independent, and the same gain gets the same draws on every run."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(map(str, (seed, *key))).encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --------------------------------------------------------------------------------------------------
# multiple comparisons
# --------------------------------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values: sorted ascending, ``p~(i) = max_{j<=i} min(1, (m-j+1) p(j))``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg (1995) adjusted p-values (``scipy.stats.false_discovery_control(method="bh")``)."""
    from scipy.stats import false_discovery_control

    if len(p_values) == 0:
        return []
    return np.asarray(false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh")).tolist()


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values by ``method``: ``holm`` (family-wise error), ``bh`` (false discovery rate) or ``none``."""
    if method not in CORRECTIONS:
        raise ConfigError(f"unknown correction {method!r} (choose from {', '.join(CORRECTIONS)})")
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    return [float(p) for p in p_values]


CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}

"""Evaluating selectors against measured transfer: Regret@k, NDCG and Spearman (Poth et al. 2021, sec. 5), and
the `xta select --evaluate` run over a matrix measured by `xta matrix` (scores from the results store),
relating each measured intermediate set's gain to its diversity."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .artifacts import adapter_dir, load_trained_adapter
from .diversity import mean_pairwise_cosine_distance, shape_entropy
from .errors import ConfigError, XtaError
from .estimates import (
    ESTIMATORS,
    LANGUAGE_GROUPS,
    Estimate,
    TaskEmbedding,
    english_examples,
    random_estimates,
    size_estimates,
    training_sizes,
)
from .languages import get as get_language
from .logme import logme_estimates, logme_features, logme_target_data
from .matrix import plan_matrix
from .matrix_config import BASELINE, Member, parse_intermediate
from .matrix_results import collect_rows, collect_scores
from .semb import embed_task, semb_encoder_or_default, semb_estimates, semb_estimates_apart  # noqa: F401
from .taskemb import FisherEmbedding, adapter_fisher_embedding, taskemb_estimates

logger = logging.getLogger(__name__)


def regret_at_k(ranking: Sequence[str], values: Mapping[str, float], k: int) -> float:
    """Regret@k of Poth et al. (2021, section 5.1), in %: (O - M_k) / O * 100, where O is the best
    target score achievable with any candidate and M_k the best score among the top-``k`` of ``ranking``.
    0 when the best candidate is among the first k. ``values`` are target *scores* (not gains)."""
    if k < 1 or not ranking:
        raise ConfigError(f"regret@k needs k >= 1 and a non-empty ranking (k={k})")
    best = max(values[c] for c in ranking)
    if best == 0:
        return float("nan")
    return (best - max(values[c] for c in ranking[:k])) / best * 100.0


def ndcg(scores: Mapping[str, float], relevance: Mapping[str, float], k: int | None = None) -> float:
    """NDCG@k of an estimator's ranking, as Poth et al. (2021, section 5) evaluate selectors (following
    Vu et al. 2020): NDCG (Järvelin & Kekäläinen 2002) of the candidates ordered by the estimator's
    ``scores``, where a candidate's *relevance* is its measured target-task score after intermediate
    training (``relevance``: candidate -> score, not the gain over the baseline); linear gains,
    DCG@k = sum_{i<=k} rel_(i) / log2(i + 1), divided by the DCG@k of the ideal order (``k`` None: all).

    Computed by ``sklearn.metrics.ndcg_score`` (exactly this definition; tied estimator scores get the
    average over the tied orders, ``ignore_ties=False``). NaN with fewer than two candidates (no
    ranking to judge; scikit-learn refuses them); a negative relevance is refused (scores are >= 0).
    """
    from sklearn.metrics import ndcg_score

    names = sorted(relevance)
    missing = [c for c in names if c not in scores]
    if missing:
        raise ConfigError(f"NDCG: no estimator score for {', '.join(missing)}")
    if len(names) < 2:
        return float("nan")
    rel = np.array([[float(relevance[c]) for c in names]])
    if np.any(rel < 0):
        raise ConfigError("NDCG relevances are target scores and must be >= 0")
    return float(ndcg_score(rel, np.array([[float(scores[c]) for c in names]]), k=k))


def spearman(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Spearman's rank correlation between estimator scores and measured gains (Poth et al. 2021,
    section 5): the Pearson correlation of the two rank vectors, ties getting their average rank,
    computed by ``scipy.stats.spearmanr``. Gains and target scores differ by the baseline, a constant per
    target and language group, so the value is the same for either. NaN when fewer than two candidates
    or one side is constant (no ranking to correlate)."""
    from scipy.stats import spearmanr

    if len(predicted) < 2 or len(set(predicted)) < 2 or len(set(measured)) < 2:
        return float("nan")
    return float(cast(Any, spearmanr(predicted, measured)).statistic)  # scipy's stubs miss the result's fields


def _group_languages(langs: Iterable[str], group: str) -> list[str]:
    langs = sorted(langs)
    return langs if group == "all" else [c for c in langs if get_language(c).resource_group == group]


def _selector_row(estimator: str, target: str, group: str, scores: Mapping[str, float],
                  values: Mapping[str, float], gains_: Mapping[str, float], ks: Sequence[int]) -> dict[str, Any]:
    ranking = sorted(values, key=lambda c: (-scores[c], c))
    row: dict[str, Any] = {"estimator": estimator, "target": target, "group": group, "n_candidates": len(ranking)}
    for k in ks:
        row[f"regret@{k}"] = regret_at_k(ranking, values, k)
    row["ndcg"] = ndcg({c: scores[c] for c in ranking}, values)  # relevance = target score (Poth et al. 2021)
    row["spearman"] = spearman([scores[c] for c in ranking], [gains_[c] for c in ranking])  # = vs. scores
    return row


def evaluate_selectors(measured: Mapping[str, Mapping[str, Mapping[str, float]]],
                       baseline: Mapping[str, Mapping[str, float]], estimates: Sequence[Estimate], *,
                       ks: Sequence[int] = (1, 3), groups: Sequence[str] = LANGUAGE_GROUPS) -> list[dict[str, Any]]:
    """Rows (estimator, target, language group) of Regret@k, NDCG and Spearman against a measured matrix.

    ``measured`` = ``{target: {candidate: {lang: score}}}``; ``baseline`` = ``{target: {lang: score}}``.
    A candidate's value in a group is the mean of its scores (for Regret@k and as NDCG's relevance) and of
    its gains (for Spearman) over the group's languages that the baseline has ('low'/'mid'/'high': Joshi et al. classes,
    :mod:`toolkit.languages`); groups without languages give no row. Only candidates measured on every one
    of those languages and scored by the estimator are ranked; ``n_candidates`` says how many, and
    ``missing`` lists the measured ones left out, so a partial evaluation never passes for a full one.
    """
    for g in groups:
        if g not in LANGUAGE_GROUPS:
            raise ConfigError(f"unknown language group {g!r} (choose from {', '.join(LANGUAGE_GROUPS)})")
    rows = []
    for (estimator, target), scores in sorted(_scores_by(estimates).items()):
        if target not in measured:
            continue
        for group in groups:
            row = _group_row(estimator, target, group, scores, measured[target], baseline.get(target), ks)
            if row is not None:
                rows.append(row)
    return rows


def _scores_by(estimates: Sequence[Estimate]) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = {}
    for e in estimates:
        out.setdefault((e.estimator, e.target), {})[e.candidate] = e.score
    return out


def _group_row(estimator: str, target: str, group: str, scores: Mapping[str, float],
               cands: Mapping[str, Mapping[str, float]], base: Mapping[str, float] | None,
               ks: Sequence[int]) -> dict[str, Any] | None:
    if base is None:
        raise ConfigError(f"no baseline scores for target {target!r}: gains need the no-intermediate run")
    langs = _group_languages(base, group)
    if not langs:
        return None
    usable = sorted(c for c, per in cands.items() if c in scores and all(lang in per for lang in langs))
    missing = sorted(set(cands) - set(usable))
    if not usable:
        return None
    values = {c: float(np.mean([cands[c][lang] for lang in langs])) for c in usable}
    gain = {c: float(np.mean([cands[c][lang] - base[lang] for lang in langs])) for c in usable}
    row = _selector_row(estimator, target, group, scores, values, gain, ks)
    row.update(n_languages=len(langs), missing=missing)
    return row


@dataclass(frozen=True)
class DiversityPoint:
    """One measured intermediate entry of the matrix for one target: its diversity and its mean gains."""

    target: str
    entry: str  # the matrix's intermediate entry: 'anli', 'anli+siqa' (multi-task), 'anli,siqa' (a set)
    tasks: tuple[str, ...]
    diversity: float  # mean pairwise cosine distance of the members' dataset vectors; 0 for one task
    shape_entropy: float
    gains: dict[str, float]  # language group -> mean gain (points) over that group's languages
    # language group -> 95% paired-bootstrap CI of that gain (examples resampled within each language);
    # empty where the store holds no per-example rows (or resamples 0)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class MatrixSelectorEvaluation:
    """Estimates for every target of a measured matrix, their evaluation rows and the diversity points."""

    recipe: str
    rows: list[dict[str, Any]]
    estimates: list[Estimate]
    measured: dict[str, dict[str, dict[str, float]]]  # target -> single-task entry -> lang -> score
    baseline: dict[str, dict[str, float]]
    points: list[DiversityPoint]
    skipped: dict[str, str]  # "estimator:target:candidate" or "estimator:target" -> why
    logme_data: dict[str, str] = field(default_factory=dict)  # target -> the "task:split" LogME's labels came from
    intervals: list[dict[str, Any]] = field(default_factory=list)  # selector_intervals: the metrics with CIs
    overlaps: dict[str, str] = field(default_factory=dict)  # "semb:target:candidate" -> how its own examples were kept apart


def measured_matrix(plan: Any, recipe: str) -> tuple[dict, dict, dict]:
    """``(single, entries, baseline)`` from the results store for a planned matrix (no model work):
    ``single`` = ``{target: {task: {lang: score}}}`` for one-task entries, ``entries`` the same for every
    measured entry (multi-task and sets included), ``baseline`` = ``{target: {lang: score}}``. A target
    without baseline scores is refused: gains need the no-intermediate run (``xta matrix`` first)."""

    cfg = plan.config
    if recipe not in cfg.recipes:
        raise ConfigError(f"recipe {recipe!r} is not in this matrix (it has {', '.join(cfg.recipes)})")
    scores, _ = collect_scores(plan)
    single, entries, baseline = {}, {}, {}
    for target in cfg.targets:
        base = scores.get((target, BASELINE, BASELINE)) or {}
        if not base:
            logger.warning("target %s: no baseline scores in the results store; left out", target)
            continue
        baseline[target] = base
        for entry in cfg.intermediates[1:]:
            per = scores.get((target, recipe, entry)) or {}
            if not per:
                continue
            entries.setdefault(target, {})[entry] = per
            members = parse_intermediate(entry)
            if len(members) == 1 and len(members[0].tasks) == 1:
                single.setdefault(target, {})[members[0].tasks[0]] = per
    if not baseline:
        raise ConfigError(f"the results store has no baseline scores for any target of this matrix "
                          f"(results in {cfg.results_dir or 'the default store'}); run `xta matrix` with the "
                          "same options first")
    return single, entries, baseline


def evaluate_on_matrix(cfg: Any, estimators: Sequence[str] = ("semb", "size", "random"), *, recipe: str = "sequential",  # noqa: C901, PLR0913 (one pass over the estimator kinds; keyword-only options)
                       encoder: Any = None, n: int = 200, seed: int = 0, ks: Sequence[int] = (1, 3),
                       semb_encoder: Any = None, semb_prefix: str | None = None) -> MatrixSelectorEvaluation:
    """Rank the matrix's single-task intermediate entries for each target with every estimator and score
    the rankings against the measured cells (:func:`evaluate_selectors`): Regret@k, NDCG and Spearman
    per target and language group. Also the diversity points (every measured entry, sets included).

    ``semb`` and the diversity of sets embed each task's English data once (``n`` sampled examples) with
    ``semb_encoder``, a sentence-embedding model (None: load :data:`SEMB_MODEL`); ``logme`` loads each candidate's intermediate adapter of the matrix and computes LogME of the
    adapted features of the target's English labelled data (:func:`logme_target_data`, recorded in
    ``logme_data``; targets without labels, e.g. retrieval, are
    skipped and reported); ``taskemb`` compares the Fisher embedding of each candidate's intermediate
    adapter of the matrix with that of the target's own adapter (the matrix's no-intermediate one), each on
    ``n`` sampled examples of its task's English training data. The measured scores come from the results
    store only.
    """
    from .tasks import get_task

    for est in estimators:
        if est not in ESTIMATORS:
            raise ConfigError(f"unknown estimator {est!r} (choose from {', '.join(ESTIMATORS)})")
    plan = plan_matrix(cfg)
    single, entries, baseline = measured_matrix(plan, recipe)
    skipped: dict[str, str] = {f"target:{t}": "no baseline scores in the results store (not measured yet)"
                               for t in cfg.targets if t not in baseline}
    if not any(single.values()):
        raise ConfigError(f"no single-task intermediate entry of this matrix has {recipe} scores in the store yet")
    tasks = sorted({t for per in single.values() for t in per})
    members = {e: tuple(t for m in parse_intermediate(e) for t in m.tasks) for per in entries.values() for e in per}
    targets = [t for t in cfg.targets if t in baseline]
    everything = sorted({*tasks, *targets, *(t for ms in members.values() for t in ms)})
    data, used = {}, {}
    for name in everything:
        try:
            data[name], used[name] = english_examples(name, cfg.data_dir)
        except XtaError as exc:
            skipped[f"data:{name}"] = str(exc)
    need_vectors = "semb" in estimators or any(len(ms) > 1 for ms in members.values())
    vectors: dict[str, TaskEmbedding] = {}
    if need_vectors:
        semb_encoder = semb_encoder_or_default(semb_encoder)
        for name in everything:
            if name in data:
                vectors[name] = embed_task(semb_encoder, data[name], get_task(used[name].split(":")[0]), n=n,
                                           seed=seed, prefix=semb_prefix)
    estimates: list[Estimate] = []
    overlaps: dict[str, str] = {}
    logme_data: dict[str, str] = {}
    fisher: dict[str, FisherEmbedding | str] = {}  # adapter -> its TaskEmb, or why there is none
    taskemb_data = {name: (data[name], used[name]) for name in data}
    for target in targets:
        cands = [c for c in single.get(target, {}) if c in data]
        for c in set(single.get(target, {})) - set(cands):
            skipped[f"all:{target}:{c}"] = "no English data to estimate with"
        if "semb" in estimators and target in vectors:  # never a candidate against its own examples
            found, apart = semb_estimates_apart(target, [c for c in cands if c in vectors], vectors, data, used,
                                                semb_encoder, n=n, seed=seed, prefix=semb_prefix)
            estimates += found
            overlaps.update({f"semb:{target}:{c}": why for c, why in apart.items()})
        if "size" in estimators:  # the cards' full training-set sizes, not the split that loads offline
            estimates += size_estimates(target, training_sizes(cands, data, used)[0])
        if "random" in estimators:
            estimates += random_estimates(target, cands, seed=seed)
        if "logme" in estimators:
            estimates += _matrix_logme(plan, target, cands, encoder, cfg, n, seed, skipped, logme_data)
        if "taskemb" in estimators:
            estimates += _matrix_taskemb(target, cands, encoder, cfg, n, seed, skipped, fisher, taskemb_data)
    rows = evaluate_selectors({t: single[t] for t in single}, baseline, estimates, ks=ks)
    points = _diversity_points(entries, members, baseline, {k: v.vector for k, v in vectors.items()})
    points = point_intervals(plan, recipe, points, getattr(cfg, "resamples", 1000), getattr(cfg, "seed", 0))
    intervals = selector_intervals({t: single[t] for t in single}, baseline, estimates, ks=ks,
                                   resamples=getattr(cfg, "resamples", 1000), seed=getattr(cfg, "seed", 0))
    return MatrixSelectorEvaluation(recipe, rows, estimates, single, baseline, points, skipped, logme_data,
                                    intervals=intervals, overlaps=overlaps)


def _matrix_logme(plan: Any, target: str, cands: Sequence[str], encoder: Any, cfg: Any, n: int, seed: int,
                  skipped: dict[str, str], logme_data: dict[str, str]) -> list[Estimate]:
    from .tasks import get_task

    if encoder is None:
        raise ConfigError("logme needs the encoder")
    try:
        dev, used = logme_target_data(target, cfg.data_dir)
    except XtaError as exc:
        skipped[f"logme:{target}"] = str(exc)
        return []
    logme_data[target] = used
    spec = get_task(used.split(":")[0])
    features = {}
    for cand in cands:
        name = Member((cand,), cfg.prefix).name
        if not adapter_dir(name, cfg.artifacts_dir).is_dir():
            skipped[f"logme:{target}:{cand}"] = f"no trained intermediate adapter for {cand} (run xta matrix)"
            continue
        model = load_trained_adapter(encoder, name, cfg.artifacts_dir)
        try:
            features[cand] = logme_features(encoder, dev, spec, n=n, seed=seed)
        finally:
            model.set_active_adapters(None)
    return logme_estimates(target, features)


def _matrix_taskemb(target: str, cands: Sequence[str], encoder: Any, cfg: Any, n: int, seed: int,
                    skipped: dict[str, str], fisher: dict[str, FisherEmbedding | str],
                    cache: dict[str, tuple[Any, str]]) -> list[Estimate]:
    """TaskEmb for one target of a matrix: the target's no-intermediate adapter (``PREFIX + target``) against
    each candidate's intermediate adapter (``PREFIX + candidate``); each embedding computed once."""

    if encoder is None:
        raise ConfigError("taskemb needs the encoder")
    names = {cand: Member((cand,), cfg.prefix).name for cand in cands}
    target_name = cfg.prefix + target
    for key, name in [(f"taskemb:{target}", target_name), *((f"taskemb:{target}:{c}", names[c]) for c in cands)]:
        if name not in fisher:
            try:
                fisher[name] = adapter_fisher_embedding(encoder, name, cfg.artifacts_dir, cfg.data_dir, n, seed, cache)
            except XtaError as exc:
                fisher[name] = str(exc)  # the reason, reported for every target that needs it
        reason = fisher[name]
        if isinstance(reason, str):
            skipped[key] = reason
    target_emb = fisher[target_name]
    if not isinstance(target_emb, FisherEmbedding):
        return []
    mismatched: dict[str, str] = {}
    embs = {c: fisher[names[c]] for c in cands}
    out = taskemb_estimates(target, target_emb, {c: e for c, e in embs.items() if isinstance(e, FisherEmbedding)},
                            skipped=mismatched)
    skipped.update({f"taskemb:{target}:{c}": why for c, why in mismatched.items()})
    return out


def _diversity_points(entries: Mapping[str, Mapping[str, Mapping[str, float]]], members: Mapping[str, tuple[str, ...]],
                      baseline: Mapping[str, Mapping[str, float]], vectors: Mapping[str, np.ndarray]) -> list[DiversityPoint]:
    from .tasks import get_task

    points = []
    for target, per_entry in entries.items():
        base = baseline[target]
        for entry, per in per_entry.items():
            tasks = members[entry]
            if len(tasks) > 1 and not all(t in vectors for t in tasks):
                continue
            div = mean_pairwise_cosine_distance([vectors[t] for t in tasks]) if len(tasks) > 1 else 0.0
            group_gains = {}
            for group in LANGUAGE_GROUPS:
                langs = [lang for lang in _group_languages(base, group) if lang in per]
                if langs and all(lang in per for lang in _group_languages(base, group)):
                    group_gains[group] = float(np.mean([per[lang] - base[lang] for lang in langs]))
            points.append(DiversityPoint(target, entry, tasks, float(div),
                                         shape_entropy([get_task(t).shape for t in tasks]), group_gains))
    return points


def point_intervals(plan: Any, recipe: str, points: Sequence[DiversityPoint], resamples: int,
                    seed: int = 0) -> list[DiversityPoint]:
    """Each point's group gains with their 95% paired-bootstrap CI (:func:`toolkit.stats.compare_languages`
    over the per-example rows the store keeps for the baseline and the entry)."""
    import dataclasses

    from .errors import DataError
    from .stats import compare_languages, derived_seed

    if resamples < 1 or not points:
        return list(points)
    scores, _ = collect_scores(plan)
    rows = collect_rows(plan, scores)
    out = []
    for p in points:
        base, cell = rows.get((p.target, BASELINE, BASELINE), {}), rows.get((p.target, recipe, p.entry), {})
        intervals = {}
        for group in p.gains:
            langs = _group_languages(scores.get((p.target, BASELINE, BASELINE), {}), group)
            if langs and all(lang in base and lang in cell for lang in langs):
                try:
                    c = compare_languages({lang: (base[lang], cell[lang]) for lang in langs}, resamples, 1,
                                          seed=derived_seed(seed, "diversity", p.target, p.entry, group))
                except DataError:
                    continue
                intervals[group] = (c.low, c.high)
        out.append(dataclasses.replace(p, intervals=intervals))
    return out


# --------------------------------------------------------------------------------------------------
# uncertainty of the selector metrics (issue 17): bootstrap CIs over targets and languages
# --------------------------------------------------------------------------------------------------

RANDOM_EXPECTED = "random (expected)"


def _tie_ndcg(order_groups: Sequence[np.ndarray], rel: np.ndarray) -> np.ndarray:
    """NDCG (linear gains, all positions) of a fixed ranking whose tied candidates form ``order_groups``
    (index arrays in rank order), for every row of ``rel`` (draws x candidates): the DCG averages the
    relevance over each tie group, as ``sklearn.metrics.ndcg_score`` (``_tie_averaged_dcg``) does."""
    n = rel.shape[1]
    disc = 1.0 / np.log2(np.arange(n) + 2.0)
    dcg = np.zeros(rel.shape[0])
    pos = 0
    for group in order_groups:
        dcg += rel[:, group].mean(axis=1) * disc[pos:pos + len(group)].sum()
        pos += len(group)
    ideal = (-np.sort(-rel, axis=1) * disc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, dcg / ideal, np.nan)


def _expected_random_top(values: np.ndarray, k: int) -> np.ndarray:
    """E[best value among the first k of a uniformly random ranking], per row: with the values sorted
    ascending, the i-th (1-based) is the top-k maximum with probability C(i-1, k-1) / C(n, k)."""
    from math import comb

    n = values.shape[1]
    k = min(k, n)
    p = np.array([comb(i - 1, k - 1) for i in range(1, n + 1)], dtype=np.float64) / comb(n, k)
    return np.sort(values, axis=1) @ p


def _selector_draws(scores: Mapping[str, float], cands: Sequence[str], V: np.ndarray, ks: Sequence[int],
                    weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric for every row of ``weights`` (draws x languages: how often each language is drawn);
    ``V`` = candidates x languages of target scores. Gains differ from scores by a per-draw constant (the
    baseline's mean), so Spearman against scores equals Spearman against gains."""
    from scipy.stats import rankdata

    values = (weights @ V.T) / weights.sum(axis=1, keepdims=True)  # draws x candidates
    est = np.array([float(scores[c]) for c in cands])
    order = sorted(range(len(cands)), key=lambda i: (-est[i], cands[i]))
    best = values.max(axis=1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            top = values[:, order[:k]].max(axis=1)
            out[f"regret@{k}"] = np.where(best != 0, (best - top) / best * 100.0, np.nan)
            rnd = _expected_random_top(values, k)
            out[f"random_regret@{k}"] = np.where(best != 0, (best - rnd) / best * 100.0, np.nan)
            out[f"regret@{k}_vs_random"] = out[f"random_regret@{k}"] - out[f"regret@{k}"]
        levels = sorted(set(est), reverse=True)
        groups = [np.array([i for i in order if est[i] == s]) for s in levels]
        out["ndcg"] = _tie_ndcg(groups, values) if len(cands) > 1 else np.full(len(values), np.nan)
        if len(cands) > 1 and len(levels) > 1:
            r_est = rankdata(est)
            r_val = rankdata(values, axis=1)
            a = r_est - r_est.mean()
            b = r_val - r_val.mean(axis=1, keepdims=True)
            den = np.sqrt((a ** 2).sum() * (b ** 2).sum(axis=1))
            out["spearman"] = np.where(den > 0, (b @ a) / den, np.nan)
        else:
            out["spearman"] = np.full(len(values), np.nan)
    return out


SELECTOR_METRICS = ("regret@{k}", "regret@{k}_vs_random", "ndcg", "spearman")


def _ci(draws: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    ok = draws[~np.isnan(draws)]
    if len(ok) < max(10, len(draws) // 2):
        return None, None
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(ok, [tail, 100.0 - tail])
    return float(lo), float(hi)


def selector_intervals(measured: Mapping[str, Mapping[str, Mapping[str, float]]],
                       baseline: Mapping[str, Mapping[str, float]], estimates: Sequence[Estimate], *,
                       ks: Sequence[int] = (1, 3), groups: Sequence[str] = LANGUAGE_GROUPS,
                       resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Regret@k, NDCG and Spearman with 95% percentile-bootstrap CIs, per (estimator, group): one row per
    target (languages of the group resampled with replacement; each candidate's value is its mean over the
    drawn languages) and one row ``target = "all targets"`` averaging the targets (two-stage: targets drawn
    with replacement, then languages within each, as :func:`toolkit.stats.compare_seeds` does with seeds).
    ``regret@k_vs_random`` is the expected Regret@k of a uniformly random ranking of the same candidates
    minus the estimator's (> 0: better than random; exact expectation, not a sampled random ranking); a
    ``random (expected)`` row gives that expectation itself. Values are the point estimates on all
    languages (equal to :func:`evaluate_selectors`'s); a CI is None when under half of the draws define the
    metric (e.g. one candidate, or ties everywhere)."""
    from .stats import bootstrap_draw_counts, derived_seed

    if resamples < 1:
        return []
    metric_keys = [m.format(k=k) for m in SELECTOR_METRICS for k in (ks if "{k}" in m else (None,))]
    per: dict[tuple[str, str], dict[str, dict[str, tuple[float, np.ndarray]]]] = {}
    for (estimator, target), scores in sorted(_scores_by(estimates).items()):
        base = baseline.get(target)
        if target not in measured or base is None:
            continue
        for group in groups:
            langs = _group_languages(base, group)
            cands = sorted(c for c, v in measured[target].items() if c in scores and all(lang in v for lang in langs))
            if not langs or not cands:
                continue
            V = np.array([[measured[target][c][lang] for lang in langs] for c in cands], dtype=np.float64)
            rng = np.random.default_rng(derived_seed(seed, "selector", target, group))
            boot = _selector_draws(scores, cands, V, ks, bootstrap_draw_counts(rng, len(langs), resamples))
            point = _selector_draws(scores, cands, V, ks, np.ones((1, len(langs))))
            entry = {m: (float(point[m][0]), boot[m]) for m in [*metric_keys, *(f"random_regret@{k}" for k in ks)]}
            per.setdefault((estimator, group), {})[target] = entry
    rows = []
    for (estimator, group), targets in sorted(per.items()):
        for target, entry in sorted(targets.items()):
            rows.append(_interval_row(estimator, target, group, 1, {m: entry[m] for m in metric_keys}))
        names = sorted(targets)
        rng = np.random.default_rng(derived_seed(seed, "selector-targets", estimator, group))
        picked = rng.integers(0, len(names), size=(resamples, len(names)))
        agg = {}
        for m in [*metric_keys, *(f"random_regret@{k}" for k in ks)]:
            stack = np.stack([targets[t][m][1] for t in names])  # targets x draws
            with np.errstate(invalid="ignore"), _quiet_nanmean():
                point = float(np.nanmean([targets[t][m][0] for t in names]))
                draws = np.nanmean(stack[picked, np.arange(resamples)[:, None]], axis=1)
            agg[m] = (point, draws)
        rows.append(_interval_row(estimator, "all targets", group, len(names), {m: agg[m] for m in metric_keys}))
        rows.append(_interval_row(RANDOM_EXPECTED + f" [{estimator}'s candidates]", "all targets", group, len(names),
                                  {f"regret@{k}": agg[f"random_regret@{k}"] for k in ks}))
    return rows


class _quiet_nanmean:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _interval_row(estimator: str, target: str, group: str, n_targets: int,
                  metrics: Mapping[str, tuple[float, np.ndarray]]) -> dict[str, Any]:
    row: dict[str, Any] = {"estimator": estimator, "target": target, "group": group, "n_targets": n_targets}
    for m, (point, draws) in metrics.items():
        lo, hi = _ci(draws)
        row[m] = None if math.isnan(point) else point
        row[f"{m}_ci"] = None if lo is None or row[m] is None else [lo, hi]
    return row

"""Intermediate-task selection: transferability estimates, task-set diversity, selection and its evaluation.

Training the full transfer matrix (intermediate sets x targets x languages) is the expensive ground truth;
this module ranks candidate intermediate tasks *before* training it, and measures how good a ranking was
*after* (parts of) the matrix have been measured.

Estimators (each cheap relative to training the matrix; each :class:`Estimate` records its cost):

* ``semb`` — SEmb of Poth et al. (2021), "What to Pre-Train on? Efficient Intermediate Task Selection"
  (reference: adapter-hub/efficient-task-transfer ``task_selection/semb.py``): a *sentence-embedding*
  model (:data:`SEMB_MODEL`, multilingual-e5-small offline) mean-pools every row of (a sample of) a task's
  examples — one row per answer choice for multiple choice — and the mean over rows is the task's
  vector; a candidate scores the cosine similarity between its vector and the target's English-data
  vector. Vu et al. (2020)'s TextEmb is the same construction on the task model's encoder (BERT).
* ``logme`` — LogME (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning"): the maximised log marginal likelihood (evidence) per example of a Bayesian linear model from
  the *intermediate-adapted* features of the target's English dev data to its labels (:func:`logme`; a
  target without an English dev split uses its training source's, :func:`logme_target_data`).
* ``taskemb`` — TaskEmb (Vu et al. 2020, "Exploring and Predicting Transferability across NLP Tasks";
  reference for adapters: adapter-hub/efficient-task-transfer ``task_selection/taskemb.py``): the
  empirical Fisher diagonal of each trained adapter's weights on its own task's English training data
  (:func:`taskemb_fisher`); a candidate scores the cosine between its adapter's and the target adapter's.
* ``size`` — the control of Poth et al. (2021): the largest intermediate dataset first.
* ``random`` — a seeded random ranking, the other control.

The estimators take numpy arrays (pure and testable); :func:`task_embedding` / :func:`embed_task` and
:func:`logme_features` are the thin functions that compute those arrays with an encoder.

Diversity of a task set (:func:`mean_pairwise_cosine_distance`, :func:`logdet_volume`, :func:`shape_entropy`)
and selection (:func:`select`) follow; :func:`evaluate_selectors` scores rankings against a measured matrix
with Regret@k, NDCG and Spearman's rho (Poth et al. 2021, section 5); :func:`evaluate_on_matrix` does it for a
matrix measured by ``xta matrix`` (scores read from the results store) and relates each measured
intermediate set's gain to its diversity (:class:`DiversityPoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, XtaError  # noqa: F401 (DataError: part of this module's namespace)
from .languages import low_resource

logger = logging.getLogger(__name__)

# the estimators, diversity and selector evaluation live in their own modules; re-exported here so that
# `toolkit.selection` stays the one place to import selection from
from .estimates import training_sizes  # noqa: E402
from .estimates import COMBINATIONS, Cost, ESTIMATION_SPLITS, ESTIMATORS, Estimate, LANGUAGE_GROUPS, LabelledFeatures, OBJECTIVES, TaskEmbedding, cosine, english_examples, example_text, random_estimates, sample_indices, size_estimates  # noqa: F401,E402
from .semb import disjoint_halves, semb_estimates_apart  # noqa: F401,E402
from .semb import E5_SEMB_PREFIX, SEMB_MODEL, embed_task, encode_rows, mean_embedding, semb_estimates, semb_prefix, semb_rows, semb_rows_per_example, task_embedding  # noqa: F401,E402
from .logme import LOGME_EPSILON, LOGME_MAX_ITER, LOGME_TOL, feature_spectrum, log_evidence, log_evidence_from_terms, logme, logme_estimates, logme_features, logme_target_data, posterior_mean_terms  # noqa: F401,E402
from .taskemb import FisherEmbedding, TASKEMB_BATCH_SIZE, adapter_parameter_key, adapter_taskemb, taskemb_estimates, taskemb_fisher, taskemb_similarity  # noqa: F401,E402
from .matrix_results import gains  # noqa: F401,E402 (gains live with the matrix's results)
from .diversity import Diversity, distinct_shapes, diversity, logdet_volume, mean_pairwise_cosine_distance, shape_entropy  # noqa: F401,E402
from .selector_eval import DiversityPoint, MatrixSelectorEvaluation, evaluate_on_matrix, evaluate_selectors, measured_matrix, ndcg, regret_at_k, spearman  # noqa: F401,E402
from .logme import candidate_logme_estimates  # noqa: E402
from .semb import semb_encoder_or_default  # noqa: E402
from .taskemb import candidate_taskemb_estimates  # noqa: E402


# ---------------------------------------------------------------------------------------- objectives


def objective_languages(languages: Iterable[str], objective: str) -> list[str]:
    """The languages an objective aggregates over: all for 'mean' and 'worst-language', the low-resource
    ones (Joshi et al. 2020 classes 0-2, :mod:`toolkit.languages`) for 'low-resource'."""
    langs = sorted(languages)
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r} (choose from {', '.join(OBJECTIVES)})")
    if objective == "low-resource":
        return low_resource(langs)
    return langs


def objective_value(per_language: Mapping[str, float], objective: str) -> float:
    """A candidate's per-language gains reduced to one number: the mean over all languages ('mean'),
    the minimum ('worst-language'), or the mean over the low-resource languages ('low-resource')."""
    langs = objective_languages(per_language, objective)
    if not langs:
        raise ConfigError(f"objective {objective!r}: none of the languages {', '.join(sorted(per_language))} "
                          "is low-resource; use objective 'mean' or 'worst-language'")
    values = [per_language[c] for c in langs]
    return float(min(values)) if objective == "worst-language" else float(np.mean(values))


# ----------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """The chosen intermediate set for a target, why, and the command that trains it."""

    target: str
    chosen: tuple[str, ...]
    objective: str
    estimator: str | None
    basis: str  # "measured", "estimator", or "measured+estimator"
    ranking: tuple[str, ...]  # every candidate, best first
    scores: dict[str, float]  # the estimator's raw score per estimated candidate
    objective_values: dict[str, float]  # measured objective value per measured candidate
    diversity: Diversity | None
    command: str
    incomplete: tuple[str, ...] = ()  # measured candidates missing some languages: treated as unmeasured


def _estimator_scores(target: str, candidates: Sequence[str], estimates: Sequence[Estimate],
                      estimator: str | None) -> tuple[str | None, dict[str, float]]:
    mine = [e for e in estimates if e.target == target and e.candidate in candidates]
    names = sorted({e.estimator for e in mine})
    if estimator is None:
        if len(names) > 1:
            raise ConfigError(f"estimates of several estimators ({', '.join(names)}); choose one with estimator=")
        estimator = names[0] if names else None
    return estimator, {e.candidate: e.score for e in mine if e.estimator == estimator}


def _measured_values(target: str, candidates: Sequence[str], matrix: Mapping | None,
                     objective: str) -> tuple[dict[str, float], tuple[str, ...]]:
    """Objective values of the measured candidates; candidates measured on fewer languages than the
    others are reported as incomplete instead (no average over incomplete languages)."""
    rows = {c: per for c, per in ((matrix or {}).get(target) or {}).items() if c in candidates and per}
    if not rows:
        return {}, ()
    langs = set().union(*(set(per) for per in rows.values()))
    incomplete = tuple(sorted(c for c, per in rows.items() if set(per) != langs))
    if incomplete:
        logger.warning("target %s: %s measured on only some of %d languages; ranked as unmeasured",
                       target, ", ".join(incomplete), len(langs))
    return {c: objective_value(per, objective) for c, per in rows.items() if c not in incomplete}, incomplete


def _rank(candidates: Sequence[str], measured: Mapping[str, float], scores: Mapping[str, float]) -> list[str]:
    """Measured candidates that help (objective > 0) first, by objective; then unmeasured ones by the
    estimator; then measured candidates that do not help. Candidates with neither come last. Ties: name."""
    helped = sorted((c for c in measured if measured[c] > 0), key=lambda c: (-measured[c], c))
    hurt = sorted((c for c in measured if measured[c] <= 0), key=lambda c: (-measured[c], c))
    estimated = sorted((c for c in scores if c not in measured), key=lambda c: (-scores[c], c))
    rest = sorted(c for c in candidates if c not in measured and c not in scores)
    return helped + estimated + hurt + rest


def _utilities(ranking: Sequence[str], measured: Mapping[str, float], scores: Mapping[str, float]) -> dict[str, float]:
    """Each candidate's utility in [0, 1]: its value min-max scaled over the candidates when one basis
    (measured objective or estimator score) covers them all, so gaps between values count; otherwise
    (mixed bases, whose scales differ) its rank scaled to [0, 1] (1 = first)."""
    for basis in (measured, scores):
        if all(c in basis for c in ranking):
            lo, hi = min(basis[c] for c in ranking), max(basis[c] for c in ranking)
            return {c: (basis[c] - lo) / (hi - lo) if hi > lo else 1.0 for c in ranking}
    return {c: 1.0 - i / max(len(ranking) - 1, 1) for i, c in enumerate(ranking)}


def _greedy(ranking: Sequence[str], budget: int, weight: float, embeddings: Mapping[str, np.ndarray] | None,
            measured: Mapping[str, float], scores: Mapping[str, float]) -> list[str]:
    """Greedy set choice: start from the best-ranked candidate, then repeatedly add the candidate that
    maximises utility + ``weight`` * mean pairwise cosine distance of the set with it (utility in [0, 1],
    :func:`_utilities`, so ``weight`` means the same for every estimator and objective). With weight 0
    (or no embeddings) this is the top-``budget`` of the ranking."""
    if weight == 0 or embeddings is None or budget <= 1:
        return list(ranking[:budget])
    utility = _utilities(ranking, measured, scores)
    chosen = [ranking[0]]
    while len(chosen) < budget:
        pool = [c for c in ranking if c not in chosen]
        best = max(pool, key=lambda c: utility[c]
                   + weight * mean_pairwise_cosine_distance([embeddings[t] for t in (*chosen, c)]))
        chosen.append(best)
    return chosen


def command_for(target: str, chosen: Sequence[str], combine: str = "fuse") -> str:
    """The xta command that trains a chosen set: one intermediate adapter for a single task; an
    AdapterFusion over the chosen adapters for the target (``combine='fuse'``, Pfeiffer et al. 2021); or one
    multi-task adapter over all of them (``combine='multitask'``)."""
    if combine not in COMBINATIONS:
        raise ConfigError(f"unknown combination {combine!r} (choose from {', '.join(COMBINATIONS)})")
    if len(chosen) == 1:
        return f"xta train-adapter --task {chosen[0]}"
    if combine == "fuse":
        return f"xta fuse --tasks {','.join(chosen)} --target {target}"
    return f"xta train-adapter --task {chosen[0]} --extra-tasks {','.join(chosen[1:])}"


def command_caveat(target: str, chosen: Sequence[str], combine: str, used: Mapping[str, str]) -> str | None:
    """Why the fusion step of :func:`runnable_command` may still fail as printed, or None: a fusion trains its
    head on the target's English training source, and where that source's train split did not load
    (``used``: XCOPA offline is SocialIQa's dev set), ``xta fuse`` cannot yet be pointed at another split of
    that source (issue 20 item 8)."""
    if len(chosen) < 2 or combine != "fuse":
        return None
    source, _, split = (used.get(target) or "").partition(":")
    if not source or source == target or split == "train":
        return None
    return (f"the fusion trains on {target}'s English training source {source}, whose train split did not load "
            f"here ({used[target]} was used); xta fuse needs {source}'s train split (the Hub, or a local copy)")


def select(target: str, candidates: Sequence[str], estimates: Sequence[Estimate] = (), budget: int = 1,
           objective: str = "mean", matrix: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None, *,
           estimator: str | None = None, diversity_weight: float = 0.0,
           embeddings: Mapping[str, np.ndarray] | None = None, shapes: Mapping[str, str] | None = None,
           combine: str = "fuse") -> Selection:
    """Pick ``budget`` intermediate tasks among ``candidates`` for ``target``.

    ``matrix`` is the measured gains matrix ``{target: {candidate: {lang: gain}}}`` (see :func:`gains`);
    candidates measured for ``target`` are ranked by ``objective`` over their per-language gains (mean
    over all languages; worst language; mean over the low-resource languages) — measured evidence first,
    see :func:`_rank`. Other candidates are ranked by ``estimator``'s scores (estimators are computed on
    English data and have no per-language dimension, so there the objective does not change the order).
    With ``budget`` > 1 the set is chosen greedily with a diversity bonus ``diversity_weight`` over task
    ``embeddings`` (:func:`_greedy`); ``combine`` says how the set is trained (fusion or multi-task).
    """
    candidates = list(dict.fromkeys(candidates))
    if not 1 <= budget <= len(candidates):
        raise ConfigError(f"budget must be between 1 and the number of candidates ({len(candidates)}), got {budget}")
    if diversity_weight < 0:
        raise ConfigError(f"diversity_weight must be >= 0, got {diversity_weight}")
    objective_languages((), objective)  # validates the name
    if diversity_weight > 0 and embeddings is not None:
        diversity(candidates, embeddings)  # every candidate needs an embedding for the bonus
    estimator, scores = _estimator_scores(target, candidates, estimates, estimator)
    measured, incomplete = _measured_values(target, candidates, matrix, objective)
    if not measured and not scores:
        raise ConfigError(f"target {target!r}: no estimates and no measured gains for any candidate; "
                          "run an estimator first")
    ranking = _rank(candidates, measured, scores)
    chosen = _greedy(ranking, budget, diversity_weight, embeddings, measured, scores)
    basis = "+".join(b for b, present in (("measured", measured), ("estimator", scores)) if present)
    div = diversity(chosen, embeddings, shapes) if (embeddings is not None or shapes is not None) else None
    return Selection(target, tuple(chosen), objective, estimator, basis, tuple(ranking), scores, measured, div,
                     command_for(target, chosen, combine), incomplete)


# --------------------------------------------------------------------------------------------------
# running the estimators on real tasks (what `xta select` calls)
# --------------------------------------------------------------------------------------------------


@dataclass
class SelectionRun:
    selection: Selection
    estimates: list[Estimate]
    data_used: dict[str, str]  # task -> "source:split"
    skipped: dict[str, str]  # candidate -> why it could not be estimated
    logme_data: str | None = None  # LogME: the labelled English data of the target ("task:split")
    # candidate -> how its own examples were kept out of the target's representation (SEmb), e.g. XCOPA's
    # English data is SocialIQa's, so candidate siqa would otherwise score cosine 1.0 against itself
    overlaps: dict[str, str] = field(default_factory=dict)
    # candidate -> where its size came from (size estimator): the card's full training-set size and its source,
    # or the count of the split that loaded when the card gives none
    sizes: dict[str, str] = field(default_factory=dict)
    command_caveat: str | None = None  # why the printed command may still fail as pasted (see command_caveat)


def _split_flags(used: str | None) -> list[str]:
    """--train-split/--dev-split for a task whose English data loaded from ``used`` ("task:split"): none when
    its train split loaded, else an 80/20 slice of the split that did (e.g. SocialIQa offline: its dev set)."""
    split = (used or "").split(":", 1)[1] if used and ":" in used else "train"
    if split == "train":
        return []
    return ["--train-split", f"{split}[:80%]", "--dev-split", f"{split}[80%:]"]


def runnable_command(target: str, chosen: Sequence[str], combine: str = "fuse", *, used: Mapping[str, str] | None = None,
                     data_dir=None, artifacts_dir=None, model: str | None = None) -> str:
    """The :func:`command_for` command as it runs when pasted: with the ``--data-dir``, ``--artifacts-dir`` and
    ``--model`` the selection used, the splits the tasks' data loaded from (:func:`_split_flags`), and, for a
    fusion, the training of each chosen adapter first (``&&``-joined, shell-quoted)."""
    import shlex

    used = used or {}
    common = [*(["--data-dir", str(data_dir)] if data_dir else []),
              *(["--artifacts-dir", str(artifacts_dir)] if artifacts_dir else []),
              *(["--model", str(model)] if model else [])]

    def line(words: list[str]) -> str:
        return " ".join(shlex.quote(w) for w in ["xta", *words, *common])

    base = command_for(target, chosen, combine)  # validates combine
    if len(chosen) == 1:
        return line(["train-adapter", "--task", chosen[0], *_split_flags(used.get(chosen[0]))])
    if combine == "multitask":
        return line(base.split()[1:])
    steps = [line(["train-adapter", "--task", c, *_split_flags(used.get(c))]) for c in chosen]
    # the target's own splits only: a target trained through its train_from source (xcopa: siqa) is item 8 of
    # issue 20 (fuse cannot name that source's splits), so its fusion keeps the defaults
    own = (used.get(target) or "").split(":")[0] == target
    steps.append(line(["fuse", "--tasks", ",".join(chosen), "--target", target, *(_split_flags(used.get(target)) if own else [])]))
    return " && ".join(steps)


def run_selection(target: str, candidates: Sequence[str], *, budget: int = 1, objective: str = "mean",  # noqa: PLR0913 (keyword-only: `xta select`'s flags)
                  estimator: str = "semb", encoder: Any = None, data_dir=None, n: int = 500, seed: int = 0,
                  diversity_weight: float = 0.0, combine: str = "fuse", matrix=None,
                  artifacts_dir=None, semb_encoder: Any = None, semb_prefix: str | None = None,  # noqa: F811 (the flag's name; the function is re-exported above)
                  model: str | None = None) -> SelectionRun:
    """Estimate every candidate for ``target`` with ``estimator`` and select.

    SEmb (and the diversity bonus) embed with ``semb_encoder``, a sentence-embedding model (None: load
    :data:`SEMB_MODEL`), one forward pass per sampled row, with ``semb_prefix`` (None: :func:`semb_prefix`);
    size and random need none; LogME needs ``encoder`` (the task model) and each candidate's trained
    intermediate adapter, named like the candidate, in
    ``artifacts_dir`` (``xta train-adapter --task CANDIDATE``); TaskEmb needs those and the target's trained
    adapter, named like the target (``xta train-adapter --task TARGET``). Candidates whose English data or
    adapter is missing are skipped and reported, never silently dropped.

    SEmb never compares a candidate with its own examples: where a candidate's English data is the target's
    (XCOPA is represented by SocialIQa's data, its English training source), the shared examples are cut in
    two disjoint halves (:func:`disjoint_halves`), the target represented by one and the candidate by the
    other, and ``overlaps`` says so. ``size`` ranks by the cards' full training-set sizes (``train_size``),
    not by whichever split loads offline. The selection's ``command`` is :func:`runnable_command` (``model``:
    the encoder name to pass on).
    """
    from .tasks import get_task

    if estimator not in ESTIMATORS:
        raise ConfigError(f"unknown estimator {estimator!r} (choose from {', '.join(ESTIMATORS)})")
    data, used, skipped = {}, {}, {}
    for name in dict.fromkeys([target, *candidates]):
        try:
            data[name], used[name] = english_examples(name, data_dir)  # whole split: sizes are counted
        except XtaError as exc:
            if name == target and estimator == "semb":
                raise
            skipped[name] = str(exc)
    usable = [c for c in candidates if c in data]
    embeddings, estimates, logme_data = {}, [], None
    if estimator == "semb" or diversity_weight:
        semb_encoder = semb_encoder_or_default(semb_encoder)
        for name in [target, *usable] if target in data else usable:
            # the spec of the data actually loaded (lareqa's English data is SQuAD's, a QA task)
            embeddings[name] = embed_task(semb_encoder, data[name], get_task(used[name].split(":")[0]), n=n,
                                          seed=seed, prefix=semb_prefix)
    overlaps: dict[str, str] = {}
    sizes: dict[str, str] = {}
    if estimator == "semb":
        estimates, overlaps = semb_estimates_apart(target, usable, embeddings, data, used, semb_encoder, n=n,
                                                   seed=seed, prefix=semb_prefix)
    elif estimator == "size":
        counts, sizes = training_sizes(usable, data, used)
        estimates = size_estimates(target, counts)
    elif estimator == "logme":
        estimates, logme_data = candidate_logme_estimates(target, usable, encoder, data_dir, artifacts_dir, n, seed, skipped)
        usable = [c for c in usable if c not in skipped]
    elif estimator == "taskemb":
        cache = {name: (data[name], used[name]) for name in data}
        estimates = candidate_taskemb_estimates(target, usable, encoder, data_dir, artifacts_dir, n, seed, skipped, cache)
        usable = [c for c in usable if c not in skipped]
    else:
        estimates = random_estimates(target, usable, seed=seed)
    vectors = {k: (v.vector if isinstance(v, TaskEmbedding) else v) for k, v in embeddings.items()}
    sel = select(target, usable, estimates, budget=budget, objective=objective, matrix=matrix, estimator=estimator,
                 diversity_weight=diversity_weight, embeddings=vectors or None,
                 shapes={c: get_task(c).shape for c in usable}, combine=combine)
    sel = replace(sel, command=runnable_command(target, sel.chosen, combine, used=used, data_dir=data_dir,
                                                artifacts_dir=artifacts_dir, model=model))
    return SelectionRun(sel, estimates, used, skipped, logme_data, overlaps, sizes,
                        command_caveat(target, sel.chosen, combine, used))

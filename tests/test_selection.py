"""Transferability estimators, diversity, selection objectives and selector evaluation (toolkit.selection).

Synthetic data where the right answer is known; metric values computed by hand in the comments.
"""

from __future__ import annotations

import json

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from toolkit import selection as S
from toolkit.errors import ConfigError

# ------------------------------------------------------------------------------------------- LogME


def _separable(rng: np.random.Generator, n: int = 300, d: int = 16, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, k, n)
    means = rng.normal(size=(k, d)) * 4.0
    return means[labels] + rng.normal(size=(n, d)), labels


def test_logme_prefers_linearly_separable_features():
    rng = np.random.default_rng(0)
    feats, labels = _separable(rng)
    noise = rng.normal(size=feats.shape)
    good, bad = S.logme(feats, labels), S.logme(noise, labels)
    assert good > bad + 0.3, (good, bad)
    # a partially informative feature set lies between the two
    mixed = noise.copy()
    mixed[:, 0] += labels
    assert bad < S.logme(mixed, labels) < good


def _direct_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """y ~ N(0, I/beta + F F^T/alpha): the marginal likelihood of the Bayesian linear model, directly."""
    n = f.shape[0]
    return float(multivariate_normal(mean=np.zeros(n), cov=np.eye(n) / beta + f @ f.T / alpha).logpdf(y))


@pytest.mark.parametrize("n,d", [(7, 3), (4, 6)])  # N >= D (eigh of F^T F) and N < D (thin SVD)
def test_log_evidence_matches_the_gaussian_marginal_likelihood(n, d):
    rng = np.random.default_rng(n * 10 + d)
    f, y = rng.normal(size=(n, d)), rng.normal(size=n)
    for alpha, beta in [(1.0, 1.0), (0.3, 4.0), (7.0, 0.2)]:
        assert S.log_evidence(f, y, alpha, beta) == pytest.approx(_direct_log_evidence(f, y, alpha, beta), rel=1e-10)


@pytest.mark.parametrize("n,d,seed", [(9, 3, 1), (40, 5, 2)])  # N > D: the reference's evidence is the exact one
def test_logme_reaches_the_brute_force_maximum_evidence(n, d, seed):
    """With N > D (full rank), LogME = mean over classes of max_{alpha,beta} log p(y_k | F, alpha, beta) / N;
    the maximum here is found by bounded Nelder-Mead over (log alpha, log beta) from several starts on the
    direct Gaussian density. Features carry some label signal so that every maximum is interior (checked).
    The reference stops at a relative change of 1e-3 within 11 steps, so the match is to 1e-5."""
    rng = np.random.default_rng(seed)
    labels = np.array([0, 1, 2] * n)[:n]
    f = rng.normal(size=(n, d))
    f[:, :3] += 1.5 * (labels[:, None] == np.arange(3))
    brute = []
    for k in range(3):
        y = (labels == k).astype(float)
        best = max((minimize(lambda p: -_direct_log_evidence(f, y, math.exp(p[0]), math.exp(p[1])), x0,
                             method="Nelder-Mead", bounds=[(-20, 20), (-20, 20)],
                             options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
                    for x0 in ([0.0, 0.0], [2.0, -1.0], [-2.0, 2.0])), key=lambda r: -r.fun)
        assert np.all(np.abs(best.x) < 19)  # an interior maximum, not the search box
        brute.append(-best.fun / n)
    value = S.logme(f, labels)
    # the evidence at any (alpha, beta), and with a stale posterior mean, is at most the maximum
    assert value <= np.mean(brute) + 1e-9
    assert value == pytest.approx(np.mean(brute), abs=1e-5)


def _reference_logme(f: np.ndarray, y: np.ndarray, regression: bool = False) -> float:
    """thuml/LogME LogME.py (commit 56551ca), LogME.fit -> _fit_fixed_point (l.100-158) with
    truncated_svd (l.47-57), restated in numpy (numba's njit left out; same LAPACK calls)."""
    f = f.astype(np.float64)
    if regression:
        y = y.astype(np.float64)
        if len(y.shape) == 1:
            y = y.reshape(-1, 1)
    N, D = f.shape
    if N > D:
        u_, s, vh = np.linalg.svd(f.transpose() @ f)
        s = np.sqrt(s)
        u_times_sigma = f @ vh.transpose()
        k = np.sum((s > 1e-10) * 1)
        s = s.reshape(-1, 1)[:k]
        vh = vh[:k]
        u = u_times_sigma[:, :k] / s.reshape(1, -1)
    else:
        u, s, vh = np.linalg.svd(f, full_matrices=False)
    s = s.reshape(-1, 1)
    sigma = s ** 2
    evidences = []
    num_dim = y.shape[1] if regression else int(y.max() + 1)
    for i in range(num_dim):
        y_ = y[:, i] if regression else (y == i).astype(np.float64)
        y_ = y_.reshape(-1, 1)
        x = u.T @ y_
        x2 = x ** 2
        res_x2 = (y_ ** 2).sum() - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / ((t + sigma) ** 2)).sum()
            res2 = (x2 / ((1 + sigma / t) ** 2)).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (N - gamma) / (res2 + 1e-5)
            t_ = alpha / beta
            if abs(t_ - t) / t <= 1e-3:
                break
        evidence = D / 2.0 * np.log(alpha) + N / 2.0 * np.log(beta) - 0.5 * np.sum(np.log(alpha + beta * sigma)) \
            - beta / 2.0 * res2 - alpha / 2.0 * m2 - N / 2.0 * np.log(2 * np.pi)
        evidences.append(evidence / N)
    return float(np.mean(evidences))


@pytest.mark.parametrize("n,d,seed", [(60, 100, 0), (30, 30, 1), (200, 24, 2), (12, 64, 3)])
def test_logme_equals_the_reference_implementation(n, d, seed):
    """n < d (the reference's evidence sums over min(n, d) components), n = d and n > d."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    rng.shuffle(labels)
    f = rng.normal(size=(n, d)) + 0.8 * (labels[:, None] == np.arange(d) % 4)
    assert S.logme(f, labels) == pytest.approx(_reference_logme(f, labels), abs=1e-9, rel=1e-9)
    targets = f[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(n, 2))
    assert S.logme(f, targets, regression=True) == pytest.approx(
        _reference_logme(f, targets, regression=True), abs=1e-9, rel=1e-9)


def test_logme_with_fewer_examples_than_dimensions_is_not_the_exact_evidence():
    """The reference's log|A| sums over k = n singular values: the exact evidence (log_evidence, checked
    against the Gaussian density above) is lower by (d - n)/2 log(alpha) at the same alpha, beta."""
    rng = np.random.default_rng(5)
    n, d = 20, 50
    f, y = rng.normal(size=(n, d)), (np.arange(n) % 2).astype(float)
    sigma, u = S.feature_spectrum(f)
    assert len(sigma) == n
    x2 = (u.T @ y) ** 2
    _, m2, res2 = S.posterior_mean_terms(sigma, x2, float(y @ y - x2.sum()), 0.3 / 2.0)
    reference = S.log_evidence_from_terms(sigma, d, n, 0.3, 2.0, m2, res2)
    assert S.log_evidence(f, y, 0.3, 2.0) == pytest.approx(reference - (d - n) / 2 * math.log(0.3), rel=1e-12)


def test_logme_rejects_bad_input():
    with pytest.raises(ConfigError):
        S.logme(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ConfigError):
        S.logme(np.zeros((2, 2)), np.array([0.5, 1.0]))


def test_logme_estimates_rank_separable_candidate_first_and_record_cost():
    rng = np.random.default_rng(1)
    feats, labels = _separable(rng)
    cands = {
        "good": S.LabelledFeatures(feats, labels, S.Cost(300, 1.5)),
        "bad": S.LabelledFeatures(rng.normal(size=feats.shape), labels, S.Cost(300, 1.0)),
    }
    est = {e.candidate: e for e in S.logme_estimates("xnli", cands)}
    assert est["good"].score > est["bad"].score
    assert est["good"].cost.forward_passes == 300 and est["good"].cost.seconds >= 1.5
    assert est["good"].as_dict()["cost"]["forward_passes"] == 300


# -------------------------------------------------------------------------------------------- SEmb


def test_semb_ranks_the_matching_distribution_first():
    rng = np.random.default_rng(2)
    d = 24
    mu_t, mu_o = rng.normal(size=d), rng.normal(size=d)
    target = S.mean_embedding(mu_t + rng.normal(size=(400, d)))
    cands = {
        "match": S.mean_embedding(mu_t + rng.normal(size=(400, d))),
        "half": S.mean_embedding(0.5 * (mu_t + mu_o) + rng.normal(size=(400, d))),
        "other": S.mean_embedding(mu_o + rng.normal(size=(400, d))),
    }
    est = S.semb_estimates("xnli", target, cands)
    order = [e.candidate for e in sorted(est, key=lambda e: -e.score)]
    assert order == ["match", "half", "other"]
    assert all(e.estimator == "semb" and e.target == "xnli" for e in est)


def test_semb_cost_adds_target_and_candidate_embedding_costs():
    t = S.TaskEmbedding(np.array([1.0, 0.0]), 10, S.Cost(10, 2.0))
    c = S.TaskEmbedding(np.array([1.0, 1.0]), 5, S.Cost(5, 1.0))
    (e,) = S.semb_estimates("xnli", t, {"mnli": c})
    assert e.score == pytest.approx(1 / math.sqrt(2))
    assert e.cost.forward_passes == 15 and e.cost.seconds >= 3.0


def test_example_text_per_shape():
    assert S.example_text({"text": "a", "text_pair": "b"}, "pair_classification", "</s>") == "a </s> b"
    assert S.example_text({"text": "a", "text_pair": None}, "classification") == "a"
    mc = {"context": "It rained.", "question": "effect", "choices": ["x", "y"], "label": 0}
    assert S.example_text(mc, "multiple_choice", question_prompts={"effect": "What happened?"}) == "It rained. What happened?"
    assert S.example_text({"question": "Q?", "context": "C."}, "extractive_qa") == "Q? C."
    assert S.example_text({"tokens": ["a", "b"], "tags": ["X", "Y"]}, "tagging") == "a b"
    with pytest.raises(ConfigError):
        S.example_text({}, "retrieval")


def _reference_choice_rows(context: str, question: str, endings: list[str]) -> list[tuple[str, str]]:
    """adapter-hub/efficient-task-transfer itrain/datasets/multiple_choice.py l.41-51 (commit 607e899):
    MultipleChoiceDatasetManager._build_input_choice and _build_inputs, restated."""
    def build_input_choice(question, ending):
        if "_" in question:
            return question.replace("_", ending)
        return question + " " + ending

    a_s = [context for _ in range(len(endings))]
    b_s = [build_input_choice(question, endings[i]) for i in range(len(endings))]
    return list(zip(a_s, b_s))


def _reference_copa_rows(premise: str, alternative1: str, alternative2: str, relation: str) -> list[tuple[str, str]]:
    """The same file, l.103-118: COPAManager._build_inputs (its own prompts; xta's XCOPA ones are XTREME's)."""
    copa_dict = {"cause": "What was the cause?", "effect": "What happened as a result?"}
    return list(zip([premise, premise], [copa_dict[relation] + " " + alt for alt in [alternative1, alternative2]]))


def test_semb_rows_are_the_reference_model_inputs():
    from toolkit.tasks import get_task

    siqa = {"context": "Tracy didn't go home that evening.", "question": "What does Tracy need to do before this?",
            "choices": ["make a new plan", "Go home and see Riley", "Find somewhere to go"], "label": 2}
    assert S.semb_rows(siqa, "multiple_choice") == _reference_choice_rows(siqa["context"], siqa["question"], siqa["choices"])
    cloze = {"context": "Some context.", "question": "The trophy didn't fit because _ was too big.",
             "choices": ["the trophy", "the suitcase"], "label": 0}
    rows = S.semb_rows(cloze, "multiple_choice")
    assert rows == _reference_choice_rows(cloze["context"], cloze["question"], cloze["choices"])
    assert rows[1][1] == "The trophy didn't fit because the suitcase was too big."
    xcopa = get_task("xcopa")
    ex = {"context": "The man turned on the faucet.", "question": "effect",
          "choices": ["The toilet filled with water.", "Water flowed from the spout."], "label": 1}
    reference_prompts = {"cause": "What was the cause?", "effect": "What happened as a result?"}  # COPAManager's
    assert S.semb_rows(ex, "multiple_choice", reference_prompts) == _reference_copa_rows(ex["context"], *ex["choices"], "effect")
    assert S.semb_rows(ex, "multiple_choice", xcopa.question_prompts)[0] == (  # xta embeds XTREME's XCOPA wording
        ex["context"], "What was the effect? " + ex["choices"][0])
    # CommonsenseQA (no context): (question, choice), l.212-216
    assert S.semb_rows({"context": "", "question": "Where?", "choices": ["home", "work"]}, "multiple_choice") == [
        ("Where?", "home"), ("Where?", "work")]
    assert S.semb_rows({"text": "a", "text_pair": "b"}, "pair_classification") == [("a", "b")]
    assert S.semb_rows({"text": "a", "text_pair": None}, "classification") == [("a", None)]
    assert S.semb_rows({"question": "Q?", "context": "C."}, "extractive_qa") == [("Q?", "C.")]
    assert S.semb_rows({"tokens": ["a", "b"], "tags": ["X", "Y"]}, "tagging") == [("a b", None)]
    with pytest.raises(ConfigError):
        S.semb_rows({}, "retrieval")


def test_semb_prefix_follows_the_e5_convention():
    class Enc:
        def __init__(self, name, kind):
            self.name, self.kind = name, kind

    assert S.semb_prefix(Enc("embedded", "embedded")) == "query: "
    assert S.semb_prefix(Enc("intfloat/multilingual-e5-base", "hub")) == "query: "
    assert S.semb_prefix(Enc("sentence-transformers/roberta-base-nli-stsb-mean-tokens", "hub")) == ""
    assert S.SEMB_MODEL == "embedded"


# -------------------------------------------------------------------------------------------- controls


def test_size_control_ranks_largest_first():
    est = S.size_estimates("xnli", {"mnli": 392702, "boolq": 9427, "squad_v1": 87599})
    assert [e.candidate for e in sorted(est, key=lambda e: -e.score)] == ["mnli", "squad_v1", "boolq"]


def test_random_control_is_deterministic_per_seed():
    names = [f"task{i}" for i in range(12)]
    a = {e.candidate: e.score for e in S.random_estimates("xnli", names, seed=7)}
    b = {e.candidate: e.score for e in S.random_estimates("xnli", list(reversed(names)), seed=7)}
    c = {e.candidate: e.score for e in S.random_estimates("xnli", names, seed=8)}
    assert a == b
    assert sorted(a, key=a.get) != sorted(c, key=c.get)


def test_sample_indices_seeded_and_sorted():
    a, b = S.sample_indices(100, 10, seed=3), S.sample_indices(100, 10, seed=3)
    assert list(a) == list(b) and list(a) == sorted(a) and len(set(a)) == 10
    assert list(S.sample_indices(5, 10)) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------- diversity


E1, E2, E3 = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])


def test_diversity_grows_with_an_orthogonal_task_not_a_duplicate():
    ortho, dup = [E1, E2], [E1, 2 * E1]
    assert S.mean_pairwise_cosine_distance(ortho) == pytest.approx(1.0)
    assert S.mean_pairwise_cosine_distance(dup) == pytest.approx(0.0)
    r = 1e-6
    assert S.logdet_volume(ortho, ridge=r) == pytest.approx(2 * math.log(1 + r))  # det((1+r) I)
    assert S.logdet_volume(dup, ridge=r) == pytest.approx(math.log(2 * r + r * r))  # (1+r)^2 - 1
    assert S.logdet_volume(ortho) > S.logdet_volume(dup)
    assert S.logdet_volume([E1, E2, E3]) > S.logdet_volume([E1, E2, (E1 + E2)])


def test_mean_pairwise_cosine_distance_hand_computed():
    e3 = (E1 + E2) / math.sqrt(2)
    # pairs: (E1, E2) -> 1; (E1, e3) and (E2, e3) -> 1 - 1/sqrt(2)
    assert S.mean_pairwise_cosine_distance([E1, E2, e3]) == pytest.approx((3 - math.sqrt(2)) / 3)
    assert S.mean_pairwise_cosine_distance([E1]) == 0.0


def test_shape_diversity():
    shapes = ["classification", "classification", "extractive_qa", "tagging"]
    assert S.distinct_shapes(shapes) == 3
    assert S.shape_entropy(shapes) == pytest.approx(1.5)  # 0.5*1 + 0.25*2 + 0.25*2 bits
    assert S.shape_entropy(["tagging"] * 4) == 0.0
    d = S.diversity(["a", "b"], {"a": E1, "b": E2}, {"a": "tagging", "b": "extractive_qa"})
    assert d.mean_pairwise_cosine_distance == pytest.approx(1.0) and d.shape_entropy == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------- selection

# target "t" on en (high-resource), sw (low-resource); baseline en 80, sw 40.
#            en   sw   gains (en, sw)   mean   worst   low (sw)
#   a        90   40   +10,  0          5.0     0       0
#   b        84   44    +4, +4          4.0     4       4
#   c        78   41    -2, +1         -0.5    -2       1
#   d        70   46   -10, +6         -2.0   -10       6
MEASURED = {"t": {"a": {"en": 90, "sw": 40}, "b": {"en": 84, "sw": 44}, "c": {"en": 78, "sw": 41},
                  "d": {"en": 70, "sw": 46}}}
BASELINE = {"t": {"en": 80, "sw": 40}}


def test_gains():
    g = S.gains(MEASURED, BASELINE)
    assert g["t"]["d"] == {"en": -10, "sw": 6}
    with pytest.raises(ConfigError):
        S.gains(MEASURED, {})


def test_objectives_pick_different_tasks_where_mean_and_worst_language_disagree():
    m = S.gains(MEASURED, BASELINE)
    pick = {obj: S.select("t", "abcd", matrix=m, objective=obj).chosen for obj in S.OBJECTIVES}
    assert pick == {"mean": ("a",), "worst-language": ("b",), "low-resource": ("d",)}
    sel = S.select("t", "abcd", matrix=m, objective="worst-language", budget=2)
    # helped (objective > 0) first: b; then the measured ones that do not help, best first: a (0)
    assert sel.chosen == ("b", "a") and sel.ranking == ("b", "a", "c", "d")
    assert sel.objective_values == {"a": 0.0, "b": 4.0, "c": -2.0, "d": -10.0}
    assert sel.basis == "measured" and sel.command == "xta fuse --tasks b,a --target t"


def test_low_resource_objective_needs_a_low_resource_language():
    m = {"t": {"a": {"en": 1.0, "de": 2.0}}}
    with pytest.raises(ConfigError, match="low-resource"):
        S.select("t", ["a"], matrix=m, objective="low-resource")


def test_select_by_estimator_with_diversity_bonus():
    est = [S.Estimate("semb", "xnli", c, s) for c, s in {"a": 1.0, "a_dup": 0.95, "b": 0.9, "c": 0.0}.items()]
    emb = {"a": E1, "a_dup": E1, "b": E2, "c": E3}
    plain = S.select("xnli", ["a", "a_dup", "b", "c"], est, budget=2, embeddings=emb)
    assert plain.chosen == ("a", "a_dup") and plain.basis == "estimator" and plain.estimator == "semb"
    # utilities (min-max): a 1, a_dup .95, b .9, c 0; with weight .5: a_dup .95 + 0, b .9 + .5, c 0 + .5
    diverse = S.select("xnli", ["a", "a_dup", "b", "c"], est, budget=2, embeddings=emb, diversity_weight=0.5,
                       combine="multitask")
    assert diverse.chosen == ("a", "b")
    assert diverse.command == "xta train-adapter --task a --extra-tasks b"
    assert diverse.diversity.mean_pairwise_cosine_distance == pytest.approx(1.0)
    assert plain.diversity.mean_pairwise_cosine_distance == pytest.approx(0.0)


def test_select_mixes_measured_and_estimated_candidates():
    m = {"t": {"a": {"en": 2.0, "sw": 1.0}, "b": {"en": -1.0, "sw": -3.0}, "c": {"en": 5.0}}}
    est = [S.Estimate("logme", "t", c, s) for c, s in {"a": -0.9, "b": -0.1, "c": -0.5, "e": -0.2}.items()]
    sel = S.select("t", ["a", "b", "c", "e"], est, matrix=m)
    # a helps (measured); c is measured on en only -> incomplete, ranked by LogME with e; b hurts -> last
    assert sel.ranking == ("a", "e", "c", "b") and sel.incomplete == ("c",)
    assert sel.chosen == ("a",) and sel.command == "xta train-adapter --task a"
    assert sel.basis == "measured+estimator"


def test_select_refuses_bad_arguments():
    est = [S.Estimate("semb", "t", "a", 1.0), S.Estimate("size", "t", "a", 10.0)]
    with pytest.raises(ConfigError, match="several estimators"):
        S.select("t", ["a"], est)
    assert S.select("t", ["a"], est, estimator="size").scores == {"a": 10.0}
    with pytest.raises(ConfigError, match="budget"):
        S.select("t", ["a"], est, budget=2, estimator="semb")
    with pytest.raises(ConfigError, match="objective"):
        S.select("t", ["a"], est, objective="median", estimator="semb")
    with pytest.raises(ConfigError, match="no estimates"):
        S.select("t", ["a"], [])


def test_command_for():
    assert S.command_for("xnli", ["a", "b", "c"]) == "xta fuse --tasks a,b,c --target xnli"
    assert S.command_for("xnli", ["a", "b", "c"], "multitask") == "xta train-adapter --task a --extra-tasks b,c"
    assert S.command_for("xnli", ["a"]) == "xta train-adapter --task a"
    with pytest.raises(ConfigError):
        S.command_for("xnli", ["a", "b"], "stack")


# ------------------------------------------------------------------------------ evaluating selectors


def _restated_ndcg(order: list[str], relevance: dict[str, float], k: int | None = None) -> float:
    """NDCG@k with linear gains (Järvelin & Kekäläinen 2002), relevance = the candidate's target score
    (Poth et al. 2021, section 5): DCG of ``order`` over the DCG of the order by relevance."""
    k = len(order) if k is None else k

    def dcg(names):
        return sum(relevance[c] / math.log2(i + 2) for i, c in enumerate(names[:k]))

    return dcg(order) / dcg(sorted(order, key=lambda c: -relevance[c]))


def _restated_spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of the average ranks (ties share the mean of their positions)."""
    def ranks(v):
        out = np.empty(len(v))
        for value in set(v):
            pos = [i for i, w in enumerate(v) if w == value]
            rank = np.mean([sorted(v).index(value) + 1 + j for j in range(len(pos))])
            out[pos] = rank
        return out

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def test_regret_ndcg_spearman_perfect_and_reversed():
    scores = {"a": 53.0, "b": 52.0, "c": 51.0}  # gains over a baseline of 50: 3, 2, 1
    g = {c: v - 50 for c, v in scores.items()}
    best_first, worst_first = {"a": 3, "b": 2, "c": 1}, {"a": 1, "b": 2, "c": 3}  # estimator scores
    assert S.regret_at_k(["a", "b", "c"], scores, 1) == 0.0
    assert S.ndcg(best_first, scores) == pytest.approx(1.0)
    assert S.spearman([3, 2, 1], [3, 2, 1]) == pytest.approx(1.0)
    rev = ["c", "b", "a"]
    assert S.regret_at_k(rev, scores, 1) == pytest.approx((53 - 51) / 53 * 100)  # 3.7736 %
    assert S.regret_at_k(rev, scores, 2) == pytest.approx((53 - 52) / 53 * 100)
    assert S.regret_at_k(rev, scores, 3) == 0.0
    # relevance = target score: DCG(c,b,a) = 51 + 52/log2 3 + 53/2; IDCG = 53 + 52/log2 3 + 51/2
    assert S.ndcg(worst_first, scores) == pytest.approx((51 + 52 / math.log2(3) + 53 / 2) / (53 + 52 / math.log2(3) + 51 / 2))
    assert S.ndcg(worst_first, scores, k=1) == pytest.approx(51 / 53)
    assert S.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert S.spearman(list(worst_first.values()), list(g.values())) == pytest.approx(-1.0)
    assert math.isnan(S.spearman([1, 1, 1], [3, 2, 1]))
    assert S.ndcg({"a": 1.0, "b": 0.0}, {"a": 1.0, "b": 1.0}) == 1.0
    assert math.isnan(S.ndcg({"a": 1.0}, {"a": 70.0}))
    with pytest.raises(ConfigError, match=">= 0"):
        S.ndcg({"a": 1.0, "b": 0.0}, {"a": -1.0, "b": 1.0})
    with pytest.raises(ConfigError, match="no estimator score for b"):
        S.ndcg({"a": 1.0}, {"a": 1.0, "b": 1.0})


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_and_spearman_equal_the_restated_definitions(seed):
    rng = np.random.default_rng(seed)
    names = [f"t{i}" for i in range(7)]
    relevance = {c: float(v) for c, v in zip(names, rng.uniform(30, 90, len(names)))}
    est = {c: float(v) for c, v in zip(names, rng.normal(size=len(names)))}
    order = sorted(names, key=lambda c: -est[c])
    for k in (None, 1, 3):
        assert S.ndcg(est, relevance, k=k) == pytest.approx(_restated_ndcg(order, relevance, k), rel=1e-12)
    rounded = {c: round(v) for c, v in est.items()}  # ties in the estimator's scores and ...
    rel_ties = {c: round(v / 20) * 20.0 for c, v in relevance.items()}  # ... in the measured ones
    x, y = [rounded[c] for c in names], [rel_ties[c] for c in names]
    assert S.spearman(x, y) == pytest.approx(_restated_spearman(x, y), rel=1e-12)


def test_ndcg_averages_over_the_orders_of_tied_estimator_scores():
    """scikit-learn's ndcg_score (ignore_ties=False): tied candidates share the mean of their orders."""
    from itertools import permutations

    relevance = {"a": 80.0, "b": 60.0, "c": 70.0, "d": 10.0}
    est = {"a": 2.0, "b": 1.0, "c": 1.0, "d": 0.0}  # b and c tied
    orders = [["a", *middle, "d"] for middle in permutations(["b", "c"])]
    assert S.ndcg(est, relevance) == pytest.approx(np.mean([_restated_ndcg(o, relevance) for o in orders]), rel=1e-12)


def test_evaluate_selectors_per_language_group():
    est = [S.Estimate("fixed", "t", c, s) for c, s in {"a": 4, "b": 3, "c": 2, "d": 1}.items()]
    rows = {r["group"]: r for r in S.evaluate_selectors(MEASURED, BASELINE, est, ks=(1, 3))}
    assert set(rows) == {"all", "low", "high"}  # no mid-resource language: no row
    # high (en): a 90 > b 84 > c 78 > d 70, the estimator's order: perfect
    assert rows["high"]["regret@1"] == 0.0 and rows["high"]["ndcg"] == pytest.approx(1.0)
    assert rows["high"]["spearman"] == pytest.approx(1.0)
    # all: mean scores a 65, b 64, c 59.5, d 58; mean gains 5, 4, -0.5, -2: perfect again
    assert rows["all"]["regret@1"] == 0.0 and rows["all"]["spearman"] == pytest.approx(1.0)
    # low (sw): scores a 40, b 44, c 41, d 46 -> best 46 (d), ranked last
    low = rows["low"]
    assert low["regret@1"] == pytest.approx((46 - 40) / 46 * 100)  # 13.04 %
    assert low["regret@3"] == pytest.approx((46 - 44) / 46 * 100)  # 4.35 %
    # relevance = target score: a 40, b 44, c 41, d 46 in the estimator's order a, b, c, d
    dcg = 40 + 44 / math.log2(3) + 41 / math.log2(4) + 46 / math.log2(5)
    idcg = 46 + 44 / math.log2(3) + 41 / math.log2(4) + 40 / math.log2(5)
    assert low["ndcg"] == pytest.approx(dcg / idcg)
    assert low["ndcg"] == pytest.approx(_restated_ndcg(["a", "b", "c", "d"], {"a": 40, "b": 44, "c": 41, "d": 46}))
    # ranks (scores) a4 b3 c2 d1 vs (gains) a1 b3 c2 d4: sum d^2 = 9+0+0+9 = 18; 1 - 6*18/(4*15) = -0.8
    assert low["spearman"] == pytest.approx(-0.8)
    assert low["n_candidates"] == 4 and low["n_languages"] == 1 and low["missing"] == []


def test_evaluate_selectors_reports_left_out_candidates():
    measured = {"t": {**MEASURED["t"], "e": {"en": 99}}}  # e lacks sw; f is never estimated
    measured["t"]["f"] = {"en": 1, "sw": 1}
    est = [S.Estimate("fixed", "t", c, s) for c, s in {"a": 4, "b": 3, "c": 2, "d": 1, "e": 5}.items()]
    rows = {r["group"]: r for r in S.evaluate_selectors(measured, BASELINE, est)}
    assert rows["all"]["missing"] == ["e", "f"] and rows["all"]["n_candidates"] == 4
    assert rows["high"]["missing"] == ["f"] and rows["high"]["regret@1"] == 0.0  # e (99) is first and best


# ------------------------------------------------------------------------------- with a tiny encoder


@pytest.fixture(scope="module")
def encoder():
    encoders = pytest.importorskip("toolkit.encoders")
    return encoders.tiny_encoder(seed=0)


@pytest.mark.slow  # loads the embedded tokenizer (~10 s on a busy 2-core machine; shared with other tests)
def test_task_embedding_and_logme_features_with_a_tiny_encoder(encoder):
    from toolkit.tasks import get_task

    import torch

    xnli = get_task("xnli")
    pairs = [{"id": "1", "text": "A cat sat.", "text_pair": "A dog ran.", "label": "entailment"},
             {"id": "2", "text": "Hello.", "text_pair": "Bye.", "label": "contradiction"}]

    def reference_vector(rows, prefix=""):
        """semb.py l.59-77 restated: each row tokenised as a pair, the average of its token states
        (special tokens included; one row at a time, so no padding), then the mean over rows."""
        out = []
        for a, b in rows:
            enc = encoder.tokenizer(prefix + a, b, return_tensors="pt") if b else encoder.tokenizer(prefix + a, return_tensors="pt")
            with torch.no_grad():
                states = encoder.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])[0]
            out.append(states[0].double().mean(0).numpy())
        return np.mean(out, axis=0)

    emb = S.embed_task(encoder, pairs, xnli, n=None)
    np.testing.assert_allclose(emb.vector, reference_vector([("A cat sat.", "A dog ran."), ("Hello.", "Bye.")]),
                               rtol=1e-5, atol=1e-6)
    assert emb.cost.forward_passes == 2 and emb.n_examples == 2 and emb.vector.shape == (encoder.hidden_size,)
    np.testing.assert_allclose(S.task_embedding(encoder, pairs, xnli, n=None), emb.vector)
    # multiple choice: one row per (context, question + choice); the E5 prefix on the first segment
    copa = get_task("copa")
    mc = [{"id": "m", "context": "It rained.", "question": "effect", "choices": ["Floods.", "Sun."], "label": 0}]
    emb = S.embed_task(encoder, mc, copa, n=None, prefix="query: ")
    rows = [("It rained.", "What was the effect? Floods."), ("It rained.", "What was the effect? Sun.")]
    np.testing.assert_allclose(emb.vector, reference_vector(rows, "query: "), rtol=1e-5, atol=1e-6)
    assert emb.cost.forward_passes == 2 and emb.n_examples == 1
    assert not np.allclose(emb.vector, S.embed_task(encoder, mc, copa, n=None, prefix="").vector)

    lf = S.logme_features(encoder, pairs, xnli)
    assert lf.features.shape == (2, encoder.hidden_size) and list(lf.labels) == [0, 2]

    tags = [{"id": "1", "tokens": ["The", "unbelievably", "big", "dog"], "tags": ["DET", "ADV", "ADJ", "NOUN"]}]
    udpos = get_task("udpos")
    lf = S.logme_features(encoder, tags, udpos)
    assert [lf.label_names[i] for i in lf.labels] == ["DET", "ADV", "ADJ", "NOUN"]  # one row per word

    qa = [{"id": "q", "title": "", "context": "Paris is the capital of France.", "question": "What is the capital?",
           "answers": {"text": ["Paris"], "answer_start": [0]}}]
    lf = S.logme_features(encoder, qa, get_task("xquad"))
    assert lf.labels.sum() == 1 and lf.labels[0] == 1  # the first context token starts the answer
    assert lf.cost.forward_passes == 1
    lf = S.logme_features(encoder, mc, copa)  # one row per choice: 1 for the correct one
    assert list(lf.labels) == [1, 0] and lf.label_names == ("wrong", "correct") and lf.cost.forward_passes == 2
    with pytest.raises(ConfigError, match="LogME"):
        S.logme_features(encoder, pairs, get_task("tatoeba"))


def test_a_retrieval_target_is_estimated_on_its_english_side(shared_data):
    """Tatoeba has no English split: SEmb embeds its English candidate sentences (the .eng files)."""
    data, used = S.english_examples("tatoeba", shared_data)
    def lines(path):
        return {line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}

    folder = shared_data / "tatoeba" / "v1"
    every_eng = set().union(*(lines(f) for f in folder.glob("tatoeba.*-eng.eng")))  # LASER's 112 languages
    assert len(set(data.queries)) == len(data.queries) and set(data.queries) <= every_eng  # de-duplicated
    assert lines(folder / "tatoeba.deu-eng.eng") | lines(folder / "tatoeba.jpn-eng.eng") <= set(data.queries)
    assert not lines(folder / "tatoeba.kab-eng.eng") <= set(data.queries)  # Kabyle is not an XTREME-R language
    assert used.startswith("tatoeba:test(English side of ") and data.meta["lang"] == "en"
    few, _ = S.english_examples("tatoeba", shared_data, n=50)
    assert few.queries == data.queries[:50]
    assert S.semb_rows_per_example(few, None) == [[(q, None)] for q in few.queries]  # what embed_task encodes
    with pytest.raises(ConfigError, match="no English data for tatoeba"):
        S.english_examples("tatoeba", shared_data / "nothing-here")


def test_semb_keeps_a_candidates_own_examples_out_of_the_target(shared_data, monkeypatch):
    """XCOPA's English data is SocialIQa's: candidate siqa must not be scored against its own examples."""
    import hashlib

    calls = []

    def fake_embed(encoder, examples, spec, *, n=None, seed=0, prefix=None, **kw):
        keys = [hashlib.sha256(repr(sorted(ex.items())).encode()).digest() for ex in examples]
        calls.append(set(keys))
        vec = np.mean([np.frombuffer(k, dtype=np.uint8).astype(float) - 127.5 for k in keys], axis=0)
        return S.TaskEmbedding(vec, len(keys), S.Cost(len(keys)))

    from toolkit import semb as semb_module

    monkeypatch.setattr(S, "embed_task", fake_embed)
    monkeypatch.setattr(semb_module, "embed_task", fake_embed)
    run = S.run_selection("xcopa", ["siqa", "copa"], estimator="semb", data_dir=shared_data, n=None,
                          semb_encoder=object(), seed=3)
    assert run.data_used["siqa"] == run.data_used["xcopa"] and run.data_used["xcopa"].startswith("siqa:")
    assert list(run.overlaps) == ["siqa"] and "no example is in both" in run.overlaps["siqa"]
    target_half, siqa_half = calls[-2], calls[-1]  # the two halves embedded for siqa, after the full sets
    assert target_half and siqa_half and not target_half & siqa_half
    assert target_half | siqa_half == calls[0]  # together: the target's whole English data
    scores = {e.candidate: e.score for e in run.estimates}
    assert scores["siqa"] < 0.999  # no longer the trivial cosine 1.0 of a set against itself
    whole = S.cosine(fake_embed(None, S.english_examples("xcopa", shared_data)[0], None).vector,
                     fake_embed(None, S.english_examples("siqa", shared_data)[0], None).vector)
    assert whole == pytest.approx(1.0)  # what it was before
    a, b = S.disjoint_halves(11, seed=1)
    assert len(a) == 5 and len(b) == 6 and not set(a) & set(b) and set(a) | set(b) == set(range(11))


def test_runnable_command_names_the_data_and_splits():
    cmd = S.runnable_command("xcopa", ["siqa"], used={"siqa": "siqa:dev"}, data_dir="/d x", model="embedded")
    assert cmd == "xta train-adapter --task siqa --train-split 'dev[:80%]' --dev-split 'dev[80%:]' --data-dir '/d x' --model embedded"
    assert S.runnable_command("xnli", ["mnli"], used={"mnli": "mnli:train"}) == "xta train-adapter --task mnli"
    assert S.runnable_command("t", ["a", "b"], "multitask", data_dir="/d") == "xta train-adapter --task a --extra-tasks b --data-dir /d"


def test_diversity_needs_every_embedding():
    with pytest.raises(ConfigError, match="no task embedding for b"):
        S.diversity(["a", "b"], {"a": E1})
    est = [S.Estimate("semb", "t", c, 1.0) for c in "ab"]
    with pytest.raises(ConfigError, match="no task embedding"):
        S.select("t", ["a", "b"], est, budget=2, embeddings={"a": E1}, diversity_weight=1.0)


# ------------------------------------------------------------------ against a measured matrix (tiny encoder)


@pytest.mark.slow
def test_select_evaluate_ranks_estimators_against_the_measured_matrix(tmp_path, tiny_dir, shared_data):
    """A real (tiny-encoder) matrix is measured; every estimator's ranking is then scored against the
    stored cells, and the table equals evaluate_selectors over the matrix's own scores."""
    import yaml
    from PIL import Image
    from typer.testing import CliRunner

    from cli import app
    from toolkit.encoders import load_encoder
    from toolkit.matrix import MatrixConfig, run_matrix
    from toolkit.plots import diversity_plot, write_selection_report

    cfg = MatrixConfig(targets=("cldr_continent",), intermediates=("cldr_kind", "copa", "cldr_kind+copa"),
                       benchmark="demo", split="test", langs=("de", "sw", "yo", "ja"), model=str(tiny_dir),
                       intermediate_steps=3, target_steps=3, max_length=24, max_eval_examples=16, batch_size=8,
                       data_dir=str(shared_data), results_dir=str(tmp_path / "results"),
                       artifacts_dir=str(tmp_path / "artifacts"))
    run = run_matrix(cfg)
    tiny = load_encoder(str(tiny_dir))
    ev = S.evaluate_on_matrix(cfg, ("semb", "logme", "taskemb", "size", "random"), encoder=tiny, n=32, semb_encoder=tiny)
    measured = {"cldr_continent": {c: run.scores[("cldr_continent", "sequential", c)] for c in ("cldr_kind", "copa")}}
    assert ev.measured == measured and ev.baseline == {"cldr_continent": run.baseline("cldr_continent")}
    assert {e.estimator for e in ev.estimates} == {"semb", "logme", "taskemb", "size", "random"}
    sizes = {e.candidate: e.score for e in ev.estimates if e.estimator == "size"}
    kind_data, kind_used = S.english_examples("cldr_kind", shared_data)
    assert sizes == {"copa": 400.0, "cldr_kind": float(len(kind_data))}  # copa's card; the demo task is counted
    assert ev.overlaps == {}  # no candidate's data is cldr_continent's
    # TaskEmb: the target's no-intermediate adapter against each candidate's intermediate adapter
    fisher = {a: S.adapter_taskemb(tiny, a, cfg.artifacts_dir, cfg.data_dir, 32, 0)[0]
              for a in ("cldr_continent", "cldr_kind", "copa")}
    taskemb = {e.candidate: e.score for e in ev.estimates if e.estimator == "taskemb"}
    assert taskemb == pytest.approx({c: S.taskemb_similarity(fisher["cldr_continent"], fisher[c]) for c in ("cldr_kind", "copa")})
    assert fisher["copa"].task == "copa" and ("taskemb", "all") in {(r["estimator"], r["group"]) for r in ev.rows}
    assert json.dumps(ev.rows) == json.dumps(S.evaluate_selectors(measured, ev.baseline, ev.estimates))  # NaN-safe
    groups = {(r["estimator"], r["group"]) for r in ev.rows}
    assert ("semb", "all") in groups and ("logme", "low") in groups  # sw, yo: low-resource
    points = {p.entry: p for p in ev.points}
    assert points["copa"].diversity == 0.0 and points["cldr_kind+copa"].diversity > 0.0
    base, cell = run.baseline("cldr_continent"), run.scores[("cldr_continent", "sequential", "cldr_kind+copa")]
    assert points["cldr_kind+copa"].gains["all"] == pytest.approx(np.mean([cell[l] - base[l] for l in base]))
    lo, hi = points["cldr_kind+copa"].intervals["all"]  # the gain's paired-bootstrap CI (issue 17)
    assert lo <= points["cldr_kind+copa"].gains["all"] <= hi
    fig = diversity_plot(ev.points, "sequential")
    assert fig.axes[0].containers  # the error bars
    assert [ax.get_xlabel() for ax in fig.axes] == ["set diversity (mean pairwise cosine distance)"] * 4
    assert fig.axes[0].get_ylabel() == "mean gain (points)"
    files = write_selection_report(ev, tmp_path / "report")
    with Image.open(files["diversity_sequential.png"]) as img:
        assert img.size[0] > 600 and img.size[1] > 200
    assert "Regret@1" in Path(files["selection.md"]).read_text()
    assert ev.intervals and "With 95% bootstrap confidence intervals" in Path(files["selection.md"]).read_text()
    assert ev.logme_data == {"cldr_continent": "cldr_continent:dev"}  # its own English dev split
    assert "- cldr_continent: English cldr_continent:dev" in Path(files["selection.md"]).read_text()

    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in {
        "targets": cfg.targets, "intermediates": cfg.intermediates[1:], "benchmark": "demo", "split": "test",
        "langs": cfg.langs, "model": cfg.model, "intermediate_steps": 3, "target_steps": 3, "max_length": 24,
        "max_eval_examples": 16, "batch_size": 8, "data_dir": cfg.data_dir, "results_dir": cfg.results_dir,
        "artifacts_dir": cfg.artifacts_dir}.items()}))
    out = CliRunner().invoke(app, ["select", "--evaluate", "--config", str(path), "--estimators", "size,random,taskemb",
                                   "--semb-model", str(tiny_dir), "--report-dir", str(tmp_path / "cli")],
                             env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "Regret@1" in out.output and "NDCG" in out.output and "Spearman" in out.output
    assert "taskemb" in out.output and "taskemb" in (tmp_path / "cli" / "selection.md").read_text()
    assert (tmp_path / "cli" / "diversity_sequential.png").is_file()
    empty = path.with_name("other.yaml")
    empty.write_text(path.read_text().replace(str(tmp_path / "results"), str(tmp_path / "nothing")))
    out = CliRunner().invoke(app, ["select", "--evaluate", "--config", str(empty), "--estimators", "size"])
    assert out.exit_code == 1 and "no baseline scores for any target" in out.output


# ------------------------------------------------------------------- LogME's labelled target data


def test_logme_target_data_falls_back_to_the_training_source(monkeypatch):
    """Targets without an English dev split of their own use their training source's dev, then train."""
    import toolkit.data

    available = {("xnli", "dev"), ("siqa", "dev"), ("squad_v1", "dev"), ("squad_v1", "train"), ("tydiqa", "train")}
    calls = []

    def fake_load(spec, split, lang, data_dir=None, **kw):
        calls.append((spec.name, split, lang))
        if (spec.name, split) not in available:
            raise S.DataError(f"{spec.name} {split} missing")
        return [{"id": f"{spec.name}-{split}"}]

    monkeypatch.setattr(toolkit.data, "load", fake_load)
    assert S.logme_target_data("xnli")[1] == "xnli:dev"  # its own English dev
    assert S.logme_target_data("xcopa")[1] == "siqa:dev"  # XCOPA has no English split; SIQA first
    assert S.logme_target_data("xquad")[1] == "squad_v1:dev"  # XQuAD: test only
    assert S.logme_target_data("tydiqa")[1] == "tydiqa:train"  # GoldP: no dev of its own, no other source
    assert all(lang == "en" and split != "test" for _, split, lang in calls)
    available.discard(("squad_v1", "dev"))
    assert S.logme_target_data("xquad")[1] == "squad_v1:train"
    available.discard(("squad_v1", "train"))
    with pytest.raises(S.DataError, match="no labelled English dev or train data for LogME on xquad"):
        S.logme_target_data("xquad")
    with pytest.raises(ConfigError, match="retrieval"):
        S.logme_target_data("tatoeba")


def test_logme_target_data_of_xcopa_is_siqa_dev(shared_data):
    from toolkit.data import load
    from toolkit.tasks import get_task

    data, used = S.logme_target_data("xcopa", shared_data)
    assert used == "siqa:dev"
    assert [ex["id"] for ex in data] == [ex["id"] for ex in load(get_task("siqa"), "dev", "en", data_dir=shared_data)]


# ------------------------------------------------------------------------------------------- TaskEmb


def _fisher(name: str, tensors: dict[str, np.ndarray], passes: int = 3) -> S.FisherEmbedding:
    return S.FisherEmbedding(name, name, tensors, 4, S.Cost(passes, 0.5))


def test_adapter_parameter_key_keeps_only_the_adapters_own_weights():
    key = S.adapter_parameter_key
    assert key("bert.encoder.layer.0.output.adapters.anli.adapter_up.weight", "anli") == \
        "bert.encoder.layer.0.output.adapters.*.adapter_up.weight"
    assert key("roberta.invertible_adapters.anli.F.0.weight", "anli") == "roberta.invertible_adapters.*.F.0.weight"
    assert key("bert.encoder.layer.0.output.adapters.siqa.adapter_up.weight", "anli") is None  # another adapter
    assert key("heads.anli.1.weight", "anli") is None  # the task head: its shape is the task's
    assert key("bert.encoder.layer.0.output.dense.weight", "anli") is None  # the frozen encoder
    assert key("bert.encoder.layer.0.output.adapters.anli_x.adapter_up.weight", "anli") is None  # whole names only


def test_taskemb_scores_the_cosine_of_the_flattened_fishers():
    target = _fisher("t", {"a": np.array([1.0, 0.0]), "b": np.array([[0.0, 1.0]])})
    same = _fisher("same", {"a": np.array([2.0, 0.0]), "b": np.array([[0.0, 2.0]])})  # a scaled copy
    half = _fisher("half", {"a": np.array([1.0, 0.0]), "b": np.array([[0.0, 0.0]])})
    other = _fisher("other", {"b": np.array([[0.0, 1.0]]), "a": np.array([0.0, 1.0])})  # key order irrelevant
    assert list(target.vector) == [1.0, 0.0, 0.0, 1.0]  # keys sorted: a then b, each flattened
    est = {e.candidate: e for e in S.taskemb_estimates("t", target, {"same": same, "half": half, "other": other})}
    assert est["same"].score == pytest.approx(1.0)
    assert est["half"].score == pytest.approx(1 / math.sqrt(2))  # (1*1) / (sqrt(2) * 1)
    assert est["other"].score == pytest.approx(0.5)  # [1,0,0,1] . [0,1,0,1] = 1; norms sqrt(2) each
    assert all(e.estimator == "taskemb" for e in est.values()) and est["same"].cost.forward_passes == 6
    with pytest.raises(ConfigError, match="their parameters differ"):
        S.taskemb_similarity(target, _fisher("x", {"a": np.array([1.0, 0.0])}))
    with pytest.raises(ConfigError, match="their parameters differ"):
        S.taskemb_similarity(target, _fisher("x", {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}))
    skipped: dict[str, str] = {}
    wide = _fisher("wide", {"a": np.array([1.0, 0.0, 3.0]), "b": np.array([[0.0, 1.0]])})  # another reduction factor
    assert [e.candidate for e in S.taskemb_estimates("t", target, {"wide": wide, "same": same}, skipped)] == ["same"]
    assert "their parameters differ" in skipped["wide"]


def _reference_taskemb(model, batches, loss_of) -> dict[str, np.ndarray]:
    """adapter-hub/efficient-task-transfer task_selection/taskemb.py restated, with its defaults
    (use_labels=True, feature_type='grads', pow=2.0; l.59-63): compute_taskemb l.229-280 (eval mode, one
    backward of each batch's loss, features summed over batches, divided by the number of examples),
    compute_Fisher_with_labels l.208-215 and the parameter part of compute_Fisher l.71-77
    (``base_model.named_parameters()`` that require a gradient and have one, squared)."""
    model.eval()
    total_num_examples = 0
    model.zero_grad()
    global_feature_dict: dict[str, np.ndarray] = {}
    for inputs in batches:
        loss = loss_of(model, inputs)
        model.zero_grad()
        loss.backward()
        feature_dict = {}
        for name, parameter in model.base_model.named_parameters():
            if parameter.requires_grad:
                score = parameter.grad
                if score is not None and name not in feature_dict:
                    feature_dict[name] = score ** 2.0
        for key in feature_dict:
            value = feature_dict[key].detach().double().cpu().numpy()
            global_feature_dict[key] = global_feature_dict[key] + value if key in global_feature_dict else value
        model.zero_grad()
        total_num_examples += inputs["input_ids"].size(0)
    return {key: value / total_num_examples for key, value in global_feature_dict.items()}


@pytest.fixture(scope="module")
def taskemb_world(tiny_dir, tmp_path_factory):
    """Two tiny adapters (two CLDR classification tasks, built-in data) on the tiny encoder of ``tiny_dir``."""
    from toolkit.config import TrainConfig
    from toolkit.encoders import load_encoder
    from toolkit.train import train_adapter

    enc = load_encoder(str(tiny_dir))
    root = tmp_path_factory.mktemp("taskemb")
    base = dict(max_train_examples=32, max_steps=3, batch_size=8, max_length=32, learning_rate=1e-2)
    for task in ("cldr_kind", "cldr_continent"):
        train_adapter(TrainConfig(task=task, **base), enc, root, progress=False, max_dev_examples=8)
    return enc, root


def test_taskemb_equals_the_reference_computation(taskemb_world):
    import torch.nn.functional as F

    from toolkit.data import load
    from toolkit.families import get_family
    from toolkit.families.base import head_logits
    from toolkit.tasks import get_task
    from toolkit.train import load_trained_adapter

    enc, root = taskemb_world
    spec = get_task("cldr_continent")
    examples = load(spec, "train", "en", max_examples=12)
    load_trained_adapter(enc, "cldr_kind", root, activate=False)
    model = load_trained_adapter(enc, "cldr_continent", root, activate=False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}  # restored after each TaskEmb
    family = get_family(spec)

    def loss_of(model, inputs):  # the head's cross-entropy on the gold labels (outputs[0], l.247-248)
        return F.cross_entropy(head_logits(model, inputs, "cldr_continent").logits, inputs["labels"])

    def reference(chosen, batch_size):
        feats = family.featurize(chosen, enc.tokenizer, spec, 128, train=True)
        batches = [family.collate(feats.items[i : i + batch_size], feats.meta["pad_id"])
                   for i in range(0, len(feats.items), batch_size)]
        model = load_trained_adapter(enc, "cldr_continent", root)
        load_trained_adapter(enc, "cldr_kind", root, activate=False)  # another adapter, loaded: no gradient
        try:
            ref = _reference_taskemb(model, batches, loss_of)
        finally:
            model.set_active_adapters(None)
            model.zero_grad()
        prefix = model.base_model_prefix
        return {S.adapter_parameter_key(f"{prefix}.{k}", "cldr_continent"): v for k, v in ref.items()}

    for n, seed, batch_size in [(None, 0, 1), (None, 0, 16), (5, 1, 1)]:
        chosen = [examples[i] for i in S.sample_indices(len(examples), n, seed)]  # the other estimators' sample
        ref = reference(chosen, batch_size)  # batch 1: order-free; batch 16 >= 12: one batch
        emb = S.taskemb_fisher(enc, "cldr_continent", examples, spec, artifacts_dir=root, n=n, seed=seed,
                               batch_size=batch_size)
        assert None not in ref and set(emb.tensors) == set(ref)  # exactly the adapter's own weights
        assert all(".adapters.*." in k for k in ref) and len(ref) == 4 * enc.model.config.num_hidden_layers
        for key in ref:
            # float32 gradients, summed in another order (the reference squares in float32, xta in float64)
            np.testing.assert_allclose(emb.tensors[key], ref[key], rtol=1e-5, atol=1e-5 * float(ref[key].max()))
        assert emb.n_examples == len(chosen) and emb.cost.forward_passes == len(chosen)
    # the squared gradient of each batch's mean loss, not of each example's: batching changes the values
    one_batch = S.taskemb_fisher(enc, "cldr_continent", examples, spec, artifacts_dir=root, n=None)
    per_example = S.taskemb_fisher(enc, "cldr_continent", examples, spec, artifacts_dir=root, n=None, batch_size=1)
    assert not np.allclose(one_batch.vector, per_example.vector)
    model = load_trained_adapter(enc, "cldr_continent", root, activate=False)
    assert all(p.grad is None for p in model.parameters())  # nothing left behind on the shared model
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags


def test_select_by_taskemb_through_the_cli(taskemb_world, tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    enc, root = taskemb_world
    out = CliRunner().invoke(app, ["select", "--target", "cldr_continent", "--candidates", "cldr_kind,cldr_names",
                                   "--estimator", "taskemb", "--model", str(tiny_dir), "--n", "20",
                                   "--artifacts-dir", str(root)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "taskemb estimates for cldr_continent" in out.output
    run = S.run_selection("cldr_continent", ["cldr_kind"], estimator="taskemb", encoder=enc, n=20, artifacts_dir=root)
    (est,) = run.estimates
    assert f"{est.score:.4f}" in out.output and 0.0 < est.score < 1.0
    target = S.adapter_taskemb(enc, "cldr_continent", root, None, 20, 0)[0]
    cand = S.adapter_taskemb(enc, "cldr_kind", root, None, 20, 0)[0]
    assert est.score == pytest.approx(S.cosine(target.vector, cand.vector))
    assert "skipped cldr_names" in out.output and "no trained adapter 'cldr_names'" in out.output
    out = CliRunner().invoke(app, ["select", "--target", "cldr_kind", "--candidates", "cldr_continent",
                                   "--estimator", "taskemb", "--model", str(tiny_dir),
                                   "--artifacts-dir", str(tmp_path / "empty")])
    assert out.exit_code == 1 and "no trained adapter 'cldr_kind' for TaskEmb" in out.output


def test_taskemb_of_every_task_shape(shared_data, tmp_path):
    """Tagging, extractive QA (one item per window, counted as the reference counts its input rows),
    multiple choice, and the dual-encoder loss of a retrieval task: comparable embeddings of the same
    adapter configuration; a retrieval pool without training pairs is refused."""
    from toolkit.config import TrainConfig
    from toolkit.encoders import tiny_encoder
    from toolkit.tasks import get_task
    from toolkit.train import train_adapter

    enc = tiny_encoder(seed=3)
    base = dict(max_train_examples=16, max_steps=1, batch_size=8, max_length=64, data_dir=str(shared_data))
    train_adapter(TrainConfig(task="panx", **base), enc, tmp_path, progress=False, max_dev_examples=8)
    train_adapter(TrainConfig(task="copa", **base), enc, tmp_path, progress=False, max_dev_examples=8)
    train_adapter(TrainConfig(task="tydiqa", train_split="train[:50%]", dev_split="train[50%:]", **base), enc, tmp_path,
                  progress=False, max_dev_examples=8)
    embs = {}
    for name in ("panx", "copa", "tydiqa"):
        embs[name], used = S.adapter_taskemb(enc, name, tmp_path, shared_data, 12, 0)
        assert used == f"{name}:train" and np.isfinite(embs[name].vector).all() and embs[name].vector.sum() > 0
    assert embs["copa"].n_examples == 12 and embs["tydiqa"].n_examples > 12  # QA: several windows per question
    qa, _ = S.english_examples("tydiqa", shared_data, n=40)
    embs["retrieval"] = S.taskemb_fisher(enc, "tydiqa", qa, get_task("lareqa"), artifacts_dir=tmp_path, n=12)
    assert embs["retrieval"].n_examples == 12 and embs["retrieval"].vector.sum() > 0
    assert len({tuple(sorted(e.tensors)) for e in embs.values()}) == 1  # one space: every pair is comparable
    scores = S.taskemb_estimates("copa", embs["copa"], embs)
    assert all(-1e-9 <= e.score <= 1 + 1e-9 for e in scores)
    pool, _ = S.english_examples("tatoeba", shared_data, n=20)
    with pytest.raises(ConfigError, match="no task loss"):
        S.taskemb_fisher(enc, "copa", pool, get_task("tatoeba"), artifacts_dir=tmp_path)


def test_selector_intervals_points_equal_the_metrics_and_random_is_the_exact_expectation():
    """Issue 17: Regret@k / NDCG / Spearman with bootstrap CIs over targets and languages; the point values
    are evaluate_selectors' (ties included), and 'vs. random' uses the exact expectation over all orders."""
    from itertools import permutations as perms

    from toolkit.selector_eval import selector_intervals

    measured = {"t": {c: {**v, "de": v["en"] - 7 * i} for i, (c, v) in enumerate(MEASURED["t"].items())},
                "u": {c: {"en": 50 + 3 * i, "sw": 30 - i} for i, c in enumerate("abcd")}}
    base = {"t": {**BASELINE["t"], "de": 60.0}, "u": {"en": 50.0, "sw": 30.0}}
    est = [S.Estimate("fixed", t, c, s) for t in ("t", "u") for c, s in {"a": 4, "b": 3, "c": 3, "d": 1}.items()]
    plain = {(r["target"], r["group"]): r for r in S.evaluate_selectors(measured, base, est)}
    rows = selector_intervals(measured, base, est, resamples=300, seed=5)
    assert rows == selector_intervals(measured, base, est, resamples=300, seed=5)  # seeded
    per = {(r["target"], r["group"]): r for r in rows if r["estimator"] == "fixed"}
    for key, r in plain.items():
        for m in ("regret@1", "regret@3", "ndcg", "spearman"):
            assert per[key][m] == pytest.approx(r[m], nan_ok=True)
    vals = {c: np.mean(list(v.values())) for c, v in measured["u"].items()}
    brute = np.mean([S.regret_at_k(list(o), vals, 1) for o in perms(vals)])
    rnd = per[("u", "all")]["regret@1_vs_random"] + per[("u", "all")]["regret@1"]
    assert rnd == pytest.approx(brute)
    agg = per[("all targets", "all")]
    assert agg["n_targets"] == 2 and agg["ndcg"] == pytest.approx(np.mean([plain[(t, "all")]["ndcg"] for t in "tu"]))
    assert agg["ndcg_ci"][0] <= agg["ndcg"] <= agg["ndcg_ci"][1]
    assert any(r["estimator"].startswith("random (expected)") for r in rows)
    assert selector_intervals(measured, base, est, resamples=0) == []


def test_fit_trend_is_ols_with_a_bootstrap_band():
    from toolkit.diversity import fit_trend

    x = [0.0, 0.0, 0.1, 0.2, 0.3, 0.4]
    y = [1.0, -1.0, 0.5, 2.0, 1.5, 3.0]
    t = fit_trend(x, y, resamples=400, seed=1)
    slope, intercept = np.polyfit(x, y, 1)
    assert (t.slope, t.intercept) == pytest.approx((slope, intercept))
    assert t.slope_ci[0] < t.slope < t.slope_ci[1] and t.n == 6
    line = t.intercept + t.slope * t.grid
    assert np.all(t.band[0] <= line + 1e-9) and np.all(line <= t.band[1] + 1e-9)
    assert fit_trend([0.0, 0.0, 0.0], [1, 2, 3]) is None and fit_trend([0.0, 1.0], [1, 2]) is None
    from toolkit.plots import diversity_plot, trend_lines

    pts = [S.DiversityPoint("t", f"e{i}", ("a",), xi, 0.0, {"all": yi}, {"all": (yi - 1, yi + 1)})
           for i, (xi, yi) in enumerate(zip(x, y))]
    fig = diversity_plot(pts, "sequential", resamples=100)
    ax = fig.axes[0]
    assert [l.get_gid() for l in ax.lines if l.get_gid() == "trend"] == ["trend"]
    assert any(c.get_gid() == "trend-band" for c in ax.collections)
    assert trend_lines(pts, resamples=100)[0].startswith("all: OLS slope")

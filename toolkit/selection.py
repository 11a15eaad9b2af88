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

import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, XtaError
from .languages import get as get_language
from .languages import low_resource

logger = logging.getLogger(__name__)

ESTIMATORS = ("semb", "logme", "taskemb", "size", "random")
OBJECTIVES = ("mean", "worst-language", "low-resource")
COMBINATIONS = ("fuse", "multitask")
LANGUAGE_GROUPS = ("all", "low", "mid", "high")

#: The small constant of the reference LogME code (thuml/LogME ``LogME.py``) added to the denominators
#: of the alpha/beta updates.
LOGME_EPSILON = 1e-5


# ------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Cost:
    """What an estimate cost: encoder forward passes (sequences run through the model) and wall seconds."""

    forward_passes: int = 0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.forward_passes + other.forward_passes, self.seconds + other.seconds)

    def as_dict(self) -> dict[str, float]:
        return {"forward_passes": self.forward_passes, "seconds": self.seconds}


@dataclass(frozen=True)
class Estimate:
    """One estimator's score for intermediate task ``candidate`` on target task ``target`` (higher = better)."""

    estimator: str
    target: str
    candidate: str
    score: float
    cost: Cost = field(default_factory=Cost)

    def as_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "target": self.target, "candidate": self.candidate,
                "score": self.score, "cost": self.cost.as_dict()}


@dataclass(frozen=True)
class TaskEmbedding:
    """The dataset vector of a task (mean of the mean-pooled rows of its sampled examples), how many
    examples were sampled, and what it cost."""

    vector: np.ndarray
    n_examples: int
    cost: Cost


@dataclass(frozen=True)
class LabelledFeatures:
    """Rows of features (one per sentence, choice or token, by shape) with integer labels, for LogME."""

    features: np.ndarray  # (N, D)
    labels: np.ndarray  # (N,) integer class ids
    cost: Cost
    label_names: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------- example texts


def example_text(example: Mapping[str, Any], shape: str, sep: str = "[SEP]",
                 question_prompts: Mapping[str, str] | None = None) -> str:
    """The single text of one normalised example, as LogME's sentence features encode it (SEmb embeds
    :func:`semb_rows` instead).

    classification: ``text [SEP] text_pair`` (just ``text`` for single sentences); multiple choice:
    context then question (XCOPA's ``cause``/``effect`` mapped through ``question_prompts``); extractive QA:
    question then context; tagging: the tokens joined by spaces. ``sep`` is the tokenizer's separator when
    called from :func:`logme_features`, so it is a real special token rather than the literal ``[SEP]``.
    """
    if shape in ("classification", "pair_classification"):
        pair = example.get("text_pair")
        return f"{example['text']} {sep} {pair}" if pair else str(example["text"])
    if shape == "multiple_choice":
        question = str(example.get("question") or "")
        question = (question_prompts or {}).get(question, question)
        return " ".join(p for p in (str(example.get("context") or ""), question) if p)
    if shape == "extractive_qa":
        return f"{example['question']} {example['context']}"
    if shape == "tagging":
        return " ".join(example["tokens"])
    raise ConfigError(f"no dataset text for task shape {shape!r} (retrieval tasks: embed RetrievalData.queries)")


# ------------------------------------------------------------------------------ dataset embeddings

#: The default SEmb model: a *sentence-embedding* model, as in Poth et al. (2021), whose reference code
#: (adapter-hub/efficient-task-transfer ``task_selection/run_embeddings.py`` l.68) uses
#: sentence-transformers/roberta-base-nli-stsb-mean-tokens. Offline, xta's embedded encoder is one:
#: multilingual-e5-small (multilingual, mean pooling), used with E5's ``"query: "`` prefix.
SEMB_MODEL = "embedded"
#: E5 models are trained with ``"query: "`` / ``"passage: "`` prefixes; their model card prescribes
#: ``"query: "`` for symmetric uses and embeddings used as features, which SEmb's are.
E5_SEMB_PREFIX = "query: "


def semb_prefix(encoder: Any) -> str:
    """The text prefix SEmb gives ``encoder``: ``"query: "`` for an E5 model (the embedded encoder, or a
    name containing ``e5``), none otherwise. ``xta select --semb-prefix`` overrides it."""
    name = str(getattr(encoder, "name", "") or "").lower()
    return E5_SEMB_PREFIX if getattr(encoder, "kind", "") == "embedded" or "e5" in name else ""


def _choice_segment(question: str, choice: str) -> str:
    """The reference's second segment of a choice row (efficient-task-transfer ``itrain/datasets/
    multiple_choice.py`` l.41-45, ``_build_input_choice``): the choice fills the blank ``_`` of a cloze
    question, else follows the question after a space."""
    return question.replace("_", choice) if "_" in question else f"{question} {choice}"


def semb_rows(example: Mapping[str, Any], shape: str,
              question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """The (first segment, second segment or None) rows SEmb embeds for one normalised example, as the
    reference builds its model inputs (efficient-task-transfer ``itrain/datasets``):

    * classification: ``(text, text_pair)`` (``classification.py`` l.73-80: ``tokenizer(a, b)``);
    * multiple choice: one row per choice, ``(context, question + " " + choice)`` or the cloze question
      with ``_`` replaced by the choice (``multiple_choice.py`` l.41-51); COPA/XCOPA's ``cause``/``effect``
      become their prompt question first (l.104-118); without a context, ``(question, choice)``
      (CommonsenseQA, l.212-216);
    * extractive QA: ``(question, context)``;
    * tagging: the words joined by spaces.
    """
    if shape in ("classification", "pair_classification"):
        pair = example.get("text_pair")
        return [(str(example["text"]), str(pair) if pair else None)]
    if shape == "multiple_choice":
        question = str(example.get("question") or "")
        question = (question_prompts or {}).get(question, question)
        context = str(example.get("context") or "")
        if not context:
            return [(question, str(c)) if question else (str(c), None) for c in example["choices"]]
        return [(context, _choice_segment(question, str(c)) if question else str(c)) for c in example["choices"]]
    if shape == "extractive_qa":
        return [(str(example["question"]), str(example["context"]))]
    if shape == "tagging":
        return [(" ".join(example["tokens"]), None)]
    raise ConfigError(f"no dataset text for task shape {shape!r} (retrieval tasks: embed RetrievalData.queries)")


def _rows(examples: Any, spec: Any) -> list[list[tuple[str, str | None]]]:
    """The SEmb rows of every example (a list per example, so that sampling draws whole examples)."""
    if hasattr(examples, "queries"):  # a RetrievalData: its query sentences are the task's text
        return [[(q, None)] for q in examples.queries]
    prompts = getattr(spec, "question_prompts", None)
    return [semb_rows(ex, spec.shape, prompts) for ex in examples]


def sample_indices(total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """``n`` of ``range(total)`` drawn without replacement with ``seed`` (all when ``n`` is None or larger),
    in increasing order; a seeded sample rather than the first ``n`` since files are often sorted."""
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def encode_rows(encoder: Any, rows: Sequence[tuple[str, str | None]], *, prefix: str = "", max_length: int = 128,
                batch_size: int = 32, layer: int | None = None) -> np.ndarray:
    """One vector per row (float64, ``(len(rows), hidden)``): the mean of the token states over *every*
    token of the row, special tokens included, not normalised (efficient-task-transfer ``task_selection/
    semb.py`` l.59-65: the attention-mask-weighted average of ``outputs[0]``). A pair row is tokenised as
    a pair (``tokenizer(a, b)``, truncation ``longest_first`` to ``max_length``: the reference's
    ``truncation=True``); ``prefix`` goes before the first segment. Token type ids are not passed (all 0;
    the reference passes segment ids to models that have them; E5/XLM-R has a single type)."""
    import torch

    from .retrieval import _eval_mode, _hidden, _model_device, _pad_batch, _pad_id

    tok = encoder.tokenizer
    ids: list[list[int]] = [[] for _ in rows]
    for paired in (False, True):
        which = [i for i, (_, b) in enumerate(rows) if bool(b) == paired]
        if not which:
            continue
        firsts = [prefix + rows[i][0] for i in which]
        enc = (tok(firsts, [rows[i][1] for i in which], truncation=True, max_length=max_length) if paired
               else tok(firsts, truncation=True, max_length=max_length))
        for i, row_ids in zip(which, enc["input_ids"]):
            ids[i] = list(row_ids)
    out = np.zeros((len(rows), _hidden_size_of(encoder)), dtype=np.float64)
    if not rows:
        return out
    pad_id, model = _pad_id(tok), encoder.model
    device = _model_device(model)
    order = np.argsort([-len(x) for x in ids], kind="stable")
    with torch.inference_mode(), _eval_mode(model):
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            input_ids, mask = _pad_batch([ids[i] for i in chosen], pad_id, device)
            hidden = _hidden(model, input_ids, mask, layer).double()
            m = mask.to(hidden.dtype).unsqueeze(-1)
            out[chosen] = ((hidden * m).sum(1) / m.sum(1)).cpu().numpy()
    return out


def _hidden_size_of(encoder: Any) -> int:
    size = getattr(encoder, "hidden_size", None) or getattr(getattr(encoder.model, "config", None), "hidden_size", 0)
    return int(size)


def embed_task(encoder: Any, examples: Any, spec: Any, *, n: int | None = 1000, max_length: int = 128,
               seed: int = 0, batch_size: int = 32, layer: int | None = None,
               prefix: str | None = None) -> TaskEmbedding:
    """SEmb's dataset vector of ``examples`` (a task's normalised examples, or a RetrievalData) with its cost.

    As the reference (efficient-task-transfer ``task_selection/semb.py`` l.22-79) computes it with a
    sentence-embedding model (``encoder``; :data:`SEMB_MODEL` by default in ``xta select``): every row of
    the examples (:func:`semb_rows`: one per example, one per answer choice for multiple choice) is
    mean-pooled over all its tokens (:func:`encode_rows`), and the dataset vector is the mean over all
    rows. Sampling (a documented difference: the reference embeds the whole training split): ``n``
    examples drawn without replacement with ``seed`` (:func:`sample_indices`), each with all its rows.
    ``prefix`` defaults to :func:`semb_prefix` (``"query: "`` for E5). The cost counts one forward pass per
    row. ``spec`` gives the shape (and COPA/XCOPA's question prompts).

    (Vu et al. 2020's TextEmb is the same construction on BERT itself: each example's token states are
    averaged, then the example vectors are averaged over the dataset.)
    """
    per_example = _rows(examples, spec)
    if not per_example:
        raise DataError(f"task {getattr(spec, 'name', '?')}: no examples to embed")
    picked = sample_indices(len(per_example), n, seed)
    rows = [row for i in picked for row in per_example[i]]
    start = time.perf_counter()
    vectors = encode_rows(encoder, rows, prefix=semb_prefix(encoder) if prefix is None else prefix,
                          max_length=max_length, batch_size=batch_size, layer=layer)
    cost = Cost(len(rows), time.perf_counter() - start)
    return TaskEmbedding(mean_embedding(vectors), len(picked), cost)


def mean_embedding(features: np.ndarray) -> np.ndarray:
    """The dataset vector: the mean of per-example feature rows (N, D) -> (D,), in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ConfigError(f"a dataset embedding needs a non-empty (N, D) array of features, got shape {features.shape}")
    return features.mean(axis=0)


def task_embedding(encoder: Any, examples: Any, spec: Any, n: int | None = 1000, max_length: int = 128,
                   **kw: Any) -> np.ndarray:
    """SEmb's dataset vector of a task (see :func:`embed_task`, which also returns the cost)."""
    return embed_task(encoder, examples, spec, n=n, max_length=max_length, **kw).vector


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when one is zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / den if den > 0 else 0.0


def _vector_and_cost(x: np.ndarray | TaskEmbedding) -> tuple[np.ndarray, Cost]:
    return (x.vector, x.cost) if isinstance(x, TaskEmbedding) else (np.asarray(x), Cost())


def semb_estimates(target: str, target_embedding: np.ndarray | TaskEmbedding,
                   candidate_embeddings: Mapping[str, np.ndarray | TaskEmbedding]) -> list[Estimate]:
    """SEmb: score = cosine(candidate's dataset vector, target's English dataset vector).

    Poth et al. (2021) rank intermediate tasks by this similarity of :func:`embed_task` vectors from a
    sentence-embedding model (theirs: Sentence-BERT; xta's default: multilingual-e5-small). An estimate's
    cost is its candidate's embedding plus the target's (shared by all candidates, counted in each) plus
    the similarity itself.
    """
    t_vec, t_cost = _vector_and_cost(target_embedding)
    out = []
    for name, emb in candidate_embeddings.items():
        c_vec, c_cost = _vector_and_cost(emb)
        start = time.perf_counter()
        score = cosine(t_vec, c_vec)
        out.append(Estimate("semb", target, name, score, t_cost + c_cost + Cost(0, time.perf_counter() - start)))
    return out


# -------------------------------------------------------------------------------------------- LogME


#: The reference code's iteration cap and stopping rule (thuml/LogME ``LogME.py``, ``_fit_fixed_point``:
#: ``for _ in range(11)`` at l.127, stop when ``abs(t_ - t) / t <= 1e-3`` at l.142).
LOGME_MAX_ITER = 11
LOGME_TOL = 1e-3


def _spectrum(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sigma`` (k,), the squared singular values of F, and ``u`` (N, k), its left singular vectors,
    as the reference computes them (thuml/LogME ``LogME.py`` l.106-115):

    * N > D: ``truncated_svd`` (l.47-57): SVD of the D x D matrix F^T F, singular values s = sqrt of its
      eigenvalues, kept where s > 1e-10 (k = the rank of F), and u = F V / s;
    * N <= D: the thin SVD of F (``np.linalg.svd(f, full_matrices=False)``): all k = N components.

    So k = min(N, D) (or the rank of F when N > D): the evidence sums over these k components only.
    """
    n, d = features.shape
    if n > d:
        _, ev, vh = np.linalg.svd(features.T @ features)
        s = np.sqrt(ev)
        k = int(np.sum(s > 1e-10))
        s, vh = s[:k], vh[:k]
        return s**2, (features @ vh.T) / s[None, :]
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    return s**2, u


def _posterior_terms(sigma: np.ndarray, x2: np.ndarray, res_x2: float, t: float) -> tuple[float, float, float]:
    """gamma, m^T m and ||y - F m||^2 at t = alpha / beta for the posterior mean m = beta A^-1 F^T y,
    A = alpha I + beta F^T F (You et al. 2021, Algorithm 1), in the reference's SVD form
    (``LogME.py`` l.129-131): x2 = (U^T y)^2, and ``res_x2`` = ||y||^2 - sum x2 (l.124) is the part of y
    outside the column space of U."""
    gamma = float(np.sum(sigma / (sigma + t)))
    m2 = float(np.sum(sigma * x2 / (t + sigma) ** 2))
    res2 = float(np.sum(x2 / (1.0 + sigma / t) ** 2)) + res_x2
    return gamma, m2, res2


def _evidence_terms(sigma: np.ndarray, d: int, n: int, alpha: float, beta: float, m2: float, res2: float) -> float:
    """The reference's log evidence (not divided by N; ``LogME.py`` l.144-149): D/2 log a + N/2 log b
    - 1/2 sum_k log(a + b sigma_k) - b/2 res2 - a/2 m2 - N/2 log 2 pi, You et al. (2021) eq. 2. The
    log-determinant sums over the k components of :func:`_spectrum` only."""
    return (d / 2.0 * math.log(alpha) + n / 2.0 * math.log(beta) - 0.5 * float(np.sum(np.log(alpha + beta * sigma)))
            - beta / 2.0 * res2 - alpha / 2.0 * m2 - n / 2.0 * math.log(2.0 * math.pi))


def _fixed_point(sigma: np.ndarray, x2: np.ndarray, res_x2: float, n: int, d: int, tol: float,
                 max_iter: int) -> tuple[float, float, float]:
    """``(evidence / N, alpha, beta)`` of one target column by the reference's fixed point (MacKay 1992;
    ``LogME.py`` l.126-150): from alpha = beta = 1, at most ``max_iter`` times: t = alpha / beta,
    gamma = sum sigma / (sigma + t), alpha = gamma / (m^T m + 1e-5), beta = (N - gamma) / (||F m - y||^2
    + 1e-5); stop when |t' - t| / t <= ``tol``. As in the reference, the evidence is evaluated at the
    last (alpha, beta) with the m^T m and residual of the t *before* that update (l.144-149)."""
    alpha, beta = 1.0, 1.0
    m2 = res2 = 0.0
    for _ in range(max_iter):
        t = alpha / beta
        gamma, m2, res2 = _posterior_terms(sigma, x2, res_x2, t)
        alpha = gamma / (m2 + LOGME_EPSILON)
        beta = (n - gamma) / (res2 + LOGME_EPSILON)
        if abs(alpha / beta - t) / t <= tol:
            break
    else:
        logger.debug("LogME: alpha/beta did not converge in %d iterations", max_iter)
    return _evidence_terms(sigma, d, n, alpha, beta, m2, res2) / n, alpha, beta


def log_evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """The exact log evidence log p(y | F, alpha, beta) of one target vector ``y`` (N,) at given alpha,
    beta: the marginal likelihood of y ~ N(0, I/beta + F F^T/alpha), with the posterior mean of these
    alpha, beta and the log-determinant of A over all D dimensions. :func:`logme` follows the reference
    instead, whose log-determinant sums over k = min(N, D) components: for N < D its value is this one
    plus (D - k)/2 log(alpha) (divided by N). Exposed to test both against."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, d = f.shape
    sigma, u = _spectrum(f)
    x2 = (u.T @ y) ** 2
    _, m2, res2 = _posterior_terms(sigma, x2, float(y @ y - x2.sum()), alpha / beta)
    return _evidence_terms(sigma, d, n, alpha, beta, m2, res2) - (d - len(sigma)) / 2.0 * math.log(alpha)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    """One column per class *present* in ``labels`` (the reference code makes ``max + 1`` columns,
    ``LogME.py`` l.118-120, assuming every class id occurs; an absent class would add a degenerate
    all-zero column whose evidence is driven by the 1e-5 guards alone). Equal to the reference when
    every class id 0..max occurs."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError("LogME labels must be a non-empty 1-d array of integer class ids")
    return (labels[:, None] == np.unique(labels)[None, :]).astype(np.float64)


def logme(features: np.ndarray, labels: np.ndarray, *, regression: bool = False, tol: float = LOGME_TOL,
          max_iter: int = LOGME_MAX_ITER) -> float:
    """LogME (You et al. 2021): the maximised log evidence per example, averaged over label columns.

    ``features`` (N, D); ``labels`` (N,) class ids (one-hot; the evidence of each class column is
    maximised separately and the K values averaged, as in the paper) or, with ``regression``, (N,) or
    (N, K) real targets. Computes what the reference implementation computes (thuml/LogME ``LogME.py``,
    ``LogME.fit`` with its default ``_fit_fixed_point``, l.100-160): the SVD of F once
    (:func:`_spectrum`), then per column the fixed point of :func:`_fixed_point` — at most 11 iterations
    (``max_iter``), stopping when alpha/beta changes by at most 1e-3 relative (``tol``), evidence at the
    final alpha, beta with the previous step's posterior terms.

    As in the reference, the log-determinant of A sums over k = min(N, D) singular values (the rank of
    F when N > D) while the alpha term counts all D dimensions: with fewer examples than feature
    dimensions (N = 1000 < D = 1024 for XLM-R Large) this is *not* the exact Bayesian evidence
    (:func:`log_evidence` adds -(D - k)/2 log alpha) but it is the number published LogME values are.
    Deliberate difference: only classes present in ``labels`` get a column (:func:`_one_hot`).
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ConfigError(f"LogME features must be a non-empty (N, D) array, got shape {f.shape}")
    y = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1) if regression else _one_hot(labels)
    if y.shape[0] != f.shape[0]:
        raise ConfigError(f"LogME: {f.shape[0]} feature rows but {y.shape[0]} labels")
    if max_iter < 1:
        raise ConfigError(f"LogME: max_iter must be >= 1, got {max_iter}")
    n, d = f.shape
    sigma, u = _spectrum(f)
    evidences = []
    for k in range(y.shape[1]):
        x2 = (u.T @ y[:, k]) ** 2
        res_x2 = float(y[:, k] @ y[:, k] - x2.sum())  # LogME.py l.124
        evidences.append(_fixed_point(sigma, x2, res_x2, n, d, tol, max_iter)[0])
    return float(np.mean(evidences))


def logme_estimates(target: str, candidate_features: Mapping[str, LabelledFeatures]) -> list[Estimate]:
    """LogME of each candidate's intermediate-adapted features of the target's English labelled data.

    Higher evidence = the labels are better explained by a linear model on those features, the proxy of
    You et al. (2021) for fine-tuned performance. Cost: computing the features plus LogME itself.
    """
    out = []
    for name, lf in candidate_features.items():
        start = time.perf_counter()
        score = logme(lf.features, lf.labels)
        out.append(Estimate("logme", target, name, score, lf.cost + Cost(0, time.perf_counter() - start)))
    return out


# ------------------------------------------------------------------------------ LogME with an encoder


def logme_features(encoder: Any, examples: Sequence[Mapping[str, Any]], spec: Any, *, n: int | None = 1000,
                   max_length: int = 128, batch_size: int = 32, seed: int = 0,
                   max_rows: int | None = 20000) -> LabelledFeatures:
    """Features and labels of (a sample of) the target's English dev ``examples`` for LogME.

    Run with the candidate's adapter active in ``encoder.model``. Per shape:

    * classification: the mean-pooled sentence (pair) features; labels = index in ``spec.labels``.
    * multiple choice: one row per choice (context, question and choice); label 1 for the correct choice,
      0 otherwise — a binary simplification of the choice-scoring task.
    * tagging: the first sub-token of every word; labels = tag index (token-level LogME).
    * extractive QA: every context token of ``question </s> context`` (truncated to ``max_length``);
      label 1 for the answer's start token, 0 otherwise — start positions as a binary token labelling,
      the documented simplification of the span task.

    ``max_rows`` caps token rows by a seeded sample (the spectrum costs O(N D^2)).
    """
    if not examples or hasattr(examples, "queries"):
        raise ConfigError(f"LogME needs labelled examples of a non-retrieval task (task {getattr(spec, 'name', '?')})")
    examples = [examples[i] for i in sample_indices(len(examples), n, seed)]
    builder = _FEATURE_BUILDERS.get(spec.shape)
    if builder is None:
        raise ConfigError(f"LogME has no labels for task shape {spec.shape!r}")
    start = time.perf_counter()
    feats, labels, names, passes = builder(encoder, examples, spec, max_length, batch_size)
    rows = sample_indices(len(labels), max_rows, seed)
    return LabelledFeatures(feats[rows], labels[rows], Cost(passes, time.perf_counter() - start), names)


def _label_ids(values: Iterable[str], names: Sequence[str], task: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    try:
        return np.array([index[v] for v in values], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"task {task}: label {exc.args[0]!r} is not among its labels {', '.join(names)}") from None


def _classification_rows(encoder, examples, spec, max_length, batch_size):
    from .retrieval import encode_texts

    sep = getattr(encoder.tokenizer, "sep_token", None) or "[SEP]"
    texts = [example_text(ex, spec.shape, sep) for ex in examples]
    names = tuple(spec.labels or sorted({ex["label"] for ex in examples}))
    labels = _label_ids((ex["label"] for ex in examples), names, spec.name)
    feats = encode_texts(encoder, texts, batch_size=batch_size, max_length=max_length, normalize=False)
    return feats.astype(np.float64), labels, names, len(texts)


def _choice_rows(encoder, examples, spec, max_length, batch_size):
    from .retrieval import encode_texts

    sep = getattr(encoder.tokenizer, "sep_token", None) or "[SEP]"
    texts, labels = [], []
    for ex in examples:
        stem = example_text(ex, spec.shape, sep, getattr(spec, "question_prompts", None))
        for j, choice in enumerate(ex["choices"]):
            texts.append(f"{stem} {sep} {choice}")
            labels.append(int(j == ex["label"]))
    feats = encode_texts(encoder, texts, batch_size=batch_size, max_length=max_length, normalize=False)
    return feats.astype(np.float64), np.array(labels, dtype=np.int64), ("wrong", "correct"), len(texts)


def _tagging_rows(encoder, examples, spec, max_length, batch_size):
    names = tuple(spec.labels or sorted({t for ex in examples for t in ex["tags"]}))
    enc = encoder.tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True,
                            max_length=max_length)
    picks, tags = [], []
    for i, ex in enumerate(examples):
        seen: set[int] = set()
        for pos, word in enumerate(enc.word_ids(i)):
            if word is not None and word not in seen:  # first sub-token of each word, as the tagging heads
                seen.add(word)
                picks.append((i, pos))
                tags.append(ex["tags"][word])
    states = _token_states(encoder, enc["input_ids"], batch_size)
    feats = np.stack([states[i][pos] for i, pos in picks]) if picks else np.zeros((0, encoder.hidden_size))
    return feats, _label_ids(tags, names, spec.name), names, len(examples)


def _qa_rows(encoder, examples, spec, max_length, batch_size):
    enc = encoder.tokenizer([ex["question"] for ex in examples], [ex["context"] for ex in examples],
                            truncation="only_second", max_length=max_length, return_offsets_mapping=True)
    states = _token_states(encoder, enc["input_ids"], batch_size)
    rows, labels = [], []
    for i, ex in enumerate(examples):
        starts = ex["answers"]["answer_start"]
        gold = starts[0] if starts else None
        for pos, (seq, (a, b)) in enumerate(zip(enc.sequence_ids(i), enc["offset_mapping"][i])):
            if seq == 1 and b > a:  # context tokens only
                rows.append(states[i][pos])
                labels.append(int(gold is not None and a <= gold < b))
    feats = np.stack(rows) if rows else np.zeros((0, encoder.hidden_size))
    return feats, np.array(labels, dtype=np.int64), ("other", "answer_start"), len(examples)


_FEATURE_BUILDERS: dict[str, Callable] = {
    "classification": _classification_rows,
    "pair_classification": _classification_rows,
    "multiple_choice": _choice_rows,
    "tagging": _tagging_rows,
    "extractive_qa": _qa_rows,
}


def _token_states(encoder: Any, input_ids: Sequence[Sequence[int]], batch_size: int) -> list[np.ndarray]:
    """Last-layer token states (float64, one (len, D) array per sequence) with the active adapters."""
    import torch

    model = encoder.model
    pad = encoder.tokenizer.pad_token_id
    device = next(model.parameters()).device
    out: list[np.ndarray] = [np.zeros(0)] * len(input_ids)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(input_ids), batch_size):
                rows = list(input_ids[start : start + batch_size])
                width = max(len(r) for r in rows)
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, r in enumerate(rows):
                    ids[j, : len(r)] = torch.tensor(r)
                    mask[j, : len(r)] = 1
                hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
                for j, r in enumerate(rows):
                    out[start + j] = hidden[j, : len(r)].double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


# ------------------------------------------------------------------------------------------ TaskEmb

#: Examples per backward pass: the reference's default (efficient-task-transfer ``task_selection/
#: taskemb.py`` l.286-289, ``RunArguments(batch_size=16, num_train_epochs=1)``). Fixed for every task, so
#: that all embeddings are sums over batches of the same size.
TASKEMB_BATCH_SIZE = 16


@dataclass(frozen=True)
class FisherEmbedding:
    """TaskEmb of one trained adapter: the empirical Fisher diagonal of each of its parameter tensors,
    keyed by the parameter's name with the adapter's own name replaced by ``*`` (so that two adapters
    of the same architecture have the same keys), averaged over ``n_examples``, and what it cost.
    ``n_examples`` counts the featurised items the loss ran on: one per example, except QA (one per window)
    and long tagging sentences (one per chunk), as the reference counts its input rows (taskemb.py l.273)."""

    adapter: str
    task: str
    tensors: dict[str, np.ndarray]
    n_examples: int
    cost: Cost

    @property
    def vector(self) -> np.ndarray:
        """Every tensor flattened, in sorted key order, concatenated (float64)."""
        return np.concatenate([self.tensors[k].ravel() for k in sorted(self.tensors)]).astype(np.float64)


def adapter_parameter_key(param_name: str, adapter: str) -> str | None:
    """``bert.encoder.layer.0.output.adapters.NAME.adapter_up.weight`` -> the same with ``*`` for ``NAME``;
    None for a parameter that is not one of adapter ``adapter``'s own (the encoder, other adapters, and the
    prediction heads, ``heads.NAME.*``)."""
    parts = param_name.split(".")
    if parts[0] == "heads" or adapter not in parts:
        return None
    return ".".join("*" if p == adapter else p for p in parts)


def taskemb_fisher(encoder: Any, adapter: str, examples: Sequence[Mapping[str, Any]], spec: Any, *,
                   artifacts_dir=None, n: int | None = 1000, seed: int = 0, max_length: int = 128,
                   batch_size: int = TASKEMB_BATCH_SIZE, head: str | None = None,
                   labels: Sequence[str] | None = None) -> FisherEmbedding:
    """TaskEmb (Vu et al. 2020) of trained adapter ``adapter`` on (a seeded sample of ``n`` of) its task's
    labelled English ``examples`` (featurised as ``spec``, the adapter's task), on the frozen encoder.

    Follows efficient-task-transfer ``task_selection/taskemb.py`` (TaskEmb for adapters, adapted from
    tuvuumass/task-transferability ``run_taskemb_CR.py``), with its defaults ``use_labels=True`` (l.63),
    ``feature_type='grads'`` and ``pow=2.0`` (l.59-60):

    * the model is in eval mode (no dropout, l.229); batches of ``batch_size`` examples (l.223-227), in a
      seeded random order (the reference's ``train_sampler()``);
    * per batch, the task loss *with the gold labels* (``outputs[0]``, l.247-248; the training loss of the
      task's family, a batch mean) is back-propagated (l.208-215) and each parameter's gradient is squared
      (``score = parameter.grad ** 2``, l.72-77);
    * the squares are summed over batches (l.265-270) and divided by the number of examples (l.276-278).

    Parameters: in the reference, ``base_model.named_parameters()`` that require a gradient (l.72-73). With
    the encoder frozen by ``train_adapter``, as the reference's adapter variants do before ``compute_Fisher``
    (``run_few_shot.py`` l.245-250, FS-TaskEmb; ``run_model_features.py`` l.318 and l.190-195), those are the
    adapter's own weights (:func:`adapter_parameter_key`); ``run_taskemb`` itself leaves ``train_adapter``
    commented out (l.335), so there every encoder weight's gradient is collected too, which xta, whose
    encoder is frozen, does not. Also left out, as deliberate deviations: the prediction head's parameters
    (l.111-117; its shape is the task's label count, so heads of different tasks cannot be compared) and the
    gradients of every layer's attention and layer outputs (l.78-94; they need the reference's modified
    BERT/RoBERTa that retains them).
    Gradients are taken with ``torch.autograd.grad`` (the adapter's ``.grad`` fields are not touched) and
    ``requires_grad`` of the adapter's weights is restored afterwards.
    """
    import torch

    from .families import get_family
    from .families.base import to_device
    from .train import load_trained_adapter

    if not examples or hasattr(examples, "queries"):
        raise ConfigError(f"TaskEmb needs labelled training examples of task {getattr(spec, 'name', '?')} "
                          "(a retrieval pool has no task loss)")
    family = get_family(spec)
    start = time.perf_counter()
    chosen = [examples[i] for i in sample_indices(len(examples), n, seed)]
    opts: dict[str, Any] = {}
    if spec.shape == "tagging" and labels:
        opts["labels"] = list(labels)
    if spec.shape == "extractive_qa" and "doc_stride" in (spec.training or {}):
        opts["doc_stride"] = min(int(spec.training["doc_stride"]), max_length // 3)  # as toolkit.train does
    features = family.featurize(chosen, encoder.tokenizer, spec, max_length, train=True, **opts)
    items = features.items
    if not items:
        raise DataError(f"task {spec.name}: no training features for TaskEmb")
    model = load_trained_adapter(encoder, adapter, artifacts_dir)
    head = head if head is not None else (adapter if adapter in getattr(model, "heads", {}) else None)
    params = [(adapter_parameter_key(name, adapter), p) for name, p in model.named_parameters()]
    params = [(k, p) for k, p in params if k is not None]
    if not params:
        raise ConfigError(f"adapter {adapter!r} has no parameters of its own in the model (a fusion? TaskEmb "
                          "needs a trained bottleneck adapter)")
    was = [p.requires_grad for _, p in params]
    sums = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in params}
    order = np.random.default_rng(seed).permutation(len(items))
    pad_id = features.meta.get("pad_id", 0)
    device = next(p.device for _, p in params)
    try:
        model.eval()
        for _, p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            for b in range(0, len(order), batch_size):
                batch = to_device(family.collate([items[i] for i in order[b : b + batch_size]], pad_id), device)
                loss = family.loss(model, batch, head)
                grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
                for (k, _), g in zip(params, grads):
                    if g is not None:
                        sums[k] += g.detach().double() ** 2
    finally:
        for (_, p), flag in zip(params, was):
            p.requires_grad_(flag)
        model.set_active_adapters(None)
    tensors = {k: (v / len(items)).cpu().numpy() for k, v in sums.items()}
    return FisherEmbedding(adapter, spec.name, tensors, len(items), Cost(len(items), time.perf_counter() - start))


def taskemb_similarity(a: FisherEmbedding, b: FisherEmbedding) -> float:
    """Cosine similarity of two TaskEmb vectors (Vu et al. 2020; tuvuumass/task-transferability README l.10:
    the source task embedding "most similar ... via cosine similarity"), over every tensor flattened
    and concatenated in the same key order. Adapters of different architectures (other keys or shapes)
    have no common space: refused."""
    if set(a.tensors) != set(b.tensors) or any(a.tensors[k].shape != b.tensors[k].shape for k in a.tensors):
        raise ConfigError(f"TaskEmb of adapters {a.adapter!r} and {b.adapter!r}: their parameters differ (another "
                          "adapter configuration or encoder); train both with the same adapter settings")
    return cosine(a.vector, b.vector)


def taskemb_estimates(target: str, target_embedding: FisherEmbedding,
                      candidate_embeddings: Mapping[str, FisherEmbedding],
                      skipped: dict[str, str] | None = None) -> list[Estimate]:
    """TaskEmb: score = cosine(candidate adapter's Fisher embedding, target adapter's); the cost is both
    embeddings' (the target's shared by all candidates, counted in each) plus the similarity. A candidate
    whose adapter is not comparable with the target's (:func:`taskemb_similarity`) is an error, or, with
    ``skipped``, recorded there under its name and left out."""
    out = []
    for name, emb in candidate_embeddings.items():
        start = time.perf_counter()
        try:
            score = taskemb_similarity(target_embedding, emb)
        except ConfigError as exc:
            if skipped is None:
                raise
            skipped[name] = str(exc)
            continue
        out.append(Estimate("taskemb", target, name, score,
                            target_embedding.cost + emb.cost + Cost(0, time.perf_counter() - start)))
    return out


def adapter_taskemb(encoder: Any, adapter: str, artifacts_dir, data_dir, n: int | None, seed: int,
                    cache: dict[str, tuple[Any, str]] | None = None) -> tuple[FisherEmbedding, str]:
    """TaskEmb of a trained adapter on its own task's English training data (the task its card names;
    :func:`english_examples`, training source first, as the adapter was trained), and which data that was."""
    from .tasks import get_task
    from .train import read_card

    card = read_card(adapter, artifacts_dir)
    if card.get("recipe") == "fuse":
        raise ConfigError(f"{adapter!r} is a fusion; TaskEmb needs a trained bottleneck adapter")
    task = card["task"]
    cache = {} if cache is None else cache
    if task not in cache:
        cache[task] = english_examples(task, data_dir)
    examples, used = cache[task]
    info = (card.get("tasks") or {}).get(task) or {}
    spec = get_task(task)
    emb = taskemb_fisher(encoder, adapter, examples, spec, artifacts_dir=artifacts_dir, n=n, seed=seed,
                         head=info.get("head"), labels=info.get("labels"))
    return emb, used


# ----------------------------------------------------------------------------------------- controls


def size_estimates(target: str, sizes: Mapping[str, int]) -> list[Estimate]:
    """The size control of Poth et al. (2021): score = number of training examples (largest first)."""
    return [Estimate("size", target, name, float(n)) for name, n in sizes.items()]


def random_estimates(target: str, candidates: Iterable[str], seed: int = 0) -> list[Estimate]:
    """A random ranking, reproducible: the same (seed, target, candidate set) gives the same scores
    whatever the order of ``candidates`` (the generator is seeded from a hash of seed and target)."""
    names = sorted(set(candidates))
    digest = hashlib.sha256(f"{seed}:{target}".encode()).digest()
    scores = np.random.default_rng(int.from_bytes(digest[:8], "little")).random(len(names))
    return [Estimate("random", target, name, float(s)) for name, s in zip(names, scores)]


# ---------------------------------------------------------------------------------------- diversity


def _unit_rows(embeddings: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    x = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ConfigError("a task embedding is the zero vector; its direction (and diversity) is undefined")
    return x / norms


def mean_pairwise_cosine_distance(embeddings: np.ndarray | Sequence[np.ndarray]) -> float:
    """Mean of 1 - cos(e_i, e_j) over the pairs i < j of a task set's embeddings (0 for fewer than 2).

    Why: the average dissimilarity of the tasks' data (0 = all the same direction, 1 = mutually
    orthogonal on average, up to 2 = opposite); a set of near-duplicates adds little over one task.
    """
    x = _unit_rows(embeddings) if len(embeddings) else np.zeros((0, 1))
    k = x.shape[0]
    if k < 2:
        return 0.0
    sims = (x @ x.T)[np.triu_indices(k, 1)]
    return float(np.mean(1.0 - sims))


def logdet_volume(embeddings: np.ndarray | Sequence[np.ndarray], ridge: float = 1e-6) -> float:
    """log det(G + ridge I), G = the Gram matrix of the L2-normalised task embeddings.

    Why: det G is the squared volume spanned by the unit task vectors (the determinantal point process
    view of diversity, Kulesza & Taskar 2012): 0 (log 0) when one task is a combination of the others,
    maximal (1, log 0) for mutually orthogonal tasks; unlike the mean distance it penalises redundancy
    among *several* tasks. ``ridge`` keeps a duplicate finite (about k log ridge) so sets stay comparable.
    """
    if not len(embeddings):
        return 0.0
    x = _unit_rows(embeddings)
    _, value = np.linalg.slogdet(x @ x.T + ridge * np.eye(x.shape[0]))
    return float(value)


def distinct_shapes(shapes: Iterable[str]) -> int:
    """The number of distinct task shapes in a set (classification, multiple_choice, extractive_qa, ...)."""
    return len(set(shapes))


def shape_entropy(shapes: Iterable[str]) -> float:
    """Shannon entropy (bits) of the shape distribution of a task set.

    Why: a set spanning several shapes of supervision (sentence labels, spans, tags, choices) is more
    diverse in *what* it teaches than one of many classification tasks; entropy also counts balance
    (log2 of the number of shapes when balanced, 0 for a single shape).
    """
    counts = Counter(shapes)
    total = sum(counts.values())
    return float(-sum(c / total * math.log2(c / total) for c in counts.values())) if total else 0.0


@dataclass(frozen=True)
class Diversity:
    """The diversity measures of one task set (see the functions of the same names)."""

    tasks: tuple[str, ...]
    mean_pairwise_cosine_distance: float | None
    logdet_volume: float | None
    distinct_shapes: int | None
    shape_entropy: float | None


def diversity(tasks: Sequence[str], embeddings: Mapping[str, np.ndarray] | None = None,
              shapes: Mapping[str, str] | None = None) -> Diversity:
    """All diversity measures of ``tasks`` that the given embeddings / shapes allow (None otherwise)."""
    for what, table in (("embedding", embeddings), ("shape", shapes)):
        lacking = [t for t in tasks if table is not None and t not in table]
        if lacking:
            raise ConfigError(f"no task {what} for {', '.join(lacking)}; give one for every task of the set")
    emb = [embeddings[t] for t in tasks] if embeddings is not None else None
    shp = [shapes[t] for t in tasks] if shapes is not None else None
    return Diversity(
        tuple(tasks),
        mean_pairwise_cosine_distance(emb) if emb is not None else None,
        logdet_volume(emb) if emb is not None else None,
        distinct_shapes(shp) if shp is not None else None,
        shape_entropy(shp) if shp is not None else None,
    )


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


def gains(measured: Mapping[str, Mapping[str, Mapping[str, float]]],
          baseline: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """Transfer gains ``{target: {candidate: {lang: score - baseline score}}}`` from measured scores
    ``{target: {candidate: {lang: score}}}`` and the no-intermediate baseline ``{target: {lang: score}}``.
    Languages without a baseline score are left out (a gain needs both)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for target, cands in measured.items():
        base = baseline.get(target)
        if base is None:
            raise ConfigError(f"no baseline scores for target {target!r}: gains need the no-intermediate run")
        out[target] = {c: {lang: s - base[lang] for lang, s in per.items() if lang in base} for c, per in cands.items()}
    return out


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


# ------------------------------------------------------------------------------ evaluating selectors


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
    return float(spearmanr(predicted, measured).statistic)


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


# --------------------------------------------------------------------------------------------------
# running the estimators on real tasks (what `xta select` calls)
# --------------------------------------------------------------------------------------------------

#: English splits tried, in order, for a task's data when estimating (the first that loads is used and
#: recorded): a task's training data is what it contributes as an intermediate task.
ESTIMATION_SPLITS = ("train", "dev", "test")


def english_examples(task: str, data_dir=None, n: int | None = None) -> tuple[Any, str]:
    """(examples, "task:split") of a task's English data for estimation.

    For a target task, its English training source comes first (xnli: MNLI), then its own English splits;
    a retrieval target with neither (tatoeba, bucc2018) is represented by its English candidate sentences.
    """
    from .data import load
    from .errors import XtaError
    from .tasks import get_task

    spec = get_task(task)
    sources = [*(get_task(s) for s in spec.train_from if s != spec.name), spec]
    errors = []
    for src in sources:
        for split in ESTIMATION_SPLITS:
            if split in src.splits and "en" in src.split_languages(split):
                try:
                    return load(src, split, "en", data_dir=data_dir, max_examples=n), f"{src.name}:{split}"
                except XtaError as exc:
                    errors.append(f"{src.name}:{split}: {exc}")
    if spec.shape == "retrieval":
        try:
            return _english_side(spec, data_dir, n)
        except XtaError as exc:
            errors.append(f"{spec.name}: English side: {exc}")
    raise ConfigError(f"no English data for {task} to estimate with ({'; '.join(errors) or 'no English split'})")


def _english_side(spec: Any, data_dir, n: int | None) -> tuple[Any, str]:
    """A retrieval target without English queries (tatoeba, bucc2018): its English candidate sentences,
    pooled over every language whose files load and de-duplicated in file order, as a RetrievalData whose
    ``queries`` are those sentences (what :func:`embed_task` embeds). ``n`` caps the count."""
    from .data import RetrievalData, load

    split = "test" if "test" in spec.splits else spec.splits[0]
    seen: dict[str, None] = {}
    langs, errors = [], []
    for lang in spec.split_languages(split):
        try:
            data = load(spec, split, lang, data_dir=data_dir)
        except XtaError as exc:
            errors.append(f"{lang}: {exc}")
            continue
        if data.candidate_languages is not None:  # a multilingual pool (lareqa): not an English side
            continue
        langs.append(lang)
        seen.update(dict.fromkeys(c for c in data.candidates if c.strip()))
        if n is not None and len(seen) >= n:
            break
    if not seen:
        raise DataError(f"no {spec.name} {split} file loaded ({'; '.join(errors[:3]) or 'no English candidates'})")
    texts = list(seen)[:n] if n is not None else list(seen)
    ids = [f"en-{i}" for i in range(len(texts))]
    return (RetrievalData(ids, texts, [], [], {}, meta={"lang": "en", "from": langs}),
            f"{spec.name}:{split}(English side of {len(langs)} language files)")


def logme_target_data(task: str, data_dir=None) -> tuple[Any, str]:
    """(labelled examples, "task:split") of a target's English data for LogME, which needs labels.

    The target's own English dev split first; a target without one (XQuAD: test only; XCOPA: no English;
    TyDiQA-GoldP: train and the XTREME dev used as test) uses its training source's English dev instead
    (the registry's ``train_from``, in order: xcopa -> siqa:dev, xquad -> squad_v1:dev), and failing that
    its training source's English train split (tydiqa -> tydiqa:train). Never a test split. The split
    used is returned so that it is printed and recorded. Retrieval targets have no labels: refused.
    """
    from .data import load
    from .tasks import get_task

    spec = get_task(task)
    if spec.shape == "retrieval":
        raise ConfigError(f"a retrieval target ({task}) has no labels for LogME (SEmb embeds its English side)")
    sources = [spec, *(get_task(s) for s in spec.train_from if s != spec.name)]
    errors = []
    for split in ("dev", "train"):
        for src in sources:
            if split in src.splits and "en" in src.split_languages(split):
                try:
                    return load(src, split, "en", data_dir=data_dir), f"{src.name}:{split}"
                except XtaError as exc:
                    errors.append(f"{src.name}:{split}: {exc}")
    tried = ", ".join(s.name for s in sources)
    raise DataError(f"no labelled English dev or train data for LogME on {task} (tried {tried}"
                    f"{': ' + '; '.join(errors) if errors else ''})")


@dataclass
class SelectionRun:
    selection: Selection
    estimates: list[Estimate]
    data_used: dict[str, str]  # task -> "source:split"
    skipped: dict[str, str]  # candidate -> why it could not be estimated
    logme_data: str | None = None  # LogME: the labelled English data of the target ("task:split")


def run_selection(target: str, candidates: Sequence[str], *, budget: int = 1, objective: str = "mean",
                  estimator: str = "semb", encoder: Any = None, data_dir=None, n: int = 500, seed: int = 0,
                  diversity_weight: float = 0.0, combine: str = "fuse", matrix=None,
                  artifacts_dir=None, semb_encoder: Any = None, semb_prefix: str | None = None) -> SelectionRun:
    """Estimate every candidate for ``target`` with ``estimator`` and select.

    SEmb (and the diversity bonus) embed with ``semb_encoder``, a sentence-embedding model (None: load
    :data:`SEMB_MODEL`), one forward pass per sampled row, with ``semb_prefix`` (None: :func:`semb_prefix`);
    size and random need none; LogME needs ``encoder`` (the task model) and each candidate's trained
    intermediate adapter, named like the candidate, in
    ``artifacts_dir`` (``xta train-adapter --task CANDIDATE``); TaskEmb needs those and the target's trained
    adapter, named like the target (``xta train-adapter --task TARGET``). Candidates whose English data or
    adapter is missing are skipped and reported, never silently dropped.
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
        semb_encoder = _semb_encoder(semb_encoder)
        for name in [target, *usable] if target in data else usable:
            # the spec of the data actually loaded (lareqa's English data is SQuAD's, a QA task)
            embeddings[name] = embed_task(semb_encoder, data[name], get_task(used[name].split(":")[0]), n=n,
                                          seed=seed, prefix=semb_prefix)
    if estimator == "semb":
        estimates = semb_estimates(target, embeddings[target], {c: embeddings[c] for c in usable})
    elif estimator == "size":
        estimates = size_estimates(target, {c: len(data[c]) for c in usable})
    elif estimator == "logme":
        estimates, logme_data = _candidate_logme(target, usable, encoder, data_dir, artifacts_dir, n, seed, skipped)
        usable = [c for c in usable if c not in skipped]
    elif estimator == "taskemb":
        cache = {name: (data[name], used[name]) for name in data}
        estimates = _candidate_taskemb(target, usable, encoder, data_dir, artifacts_dir, n, seed, skipped, cache)
        usable = [c for c in usable if c not in skipped]
    else:
        estimates = random_estimates(target, usable, seed=seed)
    vectors = {k: (v.vector if isinstance(v, TaskEmbedding) else v) for k, v in embeddings.items()}
    sel = select(target, usable, estimates, budget=budget, objective=objective, matrix=matrix, estimator=estimator,
                 diversity_weight=diversity_weight, embeddings=vectors or None,
                 shapes={c: get_task(c).shape for c in usable}, combine=combine)
    return SelectionRun(sel, estimates, used, skipped, logme_data)


# --------------------------------------------------------------------------------------------------
# selector evaluation against a measured transfer matrix (what `xta select --evaluate` calls)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiversityPoint:
    """One measured intermediate entry of the matrix for one target: its diversity and its mean gains."""

    target: str
    entry: str  # the matrix's intermediate entry: 'anli', 'anli+siqa' (multi-task), 'anli,siqa' (a set)
    tasks: tuple[str, ...]
    diversity: float  # mean pairwise cosine distance of the members' dataset vectors; 0 for one task
    shape_entropy: float
    gains: dict[str, float]  # language group -> mean gain (points) over that group's languages


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


def measured_matrix(plan: Any, recipe: str) -> tuple[dict, dict, dict]:
    """``(single, entries, baseline)`` from the results store for a planned matrix (no model work):
    ``single`` = ``{target: {task: {lang: score}}}`` for one-task entries, ``entries`` the same for every
    measured entry (multi-task and sets included), ``baseline`` = ``{target: {lang: score}}``. A target
    without baseline scores is refused: gains need the no-intermediate run (``xta matrix`` first)."""
    from .matrix import BASELINE, collect_scores, parse_intermediate

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


def evaluate_on_matrix(cfg: Any, estimators: Sequence[str] = ("semb", "size", "random"), *, recipe: str = "sequential",
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
    from .matrix import parse_intermediate, plan_matrix
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
        semb_encoder = _semb_encoder(semb_encoder)
        for name in everything:
            if name in data:
                vectors[name] = embed_task(semb_encoder, data[name], get_task(used[name].split(":")[0]), n=n,
                                           seed=seed, prefix=semb_prefix)
    estimates: list[Estimate] = []
    logme_data: dict[str, str] = {}
    fisher: dict[str, FisherEmbedding | str] = {}  # adapter -> its TaskEmb, or why there is none
    taskemb_data = {name: (data[name], used[name]) for name in data}
    for target in targets:
        cands = [c for c in single.get(target, {}) if c in data]
        for c in set(single.get(target, {})) - set(cands):
            skipped[f"all:{target}:{c}"] = "no English data to estimate with"
        if "semb" in estimators and target in vectors:
            estimates += semb_estimates(target, vectors[target], {c: vectors[c] for c in cands if c in vectors})
        if "size" in estimators:
            estimates += size_estimates(target, {c: len(data[c]) for c in cands})
        if "random" in estimators:
            estimates += random_estimates(target, cands, seed=seed)
        if "logme" in estimators:
            estimates += _matrix_logme(plan, target, cands, encoder, cfg, n, seed, skipped, logme_data)
        if "taskemb" in estimators:
            estimates += _matrix_taskemb(target, cands, encoder, cfg, n, seed, skipped, fisher, taskemb_data)
    rows = evaluate_selectors({t: single[t] for t in single}, baseline, estimates, ks=ks)
    points = _diversity_points(entries, members, baseline, {k: v.vector for k, v in vectors.items()})
    return MatrixSelectorEvaluation(recipe, rows, estimates, single, baseline, points, skipped, logme_data)


def _semb_encoder(given: Any) -> Any:
    """The SEmb model: ``given``, or the default sentence-embedding model :data:`SEMB_MODEL`."""
    if given is not None:
        return given
    from .encoders import load_encoder

    return load_encoder(SEMB_MODEL)


def _matrix_logme(plan: Any, target: str, cands: Sequence[str], encoder: Any, cfg: Any, n: int, seed: int,
                  skipped: dict[str, str], logme_data: dict[str, str]) -> list[Estimate]:
    from .tasks import get_task
    from .matrix import Member
    from .train import adapter_dir, load_trained_adapter

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
    from .matrix import Member

    if encoder is None:
        raise ConfigError("taskemb needs the encoder")
    names = {cand: Member((cand,), cfg.prefix).name for cand in cands}
    target_name = cfg.prefix + target
    for key, name in [(f"taskemb:{target}", target_name), *((f"taskemb:{target}:{c}", names[c]) for c in cands)]:
        if name not in fisher:
            try:
                fisher[name] = _fisher_of(encoder, name, cfg.artifacts_dir, cfg.data_dir, n, seed, cache)
            except XtaError as exc:
                fisher[name] = str(exc)  # the reason, reported for every target that needs it
        if isinstance(fisher[name], str):
            skipped[key] = fisher[name]
    if not isinstance(fisher[target_name], FisherEmbedding):
        return []
    mismatched: dict[str, str] = {}
    out = taskemb_estimates(target, fisher[target_name],
                            {c: fisher[names[c]] for c in cands if isinstance(fisher[names[c]], FisherEmbedding)},
                            skipped=mismatched)
    skipped.update({f"taskemb:{target}:{c}": why for c, why in mismatched.items()})
    return out


def _fisher_of(encoder: Any, adapter: str, artifacts_dir, data_dir, n: int, seed: int,
               cache: dict[str, tuple[Any, str]]) -> FisherEmbedding:
    from .train import adapter_dir

    if not adapter_dir(adapter, artifacts_dir).is_dir():
        raise ConfigError(f"no trained adapter {adapter!r} for TaskEmb (xta train-adapter, or run xta matrix)")
    return adapter_taskemb(encoder, adapter, artifacts_dir, data_dir, n, seed, cache)[0]


def _candidate_taskemb(target: str, candidates: Sequence[str], encoder: Any, data_dir, artifacts_dir, n: int,
                       seed: int, skipped: dict[str, str], cache: dict[str, tuple[Any, str]]) -> list[Estimate]:
    """TaskEmb of each candidate's trained adapter (named like the candidate) against the target's trained
    adapter (named like the target); a missing target adapter is an error, a missing candidate's skipped."""
    if encoder is None:
        raise ConfigError("taskemb needs the encoder")
    target_emb = _fisher_of(encoder, target, artifacts_dir, data_dir, n, seed, cache)
    embs = {}
    for cand in candidates:
        try:
            embs[cand] = _fisher_of(encoder, cand, artifacts_dir, data_dir, n, seed, cache)
        except XtaError as exc:
            skipped[cand] = str(exc)
    return taskemb_estimates(target, target_emb, embs, skipped=skipped)


def _candidate_logme(target: str, candidates: Sequence[str], encoder: Any, data_dir, artifacts_dir, n: int,
                     seed: int, skipped: dict[str, str]) -> tuple[list[Estimate], str]:
    """LogME of each candidate's trained adapter (named like the candidate) on the target's English labelled
    data (:func:`logme_target_data`), and which data that was."""
    from .tasks import get_task
    from .train import adapter_dir, load_trained_adapter

    if encoder is None:
        raise ConfigError("logme needs the encoder")
    dev, used = logme_target_data(target, data_dir)
    spec = get_task(used.split(":")[0])  # the spec of the data loaded (xcopa's English labels are siqa's)
    features = {}
    for cand in candidates:
        if not adapter_dir(cand, artifacts_dir).is_dir():
            skipped[cand] = f"no trained adapter {cand!r} for LogME (xta train-adapter --task {cand})"
            continue
        model = load_trained_adapter(encoder, cand, artifacts_dir)
        try:
            features[cand] = logme_features(encoder, dev, spec, n=n, seed=seed)
        finally:
            model.set_active_adapters(None)
    return logme_estimates(target, features), used


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

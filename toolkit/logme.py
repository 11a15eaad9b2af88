"""LogME (You et al. 2021; reference thuml/LogME LogME.py): the evidence of a Bayesian linear model from
adapter features to labels, and the features and labels it is computed from (see :mod:`toolkit.selection`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .artifacts import adapter_dir, load_trained_adapter
from .errors import ConfigError, DataError, XtaError
from .estimates import Cost, Estimate, LabelledFeatures, sample_indices

logger = logging.getLogger(__name__)



#: The small constant of the reference LogME code (thuml/LogME ``LogME.py``) added to the denominators
#: of the alpha/beta updates.
LOGME_EPSILON = 1e-5


#: The reference code's iteration cap and stopping rule (thuml/LogME ``LogME.py``, ``_fit_fixed_point``:
#: ``for _ in range(11)`` at l.127, stop when ``abs(t_ - t) / t <= 1e-3`` at l.142).
LOGME_MAX_ITER = 11


LOGME_TOL = 1e-3


def feature_spectrum(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def posterior_mean_terms(sigma: np.ndarray, x2: np.ndarray, res_x2: float, t: float) -> tuple[float, float, float]:
    """gamma, m^T m and ||y - F m||^2 at t = alpha / beta for the posterior mean m = beta A^-1 F^T y,
    A = alpha I + beta F^T F (You et al. 2021, Algorithm 1), in the reference's SVD form
    (``LogME.py`` l.129-131): x2 = (U^T y)^2, and ``res_x2`` = ||y||^2 - sum x2 (l.124) is the part of y
    outside the column space of U."""
    gamma = float(np.sum(sigma / (sigma + t)))
    m2 = float(np.sum(sigma * x2 / (t + sigma) ** 2))
    res2 = float(np.sum(x2 / (1.0 + sigma / t) ** 2)) + res_x2
    return gamma, m2, res2


def log_evidence_from_terms(sigma: np.ndarray, d: int, n: int, alpha: float, beta: float, m2: float, res2: float) -> float:
    """The reference's log evidence (not divided by N; ``LogME.py`` l.144-149): D/2 log a + N/2 log b
    - 1/2 sum_k log(a + b sigma_k) - b/2 res2 - a/2 m2 - N/2 log 2 pi, You et al. (2021) eq. 2. The
    log-determinant sums over the k components of :func:`feature_spectrum` only."""
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
        gamma, m2, res2 = posterior_mean_terms(sigma, x2, res_x2, t)
        alpha = gamma / (m2 + LOGME_EPSILON)
        beta = (n - gamma) / (res2 + LOGME_EPSILON)
        if abs(alpha / beta - t) / t <= tol:
            break
    else:
        logger.debug("LogME: alpha/beta did not converge in %d iterations", max_iter)
    return log_evidence_from_terms(sigma, d, n, alpha, beta, m2, res2) / n, alpha, beta


def log_evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """The exact log evidence log p(y | F, alpha, beta) of one target vector ``y`` (N,) at given alpha,
    beta: the marginal likelihood of y ~ N(0, I/beta + F F^T/alpha), with the posterior mean of these
    alpha, beta and the log-determinant of A over all D dimensions. :func:`logme` follows the reference
    instead, whose log-determinant sums over k = min(N, D) components: for N < D its value is this one
    plus (D - k)/2 log(alpha) (divided by N). Exposed to test both against."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, d = f.shape
    sigma, u = feature_spectrum(f)
    x2 = (u.T @ y) ** 2
    _, m2, res2 = posterior_mean_terms(sigma, x2, float(y @ y - x2.sum()), alpha / beta)
    return log_evidence_from_terms(sigma, d, n, alpha, beta, m2, res2) - (d - len(sigma)) / 2.0 * math.log(alpha)


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
    (:func:`feature_spectrum`), then per column the fixed point of :func:`_fixed_point` — at most 11 iterations
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
    sigma, u = feature_spectrum(f)
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


def logme_features(encoder: Any, examples: Sequence[Mapping[str, Any]], spec: Any, *, n: int | None = 1000,
                   max_length: int = 128, batch_size: int = 32, seed: int = 0,
                   max_rows: int | None = 20000) -> LabelledFeatures:
    """Features and labels of (a sample of) the target's English dev ``examples`` for LogME.

    Run with the candidate's adapter active in ``encoder.model``. Per shape (the family's ``logme_features``):

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
    from .families import get_family
    from .retrieval import encode_texts

    def encode_sentences(texts: list[str]) -> np.ndarray:  # mean-pooled sentence (pair) features
        return encode_texts(encoder, texts, batch_size=batch_size, max_length=max_length, normalize=False)

    start = time.perf_counter()
    feats, labels, names, passes = get_family(spec).logme_features(encoder, examples, spec, max_length, batch_size,
                                                                   encode_sentences)
    rows = sample_indices(len(labels), max_rows, seed)
    return LabelledFeatures(feats[rows], labels[rows], Cost(passes, time.perf_counter() - start), names)


def logme_target_data(task: str, data_dir=None) -> tuple[Any, str]:
    """(labelled examples, "task:split") of a target's English data for LogME, which needs labels.

    The target's own English dev split first; a target without one (XQuAD: test only; XCOPA: no English;
    TyDiQA-GoldP: train and the XTREME dev used as test) uses its training source's English dev instead
    (the registry's ``train_from``, in order: xcopa -> siqa:dev, xquad -> squad_v1:dev), and failing that
    its training source's English train split (tydiqa -> tydiqa:train). Never a test split. The split
    used is returned so that it is printed and recorded. Retrieval targets have no labels: refused.
    """
    from .data import load
    from .families import get_family
    from .tasks import get_task

    spec = get_task(task)
    if not get_family(spec).LABELLED:
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


def candidate_logme_estimates(target: str, candidates: Sequence[str], encoder: Any, data_dir, artifacts_dir, n: int,
                              seed: int, skipped: dict[str, str]) -> tuple[list[Estimate], str]:
    """LogME of each candidate's trained adapter (named like the candidate) on the target's English labelled
    data (:func:`logme_target_data`), and which data that was."""
    from .tasks import get_task

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

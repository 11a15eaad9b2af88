"""Diversity of a set of intermediate tasks: mean pairwise cosine distance, log-det volume, shape entropy
(see :mod:`toolkit.selection`)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

logger = logging.getLogger(__name__)



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


@dataclass(frozen=True)
class Trend:
    """An OLS line gain = intercept + slope x diversity with a case-bootstrap 95% band (issue 17)."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    grid: np.ndarray  # diversity values the band is given at
    band: tuple[np.ndarray, np.ndarray]  # lower, upper fitted gain at each grid value
    n: int
    resamples: int


def fit_trend(x: Sequence[float], y: Sequence[float], resamples: int = 1000, seed: int = 0,
              grid_points: int = 50) -> Trend | None:
    """Least-squares line of ``y`` (gains) on ``x`` (set diversity) with its uncertainty: the points are
    resampled with replacement (case bootstrap) ``resamples`` times and refitted; the slope's 95% CI and
    the band (pointwise 2.5/97.5 percentiles of the refitted lines over a grid of ``x``) come from those
    fits. Resamples whose ``x`` are all equal (no line) are left out. None with fewer than 3 points or
    fewer than 2 distinct ``x``."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(xa) < 3 or len(np.unique(xa)) < 2 or resamples < 1:
        return None
    slope, intercept = np.polyfit(xa, ya, 1)
    rng = np.random.default_rng(seed)
    grid = np.linspace(float(xa.min()), float(xa.max()), grid_points)
    idx = rng.integers(0, len(xa), size=(resamples, len(xa)))
    xs, ys = xa[idx], ya[idx]
    xm, ym = xs.mean(axis=1, keepdims=True), ys.mean(axis=1, keepdims=True)
    sxx = ((xs - xm) ** 2).sum(axis=1)
    ok = sxx > 1e-12
    slopes = ((xs - xm) * (ys - ym)).sum(axis=1)[ok] / sxx[ok]
    intercepts = ym[ok, 0] - slopes * xm[ok, 0]
    lines = intercepts[:, None] + slopes[:, None] * grid[None, :]
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    band = (np.percentile(lines, 2.5, axis=0), np.percentile(lines, 97.5, axis=0))
    return Trend(float(slope), float(intercept), (float(lo), float(hi)), grid, band, len(xa), int(ok.sum()))

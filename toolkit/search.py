"""Exact nearest-neighbour search for the retrieval tasks (faiss ``IndexFlatIP`` / ``IndexFlatL2``, or numpy
for a check) and the OpenMP threads it runs on. Split out of :mod:`toolkit.retrieval`, which re-exports it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import faiss
import numpy as np

from .errors import ConfigError

SEARCH_METRICS = ("ip", "cosine", "l2")

#: Candidates per BLAS block in faiss's exact search (faiss default 1024). Larger blocks mean fewer
#: OpenMP synchronisations per query batch: on a loaded 2-core machine 16384 was 1.5-2.4x faster
#: (benchmarks/retrieval.py), single-threaded it is as fast; the score buffer is nq x 16384 floats.
FAISS_DATABASE_BLOCK = 16384

#: faiss's OpenMP threads for :func:`search` set by :func:`set_search_threads` (None: :func:`search_thread_count`)
_search_threads: int | None = None


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))




def set_search_threads(n: int | None = None) -> int:
    """Choose faiss's OpenMP threads for :func:`search` (default: :func:`search_thread_count`) and its BLAS
    database block (:data:`FAISS_DATABASE_BLOCK`). Returns the number of threads.

    The count applies only while a search runs. faiss and torch load the same ``libgomp.so.1``, so
    ``faiss.omp_set_num_threads`` is also torch's intra-op thread count (ATen reads ``omp_get_max_threads``):
    set for good it would silently override the process's ``OMP_NUM_THREADS`` / ``torch.set_num_threads``
    for all later model work (two pytest-xdist workers on two cores each ran 2 spinning threads, ~2.5x slower).
    """
    global _search_threads
    _search_threads = n or None
    faiss.cvar.distance_compute_blas_database_bs = FAISS_DATABASE_BLOCK
    return n or search_thread_count()


def search_thread_count() -> int:
    """``XTA_SEARCH_THREADS``, else ``OMP_NUM_THREADS`` (the process's thread budget), else the usable CPUs."""
    for var in ("XTA_SEARCH_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cpus()


@contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """OpenMP threads ``n`` for the block, then the calling thread's previous count again (torch's too)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def search(queries: np.ndarray, candidates: np.ndarray, k: int, metric: str = "ip") -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest candidates of each query with faiss: ``(scores, indices)``, both ``(nq, k)``.

    ``metric``: ``"ip"`` (inner product, descending), ``"cosine"`` (inner product of L2-normalised
    copies) or ``"l2"`` (squared Euclidean distance, ascending), as ``faiss.IndexFlatIP/L2`` return
    them. ``k`` is capped at the number of candidates.
    """
    q, c = _prepare(queries, candidates, metric)
    k = min(int(k), c.shape[0])
    if k < 1 or q.shape[0] == 0:
        return np.zeros((q.shape[0], max(k, 0)), np.float32), np.zeros((q.shape[0], max(k, 0)), np.int64)
    faiss.cvar.distance_compute_blas_database_bs = FAISS_DATABASE_BLOCK
    threads = _search_threads or search_thread_count()
    index = faiss.IndexFlatL2(c.shape[1]) if metric == "l2" else faiss.IndexFlatIP(c.shape[1])
    with _omp_threads(threads):
        index.add(c)
        scores, indices = index.search(q, k)
    return scores, indices


def exact_search_numpy(
    queries: np.ndarray, candidates: np.ndarray, k: int, metric: str = "ip", block: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Reference for :func:`search`: full score matrix per query block, ``argpartition`` + sort.

    Ties are broken by the lower candidate index. Same return convention as :func:`search`.
    """
    q, c = _prepare(queries, candidates, metric)
    k = min(int(k), c.shape[0])
    scores = np.zeros((q.shape[0], max(k, 0)), np.float32)
    indices = np.zeros((q.shape[0], max(k, 0)), np.int64)
    if k < 1:
        return scores, indices
    c_sq = (c * c).sum(axis=1) if metric == "l2" else None
    for start in range(0, q.shape[0], block):
        qb = q[start : start + block]
        sim = qb @ c.T
        if c_sq is not None:  # rank by -distance; report the distance
            sim = 2 * sim - c_sq[None, :] - (qb * qb).sum(axis=1, keepdims=True)
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < c.shape[0] else np.tile(np.arange(k), (len(qb), 1))
        top_scores = np.take_along_axis(sim, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        indices[start : start + len(qb)] = np.take_along_axis(top, order, axis=1)
        best = np.take_along_axis(top_scores, order, axis=1)
        scores[start : start + len(qb)] = -best if c_sq is not None else best
    return scores, indices


def _prepare(queries: np.ndarray, candidates: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if metric not in SEARCH_METRICS:
        raise ConfigError(f"unknown search metric {metric!r} (choose from {', '.join(SEARCH_METRICS)})")
    q = np.ascontiguousarray(queries, dtype=np.float32)
    c = np.ascontiguousarray(candidates, dtype=np.float32)
    if q.ndim != 2 or c.ndim != 2 or q.shape[1] != c.shape[1]:
        raise ConfigError(f"queries {q.shape} and candidates {c.shape} must be 2-D with the same width")
    if metric == "cosine":
        q, c = l2_normalize(q), l2_normalize(c)
    return q, c

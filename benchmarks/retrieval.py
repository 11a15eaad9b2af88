"""Benchmark: exact top-k search with faiss (``toolkit.retrieval.search``) against exact numpy search.

Two numpy baselines on the same float32 vectors:

* ``numpy argsort``: the full score matrix and a full ``argsort`` per row (what retrieval scripts such
  as XTREME's LAReQA scorer do on the whole pool);
* ``numpy argpartition``: ``toolkit.retrieval.exact_search_numpy`` (blocked matmul, ``argpartition``,
  then a sort of the k best), a strong numpy baseline.

Each of ``--repeats`` rounds runs the three methods once (so each round's methods share the load of
a shared machine); times are medians, speed-ups the median of the per-round ratios. The faiss time
includes building the index (a retrieval call builds it every time). Agreement is the mean fraction of shared top-k indices per query; the
target is a >= 5x speed-up over ``numpy argsort`` at 100k candidates with identical top-10 lists.

    python benchmarks/retrieval.py            # full: 10k/100k candidates x 384/1024-d, 1000 queries, k=10
    python benchmarks/retrieval.py --quick    # seconds; used by tests/test_retrieval.py

Writes ``--out`` (JSON, default benchmarks/results/retrieval.json) and rewrites the section between
``<!-- retrieval:start -->`` and ``<!-- retrieval:end -->`` of ``--readme`` (default benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from toolkit.io import atomic_write_json, atomic_write_text
from toolkit.retrieval import available_cpus, exact_search_numpy, search, set_search_threads

HERE = Path(__file__).resolve().parent
START, END = "<!-- retrieval:start -->", "<!-- retrieval:end -->"
TARGET_SPEEDUP = 5.0
TARGET_CANDIDATES = 100_000
FULL = {"candidates": [10_000, 100_000], "dims": [384, 1024], "queries": 1000, "k": 10, "repeats": 5}
QUICK = {"candidates": [2_000], "dims": [32, 64], "queries": 50, "k": 10, "repeats": 1}


def numpy_argsort_search(queries: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The naive exact search: every score, every row fully sorted."""
    return np.argsort(-(queries @ candidates.T), axis=1, kind="stable")[:, :k]


def paired_times(methods: dict[str, Callable[[], np.ndarray]], repeats: int) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Run every method once per round, ``repeats`` rounds: each round's methods see the same load of a
    shared machine, so per-round ratios are fairer than ratios of separately taken medians."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    results: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def median_ratio(slow: list[float], fast: list[float]) -> float:
    return statistics.median(s / f for s, f in zip(slow, fast))


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean fraction of shared indices between the top-k rows of ``a`` and ``b``."""
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a.tolist(), b.tolist())]))


def bench_one(n_cand: int, dim: int, n_query: int, k: int, repeats: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cands, queries = unit_vectors(rng, n_cand, dim), unit_vectors(rng, n_query, dim)
    methods = {
        "faiss": lambda: search(queries, cands, k)[1],
        "numpy_argsort": lambda: numpy_argsort_search(queries, cands, k),
        "numpy_argpartition": lambda: exact_search_numpy(queries, cands, k)[1],
    }
    times, found = paired_times(methods, repeats)
    return {
        "candidates": n_cand, "dim": dim, "queries": n_query, "k": k, "repeats": repeats,
        "faiss_s": statistics.median(times["faiss"]),
        "numpy_argsort_s": statistics.median(times["numpy_argsort"]),
        "numpy_argpartition_s": statistics.median(times["numpy_argpartition"]),
        "speedup_vs_argsort": median_ratio(times["numpy_argsort"], times["faiss"]),
        "speedup_vs_argpartition": median_ratio(times["numpy_argpartition"], times["faiss"]),
        "agreement": agreement(found["faiss"], found["numpy_argsort"]),
        "top_k_identical": bool(np.array_equal(found["faiss"], found["numpy_argsort"])
                                and np.array_equal(found["faiss"], found["numpy_argpartition"])),
        "times_s": times,
    }  # fmt: skip


def environment(threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(), "numpy": np.__version__, "faiss": faiss.__version__,
        "machine": platform.machine(), "processor": platform.processor() or "unknown",
        "cpus": available_cpus(), "faiss_threads": threads, "load_avg_1m_start": os.getloadavg()[0],
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One plain sentence per target row (100k candidates) saying whether the target is met."""
    lines = []
    for r in rows:
        if r["candidates"] != TARGET_CANDIDATES:
            continue
        met = r["speedup_vs_argsort"] >= TARGET_SPEEDUP and r["top_k_identical"]
        what = "met" if met else "MISSED"
        lines.append(
            f"Target (>= {TARGET_SPEEDUP:.0f}x over numpy argsort at {r['candidates']:,} candidates, identical "
            f"top-{r['k']}) {what} at {r['dim']}-d: {r['speedup_vs_argsort']:.1f}x, "
            f"top-{r['k']} {'identical' if r['top_k_identical'] else 'DIFFERENT'}."
        )
    return lines


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| candidates | dim | queries | k | faiss (s) | numpy argsort (s) | numpy argpartition (s) "
        "| speed-up vs argsort | speed-up vs argpartition | top-k agreement | identical |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n"
    )
    body = "".join(
        f"| {r['candidates']:,} | {r['dim']} | {r['queries']} | {r['k']} | {r['faiss_s']:.3f} | "
        f"{r['numpy_argsort_s']:.3f} | {r['numpy_argpartition_s']:.3f} | {r['speedup_vs_argsort']:.1f}x | "
        f"{r['speedup_vs_argpartition']:.1f}x | {100 * r['agreement']:.1f}% | {'yes' if r['top_k_identical'] else 'NO'} |\n"
        for r in rows
    )
    return head + body


def section(record: dict[str, Any]) -> str:
    env = record["environment"]
    mode = " (quick run: tiny sizes, not the reference figures)" if record["quick"] else ""
    lines = [
        START,
        "## Retrieval search: faiss vs exact numpy",
        "",
        f"`python benchmarks/retrieval.py`{mode}. Exact inner-product top-k over random unit vectors; "
        f"{record['rows'][0]['repeats']} rounds, each running all three methods once; times are medians, "
        f"speed-ups the median of the per-round ratios; faiss time includes building the flat index. "
        f"{env['cpus']} CPU(s), faiss {env['faiss']} with {env['faiss_threads']} threads, numpy {env['numpy']}, "
        f"{env['date']}; 1-minute load average {env['load_avg_1m_start']:.1f} at the start and "
        f"{env['load_avg_1m_end']:.1f} at the end (other jobs share the machine: absolute times vary, "
        f"per-round ratios less). Raw figures: `{record['out']}`.",
        "",
        table(record["rows"]).rstrip("\n"),
        "",
    ]
    lines += verdicts(record["rows"]) or ["(No 100k-candidate row in this run: the target is not evaluated.)"]
    lines += [END]
    return "\n".join(lines) + "\n"


def rewrite_readme(path: Path, block: str) -> None:
    """Replace the marked section of ``path`` (or append it; create the file if missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    atomic_write_text(path, text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests")
    p.add_argument("--out", type=Path, default=HERE / "results" / "retrieval.json")
    p.add_argument("--readme", type=Path, default=HERE / "README.md")
    p.add_argument("--repeats", type=int, default=None, help="runs per timing (median); default 5, quick 1")
    p.add_argument("--threads", type=int, default=None, help="faiss threads (default: all CPUs available)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.repeats:
        plan["repeats"] = args.repeats
    threads = set_search_threads(args.threads)
    rows = []
    for n_cand in plan["candidates"]:
        for dim in plan["dims"]:
            row = bench_one(n_cand, dim, plan["queries"], plan["k"], plan["repeats"], args.seed)
            print(f"{n_cand:>7,} x {dim:>4}-d: faiss {row['faiss_s']:.3f}s  argsort {row['numpy_argsort_s']:.3f}s  "
                  f"argpartition {row['numpy_argpartition_s']:.3f}s  -> {row['speedup_vs_argsort']:.1f}x / "
                  f"{row['speedup_vs_argpartition']:.1f}x, identical={row['top_k_identical']}", flush=True)  # fmt: skip
            rows.append(row)
    out = args.out.resolve()
    shown = out.relative_to(HERE.parent) if out.is_relative_to(HERE.parent) else out
    record = {"benchmark": "retrieval-search", "quick": args.quick, "environment": environment(threads),
              "rows": rows, "out": str(shown)}  # fmt: skip
    record["environment"]["load_avg_1m_end"] = os.getloadavg()[0]
    atomic_write_json(out, record)
    rewrite_readme(args.readme, section(record))
    print()
    print(table(rows), end="")
    for line in verdicts(rows):
        print(line)
    return record


if __name__ == "__main__":
    main()

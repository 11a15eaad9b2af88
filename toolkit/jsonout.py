"""Machine-readable output of ``xta tasks/report/eval/select --json`` (issue 20, item 6).

One JSON document on stdout, nothing else there (progress and errors go to stderr). Numbers stay numbers
(scores on the 0-100 scale the store holds); a value that is not finite is ``null`` (strict JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: dataclasses as dicts, tuples/sets as lists, paths as text, numpy scalars as numbers,
    NaN/inf as None."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if not isinstance(obj, type) and dataclasses.is_dataclass(obj):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in (sorted(obj) if isinstance(obj, (set, frozenset)) else obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if getattr(obj, "ndim", None) == 0 and callable(getattr(obj, "item", None)):  # numpy / torch scalar
        return to_jsonable(obj.item())
    if callable(getattr(obj, "tolist", None)):  # numpy array (a 1-element one too), torch tensor
        return to_jsonable(obj.tolist())
    return str(obj)


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False)


def summary_json(benchmark: str, model: str, setup: str, gathered: Any, summary: Any) -> dict[str, Any]:
    """What ``xta report`` shows: per task the setup read, the per-language main scores, the failures and
    the task score (None unless every expected language has one), the category and overall means."""
    tasks = {}
    for name, ts in summary.tasks.items():
        tasks[name] = {
            "category": ts.category, "setup_id": gathered.setups.get(name), "score": ts.score,
            "partial_mean": ts.partial_mean, "expected_languages": list(ts.expected), "missing_languages": ts.missing,
            "scores": dict(sorted(ts.per_language.items())), "failed": dict(sorted(ts.failed.items())),
        }
    return {"benchmark": benchmark, "model": model, "setup": setup, "tasks": tasks,
            "categories": summary.categories, "overall_category_mean": summary.overall_category_mean,
            "overall_task_mean": summary.overall_task_mean}


def selection_json(run: Any, target: str, estimator: str) -> dict[str, Any]:
    """What ``xta select`` shows: the estimates best first, skipped candidates, the chosen set and its command."""
    sel = run.selection
    estimates = [{"candidate": e.candidate, "score": e.score, "data": run.data_used.get(e.candidate),
                  "cost": e.cost.as_dict() if e.cost else None}
                 for e in sorted(run.estimates, key=lambda e: -e.score)]
    return {"target": target, "estimator": estimator, "objective": sel.objective, "target_data": run.data_used.get(target),
            "estimates": estimates, "skipped": run.skipped, "chosen": list(sel.chosen), "ranking": list(sel.ranking),
            "diversity": sel.diversity, "logme_data": run.logme_data, "command": sel.command,
            "overlaps": getattr(run, "overlaps", {}), "sizes": getattr(run, "sizes", {}),
            "command_caveat": getattr(run, "command_caveat", None)}

"""Which official scoring rule a retrieval task follows (no torch, no faiss: ``xta export`` needs it to
write text files; :mod:`toolkit.retrieval` re-exports it)."""

from __future__ import annotations

from .errors import UnknownTask

#: A retrieval task is scored by the rule of its declared main metric: bitext accuracy (Tatoeba-style,
#: also the CLDR name-translation task), BUCC mining F1, or answer-retrieval mAP@20 (LAReQA).
_KIND_BY_METRIC = {"accuracy": "tatoeba", "bucc_f1": "bucc2018", "map@20": "lareqa"}


def retrieval_kind(task_name: str) -> str:
    """``tatoeba``, ``bucc2018`` or ``lareqa``: which official scoring rule a retrieval task follows."""
    from .tasks import get_task

    spec = get_task(task_name)
    if spec.shape != "retrieval" or spec.main_metric not in _KIND_BY_METRIC:
        raise UnknownTask(task_name, [t for t in _KIND_BY_METRIC.values()])
    return _KIND_BY_METRIC[spec.main_metric]

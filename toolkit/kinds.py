"""Which official scoring rule a retrieval task follows, by task name (no torch, no faiss;
:mod:`toolkit.retrieval` re-exports it). Code holding the task reads ``TaskSpec.retrieval_rule`` itself."""

from __future__ import annotations

from .errors import UnknownTask


def retrieval_kind(task_name: str) -> str:
    """``tatoeba``, ``bucc2018`` or ``lareqa``: the official scoring rule a retrieval task declares
    (``TaskSpec.retrieval_rule``: bitext accuracy as Tatoeba, also the CLDR name-translation task; BUCC
    mining F1; answer-retrieval mAP@20 as LAReQA, also Mewsli-X)."""
    from .tasks import get_task
    from .tasks.spec import RETRIEVAL_RULES

    spec = get_task(task_name)
    if spec.retrieval_rule is None:
        raise UnknownTask(task_name, list(RETRIEVAL_RULES))
    return spec.retrieval_rule

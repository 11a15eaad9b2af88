"""Data loading: ``load(task, split, lang)`` -> normalised examples (see toolkit.tasks.spec for schemas).

(Being written; the RetrievalData container below is the contract for retrieval tasks.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetrievalData:
    """A retrieval problem in one language: queries, a candidate pool and the gold relevance.

    * tatoeba: queries = sentences in ``lang``, candidates = their English translations, gold = same line.
    * bucc2018: queries = ``lang`` sentences, candidates = English sentences, gold = the gold pairs
      (most queries have no gold; mining must also decide *whether* to pair).
    * lareqa: queries = questions in ``lang``; candidates = answer sentences of *all* languages of the
      pool (XQuAD-R), gold = the sentences that hold the answer, one per pool language.
    """

    query_ids: list[str]
    queries: list[str]
    candidate_ids: list[str]
    candidates: list[str]
    gold: dict[str, set[str]]  # query id -> relevant candidate ids
    candidate_contexts: list[str] | None = None  # lareqa: the paragraph of each candidate sentence
    meta: dict = field(default_factory=dict)

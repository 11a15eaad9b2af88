"""Mewsli-X readers in the official format (google-research/xtreme third_party/utils_mewslix.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .datafiles import RetrievalData, companion_paths, iter_jsonl_objects, load_json_file, require_field
from .errors import DataError

_MEWSLIX_MARKUP = re.compile(r"\{(.*?)\}")  # utils_mewslix.py lines 20-24: "{" / "}" and their escape


def _mx_spans(value: Any, text: str, path: Path, line: int, what: str) -> list[tuple[int, int]]:
    """Span.from_json + validate_offsets_relative_to_context (utils_mewslix.py lines 51-75)."""
    if not isinstance(value, list):
        raise DataError(f"{what}: expected a list of {{start, end}} spans", path, line)
    spans = []
    for span in value:
        start, end = (span.get("start"), span.get("end")) if isinstance(span, dict) else (None, None)
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end or start >= len(text) or end > len(text):
            raise DataError(f"{what}: span {span!r} is not a valid [start, end) inside a text of {len(text)} characters", path, line)
        spans.append((start, end))
    return spans


def _mx_normalize(text: str) -> str:
    # utils_mewslix.py lines 602 and 617: newlines (str.splitlines) to spaces, one double space halved
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mewslix_entity_text(entity: Mapping[str, Any], path: Path, line: int) -> tuple[str, str]:
    """(entity_id, text): ``preprocess_entity_description`` (utils_mewslix.py lines 613-617): the
    description's annotated sentences joined by spaces, normalised."""
    entity_id = require_field(entity, "entity_id", path, line)
    description = require_field(entity, "description", path, line)
    for key in ("title", "description_language", "description_url"):
        require_field(entity, key, path, line)
    spans = _mx_spans(entity.get("sentence_spans"), description, path, line, "sentence_spans")
    return entity_id, _mx_normalize(" ".join(description[s:e] for s, e in spans))


def mewslix_query(context: Mapping[str, Any], mention: Mapping[str, Any], path: Path, line: int) -> str:
    """``preprocess_mention`` (utils_mewslix.py lines 562-610): the sentence holding the mention
    (``truncate(window_size=0)``, lines 448-481), the mention wrapped as `` { mention } `` with earlier
    ``{...}`` escaped to ``(...)``, and the mention text prepended: ``"Smith: ... { Smith } ..."``."""
    text = require_field(context, "text", path, line)
    span = mention.get("mention_span")
    if not isinstance(span, dict) or not isinstance(span.get("text"), str):
        raise DataError("mention_span: expected {start, end, text}", path, line)
    (start, end), = _mx_spans([span], text, path, line, "mention_span")
    if text[start:end] != span["text"]:  # TextSpan.validate_relative_to_context (lines 101-107)
        raise DataError(f"mention_span text {span['text']!r} != context[{start}:{end}] {text[start:end]!r}", path, line)
    sentences = _mx_spans(context.get("sentence_spans"), text, path, line, "context.sentence_spans")
    focus = next(((s, e) for s, e in sentences if s <= start < e and s < end <= e), None)  # Span.locate_in, lines 77-93
    if focus is None:  # the official code asserts here (line 582)
        raise DataError(f"mention {mention.get('example_id')!r} lies in no single sentence of its context", path, line)
    s, e = focus
    left, right = _MEWSLIX_MARKUP.sub(r"(\1)", text[s:start]), _MEWSLIX_MARKUP.sub(r"(\1)", text[end:e])
    return _mx_normalize(f"{span['text']}: {left} {{ {span['text']} }} {right}")


def _mx_candidates(paths: Sequence[Path]) -> tuple[list[str], list[str], list[str]]:
    ids, texts, langs, seen = [], [], [], set()
    for path, number, obj in iter_jsonl_objects(paths):
        entity_id, text = mewslix_entity_text(obj, path, number)
        if entity_id in seen:
            raise DataError(f"entity {entity_id!r} appears twice in the candidate set", path, number)
        seen.add(entity_id)
        ids.append(entity_id)
        texts.append(text)
        langs.append(obj["description_language"])
    if not ids:
        raise DataError("the candidate set is empty", paths[0] if paths else None)
    return ids, texts, langs


def read_mewslix(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> RetrievalData:
    """Mewsli-X mentions in ``lang`` against the whole candidate set (``candidates``, required).

    Reads the release file (``wikinews_mentions-{dev,test}.jsonl``, every language: the mentions whose
    ``context.language`` is ``lang`` are kept) or XTREME's per-language shards
    (``wikinews_mentions/{split}-{lang}.jsonl``, utils_preprocess.py ``mewslix_preprocess`` lines
    514-570). Gold = the mention's ``entity_id``, or, where XTREME removed it (test shards), the
    ``gold`` option's ``wikinews_labels/{split}-{lang}.json`` ``{example_id: [entity_id]}``; a mention
    with neither has no gold (scoring then refuses). One query per mention
    (``unnest_to_single_mention_per_context``), as in third_party/evaluate_retrieval.py lines 670-695.
    """
    cand_paths = companion_paths(options, "candidates")
    if not cand_paths:
        raise DataError("mewslix needs the candidate set: option 'candidates' (candidate_set_entities.jsonl)", paths[0] if paths else None)
    cand_ids, cand_texts, cand_langs = _mx_candidates(cand_paths)
    labels: dict[str, str] = {}
    for gold_path in companion_paths(options, "gold"):
        obj = load_json_file(gold_path)
        if not isinstance(obj, dict) or not all(isinstance(v, list) and v and isinstance(v[0], str) for v in obj.values()):
            raise DataError("expected {example_id: [entity_id]} (XTREME's wikinews_labels)", gold_path)
        labels.update({k: v[0].strip() for k, v in obj.items() if v[0].strip()})  # utils_mewslix.py line 677
    known = set(cand_ids)
    data = RetrievalData([], [], cand_ids, cand_texts, {}, meta={"lang": lang, "candidate_lang": "en"},
                         candidate_languages=cand_langs)
    for path, number, obj in iter_jsonl_objects(paths):
        context, mentions = obj.get("context"), obj.get("mentions")
        if not isinstance(context, dict) or not isinstance(mentions, list):
            raise DataError("expected a ContextualMentions line {context: {...}, mentions: [...]}", path, number)
        for key in ("document_title", "document_url", "document_id", "language"):
            require_field(context, key, path, number)
        if context["language"] != lang:
            continue
        for mention in mentions:
            if not isinstance(mention, dict):
                raise DataError("a mention must be an object", path, number)
            example_id = require_field(mention, "example_id", path, number)
            if example_id in data.gold or example_id in data.query_ids:
                raise DataError(f"example_id {example_id!r} appears twice", path, number)
            data.query_ids.append(example_id)
            data.queries.append(mewslix_query(context, mention, path, number))
            gold = (mention.get("entity_id") or "").strip() or labels.get(example_id, "")
            if gold:
                if gold not in known:
                    raise DataError(f"gold entity {gold!r} of {example_id!r} is not in the candidate set", path, number)
                data.gold[example_id] = {gold}
    if not data.query_ids:
        raise DataError(f"no mention with context.language {lang!r}", paths[0] if paths else None)
    return data


def read_mewslix_pairs(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> RetrievalData:
    """``wikipedia_pairs-{train,dev}.jsonl``: MentionEntityPair lines (utils_mewslix.py lines 484-512) as
    a retrieval problem: each mention (``preprocess_mention``) against the pairs' entities
    (``preprocess_entity_description``), relevant = its own entity."""
    data = RetrievalData([], [], [], [], {}, meta={"lang": lang, "candidate_lang": "en"})
    index: dict[str, int] = {}
    for path, number, obj in iter_jsonl_objects(paths):
        cm, entity = obj.get("contextual_mention"), obj.get("entity")
        if not isinstance(cm, dict) or not isinstance(cm.get("context"), dict) or not isinstance(cm.get("mention"), dict) or not isinstance(entity, dict):
            raise DataError("expected a MentionEntityPair line {contextual_mention: {context, mention}, entity}", path, number)
        entity_id, text = mewslix_entity_text(entity, path, number)
        if entity_id not in index:
            index[entity_id] = len(data.candidate_ids)
            data.candidate_ids.append(entity_id)
            data.candidates.append(text)
        example_id = require_field(cm["mention"], "example_id", path, number)
        if example_id in data.gold:
            raise DataError(f"example_id {example_id!r} appears twice", path, number)
        data.query_ids.append(example_id)
        data.queries.append(mewslix_query(cm["context"], cm["mention"], path, number))
        data.gold[example_id] = {entity_id}
    return data

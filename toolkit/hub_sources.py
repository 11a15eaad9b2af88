"""Hugging Face Hub sources of the registry's tasks: loading a split with ``datasets`` (pinned revision,
never ``trust_remote_code``, offline-aware) and converting its rows to xta's schemas
(:data:`HUB_CONVERTERS`); local files are read by :mod:`toolkit.readers`."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .datafiles import (
    Examples,
    Loaded,
    RetrievalData,
    check_choice_index,
    check_text,
    describe_expected_paths,
    fill_pattern,
    pattern_placeholders,
)
from .errors import ConfigError, DataError, DataUnavailable

log = logging.getLogger(__name__)


_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


_TRUE = {"1", "on", "yes", "true"}


@dataclass
class _HubContext:
    """What a Hub converter needs: the source, the task, the language and a name for messages."""

    source: Any  # HubSource
    spec: Any  # TaskSpec
    lang: str
    where: str
    features: Mapping[str, Any] = field(default_factory=dict)

    def col(self, name: str, *fallbacks: str, row: Mapping[str, Any] | None = None) -> str:
        if name in self.source.columns:
            return self.source.columns[name]
        for candidate in (name, *fallbacks):
            if row is None or candidate in row:
                return candidate
        return name

    def class_names(self, column: str) -> tuple[str, ...] | None:
        if self.source.label_names:
            return tuple(self.source.label_names)
        feature = self.features.get(column)
        for _ in range(3):  # ClassLabel, or List/Sequence(ClassLabel)
            if feature is None or hasattr(feature, "names"):
                break
            feature = getattr(feature, "feature", None)
        names = getattr(feature, "names", None)
        return tuple(names) if names else None


def _get(row: Mapping[str, Any], column: str, ctx: _HubContext, i: int) -> Any:
    if column not in row:
        raise DataError(f"column {column!r} not in the dataset (columns: {', '.join(row)}); set 'columns' in the hub source", ctx.where, i + 1)
    return row[column]


def _hub_label(raw: Any, names: tuple[str, ...] | None, ctx: _HubContext, i: int) -> str | None:
    if raw is None or isinstance(raw, int) and raw < 0:
        return None  # unlabelled row (-1 in GLUE/SNLI-style datasets)
    if isinstance(raw, int) and names:
        if raw >= len(names):
            raise DataError(f"label index {raw} is outside label_names ({len(names)} names)", ctx.where, i + 1)
        raw = names[raw]
    label = str(raw)
    if ctx.spec.labels and not ctx.spec.open_labels and label not in ctx.spec.labels:
        raise DataError(f"label {label!r} is not one of the task's labels ({', '.join(ctx.spec.labels)})", ctx.where, i + 1)
    return label


def _make_classification(pair: bool):
    """A (sentence or sentence-pair) classification converter: the format names which, not the task's shape."""

    def convert(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
        return _hub_classification(rows, ctx, pair)

    return convert


def _hub_classification(rows: Iterable[Mapping[str, Any]], ctx: _HubContext, pair: bool) -> Examples:
    out, dropped = [], 0
    for i, row in enumerate(rows):
        label_col = ctx.col("label", row=row)
        label = _hub_label(_get(row, label_col, ctx, i), ctx.class_names(label_col), ctx, i)
        if label is None:
            dropped += 1
            continue
        text_col = ctx.col("text", "premise", "sentence1", "sentence", row=row)
        pair_col = ctx.col("text_pair", "hypothesis", "sentence2", row=row)
        out.append({"id": row.get(ctx.col("id", row=row)), "text": _get(row, text_col, ctx, i),
                    "text_pair": _get(row, pair_col, ctx, i) if pair else None, "label": label})
    if dropped:
        log.info("%s: dropped %d unlabelled row(s)", ctx.where, dropped)
    return out


def _hub_tagging(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
    out = []
    for i, row in enumerate(rows):
        tag_col = ctx.col("tags", "ner_tags", "pos_tags", "upos", row=row)
        names = ctx.class_names(tag_col)
        tags = [_hub_label(t, names, ctx, i) for t in _get(row, tag_col, ctx, i)]
        out.append({"id": row.get(ctx.col("id", row=row)), "tokens": list(_get(row, ctx.col("tokens", row=row), ctx, i)), "tags": tags})
    return out


def _hub_ud_tagging(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
    """Universal Dependencies rows from the Hub (``universal-dependencies/universal_dependencies``).

    Those rows hold every CoNLL-U line: a multiword token's surface line (``zum``, UPOS ``_``, head
    ``None``) precedes its sub-words, and empty nodes appear too. The rows carry no word ids, so the span
    of a multiword token -- which XTREME's fused-form rule needs (see :func:`read_conllu`) -- cannot be
    recovered: the ``_``-tagged lines are dropped and the sub-words kept (UD's own tokenisation), with the
    count logged. This is a documented deviation from XTREME; the local CoNLL-U files
    (``--data-dir``) follow XTREME exactly. A row left with no word is skipped.
    """
    out, dropped = [], 0
    for i, row in enumerate(rows):
        tag_col = ctx.col("tags", "upos", "pos_tags", row=row)
        names = ctx.class_names(tag_col)
        raw = list(_get(row, tag_col, ctx, i))
        tokens = list(_get(row, ctx.col("tokens", row=row), ctx, i))
        if len(raw) != len(tokens):
            raise DataError(f"{len(tokens)} tokens but {len(raw)} tags", ctx.where, i + 1)
        named = [names[t] if isinstance(t, int) and names and 0 <= t < len(names) else t for t in raw]
        keep = [j for j, t in enumerate(named) if str(t) != "_"]
        dropped += len(raw) - len(keep)
        if keep:
            out.append({"id": row.get(ctx.col("id", "idx", row=row)), "tokens": [tokens[j] for j in keep],
                        "tags": [_hub_label(raw[j], names, ctx, i) for j in keep]})
    if dropped:
        log.info("%s: dropped %d multiword-token/empty-node line(s) tagged '_' (sub-words kept)", ctx.where, dropped)
    return out


def _hub_qa(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
    out = []
    for i, row in enumerate(rows):
        answers = _get(row, ctx.col("answers", row=row), ctx, i)
        if isinstance(answers, list):  # a list of {text, answer_start}
            answers = {"text": [a["text"] for a in answers], "answer_start": [a["answer_start"] for a in answers]}
        context = _get(row, ctx.col("context", row=row), ctx, i)
        texts, starts = list(answers["text"]), [int(s) for s in answers["answer_start"]]
        for text, start in zip(texts, starts):  # as read_squad_json: the span lies inside the context
            if text and not 0 <= start <= len(context) - len(text):
                raise DataError(f"answer span {start}..{start + len(text)} lies outside the context "
                                f"({len(context)} characters)", ctx.where, i + 1)
        out.append({"id": str(_get(row, ctx.col("id", row=row), ctx, i)), "title": row.get(ctx.col("title", row=row)) or "",
                    "context": context, "question": _get(row, ctx.col("question", row=row), ctx, i),
                    "answers": {"text": texts, "answer_start": starts}})
    return out


_CHOICE_GROUPS = (("choice1", "choice2"), ("answerA", "answerB", "answerC"), ("answer0", "answer1", "answer2", "answer3"))


def _hub_choices(row: Mapping[str, Any], ctx: _HubContext, i: int, default: str | None) -> list[str]:
    spec = ctx.source.columns.get("choices", default)
    if spec and "," in spec:
        return [_get(row, c.strip(), ctx, i) for c in spec.split(",")]
    if spec:
        value = _get(row, spec, ctx, i)
        return list(value["text"] if isinstance(value, Mapping) else value)
    for group in _CHOICE_GROUPS:
        if all(c in row for c in group):
            return [row[c] for c in group]
    raise DataError("cannot find the answer choices; set columns.choices (a list column or 'colA,colB,...')", ctx.where, i + 1)


def _mc_label(raw: Any, names: Sequence[str] | None, ctx: _HubContext, i: int) -> int | None:
    """A choice index from a raw Hub label; None for an unlabelled (test) row."""
    if raw is None or str(raw).strip() in ("", "-1"):
        return None
    if names:
        if str(raw) not in names:
            raise DataError(f"label {raw!r} is not among label_names {tuple(names)}", ctx.where, i + 1)
        return list(names).index(str(raw))
    if not re.fullmatch(r"[0-9]{1,9}", str(raw).strip()):
        raise DataError(f"label {str(raw)[:40]!r} is not an index; set label_names", ctx.where, i + 1)
    return int(raw)


def _make_mc(context: tuple[str, ...] = ("context", "premise", "ctx"), choices: str | None = None,
             label: tuple[str, ...] = ("label", "answerKey", "correct"), label_names: tuple[str, ...] | None = None):
    """A multiple-choice converter; ``label_names`` (or the source's) lists raw label values in choice order."""

    def convert(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
        out, dropped = [], 0
        for i, row in enumerate(rows):
            opts = _hub_choices(row, ctx, i, choices)
            raw = _get(row, ctx.col("label", *label, row=row), ctx, i)
            index = _mc_label(raw, ctx.source.label_names or label_names, ctx, i)
            if index is None:
                dropped += 1
                continue
            out.append({"id": row.get(ctx.col("id", "idx", row=row)), "context": row.get(ctx.col("context", *context, row=row)) or "",
                        "question": row.get(ctx.col("question", row=row)) or "", "choices": opts,
                        # check_choice_index's ``path`` only names the place in its DataError, as ctx.where does
                        "label": check_choice_index(index, len(opts), ctx.where, i + 1)})
        if dropped:
            log.info("%s: dropped %d unlabelled row(s)", ctx.where, dropped)
        return out

    return convert


def _hub_tatoeba(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> RetrievalData:
    """google/xtreme ``tatoeba.<xxx>``: one row per pair, source = the non-English side."""
    rows = list(rows)
    queries = [_get(r, ctx.col("query", "source_sentence", row=r), ctx, i) for i, r in enumerate(rows)]
    cands = [_get(r, ctx.col("candidate", "target_sentence", row=r), ctx, i) for i, r in enumerate(rows)]
    ids = [f"{ctx.lang}-{i}" for i in range(len(rows))]
    cand_ids = [f"en-{i}" for i in range(len(rows))]
    return RetrievalData(ids, queries, cand_ids, cands, {q: {c} for q, c in zip(ids, cand_ids)},
                         meta={"lang": ctx.lang, "candidate_lang": "en", "parallel": True})


def _hub_refuse(reason: str) -> Callable[[Iterable[Mapping[str, Any]], _HubContext], Loaded]:
    def convert(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Loaded:
        raise DataUnavailable(f"{ctx.where}: {reason}; use the original files with --data-dir / XTA_DATA_DIR")

    return convert


#: converter name (``HubSource.format``, default = the task's shape) -> converter(rows, ctx)
HUB_CONVERTERS: dict[str, Callable[[Iterable[Mapping[str, Any]], _HubContext], Loaded]] = {
    "classification": _make_classification(pair=False),
    "pair_classification": _make_classification(pair=True),
    "tagging": _hub_tagging,
    "ud_tagging": _hub_ud_tagging,  # universal_dependencies rows: '_' lines of multiword tokens dropped
    "extractive_qa": _hub_qa,
    "multiple_choice": _make_mc(),
    "siqa": _make_mc(label_names=("1", "2", "3")),  # allenai/social_i_qa: label '1'|'2'|'3'
    "cosmosqa": _make_mc(),  # allenai/cosmos_qa: answer0..answer3, label 0..3
    "copa": _make_mc(),  # super_glue copa: premise, choice1, choice2, question, label (-1 = test)
    "commonsenseqa": _make_mc(context=(), choices="choices", label_names=tuple("ABCDE")),  # tau/commonsense_qa
    "hellaswag": _make_mc(context=("ctx",), choices="endings"),  # Rowan/hellaswag: label '0'..'3', '' = test
    "tatoeba": _hub_tatoeba,
    "bucc": _hub_refuse("the Hub copy (google/xtreme bucc18) holds only the gold pairs, not the corpora to mine"),
    "lareqa": _hub_refuse("the Hub copy of XQuAD-R has no sentence_breaks, which LAReQA's candidates need"),
}


def split_hub_sources(source_split: Any, lang: str) -> tuple:
    hub = source_split.hub_overrides.get(lang) if getattr(source_split, "hub_overrides", None) else None
    hub = hub or source_split.hub
    if hub is None:
        return ()
    return hub if isinstance(hub, tuple) else (hub,)


def _hub_name(hub: Any, values: Mapping[str, str]) -> str:
    config = fill_pattern(hub.config, values, "config") if hub.config else None
    return f"{hub.path}" + (f" (config {config})" if config else "")


def load_from_hub(spec: Any, source_split: Any, split: str, lang: str, root: Path | None) -> Loaded:
    sources = split_hub_sources(source_split, lang)
    expected = describe_expected_paths(source_split, split, lang, root)
    if not sources:
        where = f"no file matched {expected}" if root else "no data directory is set"
        raise DataUnavailable(f"{spec.name} {split} {lang}: {where} and the task has no Hub source; "
                              f"put the original files at {describe_expected_paths(source_split, split, lang, None)} "
                              "and pass --data-dir DIR or set XTA_DATA_DIR=DIR")
    parts = [_load_one_hub(spec, hub, split, lang, expected, root) for hub in sources]
    if len(parts) == 1 or isinstance(parts[0], RetrievalData):
        data = parts[0]
    else:
        data = [ex for part in parts for ex in cast(Examples, part)]  # one split's sources share a shape
    if isinstance(data, list):
        for i, ex in enumerate(data):
            if ex.get("id") in (None, ""):
                ex["id"] = f"{lang}-{i}"
            else:
                ex["id"] = str(ex["id"])
    return data


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in _OFFLINE_VARS)


def _load_one_hub(spec: Any, hub: Any, split: str, lang: str, expected: str, root: Path | None) -> Loaded:
    values = pattern_placeholders(lang, split, hub.lang_codes)
    name = _hub_name(hub, values)
    hub_split = fill_pattern(hub.split, values, "split")
    where = f"hf://{hub.path}" + (f"/{fill_pattern(hub.config, values, 'config')}" if hub.config else "") + f"[{hub_split}]"
    rows, features = _hub_rows(hub, values, hub_split, name, expected, root, spec, split, lang)
    rows = _hub_filter(rows, hub, values)
    return convert_hub_rows(rows, _HubContext(hub, spec, lang, where, features))


def convert_hub_rows(rows: list[dict], ctx: _HubContext) -> Loaded:
    """Hub rows -> normalised examples by the source's converter; rows of another shape than the converter
    expects (a hostile or changed dataset) are one DataError naming the dataset, never a KeyError."""
    fmt = ctx.source.format or ctx.spec.shape
    converter = HUB_CONVERTERS.get(fmt)
    if converter is None:
        raise ConfigError(f"task {ctx.spec.name!r}: no Hub converter {fmt!r} (known: {', '.join(sorted(HUB_CONVERTERS))})")
    try:
        out = converter(rows, ctx)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a dataset of another shape
        raise DataError(f"rows of an unexpected shape ({type(exc).__name__}: {str(exc)[:160]}); set 'columns' in the "
                        "hub source or use the original files with --data-dir", ctx.where) from None
    if isinstance(out, list):  # NUL and lone surrogates, as in local files (row numbers from 1)
        for i, ex in enumerate(out):
            check_text(ex, ctx.where, i + 1)
    else:
        check_text([out.queries, out.candidates], ctx.where)
    return out


def _hub_rows(hub: Any, values: Mapping[str, str], hub_split: str, name: str, expected: str,
              root: Path | None, spec: Any, split: str, lang: str) -> tuple[list[dict], Mapping[str, Any]]:
    """Rows of one Hub dataset; offline or unreachable Hub -> DataUnavailable with the local recipe."""
    import datasets

    config = fill_pattern(hub.config, values, "config") if hub.config else None
    local_hint = (f"no file matched {expected}" if root else
                  f"to use local files put them at {expected} and pass --data-dir DIR or set XTA_DATA_DIR=DIR")
    try:
        from .tasks.hub_revisions import PARQUET_EXPORT

        if hub.revision == PARQUET_EXPORT and config:  # the export is <config>/<split>/*.parquet, no config metadata
            ds = datasets.load_dataset(hub.path, data_dir=config, split=hub_split, revision=hub.revision)
        else:
            ds = datasets.load_dataset(hub.path, config, split=hub_split, revision=hub.revision)
    except (OSError, ConnectionError) as exc:
        if _hub_offline():
            state = "offline mode is on (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE) and it is not in the HF cache"
        elif isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
            state = "the Hub is unreachable"
        else:
            state = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        raise DataUnavailable(f"{spec.name} {split} {lang}: Hugging Face dataset {name} split {hub_split!r} is not "
                              f"available ({state}); {local_hint}") from None
    except ValueError as exc:
        raise ConfigError(f"Hugging Face dataset {name} split {hub_split!r}: {str(exc).splitlines()[0]}") from None
    # one split, not streamed: a Dataset, whose rows are dicts (load_dataset is typed as any of its four results)
    return cast(list[dict], list(ds)), dict(ds.features)


def _hub_filter(rows: list[dict], hub: Any, values: Mapping[str, str]) -> list[dict]:
    """Keep rows whose column equals the value; a value ending in '*' is a prefix (TyDiQA ids)."""
    for column, template in hub.filter.items():
        want = fill_pattern(str(template), values, "filter")
        if want.endswith("*"):
            rows = [r for r in rows if str(r.get(column, "")).startswith(want[:-1])]
        else:
            rows = [r for r in rows if str(r.get(column, "")) == want]
    return rows

"""Data loading: ``load(task, split, lang)`` -> normalised examples (schemas in :mod:`toolkit.tasks.spec`).

Where the data comes from (ARCHITECTURE.md, "data.py"):

1. **A local mirror of the original files** when a data directory is given (``data_dir`` argument, else
   the ``XTA_DATA_DIR`` environment variable). Each :class:`~toolkit.tasks.spec.LocalSource` of the
   split is tried in order; its pattern gets ``{lang}`` (XTREME code), ``{code}`` (``lang_codes``),
   ``{name}`` (English language name) and ``{split}``; all glob matches are read in sorted order and
   concatenated (XTREME merges every UD treebank of a language this way); the first alternative with
   matches wins. The reader named by ``LocalSource.format`` (:data:`READERS`) parses the files.
2. **Otherwise the Hugging Face Hub**, ``datasets.load_dataset(path, config, split=..., revision=...)``
   (never ``trust_remote_code``), converted to the same schema by :data:`HUB_CONVERTERS`.
3. Neither: :class:`~toolkit.errors.DataUnavailable` naming the dataset and the local path expected.

Every reader validates what it reads: a malformed row, a label outside the task's label set, bytes
that are not UTF-8 or an empty file raise :class:`~toolkit.errors.DataError` naming the file and line.

Reader contract: ``READERS[format](paths, lang, options) -> list[dict] | RetrievalData``. ``options`` is
``LocalSource.options`` plus ``labels`` (the task's label set, when it has a closed one). Options that
name companion files (see :data:`PATH_OPTIONS`) arrive resolved to lists of paths:

* ``tatoeba``: ``english`` -- the English side (default: the query file with its suffix replaced by ``eng``).
* ``bucc``: ``english`` (``ID<TAB>sentence``) and ``gold`` (``srcID<TAB>enID``) files.
* ``lareqa``: ``pool`` -- every XQuAD-R file of the candidate pool (language = file stem); optional
  ``pool_languages`` restricts the pool to a list of codes.
* ``mewslix``: ``candidates`` -- the candidate set (``candidate_set_entities.jsonl``); optional ``gold``
  -- XTREME's ``wikinews_labels/{split}-{lang}.json`` for mentions whose ``entity_id`` was removed.
* ``xtreme_tsv_pair``: optional ``labelled`` (True: every row must carry a label; default: a file is
  either all 3-column rows or all 2-column rows -- XTREME's test TSVs of XNLI/PAWS-X carry no labels,
  and those examples get ``label=None``).
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datafiles import PATH_OPTIONS, Examples, Loaded, Reader, RetrievalData, fill_pattern, pattern_placeholders  # noqa: F401 (re-exported types)
from .errors import ConfigError, DataError, UnknownLanguage
from .hub_sources import HUB_CONVERTERS, load_from_hub, split_hub_sources
from .readers import READERS

log = logging.getLogger(__name__)

__all__ = [
    "RetrievalData",
    "READERS",
    "HUB_CONVERTERS",
    "PATH_OPTIONS",
    "load",
    "data_files",
    "file_hashes",
    "available_languages",
    "provenance",
    "resolve_data_dir",
    "clear_cache",
]


# --------------------------------------------------------------------------------------- file basics


# ---------------------------------------------------------------------------------------- readers


# ---------------------------------------------------------------------------------------- mewslix
#
# Mewsli-X in the official format: google-research/xtreme third_party/utils_mewslix.py (adapted from
# google-research dense_representations_for_entity_retrieval/mel/mewsli_x/schema.py). Mentions are
# JSON lines of ContextualMentions {context: {document_title, document_url, document_id, language, text,
# sentence_spans, section_title?}, mentions: [{example_id, mention_span: {start, end, text}, entity_id,
# metadata?}]}; candidates are JSON lines of Entity {entity_id, title, description, sentence_spans,
# description_language, description_url}; training pairs are MentionEntityPair {contextual_mention:
# {context, mention}, entity}.


# ------------------------------------------------------------------------------ Hub conversion


# ------------------------------------------------------------------------------------ resolution


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local mirror directory: the argument, else ``XTA_DATA_DIR``, else None."""
    value = data_dir if data_dir is not None else os.environ.get("XTA_DATA_DIR") or None
    return Path(value).expanduser() if value is not None else None


def _glob(data_dir: Path, pattern: str) -> list[Path]:
    """Files under ``data_dir`` matching the registry's ``pattern``. Only the pattern is a glob: the
    user's folder is taken literally (a data dir named ``data[v2]`` is not a character class)."""
    return sorted(data_dir / p for p in glob.glob(pattern, root_dir=data_dir) if (data_dir / p).is_file())


def _spec_and_source(task: Any, split: str, lang: str) -> tuple[Any, Any]:
    from .tasks import get_task

    spec = get_task(task)
    if split not in spec.splits:
        raise ConfigError(f"task {spec.name!r} has no split {split!r} (available: {', '.join(spec.splits) or 'none'})")
    known = spec.split_languages(split)
    if lang not in known:
        raise UnknownLanguage(lang, known, task=f"{spec.name} {split}")
    return spec, spec.splits[split]


@dataclass
class _LocalMatch:
    source: Any  # LocalSource
    files: list[Path]
    options: dict[str, Any]
    companions: list[Path]


def _find_local(source_split: Any, split: str, lang: str, data_dir: Path) -> _LocalMatch | None:
    """The first LocalSource alternative with matching files, with its options resolved."""
    for source in source_split.local:
        values = pattern_placeholders(lang, split, source.lang_codes)
        files = _glob(data_dir, fill_pattern(source.pattern, values, "pattern"))
        if not files:
            continue
        options, companions = dict(source.options), []
        for key in PATH_OPTIONS.get(source.format, ()):
            if key in options:
                pattern = fill_pattern(str(options[key]), values, f"option {key}")
                found = _glob(data_dir, pattern)
                if not found:
                    raise DataError(f"companion file(s) {pattern!r} ({key}) not found beside {files[0].name}", data_dir / pattern)
                options[key] = found
                companions.extend(p for p in found if p not in files and p not in companions)
        return _LocalMatch(source, files, options, companions)
    return None


# ---------------------------------------------------------------------------------------- cache

_CACHE: OrderedDict[tuple, Loaded] = OrderedDict()
_CACHE_SIZE = 24


def clear_cache() -> None:
    """Forget parsed files (tests; files edited in place keep their mtime rarely, but it happens)."""
    _CACHE.clear()


def _stat_key(paths: Iterable[Path]) -> tuple:
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _read_cached(match: _LocalMatch, lang: str) -> Loaded:
    reader = READERS.get(match.source.format)
    if reader is None:
        raise ConfigError(f"no reader for format {match.source.format!r} (known: {', '.join(sorted(READERS))})")
    key = (match.source.format, lang, _stat_key([*match.files, *match.companions]),
           json.dumps(match.options, sort_keys=True, default=str))
    if key not in _CACHE:
        log.info("reading %s (%s)", ", ".join(str(f) for f in match.files), match.source.format)
        _CACHE[key] = reader(match.files, lang, match.options)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _copy(_CACHE[key])


def _copy(data: Loaded) -> Loaded:
    """A copy the caller may mutate without corrupting the cache (strings are shared)."""
    if isinstance(data, RetrievalData):
        return copy.deepcopy(data)
    return [{k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in ex.items()} for ex in data]


# ------------------------------------------------------------------------------------ public API


_SPLIT_SLICE = re.compile(r"^(?P<name>\w+)(?:\[(?P<start>-?[0-9]{1,18}%?)?:(?P<stop>-?[0-9]{1,18}%?)?\])?$")


def parse_split(text: str) -> tuple[str, tuple[str | None, str | None] | None]:
    """``"dev"`` -> ("dev", None); ``"dev[:80%]"`` -> ("dev", (None, "80%")); ``"dev[500:]"`` likewise.

    A slice (Python semantics, bounds as example counts or percentages of the split, as in ``datasets``)
    lets a split serve two purposes without overlap, e.g. training on ``dev[:80%]`` and selecting the
    checkpoint on ``dev[80%:]`` when a task has no training data offline.
    """
    m = _SPLIT_SLICE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ConfigError(f"split {text!r}: expected NAME or NAME[start:stop] (e.g. dev, dev[:80%], test[500:])")
    if "[" not in text:
        return m["name"], None
    return m["name"], (m["start"], m["stop"])


def _bound(value: str | None, n: int) -> int | None:
    if value is None:
        return None
    return int(n * int(value[:-1]) / 100) if value.endswith("%") else int(value)


def _apply_slice(data: Loaded, bounds: tuple[str | None, str | None] | None) -> Loaded:
    if bounds is None:
        return data
    if isinstance(data, RetrievalData):
        raise ConfigError("split slices are for example lists, not retrieval pools")
    return data[slice(_bound(bounds[0], len(data)), _bound(bounds[1], len(data)))]


def load(task: Any, split: str, lang: str, data_dir: str | os.PathLike | None = None,
         max_examples: int | None = None) -> Loaded:
    """Normalised examples of ``task``/``split`` in ``lang`` (a list of dicts, or RetrievalData).

    Local files first (``data_dir`` or ``XTA_DATA_DIR``), else the Hugging Face Hub; ``split`` may carry
    a slice (:func:`parse_split`); ``max_examples`` then keeps the first N examples (retrieval: the
    first N queries; Tatoeba also its first N candidates).
    """
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 0):
        raise ConfigError(f"max_examples must be a non-negative integer, got {max_examples!r}")
    split, bounds = parse_split(split)
    return _truncate(_apply_slice(_load_split(task, split, lang, data_dir), bounds), max_examples)


def _load_split(task: Any, split: str, lang: str, data_dir: str | os.PathLike | None) -> Loaded:
    spec, source_split = _spec_and_source(task, split, lang)
    if source_split.builtin:  # generated in-process (toolkit.cldr, the demo benchmark): no files, no Hub
        return _builtin(source_split.builtin)(lang, split)
    root = resolve_data_dir(data_dir)
    match = _find_local(source_split, split, lang, root) if root is not None else None
    if match is not None:
        from .families import get_family  # the shape's facts (torch-free; families import numpy, data does not)

        if spec.labels and not spec.open_labels and get_family(spec).NAMED_LABELS:  # readers check the names
            match.options.setdefault("labels", tuple(spec.labels))
        data = _read_cached(match, lang)
    else:
        data = load_from_hub(spec, source_split, split, lang, root)
    return data


def _builtin(name: str) -> Callable[..., Loaded]:
    from .cldr import BUILTINS

    if name not in BUILTINS:
        raise ConfigError(f"no built-in data generator {name!r} (known: {', '.join(sorted(BUILTINS))})")
    return BUILTINS[name]


def has_gold(examples: Loaded) -> bool:
    """Whether loaded examples carry gold answers: every label set (XTREME's own xnli/pawsx test files have
    none); for extractive QA, some non-empty answer text (a SQuAD-format file whose every answer is ``""``
    is an unlabelled copy; the evaluation sets have no unanswerable questions). Retrieval data carries
    gold unless no query has any (XTREME's Mewsli-X test shards, whose labels were removed)."""
    if not isinstance(examples, list):
        return bool(examples.gold)
    if examples and "answers" in examples[0]:
        return any(text.strip() for ex in examples for text in ex["answers"]["text"])
    return all(ex.get("label", 0) is not None for ex in examples)


def _truncate(data: Loaded, n: int | None) -> Loaded:
    if n is None:
        return data
    if not isinstance(data, RetrievalData):
        return data[:n]
    keep = set(data.query_ids[:n])
    data.query_ids, data.queries = data.query_ids[:n], data.queries[:n]
    data.gold = {q: g for q, g in data.gold.items() if q in keep}
    if data.meta.get("parallel"):
        data.candidate_ids, data.candidates = data.candidate_ids[:n], data.candidates[:n]
    return data


def data_files(task: Any, split: str, lang: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local files ``load`` would read (main files, then companions); [] when it would use the Hub."""
    split, _ = parse_split(split)
    _, source_split = _spec_and_source(task, split, lang)
    root = resolve_data_dir(data_dir)
    match = _find_local(source_split, split, lang, root) if root is not None else None
    return [*match.files, *match.companions] if match else []


_HASHES: dict[tuple, str] = {}


def file_hashes(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """``{path: sha256 hex}`` for provenance records (cached by path, mtime and size)."""
    out = {}
    for p in paths:
        path = Path(p)
        key = _stat_key([path])
        if key not in _HASHES:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            _HASHES[key] = digest.hexdigest()
        out[str(path)] = _HASHES[key]
    return out


def available_languages(task: Any, split: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The languages of ``task``/``split`` that have local files under the data directory."""
    from .tasks import get_task

    spec = get_task(task)
    if split not in spec.splits:
        raise ConfigError(f"task {spec.name!r} has no split {split!r} (available: {', '.join(spec.splits) or 'none'})")
    if spec.splits[split].builtin:  # generated in-process: every language of the split is at hand
        return list(spec.split_languages(split))
    root = resolve_data_dir(data_dir)
    if root is None:
        return []
    return [lang for lang in spec.split_languages(split) if _find_any(spec.splits[split], split, lang, root)]


def _find_any(source_split: Any, split: str, lang: str, root: Path) -> bool:
    return any(_glob(root, fill_pattern(s.pattern, pattern_placeholders(lang, split, s.lang_codes), "pattern")) for s in source_split.local)


def provenance(task: Any, split: str, lang: str, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where ``load`` takes this data from, for result records: local file hashes or the Hub dataset."""
    files = data_files(task, split, lang, data_dir)
    split_name, bounds = parse_split(split)
    extra = {"split": split} if bounds else {}
    if files:
        return {"source": "local", "files": file_hashes(files), **extra}
    split = split_name
    _, source_split = _spec_and_source(task, split, lang)
    if source_split.builtin:
        from .cldr import provenance as builtin_provenance

        return {**builtin_provenance(source_split.builtin, split, lang), **extra}
    hubs = []
    for hub in split_hub_sources(source_split, lang):
        values = pattern_placeholders(lang, split, hub.lang_codes)
        hubs.append({"path": hub.path, "config": fill_pattern(hub.config, values, "config") if hub.config else None,
                     "split": fill_pattern(hub.split, values, "split"), "revision": hub.revision})
    return {"source": "hub", "datasets": hubs, **extra}

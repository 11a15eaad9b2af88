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
import csv
import glob
import hashlib
import io
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError, DataUnavailable, UnknownLanguage

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
    # additive: the language of each candidate (lareqa's multilingual pool); None = all in meta's language
    candidate_languages: list[str] | None = None

    def __len__(self) -> int:
        return len(self.queries)


Examples = list[dict[str, Any]]
Loaded = Examples | RetrievalData
Reader = Callable[[Sequence[Path], str, Mapping[str, Any]], Loaded]

#: Reader options that name companion files: load() substitutes placeholders and globs them.
PATH_OPTIONS: dict[str, tuple[str, ...]] = {"tatoeba": ("english",), "bucc": ("english", "gold"), "lareqa": ("pool",),
                                            "mewslix": ("candidates", "gold")}

_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "on", "yes", "true"}
_LABELLED_SHAPES = ("classification", "pair_classification", "tagging")


# --------------------------------------------------------------------------------------- file basics


def _read_text(path: Path) -> str:
    """The file as text; empty files and non-UTF-8 bytes raise DataError with the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file ({exc.strerror or exc})", path) from None
    if not data.strip():
        raise DataError("file is empty", path, 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})", path, line) from None
    nul = text.find("\x00")
    if nul >= 0:  # NUL is no text; tokenizers and C libraries cut the string there (issue 18)
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"holds a NUL byte (column {nul - (text.rfind(chr(10), 0, nul) + 1) + 1})", path, line)
    return text[1:] if text.startswith("\ufeff") else text


#: characters no text field may hold: NUL, and UTF-16 surrogates (a lone ``\ud800`` in JSON decodes to a str
#: that cannot be encoded as UTF-8, so it would crash the tokenizer or the results store later)
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
#: the JSON escapes that can produce them; files without any are not walked
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def check_text(obj: Any, path: object, line: int | None = None, where: str = "") -> None:
    """Raise DataError naming ``path``/``line`` and the field when any string in ``obj`` (a parsed JSON
    value) holds a NUL or a lone surrogate."""
    stack: list[tuple[str, Any]] = [(where, obj)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, str):
            bad = _BAD_CHARS.search(value)
            if bad is None:
                continue
            char = bad.group()  # json.loads joins escaped surrogate pairs: any surrogate left is a lone one
            what = "a NUL character" if char == "\x00" else f"a lone surrogate U+{ord(char):04X} (not encodable as UTF-8)"
            raise DataError(f"{(at or 'a string')[:200]}: holds {what}", path, line)
        if isinstance(value, dict):
            stack.extend((f"{at}.{k}" if at else str(k), v) for k, v in value.items())
            stack.extend((f"{at}: key" if at else "key", k) for k in value)
        elif isinstance(value, list):
            stack.extend((f"{at}[{i}]", v) for i, v in enumerate(value))


def _parse_json(text: str, path: Path, line: int | None) -> Any:
    """``json.loads`` whose every failure is a DataError naming the file (and line): malformed JSON,
    nesting too deep for the parser (RecursionError), NUL or lone surrogates in strings."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg}, column {exc.colno})", path,
                        exc.lineno if line is None else line) from None
    except RecursionError:
        raise DataError("JSON nested too deeply", path, line) from None
    if _BAD_ESCAPE.search(text):
        check_text(obj, path, line)
    return obj


def _lines(text: str) -> list[str]:
    """Lines split on '\\n' only (str.splitlines would also split on U+2028 etc. inside sentences)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _numbered_lines(paths: Sequence[Path]) -> Iterable[tuple[Path, int, str]]:
    for path in paths:
        for number, line in enumerate(_lines(_read_text(path)), 1):
            yield path, number, line


def _check_label(label: str, options: Mapping[str, Any], path: Path, line: int | None) -> str:
    labels = options.get("labels")
    if labels and label not in labels:
        raise DataError(f"label {label!r} is not one of the task's labels ({', '.join(labels)})", path, line)
    return label


def _load_json(path: Path) -> Any:
    return _parse_json(_read_text(path), path, None)


def _jsonl(paths: Sequence[Path]) -> Iterable[tuple[Path, int, dict]]:
    """(path, line, object) for every non-blank line of JSON-lines files."""
    for path, number, line in _numbered_lines(paths):
        if not line.strip():
            continue
        obj = _parse_json(line, path, number)
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, number)
        yield path, number, obj


def _field(obj: Mapping[str, Any], key: str, path: Path, line: int | None, kind: type | tuple = str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise DataError(f"missing field {key!r}", path, line)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(f"field {key!r} should be {want}, got {type(value).__name__}", path, line)
    return value


def _csv_rows(path: Path, required: Sequence[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """(line, row) for a CSV file with a header that holds ``required`` columns (RFC 4180 quoting)."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(f"CSV header lacks column(s) {', '.join(missing)} (has: {', '.join(header)})", path, 1)
        for row in reader:
            if None in row or None in row.values():
                raise DataError(f"expected {len(header)} CSV columns", path, reader.line_num)
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path, reader.line_num) from None


# ---------------------------------------------------------------------------------------- readers


def read_xtreme_tsv_pair(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """XTREME's XNLI / PAWS-X TSV: ``text<TAB>text_pair<TAB>label``, no header.

    The rows are what google-research/xtreme ``utils_preprocess.py`` (xnli_preprocess/pawsx_preprocess)
    writes; its test files hold two columns (labels removed), read here as ``label=None``.
    """
    out: Examples = []
    for path in paths:
        width = 3 if options.get("labelled") else None
        for number, line in enumerate(_lines(_read_text(path)), 1):
            cols = line.split("\t")
            width = width or (len(cols) if len(cols) in (2, 3) else 3)
            if len(cols) != width:
                want = "text<TAB>text_pair<TAB>label" if width == 3 else "text<TAB>text_pair (as the lines above)"
                raise DataError(f"expected {width} tab-separated columns ({want}), got {len(cols)}", path, number)
            label = _check_label(cols[2].strip(), options, path, number) if width == 3 else None
            out.append({"id": f"{lang}-{len(out)}", "text": cols[0], "text_pair": cols[1], "label": label})
    return out


def read_conll_tsv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """XTREME's PAN-X / UD-POS TSV: ``TOKEN<TAB>TAG`` per line, a blank line between sentences."""
    out: Examples = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            out.append({"id": f"{lang}-{len(out)}", "tokens": list(tokens), "tags": list(tags)})
        tokens.clear()
        tags.clear()

    for path in paths:
        for number, line in enumerate(_lines(_read_text(path)), 1):
            if not line.strip():
                flush()
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise DataError(f"expected 2 tab-separated columns (TOKEN<TAB>TAG), got {len(cols)}", path, number)
            tokens.append(cols[0])
            tags.append(_check_label(cols[1].strip(), options, path, number))
        flush()  # a sentence never spans two files
    return out


_CONLLU_ID = re.compile(r"^[0-9]{1,9}$")  # ASCII digits, bounded: no huge ints
_CONLLU_RANGE = re.compile(r"^([0-9]{1,9})-([0-9]{1,9})$")  # multiword-token range "1-2"
_CONLLU_EMPTY = re.compile(r"^[0-9]+\.[0-9]+$")  # empty node "1.1"

#: google-research/xtreme third_party/ud-conversion-tools/conllu_to_conll.py lines 28-33: the UPOS
#: precedence that breaks ties between the highest words of a multiword token (``--lang`` = the
#: treebank file's prefix, scripts/download_data.sh lines 84-85 and 92). The default list ends with "" (its
#: ``"... PUNCT ".split(" ")``); fr's says CONJ, not CCONJ -- kept as written.
UD_POS_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "default": tuple("VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT ".split(" ")),
    "es": tuple("VERB AUX PRON ADP DET".split(" ")),
    "fr": tuple("VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(" ")),
    "it": tuple("VERB AUX ADV PRON ADP DET INTJ".split(" ")),
}


def _conllu_ancestors(edges: Mapping[int, set[int]], node: int) -> int:
    """How many nodes reach ``node`` (networkx ``ancestors``: the node itself excluded)."""
    seen, stack = {node}, [node]
    while stack:
        for parent in edges.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return len(seen) - 1


def ud_span_head(span: Sequence[int], edges: Mapping[int, set[int]], upos: Mapping[int, str], precedence: Sequence[str]) -> int:
    """The word of a multiword token that keeps its tag: XTREME's ``_choose_spanhead_from_heuristics``
    (third_party/ud-conversion-tools/lib/conll.py lines 104-128).

    ``edges`` maps a word to its heads: the basic HEAD and every integer head of DEPS (the official
    reader adds both to one graph, lib/conll.py lines 381-385). 1: the one word with the fewest
    ancestors; 2: among several, the first with the best rank in ``precedence``. A tag missing from the
    list makes the official script crash (``list.index``) and drop the whole treebank; here it ranks
    after every listed tag instead (documented deviation; no real UD 2.5 file here triggers it).
    """
    depth = [_conllu_ancestors(edges, w) for w in span]
    top = min(depth)
    highest = [w for w, d in zip(span, depth) if d == top]
    if len(highest) == 1:
        return highest[0]
    rank = {tag: i for i, tag in reversed(list(enumerate(precedence)))}
    return min(highest, key=lambda w: (rank.get(upos[w], len(precedence)), highest.index(w)))


def read_conllu(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """Universal Dependencies CoNLL-U: FORM (column 2) and UPOS (column 4) of each word, as XTREME's UD-POS.

    XTREME converts every treebank file with ``conllu_to_conll.py --lang <prefix>
    --replace_subtokens_with_fused_forms`` (google-research/xtreme scripts/download_data.sh line 92) and
    then reads it with utils_preprocess.py ``udpos_preprocess`` (lines 190-289). The same here:

    * a multiword token (``3-4 zum``) becomes ONE word: its surface form with the UPOS of the span's head
      word (:func:`ud_span_head`); the other sub-words are dropped (lib/conll.py ``_keep_fused_form``,
      lines 141-201);
    * empty nodes (``3.1``) are skipped (``parse_id`` returns None for them, lib/conll.py line 10);
    * a sentence whose forms are (almost) all ``_`` is dropped (utils_preprocess.py lines 196-200);
    * spaces and U+200C inside a form are removed (``remove_empty_space``, lines 216-225).

    All files of a language (every treebank, matched by the registry's glob) are concatenated in sorted
    order, as utils_preprocess.py lines 272-285 do. ``options["fused_forms"] = False`` keeps the
    sub-words instead (the raw UD tokenisation, not XTREME's).
    """
    out: Examples = []
    fused = options.get("fused_forms", True)
    # utils_preprocess.py line 273: ``for f in sorted(files)`` within a language -- by file name
    for path in sorted(paths, key=lambda p: (Path(p).name, str(p))):
        precedence = UD_POS_PRECEDENCE.get(Path(path).name.split("_")[0], UD_POS_PRECEDENCE["default"])
        words: list[tuple[str, str]] = []
        ranges: list[tuple[int, int, str]] = []
        edges: dict[int, set[int]] = {}
        for number, line in enumerate([*_lines(_read_text(path)), ""], 1):
            if not line.strip():
                _conllu_flush(words, ranges if fused else [], edges, precedence, out, lang, path, number)
                words, ranges, edges = [], [], {}
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise DataError(f"expected 10 tab-separated CoNLL-U columns, got {len(cols)}", path, number)
            if _CONLLU_EMPTY.match(cols[0]):
                continue
            span = _CONLLU_RANGE.match(cols[0])
            if span:
                first, last = int(span.group(1)), int(span.group(2))
                if first != len(words) + 1 or last <= first:
                    raise DataError(f"multiword token {cols[0]!r} must start at the next word ({len(words) + 1}) and cover 2+ words", path, number)
                ranges.append((first, last, cols[1]))
                continue
            if not _CONLLU_ID.match(cols[0]) or int(cols[0]) != len(words) + 1:
                raise DataError(f"word id {cols[0]!r} breaks the sequence (expected {len(words) + 1})", path, number)
            word = int(cols[0])
            heads = edges.setdefault(word, set())
            if _CONLLU_ID.match(cols[6]):
                heads.add(int(cols[6]))
            elif cols[6] == "_":  # lib/conll.py parse_id: None, one shared parent node of every such word
                heads.add(-1)
            if cols[8] != "_":  # lib/conll.py parse_deps (lines 24-28): integer heads of DEPS
                heads.update(int(h) for h, *_ in (p.split(":") for p in cols[8].split("|")) if _CONLLU_ID.match(h))
            words.append((cols[1], _check_label(cols[3].strip(), options, path, number)))
    return out


def _conllu_flush(words: list[tuple[str, str]], ranges: list[tuple[int, int, str]], edges: Mapping[int, set[int]],
                  precedence: Sequence[str], out: Examples, lang: str, path: Path, number: int) -> None:
    for first, last, _ in ranges:
        if last > len(words):
            raise DataError(f"multiword token {first}-{last} covers words the sentence (ending here) does not have ({len(words)} words)", path, number)
    if not words:
        return
    drop: set[int] = set()
    forms = {}
    for first, last, form in ranges:
        span = list(range(first, last + 1))
        head = ud_span_head(span, edges, {w: words[w - 1][1] for w in span}, precedence)
        forms[head] = form
        drop.update(w for w in span if w != head)
    sentence = [(forms.get(i, f), t) for i, (f, t) in enumerate(words, 1) if i not in drop]
    blanks = sum(form == "_" for form, _ in sentence)
    if blanks and blanks >= len(sentence) - 1:  # utils_preprocess.py line 199: keep iff no or few '_' forms
        return
    out.append({"id": f"{lang}-{len(out)}", "tokens": ["".join(f.replace("\u200c", "").split(" ")) for f, _ in sentence],
                "tags": [t for _, t in sentence]})


def read_squad_json(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """SQuAD v1.1/v2.0 JSON (XQuAD, MLQA, TyDiQA-GoldP): one example per question.

    SQuAD v2.0 questions with ``is_impossible`` get empty answer lists (Rajpurkar et al. 2018).
    """
    out: Examples = []
    for path in paths:
        data = _json_field(_load_json(path), "data", path, "top level", list)
        for a, article in enumerate(data):
            for p, para in enumerate(_json_field(article, "paragraphs", path, f"data[{a}]", list)):
                where = f"data[{a}].paragraphs[{p}]"
                context = _json_field(para, "context", path, where, str)
                title = article.get("title")
                for q, qa in enumerate(_json_field(para, "qas", path, where, list)):
                    out.append(_squad_example(qa, context, title if isinstance(title, str) else "", path, f"{where}.qas[{q}]"))
    _unique_ids(out, paths)
    return out


def _unique_ids(examples: Examples, paths: Sequence[Path]) -> None:
    """Make question ids unique: XTREME's TyDiQA train split keeps only the last '-' part of each id
    (``tydiqa_preprocess``), so ids repeat there; later repeats get a ``~k`` suffix."""
    counts: dict[str, int] = {}
    for ex in examples:
        k = counts.get(ex["id"], 0)
        counts[ex["id"]] = k + 1
        if k:
            ex["id"] = f"{ex['id']}~{k}"
    repeated = sum(c - 1 for c in counts.values())
    if repeated:
        log.warning("%s: %d repeated question id(s) made unique with a '~k' suffix", paths[0], repeated)


def _json_field(obj: Any, key: str, path: Path, where: str, kind: type | tuple) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where}: missing field {key!r}", path)
    if not isinstance(obj[key], kind) or (isinstance(obj[key], bool) and bool not in _kinds(kind)):
        raise DataError(f"{where}.{key}: unexpected type {type(obj[key]).__name__}", path)
    return obj[key]


def _kinds(kind: type | tuple) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _squad_example(qa: Any, context: str, title: str, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(qa, dict):
        raise DataError(f"{where}: expected an object, got {type(qa).__name__}", path)
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise DataError(f"{where}.is_impossible: unexpected type {type(impossible).__name__}", path)
    answers = [] if impossible else _json_field(qa, "answers", path, where, list)
    texts, starts = [], []
    for i, ans in enumerate(answers):
        text = _json_field(ans, "text", path, f"{where}.answers[{i}]", str)
        start = _json_field(ans, "answer_start", path, f"{where}.answers[{i}]", int)
        # the span must lie inside the context: run_squad's SquadExample indexes char_to_word_offset with it
        # (google-research/xtreme third_party/processors/squad.py l. 637-640, an IndexError there)
        if text and not 0 <= start <= len(context) - len(text):
            raise DataError(f"{where}.answers[{i}]: answer span {start}..{start + len(text)} lies outside the context "
                            f"({len(context)} characters)", path)
        texts.append(text)
        starts.append(start)
    return {
        "id": str(_json_field(qa, "id", path, where, (str, int))),
        "title": title,
        "context": context,
        "question": _json_field(qa, "question", path, where, str),
        "answers": {"text": texts, "answer_start": starts},
    }


def read_xcopa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """XCOPA / COPA JSON lines ``{premise, choice1, choice2, question: cause|effect, label, idx}``.

    ``question`` keeps the raw type; TaskSpec.question_prompts maps it to text (Ponti et al. 2020).
    """
    out: Examples = []
    for path, number, obj in _jsonl(paths):
        question = _field(obj, "question", path, number)
        if question not in ("cause", "effect"):
            raise DataError(f"question must be 'cause' or 'effect', got {question!r}", path, number)
        choices = [_field(obj, "choice1", path, number), _field(obj, "choice2", path, number)]
        label = _choice_label(_field(obj, "label", path, number, int), len(choices), path, number)
        idx = obj.get("idx", len(out))
        if not isinstance(idx, (int, str)) or isinstance(idx, bool):
            raise DataError(f"field 'idx' should be int or str, got {type(idx).__name__}", path, number)
        out.append({"id": f"{lang}-{idx}", "context": _field(obj, "premise", path, number),
                    "question": question, "choices": choices, "label": label})
    return out


def _choice_label(label: int, n: int, path: Path, line: int | None) -> int:
    if not 0 <= label < n:
        raise DataError(f"label {label} is not a choice index (0..{n - 1})", path, line)
    return label


def read_siqa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """Social IQa JSON lines ``{context, question, answerA, answerB, answerC, correct: A|B|C}`` (Sap et al. 2019)."""
    out: Examples = []
    for path, number, obj in _jsonl(paths):
        choices = [_field(obj, f"answer{k}", path, number) for k in "ABC"]
        correct = _field(obj, "correct", path, number).strip()
        if correct not in ("A", "B", "C"):
            raise DataError(f"'correct' must be A, B or C, got {correct!r}", path, number)
        out.append({"id": f"{lang}-{len(out)}", "context": _field(obj, "context", path, number),
                    "question": _field(obj, "question", path, number), "choices": choices, "label": "ABC".index(correct)})
    return out


def read_cosmosqa_csv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """Cosmos QA CSV ``id,context,question,answer0..answer3,label`` (Huang et al. 2019)."""
    cols = ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]
    out: Examples = []
    for path in paths:
        for line, row in _csv_rows(path, cols):
            if row["label"].strip() not in ("0", "1", "2", "3"):
                raise DataError(f"label must be 0..3, got {row['label']!r}", path, line)
            choices = [row[f"answer{i}"] for i in range(4)]
            out.append({"id": row["id"], "context": row["context"], "question": row["question"],
                        "choices": choices, "label": _choice_label(int(row["label"]), 4, path, line)})
    return out


_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def read_anli_csv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """ANLI annotated dev CSVs (facebookresearch/anli ``anlizinganli``): context, statement, gold_label e|n|c, uid."""
    out: Examples = []
    for path in paths:
        for line, row in _csv_rows(path, ["context", "statement", "gold_label", "uid"]):
            short = row["gold_label"].strip()
            if short not in _ANLI_LABELS:
                raise DataError(f"gold_label must be e, n or c, got {short!r}", path, line)
            label = _check_label(_ANLI_LABELS[short], options, path, line)
            out.append({"id": row["uid"], "text": row["context"], "text_pair": row["statement"], "label": label})
    return out


def read_glue_mnli_tsv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """GLUE MNLI TSV (header row; ``sentence1``, ``sentence2``, ``gold_label``, ``pairID``), unquoted.

    Rows whose gold label is ``-`` (no annotator majority, SNLI/MNLI convention) are dropped.
    """
    out: Examples = []
    for path in paths:
        lines = _lines(_read_text(path))
        header = lines[0].split("\t")
        missing = [c for c in ("sentence1", "sentence2", "gold_label") if c not in header]
        if missing:
            raise DataError(f"TSV header lacks column(s) {', '.join(missing)}", path, 1)
        col = {name: i for i, name in enumerate(header)}
        for number, line in enumerate(lines[1:], 2):
            cells = line.split("\t")
            if len(cells) != len(header):
                raise DataError(f"expected {len(header)} tab-separated columns, got {len(cells)}", path, number)
            if cells[col["gold_label"]] == "-":
                continue
            label = _check_label(cells[col["gold_label"]], options, path, number)
            ident = cells[col["pairID"]] if "pairID" in col else f"{lang}-{len(out)}"
            out.append({"id": ident, "text": cells[col["sentence1"]], "text_pair": cells[col["sentence2"]], "label": label})
    return out


def read_boolq_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """BoolQ JSON lines ``{question, passage, answer: bool}`` (Clark et al. 2019) -> labels 'false'/'true'."""
    out: Examples = []
    for path, number, obj in _jsonl(paths):
        label = _check_label(str(_field(obj, "answer", path, number, bool)).lower(), options, path, number)
        out.append({"id": f"{lang}-{len(out)}", "text": _field(obj, "question", path, number),
                    "text_pair": _field(obj, "passage", path, number), "label": label})
    return out


def read_commonsenseqa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """CommonsenseQA JSON lines ``{id, answerKey, question: {stem, choices: [{label, text}]}}`` (Talmor et al. 2019)."""
    out: Examples = []
    for path, number, obj in _jsonl(paths):
        question = _field(obj, "question", path, number, dict)
        choices = _field(question, "choices", path, number, list)
        if not choices or not all(isinstance(c, dict) for c in choices):
            raise DataError("field 'choices' should be a non-empty list of {label, text} objects", path, number)
        keys = [str(c.get("label")) for c in choices]
        answer = _field(obj, "answerKey", path, number)
        if answer not in keys:
            raise DataError(f"answerKey {answer!r} is not one of the choice labels {keys}", path, number)
        out.append({"id": str(obj.get("id", f"{lang}-{len(out)}")), "context": "",
                    "question": _field(question, "stem", path, number),
                    "choices": [_field(c, "text", path, number) for c in choices], "label": keys.index(answer)})
    return out


def read_hellaswag_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """HellaSwag JSON lines ``{ind, ctx, endings: [4], label}`` (Zellers et al. 2019); test rows lack labels."""
    out: Examples = []
    for path, number, obj in _jsonl(paths):
        endings = _field(obj, "endings", path, number, list)
        if not endings or not all(isinstance(e, str) for e in endings):
            raise DataError("field 'endings' should be a non-empty list of strings", path, number)
        label = obj.get("label")
        if not isinstance(label, int) or isinstance(label, bool):
            raise DataError(f"label should be an int choice index, got {label!r}", path, number)
        out.append({"id": str(obj.get("ind", f"{lang}-{len(out)}")), "context": _field(obj, "ctx", path, number),
                    "question": "", "choices": endings, "label": _choice_label(label, len(endings), path, number)})
    return out


def read_ccg_stagged(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """C&C "stagged" CCGbank: one sentence per line, space-separated ``word|POS|supertag`` tokens."""
    out: Examples = []
    for path, number, line in _numbered_lines(paths):
        if not line.strip() or line.startswith("#"):
            continue
        tokens, tags = [], []
        for item in line.split():
            parts = item.rsplit("|", 2)
            if len(parts) < 2 or not parts[-1]:
                raise DataError(f"token {item!r} is not word|POS|supertag", path, number)
            tokens.append(parts[0])
            tags.append(_check_label(parts[-1], options, path, number))
        out.append({"id": f"{lang}-{len(out)}", "tokens": tokens, "tags": tags})
    return out


def read_tatoeba(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> RetrievalData:
    """LASER's Tatoeba test set: ``tatoeba.<xxx>-eng.<xxx>`` line i translates ``tatoeba.<xxx>-eng.eng`` line i.

    Queries are the non-English sentences, candidates the English ones, gold = same line
    (Artetxe & Schwenk 2019; XTREME scores accuracy of the nearest neighbour).
    """
    if len(paths) != 1:
        raise DataError(f"expected one Tatoeba file, got {len(paths)}", paths[0] if paths else None)
    path = paths[0]
    english = _companions(options, "english") or [path.with_name(path.name.rsplit(".", 1)[0] + ".eng")]
    queries, candidates = _lines(_read_text(path)), _lines(_read_text(english[0]))
    if len(queries) != len(candidates):
        raise DataError(f"{len(queries)} lines but {english[0]} has {len(candidates)}; the files must be line-aligned", path)
    ids = [f"{lang}-{i}" for i in range(len(queries))]
    cand_ids = [f"en-{i}" for i in range(len(candidates))]
    return RetrievalData(ids, queries, cand_ids, candidates, {q: {c} for q, c in zip(ids, cand_ids)},
                         meta={"lang": lang, "candidate_lang": "en", "parallel": True})


def read_bucc(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> RetrievalData:
    """BUCC 2018 (XTREME layout): ``<src>-en.<split>.<src>`` / ``.en`` hold ``ID<TAB>sentence``, ``.gold`` the pairs.

    Most source sentences have no translation: mining must decide whether to pair (Zweigenbaum et al. 2018).
    """
    src_ids, src = _id_sentences(paths)
    english, gold_files = _companions(options, "english"), _companions(options, "gold")
    if not english or not gold_files:
        raise DataError("BUCC needs the 'english' and 'gold' companion files", paths[0])
    en_ids, en = _id_sentences(english)
    known_src, known_en = set(src_ids), set(en_ids)
    gold: dict[str, set[str]] = {}
    for path, number, line in _numbered_lines(gold_files):
        cols = line.split("\t")
        if len(cols) != 2 or cols[0] not in known_src or cols[1] not in known_en:
            raise DataError(f"expected srcID<TAB>enID with ids from the sentence files, got {line!r}", path, number)
        gold.setdefault(cols[0], set()).add(cols[1])
    return RetrievalData(src_ids, src, en_ids, en, gold, meta={"lang": lang, "candidate_lang": "en", "parallel": False})


def _id_sentences(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    ids, sentences, seen = [], [], set()
    for path, number, line in _numbered_lines(paths):
        cols = line.split("\t", 1)
        if len(cols) != 2 or not cols[0]:
            raise DataError("expected ID<TAB>sentence", path, number)
        if cols[0] in seen:
            raise DataError(f"duplicate sentence id {cols[0]!r}", path, number)
        seen.add(cols[0])
        ids.append(cols[0])
        sentences.append(cols[1])
    return ids, sentences


def read_lareqa(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> RetrievalData:
    """LAReQA on XQuAD-R (Roy et al. 2020), following google-research/xtreme ``third_party/utils_lareqa.py``.

    Candidates are *all* sentences (``context[start:end]`` of each ``sentence_breaks`` span) of every
    paragraph of every pool language, with their paragraph as context; candidate ids are
    ``{lang}_{paragraph number}_{sentence position}``. A question (query id ``{qid}_{lang}``) is relevant
    to the sentence containing its ``answer_start`` in each pool language (same question id across
    languages = the same ``xling_id``). Questions whose answer start lies in no sentence are skipped, as
    in the official loader.
    """
    if len(paths) != 1:
        raise DataError(f"expected one XQuAD-R file for {lang}, got {len(paths)}", paths[0] if paths else None)
    pool_langs = {Path(p).stem: Path(p) for p in _companions(options, "pool")}
    pool_langs[lang] = Path(paths[0])  # the query file is always part of the pool
    keep = options.get("pool_languages")
    if keep:
        pool_langs = {k: v for k, v in pool_langs.items() if k in keep or k == lang}
    data = RetrievalData([], [], [], [], {}, candidate_contexts=[], candidate_languages=[],
                         meta={"lang": lang, "pool": sorted(pool_langs), "parallel": False})
    relevant: dict[str, set[str]] = {}
    queries: list[tuple[str, str]] = []
    for pool_lang in sorted(pool_langs):
        qs = _lareqa_language(pool_langs[pool_lang], pool_lang, data, relevant)
        if pool_lang == lang:
            queries = qs
    data.meta["candidates_per_language"] = {k: data.candidate_languages.count(k) for k in sorted(pool_langs)}
    for xling_id, question in queries:
        qid = f"{xling_id}_{lang}"
        data.query_ids.append(qid)
        data.queries.append(question)
        data.gold[qid] = set(relevant[xling_id])
    return data


def _lareqa_language(path: Path, lang: str, data: RetrievalData, relevant: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Add one language's sentences to ``data``; return its (xling_id, question) pairs."""
    questions, skipped, number = [], 0, 0
    for a, article in enumerate(_json_field(_load_json(path), "data", path, "top level", list)):
        for p, para in enumerate(_json_field(article, "paragraphs", path, f"data[{a}]", list)):
            number += 1
            where = f"data[{a}].paragraphs[{p}]"
            context = _json_field(para, "context", path, where, str)
            spans = _spans(_json_field(para, "sentence_breaks", path, where, list), len(context), path, where)
            sentences = [context[s:e] for s, e in spans]
            ids = [f"{lang}_{number}_{i}" for i in range(len(spans))]
            data.candidate_ids.extend(ids)
            data.candidates.extend(sentences)
            data.candidate_contexts.extend([context] * len(ids))
            data.candidate_languages.extend([lang] * len(ids))
            for q, qa in enumerate(_json_field(para, "qas", path, where, list)):
                ex = _squad_example(qa, context, "", path, f"{where}.qas[{q}]")
                start = ex["answers"]["answer_start"][0] if ex["answers"]["answer_start"] else -1
                hit = next((i for i, (s, e) in enumerate(spans) if s <= start < e), None)
                if hit is None:
                    skipped += 1
                    continue
                # the official loader marks every sentence of the paragraph equal to the answer sentence
                gold = {ids[i] for i, s in enumerate(sentences) if s == sentences[hit]}
                relevant.setdefault(ex["id"], set()).update(gold)
                questions.append((ex["id"], ex["question"]))
    if skipped:
        log.warning("%s: skipped %d question(s) whose answer start lies in no sentence", path, skipped)
    return questions


# ---------------------------------------------------------------------------------------- mewslix
#
# Mewsli-X in the official format: google-research/xtreme third_party/utils_mewslix.py (adapted from
# google-research dense_representations_for_entity_retrieval/mel/mewsli_x/schema.py). Mentions are
# JSON lines of ContextualMentions {context: {document_title, document_url, document_id, language, text,
# sentence_spans, section_title?}, mentions: [{example_id, mention_span: {start, end, text}, entity_id,
# metadata?}]}; candidates are JSON lines of Entity {entity_id, title, description, sentence_spans,
# description_language, description_url}; training pairs are MentionEntityPair {contextual_mention:
# {context, mention}, entity}.

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
    entity_id = _field(entity, "entity_id", path, line)
    description = _field(entity, "description", path, line)
    for key in ("title", "description_language", "description_url"):
        _field(entity, key, path, line)
    spans = _mx_spans(entity.get("sentence_spans"), description, path, line, "sentence_spans")
    return entity_id, _mx_normalize(" ".join(description[s:e] for s, e in spans))


def mewslix_query(context: Mapping[str, Any], mention: Mapping[str, Any], path: Path, line: int) -> str:
    """``preprocess_mention`` (utils_mewslix.py lines 562-610): the sentence holding the mention
    (``truncate(window_size=0)``, lines 448-481), the mention wrapped as `` { mention } `` with earlier
    ``{...}`` escaped to ``(...)``, and the mention text prepended: ``"Smith: ... { Smith } ..."``."""
    text = _field(context, "text", path, line)
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
    for path, number, obj in _jsonl(paths):
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
    cand_paths = _companions(options, "candidates")
    if not cand_paths:
        raise DataError("mewslix needs the candidate set: option 'candidates' (candidate_set_entities.jsonl)", paths[0] if paths else None)
    cand_ids, cand_texts, cand_langs = _mx_candidates(cand_paths)
    labels: dict[str, str] = {}
    for gold_path in _companions(options, "gold"):
        obj = _load_json(gold_path)
        if not isinstance(obj, dict) or not all(isinstance(v, list) and v and isinstance(v[0], str) for v in obj.values()):
            raise DataError("expected {example_id: [entity_id]} (XTREME's wikinews_labels)", gold_path)
        labels.update({k: v[0].strip() for k, v in obj.items() if v[0].strip()})  # utils_mewslix.py line 677
    known = set(cand_ids)
    data = RetrievalData([], [], cand_ids, cand_texts, {}, meta={"lang": lang, "candidate_lang": "en"},
                         candidate_languages=cand_langs)
    for path, number, obj in _jsonl(paths):
        context, mentions = obj.get("context"), obj.get("mentions")
        if not isinstance(context, dict) or not isinstance(mentions, list):
            raise DataError("expected a ContextualMentions line {context: {...}, mentions: [...]}", path, number)
        for key in ("document_title", "document_url", "document_id", "language"):
            _field(context, key, path, number)
        if context["language"] != lang:
            continue
        for mention in mentions:
            if not isinstance(mention, dict):
                raise DataError("a mention must be an object", path, number)
            example_id = _field(mention, "example_id", path, number)
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
    for path, number, obj in _jsonl(paths):
        cm, entity = obj.get("contextual_mention"), obj.get("entity")
        if not isinstance(cm, dict) or not isinstance(cm.get("context"), dict) or not isinstance(cm.get("mention"), dict) or not isinstance(entity, dict):
            raise DataError("expected a MentionEntityPair line {contextual_mention: {context, mention}, entity}", path, number)
        entity_id, text = mewslix_entity_text(entity, path, number)
        if entity_id not in index:
            index[entity_id] = len(data.candidate_ids)
            data.candidate_ids.append(entity_id)
            data.candidates.append(text)
        example_id = _field(cm["mention"], "example_id", path, number)
        if example_id in data.gold:
            raise DataError(f"example_id {example_id!r} appears twice", path, number)
        data.query_ids.append(example_id)
        data.queries.append(mewslix_query(cm["context"], cm["mention"], path, number))
        data.gold[example_id] = {entity_id}
    return data


def _spans(value: list, n: int, path: Path, where: str) -> list[tuple[int, int]]:
    """XQuAD-R ``sentence_breaks``: ``[start, end]`` character offsets inside the context."""
    out = []
    for i, span in enumerate(value):
        ok = (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
              and 0 <= span[0] <= span[1] <= n)
        if not ok:
            raise DataError(f"{where}.sentence_breaks[{i}]: expected [start, end] offsets inside the context "
                            f"({n} characters), got {str(span)[:80]}", path)
        out.append((span[0], span[1]))
    return out


def _companions(options: Mapping[str, Any], key: str) -> list[Path]:
    value = options.get(key)
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


#: format name (``LocalSource.format``) -> reader(paths, lang, options)
READERS: dict[str, Reader] = {
    "xtreme_tsv_pair": read_xtreme_tsv_pair,
    "conll_tsv": read_conll_tsv,
    "conllu": read_conllu,
    "squad_json": read_squad_json,
    "xcopa_jsonl": read_xcopa_jsonl,
    "siqa_jsonl": read_siqa_jsonl,
    "cosmosqa_csv": read_cosmosqa_csv,
    "anli_csv": read_anli_csv,
    "glue_mnli_tsv": read_glue_mnli_tsv,
    "boolq_jsonl": read_boolq_jsonl,
    "commonsenseqa_jsonl": read_commonsenseqa_jsonl,
    "hellaswag_jsonl": read_hellaswag_jsonl,
    "ccg_stagged": read_ccg_stagged,
    "tatoeba": read_tatoeba,
    "bucc": read_bucc,
    "lareqa": read_lareqa,
    "mewslix": read_mewslix,
    "mewslix_pairs": read_mewslix_pairs,
}


# ------------------------------------------------------------------------------ Hub conversion


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


def _hub_classification(rows: Iterable[Mapping[str, Any]], ctx: _HubContext) -> Examples:
    out, dropped = [], 0
    pair = ctx.spec.shape == "pair_classification"
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
                        "label": _choice_label(index, len(opts), ctx.where, i + 1)})
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
    "classification": _hub_classification,
    "pair_classification": _hub_classification,
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


# ------------------------------------------------------------------------------------ resolution


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local mirror directory: the argument, else ``XTA_DATA_DIR``, else None."""
    value = data_dir if data_dir is not None else os.environ.get("XTA_DATA_DIR") or None
    return Path(value).expanduser() if value is not None else None


def _placeholders(lang: str, split: str, lang_codes: Mapping[str, str]) -> dict[str, str]:
    from .languages import LANGUAGES

    name = LANGUAGES[lang].name if lang in LANGUAGES else lang
    return {"lang": lang, "code": lang_codes.get(lang, lang), "name": name, "split": split}


def _fill(template: str, values: Mapping[str, str], what: str) -> str:
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{what} {template!r}: unknown placeholder {exc} (allowed: {{lang}}, {{code}}, {{name}}, {{split}})") from None


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
        values = _placeholders(lang, split, source.lang_codes)
        files = _glob(data_dir, _fill(source.pattern, values, "pattern"))
        if not files:
            continue
        options, companions = dict(source.options), []
        for key in PATH_OPTIONS.get(source.format, ()):
            if key in options:
                pattern = _fill(str(options[key]), values, f"option {key}")
                found = _glob(data_dir, pattern)
                if not found:
                    raise DataError(f"companion file(s) {pattern!r} ({key}) not found beside {files[0].name}", data_dir / pattern)
                options[key] = found
                companions.extend(p for p in found if p not in files and p not in companions)
        return _LocalMatch(source, files, options, companions)
    return None


def _expected_paths(source_split: Any, split: str, lang: str, data_dir: Path | None) -> str:
    base = f"{data_dir}/" if data_dir else "DIR/"
    pats = [base + _fill(s.pattern, _placeholders(lang, split, s.lang_codes), "pattern") for s in source_split.local]
    return " or ".join(pats) if pats else "(no local layout is defined for this split)"


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
        if spec.labels and not spec.open_labels and spec.shape in _LABELLED_SHAPES:
            match.options.setdefault("labels", tuple(spec.labels))
        data = _read_cached(match, lang)
    else:
        data = _load_hub(spec, source_split, split, lang, root)
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


def _hub_sources(source_split: Any, lang: str) -> tuple:
    hub = source_split.hub_overrides.get(lang) if getattr(source_split, "hub_overrides", None) else None
    hub = hub or source_split.hub
    if hub is None:
        return ()
    return hub if isinstance(hub, tuple) else (hub,)


def _hub_name(hub: Any, values: Mapping[str, str]) -> str:
    config = _fill(hub.config, values, "config") if hub.config else None
    return f"{hub.path}" + (f" (config {config})" if config else "")


def _load_hub(spec: Any, source_split: Any, split: str, lang: str, root: Path | None) -> Loaded:
    sources = _hub_sources(source_split, lang)
    expected = _expected_paths(source_split, split, lang, root)
    if not sources:
        where = f"no file matched {expected}" if root else "no data directory is set"
        raise DataUnavailable(f"{spec.name} {split} {lang}: {where} and the task has no Hub source; "
                              f"put the original files at {_expected_paths(source_split, split, lang, None)} "
                              "and pass --data-dir DIR or set XTA_DATA_DIR=DIR")
    parts = [_load_one_hub(spec, hub, split, lang, expected, root) for hub in sources]
    if len(parts) == 1 or isinstance(parts[0], RetrievalData):
        data = parts[0]
    else:
        data = [ex for part in parts for ex in part]
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
    values = _placeholders(lang, split, hub.lang_codes)
    name = _hub_name(hub, values)
    hub_split = _fill(hub.split, values, "split")
    where = f"hf://{hub.path}" + (f"/{_fill(hub.config, values, 'config')}" if hub.config else "") + f"[{hub_split}]"
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

    config = _fill(hub.config, values, "config") if hub.config else None
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
    return list(ds), dict(ds.features)


def _hub_filter(rows: list[dict], hub: Any, values: Mapping[str, str]) -> list[dict]:
    """Keep rows whose column equals the value; a value ending in '*' is a prefix (TyDiQA ids)."""
    for column, template in hub.filter.items():
        want = _fill(str(template), values, "filter")
        if want.endswith("*"):
            rows = [r for r in rows if str(r.get(column, "")).startswith(want[:-1])]
        else:
            rows = [r for r in rows if str(r.get(column, "")) == want]
    return rows


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
    return any(_glob(root, _fill(s.pattern, _placeholders(lang, split, s.lang_codes), "pattern")) for s in source_split.local)


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
    for hub in _hub_sources(source_split, lang):
        values = _placeholders(lang, split, hub.lang_codes)
        hubs.append({"path": hub.path, "config": _fill(hub.config, values, "config") if hub.config else None,
                     "split": _fill(hub.split, values, "split"), "revision": hub.revision})
    return {"source": "hub", "datasets": hubs, **extra}

"""What every data file reader shares: the loaded types (:class:`RetrievalData`, examples), reading text
safely (UTF-8, NUL bytes, lone surrogates, JSON depth), JSON-lines/CSV iteration with file and line in every
error, field access, and filling the registry's path patterns. No reader lives here (:mod:`toolkit.readers`)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError


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


def read_text_file(path: Path) -> str:
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
BAD_JSON_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


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
    if BAD_JSON_ESCAPE.search(text):
        check_text(obj, path, line)
    return obj


def split_text_lines(text: str) -> list[str]:
    """Lines split on '\\n' only (str.splitlines would also split on U+2028 etc. inside sentences)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def iter_numbered_lines(paths: Sequence[Path]) -> Iterable[tuple[Path, int, str]]:
    for path in paths:
        for number, line in enumerate(split_text_lines(read_text_file(path)), 1):
            yield path, number, line


def check_task_label(label: str, options: Mapping[str, Any], path: Path, line: int | None) -> str:
    labels = options.get("labels")
    if labels and label not in labels:
        raise DataError(f"label {label!r} is not one of the task's labels ({', '.join(labels)})", path, line)
    return label


def load_json_file(path: Path) -> Any:
    return _parse_json(read_text_file(path), path, None)


def iter_jsonl_objects(paths: Sequence[Path]) -> Iterable[tuple[Path, int, dict]]:
    """(path, line, object) for every non-blank line of JSON-lines files."""
    for path, number, line in iter_numbered_lines(paths):
        if not line.strip():
            continue
        obj = _parse_json(line, path, number)
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, number)
        yield path, number, obj


def require_field(obj: Mapping[str, Any], key: str, path: Path, line: int | None, kind: type | tuple = str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise DataError(f"missing field {key!r}", path, line)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(f"field {key!r} should be {want}, got {type(value).__name__}", path, line)
    return value


def read_csv_rows(path: Path, required: Sequence[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """(line, row) for a CSV file with a header that holds ``required`` columns (RFC 4180 quoting)."""
    reader = csv.DictReader(io.StringIO(read_text_file(path), newline=""), strict=True)
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


def require_json_field(obj: Any, key: str, path: Path, where: str, kind: type | tuple) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where}: missing field {key!r}", path)
    if not isinstance(obj[key], kind) or (isinstance(obj[key], bool) and bool not in _kinds(kind)):
        raise DataError(f"{where}.{key}: unexpected type {type(obj[key]).__name__}", path)
    return obj[key]


def _kinds(kind: type | tuple) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def check_choice_index(label: int, n: int, path: Path | str, line: int | None) -> int:
    if not 0 <= label < n:
        raise DataError(f"label {label} is not a choice index (0..{n - 1})", path, line)
    return label


def parse_sentence_spans(value: list, n: int, path: Path, where: str) -> list[tuple[int, int]]:
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


def companion_paths(options: Mapping[str, Any], key: str) -> list[Path]:
    value = options.get(key)
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


def pattern_placeholders(lang: str, split: str, lang_codes: Mapping[str, str]) -> dict[str, str]:
    from .languages import LANGUAGES

    name = LANGUAGES[lang].name if lang in LANGUAGES else lang
    return {"lang": lang, "code": lang_codes.get(lang, lang), "name": name, "split": split}


def fill_pattern(template: str, values: Mapping[str, str], what: str) -> str:
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{what} {template!r}: unknown placeholder {exc} (allowed: {{lang}}, {{code}}, {{name}}, {{split}})") from None


def describe_expected_paths(source_split: Any, split: str, lang: str, data_dir: Path | None) -> str:
    base = f"{data_dir}/" if data_dir else "DIR/"
    pats = [base + fill_pattern(s.pattern, pattern_placeholders(lang, split, s.lang_codes), "pattern") for s in source_split.local]
    return " or ".join(pats) if pats else "(no local layout is defined for this split)"

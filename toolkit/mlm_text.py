"""Plain multilingual text for the masked-LM loss mixed into intermediate training (issue 21), kept apart
from the items a matrix scores.

The documented split. Offline, the text comes from the non-English sides of local benchmark files; a
file's items must never be ones the matrix evaluates. :func:`extract_text` takes the sentences of a
*slice* of a split (the split grammar of :func:`toolkit.data.parse_split`, e.g. ``dev[:50%]`` of XNLI or
PAWS-X, whose evaluation then uses ``test`` or ``dev[50%:]``); :func:`overlap` hashes the normalised
sentences of the scored items and counts the text's lines among them, and :func:`refuse_overlap` raises
:class:`~toolkit.errors.DataError` when any line is a scored sentence (the matrix checks every MLM
intermediate against every target it evaluates).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import DataError
from .io import atomic_write_text

TEXT_FIELDS = ("text", "text_pair", "question", "context", "premise", "choice1", "choice2")


def _key(line: str) -> str:
    return hashlib.sha256(" ".join(line.split()).casefold().encode("utf-8")).hexdigest()


def _sentences(examples: Any, candidates: bool = False) -> list[str]:
    if not isinstance(examples, list):  # RetrievalData (Tatoeba): its non-English queries (+ the English candidates)
        found = [*examples.queries, *(examples.candidates if candidates else [])]
        return [s for s in found if isinstance(s, str) and s.strip()]
    out = []
    for ex in examples:
        for key in TEXT_FIELDS:
            value = ex.get(key)
            if isinstance(value, str) and value.strip():
                out.append(value.strip())
        if isinstance(ex.get("tokens"), list):
            out.append(" ".join(ex["tokens"]))
    return out


def extract_text(task: str, split: str, langs: Sequence[str], data_dir: str | os.PathLike | None = None,
                 exclude: set[str] | None = None) -> list[str]:
    """The distinct sentences of ``task``'s ``split`` (a slice such as ``dev[:50%]``) in ``langs``,
    English refused (the MLM text is there to keep the encoder multilingual). ``exclude``: hashes from
    :func:`scored_keys` whose sentences are left out — a disjoint slice of items is not always disjoint in
    sentences (PAWS-X reuses a sentence across several pairs)."""
    from .data import load
    from .tasks import get_task

    if "en" in langs:
        raise DataError("extract_text: the masked-LM text is the non-English sides; drop 'en'")
    spec = get_task(task)
    seen: dict[str, str] = {}
    for lang in langs:
        for line in _sentences(load(spec, split, lang, data_dir=data_dir)):
            key = _key(line)
            if not exclude or key not in exclude:
                seen.setdefault(key, line.replace("\n", " "))
    return list(seen.values())


def save_lines(lines: Iterable[str], path: str | os.PathLike) -> Path:
    """One sentence per line, UTF-8, written atomically."""
    path = Path(path)
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return path


def scored_keys(task: str, split: str, langs: Sequence[str], data_dir: str | os.PathLike | None = None) -> set[str]:
    """Hashes of the normalised sentences of the items ``task``/``split`` scores in ``langs`` (languages
    without data are skipped: nothing of theirs is scored)."""
    from .data import load
    from .errors import XtaError
    from .tasks import get_task

    spec = get_task(task)
    keys: set[str] = set()
    for lang in langs:
        try:
            keys.update(_key(s) for s in _sentences(load(spec, split, lang, data_dir=data_dir), candidates=True))
        except XtaError:  # not at hand: evaluation will say so; nothing of it can be in the text
            continue
    return keys


def overlap(files: Sequence[str | os.PathLike], keys: set[str]) -> list[str]:
    """The lines of ``files`` whose normalised hash is in ``keys`` (the scored sentences)."""
    from .mlm import read_sentences

    return [line for f in files for line in read_sentences(f) if _key(line) in keys]


def refuse_overlap(files: Sequence[str | os.PathLike], task: str, split: str, langs: Sequence[str],
                   data_dir: str | os.PathLike | None = None) -> None:
    """DataError when a line of the masked-LM text is a sentence ``task``/``split`` scores in ``langs``."""
    hits = overlap(files, scored_keys(task, split, langs, data_dir))
    if hits:
        raise DataError(f"mlm_text {', '.join(map(str, files))}: {len(hits)} line(s) are sentences that {task} {split} "
                        f"scores (e.g. {hits[0][:60]!r}); take the text from a disjoint slice "
                        "(toolkit.mlm_text.extract_text with e.g. dev[:50%] and evaluate on dev[50%:] or test)")

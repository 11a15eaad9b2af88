"""Universal Dependencies CoNLL-U as XTREME's UD-POS reads it (multi-word tokens fused, every treebank of a
language merged): google-research/xtreme third_party/ud-conversion-tools and utils_preprocess.py."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .datafiles import Examples, check_task_label, read_text_file, split_text_lines
from .errors import DataError

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
        for number, line in enumerate([*split_text_lines(read_text_file(path)), ""], 1):
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
            words.append((cols[1], check_task_label(cols[3].strip(), options, path, number)))
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

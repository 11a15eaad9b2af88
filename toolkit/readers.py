"""The local file readers: ``READERS[format](paths, lang, options) -> list[dict] | RetrievalData`` (the
contract is in :mod:`toolkit.data`'s docstring). CoNLL-U (UD-POS) lives in :mod:`toolkit.readers_ud`,
Mewsli-X in :mod:`toolkit.readers_mewslix`; the shared file basics in :mod:`toolkit.datafiles`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from .datafiles import (
    Examples,
    Reader,
    RetrievalData,
    check_choice_index,
    check_task_label,
    companion_paths,
    iter_jsonl_objects,
    iter_numbered_lines,
    load_json_file,
    parse_sentence_spans,
    read_csv_rows,
    read_text_file,
    require_field,
    require_json_field,
    split_text_lines,
)
from .errors import DataError
from .readers_mewslix import read_mewslix, read_mewslix_pairs
from .readers_ud import read_conllu

log = logging.getLogger(__name__)


def read_xtreme_tsv_pair(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """XTREME's XNLI / PAWS-X TSV: ``text<TAB>text_pair<TAB>label``, no header.

    The rows are what google-research/xtreme ``utils_preprocess.py`` (xnli_preprocess/pawsx_preprocess)
    writes; its test files hold two columns (labels removed), read here as ``label=None``.
    """
    out: Examples = []
    for path in paths:
        width = 3 if options.get("labelled") else None
        for number, line in enumerate(split_text_lines(read_text_file(path)), 1):
            cols = line.split("\t")
            width = width or (len(cols) if len(cols) in (2, 3) else 3)
            if len(cols) != width:
                want = "text<TAB>text_pair<TAB>label" if width == 3 else "text<TAB>text_pair (as the lines above)"
                raise DataError(f"expected {width} tab-separated columns ({want}), got {len(cols)}", path, number)
            label = check_task_label(cols[2].strip(), options, path, number) if width == 3 else None
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
        for number, line in enumerate(split_text_lines(read_text_file(path)), 1):
            if not line.strip():
                flush()
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise DataError(f"expected 2 tab-separated columns (TOKEN<TAB>TAG), got {len(cols)}", path, number)
            tokens.append(cols[0])
            tags.append(check_task_label(cols[1].strip(), options, path, number))
        flush()  # a sentence never spans two files
    return out


def read_squad_json(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """SQuAD v1.1/v2.0 JSON (XQuAD, MLQA, TyDiQA-GoldP): one example per question.

    SQuAD v2.0 questions with ``is_impossible`` get empty answer lists (Rajpurkar et al. 2018).
    """
    out: Examples = []
    for path in paths:
        data = require_json_field(load_json_file(path), "data", path, "top level", list)
        for a, article in enumerate(data):
            for p, para in enumerate(require_json_field(article, "paragraphs", path, f"data[{a}]", list)):
                where = f"data[{a}].paragraphs[{p}]"
                context = require_json_field(para, "context", path, where, str)
                title = article.get("title")
                for q, qa in enumerate(require_json_field(para, "qas", path, where, list)):
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


def _squad_example(qa: Any, context: str, title: str, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(qa, dict):
        raise DataError(f"{where}: expected an object, got {type(qa).__name__}", path)
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise DataError(f"{where}.is_impossible: unexpected type {type(impossible).__name__}", path)
    answers = [] if impossible else require_json_field(qa, "answers", path, where, list)
    texts, starts = [], []
    for i, ans in enumerate(answers):
        text = require_json_field(ans, "text", path, f"{where}.answers[{i}]", str)
        start = require_json_field(ans, "answer_start", path, f"{where}.answers[{i}]", int)
        # the span must lie inside the context: run_squad's SquadExample indexes char_to_word_offset with it
        # (google-research/xtreme third_party/processors/squad.py l. 637-640, an IndexError there)
        if text and not 0 <= start <= len(context) - len(text):
            raise DataError(f"{where}.answers[{i}]: answer span {start}..{start + len(text)} lies outside the context "
                            f"({len(context)} characters)", path)
        texts.append(text)
        starts.append(start)
    return {
        "id": str(require_json_field(qa, "id", path, where, (str, int))),
        "title": title,
        "context": context,
        "question": require_json_field(qa, "question", path, where, str),
        "answers": {"text": texts, "answer_start": starts},
    }


def read_xcopa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """XCOPA / COPA JSON lines ``{premise, choice1, choice2, question: cause|effect, label, idx}``.

    ``question`` keeps the raw type; TaskSpec.question_prompts maps it to text (Ponti et al. 2020).
    """
    out: Examples = []
    for path, number, obj in iter_jsonl_objects(paths):
        question = require_field(obj, "question", path, number)
        if question not in ("cause", "effect"):
            raise DataError(f"question must be 'cause' or 'effect', got {question!r}", path, number)
        choices = [require_field(obj, "choice1", path, number), require_field(obj, "choice2", path, number)]
        label = check_choice_index(require_field(obj, "label", path, number, int), len(choices), path, number)
        idx = obj.get("idx", len(out))
        if not isinstance(idx, (int, str)) or isinstance(idx, bool):
            raise DataError(f"field 'idx' should be int or str, got {type(idx).__name__}", path, number)
        out.append({"id": f"{lang}-{idx}", "context": require_field(obj, "premise", path, number),
                    "question": question, "choices": choices, "label": label})
    return out


def read_siqa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """Social IQa JSON lines ``{context, question, answerA, answerB, answerC, correct: A|B|C}`` (Sap et al. 2019)."""
    out: Examples = []
    for path, number, obj in iter_jsonl_objects(paths):
        choices = [require_field(obj, f"answer{k}", path, number) for k in "ABC"]
        correct = require_field(obj, "correct", path, number).strip()
        if correct not in ("A", "B", "C"):
            raise DataError(f"'correct' must be A, B or C, got {correct!r}", path, number)
        out.append({"id": f"{lang}-{len(out)}", "context": require_field(obj, "context", path, number),
                    "question": require_field(obj, "question", path, number), "choices": choices, "label": "ABC".index(correct)})
    return out


def read_cosmosqa_csv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """Cosmos QA CSV ``id,context,question,answer0..answer3,label`` (Huang et al. 2019)."""
    cols = ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]
    out: Examples = []
    for path in paths:
        for line, row in read_csv_rows(path, cols):
            if row["label"].strip() not in ("0", "1", "2", "3"):
                raise DataError(f"label must be 0..3, got {row['label']!r}", path, line)
            choices = [row[f"answer{i}"] for i in range(4)]
            out.append({"id": row["id"], "context": row["context"], "question": row["question"],
                        "choices": choices, "label": check_choice_index(int(row["label"]), 4, path, line)})
    return out


_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def read_anli_csv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """ANLI annotated dev CSVs (facebookresearch/anli ``anlizinganli``): context, statement, gold_label e|n|c, uid."""
    out: Examples = []
    for path in paths:
        for line, row in read_csv_rows(path, ["context", "statement", "gold_label", "uid"]):
            short = row["gold_label"].strip()
            if short not in _ANLI_LABELS:
                raise DataError(f"gold_label must be e, n or c, got {short!r}", path, line)
            label = check_task_label(_ANLI_LABELS[short], options, path, line)
            out.append({"id": row["uid"], "text": row["context"], "text_pair": row["statement"], "label": label})
    return out


def read_glue_mnli_tsv(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """GLUE MNLI TSV (header row; ``sentence1``, ``sentence2``, ``gold_label``, ``pairID``), unquoted.

    Rows whose gold label is ``-`` (no annotator majority, SNLI/MNLI convention) are dropped.
    """
    out: Examples = []
    for path in paths:
        lines = split_text_lines(read_text_file(path))
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
            label = check_task_label(cells[col["gold_label"]], options, path, number)
            ident = cells[col["pairID"]] if "pairID" in col else f"{lang}-{len(out)}"
            out.append({"id": ident, "text": cells[col["sentence1"]], "text_pair": cells[col["sentence2"]], "label": label})
    return out


def read_boolq_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """BoolQ JSON lines ``{question, passage, answer: bool}`` (Clark et al. 2019) -> labels 'false'/'true'."""
    out: Examples = []
    for path, number, obj in iter_jsonl_objects(paths):
        label = check_task_label(str(require_field(obj, "answer", path, number, bool)).lower(), options, path, number)
        out.append({"id": f"{lang}-{len(out)}", "text": require_field(obj, "question", path, number),
                    "text_pair": require_field(obj, "passage", path, number), "label": label})
    return out


def read_commonsenseqa_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """CommonsenseQA JSON lines ``{id, answerKey, question: {stem, choices: [{label, text}]}}`` (Talmor et al. 2019)."""
    out: Examples = []
    for path, number, obj in iter_jsonl_objects(paths):
        question = require_field(obj, "question", path, number, dict)
        choices = require_field(question, "choices", path, number, list)
        if not choices or not all(isinstance(c, dict) for c in choices):
            raise DataError("field 'choices' should be a non-empty list of {label, text} objects", path, number)
        keys = [str(c.get("label")) for c in choices]
        answer = require_field(obj, "answerKey", path, number)
        if answer not in keys:
            raise DataError(f"answerKey {answer!r} is not one of the choice labels {keys}", path, number)
        out.append({"id": str(obj.get("id", f"{lang}-{len(out)}")), "context": "",
                    "question": require_field(question, "stem", path, number),
                    "choices": [require_field(c, "text", path, number) for c in choices], "label": keys.index(answer)})
    return out


def read_hellaswag_jsonl(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """HellaSwag JSON lines ``{ind, ctx, endings: [4], label}`` (Zellers et al. 2019); test rows lack labels."""
    out: Examples = []
    for path, number, obj in iter_jsonl_objects(paths):
        endings = require_field(obj, "endings", path, number, list)
        if not endings or not all(isinstance(e, str) for e in endings):
            raise DataError("field 'endings' should be a non-empty list of strings", path, number)
        label = obj.get("label")
        if not isinstance(label, int) or isinstance(label, bool):
            raise DataError(f"label should be an int choice index, got {label!r}", path, number)
        out.append({"id": str(obj.get("ind", f"{lang}-{len(out)}")), "context": require_field(obj, "ctx", path, number),
                    "question": "", "choices": endings, "label": check_choice_index(label, len(endings), path, number)})
    return out


def read_ccg_stagged(paths: Sequence[Path], lang: str, options: Mapping[str, Any]) -> Examples:
    """C&C "stagged" CCGbank: one sentence per line, space-separated ``word|POS|supertag`` tokens."""
    out: Examples = []
    for path, number, line in iter_numbered_lines(paths):
        if not line.strip() or line.startswith("#"):
            continue
        tokens, tags = [], []
        for item in line.split():
            parts = item.rsplit("|", 2)
            if len(parts) < 2 or not parts[-1]:
                raise DataError(f"token {item!r} is not word|POS|supertag", path, number)
            tokens.append(parts[0])
            tags.append(check_task_label(parts[-1], options, path, number))
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
    english = companion_paths(options, "english") or [path.with_name(path.name.rsplit(".", 1)[0] + ".eng")]
    queries, candidates = split_text_lines(read_text_file(path)), split_text_lines(read_text_file(english[0]))
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
    english, gold_files = companion_paths(options, "english"), companion_paths(options, "gold")
    if not english or not gold_files:
        raise DataError("BUCC needs the 'english' and 'gold' companion files", paths[0])
    en_ids, en = _id_sentences(english)
    known_src, known_en = set(src_ids), set(en_ids)
    gold: dict[str, set[str]] = {}
    for path, number, line in iter_numbered_lines(gold_files):
        cols = line.split("\t")
        if len(cols) != 2 or cols[0] not in known_src or cols[1] not in known_en:
            raise DataError(f"expected srcID<TAB>enID with ids from the sentence files, got {line!r}", path, number)
        gold.setdefault(cols[0], set()).add(cols[1])
    return RetrievalData(src_ids, src, en_ids, en, gold, meta={"lang": lang, "candidate_lang": "en", "parallel": False})


def _id_sentences(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    ids, sentences, seen = [], [], set()
    for path, number, line in iter_numbered_lines(paths):
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
    pool_langs = {Path(p).stem: Path(p) for p in companion_paths(options, "pool")}
    pool_langs[lang] = Path(paths[0])  # the query file is always part of the pool
    keep = options.get("pool_languages")
    if keep:
        pool_langs = {k: v for k, v in pool_langs.items() if k in keep or k == lang}
    candidate_languages: list[str] = []
    data = RetrievalData([], [], [], [], {}, candidate_contexts=[], candidate_languages=candidate_languages,
                         meta={"lang": lang, "pool": sorted(pool_langs), "parallel": False})
    relevant: dict[str, set[str]] = {}
    queries: list[tuple[str, str]] = []
    for pool_lang in sorted(pool_langs):
        qs = _lareqa_language(pool_langs[pool_lang], pool_lang, data, relevant)
        if pool_lang == lang:
            queries = qs
    data.meta["candidates_per_language"] = {k: candidate_languages.count(k) for k in sorted(pool_langs)}
    for xling_id, question in queries:
        qid = f"{xling_id}_{lang}"
        data.query_ids.append(qid)
        data.queries.append(question)
        data.gold[qid] = set(relevant[xling_id])
    return data


def _lareqa_language(path: Path, lang: str, data: RetrievalData, relevant: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Add one language's sentences to ``data``; return its (xling_id, question) pairs."""
    questions, skipped, number = [], 0, 0
    # read_lareqa makes ``data`` with both lists (a multilingual pool)
    contexts, languages = cast(list[str], data.candidate_contexts), cast(list[str], data.candidate_languages)
    for a, article in enumerate(require_json_field(load_json_file(path), "data", path, "top level", list)):
        for p, para in enumerate(require_json_field(article, "paragraphs", path, f"data[{a}]", list)):
            number += 1
            where = f"data[{a}].paragraphs[{p}]"
            context = require_json_field(para, "context", path, where, str)
            spans = parse_sentence_spans(require_json_field(para, "sentence_breaks", path, where, list), len(context), path, where)
            sentences = [context[s:e] for s, e in spans]
            ids = [f"{lang}_{number}_{i}" for i in range(len(spans))]
            data.candidate_ids.extend(ids)
            data.candidates.extend(sentences)
            contexts.extend([context] * len(ids))
            languages.extend([lang] * len(ids))
            for q, qa in enumerate(require_json_field(para, "qas", path, where, list)):
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

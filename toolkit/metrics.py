"""Metrics as pure functions that reproduce the official XTREME / XTREME-R scorers.

Every aggregate score is on the **0-100 scale**, like the numbers XTREME's ``evaluate.py`` prints and
the papers report. Per-example helpers (``squad_example_scores``, ``average_precision_at_k``...) stay
on the 0-1 scale of the official per-example functions.

Sources (google-research/xtreme, the scripts its ``evaluate.py`` calls, ``install_tools.sh``):

* accuracy (xnli, pawsx, xcopa, tatoeba): ``evaluate.py::accuracy``.
* seqeval F1 / precision / recall (udpos, panx): ``evaluate.py::f1`` = ``seqeval.metrics`` on lists of
  tag lists, default (conlleval-compatible, non-strict) mode.
* SQuAD v1.1 EM / F1 (xquad, tydiqa): ``third_party/evaluate_squad.py``, fetched by
  ``install_tools.sh`` from allenai/bi-att-flow ``squad/evaluate-v1.1.py``.
* MLQA EM / F1 (mlqa): ``third_party/evaluate_mlqa.py``, fetched from facebookresearch/MLQA
  ``mlqa_evaluation_v1.py``.
* BUCC F1 (bucc2018): ``third_party/utils_retrieve.py::bucc_optimize / bucc_extract / bucc_eval`` and
  ``evaluate.py::bucc_f1``.
* mAP@20 (lareqa, mewslix): XTREME-R ``third_party/utils_lareqa.py::average_precision_at_k`` (AP@k
  divided by ``min(#relevant, k)``) and ``third_party/utils_mewslix.py::evaluate`` (MRR@20, which equals
  AP@20 for its single gold entity).

``score(metrics, predictions, references, lang=...)`` dispatches the metric names a TaskSpec declares
(``toolkit.tasks.spec.METRICS``) and computes each family once.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import string
import sys
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any, cast

from seqeval.metrics import f1_score as _seqeval_f1
from seqeval.metrics import precision_score as _seqeval_precision
from seqeval.metrics import recall_score as _seqeval_recall

from .errors import ConfigError, DataError, UnknownLanguage, UnknownName

logger = logging.getLogger(__name__)

Pair = tuple[str, str]

# ----------------------------------------------------------------------------------------------
# accuracy
# ----------------------------------------------------------------------------------------------


def accuracy(predictions: Sequence[Any], labels: Sequence[Any]) -> float:
    """Percentage of predictions equal to their label (``evaluate.py::accuracy``; xnli, pawsx, xcopa,
    tatoeba). Lengths must match, as the official reader asserts."""
    _check_lengths(predictions, labels, "predictions", "labels")
    correct = sum(int(p == gold) for p, gold in zip(predictions, labels))
    return 100.0 * correct / len(predictions)


def token_accuracy(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> float:
    """Percentage of tokens whose predicted tag equals the gold tag, over all sequences (micro).

    Not an XTREME score (XTREME reports seqeval F1 even for POS); useful for tagging intermediate tasks
    and as a sanity figure next to :func:`seqeval_f1`.
    """
    y_true, y_pred = _aligned_tag_lists(predictions, labels)
    flat_pred = [t for seq in y_pred for t in seq]
    flat_true = [t for seq in y_true for t in seq]
    return accuracy(flat_pred, flat_true)


def _check_lengths(a: Sequence[Any], b: Sequence[Any], a_name: str, b_name: str) -> None:
    if len(a) != len(b):
        raise DataError(f"{len(a)} {a_name} but {len(b)} {b_name}; score aligned lists of the same length")
    if len(a) == 0:
        raise DataError(f"no {b_name} to score; a score over zero examples is undefined")


# ----------------------------------------------------------------------------------------------
# seqeval (udpos, panx)
# ----------------------------------------------------------------------------------------------


def seqeval_scores(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> dict[str, float]:
    """Chunk-level micro F1 / precision / recall of tag sequences, exactly ``evaluate.py::f1``.

    ``seqeval`` (default mode, like conlleval) decodes chunks from the first character of each tag
    (``B``/``I``/``E``/``S``/``O``) and the chunk type from what follows the first ``-``; a sequence that
    opens with ``I-X`` starts a chunk. XTREME scores UD POS tags the same way, although they carry no
    prefix: with seqeval >= 1.0 ``NOUN`` reads as tag ``N`` of type ``OUN``, a run of equal POS tags is
    one chunk, ``CCONJ``/``SCONJ`` share the type ``CONJ``, ``SCONJ``/``SYM`` open single chunks
    (tag ``S``) and ``INTJ`` acts as an inside tag. We keep these quirks on purpose: they are what the
    official script reports. seqeval's "not a NE tag" and zero-division warnings are silenced (both
    count as 0, as in the official script).
    """
    y_true, y_pred = _aligned_tag_lists(predictions, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # seqeval annotates List[float] | float; micro averaging (its default) returns a float
        return {
            "f1": 100.0 * cast(float, _seqeval_f1(y_true, y_pred)),
            "precision": 100.0 * cast(float, _seqeval_precision(y_true, y_pred)),
            "recall": 100.0 * cast(float, _seqeval_recall(y_true, y_pred)),
        }


def seqeval_f1(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> float:
    """seqeval micro F1 (0-100), see :func:`seqeval_scores`."""
    return seqeval_scores(predictions, labels)["f1"]


def _aligned_tag_lists(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """(gold, predicted) as lists of lists of str, checked to align sequence by sequence."""
    y_true, y_pred = _tag_lists(labels, "labels"), _tag_lists(predictions, "predictions")
    _check_lengths(y_pred, y_true, "predicted sequences", "gold sequences")
    for i, (p, t) in enumerate(zip(y_pred, y_true)):
        if len(p) != len(t):
            raise DataError(f"sequence {i}: {len(p)} predicted tags but {len(t)} gold tags")
    return y_true, y_pred


def _tag_lists(seqs: Sequence[Sequence[str]], name: str) -> list[list[str]]:
    """seqeval only flattens *lists* of lists (tuples would silently be misread): normalise."""
    if isinstance(seqs, str) or any(isinstance(s, str) for s in seqs):
        raise DataError(f"{name}: expected a list of tag sequences (lists of str), got a flat sequence")
    return [[str(t) for t in s] for s in seqs]


# ----------------------------------------------------------------------------------------------
# SQuAD v1.1 (xquad, tydiqa)
# ----------------------------------------------------------------------------------------------

_SQUAD_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lower, drop ASCII punctuation, replace the articles
    a/an/the with a space, collapse whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", text).split())


def token_f1(prediction_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    """Bag-of-tokens F1 of the SQuAD / MLQA scripts (0-1); 0 when no token is shared, which includes
    an empty prediction or an empty gold answer."""
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_example_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction, each the max over the gold answers (0-1), SQuAD v1.1 rules."""
    return _example_scores(prediction, golds, squad_normalize)


def squad_scores(predictions: Mapping[str, str], references: Any) -> dict[str, float]:
    """SQuAD v1.1 ``evaluate``: mean EM and F1 (0-100) over every gold question.

    ``predictions`` maps question id -> answer text. ``references`` is a SQuAD JSON (``{"data": [...]}``
    or its ``data`` list), a list of normalised ``extractive_qa`` examples (``{"id", "answers":
    {"text": [...]}}``) or a mapping id -> list of gold answer texts (see :func:`gold_answers`). A
    question without prediction scores 0 (the official script warns and counts it); predictions for
    unknown ids are ignored.
    """
    return _qa_scores(predictions, references, squad_normalize)


# ----------------------------------------------------------------------------------------------
# MLQA (mlqa)
# ----------------------------------------------------------------------------------------------

WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MIXED_SEGMENTATION_LANGS = ("zh",)
MLQA_LANGUAGES = WHITESPACE_LANGS + MIXED_SEGMENTATION_LANGS

# Per-language article patterns of mlqa_evaluation_v1.py (None: the language has no articles).
# Arabic: the official pattern '\sال^|ال' can only ever match its second branch ('^' after other
# characters never matches without MULTILINE), so *every* occurrence of 'ال' is replaced by a space,
# inside words too. Kept as is.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@functools.cache
def mlqa_punctuation() -> frozenset[str]:
    """Every Unicode code point of a ``P*`` category, plus ``string.punctuation`` (MLQA's ``PUNCT``;
    built once, lazily, as it scans the whole code space)."""
    cats = (chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))
    return frozenset(cats).union(string.punctuation)


def mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokenisation: every CJK character (U+4E00-U+9FA5) and punctuation mark is its own
    token; runs of other characters are split on whitespace."""
    punct = mlqa_punctuation()
    tokens: list[str] = []
    run = ""
    for char in text:
        if _CJK.search(char) or char in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(char)
        else:
            run += char
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA ``normalize_answer``: lower, drop Unicode punctuation, replace the language's articles
    with a space, then re-join tokens (whitespace split; mixed segmentation for zh) with single spaces.
    Only the seven MLQA answer languages are defined; others raise, like the official script."""
    if lang not in _MLQA_ARTICLES:
        raise UnknownLanguage(lang, MLQA_LANGUAGES, task="mlqa scoring")
    punct = mlqa_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    pattern = _MLQA_ARTICLES[lang]
    if pattern is not None:
        text = pattern.sub(" ", text)
    tokens = mixed_segmentation(text) if lang in MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa_example_scores(prediction: str, golds: Sequence[str], lang: str) -> tuple[float, float]:
    """(EM, F1) of one prediction, each the max over the gold answers (0-1), MLQA rules for ``lang``."""
    return _example_scores(prediction, golds, functools.partial(mlqa_normalize, lang=lang))


def mlqa_scores(predictions: Mapping[str, str], references: Any, lang: str) -> dict[str, float]:
    """MLQA ``evaluate``: mean EM and F1 (0-100) with the answer language's normalisation.

    Inputs as for :func:`squad_scores`; ``lang`` is the answer (context) language.
    """
    if lang not in _MLQA_ARTICLES:
        raise UnknownLanguage(lang, MLQA_LANGUAGES, task="mlqa scoring")
    return _qa_scores(predictions, references, functools.partial(mlqa_normalize, lang=lang))


# ----------------------------------------------------------------------------------------------
# QA plumbing shared by SQuAD and MLQA
# ----------------------------------------------------------------------------------------------


def _example_scores(prediction: str, golds: Sequence[str], normalize: Callable[[str], str]) -> tuple[float, float]:
    """``metric_max_over_ground_truths`` for EM and F1 of both scripts (normalise, then split)."""
    if not golds:
        raise DataError("a question without gold answers cannot be scored with SQuAD v1.1 / MLQA rules")
    pred = normalize(prediction)
    pred_tokens = pred.split()
    em = f1 = 0.0
    for gold in golds:
        norm_gold = normalize(gold)
        em = max(em, float(pred == norm_gold))
        f1 = max(f1, token_f1(pred_tokens, norm_gold.split()))
    return em, f1


def _qa_scores(predictions: Mapping[str, str], references: Any, normalize: Callable[[str], str]) -> dict[str, float]:
    golds = gold_answers(references)
    if not golds:
        raise DataError("no gold questions to score; a score over zero examples is undefined")
    em_sum = f1_sum = 0.0
    missing = 0
    for qid, answers in golds:
        if qid not in predictions:
            missing += 1
            continue
        em, f1 = _example_scores(predictions[qid], answers, normalize)
        em_sum += em
        f1_sum += f1
    if missing:
        logger.warning("%d of %d questions have no prediction and score 0", missing, len(golds))
    return {"exact_match": 100.0 * em_sum / len(golds), "f1": 100.0 * f1_sum / len(golds)}


def gold_answers(references: Any) -> list[tuple[str, list[str]]]:
    """Gold answer texts per question id, in dataset order (duplicates kept, like the official loops).

    Accepts a SQuAD JSON mapping with ``data``, its list of articles (``paragraphs`` -> ``qas``), a
    list of normalised ``extractive_qa`` examples, or a mapping id -> list of answer texts.
    """
    if isinstance(references, Mapping) and "data" in references and not isinstance(references["data"], str):
        references = references["data"]
    if isinstance(references, Mapping):
        return [(str(qid), _answer_texts(ans, qid)) for qid, ans in references.items()]
    items: list[tuple[str, list[str]]] = []
    for entry in references:
        if not isinstance(entry, Mapping):
            raise DataError(f"QA references: expected SQuAD articles or examples (mappings), got {type(entry).__name__}")
        if "paragraphs" in entry:
            for paragraph in entry["paragraphs"]:
                items.extend((str(qa["id"]), _answer_texts(qa["answers"], qa["id"])) for qa in paragraph["qas"])
        elif "id" in entry and "answers" in entry:
            items.append((str(entry["id"]), _answer_texts(entry["answers"], entry["id"])))
        else:
            raise DataError("QA references: an entry has neither 'paragraphs' (SQuAD article) nor 'id'/'answers'")
    return items


def _answer_texts(answers: Any, qid: Any) -> list[str]:
    """Texts from ``{"text": [...]}`` (HF/normalised), ``[{"text": ...}]`` (SQuAD JSON) or ``[str]``."""
    if isinstance(answers, Mapping):
        return [str(t) for t in answers.get("text", [])]
    if isinstance(answers, str):
        raise DataError(f"question {qid!r}: gold answers must be a list of texts, got a single string")
    return [str(a["text"]) if isinstance(a, Mapping) else str(a) for a in answers]


# ----------------------------------------------------------------------------------------------
# BUCC 2018 (bucc2018)
# ----------------------------------------------------------------------------------------------


#: How the threshold of a BUCC score was chosen, recorded per language (``LangResult.protocol``, written
#: by ``toolkit.evaluate``, shown by ``toolkit.report``): tuned on the dev split and applied to the scored
#: split (the protocol, ``toolkit.retrieval.bucc_tune_threshold``), or tuned on the gold of the scored
#: split itself (an oracle: what scoring dev gives when dev is the only split with gold).
BUCC_THRESHOLD_DEV = "tuned on dev"
BUCC_THRESHOLD_ORACLE = "tuned on the scored split (oracle)"


def bucc_candidate_scores(candidates: Mapping[Pair, float] | Iterable[tuple[str, str, float]]) -> dict[Pair, float]:
    """Candidate pair -> score; from triples ``(src_id, trg_id, score)``, a pair mined twice keeps its
    highest score (``utils_retrieve.py::read_candidate2score``)."""
    if isinstance(candidates, Mapping):  # the Mapping[Pair, float] of the signature
        return {(str(s), str(t)): float(v) for (s, t), v in cast("Mapping[Pair, float]", candidates).items()}
    out: dict[Pair, float] = {}
    for src, trg, value in candidates:
        pair = (str(src), str(trg))
        out[pair] = max(float(value), out.get(pair, float(value)))
    return out


def bucc_optimize_threshold(candidates: Mapping[Pair, float], gold: Collection[Pair]) -> float:
    """The score threshold that maximises F1 against ``gold`` (``utils_retrieve.py::bucc_optimize``).

    Candidates are walked from the highest score down (ties in insertion order, as Python's stable
    sort does there); each time F1 of the top-i list beats the best so far (strictly), the threshold
    becomes the midpoint between the i-th and the next score. 0 when no candidate is gold. One
    deviation: the official code indexes past the end when the best F1 comes with the *last*
    candidate (IndexError); we then use that candidate's own score, which keeps every candidate.
    """
    items = sorted(candidates.items(), key=lambda item: -item[1])
    gold_set = {tuple(p) for p in gold}
    n_gold = len(gold_set)
    n_extract = n_correct = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, value) in enumerate(items):
        n_extract += 1
        n_correct += pair in gold_set
        if n_correct == 0:
            continue
        precision, recall = n_correct / n_extract, n_correct / n_gold
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (value + items[i + 1][1]) / 2 if i + 1 < len(items) else value
    return threshold


def bucc_mine(candidates: Mapping[Pair, float], threshold: float) -> list[Pair]:
    """Pairs whose score is ``>= threshold`` (``utils_retrieve.py::bucc_extract``), in input order."""
    return [pair for pair, value in candidates.items() if value >= threshold]


def bucc_pair_scores(predicted: Iterable[Pair], gold: Iterable[Pair]) -> dict[str, float]:
    """F1 / precision / recall (0-100) of mined pairs against gold pairs, both as sets
    (``evaluate.py::bucc_f1``); all 0 when nothing is correct."""
    pred_set = {tuple(p) for p in predicted}
    gold_set = {tuple(p) for p in gold}
    n_correct = len(pred_set & gold_set)
    if n_correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = n_correct / len(pred_set), n_correct / len(gold_set)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def bucc_scores(
    candidates: Mapping[Pair, float] | Iterable[tuple[str, str, float]],
    gold: Collection[Pair],
    threshold: float | None = None,
) -> dict[str, float]:
    """``utils_retrieve.py::bucc_eval``: mine at ``threshold``, or at the F1-optimal threshold on
    ``gold`` when none is given (XTREME tunes it on the dev gold and applies it to test). Returns
    ``f1``, ``precision``, ``recall`` (0-100) and the ``threshold`` used."""
    scored = bucc_candidate_scores(candidates)
    if threshold is None:
        threshold = bucc_optimize_threshold(scored, gold)
    result = bucc_pair_scores(bucc_mine(scored, threshold), gold)
    result["threshold"] = float(threshold)
    return result


# ----------------------------------------------------------------------------------------------
# mAP@k (lareqa, mewslix)
# ----------------------------------------------------------------------------------------------


def average_precision_at_k(relevant: Collection[Hashable], ranked: Sequence[Hashable], k: int | None = 20) -> float:
    """AP@k of one ranked list (0-1), XTREME-R ``utils_lareqa.py::average_precision_at_k``.

    Precision is summed at the rank of each relevant item within the top ``k`` (a repeated id counts
    once) and divided by ``min(#relevant, k)``; ``k=None`` uses the whole list and ``#relevant``.
    """
    if not relevant:
        raise DataError("a query without relevant candidates has no average precision")
    ranked = list(ranked[:k] if k else ranked)
    relevant = set(relevant)
    seen: set[Hashable] = set()
    hits = 0
    total = 0.0
    for i, item in enumerate(ranked):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / (i + 1)
        seen.add(item)
    return total / (min(len(relevant), k) if k else len(relevant))


def map_at_k(
    rankings: Mapping[str, Sequence[Hashable]], gold: Mapping[str, Collection[Hashable]], k: int | None = 20
) -> float:
    """Mean AP@k (0-100) over every query of ``gold`` (query id -> relevant candidate ids);
    ``rankings`` maps query id -> candidate ids, best first. A query without ranking scores 0, as in
    Mewsli-X's ``evaluate``; for Mewsli-X's single gold entity AP@20 equals its MRR@20. ``k=None``
    scores whole rankings (plain AP, as XTREME's older ``utils_lareqa.mean_avg_prec``)."""
    if not gold:
        raise DataError("no queries to score; a score over zero examples is undefined")
    missing = [q for q in gold if q not in rankings]
    if missing:
        logger.warning("%d of %d queries have no ranking and score 0", len(missing), len(gold))
    aps = [average_precision_at_k(rel, rankings.get(q, ()), k) for q, rel in gold.items()]
    return 100.0 * math.fsum(aps) / len(aps)


# ----------------------------------------------------------------------------------------------
# dispatch by the metric names of toolkit.tasks.spec.METRICS
# ----------------------------------------------------------------------------------------------


def _accuracy_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    return {"accuracy": accuracy(predictions, references)}


def _token_accuracy_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    return {"token_accuracy": token_accuracy(predictions, references)}


def _seqeval_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    return {f"seqeval_{name}": value for name, value in seqeval_scores(predictions, references).items()}


def _squad_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    return squad_scores(predictions, references)


def _mlqa_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    if lang is None:
        raise ConfigError(f"MLQA scoring needs the answer language: pass lang= (one of {', '.join(MLQA_LANGUAGES)})")
    return {f"mlqa_{name}": value for name, value in mlqa_scores(predictions, references, lang).items()}


def _map20_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    return {"map@20": map_at_k(predictions, references, k=20)}


def _bucc_family(predictions: Any, references: Any, lang: str | None, threshold: float | None) -> dict[str, float]:
    """Scored candidates (a mapping pair -> score) are mined (threshold tuned on ``references`` unless
    given); a plain collection of pairs is taken as already mined (``evaluate.py::bucc_f1``)."""
    if isinstance(predictions, Mapping):
        result = bucc_scores(predictions, references, threshold)
    else:
        result = bucc_pair_scores(predictions, references)
    return {f"bucc_{name}": value for name, value in result.items()}


_Family = Callable[[Any, Any, "str | None", "float | None"], dict[str, float]]

# metric name -> the family function that computes it with its companions (under the same key);
# qa_mean is derived in ``score`` from the QA family of the same call.
_METRICS: dict[str, _Family] = {
    "accuracy": _accuracy_family,
    "token_accuracy": _token_accuracy_family,
    "f1": _squad_family,
    "exact_match": _squad_family,
    "seqeval_f1": _seqeval_family,
    "map@20": _map20_family,
    "bucc_f1": _bucc_family,
    "mlqa_f1": _mlqa_family,
    "mlqa_exact_match": _mlqa_family,
    "qa_mean": _squad_family,
}


def _single(name: str) -> Callable[..., float]:
    def metric(predictions: Any, references: Any, *, lang: str | None = None, threshold: float | None = None) -> float:
        return score([name], predictions, references, lang=lang, threshold=threshold)[name]

    metric.__name__ = metric.__qualname__ = name.replace("@", "_at_")
    metric.__doc__ = f"The {name!r} metric (0-100), see ``toolkit.metrics.score``."
    return metric


#: metric name (as declared in TaskSpec.metrics) -> ``f(predictions, references, *, lang=None,
#: threshold=None) -> float`` on the 0-100 scale.
METRIC_FUNCTIONS: dict[str, Callable[..., float]] = {name: _single(name) for name in _METRICS}


def score(
    metrics: Sequence[str],
    predictions: Any,
    references: Any,
    *,
    lang: str | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """Compute the named metrics (each family once) and return them with their companions (0-100).

    Input shapes per family: accuracy — aligned lists; ``seqeval_f1`` — lists of tag lists;
    ``f1``/``exact_match``/``mlqa_*`` — id -> answer text and references as in :func:`squad_scores`
    (``lang`` required for MLQA); ``map@20`` — query id -> ranked candidate ids and query id ->
    relevant ids; ``bucc_f1`` — pair -> score (or mined pairs) and gold pairs, ``threshold`` optional.
    Companion figures: ``seqeval_precision``/``seqeval_recall``, ``bucc_precision``/``bucc_recall``/
    ``bucc_threshold``, and both EM and F1 of a QA family. ``qa_mean`` = (EM + F1) / 2, XTREME's QA
    score (``evaluate.py``: ``avg_metric``), from the MLQA pair when ``mlqa_*`` names are asked in the
    same call, else from SQuAD v1.1 rules.
    """
    names = list(metrics)
    for name in names:
        if name not in _METRICS:
            raise UnknownName("metric", name, _METRICS)
    out: dict[str, float] = {}
    done: set[str] = set()
    for name in names:
        family = _METRICS[name]
        if name != "qa_mean" and family.__name__ not in done:
            out.update(family(predictions, references, lang, threshold))
            done.add(family.__name__)
    if "qa_mean" in names:
        prefix = "mlqa_" if "_mlqa_family" in done else ""
        if not prefix and "_squad_family" not in done:
            out.update(_squad_family(predictions, references, lang, threshold))
        out["qa_mean"] = (out[f"{prefix}exact_match"] + out[f"{prefix}f1"]) / 2
    return out

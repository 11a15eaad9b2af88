"""toolkit.metrics: hand-computed cases for every metric, and agreement with small restatements of the
official scorers' logic (google-research/xtreme evaluate.py and the scripts it calls)."""

from __future__ import annotations

import random
import re
import string
import sys
import unicodedata
from collections import Counter

import pytest

from toolkit import metrics as M
from toolkit.errors import ConfigError, DataError, UnknownLanguage, UnknownName
from toolkit.tasks.spec import METRICS

# ------------------------------------------------------------------------------------------------
# Restatements of the official logic (kept close to the originals, for comparison only).
# ------------------------------------------------------------------------------------------------


def ref_squad_normalize(s):  # allenai/bi-att-flow squad/evaluate-v1.1.py (XTREME third_party/evaluate_squad.py)
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


REF_PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}.union(
    string.punctuation
)


def ref_mixed_segmentation(text):  # facebookresearch/MLQA mlqa_evaluation_v1.py
    segs_out, temp_str = [], ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in REF_PUNCT:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def ref_mlqa_normalize(s, lang):  # facebookresearch/MLQA mlqa_evaluation_v1.py
    def remove_articles(text, lang):
        if lang == "en":
            return re.sub(r"\b(a|an|the)\b", " ", text)
        elif lang == "es":
            return re.sub(r"\b(un|una|unos|unas|el|la|los|las)\b", " ", text)
        elif lang == "hi":
            return text
        elif lang == "vi":
            return re.sub(r"\b(của|là|cái|chiếc|những)\b", " ", text)
        elif lang == "de":
            return re.sub(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b", " ", text)
        elif lang == "ar":
            return re.sub(r"\sال^|ال", " ", text)
        elif lang == "zh":
            return text
        raise Exception("Unknown Language {}".format(lang))

    def white_space_fix(text, lang):
        tokens = ref_mixed_segmentation(text) if lang == "zh" else text.split()
        return " ".join([t for t in tokens if t.strip() != ""])

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in REF_PUNCT)

    return white_space_fix(remove_articles(remove_punc(s.lower()), lang), lang)


def ref_qa_evaluate(dataset, predictions, normalize):  # evaluate() of both scripts
    def f1_score(prediction, ground_truth):
        prediction_tokens = normalize(prediction).split()
        ground_truth_tokens = normalize(ground_truth).split()
        common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(prediction_tokens)
        recall = 1.0 * num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    def exact_match_score(prediction, ground_truth):
        return normalize(prediction) == normalize(ground_truth)

    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(exact_match_score(prediction, g) for g in ground_truths)
                f1 += max(f1_score(prediction, g) for g in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def ref_bucc_optimize(candidate2score, gold):  # xtreme third_party/utils_retrieve.py (gold: "src\ttrg" lines)
    items = sorted(candidate2score.items(), key=lambda x: -x[1])
    ngold = len(gold)
    nextract = ncorrect = 0
    threshold = 0
    best_f1 = 0
    for i in range(len(items)):
        nextract += 1
        if "\t".join(items[i][0]) in gold:
            ncorrect += 1
        if ncorrect > 0:
            precision = ncorrect / nextract
            recall = ncorrect / ngold
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (items[i][1] + items[i + 1][1]) / 2
    return threshold


def ref_bucc_eval(candidate2score, gold, threshold=None):  # bucc_extract + bucc_eval, without files
    if threshold is None:
        threshold = ref_bucc_optimize(candidate2score, gold)
    bitexts = [src + "\t" + trg for (src, trg), score in candidate2score.items() if score >= threshold]
    ncorrect = len(gold.intersection(bitexts))
    if ncorrect > 0:
        precision = ncorrect / len(bitexts)
        recall = ncorrect / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
    else:
        precision = recall = f1 = 0
    return {"threshold": threshold, "precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1}


def ref_average_precision_at_k(targets, ranked_predictions, k=None):  # XTREME-R third_party/utils_lareqa.py
    if k:
        ranked_predictions = ranked_predictions[:k]
    score = 0.0
    hits = 0.0
    for i, pred in enumerate(ranked_predictions):
        if pred in targets and pred not in ranked_predictions[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    divisor = min(len(targets), k) if k else len(targets)
    return score / divisor


def ref_mewslix_mrr(gold_data, predictions, k=20):  # XTREME-R third_party/utils_mewslix.py::evaluate
    rrs = []
    for ex_id, labels in gold_data.items():
        gold = labels[0].strip()
        rr = 0.0
        for rank, p in enumerate(predictions.get(ex_id, [])[:k], start=1):
            if p == gold:
                rr = 1.0 / rank
                break
        rrs.append(rr)
    return sum(rrs) / len(rrs) if rrs else 0.0


def squad_json(golds: dict[str, list[str]]) -> dict:
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in ans]} for qid, ans in golds.items()]
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


# ------------------------------------------------------------------------------------------------
# accuracy
# ------------------------------------------------------------------------------------------------


def test_accuracy_hand_computed():
    assert M.accuracy([1, 0, 2, 2], [1, 1, 2, 0]) == pytest.approx(50.0)
    assert M.accuracy(["entailment", "neutral", "contradiction"], ["entailment", "neutral", "neutral"]) == pytest.approx(
        200 / 3
    )
    assert M.accuracy([3], [3]) == 100.0


def test_accuracy_rejects_misaligned_or_empty():
    with pytest.raises(DataError, match="2 predictions but 3 labels"):
        M.accuracy([1, 2], [1, 2, 3])
    with pytest.raises(DataError, match="zero examples"):
        M.accuracy([], [])


def test_token_accuracy_hand_computed():
    gold = [["NOUN", "NOUN", "VERB", "PUNCT"], ["DET"]]
    pred = [["NOUN", "VERB", "VERB", "PUNCT"], ["PRON"]]
    assert M.token_accuracy(pred, gold) == pytest.approx(60.0)  # 3 of 5 tokens
    with pytest.raises(DataError, match="sequence 1"):
        M.token_accuracy(pred, [gold[0], ["DET", "DET"]])


# ------------------------------------------------------------------------------------------------
# seqeval (panx, udpos)
# ------------------------------------------------------------------------------------------------


def test_seqeval_ner_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold chunks PER, LOC, ORG; predicted PER, ORG, ORG; 2 correct -> P = R = F1 = 2/3
    s = M.seqeval_scores(pred, gold)
    assert s == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3})
    # a missed chunk: P = 1/1, R = 1/2
    s = M.seqeval_scores([["B-PER", "I-PER", "O", "O"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert s == pytest.approx({"f1": 200 / 3, "precision": 100.0, "recall": 50.0})


def test_seqeval_sequence_opening_with_inside_tag():
    # conlleval / seqeval default mode: a leading I-PER opens a chunk, so I-PER I-PER == B-PER I-PER
    assert M.seqeval_f1([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]) == 100.0
    # a lone I- chunk of the wrong extent is wrong
    assert M.seqeval_f1([["I-PER", "O", "O"]], [["B-PER", "I-PER", "O"]]) == 0.0
    # a type change inside a chunk splits it: B-PER I-LOC is PER(0) + LOC(1)
    assert M.seqeval_scores([["B-PER", "B-LOC"]], [["B-PER", "I-LOC"]]) == pytest.approx(
        {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    )


def test_seqeval_pos_tags_without_prefix():
    # POS tags are read as chunks too (XTREME scores udpos with seqeval): runs of equal tags merge.
    gold = [["NOUN", "NOUN", "VERB", "PUNCT"]]
    pred = [["NOUN", "VERB", "VERB", "PUNCT"]]
    # gold chunks NOUN(0-1) VERB(2) PUNCT(3); pred NOUN(0) VERB(1-2) PUNCT(3); only PUNCT matches
    assert M.seqeval_scores(pred, gold) == pytest.approx({"f1": 100 / 3, "precision": 100 / 3, "recall": 100 / 3})
    assert M.accuracy(pred[0], gold[0]) == 75.0  # what token accuracy would have said
    # seqeval >= 1.0 types a tag by what follows its first character: CCONJ and SCONJ are both "CONJ"
    assert M.seqeval_f1([["SCONJ"]], [["CCONJ"]]) == 100.0
    assert M.seqeval_f1([["ADJ"]], [["ADP"]]) == 0.0
    # sentence boundaries separate chunks: two sentences of one NOUN each are two chunks
    assert M.seqeval_scores([["NOUN"], ["VERB"]], [["NOUN"], ["NOUN"]]) == pytest.approx(
        {"f1": 50.0, "precision": 50.0, "recall": 50.0}
    )


def test_seqeval_matches_seqeval_itself_on_random_tags():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in gold]
    got = M.seqeval_scores(tuple(tuple(s) for s in pred), gold)  # tuples are normalised to lists
    assert got["f1"] == pytest.approx(100 * f1_score(gold, pred))
    assert got["precision"] == pytest.approx(100 * precision_score(gold, pred))
    assert got["recall"] == pytest.approx(100 * recall_score(gold, pred))
    assert 0 < got["f1"] < 100


def test_seqeval_no_predicted_chunks_is_zero_and_misalignment_raises():
    assert M.seqeval_scores([["O", "O"]], [["B-PER", "O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    with pytest.raises(DataError, match="sequence 0: 1 predicted tags but 2 gold tags"):
        M.seqeval_f1([["O"]], [["O", "O"]])
    with pytest.raises(DataError, match="flat sequence"):
        M.seqeval_f1(["O", "O"], ["O", "O"])


# ------------------------------------------------------------------------------------------------
# SQuAD v1.1 (xquad, tydiqa)
# ------------------------------------------------------------------------------------------------


def test_squad_normalize():
    assert M.squad_normalize("The  Quick, brown fox!") == "quick brown fox"
    assert M.squad_normalize("An apple a day") == "apple day"
    assert M.squad_normalize("theory anthem") == "theory anthem"  # articles only as whole words
    assert M.squad_normalize("«Paris»") == "«paris»"  # only ASCII punctuation is removed


def test_squad_example_scores_max_over_golds_and_edge_cases():
    assert M.squad_example_scores("the Eiffel Tower", ["Eiffel Tower", "tower"]) == (1.0, 1.0)
    em, f1 = M.squad_example_scores("Eiffel", ["Eiffel Tower", "the tower in Paris"])
    assert (em, f1) == (0.0, pytest.approx(2 / 3))  # P = 1, R = 1/2 against the first gold
    em, f1 = M.squad_example_scores("tower in Paris", ["Eiffel Tower", "the tower in Paris"])
    assert (em, f1) == (1.0, 1.0)  # the second gold wins
    assert M.squad_example_scores("", ["Paris"]) == (0.0, 0.0)  # empty prediction
    # an article-only prediction normalises to "" like an article-only gold: EM 1 but F1 0 (official)
    assert M.squad_example_scores("a", ["the"]) == (1.0, 0.0)
    # repeated tokens count with multiplicity: "paris paris" vs "paris": P = 1/2, R = 1
    assert M.squad_example_scores("Paris Paris", ["Paris"])[1] == pytest.approx(2 / 3)


def test_squad_scores_dataset_level_and_input_formats():
    golds = {"q1": ["Eiffel Tower"], "q2": ["Eiffel Tower", "the tower in Paris"], "q3": ["1889"]}
    preds = {"q1": "The Eiffel Tower.", "q2": "Eiffel", "unknown": "ignored"}  # q3 unanswered -> 0
    expected = {"exact_match": 100 / 3, "f1": 100 * (1 + 2 / 3) / 3}
    as_json = squad_json(golds)
    as_examples = [{"id": q, "answers": {"text": a, "answer_start": [0] * len(a)}} for q, a in golds.items()]
    for refs in (golds, as_json, as_json["data"], as_examples):
        assert M.squad_scores(preds, refs) == pytest.approx(expected)
    assert M.squad_scores(preds, as_json) == pytest.approx(ref_qa_evaluate(as_json["data"], preds, ref_squad_normalize))


def test_squad_scores_errors():
    with pytest.raises(DataError, match="without gold answers"):
        M.squad_scores({"q": "x"}, {"q": []})
    with pytest.raises(DataError, match="zero examples"):
        M.squad_scores({}, {})
    with pytest.raises(DataError, match="single string"):
        M.squad_scores({"q": "x"}, {"q": "x"})


# ------------------------------------------------------------------------------------------------
# MLQA
# ------------------------------------------------------------------------------------------------


def test_mlqa_chinese_mixed_segmentation():
    assert M.mixed_segmentation("2008年北京奥运会") == ["2008", "年", "北", "京", "奥", "运", "会"]
    assert M.mixed_segmentation("iPhone 手机,好") == ["iPhone", "手", "机", ",", "好"]
    assert M.mlqa_normalize("北京大学。", "zh") == "北 京 大 学"
    # each CJK character is a token: pred 4 chars, gold 2 shared -> P = 1/2, R = 1, F1 = 2/3
    em, f1 = M.mlqa_example_scores("北京大学", ["北京"], "zh")
    assert (em, f1) == (0.0, pytest.approx(2 / 3))
    # SQuAD rules see one token each and give 0
    assert M.squad_example_scores("北京大学", ["北京"]) == (0.0, 0.0)


def test_mlqa_per_language_articles():
    assert M.mlqa_normalize("Der Hund", "de") == "hund"
    assert M.mlqa_example_scores("Die Katze", ["eine Katze"], "de")[0] == 1.0
    assert M.mlqa_example_scores("la casa", ["casa"], "es")[0] == 1.0
    assert M.mlqa_normalize("Los Ángeles", "es") == "ángeles"
    assert M.mlqa_example_scores("cái bàn", ["bàn"], "vi")[0] == 1.0
    assert M.mlqa_normalize("the cat", "hi") == "the cat"  # Hindi: no articles removed
    assert M.mlqa_normalize("the cat", "en") == "cat"
    assert M.mlqa_normalize("der Hund", "en") == "der hund"  # articles are per answer language
    # Arabic: the definite article ال is removed ...
    assert M.mlqa_normalize("الكتاب", "ar") == "كتاب"
    assert M.mlqa_example_scores("الكتاب", ["كتاب"], "ar") == (1.0, 1.0)
    # ... and, as in the official regex, every ال inside a word too ("مال" -> "م")
    assert M.mlqa_normalize("مال", "ar") == "م"


def test_mlqa_unicode_punctuation_and_f1():
    assert M.mlqa_normalize("«Paris»", "en") == "paris"
    assert M.mlqa_normalize("¿Qué?", "es") == "qué"
    em, f1 = M.mlqa_example_scores("in Berlin", ["Berlin, Germany", "Berlin"], "de")
    assert (em, f1) == (0.0, pytest.approx(2 / 3))  # P = 1/2 R = 1 vs "berlin"; "berlin germany" gives 1/2
    assert M.mlqa_example_scores("", ["Berlin"], "de") == (0.0, 0.0)


def test_mlqa_scores_dataset_level():
    golds = {"a": ["北京"], "b": ["der Hund"], "c": ["x"]}
    preds = {"a": "北京大学", "b": "Hund"}
    got = M.mlqa_scores(preds, squad_json(golds), "zh")
    # zh rules: a F1 2/3; b "der hund" vs "hund": F1 2/3 (no German articles under zh); c missing
    assert got == pytest.approx({"exact_match": 0.0, "f1": 100 * (4 / 3) / 3})
    got = M.mlqa_scores(preds, golds, "de")
    assert got == pytest.approx({"exact_match": 100 / 3, "f1": 100 / 3})


def test_mlqa_unknown_language():
    with pytest.raises(UnknownLanguage):
        M.mlqa_normalize("x", "fr")
    with pytest.raises(UnknownLanguage):
        M.mlqa_scores({"q": "x"}, {"q": ["x"]}, "fr")


_WORDS = {
    "en": ["the", "a", "an", "Tower", "tower", "Paris", "1889", "theory", "an", "city,", "«old»"],
    "es": ["la", "Las", "casa", "el", "unos", "perro", "¿qué?", "los", "Ángeles"],
    "de": ["der", "Die", "das", "Hund", "einem", "Katze", "Berlin,", "des", "„Haus“"],
    "ar": ["الكتاب", "مال", "كتاب", "في", "ال", "القاهرة", "،", "مصر"],
    "vi": ["của", "là", "cái", "bàn", "những", "nhà", "Hà", "Nội", "chiếc"],
    "hi": ["भारत", "की", "राजधानी", "the", "दिल्ली", "।", "नई"],
    "zh": ["北京", "大学", "2008年", "奥运会", "iPhone", "，", "手机", "the"],
}


def _random_answer(rng: random.Random, lang: str) -> str:
    return " ".join(rng.choice(_WORDS[lang]) for _ in range(rng.randint(0, 4)))


@pytest.mark.parametrize("lang", sorted(_WORDS))
def test_qa_scores_agree_with_official_logic_on_random_answers(lang):
    rng = random.Random(lang)
    golds = {f"q{i}": [_random_answer(rng, lang) or "x" for _ in range(rng.randint(1, 3))] for i in range(120)}
    preds = {q: (rng.choice(a) if rng.random() < 0.3 else _random_answer(rng, lang)) for q, a in golds.items()}
    del preds["q7"]
    data = squad_json(golds)["data"]
    for q, a in list(golds.items())[:30]:
        assert M.mlqa_normalize(a[0], lang) == ref_mlqa_normalize(a[0], lang)
    got = M.mlqa_scores(preds, data, lang)
    assert got == pytest.approx(ref_qa_evaluate(data, preds, lambda s: ref_mlqa_normalize(s, lang)))
    assert M.squad_scores(preds, data) == pytest.approx(ref_qa_evaluate(data, preds, ref_squad_normalize))
    # non-trivial figures (EM may exceed F1: article-only answers are EM 1 but F1 0, officially too)
    assert 0 < got["exact_match"] < 100 and 0 < got["f1"] < 100


# ------------------------------------------------------------------------------------------------
# BUCC
# ------------------------------------------------------------------------------------------------

# Hand-made: 4 candidates, 3 gold pairs (one never mined).
BUCC_CANDS = {("de1", "en1"): 0.9, ("de2", "en2"): 0.8, ("de3", "en3"): 0.7, ("de4", "en4"): 0.6}
BUCC_GOLD = {("de1", "en1"), ("de3", "en3"), ("de5", "en5")}


def test_bucc_threshold_selection_hand_computed():
    # top-1: P 1, R 1/3, F1 .5 -> th .85 | top-2: F1 .4 | top-3: P 2/3, R 2/3, F1 2/3 -> th .65 | top-4: F1 4/7
    assert M.bucc_optimize_threshold(BUCC_CANDS, BUCC_GOLD) == pytest.approx(0.65)
    got = M.bucc_scores(BUCC_CANDS, BUCC_GOLD)
    assert got == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3, "threshold": 0.65})
    gold_lines = {"\t".join(p) for p in BUCC_GOLD}
    assert got == pytest.approx(ref_bucc_eval(BUCC_CANDS, gold_lines))


def test_bucc_fixed_threshold_and_mined_pairs():
    assert M.bucc_mine(BUCC_CANDS, 0.75) == [("de1", "en1"), ("de2", "en2")]
    # mined de1, de2: 1 correct -> P 1/2, R 1/3, F1 2/5
    got = M.bucc_scores(BUCC_CANDS, BUCC_GOLD, threshold=0.75)
    assert got == pytest.approx({"f1": 40.0, "precision": 50.0, "recall": 100 / 3, "threshold": 0.75})
    assert M.bucc_pair_scores([("de1", "en1"), ("de2", "en2")], BUCC_GOLD) == pytest.approx(
        {"f1": 40.0, "precision": 50.0, "recall": 100 / 3}
    )
    assert M.bucc_scores(BUCC_CANDS, BUCC_GOLD, threshold=0.95) == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": 0.95}


def test_bucc_ties_and_best_at_last_candidate():
    # tie at 0.9: the best cut after the first tied pair gives th 0.9, and mining (>=) keeps both tied pairs
    cands = {("a", "x"): 0.9, ("b", "y"): 0.9, ("c", "z"): 0.4}
    gold = {("a", "x"), ("q", "q")}
    assert M.bucc_scores(cands, gold) == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0, "threshold": 0.9})
    assert M.bucc_scores(cands, gold) == pytest.approx(ref_bucc_eval(cands, {"a\tx", "q\tq"}))
    # best F1 with the last candidate: official code raises IndexError; we keep every candidate
    cands = {("a", "x"): 0.9, ("b", "y"): 0.9, ("c", "z"): 0.5}
    gold = {("a", "x"), ("c", "z")}
    with pytest.raises(IndexError):
        ref_bucc_optimize(cands, {"a\tx", "c\tz"})
    assert M.bucc_scores(cands, gold) == pytest.approx({"f1": 80.0, "precision": 200 / 3, "recall": 100.0, "threshold": 0.5})
    # nothing gold among the candidates: threshold stays 0
    assert M.bucc_optimize_threshold(cands, {("n", "n")}) == 0.0


def test_bucc_candidate_triples_keep_max_score():
    got = M.bucc_candidate_scores([("a", "x", 0.2), ("a", "x", 0.7), ("b", "y", 0.5), ("a", "x", 0.1)])
    assert got == {("a", "x"): 0.7, ("b", "y"): 0.5}


def test_bucc_agrees_with_official_logic_on_random_candidates():
    rng = random.Random(1)
    compared = 0
    for _ in range(40):
        cands = {(f"s{i}", f"t{rng.randint(0, 30)}"): round(rng.uniform(0.5, 1.5), 2) for i in range(30)}
        gold = {p for p in cands if rng.random() < 0.4} | {("s99", "t99")}
        gold_lines = {"\t".join(p) for p in gold}
        try:
            expected = ref_bucc_eval(cands, gold_lines)
        except IndexError:  # the official edge case, covered above
            continue
        assert M.bucc_scores(cands, gold) == pytest.approx(expected)
        compared += 1
    assert compared >= 20


# ------------------------------------------------------------------------------------------------
# mAP@20 (lareqa, mewslix)
# ------------------------------------------------------------------------------------------------


def _ranking(hits: dict[int, str], n: int = 30) -> list[str]:
    return [hits.get(r, f"neg{r}") for r in range(1, n + 1)]


def test_average_precision_at_20_hand_computed():
    # relevant at ranks 1 and 3; the third relevant item is at rank 25, beyond the cut-off
    ranked = _ranking({1: "r1", 3: "r2", 25: "r3"})
    assert M.average_precision_at_k({"r1", "r2", "r3"}, ranked, 20) == pytest.approx((1 / 1 + 2 / 3) / 3)
    # without the cut-off the third one counts: (1 + 2/3 + 3/25) / 3
    assert M.average_precision_at_k({"r1", "r2", "r3"}, ranked, None) == pytest.approx((1 + 2 / 3 + 3 / 25) / 3)
    # single relevant item at rank 2: AP = 1/2 (= its reciprocal rank); beyond rank 20: 0
    assert M.average_precision_at_k({"s"}, _ranking({2: "s"}), 20) == 0.5
    assert M.average_precision_at_k({"s"}, _ranking({21: "s"}), 20) == 0.0
    # more relevant items than k: divided by k = 20, so a perfect top 20 scores 1
    many = {f"m{i}" for i in range(25)}
    assert M.average_precision_at_k(many, sorted(many), 20) == 1.0
    # a repeated id counts once: (1/1 + 2/3) / 2
    assert M.average_precision_at_k({"r1", "r2"}, ["r1", "r1", "r2"], 20) == pytest.approx((1 + 2 / 3) / 2)


def test_map_at_20_hand_computed_and_missing_query():
    gold = {"q1": {"r1", "r2", "r3"}, "q2": {"s"}, "q3": {"m1", "m2"}, "q4": {"z"}}
    rankings = {"q1": _ranking({1: "r1", 3: "r2", 25: "r3"}), "q2": _ranking({2: "s"}), "q3": ["m2", "m1"]}
    # q1 5/9, q2 1/2, q3 1, q4 unranked 0
    assert M.map_at_k(rankings, gold, k=20) == pytest.approx(100 * (5 / 9 + 0.5 + 1 + 0) / 4)
    assert M.METRIC_FUNCTIONS["map@20"](rankings, gold) == pytest.approx(100 * (5 / 9 + 0.5 + 1 + 0) / 4)


def test_map_agrees_with_lareqa_and_mewslix_official_logic():
    import numpy as np

    rng = random.Random(2)
    cands = [f"c{i}" for i in range(60)]
    gold, rankings = {}, {}
    for q in range(50):
        gold[f"q{q}"] = set(rng.sample(cands, rng.randint(1, 25)))
        rankings[f"q{q}"] = rng.sample(cands, 60)
    for q in gold:  # the official function works on numpy index arrays
        idx = np.array([cands.index(c) for c in rankings[q]])
        targets = np.array(sorted(cands.index(c) for c in gold[q]))
        assert M.average_precision_at_k(gold[q], rankings[q], 20) == pytest.approx(ref_average_precision_at_k(targets, idx, 20))
    # Mewsli-X: one gold entity per mention; MRR@20 == mAP@20
    gold1 = {q: [rng.choice(cands)] for q in gold}
    del rankings["q3"]
    got = M.map_at_k(rankings, {q: set(g) for q, g in gold1.items()}, k=20)
    assert got == pytest.approx(100 * ref_mewslix_mrr(gold1, rankings, 20))
    assert 0 < got < 100


def test_map_errors():
    with pytest.raises(DataError, match="without relevant"):
        M.map_at_k({"q": ["a"]}, {"q": set()})
    with pytest.raises(DataError, match="zero examples"):
        M.map_at_k({}, {})


# ------------------------------------------------------------------------------------------------
# dispatch
# ------------------------------------------------------------------------------------------------


def test_metric_functions_cover_every_spec_metric():
    assert set(M.METRIC_FUNCTIONS) == set(METRICS)


def test_score_dispatches_families_with_companions():
    golds = {"q1": ["Eiffel Tower"], "q2": ["the tower in Paris"]}
    preds = {"q1": "Eiffel Tower", "q2": "Paris"}
    got = M.score(["f1", "exact_match"], preds, golds)
    assert got == pytest.approx({"exact_match": 50.0, "f1": 100 * (1 + 0.5) / 2})
    got = M.score(["mlqa_f1"], {"q": "北京大学"}, {"q": ["北京"]}, lang="zh")
    assert got == pytest.approx({"mlqa_f1": 200 / 3, "mlqa_exact_match": 0.0})
    got = M.score(["seqeval_f1"], [["B-PER", "O"]], [["B-PER", "O"]])
    assert got == {"seqeval_f1": 100.0, "seqeval_precision": 100.0, "seqeval_recall": 100.0}
    assert M.score(["accuracy"], [1, 2], [1, 1]) == {"accuracy": 50.0}
    assert M.score(["token_accuracy", "seqeval_f1"], [["B-X", "O"]], [["B-X", "B-X"]]) == pytest.approx(
        {"token_accuracy": 50.0, "seqeval_f1": 200 / 3, "seqeval_precision": 100.0, "seqeval_recall": 50.0}
    )
    got = M.score(["bucc_f1"], BUCC_CANDS, BUCC_GOLD)
    assert got == pytest.approx({"bucc_f1": 200 / 3, "bucc_precision": 200 / 3, "bucc_recall": 200 / 3, "bucc_threshold": 0.65})
    got = M.score(["bucc_f1"], BUCC_CANDS, BUCC_GOLD, threshold=0.75)
    assert got["bucc_f1"] == pytest.approx(40.0)
    got = M.score(["bucc_f1"], {("de1", "en1"), ("de2", "en2")}, BUCC_GOLD)  # already mined pairs
    assert got == pytest.approx({"bucc_f1": 40.0, "bucc_precision": 50.0, "bucc_recall": 100 / 3})
    assert M.METRIC_FUNCTIONS["mlqa_exact_match"]({"q": "Der Hund"}, {"q": ["Hund"]}, lang="de") == 100.0
    assert M.METRIC_FUNCTIONS["exact_match"]({"q": "Der Hund"}, {"q": ["Hund"]}) == 0.0


def test_qa_mean_follows_the_family_of_the_call():
    preds, golds = {"q1": "Der Hund", "q2": "x"}, {"q1": ["Hund"], "q2": ["y"]}
    # MLQA (de): q1 EM 1 F1 1 -> EM 50, F1 50, mean 50
    got = M.score(("mlqa_exact_match", "mlqa_f1", "qa_mean"), preds, golds, lang="de")
    assert got == pytest.approx({"mlqa_exact_match": 50.0, "mlqa_f1": 50.0, "qa_mean": 50.0})
    # SQuAD rules keep "der": q1 EM 0, F1 2/3 -> EM 0, F1 100/3, mean 50/3
    got = M.score(("exact_match", "f1", "qa_mean"), preds, golds, lang="de")
    assert got == pytest.approx({"exact_match": 0.0, "f1": 100 / 3, "qa_mean": 50 / 3})
    assert M.METRIC_FUNCTIONS["qa_mean"](preds, golds) == pytest.approx(50 / 3)
    assert M.score(["qa_mean"], preds, golds)["qa_mean"] == pytest.approx(50 / 3)


def test_score_errors():
    with pytest.raises(UnknownName, match="did you mean 'accuracy'"):
        M.score(["acuracy"], [1], [1])
    with pytest.raises(ConfigError, match="lang="):
        M.score(["mlqa_f1"], {"q": "x"}, {"q": ["x"]})

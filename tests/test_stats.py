"""toolkit.stats: per-example rows reproduce the official metrics on any resample, bootstrap CIs cover,
the paired test finds a real shift and not a null one, and the corrections equal their definitions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from toolkit import metrics as M
from toolkit import stats as S
from toolkit.data import RetrievalData
from toolkit.errors import ConfigError, DataError
from toolkit.tasks import get_task

# ------------------------------------------------------------------------------------------------
# helpers: a bootstrap resample written out as a new test set (each copy a new example, fresh ids)
# ------------------------------------------------------------------------------------------------


def _draw(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, n)


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, minlength=n)[None, :].astype(float)


def _resampled_value(rows: S.ExampleRows, idx: np.ndarray) -> float:
    return float(rows.weighted(_weights(idx, rows.n))[0])


def _acc_rows(values) -> S.ExampleRows:
    return S.ExampleRows("accuracy", "mean", tuple(str(i) for i in range(len(values))), [float(v) for v in values])


# ------------------------------------------------------------------------------------------------
# per-example rows = the official metric, on the data and on resamples
# ------------------------------------------------------------------------------------------------

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
POS = ["NOUN", "VERB", "ADJ", "CCONJ", "SCONJ", "SYM", "INTJ", "PUNCT", "ADP"]


@pytest.mark.parametrize("tagset", [TAGS, POS])
def test_seqeval_rows_equal_seqeval_on_the_data_and_on_resamples(tagset):
    rng = random.Random(0)
    gold = [[rng.choice(tagset) for _ in range(rng.randint(1, 9))] for _ in range(60)]
    pred = [[t if rng.random() < 0.6 else rng.choice(tagset) for t in seq] for seq in gold]
    spec = get_task("panx")
    rows = S.example_rows(spec, [{"tags": g} for g in gold], [str(i) for i in range(60)], pred)
    assert rows.kind == "f1"
    assert rows.value() == pytest.approx(M.seqeval_f1(pred, gold), abs=1e-9)
    for seed in range(5):
        idx = _draw(60, seed)
        official = M.seqeval_f1([pred[i] for i in idx], [gold[i] for i in idx])
        assert _resampled_value(rows, idx) == pytest.approx(official, abs=1e-9)


def test_seqeval_rows_with_no_chunk_at_all_score_zero_like_seqeval():
    spec = get_task("panx")
    rows = S.example_rows(spec, [{"tags": ["O", "O"]}], ["0"], [["O", "O"]])
    assert rows.value() == M.seqeval_f1([["O", "O"]], [["O", "O"]]) == 0.0


def _qa_examples(n: int, rng: random.Random):
    words = ["the cat", "a dog", "Paris", "red car", "blue sky", "der Hund", "el gato", "42"]
    examples, preds = [], {}
    for i in range(n):
        golds = rng.sample(words, rng.randint(1, 3))
        examples.append({"id": f"q{i}", "answers": {"text": golds}})
        if rng.random() < 0.9:  # some questions without prediction (score 0)
            preds[f"q{i}"] = rng.choice(words) + (" big" if rng.random() < 0.3 else "")
    return examples, preds


@pytest.mark.parametrize("task, lang", [("xquad", None), ("mlqa", "de"), ("mlqa", "zh")])
def test_qa_rows_equal_the_official_qa_mean_on_the_data_and_on_resamples(task, lang):
    rng = random.Random(1)
    examples, preds = _qa_examples(50, rng)
    spec = get_task(task)
    rows = S.example_rows(spec, examples, [e["id"] for e in examples], preds, lang=lang)
    official = M.score(list(spec.metrics), preds, examples, lang=lang)["qa_mean"]
    assert rows.value() == pytest.approx(official, abs=1e-9)
    for seed in range(4):
        idx = _draw(50, seed)
        new_examples = [{"id": f"r{k}", "answers": examples[i]["answers"]} for k, i in enumerate(idx)]
        new_preds = {f"r{k}": preds[examples[i]["id"]] for k, i in enumerate(idx) if examples[i]["id"] in preds}
        again = M.score(list(spec.metrics), new_preds, new_examples, lang=lang)["qa_mean"]
        assert _resampled_value(rows, idx) == pytest.approx(again, abs=1e-9)


def test_bucc_rows_equal_bucc_f1_of_the_mined_pairs_on_the_data_and_on_resamples():
    rng = random.Random(2)
    src = [f"s{i}" for i in range(80)]
    trg = [f"t{i}" for i in range(80)]
    gold = {(s, f"t{i}") for i, s in enumerate(src) if i % 3}  # a third of the sources have no gold pair
    candidates = {(s, rng.choice(trg) if rng.random() < 0.4 else f"t{i}"): rng.random() for i, s in enumerate(src)}
    result = M.bucc_scores(candidates, gold)
    mined = M.bucc_mine(candidates, result["threshold"])
    data = RetrievalData(src, src, trg, trg, {s: {t for q, t in gold if q == s} for s in src})
    rows = S.example_rows(get_task("bucc2018"), data, [s for s, _ in mined], [t for _, t in mined])
    assert rows.value() == pytest.approx(result["f1"], abs=1e-9)
    for seed in range(5):
        idx = _draw(rows.n, seed)
        copy = {s: k for k, s in enumerate(rows.ids)}
        new_pred = [(f"{s}#{k}", t) for k, i in enumerate(idx) for s, t in mined if copy[s] == i]
        new_gold = [(f"{s}#{k}", t) for k, i in enumerate(idx) for s, t in gold if copy[s] == i]
        official = M.bucc_pair_scores(new_pred, new_gold)["f1"]  # evaluate.py::bucc_f1 on the resampled files
        assert _resampled_value(rows, idx) == pytest.approx(official, abs=1e-9)


def test_map20_rows_equal_map_at_20_on_the_data_and_on_resamples():
    rng = random.Random(3)
    cands = [f"c{i}" for i in range(60)]
    queries = [f"q{i}" for i in range(40)]
    gold = {q: set(rng.sample(cands, rng.randint(1, 4))) for q in queries}
    gold["q0"] = set()  # no relevant candidate: left out, as lareqa_map does
    rankings = {q: rng.sample(cands, 25) for q in queries[:-3]}  # three queries without ranking
    data = RetrievalData(queries, queries, cands, cands, gold)
    rows = S.example_rows(get_task("lareqa"), data, list(rankings), list(rankings.values()))
    scored = {q: g for q, g in gold.items() if g}
    assert rows.n == 39 and rows.value() == pytest.approx(M.map_at_k(rankings, scored, k=20), abs=1e-9)
    for seed in range(4):
        idx = _draw(rows.n, seed)
        new_gold = {f"{rows.ids[i]}#{k}": scored[rows.ids[i]] for k, i in enumerate(idx)}
        new_rank = {f"{rows.ids[i]}#{k}": rankings[rows.ids[i]] for k, i in enumerate(idx) if rows.ids[i] in rankings}
        assert _resampled_value(rows, idx) == pytest.approx(M.map_at_k(new_rank, new_gold, k=20), abs=1e-9)


@pytest.mark.parametrize("direction", ["en2xx", "xx2en"])
def test_tatoeba_rows_equal_tatoeba_accuracy(direction):
    from toolkit.retrieval import tatoeba_accuracy, tatoeba_nearest

    rng = np.random.default_rng(4)
    n = 30
    q = rng.normal(size=(n, 8)).astype("float32")
    c = (q + rng.normal(scale=1.2, size=(n, 8))).astype("float32")
    ids = [str(i) for i in range(n)]
    data = RetrievalData(ids, ids, [f"e{i}" for i in ids], ids, {i: {f"e{i}"} for i in ids})
    searched, nearest = tatoeba_nearest(data, q, c, direction)
    rows = S.example_rows(get_task("tatoeba"), data, searched, nearest, direction=direction)
    assert rows.value() == pytest.approx(tatoeba_accuracy(data, q, c, direction), abs=1e-9)
    assert 0 < rows.value() < 100


def test_accuracy_rows_for_classification_and_multiple_choice_equal_the_family_score():
    from toolkit.families import classification, multiple_choice

    spec = get_task("xnli")
    examples = [{"id": str(i), "label": lab} for i, lab in enumerate(["entailment", "neutral", "contradiction"] * 5)]
    preds = ["entailment"] * 15
    rows = S.example_rows(spec, examples, [e["id"] for e in examples], preds)
    assert rows.value() == pytest.approx(classification.score(preds, examples, spec)["accuracy"])
    spec = get_task("xcopa")
    examples = [{"id": str(i), "label": i % 2} for i in range(9)]
    preds = [0] * 9
    rows = S.example_rows(spec, examples, [e["id"] for e in examples], preds)
    assert rows.value() == pytest.approx(multiple_choice.score(preds, examples, spec)["accuracy"]) == pytest.approx(500 / 9)


def test_rows_round_trip_through_json_and_are_refused_when_malformed():
    rows = S.ExampleRows("seqeval_f1", "f1", ("a", "b"), [[1, 2, 3], [0, 1, 1]])
    again = S.ExampleRows.from_json(rows.to_json())
    assert again.ids == rows.ids and np.array_equal(again.rows, rows.rows) and again.value() == rows.value()
    mean = _acc_rows([1, 0, 1])
    assert mean.to_json()["rows"] == [1, 0, 1]
    assert S.ExampleRows.from_json(mean.to_json()).value() == pytest.approx(200 / 3)
    with pytest.raises(DataError, match="malformed"):
        S.ExampleRows.from_json({"metric": "accuracy", "kind": "mean", "ids": ["a"]})
    with pytest.raises(ConfigError, match="kind"):
        S.ExampleRows("accuracy", "median", ("a",), [1.0])
    with pytest.raises(DataError, match="zero examples"):
        S.ExampleRows("accuracy", "mean", (), [])
    with pytest.raises(DataError, match="2 x 3 finite"):
        S.ExampleRows("bucc_f1", "f1", ("a", "b"), [[1, 1, 1]])
    with pytest.raises(DataError, match="malformed|finite"):
        S.ExampleRows.from_json({"metric": "accuracy", "kind": "mean", "ids": ["a"], "rows": [None]})


# ------------------------------------------------------------------------------------------------
# bootstrap CIs
# ------------------------------------------------------------------------------------------------


def test_bootstrap_ci_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(5)
    p, n, trials = 0.3, 200, 300
    covered = 0
    for t in range(trials):
        lo, hi = S.bootstrap_ci(_acc_rows(rng.random(n) < p), resamples=400, seed=t)
        covered += lo <= 100 * p <= hi
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_ci_of_seqeval_f1_covers_the_population_f1():
    """A corpus metric: sentences drawn from a fixed population; the CI covers the population's F1."""
    rng = random.Random(6)
    population = []
    for _ in range(3000):
        gold = [rng.choice(TAGS) for _ in range(rng.randint(2, 6))]
        population.append((gold, [t if rng.random() < 0.7 else rng.choice(TAGS) for t in gold]))
    truth = M.seqeval_f1([p for _, p in population], [g for g, _ in population])
    spec, covered, trials = get_task("panx"), 0, 120
    for t in range(trials):
        sample = [population[i] for i in np.random.default_rng(t).integers(0, 3000, 150)]
        rows = S.example_rows(spec, [{"tags": g} for g, _ in sample], [str(i) for i in range(150)], [p for _, p in sample])
        lo, hi = S.bootstrap_ci(rows, resamples=300, seed=t)
        covered += lo <= truth <= hi
    assert 0.88 <= covered / trials <= 1.0


def test_bootstrap_ci_is_seeded_and_agrees_with_scipy_percentile_bootstrap():
    from scipy.stats import bootstrap

    values = np.random.default_rng(7).random(400) < 0.6
    rows = _acc_rows(values)
    assert S.bootstrap_ci(rows, 1000, seed=3) == S.bootstrap_ci(rows, 1000, seed=3)
    lo, hi = S.bootstrap_ci(rows, 4000, seed=3)
    ref = bootstrap((100.0 * values,), np.mean, n_resamples=4000, method="percentile", random_state=1).confidence_interval
    assert lo == pytest.approx(ref.low, abs=1.0) and hi == pytest.approx(ref.high, abs=1.0)
    assert lo < rows.value() < hi
    entry = S.ci_entry(rows, 100, seed=1)
    assert entry["low"] <= entry["high"] and entry["resamples"] == 100 and entry["metric"] == "accuracy"
    with pytest.raises(ConfigError, match="resamples"):
        S.bootstrap_ci(rows, 0)


# ------------------------------------------------------------------------------------------------
# paired tests
# ------------------------------------------------------------------------------------------------


def test_paired_test_detects_a_real_shift():
    rng = np.random.default_rng(8)
    base = rng.random(300) < 0.5
    better = base | (rng.random(300) < 0.2)  # fixes about a fifth of the errors, breaks nothing
    result = S.compare(_acc_rows(base), _acc_rows(better), resamples=1000, permutations=1000, seed=0)
    assert result.gain == pytest.approx(100 * (better.mean() - base.mean()))
    assert 0 < result.low <= result.gain <= result.high
    assert result.p_value < 0.01 and result.significant
    assert result.fmt().endswith("*") and result.fmt().startswith(f"{result.gain:+.1f} [")


def test_paired_test_does_not_detect_a_null_shift():
    """Two exchangeable systems: the p-value is about uniform, so p < 0.05 about 5% of the time."""
    rng = np.random.default_rng(9)
    rejections, trials = 0, 200
    for t in range(trials):
        a, b = rng.random(120) < 0.6, rng.random(120) < 0.6
        result = S.compare(_acc_rows(a), _acc_rows(b), resamples=200, permutations=200, seed=t)
        rejections += result.p_value < 0.05
    assert rejections / trials <= 0.10
    same = S.compare(_acc_rows(a), _acc_rows(a), resamples=100, permutations=100)
    assert (same.gain, same.low, same.high, same.p_value, same.significant) == (0.0, 0.0, 0.0, 1.0, False)


def test_approximate_randomization_agrees_with_scipy_paired_permutation_test():
    from scipy.stats import permutation_test

    rng = np.random.default_rng(10)
    a = (rng.random(12) < 0.4).astype(float)
    b = (rng.random(12) < 0.8).astype(float)
    exact = permutation_test((a, b), lambda x, y: np.mean(y) - np.mean(x), permutation_type="samples",
                             alternative="two-sided", n_resamples=np.inf).pvalue  # all 2^12 swaps
    ours = S.compare(_acc_rows(a), _acc_rows(b), resamples=10, permutations=20000, seed=0).p_value
    assert ours == pytest.approx(exact, abs=0.015)


def test_paired_test_on_a_corpus_metric_swaps_whole_sentences():
    rng = random.Random(11)
    gold = [[rng.choice(TAGS) for _ in range(6)] for _ in range(200)]
    weak = [[t if rng.random() < 0.5 else "O" for t in s] for s in gold]
    strong = [[t if rng.random() < 0.9 else "O" for t in s] for s in gold]
    spec, ids = get_task("panx"), [str(i) for i in range(200)]
    ex = [{"tags": g} for g in gold]
    base, other = S.example_rows(spec, ex, ids, weak), S.example_rows(spec, ex, ids, strong)
    result = S.compare(base, other, resamples=500, permutations=500)
    assert result.gain == pytest.approx(M.seqeval_f1(strong, gold) - M.seqeval_f1(weak, gold))
    assert result.low > 0 and result.p_value < 0.01


def test_pairing_aligns_by_id_and_refuses_different_examples():
    base = S.ExampleRows("accuracy", "mean", ("a", "b", "c"), [1.0, 0.0, 0.0])
    other = S.ExampleRows("accuracy", "mean", ("c", "a", "b"), [1.0, 1.0, 0.0])
    _, aligned = S.pair_rows(base, other)
    assert aligned.ids == base.ids and aligned.rows[:, 0].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(DataError, match="different examples"):
        S.pair_rows(base, S.ExampleRows("accuracy", "mean", ("a", "b"), [1.0, 0.0]))
    with pytest.raises(DataError, match="cannot pair"):
        S.pair_rows(base, S.ExampleRows("map@20", "mean", ("a", "b", "c"), [1.0, 0.0, 0.0]))


def test_mean_gain_over_languages_resamples_within_languages():
    rng = np.random.default_rng(12)
    pairs = {}
    for k, lang in enumerate(("de", "sw", "yo")):
        n = 100 + 50 * k
        a = rng.random(n) < 0.5
        pairs[lang] = (_acc_rows(a), _acc_rows(a | (rng.random(n) < 0.15)))
    agg = S.compare_languages(pairs, resamples=500, permutations=500, seed=1)
    assert agg.gain == pytest.approx(np.mean([o.value() - b.value() for b, o in pairs.values()]))
    assert agg.low <= agg.gain <= agg.high and agg.p_value < 0.01 and agg.n_examples == 450
    singles = [S.compare(b, o, 500, 500, seed=1) for b, o in pairs.values()]
    assert agg.high - agg.low < max(s.high - s.low for s in singles)  # three languages pin the mean down more
    # weighted strata (a mean over targets of means over languages): the weighted mean of the gains
    w = {"de": 0.5, "sw": 0.25, "yo": 0.25}
    weighted = S.compare_languages(pairs, resamples=200, permutations=200, weights=w)
    assert weighted.gain == pytest.approx(sum(w[l] * (o.value() - b.value()) for l, (b, o) in pairs.items()))
    assert weighted.low <= weighted.gain <= weighted.high
    null = S.compare_languages({l: (b, b) for l, (b, _) in pairs.items()}, resamples=50, permutations=50)
    assert null.p_value == 1.0 and null.gain == 0.0
    with pytest.raises(DataError):
        S.compare_languages({})


# ------------------------------------------------------------------------------------------------
# multiple comparisons: restated definitions
# ------------------------------------------------------------------------------------------------


def ref_holm(p):  # Holm (1979): reject H(1..k) while p(i) <= alpha / (m - i + 1); adjusted form
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p[i]))
        out[i] = running
    return out


def ref_bh(p):  # Benjamini & Hochberg (1995): adjusted p(i) = min_{j >= i} m p(j) / j
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order, start=1):
        out[i] = min(1.0, min(m * p[j] / r for r, j in enumerate(order, start=1) if r >= rank))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_corrections_equal_their_definitions(seed):
    rng = random.Random(seed)
    p = [rng.choice([rng.random(), rng.random() / 50, 0.01]) for _ in range(rng.randint(1, 25))]  # ties included
    assert S.holm(p) == pytest.approx(ref_holm(p))
    assert S.benjamini_hochberg(p) == pytest.approx(ref_bh(p))
    assert S.adjust(p, "none") == p
    assert all(b <= h + 1e-12 for b, h in zip(S.adjust(p, "bh"), S.adjust(p, "holm")))  # BH is less strict
    assert S.holm([]) == [] and S.benjamini_hochberg([]) == []


def test_holm_decisions_match_the_step_down_procedure():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop; reject the first two only
    assert [q < 0.05 for q in S.holm(p)] == [True, False, False, True]
    with pytest.raises(ConfigError, match="correction"):
        S.adjust(p, "bonferroni")


def test_each_comparison_gets_its_own_stable_seed():
    assert S.derived_seed(42, "xnli", "de") == S.derived_seed(42, "xnli", "de")
    assert len({S.derived_seed(42, "xnli", lang) for lang in ("de", "fr", "sw")} | {S.derived_seed(43, "xnli", "de")}) == 4


def test_evaluation_stores_rows_and_a_ci_only_when_the_rows_reproduce_the_score(tmp_path, caplog):
    from toolkit.config import EvalConfig
    from toolkit.evaluate import _Context
    from toolkit.results import ResultStore

    cfg = EvalConfig(results_dir=str(tmp_path), bootstrap_resamples=200, seed=7)
    ctx = _Context(cfg, ResultStore(tmp_path), None, lambda *a: None, False)
    spec = get_task("xnli")
    examples = [{"id": str(i), "label": lab} for i, lab in enumerate(["entailment", "neutral"] * 10)]
    preds = ["entailment"] * 20
    rows, ci = ctx.uncertainty(spec, examples, [e["id"] for e in examples], preds, "de", 50.0)
    assert rows.value() == 50.0 and ci["low"] <= 50.0 <= ci["high"] and ci["resamples"] == 200 and ci["seed"] == 7
    assert ctx.uncertainty(spec, examples, [e["id"] for e in examples], preds, "de", 61.0) == (None, None)
    assert "not the score" in caplog.text
    assert ctx.uncertainty(spec, [{"id": "0"}], ["0"], ["entailment"], "de", 100.0) == (None, None)  # no label
    assert "no per-example rows" in caplog.text
    off = _Context(EvalConfig(results_dir=str(tmp_path), bootstrap_resamples=0), ResultStore(tmp_path), None,
                   lambda *a: None, False)
    rows, ci = off.uncertainty(spec, examples, [e["id"] for e in examples], preds, "de", 50.0)
    assert rows is not None and ci is None  # the rows are still stored, so gains can be paired later


# ------------------------------------------------------------------------------------------------
# seeds as a dimension (compare_seeds)
# ------------------------------------------------------------------------------------------------


def _seed_pairs(rng, shift, seed_effect, langs=("de", "sw"), n=150):
    """One seed: per language a baseline and a cell that fixes a ``shift + seed_effect`` share of errors."""
    out = {}
    for lang in langs:
        base = rng.random(n) < 0.5
        out[lang] = (_acc_rows(base), _acc_rows(base | (rng.random(n) < max(0.0, shift + seed_effect))))
    return out


def test_the_gain_over_seeds_is_the_mean_of_the_seeds_gains_with_their_sd():
    rng = np.random.default_rng(3)
    per_seed = [_seed_pairs(rng, 0.2, e) for e in (-0.1, 0.0, 0.1)]
    result = S.compare_seeds(per_seed, resamples=400, permutations=400, seed=1)
    gains = [np.mean([o.value() - b.value() for b, o in p.values()]) for p in per_seed]
    assert result.gain == pytest.approx(np.mean(gains)) and result.sd == pytest.approx(np.std(gains, ddof=1))
    assert result.seeds == 3 and result.n_examples == 3 * 2 * 150
    assert result.low <= result.gain <= result.high and result.significant
    assert result.fmt().startswith(f"{result.gain:+.1f} ±{result.sd:.1f} [") and result.fmt().endswith("*")


def test_seed_variance_widens_the_interval_beyond_the_example_variance():
    """The same examples and average gain: seeds that disagree give a wider CI than seeds that agree
    (the two-stage bootstrap carries the seed-to-seed variance; a pooled example bootstrap would not)."""
    rng = np.random.default_rng(4)
    agree = [_seed_pairs(np.random.default_rng(10 + s), 0.15, 0.0) for s in range(3)]
    disagree = [_seed_pairs(np.random.default_rng(10 + s), 0.15, e) for s, e in enumerate((-0.15, 0.0, 0.15))]
    narrow = S.compare_seeds(agree, resamples=600, permutations=200, seed=2)
    wide = S.compare_seeds(disagree, resamples=600, permutations=200, seed=2)
    assert wide.sd > 3 * narrow.sd
    assert (wide.high - wide.low) > 1.5 * (narrow.high - narrow.low)
    del rng


def test_no_gain_in_any_seed_is_not_significant():
    rng = np.random.default_rng(5)
    rejections = 0
    for t in range(40):
        per_seed = [{lang: (_acc_rows(rng.random(80) < 0.5), _acc_rows(rng.random(80) < 0.5)) for lang in ("de", "sw")}
                    for _ in range(3)]
        rejections += S.compare_seeds(per_seed, resamples=100, permutations=200, seed=t).p_value < 0.05
    assert rejections <= 6  # about 5% of 40
    with pytest.raises(DataError, match="every seed"):
        S.compare_seeds([{}], resamples=10, permutations=10)

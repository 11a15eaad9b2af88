"""Aggregation follows the XTREME-R rules and never averages over missing pieces."""

from __future__ import annotations

import pytest

from toolkit.report import main_score, summarize, summary_rows, to_markdown
from toolkit.tasks import get_task, target_tasks


def _full(benchmark, value_of):
    return {t.name: {l: value_of(t.name, l) for l in t.langs(benchmark)} for t in target_tasks(benchmark)}


def test_complete_benchmark_gives_both_overall_scores():
    # task score = 10 * task index; languages constant within a task
    names = [t.name for t in target_tasks("xtreme-r")]
    s = summarize("xtreme-r", _full("xtreme-r", lambda task, lang: 10.0 * names.index(task)))
    assert s.tasks["xnli"].score == 0.0 and s.tasks["xcopa"].score == 10.0
    cls = [10.0 * names.index(n) for n in names if get_task(n).category == "classification"]
    assert s.categories["classification"] == pytest.approx(sum(cls) / len(cls))
    cats = list(s.categories.values())
    assert s.overall_category_mean == pytest.approx(sum(cats) / len(cats))
    assert s.overall_task_mean == pytest.approx(sum(10.0 * i for i in range(len(names))) / len(names))
    assert s.overall_category_mean != s.overall_task_mean  # the two definitions differ and both are shown


def test_language_average_is_exact():
    scores = {"xnli": {l: float(i) for i, l in enumerate(get_task("xnli").langs())}}
    s = summarize("xtreme-r", scores)
    assert s.tasks["xnli"].score == pytest.approx(7.0)  # mean of 0..14


def test_missing_language_blocks_task_category_and_overall():
    scores = _full("xtreme-r", lambda t, l: 50.0)
    del scores["xnli"]["sw"]
    s = summarize("xtreme-r", scores, failed={"xnli": {"sw": "no data"}})
    assert s.tasks["xnli"].score is None and s.tasks["xnli"].missing == ["sw"]
    assert s.categories["classification"] is None
    assert s.categories["qa"] == 50.0
    assert s.overall_category_mean is None and s.overall_task_mean is None
    text = to_markdown(["task", "category", "score", "languages", "note"], summary_rows(s))
    assert "missing: sw" in text and "failed: sw" in text and "partial mean 50.0" in text


def test_restricted_languages_are_what_is_expected():
    s = summarize("xtreme", {"pawsx": {"de": 80.0, "en": 90.0}}, languages={"pawsx": ("de", "en")})
    assert s.tasks["pawsx"].score == 85.0


def test_qa_main_score_is_mean_of_em_and_f1():
    assert main_score("xquad", {"exact_match": 60.0, "f1": 70.0}) == 65.0
    assert main_score("mlqa", {"mlqa_exact_match": 40.0, "mlqa_f1": 50.0}) == 45.0
    assert main_score("xnli", {"accuracy": 81.5}) == 81.5


def test_language_table_by_task_or_by_language():
    from toolkit.report import StoreScores, language_rows

    gathered = StoreScores(scores={"xnli": {"de": 40.0, "en": 50.25}, "tatoeba": {"de": 90.0}},
                           failed={"tatoeba": {"sw": "DataUnavailable: no file"}}, records={}, setups={})
    header, rows = language_rows(gathered)
    assert header == ["task", "de", "en", "sw"]
    assert rows == [["xnli", "40.0", "50.2", ""], ["tatoeba", "90.0", "", "FAIL"]]
    header, rows = language_rows(gathered, by="language")
    assert header == ["lang", "xnli", "tatoeba"]
    assert [r[0] for r in rows] == ["de", "en", "sw"] and rows[2] == ["sw", "", "FAIL"] and rows[0][2] == "90.0"
    with pytest.raises(ValueError):
        language_rows(gathered, by="column")


def test_the_report_lists_each_stored_ci_and_leaves_out_languages_without_one(tmp_path):
    from toolkit.report import CI_HEADER, StoreScores, ci_rows, summarize, write_report
    from toolkit.results import LangResult, Record

    ci = {"metric": "accuracy", "low": 31.25, "high": 48.5, "level": 0.95, "resamples": 1000, "seed": 42,
          "method": "percentile bootstrap over examples", "n_examples": 100}
    rec = Record("xnli", 1, {"id": "embedded"}, {"id": "xnli"}, {}, "h",
                 languages={"de": LangResult.ok({"accuracy": 40.0}, 40.0, n_examples=100, ci=ci),
                            "fr": LangResult.ok({"accuracy": 50.0}, 50.0, n_examples=100)})  # an older record: no CI
    gathered = StoreScores(scores={"xnli": {"de": 40.0, "fr": 50.0}}, failed={}, records={"xnli": rec}, setups={})
    assert ci_rows(gathered) == [["xnli", "de", "40.0", "[31.2, 48.5]", "100", "1000"]]
    files = write_report(summarize("xtreme-r", gathered.scores), gathered, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert files["report.md"] and "| " + " | ".join(CI_HEADER) + " |" in md and "| xnli | de | 40.0 | [31.2, 48.5] |" in md
    gathered.records = {}
    write_report(summarize("xtreme-r", gathered.scores), gathered, tmp_path)
    assert "bootstrap CI" not in (tmp_path / "report.md").read_text()

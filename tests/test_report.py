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


# ------------------------------------------------------------------------ protocol labels (issue 16)


def _gathered(benchmark, split_of=lambda task: "test", setup_of=None, config=None, protocol=None, langs=None):
    """StoreScores as scores_from_store returns them: one record per task, every language ok."""
    from toolkit.report import StoreScores
    from toolkit.results import LangResult, Record

    scores, records, setups = {}, {}, {}
    for spec in target_tasks(benchmark):
        chosen = (langs or {}).get(spec.name, spec.langs(benchmark))
        entries = {l: LangResult.ok({"m": 50.0}, 50.0, split=split_of(spec.name), protocol=(protocol or {}).get(spec.name, {}))
                   for l in chosen}
        sid = setup_of(spec.name) if setup_of else spec.name
        records[spec.name] = Record(spec.name, spec.version, {"id": "embedded"}, {"id": sid}, dict(config or {}), "h", entries)
        scores[spec.name] = {l: 50.0 for l in chosen}
        setups[spec.name] = sid
    return StoreScores(scores, {}, records, setups)


def test_aggregates_are_the_papers_only_under_the_protocol():
    g = _gathered("xtreme-r")
    s = summarize("xtreme-r", g.scores, gathered=g, encoder="embedded")
    assert s.is_protocol() and all(t.is_protocol for t in s.tasks.values())
    rows = {r[0]: r for r in summary_rows(s)}
    assert rows["xnli"][3:5] == ["test", "15/15"]  # each task shows its split and language count
    assert rows["overall (mean of category means, XTREME-R paper)"][2] == "50.0"
    assert rows["overall (mean over tasks, official evaluate.py)"][2] == "50.0"
    assert rows["[qa]"][1] == "category mean" and rows["[qa]"][5] == ""


def test_aggregates_say_what_differs_from_the_protocol():
    g = _gathered("xtreme-r", split_of=lambda t: "dev" if t == "xnli" else "test",
                  setup_of=lambda t: "none" if t in ("tatoeba", "lareqa") else t, config={"max_eval_examples": 100})
    s = summarize("xtreme-r", g.scores, gathered=g, encoder="embedded")
    assert s.overall_category_mean == 50.0 and not s.is_protocol()  # computed, but labelled as not the paper's
    xnli = s.tasks["xnli"]
    assert xnli.split == "dev" and "split dev (protocol: test)" in xnli.deviations
    assert "setup: bare encoder (XTREME-R: an encoder fine-tuned on SQuAD v1.1)" in s.tasks["tatoeba"].deviations
    assert "truncated evaluation (first 100 examples per language)" in s.tasks["xquad"].deviations
    rows = {r[0]: r for r in summary_rows(s)}
    assert "overall (mean of category means, XTREME-R paper)" not in rows
    overall = rows["overall (mean of category means as in the XTREME-R paper; not its protocol)"]
    assert overall[2] == "50.0" and overall[5].startswith("not the paper's: ")
    assert "xnli: split dev (protocol: test)" in overall[5] and "lareqa: setup: bare encoder" in overall[5]
    assert rows["[classification]"][1] == "category mean (not the paper's protocol)"
    assert "xnli: split dev" in rows["[classification]"][5] and "tatoeba" not in rows["[classification]"][5]
    assert "not protocol: split dev (protocol: test)" in rows["xnli"][5]


def test_restricted_languages_and_bucc_oracle_are_labelled():
    from toolkit.metrics import BUCC_THRESHOLD_DEV, BUCC_THRESHOLD_ORACLE

    g = _gathered("xtreme", split_of=lambda t: "dev" if t == "bucc2018" else "test",
                  setup_of=lambda t: "none" if get_task(t).shape == "retrieval" else t,
                  protocol={"bucc2018": {"bucc_threshold": BUCC_THRESHOLD_ORACLE}}, langs={"pawsx": ("de", "en")})
    s = summarize("xtreme", g.scores, gathered=g, languages={"pawsx": ("de", "en")}, encoder="embedded")
    assert s.tasks["pawsx"].score == 50.0 and "languages 2/7 requested" in s.tasks["pawsx"].deviations
    assert s.tasks["tatoeba"].deviations == []  # XTREME's retrieval protocol is the bare encoder
    bucc = s.tasks["bucc2018"].deviations
    assert "split dev (protocol: test)" in bucc and "BUCC threshold tuned on the scored split (oracle): de fr ru zh" in bucc
    rows = {r[0]: r for r in summary_rows(s)}
    assert rows["pawsx"][4] == "2/7" and rows["bucc2018"][3] == "dev"
    g = _gathered("xtreme", setup_of=lambda t: "none" if get_task(t).shape == "retrieval" else t,
                  protocol={"bucc2018": {"bucc_threshold": BUCC_THRESHOLD_DEV}})
    assert summarize("xtreme", g.scores, gathered=g, encoder="embedded").is_protocol()


def test_scores_without_records_are_never_labelled_the_papers():
    s = summarize("xtreme-r", _full("xtreme-r", lambda t, l: 50.0))
    assert not s.is_protocol() and s.tasks["xnli"].split == "?"
    assert all(not r[0].endswith("XTREME-R paper)") for r in summary_rows(s))


def test_xta_report_labels_from_the_store(tmp_path):
    """End to end: records written by the store, `xta report` prints split, n/N and the deviation."""
    from typer.testing import CliRunner

    from cli import app
    from toolkit.results import LangResult, RecordKey, ResultStore, RunInfo

    store = ResultStore(tmp_path)
    for lang, split in (("de", "dev"), ("en", "test")):
        store.put_language(RecordKey("embedded", "pawsx", "pawsx"), lang, LangResult.ok({"accuracy": 80.0}, 80.0, split=split),
                           RunInfo(task_version=1, encoder_name="embedded", setup="auto", config={}, config_hash="h"))
    result = CliRunner().invoke(app, ["report", "--benchmark", "xtreme", "--results-dir", str(tmp_path), "--out", str(tmp_path / "r")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| pawsx | classification | - (partial mean 80.0) | dev+test | 2/7 |" in md
    assert "split dev (protocol: test)" in md


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


def test_json_output_turns_numpy_and_torch_values_into_plain_json():
    """--json (toolkit.jsonout): scalars become numbers, arrays and tensors of any size lists, NaN null."""
    import json

    import numpy as np
    import torch

    from toolkit.jsonout import dumps, to_jsonable

    assert to_jsonable(np.float32(0.5)) == 0.5 and to_jsonable(np.int64(3)) == 3
    assert to_jsonable(np.array(2.0)) == 2.0
    assert to_jsonable(np.array([1.0])) == [1.0]
    assert to_jsonable(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert to_jsonable(torch.tensor([0.25, float("nan")])) == [0.25, None]
    assert json.loads(dumps({"a": np.arange(3), "b": torch.tensor(1.5)})) == {"a": [0, 1, 2], "b": 1.5}

"""toolkit.results: records, the store layout, resume, corrupt records, failures, provenance."""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest

from toolkit import results
from toolkit.config import EvalConfig, config_hash, to_dict
from toolkit.errors import XtaError
from toolkit.results import LangResult, Record, RecordKey, ResultStore, RunInfo, encoder_id, hash_files
from toolkit.setups import parse_setup

SETUP = parse_setup("stack:lang_{lang},xnli")
CFG = EvalConfig(setup=str(SETUP), tasks=("xnli",))
H = config_hash(CFG)
KEY = RecordKey("embedded", SETUP.id, "xnli")
ENV = {"versions": {"torch": "2.x", "xta": "0.1.0"}, "git_commit": "abc", "git_dirty": False}


def _run(**kw):
    base = dict(task_version=1, encoder_name="embedded", setup=str(SETUP), config=to_dict(CFG), config_hash=H,
                main_metric="accuracy", encoder_fingerprint="fp", seed=42, environment=ENV)  # fmt: skip
    return RunInfo(**{**base, **kw})


def _ok(score, n=100):
    return LangResult.ok({"accuracy": score}, score, n_examples=n, seconds=0.5, split="test",
                         data_files={"xnli/test.tsv": "0" * 64})  # fmt: skip


def test_layout_and_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    assert store.get(KEY) is None
    store.put_language(KEY, "de", _ok(0.8), _run(adapter_hashes={"lang_de": "1" * 64}))
    path = tmp_path / "embedded" / "stack-lang_{lang}+xnli" / "xnli.json"
    assert store.path(KEY) == path and path.is_file()
    data = json.loads(path.read_text())
    assert data["schema_version"] == results.SCHEMA_VERSION == 1
    assert data["setup"] == {"text": "stack:lang_{lang},xnli", "id": "stack-lang_{lang}+xnli",
                             "adapter_hashes": {"lang_de": "1" * 64}}  # fmt: skip
    assert data["encoder"] == {"id": "embedded", "name": "embedded", "fingerprint": "fp"}
    assert data["config_hash"] == H and data["config"]["setup"] == "stack:lang_{lang},xnli"
    assert data["versions"]["torch"] == "2.x" and data["git_commit"] == "abc" and data["seed"] == 42
    de = data["languages"]["de"]
    assert de["status"] == "ok" and de["main"] == 0.8 and de["n_examples"] == 100 and de["config_hash"] == H
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", de["finished_at"])
    rec = store.get(KEY)
    assert rec.key == KEY and rec.scores() == {"de": 0.8} and rec.path == path
    assert Record.from_json(rec.to_json()) == rec


def test_merge_languages_and_missing(tmp_path):
    store = ResultStore(tmp_path)
    langs = ["ar", "de", "sw", "zh"]
    assert store.missing_languages(KEY, langs, H) == langs
    store.put_language(KEY, "de", _ok(0.8), _run(adapter_hashes={"lang_de": "1" * 64}))
    store.put_language(KEY, "zh", _ok(0.7), _run(adapter_hashes={"lang_zh": "2" * 64}))
    assert store.missing_languages(KEY, langs, H) == ["ar", "sw"]
    assert store.missing_languages(KEY, langs, "other") == langs  # another config: all stale
    per_lang = {lang: H for lang in langs} | {"zh": "changed"}
    assert store.missing_languages(KEY, langs, per_lang) == ["ar", "sw", "zh"]
    rec = store.get(KEY)
    assert rec.scores() == {"de": 0.8, "zh": 0.7}
    assert rec.setup["adapter_hashes"] == {"lang_de": "1" * 64, "lang_zh": "2" * 64}
    assert not rec.is_complete(langs) and rec.is_complete(["de", "zh"], H)


def test_failed_language_recorded_and_retried(tmp_path, caplog):
    store = ResultStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="toolkit.results"):
        store.put_language(KEY, "sw", LangResult.failed(FileNotFoundError("no file\nxnli.sw.tsv")), _run())
    assert "sw failed: FileNotFoundError: no file xnli.sw.tsv" in caplog.text
    rec = store.get(KEY)
    assert rec.languages["sw"].status == "failed" and rec.failed() == {"sw": "FileNotFoundError: no file xnli.sw.tsv"}
    assert rec.scores() == {} and not rec.is_complete(["sw"])
    assert store.missing_languages(KEY, ["sw"], H) == ["sw"]
    store.put_language(KEY, "sw", _ok(0.6), _run())
    assert store.get(KEY).languages["sw"].error is None and store.missing_languages(KEY, ["sw"], H) == []


def test_lang_result_rules():
    with pytest.raises(XtaError, match="must say why"):
        LangResult(status="failed")
    with pytest.raises(XtaError, match="needs its main score"):
        LangResult(status="ok")
    with pytest.raises(XtaError, match="status must be one of ok, failed"):
        LangResult(status="skipped", main=1.0)


def test_record_cut_mid_write_is_reported_and_recomputed(tmp_path, caplog):
    store = ResultStore(tmp_path)
    other = RecordKey("embedded", "xnli", "xnli")
    store.put_language(other, "de", _ok(0.5), _run(setup="xnli"))
    store.put_language(KEY, "de", _ok(0.8), _run())
    path = store.path(KEY)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # what a non-atomic writer killed mid-write leaves
    with caplog.at_level(logging.WARNING, logger="toolkit.results"):
        assert store.missing_languages(KEY, ["de", "fr"], H) == ["de", "fr"]
    assert str(path) in caplog.text and "moved to xnli.json.corrupt" in caplog.text
    assert not path.exists() and (path.parent / "xnli.json.corrupt").read_text() == text[: len(text) // 2]
    assert store.missing_languages(other, ["de"], H) == []  # only the cut record is recomputed
    store.put_language(KEY, "de", _ok(0.81), _run())
    assert store.get(KEY).scores() == {"de": 0.81}


@pytest.mark.parametrize(
    "content", ['{"schema_version": 1}', "[]", '{"schema_version": 1, "task": "xnli", "languages": {"de": {"status": "??"}}}']
)
def test_malformed_records_treated_as_missing(tmp_path, caplog, content):
    store = ResultStore(tmp_path)
    path = store.path(KEY)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="toolkit.results"):
        assert store.get(KEY) is None
    assert "unreadable result record" in caplog.text and (path.parent / "xnli.json.corrupt").exists()


def test_newer_schema_is_refused_not_destroyed(tmp_path):
    store = ResultStore(tmp_path)
    store.put_language(KEY, "de", _ok(0.8), _run())
    data = json.loads(store.path(KEY).read_text())
    data["schema_version"] = 99
    store.path(KEY).write_text(json.dumps(data))
    with pytest.raises(XtaError, match="schema_version 99 .*newer xta"):
        store.get(KEY)
    assert store.path(KEY).exists()


def test_kill_during_write_keeps_finished_languages(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.put_language(KEY, "de", _ok(0.8), _run())

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "replace", killed)
    monkeypatch.setattr("toolkit.io.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put_language(KEY, "fr", _ok(0.7), _run())
    monkeypatch.undo()
    assert store.get(KEY).scores() == {"de": 0.8}
    assert sorted(p.name for p in store.path(KEY).parent.iterdir()) == [".xnli.json.lock", "xnli.json"]


def test_concurrent_writers_lose_nothing(tmp_path):
    store = ResultStore(tmp_path)
    langs = [f"l{i}" for i in range(12)]
    threads = [threading.Thread(target=store.put_language, args=(KEY, lang, _ok(i / 100), _run())) for i, lang in enumerate(langs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.get(KEY).scores()) == sorted(langs)


def test_records_iterates_all_and_skips_unreadable(tmp_path, caplog):
    store = ResultStore(tmp_path)
    assert list(store.records()) == []
    keys = [RecordKey("embedded", "xnli", "xnli"), RecordKey("embedded", "xnli", "pawsx"), KEY]
    for key in keys:
        store.put_language(key, "de", _ok(0.5), _run())
    bad = tmp_path / "embedded" / "xnli" / "tatoeba.json"
    bad.write_text("{")
    with caplog.at_level(logging.WARNING, logger="toolkit.results"):
        found = [r.key for r in store.records()]
    assert sorted(found, key=str) == sorted(keys, key=str) and "tatoeba.json" in caplog.text
    assert bad.exists()  # listing does not move files


def test_keys_and_encoder_ids(tmp_path):
    assert encoder_id("embedded") == "embedded"
    assert encoder_id("FacebookAI/xlm-roberta-large") == "FacebookAI--xlm-roberta-large"
    model_dir = tmp_path / "my-xlmr"
    model_dir.mkdir()
    eid = encoder_id(str(model_dir))
    assert re.fullmatch(r"local--my-xlmr-[0-9a-f]{8}", eid) and eid == encoder_id(str(model_dir) + "/")
    with pytest.raises(XtaError, match="invalid task name"):
        RecordKey("embedded", "xnli", "../../etc/passwd")
    with pytest.raises(XtaError, match="invalid setup id name"):
        RecordKey("embedded", "..", "xnli")


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv("XTA_HOME", raising=False)
    assert str(ResultStore().root) == "xta_runs/results"
    monkeypatch.setenv("XTA_HOME", str(tmp_path))
    assert ResultStore().root == tmp_path / "results"


def test_provenance_and_hash_files(tmp_path):
    env = results.provenance()
    for lib in ("python", "xta", "torch", "transformers", "adapters", "datasets"):
        assert env["versions"][lib], lib
    assert env["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", env["git_commit"])
    (tmp_path / "xnli").mkdir()
    f = tmp_path / "xnli" / "test.tsv"
    f.write_bytes(b"abc")
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_files([f], base=tmp_path) == {"xnli/test.tsv": sha}
    assert hash_files([f]) == {str(f): sha}
    assert RunInfo(task_version=1, encoder_name="e", setup="none", config={}, config_hash="h").environment["versions"]


def test_ci_is_stored_beside_the_metric_and_old_records_without_it_still_load(tmp_path):
    from toolkit.stats import ExampleRows, ci_entry

    store = ResultStore(tmp_path)
    rows = ExampleRows("accuracy", "mean", ("a", "b", "c", "d"), [1.0, 0.0, 1.0, 1.0])
    ci = ci_entry(rows, 200, seed=42)
    entry = LangResult.ok({"accuracy": rows.value()}, rows.value(), n_examples=4, ci=ci)
    store.put_language(KEY, "de", entry, _run())
    store.put_language(KEY, "fr", _ok(0.5), _run())  # computed without a CI (--bootstrap-resamples 0)
    data = json.loads(store.path(KEY).read_text())
    assert data["languages"]["de"]["ci"] == ci and ci["low"] <= data["languages"]["de"]["main"] <= ci["high"]
    assert data["languages"]["fr"]["ci"] is None
    # a record written before CIs existed: no "ci" key at all
    del data["languages"]["de"]["ci"], data["languages"]["fr"]["ci"]
    store.path(KEY).write_text(json.dumps(data))
    rec = store.get(KEY)
    assert rec.scores() == {"de": 75.0, "fr": 0.5} and rec.languages["de"].ci is None


def test_predictions_carry_the_per_example_rows_and_old_files_have_none(tmp_path):
    from toolkit.stats import ExampleRows

    store = ResultStore(tmp_path)
    rows = ExampleRows("seqeval_f1", "f1", ("s1", "s2"), [[1, 2, 2], [0, 1, 1]])
    store.put_predictions(KEY, "de", "test", ["s1", "s2"], [["B-PER"], ["O"]], example_scores=rows.to_json())
    again = store.get_example_rows(KEY, "de")
    assert again.ids == rows.ids and again.value() == rows.value() == pytest.approx(100 * 2 * 1 / 6)
    store.put_predictions(KEY, "fr", "test", ["s1"], [["O"]])  # as written before issue 17
    assert "example_scores" not in store.get_predictions(KEY, "fr") and store.get_example_rows(KEY, "fr") is None
    assert store.get_example_rows(KEY, "sw") is None

"""Exported submission files, read back with the official readers, give xta's own scores."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from toolkit import encoders, metrics
from toolkit.config import EvalConfig, TrainConfig
from toolkit.data import load
from toolkit.evaluate import evaluate
from toolkit.results import RecordKey, ResultStore, encoder_id
from toolkit.train import train_adapter


# --- the official readers (google-research/xtreme evaluate.py), re-implemented -----------------------

def read_label_file(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_tag_file(path):
    labels, sentence = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                sentence.append(line)
            elif sentence:
                labels.append(sentence)
                sentence = []
    if sentence:
        labels.append(sentence)
    return labels


def read_squad_file(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_jsonl_labels(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["label"] for line in f if line.strip()]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, shared_data):
    """Tiny target adapters for four shapes, evaluated zero-shot on two languages each."""
    root = tmp_path_factory.mktemp("export")
    enc_dir = root / "encoder"
    enc = encoders.tiny_encoder(seed=5)
    enc.model.save_pretrained(enc_dir, safe_serialization=True)
    enc.tokenizer.save_pretrained(enc_dir)
    enc = encoders.load_encoder(enc_dir)
    art, res = root / "artifacts", root / "results"
    common = dict(model=str(enc_dir), max_steps=3, batch_size=8, max_length=64, data_dir=str(shared_data), seed=1)
    for task, name, extra in (("panx", "panx", {"max_train_examples": 64}),
                              ("copa", "xcopa", {"max_train_examples": 64}),
                              ("tydiqa", "xquad", {"max_train_examples": 32}),
                              ("xnli", "xnli", {"train_split": "dev[:64]", "dev_split": "dev[64:96]"})):
        train_adapter(TrainConfig(task=task, adapter_name=name, **common, **extra), encoder=enc, artifacts_dir=art, progress=False)
    runs = []
    for task, langs in (("panx", ("de", "en")), ("xcopa", ("et",)), ("xquad", ("de", "en")), ("xnli", ("de",))):
        cfg = EvalConfig(tasks=(task,), langs=langs, model=str(enc_dir), data_dir=str(shared_data), results_dir=str(res),
                         artifacts_dir=str(art), max_eval_examples=20, max_length=64)
        run = evaluate(cfg, encoder=enc)
        assert not run.tasks[0].failed, run.tasks[0].failed
        runs.extend(run.tasks)
    for task, langs, benchmark, n in (("tatoeba", ("de", "ja"), "xtreme-r", 40), ("lareqa", ("de",), "xtreme-r", 40),
                                      ("bucc2018", ("zh",), "xtreme", 600)):  # retrieval without training
        cfg_r = EvalConfig(tasks=(task,), langs=langs, model=str(enc_dir), data_dir=str(shared_data), results_dir=str(res),
                           artifacts_dir=str(art), max_eval_examples=n, max_length=64, setup="none", benchmark=benchmark)
        run = evaluate(cfg_r, encoder=enc)
        assert not run.tasks[0].failed, run.tasks[0].failed
        runs.extend(run.tasks)
    return cfg, runs


def test_exported_files_score_like_xta(evaluated, shared_data, tmp_path):
    cfg, tasks = evaluated
    out = tmp_path / "submission"
    # the fixture evaluates the first 20-600 examples only: never leaderboard files by default (issue 18)
    result = CliRunner().invoke(app, ["export", str(out), "--model", cfg.model, "--results-dir", cfg.results_dir])
    assert result.exit_code == 0 and "truncated evaluation (--max-eval-examples 20)" in result.output, result.output
    assert not out.exists() or not any(out.rglob("*.*"))
    result = CliRunner().invoke(app, ["export", str(out), "--model", cfg.model, "--results-dir", cfg.results_dir,
                                      "--allow-truncated"])
    assert result.exit_code == 0, result.output
    assert "xcopa/et: first 20 examples only" in (out / "NOT_A_SUBMISSION.txt").read_text()
    again = CliRunner().invoke(app, ["export", str(out), "--model", cfg.model, "--results-dir", cfg.results_dir,
                                     "--allow-truncated", "--setup", "none"])
    assert again.exit_code == 1 and "already holds" in again.output and "--force" in again.output
    for fmt in ("xtreme-r", "xtreme"):  # retrieval predictions: setup none (no dual-encoder adapter)
        result = CliRunner().invoke(app, ["export", str(out), "--model", cfg.model, "--results-dir", cfg.results_dir,
                                          "--setup", "none", "--format", fmt, "--allow-truncated", "--force"])
        assert result.exit_code == 0, result.output
    store = ResultStore(cfg.results_dir)
    checked = 0
    for t in tasks:
        retrieval = t.task in ("tatoeba", "lareqa", "bucc2018")
        rec = store.get(RecordKey(encoder_id(cfg.model), "none" if retrieval else t.task, t.task))
        for lang, entry in rec.languages.items():
            gold = load(t.task, t.split, lang, shared_data, max_examples={"bucc2018": 600}.get(t.task, 40 if retrieval else 20))
            if t.task == "xnli":
                pred = read_label_file(out / "xnli" / f"dev-{lang}.tsv")
                ours = metrics.accuracy(pred, [g["label"] for g in gold])
                assert ours == pytest.approx(entry.metrics["accuracy"])
            elif t.task == "panx":
                pred = read_tag_file(out / "panx" / f"test-{lang}.tsv")
                assert [len(p) for p in pred] == [len(g["tags"]) for g in gold]
                assert metrics.seqeval_f1(pred, [g["tags"] for g in gold]) == pytest.approx(entry.metrics["seqeval_f1"])
            elif t.task == "xquad":
                pred = read_squad_file(out / "xquad" / f"test-{lang}.json")
                scores = metrics.squad_scores(pred, gold)
                assert scores["f1"] == pytest.approx(entry.metrics["f1"])
                assert scores["exact_match"] == pytest.approx(entry.metrics["exact_match"])
            elif t.task == "xcopa":
                pred = read_jsonl_labels(out / "xcopa" / f"test-{lang}.jsonl")
                assert metrics.accuracy(pred, [g["label"] for g in gold]) == pytest.approx(entry.metrics["accuracy"])
            elif t.task == "tatoeba":  # evaluate.py: read_label + accuracy against the line numbers
                pred = read_label_file(out / "tatoeba" / f"test-{lang}.tsv")
                assert len(pred) == len(gold.candidates) == 40
                labels = [str(i) for i in range(len(pred))]
                assert metrics.accuracy(pred, labels) == pytest.approx(entry.metrics["accuracy"])
            elif t.task == "bucc2018":  # evaluate.py::bucc_f1 over 'src<TAB>trg' lines
                pred = read_label_file(out / "bucc2018" / f"dev-{lang}.tsv")
                labels = [f"{s}\t{g}" for s, golds in gold.gold.items() for g in golds]
                assert pred and labels
                official = _bucc_f1(labels, pred)
                assert official == pytest.approx(entry.metrics["bucc_f1"])
            elif t.task == "lareqa":  # {question id: ranked candidate ids}, mAP@20
                pred = read_squad_file(out / "lareqa" / f"test-{lang}.json")
                assert list(pred) == gold.query_ids and all(len(v) == 20 for v in pred.values())
                relevant = {q: g for q, g in gold.gold.items() if g}
                assert metrics.map_at_k({q: pred[q] for q in relevant}, relevant, k=20) == pytest.approx(entry.metrics["map@20"])
            checked += 1
    assert checked == 6 + 4  # panx de/en, xcopa et, xquad de/en, xnli de; tatoeba de/ja, lareqa de, bucc2018 zh


def _bucc_f1(labels, predictions):
    """google-research/xtreme evaluate.py::bucc_f1 (F1 in %)."""
    labels = {tuple(line.split("\t")) for line in labels}
    predictions = {tuple(line.split("\t")) for line in predictions}
    correct = len(labels & predictions)
    if not correct:
        return 0.0
    precision, recall = correct / len(predictions), correct / len(labels)
    return 100 * 2 * precision * recall / (precision + recall)


def test_export_never_builds_a_path_from_a_hostile_predictions_file(evaluated, tmp_path):
    """Issue 18: the split in a predictions file names the output file: it is validated, never a path."""
    import json

    from toolkit.export import export

    cfg, _ = evaluated
    store = ResultStore(cfg.results_dir)
    key = RecordKey(encoder_id(cfg.model), "xcopa", "xcopa")
    path = store.predictions_path(key, "et")
    original = path.read_text()
    try:
        for bad, why in (({"split": "../../../escaped"}, "not one of test, dev, train"),
                         ({"split": "dev"}, "but the result is for 'test'"),
                         ({"ids": ["a", "b"]}, "2 ids"), ({"predictions": "x"}, "expected a list or an object")):
            path.write_text(json.dumps({**json.loads(original), **bad}))
            result = export(store, cfg.model, "auto", "xtreme-r", tmp_path / "out", allow_truncated=True, force=True)
            assert why in result.skipped["xcopa/et"], result.skipped
        assert not list(tmp_path.rglob("escaped*"))
    finally:
        path.write_text(original)


def test_export_without_results_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--results-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "run xta eval first" in result.output

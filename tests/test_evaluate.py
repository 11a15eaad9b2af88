"""The zero-shot evaluation loop: store records, resume without model work, failures recorded, splits."""

from __future__ import annotations

import pytest

from toolkit import encoders
from toolkit.config import EvalConfig
from toolkit.errors import DataError
from toolkit.evaluate import evaluate
from toolkit.results import RecordKey, ResultStore


def _cfg(tmp_path, shared_data, model, **kw):
    base = dict(model=str(model), data_dir=str(shared_data), results_dir=str(tmp_path / "results"),
                artifacts_dir=str(tmp_path / "artifacts"), max_eval_examples=40, batch_size=16)
    return EvalConfig(**{**base, **kw})


def test_xtreme_r_tatoeba_is_scored_with_a_squad_adapter_and_says_so_when_it_cannot_train_one(tmp_path, shared_data, tiny_dir):
    """Issue 16 item 4: XTREME-R's Tatoeba protocol is an encoder fine-tuned on SQuAD v1.1 (X-STILTs): --setup auto
    trains and uses a squad_v1 adapter; offline there is no SQuAD, so the task fails with the reason and the
    explicit alternative, never silently falling back to the bare encoder."""
    run = evaluate(_cfg(tmp_path, shared_data, tiny_dir, tasks=("tatoeba",), langs=("de",), setup="auto"))
    why = run.tasks[0].failed["de"]
    assert "XTREME-R scores tatoeba with an encoder fine-tuned on SQuAD v1.1 (--setup auto trains adapter 'squad_v1')" in why
    assert "squad_v1 train en" in why and "--setup none" in why and not run.tasks[0].computed


def test_xtreme_r_tatoeba_reads_the_squad_adapter_when_there_is_one(tmp_path, shared_data, tiny_dir):
    from toolkit.config import TrainConfig
    from toolkit.train import train_adapter

    train_adapter(TrainConfig(task="tydiqa", adapter_name="squad_v1", model=str(tiny_dir), max_steps=1, max_train_examples=8,
                              batch_size=4, max_length=64, data_dir=str(shared_data)), artifacts_dir=tmp_path / "artifacts",
                  progress=False, max_dev_examples=4)  # a stand-in SQuAD adapter (SQuAD is not in the shared data)
    run = evaluate(_cfg(tmp_path, shared_data, tiny_dir, tasks=("tatoeba",), langs=("de",), setup="auto"))
    assert run.tasks[0].setup == "squad_v1" and run.tasks[0].computed == ["de"]
    from toolkit.report import scores_from_store, summarize

    gathered = scores_from_store(ResultStore(tmp_path / "results"), str(tiny_dir), "auto", "xtreme-r")
    assert gathered.setups["tatoeba"] == "squad_v1"
    tatoeba = summarize("xtreme-r", gathered.scores, gathered=gathered, encoder=str(tiny_dir)).tasks["tatoeba"]
    assert not any(d.startswith("setup") for d in tatoeba.deviations)  # the protocol setup


def test_retrieval_without_training_writes_records_and_resumes(tmp_path, shared_data, tiny_dir, monkeypatch):
    # XTREME's Tatoeba protocol is the bare encoder (XTREME-R's is a SQuAD-trained one, tested above)
    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("tatoeba",), langs=("de", "sw", "jv"), setup="auto", benchmark="xtreme")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    first = evaluate(cfg)
    (task,) = first.tasks
    assert task.setup == "none" and task.split == "test"  # no trained dual encoder: sentence representations
    assert sorted(task.computed) == ["de", "jv"]
    assert "sw" in task.failed and "tatoeba" in task.failed["sw"]  # swh files are not in the shared data
    rec = ResultStore(cfg.results_dir).get(RecordKey(first.encoder_id, "none", "tatoeba"))
    de = rec.languages["de"]
    assert de.status == "ok" and 0.0 <= de.main <= 100.0 and de.n_examples == 40
    assert de.metrics["accuracy"] == de.main
    assert any("tatoeba.deu-eng.deu" in p for p in de.data_files) and de.split == "test"
    assert rec.languages["sw"].status == "failed"
    assert rec.encoder["fingerprint"].startswith("sha256:")

    # the second identical run does no model work: loading the encoder would fail
    def no_load(*a, **k):
        raise AssertionError("the encoder was loaded although every finished language is stored")

    encoders.clear_encoder_cache()
    monkeypatch.setattr(encoders, "load_encoder", no_load)
    second = evaluate(cfg.__class__(**{**cfg.__dict__, "langs": ("de", "jv")}))
    assert sorted(second.tasks[0].reused) == ["de", "jv"] and not second.model_work


def test_auto_split_uses_dev_where_test_labels_are_not_shipped(tmp_path, shared_data, tiny_dir):
    from toolkit.evaluate import _Context
    from toolkit.tasks import get_task

    cfg = _cfg(tmp_path, shared_data, tiny_dir, split="auto")
    ctx = _Context(cfg, ResultStore(cfg.results_dir), None, lambda *a: None, False)
    assert ctx.split_for(get_task("xnli"), ("de", "fr")) == "dev"  # XTREME's xnli test files have no labels
    assert ctx.split_for(get_task("xquad"), ("de",)) == "test"
    assert ctx.split_for(get_task("xcopa"), ("et",)) == "test"
    assert ctx.split_for(get_task("mlqa"), ("de",)) == "dev"  # the MLQA test files are not here


def test_unlabelled_test_split_fails_with_a_clear_reason(tmp_path, shared_data, tiny_dir):
    from toolkit.errors import DataError
    from toolkit.evaluate import _check_gold
    from toolkit.data import load

    examples = load("xnli", "test", "de", shared_data, max_examples=5)
    with pytest.raises(DataError, match="no gold labels"):
        _check_gold(__import__("toolkit.tasks", fromlist=["get_task"]).get_task("xnli"), "test", "de", examples)


def test_intermediate_tasks_are_not_evaluation_targets(tmp_path, shared_data, tiny_dir):
    from toolkit.errors import ConfigError

    with pytest.raises(ConfigError, match="intermediate task"):
        evaluate(_cfg(tmp_path, shared_data, tiny_dir, tasks=("siqa",)))


def test_a_split_slice_scores_only_that_part_and_is_not_exported(tmp_path, shared_data, tiny_dir):
    """``--split 'dev[80%:]'``: XNLI's other languages' dev sets translate the English one, so an adapter
    trained on dev[:70%] is scored on the last fifth only; the export refuses a partial split."""
    from toolkit.data import load
    from toolkit.export import export

    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("xnli",), langs=("de",), setup="auto", split="dev[80%:]",
               max_eval_examples=None, train_steps=2, train_examples=16, train_dev_examples=8,
               train_from=("xnli=xnli/dev[:70%]/dev[70%:80%]",))
    run = evaluate(cfg)
    (task,) = run.tasks
    assert task.split == "dev[80%:]" and task.computed == ["de"]
    store = ResultStore(cfg.results_dir)
    rec = store.get(RecordKey(run.encoder_id, "xnli", "xnli"))
    assert rec.languages["de"].n_examples == len(load("xnli", "dev[80%:]", "de", shared_data)) == 498
    assert rec.languages["de"].split == "dev[80%:]"
    result = export(store, str(tiny_dir), "auto", "xtreme-r", tmp_path / "out", allow_truncated=True)
    assert result.skipped["xnli/de"].startswith("evaluated on a slice") and not result.files


def test_a_qa_file_whose_every_answer_is_empty_is_not_scored(shared_data):
    """The TyDiQA-GoldP dev files in ../shared/data carry '' for every answer: scoring them would print F1 0."""
    from toolkit.data import has_gold, load
    from toolkit.evaluate import _check_gold
    from toolkit.tasks import get_task

    stripped = load("tydiqa", "test", "en", data_dir=shared_data, max_examples=20)
    assert stripped and all(ex["answers"]["text"] in ([""], []) for ex in stripped)
    assert not has_gold(stripped)
    with pytest.raises(DataError, match="every answer is empty"):
        _check_gold(get_task("tydiqa"), "test", "en", stripped)
    labelled = load("xquad", "test", "en", data_dir=shared_data, max_examples=20)
    assert has_gold(labelled) and has_gold(load("tydiqa", "train", "en", data_dir=shared_data, max_examples=5))
    _check_gold(get_task("xquad"), "test", "en", labelled)


def test_a_builtin_benchmark_record_carries_its_data_version(tmp_path, shared_data, tiny_dir):
    """Issue 22: generated data is recorded like data files: the items' hash and the manifest's version."""
    from toolkit import cldr

    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("cldr_names",), langs=("de",), setup="none", benchmark="demo")
    run = evaluate(cfg)
    rec = ResultStore(cfg.results_dir).get(RecordKey(run.encoder_id, "none", "cldr_names"))
    de = rec.languages["de"]
    assert de.status == "ok", de.error
    entry = cldr.manifest()["items"]["cldr_names"]["test"]["de"]
    assert de.data_files == {
        "builtin:cldr_names (babel 2.18.0, CLDR 47)": f"sha256:{entry['sha256']}",
        "builtin:data_version": cldr.provenance("cldr_names")["data_version"]}
    assert rec.versions["babel"] == "2.18.0"


def test_a_finished_result_is_never_replaced_by_another_configuration(tmp_path, shared_data, tiny_dir):
    """Issue 18: fewer examples (another config) or a lost --data-dir must not overwrite a good entry."""
    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("tatoeba",), langs=("de",), setup="none", max_eval_examples=30)
    first = evaluate(cfg)
    store = ResultStore(cfg.results_dir)
    key = RecordKey(first.encoder_id, "none", "tatoeba")
    good = store.get(key).languages["de"]
    assert good.status == "ok" and good.n_examples == 30

    other = cfg.__class__(**{**cfg.__dict__, "max_eval_examples": 20})
    run = evaluate(other)
    assert "ResultConflict" in run.tasks[0].failed["de"] and "--overwrite" in run.tasks[0].failed["de"]
    assert store.get(key).languages["de"] == good  # kept, byte for byte

    lost_data = cfg.__class__(**{**cfg.__dict__, "max_eval_examples": 20, "data_dir": str(tmp_path / "nowhere"),
                                 "overwrite": True})
    run = evaluate(lost_data)
    assert run.tasks[0].failed["de"]  # reported as failed ...
    assert store.get(key).languages["de"] == good  # ... but a failure never replaces a finished result

    replaced = evaluate(cfg.__class__(**{**other.__dict__, "overwrite": True}))
    assert replaced.tasks[0].computed == ["de"] and store.get(key).languages["de"].n_examples == 20



def test_retrieval_records_say_how_they_were_computed_and_layers_never_mix(tmp_path, shared_data, tiny_dir):
    """Each language entry records the precision and the retrieval settings it used (the protocol layer of
    the encoder by default); another layer is another configuration: its entries are recomputed."""
    from toolkit.retrieval import protocol_layer

    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("tatoeba",), langs=("de",), setup="none", max_eval_examples=20)
    first = evaluate(cfg)
    key = RecordKey(first.encoder_id, "none", "tatoeba")
    de = ResultStore(cfg.results_dir).get(key).languages["de"]
    how = de.evaluation["retrieval"]
    assert de.evaluation["precision"] == "fp32"  # CPU
    assert how["scorer"] == "sentence_representations" and how["encoder_layers"] == 2
    assert how["layer"] == protocol_layer(2) and how["pooling"] == "mean" and how["normalize"] is True
    assert how["query_max_length"] == how["candidate_max_length"] == 512 and how["tatoeba_direction"] == "en2xx"

    refused = evaluate(EvalConfig(**{**cfg.__dict__, "retrieval_layer": 2}))  # never silently replaced (issue 18)
    assert "ResultConflict" in refused.tasks[0].failed["de"] and not refused.tasks[0].reused
    other = evaluate(EvalConfig(**{**cfg.__dict__, "retrieval_layer": 2, "overwrite": True}))
    assert other.tasks[0].computed == ["de"] and not other.tasks[0].reused
    de2 = ResultStore(cfg.results_dir).get(key).languages["de"]
    assert de2.evaluation["retrieval"]["layer"] == 2 and de2.config_hash != de.config_hash
    again = evaluate(EvalConfig(**{**cfg.__dict__, "retrieval_layer": 2}))
    assert again.tasks[0].reused == ["de"]


def test_a_trained_dual_encoder_is_scored_through_its_family(tmp_path, shared_data, monkeypatch):
    """LAReQA with a dual-encoder adapter: the retrieval family's featurize/predict/score (answer sentences,
    cosine of mean-pooled last-layer vectors, as trained), questions at 96 and candidates at 256 tokens."""
    from toolkit.data import RetrievalData
    from toolkit.encoders import tiny_encoder
    from toolkit.evaluate import _Context
    from toolkit.families import retrieval as family
    from toolkit.families.base import adapter_model
    from toolkit.setups import parse_setup
    from toolkit.tasks import get_task

    enc = tiny_encoder(seed=1)
    model = adapter_model(enc)
    model.add_adapter("lareqa_de", config="seq_bn")
    model.set_active_adapters("lareqa_de")
    cfg = _cfg(tmp_path, shared_data, "embedded", tasks=("lareqa",))
    ctx = _Context(cfg, ResultStore(cfg.results_dir), enc, lambda *a: None, False)
    monkeypatch.setattr(_Context, "is_dual_encoder", lambda self, head: head == "lareqa_de")
    seen = {}
    real = family.featurize
    monkeypatch.setattr(family, "featurize", lambda data, tok, spec, n, **kw: seen.update(kw, texts=list(data.candidates)) or real(data, tok, spec, n, **kw))
    words = ["house", "river", "mountain", "bread", "window", "teacher"]
    data = RetrievalData([f"q{i}" for i in range(6)], [f"where is the {w}?" for w in words],
                         [f"c{i}" for i in range(6)], [f"The {w} is here." for w in words],
                         {f"q{i}": {f"c{i}"} for i in range(6)}, candidate_contexts=[" Some context." for _ in words])
    spec = get_task("lareqa")
    record: dict = {}
    metrics, n, (ids, preds) = ctx.predict_and_score(spec, model, parse_setup("lareqa_de"), "de", data, record=record)
    assert seen["query_max_length"] == 96 and seen["candidate_max_length"] == 256
    assert seen["texts"] == data.candidates  # the answer sentences it was trained on, no context
    assert record["retrieval"]["scorer"] == "dual_encoder" and record["retrieval"]["adapter"] == "lareqa_de"
    expected = family.predict(model, real(data, enc.tokenizer, spec, 256, query_max_length=96, candidate_max_length=256))
    assert dict(zip(ids, preds)) == expected and metrics == family.score(expected, data, spec)
    bare: dict = {}
    ctx.predict_and_score(spec, model, parse_setup("none"), "de", data, record=bare)  # no dual encoder: sentence representations
    assert bare["retrieval"]["scorer"] == "sentence_representations"
    assert bare["retrieval"]["lareqa_candidate_text"] == "sentence+context"
    model.delete_adapter("lareqa_de")


def test_evaluation_precision_is_named_and_separates_hashes(tmp_path, shared_data, tiny_dir, monkeypatch):
    import torch

    from toolkit.evaluate import _Context
    from toolkit.families.base import eval_precision
    from toolkit.tasks import get_task

    assert eval_precision("cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert eval_precision("cuda") == "bf16"  # autocast on a GPU that has bf16
    monkeypatch.setenv("XTA_EVAL_PRECISION", "fp32")
    assert eval_precision("cuda") == "fp32"
    cfg = _cfg(tmp_path, shared_data, tiny_dir, tasks=("xnli",))
    ctx = _Context(cfg, ResultStore(cfg.results_dir), None, lambda *a: None, False)
    ctx._fingerprint = "sha256:x"
    fp32 = ctx.lang_hash(get_task("xnli"), "dev", {})
    monkeypatch.setattr(_Context, "precision", property(lambda self: "bf16"))
    assert ctx.lang_hash(get_task("xnli"), "dev", {}) != fp32  # a bf16 entry never stands in for an fp32 one


def test_a_setup_whose_head_cannot_score_the_task_is_refused_by_name(tmp_path, shared_data, tiny_dir):
    """Issue 18: a multiple-choice head on XNLI was a RuntimeError deep in the model; now one SetupError."""
    from toolkit.config import TrainConfig
    from toolkit.train import train_adapter

    train_adapter(TrainConfig(task="copa", model=str(tiny_dir), max_steps=1, max_train_examples=8, batch_size=4,
                              max_length=32, data_dir=str(shared_data)), artifacts_dir=tmp_path / "artifacts",
                  progress=False, max_dev_examples=4)
    run = evaluate(_cfg(tmp_path, shared_data, tiny_dir, tasks=("xnli",), langs=("de",), setup="copa", max_eval_examples=4))
    why = run.tasks[0].failed["de"]
    assert why.startswith("SetupError: setup 'copa': its head 'copa' was trained on copa (multiple choice)")
    assert "cannot score xnli (pair classification with 3 labels)" in why
    ok = evaluate(_cfg(tmp_path, shared_data, tiny_dir, tasks=("xcopa",), langs=("et",), setup="copa", max_eval_examples=4))
    assert ok.tasks[0].computed == ["et"]  # the same head on the task it was trained for

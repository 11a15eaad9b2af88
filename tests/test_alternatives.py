"""Issue 21: the seed paper's two alternatives to English intermediate training, as recipes: a masked-LM
loss on multilingual plain text mixed into intermediate training, and translated (translate-train)
intermediate data; both trained on real local files, labelled, and planned/cached by the matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolkit import mlm_text
from toolkit.config import TrainConfig
from toolkit.errors import ConfigError, DataError
from toolkit.train import train_adapter


TINY_SEED = 3  # the seed of conftest's `tiny` encoder for this module


@pytest.fixture(scope="module")
def text(shared_data, tmp_path_factory) -> Path:
    """German/French PAWS-X sentences from dev[:2%], none of them a sentence of the scored dev[50%:]."""
    scored = mlm_text.scored_keys("pawsx", "dev[50%:]", ["de", "fr"], shared_data)
    lines = mlm_text.extract_text("pawsx", "dev[:2%]", ["de", "fr"], shared_data, exclude=scored)
    return mlm_text.save_lines(lines, tmp_path_factory.mktemp("mlm") / "pawsx_de_fr.txt")


def test_mlm_text_is_taken_from_a_disjoint_slice_and_overlap_is_refused(shared_data, text, tmp_path):
    lines = text.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 100 and len(set(lines)) == len(lines)
    en = {ln.strip() for ex in __import__("toolkit.data", fromlist=["load"]).load("pawsx", "dev[:2%]", "en", shared_data)
          for ln in (ex["text"], ex["text_pair"])}
    assert not en & set(lines)  # the non-English sides only
    mlm_text.refuse_overlap([text], "pawsx", "dev[50%:]", ["de", "fr"], shared_data)  # disjoint: passes
    # the same slice is what a matrix scoring dev[:50%] would score: refused, by sentence hashes
    with pytest.raises(DataError, match="sentences that pawsx dev\\[:50%\\] scores"):
        mlm_text.refuse_overlap([text], "pawsx", "dev[:50%]", ["de"], shared_data)
    # PAWS-X reuses sentences across pairs: a disjoint slice of items is not disjoint in sentences
    raw = mlm_text.extract_text("pawsx", "dev[:2%]", ["de"], shared_data)
    assert mlm_text.overlap([mlm_text.save_lines(raw, tmp_path / "raw.txt")],
                            mlm_text.scored_keys("pawsx", "dev[50%:]", ["de"], shared_data))
    with pytest.raises(DataError, match="drop 'en'"):
        mlm_text.extract_text("pawsx", "dev[:1%]", ["en"], shared_data)


def test_mlm_during_intermediate_training_lowers_the_mlm_loss(shared_data, text, tiny, tmp_path):
    small = mlm_text.save_lines(text.read_text(encoding="utf-8").splitlines()[:16], tmp_path / "small.txt")
    cfg = TrainConfig(task="xnli", model="tiny", train_split="dev[:8]", dev_split="dev[-8:]", max_steps=24, batch_size=8,
                      learning_rate=5e-2, max_length=32, mlm_text=str(small), mlm_weight=0.5, data_dir=str(shared_data),
                      adapter_name="xnli_mlm")
    run = train_adapter(cfg, tiny, tmp_path / "art", progress=False)
    card = run.card
    assert card["train_langs"] == ["en"] and card["mlm"]["sentences"] == 16 and card["mlm"]["weight"] == 0.5
    assert "no MLM head" in card["mlm"]["head"]  # the tiny encoder is a bare BertModel
    losses = [loss for _, loss in card["mlm"]["loss_history"]]
    assert 10 <= len(losses) < 24  # the sampler mixed task and MLM micro-batches (proportional: 16 vs 8)
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first - 0.2, losses  # the masked-LM loss decreases (from ~ln(250k) = 12.4)
    # the text's contents (not its path) enter the configuration hash; the MLM head is not saved
    assert not any("xta_mlm" in p.name for p in run.path.rglob("*"))
    again = train_adapter(cfg, tiny, tmp_path / "art", progress=False)
    assert again.skipped
    with pytest.raises(ConfigError, match="fusion has no adapter"):
        TrainConfig(task="xnli", recipe="fuse", intermediate=("a",), mlm_text="x.txt")


def test_mlm_uses_the_checkpoints_pretrained_head_frozen(shared_data, text, tmp_path):
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from toolkit.encoders import embedded_tokenizer, load_encoder

    tok = embedded_tokenizer()
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=514, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    XLMRobertaForMaskedLM(config).save_pretrained(tmp_path / "xlmr", safe_serialization=True)
    tok.save_pretrained(tmp_path / "xlmr")
    enc = load_encoder(tmp_path / "xlmr")
    cfg = TrainConfig(task="xnli", model=str(tmp_path / "xlmr"), train_split="dev[:8]", dev_split="dev[-8:]", max_steps=2,
                      batch_size=8, max_length=32, mlm_text=str(text), data_dir=str(shared_data), adapter_name="xnli_mlm")
    from toolkit.families.base import adapter_model
    from toolkit.lang_adapters import MLM_HEAD, pretrained_mlm_head

    checkpoint, _ = pretrained_mlm_head(enc)
    seen = []

    def frozen_and_unchanged(step):  # during training: the checkpoint's head, frozen, after each optimizer step
        head = dict(adapter_model(enc).heads[MLM_HEAD].named_parameters())
        seen.append(all(not p.requires_grad for p in head.values())
                    and all(torch.equal(head[k].detach().cpu(), v) for k, v in checkpoint.items()))

    run = train_adapter(cfg, enc, tmp_path / "art", progress=False, on_step=frozen_and_unchanged)
    assert seen == [True, True]
    assert "pre-trained MLM head from model.safetensors" in run.card["mlm"]["head"] and "frozen" in run.card["mlm"]["head"]
    assert MLM_HEAD not in adapter_model(enc).heads  # removed after the run


def test_translate_train_adapter_records_its_languages_and_is_labelled(shared_data, tiny, tmp_path):
    from toolkit.modelcard import TRANSFER_TAG, TRANSLATE_TRAIN_TAG, hub_metadata, translated_langs

    cfg = TrainConfig(task="xnli", model="tiny", train_split="dev[:6]", dev_split="dev[-8:]", max_steps=3, batch_size=4,
                      max_length=32, train_langs="en,de,fr", data_dir=str(shared_data), adapter_name="xnli_tt")
    run = train_adapter(cfg, tiny, tmp_path, progress=False)
    assert run.card["train_langs"] == ["en", "de", "fr"]
    assert set(run.card["data"]) == {"xnli<-xnli", "xnli<-xnli@de", "xnli<-xnli@fr"}
    assert run.card["data"]["xnli<-xnli@de"]["train_lang"] == "de"
    assert translated_langs(run.card) == ["en", "de", "fr"]
    tags = hub_metadata(run.card, [])["tags"]
    assert TRANSLATE_TRAIN_TAG in tags and TRANSFER_TAG not in tags  # never the zero-shot claim
    # English only is the default: the same configuration (and hash) as no train_langs
    assert TrainConfig(task="xnli", train_langs="en") == TrainConfig(task="xnli")
    with pytest.raises(ConfigError, match="phases"):  # XCOPA trains SIQA then COPA: no translated data to read
        train_adapter(TrainConfig(task="xcopa", model="tiny", train_langs="en,et", max_steps=1, data_dir=str(shared_data)),
                      tiny, tmp_path, progress=False)


def test_translate_train_reads_the_targets_translated_training_set_for_other_languages():
    """A task that trains from another card (XNLI from MNLI) reads its own translate_train split for the
    other languages, sliced like English; one with translated data in its own split reads that."""
    from toolkit.errors import DataUnavailable
    from toolkit.preflight import training_phases
    from toolkit.tasks import TRANSLATE_TRAIN, get_task

    xnli, mnli = get_task("xnli"), get_task("mnli")
    phases = training_phases(xnli, "train[:10%]", ("en", "de", "sw"))
    assert [(src.name, split, lang) for src, split, lang in phases] == [
        ("mnli", "train[:10%]", "en"), ("xnli", f"{TRANSLATE_TRAIN}[:10%]", "de"), ("xnli", f"{TRANSLATE_TRAIN}[:10%]", "sw")]
    assert phases[0][0] is mnli
    assert [(s.name, sp, lang) for s, sp, lang in training_phases(xnli, "dev[:70%]", ("en", "de"))] == [
        ("xnli", "dev[:70%]", "en"), ("xnli", "dev[:70%]", "de")]
    assert [(s.name, sp) for s, sp, _ in training_phases(get_task("pawsx"), "train", ("ja",))] == [("pawsx", TRANSLATE_TRAIN)]
    with pytest.raises(DataUnavailable, match="no translated training data"):  # XQuAD from SQuAD: none on the Hub
        training_phases(get_task("xquad"), "train", ("en", "de"))
    with pytest.raises(ConfigError, match="phases"):
        training_phases(get_task("xcopa"), "train", ("en", "et"))


def test_translate_train_from_the_hub_trains_on_xnli_mt_and_records_it(shared_data, tiny, tmp_path, monkeypatch):
    """--train-langs en,de on XNLI's default split: English from MNLI, German from facebook/xnli's
    machine-translated train split (the offline stand-in serves German rows of that schema)."""
    import dataclasses

    import datasets

    from fakehub import FakeDatasets
    from toolkit.data import load
    from toolkit.errors import DataUnavailable
    from toolkit.preflight import check_training

    fake = FakeDatasets(shared_data, rows=12)
    monkeypatch.setattr(datasets, "load_dataset", fake)
    cfg = TrainConfig(task="xnli", model="tiny", train_split="train[:8]", dev_split="dev[-8:]", max_steps=2, batch_size=4,
                      max_length=32, train_langs="en,de", data_dir=str(shared_data), adapter_name="xnli_mt")
    check_training(cfg, tmp_path, force=True)
    de = load("xnli", "translate_train", "de", data_dir=shared_data)
    assert len(de) == 12 and de[0]["label"] in ("entailment", "neutral", "contradiction")
    assert de[0]["text"] == load("xnli", "dev", "de", data_dir=shared_data)[0]["text"]  # the stand-in's German rows
    run = train_adapter(cfg, tiny, tmp_path, progress=False)
    assert run.card["train_langs"] == ["en", "de"]
    german = [v for v in run.card["data"].values() if v.get("train_lang") == "de"]
    assert len(german) == 1 and "facebook/xnli" in json.dumps(german[0]["train"])
    assert ("facebook/xnli", "de", "train") in fake.calls and ("nyu-mll/glue", "mnli", "train") in fake.calls
    # without the Hub the translated set is missing data, said before any model work
    def no_hub(path, name=None, **kwargs):
        raise ConnectionError(f"offline: {path} {name}")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    with pytest.raises(DataUnavailable, match="facebook/xnli") as err:
        check_training(dataclasses.replace(cfg, train_langs=("de",), adapter_name="xnli_de"), tmp_path, force=True)
    assert "translate_train" in str(err.value) and " de" in str(err.value)


def test_matrix_plans_reports_and_reuses_both_alternatives(shared_data, text, tiny_dir, tmp_path):
    from toolkit.matrix import MatrixConfig, gain_rows, parse_intermediate, plan_matrix, run_matrix
    from toolkit.report import TRANSLATE_TRAIN

    dev = {"train_split": "dev[:8]", "dev_split": "dev[-8:]"}
    cfg = MatrixConfig(
        targets=("pawsx",), intermediates=("xnli", "xnli+mlm", "xnli+tt"), benchmark="xtreme", langs=("de", "fr"),
        model=str(tiny_dir), intermediate_steps=2, target_steps=2, max_length=32, batch_size=4, max_eval_examples=6,
        mlm_text=(str(text),), overrides={"xnli": {**dev, "train_langs": "en,de"},
                                          "pawsx": {**dev, "eval_split": "dev[50%:]"}},
        data_dir=str(shared_data), results_dir=str(tmp_path / "results"), artifacts_dir=str(tmp_path / "artifacts"),
        resamples=0, permutations=0)
    assert [m.name for m in parse_intermediate("xnli+mlm")] == ["xnli_mlm"]
    plan = plan_matrix(cfg)
    trains = {n.id: n.train for n in plan.trainings}
    assert trains["train:xnli_mlm"].mlm_text == (str(text),) and trains["train:xnli"].mlm_text == ()
    assert trains["train:xnli_tt"].train_langs == ("en", "de") and trains["train:xnli"].train_langs == ()
    first = run_matrix(cfg)
    assert all(o.status in ("trained", "evaluated") for o in first.outcomes.values()), first.outcomes
    header, rows = gain_rows(first, "sequential")
    assert [r[0] for r in rows[1:]] == ["xnli", "xnli+mlm", f"xnli+tt ({TRANSLATE_TRAIN})"]
    assert all(first.mean_gain("pawsx", "sequential", e) is not None for e in cfg.intermediates[1:])
    # the evaluation record names the translated adapter (through the target's init_from) and the report says so
    from toolkit.results import RecordKey, ResultStore, encoder_id

    rec = ResultStore(cfg.results_dir).get(RecordKey(encoder_id(cfg.model), "pawsx__after__xnli_tt", "pawsx"))
    assert rec.languages["de"].evaluation["train_langs"] == {"xnli_tt": ["en", "de"]}
    plain = ResultStore(cfg.results_dir).get(RecordKey(encoder_id(cfg.model), "pawsx__after__xnli", "pawsx"))
    assert "train_langs" not in (plain.languages["de"].evaluation or {})
    from toolkit.report import scores_from_store, summarize

    def deviations(setup):
        gathered = scores_from_store(ResultStore(cfg.results_dir), cfg.model, setup, "xtreme")
        return summarize("xtreme", gathered.scores, gathered=gathered, encoder=cfg.model).tasks["pawsx"].deviations

    assert f"{TRANSLATE_TRAIN}: adapters trained on translated data: xnli_tt (en+de)" in deviations("pawsx__after__xnli_tt")
    assert not any(TRANSLATE_TRAIN in d for d in deviations("pawsx__after__xnli"))
    again = run_matrix(cfg)  # zero recomputation
    assert not again.work_done and {o.status for o in again.outcomes.values()} == {"skipped", "reused"}
    assert again.scores == first.scores and again.cost.steps_now == 0
    # text that holds scored sentences is refused at planning time
    with pytest.raises(DataError, match="scores"):
        plan_matrix(MatrixConfig(**{**cfg.__dict__, "overrides": {**cfg.overrides, "pawsx": {**dev, "eval_split": "dev[:50%]"}}}))
    with pytest.raises(ConfigError, match="needs mlm_text"):
        MatrixConfig(targets=("pawsx",), intermediates=("xnli+mlm",))
    with pytest.raises(ConfigError, match="beyond English"):
        plan_matrix(MatrixConfig(targets=("pawsx",), intermediates=("xnli+tt",), langs=("de",)))
    json.dumps(first.config.__dict__, default=str)


@pytest.mark.slow
def test_both_alternatives_train_on_the_embedded_encoder(shared_data, text, tmp_path):
    """One short run on the embedded encoder (real files): translated XNLI data in en+de plus the masked-LM
    loss on German/French text; the loss is finite and the card records both."""
    import math

    from toolkit.encoders import load_encoder

    enc = load_encoder("embedded")
    cfg = TrainConfig(task="xnli", train_split="dev[:16]", dev_split="dev[-16:]", max_steps=4, batch_size=8, max_length=32,
                      learning_rate=1e-3, train_langs="en,de", mlm_text=str(text), data_dir=str(shared_data),
                      adapter_name="xnli_tt_mlm")
    run = train_adapter(cfg, enc, tmp_path, progress=False)
    assert run.steps == 4 and run.card["train_langs"] == ["en", "de"]
    assert run.card["mlm"]["loss_history"] and all(math.isfinite(v) for _, v in run.card["mlm"]["loss_history"])
    assert "no MLM head" in run.card["mlm"]["head"]  # the embedded e5 bundle ships the encoder only


def test_cli_writes_mlm_text_without_the_scored_sentences_and_train_adapter_takes_the_flags(shared_data, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "de.txt"
    res = CliRunner().invoke(app, ["mlm-text", "--task", "pawsx", "--split", "dev[:2%]", "--langs", "de",
                                   "--scored-split", "dev[50%:]", "--out", str(out), "--data-dir", str(shared_data)])
    assert res.exit_code == 0, res.output
    mlm_text.refuse_overlap([out], "pawsx", "dev[50%:]", ["de"], shared_data)
    # the flags reach the configuration; missing translated data or text is refused before any model loads
    common = ["train-adapter", "--task", "pawsx", "--train-split", "dev[:8]", "--dev-split", "dev[-8:]", "--data-dir", str(shared_data)]
    res = CliRunner().invoke(app, [*common, "--train-langs", "en,sw"], env={"COLUMNS": "300"})
    assert res.exit_code != 0 and "sw" in res.output, res.output
    res = CliRunner().invoke(app, [*common, "--mlm-text", str(tmp_path / "none.txt")], env={"COLUMNS": "300"})
    assert res.exit_code != 0 and "masked-LM text file not found" in res.output, res.output

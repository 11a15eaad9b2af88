"""Compositions at training and evaluation time: AdapterFusion (trained under its target name, loaded with
its head for ``fuse:a,b>X``), fusion attention export, MAD-X language adapters (masked LM, invertible
adapters, swapped per evaluation language), the setup grammar round-tripping to adapters blocks.

Fast tests share one module fixture on the tiny encoder (2 layers, hidden 32, the real XLM-R tokenizer):
intermediate adapters ``copa`` (COPA train) and ``siqa`` (SIQA dev[:80%], selected on dev[80%:]), the
fusion ``fuse_xcopa`` over them trained on COPA, language adapters ``lang_en/et/id`` on 300 Tatoeba
sentences each, and ``copa_madx``, a COPA adapter trained above ``lang_en``. XCOPA et/id is evaluated
zero-shot. The ``slow`` test does the same on the embedded multilingual-e5-small with tiny budgets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolkit.config import EvalConfig, TrainConfig
from toolkit.errors import ConfigError, DataError, EncoderError, SetupError
from toolkit.evaluate import evaluate
from toolkit.lang_adapters import (
    LangAdapterConfig,
    fusion_attention,
    fusion_attention_by_language,
    mask_tokens,
    read_sentences,
    register_language_adapter,
    train_language_adapter,
    write_fusion_attention,
)
from toolkit.matrix import reset_adapters
from toolkit.results import RecordKey, ResultStore
from toolkit.setups import setup_id
from toolkit.train import activate_setup, load_trained_adapter, setup_artifacts, train_adapter

TATOEBA = "tatoeba/v1/tatoeba.{code}-eng.{side}"


def _text(shared_data: Path, tmp: Path, lang: str, n: int = 300) -> Path:
    """``n`` sentences of one language (Tatoeba: est/ind side, or the English side of ind-eng) in a tmp file."""
    code, side = {"en": ("ind", "eng"), "et": ("est", "est"), "id": ("ind", "ind")}[lang]
    lines = (shared_data / TATOEBA.format(code=code, side=side)).read_text(encoding="utf-8").splitlines()[:n]
    path = tmp / f"{lang}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(shared_data, tmp_path_factory):
    from toolkit.encoders import tiny_encoder

    enc = tiny_encoder(seed=3)
    root = tmp_path_factory.mktemp("compose")
    art = root / "artifacts"
    base = dict(max_train_examples=64, max_steps=3, batch_size=8, max_length=48, learning_rate=1e-3, data_dir=str(shared_data))
    kw = dict(progress=False, max_dev_examples=16)
    runs = {
        "copa": train_adapter(TrainConfig(task="copa", **base), enc, art, **kw),
        "siqa": train_adapter(TrainConfig(task="siqa", train_split="dev[:80%]", dev_split="dev[80%:]", **base), enc, art, **kw),
        "fuse_xcopa": train_adapter(TrainConfig(task="copa", recipe="fuse", intermediate=("copa", "siqa"),
                                                adapter_name="fuse_xcopa", **base), enc, art, **kw),
    }
    for lang in ("en", "et", "id"):
        cfg = LangAdapterConfig(lang=lang, text=str(_text(shared_data, root, lang)), max_steps=3, batch_size=16,
                                max_length=32, learning_rate=1e-3)
        runs[f"lang_{lang}"] = train_language_adapter(cfg, enc, art)
    runs["copa_madx"] = train_adapter(TrainConfig(task="copa", recipe="stack", intermediate=("lang_en",),
                                                  adapter_name="copa_madx", **base), enc, art, **kw)
    yield {"enc": enc, "art": art, "root": root, "runs": runs, "data": shared_data}
    reset_adapters(enc)


def _eval(world, setup: str, langs=("et", "id"), results="results"):
    cfg = EvalConfig(setup=setup, tasks=("xcopa",), langs=langs, model="tiny", split="test", data_dir=str(world["data"]),
                     results_dir=str(world["root"] / results), artifacts_dir=str(world["art"]), max_eval_examples=40,
                     batch_size=16)
    run = evaluate(cfg, encoder=world["enc"])
    return run.tasks[0], ResultStore(cfg.results_dir).get(RecordKey(run.encoder_id, setup_id(setup), "xcopa"))


def _xcopa_batch(world, lang: str, n: int = 8):
    from toolkit.data import load
    from toolkit.families import get_family
    from toolkit.tasks import get_task

    spec = get_task("xcopa")
    examples = load(spec, "test", lang, data_dir=world["data"], max_examples=n)
    family = get_family(spec)
    feats = family.featurize(examples, world["enc"].tokenizer, spec, 48)
    return family.collate(feats.items, feats.meta.get("pad_id", 1))


def _logits(model, batch, head):
    from toolkit.families.base import head_logits

    with torch.inference_mode():
        return head_logits(model, batch, head).logits


# ---------------------------------------------------------------------------------------- fusion


def test_fusion_is_saved_under_its_target_name_with_its_head(world):
    from toolkit.families.base import adapter_model
    from toolkit.io import load_safetensors

    run = world["runs"]["fuse_xcopa"]
    assert run.card["recipe"] == "fuse" and run.card["intermediate"] == ["copa", "siqa"]
    config = json.loads((run.path / "adapter_fusion_config.json").read_text())
    assert config["name"] == "fuse_xcopa" and config["adapter_names"] == ["copa", "siqa"]
    weights = load_safetensors(run.path / "model_adapter_fusion.safetensors")
    assert weights and all(".adapter_fusion_layer.fuse_xcopa." in k for k in weights)
    assert json.loads((run.path / "head_config.json").read_text())["name"] == "fuse_xcopa"
    # SIQA trained on dev[:80%] and selected on dev[80%:] of the same file, recorded as such
    siqa = world["runs"]["siqa"].card["data"]["siqa<-siqa"]
    assert siqa["train"]["split"] == "dev[:80%]" and siqa["dev:siqa"]["split"] == "dev[80%:]"
    model = adapter_model(world["enc"])
    assert not model.adapters_config.fusions and not model.heads  # the run cleaned up after itself


def test_fused_setup_evaluates_zero_shot_with_the_trained_fusion(world):
    from toolkit.families.base import adapter_model
    from toolkit.io import load_safetensors

    task, record = _eval(world, "fuse:copa,siqa>fuse_xcopa")
    assert task.computed == ["et", "id"] and not task.failed
    for lang in ("et", "id"):
        entry = record.languages[lang]
        assert entry.n_examples == 40 and 0.0 <= entry.main <= 100.0
        assert set(entry.adapters) == {"copa", "siqa", "fuse_xcopa"}  # the fusion's weights identify the result
    model = adapter_model(world["enc"])
    assert model.active_adapters.name == "fuse_xcopa"
    saved = load_safetensors(world["runs"]["fuse_xcopa"].path / "model_adapter_fusion.safetensors")
    params = dict(model.named_parameters())
    for key, value in saved.items():  # the trained fusion layer is what evaluation ran, not a fresh one
        assert torch.equal(params[key], value)
    head = load_safetensors(world["runs"]["fuse_xcopa"].path / "model_head.safetensors")
    assert all(torch.equal(params[k], v) for k, v in head.items())


def test_fused_setup_reproduces_the_trained_fusion_in_a_fresh_encoder(world):
    from toolkit.encoders import tiny_encoder

    batch = _xcopa_batch(world, "et")
    model, head = activate_setup(world["enc"], "fuse:copa,siqa>fuse_xcopa", world["art"])
    assert head == "fuse_xcopa"
    ours = _logits(model, batch, head)
    fresh = load_trained_adapter(tiny_encoder(seed=3), "fuse_xcopa", world["art"])
    assert torch.equal(ours, _logits(fresh, batch, "fuse_xcopa"))


def test_fusion_attention_per_layer_sums_to_one_and_ignores_padding(world, tmp_path):
    setup = "fuse:copa,siqa>fuse_xcopa"
    sentences = ["Mees kukkus.", "Tüdruk leidis oma kadunud koera ja rõõmustas väga.", "Ta naeris."]
    together = fusion_attention(world["enc"], setup, sentences, artifacts_dir=world["art"], batch_size=3)
    alone = fusion_attention(world["enc"], setup, sentences, artifacts_dir=world["art"], batch_size=1)
    assert sorted(together) == [0, 1]  # the tiny encoder's two layers
    for layer, weights in together.items():
        assert list(weights) == ["copa", "siqa"]
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 < w < 1.0 for w in weights.values())
        for name in weights:  # padded batch == one sentence at a time: padding tokens carry no weight
            assert weights[name] == pytest.approx(alone[layer][name], abs=1e-6)
    per_lang = fusion_attention_by_language(world["enc"], setup, "xcopa", ["et", "id"], data_dir=world["data"],
                                            artifacts_dir=world["art"], max_examples=6)
    path = write_fusion_attention(per_lang, tmp_path / "attn.json")
    data = json.loads(path.read_text())
    assert sorted(data) == ["et", "id"] and sorted(data["et"]) == ["0", "1"]
    assert sum(data["id"]["1"].values()) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(SetupError, match="no fuse block"):
        fusion_attention(world["enc"], "copa", sentences, artifacts_dir=world["art"])


# ---------------------------------------------------------------------------------------- language adapters


def test_mask_tokens_is_bert_masking_and_seeded():
    ids = torch.randint(5, 1000, (400, 100), generator=torch.Generator().manual_seed(0))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    ids[special] = 0
    inputs, labels = mask_tokens(ids, special, 4, 1000, torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert not chosen[special].any() and torch.equal(labels[chosen], ids[chosen])
    n = int(chosen.sum())
    assert abs(n / int((~special).sum()) - 0.15) < 0.01  # 39,200 maskable tokens: 3 sd ~ 0.5 points
    masked = int((inputs[chosen] == 4).sum())
    kept = int((inputs[chosen] == ids[chosen]).sum())
    assert abs(masked / n - 0.8) < 0.02 and abs(kept / n - 0.1) < 0.02  # kept: 10% + random hits (1/1000)
    assert torch.equal(inputs[~chosen], ids[~chosen])
    again = mask_tokens(ids, special, 4, 1000, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)


def test_language_adapter_is_an_invertible_bottleneck_trained_with_mlm(world):
    from toolkit.families.base import adapter_model
    from toolkit.io import load_safetensors

    run = world["runs"]["lang_et"]
    card = run.card
    assert card["kind"] == "language" and card["language"] == "et" and card["recipe"] == "none"
    assert card["data"]["text"]["lines"] == 300 and card["data"]["text"]["heldout_sentences"] == 30
    assert card["steps"] == 3 and card["dev_scores"]["mlm"]["masked_tokens"] > 0
    config = json.loads((run.path / "adapter_config.json").read_text())["config"]
    assert config["inv_adapter"] == "nice" and config["reduction_factor"] == 2
    weights = load_safetensors(run.path / "adapter.safetensors")
    assert any(k.startswith("bert.invertible_adapters.lang_et.") for k in weights)
    assert {int(k.split(".layer.")[1].split(".")[0]) for k in weights if ".layer." in k} == {0, 1}
    assert sorted(p.name for p in run.path.iterdir()) == ["adapter.safetensors", "adapter_config.json", "train_log.jsonl", "xta_card.json"]
    world["enc"].assert_frozen()
    assert "xta_mlm" not in adapter_model(world["enc"]).heads
    again = train_language_adapter(LangAdapterConfig(lang="et", text=card["data"]["text"]["file"], max_steps=3,
                                                     batch_size=16, max_length=32, learning_rate=1e-3),
                                   world["enc"], world["art"])
    assert again.skipped  # same text, same config: nothing recomputed


def test_language_adapter_training_resumes_to_the_same_adapter(world, tmp_path):
    text = _text(world["data"], tmp_path, "id", n=120)
    cfg = LangAdapterConfig(lang="id", text=str(text), max_steps=4, batch_size=8, max_length=16, learning_rate=1e-2,
                            logging_steps=3)

    def stop_at_3(step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_language_adapter(cfg, world["enc"], tmp_path / "a", checkpoint_every=2, on_step=stop_at_3)
    resumed = train_language_adapter(cfg, world["enc"], tmp_path / "a", checkpoint_every=2)
    straight = train_language_adapter(cfg, world["enc"], tmp_path / "b", checkpoint_every=2)
    assert resumed.resumed_from == 2 and straight.resumed_from is None
    a, b = (r.path / "adapter.safetensors" for r in (resumed, straight))
    assert a.read_bytes() == b.read_bytes()
    assert resumed.card["config_hash"] == straight.card["config_hash"]
    # the training log (logging_steps 3: the window of steps 1..3 spans the checkpoint at 2 and the interruption)
    from toolkit.tracking import read_train_log

    def timeless(path):
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "examples_per_s")} for r in read_train_log(path)]

    assert [(r["step"], "loss" in r) for r in read_train_log(straight.path)] == [(3, True), (4, True), (4, False)]
    assert timeless(resumed.path) == timeless(straight.path)
    assert resumed.card["loss_history"] == straight.card["loss_history"]


def test_madx_keeps_the_checkpoints_pretrained_mlm_head_frozen(world, tmp_path):
    """Issue 23: with an encoder whose checkpoint has an MLM head (XLM-R), MAD-X's head is that head,
    frozen (Pfeiffer et al. 2020, sec. 3.2); only the language adapter learns. Checked against the
    checkpoint's own XLMRobertaForMaskedLM: the adapter-less MLM logits are identical."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from toolkit.encoders import embedded_tokenizer, load_encoder
    from toolkit.families.base import adapter_model
    from toolkit.lang_adapters import MLM_HEAD, _setup, mlm_forward, pretrained_mlm_head

    tok = embedded_tokenizer()
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=514, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    mlm = XLMRobertaForMaskedLM(config).eval()
    with torch.no_grad():  # a head that is not the default initialisation
        for p in mlm.lm_head.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    mlm.save_pretrained(tmp_path / "xlmr", safe_serialization=True)
    tok.save_pretrained(tmp_path / "xlmr")
    enc = load_encoder(tmp_path / "xlmr")
    head, where = pretrained_mlm_head(enc)
    assert "model.safetensors" in where and set(head) == {"0.weight", "0.bias", "2.weight", "2.bias", "3.bias"}
    assert pretrained_mlm_head(world["enc"]) is None  # the tiny/embedded encoders are bare BertModels

    cfg = LangAdapterConfig(lang="et", text=str(_text(world["data"], tmp_path, "et", n=60)), max_steps=2, batch_size=8,
                            max_length=16, learning_rate=1e-2)
    model = adapter_model(enc)
    _setup(model, cfg, head)
    assert not any(p.requires_grad for p in model.heads[MLM_HEAD].parameters())  # the head is frozen
    ids = torch.tensor([[0, 1000, 2000, 3000, 2]])
    labels = torch.full_like(ids, -100)
    labels[0, 1:4] = ids[0, 1:4]
    model.set_active_adapters(None)  # the head alone: must be the checkpoint's lm_head
    model.eval()  # _setup left it in training mode (dropout)
    with torch.inference_mode():
        ours, _ = mlm_forward(model, ids, torch.ones_like(ids), labels)
        official = mlm(input_ids=ids, labels=labels).loss
    assert float(ours) == pytest.approx(float(official), rel=1e-5)
    model.delete_head(MLM_HEAD)
    model.delete_adapter(cfg.name)

    run = train_language_adapter(cfg, enc, tmp_path / "art")
    assert "pre-trained MLM head from model.safetensors" in run.card["mlm_head"] and "frozen" in run.card["mlm_head"]
    assert run.card["budget"]["steps"] == 2
    assert "no MLM head" in world["runs"]["lang_et"].card["mlm_head"]


def test_read_sentences_skips_blank_lines_and_refuses_bad_text(tmp_path):
    good = tmp_path / "s.txt"
    good.write_text("eins\n\n  zwei  \n\ndrei\n", encoding="utf-8")
    assert read_sentences(good) == ["eins", "zwei", "drei"] and read_sentences(good, 2) == ["eins", "zwei"]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok\nfa\xe7ade\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_sentences(bad)
    with pytest.raises(DataError, match="not found"):
        read_sentences(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="mlm_probability"):
        LangAdapterConfig(lang="et", text=str(good), mlm_probability=1.5)


def test_stacked_setup_swaps_the_language_adapter_per_language(world):
    from adapters.composition import Stack

    from toolkit.io import load_safetensors

    card = world["runs"]["copa_madx"].card
    assert card["recipe"] == "stack" and card["intermediate"] == ["lang_en"]
    model = load_trained_adapter(world["enc"], "copa_madx", world["art"])
    params = dict(model.named_parameters())
    for key, value in load_safetensors(world["runs"]["lang_en"].path / "adapter.safetensors").items():
        assert torch.equal(params[key], value)  # lang_en stayed frozen below the task adapter
    task, record = _eval(world, "stack:lang_{lang},copa_madx")
    assert task.computed == ["et", "id"] and not task.failed
    assert set(record.languages["et"].adapters) == {"lang_et", "copa_madx"}
    assert set(record.languages["id"].adapters) == {"lang_id", "copa_madx"}
    # issue 23: the record says the language adapters are xta-trained, with their budget, and reports say so
    assert record.languages["et"].evaluation["language_adapters"] == {
        "lang_et": {"trained_by": "xta", "steps": 3, "batch_size": 16}}
    from toolkit.report import StoreScores, summarize

    gathered = StoreScores({"xcopa": {l: e.main for l, e in record.languages.items()}}, {}, {"xcopa": record},
                           {"xcopa": record.setup["id"]})
    deviations = summarize("xtreme-r", gathered.scores, gathered=gathered, encoder="tiny").tasks["xcopa"].deviations
    assert ("language adapters trained by xta: lang_et (3 steps at batch 16), lang_id (3 steps at batch 16); "
            "MAD-X: 250k steps at batch 64") in deviations
    batch = _xcopa_batch(world, "et")
    logits = {}
    for lang in ("et", "id"):
        model, head = activate_setup(world["enc"], f"stack:lang_{lang},copa_madx", world["art"])
        assert model.active_adapters == Stack(f"lang_{lang}", "copa_madx") and head == "copa_madx"
        assert model.base_model.get_invertible_adapter() is model.base_model.invertible_adapters[f"lang_{lang}"]
        logits[lang] = _logits(model, batch, head)
    assert not torch.allclose(logits["et"], logits["id"])  # the language adapter is in the computation


def test_language_adapter_stacks_under_a_plain_task_adapter(world):
    task, _ = _eval(world, "stack:lang_{lang},copa", results="results_plain")
    assert task.computed == ["et", "id"]
    task, _ = _eval(world, "stack:lang_{lang},copa", langs=("th",), results="results_plain")
    assert "th" in task.failed and "xta train-lang-adapter --lang th" in task.failed["th"]


def test_registering_a_local_adapterhub_language_adapter(world, tmp_path):
    from toolkit.encoders import tiny_encoder

    src = world["runs"]["lang_et"].path
    path = register_language_adapter(src, "xy", world["enc"], world["art"])
    assert path.name == "lang_xy" and json.loads((path / "xta_card.json").read_text())["origin"]["saved_name"] == "lang_et"
    batch = _xcopa_batch(world, "et")
    outs = []
    for lang in ("lang_et", "lang_xy"):
        model, head = activate_setup(world["enc"], f"stack:{lang},copa", world["art"])
        outs.append(_logits(model, batch, head))
    assert torch.equal(outs[0], outs[1])  # same weights under the new name
    with pytest.raises(SetupError, match="already exists"):
        register_language_adapter(src, "xy", world["enc"], world["art"])
    with pytest.raises(SetupError, match="neither an adapter directory"):
        register_language_adapter(tmp_path / "nothing", "xz", world["enc"], world["art"])
    with pytest.raises(EncoderError, match="hidden size"):
        register_language_adapter(src, "xz", tiny_encoder(seed=0, hidden_size=64, intermediate_size=64), world["art"])


# ---------------------------------------------------------------------------------------- setup grammar


@pytest.mark.parametrize("text, expected", [
    ("copa", "Stack[copa]"),
    ("stack:lang_et,copa", "Stack[lang_et, copa]"),
    ("fuse:copa,siqa>fuse_xcopa", "Fuse[copa, siqa]@fuse_xcopa"),
    ("stack(lang_et,fuse(copa,siqa)>fuse_xcopa)", "Stack[lang_et, Fuse[copa, siqa]@fuse_xcopa]"),
    ("fuse(stack(lang_et,copa),stack(lang_et,siqa))>fuse_xcopa", "Fuse[Stack[lang_et, copa], Stack[lang_et, siqa]]@fuse_xcopa"),
    ("fuse_xcopa", "Fuse[copa, siqa]@fuse_xcopa"),  # a trained fusion's name: the composition it was trained in
    ("copa_madx", "Stack[lang_en, copa_madx]"),  # a stacked adapter's name: above its English language adapter
])
def test_every_setup_form_becomes_its_adapters_block_and_runs(world, text, expected):
    from adapters.composition import Fuse

    from toolkit.setups import parse_setup

    assert str(parse_setup(text)) == text
    model, head = activate_setup(world["enc"], text, world["art"])

    def show(block):
        if isinstance(block, str):
            return block
        inner = f"{type(block).__name__}[{', '.join(show(c) for c in block.children)}]"
        return inner + (f"@{block.name}" if isinstance(block, Fuse) else "")

    assert show(model.active_adapters) == expected
    logits = _logits(model, _xcopa_batch(world, "id", n=4), head)
    assert logits.shape == (4, 2) and torch.isfinite(logits).all()


@pytest.mark.parametrize("text, message", [
    ("fuse:copa,siqa", r"names no trained fusion; add >NAME"),
    ("fuse:copa,lang_en>fuse_xcopa", r"was trained over copa,siqa, not copa,lang_en; write fuse:copa,siqa>fuse_xcopa"),
    ("fuse:copa,siqa>copa", r"'copa' is an adapter \(recipe 'none'\), not a trained fusion"),
    ("fuse:copa,siqa>nofusion", r"no trained fusion 'nofusion'.*xta fuse --tasks copa,siqa"),
    ("stack:lang_et,fuse_xcopa", r"'fuse_xcopa' is a trained fusion, not an adapter; write it as fuse\(copa,siqa\)>fuse_xcopa"),
    ("stack:lang_{lang},copa", r"still contains \{lang\}"),
])
def test_setups_that_do_not_match_the_artifacts_are_refused(world, text, message):
    with pytest.raises(SetupError, match=message):
        setup_artifacts(text, world["art"])


@pytest.mark.parametrize("text, message", [
    ("fuse(copa,fuse(siqa,lang_en)>b)>a", "a fuse cannot contain a fuse"),
    ("stack(lang_et,stack(copa,siqa))", "a stack cannot contain a stack"),
    ("stack:lang_et,copa>x", "'>' names the target task of a fuse"),
    ("stack(lang_et,fuse(stack(copa,fuse(siqa,x)>y),z)>w)", "cannot be nested"),
])
def test_invalid_nestings_are_refused_before_any_model_loads(text, message):
    with pytest.raises(ConfigError, match=message):
        EvalConfig(setup=text, tasks=("xcopa",))


def test_an_evaluation_with_a_mismatched_fusion_records_why(world):
    task, record = _eval(world, "fuse:copa,lang_en>fuse_xcopa", langs=("et",), results="results_bad")
    assert task.failed and "trained over copa,siqa" in (task.error or task.failed["et"])


# ---------------------------------------------------------------------------------------- CLI


def test_cli_commands_train_and_export(world, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    from toolkit.encoders import tiny_encoder

    enc_dir = tmp_path / "enc"  # the same weights as world["enc"] (seed 3), saved without any adapter
    fresh = tiny_encoder(seed=3)
    fresh.model.save_pretrained(enc_dir, safe_serialization=True)
    fresh.tokenizer.save_pretrained(enc_dir)
    text = _text(world["data"], tmp_path, "et", n=60)
    runner = CliRunner()
    out = runner.invoke(app, ["train-lang-adapter", "--lang", "et", "--text", str(text), "--model", str(enc_dir),
                              "--max-steps", "1", "--batch-size", "8", "--max-length", "16",
                              "--artifacts-dir", str(tmp_path / "art")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "art" / "adapters" / "lang_et" / "adapter.safetensors").is_file()
    out = runner.invoke(app, ["fusion-attention", "--setup", "fuse:copa,siqa>fuse_xcopa", "--task", "xcopa",
                              "--langs", "et", "--model", str(enc_dir), "--max-examples", "4", "--split", "test",
                              "--data-dir", str(world["data"]), "--artifacts-dir", str(world["art"]),
                              "--out", str(tmp_path / "attn.json")])
    assert out.exit_code == 0, out.output
    attn = json.loads((tmp_path / "attn.json").read_text())
    assert sum(attn["et"]["0"].values()) == pytest.approx(1.0)
    common = ["--model", str(enc_dir), "--max-steps", "1", "--max-train-examples", "16", "--batch-size", "8",
              "--max-length", "32", "--data-dir", str(world["data"]), "--artifacts-dir", str(world["art"])]
    # XCOPA's card trains on SIQA's train split (Hub only) then COPA: offline, the fusion is refused before
    # any model work, naming the English data it needs and --train-task; --train-task copa trains it here
    out = runner.invoke(app, ["fuse", "--tasks", "copa,siqa", "--target", "xcopa", "--name", "fuse_cli", *common])
    assert out.exit_code == 1 and "siqa train" in out.output and "--train-task" in out.output, out.output
    out = runner.invoke(app, ["fuse", "--tasks", "copa,siqa", "--target", "xcopa", "--train-task", "copa",
                              "--name", "fuse_cli", *common])
    assert out.exit_code == 0, out.output
    assert 'xta eval --setup "fuse:copa,siqa>fuse_cli"' in out.output
    assert json.loads((world["art"] / "adapters" / "fuse_cli" / "xta_card.json").read_text())["task"] == "copa"
    out = runner.invoke(app, ["stack", "--lang-adapter", "lang_en", "--task", "xcopa", "--train-task", "copa",
                              "--name", "copa_cli", *common])
    assert out.exit_code == 0, out.output
    card = json.loads((world["art"] / "adapters" / "copa_cli" / "xta_card.json").read_text())
    assert card["intermediate"] == ["lang_en"] and card["task"] == "copa"
    for setup in ("fuse:copa,siqa>fuse_cli", "stack:lang_{lang},copa_cli"):
        out = runner.invoke(app, ["eval", "--setup", setup, "--tasks", "xcopa", "--langs", "et", "--split", "test",
                                  "--max-eval-examples", "8", "--model", str(enc_dir), "--data-dir", str(world["data"]),
                                  "--artifacts-dir", str(world["art"]), "--results-dir", str(tmp_path / "res"),
                                  "--force"])  # copa/siqa carry the in-memory encoder's fingerprint, not enc_dir's
        assert out.exit_code == 0 and "computed 1 task-languages" in out.output, out.output
    out = runner.invoke(app, ["eval", "--setup", "fuse:copa,siqa", "--tasks", "xcopa", "--langs", "et", "--split", "test",
                              "--model", str(enc_dir), "--data-dir", str(world["data"]), "--artifacts-dir", str(world["art"]),
                              "--results-dir", str(tmp_path / "res")])
    assert out.exit_code == 1 and "names no trained fusion" in out.output
    help_text = runner.invoke(app, ["register-lang-adapter", "--help"]).output
    assert "--lang" in help_text and "--source" in help_text


# ---------------------------------------------------------------------------------------- slow: the embedded encoder


@pytest.mark.slow
def test_fusion_and_madx_on_the_embedded_encoder(shared_data, tmp_path):
    from toolkit.encoders import load_encoder

    enc = load_encoder("embedded")
    art = tmp_path / "art"
    base = dict(max_train_examples=16, max_steps=2, batch_size=4, max_length=32, learning_rate=1e-3, data_dir=str(shared_data))
    kw = dict(progress=False, max_dev_examples=8)
    try:
        train_adapter(TrainConfig(task="copa", **base), enc, art, **kw)
        train_adapter(TrainConfig(task="siqa", train_split="dev[:80%]", dev_split="dev[80%:]", **base), enc, art, **kw)
        train_adapter(TrainConfig(task="copa", recipe="fuse", intermediate=("copa", "siqa"), adapter_name="fuse_xcopa", **base),
                      enc, art, **kw)
        for lang in ("en", "et"):
            cfg = LangAdapterConfig(lang=lang, text=str(_text(shared_data, tmp_path, lang, n=100)), max_steps=2, batch_size=8,
                                    max_length=24)
            mlm = train_language_adapter(cfg, enc, art)
            assert mlm.card["dev_scores"]["mlm"]["mlm_loss"] > 0
        train_adapter(TrainConfig(task="copa", recipe="stack", intermediate=("lang_en",), adapter_name="copa_madx", **base),
                      enc, art, **kw)
        for setup in ("fuse:copa,siqa>fuse_xcopa", "stack:lang_{lang},copa_madx"):
            cfg = EvalConfig(setup=setup, tasks=("xcopa",), langs=("et",), split="test", data_dir=str(shared_data),
                             results_dir=str(tmp_path / "res"), artifacts_dir=str(art), max_eval_examples=10, max_length=48)
            (task,) = evaluate(cfg, encoder=enc).tasks
            assert task.computed == ["et"], task.failed
        attn = fusion_attention(enc, "fuse:copa,siqa>fuse_xcopa", ["Mees kukkus.", "Ta naeris kõvasti."], artifacts_dir=art)
        assert sorted(attn) == list(range(enc.num_layers))
        assert all(sum(w.values()) == pytest.approx(1.0, abs=1e-6) for w in attn.values())
        enc.assert_frozen()
    finally:
        reset_adapters(enc)


def test_a_missing_english_training_set_says_which_data_and_what_to_pass():
    from toolkit.preflight import training_hint, training_sources
    from toolkit.tasks import get_task

    xcopa = get_task("xcopa")
    sources = training_sources(xcopa, "train")
    assert [s.name for s in sources] == ["siqa", "copa"]  # XTREME-R: SIQA, then COPA
    train = training_hint(xcopa, sources, "train", "train")
    assert "siqa train then copa train" in train and "--train-task copa" in train and "train-adapter --task copa" in train
    evaluate = training_hint(xcopa, sources, "train", "eval")
    assert "--train-from xcopa=SOURCE" in evaluate and "xcopa=copa" in evaluate and "--setup none" in evaluate

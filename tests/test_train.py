"""train_adapter: frozen base, save/load exactness, AdapterHub compatibility, recipes, multi-task, resume.

Tests use a tiny random encoder (real XLM-R tokenizer); tests/test_learning.py trains every task shape on the
embedded multilingual-e5-small and checks held-back English scores beat chance clearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toolkit.config import TrainConfig
from toolkit.errors import ConfigError
from toolkit.families.base import adapter_model
from toolkit.tracking import read_train_log
from toolkit.train import (
    CARD_NAME,
    load_trained_adapter,
    plan_multitask,
    plan_single,
    sampling_probabilities,
    train_adapter,
    trainable_state,
)

REPO = Path(__file__).resolve().parents[1]

NLI_CARD = """\
name: nli_xnli_dev
shape: pair_classification
description: XNLI English dev as a small NLI training set, ANLI R1 dev for selection (tests only).
labels: [entailment, neutral, contradiction]
metrics: [accuracy]
main_metric: accuracy
splits:
  train:
    local: [{pattern: "xnli/dev-en.tsv", format: xtreme_tsv_pair}]
  dev:
    local: [{pattern: "anli/ANLI_analysis_r1_dev.csv", format: anli_csv}]
"""


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """An extra card directory (XTA_ZOO) with a test-only NLI task trained on XNLI's English dev set."""
    from toolkit.tasks import clear_registry

    directory = tmp_path_factory.mktemp("zoo")
    (directory / "nli_xnli_dev.yaml").write_text(NLI_CARD, encoding="utf-8")
    old = os.environ.get("XTA_ZOO")
    os.environ["XTA_ZOO"] = str(directory)
    clear_registry()
    yield directory
    if old is None:
        os.environ.pop("XTA_ZOO", None)
    else:
        os.environ["XTA_ZOO"] = old
    clear_registry()


def _cfg(shared_data, **kw) -> TrainConfig:
    base = dict(task="panx", max_train_examples=48, max_steps=4, batch_size=8, max_length=48,
                learning_rate=1e-3, data_dir=str(shared_data))
    return TrainConfig(**{**base, **kw})


def _adapter_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.safetensors"))}


# ---------------------------------------------------------------------------------------- planning


def test_sampling_probabilities_hand_computed():
    assert sampling_probabilities([100, 400], "proportional", 2.0) == pytest.approx([0.2, 0.8])
    assert sampling_probabilities([100, 400], "uniform", 2.0) == pytest.approx([0.5, 0.5])
    assert sampling_probabilities([100, 400], "temperature", 2.0) == pytest.approx([1 / 3, 2 / 3])  # sqrt: 10, 20


def test_plans_are_seeded_and_cover_epochs():
    from types import SimpleNamespace

    from toolkit.families.base import Features

    def task(n):
        return SimpleNamespace(train=Features([{}] * n, [], "x"))

    cfg = TrainConfig(task="panx", batch_size=4, epochs=2)
    plan = plan_single([task(10)], cfg)
    assert len(plan) == 6  # ceil(10 / 4) = 3 batches per epoch, 2 epochs
    first_epoch = sorted(i for step in plan[:3] for _, b in step for i in b)
    assert first_epoch == list(range(10))
    assert plan == plan_single([task(10)], cfg)
    assert plan != plan_single([task(10)], TrainConfig(task="panx", batch_size=4, epochs=2, seed=1))
    accum = plan_single([task(10)], TrainConfig(task="panx", batch_size=4, epochs=2, gradient_accumulation_steps=2))
    assert [len(step) for step in accum] == [2, 2, 2]  # 6 micro-batches, 3 optimizer steps
    assert [b for step in accum for _, b in step] == [b for step in plan for _, b in step]  # same data order
    from toolkit.train import build_optimizer

    opt, sched = build_optimizer(torch.nn.Linear(2, 2), TrainConfig(task="panx", learning_rate=1.0, warmup_ratio=0.34), len(accum))
    lrs = []
    for _ in accum:  # the schedule counts optimizer steps: warm-up 1 step, linear decay to 0 at the last
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [0.0, 1.0, 0.5] and opt.param_groups[0]["lr"] == 0.0
    mt = plan_multitask([task(40), task(10)], TrainConfig(task="panx", extra_tasks=("udpos",), batch_size=5, max_steps=200))
    share = sum(step[0][0] == 0 for step in mt) / len(mt)
    assert 0.7 < share < 0.9  # proportional: 40 / 50


# ---------------------------------------------------------------------------------------- frozen base


def test_a_training_step_changes_only_adapter_and_head(tiny, shared_data):
    from toolkit.data import load
    from toolkit.families import tagging
    from toolkit.tasks import get_task

    spec = get_task("panx")
    model = adapter_model(tiny)
    base_before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    model.add_adapter("step", config="seq_bn")
    tagging.add_head(model, "step", spec)
    model.train_adapter("step")
    try:
        tiny.assert_frozen()
        before = trainable_state(model)
        assert any(".adapters.step." in n for n in before) and any(n.startswith("heads.step.") for n in before)
        feats = tagging.featurize(load("panx", "train", "en", data_dir=shared_data, max_examples=8), tiny.tokenizer, spec, 48, train=True)
        batch = tagging.collate(feats.items, tiny.tokenizer.pad_token_id)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        tagging.loss(model, batch, "step").backward()
        opt.step()
        after = trainable_state(model)
        changed = [n for n in before if not torch.equal(before[n], after[n])]
        assert len(changed) == len(before)  # every adapter and head tensor moved
        for name, value in tiny.model.state_dict().items():
            if name in base_before:
                assert torch.equal(value, base_before[name]), name  # bitwise unchanged
    finally:
        model.delete_head("step")
        model.delete_adapter("step")
        model.set_active_adapters(None)


# ---------------------------------------------------------------------------------------- save / load

_RELOAD = """
import json, sys, torch
from toolkit.encoders import tiny_encoder
from toolkit.train import load_trained_adapter
from toolkit.families.base import head_logits
enc = tiny_encoder(seed=0)
base_weights = {k: v.clone() for k, v in enc.model.state_dict().items()}
model = load_trained_adapter(enc, sys.argv[1], sys.argv[2])
batch = {k: torch.tensor(v) for k, v in json.loads(open(sys.argv[3]).read()).items()}
with torch.inference_mode():
    out = head_logits(model, batch, sys.argv[1]).logits
# plain AdapterHub: a BertAdapterModel with the same base weights and model.load_adapter(path)
from adapters import AutoAdapterModel
plain = AutoAdapterModel.from_config(enc.model.config)
missing, unexpected = plain.bert.load_state_dict(base_weights, strict=False)
assert not unexpected and all(k.startswith("pooler") for k in missing), (missing, unexpected)
name = plain.load_adapter(sys.argv[2] + "/adapters/" + sys.argv[1], use_safetensors=True, set_active=True)
plain.eval()
with torch.inference_mode():
    out2 = plain(**batch).logits
print(json.dumps({"xta": out.tolist(), "plain": out2.tolist(), "name": name}))
"""


def test_save_then_load_in_a_fresh_process_reproduces_logits(tiny, shared_data, tmp_path):
    from toolkit.data import load
    from toolkit.families import tagging
    from toolkit.families.base import head_logits
    from toolkit.tasks import get_task

    cfg = _cfg(shared_data, max_steps=3)
    result = train_adapter(cfg, tiny, tmp_path, progress=False)
    files = sorted(p.name for p in result.path.iterdir())
    assert files == ["adapter.safetensors", "adapter_config.json", "head_config.json", "model_head.safetensors", "train_log.jsonl", CARD_NAME]
    assert not list(result.path.rglob("*.bin"))  # no pickle
    card = json.loads((result.path / CARD_NAME).read_text())
    assert card["encoder"]["fingerprint"] == tiny.fingerprint and card["seed"] == 42 and card["task"] == "panx"
    assert card["data"]["panx<-panx"]["train"]["source"] == "local"
    examples = load("panx", "dev", "en", data_dir=shared_data, max_examples=6)
    feats = tagging.featurize(examples, tiny.tokenizer, get_task("panx"), 48)
    batch = tagging.collate(feats.items, tiny.tokenizer.pad_token_id)
    inputs = {"input_ids": batch["input_ids"].tolist(), "attention_mask": batch["attention_mask"].tolist()}
    (tmp_path / "batch.json").write_text(json.dumps(inputs))
    model = load_trained_adapter(tiny, "panx", tmp_path)
    try:
        with torch.inference_mode():
            here = head_logits(model, {k: batch[k] for k in ("input_ids", "attention_mask")}, "panx").logits
    finally:
        model.delete_head("panx")
        model.delete_adapter("panx")
        model.set_active_adapters(None)
    script = tmp_path / "reload.py"
    script.write_text(_RELOAD)
    proc = subprocess.run([sys.executable, str(script), "panx", str(tmp_path), str(tmp_path / "batch.json")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert torch.equal(torch.tensor(out["xta"]), here)  # exactly the same logits in a fresh process
    assert out["name"] == "panx"
    assert torch.allclose(torch.tensor(out["plain"]), here, atol=1e-6, rtol=0)  # plain adapters agrees


def test_checkpoints_hold_only_this_trainings_tensors_and_a_mismatched_one_is_ignored(tiny, shared_data, tmp_path,
                                                                                       caplog):
    """An encoder shared by several tasks (xta eval) carries other tasks' heads: they must not train or
    enter the checkpoint (a resume in a fresh process, without them, failed on such a checkpoint)."""
    from toolkit.families import get_family
    from toolkit.io import load_safetensors
    from toolkit.tasks import get_task
    from toolkit.train import checkpoint_dir

    model = adapter_model(tiny)
    get_family(get_task("udpos")).add_head(model, "left_by_another_task", get_task("udpos"))
    cfg = _cfg(shared_data, adapter_name="shared", max_steps=4)

    def crash(step):
        if step == 2:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            train_adapter(cfg, tiny, tmp_path, progress=False, checkpoint_every=2, on_step=crash)
        assert all(p.requires_grad is False for p in model.heads["left_by_another_task"].parameters())
    finally:
        model.delete_head("left_by_another_task")
    saved = load_safetensors(checkpoint_dir("shared", tmp_path) / "trainable-2.safetensors")
    assert saved and not any("left_by_another_task" in n for n in saved)
    assert any(n.startswith("heads.shared.") for n in saved) and any(".adapters.shared." in n for n in saved)
    resumed = train_adapter(cfg, tiny, tmp_path, progress=False, checkpoint_every=2)
    assert resumed.resumed_from == 2

    # a checkpoint written with a foreign tensor (as the version before this fix did) restarts cleanly
    cfg2 = _cfg(shared_data, adapter_name="shared2", max_steps=4)
    with pytest.raises(KeyboardInterrupt):
        train_adapter(cfg2, tiny, tmp_path, progress=False, checkpoint_every=2, on_step=crash)
    path = checkpoint_dir("shared2", tmp_path) / "trainable-2.safetensors"
    from safetensors.torch import save_file
    save_file({**load_safetensors(path), "heads.gone.1.bias": torch.zeros(3)}, str(path))
    with caplog.at_level("WARNING", logger="toolkit.train"):
        again = train_adapter(cfg2, tiny, tmp_path, progress=False, checkpoint_every=2)
    assert again.resumed_from is None and again.steps == 4
    assert "do not match this training's (heads.gone.1.bias)" in caplog.text
    fresh = train_adapter(cfg2, tiny, tmp_path / "fresh", progress=False)
    assert _adapter_files(again.path) == _adapter_files(fresh.path)  # started over: the same adapter


def test_an_unlabelled_dev_split_is_not_used_for_model_selection(tiny, shared_data, tmp_path, caplog):
    """TyDiQA's local dev files (xta's tydiqa test split) have every answer empty: selecting on them would
    keep the first checkpoint evaluated."""
    cfg = TrainConfig(task="tydiqa", max_train_examples=8, max_steps=2, batch_size=4, max_length=64,
                      data_dir=str(shared_data), adapter_name="tydiqa_nodev", dev_split="test")
    with caplog.at_level("WARNING", logger="toolkit.train"):
        result = train_adapter(cfg, tiny, tmp_path, progress=False, max_dev_examples=8)
    assert "has no gold labels" in caplog.text and "no model selection" in caplog.text
    assert result.dev_scores == {}
    sliced = TrainConfig(task="tydiqa", max_train_examples=8, max_steps=2, batch_size=4, max_length=64,
                         data_dir=str(shared_data), adapter_name="tydiqa_dev", train_split="train[:90%]",
                         dev_split="train[90%:]")
    assert train_adapter(sliced, tiny, tmp_path, progress=False, max_dev_examples=8).dev_scores["tydiqa"]


def test_finished_run_is_not_redone_unless_forced(tiny, shared_data, tmp_path):
    cfg = _cfg(shared_data, max_steps=2)
    first = train_adapter(cfg, tiny, tmp_path, progress=False)
    again = train_adapter(cfg, tiny, tmp_path, progress=False)
    assert again.skipped and not first.skipped and again.card == first.card
    forced = train_adapter(cfg, tiny, tmp_path, progress=False, force=True)
    assert not forced.skipped
    assert _adapter_files(forced.path) == _adapter_files(first.path)  # deterministic on CPU


# ---------------------------------------------------------------------------------------- recipes / multi-task


def test_sequential_and_stack_recipes(tiny, shared_data, tmp_path):
    from adapters.composition import Stack

    from toolkit.io import load_safetensors

    inter = train_adapter(_cfg(shared_data, adapter_name="inter", max_steps=2), tiny, tmp_path, progress=False)
    inter_w = load_safetensors(inter.path / "adapter.safetensors")
    seq = train_adapter(_cfg(shared_data, adapter_name="seq", recipe="sequential", init_from="inter", max_steps=1,
                             learning_rate=1e-12), tiny, tmp_path, progress=False)
    seq_w = load_safetensors(seq.path / "adapter.safetensors")
    assert len(seq_w) == len(inter_w)
    for (k1, v1), (k2, v2) in zip(sorted(inter_w.items()), sorted(seq_w.items())):
        assert k1.replace(".inter.", ".seq.") == k2 and torch.allclose(v1, v2, atol=1e-9)  # started from inter
    stack = train_adapter(_cfg(shared_data, adapter_name="stk", recipe="stack", intermediate=("inter",), max_steps=2),
                          tiny, tmp_path, progress=False)
    assert stack.card["recipe"] == "stack" and stack.card["intermediate"] == ["inter"]
    model = load_trained_adapter(tiny, "stk", tmp_path)
    try:
        assert model.active_adapters == Stack("inter", "stk")
        loaded = {n: p for n, p in model.named_parameters() if ".adapters.inter." in n}
        for key, value in inter_w.items():  # the intermediate adapter stayed frozen
            assert torch.equal(loaded[key], value)
    finally:
        model.delete_head("stk")
        for name in ("stk", "inter"):
            model.delete_adapter(name)
        model.set_active_adapters(None)


def test_multitask_three_shapes_records_per_task_dev_scores(tiny, shared_data, tmp_path, zoo):
    cfg = _cfg(shared_data, task="panx", extra_tasks=("copa", "nli_xnli_dev"), adapter_name="mt", max_steps=6,
               eval_every=3, sampling="temperature")
    result = train_adapter(cfg, tiny, tmp_path, progress=False, max_dev_examples=30)
    assert set(result.dev_scores) == {"panx", "copa", "nli_xnli_dev"}
    assert "seqeval_f1" in result.dev_scores["panx"] and "accuracy" in result.dev_scores["copa"]
    assert [h["step"] for h in result.card["dev_history"]] == [3, 6]
    assert {t: v["head"] for t, v in result.card["tasks"].items()} == {"panx": "mt", "copa": "copa", "nli_xnli_dev": "nli_xnli_dev"}
    assert sorted(p.name for p in (result.path / "heads").iterdir()) == ["copa", "nli_xnli_dev"]
    model = load_trained_adapter(tiny, "mt", tmp_path)
    try:
        assert {"mt", "copa", "nli_xnli_dev"} <= set(model.heads)
    finally:
        for head in ("mt", "copa", "nli_xnli_dev"):
            model.delete_head(head)
        model.delete_adapter("mt")
        model.set_active_adapters(None)


# ---------------------------------------------------------------------------------------- resume

_KILLABLE = """
import os, signal, sys
from toolkit.config import TrainConfig
from toolkit.encoders import tiny_encoder
from toolkit.train import train_adapter
kill_at = int(sys.argv[2])
def on_step(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
cfg = TrainConfig(task="panx", max_train_examples=48, max_steps=8, batch_size=8, max_length=48,
                  learning_rate=1e-3, data_dir=sys.argv[3], eval_every=3, logging_steps=5)
r = train_adapter(cfg, tiny_encoder(seed=0), sys.argv[1], progress=False, checkpoint_every=2, max_dev_examples=20,
                  on_step=on_step)
print("RESUMED", r.resumed_from, r.steps)
"""


def test_sigkill_then_rerun_resumes_to_the_same_adapter(tiny, shared_data, tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE)
    killed_dir = tmp_path / "killed"

    def run(kill_at: int):
        return subprocess.run([sys.executable, str(script), str(killed_dir), str(kill_at), str(shared_data)],
                              capture_output=True, text=True, cwd=REPO, timeout=180)

    first = run(5)
    assert first.returncode == -9, first.stderr[-2000:]  # SIGKILL after step 5 (checkpoint at step 4)
    assert (killed_dir / "checkpoints" / "panx" / "state.json").is_file()
    live = read_train_log(killed_dir / "checkpoints" / "panx")  # the log of the killed run, up to step 5
    assert [(r["step"], "dev" in r) for r in live] == [(3, True), (5, False)]
    assert not (killed_dir / "adapters" / "panx").exists()
    second = run(0)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "RESUMED 4 8" in second.stdout
    assert not (killed_dir / "checkpoints" / "panx").exists()
    cfg = TrainConfig(task="panx", max_train_examples=48, max_steps=8, batch_size=8, max_length=48,
                      learning_rate=1e-3, data_dir=str(shared_data), eval_every=3, logging_steps=5)
    whole = train_adapter(cfg, tiny, tmp_path / "whole", progress=False, checkpoint_every=2, max_dev_examples=20)
    resumed = json.loads((killed_dir / "adapters" / "panx" / CARD_NAME).read_text())
    assert _adapter_files(killed_dir / "adapters" / "panx") == _adapter_files(whole.path)  # bitwise
    assert resumed["dev_history"] == whole.card["dev_history"] and resumed["best_step"] == whole.best_step

    # the training log: the resumed run dropped the killed run's line at step 5 (after the checkpoint at 4) and
    # wrote it again from the checkpointed window (steps 5 = mean of 1..5), so it matches the uninterrupted run's
    def timeless(log):
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "examples_per_s")} for r in log]

    log_whole = read_train_log(whole.path)
    log_resumed = read_train_log(killed_dir / "adapters" / "panx")
    assert [(r["step"], sorted(r)) for r in log_whole] == [
        (3, ["dev", "epoch", "step"]), (5, ["elapsed_s", "epoch", "examples_per_s", "learning_rate", "loss", "step"]),
        (6, ["dev", "epoch", "step"]), (8, ["elapsed_s", "epoch", "examples_per_s", "learning_rate", "loss", "step"]),
        (8, ["dev", "epoch", "step"])]
    assert timeless(log_resumed) == timeless(log_whole)
    assert [r["dev"] for r in log_whole if "dev" in r] == [h["dev"] for h in whole.card["dev_history"]]
    # epochs grow with the steps (batches of 8 features); the rate step 5 used: linear decay after 4 of 8 steps
    assert 0 < log_whole[1]["epoch"] and log_whole[3]["epoch"] == pytest.approx(log_whole[1]["epoch"] * 8 / 5, abs=1e-3)
    assert log_whole[1]["learning_rate"] == pytest.approx(1e-3 * 4 / 8)
    assert all(r["loss"] > 0 and r["examples_per_s"] > 0 for r in log_whole if "loss" in r)
    assert log_whole[3]["elapsed_s"] >= log_whole[1]["elapsed_s"] > 0


def test_leave_out_drops_the_lower_layers_adapters(tiny, shared_data, tmp_path):
    """AdapterDrop (``--leave-out``): no adapter weights in the left-out layers; indices must exist."""
    from safetensors import safe_open

    result = train_adapter(_cfg(shared_data, max_steps=2, leave_out="0"), tiny, tmp_path, progress=False,
                           max_dev_examples=8)
    with safe_open(str(result.path / "adapter.safetensors"), "pt") as f:
        layers = {k.split("layer.")[1].split(".")[0] for k in f.keys() if "layer." in k}
    assert layers == {"1"}  # tiny has layers 0 and 1
    assert result.card["hyperparameters"]["leave_out"] == "0"
    with pytest.raises(ConfigError, match="leave_out 0-5: the encoder has layers 0-1"):
        train_adapter(_cfg(shared_data, max_steps=2, leave_out="0-5", adapter_name="x"), tiny, tmp_path, progress=False)


# ---------------------------------------------------------------------------------------- slow: every shape learns


def test_loading_by_name_never_reuses_other_weights(tmp_path, shared_data):
    """The process-wide encoder keeps loaded adapters; a same-named adapter from another artifacts
    directory (or a retrained one) replaces them, and training a name that an evaluation loaded works."""
    import torch

    from toolkit import encoders
    from toolkit.config import TrainConfig
    from toolkit.train import load_trained_adapter, train_adapter

    enc = encoders.tiny_encoder(seed=4)
    base = dict(task="copa", max_steps=2, batch_size=4, max_length=32, max_train_examples=16,
                data_dir=str(shared_data))
    train_adapter(TrainConfig(**base, seed=1), encoder=enc, artifacts_dir=tmp_path / "a", progress=False)
    train_adapter(TrainConfig(**base, seed=2), encoder=enc, artifacts_dir=tmp_path / "b", progress=False)

    def weights(model):
        return torch.cat([p.detach().flatten() for n, p in model.named_parameters() if ".copa." in n])

    wa = weights(load_trained_adapter(enc, "copa", tmp_path / "a")).clone()
    wb = weights(load_trained_adapter(enc, "copa", tmp_path / "b")).clone()
    assert not torch.equal(wa, wb)
    assert torch.equal(weights(load_trained_adapter(enc, "copa", tmp_path / "a")), wa)
    # training the loaded name again in the same process (forced) works
    train_adapter(TrainConfig(**base, seed=3), encoder=enc, artifacts_dir=tmp_path / "a", progress=False, force=True)
    assert not torch.equal(weights(load_trained_adapter(enc, "copa", tmp_path / "a")), wa)


def test_qa_training_skips_answers_run_squad_cannot_find_and_reports_them(tmp_path):
    """Issue 18: a training answer whose text is not at its answer_start is skipped (counted, reported in the
    provenance that goes into the card), as XTREME's run_squad.py skips it; the rest trains."""
    from toolkit.encoders import embedded_tokenizer
    from toolkit.tasks import get_task
    from toolkit.train import prepare_task

    context = "Berlin is the capital of Germany."
    qas = [{"id": "ok", "question": "What?", "answers": [{"text": "capital", "answer_start": 14}]},
           {"id": "moved", "question": "What?", "answers": [{"text": "capital", "answer_start": 0}]},
           {"id": "none", "question": "What?", "answers": [{"text": "Paris", "answer_start": 3}]}]
    doc = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    root = tmp_path / "tydiqa"
    for split in ("train", "dev"):
        (root / f"tydiqa-goldp-v1.1-{split}").mkdir(parents=True)
        (root / f"tydiqa-goldp-v1.1-{split}" / f"tydiqa.goldp.en.{split}.json").write_text(json.dumps(doc))
    cfg = TrainConfig(task="tydiqa", max_length=64, data_dir=str(tmp_path))
    (phase,) = prepare_task(get_task("tydiqa"), "tydiqa", embedded_tokenizer(), cfg, None)
    assert [ex["id"] for ex in phase.train.examples] == ["ok"]
    assert phase.provenance["train_skipped"]["count"] == 2


# ---------------------------------------------------------------------------------------- accumulation, torchrun

_DDP = """
import json, os, sys
import toolkit.train as T
from toolkit.config import TrainConfig
from toolkit.encoders import tiny_encoder
from toolkit.io import atomic_write_json
seen, saved = [], []
_micro, _save = T._micro_loss, T._save
T._micro_loss = lambda model, tasks, micro, device, scale, *mlm: seen.append(list(micro[1])) or _micro(model, tasks, micro, device, scale, *mlm)
T._save = lambda *a, **k: saved.append(1) or _save(*a, **k)
cfg = TrainConfig(**json.loads(sys.argv[2]))
r = T.train_adapter(cfg, tiny_encoder(seed=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), sys.argv[1],
                    progress=False, max_dev_examples=8)
atomic_write_json(os.path.join(sys.argv[3], "rank%s.json" % os.environ["RANK"]),
                  {"seen": seen, "saved": len(saved), "world": r.card["world_size"], "hash": r.card["config_hash"]})
"""


def _weights(path: Path) -> dict:
    from toolkit.io import load_safetensors

    return {f"{f.stem}/{k}": v for f in sorted(path.glob("*.safetensors")) for k, v in load_safetensors(f).items()}


def test_accumulation_and_two_process_torchrun_match_the_doubled_batch(shared_data, tmp_path, zoo):
    """Gradient accumulation and data parallelism are the same update as one bigger batch: with dropout
    off, (batch 4, accumulation 2), (batch 8) and torchrun's 2 gloo processes of (batch 4) end with the
    same adapter; a plain (batch 4) run, which sees half the data per step, does not. Sentence-level
    losses (pair classification) are per-example means, so the mean of two equal micro-batch means is the
    mean over their union."""
    from toolkit.encoders import tiny_encoder

    enc = tiny_encoder(seed=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base = dict(task="nli_xnli_dev", max_train_examples=16, max_steps=2, max_length=32, learning_rate=1e-2,
                data_dir=str(shared_data), adapter_name="acc")

    def weights(sub: str, **kw) -> dict:
        result = train_adapter(TrainConfig(**{**base, **kw}), enc, tmp_path / sub, progress=False, max_dev_examples=8)
        return result, _weights(result.path)

    accum, w_accum = weights("accum", batch_size=4, gradient_accumulation_steps=2)
    _, w_big = weights("big", batch_size=8)
    _, w_small = weights("small", batch_size=4)
    assert accum.card["effective_batch_size"] == 8 and accum.card["world_size"] == 1
    assert accum.card["hyperparameters"]["gradient_accumulation_steps"] == 2
    for name in w_accum:
        torch.testing.assert_close(w_accum[name], w_big[name], rtol=1e-4, atol=1e-5)
    assert any(not torch.allclose(w_accum[n], w_small[n], atol=1e-4) for n in w_accum)

    script = tmp_path / "ddp.py"
    script.write_text(_DDP, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XTA_ZOO": str(zoo), "OMP_NUM_THREADS": "1", "XTA_DEVICE": "cpu"}
    cfg = json.dumps({**base, "batch_size": 4})
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path / "ddp"), cfg, str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["saved"] for r in ranks] == [1, 0]  # only rank 0 wrote the adapter
    assert all(r["world"] == 2 for r in ranks) and ranks[0]["hash"] == accum.card["config_hash"]
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 2  # one micro-batch per rank per step
    for step in range(2):
        a, b = set(ranks[0]["seen"][step]), set(ranks[1]["seen"][step])
        assert len(a) == len(b) == 4 and not a & b  # disjoint shards of the step's 8 examples
    w_ddp = _weights(tmp_path / "ddp" / "adapters" / "acc")
    assert set(w_ddp) == set(w_accum)
    for name in w_accum:
        torch.testing.assert_close(w_ddp[name], w_accum[name], rtol=1e-4, atol=1e-5)

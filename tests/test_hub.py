"""push / pull on the Hugging Face Hub, offline: the push plan (files, metadata, results table), a real
Hub cache layout read by huggingface_hub's snapshot_download in offline mode, exact logits after the
round trip (xta and plain ``adapters``), and the refusals (wrong encoder, pickle-only repositories)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
import yaml

from fakehub import COMMIT, hf_cache
from toolkit.config import TrainConfig
from toolkit.errors import EncoderError, SetupError, UnsafeFileError, XtaError
from toolkit.hub import EncoderShape, check_fits, describe, pull, push
from toolkit.results import LangResult, RecordKey, ResultStore, RunInfo

REPO_ID = "xta-test/panx-tiny"
SENTENCES = ["Angela Merkel besuchte Paris im Mai .", "El Banco Central de Chile sube la tasa ."]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket connection fails the test: everything here is offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def artifacts(tiny, shared_data, tmp_path_factory) -> Path:
    """Trained on the tiny encoder: ``panx`` (tagging), ``inter2``, and ``fz`` = fuse(panx, inter2)."""
    from toolkit.train import train_adapter

    root = tmp_path_factory.mktemp("artifacts")
    base = dict(task="panx", max_train_examples=16, max_steps=2, batch_size=8, max_length=32,
                learning_rate=1e-2, data_dir=str(shared_data))
    train_adapter(TrainConfig(**base), tiny, root, progress=False, max_dev_examples=8)
    train_adapter(TrainConfig(**base, adapter_name="inter2", seed=7), tiny, root, progress=False, max_dev_examples=8)
    train_adapter(TrainConfig(**base, adapter_name="fz", recipe="fuse", intermediate=("panx", "inter2")), tiny, root,
                  progress=False, max_dev_examples=8)
    return root


@pytest.fixture(scope="module")
def results(tiny, tmp_path_factory) -> Path:
    """A results store: panx with setup ``panx`` (de ok, fr ok, sw failed), one record of another
    adapter and one of another encoder (both must stay out of the card)."""
    root = tmp_path_factory.mktemp("results")
    store = ResultStore(root)

    def put(setup, lang, entry, fingerprint=tiny.fingerprint, enc="tiny-bert"):
        from toolkit.setups import setup_id

        run = RunInfo(task_version=1, encoder_name=enc, setup=setup, config={}, config_hash="h", main_metric="seqeval_f1",
                      encoder_fingerprint=fingerprint, environment={})
        store.put_language(RecordKey(enc, setup_id(setup), "panx"), lang, entry, run)

    put("panx", "de", LangResult.ok({"seqeval_f1": 81.234}, 81.234, n_examples=100, split="test"))
    put("panx", "fr", LangResult.ok({"seqeval_f1": 50.0}, 50.0, n_examples=40, split="test"))
    put("panx", "sw", LangResult.failed(FileNotFoundError("no sw data")))
    put("other", "de", LangResult.ok({"seqeval_f1": 99.0}, 99.0, n_examples=100))
    put("panx", "ja", LangResult.ok({"seqeval_f1": 33.0}, 33.0, n_examples=10), fingerprint="sha256:other", enc="big")
    return root


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """HF_HUB_CACHE in tmp, offline mode on (also in huggingface_hub's import-time constant)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _repo_files(plan) -> dict[str, bytes]:
    return {f.path_in_repo: f.read_bytes() for f in plan.files}


def _batch(tiny):
    enc = tiny.tokenizer(SENTENCES, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def _xta_logits(artifacts: Path, name: str, batch) -> torch.Tensor:
    """Logits through load_trained_adapter on a fresh tiny encoder (same seed: same base weights)."""
    from toolkit.encoders import tiny_encoder
    from toolkit.families.base import head_logits
    from toolkit.train import load_trained_adapter

    model = load_trained_adapter(tiny_encoder(seed=0), name, artifacts)
    with torch.inference_mode():
        return head_logits(model, batch, name).logits


def _front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


# ---------------------------------------------------------------------------------------- push plan


def test_dry_run_plan_files_metadata_and_results_table(artifacts, results, monkeypatch):
    import huggingface_hub

    from toolkit.tasks import get_task

    monkeypatch.setattr(huggingface_hub, "HfApi", None)  # any Hub client use would fail
    plan = push("panx", REPO_ID, artifacts_dir=artifacts, results_dir=results, dry_run=True)
    assert plan.paths == ["README.md", "adapter.safetensors", "adapter_config.json", "head_config.json",
                          "model_head.safetensors", "xta_card.json"]
    assert not plan.pushed and plan.intermediates == ()
    local = artifacts / "adapters" / "panx"
    files = _repo_files(plan)
    for name in ("adapter.safetensors", "adapter_config.json", "head_config.json", "model_head.safetensors"):
        assert files[name] == (local / name).read_bytes()  # uploaded as saved
    card = json.loads(files["xta_card.json"])
    assert str(artifacts) not in files["xta_card.json"].decode() and "/work/" not in files["xta_card.json"].decode()
    assert card["task"] == "panx" and card["recipe"] == "none"
    assert {k for d in card["data"]["panx<-panx"].values() for k in d.get("files", {})} == {
        "<local>/panx/train-en.tsv", "<local>/panx/dev-en.tsv"}

    meta = _front_matter(plan.readme)
    assert meta == plan.metadata == huggingface_hub.ModelCard(plan.readme).data.to_dict()  # the Hub's own parser
    panx = get_task("panx")
    hub_sets = sorted({h.path for s in panx.splits.values() for h in ((s.hub,) if s.hub else ()) + tuple(s.hub_overrides.values())})
    assert hub_sets == ["google/xtreme", "unimelb-nlp/wikiann"]
    expected = {
        "library_name": "adapters",
        "tags": ["adapter-transformers", "adapters", "xta", "panx", "zero-shot-cross-lingual"],
        "datasets": ["google/xtreme", "unimelb-nlp/wikiann"],
        "license": "other", "license_name": "panx-data-license",
        "language": ["en", "de", "fr"],  # sw failed, ja was another encoder: not listed
        # issue 18: scores as stored (0-100, not multiplied again), one model-index entry per scored language
        "model-index": [{"name": "panx", "results": [
            {"task": {"type": "token-classification"},
             "dataset": {"name": f"panx ({lang})", "type": "google/xtreme", "config": lang, "split": "test"},
             "metrics": [{"type": "seqeval_f1", "value": value}]} for lang, value in (("de", 81.234), ("fr", 50.0))]}],
    }
    if panx.url:
        expected["license_link"] = panx.url
    assert meta == expected  # the tiny test encoder has no Hub id: no base_model

    (table,) = plan.tables
    assert (table.task, table.setup, table.metric) == ("panx", "panx", "seqeval_f1")
    assert [(r.lang, r.status, r.main) for r in table.rows] == [("de", "ok", 81.234), ("fr", "ok", 50.0), ("sw", "failed", None)]
    assert table.average is None  # 2 of panx's 48 XTREME-R languages: no average
    n = len(panx.langs())
    assert n == 48
    text = plan.readme
    assert "| de | 81.2 | 100 |" in text and "| fr | 50.0 | 40 |" in text
    assert "| sw | failed (FileNotFoundError) |  |" in text
    assert f"_no average: {n - 2} of {n} languages missing or failed_" in text
    assert "99.0" not in text and "| ja |" not in text
    assert f"xta pull {REPO_ID}" in text
    assert f'model.load_adapter("{REPO_ID}", source="hf", use_safetensors=True, set_active=True)' in text

    rows = describe(plan)
    assert rows[0][0] == "README.md" and rows[0][2] == "generated"
    assert rows[1][0] == "adapter.safetensors" and rows[1][2].startswith("adapter panx (")
    assert rows[-1][0] == "6 files" and "not pushed yet" in rows[-1][2]


def test_embedded_encoder_card_names_e5_as_base_model(artifacts, tmp_path):
    art = tmp_path / "art"
    shutil.copytree(artifacts / "adapters" / "panx", art / "adapters" / "panx")
    card_path = art / "adapters" / "panx" / "xta_card.json"
    card = json.loads(card_path.read_text())
    card["encoder"]["name"] = "embedded"
    card_path.write_text(json.dumps(card))
    plan = push("panx", REPO_ID, artifacts_dir=art, results_dir=tmp_path / "none", dry_run=True)
    assert plan.metadata["base_model"] == "intfloat/multilingual-e5-small"
    assert "No results recorded yet" in plan.readme and plan.metadata["language"] == ["en"]
    assert "AutoAdapterModel.from_pretrained(\"intfloat/multilingual-e5-small\")" in plan.readme
    override = push("panx", REPO_ID, artifacts_dir=art, results_dir=tmp_path / "none", dry_run=True,
                    license="mit", base_model="FacebookAI/xlm-roberta-large")
    assert override.metadata["license"] == "mit" and "license_name" not in override.metadata
    assert override.metadata["base_model"] == "FacebookAI/xlm-roberta-large"


def test_fusion_plan_includes_its_intermediate_adapters(artifacts, tmp_path):
    plan = push("fz", REPO_ID, artifacts_dir=artifacts, results_dir=tmp_path, dry_run=True)
    assert plan.intermediates == ("panx", "inter2")
    per_adapter = ["adapter.safetensors", "adapter_config.json", "head_config.json", "model_head.safetensors", "xta_card.json"]
    assert plan.paths == (["README.md", "adapter_fusion_config.json", "head_config.json",
                           "model_adapter_fusion.safetensors", "model_head.safetensors", "xta_card.json"]
                          + [f"adapters/inter2/{f}" for f in per_adapter] + [f"adapters/panx/{f}" for f in per_adapter])
    assert "model.load_adapter_fusion(path, with_head=True, use_safetensors=True)" in plan.readme
    assert 'xta eval --setup "fuse:panx,inter2>fz" --targets panx' in plan.readme
    assert 'model.active_head = "fz"' in plan.readme


def test_push_refuses_bad_repo_ids_unknown_adapters_and_local_pickles(artifacts, tmp_path):
    with pytest.raises(XtaError, match="ORG/NAME"):
        push("panx", "no-namespace", artifacts_dir=artifacts, dry_run=True)
    with pytest.raises(XtaError, match=r"Cannot have -- or \.\."):  # huggingface_hub's own message
        push("panx", "org/a--b", artifacts_dir=artifacts, dry_run=True)
    with pytest.raises(XtaError, match="unknown trained adapter 'pnax'; did you mean 'panx'"):
        push("pnax", REPO_ID, artifacts_dir=artifacts, dry_run=True)
    art = tmp_path / "art"
    shutil.copytree(artifacts / "adapters" / "panx", art / "adapters" / "panx")
    (art / "adapters" / "panx" / "pytorch_adapter.bin").write_bytes(b"\x80\x04N.")
    with pytest.raises(UnsafeFileError, match="pytorch_adapter.bin"):
        push("panx", REPO_ID, artifacts_dir=art, dry_run=True)


@pytest.mark.parametrize("link", ["file", "folder"])
def test_push_refuses_symlinks_that_leave_the_adapter_folder(artifacts, tmp_path, link):
    """Issue 18: a link inside the adapter folder must not upload what it points to (here an ssh key)."""
    secret = tmp_path / "home" / ".ssh"
    secret.mkdir(parents=True)
    (secret / "id_rsa.json").write_text('{"key": "secret"}')
    art = tmp_path / "art"
    shutil.copytree(artifacts / "adapters" / "panx", art / "adapters" / "panx")
    where = art / "adapters" / "panx"
    if link == "file":
        (where / "extra.json").symlink_to(secret / "id_rsa.json")
    else:
        (where / "heads").mkdir(exist_ok=True)
        (where / "heads" / "more").symlink_to(secret, target_is_directory=True)
    with pytest.raises(UnsafeFileError, match="outside the adapter folder"):
        push("panx", REPO_ID, artifacts_dir=art, dry_run=True)
    (where / "inside.json").symlink_to(where / "adapter_config.json")  # a link within the folder is fine
    (where / "extra.json").unlink(missing_ok=True)
    if (where / "heads" / "more").is_symlink():
        (where / "heads" / "more").unlink()
    assert "inside.json" in push("panx", REPO_ID, artifacts_dir=art, dry_run=True).paths


def test_the_model_card_shows_no_local_path(artifacts, results, tmp_path):
    """Issue 18: an encoder given by local path, and paths in failure messages, stay out of the README."""
    art = tmp_path / "art"
    shutil.copytree(artifacts / "adapters" / "panx", art / "adapters" / "panx")
    card_path = art / "adapters" / "panx" / "xta_card.json"
    card = json.loads(card_path.read_text())
    card["encoder"]["name"] = "/home/alice/models/my-encoder"
    card_path.write_text(json.dumps(card))
    store = ResultStore(tmp_path / "res")
    run = RunInfo(task_version=1, encoder_name="/home/alice/models/my-encoder", setup="panx", config={},
                  config_hash="h", main_metric="seqeval_f1", encoder_fingerprint=card["encoder"]["fingerprint"],
                  environment={})
    store.put_language(RecordKey("my-encoder", "panx", "panx"), "sw",
                       LangResult.failed(FileNotFoundError("/home/alice/data/panx/test-sw.tsv: not found")), run)
    plan = push("panx", REPO_ID, artifacts_dir=art, results_dir=tmp_path / "res", dry_run=True)
    assert "/home/alice" not in plan.readme and "alice" not in json.dumps(plan.metadata)
    assert "<local>/models/my-encoder" in plan.readme


def test_truncated_or_mixed_results_are_flagged_in_the_card_and_kept_out_of_the_model_index(artifacts, tiny, tmp_path):
    """Issue 18: a --max-eval-examples run (or languages of different configurations) is not a leaderboard number."""
    from toolkit.setups import setup_id

    store = ResultStore(tmp_path / "res")
    for lang, cfg_hash, split in (("de", "h1", "test"), ("fr", "h2", "dev")):
        run = RunInfo(task_version=1, encoder_name="tiny-bert", setup="panx", config={"max_eval_examples": 20},
                      config_hash=cfg_hash, main_metric="seqeval_f1", encoder_fingerprint=tiny.fingerprint, environment={})
        store.put_language(RecordKey("tiny-bert", setup_id("panx"), "panx"), lang,
                           LangResult.ok({"seqeval_f1": 60.0}, 60.0, n_examples=20, split=split), run)
    plan = push("panx", REPO_ID, artifacts_dir=artifacts, results_dir=tmp_path / "res", dry_run=True)
    (table,) = plan.tables
    assert table.caveat == ("truncated evaluation (first 20 examples per language); languages evaluated on different "
                            "splits; languages computed under different configurations")
    assert f"**Not comparable with published numbers: {table.caveat}.**" in plan.readme
    assert "model-index" not in plan.metadata and "| de | 60.0 | 20 |" in plan.readme


def test_push_uploads_the_plan_in_one_commit(artifacts, results, monkeypatch):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, **kw):
            calls["init"] = kw

        def create_repo(self, repo_id, **kw):
            calls["create_repo"] = (repo_id, kw)

        def list_repo_files(self, repo_id, **kw):
            return [".gitattributes", "README.md", "adapter.safetensors", "old_head.safetensors", "pytorch_adapter.bin"]

        def create_commit(self, repo_id, operations, commit_message, **kw):
            calls["commit"] = (repo_id, operations, commit_message)
            return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{COMMIT}"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    plan = push("panx", REPO_ID, private=True, artifacts_dir=artifacts, results_dir=results)
    assert calls["create_repo"] == (REPO_ID, {"private": True, "exist_ok": True, "repo_type": "model"})
    repo, ops, message = calls["commit"]
    added = [op.path_in_repo for op in ops if isinstance(op, huggingface_hub.CommitOperationAdd)]
    deleted = [op.path_in_repo for op in ops if isinstance(op, huggingface_hub.CommitOperationDelete)]
    assert repo == REPO_ID and added == plan.paths and deleted == ["old_head.safetensors", "pytorch_adapter.bin"]
    assert message.startswith("xta: upload adapter panx")
    assert plan.pushed and plan.commit_url.endswith(COMMIT)
    assert "token" not in json.dumps(calls["init"])


# ---------------------------------------------------------------------------------------- pull


def test_pull_from_the_offline_hub_cache_reproduces_logits(tiny, artifacts, results, offline_hub, tmp_path):
    plan = push("panx", REPO_ID, artifacts_dir=artifacts, results_dir=results, dry_run=True)
    files = _repo_files(plan)
    files["pytorch_adapter.bin"] = b"\x80\x04N."  # a pickle beside the safetensors is never copied
    hf_cache(offline_hub, REPO_ID, files)
    pulled = tmp_path / "pulled"
    path = pull(REPO_ID, name="panx_hub", artifacts_dir=pulled, encoder=tiny)
    assert path == pulled / "adapters" / "panx_hub"
    assert sorted(p.name for p in path.iterdir()) == ["adapter.safetensors", "adapter_config.json", "head_config.json",
                                                      "model_head.safetensors", "xta_card.json"]
    card = json.loads((path / "xta_card.json").read_text())
    assert card["hub"]["repo_id"] == REPO_ID and card["hub"]["revision"] == COMMIT
    assert card["name"] == "panx_hub" and card["hub_name"] == "panx" and card["task"] == "panx"
    batch = _batch(tiny)
    original = _xta_logits(artifacts, "panx", batch)
    assert torch.equal(_xta_logits(pulled, "panx_hub", batch), original)  # bitwise
    # the same pull again is a no-op replacement; a different adapter of that name is kept
    assert pull(REPO_ID, name="panx_hub", artifacts_dir=pulled, encoder=tiny, revision="main") == path
    with pytest.raises(XtaError, match="cannot be used in setups"):
        pull(REPO_ID, name="panx-hub", artifacts_dir=pulled, encoder=tiny)
    with pytest.raises(XtaError, match="invalid adapter name"):
        pull(REPO_ID, name="../evil", artifacts_dir=pulled, encoder=tiny)
    shutil.copytree(artifacts / "adapters" / "inter2", pulled / "adapters" / "mine")
    with pytest.raises(SetupError, match="a different adapter named 'mine' already exists"):
        pull(REPO_ID, name="mine", artifacts_dir=pulled, encoder=tiny)
    pull(REPO_ID, name="mine", artifacts_dir=pulled, encoder=tiny, force=True)
    assert torch.equal(_xta_logits(pulled, "mine", batch), original)


def test_plain_adapters_load_the_pushed_repo_from_the_cache(tiny, artifacts, offline_hub, tmp_path):
    """AdapterHub compatibility: the README's ``model.load_adapter("ORG/NAME", source="hf", ...)``."""
    from adapters import AutoAdapterModel

    plan = push("panx", REPO_ID, artifacts_dir=artifacts, results_dir=tmp_path, dry_run=True)
    hf_cache(offline_hub, REPO_ID, _repo_files(plan))
    plain = AutoAdapterModel.from_config(tiny.model.config)
    missing, unexpected = plain.bert.load_state_dict(tiny.model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("pooler") for k in missing)
    name = plain.load_adapter(REPO_ID, source="hf", use_safetensors=True, set_active=True, cache_dir=str(offline_hub))
    plain.eval()
    with torch.inference_mode():
        logits = plain(**_batch(tiny)).logits
    assert name == "panx"
    assert torch.equal(logits, _xta_logits(artifacts, "panx", _batch(tiny)))


def test_pull_a_plain_adapterhub_repository_without_xta_card(tiny, artifacts, offline_hub, tmp_path):
    plan = push("panx", "someone/ner-adapter", artifacts_dir=artifacts, results_dir=tmp_path, dry_run=True)
    files = {k: v for k, v in _repo_files(plan).items() if k not in ("xta_card.json", "README.md")}
    hf_cache(offline_hub, "someone/ner-adapter", files)
    pulled = tmp_path / "pulled"
    path = pull("someone/ner-adapter", name="ner", artifacts_dir=pulled, encoder=tiny)
    card = json.loads((path / "xta_card.json").read_text())
    assert card["recipe"] == "none" and card["origin"] == "adapterhub" and card["hub"]["revision"] == COMMIT
    batch = _batch(tiny)
    assert torch.equal(_xta_logits(pulled, "ner", batch), _xta_logits(artifacts, "panx", batch))


def test_pull_a_fusion_registers_its_intermediates(tiny, artifacts, offline_hub, tmp_path):
    plan = push("fz", "xta-test/fz", artifacts_dir=artifacts, results_dir=tmp_path, dry_run=True)
    hf_cache(offline_hub, "xta-test/fz", _repo_files(plan))
    pulled = tmp_path / "pulled"
    path = pull("xta-test/fz", artifacts_dir=pulled, encoder=tiny)
    assert path == pulled / "adapters" / "fz"
    assert sorted(p.name for p in (pulled / "adapters").iterdir()) == ["fz", "inter2", "panx"]
    assert not (path / "adapters").exists()
    batch = _batch(tiny)
    assert torch.equal(_xta_logits(pulled, "fz", batch), _xta_logits(artifacts, "fz", batch))
    with pytest.raises(XtaError, match="a fusion keeps the name"):
        pull("xta-test/fz", name="other", artifacts_dir=tmp_path / "p2", encoder=tiny)


def test_pull_refuses_an_adapter_for_another_encoder(tiny, artifacts, offline_hub, tmp_path):
    from toolkit.encoders import tiny_encoder

    plan = push("panx", REPO_ID, artifacts_dir=artifacts, results_dir=tmp_path, dry_run=True)
    hf_cache(offline_hub, REPO_ID, _repo_files(plan))
    wide = tiny_encoder(seed=0, hidden_size=48, intermediate_size=96)
    pulled = tmp_path / "pulled"
    with pytest.raises(EncoderError, match=r"does not fit encoder tiny-bert: hidden size 32 in adapter_config.json, the encoder has 48"):
        pull(REPO_ID, artifacts_dir=pulled, encoder=wide)
    assert not (pulled / "adapters").exists()  # checked before anything was registered or loaded
    snap = offline_hub / "models--xta-test--panx-tiny" / "snapshots" / COMMIT
    with pytest.raises(EncoderError, match=r"adapter.safetensors has weights for layers 0..1 \(2 layers\), the encoder has 4"):
        check_fits(snap, EncoderShape("deep", "bert", 32, 4))
    with pytest.raises(EncoderError, match="model type bert in adapter_config.json, the encoder has xlm-roberta"):
        check_fits(snap, EncoderShape("xlmr", "xlm-roberta", 32, 2))
    check_fits(snap, EncoderShape("same", "bert", 32, 2))
    with pytest.raises(EncoderError, match="trained on encoder 'tiny-bert', which is not available here"):
        pull(REPO_ID, artifacts_dir=pulled)  # no encoder given: the card's, which cannot be resolved


def test_pull_refuses_a_pickle_only_repository(offline_hub, tmp_path, monkeypatch):
    config = json.dumps({"name": "old", "model_type": "bert", "hidden_size": 32, "config": {}}).encode()
    hf_cache(offline_hub, "someone/old-adapter", {"adapter_config.json": config, "pytorch_adapter.bin": b"\x80\x04N.",
                                                  "head_config.json": config, "pytorch_model_head.bin": b"\x80\x04N."})
    with pytest.raises(UnsafeFileError, match=r"offers only pickle weights \(pytorch_adapter.bin, pytorch_model_head.bin\); xta refuses"):
        pull("someone/old-adapter", artifacts_dir=tmp_path / "art", encoder=EncoderShape("t", "bert", 32, 2))
    assert not (tmp_path / "art").exists()

    # online: the Hub's file list is checked before anything is downloaded
    import huggingface_hub

    import toolkit.hub as hub

    class ListOnly:
        def __init__(self, **kw):
            pass

        def list_repo_files(self, repo_id, revision=None):
            return ["README.md", "adapter_config.json", "pytorch_adapter.bin"]

    def no_download(*a, **kw):
        raise AssertionError("downloaded a pickle-only repository")

    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "HfApi", ListOnly)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    with pytest.raises(UnsafeFileError, match=r"only pickle weights \(pytorch_adapter.bin\)"):
        pull("someone/online-old", artifacts_dir=tmp_path / "art")


def test_pull_of_an_uncached_repo_offline_says_so(offline_hub, tmp_path):
    from toolkit.errors import DataUnavailable

    with pytest.raises(DataUnavailable, match=r"xta-test/missing is not in the Hugging Face cache .*HF_HUB_OFFLINE=1"):
        pull("xta-test/missing", artifacts_dir=tmp_path)
    with pytest.raises(XtaError, match="invalid Hub repo id"):
        pull("../etc", artifacts_dir=tmp_path)


@pytest.mark.parametrize("error, message", [("GatedRepoError", r"is gated: accept its conditions"),
                                            ("RepositoryNotFoundError", r"no Hub repository .*RepositoryNotFoundError")])
def test_pull_says_gated_apart_from_missing(tmp_path, monkeypatch, error, message):
    """huggingface_hub's GatedRepoError is a RepositoryNotFoundError: a gated repository is reported as
    gated (accept and log in), not as a wrong id."""
    import huggingface_hub
    import huggingface_hub.errors as hf_errors

    import toolkit.hub as hub
    from toolkit.errors import DataUnavailable

    class Refusing:
        def __init__(self, **kw):
            pass

        def list_repo_files(self, repo_id, revision=None):
            raise getattr(hf_errors, error)(f"{repo_id}: refused")

    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "HfApi", Refusing)
    with pytest.raises(DataUnavailable, match=message):
        pull("someone/adapter", artifacts_dir=tmp_path / "art")
    assert not (tmp_path / "art").exists()

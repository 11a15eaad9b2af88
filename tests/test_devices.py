"""Issue 20 item 4: --device (beats $XTA_DEVICE, checked before any model loads) and --eval-precision
(fp32 | bf16 | fp16; bf16 autocast also on CPU, fp16 refused there), recorded with each result.

The data-parallel path (torchrun, 2 gloo processes) and gradient accumulation are tested in
tests/test_train.py::test_accumulation_and_two_process_torchrun_match_the_doubled_batch."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from toolkit.errors import ConfigError, EncoderError, XtaError

runner = CliRunner()
NO_CUDA = not torch.cuda.is_available()


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any encoder load fails the test: the flags must be refused before one."""
    import toolkit.encoders as enc

    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the device/precision flags were checked")

    monkeypatch.setattr(enc, "load_encoder", refuse)
    monkeypatch.setenv("XTA_DEVICE", "")  # restored after the test: --device sets it for the process
    monkeypatch.setenv("XTA_EVAL_PRECISION", "")


def test_resolve_device_choices_and_errors(monkeypatch):
    from toolkit.encoders import default_device, resolve_device, use_device

    monkeypatch.setenv("XTA_DEVICE", "cpu")
    assert resolve_device("CPU") == "cpu" and resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "gpu0", "cuda:x"):
        with pytest.raises(EncoderError, match="not a"):
            resolve_device(bad)
    if NO_CUDA:
        with pytest.raises(EncoderError, match=r"--device='cuda:1' but torch sees no CUDA device"):
            resolve_device("cuda:1")
    else:
        with pytest.raises(EncoderError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        with pytest.raises(EncoderError, match="no MPS device"):
            resolve_device("mps")
    assert use_device("cpu") == "cpu" and default_device() == "cpu"  # the flag becomes the process's device
    monkeypatch.setenv("XTA_DEVICE", "cpu")
    assert use_device(None) == "cpu"  # no flag: $XTA_DEVICE decides


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [
    ["train-adapter", "--task", "panx", "--device", "cuda", "--max-steps", "1"],
    ["fuse", "--tasks", "a,b", "--target", "xnli", "--device", "cuda:0"],
    ["stack", "--task", "panx", "--lang-adapter", "lang_en", "--device", "cuda"],
    ["eval", "--tasks", "xnli", "--langs", "de", "--setup", "none", "--device", "cuda"],
])
def test_cuda_asked_without_cuda_is_one_clear_error_before_any_model(argv, no_model_loads, shared_data, tmp_path):
    from cli import app

    result = runner.invoke(app, [*argv, "--data-dir", str(shared_data), "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "torch sees no CUDA device" in result.output and "Traceback" not in result.output


def test_eval_precision_fp16_is_refused_on_cpu_before_any_model(no_model_loads, shared_data, tmp_path):
    from cli import app

    result = runner.invoke(app, ["eval", "--tasks", "xnli", "--langs", "de", "--setup", "none", "--device", "cpu",
                                 "--eval-precision", "fp16", "--data-dir", str(shared_data), "--results-dir", str(tmp_path)])
    assert result.exit_code == 1 and "fp16 needs a GPU" in result.output, result.output
    result = runner.invoke(app, ["eval", "--tasks", "xnli", "--device", "cpu", "--eval-precision", "int8",
                                 "--data-dir", str(shared_data), "--results-dir", str(tmp_path)])
    assert result.exit_code == 1 and "use one of fp32, bf16, fp16" in result.output, result.output


def test_eval_precision_rules(monkeypatch):
    from toolkit.families.base import eval_autocast, eval_precision

    monkeypatch.setenv("XTA_EVAL_PRECISION", "")
    assert eval_precision("cpu") == "fp32"  # unset: CPU stays the fp32 reference
    monkeypatch.setenv("XTA_EVAL_PRECISION", "bf16")
    assert eval_precision("cpu") == "bf16"
    with eval_autocast(torch.device("cpu")):
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.bfloat16  # really autocast
    monkeypatch.setenv("XTA_EVAL_PRECISION", "fp16")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        eval_precision("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    assert eval_precision("cuda") == "fp16"
    monkeypatch.setenv("XTA_EVAL_PRECISION", "bf16")
    with pytest.raises(ConfigError, match="Old GPU does not support bfloat16"):
        eval_precision("cuda")
    assert issubclass(ConfigError, XtaError)


def test_bf16_eval_on_cpu_is_recorded_in_the_evaluation_metadata(monkeypatch, shared_data, tiny_dir, tmp_path):
    from toolkit.config import EvalConfig
    from toolkit.evaluate import evaluate

    monkeypatch.setenv("XTA_EVAL_PRECISION", "bf16")
    monkeypatch.setenv("XTA_DEVICE", "cpu")
    cfg = EvalConfig(model=str(tiny_dir), data_dir=str(shared_data), results_dir=str(tmp_path / "results"),
                     artifacts_dir=str(tmp_path / "artifacts"), benchmark="xtreme", tasks=("tatoeba",), langs=("de",),
                     setup="none", max_eval_examples=8, batch_size=8, bootstrap_resamples=0)
    run = evaluate(cfg)
    assert not run.tasks[0].failed, run.tasks[0].failed
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    precisions = [lang.get("evaluation", {}).get("precision") for r in records for lang in (r.get("languages") or {}).values()
                  if isinstance(lang, dict)]
    assert precisions == ["bf16"], records


def test_commands_that_are_not_data_parallel_refuse_torchrun(no_model_loads, monkeypatch, shared_data, tmp_path):
    from cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = runner.invoke(app, ["eval", "--tasks", "xnli", "--langs", "de", "--setup", "none", "--data-dir", str(shared_data),
                                 "--results-dir", str(tmp_path)])
    assert result.exit_code == 1 and "xta eval runs in one process; launch it without torchrun" in result.output, result.output

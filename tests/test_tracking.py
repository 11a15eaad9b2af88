"""Training logs and trackers: train_log.jsonl lines, --report-to (fake tensorboard / wandb modules recording
their calls: neither package is a dependency), a missing tracker named before any model loads, curves in
the report. The resume case (same log as an uninterrupted run) extends tests/test_train.py's SIGKILL test."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from toolkit.config import TrainConfig
from toolkit.errors import ConfigError
from toolkit.tracking import LOG_NAME, TrackerUnavailable, TrainLog, flat_scalars, parse_report_to, read_train_log

TRACKER_MODULES = ("wandb", "tensorboard", "torch.utils.tensorboard")


def _cfg(shared_data, **kw) -> TrainConfig:
    base = dict(task="panx", max_train_examples=16, max_steps=3, batch_size=8, max_length=32, learning_rate=1e-3,
                data_dir=str(shared_data), eval_every=3, logging_steps=2)
    return TrainConfig(**{**base, **kw})


def test_report_to_parsing():
    assert parse_report_to(None) == () and parse_report_to("none") == () and parse_report_to("") == ()
    assert parse_report_to("TensorBoard, wandb,tensorboard") == ("tensorboard", "wandb")
    assert parse_report_to(["wandb"]) == ("wandb",)
    with pytest.raises(ConfigError, match="unknown tracker 'mlflow'"):
        parse_report_to("mlflow")
    with pytest.raises(ConfigError, match="'none' cannot be combined"):
        parse_report_to("none,wandb")
    assert TrainConfig(task="panx", report_to="tensorboard").report_to == ("tensorboard",)
    with pytest.raises(ConfigError, match="logging_steps"):
        TrainConfig(task="panx", logging_steps=0)


def test_a_missing_tracker_is_named_before_the_encoder_loads(monkeypatch, shared_data, tmp_path):
    import toolkit.encoders
    import toolkit.tracking
    from cli import app
    from toolkit.train import train_adapter

    real = importlib.util.find_spec
    monkeypatch.setattr(toolkit.tracking.importlib.util, "find_spec", lambda n, *a: None if n == "wandb" else real(n, *a))

    def no_encoder(*a, **k):
        raise AssertionError("the encoder was loaded before the tracker check")

    monkeypatch.setattr(toolkit.encoders, "load_encoder", no_encoder)
    with pytest.raises(TrackerUnavailable, match=r"pip install 'xta\[wandb\]'"):
        train_adapter(_cfg(shared_data, report_to="wandb"), artifacts_dir=tmp_path)
    result = CliRunner().invoke(app, ["train-adapter", "--task", "panx", "--report-to", "wandb", "--data-dir", str(shared_data),
                                      "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1 and "needs the 'wandb' package" in result.output
    assert not (tmp_path / "adapters").exists() and not (tmp_path / "checkpoints").exists()


def _fake_trackers(monkeypatch):
    """Stand-ins for ``torch.utils.tensorboard`` and ``wandb`` that record what they are given."""
    calls: dict[str, list] = {"scalar": [], "writer": [], "init": [], "log": [], "closed": []}

    class SummaryWriter:
        def __init__(self, log_dir=None, purge_step=None):
            calls["writer"].append((log_dir, purge_step))

        def add_scalar(self, tag, value, global_step=None):
            calls["scalar"].append((tag, value, global_step))

        def flush(self):
            pass

        def close(self):
            calls["closed"].append("tensorboard")

    class Run:
        def log(self, data, step=None):
            calls["log"].append((step, dict(data)))

        def finish(self):
            calls["closed"].append("wandb")

    def init(**kw):
        calls["init"].append(kw)
        return Run()

    for name, attrs in (("tensorboard", {}), ("torch.utils.tensorboard", {"SummaryWriter": SummaryWriter}),
                        ("wandb", {"init": init})):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        for key, value in attrs.items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_training_log_and_trackers(tiny, shared_data, tmp_path, monkeypatch):
    from toolkit.train import train_adapter

    before = {m for m in TRACKER_MODULES if m in sys.modules}
    plain = train_adapter(_cfg(shared_data), tiny, tmp_path, progress=False, max_dev_examples=8)
    assert {m for m in TRACKER_MODULES if m in sys.modules} == before  # nothing imported unless asked
    log = read_train_log(plain.path / LOG_NAME)
    assert [(r["step"], "loss" in r, "dev" in r) for r in log] == [(2, True, False), (3, True, False), (3, False, True)]
    assert log[2]["dev"] == plain.card["dev_history"][-1]["dev"]
    assert log[0]["learning_rate"] == pytest.approx(1e-3 * 2 / 3)  # the rate step 2 used (linear decay, 1 of 3 done)
    assert plain.card["hyperparameters"]["logging_steps"] == 2 and "report_to" not in plain.card["hyperparameters"]

    calls = _fake_trackers(monkeypatch)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    tracked = train_adapter(_cfg(shared_data, adapter_name="tracked", report_to="tensorboard,wandb"), tiny, tmp_path,
                            progress=False, max_dev_examples=8)
    tracked_log = read_train_log(tracked.path)
    assert [r["loss"] for r in tracked_log if "loss" in r] == [r["loss"] for r in log if "loss" in r]  # same seed
    assert calls["writer"] == [(str(tmp_path / "tensorboard" / "tracked"), None)]
    assert ("train/loss", tracked_log[0]["loss"], 2) in calls["scalar"]
    dev_tags = {f"dev/panx/{metric}" for metric in tracked_log[2]["dev"]["panx"]}
    assert dev_tags and dev_tags <= set(flat_scalars(tracked_log[2]))
    assert {tag for tag, _, step in calls["scalar"] if step == 3} == {"train/loss", "train/learning_rate", "train/epoch",
                                                                      "train/examples_per_s", *dev_tags}
    assert calls["init"][0]["mode"] == "offline" and calls["init"][0]["name"] == "tracked"
    assert calls["init"][0]["config"]["logging_steps"] == 2
    assert [step for step, _ in calls["log"]] == [2, 3, 3] and calls["log"][0][1] == flat_scalars(tracked_log[0])
    assert sorted(calls["closed"]) == ["tensorboard", "wandb"]


def test_resume_cuts_the_log_back_to_the_checkpoint(tmp_path):
    log = TrainLog(tmp_path / LOG_NAME)
    for step in (2, 4, 6):
        log.log({"step": step, "loss": float(step)})
    with open(log.path, "ab") as fh:  # what a kill mid-append leaves
        fh.write(b'{"step": 8, "lo')
    assert [r["step"] for r in read_train_log(tmp_path)] == [2, 4, 6]  # the partial line is skipped
    log.start(4)
    assert [r["step"] for r in log.records()] == [2, 4]
    log.start(0)  # a fresh run
    assert log.records() == []


def test_report_plots_training_curves(tmp_path):
    from toolkit.plots import training_curves
    from toolkit.report import summarize, write_report, StoreScores

    artifacts = tmp_path / "artifacts"
    for name, scale in (("panx", 1.0), ("xnli", 2.0)):
        log = TrainLog(artifacts / "adapters" / name / LOG_NAME)
        for step in range(10, 60, 10):
            log.log({"step": step, "loss": scale / step, "learning_rate": 1e-4 * (1 - step / 60)})
        log.log({"step": 50, "dev": {name: {"f1": 50.0}}})
    records = {"panx": SimpleNamespace(setup={"adapter_hashes": {"panx": "h"}}),
               "xnli": SimpleNamespace(setup={"adapter_hashes": {"xnli": "h", "lang_de": "h"}})}  # lang_de: no log
    gathered = StoreScores({}, {}, records, {})
    files = write_report(summarize("xtreme-r", {}), gathered, tmp_path / "report", artifacts)
    png = tmp_path / "report" / "training_curves.png"
    assert files["training_curves.png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report" / "report.md").read_text()
    assert "![training curves](training_curves.png)" in md and "`panx`, `xnli`" in md

    fig = training_curves({"panx": read_train_log(artifacts / "adapters" / "panx")})
    loss_ax, lr_ax = fig.axes
    assert loss_ax.get_xlabel() == "optimizer step" and lr_ax.get_ylabel() == "learning rate"
    assert list(loss_ax.get_lines()[0].get_xdata()) == [10, 20, 30, 40, 50]
    assert list(loss_ax.get_lines()[0].get_ydata()) == pytest.approx([1 / s for s in (10, 20, 30, 40, 50)])
    assert fig.get_size_inches()[0] >= 10

    # no logs: no figure and no section
    empty = write_report(summarize("xtreme-r", {}), StoreScores({}, {}, {}, {}), tmp_path / "r2", artifacts)
    assert "training_curves.png" not in empty and not (tmp_path / "r2" / "training_curves.png").exists()


def test_matrix_report_plots_the_curves_of_the_adapters_it_trained(tmp_path):
    from toolkit.matrix import Outcome, plan_matrix
    from toolkit.matrix_config import MatrixConfig
    from toolkit.matrix_results import Cost, MatrixRun
    from toolkit.plots import write_matrix_report

    cfg = MatrixConfig(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind", "cldr_continent"),
                       benchmark="demo", langs=("de", "sw"), artifacts_dir=str(tmp_path / "artifacts"))
    plan = plan_matrix(cfg)
    trained = {n.id: n.train.name for n in plan.trainings}
    for name in trained.values():
        log = TrainLog(tmp_path / "artifacts" / "adapters" / name / LOG_NAME)
        for step in (10, 20):
            log.log({"step": step, "loss": 1.0 / step, "learning_rate": 1e-4})
    scores = {("cldr_continent", "none", "none"): {"de": 50.0, "sw": 40.0},
              ("cldr_continent", "sequential", "cldr_kind"): {"de": 54.0, "sw": 41.0},
              ("cldr_kind", "none", "none"): {"de": 70.0, "sw": 60.0},
              ("cldr_kind", "sequential", "cldr_continent"): {"de": 68.0, "sw": 60.0}}
    cost = Cost(4, 4, 240, 240, 10.0, 5.0, 16.0, 4_000_000, 117_000_000, 4 * 117_000_000 * 4)
    untrained = write_matrix_report(MatrixRun(plan, {}, scores, {}, cost), tmp_path / "r0")
    assert "training_curves.png" not in untrained  # no node ran: no adapter of this matrix to show
    outcomes = {node: Outcome(node, "trained") for node in trained}
    files = write_matrix_report(MatrixRun(plan, outcomes, scores, {}, cost), tmp_path / "r1")
    assert (tmp_path / "r1" / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "![training curves](training_curves.png)" in (tmp_path / "r1" / "report.md").read_text()
    assert files["training_curves.png"] == str(tmp_path / "r1" / "training_curves.png")


def test_matrix_passes_logging_steps_and_trackers_to_its_trainings(monkeypatch):
    import toolkit.tracking
    from toolkit.matrix import plan_matrix
    from toolkit.matrix_config import MatrixConfig

    cfg = MatrixConfig(targets=("cldr_continent",), intermediates=("cldr_kind",), benchmark="demo", logging_steps=5,
                       report_to="wandb")
    monkeypatch.setattr(toolkit.tracking.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(TrackerUnavailable, match="wandb"):
        plan_matrix(cfg)  # before the matrix loads its encoder
    monkeypatch.setattr(toolkit.tracking.importlib.util, "find_spec", lambda name, *a: object())
    plan = plan_matrix(cfg)
    assert plan.trainings and {(n.train.logging_steps, n.train.report_to) for n in plan.trainings} == {(5, ("wandb",))}

"""xta demo and the matrix figures: the demo's matrix, heatmaps read back, the report, runs that repeat."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import pytest
from typer.testing import CliRunner

from toolkit.demo import DemoConfig, demo_matrix_config, run_demo
from toolkit.matrix import Cost, MatrixConfig, MatrixRun, plan_matrix
from toolkit.plots import gain_heatmap, language_heatmap, resource_gains, resource_plot, save_figure, write_matrix_report


def test_demo_matrix_uses_the_builtin_tasks_or_local_files(shared_data):
    cfg = demo_matrix_config(DemoConfig(out_dir="/tmp/x"))
    assert cfg.benchmark == "demo" and cfg.targets == ("cldr_continent", "cldr_kind", "cldr_names")
    assert cfg.intermediates == ("none", "cldr_kind", "cldr_continent")
    plan = plan_matrix(cfg)
    assert len(plan.trainings) == 4  # 2 intermediate (= plain target) adapters + 2 sequential target adapters
    assert len(plan.languages["cldr_continent"]) == 48 and len(plan.languages["cldr_kind"]) == 49
    assert len(plan.languages["cldr_names"]) == 16
    real = demo_matrix_config(DemoConfig(data_dir=str(shared_data)))
    assert real.targets == ("xnli", "xcopa", "tatoeba") and real.intermediates == ("none", "anli", "cosmosqa", "siqa")
    assert real.overrides["anli"].train_split == "dev[:80%]" and real.overrides["xcopa"].train_task == "copa"
    assert "en" not in real.overrides["xnli"].langs  # XNLI's English dev split is its training data here
    assert plan_matrix(real).languages["xcopa"] == ("et", "ht", "id", "it", "ta", "th", "tr", "vi", "zh")


def _synthetic_run() -> MatrixRun:
    """A planned matrix with hand-set scores (no model): two targets, two intermediates."""
    cfg = MatrixConfig(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind", "cldr_continent"),
                       benchmark="demo", langs=("de", "sw", "yo"))
    plan = plan_matrix(cfg)
    scores = {
        ("cldr_continent", "none", "none"): {"de": 50.0, "sw": 40.0, "yo": 30.0},
        ("cldr_continent", "sequential", "cldr_kind"): {"de": 54.0, "sw": 41.0, "yo": 36.0},
        ("cldr_kind", "none", "none"): {"de": 70.0, "sw": 60.0, "yo": 50.0},
        ("cldr_kind", "sequential", "cldr_continent"): {"de": 68.0, "sw": 60.0, "yo": 53.0},
    }
    cost = Cost(4, 4, 240, 240, 10.0, 5.0, 16.0, 4_000_000, 117_000_000, 4 * 117_000_000 * 4)
    return MatrixRun(plan, {}, scores, {}, cost)


def test_gain_heatmap_axes_and_values():
    run = _synthetic_run()
    assert run.mean_gain("cldr_continent", "sequential", "cldr_kind") == pytest.approx((4 + 1 + 6) / 3)
    assert run.mean_gain("cldr_kind", "sequential", "cldr_continent") == pytest.approx((-2 + 0 + 3) / 3)
    fig = gain_heatmap(run, "sequential")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cldr_continent", "cldr_kind"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cldr_kind", "cldr_continent"]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["+0.3", "+3.7", "n/a", "n/a"]  # the self cells: no gain, hatched and labelled, not a zero
    assert len([p for p in ax.patches if p.get_gid() == "not-applicable"]) == 2
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("target task", "intermediate task")
    fig = language_heatmap(run, "sequential")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["de", "sw", "yo"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cldr_continent <- cldr_kind", "cldr_kind <- cldr_continent"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["+4.0", "+1.0", "+6.0", "-2.0", "+0.0", "+3.0"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("language", "target <- intermediate task")


def test_language_heatmap_of_many_languages_is_a_legible_column_not_a_strip(tmp_path):
    """The demo's ~49 languages: one row per language (labels legible), "n/a" where a target has no score."""
    langs = ("af", "ar", "bg", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "sw")
    cfg = MatrixConfig(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind", "cldr_continent"),
                       benchmark="demo", langs=langs)
    scores = {("cldr_continent", "none", "none"): dict.fromkeys(langs, 50.0),
              ("cldr_continent", "sequential", "cldr_kind"): dict.fromkeys(langs, 52.0),
              ("cldr_kind", "none", "none"): dict.fromkeys(langs[:-1], 60.0),
              ("cldr_kind", "sequential", "cldr_continent"): dict.fromkeys(langs[:-1], 60.0)}
    run = MatrixRun(plan_matrix(cfg), {}, scores, {}, Cost(4, 4, 8, 8, 1.0, 1.0, 1.0, 1, 1, 1))
    fig = language_heatmap(run, "sequential")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == sorted(langs)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("target <- intermediate task", "language")
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("n/a") == 1 and texts.count("+0.0") == len(langs) - 1  # sw has no cldr_kind score
    height, width = mpimg.imread(save_figure(fig, tmp_path / "l.png")).shape[:2]
    assert height > width and width <= 1000 and height / len(langs) >= 20  # pixels per language row


def test_resource_plot_groups_languages_by_joshi_class():
    run = _synthetic_run()
    groups = resource_gains(run, "sequential")  # de: high (5); sw: low (2); yo: low (2)
    assert groups["cldr_kind"] == {"low": pytest.approx(3.5), "mid": None, "high": pytest.approx(4.0)}
    assert groups["cldr_continent"] == {"low": pytest.approx(1.5), "mid": None, "high": pytest.approx(-2.0)}
    fig = resource_plot(run, "sequential")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["low-resource", "mid-resource", "high-resource"]
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == sorted([3.5, 0.0, 4.0, 1.5, 0.0, -2.0])
    assert [t.get_text() for t in ax.texts] == ["n/a", "n/a"]  # no mid-resource language: not a zero gain
    assert ax.get_xlabel().startswith("language resource level") and ax.get_ylabel() == "mean gain (points)"


def test_saved_pngs_are_images_and_the_report_links_them(tmp_path):
    run = _synthetic_run()
    path = save_figure(gain_heatmap(run, "sequential"), tmp_path / "g.png")
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] >= 200 and image.shape[1] >= 300 and image.std() > 0
    files = write_matrix_report(run, tmp_path / "report")
    assert set(files) == {"report.md", "gains_sequential.png", "languages_sequential.png", "resource_sequential.png"}
    for name, file in files.items():
        assert Path(file).stat().st_size > 1000, name
        if name.endswith(".png"):
            assert mpimg.imread(file).shape[2] in (3, 4)
    md = Path(files["report.md"]).read_text()
    assert "![gains (sequential)](gains_sequential.png)" in md
    assert "| cldr_kind | +3.7 | n/a | - |" in md  # row of the gain table; the mean needs both targets
    assert "| none (score) | 50.0 | 40.0 | 30.0 |" in md
    assert "full fine-tuning" in md


def test_demo_runs_twice_with_identical_numbers_and_writes_a_report(tmp_path, tiny_dir, monkeypatch):
    cfg = DemoConfig(out_dir=str(tmp_path / "demo"), model=str(tiny_dir), steps=2, max_eval_examples=4)
    first = run_demo(cfg, progress=False)
    assert first.run.work_done
    assert Path(first.report_path).is_file() and Path(first.report["gains_sequential.png"]).stat().st_size > 0
    continent = first.run.scores[("cldr_continent", "sequential", "cldr_kind")]
    assert len(continent) == 48  # every cldr_continent language, zero-shot
    # every gain with its paired CI over the same 4 examples per language; the report says what is significant
    from toolkit.matrix import significance_summary

    tests = first.run.tests
    cell = tests.cells[("cldr_continent", "sequential", "cldr_kind")]
    assert cell.gain == pytest.approx(first.run.mean_gain("cldr_continent", "sequential", "cldr_kind"))
    assert cell.low <= cell.gain <= cell.high and cell.n_examples == 48 * 4
    assert len([k for k in tests.languages if k[0] == "cldr_continent"]) == 48
    md = Path(first.report_path).read_text()
    assert significance_summary(first.run) in md and "Holm correction" in md and cell.fmt() in md
    second = run_demo(cfg, progress=False)
    assert second.run.scores == first.run.scores
    assert {o.status for n, o in second.run.outcomes.items() if not n.startswith("eval:cldr_names:none")} <= {"skipped", "reused"}


@pytest.mark.slow
def test_xta_demo_cli_prints_the_matrix_and_the_report_path(tmp_path, tiny_dir):
    from cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--model", str(tiny_dir), "--steps", "2",
                                      "--max-eval-examples", "3"])
    assert result.exit_code == 0, result.output
    assert "transfer matrix (sequential)" in result.output and "cldr_continent" in result.output
    out = " ".join(result.output.split())
    assert "95% paired bootstrap CI" in out and "Holm correction" in out
    assert "No gain is significant after Holm correction" in out or "are significant (p < 0.05) after Holm" in out
    report = tmp_path / "d" / "report" / "report.md"
    assert f"report: {report}" in result.output.replace("\n", "") or str(report) in result.output
    assert report.is_file() and (tmp_path / "d" / "report" / "languages_sequential.png").is_file()


@pytest.mark.slow
def test_fresh_demo_twice_gives_identical_numbers(tmp_path, tiny_dir):
    """Two fresh directories, same seed: the same adapters and scores (determinism, not reuse)."""
    runs = [run_demo(DemoConfig(out_dir=str(tmp_path / d), model=str(tiny_dir), steps=3, max_eval_examples=5), progress=False)
            for d in ("a", "b")]
    assert runs[0].run.scores == runs[1].run.scores
    assert runs[0].run.gains("sequential") == runs[1].run.gains("sequential")

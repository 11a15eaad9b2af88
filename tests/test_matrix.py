"""The transfer matrix: planning (pure), running, resuming, cost, executors, and a SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from toolkit import encoders
from toolkit.errors import ConfigError
from toolkit.matrix import (
    MatrixConfig, TaskOverride, gain_rows, matrix_config_from_yaml, parse_intermediate, parse_overrides, plan_matrix,
    run_matrix,
)

REPO = Path(__file__).resolve().parents[1]
DEV = {"train_split": "dev[:80%]", "dev_split": "dev[80%:]"}


def _tiny_cfg(tmp_path, tiny_dir, **kw):
    base = dict(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind", "cldr_continent"),
                benchmark="demo", split="test", langs=("de", "fr", "sw"), model=str(tiny_dir), intermediate_steps=3,
                target_steps=3, max_length=24, max_eval_examples=8, batch_size=8,
                results_dir=str(tmp_path / "results"), artifacts_dir=str(tmp_path / "artifacts"))
    return MatrixConfig(**{**base, **kw})


# ---------------------------------------------------------------------------------------- planning


def test_plan_is_a_dependency_graph_with_recipes_and_not_applicable_cells(shared_data):
    cfg = MatrixConfig(targets=("xnli", "xcopa", "tatoeba"), intermediates=("anli", "anli+siqa", "anli,siqa"),
                       recipes=("sequential", "stack", "fuse"), langs=("local",), data_dir=str(shared_data),
                       overrides={"anli": DEV, "siqa": DEV, "xnli": DEV, "xcopa": {"train_task": "copa"}})
    plan = plan_matrix(cfg)
    nodes = plan.nodes
    # layer 0: the intermediate adapters, each once (anli serves three intermediate sets)
    assert sorted(n for n, node in nodes.items() if node.layer == 0) == ["train:anli", "train:mt_anli_and_siqa", "train:siqa"]
    assert nodes["train:mt_anli_and_siqa"].train.extra_tasks == ("siqa",)
    assert nodes["train:anli"].train.train_split == "dev[:80%]"
    # layer 1: target adapters per recipe; names hold only letters, digits, '_' and '.'
    seq = nodes["train:xnli__after__anli"].train
    assert (seq.recipe, seq.init_from, seq.task, seq.train_split) == ("sequential", "anli", "xnli", "dev[:80%]")
    assert nodes["train:xnli__above__anli__siqa"].train.intermediate == ("anli", "siqa")
    assert nodes["train:xcopa__fuse__anli__siqa"].train.recipe == "fuse"
    assert nodes["train:xcopa"].train.task == "copa"  # the train_task override; the adapter keeps the target's name
    assert nodes["train:xnli__after__anli"].deps == ("train:anli",)
    assert nodes["train:xnli__fuse__anli__siqa"].deps == ("train:anli", "train:siqa")
    # layer 2: evaluations of the setups that use them
    assert nodes["eval:xnli:stack:anli,siqa,xnli__above__anli__siqa"].deps == ("train:xnli__above__anli__siqa",)
    assert "eval:xcopa:fuse:anli,siqa>xcopa__fuse__anli__siqa" in nodes
    assert [n.layer for n in plan.order()] == sorted(n.layer for n in plan.order())
    cells = {(c.target, c.recipe, c.intermediate): c for c in plan.cells}
    assert cells[("xnli", "sequential", "anli,siqa")].setup is None  # sequential starts from one adapter
    assert cells[("tatoeba", "fuse", "anli")].setup is None  # no training signal for a fusion
    assert cells[("tatoeba", "sequential", "anli")].setup == "anli"  # representations through the adapter
    assert cells[("tatoeba", "none", "none")].setup == "none"
    # 3 targets x (1 baseline + 3 sets x 3 recipes) cells
    assert len(plan.cells) == 3 * (1 + 3 * 3)
    assert plan.languages["xcopa"] == ("et", "ht", "id", "it", "ta", "th", "tr", "vi", "zh")  # local files (no sw, qu)
    assert "sw" not in plan.languages["xnli"] and "en" in plan.languages["xnli"]


def test_per_task_budget_overrides_reach_the_target_adapters_only(shared_data):
    cfg = MatrixConfig(targets=("xnli",), intermediates=("anli",), langs=("en",), data_dir=str(shared_data),
                       target_steps=40, intermediate_steps=40, learning_rate=1e-4,
                       overrides={"anli": DEV, "xnli": {**DEV, "max_steps": 150, "learning_rate": "2e-3"}})
    nodes = plan_matrix(cfg).nodes
    inter, plain, seq = (nodes[f"train:{n}"].train for n in ("anli", "xnli", "xnli__after__anli"))
    assert (inter.max_steps, inter.learning_rate) == (40, 1e-4)
    assert (plain.max_steps, plain.learning_rate) == (150, 2e-3) == (seq.max_steps, seq.learning_rate)
    with pytest.raises(ConfigError, match="learning_rate"):
        TaskOverride(learning_rate=0)


def test_an_intermediate_that_is_also_a_target_is_one_training_and_no_self_cell():
    cfg = MatrixConfig(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind",), benchmark="demo",
                       intermediate_steps=5, target_steps=5)
    plan = plan_matrix(cfg)
    assert plan.nodes["train:cldr_kind"].layer == 0  # the plain cldr_kind target adapter == the intermediate
    cells = {(c.target, c.intermediate): c for c in plan.cells if c.recipe != "none"}
    assert cells[("cldr_kind", "cldr_kind")].setup is None and "itself" in cells[("cldr_kind", "cldr_kind")].note
    assert cells[("cldr_continent", "cldr_kind")].setup == "cldr_continent__after__cldr_kind"
    with pytest.raises(ConfigError, match="two different trainings"):
        plan_matrix(MatrixConfig(targets=("cldr_kind", "cldr_continent"), intermediates=("cldr_kind",), benchmark="demo",
                                 intermediate_steps=5, target_steps=6))


def test_config_checks_and_yaml(tmp_path):
    with pytest.raises(ConfigError, match="recipes"):
        MatrixConfig(targets=("xnli",), recipes=("sequentail",))
    with pytest.raises(ConfigError, match="intermediate"):
        parse_intermediate("anli+anli")
    with pytest.raises(ConfigError, match="TASK.KEY=VALUE"):
        parse_overrides(["anli:train_split=dev"])
    with pytest.raises(ConfigError, match="intermediate task"):
        plan_matrix(MatrixConfig(targets=("anli",)))
    assert parse_overrides(["anli.train_split=dev[:80%]", "xnli.langs=de,fr"]) == {
        "anli": {"train_split": "dev[:80%]"}, "xnli": {"langs": "de,fr"}}
    assert [m.name for m in parse_intermediate("anli+siqa,cosmosqa", prefix="p_")] == ["p_mt_anli_and_siqa", "p_cosmosqa"]
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""\
        targets: [xnli, xcopa]
        intermediates: [anli, cosmosqa]
        recipes: [sequential, stack]
        target_steps: 7
        overrides:
          xnli: {train_split: "dev[:80%]", langs: [de, fr]}
        """))
    cfg = matrix_config_from_yaml(path, target_steps=9, overrides={"anli": {"dev_split": "dev[80%:]"}})
    assert cfg.intermediates == ("none", "anli", "cosmosqa") and cfg.recipes == ("sequential", "stack")
    assert cfg.target_steps == 9  # flags override the file
    assert cfg.overrides["xnli"] == TaskOverride(train_split="dev[:80%]", langs=("de", "fr"))
    assert cfg.overrides["anli"].dev_split == "dev[80%:]"
    path.write_text("targets: [xnli]\nrecipe: [fuse]\n")
    with pytest.raises(ConfigError, match="did you mean 'recipes'"):
        matrix_config_from_yaml(path)


def test_an_unknown_language_in_a_task_override_is_an_error_not_a_smaller_evaluation():
    """Issue 18: `--set xnli.langs=de,xx` must not silently evaluate de only."""
    from toolkit.errors import UnknownLanguage
    from toolkit.matrix import _target_languages
    from toolkit.tasks import get_task

    bad = MatrixConfig(targets=("xnli",), intermediates=(), overrides={"xnli": {"langs": "de,fx"}})
    with pytest.raises(UnknownLanguage, match="unknown language for xnli 'fx'"):
        _target_languages(bad, get_task("xnli"))
    ok = MatrixConfig(targets=("xnli", "xcopa"), intermediates=(), langs=("de", "et"))  # matrix-wide: per target
    assert _target_languages(ok, get_task("xnli")) == ("de",) and _target_languages(ok, get_task("xcopa")) == ("et",)


# ---------------------------------------------------------------------------------------- running


def test_matrix_runs_resumes_without_model_work_and_reports_gains_and_cost(tmp_path, tiny_dir, monkeypatch):
    cfg = _tiny_cfg(tmp_path, tiny_dir)
    first = run_matrix(cfg)
    statuses = {k: o.status for k, o in first.outcomes.items()}
    assert statuses == {
        "train:cldr_kind": "trained", "train:cldr_continent": "trained",
        "train:cldr_continent__after__cldr_kind": "trained", "train:cldr_kind__after__cldr_continent": "trained",
        "eval:cldr_continent:cldr_continent": "evaluated", "eval:cldr_continent:cldr_continent__after__cldr_kind": "evaluated",
        "eval:cldr_kind:cldr_kind": "evaluated", "eval:cldr_kind:cldr_kind__after__cldr_continent": "evaluated",
    }
    # gains are computed from the stored per-language scores
    base = first.scores[("cldr_continent", "none", "none")]
    cell = first.scores[("cldr_continent", "sequential", "cldr_kind")]
    assert sorted(base) == sorted(cell) == ["de", "fr", "sw"]
    expected = sum(cell[l] - base[l] for l in base) / 3
    assert first.mean_gain("cldr_continent", "sequential", "cldr_kind") == pytest.approx(expected)
    assert first.gains("sequential")["cldr_continent"]["cldr_kind"] == {l: cell[l] - base[l] for l in base}
    header, rows = gain_rows(first, "sequential")
    assert header == ["intermediate", "cldr_continent", "cldr_kind", "mean"]
    assert rows[1][0] == "cldr_kind" and rows[1][2] == "n/a"  # the self cell is not a transfer
    # the gain with its paired 95% CI over the same examples (stored per-example rows), corrected over the matrix
    test = first.tests.cells[("cldr_continent", "sequential", "cldr_kind")]
    assert rows[1][1] == test.fmt() and rows[1][1].startswith(f"{expected:+.1f} [")
    assert test.gain == pytest.approx(expected) and test.low <= test.gain <= test.high and test.p_adjusted >= test.p_value
    assert set(first.tests.languages) == {("cldr_continent", "sequential", "cldr_kind", l) for l in base} | \
        {("cldr_kind", "sequential", "cldr_continent", l) for l in base}
    # each language record stores the CI beside its score, each predictions file the rows it came from
    from toolkit.results import RecordKey, ResultStore, encoder_id

    store = ResultStore(cfg.results_dir)
    key = RecordKey(encoder_id(cfg.model), "cldr_continent__after__cldr_kind", "cldr_continent")
    de = store.get(key).languages["de"]
    assert de.ci["low"] <= de.main <= de.ci["high"] and de.ci["resamples"] == 1000 and de.ci["seed"] == cfg.seed
    assert store.get_example_rows(key, "de").value() == pytest.approx(de.main) and de.ci["n_examples"] == 8
    # cost: 4 adapters, 3 steps each; bytes on disk; full fine-tuning = 4 fp32 copies of the encoder
    cost = first.cost
    params = _stored_parameters(tiny_dir)
    assert (cost.trainings, cost.trained_now, cost.steps, cost.steps_now) == (4, 4, 12, 12)
    assert cost.encoder_parameters == params
    assert cost.full_finetune_bytes == 4 * params * 4
    adapters = Path(cfg.artifacts_dir) / "adapters"
    assert cost.adapter_bytes == sum(p.stat().st_size for p in adapters.rglob("*") if p.is_file())
    # the second run does no work: not even loading the encoder
    encoders.clear_encoder_cache()

    def no_load(*a, **k):
        raise AssertionError("the encoder was loaded although the whole matrix is stored")

    monkeypatch.setattr(encoders, "load_encoder", no_load)
    second = run_matrix(cfg)
    assert not second.work_done
    assert {o.status for o in second.outcomes.values()} == {"skipped", "reused"}
    assert second.scores == first.scores and second.cost.steps_now == 0


def _stored_parameters(path: Path) -> int:
    """Parameters in the encoder's safetensors files, counted with the safetensors library itself."""
    import math

    from safetensors import safe_open

    total = 0
    for file in path.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total


def test_a_failing_training_blocks_its_cells_and_is_reported(tmp_path, tiny_dir):
    # xcopa trains from SIQA+COPA; no data dir: the target training fails, its evaluations are blocked
    cfg = MatrixConfig(targets=("xcopa",), intermediates=(), langs=("et",), model=str(tiny_dir), target_steps=2,
                       results_dir=str(tmp_path / "r"), artifacts_dir=str(tmp_path / "a"), data_dir=str(tmp_path / "empty"))
    run = run_matrix(cfg)
    assert run.outcomes["train:xcopa"].status == "failed" and "siqa" in run.outcomes["train:xcopa"].error.lower()
    assert run.outcomes["eval:xcopa:xcopa"].status == "blocked"
    assert run.baseline("xcopa") == {} and run.missing_languages("xcopa") == ["et"]


# ---------------------------------------------------------------------------------------- crash safety

_CHILD = """
import json, sys, time
from toolkit.matrix import MatrixConfig, run_matrix
cfg = MatrixConfig(**json.loads(sys.argv[1]))
def on_event(node, what, payload):
    if what == "done":
        print(f"done {node.id} {payload.status}", flush=True)
        time.sleep(0.3)
    elif what == "start":
        print(f"start {node.id}", flush=True)
run_matrix(cfg, on_event=on_event)
print("finished", flush=True)
"""


def test_sigkill_mid_run_then_rerun_keeps_everything_finished(tmp_path, tiny_dir):
    cfg = _tiny_cfg(tmp_path, tiny_dir, intermediate_steps=30, target_steps=30)
    args = {k: v for k, v in cfg.__dict__.items() if k not in ("overrides",)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finished_before: list[str] = []
    try:
        for line in proc.stdout:
            if line.startswith("done"):
                finished_before.append(line.split()[1])
            # kill inside the third node (a training of 30 steps) or inside the first evaluation
            if line.startswith("start") and len(finished_before) >= 2:
                time.sleep(0.2)
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert finished_before[:2] == ["train:cldr_kind", "train:cldr_continent"]
    adapters = Path(cfg.artifacts_dir) / "adapters"
    # what exists on disk at the kill: every node reported finished, perhaps the one running (if it just ended)
    stamps = {f"train:{p.parent.name}": p.stat().st_mtime_ns for p in adapters.glob("*/xta_card.json")}
    assert set(finished_before) <= set(stamps)
    rerun = run_matrix(cfg)
    for node, outcome in rerun.outcomes.items():
        if node in stamps:  # finished before the kill: kept, not recomputed
            assert outcome.status == "skipped", node
            assert (adapters / node.split(":", 1)[1] / "xta_card.json").stat().st_mtime_ns == stamps[node]
        else:
            assert outcome.status in ("trained", "evaluated", "reused"), (node, outcome)
    assert any(o.status == "trained" for o in rerun.outcomes.values())  # the kill left work to finish
    assert all(len(rerun.scores[k]) == 3 for k in rerun.scores)  # every cell has all three languages
    assert not any((Path(cfg.artifacts_dir) / "checkpoints").glob("*/state.json"))


# ---------------------------------------------------------------------------------------- executors


@pytest.mark.slow
def test_ray_executor_gives_the_same_scores_as_local(tmp_path, tiny_dir):
    pytest.importorskip("ray")
    local = run_matrix(_tiny_cfg(tmp_path / "local", tiny_dir))
    ray_run = run_matrix(_tiny_cfg(tmp_path / "ray", tiny_dir, executor="ray", ray_cpus=2))
    assert {k: o.status for k, o in ray_run.outcomes.items()} == {k: o.status for k, o in local.outcomes.items()}
    assert ray_run.scores == local.scores
    assert all(len(v) == 3 for v in ray_run.scores.values())
    again = run_matrix(_tiny_cfg(tmp_path / "ray", tiny_dir, executor="ray", ray_cpus=2))
    assert not again.work_done


def test_retrieval_layer_per_task_and_for_the_matrix():
    """``--set TASK.retrieval_layer=N`` and the MatrixConfig field reach each retrieval target's EvalConfig."""
    from toolkit.matrix import Node, _eval_config

    node = lambda target: Node(f"eval:{target}", "eval", (), target=target, setup="none", langs=("de",), layer=2)  # noqa: E731
    cfg = MatrixConfig(targets=("tatoeba", "bucc2018"), overrides=parse_overrides(["tatoeba.retrieval_layer=3"]))
    assert cfg.overrides["tatoeba"].retrieval_layer == 3
    assert _eval_config(cfg, node("tatoeba")).retrieval_layer == 3
    assert _eval_config(cfg, node("bucc2018")).retrieval_layer is None  # the encoder's protocol layer
    cfg = MatrixConfig(targets=("tatoeba", "bucc2018"), retrieval_layer=5,
                       overrides=parse_overrides(["tatoeba.retrieval_layer=0"]))
    assert _eval_config(cfg, node("tatoeba")).retrieval_layer == 0 and _eval_config(cfg, node("bucc2018")).retrieval_layer == 5


# ---------------------------------------------------------------------------------------- uncertainty


def _rows_run(correction="holm", shift=0.25):
    """A planned matrix with hand-made per-example rows: cldr_kind helps cldr_continent by about ``shift``
    in every language; cldr_continent leaves cldr_kind unchanged (the same predictions)."""
    import numpy as np

    from toolkit.matrix import Cost, MatrixRun
    from toolkit.stats import ExampleRows

    cfg = MatrixConfig(targets=("cldr_continent", "cldr_kind"), intermediates=("cldr_kind", "cldr_continent"),
                       benchmark="demo", langs=("de", "sw", "yo"), correction=correction, resamples=300, permutations=300)
    plan = plan_matrix(cfg)
    rng = np.random.default_rng(0)
    scores, rows = {}, {}
    for target, inter, recipe in (("cldr_continent", "none", "none"), ("cldr_kind", "none", "none")):
        base = {l: rng.random(200) < 0.4 for l in ("de", "sw", "yo")}
        better = {l: b | (rng.random(200) < shift) for l, b in base.items()} if target == "cldr_continent" else base
        other = ("sequential", "cldr_kind") if target == "cldr_continent" else ("sequential", "cldr_continent")
        for key, vals in (((target, recipe, inter), base), ((target, *other), better)):
            rows[key] = {l: ExampleRows("accuracy", "mean", tuple(map(str, range(200))), v.astype(float)) for l, v in vals.items()}
            scores[key] = {l: r.value() for l, r in rows[key].items()}
    cost = Cost(4, 0, 0, 0, 0.0, 0.0, 0.0, 1, 1, 4)
    return MatrixRun(plan, {}, scores, {}, cost, rows=rows)


def test_gains_get_paired_cis_tests_and_a_named_correction():
    from toolkit.matrix import language_rows, significance_note, significance_summary
    from toolkit.stats import holm

    run = _rows_run()
    tests = run.tests
    helped = tests.cells[("cldr_continent", "sequential", "cldr_kind")]
    same = tests.cells[("cldr_kind", "sequential", "cldr_continent")]
    assert helped.significant and helped.low > 0 and not same.significant and same.gain == 0.0
    header, rows = gain_rows(run, "sequential")
    assert rows[1][1] == helped.fmt() and rows[1][1].endswith("*") and rows[2][2] == "+0.0 [+0.0, +0.0]"
    assert rows[1][3] == "-" and not tests.means  # no mean over targets: each intermediate's self cell is n/a
    # Holm over the family of mean gains (cells and means), recomputed from the raw p-values
    family = [*tests.cells.values(), *tests.means.values()]
    assert [c.p_adjusted for c in family] == pytest.approx(holm([c.p_value for c in family]))
    note = significance_note(run)
    assert "Holm correction over the 2 mean gains" in note and "300 permutations" in note
    assert significance_summary(run).startswith("1 of 2 mean gains and 3 of 6 per-language gains are significant")
    _, lang_rows = language_rows(run, "sequential", "cldr_continent")
    assert all(cell.endswith("]*") for cell in lang_rows[1][1:])
    assert "Benjamini-Hochberg" in significance_note(_rows_run("bh"))
    assert "no correction" in significance_note(_rows_run("none"))


def test_no_significant_gain_is_said_plainly_and_greyed_out_in_the_heatmaps():
    from toolkit.matrix import significance_summary
    from toolkit.plots import gain_heatmap, language_heatmap

    run = _rows_run(shift=0.0)
    assert significance_summary(run).startswith("No gain is significant after Holm correction")
    ax = gain_heatmap(run, "sequential").axes[0]
    grey = [p for p in ax.patches if p.get_gid() == "not-significant"]
    assert len(grey) == 2 and not any(t.get_text().endswith("*") for t in ax.texts)
    ax = language_heatmap(_rows_run(), "sequential").axes[0]
    assert len([p for p in ax.patches if p.get_gid() == "not-significant"]) == 3  # cldr_kind <- cldr_continent
    assert sum(t.get_text().endswith("*") for t in ax.texts) == 3


def test_uncertainty_options_are_checked():
    with pytest.raises(ConfigError, match="correction"):
        MatrixConfig(targets=("xnli",), correction="bonferroni")
    with pytest.raises(ConfigError, match="resamples"):
        MatrixConfig(targets=("xnli",), resamples=-1)
    run = _rows_run()
    off = type(run)(plan_matrix(MatrixConfig(**{**run.config.__dict__, "resamples": 0})), {}, run.scores, {}, run.cost, rows=run.rows)
    assert not off.tests.cells and gain_rows(off, "sequential")[1][1][1] == f"{run.mean_gain('cldr_continent', 'sequential', 'cldr_kind'):+.1f}"


def test_the_mean_over_targets_resamples_examples_within_each_target_language():
    import numpy as np

    from toolkit.matrix import Cost, MatrixRun
    from toolkit.stats import ExampleRows, compare

    cfg = MatrixConfig(targets=("cldr_continent", "cldr_names"), intermediates=("cldr_kind",), benchmark="demo",
                       langs=("de", "sw"), resamples=300, permutations=300)
    rng = np.random.default_rng(1)
    scores, rows = {}, {}
    for target, n in (("cldr_continent", 150), ("cldr_names", 90)):
        base = {l: rng.random(n) < 0.5 for l in ("de", "sw")}
        for key, vals in (((target, "none", "none"), base),
                          ((target, "sequential", "cldr_kind"), {l: b | (rng.random(n) < 0.1) for l, b in base.items()})):
            rows[key] = {l: ExampleRows("accuracy", "mean", tuple(map(str, range(n))), v.astype(float)) for l, v in vals.items()}
            scores[key] = {l: r.value() for l, r in rows[key].items()}
    run = MatrixRun(plan_matrix(cfg), {}, scores, {}, Cost(3, 0, 0, 0, 0.0, 0.0, 0.0, 1, 1, 3), rows=rows)
    mean = run.tests.means[("sequential", "cldr_kind")]
    per_target = [run.mean_gain(t, "sequential", "cldr_kind") for t in cfg.targets]
    assert mean.gain == pytest.approx(sum(per_target) / 2) and mean.low <= mean.gain <= mean.high
    assert mean.n_examples == 2 * 150 + 2 * 90
    header, table = gain_rows(run, "sequential")
    assert table[1][3] == mean.fmt()
    single = compare(rows[("cldr_names", "none", "none")]["de"], rows[("cldr_names", "sequential", "cldr_kind")]["de"], 300, 300)
    assert mean.high - mean.low < single.high - single.low  # four languages' examples pin the mean down more


def test_resource_groups_get_error_bars_from_examples_resampled_within_their_languages():
    from toolkit.plots import resource_gains, resource_intervals, resource_plot

    run = _rows_run()  # de: high-resource; sw, yo: low-resource
    intervals = resource_intervals(run, "sequential")
    gains = resource_gains(run, "sequential")
    low = intervals["cldr_kind"]["low"]
    assert low.gain == pytest.approx(gains["cldr_kind"]["low"]) and low.low <= low.gain <= low.high and low.n_examples == 400
    assert "mid" not in intervals["cldr_kind"] and intervals["cldr_continent"]["high"].gain == 0.0
    ax = resource_plot(run, "sequential").axes[0]
    from matplotlib.container import BarContainer

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(c.errorbar is not None for c in bars)
    low_bar = bars[0].errorbar.lines[2][0].get_segments()[0]  # cldr_kind's bar over the low-resource group
    assert low_bar[:, 1] == pytest.approx([low.low, low.high])


def test_a_single_target_mean_is_its_cell_and_not_a_second_test():
    run = _rows_run()
    cfg = MatrixConfig(**{**run.config.__dict__, "targets": ("cldr_continent",), "intermediates": ("cldr_kind",)})
    rows = {k: v for k, v in run.rows.items() if k[0] == "cldr_continent" and k[2] in ("none", "cldr_kind")}
    one = type(run)(plan_matrix(cfg), {}, {k: run.scores[k] for k in rows}, {}, run.cost, rows=rows)
    assert not one.tests.means and len(one.tests.cells) == 1
    _, table = gain_rows(one, "sequential")
    assert table[1][1] == table[1][2] == one.tests.cells[("cldr_continent", "sequential", "cldr_kind")].fmt()


def test_seeds_are_a_dimension_with_mean_sd_and_a_ci_over_seeds_and_examples(tmp_path, tiny_dir):
    """Issue 17: `--seeds 1,2` runs one matrix per seed (adapters s1_..., s2_...), reuses finished seeds,
    and reports each gain as the mean over seeds ± their sd with a two-stage CI (toolkit.stats.compare_seeds)."""
    from statistics import fmean, stdev

    from typer.testing import CliRunner

    from cli import app
    from toolkit.matrix import run_matrix_seeds, seed_config, seed_gain_rows
    from toolkit.stats import compare_seeds, derived_seed

    cfg = _tiny_cfg(tmp_path, tiny_dir, targets=("cldr_continent",), intermediates=("cldr_kind",), seeds="1,2")
    assert cfg.seeds == (1, 2) and seed_config(cfg, 2).prefix == "s2_" and seed_config(cfg, 2).seed == 2
    sr = run_matrix_seeds(cfg)
    adapters = sorted(p.name for p in (Path(cfg.artifacts_dir) / "adapters").iterdir())
    assert adapters == ["s1_cldr_continent", "s1_cldr_continent__after__s1_cldr_kind", "s1_cldr_kind",
                        "s2_cldr_continent", "s2_cldr_continent__after__s2_cldr_kind", "s2_cldr_kind"]
    key = ("cldr_continent", "sequential", "cldr_kind")
    gains = sr.seed_gains(*key)
    assert len(gains) == 2 and gains == [r.mean_gain(*key) for r in sr.runs.values()]
    test = sr.tests.cells[key]
    restated = compare_seeds([{l: (r.rows[("cldr_continent", "none", "none")][l], r.rows[key][l]) for l in r.baseline("cldr_continent")}
                              for r in sr.runs.values()], cfg.resamples, cfg.permutations,
                             seed=derived_seed(cfg.seed, "seeds", *key))
    assert (test.gain, test.low, test.high, test.p_value) == (restated.gain, restated.low, restated.high, restated.p_value)
    assert test.gain == pytest.approx(fmean(gains)) and test.sd == pytest.approx(stdev(gains))
    header, rows = seed_gain_rows(sr, "sequential")
    assert header == ["intermediate", "cldr_continent"] and rows[1] == ["cldr_kind", test.fmt()]
    again = run_matrix_seeds(cfg)  # finished seeds are reused like any cell
    assert not again.work_done and again.seed_gains(*key) == gains
    result = CliRunner().invoke(app, ["matrix", "--targets", "cldr_continent", "-i", "cldr_kind", "--benchmark", "demo",
                                      "--split", "test", "--langs", "de,fr,sw", "--model", str(tiny_dir), "--seeds", "1,2",
                                      "--intermediate-steps", "3", "--target-steps", "3", "--max-length", "24",
                                      "--max-eval-examples", "8", "--batch-size", "8", "--results-dir", cfg.results_dir,
                                      "--artifacts-dir", cfg.artifacts_dir, "--report-dir", str(tmp_path / "rep")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "over 2 seeds" in result.output and "Means over 2 seeds (1, 2)" in result.output
    assert test.fmt() in (tmp_path / "rep" / "seeds.md").read_text()

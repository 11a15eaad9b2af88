"""The performance benchmarks (benchmarks/*.py): each runs with ``--quick`` and writes sane JSON and its own
README section (never touching the others); the helpers they share compute what they claim.

No timing assertions: the figures of a ``--quick`` run are meaningless by design.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

common = importlib.import_module("common")
flops = importlib.import_module("flops")
eval_throughput = importlib.import_module("eval_throughput")
gpu_check = importlib.import_module("gpu_check")

OTHER_SECTION = "<!-- retrieval:start -->\n## Retrieval\n\n| a | b |\n|---:|---:|\n| 1 | 2 |\n<!-- retrieval:end -->"


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Benchmarks run in-process call ``torch.set_num_threads``; give later tests the count they had."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def readme(tmp_path: Path) -> Path:
    """A README holding another benchmark's section, which no benchmark here may change."""
    path = tmp_path / "README.md"
    path.write_text(f"# Benchmarks\n\n{OTHER_SECTION}\n", encoding="utf-8")
    return path


def section(text: str, name: str) -> str:
    start, end = common.markers(name)
    assert text.count(start) == 1 and text.count(end) == 1, f"one {name} section expected"
    return text[text.index(start):text.index(end) + len(end)]


# ------------------------------------------------------------------------------------------------
# shared helpers
# ------------------------------------------------------------------------------------------------


def test_replace_section_keeps_everything_else_byte_for_byte():
    text = f"# T\n\nintro\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\n{OTHER_SECTION}\ntail\n"
    out = common.replace_section(text, "a", "new a\n")
    assert out == f"# T\n\nintro\n\n<!-- a:start -->\nnew a\n<!-- a:end -->\n\n{OTHER_SECTION}\ntail\n"
    appended = common.replace_section("# T\n", "b", "B")
    assert appended == "# T\n\n<!-- b:start -->\nB\n<!-- b:end -->\n"
    with pytest.raises(ValueError, match="no matching"):
        common.replace_section("<!-- a:start -->\nx\n", "a", "y")


def test_update_section_adds_intro_once_and_preserves_other_sections(readme: Path):
    common.update_section(readme, "demo", "## Demo\n\n| x |\n|---:|\n| 1 |")
    common.update_section(readme, "demo", "## Demo\n\nsecond")
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\n<!-- intro:start -->\n")
    assert text.count("<!-- intro:start -->") == 1
    assert section(text, "retrieval") == OTHER_SECTION
    assert section(text, "demo") == "<!-- demo:start -->\n## Demo\n\nsecond\n<!-- demo:end -->"
    assert common.update_section("none", "demo", "x") is None


def test_median_time_runs_warmup_then_repeats():
    calls = []
    median, times = common.median_time(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and len(times) == 5
    assert median == sorted(times)[2]


def test_table_alignment():
    assert common.table(["a", "b"], [[1, 2]]) == "| a | b |\n|:---|---:|\n| 1 | 2 |"


def test_load_text_says_whether_other_jobs_shared_the_machine():
    assert common.load_text([0.4, 1, 1], [1.9, 1, 1], 2).endswith("(at most the core count: no other heavy job ran)")
    assert common.load_text([0.4, 1, 1], [2.5, 1, 1], 2).endswith("other jobs shared the machine)")
    assert common.load_text(None, None, 2) == "load average None at start, None at end"


def test_peak_rss_reset_and_read():
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux-only")
    import mmap

    if not common.reset_peak_rss():  # said so, not pretended: train_cost then reports a peak since process start
        assert common.peak_rss_bytes() >= common.rss_bytes()
        pytest.skip("this kernel did not reset VmHWM (clear_refs 5)")
    before = common.peak_rss_bytes()
    assert before is not None
    # a fresh anonymous mapping, every page written: 64 MiB that were not resident before (a bytes object could
    # reuse pages the allocator kept resident after earlier tests in this worker freed them)
    block = mmap.mmap(-1, 64 * 2**20)
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1
    assert common.peak_rss_bytes() >= before + 60 * 2**20
    block.close()


# ------------------------------------------------------------------------------------------------
# analytic FLOP count and prediction comparison
# ------------------------------------------------------------------------------------------------


def test_sequence_flops_hand_computed():
    # d=2, f=4, n=1, k=3, L=3: linear 2*(4*4 + 2*2*4)*3 = 192; attention 4*3*3*2 = 72; head 2*(4 + 6) = 20
    assert flops.sequence_flops(3, hidden=2, ffn=4, layers=1, labels=3) == 284
    # two layers double the encoder part only
    assert flops.sequence_flops(3, hidden=2, ffn=4, layers=2, labels=3) == 2 * 264 + 20


def test_batch_flops_real_vs_executed_by_length_groups():
    dims = {"hidden": 2, "ffn": 4, "layers": 1, "labels": 3}
    s = {n: flops.sequence_flops(n, **dims) for n in (1, 2, 3)}
    real, executed = flops.batch_flops([3, 1, 2], 2, dims)
    assert real == s[3] + s[1] + s[2]
    assert executed == 2 * s[3] + s[1]  # batches [len 3, len 2] padded to 3, then [len 1]


def test_disagreements_allow_only_float_ties():
    import torch

    a = torch.tensor([[1.0, 0.0, -1.0], [0.50000, 0.49999, 0.0], [0.0, 2.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, -1.0], [0.49999, 0.50000, 0.0], [2.0, 0.0, 1.0]])
    assert eval_throughput.disagreements(a, b) == (2, 1)  # row 1 is a tie, row 2 a real disagreement


# ------------------------------------------------------------------------------------------------
# each benchmark, --quick
# ------------------------------------------------------------------------------------------------


def test_train_cost_quick(tmp_path: Path, readme: Path):
    out = tmp_path / "train_cost.json"
    proc = subprocess.run([sys.executable, str(BENCH / "train_cost.py"), "--quick", "--out", str(out), "--readme", str(readme)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["quick"] is True and len(res["rows"]) == 1
    row = res["rows"][0]
    a, f = row["runs"]["adapter"], row["runs"]["full"]
    assert a["params"] > f["params"]  # the adapter adds parameters ...
    assert a["trainable_params"] < f["trainable_params"] == f["params"]  # ... but trains far fewer
    for run in (a, f):
        assert len(run["step_s"]) == row["steps"] and run["step_s_median"] > 0
        assert run["grads_bytes"] == 4 * run["trainable_params"]  # fp32 gradients
        # AdamW: exp_avg + exp_avg_sq per trainable tensor (+ a 4-byte step counter each)
        assert 2 * run["grads_bytes"] < run["optimizer_state_bytes"] < 2 * run["grads_bytes"] + 4 * 1000
        assert run["peak_bytes"] > 0 and run["peak_reset"] is True
        assert run["attn_implementation"] == "sdpa"
    assert row["time_ratio"] == pytest.approx(a["step_s_median"] / f["step_s_median"])
    assert row["memory_ratio"] == pytest.approx(a["peak_bytes"] / f["peak_bytes"])
    d = row["runs"]["adapter_drop"]  # AdapterDrop: the adapter of the lower half (layer 0 of 2) left out
    assert f["trainable_params"] > a["trainable_params"] > d["trainable_params"] > 0
    assert row["drop_time_ratio"] == pytest.approx(d["step_s_median"] / f["step_s_median"])
    text = readme.read_text()
    assert section(text, "retrieval") == OTHER_SECTION
    body = section(text, "train_cost")
    assert "QUICK RUN" in body and "Target adapter step time <= 0.30x" in body and "AdapterDrop" in body
    assert ("PASS" in body or "MISS" in body) and "Target adapter step time" in proc.stdout


def test_eval_throughput_quick(tmp_path: Path, readme: Path, shared_data: Path):
    out = tmp_path / "eval_throughput.json"
    assert eval_throughput.main(["--quick", "--out", str(out), "--readme", str(readme), "--data-dir", str(shared_data)]) == 0
    res = json.loads(out.read_text())
    s = res["summary"]
    assert set(res["languages"]) == {"en", "ar"} and s["examples"] == 16
    assert s["identical_predictions"] is True
    assert s["real_tokens"] == sum(r["real_tokens"] for r in res["languages"].values())
    for r in res["languages"].values():
        assert 8 * 3 < r["real_tokens"] < r["padded_tokens_naive"] == 8 * 128  # <s> a </s></s> b </s> at least
    assert s["speedup"] == pytest.approx(s["seconds"]["naive"] / s["seconds"]["xta"])
    body = section(readme.read_text(), "eval_throughput")
    assert "Target xta evaluation >= 3x" in body and "Predictions identical: yes" in body
    assert section(readme.read_text(), "retrieval") == OTHER_SECTION


def test_flops_quick(tmp_path: Path, readme: Path, shared_data: Path):
    out = tmp_path / "flops.json"
    assert flops.main(["--quick", "--out", str(out), "--readme", str(readme), "--data-dir", str(shared_data)]) == 0
    res = json.loads(out.read_text())
    s = res["summary"]
    assert [p["when"] for p in res["matmul"]] == ["before", "after"]
    assert set(res["matmul"][0]["per_size"]) == {"128", "256"}
    assert s["matmul_peak_flops_per_s"] == max(p["flops_per_s"] for p in res["matmul"])
    assert s["executed_flops"] >= s["real_flops"] > 0
    assert s["fraction_real"] == pytest.approx(s["real_flops"] / s["seconds"] / s["matmul_peak_flops_per_s"])
    d = res["dims"]
    assert d == {"hidden": 32, "ffn": 64, "layers": 2, "labels": 3}  # tiny_encoder's defaults, XNLI's labels
    # each sequence costs at least its linear-layer FLOPs, so real FLOPs >= tokens * that per-token cost
    assert s["real_flops"] >= s["real_tokens"] * d["layers"] * 2 * (4 * 32 * 32 + 2 * 32 * 64)
    assert "Target evaluation forward FLOP/s" in section(readme.read_text(), "flops")


def test_gpu_check_without_cuda_skips_cleanly(tmp_path: Path, readme: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--out", str(out), "--readme", str(readme)]) == 0
    assert json.loads(out.read_text())["skipped"] == "no CUDA"
    assert "Not run: no CUDA" in section(readme.read_text(), "gpu_check")
    assert gpu_check.main(["--out", str(out), "--readme", "none", "--require-gpu"]) == 1
    assert section(readme.read_text(), "retrieval") == OTHER_SECTION


def test_gpu_check_code_path_on_cpu(tmp_path: Path, readme: Path, monkeypatch):
    """``--allow-cpu --quick`` runs the GPU script's own code (tiny config) where there is no GPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--quick", "--allow-cpu", "--out", str(out), "--readme", str(readme)]) == 0
    res = json.loads(out.read_text())
    t = res["train"]
    assert res["attn_implementation"] == "sdpa" and res["machine"]["device"] == "cpu"
    assert t["adapter"]["trainable_params"] < t["full"]["trainable_params"]
    assert len(t["full"]["step_s"]) == t["steps"] == 2
    assert res["eval"]["tokens_per_s"] > 0 and res["memory_ratio"] is None
    assert "NOT MEASURED" in section(readme.read_text(), "gpu_check")


def test_gpu_check_imports_only_torch_transformers_adapters():
    """The GPU script must run with only torch, transformers and adapters installed (plus the stdlib)."""
    source = (BENCH / "gpu_check.py").read_text() + (BENCH / "common.py").read_text()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.strip().startswith(("import ", "from ")) and not line.strip().startswith("from __future__")}
    third_party = imported - set(sys.stdlib_module_names) - {"common"}
    assert third_party <= {"torch", "transformers", "adapters"}, third_party


def test_matrix_cost_quick(tmp_path: Path, readme: Path):
    import matrix_cost

    out = tmp_path / "matrix_cost.json"
    assert matrix_cost.main(["--quick", "--out", str(out), "--readme", str(readme)]) == 0
    results = json.loads(out.read_text())
    first, second = results["first_run"], results["re_run"]
    assert first["trained_now"] == first["trainings"] > 0 and first["nodes_recomputed"] > 0
    assert second["nodes_recomputed"] == 0 and second["trained_now"] == 0
    assert first["full_finetune_bytes"] == first["trainings"] * first["encoder_parameters"] * 4
    assert "<!-- matrix_cost:start -->" in readme.read_text()


def test_transfer_study_quick(tmp_path: Path, shared_data: Path):
    """The X-STILTs study's pipeline on a tiny encoder (issue 17): results, failed cells, the spliced
    Findings section. Never the finding itself (the quick figures are meaningless)."""
    import transfer_study

    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Findings\n\n<!-- transfer_study:start -->\nplaceholder\n<!-- transfer_study:end -->\n\n"
                      "## Status\n\nkept\n", encoding="utf-8")
    out = tmp_path / "transfer_study.json"
    assert transfer_study.main(["--quick", "--out", str(out), "--readme", str(readme), "--data-dir", str(shared_data)]) == 0
    res = json.loads(out.read_text())
    assert res["quick"] is True and res["estimate"]["trainings"] > 0 and res["estimate"]["total_seconds"] > 0
    a = res["analysis"]
    assert a["english_dev"] and {r["target"] for r in a["english_dev"]} == set(res["design"]["targets"])
    failed = {(f["recipe"], f["target"], f["intermediate"]) for f in a["failed_cells"]}
    for r in a["english_dev"]:  # every adapter below its threshold is a failed cell, and never a gain
        if r["failed_seeds"]:
            assert (r["recipe"], r["target"], r["intermediate"]) in failed
    assert not {(g["recipe"], g["target"], g["intermediate"]) for g in a["gains"]} & failed
    for g in a["gains"]:
        assert g["low"] <= g["high"] and 0.0 <= g["p_holm"] <= 1.0 and g["group"] in ("all", "low", "mid", "high")
    assert set(res["diversity"]["trends"]) == {"all", "low", "mid", "high"}
    text = readme.read_text(encoding="utf-8")
    assert "placeholder" not in text and text.endswith("## Status\n\nkept\n") and text.count("<!-- transfer_study:start -->") == 1
    assert "`--quick` pipeline check" in text


def test_demo_time_quick_runs_the_demo_and_judges_only_an_idle_machine(tmp_path: Path, readme: Path):
    import demo_time

    out = tmp_path / "demo_time.json"
    assert demo_time.main(["--quick", "--out", str(out), "--readme", str(readme)]) == 0
    results = json.loads(out.read_text())
    run = results["run"]
    assert run["exit_code"] == 0 and run["cpu_s"] > 0 and run["wall_s"] > 0 and run["train_wall_s"] is not None
    assert run["significance_sentence"] and "significant" in run["significance_sentence"]
    assert {"gains_sequential.png", "languages_sequential.png", "resource_sequential.png"} <= set(run["figures"])
    assert "<!-- demo_time:start -->" in readme.read_text()
    idle = {**results, "machine": {**results["machine"], "cpus": 2, "load_average": [0.1, 0.1, 0.1]},
            "load_average_end": [1.0, 0.5, 0.2], "run": {**run, "wall_s": 250.0}}
    assert "PASS" in demo_time.render(idle)
    assert "MISS" in demo_time.render({**idle, "run": {**run, "wall_s": 400.0}})
    loaded = demo_time.render({**idle, "load_average_end": [5.0, 4.0, 3.0]})
    assert "MISS" in loaded and "not an idle-machine figure" in loaded

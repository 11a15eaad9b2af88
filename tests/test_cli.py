"""The CLI through Typer's runner: thin commands over the library, one-line errors with exit code 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from toolkit import encoders

runner = CliRunner()


def test_tasks_lists_12_targets_and_the_cards():
    result = runner.invoke(app, ["tasks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa",
                 "pawsx", "bucc2018", "mnli", "anli_plus", "squad_v1", "hellaswag", "ccg", "boolq"):
        assert f" {name} " in result.output


def test_tasks_show_names_languages_and_local_availability(shared_data):
    result = runner.invoke(app, ["tasks", "show", "xnli", "--data-dir", str(shared_data)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "15: ar bg de el en es fr hi ru sw th tr ur vi zh" in result.output
    assert "ar bg de el en es fr hi ru th tr vi zh" in result.output  # sw and ur are not in the shared data


def test_unknown_task_is_one_line_with_a_suggestion():
    result = runner.invoke(app, ["tasks", "show", "xnl"])
    assert result.exit_code == 1
    assert "did you mean 'xnli'" in result.output and "Traceback" not in result.output


def test_select_by_size_prints_the_command(shared_data):
    result = runner.invoke(app, ["select", "--target", "xcopa", "--candidates", "siqa,cosmosqa,anli,copa",
                                 "--estimator", "size", "--budget", "2", "--data-dir", str(shared_data)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # the cards' full training sets (ANLI R1-R3 162,865; SocialIQa 33,410), not the dev sets that load offline
    assert "chosen for xcopa (mean): anli, siqa" in result.output
    assert "size of siqa: card: Sap et al. (2019)" in result.output
    line = result.output.split("train it with: ", 1)[1].split("\n")[0]  # one line, never wrapped
    assert line.endswith(f" && xta fuse --tasks anli,siqa --target xcopa --data-dir {shared_data}")
    _assert_parses(line)


def _assert_parses(command: str) -> None:
    """Every ``&&``-joined xta command line parses with the CLI (no run: click's own argument parsing)."""
    import shlex

    import typer.main

    group = typer.main.get_command(app)
    for part in command.split(" && "):
        words = shlex.split(part)
        assert words[0] == "xta", part
        sub = group.get_command(None, words[1])
        assert sub is not None, part
        sub.make_context(words[1], words[2:])  # raises click.UsageError on an unknown option or bad value


def test_select_by_dataset_embedding_on_a_local_encoder(shared_data, tmp_path):
    enc = encoders.tiny_encoder(seed=2)
    enc.model.save_pretrained(tmp_path / "enc", safe_serialization=True)
    enc.tokenizer.save_pretrained(tmp_path / "enc")
    result = runner.invoke(app, ["select", "--target", "xcopa", "--candidates", "cosmosqa,anli,copa", "--n", "40",
                                 "--semb-model", str(tmp_path / "enc"), "--data-dir", str(shared_data)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "semb estimates for xcopa" in result.output and "train it with: xta train-adapter --task" in result.output
    assert f"SEmb model: {tmp_path / 'enc'}" in result.output


@pytest.mark.parametrize("command", ["tasks", "encoders", "train-adapter", "eval", "report", "export", "select",
                                     "push", "pull", "fuse", "stack", "train-lang-adapter", "register-lang-adapter",
                                     "fusion-attention"])
def test_every_command_documents_its_options(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output


# ------------------------------------------------------------------ issue 18: errors are text, never markup


def test_error_text_keeps_its_brackets_and_a_bracketed_data_dir_is_a_folder_not_a_pattern(shared_data, tmp_path):
    result = runner.invoke(app, ["tasks", "show", "xn[li]"])
    assert result.exit_code == 1 and "xn[li]" in result.output and "Traceback" not in result.output
    data = tmp_path / "data[v2]"  # as a glob pattern, this would match data2/datav/... but never itself
    data.mkdir()
    (data / "xnli").symlink_to(shared_data / "xnli")
    result = runner.invoke(app, ["tasks", "show", "xnli", "--data-dir", str(data)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "ar bg de el en es fr hi ru th tr vi zh" in result.output  # the files were found in data[v2]/


@pytest.mark.parametrize("exc, shown", [
    (ValueError("cannot read [row 3]"), "unexpected ValueError: cannot read [row 3]"),
    (PermissionError(13, "Permission denied", "/ro/results[1].json"), "/ro/results[1].json: Permission denied"),
])
def test_an_unexpected_exception_is_one_line_not_a_traceback(monkeypatch, exc, shown):
    def boom():
        raise exc

    monkeypatch.setattr(encoders, "list_encoders", boom)
    result = runner.invoke(app, ["encoders"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert shown in result.output and "re-run with -v" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_an_explicitly_empty_language_list_is_an_error_not_every_language():
    result = runner.invoke(app, ["eval", "--tasks", "xnli", "--langs", ","])
    assert result.exit_code == 1 and "--langs: empty" in result.output


def test_train_adapter_yaml_and_flags_sit_above_the_card(tmp_path, monkeypatch, shared_data):
    """Issue 16 item 3: --config values and flags win over the card's training block; the card fills
    the rest for the task finally trained (a YAML naming another task does not carry that task's card)."""
    import types

    seen = []

    def fake_train(cfg, **kw):
        seen.append(cfg)
        return types.SimpleNamespace(skipped=True, name=cfg.name, dev_scores={}, path=tmp_path, resumed_from=None)

    monkeypatch.setattr("toolkit.train.train_adapter", fake_train)
    yaml_file = tmp_path / "train.yaml"
    yaml_file.write_text("task: squad_v1\nbatch_size: 8\n", encoding="utf-8")
    result = runner.invoke(app, ["train-adapter", "--config", str(yaml_file), "--task", "copa", "--epochs", "1",
                                 "--data-dir", str(shared_data)])  # the data is checked before training (issue 20)
    assert result.exit_code == 0, result.output
    cfg = seen[-1]
    # copa's card: max_length 64 (not squad_v1's 384, which the YAML only implied), epochs from the flag
    assert (cfg.task, cfg.batch_size, cfg.epochs, cfg.max_length) == ("copa", 8, 1.0, 64)
    assert cfg.defaults_applied == {"learning_rate": "card copa", "max_length": "card copa"}


# --------------------------------------------------------------------------------------------------
# issue 20: machine-readable output, pipes, -v anywhere
# --------------------------------------------------------------------------------------------------


def _json_stdout(result) -> object:
    import json

    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


def test_tasks_json_lists_every_task_with_its_languages():
    rows = _json_stdout(runner.invoke(app, ["tasks", "--json"]))
    by_name = {r["task"]: r for r in rows}
    assert by_name["xnli"]["n_langs"] == len(by_name["xnli"]["langs"]) == 15 and by_name["xnli"]["target"]
    assert by_name["commonsenseqa"]["target"] is False
    demo = _json_stdout(runner.invoke(app, ["tasks", "--benchmark", "demo", "--json"]))
    assert [r["task"] for r in demo] == ["cldr_kind", "cldr_continent", "cldr_names"]


def test_a_piped_table_never_cuts_the_task_names():
    """`xta tasks | grep commonsenseqa`: no terminal, no COLUMNS, the names whole."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, str(root / "cli.py"), "tasks"], capture_output=True, text=True, env=env,
                         check=True).stdout
    lines = [line for line in out.splitlines() if "commonsenseqa" in line]
    assert len(lines) == 1 and "…" not in out
    # through the runner too (stdout is not a terminal there either), with the longest names
    result = runner.invoke(app, ["tasks"], env={"COLUMNS": ""})
    assert "…" not in result.stdout and " commonsenseqa " in result.stdout and " english training source " in result.stdout


def _store_with_demo_scores(root):
    from toolkit.results import LangResult, RecordKey, ResultStore, RunInfo

    store = ResultStore(root)
    run = RunInfo(task_version=1, encoder_name="embedded", setup="none", config={}, config_hash="h",
                  main_metric="accuracy", environment={})
    for lang, score in (("de", 40.0), ("fr", 60.0)):
        store.put_language(RecordKey("embedded", "none", "cldr_names"), lang, LangResult.ok({"accuracy": score}, score), run)
    return store


def test_report_json_has_the_scores_and_no_partial_average(tmp_path):
    _store_with_demo_scores(tmp_path)
    out = _json_stdout(runner.invoke(app, ["report", "--benchmark", "demo", "--setup", "none", "--results-dir",
                                           str(tmp_path), "--json"]))
    names = out["tasks"]["cldr_names"]
    assert names["scores"] == {"de": 40.0, "fr": 60.0} and names["partial_mean"] == 50.0
    assert names["score"] is None and len(names["missing_languages"]) == len(names["expected_languages"]) - 2
    assert out["overall_task_mean"] is None and out["benchmark"] == "demo"


def test_eval_json_is_the_only_thing_on_stdout(tmp_path, tiny_dir):
    result = runner.invoke(app, ["eval", "--benchmark", "demo", "--tasks", "cldr_names", "--langs", "de,fr",
                                 "--setup", "none", "--model", str(tiny_dir), "--max-eval-examples", "10",
                                 "--results-dir", str(tmp_path / "r"), "--artifacts-dir", str(tmp_path / "a"), "--json"])
    out = _json_stdout(result)
    assert set(out["tasks"]["cldr_names"]["scores"]) == {"de", "fr"}
    assert out["tasks"]["cldr_names"]["expected_languages"] == ["de", "fr"]  # --langs: the complete task score
    assert out["tasks"]["cldr_names"]["score"] == sum(out["tasks"]["cldr_names"]["scores"].values()) / 2
    assert out["run"] == [{"task": "cldr_names", "setup": "none", "split": out["run"][0]["split"], "computed": ["de", "fr"],
                           "reused": [], "failed": {}, "error": None}]


def test_select_json(shared_data, tmp_path):
    out = _json_stdout(runner.invoke(app, ["select", "--target", "xcopa", "--candidates", "siqa,cosmosqa,anli,copa",
                                           "--estimator", "size", "--budget", "2", "--data-dir", str(shared_data), "--json"]))
    assert out["chosen"] == ["anli", "siqa"]
    # SocialIQa offline: its dev set, sliced 80/20 for training and model selection
    assert out["command"].startswith(f"xta train-adapter --task anli --train-split 'dev[:80%]' --dev-split 'dev[80%:]' "
                                     f"--data-dir {shared_data} && xta train-adapter --task siqa --train-split 'dev[:80%]'")
    _assert_parses(out["command"])
    from toolkit.config import TrainConfig, from_dict
    from toolkit.preflight import check_training

    for part in out["command"].split(" && ")[:2]:  # the adapters' training: names and data load offline as printed
        import shlex

        import typer.main

        sub = typer.main.get_command(app).get_command(None, "train-adapter")
        p = sub.make_context("train-adapter", shlex.split(part)[2:]).params
        check_training(from_dict(TrainConfig, {k: str(p[k]) for k in ("task", "train_split", "dev_split", "data_dir")},
                                 where="printed command"), tmp_path)
    scores = {e["candidate"]: e["score"] for e in out["estimates"]}
    assert scores == {"anli": 162865.0, "siqa": 33410.0, "cosmosqa": 25262.0, "copa": 400.0}  # the cards' train_size
    assert all(out["sizes"][c].startswith("card: ") for c in scores)
    assert "siqa:dev was used" in out["command_caveat"]  # xcopa's fusion needs SocialIQa's train split (item 8)


@pytest.mark.parametrize("argv", [["-v", "tasks", "show", "xnli"], ["tasks", "show", "xnli", "-v"],
                                  ["tasks", "show", "-v", "xnli"], ["tasks", "show", "xnli", "--verbose"]])
def test_verbose_before_or_after_the_subcommand(argv):
    import logging

    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.INFO
    logging.getLogger().setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------------------
# issue 20, item 7: fail fast, start fast
# --------------------------------------------------------------------------------------------------

_HEAVY = ("torch", "transformers", "adapters", "faiss")


def _run_cli_in_fresh_process(argv: list[str], env_extra: dict | None = None) -> dict:
    """Exit code, output and which heavy modules a fresh interpreter imported for one command."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import json, sys\nfrom typer.testing import CliRunner\nfrom cli import app\n"
            f"r = CliRunner().invoke(app, {argv!r})\n"
            f"print(json.dumps({{'code': r.exit_code, 'out': r.output, 'heavy': [m for m in {_HEAVY!r} if m in sys.modules]}}))")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_misspelled_task_is_reported_before_torch_is_imported():
    r = _run_cli_in_fresh_process(["train-adapter", "--task", "mnlii", "--max-steps", "1"])
    assert r["code"] == 1 and "did you mean 'mnli'" in r["out"] and r["heavy"] == []


def test_missing_training_data_is_reported_before_the_encoder_loads(tmp_path):
    r = _run_cli_in_fresh_process(["train-adapter", "--task", "copa", "--data-dir", str(tmp_path), "--max-steps", "1",
                                   "--artifacts-dir", str(tmp_path / "a")], {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r["code"] == 1 and "copa train en" in r["out"] and "train-en.jsonl" in r["out"]
    assert r["heavy"] == [] and not (tmp_path / "a").exists()


def test_export_writes_text_files_without_torch(tmp_path):
    from toolkit.results import LangResult, RecordKey, ResultStore, RunInfo

    store = ResultStore(tmp_path / "r")
    run = RunInfo(task_version=1, encoder_name="embedded", setup="none", config={}, config_hash="h",
                  main_metric="accuracy", environment={})
    key = RecordKey("embedded", "none", "tatoeba")
    store.put_language(key, "de", LangResult.ok({"accuracy": 50.0}, 50.0, split="test", config_hash="h"), run)
    store.put_predictions(key, "de", "test", ["0", "1"], [1, 0])
    r = _run_cli_in_fresh_process(["export", str(tmp_path / "out"), "--setup", "none", "--results-dir", str(tmp_path / "r")])
    assert r["code"] == 0, r["out"]
    assert r["heavy"] == [] and (tmp_path / "out" / "tatoeba" / "test-de.tsv").read_text() == "1\n0\n"


def test_startup_benchmark_runs_quick(tmp_path):
    """benchmarks/startup.py --quick: runs, every case behaves (figures not asserted: see benchmarks/README.md)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out, readme = tmp_path / "startup.json", tmp_path / "README.md"
    subprocess.run([sys.executable, str(root / "benchmarks" / "startup.py"), "--quick", "--out", str(out),
                    "--readme", str(readme)], check=True, capture_output=True, cwd=root)
    res = json.loads(out.read_text())
    assert res["quick"] is True and len(res["cases"]) == 4 and all(c["behaved"] for c in res["cases"])
    assert "did you mean 'mnli'" in res["cases"][0]["runs"][0]["first_line"]
    assert "<!-- startup:start -->" in readme.read_text()


# --------------------------------------------------------------------------------------------------
# issue 20, item 3: batch jobs (no terminal) get plain progress lines
# --------------------------------------------------------------------------------------------------


def test_plain_progress_lines_first_periodic_and_last():
    from toolkit.progress import PlainProgress

    now, lines = [0.0], []
    p = PlainProgress("train copa", 10, 2, unit="step", every=30, write=lines.append, clock=lambda: now[0])
    for _ in range(8):  # a resumed run: steps 3..10, 10 s each
        now[0] += 10
        p.advance(loss=0.5)
    p.close()
    assert lines == [
        "train copa: step 3/10 (30%), loss 0.5000, 0.10 step/s, elapsed 10s, ETA 1m10s",
        "train copa: step 6/10 (60%), loss 0.5000, 0.10 step/s, elapsed 40s, ETA 40s",
        "train copa: step 9/10 (90%), loss 0.5000, 0.10 step/s, elapsed 1m10s, ETA 10s",
        "train copa: step 10/10 (100%), loss 0.5000, 0.10 step/s, elapsed 1m20s",
    ]
    slow = PlainProgress("eval", None, unit="language", every=0, write=lines.append, clock=lambda: now[0])
    now[0] += 50
    slow.advance(detail="xnli de ok")
    assert lines[-1] == "eval: 1 languages, xnli de ok, 50.0 s/language, elapsed 50s"


def test_training_without_a_terminal_prints_plain_progress_lines(tmp_path, tiny_dir):
    result = runner.invoke(app, ["train-adapter", "--task", "cldr_kind", "--model", str(tiny_dir), "--max-steps", "3",
                                 "--max-length", "16", "--artifacts-dir", str(tmp_path), "-v"],
                           env={"XTA_PROGRESS_SECONDS": "0"})
    assert result.exit_code == 0, result.output
    steps = [line for line in result.stderr.splitlines() if line.startswith("train cldr_kind: step ")]
    assert [line.split(",")[0] for line in steps] == [f"train cldr_kind: step {i}/3 ({100 * i / 3:.0f}%)" for i in (1, 2, 3)]
    assert all(" loss " in line and (" step/s" in line or " s/step" in line) for line in steps)
    assert "ETA" in steps[0] and "━" not in result.stderr  # no rich bar
    assert "trained 3 steps" in result.stdout


def test_eval_without_a_terminal_prints_a_line_per_language(tmp_path, tiny_dir):
    result = runner.invoke(app, ["eval", "--benchmark", "demo", "--tasks", "cldr_names", "--langs", "de,fr",
                                 "--setup", "none", "--model", str(tiny_dir), "--max-eval-examples", "5",
                                 "--results-dir", str(tmp_path)], env={"XTA_PROGRESS_SECONDS": "0"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("evaluating: ")]
    assert [line.split(", ")[:2] for line in lines] == [["evaluating: 1 task-languages", "cldr_names de ok"],
                                                        ["evaluating: 2 task-languages", "cldr_names fr ok"]]


def test_matrix_progress_without_a_terminal_is_plain_lines(capsys, monkeypatch):
    from types import SimpleNamespace

    import cli

    monkeypatch.setenv("XTA_PROGRESS_SECONDS", "0")
    events = cli._MatrixProgress(1)
    node = SimpleNamespace(kind="eval", target="xnli", setup="none", langs=("de", "fr"))
    events(node, "start", None)
    events(node, "language", None)
    events(node, "language", None)
    events(node, "done", SimpleNamespace(status="evaluated", computed=["de", "fr"], reused=[], failed={}, error=None, steps=0,
                                         seconds=2.0))
    err = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in err[:2]] == ["eval xnli [none]: language 1/2 (50%)",
                                                        "eval xnli [none]: language 2/2 (100%)"]
    assert err[2] == "[1/1] eval xnli [none]: 2 languages computed, 0 reused, 0 failed (2.0 s)"

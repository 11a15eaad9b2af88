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
    assert "chosen for xcopa (mean): anli, cosmosqa" in result.output  # 3198 and 2985 English examples
    assert "xta fuse --tasks anli,cosmosqa --target xcopa" in result.output


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


def test_select_json(shared_data):
    out = _json_stdout(runner.invoke(app, ["select", "--target", "xcopa", "--candidates", "siqa,cosmosqa,anli,copa",
                                           "--estimator", "size", "--budget", "2", "--data-dir", str(shared_data), "--json"]))
    assert out["chosen"] == ["anli", "cosmosqa"] and out["command"].startswith("xta fuse --tasks anli,cosmosqa")
    assert [e["candidate"] for e in out["estimates"]][:2] == ["anli", "cosmosqa"]
    assert out["estimates"][0]["score"] >= out["estimates"][1]["score"]


@pytest.mark.parametrize("argv", [["-v", "tasks", "show", "xnli"], ["tasks", "show", "xnli", "-v"],
                                  ["tasks", "show", "-v", "xnli"], ["tasks", "show", "xnli", "--verbose"]])
def test_verbose_before_or_after_the_subcommand(argv):
    import logging

    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.INFO
    logging.getLogger().setLevel(logging.WARNING)

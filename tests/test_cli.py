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


def test_train_adapter_yaml_and_flags_sit_above_the_card(tmp_path, monkeypatch):
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
    result = runner.invoke(app, ["train-adapter", "--config", str(yaml_file), "--task", "copa", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    cfg = seen[-1]
    # copa's card: max_length 64 (not squad_v1's 384, which the YAML only implied), epochs from the flag
    assert (cfg.task, cfg.batch_size, cfg.epochs, cfg.max_length) == ("copa", 8, 1.0, 64)
    assert cfg.defaults_applied == {"learning_rate": "card copa", "max_length": "card copa"}

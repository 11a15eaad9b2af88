"""Issue 20 item 5: one CLI vocabulary over every command (README "CLI vocabulary"), old spellings hidden
but accepted, --config wherever a command takes more than a handful of options, and a global --version."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

import cli
from cli import LEGACY_SPELLINGS, app

runner = CliRunner()

#: spellings no command shows any more (their replacement in brackets)
RETIRED = {"--train-lr": "--lr", "--output-dir": "--report-dir / --results-dir / --artifacts-dir", "--outdir": "",
           "--output": "--out FILE", "--artifacts": "--artifacts-dir", "--results": "--results-dir"}
#: the options that name folders, by what goes in them
FOLDERS = {"--artifacts-dir", "--results-dir", "--report-dir", "--data-dir", "--home"}


def _commands():
    group = typer.main.get_command(app)
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):  # a group (typer vendors its own click: no isinstance checks)
            for sub in cmd.list_commands(ctx):
                yield f"{name} {sub}", cmd.get_command(ctx, sub)
        else:
            yield name, cmd


def _options(cmd) -> list:
    return [p for p in cmd.params if getattr(p, "param_type_name", "") == "option" and p.name != "help"]


def test_every_command_follows_the_vocabulary():
    seen = 0
    for name, cmd in _commands():
        seen += 1
        opts = _options(cmd)
        spellings = {o for p in opts for o in (*p.opts, *p.secondary_opts)}
        assert not spellings & set(RETIRED), (name, spellings & set(RETIRED))
        for old in LEGACY_SPELLINGS.get(name, {}):  # hidden: accepted through the group, not shown
            assert old not in spellings, (name, old)
        for p in opts:
            if "--out" in p.opts:  # --out is one file, never a folder
                assert "file" in (p.help or "").lower() or "json" in (p.help or "").lower(), (name, p.help)
            if any(o.endswith("-dir") for o in p.opts):
                assert set(p.opts) & FOLDERS, (name, p.opts)
            if p.name in ("learning_rate", "lr", "train_lr"):  # the learning rate is spelled --lr everywhere
                assert "--lr" in p.opts, (name, p.opts)
        if "--targets" in spellings:
            assert "--target" not in spellings, name
        if len(opts) > 6:
            assert "--config" in spellings, f"xta {name}: {len(opts)} options and no --config"
    assert seen >= 16


def test_the_group_rewrites_only_the_subcommands_old_spellings():
    assert cli._modern_spellings(["eval", "--tasks", "xnli", "--train-lr=1e-3", "--", "--tasks"]) == \
        ["eval", "--targets", "xnli", "--lr=1e-3", "--", "--tasks"]
    assert cli._modern_spellings(["fuse", "--tasks", "a,b"]) == ["fuse", "--tasks", "a,b"]
    assert cli._modern_spellings(["--verbose", "report", "--out", "r"]) == ["--verbose", "report", "--report-dir", "r"]


def test_old_spellings_still_work_and_are_hidden(tmp_path):
    result = runner.invoke(app, ["report", "--benchmark", "demo", "--setup", "none", "--results-dir", str(tmp_path / "r"),
                                 "--out", str(tmp_path / "rep")])
    assert (tmp_path / "rep" / "report.md").is_file(), result.output
    help_text = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output
    assert "--targets" in help_text and "--train-lr" not in help_text and "--tasks" not in help_text


def test_version_flag_and_command_agree():
    from toolkit import __version__

    flag, command = runner.invoke(app, ["--version"]), runner.invoke(app, ["version"])
    assert flag.exit_code == 0 and command.exit_code == 0
    assert flag.output.strip() == command.output.strip() == __version__


def test_config_file_gives_defaults_that_flags_override(tmp_path, monkeypatch):
    seen = {}

    def fake_run_demo(cfg, on_event=None):  # stop before any model work: the options are what is tested
        seen["cfg"] = cfg
        raise cli.ConfigError("stop")

    import toolkit.demo

    monkeypatch.setattr(toolkit.demo, "run_demo", fake_run_demo)
    conf = tmp_path / "demo.yaml"
    conf.write_text("steps: 7\nmax-eval-examples: 5\nseed: 3\n", encoding="utf-8")
    runner.invoke(app, ["demo", "--config", str(conf), "--seed", "11", "--home", str(tmp_path / "d")])
    cfg = seen["cfg"]
    assert (cfg.steps, cfg.max_eval_examples, cfg.seed, cfg.out_dir) == (7, 5, 11, str(tmp_path / "d"))
    (tmp_path / "bad.json").write_text('{"stepz": 1}', encoding="utf-8")
    result = runner.invoke(app, ["demo", "--config", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "stepz" in result.output


@pytest.mark.parametrize("old, new", [(["--tasks", "cldr_names"], ["--targets", "cldr_names"]),
                                      (["--train-lr", "0.001"], ["--lr", "0.001"])])
def test_eval_old_and_new_spellings_parse_the_same(old, new):
    group = typer.main.get_command(app)
    ev = group.get_command(None, "eval")
    a = ev.make_context("eval", cli._modern_spellings(["eval", *old])[1:]).params
    b = ev.make_context("eval", new).params
    assert a == b

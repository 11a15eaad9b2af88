"""The README's code map stays true (issue 19): one row per library module (or package), and its
"imports at load" column is exactly the toolkit modules that module imports at module level. The
module-level import graph has no cycle; no module imports another's private names; the adapter store and
the preflight load without torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from conftest import REPO_ROOT

TOOLKIT = REPO_ROOT / "toolkit"
PACKAGES = ("tasks", "families")  # one code-map row each, for all their modules


def _unit(path) -> str:
    """The code-map row a file belongs to: ``name.py``, or ``tasks/`` / ``families/``."""
    rel = path.relative_to(TOOLKIT)
    return f"{rel.parts[0]}/" if rel.parts[0] in PACKAGES else rel.name


def _module_parts(path, node: ast.ImportFrom) -> list[str] | None:
    """The toolkit module path (``["families", "base"]``) an ``from ... import`` reads from; None outside toolkit."""
    if node.level == 0:
        parts = (node.module or "").split(".")
        return parts[1:] if parts[0] in ("toolkit", "xta") else None
    base = list(path.relative_to(TOOLKIT).parts[:-1])
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return base + (node.module.split(".") if node.module else [])


def _target(path, node: ast.ImportFrom, alias: str) -> str | None:
    """The toolkit unit an ``from ... import`` names (``toolkit`` itself, for ``__version__``, is None)."""
    parts = _module_parts(path, node)
    if parts is None:
        return None
    if not parts:  # from . import x: a module of the package, or a name of toolkit/__init__
        parts = [alias]
    head = parts[0]
    if head in PACKAGES:
        return f"{head}/"
    return f"{head}.py" if (TOOLKIT / f"{head}.py").is_file() else None


def module_level_imports() -> dict[str, set[str]]:
    """unit -> the other toolkit units its files import at module level (not inside functions or
    ``if TYPE_CHECKING:`` blocks)."""
    out: dict[str, set[str]] = {}
    for path in sorted(TOOLKIT.rglob("*.py")):
        unit = _unit(path)
        found = out.setdefault(unit, set())
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                found.update(t for a in node.names if (t := _target(path, node, a.name)) not in (None, unit))
    return out


def code_map() -> dict[str, set[str]]:
    """unit -> the imports its README code-map row lists."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = set(re.findall(r"`([^`]+)`", cells[2]))
    return rows


def test_the_code_map_has_one_row_per_module_and_lists_its_imports():
    real, documented = module_level_imports(), code_map()
    assert sorted(documented) == sorted(real), "README code map rows vs toolkit modules"
    wrong = {unit: (sorted(documented[unit]), sorted(real[unit])) for unit in real if documented[unit] != real[unit]}
    assert not wrong, f"code map 'imports at load' (README, real): {wrong}"


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    """Depth-first search; an edge back to a node on the current path is a cycle, named in the failure."""
    state: dict[str, int] = {}

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [unit, nxt])}"
            if nxt not in state:
                visit(nxt, path + [unit])
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [])


def test_no_import_cycle_at_module_level():
    assert_acyclic(module_level_imports())


def all_imports() -> dict[str, set[str]]:
    """module -> the toolkit modules it imports anywhere, inside functions too (not in ``if TYPE_CHECKING:``
    blocks, which run only under a type checker). Modules, not code-map units: ``families/base.py`` is
    ``families.base``."""

    def name(path) -> str:
        parts = list(path.relative_to(TOOLKIT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "toolkit"

    def resolve(path, node: ast.ImportFrom, alias: str) -> str | None:
        parts = _module_parts(path, node)
        if parts is None:
            return None
        for candidate in (parts + [alias], parts):  # ``from . import x`` names module x; else the module itself
            dotted = ".".join(candidate)
            if candidate and ((TOOLKIT.joinpath(*candidate).with_suffix(".py")).is_file()
                              or (TOOLKIT.joinpath(*candidate) / "__init__.py").is_file()):
                return dotted
        return None

    def type_checking(node) -> bool:
        test = getattr(node, "test", None)
        return isinstance(node, ast.If) and isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"

    out: dict[str, set[str]] = {}
    for path in sorted(TOOLKIT.rglob("*.py")):
        me, found = name(path), out.setdefault(name(path), set())
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.ImportFrom):
                found.update(t for a in node.names if (t := resolve(path, node, a.name)) not in (None, me)
                             and not me.startswith(f"{t}."))  # a package's own __init__ runs first anyway
            if type_checking(node):
                stack.extend(getattr(node, "orelse", []))
                continue
            stack.extend(ast.iter_child_nodes(node))
    return out


def test_no_import_cycle_even_through_imports_inside_functions():
    """Issue 19: a function-scope import hides a cycle from the import system, not from the design; the
    whole graph is acyclic (a package imports its own modules, which may import its helpers)."""
    assert_acyclic(all_imports())


def test_the_adapter_store_and_the_preflight_load_without_torch():
    code = ("import sys, toolkit.artifacts, toolkit.preflight, toolkit.results, toolkit.hub\n"
            "print(sorted(m for m in ('torch', 'adapters', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_module_imports_another_modules_private_names():
    """A name another module needs is public where it is defined (issue 19): ``from .x import _y`` hides a seam."""
    found = []
    for path in [*sorted(TOOLKIT.rglob("*.py")), REPO_ROOT / "cli.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in ("toolkit", "xta")):
                found += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found

"""The task registry: the one place that decides everything task-specific.

Target tasks are Python literals (``xtreme_r.py``); intermediate tasks are YAML cards (``adapters_zoo/``).
Both become :class:`TaskSpec` records; nothing else in xta keys behaviour on a task's name.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import ConfigError, UnknownName, UnknownTask
from .spec import CATEGORIES, SHAPES, SPLITS, TRANSLATE_TRAIN, HubSource, LocalSource, SplitSource, TaskSpec
from .demo import DEMO_TASKS
from .xtreme_r import TARGET_TASKS
from .zoo import load_zoo

__all__ = [
    "CATEGORIES", "SHAPES", "SPLITS", "TRANSLATE_TRAIN", "HubSource", "LocalSource", "SplitSource", "TaskSpec",
    "all_tasks", "get_task", "intermediate_tasks", "target_tasks", "clear_registry",
]


@lru_cache(maxsize=1)
def _registry() -> dict[str, TaskSpec]:
    tasks = {t.name: t for t in (*TARGET_TASKS, *DEMO_TASKS)}
    for name, card in load_zoo().items():
        if name in tasks and tasks[name].is_target:
            # a card may describe the English training side of a target (e.g. udpos, panx, tydiqa) only
            # under another name; target ids stay unique
            raise ConfigError(f"{card.card_path}: {name!r} is a target task id; give the card another name")
        tasks[name] = card
    return tasks


def clear_registry() -> None:
    """Forget loaded cards (tests that add cards through XTA_ZOO call this)."""
    _registry.cache_clear()


def all_tasks() -> dict[str, TaskSpec]:
    return dict(_registry())


def get_task(name: str | TaskSpec) -> TaskSpec:
    if isinstance(name, TaskSpec):
        return name
    reg = _registry()
    try:
        return reg[name]
    except KeyError:
        raise UnknownTask(name, reg) from None


BENCHMARK_NAMES = ("xtreme-r", "xtreme", "demo")


def target_tasks(benchmark: str | None = None) -> list[TaskSpec]:
    """Target tasks in registry order: of one benchmark ('xtreme-r', 'xtreme' or 'demo', the built-in
    CLDR mini benchmark), or by default those of XTREME-R and XTREME."""
    if benchmark is not None and benchmark not in BENCHMARK_NAMES:
        raise UnknownName("benchmark", benchmark, BENCHMARK_NAMES)
    wanted = (benchmark,) if benchmark else ("xtreme-r", "xtreme")
    return [t for t in _registry().values() if t.is_target and any(b in t.benchmarks for b in wanted)]


def intermediate_tasks() -> list[TaskSpec]:
    return [t for t in _registry().values() if not t.is_target]

"""The transfer matrix: intermediate sets x target tasks x languages, planned as a dependency graph.

A matrix asks, for every target task and every intermediate set X, how much English intermediate-task
training on X changes zero-shot cross-lingual transfer: the target's score with X minus its score with
no intermediate task (``none``), per language and averaged over languages (Phang et al. 2020,
"English intermediate-task training improves zero-shot cross-lingual transfer too"; Pruksachatkun et
al. 2020). xta plans it as three layers of independent nodes:

1. **intermediate adapters**: one per intermediate member: a zoo card (``anli``) or a multi-task
   adapter trained jointly on several cards (``anli+siqa``, one shared adapter, one head per task);
2. **target adapters**: one per (target, recipe, intermediate set), plus the plain target adapter
   (the ``none`` baseline): ``sequential`` starts from the intermediate adapter's weights (STILTs,
   Phang et al. 2018), ``stack`` trains a new adapter above the frozen intermediates (MAD-X, Pfeiffer
   et al. 2020), ``fuse`` trains an AdapterFusion layer over them (Pfeiffer et al. 2021);
3. **evaluations**: each target adapter setup on every language of its target (``toolkit.evaluate``).

Retrieval targets without English training data (Tatoeba, BUCC, CLDR names) are evaluated on sentence
representations *through* the intermediate adapters (``sequential``/``stack``: the intermediate
adapter(s) active, no target training; ``fuse`` is not applicable: a fusion needs a training signal);
their baseline is the bare encoder.

Every node is resumable and idempotent: ``train_adapter`` skips a finished run with an identical
configuration (and resumes an interrupted one from its checkpoint), ``evaluate`` skips languages the
results store holds under the same configuration, and both write atomically. A matrix killed at any
point and run again therefore finishes the remaining nodes and recomputes nothing that was finished.

Executors: ``local`` runs the nodes in dependency order in this process, the encoder loaded once (and
only if some node has work); ``ray`` submits each node as a Ray task (``num_cpus`` each), upstream
nodes passed as arguments so Ray orders them; on an existing cluster with ``address``, else on a
local Ray instance. The nodes, their configurations and so their results are the same either way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from .config import NOHASH, TrainConfig, _choice, _coerce_fields, _names, _positive, _split_text
from .errors import ConfigError, XtaError
from .io import safe_name

log = logging.getLogger(__name__)

__all__ = [
    "MatrixConfig",
    "TaskOverride",
    "Node",
    "Cell",
    "Plan",
    "plan_matrix",
    "run_matrix",
    "MatrixRun",
    "GainTests",
    "gain_tests",
    "significance_note",
    "significance_summary",
    "Cost",
    "LazyEncoder",
    "EXECUTORS",
    "MATRIX_RECIPES",
]

BASELINE = "none"
MATRIX_RECIPES = ("sequential", "stack", "fuse")
EXECUTORS = ("local", "ray")
LANG_MODES = ("all", "local")
OVERRIDE_KEYS = ("train_split", "dev_split", "train_task", "langs", "max_steps", "max_train_examples", "eval_split",
                 "retrieval_layer")
_VERB = {"sequential": "after", "stack": "above", "fuse": "fuse"}
_MAX_LABEL = 80


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskOverride:
    """Per-task training data and languages, for what is not at hand offline.

    ``train_split``/``dev_split``: e.g. ``dev[:80%]``/``dev[80%:]`` for cards with only a dev split locally
    (SIQA, CosmosQA, ANLI) or for a target whose English training source is missing (XNLI's MNLI).
    ``train_task``: train the target adapter on another task (``copa`` for ``xcopa``, whose XTREME-R
    source SIQA-then-COPA needs the SIQA train split). ``langs``: the target's evaluation languages.
    ``eval_split``: the target's evaluation split instead of the matrix's ``split`` — a slice disjoint from
    the English training data, e.g. ``dev[80%:]`` for XNLI trained on ``dev[:70%]``, whose other languages'
    dev sets are translations of the same English items. ``max_steps``/``learning_rate``: this task's
    budget instead of the matrix's (a target head that needs more steps or a larger rate to leave chance).
    """

    train_split: str = "train"
    dev_split: str = "dev"
    train_task: str | None = None
    langs: tuple[str, ...] = ()
    max_steps: int | None = None
    max_train_examples: int | None = None
    eval_split: str | None = None  # this target's evaluation split, e.g. dev[80%:] when dev[:70%] trained it
    learning_rate: float | None = None  # this task's adapters' learning rate instead of the matrix's
    retrieval_layer: int | None = None  # this retrieval target's hidden layer instead of the matrix's

    def __post_init__(self):
        _coerce_fields(self)
        if self.eval_split is not None:
            _split_text("eval_split", self.eval_split)
        _split_text("train_split", self.train_split)
        _split_text("dev_split", self.dev_split)
        _names("task", (self.train_task,) if self.train_task else ())
        _names("language", self.langs)
        _positive(self, "max_steps", "max_train_examples", "learning_rate", allow_none=True)


@dataclass(frozen=True)
class MatrixConfig:
    """One transfer matrix: what to train, on which data, with which budgets, evaluated where.

    ``intermediates``: entries ``none`` (the baseline, always added), a card (``anli``), a multi-task
    adapter (``anli+siqa``: one adapter trained jointly on both cards), or a set for ``stack``/``fuse``
    (``anli,siqa``: the separate adapters, stacked or fused). ``recipes``: how an intermediate set meets
    a target (see the module doc). ``langs``: ``all`` (every language of each target), ``local`` (those
    with local files under ``data_dir``) or explicit codes. ``overrides``: per-task :class:`TaskOverride`
    (as a mapping ``task -> {key: value}`` in YAML). ``prefix`` namespaces the adapter names.
    """

    targets: tuple[str, ...]
    intermediates: tuple[str, ...] = (BASELINE,)
    recipes: tuple[str, ...] = ("sequential",)
    langs: tuple[str, ...] = ("all",)
    benchmark: str = "xtreme-r"
    model: str = "embedded"
    split: str = "auto"
    seed: int = 42
    intermediate_steps: int | None = None  # None: each adapter's epochs
    target_steps: int | None = None
    train_examples: int | None = None
    batch_size: int | None = None  # None: each task card's training value (TrainConfig), else 16
    learning_rate: float | None = None  # None: the card's, else 1e-4
    max_length: int | None = None  # None: the card's for training; the family default (384 QA, 128) for evaluation
    max_dev_examples: int | None = None
    max_eval_examples: int | None = None
    # retrieval targets' hidden layer (None: the encoder's protocol layer, toolkit.retrieval.protocol_layer)
    retrieval_layer: int | None = field(default=None, metadata={"omit_if_default": True})
    eval_batch_size: int = field(default=32, metadata=NOHASH)
    overrides: Mapping[str, TaskOverride] = field(default_factory=dict)
    prefix: str = ""
    executor: str = field(default="local", metadata=NOHASH)
    address: str | None = field(default=None, metadata=NOHASH)
    num_cpus: int = field(default=1, metadata=NOHASH)  # per Ray task
    ray_cpus: int = field(default=2, metadata=NOHASH)  # the local Ray instance, when no address is given
    data_dir: str | None = field(default=None, metadata=NOHASH)
    results_dir: str | None = field(default=None, metadata=NOHASH)
    artifacts_dir: str | None = field(default=None, metadata=NOHASH)
    # uncertainty (toolkit.stats): bootstrap resamples of every CI, permutations of every paired test, and the
    # multiple-comparison correction over the matrix's gains; resamples or permutations 0: gains without them
    resamples: int = field(default=1000, metadata=NOHASH)
    permutations: int = field(default=1000, metadata=NOHASH)
    correction: str = field(default="holm", metadata=NOHASH)
    # training seeds as a dimension (issue 17): each seed is a whole matrix whose adapters are named
    # ``<prefix>s<seed>_...`` and trained with that seed (finished seeds are reused like any cell);
    # empty: one matrix at ``seed``
    seeds: tuple[int, ...] = field(default=(), metadata=NOHASH)

    def __post_init__(self):
        overrides = self.overrides
        object.__setattr__(self, "overrides", {})
        _coerce_fields(self)
        object.__setattr__(self, "overrides", _coerce_overrides(overrides))
        inters = tuple(dict.fromkeys((BASELINE, *self.intermediates)))
        object.__setattr__(self, "intermediates", inters)
        if not self.targets:
            raise ConfigError("targets: name at least one target task")
        if not self.recipes:
            raise ConfigError("recipes: name at least one of sequential, stack, fuse")
        for recipe in self.recipes:
            _choice("recipes", recipe, MATRIX_RECIPES)
        _choice("executor", self.executor, EXECUTORS)
        _names("task", self.targets)
        for entry in inters:
            parse_intermediate(entry)
        if len(self.langs) == 1 and self.langs[0] in LANG_MODES:
            pass
        else:
            _names("language", self.langs)
        try:
            seeds = tuple(int(v) for v in self.seeds)
        except ValueError:
            raise ConfigError(f"seeds: expected integers such as 1,2,3, got {','.join(self.seeds)}") from None
        if len(set(seeds)) != len(seeds) or any(v < 0 for v in seeds):
            raise ConfigError(f"seeds: expected distinct non-negative integers, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        if self.prefix:
            safe_name(self.prefix + "x", "prefix")
            if not all(c.isalnum() or c == "_" for c in self.prefix):
                raise ConfigError(f"prefix: {self.prefix!r} may only hold letters, digits and '_' (adapter names become module names)")
        _positive(self, "eval_batch_size", "num_cpus", "ray_cpus")
        from .stats import CORRECTIONS

        _choice("correction", self.correction, CORRECTIONS)
        for name in ("resamples", "permutations"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected 0 (none) or a positive number, got {getattr(self, name)}")
        _positive(self, "batch_size", "learning_rate", "max_length", "intermediate_steps", "target_steps", "train_examples", "max_dev_examples",
                  "max_eval_examples", allow_none=True)

    def override(self, task: str) -> TaskOverride:
        return self.overrides.get(task, TaskOverride())


def _coerce_overrides(raw: Any) -> dict[str, TaskOverride]:
    from .config import from_dict

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"overrides: expected a mapping task -> options, got {raw!r}")
    out = {}
    for task, opts in raw.items():
        _names("task", (str(task),))
        out[str(task)] = opts if isinstance(opts, TaskOverride) else from_dict(TaskOverride, opts or {}, where=f"overrides.{task}")
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["anli.train_split=dev[:80%]", "xnli.langs=de,fr"]`` -> ``{"anli": {...}, "xnli": {...}}`` (CLI flags)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        head, sep, value = item.partition("=")
        task, dot, key = head.strip().rpartition(".")
        if not sep or not dot or not task:
            raise ConfigError(f"--set {item!r}: expected TASK.KEY=VALUE, e.g. anli.train_split='dev[:80%]'")
        if key not in OVERRIDE_KEYS:
            raise ConfigError(f"--set {item!r}: unknown key {key!r} (allowed: {', '.join(OVERRIDE_KEYS)})")
        out.setdefault(task, {})[key] = value.strip()
    return out


def matrix_config_from_yaml(path: str | os.PathLike, **flags: Any) -> MatrixConfig:
    """A MatrixConfig from a YAML mapping; ``flags`` (not None) override its keys."""
    import yaml

    from .config import from_dict

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: matrix file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of matrix options")
    given = {k: v for k, v in flags.items() if v is not None}
    if "overrides" in given and "overrides" in data:
        given["overrides"] = {**data["overrides"], **given["overrides"]}
    return from_dict(MatrixConfig, {**data, **given}, where=str(path))


# --------------------------------------------------------------------------------------------------
# intermediate entries
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One intermediate adapter: a card, or several cards trained jointly (multi-task)."""

    tasks: tuple[str, ...]
    prefix: str = ""

    @property
    def name(self) -> str:
        base = self.tasks[0] if len(self.tasks) == 1 else _shorten("mt_" + "_and_".join(self.tasks))
        return self.prefix + base


def parse_intermediate(entry: str, prefix: str = "") -> tuple[Member, ...]:
    """``"none"`` -> (); ``"anli"`` -> one member; ``"anli+siqa"`` -> one multi-task member;
    ``"anli,siqa"`` -> two members (a set to stack or fuse)."""
    entry = str(entry).strip()
    if entry == BASELINE:
        return ()
    members = []
    for part in entry.split(","):
        tasks = tuple(t.strip() for t in part.split("+"))
        if not all(tasks) or len(set(tasks)) != len(tasks):
            raise ConfigError(f"intermediate {entry!r}: expected CARD, CARD+CARD (multi-task) or CARD,CARD (a set)")
        for t in tasks:
            if not all(c.isalnum() or c in "_." for c in t):
                raise ConfigError(f"intermediate {entry!r}: task names hold letters, digits, '_' and '.' only")
        members.append(Member(tasks, prefix))
    if len({m.name for m in members}) != len(members):
        raise ConfigError(f"intermediate {entry!r} names an adapter twice")
    return tuple(members)


def _label(members: Sequence[Member]) -> str:
    """Filesystem- and setup-safe label of an intermediate set (shortened with a hash when long)."""
    return _shorten("__".join(m.name for m in members))


def _shorten(text: str) -> str:
    """``text`` if short, else its first 60 characters + ``_h`` + 10 hex digits of its sha256: adapter
    names become module names in torch, so only letters, digits and '_' are used."""
    if len(text) > _MAX_LABEL:
        text = text[:60] + "_h" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return text


# --------------------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A unit of work: ``train`` an adapter (``train``: its TrainConfig) or ``eval`` a setup on a target."""

    id: str
    kind: str  # "train" | "eval"
    deps: tuple[str, ...]
    train: TrainConfig | None = None
    target: str | None = None
    setup: str | None = None
    langs: tuple[str, ...] = ()
    layer: int = 0  # 0 intermediate adapters, 1 target adapters, 2 evaluations


@dataclass(frozen=True)
class Cell:
    """One entry of the matrix: a target with an intermediate set and a recipe (``none``: the baseline)."""

    target: str
    recipe: str
    intermediate: str
    setup: str | None  # None: not applicable (``note`` says why)
    eval_node: str | None
    adapter: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Plan:
    config: MatrixConfig
    nodes: dict[str, Node]
    cells: tuple[Cell, ...]
    languages: dict[str, tuple[str, ...]]  # target -> evaluation languages

    def order(self) -> list[Node]:
        """Nodes in dependency order (layer, then plan order)."""
        return sorted(self.nodes.values(), key=lambda n: n.layer)

    @property
    def trainings(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "train"]


def plan_matrix(cfg: MatrixConfig) -> Plan:
    """Every node and cell of the matrix; tasks, languages and recipes checked before any model loads."""
    from .tasks import get_task

    nodes: dict[str, Node] = {}
    for entry in cfg.intermediates:
        for member in parse_intermediate(entry, cfg.prefix):
            _add(nodes, _intermediate_node(cfg, member))
    cells: list[Cell] = []
    languages: dict[str, tuple[str, ...]] = {}
    for target in cfg.targets:
        spec = get_task(target)
        if not spec.is_target:
            raise ConfigError(f"{target!r} is an intermediate task, not a target (xta tasks --benchmark {cfg.benchmark})")
        languages[target] = _target_languages(cfg, spec)
        for entry in cfg.intermediates:
            for recipe in (BASELINE,) if entry == BASELINE else cfg.recipes:
                cells.append(_cell(cfg, spec, entry, recipe, languages[target], nodes))
    return Plan(cfg, nodes, tuple(cells), languages)


def _add(nodes: dict[str, Node], node: Node) -> Node:
    """Add a node once; an identical training planned twice (an intermediate card that is also a plain
    target adapter) is one node, in the earlier layer."""
    old = nodes.get(node.id)
    if old is None:
        nodes[node.id] = node
        return node
    if (old.kind, old.train, old.setup, old.target, old.langs) != (node.kind, node.train, node.setup, node.target, node.langs):
        raise ConfigError(f"two different trainings would write adapter {node.id.split(':', 1)[1]!r} "
                          "(e.g. an intermediate card that is also a target, with other steps or splits); use --prefix or equal settings")
    if node.layer < old.layer:
        nodes[node.id] = dataclasses.replace(old, layer=node.layer)
    return nodes[node.id]


def _train_config(cfg: MatrixConfig, task: str, name: str, steps: int | None, override: TaskOverride, **recipe: Any) -> TrainConfig:
    return TrainConfig(
        task=task, model=cfg.model, adapter_name=name, seed=cfg.seed, max_steps=override.max_steps or steps,
        max_train_examples=override.max_train_examples or cfg.train_examples, batch_size=cfg.batch_size,
        learning_rate=override.learning_rate or cfg.learning_rate, max_length=cfg.max_length, train_split=override.train_split,
        dev_split=override.dev_split, data_dir=cfg.data_dir, **recipe,
    )


def _intermediate_node(cfg: MatrixConfig, member: Member) -> Node:
    overrides = {cfg.override(t) for t in member.tasks}
    if len(overrides) > 1:
        raise ConfigError(f"multi-task adapter {'+'.join(member.tasks)}: its tasks have different overrides; "
                          "one adapter trains with one train_split/dev_split")
    tcfg = _train_config(cfg, member.tasks[0], member.name, cfg.intermediate_steps, overrides.pop(),
                         extra_tasks=member.tasks[1:])
    return Node(f"train:{member.name}", "train", (), train=tcfg, layer=0)


def _trains_target(spec, cfg: MatrixConfig) -> bool:
    """Retrieval targets are scored on sentence representations unless told to train on a task."""
    return spec.shape != "retrieval" or cfg.override(spec.name).train_task is not None


def _target_languages(cfg: MatrixConfig, spec) -> tuple[str, ...]:
    from .config import EvalConfig

    own = spec.langs(cfg.benchmark)
    wanted = cfg.override(spec.name).langs or cfg.langs
    if wanted == ("all",):
        langs = own
    elif wanted == ("local",):
        langs = _local_languages(spec, cfg.data_dir)
    else:
        # a task's own override is strict: a typo must not silently shrink its evaluation (issue 18); the
        # matrix-wide list is filtered per target (a language of one target need not exist in another)
        unknown = [lang for lang in cfg.override(spec.name).langs if lang not in own]
        if unknown:
            from .errors import UnknownLanguage

            raise UnknownLanguage(unknown[0], set(own), task=spec.name)
        langs = tuple(lang for lang in own if lang in wanted)
    if not langs:
        raise ConfigError(f"target {spec.name}: no evaluation language (requested: {', '.join(wanted)}; "
                          f"the task has: {' '.join(own)})" + ("; is --data-dir set?" if wanted == ("local",) else ""))
    EvalConfig(tasks=(spec.name,), langs=langs, benchmark=cfg.benchmark).validate()
    return langs


def _local_languages(spec, data_dir: str | None) -> tuple[str, ...]:
    from . import data

    found: set[str] = set()
    for split in ("test", "dev"):
        if split in spec.splits:
            found.update(data.available_languages(spec, split, data_dir))
    return tuple(lang for lang in spec.langs() if lang in found)


def _cell(cfg: MatrixConfig, spec, entry: str, recipe: str, langs: tuple[str, ...], nodes: dict[str, Node]) -> Cell:
    members = parse_intermediate(entry, cfg.prefix)
    names = [m.name for m in members]
    deps = tuple(f"train:{n}" for n in names)
    own = {spec.name, cfg.override(spec.name).train_task}
    if any(own & set(m.tasks) for m in members):
        return Cell(spec.name, recipe, entry, None, None, note="the intermediate set holds the target task itself")
    if not _trains_target(spec, cfg):
        setup, adapter = _representation_setup(recipe, names)
        if setup is None:
            why = "fuse needs a training signal; the target has none" if recipe == "fuse" else "sequential starts from one adapter"
            return Cell(spec.name, recipe, entry, None, None, note=why)
    else:
        if recipe == "sequential" and len(members) > 1:
            return Cell(spec.name, recipe, entry, None, None, note="sequential starts from one adapter; use stack or fuse for a set")
        adapter, setup, tcfg = _target_training(cfg, spec.name, recipe, names)
        deps = (_add(nodes, Node(f"train:{adapter}", "train", deps, train=tcfg, layer=1)).id,)
    node = _add(nodes, Node(f"eval:{spec.name}:{setup}", "eval", deps, target=spec.name, setup=setup, langs=langs, layer=2))
    return Cell(spec.name, recipe, entry, setup, node.id, adapter)


def _representation_setup(recipe: str, names: Sequence[str]) -> tuple[str | None, str | None]:
    if not names:
        return BASELINE, None
    if recipe == "fuse" or (recipe == "sequential" and len(names) > 1):
        return None, None
    return (names[0] if len(names) == 1 else "stack:" + ",".join(names)), None


def _target_training(cfg: MatrixConfig, target: str, recipe: str, names: Sequence[str]) -> tuple[str, str, TrainConfig]:
    """The target adapter of one cell: its name, the setup that evaluates it, its TrainConfig."""
    override = cfg.override(target)
    task = override.train_task or target
    if not names:
        name = cfg.prefix + target
        return name, name, _train_config(cfg, task, name, cfg.target_steps, override)
    name = f"{cfg.prefix}{target}__{_VERB[recipe]}__{_label([Member((n,)) for n in names])}"
    if recipe == "sequential":
        return name, name, _train_config(cfg, task, name, cfg.target_steps, override, recipe="sequential", init_from=names[0])
    if recipe == "stack":
        tcfg = _train_config(cfg, task, name, cfg.target_steps, override, recipe="stack", intermediate=tuple(names))
        return name, "stack:" + ",".join([*names, name]), tcfg
    tcfg = _train_config(cfg, task, name, cfg.target_steps, override, recipe="fuse", intermediate=tuple(names))
    return name, f"fuse:{','.join(names)}>{name}", tcfg


# --------------------------------------------------------------------------------------------------
# executing nodes
# --------------------------------------------------------------------------------------------------


class LazyEncoder:
    """Stands in for a loaded encoder: ``fingerprint`` without loading the weights (so finished nodes
    are recognised without model work), everything else loads the encoder once, on first use."""

    def __init__(self, model: str):
        self._name, self._encoder = model, None

    @property
    def fingerprint(self) -> str:
        if self._encoder is not None:
            return self._encoder.fingerprint
        from .encoders import encoder_fingerprint

        return encoder_fingerprint(self._name)

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._encoder is None:
            from .encoders import load_encoder

            self._encoder = load_encoder(self._name)
        return getattr(self._encoder, attr)


@dataclass
class Outcome:
    """What running one node did: ``trained``/``skipped`` (train), ``evaluated``/``reused`` (eval), or
    ``failed``/``blocked`` (an upstream node failed), with the figures the cost summary needs."""

    node: str
    status: str
    seconds: float = 0.0
    steps: int = 0
    error: str | None = None
    computed: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


def run_node(node: Node, cfg: MatrixConfig, encoder: Any, progress: bool = False,
             on_language: Callable[[str, str, str], None] | None = None) -> Outcome:
    """Run one node (train or evaluate); an XtaError makes the node ``failed``, it is not raised."""
    t0 = time.perf_counter()
    try:
        if node.kind == "train":
            out = _train_node(node, cfg, encoder, progress)
        else:
            out = _eval_node(node, cfg, encoder, on_language)
    except XtaError as exc:
        log.warning("%s failed: %s", node.id, exc)
        out = Outcome(node.id, "failed", error=f"{type(exc).__name__}: {exc}")
    out.seconds = round(time.perf_counter() - t0, 3)
    return out


def _train_node(node: Node, cfg: MatrixConfig, encoder: Any, progress: bool) -> Outcome:
    from .train import train_adapter

    result = train_adapter(node.train, encoder=encoder, artifacts_dir=cfg.artifacts_dir, progress=progress,
                           max_dev_examples=cfg.max_dev_examples, eval_batch_size=cfg.eval_batch_size)
    return Outcome(node.id, "skipped" if result.skipped else "trained", steps=0 if result.skipped else result.steps)


def _eval_node(node: Node, cfg: MatrixConfig, encoder: Any, on_language=None) -> Outcome:
    from .evaluate import evaluate

    run = evaluate(_eval_config(cfg, node), encoder=encoder, on_language=on_language)
    (task,) = run.tasks
    if task.error:
        raise XtaError(task.error)
    status = "evaluated" if task.computed or task.failed else "reused"
    return Outcome(node.id, status, computed=tuple(task.computed), reused=tuple(task.reused), failed=dict(task.failed))


def _eval_config(cfg: MatrixConfig, node: Node):
    from .config import EvalConfig

    return EvalConfig(
        setup=node.setup, tasks=(node.target,), langs=node.langs, benchmark=cfg.benchmark, model=cfg.model,
        split=cfg.override(node.target).eval_split or cfg.split, max_length=cfg.max_length, seed=cfg.seed, max_eval_examples=cfg.max_eval_examples,
        retrieval_layer=_first_set(cfg.override(node.target).retrieval_layer, cfg.retrieval_layer),
        batch_size=cfg.eval_batch_size, data_dir=cfg.data_dir, results_dir=cfg.results_dir, artifacts_dir=cfg.artifacts_dir,
        bootstrap_resamples=cfg.resamples,
    )


def _first_set(*values):
    return next((v for v in values if v is not None), None)


#: ``on_event(node, what, payload)``: ``what`` is ``start`` (payload None), ``language`` (an evaluation
#: finished one language; payload its status; local executor only) or ``done`` (payload the Outcome).
Event = Callable[[Node, str, Any], None]


def _blocked(node: Node, outcomes: Mapping[str, Outcome]) -> Outcome | None:
    bad = [d for d in node.deps if outcomes[d].status in ("failed", "blocked")]
    if not bad:
        return None
    return Outcome(node.id, "blocked", error=f"needs {', '.join(b.split(':', 1)[1] for b in bad)}, which failed")


def execute_local(plan: Plan, on_event: Event | None = None, progress: bool = False) -> dict[str, Outcome]:
    """Run the nodes in dependency order in this process; one (lazily loaded) encoder for all."""
    on_event = on_event or (lambda *_: None)
    encoder = LazyEncoder(plan.config.model)
    outcomes: dict[str, Outcome] = {}
    for node in plan.order():
        outcome = _blocked(node, outcomes)
        if outcome is None:
            on_event(node, "start", None)
            reset_adapters(encoder)
            outcome = run_node(node, plan.config, encoder, progress,
                               on_language=lambda task, lang, status, node=node: on_event(node, "language", status))
        outcomes[node.id] = outcome
        on_event(node, "done", outcome)
    return outcomes


def reset_adapters(encoder: Any) -> None:
    """Remove every adapter, fusion and head from the (process-wide) encoder model, if it is loaded.

    ``evaluate`` keeps the adapters it loads, by name; a node must not see an adapter of the same name
    loaded earlier from another artifacts directory (nor may training add a name already present).
    """
    if isinstance(encoder, LazyEncoder) and not encoder.loaded:
        return
    from .families.base import adapter_model

    model = adapter_model(encoder)
    for fusion in list(model.adapters_config.fusions):
        model.delete_adapter_fusion(fusion)
    for head in list(getattr(model, "heads", {})):
        model.delete_head(head)
    for name in list(model.adapters_config.adapters):
        model.delete_adapter(name)
    model.set_active_adapters(None)
    model.eval()


def _ray_node(node: Node, cfg: MatrixConfig, *upstream: Outcome) -> Outcome:
    """A Ray task: the upstream outcomes arrive as arguments (Ray runs this after them)."""
    import torch

    torch.set_num_threads(max(1, cfg.num_cpus))
    outcome = _blocked(node, {o.node: o for o in upstream})
    if outcome is not None:
        return outcome
    encoder = LazyEncoder(cfg.model)
    reset_adapters(encoder)  # a reused worker process keeps its encoder, and what earlier tasks loaded
    return run_node(node, cfg, encoder)


def execute_ray(plan: Plan, on_event: Event | None = None) -> dict[str, Outcome]:
    """Each node a Ray task with ``num_cpus`` CPUs; dependencies passed as object refs."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'xta[ray]' (or pip install ray)") from None
    cfg = plan.config
    on_event = on_event or (lambda *_: None)
    started_here = _ray_init(ray, cfg)
    try:
        remote = ray.remote(num_cpus=cfg.num_cpus, max_retries=0)(_ray_node)
        refs: dict[str, Any] = {}
        for node in plan.order():
            refs[node.id] = remote.remote(node, cfg, *[refs[d] for d in node.deps])
            on_event(node, "start", None)
        by_ref = {ref: node_id for node_id, ref in refs.items()}
        outcomes: dict[str, Outcome] = {}
        pending = list(refs.values())
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            outcome = ray.get(done[0])
            outcomes[by_ref[done[0]]] = outcome
            on_event(plan.nodes[by_ref[done[0]]], "done", outcome)
        return {n.id: outcomes[n.id] for n in plan.order()}
    finally:
        if started_here:
            ray.shutdown()


_FORWARDED_ENV = ("XTA_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")


def _ray_init(ray, cfg: MatrixConfig) -> bool:
    """Connect to ``cfg.address`` or start a local instance with ``ray_cpus`` CPUs; xta's environment
    (caches, offline switches) travels with the tasks."""
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_ENV)}
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
    if cfg.address:
        ray.init(address=cfg.address, **kwargs)
    else:
        ray.init(num_cpus=cfg.ray_cpus, include_dashboard=False, **kwargs)
    return True


# --------------------------------------------------------------------------------------------------
# results: scores, gains, cost
# --------------------------------------------------------------------------------------------------


@dataclass
class Cost:
    """Training cost of the matrix, and what full fine-tuning of the same cells would store."""

    trainings: int  # adapters in the matrix
    trained_now: int  # adapters this run trained (the rest were found finished)
    steps: int  # optimizer steps of every adapter in the matrix (from their cards)
    steps_now: int
    train_seconds: float  # wall time of this run's trainings
    eval_seconds: float
    wall_seconds: float
    adapter_bytes: int  # the matrix's adapter directories on disk
    encoder_parameters: int
    full_finetune_bytes: int  # one full fp32 model copy per trained cell: parameters x 4 bytes

    @property
    def ratio(self) -> float | None:
        return self.full_finetune_bytes / self.adapter_bytes if self.adapter_bytes else None


@dataclass
class MatrixRun:
    """A planned and executed matrix: per cell its per-language scores, failures and gains."""

    plan: Plan
    outcomes: dict[str, Outcome]
    scores: dict[tuple[str, str, str], dict[str, float]]  # (target, recipe, intermediate) -> lang -> main score
    failed: dict[tuple[str, str, str], dict[str, str]]
    cost: Cost
    # (target, recipe, intermediate) -> lang -> the stored per-example rows (toolkit.stats.ExampleRows)
    rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _tests: GainTests | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def config(self) -> MatrixConfig:
        return self.plan.config

    @property
    def tests(self) -> GainTests:
        """Every gain's paired CI and test, corrected over the matrix (computed once, from ``rows``)."""
        if self._tests is None:
            self._tests = gain_tests(self)
        return self._tests

    @property
    def work_done(self) -> bool:
        return any(o.status in ("trained", "evaluated") for o in self.outcomes.values())

    def baseline(self, target: str) -> dict[str, float]:
        return self.scores.get((target, BASELINE, BASELINE), {})

    def gains(self, recipe: str) -> dict[str, dict[str, dict[str, float]]]:
        """``{target: {intermediate: {lang: gain}}}`` for one recipe (``toolkit.selection.gains``)."""
        from .selection import gains

        inters = self.config.intermediates[1:]
        measured = {t: {i: self.scores[(t, recipe, i)] for i in inters if (t, recipe, i) in self.scores}
                    for t in self.config.targets}
        return gains(measured, {t: self.baseline(t) for t in self.config.targets})

    def mean_gain(self, target: str, recipe: str, intermediate: str) -> float | None:
        """Mean gain over the target's languages; None unless the cell and the baseline have every
        language the baseline scored (no average over incomplete languages)."""
        base = self.baseline(target)
        cell = self.scores.get((target, recipe, intermediate))
        if not base or cell is None or any(lang not in cell for lang in base):
            return None
        return fmean(cell[lang] - base[lang] for lang in base)

    def missing_languages(self, target: str) -> list[str]:
        """Languages of the target that the baseline could not score (failed or not run)."""
        base = self.baseline(target)
        return [lang for lang in self.plan.languages[target] if lang not in base]


@dataclass
class GainTests:
    """The uncertainty of a matrix's gains (``toolkit.stats``), corrected by ``method`` within two families:
    the table's mean gains (per cell over the target's languages, and per intermediate over targets) and
    the per-language gains. A gain without stored per-example rows on both sides has no entry."""

    method: str
    resamples: int
    permutations: int
    cells: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # (target, recipe, inter) -> Comparison
    means: dict[tuple[str, str], Any] = field(default_factory=dict)  # (recipe, inter) -> over every target
    languages: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)  # (target, recipe, inter, lang)

    @property
    def enabled(self) -> bool:
        return self.resamples > 0 and self.permutations > 0


def gain_tests(run: MatrixRun) -> GainTests:
    """Paired bootstrap CIs and approximate-randomization tests of every gain of ``run`` over its baseline
    on the same examples; means over languages (and over targets) resample examples within each language;
    then ``config.correction`` over each family."""
    from .errors import DataError
    from .stats import adjust, compare, compare_languages, derived_seed

    cfg = run.config
    out = GainTests(cfg.correction, cfg.resamples, cfg.permutations)
    if not out.enabled:
        return out
    n = dict(resamples=cfg.resamples, permutations=cfg.permutations)
    for recipe in cfg.recipes:
        for inter in cfg.intermediates[1:]:
            strata: dict[tuple[str, str], tuple[Any, Any]] = {}
            complete = True
            for target in cfg.targets:
                base, cell = run.rows.get((target, BASELINE, BASELINE), {}), run.rows.get((target, recipe, inter), {})
                pairs = {}
                for lang in run.baseline(target):
                    if lang in base and lang in cell:
                        try:
                            out.languages[(target, recipe, inter, lang)] = compare(
                                base[lang], cell[lang], seed=derived_seed(cfg.seed, target, recipe, inter, lang), **n)
                            pairs[lang] = (base[lang], cell[lang])
                        except DataError as exc:
                            log.warning("%s/%s/%s/%s: no paired test (%s)", target, recipe, inter, lang, exc)
                if pairs and run.mean_gain(target, recipe, inter) is not None and len(pairs) == len(run.baseline(target)):
                    out.cells[(target, recipe, inter)] = compare_languages(
                        pairs, seed=derived_seed(cfg.seed, target, recipe, inter), **n)
                    strata.update({(target, lang): p for lang, p in pairs.items()})
                else:
                    complete = False
            if complete and strata and len(cfg.targets) > 1:  # one target: its mean is the cell's own test
                per_target = {t: sum(1 for tt, _ in strata if tt == t) for t, _ in strata}
                weights = {k: 1.0 / (len(per_target) * per_target[k[0]]) for k in strata}
                out.means[(recipe, inter)] = compare_languages(strata, seed=derived_seed(cfg.seed, recipe, inter),
                                                               weights=weights, **n)
    for family in (("cells", "means"), ("languages",)):
        keyed = [(name, key) for name in family for key in getattr(out, name)]
        adjusted = adjust([getattr(out, name)[key].p_value for name, key in keyed], cfg.correction)
        for (name, key), p in zip(keyed, adjusted):
            table = getattr(out, name)
            table[key] = dataclasses.replace(table[key], p_adjusted=p)
    return out


def collect_rows(plan: Plan, scores: Mapping[tuple[str, str, str], Mapping[str, float]]) -> dict:
    """Per cell and scored language: the per-example rows stored beside the predictions (None-free)."""
    from .errors import DataError
    from .results import RecordKey, ResultStore, encoder_id
    from .setups import setup_id

    store = ResultStore(plan.config.results_dir)
    enc = encoder_id(plan.config.model)
    out: dict = {}
    for cell in plan.cells:
        key = (cell.target, cell.recipe, cell.intermediate)
        if cell.setup is None or key not in scores:
            continue
        rkey = RecordKey(enc, setup_id(cell.setup), cell.target)
        found = {}
        for lang in scores[key]:
            try:
                rows = store.get_example_rows(rkey, lang)
            except DataError as exc:
                log.warning("%s", exc)
                rows = None
            if rows is not None:
                found[lang] = rows
        out[key] = found
    return out


def collect_scores(plan: Plan) -> tuple[dict, dict]:
    """Per cell: main scores and failures per language, read from the results store."""
    from .results import RecordKey, ResultStore, encoder_id
    from .setups import setup_id

    store = ResultStore(plan.config.results_dir)
    enc = encoder_id(plan.config.model)
    scores, failed = {}, {}
    for cell in plan.cells:
        if cell.setup is None:
            continue
        key = (cell.target, cell.recipe, cell.intermediate)
        rec = store.get(RecordKey(enc, setup_id(cell.setup), cell.target))
        langs = plan.languages[cell.target]
        scores[key] = {l: s for l, s in (rec.scores() if rec else {}).items() if l in langs}
        failed[key] = {l: e for l, e in (rec.failed() if rec else {}).items() if l in langs}
    return scores, failed


def encoder_parameters(model: str) -> int:
    """Parameters of the encoder from its safetensors headers (no weights loaded)."""
    from .encoders import resolve_encoder
    from .io import safetensors_header

    _, path = resolve_encoder(model)
    total = 0
    for file in sorted(Path(path).glob("*.safetensors")):
        for name, info in safetensors_header(file).items():
            if name != "__metadata__":
                total += math.prod(info["shape"])
    return total


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def compute_cost(plan: Plan, outcomes: Mapping[str, Outcome], wall: float) -> Cost:
    from .train import adapter_dir, read_card

    cfg = plan.config
    trainings = plan.trainings
    steps = 0
    for node in trainings:
        try:
            steps += int(read_card(node.train.name, cfg.artifacts_dir).get("steps", 0))
        except (OSError, XtaError, ValueError):
            continue
    done = [outcomes[n.id] for n in trainings if n.id in outcomes]
    params = encoder_parameters(cfg.model)
    return Cost(
        trainings=len(trainings), trained_now=sum(o.status == "trained" for o in done), steps=steps,
        steps_now=sum(o.steps for o in done), train_seconds=round(sum(o.seconds for o in done), 1),
        eval_seconds=round(sum(o.seconds for o in outcomes.values() if o.node.startswith("eval:")), 1),
        wall_seconds=round(wall, 1),
        adapter_bytes=sum(_dir_bytes(adapter_dir(n.train.name, cfg.artifacts_dir)) for n in trainings),
        encoder_parameters=params, full_finetune_bytes=len(trainings) * params * 4,
    )


def run_matrix(cfg: MatrixConfig, *, on_event: Event | None = None, progress: bool = False) -> MatrixRun:
    """Plan the matrix, run what the store lacks with ``cfg.executor``, and gather scores and cost."""
    t0 = time.perf_counter()
    plan = plan_matrix(cfg)
    if cfg.executor == "ray":
        outcomes = execute_ray(plan, on_event)
    else:
        outcomes = execute_local(plan, on_event, progress)
    scores, failed = collect_scores(plan)
    return MatrixRun(plan, outcomes, scores, failed, compute_cost(plan, outcomes, time.perf_counter() - t0),
                     rows=collect_rows(plan, scores))


# --------------------------------------------------------------------------------------------------
# tables (plain rows: the CLI renders them with rich, the report as Markdown)
# --------------------------------------------------------------------------------------------------


def _fmt(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _gain_text(value: float | None, test: Any) -> str:
    """``+1.2 [-0.3, +2.7]*`` (the paired CI; ``*``: significant after correction) or ``+1.2`` without a test."""
    return test.fmt() if test is not None else _fmt(value)


def gain_rows(run: MatrixRun, recipe: str) -> tuple[list[str], list[list[str]]]:
    """Rows: intermediate sets; columns: targets (mean gain over languages) and their mean; each gain with
    its 95% CI and a ``*`` when significant after correction, where the per-example rows are stored
    (see :func:`significance_note`)."""
    targets = list(run.config.targets)
    header = ["intermediate", *targets, "mean"]
    tests = run.tests
    rows = [["none (baseline score)", *[_fmt(_mean(run.baseline(t)), signed=False) for t in targets], ""]]
    for inter in run.config.intermediates[1:]:
        vals = [run.mean_gain(t, recipe, inter) for t in targets]
        cells = [_gain_text(v, tests.cells.get((t, recipe, inter))) if v is not None else _why_missing(run, t, recipe, inter)
                 for t, v in zip(targets, vals)]
        usable = [v for v in vals if v is not None]
        mean_test = tests.means.get((recipe, inter)) if len(targets) > 1 else tests.cells.get((targets[0], recipe, inter))
        mean = _gain_text(fmean(usable), mean_test) if usable and len(usable) == len(vals) else "-"
        rows.append([inter, *cells, mean])
    return header, rows


def significance_note(run: MatrixRun) -> str:
    """One sentence that says what the brackets and the marker in the gain tables mean."""
    from .stats import CORRECTION_NAMES

    t = run.tests
    if not t.enabled:
        return "Gains without confidence intervals or tests (resamples or permutations set to 0)."
    if not (t.cells or t.languages):
        return ("No confidence intervals: the results store holds no per-example scores for these gains "
                "(computed before xta stored them; re-evaluate to add them).")
    fam = len(t.cells) + len(t.means)
    correction = ("no correction for multiple comparisons" if t.method == "none" else
                  f"{CORRECTION_NAMES[t.method]} correction over the {fam} mean gains of the matrix "
                  f"(per-language gains: over their {len(t.languages)})")
    return (f"[lo, hi]: 95% paired bootstrap CI over the same test examples ({t.resamples} resamples; means over "
            f"languages or targets resample examples within each language). *: significant at p < 0.05 "
            f"(approximate randomization, {t.permutations} permutations) after {correction}.")


def significance_summary(run: MatrixRun) -> str:
    """Plain words: how many gains are significant after correction, or that none is."""
    from .stats import CORRECTION_NAMES

    t = run.tests
    if not t.enabled or not (t.cells or t.languages):
        return "Significance not tested."
    after = "without correction" if t.method == "none" else f"after {CORRECTION_NAMES[t.method]} correction"
    means = [c for c in (*t.cells.values(), *t.means.values())]
    langs = list(t.languages.values())
    sig_means, sig_langs = sum(c.significant for c in means), sum(c.significant for c in langs)
    if not sig_means and not sig_langs:
        return (f"No gain is significant {after} (0 of {len(means)} mean gains, 0 of {len(langs)} per-language "
                "gains): these differences are within the noise of the test examples.")
    return (f"{sig_means} of {len(means)} mean gains and {sig_langs} of {len(langs)} per-language gains are "
            f"significant (p < 0.05) {after}; the others are within the noise of the test examples.")


def _mean(scores: Mapping[str, float]) -> float | None:
    return fmean(scores.values()) if scores else None


def _why_missing(run: MatrixRun, target: str, recipe: str, inter: str) -> str:
    cell = next((c for c in run.plan.cells if (c.target, c.recipe, c.intermediate) == (target, recipe, inter)), None)
    if cell is not None and cell.setup is None:
        return "n/a"
    outcome = run.outcomes.get(cell.eval_node) if cell else None
    if outcome is not None and outcome.status in ("failed", "blocked"):
        return "failed"
    return "incomplete"


def language_rows(run: MatrixRun, recipe: str, target: str) -> tuple[list[str], list[list[str]]]:
    """Rows: intermediate sets; columns: the target's languages (gains; the baseline row: scores)."""
    base = run.baseline(target)
    langs = [lang for lang in run.plan.languages[target] if lang in base]
    rows = [["none (score)", *[_fmt(base[l], signed=False) for l in langs]]]
    tests = run.tests.languages
    for inter in run.config.intermediates[1:]:
        cell = run.scores.get((target, recipe, inter), {})
        rows.append([inter, *[_gain_text(cell[l] - base[l], tests.get((target, recipe, inter, l))) if l in cell else "-"
                              for l in langs]])
    return ["intermediate", *langs], rows


def cost_rows(cost: Cost) -> list[list[str]]:
    def human(n: float) -> str:
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if n < 1024 or unit == "TB":
                return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
            n /= 1024
        return str(n)

    ratio = f" ({cost.ratio:.0f}x the adapters)" if cost.ratio else ""
    return [
        ["trainings (adapters)", f"{cost.trainings} ({cost.trained_now} trained in this run)"],
        ["optimizer steps", f"{cost.steps} ({cost.steps_now} in this run)"],
        ["wall time (this run)", f"{cost.wall_seconds:.1f} s (training {cost.train_seconds:.1f} s, evaluation {cost.eval_seconds:.1f} s)"],
        ["adapters on disk", human(cost.adapter_bytes)],
        ["full fine-tuning of the same cells", f"{human(cost.full_finetune_bytes)}{ratio}: {cost.trainings} copies of "
                                               f"{cost.encoder_parameters / 1e6:.1f}M fp32 parameters"],
    ]


def status_counts(run: MatrixRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in run.outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------------
# seeds as a dimension
# --------------------------------------------------------------------------------------------------


def seed_config(cfg: MatrixConfig, seed: int) -> MatrixConfig:
    """The one-seed matrix of ``seed``: its adapters namespaced ``s<seed>_`` and trained with that seed."""
    return dataclasses.replace(cfg, seed=seed, seeds=(), prefix=f"{cfg.prefix}s{seed}_")


@dataclass
class SeedRuns:
    """A matrix run once per training seed; gains are means over seeds with CIs that combine the seed and
    the example variance (:func:`toolkit.stats.compare_seeds`), corrected over the cells."""

    config: MatrixConfig
    runs: dict[int, MatrixRun]
    _tests: GainTests | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def tests(self) -> GainTests:
        if self._tests is None:
            self._tests = seed_gain_tests(self)
        return self._tests

    @property
    def work_done(self) -> bool:
        return any(r.work_done for r in self.runs.values())

    def seed_gains(self, target: str, recipe: str, inter: str) -> list[float] | None:
        """The cell's mean gain over languages in every seed (None when a seed lacks it)."""
        out = [r.mean_gain(target, recipe, inter) for r in self.runs.values()]
        return None if any(v is None for v in out) else out


def run_matrix_seeds(cfg: MatrixConfig, *, on_event: Event | None = None, progress: bool = False) -> SeedRuns:
    """One matrix per seed of ``cfg.seeds`` (each resumable and cached like any matrix)."""
    if not cfg.seeds:
        raise ConfigError("seeds: name at least two seeds (e.g. 1,2,3) to treat the seed as a dimension")
    return SeedRuns(cfg, {s: run_matrix(seed_config(cfg, s), on_event=on_event, progress=progress) for s in cfg.seeds})


def seed_gain_tests(sr: SeedRuns) -> GainTests:
    """Each cell's gain over seeds (every seed complete for it: all the baseline's languages, rows stored),
    with :func:`toolkit.stats.compare_seeds`, then ``config.correction`` over the cells."""
    from .errors import DataError
    from .stats import adjust, compare_seeds, derived_seed

    cfg = sr.config
    out = GainTests(cfg.correction, cfg.resamples, cfg.permutations)
    if not out.enabled:
        return out
    for recipe in cfg.recipes:
        for inter in cfg.intermediates[1:]:
            for target in cfg.targets:
                per_seed = []
                for run in sr.runs.values():
                    base, cell = run.rows.get((target, BASELINE, BASELINE), {}), run.rows.get((target, recipe, inter), {})
                    langs = list(run.baseline(target))
                    if not langs or run.mean_gain(target, recipe, inter) is None or any(
                            lang not in base or lang not in cell for lang in langs):
                        break
                    per_seed.append({lang: (base[lang], cell[lang]) for lang in langs})
                else:
                    try:
                        out.cells[(target, recipe, inter)] = compare_seeds(
                            per_seed, cfg.resamples, cfg.permutations, seed=derived_seed(cfg.seed, "seeds", target, recipe, inter))
                    except DataError as exc:
                        log.warning("%s/%s/%s: no test over seeds (%s)", target, recipe, inter, exc)
    keys = list(out.cells)
    for key, p in zip(keys, adjust([out.cells[k].p_value for k in keys], cfg.correction)):
        out.cells[key] = dataclasses.replace(out.cells[key], p_adjusted=p)
    return out


def seed_gain_rows(sr: SeedRuns, recipe: str) -> tuple[list[str], list[list[str]]]:
    """Rows: intermediate sets; columns: targets. Each cell: the mean over seeds of the mean gain over
    languages, ± the sd over seeds, [95% CI over seeds and examples], ``*`` when significant after correction."""
    from statistics import stdev

    targets = list(sr.config.targets)
    header = ["intermediate", *targets]
    base = []
    for t in targets:
        means = [_mean(r.baseline(t)) for r in sr.runs.values()]
        ok = [m for m in means if m is not None]
        base.append(f"{fmean(ok):.1f} ±{stdev(ok):.1f}" if len(ok) == len(means) and len(ok) > 1 else
                    (f"{ok[0]:.1f}" if len(ok) == len(means) == 1 else "-"))
    rows = [["none (baseline score)", *base]]
    for inter in sr.config.intermediates[1:]:
        cells = []
        for t in targets:
            test = sr.tests.cells.get((t, recipe, inter))
            gains = sr.seed_gains(t, recipe, inter)
            if test is not None:
                cells.append(test.fmt())
            elif gains is not None:
                cells.append(f"{fmean(gains):+.1f}" + (f" ±{stdev(gains):.1f}" if len(gains) > 1 else ""))
            else:
                cells.append("n/a")
        rows.append([inter, *cells])
    return header, rows


def seed_significance_note(sr: SeedRuns) -> str:
    from .stats import CORRECTION_NAMES

    t = sr.tests
    n = len(sr.runs)
    if not t.enabled or not t.cells:
        return f"Means over {n} seeds (± sd over seeds); no confidence intervals (no per-example rows, or resamples 0)."
    correction = "no correction" if t.method == "none" else f"{CORRECTION_NAMES[t.method]} correction over the {len(t.cells)} cells"
    sig = sum(c.significant for c in t.cells.values())
    verdict = (f"{sig} of {len(t.cells)} gains are significant (p < 0.05) after {correction}." if sig else
               f"No gain is significant after {correction}: the differences are within the noise of seeds and test examples.")
    return (f"Means over {n} seeds ({', '.join(map(str, sr.runs))}); ±: sd over seeds; [lo, hi]: 95% two-stage bootstrap "
            f"CI (seeds, then examples within each language; {t.resamples} resamples); *: approximate randomization "
            f"({t.permutations} permutations) within every seed and language. " + verdict)


def replace_config(cfg: MatrixConfig, **changes: Any) -> MatrixConfig:
    return dataclasses.replace(cfg, **changes)

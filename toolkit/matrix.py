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
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from .config import TrainConfig
from .errors import ConfigError, XtaError
from .families import get_family
# configuration and results live in their own modules; re-exported: `toolkit.matrix` is the matrix's API
from .matrix_config import (BASELINE, EXECUTORS, LANG_MODES, MATRIX_RECIPES, OVERRIDE_KEYS,  # noqa: F401
                            MatrixConfig, Member, TaskOverride, intermediate_label, matrix_config_from_yaml, parse_intermediate,
                            parse_overrides)
from .matrix_results import (Cost, GainTests, MatrixRun, collect_rows, collect_scores,  # noqa: F401
                             compute_cost, cost_rows, encoder_parameters, gain_rows, gain_tests, language_rows,
                             mean_score, significance_note, significance_summary, status_counts)

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

_VERB = {"sequential": "after", "stack": "above", "fuse": "fuse"}




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

    @property
    def train_config(self) -> TrainConfig:
        """``train``, which every ``train`` node of a plan carries."""
        if self.train is None:
            raise XtaError(f"{self.id}: a {self.kind} node has no training configuration")
        return self.train


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
    from .tracking import check_report_to

    check_report_to(cfg.report_to)  # a tracker asked for but not installed

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
    if any(m.mlm for e in cfg.intermediates for m in parse_intermediate(e)):
        _check_mlm_text(cfg, languages)
    return Plan(cfg, nodes, tuple(cells), languages)


def _check_mlm_text(cfg: MatrixConfig, languages: Mapping[str, tuple[str, ...]]) -> None:
    """The ``+mlm`` text holds no sentence a target scores (:func:`toolkit.mlm_text.refuse_overlap`; split
    ``auto`` is checked as ``test``, or ``dev`` for a target without a test split)."""
    from .mlm_text import refuse_overlap
    from .tasks import get_task

    for target, langs in languages.items():
        spec = get_task(target)
        split = cfg.override(target).eval_split or cfg.split
        if split == "auto":
            split = "test" if "test" in spec.splits else "dev"
        refuse_overlap(cfg.mlm_text, target, split, [lang for lang in langs if lang != "en"], cfg.data_dir)


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
        dev_split=override.dev_split, data_dir=cfg.data_dir, logging_steps=cfg.logging_steps, report_to=cfg.report_to,
        **recipe,
    )


def _intermediate_node(cfg: MatrixConfig, member: Member) -> Node:
    overrides = {cfg.override(t) for t in member.tasks}
    if len(overrides) > 1:
        raise ConfigError(f"multi-task adapter {'+'.join(member.tasks)}: its tasks have different overrides; "
                          "one adapter trains with one train_split/dev_split")
    override = overrides.pop()
    extra: dict[str, Any] = {}
    if member.mlm:  # the seed paper's multilingual-MLM alternative (issue 21)
        extra.update(mlm_text=cfg.mlm_text, mlm_weight=cfg.mlm_weight)
    if member.translated:  # translate-train intermediate data (issue 21)
        langs = override.train_langs or cfg.train_langs
        if not langs or tuple(langs) == ("en",):
            raise ConfigError(f"intermediate {member.name}: +tt needs languages beyond English (train_langs, or "
                              f"overrides.{member.tasks[0]}.train_langs)")
        extra["train_langs"] = langs
    tcfg = _train_config(cfg, member.tasks[0], member.name, cfg.intermediate_steps, override,
                         extra_tasks=member.tasks[1:], **extra)
    return Node(f"train:{member.name}", "train", (), train=tcfg, layer=0)


def _trains_target(spec, cfg: MatrixConfig) -> bool:
    """A target trains its task adapter unless its family is scored untrained (retrieval: on sentence
    representations) and no override tells it to train on a task."""
    return not get_family(spec).SCORED_UNTRAINED or cfg.override(spec.name).train_task is not None


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
    tt = {"train_langs": override.train_langs} if override.train_langs else {}  # translate-train target (issue 21)
    if not names:
        name = cfg.prefix + target
        return name, name, _train_config(cfg, task, name, cfg.target_steps, override, **tt)
    name = f"{cfg.prefix}{target}__{_VERB[recipe]}__{intermediate_label([Member((n,)) for n in names])}"
    if recipe == "sequential":
        return name, name, _train_config(cfg, task, name, cfg.target_steps, override, recipe="sequential", init_from=names[0], **tt)
    if recipe == "stack":
        tcfg = _train_config(cfg, task, name, cfg.target_steps, override, recipe="stack", intermediate=tuple(names), **tt)
        return name, "stack:" + ",".join([*names, name]), tcfg
    tcfg = _train_config(cfg, task, name, cfg.target_steps, override, recipe="fuse", intermediate=tuple(names), **tt)
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

    result = train_adapter(node.train_config, encoder=encoder, artifacts_dir=cfg.artifacts_dir, progress=progress,
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

    target, setup = node.target, node.setup
    if target is None or setup is None:  # every eval node of a plan has both (_cell)
        raise XtaError(f"{node.id}: a {node.kind} node has no target or setup to evaluate")
    return EvalConfig(
        setup=setup, tasks=(target,), langs=node.langs, benchmark=cfg.benchmark, model=cfg.model,
        split=cfg.override(target).eval_split or cfg.split, max_length=cfg.max_length, seed=cfg.seed, max_eval_examples=cfg.max_eval_examples,
        retrieval_layer=_first_set(cfg.override(target).retrieval_layer, cfg.retrieval_layer),
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
        gains = [v for v in out if v is not None]
        return None if len(gains) < len(out) else gains


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
        means = [mean_score(r.baseline(t)) for r in sr.runs.values()]
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

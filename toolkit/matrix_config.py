"""The transfer matrix's configuration (:class:`MatrixConfig`, per-task :class:`TaskOverride`, YAML and
``--set`` parsing) and its intermediate entries (``anli``, ``anli+siqa``, ``anli,siqa``); planning and
running live in :mod:`toolkit.matrix`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .config import NOHASH, check_choice, check_names, check_positive, check_split, coerce_fields
from .errors import ConfigError
from .io import safe_name

BASELINE = "none"


MATRIX_RECIPES = ("sequential", "stack", "fuse")


EXECUTORS = ("local", "ray")


LANG_MODES = ("all", "local")


OVERRIDE_KEYS = ("train_split", "dev_split", "train_task", "langs", "max_steps", "max_train_examples", "eval_split",
                 "retrieval_layer", "train_langs")

#: modifiers of an intermediate entry's ``+`` group (issue 21): ``anli+mlm`` mixes the matrix's
#: ``mlm_text`` masked-LM loss into the intermediate training; ``xnli+tt`` trains on the task's translated
#: data in ``train_langs`` (translate-train), beside the plain English ``xnli``
ENTRY_MODIFIERS = ("mlm", "tt")


_MAX_LABEL = 80


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
    ``train_langs``: the languages this task trains in (translate-train, issue 21): the target adapter
    always, an intermediate only in its ``+tt`` entry; its cells are labelled translate-train.
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
    train_langs: tuple[str, ...] = ()  # translate-train languages (issue 21); () = English only

    def __post_init__(self):
        coerce_fields(self)
        check_names("language", self.train_langs)
        if self.eval_split is not None:
            check_split("eval_split", self.eval_split)
        check_split("train_split", self.train_split)
        check_split("dev_split", self.dev_split)
        check_names("task", (self.train_task,) if self.train_task else ())
        check_names("language", self.langs)
        check_positive(self, "max_steps", "max_train_examples", "learning_rate", allow_none=True)


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
    # every adapter's train_log.jsonl interval and trackers (TrainConfig.logging_steps / report_to)
    logging_steps: int = field(default=10, metadata=NOHASH)
    report_to: tuple[str, ...] = field(default=(), metadata=NOHASH)
    # the seed paper's alternatives (issue 21): the text of ``+mlm`` entries and its loss weight; the
    # languages of ``+tt`` entries whose task has no ``train_langs`` override
    mlm_text: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})
    mlm_weight: float = field(default=1.0, metadata={"omit_if_default": True})
    train_langs: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})

    def __post_init__(self):
        overrides = self.overrides
        object.__setattr__(self, "overrides", {})
        coerce_fields(self)
        object.__setattr__(self, "overrides", _coerce_overrides(overrides))
        inters = tuple(dict.fromkeys((BASELINE, *self.intermediates)))
        object.__setattr__(self, "intermediates", inters)
        if not self.targets:
            raise ConfigError("targets: name at least one target task")
        if not self.recipes:
            raise ConfigError("recipes: name at least one of sequential, stack, fuse")
        for recipe in self.recipes:
            check_choice("recipes", recipe, MATRIX_RECIPES)
        check_choice("executor", self.executor, EXECUTORS)
        check_names("task", self.targets)
        for entry in inters:
            for member in parse_intermediate(entry):
                if member.mlm and not self.mlm_text:
                    raise ConfigError(f"intermediate {entry!r}: +mlm needs mlm_text, the plain-text files of the masked-LM loss")
        check_names("language", self.train_langs)
        if len(self.langs) == 1 and self.langs[0] in LANG_MODES:
            pass
        else:
            check_names("language", self.langs)
        raw_seeds = cast("tuple[str, ...]", self.seeds)  # coerce_fields made each item a str; int()ed here
        try:
            seeds = tuple(int(v) for v in raw_seeds)
        except ValueError:
            raise ConfigError(f"seeds: expected integers such as 1,2,3, got {','.join(raw_seeds)}") from None
        if len(set(seeds)) != len(seeds) or any(v < 0 for v in seeds):
            raise ConfigError(f"seeds: expected distinct non-negative integers, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        if self.prefix:
            safe_name(self.prefix + "x", "prefix")
            if not all(c.isalnum() or c == "_" for c in self.prefix):
                raise ConfigError(f"prefix: {self.prefix!r} may only hold letters, digits and '_' (adapter names become module names)")
        check_positive(self, "eval_batch_size", "num_cpus", "ray_cpus", "logging_steps")
        from .tracking import parse_report_to

        object.__setattr__(self, "report_to", parse_report_to(self.report_to))
        from .stats import CORRECTIONS

        check_choice("correction", self.correction, CORRECTIONS)
        for name in ("resamples", "permutations"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected 0 (none) or a positive number, got {getattr(self, name)}")
        check_positive(self, "batch_size", "learning_rate", "max_length", "intermediate_steps", "target_steps", "train_examples", "max_dev_examples",
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
        check_names("task", (str(task),))
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


@dataclass(frozen=True)
class Member:
    """One intermediate adapter: a card, or several cards trained jointly (multi-task)."""

    tasks: tuple[str, ...]
    prefix: str = ""
    mlm: bool = False  # + masked LM on the matrix's mlm_text (entry modifier "mlm")
    translated: bool = False  # trained on translated data in train_langs (entry modifier "tt")

    @property
    def name(self) -> str:
        base = self.tasks[0] if len(self.tasks) == 1 else _shorten("mt_" + "_and_".join(self.tasks))
        return self.prefix + base + ("_mlm" if self.mlm else "") + ("_tt" if self.translated else "")


def parse_intermediate(entry: str, prefix: str = "") -> tuple[Member, ...]:
    """``"none"`` -> (); ``"anli"`` -> one member; ``"anli+siqa"`` -> one multi-task member;
    ``"anli,siqa"`` -> two members (a set to stack or fuse)."""
    entry = str(entry).strip()
    if entry == BASELINE:
        return ()
    members = []
    for part in entry.split(","):
        pieces = tuple(t.strip() for t in part.split("+"))
        tasks = tuple(t for t in pieces if t not in ENTRY_MODIFIERS)
        if not all(pieces) or not tasks or len(set(pieces)) != len(pieces):
            raise ConfigError(f"intermediate {entry!r}: expected CARD, CARD+CARD (multi-task), CARD+mlm, CARD+tt "
                              "or CARD,CARD (a set)")
        for t in tasks:
            if not all(c.isalnum() or c in "_." for c in t):
                raise ConfigError(f"intermediate {entry!r}: task names hold letters, digits, '_' and '.' only")
        members.append(Member(tasks, prefix, mlm="mlm" in pieces, translated="tt" in pieces))
    if len({m.name for m in members}) != len(members):
        raise ConfigError(f"intermediate {entry!r} names an adapter twice")
    return tuple(members)


def intermediate_label(members: Sequence[Member]) -> str:
    """Filesystem- and setup-safe label of an intermediate set (shortened with a hash when long)."""
    return _shorten("__".join(m.name for m in members))


def _shorten(text: str) -> str:
    """``text`` if short, else its first 60 characters + ``_h`` + 10 hex digits of its sha256: adapter
    names become module names in torch, so only letters, digits and '_' are used."""
    if len(text) > _MAX_LABEL:
        text = text[:60] + "_h" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return text

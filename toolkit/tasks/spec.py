"""TaskSpec: one strict, declarative record per task.

Tasks are data, task shapes are code (see ../shared/ARCHITECTURE.md). A TaskSpec says *what* a task is:
its shape, labels, metrics, where its data lives for every split (a local mirror of the original files
and/or a Hugging Face dataset) and how to train for it. The family module of its shape
(``toolkit.families``) says *how* to featurise, predict and score.

Normalised example schemas, one per shape (what ``toolkit.data.load`` returns):

* ``classification`` / ``pair_classification``: ``{"id", "text", "text_pair" (None for single), "label": str}``
* ``multiple_choice``: ``{"id", "context", "question", "choices": [str, ...], "label": int}``; for XCOPA-style
  tasks ``question`` holds the raw type (``cause``/``effect``) and ``TaskSpec.question_prompts`` maps it to
  the text the task defines.
* ``extractive_qa``: SQuAD schema ``{"id", "title", "context", "question",
  "answers": {"text": [...], "answer_start": [...]}}`` (empty lists = no answer, SQuAD v2.0).
* ``tagging``: ``{"id", "tokens": [str, ...], "tags": [str, ...]}``
* ``retrieval``: a :class:`toolkit.data.RetrievalData` (queries, candidates, gold), not a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError
from ..families import FAMILIES

#: The task shapes: one per family module (:mod:`toolkit.families`, whose registry adds a shape)
SHAPES = tuple(FAMILIES)
CATEGORIES = ("classification", "structured_prediction", "qa", "retrieval")
#: Translated training data (issue 21, ``--train-langs``): for a language other than English, training
#: reads this split in place of the English source the card trains from (``train_from``: MNLI for XNLI).
TRANSLATE_TRAIN = "translate_train"
SPLITS = ("train", "dev", "test", TRANSLATE_TRAIN)
#: The official scoring rules of retrieval tasks (``TaskSpec.retrieval_rule``): bitext accuracy as Tatoeba is
#: scored, BUCC mining F1 with a threshold tuned on dev, answer-retrieval mAP@20 as LAReQA is scored.
RETRIEVAL_RULES = ("tatoeba", "bucc2018", "lareqa")
METRICS = (
    "accuracy",
    "token_accuracy",
    "f1",
    "exact_match",
    "mlqa_f1",
    "mlqa_exact_match",
    "qa_mean",  # (EM + F1) / 2, the QA main score of the XTREME-R aggregation
    "seqeval_f1",
    "bucc_f1",
    "map@20",
)


def _strict(cls, data: Mapping[str, Any], where: str):
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with a clear message."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(names))})")
    try:
        return cls(**data)
    except TypeError as exc:  # a missing required key
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:  # a value check in __post_init__: say which file
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class LocalSource:
    """Original files in a local mirror directory (``--data-dir`` / ``XTA_DATA_DIR``).

    ``pattern`` is a path relative to the data directory; ``{lang}`` (XTREME code), ``{code}`` (the
    per-task code from ``lang_codes``, default the XTREME code), ``{name}`` (English name) and ``{split}``
    are substituted; glob characters are allowed and all matches are concatenated in sorted order
    (XTREME merges every UD treebank of a language this way). ``format`` names a reader in
    ``toolkit.data.READERS``; ``options`` are passed to it.
    """

    pattern: str
    format: str
    options: Mapping[str, Any] = field(default_factory=dict)
    lang_codes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face dataset: ``load_dataset(path, config, split=split, revision=revision)``.

    ``config``/``split`` may use ``{lang}``, ``{code}`` and ``{name}`` like :class:`LocalSource`.
    ``columns`` maps normalised field -> Hub column; ``label_names`` turns integer labels into the
    task's label strings; ``filter`` keeps rows whose column equals a value (``{lang}`` allowed).
    ``format`` names a converter in ``toolkit.data.HUB_CONVERTERS`` (default: by shape). A ``filter``
    value ending in ``*`` is a prefix match (TyDiQA ids start with the language name).
    """

    path: str
    config: str | None = None
    split: str = "validation"
    revision: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    label_names: tuple[str, ...] | None = None
    filter: Mapping[str, str] = field(default_factory=dict)
    format: str | None = None
    lang_codes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.revision is None:  # the pinned revision of a known dataset (toolkit.tasks.hub_revisions)
            from .hub_revisions import HUB_REVISIONS

            object.__setattr__(self, "revision", HUB_REVISIONS.get(self.path))


@dataclass(frozen=True)
class SplitSource:
    """Where one split lives: local alternatives tried in order, then the Hub.

    ``hub`` may be a tuple of sources whose rows are concatenated (anli_plus = SNLI + MNLI + ANLI R1-R3);
    ``hub_overrides`` gives another Hub source for some languages (XTREME-R's UD 2.7 additions).
    ``builtin`` names a generator in ``toolkit.cldr.BUILTINS`` that makes the data in-process (the demo
    benchmark, issue 9); it takes precedence over local files and the Hub.
    """

    local: tuple[LocalSource, ...] = ()
    hub: HubSource | tuple[HubSource, ...] | None = None
    hub_overrides: Mapping[str, HubSource] = field(default_factory=dict)
    languages: tuple[str, ...] | None = None  # None: the task's languages (train splits: ("en",))
    builtin: str | None = None  # a generator of toolkit.cldr.BUILTINS, called as fn(lang, split)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    shape: str
    description: str
    benchmarks: tuple[str, ...]  # "xtreme-r", "xtreme", or ("intermediate",)
    category: str | None = None  # XTREME-R category, for target tasks
    labels: tuple[str, ...] | None = None
    open_labels: bool = False  # tagging tasks whose label set comes from the data (CCG supertags)
    metrics: tuple[str, ...] = ("accuracy",)
    main_metric: str = "accuracy"
    splits: Mapping[str, SplitSource] = field(default_factory=dict)
    languages: tuple[str, ...] = ("en",)  # for intermediate tasks; targets read languages.py
    train_from: tuple[str, ...] = ()  # English training source(s) for zero-shot transfer, in order
    question_prompts: Mapping[str, str] = field(default_factory=dict)
    version: int = 1
    citation: str = ""
    license: str = ""
    url: str = ""
    # intermediate cards only
    adapter: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    requires_local_path: bool = False
    card_path: str | None = None
    # the full English training set's size (examples) and where that number comes from (dataset card or
    # paper): the ``size`` estimator of ``xta select`` ranks by it, whatever split loads offline
    train_size: int | None = None
    train_size_source: str = ""
    # retrieval tasks: the official scoring rule they follow (one of RETRIEVAL_RULES), declared, not inferred
    retrieval_rule: str | None = None

    def __post_init__(self):
        if self.shape not in FAMILIES:  # the registry of families, read live: a new family module adds a shape
            raise ConfigError(f"task {self.name!r}: shape {self.shape!r} is not one of {', '.join(FAMILIES)}")
        if self.category is not None and self.category not in CATEGORIES:
            raise ConfigError(f"task {self.name!r}: category {self.category!r} is not one of {', '.join(CATEGORIES)}")
        if self.main_metric not in self.metrics:
            raise ConfigError(f"task {self.name!r}: main metric {self.main_metric!r} is not among its metrics")
        for split in self.splits:
            if split not in SPLITS:
                raise ConfigError(f"task {self.name!r}: split {split!r} is not one of {', '.join(SPLITS)}")
        if (self.shape == "retrieval") != (self.retrieval_rule is not None) or (
                self.retrieval_rule is not None and self.retrieval_rule not in RETRIEVAL_RULES):
            raise ConfigError(f"task {self.name!r}: a retrieval task declares its scoring rule (retrieval_rule: one of "
                              f"{', '.join(RETRIEVAL_RULES)}), and only a retrieval task does (got {self.retrieval_rule!r})")
        if FAMILIES[self.shape].NAMED_LABELS and not (self.labels or self.open_labels):
            raise ConfigError(f"task {self.name!r}: a {self.shape} task must declare its labels")

    @property
    def is_target(self) -> bool:
        return "intermediate" not in self.benchmarks

    def langs(self, benchmark: str | None = None) -> tuple[str, ...]:
        """Evaluation languages: the language table for target tasks, the record's list otherwise (also for
        target tasks the table does not know, such as the built-in demo tasks)."""
        from ..languages import task_languages

        if not self.is_target or not task_languages(self.name):
            return self.languages
        return task_languages(self.name, benchmark)

    def split_languages(self, split: str) -> tuple[str, ...]:
        src = self.splits.get(split)
        if src is None:
            return ()
        if src.languages is not None:
            return src.languages
        return ("en",) if split == "train" else self.langs()


def local(pattern: str, fmt: str, **kw) -> LocalSource:
    return LocalSource(pattern=pattern, format=fmt, **kw)


def hub(path: str, config: str | None = None, split: str = "validation", **kw) -> HubSource:
    return HubSource(path=path, config=config, split=split, **kw)


def split(*locals_: LocalSource, hub=None, languages: tuple[str, ...] | None = None, hub_overrides=None):
    return SplitSource(local=tuple(locals_), hub=hub, languages=languages, hub_overrides=hub_overrides or {})


def spec_from_mapping(data: Mapping[str, Any], where: str) -> TaskSpec:
    """Build a TaskSpec from a YAML card's mapping; unknown keys are rejected."""
    data = dict(data)
    splits = {}
    for name, s in (data.pop("splits", None) or {}).items():
        s = dict(s or {})
        locs = tuple(_strict(LocalSource, x, f"{where}: splits.{name}.local") for x in s.pop("local", []) or [])
        hb = s.pop("hub", None)
        if isinstance(hb, list):
            hb = tuple(_hub(x, f"{where}: splits.{name}.hub[{i}]") for i, x in enumerate(hb))
        elif hb:
            hb = _hub(hb, f"{where}: splits.{name}.hub")
        langs = s.pop("languages", None)
        if s:
            raise ConfigError(f"{where}: splits.{name}: unknown key(s) {', '.join(sorted(s))} (allowed: hub, languages, local)")
        splits[name] = SplitSource(local=locs, hub=hb or None, languages=tuple(langs) if langs else None)
    data["splits"] = splits
    for key in ("benchmarks", "labels", "metrics", "languages", "train_from"):
        data = _tuplify(data, key)
    data.setdefault("benchmarks", ("intermediate",))
    return _strict(TaskSpec, data, where)


def _hub(data: Mapping[str, Any], where: str) -> HubSource:
    return _strict(HubSource, _tuplify(data, "label_names"), where)


def _tuplify(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    d = dict(d)
    if isinstance(d.get(key), list):
        d[key] = tuple(d[key])
    return d

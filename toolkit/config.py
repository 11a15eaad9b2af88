"""Frozen run configurations: training an adapter (or a fusion, or a stacked adapter) and evaluating.

The CLI turns flags into one of these objects; every check that does not need a model happens in
``__post_init__`` (types, ranges, adapter config names, the setup grammar), so a typo fails in
milliseconds, before any weights load. Checks that need the task registry live in ``validate()``,
imported lazily to avoid import cycles.

Hashing: :func:`config_hash` is the SHA-256 of the canonical JSON (sorted keys, no spaces) of the
fields that change results. Fields that only say *where* (``data_dir``, ``output_dir``,
``results_dir``) or *how fast* (``device``, evaluation ``batch_size``), and fields that only *select*
cells (the evaluation ``tasks``/``langs``/``benchmark``: each record is already keyed by task and
holds one entry per language), carry ``metadata={"hash": False}``. Data files are identified by their
SHA-256 in result records, not by their path. A field added after results exist must carry
``metadata={"omit_if_default": True}``, so that old hashes stay valid while it keeps its default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from .errors import ConfigError, SetupError, UnknownLanguage, XtaError
from .io import safe_name

__all__ = [
    "TrainConfig",
    "EvalConfig",
    "ADAPTER_CONFIG_NAMES",
    "RECIPES",
    "SAMPLING",
    "config_hash",
    "to_dict",
    "from_dict",
    "from_yaml",
]

# The keys of adapters.ADAPTER_CONFIG_MAP in adapters 1.3.0 (pinned in pyproject.toml); a test keeps
# this equal to the library's map, so checking a name costs no 3-second `import adapters`.
ADAPTER_CONFIG_NAMES: tuple[str, ...] = (
    "compacter", "compacter++", "direft", "dora", "double_seq_bn", "double_seq_bn_inv", "dvora",
    "houlsby", "houlsby+inv", "ia3", "lora", "loreft", "mam", "mtl_lora", "noreft", "par_bn",
    "parallel", "pfeiffer", "pfeiffer+inv", "prefix_tuning", "prefix_tuning_flat", "prompt_tuning",
    "scaled_par_bn", "scaled_parallel", "seq_bn", "seq_bn_inv", "unipelt", "vera",
)  # fmt: skip

# Bottleneck configs take `reduction_factor` (Houlsby et al. 2019; Pfeiffer et al. 2021).
BOTTLENECK_CONFIGS = frozenset({
    "seq_bn", "seq_bn_inv", "double_seq_bn", "double_seq_bn_inv", "par_bn", "scaled_par_bn",
    "pfeiffer", "pfeiffer+inv", "houlsby", "houlsby+inv", "parallel", "scaled_parallel",
})  # fmt: skip

RECIPES = ("none", "sequential", "stack", "fuse")
SAMPLING = ("proportional", "uniform", "temperature")
PRECISIONS = ("fp32", "bf16", "fp16")
BENCHMARKS = ("xtreme-r", "xtreme", "demo")
EVAL_SPLITS = ("dev", "test", "auto")
POOLINGS = ("mean", "cls")

NOHASH = {"hash": False}

class _Dataclass(Protocol):
    """Any dataclass (what ``dataclasses.fields`` accepts), as typeshed's DataclassInstance."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


C = TypeVar("C", bound=_Dataclass)  # the config dataclasses


# --------------------------------------------------------------------------------------------------
# shared helpers: coercion, checks
# --------------------------------------------------------------------------------------------------


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Coerce a value from YAML or CLI flags to the field's type; ConfigError with the field name."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = typing.get_args(hint) if is_union else (hint,)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{name}: a value is required")
    base = next(a for a in args if a is not type(None))
    origin = typing.get_origin(base)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return tuple(str(v) for v in value)
    return _coerce_scalar(name, value, base)


def _coerce_scalar(name: str, value: Any, base: Any) -> Any:
    if base is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if base in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected {'a number' if base is float else 'an integer'}, got {value!r}")
        try:
            number = float(value) if base is float else int(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{name}: expected {'a number' if base is float else 'an integer'}, got {value!r}") from None
        if base is float and not math.isfinite(number):  # inf/nan would train or score into a plausible number
            raise ConfigError(f"{name}: expected a finite number, got {value!r}")
        if base is int and isinstance(value, float) and value != number:
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return number
    if base is str:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return str(value)
    return value


def coerce_fields(cfg: Any) -> None:
    hints = typing.get_type_hints(type(cfg))
    for f in fields(cfg):
        object.__setattr__(cfg, f.name, _coerce(f.name, getattr(cfg, f.name), hints[f.name]))


def check_choice(name: str, value: str, allowed: tuple[str, ...] | frozenset[str], hint: str = "") -> None:
    if value not in allowed:
        close = difflib.get_close_matches(value, list(allowed), n=3, cutoff=0.6)
        mean = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}{mean}{hint}")


def check_positive(cfg: Any, *names: str, allow_none: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is None and allow_none:
            continue
        if value is None or value <= 0:
            raise ConfigError(f"{name}: must be positive, got {value!r}")


#: more layers than any encoder xta can load has (XLM-R XXL has 48)
MAX_LAYERS = 1024


def parse_layers(text: str, name: str = "layers") -> tuple[int, ...]:
    """``"0-11"`` / ``"0,1,2"`` / ``"0-3,8"`` -> sorted layer indices; ``""`` -> ()."""
    out: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not a layer index or range such as 0-11") from None
        if first < 0 or last < first:
            raise ConfigError(f"{name}: {part!r} is not a valid range of layer indices")
        if last >= MAX_LAYERS:  # no encoder has that many layers; a huge range would only eat memory
            raise ConfigError(f"{name}: {part!r} goes beyond layer {MAX_LAYERS - 1}")
        out.update(range(first, last + 1))
    return tuple(sorted(out))


def check_split(name: str, value: str) -> None:
    from .data import parse_split

    try:
        parse_split(value)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def check_names(kind: str, values: tuple[str, ...]) -> None:
    for v in values:
        try:
            safe_name(v, kind)
        except XtaError as exc:
            raise ConfigError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Train one adapter (+ head) on a task, on a frozen encoder.

    Recipes (how the new adapter relates to existing ones):

    * ``none``: a fresh adapter (Houlsby et al. 2019; Pfeiffer et al. 2020, AdapterHub).
    * ``sequential``: initialise from a trained adapter ``init_from`` and continue on ``task``
      (intermediate-task training, Phang et al. 2018 "STILTs"; Pruksachatkun et al. 2020).
    * ``stack``: a new adapter stacked above the frozen ``intermediate`` adapters (MAD-X,
      Pfeiffer et al. 2020).
    * ``fuse``: an AdapterFusion layer over the frozen ``intermediate`` adapters, trained with the
      head for ``task`` (Pfeiffer et al. 2021).

    Multi-task: ``extra_tasks`` are trained jointly with ``task`` (one shared adapter, one head per
    task); batches are drawn per task by ``sampling``: ``proportional`` to dataset size, ``uniform``,
    or ``temperature``: p_i proportional to n_i^(1/T) (Arivazhagan et al. 2019; T=1 is proportional).

    ``learning_rate``/``epochs``/``batch_size``/``max_length`` left at None take the task card's
    ``training:`` value (:func:`training_defaults`), beneath anything given in code, YAML or flags; every
    caller (train-adapter, fuse, stack, eval's on-the-fly targets, the matrix) builds a TrainConfig, so
    this is the one place they are resolved. After construction they always hold a value;
    :attr:`defaults_applied` says which ones came from where.
    """

    task: str
    model: str = "embedded"
    adapter_config: str = "seq_bn"
    reduction_factor: float = 16.0
    adapter_name: str | None = None  # default: the task name
    learning_rate: float | None = None  # None: the card's, else 1e-4 (training_defaults)
    epochs: float | None = None  # None: the card's, else 3
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int | None = None  # None: the card's, else 16
    gradient_accumulation_steps: int = 1
    max_length: int | None = None  # None: the card's, else 384 for extractive QA, else 128
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    precision: str = "fp32"
    seed: int = 42
    max_train_examples: int | None = None
    eval_every: int | None = None  # steps; None: once per epoch
    patience: int | None = None  # evaluations without improvement of the dev main score; None: no early stop
    recipe: str = "none"
    init_from: str | None = None
    intermediate: tuple[str, ...] = ()
    extra_tasks: tuple[str, ...] = ()
    sampling: str = "proportional"
    temperature: float = 2.0
    # which English data to train and select on; a slice such as "dev[:80%]" / "dev[80%:]" lets a task
    # whose training set is not at hand (offline) train on part of another split without overlap
    train_split: str = field(default="train", metadata={"omit_if_default": True})
    dev_split: str = field(default="dev", metadata={"omit_if_default": True})
    # layers without the adapter, e.g. "0-11": AdapterDrop (Rücklé et al. 2021) -- backward stops above them
    leave_out: str = field(default="", metadata={"omit_if_default": True})
    # issue 21, the seed paper's alternatives to English intermediate training. ``mlm_text``: plain-text
    # files (one sentence per line) whose masked-LM loss, times ``mlm_weight``, is mixed into training as
    # one more multi-task "task" (the files' contents are hashed, not their paths). ``train_langs``: the
    # languages of the training data (default English only); others read the task's translated data
    # (translate-train), and the adapter is then not zero-shot in them.
    mlm_text: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True, "hash": False})
    mlm_weight: float = field(default=1.0, metadata={"omit_if_default": True})
    train_langs: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})
    data_dir: str | None = field(default=None, metadata=NOHASH)
    output_dir: str | None = field(default=None, metadata=NOHASH)
    device: str | None = field(default=None, metadata=NOHASH)
    # training log (train_log.jsonl) every N optimizer steps, and trackers fed the same lines (toolkit.tracking)
    logging_steps: int = field(default=10, metadata=NOHASH)
    report_to: tuple[str, ...] = field(default=(), metadata=NOHASH)

    def __post_init__(self):
        coerce_fields(self)
        from .tracking import parse_report_to

        object.__setattr__(self, "report_to", parse_report_to(self.report_to))
        if self.train_langs in (("en",), ["en"]):
            object.__setattr__(self, "train_langs", ())  # English only is the default: the same hash
        self._apply_training_defaults()
        check_names("task", (self.task, *self.extra_tasks))
        check_names("adapter", self.intermediate + ((self.adapter_name,) if self.adapter_name else ()))
        check_choice("adapter_config", self.adapter_config, ADAPTER_CONFIG_NAMES, " (names from adapters.ADAPTER_CONFIG_MAP)")
        check_choice("recipe", self.recipe, RECIPES)
        check_choice("sampling", self.sampling, SAMPLING)
        check_choice("precision", self.precision, PRECISIONS)
        check_positive(self, "reduction_factor", "learning_rate", "epochs", "batch_size", "max_length",
                  "gradient_accumulation_steps", "temperature")  # fmt: skip
        check_positive(self, "max_steps", "max_train_examples", "eval_every", "patience", allow_none=True)
        check_positive(self, "logging_steps")
        check_split("train_split", self.train_split)
        check_split("dev_split", self.dev_split)
        parse_layers(self.leave_out, "leave_out")
        self._check_ranges()
        self._check_recipe()
        self._check_tasks()

    def _apply_training_defaults(self) -> None:
        hints = typing.get_type_hints(type(self))
        applied: dict[str, str] = {}
        for name, (value, source) in training_defaults(self.task).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, _coerce(f"{source}: training.{name}", value, hints[name]))
                applied[name] = source
        object.__setattr__(self, "_defaults_applied", applied)

    @property
    def defaults_applied(self) -> dict[str, str]:
        """``{field: where its value came from}`` for the fields this config was not given (e.g.
        ``{"max_length": "card squad_v1"}``); recorded in the adapter's card."""
        return dict(getattr(self, "_defaults_applied", {}))

    def _check_ranges(self) -> None:
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay: must be >= 0, got {self.weight_decay}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be >= 0, got {self.seed}")

    def _check_recipe(self) -> None:
        if self.recipe == "sequential" and not self.init_from:
            raise ConfigError("recipe 'sequential' needs init_from: the trained adapter to start from")
        if self.recipe != "sequential" and self.init_from:
            raise ConfigError(f"init_from is only used by recipe 'sequential' (recipe is {self.recipe!r})")
        if self.recipe in ("stack", "fuse") and not self.intermediate:
            raise ConfigError(f"recipe {self.recipe!r} needs intermediate: the trained adapters to {self.recipe}")
        if self.recipe in ("none", "sequential") and self.intermediate:
            raise ConfigError(f"intermediate adapters are only used by recipes 'stack' and 'fuse' (recipe is {self.recipe!r})")
        if len(set(self.intermediate)) != len(self.intermediate):
            raise ConfigError(f"intermediate lists an adapter twice: {', '.join(self.intermediate)}")

    def _check_tasks(self) -> None:
        all_tasks = self.all_tasks
        if len(set(all_tasks)) != len(all_tasks):
            raise ConfigError(f"extra_tasks repeat a task: {', '.join(all_tasks)}")
        if self.extra_tasks and self.recipe == "fuse":
            raise ConfigError("a fusion is trained for one target task; drop extra_tasks or use recipe 'none'")
        if self.mlm_text and self.recipe == "fuse":
            raise ConfigError("mlm_text trains the adapter with a masked-LM loss; a fusion has no adapter of its own to train")
        if self.mlm_weight <= 0:
            raise ConfigError(f"mlm_weight: must be positive, got {self.mlm_weight}")
        check_names("language", self.train_langs)
        if len(set(self.train_langs)) != len(self.train_langs):
            raise ConfigError(f"train_langs repeats a language: {', '.join(self.train_langs)}")

    @property
    def all_tasks(self) -> tuple[str, ...]:
        """The task and the extra tasks of multi-task training, in order."""
        return (self.task, *self.extra_tasks)

    @property
    def name(self) -> str:
        """The name of the trained adapter (or of the fusion, for recipe 'fuse')."""
        return self.adapter_name or self.task

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the adapter's training data is in (``("en",)`` unless ``train_langs`` says more)."""
        return self.train_langs or ("en",)

    @property
    def uses_reduction_factor(self) -> bool:
        return self.adapter_config in BOTTLENECK_CONFIGS

    def validate(self) -> None:
        """Checks that need the task registry: every task is known (UnknownTask with did-you-mean)."""
        from .tasks import get_task

        for task in self.all_tasks:
            get_task(task)


#: The TrainConfig fields a task card's ``training:`` block sets (``adapters_zoo/*.yaml``; the block's
#: other keys, ``doc_stride`` and ``version_2_with_negative``, shape featurisation and decoding).
CARD_TRAINING_FIELDS = ("learning_rate", "epochs", "batch_size", "max_length")
#: Beneath every card: xta's built-in values.
BUILTIN_TRAINING = {"learning_rate": 1e-4, "epochs": 3.0, "batch_size": 16, "max_length": 128}


def training_defaults(task: str) -> dict[str, tuple[Any, str]]:
    """``{field: (value, source)}`` for :data:`CARD_TRAINING_FIELDS`: the task's own card ``training:``
    block, else that of the first of its ``train_from`` sources that sets the field (a target such as
    xquad trains on squad_v1, whose card says 384 tokens), else its shape's (the family's
    ``TRAINING_DEFAULTS``: extractive QA at 384 tokens, as XTREME's run_squad.py), else
    :data:`BUILTIN_TRAINING`. An unknown task gets the built-in values (``validate()`` reports it)."""
    from .families import get_family
    from .tasks import get_task

    try:
        spec = get_task(task)
        chain = [spec, *(get_task(name) for name in spec.train_from if name != spec.name)]
    except XtaError:
        return {name: (value, "xta default") for name, value in BUILTIN_TRAINING.items()}
    out: dict[str, tuple[Any, str]] = {}
    for name in CARD_TRAINING_FIELDS:
        card = next((c for c in chain if name in (c.training or {})), None)
        if card is not None:
            out[name] = (card.training[name], f"card {card.name}")
        elif name in (shaped := get_family(spec).TRAINING_DEFAULTS):
            out[name] = (shaped[name], f"{spec.shape} default")
        else:
            out[name] = (BUILTIN_TRAINING[name], "xta default")
    return out


# --------------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """Zero-shot evaluation of one adapter setup on target tasks, language by language.

    ``tasks`` empty: every target task of ``benchmark``; ``langs`` empty (or ``all``): every language
    of each task. ``max_length``/``retrieval_layer`` None: the task family's default (the values of
    the XTREME scripts, e.g. 384 tokens with doc_stride 128 for QA, XTREME's step between windows; for retrieval
    the encoder's protocol layer, :func:`toolkit.retrieval.protocol_layer`, and the official lengths,
    :func:`toolkit.retrieval.protocol_config`).

    ``setup`` ``auto``: each task's own target adapter (named like the task; trained on the task's
    English training source when it is not in the artifacts yet, with the ``train_*`` options), or
    the bare encoder for tasks without training data (tatoeba, bucc2018). ``split`` ``auto``: ``test``
    where its files hold gold labels, else ``dev`` (recorded in every result). The ``train_*`` options
    only shape target adapters trained on the fly; the adapter's own hash enters the result's config
    hash, so they are not hashed here.
    """

    setup: str = "auto"
    tasks: tuple[str, ...] = field(default=(), metadata=NOHASH)
    langs: tuple[str, ...] = field(default=(), metadata=NOHASH)
    benchmark: str = field(default="xtreme-r", metadata=NOHASH)
    model: str = "embedded"
    split: str = "auto"
    max_length: int | None = None
    retrieval_layer: int | None = None
    retrieval_pooling: str = "mean"
    seed: int = 42
    max_eval_examples: int | None = None
    batch_size: int = field(default=32, metadata=NOHASH)
    train_steps: int | None = field(default=None, metadata=NOHASH)
    train_examples: int | None = field(default=None, metadata=NOHASH)
    train_dev_examples: int | None = field(default=None, metadata=NOHASH)  # English dev examples for model selection
    train_split: str = field(default="train", metadata=NOHASH)
    train_dev_split: str = field(default="dev", metadata=NOHASH)
    train_batch_size: int | None = field(default=None, metadata=NOHASH)  # None: the training source card's (TrainConfig)
    train_learning_rate: float | None = field(default=None, metadata=NOHASH)
    # TARGET=SOURCE[/TRAIN_SPLIT[/DEV_SPLIT]]: train the target's adapter on another task's English data with
    # the same head shape and/or other splits (offline: xquad=tydiqa, xnli=xnli/dev[:80%]/dev[80%:]);
    # the adapter's card records it
    train_from: tuple[str, ...] = field(default=(), metadata=NOHASH)
    data_dir: str | None = field(default=None, metadata=NOHASH)
    results_dir: str | None = field(default=None, metadata=NOHASH)
    artifacts_dir: str | None = field(default=None, metadata=NOHASH)
    # replace finished results that were computed under another configuration (else they are kept and
    # the language is reported as a conflict)
    overwrite: bool = field(default=False, metadata=NOHASH)
    device: str | None = field(default=None, metadata=NOHASH)
    # bootstrap resamples of each language's 95% CI over its test examples (toolkit.stats); 0: no CI
    bootstrap_resamples: int = field(default=1000, metadata=NOHASH)
    # evaluate adapters whose card names another encoder fingerprint than the one in use (else refused);
    # the records of such languages list those adapters under evaluation.adapters_for_other_encoder
    force: bool = field(default=False, metadata=NOHASH)

    def __post_init__(self):
        coerce_fields(self)
        if self.bootstrap_resamples < 0:
            raise ConfigError(f"bootstrap_resamples: expected 0 (no CI) or a positive number, got {self.bootstrap_resamples}")
        if self.langs == ("all",):
            object.__setattr__(self, "langs", ())
        from .setups import parse_setup

        if self.setup != "auto":
            try:
                object.__setattr__(self, "setup", str(parse_setup(self.setup)))
            except SetupError as exc:
                raise ConfigError(f"setup: {exc}") from None
        check_split("train_split", self.train_split)
        check_split("train_dev_split", self.train_dev_split)
        check_positive(self, "train_steps", "train_examples", "train_dev_examples", allow_none=True)
        check_positive(self, "train_batch_size", "train_learning_rate", allow_none=True)
        for pair in self.train_from:
            if pair.count("=") != 1 or not all(pair.split("=")):
                raise ConfigError(f"train_from: expected TARGET=SOURCE[/TRAIN_SPLIT[/DEV_SPLIT]] (e.g. xquad=tydiqa), got {pair!r}")
            for split in pair.split("=")[1].split("/")[1:]:
                check_split("train_from", split)
        check_names("task", self.tasks)
        check_names("language", self.langs)
        check_choice("benchmark", self.benchmark, BENCHMARKS)
        check_split("split", self.split)  # dev, test, auto, or a slice of dev/test such as dev[80%:]
        from .data import parse_split

        base, bounds = parse_split(self.split)
        check_choice("split", base, EVAL_SPLITS)
        if bounds and base == "auto":
            raise ConfigError("split: slice dev or test (e.g. dev[80%:]), not auto")
        check_choice("retrieval_pooling", self.retrieval_pooling, POOLINGS)
        check_positive(self, "batch_size")
        check_positive(self, "max_length", "max_eval_examples", allow_none=True)
        if self.seed < 0:
            raise ConfigError(f"seed: must be >= 0, got {self.seed}")

    @property
    def train_sources(self) -> dict[str, tuple[str, str, str]]:
        """``train_from`` as {target: (source task, train split, dev split)}."""
        out = {}
        for pair in self.train_from:
            target, source = pair.split("=")
            task, *splits = source.split("/")
            out[target] = (task, splits[0] if splits else self.train_split,
                           splits[1] if len(splits) > 1 else self.train_dev_split)
        return out

    def validate(self) -> None:
        """Checks that need the registries: tasks known, every language known and in some task."""
        from . import languages
        from .tasks import get_task

        specs = [get_task(t) for t in self.tasks]
        for lang in self.langs:
            languages.get(lang)
        if specs and self.langs:
            offered = {lang for s in specs for lang in s.langs(self.benchmark)}
            for lang in self.langs:
                if lang not in offered:
                    raise UnknownLanguage(lang, offered, task="/".join(self.tasks))

    def languages_for(self, task_langs: tuple[str, ...]) -> tuple[str, ...]:
        """The requested languages that a task has, in the task's order (all of them if none requested)."""
        return task_langs if not self.langs else tuple(lang for lang in task_langs if lang in self.langs)


# --------------------------------------------------------------------------------------------------
# dicts, YAML, hashing
# --------------------------------------------------------------------------------------------------


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of every field (tuples become lists)."""
    return {f.name: _jsonable(getattr(cfg, f.name)) for f in fields(cfg)}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def from_dict(cls: type[C], data: Mapping[str, Any], where: str = "config") -> C:
    """Build ``cls`` from a mapping; unknown keys are refused with a did-you-mean."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(names)})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    try:
        return cls(**data)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def from_yaml(path: str | Path, cls: type[C]) -> C:
    """Read a YAML mapping (``yaml.safe_load``) into ``cls``; errors name the file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    return from_dict(cls, data or {}, where=str(path))


def hashed_fields(cfg: Any) -> dict[str, Any]:
    """The fields that change results (see the module docstring), as JSON-friendly values."""
    out = {}
    for f in fields(cfg):
        if not f.metadata.get("hash", True):
            continue
        value = getattr(cfg, f.name)
        if f.metadata.get("omit_if_default") and value == _default(f):
            continue
        out[f.name] = _jsonable(value)
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same object always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_hash(cfg: Any, **extra: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of the config's kind, its hashed fields and ``extra``.

    ``extra`` adds facts that change results but are not options, e.g.
    ``config_hash(cfg, encoder=enc.fingerprint, adapters={name: sha256})``.
    """
    payload = {"kind": type(cfg).__name__, "fields": hashed_fields(cfg)}
    if extra:
        payload["extra"] = extra
    # surrogatepass: a path of undecodable bytes (surrogate-escaped) still hashes; other text is plain UTF-8
    return hashlib.sha256(canonical_json(payload).encode("utf-8", "surrogatepass")).hexdigest()

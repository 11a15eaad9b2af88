"""The data side of a training run: each task's featurised training phases (one per training source and
language: translated data for ``--train-langs``), its English dev data, the masked-LM text of
``--mlm-text``, and the plan of micro-batches (single task in phases, or multi-task sampling). Split out of
:mod:`toolkit.train`, which trains on what this prepares and re-exports it."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from .config import TrainConfig
from .errors import ConfigError, DataError, DataUnavailable, SetupError
from .families import get_family
from .families.base import Features
from .mlm import mask_tokens, mlm_forward, pad_mlm_batch, pretrained_mlm_head, read_sentences
from .preflight import dev_source, training_phases, training_sources

if TYPE_CHECKING:
    from .datafiles import Loaded

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def resolved_field(value: _T | None, name: str) -> _T:
    """A TrainConfig field typed optional that always holds a value once the config is built: ``__post_init__``
    fills ``learning_rate``/``epochs``/``batch_size``/``max_length`` in from the task card (training_defaults)."""
    if value is None:
        raise ConfigError(f"{name}: no value (TrainConfig takes it from the task card when it is not given)")
    return value




@dataclass
class TaskData:
    """One task's training features and dev examples, with the head that serves it."""

    spec: Any
    head: str
    train: Features
    dev: Features | None
    sources: list[str]
    provenance: dict[str, Any]
    labels: list[str] | None = None
    lang: str = "en"  # the language of ``train`` (not English: translated training data, cfg.train_langs)


@dataclass
class _Items:
    items: list[list[int]]


@dataclass
class MLMText:
    """Masked-LM text mixed into training (``cfg.mlm_text``): token ids per sentence, sampled like a task.

    ``pretrained`` is the encoder checkpoint's MLM head (frozen) or None (a fresh head trains); ``losses``
    holds ``[step, loss]`` of every MLM micro-batch this process ran, for the card."""

    train: _Items
    files: dict[str, str]  # path -> sha256
    sentences: int
    vocab_size: int
    pretrained: tuple[dict[str, torch.Tensor], str] | None
    weight: float
    losses: list[list[float]] = field(default_factory=list)


def prepare_mlm(cfg: TrainConfig, encoder) -> MLMText | None:
    """Read and tokenise ``cfg.mlm_text`` (one sentence per line); None without it."""
    if not cfg.mlm_text:
        return None
    from .data import file_hashes

    sentences = [line for path in cfg.mlm_text for line in read_sentences(path)]
    tok = encoder.tokenizer
    if tok.mask_token_id is None:
        raise SetupError(f"the encoder {encoder.name}'s tokenizer has no mask token: it cannot train a masked-LM loss")
    ids = [x for x in tok(sentences, truncation=True, max_length=cfg.max_length)["input_ids"] if len(x) > 2]
    if not ids:
        raise DataError(f"mlm_text {', '.join(cfg.mlm_text)}: no sentence with a token to mask")
    return MLMText(_Items(ids), file_hashes(cfg.mlm_text), len(ids), len(tok), pretrained_mlm_head(encoder), cfg.mlm_weight)


def mlm_batch_loss(model, mlm: MLMText, indices: list[int], tokenizer, device, seed: int) -> torch.Tensor:
    """The masked-LM loss of one micro-batch (toolkit.mlm's batching, masking and head, as language adapters)."""
    ids, attention, special = pad_mlm_batch([mlm.train.items[i] for i in indices], tokenizer)
    inputs, labels = mask_tokens(ids, special, tokenizer.mask_token_id, mlm.vocab_size, torch.Generator().manual_seed(seed))
    loss, _ = mlm_forward(model, inputs.to(device), attention.to(device), labels.to(device))
    return loss


def _load_examples(spec, split: str, cfg: TrainConfig, limit: int | None, lang: str = "en") -> Loaded:
    from .data import load

    return load(spec, split, lang, data_dir=cfg.data_dir, max_examples=limit)


def _provenance(spec, split: str, cfg: TrainConfig, lang: str = "en") -> dict[str, Any]:
    from .data import provenance

    try:
        return provenance(spec, split, lang, data_dir=cfg.data_dir)
    except DataError as exc:
        return {"error": str(exc)}


def task_featurize_options(spec, cfg: TrainConfig) -> dict[str, Any]:
    """The family's options for featurizing ``spec`` at ``cfg.max_length`` (QA: the card's ``doc_stride``)."""
    return get_family(spec).featurize_options(spec, resolved_field(cfg.max_length, "max_length"))


def prepare_task(spec, head: str, tokenizer, cfg: TrainConfig, max_dev_examples: int | None) -> list[TaskData]:
    """Featurised training phases of one task (one per training source) and its English dev data."""
    from .data import has_gold

    family = get_family(spec)
    sources = training_sources(spec, cfg.train_split)
    # one phase per (source, language): English as before, the other languages the task's translated data
    # (its translate_train split where it trains from another card: preflight.training_phases)
    phases = training_phases(spec, cfg.train_split, cfg.languages)
    phases_examples = [(src, _load_examples(src, split, cfg, cfg.max_train_examples, lang), lang, split)
                       for src, split, lang in phases]
    labels = _open_labels(spec, [(src, ex) for src, ex, _, _ in phases_examples])
    dev_spec = dev_source(spec, sources, cfg.dev_split)
    dev = None
    if dev_spec is not None:
        try:
            dev_examples = _load_examples(dev_spec, cfg.dev_split, cfg, max_dev_examples)
            if not has_gold(dev_examples):
                raise DataUnavailable(f"{dev_spec.name} {cfg.dev_split} has no gold labels (e.g. every answer is "
                                      "empty); select on a labelled slice instead, e.g. --train-split 'train[:90%]' "
                                      "--dev-split 'train[90%:]'")
            dev = family.featurize(dev_examples, tokenizer, spec, cfg.max_length, labels=labels, **task_featurize_options(spec, cfg))
        except DataUnavailable as exc:
            log.warning("no English dev data for %s (%s); no model selection", spec.name, exc)
    out = []
    for src, examples, lang, split in phases_examples:
        if not examples:
            raise DataError(f"task {src.name}: the {lang} {split} split is empty")
        # the family's training examples (extractive QA: run_squad skips answers it cannot find)
        examples, skipped = get_family(src).training_examples(examples)
        if skipped:
            log.warning("%s %s: skipped %d training example(s): %s", src.name, split, skipped["count"], skipped["reason"])
            if not examples:
                raise DataError(f"task {src.name}: no training example is left ({skipped['count']} skipped: {skipped['reason']})")
        feats = family.featurize(examples, tokenizer, spec, cfg.max_length, train=True, labels=labels, **task_featurize_options(src, cfg))
        prov: dict[str, Any] = {"train": _provenance(src, split, cfg, lang)}
        if lang != "en":
            prov["train_lang"] = lang
        if skipped:  # reported in the adapter's card
            prov["train_skipped"] = skipped
        if dev_spec is not None:
            prov[f"dev:{dev_spec.name}"] = _provenance(dev_spec, cfg.dev_split, cfg)
        out.append(TaskData(spec, head, feats, dev, [s.name for s in sources], prov, labels, lang))
    return out


def _open_labels(spec, phases) -> list[str] | None:
    """The label set the run trains (the family's: tagging tasks with ``open_labels``, CCG supertags,
    take it from the training data)."""
    return get_family(spec).training_labels(spec, [examples for _, examples in phases])


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    perm = torch.randperm(n, generator=generator).tolist()
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def _steps_for(n_batches: int, cfg: TrainConfig) -> int:
    return max(1, math.ceil(n_batches * resolved_field(cfg.epochs, "epochs") / cfg.gradient_accumulation_steps))


def plan_single(phases: Sequence[TaskData], cfg: TrainConfig) -> list[list[tuple[int, list[int]]]]:
    """Optimizer steps of consecutive phases: each step is ``accumulation`` micro-batches
    ``(phase index, example indices)``; epochs are fresh seeded permutations."""
    gen = torch.Generator().manual_seed(cfg.seed)
    batch_size = resolved_field(cfg.batch_size, "batch_size")
    steps: list[list[tuple[int, list[int]]]] = []
    for p, phase in enumerate(phases):
        n = len(phase.train.items)
        n_batches = math.ceil(n / batch_size)
        total = cfg.max_steps if cfg.max_steps is not None and len(phases) == 1 else _steps_for(n_batches, cfg)
        stream: list[list[int]] = []
        while len(stream) < total * cfg.gradient_accumulation_steps:
            stream.extend(_epoch_batches(n, batch_size, gen))
        k = cfg.gradient_accumulation_steps
        steps.extend([[(p, b) for b in stream[s * k : (s + 1) * k]] for s in range(total)])
    if cfg.max_steps is not None and len(phases) > 1:
        steps = steps[: cfg.max_steps]
    return steps


def sampling_probabilities(sizes: Sequence[int], sampling: str, temperature: float) -> list[float]:
    """p_i for multi-task batches: proportional (n_i), uniform, or temperature (n_i^(1/T))."""
    if sampling == "uniform":
        weights = [1.0] * len(sizes)
    elif sampling == "proportional":
        weights = [float(n) for n in sizes]
    elif sampling == "temperature":
        weights = [float(n) ** (1.0 / temperature) for n in sizes]
    else:
        raise ConfigError(f"unknown sampling {sampling!r} (use proportional, uniform or temperature)")
    total = sum(weights)
    return [w / total for w in weights]


def plan_multitask(tasks: Sequence[TaskData | MLMText], cfg: TrainConfig) -> list[list[tuple[int, list[int]]]]:
    """Each micro-batch comes from one task drawn with :func:`sampling_probabilities`; each task walks
    through its own seeded epochs. Total steps: ``max_steps`` or ``epochs`` over all tasks' batches."""
    gen = torch.Generator().manual_seed(cfg.seed)
    batch_size = resolved_field(cfg.batch_size, "batch_size")
    sizes = [len(t.train.items) for t in tasks]
    probs = torch.tensor(sampling_probabilities(sizes, cfg.sampling, cfg.temperature), dtype=torch.float64)
    total = cfg.max_steps or _steps_for(sum(math.ceil(n / batch_size) for n in sizes), cfg)
    streams: list[list[list[int]]] = [[] for _ in tasks]
    steps = []
    for _ in range(total):
        step = []
        for _ in range(cfg.gradient_accumulation_steps):
            t = int(torch.multinomial(probs, 1, generator=gen))
            if not streams[t]:
                streams[t] = _epoch_batches(sizes[t], batch_size, gen)
            step.append((t, streams[t].pop(0)))
        steps.append(step)
    return steps

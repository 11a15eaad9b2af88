"""Shared plumbing of the task-shape families: features, padding, length-grouped batches, devices.

A family module (``classification``, ``multiple_choice``, ``extractive_qa``, ``tagging``, ``retrieval``)
exposes the same small interface (see :class:`Family`); everything shape-independent lives here so each
family module only says what differs: its head, how it tokenises, how its loss and predictions read the
model's outputs and how it scores.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np


class LazyModule:
    """A module imported on first attribute access (``torch``, ``torch.nn.functional``).

    Family modules load torch only when they tokenise, train or predict: what they declare about their
    shape (submission files, Hub task types, which labels a run needs...) is read torch-free by the
    modules that write results, export submissions or refuse bad input before a model loads.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


if TYPE_CHECKING:
    import torch
else:
    torch = LazyModule("torch")

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss's ignore_index: sub-words after the first, padding


@dataclass
class Features:
    """Tokenised model inputs for a list of examples, plus what is needed to map predictions back.

    ``items`` are the model rows (a long QA context gives several rows, a tagged sentence longer than
    ``max_length`` several chunks, a multiple-choice example one item holding all its choices);
    each item has ``input_ids`` and ``example_index`` (the position of its example in ``examples``).
    """

    items: list[dict[str, Any]]
    examples: Any  # the example list, or one RetrievalData pool (queries + candidates)
    shape: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


class Family(Protocol):  # the interface every module in toolkit.families provides
    SHAPES: tuple[str, ...]
    EVAL_MAX_LENGTH: int  # sequence length of evaluation when none is given
    TRAINING_DEFAULTS: dict[str, Any]  # beneath the task cards (QA: 384 tokens)
    NAMED_LABELS: bool  # predicts the task's named labels (classification, tagging)
    LABELLED: bool  # examples carry gold labels (LogME, TaskEmb, per-example statistics)
    SCORED_UNTRAINED: bool  # XTREME-R scores the bare encoder too (retrieval)
    HUB_TASK_TYPE: str  # model-index task.type

    def gold_label(self, example) -> Any: ...  # as its prediction is stored

    def submission_extension(self, spec) -> str: ...

    def render_submission(self, spec, ids: Sequence[str], predictions: Any) -> str: ...  # the official file

    def logme_features(self, encoder, examples, spec, max_length: int, batch_size: int,
                       encode_sentences: Callable[[list[str]], Any]) -> tuple: ...  # LogME's rows; encode_sentences(texts) -> features


    def featurize_options(self, spec, max_length: int) -> dict[str, Any]: ...

    def head_options(self, spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]: ...

    def training_examples(self, examples) -> tuple[Sequence[Any], dict[str, Any] | None]: ...  # kept, skipped

    def training_labels(self, spec, example_lists) -> list[str] | None: ...  # the label set a run trains

    def semb_rows(self, example, question_prompts=None) -> list[tuple[str, str | None]]: ...  # SEmb's text

    def example_text(self, example, sep: str = "[SEP]", question_prompts=None) -> str: ...  # LogME's text

    def add_head(self, model, name: str, spec, **kw) -> None: ...

    def featurize(self, examples, tokenizer, spec, max_length: int, *, train: bool = False, **kw) -> Features: ...

    def collate(self, items: list[dict], pad_id: int) -> dict[str, torch.Tensor]: ...

    def loss(self, model, batch: dict[str, torch.Tensor], head: str) -> torch.Tensor: ...

    def predict(self, model, features: Features, batch_size: int = 32, head: str | None = None) -> Any: ...

    def score(self, predictions, examples, spec, lang: str | None = None) -> dict[str, float]: ...


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad integer sequences to the longest one -> LongTensor (batch, max_len)."""
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


def encode_inputs(items: Sequence[dict], pad_id: int, key: str = "input_ids") -> dict[str, torch.Tensor]:
    """input_ids + attention_mask for a batch of items with token-id lists under ``key``."""
    ids = pad([it[key] for it in items], pad_id)
    mask = pad([[1] * len(it[key]) for it in items], 0)
    return {"input_ids": ids, "attention_mask": mask}


def length_grouped_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first) so padding is small at prediction time."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def place(model, encoder=None):
    """Move ``model`` (the flex-head view, with any adapters and heads added since) to the device of
    ``encoder``'s weights (of the model's first parameter when no encoder is given); returns it."""
    device = model_device(encoder.model if encoder is not None else model)
    if any(p.device != device for p in model.parameters()):
        model.to(device)
    return model


EVAL_PRECISIONS = ("fp32", "bf16", "fp16")


def eval_precision(device: torch.device | str) -> str:
    """``fp32``, ``bf16`` or ``fp16``: the precision evaluation runs at on ``device`` (recorded with each
    result, and hashed when not fp32). ``$XTA_EVAL_PRECISION`` (``xta eval --eval-precision`` sets it) asks
    for one: ``bf16`` is autocast on a GPU that supports it and on CPU; ``fp16`` only on a GPU (refused on
    CPU, where float16 matmuls are slow and lossy); ``fp32`` everywhere. Unset: bf16 on a CUDA GPU that
    supports it, fp32 elsewhere (CPU stays the reproducible fp32 reference)."""
    import os

    from ..errors import ConfigError

    device = torch.device(device)
    wanted = os.environ.get("XTA_EVAL_PRECISION", "").strip().lower()
    if not wanted:
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if wanted not in EVAL_PRECISIONS:
        raise ConfigError(f"eval precision {wanted!r}: use one of {', '.join(EVAL_PRECISIONS)}")
    if wanted == "fp16" and device.type == "cpu":
        raise ConfigError("eval precision fp16 needs a GPU (float16 autocast is not supported for evaluation on CPU); "
                          "use bf16 or fp32 on CPU")
    if wanted == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"eval precision bf16: the GPU {torch.cuda.get_device_name(device)} does not support bfloat16; use fp16 or fp32")
    return wanted


def eval_autocast(device: torch.device):
    """Autocast for evaluation at :func:`eval_precision`'s precision; a no-op context for fp32."""
    import contextlib

    precision = eval_precision(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def run_batches(model, features: Features, batch_size: int, collate, step) -> list[tuple[list[int], Any]]:
    """Run ``step(batch) -> per-row outputs`` over length-grouped batches under ``torch.inference_mode``.

    Returns ``(item indices, outputs)`` per batch; the caller puts rows back in order. The model is put
    in eval mode (no dropout) and returned to its previous mode afterwards.
    """
    pad_id = features.meta.get("pad_id", 0)
    was_training = model.training
    model.eval()
    device = model_device(model)
    out = []
    try:
        with torch.inference_mode(), eval_autocast(device):
            lengths = [item_length(it) for it in features.items]
            for idx in length_grouped_batches(lengths, batch_size):
                batch = to_device(collate([features.items[i] for i in idx], pad_id), device)
                out.append((idx, step(batch)))
    finally:
        model.train(was_training)
    return out


def item_length(item: dict) -> int:
    ids = item["input_ids"]
    if ids and isinstance(ids[0], (list, tuple)):  # multiple choice: all choices of an example
        return sum(len(x) for x in ids)
    return len(ids)


def label_index(spec, label: str, where: str) -> int:
    """Position of a gold label string in ``spec.labels`` (DataError naming the task if unknown)."""
    from ..errors import DataError

    try:
        return spec.labels.index(label)
    except ValueError:
        raise DataError(f"{where}: label {label!r} is not one of task {spec.name}'s labels {list(spec.labels)}") from None


def _flex_forward(model, input_ids, attention_mask, head=None):
    outputs = model.base_model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
    return model.forward_head(outputs, head_name=head, attention_mask=attention_mask, return_dict=True)


def head_logits(model, batch: dict[str, torch.Tensor], head: str | None) -> Any:
    """The flex-head model's forward (base model with the active adapters, then head ``head``).

    Same computation as ``<Arch>AdapterModel.forward`` inside one ``ForwardContext`` (so prompt tuning's
    extra positions reach the head), minus its read of the pooler output, which xta's encoders may not
    have (``add_pooling_layer=False``) and which the heads do not use (``use_pooler=False``).
    """
    from adapters.context import ForwardContext

    forward = ForwardContext.wrap(_flex_forward)
    return forward(model, input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], head=head)


def adapter_model(encoder_or_model) -> Any:
    """The encoder's model with AdapterHub flexible heads (``<Arch>AdapterModel``), weights shared.

    ``toolkit.encoders`` loads a plain ``AutoModel`` with ``adapters.init``. Heads need the flex-head
    class, so an instance of it is built on the ``meta`` device (no weights allocated or loaded) and the
    loaded base model is put in its place; adapters added through either object live in the same
    layers. Built once per base model; a model that already has flexible heads is returned as is.
    """
    from adapters.heads import ModelWithFlexibleHeadsAdaptersMixin
    from adapters.models.auto.adapter_model import ADAPTER_MODEL_MAPPING

    base = getattr(encoder_or_model, "model", encoder_or_model)
    if isinstance(base, ModelWithFlexibleHeadsAdaptersMixin):
        return base
    flex = base.__dict__.get("_xta_flex_model")
    if flex is None:
        from ..errors import EncoderError

        try:
            cls: Any = ADAPTER_MODEL_MAPPING[type(base.config)]
        except KeyError:
            raise EncoderError(f"adapters has no model with flexible heads for {base.config.model_type!r}") from None
        with torch.device("meta"):
            flex = cls(base.config)
        setattr(flex, cls.base_model_prefix, base)
        flex.adapters_config = base.adapters_config  # one registry of adapters for both views
        flex.train(base.training)
        object.__setattr__(base, "_xta_flex_model", flex)  # not a submodule: no cycle in the module tree
    return flex


def score_metrics(spec, predictions, references, lang: str | None = None) -> dict[str, float]:
    """The task's declared metrics via :func:`toolkit.metrics.score` (0-100).

    ``qa_mean`` (XTREME-R's QA aggregate, (EM + F1) / 2) is derived here from the EM/F1 pair of the
    same family when ``toolkit.metrics`` does not compute it itself.
    """
    from .. import metrics

    known = [m for m in spec.metrics if m in metrics.METRIC_FUNCTIONS]
    out = {k: float(v) for k, v in (metrics.score(known, predictions, references, lang=lang) if known else {}).items()}
    if "qa_mean" in spec.metrics and "qa_mean" not in out:
        prefix = "mlqa_" if "mlqa_f1" in out else ""
        out["qa_mean"] = (out[f"{prefix}exact_match"] + out[f"{prefix}f1"]) / 2
    return out


def main_score(spec, scores: dict[str, float]) -> float:
    """The task's main metric out of a ``score`` dict (what early stopping maximises)."""
    from ..errors import ConfigError

    if spec.main_metric not in scores:
        raise ConfigError(f"task {spec.name}: main metric {spec.main_metric!r} not among computed scores {sorted(scores)}")
    return scores[spec.main_metric]


def label_ids(values: Iterable[str], names: Sequence[str], task: str) -> np.ndarray:
    """The index of every label in ``names`` (LogME's label ids); a label outside them is a DataError."""
    from ..errors import DataError

    index = {name: i for i, name in enumerate(names)}
    try:
        return np.array([index[v] for v in values], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"task {task}: label {exc.args[0]!r} is not among its labels {', '.join(names)}") from None


def token_states(encoder: Any, input_ids: Sequence[Sequence[int]], batch_size: int) -> list[np.ndarray]:
    """Last-layer token states (float64, one (len, D) array per sequence) with the active adapters."""
    model = encoder.model
    pad = encoder.tokenizer.pad_token_id
    device = next(model.parameters()).device
    out: list[np.ndarray] = [np.zeros(0)] * len(input_ids)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(input_ids), batch_size):
                rows = list(input_ids[start : start + batch_size])
                width = max(len(r) for r in rows)
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, r in enumerate(rows):
                    ids[j, : len(r)] = torch.tensor(r)
                    mask[j, : len(r)] = 1
                hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
                for j, r in enumerate(rows):
                    out[start + j] = hidden[j, : len(r)].double().cpu().numpy()
    finally:
        model.train(was_training)
    return out

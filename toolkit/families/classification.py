"""Sequence and sentence-pair classification (XNLI, PAWS-X, MNLI/ANLI, BoolQ...).

Head: the AdapterHub flex ``classification`` head (``add_classification_head``: dense-tanh-dense over
the first token, as ``RobertaClassificationHead`` / XTREME's ``run_classify.py`` fine-tuning). Pairs are
encoded as one sequence ``<s> text </s></s> text_pair </s>``, truncating the longer side first
(``truncation="longest_first"``, the default of XTREME's ``run_classify.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np


from .base import LazyModule, Features, encode_inputs, head_logits, label_ids, label_index, run_batches, score_metrics

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # loaded on first use: the shape's facts are read torch-free
    torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")

SHAPES = ("classification", "pair_classification")

#: Evaluation sequence length when none is given (XTREME's run_classify/run_tag max_seq_length 128)
EVAL_MAX_LENGTH = 128

#: Training defaults of the shape, beneath the task cards and above xta's built-in values
#: (:func:`toolkit.config.training_defaults`)
TRAINING_DEFAULTS: dict[str, Any] = {}
#: Whether the shape predicts the task's named labels (a task declares them, readers check them)
NAMED_LABELS = True
#: Whether the shape's examples carry gold labels (LogME, TaskEmb and per-example statistics need them)
LABELLED = True
#: Whether XTREME-R scores the shape on the bare encoder too (setup ``none``: no: a task adapter is trained)
SCORED_UNTRAINED = False
#: The Hub's task type of the shape (model-index ``task.type`` in a pushed model card)
HUB_TASK_TYPE = "text-classification"


def featurize_options(spec, max_length: int) -> dict[str, Any]:
    """Card options for :func:`featurize` (none for this shape)."""
    return {}


def head_options(spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]:
    """Options for :func:`add_head` from the training data (none: the head's size comes from the card's labels)."""
    return {}


def add_head(model, name: str, spec, **kw) -> None:
    """A classification head with one output per label of ``spec.labels`` (label names kept in id2label)."""
    labels = list(spec.labels)
    model.add_classification_head(
        name, num_labels=len(labels), id2label=dict(enumerate(labels)), overwrite_ok=kw.get("overwrite_ok", False)
    )


def featurize(examples: Sequence[dict], tokenizer, spec, max_length: int, *, train: bool = False, **kw) -> Features:
    """Tokenise every (text, text_pair) once; gold label ids are kept when the examples have labels."""
    texts = [ex["text"] for ex in examples]
    pairs = [ex.get("text_pair") for ex in examples]
    if any(p is not None for p in pairs):
        enc = tokenizer(texts, [p or "" for p in pairs], truncation="longest_first", max_length=max_length)
    else:
        enc = tokenizer(texts, truncation=True, max_length=max_length)
    items = []
    for i, ex in enumerate(examples):
        item = {"input_ids": enc["input_ids"][i], "example_index": i}
        if ex.get("label") is not None:
            item["label"] = label_index(spec, str(ex["label"]), f"example {ex.get('id', i)}")
        items.append(item)
    return Features(items, examples, spec.shape, {"pad_id": tokenizer.pad_token_id})


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encode_inputs(items, pad_id)
    if all("label" in it for it in items):
        batch["labels"] = torch.tensor([it["label"] for it in items], dtype=torch.long)
    return batch


def logits(model, batch: dict[str, torch.Tensor], head: str | None) -> torch.Tensor:
    return head_logits(model, batch, head).logits


def loss(model, batch: dict[str, torch.Tensor], head: str) -> torch.Tensor:
    return F.cross_entropy(logits(model, batch, head), batch["labels"])


def predict_logits(model, features: Features, batch_size: int = 32, head: str | None = None) -> torch.Tensor:
    """(n_examples, n_labels) logits in example order."""
    runs = run_batches(model, features, batch_size, collate, lambda b: logits(model, b, head).float().cpu())
    out = torch.empty((len(features.items), runs[0][1].shape[-1]) if runs else (0, 0))
    for idx, rows in runs:
        out[torch.tensor(idx)] = rows
    return out


def predict(model, features: Features, batch_size: int = 32, head: str | None = None) -> list[str]:
    """Predicted label strings, one per example (argmax over the head's logits)."""
    labels = _labels(model, head)
    return [labels[i] for i in predict_logits(model, features, batch_size, head).argmax(-1).tolist()]


def _labels(model, head: str | None) -> list[str]:
    name = head or model.active_head
    id2label = model.heads[name].config.get("label2id") or {}
    return [label for label, _ in sorted(id2label.items(), key=lambda kv: kv[1])]


def score(predictions: Sequence[str], examples: Sequence[dict], spec, lang: str | None = None) -> dict[str, float]:
    return score_metrics(spec, list(predictions), [str(ex["label"]) for ex in examples], lang)


def training_labels(spec, example_lists: Sequence[Sequence[dict]]) -> list[str] | None:
    """The label set a run trains: the card's."""
    return list(spec.labels) if spec.labels else None


def training_examples(examples: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """The examples a run trains on (all of them) and what was skipped (nothing)."""
    return examples, None


# the text of an example for task selection (toolkit.semb, toolkit.logme) ------------------------------


def semb_rows(example: Mapping[str, Any], question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """SEmb's row: ``(text, text_pair)`` (efficient-task-transfer ``itrain/datasets/classification.py``
    l.73-80: ``tokenizer(a, b)``)."""
    pair = example.get("text_pair")
    return [(str(example["text"]), str(pair) if pair else None)]


def example_text(example: Mapping[str, Any], sep: str = "[SEP]", question_prompts: Mapping[str, str] | None = None) -> str:
    """LogME's text: ``text [SEP] text_pair`` (just ``text`` for single sentences)."""
    pair = example.get("text_pair")
    return f"{example['text']} {sep} {pair}" if pair else str(example["text"])


def gold_label(example: Mapping[str, Any]) -> str:
    """An example's gold label as its prediction is stored (the label name)."""
    return str(example["label"])


def submission_extension(spec) -> str:
    """The file extension of the shape's submission file."""
    return "tsv"


def render_submission(spec, ids: Sequence[str], predictions: Sequence[Any]) -> str:
    """One language's predictions as XTREME's submission file: one predicted label per line, in example order."""
    return "".join(f"{label}\n" for label in predictions)


def logme_features(encoder, examples: Sequence[Mapping[str, Any]], spec, max_length: int, batch_size: int,
                   encode_sentences: Callable[[list[str]], Any]):
    """LogME's rows (:func:`toolkit.logme.logme_features`): the mean-pooled sentence (pair) features, labels =
    index in ``spec.labels``. Returns (features, labels, label names, encoder passes)."""
    sep = getattr(encoder.tokenizer, "sep_token", None) or "[SEP]"
    texts = [example_text(ex, sep) for ex in examples]
    names = tuple(spec.labels or sorted({ex["label"] for ex in examples}))
    labels = label_ids((ex["label"] for ex in examples), names, spec.name)
    feats = encode_sentences(texts)  # logme passes the sentence encoder (toolkit.retrieval.encode_texts)
    return feats.astype(np.float64), labels, names, len(texts)

"""Multiple choice (COPA/XCOPA, SIQA, CosmosQA, HellaSwag, CommonsenseQA).

Each (context + question, choice) pair is encoded as one sequence, the AdapterHub ``multiple_choice``
head scores its first token, and a softmax over an example's choices gives the prediction
(``RobertaForMultipleChoice``; XCOPA's baseline of Ponti et al. 2020). XCOPA-style questions hold the raw
type (``cause``/``effect``) and ``spec.question_prompts`` turns it into the text the task defines.
Examples may have different numbers of choices: rows are scored individually and padded per example
with ``-inf`` before the softmax, so the head's ``num_choices`` only documents the usual count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np


from ..errors import DataError
from .base import LazyModule, Features, encode_inputs, run_batches, score_metrics

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # loaded on first use: the shape's facts are read torch-free
    torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")

SHAPES = ("multiple_choice",)

#: Evaluation sequence length when none is given (XTREME's run_classify/run_tag max_seq_length 128)
EVAL_MAX_LENGTH = 128

#: Training defaults of the shape, beneath the task cards and above xta's built-in values
#: (:func:`toolkit.config.training_defaults`)
TRAINING_DEFAULTS: dict[str, Any] = {}
#: Whether the shape predicts the task's named labels (a task declares them, readers check them)
NAMED_LABELS = False
#: Whether the shape's examples carry gold labels (LogME, TaskEmb and per-example statistics need them)
LABELLED = True
#: Whether XTREME-R scores the shape on the bare encoder too (setup ``none``: no: a task adapter is trained)
SCORED_UNTRAINED = False
#: The Hub's task type of the shape (model-index ``task.type`` in a pushed model card)
HUB_TASK_TYPE = "multiple-choice"


def featurize_options(spec, max_length: int) -> dict[str, Any]:
    """Card options for :func:`featurize` (none for this shape)."""
    return {}


def head_options(spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]:
    """``num_choices``: the most choices of a training example (COPA 2, SocialIQa 3, HellaSwag 4)."""
    return {"num_choices": max(len(it["input_ids"]) for it in train_items)}


def add_head(model, name: str, spec, *, num_choices: int = 2, **kw) -> None:
    model.add_multiple_choice_head(name, num_choices=num_choices, overwrite_ok=kw.get("overwrite_ok", False))


def first_segment(example: dict, spec) -> str:
    """Context and question as one text; a question found in ``spec.question_prompts`` is replaced by its prompt."""
    question = example.get("question") or ""
    question = spec.question_prompts.get(question, question)
    return " ".join(part for part in (example.get("context") or "", question) if part)


def featurize(examples: Sequence[dict], tokenizer, spec, max_length: int, *, train: bool = False, **kw) -> Features:
    """One item per example holding the token ids of all its (first segment, choice) pairs."""
    firsts, seconds, owner = [], [], []
    for i, ex in enumerate(examples):
        if not ex["choices"]:
            raise DataError(f"example {ex.get('id', i)} of task {spec.name} has no choices")
        for choice in ex["choices"]:
            firsts.append(first_segment(ex, spec))
            seconds.append(choice)
            owner.append(i)
    enc = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)["input_ids"]
    items = [{"input_ids": [], "example_index": i} for i in range(len(examples))]
    for row, i in zip(enc, owner):
        items[i]["input_ids"].append(row)
    for i, ex in enumerate(examples):
        if ex.get("label") is not None:
            items[i]["label"] = int(ex["label"])
    return Features(items, examples, spec.shape, {"pad_id": tokenizer.pad_token_id})


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """All choices flattened into rows; ``choice_counts`` says how many rows each example has."""
    rows = [{"input_ids": ids} for it in items for ids in it["input_ids"]]
    batch = encode_inputs(rows, pad_id)
    batch["choice_counts"] = torch.tensor([len(it["input_ids"]) for it in items], dtype=torch.long)
    if all("label" in it for it in items):
        batch["labels"] = torch.tensor([it["label"] for it in items], dtype=torch.long)
    return batch


def logits(model, batch: dict[str, torch.Tensor], head: str | None) -> torch.Tensor:
    """(n_examples, max_choices) scores; missing choices are -inf.

    The base model runs with the active adapters; the head's layers score the first-token vectors
    exactly as ``MultipleChoiceHead.forward`` does before its fixed-size ``view(-1, num_choices)``.
    """
    head_module = model.heads[head or model.active_head]
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    row_scores = torch.nn.Sequential.forward(head_module, hidden[:, 0]).squeeze(-1)
    counts = batch["choice_counts"]
    out = row_scores.new_full((len(counts), int(counts.max())), float("-inf"))
    mask = torch.arange(out.shape[1], device=counts.device)[None, :] < counts[:, None]
    out[mask] = row_scores
    return out


def loss(model, batch: dict[str, torch.Tensor], head: str) -> torch.Tensor:
    return F.cross_entropy(logits(model, batch, head), batch["labels"])


def predict(model, features: Features, batch_size: int = 32, head: str | None = None) -> list[int]:
    """Index of the best choice per example (``batch_size`` counts examples, not rows)."""
    preds = [0] * len(features.items)
    for idx, best in run_batches(model, features, batch_size, collate, lambda b: logits(model, b, head).argmax(-1).tolist()):
        for i, p in zip(idx, best):
            preds[i] = p
    return preds


def score(predictions: Sequence[int], examples: Sequence[dict], spec, lang: str | None = None) -> dict[str, float]:
    return score_metrics(spec, list(predictions), [int(ex["label"]) for ex in examples], lang)


def training_labels(spec, example_lists: Sequence[Sequence[dict]]) -> list[str] | None:
    """The label set a run trains: the card's."""
    return list(spec.labels) if spec.labels else None


def training_examples(examples: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """The examples a run trains on (all of them) and what was skipped (nothing)."""
    return examples, None


# the text of an example for task selection (toolkit.semb, toolkit.logme) ------------------------------


def _choice_segment(question: str, choice: str) -> str:
    """The reference's second segment of a choice row (efficient-task-transfer ``itrain/datasets/
    multiple_choice.py`` l.41-45, ``_build_input_choice``): the choice fills the blank ``_`` of a cloze
    question, else follows the question after a space."""
    return question.replace("_", choice) if "_" in question else f"{question} {choice}"


def semb_rows(example: Mapping[str, Any], question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """SEmb's rows, one per choice, as efficient-task-transfer builds them (``itrain/datasets/
    multiple_choice.py``): ``(context, question + " " + choice)`` or the cloze question with ``_`` replaced
    by the choice (l.41-51); COPA/XCOPA's ``cause``/``effect`` become their prompt question first
    (l.104-118); without a context, ``(question, choice)`` (CommonsenseQA, l.212-216)."""
    question = str(example.get("question") or "")
    question = (question_prompts or {}).get(question, question)
    context = str(example.get("context") or "")
    if not context:
        return [(question, str(c)) if question else (str(c), None) for c in example["choices"]]
    return [(context, _choice_segment(question, str(c)) if question else str(c)) for c in example["choices"]]


def example_text(example: Mapping[str, Any], sep: str = "[SEP]", question_prompts: Mapping[str, str] | None = None) -> str:
    """LogME's text: context then question (XCOPA's ``cause``/``effect`` through ``question_prompts``)."""
    question = str(example.get("question") or "")
    question = (question_prompts or {}).get(question, question)
    return " ".join(p for p in (str(example.get("context") or ""), question) if p)


def gold_label(example: Mapping[str, Any]) -> int:
    """An example's gold label as its prediction is stored (the index of the correct choice)."""
    return int(example["label"])


def submission_extension(spec) -> str:
    """The file extension of the shape's submission file."""
    return "jsonl"


def render_submission(spec, ids: Sequence[str], predictions: Sequence[Any]) -> str:
    """One language's predictions as XCOPA-style JSON lines: ``{"idx": id, "label": choice}`` per example."""
    return "".join(json.dumps({"idx": i, "label": int(p)}) + "\n" for i, p in zip(ids, predictions))


def logme_features(encoder, examples: Sequence[Mapping[str, Any]], spec, max_length: int, batch_size: int,
                   encode_sentences: Callable[[list[str]], Any]):
    """LogME's rows (:func:`toolkit.logme.logme_features`): one row per choice (context, question and
    choice), label 1 for the correct choice, 0 otherwise — a binary simplification of the choice-scoring
    task. Returns (features, labels, label names, encoder passes)."""
    sep = getattr(encoder.tokenizer, "sep_token", None) or "[SEP]"
    texts, labels = [], []
    for ex in examples:
        stem = example_text(ex, sep, getattr(spec, "question_prompts", None))
        for j, choice in enumerate(ex["choices"]):
            texts.append(f"{stem} {sep} {choice}")
            labels.append(int(j == ex["label"]))
    feats = encode_sentences(texts)  # logme passes the sentence encoder (toolkit.retrieval.encode_texts)
    return feats.astype(np.float64), np.array(labels, dtype=np.int64), ("wrong", "correct"), len(texts)

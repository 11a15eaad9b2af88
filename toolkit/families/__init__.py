"""Task-shape families: one module per shape of task (principle 1: tasks are data, shapes are code).

Every family module provides the same functions (see :class:`toolkit.families.base.Family`):

* ``EVAL_MAX_LENGTH`` — the evaluation sequence length when none is given (XTREME: 384 for QA, else 128);
* ``TRAINING_DEFAULTS``, ``NAMED_LABELS``, ``LABELLED``, ``SCORED_UNTRAINED``, ``HUB_TASK_TYPE`` — facts
  about the shape: its training defaults beneath the task cards (QA: 384 tokens), whether it predicts the
  task's named labels, whether its examples carry labels, whether
  XTREME-R scores the bare encoder on it (retrieval), its Hub task type;
* ``gold_label(example)``, ``submission_extension(spec)`` / ``render_submission(spec, ids, predictions)`` —
  an example's gold as predictions are stored, and the official submission file of one language;
* ``featurize_options(spec, max_length)`` / ``head_options(spec, train_items, labels)`` — the card and
  training-data options of ``featurize`` and ``add_head`` (QA's ``doc_stride``, ``num_choices``, tag sets);
* ``training_examples(examples)`` / ``training_labels(spec, example_lists)`` — what a run trains on (QA skips
  answers not found at ``answer_start``, as run_squad.py) and its label set (open-label tagging: the data's);
* ``semb_rows(example, question_prompts)`` / ``example_text(example, sep, question_prompts)`` — the text of an
  example that SEmb embeds and LogME encodes (task selection);
* ``logme_features(encoder, examples, spec, max_length, batch_size)`` — LogME's feature rows and labels
  (sentences, choices, word starts, answer starts; none for retrieval);
* ``add_head(model, name, spec, **kw)`` — the AdapterHub flex head of the shape (none for retrieval);
* ``featurize(examples, tokenizer, spec, max_length, *, train=False, **kw) -> Features`` — tokenise once,
  keep what maps predictions back to examples (QA offsets, tagging word starts);
* ``collate(items, pad_id) -> batch``; ``loss(model, batch, head) -> scalar`` (training);
* ``predict(model, features, batch_size, head=None)`` — ``torch.inference_mode``, length-grouped batches;
* ``score(predictions, examples, spec, lang=None) -> {metric: value}`` via :mod:`toolkit.metrics`.

Family modules import torch on first use (``base.LazyModule``): the facts above are read torch-free by
the modules that export submissions, write model cards and statistics, or refuse bad input before a model
loads.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import classification, extractive_qa, multiple_choice, retrieval, tagging
from .base import Features, main_score

FAMILIES: dict[str, ModuleType] = {
    shape: module
    for module in (classification, multiple_choice, extractive_qa, tagging, retrieval)
    for shape in module.SHAPES
}

__all__ = ["FAMILIES", "Features", "get_family", "main_score"]


def get_family(shape_or_spec) -> ModuleType:
    """The family module of a task shape (a shape string or anything with a ``.shape``)."""
    shape = getattr(shape_or_spec, "shape", shape_or_spec)
    try:
        return FAMILIES[shape]
    except KeyError:
        raise ConfigError(f"no family for task shape {shape!r} (known: {', '.join(sorted(FAMILIES))})") from None

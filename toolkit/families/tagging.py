"""Token tagging (UD POS, PAN-X NER, CCG supertags).

Words come pre-split in the data (also for Chinese, Japanese and Thai, whose treebanks segment them), so
they are tokenised with ``is_split_into_words=True`` and mapped back with ``word_ids()``. The label sits
on the first sub-word of each word and every other position is ignored (-100), as in XTREME's
``utils_tag.py`` / Hugging Face ``run_ner.py``. Two rules guarantee that *every* word gets exactly one
prediction, which the seqeval scorer needs:

* a word that tokenises to nothing (e.g. a lone zero-width or control character) is given the
  tokenizer's ``<unk>`` token, as XTREME's ``convert_examples_to_features`` does;
* a sentence longer than ``max_length`` is cut into consecutive chunks of whole words, each its own
  model row, instead of dropping the words past the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np


from ..errors import DataError
from .base import LazyModule, IGNORE_INDEX, Features, encode_inputs, head_logits, label_ids, pad, run_batches, score_metrics, token_states

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # loaded on first use: the shape's facts are read torch-free
    torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")

SHAPES = ("tagging",)

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
HUB_TASK_TYPE = "token-classification"


def featurize_options(spec, max_length: int) -> dict[str, Any]:
    """Card options for :func:`featurize` (none for this shape)."""
    return {}


def head_options(spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]:
    """``labels``: the tag set the run trains (open-label tasks take it from the data)."""
    return {"labels": labels} if labels else {}


def add_head(model, name: str, spec, *, labels: Sequence[str] | None = None, **kw) -> None:
    """A tagging head over ``labels`` (default ``spec.labels``; open-label tasks pass the training set's)."""
    labels = list(labels or spec.labels)
    model.add_tagging_head(name, num_labels=len(labels), id2label=dict(enumerate(labels)), overwrite_ok=kw.get("overwrite_ok", False))


def word_pieces(tokens: Sequence[str], tokenizer) -> list[list[int]]:
    """Sub-word ids of each word (without special tokens); an empty word list entry becomes ``[<unk>]``."""
    if not tokens:
        return []
    enc = tokenizer(list(tokens), is_split_into_words=True, add_special_tokens=False)
    pieces: list[list[int]] = [[] for _ in tokens]
    for tok_id, w in zip(enc["input_ids"], enc.word_ids()):
        if w is not None:
            pieces[w].append(tok_id)
    return [p or [tokenizer.unk_token_id] for p in pieces]


def chunk_words(pieces: Sequence[Sequence[int]], budget: int) -> list[tuple[int, int]]:
    """[start, end) word ranges whose sub-words fit ``budget`` tokens; a single over-long word is cut
    (only its first sub-word carries the label, so the prediction survives)."""
    chunks, start, used = [], 0, 0
    for w, p in enumerate(pieces):
        n = min(len(p), budget)
        if used + n > budget and w > start:
            chunks.append((start, w))
            start, used = w, 0
        used += n
    if start < len(pieces) or not chunks:
        chunks.append((start, len(pieces)))
    return chunks


def featurize(examples: Sequence[dict], tokenizer, spec, max_length: int, *, train: bool = False, labels: Sequence[str] | None = None, **kw) -> Features:
    """Rows of ``<s> sub-words </s>`` with, per position, the word index it starts (or -1); gold label ids
    (first sub-words only) when ``train``."""
    affixes = special_affixes(tokenizer)
    budget = max_length - len(affixes[0]) - len(affixes[1])
    labels = list(labels or spec.labels or ())
    items = []
    for i, ex in enumerate(examples):
        pieces = word_pieces(ex["tokens"], tokenizer)
        tags = ex.get("tags")
        if tags is not None and len(tags) != len(ex["tokens"]):
            raise DataError(f"example {ex.get('id', i)}: {len(ex['tokens'])} tokens but {len(tags)} tags")
        for start, end in chunk_words(pieces, budget):
            items.append(_row(pieces, start, end, budget, affixes, i, tags if train else None, labels, spec))
    return Features(items, examples, spec.shape, {"pad_id": tokenizer.pad_token_id, "labels": labels})


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after a single sequence (``<s>``, ``</s>`` for
    XLM-R), read off its own output so any fast tokenizer's post-processor is honoured."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for k in range(len(full) - len(plain) + 1):
        if full[k : k + len(plain)] == plain:
            return full[:k], full[k + len(plain) :]
    raise DataError(f"cannot locate the special tokens of tokenizer {type(tokenizer).__name__}")


def _row(pieces, start, end, budget, affixes, index, tags, labels, spec) -> dict:
    prefix, suffix = affixes
    ids, first_word = list(prefix), [-1] * len(prefix)
    for w in range(start, end):
        p = list(pieces[w])[:budget]
        ids.extend(p)
        first_word.extend([w] + [-1] * (len(p) - 1))
    ids.extend(suffix)
    first_word.extend([-1] * len(suffix))
    item = {"input_ids": ids, "example_index": index, "first_word": first_word}
    if tags is not None:
        item["labels"] = [IGNORE_INDEX if w < 0 else _tag_id(labels, tags[w], spec) for w in first_word]
    return item


def _tag_id(labels: list[str], tag: str, spec) -> int:
    try:
        return labels.index(tag)
    except ValueError:
        raise DataError(f"task {spec.name}: tag {tag!r} is not one of its labels {labels}") from None


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encode_inputs(items, pad_id)
    batch["first_word"] = pad([it["first_word"] for it in items], -1)
    if all("labels" in it for it in items):
        batch["labels"] = pad([it["labels"] for it in items], IGNORE_INDEX)
    return batch


def logits(model, batch: dict[str, torch.Tensor], head: str | None) -> torch.Tensor:
    return head_logits(model, batch, head).logits


def loss(model, batch: dict[str, torch.Tensor], head: str) -> torch.Tensor:
    out = logits(model, batch, head)
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE_INDEX)


def predict(model, features: Features, batch_size: int = 32, head: str | None = None) -> list[list[str]]:
    """One predicted tag per word of every example (argmax at each word's first sub-word)."""
    names = _head_labels(model, head)
    out: list[list[Any]] = [[None] * len(ex["tokens"]) for ex in features.examples]

    def step(batch):
        best = logits(model, batch, head).argmax(-1)
        return [[(w, p) for w, p in zip(fw.tolist(), row.tolist()) if w >= 0] for fw, row in zip(batch["first_word"], best)]

    for idx, rows in run_batches(model, features, batch_size, collate, step):
        for j, pairs in zip(idx, rows):
            for w, p in pairs:
                out[features.items[j]["example_index"]][w] = names[p]
    return out


def _head_labels(model, head: str | None) -> list[str]:
    label2id = model.heads[head or model.active_head].config.get("label2id") or {}
    return [label for label, _ in sorted(label2id.items(), key=lambda kv: kv[1])]


def score(predictions: Sequence[Sequence[str]], examples: Sequence[dict], spec, lang: str | None = None) -> dict[str, float]:
    return score_metrics(spec, [list(p) for p in predictions], [list(ex["tags"]) for ex in examples], lang)


def training_labels(spec, example_lists: Sequence[Sequence[dict]]) -> list[str] | None:
    """The tag set a run trains: the card's, or for ``open_labels`` tasks (CCG supertags) every tag of
    the training data, sorted."""
    if not spec.open_labels:
        return list(spec.labels) if spec.labels else None
    return sorted({tag for examples in example_lists for ex in examples for tag in ex["tags"]})


def training_examples(examples: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """The examples a run trains on (all of them) and what was skipped (nothing)."""
    return examples, None


# the text of an example for task selection (toolkit.semb, toolkit.logme) ------------------------------


def semb_rows(example: Mapping[str, Any], question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """SEmb's row: the words joined by spaces."""
    return [(" ".join(example["tokens"]), None)]


def example_text(example: Mapping[str, Any], sep: str = "[SEP]", question_prompts: Mapping[str, str] | None = None) -> str:
    """LogME's text: the words joined by spaces."""
    return " ".join(example["tokens"])


def gold_label(example: Mapping[str, Any]) -> list[str]:
    """An example's gold tags, one per word."""
    return list(example["tags"])


def submission_extension(spec) -> str:
    """The file extension of the shape's submission file."""
    return "tsv"


def render_submission(spec, ids: Sequence[str], predictions: Sequence[Sequence[str]]) -> str:
    """One language's predictions as XTREME's tagging file: one tag per line, a blank line after each sentence."""
    return "".join("".join(f"{tag}\n" for tag in sentence) + "\n" for sentence in predictions)


def logme_features(encoder, examples: Sequence[Mapping[str, Any]], spec, max_length: int, batch_size: int,
                   encode_sentences: Callable[[list[str]], Any]):
    """LogME's rows (:func:`toolkit.logme.logme_features`): the first sub-token of every word, labels = tag
    index (token-level LogME). Returns (features, labels, label names, encoder passes)."""
    names = tuple(spec.labels or sorted({t for ex in examples for t in ex["tags"]}))
    enc = encoder.tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True,
                            max_length=max_length)
    picks, tags = [], []
    for i, ex in enumerate(examples):
        seen: set[int] = set()
        for pos, word in enumerate(enc.word_ids(i)):
            if word is not None and word not in seen:  # first sub-token of each word, as the tagging heads
                seen.add(word)
                picks.append((i, pos))
                tags.append(ex["tags"][word])
    states = token_states(encoder, enc["input_ids"], batch_size)
    feats = np.stack([states[i][pos] for i, pos in picks]) if picks else np.zeros((0, encoder.hidden_size))
    return feats, label_ids(tags, names, spec.name), names, len(examples)

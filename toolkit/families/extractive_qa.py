"""Extractive question answering, SQuAD v1.1 and v2.0 style (XQuAD, MLQA, TyDiQA-GoldP, SQuAD).

Follows Hugging Face ``examples/pytorch/question-answering`` (``run_qa.py`` ``prepare_*_features`` and
``utils_qa.py::postprocess_qa_predictions``), the successor of the ``run_squad.py`` XTREME uses:

* ``<s> question </s></s> context </s>``; questions longer than ``max_query_length`` (64, XTREME) tokens
  are cut; long contexts become several windows. ``doc_stride`` has XTREME's meaning: the step, in
  context tokens, between the starts of consecutive windows (``third_party/run_squad.py`` ``--doc_stride``,
  default 128 at ``--max_seq_length`` 384, l. 569-581; ``third_party/processors/squad.py`` l. 138-180:
  window ``i`` starts at ``i * doc_stride`` and holds ``max_seq_length - len(query) - specials`` context
  tokens, until a window reaches the end). A Hugging Face tokenizer's ``stride`` is the *overlap* of
  consecutive windows, so we pass ``stride = max_length - len(question) - specials - doc_stride``, the
  expression of ``processors/squad.py`` l. 146, per question length.
* training: a window that does not contain the whole answer (and a v2.0 unanswerable question) points
  at the first token (``<s>``), the "no answer" position.
* decoding: the ``n_best`` (20) start and end logits of every window, spans of at most
  ``max_answer_length`` (30) tokens inside the context, best ``start + end`` score; the text is cut from
  the original context with the tokenizer's character offsets. For v2.0 the null score is the lowest
  ``<s>`` score over the windows and the empty answer is chosen when ``null - best > null_score_diff_threshold``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .base import LazyModule, Features, encode_inputs, head_logits, run_batches, score_metrics, token_states

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # loaded on first use: the shape's facts are read torch-free
    torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")

SHAPES = ("extractive_qa",)

#: Evaluation sequence length when none is given (XTREME's run_squad.py --max_seq_length 384)
EVAL_MAX_LENGTH = 384

#: Training defaults of the shape, beneath the task cards and above xta's built-in values
#: (:func:`toolkit.config.training_defaults`): 384 tokens, XTREME ``third_party/run_squad.py``
#: ``--max_seq_length`` default 384 (l. 569-574; ``scripts/train_qa.sh`` l. 29 ``MAXL=384``)
TRAINING_DEFAULTS: dict[str, Any] = {"max_length": 384}
#: Whether the shape predicts the task's named labels (a task declares them, readers check them)
NAMED_LABELS = False
#: Whether the shape's examples carry gold labels (LogME, TaskEmb and per-example statistics need them)
LABELLED = True
#: Whether XTREME-R scores the shape on the bare encoder too (setup ``none``: no: a task adapter is trained)
SCORED_UNTRAINED = False
#: The Hub's task type of the shape (model-index ``task.type`` in a pushed model card)
HUB_TASK_TYPE = "question-answering"


def featurize_options(spec, max_length: int) -> dict[str, Any]:
    """The card's ``doc_stride`` (XTREME's step between QA windows, 128 at 384 tokens); at shorter
    ``max_length`` it is scaled down to ``max_length // 3`` so that windows still overlap."""
    if "doc_stride" in (spec.training or {}):
        return {"doc_stride": min(int(spec.training["doc_stride"]), max_length // 3)}
    return {}


def head_options(spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]:
    """Options for :func:`add_head` (none: a span head)."""
    return {}
MAX_QUERY_LENGTH = 64


@dataclass(frozen=True)
class DecodeOptions:
    n_best: int = 20
    max_answer_length: int = 30
    version_2: bool = False
    null_score_diff_threshold: float = 0.0


def add_head(model, name: str, spec, **kw) -> None:
    model.add_qa_head(name, num_labels=2, overwrite_ok=kw.get("overwrite_ok", False))


def featurize(
    examples: Sequence[dict],
    tokenizer,
    spec,
    max_length: int = 384,
    *,
    train: bool = False,
    doc_stride: int | None = None,
    max_query_length: int = MAX_QUERY_LENGTH,
    version_2: bool | None = None,
    **kw,
) -> Features:
    """Windows over each context; each keeps its example index and the character offsets of its context tokens.

    ``doc_stride``: the step between window starts (XTREME's, see the module doc); default
    ``max_length // 3``, i.e. XTREME's 128 at 384 tokens."""
    step = doc_stride if doc_stride is not None else max_length // 3
    max_query_length = min(max_query_length, max_length // 2)
    questions = [_cut_question(ex["question"].lstrip(), tokenizer, max_query_length) for ex in examples]
    specials = tokenizer.num_special_tokens_to_add(pair=True)  # processors/squad.py: sequence_pair_added_tokens
    if step <= 0 or step > max_length - max_query_length - specials:
        raise ConfigError(f"doc_stride {step} must be positive and fit the context room of a window "
                          f"({max_length - max_query_length - specials} tokens at max_length {max_length})")
    by_overlap: dict[int, list[int]] = {}  # one tokenizer call per overlap: it depends on the question's length
    for i, question in enumerate(questions):
        room = max_length - len(tokenizer(question, add_special_tokens=False)["input_ids"]) - specials
        by_overlap.setdefault(room - step, []).append(i)
    items = []
    for overlap, rows in by_overlap.items():
        enc = tokenizer(
            [questions[i] for i in rows], [examples[i]["context"] for i in rows], truncation="only_second",
            max_length=max_length, stride=overlap, return_overflowing_tokens=True, return_offsets_mapping=True,
        )
        for j, ids in enumerate(enc["input_ids"]):
            i = rows[enc["overflow_to_sample_mapping"][j]]
            seq = enc.sequence_ids(j)
            offsets = [tuple(o) if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][j])]
            item = {"input_ids": ids, "example_index": i, "offsets": offsets}
            if train:
                item["start_position"], item["end_position"] = answer_positions(examples[i], offsets)
            items.append(item)
    items.sort(key=lambda item: item["example_index"])  # stable: each example's windows stay in order
    v2 = _is_version_2(examples, spec, version_2)
    return Features(items, examples, spec.shape, {"pad_id": tokenizer.pad_token_id, "version_2": v2})


def _cut_question(question: str, tokenizer, max_query_length: int) -> str:
    """Cut a question to ``max_query_length`` tokens (XTREME ``max_query_length``) at a token boundary."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= max_query_length:
        return question
    return question[: enc["offset_mapping"][max_query_length - 1][1]]


def _is_version_2(examples: Sequence[dict], spec, explicit: bool | None) -> bool:
    """SQuAD v2.0 decoding: as asked, else the task card's ``training.version_2_with_negative``, else
    whether any example is unanswerable."""
    if explicit is not None:
        return explicit
    flag = (getattr(spec, "training", None) or {}).get("version_2_with_negative")
    if flag is not None:
        return bool(flag)
    return any(not ex["answers"]["text"] for ex in examples)


def answer_positions(example: dict, offsets: Sequence[tuple[int, int] | None]) -> tuple[int, int]:
    """(start, end) token positions of the first gold answer in a window; (0, 0) (``<s>``) when the window
    does not hold the whole answer or the question has none (``run_qa.py::prepare_train_features``)."""
    answers = example["answers"]
    if not answers["text"]:
        return 0, 0
    start_char = int(answers["answer_start"][0])
    end_char = start_char + len(answers["text"][0])
    ctx = [(k, o) for k, o in enumerate(offsets) if o is not None]
    if not ctx or ctx[0][1][0] > start_char or ctx[-1][1][1] < end_char:
        return 0, 0
    start = max(k for k, o in ctx if o[0] <= start_char)
    end = min(k for k, o in ctx if o[1] >= end_char)
    return start, end


def _is_whitespace(c: str) -> bool:
    """google-research/xtreme ``third_party/processors/squad.py`` l. 82-85 (``_is_whitespace``)."""
    return c in (" ", "\t", "\r", "\n") or ord(c) == 0x202F


def answer_found(example: dict) -> bool:
    """Whether a training example's first answer is found at its ``answer_start``, by the rule XTREME's
    ``run_squad.py`` trains with: ``SquadExample`` splits the context on whitespace and maps the answer's
    first and last character to words (``third_party/processors/squad.py`` l. 617-640);
    ``squad_convert_example_to_features`` then skips the example ("Could not find answer") unless the
    whitespace-joined answer is a substring of those words joined by spaces (l. 90-100). Unanswerable
    (empty) questions are always kept. The span itself lies inside the context (the readers check that)."""
    answers = example["answers"]
    if not answers["text"] or not answers["text"][0]:
        return True
    text, start = answers["text"][0], int(answers["answer_start"][0])
    context = example["context"]
    if not 0 <= start < len(context):
        return False
    doc_tokens: list[str] = []
    char_to_word: list[int] = []
    prev_is_whitespace = True
    for c in context:
        if _is_whitespace(c):
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(c)
            else:
                doc_tokens[-1] += c
            prev_is_whitespace = False
        char_to_word.append(len(doc_tokens) - 1)
    first = char_to_word[start]
    last = char_to_word[min(start + len(text) - 1, len(char_to_word) - 1)]
    actual = " ".join(doc_tokens[max(first, 0) : last + 1])
    return actual.find(" ".join(text.strip().split())) != -1


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encode_inputs(items, pad_id)
    if all("start_position" in it for it in items):
        batch["start_positions"] = torch.tensor([it["start_position"] for it in items], dtype=torch.long)
        batch["end_positions"] = torch.tensor([it["end_position"] for it in items], dtype=torch.long)
    return batch


def span_logits(model, batch: dict[str, torch.Tensor], head: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    out = head_logits(model, batch, head)
    return out.start_logits, out.end_logits


def loss(model, batch: dict[str, torch.Tensor], head: str) -> torch.Tensor:
    """Mean of the start and end cross-entropies (BERT's SQuAD loss); padding positions are masked."""
    start, end = span_logits(model, batch, head)
    pad = batch["attention_mask"] == 0
    start, end = start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)
    return (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2


def predict_logits(model, features: Features, batch_size: int = 32, head: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start, end) logits of every window, unpadded, in feature order."""
    out: list = [None] * len(features.items)

    def step(batch):
        start, end = span_logits(model, batch, head)
        lengths = batch["attention_mask"].sum(-1).tolist()
        return [(s[:n].float().cpu().numpy(), e[:n].float().cpu().numpy()) for s, e, n in zip(start, end, lengths)]

    for idx, rows in run_batches(model, features, batch_size, collate, step):
        for i, row in zip(idx, rows):
            out[i] = row
    return out


def predict(
    model, features: Features, batch_size: int = 32, head: str | None = None, options: DecodeOptions | None = None
) -> dict[str, str]:
    """Question id -> answer text ("" = no answer, SQuAD v2.0)."""
    options = options or DecodeOptions(version_2=features.meta.get("version_2", False))
    return decode(features, predict_logits(model, features, batch_size, head), options)


def decode(features: Features, logits: Sequence[tuple[np.ndarray, np.ndarray]], options: DecodeOptions) -> dict[str, str]:
    """``utils_qa.py::postprocess_qa_predictions``: the best span of each example over all its windows."""
    by_example: dict[int, list[int]] = {}
    for j, item in enumerate(features.items):
        by_example.setdefault(item["example_index"], []).append(j)
    answers = {}
    for i, example in enumerate(features.examples):
        windows = [(features.items[j]["offsets"], *logits[j]) for j in by_example.get(i, [])]
        answers[str(example["id"])] = best_answer(example["context"], windows, options)
    return answers


def best_answer(context: str, windows: Sequence[tuple[Any, np.ndarray, np.ndarray]], options: DecodeOptions) -> str:
    """The answer text for one example from its windows ``(offsets, start_logits, end_logits)``."""
    null_score = min((float(s[0] + e[0]) for _, s, e in windows), default=0.0)
    spans = [span for w in windows for span in candidate_spans(*w, options)]
    if not spans:
        return ""
    score, start_char, end_char = max(spans, key=lambda t: t[0])
    if options.version_2 and null_score - score > options.null_score_diff_threshold:
        return ""
    return context[start_char:end_char].strip()


def candidate_spans(offsets, start_logits: np.ndarray, end_logits: np.ndarray, options: DecodeOptions):
    """(score, start_char, end_char) of the valid spans among the top ``n_best`` starts x ends of a window."""
    starts = np.argsort(start_logits)[::-1][: options.n_best]
    ends = np.argsort(end_logits)[::-1][: options.n_best]
    out = []
    for s in starts.tolist():
        for e in ends.tolist():
            if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                continue
            if e < s or e - s + 1 > options.max_answer_length:
                continue
            out.append((float(start_logits[s] + end_logits[e]), offsets[s][0], offsets[e][1]))
    return out


def score(predictions: dict[str, str], examples: Sequence[dict], spec, lang: str | None = None) -> dict[str, float]:
    return score_metrics(spec, predictions, list(examples), lang)


def training_labels(spec, example_lists: Sequence[Sequence[dict]]) -> list[str] | None:
    """Spans have no label set."""
    return list(spec.labels) if spec.labels else None


def training_examples(examples: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """The training examples whose answer text is found at its ``answer_start`` (:func:`answer_found`),
    and what was skipped: XTREME's run_squad.py skips the others."""
    kept = [ex for ex in examples if answer_found(ex)]
    skipped = len(examples) - len(kept)
    return kept, ({"count": skipped, "reason": "answer text not found at answer_start (run_squad.py)"} if skipped else None)


# the text of an example for task selection (toolkit.semb, toolkit.logme) ------------------------------


def semb_rows(example: Mapping[str, Any], question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """SEmb's row: ``(question, context)``."""
    return [(str(example["question"]), str(example["context"]))]


def example_text(example: Mapping[str, Any], sep: str = "[SEP]", question_prompts: Mapping[str, str] | None = None) -> str:
    """LogME's text: question then context."""
    return f"{example['question']} {example['context']}"


def gold_label(example: Mapping[str, Any]) -> list[str]:
    """An example's gold answers (their texts)."""
    return list(example["answers"]["text"])


def submission_extension(spec) -> str:
    """The file extension of the shape's submission file."""
    return "json"


def render_submission(spec, ids: Sequence[str], predictions: Mapping[str, str]) -> str:
    """One language's predictions as SQuAD's prediction file: ``{question id: answer text}``."""
    return json.dumps(predictions, ensure_ascii=False, indent=0)


def logme_features(encoder, examples: Sequence[Mapping[str, Any]], spec, max_length: int, batch_size: int,
                   encode_sentences: Callable[[list[str]], Any]):
    """LogME's rows (:func:`toolkit.logme.logme_features`): every context token of ``question </s> context``
    (truncated to ``max_length``), label 1 for the answer's start token, 0 otherwise — start positions as a
    binary token labelling, the documented simplification of the span task. Returns (features, labels,
    label names, encoder passes)."""
    enc = encoder.tokenizer([ex["question"] for ex in examples], [ex["context"] for ex in examples],
                            truncation="only_second", max_length=max_length, return_offsets_mapping=True)
    states = token_states(encoder, enc["input_ids"], batch_size)
    rows, labels = [], []
    for i, ex in enumerate(examples):
        starts = ex["answers"]["answer_start"]
        gold = starts[0] if starts else None
        for pos, (seq, (a, b)) in enumerate(zip(enc.sequence_ids(i), enc["offset_mapping"][i])):
            if seq == 1 and b > a:  # context tokens only
                rows.append(states[i][pos])
                labels.append(int(gold is not None and a <= gold < b))
    feats = np.stack(rows) if rows else np.zeros((0, encoder.hidden_size))
    return feats, np.array(labels, dtype=np.int64), ("other", "answer_start"), len(examples)

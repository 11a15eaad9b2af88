"""Retrieval as a dual encoder: one shared frozen encoder + adapter for queries and candidates.

Training (for LAReQA-style targets, Roy et al. 2020): (question, answer sentence) pairs cut from
SQuAD-format data, mean-pooled and L2-normalised sentence vectors, and the in-batch-negatives
contrastive loss (InfoNCE with temperature ``tau``; every other answer of the batch is a negative, a
duplicate of the gold sentence is masked out). There is no prediction head: the adapter alone shapes
the embedding space. Prediction ranks a :class:`toolkit.data.RetrievalData`'s candidates by cosine
similarity (exact search; ``toolkit.retrieval`` holds the faiss path for large pools).
"""

from __future__ import annotations

import json
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any


from ..datafiles import RetrievalData
from ..errors import ConfigError, DataError
from .base import LazyModule, Features, encode_inputs, run_batches, score_metrics

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # loaded on first use: the shape's facts are read torch-free
    torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")

SHAPES = ("retrieval",)

#: Evaluation sequence length when none is given (XTREME's run_classify/run_tag max_seq_length 128)
EVAL_MAX_LENGTH = 128

#: Training defaults of the shape, beneath the task cards and above xta's built-in values
#: (:func:`toolkit.config.training_defaults`)
TRAINING_DEFAULTS: dict[str, Any] = {}
#: Whether the shape predicts the task's named labels (a task declares them, readers check them)
NAMED_LABELS = False
#: Whether the shape's examples carry gold labels (LogME, TaskEmb and per-example statistics need them)
LABELLED = False
#: Whether XTREME-R scores the shape on the bare encoder too (setup ``none``: yes, XTREME-R's
#: Tatoeba/BUCC protocol embeds with the pretrained encoder, no task training)
SCORED_UNTRAINED = True
#: The Hub's task type of the shape (model-index ``task.type`` in a pushed model card)
HUB_TASK_TYPE = "sentence-similarity"


def featurize_options(spec, max_length: int) -> dict[str, Any]:
    """Card options for :func:`featurize` (none for this shape)."""
    return {}


def head_options(spec, train_items: Sequence[dict], labels: Sequence[str] | None) -> dict[str, Any]:
    """Options for :func:`add_head` (none: a dual encoder has no head)."""
    return {}
TEMPERATURE = 0.05
TOP_K = 20
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def add_head(model, name: str, spec, **kw) -> None:
    """No prediction head: a dual encoder reads the pooled encoder output directly."""


def answer_sentence(context: str, answer_start: int) -> str:
    """The sentence of ``context`` holding character ``answer_start`` (split after . ! ? and their CJK forms)."""
    begin = 0
    for m in _SENTENCE_END.finditer(context):
        if m.start() > answer_start:
            break
        begin = m.end()
    m = _SENTENCE_END.search(context, max(begin, answer_start))
    return context[begin : m.start() if m else len(context)].strip()


def featurize(examples, tokenizer, spec, max_length: int, *, train: bool = False,
              query_max_length: int | None = None, candidate_max_length: int | None = None, **kw) -> Features:
    """Training pairs from SQuAD-format examples (or, ``train=True``, a RetrievalData's queries with their
    gold candidate, e.g. Mewsli-X's wikipedia_pairs), or the queries + candidates of a RetrievalData.

    For a pool, ``query_max_length``/``candidate_max_length`` (None: ``max_length``) truncate questions
    and candidates separately, as XTREME's ``scripts/run_eval_lareqa.sh`` l. 32-33 (96 / 256)."""
    if isinstance(examples, RetrievalData) and train:  # (query, its gold candidate): Mewsli-X wikipedia_pairs
        text = dict(zip(examples.candidate_ids, examples.candidates))
        pairs = [(q, text[min(examples.gold[qid])]) for qid, q in zip(examples.query_ids, examples.queries)
                 if examples.gold.get(qid)]
    elif isinstance(examples, RetrievalData) or not train:
        data = examples if isinstance(examples, RetrievalData) else squad_to_retrieval(examples)
        return _featurize_pool(data, tokenizer, spec, query_max_length or max_length, candidate_max_length or max_length)
    else:
        pairs = [(ex["question"], answer_sentence(ex["context"], int(ex["answers"]["answer_start"][0])))
                 for ex in examples if ex["answers"]["text"]]
    if not pairs:
        raise DataError(f"task {spec.name}: no answered questions to build (question, answer sentence) pairs from")
    q = tokenizer([p[0] for p in pairs], truncation=True, max_length=max_length)["input_ids"]
    a = tokenizer([p[1] for p in pairs], truncation=True, max_length=max_length)["input_ids"]
    keys: dict[str, int] = {}
    items = [{"input_ids": qi, "pair_ids": ai, "answer_key": keys.setdefault(p[1], len(keys)), "example_index": i}
             for i, (qi, ai, p) in enumerate(zip(q, a, pairs))]
    return Features(items, pairs, spec.shape, {"pad_id": tokenizer.pad_token_id})


def squad_to_retrieval(examples: Sequence[dict]) -> RetrievalData:
    """A retrieval problem from SQuAD-format examples (English dev data for model selection): each
    question against the pool of all answer sentences, relevant = its own answer sentence."""
    sentences: dict[str, str] = {}
    gold: dict[str, set[str]] = {}
    queries, query_ids = [], []
    for ex in examples:
        if not ex["answers"]["text"]:
            continue
        sentence = answer_sentence(ex["context"], int(ex["answers"]["answer_start"][0]))
        cid = sentences.setdefault(sentence, f"s{len(sentences)}")
        query_ids.append(str(ex["id"]))
        queries.append(ex["question"])
        gold[str(ex["id"])] = {cid}
    return RetrievalData(query_ids, queries, list(sentences.values()), list(sentences), gold)


def _featurize_pool(data: RetrievalData, tokenizer, spec, query_max_length: int, candidate_max_length: int) -> Features:
    ids = (tokenizer(list(data.queries), truncation=True, max_length=query_max_length)["input_ids"] if data.queries else []) \
        + (tokenizer(list(data.candidates), truncation=True, max_length=candidate_max_length)["input_ids"] if data.candidates else [])
    items = [{"input_ids": x, "example_index": i} for i, x in enumerate(ids)]
    return Features(items, data, spec.shape, {"pad_id": tokenizer.pad_token_id, "n_queries": len(data.queries)})


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encode_inputs(items, pad_id)
    if all("pair_ids" in it for it in items):
        pair = encode_inputs(items, pad_id, key="pair_ids")
        batch["pair_input_ids"], batch["pair_attention_mask"] = pair["input_ids"], pair["attention_mask"]
        batch["answer_key"] = torch.tensor([it["answer_key"] for it in items], dtype=torch.long)
    return batch


def embed(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean-pooled, L2-normalised vectors from the base model with the active adapters."""
    from ..encoders import pool

    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
    return F.normalize(pool(hidden, attention_mask, mode="mean"), dim=-1)


def loss(model, batch: dict[str, torch.Tensor], head: str | None = None, temperature: float = TEMPERATURE) -> torch.Tensor:
    """In-batch-negatives InfoNCE of questions against answer sentences."""
    q = embed(model, batch["input_ids"], batch["attention_mask"])
    a = embed(model, batch["pair_input_ids"], batch["pair_attention_mask"])
    sims = q @ a.T / temperature
    keys = batch["answer_key"]
    same = (keys[:, None] == keys[None, :]) & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)
    sims = sims.masked_fill(same, float("-inf"))
    return F.cross_entropy(sims, torch.arange(len(keys), device=keys.device))


def encode(model, features: Features, batch_size: int = 64) -> torch.Tensor:
    """(n_items, hidden) normalised vectors in item order."""
    out: list[Any] = [None] * len(features.items)
    for idx, vecs in run_batches(model, features, batch_size, collate, lambda b: embed(model, b["input_ids"], b["attention_mask"]).float().cpu()):
        for i, v in zip(idx, vecs):
            out[i] = v
    return torch.stack(out) if out else torch.empty(0, 0)


def predict(model, features: Features, batch_size: int = 64, head: str | None = None, k: int = TOP_K,
            cache: dict | None = None) -> dict[str, list[str]]:
    """Query id -> the ``k`` most similar candidate ids, best first (exact cosine search).

    ``cache`` (a dict the caller keeps for one model + adapter setup) reuses the candidate vectors when
    the same pool comes again (LAReQA's pool is the same for every question language)."""
    data: RetrievalData = features.examples
    if not isinstance(data, RetrievalData):
        raise DataError("retrieval predict needs the features of a RetrievalData (queries + candidates)")
    n = features.meta["n_queries"]
    if cache is None:
        vecs = encode(model, features, batch_size)
        queries, candidates = vecs[:n], vecs[n:]
    else:
        part = lambda items: Features(items, data, features.shape, features.meta)  # noqa: E731
        queries = encode(model, part(features.items[:n]), batch_size)
        digest = hashlib.sha256()
        for cid, it in zip(data.candidate_ids, features.items[n:]):
            digest.update(f"{cid}\x00{it['input_ids']}\x01".encode())
        key = ("dual_encoder", id(model), digest.hexdigest())
        if key not in cache:
            cache[key] = encode(model, part(features.items[n:]), batch_size)
        candidates = cache[key]
    sims = queries @ candidates.T
    top = sims.topk(min(k, sims.shape[1]), dim=-1).indices.tolist()
    return {qid: [data.candidate_ids[j] for j in row] for qid, row in zip(data.query_ids, top)}


def score(predictions: dict[str, list[str]], examples: RetrievalData, spec, lang: str | None = None) -> dict[str, float]:
    """mAP@20 (LAReQA, Mewsli-X) via toolkit.metrics; ``accuracy`` = top-1 hit rate (Tatoeba)."""
    out = {}
    if "map@20" in spec.metrics:
        out.update(score_metrics(_only(spec, "map@20"), predictions, examples.gold, lang))
    if "accuracy" in spec.metrics:
        hits = [bool(predictions.get(q)) and predictions[q][0] in gold for q, gold in examples.gold.items()]
        out["accuracy"] = 100.0 * sum(hits) / max(len(hits), 1)
    return out


def _only(spec, metric: str):
    from dataclasses import replace

    return replace(spec, metrics=(metric,), main_metric=metric)


def training_labels(spec, example_lists: Sequence[Sequence[dict]]) -> list[str] | None:
    """The label set a run trains: the card's."""
    return list(spec.labels) if spec.labels else None


def training_examples(examples: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """The examples a run trains on (all of them) and what was skipped (nothing)."""
    return examples, None


# the text of an example for task selection (toolkit.semb, toolkit.logme) ------------------------------

_NO_TEXT = "no dataset text for task shape 'retrieval' (retrieval tasks: embed RetrievalData.queries)"


def semb_rows(example: Mapping[str, Any], question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """A retrieval pool has no per-example text: SEmb embeds its queries (``RetrievalData.queries``)."""
    raise ConfigError(_NO_TEXT)


def example_text(example: Mapping[str, Any], sep: str = "[SEP]", question_prompts: Mapping[str, str] | None = None) -> str:
    """A retrieval pool has no per-example text (LogME needs labels)."""
    raise ConfigError(_NO_TEXT)


def gold_label(example: Mapping[str, Any]) -> Any:
    """Retrieval has no per-example label: its gold is the pool's relevance map (``RetrievalData.relevant``)."""
    raise DataError("no per-example gold label for task shape 'retrieval' (its gold is RetrievalData.relevant)")


#: The submission file of each scoring rule (``TaskSpec.retrieval_rule``)
SUBMISSION_EXTENSIONS = {"tatoeba": "tsv", "bucc2018": "tsv", "lareqa": "json"}


def submission_extension(spec) -> str:
    """The file extension of the task's submission file, by its scoring rule."""
    return SUBMISSION_EXTENSIONS[spec.retrieval_rule]


def render_submission(spec, ids: Sequence[str], predictions: Any) -> str:
    """One language's predictions in the file format of the task's scoring rule: Tatoeba, the line number of
    each query's nearest candidate; BUCC, the mined ``source<TAB>target`` pairs; LAReQA, ``{query id: ranked
    candidate ids}``."""
    rule = spec.retrieval_rule
    if rule == "tatoeba":
        return "".join(f"{int(p)}\n" for p in predictions)
    if rule == "bucc2018":
        return "".join(f"{src}\t{trg}\n" for src, trg in zip(ids, predictions))
    if rule == "lareqa":
        return json.dumps(dict(zip(ids, predictions)), ensure_ascii=False, indent=0)
    raise ConfigError(f"task {spec.name!r}: no submission format for retrieval rule {rule!r}")


def logme_features(encoder, examples: Any, spec, max_length: int, batch_size: int,
                   encode_sentences: Callable[[list[str]], Any]):
    """LogME needs labels; a retrieval pool has none (SEmb embeds its English side instead)."""
    raise ConfigError(f"LogME has no labels for task shape {spec.shape!r} (task {spec.name})")

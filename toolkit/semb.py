"""SEmb (Poth et al. 2021; reference adapter-hub/efficient-task-transfer task_selection/semb.py): task vectors
from a sentence-embedding model and their cosine (see :mod:`toolkit.selection`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, DataError
from .estimates import Cost, Estimate, TaskEmbedding, cosine, sample_indices

logger = logging.getLogger(__name__)



#: The default SEmb model: a *sentence-embedding* model, as in Poth et al. (2021), whose reference code
#: (adapter-hub/efficient-task-transfer ``task_selection/run_embeddings.py`` l.68) uses
#: sentence-transformers/roberta-base-nli-stsb-mean-tokens. Offline, xta's embedded encoder is one:
#: multilingual-e5-small (multilingual, mean pooling), used with E5's ``"query: "`` prefix.
SEMB_MODEL = "embedded"


#: E5 models are trained with ``"query: "`` / ``"passage: "`` prefixes; their model card prescribes
#: ``"query: "`` for symmetric uses and embeddings used as features, which SEmb's are.
E5_SEMB_PREFIX = "query: "


def semb_prefix(encoder: Any) -> str:
    """The text prefix SEmb gives ``encoder``: ``"query: "`` for an E5 model (the embedded encoder, or a
    name containing ``e5``), none otherwise. ``xta select --semb-prefix`` overrides it."""
    name = str(getattr(encoder, "name", "") or "").lower()
    return E5_SEMB_PREFIX if getattr(encoder, "kind", "") == "embedded" or "e5" in name else ""


def semb_rows(example: Mapping[str, Any], shape: str,
              question_prompts: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """The (first segment, second segment or None) rows SEmb embeds for one normalised example, as the
    reference builds its model inputs (efficient-task-transfer ``itrain/datasets``):

    * classification: ``(text, text_pair)`` (``classification.py`` l.73-80: ``tokenizer(a, b)``);
    * multiple choice: one row per choice, ``(context, question + " " + choice)`` or the cloze question
      with ``_`` replaced by the choice (``multiple_choice.py`` l.41-51); COPA/XCOPA's ``cause``/``effect``
      become their prompt question first (l.104-118); without a context, ``(question, choice)``
      (CommonsenseQA, l.212-216);
    * extractive QA: ``(question, context)``;
    * tagging: the words joined by spaces.

    Each shape's rule is its family's ``semb_rows`` (:mod:`toolkit.families`).
    """
    from .families import get_family

    return get_family(shape).semb_rows(example, question_prompts)


def semb_rows_per_example(examples: Any, spec: Any) -> list[list[tuple[str, str | None]]]:
    """The SEmb rows of every example (a list per example, so that sampling draws whole examples)."""
    if hasattr(examples, "queries"):  # a RetrievalData: its query sentences are the task's text
        return [[(q, None)] for q in examples.queries]
    prompts = getattr(spec, "question_prompts", None)
    return [semb_rows(ex, spec.shape, prompts) for ex in examples]


def encode_rows(encoder: Any, rows: Sequence[tuple[str, str | None]], *, prefix: str = "", max_length: int = 128,
                batch_size: int = 32, layer: int | None = None) -> np.ndarray:
    """One vector per row (float64, ``(len(rows), hidden)``): the mean of the token states over *every*
    token of the row, special tokens included, not normalised (efficient-task-transfer ``task_selection/
    semb.py`` l.59-65: the attention-mask-weighted average of ``outputs[0]``). A pair row is tokenised as
    a pair (``tokenizer(a, b)``, truncation ``longest_first`` to ``max_length``: the reference's
    ``truncation=True``); ``prefix`` goes before the first segment. Token type ids are not passed (all 0;
    the reference passes segment ids to models that have them; E5/XLM-R has a single type)."""
    import torch

    from .retrieval import hidden_states_at, model_param_device, right_pad_batch, temporary_eval_mode, tokenizer_pad_id

    tok = encoder.tokenizer
    ids: list[list[int]] = [[] for _ in rows]
    for paired in (False, True):
        which = [i for i, (_, b) in enumerate(rows) if bool(b) == paired]
        if not which:
            continue
        firsts = [prefix + rows[i][0] for i in which]
        enc = (tok(firsts, [rows[i][1] for i in which], truncation=True, max_length=max_length) if paired
               else tok(firsts, truncation=True, max_length=max_length))
        for i, row_ids in zip(which, enc["input_ids"]):
            ids[i] = list(row_ids)
    out = np.zeros((len(rows), _hidden_size_of(encoder)), dtype=np.float64)
    if not rows:
        return out
    pad_id, model = tokenizer_pad_id(tok), encoder.model
    device = model_param_device(model)
    order = np.argsort([-len(x) for x in ids], kind="stable")
    with torch.inference_mode(), temporary_eval_mode(model):
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            input_ids, mask = right_pad_batch([ids[i] for i in chosen], pad_id, device)
            hidden = hidden_states_at(model, input_ids, mask, layer).double()
            m = mask.to(hidden.dtype).unsqueeze(-1)
            out[chosen] = ((hidden * m).sum(1) / m.sum(1)).cpu().numpy()
    return out


def _hidden_size_of(encoder: Any) -> int:
    size = getattr(encoder, "hidden_size", None) or getattr(getattr(encoder.model, "config", None), "hidden_size", 0)
    return int(size)


def embed_task(encoder: Any, examples: Any, spec: Any, *, n: int | None = 1000, max_length: int = 128,
               seed: int = 0, batch_size: int = 32, layer: int | None = None,
               prefix: str | None = None) -> TaskEmbedding:
    """SEmb's dataset vector of ``examples`` (a task's normalised examples, or a RetrievalData) with its cost.

    As the reference (efficient-task-transfer ``task_selection/semb.py`` l.22-79) computes it with a
    sentence-embedding model (``encoder``; :data:`SEMB_MODEL` by default in ``xta select``): every row of
    the examples (:func:`semb_rows`: one per example, one per answer choice for multiple choice) is
    mean-pooled over all its tokens (:func:`encode_rows`), and the dataset vector is the mean over all
    rows. Sampling (a documented difference: the reference embeds the whole training split): ``n``
    examples drawn without replacement with ``seed`` (:func:`sample_indices`), each with all its rows.
    ``prefix`` defaults to :func:`semb_prefix` (``"query: "`` for E5). The cost counts one forward pass per
    row. ``spec`` gives the shape (and COPA/XCOPA's question prompts).

    (Vu et al. 2020's TextEmb is the same construction on BERT itself: each example's token states are
    averaged, then the example vectors are averaged over the dataset.)
    """
    per_example = semb_rows_per_example(examples, spec)
    if not per_example:
        raise DataError(f"task {getattr(spec, 'name', '?')}: no examples to embed")
    picked = sample_indices(len(per_example), n, seed)
    rows = [row for i in picked for row in per_example[i]]
    start = time.perf_counter()
    vectors = encode_rows(encoder, rows, prefix=semb_prefix(encoder) if prefix is None else prefix,
                          max_length=max_length, batch_size=batch_size, layer=layer)
    cost = Cost(len(rows), time.perf_counter() - start)
    return TaskEmbedding(mean_embedding(vectors), len(picked), cost)


def mean_embedding(features: np.ndarray) -> np.ndarray:
    """The dataset vector: the mean of per-example feature rows (N, D) -> (D,), in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ConfigError(f"a dataset embedding needs a non-empty (N, D) array of features, got shape {features.shape}")
    return features.mean(axis=0)


def task_embedding(encoder: Any, examples: Any, spec: Any, n: int | None = 1000, max_length: int = 128,
                   **kw: Any) -> np.ndarray:
    """SEmb's dataset vector of a task (see :func:`embed_task`, which also returns the cost)."""
    return embed_task(encoder, examples, spec, n=n, max_length=max_length, **kw).vector


def _vector_and_cost(x: np.ndarray | TaskEmbedding) -> tuple[np.ndarray, Cost]:
    return (x.vector, x.cost) if isinstance(x, TaskEmbedding) else (np.asarray(x), Cost())


def semb_estimates(target: str, target_embedding: np.ndarray | TaskEmbedding,
                   candidate_embeddings: Mapping[str, np.ndarray | TaskEmbedding]) -> list[Estimate]:
    """SEmb: score = cosine(candidate's dataset vector, target's English dataset vector).

    Poth et al. (2021) rank intermediate tasks by this similarity of :func:`embed_task` vectors from a
    sentence-embedding model (theirs: Sentence-BERT; xta's default: multilingual-e5-small). An estimate's
    cost is its candidate's embedding plus the target's (shared by all candidates, counted in each) plus
    the similarity itself.
    """
    t_vec, t_cost = _vector_and_cost(target_embedding)
    out = []
    for name, emb in candidate_embeddings.items():
        c_vec, c_cost = _vector_and_cost(emb)
        start = time.perf_counter()
        score = cosine(t_vec, c_vec)
        out.append(Estimate("semb", target, name, score, t_cost + c_cost + Cost(0, time.perf_counter() - start)))
    return out


def disjoint_halves(total: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of ``range(total)`` (a seeded permutation cut in the middle, each sorted): the
    target's representation is computed on one, the overlapping candidate's on the other."""
    if total < 2:
        raise ConfigError(f"cannot split {total} example(s) into two disjoint halves")
    perm = np.random.default_rng(seed).permutation(total)
    return np.sort(perm[: total // 2]), np.sort(perm[total // 2:])


def semb_estimates_apart(target: str, candidates: Sequence[str], embeddings: Mapping[str, Any], data: Mapping[str, Any],
                         used: Mapping[str, str], encoder: Any, *, n: int | None, seed: int = 0,
                         prefix: str | None = None) -> tuple[list[Estimate], dict[str, str]]:
    """SEmb of every candidate, never against its own examples: a candidate whose English data is the
    target's (same "task:split" in ``used``; XCOPA's English side is SocialIQa's, so candidate siqa would
    score cosine 1.0 against itself) is scored on two disjoint halves of those examples
    (:func:`disjoint_halves`), the target embedded from one and the candidate from the other. Returns the
    estimates (in ``candidates`` order) and, per such candidate, a sentence saying what was done."""
    from .tasks import get_task

    apart = [c for c in candidates if c == target or used[c] == used[target]]
    estimates = semb_estimates(target, embeddings[target], {c: embeddings[c] for c in candidates if c not in apart})
    overlaps = {}
    for c in apart:
        t_idx, c_idx = disjoint_halves(len(data[c]), seed)
        spec = get_task(used[c].split(":")[0])
        halves = [embed_task(encoder, [data[c][int(i)] for i in idx], spec, n=n, seed=seed, prefix=prefix)
                  for idx in (t_idx, c_idx)]
        estimates += semb_estimates(target, halves[0], {c: halves[1]})
        overlaps[c] = (f"{c}'s English data ({used[c]}) is {target}'s: the target is represented by a disjoint "
                       f"half ({len(t_idx)} examples), {c} by the other ({len(c_idx)}); no example is in both")
    order = list(candidates)
    return sorted(estimates, key=lambda e: order.index(e.candidate)), overlaps


def semb_encoder_or_default(given: Any) -> Any:
    """The SEmb model: ``given``, or the default sentence-embedding model :data:`SEMB_MODEL`."""
    if given is not None:
        return given
    from .encoders import load_encoder

    return load_encoder(SEMB_MODEL)

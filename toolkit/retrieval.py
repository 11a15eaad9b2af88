"""Sentence encoding and exact nearest-neighbour search for the retrieval tasks (Tatoeba, BUCC, LAReQA).

Retrieval tasks need no training data: the (frozen, possibly adapter-carrying) encoder embeds both
sides and the task is scored from nearest neighbours. The rules follow the official scripts:

* Embeddings: mean pooling over the non-pad tokens of one hidden layer (XTREME
  ``third_party/evaluate_retrieval.py``: ``mean_pool_embedding`` over ``--specific_layer``). Layer
  indices here index ``hidden_states`` as transformers returns them: ``0`` is the embedding output,
  ``L`` the output of transformer block ``L`` (1-based), ``-1`` the last block. XTREME's
  ``--specific_layer k`` counts blocks from 0 (its list drops the embedding output), i.e. ``k`` there
  is ``k + 1`` here. The seed paper read layer 14 of XLM-R Large's 24 blocks.
* Tatoeba: XTREME's ``similarity_search`` indexes the non-English sentences and searches them with
  the English ones (L2 over L2-normalised vectors, i.e. cosine); prediction ``i`` is correct when it
  is line ``i``. Accuracy in %. The other direction is reported too (``accuracy_xx2en``).
* BUCC: ``mine_bitext`` of XTREME ``third_party/utils_retrieve.py`` (after LASER): identical sentences
  unified, cosine k-NN (k=4) in both directions, ratio margin (Artetxe & Schwenk 2019, "Margin-based
  parallel corpus mining with multilingual sentence embeddings"), ``retrieval='max'`` with a greedy
  one-to-one pass; then ``bucc_optimize`` picks the threshold that maximises F1 against the gold
  pairs and ``bucc_eval`` reports P/R/F1 in %. The threshold is tuned on *dev* and applied to test
  (:func:`bucc_tune_threshold`; see there for why this is the protocol although the official script
  cannot run it as written).
* LAReQA: XTREME ``third_party/utils_lareqa.py``: the candidate pool is every answer sentence of every
  language, encoded with its paragraph (``sentence + context``, ``evaluate_retrieval.py`` l. 572-574);
  questions score candidates by the dot product of L2-normalised vectors (the dual encoder's
  ``normalized_cls_token``, ``third_party/bert.py`` l. 19-20 and 48-50, then ``mean_avg_prec_at_k``'s
  ``question_vec.dot(candidate_matrix.T)``, ``utils_lareqa.py`` l. 376), i.e. cosine; relevant = the
  answer sentence in each language. XTREME-R reports mAP@20 (in %).

Protocol defaults (:func:`protocol_config`), from google-research/xtreme's scripts:

* Layer (Tatoeba, BUCC and the bare-encoder LAReQA): :func:`protocol_layer` of the encoder's depth.
  ``scripts/run_tatoeba.sh`` l. 28 sets ``LAYER=7`` for 12-layer mBERT and l. 41 ``LAYER=13`` for
  24-layer XLM-R; ``evaluate_retrieval.py`` l. 212 keeps the last ``num_layers`` hidden states (dropping
  the embedding output) and l. 806-807 reads index ``specific_layer``: ``hidden_states[8]`` and
  ``hidden_states[14]`` in transformers' numbering. Other depths: ``round(14 * n / 24)`` (XLM-R Large's
  relative depth; Python's round, half to even), within 1..n. For 12 layers the official value 8 wins
  over the rule's 7.
* Pooling: mean over the non-pad tokens, special tokens included (``evaluate_retrieval.py`` l. 110 and
  289: ``pool_mask = attention_mask``). ``scripts/run_bucc2018.sh`` l. 66 and 75 pass ``--pool_type
  cls --specific_layer 7`` for every model (``hidden_states[8]`` also for 24-layer XLM-R), unlike the
  Tatoeba script (mean pooling, a per-model layer) and the seed paper's layer 14 of XLM-R Large; the
  scripts disagree, so xta applies the Tatoeba script's rule to both bitext tasks (a documented choice;
  ``--retrieval-pooling cls --retrieval-layer 8`` reproduces the BUCC script literally).
* Max length: 512 tokens for Tatoeba and BUCC (``run_tatoeba.sh`` l. 26, ``run_bucc2018.sh`` l. 26,
  passed as ``--max_seq_length``); LAReQA questions 96 and candidates 256 (``scripts/run_eval_lareqa.sh``
  l. 32-33, ``--max_query_length``/``--max_answer_length``; the script's defaults 64/92 are not used).

Search is exact: ``faiss.IndexFlatIP`` / ``IndexFlatL2`` (BLAS inner products + heap selection),
checked against :func:`exact_search_numpy`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import torch

from .data import RetrievalData
from .encoders import pool
from .errors import ConfigError, EncoderError
from .search import (  # noqa: F401 (re-exported: exact search and its threads live there)
    FAISS_DATABASE_BLOCK,
    SEARCH_METRICS,
    available_cpus,
    exact_search_numpy,
    l2_normalize,
    search,
    search_thread_count,
    set_search_threads,
)
from .metrics import BUCC_THRESHOLD_DEV, BUCC_THRESHOLD_ORACLE, map_at_k  # noqa: F401 (the labels, re-exported)
from .metrics import score as score_metrics

logger = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")
MARGINS = ("ratio", "distance", "absolute")
TATOEBA_DIRECTIONS = ("en2xx", "xx2en")
LAREQA_CANDIDATE_TEXTS = ("sentence+context", "sentence")

#: The hidden-state index XTREME's scripts read per encoder depth (transformers' numbering: 0 is the
#: embedding output). scripts/run_tatoeba.sh l. 28 (LAYER=7, 12-layer mBERT) and l. 40-41 (NLAYER=24,
#: LAYER=13, XLM-R); evaluate_retrieval.py l. 212 drops the embedding output, so --specific_layer k is
#: hidden_states[k + 1].
OFFICIAL_RETRIEVAL_LAYERS = {12: 8, 24: 14}

#: Bumped whenever a retrieval default changes what is computed (1: the protocol layer, official
#: lengths, cosine for LAReQA), so that records computed under older defaults are recomputed.
RETRIEVAL_PROTOCOL_VERSION = 1

#: Official max lengths: run_tatoeba.sh l. 26 / run_bucc2018.sh l. 26 (MAXL=512); run_eval_lareqa.sh
#: l. 32-33 (MAX_QUERY_LEN=96, MAX_ANSWER_LEN=256); run_eval_mewslix.sh l. 27 (MAX_SEQ_LEN=64, both sides).
OFFICIAL_MAX_LENGTHS = {"tatoeba": (512, 512), "bucc2018": (512, 512), "lareqa": (96, 256), "mewslix": (64, 64)}


def protocol_layer(n_layers: int) -> int:
    """The hidden-state index XTREME's retrieval scripts read for an encoder with ``n_layers`` blocks:
    the official values for 12 and 24 layers (:data:`OFFICIAL_RETRIEVAL_LAYERS`), else
    ``round(14 * n_layers / 24)`` (XLM-R Large's relative depth; Python's round, half to even), at least 1
    and at most ``n_layers``."""
    n = int(n_layers)
    if n < 1:
        raise ConfigError(f"an encoder needs at least one layer, got {n_layers}")
    if n in OFFICIAL_RETRIEVAL_LAYERS:
        return OFFICIAL_RETRIEVAL_LAYERS[n]
    return min(n, max(1, round(14 * n / 24)))


def encoder_layers(encoder: Any) -> int:
    """Number of transformer blocks of ``encoder`` (an :class:`toolkit.encoders.Encoder` or anything with
    ``.model.config.num_hidden_layers``)."""
    n = getattr(encoder, "num_layers", None)
    if n is None:
        n = getattr(getattr(getattr(encoder, "model", None), "config", None), "num_hidden_layers", None)
    if n is None:
        raise EncoderError(f"{type(encoder).__name__}: cannot tell the number of layers (no config.num_hidden_layers)")
    return int(n)


# --------------------------------------------------------------------------------------- encoding


def encode_texts(
    encoder: Any,
    texts: Sequence[str],
    layer: int | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    max_length: int = 128,
    prefix: str = "",
    normalize: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder`` (an object with ``.model`` and a fast ``.tokenizer``).

    The texts are tokenised once, run in batches of similar length (fewer pad tokens: the batches are
    formed over the length-sorted order) and returned in the original order as a float32
    ``(len(texts), hidden)`` array, L2-normalised when ``normalize``. ``layer`` indexes
    ``hidden_states`` (0 = embeddings, -1 / None = last block); ``pooling`` is ``"mean"`` over
    non-pad tokens (XTREME) or ``"cls"`` (first token). ``prefix`` is prepended to every text
    (e.g. ``"query: "`` for E5 models).
    """
    _check_encode_args(pooling, batch_size, max_length)
    ids = _tokenize(encoder.tokenizer, texts, prefix, max_length)
    if not ids:
        return np.zeros((0, _hidden_size(encoder)), dtype=np.float32)
    pad_id = tokenizer_pad_id(encoder.tokenizer)
    order = np.argsort([-len(x) for x in ids], kind="stable")  # longest first: memory peak up front
    model = encoder.model
    device = model_param_device(model)
    out: np.ndarray | None = None
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    from .families.base import eval_autocast

    with torch.inference_mode(), temporary_eval_mode(model), eval_autocast(device):
        for b, rows in enumerate(batches):
            input_ids, mask = right_pad_batch([ids[i] for i in rows], pad_id, device)
            hidden = hidden_states_at(model, input_ids, mask, layer)
            vectors = pool(hidden.float(), mask, mode=pooling).cpu().numpy()
            if out is None:
                out = np.empty((len(ids), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            if progress:
                logger.info("encoded batch %d/%d", b + 1, len(batches))
    out = cast(np.ndarray, out)  # ids is not empty, so there was a batch and it filled ``out``
    return l2_normalize(out) if normalize else out


def _check_encode_args(pooling: str, batch_size: int, max_length: int) -> None:
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r} (choose from {', '.join(POOLINGS)})")
    if batch_size < 1 or max_length < 2:
        raise ConfigError(f"batch_size must be >= 1 and max_length >= 2 (got {batch_size}, {max_length})")


def _tokenize(tokenizer: Any, texts: Sequence[str], prefix: str, max_length: int) -> list[list[int]]:
    """One call to the fast tokenizer for all texts (no padding: batches are padded later)."""
    texts = [prefix + t for t in texts]
    if not texts:
        return []
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return enc["input_ids"]


def tokenizer_pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad token id (EncoderError when it has none)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        raise EncoderError("the tokenizer has no pad token; set tokenizer.pad_token before encoding batches")
    return int(pad)


def right_pad_batch(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the longest in the batch (so position 0 is the first token)."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def hidden_states_at(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, layer: int | None) -> torch.Tensor:
    """The token states of ``layer`` (None/-1: last); asks for all hidden states only when needed."""
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    wants_last = layer is None or layer == -1 or (n_layers is not None and layer == n_layers)
    if layer is not None and not wants_last and n_layers is not None:  # 'layer is not None' follows from not wants_last
        _check_layer(layer, n_layers + 1)
    out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=not wants_last, return_dict=True)
    if layer is None or wants_last:  # 'layer is None' implies wants_last: the test only narrows layer
        last = getattr(out, "last_hidden_state", None)
        if last is None:
            raise EncoderError(f"{type(model).__name__} returned no last_hidden_state; use the base encoder model")
        return last
    states = getattr(out, "hidden_states", None)
    if not states:
        raise EncoderError(f"{type(model).__name__} returned no hidden_states; cannot read layer {layer}")
    _check_layer(layer, len(states))
    return states[layer]


def _check_layer(layer: int, n_states: int) -> None:
    if not -n_states <= layer < n_states:
        raise ConfigError(
            f"layer {layer} out of range: the encoder has {n_states - 1} layers (use 0..{n_states - 1} or negative)"
        )


@contextmanager
def temporary_eval_mode(model: Any) -> Iterator[None]:
    """Dropout off while encoding; the caller's train/eval state is restored afterwards."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def model_param_device(model: Any) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def _hidden_size(encoder: Any) -> int:
    size = getattr(encoder, "hidden_size", None) or getattr(getattr(encoder.model, "config", None), "hidden_size", 0)
    return int(size)


# ---------------------------------------------------------------------------------------- tatoeba


def tatoeba_accuracy(data: RetrievalData, q_emb: np.ndarray, c_emb: np.ndarray, direction: str = "en2xx") -> float:
    """Tatoeba accuracy (%) by cosine nearest neighbour.

    ``direction="en2xx"`` is XTREME's ``similarity_search``: each English sentence (candidate)
    searches the ``lang`` sentences (queries); ``"xx2en"`` is the reverse. A hit is a gold pair.
    """
    ids, nearest = tatoeba_nearest(data, q_emb, c_emb, direction)
    if direction == "xx2en":
        hits = [data.candidate_ids[j] in data.gold.get(qid, ()) for qid, j in zip(ids, nearest)]
    else:
        hits = [cid in data.gold.get(data.query_ids[i], ()) for cid, i in zip(ids, nearest)]
    return 100.0 * float(np.mean(hits)) if hits else float("nan")


def tatoeba_nearest(data: RetrievalData, q_emb: np.ndarray, c_emb: np.ndarray,
                    direction: str = "en2xx") -> tuple[list[str], list[int]]:
    """``(ids, nearest)``: for each searching sentence (``en2xx``: the English candidates, XTREME's
    ``similarity_search``; ``xx2en``: the queries) its id and the line index of its cosine nearest
    neighbour on the other side: the prediction file of XTREME's ``evaluate.py`` (one index per line,
    correct when it equals the line number)."""
    if direction not in TATOEBA_DIRECTIONS:
        raise ConfigError(f"unknown Tatoeba direction {direction!r} (choose from {', '.join(TATOEBA_DIRECTIONS)})")
    if direction == "xx2en":
        _, nn = search(q_emb, c_emb, 1, metric="cosine")
        return list(data.query_ids), [int(j) for j in nn[:, 0]]
    _, nn = search(c_emb, q_emb, 1, metric="cosine")
    return list(data.candidate_ids), [int(i) for i in nn[:, 0]]


# ------------------------------------------------------------------------------------------- bucc


def bucc_mine(
    data: RetrievalData, q_emb: np.ndarray, c_emb: np.ndarray, k: int = 4, margin: str = "ratio"
) -> dict[tuple[str, str], float]:
    """Candidate pairs ``{(query_id, candidate_id): margin score}`` as XTREME's ``mine_bitext`` +
    ``read_candidate2score`` produce them (mode ``mine``, retrieval ``max``, cosine, threshold 0).

    Identical sentences are unified before the k-NN search; pairs that involve a sentence whose
    text occurs more than once are dropped (``read_sent2id`` cannot map them to an id).
    """
    if margin not in MARGINS:
        raise ConfigError(f"unknown margin {margin!r} (choose from {', '.join(MARGINS)})")
    src_rows, src_ids = _unify(data.queries, data.query_ids)
    trg_rows, trg_ids = _unify(data.candidates, data.candidate_ids)
    x = l2_normalize(np.asarray(q_emb)[src_rows])
    y = l2_normalize(np.asarray(c_emb)[trg_rows])
    fwd_sim, fwd_ind = search(x, y, min(k, len(y)), metric="ip")
    bwd_sim, bwd_ind = search(y, x, min(k, len(x)), metric="ip")
    fwd_mean, bwd_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
    fwd = _margin(fwd_sim, (fwd_mean[:, None] + bwd_mean[fwd_ind]) / 2, margin)
    bwd = _margin(bwd_sim, (bwd_mean[:, None] + fwd_mean[bwd_ind]) / 2, margin)
    pairs = _max_retrieval(fwd, fwd_ind, bwd, bwd_ind)
    return {(q, c): s for i, j, s in pairs if (q := src_ids[i]) is not None and (c := trg_ids[j]) is not None}


def _unify(texts: Sequence[str], ids: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
    """Rows of the first occurrence of each distinct text, and its id (None when the text repeats)."""
    first: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
        count[t] = count.get(t, 0) + 1
    rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    unique_ids = [ids[i] if count[t] == 1 else None for t, i in first.items()]
    return rows, unique_ids


def _margin(sim: np.ndarray, neighbourhood: np.ndarray, margin: str) -> np.ndarray:
    """Artetxe & Schwenk (2019) margins: ratio a/b, distance a-b, absolute a."""
    if margin == "ratio":
        return sim / neighbourhood
    if margin == "distance":
        return sim - neighbourhood
    return sim


def _max_retrieval(
    fwd: np.ndarray, fwd_ind: np.ndarray, bwd: np.ndarray, bwd_ind: np.ndarray, threshold: float = 0.0
) -> list[tuple[int, int, float]]:
    """LASER ``retrieval='max'``: best pair per sentence in both directions, then a greedy
    one-to-one pass in decreasing score order, keeping scores above ``threshold``."""
    n_src, n_trg = fwd.shape[0], bwd.shape[0]
    fwd_best = fwd_ind[np.arange(n_src), fwd.argmax(axis=1)]
    bwd_best = bwd_ind[np.arange(n_trg), bwd.argmax(axis=1)]
    src = np.concatenate([np.arange(n_src), bwd_best])
    trg = np.concatenate([fwd_best, np.arange(n_trg)])
    scores = np.concatenate([fwd.max(axis=1), bwd.max(axis=1)])
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    pairs = []
    for p in np.argsort(-scores, kind="stable"):
        s, t = int(src[p]), int(trg[p])
        if s in seen_src or t in seen_trg:
            continue
        seen_src.add(s)
        seen_trg.add(t)
        if scores[p] > threshold:
            pairs.append((s, t, float(scores[p])))
    return pairs


def bucc_tune_threshold(
    dev: RetrievalData, encoder: Any, cfg: RetrievalConfig | None = None
) -> tuple[float, float]:
    """``(threshold, dev F1 at it)``: mine ``dev`` and pick the F1-optimal threshold on its gold.

    Protocol: the threshold is chosen on dev and applied unchanged to test. XTREME
    ``third_party/evaluate_retrieval.py`` (l. 477-505) loops ``for split in ['dev', 'test']`` and keeps
    ``best_threshold = results['best-threshold']`` from dev, but then calls ``bucc_eval(..., threshold)``
    with a name that is never defined (l. 504), and ``third_party/utils_retrieve.py::bucc_eval``
    (l. 307-312) re-optimises on the gold whenever a gold file is given, so as written the script
    either fails or tunes on test's own gold. We follow the intent its dev-then-test loop and
    ``best_threshold`` express, and LASER's BUCC protocol (Artetxe & Schwenk 2019: the threshold is
    optimised on the BUCC training/dev data, then used to mine the test data).
    """
    from .metrics import bucc_candidate_scores, bucc_optimize_threshold, bucc_pair_scores
    from .metrics import bucc_mine as extract

    cfg = cfg or RetrievalConfig()
    normalize = True if cfg.normalize is None else bool(cfg.normalize)  # as retrieve() encodes the scored split
    q = _encode(encoder, dev.queries, cfg, cfg.query_prefix, normalize, cfg.query_length)
    c = _encode(encoder, list(dev.candidates), cfg, cfg.candidate_prefix, normalize, cfg.candidate_length)
    scored = bucc_candidate_scores(bucc_mine(dev, q, c, k=cfg.bucc_k, margin=cfg.bucc_margin))
    gold = gold_pairs(dev)
    threshold = bucc_optimize_threshold(scored, gold)
    return float(threshold), bucc_pair_scores(extract(scored, threshold), gold)["f1"]


def gold_pairs(data: RetrievalData) -> set[tuple[str, str]]:
    """The gold relevance of ``data`` as a set of (query id, candidate id) pairs."""
    return {(q, c) for q, cs in data.gold.items() for c in cs}


# ----------------------------------------------------------------------------------------- lareqa


def lareqa_map(data: RetrievalData, q_emb: np.ndarray, c_emb: np.ndarray, k: int | None = 20) -> float:
    """mAP@k (%) of the candidates ranked by dot product of the given vectors (XTREME-R LAReQA, whose
    vectors are L2-normalised: :func:`retrieve` normalises unless told not to; ``toolkit.metrics.map_at_k``:
    AP@k divided by min(k, #relevant)). ``k=None`` ranks the whole pool (the plain AP of XTREME's
    ``utils_lareqa.mean_avg_prec``). Queries without any relevant candidate are left out, with a warning.
    """
    rankings = lareqa_rankings(data, q_emb, c_emb, k)
    gold = {qid: data.gold[qid] for qid in data.query_ids if data.gold.get(qid)}
    if len(gold) < len(data.query_ids):
        logger.warning("lareqa: %d queries have no relevant candidate; left out of mAP", len(data.query_ids) - len(gold))
    return map_at_k(rankings, gold, k=k)


def lareqa_rankings(data: RetrievalData, q_emb: np.ndarray, c_emb: np.ndarray, k: int | None = 20) -> dict[str, list[str]]:
    """``{question id: the top-k candidate ids by dot product, best first}`` (the whole pool for ``k=None``)."""
    n_rank = len(data.candidate_ids) if k is None else min(k, len(data.candidate_ids))
    _, ranked = search(q_emb, c_emb, n_rank, metric="ip")
    return {qid: [data.candidate_ids[j] for j in row] for qid, row in zip(data.query_ids, ranked)}


# ------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class RetrievalConfig:
    """How the retrieval tasks embed and score; recorded with each result (:meth:`to_record`).

    ``normalize=None`` follows the official scorers: every task compares L2-normalised vectors
    (cosine; for LAReQA ``bert.py``'s ``normalized_cls_token``); ``False`` ranks LAReQA by the raw dot
    product. ``query_max_length``/``candidate_max_length`` (None: ``max_length``) truncate the two sides
    separately, as XTREME's LAReQA script does (96 / 256). :func:`protocol_config` gives the official
    settings of a task. E5 encoders expect ``"query: "`` / ``"passage: "`` prefixes; the official XTREME
    scripts use none.
    """

    layer: int | None = None
    pooling: str = "mean"
    batch_size: int = 64
    max_length: int = 128
    query_max_length: int | None = None
    candidate_max_length: int | None = None
    query_prefix: str = ""
    candidate_prefix: str = ""
    normalize: bool | None = None
    tatoeba_direction: str = "en2xx"
    bucc_k: int = 4
    bucc_margin: str = "ratio"
    bucc_threshold: float | None = None
    lareqa_k: int | None = 20
    lareqa_candidate_text: str = "sentence+context"

    def __post_init__(self) -> None:
        _check_encode_args(self.pooling, self.batch_size, self.max_length)
        for length in (self.query_max_length, self.candidate_max_length):
            if length is not None:
                _check_encode_args(self.pooling, self.batch_size, length)
        for value, allowed, what in (
            (self.tatoeba_direction, TATOEBA_DIRECTIONS, "tatoeba_direction"),
            (self.bucc_margin, MARGINS, "bucc_margin"),
            (self.lareqa_candidate_text, LAREQA_CANDIDATE_TEXTS, "lareqa_candidate_text"),
        ):
            if value not in allowed:
                raise ConfigError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})")

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def query_length(self) -> int:
        return self.query_max_length or self.max_length

    @property
    def candidate_length(self) -> int:
        return self.candidate_max_length or self.max_length


def protocol_config(task_name: str, n_layers: int, *, layer: int | None = None, pooling: str = "mean",
                    max_length: int | None = None, batch_size: int = 64) -> RetrievalConfig:
    """The official settings of a retrieval task for an encoder of ``n_layers`` blocks (module doc):
    ``layer`` None = :func:`protocol_layer`; ``max_length`` None = :data:`OFFICIAL_MAX_LENGTHS` (a value
    truncates both sides); mean pooling; L2-normalised vectors; Tatoeba ``en2xx``."""
    kind = retrieval_kind(task_name)
    q_len, c_len = (max_length, max_length) if max_length else OFFICIAL_MAX_LENGTHS.get(task_name, OFFICIAL_MAX_LENGTHS[kind])
    return RetrievalConfig(
        layer=protocol_layer(n_layers) if layer is None else layer, pooling=pooling, batch_size=batch_size,
        max_length=max(q_len, c_len), query_max_length=q_len, candidate_max_length=c_len, normalize=True,
    )


@dataclass
class RetrievalOutput:
    """Scores and predictions of one retrieval evaluation; ``predictions[i]`` answers ``ids[i]``:

    * tatoeba: ``ids`` = the searching sentences (English for ``en2xx``), ``predictions`` = the line index
      of each one's nearest neighbour (XTREME's ``test-<lang>.tsv``);
    * bucc2018: ``ids`` = source sentence ids, ``predictions`` = the English id mined for each, at the
      threshold the score used (the lines ``src<TAB>trg`` of ``evaluate.py::bucc_f1``);
    * lareqa: ``ids`` = question ids, ``predictions`` = their top-k candidate ids, best first.
    """

    metrics: dict[str, float]
    ids: list[str]
    predictions: list[Any]


def evaluate_retrieval(
    task_name: str,
    data: RetrievalData,
    encoder: Any,
    cfg: RetrievalConfig | None = None,
    cache: dict | None = None,
) -> dict[str, float]:
    """The metrics of :func:`retrieve` (which also returns the predictions)."""
    return retrieve(task_name, data, encoder, cfg, cache).metrics


def retrieve(
    task_name: str,
    data: RetrievalData,
    encoder: Any,
    cfg: RetrievalConfig | None = None,
    cache: dict | None = None,
) -> RetrievalOutput:
    """Encode ``data`` with ``encoder`` and score it by the task's official rule.

    Returns ``{"accuracy", "accuracy_xx2en"}`` (tatoeba), ``{"bucc_f1", "bucc_precision",
    "bucc_recall", "bucc_threshold"}`` (bucc2018; the threshold tuned on the gold unless
    ``cfg.bucc_threshold``) or ``{"map@20"}`` (lareqa; ``map@{k}``), plus ``n_queries`` and
    ``n_candidates``. ``cache`` (a dict the caller keeps for one encoder + adapter setup) reuses
    candidate embeddings across languages: LAReQA's pool is the same for every query language.
    """
    cfg = cfg or RetrievalConfig()
    kind = retrieval_kind(task_name)
    scorers = {"tatoeba": _score_tatoeba, "bucc2018": _score_bucc, "lareqa": _score_lareqa}
    normalize = True if cfg.normalize is None else bool(cfg.normalize)
    q_emb = _encode(encoder, data.queries, cfg, cfg.query_prefix, normalize, cfg.query_length)
    c_emb = _encode_cached(encoder, _candidate_texts(kind, data, cfg), data.candidate_ids, cfg, normalize, cache)
    metrics, ids, predictions = scorers[kind](data, q_emb, c_emb, cfg)
    metrics.update(n_queries=len(data.query_ids), n_candidates=len(data.candidate_ids))
    return RetrievalOutput(metrics, ids, predictions)


from .kinds import retrieval_kind  # noqa: E402,F401 (a task name's scoring rule, torch-free there)


Scored = tuple[dict[str, float], list[str], list[Any]]


def _score_tatoeba(data: RetrievalData, q: np.ndarray, c: np.ndarray, cfg: RetrievalConfig) -> Scored:
    other = "xx2en" if cfg.tatoeba_direction == "en2xx" else "en2xx"
    metrics = {
        "accuracy": tatoeba_accuracy(data, q, c, cfg.tatoeba_direction),
        f"accuracy_{other}": tatoeba_accuracy(data, q, c, other),
    }
    return (metrics, *tatoeba_nearest(data, q, c, cfg.tatoeba_direction))


def _score_bucc(data: RetrievalData, q: np.ndarray, c: np.ndarray, cfg: RetrievalConfig) -> Scored:
    from .metrics import bucc_candidate_scores
    from .metrics import bucc_mine as extract

    mined = bucc_mine(data, q, c, k=cfg.bucc_k, margin=cfg.bucc_margin)
    metrics = score_metrics(["bucc_f1"], mined, gold_pairs(data), threshold=cfg.bucc_threshold)
    pairs = extract(bucc_candidate_scores(mined), metrics["bucc_threshold"])
    return metrics, [s for s, _ in pairs], [t for _, t in pairs]


def _score_lareqa(data: RetrievalData, q: np.ndarray, c: np.ndarray, cfg: RetrievalConfig) -> Scored:
    name = "map" if cfg.lareqa_k is None else f"map@{cfg.lareqa_k}"
    rankings = lareqa_rankings(data, q, c, k=20 if cfg.lareqa_k is None else cfg.lareqa_k)
    return {name: lareqa_map(data, q, c, k=cfg.lareqa_k)}, list(rankings), list(rankings.values())


def _candidate_texts(task_name: str, data: RetrievalData, cfg: RetrievalConfig) -> list[str]:
    """LAReQA candidates are ``sentence + context`` as in XTREME's ``evaluate_retrieval.py``."""
    if task_name != "lareqa" or cfg.lareqa_candidate_text == "sentence" or data.candidate_contexts is None:
        return list(data.candidates)
    return [(s + ctx).replace("\n", "") for s, ctx in zip(data.candidates, data.candidate_contexts)]


def _encode(encoder: Any, texts: Sequence[str], cfg: RetrievalConfig, prefix: str, normalize: bool,
            max_length: int) -> np.ndarray:
    return encode_texts(
        encoder, texts, layer=cfg.layer, pooling=cfg.pooling, batch_size=cfg.batch_size,
        max_length=max_length, prefix=prefix, normalize=normalize,
    )  # fmt: skip


def _encode_cached(
    encoder: Any, texts: list[str], ids: Sequence[str], cfg: RetrievalConfig, normalize: bool, cache: dict | None
) -> np.ndarray:
    if cache is None:
        return _encode(encoder, texts, cfg, cfg.candidate_prefix, normalize, cfg.candidate_length)
    digest = hashlib.sha256()
    for i, t in zip(ids, texts):
        digest.update(f"{i}\x00{t}\x01".encode())
    settings = (cfg.layer, cfg.pooling, cfg.candidate_length, cfg.candidate_prefix, normalize)
    key = (id(encoder), digest.hexdigest(), settings)
    if key not in cache:
        cache[key] = _encode(encoder, texts, cfg, cfg.candidate_prefix, normalize, cfg.candidate_length)
    return cache[key]

"""TaskEmb (Vu et al. 2020; adapter reference adapter-hub/efficient-task-transfer task_selection/taskemb.py):
the empirical Fisher of a trained adapter's weights and the cosine between two of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .artifacts import adapter_dir, load_trained_adapter, read_card
from .errors import ConfigError, DataError, XtaError
from .estimates import Cost, Estimate, cosine, english_examples, sample_indices

logger = logging.getLogger(__name__)



#: Examples per backward pass: the reference's default (efficient-task-transfer ``task_selection/
#: taskemb.py`` l.286-289, ``RunArguments(batch_size=16, num_train_epochs=1)``). Fixed for every task, so
#: that all embeddings are sums over batches of the same size.
TASKEMB_BATCH_SIZE = 16


@dataclass(frozen=True)
class FisherEmbedding:
    """TaskEmb of one trained adapter: the empirical Fisher diagonal of each of its parameter tensors,
    keyed by the parameter's name with the adapter's own name replaced by ``*`` (so that two adapters
    of the same architecture have the same keys), averaged over ``n_examples``, and what it cost.
    ``n_examples`` counts the featurised items the loss ran on: one per example, except QA (one per window)
    and long tagging sentences (one per chunk), as the reference counts its input rows (taskemb.py l.273)."""

    adapter: str
    task: str
    tensors: dict[str, np.ndarray]
    n_examples: int
    cost: Cost

    @property
    def vector(self) -> np.ndarray:
        """Every tensor flattened, in sorted key order, concatenated (float64)."""
        return np.concatenate([self.tensors[k].ravel() for k in sorted(self.tensors)]).astype(np.float64)


def adapter_parameter_key(param_name: str, adapter: str) -> str | None:
    """``bert.encoder.layer.0.output.adapters.NAME.adapter_up.weight`` -> the same with ``*`` for ``NAME``;
    None for a parameter that is not one of adapter ``adapter``'s own (the encoder, other adapters, and the
    prediction heads, ``heads.NAME.*``)."""
    parts = param_name.split(".")
    if parts[0] == "heads" or adapter not in parts:
        return None
    return ".".join("*" if p == adapter else p for p in parts)


def taskemb_fisher(encoder: Any, adapter: str, examples: Sequence[Mapping[str, Any]], spec: Any, *,
                   artifacts_dir=None, n: int | None = 1000, seed: int = 0, max_length: int = 128,
                   batch_size: int = TASKEMB_BATCH_SIZE, head: str | None = None,
                   labels: Sequence[str] | None = None) -> FisherEmbedding:
    """TaskEmb (Vu et al. 2020) of trained adapter ``adapter`` on (a seeded sample of ``n`` of) its task's
    labelled English ``examples`` (featurised as ``spec``, the adapter's task), on the frozen encoder.

    Follows efficient-task-transfer ``task_selection/taskemb.py`` (TaskEmb for adapters, adapted from
    tuvuumass/task-transferability ``run_taskemb_CR.py``), with its defaults ``use_labels=True`` (l.63),
    ``feature_type='grads'`` and ``pow=2.0`` (l.59-60):

    * the model is in eval mode (no dropout, l.229); batches of ``batch_size`` examples (l.223-227), in a
      seeded random order (the reference's ``train_sampler()``);
    * per batch, the task loss *with the gold labels* (``outputs[0]``, l.247-248; the training loss of the
      task's family, a batch mean) is back-propagated (l.208-215) and each parameter's gradient is squared
      (``score = parameter.grad ** 2``, l.72-77);
    * the squares are summed over batches (l.265-270) and divided by the number of examples (l.276-278).

    Parameters: in the reference, ``base_model.named_parameters()`` that require a gradient (l.72-73). With
    the encoder frozen by ``train_adapter``, as the reference's adapter variants do before ``compute_Fisher``
    (``run_few_shot.py`` l.245-250, FS-TaskEmb; ``run_model_features.py`` l.318 and l.190-195), those are the
    adapter's own weights (:func:`adapter_parameter_key`); ``run_taskemb`` itself leaves ``train_adapter``
    commented out (l.335), so there every encoder weight's gradient is collected too, which xta, whose
    encoder is frozen, does not. Also left out, as deliberate deviations: the prediction head's parameters
    (l.111-117; its shape is the task's label count, so heads of different tasks cannot be compared) and the
    gradients of every layer's attention and layer outputs (l.78-94; they need the reference's modified
    BERT/RoBERTa that retains them).
    Gradients are taken with ``torch.autograd.grad`` (the adapter's ``.grad`` fields are not touched) and
    ``requires_grad`` of the adapter's weights is restored afterwards.
    """
    import torch

    from .families import get_family
    from .families.base import to_device

    if not examples or hasattr(examples, "queries"):
        raise ConfigError(f"TaskEmb needs labelled training examples of task {getattr(spec, 'name', '?')} "
                          "(a retrieval pool has no task loss)")
    family = get_family(spec)
    start = time.perf_counter()
    chosen = [examples[i] for i in sample_indices(len(examples), n, seed)]
    # as toolkit.train_data does: the run's label set (open-label tagging) and the family's options (QA: doc_stride)
    opts: dict[str, Any] = {"labels": list(labels) if labels else None, **family.featurize_options(spec, max_length)}
    features = family.featurize(chosen, encoder.tokenizer, spec, max_length, train=True, **opts)
    items = features.items
    if not items:
        raise DataError(f"task {spec.name}: no training features for TaskEmb")
    model = load_trained_adapter(encoder, adapter, artifacts_dir)
    head = head if head is not None else (adapter if adapter in getattr(model, "heads", {}) else None)
    params = [(adapter_parameter_key(name, adapter), p) for name, p in model.named_parameters()]
    params = [(k, p) for k, p in params if k is not None]
    if not params:
        raise ConfigError(f"adapter {adapter!r} has no parameters of its own in the model (a fusion? TaskEmb "
                          "needs a trained bottleneck adapter)")
    was = [p.requires_grad for _, p in params]
    sums = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in params}
    order = np.random.default_rng(seed).permutation(len(items))
    pad_id = features.meta.get("pad_id", 0)
    device = next(p.device for _, p in params)
    try:
        model.eval()
        for _, p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            for b in range(0, len(order), batch_size):
                batch = to_device(family.collate([items[i] for i in order[b : b + batch_size]], pad_id), device)
                loss = family.loss(model, batch, head)
                grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
                for (k, _), g in zip(params, grads):
                    if g is not None:
                        sums[k] += g.detach().double() ** 2
    finally:
        for (_, p), flag in zip(params, was):
            p.requires_grad_(flag)
        model.set_active_adapters(None)
    tensors = {k: (v / len(items)).cpu().numpy() for k, v in sums.items()}
    return FisherEmbedding(adapter, spec.name, tensors, len(items), Cost(len(items), time.perf_counter() - start))


def taskemb_similarity(a: FisherEmbedding, b: FisherEmbedding) -> float:
    """Cosine similarity of two TaskEmb vectors (Vu et al. 2020; tuvuumass/task-transferability README l.10:
    the source task embedding "most similar ... via cosine similarity"), over every tensor flattened
    and concatenated in the same key order. Adapters of different architectures (other keys or shapes)
    have no common space: refused."""
    if set(a.tensors) != set(b.tensors) or any(a.tensors[k].shape != b.tensors[k].shape for k in a.tensors):
        raise ConfigError(f"TaskEmb of adapters {a.adapter!r} and {b.adapter!r}: their parameters differ (another "
                          "adapter configuration or encoder); train both with the same adapter settings")
    return cosine(a.vector, b.vector)


def taskemb_estimates(target: str, target_embedding: FisherEmbedding,
                      candidate_embeddings: Mapping[str, FisherEmbedding],
                      skipped: dict[str, str] | None = None) -> list[Estimate]:
    """TaskEmb: score = cosine(candidate adapter's Fisher embedding, target adapter's); the cost is both
    embeddings' (the target's shared by all candidates, counted in each) plus the similarity. A candidate
    whose adapter is not comparable with the target's (:func:`taskemb_similarity`) is an error, or, with
    ``skipped``, recorded there under its name and left out."""
    out = []
    for name, emb in candidate_embeddings.items():
        start = time.perf_counter()
        try:
            score = taskemb_similarity(target_embedding, emb)
        except ConfigError as exc:
            if skipped is None:
                raise
            skipped[name] = str(exc)
            continue
        out.append(Estimate("taskemb", target, name, score,
                            target_embedding.cost + emb.cost + Cost(0, time.perf_counter() - start)))
    return out


def adapter_taskemb(encoder: Any, adapter: str, artifacts_dir, data_dir, n: int | None, seed: int,
                    cache: dict[str, tuple[Any, str]] | None = None) -> tuple[FisherEmbedding, str]:
    """TaskEmb of a trained adapter on its own task's English training data (the task its card names;
    :func:`english_examples`, training source first, as the adapter was trained), and which data that was."""
    from .tasks import get_task

    card = read_card(adapter, artifacts_dir)
    if card.get("recipe") == "fuse":
        raise ConfigError(f"{adapter!r} is a fusion; TaskEmb needs a trained bottleneck adapter")
    task = card["task"]
    cache = {} if cache is None else cache
    if task not in cache:
        cache[task] = english_examples(task, data_dir)
    examples, used = cache[task]
    info = (card.get("tasks") or {}).get(task) or {}
    spec = get_task(task)
    emb = taskemb_fisher(encoder, adapter, examples, spec, artifacts_dir=artifacts_dir, n=n, seed=seed,
                         head=info.get("head"), labels=info.get("labels"))
    return emb, used


def adapter_fisher_embedding(encoder: Any, adapter: str, artifacts_dir, data_dir, n: int, seed: int,
                             cache: dict[str, tuple[Any, str]]) -> FisherEmbedding:
    """The TaskEmb Fisher embedding of the trained adapter ``adapter`` (:func:`adapter_taskemb`); a missing
    adapter is a ConfigError."""
    if not adapter_dir(adapter, artifacts_dir).is_dir():
        raise ConfigError(f"no trained adapter {adapter!r} for TaskEmb (xta train-adapter, or run xta matrix)")
    return adapter_taskemb(encoder, adapter, artifacts_dir, data_dir, n, seed, cache)[0]


def candidate_taskemb_estimates(target: str, candidates: Sequence[str], encoder: Any, data_dir, artifacts_dir, n: int,
                                seed: int, skipped: dict[str, str], cache: dict[str, tuple[Any, str]]) -> list[Estimate]:
    """TaskEmb of each candidate's trained adapter (named like the candidate) against the target's trained
    adapter (named like the target); a missing target adapter is an error, a missing candidate's skipped."""
    if encoder is None:
        raise ConfigError("taskemb needs the encoder")
    target_emb = adapter_fisher_embedding(encoder, target, artifacts_dir, data_dir, n, seed, cache)
    embs = {}
    for cand in candidates:
        try:
            embs[cand] = adapter_fisher_embedding(encoder, cand, artifacts_dir, data_dir, n, seed, cache)
        except XtaError as exc:
            skipped[cand] = str(exc)
    return taskemb_estimates(target, target_emb, embs, skipped=skipped)

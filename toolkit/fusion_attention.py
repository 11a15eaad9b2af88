"""AdapterFusion attention (Pfeiffer et al. 2021, fig. 5): which adapter a trained fusion weighs, per
layer, averaged over the tokens of some sentences, and per language of a task (``xta fusion-attention``).
Split out of :mod:`toolkit.lang_adapters`, which re-exports it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .artifacts import activate_setup
from .errors import ConfigError, DataError, SetupError
from .io import atomic_write_json


def fusion_attention(encoder, setup, examples, *, spec=None, artifacts_dir: str | os.PathLike | None = None,
                     fusion: str | None = None, max_length: int = 128, batch_size: int = 32) -> dict[int, dict[str, float]]:
    """Mean AdapterFusion attention per layer: ``{layer: {adapter: weight}}``, each layer's weights
    summing to 1 over the fused adapters.

    ``setup``: a resolved setup with a fuse (``fuse:mnli,squad_v1>xnli_fusion``), its pieces loaded from
    ``artifacts_dir``; ``fusion``: which fuse's target when there are several (default: the first).
    ``examples``: sentences (str), or a task's normalised examples with ``spec`` (featurised by the
    task's family; every choice of a multiple-choice item counts). The weights are averaged over all
    non-padding tokens (a token-weighted mean, one softmax per token in the paper's fig. 5). A layer with
    the fusion at several places (``double_seq_bn``) averages them.
    """
    from .setups import last_name, parse_setup

    setup = parse_setup(setup)
    blocks = setup.fusions()
    if not blocks:
        raise SetupError(f"setup {str(setup)!r} has no fuse block: no fusion attention to report")
    block = next((b for b in blocks if b.target == fusion), None) if fusion else blocks[0]
    if block is None:
        raise SetupError(f"setup {str(setup)!r} has no fuse with target {fusion!r}")
    names = [last_name(c) for c in block.children]
    model, _ = activate_setup(encoder, setup, artifacts_dir)
    sums: dict[int, torch.Tensor] = {}
    tokens = 0
    for ids, mask in _attention_batches(examples, spec, encoder.tokenizer, max_length, batch_size):
        per_layer = _batch_attention(model, ids, mask, block.fusion_name)
        valid = mask.bool()
        for layer, probs in per_layer.items():
            sums[layer] = sums.get(layer, torch.zeros(len(names), dtype=torch.float64)) + probs[valid].sum(0)
        tokens += int(valid.sum())
    if not tokens:
        raise DataError("no examples to compute fusion attention on")
    return {layer: {n: float(v) for n, v in zip(names, total / tokens)} for layer, total in sorted(sums.items())}


def _attention_batches(examples, spec, tokenizer, max_length: int, batch_size: int):
    from .families.base import encode_inputs

    seqs = _sequences(examples, spec, tokenizer, max_length)
    for start in range(0, len(seqs), batch_size):
        batch = encode_inputs([{"input_ids": s} for s in seqs[start : start + batch_size]], tokenizer.pad_token_id)
        yield batch["input_ids"], batch["attention_mask"]


def _sequences(examples, spec, tokenizer, max_length: int) -> list[list[int]]:
    examples = list(examples)
    if all(isinstance(e, str) for e in examples):
        return tokenizer(examples, truncation=True, max_length=max_length)["input_ids"]
    if spec is None:
        raise ConfigError("fusion_attention: task examples need the task's spec (spec=get_task(name))")
    from .families import get_family

    features = get_family(spec).featurize(examples, tokenizer, spec, max_length)
    out = []
    for item in features.items:
        ids = item["input_ids"]
        out.extend(ids if ids and isinstance(ids[0], (list, tuple)) else [ids])
    return out


def _batch_attention(model, ids: torch.Tensor, mask: torch.Tensor, fusion_name: str) -> dict[int, torch.Tensor]:
    """``{layer: (batch, tokens, n_adapters)}`` fusion softmax weights of one forward pass."""
    from adapters.context import ForwardContext

    def base(m, input_ids, attention_mask):
        return m.base_model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)

    device = next(model.parameters()).device
    with torch.inference_mode():
        # a ModelOutput; Any: pyright infers a tuple from the untyped ForwardContext.wrap of the adapters library
        out: Any = ForwardContext.wrap(base)(model, input_ids=ids.to(device), attention_mask=mask.to(device),
                                             output_adapter_fusion_attentions=True)
    cache = out["adapter_fusion_attentions"].get(fusion_name, {})
    result = {}
    for layer, places in cache.items():
        arrays = [torch.as_tensor(a, dtype=torch.float64).reshape(ids.shape[0], ids.shape[1], -1) for a in places.values()]
        result[int(layer)] = sum(arrays) / len(arrays)
    return result


def fusion_attention_by_language(encoder, setup: str, task: str, langs: Sequence[str], *, split: str = "test",
                                 data_dir: str | os.PathLike | None = None, artifacts_dir: str | os.PathLike | None = None,
                                 max_examples: int | None = 200, max_length: int = 128,
                                 batch_size: int = 32) -> dict[str, dict[int, dict[str, float]]]:
    """:func:`fusion_attention` on ``task``'s ``split`` per language (``{lang}`` in the setup resolved
    per language): ``{lang: {layer: {adapter: weight}}}``."""
    from .data import load
    from .setups import parse_setup
    from .tasks import get_task

    spec = get_task(task)
    parsed = parse_setup(setup)
    out = {}
    for lang in langs:
        examples = load(spec, split, lang, data_dir=data_dir, max_examples=max_examples)
        out[lang] = fusion_attention(encoder, parsed.resolve(lang), examples, spec=spec, artifacts_dir=artifacts_dir,
                                     max_length=max_length, batch_size=batch_size)
    return out


def write_fusion_attention(result: dict[str, dict[int, dict[str, float]]], path: str | os.PathLike) -> Path:
    """JSON ``{lang: {layer: {adapter: weight}}}`` (layer keys as strings), written atomically."""
    payload = {lang: {str(layer): weights for layer, weights in layers.items()} for lang, layers in result.items()}
    return atomic_write_json(Path(path), payload)

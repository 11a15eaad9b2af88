"""Masked language modelling, shared by MAD-X language adapters (:mod:`toolkit.lang_adapters`) and the
masked-LM loss mixed into task-adapter training (``--mlm-text``, :mod:`toolkit.train_data`,
:mod:`toolkit.train`): reading plain text, BERT masking, padding a batch, the MLM head (the encoder
checkpoint's pre-trained one, or a new one, its decoder tied to the frozen word embeddings) and the loss
at the masked positions.

Masked LM (Devlin et al. 2019, sec. 3.1; ``transformers.DataCollatorForLanguageModeling``): 15% of the
non-special tokens are chosen; of those 80% become ``<mask>``, 10% a random token, 10% stay. Logits are
computed only at masked positions (a 250k vocabulary over every token of a batch would not fit in memory).
The head and its MAD-X treatment (pre-trained head frozen, Pfeiffer et al. 2020, sec. 3.2) are described in
:mod:`toolkit.lang_adapters`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import DataError, SetupError

MLM_HEAD = "xta_mlm"  # the temporary head's name while a language adapter (or an --mlm-text loss) trains
IGNORE = -100


def read_sentences(path: str | os.PathLike, max_sentences: int | None = None) -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file (one sentence per line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("text file not found (one sentence per line, UTF-8)", path)
    out = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 ({exc.reason} at byte {exc.start})", path, number) from None
            if line:
                out.append(line)
            if max_sentences is not None and len(out) >= max_sentences:
                break
    if not out:
        raise DataError("no sentences (the file is empty or blank)", path)
    return out


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: ``(inputs, labels)``; labels are -100 except at the chosen positions.

    ``special`` marks positions never chosen (special tokens, padding). Of the chosen ones 80% become
    ``mask_id``, 10% a random token id, 10% keep their token (Devlin et al. 2019, sec. 3.1). At least one
    position is chosen per batch (the first non-special one when the draw picked none), so the loss is
    always defined.
    """
    probs = torch.full(input_ids.shape, probability)
    probs[special] = 0.0
    chosen = torch.bernoulli(probs, generator=generator).bool()
    if not chosen.any():
        candidates = (~special).nonzero()
        if len(candidates) == 0:
            raise DataError("a batch without any maskable token (only special tokens)")
        chosen[tuple(candidates[0])] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    inputs = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & chosen
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, input_ids.shape, generator=generator)[to_random]
    return inputs, labels


def pad_mlm_batch(seqs: Sequence[Sequence[int]], tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from .families.base import pad

    pad_id = tokenizer.pad_token_id
    ids = pad(seqs, pad_id)
    attention = pad([[1] * len(s) for s in seqs], 0)
    special = torch.isin(ids, torch.tensor(sorted(set(tokenizer.all_special_ids)))) | (attention == 0)
    return ids, attention, special


#: the pre-trained MLM head's tensors in a checkpoint -> the adapters MLM head's parameters
#: (transformers' XLMRobertaLMHead: dense, layer_norm, bias; BertLMPredictionHead: transform.dense,
#: transform.LayerNorm, bias)
PRETRAINED_HEAD_KEYS = {
    "xlm-roberta": {"lm_head.dense.weight": "0.weight", "lm_head.dense.bias": "0.bias",
                    "lm_head.layer_norm.weight": "2.weight", "lm_head.layer_norm.bias": "2.bias",
                    "lm_head.bias": "3.bias"},
    "bert": {"cls.predictions.transform.dense.weight": "0.weight", "cls.predictions.transform.dense.bias": "0.bias",
             "cls.predictions.transform.LayerNorm.weight": "2.weight",
             "cls.predictions.transform.LayerNorm.bias": "2.bias", "cls.predictions.bias": "3.bias"},
}


def pretrained_mlm_head(encoder) -> tuple[dict[str, torch.Tensor], str] | None:
    """The encoder checkpoint's own MLM head as ``({head parameter: tensor}, where)``, or None when the
    checkpoint has none (the embedded encoder, a bare ``BertModel``/``XLMRobertaModel`` save)."""
    from safetensors import safe_open

    path = getattr(encoder, "path", None)
    if path is None or not Path(path).is_dir():
        return None
    for file in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            keys = set(fh.keys())
            for mapping in PRETRAINED_HEAD_KEYS.values():
                if all(k in keys for k in mapping):
                    return {mapping[k]: fh.get_tensor(k) for k in mapping}, f"{file.name} ({', '.join(sorted(mapping))})"
    return None


def tie_mlm_head(model, pretrained: dict[str, torch.Tensor] | None = None) -> None:
    """The ``MLM_HEAD`` already added to ``model``: decoder tied to the frozen word embeddings; with
    ``pretrained`` it holds the checkpoint's head weights, frozen, else its other parameters train (also
    used by :mod:`toolkit.train` for the masked-LM loss mixed into intermediate training, issue 21)."""
    head = model.heads[MLM_HEAD]
    decoder = head.get_output_embeddings()
    decoder.weight = model.get_input_embeddings().weight  # tied: the frozen word embeddings
    params = dict(head.named_parameters())
    if pretrained is not None:
        with torch.no_grad():
            for name, tensor in pretrained.items():
                if params[name].shape != tensor.shape:
                    raise SetupError(f"the checkpoint's MLM head {name} has shape {tuple(tensor.shape)}, "
                                     f"the encoder needs {tuple(params[name].shape)}")
                params[name].copy_(tensor)
        head[2].eps = float(getattr(model.config, "layer_norm_eps", head[2].eps))  # the checkpoint's LayerNorm
    for n, p in head.named_parameters():
        p.requires_grad_(pretrained is None and p is not decoder.weight)


def mlm_forward(model, ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and correct predictions at the masked positions only (the head's own forward would
    compute logits for every token). The invertible adapter runs inverted before the tied decoder, as
    the adapters library's LM heads do."""
    from adapters.context import ForwardContext

    def base(m, input_ids, attention_mask):
        return m.base_model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)

    # a ModelOutput; Any: pyright infers a tuple from the untyped ForwardContext.wrap of the adapters library
    output: Any = ForwardContext.wrap(base)(model, input_ids=ids, attention_mask=attention)
    hidden = output.last_hidden_state
    selected = labels != IGNORE
    h = hidden[selected]
    head = model.heads[MLM_HEAD]
    for i in range(len(head) - 1):
        h = head[i](h)
    inv = model.base_model.get_invertible_adapter()
    if inv is not None:
        h = inv(h.unsqueeze(0), rev=True).squeeze(0)
    logits = head[len(head) - 1](h)
    gold = labels[selected]
    return torch.nn.functional.cross_entropy(logits, gold), (logits.argmax(-1) == gold).sum()

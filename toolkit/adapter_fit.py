"""Whether a saved adapter fits an encoder (model type, hidden size, layers, heads) before the adapters library
reads it, and the layout names of a saved adapter folder that :mod:`toolkit.hub` and the model card share."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import HEADS_DIR
from .errors import DataError, EncoderError, SetupError
from .io import safetensors_header





INTERMEDIATE_DIR = "adapters"


_LAYER = re.compile(r"\.layer\.([0-9]{1,9})\.")


@dataclass(frozen=True)
class EncoderShape:
    """What an adapter must match in an encoder (read from its config; nothing loaded)."""

    name: str
    model_type: str
    hidden_size: int
    num_layers: int
    fingerprint: str | None = None


def encoder_shape(encoder) -> EncoderShape:
    """From a loaded :class:`toolkit.encoders.Encoder`, or a name/path (its config.json only)."""
    if isinstance(encoder, EncoderShape):
        return encoder
    if hasattr(encoder, "model"):
        return EncoderShape(encoder.name, encoder.config.model_type, encoder.hidden_size, encoder.num_layers,
                            encoder.fingerprint)
    from .encoders import resolve_encoder

    _, path = resolve_encoder(str(encoder))
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return EncoderShape(str(encoder), str(cfg["model_type"]), int(cfg["hidden_size"]), int(cfg["num_hidden_layers"]))
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise EncoderError(f"{path / 'config.json'}: not a usable encoder config ({type(exc).__name__}: "
                           f"{str(exc)[:120]})") from None


def read_adapter_config(path: Path) -> dict[str, Any]:
    """An adapters-library config file, parsed and checked against :data:`toolkit.schemas.ADAPTER_CONFIG`."""
    from .schemas import ADAPTER_CONFIG, check, parse_json

    try:
        data = parse_json(path.read_bytes(), path, "adapter config")
        if not isinstance(data, dict):
            raise SetupError(f"{path}: expected a JSON object")
        return check(data, ADAPTER_CONFIG, path, "adapter config")
    except OSError as exc:
        raise SetupError(f"{path}: unreadable JSON ({exc.strerror or exc})") from None
    except DataError as exc:
        raise SetupError(str(exc)) from None


def card_encoder_shape(card: Mapping[str, Any], repo_id: str) -> EncoderShape:
    enc = (card.get("encoder") or {}).get("name")
    if not enc:
        raise EncoderError(f"{repo_id} does not say which encoder it was trained on; pass encoder= (xta pull --model)")
    try:
        return encoder_shape(enc)
    except EncoderError as exc:
        raise EncoderError(f"{repo_id} was trained on encoder {enc!r}, which is not available here ({exc}); "
                           "pass the encoder to check it against (xta pull --model)") from None


def _config_files(src: Path) -> list[Path]:
    """The adapters-library config files of one adapter directory (head subfolders included)."""
    names = ("adapter_config.json", "adapter_fusion_config.json", "head_config.json")
    found = [src / n for n in names if (src / n).is_file()]
    return found + sorted((src / HEADS_DIR).glob("*/head_config.json"))


def check_fits(src: Path, shape: EncoderShape, where: str = "") -> None:
    """Raise :class:`EncoderError` unless every config and weights file in ``src`` fits ``shape``:
    model type and hidden size as the adapters library records them, and the transformer layers the
    weights cover (all of ``range(num_layers)`` except the config's ``leave_out``). Reads JSON and
    safetensors headers only; nothing is loaded."""
    where = where or str(src)
    configs = _config_files(src)
    if not configs:
        raise SetupError(f"{where}: no adapter_config.json / adapter_fusion_config.json found")
    for path in configs:
        cfg = read_adapter_config(path)
        _match(where, path.name, "model type", cfg.get("model_type"), shape.model_type, shape)
        _match(where, path.name, "hidden size", cfg.get("hidden_size"), shape.hidden_size, shape)
    leave_out = _leave_out(src)
    for weights in sorted(src.glob("*.safetensors")):
        _check_layers(where, weights, shape, leave_out)
    for weights in sorted(src.glob(f"{HEADS_DIR}/*/*.safetensors")):
        safetensors_header(weights)


def _leave_out(src: Path) -> set[int]:
    """Layers the adapter config leaves out (adapters' ``leave_out``): they have no weights."""
    path = src / "adapter_config.json"
    config = read_adapter_config(path).get("config") if path.is_file() else None
    return set((config.get("leave_out") or []) if isinstance(config, dict) else [])


def _match(where: str, file: str, what: str, found: Any, want: Any, shape: EncoderShape) -> None:
    if found is not None and found != want:
        raise EncoderError(f"{where} does not fit encoder {shape.name}: {what} {found} in {file}, the encoder has "
                           f"{want}; pull it for the encoder it was trained on (xta pull --model)")


def _check_layers(where: str, weights: Path, shape: EncoderShape, leave_out: set[int]) -> None:
    header = safetensors_header(weights)
    layers = {int(m.group(1)) for key in header if (m := _LAYER.search(key))}
    if not layers or weights.name == "model_head.safetensors":
        return
    expected = set(range(shape.num_layers)) - leave_out
    if max(layers) >= shape.num_layers or (weights.name == "adapter.safetensors" and layers != expected):
        raise EncoderError(f"{where} does not fit encoder {shape.name}: {weights.name} has weights for layers "
                           f"{min(layers)}..{max(layers)} ({len(layers)} layers), the encoder has {shape.num_layers}; "
                           "pull it for the encoder it was trained on (xta pull --model)")

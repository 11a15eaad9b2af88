"""The adapter store (issue 19): where trained adapters live and what is known about them, as
:mod:`toolkit.results` is the store of scores.

* Layout and names: ``<artifacts>/adapters/<name>/`` (weights, heads, ``xta_card.json``, the training log)
  and ``<artifacts>/checkpoints/<name>/``; ``$XTA_HOME/artifacts`` or ``./xta_runs/artifacts``.
* Cards and weight hashes: :func:`read_card` (checked against :data:`toolkit.schemas.CARD`),
  :func:`adapter_weights_hash` (what a result depends on).
* Setups: :func:`setup_artifacts` finds and checks every trained piece a setup needs (torch-free), and
  :func:`activate_setup` / :func:`load_trained_adapter` load them into an encoder's model and activate the
  composition (these import torch and ``adapters`` when called, the rest of the module never does).

Whether an adapter fits an encoder is :mod:`toolkit.adapter_fit`; pushing and pulling is :mod:`toolkit.hub`;
training is :mod:`toolkit.train`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import DataError, SetupError, XtaError
from .io import safe_name, sha256_file
from .schemas import CARD, check, parse_json
from .setups import AdapterName, last_name, parse_setup

CARD_NAME = "xta_card.json"
HEADS_DIR = "heads"


# --------------------------------------------------------------------------------------------------
# layout, cards and weight hashes (torch-free)
# --------------------------------------------------------------------------------------------------


def default_artifacts_dir() -> Path:
    """``$XTA_HOME/artifacts`` if XTA_HOME is set, else ``./xta_runs/artifacts`` (beside the results store)."""
    home = os.environ.get("XTA_HOME")
    return Path(home) / "artifacts" if home else Path("xta_runs") / "artifacts"


def adapters_root(artifacts_dir: str | os.PathLike | None = None) -> Path:
    """``<artifacts>/adapters``: one folder per trained, registered or pulled adapter."""
    return (Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()) / "adapters"


def adapter_dir(name: str, artifacts_dir: str | os.PathLike | None = None) -> Path:
    """``<artifacts>/adapters/<name>``: where a trained adapter (or fusion) and its card live."""
    return adapters_root(artifacts_dir) / safe_name(name, "adapter")


def encoder_slug(model: str) -> str:
    """A short adapter-name-safe label of an encoder: ``FacebookAI/xlm-roberta-large`` -> ``xlm_roberta_large``
    (the suffix of ``--setup auto``'s ``<task>__<encoder>`` adapter names, :func:`toolkit.evaluate.auto_adapter_name`)."""
    base = Path(str(model).rstrip("/")).name or str(model)
    return (re.sub(r"[^A-Za-z0-9]+", "_", base).strip("_").lower() or "encoder")[:40]


def checkpoint_dir(name: str, artifacts_dir: str | os.PathLike | None = None) -> Path:
    root = Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()
    return root / "checkpoints" / safe_name(name, "adapter")


def saved_dir(name: str, artifacts_dir: Path) -> Path:
    path = adapter_dir(name, artifacts_dir)
    if not (path / CARD_NAME).is_file():
        how = (f"xta train-lang-adapter --lang {name[5:]} --text FILE, or xta pull REPO --name {name}"
               if name.startswith("lang_") else "xta train-adapter")
        raise SetupError(f"no trained adapter {name!r} under {path.parent}; train it first ({how})")
    return path


def adapter_weights_hash(name: str, artifacts_dir: str | os.PathLike | None = None) -> str:
    """``sha256:<hex>`` over a trained adapter's safetensors files (weights and heads, by relative path):
    the fact a result depends on, so retraining an adapter makes stored results stale."""
    path = saved_dir(name, Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir())
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*.safetensors")):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return "sha256:" + digest.hexdigest()


def read_card(name: str, artifacts_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """A trained adapter's ``xta_card.json``; SetupError naming the file when it is cut or not JSON."""
    path = saved_dir(name, Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()) / CARD_NAME
    return read_card_file(path)


def read_card_file(path: Path) -> dict[str, Any]:
    """An ``xta_card.json`` parsed and checked against :data:`toolkit.schemas.CARD` (types at every level,
    intermediate names safe as folder names); SetupError naming the file and field otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SetupError(f"{path}: unreadable xta card ({exc.strerror or exc}); retrain or re-pull the adapter") from None
    try:
        card = parse_json(raw, path, "xta card")
        if not isinstance(card, dict):
            raise SetupError(f"{path}: an xta card must be a JSON object")
        check(card, CARD, path, "xta card")
        for inter in card.get("intermediate") or []:
            safe_name(inter, "intermediate adapter")
    except DataError as exc:
        reason = str(exc).removeprefix(f"{path}: ").removeprefix("unreadable xta card: ")
        raise SetupError(f"{path}: unreadable xta card ({reason}); retrain or re-pull the adapter") from None
    except XtaError as exc:
        if isinstance(exc, SetupError):
            raise
        raise SetupError(f"{path}: unreadable xta card ({exc}); retrain or re-pull the adapter") from None
    return card


def setup_artifacts(setup, artifacts_dir: str | os.PathLike | None = None) -> list[str]:
    """Every trained artifact a resolved setup needs, checked: its adapters, the trained fusion named by
    each fuse's ``>X`` and, for a setup that is one stacked or fused adapter's name, the adapters its
    card lists. Their weights' hashes identify a result (a retrained fusion makes results stale).

    Refused with a one-line :class:`SetupError`: a ``{lang}`` left unresolved, a fuse without ``>X``,
    a fuse target that is no trained fusion or fuses other adapters than the setup says, a fusion's
    name used where an adapter is expected.
    """
    setup = parse_setup(setup)
    if setup.root is None:
        return []
    if setup.has_placeholder:
        raise SetupError(f"setup {str(setup)!r} still contains {{lang}}; resolve it for a language first")
    artifacts = Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()
    if isinstance(setup.root, AdapterName):
        return _with_intermediates(setup.root.name, artifacts)
    names = list(setup.adapter_names())
    for name in names:
        _refuse_fusion_as_adapter(name, setup, artifacts)
    for block in setup.fusions():
        names.append(_check_fusion(block, setup, artifacts))
    return list(dict.fromkeys(names))


def _with_intermediates(name: str, artifacts: Path) -> list[str]:
    out = [name]
    for inter in read_card(name, artifacts).get("intermediate") or []:
        out.extend(n for n in _with_intermediates(inter, artifacts) if n not in out)
    return out


def _refuse_fusion_as_adapter(name: str, setup, artifacts: Path) -> None:
    card = read_card(name, artifacts)
    if card.get("recipe") == "fuse":
        inters = ",".join(card.get("intermediate") or [])
        raise SetupError(f"setup {str(setup)!r}: {name!r} is a trained fusion, not an adapter; "
                         f"write it as fuse({inters})>{name}")


def _check_fusion(block, setup, artifacts: Path) -> str:
    """The trained fusion ``X`` of ``fuse(...)>X``: present, a fusion, over the setup's adapters."""
    fused = [last_name(c) for c in block.children]
    if not block.target:
        raise SetupError(f"setup {str(setup)!r}: fuse({','.join(fused)}) names no trained fusion; add >NAME, the name "
                         f"given to `xta fuse --tasks {','.join(fused)} --target TASK --name NAME`")
    path = adapter_dir(block.target, artifacts)
    if not (path / CARD_NAME).is_file():
        raise SetupError(f"setup {str(setup)!r}: no trained fusion {block.target!r} under {path.parent}; train it: "
                         f"xta fuse --tasks {','.join(fused)} --target TASK --name {block.target}")
    card = read_card(block.target, artifacts)
    if card.get("recipe") != "fuse":
        raise SetupError(f"setup {str(setup)!r}: {block.target!r} is an adapter (recipe {card.get('recipe')!r}), not a "
                         "trained fusion; the name after '>' is the fusion's (xta fuse --name)")
    trained = list(card.get("intermediate") or [])
    if sorted(trained) != sorted(fused):
        raise SetupError(f"setup {str(setup)!r}: fusion {block.target!r} was trained over {','.join(trained)}, "
                         f"not {','.join(fused)}; write fuse:{','.join(trained)}>{block.target}")
    return block.target


# --------------------------------------------------------------------------------------------------
# loading into a model: trained pieces -> one active adapters composition (imports torch when called)
# --------------------------------------------------------------------------------------------------


def fusion_block(intermediate: Sequence[str], name: str):
    """``Fuse(*intermediate, name=name)``: a fusion layer keyed by the name it was trained under (the
    ``X`` of the setup ``fuse:a,b>X``, also its head's name), not by the adapters' joined names, so two
    fusions over the same adapters for different targets can live side by side."""
    from adapters.composition import Fuse

    return Fuse(*intermediate, name=name)  # pyright: ignore[reportArgumentType]  (adapters annotates each *args item as a list)


def load_saved(model, name: str, artifacts_dir: Path, with_head: bool) -> str:
    return model.load_adapter(str(saved_dir(name, artifacts_dir)), load_as=name, with_head=with_head, use_safetensors=True)


def load_trained_adapter(encoder, name: str, artifacts_dir: str | os.PathLike | None = None, *, activate: bool = True):
    """Load a trained adapter by name (its head(s), and for ``stack``/``fuse`` its intermediate
    adapters) into the encoder's flex-head model; returns that model with the setup active.

    Loading is idempotent: pieces already loaded under the same names are reused.
    """
    from adapters.composition import Stack

    from .families.base import adapter_model, place

    artifacts = Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()
    card = read_card(name, artifacts)
    model = adapter_model(encoder)
    path = saved_dir(name, artifacts)
    for piece in (*card.get("intermediate", []), name):
        _forget_if_stale(model, piece, artifacts)
    loaded = model.adapters_config.adapters
    for piece in (*card.get("intermediate", []), name):
        if piece not in loaded and piece not in model.adapters_config.fusions:
            refuse_non_finite(saved_dir(piece, artifacts))
    with _library_errors(path):  # malformed-but-parseable configs: one SetupError naming the folder
        for inter in card.get("intermediate", []):
            if inter not in loaded:
                load_saved(model, inter, artifacts, with_head=False)
        if card["recipe"] == "fuse":
            setup = fusion_block(card["intermediate"], name)
            if name not in model.adapters_config.fusions:
                model.load_adapter_fusion(str(path), load_as=name, with_head=True, use_safetensors=True, set_active=False)
        else:
            if name not in loaded:
                model.load_adapter(str(path), load_as=name, with_head=True, use_safetensors=True)
            setup = Stack(*card["intermediate"], name) if card["recipe"] == "stack" else name  # pyright: ignore[reportArgumentType]  (adapters annotates each *args item as a list)
        heads_dir = path / HEADS_DIR
        for sub in sorted(heads_dir.iterdir()) if heads_dir.is_dir() else []:
            if sub.name not in model.heads:
                model.load_head(str(sub), load_as=sub.name, use_safetensors=True)
    for piece in (*card.get("intermediate", []), name):
        loaded_sources(model)[piece] = _source(piece, artifacts)
    place(model, encoder)
    if activate:
        model.set_active_adapters(setup)
        if name in model.heads:
            model.active_head = name
    model.eval()
    return model


@contextlib.contextmanager
def _library_errors(path: Path):
    """Turn what the adapters library raises on a malformed saved adapter (a config of the right JSON types
    but values it cannot use: unknown architecture, wrong head type, missing keys) into a SetupError
    naming the folder (issue 18); xta's own errors pass unchanged."""
    try:
        yield
    except XtaError:
        raise
    except Exception as exc:  # noqa: BLE001 - a third-party loader fed an untrusted config (AssertionError, ...)
        raise SetupError(f"{path}: the adapters library cannot load this adapter ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); retrain or re-pull it") from None


def refuse_non_finite(path: Path) -> None:
    """Refuse an adapter whose saved weights hold inf or NaN (a diverged run, a corrupted or hostile
    file): it would score a plausible-looking number (issue 18). Reads every safetensors file under
    ``path`` (adapters are small) before anything is loaded into the model."""
    import torch
    from safetensors import SafetensorError, safe_open

    from .io import safetensors_header

    for file in sorted(path.rglob("*.safetensors")):
        stat = file.stat()
        seen = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        if seen in _FINITE_FILES:  # evaluation checks before loading, loading checks again: read once
            continue
        safetensors_header(file)  # a pickle under a safetensors name, a truncated file: refused unread
        try:
            with safe_open(str(file), framework="pt") as fh:
                for key in fh.keys():
                    tensor = fh.get_tensor(key)
                    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                        raise SetupError(f"{file}: weight {key!r} holds inf or NaN values; the adapter is refused "
                                         "(retrain it, e.g. with a lower learning rate)")
        except SafetensorError as exc:
            raise SetupError(f"{file}: unreadable safetensors file ({exc})") from None
        _FINITE_FILES.add(seen)


#: safetensors files found finite, by (resolved path, size, mtime): a rewritten file is read again
_FINITE_FILES: set[tuple[str, int, int]] = set()


def loaded_sources(model) -> dict[str, str]:
    """Which trained weights each adapter loaded into this (process-wide, cached) model came from."""
    return model.__dict__.setdefault("_xta_sources", {})


def _source(name: str, artifacts: Path) -> str:
    return f"{saved_dir(name, artifacts).resolve()}#{adapter_weights_hash(name, artifacts)}"


def _forget_if_stale(model, name: str, artifacts: Path) -> None:
    """Unload ``name`` if the loaded copy came from other weights (another artifacts directory, or the
    adapter was retrained since): loading by name must never silently reuse old weights."""
    if loaded_sources(model).get(name) != _source(name, artifacts):
        evict(model, name)


def evict(model, name: str) -> None:
    """Remove an adapter, fusion and head called ``name`` from the model, if present."""
    if name in model.adapters_config.fusions:
        model.delete_adapter_fusion(name)
    for fusion in [f for f in model.adapters_config.fusions if name in model.adapters_config.get_fusion(f)[1]]:
        model.delete_adapter_fusion(fusion)
    if name in model.adapters_config.adapters:
        model.delete_adapter(name)
    if name in getattr(model, "heads", {}):
        model.delete_head(name)
    loaded_sources(model).pop(name, None)


def activate_setup(encoder, setup, artifacts_dir: str | os.PathLike | None = None):
    """The encoder's flex-head model with a resolved setup active: every adapter loaded by name, each
    fuse's trained fusion layer and head loaded (``fuse:a,b>X`` -> ``Fuse("a", "b", name="X")``, head
    ``X``), the composition validated by the adapters library. A setup that is one trained stacked or
    fused adapter's name activates the composition it was trained in (``Stack(lang_en, xnli)``).
    Returns ``(model, head)``, the head to predict with."""
    from .families.base import adapter_model, place

    setup = parse_setup(setup)
    model = adapter_model(encoder)
    names = setup_artifacts(setup, artifacts_dir)
    if setup.root is None:
        model.set_active_adapters(None)
        return model, None
    if isinstance(setup.root, AdapterName):
        return load_trained_adapter(encoder, setup.root.name, artifacts_dir, activate=True), setup.head
    for name in names:
        load_trained_adapter(encoder, name, artifacts_dir, activate=False)
    model.set_active_adapters(setup.to_composition())
    place(model, encoder)
    model.eval()
    return model, setup.head

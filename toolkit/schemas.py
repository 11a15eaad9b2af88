"""Shapes of the JSON files xta reads back, checked at the boundary (issue 18).

Every JSON artifact is parsed by :func:`load_json` (any read or parse failure, nesting too deep for the
parser, NUL or lone surrogates in a string -> :class:`~toolkit.errors.DataError` naming the file) and then
checked against the schema of its kind with :func:`check`, which names the file and the field
(``languages.de.metrics.f1: expected a number, got str``). After that the code that uses the value may
index it without guarding against wrong types or lengths at any level. Schemas list the fields xta
reads; other keys pass (files written by newer or older versions keep working), and optional fields may
be absent or ``null`` where the writer writes ``null``.

Schemas here: :data:`RECORD` (a results-store record), :data:`PREDICTIONS` (stored predictions),
:data:`CARD` (``xta_card.json``), :data:`ADAPTER_CONFIG` (the adapters library's ``adapter_config.json`` /
``head_config.json`` / ``adapter_fusion_config.json``, the fields xta and the loader rely on) and
:data:`SAFETENSORS_HEADER` (the JSON header of a safetensors file). The data-file readers of
:mod:`toolkit.data` check their formats field by field as they read, with file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import DataError

__all__ = ["load_json", "parse_json", "check", "RECORD", "LANG_ENTRY", "PREDICTIONS", "CARD", "ADAPTER_CONFIG",
           "SAFETENSORS_HEADER", "Schema"]

#: A schema is a function (value, field path) -> None that raises _Mismatch.
Schema = Callable[[Any, str], None]


class _Mismatch(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}" if where else message)


def _name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _at(where: str, key: Any) -> str:
    key = str(key)[:60]
    return f"{where}.{key}" if where else key


# --------------------------------------------------------------------------------------------- atoms


def Str(value: Any, where: str) -> None:  # noqa: N802 - schema constructors read like types
    if not isinstance(value, str):
        raise _Mismatch(where, f"expected a string, got {_name(value)}")


def Int(value: Any, where: str) -> None:  # noqa: N802
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Mismatch(where, f"expected an integer, got {_name(value)}")


def NonNegInt(value: Any, where: str) -> None:  # noqa: N802
    Int(value, where)
    if value < 0:
        raise _Mismatch(where, f"expected a non-negative integer, got {value}")


def Num(value: Any, where: str) -> None:  # noqa: N802
    """An int or float (not bool); NaN is allowed (a metric may be undefined), see :func:`Finite`."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Mismatch(where, f"expected a number, got {_name(value)}")


def Finite(value: Any, where: str) -> None:  # noqa: N802
    Num(value, where)
    if not math.isfinite(value):
        raise _Mismatch(where, f"expected a finite number, got {value}")


def Bool(value: Any, where: str) -> None:  # noqa: N802
    if not isinstance(value, bool):
        raise _Mismatch(where, f"expected true or false, got {_name(value)}")


def Anything(value: Any, where: str) -> None:  # noqa: N802
    return None


def Opt(schema: Schema) -> Schema:  # noqa: N802
    def check_opt(value: Any, where: str) -> None:
        if value is not None:
            schema(value, where)

    return check_opt


def OneOf(*choices: Any) -> Schema:  # noqa: N802
    def check_one(value: Any, where: str) -> None:
        if not isinstance(value, (str, int, float, bool, type(None))) or value not in choices:
            raise _Mismatch(where, f"expected one of {', '.join(map(repr, choices))}, got {str(value)[:40]!r}")

    return check_one


def Either(*schemas: Schema, what: str) -> Schema:  # noqa: N802
    def check_either(value: Any, where: str) -> None:
        for schema in schemas:
            try:
                schema(value, where)
                return
            except _Mismatch:
                continue
        raise _Mismatch(where, f"expected {what}, got {_name(value)}")

    return check_either


def ListOf(item: Schema, length: int | None = None) -> Schema:  # noqa: N802
    def check_list(value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise _Mismatch(where, f"expected a list, got {_name(value)}")
        if length is not None and len(value) != length:
            raise _Mismatch(where, f"expected {length} items, got {len(value)}")
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")

    return check_list


def MapOf(value_schema: Schema) -> Schema:  # noqa: N802
    """A JSON object with any (string) keys, every value of ``value_schema``."""

    def check_map(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Mismatch(where, f"expected an object, got {_name(value)}")
        for k, v in value.items():
            value_schema(v, _at(where, k))

    return check_map


def Obj(required: Mapping[str, Schema] | None = None, optional: Mapping[str, Schema] | None = None) -> Schema:  # noqa: N802
    """A JSON object with these fields (other keys pass)."""
    required, optional = dict(required or {}), dict(optional or {})

    def check_obj(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Mismatch(where, f"expected an object, got {_name(value)}")
        for key, schema in required.items():
            if key not in value:
                raise _Mismatch(where, f"missing field {key!r}")
            schema(value[key], _at(where, key))
        for key, schema in optional.items():
            if key in value:
                schema(value[key], _at(where, key))

    return check_obj


# ------------------------------------------------------------------------------------------ schemas

#: one language of a result record (``toolkit.results.LangResult``)
LANG_ENTRY = Obj(
    {"status": OneOf("ok", "failed")},
    {"metrics": MapOf(Num), "main": Opt(Num), "n_examples": Opt(NonNegInt), "seconds": Opt(Num), "split": Opt(Str),
     "data_files": MapOf(Str), "dataset_revision": Opt(Str), "adapters": MapOf(Str), "error": Opt(Str),
     "config_hash": Opt(Str), "finished_at": Opt(Str), "evaluation": MapOf(Anything)},
)

#: a results-store record (``toolkit.results.Record``); ``schema_version`` is checked by Record.from_json
RECORD = Obj(
    {"task": Str, "task_version": Int, "encoder": Obj({"id": Str}), "setup": Obj({"id": Str}),
     "config": MapOf(Anything), "config_hash": Str},
    {"languages": MapOf(LANG_ENTRY), "main_metric": Opt(Str), "seed": Opt(Int), "versions": MapOf(Anything),
     "git_commit": Opt(Str), "git_dirty": Opt(Bool), "created_at": Opt(Str), "updated_at": Opt(Str)},
)

#: stored predictions of one language (``ResultStore.put_predictions``); export checks ids against predictions
PREDICTIONS = Obj(
    {"task": Str, "lang": Str, "split": Str, "ids": ListOf(Str),
     "predictions": Either(ListOf(Anything), MapOf(Anything), what="a list or an object")},
)

_RECIPES = ("none", "sequential", "stack", "fuse")

#: ``xta_card.json`` of a trained, registered or pulled adapter (see toolkit.train._card and lang_adapters)
CARD = Obj(
    {"recipe": OneOf(*_RECIPES)},
    {"name": Opt(Str), "task": Opt(Str), "shape": Opt(Str), "kind": Opt(Str), "language": Opt(Str),
     "intermediate": ListOf(Str), "init_from": Opt(Str), "config_hash": Opt(Str), "steps": Opt(NonNegInt),
     "planned_steps": Opt(NonNegInt), "best_step": Opt(NonNegInt), "seed": Opt(Int),
     "encoder": Obj({}, {"name": Opt(Str), "fingerprint": Opt(Str)}),
     "dev_scores": MapOf(Either(MapOf(Num), Num, what="scores")),
     "tasks": MapOf(Obj({}, {"head": Opt(Str), "shape": Opt(Str), "labels": Opt(ListOf(Str)), "sources": ListOf(Str)})),
     "adapter": Obj({}, {"config": Opt(Str), "reduction_factor": Opt(Num)}), "hub": MapOf(Anything)},
)

_LAYERS = ListOf(NonNegInt)

#: the adapters library's config files: what xta (check_fits) and ``load_adapter``/``load_head`` read
ADAPTER_CONFIG = Obj(
    {},
    {"name": Opt(Str), "model_type": Opt(Str), "model_name": Opt(Str), "hidden_size": Opt(NonNegInt),
     "version": Opt(Str), "model_class": Opt(Str),
     "config": Opt(Either(Str, Obj({}, {"leave_out": Opt(_LAYERS), "architecture": Opt(Str), "head_type": Opt(Str),
                                          "num_labels": Opt(NonNegInt), "layers": Opt(NonNegInt),
                                          "reduction_factor": Opt(Either(Finite, MapOf(Finite), what="a number or an object")),
                                          "non_linearity": Opt(Str), "label2id": Opt(MapOf(Int))}),
                          what="a config name or object")),
     "adapters": Opt(Either(ListOf(Str), MapOf(Anything), what="a list or an object"))},
)


def _tensor_entry(value: Any, where: str) -> None:
    if where == "__metadata__":
        Opt(MapOf(Str))(value, where)
        return
    Obj({"dtype": Str, "shape": ListOf(NonNegInt), "data_offsets": ListOf(NonNegInt, length=2)})(value, where)
    begin, end = value["data_offsets"]
    if begin > end:
        raise _Mismatch(_at(where, "data_offsets"), f"begin {begin} is after end {end}")


#: the JSON header of a safetensors file (https://github.com/huggingface/safetensors#format)
SAFETENSORS_HEADER = MapOf(_tensor_entry)


# ------------------------------------------------------------------------------------------- loading


def check(value: Any, schema: Schema, path: object, what: str) -> Any:
    """``value`` if it fits ``schema``; else DataError naming ``path`` and the field (``what`` names the kind)."""
    try:
        schema(value, "")
    except _Mismatch as exc:
        raise DataError(f"malformed {what} ({exc})", path) from None
    return value


def parse_json(text: str | bytes, path: object, what: str = "JSON file") -> Any:
    """``json.loads`` whose every failure is a DataError naming ``path``: bytes that are not UTF-8, malformed
    JSON, nesting too deep for the parser, NUL or lone surrogates in a string."""
    from .datafiles import BAD_JSON_ESCAPE, check_text

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"unreadable {what}: not valid UTF-8 (byte offset {exc.start})", path) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"unreadable {what}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", path) from None
    except RecursionError:
        raise DataError(f"unreadable {what}: JSON nested too deeply", path) from None
    if BAD_JSON_ESCAPE.search(text):
        check_text(value, path)
    return value


def load_json(path: str | Path, what: str = "JSON file", schema: Schema | None = None) -> Any:
    """Read, parse and (with ``schema``) check a JSON file; DataError naming the file for any failure
    (FileNotFoundError is left to the caller, who knows whether a missing file is an error)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read {what} ({exc.strerror or exc})", path) from None
    value = parse_json(raw, path, what)
    return check(value, schema, path, what) if schema is not None else value

"""Intermediate tasks (open set): one YAML card per task in ``adapters_zoo/``.

Adding an intermediate task needs nothing but a new card. Cards are strict: an unknown key is an error
that names the card. Extra card directories can be added with ``XTA_ZOO`` (os.pathsep-separated).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..errors import ConfigError
from .spec import TaskSpec, spec_from_mapping

ZOO_DIR = Path(__file__).resolve().parents[2] / "adapters_zoo"


def zoo_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("XTA_ZOO", "").split(os.pathsep) if p]
    return [ZOO_DIR, *extra]


def load_card(path: Path) -> TaskSpec:
    """Parse one card; YAML errors and schema errors name the file (and line for YAML)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a card must be a YAML mapping")
    if data.get("name") != path.stem:
        raise ConfigError(f"{path}: card name {data.get('name')!r} must equal the file name {path.stem!r}")
    return spec_from_mapping({**data, "card_path": str(path)}, str(path))


def load_zoo() -> dict[str, TaskSpec]:
    cards: dict[str, TaskSpec] = {}
    for directory in zoo_dirs():
        for path in sorted(directory.glob("*.yaml")):
            spec = load_card(path)
            if spec.name in cards:
                raise ConfigError(f"{path}: intermediate task {spec.name!r} is already defined by {cards[spec.name].card_path}")
            cards[spec.name] = spec
    return cards

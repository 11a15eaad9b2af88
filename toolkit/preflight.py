"""Fail fast, start fast (issue 20, item 7): the checks a training run can make before torch is imported
and before the encoder is loaded, so a misspelled name or missing data is reported in about a second
instead of after minutes of model loading.

``xta train-adapter`` (and :func:`xta.train_adapter`) call :func:`check_training` first: every task name
(did-you-mean), then every English training split the run will read (local files, the built-in CLDR data or
the Hub; local files are parsed once and served from :mod:`toolkit.data`'s cache when training reads them
again). Nothing here imports torch, transformers or the encoder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .io import safe_name

CARD_NAME = "xta_card.json"  # == toolkit.train.CARD_NAME (not imported: train pulls in torch)


def training_sources(spec, train_split: str = "train") -> list[Any]:
    """The task itself if it has the training split (``train``, or the base of ``train_split`` such as
    ``dev`` in ``dev[:80%]``), else its ``train_from`` tasks in order (XTREME-R's SIQA-then-COPA for
    XCOPA is two phases of one run)."""
    from .data import parse_split
    from .tasks import get_task

    if parse_split(train_split)[0] in spec.splits:
        return [spec]
    if not spec.train_from:
        raise ConfigError(f"task {spec.name!r} has no train split and no train_from source to train on")
    return [get_task(name) for name in spec.train_from]


def dev_source(spec, sources: Sequence[Any], dev_split: str = "dev"):
    """English dev data for model selection: the task's own dev split (``dev_split``'s base) when it has
    English, else the last training source's; None when there is none."""
    from .data import parse_split

    base = parse_split(dev_split)[0]
    for candidate in (spec, *reversed(list(sources))):
        if base in candidate.splits and "en" in candidate.split_languages(base):
            return candidate
    return None


def _finished_card(name: str, artifacts_dir) -> Path:
    """``<artifacts>/adapters/<name>/xta_card.json`` (== toolkit.train.adapter_dir, without torch)."""
    home = os.environ.get("XTA_HOME")
    root = Path(artifacts_dir) if artifacts_dir is not None else (Path(home) / "artifacts" if home else Path("xta_runs") / "artifacts")
    return root / "adapters" / safe_name(name, "adapter") / CARD_NAME


def check_training(cfg, artifacts_dir=None, *, force: bool = False) -> None:
    """Names, then data: every task of ``cfg`` (a :class:`toolkit.config.TrainConfig`) is known, and every
    English training split it reads can be loaded. An adapter already trained under this name is left to
    :func:`toolkit.train.train_adapter` (an identical finished run is reused without its data)."""
    from .data import load
    from .tasks import get_task

    cfg.validate()
    if not force and _finished_card(cfg.name, artifacts_dir).is_file():
        return
    for task in cfg.all_tasks:
        for src in training_sources(get_task(task), cfg.train_split):
            # every training language: the translated data of --train-langs too (issue 21)
            for lang in getattr(cfg, "languages", ("en",)):
                load(src, cfg.train_split, lang, data_dir=cfg.data_dir, max_examples=cfg.max_train_examples)
    for path in getattr(cfg, "mlm_text", ()):
        if not Path(path).is_file():
            from .errors import DataError

            raise DataError("masked-LM text file not found (--mlm-text: one sentence per line, UTF-8)", path)

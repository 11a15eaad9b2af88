"""Fail fast, start fast (issue 20, item 7): the checks a training run can make before torch is imported
and before the encoder is loaded, so a misspelled name or missing data is reported in about a second
instead of after minutes of model loading.

``xta train-adapter`` (and :func:`xta.train_adapter`) call :func:`check_training` first: every task name
(did-you-mean), then every English training split the run will read (local files, the built-in CLDR data or
the Hub; local files are parsed once and served from :mod:`toolkit.data`'s cache when training reads them
again). Nothing here imports torch, transformers or the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .artifacts import CARD_NAME, adapter_dir
from .errors import ConfigError, DataUnavailable



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


def training_phases(spec, train_split: str = "train", langs: Sequence[str] = ("en",)) -> list[tuple[Any, str, str]]:
    """``(source, split, lang)`` for each phase training ``spec`` reads: every training source (see
    :func:`training_sources`) in every language of ``langs`` (``--train-langs``, issue 21).

    English reads the source's split as given. Another language reads the source's split in that
    language when the source has it (XNLI's translated dev slices, ``dev[:70%]``); a task that trains from
    another card (XNLI from MNLI, PAWS-X from PAWS) reads instead its own :data:`TRANSLATE_TRAIN` split,
    sliced the same way (``train[:10%]`` -> ``translate_train[:10%]``): XTREME's translate-train setting,
    in which the target's model trains on the English training set machine-translated into the target
    languages (Hu et al. 2020; google-research/xtreme third_party/run_classify.py l. 426-427). A task
    that trains from another card and has no such split (XQuAD from SQuAD: XTREME's translations have no
    Hub id) or trains in phases from several cards (XCOPA: SIQA then COPA) is refused."""
    from .data import parse_split
    from .tasks import TRANSLATE_TRAIN

    sources = training_sources(spec, train_split)
    translated = [lang for lang in langs if lang != "en"]
    if translated and len(sources) > 1:
        raise ConfigError(f"train_langs: {spec.name} trains in phases from {', '.join(s.name for s in sources)}; "
                          "translated data is read for a task with its own training split (e.g. --train-split 'dev[:70%]')")
    base = parse_split(train_split)[0]
    phases = []
    for src in sources:
        for lang in langs:
            if lang == "en" or src is spec:
                phases.append((src, train_split, lang))
            elif TRANSLATE_TRAIN not in spec.splits:
                raise DataUnavailable(f"train_langs: {spec.name} trains from {src.name} {train_split}, which is English "
                                      f"only, and has no translated training data ({TRANSLATE_TRAIN} split) for {lang}; "
                                      "train on a slice of a split that has the language, e.g. --train-split "
                                      "'dev[:70%]' --dev-split 'dev[70%:80%]'")
            else:  # the target's translated copy of its English training source
                phases.append((spec, TRANSLATE_TRAIN + train_split.strip()[len(base):], lang))
    return phases


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
    return adapter_dir(name, artifacts_dir) / CARD_NAME


def check_training(cfg, artifacts_dir=None, *, force: bool = False) -> None:
    """Names, then data: every task of ``cfg`` (a :class:`toolkit.config.TrainConfig`) is known, and every
    English training split it reads can be loaded. An adapter already trained under this name is left to
    :func:`toolkit.train.train_adapter` (an identical finished run is reused without its data)."""
    from .data import load
    from .tasks import get_task

    from .tracking import check_report_to

    cfg.validate()
    check_report_to(cfg.report_to)  # a tracker asked for but not installed: said before any data or model work
    if not force and _finished_card(cfg.name, artifacts_dir).is_file():
        return
    for task in cfg.all_tasks:
        spec = get_task(task)
        sources = training_sources(spec, cfg.train_split)
        # every training language: the translated data of --train-langs too (issue 21)
        for src, split, lang in training_phases(spec, cfg.train_split, getattr(cfg, "languages", ("en",))):
            try:
                load(src, split, lang, data_dir=cfg.data_dir, max_examples=cfg.max_train_examples)
            except DataUnavailable as exc:
                hint = training_hint(spec, sources, cfg.train_split, "train") if lang == "en" else ""
                raise DataUnavailable(f"{exc}{hint}") from None
    for path in getattr(cfg, "mlm_text", ()):
        if not Path(path).is_file():
            from .errors import DataError

            raise DataError("masked-LM text file not found (--mlm-text: one sentence per line, UTF-8)", path)


def training_hint(spec, sources: Sequence[Any], split: str, flag: str) -> str:
    """What English data training ``spec`` needs and how to do without it (appended to a data error):
    ``flag`` ``train`` for train-adapter/fuse/stack (``--train-task``), ``eval`` for eval's on-the-fly
    target adapters (``--train-from`` / ``--setup none``)."""
    names = " then ".join(f"{s.name} {split}" for s in sources)
    needs = f" -- {spec.name}'s adapter trains on English {names}"
    if flag == "eval":
        return (f"{needs}; train it on English data at hand with --train-from {spec.name}=SOURCE[/TRAIN_SPLIT[/DEV_SPLIT]] "
                f"(e.g. {_example_source(spec)}), evaluate a trained adapter with --setup NAME, or the bare "
                "encoder with --setup none")
    other = _example_source(spec).split("=")[1]
    return (f"{needs}; train on English data at hand: another task's (xta fuse/stack --train-task TASK, e.g. "
            f"--train-task {other}; xta train-adapter --task {other}) or a slice of a split that is here, e.g. "
            "--train-split 'dev[:80%]' --dev-split 'dev[80%:]'")


def _example_source(spec) -> str:
    """``TARGET=SOURCE`` for the hint: the last of the card's training sources (XCOPA: copa), else itself."""
    return f"{spec.name}={spec.train_from[-1] if spec.train_from else spec.name}"

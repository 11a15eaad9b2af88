"""What every transferability estimator shares (:mod:`toolkit.selection`): the records (:class:`Estimate`
with its :class:`Cost`, task embeddings, labelled features), the task texts and English examples they are
computed from, seeded sampling, cosine and the two controls (size, random). Measured gains live with the
matrix (``toolkit.matrix_results.gains``)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .errors import ConfigError, DataError, XtaError

logger = logging.getLogger(__name__)


ESTIMATORS = ("semb", "logme", "taskemb", "size", "random")


OBJECTIVES = ("mean", "worst-language", "low-resource")


COMBINATIONS = ("fuse", "multitask")


LANGUAGE_GROUPS = ("all", "low", "mid", "high")


@dataclass(frozen=True)
class Cost:
    """What an estimate cost: encoder forward passes (sequences run through the model) and wall seconds."""

    forward_passes: int = 0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.forward_passes + other.forward_passes, self.seconds + other.seconds)

    def as_dict(self) -> dict[str, float]:
        return {"forward_passes": self.forward_passes, "seconds": self.seconds}


@dataclass(frozen=True)
class Estimate:
    """One estimator's score for intermediate task ``candidate`` on target task ``target`` (higher = better)."""

    estimator: str
    target: str
    candidate: str
    score: float
    cost: Cost = field(default_factory=Cost)

    def as_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "target": self.target, "candidate": self.candidate,
                "score": self.score, "cost": self.cost.as_dict()}


@dataclass(frozen=True)
class TaskEmbedding:
    """The dataset vector of a task (mean of the mean-pooled rows of its sampled examples), how many
    examples were sampled, and what it cost."""

    vector: np.ndarray
    n_examples: int
    cost: Cost


@dataclass(frozen=True)
class LabelledFeatures:
    """Rows of features (one per sentence, choice or token, by shape) with integer labels, for LogME."""

    features: np.ndarray  # (N, D)
    labels: np.ndarray  # (N,) integer class ids
    cost: Cost
    label_names: tuple[str, ...] = ()


def example_text(example: Mapping[str, Any], shape: str, sep: str = "[SEP]",
                 question_prompts: Mapping[str, str] | None = None) -> str:
    """The single text of one normalised example, as LogME's sentence features encode it (SEmb embeds
    :func:`semb_rows` instead).

    classification: ``text [SEP] text_pair`` (just ``text`` for single sentences); multiple choice:
    context then question (XCOPA's ``cause``/``effect`` mapped through ``question_prompts``); extractive QA:
    question then context; tagging: the tokens joined by spaces. ``sep`` is the tokenizer's separator when
    called from :func:`logme_features`, so it is a real special token rather than the literal ``[SEP]``.
    """
    from .families import get_family  # each shape's rule is its family's example_text

    return get_family(shape).example_text(example, sep, question_prompts)


def sample_indices(total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """``n`` of ``range(total)`` drawn without replacement with ``seed`` (all when ``n`` is None or larger),
    in increasing order; a seeded sample rather than the first ``n`` since files are often sorted."""
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when one is zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / den if den > 0 else 0.0


def size_estimates(target: str, sizes: Mapping[str, int]) -> list[Estimate]:
    """The size control of Poth et al. (2021): score = number of training examples (largest first)."""
    return [Estimate("size", target, name, float(n)) for name, n in sizes.items()]


def training_sizes(candidates: Iterable[str], data: Mapping[str, Any], used: Mapping[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    """Each candidate's training-set size for the size control, and where it comes from: the card's
    ``train_size`` (the full English training set, cited in ``train_size_source``), else the count of the
    split that loaded (``data``/``used``), which offline may be a dev set, and says so."""
    from .tasks import get_task

    counts, sources = {}, {}
    for c in candidates:
        card = get_task(c)
        if card.train_size:
            counts[c], sources[c] = card.train_size, f"card: {card.train_size_source or 'train_size'}"
        else:
            counts[c], sources[c] = len(data[c]), f"counted: {used[c]} (the card gives no train_size)"
    return counts, sources


def random_estimates(target: str, candidates: Iterable[str], seed: int = 0) -> list[Estimate]:
    """A random ranking, reproducible: the same (seed, target, candidate set) gives the same scores
    whatever the order of ``candidates`` (the generator is seeded from a hash of seed and target)."""
    names = sorted(set(candidates))
    digest = hashlib.sha256(f"{seed}:{target}".encode()).digest()
    scores = np.random.default_rng(int.from_bytes(digest[:8], "little")).random(len(names))
    return [Estimate("random", target, name, float(s)) for name, s in zip(names, scores)]


#: English splits tried, in order, for a task's data when estimating (the first that loads is used and
#: recorded): a task's training data is what it contributes as an intermediate task.
ESTIMATION_SPLITS = ("train", "dev", "test")


def english_examples(task: str, data_dir=None, n: int | None = None) -> tuple[Any, str]:
    """(examples, "task:split") of a task's English data for estimation.

    For a target task, its English training source comes first (xnli: MNLI), then its own English splits;
    a retrieval target with neither (tatoeba, bucc2018) is represented by its English candidate sentences.
    """
    from .data import load
    from .errors import XtaError
    from .families import get_family
    from .tasks import get_task

    spec = get_task(task)
    sources = [*(get_task(s) for s in spec.train_from if s != spec.name), spec]
    errors = []
    for src in sources:
        for split in ESTIMATION_SPLITS:
            if split in src.splits and "en" in src.split_languages(split):
                try:
                    return load(src, split, "en", data_dir=data_dir, max_examples=n), f"{src.name}:{split}"
                except XtaError as exc:
                    errors.append(f"{src.name}:{split}: {exc}")
    if not get_family(spec).LABELLED:  # a retrieval pool: its English side
        try:
            return _english_side(spec, data_dir, n)
        except XtaError as exc:
            errors.append(f"{spec.name}: English side: {exc}")
    raise ConfigError(f"no English data for {task} to estimate with ({'; '.join(errors) or 'no English split'})")


def _english_side(spec: Any, data_dir, n: int | None) -> tuple[Any, str]:
    """A retrieval target without English queries (tatoeba, bucc2018): its English candidate sentences,
    pooled over every language whose files load and de-duplicated in file order, as a RetrievalData whose
    ``queries`` are those sentences (what :func:`embed_task` embeds). ``n`` caps the count."""
    from .data import RetrievalData, load

    split = "test" if "test" in spec.splits else spec.splits[0]
    seen: dict[str, None] = {}
    langs, errors = [], []
    for lang in spec.split_languages(split):
        try:
            data = cast(RetrievalData, load(spec, split, lang, data_dir=data_dir))  # a retrieval task loads as one
        except XtaError as exc:
            errors.append(f"{lang}: {exc}")
            continue
        if data.candidate_languages is not None:  # a multilingual pool (lareqa): not an English side
            continue
        langs.append(lang)
        seen.update(dict.fromkeys(c for c in data.candidates if c.strip()))
        if n is not None and len(seen) >= n:
            break
    if not seen:
        raise DataError(f"no {spec.name} {split} file loaded ({'; '.join(errors[:3]) or 'no English candidates'})")
    texts = list(seen)[:n] if n is not None else list(seen)
    ids = [f"en-{i}" for i in range(len(texts))]
    return (RetrievalData(ids, texts, [], [], {}, meta={"lang": "en", "from": langs}),
            f"{spec.name}:{split}(English side of {len(langs)} language files)")

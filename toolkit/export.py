"""Leaderboard export: the XTREME / XTREME-R submission layout from stored predictions.

``xta eval`` stores every language's predictions beside its result record; ``export`` writes them as
``OUT/<task>/<split>-<lang>.<ext>`` in the format the official ``evaluate.py`` reads
(google-research/xtreme, ``evaluate.py``: ``read_tag_file``, ``read_label_file``, ``read_squad_file``;
XTREME-R adds XCOPA as JSON lines):

* classification (xnli, pawsx): ``.tsv``, one label per line;
* multiple choice (xcopa): ``.jsonl``, ``{"idx": ..., "label": <choice index>}`` per line;
* extractive QA (xquad, mlqa, tydiqa): ``.json``, ``{question id: answer text}``;
* tagging (udpos, panx): ``.tsv``, one tag per line, a blank line after each sentence;
* tatoeba: ``.tsv``, for each English sentence (line ``i``) the line index of the retrieved sentence,
  correct when it is ``i`` (``read_label`` + ``accuracy``);
* bucc2018: ``.tsv``, one mined pair ``src_id<TAB>en_id`` per line at the threshold xta scored with
  (``read_label`` + ``bucc_f1``);
* lareqa: ``.json``, ``{question id: [candidate ids, best first]}`` (top 20; mAP@20 reads these).

Retrieval results stored before this version have no predictions and are reported as not exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .io import atomic_write_text
from .report import scores_from_store
from .results import RecordKey, ResultStore, encoder_id
from .tasks import get_task

EXTENSIONS = {"classification": "tsv", "pair_classification": "tsv", "multiple_choice": "jsonl",
              "extractive_qa": "json", "tagging": "tsv"}
#: Retrieval tasks by scoring rule (:func:`toolkit.retrieval.retrieval_kind`).
RETRIEVAL_EXTENSIONS = {"tatoeba": "tsv", "bucc2018": "tsv", "lareqa": "json"}


@dataclass
class ExportResult:
    files: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "task/lang" -> why


def export(store: ResultStore, model: str, setup: str, benchmark: str, out_dir: str | Path) -> ExportResult:
    """Write every stored prediction of ``benchmark``'s tasks for ``model`` and ``setup`` under ``out_dir``."""
    out, result = Path(out_dir), ExportResult()
    gathered = scores_from_store(store, model, setup, benchmark)
    if not gathered.records:
        raise ConfigError(f"no results for encoder {model!r} and setup {setup!r} in {store.root}; run xta eval first")
    for task, sid in gathered.setups.items():
        spec = get_task(task)
        key = RecordKey(encoder_id(model), sid, task)
        for lang, entry in gathered.records[task].languages.items():
            where = f"{task}/{lang}"
            kind = _kind(spec)
            if spec.shape not in EXTENSIONS and kind not in RETRIEVAL_EXTENSIONS:
                result.skipped[where] = f"no submission format for {task}"
                continue
            stored = store.get_predictions(key, lang) if entry.status == "ok" else None
            if stored is None:
                result.skipped[where] = "no stored predictions (failed, or evaluated before predictions were stored)"
                continue
            if "[" in stored["split"]:
                result.skipped[where] = f"evaluated on a slice ({stored['split']}), not a whole split"
                continue
            ext = RETRIEVAL_EXTENSIONS[kind] if kind else EXTENSIONS[spec.shape]
            path = out / task / f"{stored['split']}-{lang}.{ext}"
            atomic_write_text(path, render(kind or spec.shape, stored["ids"], stored["predictions"]))
            result.files.append(str(path))
    return result


def _kind(spec) -> str | None:
    """The retrieval scoring rule of a retrieval task (tatoeba, bucc2018, lareqa), else None."""
    from .errors import UnknownTask
    from .retrieval import retrieval_kind

    if spec.shape != "retrieval":
        return None
    try:
        return retrieval_kind(spec.name)
    except UnknownTask:
        return None


def render(shape: str, ids: list[str], predictions: Any) -> str:
    """One language's predictions in the official file format of its task shape (for retrieval tasks:
    of its scoring rule, ``tatoeba``, ``bucc2018`` or ``lareqa``)."""
    if shape == "tatoeba":
        return "".join(f"{int(p)}\n" for p in predictions)
    if shape == "bucc2018":
        return "".join(f"{src}\t{trg}\n" for src, trg in zip(ids, predictions))
    if shape == "lareqa":
        return json.dumps(dict(zip(ids, predictions)), ensure_ascii=False, indent=0)
    if shape in ("classification", "pair_classification"):
        return "".join(f"{label}\n" for label in predictions)
    if shape == "multiple_choice":
        return "".join(json.dumps({"idx": i, "label": int(p)}) + "\n" for i, p in zip(ids, predictions))
    if shape == "extractive_qa":
        return json.dumps(predictions, ensure_ascii=False, indent=0)
    if shape == "tagging":
        return "".join("".join(f"{tag}\n" for tag in sentence) + "\n" for sentence in predictions)
    raise ConfigError(f"no submission format for task shape {shape!r}")

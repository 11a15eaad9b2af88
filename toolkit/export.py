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

Guarantees (issue 18): nothing is written outside ``OUT`` (the split and language that name a file are
validated, never taken from a predictions file as a path); predictions that do not match their ids are
not exported; results of a truncated evaluation (``--max-eval-examples``) are never written as
leaderboard files (``allow_truncated`` writes them for pipeline checks, with ``NOT_A_SUBMISSION.txt``
beside them); an ``OUT`` that already holds other files is refused unless ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError
from .families import get_family
from .io import atomic_write_text, safe_name
from .report import scores_from_store
from .results import RecordKey, ResultStore, encoder_id
from .tasks import get_task



@dataclass
class ExportResult:
    files: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "task/lang" -> why


def export(store: ResultStore, model: str, setup: str, benchmark: str, out_dir: str | Path, *,
           force: bool = False, allow_truncated: bool = False) -> ExportResult:
    """Write every stored prediction of ``benchmark``'s tasks for ``model`` and ``setup`` under ``out_dir``."""
    out, result = Path(out_dir), ExportResult()
    gathered = scores_from_store(store, model, setup, benchmark)
    if not gathered.records:
        raise ConfigError(f"no results for encoder {model!r} and setup {setup!r} in {store.root}; run xta eval first")
    if out.is_file():
        raise ConfigError(f"{out} is a file; export writes a folder OUT/<task>/<split>-<lang>.<ext>")
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()) if out.is_dir() else []
    if present and not force:
        raise ConfigError(f"{out} already holds {len(present)} file(s) (e.g. {present[0]}); a submission folder must hold "
                          "one run only: export into an empty folder, or pass --force to write over it")
    truncated: list[str] = []
    for task, sid in gathered.setups.items():
        spec = get_task(task)
        key = RecordKey(encoder_id(model), sid, task)
        limit = (gathered.records[task].config or {}).get("max_eval_examples")
        for lang, entry in gathered.records[task].languages.items():
            where = f"{task}/{lang}"
            if limit is not None and not allow_truncated and entry.status == "ok":
                result.skipped[where] = (f"truncated evaluation (--max-eval-examples {limit}): not a leaderboard file; "
                                         "re-run xta eval without it")
                continue
            try:
                ext = get_family(spec).submission_extension(spec)
            except (ConfigError, KeyError):
                result.skipped[where] = f"no submission format for {task}"
                continue
            try:
                stored = store.get_predictions(key, lang) if entry.status == "ok" else None
            except DataError as exc:  # unreadable or malformed (toolkit.schemas.PREDICTIONS): not exported
                result.skipped[where] = str(exc)
                continue
            if stored is None:
                result.skipped[where] = "no stored predictions (failed, or evaluated before predictions were stored)"
                continue
            why = _invalid(stored, entry, lang)
            if why:
                result.skipped[where] = why
                continue
            path = out / safe_name(task, "task") / f"{stored['split']}-{safe_name(lang, 'language')}.{ext}"
            try:
                text = render(spec, stored["ids"], stored["predictions"])
            except (TypeError, ValueError, AttributeError) as exc:
                result.skipped[where] = f"malformed stored predictions ({type(exc).__name__}: {exc})"
                continue
            atomic_write_text(path, text)
            result.files.append(str(path))
            if limit is not None:
                truncated.append(f"{where}: first {limit} examples only")
    if truncated:
        atomic_write_text(out / "NOT_A_SUBMISSION.txt", "These files come from a truncated evaluation "
                          "(--max-eval-examples) and must not be submitted or compared with leaderboard numbers:\n"
                          + "".join(f"  {t}\n" for t in truncated))
    return result


#: the splits a submission file can be named after
SPLITS = ("test", "dev", "train")


def _invalid(stored: Any, entry, lang: str) -> str | None:
    """Why a stored predictions file cannot be exported (its values name files, so they are checked)."""
    if not isinstance(stored, dict) or not isinstance(stored.get("split"), str):
        return "malformed predictions file (no split)"
    split = stored["split"]
    if "[" in split:
        return f"evaluated on a slice ({split}), not a whole split"
    if split not in SPLITS:
        return f"predictions file names split {split!r}, not one of {', '.join(SPLITS)}"
    if entry.split and split != entry.split:
        return f"predictions file is for split {split!r} but the result is for {entry.split!r}"
    if stored.get("lang") not in (None, lang):
        return f"predictions file is for language {stored.get('lang')!r}, not {lang!r}"
    ids, predictions = stored.get("ids"), stored.get("predictions")
    if not isinstance(ids, list) or not isinstance(predictions, (list, dict)):
        return "malformed predictions file (ids/predictions are not lists)"
    if isinstance(predictions, list) and len(predictions) != len(ids):
        return f"malformed predictions file ({len(ids)} ids, {len(predictions)} predictions)"
    return None


def render(spec, ids: list[str], predictions: Any) -> str:
    """One language's predictions in the official submission format of ``spec``'s task (its family's
    :func:`render_submission`: for retrieval tasks, that of its scoring rule)."""
    return get_family(spec).render_submission(spec, ids, predictions)

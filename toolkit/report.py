"""Aggregation by the XTREME-R rules, and the tables and files that show it.

Rules (Ruder et al. 2021, XTREME-R; google-research/xtreme ``evaluate.py``):

* a task's score is the mean of its per-language main scores over *all* of the task's languages; a task
  with a missing or failed language has no score (it is reported as incomplete, never averaged);
* QA tasks use (EM + F1) / 2 as their main score (declared on the task as ``qa_mean``);
* category means (classification, structured prediction, QA, retrieval) exist only when every member
  task of the benchmark has a score;
* the overall score is reported two ways, both labelled: the mean of the category means (as the XTREME-R
  paper reports it) and the mean over tasks (as the official script computes it). Neither exists when a
  member is missing.

What the aggregates are (issue 16): a category or overall score is labelled as the paper's only when every
member task was scored under the protocol: on its protocol split (:func:`protocol_split`), on all of the
benchmark's languages for it, with the protocol setup (:func:`setup_deviation`), untruncated and with
BUCC's threshold tuned on dev. Otherwise its label says it is not the paper's and its note says what
differs; every task row shows its split and ``scored/N`` languages (N: the benchmark's languages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import fmean
from typing import TYPE_CHECKING, cast

from .artifacts import encoder_slug
from .families import get_family
from .tables import to_markdown  # defined there (plots.py renders with it too), still importable from here
from .tasks import get_task, target_tasks
from .tasks.spec import CATEGORIES

if TYPE_CHECKING:
    from .results import Record


#: XTREME-R scores these retrieval tasks with a trained encoder, not the bare one (Ruder et al. 2021,
#: XTREME-R §3-4: Tatoeba with XLM-R fine-tuned on SQuAD v1.1 as in X-STILTs, Phang et al. 2020; LAReQA
#: and Mewsli-X with dual encoders trained on SQuAD v1.1 and on Mewsli-X's English Wikipedia pairs).
#: XTREME's own retrieval tasks (Tatoeba, BUCC) use the bare encoder.
XTREME_R_TRAINED_RETRIEVAL = {
    "tatoeba": "an encoder fine-tuned on SQuAD v1.1",
    "lareqa": "a dual encoder trained on SQuAD v1.1",
    "mewslix": "a dual encoder trained on Mewsli-X Wikipedia pairs",
}

#: XTREME-R scores these retrieval tasks with a trained encoder, not the bare one (Ruder et al. 2021, sec. 3:
#: Tatoeba with the SQuAD v1.1-fine-tuned model of Phang et al. 2020; LAReQA with a dual encoder trained on
#: SQuAD v1.1, google-research/xtreme scripts/train_lareqa.sh; Mewsli-X with one trained on its Wikipedia
#: pairs, scripts/train_mewslix.sh): the adapter ``--setup auto`` uses for them on ``--benchmark xtreme-r``
#: (trained on the fly when missing, :mod:`toolkit.evaluate`). ``--setup none`` scores the bare encoder,
#: labelled as not the protocol.
XTREME_R_RETRIEVAL_ADAPTER = {"tatoeba": "squad_v1", "lareqa": "lareqa", "mewslix": "mewslix"}


def protocol_split(spec) -> str:
    """The split the benchmark scores: ``test`` (XTREME's TyDiQA-GoldP dev files are xta's tydiqa test)."""
    return "test" if "test" in spec.splits else list(spec.splits)[-1]


def setup_deviation(spec, benchmark: str, setup_id: str | None, encoder: str | None = None) -> str | None:
    """How a task's setup differs from the protocol's, or None: the protocol is the task's own
    English-trained target adapter (what ``--setup auto`` trains), or for retrieval tasks the bare encoder,
    except where XTREME-R uses a trained one (:data:`XTREME_R_TRAINED_RETRIEVAL`)."""
    if setup_id is None:
        return "setup not recorded"
    if setup_id == "none" and get_family(spec).SCORED_UNTRAINED:
        trained = XTREME_R_TRAINED_RETRIEVAL.get(spec.name) if benchmark == "xtreme-r" else None
        return f"setup: bare encoder (XTREME-R: {trained})" if trained else None
    if setup_id in auto_setup_id(spec, encoder, benchmark):
        return None
    return f"setup: {setup_id} (not the task's own target adapter)"


@dataclass
class TaskScore:
    task: str
    category: str | None
    expected: tuple[str, ...]
    per_language: dict[str, float]  # languages with a score
    failed: dict[str, str] = field(default_factory=dict)  # language -> reason
    protocol_languages: tuple[str, ...] = ()  # the benchmark's languages for this task (N of n/N)
    splits: dict[str, str] = field(default_factory=dict)  # language -> split scored (from the records)
    deviations: list[str] = field(default_factory=list)  # how this score differs from the protocol

    @property
    def split(self) -> str:
        """The split(s) the scores come from, as recorded: ``test``, ``dev``, ``dev[80%:]``, ``dev+test``,
        or ``?`` when no record says."""
        found = sorted(set(self.splits.values()))
        return "+".join(found) if found else "?"

    @property
    def is_protocol(self) -> bool:
        return self.complete and not self.deviations

    @property
    def missing(self) -> list[str]:
        return [lang for lang in self.expected if lang not in self.per_language]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def score(self) -> float | None:
        """The language average, only when every expected language has a score."""
        return fmean(self.per_language[lang] for lang in self.expected) if self.complete and self.expected else None

    @property
    def partial_mean(self) -> float | None:
        """Mean over the languages that have a score (shown labelled as partial, never used in aggregates)."""
        return fmean(self.per_language.values()) if self.per_language else None


@dataclass
class BenchmarkSummary:
    benchmark: str
    tasks: dict[str, TaskScore]
    categories: dict[str, float | None]
    overall_category_mean: float | None  # XTREME-R paper
    overall_task_mean: float | None  # official evaluate.py

    def deviations(self, category: str | None = None) -> list[str]:
        """``task: what differs`` for every (member) task not scored under the protocol."""
        return [f"{t.task}: {d}" for t in self.tasks.values() if category in (None, t.category) for d in t.deviations]

    def is_protocol(self, category: str | None = None) -> bool:
        """True when the (category's) aggregate is the paper's: every member on the protocol's split, all
        its languages, the protocol setup, untruncated."""
        return not self.deviations(category)


def summarize(benchmark: str, scores: Mapping[str, Mapping[str, float]],
              failed: Mapping[str, Mapping[str, str]] | None = None,
              languages: Mapping[str, tuple[str, ...]] | None = None,
              gathered: StoreScores | None = None, encoder: str | None = None) -> BenchmarkSummary:
    """Aggregate ``scores[task][lang] = main score`` for ``benchmark`` ('xtreme-r' or 'xtreme').

    ``languages`` overrides the expected languages per task (e.g. a run restricted with ``--langs``);
    by default every language of the benchmark's task list is expected. ``gathered`` (the records the
    scores come from, :func:`scores_from_store`) tells each task's split, setup and truncation, so that
    aggregates are labelled as the paper's only under the protocol; without it no aggregate is.
    """
    failed = failed or {}
    tasks: dict[str, TaskScore] = {}
    for spec in target_tasks(benchmark):
        expected = tuple(languages[spec.name]) if languages and spec.name in languages else spec.langs(benchmark)
        per = {l: float(v) for l, v in scores.get(spec.name, {}).items() if l in expected}
        tasks[spec.name] = TaskScore(spec.name, spec.category, expected, per, dict(failed.get(spec.name, {})),
                                     protocol_languages=spec.langs(benchmark))
        _check_protocol(tasks[spec.name], spec, benchmark, gathered, encoder)
    categories: dict[str, float | None] = {}
    for cat in CATEGORIES:
        members = [t for t in tasks.values() if t.category == cat]
        if members:
            categories[cat] = _mean_of_all([t.score for t in members])
    cat_vals = list(categories.values())
    task_vals = [t.score for t in tasks.values()]
    return BenchmarkSummary(benchmark, tasks, categories, _mean_of_all(cat_vals), _mean_of_all(task_vals))


def _mean_of_all(values: list[float | None]) -> float | None:
    """The mean of ``values`` when there are some and none is missing, else None."""
    present = [v for v in values if v is not None]
    return fmean(present) if present and len(present) == len(values) else None


#: the label of scores whose adapters trained on translated (non-English) data, issue 21
TRANSLATE_TRAIN = "translate-train"


def _check_protocol(score: TaskScore, spec, benchmark: str, gathered: StoreScores | None, encoder: str | None) -> None:
    """Fill ``score.splits`` and ``score.deviations`` from the task's record (see the module doc)."""
    out = score.deviations
    full = len(score.protocol_languages)
    if set(score.expected) != set(score.protocol_languages):
        out.append(f"languages {len(score.expected)}/{full} requested")
    record = gathered.records.get(spec.name) if gathered is not None else None
    if gathered is None or record is None:
        if score.per_language:
            out.append("no record: split and setup unknown")
        return
    entries = {lang: record.languages[lang] for lang in score.per_language if lang in record.languages}
    score.splits = {lang: e.split or "?" for lang, e in entries.items()}
    wanted = protocol_split(spec)
    other = sorted({s for s in score.splits.values() if s != wanted})
    if other:
        out.append(f"split {'+'.join(other)} (protocol: {wanted})")
    deviation = setup_deviation(spec, benchmark, gathered.setups.get(spec.name), encoder)
    if deviation:
        out.append(deviation)
    xta_trained = sorted({f"{name} ({info.get('steps')} steps at batch {info.get('batch_size')})"
                          for e in entries.values() for name, info in ((e.evaluation or {}).get("language_adapters") or {}).items()
                          if isinstance(info, dict) and info.get("trained_by") == "xta"})
    if xta_trained:  # MAD-X's language adapters train 250k steps at batch 64 (Pfeiffer et al. 2020)
        out.append(f"language adapters trained by xta: {', '.join(xta_trained)}; MAD-X: 250k steps at batch 64")
    translated = sorted({f"{name} ({'+'.join(langs)})" for e in entries.values()
                         for name, langs in ((e.evaluation or {}).get("train_langs") or {}).items()})
    if translated:  # issue 21: an adapter trained on translated data is not a zero-shot result
        out.append(f"{TRANSLATE_TRAIN}: adapters trained on translated data: {', '.join(translated)}")
    truncated = (record.config or {}).get("max_eval_examples")
    if truncated:
        out.append(f"truncated evaluation (first {truncated} examples per language)")
    from .metrics import BUCC_THRESHOLD_ORACLE

    oracle = sorted(lang for lang, e in entries.items() if (e.protocol or {}).get("bucc_threshold") == BUCC_THRESHOLD_ORACLE)
    if oracle:
        out.append(f"BUCC threshold tuned on the scored split (oracle): {' '.join(oracle)}")


def qa_mean(metrics: Mapping[str, float]) -> float:
    """(EM + F1) / 2 from a metrics dict holding exact_match/f1 (or their MLQA variants)."""
    em = metrics.get("exact_match", metrics.get("mlqa_exact_match"))
    f1 = metrics.get("f1", metrics.get("mlqa_f1"))
    # a QA task's metrics hold both; one missing still raises TypeError at the sum, as it always did
    return (cast(float, em) + cast(float, f1)) / 2


def main_score(task: str, metrics: Mapping[str, float]) -> float:
    """The task's declared main score from a metrics dict (computing qa_mean when needed)."""
    spec = get_task(task)
    if spec.main_metric == "qa_mean" and "qa_mean" not in metrics:
        return qa_mean(metrics)
    return float(metrics[spec.main_metric])


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_rows(summary: BenchmarkSummary) -> list[list[str]]:
    """Rows (task, category, score, split, #langs scored / the benchmark's N, note) for tables, CSV and
    Markdown. A task's note lists what is missing or failed and how it differs from the protocol; a
    category or overall label names the paper only when every member is under the protocol."""
    rows = []
    for t in summary.tasks.values():
        note = "" if t.complete else f"missing: {' '.join(t.missing)}"
        if t.failed:
            note += f" failed: {' '.join(sorted(t.failed))}"
        if t.deviations:
            note += f" not protocol: {'; '.join(t.deviations)}"
        partial = "" if t.complete or t.partial_mean is None else f" (partial mean {fmt(t.partial_mean)})"
        rows.append([t.task, t.category or "-", fmt(t.score) + partial, t.split,
                     f"{len(t.per_language)}/{len(t.protocol_languages)}", note.strip()])
    for cat, val in summary.categories.items():
        paper = summary.is_protocol(cat)
        note = "incomplete" if val is None else ("" if paper else _not_protocol(summary.deviations(cat)))
        rows.append([f"[{cat}]", "category mean" if paper else "category mean (not the paper's protocol)", fmt(val), "", "", note])
    paper = summary.is_protocol()
    note = "" if paper else _not_protocol(summary.deviations())
    rows.append(["overall (mean of category means, XTREME-R paper)" if paper else
                 "overall (mean of category means as in the XTREME-R paper; not its protocol)", "",
                 fmt(summary.overall_category_mean), "", "", note])
    rows.append(["overall (mean over tasks, official evaluate.py)" if paper else
                 "overall (mean over tasks as official evaluate.py; not the protocol)", "",
                 fmt(summary.overall_task_mean), "", "", note])
    return rows


def _not_protocol(deviations: list[str]) -> str:
    return "not the paper's: " + "; ".join(deviations)


SUMMARY_HEADER = ["task", "category", "score", "split", "languages", "note"]


# --------------------------------------------------------------------------------------------------
# from the results store
# --------------------------------------------------------------------------------------------------


@dataclass
class StoreScores:
    """Main scores and failures per task gathered from the store for one encoder and setup."""

    scores: dict[str, dict[str, float]]
    failed: dict[str, dict[str, str]]
    records: dict[str, Record]  # task -> Record
    setups: dict[str, str]  # task -> setup id read


def auto_setup_id(spec, encoder: str | None = None, benchmark: str | None = None) -> tuple[str, ...]:
    """Setup ids that ``--setup auto`` may have used for a task: its own target adapter (named like the
    task, or ``<task>__<encoder>`` when that name was taken by another encoder's adapter, see
    :func:`toolkit.evaluate.auto_adapter_name`); on XTREME-R, for Tatoeba the SQuAD v1.1 adapter first
    (:data:`XTREME_R_RETRIEVAL_ADAPTER`); else, for retrieval, the bare encoder."""
    names = dict.fromkeys(n for n in (XTREME_R_RETRIEVAL_ADAPTER.get(spec.name) if benchmark == "xtreme-r" else None,
                                       spec.name) if n)
    ids = tuple(i for n in names for i in (n, *((f"{n}__{encoder_slug(encoder)}",) if encoder else ())))
    return ids + ("none",) if get_family(spec).SCORED_UNTRAINED else ids


def scores_from_store(store, encoder: str, setup: str, benchmark: str) -> StoreScores:
    """Per-language main scores of ``benchmark``'s tasks for ``encoder`` and ``setup`` (``auto``: per task
    its own target adapter, or for retrieval tasks the bare encoder when no adapter was trained)."""
    from .results import RecordKey, encoder_id
    from .setups import setup_id

    enc = encoder_id(encoder)
    out = StoreScores({}, {}, {}, {})
    for spec in target_tasks(benchmark):
        ids = auto_setup_id(spec, encoder, benchmark) if setup == "auto" else (setup_id(setup),)
        for sid in ids:
            rec = store.get(RecordKey(enc, sid, spec.name))
            if rec is not None:
                out.scores[spec.name] = rec.scores()
                out.failed[spec.name] = rec.failed()
                out.records[spec.name] = rec
                out.setups[spec.name] = sid
                break
    return out


def language_rows(gathered: StoreScores, by: str = "task") -> tuple[list[str], list[list[str]]]:
    """Main scores per task and language: one row per task and one column per language (the union,
    sorted), or with ``by="language"`` one row per language and one column per task (what fits a
    terminal once a benchmark has dozens of languages). ``FAIL`` marks a failed language, blank none."""
    if by not in ("task", "language"):
        raise ValueError(f"by must be 'task' or 'language', not {by!r}")
    langs = sorted({lang for s in gathered.scores.values() for lang in s} | {lang for f in gathered.failed.values() for lang in f})
    tasks = list(gathered.scores)

    def cell(task: str, lang: str) -> str:
        per = gathered.scores[task]
        return fmt(per[lang]) if lang in per else ("FAIL" if lang in gathered.failed.get(task, {}) else "")

    if by == "language":
        return ["lang", *tasks], [[lang] + [cell(t, lang) for t in tasks] for lang in langs]
    return ["task", *langs], [[task] + [cell(task, lang) for lang in langs] for task in tasks]


CI_HEADER = ["task", "lang", "score", "95% CI", "examples", "resamples"]


def ci_rows(gathered: StoreScores) -> list[list[str]]:
    """Per task and language whose record stores a bootstrap CI (``LangResult.ci``): the main score and its
    interval over the test examples. Languages scored without one (older records) are left out."""
    rows = []
    for task, rec in gathered.records.items():
        for lang, entry in sorted(getattr(rec, "languages", {}).items()):
            ci = entry.ci if entry.status == "ok" else None
            if ci:
                rows.append([task, lang, fmt(entry.main), f"[{fmt(ci['low'])}, {fmt(ci['high'])}]",
                             str(ci.get("n_examples", entry.n_examples)), str(ci.get("resamples", ""))])
    return rows


def write_report(summary: BenchmarkSummary, gathered: StoreScores, out_dir, artifacts_dir=None) -> dict[str, str]:
    """Write summary.csv, languages.csv and report.md into ``out_dir`` (atomically); return their paths.
    With the adapters' training logs in ``artifacts_dir``, also training_curves.png (:func:`training_logs`)."""
    import csv
    import io
    from pathlib import Path

    from .io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lang_header, lang_rows = language_rows(gathered)
    files = {}
    for name, header, rows in (("summary.csv", SUMMARY_HEADER, summary_rows(summary)), ("languages.csv", lang_header, lang_rows)):
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        files[name] = str(atomic_write_text(out / name, buf.getvalue()))
    md = [f"# xta report: {summary.benchmark}\n", "## Summary\n", to_markdown(SUMMARY_HEADER, summary_rows(summary)),
          "\n## Per language (main score)\n", to_markdown(lang_header, lang_rows)]
    intervals = ci_rows(gathered)
    if intervals:
        md += ["\n## Per language: 95% percentile bootstrap CI over the test examples\n", to_markdown(CI_HEADER, intervals)]
    logs = training_logs(gathered, artifacts_dir)
    if logs:
        from .plots import TRAINING_CURVES, write_training_curves

        if write_training_curves(logs, out) is not None:
            files[TRAINING_CURVES] = str(out / TRAINING_CURVES)
            md += ["\n## Training curves\n", f"Loss and learning rate per optimizer step of {', '.join(f'`{n}`' for n in logs)} "
                   "(each adapter's `train_log.jsonl`).\n", f"![training curves]({TRAINING_CURVES})\n"]
    files["report.md"] = str(atomic_write_text(out / "report.md", "\n".join(md)))
    return files


def training_logs(gathered: StoreScores, artifacts_dir=None) -> dict[str, list[dict]]:
    """``{adapter: its train_log.jsonl lines}`` for the adapters the gathered records name (their setup's
    ``adapter_hashes``) whose folder under ``<artifacts>/adapters/`` holds a training log."""
    from .tracking import adapter_logs

    return adapter_logs((name for rec in gathered.records.values()
                         for name in ((getattr(rec, "setup", None) or {}).get("adapter_hashes") or {})), artifacts_dir)

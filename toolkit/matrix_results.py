"""A run transfer matrix's results: per-cell scores and per-example rows gathered from the store, gains with
their paired tests (:class:`GainTests`), cost, and the plain table rows the CLI and the report render.
Planning and running live in :mod:`toolkit.matrix`."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from .artifacts import adapter_dir, read_card
from .errors import ConfigError, XtaError
from .matrix_config import BASELINE, MatrixConfig

if TYPE_CHECKING:
    from .matrix import Outcome, Plan

log = logging.getLogger(__name__)


@dataclass
class Cost:
    """Training cost of the matrix, and what full fine-tuning of the same cells would store."""

    trainings: int  # adapters in the matrix
    trained_now: int  # adapters this run trained (the rest were found finished)
    steps: int  # optimizer steps of every adapter in the matrix (from their cards)
    steps_now: int
    train_seconds: float  # wall time of this run's trainings
    eval_seconds: float
    wall_seconds: float
    adapter_bytes: int  # the matrix's adapter directories on disk
    encoder_parameters: int
    full_finetune_bytes: int  # one full fp32 model copy per trained cell: parameters x 4 bytes

    @property
    def ratio(self) -> float | None:
        return self.full_finetune_bytes / self.adapter_bytes if self.adapter_bytes else None


@dataclass
class MatrixRun:
    """A planned and executed matrix: per cell its per-language scores, failures and gains."""

    plan: Plan
    outcomes: dict[str, Outcome]
    scores: dict[tuple[str, str, str], dict[str, float]]  # (target, recipe, intermediate) -> lang -> main score
    failed: dict[tuple[str, str, str], dict[str, str]]
    cost: Cost
    # (target, recipe, intermediate) -> lang -> the stored per-example rows (toolkit.stats.ExampleRows)
    rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _tests: GainTests | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def config(self) -> MatrixConfig:
        return self.plan.config

    @property
    def tests(self) -> GainTests:
        """Every gain's paired CI and test, corrected over the matrix (computed once, from ``rows``)."""
        if self._tests is None:
            self._tests = gain_tests(self)
        return self._tests

    @property
    def work_done(self) -> bool:
        return any(o.status in ("trained", "evaluated") for o in self.outcomes.values())

    def baseline(self, target: str) -> dict[str, float]:
        return self.scores.get((target, BASELINE, BASELINE), {})

    def gains(self, recipe: str) -> dict[str, dict[str, dict[str, float]]]:
        """``{target: {intermediate: {lang: gain}}}`` for one recipe (:func:`gains`)."""
        inters = self.config.intermediates[1:]
        measured = {t: {i: self.scores[(t, recipe, i)] for i in inters if (t, recipe, i) in self.scores}
                    for t in self.config.targets}
        return gains(measured, {t: self.baseline(t) for t in self.config.targets})

    def mean_gain(self, target: str, recipe: str, intermediate: str) -> float | None:
        """Mean gain over the target's languages; None unless the cell and the baseline have every
        language the baseline scored (no average over incomplete languages)."""
        base = self.baseline(target)
        cell = self.scores.get((target, recipe, intermediate))
        if not base or cell is None or any(lang not in cell for lang in base):
            return None
        return fmean(cell[lang] - base[lang] for lang in base)

    def missing_languages(self, target: str) -> list[str]:
        """Languages of the target that the baseline could not score (failed or not run)."""
        base = self.baseline(target)
        return [lang for lang in self.plan.languages[target] if lang not in base]


def gains(measured: Mapping[str, Mapping[str, Mapping[str, float]]],
          baseline: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """Transfer gains ``{target: {candidate: {lang: score - baseline score}}}`` from measured scores
    ``{target: {candidate: {lang: score}}}`` and the no-intermediate baseline ``{target: {lang: score}}``.
    Languages without a baseline score are left out (a gain needs both)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for target, cands in measured.items():
        base = baseline.get(target)
        if base is None:
            raise ConfigError(f"no baseline scores for target {target!r}: gains need the no-intermediate run")
        out[target] = {c: {lang: s - base[lang] for lang, s in per.items() if lang in base} for c, per in cands.items()}
    return out


@dataclass
class GainTests:
    """The uncertainty of a matrix's gains (``toolkit.stats``), corrected by ``method`` within two families:
    the table's mean gains (per cell over the target's languages, and per intermediate over targets) and
    the per-language gains. A gain without stored per-example rows on both sides has no entry."""

    method: str
    resamples: int
    permutations: int
    cells: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # (target, recipe, inter) -> Comparison
    means: dict[tuple[str, str], Any] = field(default_factory=dict)  # (recipe, inter) -> over every target
    languages: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)  # (target, recipe, inter, lang)

    @property
    def enabled(self) -> bool:
        return self.resamples > 0 and self.permutations > 0


def gain_tests(run: MatrixRun) -> GainTests:
    """Paired bootstrap CIs and approximate-randomization tests of every gain of ``run`` over its baseline
    on the same examples; means over languages (and over targets) resample examples within each language;
    then ``config.correction`` over each family."""
    from .errors import DataError
    from .stats import adjust, compare, compare_languages, derived_seed

    cfg = run.config
    out = GainTests(cfg.correction, cfg.resamples, cfg.permutations)
    if not out.enabled:
        return out
    n: dict[str, Any] = dict(resamples=cfg.resamples, permutations=cfg.permutations)
    for recipe in cfg.recipes:
        for inter in cfg.intermediates[1:]:
            strata: dict[tuple[str, str], tuple[Any, Any]] = {}
            complete = True
            for target in cfg.targets:
                base, cell = run.rows.get((target, BASELINE, BASELINE), {}), run.rows.get((target, recipe, inter), {})
                pairs = {}
                for lang in run.baseline(target):
                    if lang in base and lang in cell:
                        try:
                            out.languages[(target, recipe, inter, lang)] = compare(
                                base[lang], cell[lang], seed=derived_seed(cfg.seed, target, recipe, inter, lang), **n)
                            pairs[lang] = (base[lang], cell[lang])
                        except DataError as exc:
                            log.warning("%s/%s/%s/%s: no paired test (%s)", target, recipe, inter, lang, exc)
                if pairs and run.mean_gain(target, recipe, inter) is not None and len(pairs) == len(run.baseline(target)):
                    out.cells[(target, recipe, inter)] = compare_languages(
                        pairs, seed=derived_seed(cfg.seed, target, recipe, inter), **n)
                    strata.update({(target, lang): p for lang, p in pairs.items()})
                else:
                    complete = False
            if complete and strata and len(cfg.targets) > 1:  # one target: its mean is the cell's own test
                per_target = {t: sum(1 for tt, _ in strata if tt == t) for t, _ in strata}
                weights = {k: 1.0 / (len(per_target) * per_target[k[0]]) for k in strata}
                out.means[(recipe, inter)] = compare_languages(strata, seed=derived_seed(cfg.seed, recipe, inter),
                                                               weights=weights, **n)
    for family in (("cells", "means"), ("languages",)):
        keyed = [(name, key) for name in family for key in getattr(out, name)]
        adjusted = adjust([getattr(out, name)[key].p_value for name, key in keyed], cfg.correction)
        for (name, key), p in zip(keyed, adjusted):
            table = getattr(out, name)
            table[key] = dataclasses.replace(table[key], p_adjusted=p)
    return out


def collect_rows(plan: Plan, scores: Mapping[tuple[str, str, str], Mapping[str, float]]) -> dict:
    """Per cell and scored language: the per-example rows stored beside the predictions (None-free)."""
    from .errors import DataError
    from .results import RecordKey, ResultStore, encoder_id
    from .setups import setup_id

    store = ResultStore(plan.config.results_dir)
    enc = encoder_id(plan.config.model)
    out: dict = {}
    for cell in plan.cells:
        key = (cell.target, cell.recipe, cell.intermediate)
        if cell.setup is None or key not in scores:
            continue
        rkey = RecordKey(enc, setup_id(cell.setup), cell.target)
        found = {}
        for lang in scores[key]:
            try:
                rows = store.get_example_rows(rkey, lang)
            except DataError as exc:
                log.warning("%s", exc)
                rows = None
            if rows is not None:
                found[lang] = rows
        out[key] = found
    return out


def collect_scores(plan: Plan) -> tuple[dict, dict]:
    """Per cell: main scores and failures per language, read from the results store."""
    from .results import RecordKey, ResultStore, encoder_id
    from .setups import setup_id

    store = ResultStore(plan.config.results_dir)
    enc = encoder_id(plan.config.model)
    scores, failed = {}, {}
    for cell in plan.cells:
        if cell.setup is None:
            continue
        key = (cell.target, cell.recipe, cell.intermediate)
        rec = store.get(RecordKey(enc, setup_id(cell.setup), cell.target))
        langs = plan.languages[cell.target]
        scores[key] = {l: s for l, s in (rec.scores() if rec else {}).items() if l in langs}
        failed[key] = {l: e for l, e in (rec.failed() if rec else {}).items() if l in langs}
    return scores, failed


def encoder_parameters(model: str) -> int:
    """Parameters of the encoder from its safetensors headers (no weights loaded)."""
    from .encoders import resolve_encoder
    from .io import safetensors_header

    _, path = resolve_encoder(model)
    total = 0
    for file in sorted(Path(path).glob("*.safetensors")):
        for name, info in safetensors_header(file).items():
            if name != "__metadata__":
                total += math.prod(info["shape"])
    return total


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def compute_cost(plan: Plan, outcomes: Mapping[str, Outcome], wall: float) -> Cost:
    cfg = plan.config
    trainings = plan.trainings
    steps = 0
    for node in trainings:
        name = node.train_config.name
        try:
            steps += int(read_card(name, cfg.artifacts_dir).get("steps", 0))
        except (OSError, XtaError, ValueError):
            continue
    done = [outcomes[n.id] for n in trainings if n.id in outcomes]
    params = encoder_parameters(cfg.model)
    return Cost(
        trainings=len(trainings), trained_now=sum(o.status == "trained" for o in done), steps=steps,
        steps_now=sum(o.steps for o in done), train_seconds=round(sum(o.seconds for o in done), 1),
        eval_seconds=round(sum(o.seconds for o in outcomes.values() if o.node.startswith("eval:")), 1),
        wall_seconds=round(wall, 1),
        adapter_bytes=sum(_dir_bytes(adapter_dir(n.train_config.name, cfg.artifacts_dir)) for n in trainings),
        encoder_parameters=params, full_finetune_bytes=len(trainings) * params * 4,
    )


def _fmt(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _gain_text(value: float | None, test: Any) -> str:
    """``+1.2 [-0.3, +2.7]*`` (the paired CI; ``*``: significant after correction) or ``+1.2`` without a test."""
    return test.fmt() if test is not None else _fmt(value)


TRANSLATE_TRAIN = "translate-train"


def translated_entry(entry: str) -> bool:
    """An intermediate entry with a ``+tt`` member: trained on translated data (issue 21)."""
    from .matrix_config import parse_intermediate

    return any(m.translated for m in parse_intermediate(entry))


def _inter_label(inter: str) -> str:
    return f"{inter} ({TRANSLATE_TRAIN})" if translated_entry(inter) else inter


def _target_label(cfg: MatrixConfig, target: str) -> str:
    """A target whose own adapter trains on translated data (``train_langs`` override): every cell of it,
    the baseline included, is translate-train rather than zero-shot."""
    return f"{target} ({TRANSLATE_TRAIN})" if cfg.override(target).train_langs else target


def gain_rows(run: MatrixRun, recipe: str) -> tuple[list[str], list[list[str]]]:
    """Rows: intermediate sets; columns: targets (mean gain over languages) and their mean; each gain with
    its 95% CI and a ``*`` when significant after correction, where the per-example rows are stored
    (see :func:`significance_note`)."""
    targets = list(run.config.targets)
    header = ["intermediate", *[_target_label(run.config, t) for t in targets], "mean"]
    tests = run.tests
    rows = [["none (baseline score)", *[_fmt(mean_score(run.baseline(t)), signed=False) for t in targets], ""]]
    for inter in run.config.intermediates[1:]:
        vals = [run.mean_gain(t, recipe, inter) for t in targets]
        cells = [_gain_text(v, tests.cells.get((t, recipe, inter))) if v is not None else _why_missing(run, t, recipe, inter)
                 for t, v in zip(targets, vals)]
        usable = [v for v in vals if v is not None]
        mean_test = tests.means.get((recipe, inter)) if len(targets) > 1 else tests.cells.get((targets[0], recipe, inter))
        mean = _gain_text(fmean(usable), mean_test) if usable and len(usable) == len(vals) else "-"
        rows.append([_inter_label(inter), *cells, mean])
    return header, rows


def significance_note(run: MatrixRun) -> str:
    """One sentence that says what the brackets and the marker in the gain tables mean."""
    from .stats import CORRECTION_NAMES

    t = run.tests
    if not t.enabled:
        return "Gains without confidence intervals or tests (resamples or permutations set to 0)."
    if not (t.cells or t.languages):
        return ("No confidence intervals: the results store holds no per-example scores for these gains "
                "(computed before xta stored them; re-evaluate to add them).")
    fam = len(t.cells) + len(t.means)
    correction = ("no correction for multiple comparisons" if t.method == "none" else
                  f"{CORRECTION_NAMES[t.method]} correction over the {fam} mean gains of the matrix "
                  f"(per-language gains: over their {len(t.languages)})")
    return (f"[lo, hi]: 95% paired bootstrap CI over the same test examples ({t.resamples} resamples; means over "
            f"languages or targets resample examples within each language). *: significant at p < 0.05 "
            f"(approximate randomization, {t.permutations} permutations) after {correction}.")


def significance_summary(run: MatrixRun) -> str:
    """Plain words: how many gains are significant after correction, or that none is."""
    from .stats import CORRECTION_NAMES

    t = run.tests
    if not t.enabled or not (t.cells or t.languages):
        return "Significance not tested."
    after = "without correction" if t.method == "none" else f"after {CORRECTION_NAMES[t.method]} correction"
    means = [c for c in (*t.cells.values(), *t.means.values())]
    langs = list(t.languages.values())
    sig_means, sig_langs = sum(c.significant for c in means), sum(c.significant for c in langs)
    if not sig_means and not sig_langs:
        return (f"No gain is significant {after} (0 of {len(means)} mean gains, 0 of {len(langs)} per-language "
                "gains): these differences are within the noise of the test examples.")
    return (f"{sig_means} of {len(means)} mean gains and {sig_langs} of {len(langs)} per-language gains are "
            f"significant (p < 0.05) {after}; the others are within the noise of the test examples.")


def mean_score(scores: Mapping[str, float]) -> float | None:
    return fmean(scores.values()) if scores else None


def _why_missing(run: MatrixRun, target: str, recipe: str, inter: str) -> str:
    cell = next((c for c in run.plan.cells if (c.target, c.recipe, c.intermediate) == (target, recipe, inter)), None)
    if cell is not None and cell.setup is None:
        return "n/a"
    outcome = run.outcomes.get(cell.eval_node) if cell and cell.eval_node is not None else None
    if outcome is not None and outcome.status in ("failed", "blocked"):
        return "failed"
    return "incomplete"


def language_rows(run: MatrixRun, recipe: str, target: str) -> tuple[list[str], list[list[str]]]:
    """Rows: intermediate sets; columns: the target's languages (gains; the baseline row: scores)."""
    base = run.baseline(target)
    langs = [lang for lang in run.plan.languages[target] if lang in base]
    rows = [["none (score)", *[_fmt(base[l], signed=False) for l in langs]]]
    tests = run.tests.languages
    for inter in run.config.intermediates[1:]:
        cell = run.scores.get((target, recipe, inter), {})
        rows.append([_inter_label(inter), *[_gain_text(cell[l] - base[l], tests.get((target, recipe, inter, l))) if l in cell else "-"
                                            for l in langs]])
    return ["intermediate", *langs], rows


def cost_rows(cost: Cost) -> list[list[str]]:
    def human(n: float) -> str:
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if n < 1024 or unit == "TB":
                return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
            n /= 1024
        return str(n)

    ratio = f" ({cost.ratio:.0f}x the adapters)" if cost.ratio else ""
    return [
        ["trainings (adapters)", f"{cost.trainings} ({cost.trained_now} trained in this run)"],
        ["optimizer steps", f"{cost.steps} ({cost.steps_now} in this run)"],
        ["wall time (this run)", f"{cost.wall_seconds:.1f} s (training {cost.train_seconds:.1f} s, evaluation {cost.eval_seconds:.1f} s)"],
        ["adapters on disk", human(cost.adapter_bytes)],
        ["full fine-tuning of the same cells", f"{human(cost.full_finetune_bytes)}{ratio}: {cost.trainings} copies of "
                                               f"{cost.encoder_parameters / 1e6:.1f}M fp32 parameters"],
    ]


def status_counts(run: MatrixRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in run.outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts

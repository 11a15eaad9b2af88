"""Figures of a transfer matrix (matplotlib, Agg backend: no display needed) and the matrix report.

Three figures, each built as a ``Figure`` first (tests read its axes back) and then saved as PNG:

* :func:`gain_heatmap`: intermediate set x target, the mean gain over languages (target score with the
  intermediate set minus the score without one; blank where the cell is not applicable or incomplete);
  where the matrix has paired tests (``MatrixRun.tests``), a gain that is not significant after the
  matrix's correction is greyed out and a significant one is marked ``*``; the same in :func:`language_heatmap`;
* :func:`language_heatmap`: (target, intermediate) x language, the gain per language;
* :func:`resource_plot`: mean gain per language resource group (Joshi et al. 2020 classes 0-2 low,
  3 mid, 4-5 high; :attr:`toolkit.languages.Language.resource_group`), one bar per intermediate set, with
  95% CI error bars from examples resampled within each of the group's languages (where rows are stored).

and, for selection (``xta select --evaluate``), :func:`diversity_plot`: mean gain against the diversity of the
intermediate set, one panel per language group, written with the selector table by :func:`write_selection_report`.

Colours: a diverging map centred on zero (red = worse than the baseline, blue = better), symmetric
limits, so the sign of a gain is visible at a glance.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from statistics import fmean
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .tables import to_markdown  # noqa: E402

__all__ = ["gain_heatmap", "language_heatmap", "resource_plot", "diversity_plot", "save_figure", "write_matrix_report",
           "write_selection_report", "selector_rows", "selector_interval_rows", "diversity_rows", "trend_lines", "RESOURCE_GROUPS",
           "training_curves", "write_training_curves"]

RESOURCE_GROUPS = ("low", "mid", "high")
_CMAP = "RdBu"
_GREY = "0.86"  # cells whose gain is not significant after correction


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _heatmap(values: np.ndarray, rows: list[str], cols: list[str], title: str, annotate: bool,
             significant: np.ndarray | None = None, xlabel: str = "", ylabel: str = "") -> Figure:
    """``significant``: per cell 1 (significant after correction: annotated with ``*``), 0 (not: greyed
    out) or NaN (not tested: drawn as it is). A NaN value (no gain: not applicable or not scored) is hatched
    and labelled ``n/a``, never drawn as the white of a zero gain. ``xlabel``/``ylabel``: the axis titles."""
    tilt = len(cols) > 6 or max((len(c) for c in cols), default=0) > 8  # long names would overlap flat
    longest = max((len(r) for r in rows), default=0)  # row labels such as mt_anli_and_siqa need room
    row_inches = 0.45 if len(rows) <= 16 else 0.24  # many rows (one per language): 9-point labels still fit
    fig = Figure(figsize=(max(5.5, 0.55 * len(cols) + 3.0 + 0.065 * longest), max(3.0, row_inches * len(rows) + 2.2)),
                 dpi=100, layout="constrained")
    ax = fig.add_subplot()
    if len(rows) > 16:
        ax.tick_params(axis="y", labelsize=8)
    lim = _limit(values)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=_CMAP, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), labels=cols, rotation=35 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_title("\n".join(textwrap.wrap(title, 48)), fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(image, ax=ax, label="gain (points)")
    sig = np.full(values.shape, np.nan) if significant is None else significant
    for (i, j), flag in np.ndenumerate(sig):
        if flag == 0 and math.isfinite(values[i, j]):  # tested, not significant: grey over the colour
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=_GREY, edgecolor="white", linewidth=0.5,
                                   gid="not-significant"))
    for (i, j), v in np.ndenumerate(values):
        if not math.isfinite(v):  # no gain here: hatched, unlike a zero gain (white in the diverging map)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="0.55", hatch="///",
                                   linewidth=0.0, gid="not-applicable"))
            if annotate:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="0.3",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    if annotate:
        for (i, j), v in np.ndenumerate(values):
            if math.isfinite(v):
                grey = sig[i, j] == 0
                ax.text(j, i, f"{v:+.1f}" + ("*" if sig[i, j] == 1 else ""), ha="center", va="center", fontsize=8,
                        color="black" if grey or abs(v) <= 0.6 * lim else "white")  # readable on dark cells
    notes = []
    if np.isfinite(sig).any():
        notes.append("* significant after correction; grey: not significant")
    if not np.isfinite(values).all():
        notes.append("hatched (n/a): no gain (not applicable or not scored)")
    if notes:
        fig.supxlabel("; ".join(notes), fontsize=7)
    return fig


def gain_heatmap(run: Any, recipe: str) -> Figure:
    """Intermediate sets (rows) x targets (columns): mean gain over languages for ``recipe``."""
    rows = list(run.config.intermediates[1:])
    cols = list(run.config.targets)
    values = np.full((len(rows), len(cols)), np.nan)
    significant = np.full((len(rows), len(cols)), np.nan)
    tests = _tests(run)
    for i, inter in enumerate(rows):
        for j, target in enumerate(cols):
            gain = run.mean_gain(target, recipe, inter)
            values[i, j] = np.nan if gain is None else gain
            test = tests.cells.get((target, recipe, inter)) if tests else None
            significant[i, j] = np.nan if test is None else float(test.significant)
    return _heatmap(values, rows, cols, f"mean gain over the no-intermediate baseline ({recipe})", annotate=True,
                    significant=significant, xlabel="target task", ylabel="intermediate task")


def _tests(run: Any):
    """The run's corrected gain tests (``MatrixRun.tests``), or None for an object without them."""
    return getattr(run, "tests", None)


def language_heatmap(run: Any, recipe: str) -> Figure:
    """(target <- intermediate) rows x languages (union over targets, sorted): gain per language."""
    gains = run.gains(recipe)
    tests = _tests(run)
    rows, per_row, keys = [], [], []
    for target in run.config.targets:
        for inter in run.config.intermediates[1:]:
            if inter in gains.get(target, {}):
                rows.append(f"{target} <- {inter}")
                per_row.append(gains[target][inter])
                keys.append((target, inter))
    cols = sorted({lang for g in per_row for lang in g})
    values = np.array([[g.get(lang, np.nan) for lang in cols] for g in per_row], dtype=float).reshape(len(rows), len(cols))
    significant = np.full(values.shape, np.nan)
    for i, (target, inter) in enumerate(keys):
        for j, lang in enumerate(cols):
            test = tests.languages.get((target, recipe, inter, lang)) if tests else None
            significant[i, j] = np.nan if test is None else float(test.significant)
    title = f"gain per language ({recipe})"
    if len(cols) > 16:  # many languages: one row each (a tall, legible figure instead of a 3000-pixel strip)
        return _heatmap(values.T, cols, rows, title, annotate=len(rows) <= 8, significant=significant.T,
                        xlabel="target <- intermediate task", ylabel="language")
    return _heatmap(values, rows, cols, title, annotate=True, significant=significant, xlabel="language",
                    ylabel="target <- intermediate task")


def resource_gains(run: Any, recipe: str) -> dict[str, dict[str, float | None]]:
    """``{intermediate: {group: mean gain}}`` over every (target, language) of the group; None if none."""
    from .languages import get

    out: dict[str, dict[str, float | None]] = {}
    gains = run.gains(recipe)
    for inter in run.config.intermediates[1:]:
        by_group: dict[str, list[float]] = {g: [] for g in RESOURCE_GROUPS}
        for target in run.config.targets:
            for lang, gain in gains.get(target, {}).get(inter, {}).items():
                by_group[get(lang).resource_group].append(gain)
        out[inter] = {g: (fmean(v) if v else None) for g, v in by_group.items()}
    return out


def resource_intervals(run: Any, recipe: str) -> dict[str, dict[str, Any]]:
    """``{intermediate: {group: Comparison}}``: the paired 95% CI of each group's mean gain, resampling the
    examples within every (target, language) of the group (``toolkit.stats.compare_languages``); only where
    every one of them has stored per-example rows on both sides."""
    from .errors import DataError
    from .languages import get
    from .stats import compare_languages, derived_seed

    tests = _tests(run)
    if tests is None or not tests.enabled:
        return {}
    cfg, all_rows, gains = run.config, getattr(run, "rows", {}), run.gains(recipe)
    out: dict[str, dict[str, Any]] = {}
    for inter in cfg.intermediates[1:]:
        strata: dict[str, dict] = {g: {} for g in RESOURCE_GROUPS}
        complete: dict[str, bool] = dict.fromkeys(RESOURCE_GROUPS, True)
        for target in cfg.targets:
            base, cell = all_rows.get((target, "none", "none"), {}), all_rows.get((target, recipe, inter), {})
            for lang in gains.get(target, {}).get(inter, {}):
                group = get(lang).resource_group
                if lang in base and lang in cell:
                    strata[group][(target, lang)] = (base[lang], cell[lang])
                else:
                    complete[group] = False
        out[inter] = {}
        for group, pairs in strata.items():
            if pairs and complete[group]:
                try:
                    out[inter][group] = compare_languages(pairs, resamples=cfg.resamples, permutations=cfg.permutations,
                                                          seed=derived_seed(cfg.seed, "group", recipe, inter, group))
                except DataError:
                    continue
    return out


def resource_plot(run: Any, recipe: str) -> Figure:
    """Mean gain per resource group (x), one bar per intermediate set, with its 95% CI where the per-example
    rows are stored (:func:`resource_intervals`)."""
    data = resource_gains(run, recipe)
    intervals = resource_intervals(run, recipe)
    fig = Figure(figsize=(6.0, 3.5), dpi=100)
    ax = fig.add_subplot()
    x = np.arange(len(RESOURCE_GROUPS))
    width = 0.8 / max(1, len(data))
    for k, (inter, groups) in enumerate(data.items()):
        heights = [v if v is not None else 0.0 for v in (groups[g] for g in RESOURCE_GROUPS)]
        ci = [intervals.get(inter, {}).get(g) for g in RESOURCE_GROUPS]
        yerr = None
        if any(c is not None for c in ci):
            yerr = np.array([[h - c.low if c else 0.0 for h, c in zip(heights, ci)],
                             [c.high - h if c else 0.0 for h, c in zip(heights, ci)]]).clip(min=0.0)
        at = x + (k - (len(data) - 1) / 2) * width
        ax.bar(at, heights, width, label=inter, yerr=yerr, capsize=3)
        for pos, g in zip(at, RESOURCE_GROUPS):
            if groups[g] is None:  # no language of the group: say so, not a zero-height bar that reads as no gain
                ax.text(pos, 0.0, "n/a", ha="center", va="bottom", fontsize=7, color="0.35", rotation=90)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, labels=[f"{g}-resource" for g in RESOURCE_GROUPS])
    ax.set_xlabel("language resource level (Joshi et al. 2020 classes: low 0-2, mid 3, high 4-5)", fontsize=8)
    ax.set_ylabel("mean gain (points)")
    ax.set_title(f"gain by language resource level ({recipe})", fontsize=10)
    if data:
        ax.legend(title="intermediate task", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` as PNG and write it atomically."""
    from .io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())


# --------------------------------------------------------------------------------------------------
# training curves (train_log.jsonl, toolkit.tracking)
# --------------------------------------------------------------------------------------------------

TRAINING_CURVES = "training_curves.png"


def training_curves(logs: dict[str, list[dict[str, Any]]]) -> Figure:
    """Training loss (mean over each logging window) and learning rate against the optimizer step, one line
    per adapter (``{name: the lines of its train_log.jsonl}``)."""
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, lines in logs.items():
        train = sorted((r["step"], r["loss"], r.get("learning_rate")) for r in lines if isinstance(r.get("loss"), (int, float)))
        if not train:
            continue
        steps = [t[0] for t in train]
        ax_loss.plot(steps, [t[1] for t in train], marker="." if len(train) < 50 else None, label=name)
        rates = [(t[0], t[2]) for t in train if isinstance(t[2], (int, float))]
        if rates:
            ax_lr.plot([r[0] for r in rates], [r[1] for r in rates], label=name)
    for ax, ylabel, title in ((ax_loss, "training loss (window mean)", "Training loss"),
                              (ax_lr, "learning rate", "Learning rate schedule")):
        ax.set_xlabel("optimizer step", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.set_title(title, fontsize=12)
        ax.grid(True, alpha=0.3)
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    n = len(ax_loss.get_lines())
    if n:
        ax_loss.legend(fontsize=9 if n <= 6 else 7, loc="best", ncol=1 if n <= 6 else 2)
    fig.tight_layout()
    return fig


def _training_curves_section(run: Any, out: Path, files: dict[str, str]) -> list[str]:
    """The matrix's trained adapters' curves (their train_log.jsonl), when any log is at hand."""
    from .tracking import adapter_logs

    names = [node.train.name for node_id, node in run.plan.nodes.items()  # trained now, or found trained
             if node.train is not None and getattr(run.outcomes.get(node_id), "status", None) in ("trained", "skipped")]
    path = write_training_curves(adapter_logs(names, run.config.artifacts_dir), out)
    if path is None:
        return []
    files[TRAINING_CURVES] = str(path)
    return ["\n## Training curves\n", "Loss and learning rate per optimizer step of the adapters this matrix trained "
            "(each adapter's `train_log.jsonl`).\n", f"![training curves]({TRAINING_CURVES})\n"]


def write_training_curves(logs: dict[str, list[dict[str, Any]]], out_dir: str | Path) -> Path | None:
    """``training_curves.png`` in ``out_dir`` when any log holds a loss line, else ``None`` (nothing written)."""
    logs = {name: lines for name, lines in logs.items() if any(isinstance(r.get("loss"), (int, float)) for r in lines)}
    if not logs:
        return None
    return save_figure(training_curves(logs), Path(out_dir) / TRAINING_CURVES)


# --------------------------------------------------------------------------------------------------
# the matrix report
# --------------------------------------------------------------------------------------------------


def write_matrix_report(run: Any, out_dir: str | Path, title: str = "xta transfer matrix") -> dict[str, str]:
    """``report.md`` (gain tables per recipe, per-language tables, cost) and the PNG figures it shows."""
    from .io import atomic_write_text
    from .matrix_results import cost_rows, gain_rows, language_rows, significance_note, significance_summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    cfg = run.config
    md = [f"# {title}\n",
          f"Encoder `{cfg.model}`, benchmark `{cfg.benchmark}`, seed {cfg.seed}. Gains are target scores with the "
          "intermediate set minus the score with no intermediate task (`none`), in points of each target's main "
          "metric; a mean exists only when every language the baseline scored is scored.\n",
          f"{significance_note(run)}\n", f"**{significance_summary(run)}**\n"]
    for recipe in cfg.recipes:
        header, rows = gain_rows(run, recipe)
        md += [f"## Recipe `{recipe}`\n", to_markdown(header, rows)]
        for name, fig in (("gains", gain_heatmap(run, recipe)), ("languages", language_heatmap(run, recipe)),
                          ("resource", resource_plot(run, recipe))):
            png = f"{name}_{recipe}.png"
            files[png] = str(save_figure(fig, out / png))
            md.append(f"\n![{name} ({recipe})]({png})\n")
        for target in cfg.targets:
            header, rows = language_rows(run, recipe, target)
            md += [f"\n### {target}: per language ({recipe})\n", to_markdown(header, rows)]
            missing = run.missing_languages(target)
            if missing:
                md.append(f"\nNo baseline score (failed or not run): {' '.join(missing)}\n")
    md += ["\n## Cost\n", to_markdown(["", "value"], cost_rows(run.cost))]
    md += _training_curves_section(run, out, files)
    files["report.md"] = str(atomic_write_text(out / "report.md", "\n".join(md)))
    return files


# --------------------------------------------------------------------------------------------------
# selection: gain vs. diversity of the intermediate set, and the selector evaluation report
# --------------------------------------------------------------------------------------------------

DIVERSITY_GROUPS = ("all", "low", "mid", "high")


def diversity_plot(points: Any, recipe: str, resamples: int = 1000, seed: int = 0) -> Figure:
    """Mean transfer gain (y) against the diversity of the intermediate set (x: mean pairwise cosine
    distance of its tasks' dataset vectors, 0 for a single task), one panel per language group
    (all, then Joshi et al. low/mid/high), one marker per (target, intermediate entry), colour = target.
    Error bars: each gain's 95% paired-bootstrap CI (``point.intervals``, where known). Line: the OLS
    trend over the panel's points with its 95% case-bootstrap band and slope CI
    (:func:`toolkit.diversity.fit_trend`; at least 3 points and 2 distinct diversities)."""
    from .diversity import fit_trend

    targets = sorted({p.target for p in points})
    colours = {t: plt.get_cmap("tab10")(k % 10) for k, t in enumerate(targets)}
    fig = Figure(figsize=(3.4 * len(DIVERSITY_GROUPS), 3.8), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(DIVERSITY_GROUPS), sharey=True)
    for ax, group in zip(axes, DIVERSITY_GROUPS):
        shown = [p for p in points if group in p.gains]
        for target in targets:
            mine = [p for p in shown if p.target == target]
            if mine:
                ax.scatter([p.diversity for p in mine], [p.gains[group] for p in mine], color=colours[target],
                           label=target, s=28, zorder=3)
                for p in mine:
                    ci = getattr(p, "intervals", {}).get(group)
                    if ci is not None:
                        g = p.gains[group]
                        ax.errorbar([p.diversity], [g], yerr=[[max(g - ci[0], 0.0)], [max(ci[1] - g, 0.0)]],
                                    color=colours[target], linewidth=0.9, capsize=2, zorder=2, gid="gain-ci")
                    ax.annotate(p.entry, (p.diversity, p.gains[group]), fontsize=6, xytext=(3, 2),
                                textcoords="offset points")
        trend = fit_trend([p.diversity for p in shown], [p.gains[group] for p in shown], resamples, seed)
        if trend is not None:
            ax.plot(trend.grid, trend.intercept + trend.slope * trend.grid, color="black", linewidth=1.0,
                    linestyle="--", gid="trend",
                    label=f"OLS slope {trend.slope:+.1f} [{trend.slope_ci[0]:+.1f}, {trend.slope_ci[1]:+.1f}]")
            ax.fill_between(trend.grid, *trend.band, color="grey", alpha=0.2, linewidth=0, gid="trend-band")
            ax.legend(fontsize=6, loc="best")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"{group} languages" if group == "all" else f"{group}-resource", fontsize=9)
        ax.set_xlabel("set diversity (mean pairwise cosine distance)", fontsize=7)
        if not shown:
            ax.text(0.5, 0.5, "no languages", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    axes[0].set_ylabel("mean gain (points)")
    if points:
        axes[0].legend(fontsize=7)
    fig.suptitle(f"transfer gain vs. intermediate-set diversity ({recipe}); bars: 95% CI; band: 95% bootstrap "
                 "band of the OLS trend", fontsize=9)
    return fig


def diversity_rows(points: Any) -> tuple[list[str], list[list[str]]]:
    """Each diversity point's group gains, ``gain [lo, hi]`` where its CI is known."""
    def cell(p, g) -> str:
        if g not in p.gains:
            return "-"
        ci = getattr(p, "intervals", {}).get(g)
        return f"{p.gains[g]:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")

    return (["target", "entry", "diversity", *DIVERSITY_GROUPS],
            [[p.target, p.entry, f"{p.diversity:.4f}", *[cell(p, g) for g in DIVERSITY_GROUPS]] for p in points])


def trend_lines(points: Any, resamples: int = 1000, seed: int = 0) -> list[str]:
    """One sentence per language group: the OLS slope of gain on diversity with its bootstrap 95% CI."""
    from .diversity import fit_trend

    out = []
    for group in DIVERSITY_GROUPS:
        shown = [p for p in points if group in p.gains]
        trend = fit_trend([p.diversity for p in shown], [p.gains[group] for p in shown], resamples, seed)
        if trend is None:
            out.append(f"{group}: no trend ({len(shown)} points; needs 3 with 2 distinct diversities)")
            continue
        verdict = "no significant trend" if trend.slope_ci[0] <= 0.0 <= trend.slope_ci[1] else (
            "gains rise with diversity" if trend.slope > 0 else "gains fall with diversity")
        out.append(f"{group}: OLS slope {trend.slope:+.2f} points per unit of diversity, 95% bootstrap CI "
                   f"[{trend.slope_ci[0]:+.2f}, {trend.slope_ci[1]:+.2f}] over {trend.n} points: {verdict}")
    return out


def _interval_section(evaluation: Any) -> list[str]:
    intervals = getattr(evaluation, "intervals", None)
    if not intervals:
        return []
    header, rows = selector_interval_rows(intervals)
    return ["\n## With 95% bootstrap confidence intervals\n",
            "Per target: the group's languages resampled; `all targets`: targets resampled, then languages within "
            "each (two-stage percentile bootstrap). `vs. random`: the expected Regret@k of a uniformly random "
            "ranking of the same candidates minus the estimator's (> 0: better than random).\n",
            to_markdown(header, rows)]


def write_selection_report(evaluation: Any, out_dir: str | Path) -> dict[str, str]:
    """``selection.md`` (selector evaluation table, estimates, diversity points) and ``diversity_<recipe>.png``."""
    from .io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = f"diversity_{evaluation.recipe}.png"
    files = {png: str(save_figure(diversity_plot(evaluation.points, evaluation.recipe), out / png))}
    header, rows = selector_rows(evaluation.rows)
    md = ["# Intermediate-task selection against the measured matrix\n",
          f"Recipe `{evaluation.recipe}`. Regret@k in % of the best measured score (0 = the best candidate is in "
          "the top k), NDCG with the measured target scores as relevance, Spearman between estimator scores and "
          "gains (Poth et al. 2021).\n",
          to_markdown(header, rows),
          *_interval_section(evaluation),
          "\n## Estimates\n",
          to_markdown(["estimator", "target", "candidate", "score", "cost (s)"],
                      [[e.estimator, e.target, e.candidate, f"{e.score:.4f}", f"{e.cost.seconds:.2f}"]
                       for e in evaluation.estimates]),
          f"\n## Gain vs. diversity\n\n![gain vs. diversity]({png})\n",
          to_markdown(*diversity_rows(evaluation.points)),
          "\n" + "\n".join(f"- {line}" for line in trend_lines(evaluation.points)) + "\n"]
    if getattr(evaluation, "logme_data", None):
        md += ["\n## LogME labels\n"] + [f"- {t}: English {u}" for t, u in sorted(evaluation.logme_data.items())]
    if evaluation.skipped:
        md += ["\n## Skipped\n"] + [f"- {k}: {v}" for k, v in sorted(evaluation.skipped.items())]
    files["selection.md"] = str(atomic_write_text(out / "selection.md", "\n".join(md) + "\n"))
    return files


def selector_interval_rows(rows: Any) -> tuple[list[str], list[list[str]]]:
    """:func:`toolkit.selector_eval.selector_intervals` rows as ``value [lo, hi]`` cells ("all targets"
    first within each estimator and group)."""
    ks = sorted({int(k.split("@")[1]) for r in rows for k in r if k.startswith("regret@") and k[8:].isdigit()})
    metrics = [*(f"regret@{k}" for k in ks), *(f"regret@{k}_vs_random" for k in ks), "ndcg", "spearman"]
    header = ["estimator", "target", "group", *[m.replace("regret", "Regret").replace("_vs_random", " vs. random")
                                               .replace("ndcg", "NDCG").replace("spearman", "Spearman") for m in metrics]]

    def cell(r, m) -> str:
        v, ci = r.get(m), r.get(f"{m}_ci")
        if v is None:
            return "-"
        return f"{v:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    order = sorted(rows, key=lambda r: (r["group"], r["estimator"].startswith("random (expected)"), r["estimator"],
                                        r["target"] != "all targets", r["target"]))
    return header, [[r["estimator"], r["target"], r["group"], *[cell(r, m) for m in metrics]] for r in order]


def selector_rows(rows: Any) -> tuple[list[str], list[list[str]]]:
    """The selector evaluation table (:func:`toolkit.selection.evaluate_selectors` rows) as text cells."""
    ks = sorted({int(k.split("@")[1]) for r in rows for k in r if k.startswith("regret@")})
    header = ["estimator", "target", "group", "n", *[f"Regret@{k}" for k in ks], "NDCG", "Spearman"]

    def cell(v: float) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    return header, [[r["estimator"], r["target"], r["group"], str(r["n_candidates"]),
                     *[cell(r[f"regret@{k}"]) for k in ks], cell(r["ndcg"]), cell(r["spearman"])] for r in rows]

"""The X-STILTs study (issue 17): does English intermediate-task training help zero-shot cross-lingual
transfer of the embedded encoder, on the real files in ../shared/data, and by how much, with what certainty?

Built on ``xta matrix --seeds`` (``toolkit.matrix.run_matrix_seeds``) with its own results store and
artifacts (``--workdir``), so a killed run resumes: every finished adapter and scored language is reused.

* intermediates (English, offline): ANLI, SocialIQa, CosmosQA, COPA, TyDiQA-en, PAWS-X-en, PAN-X-en,
  each singly (recipe ``sequential``: the target adapter starts from the intermediate adapter), one
  multi-task adapter (``anli+siqa+pawsx``: one adapter trained jointly) and one AdapterFusion set
  (``siqa,cosmosqa,copa``, recipe ``fuse``);
* targets: XCOPA (trained on COPA; SocialIQa is the helpful intermediate of the XCOPA paper), XNLI (the
  dev-split protocol: train ``dev[:70%]``, select ``dev[70%:80%]``, score ``dev[80%:]``), XQuAD (trained
  on TyDiQA-GoldP English), PAN-X and Tatoeba (retrieval with the intermediate adapter active); every
  evaluation language with local files;
* seeds 1, 2, 3; each target adapter's English dev score is read from its card and shown next to its
  zero-shot scores; an adapter not clearly above chance on English dev (:data:`ABOVE_CHANCE`) is a failed
  cell, flagged and left out of every gain;
* gains: mean over seeds of the mean gain over a language group's languages (all, and Joshi et al.
  low / mid / high, ``toolkit.languages``), two-stage bootstrap CI over seeds and examples, approximate
  randomization p-value (``toolkit.stats.compare_seeds``), Holm-corrected over every gain of the study;
* diversity: each entry's gain against the diversity of its task set (mean pairwise cosine distance of
  SEmb vectors), OLS slope with a bootstrap CI (``toolkit.diversity.fit_trend``);
* selection: SEmb and LogME rankings of the single intermediates against the measured matrix (seed-mean
  scores), Regret@1/3 with bootstrap CIs over targets and languages, against the exact expectation of a
  random ranking (``toolkit.selector_eval.selector_intervals``).

Writes ``benchmarks/results/transfer_study.json`` and splices the generated Markdown between
``<!-- transfer_study:start -->`` and ``<!-- transfer_study:end -->`` in the README's "Findings" section.

    python benchmarks/transfer_study.py --estimate   # the cost model's estimate of the full run, no work
    python benchmarks/transfer_study.py              # the full study (resumable), embedded encoder
    python benchmarks/transfer_study.py --quick      # tiny random encoder, tiny budgets (tests): meaningless
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from statistics import fmean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)

NAME = "transfer_study"
REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / ".." / "shared" / "data"
MAIN_README = REPO_ROOT / "README.md"

DEV = {"train_split": "dev[:80%]", "dev_split": "dev[80%:]"}
XNLI_DEV = {"train_split": "dev[:70%]", "dev_split": "dev[70%:80%]", "eval_split": "dev[80%:]"}

#: the full study (``--quick`` shrinks it); chosen so that the cost model's estimate stays near an hour
FULL = {
    "targets": ("xcopa", "xnli", "xquad", "panx", "tatoeba"),
    "singles": ("anli", "siqa", "cosmosqa", "copa", "tydiqa", "pawsx", "panx"),
    "multi_task": "anli+siqa+pawsx",
    "fusion": "siqa,cosmosqa,copa",
    "seeds": (1, 2, 3),
    "intermediate_steps": 100,
    "target_steps": 100,
    "learning_rate": 1e-3,
    "batch_size": 8,
    "max_length": 128,
    "max_dev_examples": 100,
    "max_eval_examples": 100,
    "overrides": {
        "anli": DEV, "siqa": DEV, "cosmosqa": DEV, "pawsx": DEV,
        "xnli": {**XNLI_DEV, "max_steps": 200, "learning_rate": 2e-3},
        "xcopa": {"train_task": "copa"},
        "xquad": {"train_task": "tydiqa", "max_steps": 200},
    },
}

QUICK = {
    "targets": ("xcopa", "xnli", "tatoeba"),
    "singles": ("siqa", "copa"),
    "multi_task": "siqa+cosmosqa",
    "fusion": "siqa,copa",
    "seeds": (1, 2),
    "intermediate_steps": 2,
    "target_steps": 2,
    "learning_rate": 1e-3,
    "batch_size": 4,
    "max_length": 32,
    "max_dev_examples": 8,
    "max_eval_examples": 6,
    "overrides": {
        "siqa": {**DEV, "max_train_examples": 16}, "cosmosqa": {**DEV, "max_train_examples": 16},
        "copa": {"max_train_examples": 16},
        "xnli": {**XNLI_DEV, "langs": ("de", "fr")},
        "xcopa": {"train_task": "copa", "langs": ("et", "ht"), "max_train_examples": 16},
        "tatoeba": {"langs": ("de", "jv")},
    },
}

#: English dev main score (0-100) a target adapter must reach to count: chance + a clear margin
#: (2-way XCOPA/COPA 50 -> 55, 3-way XNLI 33.3 -> 40; span tasks, whose chance level is ~0: 10 F1 / (EM+F1)/2)
ABOVE_CHANCE = {"xcopa": 55.0, "xnli": 40.0, "panx": 10.0, "xquad": 10.0}
CHANCE = {"xcopa": 50.0, "xnli": 100 / 3, "panx": 0.0, "xquad": 0.0}
GROUPS = ("all", "low", "mid", "high")


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


def study_configs(design: dict[str, Any], workdir: Path, model: str, data_dir: str, resamples: int,
                  permutations: int):
    """The two matrices of the study, sharing one store and one set of adapters: ``sequential`` over the
    single intermediates and the multi-task adapter, ``fuse`` over the fusion set (its baseline cells are
    the same adapters, so they are trained once)."""
    from toolkit.matrix import MatrixConfig

    common_kw = dict(
        targets=design["targets"], benchmark="xtreme-r", split="auto", langs=("local",), model=model,
        intermediate_steps=design["intermediate_steps"], target_steps=design["target_steps"],
        learning_rate=design["learning_rate"], batch_size=design["batch_size"], max_length=design["max_length"],
        max_dev_examples=design["max_dev_examples"], max_eval_examples=design["max_eval_examples"],
        overrides=design["overrides"], data_dir=data_dir, results_dir=str(workdir / "results"),
        artifacts_dir=str(workdir / "artifacts"), seeds=design["seeds"], resamples=resamples,
        permutations=permutations, correction="holm",
    )
    main = MatrixConfig(intermediates=(*design["singles"], design["multi_task"]), recipes=("sequential",), **common_kw)
    fusion = MatrixConfig(intermediates=(design["fusion"],), recipes=("fuse",), **common_kw)
    return main, fusion


# --------------------------------------------------------------------------------------------------
# cost model
# --------------------------------------------------------------------------------------------------


def _rates() -> dict[str, float]:
    """Seconds per token of adapter training (forward + backward, one thread) and of evaluation, from the
    committed train_cost and eval_throughput benchmarks (embedded encoder, 2-core machine)."""
    train = json.loads((common.RESULTS_DIR / "train_cost.json").read_text())
    row = next(r for r in train["rows"] if r["model"] == "embedded")
    step = row["runs"]["adapter"]["step_s_median"]
    ev = json.loads((common.RESULTS_DIR / "eval_throughput.json").read_text())
    return {"train_s_per_token": step / (row["batch"] * row["seq"]),
            "eval_s_per_token": 1.0 / ev["summary"]["tokens_per_s"]["xta"],
            "source": f"train_cost.json ({row['batch']} x {row['seq']} tokens: {step:.2f} s/step), "
                      f"eval_throughput.json ({ev['summary']['tokens_per_s']['xta']:.0f} tokens/s)"}


def measure_lengths(tasks, data_dir: str, model: str, max_length: int, n: int = 48) -> dict[str, float]:
    """Tokens per English example of each task (every choice of a multiple-choice item; QA: the windows
    of ``max_length`` tokens with half-window stride), measured with the encoder's tokenizer on ``n``
    examples of its English data."""
    from transformers import AutoTokenizer

    from toolkit.encoders import embedded_tokenizer, resolve_encoder
    from toolkit.estimates import english_examples
    from toolkit.semb import semb_rows_per_example
    from toolkit.tasks import get_task

    tok = embedded_tokenizer() if model in ("embedded", "multilingual-e5-small") else \
        AutoTokenizer.from_pretrained(str(resolve_encoder(model)[1]))
    tok.model_max_length = 10**6  # lengths are measured untruncated
    out = {}
    for task in sorted(set(tasks)):
        examples, used = english_examples(task, data_dir, n)
        spec = get_task(used.split(":")[0])
        total = []
        for rows in semb_rows_per_example(examples, spec):
            tokens = 0
            for a, b in rows:
                length = len(tok(a, b)["input_ids"]) if b is not None else len(tok(a)["input_ids"])
                windows = 1 + math.ceil(max(0, length - max_length) / max(1, max_length // 2))
                tokens += min(length, max_length) if windows == 1 else windows * max_length
            total.append(tokens)
        out[task] = fmean(total) if total else float(max_length)
    return out


TRAIN_PADDING = 1.3  # random training batches pad to their longest example (assumption)
EVAL_PADDING = 1.06  # evaluation sorts by length (eval_throughput: 45.2k padded / 42.7k real tokens)
NODE_OVERHEAD_S = 3.0  # loading data, an adapter, writing a record (assumption)


def estimate_cost(configs, data_dir: str, model: str, lengths: dict[str, float] | None = None) -> dict[str, Any]:
    """Seconds of every planned node of every seed (nothing run): training steps x batch x tokens per
    example x the measured per-token rate, two English dev evaluations per training, evaluation tokens
    of every language; a fusion step costs (1 + 0.5 x fused adapters) plain steps (assumption)."""
    from toolkit.matrix import plan_matrix, seed_config

    rates = _rates()
    plans = [plan_matrix(seed_config(cfg, s)) for cfg in configs for s in cfg.seeds]
    tasks = set()
    for plan in plans:
        for node in plan.nodes.values():
            if node.kind == "train":
                tasks |= {node.train.task, *node.train.extra_tasks}
            else:
                tasks |= {node.target, "copa"} if node.target == "xcopa" else {node.target}
    cfg0 = configs[0]
    lengths = lengths or measure_lengths(tasks, data_dir, model, cfg0.max_length)
    seen, train_s, eval_s, trainings, evals = set(), 0.0, 0.0, 0, 0
    for plan in plans:
        for node in plan.nodes.values():
            if node.id in seen:  # the fuse matrix's baseline nodes are the sequential matrix's
                continue
            seen.add(node.id)
            if node.kind == "train":
                t = node.train
                members = [t.task, *t.extra_tasks]
                per_example = fmean(lengths[m] for m in members)
                factor = 1.0 + 0.5 * len(t.intermediate) if t.recipe == "fuse" else 1.0
                steps = t.max_steps or 0
                train_s += (steps * (t.batch_size or 16) * per_example * TRAIN_PADDING * rates["train_s_per_token"] * factor
                            + 2 * (cfg0.max_dev_examples or 200) * per_example * rates["eval_s_per_token"] * factor
                            + NODE_OVERHEAD_S)
                trainings += 1
            else:
                sides = 2.0 if node.target in ("tatoeba", "bucc2018") else 1.0
                length = lengths[node.target] if node.target != "xcopa" else lengths.get("copa", lengths[node.target])
                eval_s += (len(node.langs) * (cfg0.max_eval_examples or 1000) * length * sides
                           * EVAL_PADDING * rates["eval_s_per_token"] + NODE_OVERHEAD_S)
                evals += 1
    return {"trainings": trainings, "evaluations": evals, "train_seconds": round(train_s),
            "eval_seconds": round(eval_s), "total_seconds": round(train_s + eval_s),
            "total_minutes": round((train_s + eval_s) / 60, 1), "tokens_per_example": {k: round(v, 1) for k, v in lengths.items()},
            "rates": rates, "assumptions": f"training batches padded x{TRAIN_PADDING}, evaluation x{EVAL_PADDING}, "
            f"{NODE_OVERHEAD_S:.0f} s per node, a fusion step = 1 + 0.5 x fused adapters plain steps, one torch thread"}


def calibrate(model: str) -> dict[str, Any] | None:
    """The same cost model on the matrix the matrix_cost benchmark ran (its committed first run's wall
    time), as a check of the model: ``factor`` = measured / estimated."""
    import matrix_cost

    path = common.RESULTS_DIR / "matrix_cost.json"
    if not path.is_file():
        return None
    measured = json.loads(path.read_text())
    if measured.get("quick"):
        return None
    cfg = matrix_cost.matrix_config(Path("unused"), model, measured["steps"], 40)
    est = estimate_cost([dataclasses.replace(cfg, seeds=(cfg.seed,))], None, model)
    wall = measured["first_run"]["wall_seconds"]
    return {"estimated_seconds": est["total_seconds"], "measured_seconds": wall,
            "factor": round(wall / max(est["total_seconds"], 1), 2)}


# --------------------------------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------------------------------


def _dev_score(card: dict[str, Any]) -> float | None:
    """The main English dev score (0-100) in an adapter card (QA: (EM + F1) / 2)."""
    from toolkit.report import qa_mean

    for metrics in (card.get("dev_scores") or {}).values():
        if {"exact_match", "f1"} <= set(metrics):
            return qa_mean(metrics)
        for key in ("accuracy", "f1", "main"):
            if key in metrics:
                return float(metrics[key])
    return None


def english_dev(sr, recipe: str) -> dict[tuple[str, str], dict[int, float | None]]:
    """(target, intermediate) -> seed -> the target adapter's English dev score (its card)."""
    from toolkit.train import adapter_dir, read_card_file

    out: dict = {}
    for seed, run in sr.runs.items():
        for cell in run.plan.cells:
            if cell.recipe not in (recipe, "none") or not cell.adapter:
                continue
            path = adapter_dir(cell.adapter, run.config.artifacts_dir) / "xta_card.json"
            score = _dev_score(read_card_file(path)) if path.is_file() else None
            out.setdefault((cell.target, cell.intermediate), {})[seed] = score
    return out


def _group_langs(langs, group: str) -> list[str]:
    from toolkit.languages import get

    langs = sorted(langs)
    return langs if group == "all" else [l for l in langs if get(l).resource_group == group]


def analyse(runs: dict[str, Any], resamples: int, permutations: int) -> dict[str, Any]:
    """Every gain of the study (recipe, target, intermediate, language group) over seeds, with failed
    cells flagged and left out; Holm over all gains."""
    from toolkit.errors import DataError
    from toolkit.matrix import BASELINE
    from toolkit.stats import adjust, compare_seeds, derived_seed

    cells, failed = [], []
    dev_rows = []
    for recipe, sr in runs.items():
        dev = english_dev(sr, recipe)
        cfg = sr.config
        for target in cfg.targets:
            base_dev = dev.get((target, BASELINE), {})
            for inter in cfg.intermediates:
                scores = dev.get((target, inter))
                zero = [r.scores.get((target, recipe if inter != BASELINE else BASELINE, inter)) for r in sr.runs.values()]
                zs = [fmean(z.values()) for z in zero if z]
                if inter == BASELINE and recipe != "sequential":
                    continue
                bad_seeds = [s for s, v in (scores or {}).items() if target in ABOVE_CHANCE and (v is None or v < ABOVE_CHANCE[target])]
                if scores is not None or zs:
                    dev_rows.append({"recipe": recipe, "target": target, "intermediate": inter,
                                     "english_dev": {str(s): v for s, v in (scores or {}).items()},
                                     "zero_shot_mean": fmean(zs) if zs else None, "failed_seeds": bad_seeds})
                if bad_seeds:
                    failed.append({"recipe": recipe, "target": target, "intermediate": inter, "seeds": bad_seeds,
                                   "why": f"English dev below {ABOVE_CHANCE[target]:.0f} (chance {CHANCE[target]:.1f})"})
            base_bad = [s for s, v in base_dev.items() if target in ABOVE_CHANCE and (v is None or v < ABOVE_CHANCE[target])]
            for inter in cfg.intermediates[1:]:
                if base_bad or any(f["target"] == target and f["intermediate"] == inter and f["recipe"] == recipe for f in failed):
                    continue
                for group in GROUPS:
                    per_seed = []
                    for run in sr.runs.values():
                        base, cell = run.rows.get((target, BASELINE, BASELINE), {}), run.rows.get((target, recipe, inter), {})
                        langs = _group_langs(run.baseline(target), group)
                        if not langs or any(l not in base or l not in cell for l in langs):
                            break
                        per_seed.append({l: (base[l], cell[l]) for l in langs})
                    else:
                        try:
                            c = compare_seeds(per_seed, resamples, permutations,
                                              seed=derived_seed(cfg.seed, "study", recipe, target, inter, group))
                        except DataError:
                            continue
                        cells.append({"recipe": recipe, "target": target, "intermediate": inter, "group": group,
                                      "languages": len(per_seed[0]), "gain": c.gain, "sd": c.sd, "low": c.low,
                                      "high": c.high, "p": c.p_value, "n_examples": c.n_examples})
    for cell, p in zip(cells, adjust([c["p"] for c in cells], "holm")):
        cell["p_holm"] = p
        cell["significant"] = p < 0.05
    return {"gains": cells, "english_dev": dev_rows, "failed_cells": failed}


def diversity_and_selection(main_sr, gains: list[dict[str, Any]], resamples: int, semb_encoder, encoder,
                            n: int = 200) -> dict[str, Any]:
    """Gain vs. set diversity (the study's gains, seed-averaged, with their CIs), and SEmb / LogME rankings
    against the seed-mean measured matrix (Regret@k with CIs, vs. the exact random expectation)."""
    from toolkit.diversity import fit_trend
    from toolkit.matrix import plan_matrix
    from toolkit.selector_eval import evaluate_on_matrix, measured_matrix, selector_intervals

    first = next(iter(main_sr.runs.values()))
    ev = evaluate_on_matrix(first.config, ("semb", "logme", "random"), encoder=encoder, semb_encoder=semb_encoder,
                            n=n)
    diversity = {p.entry: p.diversity for p in ev.points}
    points = [{**g, "diversity": diversity[g["intermediate"]]} for g in gains
              if g["recipe"] == "sequential" and g["intermediate"] in diversity]
    trends = {}
    for group in GROUPS:
        mine = [p for p in points if p["group"] == group]
        t = fit_trend([p["diversity"] for p in mine], [p["gain"] for p in mine], resamples)
        trends[group] = None if t is None else {"slope": t.slope, "slope_low": t.slope_ci[0], "slope_high": t.slope_ci[1],
                                                "points": t.n}
    singles, baselines = {}, {}
    for run in main_sr.runs.values():  # seed-mean scores per language
        single, _, base = measured_matrix(plan_matrix(run.config), "sequential")
        for t, per in single.items():
            for c, langs in per.items():
                for l, v in langs.items():
                    singles.setdefault(t, {}).setdefault(c, {}).setdefault(l, []).append(v)
        for t, langs in base.items():
            for l, v in langs.items():
                baselines.setdefault(t, {}).setdefault(l, []).append(v)
    n = len(main_sr.runs)
    measured = {t: {c: {l: fmean(v) for l, v in langs.items() if len(v) == n} for c, langs in per.items()}
                for t, per in singles.items()}
    base = {t: {l: fmean(v) for l, v in langs.items() if len(v) == n} for t, langs in baselines.items()}
    estimates = [e for e in ev.estimates if e.estimator in ("semb", "logme", "random")]
    intervals = selector_intervals(measured, base, estimates, resamples=resamples, seed=0)
    return {"points": points, "trends": trends, "selection": intervals, "skipped": ev.skipped,
            "logme_data": ev.logme_data}


# --------------------------------------------------------------------------------------------------
# the Markdown section
# --------------------------------------------------------------------------------------------------


def _fmt_gain(g: dict[str, Any]) -> str:
    return f"{g['gain']:+.1f} ±{g['sd']:.1f} [{g['low']:+.1f}, {g['high']:+.1f}]" + ("*" if g["significant"] else "")


def render(results: dict[str, Any]) -> str:
    """The README's generated "Findings" section (plain statements first, then the tables)."""
    gains = results["analysis"]["gains"]
    quick = results["quick"]
    lines = ["### X-STILTs on the embedded encoder (generated by `benchmarks/transfer_study.py`)", ""]
    if quick:
        lines += ["**This is a `--quick` pipeline check on a tiny random encoder: the figures are meaningless.**", ""]
    d = results["design"]
    lines += [f"Encoder `{results['model']}`; seeds {', '.join(map(str, d['seeds']))}; targets {', '.join(d['targets'])}; "
              f"intermediates {', '.join(d['singles'])} (sequential), multi-task `{d['multi_task']}`, fusion "
              f"`{d['fusion']}`; {d['intermediate_steps']}/{d['target_steps']} steps (intermediate/target), lr "
              f"{d['learning_rate']}, batch {d['batch_size']}, {d['max_length']} tokens, at most "
              f"{d['max_eval_examples']} test examples per language. Wall time {results['wall_minutes']:.1f} min "
              f"(cost model's estimate: {results['estimate']['total_minutes']:.1f} min"
              + (f", x{cal['factor']} after its check against matrix_cost" if (cal := results['estimate'].get('calibration')) else "")
              + ").", ""]
    sig = [g for g in gains if g["significant"]]
    if not gains:
        lines += ["**No gain could be measured** (every cell failed or lacks per-example rows).", ""]
    elif not sig:
        lines += [f"**No significant effect**: none of the {len(gains)} gains (target x intermediate x language group) "
                  "is significant at p < 0.05 after Holm correction; the differences are within the noise of seeds "
                  "and test examples.", ""]
    else:
        pos = [g for g in sig if g["gain"] > 0]
        neg = [g for g in sig if g["gain"] < 0]
        lines += [f"**{len(sig)} of {len(gains)} gains are significant** after Holm correction "
                  f"({len(pos)} gains, {len(neg)} losses):", ""]
        lines += [f"- {g['target']} <- {g['intermediate']} ({g['recipe']}, {g['group']} languages): {_fmt_gain(g)}"
                  for g in sorted(sig, key=lambda g: -abs(g["gain"]))[:12]]
        lines.append("")
    failed = results["analysis"]["failed_cells"]
    if failed:
        lines += [f"**{len(failed)} failed cells** (target adapter not clearly above chance on English dev; excluded):", ""]
        lines += [f"- {f['target']} <- {f['intermediate']} ({f['recipe']}), seeds {', '.join(map(str, f['seeds']))}: "
                  f"{f['why']}" for f in failed[:20]]
        lines.append("")
    trends = results["diversity"]["trends"]
    t = trends.get("all")
    if t:
        holds = t["slope_low"] <= 0 <= t["slope_high"]
        lines += [f"**Diversity**: OLS slope of the gain on set diversity {t['slope']:+.2f} points per unit, 95% "
                  f"bootstrap CI [{t['slope_low']:+.2f}, {t['slope_high']:+.2f}] over {t['points']} entries: "
                  + ("no significant trend." if holds else ("gains rise with diversity." if t["slope"] > 0 else
                                                            "gains fall with diversity.")), ""]
    sel = [r for r in results["diversity"]["selection"] if r["target"] == "all targets" and r["group"] == "all"
           and r["estimator"] in ("semb", "logme")]
    for r in sel:
        ci = r.get("regret@1_vs_random_ci")
        if r.get("regret@1_vs_random") is None or not ci:
            continue
        verdict = ("beats random" if ci[0] > 0 else "is worse than random" if ci[1] < 0 else "does not beat random significantly")
        lines.append(f"**Selection**: {r['estimator']} Regret@1 {r['regret@1']:.2f}% (random ranking: expected "
                     f"{r['regret@1'] + r['regret@1_vs_random']:.2f}%); its advantage over random "
                     f"{r['regret@1_vs_random']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] points: it {verdict}.")
    lines += ["", "Gains (points; mean over seeds ± sd over seeds [95% CI over seeds and examples], * significant "
              "after Holm):", ""]
    rows = {}
    for g in gains:
        rows.setdefault((g["recipe"], g["target"], g["intermediate"]), {})[g["group"]] = g
    lines.append(common.table(["target", "intermediate", "recipe", *GROUPS],
                              [[t, i, r, *[_fmt_gain(per[gr]) if gr in per else "-" for gr in GROUPS]]
                               for (r, t, i), per in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))],
                              align="lll" + "r" * len(GROUPS)))
    lines += ["", "English dev score of each target adapter (per seed) next to its mean zero-shot score:", ""]
    lines.append(common.table(["target", "intermediate", "recipe", "English dev (seeds)", "zero-shot mean", "failed seeds"],
                              [[r["target"], r["intermediate"], r["recipe"],
                                ", ".join("-" if v is None else f"{v:.1f}" for v in r["english_dev"].values()) or "-",
                                "-" if r["zero_shot_mean"] is None else f"{r['zero_shot_mean']:.1f}",
                                ", ".join(map(str, r["failed_seeds"])) or "-"] for r in results["analysis"]["english_dev"]],
                              align="lllrrl"))
    return "\n".join(lines) + "\n"


def splice(readme: str, body: str) -> Path | None:
    """Rewrite the ``transfer_study`` section of ``readme`` (its "Findings" section); 'none': leave it."""
    from toolkit.io import atomic_write_text

    if readme is None or str(readme).lower() == "none":
        return None
    path = Path(readme)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Findings\n"
    return atomic_write_text(path, common.replace_section(text, NAME, body))


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def tiny_model(workdir: Path) -> str:
    from toolkit.encoders import tiny_encoder

    path = workdir / "tiny_encoder"
    if not (path / "config.json").is_file():
        enc = tiny_encoder(seed=0)
        enc.model.save_pretrained(path, safe_serialization=True)
        enc.tokenizer.save_pretrained(path)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.set_defaults(readme=str(MAIN_README))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="results store and adapters of the study (default xta_runs/transfer_study; quick: a "
                             "folder beside --out); reused by a re-run")
    parser.add_argument("--data-dir", default=os.environ.get("XTA_DATA_DIR") or str(DATA_DIR))
    parser.add_argument("--estimate", action="store_true", help="print the cost model's estimate and exit")
    parser.add_argument("--resamples", type=int, default=None, help="bootstrap resamples (default 1000; quick 50)")
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(Path(args.out).read_text(encoding="utf-8"))
        splice(args.readme, render(results))
        return 0
    common.set_threads(args.threads)
    design = QUICK if args.quick else FULL
    resamples = args.resamples or (50 if args.quick else 1000)
    workdir = args.workdir or (Path(args.out).with_suffix("") if args.quick else REPO_ROOT / "xta_runs" / NAME)
    workdir.mkdir(parents=True, exist_ok=True)
    model = tiny_model(workdir) if args.quick else "embedded"
    configs = study_configs(design, workdir, model, args.data_dir, resamples, resamples)
    estimate = estimate_cost(configs, args.data_dir, model)
    estimate["calibration"] = cal = calibrate(model)
    print(f"{NAME}: {estimate['trainings']} trainings, {estimate['evaluations']} evaluations; cost model: "
          f"{estimate['total_minutes']:.1f} min on one thread ({estimate['train_seconds']} s training, "
          f"{estimate['eval_seconds']} s evaluation; rates from {estimate['rates']['source']}; {estimate['assumptions']})")
    if cal:
        print(f"  check: on matrix_cost's matrix the model estimates {cal['estimated_seconds']} s, its committed run took "
              f"{cal['measured_seconds']} s (x{cal['factor']}): about {estimate['total_minutes'] * cal['factor']:.0f} min "
              "for this study at that factor")
    if args.estimate:
        return 0
    from toolkit.encoders import load_encoder
    from toolkit.matrix import run_matrix_seeds

    machine = common.machine_info(args.threads)
    t0 = time.perf_counter()
    runs = {}
    for cfg in configs:
        runs[cfg.recipes[0]] = run_matrix_seeds(cfg)
        print(f"  {cfg.recipes[0]}: done after {(time.perf_counter() - t0) / 60:.1f} min")
    analysis = analyse(runs, resamples, resamples)
    encoder = load_encoder(model)
    div = diversity_and_selection(runs["sequential"], analysis["gains"], resamples, encoder, encoder, n=16 if args.quick else 200)
    wall = time.perf_counter() - t0
    results = {"benchmark": NAME, "quick": args.quick, "machine": machine, "model": "tiny random encoder" if args.quick else model,
               "design": {k: (list(v) if isinstance(v, tuple) else v) for k, v in design.items()},
               "above_chance": ABOVE_CHANCE, "resamples": resamples, "estimate": estimate,
               "wall_minutes": wall / 60, "load_average_end": common.load_average(), "analysis": analysis,
               "diversity": div,
               "command": "python benchmarks/transfer_study.py" + (" --quick" if args.quick else "")}
    common.write_json(args.out, json.loads(json.dumps(results, default=_jsonable)))
    splice(args.readme, render(results))
    print(render(results))
    print(f"wrote {args.out}")
    return 0


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())

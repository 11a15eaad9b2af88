"""The `xta` command line: a thin Typer shell over the ``toolkit`` library.

Each command turns flags into a config object, makes one library call and renders the result. Errors the
library raises as ``XtaError`` become one red line on stderr and exit code 1 (no traceback).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from toolkit.errors import XtaError

app = typer.Typer(
    help="xta: English intermediate-task adapters on a frozen multilingual encoder, evaluated zero-shot on XTREME-R.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="List the registered tasks, or show one.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")

console = Console()
err_console = Console(stderr=True)

DataDirOpt = typer.Option(None, "--data-dir", help="Local mirror of the original benchmark files (default: $XTA_DATA_DIR).")


def cli_errors(fn):
    """Turn XtaError into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except XtaError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what xta does.")):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def version():
    """Print xta's version."""
    from toolkit import __version__

    typer.echo(__version__)


@tasks_app.callback()
@cli_errors
def tasks(ctx: typer.Context, benchmark: Optional[str] = typer.Option(None, help="Only target tasks of xtreme-r or xtreme.")):
    """Table of every task: name, benchmark, shape, number of languages, main metric."""
    if ctx.invoked_subcommand:
        return
    from toolkit.tasks import all_tasks

    table = Table(title="xta tasks")
    for col in ("task", "benchmark", "shape", "#langs", "metric", "english training source"):
        table.add_column(col)
    for spec in all_tasks().values():
        if benchmark and benchmark not in spec.benchmarks:
            continue
        table.add_row(spec.name, ", ".join(spec.benchmarks), spec.shape, str(len(spec.langs())), spec.main_metric,
                      ", ".join(spec.train_from) or ("-" if spec.is_target else "(itself)"))
    console.print(table)


@tasks_app.command("show")
@cli_errors
def tasks_show(name: str, data_dir: Optional[Path] = DataDirOpt):
    """Everything about one task, and which of its languages are available locally."""
    from toolkit import data
    from toolkit.tasks import get_task

    spec = get_task(name)
    console.print(f"[bold]{spec.name}[/] (v{spec.version}) - {spec.description}")
    rows = [
        ("benchmarks", ", ".join(spec.benchmarks)), ("shape", spec.shape), ("category", spec.category or "-"),
        ("labels", ", ".join(spec.labels) if spec.labels else ("from data" if spec.open_labels else "-")),
        ("metrics", f"{', '.join(spec.metrics)} (main: {spec.main_metric})"),
        ("training source", ", ".join(spec.train_from) or "-"),
        ("languages", f"{len(spec.langs())}: {' '.join(spec.langs())}"),
        ("license", spec.license), ("citation", spec.citation),
    ]
    if spec.question_prompts:
        rows.append(("question prompts", "; ".join(f"{k} -> {v}" for k, v in spec.question_prompts.items())))
    if spec.adapter:
        rows.append(("adapter", ", ".join(f"{k}={v}" for k, v in spec.adapter.items())))
    table = Table(show_header=False)
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    splits = Table(title="splits")
    for col in ("split", "local files", "hub", "available locally"):
        splits.add_column(col)
    root = data.resolve_data_dir(data_dir)
    for split_name, src in spec.splits.items():
        hubs = src.hub if isinstance(src.hub, tuple) else ((src.hub,) if src.hub else ())
        local_langs = data.available_languages(spec, split_name, root) if root else []
        splits.add_row(
            split_name, "\n".join(s.pattern for s in src.local) or "-",
            "\n".join(f"{h.path}" + (f" [{h.config}]" if h.config else "") + f" {h.split}" for h in hubs) or "-",
            (" ".join(local_langs) or "none") if root else "(no --data-dir / XTA_DATA_DIR)",
        )
    console.print(splits)


@app.command()
@cli_errors
def encoders():
    """Encoders that can be loaded here: the embedded one, converted/cached ones, Hub cache entries."""
    from toolkit.encoders import list_encoders

    table = Table(title="encoders")
    for col in ("name", "kind", "path", "size"):
        table.add_column(col)
    for row in list_encoders():
        table.add_row(row.name, row.kind, str(row.path or "-"), _human_bytes(row.size) if row.size else "-")
    console.print(table)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _options(**kwargs) -> dict:
    """Flags the user actually gave (None = not given, so the config's default applies)."""
    return {k: v for k, v in kwargs.items() if v is not None}


@app.command("train-adapter")
@cli_errors
def train_adapter_cmd(
    task: str = typer.Option(..., "--task", help="Intermediate card (xta tasks) or target task to train on (English)."),
    model: Optional[str] = typer.Option(None, "--model", help="Encoder: 'embedded' (offline default), a Hub id such as FacebookAI/xlm-roberta-large, or a local path."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the trained adapter (default: the task)."),
    adapter_config: Optional[str] = typer.Option(None, "--adapter-config", help="adapters config: seq_bn (default), double_seq_bn, lora, prefix_tuning, ..."),
    reduction_factor: Optional[float] = typer.Option(None, "--reduction-factor", help="Bottleneck reduction factor (default 16)."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="AdamW learning rate (default 1e-4)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Epochs (default 3)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps; overrides --epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Training batch size (default 16)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Maximum tokens per input (default 128)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 42); same seed, same adapter on CPU."),
    max_train_examples: Optional[int] = typer.Option(None, "--max-train-examples", help="Use only the first N training examples."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Evaluate on English dev every N steps (default: each epoch)."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Stop after N evaluations without dev improvement."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="none | sequential (start from --init-from) | stack (above --intermediate) | fuse."),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="Trained adapter to start from (recipe sequential)."),
    intermediate: Optional[str] = typer.Option(None, "--intermediate", help="Comma-separated trained adapters (recipes stack, fuse)."),
    extra_tasks: Optional[str] = typer.Option(None, "--extra-tasks", help="Comma-separated tasks trained jointly into one shared adapter (multi-task)."),
    sampling: Optional[str] = typer.Option(None, "--sampling", help="Multi-task sampling: proportional | uniform | temperature."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature T (p ~ n^(1/T))."),
    train_split: Optional[str] = typer.Option(None, "--train-split", help="Split to train on (default train); slices allowed, e.g. 'dev[:80%]'."),
    dev_split: Optional[str] = typer.Option(None, "--dev-split", help="Split for model selection (default dev), e.g. 'dev[80%:]'."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with these options (flags override it)."),
    data_dir: Optional[Path] = DataDirOpt,
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Where adapters live (default $XTA_HOME/artifacts or ./xta_runs/artifacts)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if an identical finished run exists."),
):
    """Train an adapter (+ head) on a task's English data, on a frozen encoder; resumable."""
    from toolkit.config import TrainConfig, from_dict, from_yaml, to_dict
    from toolkit.train import train_adapter

    given = _options(
        task=task, model=model, adapter_name=name, adapter_config=adapter_config, reduction_factor=reduction_factor,
        learning_rate=learning_rate, epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_length=max_length,
        seed=seed, max_train_examples=max_train_examples, eval_every=eval_every, patience=patience, recipe=recipe,
        init_from=init_from, intermediate=intermediate, extra_tasks=extra_tasks, sampling=sampling,
        temperature=temperature, train_split=train_split, dev_split=dev_split,
        data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
    )
    base = to_dict(from_yaml(config, TrainConfig)) if config else {}
    cfg = from_dict(TrainConfig, {**base, **given}, where="options")
    result = train_adapter(cfg, artifacts_dir=artifacts_dir, force=force)
    verb = "already trained (identical configuration); nothing recomputed" if result.skipped else f"trained {result.steps} steps"
    console.print(f"[bold]{result.name}[/]: {verb}" + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    for t, scores in result.dev_scores.items():
        console.print(f"  English dev {t}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    console.print(f"  saved to {result.path}")


@app.command("eval")
@cli_errors
def eval_cmd(
    benchmark: str = typer.Option("xtreme-r", "--benchmark", help="xtreme-r | xtreme | demo (the built-in CLDR tasks)."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Comma-separated target tasks (default: all of the benchmark)."),
    langs: Optional[str] = typer.Option(None, "--langs", help="Comma-separated languages (default: all of each task)."),
    setup: str = typer.Option("auto", "--setup", help="auto (each task's target adapter) | none | NAME | stack:a,b | fuse:a,b>target."),
    model: str = typer.Option("embedded", "--model", help="Encoder (see xta encoders)."),
    split: str = typer.Option("auto", "--split", help="test | dev | auto (test where it has gold labels, else dev)."),
    max_eval_examples: Optional[int] = typer.Option(None, "--max-eval-examples", help="First N examples per language."),
    batch_size: int = typer.Option(32, "--batch-size"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Default: 128 (384 for QA)."),
    retrieval_layer: Optional[int] = typer.Option(None, "--retrieval-layer", help="Hidden layer for retrieval representations (default: last)."),
    retrieval_pooling: str = typer.Option("mean", "--retrieval-pooling", help="mean | cls."),
    seed: int = typer.Option(42, "--seed"),
    train_steps: Optional[int] = typer.Option(None, "--train-steps", help="Steps for target adapters trained on the fly."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="English training examples for those adapters."),
    train_split: str = typer.Option("train", "--train-split", help="Their training split (slices allowed: 'dev[:80%]')."),
    train_dev_split: str = typer.Option("dev", "--train-dev-split", help="Their model-selection split."),
    data_dir: Optional[Path] = DataDirOpt,
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Results store (default $XTA_HOME/results or ./xta_runs/results)."),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Adapters (default $XTA_HOME/artifacts or ./xta_runs/artifacts)."),
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="Also write the report (CSV, Markdown) here."),
):
    """Zero-shot evaluation: English-trained adapters applied unchanged to every language; resumable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolkit.config import EvalConfig
    from toolkit.evaluate import evaluate

    cfg = EvalConfig(
        setup=setup, tasks=tasks or (), langs=langs or (), benchmark=benchmark, model=model, split=split,
        max_eval_examples=max_eval_examples, batch_size=batch_size, max_length=max_length,
        retrieval_layer=retrieval_layer, retrieval_pooling=retrieval_pooling, seed=seed, train_steps=train_steps,
        train_examples=train_examples, train_split=train_split, train_dev_split=train_dev_split,
        data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
        results_dir=str(results_dir) if results_dir else None, artifacts_dir=str(artifacts_dir) if artifacts_dir else None,
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console) as bar:
        job = bar.add_task("evaluating", total=None)

        def tick(task, lang, status):
            bar.update(job, advance=1, description=f"{task} {lang} {status}")

        run = evaluate(cfg, on_language=tick, progress=True)
    _exit_if_nothing_succeeded(run)
    _print_eval(run, cfg, report_dir)


def _exit_if_nothing_succeeded(run) -> None:
    """Exit code 1, with one line per failure, when no requested task-language has a result (computed now
    or stored before): bad or missing input everywhere. When some succeeded, the tables are printed, the
    failures listed under them, and the exit code is 0 (the store records the failures; rerun to retry)."""
    if any(t.computed or t.reused for t in run.tasks):
        return
    failed = [(f"{t.task}/{lang}", why) for t in run.tasks for lang, why in t.failed.items()]
    if not failed:
        return
    for where, why in failed:
        err_console.print(f"[bold red]error:[/] {where}: {why}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _print_eval(run, cfg, report_dir: Optional[Path]) -> None:
    from toolkit.report import SUMMARY_HEADER, language_rows, scores_from_store, summarize, summary_rows, write_report

    gathered = scores_from_store(run.store, cfg.model, cfg.setup, cfg.benchmark)
    langs = {t.task: t.languages for t in run.tasks}
    header, rows = language_rows(gathered)
    _table(f"{cfg.benchmark}: main score per language ({cfg.model}, setup {cfg.setup})", header, rows)
    summary = summarize(cfg.benchmark, gathered.scores, gathered.failed, languages=langs)
    _table("summary (no average over missing languages or tasks)", SUMMARY_HEADER, summary_rows(summary))
    computed = sum(len(t.computed) for t in run.tasks)
    reused = sum(len(t.reused) for t in run.tasks)
    failed = {f"{t.task}/{l}": e for t in run.tasks for l, e in t.failed.items()}
    console.print(f"computed {computed} task-languages, reused {reused} from the store, {len(failed)} failed")
    for where, why in list(failed.items())[:20]:
        console.print(f"  [red]failed[/] {where}: {why}", highlight=False, soft_wrap=True)
    if report_dir:
        files = write_report(summary, gathered, report_dir)
        console.print(f"report: {files['report.md']}")


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for col in header:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
@cli_errors
def report(
    benchmark: str = typer.Option("xtreme-r", "--benchmark", help="xtreme-r | xtreme | demo."),
    model: str = typer.Option("embedded", "--model"),
    setup: str = typer.Option("auto", "--setup"),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write summary.csv, languages.csv and report.md here."),
):
    """Aggregate the results store by the XTREME-R rules: per task, per category, overall (both definitions)."""
    from toolkit.errors import DataError
    from toolkit.report import SUMMARY_HEADER, language_rows, scores_from_store, summarize, summary_rows, write_report
    from toolkit.results import ResultStore

    store = ResultStore(results_dir)
    damaged = store.damaged()
    if damaged:  # never summarise around a record cut mid-write: xta eval recomputes it
        (path, why), more = damaged[0], f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise DataError(f"damaged result record: {why}{more}; rerun xta eval to recompute it, or remove the file", path)
    gathered = scores_from_store(store, model, setup, benchmark)
    header, rows = language_rows(gathered)
    _table(f"{benchmark}: main score per language ({model}, setup {setup})", header, rows)
    summary = summarize(benchmark, gathered.scores, gathered.failed)
    _table("summary (no average over missing languages or tasks)", SUMMARY_HEADER, summary_rows(summary))
    if out:
        files = write_report(summary, gathered, out)
        console.print(f"report: {files['report.md']}")


@app.command()
@cli_errors
def export(
    out: Path = typer.Argument(..., help="Output folder: OUT/<task>/<split>-<lang>.<tsv|json|jsonl>."),
    format: str = typer.Option("xtreme-r", "--format", help="xtreme-r | xtreme: which benchmark's tasks to export."),
    model: str = typer.Option("embedded", "--model"),
    setup: str = typer.Option("auto", "--setup"),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir"),
):
    """Write stored predictions in the leaderboard layout that the official evaluate.py scores."""
    from toolkit.export import export as export_predictions
    from toolkit.results import ResultStore

    result = export_predictions(ResultStore(results_dir), model, setup, format, out)
    console.print(f"wrote {len(result.files)} prediction files under {out}")
    for where, why in result.skipped.items():
        console.print(f"  not exported {where}: {why}", highlight=False)


@app.command()
@cli_errors
def select(
    target: str = typer.Option(..., "--target", help="Target task (e.g. xnli, xcopa)."),
    candidates: Optional[str] = typer.Option(None, "--candidates", help="Comma-separated intermediate tasks (default: every card)."),
    budget: int = typer.Option(1, "--budget", help="How many intermediate tasks to pick (a set for fusion / multi-task)."),
    objective: str = typer.Option("mean", "--objective", help="mean | worst-language | low-resource (needs a measured matrix)."),
    estimator: str = typer.Option("semb", "--estimator", help="semb (dataset-embedding similarity) | size | random."),
    diversity_weight: float = typer.Option(0.0, "--diversity-weight", help="Bonus for a diverse set (budget > 1)."),
    combine: str = typer.Option("fuse", "--combine", help="How a set is trained: fuse | multitask."),
    model: str = typer.Option("embedded", "--model"),
    n: int = typer.Option(500, "--n", help="Examples sampled per task for embeddings."),
    seed: int = typer.Option(0, "--seed"),
    data_dir: Optional[Path] = DataDirOpt,
):
    """Pick intermediate tasks for a target with a cheap transferability estimator; print the command to train them."""
    from toolkit.selection import run_selection
    from toolkit.tasks import intermediate_tasks

    enc = None
    if estimator == "semb" or diversity_weight:
        from toolkit.encoders import load_encoder

        enc = load_encoder(model)
    names = [c.strip() for c in candidates.split(",")] if candidates else [t.name for t in intermediate_tasks()]
    run = run_selection(target, names, budget=budget, objective=objective, estimator=estimator, encoder=enc,
                        data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"), n=n, seed=seed,
                        diversity_weight=diversity_weight, combine=combine)
    rows = [[e.candidate, f"{e.score:.4f}", run.data_used.get(e.candidate, "-"), f"{e.cost.seconds:.1f}s" if e.cost else "-"]
            for e in sorted(run.estimates, key=lambda e: -e.score)]
    _table(f"{estimator} estimates for {target} (English data: {run.data_used.get(target, '-')})",
           ["candidate", "score", "data", "cost"], rows)
    for name, why in run.skipped.items():
        console.print(f"  [yellow]skipped[/] {name}: {why}", highlight=False)
    sel = run.selection
    console.print(f"chosen for {target} ({objective}): [bold]{', '.join(sel.chosen)}[/]")
    if sel.diversity is not None and sel.diversity.mean_pairwise_cosine_distance is not None:
        console.print(f"  set diversity: mean pairwise cosine distance {sel.diversity.mean_pairwise_cosine_distance:.3f}")
    console.print(f"train it with: {sel.command}", highlight=False)


@app.command()
@cli_errors
def push(
    name: str = typer.Argument(..., help="A trained adapter (or fusion) in the artifacts directory."),
    repo: str = typer.Option(..., "--repo", help="Hub repository ORG/NAME."),
    private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the files and model card; upload nothing."),
    license: Optional[str] = typer.Option(None, "--license", help="Hub license id (default: from the task card)."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Hub id of the encoder (default: from the adapter's card)."),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir"),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Results store whose per-language scores go into the card."),
):
    """Upload an adapter (weights, config, head, xta card, README model card with results) to the Hub."""
    from toolkit.hub import DESCRIBE_COLUMNS, describe, push as push_adapter

    plan = push_adapter(name, repo, private=private, artifacts_dir=artifacts_dir, results_dir=results_dir,
                        dry_run=dry_run, license=license, base_model=base_model)
    _table(f"{'would upload' if dry_run else 'uploaded'} to {repo}", list(DESCRIBE_COLUMNS), [list(r) for r in describe(plan)])
    if dry_run:
        console.print(plan.readme, markup=False, highlight=False)


@app.command()
@cli_errors
def pull(
    repo: str = typer.Argument(..., help="Hub repository ORG/NAME (xta or plain AdapterHub format)."),
    name: Optional[str] = typer.Option(None, "--name", help="Local name (default: the card's)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit."),
    model: Optional[str] = typer.Option(None, "--model", help="Encoder it must fit (default: the one its card names)."),
    force: bool = typer.Option(False, "--force", help="Replace a local adapter of the same name."),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir"),
):
    """Download an adapter (safetensors only), check it fits the encoder, register it under a local name."""
    from toolkit.hub import pull as pull_adapter

    path = pull_adapter(repo, name=name, revision=revision, artifacts_dir=artifacts_dir, encoder=model, force=force)
    console.print(f"pulled {repo} -> {path} (use it as --setup {path.name})")


if __name__ == "__main__":
    app()

"""The `xta` command line: a thin Typer shell over the ``toolkit`` library.

Each command turns flags into a config object, makes one library call and renders the result. Errors the
library raises as ``XtaError`` become one red line on stderr and exit code 1 (no traceback).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from toolkit.errors import ConfigError, XtaError

if TYPE_CHECKING:
    from toolkit.progress import PlainProgress

VERBOSE_FLAGS = ("-v", "--verbose")

#: Old spellings still accepted (issue 20 item 5), hidden from --help: command -> {old: the one spelling}.
#: The vocabulary (README "CLI vocabulary"): --task one task trained, --tasks a list of input tasks, --target the
#: one target a command works for, --targets the target tasks evaluated; --artifacts-dir adapters, --results-dir
#: records, --report-dir reports, --home a root holding all three, --out a single output file; --lr everywhere.
LEGACY_SPELLINGS = {
    "eval": {"--tasks": "--targets", "--train-lr": "--lr"},
    "report": {"--out": "--report-dir"},
    "demo": {"--out": "--home"},
}


def _modern_spellings(args: list[str]) -> list[str]:
    """The subcommand's old option spellings (:data:`LEGACY_SPELLINGS`) rewritten to the current ones,
    ``--old=value`` included; nothing after ``--`` is touched."""
    command = next((a for a in args if a in LEGACY_SPELLINGS or not a.startswith("-")), None)
    table = LEGACY_SPELLINGS.get(command or "")
    if not table or command is None:  # no table without a command
        return args
    start, out = args.index(command) + 1, list(args)
    for i in range(start, len(out)):
        if out[i] == "--":
            break
        name, eq, value = out[i].partition("=")
        if name in table:
            out[i] = table[name] + eq + value
    return out


class _VerboseAnywhere(TyperGroup):
    """``-v``/``--verbose`` after the subcommand too (``xta eval ... -v``), not only before it."""

    def parse_args(self, ctx, args):
        if ctx.parent is None and args:
            head = args.index("--") if "--" in args else len(args)
            if any(a in VERBOSE_FLAGS for a in args[:head]):
                args = ["--verbose", *(a for i, a in enumerate(args) if i >= head or a not in VERBOSE_FLAGS)]
            args = _modern_spellings(args)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_VerboseAnywhere,
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


def _config_defaults(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """``--config FILE``: a YAML (or JSON) mapping of this command's options (``max_steps: 100`` or
    ``max-steps: 100``) that become its defaults (click's ``default_map``), so flags given explicitly win."""
    if value is None:
        return value
    import yaml

    try:
        data = yaml.safe_load(Path(value).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"{value}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{value}: expected a mapping of option names to values")
    legacy = LEGACY_SPELLINGS.get(ctx.info_name or "", {})
    names = {}
    for p in ctx.command.params:
        if p.name in ("config", "help"):
            continue
        for spelling in (p.name, *p.opts, *(old for old, new in legacy.items() if new in p.opts)):
            names[spelling.lstrip("-").replace("-", "_")] = p.name
    unknown = sorted(str(k) for k in data if str(k).lstrip("-").replace("-", "_") not in names)
    if unknown:
        raise typer.BadParameter(f"{value}: unknown option(s) {', '.join(unknown)} (allowed: {', '.join(sorted(set(names.values())))})")
    ctx.default_map = {**(ctx.default_map or {}), **{names[str(k).lstrip("-").replace("-", "_")]: v for k, v in data.items()}}
    return value


ConfigOpt = typer.Option(None, "--config", is_eager=True, callback=_config_defaults,
                         help="YAML or JSON file of this command's options (e.g. max_steps: 100); flags given explicitly override it.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout instead of tables (progress and errors stay on stderr).")
LoggingStepsOpt = typer.Option(None, "--logging-steps", help="Write a train_log.jsonl line (mean loss, learning rate, speed) every N optimizer steps (default 10).")
ReportToOpt = typer.Option(None, "--report-to", help="Also send the log to: tensorboard | wandb (offline unless WANDB_MODE is set) | none; comma list allowed. Needs pip install 'xta[tensorboard]' / 'xta[wandb]'.")
PIPE_WIDTH = 4096  # piped/redirected stdout: tables as wide as their content, never cut at 80 columns


log = logging.getLogger("xta")


def error_line(message: object) -> None:
    """One red ``error:`` line on stderr. The message is escaped: file contents, paths and option values
    may hold ``[...]`` (``dev[:80%]``, a folder named ``data[v2]``) that rich would read as markup."""
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def cli_errors(fn):
    """Turn XtaError into one line on stderr and exit code 1. Any other exception (a bug, or an input
    no check caught) is the last resort: one line naming its type, the traceback in the log (``-v``),
    exit code 1 - never a traceback on the user's terminal."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except XtaError as exc:
            error_line(exc)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except OSError as exc:  # unwritable folder, full disk, ...: the file and the reason
            log.info("traceback", exc_info=True)
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            error_line(f"{where}{exc.strerror or exc} (re-run with -v for the traceback)")
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - the last resort, see the docstring
            log.info("traceback", exc_info=True)
            error_line(f"unexpected {type(exc).__name__}: {exc} (re-run with -v for the traceback; "
                       "please report it, xta should have named the bad input)")
            raise typer.Exit(1) from None

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        from toolkit import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what xta does."),
         show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                           help="Print xta's version and exit (as xta version).")):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if verbose:  # basicConfig does nothing when logging was set up before (a second command in one process)
        logging.getLogger().setLevel(logging.INFO)
    # `xta tasks | grep commonsenseqa`: in a pipe nothing is cut to 80 columns (an explicit COLUMNS still wins)
    # rich's width setter is annotated int, but None (its constructor's default) means "detect the width"
    console.width = PIPE_WIDTH if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit() else None  # pyright: ignore[reportAttributeAccessIssue]
    # under torchrun only rank 0 reports (errors on stderr still come from every rank)
    console.quiet = os.environ.get("RANK", "0") != "0" and os.environ.get("WORLD_SIZE", "1") not in ("", "1")


def _print_json(obj) -> None:
    from toolkit.jsonout import dumps

    typer.echo(dumps(obj))


@app.command()
def version():
    """Print xta's version."""
    from toolkit import __version__

    typer.echo(__version__)


@tasks_app.callback()
@cli_errors
def tasks(ctx: typer.Context, benchmark: Optional[str] = typer.Option(None, help="Only target tasks of xtreme-r or xtreme."),
          as_json: bool = JsonOpt):
    """Table of every task: name, benchmark, shape, number of languages, main metric."""
    if ctx.invoked_subcommand:
        return
    from toolkit.tasks import all_tasks

    if as_json:
        from toolkit.api import list_tasks

        _print_json(list_tasks(benchmark))
        return
    table = Table(title="xta tasks")
    for col in ("task", "benchmark", "shape", "#langs", "metric", "english training source"):
        table.add_column(col, no_wrap=col == "task")
    for spec in all_tasks().values():
        if benchmark and benchmark not in spec.benchmarks:
            continue
        _add_row(table, spec.name, ", ".join(spec.benchmarks), spec.shape, str(len(spec.langs())), spec.main_metric,
                      ", ".join(spec.train_from) or ("-" if spec.is_target else "(itself)"))
    console.print(table)


@tasks_app.command("show")
@cli_errors
def tasks_show(name: str, data_dir: Optional[Path] = DataDirOpt):
    """Everything about one task, and which of its languages are available locally."""
    from toolkit import data
    from toolkit.tasks import get_task

    spec = get_task(name)
    console.print(f"[bold]{escape(spec.name)}[/] (v{spec.version}) - {escape(spec.description)}")
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
        _add_row(table, k, v)
    console.print(table)
    splits = Table(title="splits")
    for col in ("split", "local files", "hub", "available locally"):
        splits.add_column(col)
    root = data.resolve_data_dir(data_dir)
    for split_name, src in spec.splits.items():
        hubs = src.hub if isinstance(src.hub, tuple) else ((src.hub,) if src.hub else ())
        local_langs = data.available_languages(spec, split_name, root) if root else []
        _add_row(splits,
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
        _add_row(table, row.name, row.kind, str(row.path or "-"), _human_bytes(row.size) if row.size else "-")
    console.print(table)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


SeedsOpt = typer.Option(None, "--seeds", help="Several training seeds, e.g. 1,2,3: one adapter per seed (s<seed>_<name>, finished seeds reused); prints mean ± sd over seeds.")


def _train_seeds(cfg, seeds: str, **kwargs) -> None:
    """``--seeds`` of train-adapter, fuse and stack: one adapter per seed, English dev mean ± sd."""
    from toolkit.seeds import parse_seeds, train_seeds

    st = train_seeds(cfg, parse_seeds(seeds), **kwargs)
    for result in st.results.values():
        _show_trained(result)
    header, rows = st.dev_rows()
    _table(f"{cfg.name} over {len(st.results)} seeds (English dev; sd over seeds)", header, rows)


def _options(**kwargs) -> dict:
    """Flags the user actually gave (None = not given, so the config's default applies)."""
    return {k: v for k, v in kwargs.items() if v is not None}


DeviceOpt = typer.Option(None, "--device", help="cpu | cuda | cuda:N | mps | auto (default: $XTA_DEVICE, else auto: cuda when a GPU is visible, else cpu); checked before any model loads.")
GradAccumOpt = typer.Option(None, "--grad-accum", help="Gradient accumulation: micro-batches per optimizer step (default 1); effective batch = batch size x N x torchrun processes.")
EvalPrecisionOpt = typer.Option(None, "--eval-precision", help="fp32 | bf16 | fp16: evaluation autocast (default: bf16 on a GPU that supports it, fp32 on CPU); bf16 also on CPU, fp16 only on a GPU. Recorded (and hashed) with each result.")


def _use_device(device: Optional[str], eval_precision: Optional[str] = None) -> None:
    """``--device`` (beats $XTA_DEVICE, which beats auto) and ``--eval-precision``, validated before any
    model loads; they apply to this whole process (the encoder, adapters, on-the-fly training)."""
    if device is None and eval_precision is None:
        return
    from toolkit.encoders import default_device, use_device

    resolved = use_device(device) if device is not None else default_device()
    if eval_precision is not None:
        from toolkit.families.base import eval_precision as check_precision

        os.environ["XTA_EVAL_PRECISION"] = eval_precision.strip().lower()
        check_precision(resolved)


def _single_process(command: str) -> None:
    """Only train-adapter, fuse and stack are data-parallel; the other commands would repeat their work
    in every torchrun process and race on the same files."""
    from toolkit.distributed import world_size

    if world_size() > 1:
        raise ConfigError(f"xta {command} runs in one process; launch it without torchrun "
                          "(data-parallel: train-adapter, fuse, stack)")


@app.command("train-adapter")
@cli_errors
def train_adapter_cmd(
    task: str = typer.Option(..., "--task", help="Intermediate card (xta tasks) or target task to train on (English)."),
    model: Optional[str] = typer.Option(None, "--model", help="Encoder: 'embedded' (offline default), a Hub id such as FacebookAI/xlm-roberta-large, or a local path."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the trained adapter (default: the task)."),
    adapter_config: Optional[str] = typer.Option(None, "--adapter-config", help="adapters config: seq_bn (default), double_seq_bn, lora, prefix_tuning, ..."),
    reduction_factor: Optional[float] = typer.Option(None, "--reduction-factor", help="Bottleneck reduction factor (default 16)."),
    leave_out: Optional[str] = typer.Option(None, "--leave-out", help="Layers without the adapter, e.g. 0-11 (AdapterDrop: faster training, backward stops above them)."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="AdamW learning rate (default: the task card's, else 1e-4)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Epochs (default: the task card's, else 3)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps; overrides --epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Training batch size (default: the task card's, else 16)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Maximum tokens per input (default: the task card's, else 384 for QA, 128 otherwise)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 42); same seed, same adapter on CPU."),
    max_train_examples: Optional[int] = typer.Option(None, "--max-train-examples", help="Use only the first N training examples."),
    max_dev_examples: Optional[int] = typer.Option(None, "--max-dev-examples", help="English dev examples for model selection (default: all)."),
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
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 (default) | bf16 | fp16: autocast on a GPU (the adapter's weights stay fp32)."),
    grad_accum: Optional[int] = GradAccumOpt,
    device: Optional[str] = DeviceOpt,
    logging_steps: Optional[int] = LoggingStepsOpt, report_to: Optional[str] = ReportToOpt,
    mlm_text: Optional[str] = typer.Option(None, "--mlm-text", help="Comma-separated plain-text files (one sentence per line): a masked-LM loss on them is mixed into training (the seed paper's multilingual MLM alternative)."),
    mlm_weight: Optional[float] = typer.Option(None, "--mlm-weight", help="Weight of the masked-LM loss (default 1)."),
    train_langs: Optional[str] = typer.Option(None, "--train-langs", help="Languages of the training data, e.g. en,de,fr: the task's translated data (translate-train; default en)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with these options (flags override it)."),
    data_dir: Optional[Path] = DataDirOpt,
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Where adapters live (default $XTA_HOME/artifacts or ./xta_runs/artifacts)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if an identical finished run exists."),
    seeds: Optional[str] = SeedsOpt,
):
    """Train an adapter (+ head) on a task's English data, on a frozen encoder; resumable."""
    from toolkit.config import TrainConfig, from_dict, from_yaml, to_dict
    from toolkit.preflight import check_training

    given = _options(
        task=task, model=model, adapter_name=name, adapter_config=adapter_config, reduction_factor=reduction_factor,
        leave_out=leave_out,
        learning_rate=learning_rate, epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_length=max_length,
        seed=seed, max_train_examples=max_train_examples, eval_every=eval_every, patience=patience, recipe=recipe,
        init_from=init_from, intermediate=intermediate, extra_tasks=extra_tasks, sampling=sampling,
        temperature=temperature, train_split=train_split, dev_split=dev_split, precision=precision,
        gradient_accumulation_steps=grad_accum,
        logging_steps=logging_steps, report_to=report_to,
        mlm_text=mlm_text, mlm_weight=mlm_weight, train_langs=train_langs,
        data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
    )
    base_cfg = from_yaml(config, TrainConfig) if config else None  # its card defaults stay beneath the flags
    base = {k: v for k, v in to_dict(base_cfg).items() if k not in base_cfg.defaults_applied} if base_cfg else {}
    cfg = from_dict(TrainConfig, {**base, **given}, where="options")
    check_training(cfg, artifacts_dir, force=force)  # names and data, before torch and the encoder load
    _use_device(device)
    from toolkit.train import train_adapter

    if seeds:
        return _train_seeds(cfg, seeds, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    result = train_adapter(cfg, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    verb = "already trained (identical configuration); nothing recomputed" if result.skipped else f"trained {result.steps} steps"
    console.print(f"[bold]{escape(result.name)}[/]: {verb}" + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    for t, scores in result.dev_scores.items():
        console.print(f"  English dev {t}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    console.print(f"  saved to {escape(str(result.path))}")


@app.command("eval")
@cli_errors
def eval_cmd(
    benchmark: str = typer.Option("xtreme-r", "--benchmark", help="xtreme-r | xtreme | demo (the built-in CLDR tasks)."),
    tasks: Optional[str] = typer.Option(None, "--targets", help="Comma-separated target tasks (default: all of the benchmark)."),
    langs: Optional[str] = typer.Option(None, "--langs", help="Comma-separated languages (default: all of each task)."),
    setup: str = typer.Option("auto", "--setup", help="auto (each task's target adapter) | none | NAME | stack:a,b | fuse:a,b>target."),
    model: str = typer.Option("embedded", "--model", help="Encoder (see xta encoders)."),
    split: str = typer.Option("auto", "--split", help="test | dev | auto (test where it has gold labels, else dev), or a slice such as 'dev\\[80%:]' (not exported)."),
    max_eval_examples: Optional[int] = typer.Option(None, "--max-eval-examples", help="First N examples per language."),
    batch_size: int = typer.Option(32, "--batch-size"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Default: 128 (384 for QA); also the length of target adapters trained on the fly (default: their card's)."),
    retrieval_layer: Optional[int] = typer.Option(None, "--retrieval-layer", help="Hidden state (0 = embeddings, -1 = last) the retrieval tasks read (default: the encoder's protocol layer, 14 for XLM-R Large, 8 for 12 layers)."),
    retrieval_pooling: str = typer.Option("mean", "--retrieval-pooling", help="mean | cls."),
    seed: int = typer.Option(42, "--seed"),
    train_steps: Optional[int] = typer.Option(None, "--train-steps", help="Steps for target adapters trained on the fly."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="English training examples for those adapters."),
    train_dev_examples: Optional[int] = typer.Option(None, "--train-dev-examples", help="English dev examples they select their best checkpoint on (default: all)."),
    train_lr: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="Learning rate for those adapters (default: the card's of their training source, else 1e-4)."),
    train_split: str = typer.Option("train", "--train-split", help="Their training split (slices allowed: 'dev[:80%]')."),
    train_dev_split: str = typer.Option("dev", "--train-dev-split", help="Their model-selection split."),
    train_from: Optional[str] = typer.Option(None, "--train-from", help="TARGET=SOURCE(/TRAIN_SPLIT(/DEV_SPLIT)),... e.g. xquad=tydiqa,xnli=xnli/dev\\[:80%]/dev\\[80%:]: train a target's adapter on other English data or splits (same head shape)."),
    data_dir: Optional[Path] = DataDirOpt,
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Results store (default $XTA_HOME/results or ./xta_runs/results)."),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Adapters (default $XTA_HOME/artifacts or ./xta_runs/artifacts)."),
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="Also write the report (CSV, Markdown) here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace finished results computed under another configuration (default: keep them, report a conflict)."),
    bootstrap_resamples: int = typer.Option(1000, "--bootstrap-resamples", help="Bootstrap resamples of each language's 95% CI over its test examples (seeded with --seed); 0: no CI."),
    as_json: bool = JsonOpt,
    force: bool = typer.Option(False, "--force", help="Evaluate adapters trained on another encoder (another weights fingerprint) than --model; refused by default."),
    device: Optional[str] = DeviceOpt,
    eval_precision: Optional[str] = EvalPrecisionOpt,
    seeds: Optional[str] = typer.Option(None, "--seeds", help="With --setup auto: target adapters trained once per seed, e.g. 1,2,3 (artifacts and results in <dir>-s<seed>, finished seeds reused); prints mean ± sd over seeds with a CI over seeds and examples."),
    config: Optional[Path] = ConfigOpt,
):
    """Zero-shot evaluation: English-trained adapters applied unchanged to every language; resumable."""
    from toolkit.config import EvalConfig
    from toolkit.evaluate import evaluate
    from toolkit.progress import counter

    for flag, value in (("--targets", tasks), ("--langs", langs)):
        if value is not None and not value.replace(",", "").strip():  # `--langs ""` must not mean "all of them"
            raise ConfigError(f"{flag}: empty; leave it out for all, or name at least one")
    # the comma-separated flags go in as text (the casts): EvalConfig's __post_init__ splits them into tuples
    cfg = EvalConfig(
        setup=setup, tasks=cast("tuple[str, ...]", tasks or ()), langs=cast("tuple[str, ...]", langs or ()), benchmark=benchmark, model=model, split=split,
        max_eval_examples=max_eval_examples, batch_size=batch_size, max_length=max_length,
        retrieval_layer=retrieval_layer, retrieval_pooling=retrieval_pooling, seed=seed, train_steps=train_steps,
        train_examples=train_examples, train_dev_examples=train_dev_examples, train_split=train_split, train_dev_split=train_dev_split, train_from=cast("tuple[str, ...]", train_from or ()), train_learning_rate=train_lr,
        data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
        results_dir=str(results_dir) if results_dir else None, artifacts_dir=str(artifacts_dir) if artifacts_dir else None,
        overwrite=overwrite, force=force,
        bootstrap_resamples=bootstrap_resamples,
    )
    _single_process("eval")
    _use_device(device, eval_precision)
    if seeds:
        return _eval_seeds(cfg, seeds, as_json)
    with counter("evaluating", console=err_console, unit="task-language") as tick:  # plain lines without a terminal
        run = evaluate(cfg, on_language=lambda task, lang, status: tick(f"{task} {lang} {status}"), progress=True)
    if as_json:
        _eval_json(run, cfg, report_dir)
    _exit_if_nothing_succeeded(run)
    if not as_json:
        _print_eval(run, cfg, report_dir)


def _eval_seeds(cfg, seeds: str, as_json: bool) -> None:
    """``xta eval --seeds``: one evaluation per seed, then each task's mean over seeds."""
    from toolkit.progress import counter
    from toolkit.seeds import evaluate_seeds, parse_seeds, score_rows, seed_eval_config

    parsed = parse_seeds(seeds)
    for s in parsed:
        seed_eval_config(cfg, s)  # refuses a setup other than auto before any work
    with counter("evaluating", console=err_console, unit="task-language") as tick:
        se = evaluate_seeds(cfg, parsed, on_language=lambda task, lang, status: tick(f"{task} {lang} {status}"), progress=True)
    scores = se.scores()
    if as_json:
        _print_json({"seeds": list(se.runs), "tasks": [
            {"task": s.task, "languages": list(s.languages), "per_seed": {str(k): v for k, v in s.per_seed.items()},
             "mean": s.mean, "sd": s.sd, "ci": None if s.low is None else {"low": s.low, "high": s.high, "level": 0.95,
                                                                          "resamples": s.resamples}} for s in scores]})
        return
    for seed, run in se.runs.items():
        console.print(f"seed {seed}: results in {escape(str(run.store.root))}")
        _print_eval(run, run.config, None)
    header, rows = score_rows(scores, list(se.runs))
    _table(f"mean score over languages, over {len(se.runs)} seeds (± sd over seeds; 95% CI over seeds and examples)", header, rows)


def _eval_json(run, cfg, report_dir: Optional[Path]) -> None:
    """``xta eval --json``: the report of what the store holds for this setup, and what this run did."""
    from toolkit.jsonout import summary_json
    from toolkit.report import scores_from_store, summarize, write_report

    gathered = scores_from_store(run.store, cfg.model, cfg.setup, cfg.benchmark)
    summary = summarize(cfg.benchmark, gathered.scores, gathered.failed, languages={t.task: t.languages for t in run.tasks})
    out = summary_json(cfg.benchmark, cfg.model, cfg.setup, gathered, summary)
    out["run"] = [{"task": t.task, "setup": t.setup, "split": t.split, "computed": t.computed, "reused": t.reused,
                   "failed": t.failed, "error": t.error} for t in run.tasks]
    if report_dir:
        out["report"] = str(write_report(summary, gathered, report_dir, cfg.artifacts_dir)["report.md"])
    _print_json(out)


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
        error_line(f"{where}: {why}")
    raise typer.Exit(1)


def _print_eval(run, cfg, report_dir: Optional[Path]) -> None:
    from toolkit.report import SUMMARY_HEADER, language_rows, scores_from_store, summarize, summary_rows, write_report

    gathered = scores_from_store(run.store, cfg.model, cfg.setup, cfg.benchmark)
    langs = {t.task: t.languages for t in run.tasks}
    header, rows = language_rows(gathered, by=_orientation(gathered))
    _table(f"{cfg.benchmark}: main score per language ({cfg.model}, setup {cfg.setup})", header, rows)
    summary = summarize(cfg.benchmark, gathered.scores, gathered.failed, languages=langs, gathered=gathered, encoder=cfg.model)
    _table("summary (no average over missing languages or tasks)", SUMMARY_HEADER, summary_rows(summary))
    computed = sum(len(t.computed) for t in run.tasks)
    reused = sum(len(t.reused) for t in run.tasks)
    failed = {f"{t.task}/{l}": e for t in run.tasks for l, e in t.failed.items()}
    console.print(f"computed {computed} task-languages, reused {reused} from the store, {len(failed)} failed")
    for where, why in list(failed.items())[:20]:
        console.print(f"  [red]failed[/] {escape(where)}: {escape(str(why))}", highlight=False, soft_wrap=True)
    if report_dir:
        files = write_report(summary, gathered, report_dir, cfg.artifacts_dir)
        console.print(f"report: {escape(str(files['report.md']))}")


def _orientation(gathered) -> str:
    """Languages as columns while they fit beside each other; one row per language beyond that."""
    langs = {lang for s in gathered.scores.values() for lang in s} | {lang for f in gathered.failed.values() for lang in f}
    return "task" if len(langs) <= 10 else "language"


def _add_row(table: Table, *cells: object) -> None:
    """A table row whose cells are text, not markup (names, paths and configs may hold brackets)."""
    table.add_row(*(escape(str(c)) for c in cells))


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    table = Table(title=escape(title))
    for i, col in enumerate(header):
        table.add_column(escape(str(col)), no_wrap=i == 0)  # the first column holds the names users copy
    for row in rows:
        _add_row(table, *row)
    console.print(table)


@app.command()
@cli_errors
def report(
    benchmark: str = typer.Option("xtreme-r", "--benchmark", help="xtreme-r | xtreme | demo."),
    model: str = typer.Option("embedded", "--model"),
    setup: str = typer.Option("auto", "--setup"),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir"),
    out: Optional[Path] = typer.Option(None, "--report-dir", help="Write summary.csv, languages.csv and report.md here."),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Adapters whose training logs --report-dir plots as training_curves.png (default $XTA_HOME/artifacts or ./xta_runs/artifacts)."),
    as_json: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
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
    if as_json:
        from toolkit.jsonout import summary_json

        summary = summarize(benchmark, gathered.scores, gathered.failed)
        result = summary_json(benchmark, model, setup, gathered, summary)
        if out:
            result["report"] = str(write_report(summary, gathered, out, artifacts_dir)["report.md"])
        _print_json(result)
        return
    header, rows = language_rows(gathered, by=_orientation(gathered))
    _table(f"{benchmark}: main score per language ({model}, setup {setup})", header, rows)
    summary = summarize(benchmark, gathered.scores, gathered.failed, gathered=gathered, encoder=model)
    _table("summary (no average over missing languages or tasks)", SUMMARY_HEADER, summary_rows(summary))
    if out:
        files = write_report(summary, gathered, out, artifacts_dir)
        console.print(f"report: {escape(str(files['report.md']))}")


@app.command()
@cli_errors
def export(
    out: Path = typer.Argument(..., help="Output folder: OUT/<task>/<split>-<lang>.<tsv|json|jsonl>."),
    format: str = typer.Option("xtreme-r", "--format", help="xtreme-r | xtreme: which benchmark's tasks to export."),
    model: str = typer.Option("embedded", "--model"),
    setup: str = typer.Option("auto", "--setup"),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir"),
    force: bool = typer.Option(False, "--force", help="Write into a folder that already holds files."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated", help="Also write results of --max-eval-examples runs (marked NOT_A_SUBMISSION.txt; never for the leaderboard)."),
):
    """Write stored predictions in the leaderboard layout that the official evaluate.py scores."""
    from toolkit.export import export as export_predictions
    from toolkit.results import ResultStore

    result = export_predictions(ResultStore(results_dir), model, setup, format, out, force=force, allow_truncated=allow_truncated)
    console.print(f"wrote {len(result.files)} prediction files under {escape(str(out))}")
    for where, why in result.skipped.items():
        console.print(f"  not exported {escape(str(where))}: {escape(str(why))}", highlight=False)


@app.command()
@cli_errors
def select(
    target: Optional[str] = typer.Option(None, "--target", help="Target task (e.g. xnli, xcopa)."),
    candidates: Optional[str] = typer.Option(None, "--candidates", help="Comma-separated intermediate tasks (default: every card)."),
    budget: int = typer.Option(1, "--budget", help="How many intermediate tasks to pick (a set for fusion / multi-task)."),
    objective: str = typer.Option("mean", "--objective", help="mean | worst-language | low-resource (needs a measured matrix)."),
    estimator: str = typer.Option("semb", "--estimator", help="semb (dataset-embedding similarity) | logme (needs the candidates' trained adapters) | taskemb (Fisher task embedding; needs the target's and the candidates' trained adapters) | size | random."),
    semb_model: Optional[str] = typer.Option(None, "--semb-model", help="Sentence-embedding model for semb and set diversity (default: embedded, i.e. multilingual-e5-small)."),
    semb_prefix: Optional[str] = typer.Option(None, "--semb-prefix", help="Text prefix for the semb model (default: 'query: ' for E5 models, none otherwise)."),
    diversity_weight: float = typer.Option(0.0, "--diversity-weight", help="Bonus for a diverse set (budget > 1)."),
    combine: str = typer.Option("fuse", "--combine", help="How a set is trained: fuse | multitask."),
    model: Optional[str] = typer.Option(None, "--model", help="Task encoder for logme and taskemb (default: embedded; with --evaluate: the matrix's)."),
    n: Optional[int] = typer.Option(None, "--n", help="Examples sampled per task for embeddings, LogME and TaskEmb (default 500; 200 with --evaluate)."),
    seed: int = typer.Option(0, "--seed"),
    evaluate: bool = typer.Option(False, "--evaluate", help="Score every estimator's rankings against the measured matrix of --config: Regret@k, NDCG, Spearman per target and language group."),
    config: Optional[Path] = typer.Option(None, "--config", help="With --evaluate: the matrix YAML (as for xta matrix) whose results are in the store."),
    estimators: str = typer.Option("semb,logme,taskemb,size,random", "--estimators", help="With --evaluate: the estimators to evaluate."),
    recipe: str = typer.Option("sequential", "--recipe", help="With --evaluate: the matrix recipe whose gains are the ground truth."),
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="With --evaluate: write selection.md and the gain-vs-diversity PNG here."),
    data_dir: Optional[Path] = DataDirOpt,
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir", help="Trained adapters (for logme and taskemb)."),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="With --evaluate: the results store."),
    as_json: bool = JsonOpt,
):
    """Pick intermediate tasks for a target with a cheap transferability estimator (or, with --evaluate, score the estimators against a measured matrix)."""
    from toolkit.encoders import load_encoder

    data = str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR")
    if evaluate:
        _select_evaluate(config, estimators, recipe, model, n or 200, seed, data, artifacts_dir, results_dir, report_dir,
                         semb_model, semb_prefix, as_json)
        return
    if not target:
        raise ConfigError("--target is required (or pass --evaluate --config MATRIX.yaml)")
    from toolkit.selection import run_selection
    from toolkit.tasks import intermediate_tasks

    from toolkit.selection import SEMB_MODEL

    enc = load_encoder(model or "embedded") if estimator in ("logme", "taskemb") else None
    semb_enc = load_encoder(semb_model or SEMB_MODEL) if estimator == "semb" or diversity_weight else None
    names = [c.strip() for c in candidates.split(",")] if candidates else [t.name for t in intermediate_tasks()]
    run = run_selection(target, names, budget=budget, objective=objective, estimator=estimator, encoder=enc,
                        data_dir=data, n=n or 500, seed=seed, diversity_weight=diversity_weight, combine=combine,
                        artifacts_dir=artifacts_dir, semb_encoder=semb_enc, semb_prefix=semb_prefix, model=model)
    if as_json:
        from toolkit.jsonout import selection_json

        result = selection_json(run, target, estimator)
        if semb_enc is not None:
            from toolkit.selection import semb_prefix as default_semb_prefix

            result["semb_model"] = semb_enc.name
            result["semb_prefix"] = semb_prefix if semb_prefix is not None else default_semb_prefix(semb_enc)
        _print_json(result)
        return
    rows = [[e.candidate, f"{e.score:.4f}", run.data_used.get(e.candidate, "-"), f"{e.cost.seconds:.1f}s" if e.cost else "-"]
            for e in sorted(run.estimates, key=lambda e: -e.score)]
    _table(f"{estimator} estimates for {target} (English data: {run.data_used.get(target, '-')})",
           ["candidate", "score", "data", "cost"], rows)
    if semb_enc is not None:
        from toolkit.selection import semb_prefix as default_semb_prefix

        shown = semb_prefix if semb_prefix is not None else default_semb_prefix(semb_enc)
        console.print(f"SEmb model: {semb_enc.name} (text prefix {shown!r})", highlight=False)
    if run.logme_data:
        console.print(f"LogME labels of {target}: English {run.logme_data}", highlight=False)
    for name, why in run.skipped.items():
        console.print(f"  [yellow]skipped[/] {escape(str(name))}: {escape(str(why))}", highlight=False)
    for name, why in run.overlaps.items():
        console.print(f"  [yellow]overlap[/] {escape(why)}", highlight=False)
    for name, where in run.sizes.items():
        console.print(f"  size of {escape(str(name))}: {escape(where)}", highlight=False)
    sel = run.selection
    console.print(f"chosen for {escape(str(target))} ({objective}): [bold]{escape(', '.join(sel.chosen))}[/]")
    if sel.diversity is not None and sel.diversity.mean_pairwise_cosine_distance is not None:
        console.print(f"  set diversity: mean pairwise cosine distance {sel.diversity.mean_pairwise_cosine_distance:.3f}")
    console.print(f"train it with: {escape(sel.command)}", highlight=False, soft_wrap=True)  # never cut: it is pasted
    if run.command_caveat:
        console.print(f"  [yellow]note[/] {escape(run.command_caveat)}", highlight=False)


def _select_evaluate(config, estimators, recipe, model, n, seed, data_dir, artifacts_dir, results_dir, report_dir,
                     semb_model=None, semb_prefix=None, as_json=False) -> None:
    from toolkit.encoders import load_encoder
    from toolkit.matrix import matrix_config_from_yaml
    from toolkit.plots import selector_rows
    from toolkit.selection import evaluate_on_matrix

    if config is None:
        raise ConfigError("--evaluate needs --config MATRIX.yaml: the matrix whose measured results rank the estimators")
    flags = _options(model=model, data_dir=data_dir, artifacts_dir=str(artifacts_dir) if artifacts_dir else None,
                     results_dir=str(results_dir) if results_dir else None)
    cfg = matrix_config_from_yaml(config, **flags)
    names = tuple(e.strip() for e in estimators.split(",") if e.strip())
    from toolkit.selection import SEMB_MODEL

    needs_vectors = "semb" in names or any("," in e or "+" in e for e in cfg.intermediates)
    enc = load_encoder(cfg.model) if "logme" in names or "taskemb" in names else None
    semb_enc = load_encoder(semb_model or SEMB_MODEL) if needs_vectors else None
    ev = evaluate_on_matrix(cfg, names, recipe=recipe, encoder=enc, n=n, seed=seed, semb_encoder=semb_enc,
                            semb_prefix=semb_prefix)
    if as_json:
        out = {"recipe": ev.recipe, "rows": ev.rows, "skipped": ev.skipped, "logme_data": ev.logme_data,
               "diversity_points": ev.points, "intervals": ev.intervals, "overlaps": ev.overlaps}
        if report_dir:
            from toolkit.plots import write_selection_report

            out["report"] = str(write_selection_report(ev, report_dir)["selection.md"])
        _print_json(out)
        return
    header, rows = selector_rows(ev.rows)
    _table(f"selectors vs. the measured matrix ({recipe}; ground truth from the results store)", header, rows)
    if ev.intervals:
        from toolkit.plots import selector_interval_rows

        _table("with 95% bootstrap CIs (targets and languages resampled; vs. random: expected random Regret@k minus "
               "the estimator's)", *selector_interval_rows(ev.intervals))
    for target, used in sorted(ev.logme_data.items()):
        console.print(f"LogME labels of {target}: English {used}", highlight=False)
    for key, why in sorted(ev.skipped.items()):
        console.print(f"  [yellow]skipped[/] {escape(str(key))}: {escape(str(why))}", highlight=False)
    for key, why in sorted(ev.overlaps.items()):
        console.print(f"  [yellow]overlap[/] {escape(why)}", highlight=False)
    from toolkit.plots import diversity_rows, trend_lines

    _table("gain [95% CI] vs. intermediate-set diversity", *diversity_rows(ev.points))
    for line in trend_lines(ev.points):
        console.print(f"  trend {line}", highlight=False, soft_wrap=True, markup=False)
    if report_dir:
        from toolkit.plots import write_selection_report

        files = write_selection_report(ev, report_dir)
        console.print(f"report: {escape(str(files['selection.md']))}")


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
    config: Optional[Path] = ConfigOpt,
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
    console.print(f"pulled {escape(repo)} -> {escape(str(path))} (use it as --setup {escape(path.name)})")


# ---------------------------------------------------------------------------------------------- compositions


def _train_options(**kwargs) -> dict:
    """Training flags shared by fuse and stack, as TrainConfig fields (None: not given)."""
    data_dir = kwargs.pop("data_dir", None)
    return _options(**kwargs, data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"))


def _show_trained(result) -> None:
    verb = "already trained (identical configuration); nothing recomputed" if result.skipped else f"trained {result.steps} steps"
    console.print(f"[bold]{escape(result.name)}[/]: {verb}" + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    for t, scores in result.dev_scores.items():
        console.print(f"  English dev {t}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    console.print(f"  saved to {escape(str(result.path))}")


LrOpt = typer.Option(None, "--lr", "--learning-rate", help="AdamW learning rate (default: the task card's, else 1e-4).")
EpochsOpt = typer.Option(None, "--epochs", help="Epochs (default: the task card's, else 3).")
MaxStepsOpt = typer.Option(None, "--max-steps", help="Optimizer steps; overrides --epochs.")
BatchOpt = typer.Option(None, "--batch-size", help="Training batch size (default: the task card's, else 16).")
LengthOpt = typer.Option(None, "--max-length", help="Maximum tokens per input (default: the task card's, else 384 for QA, 128 otherwise).")
SeedOpt = typer.Option(None, "--seed", help="Random seed (default 42).")
ExamplesOpt = typer.Option(None, "--max-train-examples", help="Use only the first N training examples.")
TrainSplitOpt = typer.Option(None, "--train-split", help="Split to train on (default train); slices allowed, e.g. 'dev[:80%]'.")
DevSplitOpt = typer.Option(None, "--dev-split", help="Split for model selection (default dev), e.g. 'dev[80%:]'.")
ModelOpt = typer.Option(None, "--model", help="Encoder: 'embedded' (default), a Hub id or a local path.")
ArtifactsOpt = typer.Option(None, "--artifacts-dir", help="Where adapters live (default $XTA_HOME/artifacts or ./xta_runs/artifacts).")
TrainTaskOpt = typer.Option(None, "--train-task", help="English task whose data trains it, when the target's own English training data is not at hand (e.g. copa for xcopa, whose card trains on SIQA's Hub-only train split, then COPA); as the matrix's train_task.")
ForceOpt = typer.Option(False, "--force", help="Retrain even if an identical finished run exists.")
DevExamplesOpt = typer.Option(None, "--max-dev-examples", help="English dev examples for model selection (default: all).")


@app.command("fuse")
@cli_errors
def fuse_cmd(
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated trained intermediate adapters to fuse (kept frozen)."),
    target: str = typer.Option(..., "--target", help="Task the fusion layer and its head are trained for (English data)."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the fusion (default fuse_<target>); evaluate it with --setup 'fuse:<tasks>><name>'."),
    model: Optional[str] = ModelOpt, learning_rate: Optional[float] = LrOpt, epochs: Optional[float] = EpochsOpt,
    max_steps: Optional[int] = MaxStepsOpt, batch_size: Optional[int] = BatchOpt, max_length: Optional[int] = LengthOpt,
    seed: Optional[int] = SeedOpt, max_train_examples: Optional[int] = ExamplesOpt,
    max_dev_examples: Optional[int] = DevExamplesOpt,
    train_split: Optional[str] = TrainSplitOpt, dev_split: Optional[str] = DevSplitOpt,
    grad_accum: Optional[int] = GradAccumOpt, device: Optional[str] = DeviceOpt,
    logging_steps: Optional[int] = LoggingStepsOpt, report_to: Optional[str] = ReportToOpt,
    data_dir: Optional[Path] = DataDirOpt, artifacts_dir: Optional[Path] = ArtifactsOpt, force: bool = ForceOpt,
    seeds: Optional[str] = SeedsOpt,
    config: Optional[Path] = ConfigOpt,
    train_task: Optional[str] = TrainTaskOpt,
):
    """AdapterFusion (Pfeiffer et al. 2021): a fusion layer over trained adapters + a head for the target task."""
    from toolkit.config import TrainConfig, from_dict
    from toolkit.preflight import check_training
    from toolkit.train import train_adapter

    given = _train_options(
        task=train_task or target, recipe="fuse", intermediate=tasks, adapter_name=name or f"fuse_{target}", model=model,
        learning_rate=learning_rate, epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_length=max_length,
        seed=seed, max_train_examples=max_train_examples, train_split=train_split, dev_split=dev_split, data_dir=data_dir,
        gradient_accumulation_steps=grad_accum,
        logging_steps=logging_steps, report_to=report_to,
    )
    cfg = from_dict(TrainConfig, given, where="options")
    _use_device(device)  # a device that is not there: said first (cheapest)
    check_training(cfg, artifacts_dir, force=force)  # names and data, before the encoder loads
    if seeds:
        return _train_seeds(cfg, seeds, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    result = train_adapter(cfg, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    _show_trained(result)
    console.print(escape(f"  evaluate with: xta eval --setup \"fuse:{','.join(cfg.intermediate)}>{cfg.name}\""), highlight=False)


@app.command("stack")
@cli_errors
def stack_cmd(
    task: str = typer.Option(..., "--task", help="Task of the new adapter (trained on English data)."),
    lang_adapter: str = typer.Option(..., "--lang-adapter", help="Trained adapter(s) below it, comma-separated, e.g. lang_en (MAD-X)."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the new adapter (default: the task)."),
    adapter_config: Optional[str] = typer.Option(None, "--adapter-config", help="adapters config of the new adapter (default seq_bn)."),
    reduction_factor: Optional[float] = typer.Option(None, "--reduction-factor", help="Bottleneck reduction factor (default 16)."),
    model: Optional[str] = ModelOpt, learning_rate: Optional[float] = LrOpt, epochs: Optional[float] = EpochsOpt,
    max_steps: Optional[int] = MaxStepsOpt, batch_size: Optional[int] = BatchOpt, max_length: Optional[int] = LengthOpt,
    seed: Optional[int] = SeedOpt, max_train_examples: Optional[int] = ExamplesOpt,
    max_dev_examples: Optional[int] = DevExamplesOpt,
    train_split: Optional[str] = TrainSplitOpt, dev_split: Optional[str] = DevSplitOpt,
    grad_accum: Optional[int] = GradAccumOpt, device: Optional[str] = DeviceOpt,
    logging_steps: Optional[int] = LoggingStepsOpt, report_to: Optional[str] = ReportToOpt,
    data_dir: Optional[Path] = DataDirOpt, artifacts_dir: Optional[Path] = ArtifactsOpt, force: bool = ForceOpt,
    seeds: Optional[str] = SeedsOpt,
    config: Optional[Path] = ConfigOpt,
    train_task: Optional[str] = TrainTaskOpt,
):
    """MAD-X: train a task adapter stacked above frozen (language) adapters; swap them per language at eval."""
    from toolkit.config import TrainConfig, from_dict
    from toolkit.preflight import check_training
    from toolkit.train import train_adapter

    given = _train_options(
        task=train_task or task, recipe="stack", intermediate=lang_adapter, adapter_name=name or (task if train_task else None), adapter_config=adapter_config,
        reduction_factor=reduction_factor, model=model, learning_rate=learning_rate, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, max_length=max_length, seed=seed, max_train_examples=max_train_examples,
        train_split=train_split, dev_split=dev_split, data_dir=data_dir, gradient_accumulation_steps=grad_accum,
        logging_steps=logging_steps, report_to=report_to,
    )
    cfg = from_dict(TrainConfig, given, where="options")
    _use_device(device)  # a device that is not there: said first (cheapest)
    check_training(cfg, artifacts_dir, force=force)  # names and data, before the encoder loads
    if seeds:
        return _train_seeds(cfg, seeds, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    result = train_adapter(cfg, artifacts_dir=artifacts_dir, force=force, max_dev_examples=max_dev_examples)
    _show_trained(result)
    console.print(escape(f"  evaluate with: xta eval --setup \"stack:lang_{{lang}},{cfg.name}\""), highlight=False)


@app.command("mlm-text")
@cli_errors
def mlm_text_cmd(
    task: str = typer.Option(..., "--task", help="Task whose non-English sides give the text, e.g. pawsx, xnli, tatoeba."),
    split: str = typer.Option(..., "--split", help="The slice to take it from, e.g. 'dev[:50%]' (never the scored slice)."),
    langs: str = typer.Option(..., "--langs", help="Comma-separated non-English languages, e.g. de,fr."),
    out: Path = typer.Option(..., "--out", help="Text file to write (one sentence per line)."),
    scored_split: Optional[str] = typer.Option(None, "--scored-split", help="The split the matrix scores, e.g. 'dev[50%:]': its sentences are left out (PAWS-X reuses sentences across pairs)."),
    data_dir: Optional[Path] = DataDirOpt,
):
    """Write masked-LM text (for --mlm-text) from a slice of a task's non-English data, disjoint from the scored items."""
    from toolkit import mlm_text

    codes = [c.strip() for c in langs.split(",") if c.strip()]
    where = str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR")
    exclude = mlm_text.scored_keys(task, scored_split, codes, where) if scored_split else None
    lines = mlm_text.extract_text(task, split, codes, where, exclude=exclude)
    mlm_text.save_lines(lines, out)
    console.print(f"{len(lines)} sentences of {escape(task)} {escape(split)} ({', '.join(codes)}) -> {escape(str(out))}")


@app.command("train-lang-adapter")
@cli_errors
def train_lang_adapter_cmd(
    lang: str = typer.Option(..., "--lang", help="Language code; the adapter is named lang_<code>."),
    text: Path = typer.Option(..., "--text", help="Plain UTF-8 text in that language, one sentence per line."),
    name: Optional[str] = typer.Option(None, "--name", help="Adapter name (default lang_<lang>)."),
    adapter_config: Optional[str] = typer.Option(None, "--adapter-config", help="Default seq_bn_inv (MAD-X: bottleneck + invertible adapter)."),
    reduction_factor: Optional[float] = typer.Option(None, "--reduction-factor", help="Default 2 (MAD-X)."),
    model: Optional[str] = ModelOpt, learning_rate: Optional[float] = LrOpt,
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (default 1000)."),
    batch_size: Optional[int] = BatchOpt, max_length: Optional[int] = LengthOpt, seed: Optional[int] = SeedOpt,
    max_sentences: Optional[int] = typer.Option(None, "--max-sentences", help="Use only the first N lines."),
    device: Optional[str] = DeviceOpt,
    logging_steps: Optional[int] = LoggingStepsOpt, report_to: Optional[str] = ReportToOpt,
    artifacts_dir: Optional[Path] = ArtifactsOpt, force: bool = ForceOpt,
    config: Optional[Path] = ConfigOpt,
):
    """MAD-X language adapter: masked-LM training (15%, 80/10/10) on plain text, encoder frozen; resumable."""
    from toolkit.config import from_dict
    from toolkit.lang_adapters import LangAdapterConfig, train_language_adapter

    given = _options(lang=lang, text=str(text), adapter_name=name, adapter_config=adapter_config,
                     reduction_factor=reduction_factor, model=model, learning_rate=learning_rate, max_steps=max_steps,
                     batch_size=batch_size, max_length=max_length, seed=seed, max_sentences=max_sentences,
                     logging_steps=logging_steps, report_to=report_to)
    cfg = from_dict(LangAdapterConfig, given, where="options")
    _single_process("train-lang-adapter")
    _use_device(device)
    result = train_language_adapter(cfg, artifacts_dir=artifacts_dir, force=force)
    verb = "already trained (identical configuration); nothing recomputed" if result.skipped else f"trained {result.steps} steps"
    console.print(f"[bold]{escape(result.name)}[/]: {verb}" + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    for key, value in result.dev_scores.get("mlm", {}).items():
        console.print(f"  held-out {key}: {value:.4g}")
    console.print(f"  saved to {escape(str(result.path))}")


@app.command("register-lang-adapter")
@cli_errors
def register_lang_adapter_cmd(
    lang: str = typer.Option(..., "--lang", help="Language code; registered as lang_<code>."),
    source: str = typer.Option(..., "--source", help="A local AdapterHub adapter directory, or a Hub repo id (ORG/NAME)."),
    model: str = typer.Option("embedded", "--model", help="Encoder the adapter must fit."),
    artifacts_dir: Optional[Path] = ArtifactsOpt,
    force: bool = typer.Option(False, "--force", help="Replace an existing lang_<code>."),
):
    """Use a published language adapter (AdapterHub format, safetensors) in setups such as stack:lang_{lang},xnli."""
    from toolkit.encoders import load_encoder
    from toolkit.lang_adapters import register_language_adapter

    path = register_language_adapter(source, lang, load_encoder(model), artifacts_dir, force=force)
    console.print(f"registered {escape(str(source))} as [bold]{escape(path.name)}[/] in {escape(str(path.parent))}")


@app.command("fusion-attention")
@cli_errors
def fusion_attention_cmd(
    setup: str = typer.Option(..., "--setup", help="A setup with a trained fusion, e.g. 'fuse:mnli,squad_v1>fuse_xnli'."),
    task: str = typer.Option(..., "--task", help="Target task whose examples are fed (per language)."),
    langs: str = typer.Option(..., "--langs", help="Comma-separated languages."),
    out: Path = typer.Option(..., "--out", help="JSON file: {lang: {layer: {adapter: mean weight}}}."),
    split: str = typer.Option("test", "--split", help="Split to read examples from."),
    max_examples: int = typer.Option(200, "--max-examples", help="First N examples per language."),
    max_length: int = typer.Option(128, "--max-length"),
    batch_size: int = typer.Option(32, "--batch-size"),
    model: str = typer.Option("embedded", "--model"),
    data_dir: Optional[Path] = DataDirOpt, artifacts_dir: Optional[Path] = ArtifactsOpt,
    config: Optional[Path] = ConfigOpt,
):
    """AdapterFusion attention per layer and language: which fused adapter the model leans on."""
    from toolkit.encoders import load_encoder
    from toolkit.lang_adapters import fusion_attention_by_language, write_fusion_attention

    lang_list = [l.strip() for l in langs.split(",") if l.strip()]
    result = fusion_attention_by_language(
        load_encoder(model), setup, task, lang_list, split=split, max_examples=max_examples, max_length=max_length,
        batch_size=batch_size, data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
        artifacts_dir=artifacts_dir,
    )
    path = write_fusion_attention(result, out)
    for lang, layers in result.items():
        last = layers[max(layers)]
        console.print(f"{lang}: last layer " + ", ".join(f"{k} {v:.3f}" for k, v in last.items()))
    console.print(f"wrote {escape(str(path))}")


# --------------------------------------------------------------------------------------------------
# the transfer matrix and the demo
# --------------------------------------------------------------------------------------------------


class _MatrixProgress:
    """Progress of a matrix run: one line per node ([k/N]), a language bar per evaluation (training
    bars come from train_adapter itself; rich allows one live display at a time)."""

    def __init__(self, plan_size: int):
        from toolkit.progress import interactive

        self.total, self.done, self.bar, self.job = plan_size, 0, None, None
        self.plain: PlainProgress | Literal[False] | None = None if interactive() else False  # no terminal: periodic plain lines per evaluation

    def __call__(self, node, what: str, payload) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.plain is not None:
            self._plain(node, what, payload)
        elif what == "start" and node.kind == "eval" and self.bar is None:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=err_console, transient=True)
            self.bar.start()
            self.job = self.bar.add_task(f"eval {node.target} [{node.setup}]", total=len(node.langs))
        elif what == "language" and self.bar is not None and self.job is not None:  # job: added with the bar
            self.bar.update(self.job, advance=1)
        elif what == "done":
            self._stop()
            self.done += 1
            err_console.print(f"[{self.done}/{self.total}] {_node_line(node, payload)}", highlight=False, soft_wrap=True, markup=False)

    def _plain(self, node, what: str, payload) -> None:
        from toolkit.progress import PlainProgress

        if what == "start" and node.kind == "eval":
            self.plain = PlainProgress(f"eval {node.target} [{node.setup}]", len(node.langs), unit="language")
        elif what == "language" and self.plain:
            self.plain.advance()
        elif what == "done":
            self.plain = False
            self.done += 1
            err_console.print(f"[{self.done}/{self.total}] {_node_line(node, payload)}", highlight=False, soft_wrap=True, markup=False)

    def _stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _node_line(node, outcome) -> str:
    what = f"train {node.train.name}" if node.kind == "train" else f"eval {node.target} [{node.setup}]"
    detail = {"trained": f"trained {outcome.steps} steps", "skipped": "already trained (reused)",
              "evaluated": f"{len(outcome.computed)} languages computed, {len(outcome.reused)} reused, {len(outcome.failed)} failed",
              "reused": f"all {len(outcome.reused)} languages reused from the store"}.get(outcome.status, outcome.status)
    error = f": {outcome.error}" if outcome.error else ""
    return f"{what}: {detail}{error} ({outcome.seconds:.1f} s)"


def _render_matrix(run, per_language: bool) -> None:
    from toolkit.matrix import cost_rows, gain_rows, language_rows, significance_note, significance_summary, status_counts

    cfg = run.config
    for recipe in cfg.recipes:
        header, rows = gain_rows(run, recipe)
        _table(f"transfer matrix ({recipe}): mean gain over languages vs. no intermediate task (points)", header, rows)
        for target in cfg.targets if per_language else ():
            header, rows = language_rows(run, recipe, target)
            _table(f"{target} ({recipe}): gain per language; first row: baseline score", header, rows)
    console.print(significance_note(run), highlight=False, soft_wrap=True, markup=False)
    console.print(significance_summary(run), highlight=False, soft_wrap=True, markup=False, style="bold")
    for target in cfg.targets:
        missing = run.missing_languages(target)
        if missing:
            console.print(f"[yellow]{escape(str(target))}[/]: no baseline score in {escape(' '.join(missing))} (left out of the gains)", highlight=False)
    _table("cost", ["", "value"], cost_rows(run.cost))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(status_counts(run).items()))
    console.print(f"nodes: {counts}" + ("" if run.work_done else " (nothing recomputed)"))


@app.command("matrix")
@cli_errors
def matrix_cmd(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with the matrix options (flags override it)."),
    targets: Optional[str] = typer.Option(None, "--targets", help="Comma-separated target tasks, e.g. xnli,xcopa,tatoeba."),
    intermediate: Optional[list[str]] = typer.Option(None, "--intermediate", "-i", help="An intermediate set (repeatable): CARD, CARD+CARD (one multi-task adapter), CARD+mlm (with the --mlm-text masked-LM loss), CARD+tt (translated data, --train-langs) or CARD,CARD (a set to stack/fuse). The 'none' baseline is always included."),
    recipes: Optional[str] = typer.Option(None, "--recipes", help="Comma-separated: sequential, stack, fuse (default sequential)."),
    langs: Optional[str] = typer.Option(None, "--langs", help="all (default) | local (languages with local files) | comma-separated codes."),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="xtreme-r (default) | xtreme | demo."),
    model: Optional[str] = typer.Option(None, "--model", help="Encoder (default: embedded)."),
    split: Optional[str] = typer.Option(None, "--split", help="Evaluation split: auto (default) | test | dev."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Training seeds as a dimension, e.g. 1,2,3: one matrix per seed (adapters s<seed>_...), gains as mean ± sd over seeds with CIs over seeds and examples."),
    intermediate_steps: Optional[int] = typer.Option(None, "--intermediate-steps", help="Optimizer steps per intermediate adapter (default: the epochs)."),
    target_steps: Optional[int] = typer.Option(None, "--target-steps", help="Optimizer steps per target adapter."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="First N English training examples per adapter."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Training batch size (default: each task card's, else 16)."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="Default: each task card's, else 1e-4."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Training and evaluation length (default: each task card's for training; 384 for QA, 128 otherwise, for evaluation)."),
    max_dev_examples: Optional[int] = typer.Option(None, "--max-dev-examples"),
    max_eval_examples: Optional[int] = typer.Option(None, "--max-eval-examples", help="First N examples per language."),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="Per-task data, repeatable: TASK.KEY=VALUE with KEY train_split, dev_split, train_task, langs, max_steps, max_train_examples, eval_split, retrieval_layer, train_langs (e.g. anli.train_split='dev[:80%]', xcopa.train_task=copa)."),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Prefix of every adapter name of this matrix."),
    mlm_text: Optional[str] = typer.Option(None, "--mlm-text", help="Comma-separated plain-text files of the masked-LM loss of CARD+mlm entries (checked against the scored items)."),
    mlm_weight: Optional[float] = typer.Option(None, "--mlm-weight", help="Weight of that masked-LM loss (default 1)."),
    train_langs: Optional[str] = typer.Option(None, "--train-langs", help="Languages of CARD+tt entries (translate-train) whose task has no train_langs override, e.g. en,de,fr."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local (default: in-process, one encoder) | ray (a Ray task per node)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray instance)."),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", help="CPUs per Ray task (default 1)."),
    ray_cpus: Optional[int] = typer.Option(None, "--ray-cpus", help="CPUs of the local Ray instance (default 2)."),
    data_dir: Optional[Path] = DataDirOpt,
    results_dir: Optional[Path] = typer.Option(None, "--results-dir"),
    artifacts_dir: Optional[Path] = typer.Option(None, "--artifacts-dir"),
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="Also write report.md and PNG heatmaps here."),
    per_language: bool = typer.Option(False, "--per-language", help="Also print the gains per language."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the planned nodes and exit."),
    resamples: Optional[int] = typer.Option(None, "--resamples", help="Bootstrap resamples of every CI (scores and gains; default 1000; 0: none)."),
    permutations: Optional[int] = typer.Option(None, "--permutations", help="Approximate-randomization permutations of every paired test of a gain (default 1000; 0: none)."),
    correction: Optional[str] = typer.Option(None, "--correction", help="Multiple-comparison correction over the matrix's gains: holm (default) | bh (Benjamini-Hochberg) | none."),
    device: Optional[str] = DeviceOpt,
    eval_precision: Optional[str] = EvalPrecisionOpt,
):
    """Transfer matrix: intermediate sets x targets x languages; trains and evaluates only what is missing."""
    from toolkit.config import from_dict
    from toolkit.matrix import MatrixConfig, matrix_config_from_yaml, parse_overrides, plan_matrix, run_matrix

    flags = _options(
        targets=targets, intermediates=tuple(intermediate) if intermediate else None, recipes=recipes, langs=langs,
        benchmark=benchmark, model=model, split=split, seed=seed, seeds=seeds, intermediate_steps=intermediate_steps,
        target_steps=target_steps, train_examples=train_examples, batch_size=batch_size, learning_rate=learning_rate,
        max_length=max_length, max_dev_examples=max_dev_examples, max_eval_examples=max_eval_examples,
        overrides=parse_overrides(overrides) if overrides else None, prefix=prefix, executor=executor,
        mlm_text=mlm_text, mlm_weight=mlm_weight, train_langs=train_langs,
        address=address, num_cpus=num_cpus, ray_cpus=ray_cpus, resamples=resamples, permutations=permutations,
        correction=correction, data_dir=str(data_dir) if data_dir else os.environ.get("XTA_DATA_DIR"),
        results_dir=str(results_dir) if results_dir else None, artifacts_dir=str(artifacts_dir) if artifacts_dir else None,
    )
    cfg = matrix_config_from_yaml(config, **flags) if config else from_dict(MatrixConfig, flags, where="options")
    plan = plan_matrix(cfg)
    if not dry_run:
        _single_process("matrix")
        _use_device(device, eval_precision)  # this process's (the local executor's); Ray workers use $XTA_DEVICE
    if dry_run:
        _table("planned nodes", ["layer", "node", "needs"], [[str(n.layer), n.id, ", ".join(n.deps)] for n in plan.order()])
        return
    if cfg.seeds:
        _run_seeds(cfg, len(plan.nodes), report_dir)
        return
    run = run_matrix(cfg, on_event=_MatrixProgress(len(plan.nodes)), progress=cfg.executor == "local")
    _render_matrix(run, per_language)
    if report_dir:
        from toolkit.plots import write_matrix_report

        files = write_matrix_report(run, report_dir)
        console.print(f"report: {escape(str(files['report.md']))}")


def _run_seeds(cfg, nodes_per_seed: int, report_dir: Optional[Path]) -> None:
    """``xta matrix --seeds``: one matrix per seed, then the gains over seeds."""
    from toolkit.io import atomic_write_text
    from toolkit.matrix import run_matrix_seeds, seed_gain_rows, seed_significance_note
    from toolkit.report import to_markdown

    sr = run_matrix_seeds(cfg, on_event=_MatrixProgress(nodes_per_seed * len(cfg.seeds)), progress=cfg.executor == "local")
    lines = []
    for recipe in cfg.recipes:
        header, rows = seed_gain_rows(sr, recipe)
        title = f"transfer matrix ({recipe}) over {len(cfg.seeds)} seeds: mean gain over languages vs. no intermediate task (points)"
        _table(title, header, rows)
        lines += [f"## {title}", "", to_markdown(header, rows)]
    note = seed_significance_note(sr)
    console.print(escape(note), soft_wrap=True)
    if report_dir:
        path = atomic_write_text(Path(report_dir) / "seeds.md", "# Transfer matrix over seeds\n\n" + "\n".join(lines) + note + "\n")
        console.print(f"report: {escape(str(path))} (one matrix per seed: their adapters are named s<seed>_...)")


@app.command("demo")
@cli_errors
def demo_cmd(
    out: Optional[Path] = typer.Option(None, "--home", help="Root folder of results, adapters and the report, like $XTA_HOME (default $XTA_HOME/demo or ./xta_demo)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Run real XTREME-R tasks (XNLI, XCOPA, Tatoeba; ANLI, CosmosQA, SIQA) from these local files instead of the built-in CLDR tasks."),
    model: str = typer.Option("embedded", "--model"),
    seed: int = typer.Option(42, "--seed"),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimizer steps per adapter (default 60; 40 with --data-dir)."),
    max_eval_examples: Optional[int] = typer.Option(None, "--max-eval-examples", help="Examples per language (default 40; 100 with --data-dir)."),
    per_language: bool = typer.Option(False, "--per-language", help="Also print the gains per language."),
    config: Optional[Path] = ConfigOpt,
):
    """A transfer matrix in minutes on a CPU: English intermediate adapters, zero-shot in ~48 languages, report + heatmaps."""
    import time

    from toolkit.demo import DemoConfig, default_out_dir, demo_matrix_config, run_demo
    from toolkit.matrix import plan_matrix

    t0 = time.perf_counter()
    cfg = DemoConfig(out_dir=str(out) if out else default_out_dir(), data_dir=str(data_dir) if data_dir else None,
                     model=model, seed=seed, steps=steps, max_eval_examples=max_eval_examples)
    plan = plan_matrix(demo_matrix_config(cfg))
    err_console.print(f"xta demo: {len(plan.trainings)} adapters, {sum(n.kind == 'eval' for n in plan.nodes.values())} "
                      f"evaluations over {len({l for ls in plan.languages.values() for l in ls})} languages -> {cfg.out_dir}")
    result = run_demo(cfg, on_event=_MatrixProgress(len(plan.nodes)))
    _render_matrix(result.run, per_language)
    console.print(f"report: {escape(str(result.report_path))}")
    console.print(f"demo wall time: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    app()

"""Train an adapter (+ head) on a frozen encoder: single task, multi-task, sequential, stacked, fused.

``train_adapter(cfg)`` follows the data flow of ARCHITECTURE.md: task card -> English data
(``toolkit.data.load``) -> ``family.featurize`` -> add adapter + head -> train only those -> save
(safetensors weights, adapter config, ``xta_card.json``) under ``<artifacts>/adapters/<name>/``, after which
the adapter is addressable by name (:func:`load_trained_adapter`, setups such as ``stack:<name>``).

Determinism and resumption. The whole run is planned up front: every optimizer step's micro-batches
(task and example indices) come from a generator seeded with ``cfg.seed``, so the data order never
depends on how far a run got. A checkpoint (every ``checkpoint_every`` steps, written atomically)
holds the trainable tensors, the AdamW state, the scheduler state, the torch RNG state (dropout), the
step and the dev history: safetensors for tensors, JSON for the rest, no pickle. A re-run with the same
config resumes from it and ends with the same adapter, bitwise on CPU, as an uninterrupted run; a
finished run (its card holds the same config hash) is not redone unless ``force=True``.

Recipes (``cfg.recipe``): ``none`` — a fresh adapter; ``sequential`` — the new adapter starts from the
weights of the trained adapter ``cfg.init_from`` (STILTs, Phang et al. 2018); ``stack`` — a new adapter
trained above the frozen ``cfg.intermediate`` adapters, ``Stack(*intermediate, new)`` (MAD-X, Pfeiffer
et al. 2020); ``fuse`` — an AdapterFusion layer over the frozen ``cfg.intermediate`` adapters, trained
with the task's head (Pfeiffer et al. 2021). Multi-task (``cfg.extra_tasks``): one shared adapter, one
head per task, batches drawn per step with probabilities proportional to n_i, uniform, or
proportional to n_i^(1/T) (``temperature``, Arivazhagan et al. 2019).

The seed paper's alternatives (issue 21). ``cfg.mlm_text``: a masked-LM loss on multilingual plain text
joins the run as one more multi-task "task" (:class:`MLMText`; its batches drawn by the same sampler,
masked as :func:`toolkit.mlm.mask_tokens` does, scored by the encoder's own pre-trained MLM
head, frozen, where the checkpoint has one, else by a fresh head that trains but is not saved; the loss
times ``cfg.mlm_weight``). ``cfg.train_langs``: the task's training split is read in each language (its
translated data: a local translated dev slice offline, XTREME's translate-train files where a card has
them), one multi-task member per language; the card records the languages, and reports label the
adapter's cells translate-train.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from . import __version__
from .config import TrainConfig, config_hash, to_dict
from .errors import ConfigError, DataError, SetupError
from .families import get_family, main_score
from .families.base import adapter_model, place, to_device
from .io import atomic_dir, atomic_write_json, atomic_write_text, clean_stale_temps, safe_name
from .artifacts import (  # noqa: F401 (the adapter store; re-exported so that toolkit.train.adapter_dir etc. stay importable)
    CARD_NAME,
    HEADS_DIR,
    activate_setup,
    adapter_dir,
    adapter_weights_hash,
    checkpoint_dir,
    default_artifacts_dir,
    evict,
    fusion_block,
    load_saved,
    load_trained_adapter,
    read_card,
    read_card_file,
    refuse_non_finite,
    saved_dir,
    setup_artifacts,
)
from .train_data import (  # noqa: F401 (re-exported: toolkit.train.prepare_task, plan_single, ... stay importable)
    MLMText,
    TaskData,
    mlm_batch_loss,
    plan_multitask,
    plan_single,
    prepare_mlm,
    prepare_task,
    resolved_field,
    sampling_probabilities,
    task_featurize_options,
)
from .mlm import MLM_HEAD, tie_mlm_head
from .train_checkpoints import TrainCheckpointer, TrainHooks, TrainState, load_trainable, trainable_state  # noqa: F401 (re-exported)
from .preflight import dev_source, training_phases, training_sources  # noqa: F401 (defined there: checked before torch loads)

if TYPE_CHECKING:
    from .lang_adapters import LangAdapterConfig

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 50


# --------------------------------------------------------------------------------------------------
# paths and results
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a training run produced (or found already done)."""

    name: str
    path: Path
    card: dict[str, Any]
    dev_scores: dict[str, dict[str, float]]  # task -> metric -> value (the selected checkpoint's)
    steps: int
    best_step: int | None
    skipped: bool = False  # True: an identical finished run was found and nothing was computed
    resumed_from: int | None = None  # the checkpoint step a resumed run started from


# --------------------------------------------------------------------------------------------------
# model setup
# --------------------------------------------------------------------------------------------------


def adapter_config(cfg: TrainConfig):
    """The ``adapters`` config object for ``cfg.adapter_config`` (reduction factor for bottlenecks)."""
    from adapters import AdapterConfig

    from .config import parse_layers

    base = AdapterConfig.load(cfg.adapter_config)
    if base is None:  # load() gives None only for an empty name, which TrainConfig refuses (ADAPTER_CONFIG_NAMES)
        raise ConfigError(f"adapter_config: {cfg.adapter_config!r} names no adapter config")
    if cfg.uses_reduction_factor:
        base = base.replace(reduction_factor=cfg.reduction_factor)
    if cfg.leave_out:
        base = base.replace(leave_out=list(parse_layers(cfg.leave_out)))  # AdapterDrop
    return base


def setup_model(model, cfg: TrainConfig, tasks: Sequence[TaskData], artifacts_dir: Path, mlm: MLMText | None = None) -> list[str]:
    """Add (or load) the adapters of the recipe and one head per task; make only those trainable.

    Returns the names of everything added to the model (removed again by :func:`_cleanup`).
    """
    from adapters.composition import Stack

    name = cfg.name
    added = []
    if cfg.recipe in ("stack", "fuse"):
        for inter in cfg.intermediate:
            added.append(load_saved(model, inter, artifacts_dir, with_head=False))
    if cfg.recipe == "sequential":
        if cfg.init_from is None:  # refused by TrainConfig._check_recipe already
            raise ConfigError("recipe 'sequential' needs init_from: the trained adapter to start from")
        model.load_adapter(str(saved_dir(cfg.init_from, artifacts_dir)), load_as=name, with_head=False, use_safetensors=True)
        added.append(name)
    elif cfg.recipe != "fuse":
        config = adapter_config(cfg)
        layers = model.config.num_hidden_layers
        if any(i >= layers for i in getattr(config, "leave_out", ())):
            raise ConfigError(f"leave_out {cfg.leave_out}: the encoder has layers 0-{layers - 1}")
        model.add_adapter(name, config=config)
        added.append(name)
    for t in tasks:
        if t.head not in model.heads:
            get_family(t.spec).add_head(model, t.head, t.spec, **_head_options(t))
    if cfg.recipe == "fuse":
        fusion = fusion_block(cfg.intermediate, name)
        model.add_adapter_fusion(fusion)
        model.train_adapter_fusion(fusion)
    else:
        model.train_adapter(name)
        if cfg.recipe == "stack":
            model.set_active_adapters(Stack(*cfg.intermediate, name))  # pyright: ignore[reportArgumentType]  (adapters annotates each *args item as a list)
    own = {t.head for t in tasks}
    for head_name, head in model.heads.items():
        # train_adapter freezes the base model only: this run's heads train, and the heads other tasks left
        # on a shared encoder (an `xta eval` over several tasks) must not, or they would enter the optimizer
        # and the checkpoints, whose resume in a fresh process would then not match the model
        for p in head.parameters():
            p.requires_grad_(head_name in own)
    if mlm is not None:
        model.add_masked_lm_head(MLM_HEAD, overwrite_ok=True)
        tie_mlm_head(model, mlm.pretrained[0] if mlm.pretrained else None)
    return added


def _head_options(task: TaskData) -> dict[str, Any]:
    """The family's head options from the training data (multiple choice: ``num_choices``; tagging: ``labels``)."""
    return get_family(task.spec).head_options(task.spec, task.train.items, task.labels)


def _cleanup(model, added: Sequence[str], heads: Sequence[str], fusion: str | None) -> None:
    """Remove what a run added, so the process-wide encoder is left as it was loaded."""
    if fusion:
        model.delete_adapter_fusion(fusion)
    for h in heads:
        if h in model.heads:
            model.delete_head(h)
    for a in added:
        if a in model.adapters_config.adapters:
            model.delete_adapter(a)
    model.set_active_adapters(None)
    model.eval()


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------


class StepLoss(Protocol):
    """One micro-batch's loss, already multiplied by ``scale`` (1 / the number of micro-batches of the whole
    optimizer step); :func:`run_loop` calls ``backward`` on it. ``micro`` is a plan entry ``(part index,
    example indices)``, ``index`` its position in the step, ``step`` the optimizer steps done before this one."""

    def __call__(self, model, micro: tuple[int, list[int]], index: int, step: int, scale: float, /) -> torch.Tensor: ...


@dataclass
class LoopParts:
    """What :func:`run_loop` trains with besides the plan, the optimizer and the checkpointer: the parts that
    differ between a task adapter (:func:`task_loop_parts`) and a MAD-X language adapter
    (``toolkit.lang_adapters``, masked LM only)."""

    loss: StepLoss
    logging_steps: int  # a training-log line every N steps (and at the last step, or when stopping early)
    per_epoch: int | None = None  # optimizer steps per epoch (the log's ``epoch``); None: no single epoch count
    # score the dev data into ``st.history`` (True: a new best, saved for selection); every ``eval_every`` steps and
    # at the last; None: no evaluation during training
    evaluate: Callable[[TrainState], bool] | None = None
    eval_every: int = 1
    on_log: Callable[[TrainState, float], None] | None = None  # before each training-log line: (state, its mean loss)
    # under torchrun (toolkit.distributed): rank shards of each step, gradients summed over the ranks, rank 0's
    # selection; False: every micro-batch in this process (language adapters train in one process)
    data_parallel: bool = True


def build_optimizer(model, cfg: TrainConfig | LangAdapterConfig, total_steps: int):
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise SetupError("nothing to train: no adapter or head parameter requires gradients")
    opt = torch.optim.AdamW(params, lr=resolved_field(cfg.learning_rate, "learning_rate"), weight_decay=cfg.weight_decay)
    warmup = int(cfg.warmup_ratio * total_steps)

    def linear(step: int) -> float:  # transformers.get_linear_schedule_with_warmup
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, linear)


def _evaluate(model, tasks: Sequence[TaskData], batch_size: int) -> dict[str, dict[str, float]]:
    scores = {}
    seen = set()
    for t in tasks:
        if t.dev is None or t.spec.name in seen:
            continue
        seen.add(t.spec.name)
        family = get_family(t.spec)
        preds = family.predict(model, t.dev, batch_size=batch_size, head=t.head)
        scores[t.spec.name] = family.score(preds, t.dev.examples, t.spec, lang="en")
    return scores


def _maybe_evaluate(model, tasks, st: TrainState, cfg: TrainConfig, eval_batch: int) -> bool:
    """Score the dev sets, record them, track the best main score; True when it improved."""
    scores = _evaluate(model, tasks, eval_batch)
    if not scores:
        return False
    main_task = tasks[0].spec
    value = main_score(main_task, scores[main_task.name]) if main_task.name in scores else None
    st.history.append({"step": st.step, "dev": scores})
    log.info("step %d dev %s", st.step, json.dumps(scores))
    if value is not None and (st.best is None or value > st.best):
        st.best, st.best_step, st.best_scores, st.bad_evals = value, st.step, scores, 0
        return True
    st.bad_evals += 1
    if cfg.patience is not None and st.bad_evals >= cfg.patience:
        st.stopped_early = True
    return False


def _micro_loss(model, tasks, micro: tuple[int, list[int]], device, scale: float, mlm: tuple | None = None) -> torch.Tensor:
    """``mlm``: ``(MLMText, tokenizer, mask seed, step)`` when the run mixes in masked LM; index
    ``len(tasks)`` of the plan is its text."""
    if mlm is not None and micro[0] == len(tasks):
        text, tokenizer, seed, step = mlm
        loss = mlm_batch_loss(model, text, micro[1], tokenizer, device, seed)
        text.losses.append([step, float(loss.detach())])
        return loss * text.weight * scale
    t = tasks[micro[0]]
    family = get_family(t.spec)
    batch = to_device(family.collate([t.train.items[i] for i in micro[1]], t.train.meta.get("pad_id", 0)), device)
    return family.loss(model, batch, t.head) * scale


def _fusion_regularization(model) -> torch.Tensor | float:
    """AdapterFusion's value-matrix regulariser, 0.01 * ||I - V||^2 per fusion layer (Pfeiffer et al.
    2021, sec. 3; what ``adapters.AdapterTrainer`` adds when the fusion config asks for it)."""
    fusion_configs = [model.adapters_config.get_fusion(n)[0] for n in model.adapters_config.fusions]
    if not any(c is not None and c["regularization"] for c in fusion_configs):
        return 0.0
    reg = model.get_fusion_regularization_loss()
    return 0.0 if reg is None else reg


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _eval_steps(cfg: TrainConfig, tasks: Sequence[TaskData], total: int) -> int:
    if cfg.eval_every:
        return cfg.eval_every
    batch_size = resolved_field(cfg.batch_size, "batch_size")
    per_epoch = math.ceil(sum(math.ceil(len(t.train.items) / batch_size) for t in tasks[:1]) / cfg.gradient_accumulation_steps)
    return max(1, min(per_epoch, total))


def _steps_per_epoch(cfg: TrainConfig, tasks: Sequence[TaskData]) -> int | None:
    """Optimizer steps per epoch of a one-task, one-phase run (``None`` otherwise: no single epoch count)."""
    if len(tasks) != 1 or cfg.extra_tasks:
        return None
    batch_size = resolved_field(cfg.batch_size, "batch_size")
    return max(1, math.ceil(math.ceil(len(tasks[0].train.items) / batch_size) / cfg.gradient_accumulation_steps))


def _log_step(st: TrainState, parts: LoopParts, total: int, lr: float, hooks: TrainHooks, evaluated: bool) -> None:
    """The training log's lines for the step just done (module doc of toolkit.tracking)."""
    epoch = round(st.step / parts.per_epoch, 4) if parts.per_epoch else None
    if st.window_steps and (st.step % parts.logging_steps == 0 or st.step == total or st.stopped_early):
        mean = st.window_loss / st.window_steps
        if parts.on_log is not None:
            parts.on_log(st, mean)
        hooks.record({"step": st.step, "epoch": epoch, "loss": mean, "learning_rate": lr,
                      "examples_per_s": round(st.window_examples / max(st.window_s, 1e-9), 3),
                      "elapsed_s": round(st.elapsed_s, 3)})
        st.window_loss, st.window_steps, st.window_examples, st.window_s = 0.0, 0, 0, 0.0
    if evaluated:
        hooks.record({"step": st.step, "epoch": epoch, "dev": st.history[-1]["dev"]})


def task_loop_parts(model, tasks: Sequence[TaskData], cfg: TrainConfig, total: int, hooks: TrainHooks,
                    mlm: MLMText | None = None, tokenizer=None) -> LoopParts:
    """:func:`run_loop`'s parts for a task adapter: each micro-batch's task loss (or, with ``mlm``, the masked-LM
    loss of its text, index ``len(tasks)`` of the plan) under the configured precision, plus AdapterFusion's
    regulariser; dev evaluation and early stopping; the training log every ``cfg.logging_steps``."""
    device = next(model.parameters()).device

    def loss(model, micro: tuple[int, list[int]], index: int, step: int, scale: float) -> torch.Tensor:
        # masks are seeded by (seed, step, micro-batch): a resumed run masks as an uninterrupted one
        masking = (mlm, tokenizer, cfg.seed * 1_000_003 + step * 1_009 + index, step + 1) if mlm is not None else None
        with _autocast(cfg, device):
            out = _micro_loss(model, tasks, micro, device, scale, masking)
            if cfg.recipe == "fuse":
                out = out + scale * _fusion_regularization(model)
        return out

    def evaluate(st: TrainState) -> bool:
        return _maybe_evaluate(model, tasks, st, cfg, hooks.eval_batch_size)

    return LoopParts(loss, cfg.logging_steps, per_epoch=_steps_per_epoch(cfg, tasks), evaluate=evaluate,
                     eval_every=_eval_steps(cfg, tasks, total))


def run_loop(model, plan: Sequence[Sequence[tuple[int, list[int]]]], cfg: TrainConfig | LangAdapterConfig,
             ckpt: TrainCheckpointer, st: TrainState, hooks: TrainHooks, parts: LoopParts) -> TrainState:
    """Optimizer steps ``st.step + 1 .. len(plan)``; evaluate, log, checkpoint, stop early as configured.

    ``plan[s]`` lists step ``s``'s micro-batches; ``parts`` says what they cost and what else the run does
    (:class:`LoopParts`; task adapters: :func:`task_loop_parts`). Each step's loss is the mean over its
    micro-batches (``scale``): ``accumulation`` micro-batches of ``batch_size`` examples make one update, so
    the learning-rate schedule counts optimizer steps. Under torchrun (``toolkit.distributed``) each rank runs
    its share of the step's micro-batches and the trainable gradients are summed over the ranks before the
    update."""
    from . import distributed

    device = next(model.parameters()).device
    opt, sched = build_optimizer(model, cfg, len(plan))
    ckpt.restore_optimizer(opt, sched)
    trainable = [p for group in opt.param_groups for p in group["params"]]
    parallel = parts.data_parallel
    with hooks.progress(len(plan), st.step) as advance:
        while st.step < len(plan) and not st.stopped_early:
            started = time.perf_counter()
            model.train()
            scale = 1.0 / len(plan[st.step])  # all ranks' micro-batches of this step
            total_loss = 0.0
            # this rank's micro-batches, with their index in the whole step (the same masks as one process)
            micros = list(enumerate(plan[st.step]))
            for j, micro in distributed.shard(micros) if parallel else micros:
                loss = parts.loss(model, micro, j, st.step, scale)
                loss.backward()
                total_loss += float(loss.detach())
            if parallel:
                distributed.all_reduce_grads(trainable)
                total_loss = distributed.sum_scalar(total_loss, device)
            lr = float(opt.param_groups[0]["lr"])  # the rate this step used (the scheduler moves it next)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            st.step += 1
            spent = time.perf_counter() - started
            st.elapsed_s += spent
            st.window_s += spent
            st.window_loss += total_loss
            st.window_steps += 1
            st.window_examples += sum(len(micro[1]) for micro in plan[st.step - 1])
            improved = False
            evaluations = len(st.history)
            if parts.evaluate is not None and (st.step % parts.eval_every == 0 or st.step == len(plan)):
                improved = parts.evaluate(st)
                if parallel and distributed.active():  # every rank follows rank 0's selection and early stop
                    synced = distributed.broadcast({"improved": improved, **dataclasses.asdict(st)})
                    improved = synced.pop("improved")
                    for key, value in synced.items():
                        setattr(st, key, value)
            _log_step(st, parts, len(plan), lr, hooks, evaluated=len(st.history) > evaluations)
            if improved:
                ckpt.save_best(model)
            if st.step % ckpt.every == 0 and st.step < len(plan) and not st.stopped_early:
                ckpt.save(model, opt, sched, st)
            advance(total_loss)
            hooks.on_step(st.step)
    return st


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


def train_adapter(
    cfg: TrainConfig,
    encoder=None,
    artifacts_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    checkpoint_every: int = CHECKPOINT_EVERY,
    max_dev_examples: int | None = None,
    eval_batch_size: int = 64,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``cfg``'s adapter and save it under ``<artifacts>/adapters/<cfg.name>/`` (see module doc).

    ``encoder`` is a loaded :class:`toolkit.encoders.Encoder` (default: ``load_encoder(cfg.model)``,
    loaded once per process). What this call adds to the encoder's model is removed again at the end;
    use :func:`load_trained_adapter` to use the result.
    """
    from . import distributed
    from .encoders import default_device, load_encoder, resolve_device
    from .tasks import get_task

    from .tracking import check_report_to

    cfg.validate()
    check_report_to(cfg.report_to)  # a missing tracker package: said before the encoder loads
    artifacts = Path(artifacts_dir) if artifacts_dir is not None else default_artifacts_dir()
    device = resolve_device(cfg.device, source="device") if cfg.device else default_device()  # before any model loads
    if distributed.init(device):
        cfg = _for_world(cfg, distributed.world_size())
    encoder = encoder or load_encoder(cfg.model)
    extra = {"mlm_text": _mlm_hashes(cfg)} if cfg.mlm_text else {}  # the text's contents, not its paths
    cfg_hash = config_hash(cfg, encoder=encoder.fingerprint, max_dev_examples=max_dev_examples, **extra)
    out_dir = adapter_dir(cfg.name, artifacts)
    if distributed.is_main():
        clean_stale_temps(out_dir.parent)  # what a kill during an earlier final save left behind
    distributed.barrier()
    done = finished_run(out_dir, cfg_hash)
    if done is not None and not force:
        log.info("adapter %s already trained with this configuration (%s); not redoing it", cfg.name, out_dir)
        return done
    from .encoders import check_max_length

    check_max_length(encoder, cfg.max_length)  # longer inputs would index past the position embeddings
    model = adapter_model(encoder)
    torch.manual_seed(cfg.seed)
    specs = [get_task(t) for t in cfg.all_tasks]
    tasks = _prepare_all(specs, cfg, encoder.tokenizer, max_dev_examples)
    mlm = prepare_mlm(cfg, encoder)
    multi = cfg.extra_tasks or cfg.train_langs or mlm is not None
    plan = plan_multitask([*tasks, *([mlm] if mlm else [])], cfg) if multi else plan_single(tasks, cfg)
    ckpt = TrainCheckpointer(checkpoint_dir(cfg.name, artifacts), cfg_hash, checkpoint_every)
    if force:
        ckpt.remove()
        distributed.barrier()  # rank 0 removed it before any rank looks for a checkpoint
    heads = list(dict.fromkeys(t.head for t in tasks))
    for piece in (cfg.name, *cfg.intermediate):  # loaded earlier in this process (e.g. by an evaluation)
        evict(model, piece)
    added = setup_model(model, cfg, tasks, artifacts, mlm)
    if cfg.device:
        model.to(device)
    else:
        place(model, encoder)  # new adapters and heads go where the encoder runs (a GPU when there is one)
    try:
        encoder.assert_frozen()
        st = TrainState()
        resumed = ckpt.load(model, st)
        hooks = open_train_hooks(cfg, ckpt, artifacts, resumed or 0, progress, on_step, eval_batch_size)
        try:
            parts = task_loop_parts(model, tasks, cfg, len(plan), hooks, mlm, encoder.tokenizer)
            st = run_loop(model, plan, cfg, ckpt, st, hooks, parts)
        finally:
            hooks.close()
        best = ckpt.best() if distributed.is_main() else None
        if best is not None and st.best_step != st.step:
            load_trainable(model, best)
        encoder.assert_frozen()
        card = _card(cfg, cfg_hash, encoder, tasks, st, len(plan), artifacts, mlm)
        if distributed.is_main():  # the other ranks hold the same weights; one process writes them
            _save(model, cfg, tasks, out_dir, card, hooks.train_log)
        distributed.barrier()
    finally:
        _cleanup(model, added, [*heads, *([MLM_HEAD] if mlm is not None else [])], cfg.name if cfg.recipe == "fuse" else None)
    ckpt.remove()
    return TrainResult(cfg.name, out_dir, card, card["dev_scores"], st.step, st.best_step, resumed_from=resumed)


def _for_world(cfg: TrainConfig, world: int) -> TrainConfig:
    """The configuration a single process would run for ``world`` data-parallel processes: the same
    per-process batch, ``accumulation * world`` micro-batches per optimizer step (toolkit.distributed).
    It hashes, plans and trains like that single-process run, whose result it reproduces."""
    if world <= 1:
        return cfg
    out = dataclasses.replace(cfg, gradient_accumulation_steps=cfg.gradient_accumulation_steps * world)
    object.__setattr__(out, "_defaults_applied", cfg.defaults_applied)
    object.__setattr__(out, "_world_size", world)
    return out


def open_train_hooks(cfg: TrainConfig | LangAdapterConfig, ckpt: TrainCheckpointer, artifacts: Path, resumed: int, progress: bool,
                     on_step, eval_batch_size: int) -> TrainHooks:
    """The run's training log (in the checkpoint folder, cut back to the resumed step) and its trackers."""
    from . import distributed
    from .tracking import LOG_NAME, TrainLog, open_trackers

    if not distributed.is_main():  # one process logs and reports: rank 0 (it holds the summed loss too)
        return TrainHooks(False, on_step, eval_batch_size, f"train {cfg.name}")
    train_log = TrainLog(ckpt.path / LOG_NAME)
    train_log.start(resumed)
    hyper = {k: v for k, v in to_dict(cfg).items() if k not in ("data_dir", "output_dir", "device", "report_to")}
    trackers = open_trackers(cfg.report_to, artifacts, safe_name(cfg.name, "adapter"), hyper, resumed)
    return TrainHooks(progress, on_step, eval_batch_size, f"train {cfg.name}", train_log, trackers)


def _mlm_hashes(cfg: TrainConfig) -> list[str]:
    from .data import file_hashes

    try:
        return list(file_hashes(cfg.mlm_text).values())
    except OSError as exc:
        raise DataError(f"mlm_text: {exc}") from None


def _prepare_all(specs, cfg: TrainConfig, tokenizer, max_dev_examples) -> list[TaskData]:
    """Training data of every task; the main task's head is named after the adapter, the others after their task."""
    tasks: list[TaskData] = []
    for i, spec in enumerate(specs):
        head = cfg.name if i == 0 else spec.name
        phases = prepare_task(spec, head, tokenizer, cfg, max_dev_examples)
        if (cfg.extra_tasks or cfg.mlm_text) and len(phases) > 1 and not cfg.train_langs:
            raise ConfigError(f"multi-task training needs tasks with their own train split; {spec.name} trains from {phases[0].sources}")
        tasks.extend(phases)
    return tasks


def finished_run(out_dir: Path, cfg_hash: str) -> TrainResult | None:
    card_path = out_dir / CARD_NAME
    if not card_path.is_file():
        return None
    try:
        card = read_card_file(card_path)
    except SetupError as exc:  # a damaged card: not a finished run; training again replaces the folder
        log.warning("%s", exc)
        return None
    if card.get("config_hash") != cfg_hash:
        return None
    return TrainResult(card.get("name") or out_dir.name, out_dir, card, card.get("dev_scores", {}), card.get("steps", 0), card.get("best_step"), skipped=True)


def _card(cfg: TrainConfig, cfg_hash: str, encoder, tasks: Sequence[TaskData], st: TrainState, total: int, artifacts: Path,
          mlm: MLMText | None = None) -> dict[str, Any]:
    """The self-description saved beside the weights (principle 4)."""
    import adapters
    import transformers

    main = tasks[0].spec
    hyper = {k: v for k, v in to_dict(cfg).items() if k not in ("data_dir", "output_dir", "device", "report_to")}
    return {
        "name": cfg.name,
        "task": main.name,
        "task_version": main.version,
        "shape": main.shape,
        "tasks": {t.spec.name: {"version": t.spec.version, "shape": t.spec.shape, "head": t.head, "sources": t.sources,
                                "labels": t.labels} for t in tasks},
        "data": {f"{t.spec.name}<-{src}" + (f"@{t.lang}" if t.lang != "en" else ""): t.provenance
                 for t in tasks for src in t.sources[:1]},
        # the languages the training data was in: beyond English the adapter is translate-train, not zero-shot
        "train_langs": list(cfg.languages),
        **({"mlm": _mlm_card(mlm)} if mlm is not None else {}),
        "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint},
        "recipe": cfg.recipe,
        "init_from": cfg.init_from,
        "intermediate": list(cfg.intermediate),
        "adapter": {"config": cfg.adapter_config, "reduction_factor": cfg.reduction_factor if cfg.uses_reduction_factor else None},
        "hyperparameters": hyper,
        # examples per optimizer step: batch_size x accumulation (x processes under torchrun, already
        # folded into gradient_accumulation_steps, see _for_world); the LR schedule counts these steps
        "effective_batch_size": resolved_field(cfg.batch_size, "batch_size") * cfg.gradient_accumulation_steps,
        "world_size": getattr(cfg, "_world_size", 1),
        "hyperparameter_sources": cfg.defaults_applied,  # the values not given, and the card that gave them
        "featurization": task_featurize_options(main, cfg),
        "seed": cfg.seed,
        "config_hash": cfg_hash,
        "steps": st.step,
        "planned_steps": total,
        "stopped_early": st.stopped_early,
        "best_step": st.best_step,
        "dev_scores": st.best_scores or (st.history[-1]["dev"] if st.history else {}),
        "dev_history": st.history,
        "xta_version": __version__,
        "versions": {"torch": torch.__version__, "adapters": adapters.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }


def _mlm_card(mlm: MLMText) -> dict[str, Any]:
    return {
        "objective": "masked_lm (15% of tokens; 80% <mask> / 10% random / 10% kept), as toolkit.lang_adapters",
        "files": {Path(p).name: h for p, h in mlm.files.items()},
        "sentences": mlm.sentences,
        "weight": mlm.weight,
        "head": (f"the encoder's pre-trained MLM head from {mlm.pretrained[1]}, frozen" if mlm.pretrained else
                 "the encoder's checkpoint has no MLM head: a fresh masked_lm head (decoder tied to the frozen "
                 "embeddings) trained beside the adapter and not saved"),
        "loss_history": mlm.losses,  # [step, loss] per MLM micro-batch of the (last) process
    }


def _save(model, cfg: TrainConfig, tasks: Sequence[TaskData], out_dir: Path, card: dict[str, Any], train_log=None) -> None:
    """Adapter (or fusion) + main head, extra heads under ``heads/<task>/``, the training log, then the card; atomically."""
    from .tracking import LOG_NAME

    with atomic_dir(out_dir) as tmp:
        if train_log is not None:
            atomic_write_text(tmp / LOG_NAME, "".join(json.dumps(r, sort_keys=True) + "\n" for r in train_log.records()))
        if cfg.recipe == "fuse":
            model.save_adapter_fusion(str(tmp), fusion_block(cfg.intermediate, cfg.name), with_head=cfg.name, use_safetensors=True)
        else:
            model.save_adapter(str(tmp), cfg.name, with_head=True, use_safetensors=True)
        for t in tasks[1:]:
            if t.head != cfg.name:
                (tmp / HEADS_DIR / t.head).mkdir(parents=True, exist_ok=True)
                model.save_head(str(tmp / HEADS_DIR / t.head), t.head, use_safetensors=True)
        atomic_write_json(tmp / CARD_NAME, card)
        pickles = [p.name for p in tmp.rglob("*.bin")]
        if pickles:
            raise SetupError(f"refusing to publish pickle files {pickles} in {out_dir}")

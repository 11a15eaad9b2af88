"""Benchmark: cost of adapter training vs. full fine-tuning of the same encoder on the same batches.

What is compared (one optimizer step = zero_grad, forward, cross-entropy, backward, AdamW step):

* ``adapter``: a sequential bottleneck adapter (``seq_bn``, reduction factor 16; Pfeiffer et al., 2020)
  added with the ``adapters`` library, ``model.train_adapter`` (the encoder frozen) plus xta's
  classification head (``toolkit.families.classification``), AdamW over the adapter and head only;
* ``full``: the same encoder and head with every parameter trainable, AdamW over all of them.

Models: the embedded encoder (``toolkit.encoders.load_encoder("embedded")``, multilingual-e5-small, a
12-layer BERT with XLM-R's 250,002-piece vocabulary) and an XLM-R Large *configuration* with random
weights (24 layers, hidden 1024, 16 heads, FFN 4096, vocabulary 250,002; nothing downloaded). Both variants
see identical batches (random token ids and labels from one seed; the cost does not depend on the ids),
``--warmup`` untimed steps, then the median of ``--steps`` timed steps.

Peak memory (CPU). Each (model, variant) runs in a fresh subprocess. After imports and batch creation
the RSS is read (``base``); the model, adapter, head and optimizer are built, garbage is collected and the
RSS is read again (``loaded``); the RSS high-water mark is then reset (Linux ``clear_refs``) and training
runs; ``peak`` is the high-water mark (``VmHWM``) afterwards. Reported:

* ``peak_bytes = peak - base``: weights + gradients + AdamW states (created at the first step) +
  activations kept for backward + allocator slack: what a training job needs beyond the Python/torch
  runtime (the CPU analogue of ``torch.cuda.max_memory_allocated``). Its ratio is the one checked
  against the target;
* ``train_overhead_bytes = peak - loaded``: the same without the weights;
* the analytic sizes of weights, gradients and optimizer states (sum of tensor sizes) beside them.

RSS counts memory pages actually touched; glibc may keep freed blocks, so activations can be over-counted
a little. Timings come from a shared 2-core machine (see the load averages recorded in the JSON).

    python benchmarks/train_cost.py            # full: embedded 8 x 128, XLM-R Large config 4 x 128
    python benchmarks/train_cost.py --quick    # seconds; tiny random XLM-R config (tests)

Targets: adapter step <= 0.30x the full fine-tuning step time and <= 0.45x its peak memory.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)

NAME = "train_cost"
TARGET_TIME, TARGET_MEMORY = 0.30, 0.45
VARIANTS = ("adapter", "adapter_drop", "full")
XLMR_LARGE = dict(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                  bos_token_id=0, eos_token_id=2)
TINY = dict(XLMR_LARGE, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=128)
FULL_PLAN = [
    {"model": "embedded", "batch": 8, "seq": 128, "warmup": 1, "steps": 4},
    {"model": "xlmr-large-config", "batch": 4, "seq": 128, "warmup": 1, "steps": 3},
]
QUICK_PLAN = [{"model": "tiny-xlmr-config", "batch": 2, "seq": 16, "warmup": 1, "steps": 2}]
LEARNING_RATE = {"adapter": 1e-4, "adapter_drop": 1e-4, "full": 2e-5}
LABELS = ("entailment", "neutral", "contradiction")


# ------------------------------------------------------------------------------------------------
# the worker: one (model, variant) in its own process
# ------------------------------------------------------------------------------------------------


def build_base(model: str):
    """The encoder with ``adapters.init`` applied: the embedded one, or a random XLM-R configuration."""
    if model == "embedded":
        from toolkit.encoders import load_encoder

        return load_encoder("embedded").model
    import adapters
    import torch
    from transformers import AutoModel, XLMRobertaConfig

    fields = XLMR_LARGE if model == "xlmr-large-config" else TINY
    torch.manual_seed(0)
    base = AutoModel.from_config(XLMRobertaConfig(**fields), add_pooling_layer=False)
    adapters.init(base)
    return base


def setup_variant(base, variant: str):
    """Flex-head model + head (+ seq_bn adapter) with the variant's trainable parameters, in train mode."""
    import torch
    from adapters import SeqBnConfig

    from toolkit.families import classification
    from toolkit.families.base import adapter_model

    model = adapter_model(base)
    torch.manual_seed(1)
    if variant == "adapter":
        model.add_adapter("bench", config=SeqBnConfig(reduction_factor=16))
    elif variant == "adapter_drop":  # AdapterDrop: no adapters in the lower half (xta train-adapter --leave-out)
        lower = list(range(base.config.num_hidden_layers // 2))
        model.add_adapter("bench", config=SeqBnConfig(reduction_factor=16, leave_out=lower))
    classification.add_head(model, "bench", types.SimpleNamespace(labels=LABELS))
    if variant in ("adapter", "adapter_drop"):
        model.train_adapter("bench")  # freezes the encoder, activates the adapter
        for p in model.heads["bench"].parameters():
            p.requires_grad_(True)  # as toolkit.train.setup_model does
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    model.train()
    return model


def make_batches(n: int, batch: int, seq: int, vocab: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` batches of random token ids (``<s> ... </s>``, no padding) and labels, from one seed."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(3, vocab, (batch, seq), generator=gen)
        ids[:, 0], ids[:, -1] = 0, 2
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                    "labels": torch.randint(0, len(LABELS), (batch,), generator=gen)})
    return out


def preimport() -> None:
    """Import every module that building a model would import, so the RSS baseline already holds them."""
    import adapters  # noqa: F401
    import adapters.heads  # noqa: F401
    from adapters import BertAdapterModel, SeqBnConfig, XLMRobertaAdapterModel  # noqa: F401
    from adapters.models.auto.adapter_model import ADAPTER_MODEL_MAPPING  # noqa: F401
    from transformers import BertModel, XLMRobertaConfig, XLMRobertaModel  # noqa: F401

    import toolkit.encoders  # noqa: F401
    from toolkit.families import classification  # noqa: F401


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def optimizer_bytes(opt) -> int:
    import torch

    return sum(v.numel() * v.element_size() for state in opt.state.values() for v in state.values()
               if isinstance(v, torch.Tensor))


def worker(spec: dict[str, Any], variant: str, threads: int) -> dict[str, Any]:
    """Build, train ``warmup + steps`` steps, measure; returns the figures of one variant."""
    import torch

    common.set_threads(threads)
    preimport()
    from toolkit.families import classification

    vocab = (TINY if spec["model"] == "tiny-xlmr-config" else XLMR_LARGE)["vocab_size"]
    batches = make_batches(spec["warmup"] + spec["steps"], spec["batch"], spec["seq"], vocab)
    gc.collect()
    base_rss = common.rss_bytes()
    model = setup_variant(build_base(spec["model"]), variant)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=LEARNING_RATE[variant], weight_decay=0.01)
    gc.collect()
    loaded_rss = common.rss_bytes()
    reset_ok = common.reset_peak_rss()
    times, cpu_times, losses = [], [], []
    for i, batch in enumerate(batches):
        start, cpu_start = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = classification.loss(model, batch, "bench")
        loss.backward()
        opt.step()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        losses.append(float(loss.detach()))
        if i >= spec["warmup"]:
            times.append(elapsed)
            cpu_times.append(cpu)
    peak = common.peak_rss_bytes()
    params = list(model.parameters())
    return {
        "variant": variant, "step_s_median": statistics.median(times), "step_s": times, "losses": losses,
        "cpu_s_median": statistics.median(cpu_times), "cpu_s": cpu_times,
        "params": sum(p.numel() for p in params), "trainable_params": sum(p.numel() for p in trainable),
        "weights_bytes": tensor_bytes(params), "grads_bytes": tensor_bytes(trainable),
        "optimizer_state_bytes": optimizer_bytes(opt),
        "rss_base_bytes": base_rss, "rss_loaded_bytes": loaded_rss, "rss_peak_bytes": peak,
        "peak_bytes": peak - base_rss, "train_overhead_bytes": peak - loaded_rss, "peak_reset": reset_ok,
        "attn_implementation": model.config._attn_implementation, "torch_threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------


def _worker_cmd(spec: dict[str, Any], variant: str, threads: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), variant, str(threads)]


def _finish(proc: subprocess.Popen, what: str) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_variants(spec: dict[str, Any], threads: int, parallel: bool = False) -> dict[str, dict[str, Any]]:
    """Run :func:`worker` for each variant in a fresh interpreter (a clean memory high-water mark); the
    worker's last stdout line is its JSON. Sequential (timings), or concurrent for ``--quick`` (wall time)."""
    runs: dict[str, dict[str, Any]] = {}
    pending = []
    for variant in VARIANTS:
        print(f"  {spec['model']} {spec['batch']}x{spec['seq']} {variant} ...", flush=True)
        proc = subprocess.Popen(_worker_cmd(spec, variant, threads), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=common.REPO_ROOT)
        pending.append((variant, proc))
        if not parallel:
            runs[variant] = _finish(proc, f"{spec['model']}/{variant}")
    for variant, proc in pending:
        if variant not in runs:
            runs[variant] = _finish(proc, f"{spec['model']}/{variant}")
    return runs


def compare(spec: dict[str, Any], threads: int, parallel: bool = False) -> dict[str, Any]:
    if spec["model"] == "embedded":  # convert it into xta's cache now (once), not inside the first worker
        from toolkit.encoders import resolve_encoder

        resolve_encoder("embedded")
    runs = run_variants(spec, threads, parallel)
    a, d, f = runs["adapter"], runs["adapter_drop"], runs["full"]
    return {**spec, "runs": runs,
            "drop_time_ratio": d["step_s_median"] / f["step_s_median"],
            "drop_memory_ratio": d["peak_bytes"] / f["peak_bytes"],
            "drop_time_pass": d["step_s_median"] / f["step_s_median"] <= TARGET_TIME,
            "drop_memory_pass": d["peak_bytes"] / f["peak_bytes"] <= TARGET_MEMORY,
            "time_ratio": a["step_s_median"] / f["step_s_median"],
            "memory_ratio": a["peak_bytes"] / f["peak_bytes"],
            "overhead_ratio": a["train_overhead_bytes"] / f["train_overhead_bytes"],
            "cpu_time_ratio": a["cpu_s_median"] / f["cpu_s_median"],
            "time_pass": a["step_s_median"] / f["step_s_median"] <= TARGET_TIME,
            "memory_pass": a["peak_bytes"] / f["peak_bytes"] <= TARGET_MEMORY}


def verdicts(row: dict[str, Any]) -> list[str]:
    label = f"{row['model']} ({row['batch']}x{row['seq']})"
    out = [
        common.verdict(f"adapter step time <= {TARGET_TIME:.2f}x full fine-tuning, {label}",
                       f"{row['time_ratio']:.2f}x", row["time_pass"]),
        common.verdict(f"adapter peak memory <= {TARGET_MEMORY:.2f}x full fine-tuning, {label}",
                       f"{row['memory_ratio']:.2f}x", row["memory_pass"]),
    ]
    if "drop_time_ratio" in row:
        out += [common.verdict(f"AdapterDrop (lower half) step time <= {TARGET_TIME:.2f}x full fine-tuning, {label}",
                               f"{row['drop_time_ratio']:.2f}x", row["drop_time_pass"]),
                common.verdict(f"AdapterDrop (lower half) peak memory <= {TARGET_MEMORY:.2f}x full fine-tuning, {label}",
                               f"{row['drop_memory_ratio']:.2f}x", row["drop_memory_pass"])]
    return out


def render(results: dict[str, Any]) -> str:
    """The README section (a table per model row, then one PASS/MISS line per target)."""
    rows, lines = [], []
    for r in results["rows"]:
        f = r["runs"]["full"]
        for variant, time_key, mem_key in (("adapter", "time_ratio", "memory_ratio"),
                                           ("adapter_drop", "drop_time_ratio", "drop_memory_ratio")):
            a = r["runs"].get(variant)
            if a is None:
                continue
            name = "seq_bn" if variant == "adapter" else "seq_bn + AdapterDrop"
            rows.append([r["model"], name, f"{r['batch']} x {r['seq']}", f"{a['trainable_params']:,} / {f['trainable_params']:,}",
                         f"{a['step_s_median']:.2f}", f"{f['step_s_median']:.2f}", f"**{r[time_key]:.2f}x**",
                         common.fmt_bytes(a["peak_bytes"]), common.fmt_bytes(f["peak_bytes"]), f"**{r[mem_key]:.2f}x**",
                         f"{a['train_overhead_bytes'] / f['train_overhead_bytes']:.2f}x",
                         f"{a['cpu_s_median'] / f['cpu_s_median']:.2f}x"])
        lines += verdicts(r)
    m = results["machine"]
    head = (f"## Training cost: adapter vs. full fine-tuning\n\n`python benchmarks/train_cost.py`"
            f"{' --quick (QUICK RUN: figures meaningless)' if results.get('quick') else ''}. One optimizer step "
            "(forward, cross-entropy, backward, AdamW) on identical batches; seq_bn adapter (reduction 16) + "
            "classification head vs. all parameters trainable, and the same adapter without its lower half of "
            "layers (AdapterDrop, Rücklé et al. 2021; `xta train-adapter --leave-out 0-11` on a 24-layer encoder); "
            "median of the timed steps after warm-up. Peak "
            "memory = RSS high-water mark during training minus RSS before the model was built (weights + "
            "gradients + AdamW states + activations + allocator slack), each variant in a fresh process; "
            "\"overhead\" leaves the weights out; \"CPU-time\" compares the processes' CPU seconds per step "
            "(a cross-check less sensitive to other jobs than wall time, which the target uses). "
            f"{m['cpus']} CPU(s), torch {m.get('torch', '?')} with {common.threads_text(m.get('torch_threads'))}, "
            f"{common.load_text(m.get('load_average'), results.get('load_average_end'), m.get('cpus'))}, "
            f"{m['utc']}. Raw figures: `benchmarks/results/{NAME}.json`.\n\n")
    headers = ["model", "adapter", "batch", "trainable params (adapter / full)", "adapter step (s)", "full step (s)",
               "time ratio", "adapter peak", "full peak", "memory ratio", "overhead ratio", "CPU-time ratio"]
    return (head + common.table(headers, rows) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n\n"
            + WHY + "\n")


WHY = ("Why the time ratio has a floor: the bottleneck adapters sit in every layer, so adapter training still "
       "runs the full forward pass and back-propagates activation gradients through every layer; it saves the "
       "weight gradients of the frozen matrices (about a third of a step's FLOPs) and the AdamW update of all "
       "weights. In FLOPs alone the adapter step is therefore about 2/3 of the full step; it gets below that "
       "only where the optimizer update of all parameters (dominated by the 250,002 x d embedding matrix, whose "
       "dense gradient and AdamW states full fine-tuning must also write) is a large part of the full step. "
       "AdapterDrop removes the adapters of the lower layers, so back-propagation stops at the lowest adapter: "
       "the one way to go below that floor, at some cost in accuracy (Rücklé et al. 2021 report small losses "
       "when dropping the lower five of twelve layers); it is an option (`--leave-out`), not xta's default.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        print(json.dumps(worker(json.loads(argv[1]), argv[2], int(argv[3]))))
        return 0
    args = common.base_parser(NAME, __doc__).parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    print(f"train_cost: adapter vs. full fine-tuning (torch limited to {common.threads_text(args.threads)}, each variant in its own process)")
    machine = common.machine_info(args.threads)
    machine.update(torch_threads=args.threads)
    rows = [compare(spec, args.threads, parallel=args.quick) for spec in (QUICK_PLAN if args.quick else FULL_PLAN)]
    import torch

    machine["torch"] = torch.__version__
    results = {"benchmark": NAME, "quick": args.quick, "machine": machine, "rows": rows,
               "load_average_end": common.load_average(),
               "targets": {"time_ratio_max": TARGET_TIME, "memory_ratio_max": TARGET_MEMORY},
               "memory_method": "peak RSS (VmHWM, reset after model load) minus RSS before model build; "
                                "fresh subprocess per variant"}
    for r in rows:
        a, d, f = r["runs"]["adapter"], r["runs"]["adapter_drop"], r["runs"]["full"]
        print(f"{r['model']} {r['batch']}x{r['seq']}: step adapter {a['step_s_median']:.3f}s full "
              f"{f['step_s_median']:.3f}s ({r['time_ratio']:.2f}x); peak adapter {common.fmt_bytes(a['peak_bytes'])} "
              f"full {common.fmt_bytes(f['peak_bytes'])} ({r['memory_ratio']:.2f}x; without weights "
              f"{r['overhead_ratio']:.2f}x); CPU time per step {r['cpu_time_ratio']:.2f}x; AdapterDrop "
              f"{d['step_s_median']:.3f}s ({r['drop_time_ratio']:.2f}x), peak {r['drop_memory_ratio']:.2f}x")
        for line in verdicts(r):
            print("  " + line)
    print(common.load_note(machine["load_average"], results["load_average_end"]))
    common.publish(args, NAME, results, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())

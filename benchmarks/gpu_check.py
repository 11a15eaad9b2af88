"""GPU check: XLM-R Large (random weights) on one NVIDIA GPU, adapter vs. full fine-tuning and evaluation.

On a machine with CUDA, in well under 8 minutes, with nothing downloaded (the XLM-R Large *configuration*:
24 layers, hidden 1024, 16 heads, FFN 4096, vocabulary 250,002; random weights), attention through
PyTorch's SDPA (``attn_implementation="sdpa"``):

* training, batch 32 x 128, bf16 autocast over fp32 weights (as ``xta train-adapter --precision bf16``),
  AdamW: a ``seq_bn`` adapter (reduction 16) + classification head with ``train_adapter`` vs. every
  parameter trainable. Median step time (``torch.cuda.synchronize`` around each step) after warm-up and
  peak GPU memory (``torch.cuda.max_memory_allocated``: weights + gradients + AdamW states + activations),
  each variant on a freshly built model;
* evaluation: the model cast to bf16, ``torch.inference_mode``, batch 64 x 128: tokens per second, and
  forward FLOP/s (analytic BERT count, as ``benchmarks/flops.py``) as a fraction of a bf16 matmul peak
  measured by this script;
* xta's data-parallel training and evaluation precision (:func:`distributed_check`, through
  ``benchmarks/gpu_check_dist.py``, which imports xta): ``torchrun --nproc_per_node 2`` against one
  process with 2 accumulation steps, and ``--eval-precision bf16`` against fp32. Skipped without CUDA.

Prints a JSON summary, writes it to ``--out`` (default benchmarks/results/gpu_check.json) and rewrites
the ``gpu_check`` section of ``--readme``. Depends only on torch, transformers and adapters (plus
``benchmarks/common.py``, standard library only). Without CUDA it prints a clear message and writes
``{"skipped": "no CUDA"}`` to ``--out``, exit code 0 (1 with ``--require-gpu``); ``--allow-cpu`` runs the
same code on the CPU instead (to test the script; figures meaningless, use with ``--quick``).

    python benchmarks/gpu_check.py --require-gpu
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py: standard library only)

NAME = "gpu_check"
TARGET_TIME, TARGET_MEMORY = 0.30, 0.45
TIME_LIMIT_S = 480
XLMR_LARGE = dict(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                  bos_token_id=0, eos_token_id=2)
FULL = {"dims": XLMR_LARGE, "batch": 32, "seq": 128, "warmup": 3, "steps": 10,
        "eval_batch": 64, "eval_warmup": 3, "eval_steps": 20, "matmul": 8192}
QUICK = {"dims": dict(XLMR_LARGE, vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128),
         "batch": 4, "seq": 16, "warmup": 1, "steps": 2, "eval_batch": 4, "eval_warmup": 1, "eval_steps": 2, "matmul": 256}
LABELS = 3


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(plan: dict[str, Any], variant: str, device):
    """A fresh XLMRobertaAdapterModel (random weights, SDPA) with a classification head (+ adapter)."""
    import torch
    from adapters import SeqBnConfig, XLMRobertaAdapterModel
    from transformers import XLMRobertaConfig

    config = XLMRobertaConfig(**plan["dims"], attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device(device):
        model = XLMRobertaAdapterModel(config)
        model.add_classification_head("bench", num_labels=LABELS)
        if variant == "adapter":
            model.add_adapter("bench", config=SeqBnConfig(reduction_factor=16))
            model.train_adapter("bench")
            for p in model.heads["bench"].parameters():
                p.requires_grad_(True)
    if variant == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    if model.config._attn_implementation != "sdpa":
        raise RuntimeError(f"expected SDPA attention, got {model.config._attn_implementation!r}")
    return model.to(device)


def batches(plan: dict[str, Any], n: int, batch: int, device) -> list[dict[str, Any]]:
    import torch

    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(3, plan["dims"]["vocab_size"], (batch, plan["seq"]), generator=gen)
        ids[:, 0], ids[:, -1] = 0, 2
        out.append({"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
                    "labels": torch.randint(0, LABELS, (batch,), generator=gen).to(device)})
    return out


def train_variant(plan: dict[str, Any], variant: str, device) -> dict[str, Any]:
    """Median step time and peak memory of one variant, on a freshly built model."""
    import torch

    data = batches(plan, plan["warmup"] + plan["steps"], plan["batch"], device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build(plan, variant, device)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4 if variant == "adapter" else 2e-5, weight_decay=0.01)
    weights = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    times, losses = [], []
    for i, batch in enumerate(data):
        sync(device)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        sync(device)
        losses.append(float(loss.detach()))
        if i >= plan["warmup"]:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    out = {"step_s_median": statistics.median(times), "step_s": times, "losses": losses,
           "trainable_params": sum(p.numel() for p in trainable), "params": sum(p.numel() for p in model.parameters()),
           "weights_bytes": weights, "peak_bytes": peak}
    del model, opt, trainable, data
    gc.collect()
    return out


def forward_flops(plan: dict[str, Any], batch: int) -> int:
    """Analytic forward FLOPs of one batch (linear layers + attention + head; see benchmarks/flops.py)."""
    d, f, n, length = plan["dims"]["hidden_size"], plan["dims"]["intermediate_size"], plan["dims"]["num_hidden_layers"], plan["seq"]
    per_seq = n * (2 * (4 * d * d + 2 * d * f) * length + 4 * length * length * d) + 2 * (d * d + d * LABELS)
    return batch * per_seq


def matmul_peak(n: int, device, dtype) -> float:
    import torch

    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for i in range(6):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def evaluate(plan: dict[str, Any], device) -> dict[str, Any]:
    """Inference throughput in bf16 under ``torch.inference_mode`` (tokens/s and FLOP/s)."""
    import torch

    model = build(plan, "eval", device).to(torch.bfloat16).eval()
    data = batches(plan, 1, plan["eval_batch"], device)[0]
    times = []
    with torch.inference_mode():
        for i in range(plan["eval_warmup"] + plan["eval_steps"]):
            sync(device)
            start = time.perf_counter()
            model(input_ids=data["input_ids"], attention_mask=data["attention_mask"])
            sync(device)
            if i >= plan["eval_warmup"]:
                times.append(time.perf_counter() - start)
    del model
    gc.collect()
    seconds = statistics.median(times)
    tokens = plan["eval_batch"] * plan["seq"]
    flops = forward_flops(plan, plan["eval_batch"]) / seconds
    peak = matmul_peak(plan["matmul"], device, torch.bfloat16)
    return {"batch": plan["eval_batch"], "seq": plan["seq"], "step_s_median": seconds, "tokens_per_s": tokens / seconds,
            "flops_per_s": flops, "bf16_matmul_peak_flops_per_s": peak, "fraction_of_matmul_peak": flops / peak}


DIST_TOLERANCE = 1e-4
DIST_CONFIG = dict(task="gpu_check_pairs", max_train_examples=64, max_steps=4, batch_size=8, max_length=64,
                   learning_rate=1e-2, adapter_name="dist", eval_every=4)


def _worker(args: list[str], env: dict[str, str], launcher: list[str] | None = None, timeout: int = 300) -> dict[str, Any]:
    """Run ``benchmarks/gpu_check_dist.py`` (which uses xta) in a subprocess; its last JSON line."""
    import subprocess

    cmd = [*(launcher or [sys.executable]), str(Path(__file__).with_name("gpu_check_dist.py")), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no JSON output"}


def distributed_check(device) -> dict[str, Any]:
    """xta's data-parallel training (``torchrun --nproc_per_node 2``) and ``--eval-precision bf16`` on CUDA.

    A tiny random encoder (dropout off) on generated pairs: 2 processes of batch 8 (``nccl``, one GPU each,
    on 2+ GPUs; ``gloo`` sharing GPU 0 on a single GPU) must end with the adapter one process makes with
    batch 8 and 2 accumulation steps (max |diff| <= DIST_TOLERANCE), each rank on disjoint examples and
    only rank 0 writing; then that adapter's dev predictions at fp32 and under bf16 autocast. Not run
    without CUDA: the CPU (gloo) path is tests/test_train.py::test_accumulation_and_two_process_torchrun_match_the_doubled_batch."""
    import os
    import tempfile

    import torch

    if device.type != "cuda":
        return {"skipped": "no CUDA (the 2-process gloo path on CPU is in tests/test_train.py)"}
    started = time.perf_counter()
    repo = str(Path(__file__).resolve().parents[1])
    gpus = torch.cuda.device_count()
    with tempfile.TemporaryDirectory(prefix="xta_gpu_check_") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
               "XTA_ZOO": str(work / "zoo"), "HF_HUB_OFFLINE": "1", "XTA_DEVICE": "cuda:0", "OMP_NUM_THREADS": "1"}
        ddp_env = {**env, "XTA_DEVICE": "cuda"} if gpus >= 2 else {**env, "XTA_DIST_BACKEND": "gloo"}
        out: dict[str, Any] = {"gpus": gpus, "backend": "nccl" if gpus >= 2 else "gloo (2 processes on GPU 0)", "world_size": 2,
                               "config": DIST_CONFIG, "prepare": _worker(["prepare", str(work)], env)}
        out["single"] = _worker(["train", str(work), str(work / "single"),
                                 json.dumps({**DIST_CONFIG, "gradient_accumulation_steps": 2})], env)
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        out["torchrun"] = _worker(["train", str(work), str(work / "ddp"), json.dumps(DIST_CONFIG)], ddp_env, launcher)
        ranks = [json.loads(p.read_text()) for p in sorted((work / "ranks").glob("ddp-rank*.json"))]
        out["ranks"] = [{k: v for k, v in r.items() if k != "seen"} for r in ranks]
        disjoint = len(ranks) == 2 and all(
            len(a) == len(b) and not set(a) & set(b) for a, b in zip(ranks[0]["seen"], ranks[1]["seen"]))
        out["disjoint_shards"] = disjoint
        out["only_rank0_wrote"] = [r.get("saved_adapter") for r in ranks] == [1, 0]
        out["compare"] = _worker(["compare", str(work / "single" / "adapters" / "dist"), str(work / "ddp" / "adapters" / "dist")], env)
        diff = out["compare"].get("max_abs_diff")
        out["pass"] = bool(disjoint and out["only_rank0_wrote"] and diff is not None and diff <= DIST_TOLERANCE)
        out["eval_precision"] = _worker(["eval", str(work), str(work / "single"), "dist"], env)
    out["elapsed_s"] = time.perf_counter() - started
    return out


def device_info(device) -> dict[str, Any]:
    import adapters
    import torch
    import transformers

    info = {"torch": torch.__version__, "transformers": transformers.__version__, "adapters": adapters.__version__,
            "device": str(device)}
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    gpu_memory_bytes=torch.cuda.get_device_properties(device).total_memory)
    return info


def run(plan: dict[str, Any], device, quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    train = {variant: train_variant(plan, variant, device) for variant in ("adapter", "full")}
    a, f = train["adapter"], train["full"]
    time_ratio = a["step_s_median"] / f["step_s_median"]
    memory_ratio = a["peak_bytes"] / f["peak_bytes"] if a["peak_bytes"] and f["peak_bytes"] else None
    results = {"benchmark": NAME, "quick": quick, "machine": {**common.machine_info(), **device_info(device)},
               "model": "XLM-R Large configuration, random weights" if not quick else "tiny XLM-R configuration",
               "attn_implementation": "sdpa", "precision": {"train": "bf16 autocast, fp32 weights", "eval": "bf16 weights"},
               "train": {"batch": plan["batch"], "seq": plan["seq"], "warmup": plan["warmup"], "steps": plan["steps"], **train},
               "time_ratio": time_ratio, "memory_ratio": memory_ratio,
               "time_pass": time_ratio <= TARGET_TIME,
               "memory_pass": memory_ratio is not None and memory_ratio <= TARGET_MEMORY,
               "eval": evaluate(plan, device),
               "distributed": distributed_check(device)}
    results["elapsed_s"] = time.perf_counter() - started
    results["within_time_limit"] = results["elapsed_s"] < TIME_LIMIT_S
    return results


def verdicts(r: dict[str, Any]) -> list[str]:
    memory_target = f"adapter peak memory <= {TARGET_MEMORY:.2f}x full fine-tuning"
    memory = (common.verdict(memory_target, f"{r['memory_ratio']:.2f}x", r["memory_pass"]) if r["memory_ratio"] is not None
              else f"Target {memory_target}: NOT MEASURED (no CUDA memory statistics on {r['machine']['device']})")
    dist = r.get("distributed") or {"skipped": "not run"}
    if "skipped" in dist:
        parallel = f"Target 2-process data-parallel training (torchrun): NOT RUN ({dist['skipped']})"
    else:
        diff = (dist.get("compare") or {}).get("max_abs_diff")
        parallel = common.verdict(f"2-process torchrun adapter = 1 process x 2 accumulation steps (max |diff| <= {DIST_TOLERANCE:g}, "
                                  "disjoint shards, rank 0 writes)", "n/a" if diff is None else f"{diff:.1e}", dist["pass"])
    return [common.verdict(f"adapter step time <= {TARGET_TIME:.2f}x full fine-tuning", f"{r['time_ratio']:.2f}x", r["time_pass"]),
            memory, parallel,
            common.verdict(f"whole check under {TIME_LIMIT_S // 60} minutes", f"{r['elapsed_s']:.0f} s", r["within_time_limit"])]


def render(r: dict[str, Any]) -> str:
    title = "## GPU check: XLM-R Large configuration on one NVIDIA GPU\n\n"
    if "skipped" in r:
        return (title + f"Not run: {r['skipped']} on the machine that last ran `python benchmarks/gpu_check.py` "
                f"({r.get('utc', '?')}). Run it on a machine with one NVIDIA GPU (`--require-gpu` makes a missing GPU "
                "an error); it needs no download and takes a few minutes.\n")
    m, t, e = r["machine"], r["train"], r["eval"]
    rows = [[v, f"{t[v]['trainable_params']:,}", f"{t[v]['step_s_median'] * 1000:.0f}",
             common.fmt_bytes(t[v]["peak_bytes"])] for v in ("adapter", "full")]
    rows.append(["**adapter / full**", "", f"**{r['time_ratio']:.2f}x**",
                 f"**{r['memory_ratio']:.2f}x**" if r["memory_ratio"] is not None else "n/a"])
    head = (title + f"`python benchmarks/gpu_check.py`{' --quick (QUICK RUN: figures meaningless)' if r.get('quick') else ''}. "
            f"{r['model']}, SDPA attention; {m.get('gpu', m['device'])}, torch {m['torch']}, transformers "
            f"{m['transformers']}, adapters {m['adapters']}, {m['utc']}; whole check {r['elapsed_s']:.0f} s. Training: "
            f"batch {t['batch']} x {t['seq']}, bf16 autocast, AdamW, median of {t['steps']} steps after {t['warmup']}; "
            "peak = `torch.cuda.max_memory_allocated` (weights + gradients + AdamW states + activations). Raw figures: "
            f"`benchmarks/results/{NAME}.json`.\n\n")
    table = common.table(["variant", "trainable params", "step (ms)", "peak GPU memory"], rows)
    evaluation = (f"\n\nEvaluation (bf16 weights, `torch.inference_mode`, batch {e['batch']} x {e['seq']}): "
                  f"**{e['tokens_per_s']:,.0f} tokens/s**, {e['flops_per_s'] / 1e12:.1f} TFLOP/s = "
                  f"{e['fraction_of_matmul_peak']:.0%} of the bf16 matmul peak measured here "
                  f"({e['bf16_matmul_peak_flops_per_s'] / 1e12:.0f} TFLOP/s).\n\n")
    dist = r.get("distributed") or {}
    if "skipped" not in dist and dist:
        ev = dist.get("eval_precision") or {}
        evaluation += (f"Data parallel (xta, tiny encoder, {dist['backend']}): `torchrun --nproc_per_node 2` vs one process with "
                       f"`--grad-accum 2`, max |diff| of the adapters {(dist.get('compare') or {}).get('max_abs_diff')}; "
                       f"`--eval-precision bf16` recorded as {ev.get('recorded_precision')!r}, predictions agreeing with fp32: "
                       f"{ev.get('agreement')}.\n\n")
    return head + table + evaluation + "\n".join(f"- {line}" for line in verdicts(r)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.add_argument("--require-gpu", action="store_true", help="exit 1 when CUDA is unavailable")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when CUDA is unavailable (testing)")
    args = parser.parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing measured. "
              "Run it on a machine with one NVIDIA GPU.", file=sys.stderr)
        results = {"benchmark": NAME, "skipped": "no CUDA", "utc": common.machine_info()["utc"]}
        common.write_json(args.out, results)
        common.update_section(args.readme, NAME, render(results))
        print(json.dumps(results))
        return 1 if args.require_gpu else 0
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        common.set_threads(args.threads)
    results = run(QUICK if args.quick else FULL, device, args.quick)
    for line in verdicts(results):
        print(line, file=sys.stderr)
    common.write_json(args.out, results)
    common.update_section(args.readme, NAME, render(results))
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

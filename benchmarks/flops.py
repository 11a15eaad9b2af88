"""Benchmark: forward-pass FLOP/s of xta's evaluation loop as a fraction of this machine's matmul peak.

The evaluation loop is ``toolkit.families.classification.predict_logits`` (``run_batches``: length-grouped
batches of 32, ``torch.inference_mode``) over the XNLI dev pairs of ``eval_throughput.py`` (same languages,
model and head); only the prediction is timed (tokenisation does no FLOPs), language by language.

FLOPs are counted analytically for a BERT encoder (one multiply-add = 2 FLOPs), per sequence of length
``L`` with hidden size ``d``, FFN size ``f`` and ``n`` layers:

* linear layers: ``2 * (4 d^2 + 2 d f)`` per token per layer (Q, K, V and output projections, FFN in/out);
* attention: ``4 L^2 d`` per sequence per layer (``Q K^T`` and ``softmax(.) V``, each ``2 L^2 d``);
* the classification head: ``2 (d^2 + d k)`` per sequence (dense + output over the first token);
* not counted: embeddings (lookups), LayerNorm, softmax, GELU, biases (a few % of the total, so the
  count is a slight under-estimate).

Two counts: **real** (each sequence at its own length, the useful work; the figure checked against the
target) and **executed** (each sequence at its batch's padded length, what the hardware actually ran).
Length grouping keeps them close.

The peak is the best median FLOP/s of fp32 ``torch.matmul`` of square matrices (1024, 2048, 4096) with
the same thread count, measured before and after the evaluation loop (the higher one is used, which is
conservative on a shared machine).

    python benchmarks/flops.py            # full: 7 languages x 160 pairs, embedded encoder
    python benchmarks/flops.py --quick    # seconds; tiny random encoder (tests)

Target: >= 50% of the matmul peak.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)
import eval_throughput as et  # noqa: E402  (same data, model and head)

NAME = "flops"
TARGET = 0.50
SIZES, QUICK_SIZES = (1024, 2048, 4096), (128, 256)


def sequence_flops(length: int, hidden: int, ffn: int, layers: int, labels: int) -> int:
    """Analytic forward FLOPs of one sequence of ``length`` tokens through a BERT encoder + classification head."""
    linear = 2 * (4 * hidden * hidden + 2 * hidden * ffn) * length
    attention = 4 * length * length * hidden
    return layers * (linear + attention) + 2 * (hidden * hidden + hidden * labels)


def batch_flops(lengths: list[int], batch_size: int, dims: dict[str, int]) -> tuple[int, int]:
    """(real, executed) FLOPs of xta's length-grouped batches over sequences of ``lengths``."""
    from toolkit.families.base import length_grouped_batches

    real = sum(sequence_flops(n, **dims) for n in lengths)
    executed = 0
    for idx in length_grouped_batches(lengths, batch_size):
        width = max(lengths[i] for i in idx)
        executed += len(idx) * sequence_flops(width, **dims)
    return real, executed


def matmul_peak(sizes: tuple[int, ...], repeats: int = 3) -> dict[str, Any]:
    """Best median FLOP/s of fp32 ``torch.matmul`` over square sizes (each: 1 warm-up, ``repeats`` timed),
    per wall-clock second and per CPU-second."""
    import statistics

    import torch

    gen = torch.Generator().manual_seed(0)
    per_size, per_size_cpu = {}, {}
    for n in sizes:
        a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        out = torch.empty(n, n)
        torch.matmul(a, b, out=out)
        runs = [common.timed(torch.matmul, a, b, out=out)[:2] for _ in range(repeats)]
        per_size[str(n)] = 2 * n**3 / statistics.median(w for w, _ in runs)
        per_size_cpu[str(n)] = 2 * n**3 / statistics.median(c for _, c in runs)
    return {"flops_per_s": max(per_size.values()), "per_size": per_size,
            "flops_per_cpu_s": max(per_size_cpu.values()), "per_size_cpu": per_size_cpu}


def model_dims(model, labels: int) -> dict[str, int]:
    c = model.config
    return {"hidden": c.hidden_size, "ffn": c.intermediate_size, "layers": c.num_hidden_layers, "labels": labels}


def run_language(model, tokenizer, spec, examples: list[dict], dims: dict[str, int]) -> dict[str, Any]:
    from toolkit.families import classification

    features = classification.featurize(examples, tokenizer, spec, et.MAX_LENGTH)
    seconds, cpu_seconds, _ = common.timed(classification.predict_logits, model, features, et.BATCH_SIZE, head=et.HEAD)
    lengths = [len(it["input_ids"]) for it in features.items]
    real, executed = batch_flops(lengths, et.BATCH_SIZE, dims)
    return {"examples": len(examples), "real_tokens": sum(lengths), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "real_flops": real, "executed_flops": executed}


def summarise(per: dict[str, dict[str, Any]], peaks: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sum(r["seconds"] for r in per.values())
    cpu = sum(r["cpu_seconds"] for r in per.values())
    real = sum(r["real_flops"] for r in per.values())
    executed = sum(r["executed_flops"] for r in per.values())
    peak = max(p["flops_per_s"] for p in peaks)
    peak_cpu = max(p["flops_per_cpu_s"] for p in peaks)
    return {"seconds": seconds, "cpu_seconds": cpu, "real_flops": real, "executed_flops": executed,
            "real_flops_per_cpu_s": real / cpu, "matmul_peak_flops_per_cpu_s": peak_cpu,
            "fraction_real_cpu": real / cpu / peak_cpu,
            "real_flops_per_s": real / seconds, "executed_flops_per_s": executed / seconds,
            "matmul_peak_flops_per_s": peak, "fraction_real": real / seconds / peak,
            "fraction_executed": executed / seconds / peak,
            "real_tokens": sum(r["real_tokens"] for r in per.values()), "passed": real / seconds / peak >= TARGET}


def verdict_line(s: dict[str, Any]) -> str:
    return common.verdict(f"evaluation forward FLOP/s (real tokens) >= {TARGET:.0%} of the fp32 matmul peak",
                          f"{s['fraction_real']:.1%} wall-clock; {s['fraction_real_cpu']:.1%} per CPU-second", s["passed"])


def render(results: dict[str, Any]) -> str:
    s, m = results["summary"], results["machine"]
    g = 1e9
    rows = [[lang, r["examples"], f"{r['real_tokens']:,}", f"{r['seconds']:.2f}", f"{r['real_flops'] / r['seconds'] / g:.1f}",
             f"{r['executed_flops'] / r['seconds'] / g:.1f}"] for lang, r in results["languages"].items()]
    rows.append(["**all**", sum(r["examples"] for r in results["languages"].values()), f"{s['real_tokens']:,}",
                 f"{s['seconds']:.2f}", f"**{s['real_flops_per_s'] / g:.1f}**", f"{s['executed_flops_per_s'] / g:.1f}"])
    peaks = "; ".join(f"{p['when']}: " + ", ".join(f"{n}: {v / g:.1f}" for n, v in p["per_size"].items())
                      for p in results["matmul"])
    head = (f"## Forward FLOP/s of the evaluation loop vs. the matmul peak\n\n`python benchmarks/flops.py`"
            f"{' --quick (QUICK RUN: figures meaningless)' if results.get('quick') else ''}. xta's "
            f"`predict_logits` over XNLI dev pairs (encoder {results['encoder']}, batch {et.BATCH_SIZE}); FLOPs "
            "counted analytically (linear layers 2(4d²+2df) per token per layer, attention 4L²d per sequence per "
            "layer, head; embeddings, LayerNorm, softmax, GELU not counted). \"Real\" counts each sequence at its "
            "own length (checked against the target), \"executed\" at its batch's padded length. Peak = best "
            f"median fp32 `torch.matmul` GFLOP/s by matrix size ({peaks}). {m['cpus']} CPU(s), torch "
            f"{m.get('torch')} with {common.threads_text(m.get('torch_threads'))}, "
            f"{common.load_text(m.get('load_average'), results.get('load_average_end'), m.get('cpus'))}, {m['utc']}. Raw figures: "
            f"`benchmarks/results/{NAME}.json`.\n\n")
    table = common.table(["language", "pairs", "real tokens", "predict (s)", "real GFLOP/s", "executed GFLOP/s"], rows)
    summary = (f"\n\nMatmul peak {s['matmul_peak_flops_per_s'] / g:.1f} GFLOP/s; evaluation loop "
               f"{s['real_flops_per_s'] / g:.1f} GFLOP/s real = **{s['fraction_real']:.1%}** of peak "
               f"({s['executed_flops_per_s'] / g:.1f} GFLOP/s executed = {s['fraction_executed']:.1%}). Per CPU-second: "
               f"peak {s['matmul_peak_flops_per_cpu_s'] / g:.1f}, evaluation {s['real_flops_per_cpu_s'] / g:.1f} GFLOP "
               f"= {s['fraction_real_cpu']:.1%}.\n\n"
               f"- {verdict_line(s)}\n")
    return head + table + summary


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.add_argument("--per-lang", type=int, default=None, help=f"pairs per language (default {et.PER_LANG}; quick 8)")
    parser.add_argument("--data-dir", default=None, help="local data mirror (default ../shared/data)")
    args = parser.parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    common.set_threads(args.threads)
    langs, per_lang = (et.QUICK_LANGS, args.per_lang or 8) if args.quick else (et.LANGS, args.per_lang or et.PER_LANG)
    sizes = QUICK_SIZES if args.quick else SIZES
    machine = common.machine_info(args.threads)
    examples = et.xnli_examples(langs, per_lang, et.data_dir(args.data_dir))
    model, tokenizer, spec = et.classifier(args.quick)
    dims = model_dims(model, len(spec.labels))
    print(f"flops: {len(langs)} languages x {per_lang} XNLI dev pairs, torch limited to {common.threads_text(args.threads)}, dims {dims}")
    peaks = [{"when": "before", **matmul_peak(sizes)}]
    run_language(model, tokenizer, spec, next(iter(examples.values()))[: et.BATCH_SIZE], dims)  # warm-up
    per = {}
    for lang, exs in examples.items():
        per[lang] = run_language(model, tokenizer, spec, exs, dims)
        print(f"  {lang}: {per[lang]['real_tokens']} real tokens, {per[lang]['seconds']:.2f}s, "
              f"{per[lang]['real_flops'] / per[lang]['seconds'] / 1e9:.1f} GFLOP/s (real)", flush=True)
    peaks.append({"when": "after", **matmul_peak(sizes)})
    summary = summarise(per, peaks)
    results = {"benchmark": NAME, "quick": args.quick, "machine": machine, "load_average_end": common.load_average(),
               "encoder": "tiny random encoder" if args.quick else "embedded (multilingual-e5-small)",
               "dims": dims, "matmul": peaks, "languages": per, "summary": summary, "target_fraction": TARGET}
    print(f"matmul peak {summary['matmul_peak_flops_per_s'] / 1e9:.1f} GFLOP/s "
          f"(before {peaks[0]['flops_per_s'] / 1e9:.1f}, after {peaks[1]['flops_per_s'] / 1e9:.1f}); evaluation "
          f"{summary['real_flops_per_s'] / 1e9:.1f} GFLOP/s real ({summary['fraction_real']:.1%}), "
          f"{summary['executed_flops_per_s'] / 1e9:.1f} executed ({summary['fraction_executed']:.1%})")
    print(verdict_line(summary))
    print(common.load_note(machine["load_average"], results["load_average_end"]))
    common.publish(args, NAME, results, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())

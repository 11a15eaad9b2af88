"""Benchmark: xta's evaluation loop vs. a naive loop, tokens per second on multilingual XNLI inputs.

Both loops classify the same XNLI dev sentence pairs (the first ``--per-lang`` (160) pairs of each of 7
languages in 7 scripts, from the local mirror ``../shared/data`` or ``--data-dir``) with the same model:
the embedded encoder (multilingual-e5-small) and a seeded, randomly initialised AdapterHub pair
classification head (``toolkit.families.classification``), batch size 32 (xta's evaluation default),
sequences truncated at 128 tokens (``longest_first``, XTREME's ``run_classify.py`` default).

* ``xta``: ``classification.featurize`` (tokenise once, no padding) + ``classification.predict_logits``
  (``run_batches``: length-grouped batches padded to their longest row, ``torch.inference_mode``);
* ``naive``: tokenise with ``padding="max_length"`` (every pair padded to 128, as XTREME's
  ``run_classify.py`` does), batches in file order, no ``inference_mode`` / ``no_grad`` (autograd on; the
  encoder is xta's frozen one, so only the head's operations are recorded);
* ``naive + inference_mode``: the naive loop under ``torch.inference_mode``, to show how much of the
  gain is the padding alone.

Throughput = real (non-pad) tokens / wall time of tokenisation + forward passes, summed over the
languages; each language runs the three loops back to back (xta evaluates language by language), so the
load of the shared machine hits them alike. Predictions (argmax) must be identical: a disagreement is
allowed only where the top two logits are within 1e-4 (a float tie), and is reported.

    python benchmarks/eval_throughput.py            # full: 7 languages x 160 pairs, embedded encoder
    python benchmarks/eval_throughput.py --quick    # seconds; tiny random encoder (tests)

Target: xta >= 3x the naive loop's tokens per second.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)

NAME = "eval_throughput"
TARGET = 3.0
LANGS = ("en", "de", "ar", "hi", "ru", "zh", "th")
QUICK_LANGS = ("en", "ar")
#: Pairs per language. xta evaluates language by language and groups by length within a language, so
#: the sample must be large enough for grouping to work as on a real dev set (2,490 pairs): with 64 pairs,
#: 2 batches per language, xta's batches still carried ~40% padding.
PER_LANG = 160
MAX_LENGTH, BATCH_SIZE = 128, 32
TIE = 1e-4
HEAD = "bench"


def data_dir(given: str | None) -> Path:
    """``--data-dir``, else ``$XTA_DATA_DIR``, else ``../shared/data`` beside the repository."""
    value = given or os.environ.get("XTA_DATA_DIR") or str(common.REPO_ROOT.parent / "shared" / "data")
    return Path(value)


def xnli_examples(langs: tuple[str, ...], per_lang: int, root: Path) -> dict[str, list[dict]]:
    """The first ``per_lang`` XNLI dev pairs of each language (``toolkit.data.load``, local files)."""
    from toolkit.data import load

    return {lang: load("xnli", "dev", lang, data_dir=root, max_examples=per_lang) for lang in langs}


def classifier(quick: bool) -> tuple[Any, Any, Any]:
    """(flex-head model with a seeded XNLI head, tokenizer, XNLI spec); embedded encoder or a tiny one."""
    import torch

    from toolkit.encoders import load_encoder, tiny_encoder
    from toolkit.families import classification
    from toolkit.families.base import adapter_model
    from toolkit.tasks import get_task

    encoder = tiny_encoder() if quick else load_encoder("embedded")
    model = adapter_model(encoder)
    spec = get_task("xnli")
    torch.manual_seed(0)
    if HEAD not in model.heads:
        classification.add_head(model, HEAD, spec)
    model.eval()
    return model, encoder.tokenizer, spec


def xta_loop(model, tokenizer, spec, examples: list[dict]) -> tuple[Any, list[int]]:
    """xta's path: featurize + predict_logits. Returns (logits, token count of each pair)."""
    from toolkit.families import classification

    features = classification.featurize(examples, tokenizer, spec, MAX_LENGTH)
    logits = classification.predict_logits(model, features, BATCH_SIZE, head=HEAD)
    return logits, [len(it["input_ids"]) for it in features.items]


def grouped_padded_tokens(lengths: list[int]) -> int:
    """Tokens (pads included) in xta's length-grouped batches of ``lengths``."""
    from toolkit.families.base import length_grouped_batches

    return sum(len(idx) * max(lengths[i] for i in idx) for idx in length_grouped_batches(lengths, BATCH_SIZE))


def naive_loop(model, tokenizer, examples: list[dict], inference_mode: bool = False) -> tuple[Any, int]:
    """Pad every pair to ``MAX_LENGTH``, batches in file order, autograd on unless ``inference_mode``."""
    import contextlib

    import torch

    from toolkit.families.base import head_logits

    enc = tokenizer([ex["text"] for ex in examples], [ex["text_pair"] for ex in examples],
                    truncation="longest_first", max_length=MAX_LENGTH, padding="max_length", return_tensors="pt")
    model.eval()
    rows = []
    with torch.inference_mode() if inference_mode else contextlib.nullcontext():
        for start in range(0, len(examples), BATCH_SIZE):
            batch = {k: enc[k][start:start + BATCH_SIZE] for k in ("input_ids", "attention_mask")}
            rows.append(head_logits(model, batch, HEAD).logits.detach().float())
    return torch.cat(rows), int(enc["attention_mask"].sum())


def disagreements(a, b) -> tuple[int, int]:
    """(argmax disagreements, of which not float ties): a tie is a top-2 margin under ``TIE`` in ``a``."""
    top2 = a.topk(2, dim=-1).values
    differ = a.argmax(-1) != b.argmax(-1)
    ties = (top2[:, 0] - top2[:, 1]) < TIE
    return int(differ.sum()), int((differ & ~ties).sum())


LOOPS = ("xta", "naive", "naive_inference_mode")


def run_language(model, tokenizer, spec, examples: list[dict]) -> dict[str, Any]:
    """The three loops back to back on one language's examples (wall and CPU seconds of each)."""
    wall, cpu = {}, {}
    wall["xta"], cpu["xta"], (logits_xta, lengths) = common.timed(xta_loop, model, tokenizer, spec, examples)
    tokens = sum(lengths)
    wall["naive"], cpu["naive"], (logits_naive, tokens_naive) = common.timed(naive_loop, model, tokenizer, examples)
    wall["naive_inference_mode"], cpu["naive_inference_mode"], (logits_im, _) = common.timed(
        naive_loop, model, tokenizer, examples, inference_mode=True)
    if tokens != tokens_naive:
        raise AssertionError(f"real token counts differ: xta {tokens}, naive {tokens_naive}")
    differ, real_differ = disagreements(logits_xta, logits_naive)
    differ_im, real_differ_im = disagreements(logits_xta, logits_im)
    if real_differ or real_differ_im:
        raise AssertionError(f"predictions differ beyond float ties: {real_differ} (naive), {real_differ_im} (+inference_mode)")
    return {"examples": len(examples), "real_tokens": tokens, "padded_tokens_naive": len(examples) * MAX_LENGTH,
            "padded_tokens_xta": grouped_padded_tokens(lengths),
            "seconds": wall, "cpu_seconds": cpu, "prediction_disagreements": differ + differ_im,
            "max_abs_logit_diff": float((logits_xta - logits_naive).abs().max())}


def summarise(per_lang: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tokens = sum(r["real_tokens"] for r in per_lang.values())
    seconds = {k: sum(r["seconds"][k] for r in per_lang.values()) for k in LOOPS}
    cpu = {k: sum(r["cpu_seconds"][k] for r in per_lang.values()) for k in LOOPS}
    tps = {k: tokens / v for k, v in seconds.items()}
    return {"real_tokens": tokens, "examples": sum(r["examples"] for r in per_lang.values()),
            "seconds": seconds, "cpu_seconds": cpu, "tokens_per_s": tps,
            "tokens_per_cpu_s": {k: tokens / v for k, v in cpu.items()},
            "speedup": tps["xta"] / tps["naive"], "speedup_cpu": cpu["naive"] / cpu["xta"],
            "speedup_vs_naive_inference_mode": tps["xta"] / tps["naive_inference_mode"],
            "identical_predictions": all(r["prediction_disagreements"] == 0 for r in per_lang.values()),
            "passed": tps["xta"] / tps["naive"] >= TARGET}


def verdict_line(s: dict[str, Any]) -> str:
    return common.verdict(f"xta evaluation >= {TARGET:.0f}x the naive loop's tokens/s", f"{s['speedup']:.2f}x wall-clock; "
                          f"{s['speedup_cpu']:.2f}x in CPU time", s["passed"])


def render(results: dict[str, Any]) -> str:
    s, m = results["summary"], results["machine"]
    rows = [[lang, r["examples"], f"{r['real_tokens']:,}", f"{r['real_tokens'] / r['examples']:.1f}",
             f"{r['padded_tokens_xta'] / r['real_tokens'] - 1:.0%}", f"{r['padded_tokens_naive'] / r['real_tokens'] - 1:.0%}",
             f"{r['real_tokens'] / r['seconds']['xta']:,.0f}", f"{r['real_tokens'] / r['seconds']['naive']:,.0f}",
             f"{r['real_tokens'] / r['seconds']['naive_inference_mode']:,.0f}",
             f"{r['seconds']['naive'] / r['seconds']['xta']:.2f}x"] for lang, r in results["languages"].items()]
    tps = s["tokens_per_s"]
    langs = results["languages"].values()
    pads = [sum(r[k] for r in langs) / s["real_tokens"] - 1 for k in ("padded_tokens_xta", "padded_tokens_naive")]
    rows.append(["**all**", s["examples"], f"{s['real_tokens']:,}", f"{s['real_tokens'] / s['examples']:.1f}",
                 f"{pads[0]:.0%}", f"{pads[1]:.0%}", f"**{tps['xta']:,.0f}**", f"{tps['naive']:,.0f}", f"{tps['naive_inference_mode']:,.0f}",
                 f"**{s['speedup']:.2f}x**"])
    cps = s["tokens_per_cpu_s"]
    rows.append(["all, per CPU-second", "", "", "", "", "", f"{cps['xta']:,.0f}", f"{cps['naive']:,.0f}",
                 f"{cps['naive_inference_mode']:,.0f}", f"{s['speedup_cpu']:.2f}x"])
    head = (f"## Evaluation throughput: xta's loop vs. a naive loop\n\n`python benchmarks/eval_throughput.py`"
            f"{' --quick (QUICK RUN: figures meaningless)' if results.get('quick') else ''}. "
            f"Encoder {results['encoder']} + seeded XNLI pair classification head; XNLI dev pairs, batch "
            f"{BATCH_SIZE}, truncation at {MAX_LENGTH}. xta = featurize + predict (length-grouped batches, "
            "`torch.inference_mode`); naive = every pair padded to 128, file order, autograd on; tokens/s counts "
            "real (non-pad) tokens over tokenisation + forward time (wall clock; the last row per CPU-second). "
            "Predictions identical: "
            f"{'yes' if s['identical_predictions'] else 'NO'}. {m['cpus']} CPU(s), torch {m.get('torch')} with "
            f"{common.threads_text(m.get('torch_threads'))}, "
            f"{common.load_text(m.get('load_average'), results.get('load_average_end'), m.get('cpus'))}, {m['utc']}. "
            f"Raw figures: `benchmarks/results/{NAME}.json`.\n\n")
    headers = ["language", "pairs", "real tokens", "tokens/pair", "xta padding", "naive padding", "xta tok/s", "naive tok/s",
               "naive + inference_mode tok/s", "speed-up"]
    return head + common.table(headers, rows) + f"\n\n- {verdict_line(s)}\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.add_argument("--per-lang", type=int, default=None, help=f"pairs per language (default {PER_LANG}; quick 8)")
    parser.add_argument("--data-dir", default=None, help="local data mirror (default ../shared/data)")
    args = parser.parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    common.set_threads(args.threads)
    langs, per_lang = (QUICK_LANGS, args.per_lang or 8) if args.quick else (LANGS, args.per_lang or PER_LANG)
    machine = common.machine_info(args.threads)
    examples = xnli_examples(langs, per_lang, data_dir(args.data_dir))
    model, tokenizer, spec = classifier(args.quick)
    print(f"eval_throughput: {len(langs)} languages x {per_lang} XNLI dev pairs, torch limited to {common.threads_text(args.threads)}")
    warm = next(iter(examples.values()))[:BATCH_SIZE]
    run_language(model, tokenizer, spec, warm)  # untimed warm-up of all three loops (first-call costs)
    per = {}
    for lang, exs in examples.items():
        per[lang] = run_language(model, tokenizer, spec, exs)
        sec = per[lang]["seconds"]
        print(f"  {lang}: {per[lang]['real_tokens']} real tokens; xta {sec['xta']:.2f}s, naive {sec['naive']:.2f}s, "
              f"naive+inference_mode {sec['naive_inference_mode']:.2f}s", flush=True)
    summary = summarise(per)
    results = {"benchmark": NAME, "quick": args.quick, "machine": machine, "load_average_end": common.load_average(),
               "encoder": "tiny random encoder" if args.quick else "embedded (multilingual-e5-small)",
               "batch_size": BATCH_SIZE, "max_length": MAX_LENGTH, "languages": per, "summary": summary,
               "target_speedup": TARGET}
    tps = summary["tokens_per_s"]
    cps = summary["tokens_per_cpu_s"]
    print(f"tokens/s: xta {tps['xta']:,.0f}, naive {tps['naive']:,.0f}, naive+inference_mode "
          f"{tps['naive_inference_mode']:,.0f} (per CPU-second: {cps['xta']:,.0f}, {cps['naive']:,.0f}, "
          f"{cps['naive_inference_mode']:,.0f}); identical predictions: {summary['identical_predictions']}")
    print(verdict_line(summary))
    print(common.load_note(machine["load_average"], results["load_average_end"]))
    common.publish(args, NAME, results, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what a small transfer matrix costs end to end, what its re-run costs, and its storage.

Runs one small matrix (the built-in CLDR tasks: 2 intermediate adapters + the no-intermediate baseline x
3 targets, sequential recipe, every CLDR language) through ``toolkit.matrix.run_matrix`` in a fresh
directory, then runs the identical matrix again. Reported:

* first run: wall seconds, trainings, optimizer steps, evaluated cells;
* re-run: wall seconds and the number of cells recomputed (target: zero — every adapter is found
  finished and every language is in the results store);
* storage: bytes of the matrix's adapter directories vs. what full fine-tuning of the same trained cells
  would store (one fp32 copy of the encoder per trained cell).

    python benchmarks/matrix_cost.py            # embedded encoder, 30 steps per adapter
    python benchmarks/matrix_cost.py --quick    # tiny random encoder, 2 steps (tests)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)

NAME = "matrix_cost"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def matrix_config(workdir: Path, model: str, steps: int, max_eval: int):
    from toolkit.matrix import MatrixConfig

    return MatrixConfig(
        targets=("cldr_continent", "cldr_kind", "cldr_names"), intermediates=("cldr_kind", "cldr_continent"),
        benchmark="demo", split="test", langs=("all",), intermediate_steps=steps, target_steps=steps,
        learning_rate=1e-3, batch_size=16, max_length=32, max_eval_examples=max_eval, eval_batch_size=64,
        results_dir=str(workdir / "results"), artifacts_dir=str(workdir / "artifacts"), model=model,
    )


def tiny_model(workdir: Path) -> str:
    from toolkit.encoders import tiny_encoder

    enc = tiny_encoder(seed=0)
    path = workdir / "tiny_encoder"
    enc.model.save_pretrained(path, safe_serialization=True)
    enc.tokenizer.save_pretrained(path)
    return str(path)


def run_once(cfg) -> dict[str, Any]:
    from toolkit.matrix import run_matrix

    t0 = time.perf_counter()
    run = run_matrix(cfg)
    wall = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for outcome in run.outcomes.values():
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    recomputed = sum(n for s, n in statuses.items() if s in ("trained", "evaluated"))
    c = run.cost
    return {"wall_seconds": round(wall, 2), "node_statuses": statuses, "nodes_recomputed": recomputed,
            "trainings": c.trainings, "trained_now": c.trained_now, "steps": c.steps, "steps_now": c.steps_now,
            "adapter_bytes": c.adapter_bytes, "encoder_parameters": c.encoder_parameters,
            "full_finetune_bytes": c.full_finetune_bytes, "storage_ratio": c.ratio,
            "cells_scored": len(run.scores)}


def render(results: dict[str, Any]) -> str:
    first, second = results["first_run"], results["re_run"]
    rows = [
        ["first run", f"{first['wall_seconds']:.1f} s", f"{first['trainings']} adapters, {first['steps']} steps",
         str(first["nodes_recomputed"])],
        ["identical re-run", f"{second['wall_seconds']:.1f} s", f"{second['trained_now']} adapters trained",
         str(second["nodes_recomputed"])],
    ]
    passed = second["nodes_recomputed"] == 0
    ratio = first["storage_ratio"]
    lines = [
        f"### matrix_cost ({'quick, tiny encoder' if results['quick'] else 'embedded encoder'})", "",
        "A matrix of 2 intermediate adapters + baseline x 3 CLDR targets x every CLDR language, run twice.", "",
        common.table(["run", "wall time", "work", "nodes recomputed"], rows), "",
        common.verdict("re-run recomputes zero cells", f"{second['nodes_recomputed']} recomputed", passed), "",
        f"Storage: adapters {common.fmt_bytes(first['adapter_bytes'])} on disk vs. "
        f"{common.fmt_bytes(first['full_finetune_bytes'])} for full fine-tuning of the same "
        f"{first['trainings']} trained cells ({first['encoder_parameters']:,} fp32 parameters each)"
        + (f": {ratio:.0f}x smaller." if ratio else "."),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.add_argument("--steps", type=int, default=None, help="steps per adapter (default 30; quick 2)")
    args = parser.parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    common.set_threads(args.threads)
    machine = common.machine_info(args.threads)
    with tempfile.TemporaryDirectory(prefix="xta-matrix-cost-") as tmp:
        workdir = Path(tmp)
        model = tiny_model(workdir) if args.quick else "embedded"
        steps = args.steps or (2 if args.quick else 30)
        cfg = matrix_config(workdir, model, steps, 10 if args.quick else 40)
        print(f"matrix_cost: {'tiny encoder' if args.quick else 'embedded encoder'}, {steps} steps per adapter")
        first = run_once(cfg)
        print(f"  first run: {first['wall_seconds']:.1f} s, {first['trained_now']} trainings, statuses {first['node_statuses']}")
        second = run_once(cfg)
        print(f"  re-run:    {second['wall_seconds']:.1f} s, {second['nodes_recomputed']} nodes recomputed")
    results = {"benchmark": NAME, "quick": args.quick, "machine": machine, "steps": steps,
               "load_average_end": common.load_average(), "first_run": first, "re_run": second}
    print(render(results))
    common.publish(args, NAME, results, render)
    return 0 if second["nodes_recomputed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

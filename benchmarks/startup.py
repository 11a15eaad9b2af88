"""Benchmark: start-up, the time from typing an ``xta`` command to its first line on the terminal.

Each case starts a fresh interpreter on ``cli.py`` (what the ``xta`` console script runs), as a user
would, and measures the wall time until the first line of output arrives (stdout and stderr merged),
then until the process exits. The cases are the errors a user makes first; each must be reported before
torch, the encoder or the data are loaded (issue 20, item 7):

* a misspelled task in ``xta train-adapter`` (``--task mnlii``: the did-you-mean line);
* missing English training data (``--task copa --data-dir EMPTY``, offline: the missing-file line, before
  any encoder is loaded);
* ``xta export`` from an empty results store (writes text files; must not import torch);
* ``xta tasks`` (the first table line), for reference.

Target: every error line within 2 s (the median of ``--repeats`` runs; the first run of each case is a
warm-up, so the figures are warm-cache start-up, not a cold disk).

    python benchmarks/startup.py            # 5 timed runs per case
    python benchmarks/startup.py --quick    # 1 run per case, no warm-up (tests)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (benchmarks/common.py)

NAME = "startup"
TARGET_SECONDS = 2.0


def cases(tmp: Path) -> list[dict[str, Any]]:
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    return [
        {"name": "misspelled task (train-adapter --task mnlii)", "error": True,
         "argv": ["train-adapter", "--task", "mnlii", "--max-steps", "1", "--artifacts-dir", str(tmp / "a")]},
        {"name": "missing training data (train-adapter --task copa, empty --data-dir)", "error": True,
         "argv": ["train-adapter", "--task", "copa", "--data-dir", str(empty), "--max-steps", "1",
                  "--artifacts-dir", str(tmp / "a")]},
        {"name": "export from an empty results store", "error": True,
         "argv": ["export", str(tmp / "out"), "--results-dir", str(empty)]},
        {"name": "tasks (first table line)", "error": False, "argv": ["tasks"]},
    ]


def first_line(argv: list[str]) -> dict[str, Any]:
    """Seconds to the first output line and to the exit of ``python cli.py ARGV``; that line; the exit code."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(common.REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(common.REPO_ROOT / "cli.py"), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=common.REPO_ROOT)
    line = proc.stdout.readline()
    t_line = time.perf_counter() - t0
    rest = proc.stdout.read()
    code = proc.wait()
    return {"first_line_s": round(t_line, 3), "exit_s": round(time.perf_counter() - t0, 3), "exit_code": code,
            "first_line": line.strip()[:200], "output_lines": 1 + rest.count("\n")}


def run_case(case: dict[str, Any], repeats: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        first_line(case["argv"])
    runs = [first_line(case["argv"]) for _ in range(repeats)]
    median = statistics.median(r["first_line_s"] for r in runs)
    ok_line = all((r["exit_code"] == 1 and r["first_line"].startswith("error:")) if case["error"] else r["exit_code"] == 0
                  for r in runs)
    return {"case": case["name"], "command": "xta " + " ".join(case["argv"]), "error_case": case["error"],
            "median_first_line_s": median, "median_exit_s": statistics.median(r["exit_s"] for r in runs),
            "runs": runs, "behaved": ok_line}


def render(results: dict[str, Any]) -> str:
    rows, passed = [], True
    for c in results["cases"]:
        rows.append([c["case"], f"{c['median_first_line_s']:.2f} s", f"{c['median_exit_s']:.2f} s",
                     c["runs"][0]["first_line"][:70].replace("|", "\\|"), "yes" if c["behaved"] else "NO"])
        if c["error_case"]:
            passed = passed and c["behaved"] and c["median_first_line_s"] <= TARGET_SECONDS
    worst = max((c["median_first_line_s"] for c in results["cases"] if c["error_case"]), default=0.0)
    m = results["machine"]
    lines = [
        f"### startup ({'quick: 1 run, no warm-up' if results['quick'] else 'median of %d warm runs' % results['repeats']})", "",
        "Fresh `python cli.py ...` processes (what the `xta` script runs), offline; time to the first output line "
        "and to exit.", "",
        common.table(["case", "first line", "exit", "first line printed", "error line, exit code 1"], rows), "",
        common.verdict(f"every error line within {TARGET_SECONDS:.0f} s", f"slowest {worst:.2f} s", passed), "",
        common.load_text(m.get("load_average"), results.get("load_average_end"), m.get("cpus")) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(NAME, __doc__)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 5; quick 1)")
    args = parser.parse_args(argv)
    if args.render_only:
        return common.render_only(args, NAME, render)
    repeats = args.repeats or (1 if args.quick else 5)
    machine = common.machine_info()
    with tempfile.TemporaryDirectory(prefix="xta-startup-") as tmp:
        results_cases = []
        for case in cases(Path(tmp)):
            res = run_case(case, repeats, 0 if args.quick else 1)
            print(f"  {res['case']}: first line {res['median_first_line_s']:.2f} s, exit {res['median_exit_s']:.2f} s"
                  f" ({res['runs'][0]['first_line'][:80]})")
            results_cases.append(res)
    results = {"benchmark": NAME, "quick": args.quick, "repeats": repeats, "machine": machine,
               "target_seconds": TARGET_SECONDS, "load_average_end": common.load_average(), "cases": results_cases}
    print(render(results))
    common.publish(args, NAME, results, render)
    return 0 if all(c["behaved"] for c in results_cases) else 1


if __name__ == "__main__":
    sys.exit(main())

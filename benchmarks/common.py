"""Shared helpers of xta's performance benchmarks (standard library only, so that ``gpu_check.py`` stays
dependent on torch, transformers and adapters alone).

* results: :func:`write_json` (atomic), :func:`machine_info`, :func:`verdict` (target, measured, PASS/MISS);
* timing: :func:`median_time` (warm-up runs, then the median of N timed runs);
* memory on CPU: :func:`rss_bytes`, :func:`reset_peak_rss`, :func:`peak_rss_bytes` (Linux ``/proc``: the
  resident-set high-water mark ``VmHWM``, which ``clear_refs`` can reset to the current RSS);
* the README: :func:`update_section` rewrites only the text between ``<!-- NAME:start -->`` and
  ``<!-- NAME:end -->`` in ``benchmarks/README.md`` (creating the file with its intro if missing), so each
  benchmark owns exactly one section and no table there is typed by hand;
* :func:`base_parser`: the flags every benchmark has (``--quick``, ``--out``, ``--readme``, ``--threads``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# benchmarks never touch the network (set before transformers / datasets are imported)
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
DEFAULT_THREADS = 1

INTRO = """Performance benchmarks of xta. Each one is a single command that prints its figures, writes them to
`benchmarks/results/<name>.json` (committed) and rewrites its own section below, between
`<!-- name:start -->` / `<!-- name:end -->` markers; nothing in these sections is typed by hand. Every
benchmark takes `--quick` (a tiny budget, used by the tests; figures meaningless), `--out PATH` and
`--readme PATH` (`--readme none` leaves the README alone). Where a benchmark has a target, its section
states the target, the measured figure and PASS or MISS.

CPU figures come from a 2-core development machine that other jobs sometimes shared (each section records
the load average at start and end and says whether it rose above the core count). Every CPU benchmark runs torch with one thread (`--threads`): with
two OpenMP threads on an oversubscribed machine every operator's barrier waits for a descheduled thread, so
wall time stops tracking work (a 32 x 64 -> 32 x 128 forward of the embedded encoder went 2.7 -> 4.0 s with
two threads, 1.1 -> 2.5 CPU-seconds with one). Besides wall time the benchmarks record the process's CPU
time (`time.process_time`), which for one thread is the time the work took while it was actually running;
targets are judged on wall time, as specified, and the CPU-time figure is shown beside it as a cross-check."""


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file beside the target, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return path


def _write_text(path: Path, text: str) -> None:
    """Atomic write with the permissions an ordinary ``open`` would give (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def load_text(start: list[float] | None, end: list[float] | None, cpus: int | None) -> str:
    """'load average [..] at start, [..] at end' and whether other jobs shared the machine, judged on the
    1-minute figures against the core count (a load above it: wall-clock timings are noisy)."""
    text = f"load average {start} at start, {end} at end"
    ones = [x[0] for x in (start, end) if x]
    if not ones or not cpus:
        return text
    if max(ones) > cpus:
        return text + " (a load above the core count: other jobs shared the machine)"
    return text + " (at most the core count: no other heavy job ran)"


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Where and when a benchmark ran (CPU count, torch threads, versions, load, UTC time)."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": load_average(),
        "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    if threads is not None:
        info["threads_requested"] = threads
    return info


def set_threads(n: int) -> None:
    """Limit torch's intra-op threads to ``n`` for every benchmark alike (see ``INTRO``)."""
    import torch

    torch.set_num_threads(n)


def load_note(start: list[float] | None, end: list[float] | None) -> str:
    """The printed line about the machine's load during a run."""
    return (f"load average at start {start}, at end {end} ({os.cpu_count()}-core machine; a load above the core "
            "count means other jobs shared it and wall-clock timings are noisy)")


def threads_text(n: Any) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def verdict(target: str, measured: str, passed: bool) -> str:
    """One plain line: ``Target <target>: PASS|MISS (measured <measured>)``."""
    return f"Target {target}: {'PASS' if passed else 'MISS'} (measured {measured})"


# ------------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------------


def timed(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; return (median seconds, all times)."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


# ------------------------------------------------------------------------------------------------
# CPU memory (Linux /proc)
# ------------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """This process's current resident set size (``VmRSS``), or None off Linux."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark to the current RSS (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0).

    Returns False where that is not possible or did not take (the high-water mark read back is still above the
    current RSS plus 16 MiB, as on some VM kernels); the peak then still includes everything before.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 16 * 1024


def peak_rss_bytes() -> int | None:
    """The RSS high-water mark (``VmHWM``) since process start or the last :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return kib * 1024


# ------------------------------------------------------------------------------------------------
# README sections
# ------------------------------------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the part between ``name``'s markers replaced by ``body`` (appended if absent).

    Everything outside that one pair of markers is kept byte for byte.
    """
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    i = text.find(start)
    if i < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    j = text.find(end, i)
    if j < 0:
        raise ValueError(f"README: {start} has no matching {end}")
    return text[:i] + block + text[j + len(end):]


def _with_intro(text: str) -> str:
    """Insert the intro section after the title line when it is missing (once)."""
    start, _ = markers("intro")
    if start in text:
        return text
    block = replace_section("", "intro", INTRO).strip("\n")
    lines = text.split("\n", 1)
    if lines[0].startswith("# "):
        rest = lines[1].lstrip("\n") if len(lines) > 1 else ""
        return f"{lines[0]}\n\n{block}\n\n{rest}".rstrip("\n") + "\n"
    return f"# Benchmarks\n\n{block}\n\n{text.lstrip()}".rstrip("\n") + "\n"


def update_section(readme: str | os.PathLike | None, name: str, body: str) -> Path | None:
    """Rewrite benchmark ``name``'s section of ``readme`` (None or "none": do nothing)."""
    if readme is None or str(readme).lower() == "none":
        return None
    path = Path(readme)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    _write_text(path, replace_section(_with_intro(text), name, body))
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one character per column: ``l`` (left), ``r`` or ``c``."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------


def base_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The flags every benchmark shares; ``--out`` defaults to ``benchmarks/results/<name>.json``."""
    parser = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=(doc or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budget (tests); figures meaningless")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / f"{name}.json", help="JSON results file")
    parser.add_argument("--readme", default=str(README),
                        help="README whose section to rewrite ('none': leave it alone)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"torch threads (default {DEFAULT_THREADS})")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the README section from the existing --out file without running")
    return parser


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**30:.2f} GiB" if abs(n) >= 2**30 else f"{n / 2**20:.0f} MiB"


def publish(args: argparse.Namespace, name: str, results: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    """The common end of a benchmark run: write the JSON, regenerate its README section, say where."""
    write_json(args.out, results)
    update_section(args.readme, name, render(results))
    print(f"wrote {args.out}")


def render_only(args: argparse.Namespace, name: str, render: Callable[[dict[str, Any]], str]) -> int:
    """``--render-only``: re-render the README section of ``name`` from ``args.out``."""
    results = json.loads(Path(args.out).read_text(encoding="utf-8"))
    update_section(args.readme, name, render(results))
    print(f"rewrote the {name} section of {args.readme} from {args.out}")
    return 0

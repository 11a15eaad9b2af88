"""Progress for people and for batch jobs (issue 20, item 3).

On a terminal xta shows rich progress bars. Under ``nohup``, SLURM or any redirect (stderr is not a
terminal) a bar prints nothing until it ends, so xta prints plain lines to stderr instead: the first step,
then one line every ``XTA_PROGRESS_SECONDS`` seconds (default 30; 0 = every step), and the last one::

    train copa: step 120/240 (50%), loss 0.6931, 1.23 step/s, elapsed 1m37s, ETA 1m37s

Everything here writes to stderr: stdout carries only results (``--json``).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator

DEFAULT_SECONDS = 30.0


def interactive() -> bool:
    """True when stderr is a terminal (rich's judgement, so FORCE_TERMINAL / TTY_COMPATIBLE apply)."""
    from rich.console import Console

    return Console(stderr=True).is_terminal


def interval() -> float:
    """Seconds between plain progress lines: ``XTA_PROGRESS_SECONDS`` (a bad value: the default)."""
    try:
        value = float(os.environ.get("XTA_PROGRESS_SECONDS", DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS
    return value if math.isfinite(value) and value >= 0 else DEFAULT_SECONDS


def duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class PlainProgress:
    """Periodic one-line progress reports on stderr (or ``write``): ``label: unit n/total (p%), fields,
    rate, elapsed, ETA``. ``total`` None: no percentage and no ETA."""

    def __init__(self, label: str, total: int | None, done: int = 0, *, unit: str = "step", every: float | None = None,
                 write: Callable[[str], None] | None = None, clock: Callable[[], float] = time.perf_counter):
        self.label, self.total, self.done, self.unit = label, total, done, unit
        self.every = interval() if every is None else every
        self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._clock = clock
        self._start = clock()
        self._count = 0  # advanced in this process (the rate; a resumed run starts at done > 0)
        self._last: float | None = None
        self._last_done: int | None = None

    def advance(self, n: int = 1, *, detail: str | None = None, **fields: float) -> None:
        self.done += n
        self._count += n
        now = self._clock()
        last_step = self.total is not None and self.done >= self.total
        if self._last is None or last_step or now - self._last >= self.every:
            self._emit(now, detail, fields)

    def close(self, detail: str | None = None) -> None:
        """A final line unless the last state was just printed."""
        if self._last_done != self.done:
            self._emit(self._clock(), detail, {})

    def _emit(self, now: float, detail: str | None, fields: dict[str, float]) -> None:
        self._last, self._last_done = now, self.done
        elapsed = now - self._start
        rate = self._count / elapsed if elapsed > 0 else 0.0
        where = f"{self.unit} {self.done}/{self.total} ({100 * self.done / self.total:.0f}%)" if self.total else f"{self.done} {self.unit}s"
        parts = [where]
        if detail:
            parts.append(detail)
        parts += [f"{k} {v:.4f}" for k, v in fields.items() if isinstance(v, (int, float)) and math.isfinite(v)]
        parts.append(f"{rate:.2f} {self.unit}/s" if rate >= 0.1 or rate == 0 else f"{1 / rate:.1f} s/{self.unit}")
        parts.append(f"elapsed {duration(elapsed)}")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {duration((self.total - self.done) / rate)}")
        self._write(f"{self.label}: " + ", ".join(parts))


@contextlib.contextmanager
def counter(label: str, total: int | None = None, *, console=None, unit: str = "item") -> Iterator[Callable[[str], None]]:
    """``tick(description)`` once per item: a rich bar on a terminal (on ``console``, default stderr),
    plain periodic lines otherwise."""
    if interactive():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console or Console(stderr=True)) as bar:
            job = bar.add_task(label, total=total)
            yield lambda description: bar.update(job, advance=1, description=description)
        return
    plain = PlainProgress(label, total, unit=unit)
    yield lambda description: plain.advance(detail=description)
    plain.close()

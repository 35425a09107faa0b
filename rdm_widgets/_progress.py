"""Progress reporting that keeps the compute core UI-free.

The core reports ``progress(done, total)`` through a plain callable. Widgets
pass a callable that moves a progress bar; scripts pass ``verbose=True`` and
get a tqdm bar; batch jobs whose output goes to a log file pass a
:class:`LineProgress` (plain time-stamped lines, no carriage returns). A callback may raise :class:`Cancelled` to stop a run (the
widgets' Stop button does this); the core then cleans up so that no partial
files are left behind.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

__all__ = ["Cancelled", "ProgressReporter", "LineProgress", "format_seconds"]

ProgressCallback = Callable[[int, int], None]


def format_seconds(s: float) -> str:
    """Duration for people: ``"< 0.1 s"``, ``"0.3 s"``, ``"12 s"``, ``"2 min 10 s"``, ``"1 h 05 min"``.

    The one formatter of durations: cost estimates and the panels' ETAs use it.

    Parameters
    ----------
    s : float
        Seconds (negative values read as ``"< 0.1 s"``).

    Returns
    -------
    str
    """
    if s < 0.95:
        return "< 0.1 s" if s < 0.05 else f"{s:.1f} s"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class Cancelled(Exception):
    """Raised from a progress callback to stop a running computation."""


class ProgressReporter:
    """Forward progress to a callback and, when verbose, to a tqdm bar.

    Parameters
    ----------
    total : int
        Number of work units.
    progress : callable or None
        ``progress(done, total)``; called after each update and once at start
        with ``done=0``. It may raise :class:`Cancelled`.
    verbose : bool
        Show a tqdm progress bar.
    desc : str
        Label of the tqdm bar.
    """

    def __init__(self, total: int, progress: Optional[ProgressCallback] = None,
                 verbose: bool = False, desc: str = ""):
        if progress is not None and not callable(progress):
            raise TypeError(
                f"Invalid type for 'progress': {type(progress).__name__}. "
                "Expected a callable progress(done, total) or None."
            )
        self.total = int(total)
        self.done = 0
        self._callback = progress
        self._bar = None
        if verbose:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc)
        if self._callback is not None:
            self._callback(0, self.total)

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units and notify the callback."""
        self.done = min(self.done + int(n), self.total)
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self.done, self.total)

    def close(self) -> None:
        """Close the tqdm bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LineProgress:
    """A ``progress(done, total)`` callback that writes plain log lines (for job logs).

    ``[12:03:05] RDMs: 40/200 (20%), elapsed 1 min 02 s, ETA 4 min 10 s``: one line at 0 %,
    then at most one every ``interval`` seconds, and one at 100 %; no carriage returns, each
    line flushed (a cluster job's log shows it at once). The ETA assumes the remaining units
    take as long as the finished ones did. A run that starts counting again (a new total, or
    ``done`` going down) starts a new timer.

    Parameters
    ----------
    desc : str
        What is counted (the label before the counts).
    interval : float
        Least seconds between two lines (0: a line on every update).
    stream : file-like or None
        Where the lines go (default ``sys.stderr`` at the time of each line).
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, desc: str = "progress", interval: float = 10.0, stream: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic):
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval < 0:
            raise ValueError(f"Invalid value for 'interval': {interval!r}. Expected seconds >= 0.")
        self.desc = str(desc)
        self.interval = float(interval)
        self._stream = stream
        self._clock = clock
        self._start = None
        self._last = None
        self._total = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        done, total = int(done), int(total)
        now = self._clock()
        restart = self._start is None or total != self._total or done < self._done
        if restart:
            self._start, self._last, self._total = now, None, total
        finished = total > 0 and done >= total
        due = self._last is None or now - self._last >= self.interval
        if finished and self._done >= total and not restart:
            return                                  # 100 % was written already
        self._done = done
        if due or finished:
            self._last = now
            self._write(self.line(done, total, now - self._start))

    def line(self, done: int, total: int, elapsed: float) -> str:
        """The text of one line (without the newline)."""
        pct = 100.0 * done / total if total > 0 else 100.0
        text = (f"[{time.strftime('%H:%M:%S')}] {self.desc}: {done}/{total} ({pct:.0f}%), "
                f"elapsed {format_seconds(elapsed)}")
        if 0 < done < total:
            text += f", ETA {format_seconds(elapsed * (total - done) / done)}"
        return text

    def _write(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(text + "\n")
        stream.flush()

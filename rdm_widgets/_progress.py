"""Progress reporting that keeps the compute core UI-free.

The core reports ``progress(done, total)`` through a plain callable. Widgets
pass a callable that moves a progress bar; scripts pass ``verbose=True`` and
get a tqdm bar. A callback may raise :class:`Cancelled` to stop a run (the
widgets' Stop button does this); the core then cleans up so that no partial
files are left behind.
"""
from __future__ import annotations

from typing import Callable, Optional

__all__ = ["Cancelled", "ProgressReporter"]

ProgressCallback = Callable[[int, int], None]


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

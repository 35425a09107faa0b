"""Background runs of the panels: a thread per run, progress with ETA, Stop, and warning capture.

Warnings of a run go to the panel's status line, not to stderr (Voila would print them under the
dashboard). They are captured per thread by one dispatcher installed as ``warnings.showwarning``:
each run registers a sink for its own thread, and every other warning is forwarded to the hook
the dispatcher replaced. Nothing is swapped per run, so two runs (or a run and a
``warnings.catch_warnings`` block in another thread) can start and stop in any order.
"""
from __future__ import annotations

import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Callable, Optional

from traitlets import HasTraits, observe

from .._progress import Cancelled, format_seconds
from ._display import error_message, status_html

__all__ = ["capture_warnings", "blend_eta", "PRIOR_WEIGHT", "BackgroundRun", "RunnerMixin"]

_hook_lock = threading.Lock()
_local = threading.local()    # .sink: the list receiving this thread's warnings; .forwarding: bool
_forward_to = None            # the hook the dispatcher replaced; never the dispatcher itself


def _write_plain(message, category, filename, lineno, line=None) -> None:
    """What Python prints for a warning, to stderr (the last resort when hooks loop)."""
    try:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
    except (AttributeError, OSError):  # no stderr (pythonw) or a closed one: the warning is lost
        pass


def _dispatch_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while installed: to this thread's sink, else to the replaced hook."""
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink.append(str(message))
        return
    if getattr(_local, "forwarding", False):
        # the hook we forward to called us back (it had saved us as its own "original"):
        # print it instead of looping
        _write_plain(message, category, filename, lineno, line)
        return
    _local.forwarding = True
    try:
        _forward_to(message, category, filename, lineno, file, line)
    finally:
        _local.forwarding = False


def _install_dispatcher() -> None:
    """Make the dispatcher the global ``warnings.showwarning`` (idempotent, under a lock).

    It stays installed: for threads without a sink it only forwards, so uninstalling it would
    gain nothing and reopen the race it exists to close. It is put back when someone replaced
    it (e.g. a ``catch_warnings(record=True)`` block), and the hook it replaces -- never the
    dispatcher itself -- is where other threads' warnings go.
    """
    global _forward_to
    with _hook_lock:
        current = warnings.showwarning
        if current is not _dispatch_warning:
            _forward_to = current
            warnings.showwarning = _dispatch_warning


@contextmanager
def capture_warnings(sink: list):
    """Collect the warnings shown in *this thread* into ``sink`` (thread-safe, nestable).

    ``warnings.catch_warnings`` swaps process-global state and is not safe when two panels run
    at once; here each thread has its own sink and the filters are left alone. Warnings of other
    threads are shown as before.

    Parameters
    ----------
    sink : list
        Receives ``str(message)`` of each warning shown in this thread inside the block.
    """
    _install_dispatcher()
    previous = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous


#: Weight of the prior estimate in :func:`blend_eta`, in units of the fraction done: once this
#: share of the work is done, the measured rate counts as much as the estimate.
PRIOR_WEIGHT = 0.1


def blend_eta(elapsed: float, fraction: float, estimate: Optional[float] = None,
              prior_weight: float = PRIOR_WEIGHT) -> Optional[float]:
    """Seconds left in a run, from the time so far and (optionally) a prior estimate of the total.

    Without an estimate this is the measured rate, ``elapsed / fraction * (1 - fraction)`` (None
    before any progress). With one, the seconds per unit of work are a weighted mean of the
    estimate (weight ``prior_weight``) and the measured ``elapsed / fraction`` (weight
    ``fraction``)::

        remaining = (1 - fraction) * (prior_weight * estimate + elapsed) / (prior_weight + fraction)

    so the ETA starts from the estimate and converges to the measured rate as the run
    advances (estimates are only good to a factor ~2; a run's own rate soon is better).
    Before the first progress unit it is ``estimate - elapsed`` (at least 0).

    Parameters
    ----------
    elapsed : float
        Seconds since the run started.
    fraction : float
        Work done, 0..1.
    estimate : float or None
        Predicted total seconds of the run (e.g. :attr:`rdm_widgets.estimate.CostEstimate.seconds`).
    prior_weight : float
        See above.

    Returns
    -------
    float or None
    """
    if fraction >= 1:
        return 0.0
    if estimate is None:
        return None if fraction <= 0 else elapsed / fraction * (1.0 - fraction)
    if fraction <= 0:
        return max(float(estimate) - elapsed, 0.0)
    per_unit = (prior_weight * float(estimate) + elapsed) / (prior_weight + fraction)
    return per_unit * (1.0 - fraction)



class BackgroundRun:
    """Run ``job(progress)`` in a thread, reporting progress and honouring Stop.

    Parameters
    ----------
    job : callable
        ``job(progress) -> result``; ``progress(done, total)`` is the callback
        the core calls. It raises :class:`Cancelled` once :meth:`stop` was called.
    on_progress : callable
        ``on_progress(fraction, done, total, eta_seconds_or_None)``; called when
        the percentage changes (throttled so a fast core does not flood the browser).
    on_done : callable
        ``on_done(result, error)``: error is None, a :class:`Cancelled` or another exception.
    estimate : float or None
        Predicted seconds of the whole run; the ETA starts from it (see :func:`blend_eta`).
    clock : callable or None
        Seconds of a monotonic clock (default :func:`time.monotonic`; tests pass a fake).
    """

    def __init__(self, job: Callable, on_progress: Callable, on_done: Callable,
                 estimate: Optional[float] = None, clock: Optional[Callable[[], float]] = None):
        self._job = job
        self._on_progress = on_progress
        self._on_done = on_done
        self._estimate = estimate
        self._clock = clock if clock is not None else time.monotonic
        self._stop = threading.Event()
        self._start = self._clock()
        self._last_percent = -1
        self.warnings: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True, name="rdm_widgets-run")

    def start(self) -> "BackgroundRun":
        self._start = self._clock()
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to stop at the core's next progress call."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _progress(self, done, total) -> None:
        if self._stop.is_set():
            raise Cancelled("Stopped by the user.")
        total = max(int(total), 1)
        fraction = min(max(float(done) / total, 0.0), 1.0)
        percent = int(fraction * 100)
        if percent == self._last_percent and done < total:
            return
        self._last_percent = percent
        eta = blend_eta(self._clock() - self._start, fraction, self._estimate)
        self._on_progress(fraction, int(done), total, eta)

    def _run(self) -> None:
        result, error = None, None
        caught: list[str] = []
        try:
            # the core's warnings (e.g. skipped files) go to the panel's status, not to stderr,
            # which Voila would print under the dashboard
            with capture_warnings(caught):
                result = self._job(self._progress)
        except BaseException as exc:  # noqa: BLE001 - shown in the panel, never re-raised in a thread
            error = exc
        self.warnings = list(dict.fromkeys(caught))
        try:
            self._on_done(result, error)
        except Exception as exc:  # pragma: no cover - a broken display must not kill silently
            self._on_done(None, exc)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the run; True when it has finished."""
        self.thread.join(timeout)
        return not self.thread.is_alive()


class RunnerMixin(HasTraits):
    """Run/Stop lifecycle shared by the panels.

    The panel defines the traits ``running``, ``progress`` (0..1), ``status`` and
    ``estimate_text``, the attributes below, and ``_finish(result) -> (summary, suffix)`` that
    stores a result and describes it; the status then reads
    ``"Done: <summary> in 1.2 s<suffix> · note: ..."``. :meth:`_refresh_estimate` fills
    ``estimate_text`` (``"Estimated: ≈ 12 s · peak RAM 40 MB · disk 3 MB"``) and keeps the
    predicted seconds that the next run's ETA starts from.
    """

    _run: Optional[BackgroundRun] = None
    _cost = None                        # the last CostEstimate (or None)
    _progress_label = "Computing"      # "<label>: done/total <unit> · ETA ..."
    _progress_unit = "steps"
    _stopped_text = "Stopped."

    def _make_controls(self, prefix: str) -> None:
        """Create ``run_button``, ``stop_button``, ``progress_bar`` (0..100) and ``status_html``
        with the CSS classes ``<prefix>-run``, ``-stop``, ``-progress``, ``-status`` (the browser
        tests select them)."""
        import ipywidgets as widgets

        from ._display import css

        self.run_button = css(widgets.Button(description="Run", button_style="primary", icon="play"),
                              f"{prefix}-run")
        self.stop_button = css(widgets.Button(description="Stop", button_style="warning", icon="stop",
                                              disabled=True), f"{prefix}-stop")
        self.progress_bar = css(widgets.IntProgress(value=0, min=0, max=100, description="Progress"),
                                f"{prefix}-progress")
        self.status_html = css(widgets.HTML(""), f"{prefix}-status")

    @property
    def thread(self):
        """The thread of the current (or last) run, or None."""
        return None if self._run is None else self._run.thread

    def join(self, timeout=None) -> bool:
        """Wait for the current run to finish; True when nothing is running any more."""
        return True if self._run is None else self._run.join(timeout)

    @observe("status")
    def _on_status(self, change):
        text = change["new"]
        kind = ("error" if text.startswith("Error") else "warn" if text.startswith("Stopped")
                else "ok" if text.startswith("Done") else "info")
        self.status_html.value = status_html(text, kind)

    def _refresh_estimate(self, compute: Optional[Callable]) -> None:
        """Set ``estimate_text`` from ``compute() -> CostEstimate`` (None: no estimate line).

        A failing estimate (e.g. an option the core rejects) is shown on the line, so the
        problem is visible before Run; the status line is left alone.
        """
        self._cost = None
        if compute is None:
            self.estimate_text = ""
            return
        try:
            with capture_warnings([]):      # e.g. "skipped info.json": shown by the run, not here
                cost = compute()
        except Exception as exc:  # noqa: BLE001 - shown on the estimate line, never raised
            self.estimate_text = f"Estimated: not available ({error_message(exc)})"
            return
        self._cost = cost
        self.estimate_text = "Estimated: " + cost.describe(" · ")

    @property
    def estimated_seconds(self) -> Optional[float]:
        """Predicted seconds of a run with the current choices (None when unknown)."""
        return None if self._cost is None else float(self._cost.seconds)

    def _start(self, job: Callable, status: str, estimate: Optional[float] = None) -> None:
        """Run ``job(progress)`` in the background; ``estimate`` (seconds) seeds the ETA."""
        self.running = True
        self.progress = 0.0
        self.status = status
        self._t0 = time.monotonic()
        self._run = BackgroundRun(job, self._on_progress, self._on_done, estimate=estimate).start()

    def stop(self):
        """Cancel the running computation at its next progress step (what Stop does)."""
        if self._run is not None and self.running:
            self._run.stop()
            self.status = "Stopping ..."

    def _on_progress(self, fraction, done, total, eta):
        self.progress = fraction
        eta_text = "" if eta is None or fraction >= 1 else f" · ETA {format_seconds(eta)}"
        self.status = f"{self._progress_label}: {done}/{total} {self._progress_unit}{eta_text}"

    def _on_done(self, result, error):
        try:
            if isinstance(error, Cancelled):
                self.status = self._stopped_text
                return
            if error is not None:
                self.status = f"Error: {error_message(error)}"
                return
            summary, suffix = self._finish(result)
            self.progress = 1.0
            elapsed = time.monotonic() - self._t0
            notes = self._run.warnings if self._run is not None else []
            self.status = (f"Done: {summary} in {elapsed:.1f} s{suffix}"
                           + (f" · note: {'; '.join(notes[:3])}" if notes else ""))
        except Exception as exc:  # noqa: BLE001 - e.g. unreadable output; shown, not raised
            self.status = f"Error: {error_message(exc)}"
        finally:
            self.running = False

"""Helpers shared by the panels: figures in Outputs, status text, background runs, confined paths."""
from __future__ import annotations

import html
import os
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

import ipywidgets as widgets
from traitlets import HasTraits, observe

from .._progress import Cancelled

__all__ = ["show_figure", "status_html", "format_eta", "blend_eta", "BackgroundRun", "RunnerMixin", "confine",
           "list_feature_sources", "list_files", "css"]

_COLOURS = {"info": "#333", "ok": "#1a7f37", "warn": "#9a6700", "error": "#cf222e", "muted": "#57606a"}


def css(widget, cls: str):
    """Add CSS class ``cls`` (browser tests select elements by it) and return the widget."""
    widget.add_class(cls)
    return widget


def show_figure(out: widgets.Output, fig) -> None:
    """Show a plotly figure in ``out``; safe from background threads and in Voila.

    ``with out: fig.show()`` captures nothing from a thread, and plotly's
    FigureWidget does not follow updates in Voila, so the figure's mime bundle
    is written into the Output's state directly.
    """
    from ..plotting import figure_mime_bundle

    out.outputs = ({"output_type": "display_data", "data": figure_mime_bundle(fig), "metadata": {}},)


def show_text(out: widgets.Output, text: str) -> None:
    """Replace the content of ``out`` by plain text (e.g. "nothing to show yet")."""
    out.outputs = ({"output_type": "display_data", "data": {"text/plain": text,
                                                            "text/html": f"<i>{html.escape(text)}</i>"},
                    "metadata": {}},)


def status_html(text: str, kind: str = "info") -> str:
    """HTML of a one-line status message (escaped; colour by kind: info, ok, warn, error, muted)."""
    return f'<span style="color:{_COLOURS.get(kind, _COLOURS["info"])}">{html.escape(text)}</span>'


def format_eta(seconds: float) -> str:
    """``"12 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


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


def error_message(exc: BaseException) -> str:
    """Readable one-line message of an exception (no traceback)."""
    msg = str(exc).strip()
    if isinstance(exc, KeyError) and msg.startswith(("'", '"')):
        msg = msg[1:-1]
    if not msg:
        msg = type(exc).__name__
    elif not isinstance(exc, (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError)):
        msg = f"{type(exc).__name__}: {msg}"
    return msg


_hook_lock = threading.Lock()
_hook_sinks: dict = {}          # thread id -> list receiving that thread's warning messages
_original_showwarning = None


def _dispatch_warning(message, category, filename, lineno, file=None, line=None):
    sink = _hook_sinks.get(threading.get_ident())
    if sink is not None:
        sink.append(str(message))
    else:
        _original_showwarning(message, category, filename, lineno, file, line)


@contextmanager
def _capture_warnings(sink: list):
    """Collect warnings shown in *this thread* into ``sink``.

    ``warnings.catch_warnings`` swaps process-global state and is not safe when
    two panels run at once; this hook routes each message by thread instead and
    leaves the filters alone.
    """
    global _original_showwarning
    ident = threading.get_ident()
    with _hook_lock:
        if not _hook_sinks:
            _original_showwarning = warnings.showwarning
            warnings.showwarning = _dispatch_warning
        _hook_sinks[ident] = sink
    try:
        yield sink
    finally:
        with _hook_lock:
            _hook_sinks.pop(ident, None)
            if not _hook_sinks and warnings.showwarning is _dispatch_warning:
                warnings.showwarning = _original_showwarning


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
            with _capture_warnings(caught):
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
            with _capture_warnings([]):      # e.g. "skipped info.json": shown by the run, not here
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
        eta_text = "" if eta is None or fraction >= 1 else f" · ETA {format_eta(eta)}"
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


def confine(path, root) -> Path:
    """Resolve ``path`` (relative paths are taken inside ``root``) and refuse anything outside ``root``.

    Symbolic links are resolved first, so a link inside the root that points
    elsewhere is refused too.

    Raises
    ------
    ValueError
        If the resolved path is not inside the resolved root.
    """
    root = Path(root).expanduser().resolve()
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = root / p
    resolved = p.resolve()
    if resolved != root and root not in resolved.parents:
        raise ValueError(f"{str(path)!r} is outside the data root {str(root)!r}; "
                         "only data under the data root can be opened.")
    return resolved


def _npz_looks_like_features(path: Path) -> bool:
    """Cheap check that an npz is not an EEG epochs file or a bare array stack (reads the zip index only)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            keys = {Path(n).stem for n in zf.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return not ("eeg" in keys or keys <= {"arr_0"} or {"rdm", "stimuli"} <= keys)


def list_feature_sources(root, max_depth: int = 3) -> list[tuple[str, str]]:
    """Feature folders and HDF5 files under ``root`` (depth-limited, confined to root).

    A folder is listed when it holds .npz feature files (EEG epoch files and
    saved RDMs are skipped); every ``.h5``/``.hdf5`` file is listed. Symbolic
    links that lead outside ``root`` are not followed.

    Returns
    -------
    list of (label, path)
        ``label`` is the path relative to root (``"."`` for root itself); ``path`` absolute.
    """
    root = Path(root).expanduser().resolve()
    found: list[tuple[str, str]] = []
    for here, filenames in _walk(root, max_depth):
        try:
            here_resolved = confine(here, root)
        except ValueError:
            continue
        npz = sorted(f for f in filenames if f.lower().endswith(".npz"))
        if npz and _npz_looks_like_features(here / npz[0]):
            rel = here_resolved.relative_to(root).as_posix() or "."
            found.append((rel, str(here_resolved)))
        found.extend(_confined_files(root, here, filenames, (".h5", ".hdf5")))
    return found


def _walk(root: Path, max_depth: int):
    """``(folder, file names)`` under ``root``, depth-limited, hidden folders skipped.

    followlinks=False: symlinked folders are not walked, so nothing outside root is reached.
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        if len(here.relative_to(root).parts) >= max_depth:
            dirnames[:] = []
        yield here, filenames


def _confined_files(root: Path, here: Path, filenames, suffixes) -> list[tuple[str, str]]:
    """``[(relative, absolute)]`` of the files in ``here`` with ``suffixes`` that resolve inside root."""
    found = []
    for f in sorted(filenames):
        if f.lower().endswith(tuple(suffixes)):
            try:
                p = confine(here / f, root)
            except ValueError:
                continue
            found.append((p.relative_to(root).as_posix(), str(p)))
    return found


def list_files(root, suffixes, max_depth: int = 3) -> list[tuple[str, str]]:
    """Files under ``root`` with one of ``suffixes`` (depth-limited, confined): ``[(relative, absolute)]``."""
    root = Path(root).expanduser().resolve()
    found = []
    for here, filenames in _walk(root, max_depth):
        found.extend(_confined_files(root, here, filenames, suffixes))
    return found

"""The panels' background runs (rdm_widgets.widgets._runner): ETA, progress, warning capture.

The ETA is driven by a fake clock; the warning capture is checked with threads that start and stop
in a fixed interleaving (events), so no assertion depends on timing.
"""
import threading
import warnings

import pytest

from rdm_widgets._progress import format_seconds
from rdm_widgets.widgets._runner import BackgroundRun, blend_eta, capture_warnings

TIMEOUT = 60


# ---------------------------------------------------------------------------------------- ETA
def test_eta_text_uses_the_core_duration_format():
    # the panels' ETA and the cost estimates share rdm_widgets._progress.format_seconds
    assert format_seconds(5.2) == "5 s" and format_seconds(125) == "2 min 05 s"
    assert format_seconds(3725) == "1 h 02 min"


def test_blend_eta_starts_from_the_estimate_and_converges_to_the_rate():
    assert blend_eta(5.0, 0.0) is None                          # no estimate, no progress: unknown
    assert blend_eta(10.0, 0.25) == pytest.approx(30.0)         # no estimate: the measured rate
    assert blend_eta(3.0, 0.0, estimate=100.0) == 97.0          # before any progress: the estimate
    assert blend_eta(300.0, 0.0, estimate=100.0) == 0.0
    assert blend_eta(10.0, 1.0, estimate=100.0) == 0.0
    # consistent estimate and rate: exactly that
    assert blend_eta(50.0, 0.5, estimate=100.0) == pytest.approx(50.0)
    # the run is 4x slower than estimated: the ETA moves from the estimate towards the rate
    measured = [blend_eta(400.0 * f, f, estimate=100.0) for f in (0.01, 0.1, 0.5, 0.9)]
    by_rate = [400.0 * (1 - f) for f in (0.01, 0.1, 0.5, 0.9)]
    shares = [(m - 100 * (1 - f)) / (r - 100 * (1 - f)) for m, r, f in zip(measured, by_rate, (0.01, 0.1, 0.5, 0.9))]
    assert shares == sorted(shares) and shares[0] < 0.1 and shares[1] == pytest.approx(0.5) and shares[-1] > 0.89


def test_background_run_eta_with_a_fake_clock():
    now = [100.0]
    seen = []
    done = threading.Event()

    def job(progress):
        progress(0, 10)               # at start: the estimate
        now[0] += 5.0
        progress(1, 10)               # 10 % after 5 s, estimated 20 s in total
        now[0] += 45.0
        progress(5, 10)               # 50 % after 50 s: the slow measured rate dominates
        return "ok"

    run = BackgroundRun(job, lambda *a: seen.append(a), lambda r, e: done.set(), estimate=20.0,
                        clock=lambda: now[0]).start()
    assert run.join(TIMEOUT) and done.is_set()
    etas = [eta for *_, eta in seen]
    assert etas[0] == 20.0
    assert etas[1] == pytest.approx(0.9 * (0.1 * 20 + 5) / 0.2)       # 31.5 s
    assert etas[2] == pytest.approx(0.5 * (0.1 * 20 + 50) / 0.6)       # 43.3 s (rate alone: 50 s)
    plain = []
    BackgroundRun(job, lambda *a: plain.append(a), lambda r, e: None, clock=lambda: now[0]).start().join(TIMEOUT)
    assert [eta for *_, eta in plain][0] is None                       # no estimate: as before


# ---------------------------------------------------------------------------------------- warnings
class _Step(threading.Thread):
    """A thread that runs one step each time ``go()`` is called (deterministic interleaving)."""

    def __init__(self, steps):
        super().__init__(daemon=True)
        self._steps, self._go, self._done, self.error = list(steps), threading.Event(), threading.Event(), None
        self.start()

    def run(self):
        for step in self._steps:
            self._go.wait(TIMEOUT)
            self._go.clear()
            try:
                step()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                self.error = exc
            self._done.set()

    def go(self):
        self._done.clear()
        self._go.set()
        assert self._done.wait(TIMEOUT)
        if self.error is not None:
            raise self.error


def test_capture_survives_interleaved_hooks_of_two_threads():
    """A capture that starts and stops while another thread's catch_warnings block saves and restores
    the hook (what the creator does inside a run) must not leave the dispatcher as its own original:
    the old code then raised RecursionError on the next warning of any other thread."""
    shown = []
    with warnings.catch_warnings():     # restores the hook and filters for the other tests
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        first, second = [], []
        cm_a, cm_b = capture_warnings(first), capture_warnings(second)
        block = warnings.catch_warnings()
        run_a = _Step([cm_a.__enter__, lambda: warnings.warn("run a"), lambda: cm_a.__exit__(None, None, None)])
        run_b = _Step([cm_b.__enter__, lambda: warnings.warn("run b"), lambda: cm_b.__exit__(None, None, None)])
        other = _Step([block.__enter__, lambda: block.__exit__(None, None, None), lambda: warnings.warn("other")])
        run_a.go()          # run a starts: the dispatcher is installed
        other.go()          # another thread enters catch_warnings: it saves the dispatcher
        run_a.go()
        run_a.go()          # run a stops
        other.go()          # ... and the block ends: it puts the dispatcher back
        run_b.go()          # run b starts: the dispatcher must not become its own original
        run_b.go()
        other.go()          # a warning of a thread that captures nothing: shown as before
        warnings.warn("main")
        run_b.go()
        for t in (run_a, run_b, other):
            t.join(TIMEOUT)
    assert first == ["run a"] and second == ["run b"]
    assert shown == ["other", "main"]


def test_capture_is_per_thread_and_nests():
    shown, caught, inner = [], [], []
    started, release = threading.Event(), threading.Event()

    def job():
        with capture_warnings(caught):
            started.set()
            release.wait(TIMEOUT)
            warnings.warn("in the run")

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        t = threading.Thread(target=job, daemon=True)
        t.start()
        assert started.wait(TIMEOUT)
        warnings.warn("main thread")            # not captured by the run's sink
        with capture_warnings(inner):
            with capture_warnings([]):
                warnings.warn("discarded")       # the innermost sink wins
            warnings.warn("outer sink again")
        release.set()
        t.join(TIMEOUT)
        warnings.warn("after")
    assert caught == ["in the run"] and inner == ["outer sink again"]
    assert shown == ["main thread", "after"]


def test_a_hook_that_calls_back_does_not_loop():
    """A hook installed over the dispatcher that forwards to it (as a chaining hook does) is
    replaced by the dispatcher at the next capture; warnings of other threads are then printed,
    not passed around in a circle."""
    import io
    import sys

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with capture_warnings([]):
            pass
        dispatcher = warnings.showwarning
        warnings.showwarning = lambda *args: dispatcher(*args)     # chains to the dispatcher
        with capture_warnings([]):
            assert warnings.showwarning is dispatcher
        err, sys.stderr = sys.stderr, io.StringIO()
        try:
            warnings.warn("printed once")
            text = sys.stderr.getvalue()
        finally:
            sys.stderr = err
    assert text.count("UserWarning: printed once") == 1


def test_background_run_collects_its_warnings():
    def job(progress):
        warnings.warn("Skipped 1 entry: info.json")
        warnings.warn("Skipped 1 entry: info.json")
        return "ok"

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        done = []
        run = BackgroundRun(job, lambda *a: None, lambda r, e: done.append((r, e))).start()
        assert run.join(TIMEOUT)
    assert done == [("ok", None)] and run.warnings == ["Skipped 1 entry: info.json"]

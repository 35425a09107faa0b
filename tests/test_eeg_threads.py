"""The EEG kernels' block threads (``eeg._lda_base.run_threaded``): one pool kept per process,
results in order, nested calls inline, early stops cancel what has not started, forks work."""
import os
import threading
import time

import pytest
import torch

from rdm_widgets.eeg import _lda_base
from rdm_widgets.eeg._lda_base import run_threaded


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def test_results_in_order_from_a_kept_pool(two_threads):
    seen = []

    def fn(i):
        seen.append(threading.get_ident())
        time.sleep(0.002 * (5 - i))                      # later blocks finish first
        return i * i

    assert list(run_threaded(fn, range(5), "cpu")) == [0, 1, 4, 9, 16]
    first = set(seen)
    seen.clear()
    assert list(run_threaded(fn, range(5), "cpu")) == [0, 1, 4, 9, 16]
    # the caller's thread takes blocks too, with one kept pool thread
    assert threading.get_ident() in first and len(first) == 2
    assert set(seen) <= first                             # the same two threads, not new ones
    # each block runs with one intra-op thread; the caller keeps its setting
    assert list(run_threaded(lambda i: torch.get_num_threads(), range(3), "cpu")) == [1, 1, 1]
    assert torch.get_num_threads() == 2


def test_nested_calls_run_in_the_worker(two_threads):
    """A block that itself calls run_threaded (two blocks waiting on the same 2-thread pool
    would deadlock) runs the inner work in its own thread."""
    def inner(i):
        return threading.get_ident()

    def outer(i):
        return threading.get_ident(), list(run_threaded(inner, range(3), "cpu"))

    done = []
    t = threading.Thread(target=lambda: done.append(list(run_threaded(outer, range(4), "cpu"))))
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "nested run_threaded deadlocked"
    for ident, inner_idents in done[0]:
        assert set(inner_idents) == {ident}


def test_early_stop_cancels_blocks_not_started(two_threads):
    started, finished = [], []

    def fn(i):
        started.append(i)
        time.sleep(0.02)
        finished.append(i)
        return i

    gen = run_threaded(fn, range(20), "cpu")
    assert next(gen) == 0
    gen.close()                                          # e.g. Cancelled raised by a progress callback
    assert sorted(started) == sorted(finished)           # nothing still running after close()
    assert len(started) < 20
    time.sleep(0.1)
    assert len(started) == len(finished) < 20            # and nothing started later


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_pool(two_threads):
    assert list(run_threaded(lambda i: i + 1, range(4), "cpu")) == [1, 2, 3, 4]   # pool exists
    assert _lda_base._POOLS
    pid = os.fork()
    if pid == 0:                                         # child: the parent's threads are gone
        code = 1
        try:
            code = 0 if list(run_threaded(lambda i: i * 2, range(4), "cpu")) == [0, 2, 4, 6] else 1
        finally:
            os._exit(code)
    deadline = time.time() + 30
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("run_threaded hung in a forked child")
    assert os.waitstatus_to_exitcode(status) == 0


def test_workers_cap_runs_in_one_thread(two_threads):
    seen = []

    def fn(i):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        time.sleep(0.002 * (3 - i))
        return i + 1

    assert list(run_threaded(fn, range(4), "cpu", workers=1)) == [1, 2, 3, 4]
    assert {t for t, _ in seen} == {threading.get_ident()}   # the caller's, no pool thread
    assert {n for _, n in seen} == {1}                    # no OpenMP team there either
    assert torch.get_num_threads() == 2                   # and the caller's setting is back


def test_errors_reach_the_caller_in_block_order(two_threads):
    """A failing block raises in the caller at its turn (whichever thread ran it); the blocks
    before it are yielded, none is still running afterwards."""
    running = []

    def fn(i):
        running.append(i)
        time.sleep(0.003)
        running.remove(i)
        if i in (2, 3):
            raise ValueError(f"block {i}")
        return i

    gen = run_threaded(fn, range(8), "cpu")
    assert [next(gen), next(gen)] == [0, 1]
    with pytest.raises(ValueError, match="block 2"):
        next(gen)
    assert running == []


def test_cv_euclidean_folds_in_one_worker_crossnobis_in_two(two_threads, monkeypatch):
    """cv_euclidean's folds gained nothing from 2 workers (benchmarks/bench_thread_speedup.py),
    crossnobis' (and its noise covariances') do from a few time points on; the RDM is the same to
    the bit with 1 and 2 threads either way."""
    import numpy as np
    from rdm_widgets.eeg import _crossval, _noise, eeg_rdm
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(5), 12)
    asked, noise = [], []
    real, real_noise = _crossval.run_in_order, _noise.run_threaded
    monkeypatch.setattr(_crossval, "run_in_order", lambda *a, workers=None, **kw: asked.append(workers)
                        or real(*a, workers=workers, **kw))
    monkeypatch.setattr(_noise, "run_threaded", lambda *a: noise.append(a[3]) or real_noise(*a))
    n_long = _crossval._SPREAD_MIN_TIMES
    # (method, time points, workers of the distance folds, of the noise covariance folds)
    for method, n_t, expected, expected_noise in (
            ("cv_euclidean", n_long, 1, None), ("crossnobis", n_long, None, None),
            ("crossnobis", n_long - 1, 1, None), ("crossnobis", _noise._SPREAD_MIN_TIMES - 1, 1, 1)):
        x = rng.standard_normal((len(labels), 8, n_t)) + 0.4 * labels[:, None, None]
        asked.clear()
        noise.clear()
        two = eeg_rdm(x, labels, method=method, pseudo_trials=3, random_state=0)
        assert asked == [expected], (method, n_t)
        assert set(noise) == ({expected_noise} if method == "crossnobis" else set()), (method, n_t)
        torch.set_num_threads(1)
        one = eeg_rdm(x, labels, method=method, pseudo_trials=3, random_state=0)
        torch.set_num_threads(2)
        assert two.shape == (5, 5, n_t)
        np.testing.assert_array_equal(np.asarray(two), np.asarray(one))

"""The cost model shared by every estimate (rdm_widgets._cost via rdm_widgets.estimate):
CostEstimate, its formatting, and the per-process calibration.

No assertion depends on how fast this machine is.
"""
import subprocess
import sys

import pytest

from rdm_widgets import CostEstimate
from rdm_widgets._progress import format_seconds
from rdm_widgets.estimate import calibrate, format_bytes


# ---------------------------------------------------------------------------------------- formatting
def test_cost_estimate_is_readable():
    est = CostEstimate(130.0, 1_300_000_000, 40_000_000, {"pairs": 3})
    assert str(est) == "≈ 2 min 10 s, peak RAM 1.3 GB, disk 40 MB"
    assert est.describe(" · ") == "≈ 2 min 10 s · peak RAM 1.3 GB · disk 40 MB"
    assert str(CostEstimate(0.3, 512, 0)) == "≈ 0.3 s, peak RAM 512 B"     # nothing written: no disk
    assert format_seconds(0.01) == "< 0.1 s" and format_seconds(12.4) == "12 s"
    assert format_seconds(3725) == "1 h 02 min"
    assert format_bytes(999) == "999 B" and format_bytes(12_345) == "12 kB" and format_bytes(2.5e12) == "2.5 TB"
    with pytest.raises(Exception):
        est.seconds = 1.0                                                   # frozen


def test_calibrate_is_cached_and_positive():
    first = calibrate()
    for key in ("gemm_float32", "gemm_float64", "cdist", "sort", "memory", "read", "write", "file_open"):
        assert first[key] > 0, key
    assert calibrate() == first                  # measured once per process
    first["gemm_float32"] = -1.0                 # a copy: the cache cannot be changed from outside
    assert calibrate()["gemm_float32"] > 0


def test_estimate_module_stays_ui_free():
    code = "import sys, rdm_widgets.estimate; print(sorted(m.split('.')[0] for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for ui in ("ipywidgets", "plotly", "IPython", "traitlets"):
        assert f"'{ui}'" not in out


def test_contention_follows_the_load(monkeypatch):
    import os

    from rdm_widgets import _cost
    from rdm_widgets.estimate import contention

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (8.0 * cores, 0.0, 0.0))
    monkeypatch.setattr(_cost, "_runnable", lambda: 0.0)
    assert contention(threads=1) == 1.0                       # idle now: the calibrated rates hold
    monkeypatch.setattr(_cost, "_runnable", lambda: 4.0 * cores)
    assert contention(threads=1) == (4.0 * cores + 1) / cores  # busy: a share of the cores
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0 * cores, 0.0, 0.0))
    assert contention(threads=1) == (2.0 * cores + 1) / cores  # a moment's spike counts no more
    monkeypatch.setattr(_cost, "_runnable", lambda: None)      # no /proc/loadavg: the load average
    assert contention(threads=1) == (2.0 * cores + 1) / cores
    monkeypatch.setattr(os, "getloadavg", lambda: (_ for _ in ()).throw(OSError("no load")))
    assert contention() == 1.0
    monkeypatch.undo()
    assert contention() >= 1.0


def test_calibrate_measures_fresh_memory_and_fsync():
    cal = calibrate()
    assert cal["memory_fresh"] > 0 and cal["page_in"] > 0 and 0 < cal["fsync"] < 10

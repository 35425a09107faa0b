"""Cost estimates of DNN RDMs (rdm_widgets.estimate: estimate_rdms, estimate_features).

The cost model and calibration: tests/test_estimate_cost.py; tiled RDMs: test_estimate_tiled.py;
EEG: test_estimate_eeg.py; the panels' ETA and estimate line: tests/test_widgets_*.py.

No assertion depends on how fast this machine is: counts, byte sizes and formulas are checked
exactly, seconds only for being positive.
"""
import re

import warnings

import numpy as np
import pytest
import torch

from rdm_widgets import RDMCreator, estimate_features, estimate_rdms, open_features
from rdm_widgets.demo import demo_path
from _synthetic import per_stimulus_folder as _per_stimulus_folder


# ---------------------------------------------------------------------------------------- DNN RDMs
def test_rdm_work_scales_with_n_squared_times_d():
    base = estimate_rdms(100, 50)
    assert base.work["flops"] == 2 * 100 ** 2 * 50
    assert estimate_rdms(200, 50).work["flops"] == 4 * base.work["flops"]            # N doubles: x4
    assert estimate_rdms(100, 100).work["flops"] == 2 * base.work["flops"]           # D doubles: x2
    assert estimate_rdms(100, 50, n_layers=3).work["flops"] == 3 * base.work["flops"]
    assert estimate_rdms(100, [50, 100]).work["pairs"] == 2 * 100 * 99 // 2
    assert estimate_rdms(200, 50).work["result_bytes"] == 4 * base.work["result_bytes"] == 4 * 100 ** 2 * 4
    assert estimate_rdms(100, 50, dtype="float64").work["result_bytes"] == 2 * base.work["result_bytes"]
    assert estimate_rdms(100, 50, chunk_size=30).work["blocks"] == 4
    assert estimate_rdms(100, 50, n_layers=2).disk_bytes > 2 * 100 ** 2 * 4
    # cdist distances do the same pairs far slower than one GEMM; mahalanobis adds a D^3 step
    assert estimate_rdms(500, 400, distance="manhattan").seconds > estimate_rdms(500, 400).seconds
    assert estimate_rdms(500, 400, distance="mahalanobis").work["flops"] > 2 * 500 ** 2 * 400
    assert all(estimate_rdms(20, 5, distance=d).seconds > 0 for d in ("spearman", "chebyshev", "cosine"))


def test_memory_and_disk_match_the_arrays_really_produced(tmp_path):
    folder = _per_stimulus_folder(tmp_path / "feats")
    est = estimate_features(folder)
    arrays = dict(open_features(folder).iter_layers())
    rdms = RDMCreator().compute_rdms(folder)
    # features of one pass over the files (both layers) and one (N, N) result: exact
    assert est.work["feature_bytes"] == sum(a.nbytes for a in arrays.values()) == 40 * 100 * 4
    assert est.work["result_bytes"] == rdms["layer_30"].matrix.nbytes
    # peak = those + the symmetrising band (2 x 40 rows): within a factor 2 of what is produced
    produced = est.work["feature_bytes"] + est.work["result_bytes"]
    assert produced <= est.peak_bytes <= 2 * produced
    # the size-only estimate agrees for the same layout
    same = estimate_rdms(40, [30, 70], n_files=40)
    assert same.work["feature_bytes"] == est.work["feature_bytes"] and same.peak_bytes == est.peak_bytes
    assert est.work["file_reads"] == 40 and est.work["read_bytes"] == 40 * 100 * 4
    # disk: the files create_rdms writes (N^2 values, names, metadata), within 10 % + 2 kB
    out = RDMCreator().create_rdms(folder, tmp_path / "out")
    written = sum(p.stat().st_size for p in (tmp_path / "out").iterdir())
    assert abs(est.disk_bytes - written) <= 0.1 * written + 2048, (est.disk_bytes, written, out)


def test_in_memory_arrays_count_the_working_copy():
    x = np.zeros((50, 20), np.float64)
    est = estimate_features({"a": x})               # float64 in, float32 working copy + conversion
    assert est.work["feature_bytes"] == 50 * 20 * 4 and est.work["file_reads"] == 0
    assert est.peak_bytes >= 2 * 50 * 20 * 4 + 50 * 50 * 4


def test_estimate_features_on_demo_reads_headers_only(monkeypatch):
    from rdm_widgets.features import FeatureSource

    def no_data(*args, **kwargs):
        raise AssertionError("estimate_features read feature data")

    monkeypatch.setattr(FeatureSource, "_read_block", no_data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # the folder's info.json is a sidecar: no warning
        est = estimate_features(demo_path("mobilenetv2"))
    assert est.work["layers"] == 5 and est.work["stimuli"] == 78 and est.work["file_reads"] == 78
    assert est.seconds > 0 and est.device == "cpu"
    assert re.fullmatch(r"≈ .+ s, peak RAM [\d.]+ [kMG]?B, disk [\d.]+ [kMG]?B", str(est)), str(est)
    seq = estimate_features(demo_path("minilm"), pooling="mean")   # stimuli.json: a sidecar
    assert seq.work["flops"] == 2 * 20 ** 2 * 384 * seq.work["layers"]
    with pytest.raises(ValueError, match="pooling"):
        estimate_features(demo_path("minilm"))      # lengths vary: a pooling is required


def test_rdm_estimate_validation():
    with pytest.raises(ValueError, match="n_stimuli"):
        estimate_rdms(1, 10)
    with pytest.raises(ValueError, match="feature_dims"):
        estimate_rdms(10, 0)
    with pytest.raises(ValueError, match="Did you mean 'pearson'"):
        estimate_rdms(10, 5, distance="pearsn")
    with pytest.raises(ValueError, match="Invalid value for 'dtype'"):
        estimate_rdms(10, 5, dtype="float16")
    with pytest.raises(ValueError, match="n_layers=3"):
        estimate_rdms(10, [5, 6], n_layers=3)
    with pytest.raises(ValueError, match="chunk_size"):
        estimate_rdms(10, 5, chunk_size=0)
    with pytest.raises(TypeError, match="n_files"):
        estimate_rdms(10, 5, n_files="many")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            estimate_rdms(10, 5, device="cuda")

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
from _feature_data import record_opens


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
    # correlation, cosine, euclidean run on float32 arrays as they are (no working copy,
    # rdm_widgets._distance_gram); spearman ranks a copy
    y = np.zeros((50, 4000), np.float32)
    peaks = {name: estimate_features({"a": y}, distance=name).peak_bytes
             for name in ("correlation", "cosine", "euclidean", "spearman")}
    assert peaks["correlation"] == peaks["cosine"] <= peaks["euclidean"] < y.nbytes / 10
    assert peaks["spearman"] >= peaks["correlation"] + y.nbytes


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


# ------------------------------------------------ issue 17 options: time-resolved RDMs, reduction
def _video_folder(folder, n=30, clips=3, times=None, dims=(40, 900), seed=3):
    """Per-stimulus files with layers [1, clips, (times,) d] (planted: clip c adds c to every value)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    lead = (1, clips) if times is None else (1, clips, times)
    shift = np.arange(clips).reshape((1, clips) + (1,) * (len(lead) - 1))
    for i in range(n):
        np.savez(folder / f"stim_{i:03d}.npz",
                 **{f"l{d}": (rng.normal(size=lead + (d,)) + shift).astype(np.float32) for d in dims})
    return folder


OPTION_CASES = {
    "clip": dict(multi_timepoint_rdms="clip"),
    "all_timepoints": dict(multi_timepoint_rdms="all_timepoints"),
    "pca": dict(dim_reduction="pca", n_samples_estim=12, random_state=4),
    "srp": dict(dim_reduction="srp", n_components=64),
    "clip+pca": dict(multi_timepoint_rdms="clip", dim_reduction="pca", n_components=5, n_samples_estim=20),
    "clip+srp": dict(multi_timepoint_rdms="clip", dim_reduction="srp", n_components=64, random_state=2),
    "srp_before_pca, max_dim_allowed": dict(dim_reduction="pca", srp_before_pca=True, max_dim_allowed=100,
                                            n_samples_estim=10),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_option_work_counts_equal_a_real_run(case, tmp_path, monkeypatch):
    """Time points, reduced widths, files opened (the PCA sample's included) as the run does them."""
    opts = OPTION_CASES[case]
    times = 4 if opts.get("multi_timepoint_rdms") == "all_timepoints" else None
    if "multi_timepoint_rdms" in opts:
        folder = _video_folder(tmp_path / "f", times=times)
    else:
        folder = _per_stimulus_folder(tmp_path / "f", n=30, dims=(40, 900))
    est = estimate_features(folder, **opts)
    opened = record_opens(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rdms = RDMCreator().compute_rdms(folder, **opts)
    assert est.work["file_reads"] == len(opened) > 0
    assert est.work["layers"] == len(rdms) and est.work["stimuli"] == 30
    n_rdms = sum(getattr(r, "times", [0]).__len__() for r in rdms.values())
    assert est.work["pairs"] == n_rdms * 30 * 29 // 2
    if "multi_timepoint_rdms" in opts:
        assert est.work["time_points"] == [r.data.shape[2] for r in rdms.values()] == [3 * (times or 1)] * 2
        first = next(iter(rdms.values()))
        assert est.work["result_bytes"] == first.data.nbytes == 30 * 30 * 8 * 3 * (times or 1)   # (N, N, T) float64
    if "dim_reduction" in opts:
        widths = [r.meta["dim_reduction"]["n_components"] for r in rdms.values()]
        assert est.work["reduced_dims"] == widths
        assert 900 not in widths                                          # the wide layer is reduced...
        assert 40 in widths or opts["dim_reduction"] == "pca" and "max_dim_allowed" not in opts  # ...never inflated
        assert est.work["flops"] == sum(2 * 30 ** 2 * w * r.data.shape[-1] if r.data.ndim == 3 else 2 * 30 ** 2 * w
                                        for w, r in zip(widths, rdms.values()))
        # the PCA sample's files are opened a second time (SRP reads nothing to fit, whole
        # layers or time-resolved)
        sampled = est.work["sample_reads"]
        assert (sampled > 0) == (opts["dim_reduction"] == "pca")
        assert len(opened) - len(set(opened)) >= sampled
    assert est.seconds > 0 and est.peak_bytes > 0


def test_option_estimates_validate_like_the_run(tmp_path):
    folder = _video_folder(tmp_path / "v")
    plain = _per_stimulus_folder(tmp_path / "p", n=30, dims=(40, 900))
    bad = [
        (folder, dict(multi_timepoint_rdms="clips")),                                  # Did you mean 'clip'?
        (folder, dict(multi_timepoint_rdms="clip", pooling="mean")),                   # pooling would pool the clips
        (plain, dict(multi_timepoint_rdms="all_timepoints")),                           # [1, d] has no clip axes
        (plain, dict(dim_reduction="pcaa")),
        (plain, dict(dim_reduction="srp", srp_before_pca=True)),
        (plain, dict(dim_reduction="pca", n_components=50, n_samples_estim=20)),      # > sample size - 1
        (folder, dict(multi_timepoint_rdms="clip", dim_reduction="pca", n_components=80, n_samples_estim=40)),
        (plain, dict(dim_reduction="srp", n_components=0)),
    ]
    for source, opts in bad:
        with pytest.raises((ValueError, TypeError)) as run_err:
            RDMCreator().compute_rdms(source, **opts)
        with pytest.raises(type(run_err.value)) as est_err:
            estimate_features(source, **opts)
        assert str(est_err.value) == str(run_err.value), opts
    with pytest.raises(ValueError, match="Did you mean 'srp'"):
        estimate_rdms(100, 5000, dim_reduction="sr")
    with pytest.raises(ValueError, match="n_times"):
        estimate_rdms(100, 50, multi_timepoint_rdms="clip", n_times=0)


def test_option_estimates_from_sizes_scale_with_time_points_and_reduced_width():
    base = estimate_rdms(200, 512)
    timed = estimate_rdms(200, 512, multi_timepoint_rdms="all_timepoints", n_times=16)
    assert timed.work["flops"] == 16 * base.work["flops"] and timed.work["time_points"] == [16]
    assert timed.work["result_bytes"] == 16 * 200 ** 2 * 8 and timed.disk_bytes > 16 * 200 ** 2 * 8
    assert timed.peak_bytes > base.peak_bytes + 16 * 200 ** 2 * 8 - 1
    from rdm_widgets.reduction import jl_min_dim

    k = jl_min_dim(200, 0.1)
    srp = estimate_rdms(200, [50_000, 512], dim_reduction="srp")
    assert srp.work["reduced_dims"] == [k, 512] and srp.work["sample_reads"] == 0       # never inflated
    assert srp.work["flops"] == 2 * 200 ** 2 * (k + 512)
    pca = estimate_rdms(200, 50_000, dim_reduction="pca", n_files=200, n_samples_estim=30)
    assert pca.work["reduced_dims"] == [29] and pca.work["sample_reads"] == 30
    assert pca.work["file_reads"] == 200 + 30
    kept = estimate_rdms(200, 50_000, dim_reduction="srp", max_dim_allowed=60_000)
    assert kept.work["reduced_dims"] == [50_000] and kept.work["flops"] == estimate_rdms(200, 50_000).work["flops"]
    # the PCA fit holds its sample (m x D) and the projection: more memory than the reduced run alone
    assert pca.peak_bytes > 30 * 50_000 * 4

"""Cost estimates (rdm_widgets.estimate), the ETA blending of the panels' runs and the estimate line.

No assertion depends on how fast this machine is: counts, byte sizes and formulas are checked
exactly, seconds only for being positive; the ETA is driven by a fake clock.
"""
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from rdm_widgets import (Cancelled, CostEstimate, RDMCreator, eeg_rdm, estimate_eeg, estimate_eeg_rdm,
                         estimate_features, estimate_rdms, open_features)
from rdm_widgets._estimate_eeg import lda_regime
from rdm_widgets.demo import demo_path
from rdm_widgets.estimate import calibrate, format_bytes, format_seconds
from rdm_widgets.widgets._common import BackgroundRun, blend_eta

TIMEOUT = 60


def _per_stimulus_folder(folder, n=40, dims=(30, 70), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        np.savez(folder / f"stim_{i:03d}.npz",
                 **{f"layer_{d}": rng.normal(size=(1, d)).astype(np.float32) for d in dims})
    return folder


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
    from rdm_widgets._feature_source import FeatureSource

    def no_data(*args, **kwargs):
        raise AssertionError("estimate_features read feature data")

    monkeypatch.setattr(FeatureSource, "_read_block", no_data)
    with pytest.warns(UserWarning, match="Skipped"):
        est = estimate_features(demo_path("mobilenetv2"))
    assert est.work["layers"] == 5 and est.work["stimuli"] == 78 and est.work["file_reads"] == 78
    assert est.seconds > 0 and est.device == "cpu"
    assert re.fullmatch(r"≈ .+ s, peak RAM [\d.]+ [kMG]?B, disk [\d.]+ [kMG]?B", str(est)), str(est)
    with pytest.warns(UserWarning):
        seq = estimate_features(demo_path("minilm"), pooling="mean")
    assert seq.work["flops"] == 2 * 20 ** 2 * 384 * seq.work["layers"]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="pooling"):
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


# ---------------------------------------------------------------------------------------- EEG
def test_lda_regimes():
    assert lda_regime(30, 64) == "rank_deficient"             # 2k-2 = 58 <= 64 channels
    assert lda_regime(33, 64) == "rank_deficient"             # 2k-2 = 64: still rank deficient
    assert lda_regime(44, 64) == "full_rank"                  # 2k-4 = 84 >= 64
    assert lda_regime(44, 64, average_reference=True) == "average_reference"
    assert lda_regime(34, 65) == "exact_svd"                  # 2k-3 == C, not average-referenced
    assert estimate_eeg(3, 4, 8, 6).regime == "rank_deficient"
    assert estimate_eeg(3, 8, 8, 6).regime == "full_rank"
    assert estimate_eeg(3, 8, 8, 6, cv=4).regime == "per_fold_svd"
    assert estimate_eeg(3, 8, 8, 6, noise_normalization="epoch").regime == "per_fold_svd"
    assert estimate_eeg(3, 8, 8, 6, method="lda_shrinkage").regime == "per_fold_lsqr"
    dist = estimate_eeg(3, 8, 8, 6, method="crossnobis")
    assert dist.regime == "distance" and dist.disk_bytes == 0 and dist.work["flops"] > 0


def test_eeg_fits_count_matches_eeg_rdm_progress_total():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5 * 9, 6, 23))
    labels = np.repeat(list("abcde"), 9)
    cases = [dict(), dict(decim=3), dict(method="cv_euclidean", cv=3, window=4, decim=2),
             dict(method="lda_shrinkage", pseudo_trials=4, n_permutations=3, random_state=1)]
    for options in cases:
        totals = []

        def stop(done, total):
            totals.append(total)
            raise Cancelled                       # the total is known before any work is done

        with pytest.raises(Cancelled):
            eeg_rdm(x, labels, progress=stop, **options)
        est = estimate_eeg_rdm(x, labels, **options)
        assert est.work["fits"] == totals[0], options
        assert est.work["pairs"] == 10 and est.seconds > 0 and est.peak_bytes > x.nbytes
    # pairs x times x folds x permutations
    est = estimate_eeg(10, 20, 8, 50, cv=5, pseudo_trials=10, n_permutations=4, decim=2)
    assert est.work["fits"] == 45 * 25 * 5 * 4


def test_estimate_eeg_rdm_detects_average_reference():
    from rdm_widgets.widgets import load_epochs

    ep = load_epochs(demo_path("eeg"))              # real EEG, average-referenced, 64 channels
    est = estimate_eeg_rdm(ep.eeg, ep.labels["target"], decim=8)
    assert est.regime == "average_reference" and est.work["channels"] == 64
    x = ep.eeg + 1.0                                 # no longer average-referenced
    assert estimate_eeg_rdm(x, ep.labels["target"], decim=8).regime == "full_rank"


def test_eeg_estimate_validation():
    labels = np.repeat([0, 1, 2], 5)
    x = np.zeros((15, 4, 10))
    with pytest.raises(ValueError, match="Did you mean 'lda'"):
        estimate_eeg_rdm(x, labels, method="lad")
    with pytest.raises(ValueError, match="n_permutations > 1"):
        estimate_eeg_rdm(x, labels, n_permutations=3)
    with pytest.raises(ValueError, match="pseudo_trials=6 exceeds"):
        estimate_eeg_rdm(x, labels, pseudo_trials=6)
    with pytest.raises(ValueError, match="cv=7 folds"):
        estimate_eeg_rdm(x, labels, cv=7)
    with pytest.raises(ValueError, match="score='decision' applies to the LDA methods"):
        estimate_eeg_rdm(x, labels, method="cv_euclidean", score="decision")
    with pytest.raises(ValueError, match="Got 14 labels for 15 trials"):
        estimate_eeg_rdm(x, labels[:-1])
    with pytest.raises(ValueError, match="window=11"):
        estimate_eeg_rdm(x, labels, window=11)
    with pytest.raises(ValueError, match="'times' has 3 values"):
        estimate_eeg_rdm(x, labels, times=[0, 1, 2])
    with pytest.raises(ValueError, match="n_conditions"):
        estimate_eeg(1, 5, 4, 10)
    with pytest.raises(ValueError, match="'k'"):
        estimate_eeg(3, 2, 4, 10)                  # LDA needs 3 trials per condition
    assert estimate_eeg(3, 2, 4, 10, method="cv_euclidean").work["folds"] == 2


# ---------------------------------------------------------------------------------------- ETA
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


# ---------------------------------------------------------------------------------------- panels
def test_creation_panel_estimate_line_follows_the_options(tmp_path):
    from rdm_widgets.widgets import RDMCreationPanel

    root = tmp_path / "root"
    _per_stimulus_folder(root / "feats", n=6, dims=(4,))
    calls = []

    def fake_estimate(path, *, distance, pooling, device, chunk_size):
        calls.append(dict(path=path, distance=distance, pooling=pooling, device=device, chunk_size=chunk_size))
        if distance == "chebyshev":
            raise ValueError("no estimate for chebyshev")
        return CostEstimate(18000.0 if distance == "euclidean" else 2.0, 2_000_000, 30_000)

    statuses = []

    def compute(feature_path, *, progress, **kwargs):
        for i in range(3):
            progress(i, 2)
        return {}

    panel = RDMCreationPanel(data_root=root, compute=compute, save_root=tmp_path / "out", estimate=fake_estimate)
    assert calls[-1]["path"] == str((root / "feats").resolve()) and calls[-1]["distance"] == "correlation"
    assert panel.estimate_text == "Estimated: ≈ 2 s · peak RAM 2.0 MB · disk 30 kB"
    assert "Estimated: ≈ 2 s" in panel.estimate_html.value and "rdmw-estimate" in panel.estimate_html._dom_classes
    panel.distance_dropdown.value = "euclidean"
    assert panel.estimate_text.startswith("Estimated: ≈ 5 h 00 min") and panel.estimated_seconds == 18000.0
    panel.chunk_input.value = 2
    assert calls[-1]["chunk_size"] == 2
    panel.observe(lambda c: statuses.append(c["new"]), "status")
    panel.run_button.click()
    assert panel.join(TIMEOUT) and panel.status.startswith("Done")
    # the run's ETA starts from the estimate (5 h), not from nothing
    assert any(re.search(r"Computing: 0/2 steps.* · ETA (5 h 00 min|4 h 59 min)", s) for s in statuses), statuses
    panel.distance_dropdown.value = "chebyshev"
    assert panel.estimate_text == "Estimated: not available (no estimate for chebyshev)"
    assert panel.estimated_seconds is None and not panel.status.startswith("Error")
    off = RDMCreationPanel(data_root=root, compute=compute, save_root=tmp_path / "o2", estimate=False)
    assert off.estimate_text == ""


def test_eeg_panel_estimate_line_follows_the_options(tmp_path):
    from rdm_widgets.widgets import EEGPanel

    rng = np.random.default_rng(0)
    (tmp_path / "root").mkdir()
    labels = np.repeat(["a", "b", "c"], 6)
    np.savez(tmp_path / "root" / "epochs.npz", eeg=rng.normal(size=(18, 5, 20)).astype(np.float32),
             labels=labels, times=np.linspace(0, 1, 20))
    calls = []

    def fake_estimate(eeg, labels, **options):
        calls.append(dict(options, n_trials=len(labels), shape=eeg.shape))
        return CostEstimate(1.0 * options["decim"], 1000, 0)

    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None, estimate=fake_estimate)
    assert panel.estimate_text == "Estimated: ≈ 1 s · peak RAM 1.0 kB"
    assert calls[-1]["shape"] == (18, 5, 20) and calls[-1]["method"] == "lda"
    panel.decim_input.value = 4
    assert panel.estimate_text.startswith("Estimated: ≈ 4 s") and calls[-1]["decim"] == 4
    panel.method_dropdown.value = "cv_euclidean"
    panel.pseudo_input.value = 3
    panel.perm_input.value = 5
    assert calls[-1]["method"] == "cv_euclidean" and calls[-1]["pseudo_trials"] == 3
    assert calls[-1]["n_permutations"] == 5 and len(calls[-1]["times"]) == 20
    panel.conditions_select.value = ("a", "b")
    assert calls[-1]["n_trials"] == 12
    panel.conditions_select.value = ("a",)           # Run would refuse: no estimate line
    assert panel.estimate_text == ""


def test_panels_use_the_real_estimate_by_default(tmp_path):
    from rdm_widgets.widgets import EEGPanel

    rng = np.random.default_rng(0)
    (tmp_path / "root").mkdir()
    np.savez(tmp_path / "root" / "epochs.npz", eeg=rng.normal(size=(18, 5, 20)), labels=np.repeat([1, 2, 3], 6))
    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None)
    assert panel.estimate_text.startswith("Estimated: ≈ ") and panel.estimated_seconds > 0
    panel.pseudo_input.value = 7                     # more pseudo-trials than trials: shown before Run
    assert panel.estimate_text.startswith("Estimated: not available (pseudo_trials=7 exceeds")


def test_estimate_module_stays_ui_free():
    code = "import sys, rdm_widgets.estimate; print(sorted(m.split('.')[0] for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for ui in ("ipywidgets", "plotly", "IPython", "traitlets"):
        assert f"'{ui}'" not in out

"""The EEG exactness tests on CUDA: ``eeg_rdm(..., device='cuda')`` against sklearn / numpy.

Skipped without a CUDA GPU (CI has none); run on a GPU machine with
``python -m pytest tests/test_eeg_cuda.py``. The references are the same plain loops as
in ``test_eeg.py`` / ``test_eeg_lda.py`` (imported from there).
"""
import numpy as np
import pytest
import torch

from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import _lda_layout, eeg_rdm
from rdm_widgets.eeg._lda import lda_loo_decisions
from test_eeg import make_data, numpy_cv_distance, planted_window, sklearn_rdm
from test_eeg_lda import all_pairs, avg_referenced, sklearn_loo

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")

# the three regimes of the issue at realistic sizes: rank-deficient (30 trials, 64 channels: the
# null-space path), full rank (40 trials, 16 channels: channel space), average reference (48 ch)
REGIMES = [((5, 30, 64, 4), False), ((4, 40, 16, 4), False), ((4, 30, 48, 4), True),
           ((3, 5, 12, 3), False)]                                     # sample-space path


def _as_trials(data):
    """(n_cond, k, C, T) -> eeg (n_cond k, C, T), labels."""
    n_cond, k = data.shape[:2]
    return data.reshape(n_cond * k, *data.shape[2:]), np.repeat(np.arange(n_cond), k)


@pytest.mark.parametrize("shape, avg_ref", REGIMES)
def test_cuda_decisions_equal_sklearn(shape, avg_ref):
    """Kernel decisions on CUDA: same predictions as sklearn, values to rounding."""
    data = avg_referenced(shape, 7) if avg_ref else np.random.default_rng(7).normal(size=shape)
    ref = sklearn_loo(data, all_pairs(shape[0]), list(range(shape[3])))
    ours = lda_loo_decisions(torch.from_numpy(data).cuda())
    assert ours.is_cuda
    ours = ours.cpu().numpy()
    assert np.array_equal(ours > 0, ref > 0), "CUDA predictions differ from sklearn"
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


@pytest.mark.parametrize("shape, avg_ref", REGIMES)
def test_cuda_eeg_rdm_equals_sklearn_loop(shape, avg_ref):
    """The public call on CUDA: max |RDM - sklearn loop| = 0, and equal to the CPU run."""
    data = avg_referenced(shape, 3) if avg_ref else np.random.default_rng(3).normal(size=shape)
    data[1] += 0.3                                                       # some decodable pairs
    eeg, labels = _as_trials(data)
    gpu = eeg_rdm(eeg, labels, device="cuda")
    assert gpu.meta["device"].startswith("cuda")
    assert np.abs(gpu.data - sklearn_rdm(eeg, labels)).max() == 0
    assert np.abs(gpu.data - eeg_rdm(eeg, labels).data).max() == 0


def test_cuda_many_blocks_equal_one_block(monkeypatch):
    """Several GPU blocks (small block budget) give exactly the one-block result."""
    data = torch.from_numpy(np.random.default_rng(1).normal(size=(6, 30, 64, 5))).cuda()
    one = lda_loo_decisions(data)
    monkeypatch.setattr(_lda_layout, "_CUDA_BLOCK_BYTES", 16 * _lda_layout.bytes_per_pair_time(30, 64, "cuda"))
    assert _lda_layout.block_pair_times(30, 64, "cuda") == 16
    many = lda_loo_decisions(data)
    np.testing.assert_allclose(many.cpu().numpy(), one.cpu().numpy(), rtol=1e-10, atol=1e-10)
    assert torch.equal(many > 0, one > 0)


def test_cuda_real_eeg_matches_sklearn_exactly():
    """Real S001 EEG (average-referenced, 4 targets x 44 trials x 64 channels) on CUDA."""
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, target, times, labels = z["eeg"], z["target"], z["times"], z["labels"].astype(str)
    t_idx = [int(np.argmin(np.abs(times - t))) for t in (-0.1, 0.3)]
    X = eeg[:, :, t_idx]
    r = eeg_rdm(X, target, times=times[t_idx], device="cuda")
    assert np.abs(r.data - sklearn_rdm(X.astype(np.float64), target)).max() == 0
    mt = r.mean_timecourse()
    assert mt[1] > 0.6 and abs(mt[0] - 0.5) < 0.1
    shr = eeg_rdm(X[:, :, 1:], target, method="lda_shrinkage", device="cuda")
    ref = sklearn_rdm(X[:, :, 1:].astype(np.float64), target, solver="lsqr", shrinkage="auto")
    np.testing.assert_allclose(shr.data, ref, atol=1e-12)
    # the 8 labels (k ~ 22 < 64 channels: the rank-deficient null-space path) on two time points
    X8 = eeg[:, :, [40, 80]].astype(np.float64)
    r8 = eeg_rdm(X8, labels, device="cuda")
    assert np.abs(r8.data - sklearn_rdm(X8, labels)).max() == 0


@pytest.mark.parametrize("shrinkage", ["auto", 0.5])
def test_cuda_lda_shrinkage_matches_sklearn_lsqr(shrinkage):
    X, labels = make_data(C=8, k=5)
    r = eeg_rdm(X, labels, method="lda_shrinkage", shrinkage=shrinkage, device="cuda")
    np.testing.assert_allclose(r.data, sklearn_rdm(X, labels, solver="lsqr", shrinkage=shrinkage), atol=1e-12)


def test_cuda_cv_euclidean_matches_numpy():
    X, labels = make_data(C=5, k=6, T=3)
    folds = [np.array([f]) for f in range(6)]
    r = eeg_rdm(X, labels, method="cv_euclidean", device="cuda")
    np.testing.assert_allclose(r.data, numpy_cv_distance(X, labels, folds), atol=1e-12)


def test_cuda_pseudo_trials_planted_signal_and_cpu_agreement():
    """Pseudo-trials on CUDA: same random assignment as on the CPU, signal only in its window."""
    X, labels = planted_window(k=20)
    gpu = eeg_rdm(X, labels, pseudo_trials=5, random_state=0, device="cuda")
    cpu = eeg_rdm(X, labels, pseudo_trials=5, random_state=0)
    np.testing.assert_allclose(gpu.data, cpu.data, atol=1e-12)
    mt = gpu.mean_timecourse()
    assert mt[8:12].min() > 0.8 and np.abs(np.r_[mt[:8], mt[12:]] - 0.5).max() < 0.25

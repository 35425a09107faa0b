"""The compiled (numba) CPU kernels of exact leave-one-out LDA: the same decisions and
certificates as their torch versions and scikit-learn, on real EEG (PhysioNet S001) and on
seeded data; the switch that turns them off; how the kernel lays out blocks and chunks for them.
(The sklearn comparisons of every path run with both kernels in ``test_eeg_lda.py``.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rdm_widgets.eeg import _lda, _lda_avgref_nb, _lda_base, _lda_layout, _lda_null_nb, _nb_linalg
from rdm_widgets.eeg._lda_channel import _avgref_channel_space
from rdm_widgets.eeg._lda_null import _null_space
from test_eeg_lda import all_pairs, check_against_sklearn, count_exact  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(_nb_linalg.numba is None, reason="numba is not installed")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _s001(key):
    from rdm_widgets.demo import demo_path
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, labels = z["eeg"].astype(np.float64), z[key].astype(str)
    conds = sorted(set(labels))
    k = min(int((labels == c).sum()) for c in conds)
    return np.stack([eeg[labels == c][:k] for c in conds]), k      # (n_cond, k, 64, 161)


def _pair_times(data, times):
    k = data.shape[1]
    x = [np.concatenate([data[i, :, :, t], data[j, :, :, t]]) for t in times
         for i, j in all_pairs(data.shape[0])]
    return torch.from_numpy(np.ascontiguousarray(np.stack(x))), k


def test_null_space_kernel_equals_torch_on_s001():
    """8 `labels` conditions (21 trials, 64 channels: null space of 24): every certificate the
    same, decisions equal to ~1e-12 of their scale."""
    data, k = _s001("labels")
    x, k = _pair_times(data, [0, 60, 120])
    dec_t, ok_t = _null_space(x, k, 1e-4)
    dec_c, ok_c = _lda_null_nb.null_space_decisions(x, k, 1e-4)
    assert torch.equal(ok_t, ok_c) and bool(ok_c.all())
    torch.testing.assert_close(dec_c, dec_t, rtol=0, atol=1e-10 * float(dec_t.abs().max()))
    assert torch.equal(dec_c > 0, dec_t > 0)


def test_avgref_kernel_equals_torch_on_s001():
    """4 `target` conditions (44 trials, average-referenced): the average-reference path."""
    data, k = _s001("target")
    x, k = _pair_times(data, [0, 80, 160])
    dec_t, ok_t = _avgref_channel_space(x[:, :k], x[:, k:], 1e-4)
    dec_c, ok_c = _lda_avgref_nb.avgref_decisions(x[:, :k], x[:, k:], 1e-4)
    assert torch.equal(ok_t, ok_c) and bool(ok_c.all())
    torch.testing.assert_close(dec_c, dec_t, rtol=0, atol=1e-10 * float(dec_t.abs().max()))


def test_avgref_shifted_cholesky_certificate(monkeypatch, count_exact):  # noqa: F811
    """Without the inverse-norm bound every base is certified by the shifted Cholesky test, and
    the decisions still equal sklearn's."""
    monkeypatch.setattr(_lda_avgref_nb, "_INVERSE_BOUND", False)
    rng = np.random.default_rng(21)
    data = rng.normal(size=(3, 20, 12, 2)) * rng.uniform(0.5, 3.0, size=(1, 1, 12, 1))
    check_against_sklearn(data - data.mean(2, keepdims=True))
    assert count_exact["n"] == 0


def test_blocks_read_their_trials_in_place():
    """The compiled null-space path reads each pair-time's trials from the time slices by row
    index: the same as on the gathered pair-times, fallback included."""
    rng = np.random.default_rng(22)
    slices = torch.from_numpy(rng.normal(size=(10, 12, 24)))
    slices[3, 5, 7] += 1e5                                       # one fold left to the exact path
    rows = torch.tensor([[0, 3], [3, 9], [2, 5], [7, 1], [3, 4]])
    got = _lda._compiled_block(slices, rows, 12, 1e-4, 2)
    x = slices[rows.reshape(-1)].view(len(rows), 24, 24)
    want = torch.cat([_lda._chunk_decisions(x[s:s + 2], 12, 1e-4) for s in range(0, len(rows), 2)])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    _, ok = _lda_null_nb.null_space_rows(slices, rows, 12, 1e-4)
    assert not bool(ok.all())                                    # (the fallback really ran)


def test_switch_and_warm_up(monkeypatch):
    assert _lda.warm_up() is True
    monkeypatch.setenv(_lda_base.ENV_COMPILED, "0")
    assert _lda.warm_up() is False and not _lda_base.compiled_kernels()
    assert _lda_layout.chunk_pair_times(21, 64) == _lda_layout.NULL_CHUNK
    monkeypatch.setenv(_lda_base.ENV_COMPILED, "1")
    assert _lda_layout.chunk_pair_times(21, 64) == _lda_layout.NULL_CHUNK_COMPILED


@pytest.mark.parametrize("total,avg,threads,expected", [
    (4508, False, 2, (48, 16)),         # S001 labels, 161 time points: at most 64, an even count (94)
    (896, False, 2, (64, 16)),          # 32 time points
    (384, False, 2, (48, 16)),          # 4 blocks per thread
    (224, False, 2, (16, 16)),          # 8 time points: 14 blocks, not 7 x 32
    (28, False, 2, (14, 14)),           # 1 time point: cut in two
    (6, True, 2, (8, 8)),               # S001 target, 1 time point: one call (too small to share)
    (36, True, 2, (8, 8)),              # 6 time points: blocks of one chunk of 8
    (48, True, 2, (8, 8)),              # 8 time points
    (6, False, 2, (48, 48)),            # not average-referenced: the torch channel path, one call
])
def test_block_layout(total, avg, threads, expected):
    k, c = (21, 64) if total in (4508, 896, 384, 224, 28) else (44, 64)
    assert _lda_layout.loo_block_layout(total, k, c, "cpu", threads, average_reference=avg) == expected

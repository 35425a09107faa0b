"""Batched leave-one-out LDA (rdm_widgets.eeg._lda) against scikit-learn itself."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from rdm_widgets.eeg import _lda, _lda_avgref_nb, _lda_base, _lda_layout, _lda_null, _lda_null_nb, _nb_linalg
from rdm_widgets.eeg._lda import lda_decisions, lda_loo_decisions


@pytest.fixture(autouse=True)
def _one_thread():
    """Small batched LAPACK calls thrash with 2 OpenMP threads on a busy 2-core box."""
    from threadpoolctl import threadpool_limits
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


def sklearn_loo(data, pairs, times):
    """The reference: one sklearn LDA per pair, time and fold."""
    k = data.shape[1]
    out = np.zeros((len(pairs), len(times), k, 2))
    y = [0] * (k - 1) + [1] * (k - 1)
    for p, (i, j) in enumerate(pairs):
        for ti, t in enumerate(times):
            for f in range(k):
                keep = [q for q in range(k) if q != f]
                x = np.vstack([data[i, keep, :, t], data[j, keep, :, t]])
                test = np.stack([data[i, f, :, t], data[j, f, :, t]])
                out[p, ti, f] = LinearDiscriminantAnalysis().fit(x, y).decision_function(test)
    return out


def all_pairs(n):
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _counting(monkeypatch, name, count, module=_lda, counter=None):
    """Wrap ``module.<name>`` so that ``count(args, result)`` is added up (thread-safe: blocks of
    the kernel may run in threads)."""
    counter, lock, orig = counter or {"n": 0}, threading.Lock(), getattr(module, name)

    def wrapped(*args, **kw):
        result = orig(*args, **kw)
        with lock:
            counter["n"] += count(args, result)
        return result

    monkeypatch.setattr(module, name, wrapped)
    return counter


@pytest.fixture
def count_exact(monkeypatch):
    """Count folds sent to the exact (SVD) fallback."""
    return _counting(monkeypatch, "_exact_folds", lambda args, _: len(args[2]))


@pytest.fixture
def count_avgref(monkeypatch):
    """Count folds certified by the average-reference fast path (compiled or torch)."""
    counter = _counting(monkeypatch, "_avgref_channel_space", lambda _, res: int(res[1].sum()))
    return _counting(monkeypatch, "avgref_rows", lambda _, res: int(res[1].sum()), _lda_avgref_nb, counter)


@pytest.fixture
def count_null(monkeypatch):
    """Count folds certified by the null-space fast path (compiled or torch)."""
    counter = _counting(monkeypatch, "_null_space", lambda _, res: int(res[1].sum()))
    return _counting(monkeypatch, "null_space_rows", lambda _, res: int(res[1].sum()), _lda_null_nb, counter)


@pytest.fixture(params=["numba", "torch"])
def kernel(request, monkeypatch):
    """Run a test with the compiled null-space and average-reference kernels and with the torch
    ones (``RDMW_NUMBA=0``)."""
    if request.param == "numba" and _nb_linalg.numba is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv(_lda_base.ENV_COMPILED, "1" if request.param == "numba" else "0")
    torch_calls = _counting(monkeypatch, "_null_space", lambda _, res: 1)
    _counting(monkeypatch, "_avgref_channel_space", lambda _, res: 1, _lda, torch_calls)
    nb_calls = _counting(monkeypatch, "null_space_rows", lambda _, res: 1, _lda_null_nb)
    _counting(monkeypatch, "avgref_rows", lambda _, res: 1, _lda_avgref_nb, nb_calls)
    yield request.param
    # only the kernels asked for ran
    assert (torch_calls if request.param == "numba" else nb_calls)["n"] == 0


def avg_referenced(shape, seed):
    """Seeded average-referenced data with unequal channel scales (exercises the std scaling)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=shape) * rng.uniform(0.5, 3.0, size=(1, 1, shape[2], 1))
    return data - data.mean(2, keepdims=True)  # every trial sums to 0 over channels


def check_against_sklearn(data, pairs=None, times=None, rtol=1e-8):
    n_cond = data.shape[0]
    pairs = all_pairs(n_cond) if pairs is None else pairs
    times = list(range(data.shape[3])) if times is None else times
    ref = sklearn_loo(data, pairs, times)
    ours = lda_loo_decisions(torch.from_numpy(np.ascontiguousarray(data[..., times])),
                             torch.tensor(pairs)).numpy()
    assert ours.shape == ref.shape
    assert np.array_equal(ours > 0, ref > 0), "predictions differ from sklearn"
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * scale)
    return ours, ref


def test_full_rank(count_exact):
    data = np.random.default_rng(0).normal(size=(4, 40, 8, 3))
    check_against_sklearn(data)
    assert count_exact["n"] == 0  # the channel-space fast path certifies random data


def test_rank_deficient(count_exact, kernel):
    # 58 training trials < 64 channels: the std scaling changes the pseudo-inverse
    data = np.random.default_rng(1).normal(size=(3, 30, 64, 2))
    check_against_sklearn(data, times=[1])
    assert count_exact["n"] == 0  # the null-space fast path certifies random data


@pytest.mark.parametrize("shape", [(3, 30, 8, 2), (4, 40, 16, 2), (3, 45, 64, 1), (3, 20, 64, 1),
                                   (2, 33, 64, 1), (2, 10, 17, 2)])
def test_average_reference(shape, count_exact, count_avgref, kernel):
    data = avg_referenced(shape, 2)
    check_against_sklearn(data)
    n_cond, k, c, n_t = shape
    folds = n_cond * (n_cond - 1) // 2 * n_t * k
    if 2 * k - 4 >= c:  # rank C-1 < C: the average-reference path certifies every fold
        assert count_avgref["n"] == folds and count_exact["n"] == 0
    elif 2 * k - 3 == c:  # fold rank C-1 from only C-1 contrasts: mostly certified
        assert count_avgref["n"] > folds // 2 and count_avgref["n"] + count_exact["n"] == folds
    elif 2 * k - 2 == c:  # pair Gram singular (2k-2 contrasts, rank C-1): exact path
        assert count_exact["n"] > 0 and count_avgref["n"] == 0
    else:  # 2k-2 < C: the null-space path handles it
        assert count_exact["n"] == 0 and count_avgref["n"] == 0


def test_average_reference_mixed_block(count_exact, count_avgref, kernel):
    # time 0 average-referenced, time 1 not: one block, split between the two channel paths
    data = avg_referenced((3, 20, 8, 2), 9)
    data[..., 1] += np.random.default_rng(10).normal(size=data.shape[:3])
    check_against_sklearn(data)
    assert count_avgref["n"] == 3 * 20 and count_exact["n"] == 0


def test_nearly_average_referenced_is_not_trusted(count_exact, count_avgref, kernel):
    # channel sums 10x above the structural threshold but far below sklearn's tol: the
    # null direction is still truncated by sklearn, handled by the exact path
    data = avg_referenced((2, 20, 8, 1), 11)
    norm = np.linalg.norm(data, axis=2, keepdims=True)
    data += 1e-5 * norm / 8 * np.random.default_rng(12).choice([-1.0, 1.0], size=data.shape[:2] + (1, 1))
    check_against_sklearn(data, rtol=1e-6)
    assert count_avgref["n"] == 0 and count_exact["n"] == 20


def test_real_eeg_average_reference(count_exact, count_avgref, kernel):
    """Bundled avg-referenced EEG, 4 'target' conditions (k = 44 > C / 2): the tutorial case."""
    from rdm_widgets.demo import demo_path
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, labels = z["eeg"].astype(np.float64), z["target"].astype(str)
    conds = sorted(set(labels))
    k = min(int((labels == c).sum()) for c in conds)
    data = np.stack([eeg[labels == c][:k] for c in conds])  # (4, 44, 64, 161)
    assert data.shape[:3] == (4, 44, 64)
    ours, ref = check_against_sklearn(data, times=[20, 80, 120], rtol=1e-7)
    acc = lambda dec: 0.5 * ((dec[..., 0] < 0).mean(-1) + (dec[..., 1] > 0).mean(-1))
    assert np.abs(acc(ours) - acc(ref)).max() == 0
    assert count_avgref["n"] == 6 * 3 * k and count_exact["n"] == 0


def test_boundary_regimes():
    rng = np.random.default_rng(3)
    check_against_sklearn(rng.normal(size=(2, 6, 9, 1)))    # 2k-3 == C: exact path only
    check_against_sklearn(rng.normal(size=(2, 34, 64, 1)))  # 2k-4 == C: channel space
    check_against_sklearn(rng.normal(size=(2, 3, 5, 1)))    # k = 3 (one contrast per class)


def test_near_collinear_channels_follow_sklearn_truncation(count_exact):
    rng = np.random.default_rng(4)
    data = rng.normal(size=(2, 25, 6, 3))
    # channel 5 = channel 4 + tiny noise: scaled singular values around tol
    for t, eps in enumerate([1e-6, 1e-4, 3e-4]):
        data[:, :, 5, t] = data[:, :, 4, t] + eps * rng.normal(size=(2, 25))
    ours = lda_loo_decisions(torch.from_numpy(data)).numpy()
    ref = sklearn_loo(data, [(0, 1)], [0, 1, 2])
    assert np.array_equal(ours > 0, ref > 0)
    assert count_exact["n"] == 3 * 25  # no certificate near tol: all folds took the exact path
    # truncation makes the decisions sensitive to rounding: compare loosely
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_real_eeg(kernel):
    from rdm_widgets.demo import demo_path
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, labels = z["eeg"].astype(np.float64), z["labels"].astype(str)
    conds = sorted(set(labels))
    k = min(int((labels == c).sum()) for c in conds)
    data = np.stack([eeg[labels == c][:k] for c in conds])  # (8, k, 64, 161)
    assert data.shape[:3] == (8, k, 64) and 20 <= k <= 24
    ours, ref = check_against_sklearn(data, pairs=[(0, 1), (2, 5), (3, 7)], times=[40, 80], rtol=1e-7)
    # all pairs at one time point: shape and finiteness
    full = lda_loo_decisions(torch.from_numpy(np.ascontiguousarray(data[..., 80:81])))
    assert full.shape == (28, 1, k, 2) and torch.isfinite(full).all()


def test_planted_signal_accuracy(kernel):
    rng = np.random.default_rng(5)
    n_cond, k, c, n_t = 3, 20, 16, 4
    data = rng.normal(size=(n_cond, k, c, n_t))
    pattern = rng.normal(size=(n_cond, c))
    data[:, :, :, 1] += 1.5 * pattern[:, None, :]  # decodable only at t = 1 and 2
    data[:, :, :, 2] += 1.0 * pattern[:, None, :]
    dec = lda_loo_decisions(torch.from_numpy(data)).numpy()
    acc = 0.5 * ((dec[..., 0] < 0).mean(axis=(0, 2)) + (dec[..., 1] > 0).mean(axis=(0, 2)))
    assert acc[1] > 0.9 and acc[2] > 0.8
    assert abs(acc[0] - 0.5) < 0.2 and abs(acc[3] - 0.5) < 0.2
    ref = sklearn_loo(data, all_pairs(n_cond), range(n_t))
    assert np.array_equal(dec > 0, ref > 0)


@pytest.mark.parametrize("shape", [(3, 30, 64, 2), (3, 20, 64, 1), (2, 33, 64, 1), (3, 3, 5, 1),
                                   (2, 12, 30, 2)])
def test_null_space_path(shape, count_exact, count_null, kernel):
    """Fewer trials than channels, small null space (incl. none: 2k-2 == C): null-space path only."""
    rng = np.random.default_rng(13)
    data = rng.normal(size=shape) * rng.uniform(0.5, 3.0, size=(1, 1, shape[2], 1))
    check_against_sklearn(data)
    n_cond, k, _, n_t = shape
    assert count_null["n"] == n_cond * (n_cond - 1) // 2 * n_t * k and count_exact["n"] == 0


def test_large_null_space_uses_sample_path(count_exact, count_null):
    data = np.random.default_rng(14).normal(size=(2, 6, 40, 1))  # null space 30 > 2k-4 = 8
    check_against_sklearn(data)
    assert count_null["n"] == 0 and count_exact["n"] == 0


def test_null_space_agrees_with_sample_path():
    rng = np.random.default_rng(15)
    x = torch.from_numpy(rng.normal(size=(6, 60, 64)) * rng.uniform(0.2, 5.0, size=(1, 1, 64)))
    dec_n, ok_n = _lda._null_space(x, 30, 1e-4)
    dec_s, ok_s = _lda._sample_space(x[:, :30], x[:, 30:], 1e-4)
    assert ok_n.all() and ok_s.all()
    torch.testing.assert_close(dec_n, dec_s, rtol=1e-9, atol=1e-9 * float(dec_s.abs().max()))


def test_null_space_fallbacks(count_exact, count_null, kernel):
    """Folds the null-space path cannot certify are recomputed exactly, and still match sklearn."""
    rng = np.random.default_rng(16)
    data = rng.normal(size=(3, 20, 48, 3))
    data[0, 4, 7, 0] += 1e5              # t 0: without trial 4 channel 7 keeps < 1e-5 of its variance
    data[:, :, 11, 1] = 2.5              # t 1: a constant channel (sklearn scales it by 1)
    data[2, 1, :, 2] = data[2, 0, :, 2]  # t 2: a repeated trial, singular pair Gram
    check_against_sklearn(data, rtol=1e-6)
    folds = 3 * 3 * 20
    # t 0: fold 4 of the two pairs with condition 0; t 1: every fold; t 2: the pairs with condition 2
    assert count_exact["n"] == 2 + 3 * 20 + 2 * 20 and count_null["n"] == folds - count_exact["n"]


def test_null_space_certificate_fallback_test(monkeypatch, count_exact, kernel):
    """Where the inverse-norm bound is not sharp enough, the shifted Cholesky test decides."""
    monkeypatch.setattr(_lda_null, "_inverse_lower_bound_ok",
                        lambda gi, tr, tau: torch.zeros(gi.shape[0], dtype=torch.bool))
    monkeypatch.setattr(_lda_null_nb, "_INVERSE_BOUND", False)
    check_against_sklearn(np.random.default_rng(17).normal(size=(3, 20, 48, 2)))
    assert count_exact["n"] == 0


def test_null_space_degenerate_probe(monkeypatch, count_exact, kernel):
    """Dependent null-space probe directions are detected: those pair-times go to the exact path."""
    orig = _lda_null._null_probe

    def degenerate(n_chan, q0, dtype, device):
        om = orig(n_chan, q0, dtype, device).clone()
        om[1] = om[0]
        return om

    monkeypatch.setattr(_lda_null, "_null_probe", degenerate)
    check_against_sklearn(np.random.default_rng(18).normal(size=(2, 20, 48, 2)))
    assert count_exact["n"] == 2 * 20


def test_progress_and_blocks(monkeypatch):
    monkeypatch.setattr(_lda_layout, "_BLOCK_BYTES", 1)  # one pair-time per block
    data = torch.from_numpy(np.random.default_rng(6).normal(size=(3, 5, 4, 2)))
    calls = []
    out = lda_loo_decisions(data, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    monkeypatch.undo()
    np.testing.assert_allclose(out.numpy(), lda_loo_decisions(data).numpy(), rtol=1e-12)


@pytest.mark.parametrize("n_a,n_b,c", [(12, 17, 6), (9, 14, 40)])
def test_lda_decisions_svd_unequal(n_a, n_b, c):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, n_a, c)), rng.normal(size=(3, n_b, c)) + 0.4
    test = rng.normal(size=(3, 5, c))
    ours = lda_decisions(*(torch.from_numpy(x) for x in (a, b, test))).numpy()
    for i in range(3):
        ref = LinearDiscriminantAnalysis().fit(np.vstack([a[i], b[i]]), [0] * n_a + [1] * n_b)
        np.testing.assert_allclose(ours[i], ref.decision_function(test[i]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shrinkage,c", [(None, 6), ("auto", 6), ("auto", 40), (0.3, 6), (0.3, 40), (1.0, 6)])
def test_lda_decisions_lsqr(shrinkage, c):
    rng = np.random.default_rng(8)
    n_a, n_b = 15, 11
    a, b = rng.normal(size=(3, n_a, c)), rng.normal(size=(3, n_b, c)) + 0.3
    a[:, :, 0] *= 5.0  # unequal feature scales exercise the standardisation in 'auto'
    test = rng.normal(size=(3, 4, c))
    ours = lda_decisions(*(torch.from_numpy(x) for x in (a, b, test)), solver="lsqr",
                         shrinkage=shrinkage).numpy()
    for i in range(3):
        ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)
        ref.fit(np.vstack([a[i], b[i]]), [0] * n_a + [1] * n_b)
        np.testing.assert_allclose(ours[i], ref.decision_function(test[i]), rtol=1e-8, atol=1e-10)


def test_errors():
    x = torch.zeros(2, 4, 3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="4 dimensions"):
        lda_loo_decisions(x[0])
    with pytest.raises(ValueError, match="at least 3 trials"):
        lda_loo_decisions(x[:, :2])
    with pytest.raises(ValueError, match="0 <= i < j"):
        lda_loo_decisions(x, torch.tensor([[1, 0]]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        lda_loo_decisions([[1.0]])
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        lda_loo_decisions(bad)
    a, t = torch.zeros(1, 3, 2, dtype=torch.float64), torch.zeros(1, 1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="Did you mean 'lsqr'"):
        lda_decisions(a, a, t, solver="lsq")
    with pytest.raises(ValueError, match="does not support shrinkage"):
        lda_decisions(a, a, t, shrinkage="auto")
    with pytest.raises(ValueError, match=r"test \(1, 1, 3\)"):
        lda_decisions(a, a, torch.zeros(1, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="float in \\[0, 1\\]"):
        lda_decisions(a, a, t, solver="lsqr", shrinkage=1.5)


@pytest.mark.parametrize("shape", [(6, 30, 64, 12), (5, 40, 16, 6)])    # null-space / channel paths
def test_threaded_blocks_give_identical_results(shape, monkeypatch, kernel):
    """Blocks (and per-fold LDA folds) run in torch.get_num_threads() threads: same numbers as one."""
    from rdm_widgets import eeg_rdm

    monkeypatch.setattr(_lda_layout, "_NULL_BLOCK", 32)                         # several blocks
    monkeypatch.setattr(_lda_layout, "_BLOCK_BYTES", 2 ** 16)
    data = torch.from_numpy(np.random.default_rng(3).normal(size=shape))
    one = lda_loo_decisions(data)
    x = np.random.default_rng(4).normal(size=(6 * 12, 10, 5))
    y = np.repeat(np.arange(6), 12)
    opts = dict(method="lda_shrinkage", pseudo_trials=4, random_state=0, score="decision")
    one_f = eeg_rdm(x, y, **opts).data
    torch.set_num_threads(3)
    seen = set()
    real = _lda_base._Blocks.run

    def spy(self, i):
        seen.add(threading.get_ident())
        return real(self, i)

    monkeypatch.setattr(_lda_base._Blocks, "run", spy)
    three = lda_loo_decisions(data)
    three_f = eeg_rdm(x, y, **opts).data
    assert len(seen) > 1                                                  # really ran in threads
    assert torch.equal(one, three)
    np.testing.assert_array_equal(one_f, three_f)
    assert torch.get_num_threads() == 3                                   # the caller's setting is kept

"""Temporal generalisation (eeg_rdm(..., generalization=True)) against independent references:
a scikit-learn train-at-t / test-at-t' loop (LDA, several regimes), a numpy loop (distances), and
the ordinary eeg_rdm for the diagonal (bit-identical)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.linalg import eigh
from sklearn.covariance import ledoit_wolf as sk_ledoit_wolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
from threadpoolctl import threadpool_limits

from rdm_widgets._progress import Cancelled
from rdm_widgets.eeg import GeneralizationRDM, TimeResolvedRDM, eeg_rdm, plan_eeg_rdm, plan_eeg_sizes
from rdm_widgets.eeg._lda_weights import lda_weights, svd_weights
from rdm_widgets.eeg._linalg import class_stats, lsqr_weights_from_class_stats

SHARED_EEG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eeg" / "eegmmidb_S001_epochs.npz"


def make_data(n_cond=3, k=6, C=5, T=4, seed=0, shift=0.9, avg_ref=False):
    """Gaussian trials with a condition pattern planted in the second half of the epoch."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), k)
    x = rng.normal(size=(n_cond * k, C, T))
    for c in range(n_cond):
        x[labels == c, :, T // 2:] += shift * rng.normal(size=(C, 1))
    if avg_ref:
        x -= x.mean(1, keepdims=True)
    return x, labels


# ------------------------------------------------------------------ references
def sklearn_generalization(units, folds, score="accuracy", whiteners=None, **lda_kw):
    """The plain loop: units (n_cond, n_u, C, T); folds: list of test-position arrays (the same
    positions in every condition). For every pair, fold and train time t, fit sklearn's LDA on
    the training units at t and score the held-out units at every t'; mean over folds."""
    n, n_u, C, T = units.shape
    out = np.zeros((n, n, T, T))
    with threadpool_limits(1):
        for i in range(n):
            for j in range(i + 1, n):
                acc = np.zeros((T, T))
                for fi, te in enumerate(folds):
                    tr = np.setdiff1d(np.arange(n_u), te)
                    xi, xj = units[i], units[j]
                    if whiteners is not None:       # each time point whitened with its own matrix
                        xi = np.einsum("tcd,udt->uct", whiteners[fi], xi)
                        xj = np.einsum("tcd,udt->uct", whiteners[fi], xj)
                    y = np.array([0] * len(te) + [1] * len(te))
                    for t in range(T):
                        m = LDA(**lda_kw).fit(np.concatenate([xi[tr, :, t], xj[tr, :, t]]),
                                              [0] * len(tr) + [1] * len(tr))
                        test = np.concatenate([xi[te], xj[te]])          # (m, C, T)
                        flat = test.transpose(2, 0, 1).reshape(T * len(y), C)
                        if score == "accuracy":
                            s = (m.predict(flat).reshape(T, len(y)) == y).mean(1)
                        else:
                            s = m.predict_proba(flat)[np.arange(T * len(y)), np.tile(y, T)].reshape(T, len(y)).mean(1)
                        acc[t] += s
                out[i, j] = out[j, i] = acc / len(folds)
    return out


def numpy_distance_generalization(units, folds, whiteners=None):
    """(m_i - m_j)^train(t) . (m_i - m_j)^test(t') / C, mean over folds (float64 loop)."""
    n, n_u, C, T = units.shape
    out = np.zeros((n, n, T, T))
    for fi, te in enumerate(folds):
        tr = np.setdiff1d(np.arange(n_u), te)
        m_tr, m_te = units[:, tr].mean(1), units[:, te].mean(1)          # (n, C, T)
        if whiteners is not None:
            m_tr = np.einsum("tcd,ndt->nct", whiteners[fi], m_tr)
            m_te = np.einsum("tcd,ndt->nct", whiteners[fi], m_te)
        for i in range(n):
            for j in range(n):
                if i != j:
                    out[i, j] += np.einsum("ct,cs->ts", m_tr[i] - m_tr[j], m_te[i] - m_te[j]) / C
    return out / len(folds)


def numpy_whiteners(units, folds, mode):
    """Ledoit-Wolf (sklearn) noise covariance of the training residuals per fold, ^(-1/2)."""
    n, n_u, C, T = units.shape
    out = []
    for te in folds:
        tr = np.setdiff1d(np.arange(n_u), te)
        res = units[:, tr] - units[:, tr].mean(1, keepdims=True)         # (n, n_tr, C, T)
        covs = np.stack([sk_ledoit_wolf(res[..., t].reshape(-1, C), assume_centered=True)[0] for t in range(T)])
        if mode == "epoch":
            covs = np.repeat(covs.mean(0, keepdims=True), T, 0)
        ws = []
        for cov in covs:
            w, v = eigh(cov)
            ws.append((v / np.sqrt(w)) @ v.T)
        out.append(np.stack(ws))
    return out


def units_of(x, labels):
    conds = sorted(set(labels.tolist()))
    return np.stack([x[labels == c] for c in conds])


# ------------------------------------------------------------------ weights
REGIMES = {  # (n_a, n_b, C, avg_ref): which fast path or fallback solves the weights
    "sample_space": (9, 9, 32, False), "sample_space_unequal": (7, 10, 24, False),
    "channel_space": (20, 20, 8, False), "average_reference": (20, 20, 8, True),
    "avgref_sample": (6, 6, 11, True), "boundary_2k-3=C": (8, 8, 13, False),
}


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_lda_weights_match_sklearn(regime):
    na, nb, C, avg = REGIMES[regime]
    rng = np.random.default_rng(len(regime))
    a, b = rng.normal(size=(12, na, C)), rng.normal(size=(12, nb, C)) + 0.4
    test = rng.normal(size=(12, 9, C))
    if avg:
        a, b, test = (v - v.mean(-1, keepdims=True) for v in (a, b, test))
    w, bias = lda_weights(torch.from_numpy(a), torch.from_numpy(b))
    w_svd, b_svd = svd_weights(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(12):
        clf = LDA().fit(np.r_[a[i], b[i]], np.r_[np.zeros(na), np.ones(nb)])
        ref = clf.decision_function(test[i])
        for ww, bb in ((w, bias), (w_svd, b_svd)):
            ours = test[i] @ ww[i].numpy() + bb[i].item()
            np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
            np.testing.assert_array_equal(ours > 0, clf.predict(test[i]) == 1)


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_fast_paths_are_certified_on_well_conditioned_data(regime, monkeypatch):
    """The fast solves certify these problems (no SVD fallback), so the comparisons above test them."""
    from rdm_widgets.eeg import _lda_weights as mod
    na, nb, C, avg = REGIMES[regime]
    calls = []
    real = mod.svd_weights
    monkeypatch.setattr(mod, "svd_weights", lambda a, b, tol: calls.append(len(a)) or real(a, b, tol))
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(12, na, C)), rng.normal(size=(12, nb, C))
    if avg:
        a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    mod.lda_weights(torch.from_numpy(a), torch.from_numpy(b))
    assert calls == []
    a[..., 0] = b[..., 0] = 2.0                                           # a constant channel
    mod.lda_weights(torch.from_numpy(a), torch.from_numpy(b))
    assert calls == ([] if na + nb - 2 < C else [12])                     # sample space handles it


@pytest.mark.parametrize("n,C", [(20, 6), (6, 20)])       # channel space (SVD fallback), sample space
def test_lda_weights_constant_channel_as_sklearn(n, C):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, n, C)), rng.normal(size=(3, n, C)) + 0.3
    a[..., 2] = b[..., 2] = 1.5                                           # sklearn: std := 1
    test = rng.normal(size=(3, 5, C))
    w, bias = lda_weights(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(3):
        clf = LDA().fit(np.r_[a[i], b[i]], np.r_[np.zeros(n), np.ones(n)])
        np.testing.assert_allclose(test[i] @ w[i].numpy() + bias[i].item(), clf.decision_function(test[i]),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shrinkage", ["auto", 0.3])
def test_lsqr_weights_match_sklearn(shrinkage):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 8, 10)), rng.normal(size=(4, 8, 10)) + 0.5
    test = rng.normal(size=(4, 6, 10))
    sa, sb = class_stats(torch.from_numpy(a), shrinkage), class_stats(torch.from_numpy(b), shrinkage)
    w, bias = lsqr_weights_from_class_stats(sa[0], sa[1], 8, sb[0], sb[1], 8)
    for i in range(4):
        clf = LDA(solver="lsqr", shrinkage=shrinkage).fit(np.r_[a[i], b[i]], np.r_[np.zeros(8), np.ones(8)])
        np.testing.assert_allclose(test[i] @ w[i].numpy() + bias[i].item(), clf.decision_function(test[i]),
                                   rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ eeg_rdm vs sklearn loop
CASES = {   # name: (data kwargs, eeg_rdm kwargs, sklearn LDA kwargs, folds(k))
    "loo_rank_deficient": (dict(k=6, C=12), {}, {}, None),
    "loo_full_rank": (dict(k=10, C=4), {}, {}, None),
    "loo_average_referenced": (dict(k=8, C=5, avg_ref=True), {}, {}, None),
    "loo_decision_score": (dict(k=6, C=7), dict(score="decision"), {}, None),
    "loo_null_space_decision": (dict(k=6, C=12), dict(score="decision"), {}, None),
    "loo_null_space_average_referenced": (dict(k=6, C=12, avg_ref=True), {}, {}, None),
    "loo_large_null_space": (dict(k=4, C=16), {}, {}, None),          # per-fold sample-space solve
    "loo_boundary_2k-3=C": (dict(k=6, C=9), {}, {}, None),
    "kfold": (dict(k=9, C=6), dict(cv=3), {}, 3),
    "shrinkage_auto": (dict(k=6, C=8), dict(method="lda_shrinkage"), dict(solver="lsqr", shrinkage="auto"), None),
    "shrinkage_fixed_kfold": (dict(k=8, C=5), dict(method="lda_shrinkage", shrinkage=0.2, cv=4),
                              dict(solver="lsqr", shrinkage=0.2), 4),
}


def _folds(n_units, cv):
    return [np.array([f]) for f in range(n_units)] if cv is None else [np.arange(f, n_units, cv) for f in range(cv)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_generalization_matches_sklearn_loop(case):
    dkw, kw, lda_kw, cv = CASES[case]
    x, labels = make_data(**dkw, seed=len(case))
    g = eeg_rdm(x, labels, generalization=True, **kw)
    assert isinstance(g, GeneralizationRDM) and g.shape == (3, 3, 4, 4)
    ref = sklearn_generalization(units_of(x, labels), _folds(dkw["k"], cv), score=kw.get("score", "accuracy"),
                                 **lda_kw)
    np.testing.assert_allclose(g.data, ref, rtol=0, atol=1e-12)
    assert not np.allclose(g.data[0, 1], g.data[0, 1].T)          # generalisation is not symmetric in time


def test_loo_null_space_path_is_used_and_its_fallback_is_exact(monkeypatch):
    """Plain leave-one-out LDA with 2k-2 <= C solves every fold's classifier with the exact
    kernel's null-space path; folds it does not certify go to the generic solve. Both agree
    with the sklearn loop."""
    from rdm_widgets.eeg import _gen_kernels as mod
    x, labels = make_data(k=6, C=12, seed=11)
    ref = sklearn_generalization(units_of(x, labels), _folds(6, None))
    real, calls = mod._null_space, []

    def half_certified(xb, k, tol, weights=False):
        w, ok = real(xb, k, tol, weights=weights)
        calls.append(int(ok.sum()))
        ok = ok.clone()
        ok[:, ::2] = False
        return w, ok
    np.testing.assert_allclose(eeg_rdm(x, labels, generalization=True).data, ref, atol=1e-12)
    monkeypatch.setattr(mod, "_null_space", half_certified)
    np.testing.assert_allclose(eeg_rdm(x, labels, generalization=True).data, ref, atol=1e-12)
    assert calls and sum(calls) == 3 * 4 * 6                # every pair-time and fold was certified


def test_pseudo_trials_match_documented_procedure_and_sklearn():
    x, labels = make_data(n_cond=3, k=10, C=4, T=3)
    K, seed, n_perm = 4, 3, 2
    rng = np.random.default_rng(seed)
    ref = np.zeros((3, 3, 3, 3))
    for _ in range(n_perm):                     # documented dealing of trials into pseudo-trials
        pseudo = np.zeros((3, K, 4, 3))
        for c in range(3):
            b = np.empty(10, dtype=int)
            b[rng.permutation(10)] = np.arange(10) % K
            for q in range(K):
                pseudo[c, q] = x[labels == c][b == q].mean(0)
        ref += sklearn_generalization(pseudo, _folds(K, None)) / n_perm
    g = eeg_rdm(x, labels, pseudo_trials=K, n_permutations=n_perm, random_state=seed, generalization=True)
    np.testing.assert_allclose(g.data, ref, atol=1e-12)


@pytest.mark.parametrize("mode", ["epoch", "time"])
def test_noise_normalized_lda_matches_reference(mode):
    x, labels = make_data(k=6, C=4, T=3, seed=4)
    folds = _folds(6, 3)
    u = units_of(x, labels)
    g = eeg_rdm(x, labels, cv=3, noise_normalization=mode, generalization=True)
    ref = sklearn_generalization(u, folds, whiteners=numpy_whiteners(u, folds, mode))
    np.testing.assert_allclose(g.data, ref, atol=1e-12)


@pytest.mark.parametrize("method,cv,mode", [("cv_euclidean", "loo", None), ("cv_euclidean", 3, None),
                                            ("crossnobis", 3, "epoch"), ("crossnobis", "loo", "time")])
def test_distances_match_numpy_loop(method, cv, mode):
    x, labels = make_data(n_cond=4, k=6, C=5, T=5, seed=2)
    u = units_of(x, labels)
    folds = _folds(6, None if cv == "loo" else cv)
    g = eeg_rdm(x, labels, method=method, cv=cv, noise_normalization=mode, generalization=True)
    ref = numpy_distance_generalization(u, folds, None if mode is None else numpy_whiteners(u, folds, mode))
    np.testing.assert_allclose(g.data, ref, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ diagonal = eeg_rdm, bit for bit
@pytest.mark.parametrize("kw", [{}, dict(method="lda_shrinkage"), dict(cv=3, noise_normalization="time"),
                                dict(method="crossnobis"), dict(method="cv_euclidean", cv=2),
                                dict(pseudo_trials=3, n_permutations=3, random_state=0, score="decision"),
                                dict(window=2, decim=2, times=np.linspace(-0.1, 0.5, 8)),
                                dict(pseudo_trials=3, balance=False, random_state=1, method="lda_shrinkage"),
                                dict(cv=2, groups=np.tile(np.arange(7) // 2, 4)),
                                dict(method="cv_euclidean", pseudo_trials=3, cv=3, random_state=2)])
def test_diagonal_is_eeg_rdm_bit_for_bit(kw):
    x, labels = make_data(n_cond=4, k=7, C=6, T=8, seed=5)
    g = eeg_rdm(x, labels, generalization=True, **kw)
    d = eeg_rdm(x, labels, **kw)
    diag = g.diagonal()
    assert isinstance(diag, TimeResolvedRDM)
    np.testing.assert_array_equal(diag.data, d.data)
    np.testing.assert_array_equal(diag.times, d.times)
    np.testing.assert_array_equal(g.train_times, d.times)
    assert diag.conditions == d.conditions and diag.meta == d.meta and g.meta["generalization"] is True


def test_real_s001_matches_sklearn_loop():
    if not SHARED_EEG.is_file():
        pytest.skip("shared S001 epochs not present")
    with np.load(SHARED_EEG, allow_pickle=False) as z:
        keys = z.files
        x, labels = z["data"] if "data" in keys else z["eeg"], z["target"]
    # 12 trials per target, 24 channels, 3 time points after the cue: real EEG, rank-deficient
    # per fold (the null-space path)
    keep = np.concatenate([np.flatnonzero(labels == c)[:12] for c in np.unique(labels)])
    xs = x[keep][:, :24, 100:103].astype(np.float64) * 1e6
    g = eeg_rdm(xs, labels[keep], generalization=True)
    ref = sklearn_generalization(units_of(xs, labels[keep]), _folds(12, None))
    np.testing.assert_allclose(g.data, ref, atol=1e-12)


# ------------------------------------------------------------------ container, plan, progress
def test_container_methods_and_roundtrip(tmp_path):
    x, labels = make_data(n_cond=3, k=6, C=5, T=4)
    labels = np.array(["a", "b", "c"])[labels]
    g = eeg_rdm(x, labels, generalization=True, times=np.array([0.0, 0.1, 0.2, 0.3]))
    iu = np.triu_indices(3, 1)
    np.testing.assert_array_equal(g.mean_map(), g.data[iu[0], iu[1]].mean(0))
    np.testing.assert_array_equal(g.mean_map(("b", "c")), g.data[1, 2])
    np.testing.assert_array_equal(g.mean_map((0, 2)), g.data[0, 2])
    cell = g.at(1, 3)
    np.testing.assert_array_equal(cell.matrix, g.data[:, :, 1, 3])
    assert cell.stimuli == ["a", "b", "c"] and cell.meta["train_time"] == 0.1 and cell.meta["test_time"] == 0.3
    assert g.train_index(0.21) == 2 and g.test_index(-1) == 0
    np.testing.assert_array_equal(g.data, np.transpose(g.data, (1, 0, 2, 3)))
    assert (g.data[np.arange(3), np.arange(3)] == 0).all()
    path = g.save(tmp_path / "gen")
    assert path.name == "gen.npz"
    back = GeneralizationRDM.from_file(path)
    np.testing.assert_array_equal(back.data, g.data)
    np.testing.assert_array_equal(back.test_times, g.test_times)
    assert back.conditions == g.conditions and back.meta == g.meta
    with pytest.raises(FileExistsError):
        g.save(path)
    g.save(path, overwrite=True)
    with np.load(path, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    assert str(arrays["format"]) == "rdm_widgets.generalization/1"
    arrays["format"] = np.asarray("rdm_widgets.generalization/99")
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="newer rdm_widgets"):
        GeneralizationRDM.from_file(tmp_path / "future.npz")
    (tmp_path / "download.npz").write_bytes(g.to_npz_bytes())          # what the panel's download holds
    np.testing.assert_array_equal(GeneralizationRDM.from_file(tmp_path / "download.npz").data, g.data)
    df = g.to_frame()
    assert len(df) == 3 * 16 and set(df.columns) == {"train_time", "test_time", "condition_a", "condition_b", "value"}
    row = df[(df.train_time == 0.1) & (df.test_time == 0.3) & (df.condition_a == "a") & (df.condition_b == "c")]
    assert float(row.value.iloc[0]) == g.data[0, 2, 1, 3]
    with pytest.raises(ValueError, match="Unknown condition 'z'"):
        g.mean_map(("a", "z"))
    with pytest.raises(IndexError):
        g.at(4, 0)
    with pytest.raises(TypeError, match="train_index"):
        g.at(0.1, 0)
    d = g.diagonal()
    d.save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a GeneralizationRDM file"):
        GeneralizationRDM.from_file(tmp_path / "plain.npz")


def test_plan_fields_and_progress_and_cancel():
    x, labels = make_data(n_cond=3, k=6, C=5, T=4)
    plan = plan_eeg_rdm(x, labels, generalization=True)
    assert plan.options.generalization and plan.n_test_times == 4
    assert plan.evaluations == plan.fits * 4 and plan.progress_total == plan.fits * 5
    assert plan.result_bytes == 8 * 9 * 16
    plain = plan_eeg_rdm(x, labels)
    assert plain.n_test_times == 1 and plain.evaluations == 0 and plain.progress_total == plain.fits
    sized = plan_eeg_sizes(92, 30, 64, 100, generalization=True)
    assert sized.evaluations == 92 * 91 // 2 * 30 * 100 * 100
    for kw in ({}, {"method": "cv_euclidean"}, {"method": "lda_shrinkage", "cv": 3}):
        seen = []
        eeg_rdm(x, labels, generalization=True, progress=lambda d, t: seen.append((d, t)), **kw)
        total = plan_eeg_rdm(x, labels, generalization=True, **kw).progress_total
        assert seen[-1] == (total, total) and all(t == total for _, t in seen)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    def cancel(done, total):
        if done > total // 3:
            raise Cancelled()
    with pytest.raises(Cancelled):
        eeg_rdm(x, labels, generalization=True, progress=cancel)


def test_errors():
    x, labels = make_data()
    with pytest.raises(TypeError, match="Invalid type for 'generalization'"):
        eeg_rdm(x, labels, generalization="yes")
    with pytest.raises(ValueError, match="dask cluster"):
        eeg_rdm(x, labels, generalization=True, client="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="diagonal"):
        GeneralizationRDM(np.zeros((2, 2, 3, 2))).diagonal()
    with pytest.raises(ValueError, match="n_train_times"):
        GeneralizationRDM(np.zeros((2, 2, 3)))


def test_loo_null_space_path_with_long_epochs_and_one_pair_blocks():
    """Blocks of one pair (long epochs) give non-contiguous slices: the path copes and agrees with
    the generic per-fold solve."""
    from rdm_widgets.eeg import _gen_kernels as mod
    x, labels = make_data(n_cond=2, k=5, C=9, T=30, seed=12)
    fast = eeg_rdm(x, labels, generalization=True).data
    old = mod.GEN_BLOCK_ELEMS
    try:
        mod.GEN_BLOCK_ELEMS = 34_000          # blocks of 1 pair and 29 (then 1) training times
        small = eeg_rdm(x, labels, generalization=True).data
    finally:
        mod.GEN_BLOCK_ELEMS = old
    np.testing.assert_array_equal(small, fast)
    units = units_of(x, labels)
    ref = sklearn_generalization(units[..., ::6], _folds(5, None))
    np.testing.assert_allclose(fast[..., ::6, ::6], ref, atol=1e-12)


def test_several_subjects():
    from rdm_widgets.eeg import eeg_rdms

    x1, y1 = make_data(seed=1)
    x2, y2 = make_data(seed=2)
    out = eeg_rdms({"s1": (x1, y1), "s2": (x2, y2)}, generalization=True, cv=3)
    assert list(out) == ["s1", "s2"]
    np.testing.assert_array_equal(out["s2"].data, eeg_rdm(x2, y2, generalization=True, cv=3).data)


def test_thread_count_does_not_change_results():
    x, labels = make_data(n_cond=5, k=6, C=8, T=6, seed=8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = eeg_rdm(x, labels, generalization=True).data
        torch.set_num_threads(2)
        two = eeg_rdm(x, labels, generalization=True).data
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x, labels = make_data(n_cond=4, k=6, C=8, T=5)
    for kw in ({}, {"method": "lda_shrinkage"}, {"method": "crossnobis"}):
        cpu = eeg_rdm(x, labels, generalization=True, **kw).data
        gpu = eeg_rdm(x, labels, generalization=True, device="cuda", **kw).data
        np.testing.assert_allclose(gpu, cpu, atol=1e-10)

"""Tests of rdm_widgets.eeg: eeg_rdm against independent sklearn / numpy loops."""
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.covariance import ledoit_wolf as sk_ledoit_wolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
from threadpoolctl import threadpool_limits

from rdm_widgets._progress import Cancelled
from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import TimeResolvedRDM, eeg_rdm
from rdm_widgets.eeg._design import assign_bins
from rdm_widgets.eeg._noise import ledoit_wolf

SHARED_EEG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eeg" / "eegmmidb_S001_epochs.npz"


# ---------------------------------------------------------------- references
def _first_k(labels):
    labels = np.asarray(labels)
    conds = sorted(set(labels.tolist()))
    k = min(int((labels == c).sum()) for c in conds)
    return conds, k, [np.flatnonzero(labels == c)[:k] for c in conds]


def sklearn_rdm(X, labels, folds=None, score="accuracy", whiten=None, **lda_kw):
    """The plain loop of the issue. folds: list of test-position arrays (default LOO)."""
    conds, k, idx = _first_k(labels)
    folds = [np.array([f]) for f in range(k)] if folds is None else folds
    n, T = len(conds), X.shape[2]
    out = np.zeros((n, n, T))
    with threadpool_limits(1):  # tiny fits: BLAS threads only add overhead (10x on 2 cores)
        _sklearn_loop(X, idx, k, folds, score, whiten, lda_kw, out)
    return out


def _sklearn_loop(X, idx, k, folds, score, whiten, lda_kw, out):
    n, T = len(idx), X.shape[2]
    for i in range(n):
        for j in range(i + 1, n):
            for t in range(T):
                vals = []
                for fi, te in enumerate(folds):
                    tr = np.setdiff1d(np.arange(k), te)
                    xi, xj = X[idx[i], :, t], X[idx[j], :, t]
                    if whiten is not None:
                        xi, xj = xi @ whiten[fi][t].T, xj @ whiten[fi][t].T
                    m = LDA(**lda_kw).fit(np.concatenate([xi[tr], xj[tr]]), [0] * len(tr) + [1] * len(tr))
                    test = np.concatenate([xi[te], xj[te]])
                    y = np.array([0] * len(te) + [1] * len(te))
                    if score == "accuracy":
                        vals.append(np.mean(m.predict(test) == y))
                    else:
                        vals.append(np.mean(m.predict_proba(test)[np.arange(len(y)), y]))
                out[i, j, t] = out[j, i, t] = np.mean(vals)


def numpy_whiteners(X, labels, folds, mode):
    """Per fold and time: LW covariance of training residuals -> cov^-1/2 (numpy/sklearn)."""
    conds, k, idx = _first_k(labels)
    T = X.shape[2]
    out = []
    for te in folds:
        tr = np.setdiff1d(np.arange(k), te)
        covs = []
        for t in range(T):
            res = np.concatenate([X[ix[tr], :, t] - X[ix[tr], :, t].mean(0) for ix in idx])
            covs.append(sk_ledoit_wolf(res, assume_centered=True)[0])
        covs = np.array(covs)
        if mode == "epoch":
            covs = np.repeat(covs.mean(0, keepdims=True), T, 0)
        ws = []
        for c in covs:
            w, v = np.linalg.eigh(c)
            ws.append(v @ np.diag(w ** -0.5) @ v.T)
        out.append(np.array(ws))
    return out


def numpy_cv_distance(X, labels, folds, whiteners=None):
    conds, k, idx = _first_k(labels)
    n, C, T = len(conds), X.shape[1], X.shape[2]
    out = np.zeros((n, n, T))
    for i in range(n):
        for j in range(i + 1, n):
            for t in range(T):
                ds = []
                for fi, te in enumerate(folds):
                    tr = np.setdiff1d(np.arange(k), te)
                    a = X[idx[i][tr], :, t].mean(0) - X[idx[j][tr], :, t].mean(0)
                    b = X[idx[i][te], :, t].mean(0) - X[idx[j][te], :, t].mean(0)
                    if whiteners is not None:
                        a, b = whiteners[fi][t] @ a, whiteners[fi][t] @ b
                    ds.append(a @ b / C)
                out[i, j, t] = out[j, i, t] = np.mean(ds)
    return out


def make_data(n_cond=3, k=6, C=5, T=2, extra=(0, 1), seed=0, shift=0.8, avg_ref=False):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), k).tolist() + list(extra)
    X = rng.standard_normal((len(labels), C, T))
    X += shift * rng.standard_normal((n_cond, C, 1))[np.asarray(labels)]
    if avg_ref:
        X -= X.mean(1, keepdims=True)
    return X, labels


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # The batched kernels work on many tiny matrices; on a loaded 2-core machine OpenMP threads
    # spin against each other (up to 50x slower). One thread keeps this file fast; restored after.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def real():
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        return {k: z[k] for k in ("eeg", "target", "times")}


# ------------------------------------------------------------- default LDA
@pytest.mark.parametrize("kw", [
    dict(C=4, k=6),                       # full rank, channel-space path
    dict(C=12, k=5),                      # fewer trials than channels (rank deficient)
    dict(C=6, k=5, avg_ref=True),         # average referenced: singular covariance
    dict(C=7, k=5, avg_ref=True),         # 2k-3 == C
])
def test_default_matches_sklearn_exactly(kw):
    X, labels = make_data(**kw)
    r = eeg_rdm(X, labels)
    ref = sklearn_rdm(X, labels)
    assert np.abs(r.data - ref).max() == 0
    assert r.shape == (3, 3, 2)
    np.testing.assert_array_equal(r.data, r.data.transpose(1, 0, 2))
    assert np.all(np.diagonal(r.data, axis1=0, axis2=1) == 0)


def test_real_eeg_matches_sklearn_exactly(real):
    t_idx = [int(np.argmin(np.abs(real["times"] - t))) for t in (-0.1, 0.3)]
    X = real["eeg"][:, :, t_idx]
    r = eeg_rdm(X, real["target"], times=real["times"][t_idx])
    assert np.abs(r.data - sklearn_rdm(X.astype(np.float64), real["target"])).max() == 0
    assert r.conditions == sorted(set(real["target"].tolist()))
    mt = r.mean_timecourse()
    # exact sklearn-equivalent LOO LDA peaks at ~0.70 near 0.29 s (single samples); baseline ~0.5
    assert mt[1] > 0.6 and abs(mt[0] - 0.5) < 0.1
    # shrinkage LDA reaches the ~0.81 of the data README at 0.30 s; compare with sklearn lsqr there
    shr = eeg_rdm(X[:, :, 1:], real["target"], method="lda_shrinkage")
    ref = sklearn_rdm(X[:, :, 1:].astype(np.float64), real["target"], solver="lsqr", shrinkage="auto")
    np.testing.assert_allclose(shr.data, ref, atol=1e-12)
    assert shr.mean_timecourse()[0] > 0.75


def test_real_eeg_shared_copy_agrees(real):
    if not SHARED_EEG.is_file():
        pytest.skip("../shared/data is not available")
    with np.load(SHARED_EEG, allow_pickle=False) as z:
        shared = eeg_rdm(z["eeg"][:, :, 80], z["target"])
    assert np.array_equal(shared.data, eeg_rdm(real["eeg"][:, :, 80], real["target"]).data)


def test_labels_kinds_and_2d_input():
    X, labels = make_data(T=1)
    ref = eeg_rdm(X, labels)
    names = np.array(["c", "a", "b"])[np.asarray(labels)]  # sorted order differs from code order
    r = eeg_rdm(X[:, :, 0], list(names))                      # 2-D input = one time point
    assert r.shape == (3, 3, 1) and r.conditions == ["a", "b", "c"]
    perm = [1, 2, 0]  # a=code 1, b=code 2, c=code 0
    np.testing.assert_array_equal(r.data, ref.data[np.ix_(perm, perm)])
    np.testing.assert_array_equal(eeg_rdm(torch.from_numpy(X), torch.tensor(labels)).data, ref.data)


# ------------------------------------------------------------ other options
@pytest.mark.parametrize("shrinkage", ["auto", 0.5])
def test_lda_shrinkage_matches_sklearn_lsqr(shrinkage):
    X, labels = make_data(C=8, k=5)
    r = eeg_rdm(X, labels, method="lda_shrinkage", shrinkage=shrinkage)
    ref = sklearn_rdm(X, labels, solver="lsqr", shrinkage=shrinkage)
    np.testing.assert_allclose(r.data, ref, atol=1e-12)
    assert r.meta["shrinkage"] == shrinkage


def test_decision_score_matches_predict_proba():
    X, labels = make_data(C=4, k=5)
    r = eeg_rdm(X, labels, score="decision")
    np.testing.assert_allclose(r.data, sklearn_rdm(X, labels, score="decision"), atol=1e-12)
    assert r.meta["chance"] == 0.5


def test_kfold_matches_sklearn_loop():
    X, labels = make_data(C=4, k=7)
    r = eeg_rdm(X, labels, cv=3)
    folds = [np.arange(7)[np.arange(7) % 3 == f] for f in range(3)]
    np.testing.assert_allclose(r.data, sklearn_rdm(X, labels, folds=folds), atol=1e-12)
    assert r.meta["n_folds"] == 3


@pytest.mark.parametrize("mode,method", [("epoch", "lda_shrinkage"), ("time", "lda_shrinkage"), ("time", "lda")])
def test_noise_normalized_lda_matches_reference(mode, method):
    X, labels = make_data(C=4, k=5, T=2)
    folds = [np.array([f]) for f in range(5)]
    w = numpy_whiteners(X, labels, folds, mode)
    r = eeg_rdm(X, labels, method=method, noise_normalization=mode)
    kw = dict(solver="lsqr", shrinkage="auto") if method == "lda_shrinkage" else {}
    np.testing.assert_allclose(r.data, sklearn_rdm(X, labels, whiten=w, **kw), atol=1e-12)
    assert r.meta["noise_normalization"] == mode


def test_ledoit_wolf_matches_sklearn():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 30, 6)) @ rng.standard_normal((6, 6))
    ours = ledoit_wolf(torch.from_numpy(x)).numpy()
    for b in range(4):
        np.testing.assert_allclose(ours[b], sk_ledoit_wolf(x[b], assume_centered=True)[0], atol=1e-12)


@pytest.mark.parametrize("cv", ["loo", 3])
def test_cv_euclidean_and_crossnobis_match_numpy(cv):
    X, labels = make_data(C=5, k=6, T=3)
    folds = ([np.array([f]) for f in range(6)] if cv == "loo"
             else [np.arange(6)[np.arange(6) % 3 == f] for f in range(3)])
    r = eeg_rdm(X, labels, method="cv_euclidean", cv=cv)
    np.testing.assert_allclose(r.data, numpy_cv_distance(X, labels, folds), atol=1e-12)
    assert r.meta["chance"] == 0.0
    w = numpy_whiteners(X, labels, folds, "time")
    r = eeg_rdm(X, labels, method="crossnobis", noise_normalization="time", cv=cv)
    np.testing.assert_allclose(r.data, numpy_cv_distance(X, labels, folds, w), atol=1e-10)
    assert eeg_rdm(X, labels, method="crossnobis").meta["noise_normalization"] == "epoch"


@pytest.mark.parametrize("method, noise", [("cv_euclidean", None), ("crossnobis", "time"),
                                           ("crossnobis", "epoch")])
def test_cv_distances_do_not_depend_on_threads(method, noise):
    # the folds run in threads with one intra-op thread each and are added in fold order: the
    # same bits with 1 and 2 torch threads (ordinary run and temporal generalisation), and right
    X, labels = make_data(n_cond=5, k=6, C=7, T=9, extra=())
    folds = [np.array([f]) for f in range(6)]
    got = {}
    for n in (1, 2):
        torch.set_num_threads(n)
        try:
            got[n] = [eeg_rdm(X, labels, method=method, noise_normalization=noise, generalization=g)
                      for g in (False, True)]
        finally:
            torch.set_num_threads(1)
    for a, b in zip(got[1], got[2]):
        np.testing.assert_array_equal(a.data, b.data)
    w = None if noise is None else numpy_whiteners(X, labels, folds, noise)
    np.testing.assert_allclose(got[2][0].data, numpy_cv_distance(X, labels, folds, w), atol=1e-10)
    np.testing.assert_array_equal(np.diagonal(got[2][1].data, axis1=-2, axis2=-1),
                                  got[2][0].data)  # the generalisation's diagonal is the ordinary run


@pytest.mark.parametrize("generalization", [False, True])
def test_cv_distances_cancel_and_failure_with_threads(generalization, monkeypatch):
    # the fold workers add in turn: a cancel from the progress callback, or a failing fold,
    # must end the run with that error (no worker left waiting for a turn that never comes)
    from rdm_widgets.eeg import _crossval

    X, labels = make_data(n_cond=4, k=8, C=5, T=6, extra=())
    torch.set_num_threads(2)
    try:
        def stop(done, total):
            if done > 0:
                raise Cancelled
        with pytest.raises(Cancelled):
            eeg_rdm(X, labels, method="cv_euclidean", progress=stop, generalization=generalization)
        real = _crossval.fold_means

        def fail(units, fold_of_unit, f, whiteners=None):
            if f == 3:
                raise RuntimeError("fold 3 failed")
            return real(units, fold_of_unit, f, whiteners)
        monkeypatch.setattr(_crossval, "fold_means", fail)
        if generalization:
            from rdm_widgets.eeg import _gen_kernels
            monkeypatch.setattr(_gen_kernels, "fold_means", fail)
        with pytest.raises(RuntimeError, match="fold 3 failed"):
            eeg_rdm(X, labels, method="crossnobis", generalization=generalization)
    finally:
        torch.set_num_threads(1)


def test_cv_euclidean_is_unbiased_without_signal():
    X, labels = make_data(n_cond=4, k=20, C=10, T=4, shift=0.0, extra=())
    d = eeg_rdm(X, labels, method="cv_euclidean").data
    assert abs(d[np.triu_indices(4, 1)].mean()) < 0.05 and (d < 0).any()


def planted_window(k, n_cond=4, C=6, T=20, seed=7):
    """Seeded epochs whose condition pattern is present only at time points 8..11."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), k)
    X = rng.standard_normal((n_cond * k, C, T))
    X[:, :, 8:12] += 1.5 * rng.standard_normal((n_cond, C, 1))[labels]
    return X, labels


def test_planted_signal_recovered_only_in_window():
    X, labels = planted_window(k=10)
    for method, inside, outside in [("lda", 0.8, 0.5), ("cv_euclidean", 0.5, 0.0)]:
        mt = eeg_rdm(X, labels, method=method).mean_timecourse()
        assert mt[8:12].min() > inside
        rest = np.r_[mt[:8], mt[12:]]
        assert np.abs(rest - outside).max() < 0.2, (method, rest)


# -------------------------------------------------------- pseudo-trials, groups
def test_pseudo_trials_reproducible_and_recorded():
    X, labels = make_data(n_cond=3, k=12, C=4, T=2)
    a = eeg_rdm(X, labels, pseudo_trials=4, n_permutations=3, random_state=5)
    b = eeg_rdm(X, labels, pseudo_trials=4, n_permutations=3, random_state=5)
    c = eeg_rdm(X, labels, pseudo_trials=4, n_permutations=3, random_state=6)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    assert a.meta["seed"] == 5 and a.meta["pseudo_trials"] == 4 and a.meta["n_permutations"] == 3
    d = eeg_rdm(X, labels, pseudo_trials=4)                 # no seed given: one is drawn, recorded
    np.testing.assert_array_equal(d.data, eeg_rdm(X, labels, pseudo_trials=4, random_state=d.meta["seed"]).data)
    for m in ("cv_euclidean", "lda_shrinkage"):  # pseudo-trials with k-fold over pseudo-trials
        r = eeg_rdm(X, labels, method=m, pseudo_trials=6, cv=3, random_state=1)
        assert r.shape == (3, 3, 2)


def test_pseudo_trials_match_documented_procedure_and_sklearn():
    # documented: per permutation, per condition (sorted), shuffle the first k trials with
    # default_rng(seed).permutation and deal them round-robin into K pseudo-trials, average.
    X, labels = make_data(n_cond=3, k=10, C=4, T=2, extra=())
    K, seed, n_perm = 4, 3, 2
    rng = np.random.default_rng(seed)
    conds, k, idx = _first_k(labels)
    ref = np.zeros((3, 3, 2))
    for _ in range(n_perm):
        pseudo = np.zeros((3 * K, 4, 2))
        for c in range(3):
            b = np.empty(k, dtype=int)
            b[rng.permutation(k)] = np.arange(k) % K
            for q in range(K):
                pseudo[c * K + q] = X[idx[c][b == q]].mean(0)
        ref += sklearn_rdm(pseudo, np.repeat(np.arange(3), K)) / n_perm
    r = eeg_rdm(X, labels, pseudo_trials=K, n_permutations=n_perm, random_state=seed)
    np.testing.assert_allclose(r.data, ref, atol=1e-12)


def test_assign_bins_never_splits_groups_and_is_balanced():
    rng = np.random.default_rng(0)
    n_cond, k = 4, 12
    groups = np.arange(n_cond)[:, None] * 10 + np.repeat(np.arange(4), 3)[None, :]  # 4 stimuli x 3 reps
    groups[:, -1] = 99                                          # one group spans every condition
    for r in (None, rng):
        bins = assign_bins(n_cond, k, 3, groups=groups, rng=r)
        for g in np.unique(groups):
            assert len(np.unique(bins[groups == g])) == 1
        assert all(len(np.unique(b)) == 3 for b in bins)
    with pytest.raises(ValueError, match="without splitting a group"):
        assign_bins(n_cond, k, 6, groups=groups)


def test_groups_prevent_stimulus_leakage():
    # conditions = categories with no category-level signal; each stimulus (group) has its own
    # pattern repeated 4 times. Splitting repetitions across train/test leaks stimulus identity.
    rng = np.random.default_rng(11)
    n_cond, n_stim, reps, C = 2, 6, 4, 8
    labels = np.repeat(np.arange(n_cond), n_stim * reps)
    groups = np.repeat(np.arange(n_cond * n_stim), reps)
    X = rng.standard_normal((len(labels), C, 1)) + 2.0 * rng.standard_normal((n_cond * n_stim, C, 1))[groups]
    leaky = eeg_rdm(X, labels, method="cv_euclidean", cv=4).data[0, 1, 0]
    safe = eeg_rdm(X, labels, method="cv_euclidean", cv=3, groups=groups)
    assert leaky > 0.5 and safe.data[0, 1, 0] < leaky / 3
    assert safe.meta["groups"] is True
    p = eeg_rdm(X, labels, method="lda", pseudo_trials=3, groups=groups, random_state=0)
    assert p.shape == (2, 2, 1)


def test_grouped_kfold_lda_matches_sklearn_loop():
    # unequal group sizes -> unequal train/test counts per condition and fold (balanced accuracy)
    rng = np.random.default_rng(4)
    sizes = [[3, 1, 2, 2, 1], [2, 2, 1, 3, 1], [1, 1, 2, 2, 3]]
    groups = np.concatenate([np.repeat(np.arange(len(s)) + 10 * c, s) for c, s in enumerate(sizes)])
    labels = np.repeat(np.arange(3), 9)
    X = rng.standard_normal((27, 4, 2)) + rng.standard_normal((3, 4, 1))[labels]
    r = eeg_rdm(X, labels, cv=3, groups=groups, method="lda_shrinkage", score="decision")
    bins = assign_bins(3, 9, 3, groups=groups.reshape(3, 9))
    ref = np.zeros((3, 3, 2))
    with threadpool_limits(1):
        for i in range(3):
            for j in range(i + 1, 3):
                for t in range(2):
                    vals = []
                    for f in range(3):
                        xi, xj = X[labels == i, :, t], X[labels == j, :, t]
                        tri, trj, tei, tej = bins[i] != f, bins[j] != f, bins[i] == f, bins[j] == f
                        m = LDA(solver="lsqr", shrinkage="auto").fit(
                            np.concatenate([xi[tri], xj[trj]]), [0] * tri.sum() + [1] * trj.sum())
                        vals.append(0.5 * (m.predict_proba(xi[tei])[:, 0].mean() + m.predict_proba(xj[tej])[:, 1].mean()))
                    ref[i, j, t] = ref[j, i, t] = np.mean(vals)
    np.testing.assert_allclose(r.data, ref, atol=1e-12)


# ------------------------------------------------------------------- time axis
def test_times_window_decim():
    X, labels = make_data(C=4, k=5, T=9)
    times = np.linspace(-0.2, 0.6, 9)
    r = eeg_rdm(X, labels, times=times, window=3, decim=2)
    manual = np.stack([X[:, :, s:s + 3].mean(2) for s in range(0, 7, 2)], axis=2)
    np.testing.assert_allclose(r.times, [times[s:s + 3].mean() for s in range(0, 7, 2)])
    np.testing.assert_array_equal(r.data, eeg_rdm(manual, labels).data)
    r2 = eeg_rdm(X, labels, decim=4)
    np.testing.assert_array_equal(r2.times, np.arange(9)[::4])
    assert r.meta["window"] == 3 and r.meta["decim"] == 2


# ----------------------------------------------------------------- result
def test_result_object_roundtrip(tmp_path):
    X, labels = make_data(C=4, k=5, T=3)
    names = [f"cond{c}" for c in labels]
    r = eeg_rdm(X, names, times=[0.0, 0.1, 0.2])
    assert "TimeResolvedRDM" in repr(r) and len(r) == 3
    assert np.asarray(r).shape == (3, 3, 3) and r[0, 1, 2] == r.data[0, 1, 2]
    iu = np.triu_indices(3, 1)
    np.testing.assert_allclose(r.mean_timecourse(), r.data[iu[0], iu[1]].mean(0))
    layer = r.at(1)
    np.testing.assert_array_equal(layer.matrix, r.data[:, :, 1])
    assert layer.stimuli == ["cond0", "cond1", "cond2"] and layer.meta["time"] == 0.1
    for key in ("method", "cv", "seed", "k", "n_trials_per_condition", "rdm_widgets_version", "chance"):
        assert key in r.meta
    path = r.save(tmp_path / "eeg_rdm")
    assert path.name == "eeg_rdm.npz"
    back = TimeResolvedRDM.from_file(path)
    np.testing.assert_array_equal(back.data, r.data)
    np.testing.assert_array_equal(back.times, r.times)
    assert back.conditions == r.conditions and back.meta == r.meta
    with pytest.raises(FileExistsError):
        r.save(path)
    r.save(path, overwrite=True)
    ints = eeg_rdm(X, labels)
    assert TimeResolvedRDM.from_file(ints.save(tmp_path / "i.npz")).conditions == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".*tmp"))


def test_progress_callback_and_cancel():
    X, labels = make_data(C=4, k=5, T=2)
    for kw in ({}, {"cv": 5}, {"method": "cv_euclidean"}, {"pseudo_trials": 3, "n_permutations": 2,
                                                            "random_state": 0}):
        calls = []
        eeg_rdm(X, labels, progress=lambda d, t: calls.append((d, t)), **kw)
        done = [d for d, _ in calls]
        assert done == sorted(done) and done[0] == 0 and done[-1] == calls[-1][1] > 0, kw

    assert eeg_rdm(X, labels, verbose=True).shape == (3, 3, 2)  # tqdm bar path

    def stop(done, total):
        if done > 0:
            raise Cancelled

    with pytest.raises(Cancelled):
        eeg_rdm(X, labels, progress=stop)


# ------------------------------------------------------------------ errors
def test_errors():
    X, labels = make_data(C=4, k=5, T=2)
    assert X.shape[0] == 17
    with pytest.raises(ValueError, match="Got 16 labels for 17 trials"):
        eeg_rdm(X, labels[:16])
    few = list(labels)
    few[0:4] = [1, 1, 1, 1]                      # condition 0 keeps 2 trials (0 at 5 and extra)
    with pytest.raises(ValueError, match=r"Condition\(s\) 0 \(2 trials\).*cv_euclidean.*pseudo_trials"):
        eeg_rdm(X, few)
    one = [9 if i else 0 for i in range(len(labels))]
    with pytest.raises(ValueError, match=r"Condition\(s\) 0 \(1 trial\)"):
        eeg_rdm(X, one, method="cv_euclidean")
    with pytest.raises(ValueError, match="Only one condition"):
        eeg_rdm(X, [1] * len(labels))
    with pytest.raises(ValueError, match="1-D"):
        eeg_rdm(X[:, 0, 0], labels)
    bad = X.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="trial 3, channel 2, time index 1"):
        eeg_rdm(bad, labels)
    bad[3, 2, 1] = np.inf
    with pytest.raises(ValueError, match="1 inf"):
        eeg_rdm(bad, labels)
    with pytest.raises(ValueError, match="Did you mean 'crossnobis'"):
        eeg_rdm(X, labels, method="crosnobis")
    with pytest.raises(ValueError, match="Did you mean 'epoch'"):
        eeg_rdm(X, labels, noise_normalization="epoc")
    with pytest.raises(ValueError, match="Did you mean 'decision'"):
        eeg_rdm(X, labels, score="decison")
    with pytest.raises(ValueError, match="LDA methods only"):
        eeg_rdm(X, labels, method="cv_euclidean", score="decision")
    with pytest.raises(ValueError, match="pseudo_trials=9 exceeds the 5 trials"):
        eeg_rdm(X, labels, pseudo_trials=9)
    with pytest.raises(ValueError, match="CUDA is not available"):
        if torch.cuda.is_available():
            raise ValueError("CUDA is not available (skipped: CUDA present)")
        eeg_rdm(X, labels, device="cuda")
    with pytest.raises(ValueError, match="'times' has 3 values"):
        eeg_rdm(X, labels, times=[0, 1, 2])
    with pytest.raises(ValueError, match="cv=7 folds"):
        eeg_rdm(X, labels, cv=7)
    with pytest.raises(ValueError, match="groups need whole groups"):
        eeg_rdm(X, labels, groups=np.arange(len(labels)))
    with pytest.raises(ValueError, match="n_permutations > 1"):
        eeg_rdm(X, labels, n_permutations=3)
    with pytest.raises(ValueError, match="shrinkage"):
        eeg_rdm(X, labels, method="lda_shrinkage", shrinkage=2.0)
    with pytest.raises(TypeError, match="random_state"):
        eeg_rdm(X, labels, pseudo_trials=3, random_state=np.random.default_rng(0))
    with pytest.raises(ValueError, match="window=30 is longer"):
        eeg_rdm(X, labels, window=30)

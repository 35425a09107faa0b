"""Tests of rdm_widgets.embedding (MDS): numpy eigen reference, exact Euclidean configurations,
scikit-learn's SMACOF with the same seed, reproducibility, validation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.demo import demo_path
from rdm_widgets.embedding import MDS_METHODS, canonical_pose, kruskal_stress, mds
from rdm_widgets.rdm import LayerRDM, load_rdm_stack


def _config(n=15, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)) * np.array([3.0, 1.5, 0.5, 0.3][:k])


def _same_up_to_sign(a, b, atol=1e-9):
    signs = np.sign((a * b).sum(0))
    np.testing.assert_allclose(a, b * signs, atol=atol)


def test_classical_matches_a_numpy_eigen_reference():
    rng = np.random.default_rng(1)
    d = squareform(pdist(rng.normal(size=(12, 6)), "cityblock"))   # not Euclidean
    n = d.shape[0]
    # reference: B from the explicit double-centring formula, float64 loop
    d2 = d ** 2
    b = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            b[i, j] = -0.5 * (d2[i, j] - d2[i].mean() - d2[:, j].mean() + d2.mean())
    vals, vecs = np.linalg.eigh(b)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    want = vecs[:, :3] * np.sqrt(vals[:3])
    e = mds(d, 3)
    _same_up_to_sign(e.coords, want)
    np.testing.assert_allclose(e.eigenvalues, vals, atol=1e-9)
    np.testing.assert_allclose(e.explained, vals[:3] / vals[vals > 0].sum())
    assert e.eigenvalues.min() < -1e-6           # city-block distances are not Euclidean
    assert e.stress == pytest.approx(kruskal_stress(want, d))


@pytest.mark.parametrize("k", [2, 3])
def test_classical_reproduces_an_exactly_euclidean_configuration(k):
    x = _config(k=k)
    d = squareform(pdist(x))
    e = mds(d, k)
    np.testing.assert_allclose(pdist(e.coords), pdist(x), atol=1e-10)
    assert e.stress < 1e-12
    # the coordinates are the principal components of the configuration (scikit-learn's PCA)
    from sklearn.decomposition import PCA

    _same_up_to_sign(e.coords, PCA(k).fit_transform(x))
    np.testing.assert_allclose(e.explained.sum(), 1.0)


def test_metric_equals_scikit_learn_with_the_same_seed():
    from sklearn.manifold import MDS
    import inspect

    d = squareform(pdist(_config(n=14, k=4, seed=3)))
    e = mds(d, 2, "metric", random_state=7, n_init=2)
    if "metric_mds" in inspect.signature(MDS).parameters:
        ref = MDS(2, metric_mds=True, metric="precomputed", init="random", n_init=2, random_state=7)
    else:
        ref = MDS(2, metric=True, dissimilarity="precomputed", n_init=2, random_state=7)
    emb = ref.fit_transform(d)
    # same solution: equal distances, and our pose is a rotation of scikit-learn's
    np.testing.assert_allclose(pdist(e.coords), pdist(emb), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.coords, canonical_pose(emb), atol=1e-10)
    assert e.stress == pytest.approx(kruskal_stress(emb, d))
    assert e.stress < mds(d, 1, "metric", random_state=7).stress   # more axes fit better


def test_reproducible_and_seeded():
    d = squareform(pdist(_config(n=10, k=4, seed=5)))
    a = mds(d, 2, "metric", random_state=3)
    b = mds(d, 2, "metric", random_state=3)
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(mds(d).coords, mds(d).coords)
    # the canonical pose: the largest coordinate of each axis is positive, axes by variance
    for e in (a, mds(d)):
        c = e.coords
        assert np.all(c[np.argmax(np.abs(c), axis=0), [0, 1]] > 0)
        np.testing.assert_allclose(c.mean(0), 0, atol=1e-12)
        assert c[:, 0].var() >= c[:, 1].var()


def test_nonmetric_equals_scikit_learn_and_fits_any_monotone_transform():
    from sklearn.isotonic import IsotonicRegression
    from sklearn.manifold import MDS
    import inspect

    d = squareform(pdist(_config(n=10, k=2, seed=2)))
    e = mds(d ** 3, 2, "nonmetric", random_state=0)          # a monotone transform: same ranks
    if "metric_mds" in inspect.signature(MDS).parameters:
        ref = MDS(2, metric_mds=False, metric="precomputed", init="random", n_init=4, random_state=0)
    else:
        ref = MDS(2, metric=False, dissimilarity="precomputed", n_init=4, random_state=0)
    emb = ref.fit_transform(d ** 3)
    np.testing.assert_allclose(pdist(e.coords), pdist(emb), rtol=1e-9, atol=1e-12)
    # stress-1 against the disparities, computed here from scipy distances + isotonic regression
    dist = pdist(emb)
    hat = IsotonicRegression().fit_transform(pdist(_config(n=10, k=2, seed=2)) ** 3, dist)
    assert e.stress == pytest.approx(np.sqrt(((dist - hat) ** 2).sum() / (dist ** 2).sum()))
    assert e.stress < 0.05      # the rank order of a 2-D configuration is fitted in 2-D


def test_canonical_pose_keeps_distances():
    x = np.random.default_rng(4).normal(size=(9, 3))
    y = canonical_pose(x)
    np.testing.assert_allclose(pdist(y), pdist(x), atol=1e-12)
    rot = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))[0]
    np.testing.assert_allclose(canonical_pose(x @ rot), y, atol=1e-10)   # pose independent of rotation


def test_layer_rdm_names_and_real_fmri():
    s = load_rdm_stack(demo_path("fmri_it"))
    names = [f"image_{i:02d}" for i in range(1, 79)]
    r = LayerRDM(s.mean(0), names, "IT")
    e = mds(r)
    assert e.stimuli == names and e.layer == "IT" and e.coords.shape == (78, 2)
    assert 0 < e.stress < 1 and np.all(np.isfinite(e.coords))
    assert 0 < e.explained.sum() < 1


def test_validation():
    d = squareform(pdist(_config(n=5)))
    with pytest.raises(ValueError, match=r"Invalid value for 'method': 'metrc'.*Did you mean 'metric'"):
        mds(d, method="metrc")
    with pytest.raises(ValueError, match=r"square \(n, n\).*\(2, 3\)"):
        mds(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_components.*give 1..4"):
        mds(d, 5)
    bad = d.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mds(bad)
    with pytest.raises(ValueError, match="negative"):
        mds(d - 1.0)
    with pytest.raises(ValueError, match="at least 3"):
        mds(np.zeros((2, 2)), 1)
    assert set(MDS_METHODS) == {"classical", "metric", "nonmetric"}

"""Correlation, cosine and euclidean from the features' own Gram matrix (rdm_widgets._distance_gram):
when the path is taken, that its RDMs are as close to float64 references (scipy) as the working copy's,
that it never touches the caller's array, and that everything it does not cover -- a large
common offset, extreme scales, NaN, another dtype -- goes through the working copy as before."""
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from _synthetic import relu_features
from rdm_widgets import _distance_gram as gram
from rdm_widgets import _distance_kernels as kernels
from rdm_widgets import _distance_triangle as tri
from rdm_widgets.distances import DegenerateRowsWarning, check_distance, pairwise_distances

CPU = torch.device("cpu")


def _features(n=60, d=700, seed=0):
    return relu_features(n, d, seed)


def _scipy(x, name):
    return squareform(pdist(np.asarray(x, dtype=np.float64), name))


def _path(x, name, dtype=torch.float32):
    """'gram' when the RDM will be computed on the caller's own rows (no working copy)."""
    block, state, _ = kernels.prepare_features(x, check_distance(name).spec, CPU, dtype)
    rows = state.x if block is gram.block_gram else state[0] if isinstance(state, tuple) else state
    return "gram" if np.shares_memory(rows.numpy(), np.asarray(x)) else "copy"


def _copy_path(x, name, **kw):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "_FROM_GRAM", {})
        return pairwise_distances(x, name, **kw)


def _err(ours, ref):
    return float(np.abs(ours.numpy().astype(np.float64) - ref).max())


@pytest.mark.parametrize("name", ["correlation", "cosine"])
@pytest.mark.parametrize("chunk_size", [None, 7, 25])
@pytest.mark.parametrize("rows", [256, 16], ids=["one-block", "triangle"])
def test_equals_scipy_and_the_working_copy(name, chunk_size, rows, monkeypatch):
    monkeypatch.setitem(tri._BLOCK_ROWS, "cpu", rows)
    x = _features()
    assert _path(x, name) == "gram"
    ref = _scipy(x, name)
    ours = pairwise_distances(x, name, chunk_size=chunk_size)
    copy = _copy_path(x, name, chunk_size=chunk_size)
    assert torch.equal(ours, ours.T) and not ours.diagonal().any()
    assert _err(ours, ref) < 1e-6
    assert _err(ours, ref) <= 2 * _err(copy, ref) + 1e-7
    ours64 = pairwise_distances(x.astype(np.float64), name, chunk_size=chunk_size, dtype="float64")
    assert _path(x.astype(np.float64), name, torch.float64) == "gram"
    np.testing.assert_allclose(ours64.numpy(), ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("key", ["features.18", "avgpool", "features.6"])
def test_real_mobilenet_features_as_close_as_the_working_copy(shared_data, key):
    """MobileNetV2 on the 78 images (../shared/data): |x|^2 / |x - mean|^2 is 1.0-2.4 there."""
    files = sorted((shared_data / "mobilenetv2_net2brain78").glob("image_*.npz"))
    x = np.stack([np.load(f)[key].reshape(-1).astype(np.float32) for f in files])
    for name in ("correlation", "cosine"):
        assert _path(x, name) == "gram"
        ref = _scipy(x, name)
        ours, copy = pairwise_distances(x, name), _copy_path(x, name)
        assert _err(ours, ref) < 2e-6
        assert _err(ours, ref) <= 2 * _err(copy, ref) + 1e-7


def test_never_modifies_the_callers_array():
    x = _features()
    before = x.copy()
    for name in ("correlation", "cosine", "euclidean", "sqeuclidean"):
        assert _path(x, name) == "gram"
        pairwise_distances(x, name, overwrite_x=True)
        pairwise_distances(torch.from_numpy(x), name, chunk_size=9)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name, kind", [("correlation", "constant"), ("cosine", "all-zero")])
def test_degenerate_rows_as_the_working_copy(name, kind):
    x = _features()
    x[3] = 0.0
    x[11] = 2.5
    assert _path(x, name) == "gram"
    with pytest.warns(DegenerateRowsWarning, match=kind) as rec:
        ours = pairwise_distances(x, name, chunk_size=13)
    with pytest.warns(DegenerateRowsWarning):
        copy = _copy_path(x, name, chunk_size=13)
    bad = [3, 11] if name == "correlation" else [3]
    np.testing.assert_array_equal(rec[0].message.indices, bad)
    assert torch.equal(ours[bad], copy[bad]) and torch.equal(ours[:, bad], copy[:, bad])
    good = np.setdiff1d(np.arange(len(x)), bad)
    ref = _scipy(x[good], name)
    assert _err(ours[good][:, good], ref) < 1e-6


def test_ratio_guard_keeps_offsets_on_the_working_copy():
    """A common offset makes |x|^2 / |x - mean|^2 large: the raw products would lose digits, so
    the RDM comes from the centred working copy; just inside the bound it stays accurate."""
    rng = np.random.default_rng(4)
    z = rng.standard_normal((40, 500)).astype(np.float32)
    z /= z.std(axis=1, keepdims=True)
    inside = z + np.float32(1.6)                     # ratio 1 + 1.6^2 = 3.56 <= 4
    far = z + np.float32(300.0)                      # ratio ~9e4
    assert _path(inside, "correlation") == "gram"
    assert _path(far, "correlation") == "copy"
    assert _path(far, "cosine") == "gram"            # cosine is not centred: no cancellation
    for x in (inside, far):
        ref = _scipy(x, "correlation")
        assert _err(pairwise_distances(x, "correlation"), ref) < 2e-6


def test_ratio_bound_is_what_the_guard_tests():
    x = _features(20, 300)
    state, *_ = gram.gram_rows(x, True, kernels._constant_from, CPU, torch.float32)
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(state.scale.numpy(), 1 / np.linalg.norm(centred, axis=1), rtol=1e-6)
    np.testing.assert_allclose(state.shift.numpy(), x64.sum(axis=1) / np.sqrt(300), rtol=1e-6)
    with pytest.MonkeyPatch.context() as mp:
        ratio = (x64 ** 2).sum(axis=1) / (centred ** 2).sum(axis=1)
        mp.setattr(gram, "MAX_RATIO", float(ratio.max()) * 0.99)
        assert gram.gram_rows(x, True, kernels._constant_from, CPU, torch.float32) is None
        mp.setattr(gram, "MAX_RATIO", float(ratio.max()) * 1.01)
        assert gram.gram_rows(x, True, kernels._constant_from, CPU, torch.float32) is not None


@pytest.mark.parametrize("name", ["correlation", "cosine"])
def test_what_the_path_leaves_to_the_working_copy(name):
    x = _features()
    assert _path(x.astype(np.float64), name) == "copy"          # another dtype: converted
    assert _path(np.asfortranarray(x), name) == "copy"          # not contiguous
    assert _path(x * np.float32(1e20), name) == "copy"          # squares overflow float32
    assert _path(x * np.float32(1e-25), name) == "copy"         # squares underflow
    for scale in (1e20, 1e-25):                                 # ... and the copy path's answer
        ours = pairwise_distances(x * np.float32(scale), name)
        assert _err(ours, _scipy(x, name)) < 1e-6
    bad = x.copy()
    bad[2, 5] = np.nan
    center = name == "correlation"
    rule = kernels._constant_from if center else kernels._zero_from
    assert gram.gram_rows(bad, center, rule, CPU, torch.float32) is None
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(bad, name)
    assert _path(x, "spearman") == "copy"                       # ranks need a copy


def test_custom_registered_one_minus_dot_takes_the_path_too():
    """Built-in pieces in a new registration get the same kernel (keyed by block, prepare and
    preprocess), and give the built-in's RDM."""
    spec = check_distance("cosine").spec
    x = _features()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from rdm_widgets.distances import register_distance, _REGISTRY
        mine = register_distance("cosine_again_for_test", spec.block, spec.prepare,
                                 degenerate=spec.degenerate)
        try:
            assert _path(x, mine.name) == "gram"
            assert torch.equal(pairwise_distances(x, mine.name), pairwise_distances(x, "cosine"))
        finally:
            _REGISTRY.pop(mine.name)


@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean"])
@pytest.mark.parametrize("rows", [256, 16], ids=["one-block", "triangle"])
def test_euclidean_equals_scipy_and_the_working_copy(name, rows, monkeypatch):
    monkeypatch.setitem(tri._BLOCK_ROWS, "cpu", rows)
    x = _features()
    assert _path(x, name) == "gram"
    ref = _scipy(x, name)
    for chunk_size in (None, 11):
        ours = pairwise_distances(x, name, chunk_size=chunk_size)
        copy = _copy_path(x, name, chunk_size=chunk_size)
        assert torch.equal(ours, ours.T) and not ours.diagonal().any()
        rel = _err(ours, ref) / ref.max()
        assert rel < 1e-6 and _err(ours, ref) <= 2 * _err(copy, ref) + 1e-6 * ref.max()
    np.testing.assert_allclose(pairwise_distances(x.astype(np.float64), name, dtype="float64").numpy(),
                               ref, rtol=1e-10, atol=1e-10 * ref.max())


def test_euclidean_close_pairs_are_refined_from_the_raw_norms():
    """Tight pairs far from the origin: their squared distances are tiny beside |x_i|^2 + |x_j|^2,
    so the Gram identity cancels; they are recomputed in float64 (the raw norms decide which)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 400)).astype(np.float32) * 3
    x = np.repeat(centres, 5, axis=0) + rng.normal(scale=1e-3, size=(30, 400)).astype(np.float32)
    assert _path(x, "euclidean") == "gram"
    ref = _scipy(x, "euclidean")
    ours = pairwise_distances(x, "euclidean").numpy()
    near = (ref > 0) & (ref < 0.1)
    np.testing.assert_allclose(ours[near], ref[near], rtol=2e-6)
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=1e-6 * ref.max())


def test_euclidean_offset_guard():
    x = _features()
    assert _path(x + np.float32(0.5), "euclidean") == "gram"     # energy / variance ~1.8
    far = x + np.float32(300.0)                                  # energy / variance ~1e5
    assert _path(far, "euclidean") == "copy"
    assert _err(pairwise_distances(far, "euclidean"), _scipy(x, "euclidean")) < 2e-5 * _scipy(x, "euclidean").max()
    same = np.tile(x[:1], (5, 1))                                # no variance at all
    assert _path(same, "euclidean") == "copy"
    assert not pairwise_distances(same, "euclidean").any()
    for scale in (1e20, 1e-25):                                  # power-of-two scaling: the copy
        assert _path(x * np.float32(scale), "euclidean") == "copy"

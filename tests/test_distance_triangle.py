"""One triangle of a symmetric RDM (rdm_widgets._distance_triangle) against the full path and scipy."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from rdm_widgets import _distance_triangle as tri
from rdm_widgets._progress import Cancelled
from rdm_widgets.distances import DegenerateRowsWarning, pairwise_distances

SCIPY = {"correlation": "correlation", "cosine": "cosine", "euclidean": "euclidean",
         "sqeuclidean": "sqeuclidean", "manhattan": "cityblock", "chebyshev": "chebyshev"}


@pytest.fixture(scope="module")
def planted():
    """70 stimuli in 5 planted clusters, 40 features, a large common offset (float32 cancellation)."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 40))
    return np.repeat(centres, 14, axis=0) + 0.3 * rng.normal(size=(70, 40)) + 3.0


def run(x, name, rows, **kw):
    """``pairwise_distances`` with triangle blocks of ``rows`` rows (huge: the full-product path)."""
    old = dict(tri._BLOCK_ROWS)
    tri._BLOCK_ROWS["cpu"] = rows
    try:
        return pairwise_distances(x, name, **kw).numpy()
    finally:
        tri._BLOCK_ROWS.clear()
        tri._BLOCK_ROWS.update(old)


def test_sub_blocks_cover_the_range_in_equal_blocks():
    for start, stop, rows in [(0, 70, 16), (10, 11, 16), (0, 1000, 256), (256, 1000, 256), (0, 513, 256)]:
        blocks = tri.sub_blocks(start, stop, rows)
        assert blocks[0][0] == start and blocks[-1][1] == stop
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        sizes = [e - s for s, e in blocks]
        assert max(sizes) <= rows and max(sizes) - min(sizes) <= 1 + len(sizes)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SCIPY) + ["spearman"])
def test_triangle_equals_full_path_and_scipy(planted, name, dtype):
    tri_rdm = run(planted, name, 16, dtype=dtype)          # 5 blocks of 14 rows
    full = run(planted, name, 10 ** 9, dtype=dtype)        # one (70, 70) block, both triangles averaged
    assert np.array_equal(tri_rdm, tri_rdm.T) and not np.diagonal(tri_rdm).any()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(tri_rdm, full, **tol)
    if name == "spearman":
        from scipy.stats import rankdata

        ref = squareform(pdist(rankdata(planted, axis=1), "correlation"), checks=False)
    else:
        ref = squareform(pdist(planted, SCIPY[name]), checks=False)
    scale = max(1.0, float(np.abs(ref).max()))
    tol = dict(rtol=1e-4, atol=1e-5 * scale) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(tri_rdm, ref, **tol)


@pytest.mark.parametrize("width", [20, 200])            # D < N: whitened rows; D > N: the Gram form
def test_triangle_mahalanobis(width):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, width))
    tri_rdm = run(x, "mahalanobis", 13, dtype="float64")
    full = run(x, "mahalanobis", 10 ** 9, dtype="float64")
    assert np.array_equal(tri_rdm, tri_rdm.T) and not np.diagonal(tri_rdm).any()
    np.testing.assert_allclose(tri_rdm, full, rtol=1e-10, atol=1e-12)


def test_chunks_are_cut_into_blocks_and_report_progress(planted):
    calls = []
    rdm = run(planted, "correlation", 8, chunk_size=30, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]       # one unit per chunk, as before
    ref = squareform(pdist(planted, "correlation"), checks=False)
    np.testing.assert_allclose(rdm, ref, rtol=1e-4, atol=1e-5)

    def stop(done, total):
        if done == 1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        run(planted, "correlation", 8, chunk_size=30, progress=stop)


def test_degenerate_rows_in_the_triangle(planted):
    x = planted.copy()
    x[[3, 50]] = 7.0                                         # constant rows: correlation undefined
    with pytest.warns(DegenerateRowsWarning):
        rdm = run(x, "correlation", 16)
    good = np.setdiff1d(np.arange(70), [3, 50])
    assert (rdm[[3, 50]][:, good] == 1).all() and (rdm[:, [3, 50]][good] == 1).all()
    assert rdm[3, 3] == 0 and rdm[3, 50] == 1
    ref = squareform(pdist(x[good], "correlation"))
    np.testing.assert_allclose(rdm[np.ix_(good, good)], ref, rtol=1e-4, atol=1e-5)


def test_one_block_is_the_full_path(planted):
    """An RDM of at most one block (and no chunks) runs the full product: the same bits."""
    a = run(planted, "correlation", 70)
    b = run(planted, "correlation", 10 ** 9)
    assert np.array_equal(a, b)


def test_custom_and_unlisted_distances_keep_the_full_path(planted):
    from rdm_widgets.distances import check_distance

    assert check_distance("correlation").spec.block in tri.LOWER
    f = lambda t: torch.cdist(t, t)                          # noqa: E731 -- a custom callable
    np.testing.assert_allclose(run(planted, f, 8, chunk_size=20, dtype="float64"),
                               squareform(pdist(planted)), rtol=1e-10, atol=1e-10)


def test_product_fraction_counts_the_products_of_the_blocks(monkeypatch):
    assert tri.product_fraction(256, None, "cpu") == 1.0                 # one block: the full product
    assert tri.product_fraction(1000, None, "cpu") == pytest.approx(5 / 8, abs=0.01)   # 4 blocks
    monkeypatch.setitem(tri._BLOCK_ROWS, "cpu", 16)
    # the products lower_triangle computes, counted from the shapes it hands to the kernel
    shapes = []
    out = torch.zeros(70, 70)

    def block(state, rows):
        shapes.append((rows.stop - rows.start, state.shape[0]))
        return torch.zeros(rows.stop - rows.start, state.shape[0])

    monkeypatch.setitem(tri.LOWER, block, tri._leading_rows)

    class Reporter:
        def update(self, n):
            pass

    tri.lower_triangle(block, torch.zeros(70, 3), out, [(0, 30), (30, 60), (60, 70)], 16, Reporter(), "t")
    assert sum(a * b for a, b in shapes) / 70 ** 2 == pytest.approx(tri.product_fraction(70, 30, "cpu"))



@pytest.mark.parametrize("n", [1, 7, 300, 1100])
def test_symmetrize_through_numpy_has_the_bits_of_torch(n):
    """The full-product path's symmetrisation (numpy on the CPU) = torch's (a + a.T) / 2, bit for bit."""
    from rdm_widgets._distance_kernels import symmetrize_

    a = torch.from_numpy(np.random.default_rng(n).normal(size=(n, n)).astype(np.float32))
    expected = (a + a.T) / 2
    symmetrize_(a)
    assert torch.equal(a, expected)

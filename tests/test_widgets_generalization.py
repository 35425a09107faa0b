"""Browserless tests of the temporal generalisation viewer and its figure builder."""
import numpy as np
import pytest

from _widget_helpers import _decode, _fig, _title, _z
from rdm_widgets.eeg import GeneralizationRDM, eeg_rdm
from rdm_widgets.plotting._generalization import generalization_figure
from rdm_widgets.widgets.generalization import GeneralizationViewer


def _fake_gen(n=4, t=6, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.random((n, n, t, t))
    d = (d + d.transpose(1, 0, 2, 3)) / 2
    d[np.arange(n), np.arange(n)] = 0
    d[0, 1, 3, 3] = d[1, 0, 3, 3] = 5.0          # the mean diagonal peaks at index 3
    return GeneralizationRDM(d, train_times=np.linspace(-0.1, 0.4, t), test_times=np.linspace(-0.1, 0.4, t),
                             conditions=[f"c{i}" for i in range(n)],
                             meta={"method": "lda", "score": "accuracy", "chance": 0.5,
                                   "dissimilarity": "decoding accuracy"})


def test_mean_map_shown_and_cell_at_the_diagonal_peak():
    res = _fake_gen()
    viewer = GeneralizationViewer(res)
    np.testing.assert_allclose(np.asarray(viewer.grid.matrix), res.mean_map())
    np.testing.assert_allclose(_z(viewer.map_figure), res.mean_map())
    assert viewer.cell == [3, 3] and viewer.pair == []
    assert len(viewer.pair_dropdown.options) == 1 + 6
    np.testing.assert_allclose(_z(viewer.cell_rdm), res.data[:, :, 3, 3])
    assert "trained at 0.2, tested at 0.2" in _title(viewer.cell_rdm)
    fig = _fig(viewer.map_figure)
    assert fig["layout"]["meta"]["kind"] == "generalization"
    marker = [tr for tr in fig["data"] if tr.get("name") == "selected"][0]
    assert _decode(marker["x"])[0] == pytest.approx(res.test_times[3])


def test_click_selects_cell_and_shows_its_rdm():
    res = _fake_gen(seed=1)
    viewer = GeneralizationViewer(res)
    viewer.grid.selected = [1, 4]                                 # what a click in the browser sets
    assert viewer.cell == [1, 4]
    np.testing.assert_allclose(_z(viewer.cell_rdm), res.data[:, :, 1, 4])
    assert "train 0" in viewer.cell_label.value and "test 0.3" in viewer.cell_label.value
    assert viewer.grid.selected == [1, 4]


def test_pair_dropdown_shows_that_pairs_map():
    res = _fake_gen(seed=2)
    viewer = GeneralizationViewer(res)
    viewer.pair_dropdown.value = (1, 3)
    assert viewer.pair == [1, 3]
    np.testing.assert_allclose(np.asarray(viewer.grid.matrix), res.data[1, 3])
    np.testing.assert_allclose(_z(viewer.map_figure), res.data[1, 3])
    assert "c1 vs c3" in _title(viewer.map_figure)
    viewer.pair = []                                               # back to the mean, from Python
    assert viewer.pair_dropdown.value is None
    np.testing.assert_allclose(_z(viewer.map_figure), res.mean_map())
    # a new result with other conditions resets the pair
    viewer.pair = [0, 2]
    viewer.result = _fake_gen(n=3, seed=3)
    assert viewer.pair == [] and len(viewer.pair_dropdown.options) == 1 + 3


def test_real_core_result():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 6)
    x = rng.normal(size=(18, 5, 5))
    x[labels == 1, 0, 2:] += 3
    res = eeg_rdm(x, labels, generalization=True)
    viewer = GeneralizationViewer(res)
    np.testing.assert_allclose(_z(viewer.map_figure), res.mean_map())
    viewer.grid.selected = [2, 4]
    np.testing.assert_allclose(_z(viewer.cell_rdm), res.data[:, :, 2, 4])


def test_figure_builder():
    z = np.arange(12.0).reshape(3, 4) / 12
    sig = np.zeros((3, 4), bool)
    sig[1, 1:3] = True
    fig = generalization_figure(z, [0.0, 0.1, 0.2], [0.0, 0.1, 0.2, 0.3], significant=sig, chance=0.5,
                                marker=(2, 3), title="t")
    np.testing.assert_allclose(np.asarray(fig.data[0].z), z)
    names = [tr.name for tr in fig.data]
    assert "train = test" in names and "significant" in names and "selected" in names
    zmin, zmax = fig.data[0].zmin, fig.data[0].zmax
    assert zmin + zmax == pytest.approx(1.0)                      # centred on chance
    assert fig.layout.yaxis.title.text.startswith("train time") and fig.layout.xaxis.title.text.startswith("test")
    with pytest.raises(ValueError, match="test_times"):
        generalization_figure(z, None, [0.0, 0.1])
    with pytest.raises(ValueError, match="significant"):
        generalization_figure(z, significant=np.zeros((4, 3), bool))
    with pytest.raises(ValueError, match="2-D"):
        generalization_figure(np.zeros(3))


def test_significant_cells_outlined_on_the_mean_map():
    """A cluster test over subjects' maps (planted effect in a block of cells) outlines its
    significant cells on the mean map, not on one pair's map; bad masks are refused."""
    from rdm_widgets.cluster import cluster_test

    res = _fake_gen(t=6, seed=4)
    rng = np.random.default_rng(5)
    maps = 0.5 + 0.02 * rng.standard_normal((10, 6, 6))
    maps[:, 2:5, 2:5] += 0.1                                       # every subject above chance there
    test = cluster_test(maps, chance=0.5, n_permutations=256)
    expected = test.significant(0.05)
    assert expected[2:5, 2:5].all() and not expected[0].any()
    viewer = GeneralizationViewer(res, significant=test)
    np.testing.assert_array_equal(viewer.significant, expected)
    contour = [tr for tr in _fig(viewer.map_figure)["data"] if tr.get("name") == "significant"]
    assert len(contour) == 1
    np.testing.assert_array_equal(np.asarray(_decode(contour[0]["z"])).reshape(6, 6) > 0.5, expected)
    viewer.pair = [0, 1]                                           # one pair: no group mask
    assert not [tr for tr in _fig(viewer.map_figure)["data"] if tr.get("name") == "significant"]
    viewer.pair = []
    assert [tr for tr in _fig(viewer.map_figure)["data"] if tr.get("name") == "significant"]
    viewer.significant = None
    assert not [tr for tr in _fig(viewer.map_figure)["data"] if tr.get("name") == "significant"]
    with pytest.raises(ValueError, match=r"\(6, 6\)"):
        viewer.significant = np.zeros((5, 6), bool)
    with pytest.raises(TypeError, match="boolean"):
        viewer.significant = np.zeros((6, 6))
    viewer.significant = expected
    viewer.result = _fake_gen(t=4, seed=6)                         # another result's size: mask dropped
    assert viewer.significant is None

"""Browserless tests of the RDM viewer: layer, subset, ordering, rank, colours, block means, thumbnails."""
import numpy as np
import pytest

from _widget_helpers import _fig, _title, _z
from rdm_widgets.demo import demo_path
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.widgets import RDMViewer
from rdm_widgets.widgets.rdm_viewer import parse_selection


def test_parse_selection():
    """Positions are 1-based as shown to the user: "1-10" is image_01 .. image_10."""
    names = [f"image_{i:02d}" for i in range(1, 11)]
    assert parse_selection("", names) is None
    assert parse_selection("1-3, 6", names) == [0, 1, 2, 5]
    assert [names[i] for i in parse_selection("1-10", names)] == names
    assert parse_selection("4:5 image_10", names) == [3, 4, 9]
    assert parse_selection("-1 1", names) == [9, 0]
    with pytest.raises(ValueError, match="Did you mean .*'image_01'"):
        parse_selection("image_1 image_02", names)
    with pytest.raises(ValueError, match="out of range"):
        parse_selection("1 99", names)
    with pytest.raises(ValueError, match="out of range"):
        parse_selection("0 1", names)
    with pytest.raises(ValueError, match="positions start at 1"):
        parse_selection("0-9", names)
    with pytest.raises(ValueError, match="at least 2"):
        parse_selection("3", names)


def test_colour_range_and_colour_bar_title_and_ticks():
    """The zero diagonal does not set the colour range; the colour bar says what the values are."""
    rng = np.random.default_rng(0)
    n = 78
    v = 0.6 + 0.8 * rng.random(n * (n - 1) // 2)          # 1 - r values in 0.6 .. 1.4
    rdm = LayerRDM.from_condensed(v, [f"image_{i + 1:02d}" for i in range(n)], "L", {"distance": "correlation"})
    viewer = RDMViewer({"L": rdm})
    trace = _fig(viewer.heatmap)["data"][0]
    assert trace["zmin"] == pytest.approx(v.min(), rel=1e-6) and trace["zmax"] == pytest.approx(v.max(), rel=1e-6)
    assert trace["colorbar"]["title"]["text"] == "1 − Pearson r"
    layout = _fig(viewer.heatmap)["layout"]
    assert layout["xaxis"]["showticklabels"] and layout["xaxis"]["tickfont"]["size"] < 10   # 78 > 60 names
    viewer.rank = True
    trace = _fig(viewer.heatmap)["data"][0]
    assert trace["colorbar"]["title"]["text"] == "rank of 1 − Pearson r"
    ranks = rdm.rank_transform().condensed()
    assert (trace["zmin"], trace["zmax"]) == (pytest.approx(ranks.min()), pytest.approx(ranks.max()))
    big = LayerRDM.from_condensed(rng.random(200 * 199 // 2), layer="B", meta={"distance": "euclidean"})
    viewer = RDMViewer({"B": big})
    layout = _fig(viewer.heatmap)["layout"]
    assert not layout["xaxis"]["showticklabels"] and "200 stimuli" in layout["xaxis"]["title"]["text"]
    assert _fig(viewer.heatmap)["data"][0]["colorbar"]["title"]["text"] == "Euclidean distance"


def test_viewer_subset_order_rank_colours():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (4, 6)) + 8, rng.normal(0, 1, (4, 6)) - 8])[[0, 4, 1, 5, 2, 6, 3, 7]]
    m = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    names = ["cat_1", "dog_1", "cat_2", "dog_2", "cat_3", "dog_3", "cat_4", "dog_4"]
    viewer = RDMViewer({"L1": LayerRDM(m, names, "L1", {"distance": "euclidean"}),
                        "L2": LayerRDM(2 * m, names, "L2", {"distance": "euclidean"})})
    assert viewer.layer_dropdown.options == ("L1", "L2")
    viewer.layer = "L1"
    np.testing.assert_allclose(_z(viewer.heatmap), m)
    viewer.subset = "dog_1, cat_1 3"
    np.testing.assert_allclose(_z(viewer.heatmap), m[np.ix_([1, 0, 2], [1, 0, 2])])
    assert _fig(viewer.heatmap)["data"][0]["x"] == ["dog_1", "cat_1", "cat_2"]
    viewer.subset = ""
    viewer.order = "category"
    assert _fig(viewer.heatmap)["data"][0]["x"] == ["cat_1", "cat_2", "cat_3", "cat_4",
                                                    "dog_1", "dog_2", "dog_3", "dog_4"]
    viewer.order = "cluster"
    shown = _fig(viewer.heatmap)["data"][0]["x"]
    assert {n[:3] for n in shown[:4]} in ({"cat"}, {"dog"})   # clusters contiguous
    viewer.order = "original"
    viewer.rank_checkbox.value = True
    assert viewer.rank
    np.testing.assert_allclose(_z(viewer.heatmap), LayerRDM(m, names).rank_transform().matrix)
    assert _title(viewer.heatmap) == "L1 · euclidean · ranks"
    viewer.colorscale_dropdown.value = "Magma"
    assert viewer.colorscale == "Magma"
    cs = _fig(viewer.heatmap)["data"][0]["colorscale"]
    assert cs[0][1].lower() in ("#000004", "rgb(0,0,4)")    # plotly's Magma starts near black
    viewer.layer_dropdown.value = "L2"
    assert _title(viewer.heatmap).startswith("L2 · euclidean")
    # a bad subset shows an error note and keeps the last figure
    viewer.subset = "cat_9"
    assert "Error: Unknown stimulus" in viewer.note and "Traceback" not in viewer.note


def test_viewer_large_n_shows_block_means_note():
    n = 1200
    rng = np.random.default_rng(0)
    v = rng.random(n * (n - 1) // 2)
    rdm = LayerRDM.from_condensed(v, layer="big", meta={"distance": "correlation"})
    viewer = RDMViewer({"big": rdm}, max_display=500)
    assert "block means of 3×3 stimuli (N = 1200)" in viewer.note
    z = _z(viewer.heatmap)
    assert z.shape == (400, 400)
    np.testing.assert_allclose(z[0, 1], rdm.matrix[0:3, 3:6].mean())
    viewer.subset = "1-100"
    assert viewer.note == "" and _z(viewer.heatmap).shape == (100, 100)


def test_viewer_thumbnails_for_image_stimuli():
    names = [f"image_{i:02d}" for i in range(1, 31)]
    m = np.random.default_rng(0).random((30, 30))
    viewer = RDMViewer({"L": LayerRDM((m + m.T) / 2 * (1 - np.eye(30)), names, "L")},
                       image_folder=demo_path("images"), max_thumbnails=5)
    assert viewer.thumbnails.value.count("data:image/jpeg;base64,") == 5
    assert "… and 25 more" in viewer.thumbnails.value
    viewer.subset = "image_03 image_07"
    html = viewer.thumbnails.value
    assert html.count("<img") == 2 and html.index("image_03") < html.index("image_07")


def test_mds_and_dendrogram_views():
    """A toggle between the heatmap, the MDS map (images where the stimuli have them) and the dendrogram."""
    from rdm_widgets.embedding import mds
    from rdm_widgets.ordering import order_by_clustering
    from rdm_widgets.rdm import load_rdm_stack

    s = load_rdm_stack(demo_path("fmri_it"))
    names = [f"image_{i:02d}" for i in range(1, 79)]
    rdm = LayerRDM(s.mean(0), names, "IT", {"distance": "correlation"})
    viewer = RDMViewer({"IT": rdm}, image_folder=demo_path("images"))
    viewer.subset = "1-12"
    assert viewer.mds_dropdown.layout.display == "none"
    viewer.view_buttons.value = "MDS"
    assert viewer.view == "MDS" and viewer.mds_dropdown.layout.display is None
    fig = _fig(viewer.heatmap)
    sub = rdm.subset(list(range(12)))
    want = mds(sub).coords
    pts = fig["data"][0]
    from _widget_helpers import _decode

    np.testing.assert_allclose(np.c_[_decode(pts["x"]), _decode(pts["y"])], want, atol=1e-10)
    assert list(pts["customdata"]) == names[:12]
    assert len(fig["layout"]["images"]) == 12            # a thumbnail per stimulus
    assert "stress-1" in fig["layout"]["title"]["text"]
    # the image of one stimulus, large
    assert [v for _, v in viewer.selected_dropdown.options][1:] == names[:12]
    viewer.selected_dropdown.value = "image_05"
    fig = _fig(viewer.heatmap)
    assert fig["layout"]["meta"]["selected"] == "image_05"
    assert any(im["name"] == "selected: image_05" for im in fig["layout"]["images"])
    # metric MDS, seeded: the core's result
    viewer.mds_method = "metric"
    fig = _fig(viewer.heatmap)
    np.testing.assert_allclose(np.c_[_decode(fig["data"][0]["x"]), _decode(fig["data"][0]["y"])],
                               mds(sub, 2, "metric", random_state=0).coords, atol=1e-8)
    # the dendrogram: its leaves are the 'cluster' ordering
    viewer.view = "dendrogram"
    fig = _fig(viewer.heatmap)
    assert fig["layout"]["meta"]["leaves"] == list(order_by_clustering(sub.matrix))
    assert list(fig["layout"]["xaxis"]["ticktext"]) == [names[i] for i in order_by_clustering(sub.matrix)]
    # back to the heatmap
    viewer.view = "heatmap"
    assert _fig(viewer.heatmap)["data"][0]["type"] == "heatmap"


def test_map_views_refuse_too_many_stimuli():
    from rdm_widgets.widgets.rdm_viewer import VIEWS

    n = VIEWS["dendrogram"] + 1
    rng = np.random.default_rng(0)
    rdm = LayerRDM.from_condensed(rng.random(n * (n - 1) // 2), None, "big")
    viewer = RDMViewer({"big": rdm})
    viewer.view = "dendrogram"
    assert f"up to {VIEWS['dendrogram']} stimuli" in viewer.note
    viewer.subset = "1-50"
    assert viewer.note == "" and _fig(viewer.heatmap)["layout"]["meta"]["leaves"]

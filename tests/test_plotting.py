"""Tests of rdm_widgets.plotting: heatmaps, block means, timecourses, mime bundles."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.demo import demo_path
from rdm_widgets._blocks import block_means
from rdm_widgets.plotting import (figure_config, figure_mime_bundle, model_comparison_figure, rdm_heatmap,
                                  rsa_timecourse_figure, timecourse_figure)
from rdm_widgets.rdm import LayerRDM, load_rdm_stack


def _rdm(n, seed=0):
    return squareform(pdist(np.random.default_rng(seed).normal(size=(n, 3))))


def test_no_plotly_at_import():
    code = ("import sys, rdm_widgets.plotting, rdm_widgets.rdm, rdm_widgets.rsa, rdm_widgets._atomic, rdm_widgets._safe_load; "
            "bad = [m for m in ('plotly', 'ipywidgets') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_heatmap_values_hover_and_layout():
    m = _rdm(5)
    names = [f"img_{i}" for i in range(5)]
    fig = rdm_heatmap(m, names, title="T", zmin=0, zmax=2)
    hm = fig.data[0]
    assert hm.type == "heatmap"
    np.testing.assert_array_equal(np.asarray(hm.z), m)
    assert list(hm.x) == names and list(hm.y) == names
    assert "%{y}" in hm.hovertemplate and "%{x}" in hm.hovertemplate and "%{z" in hm.hovertemplate
    assert hm.zmin == 0 and hm.zmax == 2 and hm.colorscale[0][1] == "#440154"  # Viridis
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.title.text == "T"
    assert fig.layout.meta["block_size"] == 1


def test_heatmap_from_layerrdm_with_indices_and_duplicates():
    r = LayerRDM(_rdm(4), ["a", "b", "a", "c"], "conv1")
    fig = rdm_heatmap(r, indices=[3, 0, 2])
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), r.matrix[np.ix_([3, 0, 2], [3, 0, 2])])
    # duplicate names would merge on a categorical axis, so they are made unique
    assert list(fig.data[0].x) == ["c", "a #1", "a #2"]
    assert fig.layout.title.text == "conv1"


def test_heatmap_of_an_array_with_names_indices_and_mask():
    m = _rdm(4)
    fig = rdm_heatmap(m, ["a", "b", "c", "d"], indices=["d", "b"])
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), m[np.ix_([3, 1], [3, 1])])
    assert list(fig.data[0].x) == ["d", "b"]
    fig = rdm_heatmap(m, indices=[True, False, True, True])
    assert list(fig.data[0].x) == ["0", "2", "3"]
    with pytest.raises(ValueError, match=r"Invalid value for 'indices': unknown stimulus name\(s\) \['x'\]"):
        rdm_heatmap(m, ["a", "b", "c", "d"], indices=["x"])
    with pytest.raises(IndexError, match="out of range"):
        rdm_heatmap(m, indices=[0, 9])
    with pytest.raises(ValueError, match="NaN"):
        rdm_heatmap(np.full((2, 2), np.nan))
    # a LayerRDM with other names: those names, its layer and distance
    r = LayerRDM(m, ["a", "b", "c", "d"], "conv1", {"distance": "euclidean"})
    fig = rdm_heatmap(r, stimuli=["w", "x", "y", "z"], indices=["z", "w"])
    assert list(fig.data[0].x) == ["z", "w"] and fig.layout.title.text == "conv1"
    assert fig.data[0].colorbar.title.text == "euclidean distance"


def test_plotting_does_not_import_the_rdm_container():
    # rdm.LayerRDM.plot imports plotting; plotting recognises LayerRDMs by their attributes
    import ast
    import inspect

    import rdm_widgets.plotting as plotting

    tree = ast.parse(inspect.getsource(plotting))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name and name.lstrip(".").split(".")[0] == "rdm" for name in imported), imported


def test_block_means_against_numpy():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(10, 10))
    got = block_means(m, 3)  # blocks 3,3,3,1
    edges = [0, 3, 6, 9, 10]
    want = np.array([[m[edges[i]:edges[i + 1], edges[j]:edges[j + 1]].mean() for j in range(4)]
                     for i in range(4)])
    np.testing.assert_allclose(got, want)


def test_heatmap_downsamples_large_rdm():
    n = 25
    m = _rdm(n, seed=2)
    names = [f"s{i:02d}" for i in range(n)]
    fig = rdm_heatmap(m, names, title="big", max_display=10)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (9, 9)  # k = ceil(25 / 10) = 3
    np.testing.assert_allclose(z, block_means(m, 3))
    np.testing.assert_allclose(z[0, 1], m[0:3, 3:6].mean())
    np.testing.assert_allclose(z[8, 8], m[24, 24])
    assert fig.layout.title.text == "big (block means of 3 x 3)"
    assert fig.data[0].x[0] == "s00 … s02 (3)" and fig.data[0].x[-1] == "s24 … s24 (1)"
    assert "mean" in fig.data[0].hovertemplate
    assert fig.layout.meta["block_size"] == 3


def test_heatmap_errors():
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        rdm_heatmap(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="max_display"):
        rdm_heatmap(np.zeros((2, 2)), max_display=0)


def test_heatmap_real_fmri():
    s = load_rdm_stack(demo_path("fmri_it"))
    fig = LayerRDM(s.mean(0), [f"image_{i:02d}" for i in range(1, 79)], "IT").plot()
    np.testing.assert_allclose(np.asarray(fig.data[0].z), s.mean(0))
    assert fig.data[0].y[77] == "image_78"


def test_timecourse_figure():
    t = np.linspace(-0.2, 0.8, 11)
    fig = timecourse_figure(t, {"a": np.sin(t), "b": np.cos(t)}, chance=0.5, marker_time=0.3,
                            ylabel="accuracy", title="tc")
    assert [tr.name for tr in fig.data] == ["a", "b"]
    np.testing.assert_allclose(np.asarray(fig.data[1].y), np.cos(t))
    np.testing.assert_allclose(np.asarray(fig.data[0].x), t)
    shapes = fig.layout.shapes
    assert len(shapes) == 2
    assert shapes[0].y0 == shapes[0].y1 == 0.5
    assert shapes[1].x0 == shapes[1].x1 == 0.3
    assert fig.layout.xaxis.title.text == "Time (s)" and fig.layout.yaxis.title.text == "accuracy"
    single = timecourse_figure(t, np.zeros(11))
    assert len(single.data) == 1 and len(single.layout.shapes) == 0
    with pytest.raises(ValueError, match=r"'a' has shape \(3,\); expected \(11,\)"):
        timecourse_figure(t, {"a": np.zeros(3)})


def test_figure_mime_bundle():
    fig = rdm_heatmap(_rdm(3), title="x")
    bundle = figure_mime_bundle(fig)
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/plain"}
    payload = bundle["application/vnd.plotly.v1+json"]
    assert set(payload) >= {"data", "layout", "config"}
    json.dumps(bundle)  # must be JSON-serialisable for ipywidgets.Output.outputs
    assert payload["data"][0]["type"] == "heatmap"
    assert payload["layout"]["title"]["text"] == "x"
    # the plotly renderer can rebuild the figure from it
    import plotly.graph_objects as go

    z = payload["data"][0]["z"]
    if isinstance(z, dict):  # plotly >= 6 typed array
        shape = tuple(int(v) for v in str(z["shape"]).split(","))
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    np.testing.assert_allclose(np.asarray(z, dtype=float), np.asarray(fig.data[0].z))
    rebuilt = go.Figure(payload["data"], payload["layout"])
    assert rebuilt.data[0].type == "heatmap"


def test_colour_bar_says_what_the_values_are():
    m = _rdm(5)
    assert rdm_heatmap(LayerRDM(m, meta={"distance": "correlation"})).data[0].colorbar.title.text \
        == "correlation distance (1 − r)"
    ranked = LayerRDM(m, meta={"distance": "euclidean"}).rank_transform()
    assert rdm_heatmap(ranked).data[0].colorbar.title.text == "rank of euclidean distance (0–1)"
    eeg = LayerRDM(m, meta={"dissimilarity": "decoding accuracy"})
    assert rdm_heatmap(eeg).data[0].colorbar.title.text == "decoding accuracy"
    assert rdm_heatmap(m).data[0].colorbar.title.text in (None, "")


def test_colour_range_ignores_the_zero_diagonal():
    m = _rdm(6) + 5.0
    np.fill_diagonal(m, 0.0)
    hm = rdm_heatmap(m).data[0]
    iu = np.triu_indices(6, 1)
    assert hm.zmin == pytest.approx(m[iu].min()) and hm.zmax == pytest.approx(m[iu].max())
    hm = rdm_heatmap(m, zmin=0, zmax=10).data[0]       # an explicit range wins
    assert (hm.zmin, hm.zmax) == (0, 10)


def test_tick_labels_above_60_stimuli():
    names = [f"image_{i:02d}" for i in range(1, 79)]
    fig = rdm_heatmap(_rdm(78), names)
    ticks = list(fig.layout.xaxis.tickvals)
    assert ticks == names[::2] and list(fig.layout.yaxis.tickvals) == ticks
    assert fig.layout.xaxis.showticklabels is not False
    assert rdm_heatmap(_rdm(10)).layout.xaxis.tickvals is None      # small: every label


def test_figure_config_image_format():
    cfg = figure_config("svg", filename="rsa")
    assert cfg["toImageButtonOptions"] == {"format": "svg", "filename": "rsa", "scale": 2.0}
    bundle = figure_mime_bundle(rdm_heatmap(_rdm(3)), config=cfg)
    assert bundle["application/vnd.plotly.v1+json"]["config"]["toImageButtonOptions"]["format"] == "svg"
    with pytest.raises(ValueError, match="image_format"):
        figure_config("bmp")


def _table():
    from rdm_widgets.model_rsa import model_brain_table
    from rdm_widgets.rdm_files import RDMSet

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3)) + 3.0 * (np.arange(10) % 2)[:, None]
    names = [f"s{i}" for i in range(10)]
    subj = np.stack([squareform(pdist(x + 0.5 * rng.normal(size=x.shape))) for _ in range(6)])
    models = {"net": {"good": LayerRDM(squareform(pdist(x)), names),
                      "noise": LayerRDM(_rdm(10, seed=4), names)},
              "other": {"good": LayerRDM(squareform(pdist(x + rng.normal(size=x.shape))), names)}}
    return model_brain_table(models, {"EVC": RDMSet(subj, names), "one": RDMSet(subj[0], names)},
                             n_permutations=200)


def test_model_comparison_figure_bars_ceiling_and_stars():
    tab = _table()
    fig = model_comparison_figure(tab)
    bars = [tr for tr in fig.data if tr.type == "bar"]
    assert [(tr.name, tr.xaxis) for tr in bars] == [("net", "x"), ("other", "x"), ("net", "x2"), ("other", "x2")]
    evc_net = tab.select(brain="EVC", model="net")
    np.testing.assert_allclose(bars[0].y, [r["r"] for r in evc_net])
    assert list(bars[0].x) == ["good", "noise"]
    np.testing.assert_allclose(bars[0].error_y.array, [r["r_sem"] for r in evc_net])
    stars = [tr for tr in fig.data if tr.type == "scatter"]
    assert [(tr.name, tr.xaxis, tr.offsetgroup) for tr in stars][:2] == [("net p_FDR ≤ 0.05", "x", "net"),
                                                                       ("other p_FDR ≤ 0.05", "x", "other")]
    assert list(stars[0].text) == ["*" if r["p_fdr"] <= 0.05 else "" for r in evc_net]
    assert stars[0].text[0] == "*"
    np.testing.assert_allclose(stars[0].y, [max(r["r"], 0) + r["r_sem"] for r in evc_net])
    # the noise ceiling of the stack as a rectangle; none for the single RDM
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1 and rects[0].xref == "x domain"
    assert (rects[0].y0, rects[0].y1) == pytest.approx((evc_net[0]["noise_lower"], evc_net[0]["noise_upper"]))
    assert fig.layout.meta["noise_ceiling"] == {"EVC": [rects[0].y0, rects[0].y1]}
    assert "spearman" in fig.layout.title.text and fig.layout.yaxis.title.text == "spearman r"
    json.dumps(figure_mime_bundle(fig))


def test_rsa_timecourse_figure_marks_significant_times():
    from rdm_widgets.model_rsa import TimecourseTest

    t = np.linspace(0, 0.9, 10)
    p = np.where((t > 0.25) & (t < 0.65), 0.001, 0.5)
    test = TimecourseTest(r=np.sin(t), p=p, p_fdr=p, times=t, method="pearson", n_permutations=999,
                          n_conditions=8)
    flat = TimecourseTest(r=np.zeros(10), p=np.ones(10), p_fdr=np.ones(10), times=t, method="pearson",
                          n_permutations=999, n_conditions=8)
    fig = rsa_timecourse_figure({"conv": test, "fc": flat}, marker_time=0.3)
    names = [tr.name for tr in fig.data]
    assert names == ["conv", "conv p_FDR ≤ 0.05", "fc"]
    np.testing.assert_allclose(fig.data[0].y, np.sin(t))
    np.testing.assert_allclose(fig.data[1].x, t[p < 0.05])
    assert fig.layout.yaxis.title.text == "pearson r"
    assert any(s.x0 == 0.3 for s in fig.layout.shapes)

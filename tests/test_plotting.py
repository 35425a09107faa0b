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
from rdm_widgets.plotting import block_means, figure_mime_bundle, rdm_heatmap, timecourse_figure
from rdm_widgets.rdm import LayerRDM, load_rdm_stack


def _rdm(n, seed=0):
    return squareform(pdist(np.random.default_rng(seed).normal(size=(n, 3))))


def test_no_plotly_at_import():
    code = ("import sys, rdm_widgets.plotting, rdm_widgets.rdm, rdm_widgets.rsa, rdm_widgets._io; "
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

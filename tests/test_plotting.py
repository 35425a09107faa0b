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


# ---------------------------------------------------------------------- bands, clusters, groups
def test_timecourse_band_and_significant_mask():
    from rdm_widgets.plotting import mask_spans

    t = np.linspace(0.0, 0.9, 10)                 # 0.1 s steps
    y = np.sin(t)
    lo, hi = y - 0.1, y + 0.2
    mask = np.zeros(10, bool)
    mask[[2, 3, 4, 8]] = True
    fig = timecourse_figure(t, {"m": y}, chance=0.0, band={"m": (lo, hi)}, significant=mask)
    band, line = fig.data[0], fig.data[1]
    assert band.name == "m band" and band.fill == "toself" and line.name == "m"
    np.testing.assert_allclose(band.x, np.concatenate([t, t[::-1]]))
    np.testing.assert_allclose(band.y, np.concatenate([hi, lo[::-1]]))
    np.testing.assert_allclose(line.y, y)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    # a span per run of True, half a sample either side of its first and last sample
    want = [(t[2] - 0.05, t[4] + 0.05), (t[8] - 0.05, t[8] + 0.05)]
    assert [(r.x0, r.x1) for r in rects] == [pytest.approx(w) for w in want]
    assert [tuple(s[:2]) for s in fig.layout.meta["spans"]] == [pytest.approx(w) for w in want]
    # the runs equal a plain loop over the mask
    runs, start = [], None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        if not m and start is not None:
            runs.append((start, i - 1))
            start = None
    assert [(a, b) for a, b, _ in mask_spans(np.arange(10.0), mask)] == [(a - 0.5, b + 0.5) for a, b in runs]
    bars = [tr for tr in fig.data if tr.name.startswith("cluster")]
    assert len(bars) == 2 and "significant" in bars[0].hovertemplate
    with pytest.raises(ValueError, match=r"mask has shape \(3,\); expected \(10,\)"):
        timecourse_figure(t, y, significant=np.ones(3, bool))
    with pytest.raises(ValueError, match="'band' names"):
        timecourse_figure(t, {"m": y}, band={"x": (lo, hi)})


def test_timecourse_spans_with_p_in_hover():
    t = np.linspace(-0.1, 0.5, 7)
    fig = timecourse_figure(t, np.cos(t), significant=[(0.1, 0.3, 0.004), (0.4, 0.5)])
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(0.1, 0.3), (0.4, 0.5)]
    bars = [tr for tr in fig.data if tr.name.startswith("cluster")]
    assert "p = 0.004" in bars[0].hovertemplate and "0.100–0.300 s" in bars[0].hovertemplate
    assert len(timecourse_figure(t, np.cos(t), significant=[]).layout.shapes) == 0


def _fake_group(n_subjects=5, seed=0):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class FakeTest:
        def spans(self, alpha=0.05):
            return [(0.2, 0.35, 0.01)] if alpha >= 0.01 else []

    rng = np.random.default_rng(seed)
    times = np.linspace(-0.1, 0.6, 15)
    values = 0.5 + 0.1 * np.exp(-((times - 0.3) / 0.1) ** 2) + 0.02 * rng.normal(size=(n_subjects, 15))

    @dataclass(frozen=True)
    class FakeGroup:
        times: np.ndarray
        values: np.ndarray
        subjects: list
        mean: np.ndarray
        sem: np.ndarray
        chance: float
        label: str
        test: object

    return FakeGroup(times, values, [f"S{i}" for i in range(n_subjects)], values.mean(0),
                     values.std(0, ddof=1) / np.sqrt(n_subjects), 0.5, "decoding accuracy", FakeTest())


def test_group_timecourse_figure():
    from rdm_widgets.plotting import group_timecourse_figure

    g = _fake_group()
    fig = group_timecourse_figure(g, show_subjects=True)
    band, line = fig.data[0], fig.data[1]
    np.testing.assert_allclose(line.y, g.mean)
    np.testing.assert_allclose(band.y, np.concatenate([g.mean + g.sem, (g.mean - g.sem)[::-1]]))
    assert line.name == "mean decoding accuracy" and fig.layout.yaxis.title.text == "decoding accuracy"
    assert any(s.type == "line" and s.y0 == s.y1 == 0.5 for s in fig.layout.shapes)      # chance
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(0.2, 0.35)]
    assert fig.layout.meta["n_subjects"] == 5 and "n = 5" in fig.layout.title.text
    subjects = [tr for tr in fig.data if tr.name in g.subjects]
    assert len(subjects) == 5
    np.testing.assert_allclose(subjects[2].y, g.values[2])
    # stricter alpha: nothing shaded
    assert not [s for s in group_timecourse_figure(g, alpha=0.001).layout.shapes if s.type == "rect"]


def test_rsa_timecourse_figure_shades_clusters():
    from rdm_widgets.model_rsa import TimecourseTest

    t = np.linspace(0, 0.9, 10)
    test = TimecourseTest(r=np.sin(t), p=np.ones(10), p_fdr=np.ones(10), times=t, method="pearson",
                          n_permutations=99, n_conditions=8)
    mask = (t > 0.25) & (t < 0.55)
    fig = rsa_timecourse_figure({"conv": test, "fc": test}, clusters={"fc": mask})
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1 and (rects[0].x0, rects[0].x1) == pytest.approx((0.25, 0.55))
    assert fig.layout.meta["spans"]["fc"][0][:2] == pytest.approx([0.25, 0.55])
    assert [tr.name for tr in fig.data][:2] == ["conv", "fc"]
    with pytest.raises(ValueError, match="'clusters' layers"):
        rsa_timecourse_figure({"conv": test}, clusters={"x": mask})


def test_model_comparison_bootstrap_ci_and_pairwise_brackets():
    tab = _table()
    rows = [dict(r) for r in tab.rows]
    for i, r in enumerate(rows):                        # CIs on the EVC rows only
        if r["brain"] == "EVC":
            r["ci_low"], r["ci_high"] = r["r"] - 0.05 - 0.01 * i, r["r"] + 0.1
        else:
            r["ci_low"] = r["ci_high"] = float("nan")
    from dataclasses import replace

    tab_ci = replace(tab, rows=rows)
    pairs = [{"model_a": "net/good", "model_b": "net/noise", "p_corrected": 0.0004, "brain": "EVC"},
             {"model_a": "net/good", "model_b": "other", "p_corrected": 0.5}]
    fig = model_comparison_figure(tab_ci, pairwise=pairs)
    bars = [tr for tr in fig.data if tr.type == "bar"]
    evc_net = tab_ci.select(brain="EVC", model="net")
    np.testing.assert_allclose(bars[0].error_y.array, [r["ci_high"] - r["r"] for r in evc_net])
    np.testing.assert_allclose(bars[0].error_y.arrayminus, [r["r"] - r["ci_low"] for r in evc_net])
    assert bars[0].error_y.symmetric is False
    # rows without a CI keep the SEM
    one_net = tab_ci.select(brain="one", model="net")
    np.testing.assert_allclose(bars[2].error_y.array, [r["r_sem"] if np.isfinite(r["r_sem"]) else 0 for r in one_net])
    assert fig.layout.meta["error"] == "bootstrap CI" and "bootstrap CI" in fig.layout.title.text
    # one bracket (the significant pair) over the two bars of model 'net' in the EVC panel
    assert fig.layout.meta["pairwise"] == [["EVC", "net · good", "net · noise", 0.0004]]
    lines = [s for s in fig.layout.shapes if s.type == "line" and s.xref == "x"]
    assert len(lines) == 3
    # bars of 2 models per category, bargap 0.2: 'net' is slot 0 of 2 (centre at index - 0.2)
    assert sorted({s.x0 for s in lines}) == pytest.approx([0 - 0.2, 1 - 0.2])
    marks = [a for a in fig.layout.annotations if a.text == "***"]
    assert len(marks) == 1 and "p corrected = 0.0004" in marks[0].hovertext
    with pytest.raises(ValueError, match="names no two bars"):
        model_comparison_figure(tab, pairwise=[{"model_a": "x", "model_b": "net/good", "p_corrected": 0.01}])
    with pytest.raises(ValueError, match="needs keys"):
        model_comparison_figure(tab, pairwise=[{"model_a": "net/good"}])
    # without CIs: unchanged (SEM, symmetric)
    assert model_comparison_figure(tab).layout.meta["error"] == "SEM"


# ---------------------------------------------------------------------- MDS and dendrogram
def test_mds_figure_names_categories_and_images(tmp_path):
    from rdm_widgets.embedding import mds
    from rdm_widgets.plotting import mds_figure

    s = load_rdm_stack(demo_path("fmri_it"))
    names = [f"image_{i:02d}" for i in range(1, 79)]
    rdm = LayerRDM(s.mean(0)[:12, :12], names[:12], "IT")
    cats = ["a" if i % 2 else "b" for i in range(12)]
    fig = mds_figure(rdm, images=demo_path("images"), categories=cats, selected="image_03")
    e = mds(rdm)
    pts = [tr for tr in fig.data if tr.mode == "markers"]
    assert [tr.name for tr in pts] == ["b", "a"]
    idx_b = [i for i in range(12) if cats[i] == "b"]
    np.testing.assert_allclose(np.c_[pts[0].x, pts[0].y], e.coords[idx_b])
    assert list(pts[0].customdata) == [names[i] for i in idx_b] and "%{customdata}" in pts[0].hovertemplate
    # a thumbnail at each point, plus the selected image in the corner
    thumbs = [im for im in fig.layout.images if not im.name.startswith("selected")]
    assert [im.name for im in thumbs] == names[:12]
    assert (thumbs[4].x, thumbs[4].y) == pytest.approx(tuple(e.coords[4]))
    assert thumbs[0].source.startswith("data:image/")
    assert [im.name for im in fig.layout.images if im.name.startswith("selected")] == ["selected: image_03"]
    assert fig.layout.meta["selected"] == "image_03" and fig.layout.yaxis.scaleanchor == "x"
    assert "classical" in fig.layout.title.text and "%" in fig.layout.xaxis.title.text
    # coordinates in, a folder with only some images: images only for those
    (tmp_path / "p1.png").write_bytes((demo_path("images") / "image_01.jpg").read_bytes())
    fig = mds_figure(np.array([[0, 0], [1, 0], [0, 2.0]]), names=["p0", "p1", "p2"], images=tmp_path)
    assert fig.layout.meta["with_images"] == ["p1"] and len(fig.layout.images) == 1
    assert not fig.layout.showlegend
    with pytest.raises(ValueError, match="'selected'"):
        mds_figure(rdm, selected="nope")
    with pytest.raises(ValueError, match="3 names for 2 points"):
        mds_figure(np.zeros((2, 2)), names=["a", "b", "c"])
    json.dumps(figure_mime_bundle(fig))


def test_dendrogram_leaf_order_equals_order_by_clustering():
    from scipy.cluster.hierarchy import dendrogram, linkage, optimal_leaf_ordering

    from rdm_widgets.ordering import order_by_clustering
    from rdm_widgets.plotting import dendrogram_figure

    m = _rdm(14, seed=6)
    names = [f"s{i}" for i in range(14)]
    for method in ("average", "complete"):
        fig = dendrogram_figure(LayerRDM(m, names, "L"), method=method)
        order = order_by_clustering(m, method=method)
        assert fig.layout.meta["leaves"] == list(order)
        assert list(fig.layout.xaxis.ticktext) == [names[i] for i in order]
        # scipy directly on the condensed RDM
        c = squareform(m, checks=False)
        ref = dendrogram(optimal_leaf_ordering(linkage(c, method), c), no_plot=True)
        assert fig.layout.meta["leaves"] == ref["leaves"]
        ys = np.concatenate([np.asarray([v for v in tr.y if v is not None], float) for tr in fig.data])
        np.testing.assert_allclose(np.sort(np.unique(ys))[-1], np.max(ref["dcoord"]))
    assert "L" in fig.layout.title.text
    with pytest.raises(ValueError, match="Invalid value for 'method'"):
        dendrogram_figure(m, method="ward")


def test_group_timecourse_figure_of_the_cluster_module():
    from rdm_widgets.cluster import group_timecourse
    from rdm_widgets.plotting import group_timecourse_figure

    rng = np.random.default_rng(3)
    t = np.round(np.arange(30) * 0.01, 10)
    x = 0.5 + 0.02 * rng.normal(size=(10, 30))
    x[:, 12:20] += 0.05                                      # planted effect at 0.12..0.19 s
    g = group_timecourse(x, chance=0.5, times=t, n_permutations=512, label="decoding accuracy")
    fig = group_timecourse_figure(g)
    spans = g.test.spans(0.05)
    assert spans, g.test
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    # each of the test's spans (first..last significant sample), half a sample wider
    assert [(r.x0, r.x1) for r in rects] == [pytest.approx((a - 0.005, b + 0.005)) for a, b, _ in spans]
    bars = [tr for tr in fig.data if tr.name.startswith("cluster")]
    assert [f"p = {p:.3g}" in tr.hovertemplate for (_, _, p), tr in zip(spans, bars)] == [True] * len(spans)
    np.testing.assert_allclose(fig.data[1].y, x.mean(0))
    sem = x.std(0, ddof=1) / np.sqrt(10)
    np.testing.assert_allclose(fig.data[0].y, np.concatenate([x.mean(0) + sem, (x.mean(0) - sem)[::-1]]))


def test_model_comparison_brackets_from_bootstrap_compare():
    from rdm_widgets.bootstrap import bootstrap_compare
    from rdm_widgets.model_rsa import model_brain_table
    from rdm_widgets.rdm_files import RDMSet

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)) + 3.0 * (np.arange(12) % 2)[:, None]
    names = [f"s{i}" for i in range(12)]
    subj = RDMSet(np.stack([squareform(pdist(x + 0.5 * rng.normal(size=x.shape))) for _ in range(8)]), names)
    models = {"good": LayerRDM(squareform(pdist(x)), names), "noise": LayerRDM(_rdm(12, seed=4), names),
              "half": LayerRDM(squareform(pdist(x + 1.5 * rng.normal(size=x.shape))), names)}
    tab = model_brain_table(models, {"EVC": subj}, n_permutations=50)
    pc = bootstrap_compare(models, subj, over="subjects", n_bootstrap=200, random_state=0)
    fig = model_comparison_figure(tab, pairwise={"EVC": pc})
    want = [["EVC", f"model · {r['a']}", f"model · {r['b']}", r["p_corrected"]]
            for r in pc.select("models") if r["p_corrected"] <= 0.05]
    assert want and sorted(fig.layout.meta["pairwise"]) == sorted(want)
    # narrow brackets below wide ones: the horizontal bars' widths grow with their height
    tops = sorted((s.y0, s.x1 - s.x0) for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1)
    assert len(tops) == len(want) and [w for _, w in tops] == sorted(w for _, w in tops)
    assert len([a for a in fig.layout.annotations if a.hovertext and "p corrected" in a.hovertext]) == len(want)


def test_mds_figure_tells_an_rdm_from_coordinates():
    from rdm_widgets.embedding import mds
    from rdm_widgets.plotting import mds_figure

    d = _rdm(3, seed=1)                                    # a 3 x 3 RDM: embedded
    fig = mds_figure(d, method="classical")
    np.testing.assert_allclose(np.c_[fig.data[0].x, fig.data[0].y], mds(d).coords)
    coords = np.array([[0.0, 1.0, 5.0], [2.0, 0.0, 1.0], [1.0, 3.0, 0.5]])   # 3 points in 3-D: not an RDM
    fig = mds_figure(coords)
    np.testing.assert_allclose(np.c_[fig.data[0].x, fig.data[0].y], coords[:, :2])
    assert fig.layout.meta["stimuli"] == ["0", "1", "2"]

"""Widgets of issue 17 without a browser: the creation panel's time-resolved and reduction options,
and the model-time viewer (slider over model time, model time x brain time RSA map)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from _widget_helpers import TIMEOUT, _decode, _fig, _title, _z
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.rsa import rsa_timecourse
from rdm_widgets.widgets.creation import RDMCreationPanel
from rdm_widgets.widgets.model_time import ModelTimeViewer


def _video_root(tmp_path, n=6, clips=3, seed=0):
    rng = np.random.default_rng(seed)
    folder = tmp_path / "root" / "video"
    folder.mkdir(parents=True)
    x = rng.normal(size=(n, clips, 8)).astype(np.float32)
    for i in range(n):
        np.savez(folder / f"clip_{i}.npz", frames=x[i][None])
    return folder.parent, x


def test_creation_panel_passes_new_options_only_when_chosen(tmp_path):
    root, _ = _video_root(tmp_path)
    panel = RDMCreationPanel(data_root=root, estimate=False)
    assert set(panel.options()) == {"distance", "chunk_size", "pooling", "device"}   # old compute fns still fit
    panel.timepoint_dropdown.value = "all_timepoints"
    assert panel.components_input.disabled and panel.samples_input.disabled
    panel.reduction_dropdown.value = "srp"
    assert not panel.components_input.disabled
    panel.components_input.value, panel.samples_input.value = 4, 30
    opts = panel.options()
    assert opts["multi_timepoint_rdms"] == "all_timepoints" and opts["pooling"] is None
    assert (opts["dim_reduction"], opts["n_components"], opts["n_samples_estim"]) == ("srp", 4, 30)
    panel.components_input.value = 0
    assert panel.options()["n_components"] is None                 # 0 = automatic
    for cls in ("rdmw-multi-timepoint", "rdmw-dim-reduction", "rdmw-n-components", "rdmw-n-samples"):
        assert any(cls in w._dom_classes for w in (panel.timepoint_dropdown, panel.reduction_dropdown,
                                                   panel.components_input, panel.samples_input))


def test_creation_panel_real_core_per_clip(tmp_path):
    root, x = _video_root(tmp_path)
    panel = RDMCreationPanel(data_root=root, estimate=False)
    panel.timepoint_dropdown.value = "clip"
    panel.run(wait=True)
    assert panel.join(TIMEOUT)
    r = panel.rdms["frames"]
    assert isinstance(r, TimeResolvedRDM) and r.n_times == 3, panel.status
    ref = squareform(pdist(x[:, 1].astype(np.float64), "correlation"))
    np.testing.assert_allclose(r.data[:, :, 1], ref, atol=1e-5)
    assert "time-resolved" in panel.status and "3 model time points" in panel.status
    with zipfile.ZipFile(io.BytesIO(panel.download_npz.data)) as zf:
        assert zf.namelist() == ["RDM_frames.npz"]


def _model_and_brain(n=6, tm=4, tb=5, seed=2):
    rng = np.random.default_rng(seed)
    def stack(t):
        d = rng.random((n, n, t))
        d = (d + d.transpose(1, 0, 2)) / 2
        d[np.arange(n), np.arange(n)] = 0
        return d
    names = [f"s{i}" for i in range(n)]
    model = TimeResolvedRDM(stack(tm), conditions=names, time_labels=[f"clip {c}" for c in range(tm)],
                            layer="block3", meta={"distance": "correlation"})
    brain = TimeResolvedRDM(stack(tb), times=np.linspace(0, 0.4, tb), conditions=names[::-1])
    return model, brain


def test_model_time_viewer_slider_and_map():
    model, brain = _model_and_brain()
    calls = []

    def rsa(m, b, method):
        calls.append(method)
        return rsa_timecourse(m, b, method=method)

    v = ModelTimeViewer(model, brain=brain, rsa=rsa)
    assert "block3 · clip 0" in _title(v.heatmap)
    v.time_index = 2
    assert "block3 · clip 2" in _title(v.heatmap) and "clip 2" in v.time_label.value
    np.testing.assert_allclose(_z(v.heatmap), model.data[:, :, 2])
    expected = rsa_timecourse(model, brain)
    z = np.array(_fig(v.map_output)["data"][0]["z"], dtype=float)
    np.testing.assert_allclose(z, expected)
    assert _fig(v.map_output)["layout"]["meta"]["n_model_times"] == 4
    assert calls == ["spearman"]                       # the slider redraws, it does not recompute
    v.method = "pearson"
    assert calls == ["spearman", "pearson"]
    np.testing.assert_allclose(np.array(_fig(v.map_output)["data"][0]["z"], dtype=float),
                               rsa_timecourse(model, brain, method="pearson"))


def test_model_time_viewer_layers_and_mismatch():
    model, brain = _model_and_brain()
    other = TimeResolvedRDM(model.data[:, :, :2], conditions=model.conditions, layer="block4")
    v = ModelTimeViewer({"block3": model, "block4": other})
    assert list(v.layer_dropdown.options) == ["block3", "block4"]
    v.layer = "block4"
    assert v.time_slider.max == 1 and "block4 · t=0" in _title(v.heatmap)
    assert v.rsa_map is None                            # no brain RDMs: no map
    v.brain = TimeResolvedRDM(brain.data, conditions=[f"x{i}" for i in range(6)])
    assert v.rsa_map is None and "matched to conditions by name" in v.note.value


def test_model_brain_time_figure_checks_shape():
    from rdm_widgets.plotting._model_time import model_brain_time_figure

    fig = model_brain_time_figure(np.array([[0.1, np.nan], [0.3, -0.2]]), ["a", "b"], [0.0, 0.1], highlight=1)
    assert fig.layout.meta["peak"] == [1, 0]
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        model_brain_time_figure(np.zeros((2, 2)), ["a", "b"], [0, 1, 2])

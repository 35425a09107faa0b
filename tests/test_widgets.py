"""Browserless tests of the ipywidgets panels: set values, click buttons, join threads, check traits.

Compute functions are injected fakes (they call progress and write/return known data) except in the
tests marked "real core", which run the real creator / EEG core on small inputs.
"""
import base64
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from traitlets import TraitError

from rdm_widgets.demo import demo_path, demo_root
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.widgets import (ClickGrid, Dashboard, EEGPanel, RDMCreationPanel, RDMViewer,
                                 TimecourseViewer, load_epochs)
from rdm_widgets.widgets._common import confine, format_eta, list_feature_sources
from rdm_widgets.widgets.rdm_viewer import parse_selection

MIME = "application/vnd.plotly.v1+json"
TIMEOUT = 60


# ---------------------------------------------------------------------------------------- helpers
def _decode(value):
    """Plotly >= 6 encodes numpy arrays as {'dtype', 'bdata', 'shape'}; return an ndarray either way."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr
    return np.asarray(value, dtype=np.float64)


def _fig(out, k=0):
    return out.outputs[k]["data"][MIME]


def _title(out, k=0):
    title = _fig(out, k)["layout"]["title"]
    return title["text"] if isinstance(title, dict) else title


def _z(out, k=0):
    return _decode(_fig(out, k)["data"][0]["z"])


def _feature_folder(folder: Path, n=8, seed=0, seq=False) -> np.ndarray:
    """Per-stimulus npz folder with a planted 2-group structure; returns the (n, D) features."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    base = np.where(np.arange(n)[:, None] < n // 2, 1.0, -1.0) * rng.normal(size=(1, 12))
    x = base + 0.3 * rng.normal(size=(n, 12))
    for i in range(n):
        arrays = {"layer_a": x[i][None].astype(np.float32), "layer_b": (2 * x[i][None]).astype(np.float32)}
        if seq:
            arrays = {"tokens": rng.normal(size=(3 + i % 3, 4)).astype(np.float32)}
        np.savez(folder / f"stim_{i + 1:02d}.npz", **arrays)
    return x


def _fake_create(rdm_matrix, stimuli, calls=None):
    """Fake compute: reports 4 steps, writes one RDM file into save_path, returns the folder."""
    def compute(feature_path, *, save_path, save_format, distance, chunk_size, pooling, device, progress):
        if calls is not None:
            calls.append(dict(feature_path=feature_path, save_path=save_path, save_format=save_format,
                              distance=distance, chunk_size=chunk_size, pooling=pooling, device=device))
        for i in range(5):
            progress(i, 4)
        Path(save_path).mkdir(parents=True)
        LayerRDM(rdm_matrix, stimuli, "fake_layer", {"distance": distance}).save(
            Path(save_path) / "RDM_fake_layer.npz")
        return save_path
    return compute


class FakeTimeResolved:
    """Minimal TimeResolvedRDM-like object."""

    def __init__(self, data, times, conditions, meta):
        self.data, self.times, self.conditions, self.meta = data, np.asarray(times), list(conditions), meta

    def mean_timecourse(self):
        iu = np.triu_indices(self.data.shape[0], 1)
        return self.data[iu[0], iu[1], :].mean(axis=0)

    def at(self, i):
        return LayerRDM(self.data[:, :, i], [str(c) for c in self.conditions])


def _fake_result(n=4, t=12, seed=0, meta=None):
    rng = np.random.default_rng(seed)
    d = rng.random((n, n, t))
    d = (d + d.transpose(1, 0, 2)) / 2
    for k in range(t):
        np.fill_diagonal(d[:, :, k], 0)
    times = np.linspace(-0.2, 0.8, t)
    return FakeTimeResolved(d, times, [f"cond{i}" for i in range(n)],
                            meta or {"method": "lda", "score": "accuracy", "chance": 0.5})


def _fake_eeg(calls=None, fail=None):
    def compute(eeg, labels, *, progress, times=None, **options):
        if calls is not None:
            calls.append(dict(options, n_trials=len(labels), times=times))
        if fail is not None:
            raise fail
        for i in range(4):
            progress(i + 1, 4)
        conds = sorted(set(labels))
        res = _fake_result(len(conds), len(times), meta={"method": options["method"], "score": "accuracy",
                                                          "chance": 0.5})
        res.times, res.conditions = np.asarray(times), conds
        return res
    return compute


def _epochs_file(folder: Path, n_per=6, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a_real", "a_imag", "b_real", "b_imag"], n_per)
    target = np.array([s.split("_")[0] for s in labels])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "epochs.npz"
    np.savez(path, eeg=rng.normal(size=(len(labels), 5, 20)).astype(np.float32), labels=labels,
             target=target, times=np.linspace(-0.1, 0.85, 20))
    return path


# ---------------------------------------------------------------------------------------- helpers
def test_format_eta_and_confine(tmp_path):
    assert format_eta(5.2) == "5 s" and format_eta(125) == "2 min 05 s" and format_eta(3725) == "1 h 02 min"
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    assert confine("sub", root) == (root / "sub").resolve()
    with pytest.raises(ValueError, match="outside the data root"):
        confine(root / ".." / "elsewhere", root)
    with pytest.raises(ValueError, match="outside the data root"):
        confine("/etc", root)


def test_parse_selection():
    names = [f"image_{i:02d}" for i in range(1, 11)]
    assert parse_selection("", names) is None
    assert parse_selection("0-2, 5", names) == [0, 1, 2, 5]
    assert parse_selection("3:5 image_10", names) == [3, 4, 9]
    with pytest.raises(ValueError, match="Did you mean .*'image_01'"):
        parse_selection("image_1 image_02", names)
    with pytest.raises(ValueError, match="out of range"):
        parse_selection("1 99", names)
    with pytest.raises(ValueError, match="at least 2"):
        parse_selection("3", names)


# ---------------------------------------------------------------------------------------- creation panel
def test_creation_panel_with_fake_compute(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    m = np.random.default_rng(1).random((8, 8))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 0)
    stimuli = [f"stim_{i + 1:02d}" for i in range(8)]
    calls = []
    panel = RDMCreationPanel(data_root=root, compute=_fake_create(m, stimuli, calls), save_root=tmp_path / "out")
    assert panel.folder == str((root / "feats").resolve())
    assert panel.pooling_dropdown.disabled          # plain (non-sequence) features
    assert "8 stimuli, 2 layers" in panel.status
    panel.distance_dropdown.value = "euclidean"
    panel.chunk_input.value = 3
    panel.format_dropdown.value = "npz"
    statuses = []
    panel.observe(lambda c: statuses.append(c["new"]), "status")
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert not panel.running and panel.progress_bar.value == 100 and panel.progress == 1.0
    assert panel.status.startswith("Done: 1 layer RDM(s)") and "rdmw" not in panel.status
    assert "#1a7f37" in panel.status_html.value
    assert any(s.startswith("Computing: 2/4 steps") and "ETA" in s for s in statuses), statuses
    assert calls[0]["distance"] == "euclidean" and calls[0]["chunk_size"] == 3 and calls[0]["pooling"] is None
    assert Path(calls[0]["save_path"]).parent == tmp_path / "out"
    np.testing.assert_allclose(panel.rdms["fake_layer"].matrix, m)
    assert panel.result_path == calls[0]["save_path"]
    # the viewer shows exactly that matrix
    viewer = RDMViewer(panel.rdms)
    assert viewer.layer == "fake_layer"
    np.testing.assert_allclose(_z(viewer.heatmap), m)
    assert _title(viewer.heatmap) == "fake_layer · euclidean"
    # buttons follow the running state
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_creation_panel_error_is_a_readable_message(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")

    def broken(feature_path, **kwargs):
        raise ValueError("Invalid value for 'distance': 'pearsn'. Did you mean 'pearson'?")

    panel = RDMCreationPanel(data_root=root, compute=broken, save_root=tmp_path / "out")
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status == "Error: Invalid value for 'distance': 'pearsn'. Did you mean 'pearson'?"
    assert "#cf222e" in panel.status_html.value and "Traceback" not in panel.status_html.value
    assert "&#x27;pearsn&#x27;" in panel.status_html.value   # HTML-escaped
    assert panel.rdms == {} and not panel.running


def test_creation_panel_stop_with_real_creator_leaves_no_files(tmp_path):
    from rdm_widgets.widgets.creation import default_create

    root = tmp_path / "root"
    _feature_folder(root / "feats", n=10)
    out = tmp_path / "out"
    out.mkdir()
    panel = None
    seen = []

    def compute(feature_path, *, progress, **kwargs):
        def hooked(done, total):
            seen.append((done, total))
            if done >= 3:              # midway: the user presses Stop
                panel.stop_button.click()
            progress(done, total)      # the panel's callback raises Cancelled now
        return default_create(feature_path, progress=hooked, **kwargs)

    panel = RDMCreationPanel(data_root=root, compute=compute, save_root=out)
    panel.chunk_input.value = 2       # many blocks, so the run is stopped between them
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status.startswith("Stopped")
    assert "#9a6700" in panel.status_html.value
    total = seen[-1][1]
    assert seen[-1][0] < total        # it stopped before the end
    assert list(out.rglob("*")) == []  # no partial files, no empty run folder
    assert panel.rdms == {} and not panel.running and panel.stop_button.disabled


def test_creation_panel_real_core_end_to_end(tmp_path):
    root = tmp_path / "root"
    x = _feature_folder(root / "feats", n=8)
    panel = RDMCreationPanel(data_root=root, save_root=tmp_path / "out")
    panel.distance_dropdown.value = "correlation"
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status.startswith("Done: 2 layer RDM(s)"), panel.status
    assert set(panel.rdms) == {"layer_a", "layer_b"}
    ref = 1.0 - np.corrcoef(x.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(panel.rdms["layer_a"].matrix, ref, atol=1e-4)
    files = sorted(p.name for p in Path(panel.result_path).iterdir())
    assert files == ["RDM_layer_a.npz", "RDM_layer_b.npz"]
    assert Path(panel.result_path).parent == tmp_path / "out"
    # planted two-group structure: within-group distances smaller than between
    r = panel.rdms["layer_a"].matrix
    assert r[:4, :4][np.triu_indices(4, 1)].max() < r[:4, 4:].min()


def test_folder_chooser_is_confined_to_data_root(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "inside")
    _feature_folder(tmp_path / "outside")
    os.symlink(tmp_path / "outside", root / "link_out")
    (root / "deep" / "a" / "b" / "c").mkdir(parents=True)
    _feature_folder(root / "deep" / "a" / "b" / "c" / "too_deep")
    labels = [label for label, _ in list_feature_sources(root, max_depth=3)]
    assert labels == ["inside"]
    panel = RDMCreationPanel(data_root=root, compute=lambda *a, **k: None, save_root=tmp_path / "o")
    assert [p for _, p in panel.folder_dropdown.options] == [str((root / "inside").resolve())]
    for bad in (tmp_path / "outside", root / "link_out", root / ".." / "outside", "/"):
        with pytest.raises(TraitError, match="outside the data root"):
            panel.folder = str(bad)
    assert panel.folder == str((root / "inside").resolve())


def test_pooling_enabled_only_for_sequence_folders(tmp_path):
    panel = RDMCreationPanel(data_root=demo_root(), compute=lambda *a, **k: None, save_root=tmp_path,
                             folder=demo_path("minilm"))
    assert panel.has_sequence and not panel.pooling_dropdown.disabled
    assert panel.pooling_dropdown.value == "mean" and panel.options()["pooling"] == "mean"
    assert panel.labels["sent_01"] == "animal"    # categories from stimuli.json for the viewer
    panel.folder = str(demo_path("mobilenetv2"))
    assert not panel.has_sequence and panel.pooling_dropdown.disabled
    assert panel.options()["pooling"] is None
    assert panel.device_dropdown.options[0] == "cpu"
    import torch
    assert ("cuda" in panel.device_dropdown.options) == torch.cuda.is_available()
    # the EEG epochs file and fMRI stacks are not offered as feature folders
    labels = [label for label, _ in panel.folder_dropdown.options]
    assert "minilm_sentences" in labels and "mobilenetv2_78" in labels
    assert not any(label.startswith("eeg") or "brain_data" in label for label in labels)


# ---------------------------------------------------------------------------------------- RDM viewer
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
    viewer.subset = "dog_1, cat_1 2"
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
    viewer.subset = "0-99"
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


# ---------------------------------------------------------------------------------------- EEG panel
def test_load_epochs(tmp_path):
    ep = load_epochs(_epochs_file(tmp_path))
    assert ep.eeg.shape == (24, 5, 20) and ep.label_keys == ["labels", "target"]
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no 'eeg' array"):
        load_epochs(tmp_path / "bad.npz")
    np.savez(tmp_path / "nolabels.npz", eeg=np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="no label array"):
        load_epochs(tmp_path / "nolabels.npz")
    real = load_epochs(demo_path("eeg"))
    assert real.eeg.shape == (180, 64, 161) and real.label_keys[:2] == ["labels", "target"]


def test_eeg_panel_with_fake_compute(tmp_path):
    path = _epochs_file(tmp_path / "root")
    (tmp_path / "root" / "features.npz").write_bytes(b"not a zip")   # not offered as epochs
    calls = []
    panel = EEGPanel(data_root=tmp_path / "root", compute=_fake_eeg(calls))
    assert panel.file == str(path.resolve())
    assert [label for label, _ in panel.file_dropdown.options] == ["epochs.npz"]
    assert panel.label_dropdown.options == ("labels", "target")
    assert len(panel.conditions_select.value) == 4
    panel.label_dropdown.value = "target"
    assert panel.conditions_select.options == ("a", "b")
    panel.label_key = "labels"
    panel.conditions_select.value = ("a_imag", "a_real", "b_real")
    panel.method_dropdown.value = "cv_euclidean"
    panel.decim_input.value = 2
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status.startswith("Done: 3 × 3 RDMs at 20 time points"), panel.status
    assert panel.progress_bar.value == 100
    assert calls[0]["method"] == "cv_euclidean" and calls[0]["decim"] == 2 and calls[0]["n_trials"] == 18
    assert calls[0]["noise_normalization"] is None and calls[0]["pseudo_trials"] is None
    assert calls[0]["cv"] == "loo" and calls[0]["window"] is None
    np.testing.assert_allclose(calls[0]["times"], np.linspace(-0.1, 0.85, 20))
    assert panel.result.conditions == ["a_imag", "a_real", "b_real"]
    panel.noise_dropdown.value = "epoch"
    panel.cv_dropdown.value = 5
    panel.pseudo_input.value = 3
    assert panel.options()["noise_normalization"] == "epoch" and panel.options()["cv"] == 5
    assert panel.options()["pseudo_trials"] == 3
    # too few conditions: message, no run
    panel.conditions_select.value = ("a_imag",)
    panel.run_button.click()
    assert panel.status.startswith("Error: Select at least 2 conditions")


def test_eeg_panel_error_and_stop(tmp_path):
    _epochs_file(tmp_path / "root")
    panel = EEGPanel(data_root=tmp_path / "root",
                     compute=_fake_eeg(fail=ValueError("cv=50 folds but only 6 trials; use cv <= 6.")))
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status == "Error: cv=50 folds but only 6 trials; use cv <= 6."
    assert "Traceback" not in panel.status_html.value

    started = threading.Event()

    def slow(eeg, labels, *, progress, **options):
        for i in range(10_000):
            progress(i, 10_000)
            started.set()
            threading.Event().wait(0.005)
        raise AssertionError("Stop did not cancel the run")

    panel2 = EEGPanel(data_root=tmp_path / "root", compute=slow)
    panel2.run_button.click()
    assert started.wait(TIMEOUT) and panel2.running and not panel2.stop_button.disabled
    panel2.stop_button.click()
    assert panel2.join(TIMEOUT)
    assert panel2.status.startswith("Stopped") and panel2.result is None and not panel2.running


def test_eeg_panel_file_confinement(tmp_path):
    _epochs_file(tmp_path / "root")
    other = _epochs_file(tmp_path / "elsewhere")
    panel = EEGPanel(data_root=tmp_path / "root", compute=_fake_eeg())
    with pytest.raises(TraitError, match="outside the data root"):
        panel.file = str(other)


# ---------------------------------------------------------------------------------------- timecourse viewer
def test_time_slider_drives_heatmap_and_title():
    res = _fake_result(n=4, t=12)
    viewer = TimecourseViewer(res)
    assert viewer.time_slider.max == 11
    for k in (3, 7):
        viewer.time_slider.value = k
        assert viewer.time_index == k
        assert f"t = {res.times[k]:.3f} s" in _title(viewer.eeg_heatmap)
        np.testing.assert_allclose(_z(viewer.eeg_heatmap), res.data[:, :, k])
        np.testing.assert_allclose(np.array(viewer.clickgrid.matrix, dtype=float), res.data[:, :, k])
        assert f"t = {res.times[k]:.3f} s" in viewer.time_label.value
    # mean timecourse with chance line and a marker at the slider's time
    fig = _fig(viewer.timecourse)
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), res.mean_timecourse())
    shapes = fig["layout"]["shapes"]
    assert any(s.get("y0") == 0.5 and s.get("y1") == 0.5 for s in shapes)       # chance
    assert any(s.get("x0") == pytest.approx(res.times[7]) for s in shapes)      # time marker


def test_click_selects_pair_timecourse():
    res = _fake_result(n=4, t=10, seed=5)
    viewer = TimecourseViewer(res)
    assert isinstance(viewer.clickgrid, ClickGrid)
    viewer.clickgrid.selected = [1, 3]       # what a click in the browser does
    assert viewer.pair == [1, 3]
    assert (viewer.pair_a.value, viewer.pair_b.value) == (1, 3)
    fig = _fig(viewer.pair_timecourse)
    assert fig["layout"]["title"]["text"] == "cond1 vs cond3"
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), res.data[1, 3, :])
    # keyboard-accessible fallback: the dropdowns
    viewer.pair_a.value = 2
    assert viewer.pair == [2, 3] and viewer.clickgrid.selected == [2, 3]
    np.testing.assert_allclose(_decode(_fig(viewer.pair_timecourse)["data"][0]["y"]), res.data[2, 3, :])
    # the pair's time marker follows the time slider
    viewer.time_index = 6
    shapes = _fig(viewer.pair_timecourse)["layout"].get("shapes", [])
    assert any(s.get("x0") == pytest.approx(res.times[6]) for s in shapes)


def test_rsa_timecourse_per_layer_when_models_loaded():
    from scipy.stats import spearmanr

    res = _fake_result(n=5, t=8, seed=2)
    rng = np.random.default_rng(9)
    conds = res.conditions
    a = rng.random((5, 5))
    a = (a + a.T) / 2 * (1 - np.eye(5))
    models = {
        "by_name": LayerRDM(a, conds, "by_name").reorder([4, 3, 2, 1, 0]),   # matched by names
        "by_count": LayerRDM(2 * a, [f"s{i}" for i in range(5)], "by_count"),
        "mismatch": LayerRDM(np.ones((3, 3)) - np.eye(3), None, "mismatch"),
    }
    viewer = TimecourseViewer(res, model_rdms=models)
    assert set(viewer.rsa) == {"by_name", "by_count"}
    iu = np.triu_indices(5, 1)
    ref = np.array([spearmanr(a[iu], res.data[:, :, t][iu])[0] for t in range(8)])
    np.testing.assert_allclose(viewer.rsa["by_name"], ref, atol=1e-10)
    np.testing.assert_allclose(viewer.rsa["by_count"], ref, atol=1e-10)
    assert "mismatch (3 stimuli)" in viewer.rsa_note.value
    assert len(viewer.timecourse.outputs) == 2
    rsa_fig = _fig(viewer.timecourse, 1)
    assert [tr["name"] for tr in rsa_fig["data"]] == ["by_name", "by_count"]
    np.testing.assert_allclose(_decode(rsa_fig["data"][0]["y"]), ref, atol=1e-10)


# ---------------------------------------------------------------------------------------- dashboard
def test_dashboard_with_fakes(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _epochs_file(root / "eeg")
    m = np.random.default_rng(1).random((8, 8))
    m = (m + m.T) / 2 * (1 - np.eye(8))
    dash = Dashboard(data_root=root, create_compute=_fake_create(m, [f"stim_{i + 1:02d}" for i in range(8)]),
                     eeg_compute=_fake_eeg(), save_root=tmp_path / "out")
    assert dash.join(TIMEOUT)      # a user's data_root runs in the background
    assert [dash.get_title(i) for i in range(2)] == ["DNN RDMs", "EEG"]
    assert "rdmw-dashboard" in dash._dom_classes
    np.testing.assert_allclose(_z(dash.viewer.heatmap), m)
    assert dash.timecourse.result is dash.eeg.result and dash.eeg.label_key == "target"
    assert "t = " in _title(dash.timecourse.eeg_heatmap)
    # every element the browser tests rely on carries its CSS class
    classes = {c for w in _all_widgets(dash) for c in getattr(w, "_dom_classes", ())}
    expected = {"rdmw-folder", "rdmw-distance", "rdmw-pooling", "rdmw-device", "rdmw-chunk", "rdmw-format",
                "rdmw-run", "rdmw-stop", "rdmw-progress", "rdmw-status", "rdmw-layer", "rdmw-heatmap",
                "rdmw-eeg-file", "rdmw-eeg-method", "rdmw-eeg-run", "rdmw-eeg-stop", "rdmw-eeg-progress",
                "rdmw-eeg-status", "rdmw-time-slider", "rdmw-eeg-heatmap", "rdmw-timecourse",
                "rdmw-pair-timecourse"}
    assert expected <= classes


def _all_widgets(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _all_widgets(child)


def test_dashboard_real_core_on_demo_data(tmp_path):
    """Real creator and EEG core on the bundled data (the dashboard's own quick initial runs)."""
    dash = Dashboard(save_root=tmp_path)
    assert dash.creation.status.startswith("Done: 5 layer RDM(s)"), dash.creation.status
    assert dash.creation.folder == str(demo_path("mobilenetv2"))
    assert list(dash.viewer.rdms) == ["features.6", "features.13", "features.18", "avgpool", "logits"]
    assert "note: Skipped 1 entry" in dash.creation.status   # core warnings go to the status line
    assert _title(dash.viewer.heatmap) == f"{dash.viewer.layer} · correlation"
    assert _z(dash.viewer.heatmap).shape == (78, 78)
    assert "data:image/jpeg;base64," in dash.viewer.thumbnails.value
    assert all(p.is_relative_to(tmp_path) for p in [Path(dash.creation.result_path)])
    assert dash.eeg.status.startswith("Done: 4 × 4 RDMs"), dash.eeg.status
    res = dash.timecourse.result
    assert res.data.shape[:2] == (4, 4) and res.meta["chance"] == 0.5
    assert res.meta["method"] == "lda" and res.meta.get("pseudo_trials") in (None, 0)  # exact default
    mt, times = res.mean_timecourse(), np.asarray(res.times)
    # real motor signal: well above chance after the cue (~0.68 at 0.29 s), chance in the baseline
    assert mt[(times > 0.1) & (times < 0.5)].max() > 0.62
    assert abs(mt[times < 0].mean() - 0.5) < 0.04
    assert "No model–EEG RSA" in dash.timecourse.rsa_note.value  # 78 images vs 4 conditions

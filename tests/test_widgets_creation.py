"""Browserless tests of the RDM creation panel: set values, click buttons, join threads, check traits."""
import os
import re
from pathlib import Path

import numpy as np
import pytest
from traitlets import TraitError

from _widget_helpers import TIMEOUT, _fake_create, _feature_folder, _title, _z
from rdm_widgets import CostEstimate
from rdm_widgets.demo import demo_path, demo_root
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.widgets import RDMCreationPanel, RDMViewer
from rdm_widgets.widgets._paths import list_feature_sources
from _synthetic import per_stimulus_folder as _per_stimulus_folder, random_rdm


def test_creation_panel_with_fake_compute(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    m = random_rdm(8)
    stimuli = [f"stim_{i + 1:02d}" for i in range(8)]
    calls = []
    panel = RDMCreationPanel(data_root=root, compute=_fake_create(m, stimuli, calls), save_root=tmp_path / "out")
    assert panel.folder == str((root / "feats").resolve())
    assert panel.pooling_dropdown.disabled          # plain (non-sequence) features
    assert "8 stimuli, 2 layers" in panel.status
    panel.distance_dropdown.value = "euclidean"
    panel.chunk_input.value = 3
    panel.format_dropdown.value = "pt"
    statuses = []
    panel.observe(lambda c: statuses.append(c["new"]), "status")
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert not panel.running and panel.progress_bar.value == 100 and panel.progress == 1.0
    assert panel.status.startswith("Done: 1 layer RDM(s)") and "rdmw" not in panel.status
    assert "#1a7f37" in panel.status_html.value
    assert any(s.startswith("Computing: 2/4 steps") and "ETA" in s for s in statuses), statuses
    assert calls[0]["distance"] == "euclidean" and calls[0]["chunk_size"] == 3 and calls[0]["pooling"] is None
    # computed in memory, then saved by the panel's explicit save step into a new run folder under
    # save_root, in the "Save as" format; the status line names that folder
    assert Path(panel.result_path).parent == tmp_path / "out"
    np.testing.assert_allclose(panel.rdms["fake_layer"].matrix, m)
    assert sorted(p.name for p in Path(panel.result_path).iterdir()) == ["RDM_fake_layer.pt"]
    saved = LayerRDM.from_file(Path(panel.result_path) / "RDM_fake_layer.pt")
    np.testing.assert_allclose(saved.matrix, m)
    assert saved.stimuli == stimuli and saved.meta["distance"] == "euclidean"
    # no absolute server path: a save_root outside the data root is named by the run folder only
    assert f"saved to {Path(panel.result_path).name}" in panel.status and "euclidean" in panel.status
    assert str(tmp_path) not in panel.status
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
    from rdm_widgets.widgets.creation import default_compute

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
        return default_compute(feature_path, progress=hooked, **kwargs)

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


def test_creation_panel_estimate_line_follows_the_options(tmp_path):
    root = tmp_path / "root"
    _per_stimulus_folder(root / "feats", n=6, dims=(4,))
    calls = []

    def fake_estimate(path, *, distance, pooling, device, chunk_size):
        calls.append(dict(path=path, distance=distance, pooling=pooling, device=device, chunk_size=chunk_size))
        if distance == "chebyshev":
            raise ValueError("no estimate for chebyshev")
        return CostEstimate(18000.0 if distance == "euclidean" else 2.0, 2_000_000, 30_000)

    statuses = []

    def compute(feature_path, *, progress, **kwargs):
        for i in range(3):
            progress(i, 2)
        return {}

    panel = RDMCreationPanel(data_root=root, compute=compute, save_root=tmp_path / "out", estimate=fake_estimate)
    assert calls[-1]["path"] == str((root / "feats").resolve()) and calls[-1]["distance"] == "correlation"
    assert panel.estimate_text == "Estimated: ≈ 2 s · peak RAM 2.0 MB · disk 30 kB"
    assert "Estimated: ≈ 2 s" in panel.estimate_html.value and "rdmw-estimate" in panel.estimate_html._dom_classes
    panel.distance_dropdown.value = "euclidean"
    assert panel.estimate_text.startswith("Estimated: ≈ 5 h 00 min") and panel.estimated_seconds == 18000.0
    panel.chunk_input.value = 2
    assert calls[-1]["chunk_size"] == 2
    panel.observe(lambda c: statuses.append(c["new"]), "status")
    panel.run_button.click()
    assert panel.join(TIMEOUT) and panel.status.startswith("Done")
    # the run's ETA starts from the estimate (5 h), not from nothing
    assert any(re.search(r"Computing: 0/2 steps.* · ETA (5 h 00 min|4 h 59 min)", s) for s in statuses), statuses
    panel.distance_dropdown.value = "chebyshev"
    assert panel.estimate_text == "Estimated: not available (no estimate for chebyshev)"
    assert panel.estimated_seconds is None and not panel.status.startswith("Error")
    off = RDMCreationPanel(data_root=root, compute=compute, save_root=tmp_path / "o2", estimate=False)
    assert off.estimate_text == ""


def test_default_compute_is_in_memory_and_the_save_step_is_explicit(tmp_path, monkeypatch):
    from rdm_widgets.widgets.creation import default_compute, save_rdms

    root = tmp_path / "root"
    _feature_folder(root / "feats", n=6)
    monkeypatch.chdir(tmp_path)
    seen = []
    rdms = default_compute(str(root / "feats"), distance="euclidean", chunk_size=None, pooling=None, device="cpu",
                           progress=lambda done, total: seen.append((done, total)))
    assert list(rdms) == ["layer_a", "layer_b"] and all(isinstance(r, LayerRDM) for r in rdms.values())
    assert rdms["layer_a"].matrix.shape == (6, 6) and seen[-1][0] == seen[-1][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]         # no file written
    folder = save_rdms(rdms, tmp_path / "out" / "run", "npz")
    assert sorted(p.name for p in folder.iterdir()) == ["RDM_layer_a.npz", "RDM_layer_b.npz"]
    np.testing.assert_array_equal(LayerRDM.from_file(folder / "RDM_layer_b.npz").matrix, rdms["layer_b"].matrix)
    with pytest.raises(FileExistsError):
        save_rdms(rdms, folder, "npz")                                      # never into an existing folder
    # a failing save leaves no partial run folder
    broken = dict(rdms, bad=object())
    with pytest.raises(AttributeError):
        save_rdms(broken, tmp_path / "out" / "run2", "npz")
    assert not (tmp_path / "out" / "run2").exists()


def test_compute_must_return_layer_rdms(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    panel = RDMCreationPanel(data_root=root, compute=lambda feature_path, **kwargs: str(tmp_path),
                             save_root=tmp_path / "out", estimate=False)
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status.startswith("Error: The compute function returned str; expected a dict")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_creation_downloads_and_save_to(tmp_path):
    """A run's RDMs leave as a .zip of .npz and a .zip of .csv (same numbers), or into the data folder."""
    import io
    import zipfile

    from rdm_widgets.rdm_files import read_rdm_file

    root = tmp_path / "root"
    _feature_folder(root / "feats")
    m = random_rdm(8)
    stimuli = [f"stim_{i + 1:02d}" for i in range(8)]
    panel = RDMCreationPanel(data_root=root, compute=_fake_create(m, stimuli), estimate=False, save_to_root=root)
    assert panel.download_npz.data == b"" and "rdmw-download-rdms" in panel.download_npz._dom_classes
    panel.run(wait=True)
    assert panel.result_path == "" and "saved to" not in panel.status      # nothing written by default
    assert panel.download_npz.filename == "rdms_feats_correlation.zip"
    with zipfile.ZipFile(io.BytesIO(panel.download_npz.data)) as zf:
        assert zf.namelist() == ["RDM_fake_layer.npz"]
        (tmp_path / "x.npz").write_bytes(zf.read("RDM_fake_layer.npz"))
    saved = LayerRDM.from_file(tmp_path / "x.npz")
    np.testing.assert_array_equal(saved.matrix, m)
    assert saved.stimuli == stimuli
    with zipfile.ZipFile(io.BytesIO(panel.download_csv.data)) as zf:
        assert zf.namelist() == ["RDM_fake_layer.csv"]
        (tmp_path / "x.csv").write_bytes(zf.read("RDM_fake_layer.csv"))
    from_csv = read_rdm_file(tmp_path / "x.csv")
    np.testing.assert_array_equal(from_csv.rdms[0], m)
    assert from_csv.stimuli == stimuli
    # Save to: a folder inside the data root, in the "Save as" format; asks before overwriting
    assert panel.save_to.name_text.value == "rdms_feats_correlation"
    panel.save_to.save_button.click()
    assert panel.save_to.status == "Saved to rdms_feats_correlation"
    np.testing.assert_array_equal(LayerRDM.from_file(root / "rdms_feats_correlation" / "RDM_fake_layer.npz").matrix, m)
    panel.save_to.save_button.click()
    assert "exists" in panel.save_to.status
    panel.save_to.name_text.value = "../outside"
    panel.save_to.save_button.click()
    assert panel.save_to.status.startswith("Error") and not (tmp_path / "outside").exists()


def test_creation_sources_can_change_and_include_uploads(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "a")
    _feature_folder(root / "b")
    up = tmp_path / "uploads" / "c"
    _feature_folder(up)
    m = np.zeros((8, 8))
    panel = RDMCreationPanel(data_root=root, compute=_fake_create(m, [str(i) for i in range(8)]), estimate=False,
                             path_labels={tmp_path / "uploads": "uploads"})
    panel.add_source(up, "uploads/c")            # outside the data root, but listed by the program
    assert panel.folder == str(up.resolve()) and "8 stimuli" in panel.status
    panel.set_sources([("b", str((root / "b").resolve()))])
    assert [label for label, _ in panel.folder_dropdown.options] == ["b", "uploads/c"]
    assert panel.folder == str(up.resolve())
    with pytest.raises(TraitError) as err:
        panel.folder = str(root / "a")            # not listed any more
    assert str(tmp_path) not in str(err.value)
    panel.set_sources([], keep_uploads=False)
    assert panel.folder is None and str(tmp_path) not in panel.status


def test_creation_panel_estimate_gets_the_time_and_reduction_options_as_the_run_does(tmp_path):
    """The estimate is called with the compute function's keyword arguments: the issue-17
    options only when chosen (an estimate function without them keeps working otherwise)."""
    root = tmp_path / "root"
    _per_stimulus_folder(root / "feats", n=6, dims=(4,))
    calls, runs = [], []

    def fake_estimate(path, **kwargs):
        calls.append(kwargs)
        return CostEstimate(1.0, 1000, 1000)

    def compute(feature_path, *, progress, **kwargs):
        runs.append(kwargs)
        return {}

    panel = RDMCreationPanel(data_root=root, compute=compute, estimate=fake_estimate)
    assert set(calls[-1]) == {"distance", "pooling", "device", "chunk_size"}
    panel.timepoint_dropdown.value = "clip"
    assert calls[-1]["multi_timepoint_rdms"] == "clip" and calls[-1]["pooling"] is None
    panel.reduction_dropdown.value = "pca"
    assert calls[-1]["dim_reduction"] == "pca" and calls[-1]["n_components"] is None   # 0: automatic
    panel.components_input.value = 3
    panel.samples_input.value = 5
    assert calls[-1]["n_components"] == 3 and calls[-1]["n_samples_estim"] == 5
    panel.run_button.click()
    assert panel.join(TIMEOUT) and panel.status.startswith("Done")
    assert runs[-1] == calls[-1]                      # the estimate priced exactly the run's options
    panel.timepoint_dropdown.value = "none"
    panel.reduction_dropdown.value = "none"
    assert set(calls[-1]) == {"distance", "pooling", "device", "chunk_size"}


def test_creation_panel_default_estimate_prices_the_options(tmp_path):
    """The real estimate: the reduction's width and the time points reach estimate_features."""
    root = tmp_path / "root"
    folder = root / "video"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        np.savez(folder / f"s{i:02d}.npz", l=rng.normal(size=(1, 4, 300)).astype(np.float32))
    panel = RDMCreationPanel(data_root=root, compute=lambda *a, **k: {})
    plain = panel._cost
    panel.timepoint_dropdown.value = "clip"
    assert panel._cost.work["time_points"] == [4] and panel._cost.work["pairs"] == 4 * plain.work["pairs"]
    panel.reduction_dropdown.value = "srp"
    panel.components_input.value = 20
    assert panel._cost.work["reduced_dims"] == [20] and panel.estimate_text.startswith("Estimated: ≈")

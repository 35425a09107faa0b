"""Browserless tests of the dashboard: both tabs wired, CSS classes, real core on the bundled data."""
from pathlib import Path

import numpy as np

from _synthetic import epochs_file as _epochs_file
from _widget_helpers import TIMEOUT, _all_widgets, _fake_create, _fake_eeg, _feature_folder, _title, _z
from rdm_widgets.demo import demo_path
from rdm_widgets.widgets import Dashboard


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


def test_dashboard_real_core_on_demo_data(tmp_path):
    """Real creator and EEG core on the bundled data (the dashboard's own quick initial runs)."""
    dash = Dashboard(save_root=tmp_path)
    assert dash.creation.status.startswith("Done: 5 layer RDM(s)"), dash.creation.status
    assert dash.creation.folder == str(demo_path("mobilenetv2"))
    assert list(dash.viewer.rdms) == ["features.6", "features.13", "features.18", "avgpool", "logits"]
    # the package's own sidecar files (info.json, stimuli.json) are never warned about
    assert "Skipped" not in dash.creation.status and "info.json" not in dash.creation.status
    assert str(tmp_path) not in dash.creation.status          # no absolute server path
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


def _user_root(tmp_path):
    """A user's folder: a failing .h5 first, features in a sub-folder, epochs under 'data', an RDM stack, junk."""
    import h5py

    root = tmp_path / "root"
    _feature_folder(root / "models" / "feats")
    with h5py.File(root / "a_rsatb.h5", "w") as fh:      # not features: string dataset (and not an RDM)
        fh["pattern_descriptors/stim"] = np.array([b"a", b"b"], dtype="S8")
        fh["values"] = np.zeros((2, 5))
    rng = np.random.default_rng(0)
    (root / "eeg").mkdir()
    np.savez(root / "eeg" / "subj1.npz", data=rng.normal(size=(16, 3, 6)), cond=np.repeat(list("abcd"), 4),
             times=np.linspace(0, 0.5, 6))
    (root / "brain").mkdir()
    m = rng.random((3, 8, 8))
    m = (m + np.swapaxes(m, 1, 2)) / 2
    for s in m:
        np.fill_diagonal(s, 0)
    np.savez(root / "brain" / "fmri_EVC.npz", rdms=m, stimuli=np.array([f"stim_{i + 1:02d}" for i in range(8)]))
    (root / "notes.docx").write_bytes(b"junk")
    return root


def _visible_state(dash) -> str:
    """Everything the browser receives of the dashboard's widgets (their synced state), as text."""
    import json

    return "\n".join(json.dumps(w.get_state(), default=lambda o: "<bytes>") for w in _all_widgets(dash)
                     if hasattr(w, "get_state"))


def test_dashboard_on_a_users_folder_from_the_environment(tmp_path, monkeypatch):
    root = _user_root(tmp_path)
    monkeypatch.setenv("RDMW_DATA_ROOT", str(root))
    m = np.random.default_rng(1).random((8, 8))
    m = (m + m.T) / 2 * (1 - np.eye(8))
    calls = []
    dash = Dashboard(create_compute=_fake_create(m, [f"stim_{i + 1:02d}" for i in range(8)], calls),
                     eeg_compute=_fake_eeg())
    assert dash.data_root == root.resolve() and dash.join(TIMEOUT)
    # opened on the first valid features entry, never on the failing .h5
    assert [c["feature_path"] for c in calls] == [str((root / "models" / "feats").resolve())]
    assert dash.dnn_browser.folder == "models" and dash.creation.status.startswith("Done")
    assert dash.eeg.file == str((root / "eeg" / "subj1.npz").resolve()) and dash.eeg.data_key == "data"
    assert dash.eeg.status.startswith("Done")
    # the root's skipped entries are listed with their reasons
    dash.dnn_browser.folder_dropdown.value = "."
    skipped = dash.dnn_browser.skipped_html.value
    assert "a_rsatb.h5" in skipped and "pattern_descriptors/stim" in skipped and "notes.docx" in skipped
    assert dash.creation.folder is None and "No feature folders" in dash.creation.status
    dash.dnn_browser.folder_dropdown.value = "models/feats"
    assert dash.creation.folder == str((root / "models" / "feats").resolve())
    # model vs brain: the folder's RDM stack is a brain RDM; each DNN run becomes a model
    if dash.rsa is not None:
        assert [dash.get_title(i) for i in range(3)] == ["DNN RDMs", "EEG", "Model vs brain"]
        assert "fmri_EVC" in dash.rsa.brains and dash.rsa.brains["fmri_EVC"].n_subjects == 3
        assert "models/feats · correlation" in dash.rsa.models
    # save to is offered inside the user's folder
    dash.creation.save_to.save_button.click()
    assert dash.creation.save_to.status == "Saved to rdms_feats_correlation"
    assert (root / "rdms_feats_correlation" / "RDM_fake_layer.npz").is_file()
    state = _visible_state(dash)
    assert str(tmp_path) not in state and str(dash.uploads.root) not in state


def test_dashboard_uploads_reach_the_panels(tmp_path):
    import io
    import zipfile

    root = tmp_path / "root"
    root.mkdir()
    (root / "empty.txt").write_text("nothing here")
    dash = Dashboard(data_root=root, create_compute=_fake_create(np.zeros((8, 8)), [str(i) for i in range(8)]),
                     eeg_compute=_fake_eeg())
    assert dash.creation.folder is None and "No feature set" in dash.creation.status
    assert dash.eeg.file is None and dash.eeg.status.startswith("No epoch files")
    feats = tmp_path / "src"
    _feature_folder(feats / "net")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((feats / "net").iterdir()):
            zf.write(p, f"net/{p.name}")
    dash.upload_features.handle([("net.zip", buf.getvalue())])
    assert dash.upload_features.status == "Loaded net.zip"
    assert dash.creation.folder_dropdown.label == "uploads/net" and "8 stimuli" in dash.creation.status
    dash.creation.run(wait=True)
    assert dash.creation.status.startswith("Done")
    ep = _epochs_file(tmp_path / "eeg")
    dash.upload_epochs.handle([("my epochs.npz", ep.read_bytes())])
    assert dash.eeg.file_dropdown.label == "uploads/my_epochs.npz" and dash.eeg.epochs is not None
    if dash.rsa is not None:
        rng = np.random.default_rng(0)
        m = rng.random((8, 8))
        m = (m + m.T) / 2 * (1 - np.eye(8))
        out = io.BytesIO()
        np.savez(out, rdm=m)
        dash.upload_rdm.handle([("behaviour.npz", out.getvalue())])
        assert dash.upload_rdm.status == "Loaded behaviour.npz" and "behaviour" in dash.rsa.brains
    dash.upload_epochs.handle([("broken.npz", b"not a zip")])
    assert dash.upload_epochs.status.startswith("Error") and "broken.npz" in dash.upload_epochs.status
    state = _visible_state(dash)
    assert str(tmp_path) not in state and str(dash.uploads.root) not in state
    folder = dash.uploads.root
    dash.close()
    assert not folder.exists()


def test_resolve_data_root(tmp_path, monkeypatch):
    import pytest

    from rdm_widgets.demo import demo_root
    from rdm_widgets.widgets.dashboard import resolve_data_root

    monkeypatch.delenv("RDMW_DATA_ROOT", raising=False)
    assert resolve_data_root() == (demo_root().resolve(), True)
    monkeypatch.setenv("RDMW_DATA_ROOT", "  ")
    assert resolve_data_root()[1]
    monkeypatch.setenv("RDMW_DATA_ROOT", str(tmp_path))
    assert resolve_data_root() == (tmp_path.resolve(), False)
    assert resolve_data_root(tmp_path / "..")[0] == tmp_path.parent.resolve()     # explicit wins
    monkeypatch.setenv("RDMW_DATA_ROOT", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="RDMW_DATA_ROOT"):
        resolve_data_root()


def test_makefile_dashboard_target_passes_data_culling_and_voila_json():
    import json
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(["make", "-n", "dashboard", "DATA=some/folder", "PORT=9999"], cwd=repo,
                         capture_output=True, text=True, timeout=60).stdout
    cmd = out.replace("\\\n", " ")
    line = next(x for x in cmd.splitlines() if "voila notebooks/dashboard.ipynb" in x)
    assert f'RDMW_DATA_ROOT="{repo}/some/folder"' in line and "--port=9999" in line
    assert "--MappingKernelManager.cull_idle_timeout=300" in line and "--MappingKernelManager.cull_interval=30" in line
    assert f"--Voila.config_file_paths=\"['{repo}/notebooks']\"" in line
    settings = json.loads((repo / "notebooks" / "voila.json").read_text())["Voila"]["tornado_settings"]
    assert settings["websocket_max_message_size"] >= 150 * 1024 ** 2       # above the 100 MB shown in the UI
    bare = subprocess.run(["make", "-n", "dashboard", "RDMW_DATA_ROOT="], cwd=repo, capture_output=True,
                          text=True, timeout=60).stdout
    assert 'RDMW_DATA_ROOT=""' in bare


def test_saved_layer_rdms_in_the_data_folder_are_models_of_the_rsa_tab(tmp_path):
    """A folder of RDM_<layer> files (what create_rdms, "Save to" and Net2Brain write) is a model
    whose layers can be compared with the folder's brain RDMs; other RDM files are brain RDMs."""
    from rdm_widgets import LayerRDM
    from _synthetic import random_rdm

    root = _user_root(tmp_path)
    names = [f"stim_{i + 1:02d}" for i in range(8)]
    saved = root / "rdms" / "alexnet"
    saved.mkdir(parents=True)
    for i, layer in enumerate(["conv1", "fc7"]):
        LayerRDM(random_rdm(8, seed=i), names, layer).save(saved / f"RDM_{layer}.npz")
    m = random_rdm(8)
    dash = Dashboard(data_root=root, create_compute=_fake_create(m, names), eeg_compute=_fake_eeg())
    assert dash.join(TIMEOUT) and dash.rsa is not None
    assert sorted(dash.rsa.models["rdms/alexnet"]) == ["conv1", "fc7"]
    np.testing.assert_array_equal(dash.rsa.models["rdms/alexnet"]["fc7"].matrix, random_rdm(8, seed=1))
    assert "fmri_EVC" in dash.rsa.brains and not any(b.startswith("RDM_") for b in dash.rsa.brains)


# ---------------------------------------------------------------------------------------------------
# time-resolved model RDMs (issue 17) and temporal generalisation (issue 15) in the dashboard

_EEG_CONDITIONS = ["a_imag", "a_real", "b_imag", "b_real"]       # the 'labels' of _synthetic.epochs_file


def _time_stack(n, t, seed):
    d = np.random.default_rng(seed).random((n, n, t))
    d = (d + d.transpose(1, 0, 2)) / 2
    d[np.arange(n), np.arange(n)] = 0
    return d


def _fake_time_create(layers, calls=None):
    """Fake compute returning ``layers`` (LayerRDMs and/or TimeResolvedRDMs) for any options."""
    def compute(feature_path, *, distance, chunk_size, pooling, device, progress, **options):
        if calls is not None:
            calls.append(options)
        progress(1, 1)
        return dict(layers)
    return compute


def _spearman_map(model, brain):
    """Independent reference: Spearman r of the upper triangles, model stimuli matched to the brain's
    conditions by name, for every (model time, brain time)."""
    from scipy.stats import spearmanr

    idx = [list(model.conditions).index(c) for c in brain.conditions]
    iu = np.triu_indices(len(idx), 1)
    out = np.empty((model.data.shape[2], brain.data.shape[2]))
    for i in range(out.shape[0]):
        m = model.data[:, :, i][np.ix_(idx, idx)][iu]
        for j in range(out.shape[1]):
            out[i, j] = spearmanr(m, brain.data[:, :, j][iu])[0]
    return out


def test_dashboard_routes_time_resolved_models_to_the_model_time_viewer(tmp_path):
    from rdm_widgets import LayerRDM
    from rdm_widgets.eeg import TimeResolvedRDM

    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _epochs_file(root / "eeg")
    # the model's stimuli are the EEG conditions (reversed order, plus one the EEG does not have)
    names = _EEG_CONDITIONS[::-1] + ["extra"]
    video = TimeResolvedRDM(_time_stack(5, 3, 0), conditions=names, time_labels=["clip 0", "clip 1", "clip 2"],
                            layer="block3", meta={"distance": "correlation"})
    calls = []
    dash = Dashboard(data_root=root, create_compute=_fake_time_create({"block3": video}, calls),
                     eeg_compute=_fake_eeg(), initial_run=False)
    if dash.eeg.label_key != "labels":
        dash.eeg.label_key = "labels"
    dash.eeg.run(wait=True)
    brain = dash.eeg.result
    assert list(brain.conditions) == _EEG_CONDITIONS
    dash.creation.timepoint_dropdown.value = "clip"
    dash.creation.run(wait=True)
    assert dash.join(TIMEOUT) and dash.creation.status.startswith("Done"), dash.creation.status
    assert calls == [{"multi_timepoint_rdms": "clip"}]
    # shown by the model-time viewer; the views that expect (N, N) layer RDMs are left out
    assert dash.model_time.layout.display is None and dash.viewer.layout.display == "none"
    assert dash.model_time.result is video and list(dash.model_time.layer_dropdown.options) == ["block3"]
    assert dash.viewer.rdms == {} and dash.timecourse.model_rdms == {}
    if dash.rsa is not None:
        assert not any(name.startswith("feats") for name in dash.rsa.models)
    # the model time x brain time map against the EEG result, equal to a scipy reference
    assert dash.model_time.brain is brain
    np.testing.assert_allclose(dash.model_time.rsa_map, _spearman_map(video, brain), atol=1e-12)
    dash.model_time.time_index = 2
    np.testing.assert_allclose(_z(dash.model_time.heatmap), video.data[:, :, 2])
    # a new EEG result updates the map; an ordinary run brings the ordinary views back
    dash.eeg.run(wait=True)
    assert dash.model_time.brain is dash.eeg.result is not brain
    np.testing.assert_allclose(dash.model_time.rsa_map, _spearman_map(video, dash.eeg.result), atol=1e-12)
    m = _time_stack(5, 1, 3)[:, :, 0]
    dash.creation._compute = _fake_time_create({"fc": LayerRDM(m, names, "fc", {"distance": "correlation"})})
    dash.creation.timepoint_dropdown.value = "none"
    dash.creation.run(wait=True)
    assert dash.model_time.layout.display == "none" and dash.viewer.layout.display is None
    assert list(dash.viewer.rdms) == ["fc"] and list(dash.timecourse.model_rdms) == ["fc"]
    np.testing.assert_allclose(_z(dash.viewer.heatmap), m)
    if dash.rsa is not None:
        assert list(dash.rsa.models[f"{dash.creation.folder_dropdown.label} · correlation"]) == ["fc"]


def test_dashboard_splits_a_mixed_result():
    from rdm_widgets import LayerRDM
    from rdm_widgets.eeg import TimeResolvedRDM
    from rdm_widgets.widgets.dashboard import split_time_resolved

    names = [f"s{i}" for i in range(4)]
    timed = TimeResolvedRDM(_time_stack(4, 2, 1), conditions=names, layer="b")
    flat = LayerRDM(_time_stack(4, 1, 2)[:, :, 0], names, "a")
    ordinary, time_resolved = split_time_resolved({"a": flat, "b": timed, "c": flat})
    assert list(ordinary) == ["a", "c"] and list(time_resolved) == ["b"] and time_resolved["b"] is timed
    assert split_time_resolved(None) == ({}, {})


def test_dashboard_time_resolved_real_core(tmp_path):
    """Real creator: per-clip RDMs of [1, clips, D] features reach the model-time viewer."""
    from scipy.spatial.distance import pdist, squareform

    root = tmp_path / "root"
    folder = root / "video"
    folder.mkdir(parents=True)
    x = np.random.default_rng(0).normal(size=(6, 3, 8)).astype(np.float32)
    for i in range(6):
        np.savez(folder / f"clip_{i}.npz", frames=x[i][None])
    dash = Dashboard(data_root=root, initial_run=False, upload=False)
    dash.creation.timepoint_dropdown.value = "clip"
    dash.creation.run(wait=True)
    assert dash.join(TIMEOUT) and dash.creation.status.startswith("Done"), dash.creation.status
    assert dash.viewer.layout.display == "none" and dash.model_time.layout.display is None
    res = dash.model_time.result
    assert res.data.shape == (6, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(res.data[:, :, c], squareform(pdist(x[:, c].astype(np.float64), "correlation")),
                                   atol=1e-5)


def _fake_generalization(calls=None):
    """Fake EEG compute returning a GeneralizationRDM (train x test) with equal time axes."""
    from rdm_widgets.eeg import GeneralizationRDM

    def compute(eeg, labels, *, progress, times=None, **options):
        if calls is not None:
            calls.append(options)
        progress(1, 1)
        conds = sorted(set(labels))
        n, t = len(conds), len(times)
        d = np.random.default_rng(4).random((n, n, t, t))
        d = (d + d.transpose(1, 0, 2, 3)) / 2
        d[np.arange(n), np.arange(n)] = 0
        return GeneralizationRDM(d, train_times=times, test_times=times, conditions=conds,
                                 meta={"method": options["method"], "score": "accuracy", "chance": 0.5,
                                       "generalization": True})
    return compute


def test_dashboard_views_take_the_diagonal_of_a_generalization_result(tmp_path):
    from rdm_widgets.eeg import GeneralizationRDM, TimeResolvedRDM
    from rdm_widgets.widgets.dashboard import brain_time_rdm

    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _epochs_file(root / "eeg")
    m = np.random.default_rng(1).random((8, 8))
    m = (m + m.T) / 2 * (1 - np.eye(8))
    calls = []
    dash = Dashboard(data_root=root, create_compute=_fake_create(m, [f"stim_{i + 1:02d}" for i in range(8)]),
                     eeg_compute=_fake_generalization(calls), initial_run=False, upload=False)
    dash.eeg.generalization_checkbox.value = True
    dash.eeg.run(wait=True)
    assert dash.join(TIMEOUT) and dash.eeg.status.startswith("Done"), dash.eeg.status
    assert calls and calls[0].get("generalization") is True
    gen = dash.eeg.generalization_result
    assert isinstance(gen, GeneralizationRDM)
    for res in (dash.timecourse.result, dash.model_time.brain):
        assert isinstance(res, TimeResolvedRDM)
        t = len(gen.train_times)
        np.testing.assert_array_equal(res.data, gen.data[:, :, np.arange(t), np.arange(t)])
        np.testing.assert_array_equal(res.times, gen.train_times)
    assert "t = " in _title(dash.timecourse.eeg_heatmap)
    # a GeneralizationRDM set on the panel's result directly is reduced to its diagonal as well
    dash.eeg.result = gen
    assert isinstance(dash.timecourse.result, TimeResolvedRDM) and dash.model_time.brain is dash.timecourse.result
    np.testing.assert_array_equal(dash.timecourse.result.data, gen.diagonal().data)
    # different train and test times: no diagonal; the views keep what they show
    shown = dash.timecourse.result
    other = GeneralizationRDM(gen.data[:, :, :, :3], train_times=gen.train_times, test_times=gen.test_times[:3],
                              conditions=gen.conditions)
    assert brain_time_rdm(other) is None
    dash.eeg.result = other
    assert dash.timecourse.result is shown

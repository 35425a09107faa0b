"""Acceptance pass 3 (dashboard in a browser): a result keeps the name of the run that made it.

Found in Voila: the controls stay usable while a DNN run computes (the run uses the values it
started with), but the result's names were read from the controls when the run *ended*. Choosing
another distance or feature folder during a run therefore named the download
(``rdms_<folder>_<distance>.zip``), the "Save to" default and the model in the "Model vs brain"
tab after the new choice, while the numbers came from the old one; the EEG panel named its
download and "Save to" default after the method and epochs file shown at the run's end. The fake compute below
blocks until the test has changed the controls; the expected names are those of the run's
start, checked against the distance the compute function was really called with.
"""
from __future__ import annotations

import threading

import numpy as np

from _synthetic import epochs_file
from _widget_helpers import TIMEOUT, _fake_eeg, _feature_folder
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.widgets import Dashboard, EEGPanel, RDMCreationPanel


def _blocking_compute(calls, release: threading.Event, started: threading.Event):
    m = np.random.default_rng(0).random((8, 8))
    m = (m + m.T) / 2 * (1 - np.eye(8))

    def compute(feature_path, *, distance, chunk_size, pooling, device, progress):
        calls.append(dict(feature_path=feature_path, distance=distance))
        started.set()
        assert release.wait(TIMEOUT)
        progress(1, 1)
        return {"fc": LayerRDM(m, [f"stim_{i + 1:02d}" for i in range(8)], "fc", {"distance": distance})}
    return compute


def _change_controls_during_run(panel, other_folder_label: str):
    panel.distance_dropdown.value = "euclidean"
    panel.folder_dropdown.label = other_folder_label


def test_creation_names_come_from_the_run_not_the_controls_at_its_end(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _feature_folder(root / "other", seed=1)
    calls, release, started = [], threading.Event(), threading.Event()
    panel = RDMCreationPanel(data_root=root, compute=_blocking_compute(calls, release, started), save_to_root=root)
    panel.folder_dropdown.label = "feats"
    panel.run_button.click()
    assert started.wait(TIMEOUT)
    _change_controls_during_run(panel, "other")
    release.set()
    assert panel.join(TIMEOUT) and panel.status.startswith("Done")
    ran = calls[0]["distance"]
    assert ran == "correlation" and panel.rdms["fc"].meta["distance"] == ran
    assert panel.download_npz.filename == f"rdms_feats_{ran}.zip"
    assert panel.download_csv.filename == f"rdms_feats_{ran}_csv.zip"
    assert panel.save_to.name_text.value == f"rdms_feats_{ran}"
    # the next run, with the new controls, is named after them
    release.set()
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert calls[1]["distance"] == "euclidean" and panel.download_npz.filename == "rdms_other_euclidean.zip"


def test_dashboard_model_label_comes_from_the_run(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _feature_folder(root / "other", seed=1)
    calls, release, started = [], threading.Event(), threading.Event()
    dash = Dashboard(data_root=root, create_compute=_blocking_compute(calls, release, started),
                     initial_run=False, upload=False)
    if dash.rsa is None:        # the RSA tab needs its optional dependencies
        return
    dash.creation.folder_dropdown.label = "feats"
    dash.creation.run_button.click()
    assert started.wait(TIMEOUT)
    _change_controls_during_run(dash.creation, "other")
    release.set()
    assert dash.join(TIMEOUT) and dash.creation.status.startswith("Done")
    assert calls[0]["distance"] == "correlation"
    assert "feats · correlation" in dash.rsa.models
    assert not any("euclidean" in name or name.startswith("other") for name in dash.rsa.models), list(dash.rsa.models)
    dash.close()


def test_eeg_names_come_from_the_run_not_the_controls_at_its_end(tmp_path):
    epochs_file(tmp_path / "root")
    calls, release, started = [], threading.Event(), threading.Event()
    fake = _fake_eeg(calls)

    def compute(eeg, labels, *, progress, **options):
        started.set()
        assert release.wait(TIMEOUT)
        return fake(eeg, labels, progress=progress, **options)

    panel = EEGPanel(data_root=tmp_path / "root", compute=compute)
    first, other = panel.method_dropdown.options[0], panel.method_dropdown.options[1]
    panel.method_dropdown.value = first
    panel.run_button.click()
    assert started.wait(TIMEOUT)
    panel.method_dropdown.value = other                     # changed while the run computes
    release.set()
    assert panel.join(TIMEOUT) and panel.status.startswith("Done")
    ran = calls[0]["method"]
    assert ran == first and panel.result.meta["method"] == ran
    assert panel.download_npz.filename == f"eeg_rdm_epochs_{ran}.npz"
    assert panel.save_to.name_text.value == f"eeg_rdm_epochs_{ran}.npz"

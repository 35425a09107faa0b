"""Browserless tests of the EEG panel: epochs chooser, options, runs with fake and real estimates."""
import threading

import numpy as np
import pytest
from traitlets import TraitError

from _synthetic import epochs_file as _epochs_file
from _widget_helpers import TIMEOUT, _fake_eeg
from rdm_widgets import CostEstimate
from rdm_widgets.demo import demo_root
from rdm_widgets.widgets import EEGPanel


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


# moved from tests/test_estimate.py
def test_eeg_panel_estimate_line_follows_the_options(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "root").mkdir()
    labels = np.repeat(["a", "b", "c"], 6)
    np.savez(tmp_path / "root" / "epochs.npz", eeg=rng.normal(size=(18, 5, 20)).astype(np.float32),
             labels=labels, times=np.linspace(0, 1, 20))
    calls = []

    def fake_estimate(eeg, labels, **options):
        calls.append(dict(options, n_trials=len(labels), shape=eeg.shape))
        return CostEstimate(1.0 * options["decim"], 1000, 0)

    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None, estimate=fake_estimate)
    assert panel.estimate_text == "Estimated: ≈ 1 s · peak RAM 1.0 kB"
    assert calls[-1]["shape"] == (18, 5, 20) and calls[-1]["method"] == "lda"
    panel.decim_input.value = 4
    assert panel.estimate_text.startswith("Estimated: ≈ 4 s") and calls[-1]["decim"] == 4
    panel.method_dropdown.value = "cv_euclidean"
    panel.pseudo_input.value = 3
    panel.perm_input.value = 5
    assert calls[-1]["method"] == "cv_euclidean" and calls[-1]["pseudo_trials"] == 3
    assert calls[-1]["n_permutations"] == 5 and len(calls[-1]["times"]) == 20
    panel.conditions_select.value = ("a", "b")
    assert calls[-1]["n_trials"] == 12
    panel.conditions_select.value = ("a",)           # Run would refuse: no estimate line
    assert panel.estimate_text == ""


def test_panels_use_the_real_estimate_by_default(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "root").mkdir()
    np.savez(tmp_path / "root" / "epochs.npz", eeg=rng.normal(size=(18, 5, 20)), labels=np.repeat([1, 2, 3], 6))
    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None)
    assert panel.estimate_text.startswith("Estimated: ≈ ") and panel.estimated_seconds > 0
    panel.pseudo_input.value = 7                     # more pseudo-trials than trials: shown before Run
    assert panel.estimate_text.startswith("Estimated: not available (pseudo_trials=7 exceeds")


def test_method_and_device_choices_come_from_the_core():
    from rdm_widgets._options import available_devices
    from rdm_widgets.eeg import METHODS

    panel = EEGPanel(data_root=demo_root(), compute=lambda *a, **k: None, estimate=False)
    assert list(panel.method_dropdown.options) == list(METHODS) and panel.method_dropdown.value == "lda"
    assert list(panel.device_dropdown.options) == available_devices()


def test_eeg_panel_user_picks_data_and_label_arrays(tmp_path):
    """An epochs file whose arrays are not called 'eeg': the data and label keys are chosen in the panel."""
    rng = np.random.default_rng(0)
    root = tmp_path / "root"
    root.mkdir()
    a, b = rng.normal(size=(12, 3, 5)), rng.normal(size=(8, 3, 5))
    np.savez(root / "subj.npz", data=a, cond=np.repeat(["x", "y", "z"], 4), run=np.arange(12) % 2,
             meg=b, y=np.repeat(["p", "q"], 4), times=np.linspace(0, 0.4, 5))
    calls = []
    panel = EEGPanel(data_root=root, compute=_fake_eeg(calls), estimate=False)
    assert [label for label, _ in panel.file_dropdown.options] == ["subj.npz"]
    assert "rdmw-eeg-data-key" in panel.data_key_dropdown._dom_classes
    assert "rdmw-eeg-label-key" in panel.label_dropdown._dom_classes
    assert panel.data_key_dropdown.options == ("data", "meg") and panel.data_key == "data"
    assert panel.label_dropdown.options == ("cond", "run")
    np.testing.assert_array_equal(panel.epochs.eeg, a)
    panel.label_dropdown.value = "run"
    assert panel.conditions_select.options == ("0", "1")
    panel.data_key_dropdown.value = "meg"
    np.testing.assert_array_equal(panel.epochs.eeg, b)
    assert panel.label_dropdown.options == ("y",) and panel.conditions_select.options == ("p", "q")
    assert "8 trials × 3 channels × 5 times" in panel.status
    panel.run(wait=True)
    assert calls[-1]["n_trials"] == 8


def test_eeg_score_options_follow_the_method():
    """'accuracy' is not selectable for the distance methods (crossnobis, cv_euclidean)."""
    from rdm_widgets.eeg import METHODS
    from rdm_widgets.widgets.eeg_panel import score_options

    panel = EEGPanel(compute=_fake_eeg(), estimate=False)
    panel.score_dropdown.value = "decision"
    for method in METHODS:
        panel.method_dropdown.value = method
        labels = [o[0] if isinstance(o, tuple) else o for o in panel.score_dropdown.options]
        if METHODS[method].is_lda:
            assert labels == ["accuracy", "decision"] and not panel.score_dropdown.disabled
        else:
            assert "accuracy" not in labels and "decision" not in labels and panel.score_dropdown.disabled
            assert panel.options()["score"] == "accuracy"       # the core's only value for distances
    panel.method_dropdown.value = "lda"
    assert panel.score_dropdown.value == "accuracy"
    assert score_options("crossnobis") != score_options("lda")


def test_eeg_download_and_save_to(tmp_path):
    from rdm_widgets.eeg import TimeResolvedRDM

    root = tmp_path / "root"
    _epochs_file(root / "eeg")
    panel = EEGPanel(data_root=root, compute=_fake_eeg(), estimate=False, save_to_root=root)
    assert "rdmw-download-eeg" in panel.download_npz._dom_classes and panel.download_npz.data == b""
    panel.run(wait=True)
    assert panel.status.startswith("Done")
    assert panel.download_npz.filename == "eeg_rdm_epochs_lda.npz"
    path = tmp_path / "down.npz"
    path.write_bytes(panel.download_npz.data)
    loaded = TimeResolvedRDM.from_file(path)
    np.testing.assert_allclose(loaded.data, panel.result.data)
    np.testing.assert_allclose(loaded.times, panel.result.times)
    panel.save_to.name_text.value = "results/eeg.npz"
    panel.save_to.save_button.click()
    assert panel.save_to.status == "Saved to results/eeg.npz"
    np.testing.assert_allclose(TimeResolvedRDM.from_file(root / "results" / "eeg.npz").data, panel.result.data)
    panel.save_to.save_button.click()
    assert "exists" in panel.save_to.status


def test_eeg_panel_messages_have_no_server_paths(tmp_path):
    root = tmp_path / "root"
    good = _epochs_file(root / "eeg")
    panel = EEGPanel(data_root=root, compute=_fake_eeg(), estimate=False)
    good.unlink()                               # the file vanished: the reader names its path
    panel.file = None
    panel.file = str(good)
    assert panel.status.startswith("Error") and "eeg/epochs.npz" in panel.status
    assert str(tmp_path) not in panel.status
    with pytest.raises(TraitError) as err:
        panel.file = str(tmp_path / "elsewhere.npz")
    assert str(tmp_path) not in str(err.value)
    empty = EEGPanel(data_root=tmp_path / "root" / "eeg", compute=_fake_eeg(), estimate=False)
    assert empty.status.startswith("No epoch files") and str(tmp_path) not in empty.status


# ------------------------------------------------------------------ temporal generalisation
def test_generalization_checkbox_runs_the_real_core_and_shows_the_viewer(tmp_path):
    from rdm_widgets.eeg import GeneralizationRDM, eeg_rdm

    path = _epochs_file(tmp_path / "root")
    panel = EEGPanel(data_root=tmp_path / "root", estimate=False)
    panel.label_key = "target"
    assert "generalization" not in panel.options()
    assert panel.generalization_viewer.layout.display == "none"
    panel.generalization_checkbox.value = True
    assert panel.options()["generalization"] is True
    panel.decim_input.value = 4
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.status.startswith("Done: 2 × 2 RDMs at 5 time points and at 5 × 5 train × test times"), panel.status
    gen = panel.generalization_result
    assert isinstance(gen, GeneralizationRDM) and gen.shape == (2, 2, 5, 5)
    with np.load(path) as z:
        ref = eeg_rdm(z["eeg"], z["target"], times=z["times"], decim=4, random_state=0, generalization=True)
    np.testing.assert_array_equal(gen.data, ref.data)
    # the panel's result stays a time-resolved RDM (the diagonal): the timecourse viewer keeps working
    np.testing.assert_array_equal(panel.result.data, ref.diagonal().data)
    assert panel.generalization_viewer.result is gen and panel.generalization_viewer.layout.display is None
    assert panel.download_generalization.layout.display is None
    # unticked: an ordinary run hides the viewer again
    panel.generalization_checkbox.value = False
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    assert panel.generalization_result is None and panel.generalization_viewer.layout.display == "none"


def test_generalization_estimate_without_support_still_shows_a_line(tmp_path):
    _epochs_file(tmp_path / "root")
    calls = []

    def old_estimate(eeg, labels, *, method, cv, pseudo_trials, n_permutations, random_state,
                     noise_normalization, decim, window, score, device, times):
        calls.append(method)
        return CostEstimate(2.0, 1000, 0)

    def new_estimate(eeg, labels, **options):
        calls.append(options.get("generalization"))
        return CostEstimate(20.0 if options.get("generalization") else 2.0, 1000, 0)

    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None, estimate=old_estimate)
    panel.generalization_checkbox.value = True
    assert panel.estimate_text.startswith("Estimated: ≈ 2 s") and "not estimated" in panel.estimate_text
    panel = EEGPanel(data_root=tmp_path / "root", compute=lambda *a, **k: None, estimate=new_estimate)
    panel.generalization_checkbox.value = True
    assert panel.estimate_text.startswith("Estimated: ≈ 20 s") and "not estimated" not in panel.estimate_text
    assert calls[-1] is True

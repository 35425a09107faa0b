"""eeg_rdm on MNE epochs: the bundled S001 epochs as an mne.EpochsArray give the array path's values,
with times in seconds and event names as conditions; -epo.fif files, metadata columns,
hierarchical event names, picks, eeg_rdms, read_epochs."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")

from rdm_widgets import eeg_rdm, eeg_rdms, read_epochs  # noqa: E402
from rdm_widgets.demo import demo_path  # noqa: E402
from rdm_widgets.eeg import UnbalancedTrialsWarning, plan_eeg_rdm  # noqa: E402
from rdm_widgets.interop import epochs_to_arrays, label_level  # noqa: E402

DECIM = 8          # 21 time points: the same kernel calls as the full run, quicker


@pytest.fixture(scope="module")
def s001():
    with np.load(demo_path("eeg")) as z:
        return {k: z[k] for k in z.files}


def _epochs(z, names, metadata=None, ch_types="eeg"):
    event_id = {n: i + 1 for i, n in enumerate(sorted(set(names)))}
    events = np.c_[np.arange(len(names)) * 200, np.zeros(len(names), int), [event_id[n] for n in names]]
    info = mne.create_info([str(c) for c in z["ch_names"]], float(z["sfreq"]), ch_types)
    return mne.EpochsArray(z["eeg"], info, events=events, tmin=float(z["times"][0]), event_id=event_id,
                           metadata=metadata, verbose="error")


@pytest.fixture(scope="module")
def epochs(s001):
    return _epochs(s001, s001["target"].tolist())


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnbalancedTrialsWarning)
        return eeg_rdm(*args, **kwargs)


def test_epochs_array_equals_array_path(epochs, s001):
    with pytest.warns(UnbalancedTrialsWarning, match=r"'both_feet': 46.*'right_fist': 44"):
        got = eeg_rdm(epochs, decim=DECIM)
    ref = _quiet(s001["eeg"], s001["target"], times=epochs.times, decim=DECIM)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.conditions == ["both_feet", "both_fists", "left_fist", "right_fist"]       # names, not codes
    np.testing.assert_allclose(got.times, s001["times"][::DECIM], atol=1e-6)           # seconds
    assert got.times[0] == pytest.approx(-0.2) and got.times[-1] == pytest.approx(0.8)
    m = got.meta
    assert m["labels_from"] == "event_id" and m["sfreq"] == 160.0 and m["input"] == "mne.EpochsArray"
    assert m["ch_names"] == [str(c) for c in s001["ch_names"]] and m["n_channels"] == 64
    assert m["n_trials_available"]["both_feet"] == 46 and m["n_trials_used"]["both_feet"] == 44


def test_fif_round_trip(epochs, tmp_path):
    path = tmp_path / "s001-epo.fif"
    epochs.save(path, verbose="error")
    from_file = _quiet(path, decim=DECIM)
    np.testing.assert_array_equal(from_file.data, _quiet(epochs, decim=DECIM).data)
    assert from_file.conditions == ["both_feet", "both_fists", "left_fist", "right_fist"]
    assert from_file.meta["input"] == str(path)
    np.testing.assert_array_equal(_quiet(str(path), decim=DECIM).data, from_file.data)
    ep = read_epochs(path)
    assert ep.eeg.shape == (180, 64, 161) and ep.labels["event"][0] == "right_fist"
    np.testing.assert_allclose(ep.times, epochs.times)
    plan = plan_eeg_rdm(path, decim=DECIM)                  # the estimate's planner takes the file too
    assert plan.n_conditions == 4 and plan.k == 44 and plan.n_times_out == 21


def test_metadata_column(s001):
    pd = pytest.importorskip("pandas")
    md = pd.DataFrame({"movement": s001["target"], "condition": s001["labels"], "run": s001["run"]})
    ep = _epochs(s001, s001["target"].tolist(), metadata=md)
    got = _quiet(ep, "condition", decim=DECIM)
    ref = _quiet(s001["eeg"], s001["labels"], times=ep.times, decim=DECIM)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.conditions == sorted(set(s001["labels"].tolist())) and got.meta["labels_from"] == "metadata:condition"
    with pytest.raises(ValueError, match=r"no column of epochs.metadata.*'movement'"):
        eeg_rdm(ep, "cond")
    with pytest.raises(ValueError, match="no metadata"):
        eeg_rdm(_epochs(s001, s001["target"].tolist()), "condition")
    arr = _quiet(ep, s001["labels"], decim=DECIM)                 # an array of labels
    np.testing.assert_array_equal(arr.data, ref.data)


def test_hierarchical_event_names(s001):
    names = [f"{t}/{k}" for t, k in zip(s001["target"], s001["task"])]     # e.g. 'left_fist/real'
    ep = _epochs(s001, names)
    assert len(ep.event_id) == 8
    first = _quiet(ep, level=0, decim=DECIM)
    np.testing.assert_array_equal(first.data, _quiet(s001["eeg"], s001["target"], decim=DECIM).data)
    assert first.conditions == ["both_feet", "both_fists", "left_fist", "right_fist"] and first.meta["level"] == 0
    last = _quiet(ep, level=-1, decim=DECIM)
    assert last.conditions == ["imagined", "real"]
    np.testing.assert_array_equal(last.data, _quiet(s001["eeg"], s001["task"], decim=DECIM).data)
    full = _quiet(ep, decim=DECIM)
    assert len(full.conditions) == 8 and full.conditions[0] == "both_feet/imagined"
    assert list(label_level(["a/b/c"], (0, 2))) == ["a/c"]
    with pytest.raises(ValueError, match=r"'right_fist/real' has 2 part\(s\).*level=2"):
        eeg_rdm(ep, level=2)


def test_picks_and_bad_channels(s001):
    types = ["eeg"] * 62 + ["eog"] * 2
    ep = _epochs(s001, s001["target"].tolist(), ch_types=types)
    d = epochs_to_arrays(ep)                                        # 'data' channels: EOG left out
    assert len(d.ch_names) == 62 and d.sfreq == 160.0 and d.labels_from == "event_id"
    ep.info["bads"] = ["FC5"]
    assert "FC5" not in epochs_to_arrays(ep, picks="eeg").ch_names
    assert epochs_to_arrays(ep, picks="eog").ch_names == [str(c) for c in s001["ch_names"][62:]]
    got = _quiet(ep, picks="eeg", decim=DECIM)
    ref = _quiet(s001["eeg"][:, 1:62], s001["target"], decim=DECIM)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.meta["picks"] == "eeg" and len(got.meta["ch_names"]) == 61
    with pytest.raises(ValueError, match=r"picks='grad' selects no channel.*\['eeg', 'eog'\]"):
        eeg_rdm(ep, picks="grad")


def test_input_errors(epochs, s001):
    with pytest.raises(ValueError, match="MNE epochs carry their times"):
        eeg_rdm(epochs, times=np.arange(161))
    with pytest.raises(ValueError, match="picks= selects channels of MNE epochs"):
        eeg_rdm(s001["eeg"], s001["target"], picks="eeg")
    with pytest.raises(ValueError, match="labels are required for array input"):
        eeg_rdm(s001["eeg"])
    with pytest.raises(ValueError, match="Got labels of shape"):
        eeg_rdm(epochs, np.arange(3))
    with pytest.raises(FileNotFoundError):
        eeg_rdm("missing-epo.fif")


def test_eeg_rdms_with_epochs(epochs, s001):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnbalancedTrialsWarning)
        out = eeg_rdms({"S001": epochs, "S001 again": (s001["eeg"], s001["target"])}, decim=DECIM)
    np.testing.assert_array_equal(out["S001"].data, out["S001 again"].data)
    assert out["S001"].conditions == ["both_feet", "both_fists", "left_fist", "right_fist"]


def test_array_path_imports_no_peer():
    code = ("import sys, numpy as np; from rdm_widgets import eeg_rdm; "
            "x = np.random.default_rng(0).normal(size=(12, 3, 2)); eeg_rdm(x, np.arange(12) % 2); "
            "print(sorted(m for m in ('mne', 'rsatoolbox', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

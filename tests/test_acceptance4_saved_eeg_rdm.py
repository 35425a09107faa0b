"""A saved EEG RDM in the data folder is never taken for epochs (dashboard acceptance pass 4).

The EEG tab's "Save to" writes a TimeResolvedRDM ``.npz`` (``data`` (n, n, T), ``times`` (T,),
``conditions`` (n,)): a 3-D array with one label per "trial", which the data-folder scan listed
as "4 trials x 4 channels x T times" epochs. Real data: the S001 EEG epochs of
/work/shared/data (bundled as the demo's ``eeg``), and an RDM computed from them.
"""
import json
import shutil

import numpy as np
import pytest

from rdm_widgets import data_root
from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import GeneralizationRDM, TimeResolvedRDM, eeg_rdm
from rdm_widgets.eeg._epochs import is_epochs_file, read_epochs, read_epochs_keys

S001 = "eegmmidb_S001_epochs.npz"


@pytest.fixture(scope="module")
def s001():
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        return {k: z[k] for k in ("eeg", "target", "times")}


@pytest.fixture(scope="module")
def saved_root(tmp_path_factory, s001):
    """A data folder as the dashboard leaves it: the S001 epochs and the EEG tab's saved result."""
    root = tmp_path_factory.mktemp("acc4") / "root"
    root.mkdir()
    shutil.copy(demo_path("eeg"), root / S001)
    sl = slice(60, 100)                     # 40 samples around the motor response, decim=10: 4 time points
    with pytest.warns(Warning):             # unbalanced conditions (44-46 trials): said, not an error
        result = eeg_rdm(s001["eeg"][:, :, sl], s001["target"], method="cv_euclidean",
                         times=s001["times"][sl], decim=10)
    result.save(root / "eeg_rdm_cv_euclidean.npz")
    return root, result


def test_scan_lists_the_epochs_and_skips_the_saved_rdm_with_the_way_to_open_it(saved_root, s001):
    root, result = saved_root
    assert result.data.shape[0] == result.data.shape[1] == 4          # 4 conditions: looks like 4 "trials"
    entries = {e.path: e for e in data_root.scan(root)}
    epochs = [p for p, e in entries.items() if e.kind == "epochs"]
    assert epochs == [S001]
    n_tr, n_ch, n_t = s001["eeg"].shape
    assert entries[S001].details.startswith(f"{n_tr} trials × {n_ch} channels × {n_t} times")
    saved = entries["eeg_rdm_cv_euclidean.npz"]
    assert saved.kind == "skipped"
    assert "a saved EEG RDM (rdm_widgets.time_resolved/1)" in saved.reason
    assert "TimeResolvedRDM.from_file" in saved.reason and str(root) not in saved.reason
    assert data_root.first_entry(root, "epochs").path == S001
    assert not is_epochs_file(root / "eeg_rdm_cv_euclidean.npz") and is_epochs_file(root / S001)


def test_read_epochs_refuses_a_saved_rdm_naming_the_file_and_the_reader(saved_root):
    root, result = saved_root
    path = root / "eeg_rdm_cv_euclidean.npz"
    for read in (read_epochs, lambda p: read_epochs_keys(p, "data")):
        with pytest.raises(ValueError) as err:
            read(path)
        text = str(err.value)
        assert path.name in text and "a saved EEG RDM" in text and "not epochs" in text
        assert f"TimeResolvedRDM.from_file({str(path)!r})" in text
    back = TimeResolvedRDM.from_file(path)                      # the advice works
    np.testing.assert_array_equal(back.data, result.data)
    assert list(back.conditions) == list(result.conditions)


def test_the_eeg_panel_and_the_data_browser_offer_only_the_epochs(saved_root):
    pytest.importorskip("ipywidgets")
    from rdm_widgets.widgets import EEGPanel
    from rdm_widgets.widgets._paths import DataBrowser

    root, _ = saved_root
    panel = EEGPanel(data_root=root, compute=lambda *a, **k: None, estimate=False)
    assert [label for label, _ in panel.file_dropdown.options] == [S001]
    html = DataBrowser(root).skipped_html.value
    assert "Skipped 1 entry" in html and "eeg_rdm_cv_euclidean.npz" in html and "TimeResolvedRDM.from_file" in html


def _old_time_resolved(path, rng, n=5, t=7):
    """A TimeResolvedRDM file written before the ``format`` key (keys data, times, conditions, meta_json)."""
    a = rng.random((n, n, t))
    data = (a + a.transpose(1, 0, 2)) / 2
    data[np.arange(n), np.arange(n)] = 0
    np.savez(path, data=data, times=np.linspace(0, 0.6, t), conditions=np.array([f"c{i}" for i in range(n)]),
             meta_json=np.asarray(json.dumps({})))
    return data


def test_other_saved_rdm_files_are_not_epochs_and_real_epochs_with_the_same_keys_still_are(tmp_path):
    from rdm_widgets.eeg._saved_files import saved_rdm_file

    rng = np.random.default_rng(4)
    data = _old_time_resolved(tmp_path / "old.npz", rng)
    np.testing.assert_array_equal(TimeResolvedRDM.from_file(tmp_path / "old.npz").data, data)
    g = rng.random((4, 4, 3, 3))
    GeneralizationRDM((g + g.transpose(1, 0, 2, 3)) / 2, conditions=list("abcd")).save(tmp_path / "gen.npz")
    m = rng.random((6, 6))
    from rdm_widgets.rdm import LayerRDM
    layer = LayerRDM((m + m.T) / 2 * (1 - np.eye(6)), [f"s{i}" for i in range(6)], "conv1")
    layer.save(tmp_path / "RDM_conv1.npz")

    kinds = {name: data_root.classify_file(tmp_path / name) for name in ("old.npz", "gen.npz", "RDM_conv1.npz")}
    assert kinds["old.npz"][0] == "skipped" and "keys data, times, conditions" in kinds["old.npz"][1]
    assert kinds["gen.npz"][0] == "skipped" and "rdm_widgets.generalization/1" in kinds["gen.npz"][1]
    assert "GeneralizationRDM.from_file" in kinds["gen.npz"][1]
    assert kinds["RDM_conv1.npz"][0] == "rdm" and kinds["RDM_conv1.npz"][2].startswith("1 RDM of 6 stimuli")
    for name, opener in (("old.npz", "TimeResolvedRDM"), ("gen.npz", "GeneralizationRDM"),
                         ("RDM_conv1.npz", "LayerRDM")):
        assert saved_rdm_file(tmp_path / name)[2] == f"{opener}.from_file"
        with pytest.raises(ValueError, match=rf"{name}.*not epochs.*{opener}\.from_file"):
            read_epochs(tmp_path / name)

    # real epochs that happen to use the same key names: 12 trials x 3 channels, labels per trial
    eeg = rng.standard_normal((12, 3, 7))
    labels = np.repeat(np.array(["a", "b", "c"]), 4)
    np.savez(tmp_path / "epochs.npz", data=eeg, times=np.linspace(0, 0.6, 7), conditions=labels,
             meta_json=np.asarray("{}"))
    assert saved_rdm_file(tmp_path / "epochs.npz") is None
    assert data_root.classify_file(tmp_path / "epochs.npz")[0] == "epochs"
    ep = read_epochs(tmp_path / "epochs.npz")
    np.testing.assert_array_equal(ep.eeg, eeg)
    np.testing.assert_array_equal(ep.labels["conditions"], labels)


def test_read_rdm_file_names_the_reader_of_a_saved_eeg_rdm(saved_root):
    """As a brain RDM it is refused with the call that opens it (the EEG tab cannot)."""
    from rdm_widgets import read_rdm_file
    root, result = saved_root
    with pytest.raises(ValueError, match=r"time-resolved \(EEG\) RDM.*TimeResolvedRDM\.from_file"):
        read_rdm_file(root / "eeg_rdm_cv_euclidean.npz")
    back = TimeResolvedRDM.from_file(root / "eeg_rdm_cv_euclidean.npz")
    np.testing.assert_array_equal(np.asarray(back.data), np.asarray(result.data))

"""Reading epochs (rdm_widgets.eeg.read_epochs): .npz arrays recognised by content, headers only."""
import zipfile

import numpy as np
import pytest

from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import Epochs, find_epoch_arrays, is_epochs_file, read_epochs
from _synthetic import epochs_file as _epochs_file


def test_load_epochs(tmp_path):                    # moved from test_widgets.py (load_epochs = read_epochs)
    ep = read_epochs(_epochs_file(tmp_path))
    assert ep.eeg.shape == (24, 5, 20) and ep.label_keys == ["labels", "target"]
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no 'eeg' array"):
        read_epochs(tmp_path / "bad.npz")
    np.savez(tmp_path / "nolabels.npz", eeg=np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="no label array"):
        read_epochs(tmp_path / "nolabels.npz")
    real = read_epochs(demo_path("eeg"))
    assert real.eeg.shape == (180, 64, 161) and real.label_keys[:2] == ["labels", "target"]


def test_widgets_load_epochs_is_the_core_reader():
    pytest.importorskip("ipywidgets")
    from rdm_widgets.widgets import load_epochs
    from rdm_widgets.widgets.eeg_panel import Epochs as PanelEpochs

    assert load_epochs is read_epochs and PanelEpochs is Epochs


def test_epochs_recognised_by_content_not_key_name(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3, 5))
    cond = np.array([1, 2, 1, 2, 1, 2], dtype=np.int16)
    np.savez(tmp_path / "data.npz", data=x, cond=cond, sfreq=np.float32(100.0))
    np.savez(tmp_path / "any.npz", trials=x, ch_pos=np.zeros((3, 3)), stim=np.array(list("abcabc")),
             run=np.arange(6, dtype=np.int64), rt=np.ones(6))             # float 1-D: not a label
    for name, key, labels in (("data.npz", "data", ["cond"]), ("any.npz", "trials", ["stim", "run"])):
        path = tmp_path / name
        assert is_epochs_file(path) and find_epoch_arrays(path) == (key, labels)
        ep = read_epochs(path)
        np.testing.assert_array_equal(ep.eeg, x)
        assert ep.label_keys == labels and ep.source == str(path)
    np.testing.assert_allclose(read_epochs(tmp_path / "data.npz").times, np.arange(5) / 100.0)
    assert read_epochs(tmp_path / "any.npz").times is None
    # the preferred names win among several 3-D arrays; mappings of arrays work too
    z = {"power": x[:, :, :4], "epochs": x, "y": cond}
    assert find_epoch_arrays(z) == ("epochs", ["y"])
    assert find_epoch_arrays({"eeg": ((6, 3, 5), np.dtype("f4")), "labels": ((6,), np.dtype("U3"))}) == \
        ("eeg", ["labels"])


def test_files_that_are_not_epochs(tmp_path):
    # a stack of RDMs (3-D, no per-trial label array), 2-D features, a broken zip, text
    np.savez(tmp_path / "rdms.npz", arr_0=np.zeros((15, 8, 8)))
    np.savez(tmp_path / "features.npz", layer=np.zeros((10, 4)), names=np.array(list("abcdefghij")))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    for name in ("rdms.npz", "features.npz", "broken.npz"):
        assert not is_epochs_file(tmp_path / name), name
    assert is_epochs_file(demo_path("eeg"))
    assert not is_epochs_file(demo_path("fmri_it"))                  # (15, 78, 78) RDMs, no labels
    with pytest.raises(ValueError, match="no label array"):
        read_epochs(tmp_path / "rdms.npz")
    with pytest.raises(ValueError, match="not a readable .npz"):
        read_epochs(tmp_path / "broken.npz")
    np.savez(tmp_path / "flat.npz", eeg=np.zeros((6, 3)), labels=np.arange(6))
    with pytest.raises(ValueError, match=r"'eeg' has shape \(6, 3\)"):
        read_epochs(tmp_path / "flat.npz")
    with pytest.raises(FileNotFoundError):
        read_epochs(tmp_path / "missing.npz")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="Unsupported EEG file"):
        read_epochs(tmp_path / "x.csv")


def test_reading_never_unpickles(tmp_path):
    path = _epochs_file(tmp_path)
    with zipfile.ZipFile(path, "a") as zf:              # an object array beside the epochs
        with zf.open("notes.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    ep = read_epochs(path)
    assert "notes" not in ep.labels and ep.eeg.shape == (24, 5, 20)

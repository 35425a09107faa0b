"""rdm_widgets.data_root: what a data folder holds (features, epochs, RDMs, sidecars) or why it is skipped."""
import os

import h5py
import numpy as np
import pytest

from _synthetic import epochs_file as _epochs_file
from _widget_helpers import _feature_folder
from rdm_widgets import data_root
from rdm_widgets.data_root import (epoch_arrays, first_entry, inside, list_folders, read_epochs_keys,
                                   relative_text, scan)


def _rdm_stack(path, k=3, n=6, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.random((k, n, n))
    m = (m + np.swapaxes(m, 1, 2)) / 2
    for s in m:
        np.fill_diagonal(s, 0)
    np.savez(path, arr_0=m)
    return m


def _user_root(tmp_path):
    """A user's folder: features in a sub-folder, epochs under key 'data', an RDM stack, junk."""
    root = tmp_path / "root"
    _feature_folder(root / "models" / "feats")
    (root / "models" / "feats" / "info.json").write_text("{}")
    (root / "eeg").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(root / "eeg" / "subj1.npz", data=rng.normal(size=(12, 3, 5)),
             cond=np.repeat(["a", "b", "c"], 4), session=np.arange(12) % 2, times=np.linspace(0, 1, 5))
    (root / "brain").mkdir()
    _rdm_stack(root / "brain" / "fmri_EVC.npz")
    with h5py.File(root / "rsatb_rdm.hdf5", "w") as fh:
        fh["dissimilarities"] = np.zeros((1, 3))
        fh["pattern_descriptors/stim"] = np.array([b"a", b"b", b"c"], dtype="S8")
    (root / "notes.docx").write_bytes(b"junk")
    (root / "README.md").write_text("my data")
    return root


def test_scan_kinds_and_reasons(tmp_path):
    root = _user_root(tmp_path)
    top = {e.path: e for e in scan(root, root)}
    assert top["README.md"].kind == "sidecar"
    assert top["notes.docx"].kind == "skipped" and "not a data file" in top["notes.docx"].reason
    h5 = top["rsatb_rdm.hdf5"]
    if h5.kind == "skipped":    # no rsatoolbox reader: the features reader's reason, relative
        assert "pattern_descriptors/stim" in h5.reason and "|S8" in h5.reason and "numeric" in h5.reason
        assert str(tmp_path) not in h5.reason
    else:
        assert h5.kind == "rdm"
    feats = {e.path: e for e in scan(root / "models", root)}
    assert feats["models/feats"].kind == "features" and feats["models/feats"].details == "8 stimuli, 2 layers"
    inner = {e.path: e for e in scan(root / "models" / "feats", root)}
    assert inner["models/feats"].kind == "features"
    assert inner["models/feats/info.json"].kind == "sidecar"       # never skipped
    assert not [e for e in inner.values() if e.kind == "skipped"]
    eeg = {e.path: e for e in scan(root / "eeg", root)}
    assert eeg["eeg/subj1.npz"].kind == "epochs" and "'data'" in eeg["eeg/subj1.npz"].details
    brain = {e.path: e for e in scan(root / "brain", root)}
    assert brain["brain/fmri_EVC.npz"].kind == "rdm" and "3 RDMs" in brain["brain/fmri_EVC.npz"].details
    assert first_entry(root).path == "models/feats"
    assert first_entry(root, "epochs").path == "eeg/subj1.npz"
    assert first_entry(root / "brain", "features") is None


def test_scan_never_reads_links_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    _epochs_file(outside)
    _feature_folder(outside / "feats")
    (root / "sub").mkdir(parents=True)
    os.symlink(outside / "epochs.npz", root / "sub" / "linked.npz")        # a symlinked FILE
    os.symlink(outside / "feats", root / "feats_link")                      # a symlinked folder
    _epochs_file(root / "inner")
    os.symlink(root / "inner" / "epochs.npz", root / "sub" / "ok_link.npz")  # a link inside the root
    paths = [e.path for e in scan(root / "sub", root)]
    assert "sub/linked.npz" not in paths and paths == ["inner/epochs.npz"]
    assert [p for p, _ in list_folders(root)] == [".", "inner", "sub"]
    assert "feats_link" not in [e.path for e in scan(root, root)]
    with pytest.raises(ValueError, match="not a folder inside the data root"):
        scan(root / "feats_link", root)
    with pytest.raises(ValueError, match="not a folder inside the data root"):
        scan(root / "..", root)
    assert inside(root / "sub" / "linked.npz", root) is None


def test_relative_text_hides_the_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    msg = f"Dataset in {root}/sub/x.h5 failed; root {root}; upload {tmp_path}/up/y.npz"
    out = relative_text(msg, root, {tmp_path / "up": "uploads"})
    assert str(tmp_path) not in out
    assert "sub/x.h5" in out and "root ." in out and "uploads/y.npz" in out
    assert relative_text(f"{root}2/z.npz", root) == f"{root}2/z.npz"      # another folder, left alone


def test_epoch_keys_chosen_by_the_user(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "e.npz"
    a, b = rng.normal(size=(6, 2, 4)), rng.normal(size=(4, 2, 4))
    np.savez(path, meg=a, eeg_small=b, y=np.array([0, 1] * 3), z=np.array(list("abab")))
    assert epoch_arrays(path) == {"meg": ["y"], "eeg_small": ["z"]}
    ep = read_epochs_keys(path, "eeg_small")
    np.testing.assert_array_equal(ep.eeg, b)
    assert ep.label_keys == ["z"]
    with pytest.raises(ValueError, match="not a 3-D numeric array"):
        read_epochs_keys(path, "y")


def test_large_feature_folder_judged_by_first_file(tmp_path, monkeypatch):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    monkeypatch.setattr(data_root, "MAX_CLASSIFIED_FILES", 2)
    entries = scan(root / "feats", root)
    assert [(e.path, e.kind) for e in entries] == [("feats", "features")]

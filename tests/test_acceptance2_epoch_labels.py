"""Acceptance, second pass: an epochs file whose label array is one trial short (or float, or
(n, 1)) gets an error naming that array and both lengths, not only "no label array"."""
from pathlib import Path

import numpy as np
import pytest

from rdm_widgets import read_epochs
from rdm_widgets.data_root import read_epochs_keys

S001 = Path("/work/shared/data/eeg/eegmmidb_S001_epochs.npz")


def _real(n=60):
    """The first n trials of the real S001 epochs (eeg, target, times, ch_names), or seeded data."""
    if S001.is_file():
        with np.load(S001, allow_pickle=False) as z:
            return {"eeg": z["eeg"][:n, :8, :40], "target": z["target"][:n], "times": z["times"][:40],
                    "ch_names": z["ch_names"][:8]}
    rng = np.random.default_rng(0)
    return {"eeg": rng.standard_normal((n, 8, 40)).astype("float32"), "target": np.repeat(list("abcd"), n // 4),
            "times": np.linspace(-0.2, 0.05, 40), "ch_names": np.array([f"C{i}" for i in range(8)])}


@pytest.mark.parametrize("reader", [read_epochs, lambda p: read_epochs_keys(p, "eeg")])
def test_label_array_one_trial_short_is_named(tmp_path, reader):
    arrays = _real()
    arrays["target"] = arrays["target"][:58]
    np.savez(tmp_path / "ep.npz", **arrays)
    with pytest.raises(ValueError, match="no label array") as info:
        reader(tmp_path / "ep.npz")
    msg = str(info.value)
    assert "'target' has 58 entries" in msg and "'eeg' has 60 trials" in msg, msg
    assert msg.index("'target'") < msg.index("'ch_names'")     # the nearest miss first


def test_float_and_column_labels_are_named(tmp_path):
    arrays = _real()
    target = arrays.pop("target")
    codes = np.unique(target, return_inverse=True)[1]
    np.savez(tmp_path / "f.npz", **arrays, cond=codes.astype(float))
    with pytest.raises(ValueError, match=r"'cond' has 60 entries but dtype float64"):
        read_epochs(tmp_path / "f.npz")
    np.savez(tmp_path / "c.npz", **arrays, cond=codes[:, None])
    with pytest.raises(ValueError, match=r"'cond' has shape \(60, 1\).*cond\.ravel\(\)"):
        read_epochs(tmp_path / "c.npz")
    np.savez(tmp_path / "ok.npz", **arrays, cond=codes)                 # the fix is read
    ep = read_epochs(tmp_path / "ok.npz")
    np.testing.assert_array_equal(ep.labels["cond"], codes)

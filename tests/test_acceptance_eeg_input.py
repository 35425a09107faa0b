"""Acceptance pass (new-user mistakes with EEG input): epochs in the wrong axis order are refused
with the shapes and the fix, never decoded along the wrong axis; the CLI's --data-key reads the
chosen array with its own labels and times. Real S001 epochs (a small slice) and seeded data."""
import numpy as np
import pytest

from rdm_widgets import eeg_rdm, read_epochs
from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path


@pytest.fixture(scope="module")
def s001():
    """60 trials x 8 channels x 11 times of the bundled S001 epochs (every 16th sample)."""
    ep = read_epochs(demo_path("eeg"))
    return ep.eeg[:60, :8, ::16].astype(np.float64), np.asarray(ep.labels["target"][:60]), ep.times[::16]


def test_times_first_epochs_file_is_refused_not_decoded_over_channels(tmp_path, s001):
    eeg, target, times = s001
    np.savez(tmp_path / "ok.npz", eeg=eeg, target=target, times=times)
    np.testing.assert_array_equal(read_epochs(tmp_path / "ok.npz").times, times)
    # trials x times x channels: the times array fits axis 1, not the time axis; it used to be
    # dropped silently and the 8 channels decoded as 8 "time points"
    np.savez(tmp_path / "tcx.npz", eeg=eeg.transpose(0, 2, 1), target=target, times=times)
    with pytest.raises(ValueError, match=r"'times' has 11 values but 'eeg' has shape \(60, 11, 8\)"
                                         r".*transpose\(0, 2, 1\)"):
        read_epochs(tmp_path / "tcx.npz")


def test_times_of_another_epochs_array_is_left_alone(tmp_path):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 2, 4)), rng.normal(size=(6, 2, 5))
    np.savez(tmp_path / "two.npz", meg=a, eeg_b=b, y=np.array([0, 1] * 3), times=np.arange(4) / 10)
    from rdm_widgets.data_root import read_epochs_keys
    np.testing.assert_array_equal(read_epochs_keys(tmp_path / "two.npz", "meg").times, np.arange(4) / 10)
    assert read_epochs_keys(tmp_path / "two.npz", "eeg_b").times is None


@pytest.mark.parametrize("order", [(1, 2, 0), (2, 1, 0)])
def test_trials_last_array_names_the_axis_and_the_fix(s001, order):
    eeg, target, _ = s001
    moved = eeg.transpose(order)
    with pytest.raises(ValueError, match=rf"Got 60 labels for {moved.shape[0]} trials: eeg has shape "
                                         rf"\({moved.shape[0]}, {moved.shape[1]}, 60\).*np.moveaxis\(eeg, 2, 0\)"):
        eeg_rdm(moved, target)
    # the fix the message gives restores the result of the right order
    fixed = np.moveaxis(moved, 2, 0)
    if order == (1, 2, 0):
        with pytest.warns(UserWarning):
            np.testing.assert_array_equal(eeg_rdm(fixed, target).data, eeg_rdm(eeg, target).data)


def test_wrong_label_count_still_says_one_entry_per_trial(s001):
    eeg, target, _ = s001
    with pytest.raises(ValueError, match="Got 59 labels for 60 trials: 'labels' must have one entry per trial"):
        eeg_rdm(eeg, target[:-1])


def test_cli_data_key_uses_that_arrays_labels_and_is_checked(tmp_path, s001, capsys):
    eeg, target, times = s001
    half = eeg[:40]                               # a second epochs array with fewer trials
    path = tmp_path / "ep.npz"
    np.savez(path, eeg=eeg, target=target, times=times, ch_pos=np.zeros((64, 3)),
             eeg_half=half, cond_half=target[:40])
    # a 2-D array chosen with --data-key: refused by name (it was decoded as 1 time point)
    assert main(["eeg-rdm", str(path), str(tmp_path / "a.npz"), "--data-key", "ch_pos", "-q"]) == 1
    err = capsys.readouterr().err
    assert "'ch_pos' is not a 3-D numeric array" in err and "a.npz" not in err
    assert not (tmp_path / "a.npz").exists()
    # the chosen array's own labels (40 trials), not the default array's (60)
    assert main(["eeg-rdm", str(path), str(tmp_path / "b.npz"), "--data-key", "eeg_half", "-q"]) == 0
    from rdm_widgets import TimeResolvedRDM
    with pytest.warns(UserWarning):
        ref = eeg_rdm(half, target[:40], times=times)
    np.testing.assert_array_equal(TimeResolvedRDM.from_file(tmp_path / "b.npz").data, ref.data)

"""Acceptance, second pass: the messages of two common slips. ``pooling='none'`` says that
``pooling=None`` turns pooling off; ``device='gpu'`` names the device strings to use instead of
torch's list of every device type it knows."""
import numpy as np
import pytest

from rdm_widgets import RDMCreator, eeg_rdm, pairwise_distances, tiled_rdm
from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path
from rdm_widgets.estimate import estimate_rdms

GPU = r"^Invalid value for 'device': 'gpu'\. Use 'cuda' \(or 'cuda:0'\), 'mps' or 'cpu'\.$"


@pytest.mark.parametrize("value", ["none", "None", "avg"])
def test_pooling_string_none_says_pooling_none_turns_it_off(value):
    with pytest.raises(ValueError, match=rf"Invalid value for 'pooling': '{value}'.*pass pooling=None"):
        RDMCreator().compute_rdms(demo_path("minilm"), pooling=value)


def test_pooling_none_itself_still_means_no_pooling():
    x = np.random.default_rng(0).standard_normal((5, 3, 4))       # 5 stimuli, 3 tokens, 4 features
    rdm = RDMCreator().compute_rdms({"enc": x}, pooling=None, distance="euclidean")["enc"]
    flat = x.reshape(5, -1)
    ref = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    np.testing.assert_allclose(rdm.matrix, ref, atol=1e-4)


def test_cli_pooling_none_says_leave_out_the_option(tmp_path, capsys):
    code = main(["create-rdms", str(demo_path("minilm")), str(tmp_path / "o"), "--pooling", "none"])
    err = capsys.readouterr().err
    assert code != 0 and "leave out --pooling" in err, err


def test_device_gpu_names_the_device_strings(tmp_path):
    x = np.random.default_rng(1).standard_normal((6, 3)).astype("float32")
    for call in (lambda: pairwise_distances(x, device="gpu"), lambda: RDMCreator(device="gpu"),
                 lambda: tiled_rdm({"fc": x}, tmp_path / "s", device="gpu"),
                 lambda: estimate_rdms(100, 10, device="gpu")):
        with pytest.raises(ValueError, match=GPU):
            call()


def test_device_gpu_for_eeg_names_only_what_eeg_runs_on():
    rng = np.random.default_rng(2)
    eeg_gpu = r"^Invalid value for 'device': 'gpu'\. Use 'cuda' \(or 'cuda:0'\) or 'cpu'\.$"
    with pytest.raises(ValueError, match=eeg_gpu):
        eeg_rdm(rng.standard_normal((8, 3, 5)), np.repeat([0, 1], 4), device="gpu")

"""Acceptance, second pass: a feature ``.npz`` holding an object (pickled) array is refused with
a message naming the file and the layer, saying it is never loaded, without numpy's
"allow_pickle=False" wording (which invites turning pickles on)."""
import numpy as np
import pytest

from rdm_widgets import RDMCreator, open_features, tiled_rdm

NEVER = r"is a pickled object array; it is never loaded \(loading runs code\): save numeric arrays"


def _stimulus_folder(folder, pickled_at):
    """A per-stimulus folder (Net2Brain layout) of seeded features, file ``pickled_at`` holding
    layer 'x' as an object array."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        x = rng.standard_normal(6)
        np.savez(folder / f"s{i}.npz", x=np.array(list(x), dtype=object) if i == pickled_at else x,
                 y=rng.standard_normal(3))
    return folder


@pytest.mark.parametrize("pickled_at", [0, 3])
def test_per_stimulus_folder(tmp_path, pickled_at):
    folder = _stimulus_folder(tmp_path / "f", pickled_at)
    with pytest.raises(ValueError, match=rf"^'s{pickled_at}\.npz': layer 'x' {NEVER}") as info:
        RDMCreator().compute_rdms(folder, layers=["x"])
    assert "allow_pickle" not in str(info.value)


def test_per_layer_file(tmp_path):
    folder = tmp_path / "layers"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = np.array([f"im{i}" for i in range(5)])
    np.savez(folder / "conv1.npz", features=rng.standard_normal((5, 4)), stimuli=names)
    np.savez(folder / "fc.npz", features=np.array([[1.0, "a"]] * 5, dtype=object), stimuli=names)
    for call in (lambda: open_features(folder), lambda: RDMCreator().compute_rdms(folder),
                 lambda: tiled_rdm(folder, tmp_path / "store", layer="fc")):
        with pytest.raises(ValueError, match=rf"^'fc\.npz': layer 'fc' {NEVER}") as info:
            call()
        assert "allow_pickle" not in str(info.value)
    assert not (tmp_path / "store").exists()


def test_pickled_names_in_a_per_layer_file_named_without_allow_pickle(tmp_path):
    folder = tmp_path / "layers"
    folder.mkdir()
    np.savez(folder / "fc.npz", features=np.random.default_rng(2).standard_normal((4, 3)),
             stimuli=np.array(["a", "b", "c", "d"]), layer=np.array(["fc"], dtype=object))
    with pytest.raises(ValueError, match=r"array 'layer' is a pickled object array; it is never loaded") as info:
        open_features(folder)
    assert "allow_pickle" not in str(info.value) and "fc.npz" in str(info.value)


def test_numeric_files_still_read(tmp_path):
    folder = _stimulus_folder(tmp_path / "f", pickled_at=-1)
    rdm = RDMCreator().compute_rdms(folder, layers=["x"], distance="euclidean")["x"]
    x = np.stack([np.load(folder / f"s{i}.npz")["x"] for i in range(5)])
    ref = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.testing.assert_allclose(rdm.matrix, ref, atol=1e-5)

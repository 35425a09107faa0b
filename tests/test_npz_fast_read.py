"""Uncompressed npz members read straight into the output rows (features/_npz_fast.py)."""
import numpy as np
import pytest

from rdm_widgets.features import _npz_fast, _npz_folder, open_features


def write(folder, arrays_per_file, save=np.savez):
    folder.mkdir()
    for i, arrays in enumerate(arrays_per_file):
        save(folder / f"stim_{i:02d}.npz", **arrays)
    return folder


@pytest.fixture
def counting(monkeypatch):
    """Count the members the fast path filled (True) and declined (False)."""
    calls = []

    def spy(*args):
        ok = _npz_fast.read_stored_into(*args)
        calls.append(ok)
        return ok

    monkeypatch.setattr(_npz_folder, "read_stored_into", spy)
    return calls


def seeded(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return [{"conv": rng.normal(size=(1, 3, 4, 5)).astype(np.float32),
             "fc": rng.normal(size=(1, 7)).astype(np.float32)} for _ in range(n)]


def reference(arrays_per_file, key, dtype=np.float32):
    return np.stack([np.asarray(a[key], dtype=np.float64).reshape(-1) for a in arrays_per_file]).astype(dtype)


def test_stored_members_are_read_in_place_and_equal_np_load(tmp_path, counting):
    arrays = seeded()
    folder = write(tmp_path / "f", arrays)
    got = dict(open_features(folder).iter_layers())
    for key in ("conv", "fc"):
        assert np.array_equal(got[key], reference(arrays, key))
    assert counting and all(counting)                       # every member took the fast path


@pytest.mark.parametrize("variant", ["compressed", "float64", "big_endian", "fortran"])
def test_other_members_fall_back_with_the_same_values(tmp_path, counting, variant):
    arrays = seeded(6, seed=1)
    save = np.savez_compressed if variant == "compressed" else np.savez
    if variant == "float64":
        arrays = [{k: v.astype(np.float64) for k, v in a.items()} for a in arrays]
    elif variant == "big_endian":
        arrays = [{k: v.astype(">f4") for k, v in a.items()} for a in arrays]
    elif variant == "fortran":
        arrays = [{k: np.asfortranarray(v[0]) for k, v in a.items()} for a in arrays]
    folder = write(tmp_path / "f", arrays, save)
    got = dict(open_features(folder).iter_layers())
    for key in ("conv", "fc"):
        np.testing.assert_array_equal(got[key], reference(arrays, key))
    declined = {"compressed": 1, "float64": 1, "big_endian": 1, "fortran": 0.5}[variant]
    # fortran: the (7,) layer is the same bytes in either order and is read fast; the (3, 4, 5) is not
    assert counting.count(False) == declined * len(counting)


def test_bad_crc_names_the_file_and_the_array(tmp_path):
    arrays = seeded(5, seed=2)
    folder = write(tmp_path / "f", arrays)
    bad = folder / "stim_03.npz"
    data = bytearray(bad.read_bytes())
    head = data.find(b"conv.npy")                           # the member's local header
    data[head + 200] ^= 0xFF                                # a byte of its array data
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"stim_03\.npz.*'conv'|'conv'.*stim_03\.npz") as err:
        dict(open_features(folder).iter_layers())
    assert "CRC" in str(err.value)


def test_nan_and_shape_errors_name_the_file(tmp_path):
    arrays = seeded(5, seed=3)
    arrays[2]["fc"][0, 3] = np.nan
    folder = write(tmp_path / "nan", arrays)
    with pytest.raises(ValueError, match=r"layer 'fc' in 'stim_02\.npz' contain 1 NaN"):
        dict(open_features(folder).iter_layers())
    arrays = seeded(5, seed=4)
    arrays[4]["conv"] = arrays[4]["conv"][:, :2]
    folder = write(tmp_path / "shape", arrays)
    with pytest.raises(ValueError, match=r"stim_04\.npz"):
        dict(open_features(folder).iter_layers())


def test_pooled_sequences_and_row_blocks(tmp_path, counting):
    rng = np.random.default_rng(5)
    arrays = [{"tokens": rng.normal(size=(1, 6, 4)).astype(np.float32)} for _ in range(7)]
    folder = write(tmp_path / "seq", arrays)
    src = open_features(folder)
    pooled = dict(src.iter_layers(pooling="mean"))["tokens"]
    np.testing.assert_allclose(pooled, np.stack([a["tokens"][0].mean(axis=0) for a in arrays]), rtol=1e-6)
    assert not any(counting)                                 # pooled layers never take the fast path
    blocks = list(src.iter_row_blocks("tokens", rows=3))
    assert np.array_equal(np.concatenate([b for _, b in blocks]), reference(arrays, "tokens"))

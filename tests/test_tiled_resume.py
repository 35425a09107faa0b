"""A tiled run stopped and resumed, and the rules that keep a store safe (rdm_widgets.tiled)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy.spatial.distance import pdist

import rdm_widgets.tiled._tiles as tiles_mod
from _tiled_data import clustered_features
from rdm_widgets import Cancelled, OnDiskRDM, tiled_rdm
from rdm_widgets.tiled import delete_store
from rdm_widgets.tiled._lock import store_lock


@pytest.fixture(scope="module")
def clustered():
    return clustered_features()


def test_cancel_then_resume_computes_only_missing_tiles(clustered, tmp_path, monkeypatch):
    x = clustered[0][:500]
    fresh = tiled_rdm(x, tmp_path / "fresh", tile_size=64)        # 8 blocks -> 36 tiles
    calls = {"n": 0}

    def stop_after(done, total):
        if done >= 1 + 10:                                          # 1 staging block + 10 tiles
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        tiled_rdm(x, tmp_path / "r", tile_size=64, progress=stop_after)
    part = OnDiskRDM(tmp_path / "r")
    assert not part.complete and part.tiles_done == (10, 36)
    assert (tmp_path / "r" / "features.npy").exists() and not (tmp_path / "r" / ".lock").exists()
    with pytest.raises(RuntimeError, match="unfinished"):
        part.window()
    real = tiles_mod.tile_values

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(tiles_mod, "tile_values", counting)
    seen = []
    done = tiled_rdm(x, tmp_path / "r", tile_size=64, progress=lambda d, t: seen.append((d, t)))
    assert calls["n"] == 26 and seen[1] == (11, 37)                 # resumed, progress starts at 11
    np.testing.assert_array_equal(np.asarray(done.condensed), np.asarray(fresh.condensed))
    assert not (tmp_path / "r" / "features.npy").exists()


def test_store_safety(clustered, tmp_path):
    x = clustered[0][:100]
    tiled_rdm(x, tmp_path / "s", tile_size=32)
    with pytest.raises(FileExistsError, match="complete RDM"):
        tiled_rdm(x, tmp_path / "s", tile_size=32)
    with pytest.raises(Cancelled):
        tiled_rdm(x, tmp_path / "p", tile_size=32, progress=lambda d, t: (_ for _ in ()).throw(Cancelled()) if d > 2 else None)
    with pytest.raises(ValueError, match=r"distance: stored 'correlation', now 'euclidean'"):
        tiled_rdm(x, tmp_path / "p", tile_size=32, distance="euclidean")
    with pytest.raises(FileExistsError, match="resume=True"):
        tiled_rdm(x, tmp_path / "p", tile_size=32, resume=False)
    again = tiled_rdm(x, tmp_path / "p", tile_size=32, distance="euclidean", overwrite=True)
    np.testing.assert_allclose(np.asarray(again.condensed), pdist(x, "euclidean"), rtol=1e-5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an on-disk RDM store"):
        tiled_rdm(x, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["format"] == "rdm_widgets.ondisk" and m["n_tiles"] == 10
    delete_store(tmp_path / "p")
    assert not (tmp_path / "p").exists()
    with pytest.raises(FileNotFoundError, match="not an on-disk RDM store"):
        delete_store(tmp_path / "mine")


def test_lock_refuses_a_live_writer_and_takes_over_a_stale_one(clustered, tmp_path):
    x = clustered[0][:100]
    store = tmp_path / "s"
    with pytest.raises(Cancelled):
        tiled_rdm(x, store, tile_size=32, progress=lambda d, t: (_ for _ in ()).throw(Cancelled()) if d > 2 else None)
    with store_lock(store):                                         # a live writer holds the lock
        with pytest.raises(RuntimeError, match=f"being written by process {os.getpid()} on host "):
            tiled_rdm(x, store, tile_size=32)
        assert json.loads((store / ".lock").read_text())["pid"] == os.getpid()
    assert OnDiskRDM(store).tiles_done[0] == 2                      # nothing was touched
    (store / ".lock").write_text("999999999")                       # its process is gone: stale
    with store_lock(store):
        assert json.loads((store / ".lock").read_text())["pid"] == os.getpid()
    assert not (store / ".lock").exists()
    (store / ".lock").write_text("999999999")
    done = tiled_rdm(x, store, tile_size=32)
    np.testing.assert_allclose(np.asarray(done.condensed), 1 - np.corrcoef(x.astype(np.float64))[
        np.triu_indices(100, 1)], atol=2e-6)
    assert not (store / ".lock").exists()

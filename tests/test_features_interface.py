"""Tests of the public :class:`FeatureSource` interface on every format: row blocks,
read costs, worker sources and the attributes callers use instead of the format."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _feature_data import make_mixed, write_hdf5, write_per_layer
from rdm_widgets.features import FeatureSource, ReadCost, open_features, plan_passes


@pytest.fixture
def sources(tmp_path):
    """One source of every format, with the pooling and dtype its layers are read with."""
    folder, _, _ = make_mixed(tmp_path)
    write_per_layer(tmp_path / "per_layer")
    write_hdf5(tmp_path / "feats.h5")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 10)).astype(np.float32)
    return {
        "npz_folder": (open_features(folder), "mean", np.float32),
        "npz_files": (open_features(sorted(folder.glob("*.npz"))), "max", np.float64),
        "npz_layers": (open_features(tmp_path / "per_layer"), "max", np.float32),
        "hdf5": (open_features(tmp_path / "feats.h5"), "last", np.float64),
        "arrays": (open_features({"a": x, "b": x.astype(np.float64), "t": rng.normal(size=(6, 3, 2))}), "first",
                   np.float32),
    }


def test_format_in_memory_and_kind(sources):
    expect = {"npz_folder": "npz_folder", "npz_files": "npz_folder", "npz_layers": "npz_layers",
              "hdf5": "hdf5", "arrays": "arrays"}
    for name, (src, _, _) in sources.items():
        assert src.format == src.kind == expect[name]
        assert src.in_memory is (name == "arrays")
        assert repr(src).startswith(f"<FeatureSource {expect[name]}: ")


@pytest.mark.parametrize("rows", [1, 2, 1024])
def test_iter_row_blocks_equal_iter_layers(sources, rows):
    for name, (src, pooling, dtype) in sources.items():
        whole = dict(src.iter_layers(pooling=pooling, dtype=dtype))
        for layer in src.layers:
            got = np.full_like(whole[layer], np.nan)
            seen = []
            for idx, x in src.iter_row_blocks(layer, pooling=pooling, dtype=dtype, rows=rows):
                assert idx.shape == (len(x),) and len(x) <= rows and x.dtype == dtype
                got[idx] = x
                seen += list(idx)
            assert sorted(seen) == list(range(src.n_stimuli)), (name, layer)
            np.testing.assert_array_equal(got, whole[layer], err_msg=f"{name} {layer}")


def test_iter_row_blocks_order_and_validation(sources, tmp_path):
    src = sources["npz_layers"][0]
    # the second file lists its stimuli in another order: indices say where rows belong
    idx = np.concatenate([i for i, _ in src.iter_row_blocks("blocks/0", pooling="max", rows=2)])
    assert list(idx) == [2, 0, 1]                             # file row r holds stimulus perm[r]
    with pytest.raises(ValueError, match="Invalid value for 'rows'"):
        src.iter_row_blocks("conv1", rows=0)                 # raised at the call
    with pytest.raises(ValueError, match="Did you mean 'conv1'"):
        src.iter_row_blocks("conv")
    with pytest.raises(ValueError, match="'tok'.*pooling='mean'"):
        sources["npz_folder"][0].iter_row_blocks("tok")      # lengths vary: a pooling is required
    # a Fortran-ordered per-layer array cannot be streamed: it is read whole, same rows
    folder = tmp_path / "fortran"
    folder.mkdir()
    a = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    np.savez(folder / "l.npz", features=a, stimuli=np.array(list("abcd")))
    blocks = list(open_features(folder).iter_row_blocks("l", rows=3))
    assert [len(x) for _, x in blocks] == [3, 1]
    np.testing.assert_array_equal(np.concatenate([x for _, x in blocks]), a)


def test_iter_row_blocks_checks_every_file(tmp_path):
    folder, _, truth = make_mixed(tmp_path)
    np.savez(folder / "img_4.npz", conv=np.zeros((1, 3, 4, 5), np.float32), fc=truth["fc"][0],
             tok=truth["tok"][0], tok3=truth["tok3"][0])
    with pytest.raises(ValueError, match=r"'conv' has shape \(1, 3, 4, 5\) in 'img_4.npz'"):
        list(open_features(folder).iter_row_blocks("conv", rows=2))
    src = open_features(folder)
    list(src.iter_row_blocks("fc", rows=2))
    assert src.layer_shape("fc") == (1, 7)


def test_read_cost_numbers(sources):
    # the numbers estimate_features used before the sources computed them themselves
    n5 = 5
    cost = sources["npz_folder"][0].read_cost(pooling="mean")
    assert cost == ReadCost(file_reads=n5, key_reads=4 * n5, read_bytes=n5 * (48 * 4 + 7 * 4 + 25 * 4 + 36 * 2),
                            block_bytes=n5 * (48 + 7 + 5 + 6) * 4, from_files=True)
    assert cost.read_bytes == 1960 and cost.block_bytes == 1320
    folder = sources["npz_folder"][0]
    assert folder.read_cost(["conv", "fc"], "mean", np.float64) == ReadCost(5, 10, 1100, 2200, True)
    # a per-layer file is loaded whole, then converted: stored bytes + output while it is read
    assert sources["npz_layers"][0].read_cost(pooling="max") == ReadCost(2, 2, 600, 3 * 8 * 4 + 3 * 32 * 4, True)
    assert sources["hdf5"][0].read_cost(pooling="last", dtype=np.float64) == ReadCost(2, 2, 1056, 576, True)
    # in memory: nothing read; only the layer whose dtype differs is copied
    arrays = sources["arrays"][0]
    assert arrays.read_cost(["a", "b"]) == ReadCost(0, 0, None, 6 * 10 * 4, False)
    with pytest.raises(ValueError, match="pooling"):
        folder.read_cost(["tok"])


def test_plan_passes_is_greedy():
    assert plan_passes([3, 3, 5, 1], 6) == [[0, 1], [2, 3]]
    assert plan_passes([10, 2], 6) == [[0], [1]]              # an item larger than the budget: a pass alone
    assert plan_passes([], 6) == []


def test_read_cost_matches_count_reads_and_passes(sources):
    src = sources["npz_folder"][0]
    budget = 5 * 48 * 4                       # passes [conv], [fc, tok, tok3]
    assert src.read_cost(pooling="mean").file_reads == src.count_reads(pooling="mean") == 5
    assert src.count_reads(pooling="mean", max_bytes=budget) == 10


def test_worker_sources_paths_and_arrays(sources, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sent = []

    def scatter(items):
        sent.append(items)
        return [f"future{i}" for i in range(len(items))]

    rel = open_features(Path("feats"))                     # relative: workers get absolute paths
    root = tmp_path.resolve()
    assert rel.worker_sources(["conv", "fc"], scatter) == [(str(root / "feats"), None)] * 2
    files = sources["npz_files"][0]
    assert files.worker_sources(["fc"], scatter) == [([str(f.resolve()) for f in files.files], None)]
    assert sources["npz_layers"][0].worker_sources(["conv1"], scatter) == [(str(root / "per_layer"), None)]
    assert open_features("feats.h5").worker_sources(["conv"], scatter) == [(str(root / "feats.h5"), None)]
    assert not sent                                          # files: nothing is sent
    a, b = np.zeros((3, 2), np.float32), np.ones((3, 4))
    arrays = open_features({"a": a, "b": b}, stimuli=["p", "q", "r"])
    got = arrays.worker_sources(["b", "a"], scatter)
    assert got == [({"b": "future0"}, ["p", "q", "r"]), ({"a": "future1"}, ["p", "q", "r"])]
    assert len(sent) == 1 and sent[0][0] is b and sent[0][1] is a   # each layer's array, sent once
    with pytest.raises(ValueError, match="Did you mean 'a'"):
        arrays.worker_sources(["A_"], scatter)


def test_base_class_defaults():
    class Custom(FeatureSource):
        def __init__(self):
            from rdm_widgets.features._shapes import LayerInfo

            super().__init__(["a", "b"], {"x": LayerInfo((3,), False)}, "<custom>")

        def _read_pass(self, block, pooling, dtype, reporter):
            for layer in block:
                reporter.update(1)
                yield layer, np.ones((2, 3), dtype)

    src = Custom()
    assert src.format == "base" and src.in_memory       # unknown sources are never written into
    assert src.worker_sources(["x"], lambda items: ["f"] * len(items)) == [("f", None)]
    assert src.read_cost() == ReadCost(0, 0, None, 2 * 3 * 4, False)
    with pytest.raises(TypeError, match="cannot stream its features by rows"):
        src.iter_row_blocks("x")
    np.testing.assert_array_equal(dict(src.iter_layers())["x"], np.ones((2, 3), np.float32))


def test_tiled_store_keeps_the_canonical_pooling(tmp_path):
    from rdm_widgets import tiled_rdm

    x = np.random.default_rng(0).normal(size=(12, 3, 4)).astype(np.float32)      # (N, seq, D)
    store = tiled_rdm({"tok": x}, tmp_path / "store", pooling="MEAN", tile_size=8)
    assert store.meta["pooling"] == "mean"
    # the resume key holds the canonical name too: another spelling resumes the same job
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["key"]["pooling"] == "mean"

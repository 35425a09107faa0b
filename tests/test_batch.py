"""``create_rdms_many`` without a cluster (rdm_widgets.batch): the files of per-model
``RDMCreator.create_rdms`` runs, validated before anything is computed, all or nothing.
The same with a dask client is in ``test_distributed.py``."""
from pathlib import Path

import numpy as np
import pytest

from _rdm_folders import assert_same_rdm_folder
from rdm_widgets import Cancelled, LayerRDM, RDMCreator, create_rdms_many
from rdm_widgets.distances import DegenerateRowsWarning


def _models():
    rng = np.random.default_rng(3)
    return {"net_a": {"fc": rng.standard_normal((8, 6)), "tok": rng.standard_normal((8, 3, 5))},
            "net_b": {"only": rng.standard_normal((5, 4))}}


def test_many_models_equal_per_model_runs(tmp_path):
    models = _models()
    calls = []
    out = create_rdms_many(models, tmp_path / "many", distance="Cosine", pooling="MEAN", dtype="float64",
                           layers={"net_a": ["tok", "fc"]}, chunk_size=3,
                           progress=lambda d, t: calls.append((d, t)))
    assert out == {m: str(tmp_path / "many" / m) for m in models}
    creator = RDMCreator(dtype="float64")
    assert_same_rdm_folder(out["net_a"], creator.create_rdms(models["net_a"], tmp_path / "a", distance="cosine",
                                                      pooling="mean", layers=["tok", "fc"], chunk_size=3))
    assert_same_rdm_folder(out["net_b"], creator.create_rdms(models["net_b"], tmp_path / "b", distance="cosine",
                                                      pooling="mean", chunk_size=3))
    assert LayerRDM.from_file(Path(out["net_a"]) / "RDM_tok.npz").meta["pooling"] == "mean"
    # 2 layers x 3 blocks of 8 rows, 1 layer x 2 blocks of 5 rows, 3 reads of in-memory layers
    assert calls[-1][0] == calls[-1][1] == 2 * 3 + 1 * 2 + 3


def test_validated_first_and_nothing_left_on_error(tmp_path):
    models = _models()
    with pytest.raises(ValueError, match="Did you mean 'correlation'"):
        create_rdms_many(models, tmp_path / "x", distance="corelation")
    with pytest.raises(ValueError, match="Invalid value for 'pooling'"):
        create_rdms_many(models, tmp_path / "x", pooling="median")
    with pytest.raises(ValueError, match="not in 'features'"):
        create_rdms_many(models, tmp_path / "x", layers={"net_c": ["fc"]})
    assert list(tmp_path.iterdir()) == []

    def stop(done, total):
        if done >= 4:
            raise Cancelled()

    with pytest.raises(Cancelled):
        create_rdms_many(models, tmp_path / "root", progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_degenerate_rows_warning_points_at_the_caller(tmp_path):
    x = np.random.default_rng(4).standard_normal((6, 5))
    x[3] = 2.0
    with pytest.warns(DegenerateRowsWarning, match=r"\['stimulus_3'\]") as rec:
        create_rdms_many({"m": {"fc": x}}, tmp_path / "out")
    assert len(rec) == 1 and rec[0].filename == __file__

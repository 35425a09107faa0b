"""Acceptance, second pass: a 1-D feature array is refused with how to reshape it, instead of
being read as N stimuli x 1 feature (which only warned that every row is constant)."""
import warnings

import numpy as np
import pytest

from rdm_widgets import RDMCreator, open_features, pairwise_distances, tiled_rdm


@pytest.mark.parametrize("features", [np.random.default_rng(0).standard_normal(10),
                                      {"fc": np.random.default_rng(0).standard_normal(10)}])
def test_1d_features_are_refused_with_the_reshape(features):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # an error, not a degenerate-rows warning
        with pytest.raises(ValueError, match=r"shape \(10,\); features must be \(n_stimuli, n_features\)") as info:
            RDMCreator().compute_rdms(features)
    msg = str(info.value)
    assert "x[:, None]" in msg and "x[None]" in msg and "at least 2" in msg


def test_1d_features_are_refused_by_every_entry_point(tmp_path):
    x = np.arange(10.0)
    with pytest.raises(ValueError, match=r"n_stimuli, n_features"):
        open_features(x)
    with pytest.raises(ValueError, match=r"n_stimuli, n_features"):
        tiled_rdm(x, tmp_path / "s", tile_size=8)
    assert not (tmp_path / "s").exists()                # refused before a store is made


def test_the_suggested_reshape_works():
    x = np.random.default_rng(1).standard_normal(10)
    rdm = RDMCreator().compute_rdms(x[:, None], distance="euclidean")["features"]
    ref = np.abs(x[:, None] - x[None, :])               # 1 feature: |x_i - x_j|
    np.testing.assert_allclose(rdm.matrix, ref, atol=1e-5)
    np.testing.assert_allclose(pairwise_distances(x[:, None], "euclidean").numpy(), ref, atol=1e-5)

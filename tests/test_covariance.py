"""The one Ledoit-Wolf formula and shrinkage check (rdm_widgets._covariance) against scikit-learn."""
import numpy as np
import pytest
import torch
from sklearn.covariance import empirical_covariance
from sklearn.covariance import ledoit_wolf_shrinkage as sk_shrinkage
from sklearn.covariance import shrunk_covariance as sk_shrunk

from rdm_widgets._covariance import check_shrinkage, ledoit_wolf_shrinkage, shrunk_covariance


def _stats(x):
    """The sufficient statistics of centred samples x (n, p), as sklearn forms them."""
    n = x.shape[0]
    x2 = x ** 2
    return (x2.sum(0) / n).sum(), ((x.T @ x) ** 2).sum() / n ** 2, (x2.T @ x2).sum()


@pytest.mark.parametrize("n,p", [(30, 6), (5, 12), (40, 2), (8, 1)])
def test_shrinkage_matches_sklearn_for_floats_and_batches(n, p):
    rng = np.random.default_rng(n * p)
    xs = [rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) for _ in range(3)]
    ref = np.array([sk_shrinkage(x, assume_centered=True) for x in xs])
    ours = np.array([ledoit_wolf_shrinkage(*_stats(x), n, p) for x in xs])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
    batched = ledoit_wolf_shrinkage(*(torch.tensor(v) for v in zip(*map(_stats, xs))), n, p)
    np.testing.assert_allclose(batched.numpy(), ref, rtol=1e-12, atol=1e-15)
    if p == 1:                                      # one feature is never shrunk (as in sklearn)
        assert ours.tolist() == [0.0] * 3 and batched.tolist() == [0.0] * 3
    assert ((0 <= ours) & (ours <= 1)).all()


def test_shrinkage_of_identical_samples_is_finite():
    x = np.ones((4, 3))                             # delta == 0: no 0/0 in the batched form
    s = ledoit_wolf_shrinkage(*(torch.tensor([v]) for v in _stats(x)), 4, 3)
    assert torch.isfinite(s).all()


def test_shrunk_covariance_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 5))
    emp = np.stack([empirical_covariance(b) for b in x])
    for s in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(shrunk_covariance(torch.from_numpy(emp), s).numpy(),
                                   np.stack([sk_shrunk(e, s) for e in emp]), rtol=1e-14, atol=1e-15)
    per = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    np.testing.assert_allclose(shrunk_covariance(torch.from_numpy(emp), per).numpy(),
                               np.stack([sk_shrunk(e, float(s)) for e, s in zip(emp, per)]), rtol=1e-14)


def test_check_shrinkage():
    assert check_shrinkage("auto") == "auto" and check_shrinkage("AUTO") == "auto"
    assert check_shrinkage(1) == 1.0 and isinstance(check_shrinkage(np.float32(0.5)), float)
    assert check_shrinkage(None, allow_none=True) is None
    for bad in (2.0, -0.1, float("nan"), True, None, [0.5]):
        with pytest.raises(ValueError, match=r"Invalid value for 'shrinkage'.*float in \[0, 1\]"):
            check_shrinkage(bad)
    with pytest.raises(ValueError, match="Did you mean 'auto'"):
        check_shrinkage("atuo")
    with pytest.raises(ValueError, match="None, 'auto' or a float"):
        check_shrinkage(3, allow_none=True)

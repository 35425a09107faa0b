"""The fold systems of the null-space LDA path (rdm_widgets.eeg._lda_fold) against plain
float64 torch references: the one-GEMM Gram, the in-place Cholesky and its solve."""
import pytest
import torch

from rdm_widgets.eeg import _lda_fold


@pytest.mark.parametrize("q0,q", [(24, 26), (7, 9), (1, 3), (5, 5)])
def test_fold_gram_upper_matches_weighted_gram(q0, q):
    gen = torch.Generator().manual_seed(q0)
    n_pt, k, c = 3, 4, 11
    u0t = torch.randn(n_pt, q0, c, generator=gen, dtype=torch.float64)
    vf = torch.rand(n_pt, k, c, generator=gen, dtype=torch.float64) + 0.1
    s = torch.full((n_pt, k, q, q), float("nan"), dtype=torch.float64)
    _lda_fold._fold_gram_upper(u0t, vf, s)
    ref = torch.einsum("nic,nfc,njc->nfij", u0t, vf, u0t)            # U0^T diag(v_f) U0
    iu = torch.triu_indices(q0, q0)
    block = s[..., q - q0:, q - q0:]
    torch.testing.assert_close(block[..., iu[0], iu[1]], ref[..., iu[0], iu[1]], rtol=1e-13, atol=1e-13)
    # nothing outside the trailing block is written
    assert torch.isnan(s[..., : q - q0, :]).all() and torch.isnan(s[..., :, : q - q0]).all()


def test_fold_gram_upper_empty_null_space():
    s = torch.full((2, 3, 2, 2), 7.0, dtype=torch.float64)
    _lda_fold._fold_gram_upper(torch.zeros(2, 0, 5, dtype=torch.float64), torch.ones(2, 3, 5, dtype=torch.float64), s)
    assert (s == 7.0).all()


def _spd(gen, shape, q):
    a = torch.randn(*shape, q, q, generator=gen, dtype=torch.float64)
    return a @ a.mT + 0.5 * torch.eye(q, dtype=torch.float64)


def test_cholesky_inplace_reads_upper_triangle_only():
    gen = torch.Generator().manual_seed(1)
    a = _spd(gen, (4, 3), 9)
    s = a.clone()
    low = torch.ones(9, 9, dtype=torch.bool).tril(-1)
    s[..., low] = 1e6                                                 # garbage below the diagonal
    chol, good = _lda_fold._cholesky_inplace(s)
    assert good.all()
    assert chol.data_ptr() == s.data_ptr()                           # factorised in place
    torch.testing.assert_close(chol, torch.linalg.cholesky(a), rtol=1e-12, atol=1e-12)


def test_cholesky_inplace_flags_indefinite_and_nan():
    gen = torch.Generator().manual_seed(2)
    a = _spd(gen, (5,), 6)
    a[1] = -a[1]                                                     # negative definite
    a[3, 2, 4] = a[3, 4, 2] = float("nan")
    a[4] = torch.diag(torch.tensor([2.0, 1.0, 3.0, 1.0, 1.0, -1.0], dtype=torch.float64))
    chol, good = _lda_fold._cholesky_inplace(a.clone())
    assert good.tolist() == [True, False, True, False, False]
    eye = torch.eye(6, dtype=torch.float64)
    for i in (1, 3, 4):                                              # replaced: finite, identity
        assert torch.equal(chol[i], eye)
    torch.testing.assert_close(chol[[0, 2]], torch.linalg.cholesky(a[[0, 2]]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [1, 3])
def test_chol_solve_matches_solve(m):
    gen = torch.Generator().manual_seed(3)
    a = _spd(gen, (2, 5), 26)
    b = torch.randn(2, 5, 26, m, generator=gen, dtype=torch.float64)
    chol, good = _lda_fold._cholesky_inplace(a.clone())
    assert good.all()
    torch.testing.assert_close(_lda_fold._chol_solve(chol, b), torch.linalg.solve(a, b), rtol=1e-10, atol=1e-12)

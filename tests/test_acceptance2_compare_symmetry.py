"""Acceptance, second pass: ``compare_rdms`` refuses a square matrix that is not symmetric (only
its upper triangle would be correlated), within the tolerance ``read_rdm_file`` /
``model_brain_table`` use (``RDMSet``), naming the argument and the largest asymmetry."""
import re

import numpy as np
import pytest
from scipy.stats import spearmanr

from rdm_widgets import compare_rdms, read_rdm_file
from rdm_widgets.demo import demo_path
from rdm_widgets.rdm_files import SYMMETRY_TOL, RDMSet


def _sym(rng, n=10):
    r = rng.random((n, n))
    r = r + r.T
    np.fill_diagonal(r, 0)
    return r


@pytest.mark.parametrize("which", ["a", "b"])
def test_non_symmetric_square_matrix_is_refused(which):
    rng = np.random.default_rng(0)
    bad, good = rng.standard_normal((10, 10)), _sym(rng)
    ref = np.abs(bad - bad.T).max()                     # the largest asymmetry, numpy reference
    args = (bad, good) if which == "a" else (good, bad)
    with pytest.raises(ValueError, match=rf"^'{which}' is not a symmetric RDM") as info:
        compare_rdms(*args)
    got = float(re.search(r"\| = ([0-9.e+-]+)", str(info.value)).group(1))
    assert got == pytest.approx(ref, rel=1e-3)
    assert f"({which} + {which}.T) / 2" in str(info.value)


def test_same_tolerance_as_read_rdm_file(tmp_path):
    rng = np.random.default_rng(1)
    good = _sym(rng, 8)
    scale = np.abs(good).max()
    for factor, refused in ((0.5, False), (2.0, True)):
        m = good.copy()
        m[1, 5] += factor * SYMMETRY_TOL * scale       # asymmetry just below / above the tolerance
        path = tmp_path / f"m{factor}.npy"
        np.save(path, m)
        if refused:
            with pytest.raises(ValueError, match="not symmetric"):
                read_rdm_file(path)
            with pytest.raises(ValueError, match="not symmetric"):
                RDMSet(m)
            with pytest.raises(ValueError, match="'a' is not a symmetric RDM"):
                compare_rdms(m, good)
        else:
            read_rdm_file(path)
            r = compare_rdms(m, good, method="pearson").r
            assert r == pytest.approx(1.0)


def test_symmetric_real_rdms_still_compared():
    """Two real subject RDMs (bundled fMRI EVC): the value equals scipy on the upper triangles."""
    stack = read_rdm_file(demo_path("fmri_evc")).rdms
    a, b = stack[0], stack[1]
    iu = np.triu_indices(len(a), 1)
    assert compare_rdms(a, b).r == pytest.approx(spearmanr(a[iu], b[iu])[0], abs=1e-12)
    a32 = a.astype(np.float32)                          # float32 rounding stays accepted
    assert compare_rdms(a32, b).r == pytest.approx(spearmanr(a32[iu], b[iu])[0], abs=1e-6)


def test_nan_cells_are_left_to_nan_policy():
    rng = np.random.default_rng(2)
    a, b = _sym(rng), _sym(rng)
    a[2, 7] = a[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compare_rdms(a, b)
    iu = np.triu_indices(10, 1)
    ok = np.isfinite(a[iu])
    assert compare_rdms(a, b, nan_policy="omit").r == pytest.approx(spearmanr(a[iu][ok], b[iu][ok])[0])


def test_model_rdm_symmetry_checked_by_the_other_rsa_functions():
    """rsa_timecourse and leave_one_subject_out take a model RDM as compare_rdms does: a
    non-symmetric one is refused by name, a symmetric one still gives scipy's correlations."""
    from rdm_widgets.rsa import leave_one_subject_out, rsa_timecourse
    rng = np.random.default_rng(4)
    n, t = 8, 5
    model = _sym(rng, n)
    eeg = np.stack([_sym(rng, n) for _ in range(t)], axis=-1)          # (N, N, T)
    subjects = np.stack([_sym(rng, n) for _ in range(4)])               # (S, N, N)
    bad = model.copy()
    bad[0, 1] += 1.0
    with pytest.raises(ValueError, match=r"^'model_rdm' is not a symmetric RDM"):
        rsa_timecourse(bad, eeg)
    with pytest.raises(ValueError, match=r"^'model_rdm' is not a symmetric RDM"):
        leave_one_subject_out(bad, subjects)
    iu = np.triu_indices(n, 1)
    ours = rsa_timecourse(model, eeg)
    ref = [spearmanr(model[iu], eeg[..., k][iu])[0] for k in range(t)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)

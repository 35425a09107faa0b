"""Tests of model-vs-brain RSA (rdm_widgets.model_rsa) against independent scipy references:
r per layer, permutation and Wilcoxon p, BH-FDR, noise ceiling, name matching, tested time courses."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import false_discovery_control, pearsonr, rankdata, spearmanr, wilcoxon

from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.model_rsa import (BY_ORDER_NOTE, COLUMNS, RSATable, caution_for, model_brain_table,
                                   rsa_timecourse_test)
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import RDMSet
from rdm_widgets.rsa import compare_rdms, fdr_bh, noise_ceiling

N = 12
NAMES = [f"s{i:02d}" for i in range(N)]


def _world(seed=0, subjects=6):
    """A planted structure x; model layers and noisy subject RDMs of it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 5)) + 3.0 * (np.arange(N) % 3)[:, None]     # three planted groups
    subj = np.stack([squareform(pdist(x + 0.6 * rng.normal(size=x.shape))) for _ in range(subjects)])
    good = LayerRDM(squareform(pdist(x + 0.3 * rng.normal(size=x.shape))), NAMES, "good")
    noise = LayerRDM(squareform(pdist(rng.normal(size=(N, 5)))), NAMES, "noise")
    return {"good": good, "noise": noise}, subj


@pytest.mark.parametrize("p", [np.array([0.01, 0.04, 0.03, 0.2, 0.5, 0.002]),
                               np.random.default_rng(1).random(40), np.array([0.05]), np.array([1.0, 1.0])])
def test_fdr_bh_matches_scipy(p):
    np.testing.assert_allclose(fdr_bh(p), false_discovery_control(p), rtol=1e-12)


def test_fdr_bh_keeps_nan_and_rejects_bad_p():
    got = fdr_bh([0.01, np.nan, 0.04])
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2]], false_discovery_control([0.01, 0.04]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fdr_bh([0.5, 1.5])


@pytest.mark.parametrize("method, ref", [("spearman", lambda a, b: spearmanr(a, b)[0]),
                                         ("pearson", lambda a, b: pearsonr(a, b)[0])])
def test_table_single_rdm_vs_scipy(method, ref):
    models, subj = _world()
    brain = RDMSet(subj[0], NAMES, "roi")
    tab = model_brain_table({"net": models}, brain, method=method, n_permutations=200, random_state=3)
    assert isinstance(tab, RSATable) and len(tab) == 2 and tuple(tab.rows[0]) == COLUMNS
    iu = np.triu_indices(N, 1)
    ps = []
    for row in tab.rows:
        m = models[row["layer"]].matrix
        assert row["r"] == pytest.approx(ref(m[iu], subj[0][iu]), abs=1e-12)
        assert row["test"] == "stimulus-label permutation" and row["n_subjects"] == 1
        assert math.isnan(row["noise_lower"]) and math.isnan(row["r_sem"])
        assert row["matched"] == f"by name ({N} stimuli)"
        ps.append(row["p"])
    np.testing.assert_allclose([r["p_fdr"] for r in tab.rows], false_discovery_control(ps))
    good = tab.select(model="net")[0]
    assert good["layer"] == "good" and good["p"] < 0.05


def test_table_stack_per_subject_wilcoxon_and_noise_ceiling():
    models, subj = _world(subjects=8)
    tab = model_brain_table(models, {"EVC": RDMSet(subj, NAMES, "x")}, n_permutations=100)
    iu = np.triu_indices(N, 1)
    ranked_mean = rankdata(subj[:, iu[0], iu[1]], axis=1).mean(axis=0)
    lower, upper = noise_ceiling(subj, "spearman")
    for row in tab.rows:
        assert row["brain"] == "EVC" and row["model"] == "model" and row["n_subjects"] == 8
        m = models[row["layer"]].matrix[iu]
        per = np.array([spearmanr(m, s[iu])[0] for s in subj])
        assert row["r"] == pytest.approx(per.mean(), abs=1e-12)
        assert row["r_sem"] == pytest.approx(per.std(ddof=1) / np.sqrt(8), abs=1e-12)
        assert row["p"] == pytest.approx(wilcoxon(per, alternative="greater").pvalue)
        assert row["r_group"] == pytest.approx(spearmanr(m, ranked_mean)[0], abs=1e-12)
        assert (row["noise_lower"], row["noise_upper"]) == pytest.approx((lower, upper))
        # leave one subject out: the model against the mean of the ranked other subjects
        ranked = rankdata(subj[:, iu[0], iu[1]], axis=1)
        loso = [spearmanr(m, np.delete(ranked, s, axis=0).mean(axis=0))[0] for s in range(8)]
        assert (row["r_loso_min"], row["r_loso_max"]) == pytest.approx((min(loso), max(loso)), abs=1e-12)
    assert tab.select(model="model")[0]["p"] < 0.05       # the planted layer


def test_permutation_p_equals_compare_rdms():
    models, subj = _world()
    tab = model_brain_table(models, RDMSet(subj[1], NAMES, "b"), n_permutations=300, random_state=7)
    rng = np.random.default_rng(7)
    for row in tab.rows:
        ref = compare_rdms(models[row["layer"]].matrix, subj[1], n_permutations=300, random_state=rng)
        assert row["p_permutation"] == pytest.approx(ref.p) and row["p"] == row["p_permutation"]


def test_matching_by_name_subset_reorder_and_errors():
    models, subj = _world()
    order = list(reversed(NAMES))[:8]
    idx = [NAMES.index(s) for s in order]
    brain = RDMSet(subj[0][np.ix_(idx, idx)], order, "sub")
    tab = model_brain_table(models, brain, n_permutations=0)
    iu = np.triu_indices(8, 1)
    sub = models["good"].matrix[np.ix_(idx, idx)]
    row = tab.select()[0]
    assert row["r"] == pytest.approx(spearmanr(sub[iu], brain.rdms[0][iu])[0])
    assert row["matched"] == "by name (8 of 12 model stimuli)" and math.isnan(row["p"])
    # different names: an error listing the missing names on each side, never a match by count
    other = RDMSet(subj[0], [f"x{i}" for i in range(N)], "other")
    with pytest.raises(ValueError, match=r"12 brain stimuli are not in the model \['x0'.*12 model stimuli "
                                         r"are not in the brain RDM \['s00'"):
        model_brain_table(models, other)
    # no names on the brain side: by order, recorded
    tab = model_brain_table(models, RDMSet(subj[0], None, "anon"), n_permutations=0)
    assert {r["matched"] for r in tab.rows} == {BY_ORDER_NOTE}
    assert any(BY_ORDER_NOTE in n for n in tab.notes)
    with pytest.raises(ValueError, match="no stimulus names and 8 stimuli"):
        model_brain_table(models, RDMSet(subj[0][:8, :8], None, "anon"))


def test_to_csv_round_trips_numbers(tmp_path):
    import csv

    models, subj = _world()
    tab = model_brain_table({"a": models, "b": {"only": models["good"]}},
                            {"r1": RDMSet(subj, NAMES), "r2": LayerRDM(subj[0], NAMES, "r2")}, n_permutations=50)
    assert tab.brains == ["r1", "r2"] and tab.models == ["a", "b"] and len(tab) == 6
    text = tab.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == list(COLUMNS)
    for got, want in zip(rows, tab.rows):
        assert float(got["r"]) == want["r"] and got["layer"] == want["layer"]
    assert rows[3]["noise_lower"] == ""                 # single RDM: no ceiling
    with pytest.raises(FileExistsError):
        tab.to_csv(tmp_path / "t.csv")


def test_real_mobilenet_vs_evc_it():
    from rdm_widgets.creator import RDMCreator
    from rdm_widgets.rdm_files import read_rdm_file

    names = [f"image_{i:02d}" for i in range(1, 79)]
    rdms = RDMCreator().compute_rdms(demo_path("mobilenetv2"), layers=["features.18", "logits"])
    brains = {roi: read_rdm_file(demo_path(key), stimuli=names, name=roi) for roi, key in
              (("EVC", "fmri_evc"), ("IT", "fmri_it"))}
    tab = model_brain_table({"MobileNetV2": rdms}, brains, n_permutations=100)
    it = tab.select(brain="IT")[0]
    assert it["layer"] == "features.18" and 0.02 < it["r"] < it["noise_upper"] and it["p"] < 0.05
    assert 0 < it["noise_lower"] < it["noise_upper"] < 0.5


# ------------------------------------------------------------------------------ time courses
def _timecourse(n=7, t=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    model = squareform(pdist(x))
    data = np.empty((n, n, t))
    for k in range(t):
        signal = 3.0 if 3 <= k < 7 else 0.0
        data[:, :, k] = squareform(pdist(signal * x + rng.normal(size=x.shape)))
    conds = [f"c{i}" for i in range(n)]
    return LayerRDM(model, conds, "m"), TimeResolvedRDM(data, np.linspace(0, 0.9, t), conds, {"method": "lda"})


def test_timecourse_test_r_p_and_fdr_vs_reference():
    model, res = _timecourse()
    got = rsa_timecourse_test(model.reorder(list(reversed(model.stimuli))), res, n_permutations=500,
                              random_state=2)
    iu = np.triu_indices(7, 1)
    ref_r = np.array([spearmanr(model.matrix[iu], res.data[:, :, k][iu])[0] for k in range(10)])
    np.testing.assert_allclose(got.r, ref_r, atol=1e-12)
    # reference p: the same relabellings, one loop over permutations with scipy
    rng = np.random.default_rng(2)
    M = model.matrix
    exceed = np.zeros(10)
    for _ in range(500):
        perm = rng.permutation(7)
        xp = M[np.ix_(perm, perm)][iu]
        exceed += np.array([spearmanr(xp, res.data[:, :, k][iu])[0] for k in range(10)]) >= ref_r - 1e-12
    np.testing.assert_allclose(got.p, (1 + exceed) / 501)
    np.testing.assert_allclose(got.p_fdr, false_discovery_control(got.p))
    assert got.significant()[3:7].all() and not got.significant()[:2].any()
    assert got.caution == "" and got.n_conditions == 7


def test_timecourse_test_caution_and_kendall():
    model, res = _timecourse(n=4, t=5)
    got = rsa_timecourse_test(model, res, method="kendall_tau_a", n_permutations=30)
    assert "fewer than 6 conditions" in got.caution and "6 condition pairs" in got.caution
    assert got.caution == caution_for(4) and caution_for(6) == ""
    assert got.p.min() >= 1 / 31


# ------------------------------------------------------------------------------ bootstrap columns
def test_table_bootstrap_columns_and_unchanged_permutations():
    """bootstrap=None: the new keys are NaN/None; with a bootstrap, every other number is the same
    (its draws do not touch the permutations' generator) and the CI brackets the bootstrap's."""
    from rdm_widgets.bootstrap import bootstrap_models

    models, subj = _world(seed=5)
    brain = RDMSet(subj, NAMES, "roi")
    plain = model_brain_table(models, brain, n_permutations=50, random_state=4)
    assert COLUMNS[-4:] == ("ci_low", "ci_high", "r_boot_se", "bootstrap")
    for row in plain.rows:
        assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"]) and math.isnan(row["r_boot_se"])
        assert row["bootstrap"] is None
    boot = model_brain_table(models, brain, n_permutations=50, random_state=4, bootstrap="subjects", n_bootstrap=80,
                             ci=0.9)
    ref = bootstrap_models(models, brain, over="subjects", n_bootstrap=80, ci=0.9, random_state=4)
    for a, b, lo, hi, se in zip(plain.rows, boot.rows, ref.ci_low, ref.ci_high, ref.se):
        assert {k: a[k] for k in COLUMNS[:-4]} == {k: b[k] for k in COLUMNS[:-4]}
        assert (b["ci_low"], b["ci_high"], b["r_boot_se"], b["bootstrap"]) == (lo, hi, se, "subjects")
        assert b["ci_low"] < b["r"] < b["ci_high"]


def test_table_bootstrap_errors():
    models, subj = _world(seed=6)
    with pytest.raises(ValueError, match="single subject RDM"):
        model_brain_table(models, RDMSet(subj[0], NAMES, "one"), n_permutations=0, bootstrap="both")
    with pytest.raises(ValueError, match="Did you mean 'subjects'"):
        model_brain_table(models, RDMSet(subj, NAMES), n_permutations=0, bootstrap="subject")
    with pytest.raises(ValueError, match="tau-a"):
        model_brain_table(models, RDMSet(subj, NAMES), method="kendall_tau_a", n_permutations=0, bootstrap="both")
    tab = model_brain_table(models, {"one": RDMSet(subj[0], NAMES), "all": RDMSet(subj, NAMES)}, n_permutations=0,
                            bootstrap="both", n_bootstrap=20, on_error="skip")
    assert tab.brains == ["all"] and "single subject RDM" in tab.skipped[0]

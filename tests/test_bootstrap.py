"""Bootstrap inference for model-brain correlations (rdm_widgets.bootstrap) against rsatoolbox 0.3.2.

References: rsatoolbox's ``eval_bootstrap_pattern`` / ``eval_bootstrap_rdm`` / ``eval_dual_bootstrap``
with ``ModelFixed`` (the same draws, replayed from its global numpy seed: every sample's model
evaluations and noise ceilings, the variances of its ``Result``), and the same functions on their own
draws (distributions within Monte-Carlo error); scipy's ``rankdata`` for the weighted ranks; a
hand-written Holm and scipy's BH; coverage of a planted population value; the real 15-subject fMRI
RDMs against MobileNetV2.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import false_discovery_control, rankdata, spearmanr

from rdm_widgets._bootstrap_kernels import SampleEngine, counts_of, sample_parts, weighted_ranks
from rdm_widgets._bootstrap_results import contrast_stats
from rdm_widgets._rsa_stats import adjust_p
from rdm_widgets.bootstrap import (PAIRWISE_COLUMNS, RESULT_COLUMNS, BootstrapResult, bootstrap_compare,
                                   bootstrap_models)
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import RDMSet
from rdm_widgets.rsa import noise_ceiling

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.inference import (boot_noise_ceiling, eval_bootstrap_pattern, eval_bootstrap_rdm,  # noqa: E402
                                  eval_dual_bootstrap, eval_fixed)
from rsatoolbox.model import ModelFixed  # noqa: E402
from rsatoolbox.rdm import RDMs  # noqa: E402

N, S = 14, 6
NAMES = [f"s{i:02d}" for i in range(N)]


def _world(seed=0, n=N, subjects=S):
    """Condensed subject RDMs of a planted structure and three models: close to it, unrelated,
    and the structure rounded (many tied distances, to exercise tie handling)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    subj = np.stack([pdist(x + rng.normal(size=x.shape)) for _ in range(subjects)])
    models = np.stack([pdist(x + 0.5 * rng.normal(size=x.shape)), pdist(rng.normal(size=(n, 4))),
                       np.round(pdist(x))])
    return models, subj


def _layers(models, names=None):
    names = names or NAMES
    return {f"m{k}": LayerRDM(squareform(m), names, f"m{k}") for k, m in enumerate(models)}


@pytest.fixture(autouse=True)
def _quiet_rsatoolbox(monkeypatch):
    """rsatoolbox prints a tqdm bar per call and warns on invalid samples; keep the output readable."""
    import rsatoolbox.inference.evaluate as ev

    class _Range:
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

    monkeypatch.setattr(ev.tqdm, "trange", _Range)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # rsatoolbox's nanmean of invalid samples
        yield


# ------------------------------------------------------------------ kernels
def test_weighted_ranks_equal_rankdata_of_the_expanded_vector():
    rng = np.random.default_rng(1)
    v = np.round(rng.normal(size=(3, 40)), 1)                   # many ties
    w = rng.integers(0, 4, size=(3, 40)).astype(float)           # zero weights included
    got = weighted_ranks(v, w)
    for row, wr, g in zip(v, w, got):
        keep = wr > 0
        expanded = np.repeat(row[keep], wr[keep].astype(int))
        ranks = rankdata(expanded)
        first = np.concatenate([[0], np.cumsum(wr[keep].astype(int))[:-1]])
        np.testing.assert_array_equal(g[keep], ranks[first])


# ------------------------------------------------------------------ rsatoolbox, same draws
def _engine(models, subj, method):
    return SampleEngine(models, subj, "pearson" if method == "corr" else method,
                        "rank" if method == "spearman" else "zscore")


def _fixed(models):
    return [ModelFixed(f"m{k}", RDMs(m[None])) for k, m in enumerate(models)]


@pytest.mark.parametrize("method", ["spearman", "corr"])
def test_same_draws_as_rsatoolbox_pattern_and_rdm_bootstrap(method):
    """Replaying rsatoolbox's draws (np.random.randint after np.random.seed) gives its every
    sample's evaluation and noise ceiling, and its Result's variances (n/(n-1) corrected)."""
    models, subj = _world()
    data, B = RDMs(subj), 40
    engine = _engine(models, subj, method)
    np.random.seed(3)
    res = eval_bootstrap_pattern(_fixed(models), data, method=method, N=B)
    np.random.seed(3)
    idx = np.stack([np.random.randint(0, N, N) for _ in range(B)])
    parts = sample_parts(engine, counts_of(idx, N), None, "stimuli")
    np.testing.assert_allclose(parts["stimuli"][:, :3], res.evaluations, rtol=0, atol=1e-12)
    np.testing.assert_allclose(parts["stimuli"][:, 3:], res.noise_ceiling.T, rtol=0, atol=1e-12)
    var = [contrast_stats(parts, "stimuli", [k], [1.0], S, N, 0.95, 0.0)["se"] ** 2 for k in range(3)]
    np.testing.assert_allclose(var, res.model_var, rtol=1e-10)

    np.random.seed(4)
    res = eval_bootstrap_rdm(_fixed(models), data, method=method, N=B)
    np.random.seed(4)
    idx = np.stack([np.random.randint(0, S, S) for _ in range(B)])
    parts = sample_parts(engine, None, counts_of(idx, S), "subjects")
    np.testing.assert_allclose(parts["subjects"][:, :3], res.evaluations, rtol=0, atol=1e-12)
    # duplicated subjects: one leave-out group each, bounds averaged over distinct subjects
    np.testing.assert_allclose(parts["subjects"][:, 3:], res.noise_ceiling.T, rtol=0, atol=1e-12)
    var = [contrast_stats(parts, "subjects", [k], [1.0], S, N, 0.95, 0.0)["se"] ** 2 for k in range(3)]
    np.testing.assert_allclose(var, res.model_var, rtol=1e-10)
    diff = [contrast_stats(parts, "subjects", [i, j], [1.0, -1.0], S, N, 0.95, 0.0)["se"] ** 2
            for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(diff, res.diff_var, rtol=1e-10)


@pytest.mark.parametrize("method", ["spearman", "corr"])
def test_same_draws_as_rsatoolbox_dual_bootstrap(method):
    """eval_dual_bootstrap (k=1: no cross-validation): per draw, the evaluations and noise ceilings
    resampling both, the subjects only and the stimuli only; the dual-corrected variance."""
    models, subj = _world(seed=2)
    B = 30
    np.random.seed(5)
    res = eval_dual_bootstrap(_fixed(models), RDMs(subj), method=method, N=B)
    np.random.seed(5)                         # replay: two draws, then the shuffles of its k=1 folds
    rdm_idx, pat_idx = [], []
    for _ in range(B):
        r, p = np.random.randint(0, S, S), np.random.randint(0, N, N)
        rdm_idx.append(r)
        pat_idx.append(p)
        if len(np.unique(p)) >= 3:
            for n_r, n_p in ((len(np.unique(r)), len(np.unique(p))), (len(np.unique(r)), N), (S, len(np.unique(p)))):
                np.random.shuffle(np.arange(n_r))
                np.random.shuffle(np.arange(n_p))
    parts = sample_parts(_engine(models, subj, method), counts_of(np.stack(pat_idx), N),
                         counts_of(np.stack(rdm_idx), S), "both")
    for k, variant in enumerate(("both", "subjects", "stimuli")):
        np.testing.assert_allclose(parts[variant][:, :3], res.evaluations[:, :, 0, 0, k], rtol=0, atol=1e-12)
        np.testing.assert_allclose(parts[variant][:, 3:], res.noise_ceiling[:, :, 0, k].T, rtol=0, atol=1e-12)
    var = [contrast_stats(parts, "both", [k], [1.0], S, N, 0.95, 0.0)["se"] ** 2 for k in range(3)]
    np.testing.assert_allclose(var, res.model_var, rtol=1e-10)
    diff = [contrast_stats(parts, "both", [i, j], [1.0, -1.0], S, N, 0.95, 0.0)["se"] ** 2
            for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(diff, res.diff_var, rtol=1e-10)


@pytest.mark.parametrize("method, convention", [("spearman", "rdm_widgets"), ("corr", "rsatoolbox")])
def test_point_estimates_identical_to_rsatoolbox(method, convention):
    models, subj = _world(seed=4)
    res = bootstrap_models(_layers(models), RDMSet(np.stack([squareform(v) for v in subj]), NAMES), method=method,
                           over="subjects", n_bootstrap=5, convention=convention)
    fixed = eval_fixed(_fixed(models), RDMs(subj), method=method)
    np.testing.assert_allclose(res.r, fixed.get_means(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.noise_ceiling, boot_noise_ceiling(RDMs(subj), method=method), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ rsatoolbox, own draws
_RSATOOLBOX = {"stimuli": eval_bootstrap_pattern, "subjects": eval_bootstrap_rdm}


@pytest.mark.parametrize("over", ["stimuli", "subjects"])
def test_distribution_within_monte_carlo_error_of_rsatoolbox(over):
    """Independent draws (ours: numpy Generator; rsatoolbox: legacy global seed), B = 200 each.

    Tolerances (4 standard errors, normal approximation): the means differ by less than
    ``4 * sd * sqrt(2 / B)``; ``log(sd_ours / sd_theirs)`` has variance ``~ 2 / (2 (B - 1))``, so
    ``|log ratio| < 4 / sqrt(B - 1)`` (0.28).
    """
    models, subj = _world(seed=6)
    B = 200
    ours = bootstrap_models(_layers(models), np.stack([squareform(v) for v in subj]),
                            over=over, n_bootstrap=B, random_state=11, noise_ceiling_samples=False)
    np.random.seed(12)
    theirs = _RSATOOLBOX[over](_fixed(models), RDMs(subj), method="spearman", N=B).evaluations
    for k in range(3):
        a, b = ours.samples[:, k], theirs[:, k][np.isfinite(theirs[:, k])]
        sd = b.std(ddof=1)
        assert abs(a.mean() - b.mean()) < 4 * sd * math.sqrt(2 / B)
        assert abs(math.log(a.std(ddof=1) / sd)) < 4 / math.sqrt(B - 1)


@pytest.mark.slow
def test_dual_distribution_within_monte_carlo_error_of_rsatoolbox():
    """As above for over='both' (B = 200; rsatoolbox evaluates three variants per draw)."""
    models, subj = _world(seed=7)
    B = 200
    ours = bootstrap_models(_layers(models), np.stack([squareform(v) for v in subj]), over="both", n_bootstrap=B,
                            random_state=13)
    np.random.seed(14)
    res = eval_dual_bootstrap(_fixed(models), RDMs(subj), method="spearman", N=B)
    theirs = res.evaluations[:, :, 0, 0, 0]
    for k in range(3):
        a, b = ours.samples[:, k], theirs[:, k][np.isfinite(theirs[:, k])]
        sd = b.std(ddof=1)
        assert abs(a.mean() - b.mean()) < 4 * sd * math.sqrt(2 / B)
        assert abs(math.log(a.std(ddof=1) / sd)) < 4 / math.sqrt(B - 1)
    # the corrected SEs agree within the same relative error
    np.testing.assert_allclose(ours.se, np.sqrt(res.model_var), rtol=4 / math.sqrt(B - 1))


# ------------------------------------------------------------------ coverage of a planted value
CN, CS, CD = 20, 8, 4
_IU = np.triu_indices(CN, 1)


def _dist(f):
    return np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))


def _draw(rng, f=None, w=None):
    """Stimuli f (features), subjects w (feature weights, each subject its own); model = the
    plain feature distances, subject RDM = weighted feature distances + noise."""
    f = rng.normal(size=(CN, CD)) if f is None else f
    w = rng.gamma(2.0, size=(CS, CD)) if w is None else w
    subj = np.stack([_dist(f * w[s] + 0.8 * rng.normal(size=f.shape)) for s in range(CS)])
    return f, w, _dist(f), subj


def _mean_r(model, subj):
    """Mean over subjects of Spearman's r (scipy.stats.spearmanr, all subjects in one call)."""
    rho = spearmanr(np.column_stack([model[_IU]] + [s[_IU] for s in subj]))[0]
    return rho[0, 1:].mean()


@pytest.mark.parametrize("over", ["subjects", "stimuli", "both"])
def test_ci_covers_the_planted_population_value(over):
    """The population value (Monte Carlo over 1500 new subjects / stimulus sets / both, as ``over``
    generalises) lies in the 95% CI in at least 34 of 40 seeded data sets (a correct 95% interval
    misses that often with probability < 0.5%; the stimulus bootstrap is known to be conservative)."""
    rng = np.random.default_rng(0)
    f0, w0 = rng.normal(size=(CN, CD)), rng.gamma(2.0, size=(CS, CD))
    fixed = {"subjects": dict(f=f0), "stimuli": dict(w=w0), "both": {}}[over]
    truth = np.mean([_mean_r(*_draw(rng, **fixed)[2:]) for _ in range(1500)])
    hits = 0
    for seed in range(40):
        _, _, model, subj = _draw(np.random.default_rng(100 + seed), **fixed)
        res = bootstrap_models({"m": LayerRDM(model)}, subj, over=over, n_bootstrap=100, random_state=seed,
                               noise_ceiling_samples=False)
        hits += res.ci_low[0] <= truth <= res.ci_high[0]
    assert hits >= 34


def test_subject_bootstrap_se_is_the_standard_error_of_the_mean():
    """Resampling subjects, the n/(n-1)-corrected SD of the mean is SD/sqrt(S): the r_sem of
    model_brain_table, within Monte-Carlo error (B = 2000: relative error ~ 1/sqrt(2B) = 1.6%)."""
    from rdm_widgets.model_rsa import model_brain_table

    models, subj = _world(seed=8)
    layers = _layers(models)
    brain = RDMSet(np.stack([squareform(v) for v in subj]), NAMES, "roi")
    res = bootstrap_models(layers, brain, over="subjects", n_bootstrap=2000, noise_ceiling_samples=False)
    table = model_brain_table(layers, brain, n_permutations=0)
    np.testing.assert_allclose(res.se, [row["r_sem"] for row in table.rows], rtol=0.08)
    np.testing.assert_allclose(res.r, [row["r"] for row in table.rows], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ pairwise comparisons
def _two_models(rng, gap):
    x = rng.normal(size=(CN, CD))
    subj = np.stack([_dist(x + rng.normal(size=x.shape)) for _ in range(CS)])
    a = _dist(x + 0.6 * rng.normal(size=x.shape))
    b = _dist(x + (0.6 + gap) * rng.normal(size=x.shape))
    return {"a": LayerRDM(a), "b": LayerRDM(b)}, subj


def test_pairwise_p_small_for_a_planted_better_model():
    models, subj = _two_models(np.random.default_rng(3), gap=3.0)
    cmp = bootstrap_compare(models, subj, over="both", n_bootstrap=300, correction="holm")
    row = cmp.select("models")[0]
    assert (row["a"], row["b"]) == ("a", "b") and row["diff"] > 0 and row["ci_low"] > 0
    assert row["p"] < 0.05 and row["p_corrected"] == row["p"]                     # a family of one


def test_pairwise_p_roughly_uniform_for_equal_models():
    """Two models equally far from the truth: over 40 data sets the two-sided p is not small more
    often than chance allows (P(p < 0.1) <= 0.25, mean p in [0.3, 0.7])."""
    ps = []
    for seed in range(40):
        models, subj = _two_models(np.random.default_rng(200 + seed), gap=0.0)
        res = bootstrap_models(models, subj, over="both", n_bootstrap=100, random_state=seed,
                               noise_ceiling_samples=False)
        ps.append(res.pairwise("none").select("models")[0]["p"])
    ps = np.array(ps)
    assert np.mean(ps < 0.1) <= 0.25 and 0.3 <= ps.mean() <= 0.7


def _holm_by_hand(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_corrections_match_references():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.5, 0.002, 0.04])
    np.testing.assert_allclose(adjust_p(p, "holm"), _holm_by_hand(list(p)), rtol=1e-12)
    np.testing.assert_allclose(adjust_p(p, "fdr"), false_discovery_control(p), rtol=1e-12)
    np.testing.assert_allclose(adjust_p(p, "bonferroni"), np.minimum(p * p.size, 1), rtol=1e-12)
    got = adjust_p([0.01, np.nan, 0.04], "holm")
    assert np.isnan(got[1]) and np.allclose(got[[0, 2]], [0.02, 0.04])
    with pytest.raises(ValueError, match="Did you mean 'holm'"):
        adjust_p(p, "hollm")


def test_pairwise_rows_noise_ceiling_family_and_tables(tmp_path):
    models, subj = _world(seed=9)
    res = bootstrap_models(_layers(models), np.stack([squareform(v) for v in subj]), over="stimuli",
                           n_bootstrap=60, random_state=2)
    assert isinstance(res, BootstrapResult) and len(res) == 3 and res.samples.shape == (60, 3)
    assert res.noise_samples.shape == (60, 2) and np.isfinite(res.noise_samples).all()
    cmp = res.pairwise("fdr")
    assert [r["family"] for r in cmp.rows] == ["models"] * 3 + ["noise ceiling"] * 3
    for r in cmp.select("models"):
        i, j = res.labels.index(r["a"]), res.labels.index(r["b"])
        assert r["diff"] == pytest.approx(res.r[i] - res.r[j], abs=1e-15)
    np.testing.assert_allclose([r["p_corrected"] for r in cmp.select("models")],
                               false_discovery_control([r["p"] for r in cmp.select("models")]), rtol=1e-12)
    for r in cmp.select("noise ceiling"):
        assert r["diff"] == pytest.approx(res.r[res.labels.index(r["a"])] - res.noise_ceiling[0], abs=1e-15)
    m = cmp.p_matrix()
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.all(np.diag(m) == 1)
    text = res.to_csv(tmp_path / "boot.csv")
    assert text.splitlines()[0].split(",") == list(RESULT_COLUMNS)
    assert cmp.to_csv().splitlines()[0].split(",") == list(PAIRWISE_COLUMNS)
    pd = pytest.importorskip("pandas")
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(RESULT_COLUMNS) and len(frame) == 3
    assert (frame["ci_low"] <= frame["ci_high"]).all()


def test_inputs_rsatoolbox_and_several_models_and_progress():
    models, subj = _world(seed=10)
    rdms = RDMs(models, rdm_descriptors={"layer": ["m0", "m1", "m2"]})
    seen = []
    a = bootstrap_models({"net": rdms, "other": {"only": LayerRDM(squareform(models[0]))}}, RDMs(subj),
                         over="both", n_bootstrap=20, progress=lambda d, t: seen.append((d, t)))
    assert a.labels == ("net / m0", "net / m1", "net / m2", "other / only") and seen[-1] == (20, 20)
    assert a.r[0] == a.r[3] and np.array_equal(a.samples[:, 0], a.samples[:, 3])      # same draws for all
    b = bootstrap_models(rdms, np.stack([squareform(v) for v in subj]), over="both", n_bootstrap=20)
    np.testing.assert_allclose(a.samples[:, :3], b.samples, rtol=0, atol=1e-14)     # same seed, same draws


def test_errors_name_the_problem():
    models, subj = _world(seed=11)
    layers = _layers(models)
    stack = RDMSet(np.stack([squareform(v) for v in subj]), NAMES, "roi")
    with pytest.raises(ValueError, match="single subject RDM.*over='stimuli'"):
        bootstrap_models(layers, RDMSet(squareform(subj[0]), NAMES, "one"), over="subjects")
    with pytest.raises(ValueError, match="single subject RDM"):
        bootstrap_models(layers, LayerRDM(squareform(subj[0]), NAMES), over="both")
    one = bootstrap_models(layers, RDMSet(squareform(subj[0]), NAMES, "one"), over="stimuli", n_bootstrap=10)
    assert np.isnan(one.noise_ceiling).all() and one.pairwise().select("noise ceiling") == []
    with pytest.raises(ValueError, match="at least 3"):
        bootstrap_models({"m": LayerRDM(np.array([[0, 1.0], [1.0, 0]]))}, np.zeros((3, 2, 2)), over="stimuli")
    with pytest.raises(ValueError, match="Did you mean 'stimuli'"):
        bootstrap_models(layers, stack, over="stimulus")
    with pytest.raises(ValueError, match="'n_bootstrap'"):
        bootstrap_models(layers, stack, n_bootstrap=0)
    with pytest.raises(ValueError, match="'ci'"):
        bootstrap_models(layers, stack, ci=95)
    with pytest.raises(ValueError, match="tau-a"):
        bootstrap_models(layers, stack, method="kendall_tau_a")
    with pytest.raises(ValueError, match="one brain RDM set"):
        bootstrap_models(layers, {"a": stack, "b": stack})
    with pytest.raises(ValueError, match="Stimulus names differ"):
        bootstrap_models({"m": LayerRDM(squareform(models[0]), [f"x{i}" for i in range(N)])}, stack)
    with pytest.raises(ValueError, match="constant"):
        bootstrap_models({"m": LayerRDM(np.ones((N, N)) - np.eye(N), NAMES)}, stack)
    with pytest.raises(ValueError, match="Did you mean 'fdr'"):
        bootstrap_compare(layers, stack, correction="fdrr")
    # rsatoolbox's words for the same bootstraps
    a = bootstrap_models(layers, stack, over="pattern", n_bootstrap=10)
    assert a.over == "stimuli" and bootstrap_models(layers, stack, over="dual", n_bootstrap=10).over == "both"


# ------------------------------------------------------------------ real data
def test_real_fmri_it_vs_mobilenetv2():
    """15 subjects' IT RDMs (78 images) against MobileNetV2 layers: the intervals contain r, the
    deepest conv block's interval excludes 0, a subject bootstrap's SE is the table's SEM, and the
    table's bootstrap columns are bootstrap_models' numbers for the same seed."""
    from rdm_widgets.creator import RDMCreator
    from rdm_widgets.demo import demo_path
    from rdm_widgets.model_rsa import model_brain_table
    from rdm_widgets.rdm_files import bundled_brain_rdms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RDMCreator().compute_rdms(demo_path("mobilenetv2"), layers=["features.6", "features.18", "logits"])
    it = bundled_brain_rdms()["IT"]
    res = bootstrap_models({"mobilenetv2": model}, it, over="both", n_bootstrap=100, random_state=1)
    assert res.n_subjects == 15 and res.n_stimuli == 78 and res.n_valid == 100
    assert np.all(res.ci_low < res.r) and np.all(res.r < res.ci_high)
    assert res.ci_low[res.labels.index("features.18")] > 0
    assert 0 < res.noise_ceiling[0] < res.noise_ceiling[1]
    np.testing.assert_allclose(res.noise_ceiling, noise_ceiling(it.rdms, "spearman"), rtol=0, atol=0)
    table = model_brain_table({"mobilenetv2": model}, {"IT": it}, n_permutations=0, bootstrap="both",
                              n_bootstrap=100, random_state=1)
    for row, lo, hi, se, r in zip(table.rows, res.ci_low, res.ci_high, res.se, res.r):
        assert (row["ci_low"], row["ci_high"], row["r_boot_se"], row["bootstrap"]) == (lo, hi, se, "both")
        assert row["r"] == pytest.approx(r, abs=1e-12)

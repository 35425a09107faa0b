"""Bootstrap inference for model-brain correlations: over stimuli, over subjects, or both.

The definitions are rsatoolbox's (0.3.2) ``eval_bootstrap_pattern`` (stimuli),
``eval_bootstrap_rdm`` (subjects) and ``eval_dual_bootstrap`` (both) for fixed models:

* **A sample.** Subjects: ``S`` subject RDMs drawn with replacement. Stimuli: ``N`` stimuli drawn
  with replacement; the model and the subject RDMs are taken over the drawn stimuli, and the
  cells of a stimulus with its own copy (0 in the resampled RDM, trivially "predicted" by every
  model) are left out, while a pair of two different stimuli appears once per pair of copies.
  A sample with fewer than 3 distinct stimuli is invalid (NaN) and not counted. Both: the two
  draws together.
* **An evaluation** is the mean over the drawn subjects (copies counted) of corr(model, subject
  RDM); on the data it is ``r`` of :func:`rdm_widgets.model_rsa.model_brain_table`.
* **The noise ceiling of a sample** is ``boot_noise_ceiling`` of the resampled data: lower =
  corr(subject, mean of the other subjects), upper = corr(subject, mean of all), averaged over the
  *distinct* subjects; copies of one subject are left out together. Subjects are pooled as
  :func:`rdm_widgets.rsa.pool_subjects` says (``convention``: ranks for Spearman; raw values,
  or z-scores with ``convention='rsatoolbox'``, for Pearson).
* **Standard error**: the samples' SD with rsatoolbox's small-sample correction, ``var * n/(n-1)``
  (``n`` = subjects or stimuli); for 'both', rsatoolbox's dual-bootstrap variance from the same
  draws resampling both, the subjects only and the stimuli only (Schütt et al. 2023), which removes
  the double counting of a naive two-factor bootstrap.

Where this module chooses differently, and why:

* **Point estimate** ``r`` is the evaluation on the data, not the mean of the samples (rsatoolbox's
  ``Result.get_means``); the samples' mean is ``boot_mean``. The dual bootstrap's ``get_means``
  averages the three variants; here only the 'both' samples are the distribution.
* **Confidence intervals** are percentile intervals (rsatoolbox's
  ``get_ci(test_type='bootstrap')``, without its ±inf padding) of the samples' deviations from
  their mean, *rescaled to the corrected variance above* -- by ``sqrt(n/(n-1))`` for one factor
  (Hesterberg's "expanded percentile" interval: a plain percentile interval is too narrow for
  small n), by ``sqrt(dual / naive)`` <= 1 for both factors (the naive two-factor spread
  overstates the variance) -- and *centred on the estimate from the data*. The bootstrap is
  trusted for the spread and shape of the error, not for its centre: duplicated subjects shift
  the resampled noise ceiling (a subject counted twice in the mean of all raises the upper bound;
  0.256 -> 0.288 on the bundled IT RDMs), which rsatoolbox's bootstrap mean inherits.
  rsatoolbox's default ``get_ci`` is ``bootstrap mean ± t(dof) * SE``: symmetric, while the
  percentile interval keeps the skew of a correlation's distribution.
* **Pairwise tests** use the same rescaled, centred samples of the difference (one contrast of
  the same draws): p is rsatoolbox's two-sided ``bootstrap_pair_tests`` formula; a model against
  the lower noise ceiling is tested two-sided the same way (rsatoolbox's bootstrap ``nc_tests``
  is one-sided). Corrections (Holm, Benjamini-Hochberg, Bonferroni) apply within each family.
* **One distinct subject** in a sample leaves the lower noise ceiling undefined: NaN here
  (rsatoolbox correlates the subject with itself and gets 1).
* **Methods**: Spearman and Pearson only (Kendall's tau-a per sample would cost minutes).

Computation (:mod:`rdm_widgets._bootstrap_kernels`): no resampled RDM is built; a stimulus sample
is a weight ``c_i c_j`` per original pair, ranks are weighted ranks (one sort per model and
subject for all samples), correlations are batched matrix products over blocks of samples.
"""
from __future__ import annotations

import math

import numpy as np

from ._bootstrap_kernels import SampleEngine, counts, sample_parts
from ._bootstrap_results import (BOOTSTRAP_METHODS, NOISE_LABEL, PAIRWISE_COLUMNS, RESULT_COLUMNS, BootstrapResult,
                                 PairwiseComparison, check_bootstrap_method, check_ci, contrast_stats)
from ._rsa_inputs import as_brains, as_models
from ._rsa_stats import P_CORRECTIONS, check_nan_cells, match_model_to_brain
from ._validate import check_option, check_positive_int
from .rsa import CONVENTIONS, CORRELATIONS, noise_ceiling

__all__ = ["bootstrap_models", "bootstrap_compare", "BootstrapResult", "PairwiseComparison", "OVER",
           "BOOTSTRAP_METHODS", "RESULT_COLUMNS", "PAIRWISE_COLUMNS", "NOISE_LABEL", "check_over"]

#: what a bootstrap resamples
OVER = ("stimuli", "subjects", "both")
#: rsatoolbox's words for the same (its function names)
OVER_SYNONYMS = {"pattern": "stimuli", "patterns": "stimuli", "rdm": "subjects", "rdms": "subjects",
                 "dual": "both"}
#: how subject RDMs are pooled for the noise ceiling, by (method, convention)
_POOL = {("spearman", "rdm_widgets"): "rank", ("spearman", "rsatoolbox"): "rank",
         ("pearson", "rdm_widgets"): "raw", ("pearson", "rsatoolbox"): "zscore"}


def check_over(over: str) -> str:
    """The canonical name of ``over`` (:data:`OVER`; rsatoolbox's 'pattern', 'rdm', 'dual' accepted)."""
    if isinstance(over, str) and over.lower() in OVER_SYNONYMS:
        return OVER_SYNONYMS[over.lower()]
    return check_option("over", over, OVER, extra="rsatoolbox's names 'pattern', 'rdm' and 'dual' are accepted too.")


def _one_brain(subject_rdms):
    brains = as_brains(subject_rdms)
    if len(brains) != 1:
        raise ValueError(f"bootstrap_models takes one brain RDM set; got {len(brains)} ({list(brains)}). "
                         "Call it once per ROI, or use model_brain_table(..., bootstrap=...) for a table "
                         "of several.")
    return next(iter(brains.items()))


def _design(models, name: str, rdm_set):
    """Condensed model RDMs (L, P) matched to the brain's stimuli, with their labels."""
    models = as_models(models)
    labels, names, layers, rows, notes = [], [], [], [], []
    iu = np.triu_indices(rdm_set.n_stimuli, 1)
    for model, family in models.items():
        for layer, rdm in family.items():
            matched, how = match_model_to_brain(rdm, rdm_set.stimuli, rdm_set.n_stimuli,
                                                model_name=f"{model} / {layer}", brain_name=name)
            x = np.asarray(matched.matrix, dtype=np.float64)[iu]
            check_nan_cells(x, f"Model RDM {model!r} / {layer!r}", "raise")
            if np.ptp(x) == 0:
                raise ValueError(f"Model RDM {model!r} / {layer!r} is constant over the brain's "
                                 f"{rdm_set.n_stimuli} stimuli: its correlation with any RDM is undefined.")
            names.append(model)
            layers.append(layer)
            labels.append(layer if len(models) == 1 else f"{model} / {layer}")
            rows.append(x)
            notes.append(f"{name} ~ {model} / {layer}: matched {how}")
    return tuple(labels), tuple(names), tuple(layers), np.stack(rows), tuple(notes)


def bootstrap_models(models, subject_rdms, *, method: str = "spearman", over: str = "both",
                     n_bootstrap: int = 1000, ci: float = 0.95, random_state=0,
                     convention: str = "rdm_widgets", noise_ceiling_samples: bool = True,
                     progress=None) -> BootstrapResult:
    """Bootstrap distribution of each model's (layer's) correlation with subject RDMs.

    Parameters
    ----------
    models : dict or rsatoolbox RDMs
        ``{layer: LayerRDM}``, ``{model: {layer: LayerRDM}}`` or rsatoolbox ``RDMs`` (one RDM per
        layer), as :func:`rdm_widgets.model_rsa.model_brain_table`. Matched to the brain's
        stimuli by name.
    subject_rdms : RDMSet, rsatoolbox RDMs, LayerRDM, ndarray (S, N, N) or a dict of one of them
        The subject RDMs of one brain region (S >= 2 to resample subjects).
    method : {'spearman', 'pearson'}
        (rsatoolbox's 'corr' accepted.)
    over : {'both', 'stimuli', 'subjects'}
        What is resampled (rsatoolbox's 'dual', 'pattern', 'rdm' accepted). 'both' generalises
        to new subjects *and* new stimuli.
    n_bootstrap : int
        Number of bootstrap samples (>= 1; ~1000 for a 95% interval).
    ci : float
        Coverage of the confidence intervals.
    random_state : int, Generator or None
        Seed of the draws (the same draws for every model, so differences are paired).
    convention : {'rdm_widgets', 'rsatoolbox'}
        How subjects are pooled for the noise ceiling (:func:`rdm_widgets.rsa.noise_ceiling`).
    noise_ceiling_samples : bool
        Bootstrap the noise ceiling too (its CI, and the models against it in
        :meth:`BootstrapResult.pairwise`); its pooled RDMs are re-ranked in every sample (1000
        samples of 15 subjects x 78 stimuli: 8 s instead of 3 s for 'both', 3 s instead of
        0.05 s for 'subjects'). Without it ``noise_samples`` are NaN and only the noise ceiling
        of the data is reported.
    progress : callable or None
        ``progress(done, total)`` in samples, after each block (may raise to cancel).

    Returns
    -------
    BootstrapResult
        ``r``, ``se``, ``ci_low``, ``ci_high`` per model/layer, the ``samples`` (n_bootstrap, L),
        the noise ceiling and its samples; ``.pairwise(correction)``, ``.to_frame()``.
        The definitions, and where they differ from rsatoolbox's, are in the module docstring.

    Raises
    ------
    ValueError
        Unknown ``over``/``method``; ``n_bootstrap < 1``; fewer than 3 stimuli; one subject RDM
        with ``over='subjects'`` or ``'both'``; stimulus names that do not match; a constant model.

    Examples
    --------
    >>> import numpy as np
    >>> from rdm_widgets import LayerRDM
    >>> from rdm_widgets.bootstrap import bootstrap_models
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(12, 4))
    >>> rdm = lambda a: np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    >>> subjects = np.stack([rdm(x + 0.5 * rng.normal(size=x.shape)) for _ in range(6)])
    >>> res = bootstrap_models({"good": LayerRDM(rdm(x)), "noise": LayerRDM(rdm(rng.normal(size=(12, 4))))},
    ...                        subjects, over="both", n_bootstrap=200)
    >>> res.labels, res.r.round(2)
    (('good', 'noise'), array([0.75, 0.3 ]))
    >>> bool(res.ci_low[0] < res.r[0] < res.ci_high[0])
    True
    >>> pair = res.pairwise("holm").select("models")[0]     # good - noise, on the same draws
    >>> bool(pair["ci_low"] > 0 and pair["p_corrected"] < 0.05)
    True
    """
    method = check_bootstrap_method(method)
    over = check_over(over)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap, minimum=1)
    ci = check_ci(ci)
    convention = check_option("convention", convention, CONVENTIONS)
    name, rdm_set = _one_brain(subject_rdms)
    S, N = rdm_set.n_subjects, rdm_set.n_stimuli
    if N < 3:
        raise ValueError(f"Brain RDM {name!r} has {N} stimuli; a bootstrap needs at least 3 (a correlation "
                         "over stimulus pairs needs 3 pairs).")
    if S < 2 and over != "stimuli":
        raise ValueError(f"Brain RDM {name!r} has a single subject RDM: a bootstrap over={over!r} resamples "
                         "subjects and needs at least 2. Use over='stimuli', or give one RDM per subject.")
    labels, names, layers, X, notes = _design(models, name, rdm_set)
    iu = np.triu_indices(N, 1)
    V = rdm_set.rdms[:, iu[0], iu[1]].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_subject = np.stack([CORRELATIONS[method](x, V.T) for x in X])          # (L, S), as the table
    r = np.array([np.mean(row[np.isfinite(row)]) if np.isfinite(row).any() else math.nan for row in per_subject])
    nc_point = (np.asarray(noise_ceiling(rdm_set.rdms, method, convention=convention)) if S > 1
                else np.full(2, np.nan))

    rng = np.random.default_rng(random_state)
    subj = counts(rng, n_bootstrap, S) if over != "stimuli" else None
    stim = counts(rng, n_bootstrap, N) if over != "subjects" else None
    engine = SampleEngine(X, V, method, _POOL[method, convention])
    parts = sample_parts(engine, stim, subj, over, noise=noise_ceiling_samples, progress=progress)

    L = len(labels)
    points = np.concatenate([r, nc_point])
    stats = [contrast_stats(parts, over, [k], [1.0], S, N, ci, points[k]) for k in range(L + 2)]
    col = lambda key, sl: np.array([s[key] for s in stats[sl]])               # noqa: E731
    main = parts[over]
    return BootstrapResult(
        labels=labels, models=names, layers=layers, r=r, se=col("se", slice(0, L)),
        ci_low=col("ci_low", slice(0, L)), ci_high=col("ci_high", slice(0, L)),
        boot_mean=col("mean", slice(0, L)), samples=main[:, :L], noise_ceiling=nc_point,
        noise_samples=main[:, L:], noise_se=col("se", slice(L, L + 2)),
        noise_ci_low=col("ci_low", slice(L, L + 2)), noise_ci_high=col("ci_high", slice(L, L + 2)),
        over=over, method=method, convention=convention, brain=name, n_bootstrap=n_bootstrap,
        n_valid=int(np.isfinite(main[:, 0]).sum()), n_subjects=S, n_stimuli=N, ci=ci, parts=parts,
        matched=notes)


def bootstrap_compare(models, subject_rdms, *, correction: str = "holm", noise_ceiling: bool = True,
                      **kwargs) -> PairwiseComparison:
    """Pairwise bootstrap comparisons of models/layers: ``bootstrap_models(...).pairwise(correction)``.

    Parameters
    ----------
    models, subject_rdms
        As :func:`bootstrap_models`.
    correction : {'holm', 'fdr', 'bonferroni', 'none'}
    noise_ceiling : bool
        Also test each model against the lower noise ceiling.
    **kwargs
        ``method``, ``over``, ``n_bootstrap``, ``ci``, ``random_state``, ``convention``,
        ``progress`` of :func:`bootstrap_models`.

    Returns
    -------
    PairwiseComparison
    """
    check_option("correction", correction, P_CORRECTIONS)
    return bootstrap_models(models, subject_rdms, **kwargs).pairwise(correction, noise_ceiling=noise_ceiling)

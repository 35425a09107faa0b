"""The results of :mod:`rdm_widgets.bootstrap` and the statistics read from bootstrap samples.

Every number a result reports -- a model's SE and CI, a difference's CI and p -- is a linear
contrast of the per-sample columns ``(models..., noise lower, noise upper)`` and goes through one
function, :func:`contrast_stats`, so that a model, a pair of models and a model against the
noise ceiling are treated alike (the choices are documented in :mod:`rdm_widgets.bootstrap`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._rsa_stats import P_CORRECTIONS, adjust_p
from ._validate import check_option

__all__ = ["BOOTSTRAP_METHODS", "check_bootstrap_method", "check_ci", "dual_variance", "contrast_stats", "bootstrap_p",
           "BootstrapResult", "PairwiseComparison", "RESULT_COLUMNS", "PAIRWISE_COLUMNS", "NOISE_LABEL"]

#: the columns of :meth:`BootstrapResult.to_frame`
RESULT_COLUMNS = ("brain", "model", "layer", "method", "over", "n_bootstrap", "n_valid", "ci", "r", "r_boot_mean",
                  "r_boot_se", "ci_low", "ci_high", "noise_lower", "noise_lower_ci_low", "noise_lower_ci_high",
                  "noise_upper", "noise_upper_ci_low", "noise_upper_ci_high")
#: the columns of :meth:`PairwiseComparison.to_frame`
PAIRWISE_COLUMNS = ("family", "a", "b", "diff", "se", "ci_low", "ci_high", "p", "p_corrected", "correction")
#: the name of the lower noise ceiling in pairwise comparisons
NOISE_LABEL = "noise ceiling (lower)"
#: correlations the bootstrap supports
BOOTSTRAP_METHODS = ("spearman", "pearson")


def check_bootstrap_method(method: str) -> str:
    """The canonical correlation name, one of :data:`BOOTSTRAP_METHODS` (rsatoolbox's 'corr' accepted)."""
    from .rsa import check_method

    method = check_method(method)
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"Invalid value for 'method': {method!r}. The bootstrap supports "
                         f"{', '.join(map(repr, BOOTSTRAP_METHODS))} (Kendall's tau-a of every sample "
                         "would take minutes); use model_brain_table's permutation test for tau-a.")
    return method


def check_ci(ci) -> float:
    """``ci`` as a float in (0, 1), else a ValueError."""
    if isinstance(ci, bool) or not isinstance(ci, (int, float, np.floating)) or not 0 < float(ci) < 1:
        raise ValueError(f"Invalid value for 'ci': {ci!r}. Expected a coverage between 0 and 1 "
                         "(exclusive), e.g. 0.95.")
    return float(ci)


def dual_variance(v_both, v_subjects, v_stimuli, n_subjects: int, n_stimuli: int):
    """rsatoolbox's variance of a dual (subjects and stimuli) bootstrap (its ``_dual_bootstrap``
    small-sample formula, Schütt et al. 2023): from the variances of the same draws resampling
    both factors, the subjects only and the stimuli only, bounded below by each one-factor
    variance (times ``n/(n-1)``) and above by the two-factor one."""
    s, n = n_subjects / (n_subjects - 1), n_stimuli / (n_stimuli - 1)
    var = s * v_subjects + n * v_stimuli - s * n * (v_both - v_subjects - v_stimuli)
    return np.minimum(np.maximum(np.maximum(var, s * v_subjects), n * v_stimuli), v_both)


def bootstrap_p(d: np.ndarray) -> float:
    """Two-sided bootstrap p of a difference's samples ``d`` against 0, as rsatoolbox's
    ``bootstrap_pair_tests``: ``2 min(q, 1 - q)`` with ``q = #(d < 0) / #(d != 0)``, shrunk as
    ``(B - 1)/B p + 1/B`` so that it is never 0."""
    b = d.size
    nonzero = b - int(np.count_nonzero(d == 0))
    if b == 0 or nonzero == 0:
        return math.nan if b == 0 else 1.0
    q = np.count_nonzero(d < 0) / nonzero
    return float((b - 1) / b * 2 * min(q, 1 - q) + 1 / b)


def contrast_stats(parts: dict, over: str, cols, weights, n_subjects: int, n_stimuli: int, ci: float,
                   point: float) -> dict:
    """Bootstrap statistics of ``sum(weights * parts[...][:, cols])``.

    Parameters
    ----------
    parts : dict
        ``{variant: (B, n_columns)}``: the samples of ``over`` (and, for ``'both'``, the
        subjects-only and stimuli-only samples of the same draws).
    over : {'stimuli', 'subjects', 'both'}
    cols, weights : sequences
        The contrast.
    n_subjects, n_stimuli : int
    ci : float
    point : float
        The contrast on the data.

    Returns
    -------
    dict
        ``mean`` (of the samples), ``se`` (rsatoolbox's corrected variance, square root),
        ``ci_low``/``ci_high`` and ``p`` (:func:`bootstrap_p`) from the samples' deviations from
        their mean, rescaled to that variance and centred on ``point``; ``n_valid``.
    """
    cols, weights = list(cols), np.asarray(weights, dtype=np.float64)
    vals = {v: a[:, cols] @ weights for v, a in parts.items()}
    ok = np.logical_and.reduce([np.isfinite(v) for v in vals.values()])
    x = vals[over][ok]
    nan = dict(mean=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan, p=math.nan, n_valid=int(x.size))
    if x.size < 2:
        return nan
    var_raw = float(np.var(x, ddof=1))
    if over == "both":
        var = float(dual_variance(var_raw, np.var(vals["subjects"][ok], ddof=1),
                                  np.var(vals["stimuli"][ok], ddof=1), n_subjects, n_stimuli))
    else:
        n = n_subjects if over == "subjects" else n_stimuli
        var = n / (n - 1) * var_raw
    mean = float(x.mean())
    # the bootstrap gives the spread and shape of the error, the data its centre: a resample's
    # duplicated subjects shift e.g. the upper noise ceiling (a subject in the mean of all twice)
    eff = point + (x - mean) * (math.sqrt(var / var_raw) if var_raw > 0 else 1.0)
    lo, hi = np.quantile(eff, [(1 - ci) / 2, (1 + ci) / 2])
    return dict(mean=mean, se=math.sqrt(var), ci_low=float(lo), ci_high=float(hi), p=bootstrap_p(eff),
                n_valid=int(x.size))


def _table(columns, rows):
    from .interop._pandas import to_frame

    return to_frame(columns, rows)


def _csv(columns, rows, path, overwrite):
    from .interop._pandas import write_csv

    return write_csv(path, columns, rows, overwrite=overwrite)


@dataclass(frozen=True, eq=False)
class PairwiseComparison:
    """Pairwise bootstrap comparisons of :meth:`BootstrapResult.pairwise`.

    Attributes
    ----------
    rows : list of dict
        Keys :data:`PAIRWISE_COLUMNS`: ``family`` ('models' for a pair of models/layers, 'noise
        ceiling' for a model against the lower noise ceiling), ``a``, ``b``, ``diff`` = r(a) -
        r(b) on the data, its bootstrap ``se`` and CI, the two-sided bootstrap ``p`` and
        ``p_corrected`` (corrected within each family).
    labels : tuple of str
        The models/layers, in the order of :meth:`p_matrix`.
    correction : str
    over : str
    ci : float
    """

    rows: list
    labels: tuple
    correction: str
    over: str
    ci: float

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, family: str | None = None) -> list:
        """Rows of one family ('models' or 'noise ceiling'), or all."""
        return [r for r in self.rows if family is None or r["family"] == family]

    def p_matrix(self, key: str = "p_corrected") -> np.ndarray:
        """(L, L) symmetric matrix of ``key`` over the model pairs (1 on the diagonal)."""
        index = {name: i for i, name in enumerate(self.labels)}
        out = np.eye(len(self.labels))
        for r in self.select("models"):
            i, j = index[r["a"]], index[r["b"]]
            out[i, j] = out[j, i] = r[key]
        return out

    def to_frame(self):
        """The comparisons as a pandas DataFrame (imports pandas), columns :data:`PAIRWISE_COLUMNS`."""
        return _table(PAIRWISE_COLUMNS, self.rows)

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """:meth:`to_frame` as CSV text (no pandas needed), also written to ``path`` when given."""
        return _csv(PAIRWISE_COLUMNS, self.rows, path, overwrite)


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap distribution of model-brain correlations (:func:`rdm_widgets.bootstrap.bootstrap_models`).

    Attributes
    ----------
    labels, models, layers : tuple of str (L,)
        ``labels`` are the layer names for one model, ``"model / layer"`` for several.
    r : ndarray (L,)
        Mean over subjects of corr(model, subject RDM) on the data (``r`` of
        :func:`rdm_widgets.model_rsa.model_brain_table`).
    se, ci_low, ci_high, boot_mean : ndarray (L,)
        Bootstrap standard error, confidence interval, mean of the samples.
    samples : ndarray (n_bootstrap, L)
        The model evaluations of each bootstrap sample (NaN where a sample was invalid: fewer
        than 3 distinct stimuli). For ``over='both'`` the samples resampling both factors.
    noise_ceiling : ndarray (2,)
        (lower, upper) on the data (:func:`rdm_widgets.rsa.noise_ceiling`); NaN for one subject.
    noise_samples : ndarray (n_bootstrap, 2)
    noise_se, noise_ci_low, noise_ci_high : ndarray (2,)
    over, method, convention, brain : str
    n_bootstrap, n_valid, n_subjects, n_stimuli : int
    ci : float
    parts : dict
        ``{variant: (n_bootstrap, L + 2)}`` (models, noise lower, noise upper) per variant of the
        draws: ``over`` alone, or 'both', 'subjects', 'stimuli' for the dual bootstrap.
    matched : tuple of str
        How each model RDM was matched to the brain's stimuli.
    """

    labels: tuple
    models: tuple
    layers: tuple
    r: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    boot_mean: np.ndarray
    samples: np.ndarray
    noise_ceiling: np.ndarray
    noise_samples: np.ndarray
    noise_se: np.ndarray
    noise_ci_low: np.ndarray
    noise_ci_high: np.ndarray
    over: str
    method: str
    convention: str
    brain: str
    n_bootstrap: int
    n_valid: int
    n_subjects: int
    n_stimuli: int
    ci: float
    parts: dict = field(repr=False, default_factory=dict)
    matched: tuple = ()

    def __len__(self) -> int:
        return len(self.labels)

    def _stats(self, cols, weights) -> dict:
        point = float(np.dot(np.concatenate([self.r, self.noise_ceiling])[list(cols)], weights))
        return contrast_stats(self.parts, self.over, cols, weights, self.n_subjects, self.n_stimuli, self.ci, point)

    @property
    def rows(self) -> list:
        """One dict per model/layer, keys :data:`RESULT_COLUMNS`."""
        nc = self.noise_ceiling
        return [dict(brain=self.brain, model=m, layer=ly, method=self.method, over=self.over,
                     n_bootstrap=self.n_bootstrap, n_valid=self.n_valid, ci=self.ci, r=float(self.r[i]),
                     r_boot_mean=float(self.boot_mean[i]), r_boot_se=float(self.se[i]),
                     ci_low=float(self.ci_low[i]), ci_high=float(self.ci_high[i]), noise_lower=float(nc[0]),
                     noise_lower_ci_low=float(self.noise_ci_low[0]), noise_lower_ci_high=float(self.noise_ci_high[0]),
                     noise_upper=float(nc[1]), noise_upper_ci_low=float(self.noise_ci_low[1]),
                     noise_upper_ci_high=float(self.noise_ci_high[1]))
                for i, (m, ly) in enumerate(zip(self.models, self.layers))]

    def pairwise(self, correction: str = "holm", *, noise_ceiling: bool = True) -> PairwiseComparison:
        """Every pair of models/layers, and each against the lower noise ceiling.

        Parameters
        ----------
        correction : {'holm', 'fdr', 'bonferroni', 'none'}
            Multiple-comparison correction within each family ('fdr': Benjamini-Hochberg).
        noise_ceiling : bool
            Add each model against the lower noise ceiling (when there is one: two subjects or
            more), corrected as a family of its own.

        Returns
        -------
        PairwiseComparison
            ``diff`` = r(a) - r(b) on the data; CI, SE and the two-sided p from the bootstrap
            samples of the difference (the same draws for both), as for one model.
        """
        correction = check_option("correction", correction, P_CORRECTIONS)
        n = len(self.labels)
        fams = {"models": [(i, j) for i in range(n) for j in range(i + 1, n)]}
        if noise_ceiling and np.isfinite(self.noise_samples[:, 0]).any():
            fams["noise ceiling"] = [(i, n) for i in range(n)]
        rows = []
        for fam, pairs in fams.items():
            block = []
            for i, j in pairs:
                st = self._stats([i, j], [1.0, -1.0])
                point = self.r[i] - (self.noise_ceiling[0] if j == n else self.r[j])
                block.append(dict(family=fam, a=self.labels[i], b=NOISE_LABEL if j == n else self.labels[j],
                                  diff=float(point), se=st["se"], ci_low=st["ci_low"], ci_high=st["ci_high"],
                                  p=st["p"], correction=correction))
            for row, q in zip(block, adjust_p([r["p"] for r in block], correction)):
                row["p_corrected"] = float(q)
            rows.extend(block)
        return PairwiseComparison(rows, tuple(self.labels), correction, self.over, self.ci)

    def to_frame(self):
        """One row per model/layer as a pandas DataFrame (imports pandas), columns :data:`RESULT_COLUMNS`."""
        return _table(RESULT_COLUMNS, self.rows)

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """:meth:`to_frame` as CSV text (no pandas needed), also written to ``path`` when given."""
        return _csv(RESULT_COLUMNS, self.rows, path, overwrite)

"""Model vs brain: RSA tables of model layers against brain RDMs, and tested RSA time courses.

Conventions (documented because the literature differs):

* Stimuli are matched **by name**: the model RDM is subset and reordered to the brain RDM's
  stimuli; names that differ raise an error listing what is missing on each side. A brain
  RDM without names is matched by order only when the counts agree, and the row says so
  (``matched = 'by order (brain RDM has no stimulus names)'``). Never silently by count.
* One brain RDM: ``r`` is the correlation of the model with it; ``p`` the one-sided
  stimulus-label permutation test of :func:`rdm_widgets.rsa.compare_rdms`.
* A stack of subject RDMs (as rsatoolbox's ``eval_fixed`` and Nili et al. 2014): ``r`` is the
  **mean over subjects** of corr(model, subject RDM), the quantity the noise ceiling
  (:func:`rdm_widgets.rsa.noise_ceiling`: lower = corr(subject, mean of the others), upper =
  corr(subject, mean of all)) bounds; ``r_sem`` its standard error; ``p`` a one-sided Wilcoxon
  signed-rank test of the subjects' r > 0 (scipy). ``r_group`` / ``p_permutation`` are the
  correlation with the group-mean RDM (subject RDMs rank-transformed before averaging for
  Spearman, as in the noise ceiling) and its stimulus-label permutation test.
* ``p_fdr``: Benjamini-Hochberg over the layers of one model against one brain RDM.
* ``bootstrap='stimuli'|'subjects'|'both'``: ``ci_low``/``ci_high``/``r_boot_se`` of ``r`` from
  :func:`rdm_widgets.bootstrap.bootstrap_models` (rsatoolbox's bootstrap definitions; pairwise
  comparisons of layers with corrected p-values: :meth:`rdm_widgets.bootstrap.BootstrapResult.pairwise`).
* Time courses (:func:`rsa_timecourse_test`): per time point a stimulus-label permutation test
  with the *same* relabellings at every time point, then BH-FDR over time points.
* rsatoolbox ``RDMs`` are accepted as brain RDMs (a stack: one per subject, as
  :meth:`RDMSet.from_rsatoolbox`) and as models (one RDM per layer, named by the rdm descriptor
  ``layer``/``name``, as :func:`rdm_widgets.rdm.load_rdms`); ``convention='rsatoolbox'`` pools the
  subjects for the noise ceiling and ``r_group`` as rsatoolbox does
  (:func:`rdm_widgets.rsa.pool_subjects`).
* Tables: :meth:`RSATable.to_frame` / :meth:`TimecourseTest.to_frame` (pandas) and ``to_csv``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._bootstrap_results import check_bootstrap_method, check_ci
from ._rsa_inputs import as_brains, as_models
from ._rsa_progress import TableProgress, compare_in_blocks
from ._rsa_stats import BY_ORDER_NOTE, corr_matrix, fdr_bh, match_model_to_brain
from ._validate import check_option, check_positive_int
from .bootstrap import bootstrap_models, check_over
from .rdm_files import RDMSet
from .rsa import (CORRELATIONS, check_method, leave_one_subject_out, model_for_conditions,
                  noise_ceiling, pool_subjects, rsa_timecourse)

__all__ = ["RSATable", "model_brain_table", "TimecourseTest", "rsa_timecourse_test", "caution_for", "fdr_bh",
           "COLUMNS", "BY_ORDER_NOTE", "MIN_CONDITIONS"]

#: the columns of :attr:`RSATable.rows`, in CSV order
COLUMNS = ("brain", "model", "layer", "method", "n_stimuli", "n_subjects", "r", "r_sem", "test", "p",
           "p_fdr", "r_group", "p_permutation", "r_loso_min", "r_loso_max", "noise_lower", "noise_upper",
           "matched", "ci_low", "ci_high", "r_boot_se", "bootstrap")
#: the bootstrap keys of a row without a bootstrap
_NO_BOOTSTRAP = dict(ci_low=math.nan, ci_high=math.nan, r_boot_se=math.nan, bootstrap=None)
#: below this many conditions an RSA time course correlates too few pairs to be stable
MIN_CONDITIONS = 6


@dataclass
class RSATable:
    """The result of :func:`model_brain_table`: one row per (brain, model, layer).

    Attributes
    ----------
    rows : list of dict
        Keys :data:`COLUMNS`; numbers are floats (NaN when not applicable, e.g. the noise
        ceiling of a single RDM).
    method : str
    n_permutations : int
    skipped : list of str
        ``"<brain> ~ <model>: <why>"`` for pairs left out with ``on_error='skip'``.
    """

    rows: list = field(default_factory=list)
    method: str = "spearman"
    n_permutations: int = 0
    skipped: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def brains(self) -> list[str]:
        return list(dict.fromkeys(r["brain"] for r in self.rows))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    @property
    def notes(self) -> list[str]:
        """Distinct ``"<brain> ~ <model>: matched <how>"`` lines (shown with the result)."""
        return list(dict.fromkeys(f"{r['brain']} ~ {r['model']}: matched {r['matched']}" for r in self.rows))

    def select(self, brain: str | None = None, model: str | None = None) -> list[dict]:
        """Rows of one brain RDM and/or one model, in table order."""
        return [r for r in self.rows if (brain is None or r["brain"] == brain)
                and (model is None or r["model"] == model)]

    def to_frame(self):
        """The table as a pandas DataFrame (imports pandas), columns :data:`COLUMNS`."""
        from .interop._pandas import to_frame

        return to_frame(COLUMNS, self.rows)

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """The table as CSV text (floats round-trip exactly); also written to ``path`` if given.

        Parameters
        ----------
        path : str, Path or None
            Write the text there atomically; an existing file raises ``FileExistsError``
            unless ``overwrite``.
        """
        from .interop._pandas import write_csv

        return write_csv(path, COLUMNS, self.rows, overwrite=overwrite)


class _Brain:
    """What the table needs of one brain RDM set, computed once per method."""

    def __init__(self, name: str, rdm_set: RDMSet, method: str, convention: str = "rdm_widgets"):
        self.name, self.set, self.convention = name, rdm_set, convention
        n = rdm_set.n_stimuli
        self.iu = np.triu_indices(n, 1)
        V = rdm_set.rdms[:, self.iu[0], self.iu[1]]           # (S, pairs)
        self.V = V
        pooled = (pool_subjects(V, method, convention=convention) if rdm_set.is_stack else V).mean(axis=0)
        self.group = np.zeros((n, n))
        self.group[self.iu] = pooled
        self.group.T[self.iu] = pooled
        self.ceiling = (noise_ceiling(rdm_set.rdms, method, convention=convention) if rdm_set.is_stack
                        else (math.nan, math.nan))


def _row(brain: _Brain, model_name: str, layer: str, rdm, method: str, n_permutations: int, rng, tick) -> dict:
    from scipy.stats import wilcoxon

    matched, how = match_model_to_brain(rdm, brain.set.stimuli, brain.set.n_stimuli,
                                        model_name=f"{model_name} / {layer}", brain_name=brain.name)
    M = np.asarray(matched.matrix, dtype=np.float64)
    group = compare_in_blocks(M, brain.group, method, n_permutations, rng, tick)
    p_perm = math.nan if group.p is None else group.p
    row = dict(brain=brain.name, model=model_name, layer=layer, method=method,
               n_stimuli=brain.set.n_stimuli, n_subjects=brain.set.n_subjects, r_group=group.r,
               p_permutation=p_perm, r_loso_min=math.nan, r_loso_max=math.nan, noise_lower=brain.ceiling[0],
               noise_upper=brain.ceiling[1], matched=how)
    if not brain.set.is_stack:
        return dict(row, r=group.r, r_sem=math.nan, test="stimulus-label permutation", p=p_perm)
    # leave one subject out: the model against the mean of the other subjects, for each subject
    # (how much the group result rests on single subjects)
    loso = leave_one_subject_out(M, brain.set.rdms, method, convention=brain.convention)
    row.update(r_loso_min=float(np.nanmin(loso)), r_loso_max=float(np.nanmax(loso)))
    x = M[brain.iu]
    per_subject = CORRELATIONS[method](x, brain.V.T)                 # (S,)
    finite = per_subject[np.isfinite(per_subject)]
    try:
        p = float(wilcoxon(finite, alternative="greater").pvalue) if finite.size >= 2 else math.nan
    except ValueError:  # e.g. all r equal to zero
        p = math.nan
    sem = float(finite.std(ddof=1) / np.sqrt(finite.size)) if finite.size >= 2 else math.nan
    return dict(row, r=float(finite.mean()) if finite.size else math.nan, r_sem=sem,
                test="one-sided wilcoxon signed-rank over subjects (r > 0)", p=p)


def model_brain_table(models, brain, *, method: str = "spearman", n_permutations: int = 1000,
                      random_state=0, progress=None, on_error: str = "raise",
                      convention: str = "rdm_widgets", bootstrap: str | None = None, n_bootstrap: int = 1000,
                      ci: float = 0.95) -> RSATable:
    """Similarity of every model layer with one or more brain RDMs, with tests and noise ceilings.

    Parameters
    ----------
    models : dict or rsatoolbox RDMs
        ``{layer: LayerRDM}`` (one model, named ``"model"``) or ``{model: {layer: LayerRDM}}``;
        an rsatoolbox ``RDMs`` (one RDM per layer) in place of a ``{layer: LayerRDM}``.
    brain : RDMSet, LayerRDM, rsatoolbox RDMs or dict of them
        A brain/behaviour/hypothesis RDM, a stack of subject RDMs (:func:`read_rdm_file`, an
        rsatoolbox ``RDMs`` of one RDM per subject), or ``{name: ...}`` for several ROIs.
    method : {'spearman', 'pearson', 'kendall_tau_a'}
        (rsatoolbox's 'corr', 'tau-a' accepted.)
    n_permutations : int
        Stimulus-label permutations per row (0: no permutation test).
    random_state : int, Generator or None
        Seed of the permutations (one generator for the whole table).
    progress : callable or None
        ``progress(done, total)`` in units of permutations, rows and bootstrap samples (a row is
        ``n_permutations + 1``, a (brain, model) pair's bootstrap ``n_bootstrap``): once with 0
        and the total, then after each block of permutations (~0.1 s), row and block of
        bootstrap samples. It may raise (:class:`rdm_widgets.Cancelled`) to stop the table.
    on_error : {'raise', 'skip'}
        What a (brain, model) pair whose stimuli do not match does: raise the ValueError, or
        leave the pair out and record the message in :attr:`RSATable.skipped` (the other pairs
        get the same numbers as without it only up to the permutation draws).
    convention : {'rdm_widgets', 'rsatoolbox'}
        How subject RDMs are pooled for the noise ceiling and ``r_group``
        (:func:`rdm_widgets.rsa.noise_ceiling`).
    bootstrap : {None, 'stimuli', 'subjects', 'both'}
        Add a bootstrap confidence interval of ``r`` (:func:`rdm_widgets.bootstrap.bootstrap_models`,
        the layers of one model against one brain RDM on the same draws): row keys ``ci_low``,
        ``ci_high``, ``r_boot_se`` and ``bootstrap`` (the ``over`` used). None (default): NaN and
        None. 'subjects' and 'both' need a stack of subject RDMs; Spearman or Pearson only.
    n_bootstrap : int
        Bootstrap samples (with ``bootstrap``).
    ci : float
        Coverage of the interval (with ``bootstrap``).

    Returns
    -------
    RSATable
        See the module docstring for what ``r``, ``p``, ``p_fdr`` and the noise ceiling are.

    Raises
    ------
    ValueError
        Stimulus names that do not match (the message lists the missing names on each side).

    Examples
    --------
    >>> import warnings
    >>> from rdm_widgets import RDMCreator, model_brain_table
    >>> from rdm_widgets.demo import demo_path
    >>> from rdm_widgets.rdm_files import bundled_brain_rdms
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")             # info.json beside the features is skipped
    ...     model = RDMCreator().compute_rdms(demo_path("mobilenetv2"), layers=["features.6", "logits"])
    >>> table = model_brain_table({"mobilenetv2": model}, bundled_brain_rdms(), n_permutations=0)
    >>> [(row["brain"], row["layer"], row["n_subjects"]) for row in table.rows]
    [('EVC', 'features.6', 15), ('EVC', 'logits', 15), ('IT', 'features.6', 15), ('IT', 'logits', 15)]
    """
    method = check_method(method)
    n_permutations = check_positive_int("n_permutations", n_permutations, minimum=0)
    on_error = check_option("on_error", on_error, ("raise", "skip"))
    if bootstrap is not None:
        bootstrap, method = check_over(bootstrap), check_bootstrap_method(method)
        n_bootstrap, ci = check_positive_int("n_bootstrap", n_bootstrap, minimum=1), check_ci(ci)
    # the bootstrap draws its own numbers: the permutations stay those of a table without it, and
    # with an integer seed every (brain, model) gets the draws of bootstrap_models(random_state=seed)
    boot_seed = random_state.spawn(1)[0] if isinstance(random_state, np.random.Generator) else random_state
    brains = {name: _Brain(name, s, method, convention) for name, s in as_brains(brain).items()}
    models = as_models(models)
    rng = np.random.default_rng(random_state)
    per_pair = {m: len(v) * (n_permutations + 1) + (0 if bootstrap is None else n_bootstrap)
                for m, v in models.items()}
    tp = TableProgress(len(brains) * sum(per_pair.values()), progress)
    rows, skipped = [], []
    for b in brains.values():
        for model_name, layers in models.items():
            end = tp.done + per_pair[model_name]
            try:
                family = []
                for layer, rdm in layers.items():
                    family.append(_row(b, model_name, layer, rdm, method, n_permutations, rng, tp.update))
                    tp.update(1)
                start = tp.done
                boot = None if bootstrap is None else bootstrap_models(
                    {model_name: layers}, {b.name: b.set}, method=method, over=bootstrap, n_bootstrap=n_bootstrap,
                    ci=ci, random_state=boot_seed, convention=convention, noise_ceiling_samples=False,
                    progress=lambda d, _t: tp.to(start + d))
                for k, row in enumerate(family):
                    row.update(_NO_BOOTSTRAP if boot is None else
                               dict(ci_low=float(boot.ci_low[k]), ci_high=float(boot.ci_high[k]),
                                    r_boot_se=float(boot.se[k]), bootstrap=bootstrap))
            except ValueError as err:
                if on_error == "raise" or err is tp.error:      # the callback's own error is no mismatch
                    raise
                skipped.append(f"{b.name} ~ {model_name}: {err}")
                family = []
            for row, q in zip(family, fdr_bh([r["p"] for r in family])):
                row["p_fdr"] = float(q)
            rows.extend({c: row[c] for c in COLUMNS} for row in family)
            tp.to(end)                                          # a skipped pair's units are done too
    return RSATable(rows, method, n_permutations, skipped)


@dataclass
class TimecourseTest:
    """RSA time course of one model RDM with a time-resolved RDM, tested per time point.

    Attributes
    ----------
    r, p, p_fdr : ndarray (T,)
        Correlation, permutation p and BH-adjusted p at each time point (NaN where the RDM is
        constant).
    times : ndarray (T,)
    method : str
    n_permutations : int
    n_conditions : int
    caution : str
        Non-empty when fewer than :data:`MIN_CONDITIONS` conditions make the correlation unstable.
    """

    r: np.ndarray
    p: np.ndarray
    p_fdr: np.ndarray
    times: np.ndarray
    method: str
    n_permutations: int
    n_conditions: int
    caution: str = ""

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Boolean (T,): time points with ``p_fdr <= alpha``."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.p_fdr <= alpha)

    _COLUMNS = ("time", "r", "p", "p_fdr", "method", "n_permutations")

    def _rows(self) -> list:
        return [(float(t), float(r), float(p), float(q), self.method, self.n_permutations)
                for t, r, p, q in zip(self.times, self.r, self.p, self.p_fdr)]

    def to_frame(self):
        """Tidy table (imports pandas): one row per time point, ``time, r, p, p_fdr, method,
        n_permutations``."""
        from .interop._pandas import to_frame

        return to_frame(self._COLUMNS, self._rows())

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """:meth:`to_frame` as CSV text (no pandas needed), also written to ``path`` when given."""
        from .interop._pandas import write_csv

        return write_csv(path, self._COLUMNS, self._rows(), overwrite=overwrite)


def caution_for(n_conditions: int) -> str:
    """The warning shown for time courses over fewer than :data:`MIN_CONDITIONS` conditions ('' otherwise)."""
    if n_conditions >= MIN_CONDITIONS:
        return ""
    pairs = n_conditions * (n_conditions - 1) // 2
    return (f"Caution: fewer than {MIN_CONDITIONS} conditions ({n_conditions}): each correlation is over "
            f"only {pairs} condition pairs and is unstable, and the permutation test has only "
            f"{math.factorial(n_conditions)} distinct relabellings (smallest p = "
            f"{1 / math.factorial(n_conditions):.3g}).")


def rsa_timecourse_test(model, result, method: str = "spearman", n_permutations: int = 1000,
                        random_state=0) -> TimecourseTest:
    """RSA of a model RDM with a time-resolved RDM at every time point, with significance.

    Parameters
    ----------
    model : LayerRDM or array (N, N)
        Matched to the conditions by name (:func:`rdm_widgets.rsa.rsa_timecourse`).
    result : TimeResolvedRDM
        ``data`` (N, N, T), ``times``, ``conditions``.
    method : {'spearman', 'pearson', 'kendall_tau_a'}
    n_permutations : int
        Relabellings of the model's stimuli, the same ones at every time point (0: r only).
    random_state : int, Generator or None

    Returns
    -------
    TimecourseTest
        ``p = (1 + #(null_t >= r_t)) / (1 + n_permutations)``; ``p_fdr`` BH over time points.
    """
    from .interop._rsatoolbox import is_rsatoolbox_rdms

    method = check_method(method)
    n_permutations = check_positive_int("n_permutations", n_permutations, minimum=0)
    if is_rsatoolbox_rdms(result):
        from .eeg import TimeResolvedRDM

        result = TimeResolvedRDM.from_rsatoolbox(result, time_descriptor=None)
    if is_rsatoolbox_rdms(model):
        from .rdm import LayerRDM

        model = LayerRDM.from_rsatoolbox(model)
    r = rsa_timecourse(model, result, method=method)                 # validates and matches by name
    M = np.asarray(getattr(model_for_conditions(model, result), "matrix", model), dtype=np.float64)
    E = np.asarray(getattr(result, "data", result), dtype=np.float64)
    n = M.shape[0]
    times = np.asarray(getattr(result, "times", np.arange(E.shape[2])), dtype=np.float64)
    p = np.full(r.shape, np.nan)
    if n_permutations:
        iu, ju = np.triu_indices(n, 1)
        Y = E[iu, ju, :]
        ok = np.isfinite(r)
        rng = np.random.default_rng(random_state)
        exceed = np.zeros(r.shape)
        chunk = max(1, 2_000_000 // max(iu.size, 1))
        for start in range(0, n_permutations, chunk):
            m = min(chunk, n_permutations - start)
            perms = np.stack([rng.permutation(n) for _ in range(m)])
            X = M[perms[:, iu], perms[:, ju]].T                          # (pairs, m) relabelled model
            null = corr_matrix(X, Y[:, ok], method, CORRELATIONS)        # (m, T_ok)
            exceed[ok] += np.count_nonzero(null >= r[ok] - 1e-12, axis=0)
        p[ok] = (1.0 + exceed[ok]) / (1.0 + n_permutations)
    return TimecourseTest(r=r, p=p, p_fdr=fdr_bh(p), times=times, method=method,
                          n_permutations=n_permutations, n_conditions=n, caution=caution_for(n))

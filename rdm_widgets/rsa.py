"""Representational similarity analysis: comparing RDMs.

All comparisons use the upper triangle (without diagonal) of the RDMs.
Correlation methods live in a registry (``CORRELATIONS``) of vectorised
functions ``f(x (n,), Y (n, m)) -> (m,)`` that correlate one vector with many
columns at once, so that permutation tests and timecourses need no Python loop
over permutations or time points (except for Kendall's tau-a).

Choices (documented because the literature differs):

* Permutation test: stimulus labels of ``b`` are permuted (rows and columns
  together), one-sided, ``p = (1 + #(null >= r)) / (1 + n_permutations)``.
* Kendall's tau-a = (concordant - discordant) / (n (n - 1) / 2) counts ties
  as neither (as in rsatoolbox). For up to 500 pairs it is computed by a
  vectorised O(n^2) comparison of all pairs; above that it is derived exactly
  from scipy's O(n log n) tau-b by undoing its tie correction,
  ``C - D = tau_b * sqrt((n0 - n1)(n0 - n2))`` with n1, n2 the tied pairs in
  x and y (at 2926 pairs, N = 77: 2 ms instead of 70 ms, which matters for
  permutation tests). Both routes are tested against a brute-force loop.
* Noise ceiling (Nili et al. 2014): upper = mean correlation of each subject
  with the mean of all subjects, lower = with the mean of the other subjects.
  For ``method='spearman'`` the subject RDMs are rank-transformed before
  averaging (as rsatoolbox's ``pool_rdm``) unless ``rank_before_average=False``.
  Net2Brain's ``noise_ceiling_log.json`` is reproduced exactly with
  ``rank_before_average=False, squared=True`` (mean of *squared* Spearman
  correlations of raw RDMs).
* rsatoolbox (``convention='rsatoolbox'``, equal to
  ``rsatoolbox.inference.boot_noise_ceiling``): its ``pool_rdm`` z-scores each
  subject's RDM (population std) before averaging for pearson (``'corr'``) and
  rank-transforms it for Spearman and tau-a. The default pools pearson and tau-a
  RDMs raw. On the bundled fMRI EVC RDMs the pearson upper bound moves from 0.2385
  to 0.2662.
* NaN cells (``nan_policy``): :func:`compare_rdms` and :func:`noise_ceiling` raise a ValueError
  naming the RDM (or subject) and the number of NaN cells by default; ``nan_policy='omit'``
  drops the undefined stimulus pairs (for the permutation test: each relabelling is correlated
  over the pairs defined in both RDMs). No p-value is ever given for an undefined r: time
  courses (:func:`rsa_timecourse`) give r = NaN and p = NaN at such time points.
* Stimulus names: two LayerRDMs are compared only over the same stimuli in the same order
  (a ValueError lists the differences); arrays carry no names and are compared by position.
* rsatoolbox ``RDMs`` objects are accepted wherever an RDM or a stack is (one RDM
  for ``compare_rdms``; a stack of subjects for the noise ceiling; RDMs with a time
  descriptor for ``rsa_timecourse``), and its method names ``'corr'`` and ``'tau-a'``
  are synonyms of ``'pearson'`` and ``'kendall_tau_a'``.
"""
from __future__ import annotations

import numpy as np

from ._correlations import CORRELATIONS, _pearson_many, _rank, kendall_tau_a
from ._rsa_results import NoiseCeiling, RSAResult
from ._rsa_inputs import from_peer, rdm_stack, square_rdm
from ._rsa_time import is_time_resolved, model_time_map
from ._rsa_stats import (NAN_POLICIES, check_nan_cells, compare_omit, defined_pairs, fdr_bh, permutation_p,
                         stimulus_mismatch)
from ._validate import check_option, check_positive_int

__all__ = ["RSAResult", "NoiseCeiling", "CORRELATIONS", "METHOD_SYNONYMS", "CONVENTIONS", "check_method",
           "compare_rdms", "noise_ceiling", "leave_one_subject_out", "rsa_timecourse", "kendall_tau_a",
           "model_for_conditions", "pool_subjects", "fdr_bh", "NAN_POLICIES"]


#: stimulus pairs x permutations of one relabelled matrix in :func:`compare_rdms` (bounds its
#: memory; :func:`rdm_widgets._rsa_progress.permutation_block` cuts blocks of whole chunks)
PERMUTATION_CHUNK_CELLS = 1_000_000
#: rsatoolbox's names of the same correlations (``rsatoolbox.rdm.compare(method=...)``)
METHOD_SYNONYMS = {"corr": "pearson", "tau-a": "kendall_tau_a", "tau_a": "kendall_tau_a"}
#: how subject RDMs are pooled before a noise ceiling: ours, or rsatoolbox's ``pool_rdm``
CONVENTIONS = ("rdm_widgets", "rsatoolbox")


def check_method(method: str) -> str:
    """The canonical correlation name (:data:`CORRELATIONS`), rsatoolbox's synonyms accepted."""
    if isinstance(method, str) and method.lower() in METHOD_SYNONYMS:
        return METHOD_SYNONYMS[method.lower()]
    return check_option("method", method, CORRELATIONS,
                        extra="rsatoolbox's names 'corr' and 'tau-a' are accepted too.")


_method = check_method


def _check_same_order(a, b) -> None:
    from .rdm import LayerRDM

    if isinstance(a, LayerRDM) and isinstance(b, LayerRDM):
        why = stimulus_mismatch(a, b)
        if why:
            raise ValueError(why)


def _rdm_name(x, name: str) -> str:
    layer = getattr(x, "layer", "")
    return f"RDM {name!r}" + (f" (layer {layer!r})" if layer else "")


def compare_rdms(a, b, method: str = "spearman", n_permutations: int = 0,
                 random_state=None, *, nan_policy: str = "raise") -> RSAResult:
    """Correlate two RDMs (upper triangles), optionally with a permutation test.

    Parameters
    ----------
    a, b : LayerRDM, rsatoolbox RDMs (of one RDM) or array-like, shape (N, N)
        RDMs over the same N stimuli in the same order.
    method : {'spearman', 'pearson', 'kendall_tau_a'}
        rsatoolbox's ``'corr'`` and ``'tau-a'`` are synonyms: the values equal
        ``rsatoolbox.rdm.compare(a, b, method)`` for 'spearman', 'corr' and 'tau-a'.
    n_permutations : int
        Number of stimulus-label permutations of ``b`` (0: no test).
    random_state : int, numpy Generator or None
        Seed of the permutations.
    nan_policy : {'raise', 'omit'}
        NaN (or inf) cells: ``'raise'`` (default) raises a ValueError naming the RDM and the
        number of cells; ``'omit'`` drops the stimulus pairs undefined in either RDM, and each
        permutation is correlated over the pairs defined in both RDMs after relabelling (a
        relabelling that leaves fewer than 3 such pairs, or constant values, counts as
        exceeding r). Never a p-value without a defined r.

    Returns
    -------
    RSAResult

    Raises
    ------
    ValueError
        Two LayerRDMs over different stimulus names (the message lists them; arrays, which carry
        no names, are compared by position), NaN cells under ``nan_policy='raise'``, an RDM
        that is not symmetric (beyond rounding: ``max|A - A.T| > 1e-6 max|A|``, as
        :func:`rdm_widgets.read_rdm_file`).

    Examples
    --------
    >>> import numpy as np
    >>> from rdm_widgets import compare_rdms
    >>> a = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]])
    >>> compare_rdms(a, a ** 2, method="spearman").r
    1.0
    >>> round(compare_rdms(a, a ** 2, method="pearson").r, 4)
    0.9897
    """
    method = _method(method)
    a, b = from_peer(a), from_peer(b)
    A, B = square_rdm(a, "a"), square_rdm(b, "b")
    if A.shape != B.shape:
        raise ValueError(f"RDMs must have the same shape; got a {A.shape} and b {B.shape}. "
                         "Use LayerRDM.subset() to select the common stimuli.")
    _check_same_order(a, b)
    n = A.shape[0]
    if n < 3:
        raise ValueError(f"Need at least 3 stimuli to correlate RDMs; got {n}.")
    n_permutations = check_positive_int("n_permutations", n_permutations, minimum=0)
    iu, ju = np.triu_indices(n, 1)
    x = A[iu, ju]
    y = B[iu, ju]
    ok = check_nan_cells(x, _rdm_name(a, "a"), nan_policy) & check_nan_cells(y, _rdm_name(b, "b"), nan_policy)
    if not ok.all():
        return compare_omit(x, y, B, method, n_permutations, random_state, ok)
    for name, v in (("a", x), ("b", y)):
        if np.ptp(v) == 0:
            raise ValueError(f"RDM {name!r} is constant; its correlation with any RDM is undefined.")
    func = CORRELATIONS[method]
    r = float(func(x, y[:, None])[0])
    if n_permutations == 0:
        return RSAResult(r, None, method, 0, None)
    if method == "spearman":
        # relabelling stimuli permutes the pairs, so the ranks of a permuted RDM are the permuted
        # ranks: rank once, then each permutation is a Pearson correlation (same values, ~10x faster)
        x, ranks = _rank(x), _rank(y)
        B = np.zeros_like(B)
        B[iu, ju] = ranks
        B[ju, iu] = ranks
        func = _pearson_many
    rng = np.random.default_rng(random_state)
    null = np.empty(n_permutations)
    chunk = max(1, PERMUTATION_CHUNK_CELLS // iu.size)
    for start in range(0, n_permutations, chunk):
        m = min(chunk, n_permutations - start)
        perms = np.stack([rng.permutation(n) for _ in range(m)])  # (m, N)
        Y = B[perms[:, iu], perms[:, ju]].T  # (pairs, m): b with relabelled stimuli
        null[start:start + m] = func(x, Y)
    return RSAResult(r, permutation_p(null, r), method, n_permutations, null)


def _condensed_stack(S: np.ndarray) -> np.ndarray:
    iu, ju = np.triu_indices(S.shape[1], 1)
    return S[:, iu, ju]  # (S, pairs)


def _pool(V: np.ndarray, rank: bool) -> np.ndarray:
    """Condensed subject RDMs (S, pairs), rank-transformed if requested."""
    return _rank(V, axis=1) if rank else V


def _zscore(V: np.ndarray) -> np.ndarray:
    return (V - V.mean(axis=1, keepdims=True)) / V.std(axis=1, keepdims=True)


def pool_subjects(V: np.ndarray, method: str, *, convention: str = "rdm_widgets",
                  rank_before_average: bool | None = None) -> np.ndarray:
    """Condensed subject RDMs (S, pairs) transformed as they are before averaging.

    ``convention='rdm_widgets'``: ranks for 'spearman' (or as ``rank_before_average`` says),
    raw values otherwise. ``'rsatoolbox'`` (its ``pool_rdm``): z-scores (population std) for
    'pearson', ranks for 'spearman' and 'kendall_tau_a'.
    """
    convention = check_option("convention", convention, CONVENTIONS)
    if convention == "rsatoolbox":
        if rank_before_average is not None:
            raise ValueError("rank_before_average applies to convention='rdm_widgets' only; "
                             "convention='rsatoolbox' pools as rsatoolbox's pool_rdm does.")
        return _zscore(V) if method == "pearson" else _rank(V, axis=1)
    return _pool(V, (method == "spearman") if rank_before_average is None else bool(rank_before_average))


def noise_ceiling(subject_rdms, method: str = "spearman", *, rank_before_average: bool | None = None,
                  squared: bool = False, convention: str = "rdm_widgets",
                  nan_policy: str = "raise") -> NoiseCeiling:
    """Lower and upper noise ceiling (Nili et al. 2014, leave-one-subject-out).

    Parameters
    ----------
    subject_rdms : array-like (S, N, N), RDMSet or rsatoolbox RDMs
        One RDM per subject (S >= 2).
    method : {'spearman', 'pearson', 'kendall_tau_a'}
        (rsatoolbox's 'corr', 'tau-a' accepted.)
    rank_before_average : bool or None
        Rank-transform subject RDMs before averaging. Default: True for
        'spearman' (as rsatoolbox), False otherwise.
    squared : bool
        Average squared correlations (Net2Brain's convention, "R^2").
    convention : {'rdm_widgets', 'rsatoolbox'}
        How subject RDMs are pooled (:func:`pool_subjects`). ``'rsatoolbox'`` equals
        ``rsatoolbox.inference.boot_noise_ceiling(rdms, method)``: z-scored subjects for
        pearson, ranked subjects for Spearman and tau-a.
    nan_policy : {'raise', 'omit'}
        NaN (or inf) cells in a subject RDM: ``'raise'`` (default) names the subject and the
        number of cells; ``'omit'`` drops the stimulus pairs undefined in any subject, so every
        subject and every mean is over the same pairs.

    Returns
    -------
    NoiseCeiling
        A tuple ``(lower, upper)``: lower = mean over subjects of corr(subject, mean of the
        others); upper = mean over subjects of corr(subject, mean of all subjects); with
        ``.to_frame()`` / ``.to_csv()``.

    Examples
    --------
    >>> from rdm_widgets import noise_ceiling
    >>> from rdm_widgets.rdm_files import bundled_brain_rdms
    >>> lower, upper = noise_ceiling(bundled_brain_rdms()["EVC"].rdms, method="spearman")
    >>> print(f"{lower:.3f} {upper:.3f}")
    0.018 0.261
    """
    method = _method(method)
    S = rdm_stack(getattr(subject_rdms, "rdms", subject_rdms), "subject_rdms")
    n_sub = S.shape[0]
    if n_sub < 2:
        raise ValueError(f"Need at least 2 subject RDMs for a noise ceiling; got {n_sub}.")
    V = pool_subjects(defined_pairs(_condensed_stack(S), nan_policy), method, convention=convention,
                      rank_before_average=rank_before_average)
    func = CORRELATIONS[method]
    total = V.sum(axis=0)
    upper = np.array([func(V[s], (total / n_sub)[:, None])[0] for s in range(n_sub)])
    lower = np.array([func(V[s], ((total - V[s]) / (n_sub - 1))[:, None])[0] for s in range(n_sub)])
    if squared:
        upper, lower = upper ** 2, lower ** 2
    return NoiseCeiling(np.mean(lower), np.mean(upper), method, convention.lower(), n_sub)


def leave_one_subject_out(model_rdm, subject_rdms, method: str = "spearman", *,
                          rank_before_average: bool | None = None, convention: str = "rdm_widgets") -> np.ndarray:
    """Correlation of a model RDM with the mean RDM of all subjects but one.

    For each subject s, the model is correlated with the average of the other
    S - 1 subject RDMs (same averaging as :func:`noise_ceiling`, same ``convention``). The
    spread of these jackknife values shows how much the group result depends on
    single subjects.

    Returns
    -------
    ndarray, shape (S,)

    Raises
    ------
    ValueError
        A constant model RDM (its correlation with any RDM is undefined), as :func:`compare_rdms`.
    """
    method = _method(method)
    S = rdm_stack(getattr(subject_rdms, "rdms", subject_rdms), "subject_rdms")
    M = square_rdm(model_rdm, "model_rdm")
    if M.shape != S.shape[1:]:
        raise ValueError(f"model_rdm has shape {M.shape} but subject RDMs are {S.shape[1:]} "
                         f"(stack {S.shape}); they must cover the same stimuli.")
    n_sub = S.shape[0]
    if n_sub < 2:
        raise ValueError(f"Need at least 2 subject RDMs; got {n_sub}.")
    iu, ju = np.triu_indices(M.shape[0], 1)
    x = M[iu, ju]
    if np.ptp(x) == 0:
        raise ValueError(f"{_rdm_name(model_rdm, 'model_rdm')} is constant; its correlation with any "
                         "RDM is undefined.")
    V = pool_subjects(_condensed_stack(S), method, convention=convention, rank_before_average=rank_before_average)
    others = (V.sum(axis=0)[None, :] - V) / (n_sub - 1)  # (S, pairs)
    return CORRELATIONS[method](x, others.T)


def _listed(names: list, most: int = 10) -> str:
    """``"['a', 'b', ...] (78 in all)"``: a list short enough for an error message."""
    return str(names[:most]) + (f" … ({len(names)} in all)" if len(names) > most else "")


def model_for_conditions(model_rdm, eeg_rdms):
    """The model RDM over the EEG conditions, in their order, matched by name.

    Both sides must carry names (a LayerRDM's ``stimuli`` and a TimeResolvedRDM's ``conditions``)
    for a match by name; otherwise (arrays) rows are taken in the order given. Never by count: a
    model of 4 images is not an RDM of 4 EEG conditions because the numbers agree.
    """
    conditions = getattr(eeg_rdms, "conditions", None)
    stimuli = getattr(model_rdm, "stimuli", None)
    if conditions is None or stimuli is None:
        return model_rdm
    conds = [str(c) for c in conditions]
    names = [str(s) for s in stimuli]
    known = set(names)
    missing = [c for c in conds if c not in known]
    if missing:
        layer = getattr(model_rdm, "layer", "")
        raise ValueError(
            f"The model RDM{f' {layer!r}' if layer else ''} has no stimulus named like the EEG "
            f"condition(s) {_listed(missing, 6)}: model stimuli {_listed(names)}, EEG conditions "
            f"{_listed(conds)}. Stimuli are matched to conditions by name; name the model's stimuli "
            "after the conditions (e.g. LayerRDM(matrix, stimuli=conditions)).")
    return model_rdm if names == conds else model_rdm.subset(conds)


def rsa_timecourse(model_rdm, eeg_rdms, method: str = "spearman") -> np.ndarray:
    """Correlation of a model RDM with the RDM at each time point.

    Parameters
    ----------
    model_rdm : LayerRDM, TimeResolvedRDM, rsatoolbox RDMs (of one RDM) or array-like, shape (N, N)
        A time-resolved model (one RDM per clip / model time point, e.g. from
        ``RDMCreator.compute_rdms(..., multi_timepoint_rdms='clip')``) gives the model time ×
        brain time map (its stimuli matched to the conditions by name).
    eeg_rdms : TimeResolvedRDM, rsatoolbox RDMs, array-like (N, N, T), or an object with ``.data``
        An rsatoolbox ``RDMs`` holds one RDM per time point, its rdm descriptor ``time`` the
        times (:meth:`rdm_widgets.eeg.TimeResolvedRDM.from_rsatoolbox`).
    method : {'spearman', 'pearson', 'kendall_tau_a'}

    Returns
    -------
    ndarray, shape (T,) or (n_model_times, T)
        NaN at time points where the RDM is constant (correlation undefined). A time-resolved
        model gives one row per model time point.

    Raises
    ------
    ValueError
        A LayerRDM and a TimeResolvedRDM whose stimulus names do not cover the conditions: stimuli
        are matched to conditions by name (the model is subset and reordered to the conditions),
        and the message lists both. Arrays are matched by position, so their shapes must agree.
    """
    from .interop._rsatoolbox import is_rsatoolbox_rdms

    method = _method(method)
    if is_rsatoolbox_rdms(eeg_rdms):
        from .eeg import TimeResolvedRDM

        eeg_rdms = TimeResolvedRDM.from_rsatoolbox(eeg_rdms, time_descriptor=None)
    if is_time_resolved(model_rdm):
        return model_time_map(model_rdm, eeg_rdms, method)
    M = square_rdm(model_for_conditions(from_peer(model_rdm), eeg_rdms), "model_rdm")
    E = rdm_stack(eeg_rdms, "eeg_rdms", ndim_last=True)
    if E.shape[:2] != M.shape:
        raise ValueError(f"model_rdm has shape {M.shape} but the time-resolved RDMs are "
                         f"{E.shape} (N, N, T); they must cover the same conditions.")
    iu, ju = np.triu_indices(M.shape[0], 1)
    x = M[iu, ju]
    if np.ptp(x) == 0:
        raise ValueError("model_rdm is constant; its correlation with any RDM is undefined.")
    Y = E[iu, ju, :]  # (pairs, T)
    const = np.ptp(Y, axis=0) == 0
    out = np.full(Y.shape[1], np.nan)
    if (~const).any():
        out[~const] = CORRELATIONS[method](x, Y[:, ~const])
    return out

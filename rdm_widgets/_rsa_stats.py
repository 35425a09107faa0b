"""Statistics helpers of model-vs-brain RSA: FDR, stimulus matching by name, many-to-many correlations.

Kept apart from :mod:`rdm_widgets.rsa` (the correlation registry and the classic RSA functions)
and :mod:`rdm_widgets.model_rsa` (the tables and tests built on both).
"""
from __future__ import annotations

import numpy as np

from ._correlations import masked_correlations
from ._rsa_results import RSAResult
from ._validate import check_option

__all__ = ["fdr_bh", "match_model_to_brain", "listed", "standardized", "corr_matrix", "BY_ORDER_NOTE",
           "NAN_POLICIES", "check_nan_cells", "stimulus_mismatch", "defined_pairs",
           "compare_omit", "permutation_p"]

#: the note recorded when a brain RDM without names is matched to a model by position
BY_ORDER_NOTE = "by order (brain RDM has no stimulus names)"


def fdr_bh(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), same shape as ``p``.

    ``p_adj[(k)] = min_{j >= k} min(1, p[(j)] * m / j)`` over the sorted p-values; NaN entries
    are left NaN and not counted in ``m``. Equal to ``scipy.stats.false_discovery_control(p)``
    for finite p-values.

    Parameters
    ----------
    p : array-like
        p-values in [0, 1].

    Returns
    -------
    ndarray
        Adjusted p-values; a test is significant at FDR level q when ``p_adj <= q``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat = p.ravel()
    ok = np.isfinite(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError(f"p-values must lie in [0, 1]; got min {flat[ok].min():.4g}, max {flat[ok].max():.4g}.")
    vals = flat[ok]
    m = vals.size
    if m:
        order = np.argsort(vals, kind="mergesort")
        scaled = vals[order] * m / np.arange(1, m + 1)
        adj = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        res = np.empty(m)
        res[order] = adj
        out_flat = out.ravel()
        out_flat[ok] = res
        out = out_flat.reshape(p.shape)
    return out


def listed(names, most: int = 8) -> str:
    """``"['a', 'b', ...] (78 in all)"``: a list short enough for an error message."""
    names = list(names)
    return str(names[:most]) + (f" … ({len(names)} in all)" if len(names) > most else "")


def match_model_to_brain(model, brain_names, n_brain: int, *, model_name: str = "model",
                         brain_name: str = "brain"):
    """The model RDM over the brain RDM's stimuli, in the brain's order.

    Parameters
    ----------
    model : LayerRDM
        The model RDM (it always has names; default names are ``"0".."N-1"``).
    brain_names : list of str or None
        The brain RDM's stimulus names, or None when its file had none.
    n_brain : int
        Number of stimuli of the brain RDM.
    model_name, brain_name : str
        Used in the messages.

    Returns
    -------
    (LayerRDM, str)
        The matched model RDM and how it was matched: ``"by name (78 stimuli)"``,
        ``"by name (78 of 92 model stimuli)"`` or :data:`BY_ORDER_NOTE`.

    Raises
    ------
    ValueError
        Names on both sides that do not cover the brain's stimuli (listing what is missing on
        each side), or a brain without names whose stimulus count differs from the model's.
        Never matched silently by count when both sides have names.
    """
    names = [str(s) for s in model.stimuli]
    if brain_names is None:
        if len(names) != n_brain:
            raise ValueError(
                f"The brain RDM {brain_name!r} has no stimulus names and {n_brain} stimuli, the model "
                f"{model_name!r} has {len(names)}: without names they can only be matched by order, "
                "which needs equal counts. Give the brain RDM its stimulus names (e.g. a 'stimuli' "
                "array in the npz, a header row in the CSV).")
        return model, BY_ORDER_NOTE
    brain = [str(s) for s in brain_names]
    known = set(names)
    missing_in_model = [s for s in brain if s not in known]
    if missing_in_model:
        in_brain = set(brain)
        missing_in_brain = [s for s in names if s not in in_brain]
        raise ValueError(
            f"Stimulus names differ between the model {model_name!r} and the brain RDM {brain_name!r}: "
            f"{len(missing_in_model)} brain stimuli are not in the model {listed(missing_in_model)}; "
            f"{len(missing_in_brain)} model stimuli are not in the brain RDM {listed(missing_in_brain)}. "
            "Stimuli are matched by name; rename them so that the brain's stimuli are among the "
            "model's (the model is then subset and reordered to the brain's).")
    if names == brain:
        return model, f"by name ({len(brain)} stimuli)"
    matched = model.subset(brain)
    extra = f" of {len(names)} model stimuli" if len(names) != len(brain) else ", reordered"
    return matched, f"by name ({len(brain)}{extra})"


def standardized(X: np.ndarray) -> np.ndarray:
    """Columns of X (n, m) centred and scaled to unit norm (constant columns become NaN)."""
    Xc = X - X.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Xc / np.sqrt(np.einsum("ij,ij->j", Xc, Xc))


def corr_matrix(X: np.ndarray, Y: np.ndarray, method: str, correlations: dict) -> np.ndarray:
    """Correlation of every column of X (n, m) with every column of Y (n, T): (m, T).

    Pearson and Spearman (ranks first) as one matrix product; other methods through the
    registry function ``correlations[method](x, Y)`` column by column of X.
    """
    if method in ("pearson", "spearman"):
        if method == "spearman":
            from scipy.stats import rankdata

            X, Y = rankdata(X, axis=0), rankdata(Y, axis=0)
        return np.clip(standardized(X).T @ standardized(Y), -1.0, 1.0)
    func = correlations[method]
    return np.stack([func(X[:, k], Y) for k in range(X.shape[1])])


#: what RSA does with NaN cells of an RDM (``nan_policy`` of compare_rdms / noise_ceiling)
NAN_POLICIES = ("raise", "omit")


def check_nan_cells(values: np.ndarray, what: str, nan_policy: str) -> np.ndarray:
    """The (..., pairs) upper-triangle ``values`` of an RDM checked for NaN cells.

    Returns the boolean mask of defined (finite) pairs. With ``nan_policy='raise'`` any NaN or
    inf raises a ValueError that names the RDM (``what``) and the number of cells.
    """
    check_option("nan_policy", nan_policy, NAN_POLICIES)
    ok = np.isfinite(values)
    if nan_policy == "raise" and not ok.all():
        bad = int((~ok).sum())
        raise ValueError(
            f"{what} has {bad} NaN/inf cell(s) in its upper triangle (of {values.size}); a correlation "
            "with them is undefined. Fill them, or pass nan_policy='omit' to drop those stimulus pairs "
            "(the permutation p is then computed on the defined pairs too).")
    return ok


def stimulus_mismatch(a, b) -> str:
    """'' when two LayerRDMs may be compared cell by cell, else why not (names listed).

    Arrays carry no names and are compared by position; so are LayerRDMs whose stimuli are
    the default names ``'0'..'N-1'`` (made from an array).
    """
    sa, sb = list(a.stimuli), list(b.stimuli)
    default = [str(i) for i in range(len(sa))]
    if sa == sb or default in (sa, sb):
        return ""
    if sorted(sa) == sorted(sb):
        return (f"RDMs {a.layer!r} and {b.layer!r} hold the same stimuli in a different order; align "
                "them first, e.g. b = b.reorder(a.stimuli).")
    only_a = [s for s in sa if s not in set(sb)]
    only_b = [s for s in sb if s not in set(sa)]
    return (f"RDMs {a.layer!r} and {b.layer!r} are over different stimuli: {len(only_a)} only in "
            f"{a.layer!r} {listed(only_a)}; {len(only_b)} only in {b.layer!r} {listed(only_b)}. "
            "Cells are compared by stimulus name; select the common stimuli first, e.g. "
            "common = [s for s in a.stimuli if s in b.stimuli]; a.subset(common), b.subset(common).")


def defined_pairs(C: np.ndarray, nan_policy: str) -> np.ndarray:
    """Condensed subject RDMs (S, pairs) restricted to the pairs defined in every subject
    (``nan_policy='omit'``); NaN cells raise under ``'raise'``, naming the subjects."""
    ok = np.ones(C.shape[1], dtype=bool)
    for k, row in enumerate(C):
        ok &= check_nan_cells(row, f"Subject RDM {k} (of {C.shape[0]})", nan_policy)
    if ok.sum() < 3:
        raise ValueError(f"Only {int(ok.sum())} stimulus pair(s) are defined (not NaN) in every subject "
                         "RDM; a correlation needs at least 3.")
    return C if ok.all() else C[:, ok]


def compare_omit(x, y, B, method, n_permutations, random_state, ok) -> RSAResult:
    """:func:`compare_rdms` with ``nan_policy='omit'``: r over the pairs defined in both RDMs,
    each permutation over the pairs defined in both after relabelling ``b``."""
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        raise ValueError(f"Only {int(ok.sum())} stimulus pair(s) are defined (not NaN) in both RDMs, "
                         "or their values are constant there: the correlation is undefined.")
    r = float(masked_correlations(method, x, y[:, None])[0])
    if n_permutations == 0:
        return RSAResult(r, None, method, 0, None)
    n = B.shape[0]
    iu, ju = np.triu_indices(n, 1)
    rng = np.random.default_rng(random_state)
    null = np.empty(n_permutations)
    chunk = max(1, 200_000 // iu.size)
    for start in range(0, n_permutations, chunk):
        m = min(chunk, n_permutations - start)
        perms = np.stack([rng.permutation(n) for _ in range(m)])
        null[start:start + m] = masked_correlations(method, x, B[perms[:, iu], perms[:, ju]].T)
    return RSAResult(r, permutation_p(null, r), method, n_permutations, null)


def permutation_p(null: np.ndarray, r: float) -> float:
    """One-sided permutation p of ``r`` against ``null`` (n_permutations,), the observed value
    counted as one permutation; a NaN null value counts as exceeding ``r`` (on the safe side)."""
    return float((1.0 + np.count_nonzero(~(null < r))) / (1.0 + null.size))


# ------------------------------------------------------------------ multiple-comparison corrections
# (appended for rdm_widgets.bootstrap; a registry so that every caller offers the same names)

def holm(p) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error), same shape as ``p``.

    ``p_adj[(k)] = max_{j <= k} min(1, (m - j + 1) p[(j)])`` over the sorted p-values; NaN
    entries stay NaN and are not counted in ``m``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat, res = p.ravel(), out.ravel()
    ok = np.isfinite(flat)
    m = int(ok.sum())
    if m:
        vals = flat[ok]
        order = np.argsort(vals, kind="mergesort")
        adj = np.minimum(np.maximum.accumulate(vals[order] * (m - np.arange(m))), 1.0)
        sub = np.empty(m)
        sub[order] = adj
        res[ok] = sub
    return res.reshape(p.shape)


def bonferroni(p) -> np.ndarray:
    """Bonferroni adjusted p-values ``min(1, m p)`` (NaN entries kept, not counted in ``m``)."""
    p = np.asarray(p, dtype=np.float64)
    return np.minimum(p * int(np.isfinite(p).sum()), 1.0)


#: multiple-comparison corrections by name: ``adjusted = P_CORRECTIONS[name](p)``
P_CORRECTIONS = {"holm": holm, "fdr": fdr_bh, "bonferroni": bonferroni,
                 "none": lambda p: np.asarray(p, dtype=np.float64).copy()}


def adjust_p(p, correction: str = "holm") -> np.ndarray:
    """``p`` adjusted for multiple comparisons by ``correction`` (:data:`P_CORRECTIONS`;
    'fdr' is Benjamini-Hochberg, :func:`fdr_bh`)."""
    return P_CORRECTIONS[check_option("correction", correction, P_CORRECTIONS)](p)


__all__ += ["holm", "bonferroni", "P_CORRECTIONS", "adjust_p"]

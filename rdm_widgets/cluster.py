"""Group statistics over time: cluster-based permutation tests and group time courses.

``cluster_test(X)`` tests subjects x times data (decoding time courses, RSA time courses) or
subjects x train x test maps (temporal generalisation) against chance with sign-flip
permutations, the way MNE's ``permutation_cluster_1samp_test`` does: same t map, same clusters,
same cluster statistics; p within Monte-Carlo error (equal when both enumerate every sign
vector, except where MNE errs: see :mod:`rdm_widgets._cluster_core`). TFCE, a pointwise t test
with FDR, or uncorrected pointwise p are options (``tfce=``, ``correction=``).

``group_timecourse(results)`` gives the group mean +- SEM of every subject's decoding time
course with its test (:class:`GroupTimecourse`, drawn by ``group_timecourse_figure``);
``rsa_group_test(model, results)`` does the same for each subject's RSA time course.
Inputs: arrays, or dicts ``{subject: TimeResolvedRDM}`` (``eeg_rdms`` output) or
``{subject: GeneralizationRDM}`` (:mod:`rdm_widgets._cluster_inputs`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._cluster_core import (ADJACENCIES, CHUNK_ELEMENTS, clusters_of, default_threshold, flipped_t,
                            max_cluster_stats, pointwise_p, sign_flips, signs_of, t_statistic, tfce_scores)
from ._cluster_inputs import GroupData, check_finite_group, group_data, is_generalization
from ._cluster_results import ClusterTest, GroupTimecourse
from ._progress import ProgressReporter
from ._rsa_stats import fdr_bh
from ._validate import check_option, check_positive_int

__all__ = ["ClusterTest", "GroupTimecourse", "cluster_test", "paired_cluster_test", "group_timecourse",
           "rsa_group_test", "CORRECTIONS", "ADJACENCIES", "MEASURES"]

#: what makes a p-value: cluster permutation test (or TFCE), pointwise t with FDR, pointwise t
CORRECTIONS = ("cluster", "fdr", "none")


# ------------------------------------------------------------------ validation
def _check_tail(tail) -> int:
    if isinstance(tail, bool) or tail not in (-1, 0, 1):
        raise ValueError(f"Invalid value for 'tail': {tail!r}. Allowed: 1 (greater than chance), "
                         "-1 (less than chance), 0 (two-sided).")
    return int(tail)


def _check_threshold(threshold, tail: int, n: int) -> float:
    if threshold is None:
        return default_threshold(n, tail)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)):
        raise TypeError(f"Invalid type for 'threshold': {type(threshold).__name__}. Expected a number "
                        "(a t value) or None (t of p = 0.05); use tfce= for TFCE.")
    threshold = float(threshold)
    if (tail < 0 and threshold > 0) or (tail >= 0 and threshold < 0):
        want = "<= 0 (clusters of t below it)" if tail < 0 else ">= 0 (clusters of t above it" + (
            " and below its negative)" if tail == 0 else ")")
        raise ValueError(f"Invalid value for 'threshold': {threshold:g} with tail={tail}: the threshold must "
                         f"be {want}. Pass threshold={-threshold:g}, or change tail.")
    return threshold


def _check_tfce(tfce, tail: int) -> Optional[dict]:
    """MNE's ``dict(start, step[, h_power, e_power])`` (tail -1: start <= 0, step < 0), returned
    in the tail-1 form (signs flipped for tail -1); True: start 0, step 0.2."""
    if tfce is False or tfce is None:
        return None
    if tfce is True:
        tfce = {"start": 0.0, "step": -0.2 if tail < 0 else 0.2}
    if not isinstance(tfce, dict):
        raise TypeError(f"Invalid type for 'tfce': {type(tfce).__name__}. Expected False, True or "
                        "dict(start=, step=[, h_power=2, e_power=0.5]).")
    unknown = set(tfce) - {"start", "step", "h_power", "e_power"}
    if unknown or not {"start", "step"} <= set(tfce):
        raise ValueError(f"Invalid value for 'tfce': keys {sorted(tfce)}. Expected 'start' and 'step', "
                         "optionally 'h_power' and 'e_power' (MNE's TFCE threshold dict).")
    sign = -1.0 if tail < 0 else 1.0
    start, step = sign * float(tfce["start"]), sign * float(tfce["step"])
    if start < 0 or step <= 0:
        rule = "start <= 0 and step < 0" if tail < 0 else "start >= 0 and step > 0"
        raise ValueError(f"Invalid value for 'tfce': {tfce} with tail={tail}; MNE's TFCE needs {rule}.")
    return {"start": start, "step": step, "h_power": float(tfce.get("h_power", 2)),
            "e_power": float(tfce.get("e_power", 0.5))}


# ------------------------------------------------------------------ the test
def _permute(D: np.ndarray, signs: np.ndarray, one, progress) -> np.ndarray:
    """``one(T_chunk (P, *shape)) -> (P,)`` over the relabellings, in chunks of bounded memory."""
    n, shape = D.shape[0], D.shape[1:]
    D2 = D.reshape(n, -1)
    sum_sq = np.sum(D2 ** 2, axis=0)
    step = max(1, CHUNK_ELEMENTS // D2.shape[1])
    out = np.empty(len(signs))
    with ProgressReporter(len(signs), progress, desc="cluster_test") as rep:
        for a in range(0, len(signs), step):
            T = flipped_t(signs_of(signs[a:a + step], n), D2, sum_sq).reshape((-1,) + shape)
            out[a:a + step] = one(T)
            rep.update(len(T))
    return out


def _share(h0: np.ndarray, stats: np.ndarray, tail: int) -> np.ndarray:
    """MNE's p: the share of the permutation distribution at least as extreme."""
    if tail == 1:
        return np.array([np.mean(h0 >= s) for s in stats])
    if tail == -1:
        return np.array([np.mean(h0 <= s) for s in stats])
    return np.array([np.mean(np.abs(h0) >= abs(s)) for s in stats])


def _p_map(shape, clusters, p_values) -> np.ndarray:
    out = np.ones(shape)
    for c, p in zip(clusters, p_values):
        out[c] = np.minimum(out[c], p)
    return out


def _test(data: GroupData, chance, threshold, tail, n_permutations, tfce, adjacency, correction,
          random_state, progress) -> ClusterTest:
    tail = _check_tail(tail)
    correction = check_option("correction", correction, CORRECTIONS)
    adjacency = check_option("adjacency", adjacency, list(ADJACENCIES))
    n_permutations = check_positive_int("n_permutations", n_permutations)
    n = data.X.shape[0]
    if n < 2:
        raise ValueError(f"A group test needs at least 2 subjects; got {n} ({data.subjects}).")
    check_finite_group(data)
    tfce = _check_tfce(tfce, tail)
    if tfce is not None and threshold is not None:
        raise ValueError("Give either threshold= (cluster-forming t) or tfce= (threshold-free), not both.")
    if tfce is not None and correction != "cluster":
        raise ValueError(f"tfce= is a permutation correction; it cannot be combined with correction={correction!r}.")
    thr = _check_threshold(threshold, tail, n)
    if isinstance(chance, bool) or not isinstance(chance, (int, float, np.integer, np.floating)):
        raise TypeError(f"Invalid type for 'chance': {type(chance).__name__}. Expected a number (or None: "
                        "the results' meta['chance'], 0 for arrays).")
    D = data.X - float(chance)
    t = t_statistic(D)
    common = dict(threshold=thr, tail=tail, times=data.times, test_times=data.test_times,
                  correction=correction, n_subjects=n)
    if correction != "cluster":
        p = pointwise_p(t, n, tail)
        p = fdr_bh(p) if correction == "fdr" else p
        clusters, sums = clusters_of(t, thr, tail, adjacency)
        pv = np.array([p[c].min() for c in clusters])
        return ClusterTest(t, clusters, sums, pv, p, n_permutations=0, **common)
    signs, exact, n_total = sign_flips(n, n_permutations, tail, np.random.default_rng(random_state))
    if tfce is not None:
        scores = tfce_scores(t, tfce, tail, adjacency, batched=False)
        statistic = scores * np.sign(t)
        perm = _permute(D, signs, lambda T: tfce_scores(T, tfce, tail, adjacency, batched=True)
                        .reshape(len(T), -1).max(axis=1), progress)
        h0 = np.concatenate([[scores.max()], perm])
        srt = np.sort(h0)               # p per point: share of h0 >= score, by one search
        p_map = 1.0 - np.searchsorted(srt, scores, side="left") / h0.size
        clusters, _ = clusters_of(statistic, 0.0, tail, adjacency)
        peaks = np.array([statistic[c][np.argmax(np.abs(statistic[c]))] for c in clusters])
        pv = np.array([p_map[c].min() for c in clusters])
        common["threshold"] = "tfce"
        return ClusterTest(statistic, clusters, peaks, pv, p_map, n_permutations=n_total, h0=h0,
                           exact=exact, **common)
    clusters, sums = clusters_of(t, thr, tail, adjacency)
    if not clusters:                    # as MNE: nothing to test, no permutations
        return ClusterTest(t, [], sums, np.array([]), np.ones(t.shape), n_permutations=n_total,
                           h0=np.array([]), exact=exact, **common)
    observed = {1: sums.max(), -1: sums.min(), 0: np.abs(sums).max()}[tail]
    perm = _permute(D, signs, lambda T: max_cluster_stats(T, thr, tail, adjacency), progress)
    h0 = np.concatenate([[observed], perm])
    pv = _share(h0, sums, tail)
    return ClusterTest(t, clusters, sums, pv, _p_map(t.shape, clusters, pv), n_permutations=n_total,
                       h0=h0, exact=exact, **common)


def cluster_test(X, *, chance=None, threshold=None, tail: int = 1, n_permutations: int = 1024,
                 tfce=False, adjacency: str = "lattice", correction: str = "cluster", random_state=0,
                 times=None, test_times=None, progress=None) -> ClusterTest:
    """One-sample cluster-based permutation test of subjects' data against chance.

    Parameters
    ----------
    X : array-like, shape (n_subjects, n_times) or (n_subjects, n_train, n_test), or dict
        Subjects' time courses or train x test maps; or ``{subject: TimeResolvedRDM}`` (each
        subject's ``mean_timecourse()``) or ``{subject: GeneralizationRDM}`` (``mean_map()``).
    chance : float or None
        Tested against; None: the results' ``meta['chance']`` (0.5 for decoding accuracy), 0
        for arrays.
    threshold : float or None
        Cluster-forming t; None: MNE's default, the t of p = 0.05 for ``tail`` (two-tailed:
        0.025 per side). Negative for ``tail=-1``.
    tail : {1, -1, 0}
        Greater than chance, less than chance, or either.
    n_permutations : int
        Sign-flip relabellings including the observed one; every sign vector (exact test)
        when ``n_permutations >= 2**(n_subjects - (tail == 0))``.
    tfce : bool or dict
        Threshold-free cluster enhancement: MNE's ``dict(start=, step=, h_power=2,
        e_power=0.5)`` (tail -1: start <= 0, step < 0); True: ``start=0, step=0.2``.
    adjacency : {'lattice', 'none'}
        Neighbours: adjacent times, the 4-neighbourhood on a map (MNE's default), or none.
    correction : {'cluster', 'fdr', 'none'}
        ``'fdr'``/``'none'``: a pointwise t test (scipy's) with Benjamini-Hochberg adjusted or
        raw p, for comparison with the cluster test.
    random_state : int, numpy Generator or None
    times, test_times : array-like or None
        Times of array input (results carry their own).
    progress : callable or None
        ``progress(done, total)`` over permutations; may raise :class:`rdm_widgets.Cancelled`.

    Returns
    -------
    ClusterTest

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(12, 50))          # 12 subjects x 50 times, an effect at 0.20-0.29 s
    >>> X[:, 20:30] += 1.0
    >>> res = cluster_test(X, times=np.arange(50) / 100)
    >>> [(start, stop, round(p, 4)) for start, stop, p in res.spans()]
    [(0.2, 0.27, 0.001)]
    """
    data = group_data(X, times=times, test_times=test_times)
    chance = data.chance if chance is None else chance
    return _test(data, 0.0 if chance is None else chance, threshold, tail, n_permutations, tfce, adjacency,
                 correction, random_state, progress)


def paired_cluster_test(A, B, *, threshold=None, tail: int = 0, n_permutations: int = 1024, tfce=False,
                        adjacency: str = "lattice", correction: str = "cluster", random_state=0, times=None,
                        test_times=None, progress=None) -> ClusterTest:
    """Paired test of two conditions or two models: :func:`cluster_test` of ``A - B`` against 0.

    Parameters
    ----------
    A, B : array-like or dict
        What :func:`cluster_test` takes, over the same subjects (dicts: the same names, matched
        by name) and the same times.
    tail : {0, 1, -1}
        0 (default): A and B differ; 1: A > B; -1: A < B.
    threshold, n_permutations, tfce, adjacency, correction, random_state, times, test_times, progress
        As :func:`cluster_test`.

    Returns
    -------
    ClusterTest
    """
    a = group_data(A, times=times, test_times=test_times, name="A")
    b = group_data(B, times=times, test_times=test_times, name="B")
    if isinstance(A, dict) and isinstance(B, dict):
        if set(a.subjects) != set(b.subjects):
            only_a, only_b = sorted(set(a.subjects) - set(b.subjects)), sorted(set(b.subjects) - set(a.subjects))
            raise ValueError(f"A and B must hold the same subjects: only in A {only_a}, only in B {only_b}.")
        b = GroupData(b.X[[b.subjects.index(s) for s in a.subjects]], a.subjects, b.times, b.test_times,
                      b.chance, b.label)
    if a.X.shape != b.X.shape:
        raise ValueError(f"A and B differ in shape: {a.X.shape} and {b.X.shape} (subjects x samples).")
    for what in ("times", "test_times"):
        ta, tb = getattr(a, what), getattr(b, what)
        if ta is not None and tb is not None and (ta.shape != tb.shape or not np.allclose(ta, tb, rtol=0, atol=1e-9)):
            raise ValueError(f"A and B have different {what.replace('_', ' ')}: {ta[0]:.4g}..{ta[-1]:.4g} and "
                             f"{tb[0]:.4g}..{tb[-1]:.4g}.")
    diff = GroupData(a.X - b.X, a.subjects, a.times if a.times is not None else b.times,
                     a.test_times if a.test_times is not None else b.test_times, None, "difference")
    return _test(diff, 0.0, threshold, tail, n_permutations, tfce, adjacency, correction, random_state, progress)


# ------------------------------------------------------------------ group time courses
def _mean_over_pairs(result) -> np.ndarray:
    """A TimeResolvedRDM's mean over condition pairs at every time."""
    return result.mean_timecourse()


#: per-subject time course of a result, by name (or pass a callable ``measure(result) -> (T,)``)
MEASURES = {"mean": _mean_over_pairs}


def _timecourse(data: GroupData, chance, label, test, **test_kwargs) -> GroupTimecourse:
    if data.X.ndim != 2:
        raise ValueError(f"A group time course needs one value per subject and time; got {data.X.shape}.")
    n = data.X.shape[0]
    if n < 2:
        raise ValueError(f"A group time course needs at least 2 subjects; got {n} ({data.subjects}).")
    times = np.arange(data.X.shape[1], dtype=np.float64) if data.times is None else data.times
    chance = float(0.0 if chance is None else chance)
    result = _test(GroupData(data.X, data.subjects, times, None, data.chance, data.label), chance,
                   **test_kwargs) if test else None
    return GroupTimecourse(times=times, values=data.X, subjects=list(data.subjects), mean=data.X.mean(axis=0),
                           sem=data.X.std(axis=0, ddof=1) / np.sqrt(n), chance=chance,
                           label=label or data.label, test=result)


def group_timecourse(results, *, measure="mean", chance=None, threshold=None, n_permutations: int = 1024,
                     tail: int = 1, tfce=False, correction: str = "cluster", random_state=0, times=None,
                     label: Optional[str] = None, test: bool = True, progress=None) -> GroupTimecourse:
    """Group mean +- SEM of subjects' time courses with a cluster test against chance.

    Parameters
    ----------
    results : dict or array-like (n_subjects, n_times)
        ``{subject: TimeResolvedRDM}`` (``eeg_rdms`` output), ``{subject: GeneralizationRDM}``
        (its ``diagonal()``: trained and tested at the same time), ``{subject: (n_times,) array}``
        or an array.
    measure : 'mean' or callable
        Each subject's time course: ``'mean'`` over condition pairs (``mean_timecourse()``),
        or ``measure(result) -> (n_times,)`` of a TimeResolvedRDM.
    chance : float or None
        None: the results' ``meta['chance']``, 0 for arrays.
    label : str or None
        y-axis label; None: the results' ``meta['dissimilarity']`` (e.g. "decoding accuracy").
    test : bool
        Run the test (``GroupTimecourse.test`` is None otherwise).
    threshold, n_permutations, tail, tfce, correction, random_state, progress
        As :func:`cluster_test`.
    times : array-like or None
        Times of array input.

    Returns
    -------
    GroupTimecourse

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> acc = 0.5 + 0.05 * rng.normal(size=(10, 40))      # 10 subjects' decoding accuracy
    >>> acc[:, 15:25] += 0.08
    >>> group = group_timecourse(acc, chance=0.5, times=np.arange(40) / 100)
    >>> group.mean.shape, group.sem.shape, [(a, b) for a, b, p in group.test.spans()]
    ((40,), (40,), [(0.15, 0.24)])
    """
    if not callable(measure):
        measure = MEASURES[check_option("measure", measure, list(MEASURES))]
    if isinstance(results, dict) and results and all(is_generalization(r) for r in results.values()):
        results = {s: r.diagonal() for s, r in results.items()}       # train = test time
    data = group_data(results, times=times, measure=measure, name="results")
    chance = data.chance if chance is None else chance
    return _timecourse(data, chance, label, test, threshold=threshold, tail=tail, n_permutations=n_permutations,
                       tfce=tfce, adjacency="lattice", correction=correction, random_state=random_state,
                       progress=progress)


def rsa_group_test(model_rdm, results: dict, method: str = "spearman", *, threshold=None,
                   n_permutations: int = 1024, tail: int = 1, tfce=False, correction: str = "cluster",
                   random_state=0, test: bool = True, progress=None) -> GroupTimecourse:
    """Each subject's RSA time course with a model RDM, and their group test against 0.

    Parameters
    ----------
    model_rdm : LayerRDM or array-like (N, N)
        Matched to each subject's conditions by name (:func:`rdm_widgets.rsa.rsa_timecourse`).
    results : dict
        ``{subject: TimeResolvedRDM}``.
    method : {'spearman', 'pearson', 'kendall_tau_a'}
    threshold, n_permutations, tail, tfce, correction, random_state, test, progress
        As :func:`group_timecourse`.

    Returns
    -------
    GroupTimecourse
        ``values`` (n_subjects, n_times): the correlations; ``chance`` 0. Time points where a
        subject's RDM is constant (r undefined) raise, naming the subject and time.
    """
    from .rsa import check_method, rsa_timecourse

    method = check_method(method)
    if not isinstance(results, dict):
        raise TypeError(f"Invalid type for 'results': {type(results).__name__}. Expected a dict "
                        "{subject: TimeResolvedRDM} (e.g. from eeg_rdms).")
    data = group_data(results, name="results")          # checks subjects' kinds and times
    X = np.stack([rsa_timecourse(model_rdm, results[s], method=method) for s in data.subjects])
    label = f"{method} correlation with the model"
    return _timecourse(GroupData(X, data.subjects, data.times, None, 0.0, label), 0.0, label, test,
                       threshold=threshold, tail=tail, n_permutations=n_permutations, tfce=tfce,
                       adjacency="lattice", correction=correction, random_state=random_state, progress=progress)

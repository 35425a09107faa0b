"""The arithmetic of cluster-based sign-flip permutation tests (no input handling).

Why this module exists: :mod:`rdm_widgets.cluster` turns results into a subjects x samples
matrix and reports; the numbers come from here, written to be identical to MNE's
``permutation_cluster_1samp_test`` where MNE is right:

* the t map is MNE's ``ttest_1samp_no_p`` (``mean / sqrt(var(ddof=1) / n)``); a sample whose
  values are equal in every subject gets t = 0 (MNE's permutation statistic does the same);
* clusters are connected components of supra-threshold samples of one sign, with the lattice
  neighbourhood of ``scipy.ndimage.label`` (neighbours in time; 4-neighbourhood on a
  train x test map), positive clusters first, each in raster order;
* a cluster's statistic is the sum of its t values; the permutation statistic is the signed
  cluster sum of largest magnitude (0 when a relabelling has no cluster); TFCE follows MNE's
  ``threshold=dict(start, step, h_power, e_power)`` Riemann sum exactly.

All permutations of a chunk are labelled by ONE ``ndimage.label`` call on a (P, *shape) array
whose structuring element has no connection along the permutation axis, so the Python loop
runs over chunks, not permutations.

Where we differ from MNE (1.13), on purpose: the exact test enumerates every sign vector once
(MNE's enumeration drops the all-flipped vector and counts the observed labelling twice, so its
one-sided exact p can exceed ours by 1/2**n), and TFCE with ``tail=-1`` gives p from the
magnitude of the scores (MNE compares positive scores with ``H0 <= score`` and returns 1 - p).
"""
from __future__ import annotations

import numpy as np

__all__ = ["ADJACENCIES", "t_statistic", "default_threshold", "sign_flips", "signs_of", "flipped_t", "clusters_of",
           "max_cluster_stats", "tfce_scores", "tfce_thresholds", "pointwise_p", "CHUNK_ELEMENTS"]

#: neighbourhood name -> connectivity rank of ``ndimage.generate_binary_structure`` (0: none)
ADJACENCIES = {"lattice": 1, "none": 0}

#: samples x permutations labelled per call (bounds the int32 labels + float64 scratch, ~100 MB)
CHUNK_ELEMENTS = 1 << 22


def t_statistic(X: np.ndarray) -> np.ndarray:
    """One-sample t of X (n, *shape) against 0, MNE's ``ttest_1samp_no_p``; 0 where var is 0."""
    var = np.var(X, axis=0, ddof=1)
    mean = np.mean(X, axis=0)
    out = np.zeros_like(mean)
    ok = var > 0
    out[ok] = mean[ok] / np.sqrt(var[ok] / X.shape[0])
    return out


def flipped_t(signs: np.ndarray, X2: np.ndarray, sum_sq: np.ndarray) -> np.ndarray:
    """t of sign-flipped data, (P, m), from signs (P, n), X2 (n, m) and sum(X2**2) (m,).

    The sum of squares does not change under sign flips, so only ``signs @ X2`` is new (the
    formula of MNE's ``_TTestReordered``).
    """
    n = X2.shape[0]
    mean = (signs @ X2) / n
    denom_sq = np.maximum(sum_sq - n * mean * mean, 0.0)
    out = np.zeros_like(mean)
    ok = denom_sq > 0
    out[ok] = mean[ok] / np.sqrt(denom_sq[ok]) * np.sqrt(n * (n - 1))
    return out


def default_threshold(n_subjects: int, tail: int) -> float:
    """MNE's default: the t of p = 0.05 (0.025 per side when two-tailed), negative for tail -1."""
    from scipy.stats import t as tdist

    thr = float(-tdist.ppf(0.05 / (1 + (tail == 0)), n_subjects - 1))
    return -thr if tail < 0 else thr


def _bits(codes: np.ndarray, n: int) -> np.ndarray:
    """Integer codes (P,) -> signs (P, n): bit j set flips subject j (code 0 = observed)."""
    flips = (codes[:, None] >> np.arange(n, dtype=np.int64)) & 1
    return 1.0 - 2.0 * flips


def sign_flips(n: int, n_permutations: int, tail: int, rng) -> tuple:
    """The relabellings besides the observed one: (flips, exact, P).

    ``flips``: integer codes (P - 1,) (bit j set flips subject j; :func:`signs_of` expands a
    slice of them, so an exact test of 2**20 relabellings holds 8 MB, not 160 MB), or signs
    (P - 1, n) when there are more than 62 subjects. Two-tailed tests use |statistic|, which a
    global sign flip leaves unchanged: only the 2**(n-1) classes {s, -s} differ, and the last
    subject is never flipped. Exact enumeration when ``n_permutations >= 2**(n - (tail == 0))``
    (MNE's condition): every sign vector (class) once, the observed one being the first entry of
    H0. Otherwise ``n_permutations - 1`` distinct relabellings other than the observed one,
    drawn uniformly without replacement.
    """
    bits = n - (tail == 0)
    if bits <= 62 and n_permutations >= 2 ** bits:
        return np.arange(1, 2 ** bits, dtype=np.int64), True, 2 ** bits
    m = n_permutations - 1
    if bits <= 62:
        return rng.choice(2 ** bits - 1, size=m, replace=False).astype(np.int64) + 1, False, n_permutations
    seen, rows = set(), []
    while len(rows) < m:                           # 2**63 vectors: collisions are rare
        flips = rng.integers(0, 2, size=bits, dtype=np.int8)
        key = flips.tobytes()
        if flips.any() and key not in seen:
            seen.add(key)
            rows.append(flips)
    signs = np.ones((m, n))
    signs[:, :bits] = 1.0 - 2.0 * np.asarray(rows, dtype=np.float64).reshape(m, bits)
    return signs, False, n_permutations


def signs_of(flips: np.ndarray, n: int) -> np.ndarray:
    """Signs (P, n) of a slice of :func:`sign_flips` output."""
    return _bits(flips, n) if flips.ndim == 1 else flips


def _structure(sample_ndim: int, adjacency: str, batched: bool) -> np.ndarray:
    """Structuring element: lattice neighbours in the sample axes, none along the batch axis."""
    from scipy import ndimage   # here, not at import: scipy.ndimage costs ~0.3 s
    rank = ADJACENCIES[adjacency]
    inner = (ndimage.generate_binary_structure(sample_ndim, rank) if rank
             else np.zeros((3,) * sample_ndim, dtype=bool))
    if not rank:
        inner[(1,) * sample_ndim] = True
    if not batched:
        return inner
    out = np.zeros((3,) + inner.shape, dtype=bool)
    out[1] = inner
    return out


def _sides(stat: np.ndarray, threshold: float, tail: int) -> list:
    """Supra-threshold masks, one per sign tested (positive first). ``tail`` is 1 or 0 here:
    tail -1 is handled by the callers as tail 1 on the negated statistic."""
    masks = [stat > threshold]
    if tail == 0:
        masks.append(stat < -threshold)
    return masks


def clusters_of(stat: np.ndarray, threshold: float, tail: int, adjacency: str) -> tuple:
    """Observed clusters: (list of bool masks, sums (k,)); positive clusters first (MNE's order)."""
    from scipy import ndimage   # here, not at import: scipy.ndimage costs ~0.3 s
    sign = -1.0 if tail < 0 else 1.0
    x = sign * stat
    st = _structure(stat.ndim, adjacency, batched=False)
    masks, sums = [], []
    for side in _sides(x, sign * threshold, 1 if tail < 0 else tail):
        labels, k = ndimage.label(side, structure=st)
        for lab in range(1, k + 1):
            c = labels == lab
            masks.append(c)
            sums.append(np.sum(stat[c]))
    return masks, np.asarray(sums, dtype=np.float64)


def _label_batch(mask: np.ndarray, structure: np.ndarray) -> tuple:
    """Labels of a (P, *shape) mask and the permutation each label belongs to."""
    from scipy import ndimage   # here, not at import: scipy.ndimage costs ~0.3 s
    labels, k = ndimage.label(mask, structure=structure)
    flat = labels.reshape(labels.shape[0], -1)
    rows, cols = np.nonzero(flat)
    owner = np.zeros(k + 1, dtype=np.int64)
    owner[flat[rows, cols]] = rows
    return labels, k, owner


def max_cluster_stats(T: np.ndarray, threshold: float, tail: int, adjacency: str) -> np.ndarray:
    """Signed cluster sum of largest magnitude of each relabelling, (P,) from T (P, *shape)."""
    sign = -1.0 if tail < 0 else 1.0
    x = sign * T
    st = _structure(T.ndim - 1, adjacency, batched=True)
    P = T.shape[0]
    best = np.zeros(P)
    for side_sign, side in zip((1.0, -1.0), _sides(x, sign * threshold, 1 if tail < 0 else tail)):
        labels, k, owner = _label_batch(side, st)
        if not k:
            continue
        sums = np.bincount(labels.ravel(), weights=x.ravel(), minlength=k + 1)[1:]
        mag = np.zeros(P)
        np.maximum.at(mag, owner[1:], np.abs(sums))
        take = mag > np.abs(best)               # the positive side wins ties, as MNE's argmax
        best[take] = side_sign * mag[take]
    return sign * best


def tfce_thresholds(stop: float, tfce: dict) -> np.ndarray:
    """MNE's TFCE heights ``arange(start, stop, step)`` (tail 1 form: step > 0)."""
    return np.arange(tfce["start"], stop, tfce["step"], float)


def tfce_scores(T: np.ndarray, tfce: dict, tail: int, adjacency: str, batched: bool) -> np.ndarray:
    """TFCE scores (>= 0) of T ((P, *shape) when ``batched``, else one map), MNE's Riemann sum.

    ``score += |h|**h_power * dh * extent**e_power`` over the heights h of
    ``arange(start, stop, step)``, ``stop`` the map's largest value (largest |value| when
    two-tailed); every map of a batch uses the heights up to the batch's largest stop, which
    adds nothing to a map above its own stop (no sample exceeds it). ``tfce`` is in the tail-1
    form (tail -1: the caller negated T, start and step).
    """
    from scipy import ndimage   # here, not at import: scipy.ndimage costs ~0.3 s
    x = -T if tail < 0 else T
    t1 = 1 if tail < 0 else tail
    st = _structure(x.ndim - (1 if batched else 0), adjacency, batched=batched)
    stop = np.max(np.abs(x)) if t1 == 0 else np.max(x)
    heights = tfce_thresholds(stop, tfce)
    h_power, e_power = tfce.get("h_power", 2), tfce.get("e_power", 0.5)
    scores = np.zeros(x.shape)
    prev = None
    for h in heights:
        dh = abs(h) if prev is None else abs(h - prev)
        prev = h
        weight = abs(h) ** h_power * dh
        for side in _sides(x, h, t1):
            labels, k = ndimage.label(side, structure=st)
            if not k:
                continue
            extent = np.bincount(labels.ravel(), minlength=k + 1).astype(np.float64)
            add = weight * extent ** e_power
            add[0] = 0.0
            scores += add[labels]
    return scores


def pointwise_p(t: np.ndarray, n: int, tail: int) -> np.ndarray:
    """p of each sample's one-sample t (n - 1 degrees of freedom) for the given tail."""
    from scipy.stats import t as tdist

    df = n - 1
    if tail == 1:
        return tdist.sf(t, df)
    if tail == -1:
        return tdist.cdf(t, df)
    return np.minimum(1.0, 2.0 * tdist.sf(np.abs(t), df))

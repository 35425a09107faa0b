"""The vectorised engine of :mod:`rdm_widgets.bootstrap`: model evaluations and noise ceilings of
many bootstrap samples at once.

Why weights instead of resampled RDMs: rsatoolbox resamples stimuli by building the resampled
RDM (``subsample_pattern``), whose cells are the original pairs repeated, with the pairs of a
stimulus with its own copy set to NaN and left out. Drawing stimulus ``i`` ``c_i`` times repeats
the original pair ``(i, j)`` exactly ``w_ij = c_i * c_j`` times (and drops it when either count
is 0), so every correlation of the resampled RDM is a *weighted* correlation of the original
``P = N(N-1)/2`` pairs with integer weights ``w``:

* Pearson: weighted mean, weighted cross-products (repeated observations).
* Spearman: ``scipy.stats.rankdata`` of the resampled vector gives each copy the average rank of
  its tie group, ``below + (G + 1) / 2`` with ``below`` the weight of smaller values and ``G`` the
  weight of the group; those *weighted ranks* are computed from cumulative sums of the weights in
  the vector's sorted order (one sort per vector for the models and subjects, whose order does
  not depend on the sample).

Resampled subjects are counts ``c_s`` per subject: an evaluation is ``sum_s c_s r_s / S`` and the
pooled RDMs of the noise ceiling are count-weighted means. All of it is numpy on blocks of
samples: (block, vectors, pairs) arrays, correlations as batched matrix products.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TieGroups", "tie_groups", "weighted_ranks", "weighted_standardize", "SampleEngine"]


class TieGroups:
    """The sorted order and tie groups of the last axis of an array (..., P).

    Attributes
    ----------
    order : ndarray of int (..., P)
        ``argsort`` of the values (any sort: tied values get the same rank whatever their order).
    new, last : ndarray of bool (..., P)
        At each sorted position: whether it starts / ends a tie group.
    """

    __slots__ = ("order", "new", "last")

    def __init__(self, order, new, last):
        self.order, self.new, self.last = order, new, last


def _rows_gather(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``take_along_axis(a, order, -1)`` for ``a`` (..., P) and ``order`` (..., K) with the same
    leading shape, through one flat index (several times faster than numpy's index tuples)."""
    k = order.shape[-1]
    offsets = (np.arange(order.size // k) * a.shape[-1]).reshape(order.shape[:-1] + (1,))
    return np.ascontiguousarray(a).reshape(-1)[order + offsets]


def tie_groups(values: np.ndarray) -> TieGroups:
    """:class:`TieGroups` of ``values`` (..., P) along the last axis."""
    order = np.argsort(values, axis=-1)
    s = _rows_gather(np.ascontiguousarray(values), order)
    new = np.ones(s.shape, dtype=bool)
    np.not_equal(s[..., 1:], s[..., :-1], out=new[..., 1:])
    last = np.ones(s.shape, dtype=bool)
    last[..., :-1] = new[..., 1:]
    return TieGroups(order, new, last)


def weighted_ranks(values: np.ndarray, weights: np.ndarray, groups: TieGroups | None = None) -> np.ndarray:
    """Average ranks of ``values`` when element k is repeated ``weights[..., k]`` times.

    Equal to ``scipy.stats.rankdata`` of the expanded vector, read back at one copy of each
    element (elements of weight 0 get a rank too; it is never used, their weight being 0).

    Parameters
    ----------
    values : ndarray (R, P) or (K, P)
        One vector per row.
    weights : ndarray (R, P) or (b, P)
        Non-negative integers (as floats): one weight vector per row of ``values``, or -- with
        precomputed ``groups`` of a fixed (K, P) -- one per sample ``b`` of a batch.
    groups : TieGroups or None
        Precomputed :func:`tie_groups` of a fixed ``values`` (K, P).

    Returns
    -------
    ndarray (R, P), or (b, K, P) with ``groups``
    """
    if groups is None:
        g = tie_groups(values)
        ws = _rows_gather(np.ascontiguousarray(np.broadcast_to(weights, values.shape)), g.order)
    else:
        g = groups
        ws = np.asarray(weights)[:, g.order]                               # (b, K, P)
    cw = np.cumsum(ws, axis=-1)
    # the weight below a tie group is the exclusive cumulative weight at its first element, the
    # weight up to its end the inclusive one at its last; cw never decreases, so a running
    # max (min from the right) carries them over the group
    below = np.maximum.accumulate(np.where(g.new, cw - ws, 0.0), axis=-1)
    upto = np.flip(np.minimum.accumulate(np.flip(np.where(g.last, cw, np.inf), -1), axis=-1), -1)
    ranks = (below + upto + 1.0) / 2.0
    order = np.broadcast_to(g.order, ranks.shape)
    p = order.shape[-1]
    out = np.empty(ranks.shape)
    out.reshape(-1)[(order + (np.arange(order.size // p) * p).reshape(order.shape[:-1] + (1,))).ravel()] = \
        ranks.ravel()
    return out


def weighted_standardize(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (..., P) centred with weights ``w`` and scaled so that the weighted
    correlation of two rows is the dot product of their results (NaN rows when constant)."""
    sw = w.sum(axis=-1, keepdims=True)
    xc = x - (w * x).sum(axis=-1, keepdims=True) / sw
    z = xc * np.sqrt(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return z / np.sqrt(np.einsum("...p,...p->...", z, z))[..., None]


class SampleEngine:
    """Model evaluations and noise ceilings of one set of models against one set of subjects.

    Parameters
    ----------
    X : ndarray (L, P)
        Condensed model RDMs (one per model/layer), matched to the subjects' stimuli.
    V : ndarray (S, P)
        Condensed subject RDMs.
    method : {'spearman', 'pearson'}
    pool : {'rank', 'zscore', 'raw'}
        How subject RDMs are transformed before they are averaged for the noise ceiling
        (:func:`rdm_widgets.rsa.pool_subjects`): ranks for Spearman, z-scores (rsatoolbox's
        ``pool_rdm`` for 'corr'), raw values (``convention='rdm_widgets'`` for Pearson).
    """

    def __init__(self, X: np.ndarray, V: np.ndarray, method: str, pool: str):
        self.X, self.V, self.method, self.pool = X, V, method, pool
        self.spearman = method == "spearman"
        self.gx = tie_groups(X) if self.spearman else None
        self.gv = tie_groups(V) if self.spearman or pool == "rank" else None

    # -- transforms under pair weights w (b, P) -----------------------------------------
    def _model_values(self, w):
        return weighted_ranks(self.X, w, self.gx) if self.spearman else self.X[None]

    def _subject_values(self, w):
        """(b, S, P): what the subjects are correlated with (ranks or values) and what they
        are pooled as (ranks, z-scores or values), as a pair."""
        ranks = weighted_ranks(self.V, w, self.gv) if self.gv is not None else None
        corr_with = ranks if self.spearman else np.broadcast_to(self.V[None], (w.shape[0],) + self.V.shape)
        if self.pool == "rank":
            pooled = ranks
        elif self.pool == "zscore":
            ww = w[:, None, :]
            sw = ww.sum(axis=-1, keepdims=True)
            vc = self.V[None] - (ww * self.V[None]).sum(axis=-1, keepdims=True) / sw
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled = vc / np.sqrt((ww * vc * vc).sum(axis=-1, keepdims=True) / sw)
        else:
            pooled = corr_with
        return corr_with, pooled

    def correlations(self, w: np.ndarray):
        """Per-subject correlations of every model under pair weights ``w`` (b, P).

        Returns
        -------
        r : ndarray (b, L, S)
        subjects : tuple
            ``(Z, pooled)``: the standardized subject vectors (b, S, P) and their pooling
            transform, reused by :meth:`noise_ceiling`.
        """
        corr_with, pooled = self._subject_values(w)
        zs = weighted_standardize(corr_with, w[:, None, :])
        zx = weighted_standardize(self._model_values(w), w[:, None, :])
        return np.matmul(zx, zs.transpose(0, 2, 1)), (zs, pooled)

    def noise_ceiling(self, subjects, c: np.ndarray, w: np.ndarray) -> np.ndarray:
        """rsatoolbox's ``boot_noise_ceiling`` of each sample: (b, 2) lower, upper.

        Subjects drawn several times form one leave-out group: the lower bound of subject u
        correlates it with the count-weighted mean of the *other* subjects' copies; both bounds
        are averaged over the distinct subjects of the sample (each once). A sample with one
        distinct subject has no lower bound (NaN).

        Parameters
        ----------
        subjects : tuple
            From :meth:`correlations` (same ``w``), broadcast to (b, S, P).
        c : ndarray (b, S)
            Subject counts of each sample.
        w : ndarray (b, P) or (1, P)
            Pair weights of each sample.
        """
        zs, pooled = subjects
        b = c.shape[0]
        if w.shape[0] == b and w.shape[0] > 0:
            # pairs of weight 0 (a stimulus not drawn: ~60% of the pairs) change no rank and no
            # correlation; dropping them halves the sorts of the pooled RDMs
            kmax = int(np.count_nonzero(w, axis=1).max())
            if kmax < w.shape[1]:
                keep = np.argsort(w == 0, axis=1, kind="stable")[:, :kmax]            # (b, K)
                w = _rows_gather(w, keep)
                rows = np.repeat(keep, zs.shape[1], axis=0).reshape(zs.shape[:2] + (kmax,))
                zs, pooled = _rows_gather(zs, rows), _rows_gather(pooled, rows)
        rb, ru = np.nonzero(c > 0)                       # (sample, distinct subject) rows
        total = np.einsum("bs,bsp->bp", c, pooled)
        # the means' positive scale (1/n, 1/(n - c_u)) changes neither ranks nor correlations
        rest = total[rb] - c[rb, ru][:, None] * pooled[rb, ru]
        pools = np.concatenate([total, rest])                                       # (b + R, P)
        wp = np.broadcast_to(w, (b, w.shape[-1]))[np.concatenate([np.arange(b), rb])]
        if self.spearman:
            pools = weighted_ranks(pools, wp)
        zp = weighted_standardize(pools, wp)
        z_u = zs[rb, ru]
        upper = np.einsum("rp,rp->r", zp[rb], z_u)
        lower = np.einsum("rp,rp->r", zp[b:], z_u)
        k = np.bincount(rb, minlength=b)
        with np.errstate(invalid="ignore", divide="ignore"):
            up = np.bincount(rb, weights=upper, minlength=b) / k
            lo = np.bincount(rb, weights=lower, minlength=b) / k
        lo[k < 2] = np.nan
        return np.stack([lo, up], axis=1)


def counts(rng: np.random.Generator, n_bootstrap: int, n: int) -> np.ndarray:
    """(n_bootstrap, n) how often each of ``n`` items is drawn in ``n`` draws with replacement."""
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    return counts_of(idx, n)


def counts_of(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) counts of the drawn indices ``idx`` (B, k)."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


#: the variants each ``over`` evaluates: the dual bootstrap also needs the one-factor samples
#: of the same draws for its variance (:func:`rdm_widgets._bootstrap_results.dual_variance`)
VARIANTS = {"stimuli": ("stimuli",), "subjects": ("subjects",), "both": ("both", "subjects", "stimuli")}


def sample_parts(engine: SampleEngine, stim_counts, subj_counts, over: str, *, noise: bool = True,
                 progress=None, max_bytes: int = 64 * 2**20) -> dict:
    """Model evaluations and noise ceilings of every bootstrap sample.

    Parameters
    ----------
    engine : SampleEngine
    stim_counts : ndarray (B, N) or None
        Stimulus counts of each sample (None: stimuli not resampled).
    subj_counts : ndarray (B, S) or None
        Subject counts of each sample (None: subjects not resampled).
    over : {'stimuli', 'subjects', 'both'}
    noise : bool
        Compute the noise ceiling of every sample (NaN without): its pooled RDMs are re-ranked
        in every sample, most of the time of a subject bootstrap.
    progress : callable or None
        ``progress(done, total)`` after each block of samples.
    max_bytes : int
        Bound on the working arrays of one block of samples.

    Returns
    -------
    dict
        ``{variant: (B, L + 2)}``: mean over the (resampled) subjects of corr(model, subject)
        for each model, then the lower and upper noise ceiling (NaN with one subject). A sample
        with fewer than 3 distinct stimuli is NaN throughout (as rsatoolbox).
    """
    L, P = engine.X.shape
    S = engine.V.shape[0]
    B = (stim_counts if stim_counts is not None else subj_counts).shape[0]
    out = {v: np.full((B, L + 2), np.nan) for v in VARIANTS[over]}
    ones_w = np.ones((1, P))
    if subj_counts is not None:
        r0, (z0, pooled0) = engine.correlations(ones_w)
    if stim_counts is not None:
        n = stim_counts.shape[1]
        iu, ju = np.triu_indices(n, 1)
        valid = np.count_nonzero(stim_counts, axis=1) >= 3
    else:
        valid = np.ones(B, dtype=bool)
    block = int(max(1, min(B, max_bytes // (8 * P * (3 * L + 10 * S + 4)))))
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, B, block):
            sl = slice(start, min(B, start + block))
            b = sl.stop - sl.start
            c = subj_counts[sl] if subj_counts is not None else None
            if stim_counts is not None:
                w = stim_counts[sl][:, iu] * stim_counts[sl][:, ju]
                r, subjects = engine.correlations(w)
            for variant in VARIANTS[over]:
                if variant == "subjects":
                    evals = c @ r0[0].T / S
                    subs = (np.broadcast_to(z0, (b,) + z0.shape[1:]), np.broadcast_to(pooled0, (b,) + z0.shape[1:]))
                    nc = engine.noise_ceiling(subs, c, ones_w) if noise and S > 1 else np.nan
                elif variant == "stimuli":
                    evals = r.mean(axis=-1)
                    nc = engine.noise_ceiling(subjects, np.ones((b, S)), w) if noise and S > 1 else np.nan
                else:
                    evals = np.einsum("bls,bs->bl", r, c) / S
                    nc = engine.noise_ceiling(subjects, c, w) if noise else np.nan
                out[variant][sl, :L] = evals
                out[variant][sl, L:] = nc
            if progress is not None:
                progress(sl.stop, B)
    for a in out.values():
        a[~valid] = np.nan
    return out

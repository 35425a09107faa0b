"""The methods of :func:`rdm_widgets.eeg.eeg_rdm`: a registry of score kernels.

Why this module exists: every method turns one permutation's units (trials or pseudo-trials)
of one block of time points into one score per condition pair and time point, with the same
signature, so that the permutation loop (:mod:`._loop`) runs any of them locally or as dask
tasks without knowing which. :data:`METHODS` maps a method name to its kernel and to what the
rest of the package needs to know about it (chance level, default noise normalisation,
whether it fits a classifier); a new method is one entry here.

Kernel signature::

    kernel(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter) -> Tensor (P, T)

``units`` (n_cond, n_units, C, T), ``fold_of_unit`` (n_cond, n_units), ``pairs`` (P, 2),
``whiteners`` (n_folds, T or 1, C, C) or None, ``opts`` the resolved
:class:`._options.EEGOptions`, ``reporter`` a :class:`rdm_widgets._progress.ProgressReporter`
advanced in fits (pair x time x fold).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from ._crossval import cv_distances
from ._lda import lda_decisions, lda_loo_decisions
from ._lda_base import run_threaded
from ._linalg import class_stats, lsqr_from_class_stats
from ._noise import whiten

__all__ = ["PER_FOLD_BLOCK_ELEMS", "Method", "METHODS", "SCORES", "kernel_for"]

#: how a classifier's held-out decisions become a score (LDA methods)
SCORES = ("accuracy", "decision")
# elements per gathered block (float64): bounds memory of one batched LDA call
PER_FOLD_BLOCK_ELEMS = 4_000_000


def _pair_blocks(n_pairs: int, per_pair: int):
    step = max(1, PER_FOLD_BLOCK_ELEMS // max(per_pair, 1))
    for s in range(0, n_pairs, step):
        yield slice(s, min(s + step, n_pairs))


def _score(dec_a: torch.Tensor, dec_b: torch.Tensor, score: str) -> torch.Tensor:
    """Per-pair score from decision values of held-out trials.

    ``dec_a`` (..., m_a): trials of the first (lower) condition, correct when
    ``<= 0`` (sklearn predicts the second class iff decision > 0); ``dec_b``
    (..., m_b): trials of the second condition, correct when ``> 0``. Returns
    the balanced mean over the two classes (plain mean when m_a == m_b).
    """
    if score == "accuracy":
        sa, sb = (dec_a <= 0).to(dec_a.dtype), (dec_b > 0).to(dec_b.dtype)
    else:  # probability of the true class = sklearn predict_proba (expit of the decision)
        sa, sb = torch.sigmoid(-dec_a), torch.sigmoid(dec_b)
    if sa.shape[-1] == sb.shape[-1]:
        # one division of an exact count: bit-identical to averaging sklearn's fold accuracies
        return _div(sa.sum(-1) + sb.sum(-1), sa.shape[-1] + sb.shape[-1])
    return 0.5 * (_div(sa.sum(-1), sa.shape[-1]) + _div(sb.sum(-1), sb.shape[-1]))


def _div(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x / n`` correctly rounded on every device: CUDA divides by a Python scalar as a
    multiplication by its reciprocal (1 ulp off, e.g. 29/44), a tensor divisor divides."""
    return x / torch.full_like(x, n)


def _lda_loo(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Exact leave-one-unit-out svd LDA via the batched kernel (all folds at once)."""
    k = units.shape[1]
    seen = [0]

    def forward(done, total):  # kernel counts pair-times; we count pair-time-folds
        reporter.update((done - seen[0]) * k)
        seen[0] = done

    dec = lda_loo_decisions(units, pairs, tol=1e-4, progress=forward)   # (P, T, k, 2)
    return _score(dec[..., 0], dec[..., 1], opts.score)


def _lda_folds(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Batched LDA per fold (any cv, shrinkage, noise normalisation, unequal fold sizes)."""
    out = torch.zeros(len(pairs), units.shape[-1], dtype=units.dtype, device=units.device)
    # folds are independent: they may run in threads; scores are added in fold order
    for parts in run_threaded(lambda f: _lda_fold(units, fold_of_unit, f, pairs, whiteners, opts),
                              range(n_folds), units.device):
        for idx, score, n in parts:
            out[idx] += score
            reporter.update(n)
    return _div(out, n_folds)


def _lda_fold(units, fold_of_unit, f, pairs, whiteners, opts) -> list:
    """Scores of fold ``f``: a list of (pair indices, (P, T) scores, fits)."""
    n_cond, n_u, C, T = units.shape
    solver, shrink = ("svd", None) if opts.method == "lda" else ("lsqr", opts.shrinkage)
    parts = []
    u = units if whiteners is None else whiten(units, whiteners[f])
    u = u.permute(0, 3, 1, 2)                                       # (n_cond, T, n_u, C)
    test = fold_of_unit == f
    n_te = test.sum(1)
    sig = [(int(n_u - n_te[c]), int(n_te[c])) for c in range(n_cond)]
    # conditions with the same (n_train, n_test) share one stacked array
    by_sig = {}
    for c, s in enumerate(sig):
        by_sig.setdefault(s, []).append(c)
    stacks = {}
    for s, conds in by_sig.items():
        tr = torch.stack([u[c][:, ~test[c]] for c in conds])        # (n_c, T, n_tr, C)
        te = torch.stack([u[c][:, test[c]] for c in conds])         # (n_c, T, n_te, C)
        # lsqr: a condition's (shrunk) covariance and mean are the same in all of its pairs
        stats = None if solver != "lsqr" else tuple(
            v.reshape((len(conds), T) + v.shape[1:])
            for v in class_stats(tr.reshape(len(conds) * T, s[0], C), shrink))
        stacks[s] = (tr, te, {c: p for p, c in enumerate(conds)}, stats)
    sig_pairs = {}
    for p, (i, j) in enumerate(pairs.tolist()):
        sig_pairs.setdefault((sig[i], sig[j]), []).append(p)
    for (sa, sb), plist in sig_pairs.items():
        tr_a, te_a, pos_a, st_a = stacks[sa]
        tr_b, te_b, pos_b, st_b = stacks[sb]
        plist = torch.tensor(plist, device=units.device)
        ia = torch.tensor([pos_a[i] for i in pairs[plist, 0].tolist()], device=units.device)
        ib = torch.tensor([pos_b[j] for j in pairs[plist, 1].tolist()], device=units.device)
        per_pair = T * (sa[0] + sb[0] + sa[1] + sb[1]) * C
        for blk in _pair_blocks(len(plist), per_pair):
            a, b = ia[blk], ib[blk]
            P = len(a)
            test_x = torch.cat([te_a[a], te_b[b]], dim=2).reshape(P * T, sa[1] + sb[1], C)
            try:
                if st_a is not None:
                    dec = lsqr_from_class_stats(
                        st_a[0][a].reshape(P * T, C, C), st_a[1][a].reshape(P * T, C), sa[0],
                        st_b[0][b].reshape(P * T, C, C), st_b[1][b].reshape(P * T, C), sb[0], test_x)
                else:
                    dec = lda_decisions(tr_a[a].reshape(P * T, sa[0], C), tr_b[b].reshape(P * T, sb[0], C),
                                        test_x, solver=solver, shrinkage=shrink, tol=1e-4)
            except torch.linalg.LinAlgError as exc:
                covs = None if st_a is None else (st_a[0][a], st_b[0][b])     # (P, T, C, C) each
                raise _fit_error(exc, opts, f, pairs[plist[blk]], covs) from None
            dec = dec.reshape(P, T, -1)
            parts.append((plist[blk], _score(dec[..., :sa[1]], dec[..., sa[1]:], opts.score), P * T))
    return parts


def _fit_error(exc, opts, fold: int, pairs: torch.Tensor, covs) -> ValueError:
    """A clear error for a linear-algebra failure of one block of LDA fits: the fold, the first
    condition pair and time index whose (shrunk) covariance is not finite, and the fix."""
    where = ""
    if covs is not None:
        bad = ~(torch.isfinite(covs[0]).all(-1).all(-1) & torch.isfinite(covs[1]).all(-1).all(-1))  # (P, T)
        hits = bad.nonzero()
        if len(hits):
            p, t = (int(v) for v in hits[0])
            i, j = (int(v) for v in pairs[p])
            where = (f" at condition pair ({i}, {j}), time index {t} ({len(hits)} pair-time(s) in all; "
                     "the covariance there is not finite)")
    return ValueError(
        f"method={opts.method!r}: the LDA fit failed in fold {fold}{where}: {str(exc).splitlines()[0]} The "
        "data are finite, so their covariance overflowed or is undefined: rescale the data (e.g. volts to "
        "microvolts) or use noise_normalization='epoch'.")


def _distances(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Cross-validated (Mahalanobis after whitening) distances for all pairs at once."""
    n_pairs, T = len(pairs), units.shape[3]

    class _PerFold:  # the distance kernel reports per fold; convert to (pair, time) units
        def update(self, n):
            reporter.update(n * n_pairs * T)

    # the pairs are gathered in a block worker too (no intra-op threads in this thread)
    return cv_distances(units, fold_of_unit, n_folds, whiteners=whiteners, reporter=_PerFold(),
                        pairs=pairs)                                    # (P, T)


class Method(NamedTuple):
    """One entry of :data:`METHODS` (a named tuple: ``METHODS[name].chance`` or ``[1]``).

    Attributes
    ----------
    kernel : callable
        The score kernel (signature in the module docstring).
    chance : float
        The score of conditions that do not differ (``meta['chance']`` of the result).
    needs_noise : bool
        Noise normalisation defaults to ``'epoch'`` (crossnobis).
    is_lda : bool
        Fits a classifier: needs 3 trials (or pseudo-trials) per condition, takes ``score``.
    """

    kernel: Callable
    chance: float
    needs_noise: bool
    is_lda: bool


#: method name -> :class:`Method`
METHODS = {
    "lda": Method(_lda_folds, 0.5, False, True),
    "lda_shrinkage": Method(_lda_folds, 0.5, False, True),
    "cv_euclidean": Method(_distances, 0.0, False, False),
    "crossnobis": Method(_distances, 0.0, True, False),
}


def kernel_for(opts) -> Callable:
    """The kernel that runs ``opts`` (an :class:`._options.EEGOptions`): the exact batched
    leave-one-out LDA for plain ``'lda'`` with ``cv='loo'`` and no noise normalisation, else
    the method's kernel."""
    return _lda_loo if opts.fast_loo else METHODS[opts.method].kernel

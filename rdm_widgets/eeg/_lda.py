"""Exact, batched scikit-learn LDA for time-resolved pairwise leave-one-out decoding.

:func:`lda_loo_decisions` returns, for every condition pair, time point and
leave-one-trial-out fold, the ``decision_function`` values that
``sklearn.discriminant_analysis.LinearDiscriminantAnalysis()`` (svd solver,
``tol=1e-4``) gives for the two held-out trials — without fitting thousands of
models one by one.

For two equal-sized classes sklearn's svd solver reduces to (see
:mod:`rdm_widgets.eeg._linalg`)::

    decision(x) = (x - mid)^T  B pinv_tol(B Q B / n) B  d

with ``Q = Xc^T Xc`` (within-class scatter of the n training trials),
``B = diag(1/std)`` (within-class std, recomputed per fold), ``mid``/``d`` the
mid-point/difference of the class means and ``pinv_tol`` dropping eigenvalues
with ``sqrt(eig) <= tol``. Fast paths evaluate this exactly when the
truncation provably keeps every non-structural eigenvalue:

* **null space** (``2k-2 <= C``, fewer trials than channels, and a null space
  ``C-2k+2`` no larger than ``2k-4``; the usual EEG case): the per-fold std
  enters only through the oblique projection onto range(Q_f) along
  ``diag(var_f) null(Q_f)``, a ``(C-2k+4)``-square system per fold, while
  ``Q_f^+`` is a rank-2 projection of the pair's ``Q^+``, so one Cholesky of the
  pair's ``(2k-2)``-square Helmert Gram serves all k folds (see
  :func:`_null_space`).
* **sample space** (``2k-2 <= C`` with a larger null space): with an
  orthonormal within-class contrast basis (Helmert) ``Xc = H Z``, the non-zero
  spectrum is that of ``G = Z W Z^T`` (``W = B^2``, size ``2k-4``), which is
  positive definite, and ``decision = n a^T G^-2 b`` with ``a = Z W (x-mid)``,
  ``b = Z W d``: one small Cholesky per fold. (The per-fold std changes ``W``
  in every channel, so no factorisation can be shared between folds in this
  form; a difference-basis variant that builds all fold Grams from one product
  of the per-channel outer products was measured slower on CPU.)
* **channel space** (``2k-4 >= C``): ``Q_f`` is a rank-2 downdate of the pair's
  scatter (removing trial f changes a class scatter by ``-k/(k-1) r r^T``) and
  the decision only involves ``span{d, r_a, r_b}``, so one Cholesky per pair and
  time plus a 2x2 Woodbury correction per fold suffice.
* **average reference** (``2k-3 >= C``, every trial sums to ~0 over channels):
  ``Q`` has rank ``C-1`` and sklearn truncates the fold's structural null
  direction ``u = std_f / |std_f|`` of the scaled matrix. With
  ``Z^+ = (Z + u u^T)^-1 - u u^T`` this becomes a rank-4 update (two LOO
  downdates, ``- gamma 1 1^T``, ``+ mu var_f var_f^T``) of one factorisation of
  ``B0 (Q + gamma 1 1^T) B0`` per pair and time (see
  :func:`_avgref_channel_space`).

Certificates (Weyl interlacing for the null-space and sample paths: removing a trial cannot push
the smallest non-zero eigenvalue below the pair's one; ``S - vv^T >= (1 -
v^T S^-1 v) S`` for the channel paths; the per-fold std only grows the scaled
spectrum since ``var_f <= var_pair``) guarantee that every kept singular value
exceeds ``2 * tol``. For the average-reference path the bound is on the
second-smallest eigenvalue (a rank-one term ``gamma g g^T`` raises the smallest
eigenvalue to at most the second one, so ``lambda_2(Z_f) >= frac_f *
lambda_min(B0 (Q + gamma 1 1^T) B0) / n``), and the Rayleigh quotient
``u^T Z_f u <= 1^T Q 1 / (n |std_f|^2) < tol^2 / 4`` certifies that sklearn
drops exactly that one direction. Anything uncertified (near-singular data,
average referencing with ``2k-2 == C``, constant channels, and for the
null-space path a fold variance below ``_MIN_VAR_FRAC`` of the pair's or an
ill-conditioned small system) is recomputed with the exact batched SVD of
:func:`rdm_widgets.eeg._linalg.svd_decisions`.

All paths work with Gram matrices (normal equations), so their rounding error
grows like ``eps * cond`` of the pair's scaled Gram (sklearn's SVD: ``eps *
sqrt(cond)``); for EEG (cond ~ 1e4) that is ~1e-12 relative, and even near the
truncation certificate's limit (cond ~ 1e9) decisions agree to ~1e-7 relative.

On a CPU the null-space and average-reference paths run compiled (:mod:`._lda_null_nb`,
:mod:`._lda_avgref_nb`: numba, one pair-time at a time, without the interpreter lock) where
numba imports and ``RDMW_NUMBA`` is not ``0``; their torch versions here are the reference, the
GPU code and the fallback. Blocks and chunks: :mod:`._lda_layout`.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from .._covariance import check_shrinkage
from .._validate import check_finite, check_option
from ._lda_base import average_referenced, caller_one_thread, compiled_kernels, run_threaded
from ._lda_layout import _use_null_space, chunk_pair_times, lda_regime, loo_block_layout
from ._lda_channel import _avgref_channel_space, _channel_space
from ._lda_null import _null_space
from ._lda_sample import _exact_folds, _sample_space
from ._linalg import lsqr_decisions, svd_decisions

__all__ = ["lda_loo_decisions", "lda_decisions", "warm_up"]


def _chunk_decisions(x, k, tol):
    """Decisions (N, k, 2) for one chunk of pair-times x (N, 2k, C) = [class a; class b]. All a
    chunk's numbers depend on happens inside it (fast path and exact fallback), so blocks of whole
    chunks give the same bits however the work is split into blocks and threads."""
    c = x.shape[2]
    xa, xb = x[:, :k], x[:, k:]
    regime = lda_regime(k, c)
    if _use_null_space(k, c):
        dec, ok = _null_space(x, k, tol)     # (compiled: _compiled_block, which reads blocks in place)
    elif regime == "rank_deficient":
        dec, ok = _sample_space(xa, xb, tol)
    else:
        # average reference: rank C-1, one structural null direction (also covers 2k-3 == C)
        avg = average_referenced(x)
        if bool(avg.all()):
            dec, ok = _avgref_decisions(xa, xb, tol)
        elif regime == "full_rank" and not bool(avg.any()):
            dec, ok = _channel_space(xa, xb, tol)
        else:   # mixed chunk, or 2k-3 == C without average reference (exact path)
            dec = torch.empty(xa.shape[0], k, 2, dtype=xa.dtype, device=xa.device)
            ok = torch.zeros(xa.shape[0], k, dtype=torch.bool, device=xa.device)
            for sel, path in ((avg, _avgref_decisions), (~avg, _channel_space if regime == "full_rank" else None)):
                idx = sel.nonzero()[:, 0]
                if path is not None and len(idx):
                    dec[idx], ok[idx] = path(xa[idx], xb[idx], tol)
    bad = (~ok).nonzero()
    if len(bad):
        dec[bad[:, 0], bad[:, 1]] = _exact_folds(xa, xb, bad[:, 0], bad[:, 1], tol)
    return dec


def _compiled(x) -> bool:
    """Whether the compiled paths (:mod:`._lda_null_nb`, :mod:`._lda_avgref_nb`: no interpreter
    lock) run for ``x``: float64 on a CPU where numba imports, unless ``RDMW_NUMBA=0``."""
    if x.device.type != "cpu" or x.dtype != torch.float64 or not compiled_kernels():
        return False
    from . import _nb_linalg                  # imports numba: only when a path first runs
    return _nb_linalg.numba is not None


def _avgref_decisions(xa, xb, tol):
    """The average-reference path for one chunk (xa, xb (N, k, C)) of data that is not
    average-referenced throughout (else :func:`_compiled_block` runs): compiled where it can."""
    if _compiled(xa):
        from . import _lda_avgref_nb
        return _lda_avgref_nb.avgref_decisions(xa, xb, tol)
    return _avgref_channel_space(xa, xb, tol)


def warm_up() -> bool:
    """Compile the numba kernels (or load them from numba's cache) now, on a tiny problem of each
    path, rather than in a user's first ``eeg_rdm`` call (~10 s the first time in a fresh
    installation, ~0.5 s later). Returns whether compiled kernels are in use (False: numba is
    missing or ``RDMW_NUMBA=0``, the torch versions run)."""
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 8, 8)))
    if not _compiled(x):
        return False
    from . import _lda_avgref_nb, _lda_null_nb, _nb_linalg
    _lda_null_nb.null_space_decisions(x, 4, 1e-4)                    # 2k-2 <= C: null space
    xr = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 16, 6)))
    xr = xr - xr.mean(-1, keepdim=True)                               # average-referenced
    _lda_avgref_nb.avgref_decisions(xr[:, :8], xr[:, 8:], 1e-4)
    _nb_linalg.time_major(np.zeros((2, 3, 4)), np.empty((4, 2, 3)))
    return True


def _compiled_block(slices, rows, k, tol, chunk):
    """Decisions (N, k, 2) of a compiled path (null space, or average reference where every
    trial is average-referenced) for one block: pair-time i has the trials ``slices[rows[i, 0]]``
    (class a) and ``slices[rows[i, 1]]`` (class b), each (k, C), which the kernel reads itself
    (no gathered copy of the block). Uncertified folds are recomputed exactly chunk by chunk, as
    :func:`_chunk_decisions` does."""
    if _use_null_space(k, slices.shape[2]):
        from . import _lda_null_nb
        dec, ok = _lda_null_nb.null_space_rows(slices, rows, k, tol)
    else:
        from . import _lda_avgref_nb
        dec, ok = _lda_avgref_nb.avgref_rows(slices, rows, k, tol)
    bad = (~ok).nonzero()
    for s in range(0, len(rows), chunk) if len(bad) else ():
        sel = bad[(bad[:, 0] >= s) & (bad[:, 0] < s + chunk)]
        if len(sel):
            x = slices[rows[s:s + chunk].reshape(-1)].view(-1, 2 * k, slices.shape[2])
            dec[sel[:, 0], sel[:, 1]] = _exact_folds(x[:, :k], x[:, k:], sel[:, 0] - s, sel[:, 1], tol)
    return dec


def _block_decisions(x, k, tol, chunk=None):
    """Decisions (N, k, 2) for one block of pair-times x (N, 2k, C), chunk by chunk."""
    chunk = chunk or chunk_pair_times(k, x.shape[2], x.device) or max(1, x.shape[0])
    return torch.cat([_chunk_decisions(x[s:s + chunk], k, tol) for s in range(0, x.shape[0], chunk)])


def _as_tensor(name, x):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Invalid type for {name!r}: {type(x).__name__}. Expected a torch.Tensor "
                        "or numpy array of float64 values.")
    if not (x.is_floating_point()):
        raise TypeError(f"Invalid dtype for {name!r}: {x.dtype}. Expected floating point (float64).")
    return x.to(torch.float64)


def _check_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, Real) or not tol >= 0 or not math.isfinite(tol):
        raise ValueError(f"Invalid value for 'tol': {tol!r}. Expected a finite number >= 0 (sklearn default 1e-4).")
    return float(tol)


def lda_loo_decisions(data, pairs=None, *, tol=1e-4, progress=None) -> torch.Tensor:
    """Leave-one-out LDA decision values for every condition pair and time point.

    Parameters
    ----------
    data : torch.Tensor, shape (n_cond, k, C, T)
        The first ``k`` trials of each condition (conditions in sorted label
        order), ``C`` channels, ``T`` time points. Converted to float64.
    pairs : torch.Tensor of int, shape (P, 2), optional
        Condition pairs ``(i, j)`` with ``i < j``; default all pairs.
    tol : float
        sklearn's ``tol`` for the svd solver.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block of pair-times.

    Returns
    -------
    torch.Tensor, shape (P, T, k, 2)
        For pair p, time t and fold f, the decision values of held-out trial f
        of condition i (``[..., 0]``, correct when < 0) and of condition j
        (``[..., 1]``, correct when > 0), training
        ``LinearDiscriminantAnalysis(tol=tol)`` on the other ``2(k-1)`` trials
        with condition i as ``classes_[0]``. Equal to sklearn's
        ``decision_function`` up to float rounding.
    """
    data = _as_tensor("data", data)
    if data.ndim != 4:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Expected 4 dimensions "
                         "(n_conditions, n_trials, n_channels, n_times).")
    n_cond, k, n_chan, n_times = data.shape
    if n_cond < 2:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Need at least 2 conditions.")
    if k < 3:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Leave-one-out LDA needs at "
                         f"least 3 trials per condition (got {k}): with 2, each fold trains on 2 "
                         "samples for 2 classes, which sklearn rejects.")
    check_finite("EEG data", data)
    tol = _check_tol(tol)
    if pairs is None:
        pairs = torch.triu_indices(n_cond, n_cond, offset=1).T
    pairs = torch.as_tensor(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.is_floating_point():
        raise ValueError(f"Invalid 'pairs': shape {tuple(pairs.shape)}, dtype {pairs.dtype}. "
                         "Expected an integer tensor of shape (P, 2).")
    pairs = pairs.to(torch.long)
    if len(pairs) and ((pairs[:, 0] < 0) | (pairs[:, 1] >= n_cond) | (pairs[:, 0] >= pairs[:, 1])).any():
        raise ValueError(f"Invalid 'pairs': every row must be (i, j) with 0 <= i < j < {n_cond}.")
    pairs = pairs.to(data.device)
    if data.device.type != "cpu":
        return _loo_blocks(data, pairs, tol, progress)
    with caller_one_thread():     # the blocks' threads do the work; no OpenMP team spinning beside them
        return _loo_blocks(data, pairs, tol, progress)


def _loo_blocks(data, pairs, tol, progress):
    """:func:`lda_loo_decisions` after validation: the blocks of pair-times, in threads."""
    n_cond, k, n_chan, n_times = data.shape
    n_pairs = len(pairs)
    total = n_pairs * n_times
    out = torch.empty(n_pairs, n_times, k, 2, dtype=data.dtype, device=data.device)
    null = _use_null_space(k, n_chan)
    channel_paths = lda_regime(k, n_chan) != "rank_deficient"
    can_compile = (null or channel_paths) and _compiled(data)
    by_time = data.permute(3, 0, 1, 2)                                  # (T, n_cond, k, C) view
    if can_compile:
        # time-major once, in one pass: the blocks then read contiguous slices in place, where
        # each block would copy its time points out of the (.., C, T) layout, one cache line
        # per value (1-thread S001-sized jobs: 124 -> 108 us per pair-time at 161 time points)
        from ._nb_linalg import time_major
        by_time = torch.empty(n_times, n_cond, k, n_chan, dtype=data.dtype)
        time_major(np.ascontiguousarray(data.numpy()).reshape(n_cond * k, n_chan, n_times),
                   by_time.numpy().reshape(n_times, n_cond * k, n_chan))
    # the average-reference path for every chunk where every trial is average-referenced at every time
    avg = channel_paths and bool(average_referenced(by_time).all())
    step, chunk = loo_block_layout(total, k, n_chan, data.device, average_reference=avg)
    compiled = can_compile and (null or avg)

    def block(start):
        idx = torch.arange(start, min(start + step, total), device=data.device)
        t, p = idx // n_pairs, idx % n_pairs
        t_lo, t_hi = int(t[0]), int(t[-1]) + 1
        rows = (t - t_lo)[:, None] * n_cond + pairs[p]                  # rows of the slices (N, 2)
        xt = by_time[t_lo:t_hi].reshape((t_hi - t_lo) * n_cond, k * n_chan)
        if compiled:       # the kernel reads each pair-time's trials from the slices itself
            return p, t, _compiled_block(xt.view(-1, k, n_chan), rows, k, tol, chunk)
        x = xt.index_select(0, rows.reshape(-1)).view(len(idx), 2 * k, n_chan)     # [cond i; cond j]
        return p, t, _block_decisions(x, k, tol, chunk)

    # time-major blocks: each reads a few contiguous (n_cond, k, C) time slices
    done = 0
    for p, t, dec in run_threaded(block, range(0, total, step), data.device):
        out[p, t] = dec
        done += len(p)
        if progress is not None:
            progress(done, total)
    return out


def lda_decisions(train_a, train_b, test, *, solver="svd", shrinkage=None, tol=1e-4) -> torch.Tensor:
    """Batched two-class ``LinearDiscriminantAnalysis(...).fit(...).decision_function(test)``.

    Parameters
    ----------
    train_a : torch.Tensor, shape (B, n_a, C)
        Class-0 training trials (label ``classes_[0]``).
    train_b : torch.Tensor, shape (B, n_b, C)
        Class-1 training trials.
    test : torch.Tensor, shape (B, m, C)
        Trials to score.
    solver : {'svd', 'lsqr'}
    shrinkage : None, 'auto' or float in [0, 1]
        Only with ``solver='lsqr'`` (as in sklearn). 'auto' is Ledoit-Wolf on
        standardised features. Note: 'lsqr' without shrinkage on a singular
        covariance (fewer trials than channels) is ill-posed; sklearn's result
        is then dominated by rounding and is not reproduced.
    tol : float
        svd-solver rank threshold.

    Returns
    -------
    torch.Tensor, shape (B, m)
        Decision values (> 0 means class 1). Priors are the class proportions.
    """
    solver = check_option("solver", solver, ["svd", "lsqr"])
    tol = _check_tol(tol)
    train_a, train_b, test = (_as_tensor(nm, x) for nm, x in
                              (("train_a", train_a), ("train_b", train_b), ("test", test)))
    shapes = f"train_a {tuple(train_a.shape)}, train_b {tuple(train_b.shape)}, test {tuple(test.shape)}"
    if train_a.ndim != 3 or train_b.ndim != 3 or test.ndim != 3:
        raise ValueError(f"Invalid shapes: {shapes}. Expected 3-D (batch, trials, channels) tensors.")
    if not (train_a.shape[0] == train_b.shape[0] == test.shape[0]
            and train_a.shape[2] == train_b.shape[2] == test.shape[2]):
        raise ValueError(f"Invalid shapes: {shapes}. Batch and channel sizes must agree.")
    if train_a.shape[1] < 1 or train_b.shape[1] < 1 or train_a.shape[1] + train_b.shape[1] <= 2:
        raise ValueError(f"Invalid shapes: {shapes}. Each class needs >= 1 trial and more trials "
                         "than classes in total (sklearn rule).")
    for nm, x in (("train_a", train_a), ("train_b", train_b), ("test", test)):
        check_finite(nm, x)
    if solver == "svd":
        if shrinkage is not None:
            raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. The 'svd' solver does not "
                             "support shrinkage (as in sklearn); use solver='lsqr'.")
        return svd_decisions(train_a, train_b, test, tol)
    return lsqr_decisions(train_a, train_b, test, check_shrinkage(shrinkage, allow_none=True))

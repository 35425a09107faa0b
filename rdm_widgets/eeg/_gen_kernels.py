"""Temporal generalisation kernels: train at time ``t``, test the held-out units at every ``t'``.

Why this module exists: :func:`rdm_widgets.eeg.eeg_rdm` with ``generalization=True`` scores
every (pair, train time, test time) with the folds, units and whiteners of the ordinary run
(:func:`._loop._permutation_inputs`), so the generalisation kernels have the signature of the
ordinary ones (:mod:`._methods`) but return ``(P, T, T)``::

    kernel(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter) -> Tensor (P, T_train, T_test)

* LDA (``'lda'``, ``'lda_shrinkage'``): per fold, pair and training time the classifier
  ``(w_t, b_t)`` is solved explicitly (:func:`._lda_weights.lda_weights`, sklearn's svd solver
  with certified fast paths and an exact SVD fallback; lsqr: the decoding path's own
  :func:`._linalg.lsqr_weights_from_class_stats`) and applied to the fold's held-out units at
  every time: ``decision = x_t' . w_t + b_t`` (a batched GEMM). The score (accuracy or
  probability of the true class) is that of :func:`._methods._score`, averaged over folds.
* cross-validated distances: ``(m_i - m_j)^train(t) . (m_i - m_j)^test(t') / C`` averaged over
  folds (the diagonal ``t = t'`` is :mod:`._crossval`'s definition).

Noise normalisation whitens each time point's data with its own whitener (``'time'``) or the
epoch's (``'epoch'``), as the ordinary run does: the classifier of ``t`` sees the test data at
``t'`` whitened as at ``t'`` (the data are whitened first, then decoded).

Work runs in blocks of pairs (and, for long epochs, of training times) whose decision arrays
stay under :data:`GEN_BLOCK_ELEMS` float64 elements; on a CPU the blocks of one fold run in
threads (:func:`._lda_base.run_threaded`) and are added in order, so results do not depend on
the thread count.
"""
from __future__ import annotations

import torch

from ._crossval import fold_means, run_in_order
from ._lda_layout import NULL_CHUNK, _use_null_space
from ._lda_base import run_threaded
from ._lda_null import _null_space
from ._lda_weights import lda_weights
from ._linalg import class_stats, lsqr_weights_from_class_stats
from ._methods import _div, _fit_error, _score
from ._noise import whiten

__all__ = ["GEN_BLOCK_ELEMS", "GENERALIZATION_KERNELS", "generalization_kernel"]

# float64 elements of one block's working set (training units gathered, decisions): ~32 MB
GEN_BLOCK_ELEMS = 4_000_000


def _blocks(plist: torch.Tensor, n_times: int, per_time: int):
    """(pair indices, train-time slice) blocks of about GEN_BLOCK_ELEMS elements."""
    per_pair = n_times * per_time
    if per_pair <= GEN_BLOCK_ELEMS:
        step = max(1, GEN_BLOCK_ELEMS // per_pair)
        return [(plist[s:s + step], slice(0, n_times)) for s in range(0, len(plist), step)]
    tstep = max(1, GEN_BLOCK_ELEMS // per_time)
    return [(plist[p:p + 1], slice(t, min(t + tstep, n_times)))
            for p in range(len(plist)) for t in range(0, n_times, tstep)]


def _fold_layout(units, fold_of_unit, f, whiteners):
    """Fold ``f``'s (whitened) units, per-condition train/test units and pairs grouped by
    their (n_train, n_test) counts."""
    u = units if whiteners is None else whiten(units, whiteners[f])      # (n_cond, n_u, C, T)
    test = fold_of_unit == f
    n_u = units.shape[1]
    n_te = test.sum(1).tolist()
    sig = [(n_u - t, t) for t in n_te]
    return u, test, sig


def _loo_weights(x, k, tol=1e-4):
    """All k leave-one-out classifiers of a block of pair-times, x (N, 2k, C) = [class a; class b]:
    ``w`` (N, k, C), ``b`` (N, k). The null-space path of the exact kernel (:mod:`._lda_null`,
    certified, in cache-sized chunks); what it cannot certify is solved by :func:`lda_weights`."""
    n_pt, _, c = x.shape
    chunk = NULL_CHUNK if x.device.type == "cpu" else max(1, n_pt)
    parts = [_null_space(x[s:s + chunk], k, tol, weights=True) for s in range(0, n_pt, chunk)]
    w, ok = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    xa, xb = x[:, :k], x[:, k:]
    bad = (~ok).nonzero()
    if len(bad):
        keep = torch.tensor([[i for i in range(k) if i != f] for f in range(k)], device=x.device)
        pt, f = bad[:, 0], bad[:, 1]
        w[pt, f] = lda_weights(xa[pt[:, None], keep[f]], xb[pt[:, None], keep[f]], tol)[0]
    # the fold's class means: (sum - held-out unit) / (k - 1); equal classes: no prior term
    mid = 0.5 * ((xa.sum(1)[:, None] - xa) + (xb.sum(1)[:, None] - xb)) / (k - 1)
    return w, -(mid * w).sum(-1)


def _lda_loo_gen(units, pairs, opts, reporter):
    """Plain leave-one-out LDA (the exact kernel's null-space regime): every fold of a block of
    pairs and training times at once. (P, T, T) scores averaged over folds."""
    n_cond, k, C, T = units.shape
    out = torch.zeros(len(pairs), T, T, dtype=units.dtype, device=units.device)
    per_time = 2 * k * C * 6 + k * 2 * T * 2          # the block's trials and intermediates, decisions
    tasks = _blocks(torch.arange(len(pairs), device=units.device), T, per_time)

    def task(blk):
        plist, tb = blk
        ii, jj = pairs[plist, 0], pairs[plist, 1]
        P, Tb = len(plist), len(range(T)[tb])
        x = torch.cat([units[ii][..., tb], units[jj][..., tb]], 1)            # (P, 2k, C, Tb)
        w, b = _loo_weights(x.permute(0, 3, 1, 2).reshape(P * Tb, 2 * k, C).contiguous(), k)
        w = w.view(P, Tb, k, C).transpose(1, 2).reshape(P * k, Tb, C)
        b = b.view(P, Tb, k).transpose(1, 2).reshape(P * k, Tb, 1)
        te = torch.stack([units[ii], units[jj]], 3).reshape(P * k, C, 2 * T)   # fold f tests unit f
        dec = torch.baddbmm(b, w, te).view(P, k, Tb, 2, T)
        dec_a, dec_b = dec[:, :, :, 0].permute(0, 2, 3, 1), dec[:, :, :, 1].permute(0, 2, 3, 1)  # (P, Tb, T, k)
        return plist, tb, _score(dec_a, dec_b, opts.score), P * Tb * T * k

    for plist, tb, score, n in run_threaded(task, tasks, units.device):
        out[plist, tb] = score
        reporter.update(n)
    return out


def _lda_gen(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Temporal generalisation of the LDA methods: (P, T, T) scores averaged over folds."""
    n_cond, n_u, C, T = units.shape
    if opts.fast_loo and _use_null_space(n_u, C):
        return _lda_loo_gen(units, pairs, opts, reporter)
    out = torch.zeros(len(pairs), T, T, dtype=units.dtype, device=units.device)
    lsqr = opts.method != "lda"
    for f in range(n_folds):
        u, test, sig = _fold_layout(units, fold_of_unit, f, whiteners)
        ut = u.permute(0, 3, 1, 2)                                      # (n_cond, T, n_u, C)

        def per_condition(c, u=u, ut=ut, test=test):
            # in a block worker too: with intra-op threads in the caller these gathers and
            # covariances spun against other jobs (2-4x the run's CPU time on a busy machine)
            tr = ut[c][:, ~test[c]]                                    # (T, n_tr, C)
            te = u[c][test[c]].permute(1, 0, 2)                        # (C, n_te, T)
            # lsqr: a condition's (shrunk) covariance and mean are shared by all of its pairs
            st = tuple(v.reshape((T,) + v.shape[1:]) for v in class_stats(tr, opts.shrinkage)) if lsqr else None
            return tr, te, st
        train_u, test_u, stats = zip(*run_threaded(per_condition, range(n_cond), units.device))
        stats = stats if lsqr else None
        groups = {}
        for p, (i, j) in enumerate(pairs.tolist()):
            groups.setdefault((sig[i], sig[j]), []).append(p)
        tasks = []
        for (sa, sb), plist in groups.items():
            per_time = (sa[0] + sb[0]) * C * 3 + T * (sa[1] + sb[1]) * 2 + (C * C if lsqr else 0) * 2
            tasks += _blocks(torch.tensor(plist, device=units.device), T, per_time)

        def task(blk, f=f, train_u=train_u, test_u=test_u, stats=stats):
            plist, tb = blk
            ii, jj = pairs[plist, 0].tolist(), pairs[plist, 1].tolist()
            P, Tb = len(ii), len(range(T)[tb])
            try:
                if lsqr:
                    st = [torch.stack([stats[c][k][tb] for c in cs]).reshape((P * Tb,) + stats[cs[0]][k].shape[1:])
                          for cs in (ii, jj) for k in (0, 1)]
                    w, b = lsqr_weights_from_class_stats(st[0], st[1], int(train_u[ii[0]].shape[1]),
                                                         st[2], st[3], int(train_u[jj[0]].shape[1]))
                else:
                    tr_a = torch.stack([train_u[c][tb] for c in ii]).flatten(0, 1)     # (P Tb, n_tr, C)
                    tr_b = torch.stack([train_u[c][tb] for c in jj]).flatten(0, 1)
                    w, b = lda_weights(tr_a, tr_b, tol=1e-4)
            except torch.linalg.LinAlgError as exc:
                raise _fit_error(exc, opts, f, pairs[plist], None) from None
            # every test unit of both classes at every test time: one GEMM per pair
            te = torch.stack([torch.cat([test_u[i], test_u[j]], 1) for i, j in zip(ii, jj)])   # (P, C, U, T)
            n_a, n_u = test_u[ii[0]].shape[1], te.shape[2]
            dec = torch.baddbmm(b.view(P, Tb, 1), w.view(P, Tb, C), te.view(P, C, n_u * T))
            dec = dec.view(P, Tb, n_u, T).transpose(-1, -2)                # (P, Tb, T, U)
            return plist, tb, _score(dec[..., :n_a], dec[..., n_a:], opts.score), P * Tb * T

        for plist, tb, score, n in run_threaded(task, tasks, units.device):
            out[plist, tb] += score
            reporter.update(n)
    return _div(out, n_folds)


def _distance_gen(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Cross-validated distances generalised over time: (P, T, T), averaged over folds.

    A worker per fold (:func:`._crossval.run_in_order`) computes its means and, block of
    training times by block, the Gram products, and adds each block to the sum in (fold, block)
    order: the same bits with any thread count."""
    n_cond, n_u, C, T = units.shape
    i, j = pairs[:, 0], pairs[:, 1]
    tstep = max(1, GEN_BLOCK_ELEMS // max(1, T * n_cond * n_cond))
    blocks = [slice(s, min(s + tstep, T)) for s in range(0, T, tstep)]
    box = {}

    def fold(f, turns):
        m_tr, m_te = fold_means(units, fold_of_unit, f, whiteners)
        for b, tb in enumerate(blocks):
            g = torch.einsum("ixt,jxs->tsij", m_tr[..., tb], m_te)     # (Tb, T, n, n)
            d = g[:, :, i, i] + g[:, :, j, j] - g[:, :, i, j] - g[:, :, j, i]
            del g
            with turns.turn(f * len(blocks) + b):
                if f == b == 0:
                    box["out"] = torch.zeros(len(pairs), T, T, dtype=units.dtype, device=units.device)
                box["out"][:, tb] += d.permute(2, 0, 1)
                if f == n_folds - 1 and b == len(blocks) - 1:
                    box["out"] = box["out"] / (n_folds * C)

    run_in_order(fold, n_folds, units.device, lambda f: reporter.update(len(pairs) * T * T))
    return box["out"]


#: method name -> generalisation kernel (every method of :data:`._methods.METHODS`)
GENERALIZATION_KERNELS = {
    "lda": _lda_gen,
    "lda_shrinkage": _lda_gen,
    "cv_euclidean": _distance_gen,
    "crossnobis": _distance_gen,
}


def generalization_kernel(method: str):
    """The generalisation kernel of ``method``; a clear ValueError where there is none."""
    if method not in GENERALIZATION_KERNELS:
        raise ValueError(f"generalization=True is not defined for method={method!r}. Supported: "
                         f"{sorted(GENERALIZATION_KERNELS)}.")
    return GENERALIZATION_KERNELS[method]

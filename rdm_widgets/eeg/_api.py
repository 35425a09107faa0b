"""``eeg_rdm``: time-resolved RDMs from EEG/MEG epochs by pairwise decoding.

Why this module exists: it is the single public entry point; it validates the
input (MNE-style messages), sets up the design (:mod:`._design`), optional
noise normalisation (:mod:`._noise`), runs the method's kernel (exact batched
LDA in :mod:`._lda`, cross-validated distances in :mod:`._crossval`) through the
permutation loop of :mod:`._loop` (here, or as dask tasks: :mod:`._distributed`)
and wraps the result with every option in :class:`TimeResolvedRDM`.
"""
from __future__ import annotations

import numpy as np
import torch

from .._progress import ProgressReporter
from .._validate import check_option, check_positive_int
from ._crossval import cv_distances
from ._design import apply_time_ops, as_float64_epochs, make_design
from ._linalg import class_stats, lsqr_from_class_stats
from ._loop import _accumulate, _permutation_inputs, _Plan, _time_blocks, _to_result
from ._noise import NOISE_MODES, whiten
from ._result import TimeResolvedRDM

__all__ = ["eeg_rdm", "METHODS", "SCORES"]

SCORES = ("accuracy", "decision")
# elements per gathered block (float64): bounds memory of one batched LDA call
_BLOCK_ELEMS = 4_000_000


# --------------------------------------------------------------- validation
def _check_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"Invalid value for 'device': {device!r}. Use 'cpu' or 'cuda'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available in this torch "
            f"({torch.__version__}). Use device='cpu' (the default)."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"Invalid value for 'device': {device!r}. Use 'cpu' or 'cuda'.")
    return dev


def _pair_blocks(n_pairs: int, per_pair: int):
    step = max(1, _BLOCK_ELEMS // max(per_pair, 1))
    for s in range(0, n_pairs, step):
        yield slice(s, min(s + step, n_pairs))


# ------------------------------------------------------------------ kernels
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
    from ._lda import lda_loo_decisions

    k = units.shape[1]
    seen = [0]

    def forward(done, total):  # kernel counts pair-times; we count pair-time-folds
        reporter.update((done - seen[0]) * k)
        seen[0] = done

    dec = lda_loo_decisions(units, pairs, tol=1e-4, progress=forward)   # (P, T, k, 2)
    return _score(dec[..., 0], dec[..., 1], opts["score"])


def _lda_folds(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Batched LDA per fold (any cv, shrinkage, noise normalisation, unequal fold sizes)."""
    from ._lda_base import run_threaded

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
    from ._lda import lda_decisions

    n_cond, n_u, C, T = units.shape
    solver, shrink = ("svd", None) if opts["method"] == "lda" else ("lsqr", opts["shrinkage"])
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
            if st_a is not None:
                dec = lsqr_from_class_stats(
                    st_a[0][a].reshape(P * T, C, C), st_a[1][a].reshape(P * T, C), sa[0],
                    st_b[0][b].reshape(P * T, C, C), st_b[1][b].reshape(P * T, C), sb[0], test_x)
            else:
                dec = lda_decisions(tr_a[a].reshape(P * T, sa[0], C), tr_b[b].reshape(P * T, sb[0], C),
                                    test_x, solver=solver, shrinkage=shrink, tol=1e-4)
            dec = dec.reshape(P, T, -1)
            parts.append((plist[blk], _score(dec[..., :sa[1]], dec[..., sa[1]:], opts["score"]), P * T))
    return parts


def _distances(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter):
    """Cross-validated (Mahalanobis after whitening) distances for all pairs at once."""
    n_pairs, T = len(pairs), units.shape[3]

    class _PerFold:  # the distance kernel reports per fold; convert to (pair, time) units
        def update(self, n):
            reporter.update(n * n_pairs * T)

    d = cv_distances(units, fold_of_unit, n_folds, whiteners=whiteners, reporter=_PerFold())
    return d[pairs[:, 0], pairs[:, 1]]                                  # (P, T)


# method -> (kernel, chance level, needs noise normalisation)
METHODS = {
    "lda": (_lda_folds, 0.5, False),
    "lda_shrinkage": (_lda_folds, 0.5, False),
    "cv_euclidean": (_distances, 0.0, False),
    "crossnobis": (_distances, 0.0, True),
}


# ------------------------------------------------------------------ public
def eeg_rdm(eeg, labels, *, method="lda", times=None, cv="loo", pseudo_trials=None,
            n_permutations=1, random_state=None, noise_normalization=None, shrinkage="auto",
            score="accuracy", groups=None, window=None, decim=1, device="cpu", progress=None,
            verbose=False, client=None) -> TimeResolvedRDM:
    """Time-resolved RDM from EEG/MEG epochs by cross-validated pairwise decoding.

    Default semantics (``method='lda'``, ``cv='loo'``, no options): conditions
    are the unique labels in sorted order; each condition uses its first ``k``
    trials in data order, ``k`` = the smallest trial count of any condition.
    For every time point and pair ``(i, j)`` and for fold ``f = 0..k-1``, trial
    ``f`` of both conditions is held out, ``sklearn LinearDiscriminantAnalysis()``
    is trained on the remaining ``2(k-1)`` trials and predicts the two held-out
    trials; the cell is the mean fraction correct over folds. Predictions are
    identical to that sklearn loop (exact batched float64 kernel). The RDM is
    symmetric with a zero diagonal; 0.5 is chance.

    Parameters
    ----------
    eeg : array-like or Tensor, shape (n_trials, n_channels, n_times)
        Epochs. A 2-D array (n_trials, n_channels) is treated as one time point.
    labels : sequence of str or int, shape (n_trials,)
        Condition of every trial (list, numpy array or tensor).
    method : {'lda', 'lda_shrinkage', 'cv_euclidean', 'crossnobis'}
        ``'lda'``: sklearn ``LinearDiscriminantAnalysis()`` (svd solver), exact.
        ``'lda_shrinkage'``: ``LinearDiscriminantAnalysis(solver='lsqr',
        shrinkage=shrinkage)``. ``'cv_euclidean'``: cross-validated squared
        Euclidean distance per channel, ``(m_i-m_j)_train . (m_i-m_j)_test / C``
        averaged over folds (unbiased, can be negative; Guggenmos et al. 2018).
        ``'crossnobis'``: the same after noise normalisation with the training
        fold's covariance (``noise_normalization`` defaults to ``'epoch'``).
    times : array-like, shape (n_times,), optional
        Time of each sample, carried to the result (default ``arange(n_times)``).
    cv : 'loo' or int
        ``'loo'``: fold ``f`` holds out unit ``f`` (trial or pseudo-trial) of
        both conditions. int ``n``: ``n`` folds; without groups unit ``r`` of
        each condition is in fold ``r % n``; with ``groups`` whole groups are
        assigned to folds (balanced greedily), so the repetitions of one stimulus
        are never split across train and test.
    pseudo_trials : int, optional
        Average each condition's trials into this many pseudo-trials: per
        permutation each condition's trials are shuffled
        (``np.random.default_rng(seed)``) and dealt into ``pseudo_trials``
        groups of (nearly) equal size; decoding is then cross-validated over
        pseudo-trials (leave-one-pseudo-trial-out with ``cv='loo'``) and the
        result is averaged over ``n_permutations`` random assignments.
    n_permutations : int
        Number of random pseudo-trial assignments (only with ``pseudo_trials``).
    random_state : int, optional
        Seed of the pseudo-trial assignment. When None a seed is drawn and
        recorded in ``meta['seed']`` so that every run can be reproduced.
    noise_normalization : {None, 'epoch', 'time'}
        Multivariate noise normalisation (Guggenmos et al. 2018): Ledoit-Wolf
        covariance of the training trials' residuals (trial minus its
        condition's training mean) per time point (``'time'``) or averaged over
        the epoch (``'epoch'``), fitted on the training folds only; data are
        whitened with ``cov^(-1/2)`` before decoding/distances.
    shrinkage : 'auto' or float in [0, 1]
        Shrinkage of ``'lda_shrinkage'`` (``'auto'`` = Ledoit-Wolf).
    score : {'accuracy', 'decision'}
        LDA methods only. ``'accuracy'``: fraction correct. ``'decision'``:
        decision-value-weighted accuracy = mean probability the classifier gives
        to the true class, ``expit(+-decision_function)`` (= sklearn
        ``predict_proba`` of the true class for binary LDA); 0.5 is chance,
        confident correct predictions count more than barely correct ones.
        With unequal test counts (groups) the two classes are averaged
        separately (balanced).
    groups : sequence, shape (n_trials,), optional
        Stimulus/repetition id of every trial; all trials of one id are always
        on the same side of a train/test split and in the same pseudo-trial.
        Needs ``cv=int`` or ``pseudo_trials``.
    window : int, optional
        Moving average over ``window`` samples (valid part only: ``n_times -
        window + 1`` samples remain, each labelled with the mean time of its
        window), applied before ``decim``.
    decim : int
        Keep every ``decim``-th sample (after ``window``); ``times`` are adjusted
        the same way. ``window=d, decim=d`` averages non-overlapping bins.
    device : str
        ``'cpu'`` (default) or ``'cuda'`` where available.
    progress : callable, optional
        ``progress(done, total)`` with ``total = n_permutations * n_folds *
        n_pairs * n_times`` fits (or distance evaluations); may raise
        :class:`rdm_widgets.Cancelled`.
    verbose : bool
        Show a tqdm progress bar.
    client : distributed.Client, str or None
        Run on a dask cluster (a client or a scheduler address such as
        ``'tcp://host:8786'``): one task per permutation and block of time
        points (blocks are fixed by the data: problems with few pairs x times
        stay one block). Pseudo-trial assignments and noise whiteners are made
        here from all time points and sent to the tasks; the result equals the
        local run. ``progress`` advances per finished task. ``device`` must be
        valid here and on the workers. See ``docs/distributed.md``.

    Returns
    -------
    TimeResolvedRDM
        ``.data`` (n_conditions, n_conditions, n_times'), ``.times``,
        ``.conditions`` (sorted labels) and ``.meta`` (every option, the seed,
        k, trials per condition, chance level, version).

    Notes
    -----
    Every method uses the first ``k`` trials of each condition, so all pairs
    are balanced (chance is exactly 0.5 for accuracy).

    The kernels work on very many small matrices. The exact LOO LDA kernel runs
    blocks of (pair, time) in ``torch.get_num_threads()`` Python threads with one
    intra-op thread each (results do not depend on the thread count); on a
    machine busy with other jobs ``torch.set_num_threads(1)`` can still be faster.

    Examples
    --------
    >>> rdm = eeg_rdm(eeg, labels, times=times)            # doctest: +SKIP
    >>> rdm.shape, rdm.mean_timecourse().argmax()          # doctest: +SKIP
    >>> rdm.at(rdm.time_index(0.3)).plot()                 # doctest: +SKIP
    """
    plan = _prepare(eeg, labels, method=method, times=times, cv=cv, pseudo_trials=pseudo_trials,
                    n_permutations=n_permutations, random_state=random_state,
                    noise_normalization=noise_normalization, shrinkage=shrinkage, score=score, groups=groups,
                    window=window, decim=decim, device=device)
    if client is not None:
        from .._dask import client_scope
        from ._distributed import accumulate_on_cluster

        with client_scope(client) as resolved:
            acc = accumulate_on_cluster(resolved, plan, progress, verbose)
    else:
        with ProgressReporter(plan.total, progress, verbose, desc=f"eeg_rdm ({plan.opts['method']})") as rep:
            acc = _accumulate(_permutation_inputs(plan), _time_blocks(plan.x.shape[-1], len(plan.pairs)),
                              plan.n_folds, plan.pairs, plan.run, plan.opts, rep)
    return _to_result(plan, acc)


def check_work_options(method, cv, pseudo_trials, n_permutations, noise_normalization, window, decim):
    """Validate the options of :func:`eeg_rdm` that set the amount of work (shared with
    :mod:`rdm_widgets.estimate`); returns them normalised, in the same order."""
    method = check_option("method", method, METHODS)
    if noise_normalization is not None:
        noise_normalization = check_option("noise_normalization", noise_normalization, NOISE_MODES,
                                           extra="Or None for no noise normalisation.")
    elif METHODS[method][2]:
        noise_normalization = "epoch"
    if isinstance(cv, str):
        cv = check_option("cv", cv, ("loo",), extra="Or an integer number of folds >= 2.")
    else:
        cv = check_positive_int("cv", cv, minimum=2)
    pseudo_trials = check_positive_int("pseudo_trials", pseudo_trials, allow_none=True, minimum=2)
    n_permutations = check_positive_int("n_permutations", n_permutations)
    if n_permutations > 1 and pseudo_trials is None:
        raise ValueError("n_permutations > 1 only makes sense with pseudo_trials (each permutation is a "
                         "new random pseudo-trial assignment). Set pseudo_trials=K or n_permutations=1.")
    return (method, cv, pseudo_trials, n_permutations, noise_normalization,
            check_positive_int("window", window, allow_none=True), check_positive_int("decim", decim))


def _prepare(eeg, labels, *, method, times, cv, pseudo_trials, n_permutations, random_state,
             noise_normalization, shrinkage, score, groups, window, decim, device) -> _Plan:
    """Validate every option of :func:`eeg_rdm` (before any work) and build its :class:`_Plan`."""
    x_all = as_float64_epochs(eeg)
    n_trials, n_ch, n_t = x_all.shape
    method, cv, pseudo_trials, n_permutations, noise_normalization, window, decim = check_work_options(
        method, cv, pseudo_trials, n_permutations, noise_normalization, window, decim)
    kernel, chance, needs_noise = METHODS[method]
    score = check_option("score", score, SCORES)
    if score != "accuracy" and kernel is _distances:
        raise ValueError(f"score={score!r} applies to the LDA methods only; method={method!r} returns "
                         "distances. Use score='accuracy' (the default) with distance methods.")
    if isinstance(shrinkage, str):
        shrinkage = check_option("shrinkage", shrinkage, ("auto",), extra="Or a float in [0, 1].")
    elif isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. Use 'auto' or a float in [0, 1].")
    else:
        shrinkage = float(shrinkage)
    dev = _check_device(device)
    if times is None:
        times = np.arange(n_t, dtype=np.float64)
    else:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if times.shape != (n_t,):
            raise ValueError(f"'times' has {times.size} values but eeg has {n_t} time points "
                             f"(eeg shape {x_all.shape}); give one time per sample.")
    if window is not None and window > n_t:
        raise ValueError(f"window={window} is longer than the {n_t} time points of eeg.")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, (int, np.integer))):
        raise TypeError(f"Invalid type for 'random_state': {type(random_state).__name__}. "
                        "Expected an integer seed or None.")

    is_lda = kernel is _lda_folds
    design = make_design(labels, n_trials, groups, min_trials=3 if is_lda and pseudo_trials is None else 2,
                         why=f"method={method!r} trains a classifier on all but the held-out trials. "
                         if is_lda else "")
    k, n_cond = design.k, design.n_cond
    if pseudo_trials is not None and pseudo_trials > k:
        worst = min(design.counts, key=design.counts.get)
        raise ValueError(f"pseudo_trials={pseudo_trials} exceeds the {k} trials of condition {worst!r} "
                         f"(the smallest condition); use pseudo_trials <= {k}.")
    n_units = k if pseudo_trials is None else pseudo_trials
    if is_lda and pseudo_trials is not None and pseudo_trials < 3:
        raise ValueError(f"pseudo_trials={pseudo_trials} is too few for method={method!r}: LDA needs at "
                         "least 3 pseudo-trials per condition (2 to train per class plus 1 to test). "
                         "Use pseudo_trials >= 3 or method='cv_euclidean'.")
    if isinstance(cv, int) and cv > n_units:
        what = "pseudo-trials" if pseudo_trials else "trials used per condition"
        raise ValueError(f"cv={cv} folds but only {n_units} {what}; use cv <= {n_units} or cv='loo'.")
    if design.groups is not None and pseudo_trials is None and cv == "loo":
        raise ValueError("groups need whole groups held out: use cv=<int> (e.g. cv=5) or pseudo_trials=K; "
                         "leave-one-trial-out (cv='loo') would split the repetitions of a stimulus.")
    n_folds = n_units if cv == "loo" else cv
    seed = None
    if pseudo_trials is not None:
        seed = int(random_state) if random_state is not None else int(np.random.SeedSequence().entropy)

    x, times = apply_time_ops(x_all[design.trial_index], times, window, decim)   # (n_cond, k, C, T)
    x = np.ascontiguousarray(x)
    pairs = torch.combinations(torch.arange(n_cond), 2).to(dev)
    use_fast = (method == "lda" and cv == "loo" and noise_normalization is None)

    from .. import __version__

    meta = {
        "method": method, "score": score, "cv": cv, "n_folds": n_folds,
        "pseudo_trials": pseudo_trials, "n_permutations": n_permutations,
        "random_state": None if random_state is None else int(random_state), "seed": seed,
        "noise_normalization": noise_normalization,
        "shrinkage": shrinkage if method == "lda_shrinkage" else None,
        "groups": design.groups is not None, "window": window, "decim": decim, "device": str(dev),
        "k": k, "n_trials_per_condition": {str(c): n for c, n in design.counts.items()},
        "n_trials": n_trials, "n_channels": n_ch, "n_times_input": n_t,
        "chance": chance, "rdm_widgets_version": __version__,
        "dissimilarity": ("decoding accuracy" if score == "accuracy" and chance else
                          "probability of the true class" if chance else
                          "cross-validated squared distance per channel"),
    }
    return _Plan(x=x, times=times, conditions=design.conditions, groups=design.groups, pairs=pairs, device=dev,
                 run=_lda_loo if use_fast else kernel,
                 opts={"method": method, "score": score, "shrinkage": shrinkage}, cv=cv, n_folds=n_folds,
                 pseudo_trials=pseudo_trials, n_permutations=n_permutations, seed=seed,
                 noise_normalization=noise_normalization, meta=meta)

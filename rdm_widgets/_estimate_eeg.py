"""Cost estimates of :func:`rdm_widgets.eeg.eeg_rdm` (private; public names in :mod:`rdm_widgets.estimate`).

Why this module exists: the seconds per fit of the exact LDA kernel depend on its regime (see
:mod:`rdm_widgets.eeg._lda`), on the thread count and on the machine far more than a flop
count can tell, so they are *measured*: the real ``eeg_rdm`` runs on a tiny problem of the same
regime, channel count, units per condition, folds and method (2 conditions, 1 and a few time
points; the difference of the two gives seconds per fit without the fixed overhead). The result
is cached per process. Distances, noise normalisation and pseudo-trial averaging are counted in
flops at the calibrated GEMM rate.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import torch

from ._validate import check_option, check_positive_int

__all__ = ["estimate_eeg", "estimate_eeg_rdm", "lda_regime"]

_LDA_CAL: dict = {}
_LDA_LOCK = threading.Lock()
_CAL_TARGET = 0.1         # seconds the longer calibration run aims at
_CAL_MAX_TIMES = 64       # ... with at most this many time points
_EIGH_FLOPS = 9.0
_CALL_OVERHEAD = 5e-3     # validation and set-up of one eeg_rdm call (distance methods)


def lda_regime(n_units: int, n_channels: int, average_reference: bool = False) -> str:
    """Which path of the exact leave-one-out LDA kernel runs (see :mod:`rdm_widgets.eeg._lda`).

    ``'rank_deficient'``: ``2k-2 <= C`` (fewer training trials than channels; one Cholesky per
    fold, the slow regime); ``'average_reference'``: average-referenced data with ``2k-2 > C``;
    ``'full_rank'``: ``2k-4 >= C`` (one factorisation per pair and time); ``'exact_svd'``: the
    remaining case ``2k-3 == C`` (batched SVD for every fold).
    """
    if 2 * n_units - 2 <= n_channels:
        return "rank_deficient"
    if average_reference:
        return "average_reference"
    return "full_rank" if 2 * n_units - 4 >= n_channels else "exact_svd"


def _calibrated_lda(dev, method, regime, n_channels, n_units, cv):
    """(seconds per pair-time-fold, fixed seconds per call, pair-times of the longer run).

    Measured once per process (and thread count). The mean of the longer runs, not the best,
    because a real run meets the machine's typical state, not its best moment.
    """
    from .eeg import eeg_rdm

    key = (str(dev), method, regime, n_channels, n_units, cv, torch.get_num_threads())
    with _LDA_LOCK:
        if key in _LDA_CAL:
            return _LDA_CAL[key]
        rng = np.random.default_rng(0)
        labels = np.repeat([0, 1], n_units)

        def run(n_times):
            x = rng.standard_normal((2 * n_units, n_channels, n_times))
            x[n_units:] += 0.3
            if regime == "average_reference":
                x -= x.mean(axis=1, keepdims=True)
            t0 = time.perf_counter()
            eeg_rdm(x, labels, method=method, cv=cv, device=dev)
            return time.perf_counter() - t0

        t1 = min(run(1) for _ in range(3))    # the first call also warms caches up
        n2 = int(min(_CAL_MAX_TIMES, max(3, _CAL_TARGET / max(t1, 1e-4))))
        t2 = (run(n2) + run(n2)) / 2
        per_pt = max((t2 - t1) / (n2 - 1), 0.25 * t2 / n2)   # timing noise must not give ~0
        folds = n_units if cv == "loo" else cv
        _LDA_CAL[key] = (per_pt / folds, max(t1 - per_pt, 0.0), n2)
        return _LDA_CAL[key]


def _check_options(method, cv, pseudo_trials, n_permutations, noise_normalization, decim, window):
    from .eeg._api import check_work_options

    method, cv, pseudo_trials, n_permutations, noise_normalization, window, decim = check_work_options(
        method, cv, pseudo_trials, n_permutations, noise_normalization, window, decim)
    return method, cv, pseudo_trials, n_permutations, noise_normalization, decim, window


def estimate_eeg(n_conditions, k, n_channels, n_times, *, method="lda", cv="loo", pseudo_trials=None,
                 n_permutations=1, noise_normalization=None, decim=1, window=None,
                 average_reference=False, n_trials=None, device="cpu"):
    """Predict the cost of :func:`rdm_widgets.eeg_rdm` from the sizes alone.

    Parameters
    ----------
    n_conditions : int
        Number of conditions (>= 2).
    k : int
        Trials used per condition (the smallest condition's count).
    n_channels, n_times : int
        C and the number of samples per epoch (before ``window`` / ``decim``).
    method, cv, pseudo_trials, n_permutations, noise_normalization, decim, window, device
        As in :func:`rdm_widgets.eeg_rdm`.
    average_reference : bool
        The data are average-referenced (channels sum to 0), which selects a faster LDA path.
    n_trials : int or None
        Trials in the input (default ``n_conditions * k``); only memory depends on it.

    Returns
    -------
    CostEstimate
        ``work['fits']`` = pairs x time points x folds x permutations (``eeg_rdm``'s progress
        total); ``regime`` names the kernel path (see :func:`lda_regime`).
    """
    from .eeg._api import _check_device
    from .eeg._lda import _bytes_per_pair_time, block_pair_times
    from .estimate import CostEstimate, calibrate

    n_cond = check_positive_int("n_conditions", n_conditions, minimum=2)
    method, cv, pseudo, n_perm, noise, decim, window = _check_options(
        method, cv, pseudo_trials, n_permutations, noise_normalization, decim, window)
    is_lda = method in ("lda", "lda_shrinkage")
    k = check_positive_int("k", k, minimum=3 if is_lda and pseudo is None else 2)
    n_ch, n_t = check_positive_int("n_channels", n_channels), check_positive_int("n_times", n_times)
    n_trials = check_positive_int("n_trials", n_cond * k if n_trials is None else n_trials,
                                  minimum=n_cond * k)
    if pseudo is not None and pseudo > k:
        raise ValueError(f"pseudo_trials={pseudo} exceeds the {k} trials of the smallest condition; "
                         f"use pseudo_trials <= {k}.")
    if is_lda and pseudo is not None and pseudo < 3:
        raise ValueError(f"pseudo_trials={pseudo} is too few for method={method!r}: LDA needs at least "
                         "3 pseudo-trials per condition. Use pseudo_trials >= 3 or method='cv_euclidean'.")
    units = k if pseudo is None else pseudo
    if isinstance(cv, int) and cv > units:
        raise ValueError(f"cv={cv} folds but only {units} units per condition; use cv <= {units} or cv='loo'.")
    if window is not None and window > n_t:
        raise ValueError(f"window={window} is longer than the {n_t} time points.")
    dev = _check_device(device)
    folds = units if cv == "loo" else cv
    n_out = len(range(0, n_t - (window or 1) + 1, decim))        # time points after window, decim
    pairs = n_cond * (n_cond - 1) // 2
    fits = n_perm * folds * pairs * n_out
    cal = calibrate(dev)
    rate = cal["bmm_float64"]
    b = 8                                                        # everything runs in float64
    x_in, x_sel = n_trials * n_ch * n_t * b, n_cond * k * n_ch * n_t * b
    x_out = n_cond * k * n_ch * n_out * b if (window or decim > 1) else 0
    # float64 copy, finite check, indexing the used trials, the moving average (reads window x)
    seconds = (3 * x_in + x_sel + (window or 1) * x_out) / cal["memory"]
    flops = 2.0 * n_cond * pseudo * k * n_ch * n_out if pseudo else 0.0   # averaging into pseudo-trials
    if noise:
        # Ledoit-Wolf per fold: three (n_cond k, C) products per time point; the elementwise work
        # around them makes it cost ~2.5x their 6 n k C^2 flops (measured)
        flops += folds * (15.0 * n_cond * k * n_ch ** 2 * n_out
                          + _EIGH_FLOPS * n_ch ** 3 * (n_out if noise == "time" else 1)
                          + 2.0 * n_cond * (units if is_lda else 2) * n_ch ** 2 * n_out)
    fast = method == "lda" and cv == "loo" and noise is None
    if not is_lda:
        regime = "distance"
        flops += folds * (4.0 * n_cond * units * n_ch * n_out + 2.0 * n_cond ** 2 * n_ch * n_out)
        seconds += _CALL_OVERHEAD
        kernel = 4 * n_out * n_cond ** 2 * b + 4 * n_cond * n_ch * n_out * b
    else:
        regime = (lda_regime(units, n_ch, average_reference) if fast else
                  "per_fold_svd" if method == "lda" else "per_fold_lsqr")
        per_fit, overhead, n_cal = _calibrated_lda(dev, method, regime, n_ch, units,
                                                   cv if fast or cv != "loo" else folds)
        seconds += overhead + fits * per_fit
        if fast:
            per_pt = _bytes_per_pair_time(units, n_ch, dev)
            step = min(pairs * n_out, block_pair_times(units, n_ch, dev))
            in_flight = min(torch.get_num_threads(), -(-pairs * n_out // step)) if dev.type == "cpu" else 1
            block = step * per_pt * in_flight             # blocks computed at once (threads)
            kernel = pairs * n_out * units * 2 * b + block
            if block > n_cal * per_pt:
                # the calibration's few pair-times stay in the caches; a real block streams its
                # temporaries through memory (written once, read about once more)
                seconds += 2 * pairs * n_out * per_pt / cal["memory"]
        else:
            kernel = (2 if noise else 1) * n_cond * units * n_ch * n_out * b \
                + 6 * min(4_000_000 * b, pairs * n_out * 2 * units * n_ch * b)
    seconds += flops * n_perm / rate
    units_bytes = 2 * n_cond * units * n_ch * n_out * b if pseudo else 0
    noise_bytes = (folds * (n_out if noise == "time" else 1) * n_ch ** 2 * b + 2 * n_cond * k * n_ch * n_out * b
                   if noise else 0)
    result = pairs * n_out * b + 2 * n_cond ** 2 * n_out * b
    peak = x_in + x_sel + x_out + units_bytes + noise_bytes + kernel + result
    work = {"conditions": n_cond, "pairs": pairs, "times": n_out, "folds": folds, "permutations": n_perm,
            "fits": fits, "units": units, "channels": n_ch, "flops": int(flops * n_perm),
            "result_bytes": n_cond ** 2 * n_out * b}
    return CostEstimate(float(seconds), int(peak), 0, work, str(dev), regime)


def _average_referenced(eeg, index) -> bool:
    """Whether a sample of up to 16 used trials sums to ~0 over channels (as the kernel checks)."""
    from .eeg._lda_base import _AVGREF_COS

    flat = np.asarray(index).reshape(-1)
    pick = flat[np.linspace(0, len(flat) - 1, min(16, len(flat))).astype(int)]
    x = eeg[torch.as_tensor(pick)] if isinstance(eeg, torch.Tensor) else np.asarray(eeg)[pick]
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    bound = _AVGREF_COS * math.sqrt(x.shape[1]) * np.linalg.norm(x, axis=1)
    return bool((np.abs(x.sum(axis=1)) <= bound).all())


def estimate_eeg_rdm(eeg, labels, *, method="lda", times=None, cv="loo", pseudo_trials=None,
                     n_permutations=1, random_state=None, noise_normalization=None, shrinkage="auto",
                     score="accuracy", groups=None, window=None, decim=1, device="cpu", progress=None,
                     verbose=False):
    """Predict the cost of ``eeg_rdm(eeg, labels, **options)`` with the same arguments.

    The options are validated as :func:`rdm_widgets.eeg_rdm` does (without reading every
    value: non-finite data are only found by the run). ``progress`` and ``verbose`` are
    accepted so that the same keyword arguments can be passed, and ignored.

    Parameters
    ----------
    eeg : array-like or Tensor, shape (n_trials, n_channels, n_times) or (n_trials, n_channels)
    labels : sequence, shape (n_trials,)
    method, times, cv, pseudo_trials, n_permutations, random_state, noise_normalization,
    shrinkage, score, groups, window, decim, device
        As in :func:`rdm_widgets.eeg_rdm`.

    Returns
    -------
    CostEstimate
    """
    from .eeg._api import METHODS, SCORES
    from .eeg._design import make_design

    shape = tuple(eeg.shape) if hasattr(eeg, "shape") else np.shape(eeg)
    if len(shape) not in (2, 3):
        raise ValueError(f"'eeg' must have shape (n_trials, n_channels, n_times); got {shape}.")
    n_trials, n_ch, n_t = (*shape, 1) if len(shape) == 2 else shape
    method = check_option("method", method, METHODS)
    score = check_option("score", score, SCORES)
    if score != "accuracy" and method not in ("lda", "lda_shrinkage"):
        raise ValueError(f"score={score!r} applies to the LDA methods only; method={method!r} returns "
                         "distances. Use score='accuracy' (the default) with distance methods.")
    if isinstance(shrinkage, str):
        check_option("shrinkage", shrinkage, ("auto",), extra="Or a float in [0, 1].")
    elif isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. Use 'auto' or a float in [0, 1].")
    if times is not None and np.size(times) != n_t:
        raise ValueError(f"'times' has {np.size(times)} values but eeg has {n_t} time points; "
                         "give one time per sample.")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, (int, np.integer))):
        raise TypeError(f"Invalid type for 'random_state': {type(random_state).__name__}. "
                        "Expected an integer seed or None.")
    is_lda = method in ("lda", "lda_shrinkage")
    design = make_design(labels, n_trials, groups, min_trials=3 if is_lda and pseudo_trials is None else 2)
    if design.groups is not None and pseudo_trials is None and cv == "loo":
        raise ValueError("groups need whole groups held out: use cv=<int> (e.g. cv=5) or pseudo_trials=K; "
                         "leave-one-trial-out (cv='loo') would split the repetitions of a stimulus.")
    avg = _average_referenced(eeg, design.trial_index)
    return estimate_eeg(design.n_cond, design.k, n_ch, n_t, method=method, cv=cv, pseudo_trials=pseudo_trials,
                        n_permutations=n_permutations, noise_normalization=noise_normalization, decim=decim,
                        window=window, average_reference=avg, n_trials=n_trials, device=device)

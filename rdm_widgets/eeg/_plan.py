"""What one :func:`rdm_widgets.eeg.eeg_rdm` call will do, decided before any work: :class:`EEGPlan`.

Why this module exists: ``eeg_rdm`` and its cost estimate (:mod:`rdm_widgets.estimate`) must
agree on everything that sets the amount of work -- the conditions and trials used, units per
condition, folds, pairs, time points after ``window``/``decim``, the exact LDA kernel's regime
and block sizes. Both call :func:`plan_eeg_rdm` (the estimate from sizes alone:
:func:`plan_eeg_sizes`), and both paths go through one builder, so every rule that relates the
options to the data's sizes is written once. Planning reads the data's shape, the labels and
the groups, never the values (except a sample of 16 trials when the kernel's regime depends on
an average reference).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .._validate import check_positive_int
from ._design import Design, epochs_shape, make_design, subsample_rng
from ._epochs import epochs_input
from ._lda_layout import block_pair_times, bytes_per_pair_time, lda_regime
from ._lda_base import average_referenced
from ._options import EEGOptions, check_eeg_options

__all__ = ["EEGPlan", "plan_eeg_rdm", "plan_eeg_sizes", "check_times"]


@dataclass(frozen=True, eq=False)
class EEGPlan:
    """The resolved options, design and sizes of one :func:`rdm_widgets.eeg.eeg_rdm` call.

    Attributes
    ----------
    options : EEGOptions
    n_trials, n_channels, n_times : int
        Sizes of the input epochs (before ``window`` / ``decim``).
    n_conditions, k : int
        Conditions, and trials used per condition (the smallest condition's count).
    n_units : int
        Units per condition: ``k`` or ``pseudo_trials``.
    n_folds, n_pairs, n_times_out : int
        Folds, condition pairs and time points after ``window`` / ``decim``.
    seed : int or None
        Seed of the pseudo-trial assignment (drawn when ``random_state`` is None).
    design : Design or None
        Which trials each condition uses (None for a plan from sizes).
    times : ndarray, shape (n_times,), or None
        The input's time axis (float64; None for a plan from sizes).
    average_reference : bool or None
        The data are average-referenced; None where the regime does not depend on it.
    regime : str
        How the scores are computed: the exact leave-one-out LDA kernel's path
        (:func:`rdm_widgets.eeg.lda_regime`: ``'rank_deficient'``, ``'average_reference'``,
        ``'full_rank'``, ``'exact_svd'``), ``'per_fold_svd'`` / ``'per_fold_lsqr'`` (batched
        LDA per fold) or ``'distance'``.
    block_pair_times, bytes_per_pair_time : int
        Pair-times per block of the exact leave-one-out kernel and its peak bytes per
        pair-time (0 for the other regimes).
    """

    options: EEGOptions
    n_trials: int
    n_channels: int
    n_times: int
    n_conditions: int
    k: int
    n_units: int
    n_folds: int
    n_pairs: int
    n_times_out: int
    seed: Optional[int]
    design: Optional[Design]
    times: Optional[np.ndarray]
    average_reference: Optional[bool]
    regime: str
    block_pair_times: int
    bytes_per_pair_time: int

    @property
    def fits(self) -> int:
        """Fits (or distance evaluations): permutations x folds x pairs x time points, the
        ``total`` that ``eeg_rdm``'s progress reports."""
        return self.options.n_permutations * self.n_folds * self.n_pairs * self.n_times_out

    @property
    def n_test_times(self) -> int:
        """Test times per training time: ``n_times_out`` with ``generalization``, else 1."""
        return self.n_times_out if self.options.generalization else 1

    @property
    def evaluations(self) -> int:
        """Temporal generalisation: (pair, fold, train time, test time) evaluations over
        permutations (0 without ``generalization``)."""
        if not self.options.generalization:
            return 0
        return self.fits * self.n_test_times

    @property
    def progress_total(self) -> int:
        """The ``total`` of ``eeg_rdm``'s progress: :attr:`fits`, plus :attr:`evaluations` with
        ``generalization`` (its diagonal is run by the same kernel as without)."""
        return self.fits + self.evaluations

    @property
    def result_bytes(self) -> int:
        """Bytes of the result's data (float64): n_cond^2 x n_times_out x n_test_times."""
        return 8 * self.n_conditions ** 2 * self.n_times_out * self.n_test_times


def _sample_average_referenced(eeg, trial_index: np.ndarray) -> bool:
    """Whether a sample of up to 16 used trials sums to ~0 over channels (the kernel's test)."""
    flat = np.asarray(trial_index).reshape(-1)
    pick = flat[np.linspace(0, len(flat) - 1, min(16, len(flat))).astype(int)]
    x = eeg[torch.as_tensor(pick)] if isinstance(eeg, torch.Tensor) else np.asarray(eeg)[pick]
    x = torch.as_tensor(np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64))
    if x.ndim == 2:
        x = x[:, :, None]
    return bool(average_referenced(x.permute(2, 0, 1)).all())          # (T, trials, C)


def _draw_seed(opts: EEGOptions) -> int:
    return opts.random_state if opts.random_state is not None else int(np.random.SeedSequence().entropy)


def _build(opts: EEGOptions, *, n_trials, n_channels, n_times, n_conditions, k, smallest=None, design=None,
           times=None, average_reference=None, seed=None) -> EEGPlan:
    """The one place where options meet the data's sizes (both public planners end here).

    ``smallest`` names the smallest condition in messages; ``average_reference`` is a bool or
    a callable returning one, called only when the regime depends on it.
    """
    n_pt = opts.pseudo_trials
    if opts.window is not None and opts.window > n_times:
        raise ValueError(f"window={opts.window} is longer than the {n_times} time points of eeg.")
    if n_pt is not None and n_pt > k:
        of = f"condition {smallest!r} (the smallest condition)" if smallest is not None else "the smallest condition"
        raise ValueError(f"pseudo_trials={n_pt} exceeds the {k} trials of {of}; use pseudo_trials <= {k}.")
    if opts.is_lda and n_pt is not None and n_pt < 3:
        raise ValueError(f"pseudo_trials={n_pt} is too few for method={opts.method!r}: LDA needs at "
                         "least 3 pseudo-trials per condition (2 to train per class plus 1 to test). "
                         "Use pseudo_trials >= 3 or method='cv_euclidean'.")
    n_units = k if n_pt is None else n_pt
    if isinstance(opts.cv, int) and opts.cv > n_units:
        what = "pseudo-trials" if n_pt else "trials used per condition"
        raise ValueError(f"cv={opts.cv} folds but only {n_units} {what}; use cv <= {n_units} or cv='loo'.")
    if design is not None and design.groups is not None and n_pt is None and opts.cv == "loo":
        raise ValueError("groups need whole groups held out: use cv=<int> (e.g. cv=5) or pseudo_trials=K; "
                         "leave-one-trial-out (cv='loo') would split the repetitions of a stimulus.")
    if seed is None and n_pt is not None:
        seed = _draw_seed(opts)

    avg, per_pt, step = None, 0, 0
    if opts.fast_loo:
        if lda_regime(n_units, n_channels) != "rank_deficient":    # only then does it matter
            avg = bool(average_reference() if callable(average_reference) else average_reference)
        regime = lda_regime(n_units, n_channels, bool(avg))
        per_pt = bytes_per_pair_time(n_units, n_channels, opts.device)
        step = block_pair_times(n_units, n_channels, opts.device)
    elif opts.is_lda:
        regime = "per_fold_svd" if opts.method == "lda" else "per_fold_lsqr"
    else:
        regime = "distance"
    return EEGPlan(options=opts, n_trials=n_trials, n_channels=n_channels, n_times=n_times,
                   n_conditions=n_conditions, k=k, n_units=n_units,
                   n_folds=n_units if opts.cv == "loo" else opts.cv,
                   n_pairs=n_conditions * (n_conditions - 1) // 2,
                   n_times_out=len(range(0, n_times - (opts.window or 1) + 1, opts.decim)),
                   seed=seed, design=design, times=times, average_reference=avg, regime=regime,
                   block_pair_times=step, bytes_per_pair_time=per_pt)


def check_times(times: np.ndarray) -> np.ndarray:
    """``times`` (n_times,) checked to be finite and strictly increasing (the sample times of
    epochs). Non-finite or decreasing times come from a sampling rate of 0, a negative or a
    non-finite one (``times = arange(n) / sfreq``); the message says so."""
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise ValueError(f"'times' has {bad.size} non-finite value(s) (first at index {int(bad[0])}: "
                         f"{times[bad[0]]}). Times computed as arange(n_times) / sfreq need a finite "
                         "sfreq > 0; give finite sample times.")
    down = np.flatnonzero(np.diff(times) <= 0)
    if down.size:
        i = int(down[0])
        raise ValueError(f"'times' must increase strictly; times[{i}] = {times[i]} and times[{i + 1}] = "
                         f"{times[i + 1]} (a sampling rate <= 0?). Give one increasing time per sample.")
    return times


def _check_trial_axis(labels, shape: tuple) -> None:
    """Name the likely cause when the labels fit another axis of eeg than the first: epochs
    stored channels- or times-first (the length check of make_design alone says only 'Got N labels')."""
    try:
        n = tuple(labels.shape) if hasattr(labels, "shape") else np.shape(labels)
    except ValueError:                               # ragged: make_design says what is wrong
        return
    if len(n) != 1 or n[0] == shape[0] or n[0] not in shape[1:]:
        return
    axis = shape.index(n[0], 1)
    raise ValueError(f"Got {n[0]} labels for {shape[0]} trials: eeg has shape {shape} and its axis {axis} has "
                     f"{n[0]} entries. eeg must be (n_trials, n_channels, n_times); if axis {axis} holds the "
                     f"trials, move it first (e.g. np.moveaxis(eeg, {axis}, 0)).")


def plan_eeg_rdm(eeg, labels=None, *, method="lda", times=None, cv="loo", pseudo_trials=None, n_permutations=1,
                 random_state=None, noise_normalization=None, shrinkage="auto", score="accuracy", groups=None,
                 window=None, decim=1, device="cpu", picks=None, level=None, balance="first",
                 generalization=False) -> EEGPlan:
    """Validate the options of :func:`rdm_widgets.eeg.eeg_rdm` against the data and plan the run.

    Reads the shape of ``eeg``, the labels and the groups, not the data values (non-finite
    values are found by ``eeg_rdm`` itself), except a sample of 16 trials when the regime of
    the exact LDA kernel depends on whether the data are average-referenced.

    Parameters
    ----------
    eeg : array-like or Tensor, shape (n_trials, n_channels, n_times) or (n_trials, n_channels)
        Or MNE epochs / an ``-epo.fif`` path (read here).
    labels : sequence, shape (n_trials,), str or None
    method, times, cv, pseudo_trials, n_permutations, random_state, noise_normalization,
    shrinkage, score, groups, window, decim, device, picks, level, balance, generalization
        As in :func:`rdm_widgets.eeg.eeg_rdm`.

    Returns
    -------
    EEGPlan

    Raises
    ------
    ValueError, TypeError
        Every invalid option or combination that ``eeg_rdm`` rejects before computing.
    """
    inp = epochs_input(eeg, labels, times, picks=picks, level=level)
    eeg, labels, times = inp.eeg, inp.labels, inp.times
    n_trials, n_ch, n_t = epochs_shape(eeg)
    opts = check_eeg_options(method=method, cv=cv, pseudo_trials=pseudo_trials, n_permutations=n_permutations,
                             random_state=random_state, noise_normalization=noise_normalization,
                             shrinkage=shrinkage, score=score, window=window, decim=decim, device=device,
                             balance=balance, generalization=generalization)
    seed = _draw_seed(opts) if opts.pseudo_trials is not None or opts.balance == "random" else None
    if times is None:
        times = np.arange(n_t, dtype=np.float64)
    else:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if times.shape != (n_t,):
            raise ValueError(f"'times' has {times.size} values but eeg has {n_t} time points "
                             f"(eeg shape {(n_trials, n_ch, n_t)}); give one time per sample.")
        check_times(times)
    if opts.balance is False and groups is not None:
        raise ValueError("balance=False cannot be combined with groups yet: pseudo-trials of unequal "
                         "conditions are dealt trial by trial. Use balance='first' or 'random' with groups.")
    _check_trial_axis(labels, (n_trials, n_ch, n_t))
    design = make_design(labels, n_trials, groups, min_trials=opts.min_units,
                         why=f"method={opts.method!r} trains a classifier on all but the held-out trials. "
                         if opts.is_lda else "", balance=opts.balance,
                         rng=subsample_rng(seed) if opts.balance == "random" else None)
    used = design.trial_index if design.valid is None else design.trial_index[design.valid]
    return _build(opts, n_trials=n_trials, n_channels=n_ch, n_times=n_t, n_conditions=design.n_cond,
                  k=design.k, smallest=min(design.counts, key=design.counts.get), design=design, times=times,
                  average_reference=lambda: _sample_average_referenced(eeg, used), seed=seed)


def plan_eeg_sizes(n_conditions, k, n_channels, n_times, *, n_trials=None, average_reference=False,
                   method="lda", cv="loo", pseudo_trials=None, n_permutations=1, random_state=None,
                   noise_normalization=None, shrinkage="auto", score="accuracy", window=None, decim=1,
                   device="cpu", generalization=False) -> EEGPlan:
    """:func:`plan_eeg_rdm` from the sizes alone (no data, labels or groups).

    Parameters
    ----------
    n_conditions : int
        Number of conditions (>= 2).
    k : int
        Trials used per condition (the smallest condition's count).
    n_channels, n_times : int
        C and the number of samples per epoch (before ``window`` / ``decim``).
    n_trials : int or None
        Trials in the input (default ``n_conditions * k``).
    average_reference : bool
        The data are average-referenced (channels sum to 0).
    method, cv, pseudo_trials, n_permutations, random_state, noise_normalization, shrinkage,
    score, window, decim, device, generalization
        As in :func:`rdm_widgets.eeg.eeg_rdm`.

    Returns
    -------
    EEGPlan
        With ``design`` and ``times`` None.
    """
    n_cond = check_positive_int("n_conditions", n_conditions, minimum=2)
    opts = check_eeg_options(method=method, cv=cv, pseudo_trials=pseudo_trials, n_permutations=n_permutations,
                             random_state=random_state, noise_normalization=noise_normalization,
                             shrinkage=shrinkage, score=score, window=window, decim=decim, device=device,
                             generalization=generalization)
    k = check_positive_int("k", k, minimum=opts.min_units)
    n_ch, n_t = check_positive_int("n_channels", n_channels), check_positive_int("n_times", n_times)
    n_trials = check_positive_int("n_trials", n_cond * k if n_trials is None else n_trials, minimum=n_cond * k)
    return _build(opts, n_trials=n_trials, n_channels=n_ch, n_times=n_t, n_conditions=n_cond, k=k,
                  average_reference=average_reference)

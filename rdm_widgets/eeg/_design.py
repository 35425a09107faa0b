"""Experimental design of EEG decoding: conditions, folds, pseudo-trials, groups.

Why this module exists: every method of :func:`rdm_widgets.eeg.eeg_rdm` needs
the same bookkeeping -- which trials belong to which condition, which trials
are used, which *unit* (a trial or a pseudo-trial) each trial goes into, and
which cross-validation fold each unit belongs to. Keeping it here keeps the
numerical kernels free of index juggling and lets the tests check the one rule
that matters most: the trials of one ``groups`` id (e.g. the repetitions of one
stimulus) never end up on both sides of a train/test split.

Conventions
-----------
- Conditions are the unique labels in sorted order.
- ``balance='first'`` (the default): each condition uses its first ``k`` trials
  in data order, ``k`` = the smallest trial count of any condition (so every
  pair is balanced). ``balance='random'``: ``k`` trials drawn per condition
  without replacement by ``np.random.default_rng(SeedSequence(seed, spawn_key=(1,)))``
  (kept in data order). ``balance=False``: every trial (pseudo-trials only: each
  condition's trials are dealt into its ``pseudo_trials`` bins, so units stay
  balanced); the trial matrix is then padded and :attr:`Design.valid` marks the
  real trials. An unbalanced design is reported with :class:`UnbalancedTrialsWarning`
  by ``eeg_rdm``.
- A *bin assignment* maps every used trial to one of ``n_bins`` bins; bins are
  pseudo-trials (``pseudo_trials=K``) or folds (``cv=int``). Bins are assigned
  *globally*: all trials of one group get the same bin index in every
  condition, so when bin ``f`` is held out of every condition a group is never
  split across train and test, even when a group spans several conditions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Design", "make_design", "assign_bins", "average_bins", "epochs_shape", "as_float64_epochs",
           "apply_time_ops", "BALANCE", "UnbalancedTrialsWarning", "subsample_rng", "unbalanced_message"]

#: how trials are chosen when conditions have unequal counts (``eeg_rdm(balance=...)``)
BALANCE = ("first", "random")


class UnbalancedTrialsWarning(UserWarning):
    """Conditions have unequal trial counts, so some trials are left out (``eeg_rdm``)."""


@dataclass
class Design:
    """Which trials each condition uses.

    Attributes
    ----------
    conditions : list
        Unique labels, sorted.
    trial_index : ndarray, shape (n_cond, width)
        Row ``c`` holds the indices (into the input trials) of the trials
        condition ``c`` uses (``width = k`` unless ``balance=False``).
    counts : dict
        Number of trials of each condition in the input (available).
    groups : ndarray or None, shape (n_cond, width)
        Group id of each used trial (as integer codes), or None.
    valid : ndarray of bool, shape (n_cond, width), or None
        With ``balance=False``: which entries of ``trial_index`` are trials (the
        rest pads shorter conditions). None when every row is full.
    balance : {'first', 'random'} or False
    """

    conditions: list
    trial_index: np.ndarray
    counts: dict
    groups: np.ndarray | None
    valid: np.ndarray | None = None
    balance: object = "first"

    @property
    def n_cond(self) -> int:
        return len(self.conditions)

    @property
    def k(self) -> int:
        """Trials of the smallest condition (used by every condition unless ``balance=False``)."""
        return int(self.trial_index.shape[1] if self.valid is None else self.valid.sum(axis=1).min())

    @property
    def used(self) -> dict:
        """``{condition: trials used}``."""
        n = [self.trial_index.shape[1]] * self.n_cond if self.valid is None else self.valid.sum(axis=1).tolist()
        return {c: int(u) for c, u in zip(self.conditions, n)}

    @property
    def balanced(self) -> bool:
        """Every condition has the same number of trials in the input."""
        return len(set(self.counts.values())) == 1

    def trials_used(self) -> dict:
        """``{condition: [indices of the used input trials]}`` (JSON-friendly)."""
        rows = [self.trial_index[c] if self.valid is None else self.trial_index[c][self.valid[c]]
                for c in range(self.n_cond)]
        return {str(c): [int(i) for i in r] for c, r in zip(self.conditions, rows)}


def subsample_rng(seed: int) -> np.random.Generator:
    """The generator of ``balance='random'``: spawned from ``seed``, independent of the
    pseudo-trial draws made from the same seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def unbalanced_message(design: Design, *, most: int = 12) -> str:
    """The text of :class:`UnbalancedTrialsWarning`: every condition's count, what is used."""
    items = sorted(design.counts.items(), key=lambda kv: -kv[1])
    listed = ", ".join(f"{c!r}: {n}" for c, n in items[:most]) + (" ..." if len(items) > most else "")
    how = {"first": f"its first {design.k} trials in data order",
           "random": f"{design.k} trials drawn at random (meta['seed'], meta['trials_used'])"}
    hint = "balance='random' draws them at random; " if design.balance == "first" else ""
    return (f"Conditions have unequal trial counts ({listed}); each condition uses "
            f"{how[design.balance]}, {sum(design.counts.values()) - sum(design.used.values())} trial(s) are "
            f"left out. {hint}balance=False with pseudo_trials=K averages every trial into pseudo-trials. "
            "meta['n_trials_available'] and meta['n_trials_used'] record both.")


def _sorted_unique(labels: np.ndarray) -> list:
    try:
        uniq = sorted(set(labels.tolist()))
    except TypeError as err:  # mixed str/int labels cannot be ordered
        raise TypeError(
            "Labels must all be of one kind (all strings or all numbers) so that conditions "
            f"can be sorted; got a mix ({err})."
        ) from None
    return uniq


def make_design(labels, n_trials: int, groups=None, *, min_trials: int = 2, why: str = "", balance="first",
                rng: np.random.Generator | None = None) -> Design:
    """Validate labels (and groups) and pick the trials every condition uses.

    Parameters
    ----------
    labels : sequence of str or int, shape (n_trials,)
        Condition label of every trial.
    n_trials : int
        Number of trials in the data (first axis of ``eeg``).
    groups : sequence or None, shape (n_trials,)
        Optional group id (stimulus / repetition id) of every trial.
    min_trials : int
        Smallest allowed trial count of a condition.
    why : str
        Sentence explaining the minimum (added to the error message).
    balance : {'first', 'random'} or False
        Which trials are used (module docstring).
    rng : numpy.random.Generator or None
        Draws the subsample of ``balance='random'`` (:func:`subsample_rng`).

    Returns
    -------
    Design
    """
    if isinstance(labels, (str, bytes)):
        raise TypeError("Invalid type for 'labels': str. Expected one label per trial (a list or array).")
    lab = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if lab.ndim != 1:
        raise ValueError(f"'labels' must be 1-D with one label per trial; got shape {lab.shape}.")
    if lab.dtype.kind == "f":
        if not np.all(np.isfinite(lab)):
            raise ValueError("'labels' contains NaN or inf; give one finite label per trial.")
        if np.all(lab == np.round(lab)):
            lab = lab.astype(np.int64)
    if lab.dtype.kind not in "iuUSOb":
        raise TypeError(f"Invalid labels dtype {lab.dtype}; use strings or integers.")
    if len(lab) != n_trials:
        raise ValueError(
            f"Got {len(lab)} labels for {n_trials} trials: 'labels' must have one entry per "
            f"trial (length {n_trials}, the first axis of eeg)."
        )
    conditions = _sorted_unique(lab)
    if len(conditions) < 2:
        raise ValueError(
            f"Only one condition ({conditions[0]!r}) in 'labels': an RDM needs at least 2 "
            "conditions to compare. Check that you passed the condition labels, not e.g. a run id."
        )
    idx_per_cond = [np.flatnonzero(lab == c) for c in conditions]
    counts = {c: int(len(i)) for c, i in zip(conditions, idx_per_cond)}
    few = [(c, n) for c, n in counts.items() if n < min_trials]
    if few:
        listed = ", ".join(f"{c!r} ({n} trial{'s' if n != 1 else ''})" for c, n in few)
        raise ValueError(
            f"Condition(s) {listed} have fewer than {min_trials} trials. {why or ''}"
            "Cross-validation needs at least 2 trials per condition (one to train, one to test) and "
            "LDA at least 3. Drop or merge these conditions, or collect more trials; with few trials "
            "per condition use method='cv_euclidean' (no classifier to fit; works with 2 trials) "
            "or pseudo_trials=K with a small K."
        )
    k = min(counts.values())
    valid = None
    if balance is False:
        width = max(counts.values())
        valid = np.arange(width)[None, :] < np.array([len(i) for i in idx_per_cond])[:, None]
        trial_index = np.stack([np.concatenate([i, np.full(width - len(i), i[0])]) for i in idx_per_cond])
        if valid.all():
            valid = None
    elif balance == "random" and rng is not None:
        trial_index = np.stack([np.sort(rng.choice(i, size=k, replace=False)) for i in idx_per_cond])
    else:
        trial_index = np.stack([i[:k] for i in idx_per_cond])
    g = None
    if groups is not None:
        garr = np.asarray(groups)
        if garr.ndim != 1 or len(garr) != n_trials:
            raise ValueError(
                f"'groups' must be 1-D with one id per trial ({n_trials}); got shape {garr.shape}."
            )
        _, codes = np.unique(garr.astype(str) if garr.dtype.kind == "O" else garr, return_inverse=True)
        g = codes.reshape(-1)[trial_index]
    return Design(conditions=conditions, trial_index=trial_index, counts=counts, groups=g, valid=valid,
                  balance=balance)


def assign_bins(n_cond: int, k: int, n_bins: int, *, groups=None, rng=None,
                what: str = "fold", valid=None) -> np.ndarray:
    """Assign each used trial to one of ``n_bins`` bins (folds or pseudo-trials).

    Parameters
    ----------
    n_cond, k : int
        Number of conditions and of trials per condition.
    n_bins : int
        Number of bins.
    groups : ndarray or None, shape (n_cond, k)
        Group code of every trial; all trials of a group get the same bin.
    rng : numpy.random.Generator or None
        When given, the order of trials (or groups) is shuffled before the
        assignment (random pseudo-trials); otherwise trial ``r`` of each
        condition goes to bin ``r % n_bins`` (and groups are taken in order of
        first appearance).
    what : str
        Name of a bin for error messages ("fold" or "pseudo-trial").
    valid : ndarray of bool, shape (n_cond, k), or None
        Which trials exist (``balance=False``: shorter conditions are padded at the end);
        padding gets bin -1. Needs ``rng`` and no groups.

    Returns
    -------
    ndarray of int, shape (n_cond, k)
        Bin of every trial. Every condition has at least one trial in every bin.
    """
    if valid is not None:
        out = np.full((n_cond, k), -1, dtype=np.int64)
        for c in range(n_cond):
            n_c = int(valid[c].sum())
            out[c, rng.permutation(n_c)] = np.arange(n_c) % n_bins
        return out
    if groups is None:
        if rng is None:
            return np.broadcast_to(np.arange(k) % n_bins, (n_cond, k)).copy()
        # shuffle each condition's trials, then deal them round-robin: bin sizes differ by <= 1
        out = np.empty((n_cond, k), dtype=np.int64)
        for c in range(n_cond):
            out[c, rng.permutation(k)] = np.arange(k) % n_bins
        return out
    groups = np.asarray(groups)
    flat = groups.reshape(-1)
    _, first = np.unique(flat, return_index=True)
    order = flat[np.sort(first)]  # groups in order of first appearance (condition-major)
    if rng is not None:
        order = order[rng.permutation(len(order))]
    fill = np.zeros((n_cond, n_bins), dtype=np.int64)
    bin_of_group = {}
    cond_of = np.broadcast_to(np.arange(n_cond)[:, None], groups.shape)
    for gid in order:
        mask = groups == gid
        per_cond = np.bincount(cond_of[mask], minlength=n_cond)
        touched = per_cond > 0
        # greedy: the bin whose fullest touched condition is emptiest keeps bins balanced
        load = fill[touched].max(axis=0) if touched.any() else fill.max(axis=0)
        b = int(np.argmin(load))
        bin_of_group[gid] = b
        fill[:, b] += per_cond
    out = np.vectorize(bin_of_group.__getitem__, otypes=[np.int64])(groups)
    empty = np.argwhere(fill == 0)
    if len(empty):
        c, b = empty[0]
        n_groups = len(np.unique(groups[c]))
        raise ValueError(
            f"Condition #{int(c)} has only {n_groups} distinct group(s) among its {k} used trials, "
            f"so its trials cannot fill {n_bins} {what}s without splitting a group (no trial in "
            f"{what} {int(b)}). Use fewer {what}s (at most {n_groups}) or check 'groups'."
        )
    return out


def average_bins(x: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Average the trials of each bin into pseudo-trials.

    Parameters
    ----------
    x : ndarray, shape (n_cond, k, C, T)
    bins : ndarray of int, shape (n_cond, k)
        -1 for padding (left out).
    n_bins : int

    Returns
    -------
    ndarray, shape (n_cond, n_bins, C, T)
    """
    n_cond, k = bins.shape
    onehot = np.zeros((n_cond, n_bins, k), dtype=x.dtype)
    if (bins < 0).any():
        c, r = np.nonzero(bins >= 0)
        onehot[c, bins[c, r], r] = 1.0
    else:
        onehot[np.arange(n_cond)[:, None], bins, np.arange(k)[None, :]] = 1.0
    onehot /= onehot.sum(axis=2, keepdims=True)
    return np.einsum("cbk,ckxt->cbxt", onehot, x)


def epochs_shape(eeg) -> tuple:
    """``(n_trials, n_channels, n_times)`` of epochs, from their shape alone (no value is read).

    A 2-D array (n_trials, n_channels) is one time point; 1-D and >3-D raise.
    """
    shape = tuple(eeg.shape) if hasattr(eeg, "shape") else np.shape(eeg)
    if len(shape) == 1:
        raise ValueError(
            f"'eeg' is 1-D (shape {shape}); expected (n_trials, n_channels, n_times) or "
            "(n_trials, n_channels) for a single time point. Add the channel axis, e.g. "
            "eeg[:, None] for one channel."
        )
    if len(shape) == 2:  # one time point: documented, not an error
        shape = (*shape, 1)
    if len(shape) != 3:
        raise ValueError(f"'eeg' must have shape (n_trials, n_channels, n_times); got {shape}. "
                         "Average or select the extra axes first.")
    empty = [name for name, n in zip(("trials", "channels", "time points"), shape) if n == 0]
    if empty:
        raise ValueError(f"'eeg' has no {' and no '.join(empty)} (shape (n_trials, n_channels, n_times) = "
                         f"{tuple(int(n) for n in shape)}); decoding needs at least one of each. Check the "
                         "picks, the time window (tmin/tmax, crop) and the trial selection.")
    return shape


def as_float64_epochs(eeg) -> np.ndarray:
    """Validate epochs and return them as float64 (n_trials, n_channels, n_times).

    A 2-D array (n_trials, n_channels) is one time point; 1-D, >3-D and
    non-finite values raise with the trial/channel/time index of the first bad value.
    """
    arr = eeg.detach().cpu().numpy() if hasattr(eeg, "detach") else np.asarray(eeg)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"'eeg' must be a numeric array; got dtype {arr.dtype}.")
    shape = epochs_shape(arr)
    arr = np.asarray(arr, dtype=np.float64).reshape(shape)
    bad = ~np.isfinite(arr)
    if bad.any():
        tr, ch, t = (int(i) for i in np.argwhere(bad)[0])
        n_nan = int(np.isnan(arr).sum())
        raise ValueError(
            f"'eeg' contains {n_nan} NaN and {int(bad.sum()) - n_nan} inf value(s); the first is at "
            f"trial {tr}, channel {ch}, time index {t}. Interpolate bad channels or drop bad trials first."
        )
    top = max(abs(float(arr.max())), abs(float(arr.min()))) if arr.size else 0.0
    if top > _MAX_ABS or 0 < top < _MIN_ABS:
        raise ValueError(
            f"'eeg' has max |value| = {top:.3g}, outside [{_MIN_ABS:g}, {_MAX_ABS:g}]: the covariances and "
            "Ledoit-Wolf statistics (4th powers) of such data overflow or underflow float64, which gave "
            "chance scores or linear-algebra errors. Rescale the data (e.g. volts to microvolts is 1e6).")
    return arr


#: the range of max |eeg| whose 4th powers, summed over trials and channels, stay in float64
_MAX_ABS, _MIN_ABS = 1e60, 1e-60


def apply_time_ops(x: np.ndarray, times: np.ndarray, window, decim: int):
    """Moving average over ``window`` samples (valid part), then keep every ``decim``-th.

    Parameters
    ----------
    x : ndarray, shape (..., T)
    times : ndarray, shape (T,)
    window : int or None
        Window length in samples; output sample ``s`` is the mean of input
        samples ``s .. s+window-1`` (``T - window + 1`` samples), labelled with
        the mean of their times.
    decim : int
        Keep every ``decim``-th sample after windowing.

    Returns
    -------
    x : ndarray, shape (..., T')
    times : ndarray, shape (T',)
    """
    if window is not None and window > 1:
        # only the kept windows are averaged (a view, no copy of the data per window)
        view = np.lib.stride_tricks.sliding_window_view(x, window, axis=-1)[..., ::decim, :]
        tview = np.lib.stride_tricks.sliding_window_view(times, window)[::decim]
        return view.mean(-1), tview.mean(-1)
    return x[..., ::decim], times[::decim]

"""``eeg_rdm``: time-resolved RDMs from EEG/MEG epochs by pairwise decoding (the entry point).

Why this module exists: it is the single public entry point. It turns MNE epochs into arrays
(:func:`._epochs.epochs_input`), validates the data
(:func:`._design.as_float64_epochs`) and plans the run (:func:`._plan.plan_eeg_rdm`: options,
design, sizes -- the same call the cost estimate makes), selects the used trials and applies
``window``/``decim``, then runs the method's kernel (:mod:`._methods`) through the permutation
loop of :mod:`._loop` (here, or as dask tasks: :mod:`._distributed`) and wraps the result with
every option in :class:`TimeResolvedRDM`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .._dask import check_client, client_scope
from .._progress import ProgressReporter
from .._version import __version__
from ._design import UnbalancedTrialsWarning, apply_time_ops, as_float64_epochs, unbalanced_message
from ._epochs import epochs_input
from ._distributed import accumulate_on_cluster
from ._gen_run import generalization_total, run_generalization
from ._loop import RunPlan, _accumulate, _permutation_inputs, time_blocks, _to_result
from ._methods import kernel_for
from ._plan import EEGPlan, plan_eeg_rdm
from ._result import TimeResolvedRDM

__all__ = ["eeg_rdm"]


def eeg_rdm(eeg, labels=None, *, method="lda", times=None, cv="loo", pseudo_trials=None,
            n_permutations=1, random_state=None, noise_normalization=None, shrinkage="auto",
            score="accuracy", groups=None, window=None, decim=1, device="cpu", progress=None,
            verbose=False, client=None, picks=None, level=None, balance="first", generalization=False):
    """Time-resolved RDM from EEG/MEG epochs by cross-validated pairwise decoding.

    Default semantics (``method='lda'``, ``cv='loo'``, no options): conditions
    are the unique labels in sorted order; each condition uses its first ``k``
    trials in data order, ``k`` = the smallest trial count of any condition
    (unequal counts raise :class:`UnbalancedTrialsWarning`; see ``balance``).
    For every time point and pair ``(i, j)`` and for fold ``f = 0..k-1``, trial
    ``f`` of both conditions is held out, ``sklearn LinearDiscriminantAnalysis()``
    is trained on the remaining ``2(k-1)`` trials and predicts the two held-out
    trials; the cell is the mean fraction correct over folds. Predictions are
    identical to that sklearn loop (exact batched float64 kernel). The RDM is
    symmetric with a zero diagonal; 0.5 is chance.

    Parameters
    ----------
    eeg : array-like, Tensor, mne.Epochs / mne.EpochsArray, or str / Path of an ``-epo.fif``
        Epochs (n_trials, n_channels, n_times). A 2-D array (n_trials, n_channels) is treated
        as one time point. MNE epochs (mne imported only then) give their data (the ``picks``
        channels), their times in seconds, and their event names as conditions.
    labels : sequence of str or int, shape (n_trials,), str or None
        Condition of every trial (list, numpy array or tensor); required for arrays. MNE
        epochs: None (default) = the event names of ``epochs.event_id`` (not the integer
        codes), a str = that column of ``epochs.metadata``, or an array.
    method : {'lda', 'lda_shrinkage', 'cv_euclidean', 'crossnobis'}
        ``'lda'``: sklearn ``LinearDiscriminantAnalysis()`` (svd solver), exact.
        ``'lda_shrinkage'``: ``LinearDiscriminantAnalysis(solver='lsqr',
        shrinkage=shrinkage)``. ``'cv_euclidean'``: cross-validated squared
        Euclidean distance per channel, ``(m_i-m_j)_train . (m_i-m_j)_test / C``
        averaged over folds (unbiased, can be negative; Guggenmos et al. 2018).
        ``'crossnobis'``: the same after noise normalisation with the training
        fold's covariance (``noise_normalization`` defaults to ``'epoch'``).
    times : array-like, shape (n_times,), optional
        Time of each sample, carried to the result (default ``arange(n_times)``). Arrays
        only: MNE epochs carry their times (seconds).
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
    picks : str, list or None
        MNE epochs only: channel types (``'eeg'``, ``'meg'``, ``'grad'``, ``'mag'``...) or
        names, as MNE's ``picks``; None = all data channels; bad channels are left out.
    level : int, tuple of int or None
        Hierarchical labels (MNE's ``'face/famous'``): the ``'/'``-separated part(s) that give
        the condition -- ``0`` the first (``'face'``), ``-1`` the last, ``(0, 1)`` both joined.
        None (default): the whole label.
    balance : {'first', 'random'} or False
        Conditions with unequal trial counts (a warning names them and their counts).
        ``'first'`` (default, as before): every condition uses the first ``k`` trials in data
        order (``k`` = the smallest count). ``'random'``: ``k`` trials drawn per condition
        with the seed (``random_state``, else drawn and recorded in ``meta['seed']``),
        reproducibly. ``False``: every trial, allowed with ``pseudo_trials`` only (each
        condition's trials are averaged into ``pseudo_trials`` units, so the classes stay
        balanced; any method). Without pseudo-trials the folds hold out equal numbers of single
        trials and LDA's threshold would follow the larger class, so ``False`` raises there.
        ``meta['n_trials_available']``, ``meta['n_trials_used']`` and ``meta['trials_used']``
        (the input indices per condition) record what was used.
    generalization : bool
        Temporal generalisation (King & Dehaene 2014): for every fold the classifier trained
        at time ``t`` (or the training fold's pattern difference, distance methods) is tested on
        the held-out units at every time ``t'``, with the same folds, units, options and
        exactness (decisions equal to a scikit-learn train-at-t / test-at-t' loop). Returns a
        :class:`~rdm_widgets.eeg.GeneralizationRDM` ``(n_cond, n_cond, n_times', n_times')`` whose
        ``.diagonal()`` equals the result without it. Every method; not with ``client``.
        ``progress`` then counts ``total * (1 + n_times')`` (the diagonal's fits, then one
        unit per pair, fold, train and test time).

    Returns
    -------
    TimeResolvedRDM or GeneralizationRDM
        (the latter with ``generalization=True``). ``.data`` (n_conditions, n_conditions,
        n_times'), ``.times``,
        ``.conditions`` (sorted labels) and ``.meta`` (every option, the seed,
        k, trials available and used per condition, chance level, version; for MNE
        input ``ch_names``, ``sfreq``, ``labels_from``, ``picks``).

    Notes
    -----
    Every method uses ``k`` trials of each condition (or pseudo-trials of all of
    them), so all pairs are balanced (chance is exactly 0.5 for accuracy).

    The kernels work on very many small matrices. The exact LOO LDA kernel runs
    blocks of (pair, time) in ``torch.get_num_threads()`` Python threads with one
    intra-op thread each (results do not depend on the thread count); on a
    machine busy with other jobs ``torch.set_num_threads(1)`` can still be faster.

    Examples
    --------
    >>> import numpy as np
    >>> from rdm_widgets import eeg_rdm
    >>> rng = np.random.default_rng(0)
    >>> eeg = rng.normal(size=(20, 4, 3))             # 20 trials x 4 channels x 3 time points
    >>> labels = np.repeat(["a", "b"], 10)
    >>> eeg[labels == "b", 0] += 5.0                    # condition b: channel 0 raised
    >>> rdm_t = eeg_rdm(eeg, labels)
    >>> rdm_t.shape, rdm_t.conditions
    ((2, 2, 3), ['a', 'b'])
    >>> rdm_t.data[0, 1]                                # fraction correct per time point (chance 0.5)
    array([1.  , 1.  , 0.95])
    >>> rdm = eeg_rdm(eeg, labels, times=times)            # doctest: +SKIP
    >>> rdm = eeg_rdm(epochs, picks="eeg", level=0)         # doctest: +SKIP
    >>> rdm.shape, rdm.mean_timecourse().argmax()          # doctest: +SKIP
    >>> rdm.at(rdm.time_index(0.3)).plot()                 # doctest: +SKIP
    """
    if generalization is True and client is not None:
        raise ValueError("generalization=True does not run on a dask cluster yet: leave client=None (the "
                         "train x test work runs here, in blocks bounded in memory).")
    check_client(client)            # an unreachable scheduler fails now, before any work
    inp = epochs_input(eeg, labels, times, picks=picks, level=level)
    x_all = as_float64_epochs(inp.eeg)
    plan = plan_eeg_rdm(x_all, inp.labels, method=method, times=inp.times, cv=cv, pseudo_trials=pseudo_trials,
                        n_permutations=n_permutations, random_state=random_state,
                        noise_normalization=noise_normalization, shrinkage=shrinkage, score=score,
                        groups=groups, window=window, decim=decim, device=device, balance=balance,
                        generalization=generalization)
    if plan.options.generalization and client is not None:      # numpy True
        raise ValueError("generalization=True does not run on a dask cluster yet: leave client=None.")
    if not plan.design.balanced and plan.options.balance is not False:
        warnings.warn(unbalanced_message(plan.design), UnbalancedTrialsWarning, stacklevel=2)
    run = _run_plan(x_all, plan, inp.meta)
    if plan.options.generalization:
        with ProgressReporter(generalization_total(run), progress, verbose,
                              desc=f"eeg_rdm ({run.opts.method}, generalization)") as rep:
            return run_generalization(run, rep)
    if client is not None:
        with client_scope(client) as resolved:
            acc = accumulate_on_cluster(resolved, run, progress, verbose)
    else:
        with ProgressReporter(run.total, progress, verbose, desc=f"eeg_rdm ({run.opts.method})") as rep:
            acc = _accumulate(_permutation_inputs(run), time_blocks(run.x.shape[-1], len(run.pairs)),
                              run.n_folds, run.pairs, run.run, run.opts, rep)
    return _to_result(run, acc)


def _meta(plan: EEGPlan, input_meta: dict) -> dict:
    """Every option and size of the run, for ``TimeResolvedRDM.meta`` (JSON-serialisable)."""
    opts, design = plan.options, plan.design
    used = design.used
    return dict(input_meta, **{
        "method": opts.method, "score": opts.score, "cv": opts.cv, "n_folds": plan.n_folds,
        "pseudo_trials": opts.pseudo_trials, "n_permutations": opts.n_permutations,
        "random_state": opts.random_state, "seed": plan.seed,
        "noise_normalization": opts.noise_normalization,
        "shrinkage": opts.shrinkage if opts.method == "lda_shrinkage" else None,
        "groups": design.groups is not None, "window": opts.window, "decim": opts.decim,
        "device": str(opts.device), "k": plan.k,
        "balance": opts.balance,
        "n_trials_per_condition": {str(c): n for c, n in used.items()},
        "n_trials_available": {str(c): n for c, n in design.counts.items()},
        "n_trials_used": {str(c): n for c, n in used.items()},
        "trials_used": design.trials_used(),
        "n_trials": plan.n_trials, "n_channels": plan.n_channels, "n_times_input": plan.n_times,
        "chance": opts.chance, "rdm_widgets_version": __version__, "dissimilarity": opts.dissimilarity,
    })


def _run_plan(x_all: np.ndarray, plan: EEGPlan, input_meta: dict) -> RunPlan:
    """The used trials after ``window``/``decim`` (n_cond, k, C, T), the pairs and the kernel."""
    design, opts = plan.design, plan.options
    x, times = apply_time_ops(x_all[design.trial_index], plan.times, opts.window, opts.decim)
    return RunPlan(x=np.ascontiguousarray(x), times=times, conditions=design.conditions, groups=design.groups,
                   pairs=torch.combinations(torch.arange(plan.n_conditions), 2).to(opts.device),
                   run=kernel_for(opts), opts=opts, n_folds=plan.n_folds, seed=plan.seed,
                   meta=_meta(plan, input_meta), valid=design.valid)

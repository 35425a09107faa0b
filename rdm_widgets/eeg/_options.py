"""The options of :func:`rdm_widgets.eeg.eeg_rdm`, validated once into a frozen :class:`EEGOptions`.

Why this module exists: ``eeg_rdm``, its cost estimate and its dask tasks all need the same
resolved options (the method's canonical name, the default noise normalisation of crossnobis,
the device...). :func:`check_eeg_options` validates them before any work, with MNE-style
messages, and the result travels down unchanged: nothing below re-validates an option.
Rules that need the data's sizes (pseudo-trials vs trials, folds vs units, window vs time
points) live in :mod:`._plan`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from .._covariance import check_shrinkage
from .._options import check_device
from .._validate import check_option, check_positive_int
from ._design import BALANCE
from ._gen_kernels import generalization_kernel
from ._methods import METHODS, SCORES
from ._noise import NOISE_MODES

__all__ = ["EEGOptions", "check_eeg_options", "check_balance"]


@dataclass(frozen=True)
class EEGOptions:
    """The resolved options of one :func:`rdm_widgets.eeg.eeg_rdm` call.

    Attributes
    ----------
    method : {'lda', 'lda_shrinkage', 'cv_euclidean', 'crossnobis'}
    score : {'accuracy', 'decision'}
    cv : 'loo' or int
    pseudo_trials : int or None
    n_permutations : int
    random_state : int or None
    noise_normalization : {'epoch', 'time'} or None
        ``'epoch'`` when crossnobis was given None.
    shrinkage : 'auto' or float
    window : int or None
    decim : int
    device : torch.device
    balance : {'first', 'random'} or False
        ``True`` is ``'first'``.
    generalization : bool
        Temporal generalisation: train at every time, test at every time
        (:class:`rdm_widgets.eeg.GeneralizationRDM`).
    """

    method: str = "lda"
    score: str = "accuracy"
    cv: Union[str, int] = "loo"
    pseudo_trials: Optional[int] = None
    n_permutations: int = 1
    random_state: Optional[int] = None
    noise_normalization: Optional[str] = None
    shrinkage: Union[str, float] = "auto"
    window: Optional[int] = None
    decim: int = 1
    device: torch.device = torch.device("cpu")
    balance: Union[str, bool] = "first"
    generalization: bool = False

    @property
    def is_lda(self) -> bool:
        """The method fits a classifier (LDA) rather than computing distances."""
        return METHODS[self.method].is_lda

    @property
    def chance(self) -> float:
        """The score of conditions that do not differ."""
        return METHODS[self.method].chance

    @property
    def min_units(self) -> int:
        """Fewest trials per condition: LDA trains on all but the held-out trial of each class,
        so without pseudo-trials it needs 3; distances (and pseudo-trial bins) need 2."""
        return 3 if self.is_lda and self.pseudo_trials is None else 2

    @property
    def fast_loo(self) -> bool:
        """Runs the exact batched leave-one-out LDA kernel (all folds at once)."""
        return self.method == "lda" and self.cv == "loo" and self.noise_normalization is None

    @property
    def dissimilarity(self) -> str:
        """What the RDM holds (``meta['dissimilarity']``)."""
        if not self.is_lda:
            return "cross-validated squared distance per channel"
        return "decoding accuracy" if self.score == "accuracy" else "probability of the true class"


def check_balance(balance, pseudo_trials) -> Union[str, bool]:
    """``'first'``, ``'random'`` or False (``True`` is ``'first'``); False needs pseudo-trials.

    Why only there: without pseudo-trials the units are single trials and leave-one-out (or
    k-fold) cross-validation holds out the same number of trials of both conditions -- the
    exact LDA kernel and the fold layout assume equal counts, and an LDA trained on unequal
    classes shifts its threshold towards the larger one, so chance is no longer 0.5. With
    pseudo-trials every condition has ``pseudo_trials`` units whatever its trial count, so
    every trial can be averaged in, for every method.
    """
    if balance is True:
        return "first"
    if balance is False:
        if pseudo_trials is None:
            raise ValueError("balance=False (use every trial) needs pseudo_trials=K: each condition's trials are "
                             "then averaged into K pseudo-trials, so the classes stay balanced. Without "
                             "pseudo-trials the folds hold out equal numbers of single trials; use "
                             "balance='first' (the default) or 'random' to subsample the larger conditions.")
        return False
    if not isinstance(balance, str):
        raise TypeError(f"Invalid type for 'balance': {type(balance).__name__}. Expected 'first', 'random' or "
                        "False.")
    return check_option("balance", balance, BALANCE, extra="Or False to use every trial (with pseudo_trials).")


def check_eeg_options(*, method="lda", cv="loo", pseudo_trials=None, n_permutations=1, random_state=None,
                      noise_normalization=None, shrinkage="auto", score="accuracy", window=None, decim=1,
                      device="cpu", balance="first", generalization=False) -> EEGOptions:
    """Validate the options of :func:`rdm_widgets.eeg.eeg_rdm` that do not depend on the data.

    Parameters are those of :func:`rdm_widgets.eeg.eeg_rdm`.

    Returns
    -------
    EEGOptions

    Raises
    ------
    ValueError
        An unknown method, score, cv, noise normalisation or device (with the allowed values and
        the closest one), ``n_permutations > 1`` without pseudo-trials, ``score='decision'``
        with a distance method, a shrinkage outside [0, 1].
    TypeError
        ``random_state`` that is not an integer seed, ``generalization`` that is not a bool.
    """
    method = check_option("method", method, METHODS)
    if noise_normalization is not None:
        noise_normalization = check_option("noise_normalization", noise_normalization, NOISE_MODES,
                                           extra="Or None for no noise normalisation.")
    elif METHODS[method].needs_noise:
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
    window = check_positive_int("window", window, allow_none=True)
    decim = check_positive_int("decim", decim)
    score = check_option("score", score, SCORES)
    if score != "accuracy" and not METHODS[method].is_lda:
        raise ValueError(f"score={score!r} applies to the LDA methods only; method={method!r} returns "
                         "distances. Use score='accuracy' (the default) with distance methods.")
    shrinkage = check_shrinkage(shrinkage)
    # the exact kernels are written for CPU and CUDA (float64); MPS has no float64
    dev = check_device(device, allowed_types=("cpu", "cuda"))
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, (int, np.integer))):
        raise TypeError(f"Invalid type for 'random_state': {type(random_state).__name__}. "
                        "Expected an integer seed or None.")
    return EEGOptions(method=method, score=score, cv=cv, pseudo_trials=pseudo_trials,
                      n_permutations=n_permutations,
                      random_state=None if random_state is None else int(random_state),
                      noise_normalization=noise_normalization, shrinkage=shrinkage, window=window,
                      decim=decim, device=dev, balance=check_balance(balance, pseudo_trials),
                      generalization=_check_generalization(generalization, method))


def _check_generalization(generalization, method: str) -> bool:
    """True or False (numpy bools too; anything else is a TypeError); True needs a method with
    a generalisation kernel (ValueError naming the supported ones)."""
    if not isinstance(generalization, (bool, np.bool_)):
        raise TypeError(f"Invalid type for 'generalization': {type(generalization).__name__}. Expected True "
                        "(train at every time, test at every time) or False.")
    if generalization:
        generalization_kernel(method)
    return bool(generalization)

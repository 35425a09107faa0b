"""Time-resolved EEG/MEG RDMs by cross-validated pairwise decoding.

``eeg_rdm(eeg, labels)`` turns epochs ``(n_trials, n_channels, n_times)`` into
one RDM per time point (:class:`TimeResolvedRDM`, ``.data`` of shape
``(n_conditions, n_conditions, n_times)``). The default reproduces a
leave-one-trial-pair-out ``sklearn`` LDA loop exactly; options add shrinkage
LDA, cross-validated Euclidean / crossnobis distances, pseudo-trials,
multivariate noise normalisation, k-fold and grouped cross-validation.
``eeg_rdm(epochs)`` takes MNE epochs or ``-epo.fif`` files too (event names as conditions, times
in seconds, ``picks``, ``level`` for hierarchical names); unequal trial counts raise
:class:`UnbalancedTrialsWarning` (``balance=`` chooses what is used).
``eeg_rdms({name: (eeg, labels)})`` does several subjects (one dask task each
with ``client=``). ``read_epochs(path)`` reads epochs from ``.npz`` or MNE files;
``plan_eeg_rdm(eeg, labels, **options)`` validates the options and returns what a run
will do (:class:`EEGPlan`), as the cost estimates use it.

Layout: :mod:`._api` (``eeg_rdm``), :mod:`._options` (validated options),
:mod:`._plan` (options x sizes), :mod:`._methods` (method registry and score kernels),
:mod:`._loop` (permutation loop), :mod:`._distributed` (time blocks as dask tasks),
:mod:`._subjects` (``eeg_rdms``), :mod:`._design` (conditions, folds, pseudo-trials),
:mod:`._lda` / ``_lda_*`` / :mod:`._linalg` (exact batched LDA), :mod:`._crossval`
(distances), :mod:`._noise` (noise normalisation), :mod:`._epochs` (files),
:mod:`._result` (:class:`TimeResolvedRDM`), :mod:`._generalization` (:class:`GeneralizationRDM`),
:mod:`._gen_run` / :mod:`._gen_kernels` / :mod:`._lda_weights` (temporal generalisation:
``eeg_rdm(..., generalization=True)``).
"""
from ._api import eeg_rdm
from ._design import UnbalancedTrialsWarning
from ._generalization import GeneralizationRDM
from ._epochs import Epochs, epochs_input, find_epoch_arrays, is_epochs_file, mne_available, read_epochs
from ._lda_layout import lda_regime
from ._methods import METHODS, SCORES, Method
from ._options import EEGOptions, check_eeg_options
from ._plan import EEGPlan, plan_eeg_rdm, plan_eeg_sizes
from ._result import TimeResolvedRDM
from ._subjects import eeg_rdms

__all__ = ["eeg_rdm", "eeg_rdms", "TimeResolvedRDM", "GeneralizationRDM", "Epochs", "read_epochs", "find_epoch_arrays",
           "is_epochs_file", "mne_available", "EEGOptions", "check_eeg_options", "EEGPlan", "plan_eeg_rdm",
           "plan_eeg_sizes", "METHODS", "SCORES", "Method", "lda_regime", "UnbalancedTrialsWarning", "epochs_input"]

"""Time-resolved EEG/MEG RDMs by cross-validated pairwise decoding.

``eeg_rdm(eeg, labels)`` turns epochs ``(n_trials, n_channels, n_times)`` into
one RDM per time point (:class:`TimeResolvedRDM`, ``.data`` of shape
``(n_conditions, n_conditions, n_times)``). The default reproduces a
leave-one-trial-pair-out ``sklearn`` LDA loop exactly; options add shrinkage
LDA, cross-validated Euclidean / crossnobis distances, pseudo-trials,
multivariate noise normalisation, k-fold and grouped cross-validation.
``eeg_rdms({name: (eeg, labels)})`` does several subjects (one dask task each
with ``client=``).
"""
from ._api import eeg_rdm
from ._distributed import eeg_rdms
from ._result import TimeResolvedRDM

__all__ = ["eeg_rdm", "eeg_rdms", "TimeResolvedRDM"]

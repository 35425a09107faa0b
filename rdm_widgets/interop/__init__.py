"""Interoperability with the tools users already have: MNE-Python, rsatoolbox, pandas.

Every peer is optional and imported only inside the function that needs it (an MNE object, an
rsatoolbox ``RDMs`` or a DataFrame is recognised by its class's module, without importing the
peer). This package converts between the peers' objects and plain arrays, names and dicts; the
containers of rdm_widgets (``LayerRDM``, ``RDMSet``, ``TimeResolvedRDM``, the RSA results) call it
in their ``to_*`` / ``from_*`` methods, so nothing here imports them (no import cycle).

Layout: :mod:`._mne` (epochs -> arrays, hierarchical event names), :mod:`._rsatoolbox`
(``RDMs`` <-> arrays, rsatoolbox HDF5 files read and written with h5py), :mod:`._pandas`
(square and long DataFrames, tidy tables, CSV without pandas).

Conventions that differ between rdm_widgets and rsatoolbox (both offered, documented where
used): rsatoolbox's ``'euclidean'`` RDM is the squared distance divided by the number of
channels (``distance='sqeuclidean'`` divided by D; ours is the plain distance); its pearson (``'corr'``) and tau-a noise
ceilings z-score or rank each subject's RDM before averaging
(``noise_ceiling(..., convention='rsatoolbox')``); its comparison names ``'corr'``, ``'tau-a'``
are accepted as synonyms of ``'pearson'``, ``'kendall_tau_a'``.
"""
from ._mne import MNEEpochsData, epochs_to_arrays, is_fif_path, is_mne_epochs, label_level
from ._pandas import csv_text, frame_to_square, is_dataframe, square_frame, to_frame, write_csv
from ._rsatoolbox import (NAME_DESCRIPTORS, RDMStackData, from_rsatoolbox, is_rsatoolbox_hdf5, is_rsatoolbox_rdms,
                          pattern_names, read_rsatoolbox_hdf5, to_rsatoolbox, write_rsatoolbox_hdf5)

__all__ = ["MNEEpochsData", "epochs_to_arrays", "is_fif_path", "is_mne_epochs", "label_level", "csv_text",
           "frame_to_square", "is_dataframe", "square_frame", "to_frame", "write_csv", "NAME_DESCRIPTORS",
           "RDMStackData", "from_rsatoolbox", "is_rsatoolbox_hdf5", "is_rsatoolbox_rdms", "pattern_names",
           "read_rsatoolbox_hdf5", "to_rsatoolbox", "write_rsatoolbox_hdf5"]

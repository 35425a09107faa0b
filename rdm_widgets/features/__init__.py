"""Reading DNN features: per-stimulus npz folders, per-layer npz, HDF5, arrays.

Supported inputs (detected by content, never by folder name):

- a folder of **per-stimulus** ``.npz`` files as Net2Brain's extractor writes
  them: one file per stimulus, one key per layer (``[1, C, H, W]``,
  ``[1, D]``, ``[seq, D]`` or ``[1, seq, D]``); the stimulus name is the file
  stem; a list of such file paths works too (kept in the given order);
- a folder of **per-layer** ("consolidated") ``.npz`` files: one
  ``<layer>.npz`` per layer with keys ``features`` ``(N, ...)`` and
  ``stimuli`` ``(N,)`` str, optionally ``layer`` (the layer's name when the
  file name cannot hold it);
- an **HDF5** file (``.h5`` / ``.hdf5``): one dataset ``(N, ...)`` per layer
  (nested groups give ``group/name``) and an optional ``stimuli`` dataset;
- **arrays**: ``dict[layer -> (N, ...)]`` (numpy or torch) or one array
  (layer ``'features'``).

File-derived stimulus names are in natural sort order (``img_2`` before
``img_10``); sources that store their stimuli keep the stored order.

:meth:`FeatureSource.iter_layers` streams ``(layer, (N, D))`` arrays and
:meth:`FeatureSource.iter_row_blocks` one layer in blocks of rows (out-of-core RDMs);
:meth:`FeatureSource.read_cost` counts a read from the headers and
:meth:`FeatureSource.worker_sources` says how a dask worker reopens the source. For
per-stimulus folders every file is opened once per pass and all layers of the
pass are filled from it (Net2Brain opens every file once per layer); layers are
grouped into passes whose output fits ``max_bytes``. Opening a per-stimulus folder
reads only the first file's array headers; every other file's layers and shapes
are checked while its data is read (errors name the file, the layer and both
shapes). Only when the first file cannot tell -- whether a sequence layer's
length varies (without pooling), or whether a ``[1, D]`` layer is a one-token
sequence (with pooling) -- are all headers read first.

Time-resolved reads (video / sequence models, Net2Brain's ``multi_timepoint_rdms``):
``FeatureSource.iter_time_layers`` splits ``[1, clips, ...]`` (``'clip'``) or
``[1, clips, T, ...]`` (``'all_timepoints'``) layers into (n_times, N, D) stacks, every file read
once for all layers and time points; ``FeatureSource.iter_time_blocks`` streams one such
layer in blocks of stimuli (``_time``).

Sequence rule (per stimulus, batch axis of 1 included): ``[seq, D]`` with
``seq != 1`` and ``[1, seq, D]`` have a token axis that ``pooling`` reduces;
``[1, C, H, W]``, ``[1, D]`` and ``[C, H, W]`` are flattened.

Modules: ``_base`` (the :class:`FeatureSource` interface), one module per format
(``_npz_folder``, ``_npz_layers``, ``_hdf5``, ``_arrays``), ``_pooling`` (the
:data:`POOLINGS` registry and the sequence rule), ``_shapes`` (per-layer shape checks),
``_plan`` (passes under ``max_bytes``, :class:`ReadCost`), ``_time`` (clip / time axes,
the time-resolved reads), ``_names`` (``natural_key``)
and ``_open`` (:func:`open_features`). A new format is a new module: a
:class:`FeatureSource` subclass and one line in ``_open``; no caller dispatches on the
format.
"""
from ._base import FeatureSource
from ._names import natural_key
from ._open import open_features
from ._plan import DEFAULT_MAX_BYTES, ReadCost, ReadRequest, plan_passes
from ._pooling import POOLINGS, check_pooling, pool_features
from ._time import MULTI_TIMEPOINT_MODES, TimeAxes, check_multi_timepoint

__all__ = ["open_features", "FeatureSource", "POOLINGS", "pool_features", "natural_key", "ReadCost",
           "ReadRequest", "check_pooling", "plan_passes", "DEFAULT_MAX_BYTES", "MULTI_TIMEPOINT_MODES",
           "TimeAxes", "check_multi_timepoint"]

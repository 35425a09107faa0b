"""``RDMCreator``: RDMs for every layer of a feature set (Net2Brain-compatible interface).

::

    creator = RDMCreator(verbose=True, device="cpu")
    save_path = creator.create_rdms(feature_path=feat_path, save_path=save_path, save_format="npz")

Features are streamed with :meth:`FeatureSource.iter_layers` (each per-stimulus
file is opened once for all layers) and distances come from
:func:`rdm_widgets.distances.pairwise_distances`. A run writes all RDMs into a
hidden staging folder inside ``save_path`` and moves them into place only once
every layer has succeeded, so a failed or cancelled run leaves nothing behind
(not even a replaced file when ``overwrite=True``). With ``client=`` (dask) every
layer is one task on the cluster (:mod:`rdm_widgets.batch`); the files are the same.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._dask import client_scope
from ._layer_rdms import check_reduction_options, plan_job, rdm_options
from ._options import check_device, check_dtype
from ._staging import check_save_format
from ._validate import check_type
from .batch import check_time_save_format, run_jobs, save_jobs
from .distances import available_distances

__all__ = ["RDMCreator"]


class RDMCreator:
    """Compute representational dissimilarity matrices for every layer of a feature set.

    Parameters
    ----------
    device : str or torch.device
        Where distances are computed (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'``).
        An unavailable device raises ``ValueError`` here.
    verbose : bool
        Show a tqdm progress bar.
    dtype : {'float32', 'float64'}
        Precision of features and distances (RDMs are stored in it).
    """

    def __init__(self, device="cpu", verbose: bool = False, dtype="float32"):
        self.device = check_device(device)
        self.verbose = bool(check_type("verbose", verbose, (bool, np.bool_)))
        self.dtype = check_dtype(dtype).name

    def __repr__(self):
        return f"RDMCreator(device={str(self.device)!r}, verbose={self.verbose}, dtype={self.dtype!r})"

    @staticmethod
    def distance_functions() -> list:
        """Names accepted by ``distance`` (canonical names and synonyms)."""
        return list(available_distances())

    # ------------------------------------------------------------------ computing
    def compute_rdms(self, features, distance="correlation", chunk_size=None, pooling=None,
                     layers=None, progress=None, *, client=None, multi_timepoint_rdms=None,
                     dim_reduction=None, n_components=None, n_samples_estim=100, srp_before_pca=False,
                     max_dim_allowed=None, random_state=0) -> dict:
        """Compute RDMs in memory (no files).

        Parameters
        ----------
        features : path, list of paths, dict[layer -> (N, ...)], array or FeatureSource
            Anything :func:`rdm_widgets.features.open_features` accepts.
        distance : str or callable
            A name from :meth:`distance_functions` or ``f(x: (N, D) tensor) -> (N, N)``.
        chunk_size : int or None
            Rows per distance block (bounds memory); None computes each RDM at once.
        pooling : {'mean', 'max', 'first', 'last'} or None
            Pooling over the token axis of sequence layers (needed when lengths vary).
        layers : list of str or None
            Layers to use (default all).
        progress : callable or None
            ``progress(done, total)`` over file reads plus distance blocks (with a
            ``client``: over layers); may raise :class:`rdm_widgets.Cancelled`.
        client : distributed.Client, str or None
            Compute on a dask cluster (a client or a scheduler address), one task per
            layer: a worker reads that layer's features itself (paths must be readable
            on the workers; in-memory arrays are sent per layer) and computes it with
            the same code as the local run. See ``docs/distributed.md``.
        multi_timepoint_rdms : {None, 'clip', 'all_timepoints'}
            Net2Brain's option for video / sequence models: ``'clip'`` gives one RDM per clip of
            ``[1, clips, ...]`` features (per step of ``[T, D]``), ``'all_timepoints'`` one per
            (clip, t) of ``[1, clips, T, ...]``; each layer's RDMs come as one
            :class:`~rdm_widgets.eeg.TimeResolvedRDM` (``time_labels`` name the clips / time
            points). Every file is read once for all layers and time points. Not with ``pooling``.
        dim_reduction : {None, 'pca', 'srp'}
            Reduce each layer's features before the distances (Net2Brain's option), fitted per
            layer on a seeded sample of ``n_samples_estim`` stimuli (with ``multi_timepoint_rdms``:
            of (stimulus, time point) rows, one reducer per layer shared by all its time points,
            so that the time points stay comparable). The reducer's settings are recorded in each
            RDM's ``meta['dim_reduction']``.
        n_components, n_samples_estim, srp_before_pca, max_dim_allowed, random_state
            The reduction's settings (:func:`rdm_widgets.reduction.check_reduction`); only used
            with ``dim_reduction``.

        Returns
        -------
        dict
            ``{layer: LayerRDM}`` with (N, N) matrices, in layer order; with
            ``multi_timepoint_rdms`` ``{layer: TimeResolvedRDM}`` of (N, N, n_times).
        """
        reduction = check_reduction_options(dim_reduction, n_components, n_samples_estim, srp_before_pca,
                                            max_dim_allowed, random_state)
        options = rdm_options(distance, pooling, self.dtype, self.device, chunk_size,
                              multi_timepoint_rdms=multi_timepoint_rdms, reduction=reduction)
        job = plan_job(features, layers, options)
        with client_scope(client) as resolved, \
                contextlib.closing(run_jobs([job], options, resolved, progress, self.verbose)) as done:
            found = {rdm.layer: rdm for _, rdm in done}
        return {layer: found[layer] for layer in job.layers}

    def create_rdms(self, feature_path, save_path=None, save_format="npz", distance="correlation",
                    chunk_size=None, pooling=None, *, layers=None, overwrite=False, progress=None,
                    client=None, multi_timepoint_rdms=None, dim_reduction=None, n_components=None,
                    n_samples_estim=100, srp_before_pca=False, max_dim_allowed=None, random_state=0) -> str:
        """Compute one RDM per layer and save each as ``RDM_<layer>.<save_format>``.

        Parameters
        ----------
        feature_path : path, list of paths, dict, array or FeatureSource
            Features (see :func:`rdm_widgets.features.open_features`).
        save_path : str, Path or None
            Output folder (created). None: ``rdms_YYYYmmdd_HHMMSS`` in the current
            working directory.
        save_format : {'npz', 'pt'}
            File format (both load without executing code).
        distance, chunk_size, pooling, layers, progress, client
            See :meth:`compute_rdms`. With a ``client`` the workers return the RDMs
            and this process saves them, staged and committed as in a local run.
        multi_timepoint_rdms, dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed, random_state
            See :meth:`compute_rdms`. Time-resolved RDMs are saved one file per layer,
            ``RDM_<layer>.npz`` in :meth:`rdm_widgets.eeg.TimeResolvedRDM.save`'s format
            (``save_format='npz'`` only); :meth:`rdm_widgets.eeg.TimeResolvedRDM.from_file` and
            :func:`rdm_widgets.rdm_files.load_time_resolved_rdms` read them back.
        overwrite : bool
            Replace existing RDM files; otherwise they raise ``FileExistsError``
            before anything is computed.

        Returns
        -------
        str
            The folder holding the RDM files.

        Raises
        ------
        FileExistsError
            An RDM file of this run exists and ``overwrite`` is False.
        rdm_widgets.Cancelled
            The progress callback cancelled the run; nothing is left behind.

        Examples
        --------
        >>> import os, tempfile
        >>> from rdm_widgets import RDMCreator
        >>> from rdm_widgets.demo import demo_path
        >>> out = os.path.join(tempfile.mkdtemp(), "rdms")
        >>> out = RDMCreator().create_rdms(demo_path("minilm"), out, pooling="mean",
        ...                                layers=["encoder.layer.5"])
        >>> sorted(os.listdir(out))
        ['RDM_encoder.layer.5.npz']
        """
        save_format = check_save_format(save_format)
        check_type("overwrite", overwrite, (bool, np.bool_))
        reduction = check_reduction_options(dim_reduction, n_components, n_samples_estim, srp_before_pca,
                                            max_dim_allowed, random_state)
        options = rdm_options(distance, pooling, self.dtype, self.device, chunk_size,
                              multi_timepoint_rdms=multi_timepoint_rdms, reduction=reduction)
        check_time_save_format(options, save_format)
        job = plan_job(feature_path, layers, options)
        return save_jobs([job], [save_path], options, save_format, overwrite, client=client, progress=progress,
                         verbose=self.verbose)[0]

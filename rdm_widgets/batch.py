"""Running RDM jobs here or on a dask cluster, and the RDMs of many models at once.

::

    create_rdms_many({"alexnet": "feats/alexnet", "vit": "feats/vit.h5"}, "rdms", client=client)
    # -> rdms/alexnet/RDM_<layer>.npz, rdms/vit/RDM_<layer>.npz

:func:`run_jobs` computes the layers of validated jobs (:class:`~rdm_widgets._layer_rdms.LayerJob`)
with the local loop (:func:`~rdm_widgets._layer_rdms.layer_rdms`) or, with a client, as one
task per (job, layer): the worker reads that layer's features itself and computes the RDM
with the same loop; only the (N, N) matrix travels back. :func:`save_jobs` saves them as
:meth:`RDMCreator.create_rdms` does (staged and committed, so a failure or cancel leaves
nothing behind).
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from ._dask import client_scope, map_unordered
from ._layer_rdms import RDMOptions, check_reduction_options, layer_rdms, plan_job, rdm_options, warn_at_caller
from ._options import check_device
from ._progress import ProgressReporter
from ._staging import FoldedNames, check_save_format, file_names, staged
from ._validate import check_type
from .features import open_features

__all__ = ["create_rdms_many", "run_jobs", "save_jobs", "check_time_save_format"]


def check_time_save_format(options: RDMOptions, save_format: str) -> None:
    """Time-resolved RDMs are saved as npz only (one file per layer holds every time point)."""
    if options.multi_timepoint is not None and save_format != "npz":
        raise ValueError(f"Invalid value for 'save_format': {save_format!r} with multi_timepoint_rdms="
                         f"{options.multi_timepoint!r}. Time-resolved RDMs are saved as 'npz' only.")


# ------------------------------------------------------------------ cluster side
def _layer_task(item, options: RDMOptions):
    """One cluster task: ``(LayerRDM, warnings)`` of one layer, computed on the worker."""
    (source, stimuli), layer = item
    try:
        check_device(options.device)   # this worker must have the device too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. skipped files: the client already warned when opening
            src = open_features(source, stimuli=stimuli)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # progress is counted on the client, one step per finished layer
            rdm = next(layer_rdms(src, options, [layer], ProgressReporter(0)))
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11; travels back with the exception
            err.add_note(f"rdm_widgets: while computing the RDM of layer {layer!r} on a dask worker")
        raise
    return rdm, [w.message for w in caught]


def _cluster_rdms(client, jobs: list, options: RDMOptions, progress, verbose: bool):
    """``run_jobs`` on a cluster: one task per (job, layer), yielded as tasks finish."""
    tasks = []  # (job, layer, worker source)
    for j, job in enumerate(jobs):
        # in-memory arrays are sent once per layer; files travel as absolute paths
        sources = job.source.worker_sources(job.layers, lambda items: client.scatter(items, hash=False))
        tasks += [(j, layer, s) for layer, s in zip(job.layers, sources)]
    # options.distance carries its spec: distances registered here need not exist on the workers
    items = [(s, layer) for _, layer, s in tasks]
    with ProgressReporter(len(tasks), progress, verbose, "RDMs") as rep, \
            contextlib.closing(map_unordered(client, _layer_task, items, options)) as done:
        for i, (rdm, caught) in done:
            j, layer, _ = tasks[i]
            src = jobs[j].source
            if rdm.stimuli != src.stimuli:
                raise RuntimeError(f"The workers read other stimuli for layer {layer!r} of {src.source} "
                                   f"({rdm.n_stimuli}) than this process ({src.n_stimuli}). The features must "
                                   "be the same files on the workers (a shared file system).")
            rdm.meta["source"] = src.source  # as given here (the workers got an absolute path)
            for w in caught:
                warn_at_caller(w)
            yield j, rdm
            rep.update(1)


def run_jobs(jobs: list, options: RDMOptions, client=None, progress=None, verbose: bool = False):
    """Yield ``(job_index, LayerRDM)`` for every layer of every job.

    Parameters
    ----------
    jobs : list of LayerJob
        Validated feature sets (:func:`~rdm_widgets._layer_rdms.plan_job`).
    options : RDMOptions
    client : distributed.Client or None
        None: computed here, job after job, layer after layer. A client: one task per
        (job, layer), yielded in the order they finish.
    progress : callable or None
        ``progress(done, total)``: here over file reads plus distance blocks, on a cluster
        over layers (called after the consumer has handled each RDM); may raise
        :class:`rdm_widgets.Cancelled`.
    verbose : bool
        Show a tqdm bar.

    Notes
    -----
    Close the generator (``contextlib.closing``) so that an error or cancel in the
    consumer cancels the remaining cluster tasks at once.
    """
    if client is not None:
        yield from _cluster_rdms(client, jobs, options, progress, verbose)
        return
    with ProgressReporter(sum(job.units for job in jobs), progress, verbose, "RDMs") as rep:
        for j, job in enumerate(jobs):
            for rdm in layer_rdms(job.source, options, job.layers, rep):
                yield j, rdm


def save_jobs(jobs: list, folders: list, options: RDMOptions, save_format: str, overwrite: bool, *,
              client=None, progress=None, verbose: bool = False) -> list:
    """Compute every job and save its RDMs into its folder, all or nothing.

    Parameters
    ----------
    jobs : list of LayerJob
    folders : list of (str, Path or None)
        One output folder per job (None: a new timestamped folder in the working directory).
    options : RDMOptions
    save_format : {'npz', 'pt'}
        Validated (:func:`~rdm_widgets._staging.check_save_format`).
    overwrite : bool
        Replace existing RDM files (otherwise ``FileExistsError`` before anything is computed).
    client : distributed.Client, str or None
        Resolved first, so that a bad client fails before any folder is made.
    progress, verbose
        As in :func:`run_jobs`.

    Returns
    -------
    list of str
        The folders holding the files. They are committed one after the other only once
        every RDM of every job has been computed.
    """
    names = [file_names(job.layers, save_format) for job in jobs]
    with contextlib.ExitStack() as stack:
        resolved = stack.enter_context(client_scope(client))
        staging = [stack.enter_context(staged(folder, list(n.values()), overwrite))
                   for folder, n in zip(folders, names)]
        with contextlib.closing(run_jobs(jobs, options, resolved, progress, verbose)) as done:
            for j, rdm in done:
                rdm.save(staging[j][1] / names[j][rdm.layer], format=save_format)
    return [str(folder) for folder, _ in staging]


# ------------------------------------------------------------------ many models
def _check_models(features) -> dict:
    if not isinstance(features, dict):
        raise TypeError(f"Invalid type for 'features': {type(features).__name__}. Expected a dict "
                        "{model_name: feature_path}.")
    if not features:
        raise ValueError("Invalid value for 'features': an empty dict. Give at least one model.")
    taken = FoldedNames()
    for model in features:
        bad = (not isinstance(model, str) or not model.strip() or model in (".", "..")
               or any(c in model for c in '/\\\0') or model.startswith("."))
        if bad:
            raise ValueError(f"Invalid model name {model!r}: it names the output folder save_root/<model>, so "
                             "it must be a non-empty string without '/', '\\' or a leading '.'.")
        if model in taken:
            raise ValueError(f"Model names {model!r} and another one differ only in case; their folders "
                             "would be the same on macOS and Windows.")
        taken.add(model)
    return features


def create_rdms_many(features, save_root, *, client=None, save_format="npz", distance="correlation",
                     chunk_size=None, pooling=None, layers=None, overwrite=False, progress=None,
                     device="cpu", dtype="float32", verbose=False, multi_timepoint_rdms=None,
                     dim_reduction=None, n_components=None, n_samples_estim=100, srp_before_pca=False,
                     max_dim_allowed=None, random_state=0) -> dict:
    """One RDM per layer of several models, saved as ``save_root/<model>/RDM_<layer>.<save_format>``.

    Parameters
    ----------
    features : dict
        ``{model_name: features}``; each value is anything
        :meth:`RDMCreator.create_rdms` takes (a folder, an .h5 file, a list of .npz
        paths, ``dict[layer -> (N, ...)]``, a FeatureSource). Models may differ in
        stimuli, layers and shapes.
    save_root : str or Path
        Parent folder (created); each model gets its own subfolder.
    client : distributed.Client, str or None
        Run every (model, layer) as one task on a dask cluster (a client or a
        scheduler address); paths must be readable on the workers. None computes
        here, model after model.
    save_format, distance, chunk_size, pooling, overwrite
        As in :meth:`RDMCreator.create_rdms`, for every model.
    layers : None, list of str or dict
        Layers of every model (None: all), or ``{model_name: layers}`` (models not
        listed use all their layers).
    progress : callable or None
        ``progress(done, total)``: with a client over (model, layer) tasks, else over
        file reads plus distance blocks of all models; may raise
        :class:`rdm_widgets.Cancelled`.
    device, dtype, verbose
        As in :class:`RDMCreator`.
    multi_timepoint_rdms, dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed, random_state
        As in :meth:`RDMCreator.compute_rdms`, for every model (a reducer is fitted per model
        and layer).

    Returns
    -------
    dict
        ``{model_name: folder}`` (str), in the order of ``features``.

    Notes
    -----
    Every model and layer is validated (and existing files refused unless
    ``overwrite``) before anything is computed. The RDMs are staged and the models'
    folders are committed one after the other only once every RDM of every model has
    been computed: an error or cancel during computing leaves no file of any model.
    The files equal those of ``RDMCreator(device, dtype=dtype).create_rdms(...)`` per
    model.
    """
    _check_models(features)
    root = Path(check_type("save_root", save_root, (str, Path, os.PathLike))).expanduser()
    save_format = check_save_format(save_format)
    check_type("overwrite", overwrite, (bool, np.bool_))
    if isinstance(layers, dict):
        unknown = [m for m in layers if m not in features]
        if unknown:
            raise ValueError(f"'layers' names model(s) {unknown} that are not in 'features' "
                             f"({list(features)}).")
    check_type("verbose", verbose, (bool, np.bool_))
    reduction = check_reduction_options(dim_reduction, n_components, n_samples_estim, srp_before_pca,
                                        max_dim_allowed, random_state)
    options = rdm_options(distance, pooling, dtype, device, chunk_size, multi_timepoint_rdms=multi_timepoint_rdms,
                          reduction=reduction)
    check_time_save_format(options, save_format)
    jobs = [plan_job(feats, layers.get(model) if isinstance(layers, dict) else layers, options)
            for model, feats in features.items()]
    folders = save_jobs(jobs, [root / model for model in features], options, save_format, overwrite,
                        client=client, progress=progress, verbose=bool(verbose))
    return dict(zip(features, folders))

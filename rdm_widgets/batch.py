"""RDMs of many models at once, and the ``dask.distributed`` side of :class:`RDMCreator`.

::

    create_rdms_many({"alexnet": "feats/alexnet", "vit": "feats/vit.h5"}, "rdms", client=client)
    # -> rdms/alexnet/RDM_<layer>.npz, rdms/vit/RDM_<layer>.npz

With a client every (model, layer) is one task: the worker reads that layer's features
itself and computes the RDM with the code of a local run (``RDMCreator._iter_rdms``);
only the (N, N) matrix travels back, and this process saves it (staged and committed
as :meth:`RDMCreator.create_rdms` does, so a failure or cancel leaves nothing behind).
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from ._dask import client_scope
from ._progress import ProgressReporter
from ._validate import check_option, check_type
from .creator import _SAVE_FORMATS, RDMCreator, _file_names, _FoldedNames, _staged
from .distances import resolve_distance
from .features import FeatureSource, open_features

__all__ = ["create_rdms_many"]


# ------------------------------------------------------------------ cluster side
def _layer_task(item, device, dtype, distance, name, chunk_size, pooling):
    """One cluster task: ``(LayerRDM, warnings)`` of one layer, computed on the worker."""
    (source, stimuli), layer = item
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. skipped files: the client already warned when opening
            src = open_features(source, stimuli=stimuli)
        creator = RDMCreator(device=device, verbose=False, dtype=dtype)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # progress is counted on the client, one step per finished layer
            rdm = next(creator._iter_rdms(src, distance, name, chunk_size, pooling, [layer], ProgressReporter(0)))
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11; travels back with the exception
            err.add_note(f"rdm_widgets: while computing the RDM of layer {layer!r} on a dask worker")
        raise
    return rdm, [w.message for w in caught]


def _worker_sources(client, features, src: FeatureSource, layers: list) -> list:
    """Per layer, ``(source, stimuli)`` from which a worker opens the features itself."""
    if src.kind == "arrays":
        # in-memory features: each task gets its own layer's array, sent once to the cluster
        futures = client.scatter([src._arrays[layer] for layer in layers], hash=False)
        return [({layer: f}, src.stimuli) for layer, f in zip(layers, futures)]
    if isinstance(features, (str, os.PathLike)):
        # absolute: a worker's working directory may differ (on a shared file system the path is the same)
        source = str(Path(features).expanduser().resolve())
    elif isinstance(features, (list, tuple)):
        source = [str(Path(p).expanduser().resolve()) for p in features]
    else:  # a FeatureSource over files: it only holds paths and shapes
        source = client.scatter(src, hash=False)
    return [(source, None)] * len(layers)


def cluster_rdms(client, creator: RDMCreator, jobs: list, distance, name: str, chunk_size, pooling, progress):
    """Yield ``(job_index, LayerRDM)`` as tasks finish, one task per (job, layer).

    Parameters
    ----------
    client : distributed.Client
    creator : RDMCreator
        Device, dtype and verbosity of the run.
    jobs : list of (features, FeatureSource, list of str)
        What the user passed, its opened source and the validated layers.
    distance, name, chunk_size, pooling
        As validated by ``RDMCreator._validate``.
    progress : callable or None
        ``progress(done, total)`` over layers, called after the consumer has handled
        each RDM; may raise :class:`rdm_widgets.Cancelled`.

    Notes
    -----
    Close the generator (``contextlib.closing``) so that an error or cancel in the
    consumer cancels the remaining tasks at once.
    """
    from ._dask import map_unordered

    tasks = []  # (job, layer, worker source)
    for j, (features, src, layers) in enumerate(jobs):
        tasks += [(j, layer, s) for layer, s in zip(layers, _worker_sources(client, features, src, layers))]
    # a registered name travels as its spec: distances registered here need not exist on the workers
    dist = resolve_distance(distance)[1] if isinstance(distance, str) else distance
    items = [(s, layer) for _, layer, s in tasks]
    args = (str(creator.device), creator.dtype, dist, name, chunk_size, pooling)
    with ProgressReporter(len(tasks), progress, creator.verbose, "RDMs") as rep, \
            contextlib.closing(map_unordered(client, _layer_task, items, *args)) as done:
        for i, (rdm, caught) in done:
            j, layer, _ = tasks[i]
            src = jobs[j][1]
            if rdm.stimuli != src.stimuli:
                raise RuntimeError(f"The workers read other stimuli for layer {layer!r} of {src.source} "
                                   f"({rdm.n_stimuli}) than this process ({src.n_stimuli}). The features must "
                                   "be the same files on the workers (a shared file system).")
            rdm.meta["source"] = src.source  # as given here (the workers got an absolute path)
            for w in caught:
                warnings.warn(w, stacklevel=3)
            yield j, rdm
            rep.update(1)


# ------------------------------------------------------------------ many models
def _check_models(features) -> dict:
    if not isinstance(features, dict):
        raise TypeError(f"Invalid type for 'features': {type(features).__name__}. Expected a dict "
                        "{model_name: feature_path}.")
    if not features:
        raise ValueError("Invalid value for 'features': an empty dict. Give at least one model.")
    taken = _FoldedNames()
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
                     device="cpu", dtype="float32", verbose=False) -> dict:
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
    save_format = check_option("save_format", save_format, _SAVE_FORMATS)
    check_type("overwrite", overwrite, (bool, np.bool_))
    if isinstance(layers, dict):
        unknown = [m for m in layers if m not in features]
        if unknown:
            raise ValueError(f"'layers' names model(s) {unknown} that are not in 'features' "
                             f"({list(features)}).")
    creator = RDMCreator(device=device, verbose=verbose, dtype=dtype)
    jobs = []  # (features, src, name, chunk_size, layers, reads)
    for model, feats in features.items():
        chosen = layers.get(model) if isinstance(layers, dict) else layers
        src, name, chunk, chosen, reads = creator._validate(feats, distance, chunk_size, chosen, pooling)
        jobs.append((feats, src, name, chunk, chosen, reads))
    names = [_file_names(job[4], save_format) for job in jobs]
    with contextlib.ExitStack() as stack:
        resolved = stack.enter_context(client_scope(client))   # a bad client fails before any folder is made
        staged = [stack.enter_context(_staged(root / model, list(n.values()), overwrite))
                  for model, n in zip(features, names)]
        if resolved is None:
            total = sum(creator._units(src, reads, lays, chunk) for _, src, _, chunk, lays, reads in jobs)
            with ProgressReporter(total, progress, verbose, "RDMs") as rep:
                for j, (_, src, name, chunk, lays, _) in enumerate(jobs):
                    for rdm in creator._iter_rdms(src, distance, name, chunk, pooling, lays, rep):
                        rdm.save(staged[j][1] / names[j][rdm.layer], format=save_format)
        else:
            _, _, name, chunk, _, _ = jobs[0]   # the same for every model (validated from the same options)
            work = [(feats, src, lays) for feats, src, _, _, lays, _ in jobs]
            with contextlib.closing(cluster_rdms(resolved, creator, work, distance, name, chunk, pooling,
                                                 progress)) as done:
                for j, rdm in done:
                    rdm.save(staged[j][1] / names[j][rdm.layer], format=save_format)
    return {model: str(folder) for model, (folder, _) in zip(features, staged)}

"""``tiled_rdm``: the steps of a tiled run, from the arguments to a finished store.

1. resolve the options once (:func:`._plan.check_tiled_options`) and open the features;
2. take the store's lock (:mod:`._lock`), then decide what ``save_path`` holds: nothing, a
   run to resume, or a store to overwrite (:func:`._manage.open_store`), and create the
   store if needed -- nothing is read, deleted or written before the lock is held;
3. with ``dim_reduction``: fit the layer's reducer and keep it in the store, or load it when
   resuming (:mod:`._reduce`); the tile plan then has the reduced width;
4. stage the (reduced) features (:mod:`._staging`) unless a resumed run did already;
5. compute the missing tiles here or on dask workers (:mod:`._tiles`) and write them
   (:mod:`._writer`), then build the coarser overview levels.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
import warnings
from pathlib import Path

import numpy as np

from .._dask import check_client
from .._progress import ProgressReporter
from .._validate import check_option, check_type
from .._version import __version__
from ..distances import degenerate_rows_warning
from ..features import open_features
from ..reduction import check_reduction, reduced_source
from .._reduction_options import plan_layer
from ._lock import store_lock
from ._manage import check_target, create_store, open_store
from ._plan import TiledOptions, TilePlan, check_tiled_options, plan_tiles
from ._reduce import store_reducer
from ._staging import stage_features
from ._store import OnDiskRDM
from ._tiles import dask_tiles, local_tiles
from ._writer import Writer

__all__ = ["tiled_rdm"]


def tiled_rdm(features, save_path, *, layer=None, distance="correlation", pooling=None, tile_size=4096,
              device="cpu", dtype="float32", resume=True, overwrite=False, keep_features=False,
              client=None, progress=None, verbose=False, dim_reduction=None, n_components=None,
              n_samples_estim=100, srp_before_pca=False, max_dim_allowed=None, eps=0.1,
              random_state=0) -> OnDiskRDM:
    """Compute one layer's RDM out of core, in tiles, into an on-disk store (resumable).

    Parameters
    ----------
    features : path, list of paths, dict, array or FeatureSource
        As for :func:`rdm_widgets.open_features` (npz folder, per-layer npz, HDF5 stream
        from disk a block of stimuli at a time).
    save_path : str or Path
        Store folder (created). An unfinished store of the same job is resumed.
    layer : str or None
        The layer (required when the source has several).
    distance : str or callable
        A registered distance with a ``cross`` function (all built-ins except
        ``'mahalanobis'``) or a pairwise callable ``f(x: (n, D)) -> (n, n)``.
    pooling : {'mean', 'max', 'first', 'last'} or None
        For sequence layers, as in :meth:`RDMCreator.create_rdms`.
    tile_size : int
        Stimuli per tile side (rounded up to a multiple of 8). Memory is about
        ``2 * tile_size * D + 3 * tile_size**2`` values.
    device : str
        ``'cpu'`` or ``'cuda'``; tiles are computed there.
    dtype : {'float32', 'float64'}
        Working precision; the store always holds float32.
    resume : bool
        Continue an unfinished store with the same settings (default).
    overwrite : bool
        Discard an existing store in ``save_path`` and start again (after taking its lock).
    keep_features : bool
        Keep the staged (N, D) features in the store after the run.
    client : distributed.Client, str or None
        Compute tiles on a Dask cluster (its workers must see ``save_path``).
    progress : callable or None
        ``progress(done, total)`` over staging blocks and tiles; may raise
        :class:`rdm_widgets.Cancelled` -- finished tiles are kept for a resume.
    verbose : bool
        Show a tqdm bar.
    dim_reduction : {'pca', 'srp'} or None
        Reduce the layer's features as they are staged (:mod:`rdm_widgets.reduction`):
        fitted once, stored in the store (``reduction.npz``, removed at the end with the
        staged features) so that a resumed run projects identically; recorded in
        ``meta['dim_reduction']``.
    n_components, n_samples_estim, srp_before_pca, max_dim_allowed, eps, random_state
        The reduction's options, as :func:`rdm_widgets.reduction.check_reduction`.

    Returns
    -------
    OnDiskRDM

    Raises
    ------
    RuntimeError
        Another run (any process, container or host sharing the file system) is writing
        ``save_path``; the message names it. The lock is an OS advisory lock (``flock``) on
        ``save_path/.lock``: local file systems and NFS with its lock manager (``lockd``).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from rdm_widgets import pairwise_distances, tiled_rdm
    >>> x = np.random.default_rng(0).normal(size=(300, 16)).astype("float32")
    >>> store = tiled_rdm({"fc": x}, os.path.join(tempfile.mkdtemp(), "fc.rdm"), tile_size=128)
    >>> store.n_stimuli, store.complete
    (300, True)
    >>> part = store.window((0, 50), (0, 50)).values
    >>> bool(np.allclose(part, pairwise_distances(x[:50]).numpy(), atol=1e-5))
    True
    """
    options = check_tiled_options(distance, tile_size, device, dtype)
    for flag, value in (("resume", resume), ("overwrite", overwrite), ("keep_features", keep_features),
                        ("verbose", verbose)):
        check_type(flag, value, (bool, np.bool_))
    reduction = check_reduction(dim_reduction, n_components=n_components, n_samples_estim=n_samples_estim,
                                srp_before_pca=srp_before_pca, max_dim_allowed=max_dim_allowed, eps=eps,
                                random_state=random_state)
    check_client(client)        # an unreachable scheduler fails now, before anything is staged
    src = open_features(features)
    layer, pooling = _check_layer(src, layer, pooling, options)
    store = Path(check_type("save_path", save_path, (str, os.PathLike))).expanduser()
    dim = src.feature_dim(layer, pooling)
    if reduction is not None:                           # an impossible n_components fails before any I/O
        plan_layer(reduction, layer, dim, src.n_stimuli)
    key = _resume_key(src, layer, pooling, options, dim, reduction)
    check_target(store)                                 # never put a lock into a folder that is not ours
    store.mkdir(parents=True, exist_ok=True)
    with store_lock(store):
        state = open_store(store, key, resume, overwrite)
        reducer = None
        if reduction is not None:                       # written before the manifest when fresh
            reducer = store_reducer(store, state is None, src, layer, pooling, reduction, options)
        plan = plan_tiles(src.n_stimuli, reducer.n_components if reducer else dim, options)
        if state is None:
            create_store(store, plan, key, layer, _meta(src, layer, key, options, plan, reducer), src.stimuli)
        writer = Writer(store, plan)
        run_src = src
        if reducer is not None and reducer.reduces and not writer.staged:
            run_src = reduced_source(src, reduction, pooling=pooling, dtype=options.dtype.numpy,
                                     device=options.device, reducers={layer: reducer})
        try:
            _compute(run_src, layer, pooling, options, writer, client, progress, verbose)
        except (ValueError, TypeError) as err:       # e.g. NaN in the features: say what is left behind
            _say_unfinished(err, store)
            raise
        writer.finish(keep_features)
    if writer.degenerate:
        warnings.warn(degenerate_rows_warning(layer, src.stimuli, writer.degenerate, options.distance.name),
                      stacklevel=2)
    return OnDiskRDM(store)


def _say_unfinished(err: BaseException, store: Path) -> None:
    """Add to ``err``'s message (its type and traceback kept) that the store stays unfinished and how to go on."""
    if not (err.args and isinstance(err.args[0], str)):
        return
    err.args = (f"{err.args[0].rstrip()} The store {str(store)!r} was left unfinished (finished tiles are kept): "
                "after fixing the features, pass resume=True to continue it, or overwrite=True to start "
                "again.",) + err.args[1:]


def _check_layer(src, layer, pooling, options: TiledOptions) -> tuple:
    """``(layer, canonical pooling)`` of the one layer the run computes."""
    if layer is None:
        if len(src.layers) != 1:
            raise ValueError(f"{src.source} has {len(src.layers)} layers; choose one with layer=...: "
                             f"{src.layers[:20]}")
        layer = src.layers[0]
    if isinstance(layer, str) and layer not in src.layers:
        layer = check_option("layer", layer, src.layers)      # names this argument, not 'layers'
    layer = src.select_layers(layer)[0]
    if src.n_stimuli < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli; {src.source} holds {src.n_stimuli}.")
    # canonical ('MEAN' -> 'mean'); a layer whose sequence lengths vary needs one
    pooling = src.check_read([layer], pooling, options.dtype.numpy).pooling
    return layer, pooling


def _resume_key(src, layer: str, pooling, options: TiledOptions, dim: int, reduction) -> dict:
    """The settings an unfinished store must have been started with to be resumed.

    ``feature_dim`` is the width read from the source (before any reduction); stores written
    before reductions existed have no ``dim_reduction`` key, which reads as None.
    """
    key = {"n_stimuli": src.n_stimuli, "layer": layer, "distance": options.distance.name,
           "pooling": pooling if src.has_sequence(layer) else None, "dtype": options.dtype.name,
           "tile_size": options.tile, "feature_dim": int(dim), "source": src.source,
           "stimuli_sha1": hashlib.sha1("\n".join(src.stimuli).encode()).hexdigest(),
           "dim_reduction": reduction.key() if reduction is not None else None}
    return key


def _meta(src, layer: str, key: dict, options: TiledOptions, plan: TilePlan, reducer=None) -> dict:
    """The RDM's metadata (``OnDiskRDM.meta``, ``LayerRDM.meta`` of ``to_layer_rdm``).

    ``feature_dim`` is the width the distances saw (after a reduction); ``dim_reduction`` is
    the reducer's :meth:`~rdm_widgets.reduction.Reducer.meta` (None without a reduction).
    """
    shape = src.layer_shape(layer)
    return {"dim_reduction": reducer.meta() if reducer is not None else None,
            "distance": options.distance.name, "pooling": key["pooling"], "dtype": options.dtype.name,
            "device": str(options.device), "tile_size": plan.tile, "n_stimuli": plan.n,
            "feature_shape": list(shape) if shape else None, "feature_dim": plan.d, "source": src.source,
            "source_kind": src.format, "out_of_core": True, "rdm_widgets_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _compute(src, layer: str, pooling, options: TiledOptions, writer: Writer, client, progress,
             verbose: bool) -> None:
    """Stage the features if needed, then compute and write every tile not yet done."""
    plan = writer.plan
    todo = writer.todo()
    with ProgressReporter(plan.n_reads + plan.n_tiles, progress, verbose, desc=f"RDM tiles {layer}") as rep:
        if not writer.staged:
            writer.mark_staged(stage_features(src, layer, pooling, options, plan, writer.store, rep))
        if plan.n_tiles > len(todo) or rep.done < plan.n_reads:      # resumed: count what is done at once
            rep.update(plan.n_reads - rep.done + plan.n_tiles - len(todo))
        args = (writer.store, options, plan.tiles, todo, writer.degenerate_mask(), writer.factor)
        tiles = local_tiles(*args) if client is None else dask_tiles(client, *args)
        with contextlib.closing(tiles):             # a cancelled run stops (and cancels) the workers now
            for k, t, means in tiles:
                writer.write(k, t, means)
                rep.update(1)

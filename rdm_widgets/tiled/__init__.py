"""Out-of-core RDMs: features streamed from disk, the RDM computed in tiles and written as it goes.

For N stimuli whose features (N x D) or whose RDM (N x N) do not fit in memory (NSD,
THINGS: 10,000-70,000 stimuli). :func:`tiled_rdm` runs in two passes:

1. **Stage** the layer: stream the features a block of stimuli at a time (npz per
   stimulus, per-layer npz, HDF5 or arrays; pooled and validated exactly as in memory)
   into one (N, D) ``.npy`` in the store, accumulating the column sums that
   column-centred distances need.
2. **Tiles**: for every pair of row blocks ``I <= J`` (``tile_size`` stimuli each) read
   both blocks, prepare them with the registered distance's row-local ``prepare`` and
   compute the ``I x J`` tile with its ``cross`` function (one GEMM for correlation,
   cosine, spearman and the euclidean family), on the CPU or a GPU. Each finished tile is
   written into the condensed float32 vector and into the finest overview level, flushed
   to disk, and only then marked done -- so an interrupted run (Ctrl-C, a killed job, the
   Stop button) **resumes** where it stopped, without recomputing finished tiles.

Memory is bounded by ``tile_size``: two (tile, D) blocks, one (tile, tile) tile and its
temporaries, whatever N. Disk holds the staged features (N x D, deleted at the end unless
``keep_features``) and N(N-1)/2 float32 values.

With ``dim_reduction='pca'`` or ``'srp'`` (:mod:`rdm_widgets.reduction`) the layer is reduced
as it is staged: the reducer is fitted once (PCA on a seeded sample of stimuli, SRP from its
seed), kept in the store until the run ends (``reduction.npz``), and loaded by a resumed run, so
the staged features -- and the RDM -- are those of an uninterrupted run, bit for bit.

With a ``dask.distributed`` client the tiles run on the cluster's workers (which must see
the store folder, e.g. on a shared file system); the client process writes every tile,
so results are identical to the local run.

Modules: ``_format`` (the store's files: JSON, ``.npy`` access, condensed index, overview
levels), ``_store`` (:class:`OnDiskRDM`, :class:`Window`: reading), ``_manage`` (create,
resume or overwrite a ``save_path``; :func:`delete_store`), ``_lock`` (one writer per
store), ``_plan`` (resolved options and the tile plan, shared with
:func:`rdm_widgets.estimate.estimate_tiled`), ``_staging`` (pass 1), ``_tiles`` (pass 2:
tile values, local or on dask), ``_reduce`` (the run's reducer: fitted and stored, or
reloaded), ``_writer`` (tiles and progress to disk) and ``_run`` (:func:`tiled_rdm`, the steps
in order).
"""
from ._manage import delete_store
from ._run import tiled_rdm
from ._store import OnDiskRDM, Window

__all__ = ["tiled_rdm", "delete_store", "OnDiskRDM", "Window"]

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

With a ``dask.distributed`` client the tiles run on the cluster's workers (which must see
the store folder, e.g. on a shared file system); the client process writes every tile,
so results are identical to the local run.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ._dask import client_scope, map_unordered, resolve_client
from ._distance_kernels import _all_finite, _working_copy
from ._progress import ProgressReporter
from ._row_stream import iter_row_blocks
from ._validate import check_positive_int, check_type
from .creator import _dtype_name
from .distances import DegenerateRowsWarning, _as_result, _check_device, available_distances, resolve_distance
from .features import open_features
from .ondisk import (FORMAT, NpyFile, OnDiskRDM, cell_counts, condensed_index, overview_factors, pool_means,
                     read_json, write_json)
from .plotting import block_means

__all__ = ["tiled_rdm", "estimate_tiled", "delete_store"]

_NP = {"float32": np.float32, "float64": np.float64}
_TORCH = {"float32": torch.float32, "float64": torch.float64}
#: bytes of features read per staging block
_READ_BYTES = 64 * 1024 ** 2
_OUR_FILES = ("manifest.json", "stimuli.json", "progress.json", "condensed.npy", "features.npy",
              "colmean.npy", ".lock")


# ------------------------------------------------------------------ tile computation
class _Blocks:
    """Prepared row blocks of the staged features (the last two are cached)."""

    def __init__(self, store: Path, spec, device, dtype: str, tile: int):
        self.feat = NpyFile(store / "features.npy")
        self.n, self.d = self.feat.shape
        cm = store / "colmean.npy"
        self.col_mean = np.load(cm, allow_pickle=False) if cm.is_file() else None
        self.spec, self.device, self.dtype, self.tile = spec, torch.device(device), _TORCH[dtype], tile
        self._cache: dict = {}

    def bounds(self, b: int) -> tuple:
        return b * self.tile, min(self.n, (b + 1) * self.tile)

    def prepared(self, b: int):
        if b not in self._cache:
            r0, r1 = self.bounds(b)
            x = torch.from_numpy(self.feat.read(r0 * self.d, (r1 - r0) * self.d).reshape(r1 - r0, self.d))
            if self.spec.func is not None:
                state = x.to(self.device, self.dtype)
            else:
                w = _working_copy(x, self.spec.preprocess, self.device, self.dtype, overwrite=True,
                                  col_mean=self.col_mean)
                state = self.spec.prepare(w) if self.spec.prepare is not None else w
            while len(self._cache) >= 2:
                self._cache.pop(next(iter(self._cache)))
            self._cache[b] = state
        return self._cache[b]


def _tile_values(blocks: _Blocks, bi: int, bj: int, name: str, degenerate: np.ndarray) -> np.ndarray:
    """The (|I|, |J|) float32/64 tile of block rows ``bi`` x block columns ``bj``."""
    spec = blocks.spec
    (r0, r1), (c0, c1) = blocks.bounds(bi), blocks.bounds(bj)
    with torch.no_grad():
        sa = blocks.prepared(bi)
        sb = sa if bi == bj else blocks.prepared(bj)
        if spec.func is not None:
            sub = sa if bi == bj else torch.cat([sa, sb])
            k = sub.shape[0]
            val = _as_result(spec.func(sub), (k, k), f"Custom distance {name!r} (on a block of {k} rows)")
            t = val[: r1 - r0, k - (c1 - c0):]
        else:
            t = spec.cross(sa, sb)
        t = t.to("cpu", blocks.dtype).numpy()
    if bi == bj and spec.symmetric:
        t = (t + t.T) / 2
    bad_r, bad_c = degenerate[r0:r1], degenerate[c0:c1]
    if bad_r.any() or bad_c.any():
        t[bad_r, :] = 1.0
        t[:, bad_c] = 1.0
    if bi == bj:
        np.fill_diagonal(t, 0.0)
    if not _all_finite(torch.from_numpy(t)):
        raise ValueError(f"distance={name!r} produced NaN or inf for stimuli {r0}..{r1 - 1} x {c0}..{c1 - 1}. "
                         "The features may be too large for the dtype: use dtype='float64' or rescale them.")
    return t


def _block_means(t: np.ndarray, f: int) -> np.ndarray:
    """Means of ``f x f`` blocks of a tile, as stored in the finest overview level."""
    return block_means(t, f).astype(np.float32)


def _tile_task(tile_ij, store, spec, name, device, dtype, tile, degenerate, factor):
    """Worker side of one tile (dask): values and finest-level block means."""
    blocks = _Blocks(Path(store), spec, device, dtype, tile)
    t = _tile_values(blocks, tile_ij[0], tile_ij[1], name, degenerate)
    return t, (_block_means(t, factor) if factor else None)


# ------------------------------------------------------------------ writing
class _Writer:
    """Writes tiles into the store and records which are done (the only writer)."""

    def __init__(self, store: Path, n: int, tile: int, factors: list):
        self.store, self.n, self.tile = store, n, tile
        self.cond = NpyFile(store / "condensed.npy")
        self.factor = factors[0] if factors else None
        self.level = NpyFile(store / f"overview_{self.factor}.npy") if self.factor else None
        self.state = read_json(store / "progress.json")

    def done_mask(self) -> int:
        return int(self.state.get("tiles_done", "0"), 16)

    def write(self, t_index: int, bi: int, bj: int, t: np.ndarray, means) -> None:
        r0, c0 = bi * self.tile, bj * self.tile
        with open(self.cond.path, "r+b") as fh:
            for a in range(t.shape[0]):
                i = r0 + a
                start = max(c0, i + 1)
                if start < c0 + t.shape[1]:
                    self.cond.write(int(condensed_index(i, start, self.n)), t[a, start - c0:], fh)
            fh.flush()
            os.fsync(fh.fileno())
        if self.level is not None:
            side, f = self.level.shape[1], self.factor
            with open(self.level.path, "r+b") as fh:
                for blk, (top, left) in ((means, (r0 // f, c0 // f)), (means.T, (c0 // f, r0 // f))):
                    for k in range(blk.shape[0]):
                        self.level.write((top + k) * side + left, blk[k], fh)
                    if bi == bj:
                        break
                fh.flush()
                os.fsync(fh.fileno())
        # the data is on disk; only now is the tile marked done (crash-safe resume)
        self.state["tiles_done"] = format(self.done_mask() | (1 << t_index), "x")
        write_json(self.store / "progress.json", self.state)


def _build_levels(store: Path, n: int, factors: list) -> None:
    """Coarser overview levels from the finest one, as count-weighted block means (one band of
    rows of the finer level in memory at a time)."""
    for fine, coarse in zip(factors, factors[1:]):
        src = NpyFile(store / f"overview_{fine}.npy")
        side = src.shape[0]
        counts = cell_counts(n, fine)
        step = coarse // fine
        out = NpyFile.create(store / f"overview_{coarse}.npy", (math.ceil(n / coarse),) * 2, np.float32)
        for k, top in enumerate(range(0, side, step)):
            rows = src.read(top * side, min(step, side - top) * side).reshape(-1, side)
            band = pool_means(rows, counts[top:top + len(rows)], counts, step)
            out.write(k * out.shape[1], band)


def _remove_store_files(store: Path) -> None:
    """Delete the files a store consists of (nothing else in the folder)."""
    for f in list(_OUR_FILES) + [p.name for p in store.glob("overview_*.npy")]:
        (store / f).unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(store: Path):
    lock = store / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, OSError):
                lock.unlink(missing_ok=True)            # stale: its process is gone
                continue
            raise RuntimeError(f"{str(store)!r} is being written by process {pid}. Wait for it to finish "
                               "or choose another save_path.") from None
    else:  # pragma: no cover
        raise RuntimeError(f"Could not lock {str(store)!r}.")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _open_store(store: Path, key: dict, resume: bool, overwrite: bool):
    """Return the progress state to continue from, or None for a fresh store."""
    manifest = store / "manifest.json"
    if not store.exists():
        return None
    if not store.is_dir():
        raise NotADirectoryError(f"save_path {str(store)!r} is a file; give a folder for the on-disk RDM.")
    if not manifest.is_file():
        if any(store.iterdir()):
            raise FileExistsError(f"{str(store)!r} exists and is not an on-disk RDM store; choose an empty "
                                  "or new folder (nothing in it is touched).")
        return None
    old = read_json(manifest)
    if overwrite:
        if old.get("format") != FORMAT:
            raise FileExistsError(f"{str(manifest)!r} is not an rdm_widgets store; not overwriting it.")
        _remove_store_files(store)
        return None
    state = read_json(store / "progress.json")
    if state.get("complete"):
        raise FileExistsError(f"{str(store)!r} already holds a complete RDM. Open it with OnDiskRDM(path), "
                              "or pass overwrite=True to compute it again.")
    if not resume:
        raise FileExistsError(f"{str(store)!r} holds an unfinished run. Pass resume=True to continue it or "
                              "overwrite=True to start again.")
    diff = {k: (old.get("key", {}).get(k), v) for k, v in key.items() if old.get("key", {}).get(k) != v}
    if diff:
        listed = "; ".join(f"{k}: stored {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"Cannot resume {str(store)!r}: it was started with other settings ({listed}). "
                         "Use the same arguments, overwrite=True, or another save_path.")
    return state


def _stage(src, layer, pooling, np_dtype, spec, store: Path, reporter, rows: int) -> np.ndarray:
    """Pass 1: features -> store/features.npy (+ colmean.npy); returns the degenerate mask."""
    n, d = src.n_stimuli, src.feature_dim(layer, pooling)
    feat = NpyFile.create(store / "features.npy", (n, d), np_dtype)
    colsum = np.zeros(d, np.float64)
    degenerate = np.zeros(n, bool)
    with open(feat.path, "r+b") as fh:
        for idx, x in iter_row_blocks(src, layer, pooling=pooling, dtype=np_dtype, rows=rows):
            if np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
                feat.write(int(idx[0]) * d, x, fh)
            else:
                for k, i in enumerate(idx):
                    feat.write(int(i) * d, x[k], fh)
            colsum += x.sum(axis=0, dtype=np.float64)
            if spec.degenerate is not None:
                degenerate[idx] = spec.degenerate(torch.from_numpy(x)).numpy()
            reporter.update(1)
        fh.flush()
        os.fsync(fh.fileno())
    if not np.isfinite(colsum).all():
        raise ValueError(f"Layer {layer!r}: features too large for {np.dtype(np_dtype).name} (their sums "
                         "overflow). Use dtype='float64' or rescale them.")
    with open(store / "colmean.npy", "wb") as fh:
        np.save(fh, colsum / n, allow_pickle=False)
    return degenerate


def tiled_rdm(features, save_path, *, layer=None, distance="correlation", pooling=None, tile_size=4096,
              device="cpu", dtype="float32", resume=True, overwrite=False, keep_features=False,
              client=None, progress=None, verbose=False) -> OnDiskRDM:
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
        Discard an existing store in ``save_path`` and start again.
    keep_features : bool
        Keep the staged (N, D) features in the store after the run.
    client : distributed.Client, str or None
        Compute tiles on a Dask cluster (its workers must see ``save_path``).
    progress : callable or None
        ``progress(done, total)`` over staging blocks and tiles; may raise
        :class:`rdm_widgets.Cancelled` -- finished tiles are kept for a resume.
    verbose : bool
        Show a tqdm bar.

    Returns
    -------
    OnDiskRDM
    """
    name, spec = resolve_distance(distance)
    if spec.func is None and spec.cross is None:
        ok = [d for d in available_distances(False) if resolve_distance(d)[1].cross is not None]
        raise ValueError(f"distance={name!r} cannot be computed in tiles (it needs statistics of all "
                         f"stimuli at once). Out of core: {ok} or a pairwise callable; in memory: "
                         "RDMCreator.compute_rdms / pairwise_distances.")
    dtype = _dtype_name(dtype)
    dev = _check_device(device)
    tile = check_positive_int("tile_size", tile_size, minimum=8)
    tile = -(-tile // 8) * 8
    for flag, value in (("resume", resume), ("overwrite", overwrite), ("keep_features", keep_features),
                        ("verbose", verbose)):
        check_type(flag, value, (bool, np.bool_))
    if client is not None and not isinstance(client, str):
        resolve_client(client)                                      # validates the type early
    src = open_features(features)
    if layer is None:
        if len(src.layers) != 1:
            raise ValueError(f"{src.source} has {len(src.layers)} layers; choose one with layer=...: "
                             f"{src.layers[:20]}")
        layer = src.layers[0]
    layer = src.select_layers(layer)[0]
    n = src.n_stimuli
    if n < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli; {src.source} holds {n}.")
    src._check_request([layer], pooling, _NP[dtype], None)        # pooling / varying lengths
    d = src.feature_dim(layer, pooling)
    store = Path(check_type("save_path", save_path, (str, os.PathLike))).expanduser()
    key = {"n_stimuli": n, "layer": layer, "distance": name, "pooling": pooling if src.has_sequence(layer) else None,
           "dtype": dtype, "tile_size": tile, "feature_dim": d, "source": src.source,
           "stimuli_sha1": hashlib.sha1("\n".join(src.stimuli).encode()).hexdigest()}
    state = _open_store(store, key, resume, overwrite)
    nb = math.ceil(n / tile)
    tiles = [(bi, bj) for bi in range(nb) for bj in range(bi, nb)]
    factors = overview_factors(n)
    rows = max(1, min(n, _READ_BYTES // max(1, d * np.dtype(_NP[dtype]).itemsize)))
    n_reads = math.ceil(n / rows)
    store.mkdir(parents=True, exist_ok=True)
    with _lock(store):
        if state is None:
            import rdm_widgets

            meta = {"distance": name, "pooling": key["pooling"], "dtype": dtype, "device": str(dev),
                    "tile_size": tile, "n_stimuli": n, "feature_shape": _shape(src, layer), "feature_dim": d,
                    "source": src.source, "source_kind": src.kind, "out_of_core": True,
                    "rdm_widgets_version": rdm_widgets.__version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            write_json(store / "stimuli.json", src.stimuli)
            NpyFile.create(store / "condensed.npy", (n * (n - 1) // 2,), np.float32)
            if factors:
                NpyFile.create(store / f"overview_{factors[0]}.npy", (math.ceil(n / factors[0]),) * 2, np.float32)
            state = {"features_ready": False, "tiles_done": "0", "degenerate": [], "complete": False}
            write_json(store / "progress.json", state)
            write_json(store / "manifest.json", {"format": FORMAT, "version": 1, "key": key, "layer": layer,
                                                 "n_stimuli": n, "distance": name, "tile_size": tile,
                                                 "n_tiles": len(tiles), "overview_factors": factors,
                                                 "meta": meta})
        writer = _Writer(store, n, tile, factors)
        done = writer.done_mask()
        todo = [k for k in range(len(tiles)) if not done >> k & 1]
        with ProgressReporter(n_reads + len(tiles), progress, verbose, desc=f"RDM tiles {layer}") as rep:
            if not writer.state.get("features_ready"):
                degenerate = _stage(src, layer, pooling, _NP[dtype], spec, store, rep, rows)
                writer.state.update(features_ready=True, degenerate=np.flatnonzero(degenerate).tolist())
                write_json(store / "progress.json", writer.state)
            if len(tiles) > len(todo) or rep.done < n_reads:   # resumed: count what is done at once
                rep.update(n_reads - rep.done + len(tiles) - len(todo))
            degenerate = np.zeros(n, bool)
            degenerate[writer.state.get("degenerate", [])] = True
            args = (name, str(dev), dtype, tile, degenerate, writer.factor)
            if client is None:
                blocks = _Blocks(store, spec, dev, dtype, tile)
                for k in todo:
                    t = _tile_values(blocks, *tiles[k], name, degenerate)
                    writer.write(k, *tiles[k], t, _block_means(t, writer.factor) if writer.factor else None)
                    rep.update(1)
            else:
                with client_scope(client) as cl:
                    for pos, (t, means) in map_unordered(cl, _tile_task, [tiles[k] for k in todo],
                                                         str(store), spec, *args):
                        k = todo[pos]
                        writer.write(k, *tiles[k], t, means)
                        rep.update(1)
        _build_levels(store, n, factors)
        writer.state["complete"] = True
        write_json(store / "progress.json", writer.state)
        if not keep_features:
            for f in ("features.npy", "colmean.npy"):
                (store / f).unlink(missing_ok=True)
    bad = writer.state.get("degenerate", [])
    if bad:
        names = [src.stimuli[i] for i in bad[:10]]
        warnings.warn(DegenerateRowsWarning(
            f"Layer {layer!r}: {len(bad)} stimulus/stimuli have constant (or all-zero) features, for which "
            f"distance={name!r} is undefined: {names}{' ...' if len(bad) > 10 else ''}. Their dissimilarity "
            "is set to 1 to every other stimulus.", np.asarray(bad)), stacklevel=2)
    return OnDiskRDM(store)


def estimate_tiled(n_stimuli, feature_dim, *, distance="correlation", tile_size=4096, device="cpu",
                   dtype="float32"):
    """Predict time, peak RAM and disk of :func:`tiled_rdm` from the sizes (before a run).

    Parameters
    ----------
    n_stimuli, feature_dim : int
        N and D of the layer (after pooling).
    distance, tile_size, device, dtype
        As in :func:`tiled_rdm`.

    Returns
    -------
    rdm_widgets.estimate.CostEstimate
        ``seconds`` from this machine's calibrated GEMM / cdist / disk rates (rough, about a
        factor 2); ``peak_bytes`` on top of the process (two blocks, one tile and its
        temporaries, one staging read); ``disk_bytes`` of the store while it runs (staged
        features + condensed values + overview levels). ``work`` counts ``tiles``, ``pairs``,
        ``flops`` and the bytes re-read from the staged features.
    """
    from .estimate import CostEstimate, calibrate

    name, spec = resolve_distance(distance)
    n = check_positive_int("n_stimuli", n_stimuli, minimum=2)
    d = check_positive_int("feature_dim", feature_dim)
    tile = -(-check_positive_int("tile_size", tile_size, minimum=8) // 8) * 8
    dtype = _dtype_name(dtype)
    dev = _check_device(device)
    cal = calibrate(dev)
    s = np.dtype(_NP[dtype]).itemsize
    nb = math.ceil(n / tile)
    n_tiles = nb * (nb + 1) // 2
    pairs = n * (n - 1) // 2
    cells = n_tiles * min(tile, n) ** 2                           # tiles are computed whole
    flops = 2.0 * cells * d
    compute = (cells * d / cal["cdist"]) if name in ("manhattan", "chebyshev") else flops / cal[f"gemm_{dtype}"]
    reread = 2 * n_tiles * min(tile, n) * d * s                   # both blocks of every tile
    staged = n * d * s
    levels = sum(math.ceil(n / f) ** 2 * 4 for f in overview_factors(n))
    seconds = (staged / cal["read"] + staged / cal["write"] + reread / cal["read"] + compute
               + 6 * cells * s / cal["memory"] + (pairs * 4 + levels) / cal["write"])
    t2 = min(tile, n) ** 2
    # two blocks, the tile and its symmetrised copy and output, the block means' float64 row
    # sums (tile/8 x tile x 8 bytes), one staging read and its converted copy
    peak = 2 * min(tile, n) * d * s + 3 * t2 * s + t2 + 2 * min(_READ_BYTES, staged)
    disk = staged + pairs * 4 + levels + 8 * d + 1024 + n * 24
    work = {"tiles": n_tiles, "pairs": pairs, "flops": int(flops), "reread_bytes": int(reread),
            "staged_bytes": int(staged)}
    return CostEstimate(float(seconds), int(peak), int(disk), work, str(dev))


def _shape(src, layer):
    shape = src.layer_shape(layer)
    return list(shape) if shape else None


def delete_store(path) -> None:
    """Remove an on-disk RDM store created by :func:`tiled_rdm` (only its own files)."""
    store = Path(path)
    OnDiskRDM(store)                               # refuses folders that are not stores
    _remove_store_files(store)
    with contextlib.suppress(OSError):
        store.rmdir()


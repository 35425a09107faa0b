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
import math
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from ._dask import client_scope
from ._io import rdm_filename
from ._progress import ProgressReporter
from ._validate import check_option, check_positive_int, check_type
from .distances import (DegenerateRowsWarning, _check_device, available_distances, pairwise_distances,
                        resolve_distance)
from .features import FeatureSource, open_features
from .rdm import LayerRDM

__all__ = ["RDMCreator"]

_DTYPES = {"float32": (torch.float32, np.float32), "float64": (torch.float64, np.float64)}
_SAVE_FORMATS = ("npz", "pt")


def _dtype_name(dtype) -> str:
    lookup = {torch.float32: "float32", torch.float64: "float64"}
    if isinstance(dtype, torch.dtype):
        dtype = lookup.get(dtype, str(dtype))
    elif not isinstance(dtype, str):
        with contextlib.suppress(TypeError):
            dtype = np.dtype(dtype).name
    return check_option("dtype", dtype, _DTYPES)


class _Forward:
    """Turn a ``progress(done, total)`` stream of one sub-task into reporter updates."""

    def __init__(self, reporter: ProgressReporter):
        self.reporter, self.last = reporter, 0

    def __call__(self, done, total):
        if done > self.last:
            self.reporter.update(done - self.last)
            self.last = done


def _distances_named(x, distance, stimuli, layer, **kwargs) -> torch.Tensor:
    """``pairwise_distances`` whose degenerate-row warning names stimuli instead of row indices."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pairwise_distances(x, distance, **kwargs)
    for w in caught:
        if not isinstance(w.message, DegenerateRowsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        bad = w.message.indices
        names = [stimuli[i] for i in bad[:10]]
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        warnings.warn(DegenerateRowsWarning(
            f"Layer {layer!r}: {bad.size} stimulus/stimuli have constant (or all-zero) features, "
            f"for which distance={resolve_distance(distance)[0]!r} is undefined: {names}{more}. "
            "Their dissimilarity is set to 1 to every other stimulus.", bad), stacklevel=4)
    return out


class RDMCreator:
    """Compute representational dissimilarity matrices for every layer of a feature set.

    Parameters
    ----------
    device : str or torch.device
        Where distances are computed (``'cpu'``, ``'cuda'``, ``'cuda:1'``).
        An unavailable device raises ``ValueError`` here.
    verbose : bool
        Show a tqdm progress bar.
    dtype : {'float32', 'float64'}
        Precision of features and distances (RDMs are stored in it).
    """

    def __init__(self, device="cpu", verbose: bool = False, dtype="float32"):
        self.device = _check_device(device)
        self.verbose = bool(check_type("verbose", verbose, (bool, np.bool_)))
        self.dtype = _dtype_name(dtype)

    def __repr__(self):
        return f"RDMCreator(device={str(self.device)!r}, verbose={self.verbose}, dtype={self.dtype!r})"

    @staticmethod
    def distance_functions() -> list:
        """Names accepted by ``distance`` (canonical names and synonyms)."""
        return list(available_distances())

    # ------------------------------------------------------------------ computing
    def _validate(self, features, distance, chunk_size, layers, pooling):
        name, _ = resolve_distance(distance)
        chunk_size = check_positive_int("chunk_size", chunk_size, allow_none=True)
        src = open_features(features)
        if src.n_stimuli < 2:
            raise ValueError(f"An RDM needs at least 2 stimuli; {src.source} holds {src.n_stimuli}.")
        # validates layers and pooling (variable-length layers need pooling) before any work
        reads = src.count_reads(layers, pooling, _DTYPES[self.dtype][1])
        layers = src.select_layers(layers)
        return src, name, chunk_size, layers, reads

    def _iter_rdms(self, src: FeatureSource, distance, name, chunk_size, pooling, layers, reporter):
        """Yield one :class:`LayerRDM` per layer, advancing ``reporter``."""
        import rdm_widgets

        torch_dtype, np_dtype = _DTYPES[self.dtype]
        stream = src.iter_layers(layers, pooling=pooling, dtype=np_dtype, progress=reporter)
        # Arrays read from files are ours: let the distance work in place on them, so that no
        # second copy of the features is made. In-memory inputs belong to the user: never touch.
        owned = src.kind in ("npz_folder", "npz_layers", "hdf5")
        for layer, x in stream:
            matrix = _distances_named(x, distance, src.stimuli, layer, chunk_size=chunk_size,
                                      device=self.device, dtype=torch_dtype, progress=_Forward(reporter),
                                      overwrite_x=owned and not callable(distance))
            matrix = matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)
            meta = {
                "distance": name,
                "pooling": pooling if pooling and src.has_sequence(layer) else None,
                "dtype": self.dtype,
                "device": str(self.device),
                "chunk_size": chunk_size,
                "n_stimuli": src.n_stimuli,
                "feature_shape": list(src.layer_shape(layer)) if src.layer_shape(layer) else None,
                "feature_dim": int(x.shape[1]),
                "source": src.source,
                "source_kind": src.kind,
                "rdm_widgets_version": rdm_widgets.__version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            del x
            yield LayerRDM(matrix, src.stimuli, layer, meta)

    @staticmethod
    def _units(src, reads, layers, chunk_size) -> int:
        """Progress units of a local run: file reads plus distance blocks."""
        blocks = 1 if chunk_size is None else math.ceil(src.n_stimuli / chunk_size)
        return reads + blocks * len(layers)

    def _reporter(self, src, reads, layers, chunk_size, progress, desc):
        return ProgressReporter(self._units(src, reads, layers, chunk_size), progress, self.verbose, desc)

    def compute_rdms(self, features, distance="correlation", chunk_size=None, pooling=None,
                     layers=None, progress=None, *, client=None) -> dict:
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

        Returns
        -------
        dict
            ``{layer: LayerRDM}`` with (N, N) matrices, in layer order.
        """
        src, name, chunk_size, layers, reads = self._validate(features, distance, chunk_size, layers, pooling)
        if client is not None:
            from .batch import cluster_rdms

            with client_scope(client) as resolved, \
                    contextlib.closing(cluster_rdms(resolved, self, [(features, src, layers)], distance, name,
                                                    chunk_size, pooling, progress)) as done:
                found = {rdm.layer: rdm for _, rdm in done}
            return {layer: found[layer] for layer in layers}
        with self._reporter(src, reads, layers, chunk_size, progress, "RDMs") as rep:
            out = {}
            for rdm in self._iter_rdms(src, distance, name, chunk_size, pooling, layers, rep):
                out[rdm.layer] = rdm  # a plain loop keeps the warnings' stacklevel at the caller
            return out

    def create_rdms(self, feature_path, save_path=None, save_format="npz", distance="correlation",
                    chunk_size=None, pooling=None, *, layers=None, overwrite=False, progress=None,
                    client=None) -> str:
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
        """
        save_format = check_option("save_format", save_format, _SAVE_FORMATS)
        check_type("overwrite", overwrite, (bool, np.bool_))
        src, name, chunk_size, layers, reads = self._validate(feature_path, distance, chunk_size, layers, pooling)
        names = _file_names(layers, save_format)
        # the client first: a bad one fails before any folder is made
        with client_scope(client) as resolved, \
                _staged(save_path, list(names.values()), overwrite) as (folder, staging):
            if resolved is None:
                with self._reporter(src, reads, layers, chunk_size, progress, "RDMs") as rep:
                    for rdm in self._iter_rdms(src, distance, name, chunk_size, pooling, layers, rep):
                        rdm.save(staging / names[rdm.layer], format=save_format)
            else:
                from .batch import cluster_rdms

                with contextlib.closing(cluster_rdms(resolved, self, [(feature_path, src, layers)], distance,
                                                     name, chunk_size, pooling, progress)) as done:
                    for _, rdm in done:
                        rdm.save(staging / names[rdm.layer], format=save_format)
        return str(folder)


def _file_names(layers, save_format) -> dict:
    """``{layer: 'RDM_<layer>.<save_format>'}``, unique even on case-insensitive file systems."""
    taken = _FoldedNames()
    names = {}
    for layer in layers:
        names[layer] = rdm_filename(layer, taken, save_format)
        taken.add(names[layer])
    return names


@contextlib.contextmanager
def _staged(save_path, names: list, overwrite: bool):
    """Yield ``(folder, staging)``; files written to ``staging`` named ``names`` are moved
    into ``folder`` when the block ends without error.

    ``FileExistsError`` (before any work) when a name exists and not ``overwrite``. An
    error or cancel in the block leaves neither the staging folder nor any folder this
    call created (not even a replaced file when ``overwrite=True``).
    """
    folder, created = _make_folder(save_path)
    try:
        existing = [n for n in names if (folder / n).exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"{len(existing)} RDM file(s) already exist in {str(folder)!r}: {existing[:5]}. "
                "Pass overwrite=True to replace them, or choose another save_path."
            )
        staging = folder / f".rdm_staging_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            yield folder, staging
            _commit(staging, folder, names, overwrite)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for d in reversed(created):  # only folders this run created, and only if empty
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


class _FoldedNames(set):
    """File names taken so far, compared case-insensitively: on macOS and Windows
    ``RDM_Conv.npz`` and ``RDM_conv.npz`` are the same file."""

    def __contains__(self, name):
        return super().__contains__(str(name).casefold())

    def add(self, name):
        super().add(str(name).casefold())


def _make_folder(save_path):
    """Return (folder, folders created by this call, outermost first)."""
    if save_path is None:
        base = Path.cwd() / time.strftime("rdms_%Y%m%d_%H%M%S")
        for i in range(1, 1000):
            folder = base if i == 1 else base.with_name(f"{base.name}_{i}")
            try:
                folder.mkdir()
                return folder, [folder]
            except FileExistsError:
                continue
        raise FileExistsError(f"Could not create a new folder next to {str(base)!r}.")
    folder = Path(check_type("save_path", save_path, (str, Path, os.PathLike))).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"save_path {str(folder)!r} is a file; give a folder.")
    created = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return folder, created


def _commit(staging: Path, folder: Path, names: list, overwrite: bool) -> None:
    """Move staged files into ``folder``; undo the moves if one fails."""
    moved = []
    try:
        for n in names:
            src, dst = staging / n, folder / n
            if overwrite:
                os.replace(src, dst)
            else:
                try:
                    os.link(src, dst)  # fails atomically if dst appeared meanwhile
                except FileExistsError:
                    raise FileExistsError(f"{str(dst)!r} appeared during the run; nothing was saved. "
                                          "Pass overwrite=True to replace it.") from None
                except OSError:
                    if dst.exists():
                        raise FileExistsError(f"{str(dst)!r} appeared during the run.") from None
                    os.replace(src, dst)
            moved.append(dst)
    except BaseException:
        if not overwrite:
            for dst in moved:
                with contextlib.suppress(OSError):
                    dst.unlink()
        raise

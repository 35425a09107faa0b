"""The :class:`LayerRDM` container: one RDM with its stimuli, layer and metadata.

A representational dissimilarity matrix (RDM) is a square (N, N) matrix of
dissimilarities between N stimuli. ``LayerRDM`` keeps the matrix together with
the stimulus names, the layer it was computed from and a JSON-serialisable
``meta`` dict (distance, pooling, ...), converts between square and condensed
(upper triangle) form, and saves/loads files atomically and without pickle.

It reads Net2Brain RDM files (condensed ``rdm``, ``stimuli_name``, ``layer_name`` and a
pickled ``meta`` that is never unpickled), legacy ``arr_0`` files and rsatoolbox HDF5 files,
and converts to and from rsatoolbox ``RDMs`` (:meth:`LayerRDM.to_rsatoolbox`) and pandas
DataFrames (:meth:`LayerRDM.to_frame`; ``LayerRDM(df)`` keeps the index as the stimuli).
Default stimulus names are ``"0"`` ... ``"N-1"``. The file layouts are in
:mod:`rdm_widgets._layer_rdm_files`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ._layer_rdm_files import (HDF5_SUFFIXES, RDM_FILE, float_matrix, layer_from_stack, layer_to_stack,
                               load_rdm_stack, n_from_condensed, read_layer_rdm, str_list, write_layer_rdm)
from ._stimulus_select import stimulus_indices
from ._validate import check_finite, check_option
from .features import natural_key

__all__ = ["LayerRDM", "load_rdms", "load_rdm_stack"]


class LayerRDM:
    """One RDM with its stimulus names, layer name and metadata.

    Parameters
    ----------
    matrix : array-like, torch.Tensor or pandas.DataFrame, shape (N, N)
        Square, finite dissimilarity matrix. float32/float64 are kept, other
        numeric types become float64. A square DataFrame gives its index as the
        stimulus names (its columns are aligned to the index; see :meth:`from_frame`).
    stimuli : sequence of str or None
        N stimulus names; default ``["0", "1", ..., "N-1"]`` (a DataFrame's index).
    layer : str
        Layer (or ROI / model) name.
    meta : dict or None
        Metadata; must be JSON-serialisable to be saved.

    Attributes
    ----------
    matrix : ndarray, shape (N, N)
    stimuli : list of str
    layer : str
    meta : dict
    n_stimuli : int
    data, stimuli_name, layer_name
        Net2Brain-compatible aliases of ``matrix``, ``stimuli``, ``layer``.
    """

    def __init__(self, matrix, stimuli=None, layer: str = "", meta: dict | None = None):
        from .interop._pandas import frame_to_square, is_dataframe

        if is_dataframe(matrix):
            matrix, names = frame_to_square(matrix)
            stimuli = names if stimuli is None else stimuli
        mat = float_matrix(matrix)
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
            hint = (" It looks like a condensed vector; use LayerRDM.from_condensed()."
                    if mat.ndim == 1 else "")
            hint += (" It looks like a stack of RDMs; index one (e.g. stack[0]) or use "
                     "load_rdm_stack()." if mat.ndim == 3 else "")
            raise ValueError(f"An RDM must be a square 2-D array (N, N); got shape {mat.shape}.{hint}")
        check_finite(f"RDM of layer {layer!r}", mat)
        n = mat.shape[0]
        if stimuli is None:
            stimuli = [str(i) for i in range(n)]
        else:
            stimuli = str_list(stimuli)
            if len(stimuli) != n:
                raise ValueError(
                    f"Got {len(stimuli)} stimulus names for an RDM of {n} stimuli "
                    f"(shape {mat.shape}) in layer {layer!r}; give exactly {n} names."
                )
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise TypeError(f"Invalid type for 'meta': {type(meta).__name__}. Expected a dict or None.")
        self._matrix = mat
        self._stimuli = list(stimuli)
        self.layer = str(layer) if layer is not None else ""
        self.meta = dict(meta)

    # ------------------------------------------------------------------ basics
    @property
    def matrix(self) -> np.ndarray:
        """(N, N) dissimilarity matrix."""
        return self._matrix

    @property
    def stimuli(self) -> list[str]:
        """N stimulus names."""
        return self._stimuli

    @property
    def n_stimuli(self) -> int:
        return self._matrix.shape[0]

    # Net2Brain aliases
    data = matrix
    stimuli_name = stimuli

    @property
    def layer_name(self) -> str:
        return self.layer

    def __len__(self) -> int:
        return self.n_stimuli

    def __array__(self, dtype=None, copy=None):
        return self._matrix if dtype is None else self._matrix.astype(dtype)

    def __repr__(self) -> str:
        keys = ", ".join(sorted(self.meta)) if self.meta else ""
        return (f"LayerRDM(layer={self.layer!r}, n_stimuli={self.n_stimuli}, "
                f"dtype={self._matrix.dtype}" + (f", meta keys: {keys})" if keys else ")"))

    def _new(self, matrix, stimuli, meta=None) -> "LayerRDM":
        return LayerRDM(matrix, stimuli, self.layer, dict(self.meta) if meta is None else meta)

    # ------------------------------------------------------- condensed / square
    def condensed(self) -> np.ndarray:
        """Upper triangle without diagonal, shape (N*(N-1)//2,), scipy ``squareform`` order."""
        iu = np.triu_indices(self.n_stimuli, 1)
        return self._matrix[iu]

    @classmethod
    def from_condensed(cls, vec, stimuli=None, layer: str = "", meta: dict | None = None) -> "LayerRDM":
        """Build a symmetric RDM with zero diagonal from a condensed vector.

        Parameters
        ----------
        vec : array-like, shape (N*(N-1)//2,)
            Upper triangle in scipy ``squareform`` order.
        """
        vec = float_matrix(vec)
        if vec.ndim != 1:
            raise ValueError(f"A condensed RDM must be 1-D; got shape {vec.shape}.")
        m = vec.shape[0]
        n = n_from_condensed(m)
        if n is None:
            lo = int(np.floor((1 + np.sqrt(1 + 8 * m)) / 2))
            raise ValueError(
                f"A condensed RDM has N*(N-1)/2 values; length {m} fits no N "
                f"(N={lo} needs {lo * (lo - 1) // 2}, N={lo + 1} needs {(lo + 1) * lo // 2})."
            )
        mat = np.zeros((n, n), dtype=vec.dtype)
        iu = np.triu_indices(n, 1)
        mat[iu] = vec
        mat.T[iu] = vec
        return cls(mat, stimuli, layer, meta)

    # ------------------------------------------------------------ subsetting
    def _indices(self, indices_or_names) -> np.ndarray:
        return stimulus_indices(self._stimuli, indices_or_names, self.layer)

    def subset(self, indices_or_names) -> "LayerRDM":
        """RDM restricted to some stimuli (integer indices, names or a boolean mask), in that order."""
        idx = self._indices(indices_or_names)
        return self._new(self._matrix[np.ix_(idx, idx)], [self._stimuli[i] for i in idx])

    def reorder(self, order) -> "LayerRDM":
        """Same RDM with the stimuli in a new order (a permutation of all of them)."""
        idx = self._indices(order)
        if idx.size != self.n_stimuli or np.unique(idx).size != self.n_stimuli:
            raise ValueError(
                f"'order' must be a permutation of all {self.n_stimuli} stimuli; got {idx.size} "
                f"entries ({np.unique(idx).size} distinct). Use subset() to select stimuli."
            )
        return self.subset(idx)

    def rank_transform(self) -> "LayerRDM":
        """Ranks of the upper triangle (ties averaged) rescaled to [0, 1].

        Returns a symmetric RDM with zero diagonal, in float64; a constant RDM
        becomes all zeros. ``meta['rank_transformed']`` is set to True.
        """
        from scipy.stats import rankdata

        ranks = rankdata(self.condensed().astype(np.float64))
        span = ranks.max() - ranks.min() if ranks.size else 0.0
        ranks = (ranks - ranks.min()) / span if span > 0 else np.zeros_like(ranks)
        out = LayerRDM.from_condensed(ranks, self._stimuli, self.layer, dict(self.meta))
        out.meta["rank_transformed"] = True
        return out

    # ------------------------------------------------------------- tables
    def to_frame(self, tidy: bool = False):
        """The RDM as a pandas DataFrame (imports pandas).

        Parameters
        ----------
        tidy : bool
            False: square, the stimulus names as index and columns (axis name ``stimulus``).
            True: long, one row per pair of the upper triangle, columns ``stimulus_a``,
            ``stimulus_b``, ``value`` (scipy ``squareform`` order).

        Returns
        -------
        pandas.DataFrame, shape (N, N) or (N*(N-1)/2, 3)
        """
        from .interop._pandas import square_frame, to_frame

        if not tidy:
            return square_frame(self._matrix, self._stimuli)
        iu, ju = np.triu_indices(self.n_stimuli, 1)
        return to_frame(("stimulus_a", "stimulus_b", "value"),
                        zip([self._stimuli[i] for i in iu], [self._stimuli[j] for j in ju],
                            self._matrix[iu, ju].tolist()))

    @classmethod
    def from_frame(cls, df, layer: str = "", meta: dict | None = None) -> "LayerRDM":
        """An RDM from a square DataFrame (names as index and columns) or a long one
        (``stimulus_a, stimulus_b, value``: one row per pair, either triangle or both)."""
        from .interop._pandas import frame_to_square, is_dataframe

        if not is_dataframe(df):
            raise TypeError(f"Invalid type for 'df': {type(df).__name__}. Expected a pandas DataFrame.")
        matrix, names = frame_to_square(df)
        return cls(matrix, names, layer, meta)

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """CSV text (names as header and first column, 17 digits), also written atomically to
        ``path`` when given; ``read_rdm_file`` reads it back."""
        from ._rdm_bytes import rdm_to_csv

        text = rdm_to_csv(self)
        if path is not None:
            from ._atomic import atomic_write

            with atomic_write(path, overwrite=overwrite) as f:
                f.write(text.encode("utf-8"))
        return text

    # ----------------------------------------------------------- rsatoolbox
    def to_rsatoolbox(self):
        """The RDM as an ``rsatoolbox.rdm.RDMs`` of one RDM (imports rsatoolbox).

        Pattern descriptor ``stimuli`` (the names), rdm descriptor ``layer``, descriptor
        ``meta_json`` (``meta`` as JSON) and ``dissimilarity_measure`` = ``meta['distance']``
        when set. :meth:`from_rsatoolbox` gives back the same values, names, layer and meta.
        """
        from .interop._rsatoolbox import to_rsatoolbox

        d = layer_to_stack(self._matrix, self._stimuli, self.layer, self.meta)
        return to_rsatoolbox(d.matrices, d.pattern_descriptors["stimuli"], rdm_descriptors=d.rdm_descriptors,
                             descriptors=d.descriptors, measure=d.measure)

    @classmethod
    def from_rsatoolbox(cls, rdms, index: int = 0) -> "LayerRDM":
        """RDM ``index`` of an ``rsatoolbox.rdm.RDMs`` as a LayerRDM.

        Stimulus names from a pattern descriptor (``stimuli``, ``names``, ``conds``...), the layer
        from the rdm descriptor ``layer`` (or ``name``, ``roi``, ``model``); the other rdm
        descriptors go to ``meta['rdm_descriptors']``, the measure to
        ``meta['dissimilarity_measure']``. Masked (NaN) dissimilarities raise ``ValueError``."""
        from .interop._rsatoolbox import from_rsatoolbox

        matrix, stimuli, layer, meta = layer_from_stack(from_rsatoolbox(rdms), index)
        return cls(matrix, stimuli, layer, meta)

    def plot(self, indices=None, **kwargs):
        """Plotly heatmap (see :func:`rdm_widgets.plotting.rdm_heatmap`)."""
        from .plotting import rdm_heatmap

        return rdm_heatmap(self, indices=indices, **kwargs)

    # ----------------------------------------------------------------- files
    def save(self, path, format: str | None = None, overwrite: bool = False) -> Path:
        """Save atomically to ``.npz`` (default) or ``.pt``; never executes code on load.

        Parameters
        ----------
        path : str or Path
            File name (without a suffix, ``.npz``/``.pt`` is added from
            ``format``), or an existing folder: the file is then
            ``RDM_<layer>.<format>`` inside it.
        format : {'npz', 'pt', 'hdf5'} or None
            Default: from the suffix of ``path`` (``.hdf5``/``.h5``: 'hdf5'), else ``'npz'``.
        overwrite : bool
            Replace an existing file (default: raise ``FileExistsError``).

        Returns
        -------
        Path
            The written file. npz keys: ``rdm`` (N, N), ``stimuli`` (N,) str,
            ``layer`` str, ``meta_json`` str. pt: dict with the same keys
            (``rdm`` a tensor, ``stimuli`` a list). ``hdf5`` (``.hdf5`` / ``.h5``):
            rsatoolbox's layout (see :meth:`to_rsatoolbox`), read by
            ``rsatoolbox.rdm.load_rdm`` and by :meth:`from_file`.
        """
        return write_layer_rdm(path, format, overwrite, self._matrix, self._stimuli, self.layer, self.meta)

    @classmethod
    def from_file(cls, path) -> "LayerRDM":
        """Load an RDM: our npz/pt, Net2Brain npz/pt, legacy ``arr_0`` npz, a 2-D ``.npy`` or an
        rsatoolbox ``.hdf5``/``.h5`` file of one RDM (several: :func:`load_rdms`).

        Nothing is ever unpickled: a Net2Brain pickled ``meta`` is recovered
        only when it consists of plain literals (read from the pickle opcodes),
        otherwise it is skipped and its name listed in
        ``meta['skipped_pickled_keys']``.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from rdm_widgets import LayerRDM
        >>> rdm = LayerRDM(np.array([[0.0, 1.0], [1.0, 0.0]]), stimuli=["cat", "dog"], layer="fc")
        >>> path = rdm.save(os.path.join(tempfile.mkdtemp(), "RDM_fc.npz"))
        >>> again = LayerRDM.from_file(path)
        >>> again.layer, again.stimuli, float(again.matrix[0, 1])
        ('fc', ['cat', 'dog'], 1.0)
        """
        arr, stimuli, layer, meta = read_layer_rdm(path)
        try:
            if arr.ndim == 1:
                return cls.from_condensed(arr, stimuli, layer, meta)
            return cls(arr, stimuli, layer, meta)
        except ValueError as err:
            raise ValueError(f"Invalid RDM in {str(path)!r}: {err}") from err


def load_rdms(folder, *, on_error: str = "warn") -> dict[str, LayerRDM]:
    """Load every ``RDM_*.npz`` / ``.pt`` / ``.hdf5`` file of a folder, or every RDM of an rsatoolbox set.

    Parameters
    ----------
    folder : str, Path or rsatoolbox.rdm.RDMs
        A folder; an rsatoolbox ``.hdf5``/``.h5`` file; or an ``RDMs`` object. Each RDM of an
        rsatoolbox set is one LayerRDM named by its rdm descriptor ``layer`` (or ``name``,
        ``roi``, ``model``), else ``"rdm <i>"``.
    on_error : {'warn', 'raise'}
        What an ``RDM_*`` file that cannot be read (damaged, truncated, not an RDM) does:
        ``'warn'`` (default) skips it with a warning and loads the others; ``'raise'`` raises
        a ValueError naming the file (for tables that must hold every layer, e.g.
        ``rdm-widgets compare``).

    Files of a folder are read in natural order of their names; other files are skipped
    with a warning. Keys are the layer names stored in the files (the file
    name when two files hold the same layer).

    Returns
    -------
    dict
        ``{layer: LayerRDM}``.
    """
    from .interop._rsatoolbox import from_rsatoolbox, is_rsatoolbox_rdms, read_rsatoolbox_hdf5

    on_error = check_option("on_error", on_error, ("warn", "raise"))
    if is_rsatoolbox_rdms(folder) or (isinstance(folder, (str, Path)) and Path(folder).suffix.lower()
                                      in HDF5_SUFFIXES and Path(folder).is_file()):
        data = from_rsatoolbox(folder) if is_rsatoolbox_rdms(folder) else read_rsatoolbox_hdf5(folder)
        out_set: dict[str, LayerRDM] = {}
        for i in range(data.matrices.shape[0]):
            rdm = LayerRDM(*layer_from_stack(data, i))
            out_set[rdm.layer if rdm.layer not in out_set else f"{rdm.layer} [{i}]"] = rdm
        return out_set
    folder = Path(folder)
    if folder.is_file():
        raise ValueError(f"{str(folder)!r} is a file; load_rdms reads a folder of RDM files. Read one file "
                         "with LayerRDM.from_file(path), or pass its folder.")
    if not folder.is_dir():
        raise FileNotFoundError(f"RDM folder {str(folder)!r} does not exist.")
    out: dict[str, LayerRDM] = {}
    others = []
    for f in sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: natural_key(p.name)):
        if not RDM_FILE.match(f.name):
            others.append(f.name)
            continue
        try:
            rdm = LayerRDM.from_file(f)
        except (ValueError, TypeError, OSError) as err:
            if on_error == "raise":         # a table without this layer would look complete
                raise ValueError(f"Cannot load {f.name} in RDM folder {str(folder)!r}: {err} Fix or remove "
                                 "this file (compute that layer's RDM again, or move the file out of the "
                                 "folder); the layer would be missing from the results.") from err
            warnings.warn(f"Skipping {f.name}: {err}", stacklevel=2)
            continue
        key = rdm.layer if rdm.layer not in out else f.stem
        out[key] = rdm
    if others:
        warnings.warn(f"Skipped {len(others)} file(s) in {str(folder)!r} that are not RDM_*.npz/.pt/.hdf5: "
                      f"{others[:5]}", stacklevel=2)
    if not out:
        raise ValueError(f"No RDM files (RDM_*.npz, .pt or .hdf5) found in {str(folder)!r}.")
    return out

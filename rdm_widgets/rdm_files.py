"""Brain, behaviour and hypothesis RDMs from files: one RDM or a stack of subject RDMs.

:func:`read_rdm_file` reads the formats labs exchange RDMs in and returns an :class:`RDMSet`
``(S, N, N)`` with the stimulus names when the file has them:

=========  ===================================================================================
``.npz``   our LayerRDM files (``rdm``, ``stimuli``), Net2Brain stacks (``arr_0``), or any npz
           with one of the keys ``rdm``, ``rdms``, ``arr_0``, ``dissimilarities``, ``data`` and
           optionally ``stimuli`` / ``names`` / ``stimuli_name`` / ``conditions``. Never unpickled.
``.npy``   ``(N, N)``, ``(S, N, N)``, a condensed vector ``(N(N-1)/2,)`` or ``(S, N(N-1)/2)``.
``.csv``   a square matrix; a header row and/or an index column of stimulus names are detected
           (``,``, ``;``, tab or space separated). ``.tsv`` / ``.txt`` likewise.
``.mat``   ``scipy.io.loadmat`` (v7.3 files through h5py): the only numeric 2-D/3-D variable, or
           the one named by ``variable``; MATLAB's ``(N, N, S)`` stacks are moved to ``(S, N, N)``;
           a cell array named ``stimuli``/``names``/``labels``/``conditions`` gives the names.
``.hdf5``  rsatoolbox's ``RDMs.save(path, file_type='hdf5')``: ``dissimilarities``
``.h5``    ``(n_rdm, n_pairs)``, ``pattern_descriptors/<name>`` for the stimulus names,
           ``dissimilarity_measure``; other HDF5 files with one numeric 2-D/3-D dataset.
=========  ===================================================================================

Condensed vectors are in scipy ``squareform`` order (row-major upper triangle), as rsatoolbox
and :meth:`LayerRDM.condensed` write them. Validation (:class:`RDMSet`): square, finite,
symmetric within a tolerance (else an error naming the file and the largest asymmetry),
a zero diagonal (a warning otherwise), as many names as stimuli.

Byte builders for downloads (:func:`rdm_to_csv`, :func:`rdms_to_zip`,
:func:`time_resolved_to_npz`) live in :mod:`rdm_widgets._rdm_bytes` and are re-exported here.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._npy import check_file
from ._rdm_bytes import rdm_to_csv, rdms_to_zip, time_resolved_to_npz
from ._rdm_readers import _READERS, RDM_FILE_SUFFIXES, _names, _to_stack

__all__ = ["RDMSet", "read_rdm_file", "bundled_brain_rdms", "RDM_FILE_SUFFIXES", "rdm_to_csv", "rdms_to_zip",
           "time_resolved_to_npz", "load_time_resolved_rdms"]

#: relative asymmetry ``max|A - A.T| / max|A|`` accepted as rounding (larger raises)
SYMMETRY_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class RDMSet:
    """One RDM or a stack of subject RDMs over the same stimuli, as read from a file.

    Parameters
    ----------
    rdms : array-like, shape (S, N, N) or (N, N)
        Dissimilarities (a 2-D matrix becomes a stack of one).
    stimuli : list of str or None
        N stimulus names; None when the file had none (stimuli are then matched by order).
    name : str
        Display name (ROI, behaviour, hypothesis); default the file's stem.
    source : str
        Where it came from (a file name), used in error messages.
    meta : dict
        E.g. ``dissimilarity_measure`` from rsatoolbox files.

    Raises
    ------
    ValueError
        Not square, not finite, not symmetric, fewer than 3 stimuli, or a wrong number of names;
        the message names ``source`` and the shapes.
    """

    rdms: np.ndarray
    stimuli: list | None = None
    name: str = ""
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        where = f" in {self.source!r}" if self.source else ""
        arr = np.asarray(self.rdms)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"RDM values{where} must be numeric; got dtype {arr.dtype}.")
        arr = np.array(arr, dtype=np.float64)  # a private copy: the set is immutable
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise ValueError(f"RDMs{where} must be square, shape (N, N) or (S, N, N); got shape "
                             f"{np.asarray(self.rdms).shape}.")
        n = arr.shape[1]
        if n < 3:
            raise ValueError(f"RDMs{where} have {n} stimuli (shape {arr.shape}); RSA needs at least 3.")
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"RDMs{where} (shape {arr.shape}) contain {int(bad.sum())} NaN/inf "
                             f"value(s), first at index {first}; fill or remove them.")
        asym = float(np.max(np.abs(arr - arr.transpose(0, 2, 1))))
        scale = max(float(np.max(np.abs(arr))), 1e-300)
        if asym > SYMMETRY_TOL * scale:
            s, i, j = np.unravel_index(np.argmax(np.abs(arr - arr.transpose(0, 2, 1))), arr.shape)
            raise ValueError(f"RDMs{where} are not symmetric: max |d[i,j] - d[j,i]| = {asym:.4g} "
                             f"(RDM {s}, cells [{i},{j}] and [{j},{i}]; values up to {scale:.4g}). "
                             "An RDM must be symmetric; average it with its transpose if that is meant.")
        arr = (arr + arr.transpose(0, 2, 1)) / 2  # remove rounding asymmetry
        diag = np.abs(np.diagonal(arr, axis1=1, axis2=2))
        if diag.max() > SYMMETRY_TOL * scale:
            hint = (" It looks like a similarity matrix (diagonal 1); use 1 - r."
                    if np.allclose(np.diagonal(arr, axis1=1, axis2=2), 1.0) else "")
            warnings.warn(f"RDMs{where} have a non-zero diagonal (up to {diag.max():.4g}); "
                          f"only the off-diagonal cells are used.{hint}", stacklevel=3)
        arr.setflags(write=False)
        object.__setattr__(self, "rdms", arr)
        if self.stimuli is not None:
            names = _names(self.stimuli)
            if len(names) != n:
                raise ValueError(f"RDMs{where} have {n} stimuli (shape {arr.shape}) but {len(names)} "
                                 f"stimulus names; give exactly {n} names.")
            if len(set(names)) != n:
                dup = sorted({s for s in names if names.count(s) > 1})[:5]
                raise ValueError(f"Stimulus names{where} must be unique; repeated: {dup}.")
            object.__setattr__(self, "stimuli", names)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_subjects(self) -> int:
        """S, the number of RDMs in the stack."""
        return self.rdms.shape[0]

    @property
    def n_stimuli(self) -> int:
        return self.rdms.shape[1]

    @property
    def is_stack(self) -> bool:
        """True for more than one RDM (subjects): noise ceiling and tests across subjects apply."""
        return self.n_subjects > 1

    def _layer(self, matrix, label: str):
        from .rdm import LayerRDM

        return LayerRDM(matrix, self.stimuli, label, dict(self.meta, source=self.source))

    def mean(self):
        """The mean RDM over the stack, as a :class:`rdm_widgets.rdm.LayerRDM` named after the set."""
        return self._layer(self.rdms.mean(axis=0), self.name)

    def subject(self, i: int):
        """RDM ``i`` of the stack as a LayerRDM named ``"<name> [i]"``."""
        if not -self.n_subjects <= int(i) < self.n_subjects:
            raise IndexError(f"Subject {i} is out of range for {self.n_subjects} RDMs in {self.name!r}.")
        return self._layer(self.rdms[int(i)], f"{self.name} [{int(i) % self.n_subjects}]")

    def to_rsatoolbox(self):
        """The set as an ``rsatoolbox.rdm.RDMs`` of S RDMs (imports rsatoolbox): rdm descriptor
        ``subject`` (0..S-1), pattern descriptor ``stimuli`` (when named), descriptors ``name``
        and ``source``, ``dissimilarity_measure`` from ``meta``."""
        from .interop._rsatoolbox import to_rsatoolbox

        return to_rsatoolbox(self.rdms, self.stimuli, rdm_descriptors={"subject": list(range(self.n_subjects))},
                             descriptors={"name": self.name, "source": self.source},
                             measure=self.meta.get("dissimilarity_measure"))

    @classmethod
    def from_rsatoolbox(cls, rdms, name: str | None = None) -> "RDMSet":
        """An ``rsatoolbox.rdm.RDMs`` (e.g. one RDM per subject) as an RDMSet.

        Stimulus names from a pattern descriptor (``stimuli``, ``names``, ``conds``...), the name
        from ``name`` or the descriptor ``name`` (default ``'rsatoolbox'``), the
        ``dissimilarity_measure`` in ``meta``. Masked (NaN) dissimilarities raise ``ValueError``.
        """
        from .interop._rsatoolbox import from_rsatoolbox

        data = from_rsatoolbox(rdms)
        desc = data.descriptors
        meta = {} if data.measure is None else {"dissimilarity_measure": data.measure}
        return cls(data.matrices, data.names, name if name is not None else str(desc.get("name", "rsatoolbox")),
                   str(desc.get("source", "rsatoolbox RDMs")), meta)

    def to_frame(self):
        """Tidy long table (imports pandas): ``subject, stimulus_a, stimulus_b, value``, one row
        per subject and pair of the upper triangle (names ``"0".."N-1"`` when unnamed)."""
        from .interop._pandas import to_frame

        return to_frame(*self._tidy())

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """The tidy table of :meth:`to_frame` as CSV text, also written to ``path`` when given."""
        from .interop._pandas import write_csv

        return write_csv(path, *self._tidy(), overwrite=overwrite)

    def _tidy(self) -> tuple:
        names = self.stimuli or [str(i) for i in range(self.n_stimuli)]
        iu, ju = np.triu_indices(self.n_stimuli, 1)
        rows = [(s, names[i], names[j], float(v)) for s in range(self.n_subjects)
                for i, j, v in zip(iu, ju, self.rdms[s, iu, ju])]
        return ("subject", "stimulus_a", "stimulus_b", "value"), rows

    @classmethod
    def from_layer_rdm(cls, rdm, name: str | None = None) -> "RDMSet":
        """One LayerRDM as a set of one (its stimulus names are kept)."""
        return cls(np.asarray(rdm.matrix), list(rdm.stimuli), name or rdm.layer, "", dict(rdm.meta))

    def __repr__(self) -> str:
        names = "names" if self.stimuli is not None else "no names"
        return f"RDMSet({self.name!r}, {self.n_subjects} x {self.n_stimuli} x {self.n_stimuli}, {names})"


def read_rdm_file(path, *, stimuli=None, name: str | None = None, variable: str | None = None) -> RDMSet:
    """Read a brain, behaviour or hypothesis RDM (or a stack of subject RDMs) from a file.

    Parameters
    ----------
    path : str or Path
        ``.npz``, ``.npy``, ``.csv``/``.tsv``/``.txt``, ``.mat`` or ``.hdf5``/``.h5`` (see the
        module docstring for the layouts).
    stimuli : sequence of str or None
        Stimulus names for files without names (e.g. Net2Brain's ``arr_0`` stacks). When the file
        has names too, they must be the same.
    name : str or None
        Display name (default: the file's stem).
    variable : str or None
        The npz key / MATLAB variable / HDF5 dataset holding the RDMs, when there are several.

    Returns
    -------
    RDMSet
        ``rdms`` (S, N, N) float64; ``stimuli`` the names or None.

    Raises
    ------
    ValueError
        Unknown suffix, no or several candidate arrays, wrong shapes, asymmetric or non-finite
        values, names that do not fit; each message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from rdm_widgets import read_rdm_file
    >>> path = os.path.join(tempfile.mkdtemp(), "behaviour.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(",cat,dog,car\\ncat,0,1,3\\ndog,1,0,2\\ncar,3,2,0\\n")
    >>> rdms = read_rdm_file(path)
    >>> rdms.rdms.shape, rdms.stimuli
    ((1, 3, 3), ['cat', 'dog', 'car'])
    """
    path = check_file(path, what="RDM file")       # a FIFO or device is refused, never opened
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"Unsupported RDM file {path.name!r}: use one of {', '.join(RDM_FILE_SUFFIXES)}.")
    try:
        arr, names, meta = reader(path, variable)
    except (OSError, KeyError) as err:
        raise ValueError(f"Cannot read {path.name!r} as an RDM file: {err}") from err
    stack = _to_stack(arr, repr(path.name))
    names = _names(names)
    if stimuli is not None:
        given = _names(stimuli)
        if names is not None and given != names:
            raise ValueError(f"{path.name!r} names its stimuli {names[:5]}..., which differ from the "
                             f"given stimuli {given[:5]}...; leave out 'stimuli' to use the file's names.")
        names = given
    if names is not None and len(names) != stack.shape[1]:
        raise ValueError(f"{path.name!r} holds RDMs of {stack.shape[1]} stimuli (shape {stack.shape}) "
                         f"but {len(names)} stimulus names.")
    return RDMSet(stack, names, name if name is not None else path.stem, path.name, meta)


def bundled_brain_rdms() -> dict:
    """The bundled fMRI subject RDMs of the 78 images: ``{'EVC': RDMSet, 'IT': RDMSet}``.

    15 subjects each (Net2Brain test data, Algonauts 2019 "78 images"; see
    ``demo_data/README.md``). The files hold no names; their order is ``image_01`` ..
    ``image_78`` (the provenance), which is given here, so they match the bundled MobileNetV2
    features by name.
    """
    from .demo import demo_path

    names = [f"image_{i:02d}" for i in range(1, 79)]
    return {roi: read_rdm_file(demo_path(key), stimuli=names, name=roi)
            for roi, key in (("EVC", "fmri_evc"), ("IT", "fmri_it"))}


def load_time_resolved_rdms(folder) -> dict:
    """Load every time-resolved ``RDM_<layer>.npz`` of a folder (one file per layer).

    Parameters
    ----------
    folder : str or Path
        A folder written by ``RDMCreator.create_rdms(..., multi_timepoint_rdms=...)``, or
        Net2Brain's multi-timepoint RDM files (one condensed RDM per time point).

    Returns
    -------
    dict
        ``{layer: TimeResolvedRDM}`` in natural file order; files that are no time-resolved
        RDM are skipped with a warning (e.g. a single LayerRDM file).
    """
    from ._layer_rdm_files import RDM_FILE
    from .eeg import TimeResolvedRDM
    from .features import natural_key

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"RDM folder {str(folder)!r} does not exist.")
    out: dict = {}
    for f in sorted((p for p in folder.iterdir() if p.is_file() and p.suffix == ".npz"),
                    key=lambda p: natural_key(p.name)):
        m = RDM_FILE.match(f.name)
        if not m:
            continue
        try:
            rdm = TimeResolvedRDM.from_file(f)
        except (ValueError, TypeError, OSError) as err:
            warnings.warn(f"Skipping {f.name}: {err}", stacklevel=2)
            continue
        layer = rdm.layer or m.group(1)
        out[layer if layer not in out else f.stem] = rdm
    if not out:
        raise ValueError(f"No time-resolved RDM files (RDM_<layer>.npz) found in {str(folder)!r}.")
    return out

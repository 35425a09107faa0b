"""RDMs as bytes and text: CSV matrices in and out, zips of RDM files, time-resolved RDM npz.

Downloads in a served dashboard (Voila) hand the visitor bytes, not server paths; these
builders make those bytes from the in-memory results, in the same layouts the package's own
files use, so what is downloaded loads back with :meth:`LayerRDM.from_file`,
:meth:`TimeResolvedRDM.from_file` and :func:`rdm_widgets.rdm_files.read_rdm_file`.
"""
from __future__ import annotations

import csv
import io
import zipfile

import numpy as np

from ._atomic import rdm_filename
from ._layer_rdm_files import npz_arrays

__all__ = ["rdm_to_csv", "rdms_to_zip", "time_resolved_to_npz", "read_csv_matrix", "npz_bytes"]


def npz_bytes(**arrays) -> bytes:
    """An uncompressed ``.npz`` of ``arrays`` as bytes (object arrays, which need pickle, are refused)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise TypeError(f"Cannot store {key!r} without pickle (an object array); convert it to "
                            "numbers or strings.")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def rdm_to_csv(rdm) -> str:
    """One RDM as CSV text: a header row and an index column of stimulus names.

    Values are written with 17 significant digits, so :func:`read_csv_matrix` (and
    ``read_rdm_file`` of a ``.csv``) gives back the same float64 numbers.

    Parameters
    ----------
    rdm : LayerRDM
        Anything with ``matrix`` (N, N) and ``stimuli`` (N names).
    """
    matrix = np.asarray(rdm.matrix, dtype=np.float64)
    names = [str(s) for s in rdm.stimuli]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["stimulus"] + names)
    for name, row in zip(names, matrix):
        writer.writerow([name] + [format(float(v), ".17g") for v in row])
    return buf.getvalue()


def rdms_to_zip(rdms: dict, *, csv_files: bool = True) -> bytes:
    """A zip of one ``RDM_<layer>.npz`` (and ``RDM_<layer>.csv``) per layer, as bytes.

    Parameters
    ----------
    rdms : dict
        ``{layer: LayerRDM}`` (e.g. a DNN run's result).
    csv_files : bool
        Add a CSV of every RDM beside its npz (:func:`rdm_to_csv`).

    Returns
    -------
    bytes
        A zip archive; the npz files load with :meth:`LayerRDM.from_file` (no pickle).
    """
    if not rdms:
        raise ValueError("No RDMs to put in a zip: run the computation first.")
    buf = io.BytesIO()
    taken: set = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for layer, rdm in rdms.items():
            name = rdm_filename(layer, taken, "npz")
            taken.add(name)
            zf.writestr(name, npz_bytes(**npz_arrays(rdm.matrix, rdm.stimuli, rdm.layer, rdm.meta)))
            if csv_files:
                zf.writestr(name[:-4] + ".csv", rdm_to_csv(rdm))
    return buf.getvalue()


def time_resolved_to_npz(result) -> bytes:
    """A TimeResolvedRDM as the bytes :meth:`TimeResolvedRDM.save` writes.

    Keys ``data`` (n, n, T), ``times`` (T,), ``conditions``, ``meta_json``; loads back with
    :meth:`rdm_widgets.eeg.TimeResolvedRDM.from_file`.
    """
    return npz_bytes(**result.to_npz_arrays())


# ------------------------------------------------------------------------------ CSV reading
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _rows(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    sample = "\n".join(lines[:20])
    for delim in (",", ";", "\t"):
        if delim in sample:
            return [[c.strip() for c in row] for row in csv.reader(lines, delimiter=delim)]
    return [ln.split() for ln in lines]


def read_csv_matrix(text: str, where: str = "CSV") -> tuple[np.ndarray, list[str] | None]:
    """A square matrix and its stimulus names (or None) from CSV text.

    A first row with a non-numeric cell is a header of names (its first cell may be a corner
    label such as ``stimulus`` or empty); a first column with non-numeric cells is an index of
    names. An extra all-numeric first row or column (one more than the other side) is taken as
    numeric names. Header and index must agree when both are present.

    Raises
    ------
    ValueError
        Ragged rows, non-numeric values, a non-square matrix, or header and index that differ.
    """
    rows = _rows(text)
    if not rows:
        raise ValueError(f"{where} is empty.")
    header = None
    if not all(_is_number(c) for c in rows[0][1:]):
        header, rows = rows[0], rows[1:]
    index = None
    if rows and not all(_is_number(r[0]) for r in rows):
        index, rows = [r[0] for r in rows], [r[1:] for r in rows]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"{where} has rows of different lengths {sorted(widths)}; expected a square matrix.")
    try:
        m = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{where} holds a non-numeric value ({err}); expected a square matrix of "
                         "numbers, optionally with a header row and an index column of names.") from err
    if m.ndim == 2 and header is None and index is None and m.shape[0] == m.shape[1] + 1:
        header, m = [format(v, "g") for v in m[0]], m[1:]      # numeric names in a header row
    if m.ndim == 2 and index is None and m.shape[1] == m.shape[0] + 1:
        index, m = [format(v, "g") for v in m[:, 0]], m[:, 1:]  # numeric names in an index column
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{where} holds a {m.shape[0]} x {m.shape[1] if m.ndim == 2 else 0} table of "
                         "numbers; an RDM must be square (N x N), with optional names.")
    n = m.shape[0]
    if header is not None:
        header = header[-n:] if len(header) in (n, n + 1) else header
        if len(header) != n:
            raise ValueError(f"{where}: the header row has {len(header)} names for a {n} x {n} matrix.")
    if header is not None and index is not None and header != index:
        raise ValueError(f"{where}: the header row {header[:4]}... and the index column {index[:4]}... "
                         "name different stimuli; they must list the same stimuli in the same order.")
    return m, header if header is not None else index

"""pandas DataFrames and CSV files: RDMs with stimulus names on both axes, results as tidy tables.

Why this module exists: every result object of the package (``LayerRDM``, ``RSAResult``,
``RSATable``, noise ceilings, ``TimeResolvedRDM``, RSA time courses) becomes a table the same
way. Each builds its rows as plain ``(columns, rows)`` -- a tuple of column names and a list of
tuples -- and calls :func:`to_frame` (pandas, imported here only) or :func:`write_csv` (the
standard ``csv`` module: CSV export never needs pandas). Floats are written with ``repr`` so that
they read back exactly; NaN and None are empty cells.
"""
from __future__ import annotations

import csv
import io
import math

import numpy as np

__all__ = ["is_dataframe", "to_frame", "csv_text", "write_csv", "square_frame", "frame_to_square"]


def is_dataframe(obj) -> bool:
    """Whether ``obj`` is a pandas DataFrame (recognised without importing pandas)."""
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns") and hasattr(obj, "index")


def _pandas():
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError("Tables need pandas: pip install pandas (or rdm_widgets[interop]); "
                          "to_csv() works without it.") from err
    return pd


def to_frame(columns, rows):
    """A DataFrame of ``rows`` (a list of tuples or dicts) with ``columns``."""
    pd = _pandas()
    rows = [tuple(r[c] for c in columns) if isinstance(r, dict) else tuple(r) for r in rows]
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


def csv_text(columns, rows) -> str:
    """CSV text with a header row (floats round-trip exactly; NaN/None as empty cells)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        values = [r.get(c) for c in columns] if isinstance(r, dict) else list(r)
        writer.writerow([_cell(v) for v in values])
    return buf.getvalue()


def write_csv(path, columns, rows, *, overwrite: bool = False) -> str:
    """:func:`csv_text`, written atomically to ``path`` when given; returns the text.

    Parameters
    ----------
    path : str, Path or None
        Destination; an existing file raises ``FileExistsError`` unless ``overwrite``.
    """
    text = csv_text(columns, rows)
    if path is not None:
        from .._atomic import atomic_write

        with atomic_write(path, overwrite=overwrite) as f:
            f.write(text.encode("utf-8"))
    return text


def square_frame(matrix, names, *, axis_name: str = "stimulus"):
    """An (N, N) matrix as a DataFrame with the names as index and columns."""
    pd = _pandas()
    index = pd.Index([str(s) for s in names], name=axis_name)
    return pd.DataFrame(np.asarray(matrix), index=index, columns=index.copy())


def frame_to_square(df) -> tuple:
    """``(matrix (N, N), names)`` from a square DataFrame or a tidy long one.

    Parameters
    ----------
    df : pandas.DataFrame
        Square: the index and the columns hold the same N names (the columns may be in another
        order; they are aligned to the index). Long: two name columns and one numeric column
        (e.g. ``stimulus_a, stimulus_b, value``), one row per pair, either triangle or both;
        the diagonal is 0 unless given.

    Raises
    ------
    ValueError
        Index and columns that are not the same names, a long table with missing pairs or with
        two different values for one pair.
    """
    index = [str(s) for s in df.index]
    columns = [str(c) for c in df.columns]
    if len(index) == len(columns) and sorted(index) == sorted(columns) and len(set(index)) == len(index):
        pos = {c: i for i, c in enumerate(columns)}
        values = np.asarray(df.to_numpy(), dtype=np.float64)
        return values[:, [pos[s] for s in index]], index
    numeric = [c for c in df.columns if df[c].dtype.kind in "fiu"]
    text = [c for c in df.columns if c not in numeric]
    if len(df.columns) == 3 and len(numeric) >= 1 and len(text) in (2, 0):
        a, b, v = (text + [c for c in numeric])[:3] if len(text) == 2 else tuple(df.columns)
        return _long_to_square(df, a, b, v)
    raise ValueError(f"A DataFrame RDM must be square with the same stimulus names as index and columns "
                     f"(got {len(index)} rows {index[:3]}... and {len(columns)} columns {columns[:3]}...), "
                     "or a long table of three columns (stimulus_a, stimulus_b, value).")


def _long_to_square(df, a, b, v) -> tuple:
    sa, sb = [str(s) for s in df[a]], [str(s) for s in df[b]]
    names = list(dict.fromkeys(sa + sb))
    pos = {s: i for i, s in enumerate(names)}
    n = len(names)
    out = np.full((n, n), np.nan)
    np.fill_diagonal(out, 0.0)
    for x, y, val in zip(sa, sb, np.asarray(df[v], dtype=np.float64)):
        i, j = pos[x], pos[y]
        for p, q in ((i, j), (j, i)):
            if not np.isnan(out[p, q]) and out[p, q] != val and p != q:
                raise ValueError(f"The long table gives two values for the pair ({x!r}, {y!r}): {out[p, q]} "
                                 f"and {val}; an RDM is symmetric.")
            out[p, q] = val
    missing = np.argwhere(np.isnan(out))
    if len(missing):
        i, j = missing[0]
        raise ValueError(f"The long table has no value for {len(missing) // 2} pair(s), e.g. "
                         f"({names[i]!r}, {names[j]!r}); give one row per pair of its {n} stimuli.")
    return out, names

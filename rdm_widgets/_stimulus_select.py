"""Which stimuli of an RDM a selection names: integer indices, stimulus names or a boolean mask.

Why a module of its own: :meth:`rdm_widgets.rdm.LayerRDM.subset` and ``plot(indices=...)`` take
all three forms, and each has its own way to go wrong (a mask of the wrong length, a misspelled or
repeated name, an index out of range) that deserves a message naming it.
"""
from __future__ import annotations

import difflib

import numpy as np

__all__ = ["stimulus_indices"]


def stimulus_indices(stimuli: list, indices_or_names, layer: str = "") -> np.ndarray:
    """Positions (k,) of the selected stimuli, in the order given.

    Parameters
    ----------
    stimuli : list of str
        The RDM's stimulus names, in its order.
    indices_or_names : int, str, sequence of int or str, or boolean mask (N,)
        Negative indices count from the end.
    layer : str
        Named in the error messages.

    Returns
    -------
    np.ndarray of intp, shape (k,)

    Raises
    ------
    ValueError
        A mask of the wrong length, unknown names (with close matches), names that occur more
        than once in ``stimuli`` (selecting by them would be ambiguous).
    TypeError
        A mix of indices, names and booleans.
    IndexError
        An index out of range.
    """
    sel = indices_or_names
    if isinstance(sel, (str, int, np.integer)):
        sel = [sel]
    sel = list(sel.tolist() if isinstance(sel, np.ndarray) else sel)
    n = len(stimuli)
    if sel and all(isinstance(s, (bool, np.bool_)) for s in sel):
        if len(sel) != n:
            raise ValueError(f"Boolean mask has {len(sel)} entries; the RDM has {n} stimuli.")
        return np.flatnonzero(sel)
    if all(isinstance(s, str) for s in sel):
        lookup, repeated = {}, set()
        for i, s in enumerate(stimuli):
            if lookup.setdefault(s, i) != i:
                repeated.add(s)
        ambiguous = sorted(repeated.intersection(sel))
        if ambiguous:        # the first of the copies would be taken silently
            raise ValueError(f"Stimulus name(s) {ambiguous[:5]} occur more than once in layer {layer!r}, "
                             "so selecting by name is ambiguous. Give every stimulus a unique name (e.g. "
                             "the file name, not the category), or select by index.")
        missing = [s for s in sel if s not in lookup]
        if missing:
            close = difflib.get_close_matches(missing[0], stimuli, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Unknown stimulus name(s) {missing[:5]} in layer {layer!r}.{hint} "
                f"Stimuli are e.g. {stimuli[:3]}."
            )
        return np.array([lookup[s] for s in sel], dtype=np.intp)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sel):
        raise TypeError("Select stimuli with integer indices, stimulus names or a boolean mask (not a mix).")
    idx = np.array(sel, dtype=np.intp)
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise IndexError(f"Stimulus index {int(bad[0])} is out of range for {n} stimuli.")
    return idx % n if n else idx

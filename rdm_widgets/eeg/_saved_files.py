"""RDM files this package saves, told from epochs: a saved RDM is never read as trials.

Why this module exists: :meth:`rdm_widgets.eeg.TimeResolvedRDM.save` writes ``data`` (n, n, T)
and ``conditions`` (n,), which is exactly what an epochs ``.npz`` looks like (a 3-D numeric
array and one label per "trial"). The epochs reader (:func:`rdm_widgets.eeg.read_epochs`), the
EEG panel's file list and the data-folder scan (:mod:`rdm_widgets.data_root`) ask
:func:`saved_rdm_file` first, by the file's ``format`` key or, for files without one, by the
keys such a file always holds.
"""
from __future__ import annotations

from pathlib import Path

from .._npy import npz_headers, open_npz, read_member
from ._generalization import FILE_FORMAT as _GENERALIZATION_FORMAT
from ._result import FILE_FORMAT as _TIME_RESOLVED_FORMAT

__all__ = ["saved_rdm_file", "refuse_saved_rdm"]

# RDM files this package saves: {format name before the '/': (what it is, how to open it)}. A saved
# TimeResolvedRDM (data (n, n, T) + conditions (n,)) looks exactly like epochs with labels, so these
# are recognised first and never read as epochs.
_TIME_RESOLVED, _GENERALIZATION = (f.split("/")[0] for f in (_TIME_RESOLVED_FORMAT, _GENERALIZATION_FORMAT))
_LAYER_RDM = "rdm_widgets.layer_rdm"          # LayerRDM files have no format key: told by their keys
_SAVED_RDMS = {
    _TIME_RESOLVED: ("a saved EEG RDM", "TimeResolvedRDM.from_file"),
    _GENERALIZATION: ("a saved temporal generalization RDM", "GeneralizationRDM.from_file"),
    _LAYER_RDM: ("a saved layer RDM", "LayerRDM.from_file"),
}
# files written before the ``format`` key (and LayerRDM files, which have none): the keys every
# such file holds -> its kind in _SAVED_RDMS, most specific first
_SAVED_RDM_KEYS = (
    (("data", "train_times", "test_times", "conditions", "meta_json"), _GENERALIZATION),
    (("data", "times", "conditions", "meta_json"), _TIME_RESOLVED),
    (("rdm", "stimuli", "layer", "meta_json"), _LAYER_RDM),
)


def saved_rdm_file(path, infos: dict | None = None) -> tuple | None:
    """``(what, source, opener)`` when the ``.npz`` ``path`` is an RDM file this package saved, else None.

    Told by the ``format`` key (``'rdm_widgets.time_resolved/1'``, ``'rdm_widgets.generalization/1'``;
    any other ``'rdm_widgets.*'`` value counts too), else by the keys such a file always holds
    (``data``, ``times``, ``conditions``, ``meta_json`` of a ``TimeResolvedRDM``; ``rdm``, ``stimuli``,
    ``layer``, ``meta_json`` of a ``LayerRDM``). Reads the headers and the ``format`` string only.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` file.
    infos : dict or None
        Its headers ``{key: (shape, dtype)}`` when already read (:func:`rdm_widgets._npy.npz_headers`).

    Returns
    -------
    tuple of str or None
        ``(what, source, opener)``: ``("a saved EEG RDM", "rdm_widgets.time_resolved/1",
        "TimeResolvedRDM.from_file")``; ``source`` is ``"keys data, times, conditions, meta_json"``
        for a file without a ``format`` key. None for any other file.

    Raises
    ------
    ValueError
        ``path`` is not a readable ``.npz`` (when ``infos`` is None).
    """
    infos = npz_headers(path) if infos is None else infos
    fmt = ""
    if "format" in infos and infos["format"][0] == () and infos["format"][1].kind == "U":
        with open_npz(path, what="file") as npz:
            fmt = str(read_member(npz, "format", path, "file"))
    if fmt.startswith("rdm_widgets."):
        what, opener = _SAVED_RDMS.get(fmt.split("/")[0], ("a file saved by rdm_widgets", ""))
        return what, fmt, opener
    for keys, name in _SAVED_RDM_KEYS:
        if set(keys) <= set(infos) and _square_per_condition(infos):
            return _SAVED_RDMS[name][0], f"keys {', '.join(keys)}", _SAVED_RDMS[name][1]
    return None


def _square_per_condition(infos: dict) -> bool:
    """``data`` is (n, n, ...) for the n ``conditions`` (or there is no ``data``): an epochs file that
    happens to have these keys holds (n_trials, n_channels, n_times) and n_trials labels instead."""
    if "data" not in infos or "conditions" not in infos:
        return True
    shape, cond = infos["data"][0], infos["conditions"][0]
    return len(shape) >= 2 and len(cond) == 1 and shape[0] == shape[1] == cond[0]


def refuse_saved_rdm(path: Path, infos: dict) -> None:
    """Refuse a saved RDM where epochs are expected: (n, n, T) + conditions (n,) would read as n trials.

    Parameters
    ----------
    path : Path
        The ``.npz`` file.
    infos : dict
        Its headers ``{key: (shape, dtype)}``.

    Raises
    ------
    ValueError
        ``path`` is an RDM file this package saved: the message names the file, what it is and
        how to open it (``TimeResolvedRDM.from_file(path)``).
    """
    saved = saved_rdm_file(path, infos)
    if saved is not None:
        what, source, opener = saved
        how = f": open it with {opener}({str(path)!r})" if opener else ""
        raise ValueError(f"{path.name} is {what} ({source}), not epochs (trials × channels × times){how}.")

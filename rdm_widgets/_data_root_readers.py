"""Reading one candidate file or folder for :mod:`rdm_widgets.data_root`, and saying why it failed.

Why this module exists: the data-folder scan confirms a candidate with the reader the Python
API uses (``open_features``, :func:`rdm_widgets.rdm_files.read_rdm_file`) so that a skipped
entry carries that reader's reason, and tells a damaged ``.npz`` (copy it again) from a
readable one of another kind (put the features in a folder of their own).
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["try_features", "try_rdm", "unreadable_cause", "unreadable_reason"]


def _details_features(src) -> str:
    return f"{src.n_stimuli} stimuli, {len(src.layers)} layer{'s' if len(src.layers) != 1 else ''}"


def try_features(path: Path):
    """``(details, None)`` when ``open_features`` accepts ``path`` (headers only), else ``(None, reason)``."""
    import warnings

    from .features import open_features

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _details_features(open_features(path)), None
    except (ValueError, TypeError, OSError, ImportError) as exc:
        return None, str(exc) or type(exc).__name__


def try_rdm(path: Path, max_bytes: int):
    """``(details, None)`` when the RDM reader accepts ``path`` (up to ``max_bytes``), else ``(None, reason)``."""
    import warnings

    from .rdm_files import read_rdm_file

    if path.stat().st_size > max_bytes:
        return None, f"larger than {max_bytes // 1024 ** 2} MB; too large for an RDM file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # e.g. a non-zero diagonal: said when it is loaded
            rdms = read_rdm_file(path)
    except (ValueError, TypeError, OSError, KeyError, ImportError) as exc:
        return None, str(exc) or type(exc).__name__
    k = rdms.n_subjects
    return f"{k} RDM{'s' if k != 1 else ''} of {rdms.n_stimuli} stimuli" + (
        "" if rdms.stimuli else " (no names)"), None


def unreadable_cause(path: Path) -> str:
    """Why ``path`` is no readable ``.npz`` at all (``"File is not a zip file"``), or ``""``."""
    from ._npy import npz_headers

    try:
        npz_headers(path)
    except ValueError as exc:
        text = str(exc)
        marker = " is not a readable .npz file: "
        return text.split(marker, 1)[1] if marker in text else text
    return ""


def unreadable_reason(causes: dict) -> str:
    """The advice for feature files that cannot be read: copy them again, not "a folder of their own".

    Parameters
    ----------
    causes : dict
        ``{file name: cause}`` of the damaged files (at least one), in file order.
    """
    names = list(causes)
    if len(names) == 1:
        return f"{names[0]} is not a readable .npz ({causes[names[0]]}): copy it again or remove it"
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return (f"{', '.join(names[:5])}{more} are not readable .npz files ({causes[names[0]]}): "
            "copy them again or remove them")

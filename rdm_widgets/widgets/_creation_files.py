"""Files of the creation panel's runs: saving a run's RDMs into a new folder, and the Download
buttons' zips of time-resolved model RDMs."""
from __future__ import annotations

import shutil
import zipfile
from io import BytesIO
from pathlib import Path

from .._atomic import rdm_filename

__all__ = ["save_rdms", "time_resolved_zips"]


def save_rdms(rdms: dict, folder, save_format: str = "npz") -> Path:
    """Save ``{layer: LayerRDM}`` as ``RDM_<layer>.<save_format>`` files into a new ``folder``.

    All or nothing: the folder must not exist yet, and it is removed again when a file
    cannot be written, so a failed save leaves no partial run folder.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True)
    try:
        taken: set = set()
        for layer, rdm in rdms.items():
            name = rdm_filename(layer, taken, save_format)
            taken.add(name)
            rdm.save(folder / name, format=save_format)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def time_resolved_zips(rdms: dict) -> tuple:
    """Zips of ``RDM_<layer>.npz`` (:meth:`TimeResolvedRDM.save`'s format) and of tidy ``.csv`` tables."""
    from ..rdm_files import time_resolved_to_npz

    zips = []
    for suffix, payload in (("npz", time_resolved_to_npz), ("csv", lambda r: r.to_csv())):
        buf, taken = BytesIO(), set()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for layer, rdm in rdms.items():
                name = rdm_filename(layer, taken, suffix)
                taken.add(name)
                zf.writestr(name, payload(rdm))
        zips.append(buf.getvalue())
    return tuple(zips)

"""Options shared by every entry point: one device rule and one dtype table.

Each public function validates these once, at its boundary, and passes the resolved
values (:class:`torch.device`, :class:`DType`) down; nothing below it re-validates.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_option, check_type

__all__ = ["DType", "DTYPES", "check_dtype", "check_device", "available_devices"]


@dataclass(frozen=True)
class DType:
    """A working precision: its name and its torch and numpy types.

    Attributes
    ----------
    name : {'float32', 'float64'}
    torch : torch.dtype
    numpy : numpy.dtype
    itemsize : int
        Bytes per element.
    """

    name: str
    torch: torch.dtype
    numpy: np.dtype

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __str__(self):
        return self.name


#: The precisions every computation accepts.
DTYPES = {
    "float32": DType("float32", torch.float32, np.dtype(np.float32)),
    "float64": DType("float64", torch.float64, np.dtype(np.float64)),
}


def check_dtype(dtype, name: str = "dtype") -> DType:
    """Resolve ``'float32'``, ``np.float32``, ``np.dtype('float64')``, ``torch.float64`` or a
    :class:`DType` to its :class:`DType`.

    Raises
    ------
    TypeError
        ``dtype`` is not a string, numpy or torch dtype.
    ValueError
        Not one of :data:`DTYPES` (the message lists them).
    """
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace("torch.", "")
    elif not isinstance(dtype, str):
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"Invalid type for {name!r}: {type(dtype).__name__}. "
                            "Use 'float32', 'float64', np.float64 or torch.float64.") from None
    return DTYPES[check_option(name, dtype, DTYPES).lower()]


def _device_choices(allowed_types) -> str:
    """``"'cuda' (or 'cuda:0'), 'mps' or 'cpu'"``: the allowed device types, accelerators first."""
    words = [f"'{t}'" + (f" (or '{t}:0')" if t == "cuda" else "")
             for t in sorted(allowed_types, key=lambda t: (t == "cpu", t))]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_device(device, *, allowed_types=("cpu", "cuda", "mps")) -> torch.device:
    """Resolve ``device`` (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'`` or a torch.device).

    Parameters
    ----------
    device : str or torch.device
    allowed_types : tuple of str
        Device types the caller supports (e.g. the exact EEG kernels run on CPU and CUDA).

    Raises
    ------
    TypeError
        ``device`` is neither a string nor a torch.device.
    ValueError
        Unknown device, a type the caller does not support, or a device this machine lacks.
    """
    check_type("device", device, (str, torch.device), "Use e.g. 'cpu' or 'cuda'.")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):      # torch's message lists every device type it knows
        raise ValueError(f"Invalid value for 'device': {device!r}. Use {_device_choices(allowed_types)}.") from None
    if dev.type not in allowed_types:
        raise ValueError(f"Invalid value for 'device': {str(device)!r}. Allowed device types here: "
                         f"{list(allowed_types)}.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available "
                             f"(torch {torch.__version__} sees no GPU). Use device='cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA "
                             "device(s) are visible.")
    elif dev.type == "mps":
        available = False
        with contextlib.suppress(AttributeError):
            available = torch.backends.mps.is_available()
        if not available:
            raise ValueError(f"device={str(device)!r} was requested but MPS is not available. "
                             "Use device='cpu'.")
    return dev


def available_devices() -> list:
    """Device names this machine can run on, for choosers: ``['cpu', 'cuda', 'cuda:1', ...]``."""
    out = ["cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        out += ["cuda"] + [f"cuda:{i}" for i in range(1, n)]
    with contextlib.suppress(AttributeError):
        if torch.backends.mps.is_available():
            out.append("mps")
    return out

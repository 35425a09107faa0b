"""Validation helpers used at the public boundary (MNE style).

Every public function validates its arguments here so that users get one
consistent kind of message: what was wrong, what is allowed, and the closest
allowed value when the input looks like a typo.
"""
from __future__ import annotations

import difflib
from typing import Iterable

import numpy as np

__all__ = ["check_option", "check_type", "check_finite", "check_positive_int"]


def _suggest(value: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(str(value).lower(), [a.lower() for a in allowed], n=1, cutoff=0.5)
    if not close:
        return ""
    # map back to the original spelling of the allowed value
    match = next(a for a in allowed if a.lower() == close[0])
    return f" Did you mean {match!r}?"


def check_option(name: str, value, allowed: Iterable[str], *, extra: str = "") -> str:
    """Return ``value`` if it is one of ``allowed`` (case-insensitive), else raise.

    Parameters
    ----------
    name : str
        Name of the argument, used in the message.
    value : str
        The value given by the user.
    allowed : iterable of str
        The allowed values.
    extra : str
        Extra sentence appended to the message (e.g. how to register a new value).

    Returns
    -------
    str
        The allowed value with its canonical spelling.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If ``value`` is not allowed; the message lists the allowed values and
        suggests the closest one.
    """
    allowed = list(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"Invalid type for {name!r}: {type(value).__name__}. "
            f"Expected a string, one of: {', '.join(map(repr, allowed))}."
        )
    for a in allowed:
        if a.lower() == value.lower():
            return a
    msg = (
        f"Invalid value for {name!r}: {value!r}. Allowed: "
        f"{', '.join(map(repr, allowed))}.{_suggest(value, allowed)}"
    )
    if extra:
        msg += " " + extra
    raise ValueError(msg)


def check_type(name: str, value, types, hint: str = ""):
    """Raise TypeError unless ``isinstance(value, types)``; return ``value``."""
    if not isinstance(value, types):
        tnames = types if isinstance(types, tuple) else (types,)
        expected = " or ".join(getattr(t, "__name__", str(t)) for t in tnames)
        msg = f"Invalid type for {name!r}: {type(value).__name__}. Expected {expected}."
        if hint:
            msg += " " + hint
        raise TypeError(msg)
    return value


def check_positive_int(name: str, value, *, allow_none: bool = False, minimum: int = 1):
    """Return ``int(value)`` if it is an integer >= ``minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Invalid type for {name!r}: {type(value).__name__}. Expected an integer >= {minimum}.")
    if value < minimum:
        raise ValueError(f"Invalid value for {name!r}: {value}. Expected an integer >= {minimum}.")
    return int(value)


def check_finite(name: str, array, where: str = "") -> None:
    """Raise ValueError if ``array`` holds NaN or inf, saying where.

    Parameters
    ----------
    name : str
        What the array is (e.g. ``"features of layer 'conv1'"``).
    array : array-like or torch.Tensor
        Values to check.
    where : str
        Where the values came from (a file name), added to the message.
    """
    arr = array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)
    if arr.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        loc = f" in {where}" if where else ""
        raise ValueError(
            f"{name}{loc} contains {n_nan} NaN and {n_inf} inf value(s) (first at index {first}). "
            "Remove or impute them before computing RDMs."
        )

"""Stimulus names: natural sort order of file-derived names and default names."""
from __future__ import annotations

import re

__all__ = ["natural_key", "default_names"]


def natural_key(name) -> tuple:
    """Sort key that orders embedded numbers numerically ("img_2" < "img_10")."""
    s = str(name)
    parts = re.split(r"(\d+)", s)
    # odd positions are always the digit runs, so ints are only compared to ints
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), s


def default_names(n: int) -> list:
    """``stimulus_0 ...`` names (zero-padded) for sources that store none."""
    width = len(str(max(n - 1, 0)))
    return [f"stimulus_{i:0{width}d}" for i in range(n)]

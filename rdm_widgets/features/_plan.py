"""Reading plans and their cost: passes under a memory budget, validated requests, :class:`ReadCost`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "ReadCost", "ReadRequest", "plan_passes"]

#: Output bytes one pass over per-stimulus files may fill (else several passes).
DEFAULT_MAX_BYTES = 2 * 1024 ** 3


def plan_passes(sizes, max_bytes: int) -> list:
    """Group items greedily into passes of at most ``max_bytes`` (at least one item per pass).

    Parameters
    ----------
    sizes : sequence of int
        Bytes of each item (layer), in reading order.
    max_bytes : int

    Returns
    -------
    list of list of int
        Indices into ``sizes``, one list per pass.
    """
    plan, fill = [], 0
    for i, size in enumerate(sizes):
        if plan and fill + size <= max_bytes:
            plan[-1].append(i)
            fill += size
        else:
            plan.append([i])
            fill = size
    return plan


class ReadRequest(NamedTuple):
    """A validated read: layer names, canonical pooling name (or None) and a float dtype."""

    layers: list
    pooling: Optional[str]
    dtype: np.dtype


@dataclass(frozen=True)
class ReadCost:
    """What reading some layers of a source costs (for :func:`rdm_widgets.estimate_features`).

    Attributes
    ----------
    file_reads : int
        Files opened (the progress units of :meth:`FeatureSource.iter_layers`); 0 in memory.
    key_reads : int
        Arrays read from the opened files; 0 in memory.
    read_bytes : int or None
        Bytes read as stored; None when the features are arrays in memory.
    block_bytes : int
        Most bytes held at once while one pass is read (output arrays plus temporaries).
    from_files : bool
        Whether the features are read from files (False: the caller's arrays).
    """

    file_reads: int
    key_reads: int
    read_bytes: Optional[int]
    block_bytes: int
    from_files: bool

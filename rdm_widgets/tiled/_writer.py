"""The one writer of a store: tiles into the condensed vector and the finest overview level,
then the progress file -- in that order, which is what makes a run resumable.

Each tile is flushed and fsynced before its bit is set in ``progress.json`` (replaced
atomically), so after a crash, a Ctrl-C or a Stop button every tile marked done is on disk
and a resume computes only the others.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._format import RUN_FILES, NpyFile, build_levels, condensed_index, level_name, read_json, write_json
from ._plan import TilePlan

__all__ = ["Writer"]


class Writer:
    """Writes tiles into the store at ``store`` and records the run's progress.

    Parameters
    ----------
    store : Path
    plan : TilePlan
        The run's plan (the store was created from it).
    """

    def __init__(self, store: Path, plan: TilePlan):
        self.store, self.plan = store, plan
        self.cond = NpyFile(store / "condensed.npy")
        self.factor = plan.factors[0] if plan.factors else None
        self.level = NpyFile(store / level_name(self.factor)) if self.factor else None
        self.state = read_json(store / "progress.json")

    # ------------------------------------------------------------------ progress
    def _save_state(self) -> None:
        write_json(self.store / "progress.json", self.state)

    def done_mask(self) -> int:
        return int(self.state.get("tiles_done", "0"), 16)

    def todo(self) -> list:
        """Indices into ``plan.tiles`` of the tiles not yet written."""
        done = self.done_mask()
        return [k for k in range(self.plan.n_tiles) if not done >> k & 1]

    @property
    def staged(self) -> bool:
        """Whether pass 1 (the staged features) is complete."""
        return bool(self.state.get("features_ready"))

    def mark_staged(self, degenerate: np.ndarray) -> None:
        """Record that the features are staged, and which stimuli are degenerate ((N,) bool)."""
        self.state.update(features_ready=True, degenerate=np.flatnonzero(degenerate).tolist())
        self._save_state()

    @property
    def degenerate(self) -> list:
        """Indices of the degenerate stimuli found while staging."""
        return list(self.state.get("degenerate", []))

    def degenerate_mask(self) -> np.ndarray:
        mask = np.zeros(self.plan.n, bool)
        mask[self.degenerate] = True
        return mask

    # ------------------------------------------------------------------ data
    def write(self, t_index: int, t: np.ndarray, means) -> None:
        """Write tile ``plan.tiles[t_index]`` (values ``t`` and its block means), then mark it done."""
        bi, bj = self.plan.tiles[t_index]
        r0, c0 = bi * self.plan.tile, bj * self.plan.tile
        n = self.plan.n
        with open(self.cond.path, "r+b") as fh:
            for a in range(t.shape[0]):
                i = r0 + a
                start = max(c0, i + 1)
                if start < c0 + t.shape[1]:
                    self.cond.write(int(condensed_index(i, start, n)), t[a, start - c0:], fh)
            fh.flush()
            os.fsync(fh.fileno())
        if self.level is not None:
            side, f = self.level.shape[1], self.factor
            with open(self.level.path, "r+b") as fh:
                # the level is square: a tile above the diagonal is written mirrored too
                for blk, (top, left) in ((means, (r0 // f, c0 // f)), (means.T, (c0 // f, r0 // f))):
                    for k in range(blk.shape[0]):
                        self.level.write((top + k) * side + left, blk[k], fh)
                    if bi == bj:
                        break
                fh.flush()
                os.fsync(fh.fileno())
        # the data is on disk; only now is the tile marked done (crash-safe resume)
        self.state["tiles_done"] = format(self.done_mask() | (1 << t_index), "x")
        self._save_state()

    def finish(self, keep_features: bool) -> None:
        """After the last tile: the coarser overview levels, the complete flag, and the staged
        features (and the fitted reduction) removed unless ``keep_features``."""
        build_levels(self.store, self.plan.n, self.plan.factors)
        # 'features_kept' lets the next run remove staged features a kill left behind
        self.state.update(complete=True, features_kept=bool(keep_features))
        self._save_state()
        if not keep_features:
            for f in RUN_FILES:
                (self.store / f).unlink(missing_ok=True)

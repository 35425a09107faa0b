"""The results of group tests over time: :class:`ClusterTest` and :class:`GroupTimecourse`.

Kept apart from :mod:`rdm_widgets.cluster` (which computes them) so that readers -- figures,
viewers -- see the containers without the statistics; both are frozen (results never change
after the test) and re-exported by :mod:`rdm_widgets.cluster`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

__all__ = ["ClusterTest", "GroupTimecourse"]


@dataclass(frozen=True, eq=False)
class ClusterTest:
    """A group test over time (or over a train x test map).

    Attributes
    ----------
    statistic : ndarray, shape (n_times,) or (n_train, n_test)
        t values (TFCE: the TFCE scores with the sign of t, as MNE returns them).
    clusters : list of ndarray of bool
        Masks of the shape of ``statistic``: supra-threshold connected components of one sign
        (TFCE: components of non-zero scores), positive ones first.
    cluster_stats : ndarray, shape (n_clusters,)
        Sum of t in each cluster (TFCE: the peak score, signed).
    p_values : ndarray, shape (n_clusters,)
        Each cluster's p (TFCE and pointwise corrections: its smallest point p).
    p_map : ndarray, shape of ``statistic``
        Each point's p: its cluster's p, 1.0 outside clusters (TFCE: p per point; ``'fdr'`` /
        ``'none'``: the pointwise (adjusted) p everywhere).
    threshold : float or str
        The cluster-forming t threshold, or ``"tfce"``.
    tail : int
        1 (greater than chance), -1 (less) or 0 (either).
    n_permutations : int
        Entries of the permutation distribution ``h0`` (observed labelling included); 0 for
        pointwise corrections.
    times, test_times : ndarray or None
        Sample times (for maps: ``times`` are the train times).
    correction : str
        ``'cluster'``, ``'fdr'`` or ``'none'``.
    h0 : ndarray or None
        The permutation distribution of the largest cluster statistic (TFCE: of the largest
        score); its first entry is the observed one. Empty when nothing exceeded the threshold.
    exact : bool
        Every sign vector was used (``n_permutations >= 2**(n_subjects - (tail == 0))``).
    n_subjects : int
    """
    statistic: np.ndarray
    clusters: list
    cluster_stats: np.ndarray
    p_values: np.ndarray
    p_map: np.ndarray
    threshold: Union[float, str]
    tail: int
    n_permutations: int
    times: Optional[np.ndarray]
    test_times: Optional[np.ndarray]
    correction: str = "cluster"
    h0: Optional[np.ndarray] = None
    exact: bool = False
    n_subjects: int = 0

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Boolean mask (shape of ``statistic``): points with ``p_map <= alpha``."""
        return np.asarray(self.p_map <= alpha)

    def spans(self, alpha: float = 0.05) -> list:
        """Significant stretches of a time course: ``[(t_start, t_stop, p)]``.

        ``t_start`` / ``t_stop`` are the times (indices when ``times`` is None) of the first and
        last significant sample of a run of one sign; ``p`` its smallest p.
        """
        if self.statistic.ndim != 1:
            raise ValueError("spans() is for time courses (1-D); for a train x test map use significant().")
        key = np.sign(self.statistic) * self.significant(alpha)
        t = np.arange(key.size, dtype=np.float64) if self.times is None else self.times
        out, start = [], None
        for i in range(key.size + 1):
            if start is not None and (i == key.size or key[i] != key[start]):
                out.append((float(t[start]), float(t[i - 1]), float(self.p_map[start:i].min())))
                start = None
            if start is None and i < key.size and key[i] != 0:
                start = i
        return out

    def __repr__(self) -> str:
        kind = "tfce" if self.threshold == "tfce" else f"threshold={self.threshold:.4g}"
        return (f"<ClusterTest {self.statistic.shape} {self.correction} ({kind}), tail={self.tail}, "
                f"{len(self.clusters)} cluster(s), {int(np.sum(self.p_values <= 0.05))} with p <= 0.05, "
                f"{self.n_permutations} permutations{' (exact)' if self.exact else ''}>")


@dataclass(frozen=True, eq=False)
class GroupTimecourse:
    """Group mean +- SEM of subjects' time courses, with its test.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
    values : ndarray, shape (n_subjects, n_times)
    subjects : list of str
    mean, sem : ndarray, shape (n_times,)
        Mean over subjects and its standard error ``std(ddof=1) / sqrt(n_subjects)``.
    chance : float
        What the test compares against.
    label : str
        What the values are (y-axis label).
    test : ClusterTest or None
    """
    times: np.ndarray
    values: np.ndarray
    subjects: list
    mean: np.ndarray
    sem: np.ndarray
    chance: float
    label: str
    test: Optional[ClusterTest]

    def __repr__(self) -> str:
        test = "untested" if self.test is None else f"{len(self.test.spans())} significant span(s)"
        return (f"<GroupTimecourse {self.label!r}: {len(self.subjects)} subjects x {self.times.size} times, "
                f"chance={self.chance:g}, {test}>")

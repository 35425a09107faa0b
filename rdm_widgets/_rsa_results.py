"""The result objects of :mod:`rdm_widgets.rsa`: :class:`RSAResult` and :class:`NoiseCeiling`.

Why this module exists: results travel to tables, CSV files and plots. Both classes are plain
values with ``to_frame()`` (pandas, imported then) and ``to_csv()`` (no pandas) through
:mod:`rdm_widgets.interop._pandas`, the one table writer of the package.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RSAResult", "NoiseCeiling"]


@dataclass
class RSAResult:
    """Result of :func:`compare_rdms`.

    Attributes
    ----------
    r : float
        Correlation of the two RDMs' upper triangles.
    p : float or None
        One-sided permutation p-value (None without permutations).
    method : str
    n_permutations : int
    null : ndarray (n_permutations,) or None
        Correlations under permuted stimulus labels.
    """

    r: float
    p: float | None
    method: str
    n_permutations: int
    null: np.ndarray | None = None

    def __float__(self) -> float:
        return float(self.r)

    _COLUMNS = ("method", "r", "p", "n_permutations")

    def to_frame(self):
        """One-row tidy table (imports pandas): ``method, r, p, n_permutations``."""
        from .interop._pandas import to_frame

        return to_frame(self._COLUMNS, [(self.method, self.r, self.p, self.n_permutations)])

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """:meth:`to_frame` as CSV text (no pandas needed), also written to ``path`` when given."""
        from .interop._pandas import write_csv

        return write_csv(path, self._COLUMNS, [(self.method, self.r, self.p, self.n_permutations)],
                         overwrite=overwrite)


class NoiseCeiling(tuple):
    """``(lower, upper)`` of :func:`noise_ceiling`: a tuple, with the options and table exports.

    Attributes
    ----------
    lower, upper : float
    method : str
    convention : str
    n_subjects : int
    """

    _COLUMNS = ("method", "convention", "n_subjects", "lower", "upper")

    def __new__(cls, lower: float, upper: float, method: str = "", convention: str = "rdm_widgets",
                n_subjects: int = 0):
        out = super().__new__(cls, (float(lower), float(upper)))
        out.method, out.convention, out.n_subjects = method, convention, int(n_subjects)
        return out

    @property
    def lower(self) -> float:
        return self[0]

    @property
    def upper(self) -> float:
        return self[1]

    def _rows(self) -> list:
        return [(self.method, self.convention, self.n_subjects, self[0], self[1])]

    def to_frame(self):
        """One-row tidy table (imports pandas): ``method, convention, n_subjects, lower, upper``."""
        from .interop._pandas import to_frame

        return to_frame(self._COLUMNS, self._rows())

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """:meth:`to_frame` as CSV text (no pandas needed), also written to ``path`` when given."""
        from .interop._pandas import write_csv

        return write_csv(path, self._COLUMNS, self._rows(), overwrite=overwrite)

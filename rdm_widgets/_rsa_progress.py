"""Progress of :func:`rdm_widgets.model_rsa.model_brain_table` in units that move during the work.

One row (a layer against a brain RDM) with 100,000 permutations of 78 stimuli takes ~3 s, so a
row is too coarse a unit for a progress bar or a Stop button. The table counts **permutations,
rows and bootstrap samples**: each row is ``n_permutations + 1`` units (its permutations, then
the rest of the row), each (brain, model) pair with a bootstrap ``n_bootstrap`` more. The total
is known before the first row; the callback (and so a cancel) is called after every block of
permutations (:func:`permutation_block`, ~0.1 s), every row and every block of bootstrap samples.
"""
from __future__ import annotations

import numpy as np

from ._progress import ProgressReporter
from ._rsa_results import RSAResult
from ._rsa_stats import permutation_p
from .rsa import PERMUTATION_CHUNK_CELLS, compare_rdms

__all__ = ["BLOCK_CELLS", "permutation_block", "compare_in_blocks", "TableProgress"]

#: stimulus pairs x permutations between two progress calls (~0.1 s at 78 stimuli)
BLOCK_CELLS = 10_000_000


def permutation_block(n_stimuli: int) -> int:
    """Permutations per progress step: a whole number of :func:`compare_rdms` chunks.

    Whole chunks keep every null correlation in the same (pairs, chunk) matrix product as one
    call with all permutations, so the numbers stay the same to the bit (3330 at 78 stimuli).
    """
    pairs = max(1, n_stimuli * (n_stimuli - 1) // 2)
    chunk = max(1, PERMUTATION_CHUNK_CELLS // pairs)
    return chunk * max(1, BLOCK_CELLS // (chunk * pairs))


def compare_in_blocks(a: np.ndarray, b: np.ndarray, method: str, n_permutations: int, rng: np.random.Generator,
                      tick) -> RSAResult:
    """``compare_rdms(a, b, method, n_permutations, random_state=rng)`` in blocks, ``tick(m)`` after each.

    Parameters
    ----------
    a, b : ndarray (N, N)
        Model and brain RDM.
    method : str
    n_permutations : int
    rng : numpy Generator
        Shared with the rest of the table; :func:`compare_rdms` uses a Generator as it is and
        draws one ``rng.permutation(N)`` per permutation, so blocks drawn one after the other
        are the draws of a single call.
    tick : callable
        ``tick(m)`` after each block of ``m`` permutations (may raise to cancel).

    Returns
    -------
    RSAResult
        Equal to the single call: same ``r``, ``null`` (n_permutations,) and ``p``.
    """
    if n_permutations == 0:
        return compare_rdms(a, b, method=method, n_permutations=0, random_state=rng)
    block = permutation_block(a.shape[0])
    nulls, res = [], None
    for start in range(0, n_permutations, block):
        m = min(block, n_permutations - start)
        res = compare_rdms(a, b, method=method, n_permutations=m, random_state=rng)
        nulls.append(res.null)
        tick(m)
    null = np.concatenate(nulls)
    return RSAResult(res.r, permutation_p(null, res.r), method, n_permutations, null)


class TableProgress:
    """``progress(done, total)`` of a table, remembering what the callback raised.

    ``on_error='skip'`` skips a pair on a ValueError; :attr:`error` lets the table tell a
    ValueError raised by the callback (re-raised, never a "skipped" pair) from one of the data.

    Parameters
    ----------
    total : int
        Units of the whole table.
    progress : callable or None
        The user's ``progress(done, total)``; called once with ``done=0`` at the start.
    """

    def __init__(self, total: int, progress=None):
        self.error = None
        self.done = 0
        self._reporter = None if progress is None else self._guard(lambda: ProgressReporter(total, progress))

    def _guard(self, call):
        try:
            return call()
        except Exception as err:
            self.error = err
            raise

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units."""
        self.done += int(n)
        if self._reporter is not None:
            self._guard(lambda: self._reporter.update(n))

    def to(self, done: int) -> None:
        """Advance to ``done`` units (a bootstrap's own count, the end of a skipped pair)."""
        if done > self.done:
            self.update(done - self.done)

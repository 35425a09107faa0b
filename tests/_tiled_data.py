"""Features shared by the out-of-core RDM tests (tests/test_tiled*.py, test_estimate_tiled.py)."""
from __future__ import annotations

import numpy as np


def clustered_features():
    """1100 stimuli in 5 planted clusters (N > 1024, so the store has an overview level):
    ``(x (1100, 48) float32, labels (1100,))``."""
    rng = np.random.default_rng(3)
    proto = rng.normal(size=(5, 48))
    labels = rng.integers(0, 5, 1100)
    return (proto[labels] + 0.7 * rng.normal(size=(1100, 48))).astype(np.float32), labels

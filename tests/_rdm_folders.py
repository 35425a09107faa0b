"""Test helper: two folders of RDM files hold the same RDMs (everything but the creation time)."""
from pathlib import Path

import numpy as np

from rdm_widgets import LayerRDM


def assert_same_rdm_folder(a, b):
    """Same file names; per file the same matrix (bit for bit, same dtype), stimuli, layer and meta."""
    a, b = Path(a), Path(b)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        ra, rb = LayerRDM.from_file(a / name), LayerRDM.from_file(b / name)
        np.testing.assert_array_equal(ra.matrix, rb.matrix)
        assert ra.matrix.dtype == rb.matrix.dtype and ra.stimuli == rb.stimuli and ra.layer == rb.layer
        ma, mb = dict(ra.meta), dict(rb.meta)
        ma.pop("created"), mb.pop("created")
        assert ma == mb

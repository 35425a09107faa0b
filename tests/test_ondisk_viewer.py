"""OnDiskRDMViewer (browserless): overview, navigator click, zoom and full resolution of an on-disk RDM."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets import tiled_rdm
from rdm_widgets.widgets import OnDiskRDMViewer


def _shown(viewer):
    from _widget_helpers import _decode                       # plotly's base64 'bdata' arrays

    fig = viewer.heatmap.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    return np.asarray(_decode(fig["data"][0]["z"]), dtype=np.float64), fig


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    rng = np.random.default_rng(5)
    cat = np.arange(3000) % 6
    x = (rng.normal(size=(6, 16))[cat] + 0.8 * rng.normal(size=(3000, 16))).astype(np.float32)
    store = tiled_rdm(x, tmp_path_factory.mktemp("v") / "s", tile_size=1024)
    return store, squareform(pdist(x.astype(np.float64), "correlation")), cat


def test_overview_then_click_to_full_resolution(big):
    store, sq, cat = big
    v = OnDiskRDMViewer(store, max_cells=500, navigator_size=50)
    z, fig = _shown(v)
    assert v.rows == v.cols == (0, 3000) and z.shape == (375, 375)       # 8 x 8 block means
    assert "block means of 8×8" in v.info and "block means" in fig["layout"]["title"]["text"]
    nav = np.asarray(v.navigator.matrix)
    assert nav.shape == (47, 47) and len(v.navigator.labels) == 47      # 375 cells -> steps of 8 -> 64 stimuli
    np.testing.assert_allclose(nav[0, 1], sq[:64, 64:128].mean(), atol=1e-5)
    v.navigator.selected = [10, 20]                                      # what a click in the browser sets
    z, fig = _shown(v)
    assert v.rows == (10 * 64 + 32 - 250, 10 * 64 + 32 + 250) and v.cols == (20 * 64 + 32 - 250, 20 * 64 + 32 + 250)
    assert "full resolution" in v.info and z.shape == (500, 500)
    np.testing.assert_allclose(z, sq[v.rows[0]:v.rows[1], v.cols[0]:v.cols[1]], atol=2e-6)
    assert fig["data"][0]["y"][0] == f"{v.rows[0]}: {store.stimuli[v.rows[0]]}"   # names on hover
    assert v.row_slider.value == v.rows and v.col_slider.value == v.cols


def test_zoom_buttons_sliders_and_edges(big):
    store, sq, _ = big
    v = OnDiskRDMViewer(store, max_cells=400)
    v.zoom_in_button.click()                                             # 3000 -> 750 around the centre
    assert v.rows == (1125, 1875) and "block means" in v.info
    v.full_button.click()
    assert v.rows == (1300, 1700) and "full resolution" in v.info
    v.zoom_out_button.click()
    assert v.rows == (700, 2300)
    v.row_slider.value = (2990, 3000)                                    # a thin strip, full resolution
    v.col_slider.value = (0, 400)
    z, _ = _shown(v)
    assert z.shape == (10, 400)
    np.testing.assert_allclose(z, sq[2990:3000, :400], atol=2e-6)
    v.center_on(2999, 0)                                                 # clipped at the corner
    assert v.rows == (2600, 3000) and v.cols == (0, 400)
    v.colorscale = "Magma"
    _, fig = _shown(v)
    assert fig["data"][0]["colorscale"][0][1].lower() in ("#000004", "rgb(0,0,4)")
    v.reset_button.click()
    assert v.rows == (0, 3000)


def test_unfinished_store_shows_an_error(tmp_path):
    from rdm_widgets import Cancelled, OnDiskRDM

    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    with pytest.raises(Cancelled):
        tiled_rdm(x, tmp_path / "p", tile_size=64, progress=lambda d, t: (_ for _ in ()).throw(Cancelled())
                  if d > 3 else None)
    with pytest.raises(RuntimeError, match="unfinished"):
        OnDiskRDMViewer(OnDiskRDM(tmp_path / "p"))

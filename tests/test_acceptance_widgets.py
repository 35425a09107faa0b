"""Acceptance pass (widgets): a Dashboard on a folder that does not exist raises its ValueError
and nothing else -- no "Exception ignored in Widget.__del__" traceback when the half-made widget
is collected (its close() ran before the upload area existed)."""
import gc
import sys

import pytest

pytest.importorskip("ipywidgets")


def test_dashboard_on_a_missing_folder_fails_cleanly(tmp_path):
    from rdm_widgets.widgets import Dashboard

    caught = []
    saved = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        with pytest.raises(ValueError, match="is not a folder"):
            Dashboard(data_root=str(tmp_path / "no_such_folder"))
        gc.collect()
    finally:
        sys.unraisablehook = saved
    assert [str(u.exc_value) for u in caught] == []

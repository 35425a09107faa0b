"""Shared test fixtures.

Real data: ``rdm_widgets/demo_data`` (bundled copy, always present) and
``../shared/data`` beside the repository (present on the developers' machines and in CI).
"""
import pickle
from pathlib import Path

import pytest

from _pickle_guard import FIRED

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips when it is not beside the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture
def no_pickle(monkeypatch):
    """Fail if anything unpickles while the test runs, and check no Payload ever fired."""
    def boom(*a, **k):
        raise AssertionError("pickle was used while loading")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, boom)
    FIRED.clear()
    yield
    assert FIRED == []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Execute the notebooks once per session: when a test that runs every notebook in
    the Binder environment is selected, the dev-environment executions are deselected."""
    if not any(item.get_closest_marker("executes_notebooks") for item in items):
        return
    dropped = [item for item in items if item.get_closest_marker("notebook_execution")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]

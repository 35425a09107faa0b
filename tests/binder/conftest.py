"""Registers the ``binder`` marker (tests/binder builds a fresh environment from binder/)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "binder: builds a fresh venv from binder/ as repo2docker would (minutes)")

"""Every notebook in notebooks/ runs top to bottom without an error.

Notebooks are executed once per test session: where the Binder test
(``tests/binder``, marked ``executes_notebooks``) is selected it runs them in the
Binder environment, and ``test_notebook_runs`` here is deselected (see conftest.py).

Each notebook is executed with nbclient (kernel ``python3``, which jupyter_client
starts with this interpreter) on a copy in a temporary folder that is also the
kernel's working directory, so nothing is written into the repository.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _repo_listing() -> set[str]:
    """Files directly in the repository root and in notebooks/ (what a careless notebook would litter)."""
    return {p.name for p in REPO.iterdir()} | {f"notebooks/{p.name}" for p in (REPO / "notebooks").iterdir()}


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"dashboard.ipynb", "01_dnn_rdms.ipynb", "02_eeg_rdms.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: code cell {i} has outputs; clear them before committing "
                "(jupyter nbconvert --clear-output --inplace)")


@pytest.mark.slow
@pytest.mark.notebook_execution
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    before = _repo_listing()
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    # every code cell ran, and none printed an error output
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    assert _repo_listing() == before, f"{path.name} wrote into the repository: {_repo_listing() ^ before}"

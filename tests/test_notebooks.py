"""The step-through notebooks: each jupytext script converts to a notebook and runs top to bottom with SMOKE=1.

SMOKE=1 makes every notebook use small sizes and few training steps (under a minute each). The notebooks run
in a fresh Jupyter kernel, one after the other, in a temporary working directory; any exception in any cell
fails the test. Skipped when the ``notebooks`` extra (jupytext, nbclient, ipykernel) is not installed.
"""
import pathlib
import time

import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def test_the_notebooks_are_there():
    assert len(NOTEBOOKS) >= 7, f"expected the seven numbered notebooks in {NOTEBOOK_DIR}, found {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_jupytext_percent_script(path):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    kinds = {cell.cell_type for cell in notebook.cells}
    assert kinds == {"markdown", "code"}, f"{path.name}: cell types {kinds}"
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("SMOKE", "1")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        jupytext.write(notebook, tmp_path / f"{path.stem}.ipynb")  # the executed notebook, outputs included
    print(f"{path.name}: {time.perf_counter() - start:.1f} s with SMOKE=1")

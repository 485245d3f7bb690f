"""The step-through notebooks: each jupytext script opens with its goals, has predict-then-run cells and a
control, and runs top to bottom with SMOKE=1 both with widgets and without them; every "(expect …)" line it
prints carries a ✓.

SMOKE=1 makes every notebook use small sizes and few training steps (under a minute each). The notebooks run in
a fresh Jupyter kernel in a temporary working directory; any exception in any cell fails the test. "With
widgets" sets DECONVLAB_WIDGETS=on, so the controls are ipywidgets; "without" puts a folder first on the
kernel's PYTHONPATH in which ``import ipywidgets`` fails, so every control draws its static figures instead.
The full-size runs (SMOKE unset, with and without widgets, a few minutes in all) run with DECONVLAB_FULL_NOTEBOOKS=1; the documentation
build runs them too. Skipped when the ``notebooks`` extra (jupytext, nbclient, ipykernel) is not installed.
"""
import os
import pathlib
import re
import time

import pytest

from deconvlab.teaching import MISS, PASS

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_notebooks_are_there():
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 8 and "10" in names, f"expected the numbered notebooks in {NOTEBOOK_DIR}, found {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_jupytext_percent_script_that_opens_with_its_goals(path):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    kinds = {cell.cell_type for cell in notebook.cells}
    assert kinds == {"markdown", "code"}, f"{path.name}: cell types {kinds}"
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for heading in ("**Learning goals.**", "**Prerequisites.**", "**Expected time.**"):
        assert heading in first.source, f"{path.name}: the first cell has no {heading}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_predict_then_run_cells_and_a_control(path):
    jupytext = pytest.importorskip("jupytext")
    cells = jupytext.read(path).cells
    predicts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "**Predict.**" in c.source]
    assert predicts, f"{path.name}: no cell asks for a prediction"
    for i in predicts:
        guess = cells[i + 1]
        assert guess.cell_type == "code" and re.match(r"my_prediction = None\b", guess.source), path.name
        assert any("reveal(my_prediction" in c.source for c in cells[i + 2:]), f"{path.name}: a guess nobody checks"
    assert any("controls(" in c.source for c in cells if c.cell_type == "code"), f"{path.name}: no control"


def _outputs(notebook):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            yield output


def _printed(notebook):
    return "".join(o.get("text", "") for o in _outputs(notebook) if o.get("output_type") == "stream")


def _run(path, tmp_path, monkeypatch, smoke, widgets):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if smoke:
        monkeypatch.setenv("SMOKE", "1")
    else:
        monkeypatch.delenv("SMOKE", raising=False)
    if widgets:
        pytest.importorskip("ipywidgets")
        monkeypatch.setenv("DECONVLAB_WIDGETS", "on")
    else:
        hidden = tmp_path / "no-widgets" / "ipywidgets"
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text('raise ImportError("ipywidgets is hidden for this test")\n')
        monkeypatch.delenv("DECONVLAB_WIDGETS", raising=False)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hidden.parent),
                                                                        os.environ.get("PYTHONPATH")])))
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        jupytext.write(notebook, tmp_path / f"{path.stem}.ipynb")  # the executed notebook, outputs included
    print(f"{path.name}: {time.perf_counter() - start:.1f} s, SMOKE={int(smoke)}, widgets {'on' if widgets else 'absent'}")
    return notebook


def _check_expectations(path, notebook):
    lines = [line for line in _printed(notebook).splitlines() if "(expect " in line]
    assert lines, f"{path.name}: printed no expectation"
    missed = [line for line in lines if not line.rstrip().endswith(PASS)]
    assert not missed, f"{path.name}: expectations not met (or printed without a verdict): {missed}"
    assert MISS not in _printed(notebook)


@pytest.mark.slow
@pytest.mark.parametrize("widgets", [True, False], ids=["widgets", "no-widgets"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_smoke_mode(path, widgets, tmp_path, monkeypatch):
    notebook = _run(path, tmp_path, monkeypatch, smoke=True, widgets=widgets)
    _check_expectations(path, notebook)
    views = [o for o in _outputs(notebook) if WIDGET_VIEW in o.get("data", {})]
    assert bool(views) == widgets, f"{path.name}: {len(views)} widget outputs with widgets {widgets}"


@pytest.mark.slow
@pytest.mark.parametrize("widgets", [True, False], ids=["widgets", "no-widgets"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_full(path, widgets, tmp_path, monkeypatch):
    if os.environ.get("DECONVLAB_FULL_NOTEBOOKS") != "1":
        pytest.skip("the full-size runs take minutes: set DECONVLAB_FULL_NOTEBOOKS=1")
    _check_expectations(path, _run(path, tmp_path, monkeypatch, smoke=False, widgets=widgets))

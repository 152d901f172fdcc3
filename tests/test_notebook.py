"""notebooks/understanding-state.ipynb: committed without outputs, and it runs end to end.

The run uses nbclient and a real Jupyter kernel (ipykernel, this venv's Python) against the
models of a clone reproduced on the small-epoch profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

NOTEBOOK = Path("notebooks/understanding-state.ipynb")


def test_the_committed_notebook_has_no_outputs_or_execution_counts():
    # As nbstripout leaves it: outputs in git would be stale the moment a model retrains.
    notebook = json.loads((REPO_ROOT / NOTEBOOK).read_text(encoding="utf-8"))
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:60]
        assert cell["metadata"] == {}
    assert set(notebook["metadata"]) <= {"kernelspec", "language_info"}


def test_the_notebook_is_valid_nbformat():
    import nbformat

    nbformat.validate(nbformat.read(REPO_ROOT / NOTEBOOK, as_version=4))


@pytest.mark.e2e
def test_the_notebook_runs_on_the_trained_models(reproduced_clone: Path):
    import nbformat
    from nbclient import NotebookClient

    path = reproduced_clone / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs)
    assert "seed 7; trained framings: " in text and "stateful" in text
    assert "TensorFlow loaded: False" in text
    assert "h from the A step on identical for ABC and BC: True" in text
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    markdown = "".join(output["data"].get("text/markdown", "") for output in outputs if "data" in output)
    assert len(images) == 3
    assert "Right after a reset, K leaves h at a distance of" in markdown

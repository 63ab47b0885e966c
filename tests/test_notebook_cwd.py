"""Notebooks run from any working directory and take papermill parameters (issue 13).

pytest's nbmake runs every notebook from notebooks/; these tests start the kernel at the repository
root instead (as papermill and VS Code may) and inject a parameters cell the way papermill does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dmsim.config import ConfigError
from dmsim.paths import ExperimentsNotFoundError, experiments_dir

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FAST = REPO / "notebooks" / "02_scenarios.ipynb"  # reads committed CSVs only: ~4 s with kernel start-up


def parameters_index(nb: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def with_parameters(nb: nbformat.NotebookNode, **values: object) -> nbformat.NotebookNode:
    """Insert a cell after the parameters cell, as papermill does (it tags it ``injected-parameters``)."""
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(parameters_index(nb) + 1, cell)
    return nb


def paired_rows(nb: nbformat.NotebookNode) -> set[str]:
    """The scenarios (row labels) of notebook 02's table of paired differences, as shown."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "paired_differences(runs, REFERENCE" in c.source]
    text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
    return {line.split()[0] for line in text.splitlines() if line.strip()} - {"metric", "scenario"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_tagged_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "papermill injects after the cell tagged 'parameters'"
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    # Only documented assignments of literals: papermill overrides them by re-assigning after the cell.
    body = ast.parse(code[0].source).body
    assert body and all(isinstance(s, ast.Assign) for s in body)
    for statement in body:
        ast.literal_eval(statement.value)  # raises ValueError if not a literal
    assert all("#" in line for line in code[0].source.splitlines()), "every parameter documented in a comment"
    assert 'Path("..")' not in "".join(c.source for c in code), "relative to notebooks/: fails from elsewhere"


def test_notebook_runs_with_the_repository_root_as_working_directory() -> None:
    nb = execute(nbformat.read(FAST, as_version=4), cwd=REPO)
    assert all(o.output_type != "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert {"shared_services", "platform"} <= paired_rows(nb)


def test_injected_parameters_override_the_defaults() -> None:
    committed = paired_rows(nbformat.read(FAST, as_version=4))  # outputs as committed, with the defaults
    assert "shared_services" in committed and "baseline" not in committed
    # A folder relative to the kernel's working directory, and differences against another scenario.
    nb = execute(with_parameters(nbformat.read(FAST, as_version=4), EXPERIMENTS="experiments",
                                 REFERENCE="shared_services"), cwd=REPO)
    rows = paired_rows(nb)
    assert "baseline" in rows and "shared_services" not in rows


def test_a_missing_experiments_folder_stops_with_one_line() -> None:
    nb = with_parameters(nbformat.read(FAST, as_version=4), EXPERIMENTS="no/such/folder")
    with pytest.raises(CellExecutionError) as err:
        execute(nb, cwd=REPO)
    assert "experiments='no/such/folder' is not allowed: an existing folder" in str(err.value)


def test_experiments_dir_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert experiments_dir() == REPO / "experiments"
    assert experiments_dir("") == REPO / "experiments"  # papermill -p EXPERIMENTS "" means the default
    with pytest.raises(ConfigError, match=r"^experiments='x' is not allowed: an existing folder") as err:
        experiments_dir("x")
    assert "\n" not in str(err.value)


def test_installed_package_walks_up_from_the_working_directory(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # An installed wheel: the package's parent holds no experiments/.
    monkeypatch.setattr("dmsim.paths.repository_root", lambda: tmp_path / "site-packages")
    checkout = tmp_path / "checkout"
    (checkout / "experiments" / "scenario_comparison").mkdir(parents=True)
    (checkout / "notebooks" / "deep").mkdir(parents=True)
    (tmp_path / "checkout" / "notebooks" / "experiments").mkdir()  # not dmsim's: none of its experiment folders
    monkeypatch.chdir(checkout / "notebooks" / "deep")
    assert experiments_dir() == (checkout / "experiments").resolve()
    with pytest.raises(ExperimentsNotFoundError, match="no experiments/ folder") as err:
        experiments_dir(start=tmp_path)
    assert "\n" not in str(err.value)

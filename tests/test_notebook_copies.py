"""The stored copies nbval re-executes must be the series notebooks under the small papermill configuration."""

from __future__ import annotations

import json

import pytest

from notebook_regression import COPIES, parameters_for, prepared_source, series

NOTEBOOKS = series()


def test_every_notebook_has_a_stored_copy():
    assert NOTEBOOKS, "no notebooks in notebooks/"
    missing = [nb.name for nb in NOTEBOOKS if not (COPIES / nb.name).exists()]
    assert not missing, f"run `python tests/notebook_regression.py refresh` to create {missing}"
    orphans = sorted({p.name for p in COPIES.glob("*.ipynb")} - {nb.name for nb in NOTEBOOKS})
    assert not orphans, f"stored copies without a notebook: {orphans}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_stored_copy_matches_notebook(notebook):
    copy = COPIES / notebook.name
    if not copy.exists():
        pytest.fail(f"{copy} is missing")
    stored = [("".join(c["source"]), c["cell_type"]) for c in json.loads(copy.read_text())["cells"]]
    assert stored == prepared_source(notebook), (
        f"{copy} has drifted from {notebook} (with parameters {parameters_for(notebook)}); "
        "run `python tests/notebook_regression.py refresh`"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_committed_notebook_is_a_clean_full_run(notebook):
    """The series notebooks carry the outputs of a real run: every code cell executed, no error output."""
    nb = json.loads(notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), f"{notebook.name} has cells that were not executed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{notebook.name} has error outputs: {[e.get('ename') for e in errors]}"


def _code_cells(notebook):
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_series_stays_thin_and_keeps_test_plumbing_out_of_the_code():
    """Notebooks are narrative + calls: the evaluation, the sentences and the tables live in the package
    (toyrobot_utils.series.report and friends). nbval reads its instructions from cell tags, not from comment lines."""
    cells = [(nb.name, "".join(c["source"]), c.get("metadata", {}).get("tags", [])) for nb in NOTEBOOKS
             for c in _code_cells(nb)]
    lines = sum(len(source.splitlines()) for _, source, _ in cells)
    assert lines <= 900, f"the series has {lines} code lines (at most 900): move repeated code into the package"
    assembling = [name for name, source, _ in cells if "Markdown(" in source or "show(f" in source]
    assert len(assembling) <= 8, f"{len(assembling)} cells assemble Markdown in code: {assembling}"
    plumbing = [name for name, source, _ in cells if "NBVAL_" in source]
    assert not plumbing, f"use nbval's cell tags (nbval-ignore-output, nbval-skip), not comment lines: {plumbing}"
    unknown = {tag for _, _, tags in cells for tag in tags} - {"parameters", "nbval-ignore-output", "nbval-skip",
                                                              "readme-table", "mechanics"}
    assert not unknown, f"unknown cell tags {unknown}"

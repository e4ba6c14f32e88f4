"""The notebook regression pass: the series re-executed by nbval under a small papermill configuration.

    python tests/notebook_regression.py prepare   # make the small default data set (deterministic) in build/nbval/
    python tests/notebook_regression.py refresh   # re-create the stored copies in tests/notebooks/ (after editing a notebook)
    python tests/notebook_regression.py refresh 06 10   # only these (the notebooks before 10 still run, unstored)

What runs under nbval is exactly what a papermill user runs: each stored copy in ``tests/notebooks/`` is the series
notebook with SMALL_PARAMETERS injected by papermill and executed once; nbval re-executes it and compares the outputs
that must not drift (class indices, counts, model summaries, table shapes). ``tests/test_notebook_copies.py`` fails
when a stored copy no longer matches its notebook, so the two cannot drift apart silently.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COPIES = ROOT / "tests" / "notebooks"
BUILD = ROOT / "build" / "nbval"

# Few epochs, a small deterministic default data set, and output folders away from the real run's models/figures.
SMALL_DATA_COUNTS = {"training": 12, "validation": 6, "test": 4}
SMALL_PARAMETERS = {
    "data_dir": "build/nbval/data",
    "models_dir": "build/nbval/models",
    "figures_dir": "build/nbval/figures",
    "epochs": 2,
}
# Notebook-specific extras (only passed to notebooks that declare them in their parameters cell).
EXTRA_PARAMETERS: dict[str, dict] = {}
# 09: one epoch per stage (MobileNetV2 at 224 px; the frozen stage trains on cached features), few latency runs.
EXTRA_PARAMETERS["09"] = {"epochs": 1, "fine_tune_epochs": 1, "gradcam_examples": 4, "latency_runs": 5}
# 07: a tiny search, 2 trials x 1 execution x 1 epoch of small networks (at most 2 M parameters); 08 trains its winner
# with the small configuration's epochs (08 reads the search 07 left in build/nbval/models, so 07 must run first).
# Both at 64 px: a search may well pick a wide first layer, whose convolutions at 128 px would dominate the pass.
EXTRA_PARAMETERS["07"] = {"max_trials": 2, "executions_per_trial": 1, "epochs": 1, "max_model_size": 2_000_000,
                          "image_size": 64}
EXTRA_PARAMETERS["08"] = {"image_size": 64}
# 10: reads what 02-09 left in build/nbval/models; few latency runs and Grad-CAM photos.
EXTRA_PARAMETERS["10"] = {"latency_runs": 3, "gradcam_photos": 3}


def series() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import ast

    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    raise ValueError(f"{notebook} has no cell tagged 'parameters'")


def parameters_for(notebook: Path) -> dict:
    declared = declared_parameters(notebook)
    wanted = {**SMALL_PARAMETERS, **EXTRA_PARAMETERS.get(notebook.name[:2], {})}
    return {k: v for k, v in wanted.items() if k in declared}


def prepare() -> None:
    """Generate the small default data set once; the generator is deterministic, so every run sees the same photos."""
    from toyrobot_utils import default_data

    data = ROOT / SMALL_PARAMETERS["data_dir"]
    if data.exists() and not default_data.has_photos(data):
        shutil.rmtree(data)
    if not data.exists():
        default_data.generate(data, seed=0, counts=SMALL_DATA_COUNTS)
    for key in ("models_dir", "figures_dir"):
        shutil.rmtree(ROOT / SMALL_PARAMETERS[key], ignore_errors=True)


def prepared_source(notebook: Path) -> list[str]:
    """The cell sources papermill produces for ``notebook`` under the small configuration (without executing)."""
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / notebook.name
        pm.execute_notebook(str(notebook), str(out), parameters=parameters_for(notebook), prepare_only=True,
                            progress_bar=False)
        return [("".join(c["source"]), c["cell_type"]) for c in json.loads(out.read_text())["cells"]]


def refresh(only: list[str] | None = None) -> None:
    """Re-execute the stored copies under the small configuration. Later notebooks read what earlier ones trained
    (10 compares every model), so the notebooks before the last one asked for run too, in order, exactly as the
    nbval pass runs them; only the ones asked for are stored."""
    import papermill as pm

    prepare()
    COPIES.mkdir(parents=True, exist_ok=True)
    notebooks = series()
    if only:
        last = max(i for i, nb in enumerate(notebooks) if nb.name[:2] in only)
        notebooks = notebooks[:last + 1]
    with tempfile.TemporaryDirectory() as scratch:
        for notebook in notebooks:
            keep = not only or notebook.name[:2] in only
            print(f"{'refreshing' if keep else 'running (not stored, later notebooks need it)'} {notebook.name}",
                  flush=True)
            out = COPIES / notebook.name if keep else Path(scratch) / notebook.name
            pm.execute_notebook(str(notebook), str(out), parameters=parameters_for(notebook), cwd=str(COPIES),
                                progress_bar=False)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "prepare":
        prepare()
    elif command == "refresh":
        refresh(sys.argv[2:] or None)
    else:
        print(__doc__)
        sys.exit(2)

"""The notebook regression pass: the series re-executed by nbval under a small papermill configuration.

    python tests/notebook_regression.py prepare   # make the small default data set (deterministic) in build/nbval/
    python tests/notebook_regression.py refresh   # re-create the stored copies in tests/notebooks/ (after an edit)
    python tests/notebook_regression.py refresh 06 10   # only these (the notebooks before 10 still run, unstored)

What runs under nbval is exactly what a papermill user runs: each stored copy in ``tests/notebooks/`` is the series
notebook with the quick tour's parameters (``runner.quick_parameters``, in build/nbval/) injected by papermill and
executed once; nbval re-executes it and compares the outputs
that must not drift (class indices, counts, model summaries, table shapes). ``tests/test_notebook_copies.py`` fails
when a stored copy no longer matches its notebook, so the two cannot drift apart silently.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COPIES = ROOT / "tests" / "notebooks"
BUILD = ROOT / "build" / "nbval"

# The quick tour's configuration (series.QUICK_*: few epochs, a small deterministic built-in data set, a tiny tuner
# search), in build/nbval/ instead of build/quick/ so the two never share models.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as in the unit tests: no TensorFlow start-up lines in the copies
# The stored outputs must not depend on whether this CPU has bfloat16 units (modelling.precision): float32, as `make
# test` runs nbval.
os.environ.setdefault("TOYROBOT_PRECISION", "float32")
sys.path.insert(0, str(ROOT))
from toyrobot_utils.series.runner import (  # noqa: E402
    forget_machine_paths,
    prepare_quick_data,
    quick_parameters,
    strip_startup_noise,
)


def series() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def parameters_for(notebook: Path) -> dict:
    return quick_parameters(notebook, BUILD)


def prepare() -> None:
    """Generate the small default data set once; the generator is deterministic, so every run sees the same photos."""
    prepare_quick_data(BUILD)


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
            strip_startup_noise(out)  # as run-series does: the nbval kernels do not print them either
            forget_machine_paths(out)  # papermill's input/output paths, named relative to the project


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

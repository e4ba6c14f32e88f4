"""Run the notebook series in order with papermill: ``python -m toyrobot_utils run-series``.

Each notebook is executed into a temporary file and only replaces the notebook in ``notebooks/`` when it finished
without error, so a failed run never leaves a committed notebook half-executed; the failed copy is kept beside it
(``notebooks/failed/``) with the error cell for you to read.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .config import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def series_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks (``01_data.ipynb`` ... ``10_results.ipynb``) in story order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_series(
    parameters: dict | None = None,
    only: list[str] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    output_dir: Path | None = None,
) -> dict[str, float]:
    """Execute the series; returns seconds per notebook. ``only`` selects notebooks by number prefix ("02")."""
    # Here, not at the top: papermill brings nbclient and jupyter_client (a second or more at start-up); listing the
    # notebooks (series_notebooks, the wall-time benchmark, `run-series --help`) does not need it.
    import papermill as pm

    notebooks = series_notebooks(notebooks_dir)
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(o) for o in only)]
    if not notebooks:
        raise FileNotFoundError(f"No numbered notebooks found in {notebooks_dir}")
    timings: dict[str, float] = {}
    start_all = time.perf_counter()
    for notebook in notebooks:
        target = (output_dir or notebook.parent) / notebook.name
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"[run-series] {notebook.name} ...", flush=True)
        start = time.perf_counter()
        with tempfile.NamedTemporaryFile(suffix=".ipynb", dir=target.parent, delete=False) as tmp:
            tmp_path = Path(tmp.name)
        try:
            pm.execute_notebook(
                str(notebook),
                str(tmp_path),
                parameters=parameters or {},
                cwd=str(notebook.parent),
                progress_bar=False,
                log_output=False,
            )
        except Exception as exc:  # papermill.PapermillExecutionError and kernel failures
            failed = notebook.parent / "failed" / notebook.name
            failed.parent.mkdir(exist_ok=True)
            shutil.move(tmp_path, failed)
            raise RuntimeError(
                f"{notebook.name} failed: {exc.__class__.__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}\n"
                f"The executed copy with the error is in {failed}; {target} was left as it was."
            ) from exc
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # NamedTemporaryFile makes 0600; a notebook should be readable like any file
        os.replace(tmp_path, target)
        timings[notebook.name] = time.perf_counter() - start
        print(f"[run-series] {notebook.name} done in {timings[notebook.name]:.0f} s", flush=True)
    total = time.perf_counter() - start_all
    print(f"[run-series] {len(timings)} notebooks in {total / 60:.1f} min", flush=True)
    return timings


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m toyrobot_utils run-series", description=__doc__)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="papermill parameter passed to every notebook, e.g. -p epochs 5")
    parser.add_argument("--only", nargs="*", help="notebook number prefixes to run, e.g. --only 01 02")
    parser.add_argument("--output-dir", type=Path, help="write executed notebooks here instead of in place")
    args = parser.parse_args(argv)
    params = {name: _parse_value(value) for name, value in args.parameter}
    try:
        run_series(params, only=args.only, output_dir=args.output_dir)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

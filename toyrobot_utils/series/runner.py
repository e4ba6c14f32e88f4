"""Run the notebook series in order with papermill: ``toyrobot run-series`` (``make run``).

Each notebook is executed into a temporary file and only replaces the notebook in ``notebooks/`` when it finished
without error, so a failed run never leaves a committed notebook half-executed; the failed copy is kept beside its
output (``notebooks/failed/``, or ``<output-dir>/failed/``) with the error cell for you to read, and the error is
printed on one line, whole (a data folder's layout error names the folder and the fix). Progress: which notebook,
its cells as they run (papermill's bar), the elapsed time and an estimate of what is left (from the last run's
papermill times).

``--quick`` is the tour for a newcomer: every notebook on a small configuration (a small built-in data set in
``build/quick/``, 2 epochs, a tiny tuner search) into ``build/quick/notebooks``, leaving the committed notebooks,
``models/`` and ``figures/`` untouched — the whole series seen working in a few minutes before the full run. The
notebook regression pass (nbval) runs exactly this configuration.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from toyrobot_utils.config import PRECISION_ENV, PRECISIONS, PROJECT_ROOT, shown_path
from toyrobot_utils.files import atomic_write_text, read_json

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
QUICK_DIR = PROJECT_ROOT / "build" / "quick"
# The quick configuration: few epochs, a small deterministic built-in data set, output folders of its own.
QUICK_DATA_COUNTS = {"training": 12, "validation": 6, "test": 4}
QUICK_PARAMETERS = {"epochs": 2}
# Notebook-specific extras (only passed to notebooks that declare them in their parameters cell).
QUICK_EXTRAS: dict[str, dict] = {
    # 07: a tiny Hyperband search (epochs=2: two networks of at most 2 M parameters, 2 epochs each); 08 trains its
    # winner and the write-up's with 2 epochs. Both at 64 px, where every network costs a quarter of 128 px.
    "07": {"epochs": 2, "executions_per_trial": 1, "max_model_size": 2_000_000, "image_size": 64},
    "08": {"image_size": 64},
    # 09: one epoch per stage (MobileNetV2 at 224 px; the frozen stage trains on cached features), few latency runs.
    "09": {"epochs": 1, "fine_tune_epochs": 1, "gradcam_examples": 4, "latency_runs": 5},
    # 10: reads what 02-09 left; few latency runs and Grad-CAM photos.
    "10": {"latency_runs": 3, "gradcam_photos": 3},
}


def series_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks (``01_data.ipynb`` ... ``10_results.ipynb``) in story order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    nb = read_json(notebook) or {}
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
    raise ValueError(f"{notebook} has no cell tagged 'parameters'")


def quick_parameters(notebook: Path, folder: Path = QUICK_DIR) -> dict:
    """The quick configuration's parameters for ``notebook`` (those it declares), with its folders under ``folder``."""
    try:  # relative to the project (the notebooks resolve it), so an executed copy names no machine's folders
        folder = Path(folder).resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        pass
    wanted = {"data_dir": (folder / "data").as_posix(), "models_dir": (folder / "models").as_posix(),
              "figures_dir": (folder / "figures").as_posix(), **QUICK_PARAMETERS,
              **QUICK_EXTRAS.get(notebook.name[:2], {})}
    declared = declared_parameters(notebook)
    return {k: v for k, v in wanted.items() if k in declared}


def prepare_quick_data(folder: Path = QUICK_DIR) -> Path:
    """The quick configuration's small built-in data set (deterministic; made once), and empty models/figures."""
    # the generator pulls in the drawing code; only the quick tour needs it here
    from toyrobot_utils.synthetic import default_data

    folder = Path(folder) if Path(folder).is_absolute() else PROJECT_ROOT / folder
    data = folder / "data"
    if data.exists() and not default_data.has_photos(data):
        shutil.rmtree(data)
    if not data.exists():
        default_data.generate(data, seed=0, counts=QUICK_DATA_COUNTS)
    for name in ("models", "figures"):
        shutil.rmtree(folder / name, ignore_errors=True)
    return data


def last_durations(notebooks: list[Path]) -> dict[str, float]:
    """Seconds each notebook took in its last papermill run (its metadata), for the estimate of what is left."""
    durations = {}
    for notebook in notebooks:
        duration = ((read_json(notebook) or {}).get("metadata", {}).get("papermill") or {}).get("duration")
        if isinstance(duration, (int, float)):
            durations[notebook.name] = float(duration)
    return durations


def progress_line(index: int, notebooks: list[Path], elapsed: float, durations: dict[str, float]) -> str:
    """'[run-series] 3/10 03_dropout.ipynb: 12.3 min so far, about 95 min left' — the estimate scales the last
    run's times by how this run compares with them so far."""
    name = notebooks[index].name
    head = f"[run-series] {index + 1}/{len(notebooks)} {name}: {elapsed / 60:.1f} min so far"
    remaining = [durations.get(n.name) for n in notebooks[index:]]
    if any(d is None for d in remaining) or not durations:
        return head
    done = [durations.get(n.name) for n in notebooks[:index]]
    pace = elapsed / sum(done) if index and all(d for d in done) and sum(done) > 0 else 1.0
    return f"{head}, about {pace * sum(remaining) / 60:.0f} min left (the last run's times x {pace:.2f})"


# TensorFlow's start-up notices, printed by its C++ runtime whatever TF_CPP_MIN_LOG_LEVEL says (TF 2.21): they carry
# no result, differ in every run (timestamps, process ids) and would otherwise open every notebook's first output.
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    # tf.data's benign version notice ("... Unknown attributes will be ignored") on every pipeline TF 2.21 traces
    r"|E\d{4} [\d:. ]+\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool .*"
    # TensorFlow Lite's note when an interpreter is made (export-tflite's checks, a .tflite model on the full install)
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)$")


def strip_startup_noise(notebook: Path) -> int:
    """Remove TensorFlow's start-up notices from an executed notebook's stderr outputs (in place, atomically);
    returns how many lines went. Everything else a cell printed, warnings and errors included, is kept."""
    nb = read_json(notebook) or {}
    removed = 0
    for cell in nb.get("cells", []):
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = "".join(output.get("text", "")).splitlines(keepends=True)
                clean = [line for line in lines if not STARTUP_NOISE.match(line.rstrip("\n"))]
                removed += len(lines) - len(clean)
                if not clean:
                    continue
                output["text"] = clean
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept
    if removed:
        atomic_write_text(notebook, json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")  # as nbformat
    return removed


QUICK_BANNER_TAG = "quick-tour-banner"


def quick_banner(folder: Path = QUICK_DIR) -> str:
    """The Markdown that opens every notebook of the quick tour: a smoke run whose numbers mean nothing, and where its
    files are (not ``models/`` or ``figures/``, which the tour leaves alone)."""
    shown = shown_path(folder)
    epochs = QUICK_PARAMETERS["epochs"]
    photos = " / ".join(f"{n}" for n in QUICK_DATA_COUNTS.values())
    return (f"> **Quick tour: a smoke run, not a result.** This copy ran on a small built-in data set "
            f"({photos} photos per class for training / validation / test) for {epochs} epochs, to show the series "
            f"working in minutes: **its accuracies, intervals and focus scores mean nothing.** Its files are under "
            f"`{shown}/` (photos `{shown}/data/`, models `{shown}/models/`, figures `{shown}/figures/`), not under "
            f"`models/` or `figures/`, which it leaves alone. The committed notebooks in `notebooks/` carry a full "
            "run; `make run` makes one.")


def add_banner(notebook: Path, text: str) -> None:
    """Put ``text`` as a Markdown cell at the top of an executed notebook (in place, atomically), tagged
    ``QUICK_BANNER_TAG``; a banner already there is replaced, so a notebook never carries two."""
    nb = read_json(notebook) or {}
    cells = [c for c in nb.get("cells", []) if QUICK_BANNER_TAG not in c.get("metadata", {}).get("tags", [])]
    banner = {"cell_type": "markdown", "id": QUICK_BANNER_TAG, "metadata": {"tags": [QUICK_BANNER_TAG]},
              "source": text.splitlines(keepends=True)}
    nb["cells"] = [banner, *cells]
    atomic_write_text(notebook, json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def forget_machine_paths(notebook: Path) -> None:
    """papermill records the input and output paths of a run in the notebook's metadata as absolute paths: named
    relative to the project instead (in place, atomically), so a committed notebook names no machine's folders."""
    nb = read_json(notebook) or {}
    papermill = nb.get("metadata", {}).get("papermill")
    if not papermill:
        return
    for key in ("input_path", "output_path"):
        if papermill.get(key):
            papermill[key] = shown_path(papermill[key])
    atomic_write_text(notebook, json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


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
    per_notebook=None,
    estimates_from: Path | None = None,
    banner: str | None = None,
) -> dict[str, float]:
    """Execute the series; returns seconds per notebook. ``only`` selects notebooks by number prefix ("02").
    ``per_notebook(notebook) -> dict``: parameters for one notebook, on top of ``parameters``. ``estimates_from``:
    the folder whose notebooks' papermill times estimate what is left (default: the notebooks themselves).
    ``banner``: Markdown put at the top of every executed copy (the quick tour's)."""
    # Here, not at the top: papermill brings nbclient and jupyter_client (a second or more at start-up); listing the
    # notebooks (series_notebooks, the wall-time benchmark, `run-series --help`) does not need it.
    import papermill as pm

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernels inherit it: no TensorFlow start-up log lines
    notebooks = series_notebooks(notebooks_dir)
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(o) for o in only)]
    if not notebooks:
        raise FileNotFoundError(f"No numbered notebooks found in {notebooks_dir}")
    durations = last_durations(series_notebooks(estimates_from) if estimates_from else notebooks)
    timings: dict[str, float] = {}
    start_all = time.perf_counter()
    for index, notebook in enumerate(notebooks):
        target = (output_dir or notebook.parent) / notebook.name
        target.parent.mkdir(parents=True, exist_ok=True)
        print(progress_line(index, notebooks, time.perf_counter() - start_all, durations), flush=True)
        start = time.perf_counter()
        _execute(pm, notebook, target, {**(parameters or {}), **(per_notebook(notebook) if per_notebook else {})},
                 banner)
        timings[notebook.name] = time.perf_counter() - start
        print(f"[run-series] {notebook.name} done in {timings[notebook.name]:.0f} s", flush=True)
    total = time.perf_counter() - start_all
    print(f"[run-series] {len(timings)} notebooks in {total / 60:.1f} min", flush=True)
    return timings


def _execute(pm, notebook: Path, target: Path, parameters: dict, banner: str | None = None) -> None:
    """One notebook into a temporary file, which replaces ``target`` only when every cell ran."""
    with tempfile.NamedTemporaryFile(suffix=".ipynb", dir=target.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        pm.execute_notebook(str(notebook), str(tmp_path), parameters=parameters, cwd=str(notebook.parent),
                            progress_bar={"desc": f"{notebook.stem} cells", "leave": False}, log_output=False)
    except Exception as exc:  # papermill.PapermillExecutionError and kernel failures
        failed = target.parent / "failed" / notebook.name  # beside the output: --output-dir X keeps it under X
        failed.parent.mkdir(exist_ok=True)
        shutil.move(tmp_path, failed)
        raise RuntimeError(f"{notebook.name} failed: {_cell_error(exc)} (the executed copy with the error is in "
                           f"{failed}; {target} was left as it was)") from exc
    strip_startup_noise(tmp_path)
    forget_machine_paths(tmp_path)
    if banner:
        add_banner(tmp_path, banner)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # NamedTemporaryFile makes 0600; a notebook should be readable like any file
    os.replace(tmp_path, target)


def _cell_error(exc: Exception) -> str:
    """The error a notebook cell raised, whole, on one line: papermill's ``ename: evalue`` (e.g. the audit's
    ``DataSetError`` naming the folder and the fix), not the last line of its traceback text."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename is None:
        text = str(exc).strip()
        ename, evalue = type(exc).__name__, text.splitlines()[-1] if text else ""
    return f"{ename}: {' '.join(str(evalue).split())}"


def quick_tour(only: list[str] | None = None, folder: Path = QUICK_DIR) -> dict[str, float]:
    """Every notebook on the quick configuration into ``folder/notebooks`` (see the module's docstring)."""
    prepare_quick_data(folder)
    return run_series(only=only, output_dir=folder / "notebooks", per_notebook=lambda nb: quick_parameters(nb, folder),
                      estimates_from=PROJECT_ROOT / "tests" / "notebooks", banner=quick_banner(folder))


def run(args) -> int:
    """``toyrobot run-series`` (options in ``__main__``): exit 1 when a notebook failed, 2 for conflicting options."""
    params = {name: _parse_value(value) for name, value in args.parameter}
    precision = getattr(args, "precision", None)  # --precision: every notebook's setup() reads it (series.notebook)
    if precision:
        if precision not in PRECISIONS:
            print(f"error: --precision {precision!r} is not one of {', '.join(PRECISIONS)}", file=sys.stderr)
            return 2
        os.environ[PRECISION_ENV] = precision  # the kernels inherit it, --quick included
    try:
        if args.quick:
            if params or args.output_dir:
                print("error: --quick has its own parameters and folders; run without -p / --output-dir",
                      file=sys.stderr)
                return 2
            quick_tour(only=args.only)
            print(f"[run-series] the executed notebooks are in {shown_path(QUICK_DIR / 'notebooks')}")
        else:
            run_series(params, only=args.only, output_dir=args.output_dir)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

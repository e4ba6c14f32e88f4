"""The whole series on a folder of real photos, as a parent's ``make run`` on their own folder would run it: every
notebook executed by ``toyrobot run-series`` into a work folder (notebooks, models and figures there; the committed
notebooks, ``models/`` and ``figures/`` untouched), then one row per model from its run record: test accuracy with its
95 % interval, epochs run, why training stopped, training and validation accuracy at the kept epoch, what its curves
say (``stopping.learning_state``: did not learn, under-fitting, still learning when training ended) and minutes.

    python benchmarks/series_real_photos.py DATA_DIR [--work build/series_real/<folder>] [--only 02 03 ...]
    python benchmarks/series_real_photos.py DATA_DIR --report-only   # the table again from the work folder

DATA_DIR has the series' layout (training/, validation/, test/, one folder per class). The precision is the
series' default (``auto``: ``TOYROBOT_PRECISION`` unset), as a parent's run has it; each row names the precision its
run trained in. The section ``series_real_photos_<folder>`` of benchmarks/RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from report import markdown_table, write_section  # noqa: E402

from toyrobot_utils import stats  # noqa: E402
from toyrobot_utils.analysis.comparison import EXTRA_LABELS  # noqa: E402
from toyrobot_utils.modelling import models, stopping, training  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = {**{str(n): models.MODEL_TABLE[n].name for n in range(1, 10)},
        **{label: name for name, label in EXTRA_LABELS.items()}}


def run_series(data_dir: Path, work: Path, only=None, parameters=()) -> float:
    """``toyrobot run-series`` on ``data_dir`` into ``work``; its wall time in seconds (raises when it fails)."""
    command = [sys.executable, "-m", "toyrobot_utils", "run-series", "--output-dir", str(work / "notebooks"),
               "-p", "data_dir", str(data_dir), "-p", "models_dir", str(work / "models"),
               "-p", "figures_dir", str(work / "figures")]
    for name, value in parameters:
        command += ["-p", name, value]
    if only:
        command += ["--only", *only]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def why_stopped(record: dict) -> str:
    if record.get("stopped_early_at"):
        return f"early stopping (patience {record.get('patience')})"
    if record.get("epochs_run") == record.get("epochs_requested"):
        return "its budget"
    return "–"


def model_row(label: str, name: str, models_dir: Path) -> dict | None:
    """One model's row from its record and history; None when it has none (not trained, or no test score)."""
    try:
        record = training.load_record(name, models_dir)
        history = training.load_history(name, models_dir)
    except FileNotFoundError:
        return None
    classes = len(record.get("class_names") or []) or 1
    state = stopping.learning_state(history, classes) if "accuracy" in history else {}
    said = [text for key, text in (("did_not_learn", "did not learn"), ("under_fitting", "under-fitting"),
                                   ("still_learning", "still learning at the end")) if state.get(key)]
    accuracy, photos = record.get("test_accuracy"), record.get("test_images")
    seconds = (record.get("seconds") or 0) + (record.get("feature_extraction_seconds") or 0)
    return {"model": label,
            "test (95 % interval)": stats.accuracy_text(round(accuracy * photos), photos) if photos else "–",
            "best epoch / epochs run": f"{record.get('best_epoch')} / {record.get('epochs_run')}"
                                       f" (of {record.get('epochs_requested')})",
            "stopped by": why_stopped(record),
            "training acc. at best": f"{record['best_train_accuracy']:.1%}"
            if record.get("best_train_accuracy") is not None else "–",
            "validation acc. at best": f"{record['best_val_accuracy']:.1%}",
            "curves say": ", ".join(said) or "–",
            "precision": (record.get("settings") or {}).get("precision", "float32"),
            "min": f"{seconds / 60:.1f}"}


def executed(work: Path) -> str:
    """The notebooks run-series finished in ``work`` (it writes a notebook there only when every cell ran)."""
    return ", ".join(p.name[:2] for p in sorted((work / "notebooks").glob("[0-9][0-9]_*.ipynb")))


def table(models_dir: Path) -> pd.DataFrame:
    rows = [model_row(label, name, models_dir) for label, name in RUNS.items()]
    return pd.DataFrame([row for row in rows if row])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--work", type=Path, help="where the notebooks, models and figures go "
                                                  "(default build/series_real/<folder>)")
    parser.add_argument("--only", nargs="*", help="notebook numbers to run (default: all)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter, as run-series takes it")
    parser.add_argument("--report-only", action="store_true", help="no run: the table from the work folder")
    parser.add_argument("--note", default="", help="a sentence to add under the table (how this run went)")
    parser.add_argument("--results", type=Path, help="RESULTS.md to write (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    work = (args.work or ROOT / "build" / "series_real" / data_dir.name).resolve()
    wall = None if args.report_only else run_series(data_dir, work, args.only, args.parameter)
    result = table(work / "models")
    if result.empty:
        print(f"error: no run records in {work / 'models'}", file=sys.stderr)
        return 2
    body = (f"`toyrobot run-series` on `{data_dir.name}` (notebooks, models and figures in `{work.name}/`, outside "
            f"the committed ones); precision setting `{os.environ.get('TOYROBOT_PRECISION') or 'auto'}` (the "
            "series' default). *training acc.*: as Keras reports it during the epoch (augmented photos, dropout "
            "on); *curves say*: `stopping.learning_state` on the run's history; *min*: training minutes from the "
            "record (MobileNetV2: with its feature pass); the note below says whether the machine was quiet."
            + (f" Whole run: {wall / 60:.1f} min." if wall else "")
            + f" Notebooks executed to the end in the work folder: {executed(work) or 'none'}."
            + "\n\n" + markdown_table(result) + "\n" + (f"\n{args.note}\n" if args.note else ""))
    print(body)
    kwargs = {"results": args.results} if args.results else {}
    command = "python benchmarks/series_real_photos.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_section(f"series_real_photos_{data_dir.name}", f"The whole series on real photos: {data_dir.name}", body,
                  command=command, **kwargs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

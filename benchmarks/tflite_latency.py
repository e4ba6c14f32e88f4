"""Keras vs TensorFlow Lite float32 / float16 / int8 for the robot: file size, test accuracy and CPU latency per photo
at one thread, side by side in one run, for every trained model (or one).

    .venv/bin/python benchmarks/tflite_latency.py [--model NAME ...] [--models-dir models] [--data-dir data]
        [--runs 50] [--out-dir DIR] [--quick] [--results PATH | --no-write]

For each model with a run record in ``--models-dir`` (``predict.trained_models``; ``--model`` picks some), the script
exports the three .tflite files (``export.export_tflite``: beside the model unless ``--out-dir``; int8 is full-integer,
calibrated on training photos of ``--data-dir``), then measures every format on the same preprocessed test photos
(``export.compare_formats``): accuracy, its change against the Keras model measured in this run, the share of photos
on which the top class agrees with Keras, and milliseconds per photo at batch 1 with ONE CPU thread (median of
``--runs`` timed calls; TFLite: ``Interpreter(num_threads=1)``; Keras: ``transfer.measure_latency`` in a child
process whose TensorFlow thread pools are set to 1). The table is printed and written to the "tflite" section of
benchmarks/RESULTS.md.

``--quick`` (5 runs, 20 calibration photos, nothing written to RESULTS.md unless ``--results`` is given) is for a
smoke run, e.g. on a tiny model in a temporary folder: ``--models-dir /tmp/x/models --data-dir /tmp/x/data --quick``.
Exit code 0, 1 if any model failed (the others are still measured), 2 if there was nothing to measure.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from toyrobot_utils import config
from toyrobot_utils.robot import export, predict  # noqa: E402

QUICK = {"runs": 5, "warmup": 1, "calibration": 20}


def measure(names, args) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """compare_formats for each model: (all rows, per-model attrs, failures as text)."""
    tables, notes, failed = [], [], []
    for name in names:
        print(f"\n== {name}: exporting and measuring ...", flush=True)
        start = time.perf_counter()
        try:
            df = export.compare_formats(name, models_dir=args.models_dir, data_dir=args.data_dir,
                                        out_dir=args.out_dir, runs=args.runs, warmup=args.warmup,
                                        calibration=args.calibration)
        except Exception as err:  # noqa: BLE001 - one model's failure must not lose the others' numbers
            print(f"{name}: FAILED: {err}", file=sys.stderr)
            traceback.print_exc()
            failed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        print(export.format_table(df))
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)
        tables.append(df)
        notes.append(dict(df.attrs))
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), notes, failed


def markdown(table: pd.DataFrame, notes: list[dict], failed: list[str], args, load: float) -> str:
    first = notes[0]
    counts = ", ".join(f"{n['model']} {n['test_images']}" for n in notes)
    keras_rows = table[table["format"] == "keras"].set_index("model")["test_accuracy"]
    versus = ", ".join(f"{n['model']} {_pct(keras_rows[n['model']])} vs {_pct(n['record_test_accuracy'])}"
                       for n in notes)
    lines = [
        export.format_table(table, markdown=True),
        "",
        f"- Test photos: {counts} (from `{args.data_dir}`); accuracy of every format on the same preprocessed "
        "photos; *change* is against the Keras model measured in this run, *agrees* is the share of photos with "
        "the same top class as Keras.",
        f"- Keras test accuracy in this run vs the run record's: {versus}.",
        f"- Latency: median of {args.runs} timed calls after {args.warmup} warm-up calls, batch 1 (one photo at a "
        f"time), 1 CPU thread. TFLite: {first['interpreter']} with `num_threads=1` (its default XNNPACK delegate); "
        "Keras: a compiled inference function (`transfer.measure_latency`) in a child process with TensorFlow's "
        f"intra- and inter-op thread pools set to 1. Load average when the run started: {load:.1f} on "
        f"{os.cpu_count()} cores.",
        f"- int8: {first['int8_mode']}, {first['calibration_images']} training photos (seeded sample). float16: "
        "float16 weights, computed in float32 on this CPU.",
        "- Speed-up = Keras ms / format ms.",
    ]
    if failed:
        lines.append("- Failed: " + "; ".join(failed))
    return "\n".join(lines)


def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append",
                        help="a run name; repeat for several (default: every model with a record in --models-dir)")
    parser.add_argument("--models-dir", type=Path, default=config.MODELS_DIR)
    parser.add_argument("--data-dir", type=Path, default=config.DATA_DIR)
    parser.add_argument("--out-dir", type=Path, help="where the .tflite files go (default: beside each model)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calibration", type=int, default=export.DEFAULT_CALIBRATION_IMAGES,
                        help="training photos for int8 calibration")
    parser.add_argument("--quick", action="store_true", help="smoke run: %s; RESULTS.md untouched" % QUICK)
    parser.add_argument("--results", type=Path, help="RESULTS.md to write the section to (default: benchmarks/)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.calibration = QUICK["runs"], QUICK["warmup"], QUICK["calibration"]
    load = os.getloadavg()[0]

    if args.model:
        names = list(args.model)
    else:
        available = predict.trained_models(args.models_dir)
        names = list(available["name"])
        skipped = available.attrs["without_record"]
        if skipped:
            print(f"skipped (no run record): {', '.join(skipped)}")
    if not names:
        print(f"No trained model with a record in {args.models_dir}: {predict.TRAIN_FIRST}.", file=sys.stderr)
        return 2
    print(f"models: {', '.join(names)}; data: {args.data_dir}; {args.runs} runs, 1 thread; {os.cpu_count()} CPUs, "
          f"load average {load:.1f}", flush=True)

    table, notes, failed = measure(names, args)
    if table.empty:
        print("Nothing measured.", file=sys.stderr)
        return 1 if failed else 2
    print("\n" + export.format_table(table))
    write = not args.no_write and (not args.quick or args.results is not None)
    if write:
        from report import RESULTS, write_section

        command = "python benchmarks/tflite_latency.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        path = write_section("tflite", "Keras vs TensorFlow Lite (float32, float16, int8): size, accuracy, latency",
                             markdown(table, notes, failed, args, load), command=command.strip(),
                             results=args.results or RESULTS)
        print(f"\nwritten to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

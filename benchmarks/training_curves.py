"""Full-length training curves: networks of the write-up's table trained without early stopping, as the series
trains them otherwise (same pipeline, augmentation, learning-rate reducer, seed, precision setting).

Early stopping and the epoch budget can only be chosen from runs that were not cut short; these are those runs. Each
run's history (``<name>_history.csv``: training and validation accuracy and loss per epoch) stays in ``--out-dir``
(default ``build/curves/<folder>``), where ``benchmarks/early_stopping.py --models-dir`` replays the stopping rules
on it. ``--set key=value`` changes one argument of the network's builder (a short experiment, e.g.
``learning_rate=3e-4``); the run's name then says so.

    python benchmarks/training_curves.py DATA_DIR --models 3,8 --epochs 80 [--set learning_rate=3e-4]
    python benchmarks/training_curves.py DATA_DIR --models 3,8 --epochs 80 --report-only   # rows from stored runs
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402
from report import markdown_table, output_arguments, write_section  # noqa: E402

from toyrobot_utils import data  # noqa: E402
from toyrobot_utils.modelling import models, precision, stopping, training  # noqa: E402


def parse_overrides(items) -> dict:
    """``["learning_rate=3e-4", "dense=64"]`` -> {"learning_rate": 0.0003, "dense": 64}."""
    overrides = {}
    for item in items or ():
        key, _, value = item.partition("=")
        try:
            overrides[key] = int(value)
        except ValueError:
            try:
                overrides[key] = float(value)
            except ValueError:
                overrides[key] = value
    return overrides


def run_name(number: int, overrides: dict, seed: int, default_seed: int) -> str:
    spec = models.MODEL_TABLE[number]
    suffix = "".join(f"_{k}{v}" for k, v in sorted(overrides.items()))
    return f"{spec.name}{suffix}" + (f"_seed{seed}" if seed != default_seed else "")


def train_full(number: int, data_dir: Path, out: Path, *, epochs: int, seed: int, overrides: dict,
               name: str) -> dict:
    """One network trained for all ``epochs`` (no early stopping); a summary row of its curve."""
    spec = models.MODEL_TABLE[number]
    splits = data.load_datasets(data_dir, image_size=spec.image_size, preprocessing=spec.preprocessing,
                                augment=spec.augment, seed=seed, verbose=False)
    training.seed_everything(seed)
    model = spec.build(len(splits["training"].class_names), **overrides)
    start = time.perf_counter()
    run = training.fit(model, splits["training"], splits["validation"], name=name, epochs=epochs, patience=None,
                       lr_reducer=spec.lr_reducer, models_dir=out, seed=seed, overwrite=True, verbose=0,
                       tensorboard=False, settings=spec.settings(epochs=epochs, overrides=overrides))
    return summary_row(name, run.history, len(splits["training"].class_names), time.perf_counter() - start)


def summary_row(name: str, history: pd.DataFrame, classes: int, seconds: float | None = None) -> dict:
    """Where the curve peaks on validation and what training accuracy does around it."""
    rows = history.sort_values("epoch").to_dict("records")
    best = rows[stopping.best_row(rows)]
    last10 = history.sort_values("epoch").tail(10)
    row = {"run": name, "epochs": len(rows), "best epoch": int(best["epoch"]),
           "best val": float(best["val_accuracy"]), "train at best": float(best["accuracy"]),
           "train, last 10 epochs": float(last10["accuracy"].mean()),
           "val, last 10 epochs": float(last10["val_accuracy"].mean()), "chance": 1 / classes,
           "first epoch 10 pt above chance": next((int(r["epoch"]) for r in rows
                                                   if r["val_accuracy"] >= 1 / classes + stopping.NEAR_CHANCE), "–")}
    if seconds is not None:
        row["min"] = seconds / 60
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--models", default="3", help="comma-separated model numbers (1-8)")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--set", action="append", dest="overrides", metavar="KEY=VALUE",
                        help="a builder argument to change (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="no training: the rows from the stored runs")
    parser.add_argument("--note", default="", help="a sentence on how the run went (was the machine quiet?)")
    output_arguments(parser, seed=42)
    args = parser.parse_args(argv)
    decision = precision.use(None, network="conv_net")
    folder = args.data_dir.resolve().name
    out = args.out_dir or Path("build/curves") / folder
    overrides = parse_overrides(args.overrides)
    rows = []
    for number in (int(n) for n in args.models.split(",")):
        name = run_name(number, overrides, args.seed, 42)
        if args.report_only:  # the row again from the stored history (e.g. after a column was added)
            record = training.load_record(name, out)
            rows.append(summary_row(name, training.load_history(name, out), len(record["class_names"]),
                                    record["seconds"]))
            continue
        rows.append(train_full(number, args.data_dir, out, epochs=args.epochs, seed=args.seed, overrides=overrides,
                               name=name))
        print(markdown_table(pd.DataFrame(rows[-1:])), flush=True)
    body = (f"Data: `{folder}`; precision {decision.precision} (setting `{decision.setting}`); no early stopping; "
            f"histories in `{out}` (replayed by `benchmarks/early_stopping.py`). *train*: training accuracy as Keras "
            "reports it during the epoch (augmented photos, dropout on)."
            + (f" {args.note}" if args.note else "")
            + (" Rows read back from the stored runs (`--report-only`); the same command without it trained them."
               if args.report_only else "") + "\n\n"
            + markdown_table(pd.DataFrame(rows)))
    print(body)
    if not args.no_results:
        key = f"training_curves_{folder}" + "".join(f"_{k}{v}" for k, v in sorted(overrides.items()))
        command = "python benchmarks/training_curves.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(key, f"Full-length training curves: {folder}"
                      + (f" ({', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else ""),
                      body, command=command, results=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

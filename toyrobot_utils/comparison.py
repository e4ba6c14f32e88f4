"""Comparing runs: test results are added to each run's metrics record, and every record becomes a table row.

The notebooks never type a number in: notebooks 03-09 and the results notebook read these records back.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from . import config
from .models import MODEL_TABLE
from .training import load_record, update_record


def save_test_results(run, results: dict, models_dir: str | Path | None = None) -> dict:
    """Store ``evaluation.evaluate``'s test accuracy and per-class accuracy in the run's record; returns the record."""
    name = run if isinstance(run, str) else run.name
    per_class = results["per_class"]["accuracy"]
    return update_record(
        name,
        models_dir,
        test_accuracy=float(results["accuracy"]),
        test_images=int(len(results["df"])),
        per_class_test_accuracy={str(k): float(v) for k, v in per_class.items()},
        test_evaluated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def compare_runs(models_dir: str | Path | None = None, numbers: Iterable[int] | None = None,
                 extra_names: Iterable[str] = ()) -> pd.DataFrame:
    """One row per model of the write-up's table that has a record in ``models_dir`` (plus ``extra_names``).

    Columns: what changed, our validation and test accuracy beside the write-up's, parameters, file size, training
    time. Models without a record are listed in ``table.attrs["missing"]`` rather than failing, so a partial run
    still gives a table.
    """
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    wanted = [MODEL_TABLE[n] for n in (numbers if numbers is not None else MODEL_TABLE)]
    rows, missing = [], []
    entries = [(spec.number, spec.name, spec) for spec in wanted] + [(None, name, None) for name in extra_names]
    for number, name, spec in entries:
        try:
            record = load_record(name, models_dir)
        except FileNotFoundError:
            missing.append(name)
            continue
        settings = record.get("settings") or {}
        rows.append({
            "model": number if number is not None else settings.get("model_number"),
            "name": name,
            "changes": spec.changes if spec else settings.get("changes", ""),
            "val_accuracy": record.get("best_val_accuracy"),
            "test_accuracy": record.get("test_accuracy"),
            "writeup_val_accuracy": spec.writeup_validation_accuracy if spec else None,
            "writeup_test_accuracy": spec.writeup_test_accuracy if spec else None,
            "best_epoch": record.get("best_epoch"),
            "epochs_run": record.get("epochs_run"),
            "train_val_gap": _gap(record),
            "params": record.get("params_total"),
            "trainable_params": record.get("params_trainable"),
            "file_mb": round(record["file_bytes"] / 1e6, 2) if record.get("file_bytes") else None,
            "train_seconds": round(record["seconds"], 1) if record.get("seconds") is not None else None,
            "seconds_per_epoch": round(record["seconds_per_epoch"], 2) if record.get("seconds_per_epoch") else None,
            "latency_ms": record.get("latency_ms_per_image"),
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.set_index("model")
    table.attrs["missing"] = missing
    return table


def per_class_table(models_dir: str | Path | None = None, numbers: Iterable[int] | None = None) -> pd.DataFrame:
    """Test accuracy per class (columns) for every model with test results (rows)."""
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    rows = {}
    for number in numbers if numbers is not None else MODEL_TABLE:
        try:
            record = load_record(MODEL_TABLE[number].name, models_dir)
        except FileNotFoundError:
            continue
        if record.get("per_class_test_accuracy"):
            rows[number] = record["per_class_test_accuracy"]
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def _gap(record: dict) -> float | None:
    """Training minus validation accuracy at the kept epoch: the over-fitting the write-up tracks."""
    train, val = record.get("best_train_accuracy"), record.get("best_val_accuracy")
    return round(train - val, 4) if train is not None and val is not None else None

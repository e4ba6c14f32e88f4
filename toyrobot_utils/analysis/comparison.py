"""Comparing runs: test results are added to each run's metrics record, and every record becomes a table row.

The notebooks never type a number in: notebooks 03-09 and the results notebook read these records back. Each run's
test predictions are kept beside its record (``models/<name>_test_predictions.csv``), so notebook 10 can draw every
model's confusion matrix without loading a single network.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from toyrobot_utils import config, lineage, stats
from toyrobot_utils.analysis import gradcam
from toyrobot_utils.analysis.evaluation import evaluate
from toyrobot_utils.files import atomic_write_text
from toyrobot_utils.modelling.models import MODEL_TABLE
from toyrobot_utils.modelling.stopping import learning_state
from toyrobot_utils.modelling.training import load_history, load_record, run_paths, update_record

# Runs of the series outside the write-up's numbered table: notebook 08's reference (the write-up's reported search
# winner) and tuned network, and notebook 09's fine-tuned MobileNetV2 (their notebooks' default model names).
SERIES_EXTRAS = ("writeup_tuned", "tuned", "m9_mobilenet_v2_finetune")
EXTRA_LABELS = {"writeup_tuned": "write-up's tuned (08)", "tuned": "tuned (08)",
                "m9_mobilenet_v2_finetune": "9 fine-tuned"}


def predictions_path(name: str, models_dir: str | Path | None = None) -> Path:
    """Where a run's test predictions dataframe is kept: next to its model and record."""
    return run_paths(name, models_dir)["test_predictions"]


def test_photos(files: Iterable[str | Path], record: dict | None = None) -> dict:
    """The fingerprint of the test photos a run was evaluated on (relative to the data folder of its lineage when
    they lie in it), so stale test results can be told from current ones."""
    files = [Path(f) for f in files]
    data_dir = ((record or {}).get("lineage") or {}).get("photos", {}).get("data_dir_resolved")
    if not data_dir or not all(f.resolve().is_relative_to(data_dir) for f in files):
        data_dir = Path(os.path.commonpath([f.resolve() for f in files])).parent if files else Path(".")
    return {"data_dir": str(data_dir), **lineage.split_fingerprint([f.resolve() for f in files], Path(data_dir))}


def save_test_results(run, results: dict, models_dir: str | Path | None = None) -> dict:
    """Store ``evaluation.evaluate``'s test accuracy and per-class accuracy in the run's record and its predictions
    dataframe in ``predictions_path``; returns the record."""
    name = run if isinstance(run, str) else run.name
    per_class = results["per_class"]["accuracy"]
    path = predictions_path(name, models_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, results["df"].to_csv(index=False))
    return update_record(
        name,
        models_dir,
        test_photos=test_photos(results["df"]["path"], load_record(name, models_dir)),
        test_accuracy=float(results["accuracy"]),
        test_images=int(len(results["df"])),
        per_class_test_accuracy={str(k): float(v) for k, v in per_class.items()},
        test_evaluated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def load_test_predictions(name: str, models_dir: str | Path | None = None) -> pd.DataFrame:
    """A run's stored test predictions (the write-up's predictions dataframe), with its class order in
    ``df.attrs["class_names"]``. FileNotFoundError when the run was never evaluated with ``save_test_results``."""
    path = predictions_path(name, models_dir)
    if not path.is_file():
        raise FileNotFoundError(f"No test predictions for {name} ({path}): evaluate it on the test split and "
                                "store them with comparison.save_test_results (its notebook does).")
    df = pd.read_csv(path)
    try:
        df.attrs["class_names"] = list(load_record(name, models_dir).get("class_names") or [])
    except FileNotFoundError:
        pass
    if not df.attrs.get("class_names"):
        df.attrs["class_names"] = sorted(set(df["actual_label"]) | set(df["predicted_label"]))
    return df


def ensure_test_predictions(name: str, models_dir: str | Path | None = None, data_dir: str | Path | None = None,
                            photos: dict | None = None) -> tuple[pd.DataFrame, bool]:
    """The run's test predictions, computed from its saved model (and stored) when they were not kept yet — runs
    from before predictions were stored, a record without test results, or (given ``photos``, the data folder's
    ``lineage.photos_of_folder``) results from other test photos than the folder's. Returns (predictions,
    computed_now)."""
    record = load_record(name, models_dir)
    current_test = ((photos or {}).get("splits") or {}).get("test")
    stale = current_test is not None and (record.get("test_photos") or {}).get("fingerprint") != \
        current_test["fingerprint"]
    if record.get("test_accuracy") is not None and predictions_path(name, models_dir).is_file() and not stale:
        return load_test_predictions(name, models_dir), False
    results = evaluate(name, "test", models_dir=models_dir, data_dir=data_dir)
    save_test_results(name, results, models_dir=models_dir)
    return load_test_predictions(name, models_dir), True


def compare_runs(models_dir: str | Path | None = None, numbers: Iterable[int] | None = None,
                 extra_names: Iterable[str] = (), photos: dict | None = None) -> pd.DataFrame:
    """One row per model of the write-up's table that has a record in ``models_dir`` (plus ``extra_names``).

    Columns: what changed, our validation and test accuracy beside the write-up's, parameters, file size, training
    time. Models without a record are listed in ``table.attrs["missing"]`` rather than failing, so a partial run
    still gives a table. Given ``photos`` (``lineage.photos_of_folder`` of the data folder, or
    ``lineage.photos_of_splits`` of its loaded splits), only runs trained on those photos are compared; the others
    are listed in ``table.attrs["other_photos"]`` ({name: its lineage in one line}), never mixed in.
    """
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    wanted = [MODEL_TABLE[n] for n in (numbers if numbers is not None else MODEL_TABLE)]
    rows, missing, other_photos = [], [], {}
    entries = [(spec.number, spec.name, spec) for spec in wanted] + [(None, name, None) for name in extra_names]
    for number, name, spec in entries:
        try:
            record = load_record(name, models_dir)
        except FileNotFoundError:
            missing.append(name)
            continue
        if photos is not None and not trained_on(record, photos):
            other_photos[name] = lineage.summary(name, record)
            continue
        settings = record.get("settings") or {}
        rows.append({
            "model": number if number is not None else settings.get("model_number"),
            "name": name,
            "changes": spec.changes if spec else settings.get("changes", ""),
            "val_accuracy": record.get("best_val_accuracy"),
            "val_loss": record.get("best_val_loss"),
            "test_accuracy": record.get("test_accuracy"),
            **_test_interval(record),
            "writeup_val_accuracy": spec.writeup_validation_accuracy if spec else None,
            "writeup_test_accuracy": spec.writeup_test_accuracy if spec else None,
            "best_epoch": record.get("best_epoch"),
            "epochs_run": record.get("epochs_run"),
            "train_val_gap": train_val_gap(record),
            "learning": learning_text(name, record, models_dir),
            "params": record.get("params_total"),
            "trainable_params": record.get("params_trainable"),
            "file_mb": round(record["file_bytes"] / 1e6, 2) if record.get("file_bytes") else None,
            # a head trained on cached base features (notebook 09) also paid for extracting them once
            "train_seconds": round(record["seconds"] + (record.get("feature_extraction_seconds") or 0), 1)
            if record.get("seconds") is not None else None,
            "seconds_per_epoch": round(record["seconds_per_epoch"], 2) if record.get("seconds_per_epoch") else None,
            "latency_ms": record.get("latency_ms_per_image"),
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.set_index("model")
    table.attrs["missing"] = missing
    table.attrs["other_photos"] = other_photos
    return table


def learning_text(name: str, record: dict, models_dir) -> str:
    """What a run's curves say (``stopping.learning_state``) in a few words: "did not learn", "under-fitting",
    "still learning at the end" (comma-separated), or "" when none holds or there is no history with training
    accuracy."""
    try:
        history = load_history(name, models_dir)
    except FileNotFoundError:
        return ""
    if "accuracy" not in history or history.empty:
        return ""
    state = learning_state(history, len(record.get("class_names") or []) or 1, patience=record.get("patience"))
    return ", ".join(text for key, text in (("did_not_learn", "did not learn"), ("under_fitting", "under-fitting"),
                                            ("still_learning", "still learning at the end")) if state[key])


def trained_on(record: dict, photos: dict) -> bool:
    """Whether a run record's model was trained on ``photos`` (same classes, training and validation photos)."""
    recorded = (record.get("lineage") or {}).get("photos")
    return lineage.photos_key(recorded) not in (None, lineage.UNKNOWN) and \
        lineage.photos_key(recorded) == lineage.photos_key(photos)


def per_class_table(models_dir: str | Path | None = None, numbers: Iterable[int] | None = None,
                    photos: dict | None = None) -> pd.DataFrame:
    """Test accuracy per class (columns) for every model with test results (rows); given ``photos``, only models
    trained on them (see ``compare_runs``)."""
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    rows = {}
    for number in numbers if numbers is not None else MODEL_TABLE:
        try:
            record = load_record(MODEL_TABLE[number].name, models_dir)
        except FileNotFoundError:
            continue
        if photos is not None and not trained_on(record, photos):
            continue
        if record.get("per_class_test_accuracy"):
            rows[number] = record["per_class_test_accuracy"]
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def series_table(models_dir: str | Path | None = None, extra_names: Iterable[str] = SERIES_EXTRAS,
                 photos: dict | None = None) -> pd.DataFrame:
    """Every run of the series in story order — models 1-8, the tuned network, MobileNetV2 frozen and fine-tuned —
    with a unique ``label`` index, per-class test accuracy columns (``test: <class>``) and the CPU latency. Runs
    without a record are left out and listed in ``attrs["missing"]``; given ``photos``, runs trained on other photos
    are left out and listed in ``attrs["other_photos"]`` (see ``compare_runs``)."""
    table = compare_runs(models_dir, numbers=range(1, len(MODEL_TABLE) + 1), extra_names=extra_names, photos=photos)
    missing, other_photos = table.attrs["missing"], table.attrs["other_photos"]
    if table.empty:
        table = pd.DataFrame(columns=["label", "name"]).set_index("label")
        table.attrs.update(missing=missing, other_photos=other_photos)
        return table
    table = table.reset_index()
    labels = []
    for _, row in table.iterrows():
        label = EXTRA_LABELS.get(row["name"], row["name"]) if row["name"] in extra_names else str(row["model"])
        labels.append(f"{label} ({row['name']})" if label in labels else label)
    table.insert(0, "label", labels)
    story = [str(n) for n in range(1, 9)] + [EXTRA_LABELS["writeup_tuned"], EXTRA_LABELS["tuned"]]
    table["_order"] = [story.index(label) if label in story else len(story) + i for i, label in enumerate(labels)]
    table = table.sort_values("_order", kind="stable").drop(columns="_order").set_index("label")
    for label, row in table.iterrows():
        per_class = (load_record(row["name"], models_dir).get("per_class_test_accuracy") or {})
        for cls, value in per_class.items():
            table.loc[label, f"test: {cls}"] = value
    table.attrs.update(missing=missing, other_photos=other_photos)
    return table


def head_to_head(runs: Mapping[str, str], models_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs judged on the same test photos, side by side: ({label: run name} in, two tables out).

    The first: per run its parameters, epochs, seconds per epoch, best validation accuracy and test accuracy with its
    95 % Wilson interval (``test_low``/``test_high``, and ``test`` as text). The second: every pair's exact McNemar
    test on the photos only one of the two got right (``stats.pairwise_mcnemar``), which says whether a difference
    in test accuracy is real on these photos or noise. Reads the stored test predictions
    (``save_test_results``); a run without them raises FileNotFoundError naming it."""
    rows, correct = {}, {}
    for label, name in runs.items():
        record = load_record(name, models_dir)
        predictions = load_test_predictions(name, models_dir)
        right, total = int(predictions["correct"].sum()), len(predictions)
        low, high = stats.wilson_interval(right, total)
        rows[label] = {"name": name, "params": record.get("params_total"), "epochs_run": record.get("epochs_run"),
                       "best_epoch": record.get("best_epoch"), "seconds_per_epoch": record.get("seconds_per_epoch"),
                       "val_accuracy": record.get("best_val_accuracy"),
                       "test_accuracy": right / total if total else None,
                       "test_low": low, "test_high": high, "test": stats.accuracy_text(right, total)}
        correct[label] = predictions.set_index("path")["correct"]
    return pd.DataFrame.from_dict(rows, orient="index"), stats.pairwise_mcnemar(correct)


def story_steps(predictions: Mapping[str, pd.DataFrame], alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Each model against the one before it in the story (the order of ``predictions``: {label: test predictions
    on the same photos}), by the paired exact McNemar test: which steps changed test accuracy for real on these
    photos and which are noise. One row per step; see ``stats.pairwise_mcnemar`` for the columns."""
    labels = list(predictions)
    correct = {label: predictions[label].set_index("path")["correct"] for label in labels}
    steps = [stats.pairwise_mcnemar({a: correct[a], b: correct[b]}, alpha=alpha) for a, b in zip(labels, labels[1:])]
    columns = ["model A", "model B", "accuracy A", "accuracy B", "only A right", "only B right", "p-value", "verdict"]
    return pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=columns)


def focus_summary(cams: dict[str, pd.DataFrame], *, watch: Iterable[str] = ("bananagrams", "duplos")) -> pd.DataFrame:
    """Which models look at the toy and which at the floor, from each model's ``gradcam.gradcam_table`` on the
    same photos: mean share of the heat on the toy (``focus``), the toy's share of the frame, their ratio
    (``focus_lift``: ``gradcam.focus_ratio``, a ratio of the two means; 1 = chance), the same for the correct and the
    wrong predictions and for the ``watch`` classes (the built-in set photographs them on their own background most
    of the time), how many outlined photos got no heat at all (Grad-CAM found no evidence for the predicted class
    there, so they have no focus score), and ``gradcam.focus_verdict`` of the ratio (its cut-offs
    ``gradcam.FOCUS_ON_TOY`` and ``gradcam.FOCUS_ON_SURROUNDINGS``)."""
    rows = {}
    for label, cam in cams.items():
        outlined = cam[cam["mask_area"].notna()]
        cam = outlined[outlined["focus"].notna()]
        if cam.empty:
            continue
        row = {"photos": len(cam), "no heat (not scored)": len(outlined) - len(cam), "focus": cam["focus"].mean(),
               "toy's share of the frame": cam["mask_area"].mean(), "focus_lift": gradcam.focus_ratio(cam)}
        if "correct" in cam:
            for value, text in ((1, "correct"), (0, "wrong")):
                row[f"focus_lift ({text})"] = gradcam.focus_ratio(cam[cam["correct"] == value])
        for cls in watch:
            part = cam[cam["actual_label"] == cls] if "actual_label" in cam else cam.iloc[:0]
            row[f"focus_lift ({cls})"] = gradcam.focus_ratio(part)
        row["verdict"] = gradcam.focus_verdict(row["focus_lift"])
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def markdown_table(table: pd.DataFrame) -> str:
    """``series_table`` as a GitHub markdown table (ours beside the write-up's, then size and speed): notebook 10
    prints it and the README carries that output verbatim (tests/test_readme.py checks they agree)."""
    pct = stats.percent

    def num(value, fmt, unit=""):
        return "–" if value is None or pd.isna(value) else f"{value:{fmt}}{unit}"

    def interval(row):
        low, high = row.get("test_low"), row.get("test_high")
        if low is None or high is None or pd.isna(low) or pd.isna(high):
            return pct(row.get("test_accuracy"))
        return f"{pct(row.get('test_accuracy'))} ({100 * low:.0f}–{100 * high:.0f})"

    lines = ["| model | what changed | validation | test (95 % interval) | write-up validation | write-up test "
             "| parameters | file | training | CPU latency / photo |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, row in table.iterrows():
        lines.append(" | ".join([
            f"| {label}", str(row.get("changes", "")).replace("|", "/"), pct(row.get("val_accuracy")),
            interval(row), pct(row.get("writeup_val_accuracy")), pct(row.get("writeup_test_accuracy")),
            num(row.get("params"), ",.0f"), num(row.get("file_mb"), ".1f", " MB"),
            num(row.get("train_seconds"), ".0f", " s"), num(row.get("latency_ms"), ".1f", " ms") + " |"]))
    return "\n".join(lines)


def _test_interval(record: dict) -> dict:
    """The 95 % Wilson interval of a record's test accuracy (``test_low``, ``test_high``) and its photo count."""
    accuracy, total = record.get("test_accuracy"), record.get("test_images")
    if accuracy is None or not total:
        return {"test_images": total, "test_low": None, "test_high": None}
    low, high = stats.wilson_interval(round(accuracy * total), total)
    return {"test_images": int(total), "test_low": low, "test_high": high}


GAP_MEANING = "training minus validation accuracy at the kept epoch"


def train_val_gap(record: dict, history: pd.DataFrame | None = None) -> float | None:
    """The train–validation gap (``GAP_MEANING``), the one measure of over-fitting every sentence and table of the
    series uses: the kept epoch's training accuracy (``history``'s row when the record predates
    ``best_train_accuracy``) minus its validation accuracy. None when neither is known."""
    train, val = record.get("best_train_accuracy"), record.get("best_val_accuracy")
    if train is None and history is not None and "accuracy" in history:
        kept = history.loc[history["epoch"] == record.get("best_epoch"), "accuracy"]
        train = float(kept.iloc[0]) if len(kept) else None
    return round(train - val, 4) if train is not None and val is not None else None


# --------------------------------------------------------------------------------------------------------------------
# Comparing with the custom networks
# --------------------------------------------------------------------------------------------------------------------


def best_custom_cnn(models_dir: str | Path | None = None, numbers: Sequence[int] = range(1, 9)) -> str | None:
    """The run name of the best trained custom network (models 1-8 of the write-up's table) in ``models_dir``,
    chosen on validation photos only (``stats.rank_on_validation``: highest validation accuracy, then lowest
    validation loss, then fewest parameters); test accuracy plays no part. None when none of them has been trained
    there."""
    table = compare_runs(models_dir, numbers=numbers)
    if table.empty:
        return None
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    table = table[[run_paths(n, models_dir)["model"].is_file() for n in table["name"]]]
    if table.empty:
        return None
    return str(stats.rank_on_validation(table)["name"].iloc[0])

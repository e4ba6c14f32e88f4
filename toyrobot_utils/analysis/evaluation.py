"""How well a trained network does on a split: the write-up's predictions dataframe and what it computed from it.

``predictions_dataframe`` has the write-up's columns (``actual_label``, ``predicted_label``, ``predicted_probability``,
``filename``, ``correct``) plus ``path``, and reads the images exactly as training did (the data module's pipeline, at
the run's image size and preprocessing) in batches. Everything else takes that dataframe: accuracy, the confusion
matrix (predicted labels down the side, actual labels along the top, as in the write-up), per-class accuracy and the
most confident mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.data import files_dataset, load_split
from toyrobot_utils.modelling.models import infer_preprocessing
from toyrobot_utils.modelling.training import load_run


@dataclass
class ResolvedModel:
    """A model and the input it expects: image size, preprocessing name, class names (from its run record)."""

    model: keras.Model
    image_size: tuple[int, int]
    preprocessing: str
    class_names: list[str] | None
    record: dict | None = None


def resolve_model(
    model,
    *,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    class_names: Sequence[str] | None = None,
    models_dir: str | Path | None = None,
) -> ResolvedModel:
    """Accept a run name (``"m1_baseline"``: model and settings from ``models/``), a ``training.RunResult`` or a
    Keras model, and work out the image size and preprocessing the model was trained with.

    Explicit arguments win; then the run's record; then the model itself (its input size, and its nested
    keras.applications base's preprocessing, else the write-up's 1/255 rescale).
    """
    record = None
    if isinstance(model, (str, Path)):
        model, record = load_run(str(model), models_dir)
    elif hasattr(model, "record") and hasattr(model, "model"):  # training.RunResult / LoadedRun
        model, record = model.model, model.record
    settings = (record or {}).get("settings") or {}
    if image_size is None:
        image_size = settings.get("image_size")
    if image_size is None:
        height, width = model.input_shape[1:3]
        if height is None or width is None:
            raise ValueError("The model accepts any image size; pass image_size=(height, width).")
        image_size = (height, width)
    if preprocessing is None:
        preprocessing = settings.get("preprocessing") or infer_preprocessing(model)
    if class_names is None and record is not None:
        class_names = record.get("class_names")
    return ResolvedModel(model, tuple(int(s) for s in image_size), preprocessing,
                         list(class_names) if class_names is not None else None, record)


def files_and_labels(split, files=None, labels=None, class_names=None, resolved: ResolvedModel | None = None,
                     data_dir=None) -> tuple[list[Path], Sequence | None, Sequence[str] | None]:
    """Files, labels and class names from a SplitData, a split name ("test": read from ``data_dir``, default
    ``config.DATA_DIR``, at the ``resolved`` model's image size) or the explicit arguments, which win."""
    if isinstance(split, str):  # "test": read data/<split>/ (file list and labels only; images are read later)
        split = load_split(data_dir if data_dir is not None else config.DATA_DIR, split,
                           image_size=resolved.image_size if resolved else config.IMAGE_SIZE, shuffle=False)
    if split is not None:
        files = split.files if files is None else files
        labels = split.labels if labels is None else labels
        class_names = split.class_names if class_names is None else class_names
    if files is None:
        raise ValueError("Pass a SplitData or files=[...]")
    return [Path(f) for f in files], labels, class_names


def predict_files(resolved: ResolvedModel, files: Sequence[Path], batch_size: int = config.BATCH_SIZE) -> np.ndarray:
    """Class probabilities (N, classes) for ``files``, batched, read and preprocessed as in training."""
    if len(files) == 0:
        return np.zeros((0, resolved.model.output_shape[-1]), dtype=np.float32)
    dataset = files_dataset(files, image_size=resolved.image_size, batch_size=batch_size,
                            preprocessing=resolved.preprocessing)
    return np.asarray(resolved.model.predict(dataset, verbose=0), dtype=np.float32)


def predictions_dataframe(
    model,
    split=None,
    *,
    files: Sequence[str | Path] | None = None,
    labels: Sequence[int] | Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    batch_size: int = config.BATCH_SIZE,
    models_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """The write-up's ``predictions_df`` for any split.

    ``model``: a Keras model, a ``RunResult`` or a run name. ``split``: a ``data.SplitData``, a split name
    ("test": read from ``data_dir``, default ``config.DATA_DIR``), or give ``files`` and ``labels`` (class indices
    or names) and ``class_names``. Without labels the actual-label columns are left
    out (predicting new photos). ``df.attrs["class_names"]`` keeps the class order for the confusion matrix.
    """
    resolved = resolve_model(model, image_size=image_size, preprocessing=preprocessing, models_dir=models_dir)
    files, labels, class_names = files_and_labels(split, files, labels, class_names, resolved, data_dir)
    if resolved.class_names and class_names and list(resolved.class_names) != list(class_names):
        raise ValueError(
            f"The model was trained on the classes {resolved.class_names} but the data has {list(class_names)}; "
            "predicted and actual labels would not line up."
        )
    class_names = class_names or resolved.class_names
    probabilities = predict_files(resolved, files, batch_size)
    n_outputs = probabilities.shape[1]
    if class_names is None:
        class_names = [str(i) for i in range(n_outputs)]
    if len(class_names) != n_outputs:
        raise ValueError(f"The model predicts {n_outputs} classes but {len(class_names)} class names were given")
    predicted = probabilities.argmax(axis=1) if len(files) else np.zeros(0, dtype=int)
    data = {}
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(files):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        data["actual_label"] = [class_names[int(x)] if not isinstance(x, str) else x for x in labels]
    data["predicted_label"] = [class_names[i] for i in predicted]
    data["predicted_probability"] = probabilities[np.arange(len(files)), predicted] if len(files) else []
    data["filename"] = [f.name for f in files]
    if labels is not None:
        data["correct"] = np.where(np.array(data["actual_label"]) == np.array(data["predicted_label"]), 1, 0)
    data["path"] = [str(f) for f in files]
    df = pd.DataFrame(data)
    df["predicted_probability"] = df["predicted_probability"].astype(float)
    if "correct" in df:
        df["correct"] = df["correct"].astype(int)
    df.attrs["class_names"] = list(class_names)
    return df


def _class_order(df: pd.DataFrame, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        return list(class_names)
    if df.attrs.get("class_names"):
        return list(df.attrs["class_names"])
    return sorted(set(df["actual_label"]) | set(df["predicted_label"]))


def accuracy(df: pd.DataFrame) -> float:
    """Share of correct predictions: ``df['correct'].sum() / len(df)`` as in the write-up."""
    if len(df) == 0:
        return float("nan")
    return float(df["correct"].sum() / len(df))


def confusion_matrix(
    df: pd.DataFrame, normalize: bool | str = False, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """``pd.crosstab(df.predicted_label, df.actual_label)``: predicted labels down the side, actual labels along
    the top, every class present even if never predicted (or never seen).

    ``normalize=True`` (or ``"columns"``) divides each column by that class's number of images, like the
    write-up's ``normalize='columns'``: the diagonal is then each class's accuracy (a fraction, 0-1).
    """
    classes = _class_order(df, class_names)
    counts = pd.crosstab(df["predicted_label"], df["actual_label"])
    counts = counts.reindex(index=classes, columns=classes, fill_value=0).astype(int)
    counts.index.name, counts.columns.name = "predicted_label", "actual_label"
    if not normalize:
        return counts
    if normalize not in (True, "columns"):
        raise ValueError("normalize must be False, True or 'columns'")
    totals = counts.sum(axis=0)
    return counts / totals.replace(0, np.nan)


def per_class_accuracy(df: pd.DataFrame, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """For each actual class: number of images, number correct, accuracy (the confusion matrix's column %)."""
    classes = _class_order(df, class_names)
    grouped = df.groupby("actual_label")["correct"]
    table = pd.DataFrame({"images": grouped.size(), "correct": grouped.sum()}).reindex(classes)
    table["images"] = table["images"].fillna(0).astype(int)
    table["correct"] = table["correct"].fillna(0).astype(int)
    table["accuracy"] = table["correct"] / table["images"].replace(0, np.nan)
    table.index.name = "actual_label"
    return table


def confident_mistakes(df: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` wrong predictions the network was surest about: the first photos to look at (and Grad-CAM)."""
    wrong = df[df["correct"] == 0]
    return wrong.sort_values("predicted_probability", ascending=False, kind="stable").head(n)


def evaluate(model, split, **kwargs) -> dict:
    """Predictions dataframe plus the summaries, in one call: keys df, accuracy, confusion, confusion_pct,
    per_class, mistakes."""
    df = predictions_dataframe(model, split, **kwargs)
    return {
        "df": df,
        "accuracy": accuracy(df),
        "confusion": confusion_matrix(df),
        "confusion_pct": confusion_matrix(df, normalize=True),
        "per_class": per_class_accuracy(df),
        "mistakes": confident_mistakes(df),
    }


__all__ = [
    "ResolvedModel",
    "accuracy",
    "confident_mistakes",
    "confusion_matrix",
    "evaluate",
    "files_and_labels",
    "per_class_accuracy",
    "predict_files",
    "predictions_dataframe",
    "resolve_model",
]

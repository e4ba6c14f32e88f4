"""The robot's job: tell what toy a new photo shows (``sorting`` then puts photos into one bin per class).

Predictions go through the same code as training and evaluation: the model's run record gives its image size,
preprocessing ("rescale" or "mobilenet_v2") and class names (``evaluation.resolve_model``); each photo is decoded by
the audit's per-file check (``images.load_array`` at the model's size: upright from EXIF, any mode to RGB, HEIC),
so an unreadable file is reported with the audit's reason and the others carry on; then
``data.preprocessing_fn`` turns the pixels into what the network saw in training. A ``.tflite`` file from
``export-tflite`` runs the same way without TensorFlow (``lite``: LiteRT and NumPy preprocessing), so the robot can
live on a small computer with only ``pip install ".[robot]"``.

The default model is the best of the models of the photos you trained on last (their lineage), chosen on the
validation photos only (``stats.rank_on_validation``: validation accuracy, then validation loss, then fewer
parameters; the test accuracy is shown, never used to choose: choosing on it would make it optimistic); a damaged
model file, a record that disagrees with its network or class names that cannot be folder names are refused with
one line naming the file.

"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from toyrobot_utils import config, lineage, stats
from toyrobot_utils.files import UnsafeNameError, check_folder_names, read_json

TRAIN_FIRST = ("`toyrobot train PHOTOS` on a folder of photos with one sub-folder per toy, or the notebook series "
               "(`make run`); or point --models-dir at a folder of trained models")
# On the robot-only install (`pip install ".[robot]"`, no TensorFlow) models come from elsewhere, as .tflite files.
TRAIN_ELSEWHERE = ("this is the robot-only install (no TensorFlow), which runs .tflite files: train on a computer "
                   "with the full install (`toyrobot train PHOTOS` exports NAME.float32.tflite), copy that file and "
                   "its NAME.tflite.json here, and pass --model NAME.float32.tflite")


def robot_only_install() -> bool:
    """True on the light install (``.[robot]``): no TensorFlow, so only ``.tflite`` models can run."""
    return importlib.util.find_spec("tensorflow") is None


class RobotError(RuntimeError):
    """Predicting or sorting cannot start; the message names the file or folder and says how to fix it."""


# --------------------------------------------------------------------------------------------------------------------
# Which model
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ModelChoice:
    """A trained model on disk, its run record, and why it was chosen (one line, for the user)."""

    name: str
    models_dir: Path
    model_path: Path
    record: dict
    reason: str

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(int(s) for s in (self.record.get("settings") or {}).get("image_size") or ())

    @property
    def class_names(self) -> list[str]:
        return list(self.record.get("class_names") or [])

    @property
    def is_tflite(self) -> bool:
        """A TensorFlow Lite file from ``export-tflite`` (its record is the ``.tflite.json`` manifest)."""
        return self.model_path.suffix == ".tflite"


def trained_models(models_dir: str | Path | None = None) -> pd.DataFrame:
    """Every ``<name>.keras`` in ``models_dir`` that has its ``<name>.json`` run record, best first.

    Ranked on validation only (``stats.rank_on_validation``): highest validation accuracy, ties broken by the lower
    validation loss, then by fewer parameters, then by name, so the choice is the same every time. The test
    accuracy is listed beside, never used to rank. ``attrs["without_record"]`` lists model files that have no record
    (a run still training, or a file copied without its record): they cannot be used, since only the record knows the
    image size, preprocessing and class names.
    """
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    rows, orphans = [], []
    for model_path in sorted(models_dir.glob("*.keras")) if models_dir.is_dir() else []:
        record = read_json(model_path.with_suffix(".json"))
        if record is None or "best_val_accuracy" not in record:
            orphans.append(model_path.name)
            continue
        photos = (record.get("lineage") or {}).get("photos")
        rows.append({
            "name": model_path.stem,
            "test_accuracy": finite_number(record.get("test_accuracy")),
            "val_accuracy": finite_number(record.get("best_val_accuracy")),
            "val_loss": finite_number(record.get("best_val_loss")),
            "params": finite_number(record.get("params_total")),
            "image_size": (record.get("settings") or {}).get("image_size"),
            "preprocessing": (record.get("settings") or {}).get("preprocessing"),
            "photos": None if photos is None else lineage.photos_key(photos),
            "trained": record.get("timestamp"),
            "model_path": model_path,
        })
    table = pd.DataFrame(rows, columns=["name", "val_accuracy", "val_loss", "params", "test_accuracy", "image_size",
                                        "preprocessing", "photos", "trained", "model_path"])
    if not table.empty:
        table = stats.rank_on_validation(table).reset_index(drop=True)
    table.attrs["without_record"] = orphans
    table.attrs["models_dir"] = models_dir
    return table


def finite_number(value) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, or not finite (records may hold any)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def choose_model(model: str | Path | None = None, models_dir: str | Path | None = None) -> ModelChoice:
    """The model to use: ``model`` (a run name in ``models_dir``, or a path to a ``.keras`` file with its ``.json``
    record beside it), or by default the best trained model in ``models_dir`` (see ``trained_models``)."""
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    if model is not None:
        return _named_model(model, models_dir)
    table = trained_models(models_dir)
    if table.empty:
        orphans = table.attrs["without_record"]
        extra = (f" ({', '.join(orphans)} {'has' if len(orphans) == 1 else 'have'} no .json run record: a run still "
                 "training, or a model file copied without its record)") if orphans else ""
        where = models_dir if models_dir.is_dir() else f"{models_dir} (the folder does not exist)"
        advice = TRAIN_ELSEWHERE if robot_only_install() else f"train one first: {TRAIN_FIRST}"
        raise RobotError(f"No trained model in {where}{extra}; {advice}.")
    table, group = _latest_photos(table)
    best = table.iloc[0]
    n = len(table)
    others = f"{n} trained models" if n > 1 else "1 trained model"
    others += group
    reason = _reason(table, f"the {others} in {models_dir}")
    name = str(best["name"])
    return ModelChoice(name, models_dir, Path(best["model_path"]), read_json(models_dir / f"{name}.json"), reason)


def _reason(table: pd.DataFrame, among: str) -> str:
    """Why the first row of the ranked ``table`` was chosen: on validation, with its test accuracy beside."""
    best = table.iloc[0]
    val, loss, test = (finite_number(best[k]) for k in ("val_accuracy", "val_loss", "test_accuracy"))
    reason = f"highest validation accuracy ({_pct(val)}) of {among}"
    tied = table.iloc[1:][table["val_accuracy"].iloc[1:] == val] if val is not None else table.iloc[:0]
    if len(tied):
        names = ", ".join(str(n) for n in tied["name"])
        same_loss = tied["val_loss"].iloc[0] == loss
        reason += (f", tied with {names}; lowest validation loss of those ({loss:.3f})"
                   if loss is not None and not same_loss
                   else f", tied with {names} (first by fewer parameters, then name)")
    test_text = f"test accuracy {_pct(test)}" if test is not None else "no test accuracy in its record yet"
    return reason + f"; {test_text}, shown only: the choice is made on the validation photos"


def _latest_photos(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Accuracies only compare between models of the same photos, and the photos you trained on last are the ones
    you mean: keep the models whose lineage has the photos of the most recently trained model (records without a
    lineage only when no record has one). Returns (those rows, a phrase for the reason)."""
    known = table[table["photos"].notna() & (table["photos"] != lineage.UNKNOWN)]
    if known.empty:
        return table, ""
    latest = known.sort_values("trained", kind="stable", na_position="first").iloc[-1]
    same = table[table["photos"] == latest["photos"]]
    left_out = len(table) - len(same)
    phrase = (f" trained on the photos of the latest run (fingerprint {lineage.short(latest['photos'])}"
              + (f"; {left_out} trained on other or unknown photos not considered" if left_out else "") + ")")
    return same.reset_index(drop=True), phrase


def _named_model(model: str | Path, models_dir: Path) -> ModelChoice:
    text = str(model)
    path = Path(text).expanduser()
    if path.suffix == ".tflite":
        return _tflite_model(path)
    if path.suffix in (".h5", ".json") or path.is_dir():
        raise RobotError(f"{path} is not a model file predict and sort can use: pass a run name (e.g. m1_baseline), "
                         "its .keras file (with its .json run record beside it), or a .tflite file from "
                         "export-tflite (with its .tflite.json manifest beside it).")
    if path.suffix == ".keras" or path.is_file():
        model_path, reason = path, "given with --model"
    else:
        model_path, reason = models_dir / f"{text}.keras", f"given with --model, from {models_dir}"
    if not model_path.is_file():
        available = trained_models(models_dir)
        names = ", ".join(available["name"]) if not available.empty else None
        hint = (f"Trained models in {models_dir}: {names}." if names
                else f"There is none in {models_dir}: {TRAIN_FIRST}.")
        raise RobotError(f"No model file {model_path}. {hint}")
    record_path = model_path.with_suffix(".json")
    record = read_json(record_path)
    if record is None:
        raise RobotError(
            f"The model {model_path} has no run record {record_path} beside it (or it is not valid JSON). The record "
            "holds the image size, preprocessing and class names the network was trained with, so predictions "
            "cannot be made without it: copy the .json together with the .keras file, or retrain it with "
            "training.fit (the notebooks, `make run`), which writes both."
        )
    return ModelChoice(model_path.stem, model_path.parent, model_path, record, reason)


def _tflite_model(path: Path) -> ModelChoice:
    """A .tflite file from ``export-tflite``: its manifest plays the run record's part."""
    # no TensorFlow here either: the robot's light install runs .tflite files on LiteRT
    from toyrobot_utils.robot import lite

    if not path.is_file():
        raise RobotError(f"No TFLite model file {path}: export one with `toyrobot export-tflite`.")
    try:
        manifest = lite.load_manifest(path)
    except lite.LiteError as err:
        raise RobotError(str(err)) from None
    name = str(manifest.get("model") or path.name.split(".")[0])
    return ModelChoice(name, path.parent, path, manifest, f"given with --model ({path.name})")


@dataclass(frozen=True)
class RobotModel:
    """What ``predict`` and ``sort`` need of a model, whichever runs it: the network (a Keras model, or a
    ``lite.TFLiteModel`` on LiteRT; both have ``predict(batch, batch_size=, verbose=)``, ``input_shape`` and
    ``output_shape``), the photo size and preprocessing it was trained with, its class names, its record (or the
    ``.tflite`` file's manifest), and ``preprocess``: the function that turns uint8 photos into its input."""

    model: object
    image_size: tuple[int, int]
    preprocessing: str
    class_names: list[str]
    record: dict
    preprocess: Callable[[np.ndarray], np.ndarray]


def _load_tflite(choice: ModelChoice) -> RobotModel:
    from toyrobot_utils.robot import lite

    try:
        model = lite.TFLiteModel(choice.model_path)
        preprocess = lite.preprocessing(choice.record.get("preprocessing"))
    except lite.LiteError as err:
        raise RobotError(str(err)) from None
    size = tuple(int(d) for d in choice.record["image_size"])
    return RobotModel(model, size, choice.record.get("preprocessing"), list(choice.class_names), choice.record,
                      preprocess)


def load_model(choice: ModelChoice) -> RobotModel:
    """The chosen model, Keras or ``.tflite``, with the input it expects (a ``RobotModel``).

    Refused with a ``RobotError`` that names the file: a model file Keras cannot read (damaged, truncated), a record
    without class names or with class names that cannot be folder names, and a record that disagrees with its
    network (input size, number of classes) — it would belong to another run, and predictions would be wrong."""
    if choice.is_tflite:
        from toyrobot_utils.robot.lite import manifest_for

        return _checked(_load_tflite(choice), choice, manifest_for(choice.model_path))
    if robot_only_install():
        name = choice.name
        raise RobotError(f"{choice.model_path} is a Keras model, and this is the robot-only install (no TensorFlow): "
                         f"use its .tflite export — `toyrobot export-tflite {name}` on the computer that trained it "
                         f"writes {name}.float32.tflite and {name}.tflite.json; copy both here and pass "
                         f"--model {name}.float32.tflite.")
    from toyrobot_utils.analysis.evaluation import resolve_model
    from toyrobot_utils.data import preprocessing_fn

    record_path = choice.model_path.with_suffix(".json")
    try:
        keras_model = resolve_model(choice.name, models_dir=choice.models_dir)
        resolved = RobotModel(keras_model.model, keras_model.image_size, keras_model.preprocessing,
                              keras_model.class_names, keras_model.record, preprocessing_fn(keras_model.preprocessing))
    except FileNotFoundError as err:
        raise RobotError(f"{err}") from None
    except Exception as err:  # noqa: BLE001 - Keras reports a damaged file in many ways ("File not found"...)
        if "safe_mode" in str(err):  # Keras refuses to run Python code stored in the file (a Lambda layer)
            raise RobotError(
                f"The model file {choice.model_path} holds Python code (a Lambda layer), which Keras refuses to load "
                "in safe mode, and the robot never runs code from a model file: rebuild the network without a "
                "Lambda layer (a registered custom layer, as in data.py) and retrain it."
            ) from None
        raise RobotError(
            f"The model file {choice.model_path} cannot be read ({type(err).__name__}: {_first_line(err)}): it is "
            "damaged or incomplete (an interrupted copy or write?). Copy it again from where it came from, or "
            "retrain it (its notebook, or `make run`)."
        ) from None
    return _checked(resolved, choice, record_path)


def _checked(resolved: RobotModel, choice: ModelChoice, record_path: Path) -> RobotModel:
    """Refuse a record that cannot name the bins or disagrees with its network (see ``load_model``)."""
    if not resolved.class_names:
        raise RobotError(f"The run record {record_path} has no class_names; retrain "
                         "the model with training.fit so that its record names the classes (the bins).")
    try:
        check_folder_names(resolved.class_names, f"the run record {record_path}")
    except UnsafeNameError as err:
        raise RobotError(str(err)) from None
    n_outputs = int(resolved.model.output_shape[-1])
    if len(resolved.class_names) != n_outputs:
        raise RobotError(f"{choice.model_path} predicts {n_outputs} classes but its record names "
                         f"{len(resolved.class_names)} ({', '.join(resolved.class_names)}); the record belongs to "
                         "another run: retrain, or copy the matching .json beside the model.")
    network_size = tuple(resolved.model.input_shape[1:3])
    if None not in network_size and tuple(int(d) for d in network_size) != tuple(resolved.image_size):
        raise RobotError(f"{choice.model_path} takes {network_size[0]}x{network_size[1]} px photos but its record "
                         f"{record_path} says {resolved.image_size[0]}x{resolved.image_size[1]}; the record belongs to "
                         "another run: retrain, or copy the matching .json beside the model.")
    return resolved


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "no details"


# --------------------------------------------------------------------------------------------------------------------
# Predicting
# --------------------------------------------------------------------------------------------------------------------


def _read_photo(path: Path, image_size: tuple[int, int], max_pixels: int | None) -> tuple[np.ndarray | None, str]:
    """(uint8 array at ``image_size``, "") or (None, why it cannot be used): the audit's per-file check, which
    decodes the whole file with ``images.load_array`` exactly as the training pipeline does."""
    from toyrobot_utils.audit import check_photo

    if not Path(path).exists() and not Path(path).is_symlink():  # a broken or looping link: the audit says which
        return None, "no such file; check the path"
    try:
        return check_photo(path, image_size, max_pixels)
    except Exception as err:  # noqa: BLE001 - one bad file must never stop the others
        return None, f"cannot be read ({type(err).__name__}: {err})"


def is_hidden(path: Path) -> bool:
    """Hidden files (``.DS_Store``...) are not photos."""
    return path.name.startswith(".")


def classify_files(resolved: RobotModel, files: Sequence[Path], batch_size: int,
                   max_pixels: int | None = None) -> list[tuple[np.ndarray | None, str]]:
    """Class probabilities (or the reason a file cannot be read) for each of ``files``, read in parallel (``sorting``
    uses it too). A photo needing more than ``max_pixels`` pixels decoded is skipped with its reason."""
    preprocess = resolved.preprocess
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(lambda f: _read_photo(f, resolved.image_size, max_pixels), files))
    good = [i for i, (array, _) in enumerate(decoded) if array is not None]
    results: list[tuple[np.ndarray | None, str]] = [(None, problem) for _, problem in decoded]
    if good:
        batch = preprocess(np.stack([decoded[i][0] for i in good]))
        probabilities = np.asarray(resolved.model.predict(batch, batch_size=batch_size, verbose=0), dtype=np.float32)
        for row, i in enumerate(good):
            results[i] = (probabilities[row], "")
    return results


def folder_files(folder: Path) -> list[Path]:
    """The entries of ``folder`` a photo may be (sorted): files, and symbolic links that lead nowhere or loop, so
    that the audit's check reports them instead of their vanishing from the counts."""
    return sorted(f for f in folder.iterdir() if f.is_file() or (f.is_symlink() and not f.exists()))


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder stands for the files directly inside it (sorted), hidden ones (``.DS_Store``...)
    left out as ``sort`` does."""
    out = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            out += [f for f in folder_files(p) if not is_hidden(f)]
        else:
            out.append(p)
    return out


def predict_photos(paths: Iterable[str | Path], model: str | Path | None = None, *,
                   models_dir: str | Path | None = None, batch_size: int = config.BATCH_SIZE,
                   choice: ModelChoice | None = None, resolved=None, max_pixels: int | None = None) -> pd.DataFrame:
    """One row per photo: ``path``, ``filename``, ``predicted_label``, ``predicted_probability``, one ``prob_<class>``
    column per class, and ``error`` (empty, or why the file could not be read; its other columns are then empty).

    ``paths``: files, or folders (their files). ``model``: see ``choose_model`` (default: the best trained model).
    ``df.attrs`` holds the model's name, why it was chosen, and the class names.
    """
    choice = choice or choose_model(model, models_dir)
    resolved = resolved or load_model(choice)
    files = _expand(paths)
    classes = resolved.class_names
    rows = []
    for start in range(0, len(files), 4 * batch_size):
        chunk = files[start:start + 4 * batch_size]
        for path, (probs, error) in zip(chunk, classify_files(resolved, chunk, batch_size, max_pixels)):
            row = {"path": str(path), "filename": path.name}
            if probs is None:
                row.update({"predicted_label": None, "predicted_probability": np.nan, "error": error})
            else:
                top = int(np.argmax(probs))
                row.update({"predicted_label": classes[top], "predicted_probability": float(probs[top]), "error": ""})
                row.update({f"prob_{c}": float(p) for c, p in zip(classes, probs)})
            rows.append(row)
    columns = ["path", "filename", "predicted_label", "predicted_probability", *[f"prob_{c}" for c in classes], "error"]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs.update(model=choice.name, reason=choice.reason, class_names=list(classes))
    return df


# --------------------------------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def run(args) -> int:
    """``toyrobot predict IMG... [--model NAME_OR_PATH] [--format table|csv|json]`` (options in ``__main__``): class
    and probability per photo. Exit code 0, 1 if any photo could not be read, 2 if no model could be used."""
    info = sys.stdout if args.format == "table" else sys.stderr
    try:
        choice = choose_model(args.model, args.models_dir)
        print(f"model: {choice.name} - {choice.reason}\n{lineage.summary(choice.name, choice.record)}", file=info,
              flush=True)
        df = predict_photos(args.images, choice=choice, max_pixels=args.max_pixels)
    except RobotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was changed (predict only reads photos).", file=sys.stderr)
        return 130
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        rows = json.loads(df.to_json(orient="records"))  # NaN -> null
        print(json.dumps({"model": choice.name, "class_names": df.attrs["class_names"], "photos": rows}, indent=2))
    else:
        width = max([len(p) for p in df["path"]] + [4])
        for row in df.itertuples(index=False):
            if row.error:
                print(f"{row.path:<{width}}  error: {row.error}")
            else:
                print(f"{row.path:<{width}}  {row.predicted_label:<12} {row.predicted_probability:.3f}")
    bad = int((df["error"] != "").sum())
    if bad:
        print(f"{bad} of {len(df)} files could not be read (see the errors above).", file=sys.stderr)
    return 1 if bad else 0


__all__ = [
    "RobotModel",
    "ModelChoice",
    "RobotError",
    "finite_number",
    "choose_model",
    "folder_files",
    "classify_files",
    "is_hidden",
    "load_model",
    "predict_photos",
    "trained_models",
]

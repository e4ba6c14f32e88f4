"""The robot's job: tell what toy a new photo shows, and sort a folder of photos into one bin per class.

Predictions go through the same code as training and evaluation: the model's run record gives its image size,
preprocessing ("rescale" or "mobilenet_v2") and class names (``evaluation.resolve_model``); each photo is decoded by
the audit's per-file check (``images.load_array`` at the model's size: upright from EXIF, any mode to RGB, HEIC),
so an unreadable file is reported with the audit's reason and the others carry on; then
``data.preprocessing_fn`` turns the pixels into what the network saw in training.

``sort_photos`` copies (or, with ``move=True``, moves) each photo into ``<bins>/<class>/``, or into
``<bins>/unsure/`` when the top probability is below the threshold. It is built so that no photo can get lost:

- a copy is written to a hidden temporary file in the bin, flushed to disk, compared byte for byte with the
  original, and only then given its name; the original is deleted (``move``) only after that;
- nothing in a bin is ever overwritten: a clashing name becomes ``<stem>_1<ext>``, ``<stem>_2<ext>``... (the name is
  claimed with a hard link, which fails instead of replacing; on file systems without hard links the name is
  checked just before the rename);
- a file that cannot be read is reported with its name and the reason and left where it is; the others are sorted;
- every decision is appended to a CSV log as it is made (default ``<bins>/sort_log.csv``, header written once), so
  an interrupted run still says what it did. ``probabilities`` holds every class's probability as JSON, so logs
  of models with different classes can share one file.

Only the files directly inside the source folder are sorted unless ``recursive=True``; recursion skips hidden
folders and the bins folder itself (bins may live inside the source folder). Hidden files (``.DS_Store``...) are
logged as ignored, not as failures.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from . import config, lineage
from .files import UnsafeNameError, check_folder_names

UNSURE = "unsure"
DEFAULT_THRESHOLD = 0.6
LOG_NAME = "sort_log.csv"
LOG_COLUMNS = ["time", "source", "destination", "bin", "predicted_class", "probability", "probabilities",
               "threshold", "action", "error", "model"]
COPIED, MOVED, FAILED, IGNORED = "copied", "moved", "failed", "ignored"
TRAIN_FIRST = ("run notebook 02 (or `make run` for the whole series) first, or point --models-dir at a folder of "
               "trained models")


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


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def trained_models(models_dir: str | Path | None = None) -> pd.DataFrame:
    """Every ``<name>.keras`` in ``models_dir`` that has its ``<name>.json`` run record, best first.

    Ranked by test accuracy (runs without one come last), then validation accuracy, then name, so the choice is
    the same every time. ``attrs["without_record"]`` lists model files that have no record (a run still training,
    or a file copied without its record): they cannot be used, since only the record knows the image size,
    preprocessing and class names.
    """
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    rows, orphans = [], []
    for model_path in sorted(models_dir.glob("*.keras")) if models_dir.is_dir() else []:
        record = _read_record(model_path.with_suffix(".json"))
        if record is None or "best_val_accuracy" not in record:
            orphans.append(model_path.name)
            continue
        photos = (record.get("lineage") or {}).get("photos")
        rows.append({
            "name": model_path.stem,
            "test_accuracy": _number(record.get("test_accuracy")),
            "val_accuracy": _number(record.get("best_val_accuracy")),
            "image_size": (record.get("settings") or {}).get("image_size"),
            "preprocessing": (record.get("settings") or {}).get("preprocessing"),
            "photos": None if photos is None else lineage.photos_key(photos),
            "trained": record.get("timestamp"),
            "model_path": model_path,
        })
    table = pd.DataFrame(rows, columns=["name", "test_accuracy", "val_accuracy", "image_size", "preprocessing",
                                        "photos", "trained", "model_path"])
    if not table.empty:
        table = table.assign(
            _test=table["test_accuracy"].fillna(-1.0), _val=table["val_accuracy"].fillna(-1.0)
        ).sort_values(["_test", "_val", "name"], ascending=[False, False, True], kind="stable")
        table = table.drop(columns=["_test", "_val"]).reset_index(drop=True)
    table.attrs["without_record"] = orphans
    table.attrs["models_dir"] = models_dir
    return table


def _number(value) -> float | None:
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
        raise RobotError(f"No trained model in {where}{extra}. Train one first: {TRAIN_FIRST}.")
    table, group = _latest_photos(table)
    best = table.iloc[0]
    n = len(table)
    others = f"{n} trained models" if n > 1 else "1 trained model"
    others += group
    test, val = _number(best["test_accuracy"]), _number(best["val_accuracy"])
    if test is None:
        reason = (f"highest validation accuracy ({_pct(val)}) of the {others} in {models_dir}; none has a test "
                  "accuracy in its record yet")
    else:
        tied = [str(name) for name, t in zip(table["name"].iloc[1:], table["test_accuracy"].iloc[1:]) if t == test]
        reason = f"highest test accuracy ({_pct(test)}) of the {others} in {models_dir}"
        reason += (f", tied with {', '.join(tied)}; highest validation accuracy of those ({_pct(val)})" if tied
                   else f" (validation {_pct(val)})")
    name = str(best["name"])
    return ModelChoice(name, models_dir, Path(best["model_path"]), _read_record(models_dir / f"{name}.json"), reason)


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
    if path.suffix in (".tflite", ".h5", ".json") or path.is_dir():
        raise RobotError(f"{path} is not a Keras model file: pass a run name (e.g. m1_baseline) or its .keras file; "
                         "predict and sort use the .keras model and its .json run record.")
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
    record = _read_record(record_path)
    if record is None:
        raise RobotError(
            f"The model {model_path} has no run record {record_path} beside it (or it is not valid JSON). The record "
            "holds the image size, preprocessing and class names the network was trained with, so predictions "
            "cannot be made without it: copy the .json together with the .keras file, or retrain it with "
            "training.fit (the notebooks, `make run`), which writes both."
        )
    return ModelChoice(model_path.stem, model_path.parent, model_path, record, reason)


def load_model(choice: ModelChoice):
    """The Keras model with the input it expects (``evaluation.ResolvedModel``: image size, preprocessing, classes).

    Refused with a ``RobotError`` that names the file: a model file Keras cannot read (damaged, truncated), a record
    without class names or with class names that cannot be folder names, and a record that disagrees with its
    network (input size, number of classes) — it would belong to another run, and predictions would be wrong."""
    from .evaluation import resolve_model

    record_path = choice.model_path.with_suffix(".json")
    try:
        resolved = resolve_model(choice.name, models_dir=choice.models_dir)
    except FileNotFoundError as err:
        raise RobotError(f"{err}") from None
    except Exception as err:  # noqa: BLE001 - Keras reports a damaged file in many ways ("File not found"...)
        raise RobotError(
            f"The model file {choice.model_path} cannot be read ({type(err).__name__}: {_first_line(err)}): it is "
            "damaged or incomplete (an interrupted copy or write?). Copy it again from where it came from, or "
            "retrain it (its notebook, or `make run`)."
        ) from None
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


def _read_photo(path: Path, image_size: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """(uint8 array at ``image_size``, "") or (None, why it cannot be used): the audit's per-file check, which
    decodes the whole file with ``images.load_array`` exactly as the training pipeline does."""
    from .audit import check_photo

    if not Path(path).exists():
        return None, "no such file; check the path"
    try:
        return check_photo(path, image_size)
    except Exception as err:  # noqa: BLE001 - one bad file must never stop the others
        return None, f"cannot be read ({type(err).__name__}: {err})"


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _predict_chunk(resolved, files: Sequence[Path], batch_size: int) -> list[tuple[np.ndarray | None, str]]:
    """Class probabilities (or the reason a file cannot be read) for each of ``files``, read in parallel."""
    from .data import preprocessing_fn

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(lambda f: _read_photo(f, resolved.image_size), files))
    good = [i for i, (array, _) in enumerate(decoded) if array is not None]
    results: list[tuple[np.ndarray | None, str]] = [(None, problem) for _, problem in decoded]
    if good:
        batch = preprocessing_fn(resolved.preprocessing)(np.stack([decoded[i][0] for i in good]))
        probabilities = np.asarray(resolved.model.predict(batch, batch_size=batch_size, verbose=0), dtype=np.float32)
        for row, i in enumerate(good):
            results[i] = (probabilities[row], "")
    return results


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder stands for the files directly inside it (sorted)."""
    out = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file())
        else:
            out.append(p)
    return out


def predict_photos(paths: Iterable[str | Path], model: str | Path | None = None, *,
                   models_dir: str | Path | None = None, batch_size: int = config.BATCH_SIZE,
                   choice: ModelChoice | None = None, resolved=None) -> pd.DataFrame:
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
        for path, (probs, error) in zip(chunk, _predict_chunk(resolved, chunk, batch_size)):
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
# Sorting
# --------------------------------------------------------------------------------------------------------------------


def _files_to_sort(src_dir: Path, bins_dir: Path, recursive: bool) -> list[Path]:
    bins_resolved = bins_dir.resolve()
    if not recursive:
        return sorted(p for p in src_dir.iterdir() if p.is_file())
    found = []
    for root, dirs, files in os.walk(src_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (root_path / d).resolve() != bins_resolved)
        found += [root_path / f for f in sorted(files)]
    return found


def _claim_name(tmp: Path, bin_dir: Path, name: str) -> Path:
    """Give the finished copy ``tmp`` a name in ``bin_dir`` that no file has: ``name``, else ``<stem>_1<ext>``...

    ``os.link`` fails if the name exists, so even a file that appears meanwhile is never replaced. File systems
    without hard links (FAT, some network shares) fall back to rename after checking the name is free.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    for i in range(100_000):
        candidate = bin_dir / (name if i == 0 else f"{stem}_{i}{suffix}")
        try:
            os.link(tmp, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links here
            if candidate.exists():
                continue
            os.rename(tmp, candidate)
            return candidate
        tmp.unlink()
        return candidate
    raise OSError(f"no free name for {name} in {bin_dir}")


def copy_verified(src: Path, bin_dir: Path) -> Path:
    """Copy ``src`` into ``bin_dir`` under a name no existing file has; return the new path.

    The copy keeps the photo's timestamps, is flushed to disk and compared byte for byte with the original before it
    gets its name, so a name in a bin always holds a complete, identical copy.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".part", dir=bin_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if not filecmp.cmp(src, tmp, shallow=False):
            raise OSError(f"the copy in {bin_dir} differs from the original (disk full or failing?)")
        return _claim_name(tmp, bin_dir, src.name)
    finally:
        tmp.unlink(missing_ok=True)


class _Log:
    """The CSV decision log: appended row by row (flushed), header written when the file is new."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > 0:
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if header != LOG_COLUMNS:
                raise RobotError(f"The log {path} has other columns ({', '.join(header)}) than this version writes; "
                                 "move it away or pass another log file (--log).")
            self._fh = open(path, "a", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, LOG_COLUMNS)
        else:
            self._fh = open(path, "w", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, LOG_COLUMNS)
            self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def sort_photos(src_dir: str | Path, bins_dir: str | Path, *, model: str | Path | None = None,
                models_dir: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD, move: bool = False,
                recursive: bool = False, log_path: str | Path | None = None, batch_size: int = config.BATCH_SIZE,
                on_result: Callable[[dict], None] | None = None, choice: ModelChoice | None = None) -> pd.DataFrame:
    """Copy (``move=True``: move) every photo of ``src_dir`` into ``bins_dir/<class>/``, or ``bins_dir/unsure/``
    when its top probability is below ``threshold``; return one row per file (the log's columns).

    ``action`` is "copied"/"moved" for a sorted photo, "failed" for a file that could not be read or copied (it is
    left where it was; ``error`` says why), "ignored" for hidden files. ``on_result`` is called with each row as
    soon as it is decided (the CLI prints progress with it). The log is appended to ``log_path`` (default
    ``bins_dir/sort_log.csv``). ``choice``: an already chosen model (``choose_model``), instead of ``model``.
    ``df.attrs`` holds the model, why it was chosen, and the log's path.
    """
    src_dir, bins_dir = Path(src_dir).expanduser(), Path(bins_dir).expanduser()
    if not src_dir.is_dir():
        raise RobotError(f"The photo folder {src_dir} does not exist (or is not a folder); pass the folder that "
                         "holds the new photos.")
    if bins_dir.resolve() == src_dir.resolve():
        raise RobotError(f"The bins folder {bins_dir} is the photo folder itself; pass another folder for the bins "
                         f"(it may be a subfolder, e.g. {src_dir}/bins).")
    if not 0.0 <= float(threshold) <= 1.0:
        raise RobotError(f"threshold {threshold} is not a probability; pass a number between 0 and 1 (e.g. 0.6).")
    choice = choice or choose_model(model, models_dir)
    resolved = load_model(choice)  # everything that can fail fatally has failed before a single file is touched
    classes = resolved.class_names
    if UNSURE in classes:
        raise RobotError(f"The model {choice.name} has a class called {UNSURE!r}, which is also the bin for unsure "
                         "photos; rename that class folder and retrain.")
    _check_writable(bins_dir)
    removed_parts = _remove_interrupted_copies(bins_dir, [*classes, UNSURE])
    files = _files_to_sort(src_dir, bins_dir, recursive)
    log_path = Path(log_path) if log_path is not None else bins_dir / LOG_NAME
    try:
        log = _Log(log_path)
    except OSError as err:
        raise RobotError(f"Cannot write the log {log_path} ({err.strerror or err}); pass a log file in a folder "
                         "you can write to (--log).") from None
    rows = []
    stop = _StopAfterCurrentPhoto()

    def record(row):
        row = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "threshold": float(threshold),
               "model": choice.name, **row}
        log.write(row)
        rows.append(row)
        if on_result is not None:
            on_result(row)

    try:
        hidden = [f for f in files if _is_hidden(f)]
        for f in hidden:
            record({"source": str(f), "action": IGNORED, "error": "hidden system file, not a photo"})
        todo = [f for f in files if not _is_hidden(f)]
        for start in range(0, len(todo), 4 * batch_size):
            if stop.requested:
                break
            chunk = todo[start:start + 4 * batch_size]
            for src, (probs, error) in zip(chunk, _predict_chunk(resolved, chunk, batch_size)):
                if stop.requested:
                    break
                if probs is None:
                    record({"source": str(src), "action": FAILED, "error": error})
                    continue
                top = int(np.argmax(probs))
                probability = float(probs[top])
                bin_name = classes[top] if probability >= threshold else UNSURE
                row = {"source": str(src), "bin": bin_name, "predicted_class": classes[top],
                       "probability": round(probability, 6),
                       "probabilities": json.dumps({c: round(float(p), 6) for c, p in zip(classes, probs)})}
                try:
                    dest = copy_verified(src, bins_dir / bin_name)
                except OSError as err:
                    record({**row, "action": FAILED, "error": f"could not copy into {bins_dir / bin_name}: {err}"})
                    continue
                row["destination"] = str(dest)
                if move:
                    try:
                        src.unlink()
                    except OSError as err:
                        record({**row, "action": COPIED,
                                "error": f"copied, but the original could not be removed: {err}"})
                        continue
                record({**row, "action": MOVED if move else COPIED, "error": ""})
    finally:
        stop.restore()
        log.close()
    df = pd.DataFrame(rows, columns=LOG_COLUMNS)
    decided = set(df["source"])
    df.attrs.update(model=choice.name, reason=choice.reason, class_names=list(classes), log=str(log_path),
                    interrupted=stop.requested, not_sorted=[str(f) for f in files if str(f) not in decided],
                    removed_partial_copies=removed_parts)
    return df


class _StopAfterCurrentPhoto:
    """Ctrl-C during a sort: finish the photo being copied, then stop (``requested``); a second Ctrl-C interrupts
    at once. Only the main thread can take signals; elsewhere Ctrl-C keeps its usual meaning."""

    def __init__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _check_writable(bins_dir: Path) -> None:
    """Fail before any photo is touched when the bins cannot be written (read-only disk, /proc, no permission)."""
    try:
        bins_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".toyrobot-write-test.", dir=bins_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RobotError(f"Cannot write into the bins folder {bins_dir} ({err.strerror or err}); pass a folder you "
                         "can write to as BINS_DIR.") from None


def _remove_interrupted_copies(bins_dir: Path, bins: Sequence[str]) -> list[str]:
    """Hidden ``.<photo>.<random>.part`` files are copies a killed sort never finished (``copy_verified`` names a
    copy only once it is complete): no photo is in them, so the next sort removes them. Sorts into the same bins must
    not run at the same time."""
    removed = []
    for name in bins:
        for part in (bins_dir / name).glob(".*.part") if (bins_dir / name).is_dir() else []:
            try:
                part.unlink()
                removed.append(str(part))
            except OSError:
                pass
    return removed


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of files that were not sorted as asked (unreadable, copy failed, original not removed)."""
    has_error = df["error"].fillna("").astype(str) != ""
    return df[(df["action"] == FAILED) | (has_error & (df["action"] != IGNORED))]


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="NAME_OR_PATH",
                        help="a run name in --models-dir or a .keras file with its .json record beside it "
                             "(default: the best trained model: highest test accuracy, then validation accuracy)")
    parser.add_argument("--models-dir", type=Path, default=config.MODELS_DIR, help="default: %(default)s")


def predict_cli(argv: Sequence[str]) -> int:
    """``python -m toyrobot_utils predict IMG... [--model NAME_OR_PATH]``: class and probability per photo.
    Exit code 0, 1 if any photo could not be read, 2 if no model could be used."""
    parser = argparse.ArgumentParser(prog="python -m toyrobot_utils predict",
                                     description="Print the predicted class and its probability for each photo "
                                                 "(a folder stands for the photos in it).")
    parser.add_argument("images", nargs="+", metavar="IMG")
    _model_arguments(parser)
    args = parser.parse_args(list(argv))
    try:
        choice = choose_model(args.model, args.models_dir)
        print(f"model: {choice.name} - {choice.reason}\n{lineage.summary(choice.name, choice.record)}", flush=True)
        df = predict_photos(args.images, choice=choice)
    except RobotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was changed (predict only reads photos).", file=sys.stderr)
        return 130
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


def sort_cli(argv: Sequence[str]) -> int:
    """``python -m toyrobot_utils sort SRC_DIR BINS_DIR``: photos into class bins. Exit code 0 if every photo was
    sorted, 1 if any file failed (reported and left in place), 2 if sorting could not start."""
    parser = argparse.ArgumentParser(
        prog="python -m toyrobot_utils sort",
        description="Copy each photo of SRC_DIR into BINS_DIR/<class>/, or BINS_DIR/unsure/ when the model's top "
                    "probability is below --threshold. Originals are left as they are unless --move. Existing "
                    "files in the bins are never overwritten (a clashing name gets _1, _2...). Every decision is "
                    f"appended to a CSV log (default BINS_DIR/{LOG_NAME}, header written once).",
    )
    parser.add_argument("src_dir", type=Path, metavar="SRC_DIR")
    parser.add_argument("bins_dir", type=Path, metavar="BINS_DIR")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="below this top probability a photo goes to unsure/ (default %(default)s)")
    parser.add_argument("--move", action="store_true",
                        help="delete each original once its copy is complete and verified (default: copy only)")
    parser.add_argument("--recursive", action="store_true",
                        help="also sort photos in subfolders of SRC_DIR (hidden folders and BINS_DIR are skipped)")
    parser.add_argument("--log", type=Path, help=f"CSV log to append to (default BINS_DIR/{LOG_NAME})")
    parser.add_argument("--quiet", action="store_true", help="print only the summary, not one line per file")
    _model_arguments(parser)
    args = parser.parse_args(list(argv))

    def show(row):
        if args.quiet:
            return
        if row["action"] in (COPIED, MOVED) and not row["error"]:
            print(f"{row['action']:<6} {row['source']} -> {row['destination']} "
                  f"({row['predicted_class']} {row['probability']:.3f})", flush=True)
        else:
            print(f"{row['action']:<6} {row['source']}: {row['error']}", flush=True)

    try:
        choice = choose_model(args.model, args.models_dir)
        print(f"model: {choice.name} - {choice.reason}\n{lineage.summary(choice.name, choice.record)}", flush=True)
        df = sort_photos(args.src_dir, args.bins_dir, choice=choice, threshold=args.threshold, move=args.move,
                         recursive=args.recursive, log_path=args.log, on_result=show)
    except RobotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: the photo being copied was left as a hidden .part file at most
        print(f"interrupted at once (second Ctrl-C): every photo not yet sorted is still in {args.src_dir}; the log "
              "says what was done, and the next sort removes any half-made copy.", file=sys.stderr)
        return 130
    if df.attrs["removed_partial_copies"]:
        print(f"removed {len(df.attrs['removed_partial_copies'])} unfinished cop(ies) left by an interrupted sort "
              "(hidden .part files; their originals were never touched).")
    sorted_rows = df[df["action"].isin([COPIED, MOVED])]
    per_bin = sorted_rows["bin"].value_counts()
    bins = ", ".join(f"{b}: {int(per_bin.get(b, 0))}" for b in [*df.attrs["class_names"], UNSURE] if b in per_bin)
    failed = failures(df)
    ignored = int((df["action"] == IGNORED).sum())
    print(f"\n{len(sorted_rows)} photos {'moved' if args.move else 'copied'} into {args.bins_dir}"
          f"{' (' + bins + ')' if bins else ''}; {len(failed)} failed; {ignored} hidden files ignored. "
          f"Log: {df.attrs['log']}")
    if len(failed):
        print("Not sorted (left where they are):", file=sys.stderr)
        for row in failed.itertuples(index=False):
            print(f"  {row.source}: {row.error}", file=sys.stderr)
    if df.attrs["interrupted"]:
        print(f"interrupted (Ctrl-C) after the photo being sorted: {len(df.attrs['not_sorted'])} photo(s) not sorted, "
              f"left in {args.src_dir}; run the same command again to sort them.", file=sys.stderr)
        return 130
    return 1 if len(failed) else 0


__all__ = [
    "ModelChoice",
    "RobotError",
    "UNSURE",
    "choose_model",
    "copy_verified",
    "failures",
    "load_model",
    "predict_photos",
    "sort_photos",
    "trained_models",
]

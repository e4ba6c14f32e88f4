"""Training runs the way the write-up ran them, made safe to repeat and to interrupt.

``fit`` trains with the write-up's ``ModelCheckpoint`` (best ``val_accuracy``, saved as ``models/<name>.keras``;
ties on validation accuracy are broken by the lower validation loss, ``better_on_validation``) and:

- writes the checkpoint atomically (temporary file + ``os.replace``), so a crash never leaves half a model file, and
  never replaces it with a worse model — not within a run and not by a later run of the same lineage (same photos,
  same settings: ``lineage``). A run of other photos or settings takes the name; the earlier model, record and
  history move to ``models/archive/<name>/<time>/``;
- seeds Python, NumPy and TensorFlow and turns on TensorFlow's op determinism, so a CPU run repeats exactly;
- is resumable: Keras' ``BackupAndRestore`` keeps the last finished epoch in ``models/<name>.backup/``; rerun the
  same call after an interruption and training continues from there (only for the same lineage), with the best
  score, the history so far, the learning-rate reducer's state and the elapsed seconds restored;
- writes ``models/<name>_history.csv`` (one row per epoch) and ``models/<name>.json`` (the metrics record that the
  results notebook reads) when the run finishes.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from toyrobot_utils import config, lineage
from toyrobot_utils.config import shown_path
from toyrobot_utils.data import class_names_of, dataset_of
from toyrobot_utils.files import atomic_write_text, check_folder_names, publish, read_json, temporary_path, write_json
from toyrobot_utils.modelling.devices import batches_per_call
from toyrobot_utils.modelling.models import count_params, infer_preprocessing
from toyrobot_utils.modelling.precision import float32_copy, model_precision
from toyrobot_utils.modelling.progress import EpochLog
from toyrobot_utils.modelling.stopping import (
    BEST_ON_VALIDATION,
    LAST_EPOCH,
    MONITOR,
    TIE_BREAK,
    best_row,
    better,
    check_keep,
    stalled,
)
from toyrobot_utils.stats import percent

LR_REDUCER_DEFAULTS = {"monitor": "val_loss", "factor": 0.5, "patience": 3, "min_lr": 1e-6}
STATE_FILE = "run_state.json"
LOGS_DIR = "logs"  # models/logs/<name>/<start time>/: TensorBoard's event files (`tensorboard --logdir models/logs`)
ARCHIVE_DIR = "archive"  # models/archive/<name>/<time>/: earlier models of a name, moved, never deleted


# --------------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------------


def seed_everything(seed: int = config.SEED, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and, with ``deterministic``, make
    TensorFlow pick deterministic kernels. Call it before building a model so its initial weights repeat too."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def run_paths(name: str, models_dir: str | Path | None = None) -> dict[str, Path]:
    """The files a run named ``name`` owns in ``models_dir``."""
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    return {
        "model": models_dir / f"{name}.keras",
        "record": models_dir / f"{name}.json",
        "history": models_dir / f"{name}_history.csv",
        "backup": models_dir / f"{name}.backup",
        "test_predictions": models_dir / f"{name}_test_predictions.csv",
        "logs": models_dir / LOGS_DIR / name,  # TensorBoard: one sub-folder per run, by its start time
    }


def _current_lr(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - schedules, no optimizer
        return None


# --------------------------------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------------------------------


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """The write-up's ``ModelCheckpoint(monitor='val_accuracy', mode='max', save_best_only=True)``, but written to a
    temporary file first and moved into place with ``os.replace``: readers see the old best or the new best model,
    never a partial file. An epoch is the best when ``better_on_validation`` says so: higher validation accuracy,
    or the same with a lower validation loss. ``initial_value_threshold`` and ``initial_loss_threshold`` carry the
    best score over from an earlier or interrupted run, so nothing worse ever replaces the file."""

    def __init__(self, filepath, *, initial_value_threshold=None, initial_loss_threshold=None, verbose=1,
                 model_to_save=None, keep=BEST_ON_VALIDATION):
        super().__init__(
            filepath, monitor=MONITOR, mode="max", save_best_only=True, verbose=verbose,
            initial_value_threshold=initial_value_threshold,
        )
        self.best_loss = initial_loss_threshold if initial_value_threshold is not None else None
        self.saved_epochs: list[int] = []  # 1-based epochs saved during this fit call
        self.model_to_save = model_to_save  # None: the model being trained (see fit's saved_model)
        self.keep = check_keep(keep)  # LAST_EPOCH: only the budget's last epoch is written (stopping.keep_rule)

    def _save_model(self, epoch, batch, logs):
        """Keras' ``ModelCheckpoint`` saves through this private method (Keras 3, checked up to 3.15) and offers no
        public hook to write elsewhere first; overriding it, with its private helper ``_get_file_path``, keeps its
        file naming as it is, and ``better_on_validation`` decides instead of Keras' single-metric rule. If Keras
        renames them, the checkpoint would be written non-atomically by Keras itself or not at all:
        tests/test_library_internals.py checks that Keras still calls this method and fails with the Keras version."""
        filepath = Path(self._get_file_path(epoch, batch, logs))
        logs = logs or {}
        accuracy, loss = logs.get(MONITOR), logs.get(TIE_BREAK)
        accuracy = None if accuracy is None else float(accuracy)
        loss = None if loss is None else float(loss)
        if self.keep == LAST_EPOCH and epoch + 1 < int(self.params.get("epochs") or 0):
            return  # a fixed budget: nothing to choose, the last epoch is written once it has run
        if not better(accuracy, loss, self.best, self.best_loss, self.keep):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {MONITOR} {accuracy} ({TIE_BREAK} {loss}) did not beat {self.best} "
                      f"({self.best_loss})")
            return
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {MONITOR} {accuracy:.5f} ({TIE_BREAK} {loss}) beats {self.best} "
                  f"({self.best_loss}), saving model to {shown_path(filepath)}")
        self.best, self.best_loss = accuracy, loss
        tmp = temporary_path(filepath, suffix=".tmp.keras")
        try:
            # A network trained under a mixed policy is saved as its float32 twin (same weights): the file loads
            # and predicts in float32 on any machine (modelling.precision).
            float32_copy(self.model if self.model_to_save is None else self.model_to_save).save(tmp, overwrite=True)
            publish(tmp, filepath)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.saved_epochs.append(epoch + 1)


class _RunRecorder(keras.callbacks.Callback):
    """Keeps the run's state (history rows, best score and epoch, seconds, LR reducer state) in the backup folder.

    It runs after the checkpoint and before BackupAndRestore at every epoch end, so if the process dies between the
    two, the state holds one epoch that the backup does not; that epoch is redone on resume and its row replaced.
    """

    def __init__(self, state: dict, state_path: Path, checkpoint: AtomicModelCheckpoint, lr_reducer=None):
        super().__init__()
        self.state = state
        self.state_path = state_path
        self.checkpoint = checkpoint
        self.lr_reducer = lr_reducer
        self._epoch_start = 0.0
        self._epoch_lr = None
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        saved = self.state.get("lr_reducer_state")
        if self.lr_reducer is not None and saved:  # ReduceLROnPlateau resets itself in on_train_begin
            self.lr_reducer.wait = saved["wait"]
            self.lr_reducer.cooldown_counter = saved["cooldown_counter"]
            self.lr_reducer.best = saved["best"] if saved["best"] is not None else self.lr_reducer.best

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:
            self._first_epoch = False
            # BackupAndRestore has set the starting epoch by now; forget rows of epochs that will be redone.
            self.state["rows"] = [r for r in self.state["rows"] if r["epoch"] <= epoch]
            if epoch > 0:
                self.state["resumed_at_epochs"].append(epoch + 1)
        self._epoch_start = time.perf_counter()
        self._epoch_lr = _current_lr(self.model)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs.pop("learning_rate", None)  # ReduceLROnPlateau's *next* rate; the row records the rate used
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in sorted(logs.items()) if isinstance(v, (int, float, np.floating))})
        row["learning_rate"] = self._epoch_lr
        row["seconds"] = time.perf_counter() - self._epoch_start
        self.state["rows"].append(row)
        if self.checkpoint.saved_epochs and self.checkpoint.saved_epochs[-1] == epoch + 1:
            self.state["best"] = float(self.checkpoint.best)
            self.state["best_loss"] = self.checkpoint.best_loss
            self.state["best_epoch"] = epoch + 1
            self.state["improved"] = True
        if self.lr_reducer is not None:
            best = self.lr_reducer.best
            self.state["lr_reducer_state"] = {
                "wait": int(self.lr_reducer.wait),
                "cooldown_counter": int(self.lr_reducer.cooldown_counter),
                "best": float(best) if best is not None and math.isfinite(float(best)) else None,
            }
        write_json(self.state_path, self.state)


class _StopWhenStalled(keras.callbacks.Callback):
    """Early stopping on the run's own history: stop once no epoch has beaten the best on validation for
    ``patience`` epochs (Keras' ``EarlyStopping(monitor="val_accuracy", mode="max")`` rule, with ties on accuracy
    broken by validation loss as the checkpoint breaks them), unless the run is still learning
    (``stopping.stalled``: training accuracy still rising and not above validation). Judged from the state's rows,
    which survive an interruption, so a resumed run stops where an uninterrupted one would have."""

    def __init__(self, state: dict, patience: int):
        super().__init__()
        self.state = state
        self.patience = int(patience)

    def on_epoch_end(self, epoch, logs=None):
        rows = self.state["rows"]
        if stalled(rows, self.patience) and epoch + 1 < self.params.get("epochs", float("inf")):  # not its budget's end
            self.model.stop_training = True
            self.state["stopped_early_at"] = rows[-1]["epoch"]


# --------------------------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What ``fit`` gives back: the best model (loaded from its checkpoint), this run's history, the record."""

    name: str
    model: keras.Model
    history: pd.DataFrame
    record: dict
    replaced: bool  # False when an earlier run of this name scored better and its model was kept
    paths: dict

    @property
    def best_val_accuracy(self) -> float:
        return self.record["best_val_accuracy"]


def fit(
    model: keras.Model,
    train,
    val,
    *,
    name: str,
    epochs: int = 50,
    patience: int | None = None,
    models_dir: str | Path | None = None,
    lr_reducer: bool | Mapping[str, Any] | keras.callbacks.ReduceLROnPlateau = False,
    seed: int = config.SEED,
    deterministic: bool = True,
    settings: Mapping[str, Any] | None = None,
    class_names: list[str] | None = None,
    resume: bool = True,
    overwrite: bool = False,
    reuse_finished: bool = False,
    callbacks: list[keras.callbacks.Callback] | None = None,
    saved_model: keras.Model | None = None,
    photos: Mapping[str, Any] | None = None,
    tensorboard: bool = True,
    verbose: str | int = "auto",
    keep: str = BEST_ON_VALIDATION,
) -> RunResult:
    """Train ``model`` on ``train``, validate on ``val`` (SplitData from ``toyrobot_utils.data`` or tf.data
    datasets of (images, one-hot labels)) and keep the best epoch as ``models/<name>.keras``.

    Every record carries the run's lineage (``lineage.run_lineage``): the photos of each split (from the SplitData's
    audit; ``photos`` gives them when ``train`` is a plain dataset) and the settings that change the result.
    A stored run of the same lineage is only replaced by a better one; a stored run of another lineage (other
    photos, other settings) is moved to ``models/archive/<name>/<time>/`` and this run becomes the model of that
    name. ``resume=True`` continues an interrupted run of the same lineage from its last finished epoch (another
    lineage's interrupted run is set aside, with the reason printed); ``resume=False`` starts over.
    ``overwrite=True`` archives the stored model and lets this run replace it whatever it scores.
    ``reuse_finished=True`` returns a finished run of the same lineage as it is, without training.

    ``patience``: stop once no epoch has beaten the best on validation (higher accuracy, or the same with a lower
    loss) for that many epochs (None: every epoch, as the write-up). ``keep``: which epoch the run keeps,
    ``stopping.BEST_ON_VALIDATION`` or ``stopping.LAST_EPOCH`` (a fixed budget, for a validation split too small to
    choose on: ``stopping.keep_rule``; early stopping is then off and the last epoch is saved once, at the end).
    ``lr_reducer``: True for ``ReduceLROnPlateau`` on validation loss (``LR_REDUCER_DEFAULTS``), a dict, or a
    ``ReduceLROnPlateau`` (05 builds one; used as it is, recorded as a dict). ``settings`` (image size, preprocessing,
    augment...) go into the record; missing ``image_size``, ``preprocessing``, ``lr_reducer`` are filled in.
    ``callbacks`` run before the run's own (checkpoint, LR reducer, recorder, backup) at every epoch end;
    ``tensorboard`` adds TensorBoard's, writing per-epoch scalars to ``models/logs/<name>/<start time>/``.
    ``saved_model``: the network the checkpoint writes and the record describes when it contains ``model``
    (``transfer.fit_frozen`` trains a head on cached base features and saves the whole network, base and head).
    ``verbose``: 0 silent, 1 Keras' bar of steps, else one line per epoch (``progress.EpochLog``) and the saving once.
    """
    paths = run_paths(name, models_dir)
    paths["model"].parent.mkdir(parents=True, exist_ok=True)
    if check_keep(keep) == LAST_EPOCH:
        patience = None  # nothing is chosen, so nothing to wait for
    network = model if saved_model is None else saved_model
    say = print if verbose != 0 else (lambda *args, **kwargs: None)
    reducer_args = _reducer_arguments(lr_reducer)
    settings = _completed_settings(settings, network, lr_reducer)
    names = _checked_names(train, class_names, name)
    run_lineage = lineage.run_lineage(
        photos if photos is not None else lineage.photos_of_splits(train, val),
        _lineage_settings(settings, epochs, patience, seed, deterministic, reducer_args, names, network, keep))

    _remove_stale_temporaries(paths, name)
    params = count_params(network)
    state = _interrupted_state(name, paths, run_lineage, params, resume and not overwrite, say)
    previous = _stored_run(name, paths, run_lineage, overwrite, interrupted=state is not None, say=say)
    if reuse_finished and previous is not None and state is None:
        return _reused(name, paths, previous, say)
    if state is None:
        state = _new_state(name, params, run_lineage, previous)

    seed_everything(seed, deterministic)
    history = _train(model, train, val, paths, state, epochs=epochs, patience=patience, lr_reducer=lr_reducer,
                     tensorboard=tensorboard, callbacks=callbacks, saved_model=saved_model, verbose=verbose, keep=keep)
    record, replaced = _keep_or_replace(
        name, paths, state, history, previous, network=network, model=model, epochs=epochs, settings=settings,
        reducer_args=reducer_args, names=names, seed=seed, deterministic=deterministic, run_lineage=run_lineage,
        say=say, keep=keep,
    )
    return _finished(name, paths, history, record, replaced, say)


def _checked_names(train, class_names, name: str) -> list[str] | None:
    """The run's class names, refused when one could not be a folder of the robot's bins."""
    names = class_names_of(train, class_names)
    if names is not None:
        check_folder_names(names, f"the class names of run {name!r}")
    return names


def _lineage_settings(settings, epochs, patience, seed, deterministic, reducer_args, names, network, keep) -> dict:
    """What, beside the photos, makes a run what it is (``lineage.run_lineage``)."""
    return {**settings, "epochs": int(epochs), "patience": patience, "seed": seed, "deterministic": deterministic,
            "lr_reducer": reducer_args, "class_names": names, "network": lineage.network_signature(network),
            # only when it is not the default, so runs recorded before the rule existed keep their lineage
            **({"keep": keep} if keep != BEST_ON_VALIDATION else {})}


def _finished(name: str, paths: dict, history: pd.DataFrame, record: dict, replaced: bool, say) -> RunResult:
    """The end of a run: its backup cleared, the saving said once (the epoch log marked the kept epoch as it went;
    the file named relative to the project, never as an absolute path), its lineage, the kept model loaded."""
    shutil.rmtree(paths["backup"], ignore_errors=True)
    if replaced:
        say(f"{name}: kept epoch {record['best_epoch']} of {record['epochs_run']} (validation accuracy "
            f"{percent(record['best_val_accuracy'])}), saved as {shown_path(paths['model'])}.")
    say(lineage.summary(name, record))
    return RunResult(name, keras.models.load_model(paths["model"]), history, record, replaced, paths)


def _reused(name: str, paths: dict, previous: dict, say) -> RunResult:
    say(f"{name}: a finished run of these photos and settings is stored; loaded it instead of training "
        f"({lineage.summary(name, previous)}).")
    return RunResult(name, keras.models.load_model(paths["model"]), load_history(name, paths["model"].parent),
                     previous, False, paths)


def _reducer_arguments(lr_reducer) -> dict | None:
    if isinstance(lr_reducer, keras.callbacks.ReduceLROnPlateau):
        return reducer_settings(lr_reducer)
    if not lr_reducer:
        return None
    return {**LR_REDUCER_DEFAULTS, **(dict(lr_reducer) if isinstance(lr_reducer, Mapping) else {})}


def reducer_settings(reducer: keras.callbacks.ReduceLROnPlateau) -> dict:
    """A ``ReduceLROnPlateau``'s settings as ``fit`` records them: the ``LR_REDUCER_DEFAULTS`` keys, plus any
    other setting that differs from Keras' default (so a run with the defaults has the lineage of ``True``)."""
    keras_default = keras.callbacks.ReduceLROnPlateau()
    settings = {key: getattr(reducer, key) for key in LR_REDUCER_DEFAULTS}
    for key in ("min_delta", "cooldown", "mode"):
        if getattr(reducer, key) != getattr(keras_default, key):
            settings[key] = getattr(reducer, key)
    return settings


def _completed_settings(settings, network: keras.Model, lr_reducer) -> dict:
    """The caller's settings with what predictions need filled in: the network's input size, its preprocessing."""
    settings = dict(settings or {})
    input_size = network.input_shape[1:3]
    if None not in input_size:  # the network's input is what predictions must be resized to, whatever was passed
        input_size = [int(d) for d in input_size]
        if settings.get("image_size") is not None and list(settings["image_size"]) != input_size:
            warnings.warn(f"settings image_size {settings['image_size']} differs from the network's input "
                          f"{input_size}; the record keeps the network's.", stacklevel=3)
        settings["image_size"] = input_size
    settings.setdefault("preprocessing", infer_preprocessing(network))
    settings.setdefault("lr_reducer", bool(lr_reducer))
    # What the network computes in changes its results: a mixed policy is part of the lineage. float32, the only
    # precision before there was a choice, is left implicit so that earlier float32 runs keep their lineage.
    used = model_precision(network)
    if used != "float32":
        settings["precision"] = used
    else:
        settings.pop("precision", None)
    return settings


def _remove_stale_temporaries(paths: dict, name: str) -> None:
    """Temporary files of a write that was cut off (a killed process) are never a model."""
    for stale in paths["model"].parent.glob(f".{name}[._]*.tmp*"):
        stale.unlink(missing_ok=True)


def _stored_run(name: str, paths: dict, run_lineage: dict, overwrite: bool, *, interrupted: bool, say) -> dict | None:
    """The stored record of this name when it is of the same lineage (the score to beat); a stored model of another
    lineage — or any, with ``overwrite`` — is archived first, never deleted. A model file without a record is the
    checkpoint of an interrupted run: kept when that run is being resumed (``interrupted``), archived otherwise."""
    previous = read_json(paths["record"]) if paths["model"].is_file() else None
    if previous is not None and not overwrite and lineage.same_lineage(previous.get("lineage"), run_lineage):
        return previous
    if previous is None and interrupted and not paths["record"].exists():
        return None
    if paths["model"].is_file() or paths["record"].is_file():
        if overwrite:
            why = "overwrite=True was passed"
        elif previous is None:
            why = "the stored model has no readable record, so its photos are unknown"
        else:
            why = f"the stored model was trained with {lineage.differences(previous.get('lineage'), run_lineage)}"
        where = archive_run(name, paths["model"].parent)
        say(f"{name}: {why}; moved it to {shown_path(where)} (kept, not deleted) and training this run as the model "
            "of that name.")
    return None


def _interrupted_state(name: str, paths: dict, run_lineage: dict, params: dict, resume: bool, say) -> dict | None:
    """The state of an interrupted run of this name when it can be continued (same lineage); else None, and the
    backup folder is cleared (nothing in it can be continued)."""
    state_path = paths["backup"] / STATE_FILE
    state = read_json(state_path) if resume and paths["backup"].is_dir() else None
    if state is not None and state.get("lineage_key") != run_lineage["key"]:
        why = (f"a different network ({(state.get('params') or {}).get('total')} parameters, this one "
               f"{params['total']})" if state.get("params") != params else
               lineage.differences(state.get("lineage"), run_lineage))
        say(f"{name}: not resuming the interrupted run in {shown_path(paths['backup'])}: it was trained with {why}. "
            "Starting over.")
        state = None
    if state is None:
        shutil.rmtree(paths["backup"], ignore_errors=True)
    elif state.get("rows"):
        say(f"{name}: resuming the interrupted run of these photos and settings after epoch "
            f"{max(r['epoch'] for r in state['rows'])}.")
    return state


def _new_state(name: str, params: dict, run_lineage: dict, previous: dict | None) -> dict:
    return {
        "name": name,
        "params": params,
        "lineage_key": run_lineage["key"],
        "lineage": run_lineage,
        "rows": [],
        "best": previous["best_val_accuracy"] if previous else None,
        "best_loss": previous.get("best_val_loss") if previous else None,
        "best_epoch": None,
        "improved": False,
        "resumed_at_epochs": [],
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _train(model, train, val, paths: dict, state: dict, *, epochs, patience, lr_reducer, callbacks, saved_model,
           tensorboard, verbose, keep=BEST_ON_VALIDATION) -> pd.DataFrame:
    """Keras' fit with the run's own callbacks: atomic best checkpoint, LR reducer, recorder, backup, TensorBoard."""
    state_path = paths["backup"] / STATE_FILE
    threshold = state["best"] if paths["model"].is_file() else None
    # Keras' checkpoint and reducer stay silent (a line per epoch, with absolute paths): the epoch log speaks instead
    checkpoint = AtomicModelCheckpoint(paths["model"], initial_value_threshold=threshold, verbose=0, keep=keep,
                                       initial_loss_threshold=state.get("best_loss"), model_to_save=saved_model)
    reducer_args = None if isinstance(lr_reducer, keras.callbacks.ReduceLROnPlateau) else _reducer_arguments(lr_reducer)
    reducer = keras.callbacks.ReduceLROnPlateau(verbose=0, **reducer_args) if reducer_args else lr_reducer or None
    recorder = _RunRecorder(state, state_path, checkpoint, reducer)
    backup = keras.callbacks.BackupAndRestore(str(paths["backup"]), double_checkpoint=True, delete_checkpoint=False)
    stopper = [_StopWhenStalled(state, patience)] if patience else []
    log = [] if verbose in (0, 1) else [EpochLog(epochs, checkpoint.saved_epochs, cuts=reducer is not None)]
    run_callbacks = [*(callbacks or []), checkpoint, *([reducer] if reducer else []), recorder, *log, *stopper, backup]
    if tensorboard:
        run_callbacks.append(tensorboard_callback(paths["logs"] / time_stamp(state["started"])))

    paths["backup"].mkdir(parents=True, exist_ok=True)
    write_json(state_path, state)
    batches_per_call(model)  # the write-up's compile runs a batch per call: same results, less time
    try:
        # verbose=1: Keras' own bar of steps; any other non-zero value: the epoch log's one line per epoch
        model.fit(dataset_of(train), validation_data=dataset_of(val), epochs=epochs, callbacks=run_callbacks,
                  verbose=1 if verbose == 1 else 0, shuffle=False)  # shuffling is the data pipeline's (seeded) business
    finally:
        _forget_resumed_epoch(model)
    history = pd.DataFrame(state["rows"])
    if history.empty:
        raise RuntimeError(f"Run {paths['model'].stem!r} finished without any epoch (epochs={epochs}).")
    return history


def _forget_resumed_epoch(model: keras.Model) -> None:
    """Keras' ``BackupAndRestore`` tells ``fit`` where to resume by setting the private ``model._initial_epoch``
    (Keras 3, checked up to 3.15), which ``fit`` prefers to its own ``initial_epoch`` argument and never resets. Left
    set, a later ``fit`` of the same model object would start at that epoch. If Keras renames it, this reset does
    nothing and a second fit of one model skips epochs; tests/test_library_internals.py fails first."""
    model._initial_epoch = None


def _keep_or_replace(name, paths, state, history, previous, *, network, model, epochs, settings, reducer_args, names,
                     seed, deterministic, run_lineage, say, keep=BEST_ON_VALIDATION) -> tuple[dict, bool]:
    """Write this run's record and history when it produced the kept model; otherwise note it in the stored one."""
    best_idx = best_row(history.to_dict("records"), keep) if MONITOR in history else None
    run_summary = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "best_val_accuracy": float(history[MONITOR].iloc[best_idx]) if best_idx is not None else None,
        "best_val_loss": float(history[TIE_BREAK].iloc[best_idx]) if best_idx is not None and TIE_BREAK in history
        else None,
        "best_epoch": int(history["epoch"].iloc[best_idx]) if best_idx is not None else None,
        "epochs_run": int(len(history)),
    }
    if not (state["improved"] or previous is None):
        record = dict(previous)
        record.setdefault("later_runs_not_kept", []).append(run_summary)
        write_json(paths["record"], record)
        say(f"{name}: this run's best {MONITOR} {run_summary['best_val_accuracy']:.4f} ({TIE_BREAK} "
            f"{run_summary['best_val_loss']}) did not beat the stored {previous['best_val_accuracy']:.4f} "
            f"({previous.get('best_val_loss')}) of the same photos and settings ({previous.get('timestamp')}); "
            f"kept {shown_path(paths['model'])} and its record (pass overwrite=True to replace them).")
        return record, False
    params = count_params(network)
    kept_row = history.loc[history["epoch"] == state["best_epoch"]] if state["best_epoch"] else history.iloc[:0]
    seconds = float(history["seconds"].sum())
    record = {
        "name": name,
        "model_file": paths["model"].name,
        "history_file": paths["history"].name,
        "best_val_accuracy": state["best"],
        "best_epoch": state["best_epoch"],
        "best_val_loss": float(kept_row["val_loss"].iloc[0]) if "val_loss" in kept_row and len(kept_row) else None,
        "best_train_accuracy": float(kept_row["accuracy"].iloc[0]) if "accuracy" in kept_row and len(kept_row)
        else None,
        "epochs_requested": int(epochs),
        "epochs_run": int(len(history)),
        "patience": run_lineage["settings"].get("patience"),
        "keep": keep,
        "stopped_early_at": state.get("stopped_early_at"),
        "resumed_at_epochs": state["resumed_at_epochs"],
        "seconds": seconds,
        "seconds_per_epoch": seconds / len(history),
        "params_total": params["total"],
        "params_trainable": params["trainable"],
        "params_non_trainable": params["non_trainable"],
        "file_bytes": paths["model"].stat().st_size,
        "settings": settings,
        "lr_reducer": reducer_args,
        "final_learning_rate": _current_lr(model),
        "class_names": names,
        "seed": seed,
        "deterministic": deterministic,
        "timestamp": run_summary["timestamp"],
        "started": state["started"],
        "lineage": run_lineage,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
    }
    atomic_write_text(paths["history"], history.to_csv(index=False))
    write_json(paths["record"], record)
    return record, True


def tensorboard_callback(log_dir: str | Path) -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard callback writing per-epoch scalars only (no graph, no profiler, no images): cheap enough
    for every run of the series."""
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0, write_graph=False,
                                       write_images=False, update_freq="epoch", profile_batch=0)


def time_stamp(iso_time: str) -> str:
    """'2026-12-01T13:34:00+00:00' -> '20261201T133400Z' (a folder name that sorts by time)."""
    try:
        return datetime.fromisoformat(iso_time).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def archive_run(name: str, models_dir: str | Path | None = None) -> Path | None:
    """Move run ``name``'s model, record, history and test predictions to ``models/archive/<name>/<time>/`` (the
    time it was trained), so a run of other photos or settings can take the name without losing anything.
    Returns the archive folder, or None when there was nothing to move."""
    paths = run_paths(name, models_dir)
    owned = [paths[k] for k in ("model", "record", "history", "test_predictions") if paths[k].is_file()]
    if not owned:
        return None
    record = read_json(paths["record"]) or {}
    try:
        when = datetime.fromisoformat(record["timestamp"])
    except (KeyError, TypeError, ValueError):
        when = datetime.fromtimestamp(owned[0].stat().st_mtime, timezone.utc)
    stamp = time_stamp(when.isoformat())
    base = paths["model"].parent / ARCHIVE_DIR / name
    folder, n = base / stamp, 1
    while folder.exists():
        n += 1
        folder = base / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    for path in owned:
        os.replace(path, folder / path.name)
    return folder


# --------------------------------------------------------------------------------------------------------------------
# Reading runs back
# --------------------------------------------------------------------------------------------------------------------


class LoadedRun(NamedTuple):
    model: keras.Model
    record: dict


def load_record(name: str, models_dir: str | Path | None = None) -> dict:
    """The metrics record ``models/<name>.json`` of a finished run."""
    path = run_paths(name, models_dir)["record"]
    record = read_json(path)
    if record is None:
        raise FileNotFoundError(f"No run record {path}: train it first with training.fit(..., name={name!r}).")
    return record


def update_record(name: str, models_dir: str | Path | None = None, **fields) -> dict:
    """Add ``fields`` (test accuracy, latency, ...) to run ``name``'s metrics record, written atomically."""
    record = load_record(name, models_dir)
    record.update(fields)
    write_json(run_paths(name, models_dir)["record"], record)
    return record


def load_run(name: str, models_dir: str | Path | None = None) -> LoadedRun:
    """The best model of run ``name`` and its metrics record: ``model, record = load_run("m1_baseline")``."""
    paths = run_paths(name, models_dir)
    if not paths["model"].is_file():
        raise FileNotFoundError(f"No model {paths['model']}: train it first with training.fit(..., name={name!r}).")
    record = load_record(name, models_dir)
    return LoadedRun(keras.models.load_model(paths["model"]), record)


def load_history(name: str, models_dir: str | Path | None = None) -> pd.DataFrame:
    """The per-epoch history ``models/<name>_history.csv`` (epoch, loss, accuracy, val_loss, val_accuracy,
    learning_rate, seconds)."""
    path = run_paths(name, models_dir)["history"]
    if not path.is_file():
        raise FileNotFoundError(f"No history {path}: train it first with training.fit(..., name={name!r}).")
    return pd.read_csv(path)


def list_runs(models_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per finished run in ``models_dir``: the record's headline numbers, for the results table."""
    models_dir = Path(models_dir) if models_dir is not None else config.MODELS_DIR
    rows = []
    for path in sorted(models_dir.glob("*.json")):
        record = read_json(path)
        if not record or "best_val_accuracy" not in record:
            continue
        settings = record.get("settings") or {}
        rows.append({
            "name": record.get("name", path.stem),
            "model_number": settings.get("model_number"),
            "best_val_accuracy": record.get("best_val_accuracy"),
            "best_epoch": record.get("best_epoch"),
            "epochs_run": record.get("epochs_run"),
            "seconds": record.get("seconds"),
            "seconds_per_epoch": record.get("seconds_per_epoch"),
            "params_total": record.get("params_total"),
            "params_trainable": record.get("params_trainable"),
            "file_bytes": record.get("file_bytes"),
            "timestamp": record.get("timestamp"),
        })
    return pd.DataFrame(rows)


__all__ = [
    "ARCHIVE_DIR",
    "AtomicModelCheckpoint",
    "archive_run",
    "tensorboard_callback",
    "time_stamp",
    "LR_REDUCER_DEFAULTS",
    "reducer_settings",
    "LoadedRun",
    "update_record",
    "RunResult",
    "fit",
    "list_runs",
    "load_history",
    "load_record",
    "load_run",
    "run_paths",
    "seed_everything",
]

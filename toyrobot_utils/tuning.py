"""The write-up's Keras Tuner search, made resumable, timed and distributable, with its results as a table.

The search space is ``models.ToyHyperModel`` (the write-up's: 1-4 conv layers of 32-256 filters, 1-4 dense layers
of 32-256 neurons, dropout on/off, Adam or RMSprop); the objective is ``val_accuracy``. On top of plain Keras Tuner:

- ``run_search`` is the write-up's ``RandomSearch(max_trials=30, executions_per_trial=2)`` + ``search(epochs=40)`` in
  one call; ``algorithm="hyperband"`` swaps in Hyperband. Rerunning it with the same ``directory`` continues from the
  finished trials (Keras Tuner's ``overwrite=False``), so an interrupted or extended search never starts over.
- every trial writes ``timing.json`` next to Keras Tuner's ``trial.json`` (who ran it, seconds, seconds per epoch),
  so the notebook can say how long the search took and ``plan_budget`` can size a search to a time budget;
- ``trials_summary`` / ``best_hyperparameters`` / ``plot_search`` read the results back from the trial files, so
  they work on a finished, an interrupted or a distributed search alike, without re-creating the tuner;
- ``cli`` starts a standalone search, or a chief / worker of Keras Tuner's own distributed mode
  (``python -m toyrobot_utils tune ...``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import keras_tuner
import numpy as np
import pandas as pd

from . import config, lineage, models
from .audit import DataSetError
from .files import UMASK, atomic_write_text, temporary_path

OBJECTIVE = "val_accuracy"
PROJECT_NAME = "toy-robot-cnn"  # models.make_tuner delegates to build_tuner, with the same default
ALGORITHMS = ("random", "hyperband")
# The write-up's search: RandomSearch(max_trials=30, executions_per_trial=2), search(epochs=40).
WRITEUP_SEARCH = {"max_trials": 30, "executions_per_trial": 2, "epochs": 40}
TIMING_FILE = "timing.json"
SETTINGS_FILE = "search_settings.json"  # how the project's trials were trained; a resumed search must match it
BUDGET_SECONDS = 15 * 60  # what the notebook series can afford on 2 CPU cores
# Notebook 07's default search, sized to BUDGET_SECONDS from NOTEBOOK_PILOT: the timing files of the notebook's first
# full run (8 random trials x 4 epochs, 128 px, batch 32, no augmentation, max_model_size 20 M, 2 free CPU cores;
# 20.1 minutes). Random search draws small and large networks alike, so the *mean* over the trials is what a search
# pays per epoch on average: plan_budget(36.7, overhead_seconds=3.9, epochs=4) fits 6 trials in 15 min (15.1).
# (An earlier pilot on a shared machine, scaled by its CPU share, had estimated 24.5 s per epoch: 8 trials.)
NOTEBOOK_MAX_MODEL_SIZE = 20_000_000  # parameters: 320 MB for weights, gradients and Adam's two moments
NOTEBOOK_PILOT = {
    "machine": "2 CPU cores",
    "data": "the built-in data set: 500 training and 150 validation photos",
    "image_size": 128,
    "batch_size": 32,
    "max_model_size": NOTEBOOK_MAX_MODEL_SIZE,
    "trials": 8,
    "epochs": 4,
    "seconds_per_epoch": 36.7,  # wall clock, mean over all 32 epochs of the 8 trials
    "min_seconds_per_epoch": 10.0,  # the fastest trial's mean (32 filters in the first layer, two conv layers)
    "max_seconds_per_epoch": 82.4,  # the slowest (256 filters in the first layer, four conv layers)
    "overhead_seconds": 3.9,  # per training: building and tracing the network, outside the epochs
}
NOTEBOOK_SEARCH = {"max_trials": 6, "executions_per_trial": 1, "epochs": 4}

# Keras Tuner's distributed mode is configured through these environment variables.
ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"

BASE_COLUMNS = ["trial_id", "status", "score", "best_epoch"]
TIMING_COLUMNS = ["tuner_id", "seconds", "epochs", "executions", "seconds_per_epoch", "overhead_seconds",
                  "started", "ended"]
# The panels of plot_search: (table column, axis label).
MAIN_HYPERPARAMETERS = [
    ("conv_layers", "conv layers"),
    ("Input_Conv_Filters", "first conv layer filters"),
    ("n_Dense_Layers", "dense layers"),
    ("Dropout", "dropout"),
    ("Optimizer", "optimizer"),
]

# "Conv_2_Filters" only matters when n_Conv_Layers > 2 (likewise the dense layers). The hypermodel declares it in a
# conditional scope, so Keras Tuner leaves it out of trials without that layer; projects searched before that (or
# other hypermodels) may still record it, so the table blanks such values and best_hyperparameters leaves them out.
_PER_LAYER = [(re.compile(r"^Conv_(\d+)_Filters$"), "n_Conv_Layers"),
              (re.compile(r"^Dense_(\d+)_Neurons$"), "n_Dense_Layers")]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _write_json_atomic(path: Path, data: Mapping) -> None:
    """Readers (a notebook polling a distributed search) never see half a file."""
    atomic_write_text(path, json.dumps(data, indent=2))


class SettingsMismatchError(ValueError):
    """The project's finished trials were trained with other settings than this call asks for."""


def _check_settings(project_dir: Path, settings: Mapping[str, Any]) -> None:
    """A resumed (or distributed) search must train its trials like the finished ones, else their scores do not
    compare: the first run records its settings in the project, later runs must match (``max_trials`` may grow)."""
    settings = json.loads(json.dumps(dict(settings)))  # tuples -> lists, as stored
    path = Path(project_dir) / SETTINGS_FILE
    if not path.is_file():
        tmp = temporary_path(path)
        tmp.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o666 & ~UMASK)
        try:
            os.link(tmp, path)  # atomic "create if absent": when chief and workers start together, one wins
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not path.is_file():
                os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    stored = _read_json(path) or {}
    differences = [f"{key}={stored[key]!r} (now {value!r})" for key, value in settings.items()
                   if value is not None and stored.get(key) is not None and stored[key] != value]
    if differences:
        raise SettingsMismatchError(
            f"{path.parent} holds a search trained with {', '.join(differences)}: new trials would not be "
            "comparable with its finished ones. Resume with the same settings, choose another project_name "
            "(--project-name) for a new search, or pass overwrite=True (--overwrite) to start over."
        )
    missing = {key: value for key, value in settings.items() if value is not None and stored.get(key) is None}
    if missing:  # e.g. the chief knew no class names; the first worker adds them for later resumes
        _write_json_atomic(path, {**stored, **missing})


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def is_distributed() -> bool:
    """True when Keras Tuner's chief/worker environment variables are set in this process."""
    return ENV_ORACLE_IP in os.environ


def is_worker() -> bool:
    """A worker of a distributed search: it trains trials that the chief hands out (any id without "chief")."""
    return is_distributed() and "chief" not in os.environ.get(ENV_TUNER_ID, "")


def is_chief() -> bool:
    return is_distributed() and "chief" in os.environ.get(ENV_TUNER_ID, "")


# --------------------------------------------------------------------------------------------------------------------
# Tuners that time their trials
# --------------------------------------------------------------------------------------------------------------------


class _TimedTrials:
    """Mixin for Keras Tuner tuners: writes ``trial_<id>/timing.json`` when a trial ends (before the oracle hears
    of it, so the file is there once the trial counts as finished), remembers which trials this process ran, and
    can drop the per-trial weights (``keep_checkpoints=False``) so 30 large trials do not fill the disk."""

    def __init__(self, *args, keep_checkpoints: bool = True, log_trials: bool = False, **kwargs):
        self.keep_checkpoints = keep_checkpoints
        self.log_trials = log_trials
        self.trials_run: list[str] = []  # trial ids trained by this tuner object, in order
        self._timing: dict | None = None
        super().__init__(*args, **kwargs)

    def on_search_begin(self):
        super().on_search_begin()
        if self.log_trials and is_worker():  # data loaded, tuner built: from here on it only waits for the chief
            address = f"{os.environ[ENV_ORACLE_IP]}:{os.environ[ENV_ORACLE_PORT]}"
            print(f"{self.tuner_id}: ready, asking the chief at {address} for trials", flush=True)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._timing = {
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": _now(),
            "_t0": time.perf_counter(),
            "_initial_epoch": int(trial.hyperparameters.values.get("tuner/initial_epoch", 0)),
            "epoch_seconds": [],
            "first_epoch_seconds": [],  # the first epoch of each execution also pays for tracing the model
        }

    def on_epoch_begin(self, trial, model, epoch, logs=None):
        super().on_epoch_begin(trial, model, epoch, logs=logs)
        if self._timing is not None:
            self._timing["_epoch_t0"] = time.perf_counter()
            self._timing["_first"] = epoch == self._timing["_initial_epoch"]

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        if self._timing is not None and "_epoch_t0" in self._timing:
            seconds = time.perf_counter() - self._timing["_epoch_t0"]
            key = "first_epoch_seconds" if self._timing["_first"] else "epoch_seconds"
            self._timing[key].append(seconds)

    def on_trial_end(self, trial):
        timing = self._timing or {"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "_t0": time.perf_counter()}
        self._timing = None
        record = {k: v for k, v in timing.items() if not k.startswith("_")}
        record.update(ended=_now(), seconds=time.perf_counter() - timing["_t0"], status=str(trial.status))
        record["executions"] = len(record.get("first_epoch_seconds", []))
        record["epochs"] = record["executions"] + len(record.get("epoch_seconds", []))
        _write_json_atomic(Path(self.get_trial_dir(trial.trial_id)) / TIMING_FILE, record)
        if not self.keep_checkpoints:
            for path in Path(self.get_trial_dir(trial.trial_id)).glob("checkpoint*"):
                path.unlink(missing_ok=True)
        self.trials_run.append(trial.trial_id)
        if self.log_trials:
            reason = (trial.message or "").strip().splitlines()[-1:] if record["status"] != "COMPLETED" else []
            print(f"{self.tuner_id}: trial {trial.trial_id} {record['status']} in {record['seconds']:.1f} s "
                  f"({record['epochs']} epochs){': ' + reason[0] if reason else ''}", flush=True)
        super().on_trial_end(trial)


class TimedRandomSearch(_TimedTrials, keras_tuner.RandomSearch):
    """``keras_tuner.RandomSearch`` that records each trial's timing (see ``trials_summary``)."""


class TimedHyperband(_TimedTrials, keras_tuner.Hyperband):
    """``keras_tuner.Hyperband`` that records each trial's timing (see ``trials_summary``)."""


def build_tuner(
    directory: str | Path | None = None,
    project_name: str = PROJECT_NAME,
    *,
    algorithm: str = "random",
    num_classes: int = len(config.DEFAULT_CLASSES),
    image_size: tuple[int, int] = config.IMAGE_SIZE,
    max_trials: int = WRITEUP_SEARCH["max_trials"],
    executions_per_trial: int = WRITEUP_SEARCH["executions_per_trial"],
    epochs: int = WRITEUP_SEARCH["epochs"],
    hyperband_factor: int = 3,
    seed: int = config.SEED,
    overwrite: bool = False,
    max_model_size: int | None = None,
    max_consecutive_failed_trials: int = 3,
    keep_checkpoints: bool = True,
    hypermodel: keras_tuner.HyperModel | None = None,
    log_trials: bool = False,
):
    """A tuner over the write-up's search space, objective ``val_accuracy``, stored in ``directory/project_name``
    (default ``models/tuner/toy-robot-cnn``).

    ``algorithm="random"`` is the write-up's RandomSearch (``max_trials`` configurations, each trained
    ``executions_per_trial`` times for ``epochs``, passed later to ``search``). ``"hyperband"`` uses ``epochs`` as
    Hyperband's ``max_epochs`` and decides the number of trials itself (``max_trials`` is ignored); on a resumed
    Hyperband search its stored ``max_epochs`` wins. ``overwrite=False`` (default) reloads an existing project so
    the search continues from its finished trials. ``max_model_size`` (parameters) keeps oversized networks out of
    the search: one conv layer of 256 filters before a 256-neuron dense layer is 268 M parameters at 128 px, 4 GB
    with Adam's state. With a hypermodel that can count its parameters from the values (``ToyHyperModel``) the
    oracle draws again instead of proposing such a network, so no trial is spent on it (Keras Tuner alone would
    fail the trial, count it towards ``max_trials``, and stop the search after ``max_consecutive_failed_trials``
    failures in a row); Keras Tuner's own check stays as a backstop.
    ``keep_checkpoints=False`` deletes each trial's weights after it ends (``get_best_models`` then cannot load
    them; rebuild with ``models.build_from_hyperparameters`` instead). Random search only: Hyperband continues
    trials from their weights.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "hyperband" and not keep_checkpoints:
        raise ValueError("Hyperband continues trials from their saved weights; keep_checkpoints=False cannot work")
    if overwrite and is_worker():
        raise ValueError("A worker must not overwrite the shared project (it would delete the chief's trials); "
                         "only the chief or a standalone search may pass overwrite=True")
    for name, value in (("max_trials", max_trials), ("executions_per_trial", executions_per_trial),
                        ("epochs", epochs)):
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    directory = Path(directory) if directory is not None else config.MODELS_DIR / "tuner"
    hypermodel = hypermodel if hypermodel is not None else models.ToyHyperModel(num_classes, tuple(image_size))
    common = dict(
        hypermodel=hypermodel,
        objective=OBJECTIVE,
        executions_per_trial=int(executions_per_trial),
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
        max_model_size=max_model_size,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        keep_checkpoints=keep_checkpoints,
        log_trials=log_trials,
    )
    if algorithm == "hyperband":
        tuner = TimedHyperband(max_epochs=int(epochs), factor=hyperband_factor, **common)
    else:
        tuner = TimedRandomSearch(max_trials=int(max_trials), **common)
    if max_model_size and callable(getattr(hypermodel, "param_count", None)):
        _redraw_oversized(tuner.oracle, lambda values: hypermodel.param_count(values) <= int(max_model_size))
    return tuner


def _redraw_oversized(oracle, fits, attempts: int = 1000) -> None:
    """Make ``oracle`` draw random values again until ``fits(values)``: both RandomSearch's and Hyperband's oracles
    draw through ``_random_values``. Redrawing is deterministic (the oracle's seed state advances with each draw)
    and skips nothing the search would otherwise have trained. A worker's oracle is the chief's, over the
    network: nothing to wrap there (the chief wraps its own)."""
    draw = getattr(oracle, "_random_values", None)
    if draw is None or is_worker():
        return

    def random_values_that_fit():
        values = None
        for _ in range(attempts):
            values = draw()
            if values is None or fits(values):
                return values
        return values  # nothing fitted: Keras Tuner's max_model_size check fails this one

    oracle._random_values = random_values_that_fit


# --------------------------------------------------------------------------------------------------------------------
# Running a search
# --------------------------------------------------------------------------------------------------------------------


def _dataset_of(data):
    return getattr(data, "dataset", data)


def _image_size_of(dataset) -> tuple[int, int] | None:
    try:
        spec = dataset.element_spec[0] if isinstance(dataset.element_spec, tuple) else dataset.element_spec
        height, width = spec.shape[1], spec.shape[2]
        return (int(height), int(width)) if height is not None and width is not None else None
    except (AttributeError, IndexError, TypeError):
        return None


def search(tuner, train, val, *, epochs: int = WRITEUP_SEARCH["epochs"], callbacks=None, verbose="auto"):
    """``tuner.search`` on SplitData (or tf.data datasets of images and one-hot labels): trains the trials still
    missing and returns the trial ids this call trained. ``callbacks`` are copied for every execution."""
    before = len(getattr(tuner, "trials_run", []))
    tuner.search(_dataset_of(train), validation_data=_dataset_of(val), epochs=int(epochs),
                 callbacks=list(callbacks or []), verbose=verbose,
                 shuffle=False)  # shuffling is the data pipeline's (seeded) business, as in training.fit
    return list(getattr(tuner, "trials_run", [])[before:])


@dataclass
class SearchResult:
    """What ``run_search`` gives back. ``table`` and ``best`` are read from the trial files when asked for, so they
    include trials that other workers ran."""

    tuner: Any
    trials_run: list[str]  # trial ids trained by this call (empty when the search was already complete)
    seconds: float  # wall-clock seconds of this call

    @property
    def project_dir(self) -> Path:
        return Path(self.tuner.project_dir)

    @property
    def table(self) -> pd.DataFrame:
        return trials_summary(self.tuner)

    @property
    def best(self) -> dict:
        return best_hyperparameters(self.tuner)


def run_search(
    data=None,
    *,
    directory: str | Path | None = None,
    project_name: str = PROJECT_NAME,
    algorithm: str = "random",
    max_trials: int = WRITEUP_SEARCH["max_trials"],
    executions_per_trial: int = WRITEUP_SEARCH["executions_per_trial"],
    epochs: int = WRITEUP_SEARCH["epochs"],
    image_size: tuple[int, int] = config.IMAGE_SIZE,
    batch_size: int = config.BATCH_SIZE,
    augment: bool = False,
    seed: int = config.SEED,
    overwrite: bool = False,
    max_model_size: int | None = None,
    keep_checkpoints: bool = True,
    hypermodel: keras_tuner.HyperModel | None = None,
    callbacks=None,
    verbose="auto",
    log_trials: bool = False,
    record_settings: Mapping[str, Any] | None = None,
) -> SearchResult:
    """The write-up's search in one call: ``run_search("data")`` is RandomSearch, 30 trials x 2 executions x 40
    epochs, objective val_accuracy, results in ``models/tuner/toy-robot-cnn``.

    ``data``: a data folder (loaded with ``data.load_datasets``; default ``config.DATA_DIR``) or the dict that
    ``load_datasets`` returned (then image size and classes come from it). ``augment`` defaults to False like the
    write-up's tuning code (its text says the augmentation pipeline; pass True for that). Calling it again with the
    same ``directory`` and ``project_name`` resumes: finished trials are kept, an interrupted one is redone, and a
    larger ``max_trials`` adds only the missing trials. See ``build_tuner`` for the other arguments.
    ``record_settings``: more settings the finished trials depend on, checked on resume like the others (with
    ``data`` given as datasets, e.g. ``{"batch_size": 32, "augment": False}``: the pipeline's, unknown here).
    """
    from .data import load_datasets
    from .training import seed_everything

    started = time.perf_counter()
    if isinstance(data, Mapping):
        datasets = data
        image_size = _image_size_of(_dataset_of(datasets["training"])) or tuple(image_size)
    else:
        datasets = load_datasets(data if data is not None else config.DATA_DIR, image_size=image_size,
                                 batch_size=batch_size, augment=augment, seed=seed, verbose=verbose != 0)
    train, val = datasets["training"], datasets["validation"]
    class_names = getattr(train, "class_names", None)
    num_classes = len(class_names) if class_names else len(config.DEFAULT_CLASSES)
    photos = lineage.photos_key(lineage.photos_of_splits(train, val))
    if not overwrite:
        _set_aside_search_of_other_photos(Path(directory) if directory is not None else config.MODELS_DIR / "tuner",
                                          project_name, photos, verbose)
    seed_everything(seed)
    tuner = build_tuner(
        directory, project_name, algorithm=algorithm, num_classes=num_classes, image_size=tuple(image_size),
        max_trials=max_trials, executions_per_trial=executions_per_trial, epochs=epochs, seed=seed,
        overwrite=overwrite, max_model_size=max_model_size, keep_checkpoints=keep_checkpoints,
        hypermodel=hypermodel, log_trials=log_trials,
    )
    settings = {"algorithm": algorithm, "epochs": int(epochs), "executions_per_trial": int(executions_per_trial),
                "image_size": list(image_size), "class_names": class_names,
                "photos": None if photos == lineage.UNKNOWN else photos}
    if not isinstance(data, Mapping):  # known only when the pipeline is built here
        settings.update(batch_size=int(batch_size), augment=bool(augment))
    settings.update(record_settings or {})
    _check_settings(Path(tuner.project_dir), settings)
    trials_run = search(tuner, train, val, epochs=epochs, callbacks=callbacks, verbose=verbose)
    return SearchResult(tuner, trials_run, time.perf_counter() - started)


def _set_aside_search_of_other_photos(directory: Path, project_name: str, photos: str, verbose) -> None:
    """A search's trials are only comparable on the photos they were trained on: a stored search of other photos
    (same project name, e.g. the series rerun on your own photos) is moved to ``<directory>/archive/<project>/<time>/``
    and a new search starts. A distributed search is refused instead (its workers share the folder)."""
    project = directory / project_name
    stored = (_read_json(project / SETTINGS_FILE) or {}).get("photos")
    if not stored or photos == lineage.UNKNOWN or stored == photos:
        return
    what = (f"The search {project} was trained on other photos (fingerprint {lineage.short(stored)}, these "
            f"{lineage.short(photos)})")
    if is_distributed():
        raise SettingsMismatchError(f"{what}: its trials do not compare with new ones. Start a new search with "
                                    "another --project-name on every machine, or --overwrite on the chief.")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = directory / "archive" / project_name / stamp
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(project, target)
    if verbose != 0:
        print(f"{what}; moved it to {target} (kept, not deleted) and starting a new search.")


# --------------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------------


def _project_dir(source, project_name: str = PROJECT_NAME) -> Path:
    """A tuner, a project folder (holding trial_* folders) or the tuner's ``directory`` (holding the project)."""
    if hasattr(source, "project_dir"):
        return Path(source.project_dir)
    path = Path(source) if source is not None else config.MODELS_DIR / "tuner"
    if (path / "oracle.json").is_file() or any(path.glob("trial_*")):
        return path
    if (path / project_name).is_dir():
        return path / project_name
    raise FileNotFoundError(
        f"No tuner project at {path} (looked for trial_* folders there and in {path / project_name}). "
        "Run the search first (tuning.run_search or `python -m toyrobot_utils tune`), or pass the tuner's "
        "directory and project_name."
    )


def active_values(values: Mapping[str, Any]) -> dict:
    """The hyper-parameter values the network actually uses: drops per-layer values of layers it does not have
    (``Conv_2_Filters`` with ``n_Conv_Layers=1``) and Hyperband's bookkeeping (``tuner/epochs``...)."""
    out = {}
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        unused = False
        for pattern, count_name in _PER_LAYER:
            match = pattern.match(name)
            if match and count_name in values and int(match.group(1)) >= int(values[count_name]):
                unused = True
        if not unused:
            out[name] = value
    return out


def _hyperparameter_order() -> list[str]:
    space = models.TUNER_SEARCH_SPACE
    order = []
    for key, spec in space.items():
        if "{i}" in key:
            order += [key.format(i=i) for i in range(int(space["n_Conv_Layers"]["max_value"]))]
        elif "{j}" in key:
            order += [key.format(j=j) for j in range(int(space["n_Dense_Layers"]["max_value"]))]
        else:
            order.append(key)
    return order


def _id_key(trial_id: str):
    return (0, int(trial_id), "") if str(trial_id).isdigit() else (1, 0, str(trial_id))


def _timing_columns(timing: dict | None) -> dict:
    if not timing:
        return {}
    steady = list(timing.get("epoch_seconds") or [])
    first = list(timing.get("first_epoch_seconds") or [])
    # Steady-state seconds per epoch; with one epoch per execution only the first (tracing) epochs are known.
    per_epoch = float(np.median(steady)) if steady else (float(np.mean(first)) if first else None)
    epochs = int(timing.get("epochs", len(steady) + len(first)))
    executions = int(timing.get("executions", len(first)))
    seconds = float(timing.get("seconds", 0.0))
    overhead = None
    if per_epoch is not None and executions:
        overhead = max(0.0, (seconds - epochs * per_epoch) / executions)  # build, tracing, checkpoints
    return {"tuner_id": timing.get("tuner_id"), "seconds": seconds, "epochs": epochs, "executions": executions,
            "seconds_per_epoch": per_epoch, "overhead_seconds": overhead, "started": timing.get("started"),
            "ended": timing.get("ended")}


def _typed(column: pd.Series) -> pd.Series:
    present = [v for v in column if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(isinstance(v, bool) for v in present):
        return column.astype("boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return column.astype("Int64")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return column.astype("Float64")
    return column


def _load_trials(project: Path) -> list[dict]:
    trials = []
    for path in project.glob("trial_*/trial.json"):
        try:
            trial = _read_json(path)
        except json.JSONDecodeError:  # Keras Tuner is writing it right now
            warnings.warn(f"Skipped {path}: it is being written; read the results again in a moment")
            continue
        if trial:
            trial["_dir"] = path.parent
            trials.append(trial)
    return trials


def _direction(trials: Sequence[dict], objective: str) -> str:
    for trial in trials:
        metric = ((trial.get("metrics") or {}).get("metrics") or {}).get(objective)
        if metric and metric.get("direction"):
            return metric["direction"]
    return "max"


def _sorted_trials(trials: list[dict], direction: str) -> list[dict]:
    def key(trial):
        score = trial.get("score")
        missing = score is None or (isinstance(score, float) and math.isnan(score))
        value = 0.0 if missing else (-float(score) if direction == "max" else float(score))
        return (missing, value, _id_key(trial["trial_id"]))

    return sorted(trials, key=key)


def _param_counter(project: Path):
    """A hypermodel with the search's classes and image size (from its settings file), to count parameters."""
    settings = _read_json(project / SETTINGS_FILE) or {}
    if not settings.get("image_size") or not settings.get("class_names"):
        return None
    return models.ToyHyperModel(len(settings["class_names"]), tuple(settings["image_size"]))


def trials_summary(source=None, project_name: str = PROJECT_NAME, *, objective: str = OBJECTIVE) -> pd.DataFrame:
    """One row per trial, best first: ``trial_id``, ``status``, ``score`` (the objective, val_accuracy averaged over
    executions), ``best_epoch``, one column per hyper-parameter (blank where the network has no such layer),
    ``conv_layers`` (all conv layers: 1 + n_Conv_Layers), ``params`` (the network's parameters; blank when the
    project does not record its classes and image size), and the timing ``tuner_id``, ``seconds``, ``epochs``,
    ``executions``, ``seconds_per_epoch`` (steady state), ``overhead_seconds`` (per execution: build, tracing,
    saving), ``started``, ``ended`` (UTC).

    ``source``: a tuner, its project folder, or its ``directory`` (then ``project_name`` picks the project). Read
    from the trial files, so it also works while a distributed search is running.
    """
    project = _project_dir(source, project_name)
    trials = _load_trials(project)
    direction = _direction(trials, objective)
    order = _hyperparameter_order()
    counter = _param_counter(project)
    rows, extra_names = [], []
    for trial in _sorted_trials(trials, direction):
        values = dict((trial.get("hyperparameters") or {}).get("values") or {})
        active = active_values(values)
        best_step = trial.get("best_step")
        row = {
            "trial_id": str(trial["trial_id"]),
            "status": trial.get("status"),
            "score": trial.get("score"),
            "best_epoch": int(best_step) + 1 if isinstance(best_step, (int, float)) else None,
        }
        for name, value in values.items():
            if name not in order and name not in extra_names:
                extra_names.append(name)
            row[name] = active.get(name, value if name.startswith("tuner/") else None)
        if "n_Conv_Layers" in values:
            row["conv_layers"] = int(values["n_Conv_Layers"]) + 1
        if counter is not None:
            try:
                row["params"] = counter.param_count(active)
            except (KeyError, TypeError, ValueError):  # values of another search space
                pass
        row.update(_timing_columns(_read_json(trial["_dir"] / TIMING_FILE)))
        rows.append(row)
    hp_columns = [name for name in order if any(name in row for row in rows)] + sorted(extra_names)
    columns = BASE_COLUMNS + hp_columns + ["conv_layers", "params"] + TIMING_COLUMNS
    table = pd.DataFrame(rows, columns=columns)
    for name in hp_columns + ["conv_layers", "params", "best_epoch", "epochs", "executions"]:
        # from the raw values: pandas would already have turned ints with gaps into floats
        table[name] = _typed(pd.Series([row.get(name) for row in rows], dtype=object, index=table.index))
    table["score"] = pd.to_numeric(table["score"], errors="coerce").astype(float)
    for name in ("seconds", "seconds_per_epoch", "overhead_seconds"):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    table.attrs.update(objective=objective, direction=direction, project_dir=str(project))
    return table


def best_hyperparameters(source=None, project_name: str = PROJECT_NAME, *, rank: int = 0,
                         objective: str = OBJECTIVE) -> dict:
    """The best completed trial's hyper-parameters as a plain dict (only those the network uses), ready for
    ``models.build_from_hyperparameters(best, num_classes, image_size)``; ``rank=1`` gives the runner-up. Of
    trials with equal scores the earlier one wins (the first row of ``trials_summary``)."""
    project = _project_dir(source, project_name)
    trials = [t for t in _load_trials(project)
              if t.get("status") == "COMPLETED" and isinstance(t.get("score"), (int, float))
              and not math.isnan(t["score"])]
    if len(trials) <= rank:
        raise LookupError(
            f"{project} has {len(trials)} completed trial(s), so there is no rank {rank}. Run the search first "
            "(tuning.run_search, or `python -m toyrobot_utils tune`)."
        )
    best = _sorted_trials(trials, _direction(trials, objective))[rank]
    values = active_values(best["hyperparameters"]["values"])
    order = _hyperparameter_order()
    ordered = [name for name in order if name in values] + sorted(name for name in values if name not in order)
    return {name: _plain(values[name]) for name in ordered}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def timing_summary(table: pd.DataFrame) -> dict:
    """How long a search took, from ``trials_summary``: trials timed, summed trial seconds (compute), wall-clock
    seconds from the first start to the last end (shorter with several workers), median seconds per epoch,
    and the workers that ran trials."""
    timed = table[table["seconds"].notna()] if "seconds" in table else table.iloc[:0]
    if timed.empty:
        return {"trials": 0, "trial_seconds": 0.0, "wall_seconds": 0.0, "seconds_per_epoch": None, "workers": []}
    starts = pd.to_datetime(timed["started"], utc=True, errors="coerce")
    ends = pd.to_datetime(timed["ended"], utc=True, errors="coerce")
    wall = (ends.max() - starts.min()).total_seconds() if starts.notna().any() and ends.notna().any() else None
    per_epoch = timed["seconds_per_epoch"].dropna()
    return {
        "trials": int(len(timed)),
        "trial_seconds": float(timed["seconds"].sum()),
        "wall_seconds": float(wall) if wall is not None else None,
        "seconds_per_epoch": float(per_epoch.median()) if len(per_epoch) else None,
        "workers": sorted(str(w) for w in timed["tuner_id"].dropna().unique()),
    }


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def plot_search(source, *, objective: str = OBJECTIVE, name: str = "tuning_search", save: bool = True,
                figures_dir: str | Path | None = None, project_name: str = PROJECT_NAME):
    """Score of every completed trial against the main hyper-parameters (conv layers, first conv filters, dense
    layers, dropout, optimizer): one panel each, trials as jittered dots, the mean per value as a bar, the best
    trial as a star. Shows which choices matter, not just which trial won. Saved as ``figures/<name>.png``.
    ``source``: a ``trials_summary`` table, a tuner or its folder."""
    from .plots import new_figure, save_figure

    table = source if isinstance(source, pd.DataFrame) else trials_summary(source, project_name, objective=objective)
    done = table[(table["status"] == "COMPLETED") & table["score"].notna()]
    done = done.sort_values("score", ascending=table.attrs.get("direction", "max") == "min", kind="stable")
    panels = [(column, label) for column, label in MAIN_HYPERPARAMETERS if column in table]
    fig = new_figure(figsize=(3.0 * max(len(panels), 1), 4.0))
    axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(done))  # one offset per trial, same in every panel
    best_id = done.iloc[0]["trial_id"] if len(done) else None
    for ax, (column, label) in zip(axes, panels):
        values = done[column]
        categories = sorted(values.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
        position = {value: i for i, value in enumerate(categories)}
        x = np.array([position.get(v, np.nan) if pd.notna(v) else np.nan for v in values], dtype=float) + jitter
        ax.scatter(x, done["score"], s=28, alpha=0.7, color="tab:blue", zorder=2)
        for value, i in position.items():
            mean = done.loc[values == value, "score"].mean()
            ax.hlines(mean, i - 0.3, i + 0.3, color="black", linewidth=2, zorder=3)
        if best_id is not None:  # done is sorted best first
            ax.scatter([x[0]], [done["score"].iloc[0]], marker="*", s=200, color="tab:red", zorder=4,
                       label=f"best (trial {best_id})")
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([str(c) for c in categories], rotation=45 if len(categories) > 4 else 0)
        ax.set_xlim(-0.6, max(len(categories) - 0.4, 0.6))
        ax.set_xlabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(objective)
    if best_id is not None:
        axes[0].legend(loc="lower left", fontsize="small")
    fig.suptitle(f"Keras Tuner: {objective} of {len(done)} trials against the main hyper-parameters "
                 "(bar: mean per value)")
    if save:
        save_figure(fig, name, figures_dir)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Budget:
    """A search sized to a time budget: ``max_trials`` trials x ``executions_per_trial`` x ``epochs``."""

    max_trials: int
    epochs: int
    executions_per_trial: int
    seconds_per_epoch: float  # steady state, mean over the measured trials
    overhead_seconds: float  # per execution: build, tracing (first epoch), checkpoints
    estimated_seconds: float  # wall clock, spread over ``workers``
    budget_seconds: float
    workers: int = 1

    @property
    def fits(self) -> bool:
        return self.estimated_seconds <= self.budget_seconds * 1.001

    def search_kwargs(self) -> dict:
        """Arguments for ``run_search(**budget.search_kwargs())``."""
        return {"max_trials": self.max_trials, "epochs": self.epochs,
                "executions_per_trial": self.executions_per_trial}

    def __str__(self) -> str:
        return (f"{self.max_trials} trials x {self.executions_per_trial} execution(s) x {self.epochs} epochs "
                f"~ {_format_seconds(self.estimated_seconds)} on {self.workers} worker(s) "
                f"(budget {_format_seconds(self.budget_seconds)}; {self.seconds_per_epoch:.2f} s per epoch + "
                f"{self.overhead_seconds:.1f} s per execution)")


def plan_budget(
    timings,
    *,
    budget_seconds: float = BUDGET_SECONDS,
    epochs: int | None = None,
    max_trials: int | None = None,
    executions_per_trial: int = 1,
    overhead_seconds: float | None = None,
    workers: int = 1,
) -> Budget:
    """Size a search to ``budget_seconds`` (15 minutes by default) from measured trial timings.

    ``timings``: a ``trials_summary`` table (of a ``pilot_search`` or an earlier search; the *mean* seconds per
    epoch is used, because random search draws small and large networks alike) or seconds per epoch as a number.
    Give ``epochs`` to get how many trials fit, or ``max_trials`` to get how many epochs each may train; give both
    to just estimate. ``workers``: trials running side by side (a distributed search on separate machines).
    """
    if isinstance(timings, pd.DataFrame):
        per_epoch = timings["seconds_per_epoch"].dropna() if "seconds_per_epoch" in timings else pd.Series([])
        if per_epoch.empty:
            raise ValueError("The table has no timed trials (no timing.json): run tuning.pilot_search first")
        seconds_per_epoch = float(per_epoch.mean())
        if overhead_seconds is None:
            overhead = timings["overhead_seconds"].dropna()
            overhead_seconds = float(overhead.mean()) if len(overhead) else 0.0
    else:
        seconds_per_epoch = float(timings)
    overhead_seconds = float(overhead_seconds or 0.0)
    if seconds_per_epoch <= 0:
        raise ValueError(f"seconds per epoch must be positive, got {seconds_per_epoch}")
    executions, workers = int(executions_per_trial), max(int(workers), 1)
    capacity = float(budget_seconds) * workers  # trial-seconds available

    def trial_seconds(n_epochs: int) -> float:
        return executions * (overhead_seconds + n_epochs * seconds_per_epoch)

    if epochs is None and max_trials is None:
        raise ValueError("Give epochs= (to get max_trials) or max_trials= (to get epochs)")
    if max_trials is None:
        max_trials = int(capacity // trial_seconds(int(epochs)))
        if max_trials < 1:
            raise ValueError(
                f"One trial of {epochs} epochs x {executions} execution(s) takes about "
                f"{_format_seconds(trial_seconds(int(epochs)))}, more than the budget of "
                f"{_format_seconds(budget_seconds)}: give fewer epochs or a larger budget"
            )
    if epochs is None:
        epochs = int((capacity / (int(max_trials) * executions) - overhead_seconds) // seconds_per_epoch)
        if epochs < 1:
            raise ValueError(
                f"{max_trials} trials x {executions} execution(s) do not fit {_format_seconds(budget_seconds)} even "
                f"at 1 epoch each ({_format_seconds(int(max_trials) * trial_seconds(1) / workers)}): "
                "give fewer trials or a larger budget"
            )
    estimated = int(max_trials) * trial_seconds(int(epochs)) / workers
    return Budget(int(max_trials), int(epochs), executions, seconds_per_epoch, overhead_seconds, estimated,
                  float(budget_seconds), workers)


def share_within_size(max_model_size: int, num_classes: int = len(config.DEFAULT_CLASSES),
                      image_size: tuple[int, int] = config.IMAGE_SIZE, *, samples: int = 20_000,
                      seed: int = 0) -> float:
    """The share of the search space's networks (drawn as random search draws them: each active value uniformly)
    that have at most ``max_model_size`` parameters; a seeded Monte Carlo estimate, so the same every time."""
    space = models.TUNER_SEARCH_SPACE
    counter = models.ToyHyperModel(num_classes, tuple(image_size))
    rng = np.random.default_rng(seed)
    samples = int(samples)

    def draws(key, columns=1):
        spec = space[key]
        values = np.arange(spec["min_value"], spec["max_value"] + 1, spec.get("step", 1))
        return values[rng.integers(0, len(values), size=(samples, columns))].tolist()

    n_conv, n_dense = space["n_Conv_Layers"]["max_value"], space["n_Dense_Layers"]["max_value"]
    first, convs, denses = draws("Input_Conv_Filters"), draws("n_Conv_Layers"), draws("n_Dense_Layers")
    conv_filters, dense_units = draws("Conv_{i}_Filters", n_conv), draws("Dense_{j}_Neurons", n_dense)
    fits = 0
    for k in range(samples):
        values = {"Input_Conv_Filters": first[k][0], "n_Conv_Layers": convs[k][0], "n_Dense_Layers": denses[k][0]}
        values.update({f"Conv_{i}_Filters": conv_filters[k][i] for i in range(convs[k][0])})
        values.update({f"Dense_{j}_Neurons": dense_units[k][j] for j in range(denses[k][0])})
        fits += counter.param_count(values) <= max_model_size
    return fits / int(samples)


def pilot_search(train, val, *, sample_trials: int = 3, epochs: int = 2, image_size: tuple[int, int] | None = None,
                 seed: int = config.SEED + 1, max_model_size: int | None = None,
                 directory: str | Path | None = None, verbose=0) -> pd.DataFrame:
    """Time a few random trials (``sample_trials`` x ``epochs``, 1 execution) on the real data and return their
    ``trials_summary`` table, for ``plan_budget``. Runs in a temporary folder (deleted afterwards unless
    ``directory`` is given) with a different seed, so it neither touches nor predicts the real search's trials.
    Use at least 2 epochs: the first epoch of each network also pays for tracing it."""
    train_ds = _dataset_of(train)
    image_size = tuple(image_size or _image_size_of(train_ds) or config.IMAGE_SIZE)
    class_names = getattr(train, "class_names", None)
    num_classes = len(class_names) if class_names else len(config.DEFAULT_CLASSES)
    temporary = directory is None
    folder = Path(tempfile.mkdtemp(prefix="toyrobot-pilot-")) if temporary else Path(directory)
    try:
        with _environ({ENV_TUNER_ID: None, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}):
            tuner = build_tuner(folder, "pilot", num_classes=num_classes, image_size=image_size,
                                max_trials=sample_trials, executions_per_trial=1, epochs=epochs, seed=seed,
                                overwrite=True, max_model_size=max_model_size, keep_checkpoints=False)
            _check_settings(Path(tuner.project_dir), {"epochs": int(epochs), "executions_per_trial": 1,
                                                      "image_size": list(image_size), "class_names": class_names})
            search(tuner, train, val, epochs=epochs, verbose=verbose)
        return trials_summary(tuner)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------------
# Command line: standalone, chief or worker
# --------------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(updates: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block only: Keras Tuner reads them when a tuner is
    created, and an in-process ``cli`` call must not turn later searches of the same process distributed."""
    saved = {key: os.environ.get(key) for key in updates}
    try:
        for key, value in updates.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _image_size_arg(text: str) -> tuple[int, int]:
    parts = re.split(r"[x,]", text.lower().strip())
    try:
        sizes = [int(p) for p in parts if p]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"image size must be like 128 or 128x96 (height x width), not {text!r}")
    return sizes[0], sizes[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toyrobot_utils tune",
        description="Keras Tuner search over the write-up's CNN space (objective val_accuracy). Rerun the same "
        "command to resume. Distributed: start one chief (--tuner-id chief) and any number of workers "
        "(--tuner-id tuner0, tuner1, ...) with the same --oracle-ip/--oracle-port, --data-dir and --directory "
        "(a shared folder); or set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT.",
    )
    add = parser.add_argument
    add("--data-dir", default=str(config.DATA_DIR), help="data folder (<split>/<class>/<photo>); default %(default)s")
    add("--directory", default=str(config.MODELS_DIR / "tuner"), help="tuner folder; default %(default)s")
    add("--project-name", default=PROJECT_NAME, help="default %(default)s")
    add("--algorithm", choices=ALGORITHMS, default="random", help="default %(default)s")
    add("--max-trials", type=int, default=WRITEUP_SEARCH["max_trials"],
        help="configurations to try in all (random search); default %(default)s")
    add("--executions-per-trial", type=int, default=WRITEUP_SEARCH["executions_per_trial"],
        help="trainings per configuration; default %(default)s")
    add("--epochs", type=int, default=WRITEUP_SEARCH["epochs"],
        help="epochs per training (Hyperband: max_epochs); default %(default)s")
    add("--image-size", type=_image_size_arg, default=config.IMAGE_SIZE, help="128 or HxW; default 128")
    add("--batch-size", type=int, default=config.BATCH_SIZE, help="default %(default)s")
    add("--augment", action="store_true", help="augment training images (the write-up's tuning code did not)")
    add("--seed", type=int, default=config.SEED, help="default %(default)s")
    add("--max-model-size", type=int, default=None, help="fail draws with more parameters than this")
    add("--no-checkpoints", action="store_true", help="delete each trial's weights after it (saves disk)")
    add("--overwrite", action="store_true", help="delete the project and start over (not allowed on a worker)")
    add("--tuner-id", default=os.environ.get(ENV_TUNER_ID),
        help=f"distributed: 'chief' or a unique worker id such as tuner0 (env {ENV_TUNER_ID})")
    add("--oracle-ip", default=os.environ.get(ENV_ORACLE_IP),
        help=f"distributed: the chief's address; the chief binds to it (env {ENV_ORACLE_IP})")
    add("--oracle-port", type=int, default=os.environ.get(ENV_ORACLE_PORT),
        help=f"distributed: the chief's port (env {ENV_ORACLE_PORT})")
    add("--oracle-timeout", type=float, default=None,
        help="worker: seconds to wait for the chief per request before giving up (Keras Tuner's default: 3600)")
    add("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras/Keras Tuner output; default %(default)s")
    return parser


def _print_results(project: Path, title: str) -> None:
    table = trials_summary(project)
    summary = timing_summary(table)
    columns = [c for c in ["trial_id", "status", "score", "conv_layers", "Input_Conv_Filters", "n_Dense_Layers",
                           "Dropout", "Optimizer", "tuner_id", "seconds"] if c in table]
    print(f"\n{title}: {len(table)} trials in {project}")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[columns].to_string(index=False))
    if summary["trials"]:
        print(f"trial time {_format_seconds(summary['trial_seconds'])}, wall clock "
              f"{_format_seconds(summary['wall_seconds'] or 0)}, workers: {', '.join(summary['workers'])}")
    try:
        print("best hyper-parameters:", json.dumps(best_hyperparameters(project)))
    except LookupError as err:
        print(err)


def _class_count(data_dir: Path) -> int:
    training = Path(data_dir) / "training"
    if training.is_dir():
        classes = [p for p in training.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if classes:
            return len(classes)
    return len(config.DEFAULT_CLASSES)


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m toyrobot_utils tune [options]``: run (or resume) a search; with ``--tuner-id`` and the oracle
    address, be the chief (hands out trials, trains nothing, prints the results at the end) or a worker."""
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    distributed = [args.tuner_id, args.oracle_ip, args.oracle_port]
    if any(v not in (None, "") for v in distributed) and not all(v not in (None, "") for v in distributed):
        parser.error("a distributed search needs all of --tuner-id, --oracle-ip and --oracle-port "
                     f"(or {ENV_TUNER_ID}, {ENV_ORACLE_IP}, {ENV_ORACLE_PORT}); a standalone search needs none")
    env = {ENV_TUNER_ID: None, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}
    if args.oracle_ip:
        env = {ENV_TUNER_ID: args.tuner_id, ENV_ORACLE_IP: args.oracle_ip, ENV_ORACLE_PORT: str(args.oracle_port)}
    role = "standalone" if not args.oracle_ip else ("chief" if "chief" in args.tuner_id else "worker")
    if role == "worker" and args.overwrite:
        parser.error("--overwrite on a worker would delete the chief's trials; pass it to the chief only")
    if not Path(args.data_dir).is_dir() and role != "chief":
        print(f"error: no data folder {args.data_dir} (give --data-dir; every worker needs the same data)",
              file=sys.stderr)
        return 2
    settings = dict(directory=args.directory, project_name=args.project_name, algorithm=args.algorithm,
                    max_trials=args.max_trials, executions_per_trial=args.executions_per_trial, epochs=args.epochs,
                    seed=args.seed, overwrite=args.overwrite, max_model_size=args.max_model_size,
                    keep_checkpoints=not args.no_checkpoints)
    address = f"{args.oracle_ip}:{args.oracle_port}"
    with _environ(env), _oracle_timeout(args.oracle_timeout if role == "worker" else None):
        try:
            if role == "chief":
                tuner = build_tuner(num_classes=_class_count(Path(args.data_dir)), image_size=args.image_size,
                                    **settings)
                _check_settings(Path(tuner.project_dir), {
                    "algorithm": args.algorithm, "epochs": args.epochs,
                    "executions_per_trial": args.executions_per_trial, "image_size": list(args.image_size),
                })
                print(f"chief: serving trials on {address} from {tuner.project_dir}; waiting for workers",
                      flush=True)
                tuner.search(verbose=args.verbose)  # Keras Tuner's chief: blocks until every trial has ended
                _print_results(Path(tuner.project_dir), "search finished")
                return 0
            result = run_search(args.data_dir, image_size=args.image_size, batch_size=args.batch_size,
                                augment=args.augment, verbose=args.verbose, log_trials=True, **settings)
        except (SettingsMismatchError, DataSetError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except Exception as err:  # noqa: BLE001 - grpc errors: say which chief could not be reached
            if role != "standalone" and type(err).__module__.startswith("grpc"):
                details = err.details() if callable(getattr(err, "details", None)) else str(err)
                print(f"error: {role} {args.tuner_id} got no answer from the chief at {address} ({details}). Is the "
                      "chief running, with the same --directory, and is the search not finished already?",
                      file=sys.stderr)
                return 1
            raise
    if role == "worker":
        print(f"{args.tuner_id}: done, ran trials {', '.join(result.trials_run) or 'none'} "
              f"in {_format_seconds(result.seconds)}", flush=True)
        return 0
    _print_results(result.project_dir, f"search finished in {_format_seconds(result.seconds)}")
    return 0


@contextlib.contextmanager
def _oracle_timeout(seconds: float | None) -> Iterator[None]:
    """Keras Tuner's workers wait up to an hour per request for the chief; a test or a script may want less."""
    if seconds is None:
        yield
        return
    from keras_tuner.src.distribute import oracle_client

    saved = oracle_client.TIMEOUT
    oracle_client.TIMEOUT = float(seconds)
    try:
        yield
    finally:
        oracle_client.TIMEOUT = saved


__all__ = [
    "ALGORITHMS",
    "BUDGET_SECONDS",
    "Budget",
    "NOTEBOOK_MAX_MODEL_SIZE",
    "NOTEBOOK_PILOT",
    "NOTEBOOK_SEARCH",
    "OBJECTIVE",
    "PROJECT_NAME",
    "SearchResult",
    "SettingsMismatchError",
    "TimedHyperband",
    "TimedRandomSearch",
    "WRITEUP_SEARCH",
    "active_values",
    "best_hyperparameters",
    "build_tuner",
    "cli",
    "is_chief",
    "is_distributed",
    "is_worker",
    "pilot_search",
    "plan_budget",
    "plot_search",
    "run_search",
    "search",
    "share_within_size",
    "timing_summary",
    "trials_summary",
]


if __name__ == "__main__":
    sys.exit(cli())

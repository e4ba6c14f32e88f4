"""The write-up's Keras Tuner search, made resumable, timed and distributable.

The search space is ``models.ToyHyperModel`` (the write-up's: 1-4 conv layers of 32-256 filters, 1-4 dense layers
of 32-256 neurons, dropout on/off, Adam or RMSprop); the objective is ``val_accuracy``. On top of plain Keras Tuner:

- ``run_search`` is the write-up's ``RandomSearch(max_trials=30, executions_per_trial=2)`` + ``search(epochs=40)`` in
  one call; ``algorithm="hyperband"`` swaps in Hyperband. Rerunning it with the same ``directory`` continues from the
  finished trials (Keras Tuner's ``overwrite=False``), so an interrupted or extended search never starts over;
- every trial writes ``timing.json`` next to Keras Tuner's ``trial.json`` (who ran it, seconds, seconds per epoch),
  which ``trials`` reads back and ``budget`` sizes a search with;
- a project records the settings its trials were trained with, so a resumed or distributed search cannot mix in
  trials trained otherwise.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import keras_tuner
import pandas as pd

from toyrobot_utils import config, lineage
from toyrobot_utils.data import dataset_of, load_datasets
from toyrobot_utils.files import jsonable, read_json, write_json
from toyrobot_utils.modelling import models
from toyrobot_utils.modelling.precision import current_precision
from toyrobot_utils.modelling.training import LOGS_DIR, seed_everything, tensorboard_callback
from toyrobot_utils.tuning.trials import (
    OBJECTIVE,
    PROJECT_NAME,
    SETTINGS_FILE,
    TIMING_FILE,
    best_hyperparameters,
    trials_summary,
)

ALGORITHMS = ("random", "hyperband")
# The write-up's search: RandomSearch(max_trials=30, executions_per_trial=2), search(epochs=40).
WRITEUP_SEARCH = {"max_trials": 30, "executions_per_trial": 2, "epochs": 40}

# Keras Tuner's distributed mode is configured through these environment variables.
ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class SettingsMismatchError(ValueError):
    """The project's finished trials were trained with other settings than this call asks for."""


def check_settings(project_dir: Path, settings: Mapping[str, Any]) -> None:
    """A resumed (or distributed) search must train its trials like the finished ones, else their scores do not
    compare: the first run records its settings in the project, later runs must match (``max_trials`` may grow)."""
    settings = jsonable(dict(settings))  # tuples -> lists, as stored
    path = Path(project_dir) / SETTINGS_FILE
    write_json(path, settings, exclusive=True)  # when chief and workers start together, one wins
    stored = read_json(path) or {}
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
        write_json(path, {**stored, **missing})


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
            wait = getattr(self.oracle, "wait_limit", None)
            limit = (f" (waiting at most {wait:g} s per request, then giving up: --oracle-timeout)" if wait
                     else " (Keras Tuner waits up to an hour per request)")
            print(f"{self.tuner_id}: ready, asking the chief at {address} for trials{limit}", flush=True)

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
        write_json(Path(self.get_trial_dir(trial.trial_id)) / TIMING_FILE, record)
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
    max_flops: int | None = None,
    max_consecutive_failed_trials: int = 3,
    keep_checkpoints: bool = True,
    hypermodel: keras_tuner.HyperModel | None = None,
    log_trials: bool = False,
    oracle_timeout: float | None = None,
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
    failures in a row); Keras Tuner's own check stays as a backstop. ``max_flops`` is the search's compute budget
    per photo (forward-pass operations, ``ToyHyperModel.flops``): draws that cost more are drawn again the same
    way, so a trial's time is bounded by what it computes rather than by how many weights it has.
    ``keep_checkpoints=False`` deletes each trial's weights after it ends (``get_best_models`` then cannot load
    them; rebuild with ``models.build_from_hyperparameters`` instead). Random search only: Hyperband continues
    trials from their weights. ``oracle_timeout``: on a worker, the seconds to wait for the chief per request
    (Keras Tuner's default: an hour).
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
    if max_flops and not callable(getattr(hypermodel, "flops", None)):
        raise ValueError(f"max_flops needs a hypermodel that counts its operations ({type(hypermodel).__name__} "
                         "has no flops(values) method)")
    if algorithm == "hyperband":
        tuner = TimedHyperband(max_epochs=int(epochs), factor=hyperband_factor, **common)
    else:
        tuner = TimedRandomSearch(max_trials=int(max_trials), **common)
    _limit_draws(tuner.oracle, hypermodel, max_model_size, max_flops)
    if oracle_timeout is not None and is_worker():
        limit_oracle_wait(tuner.oracle, oracle_timeout)
    return tuner


def _limit_draws(oracle, hypermodel, max_model_size: int | None, max_flops: int | None) -> None:
    """Keep draws over the parameter cap (when the hypermodel can count them) or the compute budget out."""
    limits = []
    if max_model_size and callable(getattr(hypermodel, "param_count", None)):
        limits.append(lambda values: hypermodel.param_count(values) <= int(max_model_size))
    if max_flops:
        limits.append(lambda values: hypermodel.flops(values) <= int(max_flops))
    if limits:
        _redraw_oversized(oracle, lambda values: all(fits(values) for fits in limits))


def _redraw_oversized(oracle, fits, attempts: int = 20_000) -> None:
    """Make ``oracle`` draw random values again until ``fits(values)``: both RandomSearch's and Hyperband's oracles
    draw through ``_random_values``. Redrawing is deterministic (the oracle's seed state advances with each draw)
    and skips nothing the search would otherwise have trained. A worker's oracle is the chief's, over the
    network: nothing to wrap there (the chief wraps its own).

    ``Oracle._random_values`` is private (Keras Tuner 1.4), and the oracles offer no public hook to veto a draw. If
    an upgrade renames it, nothing is wrapped: oversized networks are proposed again and fail as trials (Keras
    Tuner's own size check), which tests/test_library_internals.py reports first, naming the version."""
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
    with warnings.catch_warnings():
        # Hyperband continues a promoted trial from its weights with a fresh optimizer, as Keras Tuner intends; Keras
        # would say so for every promoted trial.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        tuner.search(dataset_of(train), validation_data=dataset_of(val), epochs=int(epochs),
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
    max_flops: int | None = None,
    hyperband_factor: int = 3,
    keep_checkpoints: bool = True,
    hypermodel: keras_tuner.HyperModel | None = None,
    callbacks=None,
    verbose="auto",
    log_trials: bool = False,
    record_settings: Mapping[str, Any] | None = None,
    oracle_timeout: float | None = None,
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
    ``oracle_timeout``: see ``build_tuner``.
    """
    started = time.perf_counter()
    if isinstance(data, Mapping):
        datasets = data
        image_size = _image_size_of(dataset_of(datasets["training"])) or tuple(image_size)
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
        overwrite=overwrite, max_model_size=max_model_size, max_flops=max_flops, keep_checkpoints=keep_checkpoints,
        hyperband_factor=hyperband_factor, hypermodel=hypermodel, log_trials=log_trials, oracle_timeout=oracle_timeout,
    )
    settings = {"algorithm": algorithm, "epochs": int(epochs), "executions_per_trial": int(executions_per_trial),
                "max_flops": int(max_flops) if max_flops else None,
                "hyperband_factor": int(hyperband_factor) if algorithm == "hyperband" else None,
                "image_size": list(image_size), "class_names": class_names,
                "photos": None if photos == lineage.UNKNOWN else photos,
                "precision": current_precision()}  # trials trained in bfloat16 and in float32 do not compare
    if not isinstance(data, Mapping):  # known only when the pipeline is built here
        settings.update(batch_size=int(batch_size), augment=bool(augment))
    settings.update(record_settings or {})
    check_settings(Path(tuner.project_dir), settings)
    logs = tuner_logs_dir(directory, project_name)  # Keras Tuner adds /<trial id>/execution<n> per trial
    trials_run = search(tuner, train, val, epochs=epochs, callbacks=[*(callbacks or []), tensorboard_callback(logs)],
                        verbose=verbose)
    return SearchResult(tuner, trials_run, time.perf_counter() - started)


def tuner_logs_dir(directory: str | Path | None, project_name: str) -> Path:
    """TensorBoard logs of a search's trials: ``models/logs/tuner/<project>/`` beside ``models/tuner/``."""
    directory = Path(directory) if directory is not None else config.MODELS_DIR / "tuner"
    return directory.parent / LOGS_DIR / "tuner" / project_name


def _set_aside_search_of_other_photos(directory: Path, project_name: str, photos: str, verbose) -> None:
    """A search's trials are only comparable on the photos they were trained on: a stored search of other photos
    (same project name, e.g. the series rerun on your own photos) is moved to ``<directory>/archive/<project>/<time>/``
    and a new search starts. A distributed search is refused instead (its workers share the folder)."""
    project = directory / project_name
    stored = (read_json(project / SETTINGS_FILE) or {}).get("photos")
    if not stored or photos == lineage.UNKNOWN or stored == photos:
        return
    what = (f"The search {config.shown_path(project)} was trained on other photos (fingerprint "
            f"{lineage.short(stored)}, these {lineage.short(photos)})")
    if is_distributed():
        raise SettingsMismatchError(f"{what}: its trials do not compare with new ones. Start a new search with "
                                    "another --project-name on every machine, or --overwrite on the chief.")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = directory / "archive" / project_name / stamp
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(project, target)
    if verbose != 0:
        print(f"{what}; moved it to {config.shown_path(target)} (kept, not deleted) and starting a new search.")


def pilot_search(train, val, *, sample_trials: int = 3, epochs: int = 2, image_size: tuple[int, int] | None = None,
                 seed: int = config.SEED + 1, max_model_size: int | None = None, max_flops: int | None = None,
                 directory: str | Path | None = None, verbose=0) -> pd.DataFrame:
    """Time a few random trials (``sample_trials`` x ``epochs``, 1 execution) on the real data and return their
    ``trials_summary`` table, for ``plan_budget``. Runs in a temporary folder (deleted afterwards unless
    ``directory`` is given) with a different seed, so it neither touches nor predicts the real search's trials.
    Use at least 2 epochs: the first epoch of each network also pays for tracing it."""
    train_ds = dataset_of(train)
    image_size = tuple(image_size or _image_size_of(train_ds) or config.IMAGE_SIZE)
    class_names = getattr(train, "class_names", None)
    num_classes = len(class_names) if class_names else len(config.DEFAULT_CLASSES)
    temporary = directory is None
    folder = Path(tempfile.mkdtemp(prefix="toyrobot-pilot-")) if temporary else Path(directory)
    try:
        with environment({ENV_TUNER_ID: None, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}):
            tuner = build_tuner(folder, "pilot", num_classes=num_classes, image_size=image_size,
                                max_trials=sample_trials, executions_per_trial=1, epochs=epochs, seed=seed,
                                overwrite=True, max_model_size=max_model_size, max_flops=max_flops,
                                keep_checkpoints=False)
            check_settings(Path(tuner.project_dir), {"epochs": int(epochs), "executions_per_trial": 1,
                                                      "image_size": list(image_size), "class_names": class_names})
            search(tuner, train, val, epochs=epochs, verbose=verbose)
        return trials_summary(tuner)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------------
# Distributed mode
# --------------------------------------------------------------------------------------------------------------------



@contextlib.contextmanager
def environment(updates: Mapping[str, str | None]) -> Iterator[None]:
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


class _CappedTimeouts:
    """A gRPC stub whose calls wait at most ``seconds``, whatever timeout the caller asked for."""

    def __init__(self, stub, seconds: float):
        self.stub, self.seconds = stub, float(seconds)

    def __getattr__(self, name):
        method = getattr(self.stub, name)

        def call(*args, **kwargs):
            kwargs["timeout"] = min(float(kwargs.get("timeout") or math.inf), self.seconds)
            return method(*args, **kwargs)

        return call


def limit_oracle_wait(oracle, seconds: float) -> None:
    """Make a worker wait at most ``seconds`` for the chief per request (Keras Tuner waits up to an hour, so a
    worker whose chief never comes would hang; a test or a script wants less).

    Keras Tuner 1.4 has no public setting for it: a worker's ``tuner.oracle`` is its internal ``OracleClient``, which
    sends every request through its ``stub`` attribute (a gRPC stub) with ``timeout=`` a module constant. This wraps
    that stub. If an upgrade drops the ``stub`` attribute this raises, naming the version, rather than letting a
    worker wait an hour; tests/test_library_internals.py checks it against the installed Keras Tuner."""
    stub = getattr(oracle, "stub", None)
    if stub is None:
        raise RuntimeError(
            f"keras_tuner {keras_tuner.__version__}: a worker's oracle ({type(oracle).__name__}) has no gRPC 'stub' "
            "any more, so the wait for the chief cannot be limited; drop --oracle-timeout or adapt "
            "tuning.tuner.limit_oracle_wait")
    oracle.stub = _CappedTimeouts(stub, seconds)
    oracle.wait_limit = float(seconds)  # for the worker's "ready" line


__all__ = [
    "tuner_logs_dir",
    "ALGORITHMS",
    "ENV_ORACLE_IP",
    "ENV_ORACLE_PORT",
    "ENV_TUNER_ID",
    "SearchResult",
    "SettingsMismatchError",
    "TimedHyperband",
    "TimedRandomSearch",
    "WRITEUP_SEARCH",
    "build_tuner",
    "check_settings",
    "environment",
    "is_chief",
    "is_distributed",
    "is_worker",
    "limit_oracle_wait",
    "pilot_search",
    "run_search",
    "search",
]

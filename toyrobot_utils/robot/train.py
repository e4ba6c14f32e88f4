"""``toyrobot train PHOTOS``: from a folder of photos to a sorting robot's model in one command.

``PHOTOS`` is either a plain folder with one sub-folder of photos per class, or the series' layout
(``training/``, ``validation/``, ``test/``). The steps, each printed as it goes:

1. **audit** the photos (``audit``): a folder that cannot work stops here with the audit's clear message;
2. **split** a plain folder (``splitting.plan_split``: seeded, stratified 70/15/15, near-duplicates in one split)
   into a folder of symbolic links the pipelines read, ``<models_dir>/<name>.split/``, recorded in
   ``<models_dir>/<name>.split.json`` (photos folder, seed, fractions, every photo's split). The user's photos are
   only read. The run's lineage fingerprints every split's photos by their paths in that folder and their content,
   so the split is part of the model's lineage: another split is another lineage;
3. **train** notebook 09's transfer recipe with the same functions (``models.build_transfer``,
   ``transfer.fit_frozen``, ``transfer.fine_tune``, ``transfer.RECIPE``'s settings), one line per epoch with the time
   left at most (``progress.EpochProgress``);
4. **test**: accuracy on the test photos with its 95 % interval (``stats``) and the confusion in a few lines, stored
   in the run's record as the notebooks do (``comparison.save_test_results``);
5. **export** ``<models_dir>/<name>.float32.tflite`` (``export.export_tflite``; float16 and int8 too on request) and
   print the exact ``toyrobot sort`` command to run next.

TensorFlow is imported inside ``train`` only: this module sits with the robot, whose light install has none, and
``toyrobot train`` there says what to install instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from toyrobot_utils import config, splitting
from toyrobot_utils.audit import DataSetError
from toyrobot_utils.robot.predict import RobotError

DEFAULT_NAME = "robot"
DEFAULT_MODELS_DIR = Path("models")  # relative to the current folder
DEFAULT_BASE = "mobilenet_v2"
SORT_FOLDERS = ("NEW_PHOTOS", "BINS")  # the placeholders of the printed sort command
TENSORFLOW_MISSING = ("`toyrobot train` needs TensorFlow, which this install lacks (the robot-only install runs "
                      "exported models only): install the project with `pip install -c constraints.txt \".[cpu]\"` "
                      "(or `make setup`) on a computer that trains, then copy the .tflite file to the robot.")


@dataclass
class TrainResult:
    """What ``train`` made: the run kept (frozen or fine-tuned), its test accuracy, the exported files, the split."""

    name: str
    run_name: str
    model_path: Path
    data_dir: Path
    split_record: Path | None
    test_correct: int
    test_total: int
    confusion: object  # pandas DataFrame: predicted labels down, actual labels across
    tflite: dict[str, Path]
    manifest: Path
    sort_command: str
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        return self.test_correct / self.test_total if self.test_total else float("nan")


# --------------------------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------------------------


def split_folder(models_dir: Path, name: str) -> tuple[Path, Path]:
    """(the folder of links the pipelines read, the split record) of a model trained from a plain folder."""
    return models_dir / f"{name}.split", models_dir / f"{name}.split.json"


def prepare_photos(photos: Path, models_dir: Path, name: str, seed: int, say) -> tuple[Path, Path | None]:
    """Audit the photos; split a plain folder into ``<models_dir>/<name>.split/`` (links) and its record. Returns
    (the series-layout folder to train on, the split record or None)."""
    if splitting.layout_of(photos) == "series":
        from toyrobot_utils.audit import audit

        report = audit(photos, check_duplicates=True)
        say(f"Photos: {photos} is already split (training/validation/test): "
            f"{len(report.table)} files, {len(report.skipped())} unusable.")
        for warning in report.warnings:
            say(f"  warning: {warning}")
        return photos, None
    if models_dir.resolve().is_relative_to(photos.resolve()):
        raise DataSetError(f"The models folder {models_dir} is inside the photos folder {photos}, where it would "
                           "become a class: run from another folder, or pass --models-dir outside the photos.")
    report = splitting.audit_plain(photos)
    for warning in report.warnings:
        if not warning.startswith("skipped "):
            say(f"  warning: {warning}")
    plan = splitting.plan_split(photos, seed=seed, report=report)
    data_dir, record = split_folder(models_dir, name)
    splitting.write_split(plan, data_dir, record_path=record, replace_links=True)
    total = sum(map(len, plan.files.values()))
    say(f"Split {photos} ({len(plan.class_names)} classes, {total} photos, seed {seed}; links in {data_dir}, "
        f"record {record}):")
    say(plan.summary())
    return data_dir, record


def fit_recipe(datasets, *, name: str, base: str, size, models_dir: Path, seed: int, epochs: int, patience: int,
               fine_tune_epochs: int, weights, say):
    """Notebook 09's two stages with ``transfer.RECIPE``'s settings: the head on cached base features with augmented
    copies, then the base's top blocks fine-tuned (kept when validation improves; on too few validation photos to
    compare, from ``transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS`` training photos per class). Returns the FineTuning."""
    # TensorFlow and Keras load here, not at import (see the module's docstring)
    from toyrobot_utils.modelling import models, stopping, transfer
    from toyrobot_utils.modelling.progress import EpochProgress

    recipe, spec = transfer.RECIPE, models.MODEL_TABLE[9]
    classes = datasets["training"].class_names
    model = models.build_transfer(base, num_classes=len(classes), image_size=size, weights=weights, name=name,
                                  learning_rate=recipe["learning_rate"])
    copies = recipe["augment_copies"]
    changes = (f"toyrobot train: {models.BASES[base].constructor} base (frozen; {size[0]} px), augmentation "
               f"({copies} cached copies)")
    keep = transfer.validation_keep_rule(datasets["validation"])
    fixed = keep == stopping.LAST_EPOCH  # too few validation photos to choose an epoch on (stopping.keep_rule)
    patience, patience_ft = (None, None) if fixed else (patience, recipe["fine_tune_patience"])
    say(f"Training the new head on {models.BASES[base].constructor}'s features of {len(datasets['training'])} "
        f"training photos and {copies} augmented copies of each (validation: {len(datasets['validation'])} photos; "
        + (f"too few to choose an epoch on: all {epochs} epochs run and the last is kept)." if fixed else
           f"stops when validation has not improved for {patience} epochs)."))
    run = transfer.fit_frozen(
        model, datasets["training"], datasets["validation"], name=name, epochs=epochs, patience=patience,
        augment=True, augment_copies=copies, models_dir=models_dir, seed=seed, verbose=0, keep=keep,
        callbacks=[EpochProgress("head", epochs, patience)],
        settings=spec.settings(epochs=epochs, batch_size=config.BATCH_SIZE, augment=True, base=base,
                               changes=changes, head_units=[], learning_rate=recipe["learning_rate"],
                               image_size=list(size)))
    if fine_tune_epochs <= 0:
        return transfer.FineTuning(None, False, "fine-tuning skipped (fine_tune_epochs=0)", run)
    blocks = recipe["fine_tune_blocks"]
    if run.best_val_accuracy < 1.0:
        say(f"Fine-tuning the top {blocks} blocks of the base (kept only if validation improves on "
            f"{run.best_val_accuracy:.1%}).")
    return transfer.fine_tune(
        run, datasets["training"], datasets["validation"], name=f"{name}_finetune", blocks=blocks,
        epochs=fine_tune_epochs, patience=patience_ft, learning_rate=recipe["fine_tune_learning_rate"],
        augment=True, augment_copies=copies, models_dir=models_dir, seed=seed, verbose=0, keep=keep,
        callbacks=[EpochProgress("fine-tune", fine_tune_epochs, patience_ft)],
        settings=spec.settings(epochs=fine_tune_epochs, batch_size=config.BATCH_SIZE, base=base,
                               image_size=list(size),
                               changes=f"{changes}; top {blocks} blocks fine-tuned (learning rate "
                                       f"{recipe['fine_tune_learning_rate']:g}, cosine decay)"))


def confusion_lines(confusion) -> list[str]:
    """The confusion in a few lines: per actual class, how many of its test photos were right and what the others
    were taken for."""
    width = max(map(len, confusion.columns))
    lines = []
    for actual in confusion.columns:
        column = confusion[actual]
        wrong = [f"{int(n)} as {predicted}" for predicted, n in column.items() if predicted != actual and n]
        lines.append(f"  {actual:<{width}}  {int(column[actual]):>3}/{int(column.sum())} right"
                     + (f"  ({', '.join(wrong)})" if wrong else ""))
    return lines


def evaluate_and_record(best, test_split, models_dir: Path, split_record: Path | None, say):
    """Test accuracy with its 95 % interval and the confusion, stored in the run's record. Returns (correct, total,
    confusion)."""
    from toyrobot_utils.analysis import comparison, evaluation
    from toyrobot_utils.modelling import training
    from toyrobot_utils.stats import accuracy_text

    results = evaluation.evaluate(best, test_split)
    comparison.save_test_results(best, results, models_dir)
    if split_record is not None:
        training.update_record(best.name, models_dir, split_record=split_record.name)
    correct, total = int(results["df"]["correct"].sum()), len(results["df"])
    say(f"Test accuracy: {accuracy_text(correct, total)}")
    for line in confusion_lines(results["confusion"]):
        say(line)
    return correct, total, results["confusion"]


def sort_command(tflite: Path) -> str:
    """The exact next command: sort a folder of new photos with the exported model (paths relative to the current
    folder when inside it)."""
    path = Path(os.path.relpath(tflite)) if Path(tflite).resolve().is_relative_to(Path.cwd()) else Path(tflite)
    return shlex.join(["toyrobot", "sort", *SORT_FOLDERS, "--model", str(path)])


# --------------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------------


def train(photos: str | Path, *, name: str = DEFAULT_NAME, models_dir: str | Path = DEFAULT_MODELS_DIR,
          seed: int = config.SEED, base: str = DEFAULT_BASE, image_size: int | None = None,
          epochs: int | None = None, fine_tune_epochs: int | None = None, variants: Sequence[str] = ("float32",),
          weights: str | None = "imagenet", verbose: bool = True) -> TrainResult:
    """``toyrobot train``: audit, split (a plain folder), train notebook 09's recipe, test, export, say what next.

    ``epochs`` / ``fine_tune_epochs``: the two stages' limits (default ``transfer.RECIPE``'s 200 and 30, each with
    early stopping; ``fine_tune_epochs=0`` skips the second). ``image_size``: square side in pixels (default the
    base's, 224). ``variants``: the ``.tflite`` files (float32, float16, int8). ``weights=None`` trains on a base
    without its ImageNet weights (tests). Raises ``DataSetError`` (photos), ``RobotError`` (export) or
    ``models.WeightsNotAvailableError``, each with a message that says what to do."""
    say = print if verbose else (lambda *args, **kwargs: None)
    if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise RobotError(f"The model name {name!r} must be a plain file name such as {DEFAULT_NAME!r} (its files are "
                         "<models_dir>/<name>.keras, .tflite, ...): pass another --name.")
    photos, models_dir, seconds = Path(photos), Path(models_dir), {}
    start = time.perf_counter()
    data_dir, record = prepare_photos(photos, models_dir, name, seed, say)  # before TensorFlow: bad photos fail fast
    seconds["audit and split"] = time.perf_counter() - start

    from toyrobot_utils import data  # TensorFlow loads from here on
    from toyrobot_utils.analysis.evaluation import resolve_model
    from toyrobot_utils.modelling import models, transfer
    from toyrobot_utils.robot.export import export_tflite

    if base not in models.BASES:
        raise RobotError(f"Unknown base {base!r}: choose one of {', '.join(sorted(models.BASES))}.")
    size = (int(image_size),) * 2 if image_size else tuple(models.BASES[base].image_size)
    datasets = data.load_datasets(data_dir, image_size=size, preprocessing=models.BASES[base].preprocessing,
                                  augment=True, seed=seed, verbose=False)
    seconds["loading TensorFlow, reading the photos"] = time.perf_counter() - start - sum(seconds.values())
    tuning = fit_recipe(datasets, name=name, base=base, size=size, models_dir=models_dir, seed=seed,
                        epochs=transfer.RECIPE["epochs"] if epochs is None else int(epochs),
                        patience=transfer.RECIPE["patience"], weights=weights, say=say,
                        fine_tune_epochs=(transfer.RECIPE["fine_tune_epochs"] if fine_tune_epochs is None
                                          else int(fine_tune_epochs)))
    seconds["training"] = time.perf_counter() - start - sum(seconds.values())
    best = tuning.best
    say(f"Model: {best.paths['model']} ({'fine-tuned' if best is not tuning.frozen else 'frozen base'}; "
        f"{tuning.reason}).")
    correct, total, confusion = evaluate_and_record(best, datasets["test"], models_dir, record, say)
    seconds["test"] = time.perf_counter() - start - sum(seconds.values())
    exported = export_tflite(name, out_dir=models_dir, data_dir=data_dir, variants=tuple(variants),
                             choice=robot_choice(name, best, models_dir), resolved=resolve_model(best),
                             seed=seed)
    seconds["export"] = time.perf_counter() - start - sum(seconds.values())
    for variant, path in exported["paths"].items():
        say(f"Exported {path} ({path.stat().st_size / 1e6:.1f} MB, {variant})")
    command = sort_command(exported["paths"][tuple(variants)[0]])
    say(f"Sort-ready in {sum(seconds.values()) / 60:.1f} min. Next, sort a folder of new photos "
        f"({SORT_FOLDERS[0]}) into one bin per class under {SORT_FOLDERS[1]}:\n  {command}")
    return TrainResult(name, best.name, Path(best.paths["model"]), Path(data_dir), record, correct, total, confusion,
                       exported["paths"], exported["manifest"], command, seconds)


def robot_choice(name: str, best, models_dir: Path):
    """The run to export under the robot's name: ``<name>.<variant>.tflite`` whichever stage was kept (the
    manifest names the Keras file it came from)."""
    from toyrobot_utils.robot.predict import ModelChoice

    return ModelChoice(name, models_dir, Path(best.paths["model"]), best.record,
                       f"trained by toyrobot train ({best.name})")


def run(args: argparse.Namespace) -> int:
    """The command: ``args.photos``, ``name``, ``models_dir``, ``seed``, ``epochs``, ``fine_tune_epochs``,
    ``image_size``, ``base``, ``all_variants``. 0 when sort-ready, 1 with one line on stderr when it cannot be."""
    variants = ("float32", "float16", "int8") if args.all_variants else ("float32",)
    try:
        train(args.photos, name=args.name, models_dir=args.models_dir, seed=args.seed, base=args.base,
              image_size=args.image_size, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs,
              variants=variants)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in ("tensorflow", "keras"):
            raise
        print(f"error: {TENSORFLOW_MISSING}", file=sys.stderr)
        return 1
    except (DataSetError, RobotError, FileNotFoundError) as err:  # WeightsNotAvailableError is a FileNotFoundError
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


__all__ = ["DEFAULT_BASE", "DEFAULT_MODELS_DIR", "DEFAULT_NAME", "SORT_FOLDERS", "TrainResult", "confusion_lines",
           "fit_recipe", "prepare_photos", "robot_choice", "run", "sort_command", "split_folder", "evaluate_and_record",
           "train"]

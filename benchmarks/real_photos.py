"""Real photos, side by side on one folder and split: the write-up's baseline, the best hand-built network, the
series' transfer model (frozen stage and fine-tuned stage) and the write-up's recipe written plainly in Keras.

    .venv/bin/python benchmarks/real_photos.py DATA_DIR [--custom-epochs 50] [--custom-patience N] [--only ...]
    .venv/bin/python benchmarks/real_photos.py DATA_DIR --learning-curve 10,25,50,100

DATA_DIR has the project's layout (training/, validation/, test/, one folder per class). Every model trains on the
training photos, is chosen on the validation photos (best epoch; the transfer model's fine-tuned stage is kept only
when its validation accuracy beats the frozen stage's) and is scored once on the test photos, with the 95 % Wilson
interval of that score (``stats.accuracy_text``) and the seconds its training took on this machine.

- **baseline**: model 1 of the write-up's table (``models.MODEL_TABLE[1]``), trained as notebook 02 trains it.
- **best hand-built network**: model 5 (32-32-64 convolutions, Dense 32, dropout 0.25, augmentation, learning-rate
  reducer). Chosen because it has the highest validation accuracy of the write-up's hand-built networks (78.7 %,
  shared with model 4, which it extends); choosing by test accuracy (model 7's 80 %) would be choosing on the test
  photos.
- **transfer (series)**: ``transfer.fit_frozen`` then ``transfer.fine_tune`` with ``transfer.RECIPE``, the same
  functions and defaults as notebook 09; the series' transfer model is the stage with the better validation accuracy.
- **reference (plain Keras)**: the write-up's recipe in ~30 lines of plain Keras (``reference_recipe``):
  ``image_dataset_from_directory``, frozen ImageNet MobileNetV2, global average pooling, softmax, Adam, 10 epochs.

The recipe was chosen on principle and on validation photos, never tuned to a folder's test photos. Models go to
``--out-dir`` (default ``build/real_photos/<folder>``); the folder's section of benchmarks/RESULTS.md is rewritten
(``--results`` elsewhere; ``--no-results`` not at all). ``--learning-curve`` instead trains the transfer recipe and
the hand-built network on the first N training photos per class (seeded choice; same validation and test photos)
and writes a figure beside RESULTS.md. Needs the MobileNetV2 ImageNet weights in Keras' cache (``make weights``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from report import markdown_table, output_arguments, write_section  # noqa: E402

from toyrobot_utils import config, data, stats
from toyrobot_utils.analysis import evaluation
from toyrobot_utils.modelling import models, training, transfer  # noqa: E402

BASELINE = 1
CUSTOM = 5  # the highest validation accuracy of the write-up's hand-built networks (see the docstring)
ROWS = ("baseline", "custom", "transfer", "reference")
REFERENCE_EPOCHS = 10


def reference_recipe(data_dir: Path, *, epochs: int = REFERENCE_EPOCHS, seed: int = config.SEED) -> dict:
    """The write-up's recipe, written plainly: correct test predictions (bool per photo) and validation accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    prep = keras.applications.mobilenet_v2.preprocess_input

    def load(split, shuffle):
        ds = keras.utils.image_dataset_from_directory(
            data_dir / split, image_size=(224, 224), batch_size=32, label_mode="categorical", shuffle=shuffle,
            seed=seed, verbose=False)
        return ds.map(lambda x, y: (prep(x), y))

    train, val, test = load("training", True), load("validation", False), load("test", False)
    base = keras.applications.MobileNetV2(weights="imagenet", include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = keras.layers.Dense(train.element_spec[1].shape[-1], activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=epochs, verbose=0)
    labels = np.concatenate([np.argmax(y, axis=1) for _, y in test])
    predicted = np.argmax(model.predict(test, verbose=0), axis=1)
    return {"correct": predicted == labels, "val_accuracy": float(history.history["val_accuracy"][-1]),
            "note": f"{epochs} epochs, last epoch kept"}


def _test_correct(run, test) -> np.ndarray:
    return evaluation.evaluate(run, test)["df"]["correct"].to_numpy().astype(bool)


def custom_network(number: int, data_dir: Path, out: Path, args, name: str | None = None) -> dict:
    """A network of the write-up's table trained as its notebook trains it (epochs, augmentation, LR reducer)."""
    spec = models.MODEL_TABLE[number]
    splits = data.load_datasets(data_dir, image_size=spec.image_size, preprocessing=spec.preprocessing,
                                augment=spec.augment, seed=args.seed, verbose=False)
    epochs = args.custom_epochs or spec.epochs
    training.seed_everything(args.seed)
    model = spec.build(len(splits["training"].class_names))
    run = training.fit(model, splits["training"], splits["validation"], name=name or spec.name, epochs=epochs,
                       patience=args.custom_patience, lr_reducer=spec.lr_reducer, models_dir=out, seed=args.seed,
                       overwrite=True, verbose=0, settings=spec.settings(epochs=epochs))
    note = (f"model {number}, {run.record['epochs_run']} of {epochs} epochs"
            + (f" (patience {args.custom_patience})" if args.custom_patience else "")
            + f", best epoch {run.record['best_epoch']}")
    return {"correct": _test_correct(run, splits["test"]), "val_accuracy": run.best_val_accuracy, "note": note}


def transfer_recipe(data_dir: Path, out: Path, args, name: str = "transfer") -> dict:
    """Notebook 09's two stages with its defaults (``transfer.RECIPE``); rows for each stage and the chosen model."""
    r = transfer.RECIPE
    splits = data.load_datasets(data_dir, image_size=(224, 224), preprocessing="mobilenet_v2", seed=args.seed,
                                verbose=False)
    training.seed_everything(args.seed)
    model = models.build_transfer("mobilenet_v2", len(splits["training"].class_names),
                                  learning_rate=r["learning_rate"], name=name)
    start = time.perf_counter()
    frozen = transfer.fit_frozen(model, splits["training"], splits["validation"], name=name, epochs=r["epochs"],
                                 patience=r["patience"], augment=r["augment"], augment_copies=r["augment_copies"],
                                 models_dir=out, seed=args.seed, overwrite=True, verbose=0)
    frozen_seconds = time.perf_counter() - start
    tuning = transfer.fine_tune(frozen, splits["training"], splits["validation"], name=f"{name}_finetune",
                                blocks=r["fine_tune_blocks"], epochs=r["fine_tune_epochs"],
                                patience=r["fine_tune_patience"], learning_rate=r["fine_tune_learning_rate"],
                                augment=r["augment"], augment_copies=r["augment_copies"], models_dir=out,
                                seed=args.seed, verbose=0)
    tune_seconds = time.perf_counter() - start - frozen_seconds
    rows = {"transfer, frozen stage": {
        "correct": _test_correct(frozen, splits["test"]), "val_accuracy": frozen.best_val_accuracy,
        "seconds": frozen_seconds, "note": f"best epoch {frozen.record['best_epoch']} of "
                                           f"{frozen.record['epochs_run']}, {r['augment_copies']} augmented copies"}}
    if tuning.run is not None:
        rows["transfer, fine-tuned stage"] = {
            "correct": _test_correct(tuning.run, splits["test"]), "val_accuracy": tuning.run.best_val_accuracy,
            "seconds": tune_seconds, "note": f"top {r['fine_tune_blocks']} blocks, best epoch "
                                             f"{tuning.run.record['best_epoch']} of {tuning.run.record['epochs_run']}"}
    chosen = "transfer, fine-tuned stage" if tuning.kept else "transfer, frozen stage"
    rows["transfer (series): the stage with the better validation"] = {
        **rows[chosen], "seconds": frozen_seconds + tune_seconds, "note": f"{chosen.split(', ')[1]}: {tuning.reason}"}
    return rows


def _timed(function, *args, **kwargs) -> dict:
    start = time.perf_counter()
    row = function(*args, **kwargs)
    row.setdefault("seconds", time.perf_counter() - start)
    return row


def compare(data_dir: Path, out: Path, args, report=None) -> dict[str, dict]:
    """Every model of ``args.only`` trained on ``data_dir``: label -> row (correct, val_accuracy, seconds, note).
    ``report(rows)`` runs after every model, so a cut-off run keeps what it measured."""
    rows: dict[str, dict] = {}

    def add(label, row):
        rows[label] = row
        _print_row(label, rows)
        if report is not None:
            report(rows)

    if "transfer" in args.only:
        for label, row in transfer_recipe(data_dir, out, args).items():
            add(label, row)
    if "reference" in args.only:
        add("reference: the write-up's recipe in plain Keras", _timed(reference_recipe, data_dir, seed=args.seed))
    if "baseline" in args.only:
        add("baseline (write-up model 1)", _timed(custom_network, BASELINE, data_dir, out, args))
    if "custom" in args.only:
        add(f"best hand-built (write-up model {CUSTOM})", _timed(custom_network, CUSTOM, data_dir, out, args))
    return rows


def _print_row(label: str, rows: dict) -> None:
    row = rows[label]
    correct = row["correct"]
    print(f"{label}: test {stats.accuracy_text(int(correct.sum()), len(correct))}, validation "
          f"{row['val_accuracy']:.1%}, {row['seconds']:.0f} s ({row['note']})", flush=True)


def table(rows: dict[str, dict]) -> str:
    return markdown_table(pd.DataFrame([
        {"model": label, "test accuracy (95 % interval)": stats.accuracy_text(int(row["correct"].sum()),
                                                                            len(row["correct"])),
         "validation accuracy": f"{row['val_accuracy']:.1%}", "seconds": f"{row['seconds']:.0f}", "notes": row["note"]}
        for label, row in rows.items()]))


def learning_curve(data_dir: Path, out: Path, args) -> str:
    """The transfer recipe and the hand-built network on the first N training photos per class (seeded shuffle),
    same validation and test photos; a markdown table and a figure (``learning_curve_<folder>.png``)."""
    sizes = [int(n) for n in args.learning_curve.split(",")]
    rng = np.random.default_rng(args.seed)
    results = []
    for n in sizes:
        subset = out / "curve" / f"{n}_per_class"
        _link_subset(data_dir, subset, n, rng_seed=int(rng.integers(1 << 30)))
        for label, function in (("transfer (series)", None), (f"hand-built (model {CUSTOM})", CUSTOM)):
            start = time.perf_counter()
            if function is None:
                row = transfer_recipe(subset, out / "curve_models" / str(n), args, name=f"transfer_{n}")
                row = row["transfer (series): the stage with the better validation"]
            else:
                row = custom_network(CUSTOM, subset, out / "curve_models" / str(n), args, name=f"custom_{n}")
            correct = row["correct"]
            low, high = stats.wilson_interval(int(correct.sum()), len(correct))
            results.append({"per_class": n, "model": label, "accuracy": correct.mean(), "low": low, "high": high,
                            "text": stats.accuracy_text(int(correct.sum()), len(correct)),
                            "seconds": time.perf_counter() - start})
            print(f"{n} per class, {label}: {results[-1]['text']}, {results[-1]['seconds']:.0f} s", flush=True)
    figure = _curve_figure(results, args.results.parent / f"learning_curve_{data_dir.name}.png")
    rows = pd.DataFrame([{"training photos per class": r["per_class"], "model": r["model"],
                          "test accuracy (95 % interval)": r["text"], "seconds": f"{r['seconds']:.0f}"}
                         for r in results])
    return markdown_table(rows) + f"\n\n![learning curve]({figure.name})\n"


def _link_subset(data_dir: Path, subset: Path, n: int, rng_seed: int) -> None:
    """``subset``: symbolic links to N training photos per class (seeded choice) and to the validation/test folders
    (links, not copies: the data stays where it is)."""
    import shutil

    shutil.rmtree(subset, ignore_errors=True)
    rng = np.random.default_rng(rng_seed)
    for class_dir in sorted(p for p in (data_dir / "training").iterdir() if p.is_dir()):
        photos = sorted(p for p in class_dir.iterdir() if p.is_file())
        chosen = [photos[i] for i in sorted(rng.choice(len(photos), size=min(n, len(photos)), replace=False))]
        target = subset / "training" / class_dir.name
        target.mkdir(parents=True)
        for photo in chosen:
            (target / photo.name).symlink_to(photo.resolve())
    for split in ("validation", "test"):
        (subset / split).symlink_to((data_dir / split).resolve(), target_is_directory=True)


def _curve_figure(results: list[dict], path: Path) -> Path:
    from toyrobot_utils.figures import new_figure, save_figure

    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for model in dict.fromkeys(r["model"] for r in results):
        rows = [r for r in results if r["model"] == model]
        x = [r["per_class"] for r in rows]
        ax.errorbar(x, [r["accuracy"] for r in rows], marker="o", capsize=3, label=model,
                    yerr=[[r["accuracy"] - r["low"] for r in rows], [r["high"] - r["accuracy"] for r in rows]])
    ax.set(xscale="log", xlabel="training photos per class", ylabel="test accuracy (95 % interval)", ylim=(0, 1))
    ax.set_xticks([r["per_class"] for r in results], labels=[str(r["per_class"]) for r in results])
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path.stem, figures_dir=path.parent)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS), help="which models to train")
    parser.add_argument("--custom-epochs", type=int, default=None, help="epochs of models 1 and 5 (default: "
                        "the write-up's, 50)")
    parser.add_argument("--custom-patience", type=int, default=None, help="early stopping for models 1 and 5")
    parser.add_argument("--learning-curve", default=None, help="e.g. 10,25,50,100: training photos per class")
    output_arguments(parser, config.SEED)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    out = args.out_dir or config.PROJECT_ROOT / "build" / "real_photos" / data_dir.name
    command = "python benchmarks/real_photos.py " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        models.load_base("mobilenet_v2", (224, 224), allow_download=False)
    except models.WeightsNotAvailableError as err:
        print(err)
        return 2
    if args.learning_curve:
        body = learning_curve(data_dir, out, args)
        key, title = f"learning_curve_{data_dir.name}", f"How many photos? Learning curve on {data_dir.name}"
    else:
        key, title = f"real_photos_{data_dir.name}", f"Real photos side by side: {data_dir.name}"

        def report(rows):
            if not args.no_results:
                write_section(key, title, table(rows) + "\n\n" + NOTES, command=command, results=args.results)

        body = table(compare(data_dir, out, args, report)) + "\n\n" + NOTES
    print(body)
    if not args.no_results:
        write_section(key, title, body, command=command, results=args.results)
    return 0


NOTES = f"""- One folder, one split: every model trains on its training photos, is chosen on its validation photos and
  is scored once on its test photos. Intervals: 95 % Wilson (`stats.accuracy_text`). Seconds: training (and, for the
  transfer model, computing the base's features once) on this machine, not the test predictions.
- Best hand-built network: write-up model {CUSTOM}, the highest validation accuracy among the write-up's hand-built
  networks (choosing by its test accuracy would be choosing on test photos).
- Transfer (series): `transfer.fit_frozen` + `transfer.fine_tune` with `transfer.RECIPE` (notebook 09's defaults);
  the fine-tuned stage replaces the frozen one only when its validation accuracy is higher. The recipe was chosen on
  principle and on validation, not tuned to this folder's test photos.
- Reference: the write-up's recipe in plain Keras (`reference_recipe`): `image_dataset_from_directory`, frozen
  ImageNet MobileNetV2, global average pooling, Dense softmax, Adam, {REFERENCE_EPOCHS} epochs, last epoch kept."""


if __name__ == "__main__":
    sys.exit(main())

"""A handful of photos: the series' transfer recipe against a fixed-budget reference, at 5, 10 and 25 training photos
per class with 2, 3 and 5 validation photos per class.

    .venv/bin/python benchmarks/few_photos.py DATA_DIR [--draws 3] [--sizes 5:2,10:3,25:5] [--seed 42]

DATA_DIR has the project's layout (training/, validation/, test/, one folder per class). For every size and draw, a
seeded choice of N training photos and V validation photos per class (symbolic links under ``--out-dir``, never
copies) is trained on twice:

- **recipe**: the series' transfer recipe as notebook 09 runs it, ``transfer.fit_frozen`` then ``transfer.fine_tune``
  with ``transfer.RECIPE``: on a validation split large enough to compare (``stats.too_small_to_compare``), the best
  epoch of each stage and the stage itself are chosen on it (``stopping.better_on_validation``: accuracy, ties broken
  by validation loss); on a smaller one, as at every size here, each stage keeps its last epoch and the training
  photos decide whether fine-tuning is kept (``transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS``);
- **reference**: a linear classifier (Dense softmax, Adam 1e-3, batch 32) on the frozen ImageNet MobileNetV2's pooled
  features of the same N training photos per class, trained for a fixed ``--reference-epochs`` (100) and kept as it
  ends: no validation photos, no choice.

Both are scored on the *full* test split. The base's pooled features of every training photo and every test photo
are computed once and reused by every reference draw; the recipe computes its own (augmented copies, activations
for fine-tuning) exactly as notebook 09 does, so what is measured is the recipe itself. Per size: mean and spread
(standard deviation, min-max) over the draws, and how many draws each won. RESULTS.md gets a section per folder
(``--no-results``: printed only). Needs the MobileNetV2 ImageNet weights in Keras' cache (``make weights``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from report import markdown_table, output_arguments, write_section  # noqa: E402

from toyrobot_utils import audit, config, data  # noqa: E402
from toyrobot_utils.modelling import models, training, transfer  # noqa: E402

SIZES = ((5, 2), (10, 3), (25, 5))  # (training photos per class, validation photos per class)
IMAGE_SIZE = (224, 224)
REFERENCE_EPOCHS = 100


def draw_folder(data_dir: Path, folder: Path, n_train: int, n_val: int, seed: int) -> Path:
    """``folder``/training and /validation: links to ``n_train`` and ``n_val`` photos per class, a seeded choice."""
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for split, n in (("training", n_train), ("validation", n_val)):
        for class_dir in sorted(p for p in (data_dir / split).iterdir() if p.is_dir()):
            photos = sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
            target = folder / split / class_dir.name
            target.mkdir(parents=True)
            for i in sorted(rng.choice(len(photos), size=min(n, len(photos)), replace=False)):
                (target / photos[i].name).symlink_to(photos[i].resolve())
    return folder


def draw_splits(folder: Path, seed: int) -> dict[str, data.SplitData]:
    report = audit.audit(folder, ("training", "validation"), check_duplicates=False, array_size=IMAGE_SIZE)
    return {split: data.load_split(folder, split, image_size=IMAGE_SIZE, preprocessing="mobilenet_v2", seed=seed,
                                   report=report) for split in ("training", "validation")}


class Cache:
    """The full test split as arrays, and the frozen base's pooled features of every training and test photo."""

    def __init__(self, data_dir: Path, seed: int):
        splits = {split: data.load_split(data_dir, split, image_size=IMAGE_SIZE, preprocessing="mobilenet_v2",
                                         shuffle=False, seed=seed) for split in ("training", "test")}
        self.class_names = splits["test"].class_names
        batches = list(data.dataset_of(splits["test"]))
        self.test_images = np.concatenate([np.asarray(x) for x, _ in batches])
        self.test_labels = np.concatenate([np.argmax(np.asarray(y), axis=1) for _, y in batches])
        extract, _ = transfer.feature_extractor(models.build_transfer("mobilenet_v2", len(self.class_names)))
        features, labels = transfer.extract_features(extract, splits["training"])
        self.train = {Path(f).resolve(): (x, np.argmax(y)) for f, x, y in zip(splits["training"].files, features,
                                                                               labels)}
        self.test_features, _ = transfer.extract_features(extract, splits["test"])


def test_accuracy(model, cache: Cache) -> float:
    predicted = np.argmax(model.predict(cache.test_images, batch_size=32, verbose=0), axis=1)
    return float(np.mean(predicted == cache.test_labels))


def recipe(splits: dict, cache: Cache, out: Path, seed: int) -> dict:
    """Notebook 09's two stages with ``transfer.RECIPE``; the stage chosen on validation, scored on the test split."""
    r = transfer.RECIPE
    shutil.rmtree(out, ignore_errors=True)  # the previous draw's models: nothing to keep or archive
    training.seed_everything(seed)
    model = models.build_transfer("mobilenet_v2", len(cache.class_names), learning_rate=r["learning_rate"],
                                  name="recipe")
    common = dict(augment=r["augment"], augment_copies=r["augment_copies"], models_dir=out, seed=seed, verbose=0)
    frozen = transfer.fit_frozen(model, splits["training"], splits["validation"], name="recipe", epochs=r["epochs"],
                                 patience=r["patience"], tensorboard=False, **common)
    tuning = transfer.fine_tune(frozen, splits["training"], splits["validation"], name="recipe_finetune",
                                blocks=r["fine_tune_blocks"], epochs=r["fine_tune_epochs"],
                                patience=r["fine_tune_patience"], learning_rate=r["fine_tune_learning_rate"], **common)
    frozen_test = test_accuracy(frozen.model, cache)
    tuned_test = test_accuracy(tuning.run.model, cache) if tuning.run is not None else None
    return {"accuracy": tuned_test if tuning.kept else frozen_test, "fine_tuned": bool(tuning.kept),
            "frozen_test": frozen_test, "fine_tuned_test": tuned_test, "keep": frozen.record.get("keep"),
            "frozen_epoch": f"{frozen.record['best_epoch']}/{frozen.record['epochs_run']}",
            "tuned_epoch": (f"{tuning.run.record['best_epoch']}/{tuning.run.record['epochs_run']}"
                            if tuning.run is not None else "-")}


def reference(splits: dict, cache: Cache, seed: int, epochs: int = REFERENCE_EPOCHS) -> float:
    """A linear classifier on the cached pooled features of the draw's training photos, ``epochs`` epochs, no choice."""
    import keras

    pairs = [cache.train[Path(f).resolve()] for f in splits["training"].files]
    x = np.stack([p[0] for p in pairs]).astype(np.float32)
    y = keras.utils.to_categorical([p[1] for p in pairs], len(cache.class_names))
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input(x.shape[1:]),
                             keras.layers.Dense(len(cache.class_names), activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    head.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    predicted = np.argmax(head.predict(cache.test_features, verbose=0), axis=1)
    return float(np.mean(predicted == cache.test_labels))


def run(data_dir: Path, out: Path, sizes, draws: int, seed: int, reference_epochs: int,
        report=None) -> pd.DataFrame:
    """One row per size and draw: both test accuracies, the recipe's chosen stage and epochs, seconds.
    ``report(rows)`` runs after every size, so a cut-off run keeps what it measured."""
    start = time.perf_counter()
    cache = Cache(data_dir, seed)
    print(f"{data_dir.name}: test split {len(cache.test_labels)} photos, {len(cache.train)} training photos' features "
          f"cached in {time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    for n_train, n_val in sizes:
        for draw in range(draws):
            draw_seed = seed + 1000 * n_train + draw
            folder = draw_folder(data_dir, out / "draws" / f"{n_train}_{n_val}_{draw}", n_train, n_val, draw_seed)
            splits = draw_splits(folder, draw_seed)
            t0 = time.perf_counter()
            ours = recipe(splits, cache, out / "models", draw_seed)
            t1 = time.perf_counter()
            ref = reference(splits, cache, draw_seed, reference_epochs)
            rows.append({"train_per_class": n_train, "val_per_class": n_val, "draw": draw, "recipe": ours["accuracy"],
                         "reference": ref, "fine_tuned": ours["fine_tuned"], "frozen stage": ours["frozen_test"],
                         "fine-tuned stage": ours["fine_tuned_test"], "epoch kept": ours["keep"],
                         "frozen_best/run": ours["frozen_epoch"],
                         "fine_tune_best/run": ours["tuned_epoch"], "recipe_s": t1 - t0,
                         "reference_s": time.perf_counter() - t1})
            print(f"  {n_train}+{n_val} per class, draw {draw}: recipe {ours['accuracy']:.1%} (frozen best epoch "
                  f"{ours['frozen_epoch']}, fine-tuning {ours['tuned_epoch']}, "
                  f"{'fine-tuned' if ours['fine_tuned'] else 'frozen'} kept; frozen {ours['frozen_test']:.1%}, "
                  f"fine-tuned {ours['fine_tuned_test'] or 0:.1%}; {ours['keep']}), reference {ref:.1%}; "
                  f"{t1 - t0:.0f} s + {time.perf_counter() - t1:.0f} s", flush=True)
        if report is not None:
            report(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per size: mean, standard deviation and range of each, the mean difference, draws won by each."""
    out = []
    for (n_train, n_val), group in rows.groupby(["train_per_class", "val_per_class"]):
        line = {"training / validation photos per class": f"{n_train} / {n_val}", "draws": len(group)}
        for key in ("recipe", "reference"):
            values = group[key].tolist()
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            line[key] = (f"{np.mean(values):.1%} ± {spread:.1%} ({min(values):.1%}–{max(values):.1%})")
        diff = group["recipe"] - group["reference"]
        line["recipe − reference"] = f"{100 * diff.mean():+.1f} points"
        won, tied, lost = int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())
        line["draws won / tied / lost"] = f"{won} / {tied} / {lost}"
        line["fine-tuned stage kept"] = f"{int(group['fine_tuned'].sum())} of {len(group)}"
        out.append(line)
    return pd.DataFrame(out)


def notes(reference_epochs: int) -> str:
    return (f"- Each draw: a seeded choice of training and validation photos per class; both models see the same "
            f"photos and are scored on the full test split. Mean ± standard deviation (min–max) over the draws.\n"
            f"- Recipe: `transfer.fit_frozen` + `transfer.fine_tune` with `transfer.RECIPE` (notebook 09's defaults); "
            f"on the draw's validation photos, too few to compare (`stats.too_small_to_compare`), each stage keeps "
            f"its last epoch and the fine-tuned stage is kept from {transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS} training "
            f"photos per class (`transfer.keep_fine_tuned`); no test photo plays a part in a choice.\n"
            f"- Reference: Dense softmax on the frozen MobileNetV2's pooled features of the training photos, Adam "
            f"1e-3, batch 32, {reference_epochs} epochs, last epoch kept (no validation photos, no choice).")


def draw_arguments(parser, sizes, draws: int) -> None:
    """The data folder, the draws and the sizes: the options of this benchmark and small_validation_rule.py."""
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--draws", type=int, default=draws)
    parser.add_argument("--sizes", default=",".join(f"{t}:{v}" for t, v in sizes),
                        help="training:validation photos per class, e.g. %(default)s")


def parsed_sizes(text: str) -> list[tuple[int, int]]:
    """'5:2,10:3' -> [(5, 2), (10, 3)]."""
    return [tuple(int(v) for v in pair.split(":")) for pair in text.split(",")]


def weights_missing() -> str | None:
    """Why the MobileNetV2 ImageNet weights cannot be loaded here (None: they can)."""
    try:
        models.load_base("mobilenet_v2", IMAGE_SIZE, allow_download=False)
    except models.WeightsNotAvailableError as err:
        return str(err)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    draw_arguments(parser, SIZES, 3)
    parser.add_argument("--reference-epochs", type=int, default=REFERENCE_EPOCHS)
    output_arguments(parser, config.SEED)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    sizes = parsed_sizes(args.sizes)
    out = args.out_dir or config.PROJECT_ROOT / "build" / "few_photos" / data_dir.name
    if (missing := weights_missing()) is not None:
        print(missing)
        return 2
    start = time.perf_counter()
    command = "python benchmarks/few_photos.py " + " ".join(argv if argv is not None else sys.argv[1:])

    def report(rows: pd.DataFrame, final: bool = False) -> str:
        body = (markdown_table(summary(rows)) + "\n\nEvery draw:\n\n"
                + markdown_table(rows.round({"recipe": 3, "reference": 3, "frozen stage": 3,
                                             "fine-tuned stage": 3, "recipe_s": 0, "reference_s": 0}))
                + f"\n\n{notes(args.reference_epochs)}\n- "
                + (f"Whole run: {time.perf_counter() - start:.0f} s." if final else
                   f"Cut-off run: the sizes above only, {time.perf_counter() - start:.0f} s so far."))
        if not args.no_results:
            write_section(f"few_photos_{data_dir.name}", f"A handful of photos: recipe against a fixed budget, "
                          f"{data_dir.name}", body, command=command, results=args.results)
        return body

    rows = run(data_dir, out, sizes, args.draws, args.seed, args.reference_epochs, report)
    print(report(rows, final=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

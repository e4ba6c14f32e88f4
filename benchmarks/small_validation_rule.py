"""Why the transfer recipe stops choosing epochs on a small validation split: the frozen head's epoch chosen on a few
validation photos against the last epoch of its budget, replayed on many seeded draws.

    .venv/bin/python benchmarks/small_validation_rule.py DATA_DIR [--draws 8] [--sizes 5:2,10:3,25:5,100:30]

The base's pooled features of every training photo (as it is and through ``transfer.AUGMENT_COPIES`` augmented copies)
and of every validation and test photo are computed once. For every size and draw, a seeded choice of N training and
V validation photos per class trains the recipe's head (``models.build_transfer``'s: dropout 0.2, Dense softmax, Adam
1e-3, batch 32) for ``transfer.RECIPE["epochs"]`` epochs on the features, recording every epoch. Then, on the same
curve, the two rules of ``modelling/stopping.py``:

- **best on validation**: the epoch the checkpoint keeps (``stopping.best_row``: accuracy, ties broken by loss) with
  early stopping after ``transfer.RECIPE["patience"]`` epochs (``stopping.replay_patience``);
- **last epoch**: the budget's last epoch, no choice (``stopping.LAST_EPOCH``);

and, as the fixed reference of benchmarks/few_photos.py, a linear classifier on the N photos' plain features for 100
epochs. All three are scored on the full test split. Mean ± standard deviation over the draws, how many draws each
rule won, and whether ``stopping.keep_rule`` picks the fixed budget for V validation photos per class.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from few_photos import IMAGE_SIZE, REFERENCE_EPOCHS, draw_arguments, parsed_sizes, weights_missing  # noqa: E402
from report import markdown_table, output_arguments, write_section  # noqa: E402

from toyrobot_utils import config, data  # noqa: E402
from toyrobot_utils.modelling import models, stopping, transfer  # noqa: E402

SIZES = ((5, 2), (10, 3), (25, 5), (100, 30))


def cached_features(data_dir: Path, cache: Path, seed: int) -> dict[str, np.ndarray]:
    """Pooled MobileNetV2 features (and labels) of every photo, with the augmented copies of the training photos
    after the photos themselves (copy k of photo i at ``k * n + i``); computed once per folder, kept in ``cache``."""
    if cache.is_file():
        return dict(np.load(cache))
    splits = {split: data.load_split(data_dir, split, image_size=IMAGE_SIZE, preprocessing="mobilenet_v2",
                                     shuffle=False, seed=seed) for split in ("training", "validation", "test")}
    classes = len(splits["test"].class_names)
    extract, _ = transfer.feature_extractor(models.build_transfer("mobilenet_v2", classes))
    arrays = {}
    for split, split_data in splits.items():
        source = (data.augmented_copies(split_data, transfer.AUGMENT_COPIES, image_size=IMAGE_SIZE,
                                        preprocessing="mobilenet_v2", seed=seed) if split == "training" else split_data)
        x, y = transfer.extract_features(extract, source)
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x, np.argmax(y, axis=1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


def head_curve(x, y, evaluations: dict, *, classes: int, epochs: int, dropout: float, seed: int) -> pd.DataFrame:
    """Train a softmax head on features ``x`` for ``epochs`` epochs; per epoch, accuracy and loss on each of
    ``evaluations`` (name -> (features, labels)), computed from the Dense layer's weights (the head is linear at
    inference: dropout is off)."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(x.shape[1:])] + ([keras.layers.Dropout(dropout)] if dropout else [])
    head = keras.Sequential(layers + [keras.layers.Dense(classes, activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    rows = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights, bias = head.layers[-1].get_weights()
            row = {"epoch": epoch + 1}
            for prefix, (features, labels) in evaluations.items():
                logits = features @ weights + bias
                logits -= logits.max(axis=1, keepdims=True)
                log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
                row[f"{prefix}accuracy"] = float(np.mean(log_p.argmax(axis=1) == labels))
                row[f"{prefix}loss"] = float(-np.mean(log_p[np.arange(len(labels)), labels]))
            rows.append(row)

    head.fit(x, keras.utils.to_categorical(y, classes), batch_size=32, epochs=epochs, shuffle=True, verbose=0,
             callbacks=[Record()])
    return pd.DataFrame(rows)


def draw(arrays: dict, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded indices of ``n_train`` training and ``n_val`` validation photos per class."""
    rng = np.random.default_rng(seed)
    n = len(arrays["training_y"]) // (1 + transfer.AUGMENT_COPIES)
    plain_y, val_y = arrays["training_y"][:n], arrays["validation_y"]
    classes = int(plain_y.max()) + 1
    train = [rng.choice(np.flatnonzero(plain_y == c), min(n_train, int((plain_y == c).sum())), replace=False)
             for c in range(classes)]
    val = [rng.choice(np.flatnonzero(val_y == c), min(n_val, int((val_y == c).sum())), replace=False)
           for c in range(classes)]
    return np.concatenate(train), np.concatenate(val)


def run(arrays: dict, sizes, draws: int, seed: int) -> pd.DataFrame:
    recipe = transfer.RECIPE
    n = len(arrays["training_y"]) // (1 + transfer.AUGMENT_COPIES)
    classes = int(arrays["training_y"].max()) + 1
    test = (arrays["test_x"], arrays["test_y"])
    rows = []
    for n_train, n_val in sizes:
        for k in range(draws):
            draw_seed = seed + 1000 * n_train + k
            train, val = draw(arrays, n_train, n_val, draw_seed)
            copies = np.concatenate([train + c * n for c in range(1 + transfer.AUGMENT_COPIES)])
            curve = head_curve(arrays["training_x"][copies], arrays["training_y"][copies],
                               {"val_": (arrays["validation_x"][val], arrays["validation_y"][val]), "test_": test},
                               classes=classes, epochs=recipe["epochs"], dropout=0.2, seed=draw_seed)
            chosen = stopping.replay_patience(curve, recipe["patience"])
            reference = head_curve(arrays["training_x"][train], arrays["training_y"][train], {"test_": test},
                                   classes=classes, epochs=REFERENCE_EPOCHS, dropout=0.0, seed=draw_seed)
            at = curve.set_index("epoch")["test_accuracy"]
            rows.append({"train_per_class": n_train, "val_per_class": n_val, "draw": k,
                         "validation_photos": len(val), "rule_for_this_size": stopping.keep_rule(len(val)),
                         "best_on_validation": float(at[chosen["best_epoch"]]),
                         "kept_epoch": f"{chosen['best_epoch']}/{chosen['stopped_after']}",
                         "last_epoch": float(at.iloc[-1]), "reference": float(reference["test_accuracy"].iloc[-1])})
            row = rows[-1]
            print(f"  {n_train}+{n_val} per class, draw {k}: best on validation {row['best_on_validation']:.1%} "
                  f"(epoch {row['kept_epoch']}), last epoch {row['last_epoch']:.1%}, reference "
                  f"{row['reference']:.1%}", flush=True)
    return pd.DataFrame(rows)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (n_train, n_val), group in rows.groupby(["train_per_class", "val_per_class"], sort=False):
        line = {"training / validation photos per class": f"{n_train} / {n_val}", "draws": len(group),
                "validation photos": int(group["validation_photos"].iloc[0]),
                "keep_rule picks": group["rule_for_this_size"].iloc[0]}
        for key in ("best_on_validation", "last_epoch", "reference"):
            values = group[key].tolist()
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            line[key.replace("_", " ")] = f"{np.mean(values):.1%} ± {spread:.1%}"
        diff = group["last_epoch"] - group["best_on_validation"]
        line["last − best on validation"] = f"{100 * diff.mean():+.1f} points"
        line["draws won / tied / lost (last)"] = f"{(diff > 0).sum()} / {(diff == 0).sum()} / {(diff < 0).sum()}"
        out.append(line)
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    draw_arguments(parser, SIZES, 8)
    output_arguments(parser, config.SEED)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    sizes = parsed_sizes(args.sizes)
    out = args.out_dir or config.PROJECT_ROOT / "build" / "small_validation_rule" / data_dir.name
    if (missing := weights_missing()) is not None:
        print(missing)
        return 2
    start = time.perf_counter()
    arrays = cached_features(data_dir, out / f"features_seed{args.seed}.npz", args.seed)
    print(f"{data_dir.name}: features ready in {time.perf_counter() - start:.0f} s", flush=True)
    rows = run(arrays, sizes, args.draws, args.seed)
    body = (markdown_table(summary(rows)) + "\n\n"
            f"- The recipe's head ({transfer.RECIPE['epochs']} epochs on the photos' and {transfer.AUGMENT_COPIES} "
            f"augmented copies' features) replayed under both rules on one curve per draw; best on validation with "
            f"patience {transfer.RECIPE['patience']} (accuracy, ties broken by loss), as before; last epoch: the "
            f"budget's end. Reference: linear classifier on plain features, {REFERENCE_EPOCHS} epochs. Full test "
            f"split; mean ± standard deviation over the draws.\n"
            f"- Whole run: {time.perf_counter() - start:.0f} s.")
    print(body)
    if not args.no_results:
        command = "python benchmarks/small_validation_rule.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(f"small_validation_rule_{data_dir.name}", f"Choosing the head's epoch on a few validation "
                      f"photos, {data_dir.name}", body, command=command, results=args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

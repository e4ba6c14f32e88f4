"""Is the built-in data set as hard as the write-up's photos? Prints baseline and MobileNetV2 test accuracy.

    .venv/bin/python benchmarks/default_data_difficulty.py [--data-dir DIR] [--seed 0] [--epochs 50]

The issue's bars: the write-up's baseline CNN (128 px, pixels/255, batch 32, 50 epochs, Adam, best checkpoint by
validation accuracy) between 60 % and 90 % test accuracy, and a frozen ImageNet MobileNetV2 (224 px,
``preprocess_input``, GlobalAveragePooling + Dense softmax) at least 95 %.

Without ``--data-dir`` the set is generated into a temporary folder (never data/). The frozen MobileNetV2 is
evaluated by computing its pooled features once and fitting the softmax head on them: the same model as
``models.build_transfer`` (minus the dropout), in seconds instead of minutes. Takes ~10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _fit_best(model, train, val, epochs, batch_size=None):
    """Fit and return the model at its best validation accuracy (the write-up's ModelCheckpoint)."""
    import keras

    best = {"acc": -1.0, "weights": None, "epoch": 0}

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] > best["acc"]:
                best.update(acc=logs["val_accuracy"], weights=self.model.get_weights(), epoch=epoch + 1)

    x, y = train
    kwargs = {"batch_size": batch_size} if batch_size else {}
    model.fit(x, y, validation_data=val, epochs=epochs, callbacks=[KeepBest()], verbose=0, **kwargs)
    model.set_weights(best["weights"])
    return best


def baseline_accuracy(data_dir: Path, epochs: int, seed: int) -> tuple[float, dict]:
    from toyrobot_utils import data
    from toyrobot_utils.modelling import models, training

    training.seed_everything(seed)
    sets = data.load_datasets(data_dir, image_size=(128, 128), batch_size=32, preprocessing="rescale", verbose=False)
    model = models.build_baseline(len(sets["training"].class_names), (128, 128))
    best = _fit_best(model, (sets["training"].dataset, None), sets["validation"].dataset, epochs)
    pred = model.predict(sets["test"].dataset, verbose=0).argmax(1)
    return float(np.mean(pred == sets["test"].labels)), best


def mobilenet_v2_accuracy(data_dir: Path, seed: int) -> tuple[float, dict]:
    import keras

    from toyrobot_utils import data
    from toyrobot_utils.modelling import models, training

    training.seed_everything(seed)
    sets = data.load_datasets(data_dir, image_size=(224, 224), batch_size=32, preprocessing="mobilenet_v2",
                              verbose=False)
    base = models.load_base("mobilenet_v2", (224, 224))
    pooled = keras.Sequential([base, keras.layers.GlobalAveragePooling2D()])
    # features in file order (the training pipeline shuffles, its labels would not line up)
    feats = {s: pooled.predict(data.files_dataset(d.files, image_size=(224, 224), preprocessing="mobilenet_v2"),
                               verbose=0) for s, d in sets.items()}
    n = len(sets["training"].class_names)
    onehot = {s: np.eye(n, dtype=np.float32)[d.labels] for s, d in sets.items()}
    head = keras.Sequential([keras.Input((feats["training"].shape[1],)), keras.layers.Dense(n, activation="softmax")])
    head.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    best = _fit_best(head, (feats["training"], onehot["training"]), (feats["validation"], onehot["validation"]),
                     epochs=50, batch_size=32)
    pred = head.predict(feats["test"], verbose=0).argmax(1)
    return float(np.mean(pred == sets["test"].labels)), best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="an existing default set (else one is generated to a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="data seed when generating (default: %(default)s)")
    parser.add_argument("--train-seed", type=int, default=42, help="weights/shuffle seed (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)
    tmp = None
    data_dir = args.data_dir
    try:
        if data_dir is None:
            from toyrobot_utils.synthetic import default_data

            tmp = Path(tempfile.mkdtemp(prefix="toyrobot-difficulty-"))
            data_dir = tmp / "data"
            start = time.perf_counter()
            default_data.generate(data_dir, seed=args.seed)
            print(f"generated the default set (seed {args.seed}) in {time.perf_counter() - start:.1f} s")
        ok = True
        if not args.skip_baseline:
            start = time.perf_counter()
            acc, best = baseline_accuracy(data_dir, args.epochs, args.train_seed)
            ok &= 0.60 <= acc <= 0.90
            print(f"baseline CNN: test accuracy {acc:.3f} (best val {best['acc']:.3f} at epoch {best['epoch']}; "
                  f"{time.perf_counter() - start:.0f} s)  bar 0.60-0.90: {'met' if 0.60 <= acc <= 0.90 else 'NOT met'}",
                  flush=True)
        start = time.perf_counter()
        acc, best = mobilenet_v2_accuracy(data_dir, args.train_seed)
        ok &= acc >= 0.95
        print(f"frozen MobileNetV2 + softmax head: test accuracy {acc:.3f} (best val {best['acc']:.3f}; "
              f"{time.perf_counter() - start:.0f} s)  bar >= 0.95: {'met' if acc >= 0.95 else 'NOT met'}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

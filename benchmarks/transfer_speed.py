"""Frozen MobileNetV2 (notebook 09): seconds per epoch trained on the photos vs. on cached base features, side by
side in one run (the issue's aim: at least 5x faster per epoch, same validation accuracy within noise).

    .venv/bin/python benchmarks/transfer_speed.py [--data DIR] [--epochs 3] [--train 40] [--val 12] [--seed 42]

Both runs build the same network from the same seed (ImageNet base frozen, new head), train it for the same number
of epochs on the same photos (224 px, MobileNetV2 preprocessing, no augmentation) with ``training.fit``'s checkpoint
and records, and report the seconds of every epoch as the run's history measured them (validation included). The
cached-features run also pays a one-off feature extraction, reported separately with the break-even point: the
number of epochs after which caching has paid for itself.

Data: ``--data`` (default ``data/``) when it holds photos; otherwise a small built-in set (``--train``/``--val``
photos per class) is generated into a temporary folder. Models go to a temporary folder; nothing in the project
changes. Needs the MobileNetV2 ImageNet weights in Keras' cache (``make weights``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from toyrobot_utils import config, data
from toyrobot_utils.modelling import models, training, transfer  # noqa: E402
from toyrobot_utils.synthetic import default_data

AIM = 5.0


def _time_one(path: str, model, splits, args, models_dir: Path) -> dict:
    """Train ``model`` on the photos ("images") or on cached base features; its epoch times and accuracies."""
    print(f"training on {path} ...", flush=True)
    start = time.perf_counter()
    if path == "images":
        run = training.fit(model, splits["training"], splits["validation"], name="on_images",
                           epochs=args.epochs, models_dir=models_dir, seed=args.seed, verbose=0)
    else:
        run = transfer.fit_frozen(model, splits["training"], splits["validation"], name="on_features",
                                  epochs=args.epochs, models_dir=models_dir, seed=args.seed, verbose=0)
        assert run.record["settings"]["training_path"] == transfer.FEATURE_PATH
    wall = time.perf_counter() - start
    seconds = run.history["seconds"].tolist()
    later = seconds[1:] or seconds
    return {
        "first": seconds[0],
        "later": sum(later) / len(later),
        "mean": sum(seconds) / len(seconds),
        "extract": run.record.get("feature_extraction_seconds", 0.0),
        "wall": wall,
        "best_val": run.record["best_val_accuracy"],
        "final_val": float(run.history["val_accuracy"].iloc[-1]),
    }


def _report(results: dict, epochs: int, n_val: int) -> float:
    """Print the table and the ratios; returns how many times faster an epoch is on cached features."""
    img, feat = results["images"], results["cached features"]
    print()
    print(f"{'path':<16} {'epoch 1 s':>9} {'later s/ep':>10} {'mean s/ep':>9} {'one-off s':>9} {'wall s':>7} "
          f"{'best val':>8} {'final val':>9}")
    for path, r in results.items():
        print(f"{path:<16} {r['first']:>9.2f} {r['later']:>10.3f} {r['mean']:>9.3f} {r['extract']:>9.1f} "
              f"{r['wall']:>7.1f} {r['best_val']:>8.3f} {r['final_val']:>9.3f}")
    ratio_mean = img["mean"] / feat["mean"]
    ratio_later = img["later"] / feat["later"]
    saved_per_epoch = img["mean"] - feat["mean"]
    break_even = feat["extract"] / saved_per_epoch if saved_per_epoch > 0 else float("inf")
    one_photo = 1.0 / n_val
    print()
    print(f"per epoch: cached features are {ratio_mean:.0f}x faster on average over all epochs "
          f"({ratio_later:.0f}x after the first epoch)")
    print(f"one-off feature extraction {feat['extract']:.1f} s = {feat['extract'] / img['mean']:.2f} image-path "
          f"epochs; break-even after {break_even:.2f} epochs (total for {epochs} epochs: images "
          f"{img['mean'] * epochs:.1f} s, cached {feat['extract'] + feat['mean'] * epochs:.1f} s)")
    gap = abs(img["best_val"] - feat["best_val"])
    print(f"best validation accuracy: images {img['best_val']:.3f}, cached {feat['best_val']:.3f} (difference "
          f"{gap:.3f}; one validation photo is {one_photo:.3f})")
    return ratio_mean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=config.DATA_DIR)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=40, help="training photos per class when generating")
    parser.add_argument("--val", type=int, default=12, help="validation photos per class when generating")
    parser.add_argument("--batch-size", type=int, default=config.BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=config.SEED)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="toyrobot-transfer-speed-"))
    try:
        data_dir = args.data
        if not default_data.has_photos(data_dir):
            data_dir = tmp / "data"
            counts = {"training": args.train, "validation": args.val, "test": 2}
            print(f"{args.data} holds no photos: generating the built-in set with {counts} photos per class "
                  f"into a temporary folder ...", flush=True)
            default_data.generate(data_dir, seed=0, counts=counts)
        splits = data.load_datasets(data_dir, image_size=(224, 224), batch_size=args.batch_size,
                                    preprocessing="mobilenet_v2", seed=args.seed, verbose=False)
        n_train, n_val = len(splits["training"]), len(splits["validation"])
        print(f"data: {n_train} training and {n_val} validation photos, {len(splits['training'].class_names)} "
              f"classes, 224 px, batch {args.batch_size}; {args.epochs} epochs each way, seed {args.seed}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)

        def build():
            training.seed_everything(args.seed)
            return models.build_transfer("mobilenet_v2", num_classes=len(splits["training"].class_names))

        try:
            build()  # also warms TensorFlow up, so neither timed run pays the start-up
        except models.WeightsNotAvailableError as err:
            print(err)
            return 2

        results = {path: _time_one(path, build(), splits, args, tmp / "models")
                   for path in ("images", "cached features")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ratio_mean = _report(results, args.epochs, n_val)
    met = ratio_mean >= AIM
    print(f"aim (>= {AIM:.0f}x faster per epoch): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

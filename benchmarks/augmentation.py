"""The training pipeline's augmentation: one combined geometric resampling against Keras' four layers in a row.

`data.augmentation_block` is the write-up's ImageDataGenerator settings (rotation ±20°, shifts 0.2, zoom 0.1,
horizontal flip, brightness 0.5-1.5). Written as Keras' RandomRotation, RandomTranslation, RandomZoom and RandomFlip,
every batch is resampled four times; `data.RandomGeometry` composes the four into one affine matrix per image and
resamples once. Both run here side by side, in one process, as the training pipeline runs them (a tf.data map over
batches of photos), and the script prints seconds per epoch of photos and their ratio.

    python benchmarks/augmentation.py [--photos 500] [--size 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from report import write_section  # noqa: E402

from toyrobot_utils import data  # noqa: E402


def four_layers(seed: int = 0) -> keras.Sequential:
    """The same augmentation as Keras' own layers, one resampling each (how the series did it before)."""
    a = data.AUGMENTATION
    fill = a["fill_mode"]
    return keras.Sequential([
        keras.Input(shape=(None, None, 3)),
        keras.layers.RandomRotation(a["rotation_range"] / 360.0, fill_mode=fill, seed=seed),
        keras.layers.RandomTranslation(a["height_shift_range"], a["width_shift_range"], fill_mode=fill, seed=seed + 1),
        keras.layers.RandomZoom(a["zoom_range"], a["zoom_range"], fill_mode=fill, seed=seed + 2),
        keras.layers.RandomFlip("horizontal", seed=seed + 3),
        data.RandomBrightnessScale(a["brightness_range"], value_range=(0, 255), seed=seed + 4),
    ], name="four_layers")


def seconds_per_epoch(block, photos: np.ndarray, batch_size: int, repeats: int) -> float:
    """Median seconds to augment every photo once, batch by batch, in a tf.data map as the pipeline does."""
    ds = (tf.data.Dataset.from_tensor_slices(photos).batch(batch_size)
          .map(lambda x: block(tf.cast(x, tf.float32), training=True), num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE).with_options(data.pipeline_options()))
    for _ in ds:  # trace once
        pass
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in ds:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=500, help="photos per epoch (the built-in set: 500)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (the series: 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, help="RESULTS.md to write (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    photos = np.random.default_rng(0).integers(0, 256, (args.photos, args.size, args.size, 3), dtype=np.uint8)
    old = seconds_per_epoch(four_layers(), photos, args.batch_size, args.repeats)
    new = seconds_per_epoch(data.augmentation_block(seed=0), photos, args.batch_size, args.repeats)
    body = (f"| augmentation | s per epoch ({args.photos} photos, {args.size} px, batch {args.batch_size}) "
            "| speed-up |\n"
            f"|---|---|---|\n| Keras' four geometric layers + brightness | {old:.2f} | 1.00x |\n"
            f"| `data.RandomGeometry` (one resampling) + brightness | {new:.2f} | {old / new:.2f}x |\n\n"
            f"Median of {args.repeats} passes each, after one pass to trace; random photos (the cost does not depend "
            "on their content). The series trains eight augmented networks for up to 50 epochs each, so every second "
            "per epoch here is minutes per series.")
    print(body)
    kwargs = {"results": args.results} if args.results else {}
    command = "python benchmarks/augmentation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_section("augmentation", "Augmentation: one geometric resampling instead of four", body,
                  command=command.strip(), **kwargs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

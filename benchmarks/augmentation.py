"""The training pipeline's augmentation: one combined geometric resampling against Keras' four layers in a row.

`data.augmentation_block` is the write-up's ImageDataGenerator settings (rotation ±20°, shifts 0.2, zoom 0.1,
horizontal flip, brightness 0.5-1.5). Written as Keras' RandomRotation, RandomTranslation, RandomZoom and RandomFlip,
every batch is resampled four times; `data.RandomGeometry` composes the four into one affine matrix per image and
resamples once, with OpenCV's warpAffine rather than TensorFlow's ImageProjectiveTransformV3 kernel (Keras' own).
All three run here side by side, in one process, as the training pipeline runs them (a tf.data map over batches of
photos), and the script prints seconds per epoch of photos and their ratio. With ``--train-model N`` it also trains
row N of the model table on ``--data-dir`` with either resampler, alternating, and reports seconds per training
epoch: what the augmentation costs while the training step needs the same cores.

    python benchmarks/augmentation.py [--photos 500] [--size 128] [--repeats 5] [--train-model 3 --data-dir data]
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


SERIES_BLOCK = data.augmentation_block  # kept: training_epochs swaps the module's name for a while


class TensorFlowKernelGeometry(data.RandomGeometry):
    """RandomGeometry resampling with Keras' own kernel (TensorFlow's ImageProjectiveTransformV3), as before."""

    def _transform_images(self, images, transformation, interpolation):
        return keras.layers.RandomRotation._transform_images(self, images, transformation, interpolation)


def one_resampling(seed: int = 0, opencv: bool = True) -> keras.Sequential:
    """``data.augmentation_block`` with its geometry resampled by OpenCV (the series) or by TensorFlow's kernel."""
    block = SERIES_BLOCK(seed=seed)
    if opencv:
        return block
    geometry, *rest = block.layers
    kernel = TensorFlowKernelGeometry.from_config(geometry.get_config())
    return keras.Sequential([keras.Input(shape=(None, None, 3)), kernel, *rest], name="tensorflow_kernel")


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


def training_epochs(number: int, data_dir: Path, epochs: int, rounds: int, precision=None) -> tuple[str, bool]:
    """Row ``number`` of the model table trained with each resampler, alternating, ``rounds`` times: a Markdown
    table of seconds per training epoch (median after the first epoch, median of rounds) and whether every round
    of one resampler repeated its first (the pipeline is seeded, so it must)."""
    from steps_per_call import train

    from toyrobot_utils.modelling import devices, models
    from toyrobot_utils.modelling import precision as precision_

    decision = precision_.use(precision)  # None: as setup() chooses on this machine
    spec = models.MODEL_TABLE[number]
    builders = {"TensorFlow's kernel": lambda seed=None: one_resampling(seed, opencv=False),
                "OpenCV": SERIES_BLOCK}
    medians = {name: [] for name in builders}
    histories = {name: [] for name in builders}
    try:
        for _ in range(rounds):
            for name, builder in builders.items():
                data.augmentation_block = builder  # the pipeline builds its block through this name
                seconds, history, photos = train(spec, data_dir, devices.STEPS_PER_EXECUTION, epochs, seed=42)
                medians[name].append(statistics.median(seconds[1:] or seconds))
                histories[name].append(history)
    finally:
        data.augmentation_block = SERIES_BLOCK
    repeatable = all(h == runs[0] for runs in histories.values() for h in runs)
    old, new = (statistics.median(medians[name]) for name in builders)
    table = "\n".join([
        f"| model {number} ({spec.name}), {decision.precision} | s per training epoch | speed-up |", "|---|---|---|",
        f"| RandomGeometry with TensorFlow's kernel | {old:.2f} | 1.00x |",
        f"| RandomGeometry with OpenCV (the series) | {new:.2f} | {old / new:.2f}x |", "",
        f"Training on `{data_dir.name}/` ({photos} photos, batch 32, validation every epoch), {epochs} epochs per "
        f"training, {rounds} rounds alternating; every round of each resampler repeated its first: "
        f"{'yes' if repeatable else 'NO'}. Rounds: "
        + "; ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(*medians.values())) + "."])
    return table, repeatable


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=500, help="photos per epoch (the built-in set: 500)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (the series: 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-model", type=int, help="also train this row of the model table both ways")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per training (--train-model)")
    parser.add_argument("--rounds", type=int, default=2, help="trainings per resampler (--train-model)")
    parser.add_argument("--precision", default=None, help="--train-model: auto (default), float32, mixed_bfloat16")
    parser.add_argument("--results", type=Path, help="RESULTS.md to write (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    photos = np.random.default_rng(0).integers(0, 256, (args.photos, args.size, args.size, 3), dtype=np.uint8)
    old = seconds_per_epoch(four_layers(), photos, args.batch_size, args.repeats)
    kernel = seconds_per_epoch(one_resampling(opencv=False), photos, args.batch_size, args.repeats)
    new = seconds_per_epoch(one_resampling(), photos, args.batch_size, args.repeats)
    body = (f"| augmentation | s per epoch ({args.photos} photos, {args.size} px, batch {args.batch_size}) "
            "| speed-up |\n"
            f"|---|---|---|\n| Keras' four geometric layers + brightness | {old:.2f} | 1.00x |\n"
            f"| `data.RandomGeometry` (one resampling, TensorFlow's kernel) + brightness | {kernel:.2f} "
            f"| {old / kernel:.2f}x |\n"
            f"| `data.RandomGeometry` (one resampling, OpenCV: the series) + brightness | {new:.2f} "
            f"| {old / new:.2f}x |\n\n"
            f"Median of {args.repeats} passes each, after one pass to trace; random photos (the cost does not depend "
            "on their content). The series trains eight augmented networks for up to 80 epochs each, so every second "
            "per epoch here is minutes per series.")
    repeatable = True
    if args.train_model is not None:
        table, repeatable = training_epochs(args.train_model, args.data_dir, args.epochs, args.rounds,
                                            args.precision)
        body += "\n\n" + table
    print(body)
    kwargs = {"results": args.results} if args.results else {}
    command = "python benchmarks/augmentation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_section("augmentation", "Augmentation: one geometric resampling instead of four", body,
                  command=command.strip(), **kwargs)
    return 0 if repeatable else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Which devices the series trains on: the CPU by default, one GPU when TensorFlow sees one, every GPU when it sees
several.

With more than one GPU, ``use_all_gpus`` makes ``tf.distribute.MirroredStrategy`` TensorFlow's default strategy
(``tf.distribute.experimental_set_strategy``), so every network the notebooks build afterwards has its variables
mirrored on all GPUs and ``model.fit`` splits each batch between them — without a ``with strategy.scope():`` block in
every notebook. The batch size stays the global one (32 photos a step, as in the write-up), so results compare with a
single device's; only the time per epoch changes.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def describe(strategy: tf.distribute.Strategy | None = None) -> str:
    """One line for the notebook: where training runs."""
    strategy = strategy or tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        return f"training on {replicas} devices with {type(strategy).__name__} (a batch is split between them)"
    if gpus:
        return f"training on the GPU ({gpus[0].name})"
    return "training on the CPU (no GPU visible to TensorFlow; `make setup GPU=1` installs its CUDA build)"


def use_all_gpus(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Make a MirroredStrategy over ``devices`` (default: every visible GPU) TensorFlow's default strategy when there
    are two or more; otherwise leave the default (one GPU, or the CPU) alone. Call it before building any network.
    Returns the strategy in effect."""
    if devices is None:
        devices = [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]
    current = tf.distribute.get_strategy()
    if len(devices) < 2 or current.num_replicas_in_sync > 1:
        return current
    strategy = tf.distribute.MirroredStrategy(list(devices))
    tf.distribute.experimental_set_strategy(strategy)
    return strategy


__all__ = ["describe", "use_all_gpus"]

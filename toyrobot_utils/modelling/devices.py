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

import keras
import tensorflow as tf

# Batches Keras runs per call of its compiled training step (``steps_per_execution``): one call per epoch of the
# built-in set (500 photos, batch 32), instead of one per batch. The same batches in the same order with the same
# random streams, so the same weights and histories to the last digit (tests/test_training.py checks it); only the
# Python round trip per batch goes: benchmarks/RESULTS.md, "Steps per call".
STEPS_PER_EXECUTION = 16


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


def steps_per_call() -> int:
    """``STEPS_PER_EXECUTION``, or 1 under a multi-device strategy (Keras 3.15's several-step loop fails there:
    "You must feed a value for placeholder tensor", tests/test_devices.py)."""
    return 1 if tf.distribute.get_strategy().num_replicas_in_sync > 1 else STEPS_PER_EXECUTION


def batches_per_call(model: keras.Model, steps: int | None = None) -> keras.Model:
    """Let a compiled ``model`` run ``steps`` (default ``steps_per_call()``) batches per call from now on (a network
    compiled the write-up's way, ``model.compile(optimizer="adam", ...)``, runs one). Keras builds its step functions
    for the value they were traced with, so the built ones are dropped: the next fit, evaluate or predict traces them
    again. Callbacks' per-batch hooks then run once per call."""
    steps = steps_per_call() if steps is None else steps
    if getattr(model, "steps_per_execution", steps) != steps:
        model.steps_per_execution = steps
        model.train_function = model.test_function = model.predict_function = None
    return model


__all__ = ["STEPS_PER_EXECUTION", "batches_per_call", "describe", "steps_per_call", "use_all_gpus"]

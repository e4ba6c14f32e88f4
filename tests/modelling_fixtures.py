"""Tiny generated tasks for the modelling tests (models, training, evaluation, Grad-CAM, plots).

``planted_task`` draws a small square "toy" on a noisy background. With ``decider="object"`` only the toy's colour
tells the classes apart (backgrounds are drawn from one distribution for all classes); with
``decider="background"`` only the background's tint does (toys are drawn from one distribution). A network that
learns the task must look at the toy in the first case and at the background in the second — which is what the
Grad-CAM tests check with the object-focus score.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from PIL import Image

OBJECT_COLOURS = [(220, 40, 40), (40, 60, 220), (240, 220, 40)]  # class-deciding toy colours
BACKGROUND_TINTS = [(60, 150, 70), (150, 70, 150), (70, 120, 170)]  # class-deciding background tints
NEUTRAL_TOYS = [(250, 250, 250), (20, 20, 20), (40, 220, 220), (240, 140, 20)]  # toys of every class (background task)


def planted_task(n_per_class: int, *, classes: int = 2, size: int = 48, toy: int = 14, decider: str = "object",
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, size, size, 3], labels int [N], masks uint8 [N, size, size] with 255 on the toy)."""
    if decider not in ("object", "background"):
        raise ValueError(decider)
    rng = np.random.default_rng(seed)
    n = n_per_class * classes
    labels = np.repeat(np.arange(classes), n_per_class)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i, label in enumerate(labels):
        if decider == "object":
            base = np.full(3, rng.uniform(70, 190))  # grey of any level, the same for every class
            toy_colour = np.array(OBJECT_COLOURS[label], float)
        else:
            base = np.array(BACKGROUND_TINTS[label], float)
            toy_colour = np.array(NEUTRAL_TOYS[rng.integers(len(NEUTRAL_TOYS))], float)
        img = base + rng.normal(0, 25, (size, size, 3))
        y, x = rng.integers(0, size - toy, 2)
        img[y:y + toy, x:x + toy] = toy_colour + rng.normal(0, 10, (toy, toy, 3))
        masks[i, y:y + toy, x:x + toy] = 255
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, labels, masks


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def arrays_dataset(images: np.ndarray, labels: np.ndarray, classes: int, *, batch_size: int = 16,
                   shuffle: bool = False, seed: int = 0):
    """A tf.data dataset of (images / 255, one-hot labels), like the data module's "rescale" pipeline."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images.astype(np.float32) / 255.0, one_hot(labels, classes)))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def write_split(root: Path, split: str, images: np.ndarray, labels: np.ndarray, class_names, masks=None,
                ext: str = ".png") -> list[Path]:
    """Write images as ``root/<split>/<class>/<class>_NNN<ext>`` (and masks as ``root/masks/<split>/<class>/
    <stem>.png``, the built-in data set's layout); returns the files in order."""
    files = []
    for i, (img, label) in enumerate(zip(images, labels)):
        cls = class_names[int(label)]
        path = Path(root) / split / cls / f"{cls}_{i:03d}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path, **({"quality": 95} if ext == ".jpg" else {}))
        if masks is not None:
            mask_path = Path(root) / "masks" / split / cls / f"{path.stem}.png"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(masks[i]).save(mask_path)
        files.append(path)
    return files


def tiny_trained_runs(root: Path, runs: dict, class_names, *, train_per_class: int = 8, epochs: int = 1,
                      **fit_kwargs) -> dict:
    """A tiny series on disk, as the notebooks leave it: planted data (``root/data``: training, and test with toy
    masks) and one small conv net per ``runs`` entry (run name -> its record's settings) trained and saved under
    ``root/models``. Returns the ``training.RunResult`` of each name."""
    from toyrobot_utils.modelling import models, training

    classes = len(class_names)
    x, y, _ = planted_task(train_per_class, classes=classes, size=40, toy=12, seed=1)
    xt, yt, mt = planted_task(3, classes=classes, size=40, toy=12, seed=2)
    write_split(root / "data", "training", x[::3], y[::3], class_names)
    write_split(root / "data", "test", xt, yt, class_names, masks=mt)
    results = {}
    for name, settings in runs.items():
        training.seed_everything(0)
        model = models.build_conv_net(classes, (40, 40), filters=(4, 8), dense=8)
        results[name] = training.fit(model, arrays_dataset(x, y, classes), arrays_dataset(xt, yt, classes), name=name,
                                     epochs=epochs, models_dir=root / "models", verbose=0,
                                     class_names=list(class_names), settings={"image_size": [40, 40], **settings},
                                     **fit_kwargs)
    return results


def tiny_gap_model(classes: int = 2, size: int = 48, seed: int = 0):
    """Two small conv layers, global average pooling, Dense + softmax Activation: learns the planted tasks in a few
    epochs and has a write-up-style softmax layer (logits as its input)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv_b")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(classes, name="output")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _interrupt_at():
    import keras

    class InterruptAt(keras.callbacks.Callback):
        """Ctrl-C at the start of epoch ``epoch`` (0-based), after the earlier epochs finished: an interrupted run."""

        def __init__(self, epoch):
            super().__init__()
            self.epoch = epoch

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == self.epoch:
                raise KeyboardInterrupt

    return InterruptAt


InterruptAt = _interrupt_at()

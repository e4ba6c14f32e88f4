"""The tf.data pipelines of the series: ``data/<split>/<class>/`` in, batches of (images, one-hot labels) out.

Same defaults as the write-up's ``ImageDataGenerator(rescale=1/255).flow_from_directory(...)`` (128x128 RGB,
batch 32, pixels 0-1, classes from the sorted folder names), but:

- every photo is decoded once (upright from EXIF, any mode -> RGB, JPEG draft mode) in parallel into an in-memory
  uint8 cache, so later epochs cost no decoding at all;
- only files the audit accepted are read, so a broken file can never stop training mid-epoch;
- class indices are checked to be identical in every split (a mismatch raises instead of relabelling);
- shuffling is seeded (reshuffled each epoch, the same sequence every run); augmentation runs on whole batches;
- tf.data's autotuning is switched off (``pipeline_options``): on a 2-core CPU its background tuning made whole
  stretches of epochs take twice as long, with the same batches (``benchmarks/input_pipeline.py`` measures it).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import keras
import numpy as np
import tensorflow as tf

from toyrobot_utils import config, images
from toyrobot_utils.audit import AuditReport, DataSetError, audit, worker_threads

AUTOTUNE = tf.data.AUTOTUNE


def pipeline_options() -> tf.data.Options:
    """Options for every training pipeline of the series: autotuning off. Its optimiser runs in the background and
    keeps re-sizing thread pools and buffers; on a small CPU that competes with the training step itself, and on
    2 cores epochs then took 2x as long, in stretches, while the same pipeline without it ran as fast as tensors fed
    straight from memory. The batches are bit-identical either way (the order and the seeded augmentation do not
    depend on it); ``AUTOTUNE`` parallelism and buffer sizes fall back to fixed defaults."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


# The write-up's augmentation (ImageDataGenerator arguments), mirrored by augmentation_block().
AUGMENTATION = {
    "rotation_range": 20,  # degrees, either way
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "zoom_range": 0.1,
    "horizontal_flip": True,
    "brightness_range": (0.5, 1.5),
    "fill_mode": "nearest",
}

# Short names some callers use for keras.applications modules.
_APPLICATION_ALIASES = {
    "mobilenetv2": "mobilenet_v2",
    "mobilenetv3": "mobilenet_v3",
    "resnet50v2": "resnet_v2",
    "resnetv2": "resnet_v2",
    "inceptionv3": "inception_v3",
    "inceptionresnetv2": "inception_resnet_v2",
    "efficientnetv2": "efficientnet_v2",
}


@dataclass
class SplitData:
    """One split: its files and labels in dataset order, and the ready-to-fit ``tf.data`` pipeline."""

    name: str
    files: list[Path]
    labels: np.ndarray
    class_names: list[str]
    dataset: tf.data.Dataset
    report: AuditReport | None = field(default=None, repr=False)  # the audit the split was built from

    def __len__(self) -> int:
        return len(self.files)

    @property
    def class_indices(self) -> dict[str, int]:
        return class_indices(self)


def class_indices(split_data: SplitData) -> dict[str, int]:
    """``{'bananagrams': 0, 'brios': 1, ...}``, like Keras' ``flow_from_directory(...).class_indices``."""
    return {name: i for i, name in enumerate(split_data.class_names)}


# --- preprocessing and augmentation ----------------------------------------------------------------------------


def preprocessing_fn(preprocessing="rescale") -> Callable:
    """The function that turns float 0..255 images into what a model expects.

    ``"rescale"`` (the write-up's ``rescale=1/255``) gives 0..1; the name of a ``keras.applications`` module
    (``"mobilenet_v2"``, ``"vgg16"``, ``"resnet50"``...) gives that network's own ``preprocess_input``; a callable
    is used as it is; ``None`` (or ``"none"``) leaves the 0..255 values alone.
    """
    if preprocessing is None:
        fn = _identity
    elif callable(preprocessing):
        return preprocessing
    elif isinstance(preprocessing, str):
        key = preprocessing.strip().lower().replace("-", "_")
        key = _APPLICATION_ALIASES.get(key.replace("_", ""), key)
        if key in ("rescale", "rescale_1/255", "0_1"):
            fn = _rescale
        elif key in ("none", "identity", "raw"):
            fn = _identity
        else:
            module = getattr(keras.applications, key, None)
            fn = getattr(module, "preprocess_input", None)
            if fn is None:
                raise ValueError(
                    f"unknown preprocessing {preprocessing!r}: use 'rescale', None, a callable, or the name of a "
                    "keras.applications module such as 'mobilenet_v2', 'vgg16', 'resnet50', 'efficientnet'"
                )
    else:
        raise TypeError(f"preprocessing must be a name, a callable or None, not {type(preprocessing).__name__}")

    def preprocess(images_0_255):
        # A float32 tensor in, always: keras.applications' numpy path would otherwise modify arrays in place.
        return fn(tf.cast(images_0_255, tf.float32))

    preprocess.__name__ = getattr(fn, "__name__", "preprocess")
    preprocess.__doc__ = f"{preprocessing!r} preprocessing of float 0..255 images"
    return preprocess


def _rescale(x):
    return x * (1.0 / 255.0)


def _identity(x):
    return x


@keras.saving.register_keras_serializable(package="toyrobot_utils")
class RandomBrightnessScale(keras.layers.RandomBrightness):
    """Multiply each image by a random factor in ``factor`` (lower, upper), clipped to ``value_range``.

    This is ImageDataGenerator's ``brightness_range`` (PIL's ``ImageEnhance.Brightness``: black stays black, a
    factor of 1.5 makes everything half as bright again). ``keras.layers.RandomBrightness`` instead *adds* an
    offset, which washes dark photos out to grey, so the write-up's setting needs this small subclass.
    """

    _FACTOR_BOUNDS = (0.0, math.inf)

    def __init__(self, factor=(0.5, 1.5), value_range=(0, 255), seed=None, **kwargs):
        if not isinstance(factor, (tuple, list)) or len(factor) != 2:
            raise ValueError(f"factor must be (lower, upper) multipliers such as (0.5, 1.5), not {factor!r}")
        super().__init__(factor=tuple(factor), value_range=value_range, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        images_ = data["images"] if isinstance(data, dict) else data
        shape = self.backend.shape(images_)
        scale_shape = (1, 1, 1) if len(shape) == 3 else (shape[0], 1, 1, 1)
        if not training:
            return {"scale": self.backend.numpy.ones(scale_shape)}
        if seed is None:
            seed = self._seed_generator()
        scale = self.backend.random.uniform(
            minval=self.factor[0], maxval=self.factor[1], shape=scale_shape, seed=seed
        )
        return {"scale": scale}

    def _seed_generator(self):
        """The layer's own seed generator for the backend it runs on, as every Keras random image layer draws from.

        Keras 3 (checked up to 3.15) has no public accessor: its own layers call ``self._get_seed_generator(
        self.backend._backend)``, and so does this one, so that ``seed=`` repeats the same draws inside a tf.data
        pipeline (where the layer runs on the TensorFlow backend) as outside. If a Keras upgrade renames either, the
        pipeline's augmentation fails with an AttributeError here; tests/test_library_internals.py says so first."""
        return self._get_seed_generator(self.backend._backend)

    def transform_images(self, images_, transformation, training=True):
        images_ = self.backend.cast(images_, self.compute_dtype)
        if not training:
            return images_
        low, high = self.value_range
        scale = self.backend.cast(transformation["scale"], images_.dtype)
        return self.backend.numpy.clip(low + (images_ - low) * scale, low, high)


@keras.saving.register_keras_serializable(package="toyrobot_utils")
class RandomGeometry(keras.layers.RandomRotation):
    """The write-up's geometric augmentation in one resampling: rotation by up to ``rotation`` degrees either way,
    shifts of up to ``shift`` (height, width) of the image, zoom by 1 ± ``zoom`` (height, width, independently, as
    ImageDataGenerator's ``zoom_range``) and a horizontal flip half of the time, composed into one affine matrix per
    image. Keras' RandomRotation, RandomTranslation, RandomZoom and RandomFlip in a row draw the same kinds of
    transforms but resample the batch four times: on 2 CPU cores 0.52 s per epoch of the built-in set against 0.14 s
    (one resampling, by OpenCV), on the same cores the training step needs (benchmarks/RESULTS.md, "Augmentation").
    One resampling is also sharper: no interpolation on top of interpolation. Built on RandomRotation, whose random
    draws and tf.data support it reuses; the resampling itself is OpenCV's (``_transform_images``)."""

    def __init__(self, rotation=20.0, shift=(0.2, 0.2), zoom=(0.1, 0.1), flip=True, fill_mode="nearest",
                 interpolation="bilinear", seed=None, **kwargs):
        super().__init__(factor=float(rotation) / 360.0, fill_mode=fill_mode, interpolation=interpolation,
                         seed=seed, **kwargs)
        self.rotation, self.shift, self.zoom, self.flip = float(rotation), tuple(shift), tuple(zoom), bool(flip)

    @staticmethod
    def matrix(ops, angle, shift_y, shift_x, zoom_y, zoom_x, flip, height, width):
        """Keras' 8-number projective transforms (output pixel -> input pixel), one row per image, for rotation
        ``angle`` (degrees), shifts (pixels), zooms (factors) and ``flip`` (-1 flips, 1 does not): the four
        layers' mappings composed, about the image centre."""
        theta = angle * (math.pi / 180.0)
        cos, sin = ops.numpy.cos(theta), ops.numpy.sin(theta)
        a0, a1 = cos * zoom_x * flip, -sin * zoom_y
        b0, b1 = sin * zoom_x * flip, cos * zoom_y
        cx, cy = 0.5 * (ops.cast(width, angle.dtype) - 1.0), 0.5 * (ops.cast(height, angle.dtype) - 1.0)
        a2 = cx - a0 * cx - a1 * cy - (cos * shift_x - sin * shift_y)
        b2 = cy - b0 * cx - b1 * cy - (sin * shift_x + cos * shift_y)
        zeros = ops.numpy.zeros_like(angle)
        return ops.numpy.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        ops = self.backend
        images_ = data["images"] if isinstance(data, dict) else data
        shape = ops.core.shape(images_)
        batch, height, width = (shape[0], shape[1], shape[2]) if len(shape) == 4 else (1, shape[0], shape[1])
        seed = seed if seed is not None else self._get_seed_generator(ops._backend)  # see RandomBrightnessScale

        def uniform(low, high):
            return ops.random.uniform(shape=(batch,), minval=low, maxval=high, seed=seed)

        h, w = ops.cast(height, "float32"), ops.cast(width, "float32")
        flip = ops.numpy.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.numpy.ones((batch,))
        matrix = self.matrix(ops, uniform(-self.rotation, self.rotation),
                             uniform(-self.shift[0], self.shift[0]) * h, uniform(-self.shift[1], self.shift[1]) * w,
                             uniform(1.0 - self.zoom[0], 1.0 + self.zoom[0]),
                             uniform(1.0 - self.zoom[1], 1.0 + self.zoom[1]), flip, height, width)
        if len(shape) == 3:
            matrix = ops.numpy.squeeze(matrix, axis=0)
        return {"rotation_matrix": matrix, "image_height": height, "image_width": width, "batch_size": batch}

    def _transform_images(self, images_, transformation, interpolation):
        """OpenCV's ``warpAffine`` where it computes what Keras' kernel does (TensorFlow, channels last, "nearest"
        or "constant" fill, bilinear or nearest): TensorFlow's ImageProjectiveTransformV3 is an unvectorised loop
        that took a fifth of every augmented epoch's CPU time here, OpenCV the same warp in a fifth of its time
        (benchmarks/augmentation.py; the two agree to ~0.01 of 255). Anything else goes to Keras' kernel."""
        border = {"nearest": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}.get(self.fill_mode)
        if (self.backend.name != "tensorflow" or border is None or self.data_format != "channels_last"
                or interpolation not in WARP_INTERPOLATIONS):
            return super()._transform_images(images_, transformation, interpolation)
        return warp_affine(images_, transformation["rotation_matrix"], interpolation=interpolation, border=border,
                           fill_value=self.fill_value)

    def transform_bounding_boxes(self, *args, **kwargs):
        raise NotImplementedError("RandomGeometry augments images only")

    def get_config(self):
        config_ = super().get_config()
        config_.pop("factor", None)
        return {**config_, "rotation": self.rotation, "shift": list(self.shift), "zoom": list(self.zoom),
                "flip": self.flip}


WARP_INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def warp_affine(images_, transforms, *, interpolation="bilinear", border=cv2.BORDER_REPLICATE, fill_value=0.0):
    """Keras' affine resampling (``keras.ops.image.affine_transform``: 8 numbers per image, output pixel -> input
    pixel) done by OpenCV inside the graph (``tf.numpy_function``), for a batch or a single image, in its dtype."""
    images_ = tf.convert_to_tensor(images_)
    dtype, single = images_.dtype, images_.shape.rank == 3
    batch = tf.cast(images_[None] if single else images_, tf.float32)
    matrices = tf.reshape(tf.cast(transforms, tf.float32), (-1, 8))[:, :6]
    flags = WARP_INTERPOLATIONS[interpolation] | cv2.WARP_INVERSE_MAP  # the matrix maps output to input, as Keras'

    def warp(arrays, rows):
        out = np.empty_like(arrays)
        for i, (image, row) in enumerate(zip(arrays, rows)):
            height, width = image.shape[:2]
            warped = cv2.warpAffine(image, row.reshape(2, 3), (width, height), flags=flags, borderMode=border,
                                    borderValue=(float(fill_value),) * 4)
            out[i] = warped.reshape(image.shape)  # OpenCV drops a last axis of 1
        return out

    warped = tf.numpy_function(warp, [batch, matrices], tf.float32, stateful=False)
    warped = tf.cast(tf.ensure_shape(warped, batch.shape), dtype)
    return warped[0] if single else warped


def augmentation_block(seed=None) -> keras.Sequential:
    """Random rotation ±20°, shifts 0.2, zoom 0.1, horizontal flip (one resampling: ``RandomGeometry``), brightness
    0.5-1.5, "nearest" fill.

    The write-up's ImageDataGenerator settings as Keras preprocessing layers. It works on float 0..255 images
    (apply it before the preprocessing), on single images or batches, and is the identity unless called with
    ``training=True`` -- so it can also sit at the start of a model.
    """
    a = AUGMENTATION

    def layer_seed(i):
        return None if seed is None else int(seed) + i  # distinct streams, still reproducible

    fill = a["fill_mode"]
    return keras.Sequential(
        [
            keras.Input(shape=(None, None, 3)),
            RandomGeometry(a["rotation_range"], (a["height_shift_range"], a["width_shift_range"]),
                           (a["zoom_range"], a["zoom_range"]), flip=a["horizontal_flip"], fill_mode=fill,
                           seed=layer_seed(0)),
            RandomBrightnessScale(a["brightness_range"], value_range=(0, 255), seed=layer_seed(4)),
        ],
        name="augmentation",
    )


# --- what a split is made of -----------------------------------------------------------------------------------


def dataset_of(data):
    """The ``tf.data`` pipeline of a ``SplitData``; anything else (a dataset, arrays) as it is, for ``model.fit``."""
    return getattr(data, "dataset", data)


def class_names_of(data, class_names=None) -> list[str] | None:
    """``class_names`` when given, else the class names a ``SplitData`` carries; None for a plain dataset."""
    if class_names is not None:
        return list(class_names)
    names = getattr(data, "class_names", None)
    return list(names) if names is not None else None


# --- decoding ---------------------------------------------------------------------------------------------------


def _decode_all(files, image_size, cache: dict | None = None) -> np.ndarray:
    """Decode ``files`` in parallel (threads: Pillow releases the GIL while decoding) into one uint8 array."""
    image_size = tuple(int(s) for s in image_size)
    height, width = image_size
    out = np.empty((len(files), height, width, 3), dtype=np.uint8)

    def decode(i):
        path = Path(files[i])
        cached = cache.pop((path, image_size), None) if cache is not None else None
        if cached is None:
            try:
                cached = images.load_array(path, image_size)
            except Exception as err:  # noqa: BLE001
                raise DataSetError(
                    f"could not read {path} ({err}). If the data folder changed since the audit, run "
                    "`python -m toyrobot_utils audit` again; otherwise move the file out of the folder."
                ) from err
        out[i] = cached

    if len(files):
        with ThreadPoolExecutor(max_workers=worker_threads()) as pool:
            list(pool.map(decode, range(len(files))))
    return out


def _pipeline(images_u8, labels_onehot, *, batch_size, preprocessing, augment=False, shuffle=False, seed=None):
    """cache (in memory) -> seeded shuffle -> batch -> float -> augmentation -> preprocessing -> prefetch."""
    preprocess = preprocessing_fn(preprocessing)
    tensors = images_u8 if labels_onehot is None else (images_u8, labels_onehot)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(images_u8), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        block = augmentation_block(seed)

        def augment_fn(x):
            return block(tf.cast(x, tf.float32), training=True)

    else:

        def augment_fn(x):
            return tf.cast(x, tf.float32)

    if labels_onehot is None:
        ds = ds.map(lambda x: preprocess(augment_fn(x)), num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (preprocess(augment_fn(x)), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE).with_options(pipeline_options())


# --- public loaders ---------------------------------------------------------------------------------------------


def load_split(
    data_dir,
    split,
    *,
    image_size=config.IMAGE_SIZE,
    batch_size=config.BATCH_SIZE,
    preprocessing="rescale",
    augment=False,
    shuffle=None,
    seed=config.SEED,
    report: AuditReport | None = None,
) -> SplitData:
    """Build one split's pipeline from the files the audit accepted.

    ``shuffle`` defaults to True for "training" only, so validation/test batches follow ``files`` (predictions line
    up with file names). Without a ``report`` the split is audited together with "training", which defines the
    classes. ``image_size`` is (height, width); MobileNetV2 wants ``image_size=(224, 224),
    preprocessing="mobilenet_v2"``.
    """
    image_size = tuple(int(s) for s in image_size)
    if report is None:
        splits = tuple(dict.fromkeys(("training", split)))
        report = audit(data_dir, splits, check_duplicates=False, array_size=image_size)
    elif split not in report.splits:
        raise ValueError(f"the audit report covers the splits {list(report.splits)}, not {split!r}")
    elif report.data_dir is not None and Path(report.data_dir).resolve() != Path(data_dir).resolve():
        raise ValueError(f"the audit report is for {report.data_dir}, not {data_dir}; audit {data_dir} instead")
    usable = report.usable_files(split)
    files = [f for f, _ in usable]
    labels = np.array([label for _, label in usable], dtype=np.int64)
    n_classes = len(report.class_names)
    arrays = _decode_all(files, image_size, report.decoded)
    onehot = np.eye(n_classes, dtype=np.float32)[labels]
    if shuffle is None:
        shuffle = split == "training"
    dataset = _pipeline(
        arrays, onehot, batch_size=batch_size, preprocessing=preprocessing, augment=augment, shuffle=shuffle,
        seed=seed,
    )
    return SplitData(split, files, labels, list(report.class_names), dataset, report)


def load_datasets(
    data_dir=config.DATA_DIR,
    *,
    image_size=config.IMAGE_SIZE,
    batch_size=config.BATCH_SIZE,
    preprocessing="rescale",
    augment=False,
    seed=config.SEED,
    verbose=True,
) -> dict[str, SplitData]:
    """Audit ``data_dir`` once and build the training, validation and test pipelines (``augment``: training only).

    Prints each split's class indices the way the write-up does, then the audit's warnings and skipped files.
    """
    image_size = tuple(int(s) for s in image_size)
    report = audit(data_dir, config.SPLITS, check_duplicates=True, array_size=image_size)
    result = {}
    for split in config.SPLITS:
        result[split] = load_split(
            data_dir, split, image_size=image_size, batch_size=batch_size, preprocessing=preprocessing,
            augment=augment and split == "training", seed=seed, report=report,
        )
    report.decoded.clear()
    if verbose:
        for split, data in result.items():
            print(f"Found {len(data)} images belonging to {len(data.class_names)} classes ({split}).")
        for data in result.values():
            print(class_indices(data))
        for warning in report.warnings:
            print(f"Warning: {warning}")
    return result


def augmented_copies(split: SplitData, copies: int, *, image_size, preprocessing="rescale",
                     batch_size=config.BATCH_SIZE, seed=config.SEED) -> tf.data.Dataset:
    """A split's photos once as they are, then ``copies`` more times through the write-up's augmentation
    (``augmentation_block``, a different seeded draw for every copy), as one unshuffled pipeline of (images, one-hot
    labels): ``(1 + copies) * len(split)`` examples, for computing a frozen base's features of augmented photos once
    (``transfer.fit_frozen``)."""
    arrays = _decode_all(split.files, tuple(int(s) for s in image_size))
    onehot = np.eye(len(split.class_names), dtype=np.float32)[np.asarray(split.labels, dtype=np.int64)]
    dataset = _pipeline(arrays, onehot, batch_size=batch_size, preprocessing=preprocessing)
    for copy in range(1, int(copies) + 1):
        dataset = dataset.concatenate(_pipeline(arrays, onehot, batch_size=batch_size, preprocessing=preprocessing,
                                                augment=True, seed=int(seed) + 101 * copy))
    return dataset


def files_dataset(files, *, image_size=config.IMAGE_SIZE, batch_size=config.BATCH_SIZE, preprocessing="rescale"):
    """Batches of images only, in the order of ``files``: for predictions and Grad-CAM, same reading as training."""
    files = _as_list(files)
    arrays = _decode_all(files, image_size)
    return _pipeline(arrays, None, batch_size=batch_size, preprocessing=preprocessing)


def load_batch(files, *, image_size=config.IMAGE_SIZE, preprocessing="rescale") -> np.ndarray:
    """``files`` (or one file) as one preprocessed float32 array [N, H, W, 3], exactly as the pipeline feeds them."""
    arrays = _decode_all(_as_list(files), image_size)
    return np.asarray(preprocessing_fn(preprocessing)(tf.convert_to_tensor(arrays)), dtype=np.float32)


def _as_list(files) -> list[Path]:
    if isinstance(files, (str, Path)):
        return [Path(files)]
    return [Path(f) for f in files]

"""data.py: shapes, dtypes, value ranges and class indices of the pipelines; seeded shuffling; augmentation on
training only; the audit's verdicts keep bad files out; and one real pass over the clothing5 phone photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from toyrobot_utils import config, data
from toyrobot_utils.audit import DataSetError, audit
from toyrobot_utils.data import SplitData, class_indices, load_batch, load_datasets, load_split

from conftest import CLASSES, truncate, write_image

SMALL = (32, 32)


def collect(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture
def splits(tiny_dataset, capsys) -> dict[str, SplitData]:
    result = load_datasets(tiny_dataset, image_size=SMALL, batch_size=5)
    capsys.readouterr()
    return result


def test_defaults_are_the_write_ups(tiny_dataset):
    train = load_split(tiny_dataset, "training")
    x, y = next(iter(train.dataset))
    assert x.shape == (12, 128, 128, 3) and x.dtype == tf.float32  # 12 photos < one batch of 32
    assert y.shape == (12, 3) and y.dtype == tf.float32
    assert train.dataset.element_spec[0].shape.as_list() == [None, 128, 128, 3]
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    assert float(tf.reduce_max(x)) > 0.5  # rescaled, not squashed to nothing


def test_load_datasets_shapes_labels_and_class_indices(splits, tiny_dataset):
    assert list(splits) == list(config.SPLITS)
    expected = {"bananagrams": 0, "brios": 1, "cars": 2}
    for name, split in splits.items():
        assert split.name == name and split.class_names == list(CLASSES)
        assert class_indices(split) == expected and split.class_indices == expected
        assert len(split.files) == len(split.labels) == {"training": 12, "validation": 6, "test": 6}[name]
        assert split.labels.dtype.kind == "i"
        assert list(split.labels) == sorted(split.labels)  # dataset order: by class, then file name
        assert all(f.parent.name == CLASSES[label] for f, label in zip(split.files, split.labels))
        batch_sizes = [int(x.shape[0]) for x, _ in split.dataset]
        assert batch_sizes[0] == 5 and sum(batch_sizes) == len(split.files)
        x, y = collect(split.dataset)
        assert x.dtype == np.float32 and x.shape[1:] == (32, 32, 3)
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert y.dtype == np.float32 and set(np.unique(y)) == {0.0, 1.0} and (y.sum(axis=1) == 1).all()
    # Unshuffled splits come in file order, so predictions line up with split.files.
    _, y = collect(splits["validation"].dataset)
    assert list(y.argmax(axis=1)) == list(splits["validation"].labels)


def test_class_indices_are_printed_like_the_write_up(tiny_dataset, capsys):
    load_datasets(tiny_dataset, image_size=SMALL)
    out = capsys.readouterr().out
    assert out.count("{'bananagrams': 0, 'brios': 1, 'cars': 2}") == 3
    assert "Found 12 images belonging to 3 classes (training)." in out


def test_mismatched_classes_raise_instead_of_relabelling(tiny_dataset):
    shutil.rmtree(tiny_dataset / "test" / "brios")
    with pytest.raises(DataSetError, match="missing 'brios'"):
        load_datasets(tiny_dataset, image_size=SMALL, verbose=False)
    with pytest.raises(DataSetError, match="missing 'brios'"):
        load_split(tiny_dataset, "test", image_size=SMALL)


def test_bad_files_are_left_out_and_training_runs(tiny_dataset, capsys):
    cars = tiny_dataset / "training" / "cars"
    truncate(write_image(cars / "cut.jpg", seed=500))
    (cars / "fake.jpg").write_text("text, not a photo")
    (cars / ".DS_Store").write_bytes(b"\x00Bud1")
    rotated = write_image(cars / "rotated.jpg", seed=501, exif_orientation=6)
    result = load_datasets(tiny_dataset, image_size=SMALL, batch_size=4)
    out = capsys.readouterr().out
    assert "cut.jpg" in out and "fake.jpg" in out  # the skips are shown, not hidden
    train = result["training"]
    names = [f.name for f in train.files]
    assert "cut.jpg" not in names and "fake.jpg" not in names and ".DS_Store" not in names
    assert rotated in train.files and len(train.files) == 13

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(
        train.dataset, validation_data=result["validation"].dataset, epochs=2, shuffle=False, verbose=0
    )
    assert len(history.history["loss"]) == 2


def test_shuffling_is_seeded_and_reshuffles_each_epoch(tiny_dataset):
    def epoch_orders(seed, epochs=2):
        """Each epoch's order of photos, told apart by their mean pixel value (all photos differ)."""
        split = load_split(tiny_dataset, "training", image_size=(16, 16), batch_size=32, seed=seed)
        return [tuple(np.round(collect(split.dataset)[0].mean(axis=(1, 2, 3)), 5)) for _ in range(epochs)]

    first, second = epoch_orders(1), epoch_orders(1)
    assert len(set(first[0])) == 12
    assert first == second  # same seed, same sequence of epochs, in a fresh pipeline
    assert first[0] != first[1]  # but a new order each epoch
    assert sorted(first[0]) == sorted(first[1])  # of the same images
    assert epoch_orders(2)[0] != first[0]
    unshuffled = load_split(tiny_dataset, "training", image_size=(16, 16), shuffle=False)
    _, y = collect(unshuffled.dataset)
    assert list(y.argmax(axis=1)) == list(unshuffled.labels)


AUGMENTED_EPOCHS_DIGEST = """
import hashlib, sys
import tensorflow as tf
from toyrobot_utils import data
from toyrobot_utils.modelling import training
training.seed_everything(3)  # as every notebook starts: a fresh process, seeded, deterministic ops
split = data.load_split(sys.argv[1], "training", image_size=(16, 16), batch_size=5, augment=True, seed=3)
assert split.dataset.options().autotune.enabled is False
dataset = split.dataset
if sys.argv[2] == "on":
    options = tf.data.Options()
    options.autotune.enabled = True
    dataset = dataset.with_options(options)
digest = hashlib.sha256()
for epoch in range(2):  # the reshuffle and the augmentation state of a second epoch too
    for x, y in dataset:
        digest.update(x.numpy().tobytes())
        digest.update(y.numpy().tobytes())
print("digest", digest.hexdigest())
"""


def test_autotuning_is_off_and_changes_no_batch(tiny_dataset):
    """tf.data's autotuning doubled epoch times in stretches on 2 cores (benchmarks/input_pipeline.py); switching it
    off must leave every batch as it was, augmentation included, so the results of earlier runs stay valid. Seeded
    runs repeat across processes (each notebook is one), so each variant runs in its own."""
    def digest(autotune):
        proc = subprocess.run([sys.executable, "-c", AUGMENTED_EPOCHS_DIGEST, str(tiny_dataset), autotune],
                              capture_output=True, text=True, timeout=300, cwd=config.PROJECT_ROOT,
                              env={**os.environ, "PYTHONPATH": str(config.PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [line for line in proc.stdout.splitlines() if line.startswith("digest")]

    off, on = digest("off"), digest("on")
    assert len(off) == 1 and off == on
    test_files = load_split(tiny_dataset, "test", image_size=(16, 16)).files
    assert data.files_dataset(test_files, image_size=(16, 16)).options().autotune.enabled is False


def test_load_split_without_report_matches_load_datasets(splits, tiny_dataset):
    alone = load_split(tiny_dataset, "test", image_size=SMALL, batch_size=5)
    assert alone.files == splits["test"].files and alone.class_names == splits["test"].class_names
    np.testing.assert_array_equal(collect(alone.dataset)[0], collect(splits["test"].dataset)[0])
    report = audit(tiny_dataset, check_duplicates=False)
    with_report = load_split(tiny_dataset, "validation", image_size=SMALL, report=report)
    assert with_report.files == splits["validation"].files


def test_mobilenet_preprocessing(tiny_dataset):
    split = load_split(tiny_dataset, "validation", image_size=(224, 224), preprocessing="mobilenet_v2")
    x, _ = next(iter(split.dataset))
    assert x.shape == (6, 224, 224, 3)
    assert float(tf.reduce_min(x)) >= -1.0 and float(tf.reduce_max(x)) <= 1.0 and float(tf.reduce_min(x)) < 0
    raw = load_batch(split.files, image_size=(224, 224), preprocessing=None)
    expected = keras.applications.mobilenet_v2.preprocess_input(raw.copy())
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)


def test_preprocessing_fn():
    x = tf.constant(np.array([[[[0.0, 127.5, 255.0]]]], np.float32))
    np.testing.assert_allclose(data.preprocessing_fn("rescale")(x), [[[[0.0, 0.5, 1.0]]]], atol=1e-6)
    np.testing.assert_allclose(data.preprocessing_fn("mobilenet_v2")(x), [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)
    np.testing.assert_allclose(data.preprocessing_fn("MobileNetV2")(x), [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)
    vgg = data.preprocessing_fn("vgg16")(x).numpy()  # caffe style: BGR, mean-subtracted
    np.testing.assert_allclose(vgg, keras.applications.vgg16.preprocess_input(x.numpy().copy()), atol=1e-4)
    np.testing.assert_allclose(data.preprocessing_fn(None)(x), x)
    double = lambda t: t * 2  # noqa: E731
    assert data.preprocessing_fn(double) is double
    numpy_in = np.full((1, 2, 2, 3), 255.0, np.float32)
    data.preprocessing_fn("mobilenet_v2")(numpy_in)
    assert (numpy_in == 255.0).all()  # the caller's array is not modified in place
    with pytest.raises(ValueError, match="mobilenet_v2"):
        data.preprocessing_fn("no_such_net")


def test_augmentation_block_mirrors_the_write_up():
    block = data.augmentation_block(seed=1)
    layers = {type(layer).__name__: layer for layer in block.layers}
    geometry = layers["RandomGeometry"]
    assert (geometry.rotation, geometry.shift, geometry.zoom, geometry.flip) == (20.0, (0.2, 0.2), (0.1, 0.1), True)
    assert geometry.fill_mode == "nearest"
    assert layers["RandomBrightnessScale"].factor == (0.5, 1.5)
    clone = data.RandomGeometry.from_config(geometry.get_config())
    assert (clone.rotation, clone.shift, clone.zoom, clone.flip) == (20.0, (0.2, 0.2), (0.1, 0.1), True)

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (8, 24, 24, 3)).astype(np.float32))
    out = block(images, training=True)
    assert out.shape == images.shape and out.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 255.0
    assert not np.allclose(out, images)
    np.testing.assert_allclose(block(images, training=False), images)  # identity at inference


def test_one_geometric_resampling_is_the_four_layers_composed():
    """RandomGeometry's matrix: the identity, Keras' own rotation matrix, an exact flip and an exact shift."""
    ops = keras.ops
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 24, 32, 3)).astype(np.float32))

    def both(value):
        return tf.constant([value, value], tf.float32)

    def warp(angle=0.0, shift_y=0.0, shift_x=0.0, zoom_y=1.0, zoom_x=1.0, flip=1.0):
        matrix = data.RandomGeometry.matrix(ops, both(angle), both(shift_y), both(shift_x), both(zoom_y),
                                            both(zoom_x), both(flip), 24, 32)
        return np.asarray(ops.image.affine_transform(images, matrix, interpolation="bilinear", fill_mode="nearest"))

    np.testing.assert_allclose(warp(), images, atol=1e-4)
    np.testing.assert_allclose(warp(flip=-1.0), images[:, :, ::-1], atol=1e-4)
    np.testing.assert_allclose(warp(shift_x=3.0)[:, :, 5:], images[:, :, 2:-3], atol=1e-4)
    keras_rotation = keras.layers.RandomRotation(0.1)._compute_affine_matrix(
        center_x=0.5, center_y=0.5, angle=both(15.0), translate_x=both(0.0), translate_y=both(0.0), scale=both(1.0),
        shear_x=both(0.0), shear_y=both(0.0), height=24, width=32)
    ours = data.RandomGeometry.matrix(ops, both(15.0), both(0.0), both(0.0), both(1.0), both(1.0), both(1.0), 24, 32)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(keras_rotation), atol=1e-5)
    zoomed_out = warp(zoom_y=1.1, zoom_x=1.1)  # output pixels read from further out: the toy looks smaller
    assert not np.allclose(zoomed_out, images)
    layer = data.RandomGeometry(seed=3)
    draws = [np.asarray(layer(images, training=True)) for _ in range(2)]
    assert not np.allclose(draws[0], draws[1])  # a new transform on every call
    np.testing.assert_allclose(layer(images, training=False), images)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant"])
def test_opencv_resampling_computes_what_keras_kernel_does(fill_mode):
    """RandomGeometry resamples with OpenCV (5x faster here); its output must be Keras' own kernel's
    (ImageProjectiveTransformV3) for the same transforms: bilinear to ~0.01 of 255 on noise, nearest exactly,
    in a tf.data map too, for batches and single images, whatever dtype comes in."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (6, 24, 32, 3)).astype(np.float32))
    layer = data.RandomGeometry(seed=5, fill_mode=fill_mode)
    transformation = layer.get_random_transformation(images, training=True)
    for interpolation, atol in (("bilinear", 0.02), ("nearest", 0.0)):
        keras_kernel = keras.layers.RandomRotation._transform_images(layer, images, transformation, interpolation)
        opencv = layer._transform_images(images, transformation, interpolation)
        assert opencv.shape == images.shape and opencv.dtype == tf.float32
        np.testing.assert_allclose(np.asarray(opencv), np.asarray(keras_kernel), atol=atol)
    matrix = transformation["rotation_matrix"]
    single = data.warp_affine(images[0], matrix[0])
    np.testing.assert_allclose(np.asarray(single), np.asarray(data.warp_affine(images, matrix))[0])
    as_bf16 = data.warp_affine(tf.cast(images, tf.bfloat16), matrix)
    assert as_bf16.dtype == tf.bfloat16 and as_bf16.shape == images.shape
    mapped = tf.data.Dataset.from_tensors(images).map(lambda x: data.warp_affine(x, matrix))
    (from_map,) = list(mapped)
    assert from_map.shape == images.shape  # static shape kept through tf.numpy_function
    np.testing.assert_allclose(np.asarray(from_map), np.asarray(data.warp_affine(images, matrix)))


def test_augmented_real_photos_are_the_same_with_either_resampler(clothing5_dir, monkeypatch):
    """The augmented training batches of real photos, as the series makes them (seeded pipeline, 128 px, 0-1), are
    the same whether RandomGeometry resamples with OpenCV or with Keras' kernel: a training that ends elsewhere after
    the switch took another path from float-level differences, not other photos."""
    from toyrobot_utils.modelling import training

    def first_batches():
        training.seed_everything(7)
        split = load_datasets(clothing5_dir, augment=True, seed=7, verbose=False)["training"]
        return np.stack([np.asarray(x) for x, _ in split.dataset.take(2)])

    opencv = first_batches()
    monkeypatch.setattr(data.RandomGeometry, "_transform_images", keras.layers.RandomRotation._transform_images)
    keras_kernel = first_batches()
    assert opencv.shape == keras_kernel.shape and opencv.std() > 0.05
    np.testing.assert_allclose(opencv, keras_kernel, atol=1e-4)


def test_brightness_is_multiplicative():
    layer = data.RandomBrightnessScale((0.5, 0.5), seed=0)
    x = tf.constant([[[[0.0, 100.0, 200.0]]]])
    np.testing.assert_allclose(layer(x, training=True), [[[[0.0, 50.0, 100.0]]]], atol=1e-4)
    bright = data.RandomBrightnessScale((1.5, 1.5), seed=0)
    np.testing.assert_allclose(bright(x, training=True), [[[[0.0, 150.0, 255.0]]]], atol=1e-4)
    clone = data.RandomBrightnessScale.from_config(layer.get_config())
    assert clone.factor == (0.5, 0.5)


def test_augmentation_changes_training_images_only(tiny_dataset, capsys):
    plain = load_datasets(tiny_dataset, image_size=SMALL, verbose=False)
    augmented = load_datasets(tiny_dataset, image_size=SMALL, augment=True, verbose=False)
    for split in ("validation", "test"):
        np.testing.assert_array_equal(collect(plain[split].dataset)[0], collect(augmented[split].dataset)[0])
    # Same seed, same shuffle: the training batches hold the same photos in the same order, but changed.
    x_plain, y_plain = collect(plain["training"].dataset)
    x_aug, y_aug = collect(augmented["training"].dataset)
    np.testing.assert_array_equal(y_plain, y_aug)
    assert x_aug.shape == x_plain.shape and x_aug.dtype == np.float32
    assert x_aug.min() >= 0.0 and x_aug.max() <= 1.0
    changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(x_aug, x_plain)]
    assert sum(changed) >= len(changed) - 1
    # ... and differently in every epoch (unshuffled here, so only the augmentation can differ).
    ordered = load_split(tiny_dataset, "training", image_size=SMALL, augment=True, shuffle=False)
    assert not np.allclose(collect(ordered.dataset)[0], collect(ordered.dataset)[0], atol=1e-3)


def test_files_dataset_and_load_batch_match_the_pipeline(splits):
    val = splits["validation"]
    x_pipeline, _ = collect(val.dataset)
    x_files = np.concatenate([x.numpy() for x in data.files_dataset(val.files, image_size=SMALL, batch_size=4)])
    np.testing.assert_array_equal(x_files, x_pipeline)
    np.testing.assert_array_equal(load_batch(val.files, image_size=SMALL), x_pipeline)
    one = load_batch(val.files[0], image_size=SMALL)
    assert one.shape == (1, 32, 32, 3) and one.dtype == np.float32
    np.testing.assert_array_equal(one[0], x_pipeline[0])


def test_load_batch_names_a_bad_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("nope")
    with pytest.raises(DataSetError, match="broken.jpg"):
        load_batch([bad])


@pytest.mark.shared
def test_clothing5_audit_and_one_pass(clothing5_dir, capsys):
    start = time.perf_counter()
    report = audit(clothing5_dir)
    audit_seconds = time.perf_counter() - start
    assert report.class_names == ["dress", "hat", "pants", "shoes", "t-shirt"]
    assert (report.table["status"] == "ok").all(), report.summary()
    assert report.duplicates.empty, report.summary()

    start = time.perf_counter()
    result = load_datasets(clothing5_dir)
    load_seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert out.count("{'dress': 0, 'hat': 1, 'pants': 2, 'shoes': 3, 't-shirt': 4}") == 3
    start = time.perf_counter()
    for name, expected in {"training": 500, "validation": 150, "test": 75}.items():
        n = 0
        for x, y in result[name].dataset:
            assert x.shape[1:] == (128, 128, 3) and x.dtype == tf.float32 and y.shape[1] == 5
            assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
            n += int(x.shape[0])
        assert n == expected == len(result[name].files)
    pass_seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nclothing5: audit {audit_seconds:.1f} s, load_datasets {load_seconds:.1f} s, "
              f"one pass {pass_seconds:.1f} s")

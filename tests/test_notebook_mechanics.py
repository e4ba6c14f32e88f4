"""The mechanics the notebooks show in the open (cells tagged ``mechanics``) against the package's own versions.

Each test runs the notebook's cell itself, on tiny inputs, and compares what it builds with what the package
builds: the same network layer for layer, the same augmentation ranges, the same learning-rate reducer, the same
confusion matrix, the same Grad-CAM heat-map and overlay, the same transfer head and the same unfrozen layers. A
change on either side that the other does not follow fails here.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import types
from pathlib import Path

import cv2
import keras
import matplotlib
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from toyrobot_utils import data
from toyrobot_utils.analysis import evaluation, gradcam
from toyrobot_utils.images import load_array
from toyrobot_utils.modelling import models, training
from toyrobot_utils.series import report, transfer_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TAG = "mechanics"
CLASSES = ["bananagrams", "brios", "cars", "duplos", "magnatiles"]


def mechanics_cells(notebook: str) -> list[str]:
    """The sources of the notebook's code cells tagged ``mechanics``, in order."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "code" and TAG in c.get("metadata", {}).get("tags", [])]


def defined_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def cell_defining(notebook: str, name: str) -> str:
    """The one ``mechanics`` cell of ``notebook`` that assigns ``name`` (or defines it as a function)."""
    hits = [source for source in mechanics_cells(notebook) if name in defined_names(source)]
    assert len(hits) == 1, f"{notebook}: {len(hits)} cells tagged {TAG!r} define {name!r} (expected one)"
    return hits[0]


def run_cell(source: str, **namespace) -> dict:
    """Execute a notebook cell in a namespace holding the notebook's imports and ``namespace``."""
    scope = {"keras": keras, "tf": tf, "np": np, "pd": pd, "plt": plt, "cv2": cv2, "data": data,
             "models": models, "evaluation": evaluation, "load_array": load_array, "report": report,
             "transfer_report": transfer_report, **namespace}
    exec(compile(source, "<notebook cell>", "exec"), scope)  # noqa: S102 - the notebook's own code, on purpose
    plt.close("all")
    return scope


def test_every_notebook_shows_its_mechanics():
    shown = {nb: len(mechanics_cells(nb)) for nb in ["02_baseline.ipynb", "03_dropout.ipynb",
                                                     "04_augmentation.ipynb", "05_learning_rate.ipynb",
                                                     "09_mobilenetv2.ipynb"]}
    assert shown == {"02_baseline.ipynb": 5, "03_dropout.ipynb": 1, "04_augmentation.ipynb": 1,
                     "05_learning_rate.ipynb": 1, "09_mobilenetv2.ipynb": 2}, shown


# --------------------------------------------------------------------------------------------------------------------
# The networks of 02 and 03
# --------------------------------------------------------------------------------------------------------------------


def comparable_config(model: keras.Model) -> str:
    """The model's config as JSON, with the automatic names Keras numbers per session (a nested base's input
    layer: input_layer_3) made equal."""
    return re.sub(r'"input_layer(_\d+)?"', '"input_layer"', json.dumps(model.get_config(), sort_keys=True, default=str))


def assert_same_network(shown: keras.Model, package: keras.Model) -> None:
    assert comparable_config(shown) == comparable_config(package)  # every layer: settings, names, dtypes, calls
    assert shown.count_params() == package.count_params()
    assert type(shown.optimizer) is type(package.optimizer)
    assert float(shown.optimizer.learning_rate) == pytest.approx(float(package.optimizer.learning_rate))
    assert shown.loss == package.loss


def test_02_baseline_literal_is_model_1():
    scope = run_cell(cell_defining("02_baseline.ipynb", "model"), image_size=128, class_names=CLASSES,
                     model_name="m1_baseline")
    package = models.MODEL_TABLE[1].build(num_classes=5, image_size=(128, 128))
    assert_same_network(scope["model"], package)
    assert scope["model"].count_params() == 1_058_917  # the write-up's 1,058,950 with 6 classes


@pytest.mark.parametrize("placement", ["write-up", "hidden"])
def test_03_dropout_network_is_model_2(placement):
    scope = run_cell(cell_defining("03_dropout.ipynb", "model"), image_size=64, class_names=CLASSES,
                     model_name="m2_dropout", dropout_placement=placement)
    package = models.MODEL_TABLE[2].build(num_classes=5, image_size=(64, 64), placement=placement)
    assert_same_network(scope["model"], package)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in scope["model"].layers)


# --------------------------------------------------------------------------------------------------------------------
# 04: the augmentation layers
# --------------------------------------------------------------------------------------------------------------------


def span(factor) -> tuple[float, float]:
    """A Keras random layer's factor as the (low, high) range it draws from: 0.2 means -0.2 to 0.2."""
    low, high = (-factor, factor) if np.isscalar(factor) else factor
    return float(low), float(high)


def test_04_augmentation_layers_draw_from_the_pipelines_ranges():
    shown = run_cell(cell_defining("04_augmentation.ipynb", "augmentation"))["augmentation"]
    by_type = {type(layer).__name__: layer for layer in shown.layers}
    assert list(by_type) == ["RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip", "RandomBrightnessScale"]
    block = data.augmentation_block()
    geometry = next(layer for layer in block.layers if isinstance(layer, data.RandomGeometry))
    brightness = next(layer for layer in block.layers if isinstance(layer, data.RandomBrightnessScale))

    rotation = by_type["RandomRotation"].get_config()
    assert span(rotation["factor"]) == pytest.approx(span(geometry.rotation / 360))  # a fraction of a full turn
    translation = by_type["RandomTranslation"].get_config()
    assert [*span(translation["height_factor"]), *span(translation["width_factor"])] == \
        pytest.approx([*span(geometry.shift[0]), *span(geometry.shift[1])])
    zoom = by_type["RandomZoom"].get_config()  # both factors given: height and width zoom independently
    assert [*span(zoom["height_factor"]), *span(zoom["width_factor"])] == \
        pytest.approx([*span(geometry.zoom[0]), *span(geometry.zoom[1])])
    assert by_type["RandomFlip"].get_config()["mode"] == ("horizontal" if geometry.flip else None)
    fills = {rotation["fill_mode"], translation["fill_mode"], zoom["fill_mode"]}
    assert fills == {geometry.fill_mode} == {data.AUGMENTATION["fill_mode"]}
    shown_brightness = by_type["RandomBrightnessScale"].get_config()
    assert tuple(shown_brightness["factor"]) == tuple(brightness.get_config()["factor"])
    assert tuple(shown_brightness["value_range"]) == tuple(brightness.get_config()["value_range"])


# --------------------------------------------------------------------------------------------------------------------
# 05: the learning-rate reducer
# --------------------------------------------------------------------------------------------------------------------


def test_05_reducer_has_the_packages_settings():
    reducer = run_cell(cell_defining("05_learning_rate.ipynb", "lr_reducer"))["lr_reducer"]
    assert isinstance(reducer, keras.callbacks.ReduceLROnPlateau)
    assert training.reducer_settings(reducer) == training.LR_REDUCER_DEFAULTS


def test_fit_records_the_notebooks_reducer_as_it_records_lr_reducer_true(tmp_path):
    """05 passes its ReduceLROnPlateau to fit: the run's record and lineage are those of ``lr_reducer=True`` (the
    spelling 06-08 use), and the notebook's object is the callback Keras calls."""
    rng = np.random.default_rng(0)
    images = rng.random((8, 16, 16, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 2, 8), 2)
    train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    reducer = run_cell(cell_defining("05_learning_rate.ipynb", "lr_reducer"))["lr_reducer"]
    records = {}
    for name, lr_reducer in [("as_true", True), ("as_object", reducer)]:
        training.seed_everything(0)
        model = models.build_conv_net(2, (16, 16), filters=(4,), dense=4)
        records[name] = training.fit(model, train, train, name=name, epochs=1, models_dir=tmp_path,
                                     lr_reducer=lr_reducer, tensorboard=False, verbose=0).record
    assert records["as_object"]["lr_reducer"] == records["as_true"]["lr_reducer"] == training.LR_REDUCER_DEFAULTS
    assert records["as_object"]["lineage"]["key"] == records["as_true"]["lineage"]["key"]
    assert reducer.model is model  # Keras called the notebook's own callback


# --------------------------------------------------------------------------------------------------------------------
# 02: the confusion matrix and Grad-CAM
# --------------------------------------------------------------------------------------------------------------------


def test_02_crosstab_is_the_packages_confusion_matrix():
    predictions = pd.DataFrame({
        "actual_label": ["bananagrams", "bananagrams", "brios", "cars", "duplos", "magnatiles", "magnatiles"],
        "predicted_label": ["bananagrams", "brios", "brios", "brios", "duplos", "duplos", "duplos"],
    })  # cars and magnatiles are never predicted: their rows must still be there
    predictions["correct"] = (predictions["actual_label"] == predictions["predicted_label"]).astype(int)
    shown = run_cell(cell_defining("02_baseline.ipynb", "confusion"), predictions=predictions,
                     class_names=CLASSES)["confusion"]
    package = evaluation.confusion_matrix(predictions, class_names=CLASSES)
    pd.testing.assert_frame_equal(shown, package, check_names=False, check_dtype=False)
    assert shown.loc["duplos", "magnatiles"] == 2  # predicted down the side, actual along the top


@pytest.fixture(scope="module")
def baseline_and_photo(tmp_path_factory):
    """A baseline network (write-up layers, random weights) saved and loaded as a run's model, and one photo."""
    from conftest import write_image

    folder = tmp_path_factory.mktemp("gradcam")
    keras.utils.set_random_seed(3)
    network = models.MODEL_TABLE[1].build(num_classes=5, image_size=(48, 48))
    network.save(folder / "m1.keras")
    photo = write_image(folder / "test" / "cars" / "photo.jpg", size=(60, 50), seed=3)
    return keras.models.load_model(folder / "m1.keras"), photo


def test_02_gradcam_by_hand_is_the_packages_heatmap(baseline_and_photo):
    model, photo = baseline_and_photo
    make_gradcam_heatmap = run_cell(cell_defining("02_baseline.ipynb", "make_gradcam_heatmap"))["make_gradcam_heatmap"]
    batch = data.load_batch([photo], image_size=(48, 48))
    shown = make_gradcam_heatmap(model, batch, gradcam.find_last_conv_layer(model))
    package = gradcam.gradcam_heatmap(model, batch[0], size=shown.shape)
    assert shown.shape == gradcam.heatmap_grid(model) == (24, 24)
    assert shown.max() == pytest.approx(1.0)  # a real heat-map, not two empty ones
    np.testing.assert_allclose(shown, package, atol=1e-5)


def test_02_heatmap_and_overlay_cells_are_the_packages(baseline_and_photo):
    model, photo = baseline_and_photo
    scope = run_cell(cell_defining("02_baseline.ipynb", "make_gradcam_heatmap"))
    predictions = pd.DataFrame({"actual_label": ["cars"], "predicted_label": ["brios"], "predicted_probability": [0.5],
                                "path": [str(photo)]})
    scope = run_cell(cell_defining("02_baseline.ipynb", "heatmap"), **scope, run=types.SimpleNamespace(model=model),
                     predictions=predictions, image_size=48)
    assert scope["last_conv"] == gradcam.find_last_conv_layer(model) == "conv_2"
    scope = run_cell(cell_defining("02_baseline.ipynb", "colored"), **scope)
    overlay = cv2.addWeighted(scope["image"], 0.6, scope["colored"], 0.4, 0)
    package = gradcam.overlay(load_array(photo, (48, 48)), scope["heatmap"])
    assert np.abs(overlay.astype(int) - package.astype(int)).max() <= 1  # rounding of the resized heat only


# --------------------------------------------------------------------------------------------------------------------
# 09: the transfer head and the unfreezing of the top blocks
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def no_imagenet_weights(monkeypatch):
    """Bases without ImageNet weights (random, no download): the structure is what is compared."""
    monkeypatch.setattr(models, "load_base", functools.partial(models.load_base, weights=None))


@pytest.mark.parametrize("head_units", [[], [16]])
def test_09_transfer_head_is_build_transfer(no_imagenet_weights, head_units):
    plan = types.SimpleNamespace(size=(96, 96))
    scope = run_cell(cell_defining("09_mobilenetv2.ipynb", "model"), base="mobilenet_v2", plan=plan,
                     head_units=head_units, class_names=CLASSES, learning_rate=2e-3, model_name="m9_mobilenet_v2")
    package = models.build_transfer("mobilenet_v2", 5, (96, 96), dense=head_units, learning_rate=2e-3,
                                    name="m9_mobilenet_v2", weights=None)
    assert_same_network(scope["model"], package)  # includes the base's call with training=False
    assert not scope["base_model"].trainable
    assert models.count_params(scope["model"]) == models.count_params(package)


def test_09_unfreezing_is_unfreeze_top(no_imagenet_weights, tmp_path):
    frozen = models.build_transfer("mobilenet_v2", 5, (96, 96), name="m9_mobilenet_v2", weights=None)
    frozen.save(tmp_path / "frozen.keras")
    run = types.SimpleNamespace(paths={"model": tmp_path / "frozen.keras"})
    shown = run_cell(cell_defining("09_mobilenetv2.ipynb", "unfrozen_model"), run=run,
                     fine_tune_blocks=4)["unfrozen_model"]
    package = keras.models.load_model(tmp_path / "frozen.keras")
    unfrozen = models.unfreeze_top(package, blocks=4)
    assert [w.path for w in shown.trainable_weights] == [w.path for w in package.trainable_weights]
    assert unfrozen[0] == "block_13_expand" and "Conv_1" in unfrozen
    assert models.count_params(shown) == models.count_params(package)

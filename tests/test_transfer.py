"""Transfer learning on cached base features (same result as training on the photos, full model saved), latency and
file size in the record, the best custom network and side-by-side Grad-CAM, and the offline weights error.

Mechanics are tested with MobileNetV2 at 96 px without pre-trained weights (fast, no file needed); one test uses the
real ImageNet weights and is skipped when the .h5 file is not available."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from toyrobot_utils import data, files
from toyrobot_utils.analysis import comparison, evaluation, gradcam, plots
from toyrobot_utils.modelling import models, stopping, training, transfer

from conftest import make_dataset

SIZE = (96, 96)
CLASSES = ("bananagrams", "brios", "cars")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """3 classes x 4/2/2 photos, read at 96 px with MobileNetV2's preprocessing (batch 32: one batch per split)."""
    root = make_dataset(tmp_path_factory.mktemp("transfer") / "data", classes=CLASSES)
    return root, data.load_datasets(root, image_size=SIZE, preprocessing="mobilenet_v2", verbose=False)


def small_transfer(seed=0, dropout=0.2, learning_rate=1e-3, name="tiny_transfer"):
    training.seed_everything(seed)
    return models.build_transfer("mobilenet_v2", len(CLASSES), SIZE, weights=None, dropout=dropout,
                                 learning_rate=learning_rate, name=name)


def tiny_base_transfer(seed=0, dropout=0.2, learning_rate=1e-3, size=SIZE):
    """build_transfer's shape (input -> frozen nested base -> pool -> dropout -> softmax Dense) on a small random
    conv base: MobileNetV2 without its ImageNet weights gives vanishing features (about 1e-11), useless for
    comparing numbers."""
    training.seed_everything(seed)
    base_in = keras.Input((*size, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(base_in)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    base = keras.Model(base_in, x, name="tiny_base")
    base.trainable = False
    inputs = keras.Input((*size, 3), name="image")
    y = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs, training=False))
    if dropout:
        y = keras.layers.Dropout(dropout, name="dropout")(y)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="output")(y)
    return models.compile_model(keras.Model(inputs, outputs, name="tiny_transfer"), "adam", learning_rate)


def head_weights(model):
    return [np.array(keras.ops.convert_to_numpy(w), copy=True) for w in model.get_layer("output").weights]


def test_split_finds_the_frozen_base_and_head():
    model = small_transfer()
    base, head = transfer.split_transfer_model(model)
    assert base is models.find_base(model)
    assert [layer.name for layer in head] == ["pool", "dropout", "output"]
    models.unfreeze_top(model, blocks=1)
    with pytest.raises(transfer.NotCacheable, match="trainable"):
        transfer.split_transfer_model(model)
    with pytest.raises(transfer.NotCacheable, match="no nested"):
        transfer.split_transfer_model(models.build_baseline(3, (32, 32)))

    tiny = tiny_base_transfer()  # the same base, but the head also reads the photo itself: not cacheable
    base = models.find_base(tiny)
    inputs = keras.Input((*SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    colour = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([pooled, colour]))
    with pytest.raises(transfer.NotCacheable, match="chain"):
        transfer.split_transfer_model(keras.Model(inputs, outputs))
    assert transfer.split_transfer_model(tiny)[0] is base  # its own graph is still a chain


def test_head_on_features_gives_the_full_models_predictions_and_shares_its_weights(tiny_data):
    _, splits = tiny_data
    model = tiny_base_transfer()
    extract, remaining = transfer.feature_extractor(model)
    assert [layer.name for layer in remaining] == ["dropout", "output"]  # pooling is folded into the features
    features, labels = transfer.extract_features(extract, splits["validation"])
    assert features.shape == (len(splits["validation"]), 16) and labels.shape == (len(splits["validation"]), 3)
    assert np.abs(features).max() > 0.01
    head = transfer.build_head(model, features.shape[1:])
    images = np.concatenate([x for x, _ in splits["validation"].dataset])
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-5)

    before = head_weights(model)
    head.fit(features, labels, epochs=2, verbose=0)  # training the head trains the full model's head
    assert not np.allclose(before[0], head_weights(model)[0])
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    assert models.count_params(head)["total"] == 16 * 3 + 3


def test_feature_path_saves_the_full_model_with_its_record(tiny_data, tmp_path):
    root, splits = tiny_data
    model = small_transfer()
    run = transfer.fit_frozen(model, splits["training"], splits["validation"], name="m9_tiny", epochs=2,
                              models_dir=tmp_path, settings={"model_number": 9}, verbose=0)
    record = run.record
    settings = record["settings"]
    assert settings["training_path"] == transfer.FEATURE_PATH and settings["augment"] is False
    assert settings["image_size"] == [96, 96] and settings["preprocessing"] == "mobilenet_v2"
    assert record["params_total"] == models.count_params(model)["total"]
    assert record["params_trainable"] == 1280 * 3 + 3
    assert record["class_names"] == list(CLASSES)
    assert record["epochs_run"] == 2 and record["feature_extraction_seconds"] > 0
    assert record["feature_shape"] == [1280]
    assert record["file_bytes"] == (tmp_path / "m9_tiny.keras").stat().st_size

    saved = keras.models.load_model(tmp_path / "m9_tiny.keras")  # the whole network, base and head
    assert saved.input_shape == (None, 96, 96, 3) and models.find_base(saved) is not None
    assert saved.count_params() == model.count_params()
    df = evaluation.predictions_dataframe("m9_tiny", "test", models_dir=tmp_path, data_dir=root)
    assert len(df) == len(splits["test"]) and set(df["predicted_label"]) <= set(CLASSES)
    cam = gradcam.gradcam_table("m9_tiny", splits["test"], models_dir=tmp_path)  # through the nested base
    assert len(cam) == len(splits["test"])

    shutil.rmtree(tmp_path / "m9_tiny.backup", ignore_errors=True)
    speed = transfer.size_and_speed("m9_tiny", tmp_path, runs=3)
    assert speed["latency_ms_per_image"] > 0 and speed["file_bytes"] == record["file_bytes"]
    stored = training.load_record("m9_tiny", tmp_path)
    assert stored["latency_ms_per_image"] == speed["latency_ms_per_image"] and stored["latency_batch_size"] == 1
    table = comparison.compare_runs(tmp_path, numbers=[], extra_names=["m9_tiny"])
    assert table["latency_ms"].iloc[0] == pytest.approx(speed["latency_ms_per_image"])


def test_feature_path_trains_the_same_head_as_the_image_path(tiny_data, tmp_path):
    """No dropout and one batch per epoch: both paths see the same gradients, so they end with the same weights."""
    _, splits = tiny_data
    on_images = tiny_base_transfer(seed=3, dropout=0.0, learning_rate=1e-2)
    on_features = tiny_base_transfer(seed=3, dropout=0.0, learning_rate=1e-2)
    np.testing.assert_array_equal(head_weights(on_images)[0], head_weights(on_features)[0])
    a = training.fit(on_images, splits["training"], splits["validation"], name="images", epochs=3,
                     models_dir=tmp_path, verbose=0)
    b = transfer.fit_frozen(on_features, splits["training"], splits["validation"], name="features", epochs=3,
                            models_dir=tmp_path, verbose=0, keep=stopping.BEST_ON_VALIDATION)  # as training.fit's
    assert b.record["settings"]["training_path"] == transfer.FEATURE_PATH
    for wa, wb in zip(head_weights(a.model), head_weights(on_features)):  # both: the best epoch's weights
        np.testing.assert_allclose(wa, wb, atol=1e-4)
    np.testing.assert_allclose(a.history["val_accuracy"], b.history["val_accuracy"])
    np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], atol=1e-4)


def test_augmentation_without_copies_or_a_trainable_base_uses_the_image_path(tiny_data, tmp_path, capsys):
    _, splits = tiny_data
    run = transfer.fit_frozen(tiny_base_transfer(), splits["training"], splits["validation"], name="augmented",
                              epochs=1, models_dir=tmp_path, augment=True, augment_copies=0)
    assert run.record["settings"]["training_path"] == transfer.IMAGE_PATH
    assert run.record["settings"]["augment"] is True
    assert "augmentation changes the photos" in capsys.readouterr().out

    model = tiny_base_transfer()
    models.find_base(model).trainable = True  # fine-tuning: the base's features change while training
    run = transfer.fit_frozen(model, splits["training"], splits["validation"], name="fine_tuned", epochs=1,
                              models_dir=tmp_path)
    assert run.record["settings"]["training_path"] == transfer.IMAGE_PATH
    assert "is (partly) trainable" in capsys.readouterr().out


def test_frozen_head_stops_early_and_the_model_ends_with_the_best_epoch(tiny_data, tmp_path):
    """Early stopping with patience 3 on 6 validation photos (told to choose on them: by default so few would mean a
    fixed budget): the run stops 3 epochs after its best epoch (highest validation accuracy, ties broken by the lower
    validation loss) or runs out of epochs; the model object in memory then holds the saved best epoch."""
    _, splits = tiny_data
    model = tiny_base_transfer(seed=1, learning_rate=1e-2)
    run = transfer.fit_frozen(model, splits["training"], splits["validation"], name="early", epochs=40, patience=3,
                              models_dir=tmp_path, verbose=0, keep=stopping.BEST_ON_VALIDATION)
    record, rows = run.record, run.history.to_dict("records")
    best = rows[stopping.best_row(rows)]
    assert record["best_epoch"] == best["epoch"] and record["best_val_loss"] == pytest.approx(best["val_loss"])
    assert record["best_val_accuracy"] == pytest.approx(run.history["val_accuracy"].max())
    if record["stopped_early_at"] is not None:
        assert record["stopped_early_at"] == record["epochs_run"] and record["epochs_run"] - record["best_epoch"] == 3
    else:
        assert record["epochs_run"] == 40 and record["epochs_run"] - record["best_epoch"] < 3
    images = np.concatenate([x for x, _ in splits["validation"].dataset])
    saved = keras.models.load_model(tmp_path / "early.keras")
    np.testing.assert_allclose(model.predict(images, verbose=0), saved.predict(images, verbose=0), atol=1e-6)


def test_augmented_copies_are_the_photos_then_different_augmented_draws(tiny_data):
    _, splits = tiny_data
    train = splits["training"]
    n = len(train)
    batches = list(data.augmented_copies(train, 2, image_size=SIZE, preprocessing="mobilenet_v2", batch_size=5))
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    assert images.shape == (3 * n, *SIZE, 3)
    plain = data.load_batch(train.files, image_size=SIZE, preprocessing="mobilenet_v2")
    np.testing.assert_allclose(images[:n], plain, atol=1e-5)  # first the photos as they are
    for copy in (1, 2):
        np.testing.assert_array_equal(labels[copy * n:(copy + 1) * n], labels[:n])
        assert np.abs(images[copy * n:(copy + 1) * n] - plain).mean() > 0.01  # augmented
    assert np.abs(images[n:2 * n] - images[2 * n:]).mean() > 0.01  # each copy its own draw
    np.testing.assert_array_equal(labels[:n].argmax(1), train.labels)


def test_augmentation_on_the_cached_path_trains_on_the_copies(tiny_data, tmp_path, capsys):
    _, splits = tiny_data
    run = transfer.fit_frozen(tiny_base_transfer(), splits["training"], splits["validation"], name="augmented",
                              epochs=2, models_dir=tmp_path, augment=True, augment_copies=2)
    settings = run.record["settings"]
    assert settings["training_path"] == transfer.FEATURE_PATH
    assert settings["augment"] is True and settings["augment_copies"] == 2
    assert run.record["training_examples"] == 3 * len(splits["training"])
    assert "2 augmented copies" in capsys.readouterr().out
    plain = transfer.fit_frozen(tiny_base_transfer(), splits["training"], splits["validation"], name="plain",
                                epochs=1, models_dir=tmp_path, verbose=0)
    assert plain.record["settings"]["augment_copies"] == 0
    assert plain.record["training_examples"] == len(splits["training"])


def tiny_block_transfer(seed=0, size=SIZE):
    """build_transfer's shape on a small random base with named blocks (block_1 conv + BN, block_2 conv + BN + a
    residual add, block_3 conv), so ``unfreeze_top`` finds blocks and its activations do not vanish."""
    training.seed_everything(seed)
    base_in = keras.Input((*size, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="block_1_conv")(base_in)
    x = keras.layers.BatchNormalization(name="block_1_bn")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block_2_conv")(x)
    y = keras.layers.BatchNormalization(name="block_2_bn")(y)
    x = keras.layers.Add(name="block_2_add")([x, y])
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="block_3_conv")(x)
    base = keras.Model(base_in, x, name="tiny_block_base")
    base.trainable = False
    inputs = keras.Input((*size, 3), name="image")
    y = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs, training=False))
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="output")(y)
    return models.compile_model(keras.Model(inputs, outputs, name="tiny_blocks"), "adam", 1e-2)


def test_mobilenet_v2_is_cut_below_its_first_unfrozen_block():
    model = small_transfer()
    unfrozen = models.unfreeze_top(model, blocks=2)
    assert unfrozen[0] == "block_15_expand" and "Conv_1" in unfrozen
    extract, top, head = transfer.split_for_fine_tuning(model)
    images = np.random.default_rng(0).uniform(-1, 1, (2, *SIZE, 3)).astype(np.float32)
    activations = np.asarray(extract(images))
    assert activations.shape == (2, 3, 3, 160)  # what enters block 15 at 96 px
    base = models.find_base(model)
    np.testing.assert_allclose(np.asarray(top(activations, training=False)),
                               np.asarray(base(images, training=False)), atol=1e-6)
    assert [layer.name for layer in head] == ["pool", "dropout", "output"]
    assert {w.path for w in top.trainable_weights} == {w.path for w in base.trainable_weights}


def test_fine_tuning_trains_the_top_on_cached_activations(tiny_data, tmp_path):
    _, splits = tiny_data
    frozen = transfer.fit_frozen(tiny_block_transfer(), splits["training"], splits["validation"], name="frozen",
                                 epochs=2, models_dir=tmp_path, verbose=0)
    base = models.find_base(frozen.model)
    before = {name: [w.copy() for w in base.get_layer(name).get_weights()]
              for name in ("block_1_conv", "block_1_bn", "block_2_conv", "block_2_bn", "block_3_conv")}

    result = transfer.fine_tune(frozen, splits["training"], splits["validation"], name="tuned", blocks=2, epochs=3,
                                patience=None, learning_rate=1e-2, augment=True, augment_copies=1,
                                models_dir=tmp_path, verbose=0)
    run = result.run
    settings = run.record["settings"]
    assert settings["training_path"] == transfer.FEATURE_PATH and settings["augment_copies"] == 1
    assert settings["stage"] == "fine-tune" and settings["fine_tune_blocks"] == 2
    assert run.record["training_examples"] == 2 * len(splits["training"])
    assert run.record["feature_shape"] == [47, 47, 8]  # the activations entering block 2
    assert result.unfrozen == ["block_2_conv", "block_3_conv"]  # BatchNorm stays frozen
    unchanged = base.get_layer("block_3_conv").get_weights()[0]  # the frozen run's own model is not touched
    np.testing.assert_array_equal(unchanged, before["block_3_conv"][0])
    model = run.model
    base = models.find_base(model)
    changed = {name: not all(np.array_equal(a, b) for a, b in zip(weights, base.get_layer(name).get_weights()))
               for name, weights in before.items()}
    assert changed == {"block_1_conv": False, "block_1_bn": False, "block_2_conv": True, "block_2_bn": False,
                       "block_3_conv": True}
    # the saved full network is the in-memory one, and its predictions are those of top + head on the activations
    images = np.concatenate([x for x, _ in splits["validation"].dataset])
    saved = keras.models.load_model(tmp_path / "tuned.keras")
    np.testing.assert_allclose(saved.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    extract, top, head = transfer.split_for_fine_tuning(model)
    x = top(extract(images), training=False)
    for layer in head:
        x = layer(x, training=False)
    np.testing.assert_allclose(np.asarray(x), model.predict(images, verbose=0), atol=1e-5)

    # 6 validation photos are too few to compare the stages: the smallest training class decides
    assert result.kept == (transfer.smallest_class(splits["training"]) >= transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS)
    assert "too few to compare the two stages" in result.reason and run.record["fine_tune_kept"] == result.kept
    assert result.best is (run if result.kept else frozen)


def test_the_fine_tuning_decision_is_made_on_validation_accuracy_then_loss():
    kept, reason = transfer.keep_fine_tuned({"best_val_accuracy": 1.0, "best_val_loss": 0.30},
                                            {"best_val_accuracy": 1.0, "best_val_loss": 0.12, "best_epoch": 9,
                                             "epochs_run": 17, "test_accuracy": 0.1})
    assert kept and "tied on validation accuracy (100.0 %)" in reason and "lowered the validation loss" in reason
    assert "0.300 frozen, 0.120 fine-tuned at epoch 9 of 17" in reason
    kept, reason = transfer.keep_fine_tuned({"best_val_accuracy": 1.0, "best_val_loss": 0.12, "test_accuracy": 0.5},
                                            {"best_val_accuracy": 1.0, "best_val_loss": 0.30, "test_accuracy": 1.0})
    assert not kept and "did not lower" in reason and "the frozen model stays" in reason  # test plays no part
    kept, reason = transfer.keep_fine_tuned({"best_val_accuracy": 0.9, "best_val_loss": 0.1},
                                            {"best_val_accuracy": 1.0, "best_val_loss": 2.0})
    assert kept and "raised the best validation accuracy (90.0 % frozen, 100.0 % fine-tuned" in reason


def test_on_too_few_validation_photos_the_training_photos_decide_whether_fine_tuning_is_kept():
    better = {"best_val_accuracy": 1.0, "best_val_loss": 0.1, "best_epoch": 3, "epochs_run": 3}
    worse = {"best_val_accuracy": 0.5, "best_val_loss": 2.0}
    minimum = transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS
    kept, reason = transfer.keep_fine_tuned(better, worse, validation_photos=18, training_photos_per_class=minimum)
    assert kept and "18 validation photos are too few to compare" in reason and f"{minimum} in the smallest" in reason
    assert "the fine-tuned model is the transfer model" in reason
    kept, reason = transfer.keep_fine_tuned(worse, better, validation_photos=18, training_photos_per_class=minimum - 1)
    assert not kept and f"fewer than {minimum}" in reason and "the frozen model stays" in reason
    # enough validation photos (or an unknown training set): validation decides, as always
    assert not transfer.keep_fine_tuned(better, worse, validation_photos=150, training_photos_per_class=minimum)[0]
    assert not transfer.keep_fine_tuned(better, worse, validation_photos=18)[0]


def test_fine_tune_leaves_the_decision_to_the_training_photos_only_when_validation_is_too_small(tiny_data, tmp_path):
    """tiny_data: 6 validation photos; its smallest training class decides, whatever validation says."""
    _, splits = tiny_data
    smallest = transfer.smallest_class(splits["training"])
    assert smallest == int(np.bincount(splits["training"].labels).min()) and transfer.smallest_class(
        data.dataset_of(splits["training"])) is None
    frozen = transfer.fit_frozen(tiny_block_transfer(), splits["training"], splits["validation"], name="few",
                                 epochs=1, models_dir=tmp_path, verbose=0)
    result = transfer.fine_tune(frozen, splits["training"], splits["validation"], name="few_ft", epochs=1,
                                models_dir=tmp_path, verbose=0)
    assert result.kept == (smallest >= transfer.FINE_TUNE_MIN_PHOTOS_PER_CLASS)
    assert "too few to compare the two stages" in result.reason and result.run.record["fine_tune_kept"] == result.kept
    chosen = transfer.fine_tune(frozen, splits["training"], splits["validation"], name="chosen_ft", epochs=1,
                                models_dir=tmp_path, verbose=0, keep=stopping.BEST_ON_VALIDATION)
    assert "too few" not in chosen.reason


def test_fine_tuning_runs_on_a_saturated_validation_set_and_is_kept_only_when_validation_improves(tiny_data, tmp_path):
    """A frozen stage with every validation photo right is fine-tuned all the same (100 % on a few photos says
    little); the fine-tuned stage replaces it only when it is better on validation: accuracy, then loss."""
    import dataclasses

    _, splits = tiny_data

    def frozen_scoring(best, loss, name):
        run = transfer.fit_frozen(tiny_block_transfer(), splits["training"], splits["validation"], name=name, epochs=1,
                                  models_dir=tmp_path, verbose=0)
        return dataclasses.replace(run, record={**run.record, "best_val_accuracy": best, "best_val_loss": loss})

    # told to choose on these 6 validation photos (by default so few leave the decision to the training photos)
    kwargs = dict(epochs=2, patience=None, models_dir=tmp_path, verbose=0, keep=stopping.BEST_ON_VALIDATION)
    unsure = frozen_scoring(1.0, 50.0, "unsure")  # every photo right, barely
    result = transfer.fine_tune(unsure, splits["training"], splits["validation"], name="unsure_ft", **kwargs)
    assert result.run is not None and (tmp_path / "unsure_ft.keras").is_file()  # not skipped at 100 %
    tuned = result.run.record
    assert result.kept == (tuned["best_val_accuracy"] == 1.0 and tuned["best_val_loss"] < 50.0)
    assert tuned["fine_tune_kept"] == result.kept and tuned["frozen_best_val_loss"] == 50.0

    perfect = frozen_scoring(1.0, 0.0, "perfect")  # nothing beats 100 % at zero loss
    result = transfer.fine_tune(perfect, splits["training"], splits["validation"], name="perfect_ft", **kwargs)
    assert result.run is not None and not result.kept and "the frozen model stays" in result.reason
    assert result.model is perfect.model and result.best is perfect

    hopeless = frozen_scoring(0.0, 50.0, "hopeless")
    result = transfer.fine_tune(hopeless, splits["training"], splits["validation"], name="hopeless_ft", **kwargs)
    assert result.kept and result.run.best_val_accuracy > 0.0 and "raised" in result.reason  # 3 classes: > 0 %
    assert result.model is result.run.model and result.best is result.run


def test_notebook_09_defaults_are_the_transfer_recipe():
    import ast

    from toyrobot_utils.config import PROJECT_ROOT

    notebook = json.loads((PROJECT_ROOT / "notebooks" / "09_mobilenetv2.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
              if isinstance(node, ast.Assign)}
    for key, value in transfer.RECIPE.items():
        assert values[key] == value, key


def test_measure_latency_is_positive_per_image():
    model = models.build_baseline(3, (32, 32))
    ms = transfer.measure_latency(model, runs=3, warmup=1)
    assert ms > 0
    details = transfer.measure_latency(model, runs=4, warmup=1, batch_size=2, details=True)
    assert details["latency_batch_size"] == 2 and details["latency_runs"] == 4
    assert 0 < details["latency_ms_min"] <= details["latency_ms_per_image"] <= details["latency_ms_p90"]


def _fake_run(models_dir, name, test_accuracy, val_accuracy, with_model=True, val_loss=None, params=None):
    files.write_json(models_dir / f"{name}.json", {"name": name, "best_val_accuracy": val_accuracy,
                                                    "best_val_loss": val_loss, "params_total": params,
                                                    "test_accuracy": test_accuracy, "settings": {}})
    if with_model:
        (models_dir / f"{name}.keras").write_bytes(b"")


def test_best_custom_cnn_is_chosen_on_validation_never_on_test(tmp_path):
    assert comparison.best_custom_cnn(tmp_path) is None
    _fake_run(tmp_path, "m1_baseline", 0.70, 0.75, val_loss=0.9)
    _fake_run(tmp_path, "m2_dropout", 0.95, 0.70, val_loss=0.5)  # best on test, not on validation
    _fake_run(tmp_path, "m5_conv_32_32_64", 0.99, 0.90, with_model=False)  # record without its model: skipped
    _fake_run(tmp_path, "m9_mobilenet_v2", 1.0, 1.0)  # not a custom network
    assert comparison.best_custom_cnn(tmp_path) == "m1_baseline"
    _fake_run(tmp_path, "m3_augmentation", None, 0.75, val_loss=0.6)  # tied on validation accuracy, lower loss
    assert comparison.best_custom_cnn(tmp_path) == "m3_augmentation"
    _fake_run(tmp_path, "m4_lr_reducer", 0.5, 0.75, val_loss=0.6, params=10)  # a full tie: the cheaper model
    _fake_run(tmp_path, "m3_augmentation", None, 0.75, val_loss=0.6, params=20)
    assert comparison.best_custom_cnn(tmp_path) == "m4_lr_reducer"


def test_gradcam_side_by_side_on_the_same_photos(tiny_data, tmp_path):
    _, splits = tiny_data
    custom = models.build_baseline(3, (32, 32))
    custom_run = training.fit(custom, data.load_datasets(tiny_data[0], image_size=(32, 32), verbose=False)["training"],
                              data.load_datasets(tiny_data[0], image_size=(32, 32), verbose=False)["validation"],
                              name="m1_baseline", epochs=1, models_dir=tmp_path, verbose=0)
    transfer_model = small_transfer()
    table, fig = plots.gradcam_side_by_side(
        {"custom CNN": custom_run, "MobileNetV2": transfer_model}, files=splits["test"].files[:4],
        labels=splits["test"].labels[:4], class_names=list(CLASSES), n_figure=3, figures_dir=tmp_path,
        name="side_by_side",
    )
    assert list(table["model"].unique()) == ["custom CNN", "MobileNetV2"] and len(table) == 8
    assert {"focus", "focus_lift", "predicted_label", "correct"} <= set(table.columns)
    assert len(fig.axes) == 3 * 3 and (tmp_path / "side_by_side.png").is_file()


# --- the ImageNet weights ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base, filename", [
    ("mobilenet_v2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    ("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_offline_without_weights_the_error_names_the_file_and_folder(monkeypatch, tmp_path, base, filename):
    """KERAS_HOME points to an empty folder and the download fails (no internet): the error says what to put where."""
    # noqa below: the test stands in for Keras' download, which lives in its private modules
    import keras.src.backend.config as keras_config  # noqa: TID251
    import keras.src.utils.file_utils as file_utils  # noqa: TID251

    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))  # what Keras reads from KERAS_HOME at import

    def no_internet(*args, **kwargs):
        raise Exception("URL fetch failure: <urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(file_utils, "get_file", no_internet)
    with pytest.raises(models.WeightsNotAvailableError) as err:
        models.build_transfer(base, num_classes=5)
    message = str(err.value)
    assert filename in message
    assert str(home / "models") in message
    assert "could not be downloaded" in message
    assert isinstance(err.value, FileNotFoundError)




def test_imagenet_mobilenet_v2_trains_on_cached_features(mobilenet_weights, tmp_path):
    root = make_dataset(tmp_path / "data", classes=CLASSES, counts={"training": 3, "validation": 2, "test": 1})
    splits = data.load_datasets(root, image_size=(224, 224), preprocessing="mobilenet_v2", verbose=False)
    training.seed_everything(0)
    model = models.build_transfer("mobilenet_v2", len(CLASSES))
    run = transfer.fit_frozen(model, splits["training"], splits["validation"], name="m9_imagenet", epochs=1,
                              models_dir=tmp_path, verbose=0)
    record = json.loads((tmp_path / "m9_imagenet.json").read_text())
    assert record["settings"]["training_path"] == transfer.FEATURE_PATH
    assert record["settings"]["image_size"] == [224, 224] and record["settings"]["preprocessing"] == "mobilenet_v2"
    assert record["params_trainable"] == 1280 * 3 + 3 and record["params_total"] == 2_257_984 + 1280 * 3 + 3
    extract, _ = transfer.feature_extractor(run.model)
    features, _ = transfer.extract_features(extract, splits["test"])
    assert features.shape[1:] == (1280,) and np.abs(features).max() > 0.1  # real ImageNet features
    head = transfer.build_head(run.model, features.shape[1:])
    images = np.concatenate([x for x, _ in splits["test"].dataset])
    np.testing.assert_allclose(head.predict(features, verbose=0), run.model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_allclose(run.model.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_on_a_validation_split_too_small_to_choose_on_both_stages_keep_their_last_epoch(tiny_data, tmp_path):
    """6 validation photos (2 per class) cannot tell epochs apart (stats.too_small_to_compare): by default the head
    and the fine-tuning run their whole budget, patience or not, and keep their last epoch; told to choose on
    validation, the same head keeps its best epoch."""
    _, splits = tiny_data
    assert transfer.validation_keep_rule(splits["validation"]) == stopping.LAST_EPOCH
    assert transfer.validation_keep_rule(data.dataset_of(splits["validation"])) == stopping.BEST_ON_VALIDATION
    frozen = transfer.fit_frozen(tiny_base_transfer(seed=3, learning_rate=1e-2), splits["training"],
                                 splits["validation"], name="small_val", epochs=6, patience=1, models_dir=tmp_path,
                                 verbose=0)
    assert frozen.record["keep"] == stopping.LAST_EPOCH and frozen.record["epochs_run"] == 6
    assert frozen.record["best_epoch"] == 6 and frozen.record["patience"] is None
    tuned = transfer.fine_tune(frozen, splits["training"], splits["validation"], name="small_val_ft", epochs=3,
                               patience=1, models_dir=tmp_path, verbose=0)
    assert tuned.run.record["keep"] == stopping.LAST_EPOCH and tuned.run.record["best_epoch"] == 3
    chosen = transfer.fit_frozen(tiny_base_transfer(seed=3, learning_rate=1e-2), splits["training"],
                                 splits["validation"], name="chosen", epochs=6, models_dir=tmp_path, verbose=0,
                                 keep=stopping.BEST_ON_VALIDATION)
    best = stopping.best_row(chosen.history.to_dict("records"))
    assert chosen.record["best_epoch"] == int(chosen.history["epoch"].iloc[best])

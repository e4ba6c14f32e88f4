"""The write-up's networks: parameter counts, layer order, the table, the tuner's search space, transfer learning."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from toyrobot_utils.modelling import models  # noqa: E402

from modelling_fixtures import arrays_dataset, planted_task  # noqa: E402

WRITEUP_TUNED = {"Input_Conv_Filters": 96, "n_Conv_Layers": 2, "Conv_0_Filters": 64, "Conv_1_Filters": 64,
                 "n_Dense_Layers": 1, "Dense_0_Neurons": 160, "Dropout": True, "Optimizer": "adam"}


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_baseline_parameter_counts_match_the_writeup():
    assert models.build_baseline(5, (128, 128)).count_params() == 1_058_917
    assert models.build_baseline(6, (128, 128)).count_params() == 1_058_950  # the write-up's summary


def test_baseline_layers_and_compilation():
    model = models.build_baseline()
    assert layer_kinds(model) == ["Conv2D", "Activation", "MaxPooling2D", "Conv2D", "Activation", "MaxPooling2D",
                                  "Flatten", "Dense", "Activation", "Dense", "Activation"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [(32, (3, 3), "same")] * 2
    assert model.layers[-1].get_config()["activation"] == "softmax"
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.loss == "categorical_crossentropy"
    assert model.output_shape == (None, 5)


def test_dropout_placements():
    writeup = models.build_dropout(5)
    names = [layer.name for layer in writeup.layers]
    # the write-up: Dense(num_classes) -> Dropout(0.5) -> Activation('softmax')
    assert names[-3:] == ["output", "output_dropout", "softmax"]
    assert writeup.get_layer("output_dropout").rate == 0.5
    hidden = models.build_dropout(5, placement="hidden")
    names = [layer.name for layer in hidden.layers]
    assert names[names.index("dense_1_relu") + 1] == "dense_1_dropout"
    assert names[-2:] == ["output", "softmax"]
    assert writeup.count_params() == hidden.count_params() == 1_058_917
    with pytest.raises(ValueError, match="placement"):
        models.build_dropout(placement="somewhere")


@pytest.mark.parametrize("number, filters, kernels", [
    (5, [32, 32, 64], [3, 3, 3]),
    (6, [16, 32, 64], [3, 3, 3]),
    (7, [32, 64, 64], [3, 3, 5]),
    (8, [32, 32, 32, 64], [3, 3, 3, 3]),
])
def test_architecture_experiments(number, filters, kernels):
    model = models.build_experiment(number, image_size=(64, 64))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == filters
    assert [c.kernel_size[0] for c in convs] == kernels
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [32, 5]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.25]


def test_model_table_says_what_each_model_changes():
    table = models.MODEL_TABLE
    assert sorted(table) == list(range(1, 10))
    reference = {1: (0.733, 0.747), 2: (0.76, 0.81), 3: (0.72, 0.64), 4: (0.787, 0.74), 5: (0.787, 0.787),
                 6: (0.73, 0.72), 7: (0.767, 0.80), 8: (0.753, None), 9: (0.98, 1.0)}
    for number, (val, test) in reference.items():
        assert table[number].writeup_validation_accuracy == val
        assert table[number].writeup_test_accuracy == test
    # 3 and 4 are model 2's network; only the data (augmentation) and training (LR reducer) change
    assert table[3].kwargs == table[4].kwargs == table[2].kwargs
    assert (table[2].augment, table[3].augment, table[4].augment) == (False, True, True)
    assert (table[3].lr_reducer, table[4].lr_reducer) == (False, True)
    assert table[9].builder == "transfer" and table[9].image_size == (224, 224)
    assert table[9].preprocessing == "mobilenet_v2"
    assert len({spec.name for spec in table.values()}) == 9
    settings = table[4].settings(batch_size=32)
    assert settings["augment"] and settings["lr_reducer"] and settings["image_size"] == [128, 128]
    frame = models.model_table()
    assert list(frame.index) == list(range(1, 10)) and "changes" in frame


def test_tuner_search_space_is_the_writeups():
    hp = keras_tuner.HyperParameters()
    model = models.ToyHyperModel(num_classes=5, image_size=(64, 64)).build(hp)
    assert model.output_shape == (None, 5)
    space = {p.name: p for p in hp.space}
    assert (space["Input_Conv_Filters"].min_value, space["Input_Conv_Filters"].max_value,
            space["Input_Conv_Filters"].step) == (32, 256, 32)
    # conv layers in all: 1 + n_Conv_Layers = 1-4
    assert (space["n_Conv_Layers"].min_value, space["n_Conv_Layers"].max_value) == (0, 3)
    assert (space["n_Dense_Layers"].min_value, space["n_Dense_Layers"].max_value) == (1, 4)
    assert (space["Dense_0_Neurons"].min_value, space["Dense_0_Neurons"].max_value,
            space["Dense_0_Neurons"].step) == (32, 256, 32)
    assert set(space["Optimizer"].values) == {"adam", "rmsprop"}
    assert isinstance(space["Dropout"], keras_tuner.engine.hyperparameters.Boolean)


def test_tuner_declares_every_layer_in_a_conditional_scope():
    """Per-layer values exist in the space from the first build, active only where the network has the layer."""
    hp = keras_tuner.HyperParameters()
    models.ToyHyperModel(num_classes=5, image_size=(64, 64)).build(hp)  # defaults: 0 extra conv layers, 1 dense
    space = {p.name: p for p in hp.space}
    for i in range(3):
        conditions = space[f"Conv_{i}_Filters"].conditions
        assert [(c.name, list(c.values)) for c in conditions] == [("n_Conv_Layers", list(range(i + 1, 4)))]
        assert not hp.is_active(f"Conv_{i}_Filters")
    assert [hp.is_active(f"Dense_{j}_Neurons") for j in range(4)] == [True, False, False, False]
    assert (space["Conv_2_Filters"].min_value, space["Conv_2_Filters"].max_value) == (32, 256)
    # a network with every layer uses each layer's own value
    hp.values.update({"n_Conv_Layers": 3, "Conv_0_Filters": 64, "Conv_1_Filters": 96, "Conv_2_Filters": 128,
                      "n_Dense_Layers": 2, "Dense_0_Neurons": 160, "Dense_1_Neurons": 192})
    model = models.ToyHyperModel(num_classes=5, image_size=(64, 64)).build(hp)
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 64, 96, 128]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [160, 192, 5]


def test_hypermodel_counts_parameters_without_building():
    tuned = models.ToyHyperModel(num_classes=6, image_size=(128, 128))
    assert tuned.param_count(WRITEUP_TUNED) == 2_717_542
    widest = {"Input_Conv_Filters": 256, "n_Conv_Layers": 0, "n_Dense_Layers": 1, "Dense_0_Neurons": 256}
    assert tuned.param_count(widest) > 268_000_000  # the draw max_model_size keeps out of a search
    small = models.ToyHyperModel(num_classes=3, image_size=(48, 40))
    for values in [WRITEUP_TUNED,
                   {**WRITEUP_TUNED, "n_Conv_Layers": 3, "Conv_2_Filters": 32, "n_Dense_Layers": 4,
                    "Dense_1_Neurons": 64, "Dense_2_Neurons": 32, "Dense_3_Neurons": 96, "Dropout": False},
                   {"Input_Conv_Filters": 32, "n_Conv_Layers": 0, "n_Dense_Layers": 2, "Dense_0_Neurons": 32,
                    "Dense_1_Neurons": 64, "Dropout": True, "Optimizer": "rmsprop"}]:
        built = models.build_from_hyperparameters(values, num_classes=3, image_size=(48, 40))
        assert small.param_count(values) == built.count_params()


def test_the_tuner_is_built_in_the_tuning_module_only(tmp_path):
    from toyrobot_utils import tuning

    tuner = tuning.build_tuner(tmp_path / "tuner", num_classes=2, image_size=(32, 32), max_trials=3,
                               executions_per_trial=1)
    assert isinstance(tuner, tuning.TimedRandomSearch)
    assert tuner.oracle.max_trials == 3 and tuner.oracle.objective.name == "val_accuracy"
    assert not hasattr(models, "RandomSearch") and not hasattr(models, "make_tuner")  # models is below tuning


def test_tuned_network_rebuilds_from_best_values():
    # The write-up's tuned network for its 6 classes: 2,717,542 parameters.
    model = models.build_from_hyperparameters(WRITEUP_TUNED, num_classes=6, image_size=(128, 128))
    assert model.count_params() == 2_717_542
    convs = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [96, 64, 64]
    assert [layer.name for layer in model.layers][-4:] == ["dense_1_relu", "dense_1_dropout", "output", "softmax"]
    rms = models.build_from_hyperparameters({**WRITEUP_TUNED, "Optimizer": "RMSProp", "Dropout": False}, 6, (64, 64))
    assert isinstance(rms.optimizer, keras.optimizers.RMSprop)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in rms.layers)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_tiny_random_search_and_rebuild(tmp_path):
    x, y, _ = planted_task(6, size=32, toy=10)
    from toyrobot_utils import tuning

    tuner = tuning.build_tuner(tmp_path / "tuner", num_classes=2, image_size=(32, 32), max_trials=1,
                               executions_per_trial=1, seed=1)
    tuner.search(arrays_dataset(x, y, 2), validation_data=arrays_dataset(x, y, 2), epochs=1, verbose=0,
                 shuffle=False)
    best = tuner.get_best_hyperparameters(1)[0]
    rebuilt = models.build_from_hyperparameters(best, num_classes=2, image_size=(32, 32))
    assert rebuilt.count_params() == tuner.get_best_models(1)[0].count_params()


# --- transfer learning ---------------------------------------------------------------------------------------------




def test_transfer_model_freezes_a_nested_base(mobilenet_weights):
    model = models.build_transfer("mobilenet_v2", num_classes=5)
    base = models.find_base(model)
    assert base is not None and base.name.startswith("mobilenetv2_")
    assert model.input_shape == (None, 224, 224, 3)
    assert not base.trainable
    counts = models.count_params(model)
    assert counts["trainable"] == 1280 * 5 + 5  # only the new head learns
    assert models.infer_preprocessing(model) == "mobilenet_v2"
    assert models.infer_preprocessing(models.build_baseline()) == "rescale"

    unfrozen = models.unfreeze_top(model, blocks=2, learning_rate=1e-5)
    assert "block_16_project" in unfrozen and "block_15_expand" in unfrozen and "Conv_1" in unfrozen
    assert "block_14_expand" not in unfrozen
    assert not any(isinstance(base.get_layer(n), keras.layers.BatchNormalization) for n in unfrozen)
    assert models.count_params(model)["trainable"] > counts["trainable"]
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)
    assert len(models.unfreeze_top(model, layers=3)) <= 3


def test_missing_weights_error_says_which_file_goes_where(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "keras_weights_dir", lambda: tmp_path / "models")
    with pytest.raises(models.WeightsNotAvailableError) as err:
        models.build_transfer("mobilenet_v2", allow_download=False)
    message = str(err.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in message
    assert str(tmp_path / "models") in message and "$KERAS_HOME/models/" in message
    assert "~/.keras/models/" in message


def test_base_registry_has_sizes_and_preprocessing():
    assert models.BASES["mobilenet_v2"].image_size == (224, 224)
    assert models.BASES["vgg16"].preprocessing == "vgg16"
    assert models.BASES["inception_v3"].image_size == (299, 299)
    assert models.BASES["mobilenet_v2"].weights_filename((160, 160)).endswith("_1.0_160_no_top.h5")
    for spec in models.BASES.values():  # every name is one the data module's preprocessing_fn understands
        from toyrobot_utils.data import preprocessing_fn

        out = np.asarray(preprocessing_fn(spec.preprocessing)(np.full((1, 4, 4, 3), 128.0, np.float32)))
        assert np.isfinite(out).all()
        assert callable(spec.constructor_fn())


def test_flops_per_photo_counted_from_the_arguments_match_the_built_network():
    """conv_net_flops (no network built: the tuner's compute budget) agrees with count_flops on the built network,
    and a wide first layer at full resolution costs more than a deeper, narrower network."""
    for number in (1, 5, 7, 8):
        spec = models.MODEL_TABLE[number]
        built = spec.build(4, (64, 64))
        assert models.conv_net_flops(4, (64, 64), **spec.kwargs) == models.count_flops(built)
    # first layer by hand: 128 x 128 positions x 3x3x3 inputs x 32 filters x 2 operations
    expected = 2 * 128 * 128 * 27 * 32 + 2 * 64 * 64 * 32 * 5
    assert models.conv_net_flops(5, (128, 128), filters=(32,), dense=None) == expected
    hyper = models.ToyHyperModel(5, (128, 128))
    wide = {"Input_Conv_Filters": 256, "n_Conv_Layers": 0, "n_Dense_Layers": 1, "Dense_0_Neurons": 32}
    deep = {"Input_Conv_Filters": 32, "n_Conv_Layers": 3, "Conv_0_Filters": 64, "Conv_1_Filters": 64,
            "Conv_2_Filters": 64, "n_Dense_Layers": 1, "Dense_0_Neurons": 32}
    assert hyper.flops(wide) > hyper.flops(deep)
    assert hyper.flops(deep) == models.count_flops(models.build_from_hyperparameters(deep, 5, (128, 128)))

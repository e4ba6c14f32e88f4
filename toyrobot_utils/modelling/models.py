"""Every network of the write-up, one builder each, plus the tuner's hypermodel and transfer learning.

The write-up's table (``MODEL_TABLE``) is the index: for each model number it says which builder makes the network,
what changed against the previous model, whether the data pipeline augments and whether training reduces the
learning rate, and the write-up's own validation/test accuracy so the results notebook can put ours beside them.

Networks are built in the write-up's layer style (``Conv2D`` then a separate ``Activation('relu')``, ``Dense`` then a
separate softmax ``Activation``) so that parameter counts and summaries line up with the write-up's, and so that
Grad-CAM can read the logits (the softmax layer's input) instead of saturated probabilities.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import keras_tuner
import numpy as np
import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.modelling import devices

CHANNELS = 3
DROPOUT_PLACEMENTS = ("write-up", "hidden")


# --------------------------------------------------------------------------------------------------------------------
# Plain convolutional networks (models 1-8 and the tuned network)
# --------------------------------------------------------------------------------------------------------------------


def _as_tuple(value, length: int, what: str) -> tuple:
    if isinstance(value, (int, str)) or value is None:
        return (value,) * length
    value = tuple(value)
    if len(value) != length:
        raise ValueError(f"{what} has {len(value)} entries but there are {length} layers")
    return value


def make_optimizer(optimizer: str | keras.optimizers.Optimizer = "adam", learning_rate: float | None = None):
    """An optimizer from a name ('adam', 'rmsprop', any case) so every network is compiled the same way."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    name = str(optimizer).lower()
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    if name not in classes:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of {sorted(classes)}")
    return classes[name]() if learning_rate is None else classes[name](learning_rate=learning_rate)


def compile_model(model: keras.Model, optimizer="adam", learning_rate: float | None = None) -> keras.Model:
    """Compile like the write-up: categorical cross-entropy, accuracy, Adam unless told otherwise."""
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=devices.steps_per_call(),  # same results, fewer calls (devices.py)
    )
    return model


def build_conv_net(
    num_classes: int = len(config.DEFAULT_CLASSES),
    image_size: tuple[int, int] = config.IMAGE_SIZE,
    *,
    filters: Sequence[int] = (32, 32),
    kernel_sizes: int | Sequence[int] = 3,
    dense: int | Sequence[int] = 32,
    dropout: float = 0.0,
    placement: str = "write-up",
    optimizer: str = "adam",
    learning_rate: float | None = None,
    kernel_initializer: str = "glorot_uniform",
    name: str = "conv_net",
) -> keras.Sequential:
    """The write-up's network family: (Conv2D 'same' + ReLU + MaxPool) per entry of ``filters``, Flatten,
    (Dense + ReLU) per entry of ``dense``, then Dense(num_classes) + softmax, compiled with Adam and
    categorical cross-entropy.

    ``dropout`` > 0 adds Dropout layers. ``placement="write-up"`` puts one between the output Dense and its softmax,
    exactly where the write-up put it (it drops logits); ``placement="hidden"`` puts one after every hidden Dense +
    ReLU, the conventional spot (and the tuner's).
    Layers get stable names (``conv_1``, ``dense_1``, ``output``, ``softmax`` ...) so notebooks and Grad-CAM can
    refer to them across sessions. ``kernel_initializer`` of the hidden layers: Keras' default, ``glorot_uniform``,
    as the write-up; ``he_uniform`` is the one made for ReLU (the model 8 experiment in benchmarks/RESULTS.md).
    """
    if placement not in DROPOUT_PLACEMENTS:
        raise ValueError(f"placement must be one of {DROPOUT_PLACEMENTS}, got {placement!r}")
    filters = tuple(int(f) for f in filters)
    if not filters:
        raise ValueError("A convolutional network needs at least one convolutional layer")
    kernels = _as_tuple(kernel_sizes, len(filters), "kernel_sizes")
    dense_units = () if dense is None else ((int(dense),) if isinstance(dense, int) else tuple(int(d) for d in dense))
    height, width = image_size

    layers: list[keras.layers.Layer] = [keras.Input(shape=(height, width, CHANNELS), name="image")]
    for i, (f, k) in enumerate(zip(filters, kernels), start=1):
        layers += [
            keras.layers.Conv2D(f, (k, k), padding="same", kernel_initializer=kernel_initializer, name=f"conv_{i}"),
            keras.layers.Activation("relu", name=f"conv_{i}_relu"),
            keras.layers.MaxPooling2D(name=f"pool_{i}"),
        ]
    layers.append(keras.layers.Flatten(name="flatten"))
    for j, units in enumerate(dense_units, start=1):
        layers += [
            keras.layers.Dense(units, kernel_initializer=kernel_initializer, name=f"dense_{j}"),
            keras.layers.Activation("relu", name=f"dense_{j}_relu"),
        ]
        if dropout and placement == "hidden":
            layers.append(keras.layers.Dropout(dropout, name=f"dense_{j}_dropout"))
    # The logits and the softmax in float32 whatever the global policy (modelling.precision): the loss, the
    # probabilities and Grad-CAM's class score keep full precision; the layer is small, so it costs nothing.
    layers.append(keras.layers.Dense(num_classes, name="output", dtype="float32"))
    if dropout and placement == "write-up":
        layers.append(keras.layers.Dropout(dropout, name="output_dropout", dtype="float32"))
    layers.append(keras.layers.Activation("softmax", name="softmax", dtype="float32"))
    model = keras.Sequential(layers, name=name)
    return compile_model(model, optimizer, learning_rate)


def build_baseline(num_classes: int = 5, image_size: tuple[int, int] = config.IMAGE_SIZE, **kwargs) -> keras.Sequential:
    """Model 1: two Conv2D(32, 3x3) + ReLU + MaxPool blocks, Dense 32 + ReLU, softmax output, Adam.

    1,058,917 parameters for 5 classes at 128 px (1,058,950 for the write-up's 6).
    """
    kwargs.setdefault("name", "baseline")
    return build_conv_net(num_classes, image_size, filters=(32, 32), kernel_sizes=3, dense=32, **kwargs)


def build_dropout(
    num_classes: int = 5,
    image_size: tuple[int, int] = config.IMAGE_SIZE,
    *,
    dropout: float = 0.5,
    placement: str = "write-up",
    **kwargs,
) -> keras.Sequential:
    """Model 2 (and 3, 4): the baseline plus Dropout(0.5) — by default where the write-up put it, between the
    output Dense and its softmax; ``placement="hidden"`` puts it after the hidden Dense instead."""
    kwargs.setdefault("name", "dropout")
    return build_conv_net(
        num_classes, image_size, filters=(32, 32), kernel_sizes=3, dense=32, dropout=dropout, placement=placement,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------------------------------
# The write-up's table
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One row of the write-up's table: how to build the network and how its data/training differ."""

    number: int
    name: str  # file stem in models/ (models/<name>.keras, <name>.json, <name>_history.csv)
    changes: str  # the write-up's "Changes Made" column
    builder: str  # "conv_net" or "transfer"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    augment: bool = False
    lr_reducer: bool = False
    epochs: int = 50
    image_size: tuple[int, int] = config.IMAGE_SIZE
    preprocessing: str = "rescale"
    writeup_validation_accuracy: float | None = None
    writeup_test_accuracy: float | None = None

    def build(self, num_classes: int = 5, image_size: tuple[int, int] | None = None, **overrides) -> keras.Model:
        """Build this row's network (fresh weights; seed first with ``training.seed_everything`` to repeat)."""
        kwargs = {**self.kwargs, **overrides}
        size = tuple(image_size or self.image_size)
        if self.builder == "transfer":
            return build_transfer(num_classes=num_classes, image_size=size, **kwargs)
        kwargs.setdefault("name", self.name)
        return build_conv_net(num_classes, size, **kwargs)

    def settings(self, **extra) -> dict:
        """The settings dict that ``training.fit`` stores in the run's record."""
        return {
            "model_number": self.number,
            "changes": self.changes,
            "image_size": list(self.image_size),
            "preprocessing": self.preprocessing,
            "augment": self.augment,
            "lr_reducer": self.lr_reducer,
            "epochs": self.epochs,
            # only where it differs from Keras' default, so the runs of the other models keep their lineage
            **({"kernel_initializer": self.kwargs["kernel_initializer"]} if "kernel_initializer" in self.kwargs
               else {}),
            **extra,
        }


def conv_net_flops(
    num_classes: int = len(config.DEFAULT_CLASSES),
    image_size: tuple[int, int] = config.IMAGE_SIZE,
    *,
    filters: Sequence[int] = (32, 32),
    kernel_sizes: int | Sequence[int] = 3,
    dense: int | Sequence[int] | None = 32,
    **_ignored,
) -> int:
    """Floating-point operations of one forward pass of ``build_conv_net``'s network for one photo (a multiply-add
    counts two), worked out from the arguments without building it. What a network costs per photo, so a search
    can be given a compute budget instead of a parameter budget: a wide first layer at full resolution has few
    parameters and costs the most (``count_flops`` counts the same on a built network)."""
    filters = tuple(int(f) for f in filters)
    kernels = _as_tuple(kernel_sizes, len(filters), "kernel_sizes")
    height, width = (int(s) for s in image_size)
    channels, total = CHANNELS, 0
    for f, k in zip(filters, kernels):  # 'same' convolution, then a 2x2 max-pool
        total += 2 * height * width * k * k * channels * f
        channels, height, width = f, height // 2, width // 2
    inputs = height * width * channels
    dense_units = () if dense is None else ((int(dense),) if isinstance(dense, int) else tuple(int(d) for d in dense))
    for units in (*dense_units, num_classes):
        total += 2 * inputs * units
        inputs = units
    return int(total)


def count_flops(model: keras.Model) -> int:
    """Forward-pass floating-point operations per photo of a built network's Conv2D and Dense layers (a multiply-add
    counts two; pooling, activations and biases are left out, as they are a rounding error next to these)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            in_channels = layer.input.shape[-1]
            k_h, k_w = layer.kernel_size
            total += 2 * int(height) * int(width) * k_h * k_w * int(in_channels) * int(out_channels) // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(layer.input.shape[-1]) * int(layer.units)
    return int(total)


_BASE = dict(filters=(32, 32), kernel_sizes=3, dense=32)
_DROPOUT = dict(_BASE, dropout=0.5, placement="write-up")

MODEL_TABLE: dict[int, ModelSpec] = {
    spec.number: spec
    for spec in [
        ModelSpec(1, "m1_baseline", "Baseline", "conv_net", _BASE, writeup_validation_accuracy=0.733,
                  writeup_test_accuracy=0.747),
        ModelSpec(2, "m2_dropout", "Add Dropout (0.5)", "conv_net", _DROPOUT, writeup_validation_accuracy=0.76,
                  writeup_test_accuracy=0.81),
        ModelSpec(3, "m3_augmentation", "Add Image Augmentation", "conv_net", _DROPOUT, augment=True,
                  writeup_validation_accuracy=0.72, writeup_test_accuracy=0.64),
        ModelSpec(4, "m4_lr_reducer", "Adjust Learning Rate (reduce on validation-loss plateau)", "conv_net",
                  _DROPOUT, augment=True, lr_reducer=True, writeup_validation_accuracy=0.787,
                  writeup_test_accuracy=0.74),
        ModelSpec(5, "m5_conv_32_32_64", "Add 3rd convolutional layer with 64 filters (32-32-64, Dense 32), "
                  "reduce Dropout (0.25)", "conv_net",
                  dict(filters=(32, 32, 64), kernel_sizes=3, dense=32, dropout=0.25, placement="write-up"),
                  augment=True, lr_reducer=True, writeup_validation_accuracy=0.787, writeup_test_accuracy=0.787),
        ModelSpec(6, "m6_conv_16_32_64", "Reduce filters in 1st layer (16-32-64, Dense 32)", "conv_net",
                  dict(filters=(16, 32, 64), kernel_sizes=3, dense=32, dropout=0.25, placement="write-up"),
                  augment=True, lr_reducer=True, writeup_validation_accuracy=0.73, writeup_test_accuracy=0.72),
        # Models 7 and 8: ReLU layers initialised for ReLU (He), not with Keras' default (Glorot). On clothing6
        # (benchmarks/RESULTS.md, issue 31) model 7 with Glorot collapsed to uniform answers (loss ln 6 from epoch 2)
        # and model 8 sat near chance for 29 epochs; with He, 7 was 10 points above chance by epoch 7 (53 % at
        # epoch 30) and 8 by epoch 6. Glorot keeps the variance of a linear layer; a ReLU halves it, so with the
        # widest and deepest stacks the signal reaching the output starts too small to learn from.
        ModelSpec(7, "m7_conv_32_64_64k5", "Increase filters and kernel size in 3rd layer (32-64-64 with 5x5, "
                  "Dense 32)", "conv_net",
                  dict(filters=(32, 64, 64), kernel_sizes=(3, 3, 5), dense=32, dropout=0.25, placement="write-up",
                       kernel_initializer="he_uniform"),
                  augment=True, lr_reducer=True, writeup_validation_accuracy=0.767, writeup_test_accuracy=0.80),
        ModelSpec(8, "m8_conv_32_32_32_64", "Add 4th convolutional layer (32-32-32-64, Dense 32)", "conv_net",
                  dict(filters=(32, 32, 32, 64), kernel_sizes=3, dense=32, dropout=0.25, placement="write-up",
                       kernel_initializer="he_uniform"),
                  augment=True, lr_reducer=True, writeup_validation_accuracy=0.753, writeup_test_accuracy=None),
        ModelSpec(9, "m9_mobilenet_v2", "Use MobileNetV2 base model (ImageNet weights, frozen; 224 px)",
                  "transfer", dict(base="mobilenet_v2"), augment=True, lr_reducer=False, epochs=10,
                  image_size=(224, 224), preprocessing="mobilenet_v2", writeup_validation_accuracy=0.98,
                  writeup_test_accuracy=1.0),
    ]
}


def build_experiment(number: int, num_classes: int = 5, image_size: tuple[int, int] | None = None, **overrides):
    """Build model ``number`` (1-9) of the write-up's table."""
    if number not in MODEL_TABLE:
        raise KeyError(f"No model {number} in the write-up's table; there are {sorted(MODEL_TABLE)}")
    return MODEL_TABLE[number].build(num_classes, image_size, **overrides)


def model_table():
    """The table as a DataFrame (number, name, changes, augment, lr_reducer, epochs, write-up accuracies)."""
    rows = [
        {
            "model": s.number,
            "name": s.name,
            "changes": s.changes,
            "augment": s.augment,
            "lr_reducer": s.lr_reducer,
            "image_size": f"{s.image_size[0]}x{s.image_size[1]}",
            "preprocessing": s.preprocessing,
            "epochs": s.epochs,
            "writeup_validation_accuracy": s.writeup_validation_accuracy,
            "writeup_test_accuracy": s.writeup_test_accuracy,
        }
        for s in MODEL_TABLE.values()
    ]
    return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------------------------------------------------
# Keras Tuner
# --------------------------------------------------------------------------------------------------------------------

# The write-up's search space. Hyper-parameter names are the write-up's, so a best-values dict from its code fits.
# "Input_Conv_Filters" is the first conv layer; "n_Conv_Layers" counts the conv layers after it (0-3, so 1-4 in all,
# as the write-up's text says; its code used 1-3).
TUNER_SEARCH_SPACE = {
    "Input_Conv_Filters": dict(min_value=32, max_value=256, step=32),
    "n_Conv_Layers": dict(min_value=0, max_value=3, step=1),
    "Conv_{i}_Filters": dict(min_value=32, max_value=256, step=32),
    "n_Dense_Layers": dict(min_value=1, max_value=4, step=1),
    "Dense_{j}_Neurons": dict(min_value=32, max_value=256, step=32),
    "Dropout": dict(values=[False, True]),
    "Optimizer": dict(values=["adam", "rmsprop"]),
}
TUNER_DROPOUT_RATE = 0.5
# The network the write-up reports as its search's winner (its tuning section): trained in notebook 08 the same way
# as our search's winner, as the reference that tells whether our search found something better.
WRITEUP_TUNED = {"Input_Conv_Filters": 96, "n_Conv_Layers": 2, "Conv_0_Filters": 64, "Conv_1_Filters": 64,
                 "n_Dense_Layers": 1, "Dense_0_Neurons": 160, "Dropout": True, "Optimizer": "adam"}


def _conv_net_kwargs_from_values(values: Mapping[str, Any]) -> dict:
    n_conv = int(values.get("n_Conv_Layers", 0))
    n_dense = int(values.get("n_Dense_Layers", 1))
    filters = [int(values["Input_Conv_Filters"])] + [int(values[f"Conv_{i}_Filters"]) for i in range(n_conv)]
    dense = [int(values[f"Dense_{j}_Neurons"]) for j in range(n_dense)]
    return dict(
        filters=tuple(filters),
        kernel_sizes=3,
        dense=tuple(dense),
        dropout=TUNER_DROPOUT_RATE if bool(values.get("Dropout", False)) else 0.0,
        placement="hidden",
        optimizer=str(values.get("Optimizer", "adam")).lower(),
    )


class ToyHyperModel(keras_tuner.HyperModel):
    """Keras Tuner hypermodel over the write-up's search space (use with ``keras_tuner.RandomSearch``).

    Conv layers 1-4 (filters 32-256 step 32, 3x3, each with ReLU and MaxPool), Dense layers 1-4 (32-256 step 32,
    ReLU, each followed by Dropout(0.5) when "Dropout" is on), optimizer Adam or RMSprop.

    Every per-layer hyper-parameter (``Conv_i_Filters``, ``Dense_j_Neurons``) is declared in every build, inside a
    ``conditional_scope`` of the layer count: it is active (sampled, recorded) only in trials whose network has that
    layer. Declared only when first used, the first trial with a new layer would get the default 32 filters.
    """

    def __init__(self, num_classes: int = 5, image_size: tuple[int, int] = config.IMAGE_SIZE, name: str = "tuned"):
        super().__init__(name=name, tunable=True)
        self.num_classes = num_classes
        self.image_size = tuple(image_size)

    def flops(self, values: Mapping[str, Any]) -> int:
        """Forward-pass operations per photo of the network these values describe (``conv_net_flops``), without
        building it: what a search's compute budget (``tuning.build_tuner(max_flops=...)``) is measured in."""
        return conv_net_flops(self.num_classes, self.image_size, **_conv_net_kwargs_from_values(values))

    def param_count(self, values: Mapping[str, Any]) -> int:
        """Parameters of the network these hyper-parameter values describe, worked out without building it (so a
        search can skip a draw like one 256-filter conv layer before 256 neurons, 268 M parameters at 128 px,
        before it allocates gigabytes)."""
        kwargs = _conv_net_kwargs_from_values(values)
        height, width = self.image_size
        channels, total = CHANNELS, 0
        for filters in kwargs["filters"]:  # 3x3 'same' convolutions, each followed by a 2x2 max-pool
            total += (9 * channels + 1) * filters
            channels, height, width = filters, height // 2, width // 2
        inputs = height * width * channels
        for units in (*kwargs["dense"], self.num_classes):
            total += (inputs + 1) * units
            inputs = units
        return int(total)

    @staticmethod
    def _per_layer(hp, count_name: str, template: str, index_name: str) -> dict:
        """Declare ``template`` for every possible layer, each active only when ``count_name`` says the layer
        exists; return the values of the layers this trial's network has."""
        counts = TUNER_SEARCH_SPACE[count_name]
        possible = list(range(int(counts["min_value"]), int(counts["max_value"]) + 1, int(counts.get("step", 1))))
        values = {}
        for index in range(int(counts["max_value"])):
            name = template.format(**{index_name: index})
            with hp.conditional_scope(count_name, [n for n in possible if n > index]):
                value = hp.Int(name, **TUNER_SEARCH_SPACE[template])
            if value is not None:
                values[name] = value
        return values

    def build(self, hp):
        space = TUNER_SEARCH_SPACE
        values = {"Input_Conv_Filters": hp.Int("Input_Conv_Filters", **space["Input_Conv_Filters"])}
        values["n_Conv_Layers"] = hp.Int("n_Conv_Layers", **space["n_Conv_Layers"])
        values.update(self._per_layer(hp, "n_Conv_Layers", "Conv_{i}_Filters", "i"))
        values["n_Dense_Layers"] = hp.Int("n_Dense_Layers", **space["n_Dense_Layers"])
        values.update(self._per_layer(hp, "n_Dense_Layers", "Dense_{j}_Neurons", "j"))
        values["Dropout"] = hp.Boolean("Dropout")
        values["Optimizer"] = hp.Choice("Optimizer", **space["Optimizer"])
        return build_conv_net(self.num_classes, self.image_size, name=self.name,
                              **_conv_net_kwargs_from_values(values))


def build_tuner_model(hp, num_classes: int = 5, image_size: tuple[int, int] = config.IMAGE_SIZE):
    """Function form of the hypermodel, like the write-up's ``build_model(hp)``."""
    return ToyHyperModel(num_classes, image_size).build(hp)


def build_from_hyperparameters(
    values, num_classes: int = 5, image_size: tuple[int, int] = config.IMAGE_SIZE, name: str = "tuned"
) -> keras.Sequential:
    """Rebuild the tuner's best network as a plain model from its values (a dict, or keras_tuner HyperParameters
    such as ``tuner.get_best_hyperparameters()[0]``), so it can be trained with ``training.fit`` like the rest.

    The write-up's tuned network: ``{"Input_Conv_Filters": 96, "n_Conv_Layers": 2, "Conv_0_Filters": 64,
    "Conv_1_Filters": 64, "n_Dense_Layers": 1, "Dense_0_Neurons": 160, "Dropout": True, "Optimizer": "adam"}``.
    """
    values = dict(values) if isinstance(values, Mapping) else dict(values.values)
    return build_conv_net(num_classes, image_size, name=name, **_conv_net_kwargs_from_values(values))


# --------------------------------------------------------------------------------------------------------------------
# Transfer learning
# --------------------------------------------------------------------------------------------------------------------


def _mobilenet_v2_weights(image_size: tuple[int, int]) -> str:
    rows = image_size[0] if image_size[0] in (96, 128, 160, 192, 224) else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


@dataclass(frozen=True)
class BaseSpec:
    """A keras.applications base: constructor, default input size, the preprocessing name the data pipeline uses
    (the keras.applications module whose ``preprocess_input`` applies) and the weights file Keras caches."""

    constructor: str  # attribute of keras.applications
    image_size: tuple[int, int]
    preprocessing: str  # keras.applications.<preprocessing>.preprocess_input
    weights_file: str | Callable[[tuple[int, int]], str]
    model_name_prefix: str  # the base model's own name, used to recognise it inside a saved model

    def weights_filename(self, image_size: tuple[int, int] | None = None) -> str:
        if callable(self.weights_file):
            return self.weights_file(tuple(image_size or self.image_size))
        return self.weights_file

    def constructor_fn(self):
        return getattr(keras.applications, self.constructor)


BASES: dict[str, BaseSpec] = {
    "mobilenet_v2": BaseSpec("MobileNetV2", (224, 224), "mobilenet_v2", _mobilenet_v2_weights, "mobilenetv2_"),
    "vgg16": BaseSpec("VGG16", (224, 224), "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16"),
    "vgg19": BaseSpec("VGG19", (224, 224), "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19"),
    "resnet50": BaseSpec("ResNet50", (224, 224), "resnet50",
                         "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet50"),
    "densenet121": BaseSpec("DenseNet121", (224, 224), "densenet",
                            "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "densenet121"),
    "inception_v3": BaseSpec("InceptionV3", (299, 299), "inception_v3",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "inception_v3"),
    "xception": BaseSpec("Xception", (299, 299), "xception",
                         "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "xception"),
    "efficientnet_b0": BaseSpec("EfficientNetB0", (224, 224), "efficientnet", "efficientnetb0_notop.h5",
                                "efficientnetb0"),
}


def keras_weights_dir() -> Path:
    """Where Keras looks for cached application weights: ``$KERAS_HOME/models``, else ``~/.keras/models`` (or
    ``/tmp/.keras/models`` when the home folder cannot be written), Keras' documented rule. Keras has no public
    accessor for it; tests/test_library_internals.py checks that this agrees with Keras' own."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home).expanduser() / "models"


class WeightsNotAvailableError(FileNotFoundError):
    """ImageNet weights are neither in Keras' cache nor downloadable (an offline machine)."""


def _weights_help(base: str, filename: str, tried_download: bool) -> str:
    where = keras_weights_dir()
    shared = config.SHARED_DIR / "weights" / filename
    hint = f" This project keeps a copy: `make weights` copies {shared} there." if shared.is_file() else ""
    why = "could not be downloaded" if tried_download else "downloading was not allowed"
    return (
        f"The ImageNet weights for {base!r} are not in Keras' cache and {why}. "
        f"Put the file {filename} into {where}/ (Keras' cache: $KERAS_HOME/models/ if KERAS_HOME is set, "
        f"else ~/.keras/models/), then run again.{hint}"
    )


def load_base(
    base: str = "mobilenet_v2", image_size: tuple[int, int] | None = None, *, weights: str | None = "imagenet",
    allow_download: bool = True,
) -> keras.Model:
    """The standard ``keras.applications.<Base>(weights="imagenet", include_top=False, input_shape=...)`` call,
    with an error that says which file to put where when the weights cannot be had."""
    spec = BASES.get(base)
    if spec is None:
        raise KeyError(f"Unknown base {base!r}; choose one of {sorted(BASES)}")
    size = tuple(image_size or spec.image_size)
    filename = spec.weights_filename(size)
    if weights == "imagenet":
        cached = (keras_weights_dir() / filename).is_file()
        if not cached and not allow_download:
            raise WeightsNotAvailableError(_weights_help(base, filename, tried_download=False))
    try:
        return spec.constructor_fn()(weights=weights, include_top=False, input_shape=(size[0], size[1], CHANNELS))
    except WeightsNotAvailableError:
        raise
    except Exception as exc:
        if weights == "imagenet" and not (keras_weights_dir() / filename).is_file():
            raise WeightsNotAvailableError(_weights_help(base, filename, tried_download=True)) from exc
        raise


def build_transfer(
    base: str = "mobilenet_v2",
    num_classes: int = 5,
    image_size: tuple[int, int] | None = None,
    *,
    dense: int | Sequence[int] = (),
    dropout: float = 0.2,
    learning_rate: float = 1e-3,
    weights: str | None = "imagenet",
    allow_download: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Model 9: an ImageNet base (MobileNetV2 unless told otherwise), frozen, under a small new head:
    GlobalAveragePooling -> [Dense + ReLU]* -> Dropout -> Dense softmax. Adam at ``learning_rate``.

    The base stays a nested model (one layer of the transfer model) and is called with ``training=False`` so its
    BatchNorm statistics stay ImageNet's, also later when ``unfreeze_top`` fine-tunes it.
    Inputs are expected already preprocessed by the data pipeline with ``BASES[base].preprocessing``.
    """
    spec = BASES[base] if base in BASES else None
    if spec is None:
        raise KeyError(f"Unknown base {base!r}; choose one of {sorted(BASES)}")
    size = tuple(image_size or spec.image_size)
    base_model = load_base(base, size, weights=weights, allow_download=allow_download)
    base_model.trainable = False

    inputs = keras.Input(shape=(size[0], size[1], CHANNELS), name="image")
    x = base_model(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    dense_units = (dense,) if isinstance(dense, int) else tuple(dense)
    for j, units in enumerate(dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{j}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    # float32 whatever the global policy (modelling.precision): the probabilities and the loss keep full precision.
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name or f"transfer_{base}")
    return compile_model(model, "adam", learning_rate)


def find_base(model: keras.Model) -> keras.Model | None:
    """The nested pre-trained base inside a transfer model (the first layer that is itself a model)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    return None


def infer_preprocessing(model: keras.Model) -> str:
    """The preprocessing a model expects: its nested keras.applications base's, else the write-up's rescale."""
    base = find_base(model)
    if base is not None:
        for spec in BASES.values():
            if base.name.startswith(spec.model_name_prefix):
                return spec.preprocessing
    return "rescale"


_BLOCK = re.compile(r"^(.*?block_?\d+[a-z]?)(?:_|$)")


def _block_id(layer_name: str) -> str | None:
    match = _BLOCK.match(layer_name)
    return match.group(1) if match else None


def top_blocks(base: keras.Model, blocks: int = 2) -> list[keras.layers.Layer]:
    """The layers of ``base``'s top ``blocks`` named blocks, in order (MobileNetV2 ``block_16``, VGG ``block5``, ResNet
    ``conv5_block3``, EfficientNet ``block7a``), with the layers after the last block (MobileNetV2's ``Conv_1`` and
    ``out_relu``): what fine-tuning unfreezes, BatchNormalization aside."""
    if blocks <= 0:
        return []
    named = [_block_id(layer.name) for layer in base.layers]
    from_top = list(dict.fromkeys(block for layer, block in zip(reversed(base.layers), reversed(named))
                                  if block is not None and layer.weights))
    if len(from_top) <= blocks:
        return list(base.layers)
    below = from_top[blocks]  # the highest block that stays frozen
    cut = max(i for i, block in enumerate(named) if block == below)
    return [layer for layer, block in zip(base.layers[cut + 1:], named[cut + 1:]) if block != below]


def unfreeze_top(
    model: keras.Model, blocks: int | None = None, *, layers: int | None = None, learning_rate: float = 1e-5,
    optimizer: str = "adam",
) -> list[str]:
    """Fine-tuning stage: unfreeze the top of the nested base and recompile at a low learning rate.

    ``blocks`` (default 2) counts the base's named blocks from the top (``top_blocks``); ``layers`` instead counts
    layers with weights from the top. BatchNormalization layers stay frozen:
    training them on a few hundred photos would wreck the ImageNet statistics.
    Returns the names of the layers now trainable. Train the result under a new run name (e.g. ``<name>_finetune``)
    so the frozen stage's checkpoint and record stay as they were.
    """
    base = find_base(model)
    if base is None:
        raise ValueError("unfreeze_top needs a transfer model with a nested base (see build_transfer)")
    if blocks is not None and layers is not None:
        raise ValueError("Give blocks= or layers=, not both")
    if blocks is None and layers is None:
        blocks = 2
    base.trainable = True
    if layers is not None:
        candidates = [layer for layer in base.layers if layer.weights]
        chosen = {id(layer) for layer in candidates[-layers:]} if layers > 0 else set()
    else:
        chosen = {id(layer) for layer in top_blocks(base, blocks)}
    unfrozen = []
    for layer in base.layers:
        trainable = id(layer) in chosen and bool(layer.weights) and not isinstance(layer,
                                                                                keras.layers.BatchNormalization)
        layer.trainable = trainable
        if trainable:
            unfrozen.append(layer.name)
    compile_model(model, optimizer, learning_rate)
    return unfrozen


def count_params(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts, as in ``model.summary()``."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


__all__ = [
    "BASES",
    "BaseSpec",
    "MODEL_TABLE",
    "ModelSpec",
    "TUNER_SEARCH_SPACE",
    "WRITEUP_TUNED",
    "ToyHyperModel",
    "WeightsNotAvailableError",
    "build_baseline",
    "build_conv_net",
    "build_dropout",
    "build_experiment",
    "build_from_hyperparameters",
    "build_transfer",
    "build_tuner_model",
    "compile_model",
    "conv_net_flops",
    "count_flops",
    "count_params",
    "find_base",
    "infer_preprocessing",
    "keras_weights_dir",
    "load_base",
    "make_optimizer",
    "model_table",
    "top_blocks",
    "unfreeze_top",
]

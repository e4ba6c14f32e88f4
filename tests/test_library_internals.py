"""Every private attribute of Keras or Keras Tuner the package still relies on, checked against the installed
versions: each test names the library, its version and the one small function of ours that relies on it, so an
upgrade that removes or changes it fails here, loudly, before it fails somewhere deep in a notebook.

The package uses these because the libraries offer no public way to do the same (its docstrings say why):
- ``keras_graph``: ``Sequential._functional``, ``layer._inbound_nodes``, the "<id>_ib-<i>" keys of
  ``Functional._nodes``, ``KerasTensor._keras_history`` (Grad-CAM, transfer learning's chain check);
- ``training``: ``ModelCheckpoint._save_model`` / ``_get_file_path`` (the atomic checkpoint), ``model._initial_epoch``
  (set by ``BackupAndRestore``);
- ``data``: ``self._get_seed_generator(self.backend._backend)`` (the seeded brightness augmentation);
- ``tuning.tuner``: ``Oracle._random_values`` (redrawing oversized networks), a worker oracle's ``stub`` (the
  ``--oracle-timeout``);
- ``models.keras_weights_dir``: Keras' private ``keras_home()`` rule, re-implemented.
"""

from __future__ import annotations

import inspect
import socket
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from toyrobot_utils import data, tuning
from toyrobot_utils.modelling import keras_graph, models, training

KERAS = f"Keras {keras.__version__}"
KERAS_TUNER = f"keras_tuner {keras_tuner.__version__}"


def _tiny_sequential(name="tiny") -> keras.Sequential:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                             keras.layers.Activation("softmax", name="softmax")], name=name)


# --- keras_graph ---------------------------------------------------------------------------------------------------


def test_a_sequential_keeps_its_functional_graph():
    model = _tiny_sequential()
    graph = getattr(model, "_functional", None)
    assert graph is not None and hasattr(graph, "inputs") and hasattr(graph, "outputs"), (
        f"{KERAS}: a built Sequential no longer keeps its graph in `_functional`; keras_graph.functional_graph (and "
        "so Grad-CAM of every write-up network) needs another way to reach its input and output tensors")
    assert keras_graph.functional_graph(model) is graph


def test_graph_nodes_are_keyed_by_layer_id_and_call_index():
    shared = keras.layers.Dense(2, name="shared")
    inputs_a, inputs_b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    model_a = keras.Model(inputs_a, shared(inputs_a))
    model_b = keras.Model(inputs_b, shared(inputs_b))  # the layer's second call
    inbound = getattr(shared, "_inbound_nodes", None)
    assert isinstance(inbound, list) and len(inbound) == 2, (
        f"{KERAS}: layers no longer list their calls in `_inbound_nodes`; keras_graph.call_node cannot find where a "
        "graph calls a layer (Grad-CAM, transfer.split_transfer_model)")
    keys = set(getattr(model_b, "_nodes", ()))
    assert f"{id(shared)}_ib-1" in keys and f"{id(shared)}_ib-0" not in keys, (
        f"{KERAS}: a functional graph no longer keys its nodes '<id(layer)>_ib-<call index>' in `_nodes` (found "
        f"{sorted(keys)}); adapt keras_graph.call_node")
    assert keras_graph.call_node(shared, model_b).output_tensors[0] is model_b.outputs[0]
    assert keras_graph.call_node(shared, model_a).output_tensors[0] is model_a.outputs[0]


def test_a_symbolic_tensor_knows_the_layer_that_made_it():
    model = _tiny_sequential()
    output = keras_graph.functional_graph(model).outputs[0]
    history = getattr(output, "_keras_history", None)
    assert history is not None and hasattr(history, "operation"), (
        f"{KERAS}: symbolic tensors no longer carry `_keras_history.operation`; keras_graph.producing_layer (Grad-CAM "
        "finding the softmax to read logits from) needs another way")
    assert keras_graph.producing_layer(output) is model.get_layer("softmax")


# --- training ------------------------------------------------------------------------------------------------------


def _xy(n=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), keras.utils.to_categorical(rng.integers(0, 3, n), 3)


def test_model_checkpoint_saves_through_the_private_methods_training_overrides(tmp_path):
    base = keras.callbacks.ModelCheckpoint
    expected = {"_save_model": ["epoch", "batch", "logs"], "_get_file_path": ["epoch", "batch", "logs"]}
    for method, parameters in expected.items():
        found = getattr(base, method, None)
        assert found is not None and list(inspect.signature(found).parameters)[1:] == parameters, (
            f"{KERAS}: ModelCheckpoint.{method}{'' if found is None else inspect.signature(found)} is not "
            f"(self, {', '.join(parameters)}) any more; training.AtomicModelCheckpoint._save_model overrides and calls "
            "these to write the best model atomically")
    checkpoint = training.AtomicModelCheckpoint(tmp_path / "best.keras", verbose=0)
    model = models.compile_model(_tiny_sequential())
    x, y = _xy()
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[checkpoint])
    assert checkpoint.saved_epochs and (tmp_path / "best.keras").is_file(), (
        f"{KERAS}: ModelCheckpoint no longer calls `_save_model` at the end of an epoch, so "
        "training.AtomicModelCheckpoint never writes the checkpoint")


def test_backup_and_restore_resumes_through_model_initial_epoch(tmp_path):
    model = models.compile_model(_tiny_sequential())
    x, y = _xy()
    backup = str(tmp_path / "backup")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    resumed = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    assert len(resumed.history["loss"]) == 1 and getattr(model, "_initial_epoch", None) == 2, (
        f"{KERAS}: BackupAndRestore no longer resumes by setting the private `model._initial_epoch`; "
        "training._forget_resumed_epoch resets that attribute after every fit and must follow the change")
    model._initial_epoch = None  # what training does after fit: the next fit starts at epoch 0 again
    assert len(model.fit(x, y, epochs=2, verbose=0).history["loss"]) == 2


# --- data ----------------------------------------------------------------------------------------------------------


def test_random_image_layers_draw_from_a_private_seed_generator():
    layer = data.RandomBrightnessScale(seed=3)
    assert callable(getattr(layer, "_get_seed_generator", None)) and hasattr(layer.backend, "_backend"), (
        f"{KERAS}: random preprocessing layers no longer have `_get_seed_generator(self.backend._backend)`; "
        "data.RandomBrightnessScale._seed_generator (the seeded brightness augmentation) needs another way")
    assert isinstance(layer._seed_generator(), keras.random.SeedGenerator)
    images = np.full((2, 8, 8, 3), 100.0, np.float32)
    first = data.RandomBrightnessScale(seed=3)(images, training=True)
    again = data.RandomBrightnessScale(seed=3)(images, training=True)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))


# --- tuning --------------------------------------------------------------------------------------------------------


def test_oracles_draw_random_values_through_a_private_method():
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 100)
    for oracle in (keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=3, seed=1,
                                                          hyperparameters=hp),
                   keras_tuner.oracles.HyperbandOracle(objective="val_accuracy", max_epochs=3, seed=1,
                                                       hyperparameters=hp)):
        draw = getattr(oracle, "_random_values", None)
        assert callable(draw), (
            f"{KERAS_TUNER}: {type(oracle).__name__} no longer draws through `_random_values`; "
            "tuning.tuner._redraw_oversized cannot keep oversized networks out of a search")
        calls = []
        oracle._random_values = lambda: calls.append(1) or draw()
        oracle.populate_space("0")
        assert calls, f"{KERAS_TUNER}: {type(oracle).__name__}.populate_space no longer calls `_random_values`"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_workers_oracle_sends_requests_through_a_stub_whose_wait_can_be_limited(tmp_path):
    env = {tuning.ENV_TUNER_ID: "tuner0", tuning.ENV_ORACLE_IP: "127.0.0.1",
           tuning.ENV_ORACLE_PORT: str(_closed_port())}
    with tuning.environment(env):
        tuner = tuning.build_tuner(tmp_path, num_classes=2, image_size=(32, 32), max_trials=1, oracle_timeout=1.0)
    assert type(tuner.oracle).__name__ == "OracleClient", (
        f"{KERAS_TUNER}: a worker's tuner.oracle is a {type(tuner.oracle).__name__}, not the OracleClient "
        "tuning.tuner.limit_oracle_wait knows")
    start = time.monotonic()
    with pytest.raises(Exception) as err:  # nobody listens: the request gives up after the limit, not after an hour
        tuner.oracle.get_space()
    assert time.monotonic() - start < 30 and type(err.value).__module__.startswith("grpc"), (
        f"{KERAS_TUNER}: a worker's request did not stop at the limit tuning.tuner.limit_oracle_wait set "
        f"({err.value!r})")


# --- models --------------------------------------------------------------------------------------------------------


def test_keras_weights_dir_is_where_keras_caches_weights():
    from keras.src.backend import config as keras_config  # noqa: TID251 - the private rule we re-implement

    keras_cache = Path(keras_config.keras_home()).expanduser() / "models"
    assert models.keras_weights_dir() == keras_cache, (
        f"{KERAS}: weights are cached in {keras_cache}, not where models.keras_weights_dir says (the offline-weights "
        "error message names that folder); adapt it to Keras' rule")

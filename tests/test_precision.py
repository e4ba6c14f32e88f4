"""The precision setting (modelling.precision): the probe's decision (faster -> bfloat16, slower -> float32, given
values respected, the measurement cached per machine), the float32 softmax under a mixed policy, the lineage that
changes with the precision, and a network trained in mixed_bfloat16 saved as a float32 file that loads, predicts
within a small tolerance of the bfloat16 network and exports to TensorFlow Lite."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from toyrobot_utils import config, data, lineage
from toyrobot_utils.modelling import models, precision, training
from toyrobot_utils.robot import export

from conftest import make_dataset

CLASSES = ("bananagrams", "brios", "cars")
SIZE = 32


@pytest.fixture(autouse=True)
def float32_afterwards(monkeypatch):
    monkeypatch.delenv(config.PRECISION_ENV, raising=False)
    yield
    keras.mixed_precision.set_global_policy("float32")


def timed(float32: float, mixed: float, calls: list | None = None):
    """A probe that reports these seconds per step (and counts its calls)."""
    def probe_fn(candidate, network):
        if calls is not None:
            calls.append((candidate, network))
        return {"float32": float32, candidate: mixed}
    return probe_fn


def never(candidate, network):
    raise AssertionError("the probe ran although it should not have")


# --------------------------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------------------------


def test_choose_needs_a_clear_gain():
    assert precision.choose(2.4, "mixed_bfloat16") == "mixed_bfloat16"
    assert precision.choose(precision.THRESHOLD, "mixed_bfloat16") == "mixed_bfloat16"
    assert precision.choose(1.2, "mixed_bfloat16") == "float32"
    assert precision.choose(0.9, "mixed_bfloat16") == "float32"
    assert precision.choose(None, "mixed_bfloat16") == "float32"


def test_auto_picks_bfloat16_when_the_probe_finds_it_faster_and_caches_it(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "has_bf16_units", lambda facts=None: True)
    calls = []
    decision = precision.resolve("auto", cache_dir=tmp_path, gpu=False, probe_fn=timed(0.30, 0.12, calls))
    assert decision.precision == "mixed_bfloat16" and decision.source == "probe"
    assert decision.speedup == pytest.approx(2.5)
    assert decision.line() == ("training in mixed_bfloat16: 2.5x faster than float32 on this CPU (conv nets, "
                               "measured now)")
    again = precision.resolve(None, cache_dir=tmp_path, gpu=False, probe_fn=never)  # once per machine
    assert (again.precision, again.source, calls) == ("mixed_bfloat16", "cache", [("mixed_bfloat16", "conv_net")])
    stored = list((tmp_path / "precision").glob("*.json"))
    assert len(stored) == 1 and precision.cache_path(tmp_path) == stored[0]
    # MobileNetV2 is measured apart: bfloat16 can pay for the conv nets and not for it
    transfer = precision.resolve("auto", network="transfer", cache_dir=tmp_path, gpu=False,
                                 probe_fn=timed(0.50, 0.56, calls))
    assert (transfer.precision, transfer.network, calls[-1]) == ("float32", "transfer", ("mixed_bfloat16", "transfer"))
    assert "MobileNetV2" in transfer.line()
    assert precision.resolve("auto", cache_dir=tmp_path, gpu=False, probe_fn=never).precision == "mixed_bfloat16"
    assert precision.resolve("auto", network="transfer", cache_dir=tmp_path, gpu=False,
                             probe_fn=never).precision == "float32"
    with pytest.raises(precision.PrecisionError, match="network"):
        precision.resolve("auto", network="resnet", cache_dir=tmp_path, gpu=False, probe_fn=never)
    refreshed = precision.resolve("auto", cache_dir=tmp_path, gpu=False, probe_fn=timed(0.30, 0.33), refresh=True)
    assert refreshed.precision == "float32" and refreshed.source == "probe"


def test_auto_keeps_float32_when_bfloat16_is_slower_or_barely_faster(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "has_bf16_units", lambda facts=None: True)
    slower = precision.resolve("auto", cache_dir=tmp_path / "a", gpu=False, probe_fn=timed(0.30, 0.33))
    assert slower.precision == "float32" and slower.speedup == pytest.approx(0.909, abs=1e-3)
    assert slower.line().startswith("training in float32: mixed_bfloat16 measured 0.9x here")
    barely = precision.resolve("auto", cache_dir=tmp_path / "b", gpu=False, probe_fn=timed(0.30, 0.25))
    assert barely.precision == "float32"  # 1.2x: not clearly faster


def test_a_cpu_without_bfloat16_units_is_not_probed(tmp_path, monkeypatch):
    has_bf16_units = precision.has_bf16_units
    monkeypatch.setattr(precision, "has_bf16_units", lambda facts=None: False)
    decision = precision.resolve("auto", cache_dir=tmp_path, gpu=False, probe_fn=never)
    assert (decision.precision, decision.source) == ("float32", "no bfloat16 units")
    monkeypatch.setattr(precision, "has_bf16_units", has_bf16_units)
    assert precision.has_bf16_units({"flags": ["avx2", "avx512f"]}) is False
    assert precision.has_bf16_units({"flags": ["avx512f", "avx512_bf16"]}) is True
    assert precision.has_bf16_units({"flags": ["fp", "asimd", "bf16"]}) is True  # Arm
    assert precision.has_bf16_units({"flags": None}) is None


def test_given_values_are_respected_without_a_probe(tmp_path, monkeypatch):
    for setting in ("float32", "mixed_bfloat16", " Float32 "):
        decision = precision.resolve(setting, cache_dir=tmp_path, gpu=False, probe_fn=never)
        assert decision.precision == setting.strip().lower() and decision.source == "set"
    assert precision.resolve("mixed_float16", cache_dir=tmp_path, gpu=True, probe_fn=never).precision == \
        "mixed_float16"
    monkeypatch.setenv(config.PRECISION_ENV, "mixed_bfloat16")  # make run PRECISION=..., run-series --precision
    assert precision.resolve(None, cache_dir=tmp_path, gpu=False, probe_fn=never).precision == "mixed_bfloat16"
    assert precision.resolve("float32", cache_dir=tmp_path, gpu=False, probe_fn=never).precision == "float32"
    assert not (tmp_path / "precision").exists()
    with pytest.raises(precision.PrecisionError, match="needs a GPU"):
        precision.resolve("mixed_float16", cache_dir=tmp_path, gpu=False)
    with pytest.raises(precision.PrecisionError, match="not one of"):
        precision.resolve("bfloat16", cache_dir=tmp_path, gpu=False)


def test_on_a_gpu_auto_weighs_mixed_float16(tmp_path):
    calls = []
    decision = precision.resolve("auto", cache_dir=tmp_path, gpu=True, probe_fn=timed(0.2, 0.05, calls))
    assert calls == [("mixed_float16", "conv_net")] and decision.precision == "mixed_float16"
    assert "on this GPU" in decision.line()


def test_use_sets_the_global_policy(tmp_path):
    decision = precision.use("mixed_bfloat16", cache_dir=tmp_path)
    assert keras.mixed_precision.global_policy().name == decision.precision == "mixed_bfloat16"


def test_the_probe_times_both_policies():
    for network in precision.NETWORKS:
        seconds = precision.probe("mixed_bfloat16", network, rounds=1, steps=1, batch=4, image_size=32)
        assert set(seconds) == {"float32", "mixed_bfloat16"} and all(s > 0 for s in seconds.values())
    assert keras.mixed_precision.global_policy().name == "float32"  # the probe leaves the global policy alone


# --------------------------------------------------------------------------------------------------------------------
# Networks, lineage, saved files
# --------------------------------------------------------------------------------------------------------------------


def small_net():
    return models.build_conv_net(len(CLASSES), (SIZE, SIZE), filters=(8, 8), dense=16)


def test_softmax_and_logits_stay_float32_under_a_mixed_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = small_net()
    assert model.get_layer("conv_1").compute_dtype == "bfloat16"
    assert model.get_layer("output").compute_dtype == "float32"
    assert model.get_layer("softmax").compute_dtype == "float32"
    assert precision.model_precision(model) == "mixed_bfloat16"
    assert model(np.zeros((2, SIZE, SIZE, 3), np.float32)).dtype == "float32"
    transfer = models.build_transfer("mobilenet_v2", len(CLASSES), (SIZE, SIZE), weights=None)  # random weights
    assert models.find_base(transfer).get_layer("Conv1").compute_dtype == "bfloat16"
    assert transfer.get_layer("output").compute_dtype == "float32"
    assert precision.model_precision(transfer) == "mixed_bfloat16"
    copy = precision.float32_copy(transfer)  # nested base included
    assert precision.model_precision(copy) == "float32"
    images = np.random.default_rng(0).random((2, SIZE, SIZE, 3), dtype=np.float32)
    np.testing.assert_allclose(copy(images), transfer(images), atol=0.05)


def fit_tiny(root, policy: str, name: str = "tiny", epochs: int = 3):
    data_dir = root / "data"
    if not data_dir.is_dir():
        make_dataset(data_dir, classes=CLASSES, counts={"training": 6, "validation": 3, "test": 3})
    splits = data.load_datasets(data_dir, image_size=(SIZE, SIZE), batch_size=4, verbose=False)
    keras.mixed_precision.set_global_policy(policy)
    model = small_net()
    run = training.fit(model, splits["training"], splits["validation"], name=name, epochs=epochs,
                       models_dir=root / "models", verbose=0, tensorboard=False)
    keras.mixed_precision.set_global_policy("float32")
    return data_dir, splits, model, run


def test_the_lineage_changes_with_the_precision(tmp_path):
    _, _, _, first = fit_tiny(tmp_path, "float32")
    assert "precision" not in first.record["lineage"]["settings"]  # float32 runs keep their earlier lineage
    _, _, _, second = fit_tiny(tmp_path, "mixed_bfloat16")
    assert second.record["lineage"]["settings"]["precision"] == "mixed_bfloat16"
    assert second.record["settings"]["precision"] == "mixed_bfloat16"
    assert second.record["lineage"]["key"] != first.record["lineage"]["key"]
    assert "precision None -> 'mixed_bfloat16'" in lineage.differences(first.record["lineage"],
                                                                      second.record["lineage"])
    assert len(list((tmp_path / "models" / training.ARCHIVE_DIR / "tiny").iterdir())) == 1  # the float32 run, kept


def test_a_bfloat16_trained_model_loads_and_predicts_in_float32(tmp_path):
    _, splits, _, run = fit_tiny(tmp_path, "mixed_bfloat16")
    loaded = keras.models.load_model(run.paths["model"])
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert precision.model_precision(loaded) == "float32"
    images = np.concatenate([np.asarray(x) for x, _ in data.dataset_of(splits["test"])])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    twin = small_net()  # the same weights computing in bfloat16, as during training
    keras.mixed_precision.set_global_policy("float32")
    twin.set_weights(loaded.get_weights())
    in_float32 = loaded.predict(images, verbose=0)
    in_bfloat16 = twin.predict(images, verbose=0)
    assert in_float32.dtype == np.float32
    assert not np.array_equal(in_float32, in_bfloat16)  # the twin really computed in bfloat16
    np.testing.assert_allclose(in_float32, in_bfloat16, atol=0.03)
    copy = precision.float32_copy(twin)
    np.testing.assert_allclose(copy.predict(images, verbose=0), in_float32, atol=1e-6)
    assert copy.get_compile_config() == twin.get_compile_config()
    assert precision.float32_copy(loaded) is loaded


def test_tflite_export_of_a_bfloat16_trained_model(tmp_path):
    data_dir, splits, _, run = fit_tiny(tmp_path, "mixed_bfloat16")
    result = export.export_tflite("tiny", models_dir=tmp_path / "models", data_dir=data_dir,
                                  out_dir=tmp_path / "tflite", calibration=6)
    images = np.concatenate([np.asarray(x) for x, _ in data.dataset_of(splits["test"])])
    expected = run.model.predict(images, verbose=0)
    lite = export.TFLiteModel(result["paths"]["float32"], threads=1).predict(images)
    np.testing.assert_allclose(lite, expected, atol=1e-5)
    dtypes = {np.dtype(t["dtype"]).name for t in
              export.TFLiteModel(result["paths"]["float32"]).interpreter.get_tensor_details()}
    assert "bfloat16" not in dtypes and "float16" not in dtypes


def test_gradcam_and_cached_features_of_a_mixed_network_are_float32():
    from toyrobot_utils.analysis import gradcam
    from toyrobot_utils.modelling import transfer as transfer_module

    images = np.random.default_rng(1).random((3, SIZE, SIZE, 3), dtype=np.float32)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    networks = [small_net(), models.build_transfer("mobilenet_v2", len(CLASSES), (SIZE, SIZE), weights=None)]
    keras.mixed_precision.set_global_policy("float32")
    for network in networks:
        maps = gradcam.gradcam_heatmap(network, images)  # the transfer head's logits: bfloat16 input, float32 kernel
        reference = gradcam.gradcam_heatmap(precision.float32_copy(network), images)
        assert maps.dtype == np.float32 and maps.shape == reference.shape == (3, SIZE, SIZE)
        assert np.isfinite(maps).all() and np.abs(maps - reference).mean() < 0.1
    extract, _ = transfer_module.feature_extractor(networks[1])
    features, _ = transfer_module.extract_features(extract, [images], with_labels=False)
    assert features.dtype == np.float32 and features.shape == (3, 1280)


def test_setup_applies_and_prints_the_precision(tmp_path, capsys, monkeypatch):
    from toyrobot_utils.series.notebook import setup

    setup(tmp_path / "data", tmp_path / "models", tmp_path / "figures", 42, precision="mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert "training in mixed_bfloat16 (precision='mixed_bfloat16' as set" in capsys.readouterr().out
    monkeypatch.setenv(config.PRECISION_ENV, "float32")  # what make run PRECISION=float32 / --precision set
    setup(tmp_path / "data", tmp_path / "models", tmp_path / "figures", 42)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert "training in float32 (precision='float32' as set" in capsys.readouterr().out
    # A notebook's parameter cell says precision = "auto": the environment's setting still wins over it.
    setup(tmp_path / "data", tmp_path / "models", tmp_path / "figures", 42, precision="auto")
    assert keras.mixed_precision.global_policy().name == "float32"
    setup(tmp_path / "data", tmp_path / "models", tmp_path / "figures", 42, precision="mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    keras.mixed_precision.set_global_policy("float32")


def test_run_series_refuses_an_unknown_precision(capsys):
    import argparse

    from toyrobot_utils.series import runner

    args = argparse.Namespace(parameter=[], quick=False, only=None, output_dir=None, precision="bfloat16")
    assert runner.run(args) == 2
    assert "--precision 'bfloat16' is not one of" in capsys.readouterr().err

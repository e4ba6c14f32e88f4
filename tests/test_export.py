"""TensorFlow Lite export: three files whose predictions agree with the Keras model (float32 to rounding, float16
closely, full-integer int8 on most photos, with correct input quantization), the side-by-side comparison, one-thread
latency, the benchmark script's smoke run, and the errors.

The tiny network of test_robot (trained once per module with ``training.fit``, 32 px, "rescale") is exported; the
calibration and test photos come from its generated data folder.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from test_robot import CLASSES, NAME, train_tiny_run

from toyrobot_utils.__main__ import main
from toyrobot_utils.analysis import evaluation
from toyrobot_utils.robot import export, lite, predict

from conftest import make_dataset

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "tflite_latency.py"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data_dir, models_dir = train_tiny_run(root)
    out_dir = root / "tflite"
    result = export.export_tflite(NAME, models_dir=models_dir, data_dir=data_dir, out_dir=out_dir, calibration=12)
    return data_dir, models_dir, out_dir, result


@pytest.fixture(scope="module")
def held_out(exported):
    data_dir, models_dir, _, _ = exported
    resolved = evaluation.resolve_model(NAME, models_dir=models_dir)
    images, labels, files = export.load_test_images(data_dir, resolved)
    keras_probs = evaluation.predict_files(resolved, files)  # the evaluation path, from the files
    return images, labels, files, keras_probs


def test_three_files_and_a_manifest_written_atomically(exported):
    _, models_dir, out_dir, result = exported
    assert set(result["paths"]) == {"float32", "float16", "int8"}
    for variant, path in result["paths"].items():
        assert path == out_dir / f"{NAME}.{variant}.tflite" and path.stat().st_size > 0
        assert path.read_bytes()[4:8] == b"TFL3"  # the TFLite flatbuffer identifier
    dtypes = {v: {np.dtype(t["dtype"]).name for t in lite.TFLiteModel(p).interpreter.get_tensor_details()}
              for v, p in result["paths"].items()}
    assert "float16" not in dtypes["float32"] and "int8" not in dtypes["float32"]
    assert "float16" in dtypes["float16"]  # float16 weights, not another quantization
    assert "int8" in dtypes["int8"] and "float32" not in dtypes["int8"]  # full-integer: no float tensor left
    sizes = {v: p.stat().st_size for v, p in result["paths"].items()}
    assert sizes["float16"] < sizes["float32"] and sizes["int8"] < sizes["float32"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [*(p.name for p in result["paths"].values()), f"{NAME}.tflite.json"])  # no temporary file left
    assert not list(models_dir.glob("*.tflite"))  # out_dir was honoured

    manifest = json.loads(result["manifest"].read_text())
    assert manifest["image_size"] == [32, 32] and manifest["preprocessing"] == "rescale"
    assert manifest["class_names"] == list(CLASSES)
    assert manifest["calibration"] == {"split": "training", "images": 12, "seed": 42}
    int8_in = manifest["files"]["int8"]["input"]
    assert int8_in["dtype"] == "int8" and int8_in["scale"] > 0
    assert manifest["files"]["float32"]["input"]["dtype"] == "float32"
    assert result["calibration_images"] == 12


def test_tflite_predictions_agree_with_keras(exported, held_out):
    _, _, _, result = exported
    images, labels, _, keras_probs = held_out
    assert len(images) == 3 * len(CLASSES)
    predictions = {v: lite.TFLiteModel(p, threads=1).predict(images) for v, p in result["paths"].items()}
    np.testing.assert_allclose(predictions["float32"], keras_probs, atol=1e-5)
    np.testing.assert_allclose(predictions["float16"], keras_probs, atol=5e-3)
    assert (predictions["float16"].argmax(1) == keras_probs.argmax(1)).all()
    int8 = predictions["int8"]
    assert np.abs(int8 - keras_probs).max() < 0.1
    assert (int8.argmax(1) == keras_probs.argmax(1)).mean() >= 0.75
    np.testing.assert_allclose(int8.sum(1), 1.0, atol=0.05)  # dequantized softmax outputs


def test_int8_input_is_quantized_with_the_tensors_scale_and_zero_point(exported, held_out):
    _, _, _, result = exported
    images, _, _, keras_probs = held_out
    model = lite.TFLiteModel(result["paths"]["int8"])
    scale, zero_point = model.input["quantization"]
    q = model.quantize(images)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q, np.clip(np.round(images / scale) + zero_point, -128, 127).astype(np.int8))
    # "rescale" pixels are 0..1: black and white land at the ends of the int8 range
    assert model.quantize(np.zeros((1, 32, 32, 3)))[0, 0, 0, 0] == zero_point
    assert model.quantize(np.ones((1, 32, 32, 3)))[0, 0, 0, 0] >= 126
    # feeding unquantized values (what a caller forgetting the quantization would do) breaks the predictions
    raw = np.concatenate([model._dequantize(model.invoke(x[None].astype(np.int8))) for x in images])
    assert not np.allclose(raw, model.predict(images), atol=0.05)


def test_latency_is_positive_with_one_thread(exported):
    _, _, _, result = exported
    timing = export.tflite_latency(result["paths"]["int8"], threads=1, runs=5, warmup=1)
    assert timing["latency_threads"] == 1 and timing["latency_runs"] == 5 and timing["latency_batch_size"] == 1
    assert 0 < timing["latency_ms_min"] <= timing["latency_ms_per_image"] <= timing["latency_ms_p90"]


@pytest.mark.slow
def test_compare_formats_side_by_side(exported, held_out):
    """Slow: a child process measures Keras at 1 thread, and a fresh TensorFlow takes 10-20 s to start and load the
    model on a busy 2-core machine."""
    data_dir, models_dir, out_dir, _ = exported
    _, labels, _, keras_probs = held_out
    df = export.compare_formats(NAME, models_dir=models_dir, data_dir=data_dir, out_dir=out_dir, runs=3, warmup=1,
                                export=False)
    assert list(df["format"]) == ["keras", "tflite float32", "tflite float16", "tflite int8"]
    keras_acc = float((keras_probs.argmax(1) == labels).mean())
    assert df["test_accuracy"].iloc[0] == pytest.approx(keras_acc)
    np.testing.assert_allclose(df["accuracy_change"], df["test_accuracy"] - keras_acc, atol=1e-12)
    assert df["agreement"].iloc[1] == 1.0 and df["max_probability_diff"].iloc[1] < 1e-5
    assert (df["ms_per_image"] > 0).all() and df["speedup"].iloc[0] == pytest.approx(1.0)
    assert (df["file_mb"] > 0).all()
    assert df.attrs["keras_latency_threads"] == 1 and df.attrs["threads"] == 1
    assert df.attrs["test_images"] == len(labels) and df.attrs["record_test_accuracy"] is not None
    table = export.format_table(df, markdown=True)
    assert table.count("\n") == 5 and "| tiny | tflite int8 |" in table


@pytest.mark.slow
def test_benchmark_smoke_run(exported, tmp_path, capsys):
    """The benchmark script end to end on the tiny model (export, accuracy, Keras child process at 1 thread):
    about 20-60 s on a busy 2-core machine, most of it TensorFlow starting and converting; hence slow."""
    data_dir, models_dir, _, _ = exported
    spec = importlib.util.spec_from_file_location("tflite_latency", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = tmp_path / "RESULTS.md"
    code = bench.main(["--models-dir", str(models_dir), "--data-dir", str(data_dir), "--out-dir", str(tmp_path),
                       "--quick", "--results", str(results)])
    assert code == 0
    text = results.read_text()
    assert "<!-- begin tflite -->" in text and "<!-- end tflite -->" in text
    for fmt in ("keras", "tflite float32", "tflite float16", "tflite int8"):
        assert f"| {NAME} | {fmt} |" in text
    assert "1 CPU thread" in text and "full-integer" in text
    assert len(list(tmp_path.glob("*.tflite"))) == 3
    assert "speed-up vs Keras" in capsys.readouterr().out


def test_export_command_and_its_errors(exported, tmp_path, capsys):
    data_dir, models_dir, _, _ = exported
    out = tmp_path / "out"
    assert main(["export-tflite", NAME, "--models-dir", str(models_dir), "--data-dir", str(data_dir),
                 "--out-dir", str(out), "--variants", "float32,float16", "--no-evaluate"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / (NAME + '.float32.tflite')}" in printed and "int8" not in printed.replace("int8 only", "")
    assert sorted(p.name for p in out.glob("*.tflite")) == [f"{NAME}.float16.tflite", f"{NAME}.float32.tflite"]

    # int8 calibration needs the training photos of the classes the model knows
    assert main(["export-tflite", "--models-dir", str(models_dir), "--data-dir", str(tmp_path / "no_data"),
                 "--out-dir", str(out)]) == 2
    assert "no_data" in capsys.readouterr().err
    other = make_dataset(tmp_path / "other", classes=("duplos", "magnatiles", "cars"),
                         counts={"training": 1, "test": 1})
    with pytest.raises(export.ExportError, match="trained on the classes .*--data-dir"):
        export.export_tflite(NAME, models_dir=models_dir, data_dir=other, out_dir=out)
    with pytest.raises(export.ExportError, match="unknown variant"):
        export.export_tflite(NAME, models_dir=models_dir, data_dir=data_dir, out_dir=out, variants=("int4",))
    with pytest.raises(lite.LiteError, match="export-tflite"):
        lite.TFLiteModel(out / "missing.tflite")
    with pytest.raises(predict.RobotError, match="toyrobot train PHOTOS"):
        export.export_tflite(models_dir=tmp_path / "empty", data_dir=data_dir)


def test_keras_and_tflite_models_reach_the_robot_through_one_declared_interface(exported):
    """predict and sort see one type, whichever runs the network: ``predict.RobotModel``, frozen (no attribute is
    added after it is made), with the preprocessing function declared as a field."""
    import dataclasses

    _, models_dir, _, result = exported
    keras_side = predict.load_model(predict.choose_model(NAME, models_dir))
    lite_side = predict.load_model(predict.choose_model(result["paths"]["float32"]))
    for loaded in (keras_side, lite_side):
        assert type(loaded) is predict.RobotModel and callable(loaded.preprocess)
        with pytest.raises(dataclasses.FrozenInstanceError):
            loaded.preprocess = None
    assert keras_side.class_names == lite_side.class_names and keras_side.image_size == lite_side.image_size
    batch = np.zeros((1, *keras_side.image_size, 3), dtype=np.uint8)
    np.testing.assert_allclose(keras_side.preprocess(batch), lite_side.preprocess(batch), atol=1e-6)


def test_a_tflite_file_is_checked_against_its_manifest_before_any_interpreter_sees_it(exported, tmp_path):
    """tf.lite.Interpreter kills the process (segmentation fault) on a truncated file: the manifest's size and
    SHA-256 refuse it first, in one line, in a separate process here so that a crash would show as its exit code."""
    import shutil
    import subprocess
    import sys

    from conftest import truncate, write_image

    _, _, out_dir, result = exported
    manifest = json.loads(result["manifest"].read_text())
    assert manifest["files"]["float32"]["sha256"] == lite.file_sha256(result["paths"]["float32"])
    photo = write_image(tmp_path / "photo.jpg", seed=3)
    copies = tmp_path / "copies"
    copies.mkdir()
    shutil.copy2(result["manifest"], copies / result["manifest"].name)
    truncated = truncate(shutil.copy2(result["paths"]["float32"], copies / f"{NAME}.float32.tflite"), keep=0.5)
    damaged = shutil.copy2(result["paths"]["float16"], copies / f"{NAME}.float16.tflite")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    damaged.write_bytes(bytes(data))
    for path, expected in ((truncated, "bytes but its manifest says"), (damaged, "SHA-256 mismatch")):
        done = subprocess.run([sys.executable, "-m", "toyrobot_utils", "predict", str(photo), "--model", str(path)],
                              capture_output=True, text=True, timeout=300, cwd=Path(lite.__file__).parents[1])
        assert done.returncode == 2, done.stderr[-2000:]
        err = done.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: The TFLite model {path}") and expected in err[0]
        with pytest.raises(lite.LiteError, match=expected):
            lite.TFLiteModel(path)

    old = json.loads(result["manifest"].read_text())  # a manifest from before the check: no hash to compare with
    for entry in old["files"].values():
        entry.pop("sha256")
    (copies / result["manifest"].name).write_text(json.dumps(old))
    shutil.copy2(result["paths"]["int8"], copies / f"{NAME}.int8.tflite")
    with pytest.raises(predict.RobotError, match=r"records no size and SHA-256 for tiny.int8.tflite .*export again"):
        predict.choose_model(copies / f"{NAME}.int8.tflite")
    with pytest.raises(lite.LiteError, match="records no size and SHA-256"):
        lite.TFLiteModel(copies / f"{NAME}.int8.tflite")

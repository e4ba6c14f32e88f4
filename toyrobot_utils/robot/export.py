"""A small, fast model for the robot: a trained Keras model as TensorFlow Lite, checked against the original.

``export_tflite`` writes three files next to the model (or into ``out_dir``), each atomically:

- ``<name>.float32.tflite``: the same network, for LiteRT / TensorFlow Lite runtimes;
- ``<name>.float16.tflite``: post-training float16 quantization (weights stored as float16: half the size; CPUs
  compute in float32 after loading, so about the float32 speed and accuracy);
- ``<name>.int8.tflite``: post-training **full-integer** quantization: weights *and* activations int8, int8 input
  and output. Chosen over dynamic-range quantization (int8 weights, float activations) because it is the smallest
  and fastest on CPU integer kernels and the only kind integer-only accelerators (Edge TPU, microcontrollers) can
  run. Activation ranges are calibrated on a seeded sample of the TRAINING split (``calibration_images``, read and
  preprocessed exactly as in training, no augmentation), never on test photos, so test accuracy stays honest.

plus ``<name>.tflite.json``: what a robot needs to feed them (image size, preprocessing, class names, the int8
input/output scale and zero point) and each file's size and SHA-256, which every reader checks before an interpreter
sees the file (``lite.verify_file``). None of the models contains the preprocessing, like the Keras model: pixels
0-255 go through ``data.preprocessing_fn`` ("rescale": 0-1, "mobilenet_v2": -1..1) and, for int8, are then
quantized with the input tensor's scale and zero point (``TFLiteModel`` does it).

Conversion goes Keras ``model.export(format="tf_saved_model")`` -> ``tf.lite.TFLiteConverter.from_saved_model``
(the path Keras 3 documents; ``from_keras_model`` also works with TF 2.21 but exports a SavedModel itself and prints
it). The interpreter is ``ai_edge_litert``'s when that package is installed (the robot extra), else
``tf.lite.Interpreter`` (deprecated in TF 2.21 in favour of ai-edge-litert; its warning is silenced):
``lite.TFLiteModel`` runs them, and
``toyrobot predict``/``sort --model <file>.tflite`` use it without TensorFlow.

``compare_formats`` puts the Keras model and the three files side by side in one run: file size, test accuracy and
its change against the Keras model measured on the same preprocessed test images, top-1 agreement with Keras, and
CPU latency per image at batch 1 with ONE thread for every format. Keras' one-thread latency is measured in a child
process (TensorFlow's thread pools can only be sized before it starts), with ``transfer.measure_latency``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.files import atomic_write_bytes, atomic_write_text
from toyrobot_utils.robot.lite import LiteError, TFLiteModel, file_sha256, interpreter_name
from toyrobot_utils.robot.predict import ModelChoice, RobotError, choose_model, finite_number, load_model

VARIANTS = ("float32", "float16", "int8")
INT8_MODE = "full-integer (int8 weights and activations, int8 input/output), calibrated on the training split"
DEFAULT_CALIBRATION_IMAGES = 100
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class ExportError(RobotError):
    """Exporting or checking a TFLite model cannot go on; the message names the file and the fix."""


# --------------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------------


def tflite_paths(name: str, out_dir: str | Path, variants: Sequence[str] = VARIANTS) -> dict[str, Path]:
    """``{variant: out_dir/<name>.<variant>.tflite}``."""
    return {v: Path(out_dir) / f"{name}.{v}.tflite" for v in variants}


def manifest_path(name: str, out_dir: str | Path) -> Path:
    return Path(out_dir) / f"{name}.tflite.json"


# --------------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------------


def _audit(data_dir: Path, splits: tuple[str, ...]):
    from toyrobot_utils.audit import DataSetError, audit

    try:
        return audit(data_dir, splits, check_duplicates=False)
    except DataSetError as err:
        raise ExportError(f"{err}") from err


def _check_classes(resolved, class_names, data_dir: Path) -> None:
    if list(resolved.class_names) != list(class_names):
        raise ExportError(f"The model was trained on the classes {resolved.class_names} but {data_dir} has "
                          f"{list(class_names)}; pass the data folder it was trained on (--data-dir).")


def calibration_images(data_dir: str | Path, resolved, n: int = DEFAULT_CALIBRATION_IMAGES,
                       seed: int = config.SEED, report=None) -> np.ndarray:
    """Up to ``n`` training photos (seeded sample over all classes), preprocessed as in training: float32 NHWC."""
    from toyrobot_utils.data import load_batch

    data_dir = Path(data_dir)
    report = report or _audit(data_dir, ("training",))
    _check_classes(resolved, report.class_names, data_dir)
    files = [f for f, _ in report.usable_files("training")]
    if not files:
        raise ExportError(f"No usable training photo in {data_dir / 'training'}: int8 needs some to calibrate on.")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(files), size=min(int(n), len(files)), replace=False))
    return load_batch([files[i] for i in chosen], image_size=resolved.image_size, preprocessing=resolved.preprocessing)


def load_test_images(data_dir: str | Path, resolved, report=None) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """The test split, preprocessed as in evaluation: (images float32 NHWC, labels, files)."""
    from toyrobot_utils.data import load_split

    data_dir = Path(data_dir)
    report = report or _audit(data_dir, ("training", "test"))
    _check_classes(resolved, report.class_names, data_dir)
    split = load_split(data_dir, "test", image_size=resolved.image_size, preprocessing=resolved.preprocessing,
                       shuffle=False, report=report)
    if len(split) == 0:
        raise ExportError(f"No usable test photo in {data_dir / 'test'}: nothing to measure accuracy on.")
    images = np.concatenate([np.asarray(x) for x, _ in split.dataset])
    return images.astype(np.float32), np.asarray(split.labels), list(split.files)


# --------------------------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------------------------


def convert(saved_model_dir: str | Path, variant: str, representative: np.ndarray | None = None) -> bytes:
    """One TFLite flatbuffer from a SavedModel: ``variant`` "float32", "float16" or "int8" (needs
    ``representative``: preprocessed float32 images to calibrate the activation ranges on)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative is None or len(representative) == 0:
            raise ExportError("int8 export needs calibration images (preprocessed training photos).")

        def samples():
            for image in representative:
                yield [image[np.newaxis].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif variant != "float32":
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return converter.convert()


def export_tflite(model: str | Path | None = None, *, models_dir: str | Path | None = None,
                  out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                  variants: Sequence[str] = VARIANTS, calibration: int = DEFAULT_CALIBRATION_IMAGES,
                  seed: int = config.SEED, choice: ModelChoice | None = None, resolved=None, report=None) -> dict:
    """Export a trained model (run name or .keras path; default the best one, see ``predict.choose_model``) to TFLite.

    Files go to ``out_dir`` (default: the model's folder) as ``<name>.<variant>.tflite`` plus the manifest
    ``<name>.tflite.json``. ``data_dir`` (default ``config.DATA_DIR``) provides the int8 calibration photos from its
    training split. Returns ``{"name", "paths": {variant: Path}, "manifest": Path, "seconds": {variant: s},
    "calibration_images": n}``.
    """
    variants = tuple(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ExportError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    choice = choice or choose_model(model, models_dir)
    resolved = resolved or load_model(choice)
    out_dir = Path(out_dir) if out_dir is not None else choice.models_dir
    data_dir = Path(data_dir) if data_dir is not None else config.DATA_DIR
    representative = None
    if "int8" in variants:
        representative = calibration_images(data_dir, resolved, calibration, seed, report=report)
    paths = tflite_paths(choice.name, out_dir, variants)
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="toyrobot-savedmodel-") as saved:
        resolved.model.export(saved, format="tf_saved_model", verbose=False)
        for variant in variants:
            start = time.perf_counter()
            atomic_write_bytes(paths[variant], convert(saved, variant, representative))
            seconds[variant] = time.perf_counter() - start
    files = {}
    for variant, path in paths.items():
        model_file = TFLiteModel(path, check=False)  # just written; the manifest that checks it comes next
        files[variant] = {"file": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path),
                          **model_file.io_description()}
    manifest = {
        "model": choice.name,
        "keras_model": choice.model_path.name,
        "image_size": list(resolved.image_size),
        "preprocessing": resolved.preprocessing,
        "class_names": list(resolved.class_names),
        "input": "float 0-255 RGB pixels -> preprocessing -> (int8 only) q = round(x / scale) + zero_point",
        "int8_quantization": INT8_MODE if "int8" in variants else None,
        "calibration": ({"split": "training", "images": int(len(representative)), "seed": seed}
                        if representative is not None else None),
        "files": files,
        # the Keras model's run: when it was trained and on which photos (the robot shows it in one line)
        "timestamp": choice.record.get("timestamp"),
        "lineage": choice.record.get("lineage"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }

    atomic_write_text(manifest_path(choice.name, out_dir), json.dumps(manifest, indent=2) + "\n")
    return {"name": choice.name, "paths": paths, "manifest": manifest_path(choice.name, out_dir), "seconds": seconds,
            "calibration_images": 0 if representative is None else int(len(representative))}


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "interpreter": interpreter_name()}


def _latency_stats(times_ms: list[float], threads: int | None) -> dict:
    ordered = sorted(times_ms)
    return {
        "latency_ms_per_image": float(statistics.median(times_ms)),
        "latency_ms_p90": float(ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]),
        "latency_ms_min": float(ordered[0]),
        "latency_runs": len(times_ms),
        "latency_batch_size": 1,
        "latency_threads": threads,
    }


def tflite_latency(path: str | Path, *, threads: int = 1, runs: int = 50, warmup: int = 5, seed: int = 0) -> dict:
    """Milliseconds per image (batch 1) of a .tflite file on ``threads`` CPU threads: median of ``runs`` timed
    invocations after ``warmup``, on random images in the preprocessed range (-1..1), like
    ``transfer.measure_latency`` does for Keras. Returns the same fields (median, p90, min, runs, threads)."""
    model = TFLiteModel(path, threads=threads)
    height, width = model.image_size
    image = np.random.default_rng(seed).uniform(-1.0, 1.0, (1, height, width, 3)).astype(np.float32)
    quantized = model.quantize(image)
    for _ in range(max(1, int(warmup))):
        model.invoke(quantized)
    times = []
    for _ in range(max(1, int(runs))):
        start = time.perf_counter()
        model.invoke(quantized)
        times.append((time.perf_counter() - start) * 1000.0)
    return {**_latency_stats(times, threads), "interpreter": model.interpreter_name}


def keras_latency(model_path: str | Path, image_size: Sequence[int] | None = None, *, threads: int | None = 1,
                  runs: int = 50, warmup: int = 5, timeout: float = 900) -> dict:
    """``transfer.measure_latency`` of a .keras file with TensorFlow limited to ``threads`` CPU threads (intra- and
    inter-op), measured in a child process because TensorFlow's thread pools cannot be resized once it runs.
    ``threads=None``: in this process, with whatever threads TensorFlow already has (all cores by default)."""
    model_path = Path(model_path)
    if threads is None:
        import keras

        from toyrobot_utils import data  # noqa: F401 - registers the project's custom layers for loading
        from toyrobot_utils.modelling.transfer import measure_latency

        result = measure_latency(keras.models.load_model(model_path), image_size, runs=runs, warmup=warmup,
                                 details=True)
        return {**{k: v for k, v in result.items() if k != "latency_cpu_threads"}, "latency_threads": None}
    job = {"model": str(model_path), "image_size": list(image_size) if image_size else None, "threads": int(threads),
           "runs": int(runs), "warmup": int(warmup)}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = "import sys; from toyrobot_utils.robot.export import _keras_latency_child; _keras_latency_child(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ExportError(f"Measuring {model_path} with {threads} thread(s) in a child process failed (exit "
                          f"{done.returncode}): {done.stderr.strip()[-1500:]}")
    return json.loads(lines[-1])


def _keras_latency_child(job_json: str) -> None:
    """Child process of ``keras_latency``: size TensorFlow's thread pools first, then load and time the model."""
    job = json.loads(job_json)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(job["threads"])
    import keras

    from toyrobot_utils import data  # noqa: F401 - registers the project's custom layers for loading
    from toyrobot_utils.modelling.transfer import measure_latency

    model = keras.models.load_model(job["model"])
    result = measure_latency(model, job["image_size"], runs=job["runs"], warmup=job["warmup"], details=True)
    result.pop("latency_cpu_threads", None)
    result["latency_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------------------------------
# Side by side
# --------------------------------------------------------------------------------------------------------------------


def compare_formats(model: str | Path | None = None, *, models_dir: str | Path | None = None,
                    data_dir: str | Path | None = None, out_dir: str | Path | None = None,
                    variants: Sequence[str] = VARIANTS, runs: int = 50, warmup: int = 5, threads: int = 1,
                    calibration: int = DEFAULT_CALIBRATION_IMAGES, latency: bool = True, export: bool = True,
                    seed: int = config.SEED) -> pd.DataFrame:
    """Keras vs its TFLite exports, in one run, one row per format: ``format``, ``file``, ``file_mb``,
    ``test_accuracy``, ``accuracy_change`` (vs Keras, same images), ``agreement`` (share of test photos with the
    same top class as Keras), ``max_probability_diff``, ``ms_per_image`` (median, batch 1, ``threads`` threads),
    ``ms_p90``, ``speedup`` (Keras ms / this format's ms).

    ``export=False`` reuses existing .tflite files instead of writing them again. ``latency=False`` skips timing.
    ``df.attrs``: model, test_images, record_test_accuracy, interpreter, threads (and the thread count the Keras
    child process reported), int8 mode, export seconds, calibration images.
    """
    choice = choose_model(model, models_dir)
    resolved = load_model(choice)
    data_dir = Path(data_dir) if data_dir is not None else config.DATA_DIR
    out_dir = Path(out_dir) if out_dir is not None else choice.models_dir
    report = _audit(data_dir, ("training", "test"))
    exported = {"seconds": {}}
    if export:
        exported = export_tflite(choice=choice, resolved=resolved, out_dir=out_dir, data_dir=data_dir,
                                 variants=variants, calibration=calibration, seed=seed, report=report)
    paths = tflite_paths(choice.name, out_dir, variants)
    images, labels, _ = load_test_images(data_dir, resolved, report=report)

    keras_probs = np.asarray(resolved.model.predict(images, batch_size=config.BATCH_SIZE, verbose=0), np.float32)
    keras_top = keras_probs.argmax(axis=1)
    keras_accuracy = float((keras_top == labels).mean())
    rows = []
    keras_ms = keras_threads = None
    row = {"format": "keras", "file": choice.model_path.name, "file_mb": choice.model_path.stat().st_size / 1e6,
           "test_accuracy": keras_accuracy, "accuracy_change": 0.0, "agreement": 1.0, "max_probability_diff": 0.0}
    if latency:
        timing = keras_latency(choice.model_path, resolved.image_size, threads=threads, runs=runs, warmup=warmup)
        keras_ms, keras_threads = timing["latency_ms_per_image"], timing["latency_threads"]
        row.update(ms_per_image=keras_ms, ms_p90=timing["latency_ms_p90"])
    rows.append(row)
    interpreter = interpreter_name()
    for variant, path in paths.items():
        tfl = TFLiteModel(path, threads=threads)
        probs = tfl.predict(images)
        top = probs.argmax(axis=1)
        accuracy = float((top == labels).mean())
        row = {"format": f"tflite {variant}", "file": path.name, "file_mb": path.stat().st_size / 1e6,
               "test_accuracy": accuracy, "accuracy_change": accuracy - keras_accuracy,
               "agreement": float((top == keras_top).mean()),
               "max_probability_diff": float(np.abs(probs - keras_probs).max())}
        if latency:
            timing = tflite_latency(path, threads=threads, runs=runs, warmup=warmup)
            row.update(ms_per_image=timing["latency_ms_per_image"], ms_p90=timing["latency_ms_p90"])
        rows.append(row)
    df = pd.DataFrame(rows)
    if latency:
        df["speedup"] = keras_ms / df["ms_per_image"]
    df.insert(0, "model", choice.name)
    df.attrs.update(
        model=choice.name, reason=choice.reason, test_images=int(len(labels)),
        record_test_accuracy=finite_number(choice.record.get("test_accuracy")), interpreter=interpreter,
        threads=threads, keras_latency_threads=keras_threads, int8_mode=INT8_MODE, export_seconds=exported["seconds"],
        calibration_images=exported.get("calibration_images"), data_dir=str(data_dir), runs=runs,
    )
    return df


def format_table(df: pd.DataFrame, markdown: bool = False) -> str:
    """The comparison as text (or a markdown table): sizes in MB, accuracies in %, changes in points."""
    headers = ["model", "format", "file MB", "test accuracy", "change vs Keras", "agrees with Keras"]
    timed = "ms_per_image" in df
    if timed:
        headers += ["ms / image (1 thread)", "speed-up vs Keras"]
    lines = []
    for r in df.itertuples(index=False):
        cells = [r.model, r.format, f"{r.file_mb:.2f}", f"{r.test_accuracy:.1%}",
                 "—" if r.format == "keras" else f"{100 * r.accuracy_change:+.1f} pts", f"{r.agreement:.1%}"]
        if timed:
            cells += [f"{r.ms_per_image:.2f}", f"{r.speedup:.2f}x"]
        lines.append(cells)
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def run(args) -> int:
    """``toyrobot export-tflite [MODEL]`` (options in ``__main__``): write the .tflite files, then compare them with
    Keras on the test split (accuracy, agreement, one-thread latency) unless ``--no-evaluate``. Exit 2 if it cannot
    run."""
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    try:
        choice = choose_model(args.model, args.models_dir)
        print(f"model: {choice.name} - {choice.reason}", flush=True)
        result = export_tflite(choice=choice, out_dir=args.out_dir, data_dir=args.data_dir, variants=variants,
                               calibration=args.calibration_images)
        for variant, path in result["paths"].items():
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {result['seconds'][variant]:.1f} s)")
        print(f"wrote {result['manifest']} (image size, preprocessing, classes, quantization)")
        if "int8" in variants:
            print(f"int8: {INT8_MODE} ({result['calibration_images']} photos)")
        if args.no_evaluate:
            return 0
        df = compare_formats(choice.model_path, data_dir=args.data_dir, out_dir=result["manifest"].parent,
                             variants=variants, runs=args.runs, export=False)
    except RobotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\n{df.attrs['test_images']} test photos from {args.data_dir}; latency: median of {args.runs} runs, "
          f"batch 1, 1 CPU thread ({df.attrs['interpreter']}; Keras in a child process limited to 1 thread)")
    print(format_table(df))
    return 0


__all__ = [
    "INT8_MODE",
    "LiteError",
    "TFLiteModel",
    "interpreter_name",
    "VARIANTS",
    "calibration_images",
    "compare_formats",
    "convert",
    "export_tflite",
    "format_table",
    "keras_latency",
    "load_test_images",
    "tflite_latency",
    "tflite_paths",
]

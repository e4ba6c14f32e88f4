"""Running an exported ``.tflite`` model without TensorFlow: what the robot needs on a small computer.

``toyrobot export-tflite`` writes ``<name>.<float32|float16|int8>.tflite`` and the manifest ``<name>.tflite.json``
(image size, preprocessing, class names, the lineage of the Keras model it came from). ``TFLiteModel`` runs one on
LiteRT (``ai-edge-litert``, the light install: ``pip install ".[robot]"``) or, when only TensorFlow is installed, on
``tf.lite.Interpreter``. Preprocessing is done in NumPy for the networks of the series ("rescale": 0-1, as the
write-up's ``rescale=1/255``; "mobilenet_v2": -1..1, as ``keras.applications.mobilenet_v2.preprocess_input``), so this
module never imports TensorFlow unless it has to.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from toyrobot_utils.files import read_json

VARIANT_SUFFIXES = (".float32", ".float16", ".int8")


class LiteError(RuntimeError):
    """A .tflite model or its manifest cannot be used; the message names the file and the fix."""


def interpreter_class():
    """(Interpreter class, its name): LiteRT's when installed, else TensorFlow's ``tf.lite.Interpreter``."""
    try:  # LiteRT, the runtime that replaces tf.lite.Interpreter; used when installed
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        import tensorflow as tf  # only when LiteRT is missing: the full install has TensorFlow anyway
    except ImportError:
        raise LiteError("No TensorFlow Lite runtime: install LiteRT (`pip install ai-edge-litert`, or the project's "
                        "robot extra: `pip install \".[robot]\"`) or TensorFlow.") from None
    return tf.lite.Interpreter, f"tf.lite.Interpreter (TensorFlow {tf.__version__})"


def interpreter_name() -> str:
    return interpreter_class()[1]


def manifest_for(model_path: str | Path) -> Path:
    """``m9.int8.tflite`` -> ``m9.tflite.json`` (one manifest for the three variants of a model)."""
    path = Path(model_path)
    stem = path.name.removesuffix(".tflite")
    for suffix in VARIANT_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return path.with_name(f"{stem}.tflite.json")


def load_manifest(model_path: str | Path) -> dict:
    """The manifest beside a .tflite file; ``LiteError`` naming both files when it is missing or unreadable."""
    path = manifest_for(model_path)
    manifest = read_json(path)
    if manifest is None:
        raise LiteError(f"The TFLite model {model_path} has no readable manifest {path} beside it. The manifest holds "
                        "the image size, preprocessing and class names the model needs: copy it together with the "
                        ".tflite file, or export again with `toyrobot export-tflite`.")
    missing = [k for k in ("image_size", "preprocessing", "class_names") if not manifest.get(k)]
    if missing:
        raise LiteError(f"The manifest {path} lacks {', '.join(missing)}; export the model again with "
                        "`toyrobot export-tflite`.")
    verify_file(model_path, manifest)
    return manifest


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(model_path: str | Path, manifest: dict) -> None:
    """Refuse a .tflite file that is not byte for byte the one ``export-tflite`` wrote: its size and SHA-256 must be
    the manifest's. An interpreter is never shown anything else: TensorFlow's ``tf.lite.Interpreter`` crashes the
    whole process (segmentation fault, no message) on a truncated or damaged file."""
    path = Path(model_path)
    entries = [e for e in (manifest.get("files") or {}).values() if isinstance(e, dict)]
    entry = next((e for e in entries if e.get("file") == path.name), None)
    again = "copy it again together with its manifest, or export again with `toyrobot export-tflite`"
    if entry is None or not entry.get("sha256"):
        raise LiteError(f"The manifest {manifest_for(path)} records no size and SHA-256 for {path.name} (exported by "
                        f"an older version, or for other variants), so the file cannot be checked; {again}.")
    size = path.stat().st_size
    if size != entry.get("bytes"):
        raise LiteError(f"The TFLite model {path} has {size} bytes but its manifest says {entry.get('bytes')}: it is "
                        f"incomplete or not the exported file; {again}.")
    if file_sha256(path) != entry["sha256"]:
        raise LiteError(f"The TFLite model {path} differs from the exported file (SHA-256 mismatch with its manifest "
                        f"{manifest_for(path)}): it is damaged; {again}.")


def _rescale(x: np.ndarray) -> np.ndarray:
    return x * np.float32(1.0 / 255.0)


def _mobilenet_v2(x: np.ndarray) -> np.ndarray:
    return x / np.float32(127.5) - np.float32(1.0)


NUMPY_PREPROCESSING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rescale": _rescale,
    "mobilenet_v2": _mobilenet_v2,
    "none": lambda x: x,
}


def preprocessing(name: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """Float 0..255 images -> what the network expects, in NumPy when we know the recipe (no TensorFlow needed),
    else through ``data.preprocessing_fn`` (which needs TensorFlow)."""
    key = "none" if name is None else str(name).strip().lower().replace("-", "_")
    key = {"mobilenetv2": "mobilenet_v2"}.get(key, key)
    if key in NUMPY_PREPROCESSING:
        fn = NUMPY_PREPROCESSING[key]
        return lambda images: fn(np.asarray(images, np.float32))
    try:
        from toyrobot_utils.data import preprocessing_fn  # other keras.applications recipes: TensorFlow's own code
    except ImportError:
        raise LiteError(f"preprocessing {name!r} needs TensorFlow (only {', '.join(NUMPY_PREPROCESSING)} run "
                        "without it); install the full project.") from None
    fn = preprocessing_fn(name)
    return lambda images: np.asarray(fn(np.asarray(images, np.float32)), np.float32)


class TFLiteModel:
    """A .tflite classifier that takes preprocessed float32 images like the Keras model and returns probabilities.

    For an int8 model the images are quantized with the input tensor's scale and zero point and the output is
    dequantized, so every variant is called the same way. ``threads`` is the interpreter's CPU thread count.
    ``check=False`` skips the manifest check (``verify_file``): only for the file ``export-tflite`` has just written.
    """

    def __init__(self, path: str | Path, threads: int = 1, *, check: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise LiteError(f"No TFLite model {self.path}: export it first with `toyrobot export-tflite`.")
        if check:  # the file must be the one its manifest describes before an interpreter reads it (``verify_file``)
            load_manifest(self.path)
        interpreter_cls, self.interpreter_name = interpreter_class()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
                self.interpreter = interpreter_cls(model_path=str(self.path), num_threads=int(threads))
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise LiteError(f"The TFLite model {self.path} cannot be read ({str(err).strip().splitlines()[0][:200]}): "
                            "it is damaged or incomplete; copy or export it again.") from None
        self.threads = int(threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.input["shape"][1]), int(self.input["shape"][2])

    @property
    def input_shape(self) -> tuple:
        return (None, *self.image_size, int(self.input["shape"][3]))

    @property
    def output_shape(self) -> tuple:
        return (None, int(self.output["shape"][-1]))

    def io_description(self) -> dict:
        def describe(detail):
            scale, zero_point = detail["quantization"]
            info = {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape_signature"]]}
            if scale:
                info.update(scale=float(scale), zero_point=int(zero_point))
            return info

        return {"input": describe(self.input), "output": describe(self.output)}

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Preprocessed float images as the input tensor's type (int8: ``round(x / scale) + zero_point``)."""
        dtype = np.dtype(self.input["dtype"])
        if dtype == np.float32:
            return np.asarray(images, np.float32)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(np.asarray(images, np.float32) / scale) + zero_point, info.min, info.max).astype(dtype)

    def _dequantize(self, output: np.ndarray) -> np.ndarray:
        scale, zero_point = self.output["quantization"]
        if np.dtype(self.output["dtype"]) == np.float32 or not scale:
            return output.astype(np.float32)
        return (output.astype(np.float32) - zero_point) * scale

    def invoke(self, quantized_image: np.ndarray) -> np.ndarray:
        """One already-quantized image [1, H, W, 3] in, the raw output out (what the latency is timed on)."""
        self.interpreter.set_tensor(self.input["index"], quantized_image)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def predict(self, images: np.ndarray, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Probabilities (N, classes) for preprocessed float32 images (N, H, W, 3), one image at a time (batch 1,
        as the robot runs it). ``batch_size`` and ``verbose`` are accepted for a Keras-like call and ignored."""
        quantized = self.quantize(images)
        if not len(quantized):
            return np.zeros((0, int(self.output["shape"][-1])), np.float32)
        return np.concatenate([self._dequantize(self.invoke(q[np.newaxis])) for q in quantized])


__all__ = ["LiteError", "TFLiteModel", "file_sha256", "interpreter_class", "interpreter_name", "load_manifest",
           "manifest_for", "preprocessing", "verify_file"]

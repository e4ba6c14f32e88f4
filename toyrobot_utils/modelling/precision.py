"""Which precision training computes in: float32, or Keras' mixed bfloat16 / float16 where this machine's units make
it pay.

The setting is ``auto`` (the default), ``float32``, ``mixed_bfloat16`` or ``mixed_float16`` (a GPU only). With a
mixed policy, layers compute in 16 bits and keep their weights in float32; the series' networks end in a float32
softmax (``models``), so the probabilities and the loss stay float32, and BatchNormalization computes its statistics
in float32 itself under Keras' mixed policies.

``auto`` decides once per machine and network family (``NETWORKS``): a short probe (about 5 s for the conv nets,
12 s for MobileNetV2's kind of layers on a 2-core EPYC, then cached) times training steps of a small network of that
family in float32 and in the mixed policy, interleaved, and keeps the mixed policy only when it is clearly faster
(``THRESHOLD``, 1.3x); float32 otherwise. The families differ: on an AMD EPYC with AVX-512 BF16 the series' plain
conv nets train about twice as fast in bfloat16, while MobileNetV2 (depthwise convolutions) runs about 10 % slower
(benchmarks/precision.py), so notebook 09 asks for ``network="transfer"``. The measurement is cached in
``config.CACHE_DIR/precision/``, keyed by the CPU's model and flags, the cores, the GPUs and the TensorFlow and
Keras versions, so a new machine or a new TensorFlow measures again. A CPU whose flags show no bfloat16 units (x86
``avx512_bf16``/``amx_bf16``, Arm ``bf16``) is not probed: float32.

What a run computed in is part of its lineage (``model_precision``, filled in by ``training.fit``). Models are saved
as float32 networks (``float32_copy``: the same weights, every layer's policy float32), so a ``.keras`` file loads and
predicts in float32 on any machine, and exports to TensorFlow Lite like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from toyrobot_utils import config
from toyrobot_utils.files import read_json, write_json

SETTINGS = config.PRECISIONS
ENV_VAR = config.PRECISION_ENV  # the setting when none is passed: `make run PRECISION=float32`, run-series
THRESHOLD = 1.3  # the mixed policy must train at least this many times faster than float32 to be chosen
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 AVX-512 BF16 / AMX, Arm's BF16 extension
NETWORKS = ("conv_net", "transfer")  # the families of models.MODEL_TABLE's builders, probed apart
PROBE_VERSION = 1  # bump when the probe's network or timing changes: cached measurements are then redone


class PrecisionError(ValueError):
    """A precision setting that cannot be used here; the message says why."""


@dataclass(frozen=True)
class Decision:
    """The precision training uses, and why: ``source`` is "set" (given), "probe" (measured now), "cache" (measured
    earlier on this machine) or "no bfloat16 units"; ``speedup`` is float32's step time / the mixed policy's."""

    precision: str
    setting: str
    source: str
    candidate: str | None = None
    speedup: float | None = None
    network: str = "conv_net"

    def line(self) -> str:
        """One line for the notebook: 'training in mixed_bfloat16: 2.4x faster than float32 on this CPU'."""
        where = "this GPU" if self.candidate == "mixed_float16" else "this CPU"
        if self.source == "set":
            return f"training in {self.precision} (precision={self.setting!r} as set; 'auto' measures what pays)"
        if self.source == "no bfloat16 units":
            return f"training in float32: {where} has no bfloat16 units (none of {', '.join(BF16_FLAGS)})"
        measured = (f"{'MobileNetV2' if self.network == 'transfer' else 'conv nets'}, "
                    + ("measured now" if self.source == "probe" else "measured earlier, cached"))
        if self.precision != "float32":
            return f"training in {self.precision}: {self.speedup:.1f}x faster than float32 on {where} ({measured})"
        return (f"training in float32: {self.candidate} measured {self.speedup:.1f}x here, under the "
                f"{THRESHOLD:.1f}x it must gain ({measured})")


# --------------------------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------------------------


def choose(speedup: float | None, candidate: str, threshold: float = THRESHOLD) -> str:
    """``candidate`` when it trains at least ``threshold`` times faster than float32, else float32."""
    return candidate if speedup is not None and speedup >= threshold else "float32"


def requested(setting: str | None = None) -> str:
    """The setting in force: ``setting``, else the environment's ``TOYROBOT_PRECISION``, else ``auto``; checked."""
    value = (setting if setting is not None else os.environ.get(ENV_VAR) or "auto").strip().lower()
    if value not in SETTINGS:
        raise PrecisionError(f"precision {value!r} is not one of {', '.join(SETTINGS)}")
    return value


def resolve(setting: str | None = None, *, network: str = "conv_net", cache_dir: str | Path | None = None,
            gpu: bool | None = None, probe_fn: Callable[[str, str], dict] | None = None,
            refresh: bool = False) -> Decision:
    """Decide the precision for ``setting`` (see ``requested``) and the ``network`` family about to be trained.
    ``auto`` reads this machine's cached probe of that family or runs ``probe_fn(candidate, network)`` (default
    ``probe``) and caches it; ``refresh`` measures again. Nothing is applied: see ``use``."""
    if network not in NETWORKS:
        raise PrecisionError(f"network {network!r} is not one of {', '.join(NETWORKS)}")
    setting = requested(setting)
    gpu = bool(tf.config.list_physical_devices("GPU")) if gpu is None else gpu
    if setting == "mixed_float16" and not gpu:
        raise PrecisionError("mixed_float16 needs a GPU (CPUs compute float16 slower than float32); use "
                             "mixed_bfloat16 or auto")
    if setting != "auto":
        return Decision(setting, setting, "set", network=network)
    candidate = "mixed_float16" if gpu else "mixed_bfloat16"
    if not gpu and has_bf16_units() is False:
        return Decision("float32", setting, "no bfloat16 units", candidate, network=network)
    path = cache_path(cache_dir, network)
    stored = None if refresh else read_json(path)
    if stored and stored.get("candidate") == candidate and stored.get("speedup"):
        return Decision(choose(stored["speedup"], candidate), setting, "cache", candidate, float(stored["speedup"]),
                        network)
    seconds = (probe_fn or probe)(candidate, network)
    speedup = seconds["float32"] / seconds[candidate]
    try:
        write_json(path, {"machine": machine_facts(), "network": network, "candidate": candidate,
                          "seconds_per_step": seconds,
                          "speedup": speedup, "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except OSError:
        pass  # a read-only cache folder costs a probe next time, never a wrong answer
    return Decision(choose(speedup, candidate), setting, "probe", candidate, speedup, network)


def use(setting: str | None = None, **kwargs) -> Decision:
    """Decide (``resolve``) and make it Keras' global policy for the networks built afterwards."""
    decision = resolve(setting, **kwargs)
    keras.mixed_precision.set_global_policy(decision.precision)
    return decision


# --------------------------------------------------------------------------------------------------------------------
# This machine
# --------------------------------------------------------------------------------------------------------------------


def cpu_facts() -> dict:
    """The CPU's model name and flags from /proc/cpuinfo (x86 'flags', Arm 'Features'); empty where unreadable."""
    facts: dict[str, Any] = {"name": platform.processor() or platform.machine(), "flags": None}
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return facts
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and facts["name"] in (platform.machine(), platform.processor(), ""):
            facts["name"] = value.strip()
        elif key in ("flags", "features") and facts["flags"] is None:
            facts["flags"] = sorted(value.split())
    return facts


def has_bf16_units(facts: dict | None = None) -> bool | None:
    """True/False from the CPU's flags; None when they cannot be read (then ``auto`` probes)."""
    flags = (facts or cpu_facts()).get("flags")
    return None if flags is None else any(flag in flags for flag in BF16_FLAGS)


def machine_facts() -> dict:
    """What a cached probe is only valid for: CPU, flags, cores, GPUs, versions, the probe's own version."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {**cpu_facts(), "cores": cores, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "tensorflow": tf.__version__, "keras": keras.__version__, "probe": PROBE_VERSION}


def cache_path(cache_dir: str | Path | None = None, network: str = "conv_net") -> Path:
    key = hashlib.blake2b(json.dumps(machine_facts(), sort_keys=True).encode(), digest_size=8).hexdigest()
    return Path(cache_dir if cache_dir is not None else config.CACHE_DIR) / "precision" / f"{key}-{network}.json"


# --------------------------------------------------------------------------------------------------------------------
# The probe
# --------------------------------------------------------------------------------------------------------------------


def probe_network(policy: str, image_size: int = 128, classes: int = 5, network: str = "conv_net") -> keras.Model:
    """``conv_net``: the series' baseline shape (two Conv2D 32 3x3 + max-pool blocks, Dense 32). ``transfer``: a
    short MobileNetV2-style stack (a strided stem and three inverted-residual blocks: 1x1 expansion, depthwise 3x3,
    BatchNormalization, ReLU6, 1x1 projection), the kinds of layers MobileNetV2 spends its time in, small enough to
    build and trace in a second. Every layer in ``policy``, the softmax in float32; compiled with Adam."""
    if network == "transfer":
        inputs = keras.Input((image_size, image_size, 3))
        x = _bn_relu6(keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, dtype=policy)(inputs),
                      policy)
        for filters, stride in ((16, 1), (24, 2), (24, 1)):
            y = _bn_relu6(keras.layers.Conv2D(6 * x.shape[-1], 1, use_bias=False, dtype=policy)(x), policy)
            y = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, dtype=policy)(y)
            y = keras.layers.Conv2D(filters, 1, use_bias=False, dtype=policy)(_bn_relu6(y, policy))
            y = keras.layers.BatchNormalization(dtype=policy)(y)
            x = keras.layers.Add(dtype=policy)([x, y]) if stride == 1 and x.shape[-1] == filters else y
        x = keras.layers.GlobalAveragePooling2D(dtype=policy)(x)
        model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", dtype="float32")(x))
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model
    layers = [keras.Input((image_size, image_size, 3))]
    for _ in range(2):
        layers += [keras.layers.Conv2D(32, 3, activation="relu", dtype=policy), keras.layers.MaxPooling2D(dtype=policy)]
    layers += [keras.layers.Flatten(dtype=policy), keras.layers.Dense(32, activation="relu", dtype=policy),
               keras.layers.Dense(classes, dtype=policy), keras.layers.Activation("softmax", dtype="float32")]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _bn_relu6(x, policy: str):
    return keras.layers.ReLU(6.0, dtype=policy)(keras.layers.BatchNormalization(dtype=policy)(x))


def probe(candidate: str, network: str = "conv_net", *, rounds: int = 3, steps: int | None = None,
          batch: int | None = None, image_size: int | None = None) -> dict:
    """Seconds per training step of ``probe_network`` (``network``'s family; 4 steps of 32 photos at 128 px, for
    MobileNetV2's 2 at 64 px) in float32 and in ``candidate``: after two warm-up steps each (tracing), ``rounds``
    rounds of ``steps`` steps, the two policies taking turns so a busy machine slows both alike; the median round.
    Its networks are built with explicit policies (the global one is left as it was), and it draws from Keras'
    global random state: probe before seeding (``series.notebook.setup`` does)."""
    small = network == "transfer"  # its stack is costlier per pixel: 64 px and 2 steps keep the probe to seconds
    image_size, batch, steps = image_size or (64 if small else 128), batch or 32, steps or (2 if small else 4)
    rng = np.random.default_rng(0)
    x = rng.random((batch, image_size, image_size, 3), dtype=np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, batch)]
    policies = ("float32", candidate)
    probed = {p: probe_network(p, image_size, network=network) for p in policies}
    for model in probed.values():
        for _ in range(2):
            model.train_on_batch(x, y)
    times: dict[str, list[float]] = {p: [] for p in policies}
    for _ in range(rounds):
        for policy, model in probed.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[policy].append((time.perf_counter() - start) / steps)
    keras.backend.clear_session()
    return {p: statistics.median(t) for p, t in times.items()}


# --------------------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------------------


def current_precision() -> str:
    """The global policy networks are built in now ('float32', 'mixed_bfloat16', ...)."""
    return keras.mixed_precision.global_policy().name


def _layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_layers(layer))
    return found


def model_precision(model: keras.Model) -> str:
    """The mixed policy ``model``'s layers compute in ('mixed_bfloat16'), or 'float32' when none is mixed."""
    mixed = sorted({layer.dtype_policy.name for layer in _layers(model) if layer.dtype_policy.name.startswith("mixed")})
    return mixed[0] if mixed else "float32"


def _float32_config(value):
    """A Keras config with every layer's dtype policy replaced by float32 (nested networks included)."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    return value


def float32_copy(model: keras.Model) -> keras.Model:
    """``model`` itself when it computes in float32; else the same network with every layer in float32 and the same
    weights (a mixed policy keeps its weights in float32, so nothing is rounded), compiled like ``model``."""
    if model_precision(model) == "float32":
        return model
    config_ = _float32_config(keras.saving.serialize_keras_object(model))
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # input layers and nested models take the global policy
    try:
        copy = keras.saving.deserialize_keras_object(config_)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    copy.set_weights(model.get_weights())
    compiled = model.get_compile_config() if getattr(model, "compiled", False) else None
    if compiled:
        copy.compile_from_config(compiled)
    return copy


__all__ = [
    "BF16_FLAGS",
    "Decision",
    "ENV_VAR",
    "PrecisionError",
    "SETTINGS",
    "NETWORKS",
    "THRESHOLD",
    "cache_path",
    "choose",
    "cpu_facts",
    "current_precision",
    "float32_copy",
    "has_bf16_units",
    "machine_facts",
    "model_precision",
    "probe",
    "probe_network",
    "requested",
    "resolve",
    "use",
]

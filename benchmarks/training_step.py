"""How fast the series' networks train per epoch on this CPU, against the machine's own matrix-product throughput,
and which of TensorFlow's CPU options change it.

    .venv/bin/python benchmarks/training_step.py [--epochs 5] [--photos 500] [--models 1 6] [--results PATH]

Every variant runs in its own child process (TensorFlow's thread pools, oneDNN and XLA can only be chosen before it
starts), one after the other, on the same in-memory photos (random pixels: arithmetic does not depend on what the
pixels show) fed by the series' tf.data pipeline settings (batch 32, autotuning off). Reported: the median seconds
per epoch of the epochs after the first (which traces and compiles), the ratio to the default, and the achieved
GFLOP/s — the network's training arithmetic (forward multiply-adds of every Conv2D and Dense layer, times 3 for the
backward pass) divided by the time — beside a 2048 x 2048 float32 matrix product's GFLOP/s on the same cores, the
best this CPU does. Variants: TensorFlow's defaults; intra-op threads = cores with one inter-op thread; one thread;
oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``); XLA (``jit_compile=True``); ``steps_per_execution=8`` (channels-first
images are left out: TensorFlow's CPU convolutions are channels-last). Writes the section "training_step" of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.append(str(Path(__file__).resolve().parent))

BATCH = 32
IMAGE = 128
CLASSES = 5
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

VARIANTS = {
    "TensorFlow defaults": {},
    f"intra-op threads {CORES}, inter-op 1": {"intra": CORES, "inter": 1},
    "one thread": {"intra": 1, "inter": 1},
    "oneDNN off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "XLA (jit_compile=True)": {"jit": True},
    "steps_per_execution=8": {"steps_per_execution": 8},
}


def training_flops(model, batch: int) -> float:
    """Multiply-adds x 2 of every Conv2D and Dense layer for one batch, forward and backward (3x forward)."""
    total = 0.0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            out = layer.output.shape  # (None, h, w, c)
            spatial = out[1] * out[2]
            k_h, k_w = layer.kernel_size
            c_in = layer.input.shape[-1]
            total += 2.0 * spatial * k_h * k_w * c_in * layer.filters
        elif kind == "Dense":
            total += 2.0 * layer.input.shape[-1] * layer.units
    return 3.0 * total * batch


def child(job: dict) -> dict:
    """One variant: build the network, train ``epochs`` epochs on in-memory photos, time each epoch."""
    from report import epoch_timer  # benchmarks/report.py
    os.environ.update(job.get("env", {}))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np
    import tensorflow as tf

    if job.get("intra"):
        tf.config.threading.set_intra_op_parallelism_threads(job["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(job["inter"])
    if job.get("matmul"):
        from bf16_ceiling import matmul_child  # the ceiling's one timed matrix product

        return matmul_child("float32")

    from toyrobot_utils import data
    from toyrobot_utils.modelling import models

    keras.utils.set_random_seed(0)
    shape = (IMAGE, IMAGE, 3)
    model = models.MODEL_TABLE[job["model"]].build(num_classes=CLASSES, image_size=(IMAGE, IMAGE))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=bool(job.get("jit")), steps_per_execution=int(job.get("steps_per_execution", 1)))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (job["photos"], *shape), dtype=np.uint8).astype(np.float32) / 255.0
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, job["photos"])]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(2).with_options(data.pipeline_options())

    seconds: list[float] = []
    model.fit(ds, epochs=job["epochs"], verbose=0, callbacks=[epoch_timer(seconds)])
    steps = -(-job["photos"] // BATCH)
    flops = training_flops(model, BATCH) * steps
    later = seconds[1:] or seconds
    return {"seconds": seconds, "median": statistics.median(later), "gflops": flops / statistics.median(later) / 1e9,
            "params": model.count_params()}


def run_child(job: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                          env={**os.environ, **job.get("env", {}), "PYTHONPATH": str(ROOT)}, timeout=1800)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:160]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--photos", type=int, default=500, help="training photos per epoch (the built-in set: 500)")
    parser.add_argument("--models", type=int, nargs="+", default=[1, 6], help="rows of the write-up's model table")
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write (default benchmarks/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    matmul = run_child({"matmul": True})
    lines = [f"2048 x 2048 float32 matrix product: **{matmul['gflops']:.0f} GFLOP/s** on {CORES} cores "
             "(the ceiling for this CPU).", "",
             "| model | variant | s / epoch | vs defaults | achieved GFLOP/s | share of the matrix product |",
             "|---|---|---|---|---|---|"]
    print(lines[0])
    for number in args.models:
        base = None
        for name, variant in VARIANTS.items():
            job = {**variant, "model": number, "epochs": args.epochs, "photos": args.photos}
            result = run_child(job)
            if "error" in result:
                row = f"| {number} | {name} | failed: {result['error']} | | | |"
            else:
                base = base or result["median"]
                row = (f"| {number} | {name} | {result['median']:.2f} | {base / result['median']:.2f}x | "
                       f"{result['gflops']:.1f} | {result['gflops'] / matmul['gflops']:.0%} |")
            print(row, flush=True)
            lines.append(row)
    body = "\n".join(lines) + (
        f"\n\n{args.photos} in-memory photos of {IMAGE} x {IMAGE} px per epoch, batch {BATCH}, {args.epochs} epochs "
        "per variant in a child process each; median of the epochs after the first. 'vs defaults' above 1 is faster.")
    from report import write_section

    kwargs = {"results": args.results} if args.results else {}
    command = "benchmarks/training_step.py" + ("" if argv is None else " " + " ".join(argv))
    path = write_section("training_step", "Training step: seconds per epoch against the CPU's matrix-product "
                         "throughput", body, command=command, **kwargs)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""float32 against Keras' mixed_bfloat16 policy, side by side in one run: does this CPU's bfloat16 pay?

    .venv/bin/python benchmarks/precision.py [--data-dir /tmp/tr_data] [--epochs 3] [--repeats 2] [--photos 500]
        [--no-accuracy] [--results PATH]

Speed: per network (the baseline, model 7, the write-up's tuned network, MobileNetV2's feature pass and fine-tuning
of its top four blocks), every measurement in its own child process, float32 and mixed_bfloat16 taking turns
(``--repeats`` rounds), on the same in-memory photos (random pixels: the arithmetic does not depend on them), batch
32: seconds per epoch as the median of the epochs after the first (which traces), then the median over the rounds;
the feature pass is the median of three passes over the photos after a warm-up pass. Accuracy (unless
``--no-accuracy``): the baseline and model 5 trained as their notebooks train them (50 epochs, patience 10,
model 5 with augmentation and the learning-rate reducer, seed 42) on ``--data-dir`` in both precisions, each test
accuracy with its 95 % Wilson interval. The header names the CPU and its flags. Writes the section "precision" of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.append(str(Path(__file__).resolve().parent))

POLICIES = ("float32", "mixed_bfloat16")
BATCH = 32
CLASSES = 5
NETWORKS = {  # label -> (builder key, image size)
    "baseline (model 1)": ("1", 128),
    "model 7 (32-64-64, 5x5)": ("7", 128),
    "tuned network (write-up)": ("tuned", 128),
    "MobileNetV2 feature pass": ("features", 224),
    "MobileNetV2 fine-tuning (top 4 blocks)": ("fine_tune", 224),
}
SIMD_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16",
              "amx_int8", "bf16")


def build(key: str, size: int):
    from toyrobot_utils.modelling import models

    if key == "tuned":
        return models.build_from_hyperparameters(models.WRITEUP_TUNED, CLASSES, (size, size))
    if key in ("features", "fine_tune"):
        model = models.build_transfer("mobilenet_v2", CLASSES, (size, size))
        if key == "fine_tune":
            models.unfreeze_top(model, blocks=4)
        return model
    return models.MODEL_TABLE[int(key)].build(num_classes=CLASSES, image_size=(size, size))


def speed_child(job: dict) -> dict:
    """One network in one policy: seconds per epoch (or per feature pass) on in-memory photos."""
    import keras
    import numpy as np
    import tensorflow as tf
    from report import epoch_timer  # benchmarks/report.py

    keras.mixed_precision.set_global_policy(job["policy"])
    from toyrobot_utils import data
    from toyrobot_utils.modelling import precision, transfer

    keras.utils.set_random_seed(0)
    size = job["size"]
    model = build(job["key"], size)
    rng = np.random.default_rng(0)
    x = rng.random((job["photos"], size, size, 3), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, job["photos"])]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(2).with_options(data.pipeline_options())
    seconds: list[float] = []
    if job["key"] == "features":
        extract, _ = transfer.feature_extractor(model)
        for _ in range(4):
            start = time.perf_counter()
            transfer.extract_features(extract, ds)
            seconds.append(time.perf_counter() - start)
    else:
        model.fit(ds, epochs=job["epochs"], verbose=0, callbacks=[epoch_timer(seconds)])
    return {"seconds": seconds, "median": statistics.median(seconds[1:] or seconds),
            "computes_in": precision.model_precision(model)}


def accuracy_child(job: dict) -> dict:
    """A network of the write-up's table trained as its notebook trains it, in one policy; its test accuracy."""
    import keras

    keras.mixed_precision.set_global_policy(job["policy"])
    from toyrobot_utils import data
    from toyrobot_utils.analysis import evaluation
    from toyrobot_utils.modelling import models, training

    spec = models.MODEL_TABLE[job["number"]]
    splits = data.load_datasets(job["data_dir"], image_size=spec.image_size, preprocessing=spec.preprocessing,
                                augment=spec.augment, seed=42, verbose=False)
    training.seed_everything(42)
    model = spec.build(len(splits["training"].class_names))
    start = time.perf_counter()
    run = training.fit(model, splits["training"], splits["validation"], name=f"{spec.name}_{job['policy']}",
                       epochs=50, patience=10, lr_reducer=spec.lr_reducer, models_dir=job["models_dir"], seed=42,
                       overwrite=True, verbose=0, tensorboard=False, settings=spec.settings(epochs=50))
    seconds = time.perf_counter() - start
    correct = evaluation.evaluate(run.model, splits["test"])["df"]["correct"].to_numpy().astype(bool)
    return {"correct": int(correct.sum()), "total": int(len(correct)), "seconds": seconds,
            "epochs_run": run.record["epochs_run"], "best_epoch": run.record["best_epoch"],
            "lineage_precision": run.record["lineage"]["settings"].get("precision", "float32")}


def run_child(job: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=3600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def header() -> str:
    from toyrobot_utils.modelling.precision import cpu_facts, has_bf16_units

    facts = cpu_facts()
    flags = [f for f in SIMD_FLAGS if f in (facts["flags"] or [])]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"CPU: **{facts['name']}**, {os.cpu_count()} cores; SIMD flags: {', '.join(flags) or 'unknown'} "
            f"(bfloat16 units: {'yes' if has_bf16_units(facts) else 'no'}). Load average at the start: {load:.1f} "
            f"on {os.cpu_count()} cores (the machine was shared with other work; rounds interleave the two "
            "precisions so both see the same load).")


def speed_rows(args) -> list[str]:
    rows = ["| network | float32 s | mixed_bfloat16 s | speed-up | every round (float32 / bfloat16) |",
            "|---|---|---|---|---|"]
    for label, (key, size) in NETWORKS.items():
        rounds = {p: [] for p in POLICIES}
        errors = []
        for _ in range(args.repeats):
            for policy in POLICIES:
                photos = args.photos if size == 128 else args.photos_224
                result = run_child({"kind": "speed", "key": key, "size": size, "policy": policy,
                                    "photos": photos, "epochs": args.epochs})
                if "error" in result:
                    errors.append(result["error"])
                elif result["computes_in"] != policy:
                    errors.append(f"{policy} network computed in {result['computes_in']}")
                else:
                    rounds[policy].append(result["median"])
        if errors:
            row = f"| {label} | failed: {errors[0]} | | | |"
        else:
            f32, bf16 = (statistics.median(rounds[p]) for p in POLICIES)
            every = "; ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(*rounds.values()))
            row = f"| {label} | {f32:.2f} | {bf16:.2f} | **{f32 / bf16:.2f}x** | {every} |"
        print(row, flush=True)
        rows.append(row)
    return rows


def accuracy_rows(args) -> list[str]:
    from toyrobot_utils.stats import wilson_interval

    rows = ["| network | precision | test accuracy | 95 % interval | correct / photos | epochs run (best) | "
            "training min |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="precision_benchmark_") as models_dir:
        for number in (1, 5):
            for policy in POLICIES:
                r = run_child({"kind": "accuracy", "number": number, "policy": policy, "models_dir": models_dir,
                               "data_dir": str(args.data_dir)})
                if "error" in r:
                    row = f"| model {number} | {policy} | failed: {r['error']} | | | | |"
                else:
                    low, high = wilson_interval(r["correct"], r["total"])
                    row = (f"| model {number} | {policy} (lineage: {r['lineage_precision']}) | "
                           f"{r['correct'] / r['total']:.1%} | {low:.1%} - {high:.1%} | {r['correct']} / "
                           f"{r['total']} | {r['epochs_run']} ({r['best_epoch']}) | {r['seconds'] / 60:.1f} |")
                print(row, flush=True)
                rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tr_data"), help="the built-in set (make-data)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per speed measurement (the first is dropped)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of float32 / bfloat16 per network")
    parser.add_argument("--photos", type=int, default=500, help="photos per epoch at 128 px (the built-in set: 500)")
    parser.add_argument("--photos-224", type=int, default=256, help="photos per epoch or pass for MobileNetV2")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the full trainings")
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write (default benchmarks/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(speed_child(job) if job["kind"] == "speed" else accuracy_child(job)), flush=True)
        return 0

    lines = [header(), ""]
    print(lines[0], flush=True)
    lines += speed_rows(args)
    lines += ["", f"Seconds per epoch ({args.photos} photos at 128 px, {args.photos_224} at 224 px for MobileNetV2; "
              f"the feature pass: seconds per pass over them), batch {BATCH}; {args.epochs} epochs per child "
              f"process, median of the epochs after the first, median of {args.repeats} rounds. Speed-up = float32 "
              "s / mixed_bfloat16 s (above 1: bfloat16 is faster). Fine-tuning here trains the top four blocks on "
              "the photos (the series trains them on cached activations below the cut: the same layers' work)."]
    if not args.no_accuracy:
        lines += ["", *accuracy_rows(args), "",
                  f"Full trainings on `{args.data_dir}` as the notebooks train them (50 epochs, patience 10, seed "
                  "42; model 5 with augmentation and the learning-rate reducer), one child process each; test "
                  "accuracy of the saved best epoch (a float32 file in both cases) with its 95 % Wilson interval."]
    from report import write_section

    kwargs = {"results": args.results} if args.results else {}
    command = " ".join(["benchmarks/precision.py", *(sys.argv[1:] if argv is None else argv)])
    path = write_section("precision", "Precision: float32 vs mixed_bfloat16 side by side", "\n".join(lines),
                         command=command, **kwargs)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

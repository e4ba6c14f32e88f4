"""How far can bfloat16 take the series on this CPU? The CPU's matrix-product ceiling in float32 and bfloat16, the
share of the bfloat16 ceiling the series' own trainings reached, and what the whole run would take if every custom
network had trained at that ceiling: the lower bound of the run's wall time with this series on this CPU.

    .venv/bin/python benchmarks/bf16_ceiling.py [--models-dir models] [--notebooks-dir notebooks] [--results PATH]

1. Ceiling (measured here): a 2048 x 2048 matrix product in float32 and in bfloat16, each in its own child process,
   median of 10 after a warm-up. No convolution or training step of the same arithmetic runs faster than this.
2. The series' custom networks (read, not trained): every record in ``--models-dir`` of a network trained in
   ``mixed_bfloat16`` (models 1-8, the tuned network, the write-up's tuned network): its saved ``.keras`` file gives
   the forward operations per photo (``models.count_flops``: Conv2D and Dense, a multiply-add counts two), its
   record the photos (training x 3 for forward and backward, validation x 1) and its seconds per epoch, so
   *achieved* = operations per epoch / seconds per epoch, and *share* = achieved / the bfloat16 ceiling. Augmentation,
   pooling and the optimiser are not counted: the share is what the counted arithmetic got of the ceiling.
3. The run (read from the committed notebooks' papermill records, notebooks 01-10): wall time; the training of
   custom networks (the records' seconds, and notebook 07's search cell, at the networks' median share); the rest.
   *At the ceiling* = the rest + the training x its share: the run if every custom network had trained at the
   ceiling (an optimistic bound: nothing reaches a matrix product's rate). Writes the section "bf16_ceiling" of
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
if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py, series_wall_time.py
    sys.path.append(str(Path(__file__).resolve().parent))

POLICY = "mixed_bfloat16"
SIZE = 2048
SEARCH_CELL = "tuning.run_search("  # notebook 07's search: its trials keep no record in models/


def matmul_child(dtype: str) -> dict:
    """GFLOP/s of a SIZE x SIZE matrix product in ``dtype`` (median of 10 after a warm-up)."""
    import time

    import tensorflow as tf

    a = tf.cast(tf.random.normal((SIZE, SIZE)), dtype)
    b = tf.cast(tf.random.normal((SIZE, SIZE)), dtype)
    tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return {"gflops": 2 * SIZE ** 3 / statistics.median(times) / 1e9}


def ceiling(dtype: str) -> float:
    done = subprocess.run([sys.executable, __file__, "--child", dtype], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        raise SystemExit(f"the {dtype} matrix product failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["gflops"]


def photos_of(record: dict, split: str) -> int:
    photos = record["lineage"]["photos"]["splits"][split]["photos"]
    return int(photos if isinstance(photos, int) else len(photos))


def network_rows(models_dir: Path, bf16_gflops: float) -> list[dict]:
    """One row per record of a custom network trained in mixed_bfloat16: operations, achieved rate, share, seconds."""
    import keras

    from toyrobot_utils.modelling import models, training

    rows = []
    for record_path in sorted(Path(models_dir).glob("*.json")):
        try:
            record = training.load_record(record_path.stem, models_dir)
        except (FileNotFoundError, ValueError, KeyError):
            continue
        settings = record.get("settings") or {}
        if settings.get("precision") != POLICY or settings.get("base") or not record.get("seconds_per_epoch"):
            continue
        model = keras.models.load_model(Path(models_dir) / f"{record_path.stem}.keras", compile=False)
        forward = models.count_flops(model)
        per_epoch = forward * (3 * photos_of(record, "training") + photos_of(record, "validation"))
        achieved = per_epoch / record["seconds_per_epoch"] / 1e9
        rows.append({"run": record_path.stem, "forward MFLOP / photo": forward / 1e6,
                     "s / epoch": record["seconds_per_epoch"], "epochs": record["epochs_run"],
                     "seconds": record["seconds"], "achieved GFLOP/s": achieved,
                     "share of the bf16 ceiling": achieved / bf16_gflops})
    return rows


def search_seconds(notebooks_dir: Path) -> float:
    """Notebook 07's search cell, from its papermill record (0 when it has none)."""
    for path in sorted(Path(notebooks_dir).glob("07_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code" and SEARCH_CELL in "".join(cell["source"]):
                return float((cell.get("metadata", {}).get("papermill") or {}).get("duration") or 0.0)
    return 0.0


def bound(rows: list[dict], wall: float, search: float) -> dict:
    """The run's wall time split into custom-network training and the rest, and the run at the ceiling."""
    share = statistics.median(r["share of the bf16 ceiling"] for r in rows)
    training = sum(r["seconds"] for r in rows) + search
    at_ceiling = sum(r["seconds"] * r["share of the bf16 ceiling"] for r in rows) + search * share
    return {"wall": wall, "training": training, "rest": wall - training, "median share": share,
            "at ceiling": wall - training + at_ceiling}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="the run's records and .keras files")
    parser.add_argument("--notebooks-dir", type=Path, default=ROOT / "notebooks", help="the run's notebooks")
    parser.add_argument("--target-min", type=float, default=20.0, help="the wall-time goal to compare with")
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write (default benchmarks/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(matmul_child(args.child)), flush=True)
        return 0

    import pandas as pd
    from report import markdown_table, write_section
    from series_wall_time import read_series

    from toyrobot_utils.modelling.precision import cpu_facts, has_bf16_units

    f32, bf16 = ceiling("float32"), ceiling("bfloat16")
    rows = network_rows(args.models_dir, bf16)
    if not rows:
        print(f"no record of a network trained in {POLICY} in {args.models_dir}: run the series first (make run)")
        return 1
    records = [r for r in read_series(args.notebooks_dir) if r.recorded]
    wall = sum(r.duration for r in records)
    b = bound(rows, wall, search_seconds(args.notebooks_dir))
    facts = cpu_facts()
    lines = [
        f"CPU: **{facts['name']}**, {os.cpu_count()} cores (bfloat16 units: "
        f"{'yes' if has_bf16_units(facts) else 'no'}). {SIZE} x {SIZE} matrix product: **{f32:.0f} GFLOP/s in "
        f"float32, {bf16:.0f} GFLOP/s in bfloat16** ({bf16 / f32:.2f}x): the ceiling.", "",
        markdown_table(pd.DataFrame(rows), digits=2), "",
        f"- The run ({len(records)} notebooks' papermill records in `{args.notebooks_dir.name}/`): "
        f"**{b['wall'] / 60:.1f} min**, of which custom networks training {b['training'] / 60:.1f} min (the records' "
        f"seconds and notebook 07's search cell) and the rest {b['rest'] / 60:.1f} min (MobileNetV2, evaluation, "
        f"Grad-CAM, figures, kernel start-up).",
        f"- The custom networks reached a median **{b['median share']:.0%} of the bfloat16 ceiling**. Had every one "
        f"trained at the ceiling, the run would take **{b['at ceiling'] / 60:.1f} min** "
        f"({'within' if b['at ceiling'] / 60 <= args.target_min else 'still over'} the {args.target_min:g}-minute "
        f"goal).",
    ]
    text = "\n".join(lines)
    print(text)
    kwargs = {"results": args.results} if args.results else {}
    command = " ".join(["benchmarks/bf16_ceiling.py", *(sys.argv[1:] if argv is None else argv)])
    path = write_section("bf16_ceiling", "bfloat16 on this CPU: how close the series' training is to the ceiling",
                         text, command=command, **kwargs)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batches per call of Keras' compiled training step: one (the write-up's `model.compile`) against
`devices.STEPS_PER_EXECUTION`, side by side, as the series trains: its data pipeline (augmentation where the model
table says so), validation every epoch, the precision `setup()` chooses.

    .venv/bin/python benchmarks/steps_per_call.py [--data-dir data] [--models 1 3 7] [--epochs 6] [--rounds 2]

For each network and round both settings train from the same seed, one after the other in this process; reported:
the median seconds per epoch of the epochs after the first (which traces), the median over rounds, the ratio, and
whether the two histories (loss and accuracy, training and validation, every epoch) are bit for bit the same —
they must be: the same batches in the same order with the same random streams, only fewer Python round trips.
Writes the section "steps_per_call" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.append(str(Path(__file__).resolve().parent))


def train(spec, data_dir: Path, per_call: int, epochs: int, seed: int) -> tuple[list[float], dict, int]:
    """Train model-table row ``spec`` for ``epochs`` at ``per_call`` batches per call: (seconds per epoch, history,
    training photos). Fresh pipelines each time: a pipeline's shuffle and augmentation streams go on where its last
    iteration stopped, so a second training on the same one would see other batches."""
    from report import epoch_timer  # benchmarks/report.py

    from toyrobot_utils import data
    from toyrobot_utils.data import dataset_of
    from toyrobot_utils.modelling import devices, training

    training.seed_everything(seed)  # before the pipelines too: their shuffle seeds pair with TensorFlow's global one
    datasets = data.load_datasets(data_dir, augment=spec.augment, seed=seed, verbose=False)
    training.seed_everything(seed)
    model = devices.batches_per_call(spec.build(num_classes=len(datasets["training"].class_names)), per_call)
    seconds: list[float] = []

    history = model.fit(dataset_of(datasets["training"]), validation_data=dataset_of(datasets["validation"]),
                        epochs=epochs, verbose=0, shuffle=False, callbacks=[epoch_timer(seconds)])
    return seconds, history.history, len(datasets["training"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--models", type=int, nargs="+", default=[1, 3, 7], help="rows of the write-up's model table")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default=None, help="as setup(): auto (default), float32, mixed_bfloat16")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results", type=Path, default=None, help="RESULTS.md to write (default benchmarks/)")
    parser.add_argument("--no-results", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)

    import pandas as pd
    from report import markdown_table, write_section

    from toyrobot_utils.modelling import devices, models
    from toyrobot_utils.modelling import precision as precision_

    decision = precision_.use(args.precision)
    many = devices.STEPS_PER_EXECUTION
    rows = []
    for number in args.models:
        spec = models.MODEL_TABLE[number]
        medians = {1: [], many: []}
        same = True
        for _ in range(args.rounds):
            histories = {}
            for per_call in (1, many):
                seconds, histories[per_call], photos = train(spec, args.data_dir, per_call, args.epochs, args.seed)
                medians[per_call].append(statistics.median(seconds[1:] or seconds))
            same = same and histories[1] == histories[many]
        one, several = statistics.median(medians[1]), statistics.median(medians[many])
        rows.append({"network": f"model {number} ({spec.name}{', augmented' if spec.augment else ''})",
                     "1 per call s/epoch": round(one, 2), f"{many} per call s/epoch": round(several, 2),
                     "speed-up": f"{one / several:.2f}x", "histories bit for bit the same": "yes" if same else "NO",
                     "every round (1 / many)": "; ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(*medians.values()))})
        print(rows[-1], flush=True)
    text = "\n".join([
        f"Precision: **{decision.precision}** (`setup()`'s choice on this CPU).", "",
        markdown_table(pd.DataFrame(rows)), "",
        f"Seconds per epoch on `{args.data_dir.name}/` ({photos} training photos, batch 32, "
        f"validation every epoch), {args.epochs} epochs per training, median of the epochs after the first, median of "
        f"{args.rounds} rounds; the two settings alternate. Speed-up above 1: {many} batches per call is faster. Same "
        "histories: loss and accuracy, training and validation, equal in every epoch of every round.",
    ])
    print(text)
    if not args.no_results:
        kwargs = {"results": args.results} if args.results else {}
        command = " ".join(["python benchmarks/steps_per_call.py", *(sys.argv[1:] if argv is None else argv)])
        path = write_section("steps_per_call", "Steps per call: batches per call of the compiled training step",
                             text, command=command, **kwargs)
        print(f"\nwritten to {path}")
    return 0 if all(r["histories bit for bit the same"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

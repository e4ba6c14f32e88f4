"""What early stopping would cost: replay each full-length run of a models folder with several patiences.

The series' default `patience` (notebooks 02-06, 08) was chosen from this table, made from a full run of the series
trained without early stopping (`benchmarks/series_wall_time.py --run --keep DIR -p patience None` keeps one):
for every run, where early stopping would have stopped, the best validation accuracy it would still have kept
(against the run's own best over all its epochs) and the epochs, and seconds, it would have saved.

    python benchmarks/early_stopping.py --models-dir build/fullrun/models

``--rules`` instead replays the series' rule (patience that waits while a run is still learning,
``stopping.still_learning``) against patience alone, at several still-learning thresholds and epoch budgets, on
full-length curves of one or more folders (``benchmarks/training_curves.py`` makes them):

    python benchmarks/early_stopping.py --rules --models-dir build/curves/clothing6 --models-dir build/curves/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from report import markdown_table, write_section  # noqa: E402

from toyrobot_utils.modelling import stopping, training  # noqa: E402

PATIENCES = (5, 10, 15, 20)


def full_length_runs(models_dir: Path, column: str):
    """(name, record, history) of every run in ``models_dir`` trained without early stopping (one that stopped early
    itself has no later epochs to replay) whose history has ``column``."""
    for record_path in sorted(Path(models_dir).glob("*.json")):
        name = record_path.stem
        try:
            record = training.load_record(name, models_dir)
            history = training.load_history(name, models_dir)
        except (FileNotFoundError, ValueError, KeyError):
            continue
        if not record.get("patience") and not history.empty and column in history:
            yield name, record, history


def replay_table(models_dir: Path, patiences=PATIENCES) -> pd.DataFrame:
    """One row per run trained without early stopping: its best epoch and validation accuracy, and per patience the
    best validation accuracy early stopping keeps (``p<k> val``) and the epochs it saves (``p<k> saved``)."""
    rows = []
    for name, record, history in full_length_runs(models_dir, "val_accuracy"):
        full = stopping.replay_patience(history, None)
        row = {"run": name, "epochs": len(history), "best epoch": full["best_epoch"],
               "best val": full["best_val_accuracy"], "s/epoch": record.get("seconds_per_epoch")}
        for patience in patiences:
            replay = stopping.replay_patience(history, patience)
            row[f"p{patience} val"] = replay["best_val_accuracy"]
            row[f"p{patience} saved"] = replay["epochs_saved"]
        rows.append(row)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, patiences=PATIENCES) -> pd.DataFrame:
    """Per patience: runs whose kept best validation accuracy is lower than their full-length best, by how much on
    average and at most, and the share of epochs and of training seconds saved over all runs."""
    rows = []
    seconds = (table["epochs"] * table["s/epoch"]).sum()
    for p in patiences:
        loss = table["best val"] - table[f"p{p} val"]
        saved_seconds = (table[f"p{p} saved"] * table["s/epoch"]).sum()
        rows.append({"patience": p, "runs that lose accuracy": int((loss > 1e-9).sum()), "of runs": len(table),
                     "mean loss (points)": 100 * loss.mean(), "largest loss (points)": 100 * loss.max(),
                     "epochs saved": f"{table[f'p{p} saved'].sum() / table['epochs'].sum():.0%}",
                     "training time saved": f"{saved_seconds / seconds:.0%}" if seconds else "–"})
    return pd.DataFrame(rows)


def rules_table(models_dirs, patience: int = 10, budgets=(50, 80), gains=(0.01, 0.02)) -> pd.DataFrame:
    """One row per full-length run and budget: the epoch each rule stops after and the validation accuracy of the
    epoch it keeps ("stop / val"), beside the run's best within that budget."""
    rows = []
    for models_dir in models_dirs:
        for name, _record, history in full_length_runs(models_dir, "accuracy"):
            for budget in budgets:
                if budget > len(history):
                    continue
                full = stopping.replay_patience(history, None, budget=budget)
                row = {"folder": Path(models_dir).name, "run": name, "budget": budget,
                       "best in budget": f"{full['best_epoch']} / {full['best_val_accuracy']:.1%}"}
                old = stopping.replay_patience(history, patience, rule="patience", budget=budget)
                row[f"patience {patience} alone"] = f"{old['stopped_after']} / {old['best_val_accuracy']:.1%}"
                for gain in gains:
                    new = stopping.replay_patience(history, patience, budget=budget, gain=gain)
                    row[f"still learning >= {gain * 100:g} pt"] = (f"{new['stopped_after']} / "
                                                                    f"{new['best_val_accuracy']:.1%}")
                rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, required=True, action="append",
                        help="a models folder of runs without patience (repeatable with --rules)")
    parser.add_argument("--rules", action="store_true", help="replay the stopping rules on full-length curves")
    parser.add_argument("--results", type=Path, help="RESULTS.md to write (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    kwargs = {"results": args.results} if args.results else {}
    command = "python benchmarks/early_stopping.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.rules:
        return replay_rules(args.models_dir, command, kwargs)
    args.models_dir = args.models_dir[0]
    table = replay_table(args.models_dir)
    if table.empty:
        print(f"error: no run trained without early stopping in {args.models_dir}", file=sys.stderr)
        return 2
    body = ("Per run (validation accuracy of the best epoch kept; *saved*: epochs not trained):\n\n"
            + markdown_table(table) + "\n\nPer patience, over all runs:\n\n"
            + markdown_table(summary(table), digits=1) + "\n")
    print(body)
    write_section("early_stopping", "Early stopping: what each patience would have cost a full-length run", body,
                  command=command, **kwargs)
    return 0


def replay_rules(models_dirs, command: str, kwargs: dict) -> int:
    table = rules_table(models_dirs)
    if table.empty:
        print(f"error: no full-length run with training accuracy in {models_dirs}", file=sys.stderr)
        return 2
    body = ("Each cell: the epoch the rule stops after / the validation accuracy of the epoch it keeps (patience 10; "
            "*still learning >= g pt*: the series' rule, which waits while, over the last 10 epochs, training "
            f"accuracy rose at least g points or the training loss fell at least "
            f"{stopping.STILL_LEARNING_LOSS_DROP:.0%}, and training accuracy is not more than "
            f"{stopping.MEMORISING_GAP * 100:.0f} points above validation; the series uses g = "
            f"{stopping.STILL_LEARNING_GAIN * 100:g}; *best in budget*: the best epoch / validation accuracy of the "
            "full curve within the budget). Folder `data`: the built-in set (`toyrobot make-data`).\n\n"
            + markdown_table(table) + "\n")
    print(body)
    write_section("early_stopping_rules", "Early stopping: patience alone against waiting while still learning",
                  body, command=command, **kwargs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

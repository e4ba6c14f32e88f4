"""``python -m toyrobot_utils tune``: a Keras Tuner search from the command line, standalone or as the chief or a
worker of Keras Tuner's own distributed mode (the chief hands out trials and trains nothing; each worker trains the
trials it is given). The search itself is ``tuning_search``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from . import config
from .audit import DataSetError
from .tuning_results import PROJECT_NAME, best_hyperparameters, format_seconds, timing_summary, trials_summary
from .tuning_search import (ALGORITHMS, ENV_ORACLE_IP, ENV_ORACLE_PORT, ENV_TUNER_ID, WRITEUP_SEARCH,
                            SettingsMismatchError, build_tuner, check_settings, environment, run_search)


def _image_size_arg(text: str) -> tuple[int, int]:
    parts = re.split(r"[x,]", text.lower().strip())
    try:
        sizes = [int(p) for p in parts if p]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"image size must be like 128 or 128x96 (height x width), not {text!r}")
    return sizes[0], sizes[1]


# A worker whose chief is down (or not started yet) asks again and again; Keras Tuner lets one request wait an hour,
# silently. Ten minutes leaves time to start the chief after the workers, and a stopped chief ends the workers soon.
DEFAULT_WORKER_WAIT = 600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toyrobot_utils tune",
        description="Keras Tuner search over the write-up's CNN space (objective val_accuracy). Rerun the same "
        "command to resume. Distributed: start one chief (--tuner-id chief) and any number of workers "
        "(--tuner-id tuner0, tuner1, ...) with the same --oracle-ip/--oracle-port, --data-dir and --directory "
        "(a shared folder); or set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT.",
    )
    add = parser.add_argument
    add("--data-dir", default=str(config.DATA_DIR), help="data folder (<split>/<class>/<photo>); default %(default)s")
    add("--directory", default=str(config.MODELS_DIR / "tuner"), help="tuner folder; default %(default)s")
    add("--project-name", default=PROJECT_NAME, help="default %(default)s")
    add("--algorithm", choices=ALGORITHMS, default="random", help="default %(default)s")
    add("--max-trials", type=int, default=WRITEUP_SEARCH["max_trials"],
        help="configurations to try in all (random search); default %(default)s")
    add("--executions-per-trial", type=int, default=WRITEUP_SEARCH["executions_per_trial"],
        help="trainings per configuration; default %(default)s")
    add("--epochs", type=int, default=WRITEUP_SEARCH["epochs"],
        help="epochs per training (Hyperband: max_epochs); default %(default)s")
    add("--image-size", type=_image_size_arg, default=config.IMAGE_SIZE, help="128 or HxW; default 128")
    add("--batch-size", type=int, default=config.BATCH_SIZE, help="default %(default)s")
    add("--augment", action="store_true", help="augment training images (the write-up's tuning code did not)")
    add("--seed", type=int, default=config.SEED, help="default %(default)s")
    add("--max-model-size", type=int, default=None, help="draw again instead of networks with more parameters")
    add("--max-flops", type=int, default=None,
        help="compute budget: draw again instead of networks that cost more operations per photo")
    add("--hyperband-factor", type=int, default=3, help="Hyperband's halving factor; default %(default)s")
    add("--no-checkpoints", action="store_true", help="delete each trial's weights after it (saves disk)")
    add("--overwrite", action="store_true", help="delete the project and start over (not allowed on a worker)")
    add("--tuner-id", default=os.environ.get(ENV_TUNER_ID),
        help=f"distributed: 'chief' or a unique worker id such as tuner0 (env {ENV_TUNER_ID})")
    add("--oracle-ip", default=os.environ.get(ENV_ORACLE_IP),
        help=f"distributed: the chief's address; the chief binds to it (env {ENV_ORACLE_IP})")
    add("--oracle-port", type=int, default=os.environ.get(ENV_ORACLE_PORT),
        help=f"distributed: the chief's port (env {ENV_ORACLE_PORT})")
    add("--oracle-timeout", type=float, default=DEFAULT_WORKER_WAIT,
        help="worker: seconds to wait for the chief per request before giving up with a message naming it "
             "(default %(default)s; Keras Tuner's own: 3600)")
    add("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras/Keras Tuner output; default %(default)s")
    return parser


def _print_results(project: Path, title: str) -> None:
    table = trials_summary(project)
    summary = timing_summary(table)
    columns = [c for c in ["trial_id", "status", "score", "conv_layers", "Input_Conv_Filters", "n_Dense_Layers",
                           "Dropout", "Optimizer", "tuner_id", "seconds"] if c in table]
    print(f"\n{title}: {len(table)} trials in {project}")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[columns].to_string(index=False))
    if summary["trials"]:
        print(f"trial time {format_seconds(summary['trial_seconds'])}, wall clock "
              f"{format_seconds(summary['wall_seconds'] or 0)}, workers: {', '.join(summary['workers'])}")
    try:
        print("best hyper-parameters:", json.dumps(best_hyperparameters(project)))
    except LookupError as err:
        print(err)


def _class_count(data_dir: Path) -> int:
    training = Path(data_dir) / "training"
    if training.is_dir():
        classes = [p for p in training.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if classes:
            return len(classes)
    return len(config.DEFAULT_CLASSES)


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m toyrobot_utils tune [options]``: run (or resume) a search; with ``--tuner-id`` and the oracle
    address, be the chief (hands out trials, trains nothing, prints the results at the end) or a worker."""
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    distributed = [args.tuner_id, args.oracle_ip, args.oracle_port]
    if any(v not in (None, "") for v in distributed) and not all(v not in (None, "") for v in distributed):
        parser.error("a distributed search needs all of --tuner-id, --oracle-ip and --oracle-port "
                     f"(or {ENV_TUNER_ID}, {ENV_ORACLE_IP}, {ENV_ORACLE_PORT}); a standalone search needs none")
    env = {ENV_TUNER_ID: None, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}
    if args.oracle_ip:
        env = {ENV_TUNER_ID: args.tuner_id, ENV_ORACLE_IP: args.oracle_ip, ENV_ORACLE_PORT: str(args.oracle_port)}
    role = "standalone" if not args.oracle_ip else ("chief" if "chief" in args.tuner_id else "worker")
    if role == "worker" and args.overwrite:
        parser.error("--overwrite on a worker would delete the chief's trials; pass it to the chief only")
    if not Path(args.data_dir).is_dir() and role != "chief":
        print(f"error: no data folder {args.data_dir} (give --data-dir; every worker needs the same data)",
              file=sys.stderr)
        return 2
    settings = dict(directory=args.directory, project_name=args.project_name, algorithm=args.algorithm,
                    max_trials=args.max_trials, executions_per_trial=args.executions_per_trial, epochs=args.epochs,
                    seed=args.seed, overwrite=args.overwrite, max_model_size=args.max_model_size,
                    max_flops=args.max_flops, hyperband_factor=args.hyperband_factor,
                    keep_checkpoints=not args.no_checkpoints)
    address = f"{args.oracle_ip}:{args.oracle_port}"
    with environment(env):
        try:
            if role == "chief":
                tuner = build_tuner(num_classes=_class_count(Path(args.data_dir)), image_size=args.image_size,
                                    **settings)
                check_settings(Path(tuner.project_dir), {
                    "algorithm": args.algorithm, "epochs": args.epochs,
                    "executions_per_trial": args.executions_per_trial, "image_size": list(args.image_size),
                })
                print(f"chief: serving trials on {address} from {tuner.project_dir}; waiting for workers",
                      flush=True)
                tuner.search(verbose=args.verbose)  # Keras Tuner's chief: blocks until every trial has ended
                _print_results(Path(tuner.project_dir), "search finished")
                return 0
            result = run_search(args.data_dir, image_size=args.image_size, batch_size=args.batch_size,
                                augment=args.augment, verbose=args.verbose, log_trials=True,
                                oracle_timeout=args.oracle_timeout if role == "worker" else None, **settings)
        except (SettingsMismatchError, DataSetError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except Exception as err:  # noqa: BLE001 - grpc errors: say which chief could not be reached
            if role != "standalone" and type(err).__module__.startswith("grpc"):
                details = err.details() if callable(getattr(err, "details", None)) else str(err)
                print(f"error: {role} {args.tuner_id} got no answer from the chief at {address} ({details}). Is the "
                      "chief running, with the same --directory, and is the search not finished already?",
                      file=sys.stderr)
                return 1
            raise
    if role == "worker":
        print(f"{args.tuner_id}: done, ran trials {', '.join(result.trials_run) or 'none'} "
              f"in {format_seconds(result.seconds)}", flush=True)
        return 0
    _print_results(result.project_dir, f"search finished in {format_seconds(result.seconds)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())

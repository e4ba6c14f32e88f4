"""``python -m toyrobot_utils tune``: a Keras Tuner search from the command line, standalone or as the chief or a
worker of Keras Tuner's own distributed mode (the chief hands out trials and trains nothing; each worker trains the
trials it is given). The search itself is ``tuner``'s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.audit import DataSetError
from toyrobot_utils.modelling import precision
from toyrobot_utils.tuning.trials import (
    best_hyperparameters,
    format_seconds,
    timing_summary,
    trials_summary,
)
from toyrobot_utils.tuning.tuner import (
    ENV_ORACLE_IP,
    ENV_ORACLE_PORT,
    ENV_TUNER_ID,
    SettingsMismatchError,
    build_tuner,
    check_settings,
    environment,
    run_search,
)

# A worker whose chief is down (or not started yet) asks again and again; Keras Tuner lets one request wait an hour,
# silently. Ten minutes leaves time to start the chief after the workers, and a stopped chief ends the workers soon.
# (``toyrobot tune --oracle-timeout``'s default in ``__main__``; tests/test_cli.py keeps the two equal.)
DEFAULT_WORKER_WAIT = 600.0


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


def run(args) -> int:
    """``toyrobot tune [options]`` (options in ``__main__``): run (or resume) a search; with ``--tuner-id`` and the
    oracle address, be the chief (hands out trials, trains nothing, prints the results at the end) or a worker.
    Exit 2 for options that do not fit together or a data folder that cannot be used."""
    distributed = [args.tuner_id, args.oracle_ip, args.oracle_port]
    if any(v not in (None, "") for v in distributed) and not all(v not in (None, "") for v in distributed):
        print("error: a distributed search needs all of --tuner-id, --oracle-ip and --oracle-port "
              f"(or {ENV_TUNER_ID}, {ENV_ORACLE_IP}, {ENV_ORACLE_PORT}); a standalone search needs none",
              file=sys.stderr)
        return 2
    env = {ENV_TUNER_ID: None, ENV_ORACLE_IP: None, ENV_ORACLE_PORT: None}
    if args.oracle_ip:
        env = {ENV_TUNER_ID: args.tuner_id, ENV_ORACLE_IP: args.oracle_ip, ENV_ORACLE_PORT: str(args.oracle_port)}
    role = "standalone" if not args.oracle_ip else ("chief" if "chief" in args.tuner_id else "worker")
    if role == "worker" and args.overwrite:
        print("error: --overwrite on a worker would delete the chief's trials; pass it to the chief only",
              file=sys.stderr)
        return 2
    if not Path(args.data_dir).is_dir() and role != "chief":
        print(f"error: no data folder {args.data_dir} (give --data-dir; every worker needs the same data)",
              file=sys.stderr)
        return 2
    try:  # --precision, else TOYROBOT_PRECISION, else auto: a distributed search's machines must agree (recorded)
        print(precision.use(getattr(args, "precision", None)).line(), flush=True)
    except precision.PrecisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
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

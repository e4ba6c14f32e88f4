"""The write-up's Keras Tuner search, made resumable, timed and distributable, with its results as a table: the one
name the notebooks and tests use (``tuning.run_search``, ``tuning.trials_summary``, ``tuning.plan_budget`` ...).

The search space is ``models.ToyHyperModel`` (the write-up's: 1-4 conv layers of 32-256 filters, 1-4 dense layers
of 32-256 neurons, dropout on/off, Adam or RMSprop); the objective is ``val_accuracy``. The code lives by concern:

- ``tuning_search``: ``run_search`` (the write-up's ``RandomSearch(max_trials=30, executions_per_trial=2)`` +
  ``search(epochs=40)`` in one call, resumable; ``algorithm="hyperband"``), the tuners that time every trial into
  ``timing.json``, the project's recorded settings, ``pilot_search``;
- ``tuning_results``: ``trials_summary`` / ``best_hyperparameters`` / ``timing_summary``, read back from the trial
  files, so they work on a finished, an interrupted or a distributed search alike;
- ``tuning_budget``: ``plan_budget`` sizes a search to a time budget; the notebook's measured pilot;
- ``tuning_cli``: ``python -m toyrobot_utils tune``, standalone or a chief / worker of Keras Tuner's distributed mode;
- ``plots.plot_search``: the figure of the scores against the main hyper-parameters.
"""

from __future__ import annotations

import sys

from .plots import plot_search
from .tuning_budget import (BUDGET_SECONDS, HAND_BUILT, NOTEBOOK_SEARCH, Budget,
                            default_max_flops, default_max_params,
                            hyperband_schedule, hyperband_seconds, plan_budget, share_within, share_within_size)
from .tuning_cli import cli
from .tuning_results import (BASE_COLUMNS, MAIN_HYPERPARAMETERS, OBJECTIVE, PROJECT_NAME, SETTINGS_FILE,
                             TIMING_COLUMNS, TIMING_FILE, active_values, best_hyperparameters, format_seconds,
                             project_dir, timing_summary, trials_summary)
from .tuning_search import (ALGORITHMS, ENV_ORACLE_IP, ENV_ORACLE_PORT, ENV_TUNER_ID, WRITEUP_SEARCH, SearchResult,
                            SettingsMismatchError, TimedHyperband, TimedRandomSearch, build_tuner, check_settings,
                            environment, is_chief, is_distributed, is_worker, limit_oracle_wait, pilot_search,
                            run_search, search, tuner_logs_dir)

__all__ = [
    "tuner_logs_dir",
    "ALGORITHMS",
    "BASE_COLUMNS",
    "BUDGET_SECONDS",
    "Budget",
    "ENV_ORACLE_IP",
    "ENV_ORACLE_PORT",
    "ENV_TUNER_ID",
    "MAIN_HYPERPARAMETERS",
    "HAND_BUILT",
    "default_max_flops",
    "default_max_params",
    "NOTEBOOK_SEARCH",
    "OBJECTIVE",
    "PROJECT_NAME",
    "SETTINGS_FILE",
    "SearchResult",
    "SettingsMismatchError",
    "TIMING_COLUMNS",
    "TIMING_FILE",
    "TimedHyperband",
    "TimedRandomSearch",
    "WRITEUP_SEARCH",
    "active_values",
    "best_hyperparameters",
    "build_tuner",
    "check_settings",
    "cli",
    "environment",
    "format_seconds",
    "is_chief",
    "is_distributed",
    "is_worker",
    "limit_oracle_wait",
    "pilot_search",
    "hyperband_schedule",
    "hyperband_seconds",
    "plan_budget",
    "share_within",
    "plot_search",
    "project_dir",
    "run_search",
    "search",
    "share_within_size",
    "timing_summary",
    "trials_summary",
]


if __name__ == "__main__":
    sys.exit(cli())

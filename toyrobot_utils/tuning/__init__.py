"""The Keras Tuner search (notebooks 07-08, ``toyrobot tune``): the write-up's search made resumable, timed,
distributable and held to the hand-built networks' compute and size, with its results read back as a table.

This package's ``__init__`` is its public face: notebooks and tests call ``tuning.run_search``,
``tuning.trials_summary``, ``tuning.plan_budget`` ... The search space is ``models.ToyHyperModel``; the objective is
``val_accuracy``. The code lives by concern:

- ``tuner``: ``run_search`` (the write-up's ``RandomSearch(max_trials=30, executions_per_trial=2)`` +
  ``search(epochs=40)`` in one call, resumable; ``algorithm="hyperband"``), the tuners that time every trial into
  ``timing.json``, the project's recorded settings, ``pilot_search``, the distributed set-up;
- ``trials``: ``trials_summary`` / ``best_hyperparameters`` / ``timing_summary``, read back from the trial files
  (a finished, an interrupted or a distributed search alike), and ``plot_search``, their figure;
- ``budget``: what a search may cost (the notebook's default, Hyperband's schedule, ``plan_budget``);
- ``command``: ``toyrobot tune``, standalone or a chief / worker of Keras Tuner's distributed mode.
"""

from __future__ import annotations

from toyrobot_utils.tuning.budget import (
    BUDGET_SECONDS,
    HAND_BUILT,
    NOTEBOOK_SEARCH,
    Budget,
    default_max_flops,
    default_max_params,
    hyperband_schedule,
    hyperband_seconds,
    plan_budget,
    share_within,
    share_within_size,
)
from toyrobot_utils.tuning.trials import (
    BASE_COLUMNS,
    MAIN_HYPERPARAMETERS,
    OBJECTIVE,
    PROJECT_NAME,
    SETTINGS_FILE,
    TIMING_COLUMNS,
    TIMING_FILE,
    active_values,
    best_hyperparameters,
    format_seconds,
    plot_search,
    project_dir,
    timing_summary,
    trials_summary,
)
from toyrobot_utils.tuning.tuner import (
    ALGORITHMS,
    ENV_ORACLE_IP,
    ENV_ORACLE_PORT,
    ENV_TUNER_ID,
    WRITEUP_SEARCH,
    SearchResult,
    SettingsMismatchError,
    TimedHyperband,
    TimedRandomSearch,
    build_tuner,
    check_settings,
    environment,
    is_chief,
    is_distributed,
    is_worker,
    limit_oracle_wait,
    pilot_search,
    run_search,
    search,
    tuner_logs_dir,
)

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


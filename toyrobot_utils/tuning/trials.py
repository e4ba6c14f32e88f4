"""A Keras Tuner search's results, read back from its trial files: the trials table, the best hyper-parameters and
how long it took.

Reading the files (``trial_<id>/trial.json`` from Keras Tuner, ``timing.json`` from ``tuner``'s timed tuners)
instead of asking a tuner object makes these work on a finished, an interrupted or a distributed search alike,
without re-creating the tuner. ``plot_search`` draws the table.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.figures import new_figure, save_figure
from toyrobot_utils.files import read_json
from toyrobot_utils.modelling import models

OBJECTIVE = "val_accuracy"
PROJECT_NAME = "toy-robot-cnn"  # tuner.build_tuner's default project (models/tuner/toy-robot-cnn)
TIMING_FILE = "timing.json"
SETTINGS_FILE = "search_settings.json"  # how the project's trials were trained; a resumed search must match it

BASE_COLUMNS = ["trial_id", "status", "score", "best_epoch"]
TIMING_COLUMNS = ["tuner_id", "seconds", "epochs", "executions", "seconds_per_epoch", "overhead_seconds",
                  "started", "ended"]
# The panels of plot_search: (table column, axis label).
MAIN_HYPERPARAMETERS = [
    ("conv_layers", "conv layers"),
    ("Input_Conv_Filters", "first conv layer filters"),
    ("n_Dense_Layers", "dense layers"),
    ("Dropout", "dropout"),
    ("Optimizer", "optimizer"),
]

# "Conv_2_Filters" only matters when n_Conv_Layers > 2 (likewise the dense layers). The hypermodel declares it in a
# conditional scope, so Keras Tuner leaves it out of trials without that layer; projects searched before that (or
# other hypermodels) may still record it, so the table blanks such values and best_hyperparameters leaves them out.
_PER_LAYER = [(re.compile(r"^Conv_(\d+)_Filters$"), "n_Conv_Layers"),
              (re.compile(r"^Dense_(\d+)_Neurons$"), "n_Dense_Layers")]


# --------------------------------------------------------------------------------------------------------------------
# Finding and reading the trials
# --------------------------------------------------------------------------------------------------------------------


def project_dir(source, project_name: str = PROJECT_NAME) -> Path:
    """A tuner, a project folder (holding trial_* folders) or the tuner's ``directory`` (holding the project)."""
    if hasattr(source, "project_dir"):
        return Path(source.project_dir)
    path = Path(source) if source is not None else config.MODELS_DIR / "tuner"
    if (path / "oracle.json").is_file() or any(path.glob("trial_*")):
        return path
    if (path / project_name).is_dir():
        return path / project_name
    raise FileNotFoundError(
        f"No tuner project at {path} (looked for trial_* folders there and in {path / project_name}). "
        "Run the search first (tuning.run_search or `python -m toyrobot_utils tune`), or pass the tuner's "
        "directory and project_name."
    )


def active_values(values: Mapping[str, Any]) -> dict:
    """The hyper-parameter values the network actually uses: drops per-layer values of layers it does not have
    (``Conv_2_Filters`` with ``n_Conv_Layers=1``) and Hyperband's bookkeeping (``tuner/epochs``...)."""
    out = {}
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        unused = False
        for pattern, count_name in _PER_LAYER:
            match = pattern.match(name)
            if match and count_name in values and int(match.group(1)) >= int(values[count_name]):
                unused = True
        if not unused:
            out[name] = value
    return out


def _hyperparameter_order() -> list[str]:
    space = models.TUNER_SEARCH_SPACE
    order = []
    for key, spec in space.items():
        if "{i}" in key:
            order += [key.format(i=i) for i in range(int(space["n_Conv_Layers"]["max_value"]))]
        elif "{j}" in key:
            order += [key.format(j=j) for j in range(int(space["n_Dense_Layers"]["max_value"]))]
        else:
            order.append(key)
    return order


def _id_key(trial_id: str):
    return (0, int(trial_id), "") if str(trial_id).isdigit() else (1, 0, str(trial_id))


def _timing_columns(timing: dict | None) -> dict:
    if not timing:
        return {}
    steady = list(timing.get("epoch_seconds") or [])
    first = list(timing.get("first_epoch_seconds") or [])
    # Steady-state seconds per epoch; with one epoch per execution only the first (tracing) epochs are known.
    per_epoch = float(np.median(steady)) if steady else (float(np.mean(first)) if first else None)
    epochs = int(timing.get("epochs", len(steady) + len(first)))
    executions = int(timing.get("executions", len(first)))
    seconds = float(timing.get("seconds", 0.0))
    overhead = None
    if per_epoch is not None and executions:
        overhead = max(0.0, (seconds - epochs * per_epoch) / executions)  # build, tracing, checkpoints
    return {"tuner_id": timing.get("tuner_id"), "seconds": seconds, "epochs": epochs, "executions": executions,
            "seconds_per_epoch": per_epoch, "overhead_seconds": overhead, "started": timing.get("started"),
            "ended": timing.get("ended")}


def _typed(column: pd.Series) -> pd.Series:
    present = [v for v in column if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(isinstance(v, bool) for v in present):
        return column.astype("boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return column.astype("Int64")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return column.astype("Float64")
    return column


def _load_trials(project: Path) -> list[dict]:
    trials = []
    for path in project.glob("trial_*/trial.json"):
        trial = read_json(path)
        if trial is None and path.is_file():  # Keras Tuner is writing it right now
            warnings.warn(f"Skipped {path}: it is being written; read the results again in a moment")
            continue
        if trial:
            trial["_dir"] = path.parent
            trials.append(trial)
    return trials


def _direction(trials: Sequence[dict], objective: str) -> str:
    for trial in trials:
        metric = ((trial.get("metrics") or {}).get("metrics") or {}).get(objective)
        if metric and metric.get("direction"):
            return metric["direction"]
    return "max"


def _sorted_trials(trials: list[dict], direction: str) -> list[dict]:
    def key(trial):
        score = trial.get("score")
        missing = score is None or (isinstance(score, float) and math.isnan(score))
        value = 0.0 if missing else (-float(score) if direction == "max" else float(score))
        return (missing, value, _id_key(trial["trial_id"]))

    return sorted(trials, key=key)


def _param_counter(project: Path):
    """A hypermodel with the search's classes and image size (from its settings file), to count parameters."""
    settings = read_json(project / SETTINGS_FILE) or {}
    if not settings.get("image_size") or not settings.get("class_names"):
        return None
    return models.ToyHyperModel(len(settings["class_names"]), tuple(settings["image_size"]))


def trials_summary(source=None, project_name: str = PROJECT_NAME, *, objective: str = OBJECTIVE) -> pd.DataFrame:
    """One row per trial, best first: ``trial_id``, ``status``, ``score`` (the objective, val_accuracy averaged over
    executions), ``best_epoch``, one column per hyper-parameter (blank where the network has no such layer),
    ``conv_layers`` (all conv layers: 1 + n_Conv_Layers), ``params`` (the network's parameters; blank when the
    project does not record its classes and image size), and the timing ``tuner_id``, ``seconds``, ``epochs``,
    ``executions``, ``seconds_per_epoch`` (steady state), ``overhead_seconds`` (per execution: build, tracing,
    saving), ``started``, ``ended`` (UTC).

    ``source``: a tuner, its project folder, or its ``directory`` (then ``project_name`` picks the project). Read
    from the trial files, so it also works while a distributed search is running.
    """
    project = project_dir(source, project_name)
    trials = _load_trials(project)
    direction = _direction(trials, objective)
    order = _hyperparameter_order()
    counter = _param_counter(project)
    rows, extra_names = [], []
    for trial in _sorted_trials(trials, direction):
        values = dict((trial.get("hyperparameters") or {}).get("values") or {})
        active = active_values(values)
        best_step = trial.get("best_step")
        row = {
            "trial_id": str(trial["trial_id"]),
            "status": trial.get("status"),
            "score": trial.get("score"),
            "best_epoch": int(best_step) + 1 if isinstance(best_step, (int, float)) else None,
        }
        for name, value in values.items():
            if name not in order and name not in extra_names:
                extra_names.append(name)
            row[name] = active.get(name, value if name.startswith("tuner/") else None)
        if "n_Conv_Layers" in values:
            row["conv_layers"] = int(values["n_Conv_Layers"]) + 1
        if counter is not None:
            try:
                row["params"] = counter.param_count(active)
            except (KeyError, TypeError, ValueError):  # values of another search space
                pass
        row.update(_timing_columns(read_json(trial["_dir"] / TIMING_FILE)))
        rows.append(row)
    hp_columns = [name for name in order if any(name in row for row in rows)] + sorted(extra_names)
    columns = BASE_COLUMNS + hp_columns + ["conv_layers", "params"] + TIMING_COLUMNS
    table = pd.DataFrame(rows, columns=columns)
    for name in hp_columns + ["conv_layers", "params", "best_epoch", "epochs", "executions"]:
        # from the raw values: pandas would already have turned ints with gaps into floats
        table[name] = _typed(pd.Series([row.get(name) for row in rows], dtype=object, index=table.index))
    table["score"] = pd.to_numeric(table["score"], errors="coerce").astype(float)
    for name in ("seconds", "seconds_per_epoch", "overhead_seconds"):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    table.attrs.update(objective=objective, direction=direction, project_dir=str(project))
    return table


def best_hyperparameters(source=None, project_name: str = PROJECT_NAME, *, rank: int = 0,
                         objective: str = OBJECTIVE) -> dict:
    """The best completed trial's hyper-parameters as a plain dict (only those the network uses), ready for
    ``models.build_from_hyperparameters(best, num_classes, image_size)``; ``rank=1`` gives the runner-up. Of
    trials with equal scores the earlier one wins (the first row of ``trials_summary``)."""
    project = project_dir(source, project_name)
    trials = [t for t in _load_trials(project)
              if t.get("status") == "COMPLETED" and isinstance(t.get("score"), (int, float))
              and not math.isnan(t["score"])]
    if len(trials) <= rank:
        raise LookupError(
            f"{project} has {len(trials)} completed trial(s), so there is no rank {rank}. Run the search first "
            "(tuning.run_search, or `python -m toyrobot_utils tune`)."
        )
    best = _sorted_trials(trials, _direction(trials, objective))[rank]
    values = active_values(best["hyperparameters"]["values"])
    order = _hyperparameter_order()
    ordered = [name for name in order if name in values] + sorted(name for name in values if name not in order)
    return {name: _plain(values[name]) for name in ordered}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def timing_summary(table: pd.DataFrame) -> dict:
    """How long a search took, from ``trials_summary``: trials timed, summed trial seconds (compute), wall-clock
    seconds from the first start to the last end (shorter with several workers), median seconds per epoch,
    and the workers that ran trials."""
    timed = table[table["seconds"].notna()] if "seconds" in table else table.iloc[:0]
    if timed.empty:
        return {"trials": 0, "trial_seconds": 0.0, "wall_seconds": 0.0, "seconds_per_epoch": None, "workers": []}
    starts = pd.to_datetime(timed["started"], utc=True, errors="coerce")
    ends = pd.to_datetime(timed["ended"], utc=True, errors="coerce")
    wall = (ends.max() - starts.min()).total_seconds() if starts.notna().any() and ends.notna().any() else None
    per_epoch = timed["seconds_per_epoch"].dropna()
    return {
        "trials": int(len(timed)),
        "trial_seconds": float(timed["seconds"].sum()),
        "wall_seconds": float(wall) if wall is not None else None,
        "seconds_per_epoch": float(per_epoch.median()) if len(per_epoch) else None,
        "workers": sorted(str(w) for w in timed["tuner_id"].dropna().unique()),
    }


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


# --------------------------------------------------------------------------------------------------------------------
# The tuner's search
# --------------------------------------------------------------------------------------------------------------------


def plot_search(source, *, objective: str = OBJECTIVE, name: str = "tuning_search", save: bool = True,
                figures_dir: str | Path | None = None, project_name: str = PROJECT_NAME):
    """Score of every completed trial against the main hyper-parameters (conv layers, first conv filters, dense
    layers, dropout, optimizer): one panel each, trials as jittered dots, the mean per value as a bar, the best
    trial as a star. Shows which choices matter, not just which trial won. Saved as ``figures/<name>.png``.
    ``source``: a ``trials_summary`` table, a tuner or its folder."""
    table = source if isinstance(source, pd.DataFrame) else trials_summary(source, project_name, objective=objective)
    done = table[(table["status"] == "COMPLETED") & table["score"].notna()]
    done = done.sort_values("score", ascending=table.attrs.get("direction", "max") == "min", kind="stable")
    panels = [(column, label) for column, label in MAIN_HYPERPARAMETERS if column in table]
    fig = new_figure(figsize=(3.0 * max(len(panels), 1), 4.0))
    axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(done))  # one offset per trial, same in every panel
    best_id = done.iloc[0]["trial_id"] if len(done) else None
    for ax, (column, label) in zip(axes, panels):
        values = done[column]
        categories = sorted(values.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
        position = {value: i for i, value in enumerate(categories)}
        x = np.array([position.get(v, np.nan) if pd.notna(v) else np.nan for v in values], dtype=float) + jitter
        ax.scatter(x, done["score"], s=28, alpha=0.7, color="tab:blue", zorder=2)
        for value, i in position.items():
            mean = done.loc[values == value, "score"].mean()
            ax.hlines(mean, i - 0.3, i + 0.3, color="black", linewidth=2, zorder=3)
        if best_id is not None:  # done is sorted best first
            ax.scatter([x[0]], [done["score"].iloc[0]], marker="*", s=200, color="tab:red", zorder=4,
                       label=f"best (trial {best_id})")
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([str(c) for c in categories], rotation=45 if len(categories) > 4 else 0)
        ax.set_xlim(-0.6, max(len(categories) - 0.4, 0.6))
        ax.set_xlabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(objective)
    if best_id is not None:
        axes[0].legend(loc="lower left", fontsize="small")
    fig.suptitle(f"Keras Tuner: {objective} of {len(done)} trials against the main hyper-parameters "
                 "(bar: mean per value)")
    if save:
        save_figure(fig, name, figures_dir)
    return fig


__all__ = [
    "BASE_COLUMNS",
    "MAIN_HYPERPARAMETERS",
    "OBJECTIVE",
    "PROJECT_NAME",
    "SETTINGS_FILE",
    "TIMING_COLUMNS",
    "TIMING_FILE",
    "active_values",
    "best_hyperparameters",
    "format_seconds",
    "plot_search",
    "project_dir",
    "trials_summary",
    "timing_summary",
]

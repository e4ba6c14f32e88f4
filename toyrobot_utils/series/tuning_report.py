"""What notebooks 07 and 08 show of a Keras Tuner search: the space and the budget it is searched with, the trials,
which choices scored well, the winner read back from the trial files (checked against the photos it is trained on),
and the tuned network's duel with the write-up's winner and the best hand-built network. Sentences are built here
from the search's own files and the runs' records (tested in tests/test_report.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from toyrobot_utils import lineage
from toyrobot_utils.analysis import comparison
from toyrobot_utils.modelling import models
from toyrobot_utils.modelling.training import load_run
from toyrobot_utils.series.report import plural
from toyrobot_utils.stats import percent
from toyrobot_utils.tuning.budget import default_max_flops, default_max_params, hyperband_schedule, share_within
from toyrobot_utils.tuning.trials import (
    MAIN_HYPERPARAMETERS,
    SETTINGS_FILE,
    best_hyperparameters,
    timing_summary,
    trials_summary,
)
from toyrobot_utils.tuning.tuner import WRITEUP_SEARCH

MEANING = {
    "Input_Conv_Filters": "filters of the first convolutional layer (3x3, ReLU, max-pooling)",
    "n_Conv_Layers": "convolutional layers after the first",
    "Conv_{i}_Filters": "filters of each of those layers (drawn only for layers the network has)",
    "n_Dense_Layers": "dense layers after flattening",
    "Dense_{j}_Neurons": "neurons of each dense layer (drawn only for layers the network has)",
    "Dropout": f"Dropout({models.TUNER_DROPOUT_RATE}) after every dense layer, or none",
    "Optimizer": "Adam or RMSprop",
}


def space_table() -> pd.DataFrame:
    """The write-up's search space, one row per hyper-parameter: its values and what it means."""
    def values(spec):
        if "values" in spec:
            return " or ".join(str(v) for v in spec["values"])
        return f"{spec['min_value']} to {spec['max_value']}, step {spec.get('step', 1)}"

    return pd.DataFrame([{"hyper-parameter": name, "values": values(spec), "meaning": MEANING.get(name, "")}
                         for name, spec in models.TUNER_SEARCH_SPACE.items()]).set_index("hyper-parameter")


@dataclasses.dataclass
class SearchPlan:
    """The limits a search runs under and the sentences that explain them."""

    max_flops: int
    max_params: int
    schedule: pd.DataFrame | None
    text: str


def plan(num_classes: int, image_size: tuple[int, int], *, algorithm: str, epochs: int, hyperband_factor: int,
         max_trials: int, executions_per_trial: int, max_flops: int | None = None,
         max_model_size: int | None = None) -> SearchPlan:
    """Notebook 07's budget: the compute and size limits (notebook 06's costliest and largest networks unless
    given), the share of the space they keep, and the number of networks and epochs the search will train."""
    size = tuple(image_size)
    limit = max_flops or default_max_flops(num_classes, size)
    size_limit = max_model_size or default_max_params(num_classes, size)
    space = models.TUNER_SEARCH_SPACE
    widest = models.ToyHyperModel(num_classes, size).flops(
        {"Input_Conv_Filters": space["Input_Conv_Filters"]["max_value"], "n_Conv_Layers": 3,
         **{f"Conv_{i}_Filters": space["Conv_{i}_Filters"]["max_value"] for i in range(3)},
         "n_Dense_Layers": 1, "Dense_0_Neurons": 32})
    schedule = hyperband_schedule(epochs, hyperband_factor) if algorithm == "hyperband" else None
    writeup_epochs = WRITEUP_SEARCH["max_trials"] * WRITEUP_SEARCH["executions_per_trial"] * WRITEUP_SEARCH["epochs"]
    lines = [
        f"- **Compute budget:** {limit / 1e6:,.0f} million operations per photo"
        + (" (notebook 06's costliest network)" if max_flops is None else "")
        + f"; the space's costliest network needs {widest / 1e6:,.0f} million. The budget alone keeps "
        f"{percent(share_within(limit, num_classes, size), 0)} of the space.",
        f"- **Size limit:** {size_limit:,} parameters" + (" (notebook 06's largest network)" if max_model_size is None
                                                          else "")
        + "; with the compute budget it keeps "
        f"**{percent(share_within(limit, num_classes, size, max_params=size_limit))} "
        "of the space**.",
        f"- **This search:** Hyperband, {schedule.attrs['trials']} networks drawn, {int(schedule['trials'].sum())} "
        f"trainings, {schedule.attrs['epochs']} epochs in all (the write-up's search: {writeup_epochs:,} epochs)."
        if schedule is not None else
        f"- **This search:** random, {plural(max_trials, 'trial')} x {plural(executions_per_trial, 'execution')} x "
        f"{plural(epochs, 'epoch')} "
        f"(the write-up's: {writeup_epochs:,} epochs).",
    ]
    return SearchPlan(limit, size_limit, schedule, "\n".join(lines))


def search_note(search, table: pd.DataFrame) -> str:
    """How long this call searched, what it reused, and what the write-up's search would cost at this speed."""
    from toyrobot_utils.tuning.budget import plan_budget

    timing = timing_summary(table)
    reused = len(table) - len(search.trials_run)
    text = (f"This call trained **{plural(len(search.trials_run), 'trial')}** in {search.seconds / 60:.1f} minutes"
            + (f" and found {reused} finished earlier (kept, not retrained)" if reused else "") + ".")
    if timing["trials"]:
        writeup = plan_budget(table, **WRITEUP_SEARCH)
        text += (f" All {timing['trials']} timed trials together: {timing['trial_seconds'] / 60:.1f} minutes of "
                 f"training, a median of {timing['seconds_per_epoch'] or float('nan'):.1f} s per epoch; at that speed "
                 f"the write-up's search would take about {writeup.estimated_seconds / 3600:.1f} hours.")
    return text


def trials_view(table: pd.DataFrame) -> pd.DataFrame:
    """The trials best first: score (the best epoch's validation accuracy), the drawn hyper-parameters (blank where
    the network has no such layer), size and training time."""
    columns = list(table.columns)
    drawn = columns[columns.index("best_epoch") + 1:columns.index("conv_layers")]
    shown = ["trial_id", "status", "score", "best_epoch", "conv_layers", *drawn, "params", "seconds"]
    return table[[c for c in shown if c in table]].round({"score": 3, "seconds": 0})


def choices_note(table: pd.DataFrame) -> str:
    """Per main hyper-parameter, the value with the best and the worst mean score (with the trial counts)."""
    done = table[(table["status"] == "COMPLETED") & table["score"].notna()]
    if done.empty:
        return "No completed trials yet."
    lines = [f"Scores ranged from {percent(done['score'].min())} to {percent(done['score'].max())} over "
             f"{plural(len(done), 'completed trial')}."]
    for column, label in MAIN_HYPERPARAMETERS:
        if column not in done:
            continue
        means = done.groupby(column)["score"].agg(["mean", "count"])
        if len(means) > 1:
            top, bottom = means["mean"].idxmax(), means["mean"].idxmin()
            lines.append(f"- **{label}:** best on average with {top} ({percent(means.loc[top, 'mean'])} over "
                         f"{plural(int(means.loc[top, 'count']), 'trial')}), worst with {bottom} "
                         f"({percent(means.loc[bottom, 'mean'])}).")
    return "\n".join(lines)


@dataclasses.dataclass
class Winner:
    """The search's best trial, read from its files: hyper-parameters, its row of the trials table, the search's
    recorded settings."""

    hyperparameters: dict
    row: pd.Series
    settings: dict
    completed: int
    project: str

    def sentence(self) -> str:
        return (f"The best of {self.completed} trials was **trial {self.row['trial_id']}**: validation accuracy "
                f"{percent(self.row['score'])} after {self.row['best_epoch']} of {self.settings.get('epochs')} epochs "
                "in "
                f"the search ({'with' if self.settings.get('augment') else 'without'} augmentation). Its "
                f"hyper-parameters: `{self.hyperparameters}`")

    def run_settings(self, epochs: int, batch_size: int, image_size: int) -> dict:
        """The settings ``training.fit`` records for the tuned network (trained like models 4-8)."""
        return {"model_number": "tuned", "changes": f"Keras Tuner's best network (search '{self.project}', trial "
                f"{self.row['trial_id']}), trained with augmentation and the learning-rate reducer",
                "image_size": [image_size, image_size], "preprocessing": "rescale", "augment": True,
                "lr_reducer": True, "epochs": epochs, "batch_size": batch_size,
                "hyperparameters": self.hyperparameters, "tuner_project": self.project,
                "tuner_trial": self.row["trial_id"], "tuner_score": float(self.row["score"])}


def load_winner(tuner_dir: str | Path, project: str, class_names: Sequence[str], training_split) -> Winner:
    """The search's winner, refusing a search run on other classes or other photos (rerun notebook 07 first)."""
    tuner_dir = Path(tuner_dir)
    try:
        table = trials_summary(tuner_dir, project)
        best = best_hyperparameters(tuner_dir, project)
    except (FileNotFoundError, LookupError) as err:
        raise FileNotFoundError(
            f"Run notebook 07 first: there is no finished Keras Tuner search '{project}' in {tuner_dir} "
            f"(07_keras_tuner.ipynb with the same models_dir, and model_name = tuner_project). Details: {err}"
        ) from None
    settings = json.loads((tuner_dir / project / SETTINGS_FILE).read_text())
    if settings.get("class_names") not in (None, list(class_names)):
        raise ValueError(f"The search '{project}' was run on the classes {settings['class_names']}, this data set "
                         f"has {list(class_names)}: rerun notebook 07 on this data first.")
    if settings.get("photos") not in (None, lineage.photos_key(lineage.photos_of_splits(training_split))):
        raise ValueError(f"The search '{project}' was run on other photos than these: rerun notebook 07 on this "
                         "data first (it sets the other search aside and starts a new one).")
    return Winner(best, table.iloc[0], settings, int((table["status"] == "COMPLETED").sum()), project)


def duel(runs: Mapping[str, str], models_dir, num_classes: int, image_size: tuple[int, int],
         hand_built: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tuned network against the write-up's winner and the best hand-built network (``comparison.best_custom_cnn``
    over ``hand_built``, chosen on validation only), on the same test photos: one row per network with its cost
    per photo, and every pair's exact McNemar test."""
    runs = dict(runs)
    best = comparison.best_custom_cnn(models_dir, numbers=hand_built)
    if best is not None:
        number = next(n for n in hand_built if models.MODEL_TABLE[n].name == best)
        runs[f"best hand-built network (model {number})"] = best
    table, tests = comparison.head_to_head(runs, models_dir)
    table["MFLOPs per photo"] = [models.count_flops(load_run(name, models_dir)[0]) / 1e6
                                 for name in table["name"]]
    return table, tests


def duel_lines(table: pd.DataFrame, tests: pd.DataFrame, winner: Winner, record: dict) -> list[str]:
    """The bullets that close notebook 08: each network's test accuracy with its interval and, against the tuned
    one, whether the difference is real."""
    first = table.index[0]

    def verdict(other):
        row = tests[(tests["model A"] == first) & (tests["model B"] == other)].iloc[0]
        return (f"{plural(int(row['only A right']), 'photo')} only the {first} got right, "
                f"{row['only B right']} only the {other}: "
                f"p = {row['p-value']:.2f}, "
                + ("a real difference" if row["verdict"] == "real" else "within the noise"))

    lines = [f"- **Tuned network:** test accuracy {table.loc[first, 'test']}; validation accuracy "
             f"{percent(record['best_val_accuracy'])} after full training, against {percent(winner.row['score'])} in "
             "the "
             f"search's short run; {record['params_total']:,} parameters, {table.loc[first, 'MFLOPs per photo']:.0f} "
             "million operations per photo."]
    lines += [f"- **The {label}:** test accuracy {table.loc[label, 'test']}; {verdict(label)}."
              for label in table.index[1:]]
    return lines


__all__ = ["MEANING", "SearchPlan", "Winner", "choices_note", "duel", "duel_lines", "load_winner", "plan",
           "search_note", "space_table", "trials_view"]

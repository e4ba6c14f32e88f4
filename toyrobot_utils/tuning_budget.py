"""Sizing a Keras Tuner search to a time budget: what the notebook series can afford, and how many trials or epochs
fit in it from measured trial timings (``tuning_search.pilot_search`` measures them on the real data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import config, models
from .tuning_results import format_seconds

BUDGET_SECONDS = 15 * 60  # what the notebook series can afford on 2 CPU cores
# Notebook 07's default search, sized to BUDGET_SECONDS from NOTEBOOK_PILOT: the timing files of the notebook's first
# full run (8 random trials x 4 epochs, 128 px, batch 32, no augmentation, max_model_size 20 M, 2 free CPU cores;
# 20.1 minutes). Random search draws small and large networks alike, so the *mean* over the trials is what a search
# pays per epoch on average: plan_budget(36.7, overhead_seconds=3.9, epochs=4) fits 6 trials in 15 min (15.1).
# (An earlier pilot on a shared machine, scaled by its CPU share, had estimated 24.5 s per epoch: 8 trials.)
NOTEBOOK_MAX_MODEL_SIZE = 20_000_000  # parameters: 320 MB for weights, gradients and Adam's two moments
NOTEBOOK_PILOT = {
    "machine": "2 CPU cores",
    "data": "the built-in data set: 500 training and 150 validation photos",
    "image_size": 128,
    "batch_size": 32,
    "max_model_size": NOTEBOOK_MAX_MODEL_SIZE,
    "trials": 8,
    "epochs": 4,
    "seconds_per_epoch": 36.7,  # wall clock, mean over all 32 epochs of the 8 trials
    "min_seconds_per_epoch": 10.0,  # the fastest trial's mean (32 filters in the first layer, two conv layers)
    "max_seconds_per_epoch": 82.4,  # the slowest (256 filters in the first layer, four conv layers)
    "overhead_seconds": 3.9,  # per training: building and tracing the network, outside the epochs
}
NOTEBOOK_SEARCH = {"max_trials": 6, "executions_per_trial": 1, "epochs": 4}


# --------------------------------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Budget:
    """A search sized to a time budget: ``max_trials`` trials x ``executions_per_trial`` x ``epochs``."""

    max_trials: int
    epochs: int
    executions_per_trial: int
    seconds_per_epoch: float  # steady state, mean over the measured trials
    overhead_seconds: float  # per execution: build, tracing (first epoch), checkpoints
    estimated_seconds: float  # wall clock, spread over ``workers``
    budget_seconds: float
    workers: int = 1

    @property
    def fits(self) -> bool:
        return self.estimated_seconds <= self.budget_seconds * 1.001

    def search_kwargs(self) -> dict:
        """Arguments for ``run_search(**budget.search_kwargs())``."""
        return {"max_trials": self.max_trials, "epochs": self.epochs,
                "executions_per_trial": self.executions_per_trial}

    def __str__(self) -> str:
        return (f"{self.max_trials} trials x {self.executions_per_trial} execution(s) x {self.epochs} epochs "
                f"~ {format_seconds(self.estimated_seconds)} on {self.workers} worker(s) "
                f"(budget {format_seconds(self.budget_seconds)}; {self.seconds_per_epoch:.2f} s per epoch + "
                f"{self.overhead_seconds:.1f} s per execution)")


def plan_budget(
    timings,
    *,
    budget_seconds: float = BUDGET_SECONDS,
    epochs: int | None = None,
    max_trials: int | None = None,
    executions_per_trial: int = 1,
    overhead_seconds: float | None = None,
    workers: int = 1,
) -> Budget:
    """Size a search to ``budget_seconds`` (15 minutes by default) from measured trial timings.

    ``timings``: a ``trials_summary`` table (of a ``pilot_search`` or an earlier search; the *mean* seconds per
    epoch is used, because random search draws small and large networks alike) or seconds per epoch as a number.
    Give ``epochs`` to get how many trials fit, or ``max_trials`` to get how many epochs each may train; give both
    to just estimate. ``workers``: trials running side by side (a distributed search on separate machines).
    """
    if isinstance(timings, pd.DataFrame):
        per_epoch = timings["seconds_per_epoch"].dropna() if "seconds_per_epoch" in timings else pd.Series([])
        if per_epoch.empty:
            raise ValueError("The table has no timed trials (no timing.json): run tuning.pilot_search first")
        seconds_per_epoch = float(per_epoch.mean())
        if overhead_seconds is None:
            overhead = timings["overhead_seconds"].dropna()
            overhead_seconds = float(overhead.mean()) if len(overhead) else 0.0
    else:
        seconds_per_epoch = float(timings)
    overhead_seconds = float(overhead_seconds or 0.0)
    if seconds_per_epoch <= 0:
        raise ValueError(f"seconds per epoch must be positive, got {seconds_per_epoch}")
    executions, workers = int(executions_per_trial), max(int(workers), 1)
    capacity = float(budget_seconds) * workers  # trial-seconds available

    def trial_seconds(n_epochs: int) -> float:
        return executions * (overhead_seconds + n_epochs * seconds_per_epoch)

    if epochs is None and max_trials is None:
        raise ValueError("Give epochs= (to get max_trials) or max_trials= (to get epochs)")
    if max_trials is None:
        max_trials = int(capacity // trial_seconds(int(epochs)))
        if max_trials < 1:
            raise ValueError(
                f"One trial of {epochs} epochs x {executions} execution(s) takes about "
                f"{format_seconds(trial_seconds(int(epochs)))}, more than the budget of "
                f"{format_seconds(budget_seconds)}: give fewer epochs or a larger budget"
            )
    if epochs is None:
        epochs = int((capacity / (int(max_trials) * executions) - overhead_seconds) // seconds_per_epoch)
        if epochs < 1:
            raise ValueError(
                f"{max_trials} trials x {executions} execution(s) do not fit {format_seconds(budget_seconds)} even "
                f"at 1 epoch each ({format_seconds(int(max_trials) * trial_seconds(1) / workers)}): "
                "give fewer trials or a larger budget"
            )
    estimated = int(max_trials) * trial_seconds(int(epochs)) / workers
    return Budget(int(max_trials), int(epochs), executions, seconds_per_epoch, overhead_seconds, estimated,
                  float(budget_seconds), workers)


def share_within_size(max_model_size: int, num_classes: int = len(config.DEFAULT_CLASSES),
                      image_size: tuple[int, int] = config.IMAGE_SIZE, *, samples: int = 20_000,
                      seed: int = 0) -> float:
    """The share of the search space's networks (drawn as random search draws them: each active value uniformly)
    that have at most ``max_model_size`` parameters; a seeded Monte Carlo estimate, so the same every time."""
    space = models.TUNER_SEARCH_SPACE
    counter = models.ToyHyperModel(num_classes, tuple(image_size))
    rng = np.random.default_rng(seed)
    samples = int(samples)

    def draws(key, columns=1):
        spec = space[key]
        values = np.arange(spec["min_value"], spec["max_value"] + 1, spec.get("step", 1))
        return values[rng.integers(0, len(values), size=(samples, columns))].tolist()

    n_conv, n_dense = space["n_Conv_Layers"]["max_value"], space["n_Dense_Layers"]["max_value"]
    first, convs, denses = draws("Input_Conv_Filters"), draws("n_Conv_Layers"), draws("n_Dense_Layers")
    conv_filters, dense_units = draws("Conv_{i}_Filters", n_conv), draws("Dense_{j}_Neurons", n_dense)
    fits = 0
    for k in range(samples):
        values = {"Input_Conv_Filters": first[k][0], "n_Conv_Layers": convs[k][0], "n_Dense_Layers": denses[k][0]}
        values.update({f"Conv_{i}_Filters": conv_filters[k][i] for i in range(convs[k][0])})
        values.update({f"Dense_{j}_Neurons": dense_units[k][j] for j in range(denses[k][0])})
        fits += counter.param_count(values) <= max_model_size
    return fits / int(samples)


__all__ = [
    "BUDGET_SECONDS",
    "Budget",
    "NOTEBOOK_MAX_MODEL_SIZE",
    "NOTEBOOK_PILOT",
    "NOTEBOOK_SEARCH",
    "plan_budget",
    "share_within_size",
]

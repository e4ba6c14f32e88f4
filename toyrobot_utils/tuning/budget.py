"""What a Keras Tuner search may cost: the notebook's default search (Hyperband, with the compute budget and size
limit of notebook 06's hand-built networks), Hyperband's schedule (trials and epochs before anything is trained),
the share of the space a limit keeps, and sizing a search to a time budget from measured trial timings
(``tuner.pilot_search`` measures them on the real data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toyrobot_utils import config
from toyrobot_utils.modelling import models
from toyrobot_utils.tuning.trials import format_seconds

BUDGET_SECONDS = 15 * 60  # what the notebook series can afford on 2 CPU cores (search + training the winner)
# Notebook 07's default search: Hyperband over the write-up's space, on equal footing with notebook 06's hand-built
# networks: no drawn network may cost more operations per photo (``default_max_flops``) or have more parameters
# (``default_max_params``) than the costliest and the largest of them, so a trial's epoch costs about what theirs
# do and the search cannot win by memorising with one huge dense layer. Hyperband spends the epochs:
# ``hyperband_schedule(9)`` draws 17 networks and trains 75 epochs. An earlier default, random search of 6 networks x
# 4 epochs capped at 20 M parameters, scored 21-45 % (chance is 20 %) and picked a 1.1 M-parameter network that cost
# 10x the baseline per epoch and tested below the hand-built ones; a Hyperband search of 12 epochs with the compute
# cap alone picked shallow networks with ~1 M parameters (two convolutional layers) that learn fast and test no
# better (80 %).
NOTEBOOK_SEARCH = {"algorithm": "hyperband", "epochs": 9, "hyperband_factor": 3, "executions_per_trial": 1}
HAND_BUILT = (5, 6, 7, 8)  # notebook 06's networks, the ones the tuned network must beat


def default_max_flops(num_classes: int = len(config.DEFAULT_CLASSES),
                      image_size: tuple[int, int] = config.IMAGE_SIZE) -> int:
    """The search's compute budget per photo: what the costliest hand-built network of notebook 06 costs at this
    image size (``models.conv_net_flops``), so the tuned network competes with them on equal compute."""
    return max(models.conv_net_flops(num_classes, tuple(image_size), **models.MODEL_TABLE[n].kwargs)
               for n in HAND_BUILT)


def default_max_params(num_classes: int = len(config.DEFAULT_CLASSES),
                       image_size: tuple[int, int] = config.IMAGE_SIZE) -> int:
    """The search's size limit: as many parameters as the largest hand-built network of notebook 06 has at this
    image size and class count."""
    return max(models.count_params(models.build_experiment(n, num_classes, tuple(image_size)))["total"]
               for n in HAND_BUILT)


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
    return share_within(max_model_size, num_classes, image_size, samples=samples, seed=seed, measure="params")


def share_within(limit: int, num_classes: int = len(config.DEFAULT_CLASSES),
                 image_size: tuple[int, int] = config.IMAGE_SIZE, *, measure: str = "flops", samples: int = 20_000,
                 seed: int = 0, max_params: int | None = None) -> float:
    """The share of the search space's networks (drawn as random search draws them) whose ``measure`` — "flops"
    (operations per photo, ``ToyHyperModel.flops``) or "params" — is at most ``limit``: how much of the space a
    budget leaves to the search; with ``max_params`` too, the share within both limits. A seeded Monte Carlo
    estimate, the same every time."""
    space = models.TUNER_SEARCH_SPACE
    counter = models.ToyHyperModel(num_classes, tuple(image_size))
    if measure not in ("flops", "params"):
        raise ValueError(f"measure must be 'flops' or 'params', got {measure!r}")
    count = counter.flops if measure == "flops" else counter.param_count
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
        fits += count(values) <= limit and (max_params is None or counter.param_count(values) <= max_params)
    return fits / int(samples)


# --------------------------------------------------------------------------------------------------------------------
# Hyperband: what a search of max_epochs costs
# --------------------------------------------------------------------------------------------------------------------


def hyperband_schedule(max_epochs: int, factor: int = 3) -> pd.DataFrame:
    """Keras Tuner's Hyperband plan for one iteration, worked out with its own rules: per bracket and round, how many
    trials train and up to which epoch. A bracket starts many networks on a few epochs and carries the best
    ``1/factor`` on to ``factor`` times as many (continuing from their weights); the last bracket trains a few
    networks for ``max_epochs`` straight away, in case the early epochs mislead. ``new_epochs`` is what a round
    trains (promoted trials start where they stopped); ``attrs``: ``trials`` (networks drawn), ``epochs`` (total)."""
    max_epochs, factor = int(max_epochs), int(factor)
    if max_epochs < 1 or factor < 2:
        raise ValueError(f"max_epochs must be >= 1 and factor >= 2, got {max_epochs} and {factor}")
    brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:  # Keras Tuner's min_epochs is 1
        epochs, brackets = epochs / factor, brackets + 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))
    rows = []
    for bracket in reversed(range(brackets)):
        reached = 0
        for round_ in range(bracket + 1):
            trials = math.ceil(end_size / (bracket + 1) * factor ** (bracket - round_))
            until = math.ceil(max_epochs / factor ** (bracket - round_))
            rows.append({"bracket": bracket, "round": round_, "trials": trials, "epochs": until,
                         "new_epochs": trials * (until - reached)})
            reached = until
    table = pd.DataFrame(rows)
    table.attrs.update(trials=int(table.loc[table["round"] == 0, "trials"].sum()),
                       epochs=int(table["new_epochs"].sum()))
    return table


def hyperband_seconds(max_epochs: int, factor: int = 3, *, seconds_per_epoch: float,
                      overhead_seconds: float = 0.0) -> float:
    """Estimated wall-clock seconds of one Hyperband iteration: its epochs at ``seconds_per_epoch`` plus
    ``overhead_seconds`` for every training (each round of each trial builds and traces its network again)."""
    schedule = hyperband_schedule(max_epochs, factor)
    return schedule.attrs["epochs"] * float(seconds_per_epoch) + int(schedule["trials"].sum()) * float(overhead_seconds)


__all__ = [
    "BUDGET_SECONDS",
    "Budget",
    "NOTEBOOK_SEARCH",
    "HAND_BUILT",
    "default_max_flops",
    "default_max_params",
    "hyperband_schedule",
    "hyperband_seconds",
    "plan_budget",
    "share_within",
    "share_within_size",
]

"""Which epoch a run keeps and when it stops, judged on the validation photos only: the rule the checkpoint, early
stopping, the fine-tuning decision and the replay of early stopping on finished runs share. Validation accuracy
decides; on a tie (few validation photos saturate and tie often) the validation loss does, so a later epoch that is
surer of the same right answers is kept. The test photos never take part.

Early stopping waits while a run is still learning (``still_learning``): on real photos an augmented network's
training accuracy creeps up for tens of epochs while its validation accuracy wanders around an early, lucky peak, and
patience alone stopped such runs near chance (issue 31; the curves and the replay of both rules are in
benchmarks/RESULTS.md, from benchmarks/training_curves.py and benchmarks/early_stopping.py). ``learning_state``
reads the same curves for the report: did not learn, under-fitting, still learning when training ended.

On a validation split too small to tell epochs apart (``stats.too_small_to_compare``: a parent's 2-5 photos per toy),
choosing is luck: one photo more or less right moves the score by several points. Replayed on the frozen head's
curves on clothing6 (benchmarks/small_validation_rule.py, RESULTS.md), the last epoch of the budget beat the epoch
chosen on 12-30 validation photos in 14 of 18 draws (+0.2 to +1.9 points on average), while on 180 validation photos
the choice on validation won 5 of 6 (+0.9). So on a small split the rule is ``LAST_EPOCH``: the run trains its whole
budget and keeps its last epoch, and early stopping is off; the validation photos still report."""

from __future__ import annotations

import math

import pandas as pd

from toyrobot_utils import stats

MONITOR = "val_accuracy"
# Ties on validation accuracy are broken by this (lower is better). On a few validation photos accuracy takes few
# values: it saturates (every photo right) and ties from epoch to epoch, while the loss still tells a head that is
# sure of the right answers from one that barely has them. Without it the first epoch of a tie was kept for good.
TIE_BREAK = "val_loss"
# A loss lower by less than this share of the best loss is a tie, not a better epoch: once every validation photo is
# right the loss keeps shrinking by crumbs as the head grows more confident, which would otherwise extend training to
# its last epoch (and save the network at every one) without changing what the model answers.
TIE_BREAK_MIN_DELTA = 0.01


# Which epoch a run keeps: the best on validation (the series' rule), or the last of its budget when the validation
# split is too small to choose (``keep_rule``).
BEST_ON_VALIDATION = "best on validation"
LAST_EPOCH = "last epoch"
KEEP_RULES = (BEST_ON_VALIDATION, LAST_EPOCH)


def keep_rule(validation_photos: int) -> str:
    """``LAST_EPOCH`` when ``validation_photos`` are too few to tell epochs apart (``stats.too_small_to_compare``),
    else ``BEST_ON_VALIDATION``."""
    return LAST_EPOCH if stats.too_small_to_compare(validation_photos) else BEST_ON_VALIDATION


def check_keep(keep: str) -> str:
    if keep not in KEEP_RULES:
        raise ValueError(f"keep must be one of {KEEP_RULES}, not {keep!r}")
    return keep


def better(accuracy, loss, best_accuracy, best_loss, keep: str = BEST_ON_VALIDATION) -> bool:
    """Whether an epoch replaces the kept one under rule ``keep``: ``better_on_validation``, or (``LAST_EPOCH``)
    any later epoch with a validation accuracy."""
    if check_keep(keep) == LAST_EPOCH:
        return accuracy is not None and math.isfinite(float(accuracy))
    return better_on_validation(accuracy, loss, best_accuracy, best_loss)


def better_on_validation(accuracy, loss, best_accuracy, best_loss) -> bool:
    """Whether an epoch (or a model) with validation ``accuracy`` and ``loss`` beats the best so far: a higher
    accuracy, or the same accuracy with a loss lower by at least ``TIE_BREAK_MIN_DELTA`` of the best loss. A missing
    best accuracy is beaten by anything; a missing loss never breaks a tie."""
    if accuracy is None or not math.isfinite(float(accuracy)):
        return False
    if best_accuracy is None or not math.isfinite(float(best_accuracy)):
        return True
    if float(accuracy) != float(best_accuracy):
        return float(accuracy) > float(best_accuracy)
    if loss is None or not math.isfinite(float(loss)):
        return False
    if best_loss is None or not math.isfinite(float(best_loss)):
        return True
    return float(loss) < float(best_loss) * (1 - TIE_BREAK_MIN_DELTA)


def best_row(rows, keep: str = BEST_ON_VALIDATION) -> int | None:
    """The index of the kept one of these history rows (dicts with ``val_accuracy`` and, where known, ``val_loss``):
    highest validation accuracy, ties broken by the lower validation loss, then by the earlier epoch — the epoch
    the checkpoint keeps (``LAST_EPOCH``: the last row with a validation accuracy). None when no row has one."""
    best = None
    for i, row in enumerate(rows):
        if MONITOR not in row:
            continue
        if best is None or better(row[MONITOR], row.get(TIE_BREAK), rows[best][MONITOR], rows[best].get(TIE_BREAK),
                                  keep):
            best = i
    return best


# Still learning (``still_learning``): over the last ``patience`` epochs, training accuracy rose by at least
# ``STILL_LEARNING_GAIN`` or the training loss fell by at least ``STILL_LEARNING_LOSS_DROP`` of its level, both read
# off least-squares lines (augmented epochs are noisy). Chosen from full-length curves (benchmarks/training_curves.py,
# replayed by benchmarks/early_stopping.py --rules): on clothing6 model 3's training accuracy creeps up about 2
# points per 10 epochs for 80 epochs, and model 8 sits near chance for 30 epochs (accuracy flat, loss falling 2-4 %
# per 10 epochs) before it takes off to 50 % validation accuracy; patience alone stopped both near chance.
STILL_LEARNING_GAIN = 0.02
STILL_LEARNING_LOSS_DROP = 0.02
# The two stopping rules ``replay_patience`` can replay: the series' rule, and plain patience (before issue 31).
RULES = ("patience unless still learning", "patience")
# The fewest epochs a slope is read over (the series' patience): a line through fewer noisy augmented epochs says
# little (one point of noise per epoch is about one point of noise in the gain over 10), so a shorter history or
# patience leaves the decision to patience alone.
RECENT_EPOCHS = 10


def training_gain(rows, window: int, key: str = "accuracy") -> float | None:
    """How much ``key`` (training accuracy, or ``loss``) rose over the last ``window`` history rows, read off its
    least-squares line (slope per epoch x ``window``; negative when it fell); None with fewer than ``window`` (or 3)
    rows with that key."""
    points = [(float(r["epoch"]), float(r[key])) for r in rows if r.get(key) is not None][-int(window):]
    if len(points) < max(3, int(window)):
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return slope * int(window)


def loss_drop(rows, window: int, key: str = "loss") -> float | None:
    """The share by which the training loss (``key="val_loss"``: the validation loss) fell over the last ``window``
    rows (``training_gain`` of it over its mean there): 0.03 = 3 % lower; None without enough rows."""
    fall = training_gain(rows, window, key)
    losses = [float(r[key]) for r in rows if r.get(key) is not None][-int(window):]
    mean = sum(losses) / len(losses) if losses else 0.0
    return None if fall is None or mean <= 0 else -fall / mean


# Memorising: training accuracy more than this above the best validation accuracy (the report's over-fitting verdict
# uses the same 10 points). Near chance both wander by a few points, so a smaller lead says nothing.
MEMORISING_GAP = 0.10
# Fitted: a mean training accuracy of at least this over the last epochs. Every training photo (nearly) is right, so
# nothing is left to learn from them: a training loss still falling then only measures growing confidence (MobileNetV2
# fine-tuned on the built-in set: training accuracy 100 % from epoch 9, loss falling 2-50 % per 10 epochs, best
# validation epoch 3; waiting cost 19 epochs, 1.8 minutes of the run, and changed nothing kept). Patience alone
# decides then, and a surer epoch still counts through the checkpoint's tie-break (a lower validation loss). Waiting
# while the validation loss fell was tried and dropped: it waited 15 epochs for a fine-tuning whose best epoch had 100 %
# validation accuracy and could not be beaten by later epochs at 99.3 %, however their loss fell.
FITTED = 0.99


def still_learning(rows, window: int, gain: float | None = None) -> bool:
    """Whether a run has not finished learning: over the last ``window`` epochs its training accuracy rose by at
    least ``gain`` (default ``STILL_LEARNING_GAIN``) or its training loss fell by at least
    ``STILL_LEARNING_LOSS_DROP``, while it is not memorising (training accuracy no more than ``MEMORISING_GAP`` above
    the best validation accuracy) and has not fitted its photos (training accuracy below ``FITTED``). A stall in
    validation accuracy then is noise around a rising curve, not the end of learning; once training accuracy runs
    ahead of validation, further gains are memorising, and once it is (nearly) 100 %, a falling loss is confidence,
    not learning: a stall is real (the over-fitting baseline and a saturated fine-tuning stop as before)."""
    rows = [r for r in rows if MONITOR in r]
    rise, drop = training_gain(rows, window), loss_drop(rows, window)
    best = best_row(rows)
    rising = (rise is not None and rise >= (STILL_LEARNING_GAIN if gain is None else gain)) or \
        (drop is not None and drop >= STILL_LEARNING_LOSS_DROP)
    if best is None or not rising:
        return False
    recent = [float(r["accuracy"]) for r in rows[-3:] if r.get("accuracy") is not None]
    if not recent:
        return False
    level = sum(recent) / len(recent)
    return level < FITTED and level <= float(rows[best][MONITOR]) + MEMORISING_GAP


def stalled(rows, patience: int, keep: str = BEST_ON_VALIDATION, rule: str = RULES[0],
            gain: float | None = None) -> bool:
    """True when the last of these history rows (dicts with ``epoch``, ``val_accuracy``, ``val_loss``, ``accuracy``
    and ``loss``) comes ``patience`` or more epochs after the best one (``best_row``) and, under the series' rule,
    the run is not ``still_learning`` over its last ``patience`` epochs (at least ``RECENT_EPOCHS``): the
    early-stopping rule of ``fit``. Never under ``LAST_EPOCH`` (the kept epoch is always the last).
    ``rule="patience"``: patience alone, the rule before issue 31; ``gain``: ``still_learning``'s threshold
    (replays try others)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    rows = [r for r in rows if MONITOR in r]
    best = best_row(rows, keep)
    if best is None or rows[-1]["epoch"] - rows[best]["epoch"] < int(patience):
        return False
    return rule == "patience" or not still_learning(rows, max(int(patience), RECENT_EPOCHS), gain)


# Near chance: a best accuracy (training and validation alike) less than this far above 1 / classes. A network there
# did not learn; its test accuracy measures a failed training, not the change it was meant to show.
NEAR_CHANCE = 0.10


def learning_state(history: pd.DataFrame, classes: int, window: int | None = None, patience: int | None = None
                   ) -> dict:
    """What a finished run's curves say about its learning, from its history table and its number of classes:
    ``did_not_learn`` (best training and validation accuracy both within ``NEAR_CHANCE`` of chance),
    ``still_learning`` (``still_learning`` over its last ``window`` epochs: cut short), ``under_fitting`` (training
    accuracy never got halfway from chance to 100 %: the network does not fit even its own training photos), and
    the figures behind them (``chance``, ``train_max``, ``val_max``; ``gain`` and ``loss_drop`` over the last ``window``
    epochs). ``window`` defaults to the one early stopping read for a run with ``patience`` (``stalled``: at least
    ``RECENT_EPOCHS``), so the report never calls still learning a run its own stopping rule found done."""
    window = window if window is not None else max(int(patience or 0), RECENT_EPOCHS)
    rows = history.sort_values("epoch").to_dict("records")
    chance = 1 / max(int(classes), 1)
    train_max = float(history["accuracy"].max()) if "accuracy" in history and len(history) else float("nan")
    val_max = float(history[MONITOR].max()) if MONITOR in history and len(history) else float("nan")
    gain, drop = training_gain(rows, window), loss_drop(rows, window)
    did_not_learn = train_max < chance + NEAR_CHANCE and val_max < chance + NEAR_CHANCE
    return {"chance": chance, "train_max": train_max, "val_max": val_max, "gain": gain, "loss_drop": drop,
            "window": int(window), "did_not_learn": bool(did_not_learn),
            "still_learning": not did_not_learn and still_learning(rows, window),
            "under_fitting": not did_not_learn and train_max < chance + (1 - chance) / 2}


def replay_patience(history: pd.DataFrame, patience: int | None, rule: str = RULES[0],
                    budget: int | None = None, gain: float | None = None) -> dict:
    """What early stopping with ``patience`` under ``rule`` (``RULES``), within a budget of ``budget`` epochs (None:
    the whole history), would have done to a run trained without it (its history table): the epoch it stops after,
    the best epoch and validation accuracy it keeps, and the epochs it saves. How the series chose its stopping rule
    and default patience from full-length runs (benchmarks/early_stopping.py)."""
    rows = history.sort_values("epoch").to_dict("records")
    total = len(rows)
    rows = rows[:budget] if budget else rows
    stop = len(rows)
    if patience:
        stop = next((k + 1 for k in range(len(rows)) if stalled(rows[:k + 1], patience, rule=rule, gain=gain)),
                    len(rows))
    kept = rows[:stop]
    best = best_row(kept)
    return {"patience": patience, "stopped_after": int(kept[-1]["epoch"]), "best_epoch": int(kept[best]["epoch"]),
            "best_val_accuracy": float(kept[best][MONITOR]), "epochs_saved": total - stop}


__all__ = ["BEST_ON_VALIDATION", "FITTED", "KEEP_RULES", "LAST_EPOCH", "MEMORISING_GAP", "MONITOR", "NEAR_CHANCE",
           "RECENT_EPOCHS", "RULES", "STILL_LEARNING_GAIN", "STILL_LEARNING_LOSS_DROP", "TIE_BREAK",
           "TIE_BREAK_MIN_DELTA", "best_row", "better", "better_on_validation", "check_keep", "keep_rule",
           "learning_state", "loss_drop", "replay_patience", "stalled", "still_learning", "training_gain"]

"""Which epoch a run keeps and when it stops, judged on the validation photos only: the rule the checkpoint, early
stopping, the fine-tuning decision and the replay of early stopping on finished runs share. Validation accuracy
decides; on a tie (few validation photos saturate and tie often) the validation loss does, so a later epoch that is
surer of the same right answers is kept. The test photos never take part.

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


def stalled(rows, patience: int, keep: str = BEST_ON_VALIDATION) -> bool:
    """True when the last of these history rows (dicts with ``epoch``, ``val_accuracy`` and ``val_loss``) comes
    ``patience`` or more epochs after the best one (``best_row``): the early-stopping rule of ``fit``. Never under
    ``LAST_EPOCH`` (the kept epoch is always the last)."""
    rows = [r for r in rows if MONITOR in r]
    best = best_row(rows, keep)
    if best is None:
        return False
    return rows[-1]["epoch"] - rows[best]["epoch"] >= int(patience)


def replay_patience(history: pd.DataFrame, patience: int | None) -> dict:
    """What early stopping with ``patience`` would have done to a run trained without it (its history table): the
    epoch it stops after, the best epoch and validation accuracy it keeps, and the epochs it saves. How the series
    chose its default patience from full-length runs (benchmarks/early_stopping.py)."""
    rows = history.sort_values("epoch").to_dict("records")
    stop = len(rows)
    if patience:
        stop = next((k + 1 for k in range(len(rows)) if stalled(rows[:k + 1], patience)), len(rows))
    kept = rows[:stop]
    best = best_row(kept)
    return {"patience": patience, "stopped_after": int(kept[-1]["epoch"]), "best_epoch": int(kept[best]["epoch"]),
            "best_val_accuracy": float(kept[best][MONITOR]), "epochs_saved": len(rows) - stop}


__all__ = ["BEST_ON_VALIDATION", "KEEP_RULES", "LAST_EPOCH", "MONITOR", "TIE_BREAK", "TIE_BREAK_MIN_DELTA", "best_row",
           "better", "better_on_validation", "check_keep", "keep_rule", "replay_patience", "stalled"]

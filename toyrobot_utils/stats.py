"""How much a test accuracy measured on a few dozen photos says: its 95 % interval, and whether two models really
differ on the same photos.

- ``wilson_interval``: the Wilson score interval of a proportion — unlike "accuracy ± 1.96 standard errors" it stays
  inside 0-100 % and is honest at 100 % (15 of 15 correct is 79.6-100 %, not 100-100 %);
- ``mcnemar_exact``: the paired exact McNemar test. Two models judged on the same test photos differ only where one
  is right and the other wrong; under "no real difference" those discordant photos fall either way with probability
  1/2, so the two-sided p-value is a binomial tail. It uses the pairing, so it sees real differences that two
  overlapping intervals would hide — and tells a 3-point gap on 75 photos for the noise it usually is.

Pure Python and NumPy: notebooks, benchmarks and the robot's reports can all use it.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

ALPHA = 0.05


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval for ``correct`` successes out of ``total``."""
    correct, total = int(correct), int(total)
    if total <= 0:
        return (math.nan, math.nan)
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and total ({total}), got {correct}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def percent(value, digits: int = 1) -> str:
    """'73.3 %': the one way the series writes a share or an accuracy, in sentences and tables alike (a space before
    the sign, as in '95 % interval'); '–' where there is none."""
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value) * 100:.{digits}f} %"


def interval_text(low, high) -> str:
    """'62–82 %': an interval of accuracies as the notebooks' tables show it; '–' where there is none (no photos)."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "–"
    return f"{low * 100:.0f}–{high * 100:.0f} %"


def accuracy_parts(correct: int, total: int, confidence: float = 0.95) -> tuple[str, str]:
    """('81.3 %', '95 % interval 71.1–88.5 %; 61 of 75 photos'): the figure and what it means, for a sentence that
    sets them apart (``report.accuracy_sentence`` puts the figure in bold)."""
    low, high = wilson_interval(correct, total, confidence)
    figure = percent(correct / total)
    detail = f"{percent(confidence, 0)} interval {low * 100:.1f}–{percent(high)}"
    return figure, f"{detail}; {int(correct)} of {int(total)} photos"


def accuracy_text(correct: int, total: int, confidence: float = 0.95) -> str:
    """'81.3 % (95 % interval 71.1–88.5 %; 61 of 75 photos)'."""
    if not total:
        return "no photos"
    figure, detail = accuracy_parts(correct, total, confidence)
    return f"{figure} ({detail})"


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict:
    """The paired exact McNemar test of two models on the same photos (same order): how many photos only A got
    right, only B, and the two-sided p-value that a difference this lopsided arises by chance."""
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"the two models were judged on different numbers of photos ({a.size} and {b.size})")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        p_value = 1.0
    else:
        tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n
        p_value = min(1.0, 2 * tail)
    return {"only_a": only_a, "only_b": only_b, "p_value": p_value}


def pairwise_mcnemar(correct: Mapping[str, pd.Series], alpha: float = ALPHA) -> pd.DataFrame:
    """Every pair of models judged on the same photos: accuracies, the photos only one of them got right, the exact
    McNemar p-value and a verdict ("real" when p < ``alpha``, else "noise"). ``correct``: {model label: a Series of
    0/1 (or bool) per photo, indexed by photo} — pairs are matched by the index, so photos must be the same."""
    labels = list(correct)
    rows = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            sa, sb = correct[a], correct[b]
            if set(sa.index) != set(sb.index):
                raise ValueError(f"{a} and {b} were not judged on the same photos")
            sb = sb.loc[sa.index]
            test = mcnemar_exact(sa.astype(bool).to_numpy(), sb.astype(bool).to_numpy())
            rows.append({"model A": a, "model B": b, "accuracy A": float(sa.mean()), "accuracy B": float(sb.mean()),
                         "only A right": test["only_a"], "only B right": test["only_b"], "p-value": test["p_value"],
                         "verdict": "real" if test["p_value"] < alpha else "noise"})
    return pd.DataFrame(rows, columns=["model A", "model B", "accuracy A", "accuracy B", "only A right",
                                       "only B right", "p-value", "verdict"])


# How models are ranked wherever one is chosen (the robot's default, the best custom network, notebook 10's order).
RANKING_RULE = ("ranked on the validation photos only: highest validation accuracy, ties broken by the lower "
                "validation loss, then by fewer parameters; the test accuracy is reported beside, never used to choose")


def rank_on_validation(table: pd.DataFrame, *, accuracy: str = "val_accuracy", loss: str = "val_loss",
                       cost: str = "params", name: str = "name") -> pd.DataFrame:
    """``table`` (one row per model) best first, chosen on validation only: highest ``accuracy``, then lowest
    ``loss``, then lowest ``cost`` (a cheaper model), then ``name`` — so the order is the same every time. Rows
    missing a value rank below those that have it, at that step. Missing columns are skipped; test accuracy is
    never looked at (choosing on the test photos makes the reported test figure optimistic)."""
    keys, ascending = [], []
    columns = {}
    for column, descending in ((accuracy, True), (loss, False), (cost, False), (name, False)):
        if column not in table.columns:
            continue
        key = f"__rank_{len(keys)}"
        if column == name:
            columns[key] = table[column].astype(str)
        else:
            values = pd.to_numeric(table[column], errors="coerce").astype(float)
            columns[key] = (-values if descending else values).fillna(np.inf)
        keys.append(key)
        ascending.append(True)
    if not keys:
        return table
    return table.assign(**columns).sort_values(keys, ascending=ascending, kind="stable").drop(columns=keys)


# A validation or test split is too small to tell models apart when the 95 % interval of an accuracy of about
# TYPICAL_ACCURACY measured on it is wider than SMALL_SPLIT_WIDTH (20 points: fewer than 49 photos). Models of the
# series differ by 5-15 points, so wider than that the split cannot say which is better, and a choice made on it is
# largely luck. The audit warns about such splits; training stops choosing epochs on such a validation split.
SMALL_SPLIT_WIDTH = 0.20
TYPICAL_ACCURACY = 0.85


def too_small_to_compare(photos: int) -> bool:
    """Whether a split of ``photos`` photos is too small to tell models (or epochs) apart: the 95 % interval of an
    accuracy of ``TYPICAL_ACCURACY`` measured on it is wider than ``SMALL_SPLIT_WIDTH``. An empty split is not."""
    return int(photos) > 0 and interval_width(int(photos), TYPICAL_ACCURACY) > SMALL_SPLIT_WIDTH


def interval_width(total: int, accuracy: float = 0.85, confidence: float = 0.95) -> float:
    """Width (high - low) of the Wilson interval of an accuracy of ``accuracy`` measured on ``total`` photos: how far
    apart two models must be before that many photos can tell them apart."""
    total = int(total)
    if total <= 0:
        return math.nan
    correct = accuracy * total  # the interval of the proportion itself, not of a rounded count
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / total
    denominator = 1 + z * z / total
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    centre = (p + z * z / (2 * total)) / denominator
    return min(1.0, centre + half) - max(0.0, centre - half)


def photos_to_halve(total: int, accuracy: float = 0.85, confidence: float = 0.95) -> int:
    """How many photos (in all) the split needs for the interval of ``interval_width`` to be half as wide as with
    ``total`` (about four times as many: the width shrinks with the square root of the count)."""
    total = max(1, int(total))
    target = interval_width(total, accuracy, confidence) / 2
    low, high = total, 2 * total
    while interval_width(high, accuracy, confidence) > target:
        low, high = high, 2 * high
    while high - low > 1:  # the smallest count whose interval is at most half as wide
        middle = (low + high) // 2
        low, high = (middle, high) if interval_width(middle, accuracy, confidence) > target else (low, middle)
    return high

__all__ = ["ALPHA", "RANKING_RULE", "accuracy_parts", "accuracy_text", "interval_text", "interval_width",
           "mcnemar_exact", "pairwise_mcnemar", "percent", "photos_to_halve", "rank_on_validation", "wilson_interval"]

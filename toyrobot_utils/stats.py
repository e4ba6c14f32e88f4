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


def interval_text(low, high) -> str:
    """'62%–82%': an interval of accuracies as the notebooks' tables show it; '–' where there is none (no photos)."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "–"
    return f"{low:.0%}–{high:.0%}"


def accuracy_parts(correct: int, total: int, confidence: float = 0.95) -> tuple[str, str]:
    """('81.3 %', '95 % interval 71.1–88.5 %; 61 of 75 photos'): the figure and what it means, for a sentence that
    sets them apart (``report.accuracy_sentence`` puts the figure in bold)."""
    low, high = wilson_interval(correct, total, confidence)
    figure = f"{correct / total:.1%}".replace("%", " %")
    detail = f"{confidence:.0%} interval {low:.1%}–{high:.1%}".replace("%", " %")
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


__all__ = ["ALPHA", "accuracy_parts", "accuracy_text", "interval_text", "mcnemar_exact", "pairwise_mcnemar",
           "wilson_interval"]

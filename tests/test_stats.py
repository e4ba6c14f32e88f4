"""Intervals and paired tests, checked against SciPy's implementations and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from toyrobot_utils import stats


@pytest.mark.parametrize("correct,total", [(61, 75), (15, 15), (0, 15), (10, 15), (281, 300), (1, 2)])
def test_wilson_interval_is_scipys(correct, total):
    expected = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
    assert stats.wilson_interval(correct, total) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_interval_is_honest_at_the_edges():
    low, high = stats.wilson_interval(15, 15)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7961, abs=1e-4)  # 15 of 15 right does not prove 100 %
    assert stats.accuracy_text(61, 75) == "81.3 % (95 % interval 71.1–88.5 %; 61 of 75 photos)"
    assert stats.interval_text(*stats.wilson_interval(61, 75)) == "71–89 %"
    assert stats.interval_text(*stats.wilson_interval(0, 0)) == "–" and stats.interval_text(None, None) == "–"
    with pytest.raises(ValueError):
        stats.wilson_interval(16, 15)


def test_one_percentage_format():
    """The series writes every share one way, '73.3 %' (never '73.3%' beside it): issue 30."""
    assert stats.percent(0.73333) == "73.3 %" and stats.percent(0.873, 0) == "87 %" and stats.percent(1) == "100.0 %"
    assert stats.percent(None) == "–" and stats.percent(float("nan")) == "–"


@pytest.mark.parametrize("only_a,only_b,same", [(9, 1, 40), (3, 2, 70), (0, 0, 75), (12, 3, 0)])
def test_mcnemar_exact_is_the_binomial_test_of_the_discordant_photos(only_a, only_b, same):
    a = np.array([1] * only_a + [0] * only_b + [1] * same, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * same, bool)
    result = stats.mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (only_a, only_b)
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert result["p_value"] == pytest.approx(expected)


def test_pairwise_verdicts_tell_real_differences_from_noise():
    photos = [f"p{i}" for i in range(75)]
    strong = pd.Series([1] * 70 + [0] * 5, index=photos)
    weak = pd.Series([0] * 15 + [1] * 55 + [0] * 5, index=photos)  # 15 photos only `strong` gets right
    close = pd.Series([1] * 68 + [0] * 7, index=photos)  # 2 photos apart from `strong`
    table = stats.pairwise_mcnemar({"strong": strong, "weak": weak, "close": close})
    verdict = {(r["model A"], r["model B"]): r["verdict"] for _, r in table.iterrows()}
    assert verdict[("strong", "weak")] == "real" and verdict[("strong", "close")] == "noise"
    with pytest.raises(ValueError, match="same photos"):
        stats.pairwise_mcnemar({"a": strong, "b": strong.iloc[:-1]})


def test_rank_on_validation_ignores_test_and_breaks_ties_by_loss_then_cost():
    table = pd.DataFrame({"name": ["a", "b", "c", "d", "e"], "val_accuracy": [0.8, 0.9, 0.9, None, 0.9],
                          "val_loss": [0.1, 0.5, 0.3, 0.1, 0.3], "params": [1, 5, 9, 1, 2],
                          "test_accuracy": [1.0, 0.5, 0.6, 1.0, 0.1]})
    assert list(stats.rank_on_validation(table)["name"]) == ["e", "c", "b", "a", "d"]
    assert list(stats.rank_on_validation(table.drop(columns="params"))["name"]) == ["c", "e", "b", "a", "d"]
    assert list(stats.rank_on_validation(table).columns) == list(table.columns)


def test_interval_width_shrinks_with_the_square_root_of_the_photos():
    low, high = stats.wilson_interval(60, 75)
    assert stats.interval_width(75, 0.8) == pytest.approx(high - low)
    assert stats.interval_width(10) > stats.interval_width(100) and math.isnan(stats.interval_width(0))
    for n in (10, 30, 75):
        halve = stats.photos_to_halve(n)
        assert stats.interval_width(halve) <= stats.interval_width(n) / 2 < stats.interval_width(halve - 1)

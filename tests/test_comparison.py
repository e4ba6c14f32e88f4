"""Records and stored predictions of many runs become the results notebook's tables and figures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from toyrobot_utils.analysis import comparison, evaluation, gradcam, plots
from toyrobot_utils.modelling import models, training  # noqa: E402

from modelling_fixtures import tiny_trained_runs  # noqa: E402

CLASSES = ["bananagrams", "brios", "cars"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Two write-up runs (models 1 and 3 of the table) and the tuned network, tiny, on planted data with masks."""
    root = tmp_path_factory.mktemp("comparison")
    tiny_trained_runs(root, {name: {"model_number": number, "changes": f"run {number}"} for name, number in
                             ((models.MODEL_TABLE[1].name, 1), (models.MODEL_TABLE[3].name, 3), ("tuned", "tuned"))},
                      CLASSES, train_per_class=12)
    return root


def test_test_predictions_are_stored_and_read_back(series):
    models_dir, name = series / "models", models.MODEL_TABLE[1].name
    results = evaluation.evaluate(name, "test", models_dir=models_dir, data_dir=series / "data")
    comparison.save_test_results(name, results, models_dir=models_dir)
    stored = comparison.load_test_predictions(name, models_dir)
    pd.testing.assert_frame_equal(stored, results["df"], check_dtype=False)
    assert stored.attrs["class_names"] == CLASSES
    record = training.load_record(name, models_dir)
    assert record["test_accuracy"] == pytest.approx(stored["correct"].mean())
    with pytest.raises(FileNotFoundError, match="m2_dropout"):
        comparison.load_test_predictions("m2_dropout", models_dir)


def test_missing_predictions_are_computed_once_from_the_saved_model(series):
    models_dir, name = series / "models", models.MODEL_TABLE[3].name
    comparison.predictions_path(name, models_dir).unlink(missing_ok=True)
    first, computed = comparison.ensure_test_predictions(name, models_dir, series / "data")
    assert computed and len(first) == 9
    again, computed = comparison.ensure_test_predictions(name, models_dir, series / "data")
    assert not computed
    pd.testing.assert_frame_equal(first, again)


def test_series_table_is_in_story_order_and_reports_what_is_missing(series):
    models_dir = series / "models"
    for name in (models.MODEL_TABLE[1].name, models.MODEL_TABLE[3].name, "tuned"):
        comparison.ensure_test_predictions(name, models_dir, series / "data")
    table = comparison.series_table(models_dir)
    assert list(table.index) == ["1", "3", "tuned (08)"]
    assert table.loc["3", "writeup_test_accuracy"] == models.MODEL_TABLE[3].writeup_test_accuracy
    assert pd.isna(table.loc["tuned (08)", "writeup_test_accuracy"])
    assert [c for c in table.columns if c.startswith("test: ")] == [f"test: {c}" for c in CLASSES]
    assert set(table.attrs["missing"]) == ({spec.name for n, spec in models.MODEL_TABLE.items() if n not in (1, 3)}
                                           | {"writeup_tuned", "m9_mobilenet_v2_finetune"})
    empty = comparison.series_table(series / "nothing_here")
    assert empty.empty and "tuned" in empty.attrs["missing"]


def test_focus_summary_tells_toy_lookers_from_floor_lookers():
    def cam(lift, correct):
        area = np.full(len(correct), 0.2)
        return pd.DataFrame({"focus": area * lift, "mask_area": area, "focus_lift": lift,
                             "correct": correct,
                             "actual_label": ["bananagrams", "duplos", "cars", "cars"][:len(correct)]})

    summary = comparison.focus_summary({
        "toy": cam(np.array([3.0, 3.0, 2.5, 2.5]), [1, 1, 1, 0]),
        "floor": cam(np.array([0.5, 1.0, 1.0, 1.5]), [1, 0, 1, 1]),
        "mixed": cam(np.array([1.5, 1.5, 1.5, 1.5]), [1, 1, 1, 1]),
        "no masks": pd.DataFrame({"focus": [np.nan], "mask_area": [np.nan], "focus_lift": [np.nan]}),
    })
    assert summary.loc["toy", "verdict"] == "looks at the toy"
    assert summary.loc["floor", "verdict"] == "mostly at the surroundings"
    assert summary.loc["mixed", "verdict"] == "partly at the toy"
    assert "no masks" not in summary.index  # nothing to score without outlines
    assert summary.loc["floor", "focus_lift (bananagrams)"] == pytest.approx(0.5)
    assert summary.loc["toy", "focus_lift (wrong)"] == pytest.approx(2.5)
    assert np.isnan(summary.loc["mixed", "focus_lift (wrong)"])


def test_focus_is_a_ratio_of_the_means_it_is_printed_beside():
    """Issue 30: '51 % of the heat on toys covering 19 % of the frame (3.0x chance)' did not divide. A small toy
    at 10x and a large one at 1x: the mean of the per-photo ratios (5.5) would call it a toy-looker; the ratio of
    the means, 0.5 of the heat on 0.275 of the frame, is 1.8x, one verdict for every module (gradcam's cut-offs)."""
    cam = pd.DataFrame({"focus": [0.5, 0.5], "mask_area": [0.05, 0.5], "focus_lift": [10.0, 1.0], "correct": [1, 1],
                        "actual_label": ["cars", "duplos"]})
    summary = comparison.focus_summary({"m": cam})
    assert summary.loc["m", "focus_lift"] == pytest.approx(0.5 / 0.275)
    assert summary.loc["m", "verdict"] == gradcam.focus_verdict(0.5 / 0.275) == "partly at the toy"
    assert gradcam.focus_verdict(gradcam.FOCUS_ON_TOY) == "looks at the toy"
    assert gradcam.focus_verdict(gradcam.FOCUS_ON_SURROUNDINGS - 0.01) == "mostly at the surroundings"


def test_results_figures_draw_every_model(series, tmp_path):
    models_dir = series / "models"
    table = comparison.series_table(models_dir)
    predictions = {label: comparison.load_test_predictions(row["name"], models_dir) for label, row in table.iterrows()}
    fig = plots.confusion_grid(predictions, cols=2, figures_dir=tmp_path)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split(":")[0] for t in titled] == ["1", "3", "tuned (08)"]
    assert (tmp_path / "confusion_grid.png").is_file()
    photos = sorted((series / "data" / "test").glob("*/*_000.png"))[:2]
    fig = plots.gradcam_across_models({label: row["name"] for label, row in table.iterrows()}, photos,
                                      figures_dir=tmp_path, models_dir=models_dir)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == len(photos) * (len(table) + 1)  # the photo plus one overlay per model, per row
    assert (tmp_path / "gradcam_across_models.png").is_file()
    empty = plots.confusion_grid({}, figures_dir=tmp_path, name="empty")
    assert any("no test predictions" in t.get_text() for ax in empty.axes for t in ax.texts)


def test_head_to_head_gives_intervals_and_says_which_differences_are_noise(series):
    models_dir, data_dir = series / "models", series / "data"
    names = {"one": models.MODEL_TABLE[1].name, "tuned": "tuned"}
    for name in names.values():
        comparison.ensure_test_predictions(name, models_dir, data_dir)
    table, duel = comparison.head_to_head(names, models_dir)
    assert list(table.index) == ["one", "tuned"]
    for label, name in names.items():
        stored = comparison.load_test_predictions(name, models_dir)
        assert table.loc[label, "test_accuracy"] == pytest.approx(stored["correct"].mean())
        assert table.loc[label, "test_low"] <= table.loc[label, "test_accuracy"] <= table.loc[label, "test_high"]
        assert f"of {len(stored)} photos" in table.loc[label, "test"]
    assert len(duel) == 1 and duel.loc[0, "verdict"] == "noise"  # 9 test photos cannot separate two models
    assert duel.loc[0, "only A right"] + duel.loc[0, "only B right"] <= 9
    with pytest.raises(FileNotFoundError, match="m2_dropout"):
        comparison.head_to_head({"two": "m2_dropout"}, models_dir)


def test_story_steps_test_each_model_against_the_one_before():
    photos = [f"p{i}.png" for i in range(40)]

    def preds(correct):
        return pd.DataFrame({"path": photos, "correct": correct})

    weak, strong = [1] * 10 + [0] * 30, [1] * 38 + [0] * 2  # 28 photos only the second gets right: a real step
    steps = comparison.story_steps({"1": preds(weak), "2": preds(strong), "3": preds(strong[::-1][::-1])})
    assert list(zip(steps["model A"], steps["model B"])) == [("1", "2"), ("2", "3")]
    assert list(steps["verdict"]) == ["real", "noise"]
    assert steps.loc[0, "only B right"] == 28 and steps.loc[1, "p-value"] == 1.0
    assert comparison.story_steps({"1": preds(weak)}).empty


def test_markdown_table_gives_the_test_interval(series):
    table = comparison.series_table(series / "models")
    text = comparison.markdown_table(table)
    assert "| test (95 % interval) |" in text.splitlines()[0]
    row = table.loc["1"]
    expected = f"{100 * row['test_accuracy']:.1f} % ({100 * row['test_low']:.0f}–{100 * row['test_high']:.0f})"
    assert expected in text and row["test_images"] == 9

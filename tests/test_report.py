"""The notebooks' sentences and standard evaluation come from package functions: each says what its numbers show,
ties and edge cases included, and one call renders a run's whole evaluation (tests on tiny generated data)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from toyrobot_utils import config, data
from toyrobot_utils.analysis import comparison, gradcam
from toyrobot_utils.modelling import training
from toyrobot_utils.series import experiments, report, results_report, tuning_report

from modelling_fixtures import tiny_trained_runs

CLASSES = ["alpha", "beta", "gamma"]


def _history(n: int, best: int, rates=None) -> pd.DataFrame:
    val = [0.5 + 0.01 * e for e in range(1, n + 1)]
    val[best - 1] = 0.9
    return pd.DataFrame({"epoch": range(1, n + 1), "accuracy": [0.6 + 0.02 * e for e in range(1, n + 1)],
                         "val_accuracy": val, "learning_rate": rates or [1e-3] * n})


def _record(**extra) -> dict:
    return {"name": "m4_lr_reducer", "best_epoch": 5, "epochs_run": 15, "epochs_requested": 50, "patience": 10,
            "stopped_early_at": 15, "best_val_accuracy": 0.9, "seconds": 30.0, "seconds_per_epoch": 2.0, **extra}


def test_training_summary_says_why_training_stopped():
    text = report.training_summary(_record(), _history(15, 5))
    assert "epoch 5 of 15" in text and "90.0 %" in text and "at most 50" in text and "10 epochs" in text
    full = report.training_summary(_record(stopped_early_at=None, epochs_run=15), _history(15, 5))
    assert "ran all 15 epochs" in full and "early stopping" not in full


def test_training_summary_says_when_the_validation_photos_were_too_few_to_choose_an_epoch():
    """A run kept under stopping.LAST_EPOCH was not chosen on validation: the summary must not call it the best."""
    text = report.training_summary(_record(keep="last epoch", best_epoch=15, stopped_early_at=None, patience=None),
                                   _history(15, 5))
    assert "too few to choose an epoch on" in text and "the last epoch, 15 of 15" in text
    assert "best epoch by validation" not in text and "early stopping" not in text
    chosen = report.training_summary(_record(keep="best on validation"), _history(15, 5))
    assert "best epoch by validation accuracy was **epoch 5 of 15**" in chosen and "too few" not in chosen


def test_the_train_validation_gap_has_one_definition_in_every_sentence():
    """Issue 30: notebook 02 said '+28.7 points' (the kept epoch) and, a few cells on, '29.3 points' (the highest
    training accuracy of any epoch). One gap, comparison.train_val_gap: the kept epoch's training minus validation
    accuracy; the summary says so, the findings give the same number."""
    history = _history(15, 5)  # kept epoch 5: training 70.0 %, validation 90.0 %; training peaks at 90.0 % later
    record = _record(best_train_accuracy=0.7)
    summary = report.training_summary(record, history)
    lines = report.findings(record, history, {"confusion": pd.DataFrame([[1]]), "per_class": pd.DataFrame(
        {"accuracy": [1.0]}, index=["a"])}, None)
    assert "train–validation gap of -20.0 points" in summary and comparison.GAP_MEANING in summary
    assert "a train–validation gap of -20.0 points" in lines[0] and "training accuracy was 70.0 %" in lines[0]
    assert comparison.train_val_gap(_record(), history) == pytest.approx(-0.2)  # a record without the field


def test_training_summary_names_the_file_where_the_run_saved_it(tmp_path):
    """A quick tour saves under build/quick/models/: the summary must not claim models/ (issue 30)."""
    quick = config.PROJECT_ROOT / "build" / "quick" / "models" / "m4_lr_reducer.keras"
    assert "`build/quick/models/m4_lr_reducer.keras` holds" in report.training_summary(_record(), _history(15, 5),
                                                                                         quick)
    assert "`models/" not in report.training_summary(_record(), _history(15, 5), tmp_path / "m4_lr_reducer.keras")


def test_learning_rate_note_says_whether_the_kept_epoch_trained_at_a_reduced_rate():
    rates = [1e-3] * 7 + [5e-4] * 8
    before = report.learning_rate_note(_record(best_epoch=5), _history(15, 5, rates))
    # one cut reads "cut once, for epoch 8", never "cut 1 time, first for epoch 8" (issue 30)
    assert "was cut once, for epoch 8," in before and "before the cut**" in before and "1 time" not in before
    twice = report.learning_rate_note(_record(best_epoch=5), _history(15, 5, [1e-3] * 7 + [5e-4] * 4 + [2.5e-4] * 4))
    assert "was cut twice, first for epoch 8," in twice and "before the first cut**" in twice
    after = report.learning_rate_note(_record(best_epoch=10), _history(15, 10, rates))
    assert "before the" not in after and "trained at 0.0005" in after
    never = report.learning_rate_note(_record(lr_reducer={"factor": 0.5}), _history(15, 5))
    assert "stayed at 0.001 in all 15 epochs" in never
    assert report.learning_rate_note(_record(), _history(15, 5)) is None  # no reducer, constant rate: nothing to say


def test_class_extremes_name_every_class_that_ties():
    per_class = pd.DataFrame({"accuracy": [1.0, 1.0, 0.6, 0.6, 0.8]}, index=["a", "b", "c", "d", "e"])
    assert report.class_extremes(per_class) == "best on a and b (100.0 %), worst on c and d (60.0 %)"
    assert report.class_extremes(pd.DataFrame({"accuracy": [0.5, 0.5]}, index=["a", "b"])).startswith("every class")


def test_top_confusion_reads_actual_along_the_top():
    # rows: predicted, columns: actual (the write-up's layout): 3 cars were predicted as brios
    confusion = pd.DataFrame([[5, 3], [0, 2]], index=["brios", "cars"], columns=["brios", "cars"])
    assert report.top_confusion(confusion) == "cars predicted as brios (3 photos)"
    tied = pd.DataFrame([[5, 2], [2, 2]], index=["brios", "cars"], columns=["brios", "cars"])
    assert report.top_confusion(tied) == "cars predicted as brios and brios predicted as cars (2 photos each)"
    one = pd.DataFrame([[5, 1], [0, 2]], index=["brios", "cars"], columns=["brios", "cars"])
    assert report.top_confusion(one) == "cars predicted as brios (1 photo)"
    assert report.top_confusion(pd.DataFrame([[2, 0], [0, 2]], index=["a", "b"], columns=["a", "b"])) is None


def _cam() -> pd.DataFrame:
    return pd.DataFrame({
        "path": [f"p{i}.jpg" for i in range(6)], "actual_label": ["a", "a", "a", "b", "b", "b"],
        "predicted_label": ["a", "b", "b", "b", "b", "a"], "correct": [1, 0, 0, 1, 1, 0],
        "predicted_probability": [0.9, 0.8, 0.95, 0.7, 0.99, 0.6],
        "focus": [0.5, 0.1, np.nan, 0.4, 0.6, 0.2], "mask_area": [0.1, 0.1, 0.1, 0.2, 0.2, 0.2],
        "focus_lift": [5.0, 1.0, np.nan, 2.0, 3.0, 1.0]})


def test_focus_sentence_counts_the_photos_it_cannot_score():
    text = report.focus_sentence(_cam())
    assert "36 % of the heat lies on the toy" in text and "1 photo of 6 got no heat at all" in text
    assert "and is not scored" in text and "no toy outline" not in text
    outline = report.focus_sentence(_cam().assign(mask_area=[0.1, 0.1, np.nan, 0.2, 0.2, 0.2]))
    assert "1 of 6 photos has no toy outline and is not scored" in outline and "no heat" not in outline
    assert "Correct answers put 50 %" in text and "wrong ones 15 %" in text
    assert report.focus_sentence(_cam().assign(focus=np.nan)) is None


def test_focus_sentence_is_a_ratio_of_the_means_it_states():
    """Issue 30: '51 % of the heat … covers 19 % of the frame (3.0x chance)' did not divide (a mean of per-photo
    ratios). The ratio printed is the two printed means divided, and the sentence says what it is."""
    text = report.focus_sentence(_cam())  # scored photos: heat 0.5 0.1 0.4 0.6 0.2 → 36 %; toy 0.1 0.1 0.2 0.2 0.2
    assert "36 % of the heat lies on the toy**, which covers 16 % of the frame: **2.2x chance**" in text
    assert gradcam.FOCUS_RATIO_MEANING in text
    assert "The class it looks at least: **b** (2.0x chance)" in text  # a: 0.3 / 0.1 = 3.0x, b: 0.4 / 0.2


def test_where_it_looks_agrees_with_the_least_watched_class():
    """Issue 30: notebook 05 said it looks least at brios '(0.3x chance)', then 'it mostly looks at the toys'."""
    cam = pd.DataFrame({"actual_label": ["cars", "cars", "brios"], "correct": [1, 1, 1],
                        "focus": [0.9, 0.9, 0.03], "mask_area": [0.2, 0.2, 0.1]})
    text = report.where_it_looks(cam)
    assert "overall it looks at the toys" in text and "but not at the brios (0.3x)" in text
    floor = report.where_it_looks(cam.assign(focus=[0.1, 0.1, 0.3]))  # 1.0x overall
    assert "overall it looks at what surrounds the toys" in floor and "except at the brios (3.0x)" in floor
    lines = report.findings(_record(best_train_accuracy=0.9), _history(15, 5), {
        "confusion": pd.DataFrame([[1]]), "per_class": pd.DataFrame({"accuracy": [1.0]}, index=["a"])}, cam)
    assert lines[-1] == f"- **Where it looks:** {text}"


def test_tables_show_percentages_not_raw_shares():
    """Issue 30: per-class tables showed 0.733333; every share in a table reads '73.3 %', as in the sentences."""
    df = pd.DataFrame({"actual_label": ["a"] * 15 + ["b"] * 3, "correct": [1] * 11 + [0] * 4 + [1] * 3})
    table = report.per_class_with_intervals({"df": df})
    assert list(table["accuracy"]) == ["73.3 %", "100.0 %"] and table.loc["a", "95 % interval"] == "48–89 %"
    shown = report.focus_per_class(_cam())
    assert list(shown.loc["a"]) == ["30 %", "10 %", "3.0x"]


def test_depth_pair_is_a_right_and_a_wrong_photo_of_the_class_with_most_mistakes():
    pair = report.depth_pair(_cam())
    assert list(pair["path"]) == ["p0.jpg", "p2.jpg"]  # class a: 2 mistakes; the surest right and the surest wrong
    assert report.depth_pair(_cam().assign(correct=1)) is None


def test_accuracy_sentence_carries_the_interval_and_the_writeups_figure():
    predictions = pd.DataFrame({"correct": [1] * 55 + [0] * 20})
    text = report.accuracy_sentence(predictions, writeup=0.747)
    assert text.startswith("**Test accuracy 73.3 %** (95 % interval") and "55 of 75" in text and "74.7 %" in text


def test_experiment_names_refuse_a_mismatch():
    assert experiments.experiment_names([5, 6], ["a", "b"]) == {5: "a", 6: "b"}
    with pytest.raises(ValueError, match="2 names for 3 experiments"):
        experiments.experiment_names([5, 6, 7], ["a", "b"])
    with pytest.raises(ValueError, match="rows \\[2\\]"):
        experiments.experiment_names([2], ["a"])


def test_experiment_findings_name_ties_and_the_reference():
    table = pd.DataFrame({"val_accuracy": [0.7, 0.8, 0.8], "test_accuracy": [0.76, 0.9, 0.9],
                          "test_low": [0.65, 0.8, 0.8], "test_high": [0.84, 0.95, 0.95],
                          "seconds_per_epoch": [2.0, 3.0, 1.0], "params": [1e6, 2e5, 3e5]}, index=[4, 5, 6])
    tested = pd.DataFrame({"focus on the toy": [0.3, 0.5], "focus ÷ chance": [1.5, 2.5]}, index=[5, 6])
    lines = experiments.findings(table, [5, 6], tested)
    assert "models 5 and 6" in lines[0] and "Against model 4" in lines[1] and "models 5 and 6 score higher" in lines[1]
    assert "model 6 is the most focused" in lines[-1]


def test_design_note_reads_the_design_table():
    design = pd.DataFrame({"features into the dense layer": [32768, 4096], "parameters": [1_058_917, 300_000],
                           "of which in the dense layers": [1_048_640, 262_000], "MFLOPs per photo": [100.0, 150.0]},
                          index=[4, 5])
    text = experiments.design_note(design)
    assert "32,768 numbers" in text and "1 of the 1 new network is *smaller*" in text
    assert "model 5 costs 150 million" in text


def test_choices_note_and_winner_sentence():
    table = pd.DataFrame({"status": ["COMPLETED"] * 3, "score": [0.6, 0.5, 0.7], "trial_id": ["1", "2", "3"],
                          "best_epoch": [3, 2, 9], "Optimizer": ["adam", "rmsprop", "adam"]})
    text = tuning_report.choices_note(table)
    assert "from 50.0 % to 70.0 % over 3 completed trials" in text
    winner = tuning_report.Winner({"Optimizer": "adam"}, table.iloc[2], {"epochs": 9, "augment": False}, 3, "p")
    assert "trial 3" in winner.sentence() and "9 of 9 epochs" in winner.sentence()
    assert winner.run_settings(50, 32, 128)["tuner_trial"] == "3"


def test_results_ranking_follows_validation_when_test_disagrees_and_reports_the_swap_test():
    """Notebook 10's ranking: two runs where test and validation disagree (8 best on test, 7 on validation) follow
    validation; a tie on validation accuracy goes to the lower validation loss, whatever the test says."""
    table = pd.DataFrame({"changes": ["a", "b", "c", "d"], "test_accuracy": [0.8, 0.95, 0.7, 0.99],
                          "val_accuracy": [0.9, 0.85, 0.7, 0.85], "val_loss": [0.5, 0.4, 0.9, 0.6],
                          "params": [10, 20, 30, 5],
                          "test_low": [0.7] * 4, "test_high": [0.95] * 4, "latency_ms": [2.0, 3.0, 1.0, 1.0],
                          "file_mb": [1.0, 2.0, 3.0, 1.0], "writeup_test_accuracy": [None, 0.8, 0.747, None]},
                         index=["7", "8", "1", "tuned (08)"])
    assert list(results_report.ranked(table).index) == ["7", "8", "tuned (08)", "1"]
    swap = pd.DataFrame({"flipped": [0.1, 0.4]}, index=["7", "1"])
    text = results_report.findings(table, pd.DataFrame(), swap)
    assert "| best on the validation photos | 7 | validation 90.0 %, test 80.0 % (70–95 %);" in text
    assert "best trained from scratch" not in text  # 7 already heads the table: one row, not two
    assert "| the baseline | 1 | validation 70.0 %, test 70.0 % (70–95 %) |" in text
    assert "| most swayed by the floor | 1 | 40 % of its answers change" in text
    assert "| least swayed by the floor | 7 | 10 % of its answers change |" in text
    assert "ranked on the validation photos only" in text and "never used to choose" in text
    assert "ranked on the validation photos only" in results_report.ranking_note()


def test_notebook_10_closes_with_a_short_table_and_sentences_not_lists_of_every_model():
    """Issue 30: 'at the toy — 1, 2, 3, 4, 5, 6, 7, 8, write-up's tuned (08), …' read as boilerplate. The closing
    findings name only the models that stand out, in a table, and count the rest in a sentence."""
    labels = [str(n) for n in range(1, 9)] + ["tuned (08)"]
    table = pd.DataFrame({"changes": labels, "test_accuracy": np.linspace(0.7, 0.9, 9),
                          "val_accuracy": np.linspace(0.7, 0.9, 9), "val_loss": 0.5, "params": 10, "test_low": 0.6,
                          "test_high": 0.95, "latency_ms": 2.0, "file_mb": 1.0,
                          "writeup_test_accuracy": [0.747, 0.81] + [None] * 7}, index=labels)
    lift = np.array([2.5, 2.1, 3.0, 1.5, 2.2, 1.0, 2.4, 2.6, 2.0])
    focus = pd.DataFrame({"focus_lift": lift, "verdict": [gradcam.focus_verdict(v) for v in lift]}, index=labels)
    text = results_report.findings(table, focus, None)
    assert "- **" not in text and "1, 2, 3" not in text and text.count("\n|") <= 6
    assert "| best on the validation photos | tuned (08) |" in text and "| the baseline | 1 |" in text
    assert "| most focused on the toy | 3 | 3.0x chance |" in text and "| least focused on the toy | 6 | 1.0x" in text
    assert "7 of 9 models look at the toy (at least 2x chance), 1 partly, 1 mostly" in text
    assert ("Against the write-up (the 2 models it reports a test accuracy for), ours are within 5 points on 1, "
            "higher on 0 and lower on 1") in text


def test_runs_note_says_what_it_lists():
    """Issue 30: '1 runs found; not in the tables below: …' listed the runs that are *not* found."""
    table = pd.DataFrame({"name": ["m1_baseline"]})
    table.attrs["missing"] = ["m2_dropout"]
    text = results_report.runs_note(table, "models")
    assert text.startswith("**1 run is compared here; not yet trained, so in none of the tables below:** "
                           "`m2_dropout` (notebook 03)")
    table.attrs["missing"] = []
    assert results_report.runs_note(table, "models") == "**Every run of the series is here (1).**"


def test_steps_note_lists_only_real_differences():
    steps = pd.DataFrame({"model A": ["1", "2"], "model B": ["2", "3"], "accuracy A": [0.7, 0.8],
                          "accuracy B": [0.8, 1.0], "p-value": [0.3, 0.01], "verdict": ["noise", "real"]})
    text = results_report.steps_note(steps, 75)
    assert "**1 of the 2 steps**" in text and "2 → 3" in text and "1 → 2" not in text


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    run = tiny_trained_runs(root, {"m1_baseline": {"model_number": 1, "changes": "tiny"}}, CLASSES, epochs=2,
                            lr_reducer=True)["m1_baseline"]
    folders = SimpleNamespace(data=root / "data", models=root / "models", figures=root / "figures")
    return run, folders


def test_one_call_renders_a_runs_whole_evaluation(tiny_run, capsys):
    run, folders = tiny_run
    report.show_training(run, folders.figures)
    test = data.load_split(folders.data, "test", image_size=(40, 40), shuffle=False)
    evaluated = report.show_evaluation(run, test, folders, examples=4, writeup=0.747)
    out = capsys.readouterr().out
    for heading in ("### Test accuracy", "### Confusion matrix", "### Per class", "### Grad-CAM",
                    "### What this run tells us", "◀ this layer", "Over-fitting"):
        assert heading in out
    assert len(evaluated.predictions) == 9 and 0 <= evaluated.accuracy <= 1
    overlays = sorted(evaluated.overlays.glob("*.jpg"))
    assert len(overlays) == 9  # every test photo's overlay, named after its actual and predicted class
    assert all(p.name.split("__")[0] in CLASSES and "__as_" in p.name for p in overlays)
    record = training.load_record("m1_baseline", folders.models)
    assert record["test_images"] == 9  # stored for notebook 10
    rate_changed = run.history["learning_rate"].nunique() > 1
    assert (folders.figures / "m1_baseline_learning_rate.png").exists() == rate_changed


@pytest.mark.parametrize("rates, drawn", [([1e-3, 1e-3, 1e-3], False), ([1e-3, 1e-3, 5e-4], True)])
def test_show_training_draws_the_learning_rate_only_when_it_changed(tiny_run, tmp_path, rates, drawn):
    run, _ = tiny_run
    history = pd.DataFrame({"epoch": [1, 2, 3], "accuracy": [0.5, 0.6, 0.7], "loss": [1.0, 0.9, 0.8],
                            "val_accuracy": [0.4, 0.5, 0.5], "val_loss": [1.1, 1.0, 1.0], "learning_rate": rates})
    record = {**run.record, "epochs_run": 3, "best_epoch": 2, "best_val_accuracy": 0.5}
    planted = SimpleNamespace(name="planted", history=history, record=record)
    report.show_training(planted, tmp_path)
    assert (tmp_path / "planted_learning_rate.png").exists() is drawn


def test_experiment_test_runs_store_predictions_and_every_overlay(tiny_run, monkeypatch):
    run, folders = tiny_run
    test = data.load_split(folders.data, "test", image_size=(40, 40), shuffle=False)
    table, cams = experiments.test_runs({1: run}, test, folders)
    assert list(table.index) == [1] and 0 <= table.loc[1, "test accuracy"] <= 1 and "–" in table.loc[1, "95 % interval"]
    assert len(cams[1]) == 9 and len(list((folders.figures / "gradcam" / run.name).glob("*.jpg"))) == 9
    # 06's focus ratio is notebook 10's: a ratio of the two means (gradcam.focus_ratio), not a mean of per-photo ratios
    planted = cams[1].assign(focus=[0.5] + [0.1] * 8, mask_area=[0.05] + [0.4] * 8)
    assert gradcam.focus_ratio(planted) == pytest.approx((1.3 / 9) / (3.25 / 9))
    monkeypatch.setattr(experiments.gradcam, "gradcam_table", lambda *args, **kwargs: (planted, {}))
    monkeypatch.setattr(experiments.gradcam, "save_overlays", lambda *args, **kwargs: [])
    table, _ = experiments.test_runs({1: run}, test, folders)
    assert table.loc[1, "focus ÷ chance"] == pytest.approx(gradcam.focus_ratio(planted))


def test_notebook_10_saves_every_models_overlays_and_shows_the_depth_insight_of_the_runs_only_it_evaluates(
        tiny_run, capsys, tmp_path):
    run, folders = tiny_run
    table = pd.DataFrame({"name": [run.name]}, index=["1"])
    focus, cams = results_report.focus_table(table, folders.models, folders.data, overlays_dir=tmp_path / "gradcam")
    assert list(focus.index) == ["1"] and len(cams["1"]) == 9
    assert len(list((tmp_path / "gradcam" / run.name).glob("*.jpg"))) == 9
    assert results_report.show_depth_insights(table, cams, folders) == []  # m1 is evaluated in full by notebook 02
    assert "in the notebook that trained it" in capsys.readouterr().out
    assert results_report.show_depth_insights(table, cams, folders, names=(run.name,)) == ["1"]
    out = capsys.readouterr().out
    assert f"depth insight ({run.name})" in out
    figure = folders.figures / f"{run.name}_depth_insight_gradcam_grid.png"
    figure.unlink(missing_ok=True)
    # the same photos with planted answers: first every answer right (no pair), then one class half wrong
    all_right = {"1": cams["1"].assign(correct=1)}
    assert report.depth_pair(all_right["1"]) is None
    results_report.show_depth_insights(table, all_right, folders, names=(run.name,))
    assert "needs a class with both" in capsys.readouterr().out and not figure.exists()
    first = cams["1"]["actual_label"].iloc[0]
    mixed = cams["1"].assign(correct=[0 if label == first and i % 2 else 1
                                      for i, label in enumerate(cams["1"]["actual_label"])])
    assert list(report.depth_pair(mixed)["actual_label"]) == [first, first]
    results_report.show_depth_insights(table, {"1": mixed}, folders, names=(run.name,))
    assert figure.exists()


def test_background_grid_is_one_row_per_class_with_counts_and_the_usual_background_marked():
    per_background = pd.DataFrame({
        "class": ["all", "all", "duplos", "duplos", "cars"],
        "background": ["white_table", "wood_floor", "white_table", "wood_floor", "wood_floor"],
        "typical": [None, None, True, False, False], "photos": [6, 4, 5, 1, 3], "correct": [5, 2, 5, 0, 2]})
    grid = report.background_grid(per_background)
    assert list(grid.index) == ["cars", "duplos"] and list(grid.columns) == ["white_table", "wood_floor"]
    assert grid.loc["duplos", "white_table"] == "5/5 ★" and grid.loc["duplos", "wood_floor"] == "0/1"
    assert grid.loc["cars", "white_table"] == "–" and grid.loc["cars", "wood_floor"] == "2/3"


def test_duel_lines_say_which_differences_are_noise():
    table = pd.DataFrame({"test": ["90.7 % (…)", "89.3 % (…)"], "MFLOPs per photo": [300.0, 390.0]},
                         index=["tuned network", "best hand-built network (model 7)"])
    tests = pd.DataFrame({"model A": ["tuned network"], "model B": ["best hand-built network (model 7)"],
                          "only A right": [3], "only B right": [2], "p-value": [1.0], "verdict": ["noise"]})
    winner = tuning_report.Winner({}, pd.Series({"trial_id": "7", "score": 0.687, "best_epoch": 6}), {"epochs": 9}, 17,
                                  "p")
    lines = tuning_report.duel_lines(table, tests, winner, {"best_val_accuracy": 0.847, "params_total": 608_485})
    assert lines[0].startswith("- **Tuned network:** test accuracy 90.7 %") and "68.7 %" in lines[0]
    assert "3 photos only the tuned network got right, 2 only the best hand-built network (model 7)" in lines[1]
    assert lines[1].endswith("within the noise.")
    tests.loc[0, "only A right"] = 1  # one photo, not "1 photos" (the 4 December run's 08 said so)
    line = tuning_report.duel_lines(table, tests, winner, {"best_val_accuracy": 0.847, "params_total": 608_485})[1]
    assert "1 photo only the tuned network got right" in line and "1 photos" not in line


def test_notebook_09_states_the_fine_tuning_decision_once(monkeypatch):
    """Issue 30: 09 said which stage is the transfer model three times (fine_tune's print, the stages' note, the
    findings). The note beside the stages' table says it with its reason; the findings point back to it."""
    from toyrobot_utils.series import transfer_report

    reason = ("fine-tuning raised the best validation accuracy (90.0 % frozen, 100.0 % fine-tuned at epoch 5 of 13): "
              "the fine-tuned model is the transfer model")
    frozen = SimpleNamespace(record={"seconds_per_epoch": 0.3, "epochs_run": 31, "best_val_accuracy": 0.9,
                                     "seconds": 10.0}, model=None)
    tuning = SimpleNamespace(reason=reason, kept=True, frozen=frozen,
                             run=SimpleNamespace(record={"seconds_per_epoch": 8.2, "best_val_accuracy": 1.0}))
    note = transfer_report.decision_sentence(tuning)
    assert note.startswith("**Fine-tuning raised the best validation accuracy") and "8.2 s per epoch" in note
    monkeypatch.setattr(transfer_report.models, "count_params", lambda model: {"trainable": 5, "total": 10})
    right = {"df": pd.DataFrame({"correct": [1] * 4})}
    costs = pd.DataFrame({"file_mb": [9.7], "latency_ms_per_image": [20.0]})
    text = transfer_report.findings(frozen, tuning, right, right, None, None, costs)
    assert "transfer model" not in text and "raised" not in text
    assert "the fine-tuned model is model 9 (why: above)" in text


def test_transfer_notes_read_the_record():
    from toyrobot_utils.modelling import transfer
    from toyrobot_utils.series import transfer_report

    record = {"settings": {"training_path": transfer.FEATURE_PATH, "augment_copies": 2}, "training_examples": 1500,
              "feature_extraction_seconds": 41.6, "seconds_per_epoch": 0.123}
    note = transfer_report.frozen_note(record, 500, 150)
    assert "500 training photos and 2 augmented copies of each (1500 examples)" in note and "took 42 s" in note
    assert "0.12 s" in note
    on_photos = transfer_report.frozen_note({"settings": {}, "seconds_per_epoch": 12.4}, 500, 150)
    assert on_photos.startswith("Trained on the photos") and "12 s per epoch" in on_photos
    text = transfer_report.fine_tune_plan("base", blocks=4, epochs=1, patience=8, learning_rate=2e-4,
                                          frozen_learning_rate=1e-3, augment_copies=0)
    assert "top 4 blocks" in text and "at most 1 epoch," in text and "0.0002" in text and "copies" not in text
    plan = transfer_report.plan("vgg16", None, "m9_mobilenet_v2", augment=True, augment_copies=2)
    assert plan.name == "m9_vgg16" and "2 cached copies" in plan.changes


def test_percent_table_writes_shares_and_gaps_as_the_sentences_do():
    """Issue 30: tables showed 0.733333 beside sentences saying '73.3 %'; a gap is a difference in points."""
    table = pd.DataFrame({"validation accuracy": [0.92, None], "gap": [-0.108, 0.05], "epochs": [50, 44]},
                         index=[5, 6])
    shown = report.percent_table(table, ["validation accuracy", "missing column"], points=["gap"])
    assert list(shown["validation accuracy"]) == ["92.0 %", "–"]
    assert list(shown["gap"]) == ["-10.8 points", "+5.0 points"]
    assert list(shown["epochs"]) == [50, 44] and list(table["validation accuracy"])[0] == 0.92  # the rest as it was
    lifts = report.dashes(pd.DataFrame({"focus_lift (wrong)": [1.53, float("nan")], "model": ["5", "9"]}))
    assert list(lifts["focus_lift (wrong)"]) == [1.53, "–"] and list(lifts["model"]) == ["5", "9"]


def test_the_stage_table_shows_accuracies_unrounded(tmp_path):
    """Notebook 09's stage table rounded the fractions to 2 decimals before they became percentages: 99.3 % was
    shown as 99.0 %. The stage rows go through percent_table first."""
    from toyrobot_utils.series import transfer_report

    record = {"params_trainable": 6405, "epochs_run": 96, "best_epoch": 76, "best_val_accuracy": 0.99333,
              "seconds_per_epoch": 5.7421}
    predictions = pd.DataFrame({"correct": [True] * 74 + [False]})
    shown = transfer_report.stage_table([transfer_report._stage_row("frozen base", record, predictions)])
    assert shown.loc["frozen base", "val_accuracy"] == "99.3 %"
    assert shown.loc["frozen base", "test_accuracy"] == "98.7 %"
    assert shown.loc["frozen base", "seconds_per_epoch"] == 5.74

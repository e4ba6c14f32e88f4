"""Whether a run learned, on planted histories: the early-stopping rule (a slow start must not stop, a flat run must)
and the sentences the report and notebook 10 state about it (each present when planted, absent when not)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from toyrobot_utils.modelling import stopping
from toyrobot_utils.series import report

SIX = [f"class_{i}" for i in range(6)]  # chance: 16.7 %


def history(train, val, loss=None) -> pd.DataFrame:
    epochs = np.arange(1, len(train) + 1)
    return pd.DataFrame({"epoch": epochs, "accuracy": train, "val_accuracy": val,
                         "val_loss": loss if loss is not None else 2.0 - np.asarray(val), "loss": 1.0,
                         "learning_rate": 0.001, "seconds": 1.0})


def slow_start(epochs=30, seed=0) -> pd.DataFrame:
    """Clothing6's augmented networks (model 3 without early stopping: training accuracy 21 % at epoch 7, 33 % at
    epoch 34): training accuracy creeps up 4 points per 10 epochs from near chance, while validation accuracy peaks
    early by luck and then wanders below that peak."""
    rng = np.random.default_rng(seed)
    train = 0.18 + 0.004 * np.arange(epochs) + rng.normal(0, 0.006, epochs)
    val = np.full(epochs, 0.30) + rng.normal(0, 0.01, epochs)
    val[3] = 0.36  # a lucky early peak, not beaten within 10 epochs
    return history(train, val)


def flat(epochs=30, seed=1) -> pd.DataFrame:
    """Model 8 on clothing6: nothing moves, both curves near chance."""
    rng = np.random.default_rng(seed)
    train = 0.20 + rng.normal(0, 0.008, epochs)
    val = 0.21 + rng.normal(0, 0.01, epochs)
    val[2] = 0.25
    return history(train, val)


def overfitting(epochs=30) -> pd.DataFrame:
    """The baseline: training accuracy races to 100 % and keeps rising a little, validation peaks at epoch 8."""
    train = np.minimum(0.4 + 0.05 * np.arange(epochs), 0.995)
    val = np.where(np.arange(epochs) == 7, 0.75, 0.70)
    return history(train, val)


def record(h: pd.DataFrame, classes=SIX, stopped=None, patience=10) -> dict:
    best = stopping.best_row(h.to_dict("records"))
    return {"name": "run", "best_epoch": int(h["epoch"].iloc[best]),
            "best_val_accuracy": float(h["val_accuracy"].iloc[best]),
            "epochs_run": len(h), "epochs_requested": 50, "patience": patience, "stopped_early_at": stopped,
            "seconds": 10.0, "seconds_per_epoch": 1.0, "class_names": list(classes)}


def test_a_slow_start_does_not_stop_and_a_flat_run_does():
    slow = slow_start().to_dict("records")
    # epoch 14: ten epochs after the lucky peak; plain patience stops, the series' rule does not
    assert stopping.stalled(slow[:14], 10, rule="patience")
    assert not stopping.stalled(slow[:14], 10) and stopping.still_learning(slow[:14], 10)
    assert not any(stopping.stalled(slow[:k], 10) for k in range(1, len(slow) + 1))
    replay = stopping.replay_patience(pd.DataFrame(slow), 10)
    assert replay["stopped_after"] == len(slow) and replay["epochs_saved"] == 0
    assert stopping.replay_patience(pd.DataFrame(slow), 10, rule="patience")["stopped_after"] == 14

    # model 8 on clothing6: accuracy flat near chance for 30 epochs while the training loss falls 3 % per 10 epochs
    plateau = flat()
    plateau["loss"] = 1.79 * (1 - 0.003 * np.arange(len(plateau)))
    assert stopping.loss_drop(plateau.to_dict("records")[:13], 10) == pytest.approx(0.03, abs=0.003)
    assert stopping.replay_patience(plateau, 10)["stopped_after"] == len(plateau)

    still = flat().to_dict("records")
    assert stopping.stalled(still[:13], 10) and not stopping.still_learning(still[:13], 10)
    assert stopping.replay_patience(pd.DataFrame(still), 10)["stopped_after"] == 13

    # over-fitting: training accuracy still rises but is far above validation, so patience stops it as before
    over = overfitting().to_dict("records")
    assert stopping.training_gain(over[:18], 10) > stopping.STILL_LEARNING_GAIN
    assert stopping.stalled(over[:18], 10) and stopping.replay_patience(pd.DataFrame(over), 10)["stopped_after"] == 18
    with pytest.raises(ValueError, match="rule must be one of"):
        stopping.stalled(over, 10, rule="never")


def test_a_fitted_run_stops_though_its_loss_still_falls():
    """MobileNetV2 fine-tuned on the built-in set: every training photo right from epoch 9, the training loss halving
    every few epochs, the best validation epoch 3. A falling loss at 100 % is confidence, not learning: patience 8
    stops it at epoch 11, even while its validation loss falls at a lower accuracy than the best epoch's (a surer
    epoch counts only through the checkpoint's tie-break). The same curves at 90 % training accuracy are still
    learning and go on."""
    epochs = np.arange(1, 31)
    val = np.where(epochs == 3, 0.993, 0.987)
    fitted = history(np.where(epochs >= 9, 1.0, 0.995), val, loss=np.where(epochs == 3, 0.017, 0.03))
    fitted["loss"] = 0.3 * 0.7 ** epochs
    rows = fitted.to_dict("records")
    assert stopping.loss_drop(rows[:11], 8) > stopping.STILL_LEARNING_LOSS_DROP
    assert not stopping.still_learning(rows[:11], 10) and stopping.stalled(rows[:11], 8)
    assert stopping.replay_patience(fitted, 8)["stopped_after"] == 11
    assert stopping.replay_patience(fitted, 8)["best_epoch"] == 3
    learning = fitted.assign(accuracy=0.9)
    assert stopping.still_learning(learning.to_dict("records")[:11], 10)
    assert stopping.replay_patience(learning, 8)["stopped_after"] == 30
    assert not stopping.learning_state(fitted, 5)["still_learning"]
    surer = fitted.assign(val_loss=0.05 * 0.995 ** epochs)  # 5 % lower every 10 epochs, below the best's accuracy
    assert stopping.loss_drop(surer.to_dict("records")[:11], 10, "val_loss") > 0.04
    assert not stopping.still_learning(surer.to_dict("records")[:11], 10)
    assert stopping.replay_patience(surer, 8)["stopped_after"] == 11


def test_training_gain_reads_the_least_squares_line():
    rows = [{"epoch": e, "accuracy": 0.2 + 0.01 * e} for e in range(1, 21)]
    assert stopping.training_gain(rows, 10) == pytest.approx(0.10)
    assert stopping.training_gain(rows[:2], 10) is None
    replay = stopping.replay_patience(slow_start(), 10, budget=20)
    assert replay["stopped_after"] == 20 and replay["epochs_saved"] == 10


def test_learning_state_and_its_sentences_on_planted_histories():
    # did not learn: stated, and the over-fitting verdict does not call it "no sign of over-fitting"
    h = flat()
    summary = report.training_summary(record(h, stopped=13), h)
    assert "did not learn" in summary and "16.7 %" in summary
    assert "Under-fitting" not in summary and "Still learning" not in summary
    verdict = report.findings(record(h), h, _results(), None)[0]
    assert "did not learn" in verdict and "no sign of over-fitting" not in verdict

    # still learning and under-fitting: a slow start that ran out of epochs
    h = slow_start()
    summary = report.training_summary(record(h), h)
    assert "Still learning when training ended" in summary and "Under-fitting" in summary
    assert re.search(r"training loss by [+-]\d+\.\d % \(least-squares", summary)  # "73.3 %", the series' format
    assert "did not learn" not in summary
    verdict = report.findings(record(h), h, _results(), None)[0]
    assert "under-fitting" in verdict and "no sign of over-fitting" not in verdict

    # the same network, finished: it fits its training photos and its curve has flattened
    train = np.concatenate([np.linspace(0.2, 0.8, 20), np.full(15, 0.8)])
    h = history(train, np.concatenate([np.linspace(0.3, 0.85, 20), np.full(15, 0.85)]))
    summary = report.training_summary(record(h), h)
    assert not any(s in summary for s in ("did not learn", "Under-fitting", "Still learning"))
    assert "no sign of over-fitting" in report.findings(record(h), h, _results(), None)[0]

    # the number of classes sets chance: 25-27 % is near chance with 5 classes (20 %), not with 50 (2 %)
    h = history(np.full(20, 0.25), np.full(20, 0.27))
    assert stopping.learning_state(h, 5)["did_not_learn"] and not stopping.learning_state(h, 50)["did_not_learn"]
    # the curves are read over the window early stopping read: patience 20 -> the last 20 epochs, else 10
    assert stopping.learning_state(h, 5, patience=20)["window"] == 20
    assert stopping.learning_state(h, 5, patience=3)["window"] == stopping.learning_state(h, 5)["window"] == 10


def _results() -> dict:
    confusion = pd.DataFrame([[5, 1], [0, 4]], index=["a", "b"], columns=["a", "b"])
    per_class = pd.DataFrame({"accuracy": [0.8, 0.9]}, index=["a", "b"])
    return {"confusion": confusion, "per_class": per_class}


def test_notebook_10_names_the_models_that_did_not_learn(tmp_path):
    """compare_runs reads each run's curves (``learning``) and notebook 10's findings name the failed trainings,
    only those."""
    from toyrobot_utils.analysis import comparison
    from toyrobot_utils.files import write_json
    from toyrobot_utils.modelling import models
    from toyrobot_utils.series import results_report

    for number, h, test in ((5, flat(), 0.3), (6, slow_start(), 0.327)):
        name = models.MODEL_TABLE[number].name
        write_json(tmp_path / f"{name}.json", {**record(h), "name": name, "test_accuracy": test, "test_images": 300})
        h.to_csv(tmp_path / f"{name}_history.csv", index=False)
    table = comparison.compare_runs(tmp_path, numbers=[5, 6])
    assert table.loc[5, "learning"] == "did not learn"
    assert table.loc[6, "learning"] == "under-fitting, still learning at the end"
    story = report.story_so_far(tmp_path, 6)  # notebooks 03-09's story table
    assert story.loc[5, "learning"] == "did not learn"
    assert story.loc[6, "test_accuracy"] == "32.7 %"  # not rounded to 30.0 % before it became a percentage
    table.index = table.index.astype(str)
    table = table.assign(latency_ms=1.0, file_mb=1.0, test_low=0.2, test_high=0.4)
    text = results_report.findings(table, pd.DataFrame(), None)
    assert "**Did not learn:** 5 —" in text and "6 —" not in text
    text = results_report.findings(table.drop(index="5"), pd.DataFrame(), None)
    assert "Did not learn" not in text


def test_models_7_and_8_start_with_relu_initialisation_and_their_lineage_says_so():
    """He initialisation for the two networks that sat at chance on clothing6 (issue 31); the others keep Keras'
    default and their settings (hence their stored runs' lineage) are unchanged."""
    import keras

    from toyrobot_utils.modelling import models

    for number in (7, 8):
        spec = models.MODEL_TABLE[number]
        net = spec.build(6, (32, 32))
        convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
        assert all(isinstance(c.kernel_initializer, keras.initializers.HeUniform) for c in convs)
        assert spec.settings()["kernel_initializer"] == "he_uniform"
    for number in range(1, 7):
        assert "kernel_initializer" not in models.MODEL_TABLE[number].settings()
    baseline = models.MODEL_TABLE[1].build(6, (32, 32))
    assert isinstance(baseline.get_layer("conv_1").kernel_initializer, keras.initializers.GlorotUniform)

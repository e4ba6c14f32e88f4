"""Training runs: best checkpoint kept (within and across runs), records written, determinism, and a real
kill-and-resume of a training process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

TESTS_DIR = Path(__file__).parent
sys.path.insert(0, str(TESTS_DIR))
from toyrobot_utils.modelling import devices, models, stopping, training  # noqa: E402

from modelling_fixtures import InterruptAt, arrays_dataset, planted_task  # noqa: E402

SIZE = 32
CLASSES = ["red", "blue"]


class ScriptedValAccuracy(keras.callbacks.Callback):
    """Replaces val_accuracy (and val_loss, given ``losses``) in the epoch logs (the run's own callbacks come after
    and see them), so a test decides which epoch is best. Without ``losses`` every epoch's val_loss is 1.0, so ties on
    accuracy stay ties."""

    def __init__(self, script, losses=None):
        super().__init__()
        self.script = list(script)
        self.losses = list(losses) if losses is not None else [1.0] * len(self.script)

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = self.script[epoch]
        logs["val_loss"] = self.losses[epoch]


class WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def data(seed=1):
    x, y, _ = planted_task(12, size=SIZE, toy=10, seed=seed)
    xv, yv, _ = planted_task(4, size=SIZE, toy=10, seed=seed + 100)
    return arrays_dataset(x, y, 2, shuffle=True, seed=seed), arrays_dataset(xv, yv, 2)


def tiny_model(seed=0, dropout=0.25):
    training.seed_everything(seed)
    return models.build_conv_net(2, (SIZE, SIZE), filters=(4, 8), dense=8, dropout=dropout, name="tiny")


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_checkpoint_keeps_the_best_epoch_and_a_worse_run_does_not_replace_it(tmp_path):
    train, val = data()
    snapshots = WeightsPerEpoch()
    result = training.fit(
        tiny_model(), train, val, name="run", epochs=4, models_dir=tmp_path, verbose=0, class_names=CLASSES,
        settings={"image_size": (SIZE, SIZE), "preprocessing": "rescale", "augment": False},
        callbacks=[ScriptedValAccuracy([0.5, 0.8, 0.6, 0.7]), snapshots],
    )
    paths = training.run_paths("run", tmp_path)
    record = json.loads(paths["record"].read_text())
    assert record["best_val_accuracy"] == pytest.approx(0.8) and record["best_epoch"] == 2
    assert record["epochs_run"] == 4 and record["epochs_requested"] == 4
    assert record["params_total"] == record["params_trainable"] == result.model.count_params()
    assert record["file_bytes"] == paths["model"].stat().st_size
    assert record["settings"] == {"image_size": [SIZE, SIZE], "preprocessing": "rescale", "augment": False,
                                  "lr_reducer": False}
    assert record["class_names"] == CLASSES
    assert record["seconds"] > 0 and record["seconds_per_epoch"] == pytest.approx(record["seconds"] / 4)
    for key in ("timestamp", "seed", "params_non_trainable", "history_file"):
        assert key in record
    # the file holds epoch 2's weights, and fit returned that model
    saved = keras.models.load_model(paths["model"])
    for got, want in zip(saved.get_weights(), snapshots.weights[1]):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(result.model.get_weights(), snapshots.weights[1]):
        np.testing.assert_array_equal(got, want)
    history = pd.read_csv(paths["history"])
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert list(history["val_accuracy"]) == pytest.approx([0.5, 0.8, 0.6, 0.7])
    assert {"loss", "accuracy", "val_loss", "learning_rate", "seconds"} <= set(history.columns)
    pd.testing.assert_frame_equal(history, result.history, check_dtype=False)
    assert not paths["backup"].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "run.json", "run.keras", "run_history.csv"]  # no temp
    # TensorBoard: one folder per run under models/logs/<name>/, training and validation scalars of every epoch
    (run_logs,) = (tmp_path / "logs" / "run").iterdir()
    assert run_logs.name == training.time_stamp(record["started"])
    for side in ("train", "validation"):
        events = list((run_logs / side).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0

    # A second run of the same lineage (same photos, settings, network) that does worse leaves model, history and
    # record alone.
    same = dict(name="run", epochs=4, models_dir=tmp_path, verbose=0, class_names=CLASSES,
                settings={"image_size": (SIZE, SIZE), "preprocessing": "rescale", "augment": False})
    before = digest(paths["model"]), digest(paths["history"])
    worse = training.fit(tiny_model(seed=1), *data(), **same,
                         callbacks=[ScriptedValAccuracy([0.3, 0.8, 0.2, 0.1])])  # equal is not better either
    assert not worse.replaced
    assert (digest(paths["model"]), digest(paths["history"])) == before
    record = training.load_record("run", tmp_path)
    assert record["best_val_accuracy"] == pytest.approx(0.8) and record["best_epoch"] == 2
    assert record["later_runs_not_kept"][0]["best_val_accuracy"] == pytest.approx(0.8)
    assert len(worse.history) == 4
    # the same accuracy with a higher validation loss is not better either
    tied = training.fit(tiny_model(seed=1), *data(), **same,
                        callbacks=[ScriptedValAccuracy([0.3, 0.8, 0.2, 0.1], losses=[2, 1.5, 2, 2])])
    assert not tied.replaced and (digest(paths["model"]), digest(paths["history"])) == before

    # A better one replaces them.
    better = training.fit(tiny_model(seed=2), *data(), **same, callbacks=[ScriptedValAccuracy([0.9, 0.85, 0, 0])])
    assert better.replaced and digest(paths["model"]) != before[0]
    assert training.load_record("run", tmp_path)["best_epoch"] == 1
    assert not (tmp_path / training.ARCHIVE_DIR).exists()  # same lineage: nothing was archived
    # overwrite=True starts the score afresh; the better model is archived, not lost
    kept = digest(paths["model"])
    fresh = training.fit(tiny_model(seed=3), *data(), **{**same, "epochs": 1}, overwrite=True,
                         callbacks=[ScriptedValAccuracy([0.1])])
    assert fresh.replaced and fresh.record["best_val_accuracy"] == pytest.approx(0.1)
    archived = list((tmp_path / training.ARCHIVE_DIR / "run").glob("*/run.keras"))
    assert len(archived) == 1 and digest(archived[0]) == kept

    model, record = training.load_run("run", tmp_path)
    assert isinstance(model, keras.Model) and record["best_val_accuracy"] == pytest.approx(0.1)
    assert list(training.load_history("run", tmp_path)["epoch"]) == [1]
    assert training.list_runs(tmp_path)["name"].tolist() == ["run"]


def test_training_is_deterministic(tmp_path):
    results = [
        training.fit(tiny_model(seed=7), *data(seed=3), name=name, epochs=2, models_dir=tmp_path, verbose=0,
                     seed=7)
        for name in ("first", "second")
    ]
    a, b = (r.history[["loss", "accuracy", "val_loss", "val_accuracy"]] for r in results)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for wa, wb in zip(results[0].model.get_weights(), results[1].model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("steps", [4, devices.STEPS_PER_EXECUTION])
def test_several_batches_per_call_train_the_same_weights_as_one(tmp_path, monkeypatch, steps):
    """fit runs devices.STEPS_PER_EXECUTION batches per call, even for a network compiled the write-up's way (one):
    the same batches, dropout masks and updates, so the same history and weights to the last bit. 6 batches an
    epoch: 4 per call leaves a partial call at each epoch's end, 16 is more than an epoch."""
    results = {}
    for per_call in (1, steps):
        model = tiny_model(seed=5)
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])  # one per call
        monkeypatch.setattr(training, "batches_per_call", lambda m, n=per_call: devices.batches_per_call(m, n))
        results[per_call] = training.fit(model, *data(seed=2), name=f"calls{per_call}", epochs=3,
                                         models_dir=tmp_path, verbose=0, seed=5)
        assert model.steps_per_execution == per_call
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(results[1].history[columns], results[steps].history[columns], check_exact=True)
    for one, several in zip(results[1].model.get_weights(), results[steps].model.get_weights()):
        np.testing.assert_array_equal(one, several)


def test_compiled_networks_and_fit_run_several_batches_per_call(tmp_path):
    assert tiny_model().steps_per_execution == devices.STEPS_PER_EXECUTION  # models.compile_model
    model = tiny_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.steps_per_execution == 1
    training.fit(model, *data(), name="literal", epochs=1, models_dir=tmp_path, verbose=0)
    assert model.steps_per_execution == devices.STEPS_PER_EXECUTION


def test_fit_does_not_resume_a_different_network(tmp_path, capsys):
    backup = training.run_paths("run", tmp_path)["backup"]
    backup.mkdir(parents=True)
    (backup / training.STATE_FILE).write_text(json.dumps({"params": {"total": 1, "trainable": 1,
                                                                     "non_trainable": 0}, "rows": []}))
    result = training.fit(tiny_model(), *data(), name="run", epochs=1, models_dir=tmp_path, verbose=2)
    assert "not resuming the interrupted run" in capsys.readouterr().out
    assert result.record["resumed_at_epochs"] == [] and result.record["epochs_run"] == 1


def test_a_short_fit_logs_one_line_per_epoch_names_the_file_once_and_no_absolute_path(tmp_path, monkeypatch,
                                                                                         capsys):
    """What a notebook's training cell shows (issue 30): one line per epoch, the kept epochs marked, the saving said
    once at the end with the file named relative to the folder it is read from; no Keras checkpoint or reducer line
    per epoch, and no absolute path, which a committed notebook would carry to every reader."""
    monkeypatch.chdir(tmp_path)
    script = [0.5, 0.75, 0.5, 0.75]  # epoch 2 is kept; epoch 4 ties it on accuracy and loss, so is not
    run = training.fit(tiny_model(), *data(), name="run", epochs=4, models_dir=tmp_path / "models", verbose=2,
                       class_names=CLASSES, lr_reducer={"patience": 1, "factor": 0.5},
                       callbacks=[ScriptedValAccuracy(script)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/4", "2/4", "3/4", "4/4"]
    assert ["★ kept so far" in line for line in epochs] == [True, True, False, False]
    # the reducer watches val_loss, scripted flat: it cuts after epoch 2 (patience 1), and the line says so
    assert "val_accuracy  75.0 %" in epochs[1] and "lr 0.001 →" not in epochs[0] and "lr 0.001 → 0.0005" in epochs[1]
    assert not any(word in out for word in ("saving model", "did not improve", "ReduceLROnPlateau", "Epoch "))
    saved = [line for line in lines if "saved as" in line]
    assert saved == ["run: kept epoch 2 of 4 (validation accuracy 75.0 %), saved as models/run.keras."]
    assert str(tmp_path) not in out and run.record["best_epoch"] == 2


def test_load_run_explains_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="training.fit"):
        training.load_run("nothing", tmp_path)


RUN_SCRIPT = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {tests_dir!r})
    import keras
    from modelling_fixtures import arrays_dataset, planted_task
    from toyrobot_utils.modelling import models, training

    models_dir, kill_epoch, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    VAL_ACCURACY = [0.5, 0.9, 0.6, 0.7, 0.8]    # best epoch: 2, before the kill
    VAL_LOSS = [1.0, 0.9, 0.95, 0.97, 0.99]     # with patience 1 the LR halves after epochs 3, 4 and 5

    class Script(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_accuracy"] = VAL_ACCURACY[epoch]
            logs["val_loss"] = VAL_LOSS[epoch]

    class LogAndKill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_index = epoch
            with open(log, "a") as fh:
                fh.write(json.dumps({{"pid": os.getpid(), "epoch": epoch + 1}}) + "\\n")

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch_index == kill_epoch:  # after a call of batches: fit runs several per call
                os._exit(17)  # like a power cut: no cleanup, no exception handling

    x, y, _ = planted_task(16, size=32, toy=10, seed=1)
    xv, yv, _ = planted_task(4, size=32, toy=10, seed=2)
    training.seed_everything(0)
    model = models.build_conv_net(2, (32, 32), filters=(4, 8), dense=8, dropout=0.25)
    training.fit(model, arrays_dataset(x, y, 2, shuffle=True, batch_size=8), arrays_dataset(xv, yv, 2),
                 name="run", epochs=5, models_dir=models_dir, verbose=0,
                 lr_reducer={{"patience": 1, "factor": 0.5}}, callbacks=[Script(), LogAndKill()])
""")


def test_a_killed_run_resumes_from_the_last_finished_epoch(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(RUN_SCRIPT.format(tests_dir=str(TESTS_DIR)))
    log = tmp_path / "epochs.jsonl"
    models_dir = tmp_path / "models"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    paths = training.run_paths("run", models_dir)

    # Session 1: killed in the middle of epoch 4 (after 3 finished epochs).
    first = subprocess.run([sys.executable, str(script), str(models_dir), "3", str(log)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 17, first.stderr[-3000:]
    assert paths["backup"].is_dir() and paths["model"].is_file()
    assert not paths["record"].exists() and not paths["history"].exists()
    best_after_kill = digest(paths["model"])

    # Session 2: the same command without the kill.
    second = subprocess.run([sys.executable, str(script), str(models_dir), "-1", str(log)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]

    sessions: dict[int, list[int]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        sessions.setdefault(entry["pid"], []).append(entry["epoch"])
    assert list(sessions.values()) == [[1, 2, 3, 4], [4, 5]]  # continued at epoch 4, did not restart

    history = pd.read_csv(paths["history"])
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]  # complete, no duplicate of the interrupted epoch
    assert list(history["val_accuracy"]) == pytest.approx([0.5, 0.9, 0.6, 0.7, 0.8])
    # the LR reducer's state survived too: the rate kept halving after the restart
    assert list(history["learning_rate"]) == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 2.5e-4])
    record = json.loads(paths["record"].read_text())
    assert record["best_epoch"] == 2 and record["best_val_accuracy"] == pytest.approx(0.9)
    assert record["epochs_run"] == 5 and record["resumed_at_epochs"] == [4]
    # epochs 4 and 5 (0.7, 0.8) were worse than the restored best (0.9): the file is still epoch 2's model
    assert digest(paths["model"]) == best_after_kill
    assert not paths["backup"].exists()


def test_written_files_get_normal_permissions(tmp_path):
    """Temporary files are created 0600; a published model, record or table must be readable like any new file."""
    from toyrobot_utils import files

    files.atomic_write_text(tmp_path / "record.json", "{}")
    tmp = files.temporary_path(tmp_path / "model.keras")
    tmp.write_bytes(b"model")
    files.publish(tmp, tmp_path / "model.keras")
    expected = 0o666 & ~files.UMASK
    for name in ("record.json", "model.keras"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "record.json"]  # no temporary left


def test_patience_stops_a_stalled_run_and_survives_an_interruption(tmp_path):
    script = [0.5, 0.8, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]  # best at epoch 2; 0.8 again at 5 is no improvement
    kwargs = dict(name="run", epochs=8, patience=3, verbose=0, class_names=CLASSES)
    whole = training.fit(tiny_model(), *data(), models_dir=tmp_path / "whole",
                         callbacks=[ScriptedValAccuracy(script)], **kwargs)
    assert whole.record["epochs_run"] == 5 and whole.record["stopped_early_at"] == 5  # 5 - 2 >= 3
    assert whole.record["best_epoch"] == 2 and whole.record["patience"] == 3
    assert whole.record["lineage"]["settings"]["patience"] == 3
    # stalled on the last epoch of its budget: it ran its budget, it was not stopped early
    budget = training.fit(tiny_model(), *data(), models_dir=tmp_path / "budget",
                          callbacks=[ScriptedValAccuracy(script)], **{**kwargs, "epochs": 5})
    assert budget.record["epochs_run"] == 5 and budget.record["stopped_early_at"] is None

    # interrupted after epoch 3, then resumed: it stops where the uninterrupted run stopped
    with pytest.raises(KeyboardInterrupt):
        training.fit(tiny_model(), *data(), models_dir=tmp_path / "cut",
                     callbacks=[ScriptedValAccuracy(script), InterruptAt(3)], **kwargs)
    resumed = training.fit(tiny_model(), *data(), models_dir=tmp_path / "cut",
                           callbacks=[ScriptedValAccuracy(script)], **kwargs)
    assert resumed.record["resumed_at_epochs"] == [4]
    assert resumed.record["epochs_run"] == 5 and resumed.record["stopped_early_at"] == 5

    # without patience every epoch runs, as in the write-up
    every = training.fit(tiny_model(), *data(), models_dir=tmp_path / "every", name="run", epochs=8, verbose=0,
                         callbacks=[ScriptedValAccuracy(script)])
    assert every.record["epochs_run"] == 8 and every.record["stopped_early_at"] is None


def test_ties_on_validation_accuracy_are_broken_by_validation_loss():
    rows = [{"epoch": e, "val_accuracy": a, "val_loss": loss}
            for e, a, loss in [(1, 0.5, 0.9), (2, 1.0, 0.6), (3, 1.0, 0.4), (4, 1.0, 0.5), (5, 0.9, 0.1)]]
    assert stopping.best_row(rows) == 2  # epoch 3: the same 100 % as epoch 2, with a lower loss
    assert stopping.best_row([{**r, "val_loss": 1.0} for r in rows]) == 1  # a full tie keeps the earlier epoch
    assert stopping.best_row([]) is None
    assert not stopping.stalled(rows, 3) and stopping.stalled(rows[:3] + rows[3:] + [{**rows[4], "epoch": 6}], 3)
    assert stopping.better_on_validation(0.8, 0.9, 0.7, 0.1)  # accuracy first
    assert not stopping.better_on_validation(0.8, 0.1, 0.9, 2.0)
    assert stopping.better_on_validation(0.8, 0.3, 0.8, 0.4) and not stopping.better_on_validation(0.8, 0.4, 0.8, 0.4)
    assert not stopping.better_on_validation(0.8, 0.399, 0.8, 0.4)  # less than 1 % lower: still a tie
    assert not stopping.better_on_validation(0.8, None, 0.8, 0.4) and stopping.better_on_validation(0.8, 0.3, 0.8, None)
    assert stopping.better_on_validation(0.1, None, None, None) and not stopping.better_on_validation(None, 0, 0, 1)
    replay = stopping.replay_patience(pd.DataFrame(rows), 1)
    assert replay["best_epoch"] == 3 and replay["stopped_after"] == 4


def test_a_saturated_validation_set_keeps_a_later_epoch_with_lower_validation_loss(tmp_path):
    """Two validation photos a tiny network gets right from the first epochs on: accuracy sits at 100 % and ties,
    while the loss keeps falling. The checkpoint keeps a later 100 % epoch with a lower loss, not the first 100 %
    epoch, and early stopping does not stop while the loss still improves."""
    x, y, _ = planted_task(12, size=SIZE, toy=10, seed=1)
    xv, yv, _ = planted_task(1, size=SIZE, toy=10, seed=7)
    snapshots = WeightsPerEpoch()
    model = tiny_model(seed=0, dropout=0.0)
    model.optimizer.learning_rate.assign(3e-3)
    run = training.fit(model, arrays_dataset(x, y, 2, shuffle=True, seed=1), arrays_dataset(xv, yv, 2), name="sat",
                       epochs=25, patience=4, models_dir=tmp_path, verbose=0, class_names=CLASSES,
                       callbacks=[snapshots])
    history = run.history
    perfect = history[history["val_accuracy"] == 1.0]
    assert len(perfect) >= 3, history  # the set saturates: several epochs tie at 100 %
    first = perfect.iloc[0]
    kept = int(run.record["best_epoch"])
    assert kept == history["epoch"].iloc[stopping.best_row(history.to_dict("records"))]
    assert kept > first["epoch"] and run.record["best_val_accuracy"] == 1.0  # a later epoch than the first 100 %
    assert run.record["best_val_loss"] < first["val_loss"] * 0.99  # with a clearly lower validation loss
    assert run.record["best_val_loss"] == pytest.approx(history.loc[history["epoch"] == kept, "val_loss"].iloc[0])
    assert run.record["epochs_run"] - kept == 4 or run.record["epochs_run"] == 25  # stops 4 epochs after it
    for got, want in zip(run.model.get_weights(), snapshots.weights[kept - 1]):
        np.testing.assert_array_equal(got, want)


def test_a_validation_split_too_small_to_choose_on_keeps_the_last_epoch_of_a_fixed_budget():
    """stats.too_small_to_compare is the one definition (fewer than 49 photos: a 95 % interval wider than 20 points);
    under LAST_EPOCH the kept row is the last one and patience never stops the run."""
    from toyrobot_utils import stats

    assert stats.too_small_to_compare(12) and stats.too_small_to_compare(48)
    assert not stats.too_small_to_compare(49) and not stats.too_small_to_compare(150)
    assert not stats.too_small_to_compare(0)  # no split: nothing to warn about
    assert stopping.keep_rule(12) == stopping.LAST_EPOCH and stopping.keep_rule(150) == stopping.BEST_ON_VALIDATION
    rows = [{"epoch": e, "val_accuracy": a, "val_loss": loss}
            for e, a, loss in [(1, 0.5, 0.9), (2, 1.0, 0.6), (3, 0.75, 0.7), (4, 0.75, 0.8), (5, 0.75, 0.9)]]
    assert stopping.best_row(rows) == 1 and stopping.best_row(rows, stopping.LAST_EPOCH) == 4
    assert stopping.stalled(rows, 3) and not stopping.stalled(rows, 3, stopping.LAST_EPOCH)
    with pytest.raises(ValueError, match="keep must be one of"):
        stopping.best_row(rows, "best on test")


def test_fit_with_a_fixed_budget_saves_the_last_epoch_once_and_records_the_rule(tmp_path, monkeypatch):
    """keep=LAST_EPOCH: an early lucky epoch (scripted 100 %) does not freeze the choice, patience is off, the file
    is written once (at the last epoch) and holds the last epoch's weights; the rule is in the record and lineage."""
    train, val = data()
    snapshots = WeightsPerEpoch()
    script = ScriptedValAccuracy([0.5, 1.0, 0.5, 0.75, 0.75, 0.75])
    published = []
    real_publish = training.publish
    monkeypatch.setattr(training, "publish", lambda tmp, path: (published.append(Path(path).name),
                                                                real_publish(tmp, path)))
    run = training.fit(tiny_model(), train, val, name="budget", epochs=6, patience=2, models_dir=tmp_path, verbose=0,
                       class_names=CLASSES, callbacks=[script, snapshots], keep=stopping.LAST_EPOCH)
    assert run.record["epochs_run"] == 6 and run.record["stopped_early_at"] is None  # patience 2 would stop at 4
    assert run.record["best_epoch"] == 6 and run.record["best_val_accuracy"] == 0.75
    assert run.record["keep"] == stopping.LAST_EPOCH and run.record["lineage"]["settings"]["keep"] == "last epoch"
    assert published == ["budget.keras"]  # one write, at the end
    for got, want in zip(run.model.get_weights(), snapshots.weights[5]):
        np.testing.assert_array_equal(got, want)
    chosen = training.fit(tiny_model(), train, val, name="chosen", epochs=6, patience=2, models_dir=tmp_path,
                          verbose=0, class_names=CLASSES, callbacks=[ScriptedValAccuracy(script.script)])
    assert chosen.record["best_epoch"] == 2 and chosen.record["stopped_early_at"] == 4  # the default rule
    assert "keep" not in chosen.record["lineage"]["settings"]  # lineages recorded before the rule are unchanged

"""Every model knows the photos it was trained on: fingerprints, archiving a model of other photos, resuming only the
same lineage, reusing a finished run. Two folders with the same class names and swapped colours make a stale model
obvious: a model of folder A calls B's bananagrams brios."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from toyrobot_utils import data, files, lineage
from toyrobot_utils.analysis import comparison, evaluation
from toyrobot_utils.modelling import models, training

from conftest import tree_state, write_image
from modelling_fixtures import InterruptAt, tiny_gap_model

SIZE = 32
COUNTS = {"training": 8, "validation": 4, "test": 3}


COLOURS = {"bananagrams": (230, 200, 40), "brios": (40, 90, 220), "cars": (200, 30, 30)}


def folder(root: Path, swapped: bool = False) -> Path:
    """bananagrams/brios/cars photos, each class its own colour with noise; ``swapped`` gives bananagrams brios'
    colour and brios bananagrams' (same class names, other photos)."""
    colours = dict(COLOURS, bananagrams=COLOURS["brios"], brios=COLOURS["bananagrams"]) if swapped else COLOURS
    rng = np.random.default_rng(7 if swapped else 3)
    for split, count in COUNTS.items():
        for cls, colour in colours.items():
            for i in range(count):
                noise = rng.normal(0, 40, (SIZE, SIZE, 3))
                write_image(root / split / cls / f"{cls}_{i:02d}.png",
                            array=np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8))
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train(data_dir: Path, models_dir: Path, *, epochs=6, callbacks=None, verbose=2, name="m", **kwargs):
    splits = data.load_datasets(data_dir, image_size=(SIZE, SIZE), batch_size=4, verbose=False)
    model = tiny_gap_model(classes=3, size=SIZE)  # global average pooling: learns the class colours in a few epochs
    run = training.fit(model, splits["training"], splits["validation"], name=name, epochs=epochs,
                       models_dir=models_dir, verbose=verbose, callbacks=callbacks, **kwargs)
    return run, splits


def accuracy(model, split) -> float:
    probabilities = model.predict(split.dataset, verbose=0)
    return float(np.mean(probabilities.argmax(axis=1) == split.labels))


def test_fingerprint_covers_content_and_class_and_is_cached_without_touching_the_folder(tmp_path):
    root = folder(tmp_path / "a")
    before = tree_state(root)
    first = lineage.photos_of_folder(root)
    assert {s: v["photos"] for s, v in first["splits"].items()} == {"training": 24, "validation": 12, "test": 9}
    assert tree_state(root) == before  # read only: no cache file inside the data folder

    cache = lineage.HashCache(root)
    assert cache.path.is_file() and not cache.path.is_relative_to(root)
    again = lineage.split_fingerprint(sorted((root / "training").rglob("*.png")), root, cache)
    assert cache.hits == 24 and cache.misses == 0  # second time: no photo read again
    assert again == first["splits"]["training"]
    assert lineage.photos_of_folder(root)["key"] == first["key"]

    # the same photo under another class changes the key; so does new content under the same name
    shutil.move(root / "training" / "cars" / "cars_00.png", root / "training" / "brios" / "cars_00.png")
    moved = lineage.photos_of_folder(root)
    assert moved["key"] != first["key"] and moved["splits"]["validation"] == first["splits"]["validation"]
    write_image(root / "validation" / "cars" / "cars_00.png", seed=999)
    changed = lineage.photos_of_folder(root)
    assert changed["splits"]["validation"]["fingerprint"] != first["splits"]["validation"]["fingerprint"]
    # new test photos are recorded but do not change the key (they change test results, not the model)
    write_image(root / "test" / "cars" / "extra.png", seed=1234)
    assert lineage.photos_of_folder(root)["key"] == changed["key"]


def test_a_run_on_other_photos_takes_the_name_and_archives_the_earlier_model(tmp_path, capsys):
    a, b, models_dir = folder(tmp_path / "a"), folder(tmp_path / "b", swapped=True), tmp_path / "models"
    run_a, splits_a = train(a, models_dir)
    paths = run_a.paths
    model_a = digest(paths["model"])
    (paths["test_predictions"]).write_text("file\n")  # what comparison.save_test_results keeps beside the record
    assert run_a.record["lineage"]["photos"]["key"] == lineage.photos_of_folder(a)["key"]
    capsys.readouterr()

    run_b, splits_b = train(b, models_dir)
    out = capsys.readouterr().out
    assert run_b.replaced and digest(paths["model"]) != model_a
    assert run_b.record["lineage"]["photos"]["key"] == lineage.photos_of_folder(b)["key"]
    archived = list((models_dir / training.ARCHIVE_DIR / "m").iterdir())
    assert len(archived) == 1
    assert sorted(p.name for p in archived[0].iterdir()) == ["m.json", "m.keras", "m_history.csv",
                                                              "m_test_predictions.csv"]
    assert digest(archived[0] / "m.keras") == model_a
    assert "other photos" in out and str(archived[0]) in out
    assert "trained" in out and "24/12/9 photos, fingerprint" in out  # the lineage line

    # The stored model is B's: it sorts B's photos, which A's model (archived) mixes up.
    stored = keras.models.load_model(paths["model"])
    archived_model = keras.models.load_model(archived[0] / "m.keras")
    assert accuracy(stored, splits_b["validation"]) >= 0.9
    assert accuracy(archived_model, splits_b["validation"]) <= 0.67
    assert accuracy(archived_model, splits_a["validation"]) >= 0.9


def test_only_a_run_of_the_same_lineage_keeps_the_better_model(tmp_path, capsys):
    a, models_dir = folder(tmp_path / "a"), tmp_path / "models"
    first, _ = train(a, models_dir)
    kept = digest(first.paths["model"])

    class Worse(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_accuracy"] = 0.0

    again, _ = train(a, models_dir, callbacks=[Worse()])
    assert not again.replaced and digest(first.paths["model"]) == kept
    assert "did not beat the stored" in capsys.readouterr().out
    # other settings (more epochs) make another lineage: that run takes the name, the earlier one is archived
    longer, _ = train(a, models_dir, epochs=7, callbacks=[Worse()])
    assert longer.replaced and "other settings (epochs 6 -> 7)" in capsys.readouterr().out
    assert len(list((models_dir / training.ARCHIVE_DIR / "m").iterdir())) == 1


def test_an_interrupted_run_resumes_on_the_same_photos_only(tmp_path, capsys):
    a, b, models_dir = folder(tmp_path / "a"), folder(tmp_path / "b", swapped=True), tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        train(a, models_dir, callbacks=[InterruptAt(3)])
    backup = training.run_paths("m", models_dir)["backup"]
    assert backup.is_dir()
    capsys.readouterr()

    run_b, _ = train(b, models_dir)
    out = capsys.readouterr().out
    assert "not resuming the interrupted run" in out and "other photos" in out
    assert run_b.record["resumed_at_epochs"] == [] and list(run_b.history["epoch"]) == list(range(1, 7))
    # A's interrupted checkpoint had no record: it was archived, not silently overwritten or resumed
    assert len(list((models_dir / training.ARCHIVE_DIR / "m").iterdir())) == 1

    with pytest.raises(KeyboardInterrupt):
        train(b, models_dir, epochs=8, callbacks=[InterruptAt(2)])
    resumed, _ = train(b, models_dir, epochs=8)
    assert resumed.record["resumed_at_epochs"] == [3] and list(resumed.history["epoch"]) == list(range(1, 9))


def test_reuse_finished_loads_only_a_run_of_the_same_lineage(tmp_path, capsys):
    a, b, models_dir = folder(tmp_path / "a"), folder(tmp_path / "b", swapped=True), tmp_path / "models"
    first, _ = train(a, models_dir, epochs=2)
    capsys.readouterr()
    reused, _ = train(a, models_dir, epochs=2, reuse_finished=True)
    assert "loaded it instead of training" in capsys.readouterr().out
    assert reused.record["timestamp"] == first.record["timestamp"] and len(reused.history) == 2
    other, _ = train(b, models_dir, epochs=2, reuse_finished=True)
    assert other.replaced and other.record["timestamp"] != first.record["timestamp"]


@pytest.mark.parametrize("bad", ["", "..", ".", "../escaped", "a/b", "/etc", "a\\b", None])
def test_class_names_that_would_leave_their_folder_are_refused(bad):
    with pytest.raises(files.UnsafeNameError, match="record x.json"):
        files.check_folder_name(bad, "the record x.json")
    assert files.check_folder_name("duplos", "x") == "duplos"


def test_summary_names_date_folder_counts_and_fingerprint(tmp_path):
    photos = lineage.photos_of_folder(folder(tmp_path / "a"))
    record = {"timestamp": "2026-12-01T13:34:00+00:00", "lineage": lineage.run_lineage(photos, {"epochs": 1})}
    line = lineage.summary("m4_lr_reducer", record)
    assert line.startswith("m4_lr_reducer: trained 2026-12-01 13:34 UTC on ")
    assert line.endswith(f"24/12/9 photos, fingerprint {photos['key'][:8]}")
    assert "unknown photos" in lineage.summary("old", {"timestamp": "2025-01-01T00:00:00+00:00"})
    json.dumps(record)  # records stay plain JSON


def test_results_compare_only_runs_of_the_folders_photos_and_refresh_stale_test_results(tmp_path):
    a, b, models_dir = folder(tmp_path / "a"), folder(tmp_path / "b", swapped=True), tmp_path / "models"
    first, third = models.MODEL_TABLE[1].name, models.MODEL_TABLE[3].name
    for name, where in ((first, a), (third, b)):
        run, splits = train(where, models_dir, name=name, epochs=2, verbose=0)
        comparison.save_test_results(run, evaluation.evaluate(run, splits["test"]), models_dir=models_dir)
    photos_a = lineage.photos_of_folder(a)
    table = comparison.series_table(models_dir, extra_names=(), photos=photos_a)
    assert list(table["name"]) == [first]
    assert list(table.attrs["other_photos"]) == [third]
    assert table.attrs["other_photos"][third].startswith(f"{third}: trained ")
    assert list(comparison.per_class_table(models_dir, photos=photos_a).index) == [1]
    assert len(comparison.series_table(models_dir, extra_names=())) == 2  # without photos: every run, as before

    # stored test results are reused while the test photos are the same, recomputed once they change
    _, computed = comparison.ensure_test_predictions(first, models_dir, a, photos=photos_a)
    assert not computed
    write_image(a / "test" / "cars" / "new.png", array=np.full((SIZE, SIZE, 3), COLOURS["cars"], np.uint8))
    predictions, computed = comparison.ensure_test_predictions(first, models_dir, a,
                                                               photos=lineage.photos_of_folder(a))
    assert computed and len(predictions) == 10
    assert training.load_record(first, models_dir)["test_photos"]["photos"] == 10

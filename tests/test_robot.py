"""The robot: choosing the model, predicting photos the way evaluation does (``robot``), and sorting photos into bins
without ever losing or overwriting one (``sorting``).

One tiny network (two conv layers, 32 px, 3 classes) is trained once per module on a generated data folder with
``training.fit``, so its record is a real one (image size, preprocessing, class names, test accuracy). Every sorting
check compares against predictions made independently by ``evaluation.predict_files``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from toyrobot_utils import data, images
from toyrobot_utils.__main__ import main
from toyrobot_utils.analysis import comparison, evaluation
from toyrobot_utils.modelling import training
from toyrobot_utils.robot import predict, sorting

from conftest import make_dataset, tree_state, truncate, write_image
from modelling_fixtures import tiny_gap_model

SIZE = 32
CLASSES = ("bananagrams", "brios", "cars")
NAME = "tiny"


def train_tiny_run(root: Path, name: str = NAME, epochs: int = 10) -> tuple[Path, Path]:
    """Train the tiny network on a generated folder with ``training.fit`` and store its test accuracy the way the
    notebooks do; returns (data_dir, models_dir)."""
    data_dir = make_dataset(root / "data", classes=CLASSES, counts={"training": 6, "validation": 3, "test": 3})
    models_dir = root / "models"
    splits = data.load_datasets(data_dir, image_size=(SIZE, SIZE), batch_size=4, verbose=False)  # 5 steps/epoch
    run = training.fit(tiny_gap_model(classes=len(CLASSES), size=SIZE), splits["training"], splits["validation"],
                       name=name, epochs=epochs, models_dir=models_dir, verbose=0)
    comparison.save_test_results(name, evaluation.evaluate(run.model, splits["test"]), models_dir)
    return data_dir, models_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("robot"))


@pytest.fixture
def photos(tiny_run, tmp_path):
    """A folder of new photos: the test photos of every class (flat, renamed) plus an EXIF-rotated copy."""
    data_dir, _ = tiny_run
    src = tmp_path / "inbox"
    src.mkdir()
    for f in sorted((data_dir / "test").rglob("*.jpg")):
        shutil.copy2(f, src / f"new_{f.name}")
    write_image(src / "rotated.jpg", seed=7, tint=(200, 30, 30), exif_orientation=6)
    return src


def reference(models_dir: Path, files) -> dict[str, np.ndarray]:
    """Probabilities per file name from evaluation's own path (the data pipeline), for comparison."""
    resolved = evaluation.resolve_model(NAME, models_dir=models_dir)
    probs = evaluation.predict_files(resolved, [Path(f) for f in files])
    return {Path(f).name: p for f, p in zip(files, probs)}


def expected_bin(probs: np.ndarray, threshold: float) -> str:
    return CLASSES[int(np.argmax(probs))] if probs.max() >= threshold else sorting.UNSURE


def read_log(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- choosing the model ----------------------------------------------------------------------------------------------


def fake_run(models_dir: Path, name: str, val=None, test=None, record=True, loss=None, params=None) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / f"{name}.keras").write_bytes(b"not loaded by choose_model")
    if record:
        fields = {"name": name, "best_val_accuracy": val, "settings": {"image_size": [32, 32]}}
        if test is not None:
            fields["test_accuracy"] = test
        if loss is not None:
            fields["best_val_loss"] = loss
        if params is not None:
            fields["params_total"] = params
        (models_dir / f"{name}.json").write_text(json.dumps(fields))


def test_default_model_is_chosen_on_validation_never_on_test(tmp_path):
    """Two runs where test and validation disagree: the robot follows validation, and says the test figure is
    shown only."""
    fake_run(tmp_path, "a", val=0.95, test=0.80, loss=0.4)
    fake_run(tmp_path, "b", val=0.50, test=0.99, loss=0.1)  # best on test: not chosen
    fake_run(tmp_path, "c", val=0.95, test=0.70, loss=0.3)  # ties a on validation accuracy, lower loss
    fake_run(tmp_path, "d", val=None, test=1.0)  # no validation accuracy: ranks last
    fake_run(tmp_path, "e", record=False)  # still training: no record
    table = predict.trained_models(tmp_path)
    assert list(table["name"]) == ["c", "a", "b", "d"]
    assert table.attrs["without_record"] == ["e.keras"]
    choice = predict.choose_model(models_dir=tmp_path)
    assert choice.name == "c" and choice.model_path == tmp_path / "c.keras"
    assert "highest validation accuracy (95.0%)" in choice.reason and "tied with a" in choice.reason
    assert "lowest validation loss of those (0.300)" in choice.reason
    assert "test accuracy 70.0%, shown only" in choice.reason

    full_tie = tmp_path / "full_tie"
    fake_run(full_tie, "big", val=0.8, test=0.9, loss=0.5, params=2_000_000)
    fake_run(full_tie, "small", val=0.8, test=0.7, loss=0.5, params=50_000)
    choice = predict.choose_model(models_dir=full_tie)
    assert choice.name == "small" and "fewer parameters" in choice.reason

    no_test = tmp_path / "no_test"
    fake_run(no_test, "x", val=0.6)
    fake_run(no_test, "y", val=0.8)
    choice = predict.choose_model(models_dir=no_test)
    assert choice.name == "y" and "highest validation accuracy (80.0%)" in choice.reason
    assert "no test accuracy in its record yet" in choice.reason


def test_no_trained_model_says_to_train_first(tmp_path):
    with pytest.raises(predict.RobotError, match="toyrobot train PHOTOS.*make run") as err:
        predict.choose_model(models_dir=tmp_path / "nowhere")
    assert "nowhere" in str(err.value)
    fake_run(tmp_path, "m5_running", record=False)
    with pytest.raises(predict.RobotError, match="m5_running.keras has no .json run record"):
        predict.choose_model(models_dir=tmp_path)


def test_model_file_without_record_and_unknown_name(tmp_path):
    fake_run(tmp_path, "orphan", record=False)
    fake_run(tmp_path, "good", val=0.5, test=0.5)
    with pytest.raises(predict.RobotError, match="orphan.json") as err:
        predict.choose_model(tmp_path / "orphan.keras")
    assert "copy the .json" in str(err.value)
    with pytest.raises(predict.RobotError, match="orphan.json"):
        predict.choose_model("orphan", tmp_path)
    with pytest.raises(predict.RobotError, match="No model file .*missing.keras.*Trained models in .*: good"):
        predict.choose_model("missing", tmp_path)
    with pytest.raises(predict.RobotError, match="not a model file predict and sort can use"):
        predict.choose_model(tmp_path / "good.h5")
    with pytest.raises(predict.RobotError, match="No TFLite model file .*good.int8.tflite.*export-tflite"):
        predict.choose_model(tmp_path / "good.int8.tflite")
    (tmp_path / "good.int8.tflite").write_bytes(b"TFL3")
    with pytest.raises(predict.RobotError, match="no readable manifest .*good.tflite.json"):
        predict.choose_model(tmp_path / "good.int8.tflite")
    assert predict.choose_model(tmp_path / "good.keras").name == "good"


# --- predicting ------------------------------------------------------------------------------------------------------


def test_predictions_are_exactly_evaluations(tiny_run, photos, tmp_path):
    """Same image size, preprocessing and decoding as evaluation (EXIF-rotated and HEIC photos included), and an
    unreadable file does not stop the others."""
    _, models_dir = tiny_run
    files = sorted(photos.iterdir())
    if images.HEIF_SUPPORTED:
        files.append(write_image(tmp_path / "phone.heic", seed=11, tint=(150, 90, 40)))
    ref = reference(models_dir, files)
    broken = truncate(shutil.copy(files[0], tmp_path / "broken.jpg"), keep=0.4)
    df = predict.predict_photos([*files, broken, tmp_path / "gone.jpg"], models_dir=models_dir)
    assert df.attrs["model"] == NAME and df.attrs["class_names"] == list(CLASSES)
    good = df[df["error"] == ""]
    assert list(good["filename"]) == [f.name for f in files]
    for row in good.itertuples(index=False):
        probs = np.array([getattr(row, f"prob_{c}") for c in CLASSES])
        np.testing.assert_allclose(probs, ref[row.filename], atol=1e-6)
        assert row.predicted_label == CLASSES[int(np.argmax(ref[row.filename]))]
        assert row.predicted_probability == pytest.approx(float(ref[row.filename].max()), abs=1e-6)
    errors = df.set_index("filename")["error"]
    assert "truncated or corrupt" in errors["broken.jpg"]
    assert "no such file" in errors["gone.jpg"]


def test_predict_command_prints_model_class_and_probability(tiny_run, photos, capsys):
    _, models_dir = tiny_run
    files = sorted(photos.iterdir())[:3]
    ref = reference(models_dir, files)
    assert main(["predict", *map(str, files), "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"model: {NAME} - highest validation accuracy")
    assert out[1].startswith(f"{NAME}: trained ") and "18/9/9 photos, fingerprint " in out[1]  # its lineage
    for f, line in zip(files, out[2:]):
        probs = ref[f.name]
        assert line.split() == [str(f), CLASSES[int(np.argmax(probs))], f"{probs.max():.3f}"]

    bad = photos / "notes.jpg"
    bad.write_text("shopping list: milk, bread")
    assert main(["predict", str(bad), str(files[0]), "--model", NAME, "--models-dir", str(models_dir)]) == 1
    captured = capsys.readouterr()
    assert "given with --model" in captured.out
    assert re.search(rf"^{re.escape(str(bad))} +error: not an image: the file contains text", captured.out, re.M)
    assert "1 of 2 files could not be read" in captured.err

    assert main(["predict", str(files[0]), "--models-dir", str(models_dir.parent / "empty")]) == 2
    assert "toyrobot train PHOTOS" in capsys.readouterr().err


# --- sorting ---------------------------------------------------------------------------------------------------------


def test_sort_copies_into_predicted_bins_and_leaves_originals(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    before = tree_state(photos)
    ref = reference(models_dir, sorted(photos.iterdir()))
    tops = sorted(float(p.max()) for p in ref.values())
    threshold = (tops[len(tops) // 2 - 1] + tops[len(tops) // 2]) / 2  # between two: some sure, some unsure
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=threshold)

    assert tree_state(photos) == before  # every original untouched: bytes, size, mtime
    assert set(df["action"]) == {sorting.COPIED} and (df["error"] == "").all()
    assert sorting.failures(df).empty
    placed = {Path(d).name: Path(d).parent.name for d in df["destination"]}
    assert placed == {name: expected_bin(p, threshold) for name, p in ref.items()}
    assert sorting.UNSURE in placed.values() and set(placed.values()) - {sorting.UNSURE}
    for row in df.itertuples(index=False):
        assert Path(row.destination).read_bytes() == Path(row.source).read_bytes()
        assert os.stat(row.destination).st_mtime_ns == os.stat(row.source).st_mtime_ns  # the photo's date kept
    assert not list(bins.rglob(".*"))  # no temporary file left behind

    log = read_log(bins / sorting.LOG_NAME)
    assert list(log[0]) == sorting.LOG_COLUMNS and len(log) == len(ref)
    for entry in log:
        name = Path(entry["source"]).name
        probs = json.loads(entry["probabilities"])
        assert list(probs) == list(CLASSES)
        np.testing.assert_allclose([probs[c] for c in CLASSES], ref[name], atol=1e-5)
        assert entry["predicted_class"] == CLASSES[int(np.argmax(ref[name]))]
        assert float(entry["probability"]) == pytest.approx(float(ref[name].max()), abs=1e-5)
        assert entry["bin"] == expected_bin(ref[name], threshold) == Path(entry["destination"]).parent.name
        assert entry["action"] == "copied" and entry["error"] == "" and entry["model"] == NAME
        assert float(entry["threshold"]) == pytest.approx(threshold)


def test_sort_move_removes_originals_only_after_the_copy(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    originals = {f.name: f.read_bytes() for f in photos.iterdir()}
    bins = tmp_path / "bins"
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=0.0, move=True)
    assert list(photos.iterdir()) == []
    assert set(df["action"]) == {sorting.MOVED}
    assert {Path(d).name: Path(d).read_bytes() for d in df["destination"]} == originals
    assert sorting.UNSURE not in set(df["bin"])  # threshold 0: nothing is unsure
    assert {r["action"] for r in read_log(bins / sorting.LOG_NAME)} == {"moved"}


def test_sort_never_overwrites_a_file_in_a_bin(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    victim = sorted(photos.iterdir())[0]
    for b in [*CLASSES, sorting.UNSURE]:  # whichever bin it goes to, a different photo of that name is already there
        write_image(bins / b / victim.name, seed=99)
    existing = tree_state(bins)
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=0.5)
    row = df[df["source"] == str(victim)].iloc[0]
    assert Path(row["destination"]).name == f"{victim.stem}_1{victim.suffix}"
    assert Path(row["destination"]).read_bytes() == victim.read_bytes()
    after = tree_state(bins)
    assert all(after[k] == v for k, v in existing.items())

    df2 = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=0.5)  # the same photos again
    assert set(df2["action"]) == {sorting.SKIPPED}  # recognised by content: nothing copied twice
    assert list(df2["destination"]) == list(df["destination"])
    assert tree_state(bins) == {**after, sorting.LOG_NAME: tree_state(bins)[sorting.LOG_NAME]}
    log = read_log(bins / sorting.LOG_NAME)  # appended, one header
    assert len(log) == 2 * len(df)
    assert (bins / sorting.LOG_NAME).read_text().count("time,source,destination") == 1


def sorted_photos(bins: Path) -> list[Path]:
    return sorted(p for p in bins.rglob("*") if p.is_file() and p.name != sorting.LOG_NAME)


def test_a_rerun_sorts_only_what_is_left_recognised_by_content(tiny_run, photos, tmp_path, capsys, monkeypatch):
    """Ctrl-C after 2 photos, then the same command: the rest is sorted, nothing twice; a third run copies nothing;
    a renamed photo already in a bin and a duplicate inside the inbox are reported, not copied."""
    import signal

    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    originals = sorted(photos.iterdir())
    real_copy, copies = sorting.copy_verified, []

    def copy_then_ctrl_c(src, bin_dir):
        copies.append(src)
        result = real_copy(src, bin_dir)
        if len(copies) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(sorting, "copy_verified", copy_then_ctrl_c)
    command = ["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--quiet"]
    assert main(command) == 130
    assert "run the same command again" in capsys.readouterr().err
    monkeypatch.setattr(sorting, "copy_verified", real_copy)
    assert main(command) == 0
    out = capsys.readouterr().out
    assert f"{len(originals) - 2} photos copied" in out
    assert "2 already in the bins (same content; not copied again)" in out
    in_bins = sorted_photos(bins)
    assert sorted(p.name for p in in_bins) == sorted(p.name for p in originals)  # each photo once, no *_1.jpg

    shutil.copy2(originals[0], photos / "same_photo_other_name.jpg")  # already sorted under its first name
    shutil.copy2(originals[1], photos / "twin_in_inbox.jpg")
    df = sorting.sort_photos(photos, bins, models_dir=models_dir)
    assert set(df["action"]) == {sorting.SKIPPED} and sorting.failures(df).empty
    by_name = df.set_index(df["source"].map(lambda s: Path(s).name))["destination"]
    assert Path(by_name["same_photo_other_name.jpg"]).read_bytes() == originals[0].read_bytes()
    assert Path(by_name["same_photo_other_name.jpg"]).name == originals[0].name
    assert sorted_photos(bins) == in_bins


def test_duplicates_in_one_run_are_copied_once(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    first = sorted(photos.iterdir())[0]
    shutil.copy2(first, photos / "zz_copy_of_first.jpg")
    df = sorting.sort_photos(photos, tmp_path / "bins", models_dir=models_dir)
    row = df[df["source"].str.endswith("zz_copy_of_first.jpg")].iloc[0]
    assert row["action"] == sorting.SKIPPED and Path(row["destination"]).name == first.name
    assert len(sorted_photos(tmp_path / "bins")) == len(df) - 1


def test_move_rerun_removes_originals_only_when_their_copy_is_in_a_bin(tiny_run, photos, tmp_path):
    """A --move killed between the verified copy and the deletion: the rerun removes that original (its bytes are
    in the bin) and moves the rest; a file of the same size but other content is never taken for it."""
    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    files = sorted(photos.iterdir())
    contents = {f.name: f.read_bytes() for f in files}
    placed = sorting.copy_verified(files[0], bins / CLASSES[0])  # the kill came after this copy
    impostor = bins / CLASSES[1] / "impostor.jpg"  # same size as files[1], other bytes
    impostor.parent.mkdir(parents=True)
    impostor.write_bytes(bytes(reversed(contents[files[1].name])))
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, move=True, threshold=0.0)
    actions = df.set_index(df["source"].map(lambda s: Path(s).name))["action"]
    assert actions[files[0].name] == sorting.REMOVED and actions[files[1].name] == sorting.MOVED
    assert list(photos.iterdir()) == []
    assert {p.name: p.read_bytes() for p in sorted_photos(bins) if p != impostor} == contents
    assert df.set_index("action").loc[sorting.REMOVED, "destination"] == str(placed)


def test_sort_reports_unreadable_files_and_sorts_the_rest(tiny_run, photos, tmp_path, capsys):
    _, models_dir = tiny_run
    good = sorted(photos.iterdir())
    truncate(shutil.copy(good[0], photos / "half_copied.jpg"), keep=0.4)
    (photos / "notes.txt").write_text("not a photo")
    (photos / "fake.png").write_text("also not a photo, despite the name")
    (photos / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    bins = tmp_path / "bins"
    code = main(["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    for name in ("half_copied.jpg", "notes.txt", "fake.png"):
        assert name in captured.err
    assert ".DS_Store" not in captured.err
    assert f"{len(good)} photos copied" in captured.out and "3 failed; 1 hidden files ignored" in captured.out

    log = {Path(r["source"]).name: r for r in read_log(bins / sorting.LOG_NAME)}
    assert log["half_copied.jpg"]["action"] == "failed" and "truncated or corrupt" in log["half_copied.jpg"]["error"]
    assert log["notes.txt"]["action"] == "failed" and "not an image file" in log["notes.txt"]["error"]
    assert log["fake.png"]["action"] == "failed" and "contains text" in log["fake.png"]["error"]
    assert log[".DS_Store"]["action"] == "ignored"
    assert all(log[f.name]["action"] == "copied" for f in good)
    assert log["half_copied.jpg"]["destination"] == "" and (photos / "half_copied.jpg").exists()
    sorted_files = {p.name for p in bins.rglob("*") if p.is_file() and p.name != sorting.LOG_NAME}
    assert sorted_files == {f.name for f in good}


def test_sort_is_flat_unless_recursive_and_skips_its_own_bins(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    write_image(photos / "holiday" / "deep.jpg", seed=5, tint=(40, 90, 220))
    bins = photos / "bins"  # inside the photo folder
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=0.5, log_path=tmp_path / "flat.csv")
    assert "deep.jpg" not in {Path(s).name for s in df["source"]}
    df = sorting.sort_photos(photos, bins, models_dir=models_dir, threshold=0.5, recursive=True,
                           log_path=tmp_path / "deep.csv")
    sources = [Path(s) for s in df["source"]]
    assert photos / "holiday" / "deep.jpg" in sources
    assert not any(bins in s.parents for s in sources)  # the first run's copies are not sorted again
    assert (tmp_path / "flat.csv").is_file() and not (bins / sorting.LOG_NAME).exists()


def test_sort_refuses_bad_arguments_before_touching_anything(tiny_run, photos, tmp_path, capsys):
    _, models_dir = tiny_run
    before = tree_state(photos)
    with pytest.raises(predict.RobotError, match="between 0 and 1"):
        sorting.sort_photos(photos, tmp_path / "bins", models_dir=models_dir, threshold=60)
    with pytest.raises(predict.RobotError, match="is the photo folder itself"):
        sorting.sort_photos(photos, photos, models_dir=models_dir)
    with pytest.raises(predict.RobotError, match="does not exist"):
        sorting.sort_photos(tmp_path / "nope", tmp_path / "bins", models_dir=models_dir)
    assert main(["sort", str(photos), str(tmp_path / "bins"), "--models-dir", str(tmp_path / "no_models")]) == 2
    assert "No trained model" in capsys.readouterr().err
    assert not (tmp_path / "bins").exists() and tree_state(photos) == before


# --- lineage, names that become paths, and one-line errors ------------------------------------------------------------


def fake_lineage(training_fingerprint: str) -> dict:
    splits = {s: {"photos": 3, "fingerprint": f"{training_fingerprint}-{s}"} for s in ("training", "validation")}
    return {"photos": {"data_dir": "data", "class_names": list(CLASSES), "splits": splits}, "key": "k"}


def test_default_model_comes_from_the_photos_of_the_latest_run(tmp_path):
    """The series on the built-in photos, then notebook 02 on your own: the robot must not pick the built-in
    MobileNetV2 (100 % on other test photos) over the model of your photos."""
    fake_run(tmp_path, "m9_builtin", val=0.99, test=1.0)
    fake_run(tmp_path, "m1_yours", val=0.7, test=0.6)
    fake_run(tmp_path, "m2_yours", val=0.6, test=0.5)
    fake_run(tmp_path, "legacy", val=0.99, test=1.0)  # a record from before lineages: photos unknown
    for name, fingerprint, when in (("m9_builtin", "builtin", "2026-11-01T10:00:00+00:00"),
                                    ("m1_yours", "yours", "2026-11-02T10:00:00+00:00"),
                                    ("m2_yours", "yours", "2026-11-02T09:00:00+00:00")):
        record = json.loads((tmp_path / f"{name}.json").read_text())
        record.update(lineage=fake_lineage(fingerprint), timestamp=when)
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    choice = predict.choose_model(models_dir=tmp_path)
    assert choice.name == "m1_yours"
    assert "photos of the latest run" in choice.reason and "2 trained on other or unknown photos" in choice.reason


def copy_run(models_dir: Path, target: Path, **record_changes) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(models_dir / f"{NAME}.keras", target / f"{NAME}.keras")
    record = json.loads((models_dir / f"{NAME}.json").read_text())
    record.update(record_changes)
    (target / f"{NAME}.json").write_text(json.dumps(record))
    return target


@pytest.mark.parametrize("bad", ["../escaped", "/tmp/absolute-bin", ""])
def test_class_names_from_a_record_never_become_paths_outside_the_bins(tiny_run, photos, tmp_path, capsys, bad):
    _, models_dir = tiny_run
    other = copy_run(models_dir, tmp_path / "models", class_names=[bad, "brios", "cars"])
    bins = tmp_path / "sorted" / "bins"
    before = tree_state(photos)
    assert main(["sort", str(photos), str(bins), "--models-dir", str(other), "--move"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: class name") and str(other / f"{NAME}.json") in err and "Traceback" not in err
    assert not (tmp_path / "sorted").exists() and not Path("/tmp/absolute-bin").exists()
    assert tree_state(photos) == before  # --move deleted nothing


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_sort_into_a_folder_that_cannot_be_written_is_one_line(tiny_run, photos, tmp_path, capsys, where):
    _, models_dir = tiny_run
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    bins = Path("/proc/toyrobot-bins") if where == "proc" else blocker / "bins"
    before = tree_state(photos)
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot write into the bins folder {bins}") and len(err.strip().splitlines()) == 1
    assert tree_state(photos) == before


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_model_file_is_one_line_naming_it(tiny_run, photos, tmp_path, capsys, damage):
    _, models_dir = tiny_run
    other = copy_run(models_dir, tmp_path / "models")
    if damage == "truncated":
        truncate(other / f"{NAME}.keras", 0.6)
    else:
        (other / f"{NAME}.keras").write_bytes(os.urandom(2000))
    for command in (["predict", str(next(photos.iterdir()))], ["sort", str(photos), str(tmp_path / "bins")]):
        assert main([*command, "--models-dir", str(other)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: The model file {other / (NAME + '.keras')} cannot be read")
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bins").exists()


def test_a_record_that_disagrees_with_its_network_is_refused(tiny_run, photos, tmp_path):
    _, models_dir = tiny_run
    record = json.loads((models_dir / f"{NAME}.json").read_text())
    wrong_size = copy_run(models_dir, tmp_path / "size", settings={**record["settings"], "image_size": [64, 64]})
    with pytest.raises(predict.RobotError, match="takes 32x32 px photos but its record .* says 64x64"):
        predict.predict_photos([photos], models_dir=wrong_size)
    wrong_classes = copy_run(models_dir, tmp_path / "classes", class_names=["a", "b"])
    with pytest.raises(predict.RobotError, match="predicts 3 classes but its record names 2"):
        predict.predict_photos([photos], models_dir=wrong_classes)


def test_ctrl_c_stops_after_the_current_photo_with_a_summary(tiny_run, photos, tmp_path, capsys, monkeypatch):
    import signal

    _, models_dir = tiny_run
    copies = []
    real_copy = sorting.copy_verified

    def copy_then_ctrl_c(src, bin_dir):
        copies.append(src)
        result = real_copy(src, bin_dir)
        if len(copies) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the second photo is copied
        return result

    monkeypatch.setattr(sorting, "copy_verified", copy_then_ctrl_c)
    n_photos = len(list(photos.iterdir()))
    bins = tmp_path / "bins"
    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN under `nohup ... &`
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--move"]) == 130
    captured = capsys.readouterr()
    assert "2 photos moved into" in captured.out  # the summary, after the photo that was being copied
    assert f"{n_photos - 2} photo(s) not sorted" in captured.err and "Traceback" not in captured.err
    assert len(copies) == 2 and len(list(photos.iterdir())) == n_photos - 2
    assert len([f for f in bins.rglob("*.jpg")]) == 2
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C means what it meant before the sort again


def test_the_next_sort_removes_copies_a_killed_sort_left(tiny_run, photos, tmp_path, capsys):
    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    part = bins / "cars" / ".new_cars_00.jpg.k3j4h5.part"  # what copy_verified leaves when killed (SIGKILL)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"")
    unrelated = bins / "cars" / ".notes.part.txt"
    unrelated.write_text("mine")
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir)]) == 0
    assert not part.exists() and unrelated.exists()
    assert "removed 1 unfinished cop(ies)" in capsys.readouterr().out


# --- two sorts at once, full disks and lost logs ---------------------------------------------------------------------


HOLD_LOCK = """
import sys, time
from pathlib import Path
from toyrobot_utils.robot import sorting
with sorting.BinsLock(Path(sys.argv[1]), Path("elsewhere")):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_sort_into_the_same_bins_is_refused_and_a_killed_ones_lock_is_taken_over(tiny_run, photos, tmp_path,
                                                                                          capsys):
    import signal
    import subprocess
    import sys

    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    in_flight = bins / CLASSES[0] / ".new_x.jpg.abc123.part"  # the running sort's copy in progress
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"half a photo")
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(bins)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(sorting.__file__).parents[1])
    try:
        assert other.stdout.readline().strip() == "locked"
        before = tree_state(photos)
        assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"Another sort (pid {other.pid} on host " in err
        assert str(bins) in err and "elsewhere" in err
        assert in_flight.exists() and tree_state(photos) == before and not list(bins.rglob("*.jpg"))
    finally:
        other.send_signal(signal.SIGKILL)  # killed: the lock file stays, but the operating system dropped the lock
        other.wait()
    assert (bins / sorting.LOCK_NAME).exists()
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"took over the lock of a sort that ended without releasing it (pid {other.pid} on host" in out
    assert not in_flight.exists() and "removed 1 unfinished cop(ies)" in out  # no sort is writing it any more
    assert not (bins / sorting.LOCK_NAME).exists()  # released at the end


def test_a_full_disk_stops_the_sort_with_one_line(tiny_run, photos, tmp_path, capsys, monkeypatch):
    import errno

    _, models_dir = tiny_run
    before = tree_state(photos)
    bins = tmp_path / "bins"
    # the log on a full disk (/dev/full answers every write with ENOSPC)
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--log", "/dev/full", "--move"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot write the log /dev/full (No space left on device)")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    real_copy, calls = shutil.copy2, []

    def copy_until_full(src, dst, **kwargs):  # the bins' disk fills up at the third photo
        calls.append(src)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(sorting.shutil, "copy2", copy_until_full)
    assert main(["sort", str(photos), str(bins), "--models-dir", str(models_dir), "--move", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot copy ") and "(No space left on device): the sort stopped" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    moved = sorted_photos(bins)
    assert len(moved) == 2 and not list(bins.rglob(".*.part")) and not (bins / sorting.LOCK_NAME).exists()
    assert {p.name for p in moved} | {p.name for p in photos.iterdir()} == {Path(k).name for k in before}


@pytest.mark.parametrize("log", ["deleted", "read_only"])
def test_a_lost_or_read_only_log_stops_the_sort_with_one_line(tiny_run, photos, tmp_path, capsys, log):
    _, models_dir = tiny_run
    bins = tmp_path / "bins"
    before = tree_state(photos)
    if log == "read_only":
        log_path = Path("/proc/version")  # a file nobody, root included, can append to
        with pytest.raises(predict.RobotError, match=r"^Cannot write the log /proc/version \(.*\); pass a log file"):
            sorting.sort_photos(photos, bins, models_dir=models_dir, log_path=log_path)
    else:
        log_path = tmp_path / "logs" / "sort.csv"
        with pytest.raises(predict.RobotError,
                           match=r"Cannot write the log .*sort.csv \(deleted during the sort\): the "
                                 r"sort stopped after 1 photo\(s\); .*new_.*\.jpg is in .*"):
            sorting.sort_photos(photos, bins, models_dir=models_dir, log_path=log_path,
                                on_result=lambda row: log_path.unlink(missing_ok=True))
    assert tree_state(photos) == before  # copy mode: every original as it was
    assert len(sorted_photos(bins)) <= 2 and not (bins / sorting.LOCK_NAME).exists()


def test_a_photo_over_the_pixel_limit_is_skipped_with_its_reason(tiny_run, photos, tmp_path, capsys):
    _, models_dir = tiny_run
    write_image(photos / "scan.png", (640, 480), seed=4)
    before = tree_state(photos)
    assert main(["sort", str(photos), str(tmp_path / "bins"), "--models-dir", str(models_dir), "--quiet",
                 "--max-pixels", "200000"]) == 1
    err = capsys.readouterr().err
    assert "scan.png: too many pixels (640x480 px = 0 megapixels to decode, above the limit of 0.2 megapixels)" in err
    assert tree_state(photos) == before and len(sorted_photos(tmp_path / "bins")) == len(before) - 1
    df = predict.predict_photos([photos / "scan.png"], models_dir=models_dir, max_pixels=400_000)
    assert df["error"].iloc[0] == ""


# --- clear, early messages -------------------------------------------------------------------------------------------


def test_a_model_with_python_code_in_it_is_called_so_not_damaged(tiny_run, photos, tmp_path, capsys):
    import keras

    _, models_dir = tiny_run
    other = copy_run(models_dir, tmp_path / "models")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(other / f"{NAME}.keras")
    assert main(["predict", str(photos), "--models-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: The model file {other / (NAME + '.keras')} holds Python code (a Lambda layer)")
    assert "damaged" not in err and len(err.strip().splitlines()) == 1


def test_links_that_loop_or_lead_nowhere_are_reported_not_dropped(tiny_run, photos, tmp_path, capsys):
    _, models_dir = tiny_run
    n_photos = len(list(photos.iterdir()))
    (photos / "loop_a.jpg").symlink_to(photos / "loop_b.jpg")
    (photos / "loop_b.jpg").symlink_to(photos / "loop_a.jpg")
    (photos / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (photos / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    df = predict.predict_photos([photos], models_dir=models_dir)
    errors = df.set_index("filename")["error"]
    assert len(df) == n_photos + 3 and ".DS_Store" not in errors  # hidden files left out, as sort does
    for name in ("loop_a.jpg", "loop_b.jpg", "gone.jpg"):
        assert errors[name].startswith("a symbolic link that leads to no file")
    assert main(["predict", str(photos / "loop_a.jpg"), "--models-dir", str(models_dir)]) == 1
    assert "a symbolic link that leads to no file" in capsys.readouterr().out

    df = sorting.sort_photos(photos, tmp_path / "bins", models_dir=models_dir)
    failed = sorting.failures(df)
    assert sorted(Path(s).name for s in failed["source"]) == ["gone.jpg", "loop_a.jpg", "loop_b.jpg"]
    assert len(df) == n_photos + 4  # every entry accounted for: photos, three links, the ignored .DS_Store


def test_predict_on_a_folder_ignores_hidden_files_like_sort(tiny_run, photos, capsys):
    _, models_dir = tiny_run
    (photos / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert main(["predict", str(photos), "--models-dir", str(models_dir)]) == 0
    assert ".DS_Store" not in capsys.readouterr().out


def test_sort_names_a_missing_photo_folder_before_looking_for_a_model(tmp_path, capsys):
    assert main(["sort", str(tmp_path / "nowhere"), str(tmp_path / "bins"), "--models-dir",
                 str(tmp_path / "no_models")]) == 2
    err = capsys.readouterr()
    assert err.err.startswith(f"error: The photo folder {tmp_path / 'nowhere'} does not exist") and not err.out
    assert not (tmp_path / "bins").exists()


def test_class_names_the_sorter_uses_itself_are_refused_when_first_read(tmp_path):
    from toyrobot_utils.audit import DataSetError, audit

    for reserved in ("unsure", "sort_log.csv", "Unsure"):
        data_dir = make_dataset(tmp_path / reserved, classes=("cars", reserved),
                                counts={"training": 1, "validation": 1, "test": 1})
        message = rf"class folder {re.escape(str(data_dir / 'training' / reserved))} is named .*rename that folder"
        with pytest.raises(DataSetError, match=message):
            audit(data_dir)
        with pytest.raises(DataSetError, match=message):  # training reads its classes through the audit
            data.load_datasets(data_dir, image_size=(SIZE, SIZE), verbose=False)

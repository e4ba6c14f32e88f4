"""`toyrobot train PHOTOS` end to end on a tiny plain folder: audited, split (recorded beside the model, part of its
lineage, the same split as `toyrobot split`), notebook 09's recipe with a line per epoch, test accuracy with its
interval, the .tflite file, and a printed sort command that runs as printed. The photos are never touched.

MobileNetV2 at 96 px without its ImageNet weights keeps it fast and offline: the mechanics, not the accuracy."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from test_splitting import plain_folder

from toyrobot_utils import lineage, splitting
from toyrobot_utils.modelling import stopping, training
from toyrobot_utils.modelling.progress import EpochProgress, duration
from toyrobot_utils.robot import train as train_module

from conftest import make_dataset, tree_state

COUNTS = {"cars": 8, "duplos": 7, "magnatiles": 8}
EPOCHS, FINE_TUNE_EPOCHS = 3, 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    photos = plain_folder(root / "photos", COUNTS)
    before = tree_state(photos)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = train_module.train(photos, models_dir=root / "models", image_size=96, weights=None, epochs=EPOCHS,
                                    fine_tune_epochs=FINE_TUNE_EPOCHS, seed=5)
    return root, photos, before, result, out.getvalue()


def test_the_split_is_recorded_beside_the_model_and_is_the_split_command_s(trained):
    root, photos, before, result, _ = trained
    assert tree_state(photos) == before  # the user's photos: not moved, renamed or modified
    assert result.split_record == root / "models" / "robot.split.json"
    record = splitting.read_record(result.split_record)
    assert record["photos_dir"] == str(photos.resolve()) and record["seed"] == 5
    assert record["fractions"] == splitting.FRACTIONS
    assert {f: s for s, fs in record["files"].items() for f in fs} == splitting.plan_split(photos, seed=5).split_of()
    farm = root / "models" / "robot.split"
    links = sorted(p for p in farm.rglob("*.jpg"))
    assert len(links) == sum(COUNTS.values()) and all(p.is_symlink() for p in links)
    assert all(p.resolve().parent.parent == photos.resolve() for p in links)
    assert {p.relative_to(farm).as_posix() for p in links} == {f"{s}/{f}" for s, fs in record["files"].items()
                                                             for f in fs}


def test_the_split_is_part_of_the_model_s_lineage(trained):
    root, _, _, result, _ = trained
    run_record = training.load_record(result.run_name, root / "models")
    photos = run_record["lineage"]["photos"]
    assert photos["data_dir_resolved"] == str((root / "models" / "robot.split").resolve())
    assert photos == {**lineage.photos_of_folder(root / "models" / "robot.split"),
                      "data_dir": photos["data_dir"]}  # each split's photos: relative paths and content hashes
    assert {s: photos["splits"][s]["photos"] for s in ("training", "validation", "test")} == {
        s: sum(n.values()) for s, n in splitting.read_record(result.split_record)["counts"].items()}
    assert run_record["split_record"] == "robot.split.json"
    other = splitting.plan_split(root / "photos", seed=6)  # another split: other fingerprints, another lineage
    splitting.write_split(other, root / "other_split")
    assert lineage.photos_of_folder(root / "other_split")["key"] != photos["key"]
    manifest = json.loads(result.manifest.read_text())
    assert manifest["lineage"]["photos"]["key"] == photos["key"]


def test_it_shows_epochs_test_accuracy_and_exports_the_tflite_file(trained):
    root, _, _, result, out = trained
    head = [line for line in out.splitlines() if line.startswith("head epoch")]
    tune = [line for line in out.splitlines() if line.startswith("fine-tune epoch")]
    assert len(head) == EPOCHS and head[0].startswith(f"head epoch 1/{EPOCHS} [")
    assert "val accuracy" in head[0] and "at most" in head[0] and head[-1].endswith("done")
    assert 1 <= len(tune) <= FINE_TUNE_EPOCHS
    accuracy_line = next(line for line in out.splitlines() if line.startswith("Test accuracy: "))
    assert "95 % interval" in accuracy_line and f"of {result.test_total} photos" in accuracy_line
    assert result.test_total == sum(max(2, round(n * 0.15)) for n in COUNTS.values())
    for cls, n in COUNTS.items():  # the confusion, one line per class: right of its test photos, and the others
        assert re.search(rf"^  {cls} +\d/{max(2, round(n * 0.15))} right", out, re.MULTILINE), cls
    assert result.tflite["float32"] == root / "models" / "robot.float32.tflite"
    assert result.tflite["float32"].stat().st_size > 1000
    assert json.loads(result.manifest.read_text())["class_names"] == sorted(COUNTS)
    assert training.load_record(result.run_name, root / "models")["test_images"] == result.test_total


def test_the_printed_sort_command_runs_as_printed(trained, tmp_path, monkeypatch):
    root, photos, _, result, out = trained
    last = out.strip().splitlines()[-1].strip()
    assert last == result.sort_command
    words = shlex.split(last)
    assert words[:2] == ["toyrobot", "sort"] and words[2:4] == list(train_module.SORT_FOLDERS)
    assert words[4] == "--model" and Path(words[5]) == result.tflite["float32"]
    inbox = tmp_path / train_module.SORT_FOLDERS[0]
    inbox.mkdir()
    for f in sorted(photos.rglob("*.jpg"))[:5]:
        shutil.copy2(f, inbox / f"{f.parent.name}_{f.name}")
    monkeypatch.chdir(tmp_path)  # the placeholders as folder names, the model path as printed
    from toyrobot_utils.__main__ import main

    assert main(words[1:]) == 0
    sorted_photos = list((tmp_path / train_module.SORT_FOLDERS[1]).rglob("*.jpg"))
    assert len(sorted_photos) == 5


def test_bad_photos_are_refused_in_one_line_before_any_training(tmp_path, capsys):
    photos = plain_folder(tmp_path / "photos", {"cars": 8, "duplos": 3})
    args = argparse.Namespace(photos=photos, name="robot", models_dir=tmp_path / "models", seed=42,
                              base="mobilenet_v2", image_size=None, epochs=None, fine_tune_epochs=None,
                              all_variants=False)
    assert train_module.run(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "duplos has 3 usable photo(s)" in err and "at least 6" in err
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").glob("*.keras"))
    assert train_module.run(argparse.Namespace(**{**vars(args), "photos": tmp_path / "nowhere"})) == 1
    assert "does not exist" in capsys.readouterr().err
    assert train_module.run(argparse.Namespace(**{**vars(args), "name": "../robot"})) == 1
    assert "plain file name" in capsys.readouterr().err
    inside = argparse.Namespace(**{**vars(args), "photos": tmp_path, "models_dir": tmp_path / "models"})
    assert train_module.run(inside) == 1
    assert "inside the photos folder" in capsys.readouterr().err


def test_the_series_layout_is_used_as_it_is(tmp_path):
    data = make_dataset(tmp_path / "data")
    lines = []
    assert train_module.prepare_photos(data, tmp_path / "models", "robot", 42, lines.append) == (data, None)
    assert "already split" in lines[0] and not (tmp_path / "models").exists()


def test_epoch_progress_bounds_the_time_left_by_patience():
    """The bound is 0 exactly when fit's early-stopping rule (stopping.stalled) stops the run."""
    progress = EpochProgress("head", epochs=50, patience=3, stream=io.StringIO())
    rows = []
    for epoch, accuracy in enumerate([0.5, 0.6, 0.6, 0.55, 0.6]):
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"val_accuracy": accuracy})
        rows.append({"epoch": epoch + 1, "val_accuracy": accuracy})
        assert (progress.epochs_left(epoch) == 0) == stopping.stalled(rows, 3)
    assert progress.lines[-1].endswith("done") and "at most" in progress.lines[0]
    assert EpochProgress("x", epochs=10).epochs_left(3) == 6  # no patience: every epoch may run
    assert [duration(s) for s in (4.4, 125, 3780)] == ["4 s", "2 min 05 s", "1 h 03 min"]

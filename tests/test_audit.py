"""audit.py: fatal layouts raise a DataSetError that names the path and the fix; bad files are reported and skipped;
imbalance and cross-split duplicates are warned about; and the data folder is never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from toyrobot_utils import images
from toyrobot_utils.__main__ import main
from toyrobot_utils.audit import COLUMNS, AuditReport, DataSetError, audit

from conftest import CLASSES, make_dataset, tree_state, truncate, write_image


def row(report: AuditReport, path) -> pd.Series:
    rows = report.table[report.table["file"] == Path(path)]
    assert len(rows) == 1, f"{path} not in the table"
    return rows.iloc[0]


def assert_skipped(report, path, *words):
    r = row(report, path)
    assert r["status"] == "skipped", r.to_dict()
    for word in words:
        assert word.lower() in r["problem"].lower(), r["problem"]
    assert Path(path) not in [f for split in report.splits for f, _ in report.usable_files(split)]
    assert any(Path(path).name in w for w in report.warnings)  # the skipped-files warning names it
    assert Path(path).name in report.summary()


# --- a clean data set ---------------------------------------------------------------------------------------------


def test_clean_dataset(tiny_dataset):
    report = audit(tiny_dataset)
    assert list(report.table.columns) == COLUMNS
    assert report.class_names == list(CLASSES)
    assert len(report.table) == 3 * (4 + 2 + 2)
    assert set(report.table["status"]) == {"ok"}
    assert set(report.table["problem"]) == {""}
    assert set(report.table["size"]) == {"40x32"} and set(report.table["mode"]) == {"RGB"}
    assert all(isinstance(f, Path) for f in report.table["file"])
    # 6 validation and 6 test photos: the only warnings say they are too few to tell models apart
    assert [w.split(":")[0] for w in report.warnings] == ["small validation split", "small test split"]
    assert report.duplicates.empty
    assert list(report.duplicates.columns) == ["file_a", "file_b", "distance"]

    usable = report.usable_files("training")
    assert [label for _, label in usable] == [0] * 4 + [1] * 4 + [2] * 4
    assert [f.name for f, _ in usable[:4]] == [f"bananagrams_0{i}.jpg" for i in range(4)]
    assert all(f.parent.parent == tiny_dataset / "training" for f, _ in usable)

    text = report.summary()
    assert "{'bananagrams': 0, 'brios': 1, 'cars': 2}" in text
    assert "All 24 files are usable" in text
    counts = report.counts()
    assert counts.loc["training", "brios"] == 4 and counts.loc["test", "total"] == 6


def test_ignores_everything_beside_the_split_folders(tiny_dataset):
    (tiny_dataset / "masks" / "cars").mkdir(parents=True)
    (tiny_dataset / "manifest.csv").write_text("file,label\n")
    (tiny_dataset / "README.md").write_text("# data\n")
    (tiny_dataset / "training" / ".ipynb_checkpoints").mkdir()  # Jupyter's, not a class
    (tiny_dataset / "training" / "cars" / ".ipynb_checkpoints").mkdir()
    write_image(tiny_dataset / "training" / "cars" / ".ipynb_checkpoints" / "x.jpg")
    report = audit(tiny_dataset)
    assert report.class_names == list(CLASSES)
    assert set(report.table["status"]) == {"ok"}


def test_nested_folders_inside_a_class_are_used(tiny_dataset):
    nested = write_image(tiny_dataset / "training" / "cars" / "2024" / "car_x.jpg", seed=1234)
    report = audit(tiny_dataset)
    assert row(report, nested)["status"] == "ok"
    assert (nested, 2) in report.usable_files("training")


# --- fatal errors -------------------------------------------------------------------------------------------------


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataSetError, match="does not exist") as err:
        audit(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "make-data" in str(err.value)


def test_missing_split_folder(tiny_dataset):
    shutil.rmtree(tiny_dataset / "test")
    with pytest.raises(DataSetError, match="Missing split folder") as err:
        audit(tiny_dataset)
    assert str(tiny_dataset / "test") in str(err.value)
    assert "Create them" in str(err.value)


def test_no_class_folders(tmp_path):
    data = tmp_path / "data"
    for split in ("training", "validation", "test"):
        (data / split).mkdir(parents=True)
    write_image(data / "training" / "loose.jpg")  # photos dumped straight into the split folder
    with pytest.raises(DataSetError, match="No class folders") as err:
        audit(data)
    message = str(err.value)
    assert str(data / "training") in message and "1 loose file" in message
    assert "sub-folder named after the class" in message


def test_class_folders_differ_between_splits(tiny_dataset):
    (tiny_dataset / "validation" / "cars").rename(tiny_dataset / "validation" / "car")
    shutil.rmtree(tiny_dataset / "test" / "brios")
    with pytest.raises(DataSetError, match="differ between splits") as err:
        audit(tiny_dataset)
    message = str(err.value)
    assert f"{tiny_dataset / 'validation'}: missing 'cars'; extra 'car'" in message
    assert f"{tiny_dataset / 'test'}: missing 'brios'" in message
    assert "training" not in message.split("\n", 1)[1].split("Rename")[0]  # the reference split has no complaint


def test_empty_class_folder(tiny_dataset):
    shutil.rmtree(tiny_dataset / "test" / "cars")
    (tiny_dataset / "test" / "cars").mkdir()
    with pytest.raises(DataSetError, match="Empty class") as err:
        audit(tiny_dataset)
    assert f"{tiny_dataset / 'test' / 'cars'}: no files" in str(err.value)


def test_class_with_only_broken_files_counts_as_empty(tiny_dataset):
    folder = tiny_dataset / "validation" / "brios"
    for f in folder.iterdir():
        truncate(f, 0.3)
    with pytest.raises(DataSetError, match="Empty class") as err:
        audit(tiny_dataset)
    assert str(folder) in str(err.value) and "none usable" in str(err.value) and "truncated" in str(err.value)
    assert isinstance(err.value.report, AuditReport)  # the findings are still there to look at


def test_no_readable_image_at_all(tmp_path):
    data = tmp_path / "data"
    for split in ("training", "validation", "test"):
        (data / split / "cars").mkdir(parents=True)
        (data / split / "cars" / "notes.txt").write_text("not a photo")
    with pytest.raises(DataSetError, match="No readable image") as err:
        audit(data)
    assert str(data) in str(err.value) and "notes.txt" in str(err.value)


# --- reported and skipped -----------------------------------------------------------------------------------------


def test_truncated_jpeg_is_skipped(tiny_dataset):
    bad = truncate(write_image(tiny_dataset / "training" / "cars" / "cut.jpg", (64, 48), seed=77))
    report = audit(tiny_dataset)
    assert_skipped(report, bad, "truncated")
    assert row(report, bad)["size"] == "64x48"  # the header was fine; the data was not
    assert len(report.usable_files("training")) == 12


def test_text_saved_as_jpg_is_skipped(tiny_dataset):
    fake = tiny_dataset / "training" / "brios" / "fake.jpg"
    fake.write_text("I am a shopping list, not a photo.\n")
    report = audit(tiny_dataset)
    assert_skipped(report, fake, "not an image", "text")


def test_non_image_files_are_skipped(tiny_dataset):
    ds_store = tiny_dataset / "training" / "cars" / ".DS_Store"
    ds_store.write_bytes(b"\x00\x00\x00\x01Bud1\x00\x00")
    notes = tiny_dataset / "validation" / "cars" / "notes.txt"
    notes.write_text("labels to check")
    loose = write_image(tiny_dataset / "test" / "loose.jpg", seed=555)
    empty = tiny_dataset / "test" / "cars" / "empty.jpg"
    empty.touch()
    report = audit(tiny_dataset)
    assert_skipped(report, ds_store, "hidden")
    assert_skipped(report, notes, "not an image file")
    assert_skipped(report, loose, "not inside a class folder")
    assert_skipped(report, empty, "empty file")
    assert row(report, loose)["class"] == ""


def test_image_with_unknown_extension_says_rename(tiny_dataset):
    odd = tiny_dataset / "training" / "cars" / "car.jpeg_large"
    shutil.copy(tiny_dataset / "training" / "cars" / "cars_00.jpg", odd)
    report = audit(tiny_dataset, check_duplicates=False)
    assert_skipped(report, odd, "JPEG image", "rename")


def test_small_images_are_skipped(tiny_dataset):
    tiny = write_image(tiny_dataset / "training" / "cars" / "thumb.png", (16, 16), seed=3)
    thin = write_image(tiny_dataset / "training" / "cars" / "strip.png", (200, 20), seed=4)
    report = audit(tiny_dataset)
    assert_skipped(report, tiny, "too small", "16x16", "32 px")
    assert_skipped(report, thin, "too small", "200x20")


def test_heic_that_pillow_heif_reads_is_ok(tiny_dataset):
    try:
        heic = write_image(tiny_dataset / "training" / "cars" / "iphone.heic", (64, 48), seed=8)
    except (ValueError, OSError) as err:  # pragma: no cover - no HEIC encoder in this pillow-heif build
        pytest.skip(f"cannot write HEIC here: {err}")
    report = audit(tiny_dataset)
    r = row(report, heic)
    assert r["status"] == "ok" and r["size"] == "64x48"
    assert (heic, 2) in report.usable_files("training")


def test_unreadable_heic_says_how_to_convert(tiny_dataset):
    heic = tiny_dataset / "training" / "cars" / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x07" * 64)
    report = audit(tiny_dataset)
    assert_skipped(report, heic, "HEIC", "heif-convert 'IMG_0001.HEIC' 'IMG_0001.jpg'", "sips -s format jpeg")


def test_heic_without_pillow_heif_says_install_or_convert(tiny_dataset, monkeypatch):
    heic = tiny_dataset / "training" / "cars" / "IMG_0002.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x07" * 64)
    monkeypatch.setattr(images, "HEIF_SUPPORTED", False)
    report = audit(tiny_dataset)
    assert_skipped(report, heic, "pip install pillow-heif", "heif-convert")


def test_text_named_heic_is_called_text_not_heic(tiny_dataset):
    fake = tiny_dataset / "training" / "cars" / "IMG_0003.HEIC"
    fake.write_text("this is a note, not a photo\n" * 5)
    report = audit(tiny_dataset)
    assert_skipped(report, fake, "contains text", "replace it with the real photo")
    assert "heif-convert" not in row(report, fake)["problem"]


def test_a_symbolic_link_that_leads_nowhere_says_so(tiny_dataset):
    loop = tiny_dataset / "training" / "cars" / "loop.jpg"
    loop.symlink_to(loop.name)  # points to itself
    dangling = tiny_dataset / "training" / "cars" / "gone.jpg"
    dangling.symlink_to(tiny_dataset / "nowhere.jpg")
    report = audit(tiny_dataset)
    for link in (loop, dangling):
        assert_skipped(report, link, "symbolic link that leads to no file", "remove it")
        assert "permissions" not in row(report, link)["problem"]


def test_a_symbolic_link_to_a_photo_outside_the_data_folder_is_reported(tiny_dataset, tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "car.jpg", seed=4242, tint=(200, 30, 30))
    link = tiny_dataset / "training" / "cars" / "linked.jpg"
    link.symlink_to(outside)
    inside = tiny_dataset / "training" / "cars" / "inside_link.jpg"
    inside.symlink_to(tiny_dataset / "test" / "cars" / "cars_00.jpg")  # inside the folder: no warning for it
    report = audit(tiny_dataset)
    assert row(report, link)["status"] == "ok"
    warning = [w for w in report.warnings if "symbolic links to files outside" in w]
    assert len(warning) == 1 and "training/cars/linked.jpg" in warning[0] and str(outside) in warning[0]
    assert "inside_link" not in warning[0]


def test_a_class_folder_name_that_cannot_be_a_bin_is_refused(tiny_dataset):
    for split in ("training", "validation", "test"):
        (tiny_dataset / split / "cars").rename(tiny_dataset / split / " ")
    with pytest.raises(DataSetError, match="class name ' ' from the folder .*training/ .* is empty"):
        audit(tiny_dataset)


def test_phone_photo_modes_are_ok(tiny_dataset):
    folder = tiny_dataset / "training" / "brios"
    rotated = write_image(folder / "rotated.jpg", (40, 32), seed=11, exif_orientation=6)
    cmyk = write_image(folder / "print.jpg", seed=12, mode="CMYK")
    rgba = write_image(folder / "cutout.png", seed=13, mode="RGBA")
    palette = write_image(folder / "palette.gif", seed=14, mode="P")
    gray = write_image(folder / "gray.png", seed=15, mode="L")
    report = audit(tiny_dataset)
    expected = {rotated: ("32x40", "RGB"), cmyk: ("40x32", "CMYK"), rgba: ("40x32", "RGBA"),
                palette: ("40x32", "P"), gray: ("40x32", "L")}
    for path, (size, mode) in expected.items():
        r = row(report, path)
        assert (r["status"], r["size"], r["mode"]) == ("ok", size, mode), path.name
    assert len(report.usable_files("training")) == 12 + 5
    assert report.warnings  # brios now has 9 photos against 4: imbalance


# --- warnings -----------------------------------------------------------------------------------------------------


def test_class_imbalance_is_reported(tmp_path):
    data = make_dataset(tmp_path / "data", counts={"training": 3, "validation": 2, "test": 2})
    for i in range(6):
        write_image(data / "training" / "cars" / f"more_{i}.jpg", seed=900 + i)
    report = audit(data)
    imbalance = [w for w in report.warnings if "imbalance" in w]
    assert len(imbalance) == 1
    assert "training" in imbalance[0] and "cars has 9" in imbalance[0] and "only 3" in imbalance[0]
    assert "imbalance" in report.summary()


def test_duplicate_across_splits_is_reported(tiny_dataset):
    original = tiny_dataset / "training" / "cars" / "cars_01.jpg"
    exact = tiny_dataset / "test" / "brios" / "same_photo.jpg"  # same shot, even filed under another class
    shutil.copy(original, exact)
    resaved = tiny_dataset / "validation" / "bananagrams" / "IMG_resaved.png"
    with Image.open(tiny_dataset / "training" / "bananagrams" / "bananagrams_02.jpg") as img:
        img.resize((80, 64)).save(resaved)  # re-exported bigger, another format
    report = audit(tiny_dataset)
    pairs = {(Path(a).name, Path(b).name) for a, b in zip(report.duplicates["file_a"], report.duplicates["file_b"])}
    assert ("cars_01.jpg", "same_photo.jpg") in pairs
    assert ("bananagrams_02.jpg", "IMG_resaved.png") in pairs
    assert len(pairs) == 2  # and no false alarms between the other (different) photos
    warning = next(w for w in report.warnings if "near-duplicate" in w)
    assert "training/cars/cars_01.jpg ~ test/brios/same_photo.jpg" in warning
    assert "training/bananagrams/bananagrams_02.jpg ~ validation/bananagrams/IMG_resaved.png" in warning
    # Reported, not acted on: both copies stay usable.
    assert row(report, exact)["status"] == "ok"
    assert audit(tiny_dataset, check_duplicates=False).duplicates.empty


def test_duplicates_within_one_split_are_not_leakage(tiny_dataset):
    shutil.copy(tiny_dataset / "training" / "cars" / "cars_01.jpg", tiny_dataset / "training" / "cars" / "again.jpg")
    assert audit(tiny_dataset).duplicates.empty


# --- read only, and the command line ------------------------------------------------------------------------------


def test_audit_never_modifies_the_data_folder(tiny_dataset):
    truncate(write_image(tiny_dataset / "training" / "cars" / "cut.jpg", seed=70))
    (tiny_dataset / "training" / "cars" / "fake.jpg").write_text("text")
    (tiny_dataset / "training" / ".DS_Store").write_bytes(b"\x00Bud1")
    write_image(tiny_dataset / "training" / "cars" / "tiny.png", (8, 8))
    write_image(tiny_dataset / "training" / "cars" / "rot.jpg", seed=71, exif_orientation=6)
    shutil.copy(tiny_dataset / "training" / "cars" / "cars_00.jpg", tiny_dataset / "test" / "cars" / "dup.jpg")
    before = tree_state(tiny_dataset)
    audit(tiny_dataset)
    assert tree_state(tiny_dataset) == before


def test_cli_prints_summary(tiny_dataset, capsys):
    (tiny_dataset / "training" / "cars" / "fake.jpg").write_text("text")
    assert main(["audit", str(tiny_dataset)]) == 0
    out = capsys.readouterr().out
    assert "3 classes" in out and "training/cars/fake.jpg" in out and "skipped" in out


def test_cli_exits_1_with_the_error(tiny_dataset, capsys, tmp_path):
    shutil.rmtree(tiny_dataset / "validation")
    assert main(["audit", str(tiny_dataset), "--no-duplicates"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Missing split folder") and str(tiny_dataset / "validation") in err


def test_cli_writes_csv(tiny_dataset, tmp_path, capsys):
    out_csv = tmp_path / "audit.csv"
    assert main(["audit", str(tiny_dataset), "--csv", str(out_csv)]) == 0
    assert list(pd.read_csv(out_csv).columns) == COLUMNS


def test_a_split_too_small_to_tell_models_apart_is_reported_with_the_photos_that_halve_its_interval(tmp_path):
    from toyrobot_utils import stats
    from toyrobot_utils.audit import small_split_warning

    data = make_dataset(tmp_path / "data", counts={"training": 3, "validation": 2, "test": 2})
    report = audit(data)
    (validation,) = [w for w in report.warnings if w.startswith("small validation split")]
    width = stats.interval_width(6, 0.85)
    assert "6 photos" in validation and f"{100 * width:.0f} points wide" in validation
    assert f"About {stats.photos_to_halve(6, 0.85)} validation photos" in validation
    assert "choose between models and epochs" in validation and "small validation split" in report.summary()
    assert "keeps the last epoch" in validation and "decides whether fine-tuning is kept" in validation
    # the width halves at that count, not before
    halve = stats.photos_to_halve(6, 0.85)
    assert stats.interval_width(halve, 0.85) <= width / 2 < stats.interval_width(halve - 1, 0.85)
    assert 3.5 * 6 <= halve <= 5 * 6  # about four times the photos
    # a split large enough (the built-in set's 150 validation and 75 test photos) gets no warning
    assert small_split_warning("validation", 150, 5) is None and small_split_warning("test", 75, 5) is None
    assert small_split_warning("test", 10, 5).startswith("small test split: 10 photos")
    assert "about 7 more per class" in small_split_warning("test", 10, 5)  # 44 - 10 = 34 more, over 5 classes
    assert small_split_warning("validation", 0, 5) is None

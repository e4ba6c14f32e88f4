"""The built-in data set: deterministic, complete, masks that fit, and never written over a user's photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from toyrobot_utils import config
from toyrobot_utils.__main__ import main
from toyrobot_utils.synthetic import default_data as dd

SMALL = {"training": 2, "validation": 1, "test": 1}
FAST = {"counts": SMALL, "size_scale": 0.4, "workers": 1}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> tuple[Path, object]:
    data = tmp_path_factory.mktemp("default") / "data"
    return data, dd.generate(data, seed=3, **FAST)


def test_layout_and_counts(small_set):
    data, manifest = small_set
    assert len(manifest) == 4 * len(config.DEFAULT_CLASSES)
    for split, n in SMALL.items():
        for cls in config.DEFAULT_CLASSES:
            files = sorted((data / split / cls).iterdir())
            assert [f.suffix for f in files] == [".jpg"] * n, (split, cls)
    assert set(manifest["class"]) == set(config.DEFAULT_CLASSES)
    assert {"file", "class", "split", "background", "seed", "toy_count", "object_fraction"} <= set(manifest.columns)
    assert (manifest["seed"] == 3).all()
    assert set(manifest["background"]) <= set(dd.ts.BACKGROUNDS)
    for row in manifest.to_dict("records"):
        assert (data / row["file"]).is_file()
        assert Path(row["file"]).parts[:2] == (row["split"], row["class"])
    # nothing but the three split folders, the masks, the manifest and the marker
    assert sorted(p.name for p in data.iterdir()) == sorted(
        ["training", "validation", "test", "masks", dd.MANIFEST, dd.MARKER])
    assert not list(data.parent.glob(".data.generating-*")), "temporary folder left behind"


def test_images_are_jpegs_of_varied_shapes(small_set):
    data, manifest = small_set
    sizes = set()
    for f in data.glob("*/*/*.jpg"):
        with Image.open(f) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            sizes.add(img.size)
    assert len(sizes) > 5


def test_masks_match_their_images(small_set):
    data, manifest = small_set
    for row in manifest.to_dict("records"):
        image_path = data / row["file"]
        mask_path = dd.mask_path_for(image_path)
        assert mask_path == data / "masks" / row["split"] / row["class"] / (image_path.stem + ".png")
        assert mask_path.is_file()
        with Image.open(mask_path) as m, Image.open(image_path) as img:
            assert m.mode == "L" and m.size == img.size
        mask = dd.load_mask(image_path)
        assert set(np.unique(mask)) <= {0, 255}
        covered = (mask > 0).mean()
        assert 0.002 < covered < 0.97, (row["file"], covered)
        assert covered == pytest.approx(row["object_fraction"], abs=1e-3)
    small = dd.load_mask(data / manifest["file"][0], size=(32, 48))
    assert small.shape == (32, 48) and small.dtype == np.uint8


def test_load_mask_is_none_for_a_photo_without_mask(tmp_path):
    photo = tmp_path / "data" / "training" / "cars" / "mine.jpg"
    photo.parent.mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(photo)
    assert dd.load_mask(photo) is None


def test_same_seed_same_bytes_other_seed_other_set(small_set, tmp_path):
    data, _ = small_set
    again = tmp_path / "again"
    dd.generate(again, seed=3, **{**FAST, "workers": 2})  # and the worker count does not matter
    assert _digests(again) == _digests(data)
    other = tmp_path / "other"
    dd.generate(other, seed=4, counts={"training": 1}, size_scale=0.4, workers=1)
    first = "training/cars/cars_000.jpg"
    assert (other / first).read_bytes() != (data / first).read_bytes()


def test_identical_request_is_already_there(small_set):
    data, manifest = small_set
    before = _digests(data)
    again = dd.generate(data, seed=3, **FAST)
    assert len(again) == len(manifest)
    assert _digests(data) == before


def test_refuses_a_folder_with_user_photos(tmp_path):
    data = tmp_path / "data"
    (data / "training" / "cars").mkdir(parents=True)
    (data / "README.md").write_text("mine\n")
    photo = data / "training" / "cars" / "IMG_0001.JPG"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(photo, "JPEG")
    before = photo.read_bytes()
    assert dd.has_photos(data)
    with pytest.raises(dd.PhotosPresentError, match="IMG_0001"):
        dd.generate(data, **FAST)
    with pytest.raises(dd.PhotosPresentError):
        dd.generate(data, replace_default=True, **FAST)  # a user's folder is never "a default set"
    assert photo.read_bytes() == before
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == [
        "README.md", "training", "training/cars", "training/cars/IMG_0001.JPG"]
    assert main(["make-data", "--data-dir", str(data), "--no-collage"]) == 1
    assert main(["make-data", "--data-dir", str(data), "--no-collage", "--if-empty"]) == 0
    assert photo.read_bytes() == before


def test_any_image_anywhere_counts_as_photos(tmp_path):
    data = tmp_path / "data"
    (data / "somewhere" / "deep").mkdir(parents=True)
    (data / "README.md").write_text("x")
    assert not dd.has_photos(data)
    (data / "somewhere" / "deep" / "x.heic").write_bytes(b"not really")
    assert dd.has_photos(data)


def test_other_default_set_is_refused_unless_replaced(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("committed readme\n")
    dd.generate(data, seed=1, counts={"training": 1}, size_scale=0.4, workers=1)
    with pytest.raises(dd.PhotosPresentError, match="other settings"):
        dd.generate(data, seed=2, counts={"training": 1}, size_scale=0.4, workers=1)
    dd.generate(data, seed=2, counts={"training": 1}, size_scale=0.4, workers=1, replace_default=True)
    assert dd.read_marker(data)["seed"] == 2
    assert (data / "README.md").read_text() == "committed readme\n"
    # a user photo added to a default set makes it "not exactly a default set" any more
    (data / "training" / "cars" / "mine.png").write_bytes((data / "masks/training/cars/cars_000.png").read_bytes())
    with pytest.raises(dd.PhotosPresentError):
        dd.generate(data, seed=2, counts={"training": 1}, size_scale=0.4, workers=1)
    with pytest.raises(dd.PhotosPresentError):
        dd.generate(data, seed=3, counts={"training": 1}, size_scale=0.4, workers=1, replace_default=True)
    assert (data / "training" / "cars" / "mine.png").is_file()


def test_cli_generates_then_says_already_there(tmp_path, monkeypatch, capsys):
    counts = {"training": 1, "validation": 1, "test": 1}
    monkeypatch.setattr(dd, "DEFAULT_COUNTS", counts)
    data = tmp_path / "data"
    fig = tmp_path / "figs" / "collage.png"
    assert main(["make-data", "--data-dir", str(data), "--seed", "5", "--workers", "1", "--collage", str(fig)]) == 0
    assert fig.is_file()
    capsys.readouterr()
    assert main(["make-data", "--data-dir", str(data), "--seed", "5"]) == 0
    assert "already there" in capsys.readouterr().out
    assert main(["make-data", "--data-dir", str(data), "--seed", "6", "--no-collage"]) == 1


def test_collage_has_one_labelled_row_per_class(small_set, tmp_path):
    data, _ = small_set
    fig = dd.collage(data, per_class=2, path=tmp_path / "c.png")
    assert (tmp_path / "c.png").is_file()
    titles = {ax.get_title() for ax in fig.axes}
    assert set(config.DEFAULT_CLASSES) <= titles


def test_background_bias_knob(tmp_path):
    """bias 1: every bananagram on the wood floor; bias 0: backgrounds spread over all four."""
    def backgrounds(bias):
        return [dd.render("bananagrams", "training", i, 0, dd.Knobs(background_bias=bias), 0.3)[2]["background"]
                for i in range(12)]
    assert set(backgrounds(1.0)) == {"wood_floor"}
    assert len(set(backgrounds(0.0))) >= 3


@pytest.mark.parametrize("cls, index, other", [("duplos", 1, "wood_floor"), ("cars", 0, "white_table"),
                                                ("bananagrams", 1, "tiles")])
def test_background_override_redraws_only_the_background(cls, index, other):
    """The same photo on another surface (bias.background_swap): same mask, same toy pixels, other background."""
    knobs = dd.Knobs()
    image, mask, info = dd.render(cls, "test", index, 3, knobs, 0.4)
    assert info["background"] != other
    swapped, swapped_mask, swapped_info = dd.render(cls, "test", index, 3, knobs, 0.4, background=other)
    assert np.array_equal(swapped_mask, mask)
    assert swapped_info == {**info, "background": other}  # every later draw (quality, clutter, ...) unchanged
    diff = np.abs(image.astype(int) - swapped.astype(int)).mean(axis=-1)
    toy = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0  # away from the blurred edge
    surface = cv2.dilate(mask, np.ones((15, 15), np.uint8)) == 0  # away from the toy and its shadow
    assert toy.sum() > 500 and surface.mean() > 0.3
    assert np.median(diff[toy]) <= 1 and np.percentile(diff[toy], 90) <= 3  # an opaque toy: the same pixels
    assert diff[surface].mean() > 20
    # Its own background's name gives the same photo with *another texture* of that surface: the replacement is
    # drawn from its own generator, never the photo's (that stream must stay as it is for every later draw).
    again, again_mask, again_info = dd.render(cls, "test", index, 3, knobs, 0.4, background=info["background"])
    assert np.array_equal(again_mask, mask) and again_info == info
    assert not np.array_equal(again, image)
    with pytest.raises(ValueError, match="unknown background"):
        dd.render(cls, "test", index, 3, knobs, 0.4, background="lawn")


def test_toy_identities_differ_between_splits():
    for cls in config.DEFAULT_CLASSES:
        train = [repr(dd.make_identity(cls, "training", k, 0)) for k in range(dd.POOL_SIZES[cls]["training"])]
        test = [repr(dd.make_identity(cls, "test", k, 0)) for k in range(dd.POOL_SIZES[cls]["test"])]
        assert not set(train) & set(test), cls
    assert not set(dd._split_letters(0, "training")) & set(dd._split_letters(0, "test"))


def test_an_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("readme\n")
    real = dd._render_task
    calls = []

    def failing(task):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way
        return real(task)

    monkeypatch.setattr(dd, "_render_task", failing)
    with pytest.raises(KeyboardInterrupt):
        dd.generate(data, counts={"training": 1}, size_scale=0.3, workers=1)
    assert not dd.has_photos(data)
    assert sorted(p.name for p in data.iterdir()) == ["README.md"]
    assert not list(tmp_path.glob(".data.generating-*"))
    monkeypatch.setattr(dd, "_render_task", real)
    dd.generate(data, counts={"training": 1}, size_scale=0.3, workers=1)  # and the next run just works
    assert dd.read_marker(data) is not None

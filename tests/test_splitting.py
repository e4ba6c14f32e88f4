"""`toyrobot split`: a plain folder of photos (one sub-folder per class) split into training/validation/test, the same
way every time for a seed, stratified with a minimum per class, near-duplicates kept in one split, the user's photos
never touched, written as links or copies into a new or empty folder only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toyrobot_utils import config, splitting
from toyrobot_utils.audit import DUPLICATE_MAX_DISTANCE, DataSetError, audit

from conftest import tree_state, write_image

CLASSES = ("cars", "duplos", "magnatiles")


def plain_folder(root: Path, counts: dict[str, int] | None = None, seed: int = 0) -> Path:
    """``root/<class>/<class>_NN.jpg``: distinct photos (``counts`` per class; default 20, 13, 8)."""
    counts = counts or {"cars": 20, "duplos": 13, "magnatiles": 8}
    for ci, (cls, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / cls / f"{cls}_{i:02d}.jpg", (64, 48), seed=seed * 1000 + ci * 100 + i,
                        tint=[(200, 30, 30), (40, 90, 220), (60, 180, 90)][ci % 3])
    return root


def same_shot(src: Path, dst: Path) -> Path:
    """The same shot in another file: its pixels re-encoded (PNG for a .png name, else JPEG at quality 100), so the
    bytes differ but the perceptual hash is within the audit's near-duplicate distance. (The generated block
    patterns are far more sensitive to resizing or brightness than phone photos: a hash-level chain is planted in
    ``test_a_chain_of_near_duplicates_is_one_group``.)"""
    with Image.open(src) as img:
        pixels = img.convert("RGB")
    dst.parent.mkdir(parents=True, exist_ok=True)
    pixels.save(dst, **({} if dst.suffix == ".png" else {"quality": 100}))
    return dst


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    photos = plain_folder(tmp_path / "photos")
    first = splitting.plan_split(photos, seed=7).split_of()
    assert splitting.plan_split(photos, seed=7).split_of() == first
    assert splitting.plan_split(photos, seed=8).split_of() != first
    assert len(first) == 41 and set(first.values()) == set(config.SPLITS)


def test_stratified_about_70_15_15_with_a_minimum_per_class(tmp_path):
    plan = splitting.plan_split(plain_folder(tmp_path / "photos"), seed=1)
    counts = plan.counts()
    assert {s: counts[s]["cars"] for s in config.SPLITS} == {"training": 14, "validation": 3, "test": 3}
    assert {s: counts[s]["duplos"] for s in config.SPLITS} == {"training": 9, "validation": 2, "test": 2}
    # 8 photos: 15 % would be 1 photo; every class gets at least MIN_HELD_OUT in validation and test
    assert {s: counts[s]["magnatiles"] for s in config.SPLITS} == {"training": 4, "validation": 2, "test": 2}
    for split, files in plan.files.items():  # every photo in one split only, in its own class
        assert all(f.parent.name in CLASSES for f in files)
    assert sum(len(f) for f in plan.files.values()) == len(set().union(*map(set, plan.files.values())))


def test_near_duplicates_never_cross_splits(tmp_path):
    photos = plain_folder(tmp_path / "photos", {"cars": 14, "duplos": 14, "magnatiles": 14})
    planted = []
    for cls in CLASSES:
        for i in range(3):  # a shot and two near copies of it, three times per class
            src = photos / cls / f"{cls}_{i:02d}.jpg"
            planted.append({src, same_shot(src, photos / cls / f"again_{i}a.png"),
                            same_shot(src, photos / cls / f"again_{i}b.jpg")})
    report = splitting.audit_plain(photos)
    hashes = np.stack([report.phashes[f] for f in sorted(report.phashes)])
    assert len(hashes) == 42 + 18
    for seed in range(6):
        plan = splitting.plan_split(photos, seed=seed, report=report)
        where = {f: s for s, files in plan.files.items() for f in files}
        for group in planted:
            assert len({where[f] for f in group}) == 1, f"seed {seed}: {sorted(p.name for p in group)} split apart"
        assert {frozenset(g) for g in plan.groups} == {frozenset(g) for g in planted}
    # without the grouping, some seed would have split one of these groups: the test can see a leak
    record = plan.record()
    assert len(record["near_duplicate_groups"]) == 9 and all(len(g) == 3 for g in record["near_duplicate_groups"])


def test_a_chain_of_near_duplicates_is_one_group(tmp_path):
    """a ~ b and b ~ c, but a and c further apart than the audit's distance: still one group (union-find), in one
    split. Planted in the hashes, bit by bit."""
    photos = plain_folder(tmp_path / "photos", {"cars": 12, "duplos": 6, "magnatiles": 6})
    report = splitting.audit_plain(photos)
    a, b, c = (photos.resolve() / "cars" / f"cars_{i:02d}.jpg" for i in (0, 1, 2))
    words = report.phashes[a].copy()
    bits = np.unpackbits(words.view(np.uint8))
    step = DUPLICATE_MAX_DISTANCE * 3 // 4  # a -> b and b -> c within the distance, a -> c beyond it
    flipped_b, flipped_c = bits.copy(), bits.copy()
    flipped_b[:step] ^= 1
    flipped_c[: 2 * step] ^= 1
    report.phashes[b] = np.packbits(flipped_b).view(words.dtype)
    report.phashes[c] = np.packbits(flipped_c).view(words.dtype)
    assert int(np.bitwise_count(report.phashes[a] ^ report.phashes[c]).sum()) > DUPLICATE_MAX_DISTANCE
    for seed in range(5):
        plan = splitting.plan_split(photos, seed=seed, report=report)
        assert [sorted(g) for g in plan.groups] == [sorted([a, b, c])]
        assert len({s for s, files in plan.files.items() for f in files if f in (a, b, c)}) == 1


def test_a_class_with_too_few_photos_is_refused_in_one_line(tmp_path):
    photos = plain_folder(tmp_path / "photos", {"cars": 10, "duplos": 5, "magnatiles": 10})
    with pytest.raises(splitting.SplitError) as caught:
        splitting.plan_split(photos)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{photos.resolve() / 'duplos'} has 5 usable photo(s)" in message
    assert f"at least {splitting.MIN_PER_CLASS}" in message and "cars" not in message

    # enough files, but too few distinct shots: near-duplicates count once
    dupes = plain_folder(tmp_path / "dupes", {"cars": 10, "duplos": 3, "magnatiles": 10})
    for i in range(4):
        same_shot(dupes / "duplos" / "duplos_00.jpg", dupes / "duplos" / f"copy_{i}.png")
    with pytest.raises(splitting.SplitError, match="duplos: its 7 photos are only 3 distinct shot") as caught:
        splitting.plan_split(dupes)
    assert "\n" not in str(caught.value)


def test_split_writes_links_or_copies_and_never_touches_the_photos(tmp_path):
    photos = plain_folder(tmp_path / "photos")
    (photos / "cars" / "notes.txt").write_text("not a photo")
    before = tree_state(photos)
    linked = splitting.split(photos, tmp_path / "data", verbose=False)
    copied = splitting.split(photos, tmp_path / "copied", mode="copy", seed=config.SEED, verbose=False)
    assert tree_state(photos) == before  # nothing moved, renamed or modified
    assert linked.split_of() == copied.split_of()  # same split for the same seed, whatever the mode

    for root, is_link in ((tmp_path / "data", True), (tmp_path / "copied", False)):
        written = sorted(p for p in root.rglob("*.jpg"))
        assert len(written) == 41 and all(p.is_symlink() == is_link for p in written)
        for split, files in linked.files.items():
            for photo in files:
                out = root / split / linked.relative(photo)
                assert out.read_bytes() == photo.read_bytes()
                if is_link:
                    assert out.resolve() == photo.resolve()
        record = splitting.read_record(root / splitting.RECORD_NAME)
        assert record["seed"] == config.SEED and record["photos_dir"] == str(photos.resolve())
        assert record["mode"] == ("link" if is_link else "copy")
        assert record["skipped"] == {"cars/notes.txt": record["skipped"]["cars/notes.txt"]}
        assert {f: s for s, fs in record["files"].items() for f in fs} == linked.split_of()
        report = audit(root)  # the series' layout: the pipelines read it as it is
        assert report.class_names == list(CLASSES) and report.skipped().empty
        assert report.counts().loc["validation", "magnatiles"] == 2


def test_split_refuses_a_non_empty_or_nested_target(tmp_path):
    photos = plain_folder(tmp_path / "photos", {"cars": 6, "duplos": 6, "magnatiles": 6})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    with pytest.raises(splitting.SplitError, match="is not empty"):
        splitting.split(photos, tmp_path / "data", verbose=False)
    assert (tmp_path / "data" / "keep.txt").read_text() == "mine"
    with pytest.raises(splitting.SplitError, match="inside the photos folder"):
        splitting.split(photos, photos / "data", verbose=False)
    assert not (photos / "data").exists()
    (tmp_path / "empty").mkdir()
    splitting.split(photos, tmp_path / "empty", verbose=False)  # an empty folder is fine
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["split.json", "test", "training", "validation"]


def test_replacing_an_earlier_split_of_links_only(tmp_path):
    photos = plain_folder(tmp_path / "photos", {"cars": 6, "duplos": 6, "magnatiles": 6})
    plan = splitting.plan_split(photos, seed=3)
    splitting.write_split(plan, tmp_path / "farm", record_path=tmp_path / "farm.json")
    other = splitting.plan_split(photos, seed=4)
    splitting.write_split(other, tmp_path / "farm", record_path=tmp_path / "farm.json", replace_links=True)
    assert splitting.read_record(tmp_path / "farm.json")["seed"] == 4
    assert {p.relative_to(tmp_path / "farm").as_posix() for p in (tmp_path / "farm").rglob("*.jpg")} == {
        f"{s}/{other.relative(f)}" for s, fs in other.files.items() for f in fs}
    copies = tmp_path / "copies"
    splitting.write_split(plan, copies, mode="copy")
    with pytest.raises(splitting.SplitError, match="not a link of an earlier split"):
        splitting.write_split(other, copies, replace_links=True)  # real files: never deleted


def test_layouts_and_clear_errors(tmp_path):
    photos = plain_folder(tmp_path / "photos", {"cars": 6, "duplos": 6, "magnatiles": 6})
    assert splitting.layout_of(photos) == "plain"
    splitting.split(photos, tmp_path / "data", verbose=False)
    assert splitting.layout_of(tmp_path / "data") == "series"
    with pytest.raises(DataSetError, match="already split"):
        splitting.plan_split(tmp_path / "data")
    with pytest.raises(DataSetError, match="does not exist"):
        splitting.plan_split(tmp_path / "nowhere")
    loose = tmp_path / "loose"
    write_image(loose / "a.jpg", (64, 48))
    with pytest.raises(DataSetError, match="sub-folder named after the class"):
        splitting.plan_split(loose)


def test_run_prints_the_split_and_returns_1_with_one_line_on_bad_input(tmp_path, capsys):
    photos = plain_folder(tmp_path / "photos", {"cars": 6, "duplos": 6, "magnatiles": 6})
    args = argparse.Namespace(photos=photos, data_dir=tmp_path / "data", copy=False, seed=42)
    assert splitting.run(args) == 0
    out = capsys.readouterr().out
    assert "as symbolic links" in out and "total" in out and "split.json" in out
    assert json.loads((tmp_path / "data" / "split.json").read_text())["counts"]["test"]["cars"] == 2
    assert splitting.run(args) == 1  # not empty any more
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "is not empty" in err

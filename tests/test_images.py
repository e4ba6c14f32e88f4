"""images.py: every photo comes out upright, RGB, uint8 and at the asked size, whatever its file looks like."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from toyrobot_utils import images

from conftest import write_image

RED, BLUE = (220, 20, 20), (20, 20, 220)


def halves(width=40, height=32, left=RED, right=BLUE) -> np.ndarray:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = left
    arr[:, width // 2 :] = right
    return arr


def is_color(pixel, color, tol=60) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) < tol))


def test_plain_jpeg_shape_dtype(tmp_path):
    path = write_image(tmp_path / "a.jpg", (40, 32))
    arr = images.load_array(path)
    assert arr.shape == (32, 40, 3) and arr.dtype == np.uint8
    resized = images.load_array(path, (24, 20))  # (height, width)
    assert resized.shape == (24, 20, 3) and resized.dtype == np.uint8


@pytest.mark.parametrize("orientation, top, bottom", [(6, RED, BLUE), (8, BLUE, RED)])
def test_exif_rotated_jpeg_comes_out_upright(tmp_path, orientation, top, bottom):
    # Stored landscape (left red, right blue); the phone says "rotate": upright it is portrait.
    path = write_image(tmp_path / "rot.jpg", array=halves(), exif_orientation=orientation)
    with Image.open(path) as raw:
        assert raw.size == (40, 32)
    arr = images.load_array(path)
    assert arr.shape == (40, 32, 3)  # height 40, width 32
    assert is_color(arr[2, 16], top) and is_color(arr[-3, 16], bottom)
    small = images.load_array(path, (20, 16))
    assert is_color(small[1, 8], top) and is_color(small[-2, 8], bottom)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = write_image(tmp_path / "cmyk.jpg", array=halves(), mode="CMYK")
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    arr = images.load_array(path)
    assert arr.shape == (32, 40, 3)
    assert is_color(arr[16, 3], RED) and is_color(arr[16, -3], BLUE)


def test_rgba_png_is_flattened_on_white(tmp_path):
    path = write_image(tmp_path / "cutout.png", array=halves(), mode="RGBA")  # left half transparent
    arr = images.load_array(path)
    assert arr.shape == (32, 40, 3)
    assert is_color(arr[16, 3], (255, 255, 255), tol=2) and is_color(arr[16, -3], BLUE, tol=2)


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "LA", "1"])
def test_other_modes_become_rgb(tmp_path, mode):
    path = write_image(tmp_path / "img.png", mode=mode)
    arr = images.load_array(path, (16, 16))
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    assert arr.max() > arr.min()  # still a picture, not a flat fill


def test_palette_png_with_transparency(tmp_path):
    img = Image.fromarray(halves()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent = img.getpixel((0, 0))
    img.save(tmp_path / "p.png", transparency=transparent)
    arr = images.load_array(tmp_path / "p.png")
    assert is_color(arr[16, 3], (255, 255, 255), tol=2)


def test_heic_is_read_with_pillow_heif(tmp_path):
    if not images.HEIF_SUPPORTED:
        pytest.skip("pillow-heif not installed")
    try:
        path = write_image(tmp_path / "phone.heic", array=halves(64, 48))
    except (ValueError, OSError) as err:  # pragma: no cover - pillow-heif built without an encoder
        pytest.skip(f"cannot write HEIC here: {err}")
    arr = images.load_array(path, (24, 32))
    assert arr.shape == (24, 32, 3)
    assert is_color(arr[12, 2], RED, tol=70) and is_color(arr[12, -3], BLUE, tol=70)


def test_truncated_jpeg_raises(tmp_path):
    from conftest import truncate

    path = truncate(write_image(tmp_path / "cut.jpg", (64, 48)))
    with pytest.raises(OSError):
        images.load_array(path, (16, 16))


def test_draft_decoding_matches_full_decoding(tmp_path):
    # A big JPEG read through draft mode must look like the same photo read in full and resized.
    big = np.kron(halves(8, 6), np.ones((100, 100, 1), np.uint8))  # 800x600
    path = write_image(tmp_path / "big.jpg", array=big)
    fast = images.load_array(path, (32, 32)).astype(int)
    full = np.asarray(Image.fromarray(images.load_array(path)).resize((32, 32), Image.Resampling.BILINEAR)).astype(int)
    assert np.abs(fast - full).mean() < 6

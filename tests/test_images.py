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


# --- photos with too many pixels --------------------------------------------------------------------------------


def flat_png(path, width: int, height: int):
    """A one-colour RGB PNG written row by row: a 12000 x 12000 photo (432 MB of pixels) in about 150 KB of file and
    without holding its pixels in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes((200, 120, 40)) * width
    packer, idat = zlib.compressobj(9), []
    for _ in range(height):
        idat.append(packer.compress(row))
    idat.append(packer.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b""))
    return path


def test_a_photo_with_too_many_pixels_is_refused_before_decoding_but_a_big_jpeg_decodes_scaled_down(tmp_path):
    png = write_image(tmp_path / "big.png", (640, 480), seed=1)
    jpeg = write_image(tmp_path / "big.jpg", (640, 480), seed=1)
    with pytest.raises(images.TooManyPixelsError, match=r"640x480 px = 0 megapixels to decode, above the limit of "
                                                        r"0.1 megapixels"):
        images.load_array(png, (32, 32), max_pixels=100_000)
    # JPEG's draft mode decodes it at 1/8 (80x60 px, at least twice the model's 32 px): well under the limit
    assert images.load_array(jpeg, (32, 32), max_pixels=100_000).shape == (32, 32, 3)
    with pytest.raises(images.TooManyPixelsError):
        images.load_array(jpeg, max_pixels=100_000)  # full size asked for: 307,200 px


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="peak memory read from Linux's /proc")
def test_a_folder_of_huge_photos_costs_no_memory_and_prints_no_library_warning(tmp_path):
    """A 12000 x 12000 PNG (144 megapixels, under Pillow's own bomb limit) used to be decoded in full by the audit
    (about 1 GB per photo, four at a time) with a raw DecompressionBombWarning. Now it is skipped with its reason
    and the audit's peak memory stays that of a few small photos (measured in a child process)."""
    import subprocess
    import sys

    from conftest import make_dataset

    data = make_dataset(tmp_path / "data", counts={"training": 2, "validation": 1, "test": 1})
    for i in range(2):
        flat_png(data / "training" / "cars" / f"huge_{i}.png", 12000, 12000)
    # VmHWM: this process's peak (ru_maxrss would include the parent's memory at fork, which survives exec)
    code = ("import re, sys; from toyrobot_utils.__main__ import main; code = main(['audit', sys.argv[1], "
            "'--no-duplicates']); status = open('/proc/self/status').read(); "
            "print('peak_mb', int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "huge_0.png: too many pixels (12000x12000 px = 144 megapixels to decode" in done.stdout
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    peak = int(done.stdout.split("peak_mb")[1].split()[0])
    assert peak < 250, f"the audit peaked at {peak} MB: huge photos were decoded"  # decoding one: over 430 MB

"""Shared test helpers: tiny, generated image folders in the project's layout (``<root>/<split>/<class>/*.jpg``).

Every generated photo is a distinct seeded pattern (so perceptual hashes never collide by accident) on a per-class
tint (so a small network can actually learn the classes). Plain functions can be imported by any test module
(``from conftest import make_dataset, write_image``); the fixtures wrap them.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow: keep test output readable
# Photo hashes are cached per user (config.CACHE_DIR); tests keep theirs apart, so they never read a stale entry.
os.environ.setdefault("TOYROBOT_CACHE_DIR", __import__("tempfile").mkdtemp(prefix="toyrobot-test-cache-"))

import numpy as np
import pytest
from PIL import Image

from toyrobot_utils import config, images  # noqa: F401 - importing images registers HEIC reading and writing

CLASSES = ("bananagrams", "brios", "cars")
COUNTS = {"training": 4, "validation": 2, "test": 2}
SIZE = (40, 32)  # (width, height): small, not square, above config.MIN_IMAGE_SIDE

_TINTS = [(230, 200, 40), (150, 90, 40), (200, 30, 30), (40, 90, 220), (60, 180, 90), (160, 60, 200)]
EXIF_ORIENTATION = 0x0112


def pattern(size=SIZE, seed=0, tint=(128, 128, 128)) -> np.ndarray:
    """A (height, width, 3) uint8 picture: 8x8 random blocks blended with ``tint``; distinct for every seed."""
    width, height = size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3)).astype(np.float64)
    img = np.kron(blocks, np.ones((-(-height // 8), -(-width // 8), 1)))[:height, :width]
    return (0.5 * img + 0.5 * np.array(tint, dtype=np.float64)).clip(0, 255).astype(np.uint8)


def write_image(path, size=SIZE, *, seed=0, tint=(128, 128, 128), mode="RGB", array=None, exif_orientation=None,
                **save_kwargs) -> Path:
    """Save a generated picture at ``path`` in ``mode``; the file type follows the extension (.heic works too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(pattern(size, seed, tint) if array is None else array)
    if mode == "RGBA":
        img = img.convert("RGBA")
        alpha = np.full((img.height, img.width), 255, np.uint8)
        alpha[:, : img.width // 2] = 0  # left half transparent
        img.putalpha(Image.fromarray(alpha))
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    elif mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
    elif mode != "RGB":
        img = img.convert(mode)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = exif_orientation
        save_kwargs["exif"] = exif
    if path.suffix.lower() in (".jpg", ".jpeg"):
        save_kwargs.setdefault("quality", 95)
    img.save(path, **save_kwargs)
    return path


def make_dataset(root, classes=CLASSES, counts=None, size=SIZE, ext=".jpg", seed=0) -> Path:
    """``root/<split>/<class>/<class>_NN<ext>`` with ``counts`` ({split: images per class}; default 4/2/2)."""
    root = Path(root)
    counts = COUNTS if counts is None else counts
    n = 0
    for split, count in counts.items():
        for ci, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                write_image(
                    root / split / cls / f"{cls}_{i:02d}{ext}", size,
                    seed=zlib.crc32(f"{seed}/{split}/{cls}/{i}".encode()), tint=_TINTS[ci % len(_TINTS)],
                )
                n += 1
    return root


def truncate(path, keep=0.5) -> Path:
    """Cut ``path`` to ``keep`` of its bytes, like an interrupted copy."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def tree_state(root) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root`` with (size, mtime_ns, crc32): compare before/after to prove nothing changed."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, zlib.crc32(p.read_bytes()))
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """A fresh, clean 3-class data folder (4/2/2 photos of 40x32 px per class) in a temporary folder."""
    return make_dataset(tmp_path / "data")


@pytest.fixture
def clothing5_dir() -> Path:
    """``../shared/datasets/clothing5`` (real phone photos, 5 classes x 100/30/15); skips when absent."""
    path = config.SHARED_DIR / "datasets" / "clothing5"
    if not all((path / split).is_dir() for split in config.SPLITS):
        pytest.skip(f"{path} is not available (../shared is optional)")
    return path


@pytest.fixture
def mobilenet_weights():
    """The MobileNetV2 ImageNet weights in Keras' cache: copied from ../shared/weights if needed, else skip."""
    import shutil

    from toyrobot_utils.modelling import models

    filename = models.BASES["mobilenet_v2"].weights_filename((224, 224))
    cached = models.keras_weights_dir() / filename
    if not cached.is_file():
        shared = config.SHARED_DIR / "weights" / filename
        if not shared.is_file():
            pytest.skip(f"{filename} is neither in {cached.parent} nor in {shared.parent}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared, cached)
    return cached

"""Read a photo the same way everywhere: upright from its EXIF orientation, RGB, optionally resized.

The pipeline, the predictions dataframe, Grad-CAM and the robot's sorter all call these functions, so a model
always sees exactly the preprocessing it was trained with. The toy's mask that the built-in data set keeps beside
each photo is read here too: Grad-CAM scores its focus with it, and only ``default_data`` writes it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import config

# Pillow warns (DecompressionBombWarning) about any image above ~89 megapixels, as soon as it is opened, whoever
# reads it; ``open_rgb`` applies its own limit (``config.MAX_IMAGE_PIXELS``) on the pixels it would really decode
# and says which photo and why, so the raw warning would only be noise. A process-wide filter, because
# ``warnings.catch_warnings`` is not thread-safe and photos are read from several threads at once.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class TooManyPixelsError(ValueError):
    """A photo whose decoding would need more pixels than allowed; the message gives its size and the limit."""


def check_pixels(size: tuple[int, int], max_pixels: int | None = None) -> None:
    """``TooManyPixelsError`` when an image of ``size`` (width, height) has more than ``max_pixels`` pixels
    (default ``config.MAX_IMAGE_PIXELS``)."""
    limit = config.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    width, height = size
    if width * height > limit:
        raise TooManyPixelsError(f"{width}x{height} px = {width * height / 1e6:.0f} megapixels to decode, above the "
                                 f"limit of {limit / 1e6:g} megapixels")

try:  # HEIC/HEIF, the iPhone's default format; registers an opener with Pillow.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is a pinned dependency
    HEIF_SUPPORTED = False


def open_rgb(path: str | Path, draft_size: tuple[int, int] | None = None,
             max_pixels: int | None = None) -> Image.Image:
    """Open ``path`` as an upright RGB image.

    ``draft_size`` (width, height) lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding, which makes
    phone-size photos many times cheaper to read when only a small image is wanted. An image that would still need
    more than ``max_pixels`` pixels decoded (default ``config.MAX_IMAGE_PIXELS``) raises ``TooManyPixelsError``
    before anything is decoded.
    Transparent images are flattened on white (a PNG cut-out keeps its look); CMYK, palette, grayscale and 16-bit
    images are converted to RGB.
    """
    with Image.open(path) as img:
        if draft_size is not None and img.format == "JPEG":
            # Ask for at least 2x the target so the final resize still has detail to average.
            img.draft("RGB", (draft_size[0] * 2, draft_size[1] * 2))
        check_pixels(img.size, max_pixels)  # after draft: the pixels that will really be decoded
        try:
            img = ImageOps.exif_transpose(img)
        except (ValueError, TypeError, KeyError, SyntaxError):  # damaged EXIF block: keep the photo, as stored
            img.load()
        if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        if img.mode in ("I", "F") or img.mode.startswith("I;16"):  # 16-bit / float scans: stretch to 0..255
            arr = np.asarray(img, dtype=np.float64)
            arr = 255.0 * (arr - arr.min()) / max(arr.max() - arr.min(), 1.0)
            img = Image.fromarray(arr.astype(np.uint8))
        return img.convert("RGB")


def load_array(path: str | Path, image_size: tuple[int, int] | None = None,
               max_pixels: int | None = None) -> np.ndarray:
    """Return ``path`` as a uint8 array (height, width, 3), resized to ``image_size`` (height, width) if given.

    Resizing squashes to the target shape with bilinear filtering, like Keras' ``load_img(target_size=...)`` in the
    write-up, so every toy keeps all of its pixels in view. ``max_pixels``: see ``open_rgb``.
    """
    if image_size is None:
        return np.asarray(open_rgb(path, max_pixels=max_pixels))
    height, width = image_size
    img = open_rgb(path, draft_size=(width, height), max_pixels=max_pixels)
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img)


# --------------------------------------------------------------------------------------------------------------------
# The built-in data set's toy masks
# --------------------------------------------------------------------------------------------------------------------

MASKS = "masks"  # <data>/masks/<split>/<class>/<stem>.png, outside the class folders so loaders never see them


def mask_path_for(image_path: str | Path) -> Path:
    """Where the mask of ``<data>/<split>/<class>/<stem>.jpg`` lives: ``<data>/masks/<split>/<class>/<stem>.png``."""
    p = Path(image_path)
    return p.parents[2] / MASKS / p.parent.parent.name / p.parent.name / f"{p.stem}.png"


def load_mask(image_path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """The toy's mask for ``image_path`` as uint8 (255 = toy), resized to ``size`` (height, width) by nearest
    neighbour; None when the image has no mask (a user's own photo)."""
    path = mask_path_for(image_path)
    if not path.is_file():
        return None
    with Image.open(path) as img:
        img = img.convert("L")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.Resampling.NEAREST)
        return np.asarray(img, dtype=np.uint8).copy()

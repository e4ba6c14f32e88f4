"""Drawing a photo of the built-in data set, apart from the toys: sprites and how they are placed in a scene, the
house's backgrounds, and the camera (tilt, light, blur, noise).

Everything is drawn with NumPy and OpenCV from a ``numpy.random.Generator`` only, so one seed always gives the same
pixels. Colours are float32 RGB in 0..255. A toy (``toy_drawing``) is drawn axis-aligned into a :class:`Sprite` at
its final pixel size and then rotated into the :class:`Scene` by :func:`place`, which keeps each drawing simple.
``default_data`` decides *what* goes into each photo; this module and ``toy_drawing`` only know *how* to draw it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

BACKGROUNDS = ("wood_floor", "rug", "white_table", "tiles")

_SHIFT = 4  # OpenCV sub-pixel bits for anti-aliased drawing
_ONE = 1 << _SHIFT


def _fix(pts) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float) -> np.ndarray:
    """Value noise in about -1..1 with features of ``cell_y`` x ``cell_x`` pixels (stretch one for wood grain)."""
    gh, gw = max(2, int(h / cell_y) + 2), max(2, int(w / cell_x) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) / 1.2


def vary(rng: np.random.Generator, color, amount: float = 12.0) -> np.ndarray:
    """A colour jittered per channel, so no two instances share exact pixels."""
    return np.clip(np.asarray(color, np.float32) + rng.normal(0, amount, 3), 0, 255).astype(np.float32)


class Region:
    """A 0..1 mask that is non-zero only in a box of the sprite (``m`` sits at row ``y0``, column ``x0``).

    ``a + b`` is the union and ``a - b`` cuts ``b`` out of ``a``.
    """

    def __init__(self, m: np.ndarray, y0: int = 0, x0: int = 0):
        self.m, self.y0, self.x0 = m, int(y0), int(x0)

    @property
    def sl(self):
        return np.s_[self.y0:self.y0 + self.m.shape[0], self.x0:self.x0 + self.m.shape[1]]

    def _aligned(self, other):
        y0, x0 = min(self.y0, other.y0), min(self.x0, other.x0)
        y1 = max(self.y0 + self.m.shape[0], other.y0 + other.m.shape[0])
        x1 = max(self.x0 + self.m.shape[1], other.x0 + other.m.shape[1])
        out = []
        for r in (self, other):
            a = np.zeros((y1 - y0, x1 - x0), np.float32)
            a[r.y0 - y0:r.y0 - y0 + r.m.shape[0], r.x0 - x0:r.x0 - x0 + r.m.shape[1]] = r.m
            out.append(a)
        return out, y0, x0

    def __add__(self, other: "Region") -> "Region":
        (a, b), y0, x0 = self._aligned(other)
        return Region(np.maximum(a, b), y0, x0)

    def __sub__(self, other: "Region") -> "Region":
        (a, b), y0, x0 = self._aligned(other)
        return Region(np.clip(a - b, 0, 1), y0, x0)


# --------------------------------------------------------------------------------------------------- sprites
class Sprite:
    """An RGBA drawing surface that also carries a colour filter (``tint``) and the object's footprint (``cover``).

    ``rgb`` is premultiplied by ``alpha``. The scene is composited as ``bg * tint * (1 - alpha) + rgb``, so a
    translucent magnatile darkens and colours whatever lies under it, like tinted plastic does. ``cover`` is what
    becomes the mask: the toy's footprint, opaque or not.
    """

    def __init__(self, h: int, w: int):
        self.h, self.w = int(h), int(w)
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)
        self.tint = np.ones((self.h, self.w, 3), np.float32)
        self.cover = np.zeros((self.h, self.w), np.float32)
        self.filtered = False  # any tinted glass painted? (if not, compositing can skip the filter)

    # Shape rasterisers return a Region: an anti-aliased 0..1 mask of just the shape's bounding box, so painting
    # a small stud or rivet costs its own size, not the sprite's.
    def _box(self, pts, margin):
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        x0, y0 = np.floor(pts.min(0) - margin).astype(int)
        x1, y1 = np.ceil(pts.max(0) + margin).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        return x0, y0, max(x0, x1), max(y0, y1)

    def poly(self, pts) -> "Region":
        x0, y0, x1, y1 = self._box(pts, 2)
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(m, [_fix(np.asarray(pts, np.float64) - (x0, y0))], 255, cv2.LINE_AA, _SHIFT)
        return Region(m.astype(np.float32) / 255.0, y0, x0)

    def circle(self, cx, cy, r) -> "Region":
        return self.ellipse(cx, cy, r, r)

    def ellipse(self, cx, cy, rx, ry) -> "Region":
        rx, ry = max(rx, 0.5), max(ry, 0.5)
        x0, y0, x1, y1 = self._box([(cx - rx, cy - ry), (cx + rx, cy + ry)], 2)
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.ellipse(m, tuple(_fix((cx - x0, cy - y0))), tuple(_fix((rx, ry))), 0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        return Region(m.astype(np.float32) / 255.0, y0, x0)

    def line(self, pts, width) -> "Region":
        width = max(1, int(round(width)))
        x0, y0, x1, y1 = self._box(pts, width / 2 + 2)
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.polylines(m, [_fix(np.asarray(pts, np.float64) - (x0, y0))], False, 255, width, cv2.LINE_AA, _SHIFT)
        return Region(m.astype(np.float32) / 255.0, y0, x0)

    def _texture(self, value, sl):
        value = np.asarray(value, np.float32)
        return value[sl] if value.ndim >= 2 and value.shape[:2] == (self.h, self.w) else value

    def paint(self, r: "Region", color, opacity: float = 1.0, filter_color=None, cover: bool = True) -> None:
        """Paint ``color`` (RGB or an (h, w, 3) texture) through region ``r``; ``filter_color`` makes tinted glass."""
        sl, m = r.sl, r.m
        k = (m * opacity)[..., None]
        rgb = self.rgb[sl]
        if filter_color is not None:
            self.filtered = True
            f = 1.0 - m[..., None] * (1.0 - np.asarray(filter_color, np.float32) / 255.0)
            self.tint[sl] *= f
            rgb = rgb * f
        self.rgb[sl] = rgb * (1.0 - k) + k * self._texture(color, sl)
        self.alpha[sl] = self.alpha[sl] * (1.0 - k[..., 0]) + k[..., 0]
        if cover:
            self.cover[sl] = np.maximum(self.cover[sl], m)

    def shade(self, r: "Region", factor) -> None:
        """Darken (<1) or lighten (>1) what is already painted under ``r``: bevels, highlights, grooves."""
        sl, m = r.sl, r.m
        f = self._texture(factor, sl)
        if f.ndim == 2:
            f = f[..., None]
        self.rgb[sl] = np.minimum(self.rgb[sl] * (1.0 + m[..., None] * (f - 1.0)), 255.0 * self.alpha[sl][..., None])

    def erase(self, r: "Region") -> None:
        """Cut a hole (the female connector of a Brio track)."""
        sl, keep = r.sl, 1.0 - r.m
        self.rgb[sl] *= keep[..., None]
        self.alpha[sl] *= keep
        self.cover[sl] *= keep
        self.tint[sl] = 1.0 - (1.0 - self.tint[sl]) * keep[..., None]

    def stack(self) -> np.ndarray:
        if not self.filtered:
            return np.dstack([self.rgb, self.alpha, self.cover])
        return np.dstack([self.rgb, self.alpha, self.cover, self.tint])


@dataclass
class Scene:
    """The photo being built: background pixels, the toy mask and the light direction for shadows."""

    image: np.ndarray  # (h, w, 3) float32
    mask: np.ndarray = field(default=None)  # (h, w) float32 0..1, the toys only
    light: tuple[float, float] = (0.03, 0.05)  # shadow offset as a fraction of the toy size
    shadow: float = 0.4
    toy_area: float = 0.0  # pixels of toy drawn, in or out of frame: tells how much a crop cut off

    def __post_init__(self):
        if self.mask is None:
            self.mask = np.zeros(self.image.shape[:2], np.float32)

    @property
    def h(self) -> int:
        return self.image.shape[0]

    @property
    def w(self) -> int:
        return self.image.shape[1]


def place(scene: Scene, sprite: Sprite, cx: float, cy: float, angle: float, *, is_toy: bool = True,
          shadow: float | None = None) -> None:
    """Rotate ``sprite`` by ``angle`` degrees about its centre, put that centre at (cx, cy) and composite it.

    A soft shadow (the blurred footprint, shifted away from the light) is laid first. Clutter placed over a toy
    removes the covered part from the mask, so the mask is always what the camera sees of the toy.
    """
    m = cv2.getRotationMatrix2D((sprite.w / 2.0, sprite.h / 2.0), angle, 1.0)
    m[:, 2] += (cx - sprite.w / 2.0, cy - sprite.h / 2.0)
    strength = scene.shadow if shadow is None else shadow
    size = max(sprite.h, sprite.w)
    dx, dy = scene.light[0] * size, scene.light[1] * size
    sigma = max(1.0, 0.05 * size)
    # work only inside the bounding box of the turned sprite and its shadow
    corners = np.float32([[0, 0, 1], [sprite.w, 0, 1], [sprite.w, sprite.h, 1], [0, sprite.h, 1]]) @ m.T
    margin = abs(dx) + abs(dy) + 3 * sigma + 2
    x0, y0 = (max(0, int(v - margin)) for v in corners.min(0))
    x1, y1 = min(scene.w, int(corners[:, 0].max() + margin) + 1), min(scene.h, int(corners[:, 1].max() + margin) + 1)
    if is_toy:
        scene.toy_area += float(sprite.cover.sum())
    if x1 <= x0 or y1 <= y0:
        return
    m[:, 2] -= (x0, y0)
    size_roi = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(sprite.stack(), m, size_roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=(0, 0, 0, 0))
    rgb, alpha, cover = warped[..., :3], warped[..., 3], warped[..., 4]
    roi = np.s_[y0:y1, x0:x1]
    image = scene.image[roi]
    if strength > 0:  # a soft shadow: the footprint, shifted away from the light and blurred
        m_sh = m.copy()
        m_sh[:, 2] += (dx, dy)
        sh = cv2.warpAffine(sprite.cover, m_sh, size_roi, flags=cv2.INTER_LINEAR)
        sh = cv2.GaussianBlur(sh, (0, 0), sigma)
        image *= (1.0 - strength * np.clip(sh, 0, 1))[..., None]
    if sprite.filtered:
        image = image * np.where(alpha[..., None] > 0, warped[..., 5:8], 1.0)
    scene.image[roi] = image * (1.0 - alpha[..., None]) + rgb
    if is_toy:
        scene.mask[roi] = np.maximum(scene.mask[roi], cover)
    else:
        scene.mask[roi] = scene.mask[roi] * (1.0 - np.clip(alpha * 1.5, 0, 1))


# ------------------------------------------------------------------------------------------------ backgrounds
def draw_background(name: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One of the house's surfaces, seen from above, as float32 RGB."""
    return {"wood_floor": _wood_floor, "rug": _rug, "white_table": _white_table, "tiles": _tiles}[name](rng, h, w)


WOODS = [(190, 140, 90), (120, 78, 48), (205, 172, 128), (160, 95, 60), (175, 130, 85), (140, 100, 70)]


def _wood_floor(rng, h, w):
    vertical = rng.random() < 0.5
    if vertical:
        h, w = w, h
    base = np.asarray(WOODS[rng.integers(len(WOODS))], np.float32)
    img = np.empty((h, w, 3), np.float32)
    plank = rng.uniform(0.12, 0.24) * max(h, w)
    y = -rng.uniform(0, plank)
    seams = []
    while y < h:
        y0, y1 = int(max(0, y)), int(min(h, y + plank))
        if y1 > y0:
            x = -rng.uniform(0, 2.5 * plank)
            while x < w:
                length = rng.uniform(2.5, 6) * plank
                x0, x1 = int(max(0, x)), int(min(w, x + length))
                if x1 > x0:
                    col = vary(rng, base * rng.uniform(0.9, 1.08), 6)
                    ph, pw = y1 - y0, x1 - x0
                    grain = smooth_noise(rng, ph, pw, rng.uniform(2, 4), rng.uniform(40, 120))
                    fine = smooth_noise(rng, ph, pw, 1, 12)
                    tone = 1 + 0.10 * grain + 0.04 * fine + 0.05 * smooth_noise(rng, ph, pw, ph, pw / 2)
                    img[y0:y1, x0:x1] = col * tone[..., None]
                    seams.append(("v", x1, y0, y1))
                x += length
            seams.append(("h", y1, 0, w))
        y += plank
    for kind, a, b0, b1 in seams:  # dark gaps between planks
        if kind == "h" and 0 < a < h:
            img[max(0, a - 1):a + 1, :] *= 0.55
        elif kind == "v" and 0 < a < w:
            img[b0:b1, max(0, a - 1):a + 1] *= 0.6
    for _ in range(rng.integers(0, 3)):  # knots
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        m = np.zeros((h, w), np.float32)
        cv2.ellipse(m, (int(cx), int(cy)), (int(rng.uniform(4, 12)), int(rng.uniform(2, 5))), 0, 0, 360, 1.0, -1)
        img *= (1 - 0.35 * cv2.GaussianBlur(m, (0, 0), 2))[..., None]
    if vertical:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    return img


RUGS = [((150, 150, 155), (90, 95, 110)), ((200, 185, 160), (140, 60, 50)), ((60, 80, 130), (200, 190, 170)),
        ((170, 60, 55), (230, 200, 150)), ((90, 120, 95), (210, 205, 190)), ((220, 215, 205), (120, 110, 100)),
        ((110, 85, 120), (200, 170, 90))]


def _rug(rng, h, w):
    c1, c2 = (np.asarray(c, np.float32) for c in RUGS[rng.integers(len(RUGS))])
    c1, c2 = vary(rng, c1, 12), vary(rng, c2, 12)
    c2 = c1 + (c2 - c1) * rng.uniform(0.35, 0.7)  # woven patterns are softer than printed ones
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    ang = rng.uniform(0, np.pi)
    u = xx * np.cos(ang) + yy * np.sin(ang)
    v = -xx * np.sin(ang) + yy * np.cos(ang)
    period = rng.uniform(0.08, 0.3) * max(h, w)
    kind = rng.integers(4)
    if kind == 0:  # stripes
        p = (np.sin(u / period * 2 * np.pi) > rng.uniform(-0.4, 0.6)).astype(np.float32)
    elif kind == 1:  # diamonds
        p = ((np.abs(((u / period) % 1) - 0.5) + np.abs(((v / period) % 1) - 0.5)) < 0.3).astype(np.float32)
    elif kind == 2:  # checks
        p = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    else:  # plain, mottled shag
        p = (smooth_noise(rng, h, w, period / 3, period / 3) > 0.6).astype(np.float32) * 0.4
    p = cv2.GaussianBlur(p, (0, 0), 1.5)
    img = c1 * (1 - p[..., None]) + c2 * p[..., None]
    fibre = rng.standard_normal((h, w)).astype(np.float32)
    fibre = cv2.GaussianBlur(fibre, (0, 0), 0.8)
    tone = 1 + 0.12 * fibre + 0.06 * smooth_noise(rng, h, w, 6, 6) + 0.05 * smooth_noise(rng, h, w, h / 2, w / 2)
    return img * tone[..., None]


def _white_table(rng, h, w):
    base = np.float32(rng.uniform(222, 248)) + rng.normal(0, 4, 3).astype(np.float32)
    img = np.ones((h, w, 3), np.float32) * base
    img *= (1 + 0.03 * smooth_noise(rng, h, w, h / 2, w / 2) + 0.01 * smooth_noise(rng, h, w, 3, 3))[..., None]
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    gx, gy = rng.uniform(0, w), rng.uniform(0, h)  # soft reflection of a window
    glare = np.exp(-(((xx - gx) / (0.4 * w)) ** 2 + ((yy - gy) / (0.3 * h)) ** 2))
    img = img + 14 * glare[..., None]
    if rng.random() < 0.35:  # table edge: the floor beyond it shows along one side
        side = rng.integers(4)
        depth = int(rng.uniform(0.08, 0.22) * (h if side < 2 else w))
        floor = _wood_floor(rng, h, w) * 0.8 if rng.random() < 0.6 else _rug(rng, h, w) * 0.8
        region = [np.s_[:depth, :], np.s_[h - depth:, :], np.s_[:, :depth], np.s_[:, w - depth:]][side]
        img[region] = floor[region]
        edge = [np.s_[depth:depth + 3, :], np.s_[h - depth - 3:h - depth, :], np.s_[:, depth:depth + 3],
                np.s_[:, w - depth - 3:w - depth]][side]
        img[edge] *= 0.8
    return img


TILES = [(215, 215, 210), (200, 185, 160), (180, 95, 70), (120, 125, 130), (235, 232, 225), (160, 170, 175)]


def _tiles(rng, h, w):
    base = np.asarray(TILES[rng.integers(len(TILES))], np.float32)
    size = rng.uniform(0.15, 0.4) * max(h, w)
    grout = np.clip(base * rng.uniform(0.7, 1.15), 0, 255)
    gw = max(1, int(rng.uniform(1.5, 4)))
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    offset = rng.random() < 0.3
    ox, oy = rng.uniform(0, size), rng.uniform(0, size)
    rows = int(h / size) + 3
    cols = int(w / size) + 3
    for r in range(rows):
        y0 = int(r * size - oy)
        shift = (size / 2 if offset and r % 2 else 0)
        for c in range(cols):
            x0 = int(c * size - ox - shift)
            ys = slice(max(0, y0), max(0, min(h, int(y0 + size))))
            xs = slice(max(0, x0), max(0, min(w, int(x0 + size))))
            if ys.stop > ys.start and xs.stop > xs.start:
                img[ys, xs] = vary(rng, base, 3)
    mottle = 1 + 0.04 * smooth_noise(rng, h, w, 10, 10) + 0.02 * smooth_noise(rng, h, w, 2, 2)
    img *= mottle[..., None]
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    lines = np.zeros((h, w), bool)
    lines |= ((yy + oy) % size) < gw
    if offset:
        row = np.floor((yy + oy) / size)
        lines |= ((xx + ox + (row % 2) * size / 2) % size) < gw
    else:
        lines |= ((xx + ox) % size) < gw
    img[lines] = grout
    return cv2.GaussianBlur(img, (0, 0), 0.6)


# ----------------------------------------------------------------------------------------------------- camera
def random_homography(rng, h: int, w: int, strength: float) -> np.ndarray:
    """Map a random quadrilateral inside the scene onto the whole frame: camera tilt, zoom and a little rotation."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(0, strength, (4, 2)) * np.float32([w, h])
    tilt = rng.uniform(-1, 1) * strength * 0.8  # one edge pulled in more than the other: perspective
    jitter[:2, 0] += max(0, tilt) * w
    jitter[2:, 0] += max(0, -tilt) * w
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    quad = src + inward * jitter
    return cv2.getPerspectiveTransform(quad.astype(np.float32), src)


def lighting(rng, h: int, w: int, knobs) -> np.ndarray:
    """Multiplicative light: a gradient from the window, a vignette and now and then a large soft shadow."""
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    ang = rng.uniform(0, 2 * np.pi)
    grad = (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)
    light = 1 + knobs.uneven_light * rng.uniform(0.2, 0.6) * grad
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
    light *= 1 - rng.uniform(0.05, 0.35) * r2
    if rng.random() < knobs.uneven_light * 0.5:
        sh, sw = max(8, h // 8), max(8, w // 8)  # a big soft blur is cheap at 1/8 size
        m = np.zeros((sh, sw), np.float32)
        cx, cy = rng.uniform(-0.2, 1.2) * sw, rng.uniform(-0.2, 1.2) * sh
        cv2.ellipse(m, (int(cx), int(cy)), (int(sw * rng.uniform(0.3, 0.7)), int(sh * rng.uniform(0.3, 0.7))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
        m = cv2.resize(cv2.GaussianBlur(m, (0, 0), 0.08 * max(sh, sw)), (w, h), interpolation=cv2.INTER_LINEAR)
        light *= 1 - rng.uniform(0.15, 0.4) * m
    return (light * rng.uniform(0.8, 1.1)).astype(np.float32)


def camera(rng, image: np.ndarray, knobs) -> np.ndarray:
    """Phone-camera look: white balance, light falloff, defocus or motion blur, sensor noise; returns uint8."""
    h, w = image.shape[:2]
    wb = np.float32([1 + rng.normal(0.04, 0.05), 1.0, 1 - rng.normal(0.04, 0.06)])  # indoor light is warm
    img = image * lighting(rng, h, w, knobs)[..., None] * wb
    r = rng.random()
    if r < 0.2 * knobs.blur:
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1),
                                (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    sigma = rng.uniform(0.3, 0.8 + 1.2 * knobs.blur)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    noise_sd = rng.uniform(1.5, 2 + 6 * knobs.noise)
    chroma = rng.standard_normal((max(1, h // 2), max(1, w // 2), 3), dtype=np.float32)  # blotchy, like phones
    img = img + noise_sd * rng.standard_normal((h, w), dtype=np.float32)[..., None] \
        + (noise_sd * 0.5) * cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img, 0, 255).astype(np.uint8)

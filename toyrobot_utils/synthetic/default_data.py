"""The built-in data set: generated "phone photos" of the five toy classes, for users (and CI) without photos.

The write-up's photos are private, so ``python -m toyrobot_utils make-data`` draws a stand-in with the same layout
(``data/<split>/<class>/*.jpg``, 100/30/15 images per class) and the same traps: duplos vs magnatiles (square,
solid colours), brios vs cars (wheels), small toys on large backgrounds, and a background/class correlation
(bananagrams mostly on the wood floor, duplos on the white table) for the Grad-CAM bias story.

Alongside the photos it writes each toy's mask (``data/masks/<split>/<class>/<stem>.png``, outside the class
folders so loaders never see them) and ``data/manifest.csv``. It never writes into a folder that already holds
photos: a user's own images are never overwritten or mixed with generated ones.

Determinism: every image is drawn from its own generator seeded by (seed, split, class, index), so the result is
byte-identical for any number of worker processes. Toy "identities" (a particular car, tile set, brick colours)
come from per-split pools, so, as in the write-up, validation and test toys are not the training toys.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from toyrobot_utils import config
from toyrobot_utils.files import read_json, write_json
from toyrobot_utils.images import MASKS, load_mask, mask_path_for  # noqa: F401 - masks are read there (Grad-CAM)
from toyrobot_utils.synthetic import toy_drawing as td
from toyrobot_utils.synthetic import toy_scene as ts

GENERATOR_VERSION = 1  # bump whenever a change alters the pixels, so an old set is not taken for the new one
DEFAULT_COUNTS = {"training": 100, "validation": 30, "test": 15}
MARKER = ".toyrobot-default-data.json"  # written last: its presence means "complete default set"
INCOMPLETE = ".toyrobot-default-data.incomplete"  # present only while files are being moved into place
MANIFEST = "manifest.csv"
SPLIT_IDS = {"training": 1, "validation": 2, "test": 3}

# The class each background is over-represented in (the write-up's own examples); see Knobs.background_bias.
PREFERRED_BACKGROUND = {"bananagrams": "wood_floor", "duplos": "white_table"}


@dataclasses.dataclass(frozen=True)
class Knobs:
    """Difficulty and bias knobs, tuned so that the write-up's baseline CNN lands near its 74.7 % (measured: about
    70 %) while a frozen ImageNet MobileNetV2 stays at 100 % (benchmarks/default_data_difficulty.py).

    background_bias: 0 = every class on every background equally; 1 = bananagrams always on the wood floor and
        duplos always on the white table. In between, the preferred background gets ``b + (1 - b) / 4``.
    small_objects: share of bananagrams and cars photographed from afar (toy small in a large frame).
    duplo_top_view: share of duplos seen straight from above: a solid-coloured square with circles, like a magnatile.
    magnatile_opacity: 0.3 = clear tinted plastic, 0.9 = nearly solid colour (more like a duplo).
    brio_train: share of brio photos with a wooden engine (with wheels) on the track: the brios-vs-cars trap.
    clutter: mean number of non-toy objects (socks, pencils, paper, cables, ...) per photo.
    partial_crop: share of photos where the toy runs off the frame.
    blur, noise, uneven_light: camera and room conditions, 0..1.
    perspective: how far the camera tilts away from straight down (fraction of the frame).
    """

    background_bias: float = 0.6
    small_objects: float = 0.25
    duplo_top_view: float = 0.15
    magnatile_opacity: float = 0.5
    brio_train: float = 0.15
    clutter: float = 0.4
    partial_crop: float = 0.1
    blur: float = 0.4
    noise: float = 0.4
    uneven_light: float = 0.6
    perspective: float = 0.08


class PhotosPresentError(FileExistsError):
    """``data_dir`` already holds images that are not the requested default set; nothing was written."""


# ------------------------------------------------------------------------------------------------ identities
def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


POOL_SIZES = {  # distinct physical toys per split: the write-up had few cars and magnatiles, many duplos and brios
    "bananagrams": {"training": 4, "validation": 2, "test": 2},
    "brios": {"training": 12, "validation": 5, "test": 4},
    "cars": {"training": 14, "validation": 6, "test": 5},
    "duplos": {"training": 20, "validation": 8, "test": 6},
    "magnatiles": {"training": 5, "validation": 2, "test": 2},
}
TRANSLUCENT = ("red", "orange", "yellow", "green", "blue", "purple", "sky", "pink")


def _split_letters(seed: int, split: str) -> list[str]:
    """Bananagram letters are split between the splits (16/5/5): the test tiles are other tiles."""
    letters = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    order = _rng(seed, 99, _crc("letters")).permutation(26)
    cut = {"training": (0, 16), "validation": (16, 21), "test": (21, 26)}[split]
    return [letters[i] for i in order[cut[0]:cut[1]]]


def make_identity(cls: str, split: str, k: int, seed: int) -> dict:
    """The fixed look of toy number ``k`` of ``split``'s pool: same seed, same toy in every photo of it."""
    rng = _rng(seed, 77, _crc(cls), SPLIT_IDS[split], k)
    if cls == "bananagrams":
        return {"letters": _split_letters(seed, split), "cream": ts.vary(rng, (236, 226, 198), 6),
                "ink": ts.vary(rng, (35, 32, 35), 8), "font": int(rng.integers(2)), "weight": rng.uniform(0.07, 0.11)}
    if cls == "brios":
        return {"wood": ts.vary(rng, (222, 188, 140), 10), "groove": rng.uniform(0.72, 0.85),
                "length": rng.uniform(2.8, 5.5), "radius": rng.uniform(2.2, 3.5), "span": rng.uniform(35, 75),
                "width_frac": rng.uniform(0.17, 0.23), "curved_share": rng.uniform(0.2, 0.6)}
    if cls == "cars":
        palette = list(td.PLASTIC.values()) + [(185, 185, 192), (35, 35, 40), (235, 235, 232), (120, 20, 30)]
        return {"shape": str(rng.choice(list(td.CAR_SHAPES))),
                "color": ts.vary(rng, palette[rng.integers(len(palette))], 15),
                "height": rng.uniform(0.9, 1.15), "wheel": rng.uniform(0.085, 0.11),
                "hub": ts.vary(rng, [(190, 190, 195), (200, 170, 60), (40, 40, 40)][rng.integers(3)], 8),
                "glass": ts.vary(rng, (110, 140, 165), 15), "stripe": bool(rng.random() < 0.35),
                "stripe_color": ts.vary(rng, [(245, 245, 245), (20, 20, 20), (240, 200, 30)][rng.integers(3)], 5)}
    if cls == "duplos":
        names = rng.choice(list(td.PLASTIC), size=int(rng.integers(1, 5)), replace=False)
        return {"colors": [ts.vary(rng, td.PLASTIC[n], 8) for n in names]}
    if cls == "magnatiles":
        names = rng.choice(TRANSLUCENT, size=int(rng.integers(3, 6)), replace=False)
        return {"colors": [ts.vary(rng, td.PLASTIC[n], 10) for n in names], "square_share": rng.uniform(0.4, 0.8)}
    raise ValueError(f"no drawing for class {cls!r}; the default set has {config.DEFAULT_CLASSES}")


# --------------------------------------------------------------------------------------------------- drawing
ASPECTS = (4 / 3, 3 / 4, 1.0, 16 / 9, 9 / 16, 3 / 2, 2 / 3)


def _rotate_parts(parts, degrees):
    """Turn a whole group (offsets and angles) the way cv2 turns a sprite: counter-clockwise on screen."""
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    return [(sp, dx * c + dy * s, -dx * s + dy * c, a + degrees) for sp, dx, dy, a in parts]


def render(cls: str, split: str, index: int, seed: int, knobs: Knobs, size_scale: float = 1.0, *,
           background: str | None = None):
    """Draw one photo; returns (uint8 RGB image, uint8 mask 0/255, manifest fields).

    ``background``: the same photo (toy, pose, clutter, light, camera, mask) on another surface, to measure how
    much a model relies on the background (``bias.background_swap``). The photo's own background is still drawn
    from its stream, so every later draw is unchanged; the replacement comes from a generator of its own, so even
    ``background=<its own>`` gives another texture of that surface. ``info["background"]`` names the one shown.
    Opaque toys keep their pixels; a translucent magnatile shows the new surface through it, as a real one would.
    """
    if background is not None and background not in ts.BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose from {ts.BACKGROUNDS}")
    rng = _rng(seed, SPLIT_IDS[split], _crc(cls), index)
    swap_rng = None if background is None else _rng(seed, 55, SPLIT_IDS[split], _crc(cls), index, _crc(background))
    long_side = rng.uniform(380, 560) * size_scale  # phone photos, pre-shrunk: training uses 128 or 224 px
    aspect = ASPECTS[rng.integers(len(ASPECTS))]
    w, h = (int(long_side), int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), int(long_side))
    short = min(w, h)
    bias = knobs.background_bias + (1 - knobs.background_bias) / len(ts.BACKGROUNDS)
    if cls in PREFERRED_BACKGROUND and rng.random() < bias:
        drawn = PREFERRED_BACKGROUND[cls]
    else:
        others = [b for b in ts.BACKGROUNDS if b != PREFERRED_BACKGROUND.get(cls)]
        drawn = others[rng.integers(len(others))] if cls in PREFERRED_BACKGROUND else \
            ts.BACKGROUNDS[rng.integers(len(ts.BACKGROUNDS))]
    k = int(rng.integers(POOL_SIZES[cls][split]))
    identity = make_identity(cls, split, k, seed)
    small = cls in ("bananagrams", "cars") and rng.random() < knobs.small_objects
    frac = {"bananagrams": (0.2, 0.35) if small else (0.45, 0.8), "cars": (0.3, 0.45) if small else (0.6, 0.9),
            "brios": (0.6, 1.0), "duplos": (0.6, 0.9), "magnatiles": (0.6, 0.9)}[cls]
    for attempt in range(6):  # re-place when the toy ends up (almost) out of frame
        surface = ts.draw_background(drawn, rng, h, w)  # always drawn: keeps the photo's random stream
        if swap_rng is not None:
            surface = ts.draw_background(background, swap_rng, h, w)
        scene = ts.Scene(surface,
                         light=(rng.uniform(-0.06, 0.06), rng.uniform(0.0, 0.08)), shadow=rng.uniform(0.2, 0.5))
        n_clutter = int(rng.poisson(knobs.clutter))
        late = [rng.random() < 0.25 for _ in range(n_clutter)]
        for i in range(n_clutter):
            if not late[i]:
                ts.place(scene, td.clutter_sprite(rng, short * rng.uniform(0.12, 0.35)), rng.uniform(0, w),
                         rng.uniform(0, h), rng.uniform(0, 360), is_toy=False)
        size = short * rng.uniform(*frac)
        parts = td.DRAW[cls](rng, identity, size, knobs)
        if cls == "bananagrams":
            parts = _rotate_parts(parts, rng.uniform(-40, 40) + (180 if rng.random() < 0.2 else 0))
        cropped = rng.random() < knobs.partial_crop
        lo, hi = (0.08, 0.92) if cropped else (0.32, 0.68)
        gx, gy = rng.uniform(lo, hi) * w, rng.uniform(lo, hi) * h
        for sprite, dx, dy, angle in parts:
            ts.place(scene, sprite, gx + dx, gy + dy, angle)
        for i in range(n_clutter):
            if late[i]:
                ts.place(scene, td.clutter_sprite(rng, short * rng.uniform(0.12, 0.3)), rng.uniform(0, w),
                         rng.uniform(0, h), rng.uniform(0, 360), is_toy=False)
        hom = ts.random_homography(rng, h, w, knobs.perspective)
        image = _warp(scene.image, hom, w, h, nearest=False)
        mask = _warp((scene.mask > 0.5).astype(np.uint8) * 255, hom, w, h, nearest=True)
        fraction = float((mask > 0).mean())
        in_frame = float((scene.mask > 0.5).sum()) / max(scene.toy_area, 1.0)
        if 0.003 < fraction < 0.97 and in_frame > 0.45:
            break
    image = ts.camera(rng, image, knobs)
    info = {"background": background or drawn, "identity": f"{cls}-{split}-{k:02d}", "toy_count": len(parts),
            "object_fraction": round(fraction, 4), "small": small, "cropped": cropped, "clutter": n_clutter,
            "width": w, "height": h, "jpeg_quality": int(rng.integers(60, 93))}
    return image, mask, info


def _warp(arr, hom, w, h, nearest):
    """The camera's perspective, applied to the scene (linear) or to the mask (nearest: stays 0/255)."""
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpPerspective(arr, hom, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT)


def _image_name(cls: str, index: int) -> str:
    return f"{cls}_{index:03d}"


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only fight over the same cores


def _render_task(task) -> dict:
    """Worker: draw one photo and write its JPEG and mask under ``root``; returns its manifest row."""
    root, split, cls, index, seed, knobs, size_scale = task
    image, mask, info = render(cls, split, index, seed, knobs, size_scale)
    stem = _image_name(cls, index)
    rel_img = Path(split) / cls / f"{stem}.jpg"
    rel_mask = Path(MASKS) / split / cls / f"{stem}.png"
    for rel in (rel_img, rel_mask):
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(Path(root) / rel_img, "JPEG", quality=info["jpeg_quality"], subsampling=2)
    Image.fromarray(mask, "L").save(Path(root) / rel_mask, "PNG")
    return {"file": rel_img.as_posix(), "class": cls, "split": split, "index": index, "seed": seed, **info,
            "mask": rel_mask.as_posix()}


# ------------------------------------------------------------------------------------------- folder handling
def _image_files(data_dir: Path) -> list[Path]:
    """Every image file anywhere under ``data_dir`` (relative paths, sorted)."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in files:
            if Path(name).suffix.lower() in config.IMAGE_EXTENSIONS:
                found.append((Path(root) / name).relative_to(data_dir))
    return sorted(found)


def has_photos(data_dir: str | Path = config.DATA_DIR) -> bool:
    """True when any image file lies anywhere under ``data_dir`` (its README and other files do not count)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return False
    for root, _, files in os.walk(data_dir):
        if any(Path(n).suffix.lower() in config.IMAGE_EXTENSIONS for n in files):
            return True
    return False


def expected_files(counts: dict, classes) -> set[Path]:
    """The images (photos and masks) a complete default set with these counts consists of."""
    out = set()
    for split, n in counts.items():
        for cls in classes:
            for i in range(n):
                out.add(Path(split) / cls / f"{_image_name(cls, i)}.jpg")
                out.add(Path(MASKS) / split / cls / f"{_image_name(cls, i)}.png")
    return out


def _settings(seed, counts, classes, knobs, size_scale) -> dict:
    return {"generator": "toyrobot_utils.synthetic.default_data", "version": GENERATOR_VERSION, "seed": int(seed),
            "counts": {k: int(v) for k, v in counts.items()}, "classes": list(classes),
            "knobs": dataclasses.asdict(knobs), "size_scale": float(size_scale)}


def read_marker(data_dir: str | Path) -> dict | None:
    """The settings a default set in ``data_dir`` was made with, or None if it holds no complete default set."""
    if (Path(data_dir) / INCOMPLETE).exists():
        return None
    return read_json(Path(data_dir) / MARKER)


def _is_exact_default_set(data_dir: Path, settings: dict | None = None) -> bool:
    """True when ``data_dir`` holds a complete default set and no other image (of ``settings``, when given)."""
    marker = read_marker(data_dir)
    if marker is None or (settings is not None and marker != settings):
        return False
    files = set(_image_files(data_dir))
    return files == expected_files(marker["counts"], marker["classes"]) and (data_dir / MANIFEST).is_file()


def _remove_default_set(data_dir: Path) -> None:
    """Delete a complete default set (only its own files; anything else in the folder stays)."""
    marker = read_marker(data_dir)
    for rel in expected_files(marker["counts"], marker["classes"]):
        (data_dir / rel).unlink(missing_ok=True)
    for name in (MANIFEST, MARKER):
        (data_dir / name).unlink(missing_ok=True)
    for root, dirs, files in sorted(os.walk(data_dir), key=lambda t: -len(t[0])):
        if root != str(data_dir) and not os.listdir(root):
            os.rmdir(root)


def _move_into_place(tmp: Path, data_dir: Path) -> None:
    """Move every generated file into ``data_dir`` (same file system: renames), the marker last.

    ``data_dir`` may already hold the README and empty class folders; nothing existing is overwritten.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / INCOMPLETE).write_text("make-data is moving files here; if you see this, it was interrupted\n")
    for root, _, files in os.walk(tmp):
        for name in sorted(files):
            if name == MARKER:
                continue
            src = Path(root) / name
            dst = data_dir / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                raise PhotosPresentError(f"{dst} already exists; not overwriting it")
            os.replace(src, dst)
    os.replace(tmp / MARKER, data_dir / MARKER)
    (data_dir / INCOMPLETE).unlink()


def _clean_stale_tmp(data_dir: Path) -> None:
    """Remove temporary folders left by interrupted runs (their process is gone)."""
    for old in data_dir.parent.glob(f".{data_dir.name}.generating-*"):
        try:
            pid = int(old.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


# ------------------------------------------------------------------------------------------------- public API
def generate(data_dir: str | Path = config.DATA_DIR, *, seed: int = 0, counts: dict | None = None,
             classes=config.DEFAULT_CLASSES, background_bias: float = Knobs.background_bias, workers: int = 2,
             knobs: Knobs | dict | None = None, size_scale: float = 1.0, replace_default: bool = False,
             progress: bool = False) -> pd.DataFrame:
    """Generate the default data set into ``data_dir`` and return its manifest.

    Refuses (``PhotosPresentError``) when ``data_dir`` holds any image, unless it already is exactly this set
    (same seed, counts, classes and knobs), in which case the existing manifest is returned untouched.
    ``replace_default=True`` lets a *default* set made with other settings be replaced; user photos never are.
    ``size_scale`` < 1 draws smaller photos (tests). ``knobs`` overrides ``Knobs`` fields; ``background_bias``
    is the most used one, so it has its own argument.
    """
    data_dir = Path(data_dir)
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    unknown = set(counts) - set(config.SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; use {config.SPLITS}")
    classes = tuple(classes)
    for cls in classes:
        if cls not in td.DRAW:
            raise ValueError(f"no drawing for class {cls!r}; the default set has {config.DEFAULT_CLASSES}")
    if isinstance(knobs, dict) or knobs is None:
        knobs = Knobs(**{"background_bias": background_bias, **(knobs or {})})
    if seed < 0:
        raise ValueError("seed must be >= 0")
    settings = _settings(seed, counts, classes, knobs, size_scale)

    if (data_dir / INCOMPLETE).exists():
        raise PhotosPresentError(
            f"{data_dir} holds a default data set whose installation was interrupted ({INCOMPLETE} is there). "
            f"Delete {data_dir}/training, validation, test, masks and {MANIFEST}, then run make-data again.")
    if has_photos(data_dir):
        if _is_exact_default_set(data_dir, settings):
            return pd.read_csv(data_dir / MANIFEST)
        if replace_default and _is_exact_default_set(data_dir):
            _remove_default_set(data_dir)
        else:
            raise PhotosPresentError(_refusal_message(data_dir, settings))

    _clean_stale_tmp(data_dir)
    tmp = data_dir.parent / f".{data_dir.name}.generating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tasks = [(str(tmp), split, cls, i, int(seed), knobs, float(size_scale))
                 for split, n in counts.items() for cls in classes for i in range(n)]
        rows = []
        start = time.perf_counter()
        if workers > 1 and len(tasks) > 8:
            # spawn, not fork: forking a process whose OpenCV or TensorFlow thread pools are running can hang
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_worker_init) as pool:
                for row in pool.map(_render_task, tasks, chunksize=8):
                    rows.append(row)
                    if progress and len(rows) % 100 == 0:
                        print(f"  {len(rows)}/{len(tasks)} images ({time.perf_counter() - start:.0f} s)", flush=True)
        else:
            rows = [_render_task(t) for t in tasks]
        manifest = pd.DataFrame(rows)
        manifest.to_csv(tmp / MANIFEST, index=False, lineterminator="\n")
        write_json(tmp / MARKER, settings)
        _move_into_place(tmp, data_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _refusal_message(data_dir: Path, settings: dict) -> str:
    files = _image_files(data_dir)
    marker = read_marker(data_dir)
    head = f"{data_dir} already holds {len(files)} image file(s), e.g. {data_dir / files[0]}."
    if marker is not None and _is_exact_default_set(data_dir):
        diff = {k: (marker.get(k), v) for k, v in settings.items() if marker.get(k) != v}
        return (f"{head}\nIt is a default data set made with other settings ({', '.join(diff)} differ: "
                f"{ {k: d[0] for k, d in diff.items()} }). Use --replace-default to replace it, or --data-dir "
                f"to generate elsewhere.")
    return (f"{head}\nmake-data only writes into a folder without photos, so your images are never overwritten "
            f"or mixed with generated ones. Use them as they are, or pass --data-dir to generate elsewhere.")


def collage(data_dir: str | Path = config.DATA_DIR, per_class: int = 6,
            path: str | Path | None = config.FIGURES_DIR / "default_data_collage.png", split: str = "training"):
    """A grid of sample photos, one row per class (labelled), saved to ``path`` (None: not saved)."""
    # Here, not at the top: matplotlib costs every spawned generator process a second, and only the collage draws.
    from toyrobot_utils.figures import new_figure

    data_dir = Path(data_dir)
    classes = sorted(p.name for p in (data_dir / split).iterdir() if p.is_dir())
    fig = new_figure(figsize=(2.2 * per_class, 2.2 * len(classes)), layout="tight")
    axes = fig.subplots(len(classes), per_class, squeeze=False)
    for r, cls in enumerate(classes):
        files = sorted(f for f in (data_dir / split / cls).iterdir() if f.suffix.lower() in config.IMAGE_EXTENSIONS)
        for c in range(per_class):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(files):
                with Image.open(files[c]) as img:
                    img.thumbnail((320, 320))
                    ax.imshow(np.asarray(img.convert("RGB")))
                ax.set_title(cls, fontsize=10)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(cls, fontsize=12)
    fig.suptitle(f"{data_dir.name}/{split}: {per_class} samples per class", fontsize=13)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    return fig


def run(args) -> int:
    """``toyrobot make-data`` (options in ``__main__``): exit 0 when the set was made or already there, 1 when
    refused, 2 for an unknown knob."""
    knobs = {"background_bias": args.background_bias}
    for item in args.knob:
        name, _, value = item.partition("=")
        if name not in {f.name for f in dataclasses.fields(Knobs)}:
            print(f"error: unknown knob {name!r}; the knobs are {', '.join(f.name for f in dataclasses.fields(Knobs))}",
                  file=sys.stderr)
            return 2
        knobs[name] = float(value)
    data_dir = args.data_dir
    if has_photos(data_dir):
        settings = _settings(args.seed, DEFAULT_COUNTS, config.DEFAULT_CLASSES, Knobs(**knobs), 1.0)
        if _is_exact_default_set(data_dir, settings):
            print(f"Default data set already there in {data_dir} (seed {args.seed}); nothing to do.")
            return 0
        if args.if_empty and not (args.replace_default and _is_exact_default_set(data_dir)):
            print(f"{data_dir} already has photos; using them as they are (nothing generated).")
            return 0
    start = time.perf_counter()
    print(f"Generating the default data set into {data_dir} (seed {args.seed}) ...", flush=True)
    try:
        manifest = generate(data_dir, seed=args.seed, knobs=knobs, workers=args.workers,
                            replace_default=args.replace_default, progress=True)
    except PhotosPresentError as err:
        print(f"make-data refused: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {len(manifest)} photos, their masks and {MANIFEST} in {time.perf_counter() - start:.1f} s.")
    if not args.no_collage:
        collage(data_dir, path=args.collage)
        print(f"Sample collage: {args.collage}")
    return 0

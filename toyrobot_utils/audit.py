"""Check a data folder before training: clear errors for what cannot work, a findings table for everything else.

A phone-photo data set always holds surprises (a ``.DS_Store``, a half-copied JPEG, an iPhone HEIC, a photo that
ended up in both training and test). ``audit`` looks at every file once and decides, per file, whether the pipeline
may use it, so that training never dies mid-epoch on a bad file and nothing is silently relabelled. It only reads:
it never modifies, moves or deletes anything in the data folder.

Fatal problems raise ``DataSetError`` (message names the folders and the fix); the rest is reported and skipped.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from toyrobot_utils import config, images, stats
from toyrobot_utils.files import UnsafeNameError, check_folder_name

COLUMNS = ["split", "class", "file", "size", "mode", "status", "problem"]
DUPLICATE_COLUMNS = ["file_a", "file_b", "distance"]
OK, SKIPPED = "ok", "skipped"

# Near-duplicates: 256-bit perceptual hash (pHash, hash_size 16) and the Hamming distance at or below which two
# photos count as the same shot. Measured on the clothing5 photos: re-saved, half-size + quality-60 or 15 %-brighter
# copies land at 0-8 bits, while the closest two *different* photos (dark trousers on a light bed, say) are 60 apart.
# The common 64-bit pHash put such different photos only 4-6 bits apart, so it would cry wolf on real phone photos.
PHASH_SIZE = 16
DUPLICATE_MAX_DISTANCE = 20
# A split is imbalanced when its largest class has more than this many times the images of its smallest.
IMBALANCE_RATIO = 1.5
# Size the audit decodes at when nobody asked for pipeline-sized arrays: enough for the hash, cheap with JPEG draft.
_HASH_DECODE_SIZE = (64, 64)
_EXIF_ORIENTATION = 0x0112
_HEIF_EXTENSIONS = frozenset({".heic", ".heif"})


class DataSetError(ValueError):
    """The data folder cannot be trained on as it is; the message names the path(s) and says how to fix it."""


@dataclass
class AuditReport:
    """What ``audit`` found: one table row per file, the class list and the warnings worth reading."""

    table: pd.DataFrame
    class_names: list[str]
    warnings: list[str]
    duplicates: pd.DataFrame
    data_dir: Path | None = None
    splits: tuple[str, ...] = ()
    # Decoded arrays kept for the pipeline when the audit was asked to decode at the pipeline's size (``array_size``),
    # so every photo is decoded once: {(path, (height, width)): uint8 array}. data.load_split takes them as it goes.
    decoded: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # The perceptual hash of every usable photo when the duplicate check ran: {path: uint64 words}. Compare two with
    # ``near_duplicate_pairs``; ``splitting`` keeps the near-duplicates of a plain folder in one split with them.
    phashes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def class_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.class_names)}

    def usable_files(self, split: str) -> list[tuple[Path, int]]:
        """(file, class index) of every file the pipeline may read, sorted by class then filename."""
        if self.splits and split not in self.splits:
            raise ValueError(f"split {split!r} was not audited; the report covers {list(self.splits)}")
        index = self.class_index()
        rows = self.table[(self.table["split"] == split) & (self.table["status"] == OK)]
        items = [(Path(f), index[c]) for f, c in zip(rows["file"], rows["class"])]
        return sorted(items, key=lambda item: (item[1], _sort_key(item[0])))

    def skipped(self) -> pd.DataFrame:
        return self.table[self.table["status"] == SKIPPED]

    def counts(self) -> pd.DataFrame:
        """Usable images per split (rows) and class (columns), with totals and skipped counts."""
        ok = self.table[self.table["status"] == OK]
        counts = pd.crosstab(ok["split"], ok["class"]).reindex(
            index=list(self.splits), columns=self.class_names, fill_value=0
        )
        counts["total"] = counts.sum(axis=1)
        skipped = self.skipped()["split"].value_counts()
        counts["skipped"] = [int(skipped.get(s, 0)) for s in counts.index]
        counts.index.name = None
        counts.columns.name = None
        return counts

    def summary(self) -> str:
        """Human-readable findings: counts per split and class, every skipped file with its reason, the warnings."""
        lines = [
            f"Data set {config.shown_path(self.data_dir)}: {len(self.class_names)} classes "
            f"({', '.join(self.class_names)}), class indices {self.class_index()}",
            "",
            self.counts().to_string(),
            "",
        ]
        skipped = self.skipped()
        if skipped.empty:
            lines.append(f"All {len(self.table)} files are usable.")
        else:
            lines.append(
                f"{len(skipped)} of {len(self.table)} files skipped (left where they are; the pipeline ignores them):"
            )
            lines += [f"  {self._rel(f)}: {p}" for f, p in zip(skipped["file"], skipped["problem"])]
        other = [w for w in self.warnings if not w.startswith(_SKIP_WARNING_PREFIX)]
        if other:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in other]
        return "\n".join(lines)

    def _rel(self, path: Path) -> str:
        return _relative(path, self.data_dir)

    def __str__(self) -> str:
        return self.summary()


_SKIP_WARNING_PREFIX = "skipped "


def audit(data_dir=config.DATA_DIR, splits=config.SPLITS, check_duplicates: bool = True, *,
          array_size: tuple[int, int] | None = None, max_pixels: int | None = None) -> AuditReport:
    """Check ``data_dir/<split>/<class>/`` and return the findings; raise ``DataSetError`` if it cannot be used.

    Classes come from the training split's folder names (sorted, as Keras does); every other split must have the
    same class folders. Anything beside the split folders (``masks/``, ``manifest.csv``, a README) is ignored.
    ``array_size`` (height, width) keeps every usable photo decoded at that size in ``report.decoded``, for the
    pipeline (``data.load_split``): each photo is then decoded once. A photo that would need more than
    ``max_pixels`` pixels decoded (default ``config.MAX_IMAGE_PIXELS``; JPEGs are decoded scaled down) is skipped
    with its size and the limit.
    """
    data_dir = Path(data_dir)
    splits = tuple(splits)
    if not splits:
        raise ValueError("splits is empty; pass the split folder names, e.g. ('training', 'validation', 'test')")
    class_names = _check_layout(data_dir, splits)
    entries = _list_files(data_dir, splits, class_names)

    decode_size = tuple(int(s) for s in array_size) if array_size is not None else _HASH_DECODE_SIZE
    with ThreadPoolExecutor(max_workers=worker_threads()) as pool:
        results = list(pool.map(lambda e: _inspect(e[2], e[1] != "", decode_size, check_duplicates, max_pixels),
                                entries))

    rows, hashes, report_arrays = [], {}, {}
    for (split, cls, path), result in zip(entries, results):
        status = OK if not result.problem else SKIPPED
        rows.append((split, cls, path, result.size, result.mode, status, result.problem))
        if status == OK:
            if result.phash is not None:
                hashes[path] = (split, result.phash)
            if array_size is not None:
                report_arrays[(path, decode_size)] = result.array
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["file"] = table["file"].astype(object)

    report = AuditReport(
        table=table,
        class_names=class_names,
        warnings=[],
        duplicates=pd.DataFrame(columns=DUPLICATE_COLUMNS),
        data_dir=data_dir,
        splits=splits,
    )
    _check_usable(report)
    if check_duplicates:
        report.duplicates = _find_duplicates(hashes, splits)
    report.warnings = _warnings(report)
    report.decoded.update(report_arrays)
    report.phashes.update({path: phash for path, (_, phash) in hashes.items()})
    return report


# --- layout -----------------------------------------------------------------------------------------------------


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not _is_hidden(p.name))


def _check_layout(data_dir: Path, splits: tuple[str, ...]) -> list[str]:
    """Fatal structure problems, checked before any photo is opened; returns the class names."""
    layout_hint = (
        f"Expected layout: {data_dir}/<split>/<class>/<photo>.jpg for the splits {', '.join(splits)}, "
        "with the same class folders in every split."
    )
    if not data_dir.is_dir():
        what = "is a file, not a folder" if data_dir.exists() else "does not exist"
        raise DataSetError(
            f"Data folder {data_dir} {what}. {layout_hint} Put your photos there, run "
            "`python -m toyrobot_utils make-data` to generate the built-in toy data set, or point the "
            "TOYROBOT_DATA_DIR environment variable (or the data_dir argument) at your data folder."
        )
    missing = [data_dir / s for s in splits if not (data_dir / s).is_dir()]
    if missing:
        present = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not _is_hidden(p.name))
        raise DataSetError(
            "Missing split folder(s): "
            + ", ".join(str(p) for p in missing)
            + f". {layout_hint} Create them and move a share of each class's photos into them"
            + (f" (folders found in {data_dir}: {', '.join(present)})." if present else ".")
            + (
                " For the built-in toy data set, run `python -m toyrobot_utils make-data`."
                if len(missing) == len(splits)
                else ""
            )
        )
    folders = {s: _class_folders(data_dir / s) for s in splits}
    empty = [s for s in splits if not folders[s]]
    if empty:
        details = []
        for s in empty:
            loose = [p for p in (data_dir / s).iterdir() if p.is_file() and not _is_hidden(p.name)]
            extra = f" (it holds {len(loose)} loose file(s) but no sub-folders)" if loose else ""
            details.append(f"{data_dir / s}{extra}")
        raise DataSetError(
            "No class folders in: "
            + "; ".join(details)
            + ". Put each class's photos in a sub-folder named after the class, e.g. "
            f"{data_dir / empty[0]}/bananagrams/photo.jpg; the folder names become the class names."
        )
    reference = "training" if "training" in splits else splits[0]
    class_names = folders[reference]
    for name in class_names:
        try:
            check_folder_name(name, f"the folder {data_dir / reference / name}")
        except UnsafeNameError as err:
            raise DataSetError(str(err)) from None
        if name.lower() in config.RESERVED_CLASS_NAMES:
            raise DataSetError(f"The class folder {data_dir / reference / name} is named {name!r}, a name the robot's "
                               "sorter uses itself (the bin for unsure photos, or its log); rename that folder in "
                               "every split (e.g. to 'other').")
    problems = []
    for s in splits:
        missing_classes = sorted(set(class_names) - set(folders[s]))
        extra_classes = sorted(set(folders[s]) - set(class_names))
        if missing_classes or extra_classes:
            parts = []
            if missing_classes:
                parts.append("missing " + ", ".join(repr(c) for c in missing_classes))
            if extra_classes:
                parts.append("extra " + ", ".join(repr(c) for c in extra_classes))
            problems.append(f"  {data_dir / s}: {'; '.join(parts)}")
    if problems:
        raise DataSetError(
            f"Class folders differ between splits (the classes come from {data_dir / reference}: "
            f"{', '.join(class_names)}):\n"
            + "\n".join(problems)
            + "\nRename, add or remove class folders so that every split has exactly the same ones; otherwise the "
            "same class index would mean different toys in different splits."
        )
    return class_names


def _sort_key(path: Path) -> str:
    return str(path)


def _list_files(data_dir: Path, splits, class_names) -> list[tuple[str, str, Path]]:
    """(split, class, path) of every file to judge: all files in class folders, plus loose files in split folders."""
    entries = []
    for split in splits:
        split_dir = data_dir / split
        for p in sorted(split_dir.iterdir()):
            if p.is_file():
                entries.append((split, "", p))
        for cls in class_names:
            class_dir = split_dir / cls
            found = []
            for root, dirs, files in os.walk(class_dir):
                dirs[:] = sorted(d for d in dirs if not _is_hidden(d))  # .ipynb_checkpoints and the like
                found += [Path(root) / f for f in files]
            entries += [(split, cls, p) for p in sorted(found, key=_sort_key)]
    return entries


def worker_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


# --- one file ---------------------------------------------------------------------------------------------------


@dataclass
class _FileResult:
    size: str = ""
    mode: str = ""
    problem: str = ""
    phash: np.ndarray | None = None
    array: np.ndarray | None = None


def _heic_advice(path: Path) -> str:
    heic, jpg = path.name, path.with_suffix(".jpg").name
    return (
        f"convert it to JPEG in its folder with `heif-convert '{heic}' '{jpg}'` (Linux, package libheif-examples) "
        f"or `sips -s format jpeg '{heic}' --out '{jpg}'` (macOS), then move the .heic out of the data folder "
        "(iPhones shoot JPEG with Settings > Camera > Formats > Most Compatible)"
    )


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return printable / len(head) > 0.95


def _text_problem(ext: str) -> str:
    return (f"not an image: the file contains text, despite its {ext} extension; replace it with the real photo or "
            "move it out of the data folder")


def check_photo(path: str | Path, image_size: tuple[int, int],
                max_pixels: int | None = None) -> tuple[np.ndarray | None, str]:
    """One photo outside a data folder (the robot's ``predict``/``sort``): (uint8 array at ``image_size``, "") or
    (None, the audit's reason it cannot be used), with the same checks and wording as a data-set audit.
    ``max_pixels``: the most pixels a photo may need decoded (``images.open_rgb``)."""
    result = _inspect(Path(path), True, tuple(image_size), False, max_pixels)
    if result.problem:  # "ignored" is the audit's verdict for a data folder; for a single photo it just fails
        return None, result.problem.removesuffix("; ignored")
    return result.array, ""


def _inspect(path: Path, in_class: bool, decode_size, want_hash: bool, max_pixels: int | None = None) -> _FileResult:
    """Decide whether the pipeline may read ``path``; decode it once (verifying every byte) if so."""
    name, ext = path.name, path.suffix.lower()
    result = _FileResult()
    if _is_hidden(name):
        result.problem = f"hidden system file ({name}), not a photo; ignored"
        return result
    if not in_class:
        kind = "photo" if ext in config.IMAGE_EXTENSIONS else "file"
        result.problem = (
            f"{kind} not inside a class folder; move it into {path.parent}/<class>/ if it should be used"
        )
        return result
    result.problem = _size_problem(path)
    if result.problem:
        return result
    if ext not in config.IMAGE_EXTENSIONS:
        fmt = _identify(path)
        if fmt:
            result.problem = (
                f"a {fmt} image, but its extension {ext or '(none)'!r} is not one the pipeline reads "
                f"({', '.join(sorted(config.IMAGE_EXTENSIONS))}); rename it, e.g. to {path.stem}.jpg, to use it"
            )
        else:
            result.problem = f"not an image file ({ext or 'no extension'}); ignored"
        return result
    is_heif = ext in _HEIF_EXTENSIONS
    if is_heif and _looks_like_text(path):
        result.problem = _text_problem(ext)
        return result
    if is_heif and not images.HEIF_SUPPORTED:
        result.problem = (
            f"HEIC/HEIF photo, but pillow-heif is not installed: `pip install pillow-heif`, or {_heic_advice(path)}"
        )
        return result
    try:
        with Image.open(path) as img:
            width, height = img.size
            result.mode = img.mode
            if img.format != "JPEG":  # not decoded scaled down (JPEG: open_rgb checks after its draft)
                images.check_pixels(img.size, max_pixels)  # before getexif, which decodes a whole PNG
            orientation = _orientation(img)
    except UnidentifiedImageError:
        if is_heif:
            result.problem = f"HEIC/HEIF photo that pillow-heif cannot read; {_heic_advice(path)}"
        elif _looks_like_text(path):
            result.problem = _text_problem(ext)
        else:
            result.problem = (
                f"not a readable {ext} image (unknown or damaged format); re-export or re-copy it from the original"
            )
        return result
    except Exception as err:  # noqa: BLE001 - any reader failure means "skip this file", with the reason
        result.problem = _decode_problem(path, err, is_heif)
        return result
    if orientation in (5, 6, 7, 8):  # stored sideways; the pipeline turns it upright
        width, height = height, width
    result.size = f"{width}x{height}"
    if min(width, height) < config.MIN_IMAGE_SIDE:
        result.problem = (
            f"too small ({width}x{height} px; photos need at least {config.MIN_IMAGE_SIDE} px per side to carry "
            "anything to learn); replace it with a larger photo"
        )
        return result
    try:
        array = images.load_array(path, decode_size, max_pixels)  # decodes every byte: truncation shows up here
    except Exception as err:  # noqa: BLE001
        result.problem = _decode_problem(path, err, is_heif)
        return result
    if want_hash:
        result.phash = _phash(array)
    result.array = array
    return result


def _size_problem(path: Path) -> str:
    """Why ``path`` cannot even be measured (a broken or looping link, no permission) or is empty; "" if fine."""
    try:
        n_bytes = path.stat().st_size
    except OSError as err:
        if path.is_symlink():
            return (f"a symbolic link that leads to no file ({err.strerror or err}: it points to a missing file or, "
                    "through other links, back to itself); remove it, or link it to the photo")
        return f"cannot be read ({err.strerror or err}); check the file's permissions"
    if n_bytes == 0:
        return "empty file (0 bytes), probably an interrupted copy; copy the photo again from its source"
    return ""


def _identify(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            return img.format
    except Exception:  # noqa: BLE001
        return None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not reject an otherwise good photo
        return 1


def _decode_problem(path: Path, err: Exception, is_heif: bool) -> str:
    if isinstance(err, images.TooManyPixelsError):
        return (f"too many pixels ({err}); resize it (a few thousand px per side is plenty), or raise the limit "
                "(--max-pixels, or the TOYROBOT_MAX_PIXELS environment variable)")
    if isinstance(err, Image.DecompressionBombError):
        return f"too many pixels to open safely ({err}); resize it to a normal photo size first"
    if is_heif:
        return f"HEIC/HEIF photo that pillow-heif cannot decode ({err}); {_heic_advice(path)}"
    return f"truncated or corrupt image ({err}); copy or export it again from the original photo"


def _phash(array: np.ndarray) -> np.ndarray:
    import imagehash  # imported here: only the duplicate check needs it (and scipy behind it)

    bits = imagehash.phash(Image.fromarray(array), hash_size=PHASH_SIZE).hash.flatten()
    return np.packbits(bits).view(">u8").astype(np.uint64)  # PHASH_SIZE**2 bits as 64-bit words


# --- whole data set ----------------------------------------------------------------------------------------------


def _relative(path, base) -> str:
    path = Path(path)
    try:
        return path.relative_to(base).as_posix() if base is not None else str(path)
    except ValueError:
        return str(path)


def _check_usable(report: AuditReport) -> None:
    """Fatal content problems, known only after every file was opened: nothing readable, or an empty class."""
    table, data_dir = report.table, report.data_dir
    ok = table[table["status"] == OK]
    if ok.empty:
        skipped = report.skipped()
        examples = "; ".join(
            f"{_relative(f, data_dir)}: {p}" for f, p in list(zip(skipped["file"], skipped["problem"]))[:5]
        )
        error = DataSetError(
            f"No readable image anywhere in {data_dir} ({len(table)} file(s) looked at"
            + (f", e.g. {examples}" if examples else "")
            + f"). Put photos ({', '.join(sorted(config.IMAGE_EXTENSIONS))}, at least {config.MIN_IMAGE_SIDE} px) "
            "into the class folders."
        )
        error.report = report
        raise error
    empty = []
    for split in report.splits:
        for cls in report.class_names:
            in_class = table[(table["split"] == split) & (table["class"] == cls)]
            if (in_class["status"] == OK).any():
                continue
            folder = data_dir / split / cls
            if in_class.empty:
                empty.append(f"  {folder}: no files")
            else:
                reasons = "; ".join(f"{Path(f).name}: {p}" for f, p in zip(in_class["file"], in_class["problem"]))
                empty.append(f"  {folder}: {len(in_class)} file(s), none usable ({reasons})")
    if empty:
        error = DataSetError(
            "Empty class folder(s); every class needs at least one readable photo in every split:\n"
            + "\n".join(empty)
            + "\nAdd photos to them, or remove that class's folder from every split."
        )
        error.report = report
        raise error


def _find_duplicates(hashes: dict[Path, tuple[str, np.ndarray]], splits) -> pd.DataFrame:
    """Pairs of near-identical photos in different splits (a test photo also seen in training inflates accuracy)."""
    by_split = {s: [(p, h) for p, (sp, h) in hashes.items() if sp == s] for s in splits}
    pairs = []
    for i, split_a in enumerate(splits):
        for split_b in splits[i + 1 :]:
            a, b = by_split[split_a], by_split[split_b]
            if not a or not b:
                continue
            ha, hb = np.stack([h for _, h in a]), np.stack([h for _, h in b])  # (n, words)
            pairs += [(a[ia][0], b[ib][0], d) for ia, ib, d in near_duplicate_pairs(ha, hb)]
    frame = pd.DataFrame(pairs, columns=DUPLICATE_COLUMNS)
    if not frame.empty:
        frame = frame.sort_values(["distance", "file_a", "file_b"], key=_path_sort_key).reset_index(drop=True)
    return frame


def near_duplicate_pairs(a: np.ndarray, b: np.ndarray, max_distance: int = DUPLICATE_MAX_DISTANCE):
    """(i, j, distance) for every row ``i`` of ``a`` and row ``j`` of ``b`` (stacked perceptual hashes: the values of
    ``AuditReport.phashes``, shape (n, words)) at most ``max_distance`` bits apart: the same shot."""
    pairs = []
    for start in range(0, len(a), 256):  # chunks keep the (n_a, n_b, words) XOR small
        chunk = a[start : start + 256]
        distance = np.bitwise_count(chunk[:, None, :] ^ b[None, :, :]).sum(axis=-1, dtype=np.int64)
        pairs += [(start + int(ia), int(ib), int(distance[ia, ib]))
                  for ia, ib in zip(*np.nonzero(distance <= max_distance))]
    return pairs


def _path_sort_key(series: pd.Series) -> pd.Series:
    return series.map(str) if series.dtype == object else series


def _links_outside(files, data_dir) -> list[tuple[Path, Path]]:
    """(file, where it really is) for files whose real location is outside the data folder (symbolic links)."""
    if data_dir is None:
        return []
    root = Path(data_dir).resolve()
    outside = []
    for f in files:
        real = Path(f).resolve()
        if not real.is_relative_to(root):
            outside.append((Path(f), real))
    return outside


def _warnings(report: AuditReport) -> list[str]:
    warnings = []
    table, data_dir = report.table, report.data_dir
    ok = table[table["status"] == OK]
    for split in report.splits:
        counts = ok[ok["split"] == split]["class"].value_counts().reindex(report.class_names, fill_value=0)
        largest, smallest = counts.idxmax(), counts.idxmin()
        if counts[smallest] and counts[largest] / counts[smallest] > IMBALANCE_RATIO:
            warnings.append(
                f"class imbalance in {split}: {largest} has {counts[largest]} images but {smallest} only "
                f"{counts[smallest]} ({counts[largest] / counts[smallest]:.1f}x); accuracy alone will flatter the "
                "model on the big classes. Add photos to the small classes or use class weights, and read the "
                "per-class accuracy."
            )
    warnings += [text for split in report.splits if split != "training"
                 for text in [small_split_warning(split, int((ok["split"] == split).sum()), len(report.class_names))]
                 if text]
    if not report.duplicates.empty:
        dup = report.duplicates
        listed = [
            f"{_relative(a, data_dir)} ~ {_relative(b, data_dir)} (distance {d})"
            for a, b, d in zip(dup["file_a"], dup["file_b"], dup["distance"])
        ]
        more = f"; and {len(listed) - 20} more (see report.duplicates)" if len(listed) > 20 else ""
        warnings.append(
            f"{len(dup)} near-duplicate photo pair(s) across splits: " + "; ".join(listed[:20]) + more + ". "
            "The same shot in training and validation/test inflates the measured accuracy; keep each shot in one "
            "split only (move or delete one copy yourself; the audit changes nothing)."
        )
    outside = _links_outside(ok["file"], data_dir)
    if outside:
        listed = [f"{_relative(f, data_dir)} -> {target}" for f, target in outside[:10]]
        more = f"; and {len(outside) - 10} more" if len(outside) > 10 else ""
        warnings.append(
            f"{len(outside)} photo(s) are symbolic links to files outside {data_dir}: " + "; ".join(listed) + more
            + ". They are used, but the data set then changes whenever those files do (and is incomplete on another "
            "machine); copy the photos into the data folder if that is not what you want."
        )
    skipped = report.skipped()
    if not skipped.empty:
        listed = [f"{_relative(f, data_dir)} ({p})" for f, p in zip(skipped["file"], skipped["problem"])]
        more = f"; and {len(listed) - 10} more" if len(listed) > 10 else ""
        warnings.append(
            f"{_SKIP_WARNING_PREFIX}{len(skipped)} file(s) the pipeline cannot use (left in place): "
            + "; ".join(listed[:10])
            + more
        )
    return warnings


def small_split_warning(split: str, photos: int, classes: int) -> str | None:
    """The warning for a validation or test split of ``photos`` photos whose 95 % interval at a typical accuracy is
    wider than ``stats.SMALL_SPLIT_WIDTH`` (``stats.too_small_to_compare``): how wide, what one photo is worth, and
    how many photos would halve the width (None: precise enough, or empty)."""
    if not stats.too_small_to_compare(photos):
        return None
    accuracy = stats.TYPICAL_ACCURACY
    width = stats.interval_width(photos, accuracy)
    halve = stats.photos_to_halve(photos, accuracy)
    more = halve - photos
    use = "choose between models and epochs" if split == "validation" else "measure the chosen model"
    fixed = (" The transfer recipe therefore trains for its whole epoch budget and keeps the last epoch instead of "
             "choosing one on these photos, and the number of training photos, not these, decides whether "
             "fine-tuning is kept." if split == "validation" else "")
    return (f"small {split} split: {photos} photos. An accuracy of about {100 * accuracy:.0f} % measured on them has "
            f"a 95 % interval {100 * width:.0f} points wide, and one photo moves it by {100 / photos:.1f} points, so "
            f"models closer than that cannot be told apart on it: it can only roughly {use}.{fixed} About {halve} "
            f"{split} photos ({more} more, about {-(-more // max(1, classes))} more per class) would halve that width.")


# --- command line -----------------------------------------------------------------------------------------------

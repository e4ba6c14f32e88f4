"""From a plain folder of photos (``PHOTOS/<class>/<photo>``) to the series' layout (``DATA/<split>/<class>/``).

A parent's photos come as one folder per class; the series wants them split into training, validation and test.
``plan_split`` makes that split the same way every time for the same photos and seed:

- **audited first** (``audit.audit`` on the plain folder as if it were one split): unreadable files are left out
  and listed, a folder that cannot work is refused with the audit's own message;
- **stratified**: about ``FRACTIONS`` (70/15/15) of every class, with at least ``MIN_HELD_OUT`` photos of each class
  in validation and in test, and at least ``MIN_TRAINING`` in training. A class with fewer photos than that is
  refused (``SplitError``, one line naming its folder and how many it needs);
- **near-duplicates together**: photos whose perceptual hashes are at most ``audit.DUPLICATE_MAX_DISTANCE`` bits
  apart (the audit's rule: the same shot re-saved, resized or a little brighter) are joined into groups (union-find,
  so a chain of near-duplicates is one group), and a group always lands in one split: no test answer leaks into
  training;
- **seeded**: the groups of each class are shuffled by ``seed`` and the class name, then the largest go first to the
  split furthest below its share.

``write_split`` writes the split as the series' layout, symbolic links to the photos (default) or copies, plus the
split record (JSON: photos folder, seed, fractions and every photo's split), into a new or empty folder only.
The user's photos are only read: never moved, renamed or modified. ``toyrobot split PHOTOS DATA`` is ``run``;
``toyrobot train`` uses the same ``plan_split`` and ``write_split``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toyrobot_utils import config
from toyrobot_utils.audit import DUPLICATE_MAX_DISTANCE, AuditReport, DataSetError, audit, near_duplicate_pairs
from toyrobot_utils.files import read_json, write_json

FRACTIONS = {"training": 0.70, "validation": 0.15, "test": 0.15}
MIN_HELD_OUT = 2  # photos of every class in validation and in test, at least
MIN_TRAINING = 2  # photos of every class in training, at least
MIN_PER_CLASS = MIN_TRAINING + 2 * MIN_HELD_OUT
MODES = ("link", "copy")
RECORD_NAME = "split.json"  # inside a folder written by `toyrobot split` (the audit ignores files beside the splits)
RECORD_KIND = "toyrobot split"
# Ties between splits equally far below their share go to the held-out splits first, so small classes fill them.
_FILL_ORDER = ("test", "validation", "training")


class SplitError(DataSetError):
    """The photos cannot be split as asked; the one-line message names the folder and the fix."""


# --------------------------------------------------------------------------------------------------------------------
# Which layout
# --------------------------------------------------------------------------------------------------------------------


def layout_of(photos: str | Path) -> str:
    """"series" when ``photos`` has any of the split folders (training/, validation/, test/), else "plain" (one
    sub-folder per class). Raises ``DataSetError`` when it is not a folder."""
    photos = Path(photos)
    if not photos.is_dir():
        what = "is a file, not a folder" if photos.exists() else "does not exist"
        raise DataSetError(f"Photos folder {photos} {what}: give a folder with one sub-folder of photos per class "
                           f"(e.g. {photos}/cars/photo.jpg), or the series' layout (training/, validation/, test/).")
    return "series" if any((photos / split).is_dir() for split in config.SPLITS) else "plain"


def audit_plain(photos: str | Path, *, array_size: tuple[int, int] | None = None) -> AuditReport:
    """The audit of a plain folder ``PHOTOS/<class>/``, as one split named after the folder (with the near-duplicate
    check, whose perceptual hashes ``report.phashes`` holds). Raises ``DataSetError`` when it cannot be used."""
    photos = Path(photos).resolve()
    if layout_of(photos) != "plain":
        raise DataSetError(f"{photos} is already split (it has {'/, '.join(config.SPLITS)}/ folders): use it as it "
                           "is, or give the folder with one sub-folder per class.")
    return audit(photos.parent, (photos.name,), check_duplicates=True, array_size=array_size)


# --------------------------------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class SplitPlan:
    """Which photo goes to which split. ``files``: {split: [photo, ...]} (absolute paths in the photos folder, sorted);
    ``groups``: the near-duplicate groups of two or more photos (each kept in one split); ``skipped``: {photo: why}
    for the files the audit left out."""

    photos_dir: Path
    seed: int
    class_names: list[str]
    files: dict[str, list[Path]]
    groups: list[list[Path]] = field(default_factory=list)
    skipped: dict[Path, str] = field(default_factory=dict)
    fractions: dict[str, float] = field(default_factory=lambda: dict(FRACTIONS))

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.photos_dir).as_posix()

    def split_of(self) -> dict[str, str]:
        """{relative photo path: split}."""
        return {self.relative(f): split for split, files in self.files.items() for f in files}

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {class: photos}}."""
        return {split: {cls: sum(1 for f in files if self.relative(f).split("/")[0] == cls)
                        for cls in self.class_names} for split, files in self.files.items()}

    def record(self) -> dict:
        """The split record (JSON): enough to see, and repeat, which photo went where."""
        return {
            "kind": RECORD_KIND,
            "photos_dir": str(self.photos_dir),
            "seed": int(self.seed),
            "fractions": dict(self.fractions),
            "min_held_out": MIN_HELD_OUT,
            "min_training": MIN_TRAINING,
            "duplicate_max_distance": DUPLICATE_MAX_DISTANCE,
            "class_names": list(self.class_names),
            "counts": self.counts(),
            "files": {split: [self.relative(f) for f in files] for split, files in self.files.items()},
            "near_duplicate_groups": [[self.relative(f) for f in group] for group in self.groups],
            "skipped": {self.relative(f): why for f, why in self.skipped.items()},
        }

    def summary(self) -> str:
        """A few lines: photos per class and split, the near-duplicate groups kept together, what was left out."""
        counts = self.counts()
        width = max(len(c) for c in [*self.class_names, "total"])
        lines = [f"  {'':<{width}}  " + "  ".join(f"{s:>10}" for s in config.SPLITS)]
        for cls in [*self.class_names, "total"]:
            row = [sum(counts[s].values()) if cls == "total" else counts[s][cls] for s in config.SPLITS]
            lines.append(f"  {cls:<{width}}  " + "  ".join(f"{n:>10}" for n in row))
        if self.groups:
            lines.append(f"{len(self.groups)} group(s) of near-duplicate photos ({sum(map(len, self.groups))} "
                         "photos) kept each in one split.")
        if self.skipped:
            shown = "; ".join(f"{self.relative(f)}: {why}" for f, why in list(self.skipped.items())[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            lines.append(f"{len(self.skipped)} file(s) left out (unusable): {shown}{more}")
        return "\n".join(lines)


def _union_find_groups(hashes: np.ndarray) -> list[int]:
    """The group (the smallest member's index) of every row of ``hashes``: rows at most DUPLICATE_MAX_DISTANCE bits
    apart are joined, and so are chains of them."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in near_duplicate_pairs(hashes, hashes):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(len(hashes))]


def _groups(report: AuditReport, split: str) -> list[tuple[str, list[Path]]]:
    """(home class, photos) per near-duplicate group, in a fixed order. A group's home class is the class most of
    its photos are in (the first such class on a tie); the whole group follows it."""
    usable = sorted(report.usable_files(split), key=lambda item: str(item[0]))
    if not usable:
        return []
    missing = [f for f, _ in usable if f not in report.phashes]
    if missing:
        raise ValueError(f"the audit report has no perceptual hash for {missing[0]}: audit with check_duplicates")
    roots = _union_find_groups(np.stack([report.phashes[f] for f, _ in usable]))
    members: dict[int, list[int]] = {}
    for i, r in enumerate(roots):
        members.setdefault(r, []).append(i)
    groups = []
    for indices in members.values():
        labels = [usable[i][1] for i in indices]
        home = max(sorted(set(labels)), key=labels.count)
        groups.append((report.class_names[home], [usable[i][0] for i in indices]))
    return groups


def targets(n: int, fractions=FRACTIONS) -> dict[str, int]:
    """Photos per split for a class of ``n``: about ``fractions``, at least MIN_HELD_OUT in validation and test."""
    held = {s: max(MIN_HELD_OUT, round(n * fractions[s])) for s in ("validation", "test")}
    return {"training": n - held["validation"] - held["test"], **held}


def _assign(groups: list[list[Path]], n: int, rng: np.random.Generator) -> dict[str, list[Path]]:
    """Groups of one class into splits: shuffled, then largest first, each to the split furthest below its share."""
    want = targets(n)
    order = sorted(rng.permutation(len(groups)).tolist(), key=lambda i: -len(groups[i]))  # stable: ties shuffled
    got = {s: [] for s in config.SPLITS}
    for i in order:
        split = max(_FILL_ORDER, key=lambda s: ((want[s] - len(got[s])) / max(want[s], 1), -_FILL_ORDER.index(s)))
        got[split] += groups[i]
    return got


def _too_few(photos_dir: Path, per_class: dict[str, list], counts: dict[str, int]) -> str | None:
    """The one-line refusal for classes with too few photos (or distinct shots), or None."""
    small = [f"{photos_dir / cls} has {counts[cls]} usable photo(s)"
             for cls in per_class if counts[cls] < MIN_PER_CLASS]
    if not small:
        return None
    return ("Too few photos to split: " + "; ".join(small) + f". Each class needs at least {MIN_PER_CLASS} "
            f"({MIN_TRAINING} for training, {MIN_HELD_OUT} for validation, {MIN_HELD_OUT} for test): add photos to "
            "it, or move that class folder out of the photos folder.")


def plan_split(photos: str | Path, *, seed: int = config.SEED, report: AuditReport | None = None) -> SplitPlan:
    """The split of a plain folder ``photos/<class>/`` (see the module's docstring). ``report``: its
    ``audit_plain`` when already made. Raises ``SplitError`` (or the audit's ``DataSetError``) with one line."""
    photos_dir = Path(photos).resolve()
    report = report if report is not None else audit_plain(photos_dir)
    split_name = photos_dir.name
    per_class: dict[str, list[list[Path]]] = {cls: [] for cls in report.class_names}
    for home, group in _groups(report, split_name):
        per_class[home].append(group)
    counts = {cls: sum(map(len, groups)) for cls, groups in per_class.items()}
    refusal = _too_few(photos_dir, per_class, counts)
    if refusal:
        raise SplitError(refusal)
    files = {s: [] for s in config.SPLITS}
    for cls, groups in per_class.items():
        rng = np.random.default_rng([int(seed), zlib.crc32(cls.encode("utf-8"))])
        got = _assign(groups, counts[cls], rng)
        short = [s for s, least in (("training", MIN_TRAINING), ("validation", MIN_HELD_OUT), ("test", MIN_HELD_OUT))
                 if len(got[s]) < least]
        if short:
            raise SplitError(
                f"{photos_dir / cls}: its {counts[cls]} photos are only {len(groups)} distinct shot(s) (near-duplicate "
                f"photos stay in one split), too few to put {MIN_HELD_OUT} in validation and in test and "
                f"{MIN_TRAINING} in training; it needs at least {MIN_PER_CLASS} distinct photos: add other shots.")
        for split in config.SPLITS:
            files[split] += got[split]
    skipped = report.skipped()
    return SplitPlan(
        photos_dir=photos_dir, seed=int(seed), class_names=list(report.class_names),
        files={s: sorted(f, key=str) for s, f in files.items()},
        groups=sorted((sorted(g, key=str) for gs in per_class.values() for g in gs if len(g) > 1),
                      key=lambda g: str(g[0])),
        skipped={Path(f): str(p) for f, p in zip(skipped["file"], skipped["problem"])},
    )


# --------------------------------------------------------------------------------------------------------------------
# Writing it
# --------------------------------------------------------------------------------------------------------------------


def _check_target(plan: SplitPlan, data_dir: Path, replace_links: bool) -> None:
    if data_dir.resolve().is_relative_to(plan.photos_dir):
        raise SplitError(f"{data_dir} is inside the photos folder {plan.photos_dir}, where it would become a class: "
                         "choose a folder outside it.")
    if data_dir.exists() and not data_dir.is_dir():
        raise SplitError(f"{data_dir} is a file: give a new or empty folder to write the split into.")
    if not data_dir.is_dir() or not any(data_dir.iterdir()):
        return
    if not replace_links:
        raise SplitError(f"{data_dir} is not empty: the split is written into a new or empty folder only (nothing "
                         "is overwritten); give another folder, or empty this one.")
    for root, _, names in os.walk(data_dir):  # never follows the links: they are listed as files
        for name in names:
            path = Path(root) / name
            if not path.is_symlink() and name != RECORD_NAME:
                raise SplitError(f"{data_dir} holds {path}, which is not a link of an earlier split: not replacing "
                                 "it; move it away or choose another folder.")


def write_split(plan: SplitPlan, data_dir: str | Path, *, mode: str = "link", record_path: str | Path | None = None,
                replace_links: bool = False) -> Path:
    """Write ``plan`` as ``data_dir/<split>/<class>/<photo>``: symbolic links to the photos (``mode="link"``) or
    copies (``"copy"``), and the split record to ``record_path`` (default ``data_dir/split.json``). ``data_dir`` must
    be new or empty; ``replace_links`` lets it replace an earlier split of links only (``toyrobot train``'s own
    folder). Written beside it and renamed into place, so an interrupted write leaves no half split. Returns the
    record's path."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    data_dir = Path(data_dir)
    _check_target(plan, data_dir, replace_links)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = data_dir.parent / f".{data_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    for split, files in plan.files.items():
        for photo in files:
            target = partial / split / plan.relative(photo)
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == "link":
                target.symlink_to(photo)
            else:
                shutil.copy2(photo, target)
    record_path = Path(record_path) if record_path is not None else data_dir / RECORD_NAME
    record = {**plan.record(), "mode": mode, "data_dir": str(data_dir.resolve())}
    write_json(partial / RECORD_NAME if record_path == data_dir / RECORD_NAME else record_path, record)
    if data_dir.exists():
        shutil.rmtree(data_dir)  # empty, or (replace_links) links and a record only: checked above
    os.replace(partial, data_dir)
    return record_path


def read_record(path: str | Path) -> dict:
    """A split record written by ``write_split``; raises ``SplitError`` when it is not one."""
    record = read_json(path)
    if not record or record.get("kind") != RECORD_KIND:
        raise SplitError(f"{path} is not a split record of `toyrobot split` (missing, damaged or another file).")
    return record


def split(photos: str | Path, data_dir: str | Path, *, mode: str = "link", seed: int = config.SEED,
          verbose: bool = True) -> SplitPlan:
    """``toyrobot split``: audit the plain folder ``photos``, split it (``plan_split``) and write the series' layout
    into the new or empty ``data_dir`` (``write_split``). Prints what it did unless ``verbose`` is False."""
    plan = plan_split(photos, seed=seed)
    record_path = write_split(plan, data_dir, mode=mode)
    if verbose:
        total = sum(map(len, plan.files.values()))
        how = "symbolic links to the photos" if mode == "link" else "copies of the photos"
        print(f"Split {plan.photos_dir} ({len(plan.class_names)} classes, {total} photos, seed {plan.seed}) into "
              f"{data_dir} as {how}:")
        print(plan.summary())
        print(f"Split record: {record_path}")
        print(f"Next: `toyrobot train {data_dir}`, or the whole series on it: `TOYROBOT_DATA_DIR={data_dir} make run`.")
    return plan


def run(args: argparse.Namespace) -> int:
    """The command: ``args.photos``, ``args.data_dir``, ``args.copy``, ``args.seed``. 0 when written, 1 when the
    photos cannot be split (one line on stderr)."""
    try:
        split(args.photos, args.data_dir, mode="copy" if args.copy else "link", seed=args.seed)
    except DataSetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def audit_command(args: argparse.Namespace) -> int:
    """``toyrobot audit FOLDER``: the series' layout (training/validation/test) audited as the notebooks read it, or a
    plain folder (one sub-folder per class) audited as ``train`` and ``split`` read it, with the split they would
    make — so a class with too few photos is found before any training. Exit 1 with one line when the photos cannot
    be used."""
    try:
        if layout_of(args.data_dir) == "series":
            report = audit(args.data_dir, check_duplicates=not args.no_duplicates, max_pixels=args.max_pixels)
            plan = None
        else:
            photos = Path(args.data_dir).resolve()
            report = audit(photos.parent, (photos.name,), check_duplicates=True, max_pixels=args.max_pixels)
            plan = plan_split(photos, seed=args.seed, report=report)
    except DataSetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    if plan is not None:
        counts = ", ".join(f"{split} {len(plan.files[split])}" for split in config.SPLITS)
        print(f"\nA plain folder: `toyrobot train` and `toyrobot split` split it (seed {plan.seed}) into {counts} "
              f"photos; {len(plan.groups)} group(s) of near-duplicate photos are each kept in one split.")
    if args.csv:
        report.table.to_csv(args.csv, index=False)
        print(f"\nTable written to {args.csv}")
    return 0


__all__ = [
    "FRACTIONS",
    "MIN_HELD_OUT",
    "MIN_PER_CLASS",
    "MIN_TRAINING",
    "MODES",
    "RECORD_NAME",
    "SplitError",
    "SplitPlan",
    "audit_command",
    "audit_plain",
    "layout_of",
    "plan_split",
    "read_record",
    "run",
    "split",
    "targets",
    "write_split",
]

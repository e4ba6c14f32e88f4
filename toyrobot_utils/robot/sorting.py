"""The robot's second job: sort a folder of photos into one bin per class, without ever losing a photo.

``sort_photos`` copies (or, with ``move=True``, moves) each photo into ``<bins>/<class>/``, or into
``<bins>/unsure/`` when the model's top probability is below the threshold (predictions: ``robot``). It is built so
that no photo can get lost:

- a copy is written to a hidden temporary file in the bin, flushed to disk, compared byte for byte with the
  original, and only then given its name; the original is deleted (``move``) only after that. A copy a killed sort
  left unfinished (a hidden ``.part`` file) holds no photo and is removed by the next sort;
- nothing in a bin is ever overwritten: a clashing name becomes ``<stem>_1<ext>``, ``<stem>_2<ext>``... (the name is
  claimed with a hard link, which fails instead of replacing; on file systems without hard links the name is
  checked just before the rename);
- class names from the model's record are checked before they become bins (no ``..``, separators, absolute paths),
  and a bins folder that cannot be written is refused before any photo is touched;
- a file that cannot be read is reported with its name and the reason and left where it is; the others are sorted;
- every decision is appended to a CSV log as it is made (default ``<bins>/sort_log.csv``, header written once), so
  an interrupted run still says what it did. ``probabilities`` holds every class's probability as JSON, so logs
  of models with different classes can share one file;
- Ctrl-C stops after the photo being copied, with the summary; a second Ctrl-C stops at once;
- a rerun sorts only what is left: a photo whose content (SHA-256) already sits in one of the bins (a finished or
  interrupted earlier sort, or a duplicate of a photo sorted just before) is not copied again but logged as
  "skipped", naming the file that holds it; with ``move`` its original is removed once it has been compared byte for
  byte with that file, so ``--move`` still leaves every photo in a bin. Only bin files of the same size as a photo
  are hashed, so the check costs nothing when nothing was sorted before;
- one sort at a time per bins folder (``BinsLock``): a second one is refused with one line naming the running one;
- a full disk, or a log that cannot be written (read-only, deleted, unplugged), stops the sort with one line.

Only the files directly inside the source folder are sorted unless ``recursive=True``; recursion skips hidden
folders and the bins folder itself (bins may live inside the source folder). Hidden files (``.DS_Store``...) are
logged as ignored, not as failures.
"""

from __future__ import annotations

import csv
import errno
import filecmp
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from toyrobot_utils import config, lineage
from toyrobot_utils.robot.predict import (
    ModelChoice,
    RobotError,
    choose_model,
    classify_files,
    folder_files,
    is_hidden,
    load_model,
)

UNSURE = config.UNSURE_BIN
DEFAULT_THRESHOLD = 0.6
LOG_NAME = config.SORT_LOG_NAME
LOG_COLUMNS = ["time", "source", "destination", "bin", "predicted_class", "probability", "probabilities",
               "threshold", "action", "error", "model"]
COPIED, MOVED, FAILED, IGNORED = "copied", "moved", "failed", "ignored"
# A photo whose content is already in a bin: left where it is ("skipped"), or with --move removed once compared byte
# for byte with the bin's file ("removed"); ``destination`` names that file.
SKIPPED, REMOVED = "skipped", "removed"
# A full disk, a quota, a read-only file system: the sort stops with one line instead of failing every photo.
DISK_PROBLEMS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _files_to_sort(src_dir: Path, bins_dir: Path, recursive: bool) -> list[Path]:
    bins_resolved = bins_dir.resolve()
    if not recursive:
        return folder_files(src_dir)
    found = []
    for root, dirs, files in os.walk(src_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (root_path / d).resolve() != bins_resolved)
        found += [root_path / f for f in sorted(files)]
    return found


def _claim_name(tmp: Path, bin_dir: Path, name: str) -> Path:
    """Give the finished copy ``tmp`` a name in ``bin_dir`` that no file has: ``name``, else ``<stem>_1<ext>``...

    ``os.link`` fails if the name exists, so even a file that appears meanwhile is never replaced. File systems
    without hard links (FAT, some network shares) fall back to rename after checking the name is free.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    for i in range(100_000):
        candidate = bin_dir / (name if i == 0 else f"{stem}_{i}{suffix}")
        try:
            os.link(tmp, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links here
            if candidate.exists():
                continue
            os.rename(tmp, candidate)
            return candidate
        tmp.unlink()
        return candidate
    raise OSError(f"no free name for {name} in {bin_dir}")


def copy_verified(src: Path, bin_dir: Path) -> Path:
    """Copy ``src`` into ``bin_dir`` under a name no existing file has; return the new path.

    The copy keeps the photo's timestamps, is flushed to disk and compared byte for byte with the original before it
    gets its name, so a name in a bin always holds a complete, identical copy.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".part", dir=bin_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if not filecmp.cmp(src, tmp, shallow=False):
            raise OSError(f"the copy in {bin_dir} differs from the original (disk full or failing?)")
        return _claim_name(tmp, bin_dir, src.name)
    finally:
        tmp.unlink(missing_ok=True)


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: how a photo is recognised in the bins whatever its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class BinContents:
    """The photos already in the bins, by content, so that a rerun copies nothing twice.

    Files are listed by size only; a bin file is hashed the first time a photo of the same size asks for it, so a
    first sort into empty bins hashes nothing, and a rerun hashes each bin file at most once.
    """

    def __init__(self, bins_dir: Path, bins: Sequence[str]):
        self._by_size: dict[int, list[Path]] = {}
        self._hashes: dict[Path, str] = {}
        for name in bins:
            folder = bins_dir / name
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if not is_hidden(path) and path.is_file():
                    self._by_size.setdefault(path.stat().st_size, []).append(path)

    def holder(self, photo: Path) -> Path | None:
        """The bin file with exactly ``photo``'s content, or None."""
        candidates = self._by_size.get(photo.stat().st_size)
        if not candidates:
            return None
        digest = content_hash(photo)
        for path in candidates:
            if path not in self._hashes:
                try:
                    self._hashes[path] = content_hash(path)
                except OSError:  # gone or unreadable meanwhile: it cannot stand for the photo
                    self._hashes[path] = ""
            if self._hashes[path] == digest:
                return path
        return None

    def add(self, path: Path) -> None:
        """A file just sorted into a bin (its twins later in the same run are then skipped)."""
        self._by_size.setdefault(path.stat().st_size, []).append(path)


class _Log:
    """The CSV decision log: appended row by row (flushed), header written when the file is new.

    A log that cannot be written (full disk, read-only, deleted or its drive unplugged during the sort) stops the sort
    with a ``RobotError``: a sort whose decisions are not recorded must not go on."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._open(path)
        except OSError as err:
            raise RobotError(f"Cannot write the log {path} ({err.strerror or err}); pass a log file in a folder "
                             "you can write to (--log).") from None

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > 0:
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if header != LOG_COLUMNS:
                raise RobotError(f"The log {path} has other columns ({', '.join(header)}) than this version writes; "
                                 "move it away or pass another log file (--log).")
            self._fh = open(path, "a", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, LOG_COLUMNS)
        else:
            self._fh = open(path, "w", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, LOG_COLUMNS)
            self._writer.writeheader()
            self._fh.flush()

    def write(self, row: dict, sorted_before: int = 0) -> None:
        try:
            self._writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
            self._fh.flush()
            status = os.fstat(self._fh.fileno())
            if stat.S_ISREG(status.st_mode) and status.st_nlink == 0:
                raise OSError(errno.ENOENT, "deleted during the sort")
        except OSError as err:
            where = f"; {row['source']} is in {row['destination']}" if row.get("destination") else ""
            raise RobotError(f"Cannot write the log {self.path} ({err.strerror or err}): the sort stopped after "
                             f"{sorted_before} photo(s){where}; every photo is where it was or in its bin. Free some "
                             "disk space or pass another log file (--log), then run the same command again.") from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:  # what could not be flushed was already reported by write
            pass


def sort_photos(src_dir: str | Path, bins_dir: str | Path, *, model: str | Path | None = None,
                models_dir: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD, move: bool = False,
                recursive: bool = False, log_path: str | Path | None = None, batch_size: int = config.BATCH_SIZE,
                on_result: Callable[[dict], None] | None = None, choice: ModelChoice | None = None,
                max_pixels: int | None = None) -> pd.DataFrame:
    """Copy (``move=True``: move) every photo of ``src_dir`` into ``bins_dir/<class>/``, or ``bins_dir/unsure/``
    when its top probability is below ``threshold``; return one row per file (the log's columns).

    ``action`` is "copied"/"moved" for a sorted photo, "skipped" for a photo whose content already sits in a bin
    (``destination``; with ``move`` it is "removed": the original was compared byte for byte with that file and
    deleted), "failed" for a file that could not be read or copied (it is left where it was; ``error`` says why),
    "ignored" for hidden files. ``on_result`` is called with each row as
    soon as it is decided (the CLI prints progress with it). The log is appended to ``log_path`` (default
    ``bins_dir/sort_log.csv``). ``choice``: an already chosen model (``choose_model``), instead of ``model``.
    ``max_pixels``: a photo that needs more pixels decoded (default ``config.MAX_IMAGE_PIXELS``; JPEGs are decoded
    scaled down) fails with its size and the limit. ``df.attrs`` holds the model, why it was chosen, and the log.
    """
    src_dir, bins_dir = check_folders(src_dir, bins_dir, threshold)
    choice = choice or choose_model(model, models_dir)
    resolved = load_model(choice)  # everything that can fail fatally has failed before a single file is touched
    classes = resolved.class_names
    for reserved in (UNSURE, LOG_NAME):
        if reserved.lower() in (c.lower() for c in classes):
            raise RobotError(f"The model {choice.name} has a class called {reserved!r}, which the sorter uses itself "
                             f"(the {'bin for unsure photos' if reserved == UNSURE else 'log'}); rename that class "
                             "folder and retrain.")
    _check_writable(bins_dir)
    log_path = Path(log_path) if log_path is not None else bins_dir / LOG_NAME
    with BinsLock(bins_dir, src_dir) as lock:
        removed_parts = _remove_interrupted_copies(bins_dir, [*classes, UNSURE])
        files = _files_to_sort(src_dir, bins_dir, recursive)
        log = _Log(log_path)
        rows, placed = [], []
        stop = _StopAfterCurrentPhoto()

        def record(row):
            row = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "threshold": float(threshold),
                   "model": choice.name, **row}
            log.write(row, sorted_before=len(placed))
            if row["action"] in (COPIED, MOVED):
                placed.append(row)
            rows.append(row)
            if on_result is not None:
                on_result(row)

        try:
            _sort_files(files, resolved, bins_dir, (threshold, move, batch_size, max_pixels), record, stop)
        finally:
            stop.restore()
            log.close()
    df = pd.DataFrame(rows, columns=LOG_COLUMNS)
    decided = set(df["source"])
    df.attrs.update(model=choice.name, reason=choice.reason, class_names=list(classes), log=str(log_path),
                    interrupted=stop.requested, not_sorted=[str(f) for f in files if str(f) not in decided],
                    removed_partial_copies=removed_parts, stale_lock=lock.stale)
    return df


def check_folders(src_dir: str | Path, bins_dir: str | Path, threshold: float = DEFAULT_THRESHOLD) -> tuple[Path, Path]:
    """The cheap checks of a sort's arguments, before any model is loaded: (source folder, bins folder)."""
    src_dir, bins_dir = Path(src_dir).expanduser(), Path(bins_dir).expanduser()
    if not src_dir.is_dir():
        raise RobotError(f"The photo folder {src_dir} does not exist (or is not a folder); pass the folder that "
                         "holds the new photos.")
    if bins_dir.resolve() == src_dir.resolve():
        raise RobotError(f"The bins folder {bins_dir} is the photo folder itself; pass another folder for the bins "
                         f"(it may be a subfolder, e.g. {src_dir}/bins).")
    if not 0.0 <= float(threshold) <= 1.0:
        raise RobotError(f"threshold {threshold} is not a probability; pass a number between 0 and 1 (e.g. 0.6).")
    return src_dir, bins_dir


def _sort_files(files: list[Path], resolved, bins_dir: Path, options: tuple, record: Callable[[dict], None],
                stop) -> None:
    """The sort itself: hidden files logged as ignored, photos already in a bin skipped, the others classified a few
    batches at a time and copied (or moved) into their bins, until done or Ctrl-C. ``options``: (threshold, move,
    batch_size, max_pixels) of ``sort_photos``."""
    threshold, move, batch_size, max_pixels = options
    classes = resolved.class_names
    for f in files:
        if is_hidden(f):
            record({"source": str(f), "action": IGNORED, "error": "hidden system file, not a photo"})
    todo = [f for f in files if not is_hidden(f)]
    contents = BinContents(bins_dir, [*classes, UNSURE])
    for start in range(0, len(todo), 4 * batch_size):
        if stop.requested:
            break
        chunk = []
        for src in todo[start:start + 4 * batch_size]:
            done = _already_sorted(src, contents, move)
            if done is None:
                chunk.append(src)
            else:
                record(done)
        for src, (probs, error) in zip(chunk, classify_files(resolved, chunk, batch_size, max_pixels)):
            if stop.requested:
                break
            record(_already_sorted(src, contents, move)  # a twin of a photo sorted a moment ago
                   or _sort_one(src, probs, error, classes, bins_dir, threshold, move, contents))


LOCK_NAME = ".toyrobot-sort.lock"


class BinsLock:
    """Only one sort at a time into a bins folder: ``<bins>/.toyrobot-sort.lock``, locked by the operating system
    (``flock``; ``msvcrt.locking`` on Windows) and holding the running sort's pid, host, start time and source.

    A second sort is refused with one line naming the running one. The operating system drops the lock when its
    process ends in any way (Ctrl-C, kill -9, power cut), so a killed sort never leaves the bins locked: the file it
    leaves behind is taken over by the next sort (``stale``: what the dead sort had written). Hence the next sort
    may also remove the hidden ``.part`` files in the bins: no other sort can be writing them.
    """

    def __init__(self, bins_dir: Path, src_dir: Path):
        self.path, self.src_dir, self.stale, self._fd = bins_dir / LOCK_NAME, src_dir, None, None

    def __enter__(self) -> "BinsLock":
        for _ in range(10):  # the file may be replaced between open and lock by a sort that just finished
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _lock_file(fd):
                holder = _lock_holder(fd)
                os.close(fd)
                raise RobotError(f"Another sort ({holder}) is sorting into {self.path.parent}; wait for it to finish "
                                 "(or stop it), or sort into another bins folder.")
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        else:
            raise RobotError(f"Could not lock {self.path}: other sorts keep starting into {self.path.parent}.")
        self._fd = fd
        self.stale = _lock_holder(fd) if os.fstat(fd).st_size else None  # left by a sort that was killed
        info = {"pid": os.getpid(), "host": socket.gethostname(), "source": str(self.src_dir),
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(self.path)  # while still locked: a sort waiting on this file then sees it is gone
        except OSError:
            pass
        os.close(self._fd)


def _lock_file(fd: int) -> bool:
    """Take the operating system's exclusive lock on ``fd`` without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _lock_holder(fd: int) -> str:
    """'pid 123 on host x, started ..., sorting ~/photos' from a lock file's content."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "a sort whose lock file says nothing more"
    return (f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}, sorting "
            f"{info.get('source')}")


class _StopAfterCurrentPhoto:
    """Ctrl-C during a sort: finish the photo being copied, then stop (``requested``); a second Ctrl-C interrupts
    at once. Only the main thread can take signals; elsewhere Ctrl-C keeps its usual meaning."""

    def __init__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _check_writable(bins_dir: Path) -> None:
    """Fail before any photo is touched when the bins cannot be written (read-only disk, /proc, no permission)."""
    try:
        bins_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".toyrobot-write-test.", dir=bins_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RobotError(f"Cannot write into the bins folder {bins_dir} ({err.strerror or err}); pass a folder you "
                         "can write to as BINS_DIR.") from None


def _remove_interrupted_copies(bins_dir: Path, bins: Sequence[str]) -> list[str]:
    """Hidden ``.<photo>.<random>.part`` files are copies a killed sort never finished (``copy_verified`` names a
    copy only once it is complete): no photo is in them, so the next sort removes them. It holds the bins' lock
    (``BinsLock``), so no other sort can be writing them."""
    removed = []
    for name in bins:
        for part in (bins_dir / name).glob(".*.part") if (bins_dir / name).is_dir() else []:
            try:
                part.unlink()
                removed.append(str(part))
            except OSError:
                pass
    return removed


def _already_sorted(src: Path, contents: BinContents, move: bool) -> dict | None:
    """The log row of a photo whose content already sits in a bin (with ``move``, its original removed once compared
    byte for byte), or None when it still has to be sorted (or cannot be read: classifying it says why)."""
    try:
        holder = contents.holder(src)
        if holder is None or (move and not filecmp.cmp(src, holder, shallow=False)):
            return None
    except OSError:
        return None
    row = {"source": str(src), "destination": str(holder), "bin": holder.parent.name, "action": SKIPPED, "error": ""}
    if move:
        try:
            src.unlink()
        except OSError as err:
            return {**row, "error": f"already in {holder}, but the original could not be removed: {err}"}
        row["action"] = REMOVED
    return row


def _sort_one(src: Path, probs, error: str, classes: list[str], bins_dir: Path, threshold: float, move: bool,
              contents: BinContents) -> dict:
    """Copy (and with ``move`` remove) one photo into its bin; the log row saying what happened."""
    if probs is None:
        return {"source": str(src), "action": FAILED, "error": error}
    top = int(np.argmax(probs))
    probability = float(probs[top])
    bin_name = classes[top] if probability >= threshold else UNSURE
    row = {"source": str(src), "bin": bin_name, "predicted_class": classes[top], "probability": round(probability, 6),
           "probabilities": json.dumps({c: round(float(p), 6) for c, p in zip(classes, probs)})}
    try:
        dest = copy_verified(src, bins_dir / bin_name)
    except OSError as err:
        if err.errno in DISK_PROBLEMS:  # every other photo would fail the same way
            raise RobotError(f"Cannot copy {src} into {bins_dir / bin_name} ({err.strerror or err}): the sort "
                             "stopped; every photo is where it was or in its bin. Free some disk space (or make the "
                             "bins writable), then run the same command again.") from None
        return {**row, "action": FAILED, "error": f"could not copy into {bins_dir / bin_name}: {err}"}
    row["destination"] = str(dest)
    contents.add(dest)
    if move:
        try:
            src.unlink()
        except OSError as err:
            return {**row, "action": COPIED, "error": f"copied, but the original could not be removed: {err}"}
    return {**row, "action": MOVED if move else COPIED, "error": ""}


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of files that were not sorted as asked (unreadable, copy failed, original not removed)."""
    has_error = df["error"].fillna("").astype(str) != ""
    return df[(df["action"] == FAILED) | (has_error & (df["action"] != IGNORED))]


def run(args) -> int:
    """``toyrobot sort SRC_DIR BINS_DIR`` (options in ``__main__``): photos into class bins. Exit code 0 if every
    photo was sorted, 1 if any file failed (reported and left in place), 2 if sorting could not start."""
    def show(row):
        if args.quiet:
            return
        if row["action"] in (COPIED, MOVED) and not row["error"]:
            print(f"{row['action']:<6} {row['source']} -> {row['destination']} "
                  f"({row['predicted_class']} {row['probability']:.3f})", flush=True)
        elif row["action"] in (SKIPPED, REMOVED) and not row["error"]:
            print(f"{row['action']:<7} {row['source']}: already in {row['destination']} (same content)"
                  f"{'; original removed' if row['action'] == REMOVED else ''}", flush=True)
        else:
            print(f"{row['action']:<6} {row['source']}: {row['error']}", flush=True)

    try:
        check_folders(args.src_dir, args.bins_dir, args.threshold)  # before any model is read
        choice = choose_model(args.model, args.models_dir)
        print(f"model: {choice.name} - {choice.reason}\n{lineage.summary(choice.name, choice.record)}", flush=True)
        df = sort_photos(args.src_dir, args.bins_dir, choice=choice, threshold=args.threshold, move=args.move,
                         recursive=args.recursive, log_path=args.log, on_result=show, max_pixels=args.max_pixels)
    except RobotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: the photo being copied was left as a hidden .part file at most
        print(f"interrupted at once (second Ctrl-C): every photo not yet sorted is still in {args.src_dir}; the log "
              "says what was done, and the next sort removes any half-made copy.", file=sys.stderr)
        return 130
    if df.attrs["stale_lock"]:
        print(f"took over the lock of a sort that ended without releasing it ({df.attrs['stale_lock']}).")
    if df.attrs["removed_partial_copies"]:
        print(f"removed {len(df.attrs['removed_partial_copies'])} unfinished cop(ies) left by an interrupted sort "
              "(hidden .part files; their originals were never touched).")
    sorted_rows = df[df["action"].isin([COPIED, MOVED])]
    per_bin = sorted_rows["bin"].value_counts()
    bins = ", ".join(f"{b}: {int(per_bin.get(b, 0))}" for b in [*df.attrs["class_names"], UNSURE] if b in per_bin)
    failed = failures(df)
    ignored = int((df["action"] == IGNORED).sum())
    skipped = int((df["action"].isin([SKIPPED, REMOVED]) & (df["error"].fillna("") == "")).sum())
    kept = "originals removed" if args.move else "not copied again"
    already = f"{skipped} already in the bins (same content; {kept}); " if skipped else ""
    print(f"\n{len(sorted_rows)} photos {'moved' if args.move else 'copied'} into {args.bins_dir}"
          f"{' (' + bins + ')' if bins else ''}; {already}{len(failed)} failed; {ignored} hidden files ignored. "
          f"Log: {df.attrs['log']}")
    if len(failed):
        print("Not sorted (left where they are):", file=sys.stderr)
        for row in failed.itertuples(index=False):
            print(f"  {row.source}: {row.error}", file=sys.stderr)
    if df.attrs["interrupted"]:
        print(f"interrupted (Ctrl-C) after the photo being sorted: {len(df.attrs['not_sorted'])} photo(s) not sorted, "
              f"left in {args.src_dir}; run the same command again to sort them.", file=sys.stderr)
        return 130
    return 1 if len(failed) else 0


__all__ = ["COPIED", "DEFAULT_THRESHOLD", "FAILED", "IGNORED", "LOCK_NAME", "LOG_COLUMNS", "LOG_NAME", "MOVED",
           "REMOVED", "SKIPPED", "UNSURE", "BinContents", "BinsLock", "check_folders", "content_hash", "copy_verified",
           "failures", "run", "sort_photos"]

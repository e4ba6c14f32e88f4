"""Writing files so that nothing already made is lost: every model, record, table and notebook the project writes
goes to a temporary file in the same folder first and replaces the old one with ``os.replace``, so a reader (or a
crash half-way) sees the old file or the new one, never half of one. JSON records (run records, run state, tuner
settings and timings) are read and written by one pair, ``read_json`` / ``write_json``. And names that become folders
(class names: bins, class folders) are checked to stay one plain folder name, so nothing is written outside its
folder."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()


def temporary_path(path: str | Path, suffix: str = ".tmp") -> Path:
    """An empty hidden file beside ``path`` (same filesystem, so ``os.replace`` is atomic) for a writer to fill."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | Path, path: str | Path) -> None:
    """Give a finished temporary file its name, with the permissions a new file normally gets (mkstemp's 0600
    would hide it from the other users of a shared folder)."""
    os.chmod(tmp, 0o666 & ~UMASK)
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------------------------------
# JSON records
# --------------------------------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Settings may hold tuples, Paths and NumPy scalars; JSON gets plain lists, strings and numbers (non-finite
    floats become null, anything else its ``repr``), so a record never fails to write half-way."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def read_json(path: str | Path) -> dict | None:
    """A JSON record, or None when it is missing, unreadable (half-written by another process) or not an object."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: str | Path, data: Mapping, *, exclusive: bool = False) -> bool:
    """Write ``data`` (made ``jsonable``) to ``path`` atomically; readers see the old record or the new one.

    ``exclusive=True`` writes only when ``path`` does not exist yet, atomically even when several processes try at
    once (the chief and the workers of a distributed search starting together): one wins, the others leave it.
    Returns whether this call wrote the file."""
    text = json.dumps(jsonable(data), indent=2) + "\n"
    if not exclusive:
        atomic_write_text(path, text)
        return True
    if Path(path).exists():
        return False
    tmp = temporary_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o666 & ~UMASK)
        try:
            os.link(tmp, path)  # atomic "create if absent"
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links
            if Path(path).exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


class UnsafeNameError(ValueError):
    """A name that would become a folder would leave its parent folder (or is empty); the message names its source."""


def check_folder_name(name: Any, source: str) -> str:
    """``name`` if it can safely be one folder name (a bin, a class folder), else ``UnsafeNameError`` naming
    ``source`` (the record or folder it came from). Refused: empty, ``.``/``..``, a path separator, an absolute path,
    a NUL character."""
    text = name if isinstance(name, str) else ""
    problem = None
    if not text.strip():
        problem = "is empty" if isinstance(name, str) else f"is not a text ({name!r})"
    elif text in (".", ".."):
        problem = "is a relative folder reference"
    elif "/" in text or "\\" in text or "\0" in text:
        problem = "contains a path separator"
    elif Path(text).is_absolute():
        problem = "is an absolute path"
    if problem:
        raise UnsafeNameError(
            f"class name {name!r} from {source} {problem}; class names become folder names (bins, class folders), "
            "so each must be one plain folder name such as 'duplos'. Rename that class folder and retrain, or fix the "
            "record."
        )
    return text


def check_folder_names(names: Iterable[Any], source: str) -> list[str]:
    return [check_folder_name(n, source) for n in names]


__all__ = ["UnsafeNameError", "atomic_write_bytes", "atomic_write_text", "check_folder_name", "check_folder_names",
           "jsonable", "publish", "read_json", "temporary_path", "write_json"]

"""Writing files so that nothing already made is lost: every model, record, table and notebook the project writes
goes to a temporary file in the same folder first and replaces the old one with ``os.replace``, so a reader (or a
crash half-way) sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


__all__ = ["atomic_write_bytes", "atomic_write_text", "publish", "temporary_path"]

"""Which photos and settings made a model: the lineage every run record carries.

A parent runs the series on the built-in photos, then on their own photos in the same ``data/`` folder, with the
same class names. Without a lineage the second run cannot tell that its stored models were trained on other photos.
So every run record holds:

- ``photos``: the data folder as given, and per split the number of photos and a fingerprint of them (each photo's
  path relative to the data folder, which carries its class, with a hash of its content). Hashes are cached by
  size and modification time outside the data folder (``config.CACHE_DIR``), so thousands of photos cost seconds
  after the first time, and the user's folder is never written to;
- ``settings``: what changes the result (image size, preprocessing, augmentation, epochs, seed, the learning-rate
  reducer, the network's layers...);
- ``key``: one hash of the training and validation photos and the settings. Two runs are of the *same lineage*
  when their keys agree: only then is the better model kept, or an interrupted run resumed.

The test photos are fingerprinted too (a model's test accuracy is only as current as its test photos), but they are
not part of the key: new test photos do not make a model stale, they make its test results stale.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

from toyrobot_utils import config
from toyrobot_utils.audit import audit
from toyrobot_utils.files import read_json, write_json

# Splits whose photos shape the model (it learns from training and is picked by validation accuracy).
KEY_SPLITS = ("training", "validation")
# Settings entries that describe a run without changing it.
DESCRIPTIVE_SETTINGS = frozenset({"changes", "model_number", "description"})
UNKNOWN = "unknown"  # photos that were not given as SplitData (plain tf.data datasets): they cannot be listed


class LineageError(ValueError):
    """A lineage cannot be built from what was given; the message says why."""


# --------------------------------------------------------------------------------------------------------------------
# Content hashes, cached by size and modification time
# --------------------------------------------------------------------------------------------------------------------


def _digest_bytes(data: bytes, size: int = 16) -> str:
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def file_digest(path: str | Path) -> str:
    """A hash of the file's bytes (BLAKE2b, 128 bits)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class HashCache:
    """Content hashes of one data folder's photos, reused while a photo's size and modification time are unchanged.

    Kept in ``config.CACHE_DIR/photo_hashes/`` (one JSON file per data folder), never inside the data folder."""

    def __init__(self, data_dir: str | Path, cache_dir: str | Path | None = None):
        self.data_dir = Path(data_dir).resolve()
        cache_dir = Path(cache_dir) if cache_dir is not None else config.CACHE_DIR
        self.path = cache_dir / "photo_hashes" / f"{_digest_bytes(str(self.data_dir).encode(), 8)}.json"
        self.entries: dict[str, list] = {}
        self.hits = self.misses = 0
        stored = read_json(self.path) or {}  # no cache yet, or a damaged one: it is only a cache
        if stored.get("data_dir") == str(self.data_dir) and isinstance(stored.get("files"), dict):
            self.entries = dict(stored["files"])

    def digest(self, path: Path, relative: str) -> str:
        stat = path.stat()
        cached = self.entries.get(relative)
        if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
            self.hits += 1
            return cached[2]
        self.misses += 1
        digest = file_digest(path)
        self.entries[relative] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def save(self) -> None:
        if not self.misses:
            return
        try:
            write_json(self.path, {"data_dir": str(self.data_dir), "files": self.entries})
        except OSError:
            pass  # a read-only cache folder costs time next run, never correctness


def relative_name(path: Path, data_dir: Path) -> str:
    """``path`` relative to the data folder, with '/' separators (the same on every system)."""
    try:
        return Path(path).relative_to(data_dir).as_posix()
    except ValueError:
        return Path(path).resolve().relative_to(Path(data_dir).resolve()).as_posix()


def split_fingerprint(files: Iterable[Path], data_dir: str | Path, cache: HashCache | None = None) -> dict:
    """``{"photos": n, "fingerprint": hex}`` of one split: its photos' relative paths (class folder included, so a
    photo moved to another class changes it) with their content hashes, in a fixed order."""
    data_dir = Path(data_dir)
    cache = cache or HashCache(data_dir)
    lines = sorted(f"{relative_name(f, data_dir)}\t{cache.digest(Path(f), relative_name(f, data_dir))}"
                   for f in files)
    return {"photos": len(lines), "fingerprint": _digest_bytes("\n".join(lines).encode("utf-8"))}


def photos_of_report(report, data_dir_as_given: str | Path | None = None) -> dict:
    """The ``photos`` part of a lineage for every split of an audit report (``audit.AuditReport``): the files the
    pipeline reads, i.e. the audit's usable ones."""
    data_dir = Path(report.data_dir)
    cache = HashCache(data_dir)
    splits = {s: split_fingerprint([f for f, _ in report.usable_files(s)], data_dir, cache) for s in report.splits}
    cache.save()
    return {
        "data_dir": str(data_dir_as_given if data_dir_as_given is not None else data_dir),
        "data_dir_resolved": str(data_dir.resolve()),
        "class_names": list(report.class_names),
        "splits": splits,
        "key": photos_key({"class_names": list(report.class_names), "splits": splits}),
    }


def photos_key(photos: Mapping | None) -> str:
    """One hash of the class names and the training and validation photos (what a model is made from)."""
    if not photos or photos.get("key") == UNKNOWN:
        return UNKNOWN
    splits = photos.get("splits") or {}
    missing = [s for s in KEY_SPLITS if s not in splits]
    if missing:
        raise LineageError(f"the photos' lineage has no {', '.join(missing)} split; fingerprint {KEY_SPLITS}")
    parts = [json.dumps(list(photos.get("class_names") or []))] + [splits[s]["fingerprint"] for s in KEY_SPLITS]
    return _digest_bytes("\n".join(parts).encode("utf-8"))


def photos_of_folder(data_dir: str | Path, splits=config.SPLITS) -> dict:
    """The ``photos`` lineage of a data folder as it is now (audits it without the duplicate check)."""
    return photos_of_report(audit(data_dir, splits, check_duplicates=False), data_dir)


def photos_of_splits(*split_data) -> dict:
    """The ``photos`` lineage of the data that ``data.load_split``/``load_datasets`` returned (``SplitData`` keeps the
    audit it was built from), or ``{"key": "unknown"}`` for plain tf.data datasets, whose photos cannot be listed."""
    for item in split_data:
        report = getattr(item, "report", None)
        if report is not None and report.data_dir is not None:
            return photos_of_report(report)
    return {"key": UNKNOWN}


# --------------------------------------------------------------------------------------------------------------------
# A run's lineage
# --------------------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready, and stable: tuples as lists, non-finite floats as None, unknown objects by their repr."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def network_signature(model) -> list:
    """The network's shape as layer types with their parameter counts, and its input and output shapes: the same for
    the same architecture in any process (Keras' automatic layer names are not)."""
    layers = [[layer.__class__.__name__, int(layer.count_params()) if layer.built else None]
              for layer in model.layers]
    return [list(model.input_shape[1:]), list(model.output_shape[1:]), layers]


def run_lineage(photos: Mapping, settings: Mapping[str, Any]) -> dict:
    """The lineage a run record carries: its photos, the settings that change the result, and their joint key."""
    result_settings = {k: v for k, v in _plain(dict(settings)).items() if k not in DESCRIPTIVE_SETTINGS}
    settings_hash = _digest_bytes(json.dumps(result_settings, sort_keys=True).encode("utf-8"))
    pkey = photos_key(photos)
    return {
        "photos": _plain(dict(photos)),
        "settings": result_settings,
        "key": _digest_bytes(f"{pkey}\n{settings_hash}".encode("utf-8")),
    }


def same_lineage(a: Mapping | None, b: Mapping | None) -> bool:
    return bool(a) and bool(b) and a.get("key") is not None and a.get("key") == b.get("key")


def differences(old: Mapping | None, new: Mapping) -> str:
    """Why two lineages differ, in a few words for the user: other photos (which split), other settings (which)."""
    if not old or not old.get("key"):
        return "its record has no lineage (trained before records carried one), so its photos are unknown"
    parts = []
    old_photos, new_photos = old.get("photos") or {}, new.get("photos") or {}
    if photos_key(old_photos) != photos_key(new_photos):
        if UNKNOWN in (photos_key(old_photos), photos_key(new_photos)):
            parts.append("photos that cannot be compared (plain datasets)")
        elif (old_photos.get("class_names") or []) != (new_photos.get("class_names") or []):
            parts.append(f"other classes ({', '.join(old_photos.get('class_names') or [])} -> "
                         f"{', '.join(new_photos.get('class_names') or [])})")
        else:
            changed = [f"{s} {old_photos['splits'][s]['photos']} -> {new_photos['splits'][s]['photos']} photos, "
                       f"fingerprint {short(old_photos['splits'][s]['fingerprint'])} -> "
                       f"{short(new_photos['splits'][s]['fingerprint'])}"
                       for s in KEY_SPLITS
                       if old_photos["splits"][s]["fingerprint"] != new_photos["splits"][s]["fingerprint"]]
            where = old_photos.get("data_dir")
            parts.append(f"other photos ({'; '.join(changed)}"
                         + (f"; was {where}" if where and where != new_photos.get("data_dir") else "") + ")")
    old_settings, new_settings = old.get("settings") or {}, new.get("settings") or {}
    changed = [f"{k} {old_settings.get(k)!r} -> {new_settings.get(k)!r}"
               for k in sorted(set(old_settings) | set(new_settings)) if old_settings.get(k) != new_settings.get(k)]
    if changed:
        shown = [c if len(c) <= 80 else c[:77] + "..." for c in changed[:4]]
        parts.append("other settings (" + "; ".join(shown) + (f"; {len(changed) - 4} more" if len(changed) > 4 else "")
                     + ")")
    return " and ".join(parts) or "another lineage"


def _shown_folder(folder: str | None) -> str:
    """A data folder as a reader knows it: relative to the project when it lies inside it."""
    if not folder:
        return "?"
    return config.shown_path(folder) + "/"


def short(fingerprint: str | None) -> str:
    return (fingerprint or "?")[:8]


def summary(name: str, record: Mapping) -> str:
    """One line: "m4_lr_reducer: trained 2026-12-01 13:34 UTC on data — 500/150/75 photos, fingerprint 3f2a9c1e"."""
    lineage = record.get("lineage") or {}
    when = record.get("timestamp") or record.get("started") or "?"
    try:
        when = datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        pass
    photos = lineage.get("photos") or {}
    if not lineage:
        return f"{name}: trained {when}, on unknown photos (a record from before lineages were kept)"
    if photos_key(photos) == UNKNOWN:
        return f"{name}: trained {when}, on photos given as plain datasets (not fingerprinted)"
    splits = photos.get("splits") or {}
    counts = "/".join(str(splits[s]["photos"]) for s in config.SPLITS if s in splits)
    return (f"{name}: trained {when} on {_shown_folder(photos.get('data_dir'))} — {counts} photos, "
            f"fingerprint {short(photos_key(photos))}")


__all__ = [
    "HashCache",
    "KEY_SPLITS",
    "LineageError",
    "UNKNOWN",
    "differences",
    "file_digest",
    "network_signature",
    "photos_key",
    "photos_of_folder",
    "photos_of_report",
    "photos_of_splits",
    "run_lineage",
    "same_lineage",
    "short",
    "split_fingerprint",
    "summary",
]

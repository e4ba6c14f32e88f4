"""Project folders and the write-up's defaults, in one place so notebooks and tests agree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the package: a checkout, or site-packages
PROJECT_NAME = "toyrobot-utils"  # as in pyproject.toml


def find_project_root(start: str | Path | None = None) -> Path:
    """The project folder the commands and notebooks work in: the nearest folder, from ``start`` (the current
    folder) upwards, that holds this project's ``pyproject.toml`` (a checkout of Toy Robot); else ``start`` itself.
    Never the package's install location: two checkouts sharing one environment each keep their own ``data/``,
    ``models/`` and ``figures/``, and a robot-only install works in the folder it is run from."""
    start = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        try:
            if pyproject.is_file() and f'name = "{PROJECT_NAME}"' in pyproject.read_text(encoding="utf-8"):
                return folder
        except (OSError, UnicodeDecodeError):
            continue
    return start


PROJECT_ROOT = Path(os.environ.get("TOYROBOT_PROJECT_DIR") or find_project_root())
DATA_DIR = Path(os.environ.get("TOYROBOT_DATA_DIR", PROJECT_ROOT / "data"))
MODELS_DIR = Path(os.environ.get("TOYROBOT_MODELS_DIR", PROJECT_ROOT / "models"))
FIGURES_DIR = Path(os.environ.get("TOYROBOT_FIGURES_DIR", PROJECT_ROOT / "figures"))
# Caches that can always be rebuilt (photo content hashes): never inside the data folder, which we only read.
CACHE_DIR = Path(os.environ.get("TOYROBOT_CACHE_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toyrobot")
SHARED_DIR = PROJECT_ROOT.parent / "shared"  # read-only team material; may be absent


def shown_path(path: str | Path) -> str:
    """A file or folder as printed for a reader: relative to the project (``models/m1_baseline.keras``), else to the
    current folder, else as given. Outputs get committed with the notebooks, and an absolute path there names the
    machine that ran them, not anything a reader has."""
    path = Path(path)
    for base in (PROJECT_ROOT, Path.cwd()):
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return path.as_posix()

SPLITS = ("training", "validation", "test")
DEFAULT_CLASSES = ("bananagrams", "brios", "cars", "duplos", "magnatiles")

# The precision networks train in (modelling.precision decides "auto"); the environment variable the commands and
# `make run PRECISION=...` set for the notebooks' kernels when no precision is passed to setup().
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
PRECISION_ENV = "TOYROBOT_PRECISION"

# The write-up's data-flow parameters.
IMAGE_SIZE = (128, 128)
BATCH_SIZE = 32
SEED = 42

# What counts as a photo. HEIC/HEIF (the iPhone default) is read through pillow-heif.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".heic", ".heif"})
MIN_IMAGE_SIDE = 32  # smaller images carry too little to learn from; the audit skips them
# Most pixels a photo may need decoded (after JPEG's draft mode has scaled it down while decoding): a 48-megapixel
# phone photo fits; a 12000 x 12000 PNG (a few hundred KB on disk, 430 MB of pixels) is skipped with its reason
# instead of costing gigabytes. Override with TOYROBOT_MAX_PIXELS, or --max-pixels / max_pixels= where offered.
MAX_IMAGE_PIXELS = int(os.environ.get("TOYROBOT_MAX_PIXELS") or 50_000_000)

# Names the robot's sorter uses inside a bins folder, so no class may be called so (the audit refuses them, the first
# place class names are read, instead of letting a model be trained that `sort` would then refuse).
UNSURE_BIN = "unsure"  # photos below the threshold
SORT_LOG_NAME = "sort_log.csv"  # the sort's default log
RESERVED_CLASS_NAMES = (UNSURE_BIN, SORT_LOG_NAME)

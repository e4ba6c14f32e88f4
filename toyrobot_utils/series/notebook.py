"""The few lines every notebook starts with: resolve the papermill parameters into folders, seed, show versions."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from toyrobot_utils.config import PROJECT_ROOT, shown_path
from toyrobot_utils.modelling import devices
from toyrobot_utils.modelling import precision as precisions


def project_path(path: str | Path) -> Path:
    """Relative paths in a notebook's parameters are relative to the project folder, wherever the kernel runs."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path)


@dataclass
class Folders:
    data: Path
    models: Path
    figures: Path


def setup(data_dir, models_dir, figures_dir, seed: int, verbose: bool = True, precision: str | None = None,
          network: str = "conv_net") -> Folders:
    """Create the output folders, choose the precision the networks train in (``modelling.precision``: ``precision``,
    else the environment's ``TOYROBOT_PRECISION``, else ``auto``, which measures once per machine whether bfloat16
    pays for the ``network`` family the notebook trains: "conv_net", or "transfer" for MobileNetV2; a notebook's
    ``precision = "auto"`` parameter chooses nothing, so ``TOYROBOT_PRECISION`` still applies), seed
    Python/NumPy/TensorFlow, train on every GPU when there are several (``devices.use_all_gpus``), and print the
    versions, devices and precision this run used."""
    _inline_figures()
    _quiet_library_logs()
    folders = Folders(project_path(data_dir), project_path(models_dir), project_path(figures_dir))
    folders.models.mkdir(parents=True, exist_ok=True)
    folders.figures.mkdir(parents=True, exist_ok=True)
    # Before seeding: a probe builds networks, which draws random numbers.
    decision = precisions.use(None if precision == "auto" else precision, network=network)
    keras.utils.set_random_seed(seed)
    strategy = devices.use_all_gpus()
    if verbose:
        print(f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}; "
              f"{devices.describe(strategy)}")
        print(decision.line())
        print(f"data: {shown_path(folders.data)}  models: {shown_path(folders.models)}  "
              f"figures: {shown_path(folders.figures)}")
    return folders


def _quiet_library_logs() -> None:
    """TensorFlow's Python logger warns about retracing when a notebook trains several networks in a row (06, 10)
    and about other internals a reader cannot act on; the notebooks report what matters themselves. Errors still
    show. (The C++ start-up notices go to the kernel's stderr before this runs; run-series strips those.)"""
    tf.get_logger().setLevel("ERROR")





def _inline_figures() -> None:
    """The plots module builds plain matplotlib Figures (no pyplot state); this makes Jupyter draw them inline.
    IPython and matplotlib-inline are imported here, not at the top: they exist only where a Jupyter kernel runs."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "run_line_magic"):
        shell.run_line_magic("matplotlib", "inline")
        # Most figures here are photo grids and Grad-CAM overlays: JPEG keeps a committed notebook a few MB, where
        # PNG would make it several times larger. The PNGs saved to figures/ are unaffected.
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("jpeg")

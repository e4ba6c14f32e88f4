"""Toy Robot: the shared code behind the notebook series and the ``toyrobot`` command.

The package is laid out by concern, one folder each (docs/architecture.md draws the layers; tests/test_architecture.py
keeps them):

- top level, the foundations and the photos going in: ``config`` (folders, defaults), ``files`` (safe
  writes, JSON records), ``figures``, ``images`` (reading one photo), ``stats`` (intervals, paired tests); ``audit``
  (checking a data folder), ``data`` (tf.data pipelines, augmentation), ``lineage`` (which photos made a model)
- ``synthetic/``: the built-in, generated photos of the five toys
- ``modelling/``: the networks of the write-up, training, transfer learning, the devices training runs on
- ``analysis/``: predictions, confusion, Grad-CAM, comparisons with intervals, the background test, every figure
- ``tuning/``: the Keras Tuner search
- ``series/``: each notebook's first cell, the runner (``toyrobot run-series``), each notebook's report
- ``robot/``: predict, sort, the ``.tflite`` runtime and export (all the light install needs)

The names below are the public API a script needs, from photos to a sorting robot::

    from toyrobot_utils import load_datasets, fit, evaluate, choose_model, sort_photos
    from toyrobot_utils.audit import audit      # a module's own name: import it from its module

They load lazily (PEP 562): ``import toyrobot_utils`` imports nothing heavy, so the command line starts at once and
the robot's light install, which has no TensorFlow, imports the package like any other.
"""

import importlib
import os as _os

# TensorFlow's C++ start-up chatter (CPU instruction notices, oneDNN notes) would otherwise fill every notebook's
# first output and make the nbval regression pass compare noise. Set it before anyone imports TensorFlow.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    # photos in
    "load_datasets": "toyrobot_utils.data",
    "load_split": "toyrobot_utils.data",
    "augmentation_block": "toyrobot_utils.data",
    "wilson_interval": "toyrobot_utils.stats",
    "accuracy_text": "toyrobot_utils.stats",
    "generate": "toyrobot_utils.synthetic.default_data",
    # networks and training
    "MODEL_TABLE": "toyrobot_utils.modelling.models",
    "build_transfer": "toyrobot_utils.modelling.models",
    "fit": "toyrobot_utils.modelling.training",
    "load_run": "toyrobot_utils.modelling.training",
    "fit_frozen": "toyrobot_utils.modelling.transfer",
    "fine_tune": "toyrobot_utils.modelling.transfer",
    "RECIPE": "toyrobot_utils.modelling.transfer",
    "run_search": "toyrobot_utils.tuning.tuner",
    # what a model does
    "evaluate": "toyrobot_utils.analysis.evaluation",
    "predictions_dataframe": "toyrobot_utils.analysis.evaluation",
    "gradcam_heatmap": "toyrobot_utils.analysis.gradcam",
    "compare_runs": "toyrobot_utils.analysis.comparison",
    # the series
    "setup": "toyrobot_utils.series.notebook",
    "run_series": "toyrobot_utils.series.runner",
    # the robot
    "choose_model": "toyrobot_utils.robot.predict",
    "predict_photos": "toyrobot_utils.robot.predict",
    "sort_photos": "toyrobot_utils.robot.sorting",
    "export_tflite": "toyrobot_utils.robot.export",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    """Import the defining module on first use (PEP 562). Submodules (``from toyrobot_utils import data``) are not
    in ``_API``: the AttributeError makes Python import them as usual."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'toyrobot_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

"""Toy Robot: the shared code behind the notebook series.

One module per concern, in layers (each imports only from its own layer or lower ones; docs/architecture.md draws
them, tests/test_architecture.py keeps them so), so a notebook reads as a few clear calls:

- ``config``, ``devices``, ``files``, ``figures``, ``images``, ``stats``: folders and defaults; where training runs;
  safe writes and JSON records; making and saving a figure; reading one photo (and the built-in set's toy masks)
  the same way everywhere; accuracy intervals and the paired test between two models
- ``toy_scene``, ``toy_drawing``: drawing the built-in photos (scene and camera; the five toys)
- ``audit``, ``default_data``: checking a data folder before training; the built-in, generated data set
- ``data``, ``lineage``: the tf.data pipelines and augmentation; which photos and settings made a model
- ``models``, ``keras_graph``: one builder per network of the write-up, the tuner's hypermodel, transfer bases;
  reading a Keras graph (the only place that touches Keras' private graph attributes)
- ``training``: fit with best checkpoint, resumable runs, history and metrics records
- ``evaluation``, ``gradcam``: predictions, accuracy, confusion matrices; Grad-CAM heat-maps and the focus score
- ``plots``, ``comparison``, ``transfer``, ``tuning_results``, ``tuning_budget``: every figure of the series; the
  tables that compare runs; transfer learning on cached features, latency; a search's trials table; its budget
- ``tuning`` (``tuning_search``, ``tuning_cli``), ``notebook``, ``series``, ``robot``, ``sorting``, ``lite``,
  ``export``, ``__main__``: the Keras Tuner search and its command; the notebooks' first cell and the series
  runner; the robot's commands; the command line
"""

import os as _os

# TensorFlow's C++ start-up chatter (CPU instruction notices, oneDNN notes) would otherwise fill every notebook's
# first output and make the nbval regression pass compare noise. Set it before anyone imports TensorFlow.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

"""Toy Robot: the shared code behind the notebook series.

One module per concern, so a notebook reads as a few clear calls:

- ``config``        folders, splits, the write-up's defaults (128 px, batch 32, seed)
- ``images``        reading one photo the same way everywhere (EXIF upright, any mode -> RGB, HEIC)
- ``audit``         checking a data folder before training, with clear errors and a findings table
- ``data``          the tf.data pipelines and the augmentation block
- ``default_data``  the built-in, generated toy-photo data set
- ``models``        one builder per network in the write-up's table, the tuner hypermodel, transfer learning
- ``training``      fit with best checkpoint, resumable runs, history and metrics records
- ``transfer``      transfer learning on cached base features; CPU latency and file size
- ``tuning``        the Keras Tuner search, local or distributed
- ``comparison``    test results in the run records, and the table that compares runs
- ``evaluation``    predictions dataframe, accuracy, confusion matrices, per-class accuracy
- ``gradcam``       Grad-CAM heat-maps, overlays and the object-focus score
- ``plots``         every figure of the series, saved to figures/ and shown inline
- ``notebook``      the first cell of every notebook; ``series`` runs them all in order with papermill
"""

import os as _os

# TensorFlow's C++ start-up chatter (CPU instruction notices, oneDNN notes) would otherwise fill every notebook's
# first output and make the nbval regression pass compare noise. Set it before anyone imports TensorFlow.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

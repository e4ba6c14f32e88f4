"""The toy-sorting robot: which model to use and what it predicts for a photo (``predict``), photos copied or
moved into one bin per class without ever losing one (``sorting``), running an exported ``.tflite`` file without
TensorFlow (``lite``) and exporting it (``export``). Exactly what the light install (``pip install ".[robot]"``)
runs: nothing here imports TensorFlow at module level."""

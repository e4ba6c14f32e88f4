"""The toy-sorting robot: which model to use and what it predicts for a photo (``predict``), photos copied or
moved into one bin per class without ever losing one (``sorting``), running an exported ``.tflite`` file without
TensorFlow (``lite``), exporting it (``export``) and making it from a folder of photos in one command (``train``).
The light install (``pip install ".[robot]"``) runs predict, sort and lite; export and train need TensorFlow and
import it inside their functions: nothing here imports TensorFlow at module level."""

"""Every visible GPU: with two or more devices the series trains through tf.distribute.MirroredStrategy.

No GPU here, so the test splits the CPU into two logical devices (in a child process: devices can only be configured
before TensorFlow starts) and trains through ``training.fit`` with the strategy ``devices.use_all_gpus`` sets: the
variables must be mirrored, and the run (checkpoint, backup, record) must work as on one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tensorflow as tf

from toyrobot_utils.modelling import devices

TESTS_DIR = Path(__file__).parent

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests_dir!r})
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from modelling_fixtures import arrays_dataset, planted_task
    from toyrobot_utils.modelling import devices, models, training

    strategy = devices.use_all_gpus(["/cpu:0", "/cpu:1"])
    x, y, _ = planted_task(16, size=32, toy=10, seed=1)
    xv, yv, _ = planted_task(4, size=32, toy=10, seed=2)
    model = models.build_conv_net(2, (32, 32), filters=(4, 8), dense=8)
    run = training.fit(model, arrays_dataset(x, y, 2, batch_size=8, shuffle=True), arrays_dataset(xv, yv, 2),
                       name="mirrored", epochs=2, models_dir=sys.argv[1], verbose=0)
    print(json.dumps({{"replicas": strategy.num_replicas_in_sync, "line": devices.describe(),
                      "variable": type(model.trainable_weights[0].value).__name__,
                      "epochs_run": run.record["epochs_run"]}}))
""")


def test_two_devices_train_through_a_mirrored_strategy(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(SCRIPT.format(tests_dir=str(TESTS_DIR)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "models")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["variable"] == "MirroredVariable" and result["epochs_run"] == 2
    assert "2 devices with MirroredStrategy" in result["line"]
    assert (tmp_path / "models" / "mirrored.keras").is_file()


def test_one_device_keeps_the_default():
    before = tf.distribute.get_strategy()
    assert devices.use_all_gpus(["/cpu:0"]) is before and devices.use_all_gpus([]) is before
    assert "CPU" in devices.describe() or "GPU" in devices.describe()

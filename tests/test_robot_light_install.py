"""The robot on a small computer: the `robot` extra alone (no TensorFlow) sorts photos with an exported .tflite model
into the same bins as the Keras model.

A fresh virtual environment gets ``pip install -c constraints.txt "<project>[robot]"`` (NumPy, pandas, Pillow,
pillow-heif, LiteRT: about half a minute from the package index), and the sort runs there as a separate process,
so nothing of this test process's TensorFlow can help it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_robot import CLASSES, train_tiny_run

from toyrobot_utils.config import PROJECT_ROOT
from toyrobot_utils.robot import export, sorting

pytestmark = pytest.mark.slow  # builds a virtual environment (about 30 s) besides training a tiny network


@pytest.fixture(scope="module")
def light_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("robot-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(PROJECT_ROOT / "constraints.txt"),
                           f"{PROJECT_ROOT}[robot]"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def run_light(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python), "-m", "toyrobot_utils", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_the_robot_extra_sorts_with_a_tflite_model_like_the_keras_model(light_python, tmp_path):
    data_dir, models_dir = train_tiny_run(tmp_path / "run")
    exported = export.export_tflite("tiny", models_dir=models_dir, data_dir=data_dir, variants=("float32",))
    tflite = exported["paths"]["float32"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for f in sorted((data_dir / "test").rglob("*.jpg")) + sorted((data_dir / "validation").rglob("*.jpg")):
        shutil.copy2(f, inbox / f"{f.parent.name}_{f.name}")
    (inbox / "notes.jpg").write_text("not a photo")

    # no TensorFlow (nor Keras) in the light environment: the .tflite path must not need it
    probe = subprocess.run([str(light_python), "-c", "import importlib.util as u; "
                            "print(u.find_spec('tensorflow') is None and u.find_spec('keras') is None)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "True", probe.stderr

    light = run_light(light_python, "sort", str(inbox), str(tmp_path / "bins_lite"), "--model", str(tflite),
                      "--threshold", "0", cwd=tmp_path)
    assert light.returncode == 1, light.stdout + light.stderr  # 1: notes.jpg could not be read, the rest sorted
    assert "tiny: trained " in light.stdout and "fingerprint" in light.stdout  # the Keras run's lineage, via manifest
    assert "notes.jpg" in light.stderr and "Traceback" not in light.stderr

    keras_sorted = sorting.sort_photos(inbox, tmp_path / "bins_keras", models_dir=models_dir, model="tiny",
                                       threshold=0.0)

    def bins(root: Path) -> dict[str, str]:
        return {p.name: p.parent.name for p in root.rglob("*.jpg")}

    lite_bins, keras_bins = bins(tmp_path / "bins_lite"), bins(tmp_path / "bins_keras")
    assert len(keras_bins) == len(list(inbox.glob("*.jpg"))) - 1 == len(lite_bins)
    assert lite_bins == keras_bins
    assert set(keras_bins.values()) <= set(CLASSES) and len(keras_sorted) == len(keras_bins) + 1

    # the same command again sorts nothing twice; a second sort is refused while one runs is tested in test_robot
    again = run_light(light_python, "sort", str(inbox), str(tmp_path / "bins_lite"), "--model", str(tflite),
                      "--threshold", "0", cwd=tmp_path)
    assert again.returncode == 1 and f"{len(lite_bins)} already in the bins" in again.stdout, again.stdout
    assert bins(tmp_path / "bins_lite") == lite_bins

    # a truncated .tflite is refused by its manifest's size and SHA-256, in one line
    broken = tmp_path / "copy" / tflite.name
    broken.parent.mkdir()
    shutil.copy2(exported["manifest"], broken.parent / exported["manifest"].name)
    broken.write_bytes(tflite.read_bytes()[: tflite.stat().st_size // 2])
    refused = run_light(light_python, "sort", str(inbox), str(tmp_path / "bins_broken"), "--model", str(broken),
                        cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith(f"error: The TFLite model {broken} has ")
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "bins_broken").exists()

    # predict --format json / csv, for other programs
    predicted = run_light(light_python, "predict", str(inbox / next(iter(keras_bins))), "--model", str(tflite),
                          "--format", "json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    payload = json.loads(predicted.stdout)
    assert payload["class_names"] == list(CLASSES) and len(payload["photos"]) == 1
    photo = payload["photos"][0]
    assert photo["predicted_label"] == keras_bins[Path(photo["path"]).name]
    assert abs(sum(photo[f"prob_{c}"] for c in CLASSES) - 1) < 1e-4
    csv_out = run_light(light_python, "predict", str(inbox), "--model", str(tflite), "--format", "csv", cwd=tmp_path)
    assert csv_out.returncode == 1  # notes.jpg
    header, *rows = csv_out.stdout.strip().splitlines()
    assert header.startswith("path,filename,predicted_label,predicted_probability,prob_") and len(rows) == len(
        keras_bins) + 1


def test_the_robot_only_install_refuses_a_keras_model_in_one_line_with_advice_that_fits_it(light_python, tmp_path):
    """No TensorFlow: a .keras model (named, or the default of a models folder) is refused in one line that says to
    use its .tflite export; with no model at all, the advice is to train elsewhere and copy the .tflite file."""
    _, models_dir = train_tiny_run(tmp_path / "run")
    photo = next((tmp_path / "run").rglob("*.jpg"))
    for extra in (["--model", str(models_dir / "tiny.keras")], ["--models-dir", str(models_dir)]):
        refused = run_light(light_python, "predict", str(photo), *extra, cwd=tmp_path)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, refused.stderr
        assert "robot-only install" in lines[0] and "toyrobot export-tflite tiny" in lines[0]
        assert "--model tiny.float32.tflite" in lines[0]
    empty = run_light(light_python, "sort", str(photo.parent), str(tmp_path / "bins"), "--models-dir",
                      str(tmp_path / "none"), cwd=tmp_path)
    assert empty.returncode == 2 and "robot-only install" in empty.stderr and "make run" not in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1

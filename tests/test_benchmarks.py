"""Smoke tests for benchmarks/input_pipeline.py and benchmarks/series_wall_time.py.

The scripts run as a user runs them (a subprocess, ``--quick`` on tiny generated photos in tmp_path) and write their
RESULTS.md section into tmp_path, never into benchmarks/RESULTS.md. They fail when a script crashes, when its table
misses a configuration, or when the section lacks the machine/version stamp.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import make_dataset, tree_state

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
CLASSES = ("bananagrams", "brios", "cars")


def _module(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))  # their `from report import ...`
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(script: str, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _section(results: Path, key: str) -> str:
    text = results.read_text()
    assert f"<!-- begin {key} -->" in text and f"<!-- end {key} -->" in text
    section = text.split(f"<!-- begin {key} -->")[1].split(f"<!-- end {key} -->")[0]
    assert "*Measured " in section and "tensorflow 2." in section and "cores" in section  # machine/version stamp
    return section


# --------------------------------------------------------------------------------------------------------------------
# input_pipeline.py
# --------------------------------------------------------------------------------------------------------------------


def test_input_pipeline_quick_times_every_configuration(tmp_path):
    data = make_dataset(tmp_path / "data", classes=CLASSES, counts={"training": 4}, size=(120, 90))
    before = tree_state(data)
    results, phone = tmp_path / "RESULTS.md", tmp_path / "phone"

    proc = _run("input_pipeline.py", "--quick", "--data-dir", data, "--phone-dir", phone, "--results", results,
                "--keras2-check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout

    rows = [line.split() for line in out.splitlines() if line.startswith(("default ", "phone "))]
    found = {(r[0], r[1], next(x for x in r[2:] if x in ("no", "yes"))) for r in rows if len(r) >= 9}
    expected = {(folder, source, aug) for folder in ("default", "phone") for source in ("tf.data", "ImageDataGenerator")
                for aug in ("no", "yes")} | {("default", "in-memory", "no"), ("default", "tf.data,", "no")}
    assert expected <= found, f"missing rows {expected - found} in:\n{out}"
    assert out.count("-> tf_keras net") >= 2 and "Keras 2 cross-check" in out  # the write-up's whole stack
    assert out.count("aim: ") == 3 and "NOT measured" not in out
    assert "ImageDataGenerator / tf.data" in out and "tf.data / in-memory tensors" in out

    section = _section(results, "input_pipeline")
    assert section.count("| phone |") == 4 and section.count("| default |") == 5 + 1 + 2
    assert "aim: at least 5x faster" in section and "Quick mode" in section

    assert tree_state(data) == before  # the source photos are only read
    marker = json.loads((phone / ".phone-size.json").read_text())
    assert marker["files"] == 4 * len(CLASSES) and marker["pixels"] == 600 * 800
    width, height = Image.open(next((phone / "training" / "cars").glob("*.jpg"))).size
    assert abs(width * height - 600 * 800) < 0.01 * 600 * 800 and width / height == pytest.approx(120 / 90, rel=0.01)


def test_phone_folder_is_reused_remade_and_never_clobbers(tmp_path):
    ip = _module("input_pipeline")
    data = make_dataset(tmp_path / "data", classes=CLASSES, counts={"training": 2}, size=(60, 40))
    target = tmp_path / "phone"
    _, first = ip.make_phone_folder(data, target, pixels=120 * 80, workers=1)
    assert not first["reused"] and first["files"] == 2 * len(CLASSES)
    _, again = ip.make_phone_folder(data, target, pixels=120 * 80, workers=1)
    assert again["reused"]
    _, other = ip.make_phone_folder(data, target, pixels=150 * 100, workers=1)  # other settings: made again
    assert not other["reused"]
    assert Image.open(next(target.rglob("*.jpg"))).size == (150, 100)

    foreign = tmp_path / "not_ours"
    (foreign / "keep.txt").parent.mkdir()
    (foreign / "keep.txt").write_text("user file")
    with pytest.raises(FileExistsError):
        ip.make_phone_folder(data, foreign, pixels=120 * 80, workers=1)
    assert (foreign / "keep.txt").read_text() == "user file"


def test_aims_are_reported_as_not_met_when_they_are_not():
    ip = _module("input_pipeline")

    def run(folder, source, augment, later, setup=0.0):
        return ip.Run(folder, source, augment, setup, epochs=[later * 2, later, later], fit_wall=later * 4)

    good = [run("default", "in-memory tensors", False, 1.0)]
    for aug in (False, True):
        good += [run("default", "tf.data", aug, 1.1), run("default", "ImageDataGenerator", aug, 1.5),
                 run("phone", "tf.data", aug, 1.1), run("phone", "ImageDataGenerator", aug, 10.0)]
    _, aims = ip.analyse(good, ["default", "phone"], 3)
    assert all(aims.values())

    slow = [r if not (r.source == "tf.data" and r.folder == "phone" and r.augment) else run("phone", "tf.data", True, 3)
            for r in good]
    slow = [r if not (r.source == "tf.data" and r.folder == "default" and not r.augment)
            else run("default", "tf.data", False, 1.3) for r in slow]
    _, aims = ip.analyse(slow, ["default", "phone"], 3)
    assert [aims[k] for k in aims] == [False, True, False]
    assert sum("NOT met" in line for line in ip.aim_lines(aims)) == 2


# --------------------------------------------------------------------------------------------------------------------
# series_wall_time.py
# --------------------------------------------------------------------------------------------------------------------


def _notebook(path: Path, start: str | None, end: str | None, duration: float | None, cells=(1.0, 2.0),
              said: str | None = None) -> None:
    """A notebook with papermill's record; ``said``: what its first cell printed (setup()'s precision line)."""
    meta = {} if start is None else {"papermill": {"duration": duration, "start_time": start, "end_time": end,
                                                   "exception": None, "parameters": {}}}
    nb = {"cells": [{"cell_type": "code", "metadata": {"papermill": {"duration": d}}, "source": [], "outputs": []}
                    for d in cells], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    if said is not None:
        nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [said]}]
    path.write_text(json.dumps(nb))


def test_series_wall_time_reads_the_papermill_records(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "01_data.ipynb", "2026-01-01T10:00:00+00:00", "2026-01-01T10:01:00+00:00", 60.0)
    _notebook(notebooks / "02_baseline.ipynb", "2026-01-01T10:01:01+00:00", "2026-01-01T10:31:01+00:00", 1800.0,
              said="training in mixed_bfloat16: 2.0x faster than float32 on this CPU (conv nets)\n")
    _notebook(notebooks / "03_dropout.ipynb", None, None, None)
    _notebook(notebooks / "09_mobilenetv2.ipynb", "2026-01-02T08:00:00+00:00", "2026-01-02T08:03:00+00:00", 180.0)
    (notebooks / "tmpabc.ipynb").write_text("{}")  # an unfinished run's temporary file is not a series notebook
    results = tmp_path / "RESULTS.md"

    proc = _run("series_wall_time.py", "--notebooks-dir", notebooks, "--results", results, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "total: 34.0 min over 3 notebook(s)" in out
    assert "run 1: 01, 02 from 2026-01-01 10:00 UTC" in out and "31.0 min wall" in out
    assert "run 2: 09 from 2026-01-02 08:00 UTC" in out and "2 separate runs" in out
    assert "03_dropout.ipynb" in out and "no papermill record" in out and "tmpabc" not in out
    section = _section(results, "series_wall_time")
    assert ("| 02_baseline.ipynb | 2026-01-01 10:01 UTC | 30.0 | 0.1 | mixed_bfloat16 | ok, default parameters |"
            in section)
    assert "| 01_data.ipynb | 2026-01-01 10:00 UTC | 1.0 | 0.1 | — | ok, default parameters |" in section


def test_series_wall_time_shows_the_photos_folder_relative_to_the_project(tmp_path):
    swt = _module("series_wall_time")
    path = tmp_path / "05_learning_rate.ipynb"
    _notebook(path, "2026-01-01T10:00:00+00:00", "2026-01-01T10:01:00+00:00", 60.0)
    nb = json.loads(path.read_text())
    nb["metadata"]["papermill"]["parameters"] = {"data_dir": str(ROOT / "data"), "models_dir": str(tmp_path / "m"),
                                                 "figures_dir": str(tmp_path / "f"), "epochs": 3}
    path.write_text(json.dumps(nb))
    (row,) = swt.report_lines([swt.read_notebook(path)], markdown=True)[2:]
    assert row.endswith("| ok, data_dir=data, epochs=3 (models and figures elsewhere) |"), row
    assert str(ROOT) not in row


@pytest.mark.slow  # starts a Jupyter kernel and executes notebook 01 through the real run command (~30-60 s)
def test_series_wall_time_run_mode_executes_the_run_command(tmp_path):
    data = make_dataset(tmp_path / "data")
    committed = ROOT / "notebooks" / "01_data.ipynb"
    before = committed.stat().st_mtime_ns
    results, keep = tmp_path / "RESULTS.md", tmp_path / "run"
    proc = _run("series_wall_time.py", "--run", "--only", "01", "--data-dir", data, "--keep", keep,
                "--results", results, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "run command wall time:" in proc.stdout and "01_data.ipynb" in proc.stdout
    executed = json.loads((keep / "notebooks" / "01_data.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["models_dir"] == str(keep / "models")
    section = _section(results, "series_wall_time_run")
    assert "| 01_data.ipynb |" in section
    assert committed.stat().st_mtime_ns == before  # the committed notebook is untouched


# --------------------------------------------------------------------------------------------------------------------
# real_photos.py
# --------------------------------------------------------------------------------------------------------------------


def test_real_photos_learning_curve_subsets_are_links_to_n_photos_per_class(tmp_path):
    real_photos = _module("real_photos")
    data = make_dataset(tmp_path / "data", classes=CLASSES, counts={"training": 5, "validation": 2, "test": 2})
    before = tree_state(data)
    subset = tmp_path / "subset"
    real_photos._link_subset(data, subset, 3, rng_seed=0)
    for cls in CLASSES:
        linked = sorted((subset / "training" / cls).iterdir())
        assert len(linked) == 3 and all(p.is_symlink() and p.resolve().parent == data / "training" / cls
                                        for p in linked)
    assert (subset / "validation").resolve() == data / "validation" and (subset / "test").is_symlink()
    real_photos._link_subset(data, subset, 10, rng_seed=0)  # more than there are: all of them, and rebuilt cleanly
    assert all(len(list((subset / "training" / cls).iterdir())) == 5 for cls in CLASSES)
    assert tree_state(data) == before


def test_real_photos_baseline_row_and_table_carry_the_interval(tmp_path):
    real_photos = _module("real_photos")
    data = make_dataset(tmp_path / "data", classes=CLASSES, counts={"training": 4, "validation": 2, "test": 3})
    args = real_photos.argparse.Namespace(seed=0, custom_epochs=1, custom_patience=None)
    row = real_photos._timed(real_photos.custom_network, real_photos.BASELINE, data, tmp_path / "models", args)
    assert row["correct"].dtype == bool and len(row["correct"]) == 9 and 0 <= row["val_accuracy"] <= 1
    assert row["seconds"] > 0 and "model 1, 1 of 1 epochs" in row["note"]
    text = real_photos.table({"baseline": row})
    k = int(row["correct"].sum())
    assert f"{k} of 9 photos" in text and "95 % interval" in text
    assert (tmp_path / "models" / "m1_baseline.keras").is_file()


# --------------------------------------------------------------------------------------------------------------------
# early_stopping.py
# --------------------------------------------------------------------------------------------------------------------


def test_early_stopping_replays_full_length_runs(tmp_path):
    """Runs written like training.fit writes them (record + history); one stopped early itself is left out."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    curves = {"steady": [0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],  # best at epoch 3, nothing after
              "late": [0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.8, 0.7]}  # a late best that patience 3 misses
    for name, values in curves.items():
        (models_dir / f"{name}.json").write_text(json.dumps({"name": name, "patience": None, "seconds_per_epoch": 2.0}))
        rows = [f"{e},0.9,0.1,{v},1.0" for e, v in enumerate(values, 1)]
        lines = ["epoch,accuracy,loss,val_accuracy,val_loss"] + rows
        (models_dir / f"{name}_history.csv").write_text("\n".join(lines) + "\n")
    (models_dir / "stopped.json").write_text(json.dumps({"name": "stopped", "patience": 5, "seconds_per_epoch": 1.0}))
    (models_dir / "stopped_history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n1,0.5,1,0.5,1\n")
    results = tmp_path / "RESULTS.md"
    proc = _run("early_stopping.py", "--models-dir", models_dir, "--results", results)
    assert proc.returncode == 0, proc.stderr
    module = _module("early_stopping")
    table = module.replay_table(models_dir, patiences=(3,)).set_index("run")
    assert list(table.index) == ["late", "steady"]
    assert table.loc["steady", "p3 val"] == 0.7 and table.loc["steady", "p3 saved"] == 2  # stops after epoch 6
    assert table.loc["late", "best val"] == 0.8 and table.loc["late", "p3 val"] == 0.6  # stopped at 5, before 7
    summary = module.summary(table.reset_index(), patiences=(3,))
    assert summary.loc[0, "runs that lose accuracy"] == 1
    assert summary.loc[0, "largest loss (points)"] == pytest.approx(20)
    assert "| patience |" in _section(results, "early_stopping")
    rules = module.rules_table([models_dir], patience=3, budgets=(8, 9), gains=(0.02,)).set_index("run")
    assert list(rules.index) == ["late", "steady"]  # the run that stopped itself left out; no 9-epoch budget
    assert rules.loc["late", "best in budget"] == "7 / 80.0%"
    assert rules.loc["late", "patience 3 alone"] == "5 / 60.0%"


# --------------------------------------------------------------------------------------------------------------------
# augmentation.py
# --------------------------------------------------------------------------------------------------------------------


def test_augmentation_benchmark_times_every_way(tmp_path, tiny_dataset):
    """The pipeline alone three ways, then model 3 trained with either resampler twice: exit 1 unless every round
    of a resampler repeats its first."""
    results = tmp_path / "RESULTS.md"
    proc = _run("augmentation.py", "--photos", 16, "--size", 32, "--batch-size", 8, "--repeats", 1,
                "--train-model", 3, "--data-dir", tiny_dataset, "--epochs", 2, "--rounds", 2,
                "--precision", "float32", "--results", results)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    section = _section(results, "augmentation")
    assert "Keras' four geometric layers" in section and "TensorFlow's kernel) + brightness" in section
    assert "OpenCV: the series) + brightness" in section
    assert "| model 3 (m3_augmentation), float32 |" in section and "repeated its first: yes" in section
    module = _module("augmentation")
    names = [type(layer).__name__ for layer in module.four_layers().layers]
    assert names == ["RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip", "RandomBrightnessScale"]
    names = [type(layer).__name__ for layer in module.one_resampling(opencv=False).layers]
    assert names == ["TensorFlowKernelGeometry", "RandomBrightnessScale"]


# --------------------------------------------------------------------------------------------------------------------
# sort_throughput.py
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sort_throughput_quick_measures_keras_and_tflite_and_the_rerun(tmp_path):
    """About a minute: trains the baseline for one epoch, exports it, and sorts 40 photos twice with each runtime."""
    results = tmp_path / "RESULTS.md"
    proc = _run("sort_throughput.py", "--quick", "--results", results, "--work", tmp_path / "work", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    section = _section(results, "sort")
    assert "| 40 | Keras (.keras, TensorFlow) |" in section and "| 40 | float32 .tflite, full install (" in section
    assert "The light install was not measured" in section  # neither --light-python nor --make-light-venv
    assert not list((tmp_path / "work").glob("bins_*"))  # the bins of each measurement are removed
    assert sorted(p.name for p in (tmp_path / "work" / "photos_40").iterdir())[0] == "IMG_00000.jpg"


# --------------------------------------------------------------------------------------------------------------------
# small_validation_rule.py and few_photos.py
# --------------------------------------------------------------------------------------------------------------------


def _planted_features(seed=0, classes=3, train=6, val=4, test=5, dim=8, copies=2):
    """Feature arrays laid out as small_validation_rule.cached_features writes them: the training photos, then
    each augmented copy of them in the same order (copies: the photos plus a little noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3

    def split(per_class):
        y = np.repeat(np.arange(classes), per_class)
        return (centres[y] + rng.normal(size=(len(y), dim))).astype("float32"), y

    tx, ty = split(train)
    arrays = {"training_x": np.concatenate([tx] + [tx + 0.1 * rng.normal(size=tx.shape) for _ in range(copies)]),
              "training_y": np.concatenate([ty] * (1 + copies))}
    arrays["validation_x"], arrays["validation_y"] = split(val)
    arrays["test_x"], arrays["test_y"] = split(test)
    return arrays


def test_small_validation_rule_draws_per_class_and_replays_both_rules(monkeypatch):
    import numpy as np

    rule = _module("small_validation_rule")
    arrays = _planted_features()
    train, val = rule.draw(arrays, 2, 1, seed=5)
    assert np.bincount(arrays["training_y"][train]).tolist() == [2, 2, 2] and train.max() < 18  # plain photos only
    assert np.bincount(arrays["validation_y"][val]).tolist() == [1, 1, 1]
    monkeypatch.setitem(rule.transfer.RECIPE, "epochs", 6)  # a short curve; the rules are what is tested
    monkeypatch.setitem(rule.transfer.RECIPE, "patience", 2)
    rows = rule.run(arrays, [(2, 1), (6, 4)], draws=2, seed=0)
    assert len(rows) == 4 and set(rows["rule_for_this_size"]) == {"last epoch"}  # 3 and 12 photos: too few
    for column in ("best_on_validation", "last_epoch", "reference"):
        assert rows[column].between(0, 1).all()
    assert all(int(k.split("/")[0]) <= int(k.split("/")[1]) <= 6 for k in rows["kept_epoch"])
    table = rule.summary(rows)
    assert table["training / validation photos per class"].tolist() == ["2 / 1", "6 / 4"]
    assert table["draws won / tied / lost (last)"].map(lambda s: sum(map(int, s.split(" / ")))).eq(2).all()


def test_few_photos_summary_counts_draws_won_and_the_stage_kept():
    import pandas as pd

    few = _module("few_photos")
    rows = pd.DataFrame({"train_per_class": [5, 5, 5], "val_per_class": [2, 2, 2], "recipe": [0.6, 0.7, 0.5],
                         "reference": [0.5, 0.7, 0.6], "fine_tuned": [True, False, False]})
    line = few.summary(rows).iloc[0]
    assert line["draws won / tied / lost"] == "1 / 1 / 1" and line["fine-tuned stage kept"] == "1 of 3"
    assert line["recipe − reference"] == "+0.0 points" and line["recipe"] == "60.0% ± 10.0% (50.0%–70.0%)"


# --------------------------------------------------------------------------------------------------------------------
# bf16_ceiling.py
# --------------------------------------------------------------------------------------------------------------------


def _planted_run(models_dir: Path, name: str, model, *, precision: str, seconds_per_epoch: float, epochs: int,
                 base: str | None = None) -> None:
    """A record and .keras file as training.fit writes them (only the fields the ceiling reads)."""
    model.save(models_dir / f"{name}.keras")
    splits = {"training": {"photos": 40}, "validation": {"photos": 10}, "test": {"photos": 5}}
    settings = {"precision": precision, **({"base": base} if base else {})}
    (models_dir / f"{name}.json").write_text(json.dumps({
        "name": name, "settings": settings, "seconds_per_epoch": seconds_per_epoch, "epochs_run": epochs,
        "seconds": seconds_per_epoch * epochs, "lineage": {"photos": {"splits": splits}}}))


def test_bf16_ceiling_reads_the_runs_and_bounds_the_wall_time(tmp_path):
    import keras

    from toyrobot_utils.modelling import models

    module = _module("bf16_ceiling")
    models_dir, notebooks = tmp_path / "models", tmp_path / "notebooks"
    models_dir.mkdir()
    notebooks.mkdir()
    net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, padding="same"),
                            keras.layers.Flatten(), keras.layers.Dense(3)])
    forward = models.count_flops(net)
    assert forward == 2 * 16 * 16 * 9 * 3 * 8 + 2 * 16 * 16 * 8 * 3
    _planted_run(models_dir, "m1_baseline", net, precision="mixed_bfloat16", seconds_per_epoch=0.5, epochs=10)
    _planted_run(models_dir, "m1_float32", net, precision="float32", seconds_per_epoch=1.0, epochs=10)
    _planted_run(models_dir, "m9_head", net, precision="mixed_bfloat16", seconds_per_epoch=1.0, epochs=10,
                 base="mobilenet_v2")
    rows = module.network_rows(models_dir, bf16_gflops=1.0)
    assert [r["run"] for r in rows] == ["m1_baseline"]  # float32 and transfer runs left out
    per_epoch = forward * (3 * 40 + 10)
    assert rows[0]["achieved GFLOP/s"] == pytest.approx(per_epoch / 0.5 / 1e9)
    assert rows[0]["share of the bf16 ceiling"] == pytest.approx(per_epoch / 0.5 / 1e9)

    planted = [{"seconds": 100.0, "share of the bf16 ceiling": 0.5}, {"seconds": 300.0, "share of the bf16 ceiling":
                                                                      0.75}]
    b = module.bound(planted, wall=1000.0, search=200.0)
    assert b["training"] == 600.0 and b["rest"] == 400.0 and b["median share"] == pytest.approx(0.625)
    assert b["at ceiling"] == pytest.approx(400.0 + 50.0 + 225.0 + 200.0 * 0.625)

    _notebook(notebooks / "07_keras_tuner.ipynb", "2026-01-01T10:00:00+00:00", "2026-01-01T10:05:00+00:00", 300.0)
    nb = json.loads((notebooks / "07_keras_tuner.ipynb").read_text())
    nb["cells"][1]["source"] = ["search = tuning.run_search(datasets)"]
    (notebooks / "07_keras_tuner.ipynb").write_text(json.dumps(nb))
    assert module.search_seconds(notebooks) == 2.0

    module.ceiling = lambda dtype: {"float32": 200.0, "bfloat16": 400.0}[dtype]  # the measured part, planted
    results = tmp_path / "RESULTS.md"
    assert module.main(["--models-dir", str(models_dir), "--notebooks-dir", str(notebooks),
                        "--results", str(results)]) == 0
    section = _section(results, "bf16_ceiling")
    assert "200 GFLOP/s in float32, 400 GFLOP/s in bfloat16** (2.00x)" in section and "| m1_baseline |" in section
    assert "**5.0 min**" in section  # the one notebook's papermill duration


def test_bf16_ceiling_measures_the_matrix_product():
    proc = _run("bf16_ceiling.py", "--child", "bfloat16", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["gflops"] > 1.0


# --------------------------------------------------------------------------------------------------------------------
# steps_per_call.py
# --------------------------------------------------------------------------------------------------------------------


def test_steps_per_call_times_both_settings_and_finds_the_same_histories(tmp_path, tiny_dataset):
    """An augmented network with dropout (model 3) trained at one and at STEPS_PER_EXECUTION batches per call: the
    script exits 1 unless the two histories are equal in every epoch."""
    results = tmp_path / "RESULTS.md"
    proc = _run("steps_per_call.py", "--data-dir", tiny_dataset, "--models", 3, "--epochs", 2, "--rounds", 1,
                "--precision", "float32", "--results", results)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    section = _section(results, "steps_per_call")
    assert "Precision: **float32**" in section and "model 3 (m3_augmentation, augmented)" in section
    assert "| yes |" in section

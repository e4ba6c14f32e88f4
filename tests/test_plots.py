"""Every figure is a Figure, saved as PNG in the figures folder, made without a display."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from toyrobot_utils.analysis import plots  # noqa: E402
from toyrobot_utils.modelling import models, training

from modelling_fixtures import planted_task, write_split  # noqa: E402

CLASSES = ["bananagrams", "brios", "cars"]


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots") / "data"
    x, y, masks = planted_task(3, classes=3, size=40, toy=12, seed=4)
    return write_split(root, "test", x, y, CLASSES, masks=masks), y


def test_training_curves_mark_the_best_epoch(tmp_path):
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [1.0, 0.7, 0.5, 0.4], "accuracy": [0.5, 0.6, 0.8, 0.9],
                            "val_loss": [1.1, 0.8, 0.9, 1.0], "val_accuracy": [0.4, 0.7, 0.6, 0.65]})
    fig = plots.training_curves(history, name="m1_baseline", figures_dir=tmp_path)
    assert isinstance(fig, Figure)
    assert is_png(tmp_path / "m1_baseline_training_curves.png")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    labels = [line.get_label() for line in acc_ax.get_lines()]
    assert "Training Accuracy" in labels and "Validation Accuracy" in labels
    best = [line for line in acc_ax.get_lines() if line.get_label().startswith("best")]
    assert best and best[0].get_xdata()[0] == 2 and "epoch 2" in best[0].get_label()


def test_training_curves_from_a_run_name(tmp_path):
    from modelling_fixtures import arrays_dataset

    x, y, _ = planted_task(4, size=32, toy=10)
    training.seed_everything(0)
    model = models.build_conv_net(2, (32, 32), filters=(4,), dense=4)
    training.fit(model, arrays_dataset(x, y, 2), arrays_dataset(x, y, 2), name="tiny", epochs=2,
                 models_dir=tmp_path / "models", verbose=0)
    fig = plots.training_curves("tiny", models_dir=tmp_path / "models", figures_dir=tmp_path / "figures")
    assert is_png(tmp_path / "figures" / "tiny_training_curves.png") and isinstance(fig, Figure)


def test_confusion_heatmap_puts_actual_along_the_top(tmp_path):
    df = pd.DataFrame({"actual_label": ["bananagrams", "brios", "brios"],
                       "predicted_label": ["bananagrams", "bananagrams", "brios"],
                       "predicted_probability": [0.9, 0.8, 0.7], "filename": ["a", "b", "c"], "correct": [1, 0, 1]})
    df.attrs["class_names"] = CLASSES
    fig = plots.confusion_heatmap(df, name="m1", figures_dir=tmp_path)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "actual label" and ax.get_ylabel() == "predicted label"
    assert ax.xaxis.get_label_position() == "top"
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["1", "1", "0", "0", "1", "0", "0", "0", "0"]  # row-major: predicted rows, actual columns
    assert is_png(tmp_path / "m1_confusion.png")
    plots.confusion_heatmap(df, normalize=True, name="m1", figures_dir=tmp_path)
    assert is_png(tmp_path / "m1_confusion_pct.png")


def test_sample_grid_and_augmentation_preview(photos, tmp_path):
    files, labels = photos
    fig = plots.sample_grid(files=files, labels=labels, class_names=CLASSES, per_class=2, image_size=(40, 40),
                            figures_dir=tmp_path)
    assert isinstance(fig, Figure) and is_png(tmp_path / "sample_grid.png")
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == CLASSES
    fig = plots.augmentation_preview(files[0], n=5, image_size=(40, 40), figures_dir=tmp_path)
    assert is_png(tmp_path / "augmentation_preview.png")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 6 and shown[0].get_title() == "original"
    assert Image.open(tmp_path / "augmentation_preview.png").size[0] > 100


def test_gradcam_grid(photos, tmp_path):
    files, labels = photos
    training.seed_everything(0)
    model = models.build_conv_net(3, (40, 40), filters=(4, 8), dense=8)
    fig = plots.gradcam_grid(model, files=files, labels=labels, class_names=CLASSES, preprocessing="rescale", n=4,
                             cols=2, name="tiny", figures_dir=tmp_path)
    assert isinstance(fig, Figure) and is_png(tmp_path / "tiny_gradcam_grid.png")
    assert sum(1 for ax in fig.axes if ax.images) == 8  # photo + overlay for each of 4
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert any("focus" in t for t in titles)  # these photos have masks


def test_figures_are_not_left_open_in_pyplot(tmp_path):
    """Figures are plain Figure objects: nothing accumulates in pyplot (memory in long notebooks and test runs).
    pyplot is imported first, as a notebook's inline backend does, so a figure made through it would be counted."""
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.5, 0.7], "loss": [1.0, 0.8],
                            "val_accuracy": [0.4, 0.6], "val_loss": [1.1, 0.9]})
    fig = plots.training_curves(history, name="pyplot_check", figures_dir=tmp_path)
    assert isinstance(fig, Figure) and plt.get_fignums() == open_before

"""Every figure of the series: made with matplotlib's object API (``Figure``, no pyplot state, so it works headless
and in tests), saved to ``figures/`` as PNG, and returned so a notebook cell shows it inline.

This module draws what the other modules compute (training histories, predictions, Grad-CAM) and imports them;
none of them imports it. Three figures live elsewhere, in the module a notebook calls them from, drawn with the same
helpers (``figures``): ``gradcam.gradcam_panel``, ``default_data.collage`` and the tuner's ``trials.plot_search``
(the tuning package sits above this one).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from toyrobot_utils import config
from toyrobot_utils.analysis.evaluation import confusion_matrix, resolve_model
from toyrobot_utils.analysis.gradcam import gradcam_table, overlay
from toyrobot_utils.data import augmentation_block
from toyrobot_utils.figures import new_figure, save_figure
from toyrobot_utils.images import load_array
from toyrobot_utils.modelling.training import load_history

# --------------------------------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------------------------------


def _history_frame(history, models_dir=None) -> tuple[pd.DataFrame, str | None]:
    if isinstance(history, str):
        return load_history(history, models_dir), history
    if hasattr(history, "history") and isinstance(getattr(history, "history"), pd.DataFrame):  # RunResult
        return history.history, getattr(history, "name", None)
    if hasattr(history, "history") and isinstance(getattr(history, "history"), dict):  # keras History
        frame = pd.DataFrame(history.history)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        return frame, None
    frame = pd.DataFrame(history)
    if "epoch" not in frame:
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame, None


def training_curves(history, *, name: str | None = None, save: bool = True, figures_dir: str | Path | None = None,
                    models_dir: str | Path | None = None) -> Figure:
    """The write-up's two plots, loss and accuracy per epoch, training vs validation, with the best epoch (highest
    validation accuracy, the one the checkpoint kept) marked. ``history``: a run name, a RunResult, a Keras
    History or a history DataFrame."""
    frame, run_name = _history_frame(history, models_dir)
    name = name or run_name
    fig = new_figure(figsize=(10, 8))
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True)
    epochs = frame["epoch"]
    for ax, metric, title in ((ax_loss, "loss", "Loss"), (ax_acc, "accuracy", "Accuracy")):
        if metric in frame:
            ax.plot(epochs, frame[metric], label=f"Training {title}")
        if f"val_{metric}" in frame:
            ax.plot(epochs, frame[f"val_{metric}"], label=f"Validation {title}")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if "val_accuracy" in frame and frame["val_accuracy"].notna().any():
        best = frame.loc[frame["val_accuracy"].idxmax()]
        for ax in (ax_loss, ax_acc):
            ax.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1)
        ax_acc.plot([best["epoch"]], [best["val_accuracy"]], marker="o", color="black", linestyle="none",
                    label=f"best: {best['val_accuracy']:.3f} at epoch {int(best['epoch'])}")
    ax_acc.set_xlabel("epoch")
    ax_loss.legend()
    ax_acc.legend()
    if name:
        fig.suptitle(name)
    if save:
        save_figure(fig, f"{name}_training_curves" if name else "training_curves", figures_dir)
    return fig


def learning_rate_curve(history, *, name: str | None = None, save: bool = True, figures_dir: str | Path | None = None,
                        models_dir: str | Path | None = None) -> Figure:
    """The learning rate of every epoch (log scale), with the best epoch marked: shows whether the kept weights
    ever trained at a rate the reducer had cut."""
    frame, run_name = _history_frame(history, models_dir)
    name = name or run_name
    fig = new_figure(figsize=(10, 2.8))
    ax = fig.subplots()
    ax.step(frame["epoch"], frame["learning_rate"], where="post", label="learning rate")
    ax.set_yscale("log")
    if "val_accuracy" in frame and frame["val_accuracy"].notna().any():
        ax.axvline(frame.loc[frame["val_accuracy"].idxmax(), "epoch"], color="grey", linestyle="--", linewidth=1,
                   label="best epoch")
    ax.set_xlabel("epoch")
    ax.set_title("Learning rate")
    ax.grid(alpha=0.3)
    ax.legend()
    if save:
        save_figure(fig, f"{name}_learning_rate" if name else "learning_rate", figures_dir)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------------------------------


def confusion_heatmap(predictions, *, normalize: bool = False, class_names: Sequence[str] | None = None,
                      name: str | None = None, title: str | None = None, save: bool = True,
                      figures_dir: str | Path | None = None) -> Figure:
    """Seaborn heat-map of the confusion matrix, laid out like the write-up's table: actual labels along the top,
    predicted labels down the side (so each column's diagonal cell is that class's accuracy).
    ``predictions``: the predictions dataframe or a matrix from ``evaluation.confusion_matrix``."""
    if isinstance(predictions, pd.DataFrame) and "predicted_label" in predictions.columns:
        matrix = confusion_matrix(predictions, normalize=normalize, class_names=class_names)
    else:
        matrix = pd.DataFrame(predictions)
    n = max(len(matrix.columns), 1)
    fig = new_figure(figsize=(1.2 * n + 3, 1.0 * n + 2))
    ax = fig.subplots()
    fmt = ".0%" if normalize else "d"
    sns.heatmap(matrix, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax, square=True, linewidths=0.5,
                vmin=0, vmax=1 if normalize else None)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("actual label")
    ax.set_ylabel("predicted label")
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    if title or name:
        ax.set_title(title or name, pad=30)
    if save:
        suffix = "confusion_pct" if normalize else "confusion"
        save_figure(fig, f"{name}_{suffix}" if name else suffix, figures_dir)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Photos: sample grid and augmentation preview
# --------------------------------------------------------------------------------------------------------------------


def sample_grid(split=None, *, files: Sequence[str | Path] | None = None, labels=None,
                class_names: Sequence[str] | None = None, per_class: int = 5,
                image_size: tuple[int, int] = config.IMAGE_SIZE, seed: int = config.SEED,
                name: str = "sample_grid", save: bool = True, figures_dir: str | Path | None = None) -> Figure:
    """A few photos of each class, one row per class (a random but seeded choice), as the network sees them in
    size. ``split``: a SplitData, or give ``files``, ``labels`` (indices) and ``class_names``."""
    if split is not None:
        files, labels, class_names = split.files, split.labels, split.class_names
    files = [Path(f) for f in files]
    labels = np.asarray(labels)
    classes = list(class_names) if class_names is not None else [str(c) for c in sorted(set(labels.tolist()))]
    rng = np.random.default_rng(seed)
    fig = new_figure(figsize=(2.0 * per_class, 2.1 * len(classes)))
    axes = np.atleast_2d(fig.subplots(len(classes), per_class, squeeze=False))
    for r, cls in enumerate(classes):
        idx = np.flatnonzero(labels == r) if class_names is not None else np.flatnonzero(labels == int(cls))
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for c in range(per_class):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(chosen):
                ax.imshow(load_array(files[chosen[c]], image_size))
                ax.set_title(files[chosen[c]].name, fontsize=7)
        axes[r][0].set_ylabel(cls, fontsize=11)
    if save:
        save_figure(fig, name, figures_dir)
    return fig


def augmentation_preview(image, *, n: int = 8, seed: int = config.SEED,
                         image_size: tuple[int, int] = config.IMAGE_SIZE, name: str = "augmentation_preview",
                         save: bool = True, figures_dir: str | Path | None = None) -> Figure:
    """The original photo and ``n`` random versions from the write-up's augmentation (the data module's
    ``augmentation_block``): what the network trains on in models 3-9."""
    original = load_array(image, image_size) if isinstance(image, (str, Path)) else np.asarray(image)
    block = augmentation_block(seed=seed)
    batch = np.repeat(original[None].astype(np.float32), n, axis=0)
    augmented = np.asarray(block(batch, training=True))
    augmented = np.clip(augmented, 0, 255).astype(np.uint8)
    panels = [("original", original)] + [(f"augmented {i + 1}", a) for i, a in enumerate(augmented)]
    cols = min(len(panels), 3 if len(panels) <= 9 else 5)
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(figsize=(2.6 * cols, 2.7 * rows))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
    if save:
        save_figure(fig, name, figures_dir)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Grad-CAM grid
# --------------------------------------------------------------------------------------------------------------------


def gradcam_grid(model, split=None, *, files: Sequence[str | Path] | None = None, labels=None,
                 class_names: Sequence[str] | None = None, image_size: tuple[int, int] | None = None,
                 preprocessing: str | None = None, layer: str | None = None, n: int = 8, cols: int = 4,
                 alpha: float = 0.4, name: str | None = None, save: bool = True,
                 figures_dir: str | Path | None = None, models_dir: str | Path | None = None) -> Figure:
    """Photos (top) and their Grad-CAM overlays (below) for the first ``n`` of ``files`` (pick them first, e.g.
    ``evaluation.confident_mistakes(df).path``), titled with actual/predicted label, probability and, where the
    photo has a mask, the focus score."""
    run_name = model if isinstance(model, str) else None
    resolved = resolve_model(model, image_size=image_size, preprocessing=preprocessing, models_dir=models_dir)
    if split is not None and files is None:
        files, labels = split.files, split.labels
        class_names = class_names or split.class_names
    files = [Path(f) for f in files][:n]
    labels = None if labels is None else list(labels)[: len(files)]
    table, maps = gradcam_table(resolved.model, files=files, labels=labels,
                                class_names=class_names or resolved.class_names, image_size=resolved.image_size,
                                preprocessing=resolved.preprocessing, layer=layer, return_heatmaps=True)
    count = len(files)
    cols = max(1, min(cols, count))
    block_rows = math.ceil(count / cols) if count else 1
    fig = new_figure(figsize=(2.8 * cols, 5.6 * block_rows))
    axes = np.atleast_2d(fig.subplots(2 * block_rows, cols, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    for i, row in table.iterrows():
        r, c = 2 * (i // cols), i % cols
        image = load_array(row["path"], resolved.image_size)
        axes[r][c].imshow(image)
        actual = row.get("actual_label")
        head = f"{actual} -> " if actual is not None and isinstance(actual, str) else ""
        axes[r][c].set_title(f"{head}{row['predicted_label']}\np = {row['predicted_probability']:.2f}", fontsize=9,
                             color="black" if row.get("correct", 1) else "crimson")
        axes[r + 1][c].imshow(overlay(image, maps[i], alpha))
        if not np.isnan(row["focus"]):
            axes[r + 1][c].set_title(f"focus {row['focus']:.2f} ({row['focus_lift']:.1f}x chance)", fontsize=9)
    if save:
        save_figure(fig, f"{name or run_name or 'gradcam'}_gradcam_grid", figures_dir)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Comparing models
# --------------------------------------------------------------------------------------------------------------------


def accuracy_bars(table: pd.DataFrame, *, name: str = "accuracy_bars", title: str | None = None, save: bool = True,
                  figures_dir: str | Path | None = None) -> Figure:
    """Models side by side, from a ``comparison.compare_runs`` table (one row per model): validation and test
    accuracy as bars with the write-up's figures as black marks, then parameters (millions) and seconds per epoch.
    Always three panels, whatever the table holds (a model without a value gets no bar)."""
    fig = new_figure(figsize=(11, 9))
    ax_acc, ax_params, ax_time = fig.subplots(3, 1, sharex=True, height_ratios=(2, 1, 1))
    rows = table.reset_index() if len(table) else pd.DataFrame()
    labels = [str(r.get("name", "")) if str(r.get("model", "")) in ("", str(r.get("name", ""))) else
              f"{r.get('model')}: {r.get('name', '')}" for _, r in rows.iterrows()]
    x = np.arange(len(rows))

    def column(key):
        if key not in rows:
            return np.full(len(rows), np.nan)
        return pd.to_numeric(rows[key], errors="coerce").to_numpy(dtype=float)

    width = 0.38
    for offset, key, label, color in ((-width / 2, "val_accuracy", "validation (ours)", "tab:blue"),
                                      (width / 2, "test_accuracy", "test (ours)", "tab:orange")):
        values = column(key)
        bars = ax_acc.bar(x + offset, np.nan_to_num(values), width, label=label, color=color)
        for bar, value in zip(bars, values):
            if not np.isnan(value):  # inside the bar's top, clear of the write-up's mark
                ax_acc.annotate(f"{value:.0%}", (bar.get_x() + bar.get_width() / 2, value), xytext=(0, -3),
                                textcoords="offset points", ha="center", va="top", fontsize=8, color="white")
        writeup = column(f"writeup_{key}")
        shown = ~np.isnan(writeup)
        if shown.any():
            ax_acc.scatter(x[shown] + offset, writeup[shown], marker="_", s=500, linewidths=2.5, color="black",
                           zorder=3, label="the write-up's" if key == "val_accuracy" else None)
    ax_acc.set_ylim(0, 1.05)
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize="small", frameon=False)
    ax_params.bar(x, np.nan_to_num(column("params")) / 1e6, color="tab:green")
    ax_params.set_ylabel("parameters (M)")
    ax_time.bar(x, np.nan_to_num(column("seconds_per_epoch")), color="tab:gray")
    ax_time.set_ylabel("seconds per epoch")
    for ax in (ax_acc, ax_params, ax_time):
        ax.grid(axis="y", alpha=0.3)
    ax_time.set_xticks(x)
    ax_time.set_xticklabels(labels, rotation=20, ha="right", fontsize=9)
    if not len(rows):
        ax_acc.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax_acc.transAxes)
    fig.suptitle(title or "Models compared: accuracy, size and training time")
    if save:
        save_figure(fig, name, figures_dir)
    return fig


def confusion_grid(predictions: dict[str, pd.DataFrame], *, cols: int = 4, name: str = "confusion_grid",
                   save: bool = True, figures_dir: str | Path | None = None) -> Figure:
    """One small column-normalised confusion matrix per model (``{label: predictions dataframe}``), laid out like
    ``confusion_heatmap`` (actual labels along the top): the same classes in the same order in every panel, so the
    eye can run across models and see which mix-ups go away."""
    count = len(predictions)
    cols = max(1, min(cols, count))
    rows = max(1, math.ceil(count / cols))
    fig = new_figure(figsize=(3.6 * cols, 3.5 * rows))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    classes = None
    for ax, (label, df) in zip(axes.ravel(), predictions.items()):
        classes = classes or list(df.attrs.get("class_names") or sorted(set(df["actual_label"])))
        matrix = confusion_matrix(df, normalize=True, class_names=classes)
        ax.axis("on")
        sns.heatmap(matrix, annot=True, fmt=".0%", cmap="Blues", cbar=False, ax=ax, square=True, linewidths=0.5,
                    vmin=0, vmax=1, annot_kws={"fontsize": 7})
        ax.xaxis.tick_top()
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.tick_params(axis="y", rotation=0, labelsize=7)
        ax.set_title(f"{label}: {df['correct'].mean():.0%} correct", fontsize=10)
    if not count:
        axes[0][0].text(0.5, 0.5, "no test predictions yet", ha="center", va="center")
    fig.suptitle("Confusion matrices on the test photos (columns: actual label, rows: predicted label)")
    if save:
        save_figure(fig, name, figures_dir)
    return fig


def gradcam_across_models(models: dict[str, object], files: Sequence[str | Path], *, alpha: float = 0.4,
                          name: str = "gradcam_across_models", save: bool = True,
                          figures_dir: str | Path | None = None, models_dir: str | Path | None = None) -> Figure:
    """The same photos (rows) through every model (columns after the photo): each model's Grad-CAM overlay titled
    with its prediction and, where the photo has a mask, its focus on the toy. ``models``: ``{label: run name or
    model}``; each model reads the photo at its own size and preprocessing."""
    files = [Path(f) for f in files]
    labels = [f.parent.name for f in files]
    fig = new_figure(figsize=(2.3 * (len(models) + 1), 2.5 * max(len(files), 1)))
    axes = np.atleast_2d(fig.subplots(max(len(files), 1), len(models) + 1, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    for r, path in enumerate(files):
        axes[r][0].imshow(load_array(path, (224, 224)))
        axes[r][0].set_title(f"photo: {labels[r]}", fontsize=9)
    for c, (label, model) in enumerate(models.items(), start=1):
        resolved = resolve_model(model, models_dir=models_dir)
        table, maps = gradcam_table(resolved.model, files=files, labels=labels, class_names=resolved.class_names,
                                    image_size=resolved.image_size, preprocessing=resolved.preprocessing,
                                    return_heatmaps=True)
        for r, row in table.iterrows():
            image = load_array(row["path"], resolved.image_size)
            axes[r][c].imshow(overlay(image, maps[r], alpha))
            text = f"{row['predicted_label']} {row['predicted_probability']:.2f}"
            if not np.isnan(row["focus"]):
                text += f"\nfocus {row['focus']:.2f}"
            axes[r][c].set_title(text, fontsize=8, color="black" if row.get("correct", 1) else "crimson")
        axes[0][c].annotate(label, (0.5, 1.0), xytext=(0, 28), xycoords="axes fraction", textcoords="offset points",
                            ha="center", va="bottom", fontsize=10, fontweight="bold")
    fig.suptitle("Grad-CAM of the same test photos across models (red: wrong prediction)")
    if save:
        save_figure(fig, name, figures_dir)
    return fig


def gradcam_side_by_side(
    runs: Mapping[str, Any],
    split=None,
    *,
    files: Sequence[str | Path] | None = None,
    labels=None,
    class_names: Sequence[str] | None = None,
    n_figure: int = 6,
    alpha: float = 0.4,
    name: str = "gradcam_side_by_side",
    save: bool = True,
    models_dir: str | Path | None = None,
    figures_dir: str | Path | None = None,
):
    """Grad-CAM of several models on the same photos. ``runs``: {label: run name, RunResult or model}; each model
    reads the photos at its own size and preprocessing. Returns (table, figure): one table row per photo and model
    (``model`` column = the label) with the predictions and the object-focus scores, and a figure with one row per
    photo (the first ``n_figure``): the photo, then each model's overlay titled with its prediction and focus."""
    if split is not None and files is None:
        files, labels = split.files, split.labels
        class_names = class_names or split.class_names
    files = [Path(f) for f in files]
    tables, maps = [], {}
    for label, run in runs.items():
        table, heat = gradcam_table(run, files=files, labels=labels, class_names=class_names, return_heatmaps=True,
                                    models_dir=models_dir)
        tables.append(table.assign(model=label))
        maps[label] = heat
    combined = pd.concat(tables, ignore_index=True)
    combined.insert(0, "model", combined.pop("model"))

    shown = files[: max(0, int(n_figure))]
    cols = 1 + len(runs)
    fig = new_figure(figsize=(2.9 * cols, 3.0 * max(1, len(shown))))
    axes = np.atleast_2d(fig.subplots(max(1, len(shown)), cols, squeeze=False))
    for ax in axes.ravel():
        ax.axis("off")
    for r, path in enumerate(shown):
        photo = load_array(path, (224, 224))
        axes[r][0].imshow(photo)
        axes[r][0].set_title(f"{path.parent.name}\n{path.name}", fontsize=8)
        for c, label in enumerate(runs, start=1):
            row = combined[(combined["model"] == label)].iloc[r]
            heat = maps[label][r]
            axes[r][c].imshow(overlay(load_array(path, heat.shape[:2]), heat, alpha))
            title = f"{label}: {row['predicted_label']} ({row['predicted_probability']:.2f})"
            if not np.isnan(row["focus"]):
                title += f"\nfocus {row['focus']:.2f} ({row['focus_lift']:.1f}x chance)"
            axes[r][c].set_title(title, fontsize=8, color="black" if row.get("correct", 1) else "crimson")
    if save:
        save_figure(fig, name, figures_dir)
    return combined, fig


__all__ = [
    "accuracy_bars",
    "augmentation_preview",
    "confusion_grid",
    "confusion_heatmap",
    "gradcam_across_models",
    "gradcam_grid",
    "gradcam_side_by_side",
    "sample_grid",
    "learning_rate_curve",
    "training_curves",
]

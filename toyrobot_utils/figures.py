"""Making and saving a figure: matplotlib's object API (a ``Figure`` with no pyplot state, so it works headless, in
tests and in notebooks alike), saved to ``figures/`` as PNG.

It sits at the bottom of the package so that every module that draws can use it without importing ``plots`` (which
imports Grad-CAM, evaluation and training): ``plots`` holds the series' figures, and the few modules below it that
draw a figure of their own (the built-in data set's collage, the write-up's Grad-CAM panel) use these two helpers.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from toyrobot_utils import config


def new_figure(figsize=(8, 6), **kwargs) -> Figure:
    """A Figure not registered with pyplot: nothing to close, nothing shown twice in a notebook."""
    return Figure(figsize=figsize, layout=kwargs.pop("layout", "constrained"), **kwargs)


def save_figure(fig: Figure, name: str, figures_dir: str | Path | None = None, dpi: int = 110) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (``figures/`` by default) and return the path."""
    figures_dir = Path(figures_dir) if figures_dir is not None else config.FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi)
    fig.saved_path = path  # handy in notebooks: fig.saved_path
    return path


__all__ = ["new_figure", "save_figure"]

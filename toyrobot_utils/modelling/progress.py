"""One line per epoch while a model trains, for the command line (``toyrobot train``): which stage, epoch i of at
most N with a bar, the validation accuracy (and the best so far), and the time left at most.

"At most": a stage with early stopping ends once validation accuracy has not beaten its best for ``patience``
epochs (``stopping.stalled``), so the epochs left are at most the fewer of the epochs still allowed and those
before patience runs out; times the mean epoch so far. Keras' own bar (``verbose=1``) shows steps within an epoch
and no bound on the stage, and with cached base features an epoch takes a fraction of a second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import keras

BAR_WIDTH = 20


def duration(seconds: float) -> str:
    """'4 s', '2 min 05 s', '1 h 03 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = min(width, round(width * done / total)) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


class EpochProgress(keras.callbacks.Callback):
    """Print one line at the end of every epoch of a ``training.fit`` run (pass it in ``callbacks``; run the fit with
    ``verbose=0``): ``stage``, epoch i/``epochs``, a bar, validation accuracy (best so far) and the time left at most
    given ``patience`` (None: every epoch runs). ``lines`` keeps what was printed."""

    def __init__(self, stage: str, epochs: int, patience: int | None = None, *, stream: TextIO | None = None):
        super().__init__()
        self.stage, self.epochs, self.patience = stage, int(epochs), patience
        self.stream = stream
        self.lines: list[str] = []
        self.seconds: list[float] = []
        self.best, self.best_epoch = None, None
        self.epoch_started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def epochs_left(self, epoch: int) -> int:
        """Epochs that can still run after ``epoch`` (0-based): the limit, or patience running out first."""
        left = self.epochs - (epoch + 1)
        if self.patience and self.best_epoch is not None:
            left = min(left, max(0, int(self.patience) - (epoch - self.best_epoch)))
        return max(0, left)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.epoch_started)
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is not None and (self.best is None or float(accuracy) > self.best):
            self.best, self.best_epoch = float(accuracy), epoch  # the first epoch of the best score, as stalled()
        left = self.epochs_left(epoch) * sum(self.seconds) / len(self.seconds)
        score = "" if accuracy is None else f"  val accuracy {float(accuracy):6.1%} (best {self.best:.1%})"
        line = (f"{self.stage} epoch {epoch + 1:>{len(str(self.epochs))}}/{self.epochs} "
                f"{bar(epoch + 1, self.epochs)}{score}  {self.seconds[-1]:.1f} s"
                f"  {'done' if left == 0 else 'at most ' + duration(left) + ' left'}")
        self.lines.append(line)
        print(line, file=self.stream or sys.stdout, flush=True)


__all__ = ["BAR_WIDTH", "EpochProgress", "bar", "duration"]

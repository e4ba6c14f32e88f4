"""One line per epoch while a model trains. ``EpochProgress``, for the command line (``toyrobot train``): which
stage, epoch i of at most N with a bar, the validation accuracy (and the best so far), and the time left at most.
``EpochLog``, for the notebooks (``training.fit``'s log): the epoch's training and validation scores on one line,
marked where the run's checkpoint kept it — Keras' checkpoint would add a line per epoch naming the file's
absolute path, which a committed notebook would then carry; ``training.fit`` names the file once, at the end.

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


class EpochLog(keras.callbacks.Callback):
    """Print one line per epoch: 'epoch  3/50  loss 1.398  accuracy 41.0 %  val_loss 1.280  val_accuracy 52.7 %
    lr 0.001  3.2 s  ★ kept so far'. ``kept``: the 1-based epochs the run's checkpoint saved (a list it appends to,
    read after it at each epoch end), so the mark follows the run's own rule for the kept epoch (ties included).
    With ``cuts`` (a learning-rate reducer runs before it), a cut shows as 'lr 0.001 → 0.0005' on the epoch after
    which it happened. ``lines`` keeps what was printed."""

    def __init__(self, epochs: int, kept: list[int] | None = None, *, cuts: bool = False,
                 stream: TextIO | None = None):
        super().__init__()
        self.epochs, self.kept, self.cuts, self.stream = int(epochs), kept if kept is not None else [], cuts, stream
        self.lines: list[str] = []
        self.epoch_started, self.rate = time.perf_counter(), None

    def _rate(self):
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):  # a schedule, or no optimizer: no single rate to show
            return None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started, self.rate = time.perf_counter(), self._rate()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"epoch {epoch + 1:>{len(str(self.epochs))}}/{self.epochs}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if logs.get(key) is not None:
                value = float(logs[key])
                parts.append(f"{key} {value * 100:5.1f} %" if key.endswith("accuracy") else f"{key} {value:.3f}")
        after = self._rate() if self.cuts else None
        if self.rate is not None:
            parts.append(f"lr {self.rate:g}" + (f" → {after:g}" if after is not None and after < self.rate else ""))
        parts.append(f"{time.perf_counter() - self.epoch_started:.1f} s")
        if self.kept and self.kept[-1] == epoch + 1:
            parts.append("★ kept so far")
        line = "  ".join(parts)
        self.lines.append(line)
        print(line, file=self.stream or sys.stdout, flush=True)


__all__ = ["BAR_WIDTH", "EpochLog", "EpochProgress", "bar", "duration"]

"""Input pipeline: our tf.data pipeline against the write-up's ImageDataGenerator, seconds per epoch side by side.

    .venv/bin/python benchmarks/input_pipeline.py [--data-dir data] [--epochs 5] [--skip-phone] [--quick]
                                                  [--phone-dir DIR] [--idg-workers 1] [--keras2-check]
                                                  [--results PATH]

What is compared, on the TRAINING split only (no validation pass, no checkpoint: only the input pipeline and the
training steps are timed), 128 x 128 px, batch 32, pixels / 255, one-hot labels, the same seed for every run:

- **tf.data**: ``toyrobot_utils.data.load_split`` -- the audit decodes every photo once (JPEG draft mode, threads)
  into an in-memory uint8 cache; epochs then shuffle, batch and (with augmentation) run the Keras preprocessing
  layers of ``data.augmentation_block`` on whole batches, with tf.data's autotuning off (``data.pipeline_options``).
  The one-off decode is the "setup" column. One more row, on the default folder without augmentation, times the
  same pipeline with autotuning switched back on (as it was before): the measurement behind switching it off.
- **ImageDataGenerator**: the write-up's own approach, Keras 2's
  ``ImageDataGenerator(rescale=1/255[, **data.AUGMENTATION]).flow_from_directory(<folder>/training,
  target_size=(128, 128), batch_size=32, class_mode="categorical")`` from the ``tf-keras`` package (Keras 2.21),
  with its defaults (nearest-neighbour resize, shuffle, ``fit`` with one worker as in Keras 2). It reads and decodes
  every photo again in every epoch. The augmentation arguments are the write-up's, exactly as ``data.AUGMENTATION``
  lists them (rotation 20, width/height shift 0.2, zoom 0.1, horizontal flip, brightness 0.5-1.5, fill "nearest";
  the write-up used no shear).
- **in-memory tensors** (reference, no augmentation): the same photos already decoded, resized and scaled, as
  float32 NumPy arrays, shuffled each epoch and handed to the network one batch at a time with
  ``model.train_on_batch`` -- no input pipeline at all (``model.fit(x, y)`` would build a tf.data pipeline of its own,
  with tf.data's autotuning, whose stretches of doubled epochs made it a poor yardstick). It is measured once, on
  the default folder's photos; it is the reference for both folders (the tensors have the same shape and the network
  does the same work whatever size the files on disk had).

The same network for every row: the write-up's baseline (``models.build_baseline``, Keras 3, 1,058,917 parameters),
built fresh from the same seed for each run. A Keras 2 ``DirectoryIterator`` is a ``tf_keras.utils.Sequence``, which
Keras 3's ``model.fit`` refuses ("Unrecognized data type"); it is handed over through ``SequenceAsPyDataset``, a
four-line ``keras.utils.PyDataset`` that only forwards ``__len__``, ``__getitem__`` and ``on_epoch_end``. Keras 3
then runs it the way Keras 2's ``fit`` ran a ``Sequence`` with ``workers=1``: the batches are produced in Python,
one after another, behind a prefetching ``tf.data.Dataset.from_generator``. So only the input pipeline differs
between the rows. ``--keras2-check`` adds the write-up's whole stack as a cross-check on the default folder: the
same architecture built in tf_keras, fed natively by the ImageDataGenerator and by the in-memory tensors, so the
Keras 2 and Keras 3 networks can be compared on identical input.

Folders: ``--data-dir`` (default: the project's ``data/``; when it holds no photos, the built-in training split is
generated into a temporary folder), and the same training photos at phone-camera size: every photo upright, scaled
(aspect kept) to 12 megapixels (3000 x 4000 for a 3:4 photo), with a faint sensor grain so that the files are as
large as a phone's (about 3 MB at JPEG quality 90; a smooth upscale would compress to a third of that and decode
faster than real photos), pixels stored upright without an EXIF rotation. They are written once into
``build/phone_size/<name>-<hash>/`` (git-ignored; reused while complete and up to date; the source is only read)
or ``--phone-dir``.

Reported for each run: the setup (tf.data's one-off decode; the ImageDataGenerator's folder scan), the first epoch
(it also traces the training graph, in every row alike), the median of the later epochs (the steady state; a median,
because on a shared 2-core machine a single epoch now and then takes twice as long whatever feeds it), every epoch's
seconds, and the measured total. Ratios: ImageDataGenerator / tf.data per folder and augmentation setting, per epoch
and for the whole run (one-off costs included: setup + first epoch + the later epochs at their median), and tf.data /
in-memory tensors. Aims (the issue's): at least 5x faster than the
ImageDataGenerator on phone-size photos, never slower on the small ones (per epoch and for the whole run), and within
20 % of the in-memory tensors without augmentation (the pipeline is not the bottleneck). ``--quick`` is a smoke run
(a few photos per class, 600 x 800 "phone" photos, 2 epochs) whose figures mean nothing; it writes RESULTS.md only
when ``--results`` is given. Otherwise the section "input_pipeline" of benchmarks/RESULTS.md is rewritten.
Exit status: 0 when every aim is met (or in quick mode), 1 when one is not, 2 when tf-keras is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Light imports only at module level: the phone-size workers are spawned processes that import this module.
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from toyrobot_utils import config, images  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.append(str(Path(__file__).resolve().parent))

AIM_PHONE = 5.0  # ImageDataGenerator / tf.data on phone-size photos, at least
AIM_SMALL = 1.0  # ... on the small photos: never slower
AIM_IN_MEMORY = 1.20  # tf.data / in-memory tensors, at most (within 20 %)

PHONE_PIXELS = 3000 * 4000  # a 12-megapixel phone camera
QUICK_PHONE_PIXELS = 600 * 800
PHONE_QUALITY = 90
PHONE_GRAIN = 5.0  # standard deviation of the luminance grain, in 0-255 steps
PHONE_VERSION = 1  # bump when the conversion changes, so an old cache is not taken for the new one
PHONE_MARKER = ".phone-size.json"  # written last: a folder with it is complete
QUICK_PER_CLASS = 4
AUTOTUNE_ON = "tf.data, autotune on (before)"

IMAGE_SIZE = config.IMAGE_SIZE
BATCH_SIZE = config.BATCH_SIZE


# --------------------------------------------------------------------------------------------------------------------
# The phone-size folder
# --------------------------------------------------------------------------------------------------------------------


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__")


def training_files(data_dir: Path) -> list[Path]:
    """The training split's image files (relative to ``data_dir``), class folder by class folder, sorted."""
    root = Path(data_dir) / "training"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist: --data-dir needs a training/<class>/ layout")
    files = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p.name)):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and not _is_hidden(path.name) and path.suffix.lower() in config.IMAGE_EXTENSIONS:
                files.append(path.relative_to(data_dir))
    return files


def _phone_name(relative: Path) -> Path:
    return relative.with_suffix(".jpg") if relative.suffix.lower() in (".jpg", ".jpeg") else Path(f"{relative}.jpg")


def _phone_task(task) -> int:
    """Write one phone-size JPEG; returns its size in bytes (0 when the source could not be read)."""
    src, dst, pixels, quality, grain = task
    try:
        img = images.open_rgb(src)
    except Exception:  # noqa: BLE001 - the audit skips such a file too; the phone folder simply leaves it out
        return 0
    width, height = img.size
    scale = (pixels / (width * height)) ** 0.5
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    big = np.asarray(img.resize(size, Image.Resampling.BICUBIC))
    if grain > 0:  # luminance grain from a seeded 1024 px tile: JPEG cannot exploit the repetition
        rng = np.random.default_rng(zlib.crc32("/".join(Path(dst).parts[-3:]).encode()))  # split/class/name
        tile = np.round(rng.standard_normal((1024, 1024), dtype=np.float32) * grain).astype(np.int16)
        reps = (-(-size[1] // 1024), -(-size[0] // 1024))
        noise = np.tile(tile, reps)[: size[1], : size[0], None]
        big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, "JPEG", quality=quality)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(buffer.getvalue())
    return buffer.tell()


def _source_digest(data_dir: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for rel in files:
        st = (data_dir / rel).stat()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def default_phone_dir(data_dir: Path, pixels: int) -> Path:
    key = hashlib.sha256(f"{Path(data_dir).resolve()}|{pixels}".encode()).hexdigest()[:10]
    return config.PROJECT_ROOT / "build" / "phone_size" / f"{Path(data_dir).resolve().name}-{key}"


def make_phone_folder(data_dir: Path, target: Path, *, pixels: int = PHONE_PIXELS, quality: int = PHONE_QUALITY,
                      grain: float = PHONE_GRAIN, workers: int | None = None) -> tuple[Path, dict]:
    """``target/training/<class>/*.jpg``: ``data_dir``'s training photos at ``pixels`` megapixels, as a phone saves
    them. Reused when ``target`` is complete for the same source files and settings; ``data_dir`` is only read."""
    data_dir, target = Path(data_dir), Path(target)
    files = training_files(data_dir)
    expected = {
        "version": PHONE_VERSION, "source": str(data_dir.resolve()), "source_files": len(files),
        "source_digest": _source_digest(data_dir, files), "pixels": int(pixels), "quality": int(quality),
        "grain": float(grain),
    }
    marker = target / PHONE_MARKER
    if marker.is_file():
        found = json.loads(marker.read_text())
        if all(found.get(k) == v for k, v in expected.items()):
            return target, {**found, "reused": True, "seconds": 0.0}
        print(f"{target} was made from other photos or with other settings: making it again ...", flush=True)
        shutil.rmtree(target)
    elif target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists but is not a phone-size folder made by this script "
                              f"(no {PHONE_MARKER}); remove it or choose another --phone-dir")
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    tasks = [(str(data_dir / rel), str(partial / _phone_name(rel)), int(pixels), int(quality), float(grain))
             for rel in files]
    workers = workers or max(1, os.cpu_count() or 1)
    print(f"writing {len(tasks)} phone-size photos ({pixels / 1e6:.1f} MP, JPEG quality {quality}) into {target} "
          f"with {workers} process(es) ...", flush=True)
    start = time.perf_counter()
    try:
        if workers > 1 and len(tasks) > 8:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: never fork a process whose thread pools may be running
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                sizes = list(pool.map(_phone_task, tasks, chunksize=4))
        else:
            sizes = [_phone_task(t) for t in tasks]
        written = [s for s in sizes if s]
        info = {**expected, "files": len(written), "skipped_unreadable": len(sizes) - len(written),
                "bytes": int(sum(written)), "mean_mb": float(np.mean(written) / 1e6) if written else 0.0,
                "made": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        (partial / PHONE_MARKER).write_text(json.dumps(info, indent=1) + "\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target, {**info, "reused": False, "seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------------------------------------------------
# Timed runs
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    folder: str
    source: str  # "tf.data", "ImageDataGenerator", "in-memory tensors", or a Keras 2 variant
    augment: bool
    setup: float | None  # seconds before fit; None: nothing to set up (tensors given)
    epochs: list[float] = field(default_factory=list)
    fit_wall: float = 0.0
    images: int = 0

    @property
    def first(self) -> float:
        return self.epochs[0]

    @property
    def later(self) -> float:
        """Median seconds of the epochs after the first: one epoch slowed by something else on the machine does not
        move it."""
        rest = self.epochs[1:] or self.epochs
        return float(np.median(rest))

    @property
    def typical_total(self) -> float:
        """setup + first epoch + the later epochs at their median: the whole run without the odd slowed epoch."""
        return (self.setup or 0.0) + self.first + self.later * (len(self.epochs) - 1)

    @property
    def total(self) -> float:
        return (self.setup or 0.0) + self.fit_wall


def sequence_as_py_dataset(sequence, workers: int = 1):
    """A Keras 2 ``Sequence`` (e.g. a tf_keras ``DirectoryIterator``) as a Keras 3 ``PyDataset``, so a Keras 3
    model can ``fit`` on it; Keras 3's ``fit`` does not accept Keras 2 Sequences."""
    import keras

    class SequenceAsPyDataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=False)
            self.sequence = sequence

        def __len__(self):
            return len(self.sequence)

        def __getitem__(self, index):
            return self.sequence[index]

        def on_epoch_end(self):
            self.sequence.on_epoch_end()

    return SequenceAsPyDataset()


class Bench:
    def __init__(self, epochs: int, seed: int, idg_workers: int):
        import keras

        from toyrobot_utils.modelling import models, training

        self.keras, self.models, self.training = keras, models, training
        self.epochs, self.seed, self.idg_workers = epochs, seed, idg_workers
        self.num_classes = None

    def _model(self):
        self.keras.backend.clear_session()
        self.training.seed_everything(self.seed)  # as the series trains: seeded, deterministic ops
        return self.models.build_baseline(self.num_classes, IMAGE_SIZE)

    def _fit(self, run: Run, model, *args, **kwargs) -> Run:
        from report import epoch_timer  # benchmarks/report.py
        timer = epoch_timer(keras_module=self.keras)
        start = time.perf_counter()
        model.fit(*args, epochs=self.epochs, verbose=0, callbacks=[timer], **kwargs)
        run.fit_wall = time.perf_counter() - start
        run.epochs = timer.seconds
        return run

    def warm_up(self, num_classes: int) -> None:
        """Build and train once on random tensors, so the first timed run does not pay TensorFlow's start-up."""
        self.num_classes = num_classes
        x = np.random.default_rng(0).random((BATCH_SIZE, *IMAGE_SIZE, 3), dtype=np.float32)
        y = np.eye(num_classes, dtype=np.float32)[np.arange(BATCH_SIZE) % num_classes]
        self._model().fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)

    def tf_data(self, folder: str, data_dir: Path, augment: bool, autotune: bool = False):
        """The project's pipeline exactly as ``data.load_split`` builds it; ``autotune=True`` switches tf.data's
        autotuning back on (the diagnostic row)."""
        import tensorflow as tf

        from toyrobot_utils import data

        start = time.perf_counter()
        split = data.load_split(data_dir, "training", image_size=IMAGE_SIZE, batch_size=BATCH_SIZE,
                                preprocessing="rescale", augment=augment, seed=self.seed)
        dataset = split.dataset
        if autotune:
            options = tf.data.Options()
            options.autotune.enabled = True
            dataset = dataset.with_options(options)
        run = Run(folder, AUTOTUNE_ON if autotune else "tf.data", augment, time.perf_counter() - start,
                  images=len(split))
        return self._fit(run, self._model(), dataset, shuffle=False), split

    def idg_iterator(self, data_dir: Path, augment: bool, tf_keras):
        from toyrobot_utils import data

        kwargs = dict(data.AUGMENTATION) if augment else {}
        generator = tf_keras.preprocessing.image.ImageDataGenerator(rescale=1.0 / 255, **kwargs)
        return generator.flow_from_directory(str(Path(data_dir) / "training"), target_size=IMAGE_SIZE,
                                             batch_size=BATCH_SIZE, class_mode="categorical", seed=self.seed)

    def idg(self, folder: str, data_dir: Path, augment: bool, tf_keras):
        start = time.perf_counter()
        iterator = self.idg_iterator(data_dir, augment, tf_keras)
        run = Run(folder, "ImageDataGenerator", augment, time.perf_counter() - start, images=iterator.samples)
        return self._fit(run, self._model(), sequence_as_py_dataset(iterator, self.idg_workers), shuffle=False)

    def in_memory(self, folder: str, x: np.ndarray, y: np.ndarray):
        """The network fed NumPy slices already in memory, batch by batch with ``train_on_batch``: no pipeline."""
        run = Run(folder, "in-memory tensors", False, None, images=len(x))
        model, rng = self._model(), np.random.default_rng(self.seed)
        start = time.perf_counter()
        for _ in range(self.epochs):
            epoch_start = time.perf_counter()
            order = rng.permutation(len(x))
            for i in range(0, len(x), BATCH_SIZE):
                model.train_on_batch(x[order[i:i + BATCH_SIZE]], y[order[i:i + BATCH_SIZE]])
            run.epochs.append(time.perf_counter() - epoch_start)
        run.fit_wall = time.perf_counter() - start
        return run

    # --- the write-up's whole stack (--keras2-check) ---

    def _keras2_model(self, tf_keras):
        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(self.seed)
        layers = tf_keras.layers
        model = tf_keras.Sequential([
            layers.InputLayer(input_shape=(*IMAGE_SIZE, 3)),
            layers.Conv2D(32, (3, 3), padding="same"), layers.Activation("relu"), layers.MaxPooling2D(),
            layers.Conv2D(32, (3, 3), padding="same"), layers.Activation("relu"), layers.MaxPooling2D(),
            layers.Flatten(), layers.Dense(32), layers.Activation("relu"),
            layers.Dense(self.num_classes), layers.Activation("softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        keras3_params = self._model().count_params()
        if model.count_params() != keras3_params:
            raise AssertionError(f"the tf_keras baseline has {model.count_params()} parameters, "
                                 f"the Keras 3 one {keras3_params}")
        return model

    def _fit_keras2(self, run: Run, model, tf_keras, *args, **kwargs) -> Run:
        from report import epoch_timer  # benchmarks/report.py
        timer = epoch_timer(keras_module=tf_keras)
        start = time.perf_counter()
        model.fit(*args, epochs=self.epochs, verbose=0, callbacks=[timer], **kwargs)
        run.fit_wall = time.perf_counter() - start
        run.epochs = timer.seconds
        return run

    def keras2_idg(self, folder: str, data_dir: Path, tf_keras):
        start = time.perf_counter()
        iterator = self.idg_iterator(data_dir, False, tf_keras)
        run = Run(folder, "ImageDataGenerator -> tf_keras net", False, time.perf_counter() - start,
                  images=iterator.samples)
        return self._fit_keras2(run, self._keras2_model(tf_keras), tf_keras, iterator, workers=self.idg_workers)

    def keras2_in_memory(self, folder: str, x, y, tf_keras):
        run = Run(folder, "in-memory tensors -> tf_keras net", False, None, images=len(x))
        return self._fit_keras2(run, self._keras2_model(tf_keras), tf_keras, x, y, batch_size=BATCH_SIZE,
                                shuffle=True)


def _tensors(split) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in split.dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------------


def _find(runs, folder, source, augment):
    for r in runs:
        if r.folder == folder and r.source == source and r.augment == augment:
            return r
    return None


def table_lines(runs: list[Run], markdown: bool) -> list[str]:
    head = ["folder", "input", "augmentation", "photos", "setup s", "epoch 1 s", "later s/epoch", "total s",
            "every epoch s"]
    rows = []
    for r in runs:
        rows.append([r.folder, r.source, "yes" if r.augment else "no", str(r.images),
                     "—" if r.setup is None else f"{r.setup:.1f}", f"{r.first:.2f}", f"{r.later:.2f}",
                     f"{r.total:.1f}", " ".join(f"{s:.1f}" for s in r.epochs)])
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(x) + " |" for x in rows]
    widths = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(head)]
    def fmt(cells):
        return "  ".join(c.ljust(w) if i < 3 or i == 8 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [fmt(head)] + [fmt(x) for x in rows]


def analyse(runs: list[Run], folders: list[str], epochs: int) -> tuple[list[str], dict[str, bool | None]]:
    """Ratio lines and the aims (True met, False not met, None not measured)."""
    lines = [f"ImageDataGenerator / tf.data (how many times faster tf.data is; per epoch after the first, and for "
             f"the whole {epochs}-epoch run with the one-off costs, later epochs at their median):"]
    ratios = {}
    for folder in folders:
        for augment in (False, True):
            t, g = _find(runs, folder, "tf.data", augment), _find(runs, folder, "ImageDataGenerator", augment)
            if t and g:
                per_epoch, whole = g.later / t.later, g.typical_total / t.typical_total
                ratios[(folder, augment)] = (per_epoch, whole)
                lines.append(f"  {folder:<8} {'with' if augment else 'without'} augmentation: {per_epoch:6.2f}x per "
                             f"epoch, {whole:6.2f}x for the whole run (tf.data one-off decode {t.setup:.1f} s)")
    reference = _find(runs, folders[0], "in-memory tensors", False) if folders else None
    vs_memory = {}
    if reference:
        lines.append(f"tf.data / in-memory tensors, per epoch after the first (in-memory: {reference.later:.2f} "
                     f"s/epoch, measured on the {folders[0]} folder's photos):")
        for folder in folders:
            for augment in (False, True):
                t = _find(runs, folder, "tf.data", augment)
                if t:
                    ratio = t.later / reference.later
                    if not augment:
                        vs_memory[folder] = ratio
                    lines.append(f"  {folder:<8} {'with' if augment else 'without'} augmentation: {ratio:5.2f}x "
                                 f"({(ratio - 1) * 100:+.0f} %)" + ("  (augmentation is extra work, not in the aim)"
                                                                    if augment else ""))
    before = _find(runs, folders[0] if folders else "", AUTOTUNE_ON, False)
    now = _find(runs, folders[0] if folders else "", "tf.data", False)
    if before and now:
        slow = sum(s > 1.5 * min(before.epochs[1:] or before.epochs) for s in before.epochs[1:])
        lines.append(f"tf.data's autotuning (off in data.pipeline_options): with it on, the same pipeline took "
                     f"{before.later:.2f} s per epoch (median; {slow} of {len(before.epochs) - 1} later epochs over "
                     f"1.5x its fastest), off {now.later:.2f} s: {before.later / now.later:.2f}x")
    k2_idg = _find(runs, folders[0] if folders else "", "ImageDataGenerator -> tf_keras net", False)
    k2_mem = _find(runs, folders[0] if folders else "", "in-memory tensors -> tf_keras net", False)
    k3_idg = _find(runs, folders[0] if folders else "", "ImageDataGenerator", False)
    if k2_idg and k2_mem and reference and k3_idg:
        lines.append("Keras 2 cross-check (the write-up's stack: the same architecture in tf_keras), per epoch after "
                     "the first:")
        lines.append(f"  in-memory tensors: tf_keras net {k2_mem.later:.2f} s, Keras 3 net {reference.later:.2f} s; "
                     f"ImageDataGenerator: tf_keras net fed natively {k2_idg.later:.2f} s, Keras 3 net through the "
                     f"PyDataset wrapper {k3_idg.later:.2f} s")

    aims: dict[str, bool | None] = {}
    phone = [ratios[k] for k in ratios if k[0] == "phone"]
    aims[f"at least {AIM_PHONE:.0f}x faster than ImageDataGenerator on phone-size photos (per epoch)"] = (
        min(p for p, _ in phone) >= AIM_PHONE if phone else None)
    small = [ratios[k] for k in ratios if k[0] == "default"]
    aims["never slower than ImageDataGenerator on the small photos (per epoch and whole run)"] = (
        min(min(p, w) for p, w in small) >= AIM_SMALL if small else None)
    aims[f"within {round((AIM_IN_MEMORY - 1) * 100)} % of in-memory tensors without augmentation"] = (
        max(vs_memory.values()) <= AIM_IN_MEMORY if vs_memory else None)
    return lines, aims


def aim_lines(aims: dict[str, bool | None]) -> list[str]:
    return [f"aim: {name}: {'met' if ok else 'not measured' if ok is None else 'NOT met'}" for name, ok in aims.items()]


# --------------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------------


def _quick_subset(data_dir: Path, target: Path, per_class: int) -> Path:
    """The first ``per_class`` training photos of each class, copied (quick mode on a real folder)."""
    by_class: dict[str, list[Path]] = {}
    for rel in training_files(data_dir):
        by_class.setdefault(rel.parts[1], []).append(rel)
    for rels in by_class.values():
        for rel in rels[:per_class]:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data_dir / rel, target / rel)
    return target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=config.DATA_DIR,
                        help="data folder (training/<class>/); empty: the built-in set is generated into a temp folder")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 5; 2 with --quick)")
    parser.add_argument("--skip-phone", action="store_true", help="only the folder as it is, no phone-size copy")
    parser.add_argument("--phone-dir", type=Path, help="where the phone-size copy goes (default build/phone_size/...)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_PER_CLASS} photos per class, 600x800 phone photos, 2 epochs")
    parser.add_argument("--idg-workers", type=int, default=1,
                        help="threads feeding the ImageDataGenerator (the write-up's Keras 2 default: 1)")
    parser.add_argument("--keras2-check", action="store_true",
                        help="also time the same network built in tf_keras (the write-up's whole stack)")
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--results", type=Path,
                        help="RESULTS.md to write (default benchmarks/RESULTS.md; --quick writes only to this)")
    return parser


def _folders(args, tmp: Path) -> tuple[Path, bool, dict[str, Path], dict | None]:
    """The folders to time: the data folder as it is (the built-in set generated into ``tmp`` when it holds no
    photos; a few photos per class with --quick) and its phone-size copy. Returns (data folder, generated?,
    {label: folder}, the phone copy's description)."""
    from toyrobot_utils.synthetic import default_data

    data_dir = args.data_dir
    generated = False
    if not default_data.has_photos(data_dir):
        counts = {"training": QUICK_PER_CLASS if args.quick else default_data.DEFAULT_COUNTS["training"]}
        print(f"{data_dir} holds no photos: generating the built-in training split ({counts['training']} per "
              f"class) into a temporary folder ...", flush=True)
        data_dir = tmp / "data"
        default_data.generate(data_dir, seed=0, counts=counts, size_scale=0.5 if args.quick else 1.0)
        generated = True
    elif args.quick:
        data_dir = _quick_subset(data_dir, tmp / "data", QUICK_PER_CLASS)
    folders = {"default": data_dir}
    phone_info = None
    if not args.skip_phone:
        pixels = QUICK_PHONE_PIXELS if args.quick else PHONE_PIXELS
        if args.phone_dir is not None:
            phone_dir = args.phone_dir
        elif args.quick or generated:
            phone_dir = tmp / "phone_size"
        else:
            phone_dir = default_phone_dir(data_dir, pixels)
        folders["phone"], phone_info = make_phone_folder(data_dir, phone_dir, pixels=pixels)
        print(f"phone-size folder: {folders['phone']} ({phone_info['files']} photos, {phone_info['mean_mb']:.1f} "
              f"MB each on average; " + ("reused" if phone_info["reused"] else
                                        f"made in {phone_info['seconds']:.0f} s") + ")", flush=True)
    return data_dir, generated, folders, phone_info


def _time_all(bench: "Bench", folders: dict[str, Path], keras2_check: bool, tf_keras) -> list[Run]:
    """Every configuration, one after the other: tf.data with and without augmentation (plus, once, tensors in
    memory and tf.data with autotuning back on), the ImageDataGenerator, and with --keras2-check the tf_keras rows."""
    runs: list[Run] = []

    def done(run):
        runs.append(run)
        print(f"  {run.folder:<8} {run.source:<36} aug {'yes' if run.augment else 'no ':<3}  setup "
              f"{(run.setup or 0):6.1f} s  epochs {' '.join(f'{s:.2f}' for s in run.epochs)} s", flush=True)

    reference_xy = None
    for folder, path in folders.items():
        for augment in (False, True):
            run, split = bench.tf_data(folder, path, augment)
            done(run)
            if reference_xy is None and not augment:
                reference_xy = _tensors(split)
                done(bench.in_memory(folder, *reference_xy))
                done(bench.tf_data(folder, path, augment, autotune=True)[0])
            del split
            done(bench.idg(folder, path, augment, tf_keras))
        if keras2_check and folder == "default":
            done(bench.keras2_in_memory(folder, *reference_xy, tf_keras))
            done(bench.keras2_idg(folder, path, tf_keras))
    return runs


def _write_results(args, argv, runs: list[Run], epochs: int, generated: bool, phone_info: dict | None,
                   ratio_lines: list[str], aims: dict, loads: tuple[float, float]) -> None:
    """This benchmark's section of RESULTS.md (or of --results)."""
    from report import RESULTS, write_section  # benchmarks/report.py

    source = "the built-in data set (generated)" if generated else f"`{args.data_dir}`"
    phone_text = ("" if phone_info is None else
                  f" and the same photos at phone-camera size ({phone_info['pixels'] / 1e6:.1f} MP, JPEG quality "
                  f"{phone_info['quality']}, {phone_info['mean_mb']:.1f} MB per photo on average)")
    body = "\n".join([
        f"Training split of {source} ({runs[0].images} photos){phone_text}; {epochs} epochs per run, no "
        f"validation pass; {IMAGE_SIZE[0]} px, batch {BATCH_SIZE}, pixels / 255; the same Keras 3 baseline "
        f"network (write-up model 1) from the same seed in every row; ImageDataGenerator with "
        f"{args.idg_workers} worker(s) (Keras 2's default: 1). *setup*: tf.data's one-off audit + decode into "
        f"memory, the ImageDataGenerator's folder scan. *epoch 1* includes tracing the training graph (every "
        f"row alike); *later s/epoch* is the median of the epochs after the first (a single epoch slowed by "
        f"something else on the machine does not move it); *total* = setup + all epochs as measured. "
        f"Load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end."
        + (" Quick mode: a smoke run, the figures mean nothing." if args.quick else ""),
        "",
        *table_lines(runs, markdown=True),
        "",
        "```",
        *ratio_lines,
        *aim_lines(aims),
        "```",
    ])
    command = " ".join(["python benchmarks/input_pipeline.py", *(sys.argv[1:] if argv is None else argv)])
    path = write_section("input_pipeline", "Input pipeline: tf.data vs the write-up's ImageDataGenerator", body,
                         command=command, results=args.results or RESULTS)
    print(f"wrote the section input_pipeline of {path}")


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 5)
    if epochs < 2:
        parser.error("--epochs must be at least 2: the steady state is the epochs after the first")
    try:
        import tf_keras
    except ImportError:
        print("tf-keras (Keras 2, for the write-up's ImageDataGenerator) is not installed: "
              "`.venv/bin/pip install --no-deps tf-keras==2.21.0` (what `make setup` does)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="toyrobot-input-pipeline-"))
    wall_start = time.perf_counter()
    try:
        data_dir, generated, folders, phone_info = _folders(args, tmp)
        bench = Bench(epochs, args.seed, args.idg_workers)
        names = sorted(p.name for p in (Path(data_dir) / "training").iterdir()
                       if p.is_dir() and not _is_hidden(p.name))
        bench.warm_up(len(names))
        load_start = os.getloadavg()[0]  # other work on the machine skews every figure: say how busy it was
        print(f"timing {epochs} epochs per run on the training split (no validation), {IMAGE_SIZE[0]} px, batch "
              f"{BATCH_SIZE}, {len(names)} classes; {os.cpu_count()} CPUs, load average {load_start:.1f}", flush=True)
        runs = _time_all(bench, folders, args.keras2_check, tf_keras)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()[0]
    wall = time.perf_counter() - wall_start

    ratio_lines, aims = analyse(runs, list(folders), epochs)
    print()
    print("\n".join(table_lines(runs, markdown=False)))
    print()
    print("\n".join(ratio_lines))
    print("\n".join(aim_lines(aims)))
    print(f"(benchmark wall time {wall / 60:.1f} min; load average {load_start:.1f} at the start, {load_end:.1f} at "
          f"the end)")
    if args.quick:
        print("quick mode: a smoke run on a few tiny photos; these figures say nothing about the aims")
    if args.results is not None or not args.quick:
        _write_results(args, argv, runs, epochs, generated, phone_info, ratio_lines, aims, (load_start, load_end))
    if args.quick:
        return 0
    return 0 if all(ok for ok in aims.values() if ok is not None) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The robot's ``sort`` at scale: photos per second and peak memory, for the Keras model, its float32 ``.tflite`` on
the full install (TensorFlow's interpreter, or LiteRT when installed) and on the light install (``pip install
".[robot]"``: LiteRT, no TensorFlow), at 500 and 2,000 photos.

    .venv/bin/python benchmarks/sort_throughput.py [--sizes 500,2000] [--light-python PATH | --make-light-venv]
        [--work DIR] [--quick] [--results PATH | --no-write]

The script trains the write-up's baseline network (model 1, 128 px, 3 classes) for one epoch on a small generated
folder with ``training.fit`` (so its run record is real; its accuracy does not matter here) and exports its float32
``.tflite``. The photos are generated JPEGs of 640 x 480 px (distinct seeded patterns, about 60 KB each). Every
measurement is one ``toyrobot sort SRC BINS --quiet`` command in a fresh process into empty bins, as a user runs it:
the wall time includes Python's and the runtime's start-up and the model's loading, and the peak memory is the
process's maximum resident set (``/usr/bin/time -f %M``; else ``os.wait4``). A second run of the same command on the
finished bins (``rerun``) measures the idempotent rerun: every photo recognised by content and skipped.

The light install is a virtual environment with only the robot extra: ``--light-python`` names its Python, or
``--make-light-venv`` builds one under ``--work`` (pip, from the package index or its local mirror, about a minute).
Without either, the light column is left out and the table says so. ``--quick``: 40 photos, nothing written to
RESULTS.md unless ``--results``. The table is printed and written to the "sort" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

CLASSES = ("bananagrams", "brios", "cars")
TINTS = [(230, 200, 40), (150, 90, 40), (200, 30, 30)]
PHOTO_SIZE = (640, 480)


def photo(seed: int, tint) -> Image.Image:
    """A distinct 640 x 480 picture: 16 x 12 random blocks blended with a class tint."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(12, 16, 3)).astype(np.float64)
    img = np.kron(blocks, np.ones((PHOTO_SIZE[1] // 12, PHOTO_SIZE[0] // 16, 1)))
    return Image.fromarray((0.5 * img + 0.5 * np.array(tint)).clip(0, 255).astype(np.uint8))


def make_photos(folder: Path, n: int, offset: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo(zlib.crc32(f"sort/{offset + i}".encode()), TINTS[i % 3]).save(folder / f"IMG_{offset + i:05d}.jpg",
                                                                             quality=90)
    return folder


def train_model(work: Path) -> tuple[Path, Path]:
    """The baseline network, one epoch on 8 photos per class (training.fit writes its record); its float32 export."""
    from toyrobot_utils import data
    from toyrobot_utils.modelling import models, training
    from toyrobot_utils.robot import export

    data_dir = work / "data"
    for split, count in (("training", 8), ("validation", 4), ("test", 4)):
        for c, cls in enumerate(CLASSES):
            folder = data_dir / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                photo(zlib.crc32(f"{split}/{cls}/{i}".encode()), TINTS[c]).save(folder / f"{i:02d}.jpg", quality=90)
    splits = data.load_datasets(data_dir, image_size=(128, 128), batch_size=8, verbose=False)
    model = models.build_experiment(1, len(CLASSES), (128, 128))
    training.fit(model, splits["training"], splits["validation"], name="sortbench", epochs=1,
                 models_dir=work / "models", verbose=0)
    exported = export.export_tflite("sortbench", models_dir=work / "models", data_dir=data_dir, variants=("float32",))
    return work / "models" / "sortbench.keras", exported["paths"]["float32"]


def run_sort(python: str, src: Path, bins: Path, model: Path) -> dict:
    """One ``sort`` command in a fresh process: seconds, peak MB, and the summary line it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [python, "-m", "toyrobot_utils", "sort", str(src), str(bins), "--model", str(model), "--quiet"]
    timer = shutil.which("time") and Path("/usr/bin/time").exists()
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as peak_file, tempfile.TemporaryFile("w+") as out_file, \
            tempfile.TemporaryFile("w+") as err_file:  # files, not pipes: nothing blocks while we wait
        if timer:
            command = ["/usr/bin/time", "-f", "%M", "-o", peak_file.name, *command]
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out_file, stderr=err_file, text=True, env=env)
        _, _, rusage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
        peak_kb = int(peak_file.read().strip().splitlines()[-1]) if timer else rusage.ru_maxrss
    summary = next((line for line in out.splitlines() if " photos copied into " in line), "")
    if not summary:
        raise RuntimeError(f"sort failed: {' '.join(command)}\n{out[-2000:]}\n{err[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "summary": summary}


def make_light_venv(work: Path) -> str:
    venv = work / "light-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
                    f"{ROOT}[robot]"], check=True)
    return str(python)


def measure(sizes: list[int], models: dict[str, tuple[str, Path]], work: Path) -> pd.DataFrame:
    """Each size's photos sorted by each runtime (fresh bins), then the same command again (the rerun)."""
    rows = []
    for n in sizes:
        src = make_photos(work / f"photos_{n}", n)
        for label, (python, model) in models.items():
            bins = work / f"bins_{n}_{label.split()[0]}"
            shutil.rmtree(bins, ignore_errors=True)
            first = run_sort(python, src, bins, model)
            again = run_sort(python, src, bins, model)
            assert f"{n} already in the bins" in again["summary"], again["summary"]
            rows.append({"photos": n, "runtime": label, "seconds": first["seconds"],
                         "photos_per_s": n / first["seconds"], "peak_mb": first["peak_mb"],
                         "rerun_s": again["seconds"], "rerun_peak_mb": again["peak_mb"]})
            print(f"{n:>5} photos  {label:<34} {n / first['seconds']:6.1f} photos/s  "
                  f"{first['peak_mb']:6.0f} MB peak  (rerun, all skipped: {again['seconds']:.1f} s)", flush=True)
            shutil.rmtree(bins, ignore_errors=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="500,2000", help="photo counts (default %(default)s)")
    parser.add_argument("--light-python", help="the Python of a virtual environment with only the robot extra")
    parser.add_argument("--make-light-venv", action="store_true", help="build that environment under --work")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--quick", action="store_true", help="40 photos; RESULTS.md only with --results")
    parser.add_argument("--results", type=Path, help="the RESULTS.md to write (default benchmarks/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="only print")
    args = parser.parse_args(argv)
    sizes = [40] if args.quick else [int(s) for s in args.sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="toyrobot-sortbench-"))
    try:
        start = time.perf_counter()
        keras_model, tflite_model = train_model(work)
        from toyrobot_utils.robot import lite

        full_runtime = lite.interpreter_name().split(" (")[0]
        models = {"Keras (.keras, TensorFlow)": (sys.executable, keras_model),
                  f"float32 .tflite, full install ({full_runtime})": (sys.executable, tflite_model)}
        light = args.light_python or (make_light_venv(work) if args.make_light_venv else None)
        if light:
            models["float32 .tflite, light install (LiteRT)"] = (light, tflite_model)
        table = measure(sizes, models, work)
        print(f"({time.perf_counter() - start:.0f} s in all)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.no_write or (args.quick and not args.results):
        return 0
    write(table, args, light is not None)
    return 0


def write(table: pd.DataFrame, args, light: bool) -> None:
    from report import RESULTS, markdown_table, write_section

    shown = table.assign(seconds=table["seconds"].round(1), photos_per_s=table["photos_per_s"].round(1),
                         peak_mb=table["peak_mb"].round(0), rerun_s=table["rerun_s"].round(1),
                         rerun_peak_mb=table["rerun_peak_mb"].round(0))
    shown.columns = ["photos", "model / runtime", "sort s", "photos / s", "peak MB", "rerun s (all skipped)",
                     "rerun peak MB"]
    body = (markdown_table(shown, digits=1) + "\n\n"
            "One `toyrobot sort SRC BINS --quiet` per row in a fresh process into empty bins (start-up and model "
            "loading included), copy mode, 640 x 480 JPEGs, the write-up's baseline network at 128 px; peak = the "
            "process's maximum resident memory. The rerun is the same command on the finished bins: every photo "
            "recognised by content and skipped." + ("" if light else " The light install was not measured "
                                                            "(pass --light-python or --make-light-venv)."))
    command = "python benchmarks/sort_throughput.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:]))
    path = write_section("sort", "sort: photos per second and peak memory (Keras, .tflite full and light install)",
                         body, command=command.strip(), results=args.results or RESULTS)
    print(f"written to {path}")


if __name__ == "__main__":
    sys.exit(main())

"""The command line, ``toyrobot`` (also ``python -m toyrobot_utils``): one parser with a subcommand per task.

Every command's options are defined here, so ``toyrobot --help`` and ``toyrobot CMD --help`` need no TensorFlow and
answer at once; the module that does the work is imported only when its command runs (``run(args)``), and
TensorFlow's C++ start-up notices are filtered out of what it prints. Folders default to the project folder found
from the current one (``config.PROJECT_ROOT``), never to where the package is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import sys
import threading
from pathlib import Path

from toyrobot_utils import __version__, config

PROG = "toyrobot"

# command -> ("module:function" that does the work with the parsed args, does it load TensorFlow?, one-line help);
# None: only for a Keras model (not a .tflite file). In the order a parent meets them: check the photos, train, sort;
# then the series' own commands.
COMMANDS = {
    "audit": ("toyrobot_utils.splitting:audit_command", False, "check a photo folder and say what is wrong with it"),
    "train": ("toyrobot_utils.robot.train:run", True,
              "train the sorting robot on a folder of photos (one folder per toy)"),
    "sort": ("toyrobot_utils.robot.sorting:run", None,
             "copy (or --move) photos into one bin per toy, unsure/ if unsure"),
    "predict": ("toyrobot_utils.robot.predict:run", None, "print the predicted toy and its probability for photos"),
    "split": ("toyrobot_utils.splitting:run", False, "split a folder of photos into training/validation/test (links)"),
    "export-tflite": ("toyrobot_utils.robot.export:run", True, "export a trained model to TensorFlow Lite"),
    "make-data": ("toyrobot_utils.synthetic.default_data:run", False, "generate the built-in toy-photo data set"),
    "run-series": ("toyrobot_utils.series.runner:run", False, "run the notebook series in order with papermill"),
    "tune": ("toyrobot_utils.tuning.command:run", True, "Keras Tuner search: standalone, chief or worker"),
}
# Defaults the parser must write out without importing the module that owns them (tests/test_cli.py keeps them equal).
TUNE_ALGORITHMS = ("random", "hyperband")


def _shown(path) -> str:
    """A default folder as the user would type it: relative to the current folder when it is inside it."""
    path = Path(path)
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (OSError, ValueError):
        return str(path)


def _image_size(text: str) -> tuple[int, int]:
    """'128' or '128x96' (height x width)."""
    parts = [p for p in text.lower().replace(",", "x").split("x") if p]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"image size must be like 128 or 128x96 (height x width), not {text!r}")
    return sizes[0], sizes[1]


def _precision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=config.PRECISIONS, default=None,
                        help="what the networks train in: auto (bfloat16 only where a once-per-machine probe finds it "
                             f"clearly faster), float32, ... (default: ${config.PRECISION_ENV}, else auto)")


def _max_pixels(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-pixels", type=int, default=config.MAX_IMAGE_PIXELS,
                        help="skip (with the reason) a photo that needs more pixels decoded; JPEGs are decoded scaled "
                             "down first (default: %(default)s, or TOYROBOT_MAX_PIXELS)")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="NAME_OR_PATH",
                        help="a run name in --models-dir, a .keras file with its .json record beside it, or a .tflite "
                             "file from export-tflite with its .tflite.json manifest beside it (runs without "
                             "TensorFlow) (default: the best model trained on the photos you trained on last, chosen "
                             "by validation accuracy)")
    parser.add_argument("--models-dir", type=Path, default=config.MODELS_DIR,
                        help=f"where trained models are (default: {_shown(config.MODELS_DIR)})")
    _max_pixels(parser)


def _audit(sub) -> None:
    p = sub.add_parser("audit", help=COMMANDS["audit"][2], description=(
        "Check a data folder, the series' layout (training|validation|test/<class>/) or a plain folder with one "
        "subfolder per class, and print what is wrong with it. Reads only; exits 1 if it cannot be trained on."))
    p.add_argument("data_dir", nargs="?", type=Path, default=config.DATA_DIR,
                   help=f"default: {_shown(config.DATA_DIR)}")
    p.add_argument("--no-duplicates", action="store_true",
                   help="skip the near-duplicate check (the series' layout only: a plain folder's split needs it)")
    p.add_argument("--csv", metavar="PATH", help="also write the per-file table to this CSV file")
    p.add_argument("--seed", type=int, default=config.SEED,
                   help="a plain folder's split seed, as train's (default: 42)")
    _max_pixels(p)


def _train(sub) -> None:
    p = sub.add_parser("train", help=COMMANDS["train"][2], description=(
        "From a folder of photos to a sorting robot: audit the photos, split a plain folder into "
        "training/validation/test (seeded, recorded, your files untouched), train notebook 09's transfer recipe "
        "(MobileNetV2, ImageNet weights), report its test accuracy, export the .tflite file and print the sort "
        "command to run next."))
    p.add_argument("photos", type=Path, metavar="PHOTOS",
                   help="a folder with one subfolder of photos per toy, or the series' layout (training/, validation/, "
                        "test/); only read, never moved or changed")
    p.add_argument("--name", default="robot",
                   help="model name: <models-dir>/<name>.keras, <name>.float32.tflite, <name>.split/ (default: "
                        "%(default)s)")
    p.add_argument("--models-dir", type=Path, default=config.MODELS_DIR,
                   help=f"where the model, its records and the split go (default: {_shown(config.MODELS_DIR)})")
    p.add_argument("--seed", type=int, default=config.SEED, help="seed of the split and of training (default: 42)")
    p.add_argument("--epochs", type=int, default=None,
                   help="most epochs of the first stage, the new head (default 200; it stops when validation stalls)")
    p.add_argument("--fine-tune-epochs", type=int, default=None,
                   help="most epochs of fine-tuning the base's top blocks (default 30; 0 skips it)")
    p.add_argument("--image-size", type=int, default=None, help="square input size in pixels (default: 224)")
    p.add_argument("--base", default="mobilenet_v2",
                   help="pre-trained base (a key of modelling.models.BASES; only MobileNetV2's ImageNet weights ship "
                        "with the project's offline cache) (default: %(default)s)")
    p.add_argument("--all-variants", action="store_true",
                   help="also export float16 and int8 .tflite files (int8 calibrated on training photos)")


def _split(sub) -> None:
    p = sub.add_parser("split", help=COMMANDS["split"][2], description=(
        "Write the series' layout (DATA/training|validation|test/<class>/) from a plain folder of photos with one "
        "subfolder per class: a seeded, stratified split of about 70/15/15 that keeps near-duplicate photos "
        "together, as links to your photos (or copies). The originals are never moved or changed."))
    p.add_argument("photos", type=Path, metavar="PHOTOS", help="a folder with one subfolder of photos per class")
    p.add_argument("data_dir", type=Path, metavar="DATA", help="the new data folder (must not exist or be empty)")
    p.add_argument("--copy", action="store_true", help="copy the photos instead of linking to them (default: links)")
    p.add_argument("--seed", type=int, default=config.SEED,
                   help="the split's seed: the same seed gives the same split (default: 42)")


def _predict(sub) -> None:
    p = sub.add_parser("predict", help=COMMANDS["predict"][2], description=(
        "Print the predicted class and its probability for each photo (a folder stands for the photos in it). "
        "Exit code 1 if a photo could not be read, 2 if no model could be used."))
    p.add_argument("images", nargs="+", metavar="IMG")
    _model_options(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (default): aligned lines for reading; csv / json: one row (object) per photo with "
                        "every class probability, on standard output for other programs")


def _sort(sub) -> None:
    p = sub.add_parser("sort", help=COMMANDS["sort"][2], description=(
        "Copy each photo of SRC_DIR into BINS_DIR/<class>/, or BINS_DIR/unsure/ when the model's top probability is "
        "below --threshold. Originals stay where they are unless --move. Files in the bins are never overwritten; a "
        "photo already sorted into these bins is skipped, so the same command can be run again after an "
        "interruption. Every decision is appended to a CSV log (default BINS_DIR/sort_log.csv)."))
    p.add_argument("src_dir", type=Path, metavar="SRC_DIR")
    p.add_argument("bins_dir", type=Path, metavar="BINS_DIR")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="below this top probability a photo goes to unsure/ (default: 0.6)")
    p.add_argument("--move", action="store_true",
                   help="delete each original once its copy is complete and verified (default: copy only)")
    p.add_argument("--recursive", action="store_true",
                   help="also sort photos in subfolders of SRC_DIR (hidden folders and BINS_DIR are skipped)")
    p.add_argument("--log", type=Path, help="CSV log to append to (default: BINS_DIR/sort_log.csv)")
    p.add_argument("--quiet", action="store_true", help="print only the summary, not one line per file")
    _model_options(p)


def _export(sub) -> None:
    p = sub.add_parser("export-tflite", help=COMMANDS["export-tflite"][2], description=(
        "Export a trained Keras model to TensorFlow Lite as float32, float16 and int8 (full-integer, calibrated on "
        "training photos), then check each file on the test split."))
    p.add_argument("model", nargs="?", metavar="NAME_OR_PATH",
                   help="a run name in --models-dir or a .keras file (default: the best trained model)")
    p.add_argument("--models-dir", type=Path, default=config.MODELS_DIR,
                   help=f"default: {_shown(config.MODELS_DIR)}")
    p.add_argument("--data-dir", type=Path, default=config.DATA_DIR,
                   help=f"training photos calibrate int8, test photos check accuracy (default: "
                        f"{_shown(config.DATA_DIR)})")
    p.add_argument("--out-dir", type=Path, help="where the .tflite files go (default: beside the model)")
    p.add_argument("--variants", default="float32,float16,int8", help="comma-separated (default: %(default)s)")
    p.add_argument("--calibration-images", type=int, default=100,
                   help="training photos for int8 calibration (default: %(default)s)")
    p.add_argument("--no-evaluate", action="store_true", help="only export")
    p.add_argument("--runs", type=int, default=50, help="timed runs per format (default: %(default)s)")


def _make_data(sub) -> None:
    p = sub.add_parser("make-data", help=COMMANDS["make-data"][2], description=(
        "Generate the built-in data set: photo-like pictures of the five toys in the series' layout (same seed, "
        "same bytes). Never touches your own photos."))
    p.add_argument("--data-dir", type=Path, default=config.DATA_DIR,
                   help=f"target folder (default: {_shown(config.DATA_DIR)})")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default: %(default)s)")
    p.add_argument("--background-bias", type=float, default=0.6,
                   help="0 = backgrounds independent of class, 1 = bananagrams always on wood floor and duplos "
                        "always on the white table (default: %(default)s)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="set another difficulty knob of synthetic.default_data.Knobs")
    p.add_argument("--workers", type=int, default=2, help="processes (default: %(default)s)")
    p.add_argument("--replace-default", action="store_true",
                   help="replace a built-in set made with other settings (never touches your own photos)")
    p.add_argument("--if-empty", action="store_true",
                   help="when the folder already has photos of any kind, leave it and exit 0")
    p.add_argument("--collage", type=Path, default=config.FIGURES_DIR / "default_data_collage.png",
                   help=f"sample figure to save (default: {_shown(config.FIGURES_DIR / 'default_data_collage.png')})")
    p.add_argument("--no-collage", action="store_true", help="do not draw the sample figure")


def _run_series(sub) -> None:
    p = sub.add_parser("run-series", help=COMMANDS["run-series"][2], description=(
        "Execute the notebooks in order with papermill; each notebook replaces the one in notebooks/ only when it "
        "finished without error (a failed copy goes to failed/ under the output folder)."))
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="papermill parameter passed to every notebook, e.g. -p epochs 5")
    p.add_argument("--only", nargs="*", help="notebook number prefixes to run, e.g. --only 01 02")
    p.add_argument("--output-dir", type=Path, help="write executed notebooks here instead of in place")
    p.add_argument("--quick", action="store_true",
                   help="the quick tour: every notebook on a small configuration into build/quick/notebooks "
                        "(the committed notebooks, models/ and figures/ are left untouched)")
    _precision(p)


def _tune(sub) -> None:
    p = sub.add_parser("tune", help=COMMANDS["tune"][2], description=(
        "Keras Tuner search over the write-up's CNN space (objective val_accuracy). Rerun the same command to "
        "resume. Distributed: start one chief (--tuner-id chief) and any number of workers (--tuner-id tuner0, "
        "tuner1, ...) with the same --oracle-ip/--oracle-port, --data-dir and --directory (a shared folder); or "
        "set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT."))
    add = p.add_argument
    add("--data-dir", type=Path, default=config.DATA_DIR, help=f"default: {_shown(config.DATA_DIR)}")
    add("--directory", type=Path, default=config.MODELS_DIR / "tuner",
        help=f"tuner folder (default: {_shown(config.MODELS_DIR / 'tuner')})")
    add("--project-name", default="toy-robot-cnn", help="default: %(default)s")
    add("--algorithm", choices=TUNE_ALGORITHMS, default="random", help="default: %(default)s")
    add("--max-trials", type=int, default=30, help="configurations to try in all (random search); default: 30")
    add("--executions-per-trial", type=int, default=2, help="trainings per configuration; default: 2")
    add("--epochs", type=int, default=40, help="epochs per training (Hyperband: max_epochs); default: 40")
    add("--image-size", type=_image_size, default=config.IMAGE_SIZE, help="128 or HxW; default: 128")
    add("--batch-size", type=int, default=config.BATCH_SIZE, help="default: %(default)s")
    add("--augment", action="store_true", help="augment training images (the write-up's tuning code did not)")
    add("--seed", type=int, default=config.SEED, help="default: %(default)s")
    add("--max-model-size", type=int, default=None, help="draw again instead of networks with more parameters")
    add("--max-flops", type=int, default=None,
        help="compute budget: draw again instead of networks that cost more operations per photo")
    add("--hyperband-factor", type=int, default=3, help="Hyperband's halving factor; default: %(default)s")
    add("--no-checkpoints", action="store_true", help="delete each trial's weights after it (saves disk)")
    add("--overwrite", action="store_true", help="delete the project and start over (not allowed on a worker)")
    add("--tuner-id", default=os.environ.get("KERASTUNER_TUNER_ID"),
        help="distributed: 'chief' or a unique worker id such as tuner0 (env KERASTUNER_TUNER_ID)")
    add("--oracle-ip", default=os.environ.get("KERASTUNER_ORACLE_IP"),
        help="distributed: the chief's address; the chief binds to it (env KERASTUNER_ORACLE_IP)")
    add("--oracle-port", type=int, default=os.environ.get("KERASTUNER_ORACLE_PORT"),
        help="distributed: the chief's port (env KERASTUNER_ORACLE_PORT)")
    add("--oracle-timeout", type=float, default=600.0,
        help="worker: seconds to wait for the chief per request before giving up with a message naming it "
             "(default: %(default)s; Keras Tuner's own: 3600)")
    add("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras/Keras Tuner output; default: %(default)s")
    _precision(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Toy Robot: teach a computer to sort toys into bins from photos.",
        epilog="Your photos in three commands: toyrobot audit PHOTOS; toyrobot train PHOTOS; toyrobot sort NEW BINS "
               "(train prints the exact sort command). `toyrobot help CMD` shows a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for define in (_audit, _train, _sort, _predict, _split, _export, _make_data, _run_series, _tune):
        define(sub)
    sub.add_parser("help", help="show a command's options: toyrobot help CMD").add_argument("topic", nargs="?")
    return parser


def _suggestion(word: str) -> str:
    close = difflib.get_close_matches(word, [*COMMANDS, "help"], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _is_tflite(args) -> bool:
    return str(getattr(args, "model", "") or "").endswith(".tflite")


@contextlib.contextmanager
def tensorflow_notices_filtered():
    """While a command that loads TensorFlow runs, its C++ runtime's notices (printed while its libraries load and
    when a pipeline or an interpreter is first made, whatever TF_CPP_MIN_LOG_LEVEL says in TF 2.21) are dropped from
    standard error: the process's file descriptor 2 goes through a pipe, and a thread passes on every line but
    those (``series.runner.STARTUP_NOISE``) as it comes. Everything else, warnings and tracebacks included, gets
    through unchanged."""
    from toyrobot_utils.series.runner import STARTUP_NOISE

    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        pending = b""
        while chunk := os.read(read_end, 1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if not STARTUP_NOISE.match(line.decode("utf-8", "replace")):
                    os.write(saved, line + b"\n")
        if pending and not STARTUP_NOISE.match(pending.decode("utf-8", "replace")):
            os.write(saved, pending)

    reader = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the reader sees the end and stops
        reader.join(timeout=10)
        os.close(read_end)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS and argv[0] != "help":
        print(f"{PROG}: '{argv[0]}' is not a command.{_suggestion(argv[0])} See '{PROG} --help'.", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "help":
        if args.topic is None:
            parser.print_help()
            return 0
        if args.topic not in COMMANDS:
            print(f"{PROG}: no help for '{args.topic}'.{_suggestion(args.topic)}", file=sys.stderr)
            return 2
        parser.parse_args([args.topic, "--help"])
    target, needs_tensorflow, _ = COMMANDS[args.command]
    module, _, function = target.partition(":")
    if needs_tensorflow is False or (needs_tensorflow is None and _is_tflite(args)):
        return int(getattr(importlib.import_module(module), function)(args) or 0)
    with tensorflow_notices_filtered():
        return int(getattr(importlib.import_module(module), function)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

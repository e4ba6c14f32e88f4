"""Command line: ``python -m toyrobot_utils <command> [options]`` (also installed as ``toyrobot``).

Each command lives with the code it drives; this file only dispatches, importing lazily so that
``--help`` is instant and TensorFlow is loaded only by the commands that need it.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function taking argv, one-line help)
COMMANDS = {
    "make-data": ("toyrobot_utils.synthetic.default_data", "cli",
                 "generate the built-in toy-photo data set into data/"),
    "audit": ("toyrobot_utils.audit", "cli",
             "check a data folder and print what is wrong with it"),
    "tune": ("toyrobot_utils.tuning.command", "cli",
            "Keras Tuner search: standalone, or chief/worker of a distributed search"),
    "run-series": ("toyrobot_utils.series.runner", "cli",
                  "execute the notebooks in order with papermill (outputs kept)"),
    "predict": ("toyrobot_utils.robot.predict", "predict_cli",
               "print the predicted toy class and probability of photos"),
    "sort": ("toyrobot_utils.robot.sorting", "sort_cli",
            "copy (or --move) photos into one bin per class, unsure/ if unsure"),
    "export-tflite": ("toyrobot_utils.robot.export", "cli",
                     "export a trained model to TensorFlow Lite float32/float16/int8"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m toyrobot_utils <command> [options]\n\ncommands:")
        width = max(map(len, COMMANDS)) + 1
        for name, (_, _, text) in COMMANDS.items():
            print(f"  {name:<{width}} {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command: {argv[0]}", file=sys.stderr)
            return 2
        return 0
    module_name, func_name, _ = COMMANDS[argv[0]]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())

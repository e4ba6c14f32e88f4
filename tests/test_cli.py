"""The command line's conventions: one parser and one program name, --version, `toyrobot help CMD`, a suggestion for
a mistyped command, help without TensorFlow, no TensorFlow start-up notices, folders found from the current one."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toyrobot_utils import __version__, config
from toyrobot_utils.__main__ import COMMANDS, TUNE_ALGORITHMS, build_parser, main
from toyrobot_utils.series.runner import STARTUP_NOISE

ROOT = config.PACKAGE_ROOT


def run_cli(*args: str, cwd: Path = ROOT, code: str | None = None) -> subprocess.CompletedProcess:
    """``python -m toyrobot_utils ARGS`` (or a snippet) in a fresh process, the package importable from anywhere."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in ("TOYROBOT_PROJECT_DIR", "TOYROBOT_MODELS_DIR", "TOYROBOT_DATA_DIR", "TOYROBOT_FIGURES_DIR"):
        env.pop(key, None)
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "toyrobot_utils", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_version_and_the_program_name(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"toyrobot {__version__}"
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: toyrobot ") and all(command in out for command in COMMANDS)
    assert "python -m toyrobot_utils" not in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_cmd_is_the_commands_own_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["help", command])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: toyrobot {command}")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert capsys.readouterr().out == help_text


@pytest.mark.parametrize("typed, meant", [("predcit", "predict"), ("sotr", "sort"), ("trian", "train"),
                                          ("audti", "audit")])
def test_a_mistyped_command_gets_a_suggestion(typed, meant, capsys):
    assert main([typed, "x"]) == 2
    err = capsys.readouterr().err
    assert f"'{typed}' is not a command. Did you mean '{meant}'?" in err and len(err.strip().splitlines()) == 1
    assert main(["help", typed]) == 2 and f"Did you mean '{meant}'?" in capsys.readouterr().err
    assert main(["xyzzy"]) == 2 and "Did you mean" not in capsys.readouterr().err


def test_help_loads_no_tensorflow():
    """Every command's --help answers from the parser alone: no TensorFlow, Keras or pandas imported."""
    code = ("import sys\nfrom toyrobot_utils.__main__ import COMMANDS, main\n"
            "for command in COMMANDS:\n"
            "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'keras', 'keras_tuner', 'pandas') if m in sys.modules))")
    result = run_cli(code=code)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_commands_that_load_tensorflow_print_none_of_its_startup_notices(tmp_path):
    """`tune` loads TensorFlow before it finds that the data folder is missing: its one error line is all there is
    on standard error (TF 2.21's absl and oneDNN notices filtered as the library loads)."""
    result = run_cli("tune", "--data-dir", str(tmp_path / "missing"), "--directory", str(tmp_path / "t"),
                     cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: no data folder"), result.stderr
    assert not [line for line in lines if STARTUP_NOISE.match(line)], result.stderr


def test_folders_default_to_the_project_found_from_the_current_folder(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text(f'[project]\nname = "{config.PROJECT_NAME}"\n')
    assert config.find_project_root(checkout / "notebooks") == checkout.resolve()
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    assert config.find_project_root(elsewhere) == elsewhere.resolve()
    # a run from a folder outside any checkout: models/ there, shown as "models" in the help
    result = run_cli("help", "sort", cwd=elsewhere)
    assert result.returncode == 0 and "(default: models)" in " ".join(result.stdout.split())
    code = "from toyrobot_utils import config; print(config.MODELS_DIR)"
    assert run_cli(code=code, cwd=elsewhere).stdout.strip() == str(elsewhere.resolve() / "models")
    assert run_cli(code=code, cwd=checkout / "notebooks").stdout.strip() == str(checkout.resolve() / "models")


def test_the_parsers_defaults_are_the_modules_own():
    """The parser lives in __main__ (no heavy import for --help), so the defaults it writes out must stay those of
    the modules that do the work."""
    from toyrobot_utils.robot import export, sorting
    from toyrobot_utils.synthetic import default_data
    from toyrobot_utils.tuning import trials, tuner

    parser = build_parser()
    tune = vars(parser.parse_args(["tune"]))
    assert (tune["max_trials"], tune["executions_per_trial"], tune["epochs"]) == tuple(
        tuner.WRITEUP_SEARCH[k] for k in ("max_trials", "executions_per_trial", "epochs"))
    assert tune["project_name"] == trials.PROJECT_NAME
    assert TUNE_ALGORITHMS == tuner.ALGORITHMS
    from toyrobot_utils.tuning import command

    assert tune["oracle_timeout"] == command.DEFAULT_WORKER_WAIT
    sort = vars(parser.parse_args(["sort", "a", "b"]))
    assert sort["max_pixels"] == config.MAX_IMAGE_PIXELS
    assert sort["threshold"] == sorting.DEFAULT_THRESHOLD
    export_args = vars(parser.parse_args(["export-tflite"]))
    assert tuple(export_args["variants"].split(",")) == export.VARIANTS
    assert export_args["calibration_images"] == export.DEFAULT_CALIBRATION_IMAGES
    from toyrobot_utils import splitting
    from toyrobot_utils.robot import train

    trained = vars(parser.parse_args(["train", "photos"]))
    assert (trained["name"], trained["base"]) == (train.DEFAULT_NAME, train.DEFAULT_BASE)
    assert vars(parser.parse_args(["split", "a", "b"]))["seed"] == config.SEED
    assert "link" in splitting.MODES
    data = vars(parser.parse_args(["make-data"]))
    assert data["background_bias"] == default_data.Knobs().background_bias
    assert {f.name for f in dataclasses.fields(default_data.Knobs)} >= {"background_bias"}

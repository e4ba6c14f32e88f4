"""pyproject.toml (what `make` installs) and environment.yml (what conda users install) must pin the same things."""

from __future__ import annotations

import re
import tomllib

import yaml

from toyrobot_utils.config import PROJECT_ROOT


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw.strip().lower())


SELF = "toyrobot-utils"
# What environment.yml installs: the base (the robot's core), the notebooks on the CPU, and the test tools. The robot's
# LiteRT, the GPU build and tf-keras are extras a conda user adds with pip (environment.yml says how).
CONDA_EXTRAS = ("notebooks", "cpu", "dev")


def _project() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def _pins(specs) -> dict[str, str]:
    pins = {}
    for spec in specs:
        requirement, _, marker = spec.partition(";")
        if _name(requirement).startswith(SELF) or "sys_platform != 'linux'" in marker:
            continue  # an extra that includes another extra; the non-Linux TensorFlow build (environment.yml notes it)
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[_name(name.split("[")[0])] = version.strip()
    return pins


def _pyproject_pins(extras=CONDA_EXTRAS) -> dict[str, str]:
    project = _project()
    return _pins(project["dependencies"] + [s for e in extras for s in project["optional-dependencies"][e]])


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                name, sep, version = spec.partition("==")
                assert sep, f"environment.yml: pip entry {spec!r} is not pinned with =="
                pins[_name(name)] = version.strip()
        else:
            name, _, version = dep.partition("=")
            if _name(name) in ("python", "pip"):
                continue
            assert version, f"environment.yml: {dep!r} is not pinned"
            pins[_name(name)] = version.strip()
    return pins


def test_environment_yml_matches_pyproject():
    pyproject, environment = _pyproject_pins(), _environment_pins()
    missing = sorted(set(pyproject) - set(environment))
    extra = sorted(set(environment) - set(pyproject))
    differ = {k: (pyproject[k], environment[k])
              for k in set(pyproject) & set(environment) if pyproject[k] != environment[k]}
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    assert not differ, f"versions differ (pyproject, environment.yml): {differ}"


def _requires_python() -> tuple[tuple[int, int], tuple[int, int]]:
    """``>=3.11,<3.14`` -> ((3, 11), (3, 14))."""
    spec = _project()["requires-python"]
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    high = re.search(r"<\s*(\d+)\.(\d+)", spec)
    assert low and high, f"requires-python {spec!r} should state a range like '>=3.11,<3.14'"
    return (int(low[1]), int(low[2])), (int(high[1]), int(high[2]))


def test_environment_python_matches_requires_python():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minor = tuple(int(x) for x in python.split("=")[1].split("."))
    low, high = _requires_python()
    assert low <= minor < high


def test_requires_python_is_what_the_pins_need():
    """numpy 2.4, pandas 3.1 and keras 3.15 need Python 3.11 (on 3.10 the install failed inside pip); the README
    states the same range."""
    low, high = _requires_python()
    assert low == (3, 11), f"requires-python starts at {low}; the pinned numpy/pandas/keras need 3.11"
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"Python {low[0]}.{low[1]}–{high[0]}.{high[1] - 1}" in readme, "README.md should state the same range"


def test_constraints_pin_every_pinned_package_at_the_same_version():
    """constraints.txt (the tested environment, used by the Makefile's install) agrees with pyproject.toml."""
    lines = (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
    constraints = {_name(line.split("==")[0]): line.split("==")[1].strip()
                   for line in lines if "==" in line and not line.startswith("#")}
    project = _project()
    wanted = _pyproject_pins(extras=[e for e in project["optional-dependencies"] if e != "gpu"])
    differ = {k: (v, constraints.get(k)) for k, v in wanted.items() if constraints.get(k) != v}
    assert not differ, (f"constraints.txt disagrees with pyproject.toml (pyproject, constraints): {differ}; "
                        "run make constraints")
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "==" not in makefile.split("constraints:")[0], (
        "the Makefile installs with constraints.txt and pins nothing itself")


def test_make_lab_passes_allow_root_only_as_root():
    """JupyterLab refuses to start as root without --allow-root (containers often run as root)."""
    import os
    import subprocess

    dry_run = subprocess.run(["make", "-n", "-W", "setup", "lab"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    line = next(line for line in dry_run.stdout.splitlines() if "jupyter lab" in line)
    assert ("--allow-root" in line) == (os.getuid() == 0), line
    assert "localhost:8888" in dry_run.stdout

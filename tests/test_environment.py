"""pyproject.toml (what `make` installs) and environment.yml (what conda users install) must pin the same things."""

from __future__ import annotations

import re
import tomllib

import yaml

from toyrobot_utils.config import PROJECT_ROOT


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw.strip().lower())


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = {}
    for spec in specs:
        requirement, _, marker = spec.partition(";")
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject.toml: {spec!r} is not pinned with =="
        if "sys_platform != 'linux'" in marker:
            continue  # the non-Linux TensorFlow build; environment.yml notes it in a comment
        pins[_name(name)] = version.strip()
    return pins


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
    differ = {k: (pyproject[k], environment[k]) for k in set(pyproject) & set(environment) if pyproject[k] != environment[k]}
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    assert not differ, f"versions differ (pyproject, environment.yml): {differ}"


def test_environment_python_matches_requires_python():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minor = tuple(int(x) for x in python.split("=")[1].split("."))
    assert (3, 10) <= minor < (3, 13)

"""The package's structure, kept by a test (docs/architecture.md draws it): modules in layers that import only from
their own layer or lower ones, no import cycle (imports inside functions count too), short modules and functions, no
import of a library's private modules, and no private name used across modules.

Every module of toyrobot_utils is parsed with ``ast``; nothing is imported, so this runs in a second."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from toyrobot_utils.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "toyrobot_utils"
BENCHMARKS = PROJECT_ROOT / "benchmarks"

# Lowest first. A module may import from its own layer (if that makes no cycle) and from the layers below it.
LAYERS = [
    ("foundations", {"config", "devices", "files", "figures", "images", "stats", "toy_scene", "toy_drawing"}),
    ("data folders", {"audit", "default_data"}),
    ("pipelines and lineage", {"data", "lineage"}),
    ("networks", {"models", "keras_graph"}),
    ("training", {"training"}),
    ("evaluation and Grad-CAM", {"evaluation", "gradcam"}),
    ("plots and reports", {"plots", "comparison", "transfer", "tuning_results", "tuning_budget", "bias"}),
    ("commands and notebook helpers", {"tuning", "tuning_search", "tuning_cli", "notebook", "series", "robot",
                                       "report", "experiments", "tuning_report", "transfer_report", "results_report",
                                       "sorting", "lite", "export", "__main__", "__init__"}),
]
LAYER_OF = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80
PRIVATE_LIBRARY_MODULES = ("keras.src", "keras_tuner.src", "tensorflow.python")


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


MODULES = _modules()


def _package_imports(tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(package module imported, names taken from it, line) for every import of a toyrobot_utils module, at any
    depth: ``from . import data``, ``from .data import load_split``, ``from toyrobot_utils.audit import audit``,
    ``import toyrobot_utils.modelling.models`` (``__main__`` imports its commands by name, at the top layer)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if not (node.level == 1 or (node.level == 0 and top == "toyrobot_utils")):
                continue
            parts = (node.module or "").split(".")
            if node.level == 0:
                parts = parts[1:]
            names = [alias.name for alias in node.names]
            if parts and parts[0]:
                found.append((parts[0], names, node.lineno))
            else:  # from . import data, models
                found += [(name, [], node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "toyrobot_utils" and len(parts) > 1:
                    found.append((parts[1], [], node.lineno))
    return [(module, names, line) for module, names, line in found if module in MODULES]


def _edges() -> dict[str, set[str]]:
    return {name: {module for module, _, _ in _package_imports(tree)} - {name} for name, tree in MODULES.items()}


def test_every_module_has_a_layer():
    missing = sorted(set(MODULES) - set(LAYER_OF))
    assert not missing, f"add {missing} to LAYERS in {Path(__file__).name} (and to docs/architecture.md)"
    gone = sorted(set(LAYER_OF) - set(MODULES))
    assert not gone, f"LAYERS names modules that do not exist: {gone}"


def test_no_import_cycle():
    edges = _edges()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_modules_import_only_from_their_own_or_lower_layers():
    wrong = []
    for name, tree in MODULES.items():
        for module, _, line in _package_imports(tree):
            if name in LAYER_OF and module in LAYER_OF and LAYER_OF[module] > LAYER_OF[name]:
                wrong.append(f"{name}.py:{line} imports {module} ({LAYERS[LAYER_OF[module]][0]}, above "
                             f"{LAYERS[LAYER_OF[name]][0]})")
    assert not wrong, "\n".join(wrong)


def test_modules_and_functions_are_short():
    """The package's modules and the benchmark scripts alike."""
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.glob("*.py")) + sorted(BENCHMARKS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(PROJECT_ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # the docstring counts
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines (split by concern): {long_modules}"
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines (split into named steps): {long_functions}"


def test_no_import_of_a_librarys_private_modules():
    found = []
    for path in sorted(PACKAGE.glob("*.py")) + sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if any(name == private or name.startswith(private + ".") for private in PRIVATE_LIBRARY_MODULES):
                    found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} imports {name}")
    assert not found, "use the libraries' public API (see tests/test_library_internals.py):\n" + "\n".join(found)


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to toyrobot_utils modules: ``from . import data`` -> {"data": "data"}, ``from
    toyrobot_utils import toy_drawing as td`` -> {"td": "toy_drawing"}, ``import toyrobot_utils.x as y``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or node.module == "toyrobot_utils") and \
                node.module in (None, "toyrobot_utils"):
            aliases.update({alias.asname or alias.name: alias.name for alias in node.names if alias.name in MODULES})
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "toyrobot_utils" and len(parts) == 2 and alias.asname and parts[1] in MODULES:
                    aliases[alias.asname] = parts[1]
    return aliases


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_used_across_modules():
    found = []
    for name, tree in MODULES.items():
        for module, names, line in _package_imports(tree):
            found += [f"{name}.py:{line} imports {module}.{n}" for n in names if _is_private(n)]
        aliases = _module_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and _is_private(node.attr):
                found.append(f"{name}.py:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not found, "make the name public (with a docstring) or move it:\n" + "\n".join(found)


def test_the_checks_see_what_they_check():
    """The checks above would pass vacuously on a parser that finds nothing: they find what is known to be there."""
    edges = _edges()
    assert "gradcam" in edges["plots"] and "audit" in edges["data"] and "tuning_search" in edges["tuning_cli"]
    assert {"td": "toy_drawing", "ts": "toy_scene"}.items() <= _module_aliases(MODULES["default_data"]).items()
    assert "figures" in edges["default_data"]  # imported inside collage(): inner imports count


def test_our_deprecation_warnings_stay_visible():
    """pyproject.toml's filterwarnings hides the libraries' DeprecationWarnings but shows ours (module toyrobot_utils)
    in the test summary: pytest applies those filters around every test, so they are in effect here."""
    code = compile("import warnings\nwarnings.warn('old', DeprecationWarning)\n", "<deprecated call>", "exec")
    with warnings.catch_warnings(record=True) as caught:  # keeps the filters in effect, records what they let pass
        exec(code, {"__name__": "toyrobot_utils.some_module"})
        exec(code, {"__name__": "keras.some_module"})
    assert [str(w.message) for w in caught] == ["old"], "DeprecationWarnings of toyrobot_utils must not be ignored"

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

# Modules by dotted name inside the package (``robot.predict``); a folder's ``__init__`` by the folder's name
# (``tuning``), the package's own as ``__init__``. Lowest layer first. A module may import from its own layer (if that
# makes no cycle) and from the layers below it; importing ``robot.predict`` also runs ``robot/__init__.py``, so that
# counts as an import of ``robot`` too.
LAYERS = [
    ("foundations", {"config", "files", "figures", "images", "stats",
                     "synthetic", "synthetic.toy_scene", "synthetic.toy_drawing"}),
    ("data folders", {"audit", "synthetic.default_data"}),
    ("pipelines and lineage", {"data", "lineage", "splitting"}),
    ("modelling: networks", {"modelling", "modelling.models", "modelling.keras_graph", "modelling.devices",
                             "modelling.precision", "modelling.stopping"}),
    ("modelling: training", {"modelling.training", "modelling.transfer", "modelling.progress"}),
    ("analysis: evaluation and Grad-CAM", {"analysis", "analysis.evaluation", "analysis.gradcam"}),
    ("analysis: figures and comparisons", {"analysis.plots", "analysis.comparison", "analysis.bias"}),
    ("commands and the notebooks' code", {
        "tuning", "tuning.tuner", "tuning.trials", "tuning.budget", "tuning.command",
        "series", "series.notebook", "series.runner", "series.report", "series.experiments", "series.tuning_report",
        "series.transfer_report", "series.results_report",
        "robot", "robot.predict", "robot.sorting", "robot.lite", "robot.export", "robot.train",
        "__main__", "__init__"}),
]
LAYER_OF = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_NAMES = 15  # modules and folders beside __init__ and __main__: a newcomer's first look
PRIVATE_LIBRARY_MODULES = ("keras.src", "keras_tuner.src", "tensorflow.python")


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _modules() -> dict[str, ast.Module]:
    return {_dotted(path): ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in _source_files()}


MODULES = _modules()
PACKAGES = {_dotted(path) for path in PACKAGE.glob("*/__init__.py")}


def _package_of(name: str) -> str:
    """The folder a module's relative imports start from ("" for the package's top level)."""
    if name in PACKAGES:
        return name
    return name.rpartition(".")[0] if "." in name else ""


def _resolve(importer: str, node: ast.ImportFrom) -> str | None:
    """``from <here> import ...``: the dotted module inside the package, "" for the package itself, or None."""
    if node.level:
        base = _package_of(importer).split(".") if _package_of(importer) else []
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        return ".".join(base + ([node.module] if node.module else []))
    parts = (node.module or "").split(".")
    return ".".join(parts[1:]) if parts[0] == "toyrobot_utils" else None


def _with_parents(module: str) -> list[str]:
    """``robot.predict`` -> [robot, robot.predict]: importing a module runs its folder's ``__init__`` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _package_imports(tree: ast.Module, importer: str = "") -> list[tuple[str, list[str], int]]:
    """(package module imported, names taken from it, line) for every import of a toyrobot_utils module, at any
    depth (imports inside functions count): ``from toyrobot_utils import data``, ``from toyrobot_utils.robot import
    lite``, ``from toyrobot_utils.audit import audit``, ``import toyrobot_utils.modelling.models``, relative imports
    too. A folder's ``__init__`` is listed before the module it runs for."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(importer, node)
            if target is None:
                continue
            names = [alias.name for alias in node.names]
            submodules = [f"{target}.{n}" if target else n for n in names]
            if any(sub in MODULES for sub in submodules):  # from toyrobot_utils.robot import lite, sorting
                for sub in submodules:
                    if sub in MODULES:
                        found += [(module, [], node.lineno) for module in _with_parents(sub)]
            elif target:
                found += [(module, [], node.lineno) for module in _with_parents(target)[:-1]]
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "toyrobot_utils" and len(parts) > 1:
                    found += [(module, [], node.lineno) for module in _with_parents(".".join(parts[1:]))]
    return [(module, names, line) for module, names, line in found if module in MODULES]


def _edges() -> dict[str, set[str]]:
    """What each module imports; not its own folders' ``__init__`` (already running when it is imported)."""
    return {name: {module for module, _, _ in _package_imports(tree, name)} - set(_with_parents(name))
            for name, tree in MODULES.items()}


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
        for module, _, line in _package_imports(tree, name):
            if name in LAYER_OF and module in LAYER_OF and LAYER_OF[module] > LAYER_OF[name]:
                wrong.append(f"{name}:{line} imports {module} ({LAYERS[LAYER_OF[module]][0]}, above "
                             f"{LAYERS[LAYER_OF[name]][0]})")
    assert not wrong, "\n".join(wrong)


def test_modules_and_functions_are_short():
    """The package's modules and the benchmark scripts alike."""
    long_modules, long_functions = [], []
    for path in _source_files() + sorted(BENCHMARKS.glob("*.py")):
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
    for path in _source_files() + sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if any(name == private or name.startswith(private + ".") for private in PRIVATE_LIBRARY_MODULES):
                    found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} imports {name}")
    assert not found, "use the libraries' public API (see tests/test_library_internals.py):\n" + "\n".join(found)


def _module_aliases(tree: ast.Module, importer: str = "") -> dict[str, str]:
    """Local names bound to toyrobot_utils modules: ``from toyrobot_utils import data`` -> {"data": "data"},
    ``from toyrobot_utils.synthetic import toy_drawing as td`` -> {"td": "synthetic.toy_drawing"},
    ``import toyrobot_utils.x.y as z`` -> {"z": "x.y"}."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(importer, node)
            if target is None:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                if sub in MODULES:
                    aliases[alias.asname or alias.name] = sub
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "toyrobot_utils" and alias.asname and ".".join(parts[1:]) in MODULES:
                    aliases[alias.asname] = ".".join(parts[1:])
    return aliases


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_used_across_modules():
    found = []
    for name, tree in MODULES.items():
        for module, names, line in _package_imports(tree, name):
            found += [f"{name}:{line} imports {module}.{n}" for n in names if _is_private(n)]
        aliases = _module_aliases(tree, name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and _is_private(node.attr):
                found.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not found, "make the name public (with a docstring) or move it:\n" + "\n".join(found)


def test_the_checks_see_what_they_check():
    """The checks above would pass vacuously on a parser that finds nothing: they find what is known to be there."""
    edges = _edges()
    assert "analysis.gradcam" in edges["analysis.plots"] and "audit" in edges["data"]
    assert {"analysis", "analysis.evaluation"} <= edges["series.report"]  # a folder's __init__ runs first
    assert "robot.lite" in edges["robot.predict"]  # imported inside a function: inner imports count
    assert {"td": "synthetic.toy_drawing", "ts": "synthetic.toy_scene"}.items() <= \
        _module_aliases(MODULES["synthetic.default_data"], "synthetic.default_data").items()
    assert "figures" in edges["synthetic.default_data"]  # imported inside collage()
    assert LAYER_OF["robot.predict"] > LAYER_OF["modelling.training"] > LAYER_OF["data"]


def test_folders_keep_the_top_level_short_and_their_inits_light():
    """A newcomer sees at most MAX_TOP_LEVEL_NAMES modules and folders; every folder says what it holds in a
    docstring; a folder's ``__init__`` imports nothing but its own modules (importing ``robot.predict`` must not pull
    in TensorFlow through a sibling), and the package's own ``__init__`` imports no module of the package at all:
    its public API is lazy."""
    top = sorted(p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                 if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_NAMES, f"{len(top)} names at the top level: {top}"
    assert PACKAGES == {"analysis", "modelling", "robot", "series", "synthetic", "tuning"}
    for package in sorted(PACKAGES) + ["__init__"]:
        tree = MODULES[package]
        assert ast.get_docstring(tree), f"toyrobot_utils/{package}: say what the folder holds in a docstring"
        outside = {module for module, _, _ in _package_imports(tree, package)
                   if package == "__init__" or not module.startswith(package + ".")} - {package}
        assert not outside, f"toyrobot_utils/{package}/__init__.py imports {sorted(outside)}"


def test_the_public_api_resolves():
    """Every name of ``toyrobot_utils.__all__`` is defined where the lazy table says, and no name of it shadows a
    module or folder of the package (``from toyrobot_utils import data`` must stay the module)."""
    import importlib

    import toyrobot_utils

    top_modules = {name.split(".")[0] for name in MODULES}
    assert not set(toyrobot_utils.__all__) & top_modules
    for name in toyrobot_utils.__all__:
        value = getattr(toyrobot_utils, name)
        defined_in = getattr(value, "__module__", None)
        if defined_in is not None and callable(value):
            assert importlib.import_module(defined_in) is not None and defined_in.startswith("toyrobot_utils.")
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        toyrobot_utils.not_a_name  # noqa: B018


def test_our_deprecation_warnings_stay_visible():
    """pyproject.toml's filterwarnings hides the libraries' DeprecationWarnings but shows ours (module toyrobot_utils)
    in the test summary: pytest applies those filters around every test, so they are in effect here."""
    code = compile("import warnings\nwarnings.warn('old', DeprecationWarning)\n", "<deprecated call>", "exec")
    with warnings.catch_warnings(record=True) as caught:  # keeps the filters in effect, records what they let pass
        exec(code, {"__name__": "toyrobot_utils.some_module"})
        exec(code, {"__name__": "keras.some_module"})
    assert [str(w.message) for w in caught] == ["old"], "DeprecationWarnings of toyrobot_utils must not be ignored"

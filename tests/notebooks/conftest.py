"""nbval compares the structure of 09's and 10's outputs, not their numbers: structure.cfg's patterns are added to
sanitize.cfg's for those two notebooks, and their text/plain outputs (tables laid out to the width of their numbers;
each also has an HTML or Markdown form, which is compared) are left out."""

from __future__ import annotations

from pathlib import Path

STRUCTURAL = {"09_mobilenetv2.ipynb", "10_results.ipynb"}
PATTERNS = Path(__file__).with_name("structure.cfg")


def pytest_collection_modifyitems(items):
    from nbval.plugin import get_sanitize_patterns  # only an nbval run collects notebooks

    patterns = get_sanitize_patterns(PATTERNS.read_text())
    for notebook in {id(item.parent): item.parent for item in items}.values():
        if Path(str(notebook.fspath)).name in STRUCTURAL and hasattr(notebook, "sanitize_patterns"):
            notebook.sanitize_patterns.update(patterns)
            notebook.skip_compare = (*notebook.skip_compare, "text/plain")

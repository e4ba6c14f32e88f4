"""The README states only numbers from the committed run: its results table is notebook 10's output, verbatim."""

from __future__ import annotations

import json
import re

from toyrobot_utils.config import PROJECT_ROOT

BEGIN, END = "<!-- results table: printed by notebooks/10_results.ipynb -->", "<!-- end of results table -->"


def notebook_table() -> str:
    nb = json.loads((PROJECT_ROOT / "notebooks" / "10_results.ipynb").read_text())
    cells = [c for c in nb["cells"] if "readme-table" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "notebook 10 must have exactly one cell tagged readme-table"
    text = "".join("".join(o.get("text", "")) for o in cells[0].get("outputs", []) if o.get("output_type") == "stream")
    assert text.strip(), "notebook 10's readme-table cell has no output: run the notebook (make run)"
    return text.strip()


def test_readme_results_table_is_the_committed_runs_output():
    readme = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    assert match, f"README.md has no results table between {BEGIN!r} and {END!r}"
    assert match.group(1).strip() == notebook_table(), (
        "README.md's results table differs from the output of notebooks/10_results.ipynb: copy the notebook's "
        "last cell output into the README (after a full run)"
    )


def test_readme_names_every_notebook_of_the_series():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [nb.stem for nb in sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
               if f"`{nb.stem}`" not in readme]
    assert not missing, f"README.md's series table does not mention {missing}"


def test_readme_links_and_images_exist():
    readme = (PROJECT_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (PROJECT_ROOT / t).exists()]
    assert not missing, f"README.md links to files that are not in the repository: {missing}"

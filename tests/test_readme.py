"""The README states only numbers from the committed run: its results table is notebook 10's output, verbatim."""

from __future__ import annotations

import json
import re
import subprocess

from toyrobot_utils.config import PROJECT_ROOT

BEGIN, END = "<!-- results table: printed by notebooks/10_results.ipynb -->", "<!-- end of results table -->"


NOTEBOOK = "notebooks/10_results.ipynb"


def committed_notebook(root=PROJECT_ROOT) -> str:
    """Notebook 10 as committed: the README states the committed run's numbers, so a user's own rerun of the series
    (``make run`` rewrites the notebooks in place) must not turn this check red. Outside a git checkout (a release
    archive) the file on disk is the committed one."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{NOTEBOOK}"], cwd=root, capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.SubprocessError):
        shown = None
    if shown is not None and shown.returncode == 0:
        return shown.stdout
    return (root / NOTEBOOK).read_text()


def notebook_table(text: str | None = None) -> str:
    nb = json.loads(committed_notebook() if text is None else text)
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
        "README.md's results table differs from the output of the committed notebooks/10_results.ipynb: copy the "
        "notebook's last cell output into the README (after a full run) and commit both"
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


def test_a_users_rerun_of_notebook_10_does_not_change_what_the_readme_is_checked_against(tmp_path):
    """`make run` then `make test`: the rerun rewrites notebook 10's outputs (timings differ on every run); the README
    check still compares with the committed notebook. Shown on a scratch repository holding a copy of notebook 10."""
    original = (PROJECT_ROOT / NOTEBOOK).read_text()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / NOTEBOOK).write_text(original)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "committed run"], cwd=tmp_path, check=True)
    rerun = json.loads(original)
    for cell in rerun["cells"]:
        if "readme-table" in cell.get("metadata", {}).get("tags", []):
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["| a user's rerun |\n"]}]
    (tmp_path / NOTEBOOK).write_text(json.dumps(rerun))
    assert notebook_table(committed_notebook(tmp_path)) == notebook_table(original)
    assert notebook_table((tmp_path / NOTEBOOK).read_text()) == "| a user's rerun |"

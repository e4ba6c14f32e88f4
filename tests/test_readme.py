"""The README states only numbers from the committed run: its results table is notebook 10's output, verbatim."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

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


def readme_three_commands() -> list[str]:
    """The command lines of the README's "Your photos in three commands" block, comments dropped."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Your photos in three commands"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


@pytest.mark.slow
@pytest.mark.shared
def test_the_readmes_three_commands_run_as_written(tmp_path):
    """audit, train, sort exactly as the README prints them, from a folder with `my_toys/` (a few tiny photos per toy)
    and `new_photos/`: train's own last line names the same sort command, and the sort puts every new photo in a
    bin. Needs MobileNetV2's ImageNet weights in Keras' cache (`make weights` copies them from ../shared)."""
    import shlex
    import sys

    from test_splitting import plain_folder

    from toyrobot_utils.modelling.models import keras_weights_dir

    if not (keras_weights_dir() / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5").is_file():
        pytest.skip("MobileNetV2's ImageNet weights are not in Keras' cache (`make weights`, from ../shared)")
    commands = readme_three_commands()
    assert [c.split()[:2] for c in commands] == [["toyrobot", "audit"], ["toyrobot", "train"], ["toyrobot", "sort"]]
    plain_folder(tmp_path / "my_toys", {"cars": 8, "duplos": 8, "magnatiles": 8})
    plain_folder(tmp_path / "new_photos", {"cars": 2, "duplos": 2, "magnatiles": 2}, seed=7)
    for folder in (tmp_path / "new_photos").iterdir():  # new photos arrive in one flat folder
        for photo in folder.iterdir():
            photo.rename(tmp_path / "new_photos" / photo.name)
        folder.rmdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOYROBOT_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    outputs = []
    for command in commands:
        argv = [sys.executable, "-m", "toyrobot_utils", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    printed = [line.strip() for line in outputs[1].splitlines() if line.strip().startswith("toyrobot sort ")]
    assert printed and shlex.split(printed[-1])[-2:] == shlex.split(commands[2])[-2:]  # --model, the same file
    sorted_photos = [p for p in (tmp_path / "bins").rglob("*.jpg")]
    assert len(sorted_photos) == 6 and len(list((tmp_path / "new_photos").glob("*.jpg"))) == 6


def test_the_docs_pages_links_exist():
    """docs/*.md hold what the README's first screen leaves out: every local link in them leads to a file."""
    missing = []
    for page in sorted((PROJECT_ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#")[0]
            if path and not re.match(r"[a-z]+://", target) and not (page.parent / path).exists():
                missing.append(f"{page.name}: {target}")
    assert not missing, missing
    readme = (PROJECT_ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\(docs/([^)#\s]+)", readme))
    assert {p.name for p in (PROJECT_ROOT / "docs").glob("*.md")} <= linked, "the README links every docs page"

"""`run-series` replaces a notebook only with a finished run: a failure keeps the old notebook and shows the error."""

from __future__ import annotations

import json
import stat

import nbformat
import pytest

from toyrobot_utils import series


def notebook(path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("value = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_finished_notebooks_replace_the_old_ones_and_a_failure_keeps_its_original(tmp_path):
    notebook(tmp_path / "01_ok.ipynb", "print('value is', value * 2)")
    notebook(tmp_path / "02_fails.ipynb", "raise ValueError('your photos are the problem')")
    notebook(tmp_path / "03_after.ipynb", "print('not reached')")
    original = (tmp_path / "02_fails.ipynb").read_bytes()

    with pytest.raises(RuntimeError, match="02_fails.ipynb failed.*your photos are the problem"):
        series.run_series({"value": 21}, notebooks_dir=tmp_path)

    done = json.loads((tmp_path / "01_ok.ipynb").read_text())
    assert "value is 42" in "".join(done["cells"][-1]["outputs"][0]["text"])  # papermill's parameter was used
    assert stat.S_IMODE((tmp_path / "01_ok.ipynb").stat().st_mode) & 0o044  # readable like any file, not 0600
    assert (tmp_path / "02_fails.ipynb").read_bytes() == original  # the committed notebook is left as it was
    failed = json.loads((tmp_path / "failed" / "02_fails.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in failed["cells"] for o in c.get("outputs", []))
    assert not json.loads((tmp_path / "03_after.ipynb").read_text())["cells"][-1]["outputs"]  # the series stopped
    assert not list(tmp_path.glob("tmp*.ipynb"))  # no temporary files left behind


def test_only_and_output_dir(tmp_path):
    notebook(tmp_path / "01_ok.ipynb", "print('one')")
    notebook(tmp_path / "02_ok.ipynb", "print('two')")
    out = tmp_path / "out"
    timings = series.run_series(only=["02"], notebooks_dir=tmp_path, output_dir=out)
    assert list(timings) == ["02_ok.ipynb"]
    assert [p.name for p in out.glob("*.ipynb")] == ["02_ok.ipynb"]
    assert not json.loads((tmp_path / "02_ok.ipynb").read_text())["cells"][-1]["outputs"]  # source untouched
    with pytest.raises(FileNotFoundError):
        series.run_series(only=["09"], notebooks_dir=tmp_path)

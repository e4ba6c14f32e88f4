"""`run-series` replaces a notebook only with a finished run: a failure keeps the old notebook and shows the error."""

from __future__ import annotations

import json
import stat

import nbformat
import pytest

from toyrobot_utils.series import runner


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
        runner.run_series({"value": 21}, notebooks_dir=tmp_path)

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
    timings = runner.run_series(only=["02"], notebooks_dir=tmp_path, output_dir=out)
    assert list(timings) == ["02_ok.ipynb"]
    assert [p.name for p in out.glob("*.ipynb")] == ["02_ok.ipynb"]
    assert not json.loads((tmp_path / "02_ok.ipynb").read_text())["cells"][-1]["outputs"]  # source untouched
    with pytest.raises(FileNotFoundError):
        runner.run_series(only=["09"], notebooks_dir=tmp_path)


def test_progress_names_the_notebook_and_estimates_what_is_left(tmp_path):
    notebooks = [tmp_path / f"0{i}_x.ipynb" for i in range(1, 4)]
    durations = {"01_x.ipynb": 60.0, "02_x.ipynb": 120.0, "03_x.ipynb": 180.0}
    first = runner.progress_line(0, notebooks, 0.0, durations)
    assert first == "[run-series] 1/3 01_x.ipynb: 0.0 min so far, about 6 min left (the last run's times x 1.00)"
    # twice as slow as last time so far: the estimate doubles
    assert "about 10 min left (the last run's times x 2.00)" in runner.progress_line(1, notebooks, 120.0, durations)
    assert runner.progress_line(1, notebooks, 60.0, {}) == "[run-series] 2/3 02_x.ipynb: 1.0 min so far"


def test_quick_tour_runs_into_its_own_folder_and_leaves_the_committed_notebooks_alone(tmp_path, capsys):
    committed = {p.name: p.read_bytes() for p in runner.series_notebooks()}
    timings = runner.quick_tour(only=["01"], folder=tmp_path / "quick")
    assert list(timings) == ["01_data.ipynb"]
    executed = json.loads((tmp_path / "quick" / "notebooks" / "01_data.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert injected and str(tmp_path / "quick" / "data") in "".join(injected[0]["source"])
    assert any(o.get("output_type") for c in executed["cells"] for o in c.get("outputs", []))
    assert (tmp_path / "quick" / "data" / "training").is_dir()
    assert {p.name: p.read_bytes() for p in runner.series_notebooks()} == committed
    assert "[run-series] 1/1 01_data.ipynb" in capsys.readouterr().out
    assert runner.quick_parameters(runner.series_notebooks()[6])["epochs"] == 2  # 07's tiny Hyperband search
    # it opens with the banner: a smoke run, numbers that mean nothing, and where its files are (issue 30)
    banner = "".join(executed["cells"][0]["source"])
    assert executed["cells"][0]["cell_type"] == "markdown" and "smoke run" in banner and "mean nothing" in banner
    assert f"`{runner.shown_path(tmp_path / 'quick')}/models/`" in banner
    assert sum(runner.QUICK_BANNER_TAG in c.get("metadata", {}).get("tags", []) for c in executed["cells"]) == 1


def test_the_quick_banner_names_build_quick_and_a_second_banner_replaces_the_first(tmp_path):
    text = runner.quick_banner()
    assert "`build/quick/models/`" in text and "`build/quick/figures/`" in text and "2 epochs" in text
    assert "12 / 6 / 4 photos per class" in text
    path = tmp_path / "01_x.ipynb"
    notebook(path, "print(1)")
    runner.add_banner(path, "first")
    runner.add_banner(path, "second")
    cells = json.loads(path.read_text())["cells"]
    assert ["".join(c["source"]) for c in cells[:2]] == ["second", "value = 1"] and len(cells) == 3


def test_executed_notebooks_name_no_machine_folder_in_their_metadata(tmp_path):
    path = tmp_path / "01_x.ipynb"
    notebook(path, "print(1)")
    nb = json.loads(path.read_text())
    nb["metadata"]["papermill"] = {"input_path": str(runner.NOTEBOOKS_DIR / "01_data.ipynb"),
                                   "output_path": str(runner.NOTEBOOKS_DIR / "tmpab12.ipynb"), "duration": 3.0}
    path.write_text(json.dumps(nb))
    runner.forget_machine_paths(path)
    papermill = json.loads(path.read_text())["metadata"]["papermill"]
    assert papermill == {"input_path": "notebooks/01_data.ipynb", "output_path": "notebooks/tmpab12.ipynb",
                         "duration": 3.0}


def test_tensorflow_start_up_notices_are_stripped_and_everything_else_kept(tmp_path):
    path = tmp_path / "01_x.ipynb"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import tensorflow")
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1796136767.189972   18935 port.cc:153] oneDNN custom operations are on. You may see ...\n"
             "I0000 00:00:1796137058.789752   20257 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
             "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
             "appropriate compiler flags.\n")
    noise += ("E0000 00:00:1796.0   18935 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
              "which is not in the op definition ... Unknown attributes will be ignored.\n")
    real = "E0000 00:00:1.0 1 cuda_executor.cc:12] a real error stays\n"
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=noise),
                    nbformat.v4.new_output("stream", name="stderr", text=noise + real),
                    nbformat.v4.new_output("stream", name="stdout", text="I0000 not stderr, kept\n")]
    nb.cells = [cell]
    nbformat.write(nb, path)
    assert runner.strip_startup_noise(path) == 10
    outputs = json.loads(path.read_text())["cells"][0]["outputs"]
    assert [o["name"] for o in outputs] == ["stderr", "stdout"]
    assert "".join(outputs[0]["text"]) == real  # a real warning stays visible


def test_a_failure_under_output_dir_is_kept_there_and_its_error_names_the_folder(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    notebook(source / "01_data.ipynb", "from toyrobot_utils.audit import audit\naudit('/nowhere/photos')")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError) as err:
        runner.run_series(notebooks_dir=source, output_dir=out)
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert "01_data.ipynb failed: DataSetError: Data folder /nowhere/photos does not exist" in message
    assert "make-data" in message and str(out / "failed" / "01_data.ipynb") in message
    assert (out / "failed" / "01_data.ipynb").is_file() and not (source / "failed").exists()

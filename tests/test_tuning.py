"""tuning.py: a real (tiny) search that resumes instead of starting over, the trials table, the best values that
rebuild the network, the plot, the time budget, the command line, and a real chief + two workers search."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import keras_tuner
import pandas as pd
import pytest
from matplotlib.figure import Figure

from toyrobot_utils import tuning
from toyrobot_utils.__main__ import main
from toyrobot_utils.data import load_datasets
from toyrobot_utils.modelling import models

from conftest import make_dataset

SIZE = (32, 32)
EPOCHS = 2  # two, so the timing has a steady-state epoch besides the first (tracing) one


class CountingHyperModel(models.ToyHyperModel):
    """Counts builds: a resumed search must build (= train) only the trials it has not finished."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.builds = 0

    def build(self, hp):
        self.builds += 1
        return super().build(hp)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("tuning") / "data")
    return root, load_datasets(root, image_size=SIZE, batch_size=8, verbose=False)


@pytest.fixture(scope="module")
def searched(tiny_data, tmp_path_factory):
    """A 2-trial search, then the same call with max_trials=3 (the resume)."""
    _, datasets = tiny_data
    directory = tmp_path_factory.mktemp("tuner")
    kwargs = dict(directory=directory, executions_per_trial=1, epochs=EPOCHS, verbose=0, seed=7)
    first_model = CountingHyperModel(3, SIZE)
    started = time.monotonic()
    first = tuning.run_search(datasets, max_trials=2, hypermodel=first_model, **kwargs)
    first_table = first.table
    second_model = CountingHyperModel(3, SIZE)
    second = tuning.run_search(datasets, max_trials=3, hypermodel=second_model, **kwargs)
    seconds = time.monotonic() - started
    return SimpleNamespace(datasets=datasets, directory=directory, first=first, first_table=first_table,
                           first_model=first_model, second=second, second_model=second_model, table=second.table,
                           seconds=seconds)


def test_rerun_resumes_and_trains_only_the_missing_trial(searched):
    assert searched.first.trials_run == ["0", "1"]
    assert searched.second.trials_run == ["2"]
    assert searched.second_model.builds == 1  # a reloaded project is not rebuilt; one new trial, one execution
    table = searched.table
    assert sorted(table["trial_id"]) == ["0", "1", "2"]
    assert (table["status"] == "COMPLETED").all()
    # the first two trials are kept as they were, scores and values alike
    keep = ["trial_id", "score", "Input_Conv_Filters", "n_Conv_Layers", "n_Dense_Layers", "Dropout", "Optimizer"]
    before = searched.first_table[keep].set_index("trial_id").sort_index()
    after = table[keep].set_index("trial_id").loc[before.index]
    pd.testing.assert_frame_equal(before, after)
    # a third call with the same max_trials trains nothing at all
    model = CountingHyperModel(3, SIZE)
    again = tuning.run_search(searched.datasets, directory=searched.directory, max_trials=3,
                              executions_per_trial=1, epochs=EPOCHS, verbose=0, hypermodel=model)
    assert again.trials_run == [] and model.builds == 0
    # resuming with other training settings would mix incomparable scores: refused before anything trains
    with pytest.raises(tuning.SettingsMismatchError, match="epochs=2 .now 1."):
        tuning.run_search(searched.datasets, directory=searched.directory, max_trials=4, executions_per_trial=1,
                          epochs=1, verbose=0)
    assert len(tuning.trials_summary(searched.directory)) == 3


def test_every_trial_writes_tensorboard_logs(searched):
    logs = tuning.tuner_logs_dir(searched.directory, tuning.PROJECT_NAME)
    assert logs == searched.directory.parent / "logs" / "tuner" / tuning.PROJECT_NAME
    trials = sorted(p.name for p in logs.iterdir())
    assert trials == ["0", "1", "2"]
    assert list(logs.glob("0/*/validation/events.out.tfevents.*"))


def test_recorded_settings_guard_a_resume(tiny_data, tmp_path):
    _, datasets = tiny_data
    kwargs = dict(directory=tmp_path, max_trials=1, executions_per_trial=1, epochs=1, verbose=0)
    tuning.run_search(datasets, record_settings={"batch_size": 8, "augment": False}, **kwargs)
    with pytest.raises(tuning.SettingsMismatchError, match="augment=False .now True."):
        tuning.run_search(datasets, record_settings={"batch_size": 8, "augment": True}, **kwargs)


def test_a_search_of_other_photos_is_archived_and_a_new_one_starts(tiny_data, tmp_path, capsys):
    """The series rerun on your own photos (same class names, same project name) must not resume the search of the
    built-in photos: their trials' scores were measured on other photos."""
    root, datasets = tiny_data
    kwargs = dict(directory=tmp_path, max_trials=1, executions_per_trial=1, epochs=1, verbose=2)
    tuning.run_search(datasets, **kwargs)
    first_photos = json.loads((tmp_path / tuning.PROJECT_NAME / tuning.SETTINGS_FILE).read_text())["photos"]
    other = make_dataset(tmp_path / "other", seed=5)  # same classes, other photos
    other_sets = load_datasets(other, image_size=SIZE, batch_size=8, verbose=False)
    capsys.readouterr()
    again = tuning.run_search(other_sets, **kwargs)
    assert "trained on other photos" in capsys.readouterr().out
    assert again.trials_run == ["0"]  # a new search, not a resume
    stored = json.loads((tmp_path / tuning.PROJECT_NAME / tuning.SETTINGS_FILE).read_text())["photos"]
    assert stored != first_photos
    archived = list((tmp_path / "archive" / tuning.PROJECT_NAME).glob("*/" + tuning.SETTINGS_FILE))
    assert len(archived) == 1 and json.loads(archived[0].read_text())["photos"] == first_photos


def test_trials_table_has_ids_status_score_values_and_timing(searched):
    table = searched.table
    for column in ["trial_id", "status", "score", "best_epoch", "Input_Conv_Filters", "n_Conv_Layers",
                   "n_Dense_Layers", "Dense_0_Neurons", "Dropout", "Optimizer", "conv_layers", "tuner_id",
                   "seconds", "epochs", "seconds_per_epoch", "started", "ended"]:
        assert column in table, column
    scores = table["score"].tolist()
    assert scores == sorted(scores, reverse=True)  # best first
    assert table["score"].between(0, 1).all()
    assert (table["conv_layers"] == table["n_Conv_Layers"] + 1).all()
    rebuilt = [models.build_from_hyperparameters(tuning.best_hyperparameters(searched.directory, rank=rank),
                                                 num_classes=3, image_size=SIZE).count_params()
               for rank in range(len(table))]
    assert table["params"].tolist() == rebuilt
    # per-layer values of layers a network does not have are blank
    for _, row in table.iterrows():
        for i in range(3):
            column = f"Conv_{i}_Filters"
            if column in table and i >= row["n_Conv_Layers"]:
                assert pd.isna(row[column])
        for j in range(4):
            column = f"Dense_{j}_Neurons"
            if column in table:
                assert pd.isna(row[column]) == (j >= row["n_Dense_Layers"])
    assert (table["tuner_id"] == "tuner0").all()
    assert (table["epochs"] == EPOCHS).all() and (table["executions"] == 1).all()
    assert (table["seconds"] > 0).all() and (table["seconds_per_epoch"] > 0).all()
    assert (table["seconds"] >= table["seconds_per_epoch"] * EPOCHS).all()
    # the same table from the folder alone (how a notebook reads a finished or distributed search)
    from_folder = tuning.trials_summary(searched.directory)
    pd.testing.assert_frame_equal(from_folder, table)
    summary = tuning.timing_summary(table)
    assert summary["trials"] == 3 and summary["workers"] == ["tuner0"]
    assert summary["trial_seconds"] == pytest.approx(table["seconds"].sum())
    # one worker runs its trials one after the other: the wall clock covers every trial's seconds, and no more
    # than the whole search took (its own measured time, with a second of slack for the clock's rounding)
    assert summary["trial_seconds"] - 1 <= summary["wall_seconds"] <= searched.seconds + 1


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # Keras Tuner loads weights only
def test_best_hyperparameters_rebuild_the_best_network(searched):
    best = tuning.best_hyperparameters(searched.directory)
    top = searched.table.iloc[0]
    assert best["Input_Conv_Filters"] == top["Input_Conv_Filters"]
    assert best["Optimizer"] == top["Optimizer"] and best["Dropout"] == top["Dropout"]
    assert set(best) == {name for name in tuning.active_values(best)}
    assert len([k for k in best if k.startswith("Conv_")]) == best["n_Conv_Layers"]
    assert len([k for k in best if k.startswith("Dense_")]) == best["n_Dense_Layers"]
    json.dumps(best)  # plain Python values
    rebuilt = models.build_from_hyperparameters(best, num_classes=3, image_size=SIZE)
    tuner = searched.second.tuner
    trained = tuner.load_model(tuner.oracle.get_trial(top["trial_id"]))  # the trial's own network and weights
    assert rebuilt.count_params() == trained.count_params()
    assert best == searched.second.best
    second = tuning.best_hyperparameters(searched.directory, rank=1)
    assert second != best or searched.table.iloc[1]["score"] == searched.table.iloc[0]["score"]
    with pytest.raises(LookupError, match="completed trial"):
        tuning.best_hyperparameters(searched.directory, rank=5)


def test_every_trial_samples_the_layers_it_has(tmp_path):
    """The oracle samples each per-layer value in every trial whose network has that layer (not the default 32 the
    first time a layer appears) and records no value for layers the network lacks."""
    tuner = tuning.build_tuner(tmp_path, num_classes=3, image_size=SIZE, max_trials=40, executions_per_trial=1,
                               seed=3)
    conditional = {p.name for p in tuner.oracle.get_space().space if p.conditions}
    assert conditional == {f"Conv_{i}_Filters" for i in range(3)} | {f"Dense_{j}_Neurons" for j in range(4)}
    used = {}
    for k in range(30):
        values = tuner.oracle.create_trial(f"worker{k}").hyperparameters.values
        convs = {f"Conv_{i}_Filters" for i in range(values["n_Conv_Layers"])}
        denses = {f"Dense_{j}_Neurons" for j in range(values["n_Dense_Layers"])}
        assert {n for n in values if n.startswith(("Conv_", "Dense_"))} == convs | denses
        for name in convs | denses:
            used.setdefault(name, []).append(values[name])
    first_uses = [values[0] for name, values in used.items() if name != "Dense_0_Neurons"]
    assert len(first_uses) >= 4 and set(first_uses) != {32}
    assert all(len(set(values)) > 1 for values in used.values() if len(values) >= 5)


def test_max_model_size_draws_again_instead_of_failing_trials(tmp_path):
    size = (128, 128)
    cap = 2_000_000  # most of the space at 128 px: without redrawing, most trials would fail
    tuner = tuning.build_tuner(tmp_path, num_classes=3, image_size=size, max_trials=20, executions_per_trial=1,
                               seed=5, max_model_size=cap)
    hypermodel = models.ToyHyperModel(3, size)
    counts = [hypermodel.param_count(tuner.oracle.create_trial(f"worker{k}").hyperparameters.values)
              for k in range(20)]
    assert max(counts) <= cap and len(set(counts)) > 5
    uncapped = tuning.build_tuner(tmp_path, "uncapped", num_classes=3, image_size=size, max_trials=20, seed=5)
    values = [uncapped.oracle.create_trial(f"worker{k}").hyperparameters.values for k in range(20)]
    assert max(hypermodel.param_count(v) for v in values) > cap  # the cap is what kept them out


def test_max_flops_is_a_compute_budget_for_the_draws(tmp_path):
    """max_flops keeps draws that cost more per photo out (drawn again), whatever their parameter count."""
    size = (128, 128)
    cap = models.conv_net_flops(3, size, **models.MODEL_TABLE[7].kwargs)  # what hand-built model 7 costs
    tuner = tuning.build_tuner(tmp_path, num_classes=3, image_size=size, max_trials=20, executions_per_trial=1,
                               seed=5, max_flops=cap)
    hypermodel = models.ToyHyperModel(3, size)
    drawn = [tuner.oracle.create_trial(f"worker{k}").hyperparameters.values for k in range(20)]
    assert max(hypermodel.flops(v) for v in drawn) <= cap and len({hypermodel.flops(v) for v in drawn}) > 5
    uncapped = tuning.build_tuner(tmp_path, "uncapped", num_classes=3, image_size=size, max_trials=20, seed=5)
    values = [uncapped.oracle.create_trial(f"worker{k}").hyperparameters.values for k in range(20)]
    assert max(hypermodel.flops(v) for v in values) > cap  # the cap is what kept them out
    with pytest.raises(ValueError, match="flops"):
        tuning.build_tuner(tmp_path, "no-count", num_classes=3, image_size=size, max_flops=cap,
                           hypermodel=keras_tuner.HyperModel())
    share = tuning.share_within(cap, 3, size, samples=2000)
    assert 0.05 < share < 0.9 and tuning.share_within(10**15, 3, size, samples=200) == 1.0


def test_hyperband_schedule_is_what_keras_tuner_trains(tiny_data, tmp_path):
    """The schedule's trial and epoch counts are those of a real Hyperband search (max_epochs 3, factor 3), and the
    write-up-scale ones follow Hyperband's rules (the last bracket trains max_epochs straight away)."""
    _, datasets = tiny_data
    schedule = tuning.hyperband_schedule(3, factor=3)
    result = tuning.run_search(datasets, directory=tmp_path, algorithm="hyperband", epochs=3, executions_per_trial=1,
                               seed=3, verbose=0, max_model_size=2_000_000)
    table = result.table
    assert len(table) == int(schedule["trials"].sum())  # every round of every bracket is a trial of its own
    assert int(table["epochs"].sum()) == schedule.attrs["epochs"]
    twelve = tuning.hyperband_schedule(12)
    assert (twelve.attrs["trials"], twelve.attrs["epochs"]) == (22, 136)
    assert twelve.groupby("bracket")["epochs"].max().eq(12).all()
    assert tuning.hyperband_seconds(12, seconds_per_epoch=2.0, overhead_seconds=1.0) == 136 * 2.0 + 30 * 1.0
    with pytest.raises(ValueError):
        tuning.hyperband_schedule(0)


def test_share_of_the_space_within_a_size_limit():
    share = tuning.share_within_size(20_000_000, 5, (128, 128), samples=3000)
    assert share == tuning.share_within_size(20_000_000, 5, (128, 128), samples=3000)  # seeded: the same every time
    assert 0.55 < share < 0.8  # a third of the raw space is networks with one huge dense layer
    assert tuning.share_within_size(2_000_000, 5, (128, 128), samples=3000) < share
    assert tuning.share_within_size(10**12, 5, (128, 128), samples=500) == 1.0
    assert tuning.share_within_size(1000, 5, (128, 128), samples=500) == 0.0


def test_results_of_a_missing_project_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="Run the search first"):
        tuning.trials_summary(tmp_path / "nowhere")


def test_plot_search_saves_a_figure(searched, tmp_path):
    fig = tuning.plot_search(searched.table, figures_dir=tmp_path)
    assert isinstance(fig, Figure)
    assert (tmp_path / "tuning_search.png").stat().st_size > 0
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels == ["conv layers", "first conv layer filters", "dense layers", "dropout", "optimizer"]


def test_plan_budget_arithmetic():
    # 2 s per epoch + 3 s per execution; 900 s: 10 epochs x 1 execution = 23 s per trial -> 39 trials
    budget = tuning.plan_budget(2.0, overhead_seconds=3.0, epochs=10)
    assert budget.max_trials == 39 and budget.fits
    assert budget.estimated_seconds == pytest.approx(39 * 23)
    budget = tuning.plan_budget(2.0, overhead_seconds=3.0, max_trials=30, executions_per_trial=2)
    assert budget.epochs == 6 and budget.fits  # 30 x 2 x (3 + 6 x 2) = 900 s
    assert budget.search_kwargs() == {"max_trials": 30, "epochs": 6, "executions_per_trial": 2}
    assert tuning.plan_budget(2.0, epochs=10, workers=2).max_trials == 90
    writeup = tuning.plan_budget(2.0, overhead_seconds=3.0, epochs=40, max_trials=30, executions_per_trial=2)
    assert not writeup.fits and "30 trials x 2 execution(s) x 40 epochs" in str(writeup)
    with pytest.raises(ValueError, match="more than the budget"):
        tuning.plan_budget(60.0, epochs=40)
    with pytest.raises(ValueError, match="epochs= .* or max_trials="):
        tuning.plan_budget(2.0)


def test_pilot_search_times_trials_for_the_budget(tiny_data):
    _, datasets = tiny_data
    pilot = tuning.pilot_search(datasets["training"], datasets["validation"], sample_trials=1, epochs=2)
    assert len(pilot) == 1 and pilot["seconds_per_epoch"].iloc[0] > 0
    assert pilot["params"].iloc[0] > 0  # the pilot records its classes and image size like a search
    budget = tuning.plan_budget(pilot, epochs=5)
    assert budget.max_trials >= 1 and budget.fits
    assert budget.seconds_per_epoch == pytest.approx(pilot["seconds_per_epoch"].iloc[0])


def test_tuner_options(tmp_path):
    tuner = tuning.build_tuner(tmp_path, num_classes=3, image_size=SIZE)
    assert isinstance(tuner, keras_tuner.RandomSearch)
    assert tuner.oracle.max_trials == 30 and tuner.executions_per_trial == 2  # the write-up's search
    assert tuner.oracle.objective.name == "val_accuracy" and tuner.oracle.objective.direction == "max"
    assert tuning.WRITEUP_SEARCH == {"max_trials": 30, "executions_per_trial": 2, "epochs": 40}
    band = tuning.build_tuner(tmp_path, "band", algorithm="hyperband", epochs=9, num_classes=3, image_size=SIZE)
    assert isinstance(band, keras_tuner.Hyperband) and band.oracle.max_epochs == 9
    with pytest.raises(ValueError, match="algorithm"):
        tuning.build_tuner(tmp_path, algorithm="grid")
    with pytest.raises(ValueError, match="max_trials"):
        tuning.build_tuner(tmp_path, max_trials=0)
    with pytest.raises(ValueError, match="keep_checkpoints"):
        tuning.build_tuner(tmp_path, algorithm="hyperband", keep_checkpoints=False)


def test_cli_standalone_search_and_argument_errors(tiny_data, tmp_path, capsys):
    root, _ = tiny_data
    args = ["--data-dir", str(root), "--directory", str(tmp_path / "tuner"), "--max-trials", "1",
            "--executions-per-trial", "1", "--epochs", "1", "--image-size", "32", "--batch-size", "8",
            "--verbose", "0"]
    assert main(["tune"] + args) == 0
    out = capsys.readouterr().out
    assert "search finished" in out and "best hyper-parameters:" in out
    assert len(tuning.trials_summary(tmp_path / "tuner")) == 1
    assert main(["tune"] + args[:-2] + ["--epochs", "3", "--verbose", "0"]) == 2  # other settings than the project's
    assert "epochs=1 (now 3)" in capsys.readouterr().err
    assert not tuning.is_distributed()
    assert main(["tune"] + args + ["--tuner-id", "tuner0"]) == 2  # no oracle address
    assert "needs all of --tuner-id, --oracle-ip and --oracle-port" in capsys.readouterr().err
    assert main(["tune"] + args + ["--tuner-id", "tuner0", "--oracle-ip", "127.0.0.1", "--oracle-port", "1",
                                   "--overwrite"]) == 2
    assert "--overwrite on a worker" in capsys.readouterr().err
    assert main(["tune"] + ["--data-dir", str(tmp_path / "missing")]) == 2
    assert not any(key in os.environ for key in (tuning.ENV_TUNER_ID, tuning.ENV_ORACLE_IP))


# --- distributed: a real chief and two workers ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(path: Path, text: str, procs, deadline: float) -> None:
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        for proc, log in procs:
            if proc.poll() is not None:
                pytest.fail(f"{log.name} exited early ({proc.returncode}):\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    pytest.fail(f"{path.name} did not say {text!r} in time:\n{path.read_text(errors='replace')}")


@pytest.mark.slow
def test_chief_and_two_workers_share_one_search(tmp_path):
    root = make_dataset(tmp_path / "data")
    directory = tmp_path / "tuner"
    port = free_port()
    common = ["--data-dir", str(root), "--directory", str(directory), "--max-trials", "4", "--epochs", "1",
              "--executions-per-trial", "1", "--image-size", "32", "--batch-size", "8", "--verbose", "0",
              "--no-checkpoints", "--oracle-ip", "127.0.0.1", "--oracle-port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    command = [sys.executable, "-m", "toyrobot_utils", "tune"]
    procs: list[tuple[subprocess.Popen, Path]] = []
    deadline = time.monotonic() + 240  # a hung chief or worker fails the test instead of blocking the suite

    def start(tuner_id: str, *extra: str):
        log = tmp_path / f"{tuner_id}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(command + common + ["--tuner-id", tuner_id, *extra], stdout=out,
                                    stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        procs.append((proc, log))
        return proc, log

    try:
        # Workers first: once both are ready and waiting, the chief's first two trials go one to each.
        workers = [start(tuner_id, "--oracle-timeout", "180") for tuner_id in ("tuner0", "tuner1")]
        for _, log in workers:
            wait_for(log, "ready, asking the chief", procs, deadline)
        chief, chief_log = start("chief")
        for proc, log in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
            assert proc.returncode == 0, log.read_text(errors="replace")
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    table = tuning.trials_summary(directory)
    assert sorted(table["trial_id"]) == ["0", "1", "2", "3"]
    assert (table["status"] == "COMPLETED").all(), table[["trial_id", "status"]]
    ran = table.groupby("tuner_id")["trial_id"].apply(sorted).to_dict()
    assert set(ran) == {"tuner0", "tuner1"}, ran  # both workers trained trials; the chief trained none
    for tuner_id, trial_ids in ran.items():
        log = (tmp_path / f"{tuner_id}.log").read_text()
        for trial_id in trial_ids:
            assert f"{tuner_id}: trial {trial_id} COMPLETED" in log
    assert "search finished: 4 trials" in chief_log.read_text()
    assert not list(directory.rglob("checkpoint*"))  # --no-checkpoints: no trial weights left on the shared disk
    assert tuning.best_hyperparameters(directory)["Input_Conv_Filters"] % 32 == 0


def test_default_limits_are_the_hand_built_networks():
    """The notebook's search may cost what notebook 06's costliest network costs per photo and be as large as its
    largest one; together the limits leave a small, non-empty corner of the write-up's space."""
    flops, params = tuning.default_max_flops(5, (128, 128)), tuning.default_max_params(5, (128, 128))
    assert flops == models.conv_net_flops(5, (128, 128), **models.MODEL_TABLE[7].kwargs)
    assert params == max(models.count_params(models.build_experiment(n, 5, (128, 128)))["total"]
                         for n in tuning.HAND_BUILT)
    both = tuning.share_within(flops, 5, (128, 128), samples=5000, max_params=params)
    assert 0 < both < tuning.share_within(flops, 5, (128, 128), samples=5000)
    assert tuning.NOTEBOOK_SEARCH["algorithm"] == "hyperband"


@pytest.mark.slow
def test_a_worker_whose_chief_is_down_says_how_long_it_waits_and_gives_up_with_one_line(tmp_path):
    """Keras Tuner lets a worker wait an hour per request, silently; ours says its limit and names the chief."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: no chief there
    root = make_dataset(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env["PYTHONPATH"] = str(Path(tuning.__file__).resolve().parents[1])  # this checkout's package, whatever installed
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "toyrobot_utils", "tune", "--data-dir", str(root), "--directory",
                           str(tmp_path / "tuner"), "--image-size", "32", "--verbose", "0", "--tuner-id", "tuner0",
                           "--oracle-ip", "127.0.0.1", "--oracle-port", str(port), "--oracle-timeout", "2"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "waiting at most 2 s per request, then giving up" in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"got no answer from the chief at 127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in done.stderr and time.monotonic() - start < 240

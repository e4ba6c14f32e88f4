"""The background measurements (analysis.bias) on a tiny generated built-in set and hand-made models whose
reliance on the background is known: one that judges only the photo's mean colour (the background, mostly) must
change its mind on other backgrounds, one that always answers the same must never."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from toyrobot_utils.analysis import bias  # noqa: E402
from toyrobot_utils.stats import wilson_interval  # noqa: E402
from toyrobot_utils.synthetic import default_data as dd  # noqa: E402

from conftest import make_dataset, tree_state  # noqa: E402

SIZE = 48
# The colour model's answer per background: the set's own pairs (wood floor -> bananagrams, white table -> duplos)
# and two more, so that every background has a class.
ANSWER = {**bias.CLASS_OF_BACKGROUND, "rug": "brios", "tiles": "cars"}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """20 test photos (4 per class) and 30 training photos, a third of the real size: generated in under a second."""
    data = tmp_path_factory.mktemp("bias") / "data"
    return data, dd.generate(data, seed=3, counts={"training": 6, "test": 4}, size_scale=0.3, workers=1)


def _mean_colour(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((SIZE, SIZE)), np.float32).mean(axis=(0, 1)) / 255.0


def _head(weights: np.ndarray, bias_: np.ndarray, name: str) -> keras.Model:
    """Mean colour -> Dense(weights, bias_) -> softmax: a Keras model with nothing learnt, its answer set by hand."""
    inputs = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(len(bias_))
    outputs = keras.layers.Activation("softmax")(dense(keras.layers.GlobalAveragePooling2D()(inputs)))
    model = keras.Model(inputs, outputs, name=name)
    dense.set_weights([np.asarray(weights, np.float32), np.asarray(bias_, np.float32)])
    return model


def background_model(data: Path, manifest: pd.DataFrame) -> keras.Model:
    """Nearest mean colour of each background (from the training photos) -> that background's class in ANSWER.

    Logits -|x - c|^2 = 2 c.x - |c|^2 (+ a constant), times 50: a sharp nearest-centroid classifier."""
    classes = sorted(manifest["class"].unique())
    centroids = np.full((len(classes), 3), 10.0, np.float32)  # magnatiles: far from every photo, never answered
    training = manifest[manifest["split"] == "training"]
    for background, cls in ANSWER.items():
        files = training.loc[training["background"] == background, "file"]
        centroids[classes.index(cls)] = np.mean([_mean_colour(data / f) for f in files], axis=0)
    return _head(50 * 2 * centroids.T, -50 * (centroids ** 2).sum(axis=1), "background_only")


def constant_model(classes: int = 5, answer: int = 2) -> keras.Model:
    """Always the same class, whatever the photo."""
    return _head(np.zeros((3, classes)), np.eye(classes)[answer] * 3, "constant")


@pytest.fixture(scope="module")
def swap(tiny_set):
    data, manifest = tiny_set
    before = tree_state(data)
    scratch = tempfile.mkdtemp(prefix="bias-test-")
    old_tempdir, tempfile.tempdir = tempfile.tempdir, scratch
    try:
        result = bias.background_swap({"background": background_model(data, manifest), "constant": constant_model()},
                                      data_dir=data)
    finally:
        tempfile.tempdir = old_tempdir
    return result, before, Path(scratch)


def test_a_background_model_flips_and_a_constant_one_never(swap):
    result, _, _ = swap
    summary = result.summary.set_index("model")
    photos = 4 * 5
    assert summary.loc["background", "photos"] == photos and summary.loc["background", "swaps"] == 3 * photos
    assert summary.loc["background", "flipped"] > 0.7
    assert summary.loc["background", "flipped_to_background_class"] > 0.5
    assert summary.loc["background", "accuracy_swapped"] < summary.loc["background", "accuracy_original"]
    constant = summary.loc["constant"]
    assert constant["flipped"] == 0 and constant["flipped_to_background_class"] == 0
    assert constant["accuracy_original"] == constant["accuracy_swapped"] == pytest.approx(0.2)  # cars: 1 in 5
    assert set(result.seconds_predict) == {"background", "constant"} and result.seconds_render > 0


def test_every_photo_goes_onto_every_other_background_once(swap, tiny_set):
    result, _, _ = swap
    _, manifest = tiny_set
    table = result.swaps[result.swaps["model"] == "constant"]
    own = manifest.set_index("file")["background"]
    assert (table["background"] != table["file"].map(own)).all()
    assert (table["background_original"] == table["file"].map(own)).all()
    assert table.groupby("file")["background"].nunique().eq(3).all()
    assert set(table["file"]) == set(manifest.loc[manifest["split"] == "test", "file"])
    # onto a class-typical background, the toy not of that class
    onto = table[table["onto_class_background"]]
    assert set(onto["background"]) == {"wood_floor", "white_table"}
    assert not (onto["class"] == onto["background"].map(bias.CLASS_OF_BACKGROUND)).any()


def test_the_data_folder_is_left_exactly_as_generated_and_the_renders_are_gone(swap, tiny_set):
    result, before, scratch = swap
    data, _ = tiny_set
    assert tree_state(data) == before
    assert not list(scratch.glob("toyrobot-background-swap-*"))  # the renders' temporary folder was removed
    assert not list(data.parent.glob("**/*__on_*.jpg"))  # and no render was written anywhere near the data


def test_summary_arithmetic_on_a_hand_made_table():
    """Three swaps of one model: two flips, one of them onto the wood floor into bananagrams."""
    swaps = pd.DataFrame({
        "model": ["m"] * 3, "file": ["a", "a", "b"], "class": ["cars", "cars", "duplos"],
        "background": ["wood_floor", "rug", "wood_floor"], "flipped": [True, True, False],
        "correct_original": [True, True, False], "correct": [False, False, False],
        "onto_class_background": [True, False, True], "to_background_class": [True, False, False]})
    row = bias.summarise_swaps(swaps).iloc[0]
    assert row["photos"] == 2 and row["swaps"] == 3 and row["flipped"] == pytest.approx(2 / 3)
    assert row["swaps_onto_class_background"] == 2 and row["flipped_to_background_class"] == 0.5
    assert row["to_bananagrams_on_wood_floor"] == 0.5 and np.isnan(row["to_duplos_on_white_table"])
    assert row["accuracy_original"] == 0.5 and row["accuracy_swapped"] == 0
    sentence = bias.swap_sentence(bias.summarise_swaps(swaps))
    assert sentence.startswith("On other backgrounds 67 % of its predictions change")
    assert "50 % of the other toys moved onto the wood floor become bananagrams" in sentence
    assert "white table" not in sentence  # no such swap: nothing said about it


def test_sentence_per_model(swap):
    result, _, _ = swap
    text = bias.swap_sentence(result.summary)
    lines = text.splitlines()
    assert len(lines) == 2 and lines[1].startswith("constant: On other backgrounds 0 % of its predictions change")
    flipped = result.summary.set_index("model").loc["background", "flipped"]
    assert f"{flipped:.0%}".replace("%", " %") in lines[0]


def test_models_as_a_list_of_runs_and_a_class_mismatch(tiny_set):
    data, _ = tiny_set
    classes = sorted(dd.read_marker(data)["classes"])
    run = SimpleNamespace(model=constant_model(), record={"name": "my_run", "class_names": classes})
    result = bias.background_swap([run], data_dir=data, backgrounds=["wood_floor"])
    assert list(result.summary["model"]) == ["my_run"]
    assert set(result.swaps["background"]) == {"wood_floor"}
    assert result.summary.loc[0, "swaps"] == (result.swaps["background_original"] != "wood_floor").sum()
    with pytest.raises(ValueError, match="would not line up"):
        bias.background_swap({"three": constant_model(classes=3, answer=0)}, data_dir=data, backgrounds=["rug"])
    with pytest.raises(ValueError, match="unknown background"):
        bias.background_swap([run], data_dir=data, backgrounds=["lawn"])


def test_own_photos_are_refused_with_the_folder_named(tmp_path, tiny_set):
    own = make_dataset(tmp_path / "mine")
    assert not bias.available(own) and bias.available(tiny_set[0])
    with pytest.raises(bias.NotBuiltInDataError, match="needs the built-in data set") as err:
        bias.background_swap({"constant": constant_model()}, data_dir=own)
    assert str(own) in str(err.value) and "your own photos" in str(err.value)


def test_by_background_accuracy_intervals_and_focus(tiny_set):
    """Right on the wood floor, wrong elsewhere: the table must say exactly that, with the photo counts."""
    data, manifest = tiny_set
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    on_wood = test["background"] == "wood_floor"
    paths = [str(data / f) if i % 2 else str(Path("..") / data.name / f) for i, f in enumerate(test["file"])]
    predictions = pd.DataFrame({"path": paths, "actual_label": test["class"],
                                "predicted_label": np.where(on_wood, test["class"], "magnatiles"),
                                "correct": on_wood.astype(int)})
    predictions.loc[test["class"] == "magnatiles", "correct"] = 1  # "magnatiles" is right for magnatiles
    cam = pd.DataFrame({"path": [str(data / f) for f in test["file"]], "focus": np.where(on_wood, 0.2, 0.6),
                        "mask_area": np.where(on_wood, 0.1, 0.3)})
    table = bias.by_background(predictions, data_dir=data, cam=cam)
    overall = table[table["class"] == "all"].set_index("background")
    assert overall["photos"].to_dict() == test["background"].value_counts().to_dict()
    assert overall.loc["wood_floor", "accuracy"] == 1 and overall.loc["wood_floor", "focus"] == pytest.approx(0.2)
    assert overall.loc["wood_floor", "focus_lift"] == pytest.approx(2.0)  # 0.2 of the heat on toys covering 0.1
    for background, row in overall.iterrows():
        expected = ((test["background"] == background) & (on_wood | (test["class"] == "magnatiles"))).sum()
        assert row["correct"] == expected
        assert (row["accuracy_low"], row["accuracy_high"]) == pytest.approx(wilson_interval(expected, row["photos"]))
    pairs = table[table["class"] != "all"]
    assert pairs["photos"].sum() == len(test)
    typical = pairs[pairs["typical"].astype(bool)]
    assert set(zip(typical["class"], typical["background"])) <= set(dd.PREFERRED_BACKGROUND.items())
    with pytest.raises(ValueError, match="not in"):
        bias.by_background(predictions.assign(path="elsewhere/test/cars/mine.jpg"), data_dir=data)

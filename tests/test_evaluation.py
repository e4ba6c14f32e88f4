"""The predictions dataframe and what the write-up computed from it."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from toyrobot_utils.analysis import evaluation
from toyrobot_utils.modelling import models, training  # noqa: E402

from modelling_fixtures import arrays_dataset, planted_task, write_split  # noqa: E402

CLASSES = ["bananagrams", "brios", "cars"]
COLUMNS = ["actual_label", "predicted_label", "predicted_probability", "filename", "correct", "path"]


def hand_made() -> pd.DataFrame:
    actual = ["bananagrams"] * 3 + ["brios"] * 2 + ["cars"]
    predicted = ["bananagrams", "brios", "bananagrams", "brios", "brios", "brios"]
    df = pd.DataFrame({
        "actual_label": actual,
        "predicted_label": predicted,
        "predicted_probability": [0.9, 0.95, 0.6, 0.7, 0.8, 0.99],
        "filename": [f"img{i}.jpg" for i in range(6)],
    })
    df["correct"] = (df.actual_label == df.predicted_label).astype(int)
    df.attrs["class_names"] = CLASSES
    return df


def test_confusion_matrix_orientation_and_all_classes():
    matrix = evaluation.confusion_matrix(hand_made())
    # predicted down the side, actual along the top, like pd.crosstab(df.predicted_label, df.actual_label)
    assert matrix.index.name == "predicted_label" and matrix.columns.name == "actual_label"
    assert list(matrix.index) == CLASSES and list(matrix.columns) == CLASSES  # "cars" is never predicted
    expected = pd.DataFrame([[2, 0, 0], [1, 2, 1], [0, 0, 0]], index=CLASSES, columns=CLASSES)
    np.testing.assert_array_equal(matrix.to_numpy(), expected.to_numpy())
    assert matrix.loc["brios", "bananagrams"] == 1  # one bananagram predicted as a brio
    crosstab = pd.crosstab(hand_made().predicted_label, hand_made().actual_label)
    assert (matrix.loc[crosstab.index, crosstab.columns] == crosstab).all().all()

    pct = evaluation.confusion_matrix(hand_made(), normalize=True)
    np.testing.assert_allclose(pct["bananagrams"], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(pct["cars"], [0, 1, 0])
    np.testing.assert_allclose(pct.sum(axis=0), 1.0)  # columns add up: each is one actual class


def test_accuracy_per_class_and_mistakes():
    df = hand_made()
    assert evaluation.accuracy(df) == pytest.approx(4 / 6)
    per_class = evaluation.per_class_accuracy(df)
    assert list(per_class.index) == CLASSES
    assert per_class["accuracy"].tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert per_class["images"].tolist() == [3, 2, 1]
    mistakes = evaluation.confident_mistakes(df, n=5)
    assert mistakes["filename"].tolist() == ["img5.jpg", "img1.jpg"]  # surest first, only wrong ones


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny network trained on raw 0-255 pixels (preprocessing None), its run record, and test files on disk."""
    root = tmp_path_factory.mktemp("evaluation")
    x, y, _ = planted_task(16, classes=3, size=40, toy=12, seed=1)
    xt, yt, _ = planted_task(4, classes=3, size=40, toy=12, seed=2)
    training.seed_everything(0)
    model = models.build_conv_net(3, (40, 40), filters=(4, 8), dense=8)
    raw = lambda a, b: arrays_dataset(a, b, 3).map(lambda i, label: (i * 255.0, label))  # noqa: E731 - 0..255 inputs
    result = training.fit(model, raw(x, y), raw(xt, yt), name="raw_run", epochs=2, models_dir=root / "models",
                          verbose=0, class_names=CLASSES, settings={"preprocessing": "none"})
    files = write_split(root / "data", "test", xt, yt, CLASSES)
    write_split(root / "data", "training", x[::4], y[::4], CLASSES)  # the data module audits a split with training
    return result, root, files, xt, yt


def test_predictions_dataframe_columns_and_values(trained):
    result, root, files, xt, yt = trained
    df = evaluation.predictions_dataframe("raw_run", files=files, labels=yt, models_dir=root / "models")
    assert list(df.columns) == COLUMNS
    assert len(df) == len(files)
    # the run's record said preprocessing "none": the dataframe must feed 0-255 pixels, batched
    probs = result.model.predict(xt.astype(np.float32), verbose=0)
    np.testing.assert_allclose(df["predicted_probability"], probs.max(axis=1), rtol=1e-5)
    assert df["predicted_label"].tolist() == [CLASSES[i] for i in probs.argmax(axis=1)]
    assert df["actual_label"].tolist() == [CLASSES[i] for i in yt]
    assert df["filename"].tolist() == [f.name for f in files]
    assert df["path"].tolist() == [str(f) for f in files]
    assert df["correct"].tolist() == (df.actual_label == df.predicted_label).astype(int).tolist()
    assert set(df["correct"]) <= {0, 1}
    assert df.attrs["class_names"] == CLASSES
    assert evaluation.accuracy(df) == pytest.approx(df["correct"].mean())


def test_predictions_from_split_data_and_explicit_settings(trained):
    from toyrobot_utils.data import load_split

    result, root, files, xt, yt = trained
    split = load_split(root / "data", "test", image_size=(40, 40), shuffle=False)
    df = evaluation.predictions_dataframe(result.model, split, preprocessing="none")
    assert list(df.columns) == COLUMNS and len(df) == len(split.files)
    by_name = evaluation.predictions_dataframe("raw_run", files=split.files, labels=split.labels,
                                               models_dir=root / "models")
    pd.testing.assert_frame_equal(df.reset_index(drop=True), by_name.reset_index(drop=True))
    summary = evaluation.evaluate(result, split, preprocessing="none")
    assert summary["confusion"].to_numpy().sum() == len(split.files)
    with pytest.raises(ValueError, match="classes"):
        evaluation.predictions_dataframe("raw_run", files=files, labels=yt, class_names=["a", "b", "c"],
                                         models_dir=root / "models")


def test_unlabelled_photos_get_predictions_only(trained):
    result, root, files, *_ = trained
    df = evaluation.predictions_dataframe(result, files=files[:2])
    assert list(df.columns) == ["predicted_label", "predicted_probability", "filename", "path"]


def test_resolve_model_reads_size_and_preprocessing():
    model = keras.Sequential([keras.Input((24, 20, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    resolved = evaluation.resolve_model(model)
    assert resolved.image_size == (24, 20) and resolved.preprocessing == "rescale"

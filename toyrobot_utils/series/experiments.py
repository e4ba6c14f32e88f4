"""Notebook 06's architecture experiments: which rows of the write-up's table it trains, what each network changes,
and what the four runs say side by side. The sentences are built here from the runs' own numbers (tested in
tests/test_report.py), so the notebook states nothing its outputs do not show.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import keras
import pandas as pd

from toyrobot_utils import stats
from toyrobot_utils.analysis import comparison, evaluation, gradcam
from toyrobot_utils.modelling import models
from toyrobot_utils.series.report import interval_column, names, plural, show
from toyrobot_utils.stats import percent


def experiment_names(numbers: Sequence[int], names: str | Sequence[str]) -> dict[int, str]:
    """{row number: run name}, one name per experiment, checked: every row must use model 4's recipe (augmentation
    and the learning-rate reducer), so that only the architecture differs."""
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != len(numbers):
        raise ValueError(f"model_name has {len(names)} names for {len(numbers)} experiments {list(numbers)}: give "
                         "one name per experiment, in the same order")
    odd = [n for n in numbers if not (models.MODEL_TABLE[n].augment and models.MODEL_TABLE[n].lr_reducer)]
    if odd:
        raise ValueError(f"this notebook trains every network with model 4's recipe (augmentation and the "
                         f"learning-rate reducer); rows {odd} of the write-up's table do not use it")
    return dict(zip(numbers, names))


def describe(number: int, model: keras.Model) -> dict:
    """What a network of the table is made of: filters and kernels per convolution, dropout, the width of what the
    dense layer reads, and where the parameters sit."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    flatten = [layer for layer in model.layers if isinstance(layer, keras.layers.Flatten)]
    return {"model": number, "conv filters": "-".join(str(c.filters) for c in convs),
            "kernels": "-".join(f"{c.kernel_size[0]}x{c.kernel_size[1]}" for c in convs),
            "dropout": models.MODEL_TABLE[number].kwargs.get("dropout"),
            "features into the dense layer": int(flatten[0].output.shape[-1]) if flatten else None,
            "parameters": model.count_params(),
            "of which in the dense layers": sum(layer.count_params() for layer in dense),
            "MFLOPs per photo": models.count_flops(model) / 1e6}


def design_table(networks: Mapping[int, keras.Model]) -> pd.DataFrame:
    return pd.DataFrame([describe(number, model) for number, model in networks.items()]).set_index("model")


def design_note(design: pd.DataFrame, reference: int = 4) -> str:
    """Why deeper networks can be smaller: every pooling step shrinks what the dense layer reads."""
    ref, new = design.loc[reference], design.drop(index=reference)
    features, params = int(ref["features into the dense layer"]), int(ref["parameters"])
    fewer = new.index[new["parameters"] < ref["parameters"]].tolist()
    smallest, largest = new["parameters"].idxmin(), new["parameters"].idxmax()
    return (f"Model {reference} feeds {features:,} numbers into its dense layer, which is "
            f"why {percent(ref['of which in the dense layers'] / params, 0)} of its {params:,} "
            f"parameters sit there. Each extra pooling step divides the area of the feature maps by four, so "
            f"{len(fewer)} of the {plural(len(new), 'new network')} {'is' if len(fewer) == 1 else 'are'} *smaller* "
            f"than model {reference} although {'it is' if len(fewer) == 1 else 'they are'} deeper: model {smallest} "
            f"has {int(new.loc[smallest, 'parameters']):,} parameters "
            f"({percent(new.loc[smallest, 'parameters'] / params, 0)} of model {reference}'s), the largest, model "
            f"{largest}, {int(new.loc[largest, 'parameters']):,}. The arithmetic per photo tells another story: model "
            f"{new['MFLOPs per photo'].idxmax()} costs {new['MFLOPs per photo'].max():.0f} million operations, model "
            f"{reference} {ref['MFLOPs per photo']:.0f} million.")


def training_table(runs: Mapping[int, object]) -> pd.DataFrame:
    """One row per run: the kept epoch, validation and training accuracy there, the gap, and the cost."""
    rows = []
    for number, run in runs.items():
        record, history = run.record, run.history
        kept = history.loc[history["epoch"] == record["best_epoch"], "accuracy"]
        train = float(kept.iloc[0]) if len(kept) else float("nan")
        rows.append({"model": number, "best epoch": record["best_epoch"], "epochs run": record["epochs_run"],
                     "validation accuracy": record["best_val_accuracy"], "training accuracy (same epoch)": train,
                     "gap": train - record["best_val_accuracy"], "seconds per epoch": record["seconds_per_epoch"],
                     "training seconds": record["seconds"]})
    return pd.DataFrame(rows).set_index("model")


def test_runs(runs: Mapping[int, object], test_split, folders) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Test every run (predictions stored beside its record, for notebook 10), score where it looks and save every
    test photo's Grad-CAM overlay under ``figures/gradcam/<run>/``: a table with test accuracy and its 95 % interval,
    focus on the toy and focus ÷ chance, and each run's Grad-CAM table (for the depth insight)."""
    rows, cams = [], {}
    for number, run in runs.items():
        results = evaluation.evaluate(run, test_split)
        comparison.save_test_results(run, results, models_dir=folders.models)
        cam, maps = gradcam.gradcam_table(run, test_split, return_heatmaps=True)
        gradcam.save_overlays(cam, maps, tuple(run.record["settings"]["image_size"]),
                              folders.figures / "gradcam" / run.name)
        correct, total = int(results["df"]["correct"].sum()), len(results["df"])
        low, high = stats.wilson_interval(correct, total)
        rows.append({"model": number, "test accuracy": correct / total, "95 % interval": stats.interval_text(low, high),
                     # the same focus and ratio (of the means) as notebook 10's table: comparison.focus_table
                     "focus on the toy": cam["focus"].mean(), "focus ÷ chance": gradcam.focus_ratio(cam)})
        cams[number] = cam
    return pd.DataFrame(rows).set_index("model"), cams


def findings(table: pd.DataFrame, numbers: Sequence[int], tested: pd.DataFrame, reference: int = 4) -> list[str]:
    """The bullets that close notebook 06: the leaders (every model that ties), against model 4, cost, focus."""
    ours = table.loc[[n for n in numbers if n in table.index]]

    def leaders(column):
        best = ours.index[ours[column] == ours[column].max()].tolist()
        return ("model " if len(best) == 1 else "models ") + names(best), ours[column].max()

    (val_text, val), (test_text, test) = leaders("val_accuracy"), leaders("test_accuracy")
    writeup = models.model_table().loc[list(numbers), "writeup_test_accuracy"].dropna()
    lines = [f"- **Best by validation accuracy: {val_text}** ({percent(val)}); by test accuracy **{test_text}** "
             f"({percent(test)})." + (f" The write-up's best test result among these rows: model {writeup.idxmax()} "
                                 f"({percent(writeup.max())})." if len(writeup) else "")]
    if reference in table.index and pd.notna(table.loc[reference, "test_accuracy"]):
        ref = table.loc[reference]
        better = ours.index[ours["test_accuracy"] > ref["test_accuracy"]].tolist()
        lines.append(f"- **Against model {reference}** (same training, two convolutional layers: "
                     f"{percent(ref['test_accuracy'])} test accuracy, interval "
                     f"{interval_column(table).loc[reference]}): "
                     + (f"{'model' if len(better) == 1 else 'models'} {names(better)} "
                        f"{'scores' if len(better) == 1 else 'score'} higher on the test photos; notebook 10 tests "
                        "which differences are larger than chance." if better else
                        "none of the new architectures scores higher on the test photos."))
    slow, fast = ours["seconds_per_epoch"].idxmax(), ours["seconds_per_epoch"].idxmin()
    lines.append(f"- **Cost:** {ours['params'].min():,.0f} to {ours['params'].max():,.0f} parameters; model {slow} "
                 f"is the slowest to train ({ours.loc[slow, 'seconds_per_epoch']:.1f} s per epoch), model {fast} the "
                 f"fastest ({ours.loc[fast, 'seconds_per_epoch']:.1f} s).")
    lift = tested["focus ÷ chance"].dropna()
    if len(lift):
        most, least = lift.idxmax(), lift.idxmin()
        lines.append(f"- **Where they look:** model {most} is the most focused on the toys ({lift[most]:.1f}x "
                     f"chance, {percent(tested.loc[most, 'focus on the toy'], 0)} of its heat on the toy), model "
                     f"{least} the "
                     f"least ({lift[least]:.1f}x chance).")
    return lines


def show_findings(table: pd.DataFrame, numbers: Sequence[int], tested: pd.DataFrame) -> None:
    show("\n".join(findings(table, numbers, tested)))


__all__ = ["describe", "design_note", "design_table", "experiment_names", "findings", "show_findings",
           "test_runs", "training_table"]

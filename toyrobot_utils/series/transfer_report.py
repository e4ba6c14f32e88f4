"""What notebook 09 shows of transfer learning beyond the standard evaluation (``report``): the run's plan, how the
frozen stage trained, the fine-tuning stage against it, where the transfer model looks next to the best custom
network, size and speed for the robot, and the closing findings. Every sentence is built from the runs' records
(tested in tests/test_report.py).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from toyrobot_utils import stats
from toyrobot_utils.analysis import comparison, evaluation, gradcam, plots
from toyrobot_utils.config import shown_path
from toyrobot_utils.modelling import models, training, transfer
from toyrobot_utils.series.report import percent_table, plural, points, show
from toyrobot_utils.stats import percent


@dataclasses.dataclass
class Plan:
    """Which base, at which size, under which run name, and the "changes" line its record carries."""

    base: str
    spec: models.BaseSpec
    size: tuple[int, int]
    name: str
    changes: str

    @property
    def description(self) -> str:
        return (f"base: keras.applications.{self.spec.constructor}, input {self.size[0]} x {self.size[1]} px, "
                f"preprocessing: keras.applications.{self.spec.preprocessing}.preprocess_input; run name: {self.name}")


def plan(base: str, image_size: int | None, model_name: str, *, augment: bool, augment_copies: int) -> Plan:
    """Another base than MobileNetV2 gets its own run name (m9_<base>), so the two never overwrite each other."""
    spec = models.BASES[base]
    size = tuple(spec.image_size) if image_size is None else (int(image_size), int(image_size))
    if base != "mobilenet_v2" and model_name == "m9_mobilenet_v2":
        model_name = f"m9_{base}"
    changes = (f"Use {spec.constructor} base model (ImageNet weights, frozen; {size[0]} px)"
               + (f", augmentation ({augment_copies} cached copies)" if augment and augment_copies else
                  ", augmentation" if augment else ""))
    return Plan(base, spec, size, model_name, changes)


def parameters_sentence(model) -> str:
    counts, base = models.count_params(model), models.find_base(model)
    return (f"Of the network's **{counts['total']:,} parameters**, {counts['non_trainable']:,} "
            f"({percent(counts['non_trainable'] / counts['total'])}) are the frozen ImageNet base `{base.name}` "
            f"({len(base.layers)} layers); only **{counts['trainable']:,}** — the new head — are trained.")


def frozen_note(record: dict, training_photos: int, validation_photos: int) -> str:
    """How the frozen stage trained: on cached base features (what computing them once cost) or on the photos."""
    settings = record.get("settings") or {}
    if settings.get("training_path") != transfer.FEATURE_PATH:
        return (f"Trained on the photos: every epoch ran every photo through the base, "
                f"{record['seconds_per_epoch']:.0f} s per epoch.")
    copies = settings.get("augment_copies", 0)
    return (f"Trained on cached features: running the {training_photos} training photos"
            + (f" and {copies} augmented cop{'y' if copies == 1 else 'ies'} of each" if copies else "")
            + f" ({record.get('training_examples', training_photos)} examples) and the {validation_photos} validation "
            f"photos through the base once took {record['feature_extraction_seconds']:.0f} s; after that an epoch of "
            f"the head took {record['seconds_per_epoch']:.2f} s.")


def fine_tune_plan(base_name: str, *, blocks: int, epochs: int, patience, learning_rate: float,
                   frozen_learning_rate: float, augment_copies: int) -> str:
    return (f"Fine-tuning plan: the top {blocks} blocks of `{base_name}` unfrozen (BatchNormalization layers "
            f"excluded), at most {plural(epochs, 'epoch')}, learning rate {learning_rate:g} falling to 0 along a "
            f"cosine (frozen stage: {frozen_learning_rate:g}), early stopping after {patience} epochs without a "
            f"better validation score (accuracy, ties broken by the lower validation loss)"
            + (f", {augment_copies} augmented copies of every training photo" if augment_copies else "") + ".")


def _score(predictions: pd.DataFrame) -> str:
    return stats.accuracy_text(int(predictions["correct"].sum()), len(predictions))


def _stage_row(stage: str, record: dict, predictions: pd.DataFrame) -> dict:
    right, total = int(predictions["correct"].sum()), len(predictions)
    low, high = stats.wilson_interval(right, total)
    return {"stage": stage, "trainable_params": record["params_trainable"], "epochs_run": record["epochs_run"],
            "best_epoch": record["best_epoch"], "val_accuracy": record["best_val_accuracy"],
            "test_accuracy": right / total, "test 95 % interval": stats.interval_text(low, high),
            "seconds_per_epoch": record["seconds_per_epoch"]}


def stage_table(rows: list[dict]) -> pd.DataFrame:
    """``_stage_row``s as the notebook shows them: accuracies as percentages (made from the unrounded fractions),
    seconds per epoch to two decimals."""
    stages = pd.DataFrame(rows).set_index("stage")
    return percent_table(stages, ["val_accuracy", "test_accuracy"]).round({"seconds_per_epoch": 2})


def show_fine_tuning(tuning, frozen_results: dict, test_split, folders) -> dict | None:
    """The fine-tuned stage next to the frozen one (curves, a table, per-class accuracy) and which one is the
    transfer model, chosen on validation photos only. Returns the fine-tuned test results, or None if skipped."""
    if tuning is None:
        show("fine_tune_epochs = 0: the fine-tuning stage is skipped.")
        return None
    if tuning.run is None:
        show(f"Fine-tuning {tuning.reason}; the frozen model stays model 9.")
        return None
    frozen, tuned = tuning.frozen.record, tuning.run.record
    show(f"Unfrozen: {len(tuning.unfrozen)} layers with weights, from {tuning.unfrozen[0]} to {tuning.unfrozen[-1]}.",
         plots.training_curves(tuning.run, figures_dir=folders.figures))
    results = evaluation.evaluate(tuning.run, test_split)
    comparison.save_test_results(tuning.run, results, models_dir=folders.models)
    stages = stage_table([_stage_row("frozen base", frozen, frozen_results["df"]),
                          _stage_row("top blocks fine-tuned", tuned, results["df"])])
    per_class = pd.concat({"frozen": frozen_results["per_class"]["accuracy"],
                           "fine-tuned": results["per_class"]["accuracy"]}, axis=1)
    show(stages,
         percent_table(per_class, ["frozen", "fine-tuned"]), decision_sentence(tuning))
    return results


def decision_sentence(tuning) -> str:
    """Which stage is the transfer model, and why, stated once in the notebook (beside the two stages' table; the
    findings only point back to it): the choice made on validation photos (``transfer.keep_fine_tuned``)."""
    frozen, tuned = tuning.frozen.record, tuning.run.record
    return (f"**{tuning.reason[:1].upper()}{tuning.reason[1:]}** (chosen on the validation photos, never on the test "
            f"photos). Fine-tuning cost {tuned['seconds_per_epoch']:.1f} s per epoch against the frozen stage's "
            f"{frozen['seconds_per_epoch']:.1f} s.")


def show_focus_comparison(custom_name: str | None, transfer_name: str, test_split, folders, n_figure: int) -> None:
    """The same test photos through the best custom network and the transfer model: Grad-CAM overlays, accuracy and
    focus per class, and which of the two looks at the toys more."""
    if custom_name is None:
        show(f"No custom network (models 1-8) is trained in `{shown_path(folders.models)}` yet: run notebooks 02-08 "
             "first.")
        return
    order = (pd.DataFrame({"path": test_split.files, "label": test_split.labels})  # one class after another
             .assign(k=lambda d: d.groupby("label").cumcount()).sort_values(["k", "label"], kind="stable"))
    custom, ours = f"{custom_name} (custom)", f"{transfer_name} (transfer)"
    side, figure = plots.gradcam_side_by_side(
        {custom: custom_name, ours: transfer_name}, files=list(order["path"]), labels=list(order["label"]),
        class_names=test_split.class_names, n_figure=n_figure, models_dir=folders.models,
        figures_dir=folders.figures, name=f"{transfer_name}_vs_custom_gradcam")
    per_class = pd.concat({model: pd.DataFrame({
        "accuracy": part.groupby("actual_label")["correct"].mean().map(percent),
        "focus ÷ chance": gradcam.focus_by(part, "actual_label")["focus_ratio"].map(
            lambda v: "–" if pd.isna(v) else f"{v:.1f}x")}) for model, part in side.groupby("model")}, axis=1)
    show(figure, per_class)
    means = side.groupby("model")[["correct", "focus"]].mean().assign(
        focus_lift=lambda m: [gradcam.focus_ratio(side[side["model"] == model]) for model in m.index])
    if means["focus"].notna().all():
        t, c = means.loc[ours], means.loc[custom]
        show(f"On the {len(order)} test photos the transfer model puts **{percent(t['focus'], 0)} of its heat on the "
             f"toy** ({t['focus_lift']:.1f}x chance), the best custom network ({custom_name}) "
             f"{percent(c['focus'], 0)} ({c['focus_lift']:.1f}x chance). "
             + ("MobileNetV2 looks at the toys more than our network does." if t["focus_lift"] > c["focus_lift"] else
                "MobileNetV2 is not more focused on the toys than our network: its accuracy comes from better "
                "features, not from looking elsewhere. Its 7 x 7 Grad-CAM grid also blurs the heat over the toy's "
                "edges, which lowers its score."))


def show_robot_costs(runs: dict, models_dir, latency_runs: int) -> pd.DataFrame:
    """File size and CPU latency per photo (batch 1, the robot's case) of each run, stored in the records of the
    runs marked True in ``runs`` ({label: (run, record?)})."""
    measured = {label: transfer.size_and_speed(run, models_dir, runs=latency_runs, record=keep)
                for label, (run, keep) in runs.items() if run is not None}
    table = pd.DataFrame(measured).T[["file_mb", "latency_ms_per_image", "latency_ms_p90"]].astype(float).round(2)
    first = next(iter(measured.values()))
    show(table, f"The model file is **{first['file_mb']:.1f} MB** and one photo takes "
                f"**{first['latency_ms_per_image']:.0f} ms** on this machine's CPU (90 % of calls within "
                f"{first['latency_ms_p90']:.0f} ms): about {1000 / first['latency_ms_per_image']:.0f} photos per "
                "second. "
                "Latency depends on what else the machine is doing: notebook 10 times every model again, one after "
                "the other, so that they compare fairly.")
    return table


def findings(run, tuning, ft_results: dict | None, test_results: dict, custom_name: str | None, models_dir,
             costs: pd.DataFrame) -> str:
    """The bullets that close notebook 09."""
    record, writeup = run.record, models.MODEL_TABLE[9]
    right, total = int(test_results["df"]["correct"].sum()), len(test_results["df"])
    counts = models.count_params(run.model)
    lines = [f"- **Frozen base:** test accuracy {stats.accuracy_text(right, total)} after "
             f"{plural(record['epochs_run'], 'epoch')} of the head (the write-up's MobileNetV2: "
             f"{percent(writeup.writeup_test_accuracy)} test, {percent(writeup.writeup_validation_accuracy)} "
             f"validation); validation accuracy {percent(record['best_val_accuracy'])}."]
    if ft_results is not None:
        lines.append(f"- **Fine-tuning:** test accuracy {_score(ft_results['df'])}, validation accuracy "
                     f"{percent(tuning.run.record['best_val_accuracy'])}; the "
                     f"{'fine-tuned' if tuning.kept else 'frozen'} model is model 9 (why: above).")
    elif tuning is not None:
        lines.append(f"- **Fine-tuning** {tuning.reason}.")
    if custom_name is not None:
        custom_record = training.load_record(custom_name, models_dir)
        custom = custom_record.get("test_accuracy")
        if custom is not None:
            lines.append(f"- **Best custom network** ({custom_name}, chosen on validation: "
                         f"{percent(custom_record.get('best_val_accuracy'))}): test accuracy {percent(custom)}, "
                         f"{points(right / total - custom)} for transfer learning (notebook 10 tests "
                         "whether that difference is larger than chance).")
    extraction = record.get("feature_extraction_seconds")
    lines.append(f"- **Trained parameters:** {counts['trainable']:,} of {counts['total']:,}; training took "
                 f"{record['seconds']:.0f} s" + (f" plus {extraction:.0f} s to compute the base's features once"
                                                 if extraction else "") + ".")
    first = costs.iloc[0]
    lines.append(f"- **On the robot:** {first['file_mb']:.1f} MB, {first['latency_ms_per_image']:.0f} ms per photo on "
                 "the CPU.")
    return "\n".join(lines)


__all__ = ["Plan", "decision_sentence", "findings", "fine_tune_plan", "frozen_note", "parameters_sentence", "plan",
           "show_focus_comparison", "show_fine_tuning", "show_robot_costs"]

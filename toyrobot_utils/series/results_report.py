"""What notebook 10 shows of the whole series: which runs are there, their latencies timed side by side, one table of
all models with intervals, which differences are real, what each model looks at (every test photo's overlay saved,
the depth insight of the runs no other notebook evaluates), and the closing findings. Every
sentence is built here from the runs' records and predictions (tested in tests/test_report.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from toyrobot_utils import stats
from toyrobot_utils.analysis import comparison, evaluation, gradcam
from toyrobot_utils.images import load_mask
from toyrobot_utils.modelling import models, training, transfer
from toyrobot_utils.series.report import interval_column, names, show, show_depth_insight

# Which notebook trains which run, for the "not trained yet" note.
TRAINED_BY = {**{models.MODEL_TABLE[n].name: f"notebook {nb}" for nb, numbers in
                 {"02": [1], "03": [2], "04": [3], "05": [4], "06": [5, 6, 7, 8], "09": [9]}.items() for n in numbers},
              "tuned": "notebook 08 (after 07's search)", "writeup_tuned": "notebook 08",
              "m9_mobilenet_v2_finetune": "notebook 09"}


def runs_note(table: pd.DataFrame, models_dir: str) -> str:
    """How many runs are compared, which are missing (and which notebook trains them), which were left out because
    they were trained on other photos."""
    missing = table.attrs.get("missing", [])
    text = (f"**{len(table)} runs found; not in the tables below:** "
            + "; ".join(f"`{name}` ({TRAINED_BY.get(name, 'its notebook')})" for name in missing)
            + f" — no metrics record in `{models_dir}` yet. Run those notebooks (or `make run`) and rerun this one."
            if missing else f"**All {len(table)} runs of the series are here.**")
    other = table.attrs.get("other_photos") or {}
    if other:
        text += ("\n\n**Trained on other photos, so left out:** " + "; ".join(other.values())
                 + ". Rerun their notebooks on this data folder to bring them in.")
    return text


def time_all(table: pd.DataFrame, models_dir, runs: int) -> pd.DataFrame:
    """Time every model here, one after the other, so their latencies compare fairly; beside each, the figure its
    own notebook measured where it timed one (09, right after training, under other load; "–" where none), so a
    difference between the two is shown rather than hidden."""
    before = table["latency_ms"].copy()
    for name in table["name"]:
        transfer.size_and_speed(name, models_dir, runs=runs)
    after = [training.load_record(name, models_dir).get("latency_ms_per_image") for name in table["name"]]
    timed = pd.DataFrame({"name": table["name"], "file MB": table["file_mb"], "ms per photo (here)": after,
                          "ms per photo (its notebook)": before}, index=table.index).round(2)
    return timed.astype({"ms per photo (its notebook)": object}).fillna("–")


def overview(table: pd.DataFrame):
    """The one table of all models: ours beside the write-up's, test accuracy with its 95 % interval, per class,
    and the costs; styled for reading (percentages, thousands)."""
    classes = [c for c in table.columns if c.startswith("test: ")]
    view = table.assign(interval=interval_column(table))[
        ["changes", "val_accuracy", "writeup_val_accuracy", "test_accuracy", "interval", "writeup_test_accuracy",
         *classes, "params", "file_mb", "train_seconds", "latency_ms"]].rename(columns={
            "val_accuracy": "validation", "writeup_val_accuracy": "write-up validation", "test_accuracy": "test",
            "interval": "test 95 % interval", "writeup_test_accuracy": "write-up test", "params": "parameters",
            "file_mb": "file MB", "train_seconds": "training s", "latency_ms": "ms per photo"})
    percent = ["validation", "write-up validation", "test", "write-up test", *classes]
    return view.style.format({**{c: "{:.1%}" for c in percent}, "parameters": "{:,.0f}", "file MB": "{:.1f}",
                              "training s": "{:.0f}", "ms per photo": "{:.1f}"}, na_rep="–")


def steps_note(steps: pd.DataFrame, photos: int) -> str:
    real = steps[steps["verdict"] == "real"]
    listed = "; ".join(f"{a} → {b} ({pa:.1%} → {pb:.1%}, p = {p:.3f})" for a, b, pa, pb, p in
                       real[["model A", "model B", "accuracy A", "accuracy B", "p-value"]].itertuples(index=False))
    return (f"On these {photos} test photos, **{len(real)} of the {len(steps)} steps** changed accuracy by more than "
            f"chance: {listed or 'none'}. The other differences between neighbouring rows of the table are within the "
            "noise of this test set.")


def one_photo_per_class(predictions: pd.DataFrame, seed: int, n: int) -> list[str]:
    """One test photo per class (with a toy outline where there is one), drawn with the notebook's seed."""
    rng = np.random.default_rng(seed)
    photos = []
    for _, group in predictions.groupby("actual_label"):
        outlined = [p for p in group["path"] if load_mask(p) is not None] or list(group["path"])
        photos.append(outlined[rng.integers(len(outlined))])
    return photos[:n]


def focus_table(table: pd.DataFrame, models_dir, data_dir, overlays_dir=None) -> tuple[pd.DataFrame, dict]:
    """Grad-CAM of every test photo through every model: the object-focus summary (with each model's Grad-CAM grid,
    which sets how sharp its heat-map can be) and the per-photo tables. With ``overlays_dir``, every model's overlays
    of every test photo are saved under ``overlays_dir/<run>/``, so each run has them whichever notebook trained it."""
    cams, grids = {}, {}
    for label, row in table.iterrows():
        resolved = evaluation.resolve_model(row["name"], models_dir=models_dir)
        grids[label] = "{} x {}".format(*gradcam.heatmap_grid(resolved.model))
        cams[label], maps = gradcam.gradcam_table(
            resolved.model, "test", image_size=resolved.image_size, preprocessing=resolved.preprocessing,
            class_names=resolved.class_names, data_dir=data_dir, return_heatmaps=True)
        if overlays_dir is not None:
            gradcam.save_overlays(cams[label], maps, resolved.image_size, Path(overlays_dir) / row["name"])
    focus = comparison.focus_summary(cams)
    if not focus.empty:
        focus.insert(0, "Grad-CAM grid", pd.Series(grids))
    return focus, cams


# The runs whose own notebook trains them but does not show their full evaluation: 08's reference (the write-up's
# tuned network, trained beside ours) and 09's fine-tuned stage (09 shows its accuracy against the frozen one).
EVALUATED_ONLY_HERE = ("writeup_tuned", "m9_mobilenet_v2_finetune")


def show_depth_insights(table: pd.DataFrame, cams: dict, folders, names=EVALUATED_ONLY_HERE) -> list[str]:
    """The depth insight (``report.show_depth_insight``) of the runs ``names`` that are in ``table``, from the
    Grad-CAM tables ``focus_table`` made: every model of the series gets one, in its notebook or here. Returns the
    labels shown."""
    shown = [label for label, row in table.iterrows() if row["name"] in names and label in cams]
    for label in shown:
        run = evaluation.resolve_model(table.loc[label, "name"], models_dir=folders.models)
        show_depth_insight(run, cams[label], folders.figures, name=table.loc[label, "name"])
    if not shown:
        show("Every model here had its depth insight in the notebook that trained it.")
    return shown


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Runs with a test accuracy, best first, chosen on validation only (``stats.rank_on_validation``: validation
    accuracy, then validation loss, then fewer parameters) — the same order everywhere (``comparison.best_custom_cnn``
    and the robot rank the same way). The test accuracy is reported beside each, never used to rank: choosing on the
    test photos would make the reported figure optimistic."""
    scored = table[table["test_accuracy"].notna()]
    return stats.rank_on_validation(scored)


def ranking_note() -> str:
    """The sentence notebook 10 prints under its rankings: how they were made."""
    return (f"How the rankings here are made: {stats.RANKING_RULE}. The test photos only measure how good the chosen "
            "model is; the story table keeps the order of the notebooks.")


def findings(table: pd.DataFrame, focus: pd.DataFrame, swap: pd.DataFrame | None) -> str:
    """The bullets that close notebook 10."""
    scored, lines = ranked(table), []
    if scored.empty:
        return "No finished runs yet: run the notebooks 02-09 first (`make run`)."
    best = scored.index[0]
    ties = scored.index[scored["val_accuracy"] == scored.loc[best, "val_accuracy"]].tolist()
    lines.append(f"- **Best on the validation photos: {best}** ({scored.loc[best, 'changes']}), "
                 f"{scored.loc[best, 'val_accuracy']:.1%} validation accuracy"
                 + (f" (tied with {names(ties[1:])}, ahead on validation loss or cost)" if len(ties) > 1 else "")
                 + f"; on the test photos {scored.loc[best, 'test_accuracy']:.1%} (95 % interval "
                 f"{interval_column(scored).loc[best]}), {scored.loc[best, 'latency_ms']:.0f} ms per photo, "
                 f"{scored.loc[best, 'file_mb']:.1f} MB.")
    from_scratch = [str(n) for n in range(1, 9)] + [comparison.EXTRA_LABELS[n] for n in ("writeup_tuned", "tuned")]
    custom = scored[[str(i) in from_scratch for i in scored.index]]
    if len(custom):
        lines.append(f"- **Best network trained from scratch (on validation): {custom.index[0]}**, "
                     f"{custom['val_accuracy'].iloc[0]:.1%} validation, {custom['test_accuracy'].iloc[0]:.1%} test"
                     + (f" (the baseline, model 1: {scored.loc['1', 'test_accuracy']:.1%} test)."
                        if "1" in scored.index else "."))
    failed = [label for label in table.index if "did not learn" in str(table.loc[label].get("learning", ""))]
    if failed:
        lines.append(f"- **Did not learn:** {names([str(label) for label in failed])} — training and validation "
                     "accuracy stayed near chance, so the test accuracy of each, and the steps to and from it above, "
                     "measure a failed training, not the change that step makes.")
    ref = scored[scored["writeup_test_accuracy"].notna()]
    if len(ref):
        diff = ref["test_accuracy"] - ref["writeup_test_accuracy"]
        lines.append(f"- **Against the write-up** (rows it reports): ours within 5 points on "
                     f"{int((diff.abs() <= 0.05).sum())} of {len(ref)} models, higher on {int((diff > 0.05).sum())}, "
                     f"lower on {int((diff < -0.05).sum())}. The photos differ, so the ranking is what carries over.")
    if not focus.empty:
        toy = focus.index[focus["verdict"] == "looks at the toy"].tolist()
        floor = focus.index[focus["verdict"] == "mostly at the surroundings"].tolist()
        lines.append(f"- **Where they look:** at the toy — {', '.join(toy) or 'none'}; mostly at the surroundings — "
                     f"{', '.join(floor) or 'none'}. Highest focus ÷ chance: {focus['focus_lift'].idxmax()} "
                     f"({focus['focus_lift'].max():.1f}x), lowest: {focus['focus_lift'].idxmin()} "
                     f"({focus['focus_lift'].min():.1f}x).")
    if swap is not None and len(swap):
        most, least = swap["flipped"].idxmax(), swap["flipped"].idxmin()
        lines.append(f"- **Background swap:** the background decides most often for {most} "
                     f"({swap.loc[most, 'flipped']:.0%} of its answers change on another floor), least for {least} "
                     f"({swap.loc[least, 'flipped']:.0%}).")
    if table.attrs.get("missing"):
        lines.append(f"- **Missing** from this comparison: {', '.join(table.attrs['missing'])}.")
    lines.append(f"- {ranking_note()}")
    return "\n".join(lines)


__all__ = ["EVALUATED_ONLY_HERE", "TRAINED_BY", "findings", "focus_table", "one_photo_per_class", "overview", "ranked",
           "ranking_note", "runs_note", "show_depth_insights", "steps_note", "time_all"]

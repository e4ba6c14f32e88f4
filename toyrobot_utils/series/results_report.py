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
from toyrobot_utils.config import shown_path
from toyrobot_utils.images import load_mask
from toyrobot_utils.modelling import models, training, transfer
from toyrobot_utils.series.report import interval_column, names, plural, show, show_depth_insight
from toyrobot_utils.stats import percent

# Which notebook trains which run, for the "not trained yet" note.
TRAINED_BY = {**{models.MODEL_TABLE[n].name: f"notebook {nb}" for nb, numbers in
                 {"02": [1], "03": [2], "04": [3], "05": [4], "06": [5, 6, 7, 8], "09": [9]}.items() for n in numbers},
              "tuned": "notebook 08 (after 07's search)", "writeup_tuned": "notebook 08",
              "m9_mobilenet_v2_finetune": "notebook 09"}


def runs_note(table: pd.DataFrame, models_dir: str) -> str:
    """How many runs are compared, which are missing (and which notebook trains them), which were left out because
    they were trained on other photos."""
    missing = table.attrs.get("missing", [])
    found = f"{plural(len(table), 'run')} {'is' if len(table) == 1 else 'are'} compared here"
    text = (f"**{found}; not yet trained, so in none of the tables below:** "
            + "; ".join(f"`{name}` ({TRAINED_BY.get(name, 'its notebook')})" for name in missing)
            + f" (no metrics record in `{shown_path(models_dir)}`). Run those notebooks (or `make run`) and rerun "
            "this one." if missing else f"**Every run of the series is here ({len(table)}).**")
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
    shares = ["validation", "write-up validation", "test", "write-up test", *classes]
    return view.style.format({**{c: percent for c in shares}, "parameters": "{:,.0f}", "file MB": "{:.1f}",
                              "training s": "{:.0f}", "ms per photo": "{:.1f}"}, na_rep="–")


def steps_note(steps: pd.DataFrame, photos: int) -> str:
    real = steps[steps["verdict"] == "real"]
    listed = "; ".join(f"{a} → {b} ({percent(pa)} → {percent(pb)}, p = {p:.3f})" for a, b, pa, pb, p in
                       real[["model A", "model B", "accuracy A", "accuracy B", "p-value"]].itertuples(index=False))
    return (f"On these {photos} test photos, **{len(real)} of the {plural(len(steps), 'step')}** changed accuracy by "
            f"more than chance: {listed or 'none'}. The other differences between neighbouring rows of the table are "
            "within the noise of this test set.")


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
    """What closes notebook 10: a short table of the models that stand out (best on validation, best trained from
    scratch, the baseline, the most and least focused, the most and least swayed by the floor) and a few sentences
    for what a table cannot say. The focus and swap tables above name every model; this names only the extremes."""
    scored = ranked(table)
    if scored.empty:
        return "No finished runs yet: run the notebooks 02-09 first (`make run`)."
    intervals = interval_column(scored)

    def scores(label):
        return (f"validation {percent(scored.loc[label, 'val_accuracy'])}, test "
                f"{percent(scored.loc[label, 'test_accuracy'])} ({intervals.loc[label]})")

    best = scored.index[0]
    ties = scored.index[scored["val_accuracy"] == scored.loc[best, "val_accuracy"]].tolist()
    rows = [("best on the validation photos", best, scores(best) + (
        f"; tied on validation with {names(ties[1:])}, ahead on validation loss or cost" if len(ties) > 1 else "")
        + f"; {scored.loc[best, 'latency_ms']:.0f} ms per photo, {scored.loc[best, 'file_mb']:.1f} MB")]
    from_scratch = [str(n) for n in range(1, 9)] + [comparison.EXTRA_LABELS[n] for n in ("writeup_tuned", "tuned")]
    custom = scored[[str(i) in from_scratch for i in scored.index]]
    if len(custom) and custom.index[0] != best:
        rows.append(("best trained from scratch (on validation)", custom.index[0], scores(custom.index[0])))
    if "1" in scored.index and best != "1":
        rows.append(("the baseline", "1", scores("1")))
    if not focus.empty:
        rows += [("most focused on the toy", focus["focus_lift"].idxmax(), f"{focus['focus_lift'].max():.1f}x chance"),
                 ("least focused on the toy", focus["focus_lift"].idxmin(), f"{focus['focus_lift'].min():.1f}x chance")]
    if swap is not None and len(swap):
        rows += [("most swayed by the floor", swap["flipped"].idxmax(),
                  f"{percent(swap['flipped'].max(), 0)} of its answers change on another floor"),
                 ("least swayed by the floor", swap["flipped"].idxmin(),
                  f"{percent(swap['flipped'].min(), 0)} of its answers change")]
    lines = ["| | model | |", "|---|---|---|", *(f"| {what} | {label} | {figure} |" for what, label, figure in rows),
             ""]
    failed = [label for label in table.index if "did not learn" in str(table.loc[label].get("learning", ""))]
    if failed:
        lines.append(f"**Did not learn:** {names([str(label) for label in failed])} — training and validation "
                     "accuracy stayed near chance, so the test accuracy of each, and the steps to and from it above, "
                     "measure a failed training, not the change that step makes.")
    ref = scored[scored["writeup_test_accuracy"].notna()]
    if len(ref):
        diff = ref["test_accuracy"] - ref["writeup_test_accuracy"]
        lines.append(f"Against the write-up (the {plural(len(ref), 'model')} it reports a test accuracy for), ours "
                     f"{'is' if len(ref) == 1 else 'are'} within 5 points on {int((diff.abs() <= 0.05).sum())}, "
                     f"higher on {int((diff > 0.05).sum())} and lower on {int((diff < -0.05).sum())}: the photos "
                     "differ, so the ranking is what carries over.")
    if not focus.empty:
        verdicts = focus["verdict"].value_counts()
        lines.append(f"Where they look (the focus table above): {verdicts.get('looks at the toy', 0)} of "
                     f"{plural(len(focus), 'model')} look at the toy (at least {gradcam.FOCUS_ON_TOY:g}x chance), "
                     f"{verdicts.get('partly at the toy', 0)} partly, {verdicts.get('mostly at the surroundings', 0)} "
                     f"mostly at what surrounds it (under {gradcam.FOCUS_ON_SURROUNDINGS:g}x).")
    if table.attrs.get("missing"):
        lines.append(f"Missing from this comparison: {', '.join(table.attrs['missing'])}.")
    lines.append(ranking_note())
    return "\n".join(lines)


__all__ = ["EVALUATED_ONLY_HERE", "TRAINED_BY", "findings", "focus_table", "one_photo_per_class", "overview", "ranked",
           "ranking_note", "runs_note", "show_depth_insights", "steps_note", "time_all"]

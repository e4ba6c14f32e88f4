"""The standard report of a training notebook, in two calls: ``show_training`` (the curves and what they say) and
``show_evaluation`` (the kept model on the test photos: accuracy with its 95 % interval, confusion matrix, per-class
accuracy, the most confident mistakes, the layer Grad-CAM reads, Grad-CAM panels, the depth insight and the focus on
the toy). Notebooks 02-05, 08 and 09 call them and keep only what is particular to their step.

Every sentence is built by a small function here from the run's own record, history and predictions (tested in
tests/test_report.py), so each number a notebook states is an output of the run it shows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from toyrobot_utils import lineage, stats
from toyrobot_utils.analysis import bias, comparison, evaluation, gradcam, plots
from toyrobot_utils.config import shown_path
from toyrobot_utils.modelling import models, training
from toyrobot_utils.modelling.stopping import LAST_EPOCH, NEAR_CHANCE, learning_state
from toyrobot_utils.stats import percent


def show(*objects) -> None:
    """Display in a notebook (strings as Markdown); print elsewhere (tests, scripts)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        get_ipython = None
    for obj in objects:
        if get_ipython is not None and get_ipython() is not None:
            display(Markdown(obj) if isinstance(obj, str) else obj)
        else:
            print(obj)


def plural(count: int, word: str) -> str:
    """'1 epoch', '3 epochs'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def times(count: int) -> str:
    """'once', 'twice', '3 times': how often something happened, as a sentence says it."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def points(gap: float | None) -> str:
    """'+28.7 points': a difference of two accuracies, in percentage points."""
    return "–" if gap is None or pd.isna(gap) else f"{gap * 100:+.1f} points"


def percent_table(table: pd.DataFrame, columns, digits: int = 1, points=()) -> pd.DataFrame:
    """``table`` with ``columns`` (those present) written as '73.3 %': how the series shows a share in a table, as in
    its sentences; raw floats (0.733333) read as something else. ``points``: differences of two shares (the
    train-validation gap) written as '-10.8 points', as the sentences say them."""
    shown = {c: table[c].map(lambda v: percent(v, digits)) for c in columns if c in table}
    shown.update({c: table[c].map(lambda v: "–" if pd.isna(v) else f"{float(v) * 100:+.{digits}f} points")
                  for c in points if c in table})
    return table.assign(**shown)


def dashes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its missing values written '–' (a model with no wrong answer has no focus on wrong answers),
    as the sentences say it, instead of NaN."""
    return table.astype(object).where(table.notna(), "–")


def names(labels) -> str:
    labels = [str(label) for label in labels]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


# --------------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------------


def training_summary(record: dict, history: pd.DataFrame, model_file=None) -> str:
    """Best epoch, its validation and training accuracy and their gap (``comparison.train_val_gap``, defined here
    once for the notebook), why training stopped, its cost, and the file that holds it (``model_file``: where the
    run saved it, named relative to the project, so a quick tour's says ``build/quick/models/...``)."""
    best = history.loc[history["epoch"] == record["best_epoch"]].iloc[0]
    shown = shown_path(model_file) if model_file is not None else record.get("model_file", f"{record['name']}.keras")
    run, planned = record["epochs_run"], record.get("epochs_requested")
    if record.get("stopped_early_at"):
        stop = (f"Training stopped after epoch {run} of at most {planned}: validation accuracy had not improved for "
                f"{record['patience']} epochs and the training curves were no longer rising (early stopping).")
    else:
        stop = f"Training ran all {plural(run, 'epoch')}."
    if record.get("keep") == LAST_EPOCH:  # a validation split too small to choose on (stopping.keep_rule)
        kept = (f"The validation photos were too few to choose an epoch on, so training ran its whole budget and "
                f"kept **the last epoch, {record['best_epoch']} of {run}**")
        stop = ""
    else:
        kept = f"The best epoch by validation accuracy was **epoch {record['best_epoch']} of {run}**"
    return (f"{kept}: validation accuracy "
            f"**{percent(record['best_val_accuracy'])}**, training accuracy {percent(best['accuracy'])} in the same "
            f"epoch: a **train–validation gap of {points(comparison.train_val_gap(record, history))}** (the series' "
            f"measure of over-fitting, in every table: {comparison.GAP_MEANING}). {stop + ' ' if stop else ''}It took "
            f"{record['seconds']:.0f} s ({record['seconds_per_epoch']:.1f} s per epoch) on this machine; the best "
            f"epoch's weights are what `{shown}` holds." + learning_sentences(record, history))


def learning_sentences(record: dict, history: pd.DataFrame) -> str:
    """What the curves say about learning (``stopping.learning_state``), as sentences to add to the summary: did not
    learn, under-fitting, still learning when stopped; empty when none holds."""
    state = learning_state(history, len(record.get("class_names") or []) or 1, patience=record.get("patience"))
    chance = f"chance with {round(1 / state['chance'])} classes: {percent(state['chance'])}"
    if state["did_not_learn"]:
        return (f" **This network did not learn:** its best training accuracy ({percent(state['train_max'])}) and "
                f"validation accuracy ({percent(state['val_max'])}) stay within {NEAR_CHANCE * 100:.0f} points of "
                f"chance ({chance}), so its test accuracy measures a failed training, not the change this step makes.")
    text = ""
    if state["under_fitting"]:
        text += (f" **Under-fitting:** training accuracy never passed {percent(state['train_max'])}, not halfway from "
                 f"chance ({chance}) to 100 %: the network does not fit even its own training photos.")
    if state["still_learning"]:
        text += (f" **Still learning when training ended:** over the last {plural(state['window'], 'epoch')} "
                 f"training accuracy changed by {state['gain'] * 100:+.1f} points and the training loss by "
                 f"{-state['loss_drop'] * 100:+.1f} % (least-squares lines), and training accuracy is not running "
                 "ahead of validation; more epochs would likely help.")
    return text


def augmentation_note(record: dict, history: pd.DataFrame, models_dir) -> str | None:
    """For the step that adds augmentation (a model of the write-up's table whose predecessor did not augment): how
    validation accuracy changed against that predecessor's run in ``models_dir`` (same photos only) and, when it
    fell, why, read off the two runs' own curves: how much of its training photos each got right at its best epoch,
    and this run's learning state (``learning_state``). None when there is no such pair."""
    number = (record.get("settings") or {}).get("model_number")
    before_spec = models.MODEL_TABLE.get(number - 1) if isinstance(number, int) else None
    if before_spec is None or before_spec.augment or not models.MODEL_TABLE[number].augment:
        return None
    try:
        before = training.load_record(before_spec.name, models_dir)
        before_history = training.load_history(before_spec.name, models_dir)
    except FileNotFoundError:
        return None
    photos = [lineage.photos_key((r.get("lineage") or {}).get("photos")) for r in (record, before)]
    if photos[0] != photos[1] or photos[0] == lineage.UNKNOWN:
        return None
    now, then = record["best_val_accuracy"], before["best_val_accuracy"]
    text = (f"**Against model {number - 1} (no augmentation, same photos):** best validation accuracy "
            f"{percent(then)} → {percent(now)}.")
    if now >= then:
        return text + " Augmentation did not cost accuracy here."
    train_then = before_history.loc[before_history["epoch"] == before["best_epoch"], "accuracy"].iloc[0]
    train_now = history.loc[history["epoch"] == record["best_epoch"], "accuracy"].iloc[0]
    state = learning_state(history, len(record.get("class_names") or []) or 1, patience=record.get("patience"))
    text += (f" Its own curves say why: at its best epoch this network got {percent(train_now)} of its training photos "
             f"right, against {percent(train_then)} for model {number - 1} at its best epoch (epoch "
             f"{record['best_epoch']} against {before['best_epoch']}). Every epoch shows it a new turned, shifted, "
             "zoomed or re-lit version of each photo, so it learns much more slowly, and the write-up's dropout on "
             "the output slows it further")
    if state["did_not_learn"]:
        return text + ": here it did not learn at all within its epochs."
    if state["still_learning"]:
        return text + ": it was still learning when training ended, so more epochs would narrow the gap."
    if state["under_fitting"]:
        return text + ": it under-fits — it does not fit even its training photos — so it cannot yet beat a network " \
                      "that fits them."
    return text + ": it had stopped improving, so on these photos augmentation costs accuracy rather than time."


def learning_rate_note(record: dict, history: pd.DataFrame) -> str | None:
    """When the learning-rate reducer cut the rate, and whether the kept epoch ever trained at a reduced rate."""
    if "learning_rate" not in history or history["learning_rate"].nunique() <= 1 and not record.get("lr_reducer"):
        return None
    rates = history[["epoch", "learning_rate"]].reset_index(drop=True)
    cut_epochs = rates.loc[rates["learning_rate"].diff() < 0, "epoch"].astype(int).tolist()
    start, end = rates["learning_rate"].iloc[0], rates["learning_rate"].iloc[-1]
    if not cut_epochs:
        return (f"The learning rate stayed at {start:g} in all {plural(len(rates), 'epoch')}: the validation loss "
                "never stalled long enough for the reducer to cut it, so this run trained exactly as it would have "
                "without it.")
    text = (f"The learning rate started at {start:g} and was cut {times(len(cut_epochs))}, "
            + (f"first for epoch {cut_epochs[0]}" if len(cut_epochs) > 1 else f"for epoch {cut_epochs[0]}")
            + f", ending at {end:g}.")
    if record["best_epoch"] < cut_epochs[0]:
        text += (f" The kept epoch ({record['best_epoch']}) came **before the {'first ' if len(cut_epochs) > 1 else ''}"
                 "cut**: the saved network never "
                 "trained at a reduced rate, so it is the network a run without the reducer would have kept, epoch "
                 "for epoch (same seed, same photos).")
    else:
        kept = rates.loc[rates["epoch"] == record["best_epoch"], "learning_rate"].iloc[0]
        text += f" The kept epoch ({record['best_epoch']}) trained at {kept:g}."
    return text


def show_training(run, figures_dir=None) -> None:
    """The training curves (loss and accuracy, best epoch marked), the learning-rate schedule when it changed, and
    the sentences that read them."""
    show(plots.training_curves(run, figures_dir=figures_dir))
    if "learning_rate" in run.history and run.history["learning_rate"].nunique() > 1:
        show(plots.learning_rate_curve(run, figures_dir=figures_dir))
    show(training_summary(run.record, run.history, (getattr(run, "paths", None) or {}).get("model")))
    note = augmentation_note(run.record, run.history, Path(run.paths["record"]).parent) \
        if getattr(run, "paths", None) else None
    if note:
        show(note)
    note = learning_rate_note(run.record, run.history)
    if note:
        show(note)


# --------------------------------------------------------------------------------------------------------------------
# Evaluation sentences
# --------------------------------------------------------------------------------------------------------------------


def accuracy_sentence(predictions: pd.DataFrame, writeup: float | None = None) -> str:
    """'**Test accuracy 73.3 %** (95 % interval 62.4–82.0 %; 55 of 75 photos)', with the write-up's figure."""
    figure, detail = stats.accuracy_parts(int(predictions["correct"].sum()), len(predictions))
    text = f"**Test accuracy {figure}** ({detail})"
    if writeup is not None:
        text += f"; the write-up reported {percent(writeup)} on its own photos"
    return text + "."


def class_extremes(per_class: pd.DataFrame) -> str:
    """Best and worst classes by accuracy, naming every class that ties."""
    acc = per_class["accuracy"].dropna()
    if acc.empty:
        return "no class has test photos"
    best, worst = acc[acc == acc.max()].index, acc[acc == acc.min()].index
    if acc.max() == acc.min():
        return f"every class scores the same ({percent(acc.max())})"
    return f"best on {names(best)} ({percent(acc.max())}), worst on {names(worst)} ({percent(acc.min())})"


def top_confusion(confusion: pd.DataFrame) -> str | None:
    """'cars predicted as brios (3 photos)': the largest off-diagonal count; ties named together, '(2 photos each)'."""
    off = confusion.copy()
    for label in off.index.intersection(off.columns):
        off.loc[label, label] = 0
    stacked = off.stack()
    if stacked.empty or stacked.max() == 0:
        return None
    top = stacked[stacked == stacked.max()]
    pairs = [f"{actual} predicted as {predicted}" for predicted, actual in top.index]
    return f"{names(pairs)} ({plural(int(stacked.max()), 'photo')}{' each' if len(pairs) > 1 else ''})"


def focus_sentence(cam: pd.DataFrame) -> str | None:
    """How much of the Grad-CAM heat falls on the toy, for correct and wrong answers, and the least-watched class
    (only photos with a toy outline count; says how many had none)."""
    scored = cam[cam["focus"].notna()]
    if scored.empty:
        return None
    text = (f"On average **{percent(scored['focus'].mean(), 0)} of the heat lies on the toy**, which covers "
            f"{percent(scored['mask_area'].mean(), 0)} of the frame: **{gradcam.focus_ratio(scored):.1f}x chance** "
            f"(focus ÷ chance, here and below: {gradcam.FOCUS_RATIO_MEANING}; 1x is no better than heat spread at "
            "random).")
    by_outcome = scored.groupby("correct")["focus"].mean()
    if len(by_outcome) == 2:
        text += (f" Correct answers put {percent(by_outcome[1], 0)} of their heat on the toy, wrong ones "
                 f"{percent(by_outcome[0], 0)}.")
    lift = gradcam.focus_by(scored, "actual_label")["focus_ratio"]
    text += f" The class it looks at least: **{names(lift[lift == lift.min()].index)}** ({lift.min():.1f}x chance)."
    no_outline = int(cam["mask_area"].isna().sum())
    no_heat = len(cam) - len(scored) - no_outline
    if no_outline:
        text += (f" ({no_outline} of {len(cam)} photos {'has' if no_outline == 1 else 'have'} no toy outline and "
                 f"{'is' if no_outline == 1 else 'are'} not scored.)")
    if no_heat:
        text += (f" ({plural(no_heat, 'photo')} of {len(cam)} got no heat at all — Grad-CAM found no evidence for "
                 f"the predicted class there — and {'is' if no_heat == 1 else 'are'} not scored.)")
    return text


def depth_pair(cam: pd.DataFrame) -> pd.DataFrame | None:
    """The write-up's depth insight: a correct and a wrong prediction of the same class, side by side. The class
    with the most mistakes (ties: the first in order) among those with both; each the most confident of its kind."""
    counts = cam.groupby("actual_label")["correct"].agg(["sum", "count"])
    both = counts[(counts["sum"] > 0) & (counts["sum"] < counts["count"])]
    if both.empty:
        return None
    cls = (both["count"] - both["sum"]).idxmax()
    photos = cam[cam["actual_label"] == cls].sort_values("predicted_probability", ascending=False, kind="stable")
    return pd.concat([photos[photos["correct"] == 1].head(1), photos[photos["correct"] == 0].head(1)])


def findings(record: dict, history: pd.DataFrame, results: dict, cam: pd.DataFrame | None) -> list[str]:
    """The bullets that close a training notebook: over-fitting, per-class extremes and confusions, where it looks."""
    gap = comparison.train_val_gap(record, history)
    state = learning_state(history, len(record.get("class_names") or []) or 1, patience=record.get("patience"))
    if state["did_not_learn"]:
        verdict = ": the network did not learn (both near chance), so there is nothing to over-fit."
    elif state["under_fitting"]:
        verdict = (": training accuracy stays below validation accuracy, but because the network is under-fitting "
                   "(it does not fit even its own training photos), not because it generalises well."
                   if gap < 0 else ": under-fitting (training accuracy stays low), not over-fitting.")
    elif gap > 0.1:
        verdict = ": the network memorises its training photos."
    elif gap >= 0:
        verdict = ": little over-fitting."
    else:
        verdict = (": training accuracy stays below validation accuracy, because the training pass is the harder one "
                   "(dropout, augmented photos): no sign of over-fitting.")
    lines = [f"- **Over-fitting:** at the kept epoch training accuracy was {percent(record['best_val_accuracy'] + gap)}"
             f" and validation accuracy {percent(record['best_val_accuracy'])}, a train–validation gap of "
             f"{points(gap)}" + verdict]
    confusion = top_confusion(results["confusion"])
    lines.append(f"- **Per class:** {class_extremes(results['per_class'])}"
                 + (f"; most common mix-up: {confusion}." if confusion else "; no mix-ups."))
    if cam is not None and cam["focus"].notna().any():
        lines.append(f"- **Where it looks:** {where_it_looks(cam)}")
    return lines


OVERALL = {"looks at the toy": "overall it looks at the toys",
           "partly at the toy": "overall it looks partly at the toys, partly around them",
           "mostly at the surroundings": "overall it looks at what surrounds the toys about as much as at them"}


def where_it_looks(cam: pd.DataFrame) -> str:
    """Where a model looks, overall and where a class departs from it: one verdict (``gradcam.focus_verdict``) and
    the classes on the other side of its cut-offs, so the summary never says 'it looks at the toys' above a class it
    looks at less than chance would."""
    scored = cam[cam["focus"].notna()]
    ratio = gradcam.focus_ratio(scored)
    verdict = gradcam.focus_verdict(ratio)
    by_class = gradcam.focus_by(scored, "actual_label")["focus_ratio"].dropna()

    def listed(part):
        return names([f"{cls} ({value:.1f}x)" for cls, value in part.items()])

    text = (f"{percent(scored['focus'].mean(), 0)} of the Grad-CAM heat on the toys, which cover "
            f"{percent(scored['mask_area'].mean(), 0)} of the frame ({ratio:.1f}x chance): {OVERALL[verdict]}")
    away = by_class[by_class < gradcam.FOCUS_ON_SURROUNDINGS]
    toward = by_class[by_class >= gradcam.FOCUS_ON_TOY]
    if verdict != "mostly at the surroundings" and len(away):
        text += f", but not at the {listed(away)}: there it looks mostly at what surrounds them"
    elif verdict != "looks at the toy" and len(toward):
        text += f", except at the {listed(toward)}"
    return text + "."


# --------------------------------------------------------------------------------------------------------------------
# The evaluation, shown
# --------------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Evaluation:
    """What ``show_evaluation`` computed, for a notebook's own further steps."""

    results: dict
    cam: pd.DataFrame
    overlays: Path

    @property
    def predictions(self) -> pd.DataFrame:
        return self.results["df"]

    @property
    def accuracy(self) -> float:
        return float(self.results["accuracy"])


def per_class_with_intervals(results: dict) -> pd.DataFrame:
    """Per class: photos, right answers, accuracy ('73.3 %') and its 95 % interval."""
    df = results["df"]
    rows = {}
    for cls, group in df.groupby("actual_label"):
        low, high = stats.wilson_interval(int(group["correct"].sum()), len(group))
        rows[cls] = {"photos": len(group), "correct": int(group["correct"].sum()),
                     "accuracy": percent(group["correct"].mean()), "95 % interval": stats.interval_text(low, high)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("actual_label")


def focus_per_class(cam: pd.DataFrame) -> pd.DataFrame:
    """Per class: the share of the heat on the toy, the toy's share of the frame (both '51 %') and their ratio
    ('2.7x': ``gradcam.focus_ratio``), the numbers ``focus_sentence`` and ``where_it_looks`` read."""
    by_class = gradcam.focus_by(cam[cam["focus"].notna()], "actual_label")
    return pd.DataFrame({"heat on the toy": by_class["focus"].map(lambda v: percent(v, 0)),
                         "toy's share of the frame": by_class["mask_area"].map(lambda v: percent(v, 0)),
                         "focus ÷ chance": by_class["focus_ratio"].map(lambda v: f"{v:.1f}x")})


def show_depth_insight(run, cam: pd.DataFrame, figures_dir, name: str | None = None) -> None:
    """The write-up's depth insight for one run: its surest right and surest wrong answer on the same class, the
    photos and their Grad-CAM side by side (``depth_pair`` picks them). ``run``: a run, or any model
    ``evaluation.resolve_model`` accepts (then pass its ``name``)."""
    name = name or run.name
    pair = depth_pair(cam)
    if pair is None:
        wrong = int((cam["correct"] == 0).sum())
        show(f"**The depth insight ({name})** needs a class with both a right and a wrong answer; "
             + ("it got every test photo right." if wrong == 0 else
                "every class here is either all right or all wrong."))
        return
    cls = pair["actual_label"].iloc[0]
    show(f"**The depth insight ({name}):** two {cls} photos, one the network got right and one it got wrong, "
         "side by side. Where does its attention go in each?")
    show(plots.gradcam_grid(run, files=list(pair["path"]), labels=list(pair["actual_label"]), n=2, cols=2,
                            name=f"{name}_depth_insight", figures_dir=figures_dir))


def _show_gradcam(run, cam: pd.DataFrame, examples: int, figures_dir) -> None:
    name = run.name
    show("### Grad-CAM: what is the network looking at?",
          "The layer it reads (the last convolutional one, where the features are richest but still keep their "
          "place in the photo):", gradcam.layer_listing(run.model))
    focus = focus_sentence(cam)
    if focus:
        show(focus_per_class(cam), focus)
    else:
        show("No toy outlines for these photos (your own photos have none): the panels below have no focus score.")
    show_depth_insight(run, cam, figures_dir)
    mistakes = cam[cam["correct"] == 0].sort_values("predicted_probability", ascending=False)
    shown = pd.concat([mistakes, cam[cam["correct"] == 1]]).head(examples)
    show("The most confident mistakes first, then correct answers:")
    show(plots.gradcam_grid(run, files=list(shown["path"]), labels=list(shown["actual_label"]), n=examples,
                             name=name, figures_dir=figures_dir))


def show_evaluation(run, test_split, folders, *, examples: int = 8, writeup: float | None = None,
                    results: dict | None = None) -> Evaluation:
    """The kept model on the test photos, end to end: predictions (stored beside the run's record for notebook 10),
    accuracy with its interval, confusion matrix, per-class accuracy, the most confident mistakes, Grad-CAM (layer
    listing, focus, depth insight, a grid) with every photo's overlay saved under ``figures/gradcam/<run>/``, and
    the closing findings. ``results``: this run's ``evaluation.evaluate`` when the notebook has shown its accuracy
    and confusion matrix itself (02 builds them in the open): the report then starts at the per-class table."""
    shown = results is not None
    results = results if shown else evaluation.evaluate(run, test_split)
    comparison.save_test_results(run, results, models_dir=folders.models)
    predictions = results["df"]
    if not shown:
        show("### Test accuracy", accuracy_sentence(predictions, writeup),
             "### Confusion matrix",
             plots.confusion_heatmap(predictions, normalize=True, name=f"{run.name}_confusion",
                                     figures_dir=folders.figures))
    show("### Per class", per_class_with_intervals(results),
          "### The most confident mistakes")
    mistakes = results["mistakes"].drop(columns=["path", "correct"])
    show(mistakes if len(mistakes) else "No mistakes on the test photos.")
    cam, maps = gradcam.gradcam_table(run, test_split, return_heatmaps=True)
    overlays = gradcam.save_overlays(cam, maps, tuple(run.record["settings"]["image_size"]),
                                     folders.figures / "gradcam" / run.name)
    _show_gradcam(run, cam, examples, folders.figures)
    show(f"Grad-CAM overlays of all {len(cam)} test photos: `{shown_path(overlays)}/` "
          "(named actual__photo__as_predicted).")
    show("### What this run tells us", "\n".join(findings(run.record, run.history, results, cam)))
    return Evaluation(results, cam, overlays)


def interval_column(table: pd.DataFrame) -> pd.Series:
    """'62–82 %' per row of a comparison table (its test_low/test_high columns), '–' where a run has no test yet."""
    return pd.Series([stats.interval_text(low, high)
                      for low, high in zip(table.get("test_low", []), table.get("test_high", []))], index=table.index,
                     dtype=object)


def story_so_far(models_dir, upto: int, photos: dict | None = None) -> pd.DataFrame:
    """Models 1..``upto`` of the write-up's table from their records: ours (test accuracy with its interval) beside
    the write-up's, the train–validation gap (``comparison.train_val_gap``), what its curves say (``learning``:
    did not learn, under-fitting, still learning at the end) and the cost per epoch, percentages written as in the
    sentences. Untrained models are named below the table."""
    table = comparison.compare_runs(models_dir, numbers=range(1, upto + 1), photos=photos)
    if table.empty:
        show(f"No model of the write-up's table is trained in `{shown_path(models_dir)}` yet.")
        return table
    table = table.assign(test_interval=interval_column(table))
    if table.attrs["missing"]:
        show(f"Not trained yet: {', '.join(table.attrs['missing'])}.")
    table = table.assign(train_val_gap=[points(gap).replace(" points", "") for gap in table["train_val_gap"]])
    shown = table[["changes", "val_accuracy", "test_accuracy", "test_interval", "writeup_val_accuracy",
                   "writeup_test_accuracy", "train_val_gap", "learning", "seconds_per_epoch"]
                  ].round({"seconds_per_epoch": 1})  # the accuracies are fractions: percent_table writes them
    return percent_table(shown, ["val_accuracy", "test_accuracy", "writeup_val_accuracy", "writeup_test_accuracy"]
                         ).rename(columns={"train_val_gap": "train–validation gap (points)"})


def background_grid(per_background: pd.DataFrame) -> pd.DataFrame:
    """``bias.by_background``'s per-class rows as one compact grid: a row per class, a column per background,
    "right/photos" in each cell (★ on the class's usual background, – where it has no photo)."""
    rows = per_background[per_background["class"] != "all"]
    cells = rows.assign(cell=[f"{int(c)}/{int(n)}" + (" ★" if pd.notna(t) and bool(t) else "")
                              for c, n, t in zip(rows["correct"], rows["photos"], rows["typical"])])
    grid = cells.pivot(index="class", columns="background", values="cell").fillna("–")
    return grid.rename_axis(index="class", columns="background")


def background_sentence(per_background: pd.DataFrame) -> str | None:
    """The bias insight in numbers: for each class the built-in set usually photographs on one background, its
    accuracy there against elsewhere (with the photo counts)."""
    rows = per_background[per_background["class"] != "all"]
    parts = []
    for background, cls in bias.CLASS_OF_BACKGROUND.items():
        mine = rows[rows["class"] == cls]
        on, off = mine[mine["typical"] == True], mine[mine["typical"] == False]  # noqa: E712 - pandas column
        if on["photos"].sum() and off["photos"].sum():
            parts.append(f"{cls} {percent(on['correct'].sum() / on['photos'].sum(), 0)} on the "
                         f"{background.replace('_', ' ')} "
                         f"({plural(int(on['photos'].sum()), 'photo')}) against "
                         f"{percent(off['correct'].sum() / off['photos'].sum(), 0)} elsewhere "
                         f"({plural(int(off['photos'].sum()), 'photo')})")
    if not parts:
        return None
    return ("Accuracy on a class's usual background against the others: " + "; ".join(parts) + ". With this few "
            "photos per group, read the counts before the percentages.")


def show_background_test(runs: dict, folders, predictions: pd.DataFrame | None = None,
                         cam: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The bias insight with evidence: accuracy and focus per background of the built-in set (given one model's
    ``predictions`` and Grad-CAM table), and the background-swap test (each test toy re-drawn, same pose, on the
    other backgrounds) for every model of ``runs``. Skipped, with a sentence, on photos the generator did not draw."""
    if not bias.available(folders.data):
        show(f"`{shown_path(folders.data)}` holds your own photos: the background-swap test needs the built-in set, "
              "whose generator can draw each photo again on another background. Skipped.")
        return None
    if predictions is not None:
        per_background = bias.by_background(predictions, folders.data, cam=cam)
        readable = per_background.assign(**{"95 % interval": [
            stats.interval_text(low, high)
            for low, high in zip(per_background["accuracy_low"], per_background["accuracy_high"])
        ]}).drop(columns=["accuracy_low", "accuracy_high"])
        readable = percent_table(readable, ["accuracy"]).pipe(percent_table, ["focus"], 0)
        if "focus_lift" in readable:
            readable["focus_lift"] = readable["focus_lift"].map(lambda v: "–" if pd.isna(v) else f"{v:.1f}x")
        show("### Accuracy and focus per background",
             readable[readable["class"] == "all"].drop(columns=["class", "typical"]).set_index("background"),
             "Per class and background: photos sorted right of photos taken there (★: the background this class "
             "is usually photographed on; – none):",
             background_grid(per_background),
             background_sentence(per_background) or "")
    swap = bias.background_swap(runs, data_dir=folders.data, models_dir=folders.models)
    summary = swap.summary.set_index("model")
    shares = [c for c in summary.columns if c in ("flipped", "flipped_to_background_class", "accuracy_original",
                                                   "accuracy_swapped") or c.startswith("to_")]
    show("### The background-swap test", percent_table(summary.drop(columns=["photos"]), shares))
    show("\n".join(f"- **{label}:** {bias.swap_sentence(row)}" for label, row in summary.iterrows()))
    return summary

__all__ = [
    "Evaluation",
    "accuracy_sentence",
    "augmentation_note",
    "background_grid",
    "background_sentence",
    "class_extremes",
    "dashes",
    "depth_pair",
    "findings",
    "focus_per_class",
    "focus_sentence",
    "learning_sentences",
    "interval_column",
    "learning_rate_note",
    "names",
    "per_class_with_intervals",
    "percent_table",
    "plural",
    "points",
    "show",
    "show_background_test",
    "show_depth_insight",
    "show_evaluation",
    "show_training",
    "story_so_far",
    "times",
    "top_confusion",
    "training_summary",
    "where_it_looks",
]

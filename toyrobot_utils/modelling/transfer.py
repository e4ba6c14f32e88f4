"""Transfer learning made fast and measured: cached base features, fine-tuning the base's top, size and CPU latency.

With the pre-trained base frozen and no augmentation, every epoch feeds the same photos through the same frozen
base and gets the same numbers back: almost all of an epoch's time goes into recomputing them. ``fit_frozen``
computes the base's (pooled) features once for the training and validation photos and trains only the head on
them: a small Keras model made of the transfer model's own head layers, so it shares their weights. The checkpoint
and record machinery is ``training.fit``'s, and what it writes to ``models/<name>.keras`` is the *full* network
(base + head), so evaluation, Grad-CAM and prediction work on it unchanged. With augmentation (every epoch sees
different pixels) or a base that is being fine-tuned, ``fit_frozen`` uses the normal path (``training.fit`` on the
full model).

``measure_latency`` times one photo at a time (batch 1) on the CPU, what a toy-sorting robot would do;
``size_and_speed`` stores that and the model file's size in the run's metrics record (``latency_ms_per_image``,
``file_bytes``), where ``comparison.compare_runs`` reads them.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from toyrobot_utils import config, data, lineage
from toyrobot_utils.modelling import stopping, training
from toyrobot_utils.modelling.keras_graph import call_node, functional_graph
from toyrobot_utils.modelling.models import compile_model, count_params, find_base, infer_preprocessing, unfreeze_top
from toyrobot_utils.stats import percent, too_small_to_compare

FEATURE_PATH = "cached base features"
AUGMENT_COPIES = 2  # augmented copies of each training photo whose base features are computed once
# The series' transfer recipe (notebook 09's parameter defaults, benchmarks/real_photos.py): the head trains on cached
# features until validation stops improving, with augmented copies; then the top four blocks are fine-tuned on cached
# activations with a cosine learning-rate decay from 2e-4 and kept only when validation improves (higher accuracy, or
# the same with a lower loss: ``stopping.better_on_validation``). Four blocks at 2e-4
# were chosen over two at 1e-4 (the earlier default) on validation photos, from the same frozen stage: clothing6
# 86.1 % against 83.3 % validation (4 blocks at 1e-4: 84.4 %; 2 blocks with patience 15: 82.8 %), clothing5 a tie
# (97.3 %); RESULTS.md has the test figures that followed.
RECIPE = {
    "epochs": 200, "patience": 20, "learning_rate": 1e-3, "augment": True, "augment_copies": AUGMENT_COPIES,
    "fine_tune_epochs": 30, "fine_tune_patience": 8, "fine_tune_blocks": 4, "fine_tune_learning_rate": 2e-4,
}
IMAGE_PATH = "images"
# On a validation split too small to compare the two stages (``stats.too_small_to_compare``: the same threshold as
# the epoch rule), the training photos decide whether fine-tuning is kept: from this many photos in the smallest
# class. Measured with benchmarks/few_photos.py on two sets of real photos (clothing5, clothing6; 3 draws per size,
# both stages scored on the full test split): from 10 photos per class the fine-tuned stage tested better in 9 of 12
# draws (+1.9 points on average), at 5 per class worse or equal in 6 of 6 (-1.7): too few photos to move the
# pre-trained weights without memorising them. RESULTS.md, "A handful of photos".
FINE_TUNE_MIN_PHOTOS_PER_CLASS = 10
_POOLING_LAYERS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten)


# --------------------------------------------------------------------------------------------------------------------
# Splitting a transfer model into base and head
# --------------------------------------------------------------------------------------------------------------------


class NotCacheable(ValueError):
    """The model cannot be trained on cached base features (the reason is the message)."""


def split_transfer_model(model: keras.Model) -> tuple[keras.Model, list[keras.layers.Layer]]:
    """The frozen nested base and the head layers after it, for a model shaped like ``models.build_transfer``'s:
    input -> base -> one chain of plain layers -> output. Raises ``NotCacheable`` with the reason otherwise."""
    base = find_base(model)
    if base is None:
        raise NotCacheable("the model has no nested pre-trained base")
    if base.trainable and base.trainable_weights:
        raise NotCacheable(f"the base {base.name!r} is (partly) trainable: its features change while training")
    return _base_and_head(model, base)


def _base_and_head(model: keras.Model, base: keras.Model) -> tuple[keras.Model, list[keras.layers.Layer]]:
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers or layers[0] is not base:
        raise NotCacheable("the base is not the model's first layer (something runs on the images before it)")
    head = layers[1:]
    if not head:
        raise NotCacheable("the model has no head after the base")
    if any(isinstance(layer, keras.Model) for layer in head):
        raise NotCacheable("the head contains a nested model")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise NotCacheable("the model has several inputs or outputs")
    _check_chain(model, [base, *head])
    return base, head


def _check_chain(model: keras.Model, chain: list[keras.layers.Layer]) -> None:
    """Each layer of ``chain`` must take exactly the previous one's output (the first: the model's input), and the
    last one's output must be the model's output: then base features plus head layers are the whole computation."""
    graph = functional_graph(model)
    previous = graph.inputs[0]
    for layer in chain:
        try:
            node = call_node(layer, model)
        except ValueError as err:
            raise NotCacheable(str(err)) from None
        inputs, outputs = list(node.input_tensors), list(node.output_tensors)
        if len(inputs) != 1 or inputs[0] is not previous or len(outputs) != 1:
            raise NotCacheable(f"the model is not one chain input -> base -> head (at layer {layer.name!r})")
        previous = outputs[0]
    if graph.outputs[0] is not previous:
        raise NotCacheable("the model's output is not the last head layer's")


def _head_start(head: list[keras.layers.Layer]) -> int:
    """How many leading head layers are folded into the cached features (a pooling/flatten layer: no weights)."""
    return 1 if isinstance(head[0], _POOLING_LAYERS) else 0


def feature_extractor(model: keras.Model):
    """A compiled function images -> cached features: the frozen base (inference mode) plus the head's leading
    pooling/flatten layer when there is one. Returns (function, head layers that remain to be trained)."""
    base, head = split_transfer_model(model)
    start = _head_start(head)
    pooling = head[:start]

    @tf.function(reduce_retracing=True)
    def extract(images):
        x = base(images, training=False)
        for layer in pooling:
            x = layer(x)
        return x

    return extract, head[start:]


def build_head(model: keras.Model, feature_shape: Sequence[int]) -> keras.Model:
    """A Keras model from cached features to the class probabilities, made of ``model``'s own head layers (shared
    weights: training it trains ``model``'s head), compiled with ``model``'s loss and its optimizer object."""
    _, remaining = feature_extractor(model)
    inputs = keras.Input(shape=tuple(int(d) for d in feature_shape), name="base_features")
    x = inputs
    for layer in remaining:
        x = layer(x)
    head = keras.Model(inputs, x, name=f"{model.name}_head")
    if getattr(model, "optimizer", None) is None:
        compile_model(model)
    # The full model's own optimizer: its state then belongs to the full model too, and is saved with it.
    head.compile(optimizer=model.optimizer, loss=getattr(model, "loss", None) or "categorical_crossentropy",
                 metrics=["accuracy"])
    return head


def extract_features(extract, dataset, *, with_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Run ``extract`` over a dataset of (images, one-hot labels) batches once: (features, labels) as arrays."""
    features, labels = [], []
    for batch in data.dataset_of(dataset):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        features.append(np.asarray(tf.cast(extract(images), tf.float32)))  # computed in the policy, kept float32
        if with_labels and isinstance(batch, (tuple, list)):
            labels.append(np.asarray(batch[1]))
    feats = np.concatenate(features) if features else np.zeros((0,), np.float32)
    return feats, (np.concatenate(labels) if labels else None)


def _first_batch_size(dataset) -> int:
    for batch in data.dataset_of(dataset).take(1):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return int(images.shape[0])
    raise ValueError("the training data is empty")


def features_dataset(features: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int):
    """Cached features as a tf.data pipeline of (features, one-hot labels), reshuffled each epoch when ``shuffle``."""
    ds = tf.data.Dataset.from_tensor_slices((features.astype(np.float32), labels.astype(np.float32)))
    if shuffle:
        ds = ds.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(data.pipeline_options())


# --------------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------------


def fit_frozen(
    model: keras.Model,
    train,
    val,
    *,
    name: str,
    epochs: int = 10,
    models_dir: str | Path | None = None,
    augment: bool = False,
    augment_copies: int = AUGMENT_COPIES,
    seed: int = config.SEED,
    settings: Mapping[str, Any] | None = None,
    class_names: list[str] | None = None,
    batch_size: int | None = None,
    lr_reducer: bool | Mapping[str, Any] = False,
    verbose: str | int = "auto",
    keep: str | None = None,
    **fit_kwargs,
) -> training.RunResult:
    """Train a transfer model (``models.build_transfer``) with its base frozen; the best epoch is saved as the full
    network in ``models/<name>.keras`` with its metrics record, exactly like ``training.fit``.

    When the base is frozen, the base's features for ``train`` and ``val`` are computed once and only the head
    trains on them, reshuffled every epoch with ``seed``. With ``augment`` the training features are those of every
    training photo as it is plus ``augment_copies`` augmented copies of it (the write-up's augmentation, drawn once;
    ``data.augmented_copies``; for a plain dataset instead of a SplitData: that many passes over ``train``, which
    must augment itself). Otherwise — ``augment`` with ``augment_copies=0``, a base being fine-tuned, or a model not
    shaped input -> base -> head — it is ``training.fit`` on the full model (the reason is printed).
    ``patience`` (through ``fit_kwargs``) stops once validation accuracy has not improved for that many epochs;
    ``model`` ends with the best epoch's weights, the ones saved. ``keep`` (None: ``validation_keep_rule(val)``): on a
    validation split too small to choose on, the head trains all ``epochs`` and keeps the last
    (``stopping.LAST_EPOCH``). ``batch_size`` defaults to the training pipeline's. The record's settings say which path
    ran (``training_path``) and how many augmented copies it used (``augment_copies``); ``feature_extraction_seconds``
    holds the one-off extraction time (``seconds`` and ``seconds_per_epoch`` are the epochs' own, as for every run).
    """
    settings = dict(settings or {})
    settings["augment"] = bool(augment)  # what this run did (a model table row's default may say otherwise)
    copies = int(augment_copies) if augment else 0
    names = class_names if class_names is not None else data.class_names_of(train)
    fit_kwargs.setdefault("photos", lineage.photos_of_splits(train, val))  # the head's data are features, not photos
    keep = validation_keep_rule(val) if keep is None else keep
    common = dict(name=name, epochs=epochs, models_dir=models_dir, seed=seed, class_names=names,
                  lr_reducer=lr_reducer, verbose=verbose, keep=keep, **fit_kwargs)

    reason = _image_path_reason(model, augment, copies)
    if reason is not None:
        if verbose != 0:
            print(f"{name}: training on the images ({reason}).")
        run = training.fit(model, train, val, settings={**settings, "training_path": IMAGE_PATH}, **common)
        return _restore_best(model, run)

    extract, _ = feature_extractor(model)
    batch_size = int(batch_size or _first_batch_size(train))
    start = time.perf_counter()
    train_x, train_y = training_features(extract, train, model, copies=copies, batch_size=batch_size, seed=seed)
    val_x, val_y = extract_features(extract, val)
    extraction_seconds = time.perf_counter() - start
    if train_y is None or val_y is None:
        raise ValueError("fit_frozen needs training and validation data with labels")
    head = build_head(model, train_x.shape[1:])
    if verbose != 0:
        print(f"{name}: base features computed once for {len(train_x)} training examples ({copies} augmented "
              f"cop{'y' if copies == 1 else 'ies'} of each photo beside it) and {len(val_x)} validation photos in "
              f"{extraction_seconds:.1f} s (shape {tuple(train_x.shape[1:])}); training the head "
              f"({count_params(head)['trainable']:,} parameters) on them.")
    result = training.fit(
        head,
        features_dataset(train_x, train_y, batch_size=batch_size, shuffle=True, seed=seed),
        features_dataset(val_x, val_y, batch_size=batch_size, shuffle=False, seed=seed),
        saved_model=model,
        settings={**settings, "training_path": FEATURE_PATH, "augment_copies": copies,
                  "batch_size": settings.get("batch_size", batch_size)},
        **common,
    )
    if result.replaced:
        result.record = training.update_record(
            name, models_dir, feature_extraction_seconds=extraction_seconds,
            feature_shape=[int(d) for d in train_x.shape[1:]], training_examples=int(len(train_x)),
        )
    return _restore_best(model, result)


def validation_keep_rule(val) -> str:
    """``stopping.keep_rule`` for the photos of ``val`` when it is a SplitData (a plain dataset's length counts
    batches, not photos: there the best epoch on validation, as always)."""
    if not isinstance(val, data.SplitData):
        return stopping.BEST_ON_VALIDATION
    return stopping.keep_rule(len(val))


def _image_path_reason(model: keras.Model, augment: bool, copies: int) -> str | None:
    """Why the model must train on the photos (None: it can train on cached base features)."""
    if augment and copies < 1:
        return "augmentation changes the photos every epoch (augment_copies=0)"
    try:
        split_transfer_model(model)
    except NotCacheable as err:
        return str(err)
    return None


def training_features(extract, train, model: keras.Model, *, copies: int, batch_size: int,
                      seed: int = config.SEED) -> tuple[np.ndarray, np.ndarray | None]:
    """``extract``'s features of the training photos: as they are (``copies=0``), or as they are plus ``copies``
    augmented copies of each (a SplitData: ``data.augmented_copies`` at the model's input size and preprocessing;
    a plain dataset: ``copies`` passes over it, which must augment itself)."""
    if copies < 1:
        return extract_features(extract, train)
    if isinstance(train, data.SplitData):
        copied = data.augmented_copies(train, copies, image_size=model.input_shape[1:3], batch_size=batch_size,
                                       preprocessing=infer_preprocessing(model), seed=seed)
        return extract_features(extract, copied)
    passes = [extract_features(extract, train) for _ in range(copies)]
    labels = [y for _, y in passes]
    return np.concatenate([x for x, _ in passes]), (None if labels[0] is None else np.concatenate(labels))


def _restore_best(model: keras.Model, run: training.RunResult) -> training.RunResult:
    """``model`` (the object trained in memory) takes the weights of the saved best epoch, which ``run.model`` holds."""
    model.set_weights(run.model.get_weights())
    return run


# --------------------------------------------------------------------------------------------------------------------
# Fine-tuning the top of the base
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FineTuning:
    """What ``fine_tune`` gives back: its run (None when skipped), whether it is kept as the transfer model (it beats
    the frozen stage on validation: ``keep_fine_tuned``), why, and the model to use: the fine-tuned one or the
    frozen one."""

    run: training.RunResult | None
    kept: bool
    reason: str
    frozen: training.RunResult
    unfrozen: list[str] = field(default_factory=list)

    @property
    def model(self) -> keras.Model:
        return self.run.model if self.kept and self.run is not None else self.frozen.model

    @property
    def best(self) -> training.RunResult:
        """The run whose model is the transfer model: the fine-tuned one when kept, else the frozen stage's."""
        return self.run if self.kept and self.run is not None else self.frozen


def split_for_fine_tuning(model: keras.Model):
    """(lower, top, head) for a transfer model whose base's top is trainable (``models.unfreeze_top``): ``lower``
    maps images to the activations just below the first trainable layer of the base (frozen: computed once), ``top``
    is a Keras model from there to the base's output made of the base's own layers (shared weights), ``head`` the
    layers after the base. Raises ``NotCacheable`` when the base cannot be cut there (another tensor crosses it)."""
    base = find_base(model)
    if base is None:
        raise NotCacheable("the model has no nested pre-trained base")
    _, head = _base_and_head(model, base)
    trainable = [layer for layer in base.layers if layer.trainable_weights]
    if not trainable:
        raise NotCacheable("nothing in the base is trainable")
    cut = trainable[0].input
    if isinstance(cut, (list, tuple, dict)):
        raise NotCacheable(f"the first trainable layer {trainable[0].name!r} has several inputs")
    try:
        top = keras.Model(cut, base.output, name=f"{base.name}_top")
        lower = keras.Model(base.input, cut, name=f"{base.name}_lower")
    except Exception as err:  # noqa: BLE001 - Keras says "graph disconnected" in several ways
        raise NotCacheable(f"the base cannot be cut below {trainable[0].name!r}: {err}") from None
    inside = {id(layer) for layer in top.layers}
    if any(id(layer) not in inside for layer in trainable):
        raise NotCacheable("trainable layers lie below the cut")

    @tf.function(reduce_retracing=True, autograph=False)  # plain calls: nothing for AutoGraph to convert
    def extract(images):
        return lower(images, training=False)

    return extract, top, head


def _schedule_optimizer(learning_rate: float, epochs: int, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam whose learning rate falls from ``learning_rate`` to 0 along a cosine over ``epochs`` epochs."""
    schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), max(1, int(epochs) * steps_per_epoch))
    return keras.optimizers.Adam(learning_rate=schedule)


def fine_tune(
    frozen: training.RunResult,
    train,
    val,
    *,
    name: str,
    blocks: int = 2,
    epochs: int = 30,
    patience: int | None = 8,
    learning_rate: float = 1e-4,
    augment: bool = False,
    augment_copies: int = AUGMENT_COPIES,
    models_dir: str | Path | None = None,
    seed: int = config.SEED,
    settings: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    verbose: str | int = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
    keep: str | None = None,
) -> FineTuning:
    """Second stage: unfreeze the top ``blocks`` of the frozen run's base (``models.unfreeze_top``: BatchNorm layers
    stay frozen, and the base runs in inference mode as ``build_transfer`` calls it) and train them with the head,
    Adam with a cosine learning-rate decay from ``learning_rate``, early stopping after ``patience`` epochs without
    a better validation accuracy, the best epoch saved as ``models/<name>.keras``.

    The base's frozen lower part runs once: its activations below the cut (for the training photos plus
    ``augment_copies`` augmented copies when ``augment``, and for the validation photos) are cached and only the
    top of the base and the head train on them (``split_for_fine_tuning``; on the photos when the base cannot be
    cut). It runs even when the frozen stage has every validation photo right: on a few validation photos 100 % is
    easily reached and says little, and the validation loss can still improve. Kept as the transfer model only when
    it beats the frozen stage on validation (``keep_fine_tuned``: higher accuracy, or the same with a lower loss);
    the returned ``FineTuning`` says which and why. It starts from the frozen run's saved model (a fresh copy: the
    frozen run's model in memory is left as it is). ``callbacks`` run at every epoch, as ``training.fit``'s.
    ``keep`` as ``fit_frozen``'s: on a validation split too small to choose on, all ``epochs`` run (the cosine
    decay reaches 0 at the last) and the last is kept; there the two stages are not compared on validation either:
    the training photos decide (``FINE_TUNE_MIN_PHOTOS_PER_CLASS`` in the smallest class)."""
    model = keras.models.load_model(frozen.paths["model"])  # a copy: the frozen run's model stays as it is
    unfrozen = unfreeze_top(model, blocks=blocks, learning_rate=learning_rate)
    settings = {**dict(settings or {}), "augment": bool(augment), "stage": "fine-tune", "fine_tune_blocks": blocks,
                "fine_tune_learning_rate": learning_rate, "learning_rate_schedule": "cosine decay to 0",
                "augment_copies": int(augment_copies) if augment else 0}
    batch_size = int(batch_size or _first_batch_size(train))
    common = dict(name=name, epochs=epochs, patience=patience, models_dir=models_dir, seed=seed, verbose=verbose,
                  class_names=data.class_names_of(train), photos=lineage.photos_of_splits(train, val),
                  callbacks=list(callbacks or []), keep=validation_keep_rule(val) if keep is None else keep)
    try:
        extract, top, head = split_for_fine_tuning(model)
    except NotCacheable as err:
        if verbose != 0:
            print(f"{name}: fine-tuning on the images ({err}).")
        steps = max(1, int(data.dataset_of(train).cardinality()))
        compile_model(model, _schedule_optimizer(learning_rate, epochs, steps))
        run = training.fit(model, train, val, settings={**settings, "training_path": IMAGE_PATH}, **common)
    else:
        run = _fine_tune_cached(model, extract, top, head, train, val, settings=settings, batch_size=batch_size,
                                learning_rate=learning_rate, copies=settings["augment_copies"], common=common)
    _restore_best(model, run)
    # the stages are compared on validation only where the epochs were chosen on it (``keep``)
    small = common["keep"] == stopping.LAST_EPOCH and isinstance(val, data.SplitData)
    kept, reason = keep_fine_tuned(frozen.record, run.record, validation_photos=len(val) if small else None,
                                   training_photos_per_class=smallest_class(train) if small else None)
    run.record = training.update_record(name, models_dir, fine_tune_kept=kept, fine_tune_reason=reason,
                                        frozen_best_val_accuracy=float(frozen.best_val_accuracy),
                                        frozen_best_val_loss=frozen.record.get("best_val_loss"),
                                        unfrozen_layers=unfrozen)
    # the decision is not printed here: the record and the returned FineTuning carry it, and the caller states it
    # once (notebook 09's report beside the two stages' table; `toyrobot train`'s summary)
    return FineTuning(run, kept, reason, frozen, unfrozen)


def keep_fine_tuned(frozen: Mapping[str, Any], tuned: Mapping[str, Any], *, validation_photos: int | None = None,
                    training_photos_per_class: int | None = None) -> tuple[bool, str]:
    """Whether the fine-tuned stage (its run record ``tuned``) replaces the frozen one (``frozen``) as the transfer
    model, and the sentence that says why: when it is better on validation photos — a higher best validation
    accuracy, or the same accuracy with a lower validation loss (``stopping.better_on_validation``). When
    ``validation_photos`` are too few to compare the stages (``stats.too_small_to_compare``) and the smallest class's
    ``training_photos_per_class`` is known, that decides instead: kept from ``FINE_TUNE_MIN_PHOTOS_PER_CLASS``.
    Test photos play no part."""
    if (validation_photos is not None and training_photos_per_class is not None
            and too_small_to_compare(validation_photos)):
        kept = int(training_photos_per_class) >= FINE_TUNE_MIN_PHOTOS_PER_CLASS
        reason = (f"{validation_photos} validation photos are too few to compare the two stages, so the training "
                  f"photos decide: {int(training_photos_per_class)} in the smallest class, "
                  + (f"at least {FINE_TUNE_MIN_PHOTOS_PER_CLASS}: the fine-tuned model is the transfer model"
                     if kept else f"fewer than {FINE_TUNE_MIN_PHOTOS_PER_CLASS}, too few to fine-tune the base "
                     f"without memorising them: the frozen model stays the transfer model"))
        return kept, reason
    acc, loss = tuned.get("best_val_accuracy"), tuned.get("best_val_loss")
    frozen_acc, frozen_loss = frozen.get("best_val_accuracy"), frozen.get("best_val_loss")
    kept = stopping.better_on_validation(acc, loss, frozen_acc, frozen_loss)
    if acc is not None and frozen_acc is not None and float(acc) == float(frozen_acc):
        how = (f"tied on validation accuracy ({percent(acc)}), and fine-tuning "
               f"{'lowered' if kept else 'did not lower'} the validation loss ({_loss(frozen_loss)} frozen, "
               f"{_loss(loss)} fine-tuned")
    else:
        how = (f"fine-tuning {'raised' if kept else 'did not raise'} the best validation accuracy "
               f"({_share(frozen_acc)} frozen, {_share(acc)} fine-tuned")
    reason = (f"{how} at epoch {tuned.get('best_epoch')} of {tuned.get('epochs_run')}): "
              + ("the fine-tuned model is the transfer model" if kept else "the frozen model stays the transfer model"))
    return kept, reason


def smallest_class(split) -> int | None:
    """Photos in the smallest class of a SplitData (None for a plain dataset, whose photos are not listed)."""
    if not isinstance(split, data.SplitData) or not len(split.labels):
        return None
    counts = np.bincount(np.asarray(split.labels, dtype=int), minlength=len(split.class_names))
    return int(counts.min())


def _share(value) -> str:
    return "n/a" if value is None else percent(value)


def _loss(value) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _fine_tune_cached(model, extract, top, head, train, val, *, settings, batch_size, learning_rate, copies,
                      common) -> training.RunResult:
    """Fine-tuning on cached activations below the cut: ``top`` (the base's trainable top, shared layers, inference
    mode) plus the head layers trained on them; the full network is what the checkpoint saves."""
    start = time.perf_counter()
    train_x, train_y = training_features(extract, train, model, copies=copies, batch_size=batch_size,
                                         seed=common["seed"])
    val_x, val_y = extract_features(extract, val)
    extraction_seconds = time.perf_counter() - start
    inputs = keras.Input(shape=train_x.shape[1:], name="base_activations")
    x = top(inputs, training=False)  # BatchNorm in inference mode, as build_transfer calls the base
    for layer in head:
        x = layer(x)
    tuned = keras.Model(inputs, x, name=f"{model.name}_top_and_head")
    steps = math.ceil(len(train_x) / batch_size)
    compile_model(model, _schedule_optimizer(learning_rate, common["epochs"], steps))
    tuned.compile(optimizer=model.optimizer, loss=getattr(model, "loss", None) or "categorical_crossentropy",
                  metrics=["accuracy"])
    if common["verbose"] != 0:
        print(f"{common['name']}: activations below {top.layers[1].name!r} computed once for {len(train_x)} training "
              f"examples and {len(val_x)} validation photos in {extraction_seconds:.1f} s (shape "
              f"{tuple(train_x.shape[1:])}); fine-tuning {count_params(tuned)['trainable']:,} parameters on them.")
    run = training.fit(
        tuned,
        features_dataset(train_x, train_y, batch_size=batch_size, shuffle=True, seed=common["seed"]),
        features_dataset(val_x, val_y, batch_size=batch_size, shuffle=False, seed=common["seed"]),
        saved_model=model, settings={**settings, "training_path": FEATURE_PATH, "batch_size": batch_size},
        **common,
    )
    if run.replaced:
        run.record = training.update_record(common["name"], common["models_dir"],
                                            feature_extraction_seconds=extraction_seconds,
                                            feature_shape=[int(d) for d in train_x.shape[1:]],
                                            training_examples=int(len(train_x)))
    return run


# --------------------------------------------------------------------------------------------------------------------
# Size and speed
# --------------------------------------------------------------------------------------------------------------------


def measure_latency(model: keras.Model, image_size: Sequence[int] | None = None, *, runs: int = 50, warmup: int = 5,
                    batch_size: int = 1, seed: int = 0, details: bool = False):
    """Milliseconds per image for ``model`` on the CPU at ``batch_size`` (1: one photo at a time, as the robot
    sees them): the median of ``runs`` timed calls of a compiled inference function, after ``warmup`` calls.
    Preprocessed-range random images of ``image_size`` (default the model's input size). With ``details`` returns a
    dict (median, p90, min, runs, batch size, CPU threads) instead of the median."""
    if image_size is None:
        image_size = model.input_shape[1:3]
    height, width = (int(s) for s in image_size)
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, (int(batch_size), height, width, 3)).astype(np.float32)
    times = []
    with tf.device("/CPU:0"):
        inputs = tf.constant(images)
        predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        for _ in range(max(1, int(warmup))):
            np.asarray(predict(inputs))
        for _ in range(max(1, int(runs))):
            start = time.perf_counter()
            np.asarray(predict(inputs))
            times.append((time.perf_counter() - start) * 1000.0 / batch_size)
    median = float(statistics.median(times))
    if not details:
        return median
    ordered = sorted(times)
    return {
        "latency_ms_per_image": median,
        "latency_ms_p90": float(ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]),
        "latency_ms_min": float(ordered[0]),
        "latency_runs": len(times),
        "latency_batch_size": int(batch_size),
        "latency_cpu_threads": os.cpu_count(),
    }


def size_and_speed(run, models_dir: str | Path | None = None, *, runs: int = 50, record: bool = True) -> dict:
    """Model file size and CPU latency per image (batch 1) of a finished run (its name or ``RunResult``), stored in
    its metrics record (``file_bytes``, ``latency_ms_per_image`` and the latency details) unless ``record=False``.
    Returns those fields plus ``file_mb``."""
    name = run if isinstance(run, str) else run.name
    paths = training.run_paths(name, models_dir)
    if not paths["model"].is_file():
        raise FileNotFoundError(f"No model {paths['model']}: train it first.")
    model = run.model if hasattr(run, "model") else keras.models.load_model(paths["model"])
    fields = {"file_bytes": paths["model"].stat().st_size, **measure_latency(model, runs=runs, details=True)}
    if record:
        training.update_record(name, models_dir, **fields)
    return {**fields, "file_mb": fields["file_bytes"] / 1e6}


__all__ = [
    "AUGMENT_COPIES",
    "FEATURE_PATH",
    "FineTuning",
    "IMAGE_PATH",
    "NotCacheable",
    "FINE_TUNE_MIN_PHOTOS_PER_CLASS",
    "RECIPE",
    "build_head",
    "extract_features",
    "feature_extractor",
    "features_dataset",
    "fine_tune",
    "fit_frozen",
    "keep_fine_tuned",
    "smallest_class",
    "validation_keep_rule",
    "measure_latency",
    "size_and_speed",
    "split_for_fine_tuning",
    "split_transfer_model",
    "training_features",
]

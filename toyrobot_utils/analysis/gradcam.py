"""Grad-CAM: where in the photo the network looked, and how much of that was the toy.

``gradcam_heatmap`` follows the write-up's recipe (gradients of the class score at the last convolutional layer,
averaged per channel, weighting that layer's activations), batched, and works through a nested pre-trained base
(MobileNetV2 inside the transfer model) by routing the gradient model through the base's own graph. It scores the
class by its logit (the softmax layer's input) rather than its probability, so a confident prediction still has a
gradient (Selvaraju et al.; the write-up's probability score goes flat near 1.0).

``object_focus`` turns the write-up's "bias insight" into a number: the share of the heat that falls on the toy's
mask. Read it next to ``mask_area`` (the toy's share of the frame, what random heat would score): focus 0.30 on a toy
covering 5 % of the frame is 6x chance; focus 0.05 there means the network looked at the floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import cv2
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from toyrobot_utils.analysis.evaluation import files_and_labels, resolve_model
from toyrobot_utils.data import load_batch
from toyrobot_utils.figures import new_figure, save_figure
from toyrobot_utils.images import load_array, load_mask
from toyrobot_utils.modelling.keras_graph import call_node, functional_graph, producing_layer

CONV_LAYER_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


# --------------------------------------------------------------------------------------------------------------------
# Finding the layer and building the gradient model
# --------------------------------------------------------------------------------------------------------------------


def find_last_conv_layer(model: keras.Model) -> str:
    """Name of the last convolutional layer, looking inside nested models: ``"conv_2"`` for the write-up's networks,
    ``"mobilenetv2_1.00_224/Conv_1"`` (base/layer) for the transfer model."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            try:
                return f"{layer.name}/{find_last_conv_layer(layer)}"
            except ValueError:
                continue
        if isinstance(layer, CONV_LAYER_TYPES):
            return layer.name
    raise ValueError(f"No convolutional layer found in model {model.name!r}")


def _layer_path(model: keras.Model, layer: str) -> list[str]:
    """``"base/conv"`` -> ["base", "conv"]; a bare name is looked up at the top, then inside nested models."""
    if "/" in layer:
        return layer.split("/")
    names = {layer.name for layer in model.layers}
    if layer in names:
        return [layer]
    for sub in model.layers:
        if isinstance(sub, keras.Model):
            try:
                return [sub.name, *_layer_path(sub, layer)]
            except ValueError:
                continue
    raise ValueError(f"No layer {layer!r} in model {model.name!r} (nested models searched too)")


def heatmap_grid(model: keras.Model, layer: str | None = None) -> tuple[int, int]:
    """The resolution Grad-CAM works at: the spatial size of the layer it reads (default the last convolutional
    layer). A 7 x 7 grid (MobileNetV2 at 224 px) gives blurrier heat-maps than the baseline's 64 x 64, which spill
    over a toy's edges and lower its focus score."""
    current = model
    for name in _layer_path(model, layer or find_last_conv_layer(model)):
        current = current.get_layer(name)
    shape = current.output.shape
    return int(shape[1]), int(shape[2])


def _single(tensors):
    return tensors[0] if isinstance(tensors, (list, tuple)) and len(tensors) == 1 else tensors


def _layer_input(layer, model):
    return _single(call_node(layer, model).input_tensors)


def _layer_output(layer, model):
    return _single(call_node(layer, model).output_tensors)


def _route(model: keras.Model, path: list[str], target) -> keras.Model:
    """A model from ``model``'s input to [activations of the layer at ``path``, ``target``] (a tensor of
    ``model``'s graph). For a nested path it is stitched from three parts: input -> nested model's input, the nested
    model's own route, and nested output -> target."""
    inputs = _single(functional_graph(model).inputs)
    layer = model.get_layer(path[0])
    if len(path) == 1:
        return keras.Model(inputs, [_layer_output(layer, model), target])
    inner = _route(layer, path[1:], _single(functional_graph(layer).outputs))
    sub_in, sub_out = _layer_input(layer, model), _layer_output(layer, model)
    x = keras.Input(shape=tuple(inputs.shape[1:]), name="gradcam_input")
    z = x if sub_in is inputs else keras.Model(inputs, sub_in)(x)
    activations, nested_out = inner(z)
    score = keras.Model(sub_out, target)(nested_out)
    return keras.Model(x, [activations, score])


def _score_head(model: keras.Model) -> tuple[object, Callable]:
    """The tensor to differentiate from and how to turn it into (class logits, probabilities).

    Write-up networks end with ``Activation('softmax')``: its input is the logits. Transfer models end with
    ``Dense(activation='softmax')``: the logits are recomputed from that layer's input, kernel and bias. Anything
    else falls back to the output probabilities."""
    output = _single(functional_graph(model).outputs)
    last = producing_layer(output)
    activation = getattr(last, "activation", None)
    is_softmax = activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"
    if isinstance(last, keras.layers.Activation) and is_softmax:
        return _layer_input(last, model), lambda pre: (pre, tf.nn.softmax(pre))
    if isinstance(last, keras.layers.Dense) and is_softmax:
        def dense_logits(pre):
            logits = tf.matmul(tf.cast(pre, tf.float32), tf.cast(last.kernel, tf.float32))  # a mixed policy's input
            if last.use_bias:
                logits = logits + last.bias
            return logits, tf.nn.softmax(logits)

        return _layer_input(last, model), dense_logits
    return output, lambda pre: (pre, pre)


def _gradcam(model: keras.Model, images: np.ndarray, layer: str | None = None, class_index=None,
             batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Heat-maps at the layer's resolution (N, h, w) in 0-1 and the model's probabilities (N, classes)."""
    layer = layer or find_last_conv_layer(model)
    target, to_scores = _score_head(model)
    grad_model = _route(model, _layer_path(model, layer), target)
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    if class_index is None or np.isscalar(class_index):
        indices = None if class_index is None else np.full(n, int(class_index))
    else:
        indices = np.asarray(class_index, dtype=int)
        if len(indices) != n:
            raise ValueError(f"{n} images but {len(indices)} class indices")
    heatmaps, probabilities = [], []
    for start in range(0, n, batch_size):
        x = tf.convert_to_tensor(images[start:start + batch_size])
        with tf.GradientTape() as tape:
            activations, pre = grad_model(x, training=False)
            logits, probs = to_scores(pre)
            logits = tf.cast(logits, tf.float32)
            chosen = tf.argmax(probs, axis=1, output_type=tf.int32) if indices is None else \
                tf.constant(indices[start:start + batch_size], dtype=tf.int32)
            score = tf.gather(logits, chosen, axis=1, batch_dims=1)
        grads = tape.gradient(score, activations)  # samples are independent (inference mode), so one call does all
        if grads is None:
            raise ValueError(f"The class score does not depend on layer {layer!r}; pick a layer before the output")
        # A network trained under a mixed policy (modelling.precision) has bfloat16/float16 activations: the average
        # gradient and the weighted sum are taken in float32 (the score already is).
        grads, activations = tf.cast(grads, tf.float32), tf.cast(activations, tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.reduce_sum(activations * weights[:, None, None, :], axis=-1)).numpy()
        peak = cam.reshape(len(cam), -1).max(axis=1)
        cam = np.where(peak[:, None, None] > 0, cam / np.where(peak > 0, peak, 1.0)[:, None, None], 0.0)
        heatmaps.append(np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32))
        probabilities.append(np.asarray(probs, dtype=np.float32))
    return np.concatenate(heatmaps), np.concatenate(probabilities)


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``heatmap`` (h, w) bilinearly resized to ``size`` (height, width), kept within 0-1."""
    height, width = size
    if heatmap.shape[:2] != (height, width):
        heatmap = cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(heatmap, nan=0.0), 0.0, 1.0).astype(np.float32)


def gradcam_heatmap(model: keras.Model, image_batch: np.ndarray, layer: str | None = None, class_index=None,
                    size: tuple[int, int] | None = None) -> np.ndarray:
    """Grad-CAM heat-map(s) in 0-1 at the image's size (or ``size``).

    ``image_batch``: preprocessed images (N, H, W, 3) — e.g. ``data.load_batch(files, ...)`` — or one image (H, W, 3),
    which returns one (H, W) map. ``layer``: a layer name (``"base/layer"`` inside a nested model); default the last
    convolutional layer. ``class_index``: the class to explain (one int, or one per image); default the predicted one.
    """
    images = np.asarray(image_batch, dtype=np.float32)
    single = images.ndim == 3
    if single:
        images = images[None]
    cams, _ = _gradcam(model, images, layer, class_index)
    size = tuple(size or images.shape[1:3])
    out = np.stack([resize_heatmap(c, size) for c in cams]) if len(cams) else np.zeros((0, *size), np.float32)
    return out[0] if single else out


# --------------------------------------------------------------------------------------------------------------------
# Overlay, masks and the object-focus score
# --------------------------------------------------------------------------------------------------------------------


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """The write-up's overlay: the heat-map coloured with OpenCV's JET map and blended over the image
    (``cv2.addWeighted``, weight ``alpha`` for the heat). RGB uint8 in and out; the heat-map is resized to fit."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    heat = resize_heatmap(np.asarray(heatmap), image.shape[:2])
    colored = cv2.applyColorMap(np.uint8(255 * heat), colormap)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 1.0 - alpha, colored, alpha, 0)


def _mask_weights(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    m = mask.astype(np.float32)
    if m.max() > 1.0:
        m = m / 255.0
    if m.shape != tuple(size):
        m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.clip(m, 0.0, 1.0)


def object_focus(heatmap: np.ndarray, mask: np.ndarray | None) -> float:
    """Share of the heat (0-1) inside the toy's mask: 1.0 = all on the toy, 0.0 = all on the background.
    NaN when there is no mask or no heat. The mask is scaled to the heat-map (area-averaged at the edges)."""
    if mask is None:
        return float("nan")
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0.0, None)
    total = heat.sum()
    if total <= 0:
        return float("nan")
    return float((heat * _mask_weights(mask, heat.shape[:2])).sum() / total)


def mask_area(mask: np.ndarray | None) -> float:
    """The toy's share of the frame (0-1): the focus score random heat would get."""
    if mask is None:
        return float("nan")
    return float(_mask_weights(mask, np.asarray(mask).shape[:2]).mean())


# --------------------------------------------------------------------------------------------------------------------
# Tables and the write-up's panel
# --------------------------------------------------------------------------------------------------------------------


# Where a model looks, in words: its focus ratio (below) against these cut-offs, the only ones the series uses.
FOCUS_ON_TOY = 2.0  # at least twice the heat chance would put on the toy: it looks at the toy
FOCUS_ON_SURROUNDINGS = 1.25  # less than a quarter above chance: it looks mostly at what surrounds the toy
FOCUS_RATIO_MEANING = "the share of the heat on the toy ÷ the toy's share of the frame, over the photos together"


def focus_ratio(cam: pd.DataFrame) -> float:
    """How many times chance a set of photos' heat lies on the toy: the mean focus over the mean toy area (a ratio of
    the means, ``FOCUS_RATIO_MEANING``), so that '51 % of the heat on toys covering 19 % of the frame' reads 2.7x. A
    mean of the per-photo ratios would not match the two means it is printed beside, and a few small toys would
    weigh most. Photos without a focus score (no outline, no heat) are left out; NaN when none is left."""
    scored = cam[cam["focus"].notna() & cam["mask_area"].notna()] if len(cam) else cam
    area = scored["mask_area"].mean() if len(scored) else float("nan")
    return float(scored["focus"].mean() / area) if area and area > 0 else float("nan")


def focus_verdict(ratio: float) -> str:
    """'looks at the toy', 'partly at the toy' or 'mostly at the surroundings', from ``focus_ratio``."""
    if pd.isna(ratio):
        return "no focus score"
    return ("looks at the toy" if ratio >= FOCUS_ON_TOY else
            "mostly at the surroundings" if ratio < FOCUS_ON_SURROUNDINGS else "partly at the toy")


def focus_by(cam: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of ``column`` (a class, a model): mean focus, mean toy area and their ``focus_ratio``."""
    rows = {key: {"focus": group["focus"].mean(), "mask_area": group["mask_area"].mean(),
                  "focus_ratio": focus_ratio(group)} for key, group in cam.groupby(column)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(column)


def gradcam_table(
    model,
    split=None,
    *,
    files: Sequence[str | Path] | None = None,
    labels=None,
    class_names: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    layer: str | None = None,
    class_index=None,
    batch_size: int = 16,
    masks: bool = True,
    return_heatmaps: bool = False,
    models_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
):
    """Grad-CAM for every photo of a split (or ``files``): one row per photo with the predictions dataframe's
    columns plus ``focus`` (share of heat on the toy), ``mask_area`` (toy's share of the frame) and ``focus_lift``
    (focus / mask_area: 1 = no better than chance). ``model`` may be a run name; images are read and preprocessed as
    in training. With ``return_heatmaps`` also returns the heat-maps (N, H, W) at the model's input size."""
    resolved = resolve_model(model, image_size=image_size, preprocessing=preprocessing, models_dir=models_dir)
    files, labels, class_names = files_and_labels(split, files, labels, class_names, resolved, data_dir)
    class_names = list(class_names or resolved.class_names or [])
    size = resolved.image_size
    rows, all_maps = [], []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        batch = load_batch(chunk, image_size=size, preprocessing=resolved.preprocessing)
        ci = class_index if class_index is None or np.isscalar(class_index) else class_index[start:start + len(chunk)]
        cams, probs = _gradcam(resolved.model, batch, layer, ci, batch_size)
        for i, path in enumerate(chunk):
            heat = resize_heatmap(cams[i], size)
            predicted = int(np.argmax(probs[i]))
            mask = load_mask(path, size) if masks else None
            focus, area = object_focus(heat, mask), mask_area(mask)
            row = {"path": str(path), "filename": Path(path).name}
            if labels is not None:
                actual = labels[start + i]
                row["actual_label"] = actual if isinstance(actual, str) else (
                    class_names[int(actual)] if class_names else str(int(actual)))
            row["predicted_label"] = class_names[predicted] if class_names else str(predicted)
            row["predicted_probability"] = float(probs[i, predicted])
            if labels is not None:
                row["correct"] = int(row["actual_label"] == row["predicted_label"])
            row.update(focus=focus, mask_area=area, focus_lift=focus / area if area and area > 0 else float("nan"))
            rows.append(row)
            if return_heatmaps:
                all_maps.append(heat)
    table = pd.DataFrame(rows)
    if class_names:
        table.attrs["class_names"] = class_names
    if return_heatmaps:
        maps = np.stack(all_maps) if all_maps else np.zeros((0, *size), np.float32)
        return table, maps
    return table


def gradcam_panel(
    model,
    image_path: str | Path,
    *,
    actual_label: str | None = None,
    class_names: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    layer: str | None = None,
    alpha: float = 0.4,
    save: bool = True,
    figures_dir: str | Path | None = None,
    filename: str | None = None,
    models_dir: str | Path | None = None,
):
    """The write-up's side-by-side figure: the photo | its Grad-CAM overlay, titled with the actual and predicted
    labels, the probability and (where a mask exists) the focus score. Saved to ``figures/`` as PNG unless
    ``save=False``; returns the Figure. ``actual_label`` defaults to the photo's folder name."""
    run_name = model if isinstance(model, str) else None
    resolved = resolve_model(model, image_size=image_size, preprocessing=preprocessing, class_names=class_names,
                             models_dir=models_dir)
    size = resolved.image_size
    image_path = Path(image_path)
    batch = load_batch([image_path], image_size=size, preprocessing=resolved.preprocessing)
    cams, probs = _gradcam(resolved.model, batch, layer)
    heat = resize_heatmap(cams[0], size)
    predicted = int(np.argmax(probs[0]))
    names = resolved.class_names
    predicted_label = names[predicted] if names else str(predicted)
    actual_label = actual_label if actual_label is not None else image_path.parent.name
    image = load_array(image_path, size)
    mask = load_mask(image_path, size)

    fig = new_figure(figsize=(10, 5.4))
    ax_image, ax_heat = fig.subplots(1, 2)
    ax_image.imshow(image)
    ax_image.set_title(f"Original ({actual_label})")
    ax_heat.imshow(overlay(image, heat, alpha))
    ax_heat.set_title(f"Grad-CAM at {layer or find_last_conv_layer(resolved.model)}")
    for ax in (ax_image, ax_heat):
        ax.axis("off")
    verdict = "correct" if predicted_label == actual_label else "wrong"
    title = f"actual: {actual_label} | predicted: {predicted_label} (p = {probs[0, predicted]:.2f}, {verdict})"
    if mask is not None:
        focus, area = object_focus(heat, mask), mask_area(mask)
        title += f"\nfocus on the toy {focus:.2f} — toy covers {area:.0%} of the frame ({focus / area:.1f}x chance)"
    fig.suptitle(title)
    if save:
        stem = filename or f"gradcam_{run_name + '_' if run_name else ''}{actual_label}_{image_path.stem}"
        save_figure(fig, stem, figures_dir)
    return fig


def layer_listing(model: keras.Model, layer: str | None = None, last: int = 8) -> pd.DataFrame:
    """The layers a Grad-CAM reads through, as the write-up listed them before choosing one: name, type and output
    shape of the top-level layers, with a nested base's last ``last`` layers in its place (a MobileNetV2 has 150),
    and the layer Grad-CAM reads (the last convolutional one unless ``layer`` is given) marked."""
    chosen = layer or find_last_conv_layer(model)
    rows = []
    for top in model.layers:
        if isinstance(top, keras.Model):
            inner = top.layers
            if len(inner) > last:
                rows.append({"layer": f"{top.name}/…", "type": f"{len(inner) - last} earlier layers of the base",
                             "output shape": ""})
            rows += [{"layer": f"{top.name}/{sub.name}", "type": type(sub).__name__,
                      "output shape": str(tuple(sub.output.shape))} for sub in inner[-last:]]
        else:
            rows.append({"layer": top.name, "type": type(top).__name__, "output shape": str(tuple(top.output.shape))})
    table = pd.DataFrame(rows)
    table["Grad-CAM reads"] = np.where(table["layer"].isin([chosen, chosen.split("/")[-1]]), "◀ this layer", "")
    return table.set_index("layer")


def save_overlays(cam: pd.DataFrame, heatmaps: np.ndarray, image_size: tuple[int, int], folder: str | Path,
                  alpha: float = 0.4) -> Path:
    """Write the Grad-CAM overlay of every photo of ``cam`` (a ``gradcam_table(..., return_heatmaps=True)``) to
    ``folder`` as ``<actual>__<photo>__as_<predicted>.jpg``, photo | overlay side by side, so a reader can leaf
    through all of them, not only the few a notebook shows. Stale overlays of an earlier run are replaced."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    for i, row in enumerate(cam.itertuples(index=False)):
        image = load_array(row.path, image_size)
        pair = np.concatenate([image, overlay(image, heatmaps[i], alpha)], axis=1)
        actual = getattr(row, "actual_label", "photo")
        name = f"{actual}__{Path(row.path).stem}__as_{row.predicted_label}.jpg"
        cv2.imwrite(str(folder / name), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return folder


__all__ = [
    "FOCUS_ON_SURROUNDINGS",
    "FOCUS_ON_TOY",
    "FOCUS_RATIO_MEANING",
    "find_last_conv_layer",
    "focus_by",
    "focus_ratio",
    "focus_verdict",
    "heatmap_grid",
    "layer_listing",
    "gradcam_heatmap",
    "gradcam_panel",
    "gradcam_table",
    "mask_area",
    "object_focus",
    "overlay",
    "resize_heatmap",
    "save_overlays",
]

"""Heatmaps computed in the same forward pass that makes the prediction, for a whole batch.

The model is split at the earliest heatmap layer: the convolutional base up to it runs once, then
the layers above it run under a GradientTape, so the explanation costs one backward pass through
the top of the network. The class explained is the predicted one, scored by its pre-softmax logit (a
saturated softmax would give near-zero gradients).

Each layer's map weights its activations by their gradients, either per location and channel
(LayerCAM: relu(gradient) x activation, summed over channels; the default) or per channel (Grad-CAM:
the channel's mean gradient). Maps of several layers are brought to twice the finest one's grid
(bilinear), scaled to a peak of 1 and fused by a weighted geometric mean, so a region is hot only
where every layer agrees: the coarse layer says which part of the face decided, the finer one where
exactly. The fused map is then upsampled once to the input size. Fusing on that grid (32 x 32 for
the shipped model) costs a 16th of the powers that fusing at the input size would, and looks the
same; on the finest grid itself a cell where the finer map is zero would leave a hole in the map.
A base computing in bfloat16 is fine: the heatmap arithmetic and the softmax run in float32.
"""

from __future__ import annotations

from typing import Literal, Sequence

import keras
import numpy as np
import tensorflow as tf

from maskdet.config import HEATMAP_LAYERS, LOGITS_LAYER
from maskdet.core.model import model_info

EPSILON = 1e-8
FUSION_GRID_SCALE = 2
"""Layer maps are fused on a grid this many times finer than the finest layer's (see above)."""
Weighting = Literal["location", "channel"]


class GradCam:
    """Batched prediction with optional class-activation heatmaps (see the module docstring).

    `layers`: (conv layer name, weight) pairs, in any order.
    """

    def __init__(self, model: keras.Model, layers: Sequence[tuple[str, float]] = HEATMAP_LAYERS,
                 weighting: Weighting = "location") -> None:
        info = model_info(model)
        self.input_size = info.input_size
        self.class_names = info.class_names
        self.temperature = info.temperature
        self.precision = info.precision
        self.weighting = weighting
        depth = {layer.name: position for position, layer in enumerate(model.layers)}
        layers = sorted(layers, key=lambda pair: depth[pair[0]])  # the model is split at the earliest
        names = [name for name, _ in layers]
        self._weights = [float(weight) for _, weight in layers]
        self.first_heatmap_layer = names[0]
        first = model.get_layer(names[0]).output
        self._base = keras.Model(model.input, first)
        self._upper = keras.Model(first, [model.get_layer(name).output for name in names[1:]]
                                  + [model.get_layer(LOGITS_LAYER).output])
        signature = [tf.TensorSpec([None, info.input_size, info.input_size, 3], tf.float32)]
        self._explain = tf.function(self._explain_batch, input_signature=signature)
        self._predict = tf.function(self._predict_batch, input_signature=signature)

    def _predict_batch(self, images: tf.Tensor) -> tf.Tensor:
        _, logits = self._run_upper(self._base(images, training=False))
        return self._probabilities(logits)

    def _explain_batch(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        first = self._base(images, training=False)
        with tf.GradientTape() as tape:
            tape.watch(first)
            later, logits = self._run_upper(first)
            predicted_logit = tf.reduce_max(logits, axis=1)
        activations = [first, *later]
        grads = tape.gradient(predicted_logit, activations)
        grid = _fusion_grid(activations)
        fused = None
        for activation, grad, weight in zip(activations, grads, self._weights):
            layer_map = self._layer_map(tf.cast(activation, tf.float32), tf.cast(grad, tf.float32))
            weighted = _power(_scaled_to_peak_one(_resized(layer_map, grid)), weight)
            fused = weighted if fused is None else fused * weighted
        size = (self.input_size, self.input_size)
        return self._probabilities(logits), _scaled_to_peak_one(_resized(fused, size))

    def _run_upper(self, first: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        """(the later heatmap layers' activations, logits) from the first heatmap layer's."""
        outputs = self._upper(first, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return outputs[:-1], outputs[-1]

    def _layer_map(self, activation: tf.Tensor, grad: tf.Tensor) -> tf.Tensor:
        """(N, h, w) map of one layer, before scaling."""
        if self.weighting == "channel":
            channel_weights = tf.reduce_mean(grad, axis=(1, 2), keepdims=True)
            return tf.nn.relu(tf.reduce_sum(channel_weights * activation, axis=-1))
        return tf.reduce_sum(tf.nn.relu(grad) * activation, axis=-1)

    def _probabilities(self, logits: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.cast(logits, tf.float32) / self.temperature)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, classes), for RGB 0-255 images at the model's input size."""
        return self._predict(tf.convert_to_tensor(images, tf.float32)).numpy()

    def explain(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, classes), heatmaps (N, size, size) in [0, 1] at the input size) in one pass."""
        probs, cams = self._explain(tf.convert_to_tensor(images, tf.float32))
        return probs.numpy(), cams.numpy()

    def trace_count(self) -> int:
        """How many graphs were traced (stays 1 per mode whatever the batch size)."""
        return self._explain.experimental_get_tracing_count() + self._predict.experimental_get_tracing_count()


def _fusion_grid(activations: Sequence[tf.Tensor]) -> tuple[int, int]:
    """Where layer maps are fused: FUSION_GRID_SCALE times the finest layer's grid; a single layer's
    own grid (its map is then upsampled once, as it is)."""
    height, width = max((int(a.shape[1]), int(a.shape[2])) for a in activations)
    scale = FUSION_GRID_SCALE if len(activations) > 1 else 1
    return scale * height, scale * width


def _resized(maps: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """(N, h, w) maps resized bilinearly (half-pixel centres, as cv2) to `size`; non-negative maps
    stay non-negative. Maps already of that size are returned as they are."""
    if (int(maps.shape[1]), int(maps.shape[2])) == tuple(size):
        return maps
    return tf.nn.relu(tf.image.resize(maps[..., None], size, method="bilinear")[..., 0])


def _power(maps: tf.Tensor, weight: float) -> tf.Tensor:
    return maps if weight == 1.0 else tf.pow(maps, weight)


def _scaled_to_peak_one(maps: tf.Tensor) -> tf.Tensor:
    return maps / (tf.reduce_max(maps, axis=(1, 2), keepdims=True) + EPSILON)

"""Grad-CAM computed in the same forward pass that makes the prediction, for a whole batch.

The model is split at the last conv layer: the convolutional base runs once, then only the small
head runs under a GradientTape, so the explanation costs one extra backward pass through the head.
The class explained is the predicted one, scored by its pre-softmax logit (a saturated softmax
would give near-zero gradients). A base computing in bfloat16 is fine: the heatmap arithmetic and
the softmax run in float32.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from maskdet.config import LAST_CONV_LAYER, LOGITS_LAYER
from maskdet.core.model import model_info

EPSILON = 1e-8


class GradCam:
    """Batched prediction with optional Grad-CAM heatmaps from `LAST_CONV_LAYER`."""

    def __init__(self, model: keras.Model, conv_layer: str = LAST_CONV_LAYER) -> None:
        info = model_info(model)
        self.input_size = info.input_size
        self.class_names = info.class_names
        self.temperature = info.temperature
        self.precision = info.precision
        conv = model.get_layer(conv_layer).output
        self._base = keras.Model(model.input, conv)
        self._head = keras.Model(conv, model.get_layer(LOGITS_LAYER).output)
        signature = [tf.TensorSpec([None, info.input_size, info.input_size, 3], tf.float32)]
        self._explain = tf.function(self._explain_batch, input_signature=signature)
        self._predict = tf.function(self._predict_batch, input_signature=signature)

    def _predict_batch(self, images: tf.Tensor) -> tf.Tensor:
        logits = self._head(self._base(images, training=False), training=False)
        return self._probabilities(logits)

    def _explain_batch(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        conv = self._base(images, training=False)
        with tf.GradientTape() as tape:
            tape.watch(conv)
            logits = self._head(conv, training=False)
            predicted_logit = tf.reduce_max(logits, axis=1)
        grads = tf.cast(tape.gradient(predicted_logit, conv), tf.float32)
        conv = tf.cast(conv, tf.float32)
        channel_weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(channel_weights * conv, axis=-1))
        cam = cam / (tf.reduce_max(cam, axis=(1, 2), keepdims=True) + EPSILON)
        return self._probabilities(logits), cam

    def _probabilities(self, logits: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.cast(logits, tf.float32) / self.temperature)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, 2), for RGB 0-255 images at the model's input size."""
        return self._predict(tf.convert_to_tensor(images, tf.float32)).numpy()

    def explain(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, 2), heatmaps (N, h, w) in [0, 1]) in one pass."""
        probs, cams = self._explain(tf.convert_to_tensor(images, tf.float32))
        return probs.numpy(), cams.numpy()

    def trace_count(self) -> int:
        """How many graphs were traced (stays 1 per mode whatever the batch size)."""
        return self._explain.experimental_get_tracing_count() + self._predict.experimental_get_tracing_count()

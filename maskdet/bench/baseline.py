"""What the product is compared with: the tutorial's naive Grad-CAM recipe and the bare forward pass."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from maskdet.config import LAST_CONV_LAYER, LOGITS_LAYER


class NaiveGradCam:
    """The tutorial recipe: `model.predict`, then a second model that returns the conv map and the
    logits, run again eagerly under a GradientTape (a second forward pass, then the backward pass)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.grad_model = keras.Model(model.input, [model.get_layer(LAST_CONV_LAYER).output,
                                                    model.get_layer(LOGITS_LAYER).output])

    def explain_one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, heatmap) for a single (1, s, s, 3) image."""
        probs = self.model.predict(image, verbose=0)
        with tf.GradientTape() as tape:
            conv, logits = self.grad_model(image)
            score = logits[:, int(np.argmax(probs[0]))]
        grads = tape.gradient(score, conv)
        weights = tf.reduce_mean(grads, axis=(0, 1, 2))
        cam = tf.nn.relu(tf.reduce_sum(conv[0] * weights, axis=-1)).numpy()
        return probs, cam / (cam.max() + 1e-8)


def bare_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """The model's own forward pass as one compiled graph, traced for the exact input shape: the
    fastest plain prediction TF offers here, hence the strictest baseline."""
    graph = tf.function(lambda x: model(x, training=False))
    return lambda images: graph(tf.convert_to_tensor(images, tf.float32)).numpy()

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from maskdet.config import LAST_CONV_LAYER, LOGITS_LAYER
from maskdet.core.gradcam import GradCam
from maskdet.core.model import ClassProbabilities
from tests.conftest import TINY_SIZE


def evidence_model() -> keras.Model:
    """A hand-wired model whose only evidence for 'mask' is red light: its conv map is
    relu(R - 128), so Grad-CAM must light up exactly where the red patch is."""
    inputs = keras.Input((TINY_SIZE, TINY_SIZE, 3))
    first = keras.layers.Conv2D(3, 1, name="block1_conv1", trainable=False)
    x = first(inputs)
    first.set_weights([np.eye(3, dtype="float32")[None, None], np.zeros(3, "float32")])
    middle = keras.layers.Conv2D(3, 1, activation="relu", name="block4_conv3", trainable=False)
    x = middle(x)
    middle.set_weights([np.eye(3, dtype="float32")[None, None], np.zeros(3, "float32")])
    conv = keras.layers.Conv2D(1, 1, activation="relu", name=LAST_CONV_LAYER)
    x = conv(x)
    conv.set_weights([np.array([1.0, 0.0, 0.0], "float32").reshape(1, 1, 3, 1), np.array([-128.0], "float32")])
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, name=LOGITS_LAYER)
    logits = dense(x)
    dense.set_weights([np.array([[-1.0, 1.0]], "float32"), np.array([2.0, 0.0], "float32")])
    return keras.Model(inputs, ClassProbabilities(name="probs")(logits))


@pytest.mark.parametrize("weighting", ["location", "channel"])
def test_heatmap_peaks_on_the_evidence(weighting):
    image = np.zeros((1, TINY_SIZE, TINY_SIZE, 3), "float32")
    image[0, 2:10, 20:30, 0] = 255.0
    probs, cams = GradCam(evidence_model(), weighting=weighting).explain(image)
    assert probs[0].argmax() == 1 and cams.shape == (1, TINY_SIZE, TINY_SIZE)
    row, col = np.unravel_index(cams[0].argmax(), cams[0].shape)
    assert 2 <= row < 10 and 20 <= col < 30
    assert cams[0].max() == pytest.approx(1.0, abs=1e-4)
    assert cams[0][20:, :10].max() == 0.0


def test_constant_image_gives_finite_zero_map():
    probs, cams = GradCam(evidence_model()).explain(np.full((2, TINY_SIZE, TINY_SIZE, 3), 40.0, "float32"))
    assert np.isfinite(cams).all() and np.isfinite(probs).all()
    assert cams.max() == 0.0


@pytest.mark.parametrize("batch_norm,layer", [(False, LAST_CONV_LAYER), (True, LAST_CONV_LAYER),
                                              (True, "block4_conv3")])
def test_matches_the_textbook_two_pass_grad_cam(batch_norm, layer):
    from maskdet.core.model import build_model

    tiny_model = build_model(TINY_SIZE, 1 / 16, batch_norm=batch_norm)
    images = np.random.default_rng(0).uniform(0, 255, (3, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    probs, cams = GradCam(tiny_model, [(layer, 1.0)], "channel").explain(images)
    grad_model = keras.Model(tiny_model.input,
                             [tiny_model.get_layer(layer).output, tiny_model.get_layer(LOGITS_LAYER).output])
    for i in range(len(images)):
        with tf.GradientTape() as tape:
            conv, logits = grad_model(images[i:i + 1])
            score = logits[0, int(tf.argmax(logits[0]))]
        grads = tape.gradient(score, conv)[0]
        expected = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(grads, axis=(0, 1)) * conv[0], axis=-1)).numpy()
        expected = cv2.resize(expected, (TINY_SIZE, TINY_SIZE), interpolation=cv2.INTER_LINEAR)
        expected = expected / (expected.max() + 1e-8)
        np.testing.assert_allclose(cams[i], expected, atol=1e-4)
    np.testing.assert_allclose(probs, tiny_model.predict(images, verbose=0), atol=1e-5)


def test_no_retracing_across_batch_sizes(tiny_model):
    engine = GradCam(tiny_model)
    for size in (1, 3, 8, 2, 5):
        engine.explain(np.zeros((size, TINY_SIZE, TINY_SIZE, 3), "float32"))
        engine.predict(np.zeros((size, TINY_SIZE, TINY_SIZE, 3), "float32"))
    assert engine.trace_count() == 2


def test_temperature_is_applied(tiny_model_file):
    from maskdet.core.model import load_model, set_temperature

    model = load_model(tiny_model_file)
    images = np.random.default_rng(2).uniform(0, 255, (4, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    logits = keras.Model(model.input, model.get_layer(LOGITS_LAYER).output).predict(images, verbose=0)
    set_temperature(model, 2.5)
    expected = tf.nn.softmax(logits / 2.5).numpy()
    np.testing.assert_allclose(GradCam(model).predict(images), expected, atol=1e-5)


def test_bfloat16_base_gives_float32_results_close_to_float32():
    from maskdet.core.model import build_model, inference_copy

    model = build_model(TINY_SIZE, 1 / 16)
    images = np.random.default_rng(3).uniform(0, 255, (4, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    reference, half = GradCam(model), GradCam(inference_copy(model, "bfloat16"))
    assert (reference.precision, half.precision) == ("float32", "bfloat16")
    probs, cams = half.explain(images)
    assert probs.dtype == cams.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert cams.min() >= 0.0 and cams.max() <= 1.0 + 1e-6
    expected_probs, expected_cams = reference.explain(images)
    np.testing.assert_allclose(probs, expected_probs, atol=0.03)
    np.testing.assert_allclose(half.predict(images), probs, atol=1e-6)
    assert np.abs(cams - expected_cams).mean() < 0.05


def test_layercam_fuses_layers_by_weighted_geometric_mean(tiny_model):
    """Two layers' maps, each the textbook LayerCAM brought to twice the finer layer's grid, fused
    as m4^0.2 * m5^0.8 there, then upsampled once to the input size."""
    images = np.random.default_rng(4).uniform(0, 255, (2, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    layers = [("block4_conv3", 0.2), (LAST_CONV_LAYER, 0.8)]
    _, fused = GradCam(tiny_model, layers).explain(images)
    np.testing.assert_allclose(GradCam(tiny_model, layers[::-1]).explain(images)[1], fused, atol=1e-6)  # any order
    grad_model = keras.Model(tiny_model.input, [tiny_model.get_layer(name).output for name, _ in layers]
                             + [tiny_model.get_layer(LOGITS_LAYER).output])
    for i in range(len(images)):
        with tf.GradientTape() as tape:
            *convs, logits = grad_model(images[i:i + 1])
            score = tf.reduce_max(logits[0])
        grid = tuple(2 * side for side in convs[0].shape[1:3])  # twice block4_conv3's, the finer grid
        expected = np.ones(grid, np.float32)
        for conv, grad, (_, weight) in zip(convs, tape.gradient(score, convs), layers):
            layer_map = tf.reduce_sum(tf.nn.relu(grad[0]) * conv[0], axis=-1).numpy()
            layer_map = np.maximum(cv2.resize(layer_map, grid[::-1], interpolation=cv2.INTER_LINEAR), 0)
            expected *= (layer_map / (layer_map.max() + 1e-8)) ** weight
        expected = cv2.resize(expected, (TINY_SIZE, TINY_SIZE), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(fused[i], expected / (expected.max() + 1e-8), atol=1e-3)


def test_one_layers_heatmap_is_its_map_upsampled_to_the_input_size(tiny_model):
    """With a single layer nothing is fused: the heatmap is that layer's map, upsampled once."""
    images = np.random.default_rng(5).uniform(0, 255, (1, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    _, cams = GradCam(tiny_model, [(LAST_CONV_LAYER, 1.0)]).explain(images)
    grad_model = keras.Model(tiny_model.input, [tiny_model.get_layer(LAST_CONV_LAYER).output,
                                                tiny_model.get_layer(LOGITS_LAYER).output])
    with tf.GradientTape() as tape:
        conv, logits = grad_model(images)
        score = tf.reduce_max(logits[0])
    layer_map = tf.reduce_sum(tf.nn.relu(tape.gradient(score, conv)[0]) * conv[0], axis=-1).numpy()
    expected = np.maximum(cv2.resize(layer_map, (TINY_SIZE, TINY_SIZE), interpolation=cv2.INTER_LINEAR), 0)
    np.testing.assert_allclose(cams[0], expected / (expected.max() + 1e-8), atol=1e-3)

"""The VGG16 mask classifier: one flat Keras graph with preprocessing and labels inside.

Callers feed RGB pixels in 0-255; the model applies VGG16's own preprocessing, runs the VGG16
convolutional base, a small head that produces two logits, and a temperature-scaled softmax.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import keras
import numpy as np
from keras import layers, ops

from maskdet.config import CLASS_NAMES, DEFAULT_INPUT_SIZE, HEATMAP_LAYERS, LAST_CONV_LAYER, LOGITS_LAYER, PROBS_LAYER

VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""(filters, conv layers) per block of VGG16; the width multiplier scales the filters."""

IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
HEAD_UNITS = 256
BASE_OUTPUT_LAYER = "block5_pool"

Weights = Union[str, Path, None]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but could not be obtained."""


class ModelFileError(RuntimeError):
    """A model file is missing, corrupt, or not a maskdet model."""


@keras.saving.register_keras_serializable(package="maskdet")
class VGG16Preprocess(layers.Layer):
    """VGG16's own input transform: RGB -> BGR, then subtract the ImageNet channel means."""

    def call(self, inputs):
        bgr = ops.flip(ops.cast(inputs, "float32"), axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype="float32")


@keras.saving.register_keras_serializable(package="maskdet")
class ClassProbabilities(layers.Layer):
    """Softmax of logits / temperature; also carries the label names and weights origin."""

    def __init__(
        self,
        temperature: float = 1.0,
        class_names: tuple[str, ...] = CLASS_NAMES,
        weights_origin: str = "none",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.class_names = tuple(class_names)
        self.weights_origin = str(weights_origin)

    def call(self, logits):
        return ops.softmax(logits / self.temperature, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "class_names": list(self.class_names),
            "weights_origin": self.weights_origin,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What a saved model knows about itself; read back with `model_info`."""

    input_size: int
    width: float
    batch_norm: bool
    class_names: tuple[str, ...]
    weights_origin: str
    temperature: float
    precision: str
    """Number format the convolutional base computes in: float32, or bfloat16 in a served copy."""


def build_model(
    input_size: int = DEFAULT_INPUT_SIZE,
    width: float = 1.0,
    weights: Weights = None,
    dropout: float = 0.5,
    batch_norm: bool = False,
    class_names: tuple[str, ...] = CLASS_NAMES,
) -> keras.Model:
    """Build the classifier. `weights`: None (random He-normal init), "imagenet", or a local path
    to a Keras VGG16 no-top weights file. Pretrained weights need width 1.0 and no batch norm.

    `batch_norm` adds BatchNormalization after every convolution (the "VGG16-BN" variant), which
    trains from scratch much faster; layer `blockB_convC` is still the activated feature map."""
    origin = _weights_origin(weights)
    if origin != "none" and (width != 1.0 or batch_norm):
        raise ValueError("pretrained VGG16 weights exist only for width 1.0 without batch norm")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    # Preprocessing and head always compute in float32; only the base follows the dtype policy.
    x = VGG16Preprocess(name="vgg16_preprocess", dtype="float32")(inputs)
    x = _pretrained_base(x, weights) if origin != "none" else _random_base(x, width, batch_norm)
    x = layers.GlobalAveragePooling2D(name="avg_pool", dtype="float32")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", kernel_initializer="he_normal", name="fc", dtype="float32")(x)
    x = layers.Dropout(dropout, name="dropout", dtype="float32")(x)
    logits = layers.Dense(len(class_names), name=LOGITS_LAYER, dtype="float32")(x)
    probs = ClassProbabilities(class_names=class_names, weights_origin=origin, name=PROBS_LAYER,
                               dtype="float32")(logits)
    return keras.Model(inputs, probs, name="maskdet_vgg16")


def _weights_origin(weights: Weights) -> str:
    if weights is None or str(weights).lower() == "none":
        return "none"
    if str(weights) == "imagenet":
        return "imagenet"
    return f"file:{Path(weights).name}"


def _random_base(x, width: float, batch_norm: bool):
    """The VGG16 topology with He-normal init (trains from scratch far better than Glorot)."""
    for block, (filters, convs) in enumerate(VGG16_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            name = f"block{block}_conv{conv}"
            filters_here = max(1, round(filters * width))
            if batch_norm:
                x = layers.Conv2D(filters_here, 3, padding="same", use_bias=False,
                                  kernel_initializer="he_normal", name=f"{name}_linear")(x)
                x = layers.BatchNormalization(name=f"{name}_bn")(x)
                x = layers.ReLU(name=name)(x)
            else:
                x = layers.Conv2D(filters_here, 3, padding="same", activation="relu",
                                  kernel_initializer="he_normal", name=name)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    return x


def _pretrained_base(x, weights: Weights):
    """Keras' VGG16 built on our tensor, so its layers join this graph flat."""
    if str(weights) != "imagenet" and not Path(weights).is_file():
        raise WeightsUnavailableError(f"VGG16 weights file not found: {weights}")
    try:
        base = keras.applications.VGG16(include_top=False, weights=str(weights), input_tensor=x)
    except Exception as err:  # the download raises several types (URLError, Exception)
        if str(weights) != "imagenet":
            raise WeightsUnavailableError(f"cannot load VGG16 weights from {weights}: {err}") from err
        raise WeightsUnavailableError(
            "could not download the ImageNet VGG16 weights (no internet?). Pass --weights PATH "
            "with a local copy of vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, or "
            f"--weights none to train from scratch. Cause: {err}"
        ) from err
    return base.output


def model_info(model: keras.Model) -> ModelInfo:
    """Read input size, width, labels, weights origin and temperature from the model itself."""
    probs = model.get_layer(PROBS_LAYER)
    return ModelInfo(
        input_size=int(model.input_shape[1]),
        width=model.get_layer("block1_conv1").output.shape[-1] / VGG16_BLOCKS[0][0],
        batch_norm=any(isinstance(layer, layers.BatchNormalization) for layer in model.layers),
        class_names=probs.class_names,
        weights_origin=probs.weights_origin,
        temperature=probs.temperature,
        precision=model.get_layer(LAST_CONV_LAYER).compute_dtype,
    )


def set_temperature(model: keras.Model, temperature: float) -> None:
    """Store a calibration temperature in the model (used by every later prediction)."""
    model.get_layer(PROBS_LAYER).temperature = float(temperature)


def inference_copy(model: keras.Model, precision: str = "float32") -> keras.Model:
    """An inference-only copy with the same outputs and feature maps: every BatchNormalization
    folded into the convolution before it (about 25% faster), and the convolutional base computing
    in `precision` ("float32" or "bfloat16"). Returns `model` itself when nothing changes."""
    info = model_info(model)
    if not info.batch_norm and precision == "float32":
        return model
    with _dtype_policy(precision):
        copy = build_model(info.input_size, info.width, batch_norm=False, class_names=info.class_names)
    for layer in copy.layers:
        if isinstance(layer, layers.Conv2D) and info.batch_norm:
            layer.set_weights(_folded_conv_weights(model, layer.name))
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    probs = copy.get_layer(PROBS_LAYER)
    probs.temperature, probs.class_names, probs.weights_origin = (
        info.temperature, info.class_names, info.weights_origin)
    return copy


def _folded_conv_weights(model: keras.Model, conv_name: str) -> list[np.ndarray]:
    """Kernel and bias of `conv_name` with its batch norm applied: scale the kernel, shift the bias."""
    (kernel,) = model.get_layer(f"{conv_name}_linear").get_weights()
    norm = model.get_layer(f"{conv_name}_bn")
    gamma, beta, mean, variance = norm.get_weights()
    scale = gamma / np.sqrt(variance + norm.epsilon)
    return [kernel * scale, beta - mean * scale]


@contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under Keras' global dtype policy `name`, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def set_base_trainable(model: keras.Model, trainable_blocks: tuple[str, ...]) -> None:
    """Freeze the convolutional base except the named blocks (e.g. ("block5",))."""
    for layer in model.layers:
        if layer.name.startswith("block"):
            layer.trainable = layer.name.split("_")[0] in trainable_blocks


def transfer_weights(source: keras.Model, target: keras.Model, new_class_bias: float = -2.0) -> None:
    """Copy every layer's weights from `source` to `target` (same topology). A target with more
    classes keeps the source's logits for the classes they share and starts each new class with the
    mean of their kernels and a low bias: it begins as the old model, rarely picking the new class."""
    names = {layer.name for layer in source.layers}
    for layer in target.layers:
        if not layer.weights or layer.name not in names:
            continue
        weights = source.get_layer(layer.name).get_weights()
        if layer.name == LOGITS_LAYER and weights[0].shape != layer.get_weights()[0].shape:
            weights = _widened_logits(*weights, layer.get_weights()[0].shape[1], new_class_bias)
        layer.set_weights(weights)


def _widened_logits(kernel: np.ndarray, bias: np.ndarray, classes: int, new_bias: float) -> list[np.ndarray]:
    if classes < kernel.shape[1]:
        raise ValueError(f"cannot start a {classes}-class head from a {kernel.shape[1]}-class one")
    extra = classes - kernel.shape[1]
    kernel = np.concatenate([kernel, np.repeat(kernel.mean(axis=1, keepdims=True), extra, axis=1)], axis=1)
    bias = np.concatenate([bias, np.full(extra, bias.mean() + new_bias, bias.dtype)])
    return [kernel, bias]


def save_model(model: keras.Model, path: Union[str, Path]) -> Path:
    """Save weights + config only (no optimizer state), atomically: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = keras.Model.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    tmp = path.with_name(path.stem + ".tmp.keras")
    clean.save(tmp)
    os.replace(tmp, path)
    return path


def load_model(path: Union[str, Path]) -> keras.Model:
    """Load a maskdet model (safe_mode on), or raise ModelFileError naming the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:
        raise ModelFileError(f"cannot load model file {path}: {err}") from err
    try:
        model_info(model)
        for name, _ in HEATMAP_LAYERS:
            model.get_layer(name)
        model.get_layer(LOGITS_LAYER)
    except (ValueError, AttributeError) as err:
        raise ModelFileError(f"{path} is not a maskdet model: {err}") from err
    return model

"""A stress set: held-out crops made harder in the ways real photos are, one condition at a time.

Every condition is deterministic, so two models are always compared on identical pixels.
Exposure is changed in linear light (sRGB decoded, scaled, re-encoded): "1/4 exposure" is two
photographic stops under, what a dim room does to a webcam, not a pixel value divided by four.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

LOW_RES_SIDE = 24
"""Low-resolution condition: the crop shrunk to this many pixels and scaled back up."""
BLUR_SIGMA = 2.0
ROTATION_DEG = 25.0


def _to_linear(image: np.ndarray) -> np.ndarray:
    srgb = image.astype(np.float32) / 255.0
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def exposure(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    """Scale the light by `factor` (0.25 = two stops under)."""
    return lambda image: _to_srgb(_to_linear(image) * factor)


def backlit(image: np.ndarray) -> np.ndarray:
    """A bright window behind the person: the centre at 1/4 of the light, the edges 1.5x brighter."""
    size = image.shape[0]
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    radius = np.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2) / np.sqrt(2.0)
    gain = 0.25 + 1.25 * radius ** 1.5
    return _to_srgb(_to_linear(image) * gain[:, :, None])


def blurred(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA)


def low_resolution(image: np.ndarray) -> np.ndarray:
    size = image.shape[0]
    small = cv2.resize(image, (LOW_RES_SIDE, LOW_RES_SIDE), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def greyscale(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def rotated(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def rotate(image: np.ndarray) -> np.ndarray:
        size = image.shape[0]
        matrix = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    return rotate


CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "dark (1/4 exposure)": exposure(0.25),
    "dark (1/8 exposure)": exposure(0.125),
    "backlit": backlit,
    f"blurred (sigma {BLUR_SIGMA:g} px)": blurred,
    f"low resolution ({LOW_RES_SIDE} px)": low_resolution,
    "greyscale": greyscale,
    f"rotated +{ROTATION_DEG:g} deg": rotated(ROTATION_DEG),
    f"rotated -{ROTATION_DEG:g} deg": rotated(-ROTATION_DEG),
}


def stress_images(images: np.ndarray, condition: str) -> np.ndarray:
    """`images` (N, S, S, 3) uint8 under one named condition."""
    change = CONDITIONS[condition]
    return np.stack([change(image) for image in images]) if len(images) else images

"""Training-time image changes that keep the label but break the shortcuts sources invite.

Each public source has a look (greyscale 48 px faces, dim webcams, tight aligned crops, stock
portraits) and several hold one class only, so a network can learn the look instead of the mask.
Every change here is applied to both classes, per image, with its own probability:

- eyewear: sunglasses or clear frames drawn over the eye line (one-class sources wear them);
- framing: zoom 25% in to 60% out, shift, rotate, mirror (tight crops vs the app's looser ones);
- exposure: strong under-exposure (down to about 1/8), gamma, backlight (dark face, bright edges);
- colour: hue and saturation shifts (masks come in every colour), greyscale;
- quality: blur, down-and-up resolution, JPEG re-compression, sensor noise;
- grey thumbnail: greyscale and 40-56 px together, the look of the greyscale expression sets
  (drawn apart, greyscale and low resolution meet in 6% of images only).
"""

from __future__ import annotations

import math
from functools import partial

import keras
import tensorflow as tf

P_DARK, P_BACKLIGHT, P_HUE, P_GREY = 0.3, 0.15, 0.3, 0.2
P_BLUR, P_LOW_RES, P_JPEG, P_NOISE = 0.2, 0.3, 0.3, 0.2
P_EYEWEAR, P_CLEAR_FRAMES = 0.15, 0.3
P_GREY_THUMBNAIL = 0.1
THUMBNAIL_SIDE = (40, 56)
MAX_ROTATION_DEG = 15.0
# Where the eyes sit in the app's crop (1.5x square around YuNet's box), as fractions of its side:
# the 5-95% range of YuNet's landmarks over the 21,577 training faces it found.
EYE_LINE, EYE_SPACING = (0.36, 0.46), (0.17, 0.29)


def augment_image(image: tf.Tensor, eyewear: float = P_EYEWEAR, grey_thumbnail: float = 0.0) -> tf.Tensor:
    """One float32 RGB image in 0-255 (H, W, 3) -> a randomly changed copy of the same size.
    `eyewear` is the chance of drawing glasses (0 gives the recipe without them), `grey_thumbnail`
    the chance of a greyscale 40-56 px copy."""
    image = _maybe(eyewear, add_eyewear, image)
    image = frame(image)
    image = _maybe(P_DARK, expose, image)
    image = _maybe(P_BACKLIGHT, backlight, image)
    image = _maybe(P_HUE, shift_colour, image)
    image = _maybe(P_GREY, greyscale, image)
    image = _maybe(P_BLUR, blur, image)
    image = _maybe(P_LOW_RES, lower_resolution, image)
    image = _maybe(P_JPEG, recompress, image)
    image = _maybe(P_NOISE, add_noise, image)
    image = _maybe(grey_thumbnail, make_grey_thumbnail, image)
    return tf.clip_by_value(image, 0.0, 255.0)


def _maybe(probability: float, change, image: tf.Tensor) -> tf.Tensor:
    return tf.cond(tf.random.uniform([]) < probability, lambda: change(image), lambda: image)


augment_without_eyewear = partial(augment_image, eyewear=0.0)
augment_with_grey_thumbnails = partial(augment_image, grey_thumbnail=P_GREY_THUMBNAIL)


def add_eyewear(image: tf.Tensor) -> tf.Tensor:
    """Sunglasses (dark tinted lenses) or, less often, clear frames (rims only) across the eye line,
    on both classes: dark lenses over the upper face must not read as a mask, and the sources have
    sunglasses on unmasked faces only."""
    size = tf.cast(tf.shape(image)[0], tf.float32)
    axis = (tf.range(size) + 0.5) / size
    x, y = axis[None, :], axis[:, None]
    eye_y = tf.random.uniform([], *EYE_LINE)
    centre_x = 0.5 + tf.random.uniform([], -0.04, 0.04)
    spacing = tf.random.uniform([], *EYE_SPACING)
    half_spacing = spacing / 2.0
    lens_w = spacing * tf.random.uniform([], 0.42, 0.56)
    lens_h = lens_w * tf.random.uniform([], 0.7, 1.0)
    radius = tf.minimum(
        tf.sqrt(((x - centre_x + half_spacing) / lens_w) ** 2 + ((y - eye_y) / lens_h) ** 2),
        tf.sqrt(((x - centre_x - half_spacing) / lens_w) ** 2 + ((y - eye_y) / lens_h) ** 2))
    rim = tf.cast(tf.abs(radius - 1.0) < 0.12, tf.float32)
    bridge = tf.cast((tf.abs(x - centre_x) < half_spacing) & (tf.abs(y - eye_y + 0.3 * lens_h) < 0.012), tf.float32)
    clear = tf.random.uniform([]) < P_CLEAR_FRAMES
    lens = tf.where(clear, 0.0, tf.cast(radius < 1.0, tf.float32) * tf.random.uniform([], 0.75, 1.0))
    cover = tf.clip_by_value(tf.maximum(tf.maximum(lens, rim), bridge), 0.0, 1.0)[:, :, None]
    colour = tf.random.uniform([], 5.0, 70.0) + tf.random.uniform([3], -20.0, 20.0)
    return image * (1.0 - cover) + tf.clip_by_value(colour, 0.0, 255.0) * cover


def frame(image: tf.Tensor) -> tf.Tensor:
    """Zoom (0.8-1.6 of the side), shift (+-8%), rotate and mirror, filling with reflections."""
    size = tf.cast(tf.shape(image)[0], tf.float32)
    zoom = tf.random.uniform([], 0.8, 1.6)
    angle = tf.random.uniform([], -MAX_ROTATION_DEG, MAX_ROTATION_DEG) * math.pi / 180.0
    shift = tf.random.uniform([2], -0.08, 0.08) * size
    flip = tf.where(tf.random.uniform([]) < 0.5, -1.0, 1.0)
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    centre = (size - 1.0) / 2.0
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotate and scale
    # about the centre, mirror x, then shift.
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    a2 = centre - a0 * centre - a1 * centre + shift[0]
    b2 = centre - b0 * centre - b1 * centre + shift[1]
    transform = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])
    return keras.ops.image.affine_transform(image, transform, interpolation="bilinear", fill_mode="reflect",
                                            data_format="channels_last")


def expose(image: tf.Tensor) -> tf.Tensor:
    """Under- or over-exposure (x 0.12-1.3) with a gamma change: dim rooms, night webcams."""
    gain = tf.exp(tf.random.uniform([], math.log(0.12), math.log(1.3)))
    gamma = tf.random.uniform([], 0.7, 1.6)
    return 255.0 * tf.pow(tf.clip_by_value(image / 255.0 * gain, 0.0, 1.0), gamma)


def backlight(image: tf.Tensor) -> tf.Tensor:
    """A window behind the person: the centre darkened to 20-60%, the edges brightened."""
    size = tf.shape(image)[0]
    axis = tf.linspace(-1.0, 1.0, size)
    radius = tf.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2) / math.sqrt(2.0)
    centre_gain = tf.random.uniform([], 0.2, 0.6)
    gain = centre_gain + (1.5 - centre_gain) * tf.pow(radius, 1.5)
    return image * gain[:, :, None] + 40.0 * radius[:, :, None]


def shift_colour(image: tf.Tensor) -> tf.Tensor:
    """Any hue, saturation x 0.4-1.6 (a mask's colour must not decide its class)."""
    rgb = image / 255.0
    rgb = tf.image.adjust_hue(rgb, tf.random.uniform([], -0.5, 0.5))
    rgb = tf.image.adjust_saturation(rgb, tf.random.uniform([], 0.4, 1.6))
    return rgb * 255.0


def greyscale(image: tf.Tensor) -> tf.Tensor:
    return tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))


def blur(image: tf.Tensor) -> tf.Tensor:
    """Gaussian blur, sigma 0.6-2.0 px (out of focus, motion), 7x7 taps, edges reflected.

    keras.ops.image.gaussian_blur pads with zeros (padding "SAME"): alone it darkened the outer
    pixels by up to 110 grey levels, a dark frame only blurred images would have. So the image is
    reflect-padded by the kernel's radius first and the padding cut off after."""
    sigma = tf.random.uniform([], 0.6, 2.0)
    padded = tf.pad(image, [[3, 3], [3, 3], [0, 0]], mode="REFLECT")
    blurred = keras.ops.image.gaussian_blur(padded, (7, 7), (sigma, sigma), data_format="channels_last")
    return blurred[3:-3, 3:-3]


def lower_resolution(image: tf.Tensor) -> tf.Tensor:
    """Shrink to 15-70% and scale back: small faces far from the camera, 46-48 px sources."""
    size = tf.shape(image)[:2]
    scale = tf.random.uniform([], 0.15, 0.7)
    small = tf.maximum(tf.cast(tf.cast(size, tf.float32) * scale, tf.int32), 8)
    return tf.image.resize(tf.image.resize(image, small, antialias=True), size)


def make_grey_thumbnail(image: tf.Tensor) -> tf.Tensor:
    """Greyscale, shrunk to a 40-56 px side and scaled back: a 48 px greyscale face photo."""
    size = tf.shape(image)[:2]
    side = tf.random.uniform([], THUMBNAIL_SIDE[0], THUMBNAIL_SIDE[1] + 1, dtype=tf.int32)
    small = tf.image.resize(greyscale(image), [side, side], antialias=True)
    return tf.image.resize(small, size, method="bicubic")


def recompress(image: tf.Tensor) -> tf.Tensor:
    """JPEG at quality 15-90 (web photos, screenshots of screenshots)."""
    quality = tf.random.uniform([], 15, 91, dtype=tf.int32)
    degraded = tf.image.adjust_jpeg_quality(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality)
    return tf.cast(tf.reshape(degraded, tf.shape(image)), tf.float32)


def add_noise(image: tf.Tensor) -> tf.Tensor:
    """Sensor noise, sigma 2-12 grey levels."""
    return image + tf.random.normal(tf.shape(image), stddev=tf.random.uniform([], 2.0, 12.0))

"""Generate the example gallery images in this folder from public-domain / CC0 photos.

The source photos ship inside the scikit-image wheel (see SOURCES.md for licences). scikit-image
is needed only to run this script, not by the app:

    pip install scikit-image
    python examples/make_examples.py

The masks are synthetic polygons placed with fixed face landmarks (measured once with the YuNet
detector, see ASTRONAUT_LANDMARKS), so the output is deterministic and needs no detector. If the
environment variable MASKDET_YUNET_PATH points to the YuNet ONNX file, the script also reports how
many faces the app's detector (maskdet.core.faces, its default operating point) finds in each image.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

OUT_DIR = Path(__file__).resolve().parent
JPEG_QUALITY = 88

Point = tuple[float, float]

# YuNet landmarks of skimage.data.astronaut() (512x512): right eye, left eye, nose tip,
# right mouth corner, left mouth corner (the subject's right is the image's left).
ASTRONAUT_LANDMARKS: dict[str, Point] = {
    "right_eye": (200.1, 101.8),
    "left_eye": (247.1, 102.6),
    "nose": (220.4, 124.5),
    "mouth_right": (198.6, 142.8),
    "mouth_left": (239.7, 143.6),
}

# Mask outline, right half, in face units: origin between the eyes, u towards the image's right,
# v downwards, 1 unit = distance between the eyes. Mirrored to give the left half.
MASK_HALF: list[Point] = [(0.0, 0.27), (0.45, 0.30), (0.92, 0.40), (1.02, 0.60), (0.98, 0.95),
                          (0.80, 1.28), (0.45, 1.52), (0.0, 1.62)]


UNDER_NOSE_DROP = 0.38
"""How far the under-the-nose example's mask is lowered (face units): its top edge ends below the
nose tip (v about 0.47) and above the mouth (v about 0.87)."""

ON_CHIN_DROP = 0.72
"""How far the on-the-chin example's mask is lowered (face units): its top edge ends just under the
lower lip (v about 0.99), leaving nose and mouth uncovered."""


def chaikin(points: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Smooth a closed polygon by Chaikin corner cutting."""
    for _ in range(iterations):
        nxt = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], axis=1).reshape(-1, 2)
    return points


def face_frame(landmarks: dict[str, Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin and the two axis vectors (pixels per face unit) of the face coordinate frame."""
    right, left = np.array(landmarks["right_eye"]), np.array(landmarks["left_eye"])
    ex = left - right
    ey = np.array([-ex[1], ex[0]])
    return (right + left) / 2, ex, ey


def to_image(uv: np.ndarray, frame: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Map face-unit points (N, 2) to image pixels (N, 2)."""
    origin, ex, ey = frame
    return origin + uv[:, :1] * ex + uv[:, 1:] * ey


def draw_mask(image: np.ndarray, landmarks: dict[str, Point], style: str = "surgical", drop: float = 0.0) -> np.ndarray:
    """Return a copy of an RGB image with a synthetic face mask over nose, mouth and chin.

    style "surgical": light-blue pleated mask with white ear loops;
    style "cloth": black fabric mask with a centre seam and black ear loops.
    `drop` lowers the whole mask by that many face units: 0.35 leaves the nose uncovered (a mask
    worn under the nose).
    """
    h, w = image.shape[:2]
    origin, ex, ey = face_frame(landmarks)
    frame = (origin + drop * ey, ex, ey)
    half = np.array(MASK_HALF)
    outline = np.concatenate([half, half[::-1][1:-1] * [-1, 1]])
    poly = to_image(chaikin(outline), frame)

    ss = 4  # supersampled alpha for smooth edges
    alpha = np.zeros((h * ss, w * ss), np.uint8)
    cv2.fillPoly(alpha, [np.round(poly * ss).astype(np.int32)], 255, cv2.LINE_AA)
    alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255

    # Per-pixel face coordinates, for shading that follows the face's curvature.
    origin, ex, ey = frame
    inv = np.linalg.inv(np.stack([ex, ey], axis=1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = np.tensordot(inv, np.stack([xx - origin[0], yy - origin[1]]), axes=1)
    shade = 1.0 - 0.28 * np.clip(np.abs(u) / 1.0, 0, 1) ** 2 - 0.06 * np.clip(v - 0.3, 0, 1.3)
    rng = np.random.default_rng(0)
    shade = shade + rng.normal(0, 0.012, shade.shape).astype(np.float32)

    if style == "surgical":
        base, loop = np.array([150, 200, 226], np.float32), (245, 245, 245)
        for centre in (0.68, 0.98, 1.26):  # horizontal pleats, bowed like the mask outline
            d = v - centre - 0.10 * u**2
            shade = shade - 0.16 * np.exp(-((d / 0.022) ** 2)) + 0.07 * np.exp(-(((d + 0.05) / 0.03) ** 2))
        shade = shade + 0.10 * np.exp(-(((v - 0.31 - 0.05 * u**2) / 0.025) ** 2))  # nose wire hem
    else:
        base, loop = np.array([38, 38, 42], np.float32), (25, 25, 28)
        shade = shade - 0.35 * np.exp(-((u / 0.025) ** 2))  # centre seam
        shade = shade + 0.35 * np.exp(-((v - 0.75) ** 2 / 0.15)) * np.exp(-((u - 0.35) ** 2 / 0.1))  # sheen

    # Soft contact shadow on the skin just outside the mask edge.
    sigma = 0.04 * float(np.linalg.norm(ex))
    shadow = cv2.GaussianBlur(alpha, (0, 0), sigma) * (1 - alpha)
    out = (image.astype(np.float32) * (1 - 0.45 * shadow[..., None])).astype(np.uint8)
    for top, bottom, ear in (((0.92, 0.42), (0.80, 1.28), (1.16, 0.45)),
                             ((-0.92, 0.42), (-0.80, 1.28), (-1.16, 0.45))):
        loop_pts = to_image(chaikin(np.array([top, ear, bottom]), 2)[:-2], frame)
        width = max(1, round(np.linalg.norm(ex) * 0.05))
        cv2.polylines(out, [np.round(loop_pts).astype(np.int32)], False, loop, width, cv2.LINE_AA)

    colour = np.clip(base[None, None, :] * shade[..., None], 0, 255)
    blended = out.astype(np.float32) * (1 - alpha[..., None]) + colour * alpha[..., None]
    return blended.round().astype(np.uint8)


def tile(image: np.ndarray, box: tuple[int, int, int, int], width: int, mirror: bool = False,
         gain: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Crop box (x0, y0, x1, y1), optionally mirror, resize to `width`, scale RGB channels by `gain`."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    crop = crop[:, ::-1] if mirror else crop
    height = round(width * (y1 - y0) / (x1 - x0))
    crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.clip(crop * np.array(gain, np.float32), 0, 255).astype(np.uint8)


def group_image(plain: np.ndarray, surgical: np.ndarray, cloth: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """A 800x520 photo wall of five portraits: three unmasked, two masked."""
    canvas = np.zeros((520, 800, 3), np.uint8)
    canvas[:] = np.linspace([222, 214, 200], [186, 176, 160], 520)[:, None, :].astype(np.uint8)
    head = (118, 18, 330, 268)  # head-and-shoulders crop of the astronaut
    portraits = [
        (tile(plain, head, 200), (30, 20)),
        (tile(surgical, head, 180, mirror=True, gain=(0.95, 1.0, 1.08)), (300, 40)),
        (tile(cloth, head, 210, gain=(1.08, 1.0, 0.9)), (555, 14)),
        (tile(camera, (120, 40, 320, 260), 200), (150, 285)),
        (tile(plain, head, 170, mirror=True, gain=(0.85, 0.95, 1.1)), (470, 300)),
    ]
    for img, (x, y) in portraits:
        ph, pw = img.shape[:2]
        canvas[y - 6:y + ph + 6, x - 6:x + pw + 6] = 250  # white print border
        canvas[y:y + ph, x:x + pw] = img
    return canvas


def count_faces(path: Path, model: str) -> int:
    """Number of faces the app's detector finds in an image file (its default operating point)."""
    sys.path.insert(0, str(OUT_DIR.parent))
    from maskdet.core.faces import FaceDetector

    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return len(FaceDetector(Path(model)).detect(rgb))


def main() -> None:
    """Write the gallery images and, if MASKDET_YUNET_PATH is set, report YuNet face counts."""
    astronaut = data.astronaut()
    surgical = draw_mask(astronaut, ASTRONAUT_LANDMARKS, "surgical")
    cloth = draw_mask(astronaut, ASTRONAUT_LANDMARKS, "cloth")
    camera = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB)
    images = {
        "astronaut_no_mask.jpg": astronaut,
        "astronaut_mask.jpg": surgical,
        "astronaut_black_mask.jpg": cloth,
        "astronaut_mask_under_nose.jpg": draw_mask(astronaut, ASTRONAUT_LANDMARKS, "surgical", drop=UNDER_NOSE_DROP),
        "astronaut_mask_on_chin.jpg": draw_mask(astronaut, ASTRONAUT_LANDMARKS, "surgical", drop=ON_CHIN_DROP),
        "group_mixed.jpg": group_image(astronaut, surgical, cloth, camera),
        "cameraman_no_mask.jpg": camera,
        "cat_no_face.jpg": data.chelsea(),
    }
    model = os.environ.get("MASKDET_YUNET_PATH")
    for name, rgb in images.items():
        path = OUT_DIR / name
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        faces = f", faces found by the app: {count_faces(path, model)}" if model else ""
        print(f"{name}: {rgb.shape[1]}x{rgb.shape[0]}, {path.stat().st_size // 1024} KB{faces}")


if __name__ == "__main__":
    main()

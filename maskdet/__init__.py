"""maskdet: VGG16 face-mask detection with per-face Grad-CAM explanations."""

from maskdet.config import CLASS_NAMES

__all__ = ["CLASS_NAMES"]
__version__ = "0.1.0"

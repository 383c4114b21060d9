"""Camera preprocessing: resize with OpenCV's area filter and normalise to roughly [-1, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def resize_and_normalize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Returns a (3, size, size) float32 image in [-1, 1]; ``rgb`` (H, W, 3) uint8 is not modified.

    >>> resize_and_normalize(np.full((4, 6, 3), 255, np.uint8), 2).shape
    (3, 2, 2)
    """
    # INTER_AREA averages the pixels a target pixel covers: no aliasing when shrinking a
    # 96x96 camera image to a 16-48 px token grid.
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)   # (size, size, 3) uint8
    scaled = resized.astype(np.float32) * (2.0 / 255.0) - 1.0
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))                   # (3, size, size)


@dataclass(frozen=True)
class CameraTransform:
    size: int = 48   # output side, pixels

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return resize_and_normalize(rgb, self.size)

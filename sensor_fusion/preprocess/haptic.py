"""Haptic preprocessing: a fixed-length, normalised wrench window, contact features, tactile grid."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Number of values :func:`contact_features` returns.
N_CONTACT_FEATURES = 4


def wrench_window(wrench: np.ndarray, length: int, force_scale_n: float, torque_scale_nm: float) -> np.ndarray:
    """The newest ``length`` samples of an (N, 6) wrench, scaled to O(1), zero-padded at the old end.

    >>> wrench_window(np.ones((2, 6)), 3, 2.0, 1.0)[:, 0].tolist()
    [0.0, 0.5, 0.5]
    """
    scale = np.array([force_scale_n] * 3 + [torque_scale_nm] * 3, dtype=np.float32)
    newest = wrench[-length:].astype(np.float32) / scale                 # (min(N, length), 6)
    window = np.zeros((length, 6), dtype=np.float32)
    window[length - len(newest):] = newest
    return window


def contact_features(wrench: np.ndarray, force_scale_n: float, torque_scale_nm: float) -> np.ndarray:
    """Features a contact controller looks at: mean and peak force, peak force jump, mean torque.

    Returns a (4,) float32 array, scaled like :func:`wrench_window`.
    """
    force = np.linalg.norm(wrench[:, :3], axis=1) / force_scale_n       # (N,)
    torque = np.linalg.norm(wrench[:, 3:], axis=1) / torque_scale_nm     # (N,)
    # An impact shows as a jump between consecutive samples, which the mean would hide.
    jump = np.abs(np.diff(force)).max() if len(force) > 1 else 0.0
    return np.array([force.mean(), force.max(), jump, torque.mean()], dtype=np.float32)


def tactile_grid(pressures: np.ndarray, size: int, scale: float) -> np.ndarray:
    """Resamples a taxel-pressure image of any resolution to (size, size), divided by ``scale``."""
    # INTER_AREA keeps the total pressure spread over the same area when a pad has more taxels.
    grid = cv2.resize(pressures.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return grid / np.float32(scale)


@dataclass(frozen=True)
class HapticTransform:
    window: int = 32              # wrench samples kept (newest)
    force_scale_n: float = 20.0   # force that maps to 1.0
    torque_scale_nm: float = 2.0  # torque that maps to 1.0

    def __call__(self, wrench: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (wrench_window(wrench, self.window, self.force_scale_n, self.torque_scale_nm),
                contact_features(wrench, self.force_scale_n, self.torque_scale_nm))

"""A DVS (event camera) emulated from frames: the per-pixel log-intensity contrast-threshold model.

As ESIM (Rebecq et al., CoRL 2018) and v2e (Hu et al., CVPR-W 2021) describe it: each pixel keeps
the log intensity at its last event; when the log intensity, linearly interpolated between two
frames, moves a contrast threshold away from it, the pixel emits an event of that sign at the
interpolated crossing time and its reference moves by one threshold. Per-pixel thresholds are
drawn once around the nominal ones (mismatch, sigma as a fraction); a pixel that fired is blind
for a refractory period (its crossings in that time are dropped, as in v2e, while its reference
still advances). Intensity goes through v2e's lin-log map (linear below ``linlog_threshold`` DN)
so dark-pixel noise does not explode in log space.

Vectorised in numpy over pixels and events; used by the embedded simulator and by
``event_emulator_node`` (frames from a robot or Gazebo camera in, events out).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..observation import EVENT_DTYPE


@dataclass(frozen=True)
class EventEmulatorConfig:
    contrast_pos: float = 0.2          # log-intensity step of an ON event (typical DVS: 0.15-0.3)
    contrast_neg: float = 0.2          # ... of an OFF event
    mismatch_sigma: float = 0.03       # per-pixel threshold spread (absolute, log units)
    refractory_s: float = 0.0005       # a pixel is blind this long after an event
    linlog_threshold: float = 20.0     # DN (of 255) below which intensity maps linearly
    max_events_per_pixel: int = 64     # per frame interval: a bound against a flash flooding memory
    seed: int = 0                      # threshold mismatch draw

    def __post_init__(self):
        for name in ('contrast_pos', 'contrast_neg', 'linlog_threshold'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        if self.mismatch_sigma < 0 or self.refractory_s < 0 or self.max_events_per_pixel < 1:
            raise ValueError('mismatch_sigma and refractory_s must be >= 0 and max_events_per_pixel >= 1')


def lin_log(intensity: np.ndarray, threshold: float = 20.0) -> np.ndarray:
    """v2e's lin-log map: log above ``threshold`` DN, the tangent line below it (continuous).

    >>> float(lin_log(np.array([20.0]))[0]) == math.log(20.0)
    True
    """
    x = intensity.astype(np.float64)
    linear = x * (math.log(threshold) / threshold)
    return np.where(x <= threshold, linear, np.log(np.maximum(x, threshold)))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 DN, ITU-R BT.601 weights (what a mono DVS roughly sees)."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


class EventEmulator:
    """Feed frames in time order with :meth:`frame`; each call returns the events since the previous."""

    def __init__(self, config: EventEmulatorConfig = EventEmulatorConfig()):
        self.config = config
        self._reference: Optional[np.ndarray] = None   # (H, W) log intensity at each pixel's last event
        self._previous: Optional[np.ndarray] = None    # (H, W) log intensity of the previous frame
        self._previous_t: Optional[int] = None
        self._last_event_t: Optional[np.ndarray] = None   # (H, W) int64 ns, -inf-like before any
        self._threshold_pos = self._threshold_neg = None

    @property
    def sensor_size(self) -> Optional[tuple[int, int]]:
        return None if self._reference is None else (self._reference.shape[1], self._reference.shape[0])

    def reset(self) -> None:
        self._reference = self._previous = self._previous_t = self._last_event_t = None

    def frame(self, intensity: np.ndarray, t_ns: int) -> np.ndarray:
        """(H, W) intensity in DN (or (H, W, 3) uint8 RGB) at ``t_ns`` -> EVENT_DTYPE events, t sorted."""
        if intensity.ndim == 3:
            intensity = luminance(intensity)
        c = self.config
        log_now = lin_log(intensity, c.linlog_threshold)                       # (H, W)
        if self._reference is None or self._reference.shape != log_now.shape:
            self._start(log_now, t_ns)
            return np.zeros(0, EVENT_DTYPE)
        if t_ns <= self._previous_t:
            raise ValueError(f'frames must come in time order: {t_ns} <= previous {self._previous_t}')
        events = np.concatenate([self._crossings(log_now, t_ns, +1), self._crossings(log_now, t_ns, -1)])
        self._previous, self._previous_t = log_now, t_ns
        return events[np.argsort(events['t'], kind='stable')]

    def _start(self, log_now: np.ndarray, t_ns: int) -> None:
        c = self.config
        rng = np.random.default_rng(c.seed)
        shape = log_now.shape
        self._threshold_pos = np.maximum(c.contrast_pos + c.mismatch_sigma * rng.standard_normal(shape), 0.01)
        self._threshold_neg = np.maximum(c.contrast_neg + c.mismatch_sigma * rng.standard_normal(shape), 0.01)
        self._reference, self._previous, self._previous_t = log_now.copy(), log_now, t_ns
        self._last_event_t = np.full(shape, np.iinfo(np.int64).min // 2, dtype=np.int64)

    def _crossings(self, log_now: np.ndarray, t_ns: int, sign: int) -> np.ndarray:
        c = self.config
        threshold = self._threshold_pos if sign > 0 else self._threshold_neg
        # Crossings of reference + k * threshold (k = 1..n) on the way from previous to now.
        # (1e-9: a change of exactly n thresholds must give n events despite float rounding)
        n = np.floor(sign * (log_now - self._reference) / threshold + 1e-9).astype(np.int64)   # (H, W)
        n = np.clip(n, 0, c.max_events_per_pixel)
        rows, cols = np.nonzero(n)
        if len(rows) == 0:
            return np.zeros(0, EVENT_DTYPE)
        counts = n[rows, cols]                                                   # (P,)
        pixel = np.repeat(np.arange(len(rows)), counts)                         # (E,) which pixel
        k = np.arange(len(pixel)) - np.repeat(np.cumsum(counts) - counts, counts) + 1   # (E,) 1..n
        start, end = self._previous[rows, cols], log_now[rows, cols]
        level = self._reference[rows, cols][pixel] + sign * k * threshold[rows, cols][pixel]
        # Linear interpolation in log intensity between the two frames gives each crossing's time.
        span = end[pixel] - start[pixel]
        fraction = np.where(span != 0, (level - start[pixel]) / np.where(span != 0, span, 1.0), 1.0)
        dt = t_ns - self._previous_t
        times_f = self._previous_t + np.clip(fraction, 0.0, 1.0) * dt                 # (E,) float ns
        self._reference[rows, cols] += sign * counts * threshold[rows, cols]   # reference advances for all
        # Crossings of one pixel in one interval are evenly spaced (linear interpolation, one threshold):
        # spacing = threshold / |change| * dt. With a refractory period r, the kept ones are the first
        # at or after (last event + r) and then every ceil(r / spacing)-th: exact, and vectorised.
        spacing = (threshold[rows, cols] / np.maximum(np.abs(end - start), 1e-12)) * dt   # (P,) ns
        refractory = self.config.refractory_s * 1e9
        last = self._last_event_t[rows, cols].astype(np.float64)                       # (P,)
        first_time = times_f[np.cumsum(counts) - counts]                               # (P,)
        first_kept = np.maximum(0, np.ceil((last + refractory - first_time) / spacing - 1e-9))
        stride = np.maximum(1, np.ceil(refractory / spacing - 1e-9))
        index = k - 1 - first_kept[pixel]
        keep = (index >= 0) & (np.mod(index, stride[pixel]) == 0)
        times = np.round(times_f).astype(np.int64)
        kept_last = np.full(len(rows), np.iinfo(np.int64).min // 2, dtype=np.int64)
        np.maximum.at(kept_last, pixel[keep], times[keep])
        self._last_event_t[rows, cols] = np.maximum(self._last_event_t[rows, cols], kept_last)
        events = np.empty(int(keep.sum()), EVENT_DTYPE)
        events['x'], events['y'] = cols[pixel[keep]], rows[pixel[keep]]
        events['t'], events['p'] = times[keep], 1 if sign > 0 else 0
        return events



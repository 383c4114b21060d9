"""Event-camera preprocessing: polarity frames and voxel grids over the tick's time window.

Both representations bin the window ``(stamp - window, stamp]`` rather than the span of the
events themselves (tonic's convention): a tick with one early event must not look like a tick
full of motion. Events outside the window are not part of the representation. Coordinates are
pooled from the sensor resolution onto a ``grid x grid`` raster, so cameras of any size feed
the same model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..observation import EVENT_DTYPE


def _window_slice(events: np.ndarray, stamp_ns: int, window_ns: int) -> np.ndarray:
    """The events with ``stamp - window < t <= stamp`` (a view when times are sorted, as in every Observation)."""
    start = stamp_ns - window_ns
    times = events['t']
    if len(times) > 1 and bool((times[1:] < times[:-1]).any()):
        return events[(times > start) & (times <= stamp_ns)]
    return events[np.searchsorted(times, start, side='right'):np.searchsorted(times, stamp_ns, side='right')]


@lru_cache(maxsize=16)
def _pooling_tables(sensor_size: tuple[int, int], grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Sensor column/row -> grid column/row (int32 lookup tables)."""
    width, height = sensor_size
    return ((np.arange(width, dtype=np.int32) * grid) // width, (np.arange(height, dtype=np.int32) * grid) // height)


def _window_coordinates(events: np.ndarray, sensor_size: tuple[int, int], stamp_ns: int, window_ns: int,
                        grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Selects the events inside the window; returns (time fraction in [0, 1), grid x, grid y, polarity)."""
    start = stamp_ns - window_ns
    chosen = _window_slice(events, stamp_ns, window_ns)
    # (t - start) / window lies in (0, 1]; the newest event is folded into the last bin below.
    fraction = (chosen['t'] - start).astype(np.float64) / window_ns
    width, height = sensor_size
    grid_x = (chosen['x'].astype(np.int32) * grid) // width
    grid_y = (chosen['y'].astype(np.int32) * grid) // height
    return fraction, grid_x, grid_y, chosen['p'].astype(np.int32)


def event_frames(events: np.ndarray, sensor_size: tuple[int, int], stamp_ns: int, window_ns: int,
                 bins: int, grid: int) -> np.ndarray:
    """Event counts per (time bin, polarity, row, column): a (bins, 2, grid, grid) float32 array.

    >>> from sensor_fusion.observation import make_events
    >>> ev = make_events([0, 3], [0, 3], [900, 1000], [1, 0])
    >>> frames = event_frames(ev, (4, 4), stamp_ns=1000, window_ns=1000, bins=2, grid=2)
    >>> float(frames[1, 1, 0, 0]), float(frames[1, 0, 1, 1])
    (1.0, 1.0)
    """
    chosen = _window_slice(events, stamp_ns, window_ns)
    # Integer arithmetic throughout (this runs every tick on ~30k events): bin = floor((t - start) *
    # bins / window), the newest event folded into the last bin; pixel pooling by lookup table.
    time_bin = np.minimum(((chosen['t'] - (stamp_ns - window_ns)) * bins) // window_ns, bins - 1).astype(np.int32)
    x_lut, y_lut = _pooling_tables(sensor_size, grid)
    flat = ((time_bin * 2 + chosen['p']) * grid + y_lut[chosen['y']]) * grid + x_lut[chosen['x']]
    counts = np.bincount(flat, minlength=bins * 2 * grid * grid).astype(np.float32)
    return counts.reshape(bins, 2, grid, grid)                              # (T, P, G, G)


def event_voxel_grid(events: np.ndarray, sensor_size: tuple[int, int], stamp_ns: int, window_ns: int,
                     bins: int, grid: int) -> np.ndarray:
    """Signed events spread bilinearly over time bins (Zhu et al. 2019): (bins, 1, grid, grid) float32.

    Times map to ``(bins - 1) * (t - start) / window`` as in Zhu et al., so the newest event lands
    wholly in the last bin. (``tonic.functional.to_voxel_grid_numpy`` scales by ``bins``, which
    drops the newest event, and it overwrites the caller's polarities; hence our own.)

    >>> from sensor_fusion.observation import make_events
    >>> grid = event_voxel_grid(make_events([0, 0], [0, 0], [500, 1000], [1, 0]), (1, 1), 1000, 1000, 3, 1)
    >>> grid[:, 0, 0, 0].tolist()
    [0.0, 1.0, -1.0]
    """
    fraction, gx, gy, polarity = _window_coordinates(events, sensor_size, stamp_ns, window_ns, grid)
    position = fraction * (bins - 1)
    left_bin = position.astype(np.int64)
    right_weight = position - left_bin
    sign = np.where(polarity > 0, 1.0, -1.0)
    voxels = np.zeros(bins * grid * grid, dtype=np.float64)
    pixel = gy * grid + gx
    for offset, weight in ((0, 1.0 - right_weight), (1, right_weight)):
        target = left_bin + offset
        ok = target < bins
        np.add.at(voxels, target[ok] * grid * grid + pixel[ok], (sign * weight)[ok])
    return voxels.astype(np.float32).reshape(bins, 1, grid, grid)          # (T, 1, G, G)


def denoise(events: np.ndarray, filter_time_ns: int) -> np.ndarray:
    """Drops isolated events (no neighbour within one pixel and ``filter_time_ns``), via tonic.

    Returns a new array; ``events`` is unchanged.
    """
    import tonic.functional
    if len(events) == 0:
        return events.copy()
    return tonic.functional.denoise_numpy(events.copy(), filter_time=filter_time_ns).astype(EVENT_DTYPE)


REPRESENTATIONS = {'frames': (event_frames, 2), 'voxel': (event_voxel_grid, 1)}


@dataclass(frozen=True)
class EventTransform:
    representation: str = 'frames'   # 'frames' (counts per polarity) or 'voxel' (signed, bilinear in time)
    window_ms: float = 32.0          # time window before the tick that is binned
    bins: int = 4                    # time bins in the window
    grid: int = 32                   # spatial raster side after pooling
    denoise_ms: float = 0.0          # tonic's denoise filter time; 0 disables it

    def __post_init__(self):
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f'representation must be one of {sorted(REPRESENTATIONS)}, got {self.representation!r}')

    @property
    def channels(self) -> int:
        return REPRESENTATIONS[self.representation][1]

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int], stamp_ns: int) -> np.ndarray:
        if self.denoise_ms > 0:
            events = denoise(events, int(self.denoise_ms * 1e6))
        build = REPRESENTATIONS[self.representation][0]
        return build(events, sensor_size, stamp_ns, int(self.window_ms * 1e6), self.bins, self.grid)

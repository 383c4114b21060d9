"""The ROS-free schema of what the robot sensed at one control tick.

Units: forces in newtons, torques in newton-metres, joint positions in radians, joint
velocities in rad/s, audio as float samples in [-1, 1], all times as int64 nanoseconds on one
clock (the ROS header clock in the nodes). Event timestamps ``t`` are int64 nanoseconds on that
same clock, not microseconds, so no conversion is needed between topics and the core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

#: The modalities in the order every mask and table uses.
MODALITIES: tuple[str, ...] = ('camera', 'wrench', 'tactile', 'audio', 'events', 'proprio')

#: One DVS event: pixel column/row, timestamp in ns (same clock as ``Observation.stamp_ns``), polarity 0/1.
EVENT_DTYPE = np.dtype([('x', '<u2'), ('y', '<u2'), ('t', '<i8'), ('p', 'u1')])


class ObservationError(ValueError):
    """A sensor value that cannot be used as it is; the message names the field and the problem."""


def make_events(x, y, t, p) -> np.ndarray:
    """Packs event columns into an ``EVENT_DTYPE`` array.

    >>> make_events([1, 2], [0, 3], [10, 20], [1, 0])['x'].tolist()
    [1, 2]
    """
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    events = np.empty(len(x), dtype=EVENT_DTYPE)
    events['x'], events['y'], events['t'], events['p'] = x, y, t, p
    return events


def _check_array(name: str, value: np.ndarray, ndim: int, dtype_kind: str, last_dim: Optional[int] = None,
                 finite: bool = True) -> None:
    if not isinstance(value, np.ndarray):
        raise ObservationError(f'{name} must be a numpy array, got {type(value).__name__}')
    if value.ndim != ndim or (last_dim is not None and value.shape[-1] != last_dim):
        want = f'{ndim}-D' + (f' with last dimension {last_dim}' if last_dim is not None else '')
        raise ObservationError(f'{name} must be {want}, got shape {value.shape}')
    if value.dtype.kind not in dtype_kind:
        raise ObservationError(f'{name} has dtype {value.dtype}, expected kind {dtype_kind!r}')
    if finite and value.dtype.kind == 'f' and not np.isfinite(value).all():
        raise ObservationError(f'{name} contains NaN or inf')
    if 0 in value.shape:
        raise ObservationError(f'{name} is empty (shape {value.shape}); pass None to mark it missing')


@dataclass(frozen=True)
class Observation:
    """Everything the policy sees at one control tick; ``None`` marks a modality as missing.

    Construction validates every field and raises :class:`ObservationError` naming the field, so
    a bad sensor value can never reach a model silently. The arrays are kept by reference and
    never written to by anything in this package.
    """

    stamp_ns: int                                   # the control tick this observation is aligned to
    rgb: Optional[np.ndarray] = None                # (H, W, 3) uint8, RGB order
    wrench: Optional[np.ndarray] = None             # (N, 6) float: Fx Fy Fz [N], Tx Ty Tz [N m]; oldest first
    wrench_stamps_ns: Optional[np.ndarray] = None   # (N,) int64, non-decreasing
    tactile: Optional[np.ndarray] = None            # (Ht, Wt) float taxel pressures
    audio: Optional[np.ndarray] = None              # (C, S) float samples in [-1, 1], oldest first
    audio_rate_hz: float = 16000.0                  # sample rate of ``audio``
    events: Optional[np.ndarray] = None             # EVENT_DTYPE, t non-decreasing; empty = no motion
    event_sensor_size: Optional[tuple[int, int]] = None  # (width, height) of the event camera, pixels
    joint_positions: Optional[np.ndarray] = None    # (J,) rad
    joint_velocities: Optional[np.ndarray] = None   # (J,) rad/s
    ages_s: Mapping[str, float] = field(default_factory=dict)  # seconds since each modality's last sample
    masked: frozenset = frozenset()                 # present modalities the caller declares invalid (stale)

    def __post_init__(self) -> None:
        if not isinstance(self.stamp_ns, (int, np.integer)) or self.stamp_ns < 0:
            raise ObservationError(f'stamp_ns must be a non-negative integer (ns), got {self.stamp_ns!r}')
        if self.rgb is not None:
            _check_array('rgb', self.rgb, 3, 'u', last_dim=3)
            if self.rgb.dtype != np.uint8:
                raise ObservationError(f'rgb must be uint8, got {self.rgb.dtype}')
        if self.wrench is not None:
            _check_array('wrench', self.wrench, 2, 'f', last_dim=6)
            if self.wrench_stamps_ns is None or len(self.wrench_stamps_ns) != len(self.wrench):
                raise ObservationError('wrench_stamps_ns must give one stamp per wrench sample')
            _check_array('wrench_stamps_ns', self.wrench_stamps_ns, 1, 'iu')
            if np.any(np.diff(self.wrench_stamps_ns) < 0):
                raise ObservationError('wrench_stamps_ns must be non-decreasing')
        if self.tactile is not None:
            _check_array('tactile', self.tactile, 2, 'f')
        if self.audio is not None:
            _check_array('audio', self.audio, 2, 'f')
            if not (self.audio_rate_hz > 0 and np.isfinite(self.audio_rate_hz)):
                raise ObservationError(f'audio_rate_hz must be positive, got {self.audio_rate_hz}')
        if self.events is not None:
            self._check_events()
        for name in ('joint_positions', 'joint_velocities'):
            value = getattr(self, name)
            if value is not None:
                _check_array(name, value, 1, 'f')
        if (self.joint_positions is None) != (self.joint_velocities is None) or (
                self.joint_positions is not None and self.joint_positions.shape != self.joint_velocities.shape):
            raise ObservationError('joint_positions and joint_velocities must be given together with equal length')
        bad_ages = {m: a for m, a in self.ages_s.items() if not (np.isfinite(a) and a >= 0)}
        if bad_ages:
            raise ObservationError(f'ages_s must be finite and >= 0 seconds, got {bad_ages}')
        unknown = (set(self.masked) | set(self.ages_s)) - set(MODALITIES)
        if unknown:
            raise ObservationError(f'unknown modality names {sorted(unknown)}; known: {", ".join(MODALITIES)}')

    def _check_events(self) -> None:
        events = self.events
        if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
            got = getattr(events, 'dtype', type(events).__name__)
            raise ObservationError(f'events must be an EVENT_DTYPE array, got {got}')
        if self.event_sensor_size is None:
            raise ObservationError('event_sensor_size (width, height) is required with events')
        width, height = self.event_sensor_size
        if width <= 0 or height <= 0:
            raise ObservationError(f'event_sensor_size must be positive, got {self.event_sensor_size}')
        if len(events) == 0:
            return
        if events['x'].max() >= width or events['y'].max() >= height:
            raise ObservationError(
                f'event coordinates out of range: max x={events["x"].max()}, max y={events["y"].max()} '
                f'for sensor size {width}x{height}')
        if events['p'].max() > 1:
            raise ObservationError(f'event polarity must be 0 or 1, got {events["p"].max()}')
        if np.any(np.diff(events['t']) < 0):
            raise ObservationError('event timestamps must be non-decreasing')

    def is_valid(self, modality: str) -> bool:
        """True when ``modality`` is present and not declared invalid by the caller."""
        return modality not in self.masked and getattr(self, _PRESENCE_FIELD[modality]) is not None

    @property
    def validity(self) -> tuple[bool, ...]:
        """One flag per entry of :data:`MODALITIES`."""
        return tuple(self.is_valid(m) for m in MODALITIES)


_PRESENCE_FIELD = {'camera': 'rgb', 'wrench': 'wrench', 'tactile': 'tactile', 'audio': 'audio',
                   'events': 'events', 'proprio': 'joint_positions'}

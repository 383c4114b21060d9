"""Event-camera packet codecs (ROS-free, vectorised numpy): Prophesee EVT3 and the ``mono`` layout.

These are the two encodings of ``event_camera_msgs/EventPacket`` the fusion node accepts.

* ``evt3``: little-endian 16-bit words, the code in the top 4 bits. ADDR_Y (0) sets y; ADDR_X (2)
  is one event at x with polarity bit 11; VECT_BASE_X (3) sets a base x and polarity, then
  VECT_12 (4) / VECT_8 (5) carry a bit mask of events at base+bit and advance the base by 12 / 8;
  TIME_LOW (6) and TIME_HIGH (8) carry 12 bits each of a 24-bit microsecond clock that wraps
  every 16.78 s. The decoder keeps its state across packets (y, base x, time), counts the wraps
  the way ``event_camera_codecs`` does (a TIME_HIGH more than 10 steps below the previous one),
  and drops events before the first full time, exactly like the reference decoder.
* ``mono``: 8 bytes per event, little-endian uint64: bits 0-31 time offset in ns from the
  message's ``time_base``, 32-47 x, 48-62 y, 63 polarity.

Sensor time is put on the header clock by anchoring the first decoded packet's first event at
the header stamp, and re-anchoring only when the two clocks drift apart by more than
``resync_s`` (so header jitter cannot make event times go backwards).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .observation import EVENT_DTYPE

ENCODINGS = ('evt3', 'mono')

_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8, _TIME_LOW, _TIME_HIGH = 0, 2, 3, 4, 5, 6, 8
_IGNORED = (7, 9, 10, 14, 15)   # CONTINUED_4, padding, EXT_TRIGGER, OTHERS, CONTINUED_12
_KNOWN = np.zeros(16, bool)
_KNOWN[[_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8, _TIME_LOW, _TIME_HIGH, *_IGNORED]] = True
_ROLLOVER = 1 << 24            # microseconds in one wrap of the 24-bit clock
_BITS = ((np.arange(4096)[:, None] >> np.arange(12)) & 1).astype(bool)   # (4096, 12): mask -> set bits
_ADVANCE = np.zeros(16, np.int32)
_ADVANCE[[_VECT_12, _VECT_8]] = 12, 8


class EventDecodeError(ValueError):
    """A packet that cannot be decoded (unknown encoding or code, truncated data)."""


@dataclass
class _Evt3State:
    y: int = 0
    base_x: int = 0
    polarity: int = 0
    time_high: int = 0          # (wraps << 24) | (high << 12), microseconds
    time_low: int = 0
    has_high: bool = False
    has_time: bool = False


class EventStreamDecoder:
    """Stateful decoder for one event topic (state must persist across packets for EVT3)."""

    def __init__(self, resync_s: float = 0.010):
        self.resync_ns = int(resync_s * 1e9)
        self._evt3 = _Evt3State()
        self._offset_ns: Optional[int] = None     # header clock - sensor clock
        self.resyncs = 0

    def decode(self, encoding: str, data, width: int, height: int, time_base_ns: int,
               header_stamp_ns: int) -> np.ndarray:
        """One packet -> EVENT_DTYPE events with ``t`` in ns on the header clock."""
        if width <= 0 or height <= 0:
            raise EventDecodeError(f'sensor size must be positive, got {width}x{height}')
        buffer = np.frombuffer(data, dtype=np.uint8)
        if encoding == 'evt3':
            x, y, t_sensor, p = self._decode_evt3(buffer, width, height)
        elif encoding == 'mono':
            x, y, t_sensor, p = _decode_mono(buffer, time_base_ns)
            inside = (x < width) & (y < height)
            x, y, t_sensor, p = x[inside], y[inside], t_sensor[inside], p[inside]
        else:
            raise EventDecodeError(f"unsupported event encoding '{encoding}'; supported: {', '.join(ENCODINGS)}")
        events = np.empty(len(x), EVENT_DTYPE)
        events['x'], events['y'], events['p'] = x, y, p
        if len(x):
            drift = header_stamp_ns - int(t_sensor[0]) - (self._offset_ns or 0)
            if self._offset_ns is None or abs(drift) > self.resync_ns:
                self.resyncs += self._offset_ns is not None
                self._offset_ns = header_stamp_ns - int(t_sensor[0])
            events['t'] = t_sensor + self._offset_ns
        return events

    def _decode_evt3(self, buffer: np.ndarray, width: int, height: int):
        if len(buffer) % 2:
            raise EventDecodeError(f'evt3 data must be whole 16-bit words, got {len(buffer)} bytes')
        words = buffer.view('<u2')
        n = len(words)
        code = words >> 12                                               # (N,) uint16
        if not _KNOWN[code].all():
            bad = sorted(np.unique(code[~_KNOWN[code]]).tolist())
            raise EventDecodeError(f'evt3 packet has unknown word codes {bad}')
        payload = (words & 0x0FFF).astype(np.int32)                     # (N,)
        s = self._evt3

        # Time: TIME_HIGH carries bits 12-23; count 24-bit wraps along the TIME_HIGH sequence.
        high_idx = np.flatnonzero(code == _TIME_HIGH)
        highs = payload[high_idx].astype(np.int64)
        previous = np.concatenate([[(s.time_high >> 12) & 0xFFF], highs[:-1]])
        wrapped = (highs < previous) & (previous - highs > 10)
        if not s.has_high and len(highs):
            wrapped[0] = False
        full_high = (s.time_high & ~(_ROLLOVER - 1)) + np.cumsum(wrapped) * _ROLLOVER + (highs << 12)
        low_idx = np.flatnonzero(code == _TIME_LOW)
        # Valid from the first TIME_LOW after a TIME_HIGH (the reference decoder's findValidTime).
        if s.has_time:
            first_valid = 0
        else:
            first_high = high_idx[0] if len(high_idx) else (-1 if s.has_high else n)
            after = low_idx[low_idx > first_high]
            first_valid = int(after[0]) if len(after) else n

        is_x = code == _ADDR_X
        is_vector = (code == _VECT_12) | (code == _VECT_8)
        x_rows = np.flatnonzero(is_x[first_valid:]) + first_valid
        v_rows = np.flatnonzero(is_vector[first_valid:]) + first_valid
        has_vectors = len(v_rows) > 0

        def last_before(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
            """For each row, the ordinal of the last marker in ``idx`` at or before it (-1: none)."""
            marks = np.full(n, -1, np.int32)
            marks[idx] = np.arange(len(idx), dtype=np.int32)
            return np.maximum.accumulate(marks)[rows] if n else marks

        # Event-carrying words in packet order (ADDR_X and vectors interleaved as they came).
        event_rows = np.flatnonzero((is_x | is_vector)[first_valid:]) + first_valid if has_vectors else x_rows
        h = last_before(high_idx, event_rows)
        lo = last_before(low_idx, event_rows)
        t_us = _gather(full_high, h, s.time_high) + _gather(payload[low_idx], lo, s.time_low)   # (R,) µs, wraps in
        y_idx = np.flatnonzero(code == _ADDR_Y)
        yy = last_before(y_idx, event_rows)
        y_rows = _gather(payload[y_idx] & 0x7FF, yy, s.y)

        if has_vectors:
            base_idx = np.flatnonzero(code == _VECT_BASE_X)
            # The base a vector word sees: the last VECT_BASE_X plus the advances of the vector words
            # in between (12 for VECT_12, 8 for VECT_8).
            advance = _ADVANCE[code]                                                 # (N,) int32
            advance_before = np.cumsum(advance, dtype=np.int32) - advance           # (N,) exclusive
            b = last_before(base_idx, event_rows)
            row_code = code[event_rows]
            row_payload = payload[event_rows]
            row_is_x = row_code == _ADDR_X
            base_at = np.where(row_is_x, row_payload & 0x7FF,                        # (R,) x of bit 0
                               _gather(payload[base_idx] & 0x7FF, b, s.base_x) + advance_before[event_rows]
                               - _gather(advance_before[base_idx], b, 0))
            p_row = np.where(row_is_x, (row_payload >> 11) & 1, _gather((payload[base_idx] >> 11) & 1, b, s.polarity))
            # Bit masks from a table: ADDR_X is one event at bit 0; VECT_8 uses its low 8 bits only.
            valid_bits = np.where(row_is_x, 1, np.where(row_code == _VECT_8, row_payload & 0xFF, row_payload))
            row_of, bit_of = np.nonzero(_BITS[valid_bits])                         # row-major = packet order
            x = base_at[row_of] + bit_of
            y, t, p = y_rows[row_of], t_us[row_of], p_row[row_of]
        else:   # the common sparse case: one event per ADDR_X word, already in order
            row_payload = payload[x_rows]
            x, p, y, t = row_payload & 0x7FF, (row_payload >> 11) & 1, y_rows, t_us
        inside = (x < width) & (y < height)
        if not inside.all():
            x, y, t, p = x[inside], y[inside], t[inside], p[inside]

        if n:   # carry the state into the next packet
            if len(y_idx):
                s.y = int(payload[y_idx[-1]] & 0x7FF)
            if has_vectors or (code == _VECT_BASE_X).any():
                base_idx = np.flatnonzero(code == _VECT_BASE_X)
                since = base_idx[-1] if len(base_idx) else -1
                start = payload[since] & 0x7FF if since >= 0 else s.base_x
                tail = code[since + 1:]
                s.base_x = int(start + 12 * np.count_nonzero(tail == _VECT_12) + 8 * np.count_nonzero(tail == _VECT_8))
                if since >= 0:
                    s.polarity = int((payload[since] >> 11) & 1)
            if len(high_idx):
                s.time_high, s.has_high = int(full_high[-1]), True
            if len(low_idx):
                s.time_low = int(payload[low_idx[-1]])
            s.has_time = s.has_time or first_valid < n
        return x.astype(np.uint16), y.astype(np.uint16), t * 1000, p.astype(np.uint8)


def _gather(values: np.ndarray, ordinal: np.ndarray, default: int) -> np.ndarray:
    """``values[ordinal]`` where ordinal >= 0, ``default`` where it is -1 (no marker yet)."""
    if len(values) == 0:
        return np.full(len(ordinal), default, np.int64)
    return np.where(ordinal >= 0, values[np.maximum(ordinal, 0)], default)


def _decode_mono(buffer: np.ndarray, time_base_ns: int):
    if len(buffer) % 8:
        raise EventDecodeError(f'mono data must be whole 8-byte events, got {len(buffer)} bytes')
    packed = buffer.view('<u8')
    t = (packed & 0xFFFFFFFF).astype(np.int64) + int(time_base_ns)
    x = ((packed >> 32) & 0xFFFF).astype(np.uint16)
    y = ((packed >> 48) & 0x7FFF).astype(np.uint16)
    p = (packed >> 63).astype(np.uint8)
    return x, y, t, p


def encode_mono(events: np.ndarray, time_base_ns: int) -> bytes:
    """EVENT_DTYPE -> ``mono`` bytes (offsets from ``time_base_ns`` must fit 32 bits)."""
    offsets = events['t'].astype(np.int64) - int(time_base_ns)
    if len(events) and (offsets.min() < 0 or offsets.max() >= 1 << 32):
        raise ValueError('mono time offsets must lie in [0, 2**32) ns after time_base')
    packed = (offsets.astype(np.uint64) | (events['x'].astype(np.uint64) << np.uint64(32))
              | (events['y'].astype(np.uint64) << np.uint64(48)) | (events['p'].astype(np.uint64) << np.uint64(63)))
    return packed.astype('<u8').tobytes()


def encode_evt3(events: np.ndarray, start_us: int = 0) -> bytes:
    """EVENT_DTYPE -> EVT3 words, one ADDR_X per event (sensor clock in µs = ``t`` // 1000 + ``start_us``).

    Emits TIME_HIGH / TIME_LOW when the time changes and ADDR_Y when the row changes. Written for
    tests, bag replay and benchmarks (a camera also emits vector words; the decoder handles both).
    """
    t_us = events['t'].astype(np.int64) // 1000 + start_us
    high, low = (t_us >> 12) & 0xFFF, t_us & 0xFFF
    y = events['y'].astype(np.int64)
    first = np.arange(len(events)) == 0
    new_high = first | (high != np.roll(high, 1))
    new_low = new_high | (low != np.roll(low, 1))
    new_y = first | (y != np.roll(y, 1))
    words = np.stack([(_TIME_HIGH << 12) | high, (_TIME_LOW << 12) | low, (_ADDR_Y << 12) | y,      # (N, 4)
                      (_ADDR_X << 12) | (events['p'].astype(np.int64) << 11) | events['x']], axis=1)
    emit = np.stack([new_high, new_low, new_y, np.ones(len(events), bool)], axis=1)             # (N, 4)
    return words[emit].astype('<u2').tobytes()

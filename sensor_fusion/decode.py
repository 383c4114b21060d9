"""ROS message -> numpy decoding (ROS-free: reads fields only, imports no message package).

The functions accept rclpy messages and the dataclasses ``rosbags`` decodes from bags alike: one
decoding for live topics, bag replay and training data. Each raises
:class:`ConversionError` whose ``reason`` is a short counter key for diagnostics
(``bad_encoding``, ``bad_size``, ``non_finite``...) and whose message says what was wrong.

Fallback wire formats (standard messages, for stacks without the dedicated packages):

* audio as ``sensor_msgs/Image``: encoding ``32FC1``, one row per channel, one column per
  sample, ``header.stamp`` = time of the first sample, samples in [-1, 1]; the sample rate is
  the fusion node's ``audio_sample_rate_hz`` parameter.
* events as ``sensor_msgs/PointCloud2``: ``height`` 1, ``width`` N, fields ``x`` ``y`` (UINT16),
  ``t`` (UINT32, nanoseconds after ``header.stamp``), ``p`` (UINT8, 1 = brighter); the sensor
  size is the node's ``event_sensor_width``/``event_sensor_height`` parameters.
"""
from __future__ import annotations

import numpy as np

from .event_codecs import EventDecodeError, EventStreamDecoder
from .observation import EVENT_DTYPE

NS_PER_S = 1_000_000_000
RGB_ENCODINGS = ('rgb8', 'bgr8', 'mono8')


class ConversionError(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)


def _image_rows(msg, channels: int, itemsize: int, name: str) -> np.ndarray:
    """The image bytes as (H, step) uint8 after checking width, height, step and length."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ConversionError('bad_size', f'{name}: empty image {width}x{height}')
    if step < width * channels * itemsize:
        raise ConversionError('bad_size', f'{name}: step {step} < width {width} x {channels * itemsize} bytes')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ConversionError('bad_size', f'{name}: {data.size} data bytes, expected step x height = {step * height}')
    return data.reshape(height, step)


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, mono8) -> (H, W, 3) uint8 RGB; other encodings are refused."""
    encoding = str(msg.encoding).lower()
    if encoding not in RGB_ENCODINGS:
        raise ConversionError('bad_encoding', f"camera encoding '{msg.encoding}' is not supported; "
                              f"publish one of {', '.join(RGB_ENCODINGS)} (e.g. via image_proc)")
    channels = 1 if encoding == 'mono8' else 3
    rows = _image_rows(msg, channels, 1, 'camera')
    pixels = rows[:, :int(msg.width) * channels].reshape(int(msg.height), int(msg.width), channels)  # (H, W, C)
    if encoding == 'mono8':
        return np.repeat(pixels, 3, axis=2)
    if encoding == 'bgr8':
        return np.ascontiguousarray(pixels[:, :, ::-1])
    return pixels


def image_to_float32(msg, name: str = 'image') -> np.ndarray:
    """sensor_msgs/Image 32FC1 -> (H, W) float32 (tactile pressures, audio fallback)."""
    if str(msg.encoding) != '32FC1':
        raise ConversionError('bad_encoding', f"{name}: encoding must be 32FC1, got '{msg.encoding}'")
    rows = _image_rows(msg, 1, 4, name)
    dtype = '>f4' if msg.is_bigendian else '<f4'
    values = rows[:, :int(msg.width) * 4].copy().view(dtype).astype(np.float32)   # (H, W)
    if not np.all(np.isfinite(values)):
        raise ConversionError('non_finite', f'{name}: NaN/inf values')
    return values


def audio_image_to_samples(msg) -> np.ndarray:
    """Audio fallback Image -> (C, S) float32 samples in [-1, 1]."""
    samples = image_to_float32(msg, 'audio')
    if np.abs(samples).max() > 1.0 + 1e-6:
        raise ConversionError('out_of_range', f'audio samples must lie in [-1, 1], max |x| = {np.abs(samples).max():.3g}')
    return samples


# audio_common_msgs (ROS 2, mgonzs13/audio_common) AudioStamped: header + Audio{audio: AudioData, info:
# AudioInfo{format, channels, rate, chunk}}; ``format`` is a PortAudio sample-format constant and the
# samples are interleaved in the matching typed array. (AudioDataStamped is not decoded: it carries
# no sample format or rate, and two incompatible definitions of it are in use.)
PORTAUDIO_FORMATS = {1: ('float32_data', 1.0), 2: ('int32_data', 1.0 / 2 ** 31), 4: ('int24_data', 1.0 / 2 ** 23),
                     8: ('int16_data', 1.0 / 2 ** 15), 16: ('int8_data', 1.0 / 2 ** 7), 32: ('uint8_data', None)}


def audio_stamped_to_samples(msg) -> tuple[np.ndarray, float]:
    """audio_common_msgs/AudioStamped -> ((C, S) float32 in [-1, 1], sample rate Hz)."""
    info, data = msg.audio.info, msg.audio.audio
    channels, rate, fmt = int(info.channels), float(info.rate), int(info.format)
    if fmt not in PORTAUDIO_FORMATS:
        raise ConversionError('bad_encoding', f'audio format {fmt} is not a PortAudio format; known: '
                              f'{sorted(PORTAUDIO_FORMATS)}')
    if channels < 1 or not rate > 0:
        raise ConversionError('bad_size', f'audio: channels={channels}, rate={rate}')
    field, scale = PORTAUDIO_FORMATS[fmt]
    raw = np.asarray(getattr(data, field))
    if raw.size == 0 or raw.size % channels:
        raise ConversionError('bad_size', f'audio: {raw.size} samples is not a positive multiple of {channels} channels')
    values = (raw.astype(np.float32) - 128.0) / 128.0 if scale is None else raw.astype(np.float32) * np.float32(scale)
    if not np.all(np.isfinite(values)) or np.abs(values).max() > 1.0 + 1e-6:
        raise ConversionError('out_of_range', 'audio: NaN/inf or samples outside [-1, 1]')
    return values.reshape(-1, channels).T.copy(), rate                           # (C, S), de-interleaved


def wrench_to_array(msg) -> np.ndarray:
    """geometry_msgs/WrenchStamped -> (6,) Fx Fy Fz [N] Tx Ty Tz [N m]."""
    f, t = msg.wrench.force, msg.wrench.torque
    values = np.array([f.x, f.y, f.z, t.x, t.y, t.z], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ConversionError('non_finite', 'wrench: NaN/inf')
    return values


def joint_state_to_arrays(msg, joint_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """sensor_msgs/JointState -> positions, velocities (J,) in ``joint_names`` order.

    With no ``joint_names`` the message order is used. A message without velocities gives zero
    velocities (many drivers publish positions only).
    """
    names = list(msg.name)
    positions = np.asarray(msg.position, dtype=np.float64)
    velocities = np.asarray(msg.velocity, dtype=np.float64)
    if len(positions) != len(names) or (len(velocities) not in (0, len(names))):
        raise ConversionError('bad_size', f'joint_states: {len(names)} names, {len(positions)} positions, '
                              f'{len(velocities)} velocities')
    if len(velocities) == 0:
        velocities = np.zeros_like(positions)
    if joint_names:
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in joint_names if n not in index]
        if missing:
            raise ConversionError('missing_joint', f'joint_states lacks joints {missing}')
        order = [index[n] for n in joint_names]
        positions, velocities = positions[order], velocities[order]
    if len(positions) == 0:
        raise ConversionError('bad_size', 'joint_states: no joints')
    if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(velocities))):
        raise ConversionError('non_finite', 'joint_states: NaN/inf')
    return positions, velocities


# sensor_msgs/PointField datatypes: UINT8 = 2, UINT16 = 4, UINT32 = 6
POINTCLOUD_FIELDS = (('x', 4, '<u2'), ('y', 4, '<u2'), ('t', 6, '<u4'), ('p', 2, 'u1'))
POINTCLOUD_DTYPE = np.dtype([(name, dtype) for name, _, dtype in POINTCLOUD_FIELDS])


def pointcloud2_to_events(msg, sensor_size: tuple[int, int]) -> np.ndarray:
    """Event PointCloud2 (module docstring) -> EVENT_DTYPE, ``t`` in ns on the header clock."""
    fields = {f.name: (int(f.offset), int(f.datatype)) for f in msg.fields}
    expected = {name: datatype for name, datatype, _ in POINTCLOUD_FIELDS}
    if set(fields) < set(expected) or any(fields[n][1] != d for n, d in expected.items()):
        raise ConversionError('bad_fields', f'events: need fields x,y (UINT16), t (UINT32), p (UINT8); got '
                              f'{ {n: d for n, (_, d) in fields.items()} }')
    count = int(msg.width) * int(msg.height)
    step = int(msg.point_step)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if msg.is_bigendian or step < 9 or data.size != count * step or int(msg.row_step) * int(msg.height) != data.size:
        raise ConversionError('bad_size', f'events: {data.size} bytes for {count} points of {step} bytes '
                              f'(row_step {msg.row_step}, big-endian {msg.is_bigendian})')
    layout = np.dtype({'names': list(expected), 'formats': [d for _, _, d in POINTCLOUD_FIELDS],
                       'offsets': [fields[n][0] for n in expected], 'itemsize': step})
    points = data.view(layout) if count else np.zeros(0, layout)
    events = np.empty(count, EVENT_DTYPE)
    events['x'], events['y'], events['p'] = points['x'], points['y'], points['p']
    events['t'] = stamp_ns(msg.header) + points['t'].astype(np.int64)
    _check_events(events, sensor_size)
    return events


def event_packet_to_events(msg, decoder: EventStreamDecoder) -> tuple[np.ndarray, tuple[int, int]]:
    """event_camera_msgs/EventPacket -> (EVENT_DTYPE on the header clock, (width, height))."""
    size = (int(msg.width), int(msg.height))
    try:
        events = decoder.decode(str(msg.encoding), msg.events, size[0], size[1], int(msg.time_base),
                                stamp_ns(msg.header))
    except EventDecodeError as error:
        raise ConversionError('bad_encoding', f'events: {error}') from error
    if len(events) and np.any(np.diff(events['t']) < 0):
        # EVT3 time can step back a few µs within a packet; order it rather than drop real events.
        events = events[np.argsort(events['t'], kind='stable')]
    _check_events(events, size)
    return events, size


def _check_events(events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    if len(events) == 0:
        return
    if events['x'].max() >= sensor_size[0] or events['y'].max() >= sensor_size[1]:
        raise ConversionError('out_of_range', f'events outside the {sensor_size[0]}x{sensor_size[1]} sensor')
    if events['p'].max() > 1:
        raise ConversionError('out_of_range', f'event polarity must be 0/1, got {events["p"].max()}')
    if np.any(np.diff(events['t']) < 0):
        raise ConversionError('unsorted', 'event times must be non-decreasing')


def diagnostic_values(msg) -> dict[str, str]:
    """DiagnosticStatus key/values as a dict (for tests, the benchmark and the runner)."""
    return {kv.key: kv.value for kv in msg.values}


class MessageIngest:
    """Decodes a message of one modality and pushes it into :class:`~sensor_fusion.ingest.SensorBuffers`.

    The single path from the wire to the buffers: the fusion node calls it from its subscriptions and
    the bag dataset loader calls it for every recorded message, so training sees exactly what the
    node would have aligned at run time. Returns the buffers' drop reason (or None); raises
    :class:`ConversionError` for a message that cannot be decoded.
    """

    def __init__(self, buffers, joint_names: tuple[str, ...] = (), audio_message: str = 'image',
                 audio_rate_hz: float = 16000.0, events_message: str = 'pointcloud2',
                 event_sensor_size: tuple[int, int] = (320, 240)):
        self.buffers, self.joint_names = buffers, tuple(joint_names)
        self.audio_rate_hz, self.event_sensor_size = audio_rate_hz, tuple(event_sensor_size)
        self.event_decoder = EventStreamDecoder()
        self.last_joint_positions = None
        audio = {'image': self._audio_image, 'audio_stamped': self._audio_stamped}
        events = {'pointcloud2': self._events_cloud, 'event_packet': self._event_packet}
        for name, value, known in (('audio_message', audio_message, audio), ('events_message', events_message, events)):
            if value not in known:
                raise ValueError(f"{name} must be one of {', '.join(known)}, got '{value}'")
        self._push = {'camera': self._camera, 'wrench': self._wrench, 'tactile': self._tactile,
                      'proprio': self._joints, 'audio': audio[audio_message], 'events': events[events_message]}

    def push(self, modality: str, msg, now_ns: int):
        return self._push[modality](msg, now_ns)

    def _camera(self, msg, now_ns):
        return self.buffers.push_camera(image_to_rgb(msg), stamp_ns(msg.header), now_ns)

    def _tactile(self, msg, now_ns):
        return self.buffers.push_tactile(image_to_float32(msg, 'tactile'), stamp_ns(msg.header), now_ns)

    def _wrench(self, msg, now_ns):
        return self.buffers.push_wrench(wrench_to_array(msg), stamp_ns(msg.header), now_ns)

    def _joints(self, msg, now_ns):
        positions, velocities = joint_state_to_arrays(msg, self.joint_names)
        reason = self.buffers.push_joints(positions, velocities, stamp_ns(msg.header), now_ns)
        if reason is None:
            self.last_joint_positions = positions
        return reason

    def _audio_image(self, msg, now_ns):
        return self.buffers.push_audio(audio_image_to_samples(msg), stamp_ns(msg.header), self.audio_rate_hz, now_ns)

    def _audio_stamped(self, msg, now_ns):
        samples, rate = audio_stamped_to_samples(msg)
        return self.buffers.push_audio(samples, stamp_ns(msg.header), rate, now_ns)

    def _events_cloud(self, msg, now_ns):
        events = pointcloud2_to_events(msg, self.event_sensor_size)
        return self.buffers.push_events(events, self.event_sensor_size, stamp_ns(msg.header), now_ns)

    def _event_packet(self, msg, now_ns):
        events, size = event_packet_to_events(msg, self.event_decoder)
        return self.buffers.push_events(events, size, stamp_ns(msg.header), now_ns)

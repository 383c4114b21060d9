"""Synthetic sensor streams at real rates, published as the fusion node's input topics.

Used by ``sensor-fusion bench ros`` and the ROS integration tests, so the node can be exercised
at realistic message rates and sizes without a robot or a simulator. Payloads are generated once
and re-stamped on every publication (generation must not limit the rate being measured).
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, PointCloud2

from ..observation import make_events
from . import conversions as conv
from .qos import HIGH_RATE_SENSOR_QOS, SENSOR_QOS


@dataclass(frozen=True)
class StreamRates:
    """Defaults are the ROS-layer benchmark's rates."""

    camera_hz: float = 30.0
    camera_size: tuple[int, int] = (320, 240)   # width, height
    wrench_hz: float = 500.0
    tactile_hz: float = 0.0                     # 0 = not published
    audio_chunk_s: float = 0.010
    audio_rate_hz: float = 16000.0
    events_packet_s: float = 0.001
    events_per_s: float = 1_000_000.0
    event_sensor_size: tuple[int, int] = (320, 240)
    joints_hz: float = 500.0
    joint_names: tuple[str, ...] = tuple(f'joint_{i + 1}' for i in range(6))

    def streams(self) -> dict[str, float]:
        """Stream name -> period in seconds (streams with rate 0 left out)."""
        def period(hz: float) -> float:
            return 1.0 / hz if hz > 0 else 0.0
        periods = {'camera': period(self.camera_hz), 'wrench': period(self.wrench_hz), 'tactile': period(self.tactile_hz),
                   'audio': self.audio_chunk_s, 'events': self.events_packet_s if self.events_per_s > 0 else 0.0,
                   'proprio': period(self.joints_hz)}
        return {name: value for name, value in periods.items() if value > 0}


class SyntheticSensors:
    """Publishes every stream of ``rates`` on ``node``; call :meth:`publish_due` in a loop."""

    def __init__(self, node: Node, rates: StreamRates = StreamRates(), seed: int = 0, silenced: tuple[str, ...] = ()):
        self.node, self.rates = node, rates
        rng = np.random.default_rng(seed)
        self.silenced = set(silenced)
        width, height = rates.camera_size
        self._frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        self._tactile = rng.random((8, 8)).astype(np.float32)
        samples = int(round(rates.audio_chunk_s * rates.audio_rate_hz))
        self._audio = (0.1 * np.sin(2 * np.pi * 440 * np.arange(samples) / rates.audio_rate_hz))[None].astype(np.float32)
        n_events = int(rates.events_per_s * rates.events_packet_s)
        ew, eh = rates.event_sensor_size
        offsets = np.sort(rng.integers(0, int(rates.events_packet_s * 1e9), n_events))
        self._event_template = make_events(rng.integers(0, ew, n_events), rng.integers(0, eh, n_events), offsets,
                                           rng.integers(0, 2, n_events))
        self._cloud = conv.events_to_pointcloud2(self._event_template, 0)
        self.publishers = {
            'camera': node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS),
            'wrench': node.create_publisher(WrenchStamped, 'wrist/wrench', HIGH_RATE_SENSOR_QOS),
            'tactile': node.create_publisher(Image, 'tactile/image', SENSOR_QOS),
            'audio': node.create_publisher(Image, 'audio', HIGH_RATE_SENSOR_QOS),
            'events': node.create_publisher(PointCloud2, 'events', HIGH_RATE_SENSOR_QOS),
            'proprio': node.create_publisher(JointState, 'joint_states', HIGH_RATE_SENSOR_QOS),
        }
        self.sent = {name: 0 for name in self.publishers}
        self.last_publish_ns: dict[str, int] = {}   # perf_counter_ns of the newest publication per stream
        self._queue: list[tuple[float, str]] = []
        self._periods = rates.streams()
        self._start = None
        self._events_end = 0
        self.last_stamp_ns = 0   # header clock stamp of the newest publication (any stream)

    def start(self) -> None:
        self._start = time.perf_counter()
        self._queue = [(self._start, name) for name in self._periods]
        heapq.heapify(self._queue)

    def publish_due(self, now: float) -> float:
        """Publishes every stream due at ``now`` (perf_counter s); returns the next due time."""
        if self._start is None:
            self.start()
        while self._queue and self._queue[0][0] <= now:
            due, name = heapq.heappop(self._queue)
            if name not in self.silenced:
                self._publish(name)
            heapq.heappush(self._queue, (due + self._periods[name], name))
        return self._queue[0][0] if self._queue else now + 0.01

    def _publish(self, name: str) -> None:
        stamp = self.node.get_clock().now().nanoseconds
        if name == 'camera':
            msg = conv.rgb_to_image(self._frame, stamp)
        elif name == 'wrench':
            phase = self.sent[name] * 0.01
            msg = conv.wrench_msg([np.sin(phase), 0.0, -2.0 + np.cos(phase), 0.0, 0.01, 0.0], stamp)
        elif name == 'tactile':
            msg = conv.float32_to_image(self._tactile, stamp, 'tactile')
        elif name == 'audio':
            # Stamp = first sample; the chunk ends now.
            msg = conv.samples_to_audio_image(self._audio, stamp - int(self.rates.audio_chunk_s * 1e9))
        elif name == 'events':
            # Packets tile time like a camera's: each starts where the previous ended (never before
            # now minus one period), so event times never go back; re-stamping keeps the bytes.
            period_ns = int(self.rates.events_packet_s * 1e9)
            start = max(self._events_end, stamp - period_ns)
            self._events_end = start + period_ns
            msg = self._cloud
            msg.header.stamp = conv.time_msg(start)
        else:
            n = len(self.rates.joint_names)
            msg = conv.joint_state_msg(self.rates.joint_names, np.full(n, 0.1), np.zeros(n), stamp)
        self.publishers[name].publish(msg)
        self.last_stamp_ns = stamp
        self.sent[name] += 1
        self.last_publish_ns[name] = time.perf_counter_ns()

    def subscribers_matched(self) -> bool:
        return not self.unmatched()

    def unmatched(self) -> list[str]:
        """The streamed topics no subscriber has matched yet."""
        return [name for name, pub in self.publishers.items() if name in self._periods and pub.get_subscription_count() == 0]

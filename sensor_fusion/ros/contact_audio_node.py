"""``contact_audio_node``: wrist wrench in, microphone audio out (for robots and Gazebo without one).

Each ``wrist/wrench`` sample advances :class:`sensor_fusion.sim.contact_audio.ContactAudio` by the
time since the previous sample with the contact normal force (the force magnitude): force jumps
ring as impacts, silence stays silence (plus the microphone noise floor). Scraping needs the slip
speed, which a wrench alone does not give; the embedded simulator supplies it from its contacts.
Publishes ``audio`` in the fusion node's fallback format (sensor_msgs/Image 32FC1, one row,
``header.stamp`` = first sample) in chunks of ``chunk_s``.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import Image

from ..sim.contact_audio import ContactAudio, ContactAudioConfig
from . import conversions as conv
from .qos import HIGH_RATE_SENSOR_QOS
from .spin import spin_node

MAX_GAP_S = 0.1   # a longer silence in the wrench stream restarts the audio clock instead of filling it


class ContactAudioNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('contact_audio', **node_kwargs)
        rate = float(self.declare_parameter('sample_rate_hz', 16000.0).value)
        self.chunk_samples = int(round(float(self.declare_parameter('chunk_s', 0.01).value) * rate))
        self.audio = ContactAudio(ContactAudioConfig(
            sample_rate_hz=rate, impact_gain=float(self.declare_parameter('impact_gain', 0.02).value),
            noise_floor=float(self.declare_parameter('noise_floor', 3e-4).value)))
        self.distance_m = float(self.declare_parameter('distance_m', 0.5).value)
        self.dropped = 0
        self._rate = rate
        self._pending: list[np.ndarray] = []
        self._pending_start: Optional[int] = None      # stamp of the first pending sample
        self._previous_stamp: Optional[int] = None
        self._publisher = self.create_publisher(Image, 'audio', HIGH_RATE_SENSOR_QOS)
        self.create_subscription(WrenchStamped, 'wrist/wrench', self._on_wrench, HIGH_RATE_SENSOR_QOS)

    def _on_wrench(self, msg: WrenchStamped) -> None:
        stamp = conv.stamp_ns(msg.header)
        try:
            wrench = conv.wrench_to_array(msg)
        except conv.ConversionError as error:
            self.dropped += 1
            self.get_logger().warning(f'dropped wrench ({self.dropped} so far): {error}', throttle_duration_sec=5.0)
            return
        previous, self._previous_stamp = self._previous_stamp, stamp
        if previous is None or not 0 < stamp - previous <= MAX_GAP_S * 1e9:
            self._pending, self._pending_start = [], None      # first sample, a gap, or time went back
            return
        samples = self.audio.render((stamp - previous) / 1e9, float(np.linalg.norm(wrench[:3])),
                                    distance_m=self.distance_m)
        if self._pending_start is None:
            self._pending_start = previous
        self._pending.append(samples)
        pending = np.concatenate(self._pending)
        while len(pending) >= self.chunk_samples:
            chunk, pending = pending[:self.chunk_samples], pending[self.chunk_samples:]
            self._publisher.publish(conv.samples_to_audio_image(chunk[None], self._pending_start, 'microphone'))
            self._pending_start += int(round(self.chunk_samples * 1e9 / self._rate))
        self._pending = [pending]


def main(args: Optional[list[str]] = None) -> int:
    return spin_node(ContactAudioNode, args)


if __name__ == '__main__':
    sys.exit(main(sys.argv))

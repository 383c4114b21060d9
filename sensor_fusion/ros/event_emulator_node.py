"""``event_emulator_node``: camera frames in, DVS events out (for robots and Gazebo without an event camera).

Subscribes ``camera/image_raw`` (rgb8/bgr8/mono8) and publishes ``events`` as the event
PointCloud2 that fusion_node reads; each packet holds the events between two frames, stamped at
the earlier frame (so every offset is >= 0). The model is :mod:`sensor_fusion.sim.event_emulator`.
Events are only as fine in time as the frames: feed it a high-rate camera (250-500 Hz in the
embedded simulator) for DVS-like timing; at 30 Hz it gives 30 Hz bursts. Set fusion_node's
``event_sensor_width``/``event_sensor_height`` to the camera's size.
"""
from __future__ import annotations

import sys
from typing import Optional

from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2

from ..sim.event_emulator import EventEmulator, EventEmulatorConfig
from . import conversions as conv
from .qos import HIGH_RATE_SENSOR_QOS, SENSOR_QOS
from .spin import spin_node


class EventEmulatorNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('event_emulator', **node_kwargs)
        defaults = EventEmulatorConfig()

        def declare(name, text, low, high):
            descriptor = ParameterDescriptor(description=text, floating_point_range=[
                FloatingPointRange(from_value=low, to_value=high)])
            return float(self.declare_parameter(name, float(getattr(defaults, name)), descriptor).value)
        config = EventEmulatorConfig(
            contrast_pos=declare('contrast_pos', 'log-intensity step of an ON event', 0.01, 2.0),
            contrast_neg=declare('contrast_neg', 'log-intensity step of an OFF event', 0.01, 2.0),
            mismatch_sigma=declare('mismatch_sigma', 'per-pixel threshold spread (log units)', 0.0, 1.0),
            refractory_s=declare('refractory_s', 'pixel blind time after an event, s', 0.0, 1.0),
            seed=int(self.declare_parameter('seed', 0).value))
        self.emulator = EventEmulator(config)
        self.dropped = 0
        self._previous_stamp: Optional[int] = None
        self._publisher = self.create_publisher(PointCloud2, 'events', HIGH_RATE_SENSOR_QOS)
        self.create_subscription(Image, 'camera/image_raw', self._on_image, SENSOR_QOS)

    def _on_image(self, msg: Image) -> None:
        stamp = conv.stamp_ns(msg.header)
        try:
            rgb = conv.image_to_rgb(msg)
            if self._previous_stamp is not None and stamp <= self._previous_stamp:
                raise conv.ConversionError('stamp_went_back', f'frame stamp {stamp} <= previous {self._previous_stamp}')
            events = self.emulator.frame(rgb, stamp)
        except (conv.ConversionError, ValueError) as error:
            self.dropped += 1
            self.get_logger().warning(f'dropped frame ({self.dropped} so far): {error}', throttle_duration_sec=5.0)
            return
        if self._previous_stamp is not None:
            self._publisher.publish(conv.events_to_pointcloud2(events, self._previous_stamp, msg.header.frame_id))
        self._previous_stamp = stamp


def main(args: Optional[list[str]] = None) -> int:
    return spin_node(EventEmulatorNode, args)


if __name__ == '__main__':
    sys.exit(main(sys.argv))

"""``synthetic_sensors_node``: every input topic of fusion_node from generated data at real rates.

For bring-up checks with no robot (``sensor-fusion up synthetic``). Parameters set the rates;
``silence`` lists streams to leave out (to watch the watchdog halt or degrade).
"""
from __future__ import annotations

import sys
import time
from typing import Optional

from rclpy.node import Node

from .spin import spin_node
from .synthetic_sensors import StreamRates, SyntheticSensors


class SyntheticSensorsNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('synthetic_sensors', **node_kwargs)
        defaults = StreamRates()
        rates = StreamRates(
            camera_hz=self.declare_parameter('camera_hz', defaults.camera_hz).value,
            wrench_hz=self.declare_parameter('wrench_hz', defaults.wrench_hz).value,
            tactile_hz=self.declare_parameter('tactile_hz', 30.0).value,
            events_per_s=self.declare_parameter('events_per_s', defaults.events_per_s).value,
            joints_hz=self.declare_parameter('joints_hz', defaults.joints_hz).value)
        silenced = tuple(s for s in self.declare_parameter('silence', ['']).value if s)
        self.sensors = SyntheticSensors(self, rates, seed=self.declare_parameter('seed', 0).value, silenced=silenced)


def main(args: Optional[list[str]] = None) -> int:
    def publish_due(node: SyntheticSensorsNode) -> float:
        return node.sensors.publish_due(time.perf_counter()) - time.perf_counter()
    return spin_node(SyntheticSensorsNode, args, step=publish_due)


if __name__ == '__main__':
    sys.exit(main(sys.argv))

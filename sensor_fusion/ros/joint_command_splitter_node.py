"""``joint_command_splitter_node``: one Float64MultiArray of joint velocities -> one Float64 per joint.

Gazebo's JointController takes one velocity topic per joint (``arm/<joint>/cmd_vel``, bridged as
std_msgs/Float64); the fusion node's ``joint_velocity`` interface publishes all joints in one
Float64MultiArray, as ros2_control's forward command controllers take it. A message of the wrong
length or with NaN/inf is dropped and counted (the joints keep their last command, which Gazebo's
controllers hold); the fusion node publishes zeros on halt and shutdown.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Float64, Float64MultiArray

from ..interfaces import COMMAND_TOPICS
from ..sim.gazebo import joint_command_topic
from .qos import COMMAND_QOS
from .spin import spin_node


class JointCommandSplitterNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('joint_command_splitter', **node_kwargs)
        self.joint_names = [n for n in self.declare_parameter('joint_names', ['']).value if n]
        if not self.joint_names:
            raise ValueError('joint_command_splitter_node needs joint_names')
        self.dropped = 0
        self.pubs = [self.create_publisher(Float64, joint_command_topic(j), COMMAND_QOS) for j in self.joint_names]
        self.create_subscription(Float64MultiArray, COMMAND_TOPICS['joint_velocity'][0], self._on_command, COMMAND_QOS)

    def _on_command(self, msg: Float64MultiArray) -> None:
        values = np.asarray(msg.data, dtype=np.float64)
        if values.shape != (len(self.pubs),) or not np.all(np.isfinite(values)):
            self.dropped += 1
            self.get_logger().warning(f'dropped command of {values.size} values (want {len(self.pubs)} finite); '
                                      f'{self.dropped} so far', throttle_duration_sec=5.0)
            return
        for publisher, value in zip(self.pubs, values):
            publisher.publish(Float64(data=float(value)))


def main(args: Optional[list[str]] = None) -> int:
    return spin_node(JointCommandSplitterNode, args)


if __name__ == '__main__':
    sys.exit(main(sys.argv))

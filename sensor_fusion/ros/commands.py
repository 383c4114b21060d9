"""Command interfaces on the wire: topic, message type and message building per ``command_interface``.

Keyed by the same launch strings as :data:`sensor_fusion.safety.COMMAND_SPACES` (which scales and
limits the numbers); this registry only turns the limited numbers into messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from geometry_msgs.msg import TwistStamped
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from ..interfaces import COMMAND_TOPICS
from ..registry import Registry
from . import conversions as conv


@dataclass(frozen=True)
class CommandContext:
    """What a message needs besides the numbers."""

    stamp_ns: int
    frame_id: str
    joint_names: tuple[str, ...]
    joint_positions: Optional[np.ndarray]   # newest joint state (trajectories integrate from it)
    horizon_s: float                        # trajectory point time_from_start


@dataclass(frozen=True)
class CommandOutput:
    topic: str
    msg_type: type
    to_msg: Callable[[np.ndarray, CommandContext], object]


COMMAND_OUTPUTS: Registry = Registry('command_interface')
COMMAND_OUTPUTS.register('twist')(CommandOutput(
    COMMAND_TOPICS['twist'][0], TwistStamped, lambda command, c: conv.twist_msg(command, c.stamp_ns, c.frame_id)))
COMMAND_OUTPUTS.register('joint_velocity')(CommandOutput(
    COMMAND_TOPICS['joint_velocity'][0], Float64MultiArray, lambda command, c: conv.joint_velocity_msg(command)))
COMMAND_OUTPUTS.register('joint_trajectory')(CommandOutput(
    COMMAND_TOPICS['joint_trajectory'][0], JointTrajectory,
    lambda command, c: conv.joint_trajectory_msg(command, c.joint_positions, c.joint_names, c.stamp_ns,
                                                 c.horizon_s)))

"""Watches a running fusion node from outside: commands, diagnostics, episode results (``make demo``)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from std_msgs.msg import String

from ..interfaces import EPISODE_RESULT_TOPIC

from .conversions import diagnostic_values
from .qos import COMMAND_QOS, DIAGNOSTICS_QOS


@dataclass
class Watched:
    commands: list = field(default_factory=list)        # (arrival perf_counter s, (6,) twist)
    diagnostics: dict = field(default_factory=dict)     # newest fusion_node status key/values
    message: str = ''
    episodes: list = field(default_factory=list)        # sim_node episode results (dicts)


def watch(seconds: float, started=None) -> Watched:
    """Listens on ``cmd_twist`` and ``/diagnostics`` for ``seconds`` after the first command
    (or 60 s without one); ``started()`` returning False aborts (the node died)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('sensor_fusion_watch', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    seen = Watched()

    def on_twist(msg: TwistStamped) -> None:
        lin, ang = msg.twist.linear, msg.twist.angular
        seen.commands.append((time.perf_counter(), np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z])))

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith('sensor_fusion/'):
                seen.diagnostics, seen.message = diagnostic_values(status), status.message
    node.create_subscription(TwistStamped, 'cmd_twist', on_twist, COMMAND_QOS)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, DIAGNOSTICS_QOS)
    node.create_subscription(String, EPISODE_RESULT_TOPIC[0], lambda m: seen.episodes.append(json.loads(m.data)),
                             DIAGNOSTICS_QOS)
    try:
        deadline = time.perf_counter() + 60
        while not seen.commands and time.perf_counter() < deadline and (started is None or started()):
            executor.spin_once(timeout_sec=0.05)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and (started is None or started()):
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return seen

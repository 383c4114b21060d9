"""``sim_node``: the embedded MuJoCo world as a ROS 2 robot (the topics of :mod:`sensor_fusion.interfaces`).

Publishes every sensor stream with header stamps on the node's clock and frame ids, obeys
``cmd_twist`` (TwistStamped, tool-tip twist in the base frame) and ``cmd_joint_velocity``
(Float64MultiArray in ``joint_names`` order), resets episodes on ``~/reset`` (std_srvs/Trigger; the
message names the seed and the target) and reports each finished episode on ``episode_result``
(std_msgs/String, JSON: seed, target, outcome, time_s, peak_force_n, events).

Time: ``real_time_factor`` 1.0 paces the simulation against the wall clock and stamps with wall
time. ``use_sim_time:=true`` (with ``real_time_factor`` > 1, or 0 = as fast as possible) publishes
``/clock`` from the simulation instead, for every node launched with ``use_sim_time``.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Optional

import numpy as np
from geometry_msgs.msg import TwistStamped, WrenchStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from ..interfaces import CLOCK_TOPIC, COMMAND_TOPICS, EPISODE_RESULT_TOPIC, SENSOR_TOPICS
from ..sim.simulator import JOINTS, SimConfig, StepOutput, TabletopSim
from ..sim.task import Outcome, TaskConfig
from . import conversions as conv
from .qos import COMMAND_QOS, DIAGNOSTICS_QOS, HIGH_RATE_SENSOR_QOS, SENSOR_QOS
from .spin import spin_node

MAX_LAG_S = 0.05   # real-time mode: behind the wall clock by more than this, skip ahead
FRAMES = {'camera': 'scene_camera', 'wrench': 'wrist_ft', 'tactile': 'pad', 'audio': 'microphone',
          'events': 'scene_camera', 'proprio': 'base'}


def sensor_messages(out: StepOutput, stamp_base: int, previous_dvs_stamp: Optional[int]) -> tuple[list, Optional[int]]:
    """One simulation step's sensor outputs as (modality, message) pairs, stamped ``stamp_base`` + sim
    time; event packets are stamped at the previous DVS frame. Returns the messages and the new
    previous DVS stamp. Shared by sim_node and the recorder, so bags hold what the node publishes."""
    stamp = stamp_base + out.time_ns
    messages = [('proprio', conv.joint_state_msg(JOINTS, out.joint_positions, out.joint_velocities, stamp)),
                ('wrench', conv.wrench_msg(out.wrench, stamp, FRAMES['wrench']))]
    if out.tactile is not None:
        messages.append(('tactile', conv.float32_to_image(out.tactile, stamp, FRAMES['tactile'])))
    if out.audio is not None:
        messages.append(('audio', conv.samples_to_audio_image(out.audio, stamp_base + out.audio_start_ns,
                                                              FRAMES['audio'])))
    if out.events is not None:
        if previous_dvs_stamp is not None:
            events = out.events.copy()
            events['t'] += stamp_base
            messages.append(('events', conv.events_to_pointcloud2(events, previous_dvs_stamp, FRAMES['events'])))
        previous_dvs_stamp = stamp
    if out.rgb is not None:
        messages.append(('camera', conv.rgb_to_image(out.rgb, stamp, FRAMES['camera'])))
    return messages, previous_dvs_stamp


class SimNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('sim_node', **node_kwargs)
        self.first_seed = int(self.declare_parameter('seed', 0).value)
        self.real_time_factor = float(self.declare_parameter('real_time_factor', 1.0).value)
        self.autoreset = bool(self.declare_parameter('autoreset', True).value)
        # Paused: nothing is stepped or published until ~/reset. start_paused waits for the first reset,
        # which starts episode `seed` itself (`sensor-fusion eval` starts an episode only once the fusion
        # node is up and reset); without autoreset the world pauses again when an episode ends.
        self.paused = bool(self.declare_parameter('start_paused', False).value)
        self._started = not self.paused
        render = bool(self.declare_parameter('render', True).value)
        timeout_s = float(self.declare_parameter('episode_timeout_s', TaskConfig().timeout_s).value)
        self.sim = TabletopSim(SimConfig(render=render), TaskConfig(timeout_s=timeout_s))
        self.sim_time = self.get_parameter('use_sim_time').value
        qos = {'camera': SENSOR_QOS, 'tactile': SENSOR_QOS}
        types = {'camera': Image, 'wrench': WrenchStamped, 'tactile': Image, 'audio': Image,
                 'events': PointCloud2, 'proprio': JointState}
        self.pubs = {m: self.create_publisher(types[m], SENSOR_TOPICS[m][0], qos.get(m, HIGH_RATE_SENSOR_QOS))
                     for m in SENSOR_TOPICS}
        self.result_pub = self.create_publisher(String, EPISODE_RESULT_TOPIC[0], DIAGNOSTICS_QOS)
        self.clock_pub = self.create_publisher(Clock, CLOCK_TOPIC[0], 10) if self.sim_time else None
        self.create_subscription(TwistStamped, COMMAND_TOPICS['twist'][0], self._on_twist, COMMAND_QOS)
        self.create_subscription(Float64MultiArray, COMMAND_TOPICS['joint_velocity'][0], self._on_joint_velocity,
                                 COMMAND_QOS)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.rejected_commands = 0
        self.lag_skips = 0
        self._last_stamp = 1_000_000_000   # /clock starts at 1 s: a zero stamp means "unset" in ROS
        self.seed = self.first_seed
        self._start_episode()

    # -- episodes -----------------------------------------------------------------------------
    def _start_episode(self) -> None:
        episode = self.sim.reset(self.seed)
        self._wall_start = time.perf_counter()
        # Stamps never go back: simulated time continues across episodes on /clock, and with the
        # wall clock each episode starts now.
        self._stamp_base = self._last_stamp if self.sim_time else self.get_clock().now().nanoseconds
        self._previous_dvs_stamp = None
        self._reported = False
        self.get_logger().info(f'episode seed={episode.seed} target={episode.target} '
                               f'ball={"none" if episode.ball_start_s is None else f"{episode.ball_start_s:.2f}s"}')

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._started:
            self.seed += 1
        self._started, self.paused = True, False
        self._start_episode()
        response.success, response.message = True, f'seed={self.seed} target={self.sim.episode.target}'
        return response

    # -- commands -----------------------------------------------------------------------------
    def _on_twist(self, msg: TwistStamped) -> None:
        lin, ang = msg.twist.linear, msg.twist.angular
        self._command(self.sim.command_twist, [lin.x, lin.y, lin.z, ang.x, ang.y, ang.z])

    def _on_joint_velocity(self, msg: Float64MultiArray) -> None:
        self._command(self.sim.command_joint_velocities, list(msg.data))

    def _command(self, apply, values) -> None:
        try:
            apply(np.asarray(values, dtype=np.float64))
        except ValueError as error:
            self.rejected_commands += 1
            self.get_logger().warning(f'rejected command ({self.rejected_commands} so far): {error}',
                                      throttle_duration_sec=5.0)

    # -- stepping -----------------------------------------------------------------------------
    def seconds_until_next_step(self) -> float:
        if self.real_time_factor <= 0:
            return 0.0
        due = self._wall_start + self.sim.data.time / self.real_time_factor
        return due - time.perf_counter()

    def step(self) -> float:
        """Steps the world when due and publishes what its sensors produced; returns the wait until the next step."""
        if self.paused:
            return 0.01
        wait = self.seconds_until_next_step()
        if wait > 0:
            return wait
        if -wait > MAX_LAG_S and not self.sim_time:
            # Fell behind the wall clock (a loaded machine): skip ahead instead of bursting to catch
            # up, so stamps stay near the wall clock and the gap shows as a gap, as a stalled driver's would.
            self._wall_start += -wait
            self._stamp_base += int(-wait * 1e9)
            self.lag_skips += 1
            self.get_logger().warning(f'simulation fell {-wait * 1e3:.0f} ms behind real time ({self.lag_skips} '
                                      'times so far; on a machine this slow, evaluate with use_sim_time and '
                                      'real_time_factor < 1: sensor-fusion eval --real-time-factor 0.5)',
                                      throttle_duration_sec=5.0)
        out = self.sim.step()
        stamp = self._stamp_base + out.time_ns
        self._last_stamp = stamp
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=conv.time_msg(stamp)))
        self._publish(out, stamp)
        if out.outcome is not Outcome.RUNNING and not self._reported:
            self._report()
            if self.autoreset:
                self.seed += 1
                self._start_episode()
            else:
                self.paused = True
        return self.seconds_until_next_step()

    def _publish(self, out: StepOutput, stamp: int) -> None:
        messages, self._previous_dvs_stamp = sensor_messages(out, self._stamp_base, self._previous_dvs_stamp)
        for modality, msg in messages:
            self.pubs[modality].publish(msg)

    def _report(self) -> None:
        e = self.sim.episode
        self._reported = True
        result = {'seed': e.seed, 'target': e.target, 'outcome': e.outcome.value, 'time_s': round(e.time_s, 3),
                  'peak_force_n': round(e.peak_force_n, 3), 'ball_start_s': e.ball_start_s, 'events': e.events}
        self.result_pub.publish(String(data=json.dumps(result)))
        self.get_logger().info(f'episode seed={e.seed}: {e.outcome.value} after {e.time_s:.2f} s')


def main(args: Optional[list[str]] = None) -> int:
    return spin_node(SimNode, args, step=lambda node: node.step())


if __name__ == '__main__':
    sys.exit(main(sys.argv))

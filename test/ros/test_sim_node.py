"""sim_node in its own process: every sensor topic at its rate, commands move the arm, reset, results."""
import json
import subprocess
import sys
import time

import numpy as np
from geometry_msgs.msg import TwistStamped, WrenchStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, PointCloud2
from std_msgs.msg import String
from std_srvs.srv import Trigger

from harness import ros_context  # noqa: F401  (fixture)
from harness import spin_until, stop_process
from sensor_fusion.interfaces import SENSOR_TOPICS
from sensor_fusion.ros import conversions as conv
from sensor_fusion.ros.qos import COMMAND_QOS, DIAGNOSTICS_QOS, HIGH_RATE_SENSOR_QOS

TYPES = {'camera': Image, 'wrench': WrenchStamped, 'tactile': Image, 'audio': Image, 'events': PointCloud2,
         'proprio': JointState}
EXPECTED_HZ = {'camera': 15, 'wrench': 500, 'tactile': 100, 'audio': 100, 'events': 250, 'proprio': 500}


def test_sim_node_publishes_obeys_resets_and_reports(ros_context):  # noqa: F811
    process = subprocess.Popen([sys.executable, '-m', 'sensor_fusion.ros.sim_node', '--ros-args', '-p', 'seed:=5', '-p', 'episode_timeout_s:=6.0'],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = Node('sim_client', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    received = {m: [] for m in TYPES}
    subs = [node.create_subscription(TYPES[m], SENSOR_TOPICS[m][0],
                                     lambda msg, m=m: received[m].append((time.perf_counter(), msg)),
                                     HIGH_RATE_SENSOR_QOS) for m in TYPES]
    results = []
    node.create_subscription(String, 'episode_result', lambda msg: results.append(json.loads(msg.data)), DIAGNOSTICS_QOS)
    twist = node.create_publisher(TwistStamped, 'cmd_twist', COMMAND_QOS)
    reset = node.create_client(Trigger, '/sim_node/reset')
    try:
        assert spin_until(executor, lambda: all(s.get_publisher_count() for s in subs) and reset.service_is_ready()
                          and twist.get_subscription_count() > 0, 60), 'sim_node never came up'
        assert spin_until(executor, lambda: len(received['camera']) >= 2, 10)
        for stream in received.values():
            stream.clear()
        spin_until(executor, lambda: False, 2.0)
        # Rates in the simulation's own time (one wrench message per 2 ms physics step), not the wall
        # clock's: on a loaded machine sim_node falls behind real time and skips ahead, which thins
        # every stream per wall second alike but leaves the ratios between them intact.
        assert len(received['wrench']) >= 100, 'sim_node barely stepped'
        simulated_s = len(received['wrench']) * 0.002
        for modality, hz in EXPECTED_HZ.items():
            rate = len(received[modality]) / simulated_s
            assert 0.75 * hz <= rate <= 1.25 * hz, f'{modality} at {rate:.0f} Hz of simulated time, expected {hz}'
        # every stream decodes with the fusion node's own conversions, with sane shapes and stamps
        assert conv.image_to_rgb(received['camera'][-1][1]).shape == (96, 96, 3)
        assert conv.image_to_float32(received['tactile'][-1][1]).shape == (4, 4)
        assert conv.audio_image_to_samples(received['audio'][-1][1]).shape == (1, 160)
        conv.pointcloud2_to_events(received['events'][-1][1], (96, 72))
        positions, _ = conv.joint_state_to_arrays(received['proprio'][-1][1], ())
        stamps = [conv.stamp_ns(m.header) for _, m in received['wrench']]
        gaps = np.diff(stamps)
        # 2 ms physics steps; a best-effort message lost on a loaded machine, an episode change or a
        # skip-ahead after falling behind real time shows as a longer gap, never as a shorter one.
        assert np.all(gaps >= 2_000_000) and np.median(gaps) == 2_000_000
        # a twist command moves the tool: joints change. Commanded until they have moved (at most
        # 10 s), not for a fixed wall time: a loaded machine simulates slower than real time.
        before = positions

        def moved() -> float:
            return float(np.abs(conv.joint_state_to_arrays(received['proprio'][-1][1], ())[0] - before).max())

        deadline = time.perf_counter() + 10.0
        while moved() <= 0.02 and time.perf_counter() < deadline:
            twist.publish(conv.twist_msg(np.array([0.0, 0.1, 0.0, 0, 0, 0]), node.get_clock().now().nanoseconds,
                                         'base'))
            spin_until(executor, lambda: False, 0.01)
        assert moved() > 0.02
        # reset starts the next seeded episode and names it
        future = reset.call_async(Trigger.Request())
        assert spin_until(executor, future.done, 10)
        assert future.result().success and future.result().message.startswith('seed=')
        seed = int(future.result().message.split()[0].split('=')[1])
        assert seed > 5
        # with no command the episode times out, is reported, and the next one starts by itself
        assert spin_until(executor, lambda: any(r['seed'] == seed for r in results), 40)
        result = next(r for r in results if r['seed'] == seed)
        assert result['outcome'] == 'timeout' and result['time_s'] >= 6.0
        assert process.poll() is None
    finally:
        node.destroy_node()
        code, output = stop_process(process)
    assert code == 0, output[-3000:]


def test_sim_node_on_sim_time_publishes_a_clock_that_runs_ahead_of_the_wall(ros_context):  # noqa: F811
    from rosgraph_msgs.msg import Clock
    process = subprocess.Popen([sys.executable, '-m', 'sensor_fusion.ros.sim_node', '--ros-args', '-p', 'use_sim_time:=true',
                                '-p', 'real_time_factor:=0.0', '-p', 'render:=false'],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = Node('clock_client', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    clocks, wrench = [], []
    sub = node.create_subscription(Clock, '/clock', lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec), 100)
    node.create_subscription(WrenchStamped, 'wrist/wrench', lambda m: wrench.append(conv.stamp_ns(m.header)),
                             HIGH_RATE_SENSOR_QOS)
    try:
        assert spin_until(executor, lambda: sub.get_publisher_count() > 0 and len(clocks) > 10, 60)
        start_sim, start_wall = clocks[-1], time.perf_counter()
        spin_until(executor, lambda: False, 1.0)
        simulated = (clocks[-1] - start_sim) / 1e9
        # As fast as possible: ahead of the wall clock, which a paced simulator never gets (without
        # rendering it runs several times real time on an idle machine; the margin is for a loaded one).
        assert simulated > 1.1 * (time.perf_counter() - start_wall)
        assert np.all(np.diff(clocks) > 0) and wrench and wrench[-1] <= clocks[-1] + 2_000_000
    finally:
        node.destroy_node()
        code, output = stop_process(process)
    assert code == 0, output[-3000:]

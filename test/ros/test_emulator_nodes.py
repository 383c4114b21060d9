"""event_emulator_node and contact_audio_node in their own processes: frames -> events, wrench -> audio."""
import subprocess
import sys

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2

from harness import ros_context  # noqa: F401  (fixture)
from harness import spin_until, stop_process
from sensor_fusion.ros import conversions as conv
from sensor_fusion.ros.qos import HIGH_RATE_SENSOR_QOS, sensor_qos

MS = 1_000_000


def node_process(module, **parameters):
    args = [sys.executable, '-m', f'sensor_fusion.ros.{module}', '--ros-args']
    for name, value in parameters.items():
        args += ['-p', f'{name}:={value}']
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def client(context, name):
    node = Node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    return node, executor


def test_event_emulator_node_turns_a_moving_bar_into_edge_events(ros_context):  # noqa: F811
    process = node_process('event_emulator_node', mismatch_sigma=0.0, refractory_s=0.0)
    node, executor = client(ros_context, 'frames_out')
    received = []
    frames = node.create_publisher(Image, 'camera/image_raw', HIGH_RATE_SENSOR_QOS)
    sub = node.create_subscription(PointCloud2, 'events', received.append, HIGH_RATE_SENSOR_QOS)
    try:
        assert spin_until(executor, lambda: frames.get_subscription_count() > 0 and sub.get_publisher_count() > 0, 60)
        # Static frames until the first packet comes back: the node is then surely reading ours
        # (a best-effort frame sent the instant discovery matches can still be missed).
        start = node.get_clock().now().nanoseconds
        background = np.full((48, 64, 3), 30, np.uint8)
        stamp = start
        while not received:
            stamp += 10 * MS
            frames.publish(conv.rgb_to_image(background, stamp))
            assert spin_until(executor, lambda: bool(received), 0.5) or stamp - start < 100 * 10 * MS
        warm = len(received)
        bar_start = stamp
        for i in range(8):                           # a bright bar appears, then moves right one column per frame
            rgb = background.copy()
            rgb[:, 10 + i:14 + i] = 220
            frames.publish(conv.rgb_to_image(rgb, bar_start + (i + 1) * 10 * MS))
            assert spin_until(executor, lambda: len(received) >= warm + i + 1, 5.0), f'no packet for frame {i}'
        events = np.concatenate([conv.pointcloud2_to_events(m, (64, 48)) for m in received[warm:]])
        on, off = events[events['p'] == 1], events[events['p'] == 0]
        assert set(on['x'].tolist()) == set(range(10, 21)) and set(off['x'].tolist()) == set(range(10, 17))
        assert events['t'].min() > bar_start and events['t'].max() <= bar_start + 80 * MS
    finally:
        node.destroy_node()
        code, output = stop_process(process)
    assert code == 0, output[-2000:]


def test_contact_audio_node_rings_on_a_force_jump_and_is_silent_otherwise(ros_context):  # noqa: F811
    process = node_process('contact_audio_node', noise_floor=0.0)
    node, executor = client(ros_context, 'wrench_out')
    chunks = []
    wrench = node.create_publisher(WrenchStamped, 'wrist/wrench', HIGH_RATE_SENSOR_QOS)
    # 10 s of chunks kept: the contiguity check below is about the node, so this reader must not
    # drop a burst while the test process stalls (depth 50 lost 57 chunks once on a loaded machine).
    sub = node.create_subscription(Image, 'audio', chunks.append, sensor_qos(1000))
    try:
        assert spin_until(executor, lambda: wrench.get_subscription_count() > 0 and sub.get_publisher_count() > 0, 60)
        start = node.get_clock().now().nanoseconds
        sent = 0

        def press(newtons):
            nonlocal sent
            wrench.publish(conv.wrench_msg([0, 0, newtons, 0, 0, 0], start + sent * 2 * MS))
            sent += 1
            executor.spin_once(timeout_sec=0.0005)
        while len(chunks) < 2:                       # 500 Hz, 0 N, until audio comes back
            press(0.0)
            assert sent < 5000, 'no audio from contact_audio_node'
        jump_at = sent + 50
        while sent < jump_at + 100:                  # 100 ms more of 0 N, then an 8 N press
            press(0.0 if sent < jump_at else 8.0)
        assert spin_until(executor, lambda: conv.stamp_ns(chunks[-1].header) >= start + (jump_at + 60) * 2 * MS, 10.0)
        stamps = [conv.stamp_ns(c.header) for c in chunks]
        assert np.all(np.diff(stamps) == 10 * MS)    # contiguous 10 ms chunks, stamped at their first sample
        audio = np.concatenate([conv.audio_image_to_samples(c)[0] for c in chunks])
        # the jump arrives with the sample stamped at jump_at; its audio starts with the interval before it
        hit = (start + (jump_at - 1) * 2 * MS - stamps[0]) * 16 // MS
        assert np.all(audio[:hit] == 0)
        assert np.abs(audio[hit:hit + 320]).max() > 0.01
    finally:
        node.destroy_node()
        code, output = stop_process(process)
    assert code == 0, output[-2000:]


def test_joint_command_splitter_fans_out_one_array_and_drops_bad_ones(ros_context):  # noqa: F811
    from std_msgs.msg import Float64, Float64MultiArray

    from sensor_fusion.sim.gazebo import joint_command_topic
    joints = ['a', 'b', 'c']
    process = node_process('joint_command_splitter_node', joint_names='[a,b,c]')
    node, executor = client(ros_context, 'splitter_client')
    got = {j: [] for j in joints}
    subs = [node.create_subscription(Float64, joint_command_topic(j), lambda m, j=j: got[j].append(m.data), 10)
            for j in joints]
    command = node.create_publisher(Float64MultiArray, 'cmd_joint_velocity', 10)
    try:
        assert spin_until(executor, lambda: all(s.get_publisher_count() for s in subs)
                          and command.get_subscription_count() > 0, 60)
        command.publish(Float64MultiArray(data=[0.1, 0.2]))                 # wrong length: dropped
        command.publish(Float64MultiArray(data=[0.0, float('nan'), 0.0]))   # NaN: dropped
        command.publish(Float64MultiArray(data=[0.1, -0.2, 0.3]))
        assert spin_until(executor, lambda: all(got.values()), 10)
        spin_until(executor, lambda: False, 0.3)
        assert {j: v for j, v in got.items()} == {'a': [0.1], 'b': [-0.2], 'c': [0.3]}
    finally:
        node.destroy_node()
        code, output = stop_process(process)
    assert code == 0, output[-2000:]

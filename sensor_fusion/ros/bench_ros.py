"""``sensor-fusion bench ros``: the fusion node in its own process under real-rate sensor streams.

Streams (the issue's reference load): camera 30 Hz 320x240 rgb8, wrench 500 Hz, audio 16 kHz in
10 ms chunks, events 1 Mev/s in 1 ms packets, joint states 500 Hz. The node ticks on each joint
state (``tick_source: proprio``), at most at the architecture's target rate, so the command's
header stamp names the joint state it answers. Reported per architecture:

* end-to-end latency: command arrival minus the publication of the joint state it answers, both
  timed in this process (so it includes DDS both ways, the node's queue, alignment, preprocessing
  and the model);
* node latency: in the node, receipt of the newest input to command publication (diagnostics);
* command rate, dropped inputs (dropped by the node + lost between the processes), and the
  node's resident memory at the start and end of the measured window.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from dataclasses import dataclass


from ..safety import percentile_ms

TARGETS = {'nvsf_a': (500.0, 2.0), 'nvsf_h': (100.0, 10.0), 'nvsf_c': (30.0, 20.0)}   # rate Hz, p99 target ms


@dataclass
class RosBenchRow:
    architecture: str
    target_hz: float
    command_hz: float
    e2e_p50_ms: float
    e2e_p99_ms: float
    node_p50_ms: float
    node_p99_ms: float
    target_p99_ms: float
    dropped_by_node: int
    lost_in_transport: int
    sent: int
    rss_start_mb: float
    rss_end_mb: float
    rss_max_mb: float


def _rss_mb(pid: int) -> float:
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def bench_architecture(architecture: str, duration_s: float, warmup_s: float = 3.0) -> RosBenchRow:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import TwistStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from .conversions import diagnostic_values, stamp_ns
    from .qos import COMMAND_QOS, DIAGNOSTICS_QOS
    from .synthetic_sensors import StreamRates, SyntheticSensors

    rate_hz, target_p99 = TARGETS[architecture]
    node_args = [sys.executable, '-m', 'sensor_fusion.ros.fusion_node', '--ros-args',
                 '-p', f'architecture:={architecture}', '-p', 'allow_untrained:=true',
                 '-p', f'control_rate_hz:={rate_hz}', '-p', 'tick_source:=proprio', '-p', 'diagnostics_period_s:=0.5']
    process = subprocess.Popen(node_args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('bench_ros', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    sensors = SyntheticSensors(node, StreamRates())
    joint_published: dict[int, int] = {}                     # joint-state stamp -> perf_counter_ns at publish
    original_publish = sensors._publish

    def publish_and_log(name: str) -> None:
        original_publish(name)
        if name == 'proprio':
            joint_published[sensors.last_stamp_ns] = sensors.last_publish_ns['proprio']
            if len(joint_published) > 20000:
                for key in list(joint_published)[:10000]:
                    del joint_published[key]
    sensors._publish = publish_and_log
    latencies, measuring, commands = [], [False], collections.Counter()
    diagnostics: list[dict] = []

    def on_command(msg: TwistStamped) -> None:
        arrived = time.perf_counter_ns()
        if measuring[0]:
            commands['n'] += 1
            sent = joint_published.get(stamp_ns(msg.header))
            if sent is not None:
                latencies.append((arrived - sent) / 1e9)
    node.create_subscription(TwistStamped, 'cmd_twist', on_command, COMMAND_QOS)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: diagnostics.append(diagnostic_values(m.status[0])), DIAGNOSTICS_QOS)

    def stream(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            due = sensors.publish_due(time.perf_counter())
            executor.spin_once(timeout_sec=max(0.0, min(0.002, due - time.perf_counter())))

    try:
        deadline = time.perf_counter() + 60
        while not sensors.subscribers_matched() and time.perf_counter() < deadline and process.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        if process.poll() is not None:
            raise RuntimeError(f'fusion_node exited: {process.stderr.read()[-2000:]}')
        stream(warmup_s)
        rss = [_rss_mb(process.pid)]
        measuring[0] = True
        start = time.perf_counter()
        while time.perf_counter() - start < duration_s:
            stream(min(1.0, duration_s - (time.perf_counter() - start)))
            rss.append(_rss_mb(process.pid))
        elapsed = time.perf_counter() - start
        measuring[0] = False
        # Stop publishing and wait for diagnostics sent after the last message could have arrived,
        # so sent - received counts real losses, not messages in flight.
        quiet = time.perf_counter()
        while time.perf_counter() - quiet < 1.5:
            executor.spin_once(timeout_sec=0.05)
        after = diagnostics[-1]
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    def count(values: dict, key: str) -> int:
        return int(values.get(key, 0))
    modalities = ('camera', 'wrench', 'audio', 'events', 'proprio')
    sent = sum(sensors.sent[m] for m in modalities)                      # whole run, warm-up included
    received = sum(count(after, f'{m}.received') for m in modalities)
    dropped = sum(count(after, f'{m}.dropped') for m in modalities)
    return RosBenchRow(architecture, rate_hz, commands['n'] / elapsed, percentile_ms(latencies, 50),
                       percentile_ms(latencies, 99), float(after.get('latency_p50_ms', 'nan')),
                       float(after.get('latency_p99_ms', 'nan')), target_p99, dropped, sent - received, sent, rss[1] if len(rss) > 1 else rss[0], rss[-1], max(rss))


def format_table(rows: list[RosBenchRow]) -> str:
    lines = ['architecture  rate Hz (target)  e2e p50/p99 ms  node p50/p99 ms  p99 target  dropped  lost/sent'
             '        RSS MB start/end/max',
             '-' * 118]
    for r in rows:
        lines.append(f'{r.architecture:12}  {r.command_hz:6.1f} ({r.target_hz:5.0f})  {r.e2e_p50_ms:6.2f} / {r.e2e_p99_ms:6.2f}'
                     f'  {r.node_p50_ms:6.2f} / {r.node_p99_ms:6.2f}  {r.target_p99_ms:8.1f}  {r.dropped_by_node:7d}'
                     f'  {r.lost_in_transport:6d}/{r.sent:<8d}  {r.rss_start_mb:6.0f} / {r.rss_end_mb:6.0f} / {r.rss_max_mb:6.0f}')
    return '\n'.join(lines)


def run(architectures: list[str], duration_s: float) -> list[RosBenchRow]:
    os.environ.setdefault('ROS_DOMAIN_ID', str(20 + os.getpid() % 200))
    rows = []
    for architecture in architectures:
        rows.append(bench_architecture(architecture, duration_s))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    return rows

"""The ROS test tier's shared pieces: environment, the ``ros_context`` fixture, spinning helpers,
node processes, and the test side of a fusion_node integration test (sensor streams out, commands
and diagnostics in).

Nodes under test run in separate processes (what crosses DDS is tested across processes); the
test side is one node in its own Context. Waiting is always for a condition (matching, a message),
never a fixed sleep. (Kept out of a conftest.py so it does not shadow test/conftest.py's helpers.)
"""
from __future__ import annotations

import os

import pytest

# A distinct domain per test process, before anything creates a DDS participant; child processes
# inherit it. Domains 20..219 keep Fast DDS's port mapping below 65535.
os.environ['ROS_DOMAIN_ID'] = str(20 + os.getpid() % 200)

import sensor_fusion.ros  # noqa: E402,F401  (applies the loopback DDS defaults)
import rclpy  # noqa: E402


import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from sensor_fusion.ros.conversions import diagnostic_values
from sensor_fusion.ros.qos import COMMAND_QOS, DIAGNOSTICS_QOS
from sensor_fusion.ros.synthetic_sensors import StreamRates, SyntheticSensors

_tests_in_this_process = 0


def use_fresh_domain() -> int:
    """Moves this process (and the node processes it starts from now on) to a domain of its own, a
    new one per test. Why: after the closed-loop tests had run nodes in the process's domain, a
    later fusion_node's change_state service sometimes never became ready for any client (its
    topics matched, the graph listed the service; 2 runs in 6 here, and once on CI), while a fresh
    domain has no trace of earlier tests' participants. Stepping by 37 (coprime with 200) visits
    all 200 domains before one repeats."""
    global _tests_in_this_process
    _tests_in_this_process += 1
    domain = 20 + (os.getpid() + 37 * _tests_in_this_process) % 200
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    return domain


@pytest.fixture
def fresh_domain() -> int:
    """A ROS domain of the test's own (``use_fresh_domain``), for tests whose nodes come up without
    ``ros_context``."""
    return use_fresh_domain()


@pytest.fixture
def ros_context():
    """An rclpy Context of the test's own (one per test), in a domain of the test's own."""
    use_fresh_domain()
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


def spin_until(executor: SingleThreadedExecutor, predicate: Callable[[], bool], timeout_s: float,
               tick: Callable[[], float] | None = None) -> bool:
    """Spins until ``predicate()`` holds; ``tick`` (e.g. sensor publishing) returns its next due time."""
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        if predicate():
            return True
        wait = 0.01
        if tick is not None:
            wait = max(0.0, min(wait, tick(time.perf_counter()) - time.perf_counter()))
        executor.spin_once(timeout_sec=wait)
    return predicate()


def fusion_node_process(**parameters) -> subprocess.Popen:
    """``fusion_node`` in its own process with ``-p name:=value`` overrides."""
    args = [sys.executable, '-m', 'sensor_fusion.ros.fusion_node', '--ros-args']
    for name, value in parameters.items():
        if isinstance(value, (list, tuple)):
            value = '[' + ','.join(str(v) for v in value) + ']'
        elif isinstance(value, bool):
            value = str(value).lower()
        args += ['-p', f'{name}:={value}']
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_process(process: subprocess.Popen, timeout_s: float = 15.0) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(2)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


JOINTS = tuple(f'joint_{i + 1}' for i in range(6))
# Light streams: these tests check behaviour, not throughput (that is `sensor-fusion bench ros`).
TEST_RATES = StreamRates(camera_hz=15.0, camera_size=(64, 48), wrench_hz=200.0, tactile_hz=15.0,
                         events_per_s=50_000.0, event_sensor_size=(64, 48), joints_hz=200.0, joint_names=JOINTS)


@dataclass
class Received:
    t: float           # perf_counter at arrival
    values: np.ndarray  # the command as numbers (twist: 6; joints: one per joint; trajectory: point velocities)
    kind: str


def command_values(msg) -> np.ndarray:
    if isinstance(msg, TwistStamped):
        lin, ang = msg.twist.linear, msg.twist.angular
        return np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z])
    if isinstance(msg, Float64MultiArray):
        return np.array(msg.data)
    return np.array(msg.points[0].velocities) if msg.points else np.zeros(len(msg.joint_names))


class Harness:
    def __init__(self, context, rates: StreamRates = TEST_RATES, target: str = 'fusion_node'):
        self.target = target
        self.node = Node('test_harness', context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.sensors = SyntheticSensors(self.node, rates)
        self.commands: list[Received] = []
        self.diagnostics: list[dict] = []
        for topic, msg_type, kind in (('cmd_twist', TwistStamped, 'twist'),
                                      ('cmd_joint_velocity', Float64MultiArray, 'joint_velocity'),
                                      ('cmd_joint_trajectory', JointTrajectory, 'joint_trajectory')):
            self.node.create_subscription(msg_type, topic, lambda m, k=kind: self.commands.append(
                Received(time.perf_counter(), command_values(m), k)), COMMAND_QOS)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: self.diagnostics.append(
            {'message': m.status[0].message, **diagnostic_values(m.status[0])}), DIAGNOSTICS_QOS)
        self.change_state = self.node.create_client(ChangeState, f'/{target}/change_state')
        self.set_parameters = self.node.create_client(SetParameters, f'/{target}/set_parameters')

    def wait_for_node(self, timeout_s: float = 60.0) -> bool:
        """Until the node's services exist and every sensor publisher has matched a subscriber."""
        return spin_until(self.executor, lambda: self.change_state.service_is_ready() and
                          self.sensors.subscribers_matched(), timeout_s)

    def assert_came_up(self, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
        """``wait_for_node``, failing with what was missing and the node's own output: a node that
        never comes up on a CI machine must say why (crashed, hung at start-up, or DDS not matching)."""
        if self.wait_for_node(timeout_s):
            return
        unmatched = self.sensors.unmatched()
        service = self.change_state.service_is_ready()
        try:
            known = [n for n, _ in self.node.get_service_names_and_types_by_node(self.target, '/')]
        except Exception as error:  # the graph may not know the node at all
            known = f'unknown node ({error})'
        fresh = self.node.create_client(ChangeState, self.change_state.srv_name)
        fresh_ready = spin_until(self.executor, fresh.service_is_ready, 15.0)
        running = process.poll() is None
        # Another node process left alive in this domain (e.g. one stuck shutting down) shows here.
        others = [line for line in subprocess.run(['ps', '-eo', 'pid,etime,args'], capture_output=True, text=True)
                  .stdout.splitlines() if ('fusion_node' in line or 'sim_node' in line) and str(process.pid) not in line]
        code, output = stop_process(process)
        pytest.fail(f'the node never came up in {timeout_s:.0f} s: change_state service ready={service}, '
                    f'a fresh client ready after 15 s more={fresh_ready}, services the graph has for it={known}, '
                    f'sensor topics without a subscriber={unmatched}, other node processes={others}, process '
                    f'{"still running" if running else "had exited"} (exit code {code}); its output:\n'
                    f'{output[-4000:]}')

    def stream(self, seconds: float, until=None) -> bool:
        """Publishes the sensor streams at their rates for ``seconds`` (or until ``until()``)."""
        return spin_until(self.executor, until or (lambda: False), seconds, tick=self.sensors.publish_due)

    def call(self, client, request, timeout_s: float = 30.0):
        future = client.call_async(request)
        spin_until(self.executor, future.done, timeout_s, tick=self.sensors.publish_due)
        assert future.done(), f'no answer from {client.srv_name}'
        return future.result()

    def transition(self, transition_id: int) -> bool:
        return self.call(self.change_state, ChangeState.Request(transition=Transition(id=transition_id))).success

    def set(self, **values) -> None:
        params: list[ParameterMsg] = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        results = self.call(self.set_parameters, SetParameters.Request(parameters=params)).results
        assert all(r.successful for r in results), [r.reason for r in results]

    def commands_since(self, t: float, kind: str | None = None) -> list[Received]:
        return [c for c in self.commands if c.t >= t and (kind is None or c.kind == kind)]

    def latest_diagnostics(self) -> dict:
        return self.diagnostics[-1] if self.diagnostics else {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()

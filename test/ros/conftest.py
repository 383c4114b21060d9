"""ROS test tier: real rclpy, own Context per test, own ROS_DOMAIN_ID per test process, loopback DDS.

Nodes under test run in separate processes (what crosses DDS is tested across processes); the
test side is one node in its own Context. Waiting is always for a condition (matching, a message),
never a fixed sleep.
"""
from __future__ import annotations

import os
import pytest

# A distinct domain per test process, before anything creates a DDS participant; child processes
# inherit it. Domains 20..219 keep Fast DDS's port mapping below 65535.
os.environ['ROS_DOMAIN_ID'] = str(20 + os.getpid() % 200)

import sensor_fusion.ros  # noqa: E402  (applies the loopback DDS defaults)
import rclpy  # noqa: E402


@pytest.fixture
def ros_context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)

"""Keeps every ROS 2 process of this project on this machine (ROS-free; no rclpy import).

Fast DDS's defaults announce participants by multicast on every interface and Kilted ignores
``ROS_LOCALHOST_ONLY``. Every entry point (nodes, the runner, tests, benchmarks) calls
:func:`apply_localhost_defaults` before rclpy creates a context, which sets
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and points ``FASTDDS_DEFAULT_PROFILES_FILE`` at
``config/fastdds_localhost.xml`` (shared memory + UDPv4 on 127.0.0.1 only) -- unless the user
already set their own values, which are kept.
"""
from __future__ import annotations

import os
from typing import MutableMapping, Optional

from .paths import config_path

PROFILE_FILE = 'fastdds_localhost.xml'


def localhost_defaults() -> dict[str, str]:
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
            'FASTDDS_DEFAULT_PROFILES_FILE': str(config_path(PROFILE_FILE)),
            'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'}


def apply_localhost_defaults(environ: Optional[MutableMapping[str, str]] = None) -> MutableMapping[str, str]:
    """Sets the loopback-only defaults in ``environ`` (``os.environ`` by default) where unset.

    >>> env = apply_localhost_defaults({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET'})
    >>> env['ROS_AUTOMATIC_DISCOVERY_RANGE'], env['FASTDDS_DEFAULT_PROFILES_FILE'].endswith(PROFILE_FILE)
    ('SUBNET', True)
    """
    environ = os.environ if environ is None else environ
    for key, value in localhost_defaults().items():
        if not environ.get(key):
            environ[key] = value
    return environ

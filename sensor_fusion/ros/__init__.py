"""The only code that imports rclpy or *_msgs: conversions, QoS and the nodes.

Importing this package applies the loopback-only DDS defaults (see :mod:`sensor_fusion.dds`)
before anything creates an rclpy context.
"""
from ..dds import apply_localhost_defaults

apply_localhost_defaults()

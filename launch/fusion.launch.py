"""Fusion node on a physical robot: `ros2 launch sensor_fusion fusion.launch.py architecture:=nvsf_h backend:=loihi_sim`.

A thin adapter over sensor_fusion.bringup.plan('robot'), the single source of truth that
`sensor-fusion up robot` also starts. fusion_node configures and activates itself at start-up.
"""
from sensor_fusion.ros.launch_adapter import launch_description

TARGET = 'robot'


def generate_launch_description():
    return launch_description(TARGET)

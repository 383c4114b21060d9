"""Gazebo (gz sim) with worlds/tabletop.sdf, ros_gz_bridge (config/gz_bridge.yaml), the event and audio
emulator nodes, the joint command splitter and the fusion node, all on Gazebo's /clock.

`ros2 launch sensor_fusion gazebo.launch.py architecture:=nvsf_h` -- needs ROS 2 with ros_gz; untested here.
"""
from sensor_fusion.ros.launch_adapter import launch_description

TARGET = 'gazebo'


def generate_launch_description():
    return launch_description(TARGET)

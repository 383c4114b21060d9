"""Bring-up check with no robot: synthetic sensor streams + the fusion node (random weights allowed).

`ros2 launch sensor_fusion synthetic.launch.py architecture:=nvsf_a`; the same plan as `sensor-fusion up synthetic`.
"""
from sensor_fusion.ros.launch_adapter import launch_description

TARGET = 'synthetic'


def generate_launch_description():
    return launch_description(TARGET)

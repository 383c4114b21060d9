"""The embedded MuJoCo simulator and the fusion node over ROS 2: `ros2 launch sensor_fusion sim.launch.py architecture:=nvsf_h`.

The same plan as `sensor-fusion up sim` (sim_node + fusion_node; add use_sim_time:=true to run on /clock).
"""
from sensor_fusion.ros.launch_adapter import launch_description

TARGET = 'sim'


def generate_launch_description():
    return launch_description(TARGET)

"""Fusion node on a physical robot: `ros2 launch sensor_fusion fusion.launch.py architecture:=nvsf_h backend:=loihi_sim`.

A thin launch_ros adapter over sensor_fusion.bringup.plan('robot'), the single source of truth that
`sensor-fusion up robot` also starts. fusion_node configures and activates itself at start-up.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from sensor_fusion.bringup import LAUNCH_ARGUMENTS, plan
from sensor_fusion.dds import localhost_defaults

TARGET = 'robot'


def _nodes(context):
    arguments = {name: LaunchConfiguration(name).perform(context) for name in LAUNCH_ARGUMENTS}
    return [Node(package=node.package, executable=node.executable, name=node.name, output='screen',
                 parameters=[*map(str, node.params_files), node.parameters], remappings=list(node.remappings),
                 additional_env={k: v for k, v in localhost_defaults().items() if k not in context.environment})
            for node in plan(TARGET, **arguments)]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, (default, description) in LAUNCH_ARGUMENTS.items()]
        + [OpaqueFunction(function=_nodes)])

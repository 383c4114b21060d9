"""Bring-up check with no robot: synthetic sensor streams + the fusion node (random weights allowed).

`ros2 launch sensor_fusion synthetic.launch.py architecture:=nvsf_a`; the same plan as `sensor-fusion up synthetic`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from sensor_fusion.bringup import LAUNCH_ARGUMENTS, plan
from sensor_fusion.dds import localhost_defaults

TARGET = 'synthetic'


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

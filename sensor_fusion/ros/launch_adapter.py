"""The launch_ros side of ``launch/*.launch.py``: one LaunchDescription for a bring-up target.

Each launch file is one call to :func:`launch_description` with its target, so launching and
``sensor-fusion up`` start exactly what :func:`sensor_fusion.bringup.plan` returns. Needs
``launch``/``launch_ros`` (not on PyPI), imported when called, so the module imports anywhere.
"""
from ..bringup import LAUNCH_ARGUMENTS, plan
from ..dds import localhost_defaults


def planned_nodes(context, target: str) -> list:
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    arguments = {name: LaunchConfiguration(name).perform(context) for name in LAUNCH_ARGUMENTS}
    return [Node(package=node.package, executable=node.executable, name=node.name, output='screen',
                 parameters=[*map(str, node.params_files), node.parameters], remappings=list(node.remappings),
                 additional_env={k: v for k, v in localhost_defaults().items() if k not in context.environment})
            for node in plan(target, **arguments)]


def launch_description(target: str):
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, (default, description) in LAUNCH_ARGUMENTS.items()]
        + [OpaqueFunction(function=planned_nodes, args=[target])])

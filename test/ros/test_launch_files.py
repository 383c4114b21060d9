"""Runs the launch files' description generation where launch_ros is importable (no PyPI wheel)."""
import importlib.util
from pathlib import Path

import pytest

launch_ros = pytest.importorskip('launch_ros', reason='launch_ros has no PyPI wheel; install ROS 2 to run this '
                                 'test (the plan the launch files start is tested in test/unit/test_bringup.py)')

LAUNCH = Path(__file__).resolve().parents[2] / 'launch'


@pytest.mark.parametrize('name', ['fusion.launch.py', 'synthetic.launch.py', 'sim.launch.py', 'gazebo.launch.py'])
def test_launch_description_builds_the_planned_nodes(name):
    from launch import LaunchContext
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    for entity in description.entities:
        entity.visit(context)
    from sensor_fusion.ros.launch_adapter import planned_nodes
    nodes = planned_nodes(context, module.TARGET)
    assert [n.node_executable for n in nodes][-1] == 'fusion_node'

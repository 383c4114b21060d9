"""The bring-up plan (single source of truth) and the runner's command lines, without starting ROS."""
import sys
from pathlib import Path

import pytest
import yaml

from sensor_fusion.bringup import LAUNCH_ARGUMENTS, TARGETS, parse_launch_arguments, plan
from sensor_fusion.dds import PROFILE_FILE, apply_localhost_defaults
from sensor_fusion.paths import config_path
from sensor_fusion.runner import node_command, write_overrides

REPO = Path(__file__).resolve().parents[2]


def test_robot_plan_passes_launch_arguments_as_parameter_overrides():
    node, = plan('robot', architecture='nvsf_h', backend='loihi_sim', command_interface='joint_velocity')
    assert (node.name, node.executable, node.package) == ('fusion_node', 'fusion_node', 'sensor_fusion')
    assert node.parameters == {'architecture': 'nvsf_h', 'backend': 'loihi_sim', 'command_interface': 'joint_velocity',
                               'use_sim_time': False}
    assert node.params_files == (config_path('fusion_node.yaml'),)


def test_empty_arguments_leave_the_params_file_in_charge():
    node, = plan('robot')
    assert node.parameters == {'use_sim_time': False}


def test_use_sim_time_and_params_file(tmp_path):
    params = tmp_path / 'mine.yaml'
    params.write_text('/**:\n  ros__parameters: {}\n')
    node, = plan('robot', params_file=str(params), use_sim_time='true')
    assert node.params_files == (params,) and node.parameters['use_sim_time'] is True
    with pytest.raises(ValueError, match='use_sim_time'):
        plan('robot', use_sim_time='maybe')
    with pytest.raises(FileNotFoundError, match='absent.yaml'):
        plan('robot', params_file=str(tmp_path / 'absent.yaml'))


def test_synthetic_target_adds_the_sensor_node_and_allows_untrained_weights():
    sensors, fusion = plan('synthetic', architecture='nvsf_a')
    assert sensors.executable == 'synthetic_sensors_node'
    assert fusion.parameters['allow_untrained'] is True and fusion.parameters['architecture'] == 'nvsf_a'


def test_unknown_target_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown bring-up target 'moon'; known: gazebo, robot, sim, synthetic"):
        plan('moon')


def test_launch_arguments_parse_like_ros2_launch():
    assert parse_launch_arguments(['a:=1', 'b:=x:=y']) == {'a': '1', 'b': 'x:=y'}
    with pytest.raises(ValueError, match='name:=value'):
        parse_launch_arguments(['architecture=nvsf_h'])


def test_the_shipped_params_file_sets_every_node_parameter_it_names():
    params = yaml.safe_load(config_path('fusion_node.yaml').read_text())['/**']['ros__parameters']
    assert params['architecture'] in ('nvsf_a', 'nvsf_c', 'nvsf_h') and params['allow_untrained'] is False
    assert set(params['timeouts_s']) == {'camera', 'wrench', 'tactile', 'audio', 'events', 'proprio'}


def test_runner_command_line_uses_params_files_then_overrides(tmp_path):
    node, = plan('robot', architecture='nvsf_c')
    overrides = write_overrides(node, tmp_path)
    command = node_command(node, overrides)
    assert command[command.index('--ros-args'):] == ['--ros-args', '-r', '__node:=fusion_node', '--params-file',
                                                      str(config_path('fusion_node.yaml')), '--params-file',
                                                      str(overrides)]
    assert yaml.safe_load(overrides.read_text()) == {'fusion_node': {'ros__parameters': node.parameters}}
    assert Path(command[0]).name in ('fusion_node', Path(sys.executable).name)


def test_localhost_defaults_point_at_the_shipped_profile_and_keep_user_values():
    env = apply_localhost_defaults({})
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert Path(env['FASTDDS_DEFAULT_PROFILES_FILE']).name == PROFILE_FILE
    assert apply_localhost_defaults({'FASTDDS_DEFAULT_PROFILES_FILE': '/mine.xml'})['FASTDDS_DEFAULT_PROFILES_FILE'] \
        == '/mine.xml'


def test_the_dds_profile_disables_builtin_transports_and_stays_on_loopback():
    import xml.etree.ElementTree as ET
    root = ET.parse(config_path(PROFILE_FILE)).getroot()
    ns = {'d': 'http://www.eprosima.com'}
    assert root.find('.//d:useBuiltinTransports', ns).text == 'false'
    addresses = [a.text for a in root.findall('.//d:interfaceWhiteList/d:address', ns)]
    assert addresses == ['127.0.0.1']
    shm = [t for t in root.findall('.//d:transport_descriptor', ns) if t.find('d:type', ns).text == 'SHM']
    assert int(shm[0].find('d:segment_size', ns).text) == 16 * 1024 * 1024


@pytest.mark.parametrize('launch_file, target', [('fusion.launch.py', 'robot'), ('synthetic.launch.py', 'synthetic'),
                                                 ('gazebo.launch.py', 'gazebo'),
                                                 ('sim.launch.py', 'sim')])
def test_launch_files_are_adapters_over_the_plan(launch_file, target):
    """Static check that runs everywhere; test/ros/test_launch_files.py runs them where launch_ros exists."""
    import ast
    source = (REPO / 'launch' / launch_file).read_text()
    tree = ast.parse(source)
    assigned = {node.targets[0].id: node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)}
    assert assigned['TARGET'] == target and target in TARGETS
    assert 'launch_description(TARGET)' in source
    adapter = (REPO / 'sensor_fusion' / 'ros' / 'launch_adapter.py').read_text()
    assert 'plan(target, **arguments)' in adapter and 'LAUNCH_ARGUMENTS' in adapter
    assert set(LAUNCH_ARGUMENTS) == {'architecture', 'backend', 'command_interface', 'params_file', 'use_sim_time'}


def test_sim_target_runs_the_simulator_and_the_fusion_node_with_the_sim_parameters():
    sim, fusion = plan('sim', architecture='nvsf_h', backend='loihi_sim', use_sim_time='true')
    assert (sim.executable, fusion.executable) == ('sim_node', 'fusion_node')
    assert fusion.params_files == (config_path('fusion_node.yaml'), config_path('sim.yaml'))
    assert sim.parameters == {'use_sim_time': True} and fusion.parameters['use_sim_time'] is True
    params = yaml.safe_load(config_path('sim.yaml').read_text())
    from sensor_fusion.sim.world import JOINTS, CameraSpec
    assert tuple(params['fusion_node']['ros__parameters']['joint_names']) == JOINTS
    assert (params['fusion_node']['ros__parameters']['event_sensor_width'],
            params['fusion_node']['ros__parameters']['event_sensor_height']) == (CameraSpec().dvs_width,
                                                                                 CameraSpec().dvs_height)

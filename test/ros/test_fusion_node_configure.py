"""Configure-time failures in-process (own Context): the node reports the file and the problem, stays
alive, and configures once the problem is fixed."""
import pytest
import torch
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from harness import ros_context  # noqa: F401  (fixture)
from sensor_fusion.architectures import build_architecture, load_config
from sensor_fusion.ros.fusion_node import FusionNode
from sensor_fusion.weights import save_weights


def make_node(context, **overrides):
    params = [Parameter(k, value=v) for k, v in overrides.items()]
    return FusionNode(context=context, parameter_overrides=params)


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'nvsf_a.safetensors'
    save_weights(build_architecture('nvsf_a', load_config('nvsf_a')), path)
    return path


def test_missing_weights_fail_configure_unless_untrained_is_allowed(ros_context, tmp_path):
    node = make_node(ros_context, architecture='nvsf_a', model_path=str(tmp_path / 'absent.safetensors'))
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        node.set_parameters([Parameter('model_path', value=''), Parameter('allow_untrained', value=True)])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    finally:
        node.destroy_node()


@pytest.mark.parametrize('problem', ['corrupt', 'wrong_architecture', 'wrong_shape'])
def test_bad_weights_fail_configure_and_the_node_can_be_configured_again(ros_context, weights, tmp_path, problem):
    bad = tmp_path / f'{problem}.safetensors'
    if problem == 'corrupt':
        bad.write_bytes(b'not a safetensors file' * 10)
    elif problem == 'wrong_architecture':
        save_weights(build_architecture('nvsf_c', load_config('nvsf_c')), bad)
    else:
        save_weights(build_architecture('nvsf_a', load_config('nvsf_a', overrides={'d_model': 48})), bad)
    node = make_node(ros_context, architecture='nvsf_a', model_path=str(bad))
    messages = []
    node.get_logger().error = lambda text, **_: messages.append(text)   # capture what the operator reads
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert str(bad) in messages[-1], messages
        node.set_parameters([Parameter('model_path', value=str(weights))])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert node._weights_path == str(weights)
    finally:
        node.destroy_node()


@pytest.mark.parametrize('overrides, fragment', [
    ({'architecture': 'nvsf_x'}, "unknown architecture 'nvsf_x'"),
    ({'backend': 'tpu'}, "unknown backend 'tpu'"),
    ({'command_interface': 'wheels'}, "unknown command_interface 'wheels'"),
    ({'command_interface': 'joint_velocity', 'joint_names': ['']}, 'joint_names'),
    ({'required_modalities': ['lidar']}, 'lidar'),
    ({'tick_source': 'lidar'}, 'tick_source'),
    ({'architecture': 'nvsf_a', 'backend': 'loihi_sim'}, 'nvsf_h'),
    ({'architecture': 'nvsf_h', 'gate_mode': 'threshold'}, 'nvsf_h has none'),
    ({'architecture': 'nvsf_a', 'gate_mode': 'sample'}, 'gate_mode must be one of all, threshold'),
])
def test_bad_settings_fail_configure_with_a_message_naming_them(ros_context, overrides, fragment):
    node = make_node(ros_context, allow_untrained=True, **overrides)
    messages = []
    node.get_logger().error = lambda text, **_: messages.append(text)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert fragment in messages[-1], messages
    finally:
        node.destroy_node()


def test_gate_mode_sets_the_encoder_gate_of_the_configured_nvsf_a(ros_context, weights):
    node = make_node(ros_context, architecture='nvsf_a', model_path=str(weights), gate_mode='all')
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node._policy.model.gate_mode == 'all'
    finally:
        node.destroy_node()


def test_weights_trained_under_another_config_load_with_that_config(ros_context, tmp_path):
    import yaml
    from sensor_fusion.paths import config_path
    config = yaml.safe_load(config_path('architectures', 'nvsf_a.yaml').read_text())
    other = tmp_path / 'nvsf_a_ungated.yaml'
    other.write_text(yaml.safe_dump({**config, 'ungated_modalities': ['proprio']}))
    path = tmp_path / 'ungated.safetensors'
    save_weights(build_architecture('nvsf_a', load_config('nvsf_a', other)), path)
    node = make_node(ros_context, architecture='nvsf_a', model_path=str(path))
    messages = []
    node.get_logger().error = lambda text, **_: messages.append(text)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE   # refused, not misread
        assert 'another NVSFAConfig' in messages[-1], messages
        node.set_parameters([Parameter('architecture_config', value=str(other))])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node._policy.model.config.ungated_modalities == ('proprio',)
    finally:
        node.destroy_node()


def test_parameters_are_declared_with_descriptions_and_ranges(ros_context):
    node = make_node(ros_context)
    try:
        names = node._parameters.keys()
        for name in ('architecture', 'backend', 'model_path', 'control_rate_hz', 'command_interface',
                     'max_linear_speed', 'max_angular_speed', 'max_joint_velocity', 'joint_names',
                     'required_modalities', 'timeouts_s.wrench', 'use_sim_time', 'allow_untrained'):
            assert name in names
            assert name == 'use_sim_time' or node.describe_parameter(name).description
        assert node.describe_parameter('control_rate_hz').floating_point_range[0].to_value == 1000.0
        result, = node.set_parameters([Parameter('control_rate_hz', value=-5.0)])
        assert not result.successful and node.get_parameter('control_rate_hz').value == 50.0
    finally:
        node.destroy_node()

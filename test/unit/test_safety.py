"""Limits and the watchdog: nothing out of limits, no NaN, halts on stale required inputs."""
import numpy as np
import pytest

from sensor_fusion.observation import MODALITIES
from sensor_fusion.safety import CommandLimits, CommandState, Watchdog, scale_action

LIMITS = CommandLimits(max_linear_mps=0.2, max_angular_rps=0.5, max_joint_velocity_rps=0.8)
TIMEOUTS = {m: 0.1 for m in MODALITIES}


@pytest.mark.parametrize('interface, n_joints, bound', [('twist', 0, [0.2] * 3 + [0.5] * 3),
                                                        ('joint_velocity', 6, [0.8] * 6),
                                                        ('joint_trajectory', 3, [0.8] * 3)])
def test_no_action_can_exceed_the_limits_or_be_non_finite(interface, n_joints, bound):
    rng = np.random.default_rng(0)
    actions = np.concatenate([rng.normal(0, 50, (500, 6)),
                              np.array([[np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0]])])
    for action in actions:
        command = scale_action(action, interface, LIMITS, n_joints)
        assert np.all(np.isfinite(command))
        assert np.all(np.abs(command) <= np.array(bound) + 1e-12)
        assert len(command) == len(bound)


def test_in_range_actions_scale_linearly():
    command = scale_action(np.array([0.5, -1, 0, 0.25, 0, -0.5]), 'twist', LIMITS)
    assert command.tolist() == pytest.approx([0.1, -0.2, 0, 0.125, 0, -0.25])


def test_joint_interfaces_need_joint_names_and_unknown_interfaces_are_named():
    with pytest.raises(ValueError, match='joint_names'):
        scale_action(np.zeros(6), 'joint_velocity', LIMITS, 0)
    with pytest.raises(KeyError, match="unknown command_interface 'wheels'; known: joint_trajectory, joint_velocity, twist"):
        scale_action(np.zeros(6), 'wheels', LIMITS)


@pytest.mark.parametrize('field', ['max_linear_mps', 'max_angular_rps', 'max_joint_velocity_rps'])
def test_limits_must_be_finite_and_non_negative(field):
    with pytest.raises(ValueError, match=field):
        CommandLimits(**{field: -1.0})


def test_watchdog_states():
    dog = Watchdog(TIMEOUTS, required=('wrench', 'proprio'))
    fresh = {m: 0.01 for m in MODALITIES}
    assert dog.check(fresh).state is CommandState.OK
    degraded = dog.check({**fresh, 'audio': 0.5})
    assert degraded.state is CommandState.DEGRADED and degraded.stale_optional == ('audio',)
    assert degraded.may_command
    halted = dog.check({**fresh, 'wrench': 0.2, 'audio': 0.5})
    assert halted.state is CommandState.HALTED and halted.stale_required == ('wrench',)
    assert not halted.may_command
    never = dog.check({**fresh, 'proprio': None})
    assert never.state is CommandState.HALTED and never.stale_required == ('proprio',)


def test_watchdog_rejects_unknown_modalities_and_bad_timeouts():
    with pytest.raises(ValueError, match='lidar'):
        Watchdog(TIMEOUTS, required=('lidar',))
    with pytest.raises(ValueError, match='positive'):
        Watchdog({**TIMEOUTS, 'camera': 0.0}, required=())

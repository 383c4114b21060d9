"""fusion_node in its own process, driven over DDS: rates, command interfaces, lifecycle, watchdog,
degradation and malformed input."""
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition

from harness import ros_context  # noqa: F401  (fixture)
from harness import JOINTS, Harness, fusion_node_process, stop_process

LIMITS = dict(max_linear_speed=0.2, max_angular_speed=0.5, max_joint_velocity=0.3)
BOUNDS = {'twist': np.array([0.2] * 3 + [0.5] * 3), 'joint_velocity': np.full(6, 0.3),
          'joint_trajectory': np.full(6, 0.3)}
RATE_HZ = {'nvsf_a': 50.0, 'nvsf_c': 20.0, 'nvsf_h': 20.0}
# Required-input timeout in the watchdog tests: long enough that a scheduling hiccup of this shared
# 2-core machine does not halt the node by itself; the halt test measures the delay beyond it.
STALE_S = 0.25


def within_limits(received) -> bool:
    return all(np.all(np.isfinite(c.values)) and np.all(np.abs(c.values) <= BOUNDS[c.kind] + 1e-9) for c in received)


def at_control_rate(rate: float, architecture: str) -> bool:
    """The timer's rate, give or take; a loaded machine may drop ticks (never add them), so the lower
    bound is loose: this checks the node is set to the right rate, benchmarks measure its speed."""
    return 0.5 * RATE_HZ[architecture] <= rate <= 1.25 * RATE_HZ[architecture]


def measured_rate(harness: Harness, kind: str, seconds: float) -> tuple[float, list]:
    """Streams sensors for ``seconds`` and returns the command rate of ``kind`` over that window."""
    harness.stream(0.5)                           # settle after a transition
    start = time.perf_counter()
    harness.stream(seconds)
    received = harness.commands_since(start, kind)
    return len(received) / seconds, received


@pytest.mark.parametrize('architecture', ['nvsf_a', 'nvsf_c', 'nvsf_h'])
def test_commands_at_the_control_rate_on_every_interface(ros_context, architecture):
    process = fusion_node_process(architecture=architecture, allow_untrained=True, control_rate_hz=RATE_HZ[architecture],
                                  joint_names=list(JOINTS), **LIMITS)
    harness = Harness(ros_context)
    try:
        harness.assert_came_up(process)
        rate, received = measured_rate(harness, 'twist', 2.0)
        assert at_control_rate(rate, architecture), f'twist at {rate:.1f} Hz'
        assert within_limits(received) and any(np.any(c.values != 0) for c in received)

        for interface in ('joint_velocity', 'joint_trajectory'):
            before = time.perf_counter()
            assert harness.transition(Transition.TRANSITION_DEACTIVATE)
            # deactivate publishes one zero command on the interface in use
            assert harness.stream(5.0, until=lambda: any(np.all(c.values == 0) for c in harness.commands_since(before)))
            assert harness.transition(Transition.TRANSITION_CLEANUP)
            harness.set(command_interface=interface)
            assert harness.transition(Transition.TRANSITION_CONFIGURE)
            assert harness.transition(Transition.TRANSITION_ACTIVATE)
            rate, received = measured_rate(harness, interface, 2.0)
            assert at_control_rate(rate, architecture), f'{interface} at {rate:.1f} Hz'
            assert within_limits(received) and all(len(c.values) == len(JOINTS) for c in received)
            assert any(np.any(c.values != 0) for c in received)
        assert process.poll() is None
    finally:
        harness.close()
        code, output = stop_process(process)
    assert code == 0, output[-3000:]


@pytest.fixture
def running_node(ros_context):
    process = fusion_node_process(architecture='nvsf_a', allow_untrained=True, control_rate_hz=50.0,
                                  joint_names=list(JOINTS), required_modalities=['wrench', 'proprio'],
                                  diagnostics_period_s=0.2, **{f'timeouts_s.{m}': STALE_S for m in ('wrench', 'proprio')},
                                  **LIMITS)
    harness = Harness(ros_context)
    try:
        harness.assert_came_up(process)
        assert harness.stream(10.0, until=lambda: harness.latest_diagnostics().get('state') == 'ok')
        yield harness, process
    finally:
        harness.close()
        code, output = stop_process(process)
        assert code == 0, output[-3000:]


def test_halts_within_100_ms_when_a_required_input_stops(running_node):
    harness, _ = running_node
    harness.sensors.silenced.add('wrench')
    last_wrench = harness.sensors.last_publish_ns['wrench'] / 1e9
    assert harness.stream(3.0, until=lambda: any(np.all(c.values == 0) for c in harness.commands_since(last_wrench)))
    first_zero = next(c.t for c in harness.commands_since(last_wrench) if np.all(c.values == 0))
    delay = first_zero - last_wrench - STALE_S
    assert delay <= 0.1, f'zero command {delay * 1e3:.0f} ms after the wrench went stale'
    # ... and it stays halted: every later command is zero
    harness.stream(0.5)
    assert all(np.all(c.values == 0) for c in harness.commands_since(first_zero))
    assert harness.stream(3.0, until=lambda: harness.latest_diagnostics().get('state') == 'halted')
    assert 'wrench' in harness.latest_diagnostics()['stale_required']
    # the input comes back: commanding resumes
    harness.sensors.silenced.discard('wrench')
    resumed = time.perf_counter()
    assert harness.stream(3.0, until=lambda: any(np.any(c.values != 0) for c in harness.commands_since(resumed)))


def test_keeps_commanding_degraded_when_an_optional_input_stops(running_node):
    harness, _ = running_node
    harness.sensors.silenced.add('audio')
    assert harness.stream(3.0, until=lambda: harness.latest_diagnostics().get('state') == 'degraded')
    assert 'audio' in harness.latest_diagnostics()['stale_optional']
    start = time.perf_counter()
    harness.stream(1.0)
    received = harness.commands_since(start)
    assert at_control_rate(len(received) / 1.0, 'nvsf_a')
    assert all(np.any(c.values != 0) for c in received) and within_limits(received)


def test_survives_a_burst_of_malformed_messages_of_every_type(running_node):
    from sensor_fusion.ros import conversions as conv
    harness, process = running_node
    node, publishers = harness.node, harness.sensors.publishers
    now = node.get_clock().now().nanoseconds
    bad_image = conv.rgb_to_image(np.zeros((4, 4, 3), np.uint8), now)
    bad_image.encoding = 'yuv422'
    short_image = conv.rgb_to_image(np.zeros((4, 4, 3), np.uint8), now)
    short_image.data = bytes(5)
    nan_tactile = conv.float32_to_image(np.full((2, 2), np.nan, np.float32), now)
    loud_audio = conv.samples_to_audio_image(np.full((1, 160), 9.0, np.float32), now)
    nan_wrench = conv.wrench_msg([np.nan, 0, 0, 0, 0, 0], now)
    future_wrench = conv.wrench_msg([0] * 6, now + 10 * 10**9)
    zero_stamp_wrench = conv.wrench_msg([0] * 6, 0)
    bad_joints = conv.joint_state_msg(['nope'], [0.0], [0.0], now)
    mismatched_joints = conv.joint_state_msg(list(JOINTS), [0.0] * 6, [0.0] * 2, now)
    bad_cloud = conv.events_to_pointcloud2(conv_events(now), now)
    bad_cloud.data = bytes(3)
    outside_cloud = conv.events_to_pointcloud2(conv_events(now, x=5000), now)
    burst = [('camera', bad_image), ('camera', short_image), ('tactile', nan_tactile), ('audio', loud_audio),
             ('wrench', nan_wrench), ('wrench', future_wrench), ('wrench', zero_stamp_wrench), ('proprio', bad_joints),
             ('proprio', mismatched_joints), ('events', bad_cloud), ('events', outside_cloud)]
    start = time.perf_counter()
    for _ in range(20):                           # 220 bad messages interleaved with the good streams
        for name, msg in burst:
            publishers[name].publish(msg)
        harness.stream(0.05)
    harness.stream(1.5)
    assert process.poll() is None, 'fusion_node died on malformed input'
    received = harness.commands_since(start)
    assert len(received) > 50 and within_limits(received)
    diagnostics = harness.latest_diagnostics()
    for modality in ('camera', 'tactile', 'audio', 'wrench', 'proprio', 'events'):
        assert int(diagnostics[f'{modality}.dropped']) > 0, (modality, diagnostics)
    assert 'stamp_in_future' in diagnostics['wrench.drop_reasons'] and 'bad_encoding' in diagnostics['camera.drop_reasons']
    assert diagnostics['state'] in ('ok', 'degraded')


def conv_events(stamp, x=1):
    from sensor_fusion.observation import make_events
    return make_events([x, 2], [1, 1], [stamp, stamp + 10], [0, 1])

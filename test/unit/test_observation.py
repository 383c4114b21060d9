import numpy as np
import pytest

from conftest import STAMP_NS, make_observation
from sensor_fusion.observation import EVENT_DTYPE, MODALITIES, Observation, ObservationError, make_events


def test_full_observation_is_valid_everywhere(observation):
    assert observation.validity == (True,) * len(MODALITIES)


def test_missing_and_masked_modalities():
    obs = make_observation(rgb=None, masked=frozenset({'audio'}))
    assert not obs.is_valid('camera') and not obs.is_valid('audio') and obs.is_valid('events')


def test_empty_event_array_is_valid_no_motion():
    obs = make_observation(events=np.empty(0, EVENT_DTYPE))
    assert obs.is_valid('events')


@pytest.mark.parametrize('overrides, message', [
    (dict(rgb=np.zeros((96, 96), np.uint8)), 'rgb must be 3-D'),
    (dict(rgb=np.zeros((96, 96, 3), np.float32)), 'rgb'),
    (dict(wrench=np.full((40, 6), np.nan, np.float32)), 'wrench contains NaN'),
    (dict(wrench=np.zeros((40, 5), np.float32)), 'wrench must be 2-D with last dimension 6'),
    (dict(wrench=np.zeros((0, 6), np.float32), wrench_stamps_ns=np.zeros(0, np.int64)), 'wrench is empty'),
    (dict(wrench_stamps_ns=STAMP_NS - np.arange(40)), 'non-decreasing'),
    (dict(audio=np.array([[np.inf, 0.0]], np.float32)), 'audio contains NaN or inf'),
    (dict(audio_rate_hz=0.0), 'audio_rate_hz'),
    (dict(tactile=np.full((4, 4), np.inf, np.float32)), 'tactile'),
    (dict(events=make_events([64], [0], [STAMP_NS], [1])), 'event coordinates out of range'),
    (dict(events=make_events([1], [48], [STAMP_NS], [1])), 'event coordinates out of range'),
    (dict(events=make_events([1, 2], [1, 2], [STAMP_NS, STAMP_NS - 5], [1, 0])), 'non-decreasing'),
    (dict(events=make_events([1], [1], [STAMP_NS], [2])), 'polarity'),
    (dict(events=np.zeros(3, [('x', 'f4')])), 'EVENT_DTYPE'),
    (dict(event_sensor_size=None), 'event_sensor_size'),
    (dict(joint_velocities=None), 'together'),
    (dict(joint_positions=np.array([np.nan] * 6)), 'joint_positions contains NaN'),
    (dict(stamp_ns=-1), 'stamp_ns'),
    (dict(masked=frozenset({'lidar'})), 'unknown modality'),
    (dict(ages_s={'camera': float('nan')}), 'ages_s must be finite'),
    (dict(ages_s={'camera': -0.1}), 'ages_s must be finite'),
])
def test_bad_input_raises_a_clear_error(overrides, message):
    with pytest.raises(ObservationError, match=message):
        make_observation(**overrides)


def test_observation_without_any_sensor_is_allowed():
    obs = Observation(stamp_ns=0)
    assert obs.validity == (False,) * len(MODALITIES)

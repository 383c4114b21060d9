"""Buffers and tick alignment: what the node and the bag loader hand the model."""
import numpy as np
import pytest

from sensor_fusion.ingest import NS_PER_S, IngestConfig, SensorBuffers
from sensor_fusion.observation import make_events
from sensor_fusion.preprocess import PreprocessConfig

T0 = 100 * NS_PER_S
MS = 1_000_000


def buffers(**overrides) -> SensorBuffers:
    return SensorBuffers(IngestConfig(**overrides))


def test_config_follows_the_preprocessing_windows():
    pre = PreprocessConfig()
    config = IngestConfig.for_preprocess(pre)
    assert config.wrench_window == pre.haptic.window
    assert config.audio_window_s == pre.audio.window_s
    assert config.events_window_s == pre.events.window_ms / 1000


@pytest.mark.parametrize('field, value', [('audio_window_s', 0.0), ('max_future_s', float('nan')),
                                          ('wrench_window', 0), ('history_s', 0.01)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        IngestConfig(**{field: value})


def test_camera_and_joints_use_the_latest_sample_at_or_before_the_tick():
    b = buffers()
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    for i, frame in enumerate(frames):
        assert b.push_camera(frame, T0 + i * 33 * MS, T0 + i * 33 * MS) is None
        b.push_joints(np.full(2, float(i)), np.zeros(2), T0 + i * 33 * MS, T0 + i * 33 * MS)
    obs = b.observation_at(T0 + 40 * MS)      # between frame 1 (33 ms) and frame 2 (66 ms)
    assert obs.rgb[0, 0, 0] == 1
    assert obs.joint_positions.tolist() == [1.0, 1.0]
    # Age answers "has the sensor gone silent": a sample newer than the tick means it has not.
    assert obs.ages_s['camera'] == 0.0
    assert b.observation_at(T0 + 100 * MS).ages_s['camera'] == pytest.approx(0.034)
    assert b.observation_at(T0 - 1).rgb is None           # nothing before the first frame


def test_wrench_window_is_the_last_n_samples_up_to_the_tick():
    b = buffers(wrench_window=4)
    for i in range(10):
        b.push_wrench(np.full(6, float(i)), T0 + i * 2 * MS, T0 + i * 2 * MS)
    obs = b.observation_at(T0 + 13 * MS)      # samples 0..6 are at or before 13 ms
    assert obs.wrench[:, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert obs.wrench_stamps_ns.tolist() == [T0 + i * 2 * MS for i in (3, 4, 5, 6)]


def test_a_clock_tick_aligns_to_the_newest_instant_every_required_input_reached():
    b = buffers()
    now = T0 + 100 * MS
    assert b.newest_common_stamp_ns(now, ('wrench', 'proprio')) == now        # nothing yet: the clock
    for i in range(40):                       # the world's stamps lag the clock: wrench to 78 ms
        b.push_wrench(np.full(6, float(i)), T0 + i * 2 * MS, now)
    b.push_joints(np.zeros(2), np.zeros(2), T0 + 50 * MS, now)               # joints to 50 ms
    assert b.newest_common_stamp_ns(now, ('wrench', 'proprio')) == T0 + 50 * MS
    assert b.newest_common_stamp_ns(now, ('wrench',)) == T0 + 78 * MS
    # Aligned there, the wrench window ends at its newest sample, as in training; at the clock it
    # would end 22 ms after it.
    obs = b.observation_at(b.newest_common_stamp_ns(now, ('wrench',)))
    assert obs.wrench_stamps_ns[-1] == T0 + 78 * MS and obs.ages_s['wrench'] == 0.0
    # Never past the clock, whatever a stamp says.
    assert b.newest_common_stamp_ns(T0 + 20 * MS, ('wrench', 'proprio')) == T0 + 20 * MS


def test_audio_window_stitches_chunks_and_ends_at_the_tick():
    rate = 1000.0
    b = buffers(audio_window_s=0.025)
    for chunk in range(5):                    # 10 ms chunks of 10 samples, values = sample index
        samples = np.arange(chunk * 10, chunk * 10 + 10, dtype=np.float32)[None] / 100
        b.push_audio(samples, T0 + chunk * 10 * MS, rate, T0 + chunk * 10 * MS + 9 * MS)
    obs = b.observation_at(T0 + 34 * MS)      # samples at 10..34 ms -> indices 10..34, last 25 ms = 10..34
    assert obs.audio_rate_hz == rate
    assert (obs.audio[0] * 100).round().astype(int).tolist() == list(range(10, 35))


def test_events_window_cuts_packets_at_the_window_edges():
    b = buffers(events_window_s=0.010)
    for packet in range(4):                   # 5 ms packets, one event per ms
        t = T0 + packet * 5 * MS + np.arange(5) * MS
        b.push_events(make_events(np.arange(5), np.zeros(5), t, np.ones(5)), (8, 8), int(t[0]), int(t[-1]))
    obs = b.observation_at(T0 + 14 * MS)
    assert (obs.events['t'] - T0).tolist() == [m * MS for m in range(5, 15)]
    assert obs.event_sensor_size == (8, 8)


def test_no_events_in_the_window_is_an_empty_array_not_a_missing_modality():
    b = buffers()
    t = np.array([T0])
    b.push_events(make_events([1], [1], t, [1]), (8, 8), T0, T0)
    obs = b.observation_at(T0 + NS_PER_S)
    assert obs.events is not None and len(obs.events) == 0 and obs.is_valid('events')


@pytest.mark.parametrize('stamp, reason', [(0, 'zero_stamp'), (T0 + 2 * NS_PER_S, 'stamp_in_future'),
                                           (T0 - 60 * NS_PER_S, 'stamp_too_old')])
def test_impossible_stamps_are_dropped_and_counted(stamp, reason):
    b = buffers()
    assert b.push_wrench(np.zeros(6), stamp, T0) == reason
    assert b.stats['wrench'].drops[reason] == 1 and b.stats['wrench'].accepted == 0
    assert b.observation_at(T0).wrench is None


def test_a_stamp_going_back_is_dropped():
    b = buffers()
    assert b.push_camera(np.zeros((2, 2, 3), np.uint8), T0, T0) is None
    assert b.push_camera(np.zeros((2, 2, 3), np.uint8), T0 - MS, T0) == 'stamp_went_back'


@pytest.mark.parametrize('push', [
    lambda b: b.push_wrench(np.array([0, 0, np.nan, 0, 0, 0.0]), T0, T0),
    lambda b: b.push_wrench(np.zeros(5), T0, T0),
    lambda b: b.push_tactile(np.full((2, 2), np.inf, np.float32), T0, T0),
    lambda b: b.push_joints(np.zeros(2), np.zeros(3), T0, T0),
    lambda b: b.push_audio(np.zeros((1, 0), np.float32), T0, 16000.0, T0),
    lambda b: b.push_audio(np.zeros((1, 4), np.float32), T0, 0.0, T0),
    lambda b: b.push_events(make_events([9], [0], [T0], [1]), (8, 8), T0, T0),
    lambda b: b.push_camera(np.zeros((2, 2), np.uint8), T0, T0),
], ids=['wrench_nan', 'wrench_shape', 'tactile_inf', 'joints_shape', 'audio_empty', 'audio_rate',
        'events_outside_sensor', 'camera_shape'])
def test_malformed_samples_are_dropped_with_a_reason_never_raised(push):
    b = buffers()
    reason = push(b)
    assert isinstance(reason, str) and reason
    assert sum(s.dropped for s in b.stats.values()) == 1
    b.observation_at(T0)                      # still builds a valid observation


def test_masked_modalities_are_left_out_of_the_observation():
    b = buffers()
    b.push_camera(np.zeros((2, 2, 3), np.uint8), T0, T0)
    b.push_wrench(np.zeros(6), T0, T0)
    obs = b.observation_at(T0, masked=frozenset({'camera'}))
    assert obs.rgb is None and obs.wrench is not None


def test_history_is_bounded():
    b = buffers(max_events=1000, history_s=0.5, events_window_s=0.1, audio_window_s=0.1)
    for packet in range(100):                 # 100 packets x 100 events over 1 s
        t = T0 + packet * 10 * MS + np.arange(100) * 100_000
        b.push_events(make_events(np.zeros(100), np.zeros(100), t, np.ones(100)), (8, 8), int(t[0]), int(t[-1]))
        b.push_audio(np.zeros((1, 160), np.float32), T0 + packet * 10 * MS, 16000.0, T0 + packet * 10 * MS)
        b.push_wrench(np.zeros(6), T0 + packet * 10 * MS, T0 + packet * 10 * MS)
    assert b._event_count <= 1000
    assert len(b._audio) <= 51
    assert len(b._wrench_stamps) <= 256


def test_rates_count_accepted_arrivals():
    b = buffers()
    for i in range(100):
        b.push_wrench(np.zeros(6), T0 + i * 10 * MS, T0 + i * 10 * MS)
    assert b.stats['wrench'].rate_hz(T0 + 999 * MS, 1.0) == pytest.approx(100, abs=1)

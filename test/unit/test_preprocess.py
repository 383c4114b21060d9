import copy

import numpy as np
import pytest
import torch

from conftest import EVENT_SENSOR, STAMP_NS, make_observation
from sensor_fusion.architectures import ARCHITECTURES, load_config
from sensor_fusion.observation import MODALITIES, make_events
from sensor_fusion.preprocess import Preprocessor
from sensor_fusion.preprocess.audio import AudioTransform, mel_filterbank, resample
from sensor_fusion.preprocess.camera import CameraTransform
from sensor_fusion.preprocess.events import EventTransform, event_frames, event_voxel_grid
from sensor_fusion.preprocess.haptic import HapticTransform, contact_features, wrench_window


def _snapshot(obs):
    return {name: copy.deepcopy(getattr(obs, name)) for name in obs.__dataclass_fields__}


@pytest.mark.parametrize('key', ARCHITECTURES.keys())
def test_preprocessing_leaves_the_observation_unchanged(key, observation):
    before = _snapshot(observation)
    Preprocessor(load_config(key).preprocess)(observation)
    for name, value in before.items():
        now = getattr(observation, name)
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, now), name
        else:
            assert value == now, name


@pytest.mark.parametrize('transform, args', [
    (CameraTransform(16), lambda o: (o.rgb,)),
    (HapticTransform(), lambda o: (o.wrench,)),
    (AudioTransform(), lambda o: (o.audio, 44100.0)),
    (EventTransform('frames'), lambda o: (o.events, o.event_sensor_size, o.stamp_ns)),
    (EventTransform('voxel', denoise_ms=5.0), lambda o: (o.events, o.event_sensor_size, o.stamp_ns)),
])
def test_each_transform_is_pure(transform, args, observation):
    inputs = args(observation)
    copies = [copy.deepcopy(a) for a in inputs]
    first = transform(*inputs)
    second = transform(*inputs)
    for before, after in zip(copies, inputs):
        if isinstance(before, np.ndarray):
            assert np.array_equal(before, after)
    np.testing.assert_array_equal(first[0] if isinstance(first, tuple) else first,
                                  second[0] if isinstance(second, tuple) else second)


@pytest.mark.parametrize('key', ARCHITECTURES.keys())
def test_missing_modalities_are_zero_and_masked(key):
    pre = Preprocessor(load_config(key).preprocess)
    inputs = pre(make_observation(rgb=None, audio=None))
    assert inputs.mask[0].tolist() == [m not in ('camera', 'audio') for m in MODALITIES]
    assert inputs.image.abs().sum() == 0 and inputs.audio.abs().sum() == 0
    assert all(torch.isfinite(getattr(inputs, f)).all() for f in ('image', 'wrench', 'audio', 'events'))


@pytest.mark.parametrize('key', ARCHITECTURES.keys())
def test_dropping_a_modality_in_training_equals_it_not_arriving(key):
    """Modality dropout (training) must give the model exactly what a silenced topic gives it."""
    from sensor_fusion.preprocess import collate
    pre = Preprocessor(load_config(key).preprocess)
    full = collate([pre(make_observation()), pre(make_observation())])
    dropped = torch.zeros(2, len(MODALITIES), dtype=torch.bool)
    dropped[0, MODALITIES.index('events')] = dropped[0, MODALITIES.index('wrench')] = True
    dropped[1, MODALITIES.index('camera')] = True
    got = full.without(dropped)
    silenced = [pre(make_observation(events=None, wrench=None)), pre(make_observation(rgb=None))]
    for row, expected in enumerate(silenced):
        for name in ('image', 'wrench', 'contact', 'tactile', 'audio', 'events', 'proprio', 'mask'):
            assert torch.equal(getattr(got, name)[row], getattr(expected, name)[0]), (row, name)
    assert full.mask.all() and full.events.abs().sum() > 0       # the original batch is untouched


def test_camera_is_resized_and_scaled_to_unit_range():
    white = np.full((96, 128, 3), 255, np.uint8)
    out = CameraTransform(16)(white)
    assert out.shape == (3, 16, 16) and np.allclose(out, 1.0)


def test_wrench_window_keeps_newest_and_pads_the_old_end():
    wrench = np.arange(12, dtype=np.float32).reshape(2, 6)
    window = wrench_window(wrench, 4, force_scale_n=1.0, torque_scale_nm=1.0)
    assert window.shape == (4, 6)
    np.testing.assert_array_equal(window[:2], 0)
    np.testing.assert_array_equal(window[2:], wrench)


def test_contact_features_see_an_impact():
    calm = np.zeros((10, 6), np.float32)
    impact = calm.copy()
    impact[5, 2] = 10.0
    assert contact_features(calm, 20.0, 2.0)[2] == 0
    assert contact_features(impact, 20.0, 2.0)[2] == pytest.approx(0.5)


def test_resample_preserves_a_tone():
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, 44100, 16000)
    assert abs(len(out) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 1000) < 5


def test_log_mel_peaks_in_the_band_of_the_tone():
    audio = AudioTransform()
    t = np.arange(4096) / 16000
    mel = audio(np.sin(2 * np.pi * 2000 * t)[None].astype(np.float32), 16000.0)
    assert mel.shape == (audio.n_mels, audio.n_frames)
    band = int(np.argmax(mel[:, -5:].mean(axis=1)))
    peak_bin = round(2000 / (16000 / 2) * (audio.n_fft // 2))
    assert band == int(mel_filterbank(audio.n_fft, audio.n_mels, 16000.0)[:, peak_bin].argmax())


def test_event_frames_bin_time_polarity_and_space():
    window = 1000
    events = make_events([0, 63, 10, 10], [0, 47, 5, 5],
                         [STAMP_NS - 999, STAMP_NS, STAMP_NS - 400, STAMP_NS - 2000], [1, 0, 1, 1])
    frames = event_frames(events, EVENT_SENSOR, STAMP_NS, window, bins=2, grid=8)
    assert frames.shape == (2, 2, 8, 8)
    assert frames.sum() == 3                       # the event 2000 ns old is outside the window
    assert frames[0, 1, 0, 0] == 1                 # oldest, ON, top-left
    assert frames[1, 0, 7, 7] == 1                 # newest, OFF, bottom-right
    assert frames[1, 1, 5 * 8 // 48, 10 * 8 // 64] == 1


def test_voxel_grid_is_signed_and_bilinear_in_time():
    window = 1000
    events = make_events([5, 5, 20], [5, 5, 20], [STAMP_NS - 750, STAMP_NS, STAMP_NS - 500], [1, 0, 1])
    grid = event_voxel_grid(events, (32, 32), STAMP_NS, window, bins=3, grid=32)
    assert grid.shape == (3, 1, 32, 32)
    # 250/1000 of the window -> position 0.5 between bins 0 and 1; the newest (OFF) event is -1 in bin 2.
    np.testing.assert_allclose(grid[:, 0, 5, 5], [0.5, 0.5, -1.0])
    np.testing.assert_allclose(grid[:, 0, 20, 20], [0.0, 1.0, 0.0])
    assert grid.sum() == pytest.approx(1.0)


def test_denoise_drops_isolated_events_only():
    events = make_events([10, 11, 40], [10, 10, 40], [STAMP_NS - 300, STAMP_NS - 200, STAMP_NS - 100], [1, 1, 1])
    kept = EventTransform('frames', window_ms=1.0, bins=1, grid=64, denoise_ms=0.001)(events, (64, 64), STAMP_NS)
    assert kept.sum() == 1 and kept[0, 1, 10 * 64 // 64, 11] == 1


def test_more_joints_than_the_model_takes_is_a_clear_error():
    from sensor_fusion.observation import ObservationError
    pre = Preprocessor(load_config('nvsf_a').preprocess)
    with pytest.raises(ObservationError, match='12 joints exceed preprocess.max_joints=8'):
        pre(make_observation(joint_positions=np.zeros(12), joint_velocities=np.zeros(12)))


@pytest.mark.parametrize('with_velocities', [True, False])
def test_joint_velocities_reach_the_model_only_when_configured(with_velocities):
    from sensor_fusion.preprocess import PreprocessConfig
    positions, velocities = np.linspace(-1.0, 1.0, 6), np.linspace(0.5, 3.0, 6)
    pre = Preprocessor(PreprocessConfig(max_joints=8, proprio_velocities=with_velocities))
    proprio = pre(make_observation(joint_positions=positions, joint_velocities=velocities)).proprio[0].numpy()
    assert proprio.shape == (16,)       # the width does not depend on the switch: weights keep their shapes
    np.testing.assert_allclose(proprio[:6], positions, rtol=1e-6)
    np.testing.assert_allclose(proprio[8:14], velocities if with_velocities else 0.0, rtol=1e-6)

"""The DVS emulator on cases with known answers."""
import math

import numpy as np
import pytest

from sensor_fusion.sim.event_emulator import EventEmulator, EventEmulatorConfig, lin_log

MS = 1_000_000
EXACT = dict(mismatch_sigma=0.0, refractory_s=0.0)


def ramp(emulator, log_start, log_end, steps, duration_ns, shape=(1, 1)):
    """Feeds frames whose log intensity ramps linearly; returns all events."""
    events = []
    for i in range(steps + 1):
        level = log_start + (log_end - log_start) * i / steps
        frame = np.full(shape, math.exp(level))
        events.append(emulator.frame(frame, 10 * MS + i * duration_ns // steps))
    return np.concatenate(events)


def test_a_brightening_pixel_fires_on_events_at_the_interpolated_crossings():
    emulator = EventEmulator(EventEmulatorConfig(contrast_pos=0.2, **EXACT))
    events = ramp(emulator, math.log(100), math.log(100) + 1.0, steps=4, duration_ns=1000 * MS)
    # log intensity rises 1.0 over 1 s from t = 10 ms: crossings every 0.2 -> t = 210, 410, ..., 1010 ms
    assert events['p'].tolist() == [1] * 5
    assert np.allclose(events['t'], [10 * MS + k * 200 * MS for k in range(1, 6)], atol=2)


def test_a_darkening_pixel_fires_off_events_and_a_static_scene_fires_none():
    emulator = EventEmulator(EventEmulatorConfig(contrast_neg=0.25, **EXACT))
    events = ramp(emulator, math.log(200), math.log(200) - 1.0, steps=10, duration_ns=100 * MS)
    assert events['p'].tolist() == [0] * 4
    assert np.all(np.diff(events['t']) > 0)
    still = EventEmulator(EventEmulatorConfig(**EXACT))
    assert len(ramp(still, math.log(50), math.log(50), steps=5, duration_ns=50 * MS, shape=(8, 8))) == 0


def test_refractory_period_drops_crossings_too_close_to_the_last_event():
    emulator = EventEmulator(EventEmulatorConfig(contrast_pos=0.2, mismatch_sigma=0.0, refractory_s=0.3))
    events = ramp(emulator, math.log(100), math.log(100) + 1.0, steps=1, duration_ns=1000 * MS)
    # crossings at 210, 410, 610, 810, 1010 ms; 0.3 s blind after each kept one -> 210, 610, 1010
    assert np.allclose(events['t'], [210 * MS, 610 * MS, 1010 * MS], atol=2)


def test_refractory_carries_across_frame_intervals():
    emulator = EventEmulator(EventEmulatorConfig(contrast_pos=0.2, mismatch_sigma=0.0, refractory_s=0.25))
    events = ramp(emulator, math.log(100), math.log(100) + 1.0, steps=10, duration_ns=1000 * MS)
    # one crossing per 200 ms, each in another frame interval; 250 ms blind -> every other one
    assert np.allclose(events['t'], [210 * MS, 610 * MS, 1010 * MS], atol=2)


def test_threshold_mismatch_is_per_pixel_and_seeded():
    def run(seed):
        emulator = EventEmulator(EventEmulatorConfig(mismatch_sigma=0.05, refractory_s=0.0, seed=seed))
        return ramp(emulator, math.log(100), math.log(100) + 2.0, steps=20, duration_ns=200 * MS, shape=(16, 16))
    a, b, c = run(1), run(1), run(2)
    assert (a == b).all() and not (len(a) == len(c) and (a == c).all())
    per_pixel = np.bincount(a['y'].astype(int) * 16 + a['x'], minlength=256)
    assert per_pixel.min() < per_pixel.max()          # thresholds differ between pixels
    assert 7 <= per_pixel.mean() <= 13                # about 2.0 / 0.2 = 10 events each


def test_moving_edge_fires_where_it_moves_with_both_polarities():
    emulator = EventEmulator(EventEmulatorConfig(**EXACT))
    frames = []
    for i in range(6):                                # a bright bar moving right one column per 10 ms
        frame = np.full((4, 12), 30.0)
        frame[:, 2 + i:4 + i] = 200.0
        frames.append(emulator.frame(frame, i * 10 * MS))
    events = np.concatenate(frames)
    assert set(events['p'].tolist()) == {0, 1}
    assert set(events['x'][events['p'] == 1].tolist()) == {4, 5, 6, 7, 8}     # leading edge brightens
    assert set(events['x'][events['p'] == 0].tolist()) == {2, 3, 4, 5, 6}     # trailing edge darkens


def test_lin_log_is_continuous_and_rgb_frames_are_accepted():
    assert lin_log(np.array([19.999]))[0] == pytest.approx(lin_log(np.array([20.001]))[0], abs=1e-3)
    emulator = EventEmulator(EventEmulatorConfig(**EXACT))
    emulator.frame(np.zeros((2, 3, 3), np.uint8), 0)
    assert len(emulator.frame(np.full((2, 3, 3), 255, np.uint8), MS)) > 0 and emulator.sensor_size == (3, 2)
    with pytest.raises(ValueError, match='time order'):
        emulator.frame(np.zeros((2, 3, 3), np.uint8), 0)

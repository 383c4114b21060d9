"""Shared test helpers: synthetic observations of every modality, made here (no downloads)."""
from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.observation import Observation, make_events

STAMP_NS = 5_000_000_000
EVENT_SENSOR = (64, 48)


def make_observation(seed: int = 0, n_events: int = 400, **overrides) -> Observation:
    """A plausible tick: 96x96 camera, 500 Hz wrench, 4x4 taxels, 16 kHz stereo audio, DVS, 6 joints."""
    rng = np.random.default_rng(seed)
    t = np.sort(STAMP_NS - rng.integers(0, 30_000_000, n_events))
    values = dict(
        stamp_ns=STAMP_NS,
        rgb=rng.integers(0, 256, (96, 96, 3), dtype=np.uint8),
        wrench=rng.normal(0, 3, (40, 6)).astype(np.float32),
        wrench_stamps_ns=STAMP_NS - 2_000_000 * np.arange(40)[::-1],
        tactile=rng.random((4, 4)).astype(np.float32),
        audio=(0.1 * rng.standard_normal((2, 4096))).astype(np.float32),
        audio_rate_hz=16000.0,
        events=make_events(rng.integers(0, EVENT_SENSOR[0], n_events), rng.integers(0, EVENT_SENSOR[1], n_events),
                           t, rng.integers(0, 2, n_events)),
        event_sensor_size=EVENT_SENSOR,
        joint_positions=rng.normal(0, 1, 6),
        joint_velocities=rng.normal(0, 0.1, 6),
    )
    values.update(overrides)
    return Observation(**values)


@pytest.fixture
def observation() -> Observation:
    return make_observation()

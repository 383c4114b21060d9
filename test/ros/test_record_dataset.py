"""Recorder -> MCAP bag -> dataset samples, equal to what the fusion node's live alignment produces."""
import dataclasses

import numpy as np
import pytest

from sensor_fusion.decode import MessageIngest, stamp_ns
from sensor_fusion.ingest import IngestConfig, SensorBuffers
from sensor_fusion.architectures import load_config
from sensor_fusion.ros import conversions as conv
from sensor_fusion.ros.recorder import STAMP_BASE_NS, BagWriter, record_episode
from sensor_fusion.ros.sim_node import sensor_messages
from sensor_fusion.sim.expert import ScriptedExpert
from sensor_fusion.sim.simulator import JOINTS, SimConfig, TabletopSim
from sensor_fusion.sim.task import Outcome
from sensor_fusion.sim.task import CONTROL_RATE_HZ
from sensor_fusion.training.dataset import DatasetError, load_bag

PREPROCESS = load_config('nvsf_h').preprocess


def live_observations(seed: int, seconds: float, rate_hz: float = CONTROL_RATE_HZ):
    """The fusion node's path without DDS: the same messages, pushed as they are produced."""
    sim = TabletopSim(SimConfig(render=True))
    expert = ScriptedExpert(sim)
    episode = sim.reset(seed)
    expert.reset()
    buffers = SensorBuffers(IngestConfig.for_preprocess(PREPROCESS), JOINTS)
    ingest = MessageIngest(buffers, JOINTS, event_sensor_size=(96, 72))
    previous_dvs, next_tick, observations = None, None, []
    while not episode.done and episode.time_s < seconds:
        tick = STAMP_BASE_NS + sim.time_ns
        if next_tick is None or tick >= next_tick:
            next_tick = tick + int(1e9 / rate_hz)
            observations.append(buffers.observation_at(tick))
        sim.command_twist(expert.act(sim.pad_force_n))
        out = sim.step()
        messages, previous_dvs = sensor_messages(out, STAMP_BASE_NS, previous_dvs)
        for modality, msg in messages:
            ingest.push(modality, msg, STAMP_BASE_NS + out.time_ns)
    return observations


def test_bag_round_trip_gives_the_live_alignment(tmp_path):
    sim = TabletopSim(SimConfig(render=True))
    # 1.5 s: the expert holds still while the tone sounds (1 s); the last ticks must show motion events.
    record_episode(sim, ScriptedExpert(sim), seed=4, path=tmp_path / 'bag', max_seconds=1.5)
    loaded = load_bag(tmp_path / 'bag', PREPROCESS, JOINTS)
    live = live_observations(4, 1.5)
    assert len(loaded.samples) == len(live) == 150        # 1.5 s at the task's 100 Hz
    for sample, expected in zip(loaded.samples, live):
        got = sample.observation
        assert got.stamp_ns == expected.stamp_ns
        for field in ('rgb', 'wrench', 'tactile', 'audio', 'joint_positions', 'joint_velocities'):
            a, b = getattr(got, field), getattr(expected, field)
            assert (a is None and b is None) or np.array_equal(a, b), (field, got.stamp_ns)
        assert (got.events is None and expected.events is None) or np.array_equal(got.events, expected.events)
        assert np.all(np.abs(sample.action) <= 1.0)
    assert loaded.samples[-1].observation.rgb is not None and len(loaded.samples[-1].observation.events) > 0
    assert loaded.result['seed'] == 4 and not loaded.dropped


def test_a_bag_without_a_required_topic_is_refused_naming_it(tmp_path):
    bag = BagWriter(tmp_path / 'commands_only')
    bag.write('command', conv.twist_msg(np.zeros(6), 1_000, 'base'), 1_000)
    bag.close()
    with pytest.raises(DatasetError, match=r'commands_only: bag lacks required topics .*camera/image_raw'):
        load_bag(tmp_path / 'commands_only', PREPROCESS, JOINTS)
    with pytest.raises(DatasetError, match='cannot read'):
        load_bag(tmp_path / 'absent', PREPROCESS, JOINTS)


def test_stamp_helper_is_shared():
    assert stamp_ns(conv.header(123_456_789_012)) == 123_456_789_012


def test_dart_recording_moves_the_arm_but_keeps_the_experts_labels(tmp_path):
    """While the tone sounds the expert says "stay"; with action noise the arm drifts all the same,
    and the bag must hold the expert's zero command (the label), not the executed twist."""
    sim = TabletopSim(SimConfig(render=True))
    expert = ScriptedExpert(sim)
    episode = record_episode(sim, expert, seed=4, path=tmp_path / 'noisy', max_seconds=0.8, action_noise_mps=0.08)
    assert episode.time_s < expert.listen_s                # the whole recording is inside the tone
    loaded = load_bag(tmp_path / 'noisy', PREPROCESS, JOINTS)
    assert loaded.result['action_noise_mps'] == 0.08
    assert all(not np.any(s.action) for s in loaded.samples)
    positions = [s.observation.joint_positions for s in loaded.samples if s.observation.joint_positions is not None]
    first, last = positions[0], positions[-1]
    assert np.abs(last - first).max() > 0.005, 'the noise did not move the arm'


def test_a_seed_recorded_twice_gives_the_same_samples(tmp_path):
    """Demonstrations are reproducible from their seeds, noise included: a fresh simulator records
    the same observations and labels. (The bags' bytes may differ: rclpy leaves CDR alignment
    padding unset, so only the values are compared.)"""
    loaded = []
    for name in ('first', 'second'):
        sim = TabletopSim(SimConfig(render=True))
        record_episode(sim, ScriptedExpert(sim), seed=4, path=tmp_path / name, max_seconds=1.2,
                       action_noise_mps=0.08, press_noise_mps=0.008)
        loaded.append(load_bag(tmp_path / name, PREPROCESS, JOINTS))
    first, second = loaded
    assert len(first.samples) == len(second.samples) > 100
    for a, b in zip(first.samples, second.samples):
        np.testing.assert_array_equal(a.action, b.action)
        for field in dataclasses.fields(a.observation):     # every input, its stamps and sizes
            x, y = getattr(a.observation, field.name), getattr(b.observation, field.name)
            assert (x is None) == (y is None), field.name
            if x is not None:
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=field.name)


def test_travel_noise_is_seeded_smooth_and_kept_out_of_danger():
    from sensor_fusion.ros.recorder import TravelNoise
    a, b = TravelNoise(0.08, seed=7), TravelNoise(0.08, seed=7)
    path = np.array([a.step(0.002) for _ in range(20_000)])           # (T, 3), 40 s
    assert np.array_equal(path, np.array([b.step(0.002) for _ in range(20_000)]))   # one path per seed
    assert 0.05 < path.std() < 0.11                                    # about sigma
    lagged = np.corrcoef(path[:-50, 0], path[50:, 0])[0, 1]             # 0.1 s apart: exp(-0.5) ~ 0.61
    assert 0.45 < lagged < 0.75                                        # drifts for tenths of a second
    sim = TabletopSim(SimConfig(render=False))
    expert = ScriptedExpert(sim)
    sim.reset(4)
    assert a.allowed(sim, expert)                                      # listening: far from any cube, no ball
    tip, _ = sim.tip_pose()
    sim.episode.cube_positions[sim.episode.target] = tip[:2].copy()  # the target right below the tool
    sim.episode.time_s = expert.listen_s + 0.1
    assert not a.allowed(sim, expert)                                  # aligning over the target: no noise
    with pytest.raises(ValueError):
        TravelNoise(-1.0, seed=0)


def test_press_noise_acts_only_in_contact_and_spreads_the_press_force(tmp_path):
    """DART for the press: forces off the target, each labelled with the expert's correction."""
    from sensor_fusion.ros.recorder import PressNoise
    from sensor_fusion.sim.world import PHYSICS_STEP_S

    def press_forces(sigma):
        sim = TabletopSim(SimConfig(render=False))
        expert, episode = ScriptedExpert(sim), sim.reset(4)
        noise, forces, noisy_before_contact = PressNoise(sigma, seed=4), [], 0
        while not episode.done:
            twist, drift = expert.act(sim.pad_force_n), noise.step(PHYSICS_STEP_S)[2]
            if noise.allowed(sim, expert):
                noisy_before_contact += sim.pad_force_n < PressNoise.CONTACT_N
                twist = twist.copy()
                twist[2] += drift
            sim.command_twist(twist)
            sim.step()
            if sim.pad_force_n >= PressNoise.CONTACT_N:
                forces.append(sim.pad_force_n)
        return episode, np.array(forces), noisy_before_contact

    clean, clean_forces, _ = press_forces(1e-12)
    noisy, noisy_forces, noisy_before_contact = press_forces(0.008)
    assert clean.outcome is noisy.outcome is Outcome.SUCCESS and noisy_before_contact == 0
    spread = lambda f: np.percentile(f, 90) - np.percentile(f, 10)          # noqa: E731
    assert spread(noisy_forces) > 1.5 * spread(clean_forces) and spread(noisy_forces) > 1.0
    # recorded through record_episode: the result says so
    sim = TabletopSim(SimConfig(render=True))
    record_episode(sim, ScriptedExpert(sim), seed=4, path=tmp_path / 'press', press_noise_mps=0.008)
    loaded = load_bag(tmp_path / 'press', PREPROCESS, JOINTS)
    assert loaded.result['press_noise_mps'] == 0.008 and loaded.result['outcome'] == 'success'

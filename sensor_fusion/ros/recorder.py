"""Demonstrations as ROS 2 bags (MCAP, written with rosbags; readable by ``ros2 bag`` and rclpy).

``record_expert`` runs the embedded simulator with the scripted expert in this process and writes,
per episode, every sensor topic exactly as ``sim_node`` publishes it, the expert's command on
``cmd_twist`` (stamped with the observation time it answers) and the verdict on ``episode_result``.
Messages are serialised by rclpy, so the bytes are those a live recording would hold.

``action_noise_mps`` > 0 records DART demonstrations (Laskey et al., CoRL 2017): the arm executes
the expert's twist plus slowly varying noise (:class:`TravelNoise`), and the bag holds the expert's
own twist, the label, for the state the noise led to. Measured on clean demonstrations, the cloned
policies read when to set off and where to go off the arm's own motion (the copycat failure: in
closed loop, from rest, they stayed, or kept the direction they happened to start in). With the
noise the arm's motion and the label disagree, so the motion is a worse answer, and the episodes
show the recoveries that a policy's own errors need. (Measured: at 0.08 m/s it was not enough; the
policies still took their direction from their own motion. README, Results.)

``press_noise_mps`` > 0 does the same for the press (:class:`PressNoise`): a drift on the downward
push while in contact, so the bags hold forces off the target with the expert's correcting
command. Clean presses settle within 0.1 N of the target, so the force varies too little to teach
how the command must change with it, and the press needs precision: at a short reach 0.0025 m/s
(1.25 % of full speed) more push holds 1 N more.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from std_msgs.msg import String

from ..bag_types import typestore
from ..interfaces import COMMAND_TOPICS, EPISODE_RESULT_TOPIC, SENSOR_TOPICS
from ..sim.expert import PRESSING_N, ScriptedExpert
from ..sim.simulator import SimConfig, TabletopSim
from ..sim.task import Episode, cube_top
from ..sim.world import PHYSICS_STEP_S
from . import conversions as conv
from .sim_node import sensor_messages

STAMP_BASE_NS = 1_000_000_000   # bags start at t = 1 s: a zero stamp means "unset" in ROS (and is dropped)
TOPICS = {**{m: SENSOR_TOPICS[m] for m in SENSOR_TOPICS}, 'command': COMMAND_TOPICS['twist'],
          'result': EPISODE_RESULT_TOPIC}


class BagWriter:
    """An MCAP bag with one connection per topic of :data:`TOPICS`."""

    def __init__(self, path: Path):
        self.writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        store = typestore()
        self.connections = {key: self.writer.add_connection('/' + topic.lstrip('/'), msgtype, typestore=store)
                            for key, (topic, msgtype) in TOPICS.items()}

    def write(self, key: str, msg, log_time_ns: int) -> None:
        self.writer.write(self.connections[key], log_time_ns, serialize_message(msg))

    def close(self) -> None:
        self.writer.close()


class TravelNoise:
    """Linear-velocity noise (m/s) for DART demonstrations: an Ornstein-Uhlenbeck process (stationary
    standard deviation ``sigma_mps`` per axis, correlation time ``correlation_s``), so the arm drifts
    off the expert's path for tenths of a second, as a policy's error does, rather than jittering.

    Only where a wrong motion cannot end the episode (:meth:`allowed`): while the tone sounds and
    while travelling toward the target. Never while the ball threatens (moving is then a failure), in
    contact, or within ``NEAR_M`` of the target: there the expert centres and descends, and a drift
    it must keep correcting held it from ever descending (6 of 10 noisy episodes timed out when the
    noise went on down to 3 cm above the top, with the expert of the time, which aligned to 4 mm first).
    """

    NEAR_M = 0.03    # no noise this close to the target (horizontally): the expert centres and descends there

    def __init__(self, sigma_mps: float, seed: int, correlation_s: float = 0.2):
        if sigma_mps < 0 or correlation_s <= 0:
            raise ValueError(f'bad action noise: sigma {sigma_mps} m/s, correlation {correlation_s} s')
        self.sigma, self.correlation_s = sigma_mps, correlation_s
        self.rng = np.random.default_rng(seed)
        self.value = np.zeros(3)

    def allowed(self, sim: TabletopSim, expert: ScriptedExpert) -> bool:
        if expert.ball_threat() or sim.pad_force_n > 0.1:
            return False
        if sim.episode.time_s < expert.listen_s:
            return True
        tip, _ = sim.tip_pose()
        top = cube_top(sim.episode.cube_positions[sim.episode.target])
        return bool(np.linalg.norm(top[:2] - tip[:2]) > self.NEAR_M)

    def step(self, dt: float) -> np.ndarray:
        """The noise after ``dt`` seconds more (3,), m/s."""
        decay = np.exp(-dt / self.correlation_s)
        self.value = decay * self.value + self.sigma * np.sqrt(1.0 - decay ** 2) * self.rng.standard_normal(3)
        return self.value


class PressNoise(TravelNoise):
    """Noise on the downward push (m/s) while the pad presses, for DART demonstrations of the press.

    Only in contact (at least ``CONTACT_N``) and never while the ball threatens; vertical only,
    since sideways the pad stays on the cube by friction and the expert keeps centring anyway.
    """

    CONTACT_N = PRESSING_N

    def __init__(self, sigma_mps: float, seed: int, correlation_s: float = 0.2):
        # its own stream: with both noises an episode's travel drift is the one TravelNoise alone gives
        super().__init__(sigma_mps, seed + 7_919_993, correlation_s)

    def allowed(self, sim: TabletopSim, expert: ScriptedExpert) -> bool:
        return sim.pad_force_n >= self.CONTACT_N and not expert.ball_threat()


def record_episode(sim: TabletopSim, expert: ScriptedExpert, seed: int, path: Path,
                   max_seconds: Optional[float] = None, action_noise_mps: float = 0.0,
                   press_noise_mps: float = 0.0) -> Episode:
    """One expert episode into the bag at ``path`` (a folder, as ros2 bag makes them); with
    ``action_noise_mps`` > 0 the arm executes the expert's twist plus :class:`TravelNoise`, with
    ``press_noise_mps`` > 0 plus :class:`PressNoise` on the push, and the bag holds the expert's
    twist (DART)."""
    episode = sim.reset(seed)
    expert.reset()
    noise = TravelNoise(action_noise_mps, seed) if action_noise_mps > 0 else None
    press_noise = PressNoise(press_noise_mps, seed) if press_noise_mps > 0 else None
    bag = BagWriter(path)
    previous_dvs, base = None, STAMP_BASE_NS
    try:
        while not episode.done and (max_seconds is None or episode.time_s < max_seconds):
            decided_at = sim.time_ns                      # the command answers the state at this time
            twist = expert.act(sim.pad_force_n)
            executed = twist
            if noise is not None:
                drift = noise.step(PHYSICS_STEP_S)        # (3,) advanced always: one seeded path per episode
                if noise.allowed(sim, expert):
                    executed = twist.copy()
                    executed[:3] += drift
            if press_noise is not None:
                push_drift = press_noise.step(PHYSICS_STEP_S)[2]
                if press_noise.allowed(sim, expert):
                    executed = executed.copy()
                    executed[2] += push_drift
            sim.command_twist(executed)
            bag.write('command', conv.twist_msg(twist, base + decided_at, 'base'), base + decided_at)
            out = sim.step()
            messages, previous_dvs = sensor_messages(out, base, previous_dvs)
            for modality, msg in messages:
                bag.write(modality, msg, base + out.time_ns)
        result = {'seed': episode.seed, 'target': episode.target, 'outcome': episode.outcome.value,
                  'time_s': round(episode.time_s, 3), 'peak_force_n': round(episode.peak_force_n, 3)}
        if noise is not None:
            result['action_noise_mps'] = action_noise_mps
        if press_noise is not None:
            result['press_noise_mps'] = press_noise_mps
        bag.write('result', String(data=json.dumps(result)), base + sim.time_ns)
    finally:
        bag.close()
    return episode


def record_expert(out_dir: Path, seeds: Iterable[int], render: bool = True, progress: bool = True,
                  action_noise_mps: float = 0.0, press_noise_mps: float = 0.0) -> list[Episode]:
    """One bag per seed in ``out_dir`` (``episode_<seed>``); the noises: see :func:`record_episode`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = TabletopSim(SimConfig(render=render))
    expert = ScriptedExpert(sim)
    seeds = list(seeds)
    episodes = []
    for index, seed in enumerate(seeds):
        path = out_dir / f'episode_{seed:05d}'
        if path.exists():
            raise FileExistsError(f'{path} exists; choose another --out or remove it')
        episodes.append(record_episode(sim, expert, seed, path, action_noise_mps=action_noise_mps,
                                       press_noise_mps=press_noise_mps))
        if progress:
            done = index + 1
            bar = '#' * int(30 * done / len(seeds))
            print(f'\rrecording [{bar:<30}] {done}/{len(seeds)} seed {seed}: {episodes[-1].outcome.value:<18}',
                  end='' if done < len(seeds) else '\n', flush=True)
    return episodes


__all__ = ['BagWriter', 'PressNoise', 'TravelNoise', 'record_episode', 'record_expert']

"""Demonstrations as ROS 2 bags (MCAP, written with rosbags; readable by ``ros2 bag`` and rclpy).

``record_expert`` runs the embedded simulator with the scripted expert in this process and writes,
per episode, every sensor topic exactly as ``sim_node`` publishes it, the expert's command on
``cmd_twist`` (stamped with the observation time it answers) and the verdict on ``episode_result``.
Messages are serialised by rclpy, so the bytes are those a live recording would hold.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from std_msgs.msg import String

from ..bag_types import typestore
from ..interfaces import COMMAND_TOPICS, EPISODE_RESULT_TOPIC, SENSOR_TOPICS
from ..sim.expert import ScriptedExpert
from ..sim.simulator import SimConfig, TabletopSim
from ..sim.task import Episode
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


def record_episode(sim: TabletopSim, expert: ScriptedExpert, seed: int, path: Path,
                   max_seconds: Optional[float] = None) -> Episode:
    """One expert episode into the bag at ``path`` (a folder, as ros2 bag makes them)."""
    episode = sim.reset(seed)
    expert.reset()
    bag = BagWriter(path)
    previous_dvs, base = None, STAMP_BASE_NS
    try:
        while not episode.done and (max_seconds is None or episode.time_s < max_seconds):
            decided_at = sim.time_ns                      # the command answers the state at this time
            twist = expert.act(sim.pad_force_n)
            sim.command_twist(twist)
            bag.write('command', conv.twist_msg(twist, base + decided_at, 'base'), base + decided_at)
            out = sim.step()
            messages, previous_dvs = sensor_messages(out, base, previous_dvs)
            for modality, msg in messages:
                bag.write(modality, msg, base + out.time_ns)
        result = {'seed': episode.seed, 'target': episode.target, 'outcome': episode.outcome.value,
                  'time_s': round(episode.time_s, 3), 'peak_force_n': round(episode.peak_force_n, 3)}
        bag.write('result', String(data=json.dumps(result)), base + sim.time_ns)
    finally:
        bag.close()
    return episode


def record_expert(out_dir: Path, seeds: Iterable[int], render: bool = True, progress: bool = True) -> list[Episode]:
    """One bag per seed in ``out_dir`` (``episode_<seed>``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = TabletopSim(SimConfig(render=render))
    expert = ScriptedExpert(sim)
    seeds = list(seeds)
    episodes = []
    for index, seed in enumerate(seeds):
        path = out_dir / f'episode_{seed:05d}'
        if path.exists():
            raise FileExistsError(f'{path} exists; choose another --out or remove it')
        episodes.append(record_episode(sim, expert, seed, path))
        if progress:
            done = index + 1
            bar = '#' * int(30 * done / len(seeds))
            print(f'\rrecording [{bar:<30}] {done}/{len(seeds)} seed {seed}: {episodes[-1].outcome.value:<18}',
                  end='' if done < len(seeds) else '\n', flush=True)
    return episodes


__all__ = ['BagWriter', 'record_episode', 'record_expert']

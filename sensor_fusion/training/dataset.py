"""Training samples from bags, aligned by the fusion node's own code (ROS-free).

Every recorded message goes through :class:`sensor_fusion.decode.MessageIngest` into
:class:`sensor_fusion.ingest.SensorBuffers` at its log time, exactly as the fusion node's
subscriptions do at run time; at each control tick (the recorded commands, thinned to
``control_rate_hz``) the sample is the buffers' observation at the command's stamp and the
command, normalised by the limits to the model's [-1, 1] action.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..bag_types import deserialize
from ..decode import ConversionError, MessageIngest, stamp_ns
from ..ingest import IngestConfig, SensorBuffers
from ..interfaces import COMMAND_TOPICS, EPISODE_RESULT_TOPIC, SENSOR_TOPICS
from ..observation import Observation
from ..preprocess import PreprocessConfig
from ..safety import CommandLimits
from ..sim.task import CONTROL_RATE_HZ


class DatasetError(ValueError):
    """A bag that cannot give samples (missing topics, unreadable), naming the bag."""


@dataclass(frozen=True)
class Sample:
    observation: Observation
    action: np.ndarray          # (6,) in [-1, 1]: the recorded twist divided by the limits


@dataclass
class EpisodeSamples:
    bag: Path
    samples: list[Sample]
    result: Optional[dict]      # the recorded verdict (episode_result), if any
    dropped: dict               # modality -> messages the buffers or decoding refused


def load_bag(path: Path, preprocess: PreprocessConfig, joint_names: tuple[str, ...] = (),
             event_sensor_size: tuple[int, int] = (96, 72), control_rate_hz: float = CONTROL_RATE_HZ,
             limits: CommandLimits = CommandLimits(max_linear_mps=0.2, max_angular_rps=1.0),
             required: tuple[str, ...] = ('camera', 'wrench', 'proprio')) -> EpisodeSamples:
    from rosbags.rosbag2 import Reader
    path = Path(path)
    buffers = SensorBuffers(IngestConfig.for_preprocess(preprocess), joint_names)
    ingest = MessageIngest(buffers, joint_names, event_sensor_size=event_sensor_size)
    by_topic = {'/' + topic.lstrip('/'): modality for modality, (topic, _) in SENSOR_TOPICS.items()}
    command_topic = '/' + COMMAND_TOPICS['twist'][0]
    result_topic = '/' + EPISODE_RESULT_TOPIC[0]
    period_ns = int(1e9 / control_rate_hz)
    samples, result, next_tick = [], None, None
    scale = np.array([limits.max_linear_mps] * 3 + [limits.max_angular_rps] * 3)
    try:
        with Reader(path) as reader:
            present = {c.topic for c in reader.connections if c.msgcount}
            missing = [SENSOR_TOPICS[m][0] for m in required if '/' + SENSOR_TOPICS[m][0] not in present]
            if command_topic not in present:
                missing.append(COMMAND_TOPICS['twist'][0])
            if missing:
                raise DatasetError(f'{path}: bag lacks required topics {missing} (has {sorted(present)})')
            for connection, log_time, raw in reader.messages():
                msg = deserialize(raw, connection.msgtype)
                if connection.topic in by_topic:
                    modality = by_topic[connection.topic]
                    try:
                        ingest.push(modality, msg, log_time)
                    except ConversionError as error:
                        buffers.drop(modality, error.reason)
                elif connection.topic == command_topic:
                    tick = stamp_ns(msg.header)
                    if next_tick is not None and tick < next_tick:
                        continue
                    # 1 ms of slack: ticks recorded at the control rate itself may sit a nanosecond
                    # early after float time conversion, and must not be thinned away.
                    next_tick = tick + period_ns - min(1_000_000, period_ns // 4)
                    lin, ang = msg.twist.linear, msg.twist.angular
                    action = np.clip(np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z]) / np.maximum(scale, 1e-9),
                                     -1.0, 1.0)
                    samples.append(Sample(buffers.observation_at(tick), action))
                elif connection.topic == result_topic:
                    result = json.loads(msg.data)
    except DatasetError:
        raise
    except Exception as error:   # rosbags raises several types for unreadable bags
        raise DatasetError(f'{path}: cannot read the bag ({type(error).__name__}: {error})') from error
    dropped = {m: s.dropped for m, s in buffers.stats.items() if s.dropped}
    return EpisodeSamples(path, samples, result, dropped)


def bag_result(path: Path) -> Optional[dict]:
    """Only the recorded verdict (``episode_result``) of a bag, without replaying its sensors."""
    from rosbags.rosbag2 import Reader
    topic = '/' + EPISODE_RESULT_TOPIC[0]
    with Reader(Path(path)) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=connections):
            return json.loads(deserialize(raw, connection.msgtype).data)
    return None

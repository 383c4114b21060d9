"""The closed loop in one process: simulator -> messages -> the node's ingest -> policy -> twist.

Used where many episodes must run fast and the learner needs every tick (DAgger data, the
reinforcement-learning gate trainer, quick checks). Every sensor message is built by
``sim_node.sensor_messages`` and pushed through :class:`~sensor_fusion.decode.MessageIngest`
into :class:`~sensor_fusion.ingest.SensorBuffers`, and the action is scaled by
:func:`~sensor_fusion.safety.scale_action`: the same code paths as ``sim_node`` <-> ``fusion_node``,
without DDS. The published evaluation (``sensor-fusion eval``) runs the real ROS processes.

The controller ticks every ``control_period_steps`` physics steps (100 Hz by default, the task's
rate, as the node's timer in config/sim.yaml) and its twist is held until the next tick, as the simulator holds the node's last command.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np
from std_msgs.msg import String

from ..decode import ConversionError, MessageIngest
from ..ingest import IngestConfig, SensorBuffers
from ..observation import Observation
from ..preprocess import PreprocessConfig
from ..ros.conversions import twist_msg
from ..ros.sim_node import sensor_messages
from ..safety import CommandLimits, scale_action
from ..sim.expert import ScriptedExpert
from ..sim.simulator import SimConfig, TabletopSim
from ..sim.task import CONTROL_RATE_HZ, Outcome, TaskConfig
from ..sim.world import JOINTS, PHYSICS_STEP_S

STAMP_BASE_NS = 1_000_000_000       # as the recorder and sim_node: a zero stamp means "unset" in ROS
SIM_LIMITS = CommandLimits(max_linear_mps=0.2, max_angular_rps=1.0)   # config/sim.yaml's fusion_node limits

#: A controller: (observation, expert's action in [-1, 1] or None) -> action in [-1, 1] (6,).
Controller = Callable[[Observation, Optional[np.ndarray]], np.ndarray]


@dataclass
class Tick:
    observation: Observation
    action: np.ndarray                  # (6,) what was commanded, in [-1, 1]
    expert_action: Optional[np.ndarray]  # (6,) what the expert would have commanded, in [-1, 1]


@dataclass
class EpisodeRun:
    seed: int
    target: str
    outcome: Outcome
    time_s: float
    peak_force_n: float
    ticks: list[Tick] = field(default_factory=list)   # kept only when asked for (memory)
    ball_violation_s: float = 0.0                      # moving in the ball's zone (TaskConfig.ball_violation_ends_episode)

    @property
    def success(self) -> bool:
        return self.verdict is Outcome.SUCCESS

    @property
    def verdict(self) -> Outcome:
        """The outcome, with a counted ball violation (an episode that went on after it) as the failure it is."""
        return Outcome.MOVED_DURING_BALL if self.ball_violation_s > 0.0 else self.outcome


class ClosedLoop:
    """One simulator reused across episodes (building the renderers is the slow part)."""

    def __init__(self, preprocess: PreprocessConfig, render: bool = True, control_rate_hz: float = CONTROL_RATE_HZ,
                 limits: CommandLimits = SIM_LIMITS, ablate: Iterable[str] = (), task: TaskConfig = TaskConfig(),
                 command_latency_s: float = 0.0):
        if command_latency_s < 0:
            raise ValueError(f'command_latency_s must be >= 0, got {command_latency_s}')
        self.sim = TabletopSim(SimConfig(render=render), task)
        # The command takes effect this many physics steps after its observation. Over ROS 2 it
        # arrives some milliseconds late and the simulator steps on meanwhile; 0 applies it at once.
        self.command_latency_steps = int(round(command_latency_s / PHYSICS_STEP_S))
        self.expert = ScriptedExpert(self.sim)
        self.preprocess, self.limits = preprocess, limits
        self.control_period_steps = max(1, int(round(1.0 / (control_rate_hz * PHYSICS_STEP_S))))
        self.ablate = frozenset(ablate)
        self._scale = np.array([limits.max_linear_mps] * 3 + [limits.max_angular_rps] * 3)

    def expert_action(self) -> np.ndarray:
        """The expert's twist for the current state, normalised to [-1, 1] like a model action."""
        return np.clip(self.expert.act(self.sim.pad_force_n) / self._scale, -1.0, 1.0)

    def run(self, seed: int, controller: Controller, keep_ticks: bool = False, with_expert: bool = False,
            max_seconds: Optional[float] = None, bag: Optional[Path] = None) -> EpisodeRun:
        """One episode; ``with_expert`` runs the expert alongside (every physics step, so its force
        integrator sees the rate it was tuned for) and hands its action to the controller.

        ``bag``: also record the episode as an MCAP bag, as the recorder does, with the *expert's*
        action on ``cmd_twist`` at every tick (DAgger data: the policy's states, the expert's labels),
        so these episodes train through the same loader as the demonstrations.
        """
        writer = None
        if bag is not None:
            if not with_expert:
                raise ValueError('recording a bag needs with_expert: its commands are the expert labels')
            from ..ros.recorder import BagWriter
            writer = BagWriter(bag)
        try:
            return self._run(seed, controller, keep_ticks, with_expert, max_seconds, writer)
        finally:
            if writer is not None:
                writer.close()

    def _run(self, seed, controller, keep_ticks, with_expert, max_seconds, writer) -> EpisodeRun:
        sim = self.sim
        episode = sim.reset(seed)
        self.expert.reset()
        buffers = SensorBuffers(IngestConfig.for_preprocess(self.preprocess), JOINTS)
        ingest = MessageIngest(buffers, JOINTS, event_sensor_size=(sim.config.camera.dvs_width,
                                                                   sim.config.camera.dvs_height))
        run = EpisodeRun(seed, episode.target, Outcome.RUNNING, 0.0, 0.0)
        previous_dvs, step = None, 0
        pending: list[tuple[int, np.ndarray]] = []     # (step it takes effect, twist), oldest first
        while not episode.done and (max_seconds is None or episode.time_s < max_seconds):
            expert = self.expert_action() if with_expert else None
            if step % self.control_period_steps == 0:
                tick_ns = STAMP_BASE_NS + sim.time_ns
                observation = buffers.observation_at(tick_ns)
                action = np.clip(np.asarray(controller(observation, expert), dtype=np.float64), -1.0, 1.0)
                pending.append((step + self.command_latency_steps, scale_action(action, 'twist', self.limits)))
                if writer is not None:
                    writer.write('command', twist_msg(scale_action(expert, 'twist', self.limits), tick_ns, 'base'),
                                 tick_ns)
                if keep_ticks:
                    run.ticks.append(Tick(observation, action, expert))
            while pending and pending[0][0] <= step:
                sim.command_twist(pending.pop(0)[1])
            out = sim.step()
            step += 1
            messages, previous_dvs = sensor_messages(out, STAMP_BASE_NS, previous_dvs)
            for modality, msg in messages:
                if modality in self.ablate:
                    continue          # silenced at the topic, as `eval --ablate` does over ROS
                if writer is not None:
                    writer.write(modality, msg, STAMP_BASE_NS + out.time_ns)
                try:
                    ingest.push(modality, msg, STAMP_BASE_NS + out.time_ns)
                except ConversionError as error:
                    buffers.drop(modality, error.reason)
        run.outcome, run.time_s, run.peak_force_n = episode.outcome, episode.time_s, episode.peak_force_n
        run.ball_violation_s = episode.ball_violation_s
        if writer is not None:
            result = {'seed': seed, 'target': episode.target, 'outcome': episode.outcome.value,
                      'time_s': round(episode.time_s, 3), 'peak_force_n': round(episode.peak_force_n, 3),
                      'labels': 'expert', 'driven_by': 'policy'}
            if episode.ball_violation_s:
                result['ball_violation_s'] = round(episode.ball_violation_s, 3)
            writer.write('result', String(data=json.dumps(result)), STAMP_BASE_NS + sim.time_ns)
        return run


__all__ = ['ClosedLoop', 'Controller', 'EpisodeRun', 'SIM_LIMITS', 'STAMP_BASE_NS', 'Tick']

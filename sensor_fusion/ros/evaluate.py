"""`sensor-fusion eval`: seeded closed-loop episodes of sim_node <-> fusion_node, as separate processes.

The two nodes are started by :class:`~sensor_fusion.runner.Runner` from the ``sim`` target's plan
(the same processes as ``sensor-fusion up sim``), with the simulator paused between episodes. For
each seed this process, a small ROS node of its own:

1. resets the fusion node (``/fusion_node/reset_episode``: recurrent state and input buffers
   cleared; it answers what the previous episode's decisions cost), then
2. resets the simulator (``/sim_node/reset``: starts the seed; the first reset starts ``first_seed``),
3. waits for the verdict on ``episode_result``.

``ablate`` silences one input stream at the topic level: the fusion node's subscription is
remapped to a topic nobody publishes, and the modality is dropped from its required inputs so the
node masks it (degraded) instead of halting.

``real_time_factor`` below 1 runs both nodes on the simulator's ``/clock`` (``use_sim_time``),
the world paced at that fraction of the wall clock. On a machine too slow to simulate in real time
(sim_node then skips ahead, and the policy sees gaps no real robot would give it) this evaluates
the loop as a machine 1/factor times faster would. Latencies stay wall-clock figures of this
machine; the fusion node's timer, input ages and command stamps follow the simulated clock.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import yaml

from .. import paths
from ..bringup import plan
from ..evaluation import HELD_OUT_FIRST_SEED, EpisodeRecord
from ..interfaces import EPISODE_RESULT_TOPIC, SENSOR_TOPICS
from ..observation import MODALITIES
from ..runner import Runner

START_TIMEOUT_S = 90.0        # both processes up, the model loaded, the fusion node active
EPISODE_MARGIN_S = 30.0       # beyond the episode's own timeout before the evaluation gives up


class EvaluationError(RuntimeError):
    """A node died or stopped answering; the message says which and what it was doing."""


@dataclass(frozen=True)
class EvalSettings:
    architecture: str
    backend: str
    episodes: int
    first_seed: int = HELD_OUT_FIRST_SEED
    ablate: Optional[str] = None
    weights: Optional[str] = None       # default: models/<architecture>.safetensors
    episode_timeout_s: float = 15.0
    real_time_factor: float = 1.0       # < 1: both nodes on the simulator's /clock, the world slowed down
    gate_mode: str = ''                 # NVSF-A's encoder gate (policy.build_policy); '' = the config's
    config: Optional[str] = None        # architecture YAML for the weights; default: the shipped one

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f'episodes must be >= 1, got {self.episodes}')
        if not 0.0 < self.real_time_factor <= 1.0:
            raise ValueError(f'real_time_factor must be in (0, 1] (1 = real time), got {self.real_time_factor}')
        if self.gate_mode:
            from ..policy import DEPLOYMENT_GATE_MODES   # torch: only when asked
            if self.gate_mode not in DEPLOYMENT_GATE_MODES or self.architecture != 'nvsf_a':
                raise ValueError(f"--gate-mode ({', '.join(DEPLOYMENT_GATE_MODES)}) sets nvsf_a's encoder gate, got "
                                 f'{self.gate_mode!r} for {self.architecture}')
        if self.config and not Path(self.config).is_file():
            raise ValueError(f'--config {self.config}: no such architecture config')
        if self.ablate is not None and self.ablate not in MODALITIES:
            raise ValueError(f"--ablate must be one of {', '.join(MODALITIES)}, got {self.ablate!r}")

    @property
    def label(self) -> str:
        """'nvsf_a/cpu', with the world's pace when it was slowed ('nvsf_a/cpu, world at 0.5x'), then
        the silenced input ('... without camera')."""
        pace = f', world at {self.real_time_factor:g}x' if self.on_sim_time else ''
        gate = f', gate {self.gate_mode}' if self.gate_mode else ''
        return f'{self.architecture}/{self.backend}{pace}{gate}' + (f' without {self.ablate}' if self.ablate else '')

    @property
    def on_sim_time(self) -> bool:
        return self.real_time_factor < 1.0


def eval_plan(settings: EvalSettings):
    """The ``sim`` target's nodes, set up for evaluation (paused simulator, ablation remap)."""
    overrides: dict = {}
    if settings.weights:
        overrides['model_path'] = str(settings.weights)
    if settings.on_sim_time:
        overrides['use_sim_time'] = True
    if settings.gate_mode:
        overrides['gate_mode'] = settings.gate_mode
    if settings.config:
        overrides['architecture_config'] = str(settings.config)
    nodes = plan('sim', architecture=settings.architecture, backend=settings.backend, **overrides)
    sim_parameters = {'seed': settings.first_seed, 'autoreset': False, 'start_paused': True,
                      'episode_timeout_s': settings.episode_timeout_s, 'real_time_factor': settings.real_time_factor}
    planned = []
    for node in nodes:
        if node.name == 'sim_node':
            node = _with(node, parameters={**node.parameters, **sim_parameters})
        elif node.name == 'fusion_node' and settings.ablate:
            topic = SENSOR_TOPICS[settings.ablate][0]
            required = [m for m in _sim_required_modalities() if m != settings.ablate]
            node = _with(node, parameters={**node.parameters, 'required_modalities': required},
                         remappings=node.remappings + ((topic, f'ablated/{topic}'),))
        planned.append(node)
    return planned


def _with(node, **changes):
    from dataclasses import replace
    return replace(node, **changes)


def _sim_required_modalities() -> list[str]:
    values = yaml.safe_load(paths.config_path('sim.yaml').read_text())
    return list(values['fusion_node']['ros__parameters']['required_modalities'])


def evaluate(settings: EvalSettings, on_episode: Optional[Callable[[int, EpisodeRecord], None]] = None,
             video=None) -> list[EpisodeRecord]:
    """Runs the episodes; ``on_episode(index, record)`` reports each as it ends. ``video`` (a
    :class:`~sensor_fusion.video.EpisodeVideo` or None) is fed the live topics."""
    runner = Runner(eval_plan(settings))
    # SIGTERM (e.g. `kill` or a CI timeout) would end this process without the `finally` below, and
    # leave both nodes running on the evaluation's domain (seen: a killed run's nodes outlived it).
    # Raised as SystemExit, it stops them as Ctrl-C does. Only the main thread may set a handler.
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    runner.start()
    try:
        with _Monitor(runner, video) as monitor:
            monitor.wait_until_ready()
            records = []
            monitor.reset_fusion()            # discard: what it decided while the world was paused
            for index in range(settings.episodes):
                seed = settings.first_seed + index
                result = monitor.run_episode(seed, settings.episode_timeout_s / settings.real_time_factor
                                             + EPISODE_MARGIN_S)
                cost = monitor.reset_fusion()
                record = EpisodeRecord(seed=result['seed'], target=result['target'], outcome=result['outcome'],
                                       time_s=float(result['time_s']), peak_force_n=float(result['peak_force_n']),
                                       latencies_ms=cost.get('latencies_ms', []),
                                       energy_uj_per_decision=cost.get('energy_uj_per_decision'),
                                       encoders_run_fraction=cost.get('encoders_run_fraction', {}))
                records.append(record)
                if on_episode is not None:
                    on_episode(index, record)
            return records
    finally:
        runner.stop()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


class _Monitor:
    def __init__(self, runner: Runner, video):
        self.runner, self.video = runner, video

    def __enter__(self) -> '_Monitor':
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from ..decode import diagnostic_values
        from .qos import DIAGNOSTICS_QOS
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('sensor_fusion_eval', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.results: list[dict] = []
        self.fusion_state = None
        self.Trigger = Trigger

        def on_diagnostics(msg: DiagnosticArray) -> None:
            for status in msg.status:
                if status.name == 'sensor_fusion/fusion_node':
                    self.fusion_state = diagnostic_values(status).get('state')
        self.node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, DIAGNOSTICS_QOS)
        self.node.create_subscription(String, EPISODE_RESULT_TOPIC[0],
                                      lambda m: self.results.append(json.loads(m.data)), DIAGNOSTICS_QOS)
        self.sim_reset = self.node.create_client(Trigger, '/sim_node/reset')
        self.fusion_reset = self.node.create_client(Trigger, '/fusion_node/reset_episode')
        if self.video is not None:
            self.video.subscribe(self.node)
        return self

    def __exit__(self, *exc) -> None:
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def _spin_until(self, done: Callable[[], bool], timeout_s: float, doing: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            died = self.runner.poll()
            if died:
                raise EvaluationError(f'{died[0]} exited with code {died[1]} while {doing}')
            if time.monotonic() > deadline:
                raise EvaluationError(f'timed out after {timeout_s:.0f} s {doing}')
            self.executor.spin_once(timeout_sec=0.02)

    def wait_until_ready(self) -> None:
        self._spin_until(lambda: self.sim_reset.service_is_ready() and self.fusion_reset.service_is_ready()
                         and self.fusion_state in ('ok', 'degraded', 'halted'), START_TIMEOUT_S,
                         'waiting for sim_node and an active fusion_node')

    def _call(self, client, what: str):
        future = client.call_async(self.Trigger.Request())
        self._spin_until(future.done, 20.0, f'waiting for {what}')
        response = future.result()
        if not response.success:
            raise EvaluationError(f'{what} refused: {response.message}')
        return response

    def reset_fusion(self) -> dict:
        return json.loads(self._call(self.fusion_reset, '/fusion_node/reset_episode').message)

    def run_episode(self, seed: int, timeout_s: float) -> dict:
        self.results.clear()
        if self.video is not None:
            self.video.start_episode(seed)
        response = self._call(self.sim_reset, '/sim_node/reset')
        if not response.message.startswith(f'seed={seed} '):
            raise EvaluationError(f'sim_node started {response.message!r}, expected seed {seed}')
        self._spin_until(lambda: any(r.get('seed') == seed for r in self.results), timeout_s,
                         f'waiting for the verdict of episode seed={seed}')
        result = next(r for r in self.results if r.get('seed') == seed)
        if self.video is not None:
            self.video.end_episode(result)
        return result


__all__ = ['EvalSettings', 'EvaluationError', 'eval_plan', 'evaluate']

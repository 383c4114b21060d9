"""``fusion_node``: sensors in, one fusion architecture, safe commands out (an rclpy LifecycleNode).

configure: build the architecture on the backend and load its weights (failure leaves the node
unconfigured with a message naming the file and the problem; configure can be retried).
activate: start the control tick and the watchdog. deactivate: stop and publish one zero command.

The node is thin: conversions live in :mod:`.conversions`, buffering and tick alignment in
:mod:`sensor_fusion.ingest`, limits and the watchdog in :mod:`sensor_fusion.safety`, the model in
:mod:`sensor_fusion.policy`.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import WrenchStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState, PointCloud2
from std_srvs.srv import Trigger

from .. import paths
from ..architectures import ARCHITECTURES
from ..backends import BACKENDS
from ..decode import MessageIngest
from ..ingest import IngestConfig, SensorBuffers
from ..interfaces import DIAGNOSTICS_TOPIC, SENSOR_TOPICS
from ..observation import MODALITIES, Observation, ObservationError
from ..policy import FusionPolicy, NonFiniteActionError, build_policy
from ..safety import (COMMAND_SPACES, CommandLimits, CommandState, Watchdog, WatchdogVerdict, percentile_ms,
                      scale_action)
from ..weights import WeightsError
from . import conversions as conv
from .commands import COMMAND_OUTPUTS, CommandContext
from .qos import COMMAND_QOS, DIAGNOSTICS_QOS, HIGH_RATE_SENSOR_QOS, SENSOR_QOS

DEFAULT_TIMEOUTS_S = {'camera': 0.5, 'wrench': 0.1, 'tactile': 0.5, 'audio': 0.5, 'events': 0.2, 'proprio': 0.1}
WARN_PERIOD_S = 5.0   # at most one warning per modality and reason this often


def _desc(text: str, floating: Optional[tuple[float, float]] = None, integer: Optional[tuple[int, int]] = None,
          read_only: bool = False) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=text, read_only=read_only)
    if floating:
        descriptor.floating_point_range = [FloatingPointRange(from_value=floating[0], to_value=floating[1])]
    if integer:
        descriptor.integer_range = [IntegerRange(from_value=integer[0], to_value=integer[1], step=1)]
    return descriptor


class FusionNode(LifecycleNode):
    def __init__(self, **node_kwargs):      # node_kwargs: tests inject a context and parameter overrides
        super().__init__('fusion_node', **node_kwargs)
        declare = self.declare_parameter
        declare('architecture', 'nvsf_h', _desc(f'fusion architecture: {", ".join(ARCHITECTURES.keys())}'))
        declare('backend', 'cpu', _desc(f'compute backend: {", ".join(BACKENDS.keys())}'))
        declare('model_path', '', _desc('weights (.safetensors); empty = shipped weights '
                                        'share/sensor_fusion/models/<architecture>.safetensors'))
        declare('allow_untrained', False, _desc('without trained weights, run a seeded random initialisation '
                                                '(bring-up checks and tests only) instead of failing configure'))
        declare('architecture_config', '', _desc('architecture YAML the weights were trained with; empty = the shipped '
                                                 'config/architectures/<architecture>.yaml'))
        declare('gate_mode', '', _desc("NVSF-A's encoder gate: 'all' runs every encoder, 'threshold' lets the gate "
                                       "trained by train-gate skip some; empty = the architecture config's"))
        declare('seed', 0, _desc('seed of the random initialisation when allow_untrained', integer=(0, 2 ** 31 - 1)))
        declare('torch_threads', 1, _desc('torch intra-op threads; 1 is fastest for batch-1 decisions',
                                          integer=(1, 64)))
        declare('control_rate_hz', 50.0, _desc('decisions per second', floating=(1.0, 1000.0)))
        declare('tick_source', 'timer', _desc("'timer' ticks at control_rate_hz, aligned to the newest instant every required input has "
                                              "reached; a modality name (e.g. proprio) "
                                              'ticks on its arrival, at most control_rate_hz, for the lowest latency'))
        declare('command_interface', 'twist', _desc(f'command output: {", ".join(COMMAND_OUTPUTS.keys())}'))
        declare('command_frame_id', 'base_link', _desc('frame of the TwistStamped command'))
        declare('max_linear_speed', 0.25, _desc('twist linear limit, m/s', floating=(0.0, 10.0)))
        declare('max_angular_speed', 1.0, _desc('twist angular limit, rad/s', floating=(0.0, 20.0)))
        declare('max_joint_velocity', 1.0, _desc('joint velocity limit, rad/s', floating=(0.0, 20.0)))
        declare('joint_names', [''], _desc('joints, in command and proprioception order (empty = joint_states '
                                           'order; required for joint commands)'))
        declare('trajectory_horizon_s', 0.1, _desc('joint_trajectory: time_from_start of the single point, s',
                                                   floating=(0.001, 10.0)))
        declare('required_modalities', ['wrench', 'proprio'],
                _desc(f'inputs whose timeout halts the robot; others are masked when stale. Known: '
                      f'{", ".join(MODALITIES)}'))
        for modality in MODALITIES:
            declare(f'timeouts_s.{modality}', DEFAULT_TIMEOUTS_S[modality],
                    _desc(f'{modality} is stale after this many seconds', floating=(0.001, 60.0)))
        declare('audio_message', 'image', _desc("audio wire type: 'image' (sensor_msgs/Image 32FC1, rows = "
                                                "channels) or 'audio_stamped' (audio_common_msgs)"))
        declare('audio_sample_rate_hz', 16000.0, _desc('sample rate of the Image audio fallback, Hz',
                                                       floating=(1000.0, 192000.0)))
        declare('events_message', 'pointcloud2', _desc("events wire type: 'pointcloud2' or 'event_packet' "
                                                      '(event_camera_msgs, evt3/mono)'))
        declare('event_sensor_width', 320, _desc('event camera width for the PointCloud2 fallback, px',
                                                 integer=(1, 8192)))
        declare('event_sensor_height', 240, _desc('event camera height for the PointCloud2 fallback, px',
                                                  integer=(1, 8192)))
        declare('diagnostics_period_s', 1.0, _desc('diagnostics publication period, s', floating=(0.05, 60.0)))
        self._policy: Optional[FusionPolicy] = None
        self._sensor_subscriptions = []
        self._owned_timers = []
        self._command_pub = self._diagnostics_pub = None
        self._state = CommandState.INACTIVE
        self._last_warning: dict[tuple[str, str], float] = {}
        self.create_service(Trigger, '~/reset_episode', self._on_reset_episode)

    # -- helpers -------------------------------------------------------------------------------
    def _p(self, name: str):
        return self.get_parameter(name).value

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _warn_limited(self, modality: str, reason: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning.get((modality, reason), -1e9) >= WARN_PERIOD_S:
            self._last_warning[(modality, reason)] = now
            total = self._buffers.stats[modality].drops[reason]
            self.get_logger().warning(f'dropped {modality} message ({reason}, {total} so far): {text}')

    # -- lifecycle -----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ValueError, KeyError, FileNotFoundError, WeightsError, RuntimeError, ImportError) as error:
            self.get_logger().error(f'configure failed: {error}')
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        import torch
        torch.set_num_threads(int(self._p('torch_threads')))
        architecture, backend = self._p('architecture'), self._p('backend')
        ARCHITECTURES.get(architecture)
        BACKENDS.get(backend)
        self._interface = self._p('command_interface')
        self._space, self._output = COMMAND_SPACES.get(self._interface), COMMAND_OUTPUTS.get(self._interface)
        self._joint_names = tuple(n for n in self._p('joint_names') if n)
        self._limits = CommandLimits(self._p('max_linear_speed'), self._p('max_angular_speed'),
                                     self._p('max_joint_velocity'))
        required = tuple(self._p('required_modalities'))
        self._watchdog = Watchdog({m: self._p(f'timeouts_s.{m}') for m in MODALITIES}, required)
        self._tick_source = self._p('tick_source')
        self._period_s = 1.0 / float(self._p('control_rate_hz'))
        if self._tick_source != 'timer' and self._tick_source not in required:
            # Ticking on an optional input would stop commanding silently when it stops; a required
            # one halts the robot through the watchdog instead.
            raise ValueError(f"tick_source must be 'timer' or one of the required_modalities "
                             f"({', '.join(required)}), got '{self._tick_source}'")

        model_path = self._p('model_path') or str(paths.models_dir() / f'{architecture}.safetensors')
        weights = Path(model_path)
        if not weights.is_file():
            if self._p('model_path') or not self._p('allow_untrained'):
                raise FileNotFoundError(
                    f'no trained weights for {architecture} at {weights}; train them (sensor-fusion train) or set '
                    f'model_path, or set allow_untrained:=true for a bring-up check with random weights')
            self.get_logger().warning(f'UNTRAINED: {architecture} runs a seeded random initialisation '
                                      f'(allow_untrained); its commands are not a skill')
            weights = None
        self._policy = build_policy(architecture, backend, weights, config_path=self._p('architecture_config') or None,
                                    seed=int(self._p('seed')), gate_mode=self._p('gate_mode'))
        self._weights_path = str(weights) if weights else 'untrained'
        action_dim = self._policy.model.config.action_dim
        self._space.scale(np.zeros(action_dim), self._limits, len(self._joint_names))   # fails naming the problem

        # One decision on an empty observation now, so the first real tick is not slowed by lazy
        # initialisation (a slow first tick would trip the watchdog).
        self._policy.act(Observation(stamp_ns=0))
        self._policy.reset()
        self._new_buffers()
        self._latencies_s = collections.deque(maxlen=2000)
        self._compute_s = collections.deque(maxlen=2000)
        self._energy_j = collections.deque(maxlen=200)
        self._episode = EpisodeDecisions()
        self._receipt_ns = 0        # perf_counter_ns of the newest accepted input
        self._counts = collections.Counter()
        self._last_tick_mono = 0.0
        self._verdict = WatchdogVerdict(CommandState.INACTIVE, (), ())

        self._command_pub = self.create_publisher(self._output.msg_type, self._output.topic, COMMAND_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC[0], DIAGNOSTICS_QOS)
        self._make_subscriptions()
        # Diagnostics on the steady clock: with use_sim_time a paused or dead simulator stops /clock,
        # and a node that then falls silent could not tell anyone why it stopped commanding.
        self._owned_timers.append(self.create_timer(float(self._p('diagnostics_period_s')), self._publish_diagnostics,
                                                    clock=Clock(clock_type=ClockType.STEADY_TIME)))
        self.get_logger().info(f'configured {architecture} on {backend} ({self._weights_path}), '
                               f'{self._interface} on {self._command_pub.topic_name}')

    def _make_subscriptions(self) -> None:
        types = {'camera': Image, 'wrench': WrenchStamped, 'tactile': Image, 'proprio': JointState,
                 'audio': Image, 'events': PointCloud2}
        if self._p('audio_message') == 'audio_stamped':
            from audio_common_msgs.msg import AudioStamped   # optional package: ImportError fails configure
            types['audio'] = AudioStamped
        if self._p('events_message') == 'event_packet':
            from event_camera_msgs.msg import EventPacket    # optional package: ImportError fails configure
            types['events'] = EventPacket
        for modality, msg_type in types.items():
            qos = SENSOR_QOS if modality in ('camera', 'tactile') else HIGH_RATE_SENSOR_QOS
            self._sensor_subscriptions.append(self.create_subscription(
                msg_type, SENSOR_TOPICS[modality][0], lambda msg, m=modality: self._on_message(m, msg), qos))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._policy.reset()
        self._state = CommandState.OK
        if self._tick_source == 'timer':
            self._owned_timers.append(self.create_timer(1.0 / float(self._p('control_rate_hz')), self._on_timer_tick))
        # The watchdog runs on its own 20 ms timer so a stale input halts the robot within 100 ms
        # even at a low control rate or when the triggering input itself stopped.
        self._watchdog_timer = self.create_timer(0.02, self._on_watchdog)
        self.get_logger().info(f'active: {self._p("control_rate_hz")} Hz, tick source {self._tick_source}')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_ticking()
        self._state = CommandState.INACTIVE
        self._publish_zero(self._now_ns())
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._state != CommandState.INACTIVE:
            self._stop_ticking()
            self._publish_zero(self._now_ns())
        self._state = CommandState.INACTIVE
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _stop_ticking(self) -> None:
        for timer in self._owned_timers[1:]:
            self.destroy_timer(timer)
        del self._owned_timers[1:]
        if getattr(self, '_watchdog_timer', None) is not None:
            self.destroy_timer(self._watchdog_timer)
            self._watchdog_timer = None

    def _teardown(self) -> None:
        self._stop_ticking()
        for timer in self._owned_timers:
            self.destroy_timer(timer)
        self._owned_timers.clear()
        for subscription in self._sensor_subscriptions:
            self.destroy_subscription(subscription)
        self._sensor_subscriptions.clear()
        for publisher in (self._command_pub, self._diagnostics_pub):
            if publisher is not None:
                self.destroy_publisher(publisher)
        self._command_pub = self._diagnostics_pub = None
        self._policy = None

    # -- ingestion -----------------------------------------------------------------------------
    def _ingest(self, modality: str, push: Callable[[], Optional[str]]) -> None:
        """Runs a conversion + push; every failure is dropped, counted and warned about, never raised."""
        try:
            reason = push()
            detail = 'impossible or out-of-order stamp' if reason else ''
        except conv.ConversionError as error:
            reason, detail = self._buffers.drop(modality, error.reason), str(error)
        except (ValueError, TypeError, AttributeError, IndexError, ObservationError) as error:
            reason, detail = self._buffers.drop(modality, 'malformed'), f'{type(error).__name__}: {error}'
        if reason:
            self._warn_limited(modality, reason, detail)
            return
        self._receipt_ns = time.perf_counter_ns()
        if self._tick_source == modality and self._state != CommandState.INACTIVE:
            self._maybe_tick_on_input(self._buffers.last_stamp_ns(modality))

    def _on_message(self, modality: str, msg) -> None:
        self._ingest(modality, lambda: self._ingester.push(modality, msg, self._now_ns()))

    # -- control -------------------------------------------------------------------------------
    def _maybe_tick_on_input(self, stamp_ns: int) -> None:
        # The observation is aligned to the triggering input's stamp, so that input is in it exactly
        # and the command's header stamp names the sample it answers.
        now = time.monotonic()
        if now - self._last_tick_mono < 0.9 * self._period_s:    # 10% slack: jitter must not halve the rate
            return
        if self._now_ns() - stamp_ns > max(self._period_s, 0.002) * 1e9:
            # A trigger that waited in the queue longer than a control period is not answered: under
            # overload the rate drops instead of every command arriving later and later.
            self._counts['stale_triggers_skipped'] += 1
            return
        self._tick(stamp_ns)

    def _on_timer_tick(self) -> None:
        # Aligned to the newest instant every required input has reached, not to the clock
        # (SensorBuffers.newest_common_stamp_ns): on a machine where sim_node lagged the wall clock
        # by 0-50 ms, clock-aligned ticks left the event and audio windows' newest part empty and
        # NVSF-A won 1 of 10 (README, Results). Freshness is still judged against the clock (_tick).
        self._tick(self._buffers.newest_common_stamp_ns(self._now_ns(), self._watchdog.required))

    def _on_watchdog(self) -> None:
        verdict = self._watchdog.check(self._buffers.ages_s(self._now_ns()))
        if not verdict.may_command and self._verdict.may_command:
            self._halt(verdict, self._now_ns())
        elif self._tick_source != 'timer' and not verdict.may_command:
            self._verdict = verdict   # keep reporting; no tick will come while the trigger is silent

    def _halt(self, verdict: WatchdogVerdict, now_ns: int) -> None:
        if self._verdict.state != CommandState.HALTED:
            self.get_logger().warning(f'HALT: required inputs stale or missing: {", ".join(verdict.stale_required)}')
            self._counts['halts'] += 1
        self._verdict = verdict
        self._state = CommandState.HALTED
        self._publish_zero(now_ns)

    def _tick(self, tick_ns: Optional[int] = None) -> None:
        self._last_tick_mono = time.monotonic()
        now_ns = self._now_ns()
        tick_ns = now_ns if tick_ns is None else tick_ns
        # Freshness is judged against the clock, not the tick: a node working through a backlog of
        # old messages must halt, whatever stamp it aligns to.
        verdict = self._watchdog.check(self._buffers.ages_s(now_ns))
        if not verdict.may_command:
            self._halt(verdict, tick_ns)
            return
        if verdict.state != self._verdict.state or verdict.stale_optional != self._verdict.stale_optional:
            if verdict.stale_optional:
                self.get_logger().warning(f'DEGRADED: masking stale optional inputs {", ".join(verdict.stale_optional)}')
            else:
                self.get_logger().info('all inputs fresh: commanding normally')
        self._verdict, self._state = verdict, verdict.state
        receipt_ns = self._receipt_ns
        try:
            observation = self._buffers.observation_at(tick_ns, masked=frozenset(verdict.stale_optional))
            decision = self._policy.act(observation)
            command = scale_action(decision.action, self._interface, self._limits, len(self._joint_names))
        except (NonFiniteActionError, ObservationError, ValueError, RuntimeError) as error:
            self._counts['model_errors'] += 1
            self.get_logger().error(f'no decision this tick, commanding zero: {error}', throttle_duration_sec=5.0)
            self._publish_zero(tick_ns)
            return
        self._publish_command(command, tick_ns)
        self._latencies_s.append((time.perf_counter_ns() - receipt_ns) / 1e9)
        self._compute_s.append(decision.compute_s)
        self._energy_j.append(decision.energy.total_j)
        self._episode.add(self._latencies_s[-1], decision)
        self._counts['commands'] += 1

    def _publish_command(self, command: np.ndarray, stamp: int) -> None:
        if self._command_pub is None:
            return
        context = CommandContext(stamp, self._p('command_frame_id'), self._joint_names,
                                 self._ingester.last_joint_positions,
                                 float(self._p('trajectory_horizon_s')))
        self._command_pub.publish(self._output.to_msg(command, context))

    def _publish_zero(self, stamp: int) -> None:
        self._publish_command(np.zeros(self._space.size(len(self._joint_names))), stamp)
        self._counts['zero_commands'] += 1

    def _new_buffers(self) -> None:
        """Empty input buffers and the decoder that fills them (configure, and each new episode)."""
        self._buffers = SensorBuffers(IngestConfig.for_preprocess(self._policy.model.config.preprocess),
                                      self._joint_names)
        self._ingester = MessageIngest(self._buffers, self._joint_names, self._p('audio_message'),
                                       float(self._p('audio_sample_rate_hz')), self._p('events_message'),
                                       (int(self._p('event_sensor_width')), int(self._p('event_sensor_height'))))

    # -- episodes ------------------------------------------------------------------------------
    def _on_reset_episode(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Starts a new episode: forgets the recurrent state and every buffered input (the last
        episode's tone or contact must not leak into the next), and answers, as JSON in
        ``message``, what the decisions since the previous reset cost (for `sensor-fusion eval`)."""
        if self._policy is None:
            response.success, response.message = False, 'not configured'
            return response
        response.success, response.message = True, json.dumps(self._episode.summary())
        self._episode = EpisodeDecisions()
        self._policy.reset()
        self._new_buffers()
        return response

    # -- diagnostics ---------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if self._diagnostics_pub is None or self._policy is None:
            return
        now_ns = self._now_ns()
        ages = self._buffers.ages_s(now_ns)
        values = {'architecture': self._policy.architecture, 'backend': self._policy.backend.key,
                  'weights': self._weights_path, 'state': self._state.value,
                  'stale_required': ','.join(self._verdict.stale_required),
                  'stale_optional': ','.join(self._verdict.stale_optional),
                  'commands': self._counts['commands'], 'zero_commands': self._counts['zero_commands'],
                  'halts': self._counts['halts'], 'model_errors': self._counts['model_errors'],
                  'stale_triggers_skipped': self._counts['stale_triggers_skipped'],
                  'latency_p50_ms': f'{percentile_ms(self._latencies_s, 50):.3f}',
                  'latency_p99_ms': f'{percentile_ms(self._latencies_s, 99):.3f}',
                  'compute_p50_ms': f'{percentile_ms(self._compute_s, 50):.3f}',
                  'energy_per_decision_uj': f'{np.mean(self._energy_j) * 1e6:.3f}' if self._energy_j else 'nan'}
        for modality in MODALITIES:
            stats = self._buffers.stats[modality]
            age = ages[modality]
            values[f'{modality}.rate_hz'] = f'{stats.rate_hz(now_ns, self._buffers.config.rate_window_s):.1f}'
            values[f'{modality}.age_s'] = 'never' if age is None else f'{age:.3f}'
            values[f'{modality}.received'] = stats.received
            values[f'{modality}.dropped'] = stats.dropped
            values[f'{modality}.drop_reasons'] = ','.join(f'{k}:{v}' for k, v in sorted(stats.drops.items()))
        level = {CommandState.OK: DiagnosticStatus.OK, CommandState.DEGRADED: DiagnosticStatus.WARN,
                 CommandState.HALTED: DiagnosticStatus.ERROR, CommandState.INACTIVE: DiagnosticStatus.STALE}
        message = {CommandState.OK: 'commanding', CommandState.DEGRADED: 'commanding, degraded (stale optional '
                   f'inputs masked: {values["stale_optional"]})', CommandState.HALTED: 'halted: zero command '
                   f'(stale required inputs: {values["stale_required"]})', CommandState.INACTIVE: 'inactive'}
        self._diagnostics_pub.publish(conv.diagnostic_array(
            now_ns, f'sensor_fusion/{self.get_name()}', self._policy.architecture, level[self._state],
            message[self._state], values))


class EpisodeDecisions:
    """What one episode's decisions cost: input->command latencies, energy, encoders run."""

    MAX_DECISIONS = 200_000    # about an hour at 50 Hz: a robot that never resets stays bounded

    def __init__(self):
        self.latencies_s = collections.deque(maxlen=self.MAX_DECISIONS)
        self.energy_j = 0.0
        self.count = 0
        self.encoders_run = collections.Counter()

    def add(self, latency_s: float, decision) -> None:
        self.latencies_s.append(latency_s)
        self.energy_j += decision.energy.total_j
        self.count += 1
        self.encoders_run.update(decision.encoders_run)

    def summary(self) -> dict:
        return {'decisions': self.count, 'latencies_ms': [round(x * 1e3, 3) for x in self.latencies_s],
                'energy_uj_per_decision': self.energy_j * 1e6 / self.count if self.count else None,
                'encoders_run_fraction': {m: self.encoders_run[m] / self.count for m in MODALITIES} if self.count
                else {}}


def make_executor():
    """rclpy's EventsExecutor where available (Jazzy+): it dispatches from C++ without rebuilding a
    wait set per callback, which at ~2000 sensor messages/s is the difference between keeping up
    and falling behind. SENSOR_FUSION_EXECUTOR=single selects the classic SingleThreadedExecutor."""
    if os.environ.get('SENSOR_FUSION_EXECUTOR', 'events') == 'events':
        try:
            from rclpy.experimental import EventsExecutor
            return EventsExecutor()
        except ImportError:
            pass
    return SingleThreadedExecutor()


def main(args: Optional[list[str]] = None) -> int:
    """Console script ``fusion_node``: configures and activates itself, like a managed launch would.

    rclpy's own signal handlers would shut the context down before we could publish the final
    zero command, so SIGINT/SIGTERM only set a flag here; the spin loop sees it within 50 ms and
    the node stops the robot (one zero command) while it still can.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    try:
        node = FusionNode()
    except (ParameterException, InvalidParameterTypeException, InvalidParameterValueException) as error:
        rclpy.logging.get_logger('fusion_node').fatal(f'bad parameter: {error}')
        rclpy.try_shutdown()
        return 2
    executor = make_executor()
    executor.add_node(node)
    try:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().fatal('configure failed; exiting (see the error above)')
            return 2
        node.trigger_activate()
        while not stop and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
    except ExternalShutdownException:
        pass
    finally:
        if rclpy.ok():
            node.trigger_shutdown()   # publishes one zero command if it was commanding
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

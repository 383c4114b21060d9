"""The embedded multisensory simulator (ROS-free): MuJoCo physics, every sensor, the task verdict.

``TabletopSim.step()`` advances 2 ms of physics under the current command and returns what the
sensors produced in that step, each at its own rate: joint states and the wrist wrench every step
(500 Hz), taxels at ``tactile_hz``, a 10 ms audio chunk every 5 steps, DVS events every
``1 / dvs_hz`` (rendered at 250 Hz and turned into events by the contrast-threshold emulator), an
RGB frame at ``camera_hz``. Rendering is headless (``MUJOCO_GL=egl``; OSMesa as the fallback) with
shadows, reflections and anti-aliasing off.

Commands are an end-effector twist (resolved to joints by damped least squares, as MoveIt Servo
would) or joint velocities; a command older than ``command_timeout_s`` is replaced by zero, like
a real controller's watchdog.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import mujoco  # (the package __init__ has chosen the headless GL backend before this import)
import numpy as np

from .arm import ArmKinematics, rotation_error
from .contact_audio import ContactAudio, ContactAudioConfig, ToneSource
from .event_emulator import EventEmulator, EventEmulatorConfig
from .task import Episode, Outcome, TaskConfig, judge, sample_episode
from .world import BALL_RADIUS_M, CUBE_COLOURS, CUBE_HALF_M, JOINTS, PHYSICS_STEP_S, TAXELS, CameraSpec, world_xml  # noqa: E501

NS = 1_000_000_000
HOME_TIP = np.array([0.42, 0.0, 0.22])
MICROPHONE = np.array([0.15, -0.25, 0.25])   # where the robot's microphone sits (world frame, m)
SPEAKER = np.array([0.0, 0.3, 0.3])          # where the instruction tone comes from
FORCE_FILTER_S = 0.01                        # time constant of the reported press force


@dataclass(frozen=True)
class SimConfig:
    camera_hz: float = 15.0
    dvs_hz: float = 250.0
    tactile_hz: float = 100.0
    audio_chunk_s: float = 0.010
    audio_rate_hz: float = 16000.0
    command_timeout_s: float = 0.2
    wrench_noise_n: float = 0.05          # F/T sensor noise, N (torque noise is a tenth, N m)
    joint_noise_rad: float = 1e-4
    render: bool = True                   # False: physics and non-visual sensors only (fast tests)
    camera: CameraSpec = CameraSpec()


@dataclass
class StepOutput:
    """What the sensors produced in one physics step (None: nothing due this step)."""

    time_ns: int
    joint_positions: np.ndarray                 # (6,) rad
    joint_velocities: np.ndarray                # (6,) rad/s
    wrench: np.ndarray                          # (6,) Fx Fy Fz N, Tx Ty Tz N m, sensor frame, tared
    tactile: Optional[np.ndarray] = None        # (4, 4) N per taxel
    audio: Optional[np.ndarray] = None          # (1, S) samples; stamp = audio_start_ns
    audio_start_ns: int = 0
    rgb: Optional[np.ndarray] = None            # (H, W, 3) uint8
    events: Optional[np.ndarray] = None         # EVENT_DTYPE since the previous DVS frame
    outcome: Outcome = Outcome.RUNNING


class TabletopSim:
    def __init__(self, config: SimConfig = SimConfig(), task: TaskConfig = TaskConfig()):
        self.config, self.task = config, task
        self.model = mujoco.MjModel.from_xml_string(world_xml(config.camera))
        self.data = mujoco.MjData(self.model)
        self.arm = ArmKinematics(self.model)
        self._ids = {name: mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
                     for name in ('pad', 'ball', 'table', *(f'cube_{c}' for c in CUBE_COLOURS))}
        self._cube_joint = {c: self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT,
                                                                         f'cube_{c}_free')] for c in CUBE_COLOURS}
        ball_joint = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, 'ball_free')
        self._ball_qpos, self._ball_qvel = self.model.jnt_qposadr[ball_joint], self.model.jnt_dofadr[ball_joint]
        self._renderers = None
        if config.render:
            spec = config.camera
            self._renderers = (mujoco.Renderer(self.model, spec.height, spec.width),
                               mujoco.Renderer(self.model, spec.dvs_height, spec.dvs_width))
        self.episode: Optional[Episode] = None

    # -- episodes -----------------------------------------------------------------------------
    def reset(self, seed: int) -> Episode:
        mujoco.mj_resetData(self.model, self.data)
        self.episode = sample_episode(seed, self.task)
        for colour, (x, y) in self.episode.cube_positions.items():
            adr = self._cube_joint[colour]
            self.data.qpos[adr:adr + 7] = [x, y, CUBE_HALF_M, 1, 0, 0, 0]
        self._park_ball()
        self.data.qpos[self.arm.qpos_index] = [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
        self.arm.solve(self.data, HOME_TIP)
        self.data.qvel[:] = 0
        mujoco.mj_forward(self.model, self.data)
        self._rng = np.random.default_rng(seed + 1_000_003)
        self._step_index = 0
        self._command = np.zeros(6)
        self._command_is_twist = True
        self._command_age_s = np.inf
        self._audio = ContactAudio(ContactAudioConfig(sample_rate_hz=self.config.audio_rate_hz, seed=seed))
        self._audio_pending: list[np.ndarray] = []
        self._audio_start_ns = 0
        self._dvs = EventEmulator(EventEmulatorConfig(seed=seed))
        self._ball_active = False
        self._ball_launched = False      # one pass per episode (TaskConfig.ball_probability)
        self.pad_force_n = 0.0                          # filtered pad normal force, N
        self._pressed = None
        # Let the arm settle under its velocity servos, then tare the F/T sensor at rest, as on a robot.
        self.data.ctrl[:] = 0
        for _ in range(100):
            mujoco.mj_step(self.model, self.data)
        self.data.time = 0.0
        self._wrench_bias = self._raw_wrench()
        return self.episode

    def _park_ball(self) -> None:
        q, v = self._ball_qpos, self._ball_qvel
        self.data.qpos[q:q + 7] = [0.45, 0.95, BALL_RADIUS_M, 1, 0, 0, 0]
        self.data.qvel[v:v + 6] = 0

    # -- commands -----------------------------------------------------------------------------
    def command_twist(self, twist: np.ndarray) -> None:
        """(6,) vx vy vz [m/s] wx wy wz [rad/s] of the tool tip, world (base) frame."""
        self._set_command(np.asarray(twist, dtype=np.float64), True)

    def command_joint_velocities(self, velocities: np.ndarray) -> None:
        """(6,) rad/s, in :data:`JOINTS` order."""
        self._set_command(np.asarray(velocities, dtype=np.float64), False)

    def _set_command(self, values: np.ndarray, is_twist: bool) -> None:
        if values.shape != (6,) or not np.all(np.isfinite(values)):
            raise ValueError(f'a command is 6 finite numbers, got {values!r}')
        self._command, self._command_is_twist, self._command_age_s = values, is_twist, 0.0

    # -- stepping -----------------------------------------------------------------------------
    @property
    def time_ns(self) -> int:
        return int(round(self.data.time * NS))

    def step(self) -> StepOutput:
        c = self.config
        command = self._command if self._command_age_s <= c.command_timeout_s else np.zeros(6)
        qdot = self.arm.joint_velocities(self.data, command) if self._command_is_twist else command
        self.data.ctrl[:] = np.clip(qdot, -2.0, 2.0)
        self._command_age_s += PHYSICS_STEP_S
        self._drive_ball()
        mujoco.mj_step(self.model, self.data)
        self._step_index += 1
        now = self.time_ns

        pressed, normal_force, slip, ball_contact = self._pad_contacts()
        # The press force as a force sensor reports it: first-order low-pass (10 ms), so a single
        # contact-solver step does not count as an overload.
        self.pad_force_n += (normal_force - self.pad_force_n) * (PHYSICS_STEP_S / (PHYSICS_STEP_S + FORCE_FILTER_S))
        if pressed is not None:
            self._pressed = pressed
        elif normal_force == 0:
            self._pressed = None
        tip, _ = self.arm.tip_pose(self.data)
        tip_speed = float(np.linalg.norm(self._tip_velocity()))
        outcome = judge(self.episode, self.task, PHYSICS_STEP_S, self._pressed, self.pad_force_n, ball_contact,
                        self.ball_in_zone(), tip_speed)

        out = StepOutput(now, self.data.qpos[self.arm.qpos_index] + c.joint_noise_rad * self._rng.standard_normal(6),
                         self.data.qvel[self.arm.dofs].copy(), self._wrench(), outcome=outcome)
        if self._due(c.tactile_hz):
            out.tactile = self.data.sensordata[6:6 + TAXELS * TAXELS].reshape(TAXELS, TAXELS).copy()
        self._render_audio(normal_force, slip, tip, out)
        if self._renderers is not None:
            if self._due(c.dvs_hz):
                out.events = self._dvs.frame(self._render(1), now)
            if self._due(c.camera_hz):
                out.rgb = self._render(0)
        return out

    def _due(self, rate_hz: float) -> bool:
        period = max(1, int(round(1.0 / (rate_hz * PHYSICS_STEP_S))))
        return self._step_index % period == 0

    def _render(self, which: int) -> np.ndarray:
        renderer = self._renderers[which]
        renderer.update_scene(self.data, 'scene')
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            renderer.scene.flags[flag] = 0
        return renderer.render()

    def _render_audio(self, normal_force: float, slip: float, tip: np.ndarray, out: StepOutput) -> None:
        tones = ()
        if self.episode.time_s <= self.task.tone_s:
            tones = (ToneSource(self.episode.tone_hz, self.task.tone_amplitude,
                                float(np.linalg.norm(SPEAKER - MICROPHONE))),)
        if not self._audio_pending:
            self._audio_start_ns = self.time_ns - int(PHYSICS_STEP_S * NS)
        self._audio_pending.append(self._audio.render(PHYSICS_STEP_S, normal_force, slip,
                                                      float(np.linalg.norm(tip - MICROPHONE)), tones))
        samples = np.concatenate(self._audio_pending)
        chunk = int(round(self.config.audio_chunk_s * self.config.audio_rate_hz))
        if len(samples) >= chunk:
            out.audio, out.audio_start_ns = samples[None, :chunk], self._audio_start_ns
            rest = samples[chunk:]
            self._audio_pending = [rest] if len(rest) else []
            self._audio_start_ns += int(round(chunk * NS / self.config.audio_rate_hz))
        else:
            self._audio_pending = [samples]

    # -- sensing ------------------------------------------------------------------------------
    def _raw_wrench(self) -> np.ndarray:
        return self.data.sensordata[:6].copy()

    def _wrench(self) -> np.ndarray:
        noise = self.config.wrench_noise_n * self._rng.standard_normal(6) * np.array([1, 1, 1, 0.1, 0.1, 0.1])
        return self._raw_wrench() - self._wrench_bias + noise

    def _tip_velocity(self) -> np.ndarray:
        return self.arm.jacobian(self.data)[:3] @ self.data.qvel[self.arm.dofs]

    def _pad_contacts(self) -> tuple[Optional[str], float, float, bool]:
        """(cube the pad presses or None, total pad normal force N, slip speed m/s, ball touched)."""
        pad, ball = self._ids['pad'], self._ids['ball']
        force6 = np.zeros(6)
        pressed, normal, ball_contact = None, 0.0, False
        for i in range(self.data.ncon):
            contact = self.data.contact[i]
            pair = {contact.geom1, contact.geom2}
            if ball in pair and pad not in pair and self._is_arm_geom(pair - {ball}):
                ball_contact = True
            if pad not in pair:
                continue
            other = (pair - {pad}).pop() if len(pair) > 1 else pad
            if other == ball:
                ball_contact = True
            mujoco.mj_contactForce(self.model, self.data, i, force6)
            normal += abs(force6[0])
            for colour in CUBE_COLOURS:
                if other == self._ids[f'cube_{colour}']:
                    pressed = colour
        slip = float(np.linalg.norm(self._tip_velocity()[:2])) if normal > 0 else 0.0
        return pressed, normal, slip, ball_contact

    def _is_arm_geom(self, geoms: set) -> bool:
        arm_bodies = {mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, b)
                      for b in ('upper', 'fore', 'wrist', 'wrist2', 'tool', 'pad')}
        return any(self.model.geom_bodyid[g] in arm_bodies for g in geoms)

    # -- the ball -----------------------------------------------------------------------------
    def _drive_ball(self) -> None:
        e = self.episode
        q, v = self._ball_qpos, self._ball_qvel
        if e.ball_start_s is not None and not self._ball_launched and e.time_s >= e.ball_start_s:
            self.data.qpos[q:q + 7] = [e.ball_x, 0.55, BALL_RADIUS_M, 1, 0, 0, 0]   # on the table's far edge
            self.data.qvel[v:v + 6] = [0, -self.task.ball_speed_mps, 0, self.task.ball_speed_mps / BALL_RADIUS_M, 0, 0]
            self._ball_active = self._ball_launched = True
        stalled = self._ball_active and np.linalg.norm(self.data.qvel[v:v + 2]) < 0.1
        if self._ball_active and (self.data.qpos[q + 1] < -0.62 or stalled):
            self._ball_active = False
            self._park_ball()

    def ball_position(self) -> np.ndarray:
        return self.data.qpos[self._ball_qpos:self._ball_qpos + 3].copy()

    def ball_in_zone(self) -> bool:
        if not self._ball_active:
            return False
        tip, _ = self.arm.tip_pose(self.data)
        return abs(self.ball_position()[1] - tip[1]) < self.task.danger_half_width_m

    @property
    def ball_active(self) -> bool:
        return self._ball_active

    def tip_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.arm.tip_pose(self.data)

    def hold_orientation(self) -> np.ndarray:
        """Angular velocity that keeps the pad facing down (used by the expert and tests)."""
        return 2.0 * rotation_error(self.arm.tip_pose(self.data)[1], np.eye(3))


__all__ = ['JOINTS', 'SimConfig', 'StepOutput', 'TabletopSim']

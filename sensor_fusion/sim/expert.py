"""The scripted expert: solves the tabletop task from privileged simulator state (for demonstrations).

It knows the target cube, every position and the ball's state. Moves above the target, descends,
regulates the pad's normal force to the target, holds; freezes whenever the ball is in, or about to
enter, the danger zone. Commands are tool-tip twists, like the policy's.

It does not move before the instruction has ended: it waits for the whole tone
(``TaskConfig.tone_s``). An expert that sets off toward the target at t = 0 acts on knowledge no
sensor holds yet: cloned policies learned to average over the cubes at the start and then to
continue whatever motion they were in (the "copycat" failure of behaviour cloning), and never
learned to set off from rest once the tone had named the cube, which is exactly the state they
were in. Waiting a fixed 0.3 s into the tone was not enough either: the tone fills the policies'
audio window (0.256 s) before that and stays, so "now go" was a hidden timer that no input shows,
and the cloned policies never set off. The tone's end is a change every policy hears, at the tick it
happens: silence after the tone means go.

It then speeds up over ``SET_OFF_RAMP_S`` instead of jumping to full speed. With a jump, "at rest
and the tone heard" was followed by the go command at exactly one tick per episode, a knife edge
10 ms wide in the audio; measured on the demonstrations, the cloned NVSF-A named the right
direction from the fifth tick of motion on but said "stay" at the set-off tick, and in closed loop
stayed. The ramp gives a run of near-rest ticks whose commands grow from zero.
"""
from __future__ import annotations

import numpy as np

from .simulator import TabletopSim
from .task import cube_top

HOVER_M = 0.06             # above the cube top before descending
MAX_SPEED_MPS = 0.2
ALIGN_TOLERANCE_M = 0.004
FREEZE_LOOKAHEAD_S = 0.25  # freeze this long before the ball can reach the zone
SET_OFF_RAMP_S = 0.4       # then scale the first motion up linearly from zero over this long


class ScriptedExpert:
    def __init__(self, sim: TabletopSim):
        self.sim = sim
        self._push = 0.0   # integral of the force error: a velocity servo needs it to hold a force

    def reset(self) -> None:
        self._push = 0.0

    @property
    def listen_s(self) -> float:
        """Holds still this long at the start: until the tone (the instruction) has ended."""
        return self.sim.task.tone_s

    def ball_threat(self) -> bool:
        sim = self.sim
        if not sim.ball_active:
            return False
        tip, _ = sim.tip_pose()
        margin = sim.task.danger_half_width_m + sim.task.ball_speed_mps * FREEZE_LOOKAHEAD_S
        return abs(sim.ball_position()[1] - tip[1]) < margin

    def act(self, normal_force_n: float) -> np.ndarray:
        """The twist for this step, given the pad's measured normal force (N)."""
        sim, task = self.sim, self.sim.task
        listen_s = self.listen_s
        if sim.episode.time_s < listen_s:
            return np.zeros(6)
        if self.ball_threat() and normal_force_n < 0.3:
            return np.zeros(6)          # freeze; while pressing, holding the force keeps the tool still
        tip, _ = sim.tip_pose()
        top = cube_top(sim.episode.cube_positions[sim.episode.target])
        twist = np.zeros(6)
        twist[3:] = sim.hold_orientation()
        horizontal = top[:2] - tip[:2]
        if np.linalg.norm(horizontal) > ALIGN_TOLERANCE_M and normal_force_n < 0.5:
            target = np.array([*top[:2], top[2] + HOVER_M])
            velocity = 4.0 * (target - tip)
            if np.linalg.norm(horizontal) > 0.02:     # far: stay at hover height while travelling
                velocity[2] = 4.0 * (top[2] + HOVER_M - tip[2])
        else:
            velocity = np.zeros(3)
            velocity[:2] = 4.0 * horizontal
            if normal_force_n < 0.3:                     # descend until contact, slowly near the top
                velocity[2] = -0.05 if tip[2] > top[2] + 0.015 else -0.01
            else:                                        # force regulation: PI on the force error
                error = task.force_target_n - normal_force_n
                self._push = float(np.clip(self._push + 0.05 * error * 0.002, -0.05, 0.05))
                velocity[2] = -(0.005 * error + self._push)
        speed = np.linalg.norm(velocity)
        if speed > MAX_SPEED_MPS:
            velocity *= MAX_SPEED_MPS / speed
        velocity *= min(1.0, (sim.episode.time_s - listen_s) / SET_OFF_RAMP_S)
        twist[:3] = velocity
        return twist

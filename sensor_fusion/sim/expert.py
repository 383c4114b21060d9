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

Near the cube (within ``NEAR_M``) it centres over it at its current height and descends, faster the
better aligned (full speed within ``DESCEND_WITHIN_M``); it never climbs back to the hover height
from there. It used to align to 4 mm at the hover height before descending, and to climb back
whenever it was 4 mm-2 cm off. That is finer than a policy perceives the cube through NVSF-A's
32x32 camera input, ~4 cm per pixel at the cubes (its goal was ~8 mm off in a traced episode): in
closed loop the policy descended early, reached states where the demonstrations say "descend" and
DAgger's labels said "up and over", and crept there until the timeout (58 of its 100 held-out
episodes). Landing 8 mm off
centre still puts the whole 4 cm pad on the 5 cm cube, and the horizontal servo keeps centring
during the descent.

Farther off it travels down to the hover height but never climbs back up to it: below it, it holds
its height as long as the pad clears the cube tops (``CLEARANCE_M``; all cubes are equally tall, so
that height is clear everywhere). The expert itself never gets there, but a policy that starts its
descent early does, and DAgger labels its states. With "climb back to hover" there, 27 % of the
ticks of 20 DAgger episodes of the shipped NVSF-A were labelled climbing (at 0.65 of full speed on
average) where the policy descended; they carried 53 % of its loss on those episodes, no
demonstration has such a tick, and DAgger rounds taught the policy to stop short of the cube.

Pressing, it commands the push that holds the target force at this reach plus a proportional
correction: a static function of what the policy observes (the reach from the joint angles, the
force from the wrench). The arm's joint velocity servos are dampers (torque = kv (qdot_cmd - qdot)),
so in contact a steady downward command holds a steady force, and the push per newton
(``press_admittance``) is a property of the arm's pose: measured on 80 expert presses it is a
function of the reach alone (correlation 0.994), 0.0025 (m/s)/N at 33 cm to 0.0089 at 59 cm. The
expert used to find that push with an integral of the force error, a state no sensor shows: a
policy cloned from it learned the average push, which holds ~6 N at a short reach and ~3 N at a long
one (22 of the shipped NVSF-A's 100 held-out episodes timed out pressing at 5-6.6 N). No static
law in the force alone does better: the best one held 4 +- 1 N in 26 of 30 episodes.
"""
from __future__ import annotations

import numpy as np

from .simulator import TabletopSim
from .task import cube_top

HOVER_M = 0.06             # travel this high above the cube tops
MAX_SPEED_MPS = 0.2
NEAR_M = 0.02              # horizontally this close to the target: centre and descend, never climb
CLEARANCE_M = 0.02         # the pad clears every cube this high above the tops (the cubes are all as tall)
DESCEND_WITHIN_M = 0.008   # full descent speed this close; it ramps from zero at NEAR_M
FREEZE_LOOKAHEAD_S = 0.25  # freeze this long before the ball can reach the zone
SET_OFF_RAMP_S = 0.4       # then scale the first motion up linearly from zero over this long
PRESSING_N = 0.5           # a normal force of at least this is a press (also for press noise and loss weights)
PRESS_GAIN = 0.005         # (m/s)/N: proportional force correction (0.01 sets up a limit cycle at 100 Hz)
PRESS_ERROR_CAP_N = 1.0   # the correction pushes for at most 1 N of missing force: more overshoots at contact
#: Push per newton of press force against the reach r (m) from the base axis, (m/s)/N = a r^2 + b r + c:
#: a quadratic fitted to 80 expert presses (seeds 200000-200079, with an integral force loop),
#: largest residual 2.4 %, which moves the held force by < 0.1 N.
PRESS_ADMITTANCE_FIT = (0.03726, -0.01061, 0.00190)


def press_admittance(reach_m: float) -> float:
    """The downward tip speed command (m/s) per newton held, pressing down at this reach."""
    a, b, c = PRESS_ADMITTANCE_FIT
    return a * reach_m ** 2 + b * reach_m + c


class ScriptedExpert:
    def __init__(self, sim: TabletopSim):
        self.sim = sim

    def reset(self) -> None:
        """Nothing to reset: every command is a function of the current state (module docstring)."""

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
        distance = float(np.linalg.norm(horizontal))
        pressing = normal_force_n >= PRESSING_N or (normal_force_n >= 0.3 and distance <= NEAR_M)
        if distance > NEAR_M and not pressing:           # travel: down to hover height, never needlessly up
            velocity = 4.0 * (np.array([*top[:2], top[2] + HOVER_M]) - tip)
            if top[2] + CLEARANCE_M <= tip[2] < top[2] + HOVER_M:
                velocity[2] = 0.0                        # below hover but clear of every cube top: hold height
            elif tip[2] < top[2] + CLEARANCE_M:
                velocity[2] = 4.0 * (top[2] + CLEARANCE_M - tip[2])
        else:
            velocity = np.zeros(3)
            velocity[:2] = 4.0 * horizontal              # keep centring, also while pressing
            if not pressing:                             # descend until contact, slowly near the top
                aligned = np.clip((NEAR_M - distance) / (NEAR_M - DESCEND_WITHIN_M), 0.0, 1.0)
                velocity[2] = -aligned * (0.05 if tip[2] > top[2] + 0.015 else 0.01)
            else:                                        # force regulation: the holding push, corrected
                hold_push = press_admittance(float(np.linalg.norm(tip[:2]))) * task.force_target_n
                velocity[2] = -(hold_push + PRESS_GAIN * min(task.force_target_n - normal_force_n, PRESS_ERROR_CAP_N))
        speed = np.linalg.norm(velocity)
        if speed > MAX_SPEED_MPS:
            velocity *= MAX_SPEED_MPS / speed
        velocity *= min(1.0, (sim.episode.time_s - listen_s) / SET_OFF_RAMP_S)
        twist[:3] = velocity
        return twist

"""What may leave the fusion node as a command (ROS-free): limits, scaling and the watchdog.

The model's action is 6 numbers in [-1, 1]. :func:`scale_action` turns it into physical units for
the chosen command interface and clamps it, so no NaN/inf and nothing beyond a limit can be
published whatever the model does. :class:`Watchdog` decides from the inputs' ages whether the
node may command at all (required inputs fresh), must degrade (an optional input went stale and
is masked) or must halt (a required input is stale or was never seen).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from .observation import MODALITIES
from .registry import Registry


@dataclass(frozen=True)
class CommandLimits:
    max_linear_mps: float = 0.25        # end-effector / base linear speed, m/s
    max_angular_rps: float = 1.0        # angular speed, rad/s
    max_joint_velocity_rps: float = 1.0  # every joint, rad/s

    def __post_init__(self):
        for name in ('max_linear_mps', 'max_angular_rps', 'max_joint_velocity_rps'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f'{name} must be a finite number >= 0, got {value!r}')


@dataclass(frozen=True)
class CommandSpace:
    """How model actions map to one command interface's numbers."""

    joint_space: bool   # False: a 6-D twist (linear m/s, angular rad/s); True: one velocity per joint

    def size(self, n_joints: int) -> int:
        return n_joints if self.joint_space else 6

    def scale(self, action: np.ndarray, limits: CommandLimits, n_joints: int) -> np.ndarray:
        if not self.joint_space:
            if action.shape[0] < 6:
                raise ValueError(f'a twist needs 6 action values, the model gives {action.shape[0]}')
            return action[:6] * np.array([limits.max_linear_mps] * 3 + [limits.max_angular_rps] * 3)
        if n_joints < 1 or action.shape[0] < n_joints:
            raise ValueError(f'joint commands need 1..{action.shape[0]} joint_names (one per action value), '
                             f'got {n_joints}')
        return action[:n_joints] * limits.max_joint_velocity_rps


# command_interface launch strings -> their space; the ROS layer maps the same keys to messages.
COMMAND_SPACES: Registry = Registry('command_interface')
COMMAND_SPACES.register('twist')(CommandSpace(joint_space=False))
COMMAND_SPACES.register('joint_velocity')(CommandSpace(joint_space=True))
COMMAND_SPACES.register('joint_trajectory')(CommandSpace(joint_space=True))


def scale_action(action: np.ndarray, interface: str, limits: CommandLimits, n_joints: int = 0) -> np.ndarray:
    """Model action in [-1, 1] -> command in physical units, clamped; non-finite entries become 0.

    twist: (6,) vx vy vz [m/s], wx wy wz [rad/s]. joint_velocity / joint_trajectory: (n_joints,) rad/s.

    >>> scale_action(np.array([2.0, -0.5, 0, 0, 0, np.nan]), 'twist', CommandLimits(0.2, 1.0, 1.0)).tolist()
    [0.2, -0.1, 0.0, 0.0, 0.0, 0.0]
    """
    space = COMMAND_SPACES.get(interface)
    action = np.asarray(action, dtype=np.float64)
    action = np.where(np.isfinite(action), np.clip(action, -1.0, 1.0), 0.0)
    return space.scale(action, limits, n_joints)


class CommandState(enum.Enum):
    OK = 'ok'                # every input fresh: commanding
    DEGRADED = 'degraded'    # an optional input is stale and masked: still commanding
    HALTED = 'halted'        # a required input is stale or missing: zero command
    INACTIVE = 'inactive'    # lifecycle not active: nothing published


@dataclass(frozen=True)
class WatchdogVerdict:
    state: CommandState
    stale_required: tuple[str, ...]   # required inputs past their timeout (or never received)
    stale_optional: tuple[str, ...]   # optional inputs past their timeout: masked for the model

    @property
    def may_command(self) -> bool:
        return self.state in (CommandState.OK, CommandState.DEGRADED)


class Watchdog:
    """Per-modality timeouts; ``required`` ones halt the robot, the others are masked."""

    def __init__(self, timeouts_s: Mapping[str, float], required: tuple[str, ...]):
        unknown = (set(timeouts_s) | set(required)) - set(MODALITIES)
        if unknown:
            raise ValueError(f'unknown modalities {sorted(unknown)}; known: {", ".join(MODALITIES)}')
        missing = set(MODALITIES) - set(timeouts_s)
        if missing:
            raise ValueError(f'no timeout for {sorted(missing)}')
        bad = {m: t for m, t in timeouts_s.items() if not (math.isfinite(t) and t > 0)}
        if bad:
            raise ValueError(f'timeouts must be positive seconds, got {bad}')
        self.timeouts_s = dict(timeouts_s)
        self.required = tuple(required)

    def check(self, ages_s: Mapping[str, Optional[float]]) -> WatchdogVerdict:
        """``ages_s``: seconds since each modality's newest sample, None if never received."""
        def stale(m):
            age = ages_s.get(m)
            return age is None or age > self.timeouts_s[m]
        stale_required = tuple(m for m in self.required if stale(m))
        stale_optional = tuple(m for m in MODALITIES if m not in self.required and stale(m))
        if stale_required:
            state = CommandState.HALTED
        elif stale_optional:
            state = CommandState.DEGRADED
        else:
            state = CommandState.OK
        return WatchdogVerdict(state, stale_required, stale_optional)


def percentile_ms(samples_s, q: float) -> float:
    """``q``-th percentile of durations in seconds, in ms (nan when empty)."""
    if not len(samples_s):
        return float('nan')
    return float(np.percentile(np.asarray(samples_s), q) * 1e3)

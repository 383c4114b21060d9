"""What every fusion architecture shares: its registry, config loading and the forward contract."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch
import yaml
from torch import nn

from ..backends.energy import ComputeCost
from ..observation import MODALITIES
from ..paths import config_path
from ..preprocess import FusionInputs, PreprocessConfig
from ..registry import Registry

ARCHITECTURES: Registry[type['FusionArchitecture']] = Registry('architecture')

#: Explicit recurrent state: a tuple of tensors, each with the batch as first dimension.
State = tuple[torch.Tensor, ...]


def require_positive(config: Any, *names: str) -> None:
    """Raises ValueError naming the first field of ``config`` among ``names`` that is not > 0."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f'{type(config).__name__}.{name} must be > 0, got {value!r}')


def require_divisible(config: Any, name: str, divisor_name: str) -> None:
    value, divisor = getattr(config, name), getattr(config, divisor_name)
    if value % divisor:
        raise ValueError(f'{type(config).__name__}.{name}={value} must be a multiple of {divisor_name}={divisor}')


@dataclass(frozen=True)
class ArchitectureConfig:
    """Fields every architecture has; subclasses add their own, one comment each."""

    action_dim: int = 6            # end-effector twist (vx, vy, vz, wx, wy, wz), each in [-1, 1] of its limit
    action_power: float = 3.0      # action = sign(u) |u|^p of the head's tanh output u (see FusionArchitecture.shape_action)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)

    def __post_init__(self):
        require_positive(self, 'action_dim')
        if not isinstance(self.action_power, (int, float)) or self.action_power < 1:
            raise ValueError(f'{type(self).__name__}.action_power must be >= 1 (1: linear), got {self.action_power!r}')

    @classmethod
    def from_dict(cls, values: dict) -> 'ArchitectureConfig':
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f'unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(known)}')
        values = dict(values)
        if 'preprocess' in values:
            values['preprocess'] = PreprocessConfig.from_dict(values['preprocess'] or {})
        return cls(**values)


@dataclass
class PolicyOutput:
    action: torch.Tensor                         # (B, action_dim) in [-1, 1]
    head_output: torch.Tensor                    # (B, action_dim) u in [-1, 1], action = shape_action(u)
    state: State                                 # next recurrent state
    cost: ComputeCost                            # operations spent on this batch
    gate_log_prob: Optional[torch.Tensor] = None  # (B,) NVSF-A: log-probability of the sampled gate
    gate: Optional[torch.Tensor] = None           # (B, n_modalities) NVSF-A: encoders that ran
    # NVSF-A with goal_pathway: the quantities it commands from, for the trainer's supervision:
    # 'instruction' (B, K) logits of which candidate the instruction names, 'candidates' (B, K, 2)
    # where each lies (table plane), 'tool' (B, 2) where the tool is, 'goal' (B, 2).
    goal: dict[str, torch.Tensor] = field(default_factory=dict)


class FusionArchitecture(nn.Module):
    """An ``nn.Module`` mapping a batch of :class:`FusionInputs` and a state to actions.

    Subclasses are registered in :data:`ARCHITECTURES` under their launch-parameter key.
    """

    key: ClassVar[str]
    config_class: ClassVar[type[ArchitectureConfig]]
    has_spiking_core: ClassVar[bool] = False   # True: ``loihi_sim`` can run part of it

    def __init__(self, config: ArchitectureConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f'{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}')
        self.config = config

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> State:
        raise NotImplementedError(f'{type(self).__name__} must define initial_state')

    def encoders_needed(self, state: State) -> Optional[tuple[bool, ...]]:
        """Per entry of MODALITIES, whether the next decision from ``state`` will encode it.

        None (the default) means all of them. An architecture that decides before encoding
        (NVSF-A's gate) answers, so the policy skips preprocessing what the model will not read.
        """
        return None

    def forward(self, inputs: FusionInputs, state: State) -> PolicyOutput:
        raise NotImplementedError(f'{type(self).__name__} must define forward')

    def check_goal_teacher(self, goal_teacher: Optional[torch.Tensor]) -> None:
        """``goal_teacher`` (the true goal - tool, goal teacher forcing) is for a goal pathway in training:
        at inference the head must read the estimate, so it is refused there."""
        if goal_teacher is not None and not (self.training and getattr(self.config, 'goal_pathway', False)):
            raise ValueError(f'{type(self).__name__} takes goal_teacher in training only, with goal_pathway: true')

    def encode_window(self, inputs: FusionInputs, ticks: int) -> Optional[dict[str, torch.Tensor]]:
        """Training: what ``forward`` computes from each tick alone, for a window of ``ticks`` ticks
        stacked tick-major (row t * B + b: tick t of episode b), in one pass: tensors of T * B rows by
        name. ``forward`` then takes tick t's rows as ``encoded``. None (the default): the architecture
        computes it all inside ``forward``. The trainer calls it in training mode only: at inference
        the held tokens (encoders.HeldTokens) already skip the repeated inputs.
        """
        return None

    # The task's decisive commands are small: holding still while the ball passes means under 0.1
    # of full speed, and holding a 4 +- 1 N press means z-velocities of a few hundredths. A linear
    # head regressed with MSE spends its precision on the large travel commands and creeps at
    # ~0.1 where the expert says 0. An odd power curve (as RC transmitters' "expo") gives the head
    # fine resolution near zero: with p = 3, |u| < 0.46 commands under 0.1. Training regresses u
    # against unshape_action(expert), so errors near zero weigh as much as errors at full speed.
    def shape_action(self, head_output: torch.Tensor) -> torch.Tensor:
        """(B, A) head output u in [-1, 1] -> action sign(u) |u|^p in [-1, 1]."""
        p = self.config.action_power
        return head_output if p == 1 else torch.sign(head_output) * head_output.abs() ** p

    def unshape_action(self, action: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`shape_action` (the head output that commands ``action``)."""
        p = self.config.action_power
        return action if p == 1 else torch.sign(action) * action.abs() ** (1.0 / p)


def modality_index(name: str) -> int:
    return MODALITIES.index(name)


def load_config(key: str, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ArchitectureConfig:
    """Reads ``config/architectures/<key>.yaml`` (or ``path``) into the architecture's typed config."""
    cls = ARCHITECTURES.get(key)
    path = Path(path) if path is not None else config_path('architectures', f'{key}.yaml')
    values = yaml.safe_load(path.read_text()) or {}
    if values.get('architecture', key) != key:
        raise ValueError(f'{path} configures architecture {values["architecture"]!r}, not {key!r}')
    values.pop('architecture', None)
    values.update(overrides or {})
    return cls.config_class.from_dict(values)


def build_architecture(key: str, config: ArchitectureConfig | None = None) -> FusionArchitecture:
    """The architecture registered as ``key``, with ``config`` or its YAML defaults."""
    cls = ARCHITECTURES.get(key)
    return cls(config if config is not None else load_config(key))

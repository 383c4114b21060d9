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
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)

    def __post_init__(self):
        require_positive(self, 'action_dim')

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
    state: State                                 # next recurrent state
    cost: ComputeCost                            # operations spent on this batch
    gate_log_prob: Optional[torch.Tensor] = None  # (B,) NVSF-A: log-probability of the sampled gate
    gate: Optional[torch.Tensor] = None           # (B, n_modalities) NVSF-A: encoders that ran


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

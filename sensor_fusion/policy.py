"""An architecture on a backend with its recurrent state: the one object the fusion node calls per tick."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .architectures import ARCHITECTURES, FusionArchitecture, build_architecture, load_config
from .backends import build_backend
from .backends.energy import ComputeCost, EnergyCoefficients, EnergyEstimate, estimate_energy
from .observation import MODALITIES, Observation
from .preprocess import FusionInputs, Preprocessor
from .weights import load_weights


class NonFiniteActionError(RuntimeError):
    """The model produced NaN/inf; the caller must command zero, never forward it."""


@dataclass(frozen=True)
class Decision:
    action: np.ndarray                 # (action_dim,) float64, each in [-1, 1] of its limit
    cost: ComputeCost                  # operations spent on this decision
    energy: EnergyEstimate             # estimated from ``cost``
    encoders_run: tuple[str, ...]      # modalities whose encoders ran (NVSF-A may skip some)
    compute_s: float                   # wall time of preprocessing + model, seconds


class FusionPolicy:
    """Preprocess -> model -> checked action, with state carried between calls until :meth:`reset`."""

    def __init__(self, model: FusionArchitecture, backend: str = 'cpu',
                 energy: EnergyCoefficients = EnergyCoefficients()):
        self.backend = build_backend(backend)
        self.model = self.backend.prepare(model)
        self.preprocessor = Preprocessor(model.config.preprocess)
        self.energy_coefficients = energy
        self.reset()

    @property
    def architecture(self) -> str:
        return self.model.key

    def reset(self) -> None:
        """Forgets the episode: memory tokens, action plan, previous action."""
        self._state = self.model.initial_state(1, self.backend.device)

    @torch.inference_mode()
    def step(self, inputs: FusionInputs) -> Decision:
        """One decision from already preprocessed inputs (batch of one)."""
        start = time.perf_counter()
        out = self.model(inputs.to(self.backend.device), self._state)
        action = out.action[0].double().cpu().numpy()
        if not np.all(np.isfinite(action)):
            # Keep the old state: a NaN must not poison every later tick.
            raise NonFiniteActionError(f'{self.architecture} produced a non-finite action {action.tolist()}')
        self._state = out.state
        ran = out.gate[0].tolist() if out.gate is not None else inputs.mask[0].tolist()
        return Decision(action=np.clip(action, -1.0, 1.0), cost=out.cost,
                        energy=estimate_energy(out.cost, self.energy_coefficients),
                        encoders_run=tuple(m for m, on in zip(MODALITIES, ran) if on),
                        compute_s=time.perf_counter() - start)

    def act(self, observation: Observation) -> Decision:
        """One decision for one observation."""
        start = time.perf_counter()
        # NVSF-A's gate is decided before encoding: what it will not read is not preprocessed either.
        inputs = self.preprocessor(observation, only=self.model.encoders_needed(self._state))
        decision = self.step(inputs)
        return Decision(decision.action, decision.cost, decision.energy, decision.encoders_run,
                        time.perf_counter() - start)


#: Encoder-gate modes a deployment may choose (NVSF-A): every encoder, or the trained gate's choice.
DEPLOYMENT_GATE_MODES = ('all', 'threshold')


def build_policy(architecture: str, backend: str = 'cpu', weights: Optional[str | Path] = None,
                 config_path: Optional[str | Path] = None, seed: int = 0, gate_mode: str = '') -> FusionPolicy:
    """The policy for launch parameters ``architecture`` and ``backend``.

    Without ``weights`` the model keeps its seeded random initialisation (bring-up and tests);
    deciding whether that is allowed is the caller's job (the node's ``allow_untrained``).
    ``gate_mode`` ('' = the config's): NVSF-A's encoder gate at deployment, ``all`` (every encoder)
    or ``threshold`` (the gate trained by ``train-gate`` decides). The weights do not change with it,
    so it is a run-time choice, not part of the config the weights were trained with.
    """
    ARCHITECTURES.get(architecture)   # fail early, with the list of known keys
    if gate_mode and gate_mode not in DEPLOYMENT_GATE_MODES:
        raise ValueError(f"gate_mode must be one of {', '.join(DEPLOYMENT_GATE_MODES)} (or empty: the config's), "
                         f'got {gate_mode!r}')
    torch.manual_seed(seed)
    model = build_architecture(architecture, load_config(architecture, config_path))
    if gate_mode and not hasattr(model, 'gate_mode'):
        raise ValueError(f'gate_mode applies to the encoder gate of nvsf_a; {architecture} has none')
    if weights is not None:
        load_weights(model, weights)
    policy = FusionPolicy(model, backend)
    if gate_mode:   # on the backend's copy, which is rebuilt from the config
        policy.model.gate_mode = gate_mode
    return policy

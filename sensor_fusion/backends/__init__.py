"""Compute backends, registered by their launch-parameter keys (``backend:=loihi_sim``).

A backend turns a trained architecture into the module that runs: ``cpu`` and ``cuda`` move it
to a torch device; ``loihi_sim`` runs its spiking core bit-exactly as Loihi would and the rest
on the host CPU.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..registry import Registry

BACKENDS: Registry[type['Backend']] = Registry('backend')


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run here or cannot run this architecture; never silently replaced."""


class Backend:
    key: ClassVar[str]
    device: torch.device = torch.device('cpu')

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` ready to run on this backend, in eval mode."""
        # Rebuild from config + state_dict rather than deepcopy: snntorch neurons keep the last
        # membrane tensor of a training graph as an attribute, which deepcopy refuses.
        clone = type(model)(model.config)
        clone.load_state_dict(model.state_dict())
        return clone.to(self.device).eval()


@BACKENDS.register('cpu')
class CpuBackend(Backend):
    key = 'cpu'


@BACKENDS.register('cuda')
class CudaBackend(Backend):
    key = 'cuda'

    def __init__(self):
        if not torch.cuda.is_available():
            built = f'built with CUDA {torch.version.cuda}' if torch.version.cuda else 'a CPU-only build'
            raise BackendUnavailableError(
                f"backend 'cuda' needs a CUDA GPU, but torch.cuda.is_available() is False (torch "
                f"{torch.__version__} is {built}); use backend 'cpu' or install a CUDA build of torch "
                "(make setup TORCH_SPEC=...)")
        self.device = torch.device('cuda')


@BACKENDS.register('loihi_sim')
class LoihiSimBackend(Backend):
    key = 'loihi_sim'

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        from ..architectures import ARCHITECTURES
        from .loihi import LoihiSpikingPatchNet
        if not getattr(model, 'has_spiking_core', False):
            supported = [key for key, cls in ARCHITECTURES.items() if cls.has_spiking_core]
            raise BackendUnavailableError(
                f"architecture {getattr(model, 'key', type(model).__name__)!r} has no spiking part to run "
                f"on backend 'loihi_sim'; architectures that support it: {', '.join(supported)}")
        prepared = super().prepare(model)
        prepared.snn = LoihiSpikingPatchNet.from_float(prepared.snn)
        return prepared


def build_backend(key: str) -> Backend:
    return BACKENDS.get(key)()

"""The spiking core of NVSF-H in floating point, trained with snntorch surrogate gradients.

Network: ``spikes_in -> Dense -> LIF -> Dense -> LIF -> spike counts``. It is built to be the
exact float twin of what ``loihi_sim`` (and Loihi) runs, so quantisation is the only difference:

* reset to zero (``reset_mechanism='zero'``), spike when ``mem > threshold``;
* the synaptic current does not persist between steps (Loihi ``du = 4095``);
* every Dense delivers its input one step late, as Loihi's (and Lava's) Dense does, so a
  two-layer net is run for ``T + 2`` steps to flush the pipeline;
* a per-neuron bias is added on every step (Loihi's ``bias_mant << bias_exp``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from ..backends.energy import ComputeCost

#: Steps a two-layer net needs beyond its inputs: one synaptic delay per Dense.
PIPELINE_DELAY_STEPS = 2


@dataclass
class SpikeActivity:
    """What one run spent, for energy accounting."""

    input_spikes: torch.Tensor    # () total input spikes
    hidden_spikes: torch.Tensor   # () total hidden-layer spikes
    output_spikes: torch.Tensor   # () total output-layer spikes
    neuron_steps: int             # neurons x time steps simulated


def pad_for_pipeline(spikes_in: torch.Tensor) -> torch.Tensor:
    """(N, T, n_in) -> (N, T + 2, n_in): silent steps that let the last layer see the last input."""
    silence = spikes_in.new_zeros(spikes_in.shape[0], PIPELINE_DELAY_STEPS, spikes_in.shape[2])
    return torch.cat([spikes_in, silence], dim=1)


def spike_activity(spikes_in: torch.Tensor, hidden: torch.Tensor, output: torch.Tensor) -> SpikeActivity:
    """Counts of a run with (N, T, n_in) inputs and (N, K, H) / (N, K, O) layer spikes."""
    neuron_steps = hidden.shape[0] * hidden.shape[1] * (hidden.shape[2] + output.shape[2])
    return SpikeActivity(spikes_in.sum(), hidden.sum(), output.sum(), neuron_steps)


def delayed(currents: torch.Tensor) -> torch.Tensor:
    """(N, K, F) per-step Dense outputs -> the (N, K, F) inputs the next layer sees one step later."""
    return torch.cat([torch.zeros_like(currents[:, :1]), currents[:, :-1]], dim=1)


class SpikingPatchNet(nn.Module):
    """Two LIF layers over spike trains, (N, K, n_in) -> (N, n_out) spike counts."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, beta: float, threshold: float = 1.0):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden, bias=False)
        self.fc2 = nn.Linear(n_hidden, n_out, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(n_hidden))
        self.bias2 = nn.Parameter(torch.zeros(n_out))
        self.beta, self.threshold = beta, threshold
        # fast_sigmoid: the surrogate of Zenke & Ganguli's SuperSpike, well behaved for short trains.
        grad = surrogate.fast_sigmoid(slope=25)
        self.lif1 = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism='zero', spike_grad=grad)
        self.lif2 = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism='zero', spike_grad=grad)
        # fc1 sees binary event spikes of which only a few are on: start large enough to fire.
        nn.init.normal_(self.fc1.weight, std=2.0 / n_in ** 0.5)
        nn.init.normal_(self.fc2.weight, std=2.0 / n_hidden ** 0.5)

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.fc1.in_features, self.fc1.out_features, self.fc2.out_features

    def _run_layer(self, lif: snn.Leaky, currents: torch.Tensor) -> torch.Tensor:
        """(N, K, F) input currents (bias included) -> (N, K, F) spikes, state passed explicitly."""
        mem = torch.zeros_like(currents[:, 0])
        spikes = []
        for step in range(currents.shape[1]):
            spk, mem = lif(currents[:, step], mem)
            spikes.append(spk)
        return torch.stack(spikes, dim=1)

    def run(self, spikes_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K, n_in) spikes -> hidden (N, K, H) and output (N, K, O) spikes, K steps exactly."""
        # Layer by layer is exact for a feed-forward net and needs one matmul per layer, not per step.
        hidden = self._run_layer(self.lif1, delayed(self.fc1(spikes_in)) + self.bias1)
        output = self._run_layer(self.lif2, delayed(self.fc2(hidden)) + self.bias2)
        return hidden, output

    def forward(self, spikes_in: torch.Tensor) -> tuple[torch.Tensor, SpikeActivity]:
        """(N, T, n_in) spikes -> (N, n_out) output spike counts over T + 2 steps."""
        hidden, output = self.run(pad_for_pipeline(spikes_in))                    # (N, K, H), (N, K, O)
        return output.sum(dim=1), spike_activity(spikes_in, hidden, output)

    def cost(self, n_patches: int, steps: int, activity: Optional[SpikeActivity] = None) -> ComputeCost:
        """On a CPU/GPU the dense matmuls run whatever the spikes: count them as MACs (``activity`` is
        not needed; the ``loihi_sim`` twin counts the spikes)."""
        n_in, n_hidden, n_out = self.sizes
        k = steps + PIPELINE_DELAY_STEPS
        return ComputeCost(dense_macs=n_patches * k * (n_in * n_hidden + n_hidden * n_out))

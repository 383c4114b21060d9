"""A bit-exact simulation of Loihi's CUBA-LIF neurons and 8-bit Dense synapses, vectorised in torch.

The rule is that of Lava's bit-accurate process models (``PyDenseModelBitAcc`` and
``PyLifModelBitAcc``, lava-nc 0.10.0), including their int32 overflow behaviour, so every
spike and every integer voltage matches Lava's ``Loihi2SimCfg(select_tag='fixed_pt')``:

* Dense: weights clipped to 8 bits and, for mixed-sign matrices, truncated to even values;
  ``a = (W @ s) << weight_exp`` (arithmetic right shift for a negative exponent), delivered to
  the neurons one step later.
* LIF, per step: ``u = round_to_zero(u * (4096 - du - 1) / 4096) + (a << 6)`` with a single
  wrap at +-2**23; ``v = round_to_zero(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)``
  clipped to +-(2**23 - 1); spike when ``v > vth << 6``; spiking neurons reset to 0.

Everything runs in int64 tensors with an explicit wrap wherever Lava computes in int32.
Patches are independent networks, simulated together along the first (batch) dimension.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..architectures.spiking import SpikeActivity, SpikingPatchNet, delayed, pad_for_pipeline, spike_activity
from .energy import ComputeCost

DECAY_SHIFT = 12                  # decays are in units of 1/4096
DECAY_UNITY = 1 << DECAY_SHIFT
STATE_LIMIT = 1 << 23             # u and v are 24-bit registers
ACTIVATION_SHIFT = 6              # synaptic input and threshold are MSB-aligned by 6 bits
MAX_VTH = (1 << 17) - 1
MAX_DECAY = (1 << 12) - 1
BIAS_MANT_RANGE = (-(1 << 12), (1 << 12) - 1)


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement int32 overflow of an int64 tensor, as numpy's int32 arithmetic does it."""
    return torch.remainder(x + (1 << 31), 1 << 32) - (1 << 31)


def round_toward_zero_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """``sign(x) * (|x| >> shift)``: Loihi's decay rounds toward zero, not toward -inf."""
    return torch.sign(x) * (torch.abs(x) >> shift)


def lava_weights(weights: torch.Tensor, num_weight_bits: int = 8) -> torch.Tensor:
    """The integer weights Lava's bit-accurate Dense actually uses (``clip_weights`` + ``truncate_weights``)."""
    w = weights.to(torch.int64)
    inhibitory = bool(w.max() <= 0) and bool(w.min() < 0)
    mixed = bool(w.min() < 0) and bool(w.max() > 0)
    if inhibitory:
        w = -w
    w = torch.clamp(w, -(1 << 8) * int(mixed), (1 << 8) - 1)
    truncate = 8 - num_weight_bits + int(mixed)
    w = (w >> truncate) << truncate
    return -w if inhibitory else w


@dataclass(frozen=True)
class LoihiLayer:
    """One Dense + LIF population, in Loihi's integer units."""

    weights: torch.Tensor        # (out, in) int64, already representable (see lava_weights)
    weight_exp: int              # Dense output shift
    du: int                      # current decay, 1/4096 units (4095 = no current memory)
    dv: int                      # voltage decay, 1/4096 units
    vth: int                     # threshold mantissa; effective threshold is vth << 6
    bias_mant: torch.Tensor      # (out,) int64
    bias_exp: int                # bias shift, 0..7

    def __post_init__(self):
        for name, value, low, high in (('du', self.du, 0, MAX_DECAY), ('dv', self.dv, 0, MAX_DECAY),
                                       ('vth', self.vth, 0, MAX_VTH), ('bias_exp', self.bias_exp, 0, 7),
                                       ('weight_exp', self.weight_exp, -8, 7)):
            if not low <= value <= high:
                raise ValueError(f'Loihi {name} must be in [{low}, {high}], got {value}')
        if not torch.equal(lava_weights(self.weights), self.weights.to(torch.int64)):
            raise ValueError('weights are not representable on Loihi; pass them through lava_weights() first')
        low, high = BIAS_MANT_RANGE
        if self.bias_mant.numel() and (int(self.bias_mant.min()) < low or int(self.bias_mant.max()) > high):
            raise ValueError(f'bias_mant must be in [{low}, {high}]')

    @property
    def effective_bias(self) -> torch.Tensor:
        return self.bias_mant.to(torch.int64) << self.bias_exp

    def dense(self, spikes: torch.Tensor) -> torch.Tensor:
        """(N, in) binary spikes -> (N, out) int64 synaptic input, as Lava's a_buff before the int32 port."""
        # float32 sums are exact here: |sum| <= in * 256 < 2**24 for any in below 65536.
        accumulated = (spikes.to(torch.float32) @ self.weights.T.to(torch.float32)).to(torch.int64)
        shifted = accumulated << self.weight_exp if self.weight_exp > 0 else accumulated >> -self.weight_exp
        return wrap_int32(shifted)

    def lif_step(self, u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of Lava's PyLifModelBitAcc on (N, out) int64 state; returns (u, v, spikes)."""
        decayed = wrap_int32(round_toward_zero_shift(u * (DECAY_UNITY - (self.du + 1)), DECAY_SHIFT))
        current = wrap_int32(decayed + wrap_int32(a_in << ACTIVATION_SHIFT))
        wrapped = torch.where(current > STATE_LIMIT, wrap_int32(current - 2 * STATE_LIMIT), current)
        # Lava's second wrap adds to the unwrapped value; kept as is for bit parity.
        u = torch.where(wrapped <= -STATE_LIMIT, wrap_int32(current + 2 * STATE_LIMIT), wrapped)
        decayed_v = wrap_int32(round_toward_zero_shift(v * (DECAY_UNITY - self.dv), DECAY_SHIFT))
        v = torch.clamp(wrap_int32(wrap_int32(decayed_v + u) + self.effective_bias),
                        -STATE_LIMIT + 1, STATE_LIMIT - 1)
        spikes = v > (self.vth << ACTIVATION_SHIFT)
        return u, torch.where(spikes, torch.zeros_like(v), v), spikes


@dataclass
class LoihiTrace:
    spikes: list[torch.Tensor]    # per layer, (N, K, out) bool
    u: list[torch.Tensor]         # per layer, (N, K, out) int64, recorded after each step
    v: list[torch.Tensor]         # per layer, (N, K, out) int64, after reset


def simulate(layers: list[LoihiLayer], spikes_in: torch.Tensor, record: bool = False
             ) -> tuple[list[torch.Tensor], LoihiTrace | None]:
    """Runs a feed-forward chain of Loihi layers for K steps on (N, K, n_in) binary input spikes.

    Returns the (N, K, out) bool spikes of each layer (and, with ``record``, u and v traces).
    Layer by layer is exact for a feed-forward chain: layer l at step k only needs layer l-1 up to k-1.
    """
    n, steps, _ = spikes_in.shape
    layer_input = spikes_in
    all_spikes, us, vs = [], [], []
    for layer in layers:
        synaptic = layer.dense(layer_input.reshape(n * steps, -1)).reshape(n, steps, -1)  # (N, K, out)
        delivered = delayed(synaptic)                                                    # one step late
        u = torch.zeros(n, synaptic.shape[2], dtype=torch.int64)
        v = torch.zeros_like(u)
        spikes, u_trace, v_trace = [], [], []
        for step in range(steps):
            u, v, s = layer.lif_step(u, v, delivered[:, step])
            spikes.append(s)
            if record:
                u_trace.append(u)
                v_trace.append(v)
        layer_input = torch.stack(spikes, dim=1)                                # (N, K, out)
        all_spikes.append(layer_input)
        if record:
            us.append(torch.stack(u_trace, dim=1))
            vs.append(torch.stack(v_trace, dim=1))
    return all_spikes, (LoihiTrace(all_spikes, us, vs) if record else None)


def quantize_layer(weight: torch.Tensor, bias: torch.Tensor, beta: float, threshold: float) -> LoihiLayer:
    """Maps one float layer (``mem = beta * mem + W s + b``, spike when mem > threshold) onto Loihi.

    A float membrane value m becomes ``m * scale * 64`` in Loihi units with one scale per layer:
    the largest weight fills the 8-bit range (even values for mixed signs), the threshold becomes
    ``round(threshold * scale)`` and the bias the closest ``bias_mant << bias_exp``.
    """
    w = weight.detach().to(torch.float64)
    largest = float(w.abs().max()) or 1.0
    mixed = bool(w.min() < 0) and bool(w.max() > 0)
    scale = min((254.0 if mixed else 255.0) / largest, MAX_VTH / threshold)
    step = 2 if mixed else 1
    weights = lava_weights((torch.round(w * scale / step) * step).to(torch.int64))
    bias_units = bias.detach().to(torch.float64) * scale * (1 << ACTIVATION_SHIFT)
    bias_exp = 0
    while bias_exp < 7 and float(bias_units.abs().max()) / (1 << bias_exp) > BIAS_MANT_RANGE[1]:
        bias_exp += 1
    bias_mant = torch.clamp(torch.round(bias_units / (1 << bias_exp)), *BIAS_MANT_RANGE).to(torch.int64)
    dv = min(MAX_DECAY, max(0, round((1.0 - beta) * DECAY_UNITY)))
    return LoihiLayer(weights=weights, weight_exp=0, du=MAX_DECAY, dv=dv, vth=max(1, round(threshold * scale)),
                      bias_mant=bias_mant, bias_exp=bias_exp)


class LoihiSpikingPatchNet(nn.Module):
    """Drop-in replacement of :class:`SpikingPatchNet` that runs the quantised net bit-exactly."""

    def __init__(self, layers: list[LoihiLayer]):
        super().__init__()
        self.layers = layers

    @classmethod
    def from_float(cls, net: SpikingPatchNet) -> 'LoihiSpikingPatchNet':
        return cls([quantize_layer(net.fc1.weight, net.bias1, net.beta, net.threshold),
                    quantize_layer(net.fc2.weight, net.bias2, net.beta, net.threshold)])

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].weights.shape[1],) + tuple(layer.weights.shape[0] for layer in self.layers)

    def forward(self, spikes_in: torch.Tensor) -> tuple[torch.Tensor, SpikeActivity]:
        """(N, T, n_in) spikes -> (N, n_out) float spike counts over T + 2 steps."""
        hidden, output = simulate(self.layers, pad_for_pipeline(spikes_in > 0))[0]  # (N, K, H), (N, K, O)
        return output.sum(dim=1).to(torch.float32), spike_activity(spikes_in, hidden, output)

    def cost(self, n_patches: int, steps: int, activity: SpikeActivity) -> ComputeCost:
        """On Loihi only spikes cost: each is delivered to its fan-out, and every neuron updates every step."""
        _, n_hidden, n_out = self.sizes
        synops = float(activity.input_spikes) * n_hidden + float(activity.hidden_spikes) * n_out
        return ComputeCost(synops=synops, neuron_updates=float(activity.neuron_steps))


def layers_from_arrays(network: dict) -> list[LoihiLayer]:
    """Layers from the array format of ``lava_oracle`` (raw weights go through Lava's clipping)."""
    layers = []
    for i in range(len(network['du'])):
        weights = torch.as_tensor(network[f'w{i + 1}'])
        bias = network.get(f'b{i + 1}')
        bias_mant = (torch.as_tensor(bias, dtype=torch.int64) if bias is not None else
                     torch.full((weights.shape[0],), int(network['bias_mant'][i]), dtype=torch.int64))
        layers.append(LoihiLayer(
            weights=lava_weights(weights), weight_exp=int(network['weight_exp'][i]), du=int(network['du'][i]),
            dv=int(network['dv'][i]), vth=int(network['vth'][i]), bias_mant=bias_mant,
            bias_exp=int(network['bias_exp'][i])))
    return layers


def layers_to_arrays(layers: list[LoihiLayer]) -> dict:
    """The inverse of :func:`layers_from_arrays`: what ``lava_oracle`` needs to run the same chain."""
    import numpy as np
    arrays = {}
    for i, layer in enumerate(layers, start=1):
        arrays[f'w{i}'] = layer.weights.numpy().astype(np.int32)
        arrays[f'b{i}'] = layer.bias_mant.numpy().astype(np.int32)
    for name in ('weight_exp', 'du', 'dv', 'vth', 'bias_exp'):
        arrays[name] = np.array([getattr(layer, name) for layer in layers])
    arrays['bias_mant'] = np.zeros(len(layers), dtype=np.int32)   # superseded by the per-neuron b{i}
    return arrays

"""Generate Loihi reference traces with Intel Lava, the parity oracle of `loihi_sim`.

Run with a Python 3.10 interpreter that has ``lava-nc==0.10.0`` and ``numpy<2``
(Lava supports nothing newer)::

    python3.10 tools/make_lava_reference.py test/data/loihi_reference

Each case is a two-layer feed-forward network ``RingBuffer -> Dense -> LIF -> Dense -> LIF``
simulated with ``Loihi2SimCfg(select_tag='fixed_pt')`` (Lava's bit-accurate
``PyDenseModelBitAcc`` and ``PyLifModelBitAcc``). The script writes one ``.npz`` per case with
the network parameters, the input spikes and the recorded spikes, currents and voltages of
both layers, so the test suite can replay the case through ``loihi_sim`` without Lava.
The optional live parity test imports CASES from here and runs them through Lava again.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The oracle is a standalone file (numpy + lava only): load it by path, not through the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'sensor_fusion' / 'backends'))
from lava_oracle import LAYER_PARAMETERS, run_chain  # noqa: E402


@dataclass(frozen=True)
class ReferenceCase:
    """One randomly drawn network; every field is a knob that exercises a part of the rule."""

    name: str
    seed: int
    n_in: int = 16
    n_hidden: int = 12
    n_out: int = 6
    steps: int = 40
    input_density: float = 0.3      # probability that an input neuron spikes on a step
    weight_low: int = -256          # raw weights are drawn in [low, high] before Lava clips them
    weight_high: int = 255
    weight_exp: tuple[int, int] = (0, 0)
    du: tuple[int, int] = (0, 0)    # 12-bit current decay, 1/4096 units
    dv: tuple[int, int] = (0, 0)    # 12-bit voltage decay, 1/4096 units
    vth: tuple[int, int] = (100, 100)
    bias_mant: tuple[int, int] = (0, 0)
    bias_exp: tuple[int, int] = (0, 0)

    def draw(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        spikes_in = (rng.random((self.n_in, self.steps)) < self.input_density).astype(np.int32)
        w1 = rng.integers(self.weight_low, self.weight_high + 1, (self.n_hidden, self.n_in))
        w2 = rng.integers(self.weight_low, self.weight_high + 1, (self.n_out, self.n_hidden))
        return {'spikes_in': spikes_in, 'w1': w1.astype(np.int32), 'w2': w2.astype(np.int32)}


CASES = (
    ReferenceCase('integrate_no_leak', seed=1, du=(4095, 4095), dv=(0, 0), vth=(200, 150)),
    ReferenceCase('leaky_current_and_voltage', seed=2, du=(1024, 512), dv=(256, 128), vth=(80, 60)),
    ReferenceCase('strong_decay_with_bias', seed=3, du=(3000, 4000), dv=(2000, 3500), vth=(50, 40),
                  bias_mant=(300, -200), bias_exp=(2, 1)),
    ReferenceCase('weight_exponents', seed=4, du=(2048, 2048), dv=(512, 1024), vth=(500, 300),
                  weight_exp=(2, -3)),
    ReferenceCase('excitatory_only', seed=5, weight_low=0, weight_high=300, du=(100, 4095),
                  dv=(4000, 64), vth=(30, 1000)),
    ReferenceCase('saturating_voltage', seed=6, n_in=64, input_density=0.9, weight_low=100,
                  weight_high=255, du=(0, 0), dv=(0, 0), vth=(131071, 131071), weight_exp=(7, 7)),
    ReferenceCase('wrapping_current', seed=7, n_in=64, input_density=0.9, weight_low=150,
                  weight_high=255, du=(0, 0), dv=(4095, 4095), vth=(131071, 131071), weight_exp=(6, 6)),
    ReferenceCase('negative_bias_and_inhibition', seed=8, weight_low=-300, weight_high=0,
                  du=(256, 256), dv=(256, 256), vth=(10, 10), bias_mant=(4000, 4095), bias_exp=(3, 0)),
    ReferenceCase('snn_patch_shape', seed=9, n_in=128, n_hidden=48, n_out=24, steps=12,
                  input_density=0.15, du=(4095, 4095), dv=(819, 819), vth=(120, 90)),
)


def network_arrays(case: ReferenceCase) -> dict[str, np.ndarray]:
    """The case as the arrays ``lava_oracle.run_chain`` (and the test suite) take."""
    return {**case.draw(), **{key: np.asarray(getattr(case, key)) for key in LAYER_PARAMETERS}}


def main(out_dir: str) -> None:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        network = network_arrays(case)
        traces = run_chain(network)
        traces.pop('run_s')
        np.savez_compressed(target / f'{case.name}.npz', **network, **traces)
        print(f'{case.name}: {int(traces["s1"].sum())} hidden spikes, {int(traces["s2"].sum())} output spikes')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'test/data/loihi_reference')

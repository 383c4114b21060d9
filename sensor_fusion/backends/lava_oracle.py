"""Runs a feed-forward Dense/LIF chain in Intel Lava: the parity oracle of ``loihi_sim``.

This file is executed by a *separate* Python 3.10 interpreter that has ``lava-nc==0.10.0`` and
``numpy<2`` (Lava supports nothing newer); it imports only numpy and lava, never torch or the
rest of this package::

    python3.10 sensor_fusion/backends/lava_oracle.py network.npz traces.npz

``network.npz`` holds ``spikes_in`` (n_in, steps) and, for layers i = 1..L, ``w{i}`` (out, in)
plus the per-layer arrays ``weight_exp``, ``du``, ``dv``, ``vth``, ``bias_mant``, ``bias_exp``
(length L); an optional ``b{i}`` (out,) gives layer i per-neuron bias mantissas instead of the
single ``bias_mant[i]``. ``traces.npz`` gets ``s{i}``, ``u{i}``, ``v{i}`` (neurons, steps) for every layer
and ``run_s``, the wall time of Lava's run call alone.
"""
from __future__ import annotations

import sys
import time

import numpy as np

LAYER_PARAMETERS = ('weight_exp', 'du', 'dv', 'vth', 'bias_mant', 'bias_exp')


def run_chain(network: dict) -> dict:
    """Simulates ``network`` with ``Loihi2SimCfg(select_tag='fixed_pt')``; returns traces as above."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    spikes_in = np.asarray(network['spikes_in'])
    steps = spikes_in.shape[1]
    n_layers = len(network['du'])
    source = RingBuffer(data=spikes_in)
    upstream = source.s_out
    lifs = []
    for i in range(n_layers):
        weights = np.asarray(network[f'w{i + 1}'])
        dense = Dense(weights=weights, weight_exp=int(network['weight_exp'][i]))
        lif = LIF(shape=(weights.shape[0],), du=int(network['du'][i]), dv=int(network['dv'][i]),
                  vth=int(network['vth'][i]),
                  bias_mant=np.asarray(network[f'b{i + 1}']) if f'b{i + 1}' in network else int(network['bias_mant'][i]),
                  bias_exp=int(network['bias_exp'][i]))
        upstream.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        upstream = lif.s_out
        lifs.append(lif)
    monitors = {}
    for i, lif in enumerate(lifs, start=1):
        for name, target in (('v', lif.v), ('u', lif.u), ('s', lif.s_out)):
            monitor = Monitor()
            monitor.probe(target, steps)
            monitors[f'{name}{i}'] = (monitor, target)
    start = time.perf_counter()
    lifs[-1].run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag='fixed_pt'))
    run_s = time.perf_counter() - start
    traces = {'run_s': np.float64(run_s)}
    for key, (monitor, target) in monitors.items():
        data = monitor.get_data()
        traces[key] = np.asarray(data[target.process.name][target.name]).T.astype(np.int64)  # (neurons, steps)
    lifs[-1].stop()
    return traces


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    network = dict(np.load(argv[1]))
    np.savez_compressed(argv[2], **run_chain(network))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

"""Compute counting and energy estimates per decision.

The estimate is ``dense_macs * E_mac + synops * E_synop + neuron_updates * E_neuron``: the
arithmetic only, with no memory traffic, data movement or static power, so it ranks
architectures and backends rather than predicting a wall-plug figure. Coefficients live in
``config/energy.yaml`` and default to:

* 4.6 pJ per fp32 multiply-accumulate (3.7 pJ multiply + 0.9 pJ add, 45 nm), M. Horowitz,
  "Computing's energy problem", ISSCC 2014.
* 23.6 pJ per synaptic spike operation and 81 pJ per neuron update on Loihi, M. Davies et al.,
  "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", IEEE Micro 38(1), 2018, Table 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ComputeCost:
    """Operations for one batch of decisions; divide by the batch size for one decision."""

    dense_macs: float = 0.0       # multiply-accumulates of dense (ANN) arithmetic on a CPU/GPU
    synops: float = 0.0           # synaptic operations on neuromorphic hardware: spikes x fan-out
    neuron_updates: float = 0.0   # neuron state updates on neuromorphic hardware: neurons x time steps

    def __add__(self, other: 'ComputeCost') -> 'ComputeCost':
        return ComputeCost(self.dense_macs + other.dense_macs, self.synops + other.synops,
                           self.neuron_updates + other.neuron_updates)

    def scaled(self, factor: float) -> 'ComputeCost':
        return ComputeCost(self.dense_macs * factor, self.synops * factor, self.neuron_updates * factor)


@dataclass(frozen=True)
class EnergyCoefficients:
    mac_pj: float = 4.6             # Horowitz ISSCC 2014, fp32 MAC at 45 nm
    synop_pj: float = 23.6          # Davies et al. IEEE Micro 2018, Loihi synaptic spike op
    neuron_update_pj: float = 81.0  # Davies et al. IEEE Micro 2018, Loihi neuron update

    def __post_init__(self):
        for name in ('mac_pj', 'synop_pj', 'neuron_update_pj'):
            if getattr(self, name) < 0:
                raise ValueError(f'energy coefficient {name} must be >= 0, got {getattr(self, name)}')

    @classmethod
    def from_yaml(cls, path: str | Path) -> 'EnergyCoefficients':
        values = yaml.safe_load(Path(path).read_text()) or {}
        return cls(**values.get('coefficients', {}))


@dataclass(frozen=True)
class EnergyEstimate:
    dense_j: float
    spiking_j: float

    @property
    def total_j(self) -> float:
        return self.dense_j + self.spiking_j


def estimate_energy(cost: ComputeCost, coefficients: EnergyCoefficients = EnergyCoefficients()) -> EnergyEstimate:
    """Joules for ``cost``.

    >>> round(estimate_energy(ComputeCost(dense_macs=1e6)).total_j * 1e6, 2)  # microjoules
    4.6
    """
    dense = cost.dense_macs * coefficients.mac_pj * 1e-12
    spiking = (cost.synops * coefficients.synop_pj + cost.neuron_updates * coefficients.neuron_update_pj) * 1e-12
    return EnergyEstimate(dense_j=dense, spiking_j=spiking)

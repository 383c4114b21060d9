import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_observation
from sensor_fusion.architectures import ARCHITECTURES, build_architecture, load_config
from sensor_fusion.architectures.spiking import SpikingPatchNet
from sensor_fusion.backends import BACKENDS, BackendUnavailableError, build_backend
from sensor_fusion.backends.energy import ComputeCost, EnergyCoefficients, estimate_energy
from sensor_fusion.backends.loihi import (LoihiLayer, LoihiSpikingPatchNet, lava_weights, layers_from_arrays,
                                          layers_to_arrays, quantize_layer, simulate)
from sensor_fusion.policy import build_policy
from sensor_fusion.preprocess import Preprocessor

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = sorted((ROOT / 'test' / 'data' / 'loihi_reference').glob('*.npz'))
LAVA_PYTHON = Path(os.environ.get('LAVA_PYTHON', ROOT / '.venv-lava' / 'bin' / 'python'))


def test_backend_registry_keys():
    assert BACKENDS.keys() == ['cpu', 'cuda', 'loihi_sim']
    with pytest.raises(KeyError, match="unknown backend 'tpu'; known: cpu, cuda, loihi_sim"):
        build_backend('tpu')


def test_cuda_fails_clearly_without_a_gpu_and_works_with_one():
    if torch.cuda.is_available():
        policy = build_policy('nvsf_a', 'cuda')
        assert next(policy.model.parameters()).is_cuda
        assert np.isfinite(policy.act(make_observation()).action).all()
    else:
        with pytest.raises(BackendUnavailableError, match="backend 'cuda' needs a CUDA GPU"):
            build_policy('nvsf_a', 'cuda')


@pytest.mark.parametrize('key', [k for k, cls in ARCHITECTURES.items() if not cls.has_spiking_core])
def test_loihi_refuses_architectures_without_spiking_parts(key):
    with pytest.raises(BackendUnavailableError, match=f"'{key}' has no spiking part.*support it: nvsf_h"):
        build_policy(key, 'loihi_sim')


def assert_same_as_lava(trace, lava: dict, label: str) -> None:
    """Every spike and every integer u and v of every layer, ours (1, K, n) against Lava's (n, K)."""
    for layer in range(len(trace.spikes)):
        for name, ours in (('s', trace.spikes[layer]), ('u', trace.u[layer]), ('v', trace.v[layer])):
            np.testing.assert_array_equal(ours[0].T.numpy().astype(np.int64), lava[f'{name}{layer + 1}'],
                                          err_msg=f'{label}: {name}{layer + 1}')


@pytest.mark.parametrize('reference', REFERENCES, ids=[p.stem for p in REFERENCES])
def test_loihi_sim_reproduces_lava_bit_exactly(reference):
    """Every spike and every integer current and voltage of Lava's fixed_pt simulation."""
    data = dict(np.load(reference))
    spikes_in = torch.from_numpy(data['spikes_in'].T[None].astype(bool))          # (1, K, n_in)
    _, trace = simulate(layers_from_arrays(data), spikes_in, record=True)
    assert_same_as_lava(trace, data, reference.stem)


def test_patches_are_simulated_independently_in_one_batch():
    data = dict(np.load(REFERENCES[0]))
    layers = layers_from_arrays(data)
    single = torch.from_numpy(data['spikes_in'].T[None].astype(bool))
    batch = torch.cat([single, torch.zeros_like(single), single.flip(1)])
    batched, _ = simulate(layers, batch)
    for row in range(len(batch)):
        alone, _ = simulate(layers, batch[row:row + 1])
        assert all(torch.equal(b[row], a[0]) for b, a in zip(batched, alone)), f'patch {row}'


def test_weights_lava_cannot_represent_are_refused():
    with pytest.raises(ValueError, match='not representable'):
        LoihiLayer(weights=torch.tensor([[3, -4]]), weight_exp=0, du=0, dv=0, vth=10,
                   bias_mant=torch.zeros(1, dtype=torch.int64), bias_exp=0)
    assert lava_weights(torch.tensor([[3, -4, 300]])).tolist() == [[2, -4, 254]]


@pytest.mark.skipif(not LAVA_PYTHON.exists(), reason=f'Lava oracle not installed at {LAVA_PYTHON} '
                    '(make lava-oracle needs Python 3.10); the committed reference traces are checked instead')
def test_live_lava_parity_on_quantised_nvsf_h_network(tmp_path):
    """Quantise NVSF-H's spiking core, run it in Lava right now, compare everything."""
    torch.manual_seed(0)
    net = SpikingPatchNet(128, 48, 24, beta=0.85)
    with torch.no_grad():
        net.bias1.fill_(0.05)
        net.bias2.fill_(-0.02)
        net.bias1.add_(0.02 * torch.randn(48))                                    # per-neuron biases
    layers = LoihiSpikingPatchNet.from_float(net).layers
    spikes_in = (torch.rand(1, 14, 128) < 0.2)
    network = {**layers_to_arrays(layers), 'spikes_in': spikes_in[0].T.numpy().astype(np.int32)}
    np.savez(tmp_path / 'network.npz', **network)
    oracle = ROOT / 'sensor_fusion' / 'backends' / 'lava_oracle.py'
    subprocess.run([str(LAVA_PYTHON), str(oracle), str(tmp_path / 'network.npz'), str(tmp_path / 'out.npz')],
                   check=True, timeout=300, capture_output=True)
    lava = np.load(tmp_path / 'out.npz')
    _, trace = simulate(layers, spikes_in, record=True)
    assert lava['s1'].sum() > 0 and lava['s2'].sum() > 0, 'the test network must spike to mean anything'
    assert_same_as_lava(trace, dict(lava), 'live quantised NVSF-H core')


def test_quantisation_accuracy_loss_is_small():
    """Float snntorch core vs its Loihi quantisation on realistic patch spike trains, with the
    shipped (trained) weights: the quantisation loss that matters is the deployed model's."""
    from sensor_fusion.paths import models_dir
    from sensor_fusion.weights import load_weights
    torch.manual_seed(0)
    config = load_config('nvsf_h')
    model = build_architecture('nvsf_h', config)
    load_weights(model, models_dir() / 'nvsf_h.safetensors')
    model.eval()
    pre = Preprocessor(config.preprocess)
    from conftest import make_observation as obs
    from sensor_fusion.preprocess import collate
    inputs = collate([pre(obs(seed, n_events=3000)) for seed in range(8)])
    patches, selected = model.select_patches(inputs)
    spikes = (patches[selected] > 0).float()                                     # (N, T, 2*p*p)
    float_counts, _ = model.snn(spikes)
    loihi_counts, _ = LoihiSpikingPatchNet.from_float(model.snn)(spikes)
    steps = spikes.shape[1] + 2
    mean_error = (float_counts - loihi_counts).abs().mean().item()
    agreement = (float_counts == loihi_counts).float().mean().item()
    print(f'\nquantisation: {len(spikes)} patches, count agreement {agreement:.3f}, mean |error| {mean_error:.4f} '
          f'spikes of at most {steps}')
    assert float_counts.sum() > 0
    assert agreement > 0.95 and mean_error < 0.1
    # and on the decision itself
    state = model.initial_state(8)
    float_action = model(inputs, state).action
    loihi_policy = build_backend('loihi_sim').prepare(model)
    loihi_action = loihi_policy(inputs, state).action
    action_error = (float_action - loihi_action).abs().max().item()
    print(f'quantisation: max |action error| {action_error:.4f} (actions in [-1, 1])')
    assert action_error < 0.1


def test_quantised_layer_maps_float_dynamics():
    layer = quantize_layer(torch.tensor([[0.5, -0.25]]), torch.tensor([0.1]), beta=0.75, threshold=1.0)
    assert layer.dv == 1024 and layer.du == 4095
    assert layer.weights.tolist() == [[254, -128]] and layer.vth == 508
    assert int(layer.effective_bias[0]) == pytest.approx(0.1 * 508 * 64, rel=0.01)


def test_energy_estimate_uses_the_coefficients():
    cost = ComputeCost(dense_macs=1000, synops=100, neuron_updates=10)
    energy = estimate_energy(cost, EnergyCoefficients(mac_pj=1.0, synop_pj=2.0, neuron_update_pj=3.0))
    assert energy.dense_j == pytest.approx(1e-9) and energy.spiking_j == pytest.approx(230e-12)
    assert EnergyCoefficients.from_yaml(ROOT / 'config' / 'energy.yaml') == EnergyCoefficients()


def test_loihi_backend_counts_synops_instead_of_snn_macs():
    obs = make_observation(n_events=3000)
    cpu = build_policy('nvsf_h', 'cpu').act(obs)
    loihi = build_policy('nvsf_h', 'loihi_sim').act(obs)
    assert cpu.cost.synops == 0 and loihi.cost.synops > 0 and loihi.cost.neuron_updates > 0
    assert loihi.cost.dense_macs < cpu.cost.dense_macs

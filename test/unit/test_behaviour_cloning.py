"""The cloning trainer's unroll: the window fast path against tick by tick (pure torch, no bags)."""
import copy

import pytest
import torch

from conftest import make_observation
from sensor_fusion.architectures import build_architecture, load_config
from sensor_fusion.observation import MODALITIES
from sensor_fusion.preprocess import Preprocessor, collate
from sensor_fusion.training import behaviour_cloning
from sensor_fusion.training.behaviour_cloning import EpisodeTensors


def episode(model, first_seed, length):
    pre = Preprocessor(model.config.preprocess)
    inputs = collate([pre(make_observation(seed, n_events=2000)) for seed in range(first_seed, first_seed + length)])
    actions = torch.rand(length, 6, generator=torch.Generator().manual_seed(first_seed)) * 2 - 1   # (T, 6)
    return EpisodeTensors(inputs, actions)


@pytest.mark.parametrize('key', ['nvsf_a', 'nvsf_h', 'nvsf_c'])
def test_unrolling_with_windows_encoded_at_once_trains_as_tick_by_tick(key, monkeypatch):
    """Same losses and the same weights after the optimiser's steps, with episodes of unequal length
    (the shorter one repeats its last tick, out of the loss), a modality dropped for one episode, and
    the keyframe and contact weights on."""
    torch.manual_seed(0)
    model = build_architecture(key, load_config(key))
    if hasattr(model, 'gate_mode'):
        model.gate_mode = 'all'
    episodes = [episode(model, 0, 5), episode(model, 10, 3)]
    dropped = torch.zeros(2, len(MODALITIES), dtype=torch.bool)
    dropped[1, MODALITIES.index('audio')] = True
    goal_weight = 1.0 if getattr(model.config, 'goal_pathway', False) else 0.0

    def train(fast):
        trained = copy.deepcopy(model).train()
        if not fast:   # the architecture computes everything inside forward
            monkeypatch.setattr(trained, 'encode_window', lambda inputs, ticks: None)
        optimiser = torch.optim.SGD(trained.parameters(), lr=0.1)
        loss = behaviour_cloning._unroll(trained, episodes, 2, optimiser, keyframe_weight=3.0, dropped=dropped,
                                         goal_weight=goal_weight, contact_weight=2.0)
        return loss, trained

    slow_loss, slow = train(fast=False)
    fast_loss, fast = train(fast=True)
    assert fast_loss == pytest.approx(slow_loss, rel=1e-6)
    moved = 0
    for (name, before), after_slow, after_fast in zip(model.named_parameters(), slow.parameters(), fast.parameters()):
        torch.testing.assert_close(after_fast, after_slow, msg=name)
        moved += not torch.equal(after_slow, before)
    assert moved   # the steps changed the weights: the comparison above compared trained weights

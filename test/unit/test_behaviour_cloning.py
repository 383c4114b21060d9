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


def labelled_episode(model, first_seed, length, target):
    """An episode with the labels goal teacher forcing reads: the target, where it lies, the tool's path."""
    e = episode(model, first_seed, length)
    g = torch.Generator().manual_seed(first_seed + 1)
    e.target, e.target_xy = target, torch.rand(2, generator=g) * 2 - 1                         # (2,)
    e.tool_xy = torch.rand(length, 2, generator=g) * 2 - 1                                    # (T, 2)
    return e


def goal_config(key):
    import dataclasses
    config = load_config(key)
    return config if config.goal_pathway else dataclasses.replace(config, goal_pathway=True)


@pytest.mark.parametrize('key', ['nvsf_a', 'nvsf_h'])
def test_goal_teacher_forcing_feeds_the_head_the_true_offset_on_the_chosen_episodes_only(key):
    """A forced episode's action loss does not depend on the goal pathway's estimate (its head reads
    target - tool from the labels); an episode left to the estimate does."""
    torch.manual_seed(0)
    model = build_architecture(key, goal_config(key))
    if hasattr(model, 'gate_mode'):
        model.gate_mode = 'all'
    model.train()
    episodes = [labelled_episode(model, 0, 4, 0), labelled_episode(model, 10, 4, 2)]
    perturbed = copy.deepcopy(model)
    with torch.no_grad():   # another estimate: every locator and the instruction moved
        for name, parameter in perturbed.goal.named_parameters():
            parameter.add_(torch.randn_like(parameter))

    def losses(m, teacher):
        return [behaviour_cloning._unroll(m, [e], 2, teacher=torch.tensor([teacher])) for e in episodes]

    forced, forced_perturbed = losses(model, True), losses(perturbed, True)
    free, free_perturbed = losses(model, False), losses(perturbed, False)
    assert forced == pytest.approx(forced_perturbed, rel=1e-6)
    assert all(abs(a - b) > 1e-6 for a, b in zip(free, free_perturbed))

    # Mixed in one batch: the forced row reads the truth, the other the estimate.
    state = model.initial_state(2)
    inputs = collate([Preprocessor(model.config.preprocess)(make_observation(3, n_events=2000))] * 2)
    truth = torch.tensor([[0.3, -0.4], [float('nan'), float('nan')]])
    captured = {}
    handle = model.head.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    out = model(inputs, state, goal_teacher=truth)
    handle.remove()
    offset = captured['x'][:, -2:]                                                           # (B, 2)
    torch.testing.assert_close(offset[0], truth[0])
    torch.testing.assert_close(offset[1], (out.goal['goal'] - out.goal['tool'])[1].detach())


@pytest.mark.parametrize('key', ['nvsf_c', 'nvsf_h'])
def test_the_latchs_reading_is_supervised_while_the_tone_sounds_even_with_the_latch_shut(key):
    """With the latch shut the instruction's cross-entropy cannot reach what the state reads; the
    reading's own term (the first tone_ticks ticks with audio) does, and only on those ticks."""
    import dataclasses
    torch.manual_seed(0)
    model = build_architecture(key, dataclasses.replace(goal_config(key), instruction_memory=True)).train()
    with torch.no_grad():
        model.goal.instruction_update.weight.zero_()
        model.goal.instruction_update.bias.fill_(-50.0)                  # shut: share ~2e-22
    episodes = [labelled_episode(model, 0, 3, 1)]

    def step(tone_ticks):      # _unroll steps an optimiser: take the gradient it left
        model.zero_grad()
        optimiser = torch.optim.SGD(model.goal.instruction.parameters(), lr=0.0)
        behaviour_cloning._unroll(model, episodes, 3, optimiser, goal_weight=1.0, tone_ticks=tone_ticks)
        return model.goal.instruction.weight.grad.abs().sum()

    assert step(0) < 1e-12           # after the tone: only through the shut latch
    assert step(3) > 1e-3            # while it sounds: the reading learns


def test_goal_teacher_forcing_is_refused_at_inference_and_without_goal_supervision():
    model = build_architecture('nvsf_a', goal_config('nvsf_a')).eval()
    inputs = collate([Preprocessor(model.config.preprocess)(make_observation(3, n_events=2000))])
    with pytest.raises(ValueError, match='training only'):
        model(inputs, model.initial_state(1), goal_teacher=torch.zeros(1, 2))
    with pytest.raises(ValueError, match='goal_weight'):
        behaviour_cloning.TrainConfig(goal_teacher_forcing=0.5)
    with pytest.raises(ValueError, match='probability'):
        behaviour_cloning.TrainConfig(goal_teacher_forcing=1.5, goal_weight=1.0)


def test_tool_pretraining_learns_the_tool_position_from_the_joints():
    """The tool locator alone, on ticks whose tool position is a smooth function of the joint angles:
    the held-out R^2 rises from below zero (untrained) to near 1, and nothing else moves."""
    torch.manual_seed(0)
    model = build_architecture('nvsf_a', goal_config('nvsf_a'))
    episodes = []
    for seed in range(6):
        e = episode(model, 100 * seed, 2)
        g = torch.Generator().manual_seed(seed)
        joints = torch.rand(400, e.inputs.proprio.shape[1], generator=g) * 2 - 1               # (T, J)
        mask = torch.ones(400, len(MODALITIES), dtype=torch.bool)
        e.inputs = type(e.inputs)(**{**{f: getattr(e.inputs, f)[:1].expand(400, *getattr(e.inputs, f).shape[1:])
                                        for f in e.inputs.__dataclass_fields__}, 'proprio': joints, 'mask': mask})
        e.tool_xy = torch.stack([torch.sin(joints[:, 0]) + 0.5 * joints[:, 1], torch.cos(joints[:, 2]) * joints[:, 3]], dim=1)
        episodes.append(e)
    before = {n: p.clone() for n, p in model.named_parameters()}
    scores = behaviour_cloning.pretrain_tool_locator(model, episodes[:5], episodes[5:], 20, 1e-2, progress=False)
    assert scores[-1] > 0.9 and scores[-1] > scores[0]
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(n.startswith('goal.tool_locator.') for n in moved)


def test_a_pretraining_only_run_is_allowed_and_an_empty_one_refused():
    """tools/train_in_an_hour.sh fits the control pathways on weights that only had their tool
    locator pretrained (no cloning epoch); a run with nothing at all to train is still an error."""
    with pytest.raises(ValueError, match='nothing to train'):
        behaviour_cloning.TrainConfig(epochs=0)
    assert behaviour_cloning.TrainConfig(epochs=0, tool_pretrain_epochs=1, goal_weight=1.0).epochs == 0
    assert behaviour_cloning.TrainConfig(epochs=0, camera_pretrain_epochs=1, goal_weight=1.0).epochs == 0

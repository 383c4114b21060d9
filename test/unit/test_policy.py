import numpy as np
import pytest
import torch

from conftest import make_observation
from sensor_fusion.architectures import ARCHITECTURES
from sensor_fusion.policy import NonFiniteActionError, build_policy
from sensor_fusion.weights import save_weights

CASES = [(k, 'cpu') for k in ARCHITECTURES.keys()] + [('nvsf_h', 'loihi_sim')]


@pytest.mark.parametrize('architecture, backend', CASES)
def test_policy_decides_and_resets(architecture, backend):
    policy = build_policy(architecture, backend, seed=3)
    first = policy.act(make_observation(0))
    second = policy.act(make_observation(1))
    policy.reset()
    again = policy.act(make_observation(0))
    assert first.action.shape == (6,) and np.all(np.abs(first.action) <= 1)
    np.testing.assert_allclose(again.action, first.action, atol=1e-6)
    assert not np.allclose(second.action, first.action)
    assert first.energy.total_j > 0 and first.compute_s > 0


def test_policy_loads_saved_weights(tmp_path):
    source = build_policy('nvsf_a', seed=1)
    path = tmp_path / 'a.safetensors'
    save_weights(source.model, path)
    loaded = build_policy('nvsf_a', weights=path, seed=99)
    obs = make_observation()
    np.testing.assert_allclose(loaded.act(obs).action, source.act(obs).action, atol=1e-6)


def test_a_failed_save_leaves_the_earlier_weights_whole_and_no_partial_file(tmp_path, monkeypatch):
    import sensor_fusion.weights as weights_module
    source = build_policy('nvsf_a', seed=1)
    path = tmp_path / 'a.safetensors'
    save_weights(source.model, path)
    before = path.read_bytes()

    def torn_write(tensors, filename, metadata=None):
        with open(filename, 'wb') as f:
            f.write(b'torn')
        raise OSError('disk full')
    monkeypatch.setattr(weights_module, 'save_file', torn_write)
    with pytest.raises(OSError, match='disk full'):
        save_weights(build_policy('nvsf_a', seed=2).model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['a.safetensors']


def test_non_finite_action_is_never_returned_and_state_survives():
    policy = build_policy('nvsf_a')
    obs = make_observation()
    with torch.no_grad():
        last_layer = [m for m in policy.model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
        last_layer.bias[0] = float('nan')
    state_before = [t.clone() for t in policy._state]
    with pytest.raises(NonFiniteActionError, match='non-finite action'):
        policy.act(obs)
    assert all(torch.equal(a, b) for a, b in zip(state_before, policy._state))


def test_nvsf_a_skips_preprocessing_what_its_gate_turns_off_with_the_same_decisions(tmp_path):
    import yaml
    from sensor_fusion.paths import config_path
    # Without the freeze and descent pathways, which read the camera, the events and the joints every
    # tick whatever the gate says.
    config = yaml.safe_load(config_path('architectures', 'nvsf_a.yaml').read_text())
    (tmp_path / 'nvsf_a.yaml').write_text(yaml.safe_dump({**config, 'freeze_pathway': False, 'descent_pathway': False}))
    gated = build_policy('nvsf_a', seed=5, config_path=tmp_path / 'nvsf_a.yaml')
    with torch.no_grad():                     # a gate that turns camera and events off from the start
        gated.model.gate.bias[:] = 3.0
        gated.model.gate.bias[[0, 4]] = -3.0
    reference = build_policy('nvsf_a', seed=5, config_path=tmp_path / 'nvsf_a.yaml')
    reference.model.load_state_dict(gated.model.state_dict())
    reference.model.encoders_needed = lambda state: None   # the path that preprocesses everything
    calls = []
    camera, events = gated.preprocessor.config.camera, gated.preprocessor.config.events
    object.__setattr__(gated.preprocessor, 'config', type(gated.preprocessor.config)(
        **{**gated.preprocessor.config.__dict__,
           'camera': _Counting(camera, 'camera', calls), 'events': _Counting(events, 'events', calls)}))
    for seed in range(5):
        a, b = gated.act(make_observation(seed)), reference.act(make_observation(seed))
        assert np.allclose(a.action, b.action, atol=1e-6)
        assert a.encoders_run == b.encoders_run and 'camera' not in a.encoders_run
    assert calls == [], 'camera/events were preprocessed although the gate had turned them off'


def test_nvsf_a_gate_skipping_a_held_modality_decides_as_the_trainer_does():
    # The gate trainer feeds the model every input; deployment preprocesses what the gate will read.
    # A skipped input whose token is held is stood in for by that token, in both: before, deployment
    # left the skipped tactile pad unread, so it was masked where the gate had trained with it held.
    from sensor_fusion.observation import MODALITIES
    tactile = MODALITIES.index('tactile')
    gated = build_policy('nvsf_a', seed=5)
    reference = build_policy('nvsf_a', seed=5)
    reference.model.load_state_dict(gated.model.state_dict())
    reference.model.encoders_needed = lambda state: None   # the trainer's path: everything preprocessed
    for seed in range(4):
        with torch.no_grad():                               # the pad read once, then skipped
            for policy in (gated, reference):
                policy.model.gate.bias[tactile] = 3.0 if seed == 0 else -3.0
        a, b = gated.act(make_observation(seed)), reference.act(make_observation(seed))
        assert a.encoders_run == b.encoders_run and ('tactile' in a.encoders_run) == (seed == 0)
        np.testing.assert_array_equal(a.action, b.action)
    assert gated.model.encoders_needed(gated._state)[tactile]   # skipped, yet read: its held token stands in


def test_gate_mode_is_a_run_time_choice_of_nvsf_a_only():
    policy = build_policy('nvsf_a', seed=5, gate_mode='all')
    assert policy.model.gate_mode == 'all'
    assert build_policy('nvsf_a', seed=5).model.gate_mode == policy.model.config.gate_mode   # '' = the config's
    with pytest.raises(ValueError, match='gate_mode must be one of all, threshold'):
        build_policy('nvsf_a', gate_mode='sample')                  # the trainer's mode, not a deployment's
    with pytest.raises(ValueError, match='nvsf_h has none'):
        build_policy('nvsf_h', gate_mode='threshold')


class _Counting:
    """Wraps a transform and records every call."""

    def __init__(self, transform, name, calls):
        self.transform, self.name, self.calls = transform, name, calls

    def __call__(self, *args):
        self.calls.append(self.name)
        return self.transform(*args)

    def __getattr__(self, attribute):
        return getattr(self.transform, attribute)


def test_keyframe_weights_single_out_the_ticks_where_the_expert_changes_its_mind():
    import torch
    from sensor_fusion.training.behaviour_cloning import keyframe_weights
    rest, go = torch.zeros(6), torch.tensor([0.8, -0.6, 0.0, 0.0, 0.0, 0.0])
    labels = torch.stack([rest, go, go])             # (3, 6): still, the set-off tick, moving on
    previous = torch.stack([rest, rest, go])
    weights = keyframe_weights(labels, previous, 10.0)
    assert weights.tolist() == pytest.approx([1.0, 11.0, 1.0])
    assert keyframe_weights(labels, previous, 0.0).tolist() == [1.0, 1.0, 1.0]


def test_contact_weights_single_out_the_ticks_where_the_pad_presses():
    """Read off the newest wrench sample, as the preprocessor scaled it (20 N -> 1.0)."""
    import numpy as np
    import torch
    from sensor_fusion.preprocess.haptic import wrench_window
    from sensor_fusion.training.behaviour_cloning import contact_weights
    free, pressing, lifted = np.zeros((40, 6)), np.zeros((40, 6)), np.zeros((40, 6))
    free[:, 0] = 0.2                   # noise and inertia: 0.2 N
    pressing[-5:, 2] = -4.0            # pressing now: 4 N
    lifted[:-3, 2] = -4.0              # pressed until 3 samples ago
    windows = torch.from_numpy(np.stack([wrench_window(w, 32, 20.0, 2.0) for w in (free, pressing, lifted)]))
    assert contact_weights(windows, 20.0, 10.0).tolist() == pytest.approx([1.0, 11.0, 1.0])
    assert contact_weights(windows, 20.0, 0.0).tolist() == [1.0, 1.0, 1.0]


def test_weights_from_before_a_config_field_existed_load_with_its_default_and_others_are_refused(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from sensor_fusion.weights import WeightsError, load_weights
    model = ARCHITECTURES.get('nvsf_c')(ARCHITECTURES.get('nvsf_c').config_class())   # proprio_velocities: True, the default
    path = tmp_path / 'w.safetensors'
    save_weights(model, path)
    with safe_open(str(path), framework='pt') as f:
        tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    config = json.loads(metadata['config'])
    del config['preprocess']['proprio_velocities']       # as written before the field existed
    old = tmp_path / 'old.safetensors'
    save_file(tensors, str(old), metadata={**metadata, 'config': json.dumps(config)})
    load_weights(model, old)
    config['preprocess']['proprio_velocities'] = False   # a real difference is still refused
    other = tmp_path / 'other.safetensors'
    save_file(tensors, str(other), metadata={**metadata, 'config': json.dumps(config)})
    with pytest.raises(WeightsError, match='another NVSFCConfig'):
        load_weights(model, other)


def test_weights_from_a_further_fit_keep_the_sources_training_records(tmp_path):
    import json
    from sensor_fusion.weights import fitted_metadata, read_metadata
    model = ARCHITECTURES.get('nvsf_a')(ARCHITECTURES.get('nvsf_a').config_class())
    save_weights(model, tmp_path / 'trained.safetensors', {'training': '{"epochs": 3}'})
    save_weights(model, tmp_path / 'fitted.safetensors',
                 fitted_metadata(tmp_path / 'trained.safetensors', 'freeze_fit', {'steps': 10}))
    meta = read_metadata(tmp_path / 'fitted.safetensors')
    assert meta['training'] == '{"epochs": 3}' and json.loads(meta['freeze_fit']) == {'steps': 10}
    assert meta['architecture'] == 'nvsf_a'


def test_weights_trained_on_from_an_init_keep_its_records_and_append_their_stage():
    import json
    from sensor_fusion.weights import continued_metadata
    one_run = {'format_version': '1', 'architecture': 'nvsf_c', 'config': '{}', 'training': '{"epochs": 8}',
               'pathways_graft': '{"tensors": 25}'}
    once = continued_metadata(one_run, {'epochs': 0, 'dagger_rounds': 2})
    assert json.loads(once['training']) == {'epochs': 0, 'dagger_rounds': 2}
    assert json.loads(once['training_stages']) == [{'epochs': 8}, {'epochs': 0, 'dagger_rounds': 2}]
    assert once['pathways_graft'] == '{"tensors": 25}'
    assert not {'format_version', 'architecture', 'config'} & set(once)   # save_weights writes the model's own
    twice = continued_metadata(once, {'epochs': 1})
    assert [s['epochs'] for s in json.loads(twice['training_stages'])] == [8, 0, 1]
    # An init with no training record (e.g. a graft onto untrained weights) starts the list.
    assert json.loads(continued_metadata({'config': '{}'}, {'epochs': 2})['training_stages']) == [{'epochs': 2}]


def test_modality_dropout_is_validated_and_drawn_per_episode():
    from sensor_fusion.observation import MODALITIES
    from sensor_fusion.training.behaviour_cloning import TrainConfig, _draw_dropout
    with pytest.raises(ValueError, match='modality_dropout'):
        TrainConfig(modality_dropout={'sonar': 0.5})
    with pytest.raises(ValueError, match='modality_dropout'):
        TrainConfig(modality_dropout={'events': 1.0})      # always missing: nothing would be learned from it
    assert _draw_dropout({}, 4) is None and _draw_dropout({'events': 0.0}, 4) is None
    torch.manual_seed(0)
    drawn = _draw_dropout({'events': 0.5}, 4000)                                 # (B, M)
    assert drawn.shape == (4000, len(MODALITIES))
    assert abs(drawn[:, MODALITIES.index('events')].float().mean() - 0.5) < 0.05
    assert not drawn[:, [i for i, m in enumerate(MODALITIES) if m != 'events']].any()


def _blob_episodes(n_episodes: int, frames: int, size: int = 32, seed: int = 0):
    """Episodes whose camera frames show three 2x2 coloured blobs on a beige table, with the blobs'
    positions (normalised) as the cube layout: a synthetic stand-in for the embedded task's frames."""
    from sensor_fusion.architectures import load_config
    from sensor_fusion.preprocess import Preprocessor
    from sensor_fusion.training.behaviour_cloning import EpisodeTensors
    rng = np.random.default_rng(seed)
    colours = torch.tensor([[0.8, -0.8, -0.8], [-0.8, 0.8, -0.8], [-0.8, -0.8, 0.8]])     # red, green, blue in [-1, 1]
    episodes = []
    for _ in range(n_episodes):
        inputs = Preprocessor(load_config('nvsf_a').preprocess).empty(frames * 10)
        inputs.image[:] = torch.tensor([0.4, 0.3, 0.2])[:, None, None]
        inputs.mask[:, 0] = True
        cells = rng.choice((size // 2 - 2) ** 2, 3, replace=False)
        cubes = []
        for colour, cell in zip(colours, cells):
            row, col = 2 + 2 * (cell // (size // 2 - 2)), 2 + 2 * (cell % (size // 2 - 2))
            inputs.image[:, :, row:row + 2, col:col + 2] = colour[:, None, None]
            cubes.append([col / size * 2 - 1, row / size * 2 - 1])
        episodes.append(EpisodeTensors(inputs, torch.zeros(frames * 10, 6), 0, None, torch.tensor(cubes)))
    return episodes


def test_camera_pretraining_learns_where_the_cubes_lie_once_the_keypoints_are_sharp():
    """Held-out R^2 of every blob's position after 15 epochs: the keypoint softmax must be sharpened
    (at sharpness 1 the keypoints sit at the image centre and barely move: measured R^2 0.02)."""
    from sensor_fusion.architectures import build_architecture, load_config
    from sensor_fusion.training.behaviour_cloning import CameraProbe, pretrain_camera
    episodes = _blob_episodes(1200, 1)                    # one frame each: 1000 layouts to learn from, 200 held out
    scores = {}
    for sharpness in (10.0, 1.0):
        torch.manual_seed(0)
        model = build_architecture('nvsf_a', load_config('nvsf_a', overrides={'camera_keypoint_sharpness': sharpness}))
        scores[sharpness] = pretrain_camera(model, CameraProbe(model, 1.0).head, episodes[:1000], episodes[1000:], 15, 3e-3,
                                            progress=False)[-1]
    assert scores[10.0] > 0.9 and scores[1.0] < 0.3, scores


def test_camera_pretraining_needs_the_camera_probe():
    from sensor_fusion.training.behaviour_cloning import TrainConfig
    with pytest.raises(ValueError, match='camera_probe_weight'):
        TrainConfig(camera_pretrain_epochs=3)
    TrainConfig(camera_pretrain_epochs=3, camera_probe_weight=0.1)


def test_tool_labels_are_the_simulated_tips_position_from_the_recorded_joints():
    """The goal pathway's tool label: forward kinematics of the joint positions a bag holds equals
    where the simulator's tool tip was, for poses across the workspace; unknown for another task's bag."""
    from sensor_fusion.architectures import load_config
    from sensor_fusion.preprocess import Preprocessor
    from sensor_fusion.sim.simulator import SimConfig, TabletopSim
    from sensor_fusion.sim.world import JOINTS
    from sensor_fusion.training.behaviour_cloning import _normalised_xy, _tool_xy
    sim = TabletopSim(SimConfig(render=False))
    episode = sim.reset(7)
    targets = [np.array([0.42, 0.0, 0.22]), np.array([0.35, -0.2, 0.1]), np.array([0.55, 0.18, 0.06])]
    inputs = Preprocessor(load_config('nvsf_a').preprocess).empty(len(targets))
    tips = []
    for row, target in enumerate(targets):
        q = sim.arm.solve(sim.data, target)
        inputs.proprio[row, :len(JOINTS)] = torch.from_numpy(q).float()
        tips.append(sim.arm.tip_pose(sim.data)[0][:2])
    labels = _tool_xy(inputs, {'seed': 7, 'target': episode.target})
    torch.testing.assert_close(labels, _normalised_xy(np.array(tips)), atol=1e-4, rtol=0)
    assert _tool_xy(inputs, {'seed': 7, 'target': 'no such cube'}) is None
    assert _tool_xy(inputs, {}) is None


def test_goal_weight_is_validated_and_needs_the_goal_pathway(tmp_path, monkeypatch):
    from sensor_fusion.architectures import load_config
    from sensor_fusion.training import behaviour_cloning
    from sensor_fusion.training.behaviour_cloning import TrainConfig, train
    with pytest.raises(ValueError, match='goal weights must be >= 0'):
        TrainConfig(goal_weight=-1.0)
    TrainConfig(camera_pretrain_epochs=3, goal_weight=1.0)     # the pathway's locator is the head pretrained
    # A YAML without the goal pathway (the shipped ones all have it since 2026-12-06).
    plain = {'goal_pathway': False, 'instruction_memory': False, 'reflex_pathway': False, 'freeze_pathway': False,
             'descent_pathway': False}
    monkeypatch.setattr(behaviour_cloning, 'load_config', lambda key: load_config(key, overrides=plain))
    with pytest.raises(ValueError, match='goal_pathway'):
        train('nvsf_c', [tmp_path], config=TrainConfig(goal_weight=1.0), progress=False)   # no goal pathway


def test_dagger_episode_length_must_be_positive():
    from sensor_fusion.training.behaviour_cloning import TrainConfig
    with pytest.raises(ValueError, match='dagger_max_seconds'):
        TrainConfig(dagger_max_seconds=0.0)
    assert TrainConfig(dagger_max_seconds=8.0).dagger_max_seconds == 8.0


def test_gate_choices_are_credited_with_their_discounted_return():
    """A skipped camera costs nothing at its own tick (the last sighting is kept) but later: the gate's
    credit must reach ahead, G_t = r_t + discount * G_(t+1)."""
    from sensor_fusion.training.gate_rl import GateConfig, discounted_returns
    returns = discounted_returns(torch.tensor([0.0, 0.0, -1.0]), 0.5)
    torch.testing.assert_close(returns, torch.tensor([-0.25, -0.5, -1.0]))
    torch.testing.assert_close(discounted_returns(torch.tensor([1.0, 2.0]), 0.0), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match='discount'):
        GateConfig(discount=1.0)


def test_gate_tick_reward_is_zero_without_a_skip_and_prices_a_skip_by_what_it_saved_and_changed():
    from sensor_fusion.architectures import build_architecture, load_config
    from sensor_fusion.observation import MODALITIES
    from sensor_fusion.preprocess import Preprocessor
    from sensor_fusion.training.gate_rl import GateConfig, tick_reward
    torch.manual_seed(0)
    model = build_architecture('nvsf_a', load_config('nvsf_a')).eval()
    inputs = Preprocessor(model.config.preprocess)(make_observation(0, n_events=2000))
    state = model.initial_state(1)
    model.gate_mode = 'all'
    with torch.no_grad():
        all_on = model(inputs, state)
    gateable = sum(model.encoders.macs(name, 1) for name in MODALITIES if name != 'proprio')
    assert tick_reward(all_on, all_on, gateable, GateConfig()) == 0.0       # skipped nothing: exactly 0
    model.gate_mode = 'threshold'
    with torch.no_grad():
        model.gate.bias[MODALITIES.index('audio')] = -10.0                  # skip the audio encoder
        skipped = model(inputs, state)
    saved = model.encoders.macs('audio', 1) / gateable
    free = tick_reward(skipped, all_on, gateable, GateConfig(compute_price=1.0, plan_weight=0.0))
    command_change = float((skipped.head_output - all_on.head_output).abs().mean())
    plan_change = float((skipped.state[0] - all_on.state[0]).abs().mean())
    goal_change = float((skipped.goal['goal'] - all_on.goal['goal']).abs().mean())
    assert command_change > 0 and plan_change > 0
    assert free == pytest.approx(saved - command_change - goal_change)
    assert tick_reward(skipped, all_on, gateable, GateConfig(compute_price=0.0, plan_weight=2.0, goal_weight=0.0)) \
        == pytest.approx(-command_change - 2.0 * plan_change)


def test_ball_freeze_ticks_are_the_expert_still_after_the_tone_and_the_tone_counts_as_no_ball():
    from sensor_fusion.training.behaviour_cloning import ball_freeze_ticks
    rate, listen_s = 10.0, 1.0                    # ticks at 0.0, 0.1, ... 1.9 s
    actions = torch.zeros(20, 6)
    actions[11:15, 0] = 0.3                       # travel 1.1-1.4 s
    actions[18:, 2] = -0.1                        # press from 1.8 s (a push)
    froze, counted = ball_freeze_ticks(actions, rate, listen_s)
    assert froze.nonzero().squeeze(1).tolist() == [15, 16, 17]      # still after the tone: a ball
    assert not froze[:10].any() and counted[:10].all()              # the tone: still, counted as no ball
    assert not counted[10]                                          # the ramp's zero at 1.0 s: not counted
    assert counted[11:].all()


def test_train_gate_refuses_weights_of_another_architecture_and_bad_settings_with_a_message(tmp_path, capsys):
    from sensor_fusion.cli import main
    from sensor_fusion.paths import models_dir
    out = tmp_path / 'gated.safetensors'
    assert main(['train-gate', '--weights', str(models_dir() / 'nvsf_c.safetensors'), '--out', str(out)]) == 2
    assert "weights are for architecture 'nvsf_c'; the gate is NVSF-A's" in capsys.readouterr().out
    assert main(['train-gate', '--weights', str(tmp_path / 'missing.safetensors'), '--out', str(out)]) == 2
    assert 'no such weights file' in capsys.readouterr().out
    assert main(['train-gate', '--weights', str(models_dir() / 'nvsf_a.safetensors'), '--out', str(out),
                 '--iterations', '0']) == 2
    assert 'bad gate training config' in capsys.readouterr().out and not out.exists()

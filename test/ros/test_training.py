"""A tiny behaviour-cloning run lowers the loss, and its weights load where the node loads them."""
import json

import numpy as np
import pytest
import torch

from sensor_fusion.architectures import build_architecture
from sensor_fusion.paths import config_path
from sensor_fusion.policy import build_policy
from sensor_fusion.ros.recorder import record_episode
from sensor_fusion.sim.expert import ScriptedExpert
from sensor_fusion.sim.simulator import SimConfig, TabletopSim
from sensor_fusion.sim.task import TaskConfig
from sensor_fusion.training.behaviour_cloning import TrainConfig, train
from sensor_fusion.weights import WeightsError, read_metadata


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp('bags')
    # A 0.3 s tone: the expert holds still until the tone ends, and these 1.2 s episodes must move.
    sim = TabletopSim(SimConfig(render=True), TaskConfig(tone_s=0.3))
    expert = ScriptedExpert(sim)
    paths = []
    for seed in range(3):
        paths.append(folder / f'episode_{seed}')
        record_episode(sim, expert, seed, paths[-1], max_seconds=1.2)
    return paths


@pytest.mark.parametrize('architecture', ['nvsf_a', 'nvsf_c', 'nvsf_h'])
def test_cloning_lowers_the_loss_and_the_weights_load(bags, tmp_path, architecture):
    result = train(architecture, bags, tmp_path, TrainConfig(epochs=6, batch_episodes=2, val_fraction=0.34, window=8),
                   progress=False)
    assert result.train_losses[-1] < 0.8 * result.train_losses[0], result.train_losses
    assert len(result.val_losses) == 6 and all(np.isfinite(result.val_losses))
    policy = build_policy(architecture, 'cpu', result.weights)          # what fusion_node's configure does
    assert (tmp_path / 'training_curve.png').stat().st_size > 0
    # every epoch's weights, to choose among in closed loop; the last is the phase's checkpoint
    epochs = sorted((tmp_path / 'checkpoints').glob(f'{architecture}-cloning_epoch_*.safetensors'))
    assert [p.name for p in epochs] == [f'{architecture}-cloning_epoch_{n}.safetensors' for n in range(1, 6)]
    build_policy(architecture, 'cpu', epochs[0])
    assert json.loads(read_metadata(epochs[1])['training'])['checkpoint'] == 'cloning, epoch 2 of 6'
    assert (tmp_path / 'checkpoints' / f'{architecture}-cloning.safetensors').is_file()
    if architecture == 'nvsf_a':
        assert policy.model.gate_mode == 'threshold'                    # saved in its deployment mode


# nvsf_h: snntorch's membrane buffers change shape with the batch (torch's AveragedModel failed on them)
@pytest.mark.parametrize('architecture', ['nvsf_a', 'nvsf_h'])
def test_the_weight_average_is_what_is_saved(bags, tmp_path, architecture):
    config = dict(epochs=2, batch_episodes=2, val_fraction=0.34, window=8)
    saved = {}
    for name, decay in (('plain', 0.0), ('latest', 1e-9), ('average', 0.9)):
        result = train(architecture, bags, tmp_path / name, TrainConfig(**config, weight_average_decay=decay),
                       progress=False)
        saved[name] = build_policy(architecture, 'cpu', result.weights).model.state_dict()
    # decay ~0: the average is the latest weights, so the same seeded run saves the same tensors
    assert all(torch.allclose(saved['plain'][k], saved['latest'][k], atol=1e-6) for k in saved['plain'])
    # decay 0.9: it lags the weights, and the lagging average is what was saved
    assert any(not torch.allclose(saved['plain'][k], saved['average'][k], atol=1e-4) for k in saved['plain'])
    with pytest.raises(ValueError, match='weight_average_decay'):
        TrainConfig(weight_average_decay=1.0)


def test_the_weight_average_matches_torchs_exponential_moving_average():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from sensor_fusion.training.behaviour_cloning import WeightAverage
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    ours, torchs = WeightAverage(model, 0.9), AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        optimiser.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        optimiser.step()
        ours.update(model)
        torchs.update_parameters(model)
    for (name, mine), theirs in zip(ours.module.state_dict().items(), torchs.module.state_dict().values()):
        assert torch.allclose(mine.float(), theirs.float(), atol=1e-6), name
    assert not torch.allclose(ours.module[0].weight, model[0].weight)     # it lags the model
    with pytest.raises(ValueError, match='decay'):
        WeightAverage(model, 1.0)


def test_preprocessed_samples_are_cached_and_a_bad_cache_is_rebuilt(bags, tmp_path):
    import shutil

    from sensor_fusion.architectures import load_config
    from sensor_fusion.preprocess import Preprocessor
    from sensor_fusion.training.behaviour_cloning import cached_episode_tensors
    bag = tmp_path / bags[0].name
    shutil.copytree(bags[0], bag)                  # a folder of its own: no other test's cache in it
    preprocess = load_config('nvsf_a').preprocess
    first = cached_episode_tensors(bag, preprocess, Preprocessor(preprocess), 50.0, (96, 72))
    caches = list((tmp_path / '.cache').glob(f'{bag.name}-*.safetensors'))
    assert len(caches) == 1
    second = cached_episode_tensors(bag, preprocess, Preprocessor(preprocess), 50.0, (96, 72))
    assert torch.equal(first.actions, second.actions) and torch.equal(first.inputs.image, second.inputs.image)
    caches[0].write_bytes(b'torn')
    third = cached_episode_tensors(bag, preprocess, Preprocessor(preprocess), 50.0, (96, 72))
    assert torch.equal(first.inputs.events, third.inputs.events)
    from sensor_fusion.sim.task import sample_episode
    from sensor_fusion.sim.world import CUBE_COLOURS
    episode = sample_episode(0)                                         # the bag's episode, seed 0
    expected = list(CUBE_COLOURS).index(episode.target)
    assert first.target == second.target == third.target == expected
    # The target probe's position label: the target cube's place, normalised to the cube area.
    x, y = episode.cube_positions[episode.target]
    assert first.target_xy is not None and torch.equal(first.target_xy, third.target_xy)
    assert first.target_xy.tolist() == pytest.approx([(x - 0.45) / 0.13, y / 0.22], abs=1e-5)
    assert first.target_xy.abs().max() <= 1.0


def test_the_target_probe_knows_no_position_for_a_bag_of_another_task():
    from sensor_fusion.sim.task import sample_episode
    from sensor_fusion.sim.world import CUBE_COLOURS
    from sensor_fusion.training.behaviour_cloning import _target_xy
    assert _target_xy(None) is None                                     # a real robot's bag: no verdict
    assert _target_xy({'target': 'red'}) is None                        # no seed
    other = next(c for c in CUBE_COLOURS if c != sample_episode(7).target)
    assert _target_xy({'seed': 7, 'target': other}) is None             # another layout: no guess
    assert _target_xy({'seed': 7, 'target': sample_episode(7).target}) is not None


def test_the_camera_probe_learns_where_the_cubes_lie_and_is_not_saved(bags, tmp_path):
    from sensor_fusion.architectures import load_config
    from sensor_fusion.preprocess import Preprocessor
    from sensor_fusion.sim.task import sample_episode
    from sensor_fusion.sim.world import CUBE_COLOURS
    from sensor_fusion.training.behaviour_cloning import CameraProbe, cached_episode_tensors, _cubes_xy
    # Labels: every cube of the bag's layout, normalised like the target probe's; none without a seed.
    layout = sample_episode(0)
    cubes = _cubes_xy({'seed': 0, 'target': layout.target})
    for row, colour in zip(cubes.tolist(), CUBE_COLOURS):
        x, y = layout.cube_positions[colour]
        assert row == pytest.approx([(x - 0.45) / 0.13, y / 0.22], abs=1e-5)
    assert _cubes_xy(None) is None and _cubes_xy({'target': 'red'}) is None
    # Fitting the probe alone (action loss off) on the three bags' camera frames lowers its error.
    torch.manual_seed(0)
    model = build_policy('nvsf_h', 'cpu').model.train()
    preprocess = load_config('nvsf_h').preprocess
    episodes = [cached_episode_tensors(bag, preprocess, Preprocessor(preprocess), 100.0, (96, 72)) for bag in bags]
    inputs = [e.inputs for e in episodes]
    labels = [e.cubes_xy for e in episodes]
    probe = CameraProbe(model, 1.0)
    optimiser = torch.optim.Adam([*probe.parameters(), *model.encoders.encoders['camera'].parameters()], lr=3e-3)

    @torch.no_grad()
    def error() -> float:
        return float(sum(probe.error(model, x, y.expand(x.batch_size, -1, -1)).mean() for x, y in zip(inputs, labels)))

    before = error()
    for _ in range(60):
        optimiser.zero_grad()
        loss = sum(probe.error(model, x, y.expand(x.batch_size, -1, -1)).mean() for x, y in zip(inputs, labels))
        loss.backward()
        optimiser.step()
    assert error() < 0.3 * before, (before, error())
    with pytest.raises(ValueError, match='camera summary token'):
        CameraProbe(build_architecture('nvsf_c', load_config('nvsf_c', overrides={
            'goal_pathway': False, 'instruction_memory': False, 'reflex_pathway': False, 'freeze_pathway': False,
            'descent_pathway': False})), 1.0)   # NVSF-C without the goal pathway: patch tokens only
    result = train('nvsf_h', bags, tmp_path, TrainConfig(epochs=1, batch_episodes=2, val_fraction=0.34, window=8,
                                                         camera_probe_weight=0.1), progress=False)
    build_policy('nvsf_h', 'cpu', result.weights)          # the probe is the trainer's, not saved with the model


def test_dagger_labels_the_policys_own_episodes_with_the_expert(bags, tmp_path):
    result = train('nvsf_a', bags, tmp_path, TrainConfig(epochs=1, batch_episodes=2, val_fraction=0.34, window=8,
                                                         dagger_rounds=1, dagger_episodes=1, dagger_epochs=1,
                                                         dagger_max_seconds=0.6, target_probe_weight=0.01),
                   progress=False)
    assert len(result.train_losses) == 2 and len(result.dagger_success) == 1      # cloning epoch + DAgger epoch
    # A checkpoint says where in the run it was taken; the run's final weights say nothing of the kind.
    checkpoint = json.loads(read_metadata(tmp_path / 'checkpoints' / 'nvsf_a-DAgger_round_1.safetensors')['training'])
    assert checkpoint['checkpoint'] == 'end of DAgger round 1' and checkpoint['dagger_rounds'] == 1
    cloning = json.loads(read_metadata(tmp_path / 'checkpoints' / 'nvsf_a-cloning.safetensors')['training'])
    assert cloning['checkpoint'] == 'end of cloning' and cloning['episodes'] == 3      # before the DAgger episode
    assert 'checkpoint' not in json.loads(read_metadata(result.weights)['training'])
    build_policy('nvsf_a', 'cpu', result.weights)          # the target probe is the trainer's, not saved with it


def test_gate_reinforcement_learning_changes_only_the_gate(bags, tmp_path):
    from sensor_fusion.training.gate_rl import GateConfig, train_gate
    cloned = train('nvsf_a', bags, tmp_path / 'bc', TrainConfig(epochs=1, batch_episodes=2, val_fraction=0.34),
                   progress=False)
    result = train_gate(cloned.weights, tmp_path / 'gated.safetensors',
                        GateConfig(iterations=2, episodes_per_iteration=1, max_episode_s=0.5, learning_rate=0.5),
                        progress=False)
    assert len(result.mean_reward) == 2 and set(result.encoder_fraction[0]) == {
        'camera', 'wrench', 'tactile', 'audio', 'events', 'proprio'}
    before = build_policy('nvsf_a', 'cpu', cloned.weights).model.state_dict()
    # The trained gate never skips the joints, which its weights' config records: deploying it needs
    # the same list in the architecture config, and a config without it is refused, not misread.
    with pytest.raises(WeightsError, match='another NVSFAConfig'):
        build_policy('nvsf_a', 'cpu', result.weights)
    deploy_config = tmp_path / 'nvsf_a.yaml'
    deploy_config.write_text(config_path('architectures', 'nvsf_a.yaml').read_text() + 'ungated_modalities: [proprio]\n')
    after_policy = build_policy('nvsf_a', 'cpu', result.weights, config_path=deploy_config)
    after = after_policy.model.state_dict()
    assert after_policy.model.gate_mode == 'threshold' and after_policy.model.config.ungated_modalities == ('proprio',)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith('gate.') for name in changed), changed
    gated, cloned_records = read_metadata(result.weights), read_metadata(cloned.weights)
    assert json.loads(gated['gate_rl'])['ungated_modalities'] == ['proprio']
    assert gated['training'] == cloned_records['training']            # the cloning's records stay


def test_the_in_process_closed_loop_runs_the_expert_to_success():
    from sensor_fusion.architectures import load_config
    from sensor_fusion.sim.task import CONTROL_RATE_HZ
    from sensor_fusion.training.closed_loop import ClosedLoop
    loop = ClosedLoop(load_config('nvsf_a').preprocess)
    run = loop.run(1, lambda observation, expert: expert, with_expert=True, keep_ticks=True)
    assert run.success, run.outcome
    assert 4.0 < run.time_s < 8.0 and abs(len(run.ticks) - run.time_s * CONTROL_RATE_HZ) <= 2
    silenced = ClosedLoop(load_config('nvsf_a').preprocess, ablate=('camera',)).run(
        1, lambda observation, expert: expert, with_expert=True, keep_ticks=True, max_seconds=0.5)
    assert all(tick.observation.rgb is None for tick in silenced.ticks)


def test_a_training_rollout_goes_on_through_a_ball_violation_and_counts_it():
    from sensor_fusion.architectures import load_config
    from sensor_fusion.sim.task import Outcome, TaskConfig, sample_episode
    from sensor_fusion.training.closed_loop import ClosedLoop
    seed = next(s for s in range(200) if (sample_episode(s).ball_start_s or 9.0) < 2.0)
    keep_moving = lambda observation, expert: np.array([0.15, 0.0, 0.0, 0.0, 0.0, 0.0])   # 3 cm/s  # noqa: E731
    until = sample_episode(seed).ball_start_s + 1.2
    ends = ClosedLoop(load_config('nvsf_a').preprocess, render=False).run(seed, keep_moving, max_seconds=until)
    assert ends.outcome is Outcome.MOVED_DURING_BALL and ends.time_s < until
    training = ClosedLoop(load_config('nvsf_a').preprocess, render=False,
                          task=TaskConfig(ball_violation_ends_episode=False))
    goes_on = training.run(seed, keep_moving, max_seconds=until)
    assert goes_on.outcome is Outcome.RUNNING and goes_on.time_s >= until - 0.01   # the whole pass
    zone_crossing_s = 2 * TaskConfig().danger_half_width_m / TaskConfig().ball_speed_mps      # 0.2 s
    assert goes_on.ball_violation_s == pytest.approx(zone_crossing_s, abs=0.03)       # all of it counted
    assert goes_on.verdict is Outcome.MOVED_DURING_BALL and not goes_on.success


def test_the_in_process_loop_applies_each_command_after_its_latency():
    from sensor_fusion.architectures import load_config
    from sensor_fusion.sim.world import PHYSICS_STEP_S
    from sensor_fusion.training.closed_loop import ClosedLoop
    moved = {}
    for latency_s in (0.0, 0.008):
        loop = ClosedLoop(load_config('nvsf_a').preprocess, render=False, command_latency_s=latency_s)
        tip_x = []

        def controller(observation, expert):   # rest on the first tick, full speed along x from the second
            tip_x.append(loop.sim.tip_pose()[0][0])
            return np.array([1.0 if len(tip_x) >= 2 else 0.0, 0, 0, 0, 0, 0])

        loop.run(3, controller, max_seconds=0.025)                            # ticks at 0, 10 and 20 ms
        moved[latency_s] = tip_x[2] - tip_x[1]                                # over the 10 ms after the command
    assert loop.command_latency_steps == round(0.008 / PHYSICS_STEP_S)
    # 8 ms late, the arm has had 2 ms of the command by the next tick instead of 10 ms.
    assert moved[0.0] > 1e-4 and moved[0.008] < 0.5 * moved[0.0], moved
    with pytest.raises(ValueError, match='command_latency_s'):
        ClosedLoop(load_config('nvsf_a').preprocess, render=False, command_latency_s=-0.001)


def test_a_dagger_bag_holds_the_policys_observations_and_the_experts_labels(tmp_path):
    from sensor_fusion.architectures import load_config
    from sensor_fusion.sim.world import JOINTS
    from sensor_fusion.training.closed_loop import ClosedLoop
    from sensor_fusion.training.dataset import load_bag
    preprocess = load_config('nvsf_h').preprocess
    loop = ClosedLoop(preprocess)
    rng = np.random.default_rng(0)
    run = loop.run(2, lambda observation, expert: rng.uniform(-0.3, 0.3, 6), with_expert=True, keep_ticks=True,
                   max_seconds=0.5, bag=tmp_path / 'dagger')
    loaded = load_bag(tmp_path / 'dagger', preprocess, JOINTS)
    assert len(loaded.samples) == len(run.ticks) == 50
    for sample, tick in zip(loaded.samples, run.ticks):
        assert sample.observation.stamp_ns == tick.observation.stamp_ns
        assert np.allclose(sample.action, tick.expert_action)          # labels: the expert, not what ran
        assert not np.allclose(tick.action, tick.expert_action)
        for field in ('wrench', 'joint_positions', 'rgb'):
            a, b = getattr(sample.observation, field), getattr(tick.observation, field)
            assert (a is None and b is None) or np.array_equal(a, b)
    assert loaded.result['driven_by'] == 'policy'


def test_trainable_prefixes_train_one_part_and_freeze_the_rest(bags, tmp_path):
    from sensor_fusion.paths import models_dir
    from sensor_fusion.weights import MODEL_OWN_METADATA, _read_tensors
    shipped = models_dir() / 'nvsf_a.safetensors'
    config = dict(epochs=1, batch_episodes=2, val_fraction=0.34, window=8, learning_rate=1e-2)
    result = train('nvsf_a', bags, tmp_path, TrainConfig(**config, trainable=('head.',)), progress=False,
                   init_weights=shipped)
    before, after = _read_tensors(shipped), _read_tensors(result.weights)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith('head.') for name in changed), sorted(changed)
    # The file keeps the init's records and names its whole recipe: the init's stages, then this run.
    earlier, meta = read_metadata(shipped), read_metadata(result.weights)
    stages = json.loads(meta['training_stages'])
    assert stages[-1] == json.loads(meta['training']) and stages[-1]['trainable'] == ['head.']
    assert stages[:-1] == json.loads(earlier.get('training_stages', json.dumps([json.loads(earlier['training'])])))
    assert all(meta[key] == earlier[key] for key in earlier
               if key not in (*MODEL_OWN_METADATA, 'training', 'training_stages'))
    with pytest.raises(ValueError, match='names no parameter'):
        train('nvsf_a', bags, tmp_path / 'bad', TrainConfig(**config, trainable=('no_such_module.',)), progress=False)


def test_the_pathway_fits_graft_only_their_pathway_and_record_the_fit(bags, tmp_path):
    """tools/fit_freeze.py, tools/fit_reflex.py, tools/calibrate_freeze.py, then tools/fit_descent.py on recorded bags:
    each changes its own part alone, and the file keeps the source's records and adds its own."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    from sensor_fusion.weights import _read_tensors, read_metadata
    root = Path(__file__).resolve().parents[2]
    shipped = root / 'models' / 'nvsf_a.safetensors'

    def run_tool(tool, source, out, *arguments):   # -> the tensors it changed (names), its metadata
        subprocess.run([sys.executable, str(root / 'tools' / tool), '--weights', str(source), '--out', str(out),
                        *arguments], check=True, capture_output=True, text=True)
        before, after = _read_tensors(source), _read_tensors(out)
        return {name for name in before if not torch.equal(before[name], after[name])}, read_metadata(out)

    fitting = ('--data', str(bags[0].parent), '--steps', '5')
    changed, meta = run_tool('fit_freeze.py', shipped, tmp_path / 'fitted.safetensors', *fitting)
    assert changed and all(name.startswith('freeze.') for name in changed), sorted(changed)
    assert meta['training'] == read_metadata(shipped)['training']
    assert json.loads(meta['freeze_fit'])['steps'] == 5
    changed, meta = run_tool('fit_reflex.py', tmp_path / 'fitted.safetensors', tmp_path / 'reflex.safetensors', *fitting)
    assert changed and all(name.startswith(('reflex.', 'reflex_share.')) for name in changed), sorted(changed)
    assert json.loads(meta['freeze_fit'])['steps'] == 5 and json.loads(meta['reflex_fit'])['steps'] == 5
    changed, meta = run_tool('calibrate_freeze.py', tmp_path / 'reflex.safetensors', tmp_path / 'calibrated.safetensors',
                             '--scale', '2', '--shift', '2')
    assert changed == {'freeze.2.weight', 'freeze.2.bias'}
    reflexed, moved = _read_tensors(tmp_path / 'reflex.safetensors'), _read_tensors(tmp_path / 'calibrated.safetensors')
    torch.testing.assert_close(moved['freeze.2.bias'], 2 * reflexed['freeze.2.bias'] - 2)
    assert json.loads(meta['freeze_calibration'])['shift'] == 2
    changed, meta = run_tool('fit_descent.py', tmp_path / 'calibrated.safetensors', tmp_path / 'descent.safetensors',
                             *fitting)
    assert changed and all(name.startswith(('tip_height.', 'descent.', 'press_height')) for name in changed), sorted(changed)
    assert json.loads(meta['descent_fit'])['steps'] == 5 and 'freeze_calibration' in meta

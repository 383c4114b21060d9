"""A tiny behaviour-cloning run lowers the loss, and its weights load where the node loads them."""
import numpy as np
import pytest

from sensor_fusion.policy import build_policy
from sensor_fusion.ros.recorder import record_episode
from sensor_fusion.sim.expert import ScriptedExpert
from sensor_fusion.sim.simulator import SimConfig, TabletopSim
from sensor_fusion.training.behaviour_cloning import TrainConfig, train


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp('bags')
    sim = TabletopSim(SimConfig(render=True))
    expert = ScriptedExpert(sim)
    paths = []
    for seed in range(3):
        paths.append(folder / f'episode_{seed}')
        record_episode(sim, expert, seed, paths[-1], max_seconds=1.2)
    return paths


@pytest.mark.parametrize('architecture', ['nvsf_a', 'nvsf_c', 'nvsf_h'])
def test_cloning_lowers_the_loss_and_the_weights_load(bags, tmp_path, architecture):
    result = train(architecture, bags, tmp_path, TrainConfig(epochs=4, batch_episodes=2, val_fraction=0.34, window=8),
                   progress=False)
    assert result.train_losses[-1] < 0.8 * result.train_losses[0], result.train_losses
    assert len(result.val_losses) == 4 and all(np.isfinite(result.val_losses))
    policy = build_policy(architecture, 'cpu', result.weights)          # what fusion_node's configure does
    assert (tmp_path / 'training_curve.png').stat().st_size > 0
    if architecture == 'nvsf_a':
        assert policy.model.gate_mode == 'threshold'                    # saved in its deployment mode

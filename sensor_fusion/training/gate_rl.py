"""NVSF-A's cross-modality gate trained by reinforcement learning in the simulator (REINFORCE).

The cloned policy (behaviour cloning + DAgger) is frozen; only the gate (a linear layer from the
action plan and the previous action to one Bernoulli per encoder) learns. Each tick the gate
samples which encoders run (``gate_mode = 'sample'``), the policy acts with only those, and the
tick is rewarded

    r_t = -||a_t - a*_t||^2 / dim(a)  -  compute_penalty * macs_t / macs_all_on

where a*_t is the privileged expert's action in that very state: a skipped encoder costs reward
exactly when its absence changes the action away from a good one, and saves compute otherwise;
a successful episode adds ``success_bonus`` to each of its ticks. Each gate choice is credited with
its discounted return G_t = sum_k discount^k r_(t+k) against a running baseline, one Adam step per
episode. A choice acts on later ticks too: NVSF-A's plan carries what it read, and its goal
pathway keeps the last sighting of the cubes. Credited with its own tick's reward alone (a
contextual bandit, as first built), the gate learned to switch the camera, the audio and the wrench
off within 3 iterations: skipping them changed nothing at that tick and saved the most MACs, and
the policy, never seeing the cubes, failed every episode. After training the gate is deployed
deterministically (``threshold``: run encoder m when p_m > 0.5).
Episodes use seeds from ``first_seed`` (75 000 on: clear of demonstrations, DAgger and evaluation).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..architectures import build_architecture, load_config
from ..observation import MODALITIES
from ..preprocess import Preprocessor
from ..weights import load_weights, save_weights
from .closed_loop import ClosedLoop


@dataclass(frozen=True)
class GateConfig:
    iterations: int = 6
    episodes_per_iteration: int = 4
    learning_rate: float = 0.2     # Adam on the gate only, one step per episode
    compute_penalty: float = 0.02      # reward per tick for running every encoder (vs none)
    success_bonus: float = 0.05        # reward per tick of an episode that succeeded
    discount: float = 0.98             # per tick, for each gate choice's return (0.98: ~0.5 s ahead at 100 Hz)
    max_episode_s: float = 10.0        # shorter than the task's timeout: RL needs many episodes
    first_seed: int = 75_000
    seed: int = 0

    def __post_init__(self):
        if self.iterations < 1 or self.episodes_per_iteration < 1 or self.learning_rate <= 0:
            raise ValueError(f'bad gate training config: {self}')
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f'GateConfig.discount must be in [0, 1), got {self.discount}')


@dataclass
class GateResult:
    mean_reward: list[float] = field(default_factory=list)         # per iteration
    encoder_fraction: list[dict] = field(default_factory=list)     # per iteration: modality -> fraction run
    success_rate: list[float] = field(default_factory=list)        # per iteration
    weights: Optional[Path] = None


def train_gate(weights: Path, out: Optional[Path] = None, config: GateConfig = GateConfig(),
               progress: bool = True) -> GateResult:
    torch.manual_seed(config.seed)
    model_config = load_config('nvsf_a')
    model = build_architecture('nvsf_a', model_config)
    metadata = load_weights(model, weights)
    model.eval()
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith('gate.'))
    model.gate_mode = 'sample'
    preprocessor = Preprocessor(model_config.preprocess)
    full_macs = _macs_all_on(model, preprocessor)
    optimiser = torch.optim.Adam(model.gate.parameters(), lr=config.learning_rate)
    loop = ClosedLoop(model_config.preprocess)
    baseline = None
    result = GateResult()
    seed = config.first_seed
    for iteration in range(config.iterations):
        rewards_seen, runs = [], []
        counts = np.zeros(len(MODALITIES))
        ticks = 0
        for _ in range(config.episodes_per_iteration):
            state = model.initial_state(1)
            episode_log_probs, episode_rewards = [], []

            def controller(observation, expert_action):
                nonlocal state, ticks
                inputs = preprocessor(observation)
                out = model(inputs, state)                      # the gate's log-probability keeps its graph
                state = tuple(s.detach() for s in out.state)
                action = out.action[0].detach().numpy().astype(np.float64)
                expert_head = model.unshape_action(torch.from_numpy(expert_action).float())    # (A,)
                imitation = float(((out.head_output[0].detach() - expert_head) ** 2).mean())   # as cloning's loss
                episode_log_probs.append(out.gate_log_prob[0])
                episode_rewards.append(-imitation - config.compute_penalty * out.cost.dense_macs / full_macs)
                counts[:] += out.gate[0].numpy()
                ticks += 1
                return action

            run = loop.run(seed, controller, with_expert=True, max_seconds=config.max_episode_s)
            seed += 1
            bonus = config.success_bonus if run.success else 0.0
            reward = torch.tensor(episode_rewards) + bonus                      # (T,)
            returns = discounted_returns(reward, config.discount)              # (T,)
            # One update per episode (a linear gate needs many small steps to move its bias from
            # "all on" to a choice): advantage against a running baseline, normalised.
            baseline = float(returns.mean()) if baseline is None else 0.8 * baseline + 0.2 * float(returns.mean())
            advantage = (returns - baseline) / (returns.std() + 1e-8)
            loss = -(torch.stack(episode_log_probs) * advantage).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            rewards_seen.append(float(reward.mean()))
            runs.append(run)
        result.mean_reward.append(float(np.mean(rewards_seen)))
        result.encoder_fraction.append({m: float(c / max(ticks, 1)) for m, c in zip(MODALITIES, counts)})
        result.success_rate.append(sum(r.success for r in runs) / len(runs))
        if progress:
            bar = '#' * int(30 * (iteration + 1) / config.iterations)
            run_text = ' '.join(f'{m[:4]} {f:.2f}' for m, f in result.encoder_fraction[-1].items())
            print(f'\rnvsf_a gate RL [{bar:<30}] {iteration + 1}/{config.iterations} reward {result.mean_reward[-1]:.4f}'
                  f' success {result.success_rate[-1]:.2f} encoders run: {run_text}',
                  end='' if iteration + 1 < config.iterations else '\n', flush=True)
    model.gate_mode = model_config.gate_mode
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    if out is not None:
        training = json.loads(metadata.get('training', '{}'))
        save_weights(model, out, {'training': json.dumps(training), 'gate_rl': json.dumps(
            {**asdict(config), 'mean_reward': result.mean_reward, 'encoder_fraction': result.encoder_fraction,
             'success_rate': result.success_rate})})
        result.weights = out
    return result


def discounted_returns(reward: torch.Tensor, discount: float) -> torch.Tensor:
    """(T,) G_t = sum_k discount^k r_(t+k) of per-tick rewards (T,): what a gate choice at t is credited with."""
    returns = torch.empty_like(reward)
    running = 0.0
    for t in range(len(reward) - 1, -1, -1):
        running = float(reward[t]) + discount * running
        returns[t] = running
    return returns


def _macs_all_on(model, preprocessor: Preprocessor) -> float:
    """MACs of one decision with every encoder running (the penalty's unit)."""
    from ..observation import Observation
    mode = model.gate_mode
    model.gate_mode = 'all'
    try:
        with torch.no_grad():
            inputs = preprocessor(Observation(stamp_ns=0))
            inputs.mask[:] = True                       # price every encoder, as if every sensor were present
            return float(model(inputs, model.initial_state(1)).cost.dense_macs)
    finally:
        model.gate_mode = mode


__all__ = ['GateConfig', 'GateResult', 'discounted_returns', 'train_gate']

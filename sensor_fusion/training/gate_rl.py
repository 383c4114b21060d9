"""NVSF-A's cross-modality gate trained by reinforcement learning in the simulator (REINFORCE).

The cloned policy (behaviour cloning + DAgger) is frozen; only the gate (a linear layer from the
action plan and the previous action to one Bernoulli per encoder) learns. Each tick the gate
samples which encoders run (``gate_mode = 'sample'``) and the policy acts with only those, in the
simulator, so the gate is trained on the states its own choices lead to. Each tick is rewarded
against the same policy with every encoder on, run from the same state (a counterfactual the frozen
model gives exactly):

    r_t = compute_price * (macs_all_on_t - macs_t) / macs_gateable     what the skips saved
          - |u_t - u_all_t|_1 / dim(u)                                how far they moved the command
          - plan_weight * |plan_t - plan_all_t|_1 / dim(plan)         ... and the memory (the plan carries
                                                                       what was read to later ticks)
          - goal_weight * |goal_t - goal_all_t|_1 / 2                 ... and the goal estimate (the last
                                                                       sighting of the cubes, carried too)

A tick on which the gate skipped nothing scores exactly 0, so a skip is priced by what it changed,
not by the noise of the episode around it. On top, each episode's success against its batch's mean
(``success_bonus``) is credited to every choice of that episode: the success-driven return. Each
choice is credited with its discounted return G_t = sum_k discount^k r_(t+k) (``discount`` 0: the
tick alone). One Adam step per iteration.
After training the gate is deployed deterministically (``threshold``: run encoder m when p_m > 0.5).

What earlier versions taught (README, next step 4): rewarded by imitation of the privileged expert
at that tick, the gate switched the camera, audio and wrench off (skipping changed nothing at that
tick, the policy never saw the cubes, every episode failed); with a discounted return of that
reward, the expert's noise drowned the compute saving (20 iterations of 4 episodes moved nothing);
with one Adam step of 0.2 per episode it skipped the joints, which the goal pathway's tool estimate
reads every tick (now ``ungated_modalities``). Priced by squared changes, this reward let the gate skip
half the camera's new frames, or half the wrench and events ticks, and 19-20 of 30 selection episodes
succeeded against 28: a skip's change is small at its tick and adds up over an episode, so absolute
changes price it (25 of 30; 87 of 100 held out against 97, for 8 % fewer MACs: not shipped).
Episodes use seeds from ``first_seed`` (75 000 on: clear of demonstrations, DAgger and evaluation).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..architectures import build_architecture, load_config
from ..observation import MODALITIES
from ..preprocess import Preprocessor
from ..weights import WeightsError, fitted_metadata, load_matching_weights, read_metadata, save_weights
from .closed_loop import ClosedLoop


@dataclass(frozen=True)
class GateConfig:
    iterations: int = 6
    episodes_per_iteration: int = 4
    learning_rate: float = 0.05    # Adam on the gate only, one step per iteration
    compute_price: float = 0.01        # reward for saving every gateable encoder's MACs on one tick
    plan_weight: float = 1.0           # weight of the plan's change (the memory) against the command's
    goal_weight: float = 1.0           # ... and of the goal estimate's (the goal pathway's, carried in the state)
    success_bonus: float = 0.01        # reward per tick of an episode that succeeded, against its batch's mean
    discount: float = 0.0              # per tick, for each gate choice's return (0: the tick alone)
    max_episode_s: float = 10.0        # shorter than the task's timeout: RL needs many episodes
    first_seed: int = 75_000
    seed: int = 0
    # Encoders the gate may not skip (NVSFAConfig.ungated_modalities), set on the cloned weights' own
    # config. The joints: the goal pathway's tool estimate reads them every tick; skipped, the tool
    # stood still while the arm moved. Deploying the trained gate needs the same list in
    # config/architectures/nvsf_a.yaml (the weights record it in their config).
    ungated_modalities: tuple[str, ...] = ('proprio',)
    # The gate also reads on how many ticks each held token has stood in for a newer input
    # (NVSFAConfig.gate_reads_staleness), so it can learn to look again after skipping.
    gate_reads_staleness: bool = False
    # A held token stands in for a newer input on at most this many ticks in a row, then its encoder
    # runs (NVSFAConfig.gate_max_stand_in; 0: no bound). The gate learns which inputs to skip within it.
    gate_max_stand_in: int = 0

    def __post_init__(self):
        if self.iterations < 1 or self.episodes_per_iteration < 1 or self.learning_rate <= 0 or \
                self.compute_price < 0 or self.plan_weight < 0 or self.goal_weight < 0 or self.success_bonus < 0:
            raise ValueError(f'bad gate training config: {self}')
        if self.gate_max_stand_in < 0:
            raise ValueError(f'GateConfig.gate_max_stand_in must be >= 0 (0: no bound), got {self.gate_max_stand_in}')
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f'GateConfig.discount must be in [0, 1), got {self.discount}')


@dataclass
class GateResult:
    mean_reward: list[float] = field(default_factory=list)         # per iteration
    encoder_fraction: list[dict] = field(default_factory=list)     # per iteration: modality -> fraction run
    success_rate: list[float] = field(default_factory=list)        # per iteration
    macs_per_decision: list[float] = field(default_factory=list)   # per iteration: mean MACs of a decision
    weights: Optional[Path] = None


def train_gate(weights: Path, out: Optional[Path] = None, config: GateConfig = GateConfig(),
               progress: bool = True) -> GateResult:
    torch.manual_seed(config.seed)
    model = _gate_model(weights, config.ungated_modalities, config.gate_reads_staleness, config.gate_max_stand_in)
    model_config = model.config
    model.eval()
    gate_parameters = [parameter for _, parameter in gate_named_parameters(model)]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in gate_parameters:
        parameter.requires_grad_(True)
    model.gate_mode = 'sample'
    preprocessor = Preprocessor(model_config.preprocess)
    gateable_macs = sum(model.encoders.macs(name, 1) for name in MODALITIES if name not in model_config.ungated_modalities)
    optimiser = torch.optim.Adam(gate_parameters, lr=config.learning_rate)
    loop = ClosedLoop(model_config.preprocess)
    result = GateResult()
    seed = config.first_seed
    for iteration in range(config.iterations):
        log_probs, returns, successes, rewards_seen, runs = [], [], [], [], []
        counts = np.zeros(len(MODALITIES))
        ticks, macs = 0, 0.0
        for _ in range(config.episodes_per_iteration):
            state = model.initial_state(1)
            episode_log_probs, episode_rewards = [], []

            def controller(observation, _expert):
                nonlocal state, ticks, macs
                inputs = preprocessor(observation)
                out = model(inputs, state)                      # the gate's log-probability keeps its graph
                with torch.no_grad():
                    model.gate_mode = 'all'
                    all_on = model(inputs, state)               # the counterfactual: every encoder, same state
                    model.gate_mode = 'sample'
                episode_log_probs.append(out.gate_log_prob[0])
                episode_rewards.append(tick_reward(out, all_on, gateable_macs, config))
                state = tuple(s.detach() for s in out.state)
                counts[:] += out.gate[0].numpy()
                ticks += 1
                macs += out.cost.dense_macs
                return out.action[0].detach().numpy().astype(np.float64)

            run = loop.run(seed, controller, max_seconds=config.max_episode_s)
            seed += 1
            reward = torch.tensor(episode_rewards)                             # (T,)
            log_probs.append(torch.stack(episode_log_probs))                   # (T,)
            returns.append(discounted_returns(reward, config.discount))        # (T,)
            successes.append(float(run.success))
            rewards_seen.append(float(reward.mean()))
            runs.append(run)
        # One step per iteration on every tick of its episodes. Not normalised: a tick that skipped
        # nothing has return 0 exactly and must not be pushed either way.
        mean_success = float(np.mean(successes))
        advantage = torch.cat([g + config.success_bonus * (success - mean_success)
                               for g, success in zip(returns, successes)])     # (sum T,)
        loss = -(torch.cat(log_probs) * advantage).sum() / len(advantage)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        result.mean_reward.append(float(np.mean(rewards_seen)))
        result.encoder_fraction.append({m: float(c / max(ticks, 1)) for m, c in zip(MODALITIES, counts)})
        result.success_rate.append(sum(r.success for r in runs) / len(runs))
        result.macs_per_decision.append(macs / max(ticks, 1))
        if progress:
            bar = '#' * int(30 * (iteration + 1) / config.iterations)
            run_text = ' '.join(f'{m[:4]} {f:.2f}' for m, f in result.encoder_fraction[-1].items())
            print(f'\rnvsf_a gate RL [{bar:<30}] {iteration + 1}/{config.iterations} reward {result.mean_reward[-1]:.4f}'
                  f' success {result.success_rate[-1]:.2f} MACs {result.macs_per_decision[-1]:.3g} encoders run: {run_text}',
                  end='' if iteration + 1 < config.iterations else '\n', flush=True)
    model.gate_mode = model_config.gate_mode
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    if out is not None:
        # The cloned weights' own records (training, and the pathways' fits) stay with them.
        save_weights(model, out, fitted_metadata(weights, 'gate_rl', {
            **asdict(config), 'mean_reward': result.mean_reward, 'encoder_fraction': result.encoder_fraction,
            'success_rate': result.success_rate, 'macs_per_decision': result.macs_per_decision}))
        result.weights = out
    return result


def gate_named_parameters(model) -> list[tuple[str, torch.nn.Parameter]]:
    """What REINFORCE trains: the gate, and with ``gate_reads_staleness`` its staleness weights (left
    out at first, they stayed at zero through a whole run)."""
    return [(name, parameter) for name, parameter in model.named_parameters()
            if name.startswith(('gate.', 'gate_staleness.'))]


def _gate_model(weights: Path, ungated_modalities: tuple[str, ...], gate_reads_staleness: bool = False,
                gate_max_stand_in: int = 0):
    """NVSF-A as ``weights`` were trained, with the gate's settings (ungated modalities, staleness input,
    stand-in bound), their tensors loaded."""
    metadata = read_metadata(weights)
    if metadata.get('architecture') != 'nvsf_a':
        raise WeightsError(f"{weights}: weights are for architecture {metadata.get('architecture')!r}; the gate "
                           "is NVSF-A's")
    saved_config = metadata.get('config')
    if saved_config is None:
        raise WeightsError(f'{weights}: no config in the metadata; not weights this suite saved')
    trained = type(load_config('nvsf_a')).from_dict(json.loads(saved_config))
    model = build_architecture('nvsf_a', dataclasses.replace(
        trained, ungated_modalities=tuple(ungated_modalities),
        gate_reads_staleness=trained.gate_reads_staleness or gate_reads_staleness,
        gate_max_stand_in=gate_max_stand_in))
    # The file's own config but for the gate's settings: the ungated list and the bound have no tensors, and the
    # staleness weights, when the file lacks them, start at zero (the gate's decisions unchanged).
    fresh = load_matching_weights(model, weights)
    if fresh not in ([], ['gate_staleness.weight']):
        raise WeightsError(f'{weights}: tensors {fresh} are missing; not weights of this NVSF-A')
    return model


def tick_reward(out, all_on, gateable_macs: float, config: GateConfig) -> float:
    """r_t (module docstring): the MACs the gate's skips saved, priced, less how far they moved the
    command ``head_output``, the plan (``state[0]``) and the goal estimate from ``all_on``'s: every
    encoder, same state. Mean absolute changes, not squared (why: the module docstring)."""
    saved = (all_on.cost.dense_macs - out.cost.dense_macs) / gateable_macs
    command_change = float((out.head_output - all_on.head_output).detach().abs().mean())
    plan_change = float((out.state[0] - all_on.state[0]).detach().abs().mean())
    goal_change = float((out.goal['goal'] - all_on.goal['goal']).detach().abs().mean()) if out.goal else 0.0
    return config.compute_price * saved - command_change - config.plan_weight * plan_change \
        - config.goal_weight * goal_change


def discounted_returns(reward: torch.Tensor, discount: float) -> torch.Tensor:
    """(T,) G_t = sum_k discount^k r_(t+k) of per-tick rewards (T,): what a gate choice at t is credited with."""
    returns = torch.empty_like(reward)
    running = 0.0
    for t in range(len(reward) - 1, -1, -1):
        running = float(reward[t]) + discount * running
        returns[t] = running
    return returns


__all__ = ['GateConfig', 'GateResult', 'discounted_returns', 'gate_named_parameters', 'tick_reward', 'train_gate']

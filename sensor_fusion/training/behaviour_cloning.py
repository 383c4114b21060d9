"""Behaviour cloning from recorded episodes, with the recurrent state each architecture carries.

Episodes are batched side by side and unrolled in time; gradients flow through ``window`` ticks
of recurrent state (truncated BPTT: NVSF-A's plan, NVSF-C's token memory, NVSF-H's decoder
memory; NVSF-H's spiking patches learn through snntorch's surrogate gradients), then the state is
detached and carried on. NVSF-A clones with every encoder on (``gate_mode = 'all'``); its gate is
trained afterwards by reinforcement learning (:mod:`.gate_rl`). Loss: mean squared error between
the model's head output and the one that commands the expert's action (``unshape_action``), over
the ticks each episode really has.

Cloning from demonstrations alone drifts: the policy's small errors take it to states the expert
never showed (hovering beside a cube, pressing too lightly). So after the epochs on the bags,
``dagger_rounds`` rounds of DAgger (Ross et al., AISTATS 2011) run the policy in the closed loop
(:class:`.closed_loop.ClosedLoop`, the node's own ingest path), label every tick it visits with
the privileged expert's action, add those episodes to the training set and train on. In the first
rounds the expert's action is executed on a share of the ticks (``dagger_expert_mix``, by default
50 % then 25 %), so they stay near the expert's states; after that the policy acts alone (a run
that continues from earlier weights with ``--init`` passes an empty mix). DAgger seeds start at ``dagger_first_seed``, away from the
demonstrations' and the evaluation's. DAgger episodes are written as bags (the policy's sensor
stream, the expert's action as the command) and read back by the same loader as the
demonstrations, so they are kept and can train later runs (``sensor-fusion train --data`` takes
several folders).

``dagger_through_ball_violations``: a DAgger episode goes on after the policy moved while the ball
passed (the evaluation ends it there, as a failure). Fed a demonstration, cloned NVSF-A froze
within 5-10 ticks of the expert's freeze, yet in closed loop it did not slow down for the ball: in
the demonstrations the arm itself stops at the freeze, and a policy can read "stop" off its own arm
(events, joints) instead of the ball. Only states where the arm still moves while the ball comes
teach the ball. The expert freezes 0.25 s before the ball can reach the zone and stays frozen until
it is as far past: an episode cut at the first violation labels ~25 such ticks, the whole pass ~70.

``weight_average_decay``: the weights validated, rolled out in DAgger, checkpointed and saved are an
exponential moving average of the trained ones (Polyak averaging). The closed-loop success of
NVSF-A's successive checkpoints swung far more than their losses: 11 of 20 selection episodes after
3 cloning epochs; one epoch later 2 of 20 with 16 DAgger episodes added (validation loss 0.0183 ->
0.0206), 4 of 20 without (0.0183 -> 0.0233). An average over the last ~1/(1 - decay) steps damps
such a swing.
"""
from __future__ import annotations

import collections
import copy
import functools
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils._pytree import tree_map

from ..architectures import build_architecture, load_config
from ..architectures.encoders import SummaryEncoders
from ..observation import MODALITIES
from ..preprocess import FusionInputs, Preprocessor, collate
from ..sim.expert import PRESSING_N
from ..sim.task import CONTROL_RATE_HZ, Outcome, TaskConfig, sample_episode
from ..sim.world import CUBE_COLOURS, JOINTS
from ..weights import continued_metadata, load_matching_weights, read_metadata, save_weights
from .dataset import EpisodeSamples, bag_result, load_bag


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_episodes: int = 8          # episodes unrolled side by side
    window: int = 16                 # ticks of truncated BPTT
    learning_rate: float = 1e-3
    val_fraction: float = 0.2        # episodes held out for validation (a seeded draw across every folder)
    seed: int = 0
    control_rate_hz: float = CONTROL_RATE_HZ
    dagger_rounds: int = 0           # closed-loop rounds after cloning (0: plain behaviour cloning)
    dagger_episodes: int = 8         # policy episodes per round, labelled by the expert
    dagger_epochs: int = 4           # epochs over the grown training set after each round
    dagger_first_seed: int = 50_000  # clear of the recorded seeds and of the evaluation's (100 000 on)
    dagger_max_seconds: Optional[float] = None   # cut DAgger episodes short; None: the task's timeout
    dagger_through_ball_violations: bool = False   # DAgger episodes go on after the policy moves during the ball
    weight_average_decay: float = 0.0  # > 0: an exponential moving average of the weights (per optimiser step)
                                       # is validated, rolled out, checkpointed and saved (module docstring)
    dagger_expert_mix: tuple[float, ...] = (0.5, 0.25)   # share of ticks the expert drives, per round; later rounds 0
    target_probe_weight: float = 0.0  # auxiliary loss: name the target cube and where it lies, from the state (_unroll)
    camera_probe_weight: float = 0.0  # auxiliary loss: say where every cube lies, from the camera token (_unroll)
    keyframe_weight: float = 0.0      # extra loss weight per unit of change of the label since the previous tick (_unroll)
    contact_weight: float = 0.0       # extra loss weight on ticks the wrench shows the pad pressing (_unroll)
    trainable: tuple = ()             # parameter-name prefixes to train, the rest frozen (e.g. ('reflex.',)); (): all
    # Modality dropout (ModDrop, Neverova et al., 2015): per training episode, each named modality
    # is missing for the whole episode with this probability, as a silenced topic leaves it
    # (FusionInputs.without). Measured: with the expert driving the closed loop the cloned NVSF-A
    # named the direction to the target (horizontal cosine +0.79 against the expert), +0.80 with
    # the camera silenced but +0.24 with the events silenced. It read the direction off the event
    # camera's view of its own moving arm, not off the camera and the tone, so from rest, with
    # nothing moving, it had no direction (cosine +0.07 driving itself).
    modality_dropout: dict = field(default_factory=dict)
    camera_pretrain_epochs: int = 0   # before cloning: the camera encoder learns where the cubes lie from single frames
    goal_weight: float = 0.0          # NVSF-A goal_pathway: supervision of the instruction, cubes, tool and goal (_unroll)
    # Goal teacher forcing: per training episode, with this probability the head reads the true
    # goal - tool (the target cube's position and the tool's, from the episode's labels) instead of
    # the goal pathway's estimate (_unroll); the other episodes read the estimate, so the head also
    # learns how far to trust it. Why: cloned from 200 demonstrations, NVSF-A's head ignored its
    # goal - tool input (traced: told to go 1.1 normalised units sideways, it commanded 1 % of full
    # speed that way and went straight down), while the estimate it read was poor for most of
    # training. Measured (README, next step 6): with P = 1 the arm moved toward the target's side,
    # with 0.5 it did not; neither won an episode without a DAgger round after cloning.
    goal_teacher_forcing: float = 0.0
    # Before cloning, epochs over every tick of the demonstrations in which the goal pathway's tool
    # locator alone learns where the tool is from the joint angles (pretrain_tool_locator). Why:
    # learnt inside cloning from 200 demonstrations (10 epochs), its estimate drifted 0.25
    # normalised units while the arm descended straight down, so goal - tool pointed the wrong way.
    tool_pretrain_epochs: int = 0

    def __post_init__(self):
        if self.epochs < 0 or self.batch_episodes < 1 or self.window < 1 or not 0 <= self.val_fraction < 1:
            raise ValueError(f'bad training config: {self}')
        if self.epochs == 0 and self.dagger_rounds == 0 and self.camera_pretrain_epochs == 0 \
                and self.tool_pretrain_epochs == 0:
            # A pretraining-only run is allowed: tools/train_in_an_hour.sh fits the control pathways
            # on such weights while the cloning runs on the other core.
            raise ValueError('nothing to train: epochs, dagger_rounds and both pretraining epochs are 0')
        if self.dagger_rounds < 0 or self.dagger_episodes < 1 or self.dagger_epochs < 1:
            raise ValueError(f'bad DAgger settings: {self}')
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.weight_average_decay < 1.0:
            raise ValueError(f'weight_average_decay must be in [0, 1), got {self.weight_average_decay}')
        if min(self.target_probe_weight, self.camera_probe_weight, self.keyframe_weight, self.goal_weight,
               self.contact_weight) < 0:
            raise ValueError(f'probe, keyframe, contact and goal weights must be >= 0: {self}')
        if self.camera_pretrain_epochs < 0 or (self.camera_pretrain_epochs and not self.camera_probe_weight > 0
                                               and not self.goal_weight > 0):
            raise ValueError('camera_pretrain_epochs needs a head to train: camera_probe_weight > 0, or goal_weight > 0 '
                             f'(the goal pathway\'s locator); got {self.camera_pretrain_epochs} epochs with weights '
                             f'{self.camera_probe_weight} and {self.goal_weight}')
        for name, p in self.modality_dropout.items():
            if name not in MODALITIES or not 0.0 <= p < 1.0:
                raise ValueError(f'modality_dropout: {name}={p!r}; names are {MODALITIES}, probabilities in [0, 1)')
        if not 0.0 <= self.goal_teacher_forcing <= 1.0:
            raise ValueError(f'goal_teacher_forcing is a probability in [0, 1], got {self.goal_teacher_forcing}')
        if self.tool_pretrain_epochs < 0 or (self.tool_pretrain_epochs and not self.goal_weight > 0):
            raise ValueError(f'tool_pretrain_epochs must be >= 0 and needs goal_weight > 0 (the goal pathway\'s '
                             f'tool locator), got {self.tool_pretrain_epochs} epochs with goal_weight {self.goal_weight}')
        if self.goal_teacher_forcing > 0 and not self.goal_weight > 0:
            raise ValueError('goal_teacher_forcing needs goal_weight > 0: without it the estimate the head reads at '
                             'inference is never trained')
        if self.dagger_max_seconds is not None and not self.dagger_max_seconds > 0:
            raise ValueError(f'dagger_max_seconds must be > 0 (or None: the task\'s timeout), got {self.dagger_max_seconds}')
        if not all(0.0 <= f <= 1.0 for f in self.dagger_expert_mix):
            raise ValueError(f'dagger_expert_mix values must be in [0, 1], got {self.dagger_expert_mix}')


CACHE_VERSION = 1   # bump when the loader or the preprocessing changes what a cached sample holds


@dataclass
class EpisodeTensors:
    inputs: FusionInputs             # (T, ...) one row per tick
    actions: torch.Tensor            # (T, 6)
    target: int = -1                 # index of the episode's cube in CUBE_COLOURS (-1: unknown)
    target_xy: Optional[torch.Tensor] = None   # (2,) where that cube lies, normalised (None: unknown)
    cubes_xy: Optional[torch.Tensor] = None    # (n_cubes, 2) where every cube lies, CUBE_COLOURS order (None: unknown)
    tool_xy: Optional[torch.Tensor] = None     # (T, 2) where the tool tip is at each tick, normalised (None: unknown)


@dataclass
class TrainResult:
    train_losses: list[float]
    val_losses: list[float]
    weights: Optional[Path]
    dagger_success: list[float] = field(default_factory=list)   # per round: the policy's closed-loop success
    camera_localisation: list[float] = field(default_factory=list)   # per pretraining epoch: held-out R^2 of the cube positions
    tool_localisation: list[float] = field(default_factory=list)     # per tool pretraining epoch: held-out R^2


def episode_tensors(episode: EpisodeSamples, preprocessor: Preprocessor) -> EpisodeTensors:
    inputs = collate([preprocessor(s.observation) for s in episode.samples])
    actions = torch.from_numpy(np.stack([s.action for s in episode.samples])).float()   # (T, 6)
    return EpisodeTensors(inputs, actions)


def _window_rows(episodes: Sequence[EpisodeTensors], start: int, stop: int
                 ) -> tuple[FusionInputs, torch.Tensor, torch.Tensor]:
    """Ticks ``start`` to ``stop`` of every episode, stacked tick-major: (inputs of T * B rows, row
    t * B + b being tick start + t of episode b; targets (T, B, 6); valid (T, B)). A finished episode
    repeats its last tick, masked out of the loss (valid 0). Gathered per episode and field once a
    window, not once a tick: indexing each of 32 episodes' 8 fields at every tick took 8 % of NVSF-A's
    cloning time."""
    ticks = torch.arange(start, stop)                                            # (T,)
    # A slice (a view, copied once by the stack) where the episode lasts the window; else indices.
    picks = [slice(start, stop) if stop <= len(e.actions) else ticks.clamp(max=len(e.actions) - 1) for e in episodes]
    inputs = FusionInputs(**{
        f.name: torch.stack([getattr(e.inputs, f.name)[i] for e, i in zip(episodes, picks)], dim=1).flatten(0, 1)
        for f in fields(FusionInputs)})                                         # (T * B, ...)
    targets = torch.stack([e.actions[i] for e, i in zip(episodes, picks)], dim=1)            # (T, B, 6)
    valid = torch.stack([(ticks < len(e.actions)).float() for e in episodes], dim=1)          # (T, B)
    return inputs, targets, valid


def keyframe_weights(labels_u: torch.Tensor, previous_u: torch.Tensor, k: float) -> torch.Tensor:
    """(B,) loss weights 1 + k * |u_t - u_(t-1)| from this tick's and the previous tick's labels (B, A)."""
    return 1.0 + k * (labels_u - previous_u).norm(dim=1)


CONTACT_N = PRESSING_N   # a tick whose latest wrist force is at least this (N) is a pressing tick for contact_weight


def pressing_ticks(wrench: torch.Tensor, force_scale_n: float) -> torch.Tensor:
    """(B,) bool: the latest sample of the (B, L, 6) wrench window (forces divided by ``force_scale_n``,
    as the preprocessor scales them) shows at least ``CONTACT_N``."""
    return wrench[:, -1, :3].norm(dim=1) * force_scale_n >= CONTACT_N


def ball_freeze_ticks(actions: torch.Tensor, control_rate_hz: float, listen_s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(froze (T,) bool, counted (T,) bool) of one episode's expert labels (T, 6).

    After the instruction tone the expert commands an exact zero twist only while a ball threatens
    and the pad does not press (sim.expert.act; travel, descent, press and the set-off ramp all
    command something else). During the tone it holds still too, for the tone: no ball is launched
    before 1.5 s (sim.task), so those ticks count as "no freeze" and teach that a still arm alone
    is no ball. Not counted: the tick at the tone's end, where the set-off ramp starts from zero.
    """
    seconds = torch.arange(len(actions), dtype=torch.float32) / control_rate_hz            # (T,)
    after_tone = seconds > listen_s + 0.5 / control_rate_hz
    counted = after_tone | (seconds < listen_s)
    return after_tone & (actions == 0).all(dim=1), counted


def contact_weights(wrench: torch.Tensor, force_scale_n: float, k: float) -> torch.Tensor:
    """(B,) loss weights 1 + k on :func:`pressing_ticks`, else 1."""
    return 1.0 + k * pressing_ticks(wrench, force_scale_n).float()


def _unroll(model, episodes: Sequence[EpisodeTensors], window: int, optimiser=None, probe=None,
            probe_weight: float = 0.0, camera_probe: Optional['CameraProbe'] = None,
            keyframe_weight: float = 0.0, dropped: Optional[torch.Tensor] = None, goal_weight: float = 0.0,
            after_step=None, contact_weight: float = 0.0, teacher: Optional[torch.Tensor] = None,
            tone_ticks: int = 0) -> float:
    """Mean action loss over the batch's ticks; with an optimiser, one step per window.

    ``probe`` (a linear layer on the flattened first state tensor) adds ``probe_weight`` x (the
    cross-entropy of naming the episode's target cube + the squared error of saying where it lies)
    from the recurrent state at every tick. Truncated BPTT cannot credit the tone (the first
    second) for a press seconds later, and the action loss alone gives little signal to tell the
    cubes apart (cloning averaged over them: the policy went straight down between the cubes);
    this auxiliary loss makes the state encode the instruction while it sounds and bind it to
    what the camera sees, and, in every later window, rewards carrying forward what the incoming
    (detached) state already holds.

    ``camera_probe`` adds its loss on every ``CAMERA_PROBE_STRIDE``-th tick (see :class:`CameraProbe`).

    ``keyframe_weight`` k weighs each tick's action loss by 1 + k * |u_t - u_(t-1)| (the label's change
    since the previous tick, head-output space): the decisions themselves (keyframe-focused
    imitation, Wen et al., ICML 2021). Measured on the demonstrations: once the arm moves, NVSF-A
    names the right direction for the named cube, but at the one tick where the expert sets off
    from rest it says "stay"; a tick per episode is nothing in the mean loss. (With k = 10 it still
    said "stay" there: README, Results.) The reported loss stays unweighted, comparable across settings.

    ``contact_weight`` k weighs the action loss of each tick whose wrench shows the pad pressing by
    1 + k (:func:`contact_weights`; also multiplying the keyframe weight). The press needs more
    precision than any other phase: at a short reach 1.25 % of full speed more push holds 1 N more,
    while the shipped NVSF-A's push on the press demonstrations was off by 5.5 % of full speed (rms;
    correlation with the expert's 0.38), and the press is ~10 % of the ticks.

    ``dropped`` (B, len(MODALITIES)) bool: modalities missing for each whole episode (modality dropout).

    ``after_step``: called after every optimiser step (the weight average's update).

    ``goal_weight`` (NVSF-A's goal pathway, ``PolicyOutput.goal``) adds, per tick, that weight x (the
    cross-entropy of the instruction's guess + the squared errors of the goal against the target
    cube's position, of the candidates against every cube's, on ticks the camera gave, and of the
    tool against the tip's position from the joints, on ticks they were read).

    With an instruction latch (``instruction_memory``), the goal weight also supervises what the
    latch reads, its own naming of the cube (``goal['instruction_reading']``: NVSF-H's from its state,
    NVSF-C's from its audio token), by the same
    cross-entropy on the first ``tone_ticks`` ticks (while the tone sounds) that had audio. Why:
    the latch's cross-entropy reaches the reading only through the latch's share, which starts at
    5 % a tick. Traced on NVSF-C cloned without it, the reading never changed with the tone, the
    latch learned to stay shut (share 1e-18), and the goal stayed the cubes' average.

    ``teacher`` (B,) bool (goal teacher forcing, :attr:`TrainConfig.goal_teacher_forcing`): the episodes
    whose head reads the true goal - tool at every tick, where the episode's labels give the target's
    and the tool's positions; the others read the goal pathway's estimate.
    """
    state = model.initial_state(len(episodes))
    longest = max(len(e.actions) for e in episodes)
    labels = torch.tensor([e.target for e in episodes])                          # (B,)
    known = (labels >= 0).float()
    where = torch.stack([e.target_xy if e.target_xy is not None else torch.zeros(2) for e in episodes])  # (B, 2)
    where_known = torch.tensor([e.target_xy is not None for e in episodes], dtype=torch.float32)        # (B,)
    cubes = torch.stack([e.cubes_xy if e.cubes_xy is not None else torch.zeros(len(CUBE_COLOURS), 2)
                         for e in episodes])                                                           # (B, n, 2)
    cubes_known = torch.tensor([e.cubes_xy is not None for e in episodes], dtype=torch.float32)        # (B,)
    tool_known = torch.tensor([e.tool_xy is not None for e in episodes], dtype=torch.float32)          # (B,)
    forced = None
    if teacher is not None:
        forced = teacher & (where_known > 0) & (tool_known > 0)                                         # (B,)
        forced = forced if forced.any() else None
    # Per episode, from its labels alone: computed once here, not at every tick.
    tick_weights = None
    if keyframe_weight > 0:
        labels_u = [model.unshape_action(e.actions) for e in episodes]                             # (T, A) each
        tick_weights = [keyframe_weights(u, torch.cat([u[:1], u[:-1]]), keyframe_weight) for u in labels_u]  # (T,)
    total, count = 0.0, 0.0
    b = len(episodes)
    for start in range(0, longest, window):
        loss = torch.zeros(())
        reported, ticks = 0.0, 0.0
        window_ticks = range(start, min(start + window, longest))
        stacked, window_targets, window_valid = _window_rows(episodes, start, window_ticks.stop)   # T * B rows
        window_weights = (torch.ones(len(window_ticks) * b) if contact_weight <= 0 else   # from the wrench as
                          contact_weights(stacked.wrench, model.config.preprocess.haptic.force_scale_n,
                                          contact_weight))                      # recorded, before any drop; (T * B,)
        if dropped is not None:
            stacked = stacked.without(dropped.repeat(len(window_ticks), 1))
        # What the model encodes from each tick alone, for the whole window at once (training only).
        encoded = model.encode_window(stacked, len(window_ticks)) if model.training else None   # (T * B, ...) or None
        # Split once (one gradient concatenation in backward), not sliced per tick: each slice's
        # backward fills a zero tensor the size of the whole window (NVSF-C's 2 048 x 43 tokens).
        per_tick_encoded = None if encoded is None else [dict(zip(encoded, rows)) for rows in
                                                         zip(*(value.split(b) for value in encoded.values()))]
        for k, t in enumerate(window_ticks):
            rows = slice(k * b, (k + 1) * b)
            inputs = FusionInputs(**{f.name: getattr(stacked, f.name)[rows] for f in fields(FusionInputs)})   # (B, ...)
            targets, valid, per_tick = window_targets[k], window_valid[k], window_weights[rows]
            extra = {} if per_tick_encoded is None else {'encoded': per_tick_encoded[k]}
            # The tool's labelled position, read once a tick for the teacher and the goal loss.
            tool_truth = _tool_truth(episodes, t) if forced is not None or goal_weight > 0 else None   # (B, 2)
            if forced is not None:
                extra['goal_teacher'] = torch.where(forced[:, None], where - tool_truth,
                                                    torch.full_like(where, float('nan')))    # (B, 2)
            out = model(inputs, state, **extra)
            state = out.state
            # In head-output space (see FusionArchitecture.shape_action): a creep where the expert
            # holds still costs as much as a wrong direction at full speed.
            error = out.head_output - model.unshape_action(targets)                 # (B, A)
            per_row = (error ** 2).mean(dim=1) * valid                              # (B,)
            if tick_weights is not None:
                per_tick = per_tick * torch.stack([w[min(t, len(w) - 1)] for w in tick_weights])   # (B,)
            loss = loss + (per_row * per_tick).sum()
            reported = reported + float(per_row.sum().detach())
            if probe is not None and probe_weight > 0:
                guess = probe(state[0].reshape(len(episodes), -1))                 # (B, n_cubes + 2)
                logits, guess_xy = guess[:, :len(CUBE_COLOURS)], guess[:, len(CUBE_COLOURS):]
                ce = torch.nn.functional.cross_entropy(logits, labels.clamp(min=0), reduction='none')   # (B,)
                xy_error = ((guess_xy - where) ** 2).sum(dim=1)                    # (B,)
                loss = loss + probe_weight * ((ce * known + xy_error * where_known) * valid).sum()
            if goal_weight > 0 and out.goal:
                loss = loss + goal_weight * (_goal_error(out.goal, inputs, tool_truth, labels, where, cubes) * torch.stack(
                    [known, where_known, cubes_known, tool_known], dim=1) * valid[:, None]).sum()
                if 'instruction_reading' in out.goal and t < tone_ticks:
                    heard = inputs.mask[:, AUDIO_INDEX].float()                                  # (B,)
                    reading = torch.nn.functional.cross_entropy(out.goal['instruction_reading'], labels.clamp(min=0),
                                                                reduction='none')                # (B,)
                    loss = loss + goal_weight * (reading * known * heard * valid).sum()
            if camera_probe is not None and t % CAMERA_PROBE_STRIDE == 0:
                seen = inputs.mask[:, CAMERA_INDEX].float() * valid * cubes_known                # (B,)
                loss = loss + CAMERA_PROBE_STRIDE * (camera_probe.error(model, inputs, cubes) * seen).sum()
            ticks += float(valid.sum())
        if optimiser is not None and ticks:
            optimiser.zero_grad()
            (loss / ticks).backward()
            torch.nn.utils.clip_grad_norm_([q for group in optimiser.param_groups for q in group['params']], 1.0)
            optimiser.step()
            if after_step is not None:
                after_step()
        state = tree_map(lambda x: x.detach() if isinstance(x, torch.Tensor) else x, state)
        total, count = total + reported, count + ticks
    return total / max(count, 1.0)


def _goal_error(goal: dict, inputs: FusionInputs, tool_truth: torch.Tensor, labels: torch.Tensor,
                where: torch.Tensor, cubes: torch.Tensor) -> torch.Tensor:
    """(B, 4) the goal pathway's errors at one tick: instruction cross-entropy, goal, candidates (ticks
    the camera gave) and tool (against ``tool_truth`` (B, 2), on ticks the joints were read) squared
    errors; the caller masks unknown labels."""
    instruction = torch.nn.functional.cross_entropy(goal['instruction'], labels.clamp(min=0), reduction='none')
    goal_error = ((goal['goal'] - where) ** 2).sum(dim=1)                                     # (B,)
    seen = inputs.mask[:, CAMERA_INDEX].float()                                               # (B,)
    candidates = ((goal['candidates'] - cubes) ** 2).sum(dim=(1, 2)) * seen                   # (B,)
    felt = inputs.mask[:, PROPRIO_INDEX].float()                                              # (B,)
    tool = ((goal['tool'] - tool_truth) ** 2).sum(dim=1) * felt                               # (B,)
    return torch.stack([instruction, goal_error, candidates, tool], dim=1)                    # (B, 4)


def _tool_truth(episodes: Sequence[EpisodeTensors], t: int) -> torch.Tensor:
    """(B, 2) the tool's labelled position at tick ``t`` (an episode's last after it ends; zeros: unknown)."""
    return torch.stack([e.tool_xy[min(t, len(e.tool_xy) - 1)] if e.tool_xy is not None else torch.zeros(2)
                        for e in episodes])


def cached_episode_tensors(bag: Path, preprocess, preprocessor: Preprocessor, control_rate_hz: float,
                           event_sensor_size: tuple[int, int]) -> EpisodeTensors:
    """The bag's samples, preprocessed; cached beside the bags (``.cache/``) keyed by everything
    that changes them, so the second training run on the same data skips decoding and alignment."""
    key = hashlib.sha256(json.dumps([CACHE_VERSION, asdict(preprocess), control_rate_hz, list(event_sensor_size)],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache = bag.parent / '.cache' / f'{bag.name}-{key}.safetensors'
    if cache.exists():
        try:
            tensors = load_file(str(cache))
            result = bag_result(bag)      # reads only the verdict topic (~30 ms)
            inputs = FusionInputs(**{f.name: tensors[f.name] for f in fields(FusionInputs)})
            return EpisodeTensors(inputs, tensors['actions'], _target_index(result), _target_xy(result),
                                  _cubes_xy(result), _tool_xy(inputs, result))
        except Exception:     # a torn or foreign cache file is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    samples = load_bag(bag, preprocess, JOINTS, event_sensor_size, control_rate_hz)
    episode = episode_tensors(samples, preprocessor)
    episode.target, episode.target_xy = _target_index(samples.result), _target_xy(samples.result)
    episode.cubes_xy = _cubes_xy(samples.result)
    episode.tool_xy = _tool_xy(episode.inputs, samples.result)
    if len(episode.actions):
        cache.parent.mkdir(exist_ok=True)
        tensors = {f.name: getattr(episode.inputs, f.name).contiguous() for f in fields(FusionInputs)}
        tmp = cache.with_suffix(f'.{os.getpid()}.tmp')   # concurrent trainings never share a partial file
        # The target and its position are not cached: they come from the bag's verdict on every load.
        save_file({**tensors, 'actions': episode.actions.contiguous()}, str(tmp))
        tmp.replace(cache)
    return episode


CAMERA_PROBE_STRIDE = 4          # ticks between camera-probe terms: the 15 Hz camera repeats a frame ~6 ticks
CAMERA_INDEX = MODALITIES.index('camera')
AUDIO_INDEX = MODALITIES.index('audio')
PROPRIO_INDEX = MODALITIES.index('proprio')


class CameraProbe(torch.nn.Module):
    """Trainer-only auxiliary head: every cube's table position from the camera's summary token.

    Cloning alone gave the camera encoder almost no signal to localise the cubes: the action
    loss is minimised first by descending and regulating force, and a policy that does not know
    where the target is outputs the average horizontal command, about zero (measured: NVSF-A/H
    went straight down and pressed the table). Supervising the camera token with the layout
    (known from each recorded episode's seed) makes its keypoint detectors find each colour, so
    the decoder can bind the one the tone names. It is not saved with the model.
    """

    def __init__(self, model, weight: float):
        super().__init__()
        encoders = getattr(model, 'encoders', None)
        if not isinstance(encoders, SummaryEncoders) or 'camera' not in encoders.encoders:
            raise ValueError(f'the camera probe needs an architecture with a camera summary token (nvsf_a, '
                             f'nvsf_h); {model.key} has none: set camera_probe_weight to 0')
        self.weight = weight
        self.head = torch.nn.Linear(model.config.d_model, 2 * len(CUBE_COLOURS))

    def error(self, model, inputs: FusionInputs, cubes: torch.Tensor) -> torch.Tensor:
        """(B,) weighted squared error of the guessed positions against ``cubes`` (B, n, 2)."""
        token = model.encoders.encode('camera', inputs)                                # (B, D)
        guess = self.head(token).reshape(cubes.shape)                                   # (B, n, 2)
        return self.weight * ((guess - cubes) ** 2).sum(dim=(1, 2))


CAMERA_PRETRAIN_STRIDE = 10     # ticks between the frames taken (the 15 Hz camera repeats a frame ~7 ticks)
CAMERA_PRETRAIN_BATCH = 128


def _camera_frames(episodes: Sequence[EpisodeTensors]) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera frames of episodes whose layout is known, and every cube's position: (N, 3, S, S), (N, n, 2)."""
    images, cubes = [], []
    for e in episodes:
        if e.cubes_xy is None:
            continue
        ticks = torch.arange(0, len(e.actions), CAMERA_PRETRAIN_STRIDE)
        ticks = ticks[e.inputs.mask[ticks, CAMERA_INDEX]]
        images.append(e.inputs.image[ticks])
        cubes.append(e.cubes_xy.expand(len(ticks), -1, -1))
    if not images:
        raise ValueError('camera pretraining needs bags of the embedded task (their seeds give the cube layout)')
    return torch.cat(images), torch.cat(cubes)


def pretrain_camera(model, head: torch.nn.Module, train_set: Sequence[EpisodeTensors],
                    val_set: Sequence[EpisodeTensors], epochs: int, learning_rate: float,
                    progress: bool = True) -> list[float]:
    """Localisation pretraining of the camera encoder, before cloning: the encoder and ``head`` (the
    camera probe's, or the goal pathway's candidate locator) regress every cube's table position
    from single frames (supervised by the layout each bag's seed regenerates). Returns per epoch the held-out R^2 of the positions (1: exact,
    0: no better than the mean layout).

    Measured on the cloned NVSF-A (camera probe weight 0.1 during cloning): a linear readout of its
    camera token explained none of the cubes' x positions on held-out episodes (R^2 -0.27 to -0.01)
    and half of their y (0.35 to 0.61). The policies could not see where the target was; from rest
    they named no direction and, once moving, continued the one they happened to take. This
    pretraining alone stalls at R^2 0.23 unless the keypoints are sharpened (the architecture's
    ``camera_keypoint_sharpness``, see CameraKeypointEncoder): with 10, 0.97 on held-out frames.
    """
    encoder = model.encoders.encoders['camera']
    images, cubes = _camera_frames(train_set)                       # (N, 3, S, S), (N, n, 2)
    has_layout = any(e.cubes_xy is not None for e in val_set)
    val_images, val_cubes = _camera_frames(val_set) if has_layout else (images, cubes)

    def squared_error(frames: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        token = encoder(frames.reshape(len(frames), -1))                           # (B, D)
        return ((head(token).reshape(truth.shape) - truth) ** 2).sum(dim=(1, 2))   # (B,)

    return _pretrain_regression('camera pretraining', f'{len(images)} frames', squared_error,
                                list(encoder.parameters()) + list(head.parameters()), (images, cubes),
                                (val_images, val_cubes), epochs, CAMERA_PRETRAIN_BATCH, learning_rate, progress,
                                model=model, digits=3)


def _pretrain_regression(label: str, what: str, squared_error, parameters: list, train: tuple[torch.Tensor, torch.Tensor],
                         held_out: tuple[torch.Tensor, torch.Tensor], epochs: int, batch: int, learning_rate: float,
                         progress: bool, model: Optional[torch.nn.Module] = None, digits: int = 4) -> list[float]:
    """What camera and tool pretraining share: AdamW on ``parameters`` over shuffled mini-batches of
    ``train`` (inputs, truth) to lower ``squared_error(inputs, truth)`` (B,), and per epoch the
    held-out R^2 (1: exact, 0: no better than the training truth's mean), which it returns.
    ``model``, when given, is put in training mode for the steps and in evaluation mode to score."""
    inputs, truth = train
    val_inputs, val_truth = held_out
    spread = ((val_truth - truth.mean(dim=0)) ** 2).sum()              # the mean's error
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate)
    scores = []
    for epoch in range(epochs):
        if model is not None:
            model.train()
        order = torch.randperm(len(inputs))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            loss = squared_error(inputs[rows], truth[rows]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if model is not None:
            model.eval()
        with torch.no_grad():
            error = sum(squared_error(val_inputs[i:i + 512], val_truth[i:i + 512]).sum()
                        for i in range(0, len(val_inputs), 512))
        scores.append(float(1.0 - error / spread))
        if progress:
            _progress(label, epoch + 1, epochs, f'held-out R^2 {scores[-1]:.{digits}f} ({what})')
    return scores


TOOL_PRETRAIN_BATCH = 256


def pretrain_tool_locator(model, train_set: Sequence[EpisodeTensors], val_set: Sequence[EpisodeTensors],
                          epochs: int, learning_rate: float, progress: bool = True) -> list[float]:
    """The goal pathway's tool locator alone regresses the tool's table position (the labels'
    forward kinematics of the recorded joints) from the joint angles, over every tick whose joints
    were read, before cloning. Returns per epoch the held-out R^2 (1: exact, 0: no better than the
    mean position); the training ticks stand in when no held-out episode has the labels."""

    def ticks(episodes):
        rows = [(e.inputs.proprio[e.inputs.mask[:, PROPRIO_INDEX]], e.tool_xy[e.inputs.mask[:, PROPRIO_INDEX]])
                for e in episodes if e.tool_xy is not None]
        return (torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])) if rows else None   # (N, J), (N, 2)

    train = ticks(train_set)
    if train is None:
        raise ValueError('tool pretraining needs bags of the embedded task (their joints give the tool position)')
    locator = model.goal.tool_locator

    def squared_error(rows_joints: torch.Tensor, rows_tool: torch.Tensor) -> torch.Tensor:
        return ((locator(rows_joints) - rows_tool) ** 2).sum(dim=1)                # (B,)

    return _pretrain_regression('tool pretraining', f'{len(train[0])} ticks', squared_error, list(locator.parameters()),
                                train, ticks(val_set) or train, epochs, TOOL_PRETRAIN_BATCH, learning_rate, progress)


def _target_index(result: Optional[dict]) -> int:
    target = (result or {}).get('target')
    return list(CUBE_COLOURS).index(target) if target in CUBE_COLOURS else -1


_X0, _X1, _Y0, _Y1 = TaskConfig().cube_area
CUBE_AREA_CENTRE_M = np.array([(_X0 + _X1) / 2, (_Y0 + _Y1) / 2])
CUBE_AREA_HALF_SPAN_M = np.array([(_X1 - _X0) / 2, (_Y1 - _Y0) / 2])


def _layout(result: Optional[dict]):
    """The embedded task's episode the bag recorded (its seed regenerates the layout); None for any
    other bag (a real robot's, or one recorded under another task layout: never guessed)."""
    result = result or {}
    if not isinstance(result.get('seed'), int):
        return None
    episode = sample_episode(result['seed'])
    return episode if episode.target == result.get('target') else None


def _normalised_xy(position: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((position - CUBE_AREA_CENTRE_M) / CUBE_AREA_HALF_SPAN_M).float()


def _target_xy(result: Optional[dict]) -> Optional[torch.Tensor]:
    """(2,) the target cube's table position, normalised to about [-1, 1]; None when unknown."""
    episode = _layout(result)
    return None if episode is None else _normalised_xy(episode.cube_positions[episode.target])


def _cubes_xy(result: Optional[dict]) -> Optional[torch.Tensor]:
    """(n_cubes, 2) every cube's table position in CUBE_COLOURS order, normalised; None when unknown."""
    episode = _layout(result)
    return None if episode is None else torch.stack([_normalised_xy(episode.cube_positions[c]) for c in CUBE_COLOURS])


@functools.lru_cache(maxsize=1)
def _tip_kinematics():
    """The simulated arm's (MjModel, MjData, ArmKinematics), built once per process."""
    import mujoco
    from ..sim.arm import ArmKinematics
    from ..sim.world import world_xml
    model = mujoco.MjModel.from_xml_string(world_xml())
    return model, mujoco.MjData(model), ArmKinematics(model)


def _tool_xy(inputs: FusionInputs, result: Optional[dict]) -> Optional[torch.Tensor]:
    """(T, 2) the tool tip's table position at each tick, normalised like the cubes', by the simulated
    arm's forward kinematics from the recorded joint positions; None unless the bag is of the embedded
    task (another robot's joints mean another arm: never guessed)."""
    if _layout(result) is None:
        return None
    return _normalised_xy(tip_positions(inputs.proprio)[:, :2])


def tip_positions(proprio: torch.Tensor) -> np.ndarray:
    """(T, 3) the simulated arm's tool tip (m, world frame) by forward kinematics from the joint
    positions at the start of each (T, 2 J) proprio row. Only for bags of the embedded task."""
    import mujoco
    model, data, arm = _tip_kinematics()
    joints = proprio[:, :len(JOINTS)].double().numpy()                                          # (T, J)
    tips = np.empty((len(joints), 3))
    for i, q in enumerate(joints):
        data.qpos[arm.qpos_index] = q
        mujoco.mj_kinematics(model, data)
        tips[i] = arm.tip_pose(data)[0]
    return tips


def _draw_dropout(probabilities: dict, batch_size: int) -> Optional[torch.Tensor]:
    """(B, len(MODALITIES)) bool: which modalities each episode of a batch misses (None: no dropout)."""
    if not any(probabilities.values()):
        return None
    p = torch.tensor([probabilities.get(name, 0.0) for name in MODALITIES])        # (M,)
    return torch.rand(batch_size, len(MODALITIES)) < p                             # (B, M)


def _draw_teacher(probability: float, batch_size: int) -> Optional[torch.Tensor]:
    """(B,) bool: the episodes of a batch whose head reads the true goal - tool (None: no teacher forcing)."""
    return torch.rand(batch_size) < probability if probability > 0 else None


def _progress(label: str, done: int, total: int, text: str) -> None:
    bar = '#' * int(30 * done / max(total, 1))
    print(f'\r{label} [{bar:<30}] {done}/{total} {text}', end='' if done < total else '\n', flush=True)


class WeightAverage:
    """An exponential moving average of a model's parameters (``--weight-average-decay``); ``module`` holds it.

    As torch's ``AveragedModel`` with ``get_ema_multi_avg_fn``: the first update copies the parameters,
    each later one moves them ``1 - decay`` of the way to the model's. Buffers are not averaged but
    follow the model's, replaced rather than copied in place: snntorch's membrane buffers (NVSF-H's
    spiking core) change shape with the batch, which ``AveragedModel``'s in-place copy refused.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f'weight average decay must be in (0, 1), got {decay}')
        self.module, self.decay, self.updates = copy.deepcopy(model), decay, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for averaged, current in zip(self.module.parameters(), model.parameters(), strict=True):
            if self.updates == 0:
                averaged.copy_(current)
            else:
                averaged.lerp_(current, 1.0 - self.decay)
        for averaged_part, part in zip(self.module.modules(), model.modules(), strict=True):
            for name, buffer in part.named_buffers(recurse=False):
                averaged_part._buffers[name] = buffer.detach().clone()
        self.updates += 1


def train(architecture: str, bags: Sequence[Path], out_dir: Optional[Path] = None, config: TrainConfig = TrainConfig(),
          event_sensor_size: tuple[int, int] = (96, 72), progress: bool = True, init_weights: Optional[Path] = None,
          dagger_dir: Optional[Path] = None) -> TrainResult:
    """Clones from ``bags`` (demonstrations, and earlier DAgger bags if given), then DAgger rounds
    whose episodes are written as bags to ``dagger_dir`` (default ``out_dir/dagger``). ``init_weights``
    continues from earlier weights instead of the seeded initialisation."""
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    model_config = load_config(architecture)
    model = build_architecture(architecture, model_config)
    # Checked before the bags are read: a wrong setting fails at once, not after minutes of loading.
    has_goal_pathway = getattr(model_config, 'goal_pathway', False)
    # (goal teacher forcing and tool pretraining need goal_weight > 0: TrainConfig checks that)
    if config.goal_weight > 0 and not has_goal_pathway:
        raise ValueError(f'goal_weight needs an architecture configured with goal_pathway: true; {architecture} is not')
    init_metadata = None
    if init_weights is not None:
        # Read now: an --out that holds the init would overwrite it with the first checkpoint.
        init_metadata = read_metadata(init_weights)
        fresh = load_matching_weights(model, init_weights)   # the config may differ; shared tensors carry over
        if fresh and progress:
            print(f'{architecture}: from {init_weights}; initialised fresh: {", ".join(fresh)}', flush=True)
    if hasattr(model, 'gate_mode'):
        model.gate_mode = 'all'          # clone with every encoder on; the saved config keeps the deployment mode
    preprocessor = Preprocessor(model_config.preprocess)
    episodes = []
    for index, bag in enumerate(sorted(bags)):
        episodes.append(cached_episode_tensors(Path(bag), model_config.preprocess, preprocessor,
                                               config.control_rate_hz, event_sensor_size))
        if progress:
            _progress(f'{architecture} loading', index + 1, len(bags), Path(bag).name)
    episodes = [e for e in episodes if len(e.actions)]
    if len(episodes) < 2:
        raise ValueError(f'need at least 2 episodes with samples, got {len(episodes)} from {len(bags)} bags')
    n_val = max(1, int(round(config.val_fraction * len(episodes)))) if config.val_fraction > 0 else 0
    # A seeded draw, not the last bags in path order: with several folders that would hold out
    # whole folders (the DAgger ones, whose recovery states training needs most).
    held_out = set(random.Random(config.seed).sample(range(len(episodes)), n_val))
    train_set = [e for i, e in enumerate(episodes) if i not in held_out]
    val_set = [e for i, e in enumerate(episodes) if i in held_out]
    probe = None
    if config.trainable:
        # Fine-tune one part (e.g. NVSF-A's reflex pathway) without moving what already works.
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(tuple(config.trainable)))
        if not any(p.requires_grad for p in model.parameters()):
            names = sorted({name.split('.')[0] for name, _ in model.named_parameters()})
            raise ValueError(f'trainable {list(config.trainable)} names no parameter of {architecture}; '
                             f'its modules: {names}')
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.target_probe_weight > 0:
        state_size = model.initial_state(1)[0].numel()
        probe = torch.nn.Linear(state_size, len(CUBE_COLOURS) + 2)  # trainer-only: not part of the saved model
        parameters += list(probe.parameters())
    camera_probe = CameraProbe(model, config.camera_probe_weight) if config.camera_probe_weight > 0 else None
    if camera_probe is not None:
        parameters += list(camera_probe.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate)
    result = TrainResult([], [], None)
    checkpoints = out_dir / 'checkpoints' if out_dir is not None else None
    averaged, after_step = None, None     # the weight average, started after camera pretraining (below)

    def deployed():
        """The weights that are validated, rolled out and saved: the average when there is one."""
        return averaged.module if averaged is not None else model

    # The task's instruction tone sounds for its first tone_s (the latch's reading is supervised then: _unroll).
    tone_ticks = round(TaskConfig().tone_s * config.control_rate_hz)

    def run_epochs(count: int, phase: str) -> None:
        for epoch in range(count):
            model.train()
            # Batches of similar length (a finished episode still costs its batch a forward pass per
            # tick), drawn in random order and with random neighbours each epoch.
            by_length = sorted(train_set, key=lambda e: len(e.actions) * random.uniform(0.85, 1.15))
            batches = [by_length[i:i + config.batch_episodes] for i in range(0, len(by_length), config.batch_episodes)]
            random.shuffle(batches)
            losses = [_unroll(model, batch, config.window, optimiser, probe, config.target_probe_weight, camera_probe,
                              config.keyframe_weight, _draw_dropout(config.modality_dropout, len(batch)),
                              config.goal_weight, after_step, config.contact_weight,
                              _draw_teacher(config.goal_teacher_forcing, len(batch)), tone_ticks)
                      for batch in batches]
            result.train_losses.append(float(np.mean(losses)))
            if val_set:
                deployed().eval()
                with torch.no_grad():
                    result.val_losses.append(float(np.mean([
                        _unroll(deployed(), val_set[i:i + config.batch_episodes], config.window)
                        for i in range(0, len(val_set), config.batch_episodes)])))
            if progress:
                _progress(f'{architecture} {phase}', epoch + 1, count, f'train {result.train_losses[-1]:.4f}'
                          + (f' val {result.val_losses[-1]:.4f}' if result.val_losses else ''))
            if checkpoints is not None and epoch + 1 < count:
                # Every epoch's weights, to choose among in closed loop: successive NVSF-A epochs
                # swung from 26 to 4 of 40 selection episodes with little change in their losses.
                _save(deployed(), model_config,
                      checkpoints / f'{architecture}-{phase.replace(" ", "_")}_epoch_{epoch + 1}.safetensors',
                      config, len(train_set) + len(val_set), init_metadata,
                      checkpoint=f'{phase}, epoch {epoch + 1} of {count}')
        if checkpoints is not None:
            _save(deployed(), model_config, checkpoints / f'{architecture}-{phase.replace(" ", "_")}.safetensors',
                  config, len(train_set) + len(val_set), init_metadata, checkpoint=f'end of {phase}')

    if config.camera_pretrain_epochs:
        # The goal pathway's locator is the head that names where each cube lies; else the probe's.
        head = model.goal.candidate_locator if has_goal_pathway and config.goal_weight > 0 else camera_probe.head
        result.camera_localisation = pretrain_camera(model, head, train_set, val_set,
                                                     config.camera_pretrain_epochs, config.learning_rate, progress)
    if config.tool_pretrain_epochs:
        result.tool_localisation = pretrain_tool_locator(model, train_set, val_set, config.tool_pretrain_epochs,
                                                         config.learning_rate, progress)
    if config.weight_average_decay > 0:
        averaged = WeightAverage(model, config.weight_average_decay)
        after_step = functools.partial(averaged.update, model)
    run_epochs(config.epochs, 'cloning')
    if config.dagger_rounds:
        from .closed_loop import ClosedLoop
        if dagger_dir is None:
            dagger_dir = out_dir / 'dagger' if out_dir is not None else Path(tempfile.mkdtemp(prefix='dagger_'))
        dagger_dir.mkdir(parents=True, exist_ok=True)
        loop = ClosedLoop(model_config.preprocess, control_rate_hz=config.control_rate_hz,
                          task=TaskConfig(ball_violation_ends_episode=not config.dagger_through_ball_violations))
        rng = np.random.default_rng(config.seed)
        for round_index in range(config.dagger_rounds):
            mix = config.dagger_expert_mix
            expert_probability = mix[round_index] if round_index < len(mix) else 0.0
            first = config.dagger_first_seed + round_index * config.dagger_episodes
            new, outcomes = [], collections.Counter()
            for k, seed in enumerate(range(first, first + config.dagger_episodes)):
                bag = dagger_dir / f'episode_{seed:05d}'
                outcome = _dagger_episode(loop, deployed(), seed, expert_probability, rng, config.dagger_max_seconds, bag)
                outcomes[outcome.value] += 1
                tensors = cached_episode_tensors(bag, model_config.preprocess, preprocessor, config.control_rate_hz,
                                                 event_sensor_size)
                if len(tensors.actions):
                    new.append(tensors)
                if progress:
                    _progress(f'{architecture} DAgger round {round_index + 1} rollouts', k + 1,
                              config.dagger_episodes, ' '.join(f'{o} {n}' for o, n in sorted(outcomes.items())))
            result.dagger_success.append(outcomes['success'] / config.dagger_episodes)
            train_set.extend(new)
            run_epochs(config.dagger_epochs, f'DAgger round {round_index + 1}')
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.weights = out_dir / f'{architecture}.safetensors'
        _save(deployed(), model_config, result.weights, config, len(train_set) + len(val_set), init_metadata)
        (out_dir / 'losses.json').write_text(json.dumps({'train': result.train_losses, 'val': result.val_losses,
                                                         'dagger_success': result.dagger_success}))
        if result.train_losses:     # a pretraining-only run has no epoch losses to draw
            _plot_curve(out_dir / 'training_curve.png', result.train_losses, result.val_losses, architecture)
    return result


def _save(model, model_config, path: Path, config: TrainConfig, n_episodes: int,
          init_metadata: Optional[dict[str, str]] = None, checkpoint: Optional[str] = None) -> None:
    """Weights with the deployment config (NVSF-A's gate mode as configured, not the cloning one);
    trained on from weights with ``init_metadata``, they keep its records and stages. ``checkpoint``
    names where in the run a checkpoint was taken (e.g. ``end of DAgger round 2``): the run's settings
    say how far it went (3 rounds), so a checkpoint shipped from partway would otherwise claim the
    whole run."""
    training = {**asdict(config), 'episodes': n_episodes}
    if checkpoint is not None:
        training['checkpoint'] = checkpoint
    metadata = (continued_metadata(init_metadata, training) if init_metadata is not None
                else {'training': json.dumps(training)})
    mode = getattr(model, 'gate_mode', None)
    if mode is not None:
        model.gate_mode = model_config.gate_mode
    try:
        save_weights(model, path, metadata)
    finally:
        if mode is not None:
            model.gate_mode = mode


def _dagger_episode(loop, model, seed: int, expert_probability: float, rng: np.random.Generator,
                    max_seconds: Optional[float], bag: Path) -> Outcome:
    """One closed-loop episode of the current model, recorded to ``bag`` with the expert's action as
    the command at every tick (read back by the demonstrations' loader)."""
    from ..policy import FusionPolicy
    policy = FusionPolicy(model, 'cpu')
    if hasattr(policy.model, 'gate_mode'):
        policy.model.gate_mode = 'all'

    def controller(observation, expert_action):
        action = policy.act(observation).action
        return expert_action if rng.random() < expert_probability else action

    if bag.exists():
        shutil.rmtree(bag)            # a torn bag of an interrupted run
    return loop.run(seed, controller, with_expert=True, max_seconds=max_seconds, bag=bag).verdict


def _plot_curve(path: Path, train_losses: list[float], val_losses: list[float], title: str) -> None:
    """A small loss-curve image (OpenCV: no plotting library needed)."""
    import cv2
    width, height, margin = 480, 320, 40
    image = np.full((height, width, 3), 255, np.uint8)
    values = [v for v in train_losses + val_losses if math.isfinite(v) and v > 0]
    low, high = math.log10(min(values)), math.log10(max(values)) + 1e-9
    for losses, colour in ((train_losses, (200, 80, 0)), (val_losses, (0, 0, 200))):
        points = [(margin + int(i * (width - 2 * margin) / max(1, len(losses) - 1)),
                   height - margin - int((math.log10(v) - low) / (high - low) * (height - 2 * margin)))
                  for i, v in enumerate(losses) if v > 0]
        if len(points) > 1:
            cv2.polylines(image, [np.array(points, np.int32)], False, colour, 2)
    cv2.rectangle(image, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
    cv2.putText(image, f'{title}: train (blue) / val (red) MSE, log scale', (margin, 25), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (0, 0, 0), 1)
    cv2.imwrite(str(path), image)

"""NVSF-A, the action-perception loop: a recurrent action plan that decides what to look at.

Per tick::

    gate      = sigmoid(W_g [plan, previous action])      which encoders to run at all
                (+ W_s staleness with gate_reads_staleness: ticks each held token stood in for a newer input;
                 with gate_max_stand_in = N, an encoder whose held token stood in on N ticks runs)
    tokens    = encoder_m(x_m) for gated-on modalities     skipped encoders cost nothing
    readout   = multi-head cross-attention(query = W_q plan, keys/values = tokens)
    plan      = GRU([readout, previous action], plan)    previous action: zeros unless feed_back_action
    action    = shape(tanh(W_a plan))                    fine resolution near zero (base.shape_action)

With ``goal_pathway`` the plan does not have to compute the direction to the goal itself::

    candidates = W_c camera token                         (K, 2): where each object lies on the table
    tool       = MLP(joint positions)                     (2,): where the tool is over the table
    goal       = softmax(W_i plan) . candidates           the one the instruction (remembered in the plan) names
    action     = shape(tanh(MLP([plan, goal - tool])))

(encoders.GoalPathway: candidates and tool carried in the state, renewed only when their sensor
ran; the trainer supervises the four quantities, ``PolicyOutput.goal``, and the head reads
``goal - tool`` detached.)
Measured before it (behaviour cloning, no pathway): a linear readout of the plan named the
target's colour in 30 of 30 held-out episodes at the end of the tone and explained 70 % of the
target's position, yet from rest the policy commanded 1 % of the expert's horizontal speed at a
cosine of +0.25 to the expert's direction: the head never learned the subtraction.

Beside the head sit the control pathways (press reflex, descent bound, ball freeze), each fitted on
its own: control_pathways.py, shared with NVSF-H.

An encoder whose input has not changed since it last ran is not run again: its token is held
(``HELD_MODALITIES``, encoders.HeldTokens; at inference only, the outputs bit-identical). The
15 Hz camera gives a 100 Hz loop a new frame on one tick in seven. Where the gate skips a present
input of these, its held token stands in too (not looking keeps what was last seen); with nothing
held yet, or for the other modalities, a skipped encoder's token is masked from the readout.

The gate is decided from the previous plan *before* any encoder runs, which is what lets it
save compute. Gate modes: ``all`` (every valid encoder, for behaviour cloning), ``threshold``
(deployment: run encoder m when p_m > gate_threshold), ``sample`` (Bernoulli, for the
reinforcement-learning trainer, which uses ``PolicyOutput.gate_log_prob`` with a compute penalty).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..backends.energy import ComputeCost
from ..observation import MODALITIES
from ..preprocess import FusionInputs
from .base import (ARCHITECTURES, ArchitectureConfig, FusionArchitecture, PolicyOutput, State, require_divisible,
                   require_positive)
from .control_pathways import ControlPathwayConfig, ControlPathways
from .encoders import GoalPathway, HeldTokens, SummaryEncoders
from .layers import linear_macs

GATE_MODES = ('all', 'threshold', 'sample')
#: Modalities whose unchanged input's token is held instead of encoded again (encoders.HeldTokens).
HELD_MODALITIES = ('camera', 'tactile', 'events')
_HELD_INDEX = [MODALITIES.index(name) for name in HELD_MODALITIES]


@dataclass(frozen=True)
class NVSFAConfig(ArchitectureConfig, ControlPathwayConfig):
    # (reflex_pathway, freeze_pathway, descent_pathway and their settings: ControlPathwayConfig)
    d_model: int = 32             # width of each sensor token and of the attention readout
    d_plan: int = 64              # GRU state size: the action plan
    n_heads: int = 4              # readout heads: each blends the tokens with its own weights, so one tick
                                  # can read where the cube is (camera), where the tool is (proprio) and the
                                  # force (wrist) together; one softmax blend had to pick between them
    gate_mode: str = 'threshold'  # default gate mode at deployment; see the module docstring
    feed_back_action: bool = True  # False: the plan is not fed its previous action (zeros in its place; see forward)
    gate_threshold: float = 0.5   # an encoder runs when its gate probability exceeds this (threshold mode)
    gate_reads_staleness: bool = False   # the gate also reads on how many ticks each held token has stood in for
                                  # a newer input (the age of the last sighting); False: the plan and action alone
    gate_max_stand_in: int = 0    # a held token stands in for a newer input on at most this many ticks in a
                                  # row, then its encoder runs whatever the gate says (0: no bound): how stale
                                  # a sense may get. Why: a gate free to skip stopped looking for seconds
                                  # (README, next step 4). 7 ticks at 100 Hz: one skipped 15 Hz camera frame
    ungated_modalities: tuple[str, ...] = ()   # encoders that run whenever their input is present, whatever the gate
                                  # says; not part of the decision RL credits (e.g. the joints: the goal
                                  # pathway's tool estimate reads them every tick)
    camera_keypoint_sharpness: float = 1.0   # scales the camera keypoint maps before their softmax (CameraKeypointEncoder)
    goal_pathway: bool = False    # command from goal - tool (module docstring); False: the head reads the plan alone
    goal_candidates: int = 3      # objects the instruction chooses between (goal_pathway): the task's three cubes

    def __post_init__(self):
        super().__post_init__()
        require_positive(self, 'd_model', 'd_plan', 'n_heads', 'goal_candidates')
        if isinstance(self.gate_max_stand_in, bool) or not isinstance(self.gate_max_stand_in, int) \
                or self.gate_max_stand_in < 0:
            raise ValueError(f'NVSFAConfig.gate_max_stand_in must be an integer >= 0 (0: no bound), '
                             f'got {self.gate_max_stand_in!r}')
        require_divisible(self, 'd_model', 'n_heads')
        if self.gate_mode not in GATE_MODES:
            raise ValueError(f'NVSFAConfig.gate_mode must be one of {GATE_MODES}, got {self.gate_mode!r}')
        if not 0.0 < self.gate_threshold < 1.0:
            raise ValueError(f'NVSFAConfig.gate_threshold must be in (0, 1), got {self.gate_threshold}')
        if isinstance(self.ungated_modalities, str):
            raise ValueError(f'NVSFAConfig.ungated_modalities must be a list of modalities, got {self.ungated_modalities!r}')
        object.__setattr__(self, 'ungated_modalities', tuple(self.ungated_modalities))   # a YAML list
        unknown = [name for name in self.ungated_modalities if name not in MODALITIES]
        if unknown:
            raise ValueError(f'NVSFAConfig.ungated_modalities: unknown {unknown}; known: {list(MODALITIES)}')
        self.check_control_pathways(self.goal_pathway)


@ARCHITECTURES.register('nvsf_a')
class NVSFActionPerception(ControlPathways, FusionArchitecture):
    key = 'nvsf_a'
    config_class = NVSFAConfig

    def __init__(self, config: NVSFAConfig):
        super().__init__(config)
        c, d = config, config.d_model
        self.encoders = SummaryEncoders(c.preprocess, MODALITIES, d, c.camera_keypoint_sharpness)
        self.modality_embedding = nn.Parameter(torch.zeros(len(MODALITIES), d))
        nn.init.normal_(self.modality_embedding, std=0.02)
        self.gate = nn.Linear(c.d_plan + c.action_dim, len(MODALITIES))
        nn.init.constant_(self.gate.bias, 3.0)   # start with every encoder on: cloning sees all senses
        self.query = nn.Linear(c.d_plan, d)
        self.value = nn.Linear(d, d)
        self.core = nn.GRUCell(d + c.action_dim, c.d_plan)
        if c.goal_pathway:
            self.goal = GoalPathway(d, c.d_plan, 2 * c.preprocess.max_joints, c.goal_candidates)
            self.head = nn.Sequential(nn.Linear(c.d_plan + 2, c.d_plan), nn.ReLU(), nn.Linear(c.d_plan, c.action_dim))
        else:
            self.head = nn.Linear(c.d_plan, c.action_dim)
        self.build_control_pathways()
        self.held_tokens = HeldTokens(HELD_MODALITIES, d, c.preprocess)
        if c.gate_reads_staleness:
            # Why: the gate trained on the plan alone, once it stopped looking, stopped for seconds (runs
            # of up to 133 skipped camera frames, 87 of 100 held out) where a fixed rule skipping every
            # other frame won 95 (README, next step 4). Starts at zero: the gate's decisions unchanged.
            self.gate_staleness = nn.Linear(len(HELD_MODALITIES), len(MODALITIES), bias=False)
            nn.init.zeros_(self.gate_staleness.weight)
        self.register_buffer('ungated', torch.tensor([name in c.ungated_modalities for name in MODALITIES]),
                             persistent=False)                                  # (M,) bool
        self.gate_mode = c.gate_mode

    @property
    def gate_mode(self) -> str:
        return self._gate_mode

    @gate_mode.setter
    def gate_mode(self, mode: str) -> None:
        if mode not in GATE_MODES:
            raise ValueError(f'gate_mode must be one of {GATE_MODES}, got {mode!r}')
        self._gate_mode = mode

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> State:
        c = self.config
        state = (torch.zeros(batch_size, c.d_plan, device=device),        # plan
                 torch.zeros(batch_size, c.action_dim, device=device))    # previous action
        if c.goal_pathway:
            state += self.goal.initial_state(batch_size, device)                 # last candidates, last tool
        state += self.held_tokens.initial_state(batch_size, device)
        if self.tracks_staleness:
            state += (torch.zeros(batch_size, len(HELD_MODALITIES), device=device),)   # ticks stood in for newer inputs
        return state + self.control_pathway_state(batch_size, device)

    def _held_slice(self) -> slice:
        start = 4 if self.config.goal_pathway else 2
        return slice(start, start + self.held_tokens.entries)

    @property
    def tracks_staleness(self) -> bool:
        """The state counts the ticks each held token stood in for a newer input: the gate reads it, or bounds it."""
        return self.config.gate_reads_staleness or self.config.gate_max_stand_in > 0

    def _staleness(self, state: State) -> Optional[torch.Tensor]:
        """(B, H) ticks on which each held token has stood in for a newer input since its encoder ran, or None."""
        return state[self._held_slice().stop] if self.tracks_staleness else None

    def decide_gate(self, plan_and_action: torch.Tensor, valid: torch.Tensor,
                    staleness: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(gate (B, M) bool, log-probability (B,) of the gate over the valid modalities); ``staleness``
        (B, H) with ``gate_reads_staleness`` or ``gate_max_stand_in``."""
        logits = self.gate(plan_and_action)                                     # (B, M)
        if staleness is not None and self.config.gate_reads_staleness:
            # Saturates after 8 ticks, about one camera frame at 15 Hz under a 100 Hz loop.
            logits = logits + self.gate_staleness(staleness.clamp(max=8.0) / 4.0)
        if self.gate_mode == 'all':
            chosen = torch.ones_like(valid)
        elif self.gate_mode == 'sample':
            chosen = torch.bernoulli(torch.sigmoid(logits.detach())).bool()
        else:
            chosen = torch.sigmoid(logits) > self.config.gate_threshold
        # A missing modality is never run; an ungated one always runs, and so does a held one whose token
        # has stood in for a newer input on gate_max_stand_in ticks: none of these is part of the decision
        # the gate is credited for.
        forced = self.ungated.expand_as(valid)                                  # (B, M)
        if staleness is not None and self.config.gate_max_stand_in:
            overdue = torch.zeros_like(valid)
            overdue[:, _HELD_INDEX] = staleness >= self.config.gate_max_stand_in
            forced = forced | overdue
        chosen = chosen | forced
        log_prob = torch.where(chosen, F.logsigmoid(logits), F.logsigmoid(-logits))
        return chosen & valid, (log_prob * (valid & ~forced)).sum(dim=1)

    @torch.no_grad()
    def next_gate(self, state: State) -> Optional[list[bool]]:
        """The gate's decision for the next tick (batch of one, one flag per modality), known before any
        sensor is read. Deterministic modes only: in ``sample`` mode the draw happens inside ``forward``."""
        plan, previous_action = state[:2]
        if self.gate_mode == 'sample' or plan.shape[0] != 1:
            return None
        everything = torch.ones(1, len(MODALITIES), dtype=torch.bool, device=plan.device)
        gate, _ = self.decide_gate(torch.cat([plan, previous_action], dim=1), everything, self._staleness(state))
        return gate[0].tolist()

    def encoders_needed(self, state: State) -> Optional[tuple[bool, ...]]:
        """The inputs the next tick reads (batch of one): those the gate will run (:meth:`next_gate`),
        those the control pathways read raw, and those whose held token stands in when skipped."""
        needed = self.next_gate(state)
        if needed is None:
            return None
        for name in self.control_pathway_inputs():   # read every tick (the freeze also needs the force)
            needed[MODALITIES.index(name)] = True
        # A skipped modality with a held token is stood in for, not masked (forward): its input must be
        # read for that, as the trainer reads it. Left unread, a skipped tactile pad was masked at
        # deployment where the gate had trained with its held token, and success fell (README, step 4).
        held_seen = state[self._held_slice()][1][0].tolist()                   # (H,) a token is held
        for name, seen in zip(HELD_MODALITIES, held_seen):
            needed[MODALITIES.index(name)] |= seen
        return tuple(needed)

    def encode_window(self, inputs: FusionInputs, ticks: int) -> dict[str, torch.Tensor]:
        """FusionArchitecture.encode_window: ``tokens`` (T * B, M, D), every encoder's token on the rows
        whose modality is present, and with the freeze ``freeze`` (T * B, W), its input term
        (ControlPathways.control_pathway_window).

        For the gate modes that skip encoders (``threshold``, ``sample``), ``forward`` zeroes what the
        gate skipped, as :meth:`encode_gated` leaves it.
        """
        encoded = {'tokens': torch.stack([self.encoders.encode_window(name, inputs, ticks, inputs.mask[:, index])
                                          for index, name in enumerate(MODALITIES)], dim=1)}   # (T * B, M, D)
        return self.with_control_pathway_window(encoded, inputs)

    def forward(self, inputs: FusionInputs, state: State, encoded: Optional[dict[str, torch.Tensor]] = None,
                goal_teacher: Optional[torch.Tensor] = None) -> PolicyOutput:
        """One tick; ``encoded``: this tick's rows of :meth:`encode_window`, in training only;
        ``goal_teacher`` (B, 2), training only: the true goal - tool the head reads on its non-NaN rows
        (encoders.GoalPathway.decide)."""
        self.check_goal_teacher(goal_teacher)
        plan, previous_action = state[:2]
        b, d = inputs.batch_size, self.config.d_model
        plan_and_action = torch.cat([plan, previous_action], dim=1)            # (B, P + A)
        staleness = self._staleness(state)                                      # (B, H) or None
        gate, gate_log_prob = self.decide_gate(plan_and_action, inputs.mask, staleness)
        held = state[self._held_slice()]
        # Training updates the weights between windows, so a held token would be stale there: every
        # chosen encoder runs, and nothing is held.
        run, attended = gate, gate                                              # (B, M) each
        if not self.training:
            # The held token stands in where the input is unchanged (the same token), and where the gate
            # skipped a present input: not looking keeps what was last seen, as the goal pathway keeps
            # the last sighting. Masked instead, a skipped camera left the plan without the cubes and a
            # gate trained by reinforcement learning to skip it lowered success (README, Results).
            present = inputs.mask[:, _HELD_INDEX]                               # (B, H)
            unchanged = self.held_tokens.unchanged(inputs, present, held)       # (B, H)
            stand_in = unchanged | (present & held[1] & ~gate[:, _HELD_INDEX])  # (B, H)
            run, attended = gate.clone(), gate.clone()
            run[:, _HELD_INDEX] &= ~stand_in
            attended[:, _HELD_INDEX] |= stand_in
            if staleness is not None:   # a tick the held token stood in for a newer input; a run renews it
                staleness = torch.where(run[:, _HELD_INDEX], torch.zeros_like(staleness),
                                        staleness + (stand_in & ~unchanged).float())   # (B, H)
        if encoded is None:
            tokens, encoder_macs = self.encode_gated(inputs, run)               # (B, M, D)
        else:
            if not self.training:
                raise ValueError('NVSF-A takes encoded tokens in training only: at inference it holds tokens')
            tokens = torch.where(run[:, :, None], encoded['tokens'], torch.zeros_like(encoded['tokens']))   # (B, M, D)
            encoder_macs = self._encoder_macs(run.sum(dim=0).tolist())
        if not self.training:
            if stand_in.any():
                tokens = tokens.clone()
                tokens[:, _HELD_INDEX] = torch.where(stand_in[:, :, None], held[0], tokens[:, _HELD_INDEX])
            held = self.held_tokens.update(held, run[:, _HELD_INDEX], tokens[:, _HELD_INDEX], inputs)
        if self.config.goal_pathway:   # from the raw camera token, before the modality embedding
            # A held camera token locates what it located when made: the last candidates stand.
            located = self.goal.locate(inputs, tokens[:, MODALITIES.index('camera')],
                                       run[:, MODALITIES.index('camera')], run[:, MODALITIES.index('proprio')], *state[2:4])
        tokens = tokens + self.modality_embedding
        h = self.config.n_heads
        m = tokens.shape[1]
        query = self.query(plan).view(b, h, 1, d // h)                         # (B, H, 1, D/H)
        keys = tokens.view(b, m, h, d // h).transpose(1, 2)                     # (B, H, M, D/H)
        values = self.value(tokens).view(b, m, h, d // h).transpose(1, 2)      # (B, H, M, D/H)
        scores = (query @ keys.transpose(2, 3)) / math.sqrt(d // h)            # (B, H, 1, M)
        weights = torch.softmax(scores.masked_fill(~attended[:, None, None, :], float('-inf')), dim=-1)
        weights = torch.nan_to_num(weights, nan=0.0)                            # no encoder ran: empty readout
        readout = (weights @ values).reshape(b, d)                              # (B, D)
        plan = self.core(torch.cat([readout, previous_action], dim=1), plan)   # (B, P)
        goal, head_input = {}, plan
        if self.config.goal_pathway:
            goal, head_input, goal_macs = self.goal.decide(plan, located, teacher_offset=goal_teacher)   # (B, P + 2)
            encoder_macs += goal_macs
        head_logits = self.head(head_input)                                     # (B, A)
        # The reflex reads the raw wrench whatever the gate says of its encoder (control_pathway_inputs):
        # gated by the encoder's choice, a gate that skipped the wrench encoder switched the press off.
        head_output, pathway_state, goal, held_macs = self.command_through_pathways(
            head_logits, inputs, inputs.mask[:, MODALITIES.index('wrench')], goal, state,
            None if encoded is None else encoded.get('freeze'))                 # head_output (B, A)
        cost = ComputeCost(dense_macs=encoder_macs + self._fixed_macs(b) - held_macs)
        # Fed back, the previous action let cloning "copy" the motion already under way: the
        # policy learned to continue a motion but never to start one from rest (0 of 12 held-out
        # episodes left the start; with the expert starting it on 25 % of the ticks, 10 of 12
        # succeeded). Without it, the plan must come from the senses. Zeros keep the shapes, so
        # weights trained either way fine-tune into the other.
        fed_back = head_output if self.config.feed_back_action else torch.zeros_like(head_output)
        next_state = (plan, fed_back) + ((goal['candidates'], goal['tool']) if goal else ()) + held \
            + ((staleness,) if staleness is not None else ()) + pathway_state
        return PolicyOutput(action=self.shape_action(head_output), head_output=head_output,
                            state=next_state, cost=cost, gate_log_prob=gate_log_prob, gate=run, goal=goal)

    def encode_gated(self, inputs: FusionInputs, gate: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Runs only the gated-on encoders, only on the rows that asked; (B, M, D) tokens and their MACs."""
        b, d = inputs.batch_size, self.config.d_model
        if b == 1:
            # The deployment path: plain Python flags, no index bookkeeping (half of NVSF-A's latency).
            on = gate[0].tolist()
            zero = inputs.proprio.new_zeros(1, d)
            tokens = torch.stack([self.encoders.encode(name, inputs) if on[i] else zero
                                  for i, name in enumerate(MODALITIES)], dim=1)   # (1, M, D)
            return tokens, self._encoder_macs([int(flag) for flag in on])
        tokens = inputs.proprio.new_zeros(b, len(MODALITIES), d)                # (B, M, D)
        for index, name in enumerate(MODALITIES):
            rows = gate[:, index].nonzero().squeeze(1)                          # (R,)
            if rows.numel() == 0:
                continue                                                        # skipped: no compute at all
            tokens = tokens.index_put((rows, torch.full_like(rows, index)),
                                      self.encoders.encode(name, inputs, rows))
        return tokens, self._encoder_macs(gate.sum(dim=0).tolist())

    def _encoder_macs(self, rows_run: list[int]) -> int:
        """MACs of the encoders, each run on ``rows_run[m]`` rows (MODALITIES order)."""
        return sum(self.encoders.macs(name, rows) for name, rows in zip(MODALITIES, rows_run) if rows)

    def _fixed_macs(self, b: int) -> int:
        """MACs that do not depend on the gate: gate, query, value, attention, GRU, head, control pathways."""
        m, d, c = len(MODALITIES), self.config.d_model, self.config
        gru = 3 * c.d_plan * (self.core.input_size + c.d_plan) * b
        attention = 2 * b * m * d
        staleness = linear_macs(self.gate_staleness, b) if self.config.gate_reads_staleness else 0
        return (linear_macs(self.gate, b) + staleness + linear_macs(self.query, b) + linear_macs(self.value, b * m)
                + attention + gru + linear_macs(self.head, b) + self.control_pathway_macs(b))

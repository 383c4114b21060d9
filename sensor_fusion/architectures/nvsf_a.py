"""NVSF-A, the action-perception loop: a recurrent action plan that decides what to look at.

Per tick::

    gate      = sigmoid(W_g [plan, previous action])      which encoders to run at all
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
from .encoders import GoalPathway, SummaryEncoders
from .layers import linear_macs

REFLEX_MODES = ('add', 'take_over')
#: What of the newest wrist force (N) the reflex reads, beside the tool's table position (2, normalised):
#: its three components, or their magnitude alone (a number of inputs each).
REFLEX_FORCE_INPUTS = {'vector': 3, 'magnitude': 1}
REFLEX_WIDTH = 32
FREEZE_WIDTH = 32
#: The freeze pathway stops the tool only below this wrist force: while pressing, holding the force is
#: what keeps the tool still. The expert's 0.3 N (sim.expert.act) is of the pad's true normal force;
#: the wrist sensor reads 0.5-0.9 N while the arm travels and brakes (measured, seed 90003), which
#: at 0.3 N let the arm drive on through the ball's pass with the freeze at 0.9.
FREEZE_BELOW_N = 2.0
DESCENT_WIDTH = 32
DESCENT_CURVE_WIDTH = 64
# tip_height's output is (height - offset) / scale: the travel and descent heights (5-12 cm) map to
# about -1.5..2, where the bound's ReLUs can place the expert's step at 6.5 cm. Fed the height in
# decimetres (0.5-1.2), the fitted bound was a straight line, 0.035 m/s where the expert does 0.01.
TIP_HEIGHT_OFFSET_M = 0.08
TIP_HEIGHT_SCALE_M = 0.02
UNFITTED_PRESS_HEIGHT = 1e3   # in tip_height's units: 20 m, any height
GATE_MODES = ('all', 'threshold', 'sample')


@dataclass(frozen=True)
class NVSFAConfig(ArchitectureConfig):
    d_model: int = 32             # width of each sensor token and of the attention readout
    d_plan: int = 64              # GRU state size: the action plan
    n_heads: int = 4              # readout heads: each blends the tokens with its own weights, so one tick
                                  # can read where the cube is (camera), where the tool is (proprio) and the
                                  # force (wrist) together; one softmax blend had to pick between them
    gate_mode: str = 'threshold'  # default gate mode at deployment; see the module docstring
    feed_back_action: bool = True  # False: the plan is not fed its previous action (zeros in its place; see forward)
    gate_threshold: float = 0.5   # an encoder runs when its gate probability exceeds this (threshold mode)
    camera_keypoint_sharpness: float = 1.0   # scales the camera keypoint maps before their softmax (CameraKeypointEncoder)
    goal_pathway: bool = False    # command from goal - tool (module docstring); False: the head reads the plan alone
    goal_candidates: int = 3      # objects the instruction chooses between (goal_pathway): the task's three cubes
    reflex_pathway: bool = False  # the wrist force (pressed_force) and the tool's position command the push (forward)
    reflex_mode: str = 'add'      # 'add' to the head's output; 'take_over': replace its push as the force rises (forward)
    reflex_force: str = 'vector'  # the reflex reads the wrist force 'vector' or its 'magnitude' (reflex_input)
    reflex_filter_samples: float = 0.0   # the reflex's force: low-passed over this many wrench samples (pressed_force)
    freeze_pathway: bool = False  # a detector on the raw events and image stops the command while a ball passes (forward)
    freeze_hold: float = 0.9      # the freeze decays by this per tick unless seen again (freeze_pathway)
    descent_pathway: bool = False  # the joint angles bound how fast the head may descend before contact (forward)

    def __post_init__(self):
        super().__post_init__()
        require_positive(self, 'd_model', 'd_plan', 'n_heads', 'goal_candidates')
        require_divisible(self, 'd_model', 'n_heads')
        if self.gate_mode not in GATE_MODES:
            raise ValueError(f'NVSFAConfig.gate_mode must be one of {GATE_MODES}, got {self.gate_mode!r}')
        if not 0.0 < self.gate_threshold < 1.0:
            raise ValueError(f'NVSFAConfig.gate_threshold must be in (0, 1), got {self.gate_threshold}')
        if self.reflex_mode not in REFLEX_MODES:
            raise ValueError(f'NVSFAConfig.reflex_mode must be one of {REFLEX_MODES}, got {self.reflex_mode!r}')
        if self.reflex_force not in REFLEX_FORCE_INPUTS:
            raise ValueError(f'NVSFAConfig.reflex_force must be one of {tuple(REFLEX_FORCE_INPUTS)}, '
                             f'got {self.reflex_force!r}')
        if self.reflex_pathway and not self.goal_pathway:
            raise ValueError('NVSFAConfig.reflex_pathway reads the tool position of the goal pathway: '
                             'it needs goal_pathway: true')
        if self.reflex_filter_samples < 0.0:
            raise ValueError(f'NVSFAConfig.reflex_filter_samples must be >= 0, got {self.reflex_filter_samples}')
        if not 0.0 <= self.freeze_hold < 1.0:
            raise ValueError(f'NVSFAConfig.freeze_hold must be in [0, 1), got {self.freeze_hold}')
        if self.freeze_pathway and not self.goal_pathway:
            raise ValueError('NVSFAConfig.freeze_pathway reads the tool position of the goal pathway: '
                             'it needs goal_pathway: true')
        if self.descent_pathway and not (self.reflex_pathway and self.reflex_mode == 'take_over'):
            raise ValueError('NVSFAConfig.descent_pathway hands the push over to the reflex in contact: '
                             'it needs reflex_pathway: true and reflex_mode: take_over')


@ARCHITECTURES.register('nvsf_a')
class NVSFActionPerception(FusionArchitecture):
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
        if c.reflex_pathway:
            self.reflex = nn.Sequential(nn.Linear(REFLEX_FORCE_INPUTS[c.reflex_force] + 2, REFLEX_WIDTH), nn.ReLU(),
                                        nn.Linear(REFLEX_WIDTH, c.action_dim))
            # Zero output at first: weights trained without the pathway command exactly as before.
            nn.init.zeros_(self.reflex[-1].weight)
            nn.init.zeros_(self.reflex[-1].bias)
            if c.reflex_mode == 'take_over':
                # The share of the command the reflex takes, from the force: 0.2 % at rest, 88 % at
                # 4 N at first (its commands then start at zero: train it before use).
                self.reflex_share = nn.Linear(1, 1)
                nn.init.constant_(self.reflex_share.weight, 2.0)
                nn.init.constant_(self.reflex_share.bias, -6.0)
            if c.reflex_filter_samples > 0:
                # The low-pass of pressed_force over the wrench window, oldest sample first: fixed,
                # so computed once here (not a weight: not saved with them).
                age = torch.arange(c.preprocess.haptic.window - 1, -1, -1, dtype=torch.float32)   # (W,)
                weights = torch.exp(-age / c.reflex_filter_samples)
                self.register_buffer('reflex_filter', weights / weights.sum(), persistent=False)
        if c.freeze_pathway:
            ev = c.preprocess.events
            self.freeze = nn.Sequential(nn.Linear(ev.channels * ev.grid ** 2 + 3 * c.preprocess.camera.size ** 2 + 2,
                                                  FREEZE_WIDTH), nn.ReLU(),
                                        nn.Linear(FREEZE_WIDTH, 1))
            # Off at first (share 2e-9): weights trained without the pathway command as before. It is
            # fitted by its own loss on the expert's freezes (tools/fit_freeze.py), not through the
            # action loss, whose gradient through a saturated sigmoid would be nil.
            nn.init.zeros_(self.freeze[-1].weight)
            nn.init.constant_(self.freeze[-1].bias, -20.0)
        if c.descent_pathway:
            # Two stages, each fitted by its own loss (tools/fit_descent.py): the tip's height from the
            # joint angles (regression on forward kinematics), then the bound from the height (a low
            # quantile of the expert's commands). One network from the joints straight to the bound
            # blurred the expert's 1.5 cm step between 0.05 and 0.01 m/s: it bounded at 0.04 m/s there.
            self.tip_height = nn.Sequential(nn.Linear(2 * c.preprocess.max_joints, DESCENT_WIDTH), nn.ReLU(),
                                            nn.Linear(DESCENT_WIDTH, DESCENT_WIDTH), nn.ReLU(),
                                            nn.Linear(DESCENT_WIDTH, 1))
            self.descent = nn.Sequential(nn.Linear(1, DESCENT_CURVE_WIDTH), nn.ReLU(), nn.Linear(DESCENT_CURVE_WIDTH, 1))
            # No bound at first (-sigmoid(20) = -1, full speed).
            nn.init.zeros_(self.descent[-1].weight)
            nn.init.constant_(self.descent[-1].bias, 20.0)
            # The highest tip_height output at which the pad presses a cube (fit_descent.py, from the
            # demonstrations' presses); the freeze takes a force above it for braking, not a press.
            # Unfitted: any height (the force alone decides, as without the pathway).
            self.register_buffer('press_height', torch.tensor(UNFITTED_PRESS_HEIGHT))
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
        if c.freeze_pathway:
            state += (torch.zeros(batch_size, device=device),)                  # the freeze held from earlier ticks
        return state

    def decide_gate(self, plan_and_action: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gate (B, M) bool, log-probability (B,) of the gate over the valid modalities)."""
        logits = self.gate(plan_and_action)                                     # (B, M)
        if self.gate_mode == 'all':
            chosen = torch.ones_like(valid)
        elif self.gate_mode == 'sample':
            chosen = torch.bernoulli(torch.sigmoid(logits.detach())).bool()
        else:
            chosen = torch.sigmoid(logits) > self.config.gate_threshold
        # A missing modality is never run and not part of the decision the gate is credited for.
        log_prob = torch.where(chosen, F.logsigmoid(logits), F.logsigmoid(-logits))
        return chosen & valid, (log_prob * valid).sum(dim=1)

    @torch.no_grad()
    def encoders_needed(self, state: State) -> Optional[tuple[bool, ...]]:
        """The gate's decision for the next tick (batch of one), known before any sensor is read.

        Deterministic modes only: in ``sample`` mode the draw happens inside ``forward``.
        """
        plan, previous_action = state[:2]
        if self.gate_mode == 'sample' or plan.shape[0] != 1:
            return None
        everything = torch.ones(1, len(MODALITIES), dtype=torch.bool, device=plan.device)
        gate, _ = self.decide_gate(torch.cat([plan, previous_action], dim=1), everything)
        needed = gate[0].tolist()
        if self.config.freeze_pathway:   # it watches every tick, and needs the force to know a press
            for name in ('events', 'camera', 'wrench'):
                needed[MODALITIES.index(name)] = True
        if self.config.descent_pathway:  # it reads the joint angles every tick
            needed[MODALITIES.index('proprio')] = True
        return tuple(needed)

    def forward(self, inputs: FusionInputs, state: State) -> PolicyOutput:
        plan, previous_action = state[:2]
        b, d = inputs.batch_size, self.config.d_model
        plan_and_action = torch.cat([plan, previous_action], dim=1)            # (B, P + A)
        gate, gate_log_prob = self.decide_gate(plan_and_action, inputs.mask)
        tokens, encoder_macs = self.encode_gated(inputs, gate)                  # (B, M, D)
        if self.config.goal_pathway:   # from the raw camera token, before the modality embedding
            located = self.goal.locate(inputs, tokens[:, MODALITIES.index('camera')],
                                       gate[:, MODALITIES.index('camera')], gate[:, MODALITIES.index('proprio')], *state[2:4])
        tokens = tokens + self.modality_embedding
        h = self.config.n_heads
        m = tokens.shape[1]
        query = self.query(plan).view(b, h, 1, d // h)                         # (B, H, 1, D/H)
        keys = tokens.view(b, m, h, d // h).transpose(1, 2)                     # (B, H, M, D/H)
        values = self.value(tokens).view(b, m, h, d // h).transpose(1, 2)      # (B, H, M, D/H)
        scores = (query @ keys.transpose(2, 3)) / math.sqrt(d // h)            # (B, H, 1, M)
        weights = torch.softmax(scores.masked_fill(~gate[:, None, None, :], float('-inf')), dim=-1)
        weights = torch.nan_to_num(weights, nan=0.0)                            # no encoder ran: empty readout
        readout = (weights @ values).reshape(b, d)                              # (B, D)
        plan = self.core(torch.cat([readout, previous_action], dim=1), plan)   # (B, P)
        goal, head_input = {}, plan
        if self.config.goal_pathway:
            goal, head_input, goal_macs = self.goal.decide(plan, located)      # head_input (B, P + 2)
            encoder_macs += goal_macs
        head_logits = self.head(head_input)                                     # (B, A)
        if self.config.descent_pathway:
            height = self.tip_height(inputs.proprio)                            # (B, 1)
            joints_felt = inputs.mask[:, MODALITIES.index('proprio')].float()[:, None]   # (B, 1): the joints arrived
        if self.config.reflex_pathway:
            # The press needs its push to ~1 % of full speed, as a function of the force and of the
            # reach (sim.expert.press_admittance): through the tokens, the attention readout and the
            # GRU the head got it to ~4 % (README, Results). Here it reads them directly.
            felt = gate[:, MODALITIES.index('wrench')].float()[:, None]         # (B, 1): the wrench was read
            # In newtons: scaled as the wrench window (1/20), 1 N was a step of 0.05 among inputs of
            # order 1, and the pathway barely learned (its push off by 4 % of full speed after 6 epochs).
            force = self.pressed_force(inputs.wrench) * felt                     # (B, 3) N
            reflex = self.reflex(self.reflex_input(force, goal['tool'].detach()))   # (B, A); tool detached as for the head
            if self.config.reflex_mode == 'add':
                head_logits = head_logits + reflex
            else:
                # An additive reflex cannot cancel an error of the head's that varies with the plan
                # (README, Results); taking over, the pressing command is the reflex's alone.
                # Only the vertical push: the reflex does not know where the cube is, and the expert
                # keeps centring while it presses (sim.expert.act).
                share = torch.sigmoid(self.reflex_share(force.norm(dim=1, keepdim=True)))   # (B, 1)
                head_vertical = head_logits[:, 2:3]                              # (B, 1)
                if self.config.descent_pathway:
                    # Before contact only: as the reflex takes over the push, the bound lifts.
                    bound = self.descent_bound(height, joints_felt) * (1.0 - share) - share   # (B, 1) in [-1, 0]
                    # atanh of the clamped bound: finite (-7.3 at -1, no bound) and without a NaN gradient.
                    head_vertical = torch.maximum(head_vertical, torch.atanh(bound.clamp(-1.0 + 1e-6, 0.0)))
                vertical = head_vertical + share * (reflex[:, 2:3] - head_vertical)
                head_logits = torch.cat([head_logits[:, :2], vertical, head_logits[:, 3:]], dim=1)   # (B, A)
        head_output = torch.tanh(head_logits)                                   # (B, A)
        freeze = None
        if self.config.freeze_pathway:
            # Held: seen once, a ball stays a threat for a while. Measured without it, the detector's
            # per-tick answer flickered as the ball approached (0.4, 0.7, 0.6, 0.9, 0.6 over ten
            # ticks), and the arm moved on between the freezes.
            freeze = torch.maximum(self.freeze_probability(inputs, goal['tool'].detach()),
                                   self.config.freeze_hold * state[-1])         # (B,)
            force = inputs.wrench[:, -1, :3].norm(dim=1) * self.config.preprocess.haptic.force_scale_n   # (B,) N
            # No wrench sample: no freeze either, since a press cannot be told from travel (the
            # "without wrench" ablation ran so; freezing then would be the safer default, README).
            pressing = force >= FREEZE_BELOW_N                                  # (B,)
            if self.config.descent_pathway:
                # A press is a force at the cube tops' height. Traced with an 8 ms command delay
                # (seed 90034), braking from travel speed for a ball read over 2 N at the wrist, the
                # freeze let go, and the arm drove on into the ball's zone. Without the joints: force alone.
                pressing = pressing & ((height[:, 0] <= self.press_height) | (joints_felt[:, 0] == 0))
            stop = freeze * (~pressing).float() * inputs.mask[:, MODALITIES.index('wrench')].float()
            head_output = head_output * (1.0 - stop[:, None])                    # (B, A); shaped: x (1 - stop)^3
        cost = ComputeCost(dense_macs=encoder_macs + self._fixed_macs(b))
        # Fed back, the previous action let cloning "copy" the motion already under way: the
        # policy learned to continue a motion but never to start one from rest (0 of 12 held-out
        # episodes left the start; with the expert starting it on 25 % of the ticks, 10 of 12
        # succeeded). Without it, the plan must come from the senses. Zeros keep the shapes, so
        # weights trained either way fine-tune into the other.
        fed_back = head_output if self.config.feed_back_action else torch.zeros_like(head_output)
        next_state = (plan, fed_back) + ((goal['candidates'], goal['tool']) if goal else ())
        if freeze is not None:
            next_state += (freeze,)
            goal = {**goal, 'freeze': freeze}
        return PolicyOutput(action=self.shape_action(head_output), head_output=head_output,
                            state=next_state, cost=cost, gate_log_prob=gate_log_prob, gate=gate, goal=goal)

    def freeze_logit(self, events: torch.Tensor, image: torch.Tensor, valid: torch.Tensor,
                     tool: torch.Tensor) -> torch.Tensor:
        """(B,) logit that the expert would hold still for a passing ball here.

        Measured: the plan cross-attends to pooled event tokens (8 x 8) and drove on through 7 of 40
        ball passes (selection seeds) at full travel speed, never slowing (README, Results). A fast
        ball is a dense streak of events on the full 32 x 32 raster, which a small detector finds.
        The camera shows the (yellow) ball as soon as it is launched, when it is still a few events
        far away; the tool's position says whether the ball is still coming at the tool or past it.
        ``valid`` (B, 2): the events and the camera arrived.
        """
        counts = events.abs().sum(dim=1).flatten(1) * valid[:, :1]              # (B, C * E * E): bins summed
        pixels = image.flatten(1) * valid[:, 1:]                                 # (B, 3 * S * S)
        return self.freeze(torch.cat([torch.log1p(counts), pixels, tool], dim=1))[:, 0]

    def pressed_force(self, wrench: torch.Tensor) -> torch.Tensor:
        """(B, 3) the wrist force the reflex acts on, in N, from the preprocessed window (B, W, 6), newest last.

        ``reflex_filter_samples`` 0: the newest sample. Above 0: an exponential low-pass over the window
        with that time constant in samples. Why: traced with an 8 ms command delay (seed 100000), a
        reflex acting on each newest sample set up a 40 ms limit cycle, the wrist reading 1.1, 5.5,
        2.3, 7.6 N tick after tick while the pad bounced off the cube, so the 0.5 s hold never
        completed. The expert it imitates acts on the pad force low-passed over 10 ms.
        """
        if self.config.reflex_filter_samples > 0.0:
            weights = self.reflex_filter.expand(wrench.shape[0], 1, -1)          # (B, 1, W)
            force = (weights @ wrench[:, :, :3])[:, 0]                          # (B, 3): W x 3 MACs a row
        else:
            force = wrench[:, -1, :3]                                           # (B, 3)
        return force * self.config.preprocess.haptic.force_scale_n

    def reflex_input(self, force: torch.Tensor, tool: torch.Tensor) -> torch.Tensor:
        """(B, F + 2) what the reflex reads: the wrist force (B, 3) in N (:meth:`pressed_force`), whole or
        its magnitude (``reflex_force``), and the tool's table position (B, 2).

        Why the magnitude: traced with an 8 ms command delay (seed 90020), the pad slid sideways while
        pressing, the wrist read -4..-8 N along x and +2..3 N along y (the expert's presses: about 1 and
        0.2), and the reflex fitted on the vector, far outside its data, pushed down at 0.13 m/s into a
        10 N press until the force limit. The magnitude is the press force in any frame.
        """
        if self.config.reflex_force == 'magnitude':
            force = force.norm(dim=1, keepdim=True)                             # (B, 1)
        return torch.cat([force, tool], dim=1)

    def descent_bound(self, height: torch.Tensor, felt: torch.Tensor) -> torch.Tensor:
        """(B, 1) the fastest descent the head may command at this ``tip_height`` (B, 1) before contact,
        as a head output in [-1, 0].

        Measured over ROS 2: 10 of 100 held-out episodes failed over the force limit at touch-down
        (peaks 12-16 N), the head descending at up to 0.05 m/s onto the cube where the expert slows to
        0.01 m/s for the last 1.5 cm; the command arriving a tick or more late over ROS pushes further.
        The head reads the tip height only through the tokens and the plan; this reads the joint angles
        directly and gives the expert's fastest descent at that pose (a low quantile of its vertical
        commands there, tools/fit_descent.py). ``felt`` (B, 1): the joints arrived; without them, no bound.
        """
        return -torch.sigmoid(self.descent(height)) * felt - (1.0 - felt)       # (B, 1)

    def freeze_probability(self, inputs: FusionInputs, tool: torch.Tensor) -> torch.Tensor:
        valid = inputs.mask[:, [MODALITIES.index('events'), MODALITIES.index('camera')]].float()   # (B, 2)
        seeing = valid.amax(dim=1)                                              # (B,) nothing seen: no freeze
        return torch.sigmoid(self.freeze_logit(inputs.events, inputs.image, valid, tool)) * seeing

    def encode_gated(self, inputs: FusionInputs, gate: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Runs only the gated-on encoders, only on the rows that asked; (B, M, D) tokens and their MACs."""
        b, d = inputs.batch_size, self.config.d_model
        if b == 1:
            # The deployment path: plain Python flags, no index bookkeeping (half of NVSF-A's latency).
            on = gate[0].tolist()
            zero = inputs.proprio.new_zeros(1, d)
            tokens = torch.stack([self.encoders.encode(name, inputs) if on[i] else zero
                                  for i, name in enumerate(MODALITIES)], dim=1)   # (1, M, D)
            return tokens, sum(self.encoders.macs(name, 1) for i, name in enumerate(MODALITIES) if on[i])
        tokens = inputs.proprio.new_zeros(b, len(MODALITIES), d)                # (B, M, D)
        encoder_macs = 0
        for index, name in enumerate(MODALITIES):
            rows = gate[:, index].nonzero().squeeze(1)                          # (R,)
            if rows.numel() == 0:
                continue                                                        # skipped: no compute at all
            tokens = tokens.index_put((rows, torch.full_like(rows, index)),
                                      self.encoders.encode(name, inputs, rows))
            encoder_macs += self.encoders.macs(name, rows.numel())
        return tokens, encoder_macs

    def _fixed_macs(self, b: int) -> int:
        """MACs that do not depend on the gate: gate, query, value, attention, GRU, head."""
        m, d, c = len(MODALITIES), self.config.d_model, self.config
        gru = 3 * c.d_plan * (self.core.input_size + c.d_plan) * b
        attention = 2 * b * m * d
        reflex = sum(linear_macs(layer, b) for layer in self.reflex if isinstance(layer, nn.Linear)) \
            if c.reflex_pathway else 0
        if c.reflex_pathway and c.reflex_mode == 'take_over':
            reflex += linear_macs(self.reflex_share, b)
        if c.reflex_pathway and c.reflex_filter_samples > 0:
            reflex += 3 * c.preprocess.haptic.window * b                        # the force's low-pass
        if c.freeze_pathway:
            reflex += sum(linear_macs(layer, b) for layer in self.freeze if isinstance(layer, nn.Linear))
        if c.descent_pathway:
            reflex += sum(linear_macs(layer, b) for part in (self.tip_height, self.descent)
                          for layer in part if isinstance(layer, nn.Linear))
        return (linear_macs(self.gate, b) + linear_macs(self.query, b) + linear_macs(self.value, b * m)
                + attention + gru + linear_macs(self.head, b) + reflex)

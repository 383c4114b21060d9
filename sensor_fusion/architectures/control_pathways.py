"""The control pathways beside a goal-pathway head (NVSF-A, NVSF-H): reflex, descent and freeze.

Each is a small network that reads raw inputs and the goal pathway's tool estimate, never the
architecture's tokens, and is fitted by its own loss on the ticks that concern it
(``tools/fit_reflex.py``, ``tools/fit_descent.py``, ``tools/fit_freeze.py``). So any architecture
with a goal pathway can carry them, and pathways fitted for one architecture graft onto another
(the tensors have the same names and shapes). Per tick, after the head::

    vertical = descent bound (from the joint angles) on the head's push before contact,
               handed over to the reflex (wrist force + tool) as the force rises
    command  = tanh(head logits with that vertical) * (1 - freeze)    freeze: a ball passes

Measured on NVSF-A, each one attacked a failure of the head alone (README, Results): the press's
push to ~1 % of full speed (the head got ~4 %), the touch-down's descent (10 of 100 over the force
limit), and the stop while a ball passes (7 of 40 drove on through it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..observation import MODALITIES
from ..preprocess import FusionInputs
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
#: The names of the pathways' tensors start with these, in every architecture (weights.load_control_pathways).
PATHWAY_PREFIXES = ('reflex.', 'reflex_share.', 'freeze.', 'tip_height.', 'descent.', 'press_height')


@dataclass(frozen=True)
class ControlPathwayConfig:
    """The pathways' fields, shared by the configs of the architectures that carry them (all off by default)."""

    reflex_pathway: bool = False  # the wrist force (pressed_force) and the tool's position command the push
    reflex_mode: str = 'add'      # 'add' to the head's output; 'take_over': replace its push as the force rises
    reflex_force: str = 'vector'  # the reflex reads the wrist force 'vector' or its 'magnitude' (reflex_input)
    reflex_filter_samples: float = 0.0   # the reflex's force: low-passed over this many wrench samples (pressed_force)
    freeze_pathway: bool = False  # a detector on the raw events and image stops the command while a ball passes
    freeze_hold: float = 0.9      # the freeze decays by this per tick unless seen again (freeze_pathway)
    descent_pathway: bool = False  # the joint angles bound how fast the head may descend before contact

    def check_control_pathways(self, goal_pathway: bool) -> None:
        """Raises ValueError naming the first inconsistent field (called by the config's __post_init__)."""
        name = type(self).__name__
        if self.reflex_mode not in REFLEX_MODES:
            raise ValueError(f'{name}.reflex_mode must be one of {REFLEX_MODES}, got {self.reflex_mode!r}')
        if self.reflex_force not in REFLEX_FORCE_INPUTS:
            raise ValueError(f'{name}.reflex_force must be one of {tuple(REFLEX_FORCE_INPUTS)}, '
                             f'got {self.reflex_force!r}')
        if self.reflex_pathway and not goal_pathway:
            raise ValueError(f'{name}.reflex_pathway reads the tool position of the goal pathway: '
                             'it needs goal_pathway: true')
        if self.reflex_filter_samples < 0.0:
            raise ValueError(f'{name}.reflex_filter_samples must be >= 0, got {self.reflex_filter_samples}')
        if not 0.0 <= self.freeze_hold < 1.0:
            raise ValueError(f'{name}.freeze_hold must be in [0, 1), got {self.freeze_hold}')
        if self.freeze_pathway and not goal_pathway:
            raise ValueError(f'{name}.freeze_pathway reads the tool position of the goal pathway: '
                             'it needs goal_pathway: true')
        if self.descent_pathway and not (self.reflex_pathway and self.reflex_mode == 'take_over'):
            raise ValueError(f'{name}.descent_pathway hands the push over to the reflex in contact: '
                             'it needs reflex_pathway: true and reflex_mode: take_over')


class ControlPathways:
    """Mixin for a :class:`FusionArchitecture` whose config is a :class:`ControlPathwayConfig`.

    The pathways live on the architecture itself (``self.reflex``, ``self.freeze``, ...), so the
    names of their tensors are the same in every architecture that carries them.
    """

    def build_control_pathways(self) -> None:
        """Creates the configured pathways; call in ``__init__`` after ``nn.Module.__init__``."""
        c = self.config
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

    def control_pathway_state(self, batch_size: int, device: torch.device | str = 'cpu') -> tuple[torch.Tensor, ...]:
        """The state entries the pathways carry, last in the architecture's state. With the freeze: the
        image its held image term was made from (B, 3, S, S), that term (B, FREEZE_WIDTH), whether one
        is held (B,) bool, and the held freeze (B,), last."""
        if not self.config.freeze_pathway:
            return ()
        size = self.config.preprocess.camera.size
        return (torch.zeros(batch_size, 3, size, size, device=device), torch.zeros(batch_size, FREEZE_WIDTH, device=device),
                torch.zeros(batch_size, dtype=torch.bool, device=device), torch.zeros(batch_size, device=device))

    def _control_pathway_entries(self) -> int:
        return 4 if self.config.freeze_pathway else 0

    def control_pathway_inputs(self) -> tuple[str, ...]:
        """The modalities the pathways read every tick, raw: they are preprocessed whatever a gate says
        of their encoders."""
        c = self.config
        needed = (('events', 'camera', 'wrench') if c.freeze_pathway else ()) + (('proprio',) if c.descent_pathway else ())
        return needed + (('wrench',) if c.reflex_pathway and 'wrench' not in needed else ())

    def control_pathway_window(self, inputs: FusionInputs) -> Optional[torch.Tensor]:
        """Training: the pathways' share of FusionArchitecture.encode_window, what they read from each tick
        alone: (T * B, FREEZE_WIDTH) the freeze's :meth:`freeze_input_term`, or None without the freeze.
        Measured on NVSF-A's cloning, the freeze's event and image terms took 9 % of the time tick by tick."""
        if not self.config.freeze_pathway:
            return None
        return self.freeze_input_term(inputs.events, inputs.image, self._freeze_valid(inputs))

    def with_control_pathway_window(self, encoded: dict[str, torch.Tensor], inputs: FusionInputs
                                    ) -> dict[str, torch.Tensor]:
        """``encoded`` (an architecture's FusionArchitecture.encode_window) with the pathways' share added
        as ``freeze`` when there is one (:meth:`control_pathway_window`)."""
        freeze = self.control_pathway_window(inputs)
        return encoded if freeze is None else {**encoded, 'freeze': freeze}

    def command_through_pathways(self, head_logits: torch.Tensor, inputs: FusionInputs, wrench_read: torch.Tensor,
                                 goal: dict[str, torch.Tensor], state: tuple[torch.Tensor, ...],
                                 freeze_input_term: Optional[torch.Tensor] = None
                                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], dict[str, torch.Tensor], int]:
        """The head's logits (B, A) through the pathways -> (head output (B, A) in [-1, 1], the pathways'
        entries of the next state (last in it, as :meth:`control_pathway_state` made them), the goal
        quantities with the freeze (B,) added when there is one, the MACs of
        :meth:`control_pathway_macs` not spent because a held term stood in).

        ``wrench_read`` (B,) bool: the wrench was read this tick; ``goal``: the goal pathway's
        quantities (its tool estimate is read detached, as by the head); ``state``: this tick's state;
        ``freeze_input_term`` (B, FREEZE_WIDTH): this tick's share of :meth:`control_pathway_window`
        (training only), else computed here.
        """
        c = self.config
        tool = goal['tool'].detach() if goal else None                          # (B, 2) or None
        if c.descent_pathway:
            height = self.tip_height(inputs.proprio)                            # (B, 1)
            joints_felt = inputs.mask[:, MODALITIES.index('proprio')].float()[:, None]   # (B, 1): the joints arrived
        if c.reflex_pathway:
            # The press needs its push to ~1 % of full speed, as a function of the force and of the
            # reach (sim.expert.press_admittance): through the tokens, the attention readout and the
            # GRU, NVSF-A's head got it to ~4 % (README, Results). Here it reads them directly.
            felt = wrench_read.float()[:, None]                                 # (B, 1)
            # In newtons: scaled as the wrench window (1/20), 1 N was a step of 0.05 among inputs of
            # order 1, and the pathway barely learned (its push off by 4 % of full speed after 6 epochs).
            force = self.pressed_force(inputs.wrench) * felt                     # (B, 3) N
            reflex = self.reflex(self.reflex_input(force, tool))                # (B, A)
            if c.reflex_mode == 'add':
                head_logits = head_logits + reflex
            else:
                # An additive reflex cannot cancel an error of the head's that varies with the plan
                # (README, Results); taking over, the pressing command is the reflex's alone.
                # Only the vertical push: the reflex does not know where the cube is, and the expert
                # keeps centring while it presses (sim.expert.act).
                share = torch.sigmoid(self.reflex_share(force.norm(dim=1, keepdim=True)))   # (B, 1)
                head_vertical = head_logits[:, 2:3]                              # (B, 1)
                if c.descent_pathway:
                    # Before contact only: as the reflex takes over the push, the bound lifts.
                    bound = self.descent_bound(height, joints_felt) * (1.0 - share) - share   # (B, 1) in [-1, 0]
                    # atanh of the clamped bound: finite (-7.3 at -1, no bound) and without a NaN gradient.
                    head_vertical = torch.maximum(head_vertical, torch.atanh(bound.clamp(-1.0 + 1e-6, 0.0)))
                vertical = head_vertical + share * (reflex[:, 2:3] - head_vertical)
                head_logits = torch.cat([head_logits[:, :2], vertical, head_logits[:, 3:]], dim=1)   # (B, A)
        head_output = torch.tanh(head_logits)                                   # (B, A)
        if c.freeze_pathway:
            # Held: seen once, a ball stays a threat for a while. Measured without it, the detector's
            # per-tick answer flickered as the ball approached (0.4, 0.7, 0.6, 0.9, 0.6 over ten
            # ticks), and the arm moved on between the freezes.
            held = state[-self._control_pathway_entries():]
            probability, held_image_term, saved = self.freeze_probability(inputs, tool, held[:3], freeze_input_term)
            freeze = torch.maximum(probability, c.freeze_hold * held[-1])        # (B,)
            force = inputs.wrench[:, -1, :3].norm(dim=1) * c.preprocess.haptic.force_scale_n   # (B,) N
            # No wrench sample: no freeze either, since a press cannot be told from travel (the
            # "without wrench" ablation ran so; freezing then would be the safer default, README).
            pressing = force >= FREEZE_BELOW_N                                  # (B,)
            if c.descent_pathway:
                # A press is a force at the cube tops' height. Traced with an 8 ms command delay
                # (seed 90034), braking from travel speed for a ball read over 2 N at the wrist, the
                # freeze let go, and the arm drove on into the ball's zone. Without the joints: force alone.
                pressing = pressing & ((height[:, 0] <= self.press_height) | (joints_felt[:, 0] == 0))
            stop = freeze * (~pressing).float() * inputs.mask[:, MODALITIES.index('wrench')].float()
            head_output = head_output * (1.0 - stop[:, None])                    # (B, A); shaped: x (1 - stop)^3
            return head_output, held_image_term + (freeze,), {**goal, 'freeze': freeze}, saved
        return head_output, (), goal, 0

    def freeze_logit(self, events: torch.Tensor, image: torch.Tensor, valid: torch.Tensor,
                     tool: torch.Tensor, image_term: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) logit that the expert would hold still for a passing ball here: :meth:`freeze_input_term`
        then :meth:`freeze_logit_from`.

        Measured: NVSF-A's plan cross-attends to pooled event tokens (8 x 8) and drove on through 7 of
        40 ball passes (selection seeds) at full travel speed, never slowing (README, Results). A fast
        ball is a dense streak of events on the full 32 x 32 raster, which a small detector finds.
        The camera shows the (yellow) ball as soon as it is launched, when it is still a few events
        far away; the tool's position says whether the ball is still coming at the tool or past it.
        ``valid`` (B, 2): the events and the camera arrived. ``image_term`` (B, FREEZE_WIDTH): the
        image's share of the first layer (:meth:`freeze_image_term`), held from an earlier tick whose
        image this one repeats; None: computed here.

        The first layer is applied in three parts (events, image, tool) so that the image's part can
        be held: it is 3 * S * S x 32 of the layer's (3 * S * S + C * E * E + 2) x 32 MACs.
        """
        return self.freeze_logit_from(self.freeze_input_term(events, image, valid, image_term), tool)

    def freeze_input_term(self, events: torch.Tensor, image: torch.Tensor, valid: torch.Tensor,
                          image_term: torch.Tensor | None = None) -> torch.Tensor:
        """(B, FREEZE_WIDTH) the sensors' share of the freeze detector's first layer: the events' and the
        image's (:meth:`freeze_logit`), all of it but the tool's."""
        counts = events.abs().sum(dim=1).flatten(1) * valid[:, :1]              # (B, C * E * E): bins summed
        if image_term is None:
            image_term = self.freeze_image_term(image)                           # (B, W)
        return F.linear(torch.log1p(counts), self.freeze[0].weight[:, :counts.shape[1]]) + image_term * valid[:, 1:]

    def freeze_logit_from(self, input_term: torch.Tensor, tool: torch.Tensor) -> torch.Tensor:
        """(B,) the freeze's logit from :meth:`freeze_input_term` (B, W) and the tool's position (B, 2)."""
        first = self.freeze[0]
        hidden = input_term + F.linear(tool, first.weight[:, -tool.shape[1]:], first.bias)   # (B, W)
        return self.freeze[2](torch.relu(hidden))[:, 0]

    def freeze_image_term(self, image: torch.Tensor) -> torch.Tensor:
        """(B, FREEZE_WIDTH) the image's (B, 3, S, S) share of the freeze detector's first layer."""
        first, pixels = self.freeze[0], image[0].numel()
        columns = first.in_features - 2 - pixels                                 # the event inputs come first
        return F.linear(image.flatten(1), first.weight[:, columns:columns + pixels])

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
        (peaks 12-16 N), NVSF-A's head descending at up to 0.05 m/s onto the cube where the expert
        slows to 0.01 m/s for the last 1.5 cm; the command arriving a tick or more late over ROS pushes
        further. The head reads the tip height only through its tokens; this reads the joint angles
        directly and gives the expert's fastest descent at that pose (a low quantile of its vertical
        commands there, tools/fit_descent.py). ``felt`` (B, 1): the joints arrived; without them, no bound.
        """
        return -torch.sigmoid(self.descent(height)) * felt - (1.0 - felt)       # (B, 1)

    def _freeze_valid(self, inputs: FusionInputs) -> torch.Tensor:
        """(B, 2) float: the events and the camera arrived."""
        return inputs.mask[:, [MODALITIES.index('events'), MODALITIES.index('camera')]].float()

    def freeze_probability(self, inputs: FusionInputs, tool: torch.Tensor, held: tuple[torch.Tensor, ...],
                           input_term: Optional[torch.Tensor] = None
                           ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], int]:
        """((B,) the freeze's probability this tick, the held image entries for the next state, MACs saved).

        ``held``: (image (B, 3, S, S), its image term (B, W), held (B,) bool) from the last tick. At
        inference a camera image equal to the held one reuses its term, as NVSF-A's encoders hold the
        token of an unchanged input: a 15 Hz camera repeats its frame on six ticks in seven. Without a
        camera image on any row, no term is computed (it would be multiplied by zero). Training
        computes it every tick (the weights change between windows), or takes ``input_term``
        (:meth:`control_pathway_window`).
        """
        valid = self._freeze_valid(inputs)                                      # (B, 2)
        seeing = valid.amax(dim=1)                                              # (B,) nothing seen: no freeze
        held_image, held_term, held_seen = held
        image_term, saved = None, 0
        if not self.training:
            camera = valid[:, 1].bool()                                         # (B,)
            if inputs.batch_size == 1:   # the deployment path: one comparison
                same = torch.tensor([bool(camera[0]) and bool(held_seen[0]) and torch.equal(inputs.image, held_image)],
                                    device=camera.device)
            else:
                same = camera & held_seen & (inputs.image == held_image).flatten(1).all(dim=1)   # (B,)
            renew = camera & ~same                                               # (B,)
            if bool(same.all()):   # nothing computed (a batch with some rows new computes every row)
                image_term = held_term
                saved = inputs.batch_size * held_term.shape[1] * inputs.image[0].numel()
            elif not bool(camera.any()):
                # No image on any row: freeze_input_term multiplies its term by zero, so none is computed.
                # Measured over ROS 2 without the camera, NVSF-A spent 1.05 uJ per decision against 0.59-0.78
                # with any other input silenced: this term every tick.
                image_term = held_term.new_zeros(held_term.shape)
                saved = inputs.batch_size * held_term.shape[1] * inputs.image[0].numel()
            else:
                image_term = torch.where(same[:, None], held_term, self.freeze_image_term(inputs.image))   # (B, W)
            # Renewed only from an image that arrived: a missing camera's zeros must not replace the term.
            held = (torch.where(renew.view(-1, 1, 1, 1), inputs.image, held_image),
                    torch.where(renew[:, None], image_term, held_term), held_seen | renew)
        if input_term is not None:
            if not self.training:
                raise ValueError('the freeze takes a precomputed input term in training only: at inference it holds one')
            logit = self.freeze_logit_from(input_term, tool)
        else:
            logit = self.freeze_logit(inputs.events, inputs.image, valid, tool, image_term)
        return torch.sigmoid(logit) * seeing, held, saved

    def control_pathway_macs(self, b: int) -> int:
        """MACs of the pathways for a batch of ``b`` (they run every tick)."""
        c = self.config
        macs = 0
        if c.reflex_pathway:
            macs += sum(linear_macs(layer, b) for layer in self.reflex if isinstance(layer, nn.Linear))
            if c.reflex_mode == 'take_over':
                macs += linear_macs(self.reflex_share, b)
            if c.reflex_filter_samples > 0:
                macs += 3 * c.preprocess.haptic.window * b                      # the force's low-pass
        if c.freeze_pathway:
            macs += sum(linear_macs(layer, b) for layer in self.freeze if isinstance(layer, nn.Linear))
        if c.descent_pathway:
            macs += sum(linear_macs(layer, b) for part in (self.tip_height, self.descent)
                        for layer in part if isinstance(layer, nn.Linear))
        return macs

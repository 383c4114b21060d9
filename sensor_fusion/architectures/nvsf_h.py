"""NVSF-H, the hybrid neuromorphic architecture: coarse global tokens plus spiking event patches.

Per tick::

    global tokens  = one small MLP token each for camera thumbnail, wrench, tactile, audio, proprio
    event patches  = (T, 2, p, p) spatio-temporal patches of the event frames; only those with at
                     least ``patch_threshold`` events are selected (0..P of them, varying per tick)
    patch tokens   = Linear(spike counts of SpikingPatchNet(binary patch spikes over T steps))
    decoder        = transformer over [memory | global tokens | selected patch tokens | action query]
    action         = shape(tanh(W_a summary))             summary: the query's output, the next memory

With ``goal_pathway`` (as NVSF-A's, see nvsf_a.py) the head commands from goal - tool: where each
cube lies from the camera token, where the tool is from the joints, which cube the instruction
named from the summary, and action = shape(tanh(MLP([summary, goal - tool]))). With a goal pathway
it can also carry NVSF-A's control pathways (reflex, descent, freeze: control_pathways.py), which
read raw inputs and the tool estimate, never the decoder's tokens.

The spiking net is the only part that ``loihi_sim`` runs on (simulated) Loihi; the rest stays on
the host CPU, as it would beside a real chip. Its float twin is trained with surrogate gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..backends.energy import ComputeCost
from ..preprocess import FusionInputs
from .base import (ARCHITECTURES, ArchitectureConfig, FusionArchitecture, PolicyOutput, State,
                   modality_index, require_divisible, require_positive)
from .control_pathways import ControlPathwayConfig, ControlPathways
from .encoders import GoalPathway, HeldTokens, SummaryEncoders
from .layers import TransformerBlock, linear_macs, patchify_volume, transformer_macs
from .spiking import SpikeActivity, SpikingPatchNet

GLOBAL_MODALITIES = ('camera', 'wrench', 'tactile', 'audio', 'proprio')
#: Global tokens held while their input is unchanged (encoders.HeldTokens): at inference, bit-identical.
HELD_MODALITIES = ('camera', 'tactile')


@dataclass(frozen=True)
class NVSFHConfig(ArchitectureConfig, ControlPathwayConfig):
    # (reflex_pathway, freeze_pathway, descent_pathway and their settings: ControlPathwayConfig)
    d_model: int = 48           # width of every token
    n_heads: int = 4            # attention heads per block
    n_layers: int = 2           # decoder blocks
    d_ff: int = 96              # hidden width of each block's MLP
    event_patch: int = 8        # event patch side on the event raster, pixels
    patch_threshold: int = 4    # events a patch needs in the window to be selected
    snn_hidden: int = 64        # hidden LIF neurons per patch
    snn_out: int = 32           # output LIF neurons per patch; their spike counts are the patch feature
    snn_beta: float = 0.8       # LIF voltage decay per step (Loihi dv = round((1 - beta) * 4096))
    snn_threshold: float = 1.0  # LIF firing threshold
    camera_keypoint_sharpness: float = 1.0   # scales the camera keypoint maps before their softmax (CameraKeypointEncoder)
    goal_pathway: bool = False    # command from goal - tool (nvsf_a.py's docstring); False: the head reads the summary alone
    goal_candidates: int = 3      # objects the instruction chooses between (goal_pathway): the task's three cubes
    instruction_memory: bool = False   # the goal pathway holds the instruction in a latch the audio opens (encoders.GoalPathway)

    def __post_init__(self):
        super().__post_init__()
        require_positive(self, 'd_model', 'n_heads', 'n_layers', 'd_ff', 'event_patch', 'patch_threshold',
                         'snn_hidden', 'snn_out', 'snn_threshold', 'goal_candidates')
        require_divisible(self, 'd_model', 'n_heads')
        if not 0.0 < self.snn_beta <= 1.0:
            raise ValueError(f'NVSFHConfig.snn_beta must be in (0, 1], got {self.snn_beta}')
        if self.preprocess.events.representation != 'frames':
            raise ValueError("NVSFHConfig needs preprocess.events.representation 'frames' (spikes per polarity), "
                             f'got {self.preprocess.events.representation!r}')
        if self.preprocess.events.grid % self.event_patch:
            raise ValueError(f'NVSFHConfig.event_patch={self.event_patch} must divide '
                             f'preprocess.events.grid={self.preprocess.events.grid}')
        self.check_control_pathways(self.goal_pathway)
        if self.instruction_memory and not self.goal_pathway:
            raise ValueError('NVSFHConfig.instruction_memory holds the goal pathway\'s instruction: it needs goal_pathway: true')


@ARCHITECTURES.register('nvsf_h')
class NVSFHybrid(ControlPathways, FusionArchitecture):
    key = 'nvsf_h'
    config_class = NVSFHConfig
    has_spiking_core = True

    def __init__(self, config: NVSFHConfig):
        super().__init__(config)
        c, d, ev = config, config.d_model, config.preprocess.events
        self.n_patches = (ev.grid // c.event_patch) ** 2
        self.encoders = SummaryEncoders(c.preprocess, GLOBAL_MODALITIES, d, c.camera_keypoint_sharpness)
        self.snn = SpikingPatchNet(2 * c.event_patch ** 2, c.snn_hidden, c.snn_out, c.snn_beta, c.snn_threshold)
        self.patch_embed = nn.Linear(c.snn_out, d)
        self.patch_position = nn.Parameter(torch.zeros(self.n_patches, d))
        self.token_type = nn.Parameter(torch.zeros(len(GLOBAL_MODALITIES) + 3, d))  # globals, patch, memory, query
        self.blocks = nn.ModuleList(TransformerBlock(d, c.n_heads, c.d_ff) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(d)
        if c.goal_pathway:
            self.goal = GoalPathway(d, d, 2 * c.preprocess.max_joints, c.goal_candidates, c.instruction_memory)
            self.head = nn.Sequential(nn.Linear(d + 2, d), nn.ReLU(), nn.Linear(d, c.action_dim))
        else:
            self.head = nn.Linear(d, c.action_dim)
        self.build_control_pathways()
        nn.init.normal_(self.patch_position, std=0.02)
        nn.init.normal_(self.token_type, std=0.02)
        self._global_index = [modality_index(m) for m in GLOBAL_MODALITIES]
        self._events_index = modality_index('events')
        self.held_tokens = HeldTokens(HELD_MODALITIES, d, c.preprocess)
        self._held_index = [modality_index(m) for m in HELD_MODALITIES]

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> State:
        state = (torch.zeros(batch_size, 1, self.config.d_model, device=device),     # memory token
                 torch.zeros(batch_size, 1, dtype=torch.bool, device=device))        # memory filled
        if self.config.goal_pathway:
            state += self.goal.initial_state(batch_size, device)
        return state + self.held_tokens.initial_state(batch_size, device) + self.control_pathway_state(batch_size, device)

    def _held_slice(self) -> slice:
        c = self.config
        start = 2 + (2 if c.goal_pathway else 0) + (1 if c.instruction_memory else 0)
        return slice(start, start + self.held_tokens.entries)

    def global_tokens(self, inputs: FusionInputs, held: State) -> tuple[torch.Tensor, torch.Tensor, State, int]:
        """((B, G, D) the global tokens, (B,) the camera token was made this tick, the held entries after
        this tick, the MACs of the encoders that ran). At inference a held modality whose input is
        unchanged on every row takes its held token and its encoder does not run."""
        b = inputs.batch_size
        present = inputs.mask[:, self._held_index]                                   # (B, H)
        unchanged = torch.zeros_like(present) if self.training else self.held_tokens.unchanged(inputs, present, held)
        tokens, macs = [], 0
        for name in GLOBAL_MODALITIES:
            h = HELD_MODALITIES.index(name) if name in HELD_MODALITIES else None
            if h is not None and bool(unchanged[:, h].all()):
                tokens.append(held[0][:, h])                                         # (B, D), nothing computed
                continue
            token = self.encoders.encode(name, inputs)                              # (B, D)
            if h is not None:
                token = torch.where(unchanged[:, h, None], held[0][:, h], token)
            tokens.append(token)
            macs += self.encoders.macs(name, b)
        globals_ = torch.stack(tokens, dim=1)                                        # (B, G, D)
        ran = present & ~unchanged                                                   # (B, H)
        if not self.training:
            held = self.held_tokens.update(held, ran, globals_[:, [GLOBAL_MODALITIES.index(m) for m in HELD_MODALITIES]],
                                           inputs)
        return globals_, ran[:, HELD_MODALITIES.index('camera')], held, macs

    def select_patches(self, inputs: FusionInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(patches (B, P, T, 2*p*p) event counts, selected (B, P) bool): the dynamic patch set."""
        patches = patchify_volume(inputs.events, self.config.event_patch)            # (B, P, T, 2*p*p)
        activity = patches.sum(dim=(2, 3))                                           # (B, P) events per patch
        selected = (activity >= self.config.patch_threshold) & inputs.mask[:, self._events_index, None]
        return patches, selected

    def patch_tokens(self, inputs: FusionInputs) -> tuple[torch.Tensor, torch.Tensor, ComputeCost, int]:
        """Packed tokens of the selected patches: (B, N_max, D), valid (B, N_max), SNN cost, patch count."""
        b, d = inputs.batch_size, self.config.d_model
        patches, selected = self.select_patches(inputs)
        rows, cols = selected.nonzero(as_tuple=True)                                  # (N_sel,), (N_sel,)
        n_selected = int(rows.numel())
        per_row = selected.sum(dim=1)                                                 # (B,)
        width = int(per_row.max()) if b else 0
        packed = inputs.events.new_zeros(b, width, d)                                 # (B, N_max, D)
        valid = torch.arange(width, device=per_row.device)[None, :] < per_row[:, None]  # (B, N_max)
        if n_selected == 0:
            return packed, valid, ComputeCost(), 0
        spikes = (patches[rows, cols] > 0).to(inputs.events.dtype)                   # (N_sel, T, 2*p*p)
        counts, activity = self.snn(spikes)                                          # (N_sel, snn_out)
        tokens = self.patch_embed(counts) + self.patch_position[cols] + self.token_type[-3]  # (N_sel, D)
        slot = torch.cumsum(selected.to(torch.int64), dim=1)[rows, cols] - 1         # (N_sel,) packed position
        packed = packed.index_put((rows, slot), tokens)
        return packed, valid, self.patch_cost(n_selected, spikes.shape[1], activity), n_selected

    def patch_cost(self, n_selected: int, steps: int, activity: Optional[SpikeActivity] = None) -> ComputeCost:
        """The spiking network's cost (``activity``: its spike counts, which ``loihi_sim`` needs; the float
        network's MACs do not) and the patch embedding's MACs, for ``n_selected`` patches of ``steps`` bins."""
        return self.snn.cost(n_selected, steps, activity) + ComputeCost(
            dense_macs=linear_macs(self.patch_embed, n_selected))

    def encode_window(self, inputs: FusionInputs, ticks: int) -> dict[str, torch.Tensor]:
        """FusionArchitecture.encode_window: ``globals`` (T * B, G, D), every global token (training encodes
        every row, as :meth:`global_tokens` does); ``patches`` (T * B, N_max, D) and ``patch_valid``
        (T * B, N_max), :meth:`patch_tokens` packed over the window (``forward`` trims each tick to its own
        widest row: packing is left-aligned, so the columns cut hold no valid token); with the freeze,
        ``freeze`` (T * B, W) its input term (ControlPathways.control_pathway_window)."""
        every_row = torch.ones(inputs.batch_size, dtype=torch.bool, device=inputs.mask.device)
        globals_ = torch.stack([self.encoders.encode_window(name, inputs, ticks, every_row)
                                for name in GLOBAL_MODALITIES], dim=1)              # (T * B, G, D)
        patches, patch_valid, _, _ = self.patch_tokens(inputs)                       # (T * B, N_max, D), (T * B, N_max)
        encoded = {'globals': globals_, 'patches': patches, 'patch_valid': patch_valid}
        return self.with_control_pathway_window(encoded, inputs)

    def forward(self, inputs: FusionInputs, state: State, encoded: Optional[dict[str, torch.Tensor]] = None,
                goal_teacher: Optional[torch.Tensor] = None) -> PolicyOutput:
        """One tick; ``encoded``: this tick's rows of :meth:`encode_window`, in training only;
        ``goal_teacher`` (B, 2), training only: the true goal - tool the head reads on its non-NaN rows
        (encoders.GoalPathway.decide)."""
        self.check_goal_teacher(goal_teacher)
        memory, memory_valid = state[:2]
        b = inputs.batch_size
        if encoded is None:
            globals_, camera_made, held_tokens, host = self.global_tokens(inputs, state[self._held_slice()])   # (B, 5, D)
            patches, patch_valid, patch_cost, _ = self.patch_tokens(inputs)
        else:
            if not self.training:
                raise ValueError('NVSF-H takes encoded tokens in training only: at inference it holds tokens')
            # As global_tokens and patch_tokens in training: every global encoder on every row, nothing held.
            globals_, held_tokens = encoded['globals'], state[self._held_slice()]
            camera_made = inputs.mask[:, modality_index('camera')]
            host = sum(self.encoders.macs(name, b) for name in GLOBAL_MODALITIES)
            width = int(encoded['patch_valid'].sum(dim=1).max()) if b else 0
            patches, patch_valid = encoded['patches'][:, :width], encoded['patch_valid'][:, :width]   # (B, N_max, D)
            patch_cost = self.patch_cost(int(patch_valid.sum()), inputs.events.shape[1])
        if self.config.goal_pathway:
            # A held camera token locates what it located when made: the last candidates stand.
            located = self.goal.locate(inputs, globals_[:, GLOBAL_MODALITIES.index('camera')],
                                       camera_made, inputs.mask[:, modality_index('proprio')], *state[2:4])
        audio = globals_[:, GLOBAL_MODALITIES.index('audio')]                       # (B, D): gates the held instruction
        globals_ = globals_ + self.token_type[:len(GLOBAL_MODALITIES)]
        query = self.token_type[-1].expand(b, 1, -1)                                 # (B, 1, D)
        x = torch.cat([memory + self.token_type[-2], globals_, patches, query], dim=1)  # (B, L, D)
        valid = torch.cat([memory_valid, inputs.mask[:, self._global_index], patch_valid,
                           torch.ones(b, 1, dtype=torch.bool, device=x.device)], dim=1)  # (B, L)
        for block in self.blocks:
            x = block(x, valid)
        summary = self.norm(x[:, -1])                                                # (B, D)
        goal, head_input, next_state = {}, summary, (summary[:, None], valid[:, -1:])
        if self.config.goal_pathway:
            held = state[4] if self.config.instruction_memory else None                # (B, K) or None
            goal, head_input, goal_macs = self.goal.decide(summary, located, held, audio,
                                                           inputs.mask[:, modality_index('audio')], goal_teacher)
            next_state += (goal['candidates'], goal['tool'])
            if self.config.instruction_memory:
                next_state += (goal['instruction'],)
            host += goal_macs
        head_output, pathway_state, goal, held_macs = self.command_through_pathways(
            self.head(head_input), inputs, inputs.mask[:, modality_index('wrench')], goal, state,
            None if encoded is None else encoded.get('freeze'))                      # (B, A)
        next_state += held_tokens + pathway_state
        host += sum(transformer_macs(block, b, x.shape[1]) for block in self.blocks) + linear_macs(self.head, b)
        host += self.control_pathway_macs(b) - held_macs
        return PolicyOutput(action=self.shape_action(head_output), head_output=head_output, state=next_state,
                            cost=patch_cost + ComputeCost(dense_macs=host), goal=goal)

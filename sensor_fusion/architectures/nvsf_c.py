"""NVSF-C, the unified cognitive decoder: every modality becomes tokens, one transformer reads them all.

Sequence per tick (L tokens)::

    [ memory (K past ticks) | camera patches (+ keypoint) | wrench chunks + contact | tactile
      | audio chunks (+ summary) | event patches | proprioception | action query ]

Masked modalities and empty memory slots are excluded as attention keys. The action query's
output becomes the action and is pushed into the memory, so the decoder can use what it
heard or saw earlier in the episode.

With ``goal_pathway`` (as NVSF-A's and NVSF-H's, see nvsf_a.py) the camera and the audio each also
give one summary token (encoders.SummaryEncoders, after their patches and chunks: the camera's
through keypoints, from which the goal pathway locates each cube); the head commands from
[summary, goal - tool] through NVSF-A's control pathways (control_pathways.py). Why: the memory is
the last ``memory_len`` summaries (80 ms at 100 Hz), so the decoder alone forgot the instruction
tone once it ended, and linear patch tokens gave no position a locator could read; the NVSF-C
shipped without them until 2026-12-06 won none of 20 episodes. With ``instruction_memory`` the instruction is held
in the goal pathway's latch, which the audio summary token opens; the cube the tone names is read
from that token too, not from the decoder's summary. Why: traced after cloning (8 epochs, the audio
as chunks only) and again after one more epoch with the audio token in the decoder, the decoder's
naming of the cube did not change with the tone at all (constant within an episode, different
between episodes: it told the 200 training episodes apart by their layout). The tone names the
cube whatever the layout, and the audio token cannot see the layout. (NVSF-H reads it from its
summary: its decoder had learned the tone in earlier training, under a target probe.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..backends.energy import ComputeCost
from ..observation import MODALITIES
from ..preprocess import FusionInputs
from .base import (ARCHITECTURES, ArchitectureConfig, FusionArchitecture, PolicyOutput, State,
                   modality_index, require_divisible, require_positive)
from .control_pathways import ControlPathwayConfig, ControlPathways
from .encoders import GoalPathway, SummaryEncoders
from .layers import TransformerBlock, linear_macs, patchify, patchify_volume, transformer_macs


#: With the goal pathway, these modalities also give one summary token each (encoders.SummaryEncoders).
SUMMARY_MODALITIES = ('camera', 'audio')


@dataclass(frozen=True)
class NVSFCConfig(ArchitectureConfig, ControlPathwayConfig):
    # (reflex_pathway, freeze_pathway, descent_pathway and their settings: ControlPathwayConfig)
    d_model: int = 64        # width of every token
    n_heads: int = 4         # attention heads per block
    n_layers: int = 2        # decoder blocks
    d_ff: int = 128          # hidden width of each block's MLP
    image_patch: int = 12    # camera patch side in pixels of the preprocessed image
    wrench_chunk: int = 8    # wrench samples per token
    audio_chunk: int = 8     # log-mel frames per token
    event_patch: int = 8     # event-raster patch side
    memory_len: int = 8      # past ticks remembered as tokens
    camera_keypoint_sharpness: float = 1.0   # the keypoint token's maps scaled before their softmax (goal_pathway)
    goal_pathway: bool = False    # camera keypoint and audio summary tokens; the head commands from goal - tool (docstring)
    goal_candidates: int = 3      # objects the instruction chooses between (goal_pathway): the task's three cubes
    instruction_memory: bool = False   # the goal pathway holds the instruction in a latch the audio opens

    def __post_init__(self):
        super().__post_init__()
        require_positive(self, 'd_model', 'n_heads', 'n_layers', 'd_ff', 'image_patch', 'wrench_chunk',
                         'audio_chunk', 'event_patch', 'memory_len', 'camera_keypoint_sharpness', 'goal_candidates')
        require_divisible(self, 'd_model', 'n_heads')
        pre = self.preprocess
        for size, patch, what in ((pre.camera.size, self.image_patch, 'preprocess.camera.size'),
                                  (pre.events.grid, self.event_patch, 'preprocess.events.grid'),
                                  (pre.haptic.window, self.wrench_chunk, 'preprocess.haptic.window')):
            if size % patch:
                raise ValueError(f'NVSFCConfig: {what}={size} is not a multiple of its patch/chunk {patch}')
        if pre.audio.n_frames < self.audio_chunk:
            raise ValueError(f'NVSFCConfig.audio_chunk={self.audio_chunk} exceeds the {pre.audio.n_frames} '
                             'spectrogram frames per tick')
        self.check_control_pathways(self.goal_pathway)
        if self.instruction_memory and not self.goal_pathway:
            raise ValueError('NVSFCConfig.instruction_memory holds the goal pathway\'s instruction: it needs goal_pathway: true')


@ARCHITECTURES.register('nvsf_c')
class NVSFCognitive(ControlPathways, FusionArchitecture):
    key = 'nvsf_c'
    config_class = NVSFCConfig

    def __init__(self, config: NVSFCConfig):
        super().__init__(config)
        c, pre, d = config, config.preprocess, config.d_model
        ev = pre.events
        self.token_counts = {                                    # tokens per modality, in MODALITIES order
            'camera': (pre.camera.size // c.image_patch) ** 2 + int(c.goal_pathway),   # + 1 keypoint token
            'wrench': pre.haptic.window // c.wrench_chunk + 1,   # + 1 contact-feature token
            'tactile': 1,
            'audio': pre.audio.n_frames // c.audio_chunk + int(c.goal_pathway),        # + 1 summary token
            'events': (ev.grid // c.event_patch) ** 2,
            'proprio': 1,
        }
        self.embed = nn.ModuleDict({
            'camera': nn.Linear(3 * c.image_patch ** 2, d),
            'wrench': nn.Linear(6 * c.wrench_chunk, d),
            'contact': nn.Linear(4, d),
            'tactile': nn.Linear(pre.tactile_grid ** 2, d),
            'audio': nn.Linear(pre.audio.n_mels * c.audio_chunk, d),
            'events': nn.Linear(ev.bins * ev.channels * c.event_patch ** 2, d),
            'proprio': nn.Linear(2 * pre.max_joints, d),
        })
        n_sensor = sum(self.token_counts.values())
        token_modality = torch.cat([torch.full((n,), i) for i, n in enumerate(self.token_counts.values())])
        self.register_buffer('token_modality', token_modality, persistent=False)   # (N_sensor,)
        self.modality_embedding = nn.Embedding(len(MODALITIES), d)
        self.slot_embedding = nn.Parameter(torch.zeros(n_sensor, d))       # where in its modality a token is
        self.memory_age_embedding = nn.Parameter(torch.zeros(c.memory_len, d))  # time: how many ticks ago
        self.action_query = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(TransformerBlock(d, c.n_heads, c.d_ff) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(d)
        if c.goal_pathway:
            # Named as NVSF-A's and NVSF-H's summary encoders, so their camera detectors graft
            # (tools/graft_pathways.py) and the trainer's camera pretraining finds them.
            self.encoders = SummaryEncoders(pre, SUMMARY_MODALITIES, d, c.camera_keypoint_sharpness)
            self.goal = GoalPathway(d, d, 2 * pre.max_joints, c.goal_candidates, c.instruction_memory)
            self.head = nn.Sequential(nn.Linear(d + 2, d), nn.ReLU(), nn.Linear(d, c.action_dim))
        else:
            self.head = nn.Linear(d, c.action_dim)
        self.build_control_pathways()
        for p in (self.slot_embedding, self.memory_age_embedding, self.action_query):
            nn.init.normal_(p, std=0.02)
        self.sequence_length = c.memory_len + n_sensor + 1

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> State:
        c = self.config
        state = (torch.zeros(batch_size, c.memory_len, c.d_model, device=device),       # memory tokens
                 torch.zeros(batch_size, c.memory_len, dtype=torch.bool, device=device))  # slot filled
        if c.goal_pathway:
            state += self.goal.initial_state(batch_size, device)
        return state + self.control_pathway_state(batch_size, device)

    def sensor_tokens(self, inputs: FusionInputs, summaries: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """(B, N_sensor, D) tokens of every modality, before embeddings are added; with the goal pathway
        ``summaries`` holds the camera's keypoint token and the audio's summary token (B, D) each, which
        follow their modality's patches or chunks."""
        c, b = self.config, inputs.batch_size
        audio_frames = (self.config.preprocess.audio.n_frames // c.audio_chunk) * c.audio_chunk
        audio = inputs.audio[:, :, -audio_frames:]                                   # newest frames
        audio = audio.reshape(b, audio.shape[1], -1, c.audio_chunk).permute(0, 2, 1, 3)  # (B, Na, M, chunk)
        events = patchify_volume(inputs.events, c.event_patch)                       # (B, Ne, T, C*p*p)
        summary = {} if summaries is None else {name: [token[:, None]] for name, token in summaries.items()}   # (B, 1, D)
        return torch.cat([
            self.embed['camera'](patchify(inputs.image, c.image_patch)),            # (B, Ni, D)
            *summary.get('camera', ()),
            self.embed['wrench'](inputs.wrench.reshape(b, -1, 6 * c.wrench_chunk)),  # (B, Nw, D)
            self.embed['contact'](inputs.contact)[:, None],                          # (B, 1, D)
            self.embed['tactile'](inputs.tactile.reshape(b, 1, -1)),                 # (B, 1, D)
            self.embed['audio'](audio.reshape(b, audio.shape[1], -1)),               # (B, Na, D)
            *summary.get('audio', ()),
            self.embed['events'](events.reshape(b, events.shape[1], -1)),            # (B, Ne, D)
            self.embed['proprio'](inputs.proprio)[:, None],                          # (B, 1, D)
        ], dim=1)

    def embedded_sensor_tokens(self, inputs: FusionInputs, summaries: Optional[dict[str, torch.Tensor]] = None
                               ) -> torch.Tensor:
        """(B, N_sensor, D) :meth:`sensor_tokens` with their slot and modality embeddings."""
        return (self.sensor_tokens(inputs, summaries) + self.slot_embedding
                + self.modality_embedding(self.token_modality))

    def encode_window(self, inputs: FusionInputs, ticks: int) -> dict[str, torch.Tensor]:
        """FusionArchitecture.encode_window: ``sensors`` (T * B, N_sensor, D), the embedded sensor tokens;
        with the goal pathway the summary tokens (T * B, D) by modality name (on the rows that have the
        modality; a repeated camera frame's encoded once: SummaryEncoders.encode_window), and with the
        freeze ``freeze`` (T * B, W), its input term (ControlPathways.control_pathway_window)."""
        if not self.config.goal_pathway:
            return {'sensors': self.embedded_sensor_tokens(inputs)}
        summaries = {name: self.encoders.encode_window(name, inputs, ticks, inputs.mask[:, modality_index(name)])
                     for name in SUMMARY_MODALITIES}
        encoded = {'sensors': self.embedded_sensor_tokens(inputs, summaries), **summaries}
        return self.with_control_pathway_window(encoded, inputs)

    def forward(self, inputs: FusionInputs, state: State, encoded: Optional[dict[str, torch.Tensor]] = None,
                goal_teacher: Optional[torch.Tensor] = None) -> PolicyOutput:
        """One tick; ``encoded``: this tick's rows of :meth:`encode_window` (training), else computed here;
        ``goal_teacher`` (B, 2), training only: the true goal - tool the head reads on its non-NaN rows
        (encoders.GoalPathway.decide)."""
        self.check_goal_teacher(goal_teacher)
        c = self.config
        memory, memory_valid = state[:2]
        b = inputs.batch_size
        summaries = None
        if encoded is not None:
            sensors = encoded['sensors']                                              # (B, N_sensor, D)
            if c.goal_pathway:
                summaries = {name: encoded[name] for name in SUMMARY_MODALITIES}      # (B, D) each
        else:
            if c.goal_pathway:
                summaries = {name: self.encoders.encode(name, inputs) for name in SUMMARY_MODALITIES}   # (B, D) each
            sensors = self.embedded_sensor_tokens(inputs, summaries)                 # (B, N_sensor, D)
        sensor_valid = inputs.mask[:, self.token_modality]                           # (B, N_sensor)
        query = self.action_query.expand(b, 1, -1)                                   # (B, 1, D)
        x = torch.cat([memory + self.memory_age_embedding, sensors, query], dim=1)   # (B, L, D)
        valid = torch.cat([memory_valid, sensor_valid, torch.ones(b, 1, dtype=torch.bool, device=x.device)], 1)
        for block in self.blocks:
            x = block(x, valid)
        summary = self.norm(x[:, -1])                                                # (B, D)
        # The newest tick goes last; the oldest memory slot falls out.
        new_memory = torch.cat([memory[:, 1:], summary[:, None]], dim=1)            # (B, K, D)
        new_valid = torch.cat([memory_valid[:, 1:], valid[:, -1:]], dim=1)           # (B, K)
        next_state = (new_memory, new_valid)
        if not c.goal_pathway:
            head_output = torch.tanh(self.head(summary))                             # (B, A)
            return PolicyOutput(action=self.shape_action(head_output), head_output=head_output,
                                state=next_state, cost=self.cost(b))
        camera_read = inputs.mask[:, modality_index('camera')]                       # (B,)
        located = self.goal.locate(inputs, summaries['camera'], camera_read, inputs.mask[:, modality_index('proprio')],
                                   *state[2:4])
        held = state[4] if c.instruction_memory else None                           # (B, K) or None
        # The instruction is read from the audio token itself, not from the decoder's summary (docstring).
        goal, head_input, goal_macs = self.goal.decide(summary, located, held, summaries['audio'],
                                                       inputs.mask[:, modality_index('audio')], goal_teacher,
                                                       instruction_input=summaries['audio'])
        next_state += (goal['candidates'], goal['tool']) + ((goal['instruction'],) if c.instruction_memory else ())
        head_output, pathway_state, goal, held_macs = self.command_through_pathways(
            self.head(head_input), inputs, inputs.mask[:, modality_index('wrench')], goal, state,
            None if encoded is None else encoded.get('freeze'))                      # (B, A)
        host = goal_macs + self.control_pathway_macs(b) - held_macs
        return PolicyOutput(action=self.shape_action(head_output), head_output=head_output,
                            state=next_state + pathway_state, cost=self.cost(b) + ComputeCost(dense_macs=host),
                            goal=goal)

    def cost(self, batch_size: int) -> ComputeCost:
        # Masked tokens are still computed (fixed shapes keep the decoder fast), so the cost does
        # not depend on the mask.
        summary = int(self.config.goal_pathway)    # the summary tokens are not the patch embeddings'
        embeds = sum(linear_macs(self.embed[name], batch_size * n) for name, n in (
            ('camera', self.token_counts['camera'] - summary), ('wrench', self.token_counts['wrench'] - 1),
            ('contact', 1), ('tactile', 1), ('audio', self.token_counts['audio'] - summary),
            ('events', self.token_counts['events']), ('proprio', 1)))
        blocks = sum(transformer_macs(block, batch_size, self.sequence_length) for block in self.blocks)
        if self.config.goal_pathway:   # the summary tokens; the goal pathway and the pathways: forward adds them
            embeds += sum(self.encoders.macs(name, batch_size) for name in SUMMARY_MODALITIES)
        return ComputeCost(dense_macs=embeds + blocks + linear_macs(self.head, batch_size))

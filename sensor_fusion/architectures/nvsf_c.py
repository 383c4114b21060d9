"""NVSF-C, the unified cognitive decoder: every modality becomes tokens, one transformer reads them all.

Sequence per tick (L tokens)::

    [ memory (K past ticks) | camera patches | wrench chunks + contact | tactile | audio chunks
      | event voxel patches | proprioception | action query ]

Masked modalities and empty memory slots are excluded as attention keys. The action query's
output becomes the action and is pushed into the memory, so the decoder can use what it
heard or saw earlier in the episode (e.g. an instruction tone that has stopped).
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
                   require_divisible, require_positive)
from .layers import TransformerBlock, linear_macs, patchify, patchify_volume, transformer_macs


@dataclass(frozen=True)
class NVSFCConfig(ArchitectureConfig):
    d_model: int = 64        # width of every token
    n_heads: int = 4         # attention heads per block
    n_layers: int = 2        # decoder blocks
    d_ff: int = 128          # hidden width of each block's MLP
    image_patch: int = 12    # camera patch side in pixels of the preprocessed image
    wrench_chunk: int = 8    # wrench samples per token
    audio_chunk: int = 8     # log-mel frames per token
    event_patch: int = 8     # event-raster patch side
    memory_len: int = 8      # past ticks remembered as tokens

    def __post_init__(self):
        super().__post_init__()
        require_positive(self, 'd_model', 'n_heads', 'n_layers', 'd_ff', 'image_patch', 'wrench_chunk',
                         'audio_chunk', 'event_patch', 'memory_len')
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


@ARCHITECTURES.register('nvsf_c')
class NVSFCognitive(FusionArchitecture):
    key = 'nvsf_c'
    config_class = NVSFCConfig

    def __init__(self, config: NVSFCConfig):
        super().__init__(config)
        c, pre, d = config, config.preprocess, config.d_model
        ev = pre.events
        self.token_counts = {                                    # tokens per modality, in MODALITIES order
            'camera': (pre.camera.size // c.image_patch) ** 2,
            'wrench': pre.haptic.window // c.wrench_chunk + 1,   # + 1 contact-feature token
            'tactile': 1,
            'audio': pre.audio.n_frames // c.audio_chunk,
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
        self.head = nn.Linear(d, c.action_dim)
        for p in (self.slot_embedding, self.memory_age_embedding, self.action_query):
            nn.init.normal_(p, std=0.02)
        self.sequence_length = c.memory_len + n_sensor + 1

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> State:
        c = self.config
        return (torch.zeros(batch_size, c.memory_len, c.d_model, device=device),      # memory tokens
                torch.zeros(batch_size, c.memory_len, dtype=torch.bool, device=device))  # slot filled

    def sensor_tokens(self, inputs: FusionInputs) -> torch.Tensor:
        """(B, N_sensor, D) tokens of every modality, before embeddings are added."""
        c, b = self.config, inputs.batch_size
        audio_frames = self.token_counts['audio'] * c.audio_chunk
        audio = inputs.audio[:, :, -audio_frames:]                                   # newest frames
        audio = audio.reshape(b, audio.shape[1], -1, c.audio_chunk).permute(0, 2, 1, 3)  # (B, Na, M, chunk)
        events = patchify_volume(inputs.events, c.event_patch)                       # (B, Ne, T, C*p*p)
        return torch.cat([
            self.embed['camera'](patchify(inputs.image, c.image_patch)),            # (B, Ni, D)
            self.embed['wrench'](inputs.wrench.reshape(b, -1, 6 * c.wrench_chunk)),  # (B, Nw, D)
            self.embed['contact'](inputs.contact)[:, None],                          # (B, 1, D)
            self.embed['tactile'](inputs.tactile.reshape(b, 1, -1)),                 # (B, 1, D)
            self.embed['audio'](audio.reshape(b, audio.shape[1], -1)),               # (B, Na, D)
            self.embed['events'](events.reshape(b, events.shape[1], -1)),            # (B, Ne, D)
            self.embed['proprio'](inputs.proprio)[:, None],                          # (B, 1, D)
        ], dim=1)

    def embedded_sensor_tokens(self, inputs: FusionInputs) -> torch.Tensor:
        """(B, N_sensor, D) :meth:`sensor_tokens` with their slot and modality embeddings."""
        return self.sensor_tokens(inputs) + self.slot_embedding + self.modality_embedding(self.token_modality)

    def encode_window(self, inputs: FusionInputs, ticks: int) -> dict[str, torch.Tensor]:
        """FusionArchitecture.encode_window: ``sensors`` (T * B, N_sensor, D), the embedded sensor tokens."""
        return {'sensors': self.embedded_sensor_tokens(inputs)}

    def forward(self, inputs: FusionInputs, state: State, encoded: Optional[dict[str, torch.Tensor]] = None
                ) -> PolicyOutput:
        """One tick; ``encoded``: this tick's rows of :meth:`encode_window` (training), else computed here."""
        memory, memory_valid = state
        b = inputs.batch_size
        sensors = self.embedded_sensor_tokens(inputs) if encoded is None else encoded['sensors']   # (B, N_sensor, D)
        sensor_valid = inputs.mask[:, self.token_modality]                           # (B, N_sensor)
        query = self.action_query.expand(b, 1, -1)                                   # (B, 1, D)
        x = torch.cat([memory + self.memory_age_embedding, sensors, query], dim=1)   # (B, L, D)
        valid = torch.cat([memory_valid, sensor_valid, torch.ones(b, 1, dtype=torch.bool, device=x.device)], 1)
        for block in self.blocks:
            x = block(x, valid)
        summary = self.norm(x[:, -1])                                                # (B, D)
        head_output = torch.tanh(self.head(summary))                                 # (B, A)
        # The newest tick goes last; the oldest memory slot falls out.
        new_memory = torch.cat([memory[:, 1:], summary[:, None]], dim=1)            # (B, K, D)
        new_valid = torch.cat([memory_valid[:, 1:], valid[:, -1:]], dim=1)           # (B, K)
        return PolicyOutput(action=self.shape_action(head_output), head_output=head_output,
                            state=(new_memory, new_valid), cost=self.cost(b))

    def cost(self, batch_size: int) -> ComputeCost:
        # Masked tokens are still computed (fixed shapes keep the decoder fast), so the cost does
        # not depend on the mask.
        embeds = sum(linear_macs(self.embed[name], batch_size * n) for name, n in (
            ('camera', self.token_counts['camera']), ('wrench', self.token_counts['wrench'] - 1),
            ('contact', 1), ('tactile', 1), ('audio', self.token_counts['audio']),
            ('events', self.token_counts['events']), ('proprio', 1)))
        blocks = sum(transformer_macs(block, batch_size, self.sequence_length) for block in self.blocks)
        return ComputeCost(dense_macs=embeds + blocks + linear_macs(self.head, batch_size))

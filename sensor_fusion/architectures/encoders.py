"""Per-modality encoders that turn one tick of one modality into one token (NVSF-A and NVSF-H)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..preprocess import FusionInputs, PreprocessConfig
from ..preprocess.haptic import N_CONTACT_FEATURES
from .layers import linear_macs

AUDIO_POOLED_FRAMES = 4   # spectrogram frames after pooling: a summary token needs the envelope, not 8 ms detail
EVENT_POOLED_GRID = 8     # event raster side after pooling, for a whole-frame summary token


def summary_features(name: str, inputs: FusionInputs) -> torch.Tensor:
    """The flat (B, F) feature vector one summary encoder reads for modality ``name``."""
    b = inputs.batch_size
    if name == 'camera':
        return inputs.image.reshape(b, -1)                                 # (B, 3 * S * S)
    if name == 'wrench':
        return torch.cat([inputs.wrench.reshape(b, -1), inputs.contact], dim=1)  # (B, W * 6 + 4)
    if name == 'tactile':
        return inputs.tactile.reshape(b, -1)                               # (B, G * G)
    if name == 'audio':
        return F.adaptive_avg_pool1d(inputs.audio, AUDIO_POOLED_FRAMES).reshape(b, -1)  # (B, n_mels * 4)
    if name == 'events':
        t, c, e = inputs.events.shape[1], inputs.events.shape[2], inputs.events.shape[3]
        pooled = F.adaptive_avg_pool2d(inputs.events.reshape(b, t * c, e, e), EVENT_POOLED_GRID)
        return pooled.reshape(b, -1)                                       # (B, T * C * 8 * 8)
    if name == 'proprio':
        return inputs.proprio
    raise KeyError(f'no summary features for modality {name!r}')


def summary_feature_sizes(pre: PreprocessConfig) -> dict[str, int]:
    ev = pre.events
    return {
        'camera': 3 * pre.camera.size ** 2,
        'wrench': pre.haptic.window * 6 + N_CONTACT_FEATURES,
        'tactile': pre.tactile_grid ** 2,
        'audio': pre.audio.n_mels * AUDIO_POOLED_FRAMES,
        'events': ev.bins * ev.channels * EVENT_POOLED_GRID ** 2,
        'proprio': 2 * pre.max_joints,
    }


class SummaryEncoders(nn.Module):
    """One small MLP per modality: flat features -> a (B, d_model) token."""

    def __init__(self, pre: PreprocessConfig, modalities: tuple[str, ...], d_model: int):
        super().__init__()
        sizes = summary_feature_sizes(pre)
        self.modalities = modalities
        self.encoders = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(sizes[m], d_model), nn.ReLU(), nn.Linear(d_model, d_model))
            for m in modalities})

    def encode(self, name: str, inputs: FusionInputs, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Token of modality ``name`` for every batch row, or only for ``rows`` (skipped rows cost nothing)."""
        features = summary_features(name, inputs)
        if rows is not None:
            features = features[rows]
        return self.encoders[name](features)                                # (R, D)

    def macs(self, name: str, rows: int) -> int:
        return linear_macs(self.encoders[name], rows)

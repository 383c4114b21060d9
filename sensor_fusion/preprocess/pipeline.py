"""Observation -> FusionInputs: the fixed-shape tensors every architecture consumes."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional, Sequence

import numpy as np
import torch

from ..observation import MODALITIES, Observation, ObservationError
from .audio import AudioTransform
from .camera import CameraTransform
from .events import EventTransform
from .haptic import N_CONTACT_FEATURES, HapticTransform, tactile_grid


@dataclass(frozen=True)
class PreprocessConfig:
    camera: CameraTransform = field(default_factory=CameraTransform)
    haptic: HapticTransform = field(default_factory=HapticTransform)
    audio: AudioTransform = field(default_factory=AudioTransform)
    events: EventTransform = field(default_factory=EventTransform)
    tactile_grid: int = 8         # taxel raster side after resampling
    tactile_scale: float = 10.0   # pressure that maps to 1.0
    max_joints: int = 8           # proprioception is zero-padded to this many joints
    # False: the joint-velocity half of ``proprio`` stays zero. A cloned policy that sees the arm's
    # velocity learns to continue whatever motion it is in (the expert's next command is almost
    # always its last one) and never learns when to set off or stop: the "copycat" failure of
    # behaviour cloning (Wen et al., NeurIPS 2020). The expert's decisions depend on positions,
    # force, sound and the ball, not on the arm's velocity. The width stays 2 * max_joints so
    # weights trained either way keep their shapes.
    proprio_velocities: bool = True

    def __post_init__(self):
        for name in ('tactile_grid', 'max_joints'):
            if getattr(self, name) < 1:
                raise ValueError(f'preprocess.{name} must be >= 1, got {getattr(self, name)}')

    @classmethod
    def from_dict(cls, values: dict) -> 'PreprocessConfig':
        nested = {'camera': CameraTransform, 'haptic': HapticTransform, 'audio': AudioTransform,
                  'events': EventTransform}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f'unknown preprocess keys {sorted(unknown)}; known: {sorted(known)}')
        kwargs = {key: nested[key](**value) if key in nested else value for key, value in values.items()}
        return cls(**kwargs)


#: The fields of :class:`FusionInputs` that carry each modality (the wrench also gives the contact features).
MODALITY_FIELDS: dict[str, tuple[str, ...]] = {
    'camera': ('image',), 'wrench': ('wrench', 'contact'), 'tactile': ('tactile',), 'audio': ('audio',),
    'events': ('events',), 'proprio': ('proprio',)}


@dataclass
class FusionInputs:
    """A batch of preprocessed ticks. Missing modalities are zeros with ``mask`` False."""

    image: torch.Tensor     # (B, 3, S, S) in [-1, 1]
    wrench: torch.Tensor    # (B, W, 6) scaled wrench window, oldest first
    contact: torch.Tensor   # (B, 4) contact features
    tactile: torch.Tensor   # (B, 1, G, G) scaled taxel pressures
    audio: torch.Tensor     # (B, n_mels, frames) log-mel
    events: torch.Tensor    # (B, T, C, E, E) event frames or voxel grid
    proprio: torch.Tensor   # (B, 2 * max_joints) positions then velocities (zeros unless proprio_velocities)
    mask: torch.Tensor      # (B, len(MODALITIES)) bool, True = valid

    @property
    def batch_size(self) -> int:
        return self.image.shape[0]

    def to(self, device: torch.device | str) -> 'FusionInputs':
        return FusionInputs(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def without(self, dropped: torch.Tensor) -> 'FusionInputs':
        """The same batch with, per row, the modalities flagged in ``dropped`` (B, len(MODALITIES)) bool
        missing: their data zeros and their mask False, exactly as the preprocessor leaves a modality
        that did not arrive (a silenced topic)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for index, name in enumerate(MODALITIES):
            rows = dropped[:, index]
            if rows.any():
                for field_name in MODALITY_FIELDS[name]:
                    keep = (~rows).to(values[field_name].dtype).reshape(-1, *([1] * (values[field_name].dim() - 1)))
                    values[field_name] = values[field_name] * keep
        return FusionInputs(**{**values, 'mask': values['mask'] & ~dropped})

    def with_mask(self, mask: torch.Tensor) -> 'FusionInputs':
        """Same data with another validity mask (used to ablate a modality)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return FusionInputs(**{**values, 'mask': mask})


def collate(samples: Sequence[FusionInputs]) -> FusionInputs:
    """Concatenates single ticks (or batches) along the batch dimension."""
    return FusionInputs(**{f.name: torch.cat([getattr(s, f.name) for s in samples]) for f in fields(FusionInputs)})


class Preprocessor:
    """Turns one :class:`Observation` into a batch-of-one :class:`FusionInputs`."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        # modality -> (input array, its transform): an unchanged input (the same object, which this
        # package never writes to) is not transformed again. The node's buffers hand out the same
        # camera frame until a new one arrives and the same audio window until a new chunk does.
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _cached(self, modality: str, value: np.ndarray, transform) -> np.ndarray:
        hit = self._cache.get(modality)
        if hit is not None and hit[0] is value:
            return hit[1]
        result = transform()
        self._cache[modality] = (value, result)
        return result

    def empty(self, batch_size: int = 1) -> FusionInputs:
        """All-missing inputs of the right shapes."""
        c = self.config
        g, e = c.tactile_grid, c.events.grid
        return FusionInputs(
            image=torch.zeros(batch_size, 3, c.camera.size, c.camera.size),
            wrench=torch.zeros(batch_size, c.haptic.window, 6),
            contact=torch.zeros(batch_size, N_CONTACT_FEATURES),
            tactile=torch.zeros(batch_size, 1, g, g),
            audio=torch.zeros(batch_size, c.audio.n_mels, c.audio.n_frames),
            events=torch.zeros(batch_size, c.events.bins, c.events.channels, e, e),
            proprio=torch.zeros(batch_size, 2 * c.max_joints),
            mask=torch.zeros(batch_size, len(MODALITIES), dtype=torch.bool))

    def __call__(self, obs: Observation, only: Optional[Sequence[bool]] = None) -> FusionInputs:
        """``only``: per entry of MODALITIES, False skips that modality (it is then masked)."""
        c = self.config
        out = self.empty(1)
        valid = obs.validity
        if only is not None:   # the model will not read the others: leave them missing (masked)
            valid = tuple(v and wanted for v, wanted in zip(valid, only))
        if valid[0]:
            out.image[0] = torch.from_numpy(self._cached('camera', obs.rgb, lambda: c.camera(obs.rgb)))
        if valid[1]:
            window, contact = c.haptic(obs.wrench)
            out.wrench[0], out.contact[0] = torch.from_numpy(window), torch.from_numpy(contact)
        if valid[2]:
            out.tactile[0, 0] = torch.from_numpy(tactile_grid(obs.tactile, c.tactile_grid, c.tactile_scale))
        if valid[3]:
            out.audio[0] = torch.from_numpy(self._cached(f'audio@{obs.audio_rate_hz}', obs.audio,
                                                         lambda: c.audio(obs.audio, obs.audio_rate_hz)))
        if valid[4]:
            out.events[0] = torch.from_numpy(c.events(obs.events, obs.event_sensor_size, obs.stamp_ns))
        if valid[5]:
            joints = len(obs.joint_positions)
            if joints > c.max_joints:
                raise ObservationError(f'{joints} joints exceed preprocess.max_joints={c.max_joints}')
            out.proprio[0, :joints] = torch.from_numpy(obs.joint_positions.astype(np.float32))
            if c.proprio_velocities:
                out.proprio[0, c.max_joints:c.max_joints + joints] = torch.from_numpy(
                    obs.joint_velocities.astype(np.float32))
        out.mask[0] = torch.tensor(valid)
        return out

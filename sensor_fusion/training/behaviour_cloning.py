"""Behaviour cloning from recorded episodes, with the recurrent state each architecture carries.

Episodes are batched side by side and unrolled in time; gradients flow through ``window`` ticks
of recurrent state (truncated BPTT: NVSF-A's plan, NVSF-C's token memory, NVSF-H's decoder
memory; NVSF-H's spiking patches learn through snntorch's surrogate gradients), then the state is
detached and carried on. NVSF-A clones with every encoder on (``gate_mode = 'all'``); its gate is
trained afterwards by reinforcement learning (not here). Loss: mean squared error between the
model's action and the expert's, over the ticks each episode really has.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils._pytree import tree_map

from ..architectures import build_architecture, load_config
from ..preprocess import FusionInputs, Preprocessor, collate
from ..sim.world import JOINTS
from ..weights import save_weights
from .dataset import EpisodeSamples, load_bag


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_episodes: int = 8          # episodes unrolled side by side
    window: int = 16                 # ticks of truncated BPTT
    learning_rate: float = 1e-3
    val_fraction: float = 0.2        # episodes held out for validation (by order of seed)
    seed: int = 0
    control_rate_hz: float = 50.0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_episodes < 1 or self.window < 1 or not 0 <= self.val_fraction < 1:
            raise ValueError(f'bad training config: {self}')


@dataclass
class EpisodeTensors:
    inputs: FusionInputs             # (T, ...) one row per tick
    actions: torch.Tensor            # (T, 6)


@dataclass
class TrainResult:
    train_losses: list[float]
    val_losses: list[float]
    weights: Optional[Path]


def episode_tensors(episode: EpisodeSamples, preprocessor: Preprocessor) -> EpisodeTensors:
    inputs = collate([preprocessor(s.observation) for s in episode.samples])
    actions = torch.from_numpy(np.stack([s.action for s in episode.samples])).float()   # (T, 6)
    return EpisodeTensors(inputs, actions)


def _rows(episodes: Sequence[EpisodeTensors], t: int) -> tuple[FusionInputs, torch.Tensor, torch.Tensor]:
    """Tick ``t`` of every episode (a finished episode repeats its last tick, masked out of the loss)."""
    picks = [min(t, len(e.actions) - 1) for e in episodes]
    inputs = FusionInputs(**{f.name: torch.stack([getattr(e.inputs, f.name)[i] for e, i in zip(episodes, picks)])
                             for f in fields(FusionInputs)})                 # (B, ...)
    targets = torch.stack([e.actions[i] for e, i in zip(episodes, picks)])  # (B, 6)
    valid = torch.tensor([t < len(e.actions) for e in episodes], dtype=torch.float32)   # (B,)
    return inputs, targets, valid


def _unroll(model, episodes: Sequence[EpisodeTensors], window: int, optimiser=None) -> float:
    """Mean loss over the batch's ticks; with an optimiser, one step per window."""
    state = model.initial_state(len(episodes))
    longest = max(len(e.actions) for e in episodes)
    total, count = 0.0, 0.0
    for start in range(0, longest, window):
        loss = torch.zeros(())
        ticks = 0.0
        for t in range(start, min(start + window, longest)):
            inputs, targets, valid = _rows(episodes, t)
            out = model(inputs, state)
            state = out.state
            loss = loss + (((out.action - targets) ** 2).mean(dim=1) * valid).sum()
            ticks += float(valid.sum())
        if optimiser is not None and ticks:
            optimiser.zero_grad()
            (loss / ticks).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
        state = tree_map(lambda x: x.detach() if isinstance(x, torch.Tensor) else x, state)
        total, count = total + float(loss.detach()), count + ticks
    return total / max(count, 1.0)


def train(architecture: str, bags: Sequence[Path], out_dir: Optional[Path] = None, config: TrainConfig = TrainConfig(),
          event_sensor_size: tuple[int, int] = (96, 72), progress: bool = True) -> TrainResult:
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model_config = load_config(architecture)
    model = build_architecture(architecture, model_config)
    if hasattr(model, 'gate_mode'):
        model.gate_mode = 'all'          # clone with every encoder on; the saved config keeps the deployment mode
    preprocessor = Preprocessor(model_config.preprocess)
    episodes = [episode_tensors(load_bag(bag, model_config.preprocess, JOINTS, event_sensor_size,
                                         config.control_rate_hz), preprocessor) for bag in sorted(bags)]
    episodes = [e for e in episodes if len(e.actions)]
    if len(episodes) < 2:
        raise ValueError(f'need at least 2 episodes with samples, got {len(episodes)} from {len(bags)} bags')
    n_val = max(1, int(round(config.val_fraction * len(episodes)))) if config.val_fraction > 0 else 0
    train_set, val_set = episodes[:len(episodes) - n_val], episodes[len(episodes) - n_val:]
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    train_losses, val_losses = [], []
    for epoch in range(config.epochs):
        model.train()
        random.shuffle(train_set)
        losses = [_unroll(model, train_set[i:i + config.batch_episodes], config.window, optimiser)
                  for i in range(0, len(train_set), config.batch_episodes)]
        train_losses.append(float(np.mean(losses)))
        if val_set:
            model.eval()
            with torch.no_grad():
                val_losses.append(float(np.mean([_unroll(model, val_set[i:i + config.batch_episodes], config.window)
                                                 for i in range(0, len(val_set), config.batch_episodes)])))
        if progress:
            bar = '#' * int(30 * (epoch + 1) / config.epochs)
            print(f'\r{architecture} [{bar:<30}] epoch {epoch + 1}/{config.epochs} train {train_losses[-1]:.4f}'
                  + (f' val {val_losses[-1]:.4f}' if val_losses else ''), end='', flush=True)
    if progress:
        print()
    if hasattr(model, 'gate_mode'):
        model.gate_mode = model_config.gate_mode
    weights = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        weights = out_dir / f'{architecture}.safetensors'
        save_weights(model, weights, {'training': json.dumps({**asdict(config), 'episodes': len(episodes)})})
        (out_dir / 'losses.json').write_text(json.dumps({'train': train_losses, 'val': val_losses}))
        _plot_curve(out_dir / 'training_curve.png', train_losses, val_losses, architecture)
    return TrainResult(train_losses, val_losses, weights)


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

"""What tools/fit_freeze.py and tools/fit_reflex.py share: their command line and their episodes.

Each fits one small NVSF-A pathway offline, by its own loss, on the ticks of recorded episodes
that concern it, and grafts it onto trained weights (README, Training).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator, Sequence

from ..preprocess import Preprocessor
from ..sim.task import CONTROL_RATE_HZ
from .behaviour_cloning import EpisodeTensors, cached_episode_tensors


def pathway_fit_parser(description: str, steps: int, learning_rate: float) -> argparse.ArgumentParser:
    """--weights --data --out --steps --learning-rate --config --seed --threads; the caller adds its own
    (and applies ``--threads`` with ``torch.set_num_threads``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--weights', required=True, type=Path, help='trained NVSF-A weights to graft onto')
    parser.add_argument('--data', required=True, nargs='+', type=Path, help='folders of episode bags')
    parser.add_argument('--out', required=True, type=Path)
    parser.add_argument('--steps', type=int, default=steps)
    parser.add_argument('--learning-rate', type=float, default=learning_rate)
    parser.add_argument('--config', type=Path, default=None,
                        help='NVSF-A config to build under (default config/architectures/nvsf_a.yaml)')
    parser.add_argument('--seed', type=int, default=0)
    # One thread by default: beside a training on the other core, two torch threads per process
    # oversubscribe 2 cores and spin (preprocessing a bag then took 4x as long).
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    return parser


def labelled_episodes(folders: Sequence[Path], config) -> Iterator[EpisodeTensors]:
    """The episodes of ``folders`` (sorted) preprocessed under ``config`` (cached beside the bags),
    those with a known tool position (bags of the embedded task) and at least one tick."""
    preprocessor = Preprocessor(config.preprocess)
    for folder in folders:
        for bag in sorted(Path(folder).glob('episode_*')):
            episode = cached_episode_tensors(bag, config.preprocess, preprocessor, CONTROL_RATE_HZ, (96, 72))
            if episode.tool_xy is not None and len(episode.actions):
                yield episode

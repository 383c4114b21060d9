"""Collects DAgger episodes with given weights, as bags the trainer reads (``train --data``).

    python tools/collect_dagger.py --architecture nvsf_a --weights W --out DIR --first-seed S --episodes N
        [--max-seconds 10] [--through-ball] [--config C] [--claims DIR]

The policy drives the embedded simulator alone; every tick is labelled with the privileged
expert's action (``training.behaviour_cloning._dagger_episode``, the trainer's own DAgger step).
A second process collecting while ``train --dagger-rounds`` trains doubles the rate DAgger data
arrives on a 2-core machine; the next run trains on both folders. ``--through-ball``: an episode
goes on after the policy moves during a ball pass, so the whole pass is labelled (the data the
freeze pathway's second fit learned its false freezes from: tools/fit_freeze.py).

``--claims DIR``: processes given the same seeds, ``--out`` and ``DIR`` share the episodes, whenever
each starts. Before an episode a process claims its seed (``DIR/<seed>``, made atomically; a seed
another holds is skipped), and once the bag is whole it marks it ``DIR/<seed>/done``. So a process
that starts early takes what it can, one that joins later takes the rest, and a waiter counts the
``done`` marks. The policy is deterministic, so which process collects a seed does not change its
bag.
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.evaluation import HELD_OUT_FIRST_SEED  # noqa: E402
from sensor_fusion.training.behaviour_cloning import _dagger_episode  # noqa: E402
from sensor_fusion.sim.task import TaskConfig  # noqa: E402
from sensor_fusion.training.closed_loop import ClosedLoop  # noqa: E402
from sensor_fusion.weights import load_weights  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    parser.add_argument('--weights', required=True, type=Path)
    parser.add_argument('--out', required=True, type=Path)
    parser.add_argument('--first-seed', required=True, type=int, help='keep clear of other runs\' seeds and of 100 000 on')
    parser.add_argument('--episodes', type=int, default=16)
    parser.add_argument('--max-seconds', type=float, default=None, help="cut episodes after this long (default: the task's timeout)")
    parser.add_argument('--through-ball', action='store_true', help='go on after a ball violation (TaskConfig)')
    parser.add_argument('--config', type=Path, default=None, help='architecture config (default: the shipped one)')
    parser.add_argument('--claims', type=Path, default=None,
                        help='share the seeds with other processes given the same folder (module docstring)')
    args = parser.parse_args()
    if args.first_seed + args.episodes > HELD_OUT_FIRST_SEED:
        parser.error(f'seeds from {HELD_OUT_FIRST_SEED} on are the evaluation\'s held-out episodes')
    torch.set_num_threads(1)
    config = load_config(args.architecture, args.config)
    model = build_architecture(args.architecture, config)
    load_weights(model, args.weights)
    model.eval()
    loop = ClosedLoop(config.preprocess, task=TaskConfig(ball_violation_ends_episode=not args.through_ball))
    rng = np.random.default_rng(args.first_seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.claims is not None:
        args.claims.mkdir(parents=True, exist_ok=True)
    outcomes = collections.Counter()
    for index, seed in enumerate(range(args.first_seed, args.first_seed + args.episodes)):
        if args.claims is not None:
            try:
                (args.claims / str(seed)).mkdir()
            except FileExistsError:
                continue                      # another process has it
        with torch.no_grad():
            outcome = _dagger_episode(loop, model, seed, 0.0, rng, args.max_seconds, args.out / f'episode_{seed:05d}')
        if args.claims is not None:
            (args.claims / str(seed) / 'done').touch()
        outcomes[outcome.value] += 1
        print(f'{index + 1}/{args.episodes} seed {seed}: {outcome.value}', flush=True)
    print(' '.join(f'{o} {n}' for o, n in sorted(outcomes.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())

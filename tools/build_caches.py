"""Builds the training cache of recorded bags ahead of training, one share of them per process.

    python tools/build_caches.py --architecture nvsf_a --data data/expert data/dart [--part 0 --parts 2]

``sensor-fusion train`` builds each bag's cache (decoding, alignment and preprocessing: 150 bags of
the 60-minute recipe took 148 s on two processes, about 2 s a bag) the first time it reads it, one
bag after the other on one core. Two
of these processes, ``--part 0`` and ``--part 1`` of ``--parts 2``, build them on both cores in
half the time; training then only reads them (tools/train_in_an_hour.sh). The cache is the
trainer's own (``cached_episode_tensors``, keyed by the architecture's preprocessing), so NVSF-A
and NVSF-H share one, and NVSF-C has its own. A bag that cannot be read fails here with the
loader's error, before any training starts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from sensor_fusion.architectures import load_config  # noqa: E402
from sensor_fusion.preprocess import Preprocessor  # noqa: E402
from sensor_fusion.sim.task import CONTROL_RATE_HZ  # noqa: E402
from sensor_fusion.training.behaviour_cloning import cached_episode_tensors  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    parser.add_argument('--data', required=True, nargs='+', type=Path, help='folders of episode bags')
    parser.add_argument('--part', type=int, default=0, help='this process\'s share: every parts-th bag from this one')
    parser.add_argument('--parts', type=int, default=1)
    parser.add_argument('--config', type=Path, default=None, help='architecture config (default: the shipped one)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (two processes with two threads each on 2 cores spin: measured, a bag '
                             'took 4x as long to preprocess)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not 0 <= args.part < args.parts:
        parser.error(f'--part must be in [0, --parts), got {args.part} of {args.parts}')
    missing = [str(folder) for folder in args.data if not folder.is_dir()]
    if missing:
        parser.error(f'no such folder: {", ".join(missing)}')
    config = load_config(args.architecture, args.config)
    preprocessor = Preprocessor(config.preprocess)
    bags = sorted(bag for folder in args.data for bag in folder.glob('episode_*'))[args.part::args.parts]
    start = time.monotonic()
    for index, bag in enumerate(bags):
        cached_episode_tensors(bag, config.preprocess, preprocessor, CONTROL_RATE_HZ, (96, 72))
        print(f'\r{args.architecture} caches, part {args.part + 1}/{args.parts}: {index + 1}/{len(bags)}',
              end='', flush=True)
    print(f'\n{len(bags)} bags in {time.monotonic() - start:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Closed-loop success of weights in-process (no ROS 2), for choosing among training recipes.

    python tools/select_in_process.py --architecture nvsf_a --weights W [--episodes 30]
        [--first-seed 90000 | --held-out] [--ablate MODALITY] [--gate-mode all|threshold] [--command-latency-ms 8]
        [--processes 2] [--json F]

Every recipe comparison in the README (selection seeds 90 000 on, each command applied 8 ms late)
was measured this way: the simulator and the policy in one process (``ClosedLoop``), the command
delayed as it is over ROS 2. It is not the evaluation the results report uses (``sensor-fusion
eval``: sim_node and fusion_node over ROS 2, held-out seeds 100 000 on), and the selection seeds
are kept apart from those, so a recipe is never chosen on the episodes it is reported on.
``--held-out`` runs the held-out seeds instead, to report (never to choose): e.g. an ablation
checked without the timing of two processes over DDS. ``--ablate`` silences one input stream
before ingest, as ``eval --ablate`` does at the topic.
``--processes`` splits the seeds between that many processes (one torch thread each).
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor_fusion.evaluation import HELD_OUT_FIRST_SEED, wilson_interval  # noqa: E402
from sensor_fusion.observation import MODALITIES  # noqa: E402


def run_seeds(job: tuple) -> list[dict]:
    """One process's share: ``(architecture, weights, config, seeds, latency_s, backend, ablate, gate_mode)``."""
    architecture, weights, config, seeds, latency_s, backend, ablate, gate_mode = job
    import torch
    from sensor_fusion.architectures import load_config
    from sensor_fusion.policy import build_policy
    from sensor_fusion.training.closed_loop import ClosedLoop
    torch.set_num_threads(1)
    policy = build_policy(architecture, backend, weights, config, gate_mode=gate_mode)
    loop = ClosedLoop(load_config(architecture, config).preprocess, command_latency_s=latency_s,
                      ablate=[ablate] if ablate else ())
    records = []
    for seed in seeds:
        policy.reset()
        decisions = []

        def controller(observation, _expert):
            decisions.append(policy.act(observation))
            return decisions[-1].action

        run = loop.run(seed, controller)
        # What the decisions cost: NVSF-A's gate, and its held tokens, change how many encoders run.
        ran = collections.Counter(name for d in decisions for name in d.encoders_run)
        records.append({'seed': seed, 'outcome': run.verdict.value, 'time_s': round(run.time_s, 3),
                        'peak_force_n': round(run.peak_force_n, 3), 'decisions': len(decisions),
                        'macs_per_decision': sum(d.cost.dense_macs for d in decisions) / max(len(decisions), 1),
                        'energy_uj_per_decision': 1e6 * sum(d.energy.total_j for d in decisions) / max(len(decisions), 1),
                        'encoders_run': {m: ran[m] / max(len(decisions), 1) for m in MODALITIES}})
        print(f'seed {seed}: {run.verdict.value} ({run.time_s:.2f} s)', flush=True)
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    parser.add_argument('--weights', required=True, type=Path)
    parser.add_argument('--config', type=Path, default=None, help='architecture config (default: the shipped one)')
    parser.add_argument('--backend', default='cpu')
    parser.add_argument('--episodes', type=int, default=30)
    parser.add_argument('--first-seed', type=int, default=90_000)
    parser.add_argument('--held-out', action='store_true',
                        help=f'the held-out seeds ({HELD_OUT_FIRST_SEED} on), to report, never to choose a recipe on')
    parser.add_argument('--ablate', default=None, choices=MODALITIES, help='silence this input stream')
    parser.add_argument('--gate-mode', default='', choices=['', 'all', 'threshold'],
                        help="nvsf_a's encoder gate at deployment (default: the config's)")
    parser.add_argument('--command-latency-ms', type=float, default=8.0)
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--json', type=Path, default=None, help='write every episode record here')
    args = parser.parse_args()
    if args.episodes < 1 or args.processes < 1:
        parser.error('--episodes and --processes must be at least 1')
    if args.held_out:
        args.first_seed = HELD_OUT_FIRST_SEED
    elif args.first_seed + args.episodes > HELD_OUT_FIRST_SEED:
        parser.error(f'seeds from {HELD_OUT_FIRST_SEED} on are the evaluation\'s held-out episodes (--held-out to '
                     f'report on them)')
    if not args.weights.is_file():
        parser.error(f'{args.weights}: no such weights file')
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    shares = [seeds[i::args.processes] for i in range(args.processes) if seeds[i::args.processes]]
    jobs = [(args.architecture, args.weights, args.config, share, args.command_latency_ms / 1000, args.backend,
             args.ablate, args.gate_mode) for share in shares]
    start = time.monotonic()
    # spawn: each process builds its own renderer and torch state (a forked EGL context is not safe)
    with multiprocessing.get_context('spawn').Pool(len(jobs)) as pool:
        records = sorted((r for share in pool.map(run_seeds, jobs) for r in share), key=lambda r: r['seed'])
    successes = sum(r['outcome'] == 'success' for r in records)
    low, high = wilson_interval(successes, len(records))
    outcomes = collections.Counter(r['outcome'] for r in records)
    decisions = sum(r['decisions'] for r in records)
    macs = sum(r['macs_per_decision'] * r['decisions'] for r in records) / max(decisions, 1)
    energy = sum(r['energy_uj_per_decision'] * r['decisions'] for r in records) / max(decisions, 1)
    ran = {m: sum(r['encoders_run'][m] * r['decisions'] for r in records) / max(decisions, 1) for m in MODALITIES}
    print(f'{args.weights}: {successes} of {len(records)} ({100 * successes / len(records):.0f} %, '
          f'95 % CI {100 * low:.0f}-{100 * high:.0f} %), seeds {seeds[0]}-{seeds[-1]}, '
          f'commands {args.command_latency_ms:g} ms late' + (f', without {args.ablate}' if args.ablate else '') + '; '
          + ', '.join(f'{o} {n}' for o, n in outcomes.most_common())
          + f'; {time.monotonic() - start:.0f} s')
    print(f'per decision: {macs:.4g} MACs, {energy:.3g} uJ; encoders run on this share of decisions: '
          + ', '.join(f'{m} {f:.2f}' for m, f in ran.items()))
    if args.json is not None:
        args.json.write_text(json.dumps({'weights': str(args.weights), 'command_latency_ms': args.command_latency_ms,
                                         'ablate': args.ablate, 'gate_mode': args.gate_mode, 'records': records}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())

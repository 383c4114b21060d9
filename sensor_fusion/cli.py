"""``sensor-fusion`` command line (also ``python -m sensor_fusion``)."""
from __future__ import annotations

import argparse
import logging
import sys


def _demo(args: argparse.Namespace) -> int:
    from .architectures import ARCHITECTURES
    from .backends import BACKENDS, BackendUnavailableError
    from .bench import typical_observation
    from .policy import build_policy
    print('sensor_fusion demo, part 1: the fusion core on generated sensor ticks.')
    print('NOTE: the closed loop in the embedded MuJoCo simulator is not built yet (simulator and training '
          'issues); until then the demo runs untrained, seeded weights on generated sensor data, so the '
          'actions show plumbing and timing, not skill.\n')
    print(f'{"architecture":12} {"backend":10} {"ms/decision":>11} {"energy uJ":>9}  encoders run   first action')
    for architecture in ARCHITECTURES.keys():
        for backend in BACKENDS.keys():
            try:
                policy = build_policy(architecture, backend)
            except BackendUnavailableError as error:
                print(f'{architecture:12} {backend:10} refused: {str(error).split(";")[0]}')
                continue
            decisions = [policy.act(typical_observation(seed)) for seed in range(args.ticks)]
            ms = sorted(d.compute_s for d in decisions)[len(decisions) // 2] * 1e3
            print(f'{architecture:12} {backend:10} {ms:11.2f} {decisions[-1].energy.total_j * 1e6:9.2f}  '
                  f'{len(decisions[-1].encoders_run)}/6          {decisions[0].action.round(2).tolist()}')
    return _demo_ros(args)


def _demo_ros(args: argparse.Namespace) -> int:
    """Part 2: the closed loop over ROS 2: sim_node (the MuJoCo world) <-> fusion_node, separate processes."""
    import numpy as np

    from .bringup import plan
    from .runner import Runner
    print(f'\nsensor_fusion demo, part 2: `sensor-fusion up sim architecture:={args.architecture} '
          f'backend:={args.backend}`: sim_node (MuJoCo arm, camera 15 Hz, DVS, wrench 500 Hz, taxels, microphone) '
          '<-> fusion_node, over ROS 2 topics on this machine only. Untrained weights until models/ ships trained '
          'ones: the arm moves, but not with skill.')
    runner = Runner(plan('sim', architecture=args.architecture, backend=args.backend,
                         control_rate_hz=str(args.rate)))
    runner.start()
    try:
        from .ros.watch import watch
        seen = watch(args.seconds, started=lambda: runner.poll() is None)
    finally:
        died = runner.poll()
        runner.stop()
    if died or not seen.commands:
        print(f'the closed loop failed: {died or "no command arrived"}')
        return 1
    times = np.array([t for t, _ in seen.commands])
    twists = np.stack([c for _, c in seen.commands])
    d = seen.diagnostics
    print(f'{len(twists)} commands in {times[-1] - times[0]:.1f} s ({(len(twists) - 1) / (times[-1] - times[0]):.1f} Hz); '
          f'max |linear| {np.abs(twists[:, :3]).max():.3f} m/s, max |angular| {np.abs(twists[:, 3:]).max():.3f} rad/s '
          '(limits 0.2, 1.0)')
    print(f'fusion_node diagnostics: {seen.message}; input->command latency p50 {d.get("latency_p50_ms")} ms, '
          f'p99 {d.get("latency_p99_ms")} ms; energy {d.get("energy_per_decision_uj")} uJ/decision; '
          f'dropped inputs {sum(int(v) for k, v in d.items() if k.endswith(".dropped"))}')
    for result in seen.episodes:
        print(f'episode seed={result["seed"]} target={result["target"]}: {result["outcome"]} after '
              f'{result["time_s"]:.1f} s (peak press force {result["peak_force_n"]:.1f} N)')
    if not seen.episodes:
        print('no episode finished within the demo window (episodes end on success, a failure or after 15 s)')
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.what == 'ros':
        from .ros.bench_ros import format_table, run as run_ros
        print(f'fusion_node under real-rate streams, {args.duration:.0f} s per architecture (untrained weights; '
              'latency does not depend on training)')
        print(format_table(run_ros(args.architectures, args.duration)))
        return 0
    if args.what == 'sim':
        from .bench import bench_sim
        print(bench_sim(args.episodes))
        return 0
    if args.what == 'evt3':
        from .bench import bench_evt3
        print(bench_evt3())
        return 0
    from .bench import run
    run(threads=args.threads, repeats=args.repeats)
    return 0


def _up(args: argparse.Namespace) -> int:
    from .bringup import parse_launch_arguments, plan
    from .runner import Runner
    nodes = plan(args.target, **parse_launch_arguments(args.launch_arguments))
    try:
        return Runner(nodes).run(duration_s=args.duration)
    except FileNotFoundError as error:
        logging.getLogger('sensor_fusion.up').error(str(error))
        return 2


def _record(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .ros.recorder import record_expert
    episodes = record_expert(Path(args.out), range(args.first_seed, args.first_seed + args.episodes),
                             render=not args.no_render)
    successes = sum(e.outcome.value == 'success' for e in episodes)
    print(f'{len(episodes)} expert episodes in {args.out}: {successes} successes')
    return 0


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.behaviour_cloning import TrainConfig, train
    bags = sorted(p for p in Path(args.data).iterdir() if p.is_dir())
    result = train(args.architecture, bags, Path(args.out),
                   TrainConfig(epochs=args.epochs, seed=args.seed, batch_episodes=args.batch_episodes))
    print(f'weights: {result.weights}; final train loss {result.train_losses[-1]:.4f}'
          + (f', validation {result.val_losses[-1]:.4f}' if result.val_losses else ''))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    parser = argparse.ArgumentParser(prog='sensor-fusion', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    demo = commands.add_parser('demo', help='run what exists end to end')
    demo.add_argument('--ticks', type=int, default=20)
    demo.add_argument('--architecture', default='nvsf_h')
    demo.add_argument('--backend', default='loihi_sim')
    demo.add_argument('--rate', type=float, default=50.0, help='control rate of the ROS part, Hz')
    demo.add_argument('--seconds', type=float, default=20.0, help='how long the closed loop runs after the first command')
    demo.set_defaults(handler=_demo)
    bench = commands.add_parser('bench', help='benchmarks that print tables')
    bench.add_argument('what', choices=['models', 'ros', 'evt3', 'sim'],
                       help='models: per-decision latency/energy; ros: the node under real-rate streams; '
                            'evt3: event decoding throughput; sim: expert success and simulator speed')
    bench.add_argument('--episodes', type=int, default=200, help='sim: seeded expert episodes')
    bench.add_argument('--duration', type=float, default=20.0, help='ros: measured seconds per architecture')
    bench.add_argument('--architectures', nargs='+', default=['nvsf_a', 'nvsf_h', 'nvsf_c'])
    bench.add_argument('--threads', type=int, default=1,
                       help='torch threads; 1 is fastest for batch-1 decisions on small models')
    bench.add_argument('--repeats', type=int, default=300)
    bench.set_defaults(handler=_bench)
    record = commands.add_parser('record', help='record scripted-expert demonstrations in the simulator as MCAP bags')
    record.add_argument('--out', required=True, help='folder for the bags (one per episode)')
    record.add_argument('--episodes', type=int, default=10)
    record.add_argument('--first-seed', type=int, default=0)
    record.add_argument('--no-render', action='store_true', help='physics only (no camera or events)')
    record.set_defaults(handler=_record)
    train = commands.add_parser('train', help='behaviour cloning from recorded bags')
    train.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    train.add_argument('--data', required=True, help='folder of bags (from sensor-fusion record)')
    train.add_argument('--out', required=True, help='folder for weights, losses.json and training_curve.png')
    train.add_argument('--epochs', type=int, default=30)
    train.add_argument('--batch-episodes', type=int, default=8)
    train.add_argument('--seed', type=int, default=0)
    train.set_defaults(handler=_train)
    up = commands.add_parser('up', help='start a bring-up target as separate processes (no ros2 launch needed)')
    up.add_argument('target', help='bring-up target: robot | sim | synthetic | gazebo')
    up.add_argument('launch_arguments', nargs='*', metavar='name:=value',
                    help='architecture, backend, command_interface, params_file, use_sim_time, or any fusion_node '
                         'parameter')
    up.add_argument('--duration', type=float, default=None, help='stop after this many seconds')
    up.set_defaults(handler=_up)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())

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
    print('sensor_fusion demo: the ROS-free fusion core on synthetic sensor ticks.')
    print('NOTE: the closed loop in the embedded MuJoCo simulator over ROS 2 is not built yet (ROS layer, '
          'simulator and training issues); until then this runs every architecture x backend with untrained, '
          'seeded weights on generated observations, so the actions show plumbing, not skill.\n')
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
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.what == 'ros':
        from .ros.bench_ros import format_table, run as run_ros
        print(f'fusion_node under real-rate streams, {args.duration:.0f} s per architecture (untrained weights; '
              'latency does not depend on training)')
        print(format_table(run_ros(args.architectures, args.duration)))
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
    return Runner(nodes).run(duration_s=args.duration)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    parser = argparse.ArgumentParser(prog='sensor-fusion', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    demo = commands.add_parser('demo', help='run what exists end to end')
    demo.add_argument('--ticks', type=int, default=20)
    demo.set_defaults(handler=_demo)
    bench = commands.add_parser('bench', help='benchmarks that print tables')
    bench.add_argument('what', choices=['models', 'ros', 'evt3'],
                       help='models: per-decision latency/energy; ros: the node under real-rate streams; '
                            'evt3: event decoding throughput')
    bench.add_argument('--duration', type=float, default=20.0, help='ros: measured seconds per architecture')
    bench.add_argument('--architectures', nargs='+', default=['nvsf_a', 'nvsf_h', 'nvsf_c'])
    bench.add_argument('--threads', type=int, default=1,
                       help='torch threads; 1 is fastest for batch-1 decisions on small models')
    bench.add_argument('--repeats', type=int, default=300)
    bench.set_defaults(handler=_bench)
    up = commands.add_parser('up', help='start a bring-up target as separate processes (no ros2 launch needed)')
    up.add_argument('target', help='bring-up target: robot | synthetic')
    up.add_argument('launch_arguments', nargs='*', metavar='name:=value',
                    help='architecture, backend, command_interface, params_file, use_sim_time, or any fusion_node '
                         'parameter')
    up.add_argument('--duration', type=float, default=None, help='stop after this many seconds')
    up.set_defaults(handler=_up)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())

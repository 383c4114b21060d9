"""``sensor-fusion`` command line (also ``python -m sensor_fusion``)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional


def _demo(args: argparse.Namespace) -> int:
    from .architectures import ARCHITECTURES
    from .backends import BACKENDS, BackendUnavailableError
    from .bench import typical_observation
    from .policy import build_policy
    print('sensor_fusion demo, part 1: every architecture x backend on generated sensor ticks (timing and '
          'energy per decision; seeded random weights here: latency does not depend on training).\n')
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
    from .paths import models_dir
    print(f'\nsensor_fusion demo, part 2: {args.episodes} held-out episodes of sim_node (MuJoCo arm, camera 15 Hz, '
          f'DVS, wrench 500 Hz, taxels, microphone) <-> fusion_node ({args.architecture} on {args.backend}, '
          f'weights {models_dir() / (args.architecture + ".safetensors")}), separate processes over ROS 2 '
          'topics on this machine only.')
    return _run_eval(args.architecture, args.backend, args.episodes, args.first_seed, None, None, None,
                     Path(args.video) if args.video else None, real_time_factor=args.real_time_factor)


def _train_gate(args: argparse.Namespace) -> int:
    import torch

    from .training.gate_rl import GateConfig, train_gate
    torch.set_num_threads(1)
    try:
        config = GateConfig(iterations=args.iterations, episodes_per_iteration=args.episodes,
                            compute_price=args.compute_price, plan_weight=args.plan_weight,
                            goal_weight=args.goal_weight, max_episode_s=args.max_episode_s, seed=args.seed,
                            ungated_modalities=tuple(args.ungated), gate_reads_staleness=args.staleness,
                            gate_max_stand_in=args.max_stand_in,
                            learning_rate=args.learning_rate,
                            discount=args.discount, success_bonus=args.success_bonus)
        result = train_gate(Path(args.weights), Path(args.out), config)
    except ValueError as error:            # a bad setting, or weights that are not NVSF-A's (WeightsError)
        print(f'gate training not started: {error}')
        return 2
    print(f'weights: {result.weights}; encoders run in the last iteration: {result.encoder_fraction[-1]}')
    return 0


def _report(args: argparse.Namespace) -> int:
    from .backends import BACKENDS, BackendUnavailableError, build_backend
    from .report import report
    available = []
    for backend in BACKENDS.keys():
        try:
            build_backend(backend)
            available.append(backend)
        except BackendUnavailableError as error:
            print(f'skipping backend {backend}: {error}')
    print(report(Path(args.results), Path(args.readme), args.episodes, args.ablation_episodes, args.ablate,
                 available, evaluate_missing=not args.from_saved, real_time_factor=args.real_time_factor))
    return 0


def _eval(args: argparse.Namespace) -> int:
    return _run_eval(args.architecture, args.backend, args.episodes, args.first_seed, args.ablate, args.weights,
                     Path(args.json) if args.json else None, Path(args.video) if args.video else None, args.timeout,
                     args.real_time_factor, args.gate_mode, args.config)


def _run_eval(architecture: str, backend: str, episodes: int, first_seed: int, ablate: Optional[str],
              weights: Optional[str], json_path: Optional[Path], video_path: Optional[Path],
              episode_timeout_s: float = 15.0, real_time_factor: float = 1.0, gate_mode: str = '',
              config: Optional[str] = None) -> int:
    import json
    from dataclasses import asdict

    from .evaluation import format_table, summarise
    from .ros.evaluate import EvalSettings, EvaluationError, evaluate
    try:
        settings = EvalSettings(architecture, backend, episodes, first_seed, ablate, weights, episode_timeout_s,
                                real_time_factor, gate_mode, config)
    except ValueError as error:
        print(f'evaluation not started: {error}')
        return 2
    video = None
    if video_path is not None:
        from .video import EpisodeVideo
        video = EpisodeVideo(video_path)

    def report(index: int, record) -> None:
        print(f'episode {index + 1}/{episodes} seed={record.seed} target={record.target}: {record.outcome} after '
              f'{record.time_s:.1f} s (peak press force {record.peak_force_n:.1f} N, {len(record.latencies_ms)} '
              'decisions)', flush=True)
    try:
        records = evaluate(settings, report, video)
    except (EvaluationError, FileNotFoundError) as error:
        print(f'evaluation failed: {error}')
        return 1
    finally:
        written = video.close() if video is not None else None
    print()
    print(format_table([summarise(settings.label, records)]))
    if written is not None:
        print(f'video: {written} ({video.frames} frames)')
    if json_path is not None:
        from .model_card import sha256
        from .paths import models_dir
        # Named by their weights, as `report` saves its runs: a record file says what it measured, and
        # `report --from-saved` can put it in the results table.
        measured = Path(weights) if weights else models_dir() / f'{architecture}.safetensors'
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({'settings': {**asdict(settings), 'weights_sha256': sha256(measured)},
                                         'records': [asdict(r) for r in records]}))
        print(f'records: {json_path}')
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
    for flag, value in (('--action-noise', args.action_noise), ('--press-noise', args.press_noise)):
        if not value >= 0:
            raise SystemExit(f'record: {flag} must be >= 0 m/s, got {value}')
    episodes = record_expert(Path(args.out), range(args.first_seed, args.first_seed + args.episodes),
                             render=not args.no_render, action_noise_mps=args.action_noise,
                             press_noise_mps=args.press_noise)
    successes = sum(e.outcome.value == 'success' for e in episodes)
    print(f'{len(episodes)} expert episodes in {args.out}: {successes} successes')
    return 0


def _parse_dropout(items: list[str]) -> dict[str, float]:
    """['events=0.5', 'wrench=0.2'] -> {'events': 0.5, 'wrench': 0.2} (TrainConfig checks names and values)."""
    probabilities = {}
    for item in items:
        name, sep, value = item.partition('=')
        try:
            if not sep:
                raise ValueError(item)
            probabilities[name] = float(value)
        except ValueError:
            raise SystemExit(f'--modality-dropout: expected MODALITY=PROBABILITY, got {item!r}') from None
    return probabilities


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from .training.behaviour_cloning import TrainConfig, train
    torch.set_num_threads(args.threads)
    bags = sorted(p for folder in args.data for p in Path(folder).iterdir()
                  if p.is_dir() and not p.name.startswith('.'))
    try:
        config = TrainConfig(epochs=args.epochs, seed=args.seed, batch_episodes=args.batch_episodes,
                             window=args.window, dagger_rounds=args.dagger_rounds,
                             dagger_episodes=args.dagger_episodes, dagger_epochs=args.dagger_epochs,
                             dagger_first_seed=args.dagger_first_seed,
                             dagger_expert_mix=tuple(args.dagger_expert_mix),
                             dagger_max_seconds=args.dagger_max_seconds,
                             dagger_through_ball_violations=args.dagger_through_ball_violations,
                             weight_average_decay=args.weight_average_decay,
                             target_probe_weight=args.target_probe_weight,
                             camera_probe_weight=args.camera_probe_weight, learning_rate=args.learning_rate,
                             keyframe_weight=args.keyframe_weight, contact_weight=args.contact_weight,
                             trainable=tuple(args.trainable),
                             modality_dropout=_parse_dropout(args.modality_dropout),
                             camera_pretrain_epochs=args.camera_pretrain_epochs, goal_weight=args.goal_weight,
                             goal_teacher_forcing=args.goal_teacher_forcing,
                             tool_pretrain_epochs=args.tool_pretrain_epochs)
    except ValueError as error:          # a bad setting: say which, without a traceback
        raise SystemExit(f'train: {error}') from None
    result = train(args.architecture, bags, Path(args.out), config,
                   init_weights=Path(args.init) if args.init else None)
    print(f'weights: {result.weights}'
          + (f'; final train loss {result.train_losses[-1]:.4f}' if result.train_losses else '; pretraining only')
          + (f', validation {result.val_losses[-1]:.4f}' if result.val_losses else '')
          + (f'; DAgger closed-loop success per round {result.dagger_success}' if result.dagger_success else '')
          + (f'; camera localisation R^2 {result.camera_localisation[-1]:.3f}' if result.camera_localisation else '')
          + (f'; tool localisation R^2 {result.tool_localisation[-1]:.4f}' if result.tool_localisation else ''))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .evaluation import HELD_OUT_FIRST_SEED
    from .observation import MODALITIES
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    parser = argparse.ArgumentParser(prog='sensor-fusion', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    demo = commands.add_parser('demo', help='the core on generated ticks, then the closed loop in the simulator')
    demo.add_argument('--ticks', type=int, default=20)
    demo.add_argument('--architecture', default='nvsf_h', choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    demo.add_argument('--backend', default='loihi_sim')
    demo.add_argument('--episodes', type=int, default=3, help='closed-loop episodes (held-out seeds)')
    demo.add_argument('--first-seed', type=int, default=HELD_OUT_FIRST_SEED)
    demo.add_argument('--video', default='out/demo.mp4', help="MP4 of the episodes ('' for none)")
    demo.add_argument('--real-time-factor', type=float, default=1.0,
                      help="below 1: the world slowed on the simulated clock, as in eval (for a slow machine)")
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
    record.add_argument('--action-noise', type=float, default=0.0, metavar='M_PER_S',
                        help='DART: the arm executes the expert plus drifting noise of this standard deviation '
                             'while listening and travelling; the bags keep the expert\'s command (0: off)')
    record.add_argument('--press-noise', type=float, default=0.0, metavar='M_PER_S',
                        help='DART for the press: drifting noise of this standard deviation on the downward push '
                             'while in contact (e.g. 0.008); the bags keep the expert\'s command (0: off)')
    record.set_defaults(handler=_record)
    train = commands.add_parser('train', help='behaviour cloning from recorded bags')
    train.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    train.add_argument('--data', required=True, nargs='+',
                       help='folders of bags (sensor-fusion record; earlier DAgger bags from <out>/dagger)')
    train.add_argument('--out', required=True, help='folder for weights, losses.json and training_curve.png')
    train.add_argument('--epochs', type=int, default=30,
                       help='cloning epochs over the bags before any DAgger round (0: DAgger only, e.g. with --init)')
    train.add_argument('--batch-episodes', type=int, default=16)
    train.add_argument('--seed', type=int, default=0)
    train.add_argument('--window', type=int, default=25, help='ticks of truncated backpropagation through time')
    train.add_argument('--dagger-rounds', type=int, default=0,
                       help='closed-loop DAgger rounds after cloning (expert-labelled policy episodes)')
    train.add_argument('--dagger-episodes', type=int, default=10, help='policy episodes per DAgger round')
    train.add_argument('--dagger-epochs', type=int, default=4, help='epochs after each DAgger round')
    train.add_argument('--dagger-first-seed', type=int, default=50_000,
                       help='first DAgger seed (a later run continues where an earlier one stopped)')
    train.add_argument('--dagger-expert-mix', type=float, nargs='*', default=[0.5, 0.25],
                       help='share of ticks the expert drives in DAgger rounds 1, 2, ... (later rounds: 0); '
                            'give none to let the policy drive alone from the first round')
    train.add_argument('--dagger-max-seconds', type=float, default=None,
                       help="cut DAgger episodes after this long (default: the task's timeout); the start and "
                            'the approach, where a stalled policy spends its time, come first')
    train.add_argument('--dagger-through-ball-violations', action='store_true',
                       help='DAgger episodes go on after the policy moves while the ball passes (counted as that '
                            'failure), so the whole pass is labelled in the states of a policy that did not freeze')
    train.add_argument('--weight-average-decay', type=float, default=0.0,
                       help='> 0: keep an exponential moving average of the weights (this decay per optimiser step, '
                            'e.g. 0.99) and validate, roll out, checkpoint and save it (0: off)')
    train.add_argument('--target-probe-weight', type=float, default=0.0,
                       help='auxiliary loss: name the target cube and its position from the recurrent state (0: off)')
    train.add_argument('--camera-probe-weight', type=float, default=0.0,
                       help="auxiliary loss: every cube's position from the camera token (nvsf_a, nvsf_h; 0: off)")
    train.add_argument('--trainable', nargs='+', default=[], metavar='PREFIX',
                       help='train only the parameters whose names start with these prefixes, the rest frozen '
                            '(e.g. reflex. for NVSF-A\'s reflex pathway; default: all)')
    train.add_argument('--contact-weight', type=float, default=0.0,
                       help='k: weigh the action loss of ticks whose wrench shows the pad pressing by 1 + k '
                            '(the press needs the most precise commands; 0: off)')
    train.add_argument('--keyframe-weight', type=float, default=0.0,
                       help="extra loss weight per unit of change of the expert's action since the previous tick "
                            '(the ticks where it sets off or freezes; 0: off)')
    train.add_argument('--camera-pretrain-epochs', type=int, default=0,
                       help='before cloning, epochs in which the camera encoder learns where every cube lies from '
                            'single frames (needs --camera-probe-weight or --goal-weight; nvsf_a, nvsf_h)')
    train.add_argument('--goal-weight', type=float, default=0.0,
                       help="supervises NVSF-A's goal pathway (goal_pathway: true in its config): the instruction, "
                            'where each cube and the tool are, and the goal (0: off)')
    train.add_argument('--tool-pretrain-epochs', type=int, default=0,
                       help="before cloning, epochs over every tick in which the goal pathway's tool locator learns "
                            'where the tool is from the joint angles (needs --goal-weight; 0: off)')
    train.add_argument('--goal-teacher-forcing', type=float, default=0.0, metavar='P',
                       help="per training episode, with probability P the head reads the true goal - tool instead "
                            "of the goal pathway's estimate (needs --goal-weight; 0: off)")
    train.add_argument('--modality-dropout', nargs='*', default=[], metavar='MODALITY=P',
                       help='per training episode, drop each named modality for the whole episode with '
                            'probability P, as a silenced topic (e.g. events=0.5)')
    train.add_argument('--learning-rate', type=float, default=1e-3,
                       help='AdamW learning rate (lower it when continuing from --init)')
    train.add_argument('--init', default=None,
                       help='continue from these weights instead of a fresh initialisation: every tensor whose name '
                            'and shape the model shares (the rest, e.g. a new pathway, start fresh and are listed)')
    train.add_argument('--threads', type=int, default=1, help='torch threads (1: two trainings share 2 cores)')
    train.set_defaults(handler=_train)
    evaluation = commands.add_parser('eval', help='closed-loop episodes over ROS 2 (sim_node + fusion_node processes)')
    evaluation.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    evaluation.add_argument('--backend', default='cpu', help='cpu | cuda | loihi_sim (nvsf_h only)')
    evaluation.add_argument('--episodes', type=int, default=20)
    evaluation.add_argument('--first-seed', type=int, default=HELD_OUT_FIRST_SEED,
                            help='seeds first..first+N-1; the default range is held out from all training')
    evaluation.add_argument('--ablate', choices=list(MODALITIES), default=None,
                            help='silence this input stream at the topic level (the node masks it)')
    evaluation.add_argument('--weights', default=None, help='default: models/<architecture>.safetensors')
    evaluation.add_argument('--json', default=None, help='write every episode record here')
    evaluation.add_argument('--video', default=None, help='write an MP4 of the episodes here')
    evaluation.add_argument('--timeout', type=float, default=15.0, help="each episode's timeout, simulated s")
    evaluation.add_argument('--real-time-factor', type=float, default=1.0,
                            help='below 1: both nodes on the simulated clock, the world slowed to this fraction of '
                                 'real time (for a machine that cannot simulate in real time; sim_node warns '
                                 '"fell behind real time" when so)')
    evaluation.add_argument('--config', default=None,
                            help='architecture YAML the weights were trained with (default: the shipped one)')
    evaluation.add_argument('--gate-mode', choices=['all', 'threshold'], default='',
                            help="nvsf_a's encoder gate: all (every encoder) or threshold (the trained gate skips "
                                 "some); default: the architecture config's")
    evaluation.set_defaults(handler=_eval)
    gate = commands.add_parser('train-gate', help="NVSF-A's encoder gate by reinforcement learning in the simulator")
    gate.add_argument('--weights', required=True, help='cloned NVSF-A weights (sensor-fusion train)')
    gate.add_argument('--out', required=True, help='where to write the weights with the trained gate')
    gate.add_argument('--iterations', type=int, default=6)
    gate.add_argument('--episodes', type=int, default=4, help='episodes per iteration')
    gate.add_argument('--compute-price', type=float, default=0.01,
                      help="reward for saving every gateable encoder's MACs on one tick")
    gate.add_argument('--plan-weight', type=float, default=1.0, help="the plan's change against the command's")
    gate.add_argument('--goal-weight', type=float, default=1.0, help="the goal estimate's change against the command's")
    gate.add_argument('--max-episode-s', type=float, default=10.0)
    gate.add_argument('--ungated', nargs='*', default=['proprio'], choices=list(MODALITIES),
                      help='encoders the gate may not skip (the joints: the goal pathway reads them every tick)')
    gate.add_argument('--staleness', action='store_true',
                      help='the gate also reads on how many ticks each held token has stood in for a newer input')
    gate.add_argument('--max-stand-in', type=int, default=0,
                      help='a held token stands in for a newer input on at most this many ticks in a row, then '
                           'its encoder runs whatever the gate says (0: no bound; 7: one 15 Hz camera frame); '
                           'deploy with gate_max_stand_in set the same')
    gate.add_argument('--seed', type=int, default=0)
    gate.add_argument('--learning-rate', type=float, default=0.05, help='Adam on the gate, one step per iteration')
    gate.add_argument('--success-bonus', type=float, default=0.01,
                      help="reward per tick of an episode that succeeded, against its iteration's mean")
    gate.add_argument('--discount', type=float, default=0.0, help="per tick, for each gate choice's return")
    gate.set_defaults(handler=_train_gate)
    results = commands.add_parser('report', help='evaluate every architecture x backend and the ablations; '
                                                 'write results/ and the README section')
    results.add_argument('--episodes', type=int, default=100)
    results.add_argument('--ablation-episodes', type=int, default=30)
    results.add_argument('--ablate', default='nvsf_a',
                         help='architecture whose inputs are ablated (default: the most successful, the one the '
                              "issue's fusion target concerns)")
    results.add_argument('--results', default='results')
    results.add_argument('--readme', default='README.md')
    results.add_argument('--from-saved', action='store_true', help='only redraw from results/*.json')
    results.add_argument('--real-time-factor', type=float, default=1.0,
                         help="runs it evaluates: the world's pace against the wall clock (see eval)")
    results.set_defaults(handler=_report)
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

"""Fit NVSF-A's descent pathway offline on the expert's vertical commands and graft it onto trained weights.

    python tools/fit_descent.py --weights models/nvsf_a.safetensors --data data/expert7 data/dart7 \\
        --out out/nvsf_a_descent.safetensors

Needs ``descent_pathway: true`` in the config (``--config``, default config/architectures/nvsf_a.yaml;
the weights are built, loaded and saved under it). The pathway reads the joint angles and bounds the
head's downward command before contact by the expert's fastest descent at that height. Three steps,
minibatch Adam, a few minutes; the rest of the weights are copied unchanged:

1. the tool tip's height from the joint angles, by squared error against the simulated arm's forward
   kinematics (as the goal pathway's tool position is supervised);
2. the press height, the highest tip height at which a force is a press (the freeze lets a press
   go on, not braking);
3. the bound from that height: a low quantile (``--quantile``) of the expert's vertical commands,
   by the pinball loss on the ticks before contact where the expert moves (its exact zeros, for the
   tone and the ball, say nothing of how fast it descends). The expert descends at 0.05 m/s down
   to 1.5 cm above the cube and at 0.01 m/s below (sim.expert.act): that step is what it learns.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.architectures.control_pathways import FREEZE_BELOW_N, TIP_HEIGHT_OFFSET_M, TIP_HEIGHT_SCALE_M  # noqa: E402
from sensor_fusion.training.behaviour_cloning import pressing_ticks, tip_positions  # noqa: E402
from sensor_fusion.training.closed_loop import SIM_LIMITS  # noqa: E402
from sensor_fusion.training.pathway_fit import labelled_episodes, pathway_fit_parser  # noqa: E402
from sensor_fusion.weights import fitted_metadata, load_matching_weights, save_weights  # noqa: E402

SLOW_MPS = 0.01   # the expert's descent over the last 1.5 cm (sim.expert.act), for the printed check
PRESS_HEIGHT_MARGIN_M = 0.01   # above the presses' median tip height, still a press (they span 4.5-5.5 cm)


def pinball(bound: torch.Tensor, target: torch.Tensor, quantile: float) -> torch.Tensor:
    """Mean quantile loss: minimised when a ``quantile`` share of ``target`` lies below ``bound``."""
    error = target - bound
    return torch.maximum(quantile * error, (quantile - 1.0) * error).mean()


def main() -> int:
    parser = pathway_fit_parser(__doc__.split("\n\n")[0], steps=4000, learning_rate=1e-2)
    parser.add_argument('--batch', type=int, default=2048)
    parser.add_argument('--bound-learning-rate', type=float, default=3e-2,
                        help='of the second fit (the pinball gradient is small: 2 %% of the ticks pull)')
    parser.add_argument('--quantile', type=float, default=0.02,
                        help="the share of the expert's vertical commands allowed below the bound")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not 0.0 < args.quantile < 0.5:
        raise SystemExit(f'--quantile must be in (0, 0.5), got {args.quantile}')
    config = load_config('nvsf_a', args.config)
    if not config.descent_pathway:
        raise SystemExit(f'{args.config or "config/architectures/nvsf_a.yaml"} needs descent_pathway: true')
    torch.manual_seed(args.seed)
    proprio, height, vertical, fitted, episode_of, press_force = [], [], [], [], [], []
    for episode in labelled_episodes(args.data, config):
        before_contact = ~pressing_ticks(episode.inputs.wrench, config.preprocess.haptic.force_scale_n)   # (T,)
        moving = (episode.actions != 0).any(dim=1)                                                        # (T,)
        proprio.append(episode.inputs.proprio)                                 # (T, 2 J)
        tip_z = torch.from_numpy(tip_positions(episode.inputs.proprio)[:, 2]).float()   # (T,) m
        height.append((tip_z - TIP_HEIGHT_OFFSET_M) / TIP_HEIGHT_SCALE_M)
        vertical.append(episode.actions[:, 2])                                 # (T,) in [-1, 1]
        press_force.append(episode.inputs.wrench[:, -1, :3].norm(dim=1) * config.preprocess.haptic.force_scale_n)
        fitted.append(before_contact & moving)                                 # (T,) ticks the bound is fitted on
        episode_of.append(torch.full((len(episode.actions),), len(episode_of)))
    if not fitted or not sum(int(f.sum()) for f in fitted):
        raise SystemExit(f'no moving ticks before contact in {[str(d) for d in args.data]}')
    proprio, height, vertical, fitted, episode_of = map(torch.cat, (proprio, height, vertical, fitted, episode_of))
    held_out = episode_of >= int(0.85 * (int(episode_of.max()) + 1))          # by episode: ticks are near copies
    train, test = (~held_out).nonzero().squeeze(1), held_out.nonzero().squeeze(1)
    print(f'{len(vertical)} ticks, {int(fitted.sum())} moving before contact; {len(test)} held out '
          f'({int(episode_of.max()) + 1} episodes)', flush=True)
    model = build_architecture('nvsf_a', config)
    target_u = model.unshape_action(vertical)                                  # (N,) head-output space
    load_matching_weights(model, args.weights)

    # 1. Height from the joints.
    optimiser = torch.optim.Adam(model.tip_height.parameters(), lr=args.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.steps)
    for step in range(args.steps + 1):
        rows = train[torch.randint(0, len(train), (args.batch,))]
        loss = ((model.tip_height(proprio[rows])[:, 0] - height[rows]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 1000 == 0 or step == args.steps:
            with torch.no_grad():
                error = (model.tip_height(proprio[test])[:, 0] - height[test]) * TIP_HEIGHT_SCALE_M   # (N_test,) m
                height_rms = float(error.pow(2).mean().sqrt())
            print(f'height step {step}: held-out error {height_rms * 1e3:.2f} mm rms', flush=True)

    # 2. The press height: where the demonstrations press (the median tip height of the ticks with the
    # wrist over the freeze's FREEZE_BELOW_N) and a margin; above it a force is braking or a collision,
    # not a press. The median: DART episodes brake and collide at travel heights (with data/dart7 the
    # 99th percentile was 27 cm), while the presses are most of those ticks (in data/expert7, 4049 of
    # 4075 at 4.5-5.5 cm, travel at 7 cm and up).
    pressing_force = torch.cat(press_force)                                     # (N,) N
    with torch.no_grad():
        seen_height = model.tip_height(proprio)                                 # (N, 1) as the policy will see it
    pressed_at = seen_height[pressing_force >= FREEZE_BELOW_N, 0]
    if len(pressed_at):
        press_height = float(pressed_at.median()) + PRESS_HEIGHT_MARGIN_M / TIP_HEIGHT_SCALE_M
        model.press_height.fill_(press_height)
        press_height_m = round(press_height * TIP_HEIGHT_SCALE_M + TIP_HEIGHT_OFFSET_M, 4)
        print(f'press height: tip at most {press_height_m * 100:.1f} cm ({len(pressed_at)} ticks over '
              f'{FREEZE_BELOW_N} N)', flush=True)
    else:   # left unfitted: the freeze decides by the force alone, as without the pathway
        press_height_m = None
        print(f'press height: no tick over {FREEZE_BELOW_N} N in the data, left unfitted (any height)', flush=True)

    # 3. The bound from the height.
    train, test = train[fitted[train]], test[fitted[test]]
    torch.nn.init.normal_(model.descent[-1].weight, std=0.01)
    torch.nn.init.zeros_(model.descent[-1].bias)
    optimiser = torch.optim.Adam(model.descent.parameters(), lr=args.bound_learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.steps)
    scale = SIM_LIMITS.max_linear_mps

    def bound(rows: torch.Tensor) -> torch.Tensor:   # (R,) head output
        return -torch.sigmoid(model.descent(seen_height[rows]))[:, 0]

    for step in range(args.steps + 1):
        rows = train[torch.randint(0, len(train), (args.batch,))]
        loss = pinball(bound(rows), target_u[rows], args.quantile)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 1000 == 0 or step == args.steps:   # the record holds the final figures
            with torch.no_grad():
                said = model.shape_action(bound(test)) * scale                  # (N_test,) m/s
                expert = vertical[test] * scale                                 # (N_test,) m/s
                below = float((expert < said).float().mean())
                slow = (expert - -SLOW_MPS).abs() < 1e-4                        # the expert's last 1.5 cm
                fast = expert < -0.04                                           # descending fast, higher up
                slow_bound = float(said[slow].median()) if slow.any() else float('nan')
                fast_bound = float(said[fast].median()) if fast.any() else float('nan')
            print(f'bound step {step}: loss {loss.item():.5f}; held out: {below:.3f} of commands below the bound; '
                  f'median bound {slow_bound:.4f} m/s where the expert descends at -{SLOW_MPS} m/s '
                  f'({int(slow.sum())} ticks), {fast_bound:.4f} m/s where it descends faster than 0.04 m/s '
                  f'({int(fast.sum())})', flush=True)
    record = {'tool': 'tools/fit_descent.py', 'data': [str(d) for d in args.data], 'steps': args.steps,
              'batch': args.batch, 'learning_rate': args.learning_rate,
              'bound_learning_rate': args.bound_learning_rate, 'quantile': args.quantile,
              'seed': args.seed, 'ticks': len(vertical), 'bound_ticks': int(fitted.sum()),
              'held_out_height_rms_mm': round(height_rms * 1e3, 2), 'press_height_m': press_height_m,
              'held_out_below_bound': round(below, 4),
              'held_out_median_bound_slow_mps': round(slow_bound, 4),
              'held_out_median_bound_fast_mps': round(fast_bound, 4)}
    save_weights(model, args.out, fitted_metadata(args.weights, 'descent_fit', record))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Fit NVSF-A's reflex pathway offline on pressing ticks and graft it onto trained weights.

    python tools/fit_reflex.py --weights models/nvsf_a.safetensors --data data/press7 data/expert7 \\
        --out out/nvsf_a_reflex.safetensors

Needs ``reflex_pathway: true`` and ``reflex_mode: take_over`` in the config (``--config``, default
config/architectures/nvsf_a.yaml; the weights are built, loaded and saved under it). The reflex
reads only the newest wrist force and the tool position, so it can be fitted on those ticks alone,
by full-batch Adam in seconds, instead of through the whole recurrent network (README, Results:
trained in place, on "contact" ticks that included DART collisions with the cubes, it never got
below 3 % of full speed; fitted here on the ticks of clean and press-noise episodes, 0.8 %). Use
bags without travel noise: a collision while travelling is a contact whose label is a travel command.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.training.behaviour_cloning import pressing_ticks  # noqa: E402
from sensor_fusion.training.pathway_fit import labelled_episodes, pathway_fit_parser  # noqa: E402
from sensor_fusion.weights import fitted_metadata, load_matching_weights, save_weights  # noqa: E402


def main() -> int:
    parser = pathway_fit_parser(__doc__.split('\n\n')[0], steps=2500, learning_rate=3e-3)
    parser.add_argument('--take-over-from-n', type=float, default=1.0,
                        help='force at which the reflex has taken over (half of it at half this force)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config('nvsf_a', args.config)
    if not (config.reflex_pathway and config.reflex_mode == 'take_over'):
        raise SystemExit(f'{args.config or "config/architectures/nvsf_a.yaml"} needs reflex_pathway: true and '
                         'reflex_mode: take_over')
    torch.manual_seed(args.seed)
    scale = config.preprocess.haptic.force_scale_n
    model = build_architecture('nvsf_a', config)
    inputs, forces, labels = [], [], []
    for episode in labelled_episodes(args.data, config):
        force = model.pressed_force(episode.inputs.wrench)                    # (T, 3) N, as the reflex reads it
        pressing = pressing_ticks(episode.inputs.wrench, scale)              # (T,)
        inputs.append(model.reflex_input(force, episode.tool_xy)[pressing])  # (P, F + 2)
        forces.append(force[pressing].norm(dim=1))                           # (P,)
        labels.append(episode.actions[pressing])                             # (P, 6)
    if not inputs or not sum(len(x) for x in inputs):
        raise SystemExit(f'no pressing ticks in {[str(d) for d in args.data]}')
    x, force_n, y = torch.cat(inputs), torch.cat(forces), torch.cat(labels)     # (N, F + 2), (N,), (N, 6)
    order = torch.randperm(len(x))
    train, held_out = order[: int(0.85 * len(x))], order[int(0.85 * len(x)):]
    target_u = model.unshape_action(y)                                           # head-output space
    load_matching_weights(model, args.weights)
    reflex = model.reflex
    torch.nn.init.normal_(reflex[-1].weight, std=0.01)
    optimiser = torch.optim.Adam(reflex.parameters(), lr=args.learning_rate)
    for step in range(args.steps + 1):
        # The vertical push only: taking over, the reflex replaces nothing else (NVSFActionPerception.forward).
        loss = ((torch.tanh(reflex(x[train])[:, 2]) - target_u[train, 2]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 500 == 0 or step == args.steps:   # the record holds the final figures
            with torch.no_grad():
                action = model.shape_action(torch.tanh(reflex(x[held_out])))
                band = (force_n[held_out] >= 3.0) & (force_n[held_out] < 5.0)
                z_error = action[:, 2] - y[held_out, 2]
                rms, rms_band = float(z_error.pow(2).mean().sqrt()), float(z_error[band].pow(2).mean().sqrt())
                print(f'step {step}: {len(x)} pressing ticks; held-out vertical error (rms, full speed) '
                      f'{rms:.4f}, at 3-5 N {rms_band:.4f}', flush=True)
    with torch.no_grad():      # share = sigmoid(w (|F| - F_half)): half at F_half, > 99 % at twice it
        half = args.take_over_from_n / 2.0
        model.reflex_share.weight.fill_(5.0 / half)
        model.reflex_share.bias.fill_(-5.0)
    record = {'tool': 'tools/fit_reflex.py', 'data': [str(d) for d in args.data], 'steps': args.steps,
              'learning_rate': args.learning_rate, 'take_over_from_n': args.take_over_from_n, 'seed': args.seed,
              'pressing_ticks': len(x), 'held_out_push_rms': round(rms, 4), 'held_out_push_rms_3_5_n': round(rms_band, 4)}
    save_weights(model, args.out, fitted_metadata(args.weights, 'reflex_fit', record))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Fit NVSF-A's freeze pathway offline on the expert's ball freezes and graft it onto trained weights.

    python tools/fit_freeze.py --weights models/nvsf_a.safetensors --data data/expert7 data/dart7 \\
        --out out/nvsf_a_freeze.safetensors

Needs ``freeze_pathway: true`` in the config (``--config``, default config/architectures/nvsf_a.yaml;
the weights are built, loaded and saved under it). The pathway is a detector: the newest event frames, camera image and tool position
in, "the expert holds still for the ball here" out (``ball_freeze_ticks``). It is fitted by its own
binary cross-entropy, minibatch Adam over the ticks, in a minute or two; the rest of the weights are
copied unchanged.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.sim.task import CONTROL_RATE_HZ, TaskConfig  # noqa: E402
from sensor_fusion.training.behaviour_cloning import ball_freeze_ticks  # noqa: E402
from sensor_fusion.training.pathway_fit import labelled_episodes, pathway_fit_parser  # noqa: E402
from sensor_fusion.weights import fitted_metadata, load_matching_weights, save_weights  # noqa: E402


def main() -> int:
    parser = pathway_fit_parser(__doc__.split('\n\n')[0], steps=4000, learning_rate=1e-3)
    parser.add_argument('--batch', type=int, default=1024)
    parser.add_argument('--freeze-weight', type=float, default=3.0,
                        help='loss weight of a freeze tick: a missed freeze fails the episode, a false one costs a tick')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config('nvsf_a', args.config)
    if not config.freeze_pathway:
        raise SystemExit(f'{args.config or "config/architectures/nvsf_a.yaml"} needs freeze_pathway: true')
    torch.manual_seed(args.seed)
    events, images, tools, labels, episode_of = [], [], [], [], []
    for episode in labelled_episodes(args.data, config):
        froze, counted = ball_freeze_ticks(episode.actions, CONTROL_RATE_HZ, TaskConfig().tone_s)
        # Summed over the time bins here, as freeze_logit does: a quarter of the memory.
        events.append(episode.inputs.events[counted].abs().sum(dim=1, keepdim=True))   # (N_e, 1, C, E, E)
        images.append(episode.inputs.image[counted])                         # (N_e, 3, S, S)
        tools.append(episode.tool_xy[counted])                               # (N_e, 2)
        labels.append(froze[counted].float())                                # (N_e,)
        episode_of.append(torch.full((int(counted.sum()),), len(episode_of)))
    if not labels:
        raise SystemExit(f'no episodes in {[str(d) for d in args.data]}')
    events, images, tools, labels, episode_of = map(torch.cat, (events, images, tools, labels, episode_of))
    valid = torch.ones(len(labels), 2)
    # Held out by episode: neighbouring ticks of one ball pass are near copies.
    held_out = episode_of >= int(0.85 * (int(episode_of.max()) + 1))
    train, test = (~held_out).nonzero().squeeze(1), held_out.nonzero().squeeze(1)
    print(f'{len(labels)} ticks, {int(labels.sum())} frozen for the ball; '
          f'{len(test)} held out ({int(episode_of.max()) + 1} episodes)', flush=True)
    model = build_architecture('nvsf_a', config)
    load_matching_weights(model, args.weights)
    torch.nn.init.normal_(model.freeze[-1].weight, std=0.01)
    torch.nn.init.zeros_(model.freeze[-1].bias)
    optimiser = torch.optim.Adam(model.freeze.parameters(), lr=args.learning_rate)
    for step in range(args.steps + 1):
        rows = train[torch.randint(0, len(train), (args.batch,))]
        logits = model.freeze_logit(events[rows], images[rows], valid[rows], tools[rows])                # (batch,)
        weight = 1.0 + (args.freeze_weight - 1.0) * labels[rows]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[rows], weight=weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 1000 == 0 or step == args.steps:   # the record holds the final figures
            with torch.no_grad():
                said = torch.cat([model.freeze_logit(events[chunk], images[chunk], valid[chunk], tools[chunk])
                                  for chunk in test.split(4096)]) > 0
                truth = labels[test] > 0.5
                found, false = float((said & truth).sum() / truth.sum()), float((said & ~truth).sum() / (~truth).sum())
                print(f'step {step}: loss {loss.item():.4f}; held out: freezes found {found:.3f}, '
                      f'false freezes {false:.4f} of moving ticks', flush=True)
    record = {'tool': 'tools/fit_freeze.py', 'data': [str(d) for d in args.data], 'steps': args.steps,
              'batch': args.batch, 'learning_rate': args.learning_rate, 'freeze_weight': args.freeze_weight,
              'seed': args.seed, 'ticks': len(labels), 'frozen_ticks': int(labels.sum()),
              'held_out_freezes_found': round(found, 3), 'held_out_false_freezes': round(false, 4)}
    save_weights(model, args.out, fitted_metadata(args.weights, 'freeze_fit', record))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

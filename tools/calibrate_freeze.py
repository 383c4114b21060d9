"""Moves the operating point of NVSF-A's freeze detector: its logit z becomes scale * z - shift.

    python tools/calibrate_freeze.py --weights W --scale 2 --shift 2 --out O

A detector fitted by cross-entropy says "freeze" with p = sigmoid(z), and the pathway scales the
command by (1 - p) every tick. Where the fitted detector hesitated (p 0.3-0.6, with no ball: the
arm hovering over the cube with little motion in view) the partial freeze slowed the arm into
timeouts; a real ball pass reads p > 0.9. With scale 2 and shift 2, p = 0.5 becomes 0.12 and
p = 0.93 stays 0.95 (README, Results). Only the detector's last layer changes; the file keeps the
source's records and adds ``freeze_calibration``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.weights import fitted_metadata, load_weights, save_weights  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--weights', required=True, type=Path, help='NVSF-A weights with a fitted freeze pathway')
    parser.add_argument('--out', required=True, type=Path)
    parser.add_argument('--scale', type=float, required=True, help='> 0: sharpens (> 1) or softens the detector')
    parser.add_argument('--shift', type=float, required=True, help='> 0: the detector needs more evidence to freeze')
    parser.add_argument('--config', type=Path, default=None,
                        help='NVSF-A config to build under (default config/architectures/nvsf_a.yaml)')
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error('--scale must be positive')
    config = load_config('nvsf_a', args.config)
    if not config.freeze_pathway:
        raise SystemExit(f'{args.config or "config/architectures/nvsf_a.yaml"} needs freeze_pathway: true')
    model = build_architecture('nvsf_a', config)
    load_weights(model, args.weights)
    with torch.no_grad():
        model.freeze[-1].weight.mul_(args.scale)
        model.freeze[-1].bias.mul_(args.scale).sub_(args.shift)
    save_weights(model, args.out, fitted_metadata(args.weights, 'freeze_calibration',
                                                  {'tool': 'tools/calibrate_freeze.py', 'scale': args.scale,
                                                   'shift': args.shift}))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

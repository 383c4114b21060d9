"""Graft the control pathways (reflex, descent, freeze) of one model's weights onto another's.

    python tools/graft_pathways.py --architecture nvsf_h --weights out/train/nvsf_h/nvsf_h.safetensors \\
        --pathways models/nvsf_a.safetensors --out out/nvsf_h_pathways.safetensors

The pathways read raw inputs and the goal pathway's tool estimate, never an architecture's tokens
(sensor_fusion/architectures/control_pathways.py), so pathways fitted for NVSF-A by
tools/fit_reflex.py, tools/fit_descent.py, tools/fit_freeze.py and tools/calibrate_freeze.py serve
NVSF-H and NVSF-C unchanged, without refitting. ``--weights`` are built under ``--config`` (default
config/architectures/<architecture>.yaml, which must switch the pathways on, with the same settings
as the source's); every tensor they share is loaded, the pathways come from ``--pathways``. The
file keeps the weights' training records and adds ``pathways_graft``.

``--camera-detector`` also takes the source's camera keypoint detectors (1 x 1 convolutions that say
which colour is where; their shapes do not depend on the token width): NVSF-A's, pretrained at
sharpness 10, localise the cubes, where NVSF-H's own, trained at sharpness 1, did not (held-out R^2
0.68 after 4 pretraining epochs). ``--for-init`` writes a starting point for ``sensor-fusion train
--init`` whose other new parts (e.g. a goal pathway the weights lack) start fresh; without it, a
tensor neither file holds is an error, since the result would command with untrained weights.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from safetensors import safe_open

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_fusion.architectures import build_architecture, load_config  # noqa: E402
from sensor_fusion.weights import (WeightsError, fitted_metadata, load_control_pathways,  # noqa: E402
                                   load_matching_weights, read_metadata, save_weights)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--architecture', required=True, choices=['nvsf_a', 'nvsf_c', 'nvsf_h'])
    parser.add_argument('--weights', required=True, type=Path, help='trained weights of --architecture')
    parser.add_argument('--pathways', required=True, type=Path, help='weights whose control pathways are fitted')
    parser.add_argument('--out', required=True, type=Path)
    parser.add_argument('--config', type=Path, default=None,
                        help='config to build under (default config/architectures/<architecture>.yaml)')
    parser.add_argument('--camera-detector', action='store_true',
                        help="also take the source's camera keypoint detectors (same camera size and sharpness)")
    parser.add_argument('--for-init', action='store_true',
                        help='a starting point for training: parts neither file holds start fresh')
    args = parser.parse_args()
    model = build_architecture(args.architecture, load_config(args.architecture, args.config))
    try:
        fresh = set(load_matching_weights(model, args.weights))
        grafted = load_control_pathways(model, args.pathways)
    except WeightsError as error:
        raise SystemExit(str(error)) from None
    source = read_metadata(args.pathways)
    if args.camera_detector:
        grafted += graft_camera_detector(model, args.pathways, source)
    left = sorted(fresh - set(grafted))
    if left and not args.for_init:   # a part neither file had: the result would command with untrained tensors
        raise SystemExit(f'{args.weights}: lacks {left} (trained under another config? --for-init to train them)')
    record = {'tool': 'tools/graft_pathways.py', 'pathways': str(args.pathways),
              'pathways_sha256': hashlib.sha256(args.pathways.read_bytes()).hexdigest(),
              'pathways_architecture': source.get('architecture'), 'tensors': len(grafted),
              'camera_detector': args.camera_detector, 'fresh': left,
              **{key: source[key] for key in ('reflex_fit', 'descent_fit', 'freeze_fit', 'freeze_calibration')
                 if key in source}}
    save_weights(model, args.out, fitted_metadata(args.weights, 'pathways_graft', record))
    print(f'grafted {len(grafted)} pathway tensors from {args.pathways}; wrote {args.out}')
    return 0


def graft_camera_detector(model, path: Path, source: dict) -> list[str]:
    """Copies ``encoders.encoders.camera.detect.*`` from ``path`` onto ``model``; returns the names."""
    saved = json.loads(source.get('config') or '{}')
    ours = model.config
    if (saved.get('preprocess', {}).get('camera') != {'size': ours.preprocess.camera.size}
            or saved.get('camera_keypoint_sharpness') != ours.camera_keypoint_sharpness):
        raise SystemExit(f'{path}: its camera detector was made for another camera size or sharpness')
    prefix = 'encoders.encoders.camera.detect.'
    expected = model.state_dict()
    with safe_open(str(path), framework='pt') as f:
        tensors = {name: f.get_tensor(name) for name in f.keys() if name.startswith(prefix)}
    names = sorted(name for name in expected if name.startswith(prefix))
    if not names or any(name not in tensors or tensors[name].shape != expected[name].shape for name in names):
        raise SystemExit(f'{path}: no camera keypoint detector of the same shape')
    model.load_state_dict({name: tensors[name] for name in names}, strict=False)
    return names


if __name__ == '__main__':
    sys.exit(main())

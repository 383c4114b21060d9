"""Copies trained weights into models/ and writes their model cards (``make models`` ends with this).

    python tools/ship_models.py --nvsf_a W --nvsf_c W --nvsf_h W [--results results] [--data "..."]

Metrics come from the closed-loop evaluation records in ``results/`` when they exist (success with
its 95 % interval on held-out seeds), and always from the weights' own training metadata.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor_fusion.evaluation import summarise  # noqa: E402
from sensor_fusion.model_card import sha256, write_model_card  # noqa: E402
from sensor_fusion.report import load_records, run_file  # noqa: E402
from sensor_fusion.weights import read_metadata  # noqa: E402

TITLES = {'nvsf_a': 'NVSF-A (action-perception loop)', 'nvsf_c': 'NVSF-C (unified cognitive decoder)',
          'nvsf_h': 'NVSF-H (hybrid neuromorphic)'}
BACKENDS = {'nvsf_a': ('cpu',), 'nvsf_c': ('cpu',), 'nvsf_h': ('cpu', 'loihi_sim')}


def metrics_for(architecture: str, results: Path, weights_sha256: str) -> dict:
    """The closed-loop evaluations in ``results`` of these very weights (an evaluation of earlier
    weights describes those, not these: it is left out)."""
    metrics = {}
    for backend in BACKENDS[architecture]:
        path = run_file(results, architecture, backend, None)
        if path.exists():
            settings, records = load_records(path)
            if settings.get('weights_sha256') != weights_sha256:
                print(f'{path}: evaluated other weights, not used for the card')
                continue
            s = summarise(f'{architecture}/{backend}', records)
            metrics[f'closed_loop_{backend}'] = {
                'episodes': s.episodes, 'success_rate': round(s.success_rate, 3),
                'success_ci95': [round(x, 3) for x in s.success_ci], 'outcomes': s.outcomes,
                'latency_p50_ms': s.latency_p50_ms and round(s.latency_p50_ms, 2),
                'latency_p99_ms': s.latency_p99_ms and round(s.latency_p99_ms, 2),
                'energy_uj_per_decision': s.energy_uj_per_decision and round(s.energy_uj_per_decision, 3),
                'real_time_factor': settings.get('real_time_factor', 1.0)}
    return metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for architecture in TITLES:
        parser.add_argument(f'--{architecture}', type=Path, help=f'{architecture} weights to ship')
    parser.add_argument('--results', type=Path, default=ROOT / 'results')
    parser.add_argument('--data', default='100 scripted-expert episodes in the embedded simulator (sensor-fusion '
                                          'record --episodes 100 --first-seed 0), plus DAgger episodes')
    parser.add_argument('--commands-file', type=Path, default=None,
                        help='JSON {architecture: [commands]} that produced the weights')
    parser.add_argument('--extra-metrics', type=Path, default=None,
                        help='JSON {architecture: {name: figures}}: further measurements of these weights '
                             '(e.g. an in-process closed loop), each named for how it was measured')
    args = parser.parse_args()
    commands = json.loads(args.commands_file.read_text()) if args.commands_file else {}
    extra_metrics = json.loads(args.extra_metrics.read_text()) if args.extra_metrics else {}
    models = ROOT / 'models'
    for architecture, title in TITLES.items():
        source = getattr(args, architecture)
        if source is None:
            continue
        target = models / f'{architecture}.safetensors'
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        metadata = read_metadata(target)
        training = json.loads(metadata.get('training', '{}'))
        metrics = {**metrics_for(architecture, args.results, sha256(target)), **extra_metrics.get(architecture, {})}
        body = (f'# {title}\n\nBehaviour cloning of the scripted expert from recorded MCAP bags, then DAgger rounds '
                'in the closed loop (expert-labelled policy episodes), truncated BPTT over the recurrent state.'
                + ((' The encoder gate was then trained by REINFORCE with a compute penalty (gate_rl in the front '
                    'matter) and is deployed deterministically.' if 'gate_rl' in metadata else
                    ' The encoder gate is the untrained one (every encoder runs): the REINFORCE gate lowered the '
                    'success rate (README, Results).') if architecture == 'nvsf_a' else '')
                + (' Its freeze detector and its press reflex were then each fitted alone on the ticks that concern '
                   'them and grafted on (tools/fit_freeze.py, tools/fit_reflex.py; `freeze_fit` and `reflex_fit` in '
                   'the front matter).' if {'freeze_fit', 'reflex_fit'} & set(metadata) else '')
                + (' The freeze detector\'s operating point was then moved (tools/calibrate_freeze.py, '
                   '`freeze_calibration`).' if 'freeze_calibration' in metadata else '')
                + (' Its descent pathway (tip height from the joints, the press height, and the bound on the '
                   'descent before contact) was then fitted alone (tools/fit_descent.py, `descent_fit`).'
                   if 'descent_fit' in metadata else '')
                + (' NVSF-A\'s fitted control pathways and camera keypoint detectors were grafted on before its '
                   'training (tools/graft_pathways.py, `pathways_graft` in the front matter), the pathways then '
                   'frozen; `training_stages` holds each stage\'s settings.' if 'pathways_graft' in metadata else '')
                + (' The spiking patch core runs as trained on `cpu` and quantised at load to 8-bit Loihi weights on '
                   '`loihi_sim`.' if architecture == 'nvsf_h' else '')
                + '\n\nLoad with `sensor_fusion.weights.load_weights` (safetensors: no pickle, no code execution); '
                'the architecture and full config are in the file\'s metadata and checked on load.\n\n'
                'Metrics: `metrics` holds the closed-loop evaluations of these weights on held-out seeds (see the '
                'README\'s results section), over ROS 2 (`closed_loop_<backend>`) where it has been run, each other '
                'one named for how it ran; `training` holds the settings and the episode count.\n')
        write_model_card(target, models / f'{architecture}.md', args.data,
                         commands.get(architecture, [f'sensor-fusion train --architecture {architecture} '
                                                     f'--epochs {training.get("epochs")} '
                                                     f'--dagger-rounds {training.get("dagger_rounds")}']),
                         metrics, body)
        print(f'shipped {target} ({target.stat().st_size / 1e6:.2f} MB) with {architecture}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The shipped weights: each has a model card that matches it, they load safely, and they stay small."""
import pytest

from sensor_fusion.model_card import check_model_card
from sensor_fusion.paths import models_dir
from sensor_fusion.policy import build_policy

ARCHITECTURES = ('nvsf_a', 'nvsf_c', 'nvsf_h')


@pytest.mark.parametrize('architecture', ARCHITECTURES)
def test_every_shipped_model_has_a_card_that_matches_its_weights(architecture):
    card = models_dir() / f'{architecture}.md'
    fields = check_model_card(card)
    assert fields['architecture'] == architecture
    assert fields['commands'] and fields['data'] and fields['date']
    policy = build_policy(architecture, 'cpu', models_dir() / fields['weights'])   # safetensors: no pickle
    assert policy.architecture == architecture


def test_all_shipped_weights_together_are_at_most_30_mb():
    total = sum(p.stat().st_size for p in models_dir().glob('*.safetensors'))
    assert 0 < total <= 30e6, total


def test_a_card_takes_metrics_only_from_evaluations_of_its_own_weights(tmp_path):
    """tools/ship_models.py: a saved run of other weights (an earlier release) describes those."""
    import importlib.util
    import json
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / 'tools' / 'ship_models.py'
    spec = importlib.util.spec_from_file_location('ship_models', path)
    ship_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_models)
    record = {'seed': 100000, 'target': 'red', 'outcome': 'success', 'time_s': 7.5, 'peak_force_n': 4.2,
              'latencies_ms': [4.0, 8.0], 'energy_uj_per_decision': 1.9}
    (tmp_path / 'nvsf_a-cpu.json').write_text(json.dumps({'settings': {'weights_sha256': 'a' * 64},
                                                          'records': [record]}))
    assert ship_models.metrics_for('nvsf_a', tmp_path, 'b' * 64) == {}
    metrics = ship_models.metrics_for('nvsf_a', tmp_path, 'a' * 64)
    assert metrics['closed_loop_cpu']['episodes'] == 1 and metrics['closed_loop_cpu']['success_rate'] == 1.0

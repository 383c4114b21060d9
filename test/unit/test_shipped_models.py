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

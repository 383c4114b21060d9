"""Evaluation figures, the results report, model cards and the demo video (no ROS)."""
import json

import cv2
import numpy as np
import pytest

from sensor_fusion.architectures import build_architecture, load_config
from sensor_fusion.evaluation import EpisodeRecord, format_table, summarise, wilson_interval
from sensor_fusion.model_card import ModelCardError, check_model_card, write_model_card
from sensor_fusion.report import BEGIN, END, plot, section, write_readme_section
from sensor_fusion.video import EpisodeVideo
from sensor_fusion.weights import save_weights


def record(seed, outcome, time_s=5.0, force=4.5, latencies=(1.0, 2.0, 3.0), energy=0.5):
    return EpisodeRecord(seed, 'red', outcome, time_s, force, list(latencies), energy)


def test_wilson_interval_matches_known_values_and_stays_in_bounds():
    low, high = wilson_interval(90, 100)
    assert (round(low, 3), round(high, 3)) == (0.826, 0.945)        # textbook value for 90/100
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] > 0.2                           # zero successes is not certainty


def test_summary_pools_latencies_and_counts_ball_violations():
    records = [record(1, 'success', 4.0, 4.2), record(2, 'success', 6.0, 5.5, (10.0,)),
               record(3, 'moved_during_ball', 3.0, 0.0), record(4, 'ball_contact'), record(5, 'timeout', 15.0, 0.0)]
    s = summarise('nvsf_a/cpu', records)
    assert (s.episodes, s.successes, s.ball_violations) == (5, 2, 2)
    assert s.time_to_success_s == 5.0
    assert s.force_overshoot_n == pytest.approx((0.2 + 1.5 + 0.5) / 5)
    assert s.latency_p50_ms == 2.0 and s.latency_p99_ms > 9.0
    assert s.outcomes == {'success': 2, 'moved_during_ball': 1, 'ball_contact': 1, 'timeout': 1}
    table = format_table([s])
    assert '| nvsf_a/cpu | 5 | 40 % |' in table and table.count('\n') == 2


def test_report_section_replaces_only_the_marked_part_of_the_readme(tmp_path):
    main = [summarise('nvsf_h/loihi_sim', [record(i, 'success') for i in range(9)] + [record(9, 'timeout')]),
            summarise('nvsf_a/cpu', [record(i, 'timeout', energy=0.1, latencies=(0.5,)) for i in range(10)])]
    ablations = [summarise('nvsf_h/loihi_sim without audio', [record(i, 'wrong_cube') for i in range(10)]),
                 summarise('nvsf_h/loihi_sim, world at 0.5x without camera', [record(i, 'success') for i in range(4)])]
    text = section(main, ablations, 'nvsf_h/loihi_sim')
    # each ablation against the main run at its own settings; none at 0.5x here, so no figure for it
    assert 'audio -90' in text and 'camera: no run of nvsf_h/loihi_sim, world at 0.5x with every input' in text
    assert 'most successful nvsf_h/loihi_sim' in text and 'lowest latency p50 nvsf_a/cpu' in text
    readme = tmp_path / 'README.md'
    readme.write_text(f'# title\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n')
    write_readme_section(readme, text)
    content = readme.read_text()
    assert content.startswith('# title\n\nbefore') and content.endswith('after\n') and 'old' not in content
    assert content.count(BEGIN) == 1
    plot(tmp_path / 'results.png', main + ablations)
    assert cv2.imread(str(tmp_path / 'results.png')).shape[0] > 50


def test_model_card_must_match_its_weights(tmp_path):
    model = build_architecture('nvsf_a', load_config('nvsf_a'))
    weights = tmp_path / 'nvsf_a.safetensors'
    save_weights(model, weights, {'training': json.dumps({'seed': 3, 'epochs': 1})})
    card = tmp_path / 'nvsf_a.md'
    write_model_card(weights, card, data='test', commands=['sensor-fusion train ...'], metrics={'success': 0.5},
                     body='# NVSF-A\n')
    fields = check_model_card(card)
    assert fields['seed'] == 3 and fields['architecture'] == 'nvsf_a'
    save_weights(model, weights, {'training': json.dumps({'seed': 4, 'epochs': 1})})   # retrained, card not
    with pytest.raises(ModelCardError, match='sha256'):
        check_model_card(card)
    card.write_text('no front matter')
    with pytest.raises(ModelCardError, match='front matter'):
        check_model_card(card)


def test_episode_video_draws_every_panel_and_writes_mp4(tmp_path):
    from sensor_fusion.observation import make_events
    video = EpisodeVideo(tmp_path / 'demo.mp4', max_seconds=2.0)
    video.start_episode(7)
    rgb = np.zeros((96, 96, 3), np.uint8)
    for k in range(10):
        stamp = 1_000_000_000 + k * 66_000_000
        video.add_wrench(stamp, np.array([0, 0, -4.0, 0, 0, 0]))
        video.add_twist(stamp, np.array([0.1, -0.1, 0.0]))
        video.add_audio(0.3 * np.sin(np.arange(160) / 5.0))
        video.add_events(make_events([5, 6, 500], [5, 6, 5], [stamp] * 3, [1, 0, 1]))   # x=500 off-sensor: dropped
        video.add_camera(stamp, rgb)
    video.end_episode({'outcome': 'success', 'time_s': 0.6})
    path = video.close()
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == video.frames == 10 + 15          # 10 camera frames + 1 s holding the verdict

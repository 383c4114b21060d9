"""`sensor-fusion eval`: seeded episodes of sim_node <-> fusion_node processes with the shipped weights."""
import json
import subprocess
import sys

import pytest

from harness import fresh_domain  # noqa: F401  (fixture: a ROS_DOMAIN_ID per test, inherited by the nodes)
from sensor_fusion.paths import models_dir
from sensor_fusion.ros.evaluate import EvalSettings, eval_plan, evaluate

pytestmark = pytest.mark.usefixtures('fresh_domain')


def test_ablation_remaps_the_input_away_and_stops_requiring_it():
    nodes = {n.name: n for n in eval_plan(EvalSettings('nvsf_a', 'cpu', 1, ablate='wrench'))}
    fusion, sim = nodes['fusion_node'], nodes['sim_node']
    assert ('wrist/wrench', 'ablated/wrist/wrench') in fusion.remappings
    assert fusion.parameters['required_modalities'] == ['proprio']
    assert sim.parameters['start_paused'] is True and sim.parameters['autoreset'] is False
    with pytest.raises(ValueError, match='ablate must be one of'):
        EvalSettings('nvsf_a', 'cpu', 1, ablate='smell')


def test_a_slowed_world_puts_both_nodes_on_the_simulated_clock():
    assert all(not n.parameters.get('use_sim_time') for n in eval_plan(EvalSettings('nvsf_a', 'cpu', 1)))
    nodes = {n.name: n for n in eval_plan(EvalSettings('nvsf_a', 'cpu', 1, real_time_factor=0.5))}
    assert nodes['sim_node'].parameters['real_time_factor'] == 0.5
    assert nodes['sim_node'].parameters['use_sim_time'] is True and nodes['fusion_node'].parameters['use_sim_time'] is True
    for factor in (0.0, 1.5):
        with pytest.raises(ValueError, match='real_time_factor must be in'):
            EvalSettings('nvsf_a', 'cpu', 1, real_time_factor=factor)


def test_gate_mode_reaches_the_fusion_node_and_names_the_run():
    assert 'gate_mode' not in {n.name: n for n in eval_plan(EvalSettings('nvsf_a', 'cpu', 1))}['fusion_node'].parameters
    settings = EvalSettings('nvsf_a', 'cpu', 1, gate_mode='threshold')
    assert {n.name: n for n in eval_plan(settings)}['fusion_node'].parameters['gate_mode'] == 'threshold'
    assert settings.label == 'nvsf_a/cpu, gate threshold'
    for architecture, mode in (('nvsf_h', 'threshold'), ('nvsf_a', 'sample')):
        with pytest.raises(ValueError, match="sets nvsf_a's encoder gate"):
            EvalSettings(architecture, 'cpu', 1, gate_mode=mode)


def test_an_architecture_config_reaches_the_fusion_node(tmp_path):
    config = tmp_path / 'nvsf_a.yaml'
    config.write_text('architecture: nvsf_a\n')
    nodes = {n.name: n for n in eval_plan(EvalSettings('nvsf_a', 'cpu', 1, config=str(config)))}
    assert nodes['fusion_node'].parameters['architecture_config'] == str(config)
    with pytest.raises(ValueError, match='no such architecture config'):
        EvalSettings('nvsf_a', 'cpu', 1, config=str(tmp_path / 'absent.yaml'))


def test_shipped_weights_exist_for_every_architecture():
    for architecture in ('nvsf_a', 'nvsf_c', 'nvsf_h'):
        assert (models_dir() / f'{architecture}.safetensors').is_file(), architecture


def test_short_closed_loop_episodes_with_the_shipped_nvsf_h_on_loihi_sim():
    settings = EvalSettings('nvsf_h', 'loihi_sim', episodes=2, episode_timeout_s=2.0)
    seen = []
    records = evaluate(settings, lambda index, record: seen.append(index))
    assert seen == [0, 1]
    assert [r.seed for r in records] == [100_000, 100_001]        # held-out seeds, in order, none skipped
    for r in records:
        assert r.outcome != 'running' and 0 < r.time_s <= 2.0 + 0.01
        # ~50 decisions per simulated second (real-time paced); the node reset between episodes
        assert 40 <= len(r.latencies_ms) <= 400, len(r.latencies_ms)
        assert r.energy_uj_per_decision > 0 and r.encoders_run_fraction['events'] > 0.5


def test_a_slowed_world_runs_the_episode_on_the_simulated_clock():
    """At 0.5x the fusion node's 100 Hz timer follows /clock: at most about 100 decisions per
    simulated second (on the wall clock's, 2 s for 1 simulated s, it would make about 200). Fewer
    is no fault: the node halts until the first inputs of the episode arrive, longer on a loaded
    machine (35 in one CI run)."""
    settings = EvalSettings('nvsf_a', 'cpu', episodes=1, episode_timeout_s=1.0, real_time_factor=0.5)
    [record] = evaluate(settings)
    assert record.seed == 100_000 and record.outcome != 'running' and 0 < record.time_s <= 1.0 + 0.01
    assert 20 <= len(record.latencies_ms) <= 130, len(record.latencies_ms)


def test_eval_command_prints_the_table_and_writes_records(tmp_path):
    out = tmp_path / 'records.json'
    run = subprocess.run([sys.executable, '-m', 'sensor_fusion', 'eval', '--architecture', 'nvsf_a', '--episodes',
                          '1', '--ablate', 'camera', '--json', str(out), '--timeout', '1.5'],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert '| nvsf_a/cpu without camera | 1 |' in run.stdout
    data = json.loads(out.read_text())
    assert data['settings']['ablate'] == 'camera' and len(data['records']) == 1
    from sensor_fusion.model_card import sha256
    from sensor_fusion.paths import models_dir
    assert data['settings']['weights_sha256'] == sha256(models_dir() / 'nvsf_a.safetensors')   # what it measured


def test_the_report_keeps_a_saved_run_only_for_the_same_weights(tmp_path, monkeypatch):
    import sensor_fusion.ros.evaluate as evaluate_module
    from sensor_fusion import report
    from sensor_fusion.evaluation import EpisodeRecord
    runs = []

    def fake_evaluate(settings, on_episode=None, video=None):
        runs.append(settings)
        return [EpisodeRecord(100_000, 'red', 'success', 4.0, 4.2)]

    monkeypatch.setattr(evaluate_module, 'evaluate', fake_evaluate)
    report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1)
    report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1)
    assert len(runs) == 1                                       # the second call read the saved run
    saved = tmp_path / 'nvsf_a-cpu.json'
    data = json.loads(saved.read_text())
    data['settings']['weights_sha256'] = '0' * 64               # as if measured with other weights
    saved.write_text(json.dumps(data))
    settings, records = report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1)
    assert len(runs) == 2 and records[0].success               # retrained weights are evaluated afresh
    assert report.run_label(settings) == 'nvsf_a/cpu'
    report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1, real_time_factor=0.5)
    assert len(runs) == 2                                       # a real-time run serves a request for a slowed one
    data = json.loads(saved.read_text())
    data['settings']['real_time_factor'] = 0.5
    saved.write_text(json.dumps(data))
    report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1, real_time_factor=0.5)
    assert len(runs) == 2
    settings, _ = report.run_or_load(tmp_path, 'nvsf_a', 'cpu', 1)
    assert len(runs) == 3 and runs[-1].real_time_factor == 1.0  # but a slowed run does not serve a real-time one
    assert report.run_label(settings) == 'nvsf_a/cpu'
    assert report.run_label({**settings, 'real_time_factor': 0.5, 'ablate': 'camera'}) == \
        'nvsf_a/cpu, world at 0.5x without camera'


def test_a_terminated_evaluation_stops_its_nodes():
    """SIGTERM (a `kill`, a CI timeout) ends `sensor-fusion eval` as Ctrl-C does: its sim_node and
    fusion_node processes stop with it, rather than running on in the evaluation's domain."""
    import os
    import signal
    import time
    from pathlib import Path

    def children(pid):
        found = []
        for entry in Path('/proc').iterdir():
            try:
                if entry.name.isdigit() and (entry / 'stat').read_text().split(')')[-1].split()[1] == str(pid):
                    found.append(int(entry.name))
            except OSError:     # a process that ended while being read
                pass
        return found

    evaluation = subprocess.Popen([sys.executable, '-m', 'sensor_fusion', 'eval', '--architecture', 'nvsf_a',
                                   '--episodes', '50'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes = []
    try:
        deadline = time.monotonic() + 120
        while len(nodes := children(evaluation.pid)) < 2:     # both node processes started
            assert evaluation.poll() is None and time.monotonic() < deadline, 'the nodes never started'
            time.sleep(0.2)
        evaluation.send_signal(signal.SIGTERM)
        assert evaluation.wait(timeout=60) == 128 + signal.SIGTERM
        for pid in nodes:
            deadline = time.monotonic() + 10
            while Path(f'/proc/{pid}').exists() and (Path(f'/proc/{pid}/stat').read_text().split(')')[-1].split()[0]
                                                     != 'Z'):
                assert time.monotonic() < deadline, f'node process {pid} outlived the evaluation'
                time.sleep(0.1)
    finally:
        if evaluation.poll() is None:
            evaluation.kill()
        for pid in nodes:          # whatever the outcome, nothing is left running
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

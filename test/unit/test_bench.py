"""`bench models`: the table's rows, including NVSF-A's tick with held tokens."""
from sensor_fusion.bench import bench_models, format_model_table


def test_bench_models_reports_nvsf_as_held_tick_with_fewer_macs_and_only_where_it_differs():
    rows = bench_models(repeats=2, warmup=0)
    by_key = {(r.architecture, r.backend, r.tick): r for r in rows}
    new, held = by_key[('nvsf_a', 'cpu', 'new')], by_key[('nvsf_a', 'cpu', 'held')]
    # The camera encoder (keypoint detectors over 32 x 32 pixels) dominates what is held.
    assert held.macs < 0.6 * new.macs and held.energy_uj < new.energy_uj
    assert ('nvsf_c', 'cpu', 'held') not in by_key and ('nvsf_h', 'cpu', 'held') not in by_key
    table = format_model_table(rows)
    assert 'held' in table and 'nvsf_c' in table

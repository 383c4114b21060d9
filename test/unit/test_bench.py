"""`bench models`: the table's rows, including the tick with held tokens."""
from sensor_fusion.bench import bench_models, format_model_table


def test_bench_models_reports_a_held_tick_with_fewer_macs_where_an_architecture_holds_tokens():
    rows = bench_models(repeats=2, warmup=0)
    by_key = {(r.architecture, r.backend, r.tick): r for r in rows}
    # NVSF-A: the camera encoder (keypoint detectors over 32 x 32 pixels) and the freeze detector's
    # image term are most of what is held; NVSF-H holds its camera and pad tokens on both backends.
    new, held = by_key[('nvsf_a', 'cpu', 'new')], by_key[('nvsf_a', 'cpu', 'held')]
    assert held.macs < 0.6 * new.macs and held.energy_uj < new.energy_uj
    for backend in ('cpu', 'loihi_sim'):
        new, held = by_key[('nvsf_h', backend, 'new')], by_key[('nvsf_h', backend, 'held')]
        assert held.macs < new.macs and held.energy_uj < new.energy_uj and held.synops == new.synops
    assert ('nvsf_c', 'cpu', 'held') not in by_key          # NVSF-C holds nothing: no row repeating the one above
    table = format_model_table(rows)
    assert 'held' in table and 'nvsf_c' in table

"""Benchmarks that print tables: per-decision latency and energy, and loihi_sim against Lava.

Timings are medians after warm-up on whatever machine runs them; compare rows of one run.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .architectures import ARCHITECTURES
from .backends import BACKENDS, BackendUnavailableError
from .backends.loihi import LoihiSpikingPatchNet, layers_to_arrays, simulate
from .observation import Observation, make_events
from .policy import build_policy

#: Speed targets of the issue that introduced the backends, ms per decision (batch 1, median).
TARGETS_MS = {('nvsf_a', 'cpu'): 0.5, ('nvsf_c', 'cpu'): 5.0, ('nvsf_h', 'cpu'): 5.0, ('nvsf_h', 'loihi_sim'): 10.0}


def typical_observation(seed: int = 0, n_events: int = 1500) -> Observation:
    """A tick with every sensor and a moderate event rate (about 6 of 16 event patches active)."""
    rng = np.random.default_rng(seed)
    stamp = 10_000_000_000
    # Events from a moving edge: clustered in a band, as a rolling object produces, not uniform noise.
    x = np.clip(rng.normal(40, 6, n_events), 0, 127).astype(np.uint16)
    y = rng.integers(0, 96, n_events).astype(np.uint16)
    t = np.sort(stamp - rng.integers(0, 30_000_000, n_events))
    return Observation(
        stamp_ns=stamp, rgb=rng.integers(0, 256, (96, 96, 3), dtype=np.uint8),
        wrench=rng.normal(0, 2, (64, 6)).astype(np.float32), wrench_stamps_ns=stamp - 2_000_000 * np.arange(64)[::-1],
        tactile=rng.random((4, 4)).astype(np.float32), audio=(0.05 * rng.standard_normal((1, 4096))).astype(np.float32),
        events=make_events(x, y, t, rng.integers(0, 2, n_events)), event_sensor_size=(128, 96),
        joint_positions=rng.normal(0, 1, 6), joint_velocities=rng.normal(0, 0.1, 6))


@dataclass
class ModelRow:
    architecture: str
    backend: str
    median_ms: float
    p90_ms: float
    preprocess_ms: float
    macs: float
    synops: float
    energy_uj: float
    patches: str
    tick: str = 'new'        # 'new': every input new; 'held': the camera frame, pad and events as the tick before


def next_tick(obs: Observation, seed: int = 1) -> Observation:
    """The tick after ``obs`` while the arm travels: new wrench, audio and joint samples, and the same
    camera frame (a 15 Hz camera gives a 100 Hz loop a new frame on one tick in seven), tactile pad
    (no contact) and event window."""
    new = typical_observation(seed)
    return dataclasses.replace(obs, wrench=new.wrench, audio=new.audio, joint_positions=new.joint_positions,
                               joint_velocities=new.joint_velocities)


def bench_models(repeats: int = 300, warmup: int = 30) -> list[ModelRow]:
    obs = typical_observation()
    rows = []
    for architecture in ARCHITECTURES.keys():
        for backend in BACKENDS.keys():
            try:
                policy = build_policy(architecture, backend)
            except BackendUnavailableError as error:
                rows.append(ModelRow(architecture, backend, float('nan'), float('nan'), float('nan'), 0, 0, 0,
                                     f'n/a: {str(error).split(";")[0]}'))
                continue
            prep_times = []
            for _ in range(1 + 20):           # the first call pays one-off set-up (filterbank, OpenCV)
                start = time.perf_counter()
                inputs = policy.preprocessor(obs)
                prep_times.append((time.perf_counter() - start) * 1e3)
            preprocess_ms = statistics.median(prep_times[1:])
            times = []
            for i in range(warmup + repeats):
                policy.reset()
                start = time.perf_counter()
                decision = policy.step(inputs)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1e3)
            patches = ''
            if hasattr(policy.model, 'select_patches'):
                patches = str(int(policy.model.select_patches(inputs.to(policy.backend.device))[1].sum()))
            rows.append(ModelRow(architecture, backend, statistics.median(times),
                                 float(np.percentile(times, 90)), preprocess_ms, decision.cost.dense_macs,
                                 decision.cost.synops, decision.energy.total_j * 1e6, patches))
            if getattr(policy.model, 'held_tokens', None) is None:
                continue
            # The next tick, timed after an untimed first one: what an architecture that holds the tokens
            # of unchanged inputs (encoders.HeldTokens: NVSF-A, NVSF-H) saves.
            following = policy.preprocessor(next_tick(obs))
            times = []
            for i in range(warmup + repeats):
                policy.reset()
                policy.step(inputs)
                start = time.perf_counter()
                held = policy.step(following)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1e3)
            rows.append(ModelRow(architecture, backend, statistics.median(times), float(np.percentile(times, 90)),
                                 preprocess_ms, held.cost.dense_macs, held.cost.synops,
                                 held.energy.total_j * 1e6, patches, tick='held'))
    return rows


def find_lava_python() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    for candidate in (os.environ.get('LAVA_PYTHON'), root / '.venv-lava' / 'bin' / 'python'):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def bench_loihi_vs_lava(n_patches: int = 6, steps: int = 200, seed: int = 0) -> str:
    """loihi_sim against Lava's Loihi2SimCfg(fixed_pt) on NVSF-H's quantised spiking core."""
    torch.manual_seed(seed)
    policy = build_policy('nvsf_h', 'loihi_sim', seed=seed)
    layers = policy.model.snn.layers
    spikes = torch.rand(n_patches, steps, layers[0].weights.shape[1]) < 0.1            # (N, K, n_in)
    simulate(layers, spikes[:1, :10])                                                  # warm-up
    start = time.perf_counter()
    ours_one, _ = simulate(layers, spikes[:1])
    ours_one_s = time.perf_counter() - start
    start = time.perf_counter()
    ours_batch, _ = simulate(layers, spikes)
    ours_batch_s = time.perf_counter() - start
    lines = [f'loihi_sim, NVSF-H spiking core {"-".join(map(str, LoihiSpikingPatchNet(layers).sizes))} neurons, '
             f'{steps} steps:',
             f'  loihi_sim, 1 patch:            {ours_one_s / steps * 1e6:9.1f} us per simulated step',
             f'  loihi_sim, {n_patches} patches batched:  {ours_batch_s / steps / n_patches * 1e6:9.1f} us per step per patch']
    lava_python = find_lava_python()
    if lava_python is None:
        lines.append('  Lava: not installed (make lava-oracle needs Python 3.10); no side-by-side figure')
        return '\n'.join(lines)
    with tempfile.TemporaryDirectory() as tmp:
        network = {**layers_to_arrays(layers), 'spikes_in': spikes[0].T.numpy().astype(np.int32)}
        np.savez(Path(tmp) / 'net.npz', **network)
        oracle = Path(__file__).resolve().parent / 'backends' / 'lava_oracle.py'
        subprocess.run([str(lava_python), str(oracle), str(Path(tmp) / 'net.npz'), str(Path(tmp) / 'out.npz')],
                       check=True, capture_output=True, timeout=600)
        lava = np.load(Path(tmp) / 'out.npz')
        exact = all(np.array_equal(ours_one[i][0].T.numpy(), lava[f's{i + 1}'].astype(bool)) for i in range(2))
        lava_step = float(lava['run_s']) / steps
    lines.append(f'  Lava Loihi2SimCfg(fixed_pt):   {lava_step * 1e6:9.1f} us per simulated step '
                 f'(1 patch; spikes identical: {exact})')
    lines.append(f'  speed-up: {lava_step / (ours_one_s / steps):.0f}x for one patch, '
                 f'{lava_step / (ours_batch_s / steps / n_patches):.0f}x per patch batched')
    return '\n'.join(lines)


def format_model_table(rows: list[ModelRow]) -> str:
    header = (f'{"architecture":12} {"backend":10} {"tick":4} {"median ms":>9} {"p90 ms":>8} {"target":>7} {"prep ms":>8} '
              f'{"MACs":>10} {"SynOps":>8} {"energy uJ":>9}  patches')
    lines = [header, '-' * len(header)]
    for r in rows:
        target = TARGETS_MS.get((r.architecture, r.backend))
        target_text = f'<={target:g}' if target else ''
        if np.isnan(r.median_ms):
            lines.append(f'{r.architecture:12} {r.backend:10} {r.patches}')
            continue
        lines.append(f'{r.architecture:12} {r.backend:10} {r.tick:4} {r.median_ms:9.3f} {r.p90_ms:8.3f} {target_text:>7} '
                     f'{r.preprocess_ms:8.2f} {r.macs:10.3g} {r.synops:8.3g} {r.energy_uj:9.2f}  {r.patches}')
    return '\n'.join(lines)


def run(threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    print(f'sensor_fusion model benchmark: batch 1, {repeats} decisions after warm-up, torch {torch.__version__}, '
          f'{threads} thread(s), {os.cpu_count()} CPUs. Energy: estimated arithmetic only (see README).')
    print(format_model_table(bench_models(repeats)))
    print("tick: 'new', every input new; 'held', the camera frame, tactile pad and events as the tick before "
          "(new wrench, audio, joints), as on 6 of 7 ticks of a 15 Hz camera under a 100 Hz loop")
    print()
    print(bench_loihi_vs_lava())
    sys.stdout.flush()


def dense_evt3_stream(n_microseconds: int, seed: int = 0, width: int = 640, height: int = 480) -> tuple[bytes, int]:
    """EVT3 as a sensor emits it under heavy motion: per microsecond a TIME_LOW, then rows of
    VECT_BASE_X + VECT_12 words (~30 events/µs, i.e. 30 Mev/s of input). Returns (bytes, events)."""
    rng = np.random.default_rng(seed)
    words, events = [], 0
    for t in range(n_microseconds):
        if t % 4096 == 0:
            words.append((8 << 12) | ((t >> 12) & 0xFFF))
        words.append((6 << 12) | (t & 0xFFF))
        for _ in range(2):                                   # two active rows per microsecond
            words.append(int(rng.integers(0, height)))       # ADDR_Y
            words.append((3 << 12) | (int(rng.integers(0, 2)) << 11) | int(rng.integers(0, width - 24)))
            for _ in range(2):
                mask = int(rng.integers(0, 4096)) | int(rng.integers(0, 4096))   # ~9 of 12 bits set
                words.append((4 << 12) | mask)
                events += bin(mask).count('1')
    return np.asarray(words, dtype='<u2').tobytes(), events


def bench_evt3(repeats: int = 5) -> str:
    """EVT3 decode throughput on one core: a sparse stream (one ADDR_X word per event, ~3 words per
    event: the worst case) and a dense vectorised one (what a sensor emits at high rates)."""
    from .event_codecs import EventStreamDecoder, encode_evt3
    rng = np.random.default_rng(0)
    n = 1_000_000
    t = np.sort(rng.integers(0, 1_000_000_000, n))          # 1 Mev/s: a new microsecond every event
    sparse = encode_evt3(make_events(rng.integers(0, 640, n), rng.integers(0, 480, n), t, rng.integers(0, 2, n)))
    dense, dense_events = dense_evt3_stream(40_000)
    lines = ['EVT3 decoding, one thread (median of %d)' % repeats, 'stream                  events   words/event  Mev/s']
    for name, data, count in (('sparse (ADDR_X only)', sparse, n), ('dense (VECT_12 rows)', dense, dense_events)):
        seconds = []
        for _ in range(repeats):
            decoder = EventStreamDecoder()
            start = time.perf_counter()
            decoded = decoder.decode('evt3', data, 640, 480, 0, 1)
            seconds.append(time.perf_counter() - start)
        assert len(decoded) == count, (len(decoded), count)
        lines.append(f'{name:22} {count:8d}   {len(data) / 2 / count:10.2f}  {count / np.median(seconds) / 1e6:6.1f}')
    return '\n'.join(lines)


def bench_sim(episodes: int = 200, render_episodes: int = 3) -> str:
    """The scripted expert over seeded episodes (success rate, 95% Wilson interval, outcome counts) and
    the simulator's real-time factor with every sensor on (rendering included) and physics only."""
    import collections
    import math

    from .sim.expert import ScriptedExpert
    from .sim.simulator import SimConfig, TabletopSim

    def run(sim: 'TabletopSim', seeds) -> tuple[collections.Counter, float, float]:
        expert, outcomes, simulated, start = ScriptedExpert(sim), collections.Counter(), 0.0, time.perf_counter()
        for seed in seeds:
            episode = sim.reset(seed)
            expert.reset()
            while not episode.done:
                sim.command_twist(expert.act(sim.pad_force_n))
                sim.step()
            outcomes[episode.outcome.value] += 1
            simulated += episode.time_s
        return outcomes, simulated, time.perf_counter() - start

    outcomes, simulated, wall = run(TabletopSim(SimConfig(render=False)), range(episodes))
    _, simulated_render, wall_render = run(TabletopSim(SimConfig(render=True)), range(10_000, 10_000 + render_episodes))
    n, k, z = episodes, outcomes['success'], 1.96
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return '\n'.join([
        f'scripted expert, {episodes} seeded episodes: success {k}/{n} = {100 * k / n:.1f}% '
        f'(95% CI {100 * (centre - half):.1f}-{100 * (centre + half):.1f}%); outcomes {dict(outcomes)}',
        f'real-time factor, all sensors (camera 15 Hz 96x96, DVS renders 250 Hz 96x72 + emulator, wrench 500 Hz, '
        f'taxels 100 Hz, audio 16 kHz): {simulated_render / wall_render:.1f}x ({render_episodes} episodes)',
        f'real-time factor, physics + non-visual sensors: {simulated / wall:.1f}x'])

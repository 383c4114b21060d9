"""Diagnostic: the shipped NVSF-A with its camera encoder run on every other new frame (7.5 Hz), a
fixed rule in place of the gate (README, next step 4). In-process, commands 8 ms late, held-out seeds.

    python results/gate_rl/camera_half_rate.py [EPISODES] [--every-frame]

``--every-frame`` runs the encoder on every frame: the reference, through the same code.
The rule works through the gate: its camera row reads nothing and its bias says run or skip, so a
skipped frame's held token stands in exactly as for a gate's skip.
"""
import collections
import multiprocessing
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def run_seeds(job: tuple) -> list[str]:
    seeds, every_frame = job
    import torch

    from sensor_fusion.architectures import load_config
    from sensor_fusion.observation import MODALITIES
    from sensor_fusion.policy import build_policy
    from sensor_fusion.training.closed_loop import ClosedLoop
    torch.set_num_threads(1)
    policy = build_policy('nvsf_a', 'cpu', ROOT / 'models' / 'nvsf_a.safetensors')
    camera = MODALITIES.index('camera')
    with torch.no_grad():
        policy.model.gate.weight[camera] = 0.0
    loop = ClosedLoop(load_config('nvsf_a').preprocess, command_latency_s=0.008)
    outcomes = []
    for seed in seeds:
        policy.reset()
        last_frame, new_frames = None, 0

        def controller(observation, _expert):
            nonlocal last_frame, new_frames
            frame = None if observation.rgb is None else observation.rgb.tobytes()
            if frame is not None and frame != last_frame:
                last_frame, new_frames = frame, new_frames + 1
            with torch.no_grad():     # odd-numbered new frames run (the first always), even ones are skipped
                policy.model.gate.bias[camera] = 20.0 if every_frame or new_frames % 2 == 1 else -20.0
            return policy.act(observation).action

        outcome = loop.run(seed, controller).verdict.value
        outcomes.append(outcome)
        print(seed, outcome, flush=True)
    return outcomes


if __name__ == '__main__':
    episodes = int(next((a for a in sys.argv[1:] if a.isdigit()), 100))
    every_frame = '--every-frame' in sys.argv
    seeds = list(range(100_000, 100_000 + episodes))
    with multiprocessing.get_context('spawn').Pool(2) as pool:
        shares = pool.map(run_seeds, [(seeds[0::2], every_frame), (seeds[1::2], every_frame)])
    print(collections.Counter(outcome for share in shares for outcome in share))

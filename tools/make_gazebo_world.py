"""Writes worlds/tabletop.sdf from sensor_fusion/sim/gazebo.py (run after changing either)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sensor_fusion.sim.gazebo import world_sdf  # noqa: E402

target = Path(__file__).resolve().parents[1] / 'worlds' / 'tabletop.sdf'
target.write_text(world_sdf())
print(f'wrote {target}')

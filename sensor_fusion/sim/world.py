"""The embedded world as MJCF, modelled here from primitives (no download at run time).

A 6-joint arm on a table edge (base yaw, shoulder and elbow pitch, wrist pitch, yaw and roll) with
a wrist force/torque sensor and a 4x4 taxel pad at the tool tip; three coloured cubes on the
table; a ball that can roll across the workspace; a scene camera. Bodies of the arm carry gravity
compensation, as a real arm's controller would, so velocity commands are tracked closely.
"""
from __future__ import annotations

from dataclasses import dataclass

PHYSICS_STEP_S = 0.002
TAXELS = 4                       # the pad is a TAXELS x TAXELS grid of touch sensors
PAD_HALF_M = 0.02                # pad half-width
CUBE_HALF_M = 0.025
BALL_RADIUS_M = 0.03
CUBE_COLOURS = {'red': (0.85, 0.1, 0.1), 'green': (0.1, 0.7, 0.15), 'blue': (0.1, 0.2, 0.85)}
JOINTS = ('base_yaw', 'shoulder', 'elbow', 'wrist_pitch', 'wrist_yaw', 'wrist_roll')
TABLE_TOP_Z = 0.0                # table surface height (the world frame sits on the table)


@dataclass(frozen=True)
class CameraSpec:
    width: int = 96
    height: int = 96
    dvs_width: int = 96              # the event camera: same view, rendered at a high rate
    dvs_height: int = 72


def _taxels() -> str:
    # The grid reaches 10 % past the pad's edges so contacts at its rim (where box-box contacts
    # sit) are felt by the outer taxels.
    size = 1.1 * PAD_HALF_M / TAXELS
    sites = []
    for row in range(TAXELS):
        for col in range(TAXELS):
            x = -TAXELS * size + size * (2 * col + 1)
            y = -TAXELS * size + size * (2 * row + 1)
            sites.append(f'<site name="taxel_{row}_{col}" type="box" pos="{x:.4f} {y:.4f} -0.006" '
                         f'size="{size * 0.98:.4f} {size * 0.98:.4f} 0.004" rgba="0 0 0 0"/>')
    return '\n            '.join(sites)


def _taxel_sensors() -> str:
    return '\n    '.join(f'<touch name="touch_{r}_{c}" site="taxel_{r}_{c}"/>' for r in range(TAXELS) for c in range(TAXELS))


def world_xml(camera: CameraSpec = CameraSpec()) -> str:
    """The MJCF of the world (cubes and ball start parked; :mod:`.task` places them per episode)."""
    cubes = '\n    '.join(
        f'<body name="cube_{name}" pos="{0.3 + 0.1 * i} {-0.5} {CUBE_HALF_M}"><freejoint name="cube_{name}_free"/>'
        f'<geom name="cube_{name}" type="box" size="{CUBE_HALF_M} {CUBE_HALF_M} {CUBE_HALF_M}" mass="0.3" '
        f'rgba="{r} {g} {b} 1" friction="1 0.01 0.001"/></body>'
        for i, (name, (r, g, b)) in enumerate(CUBE_COLOURS.items()))
    return f'''<mujoco model="sensor_fusion_tabletop">
  <compiler angle="radian"/>
  <option timestep="{PHYSICS_STEP_S}" integrator="implicitfast" cone="elliptic"/>
  <visual><quality shadowsize="0" offsamples="0"/><global offwidth="{max(camera.width, camera.dvs_width)}"
    offheight="{max(camera.height, camera.dvs_height)}"/></visual>
  <default>
    <joint damping="2.0" armature="0.05"/>
    <geom condim="3" friction="0.8 0.01 0.001" solref="0.004 1" solimp="0.95 0.99 0.001"/>
  </default>
  <worldbody>
    <light pos="0.4 0 1.5" dir="0 0 -1" castshadow="false" diffuse="0.9 0.9 0.9"/>
    <geom name="table" type="box" pos="0.45 0 -0.02" size="0.45 0.6 0.02" rgba="0.55 0.5 0.45 1"/>
    <camera name="scene" pos="0.45 -0.75 0.75" xyaxes="1 0 0 0 0.7 0.7" fovy="60"/>
    <body name="base" pos="0 0 0" gravcomp="1">
      <geom type="cylinder" size="0.06 0.04" pos="0 0 0.04" rgba="0.3 0.3 0.3 1"/>
      <joint name="base_yaw" axis="0 0 1" range="-2.6 2.6"/>
      <body name="upper" pos="0 0 0.12" gravcomp="1">
        <joint name="shoulder" axis="0 1 0" range="-2.0 2.0"/>
        <geom type="capsule" fromto="0 0 0 0 0 0.35" size="0.03" rgba="0.8 0.8 0.82 1" mass="1.5"/>
        <body name="fore" pos="0 0 0.35" gravcomp="1">
          <joint name="elbow" axis="0 1 0" range="-2.6 2.6"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.025" rgba="0.8 0.8 0.82 1" mass="1.0"/>
          <body name="wrist" pos="0.3 0 0" gravcomp="1">
            <joint name="wrist_pitch" axis="0 1 0" range="-2.6 2.6"/>
            <geom type="sphere" size="0.03" rgba="0.3 0.3 0.3 1" mass="0.3"/>
            <body name="wrist2" pos="0 0 0" gravcomp="1">
              <joint name="wrist_yaw" axis="0 0 1" range="-3.0 3.0"/>
              <geom type="sphere" size="0.02" rgba="0.3 0.3 0.3 1" mass="0.1"/>
              <body name="tool" pos="0 0 -0.06" gravcomp="1">
                <joint name="wrist_roll" axis="1 0 0" range="-3.0 3.0"/>
                <site name="ft" pos="0 0 0.03" size="0.01"/>
                <geom type="cylinder" size="0.02 0.03" rgba="0.2 0.2 0.2 1" mass="0.2"/>
                <body name="pad" pos="0 0 -0.04" gravcomp="1">
                  <geom name="pad" type="box" size="{PAD_HALF_M} {PAD_HALF_M} 0.008" rgba="0.95 0.6 0.1 1"
                        mass="0.05" friction="1 0.01 0.001" solref="0.02 1"/>
                  <site name="tool_tip" pos="0 0 -0.008" size="0.005"/>
            {_taxels()}
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
    {cubes}
    <body name="ball" pos="0.45 0.9 {BALL_RADIUS_M}"><freejoint name="ball_free"/>
      <geom name="ball" type="sphere" size="{BALL_RADIUS_M}" mass="0.2" rgba="0.95 0.95 0.2 1"/></body>
  </worldbody>
  <contact>
    <exclude body1="wrist" body2="tool"/>
    <exclude body1="wrist" body2="pad"/>
    <exclude body1="fore" body2="tool"/>
  </contact>
  <actuator>
    {' '.join(f'<velocity name="{j}_vel" joint="{j}" kv="40" ctrlrange="-2 2" forcerange="-60 60"/>' for j in JOINTS)}
  </actuator>
  <sensor>
    <force name="wrist_force" site="ft"/>
    <torque name="wrist_torque" site="ft"/>
    {_taxel_sensors()}
  </sensor>
</mujoco>'''

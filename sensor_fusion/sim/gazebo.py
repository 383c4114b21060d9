"""The Gazebo (gz sim) twin of the embedded world, written from the same dimensions (ROS-free).

``world_sdf()`` produces ``worlds/tabletop.sdf`` (``python tools/make_gazebo_world.py`` rewrites it;
a test checks the committed file is current). Gazebo cannot be installed on the development
machines, so this path is checked statically only (well-formed SDF; every bridged topic and type
matches what the fusion node subscribes to).

What Gazebo provides and how it reaches the fusion node (config/gz_bridge.yaml):
* scene camera (``camera/image_raw``), wrist force/torque on the ``wrist_roll`` joint
  (``wrist/wrench``), joint states (``joint_states``) and ``/clock``: bridged Gazebo -> ROS;
* joint velocity commands: one ``arm/<joint>/cmd_vel`` (gz.msgs.Double) per JointController,
  bridged ROS -> Gazebo; ``joint_command_splitter_node`` turns the fusion node's
  ``cmd_joint_velocity`` (Float64MultiArray) into those;
* events and audio: ``event_emulator_node`` (camera -> events) and ``contact_audio_node``
  (wrench -> audio); tactile is not modelled in Gazebo (an optional input: masked).
"""
from __future__ import annotations

from .world import BALL_RADIUS_M, CUBE_COLOURS, CUBE_HALF_M, JOINTS, PAD_HALF_M, PHYSICS_STEP_S

GZ_CAMERA = (96, 96)                 # width, height of the Gazebo scene camera
GZ_CAMERA_HZ = 60.0                  # higher than the MuJoCo camera: the event emulator runs on these frames
GZ_FT_HZ = 500.0


def joint_command_topic(joint: str) -> str:
    """Gazebo JointController topic of ``joint`` (the splitter node publishes the same names)."""
    return f'arm/{joint}/cmd_vel'


# link name, parent, joint name, joint axis, pose of the link in the parent (x y z), visual/collision
_ARM = [
    ('base', None, None, None, (0, 0, 0), '<cylinder><radius>0.06</radius><length>0.08</length></cylinder>', 2.0),
    ('upper', 'base', 'base_yaw', '0 0 1', (0, 0, 0.12),
     '<cylinder><radius>0.03</radius><length>0.35</length></cylinder>', 1.5),
    ('fore', 'upper', 'shoulder', '0 1 0', (0, 0, 0.35),
     '<cylinder><radius>0.025</radius><length>0.3</length></cylinder>', 1.0),
    ('wrist', 'fore', 'elbow', '0 1 0', (0.3, 0, 0), '<sphere><radius>0.03</radius></sphere>', 0.3),
    ('wrist2', 'wrist', 'wrist_pitch', '0 1 0', (0, 0, 0), '<sphere><radius>0.02</radius></sphere>', 0.1),
    ('tool', 'wrist2', 'wrist_yaw', '0 0 1', (0, 0, -0.06), '<cylinder><radius>0.02</radius><length>0.06</length></cylinder>',
     0.2),
    ('pad', 'tool', 'wrist_roll', '1 0 0', (0, 0, -0.04),
     f'<box><size>{2 * PAD_HALF_M} {2 * PAD_HALF_M} 0.016</size></box>', 0.05),
]


def _link(name: str, parent: str, xyz: tuple, geometry: str, mass: float) -> str:
    x, y, z = xyz
    inertia = max(mass * 1e-3, 1e-5)
    return f'''
      <link name="{name}">
        <pose relative_to="{parent}">{x} {y} {z} 0 0 0</pose>
        <inertial><mass>{mass}</mass><inertia><ixx>{inertia}</ixx><iyy>{inertia}</iyy><izz>{inertia}</izz></inertia></inertial>
        <collision name="{name}_collision"><geometry>{geometry}</geometry></collision>
        <visual name="{name}_visual"><geometry>{geometry}</geometry></visual>
      </link>'''


def _arm() -> str:
    parts = []
    for link, parent, joint, axis, xyz, geometry, mass in _ARM:
        parts.append(_link(link, parent or '__model__', xyz, geometry, mass))
        if joint is None:
            parts.append('\n      <joint name="fixed_to_world" type="fixed"><parent>world</parent><child>base</child></joint>')
            continue
        sensor = ''
        if joint == 'wrist_roll':
            sensor = f'''
        <sensor name="wrist_ft" type="force_torque">
          <topic>wrist/wrench</topic><update_rate>{GZ_FT_HZ:g}</update_rate><always_on>true</always_on>
          <force_torque><frame>child</frame><measure_direction>child_to_parent</measure_direction></force_torque>
        </sensor>'''
        parts.append(f'''
      <joint name="{joint}" type="revolute">
        <parent>{parent}</parent><child>{link}</child>
        <axis><xyz>{axis}</xyz><limit><lower>-2.6</lower><upper>2.6</upper><velocity>2.0</velocity><effort>60</effort></limit>
          <dynamics><damping>2.0</damping></dynamics></axis>{sensor}
      </joint>''')
    controllers = ''.join(f'''
      <plugin filename="gz-sim-joint-controller-system" name="gz::sim::systems::JointController">
        <joint_name>{joint}</joint_name><topic>{joint_command_topic(joint)}</topic><initial_velocity>0</initial_velocity>
      </plugin>''' for joint in JOINTS)
    return f'''
    <model name="arm">
      <pose>0 0 0 0 0 0</pose>{"".join(parts)}{controllers}
      <plugin filename="gz-sim-joint-state-publisher-system" name="gz::sim::systems::JointStatePublisher">
        <topic>joint_states</topic>
      </plugin>
    </model>'''


def _cube(colour: str, rgb: tuple, index: int) -> str:
    r, g, b = rgb
    size = 2 * CUBE_HALF_M
    return f'''
    <model name="cube_{colour}">
      <pose>{0.35 + 0.1 * index} {-0.15 + 0.15 * index} {CUBE_HALF_M} 0 0 0</pose>
      <link name="link">
        <inertial><mass>0.3</mass><inertia><ixx>1.25e-4</ixx><iyy>1.25e-4</iyy><izz>1.25e-4</izz></inertia></inertial>
        <collision name="collision"><geometry><box><size>{size} {size} {size}</size></box></geometry></collision>
        <visual name="visual"><geometry><box><size>{size} {size} {size}</size></box></geometry>
          <material><diffuse>{r} {g} {b} 1</diffuse><ambient>{r} {g} {b} 1</ambient></material></visual>
      </link>
    </model>'''


def world_sdf() -> str:
    width, height = GZ_CAMERA
    cubes = ''.join(_cube(c, rgb, i) for i, (c, rgb) in enumerate(CUBE_COLOURS.items()))
    return f'''<?xml version="1.0"?>
<!-- Generated by tools/make_gazebo_world.py from sensor_fusion/sim/gazebo.py: edit those, not this file. -->
<sdf version="1.9">
  <world name="tabletop">
    <physics name="2ms" type="ode"><max_step_size>{PHYSICS_STEP_S}</max_step_size><real_time_factor>1.0</real_time_factor></physics>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors"><render_engine>ogre2</render_engine></plugin>
    <plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-forcetorque-system" name="gz::sim::systems::ForceTorque"/>
    <light type="directional" name="sun"><cast_shadows>false</cast_shadows><pose>0.4 0 1.5 0 0 0</pose>
      <diffuse>0.9 0.9 0.9 1</diffuse><direction>0 0 -1</direction></light>
    <model name="table">
      <static>true</static><pose>0.45 0 -0.02 0 0 0</pose>
      <link name="link">
        <collision name="collision"><geometry><box><size>0.9 1.2 0.04</size></box></geometry></collision>
        <visual name="visual"><geometry><box><size>0.9 1.2 0.04</size></box></geometry>
          <material><diffuse>0.55 0.5 0.45 1</diffuse></material></visual>
      </link>
    </model>
    <model name="scene_camera">
      <static>true</static><pose>0.45 -0.75 0.75 0 0.7754 1.5708</pose>
      <link name="link">
        <sensor name="scene_camera" type="camera">
          <topic>camera/image_raw</topic><update_rate>{GZ_CAMERA_HZ:g}</update_rate><always_on>true</always_on>
          <camera><horizontal_fov>1.047</horizontal_fov>
            <image><width>{width}</width><height>{height}</height><format>R8G8B8</format></image>
            <clip><near>0.05</near><far>5</far></clip></camera>
        </sensor>
      </link>
    </model>{_arm()}{cubes}
    <model name="ball">
      <pose>0.2 0.95 {BALL_RADIUS_M} 0 0 0</pose>
      <link name="link">
        <inertial><mass>0.2</mass><inertia><ixx>7.2e-5</ixx><iyy>7.2e-5</iyy><izz>7.2e-5</izz></inertia></inertial>
        <collision name="collision"><geometry><sphere><radius>{BALL_RADIUS_M}</radius></sphere></geometry></collision>
        <visual name="visual"><geometry><sphere><radius>{BALL_RADIUS_M}</radius></sphere></geometry>
          <material><diffuse>0.95 0.95 0.2 1</diffuse></material></visual>
      </link>
    </model>
  </world>
</sdf>
'''

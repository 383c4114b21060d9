"""The Gazebo path, statically (Gazebo cannot be installed here): a well-formed SDF with the sensors
and controllers the bridge expects, and every bridged topic and type matching the fusion node's."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from sensor_fusion.bringup import plan
from sensor_fusion.interfaces import CLOCK_TOPIC, SENSOR_TOPICS
from sensor_fusion.paths import config_path
from sensor_fusion.sim.gazebo import GZ_CAMERA, joint_command_topic, world_sdf
from sensor_fusion.sim.world import JOINTS, PHYSICS_STEP_S

REPO = Path(__file__).resolve().parents[2]
WORLD = REPO / 'worlds' / 'tabletop.sdf'


@pytest.fixture(scope='module')
def sdf():
    return ET.parse(WORLD).getroot()


@pytest.fixture(scope='module')
def bridge():
    return yaml.safe_load(config_path('gz_bridge.yaml').read_text())


def test_the_committed_world_is_generated_from_the_code():
    assert WORLD.read_text() == world_sdf(), 'run python tools/make_gazebo_world.py'


def test_the_world_is_well_formed_with_the_arm_sensors_and_controllers(sdf):
    assert sdf.tag == 'sdf' and sdf.get('version') == '1.9'
    world = sdf.find('world')
    assert float(world.find('physics/max_step_size').text) == PHYSICS_STEP_S
    arm = world.find("model[@name='arm']")
    links = {link.get('name') for link in arm.findall('link')}
    joints = {j.get('name'): j for j in arm.findall('joint')}
    assert set(JOINTS) <= set(joints)
    for name, joint in joints.items():                      # every joint connects links that exist
        for end in ('parent', 'child'):
            assert joint.find(end).text in links | {'world'}, (name, end)
    controllers = {p.find('joint_name').text: p.find('topic').text for p in arm.findall('plugin')
                   if p.get('name') == 'gz::sim::systems::JointController'}
    assert controllers == {j: joint_command_topic(j) for j in JOINTS}
    sensors = {s.get('name'): s for s in world.iter('sensor')}
    assert sensors['wrist_ft'].get('type') == 'force_torque' and sensors['wrist_ft'].find('topic').text == \
        SENSOR_TOPICS['wrench'][0]
    camera = sensors['scene_camera']
    assert camera.find('topic').text == SENSOR_TOPICS['camera'][0]
    assert (int(camera.find('camera/image/width').text), int(camera.find('camera/image/height').text)) == GZ_CAMERA
    publisher = next(p for p in arm.findall('plugin') if p.get('name') == 'gz::sim::systems::JointStatePublisher')
    assert publisher.find('topic').text == SENSOR_TOPICS['proprio'][0]
    assert {m.get('name') for m in world.findall('model')} >= {'table', 'cube_red', 'cube_green', 'cube_blue', 'ball'}


def test_every_bridged_topic_matches_the_fusion_node_and_the_world(bridge, sdf):
    by_ros = {entry['ros_topic_name']: entry for entry in bridge}
    for modality in ('camera', 'wrench', 'proprio'):          # what Gazebo measures itself
        topic, ros_type = SENSOR_TOPICS[modality]
        assert by_ros[topic]['ros_type_name'] == ros_type and by_ros[topic]['direction'] == 'GZ_TO_ROS'
    clock = by_ros[CLOCK_TOPIC[0]]
    assert clock['ros_type_name'] == CLOCK_TOPIC[1] and clock['direction'] == 'GZ_TO_ROS'   # one way only
    gz_topics = {s.find('topic').text for s in sdf.iter('sensor')} | {p.find('topic').text for p in sdf.iter('plugin')
                                                                       if p.find('topic') is not None}
    for entry in bridge:
        if entry['ros_topic_name'] != '/clock':
            assert entry['gz_topic_name'] in gz_topics, entry
    for joint in JOINTS:
        entry = by_ros[joint_command_topic(joint)]
        assert (entry['ros_type_name'], entry['gz_type_name'], entry['direction']) == \
            ('std_msgs/msg/Float64', 'gz.msgs.Double', 'ROS_TO_GZ')


def test_the_gazebo_plan_puts_every_node_on_sim_time_and_fills_the_missing_senses():
    nodes = {n.name: n for n in plan('gazebo', architecture='nvsf_h')}
    assert set(nodes) == {'gz_server', 'gz_bridge', 'event_emulator', 'contact_audio', 'joint_command_splitter',
                          'fusion_node'}
    assert all(n.parameters.get('use_sim_time') is True for n in nodes.values())
    assert Path(nodes['gz_server'].parameters['world_sdf_file']).name == 'tabletop.sdf'
    fusion = yaml.safe_load(config_path('gazebo.yaml').read_text())['fusion_node']['ros__parameters']
    assert fusion['command_interface'] == 'joint_velocity' and tuple(fusion['joint_names']) == JOINTS
    assert (fusion['event_sensor_width'], fusion['event_sensor_height']) == GZ_CAMERA

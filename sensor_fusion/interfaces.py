"""The suite's topics and message types (ROS-free): one table for the fusion node, the simulator,
the emulator nodes, the Gazebo bridge config and the tests.

Names are relative (remappable); types are ROS interface names as ``ros2 topic info`` prints them.
"""
from __future__ import annotations

# modality -> (default topic, message type of the default wire format)
SENSOR_TOPICS: dict[str, tuple[str, str]] = {
    'camera': ('camera/image_raw', 'sensor_msgs/msg/Image'),
    'wrench': ('wrist/wrench', 'geometry_msgs/msg/WrenchStamped'),
    'tactile': ('tactile/image', 'sensor_msgs/msg/Image'),
    'audio': ('audio', 'sensor_msgs/msg/Image'),
    'events': ('events', 'sensor_msgs/msg/PointCloud2'),
    'proprio': ('joint_states', 'sensor_msgs/msg/JointState'),
}

# command_interface -> (topic, message type)
COMMAND_TOPICS: dict[str, tuple[str, str]] = {
    'twist': ('cmd_twist', 'geometry_msgs/msg/TwistStamped'),
    'joint_velocity': ('cmd_joint_velocity', 'std_msgs/msg/Float64MultiArray'),
    'joint_trajectory': ('cmd_joint_trajectory', 'trajectory_msgs/msg/JointTrajectory'),
}

DIAGNOSTICS_TOPIC = ('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray')
CLOCK_TOPIC = ('/clock', 'rosgraph_msgs/msg/Clock')
EPISODE_RESULT_TOPIC = ('episode_result', 'std_msgs/msg/String')   # JSON, one per finished episode

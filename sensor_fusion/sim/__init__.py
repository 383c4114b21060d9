"""The embedded simulator's ROS-free parts: sensor models that also serve robots and Gazebo."""

import os

# Headless rendering: must be set before mujoco is first imported anywhere in the process.
os.environ.setdefault('MUJOCO_GL', 'egl')

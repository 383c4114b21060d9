"""The embedded simulator's ROS-free parts: sensor models that also serve robots and Gazebo."""

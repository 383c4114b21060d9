"""sensor_fusion: multisensory fusion policies (NVSF-C, NVSF-A, NVSF-H) for ROS 2 robots.

The package root and everything outside ``sensor_fusion.ros`` is ROS-free.
"""
__version__ = '0.1.0'

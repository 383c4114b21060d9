"""Datasets from bags, trainers and evaluation (ROS-free)."""

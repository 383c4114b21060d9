"""QoS profiles, built in one place and passed to every publisher and subscription."""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

# Sensor streams: best effort, keep-last, as drivers publish them (qos_profile_sensor_data).
# Depth 5 is the ROS default; high-rate streams (wrench 500 Hz, 1 ms event packets) get more room
# so a 20 ms stall of the executor does not drop samples the wrench/event windows need.
SENSOR_QOS = qos_profile_sensor_data


def sensor_qos(depth: int = 5) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


HIGH_RATE_SENSOR_QOS = sensor_qos(50)

# Commands: reliable, so a zero command on halt is not lost; shallow, so a stale command is never
# queued behind a fresh one.
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)

DIAGNOSTICS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)

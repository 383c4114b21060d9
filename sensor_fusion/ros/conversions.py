"""ROS message <-> numpy conversions: decoding re-exported from :mod:`sensor_fusion.decode`
(ROS-free, shared with bag replay and training), building messages here."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TwistStamped, WrenchStamped
from sensor_msgs.msg import Image, JointState, PointCloud2, PointField
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..decode import (NS_PER_S, POINTCLOUD_DTYPE, POINTCLOUD_FIELDS, RGB_ENCODINGS, ConversionError,  # noqa: F401
                      audio_image_to_samples, audio_stamped_to_samples, diagnostic_values, event_packet_to_events,
                      image_to_float32, image_to_rgb, joint_state_to_arrays, pointcloud2_to_events, stamp_ns,
                      wrench_to_array)
from ..event_codecs import EventDecodeError  # noqa: F401


# -- time ---------------------------------------------------------------------------------------
def time_msg(ns: int) -> Time:
    return Time(sec=int(ns // NS_PER_S), nanosec=int(ns % NS_PER_S))


def header(ns: int, frame_id: str = '') -> Header:
    return Header(stamp=time_msg(ns), frame_id=frame_id)


# -- images -------------------------------------------------------------------------------------
def rgb_to_image(rgb: np.ndarray, stamp: int, frame_id: str = 'camera') -> Image:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, _ = rgb.shape
    return Image(header=header(stamp, frame_id), height=height, width=width, encoding='rgb8', is_bigendian=0,
                 step=width * 3, data=rgb.tobytes())


def float32_to_image(values: np.ndarray, stamp: int, frame_id: str = '') -> Image:
    values = np.ascontiguousarray(values, dtype='<f4')
    height, width = values.shape
    return Image(header=header(stamp, frame_id), height=height, width=width, encoding='32FC1', is_bigendian=0,
                 step=width * 4, data=values.tobytes())


# -- audio --------------------------------------------------------------------------------------
def samples_to_audio_image(samples: np.ndarray, first_sample_ns: int, frame_id: str = 'microphone') -> Image:
    return float32_to_image(np.atleast_2d(samples), first_sample_ns, frame_id)


# -- wrench, joints -----------------------------------------------------------------------------
def wrench_msg(values, stamp: int, frame_id: str = 'wrist') -> WrenchStamped:
    msg = WrenchStamped(header=header(stamp, frame_id))
    f, t = msg.wrench.force, msg.wrench.torque
    f.x, f.y, f.z, t.x, t.y, t.z = (float(v) for v in values)
    return msg


def joint_state_msg(names, positions, velocities, stamp: int) -> JointState:
    return JointState(header=header(stamp), name=list(names), position=[float(v) for v in positions],
                      velocity=[float(v) for v in velocities])


# -- events -------------------------------------------------------------------------------------
def events_to_pointcloud2(events: np.ndarray, stamp: int, frame_id: str = 'event_camera') -> PointCloud2:
    """EVENT_DTYPE (absolute ``t`` ns, all >= ``stamp``) -> event PointCloud2."""
    offsets = events['t'].astype(np.int64) - stamp
    if len(events) and (offsets.min() < 0 or offsets.max() >= 1 << 32):
        raise ValueError('event times must lie within 4.29 s after the header stamp')
    points = np.empty(len(events), POINTCLOUD_DTYPE)
    points['x'], points['y'], points['t'], points['p'] = events['x'], events['y'], offsets, events['p']
    fields = [PointField(name=name, offset=POINTCLOUD_DTYPE.fields[name][1], datatype=datatype, count=1)
              for name, datatype, _ in POINTCLOUD_FIELDS]
    return PointCloud2(header=header(stamp, frame_id), height=1, width=len(events), fields=fields,
                       is_bigendian=False, point_step=POINTCLOUD_DTYPE.itemsize,
                       row_step=POINTCLOUD_DTYPE.itemsize * len(events), data=points.tobytes(), is_dense=True)


# -- commands -----------------------------------------------------------------------------------
def twist_msg(command: np.ndarray, stamp: int, frame_id: str) -> TwistStamped:
    msg = TwistStamped(header=header(stamp, frame_id))
    lin, ang = msg.twist.linear, msg.twist.angular
    lin.x, lin.y, lin.z, ang.x, ang.y, ang.z = (float(v) for v in command[:6])
    return msg


def joint_velocity_msg(command: np.ndarray) -> Float64MultiArray:
    return Float64MultiArray(data=[float(v) for v in command])


def joint_trajectory_msg(command: np.ndarray, positions, joint_names, stamp: int, horizon_s: float,
                         frame_id: str = '') -> JointTrajectory:
    """One point ``horizon_s`` ahead: positions integrated from the current joint state.

    A zero command is a trajectory with no points: joint_trajectory_controller then stops and
    holds its position, which is also right when no joint state has arrived yet.
    """
    msg = JointTrajectory(header=header(stamp, frame_id), joint_names=list(joint_names))
    if positions is None or not np.any(command):
        return msg
    target = np.asarray(positions, dtype=np.float64) + command * horizon_s
    msg.points = [JointTrajectoryPoint(positions=[float(v) for v in target], velocities=[float(v) for v in command],
                                       time_from_start=Duration(sec=int(horizon_s),
                                                                nanosec=int((horizon_s % 1) * NS_PER_S)))]
    return msg


def diagnostic_array(stamp: int, name: str, hardware_id: str, level: bytes, message: str,
                     values: dict) -> DiagnosticArray:
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])
    return DiagnosticArray(header=header(stamp), status=[status])


"""Message definitions for ``rosbags`` (ROS-free): the Kilted standard types plus the two packages
the fusion node reads but that are not installed here (event_camera_msgs, audio_common_msgs).

Bags recorded from a real event camera or microphone can then be decoded, in tests and in bag
replay, by the same conversion functions the live node uses.
"""
from __future__ import annotations

from functools import lru_cache

EXTRA_MESSAGE_DEFINITIONS = {
    # ros-event-camera/event_camera_msgs
    'event_camera_msgs/msg/EventPacket': (
        'std_msgs/Header header\nuint32 height\nuint32 width\nuint64 seq\nuint64 time_base\n'
        'string encoding\nbool is_bigendian\nuint8[] events\n'),
    # mgonzs13/audio_common (the ROS 2 audio_common_msgs with AudioStamped)
    'audio_common_msgs/msg/AudioData': (
        'float32[] float32_data\nint32[] int32_data\nint32[] int24_data\nint16[] int16_data\n'
        'int8[] int8_data\nuint8[] uint8_data\n'),
    'audio_common_msgs/msg/AudioInfo': 'int32 format\nint32 channels\nint32 rate\nint32 chunk\n',
    'audio_common_msgs/msg/Audio': 'audio_common_msgs/AudioData audio\naudio_common_msgs/AudioInfo info\n',
    'audio_common_msgs/msg/AudioStamped': 'std_msgs/Header header\naudio_common_msgs/Audio audio\n',
}


@lru_cache(maxsize=1)
def typestore():
    """A rosbags typestore for ROS 2 Kilted with :data:`EXTRA_MESSAGE_DEFINITIONS` registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name, text in EXTRA_MESSAGE_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def deserialize(raw: bytes, typename: str):
    """CDR bytes from a bag -> a rosbags message.

    rosbags accepts at most 3 bytes after the last field, but Fast DDS (what rclpy's
    ``serialize_message`` and ``ros2 bag record`` use) pads messages to 8 bytes, so a JointState
    ending in an empty array arrives with 4-7 padding bytes; those are accepted here.
    """
    store = typestore()
    if len(raw) < 4 or bytes(raw[:2]) not in (b'\x00\x00', b'\x00\x01'):
        raise ValueError(f'{typename}: not a CDR message (encapsulation {bytes(raw[:4])!r})')
    msgdef = store.get_msgdef(typename)
    decode = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    message, position = decode(raw[4:], 0, msgdef.cls, store)
    if len(raw) - 4 - position > 7:
        raise ValueError(f'{typename}: {len(raw) - 4 - position} bytes after the last field')
    return message

"""Every conversion: round trips, and every malformed case refused with a reason (no node needed)."""
import numpy as np
import pytest

from sensor_fusion.event_codecs import EventStreamDecoder, encode_evt3
from sensor_fusion.observation import make_events
from sensor_fusion.ros import conversions as conv

STAMP = 1_700_000_000_123_456_789


def test_stamp_round_trip():
    assert conv.stamp_ns(conv.header(STAMP)) == STAMP


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8'])
def test_camera_encodings_become_rgb(encoding):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = conv.rgb_to_image(rgb, STAMP)
    if encoding == 'bgr8':
        msg.encoding, msg.data = 'bgr8', rgb[:, :, ::-1].tobytes()
    elif encoding == 'mono8':
        msg.encoding, msg.step, msg.data = 'mono8', 7, rgb[:, :, 0].tobytes()
    out = conv.image_to_rgb(msg)
    expected = np.repeat(rgb[:, :, :1], 3, axis=2) if encoding == 'mono8' else rgb
    assert out.shape == (5, 7, 3) and (out == expected).all()


def test_camera_rows_with_padding_are_cropped():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = conv.rgb_to_image(rgb, STAMP)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    msg.step, msg.data = 12, padded.tobytes()
    assert (conv.image_to_rgb(msg) == rgb).all()


@pytest.mark.parametrize('mutate, reason', [
    (lambda m: setattr(m, 'encoding', 'yuv422'), 'bad_encoding'),
    (lambda m: setattr(m, 'encoding', '16UC1'), 'bad_encoding'),
    (lambda m: setattr(m, 'step', 5), 'bad_size'),
    (lambda m: setattr(m, 'data', bytes(10)), 'bad_size'),
    (lambda m: setattr(m, 'width', 0), 'bad_size'),
    (lambda m: setattr(m, 'height', 9), 'bad_size'),
])
def test_bad_camera_images_are_refused_with_a_reason(mutate, reason):
    msg = conv.rgb_to_image(np.zeros((4, 4, 3), np.uint8), STAMP)
    mutate(msg)
    with pytest.raises(conv.ConversionError) as error:
        conv.image_to_rgb(msg)
    assert error.value.reason == reason


def test_tactile_and_audio_float_images_round_trip_and_refuse_nan():
    values = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    assert (conv.image_to_float32(conv.float32_to_image(values, STAMP)) == values).all()
    big_endian = conv.float32_to_image(values, STAMP)
    big_endian.is_bigendian, big_endian.data = 1, values.astype('>f4').tobytes()
    assert (conv.image_to_float32(big_endian) == values).all()
    values[1, 1] = np.nan
    with pytest.raises(conv.ConversionError, match='NaN'):
        conv.image_to_float32(conv.float32_to_image(values, STAMP))
    loud = conv.samples_to_audio_image(np.full((1, 8), 1.5, np.float32), STAMP)
    with pytest.raises(conv.ConversionError) as error:
        conv.audio_image_to_samples(loud)
    assert error.value.reason == 'out_of_range'


def test_wrench_round_trip_and_nan():
    values = [1.0, -2.0, 3.0, 0.1, -0.2, 0.3]
    assert conv.wrench_to_array(conv.wrench_msg(values, STAMP)).tolist() == values
    with pytest.raises(conv.ConversionError):
        conv.wrench_to_array(conv.wrench_msg([np.nan, 0, 0, 0, 0, 0], STAMP))


def test_joint_states_are_reordered_by_joint_names():
    msg = conv.joint_state_msg(['b', 'a', 'c'], [2.0, 1.0, 3.0], [0.2, 0.1, 0.3], STAMP)
    positions, velocities = conv.joint_state_to_arrays(msg, ('a', 'b'))
    assert positions.tolist() == [1.0, 2.0] and velocities.tolist() == [0.1, 0.2]
    msg.velocity = []
    assert conv.joint_state_to_arrays(msg, ())[1].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize('names, positions, velocities, wanted, reason', [
    (['a'], [1.0, 2.0], [], (), 'bad_size'),
    (['a', 'b'], [1.0, 2.0], [1.0], (), 'bad_size'),
    (['a'], [1.0], [0.0], ('z',), 'missing_joint'),
    (['a'], [float('inf')], [0.0], (), 'non_finite'),
    ([], [], [], (), 'bad_size'),
])
def test_bad_joint_states_are_refused(names, positions, velocities, wanted, reason):
    msg = conv.joint_state_msg(names, positions, velocities, STAMP)
    with pytest.raises(conv.ConversionError) as error:
        conv.joint_state_to_arrays(msg, wanted)
    assert error.value.reason == reason


def test_event_pointcloud_round_trip():
    rng = np.random.default_rng(0)
    t = STAMP + np.sort(rng.integers(0, 1_000_000, 100))
    events = make_events(rng.integers(0, 320, 100), rng.integers(0, 240, 100), t, rng.integers(0, 2, 100))
    msg = conv.events_to_pointcloud2(events, STAMP)
    assert (conv.pointcloud2_to_events(msg, (320, 240)) == events).all()
    empty = conv.events_to_pointcloud2(events[:0], STAMP)
    assert len(conv.pointcloud2_to_events(empty, (320, 240))) == 0


@pytest.mark.parametrize('mutate, reason', [
    (lambda m: m.fields.pop(), 'bad_fields'),
    (lambda m: setattr(m.fields[2], 'datatype', 7), 'bad_fields'),
    (lambda m: setattr(m, 'data', bytes(m.data)[:-1]), 'bad_size'),
    (lambda m: setattr(m, 'width', m.width + 1), 'bad_size'),
    (lambda m: setattr(m, 'is_bigendian', True), 'bad_size'),
])
def test_bad_event_clouds_are_refused(mutate, reason):
    events = make_events([1, 2], [1, 2], [STAMP, STAMP + 5], [0, 1])
    msg = conv.events_to_pointcloud2(events, STAMP)
    mutate(msg)
    with pytest.raises(conv.ConversionError) as error:
        conv.pointcloud2_to_events(msg, (320, 240))
    assert error.value.reason == reason


def test_events_outside_the_sensor_or_unsorted_are_refused():
    outside = conv.events_to_pointcloud2(make_events([400], [1], [STAMP], [1]), STAMP)
    with pytest.raises(conv.ConversionError, match='outside'):
        conv.pointcloud2_to_events(outside, (320, 240))
    unsorted = conv.events_to_pointcloud2(make_events([1, 2], [1, 1], [STAMP + 9, STAMP + 1], [1, 1]), STAMP)
    with pytest.raises(conv.ConversionError) as error:
        conv.pointcloud2_to_events(unsorted, (320, 240))
    assert error.value.reason == 'unsorted'


class _Packet:   # field-for-field like event_camera_msgs/EventPacket (rclpy or rosbags)
    def __init__(self, events, encoding='evt3'):
        self.header = conv.header(STAMP)
        self.width, self.height, self.seq, self.time_base = 320, 240, 0, 0
        self.encoding, self.is_bigendian = encoding, False
        self.events = np.frombuffer(encode_evt3(events), np.uint8)


def test_event_packets_decode_and_refuse_unknown_encodings():
    events = make_events([1, 5, 9], [2, 2, 3], [1_000, 2_000, 2_000], [1, 0, 1])
    out, size = conv.event_packet_to_events(_Packet(events), EventStreamDecoder())
    assert size == (320, 240) and out['x'].tolist() == [1, 5, 9] and out['t'][0] == STAMP
    with pytest.raises(conv.ConversionError) as error:
        conv.event_packet_to_events(_Packet(events, 'evt4'), EventStreamDecoder())
    assert error.value.reason == 'bad_encoding'


@pytest.mark.parametrize('interface', ['twist', 'joint_velocity', 'joint_trajectory'])
def test_command_messages(interface):
    command = np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.6])
    if interface == 'twist':
        msg = conv.twist_msg(command, STAMP, 'base_link')
        assert [msg.twist.linear.x, msg.twist.angular.z] == [0.1, -0.6] and msg.header.frame_id == 'base_link'
    elif interface == 'joint_velocity':
        assert list(conv.joint_velocity_msg(command).data) == command.tolist()
    else:
        names = [f'j{i}' for i in range(6)]
        msg = conv.joint_trajectory_msg(command, np.ones(6), names, STAMP, 0.1)
        point = msg.points[0]
        assert list(point.positions) == pytest.approx((1 + command * 0.1).tolist())
        assert point.time_from_start.nanosec == 100_000_000
        assert conv.joint_trajectory_msg(np.zeros(6), np.ones(6), names, STAMP, 0.1).points == []
        assert conv.joint_trajectory_msg(command, None, names, STAMP, 0.1).points == []

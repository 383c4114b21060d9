"""Messages of packages not installed here (event_camera_msgs, audio_common_msgs), and standard ones,
written to an MCAP bag with rosbags and decoded by the same conversions the live node uses."""
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from sensor_fusion.bag_types import typestore
from sensor_fusion.event_codecs import EventStreamDecoder, encode_evt3, encode_mono
from sensor_fusion.observation import make_events
from sensor_fusion.ros import conversions as conv

STAMP = 1_700_000_000_000_000_000


def _header(store, ns):
    Header, Time = store.types['std_msgs/msg/Header'], store.types['builtin_interfaces/msg/Time']
    return Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id='sensor')


def test_event_packets_and_audio_from_an_mcap_bag(tmp_path):
    store = typestore()
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 20_000_000, 2000))                   # 20 ms of events, ns
    events = make_events(rng.integers(0, 640, 2000), rng.integers(0, 480, 2000), t, rng.integers(0, 2, 2000))
    EventPacket = store.types['event_camera_msgs/msg/EventPacket']
    # Convention (event_camera_codecs drivers): header.stamp is the time of the packet's first event.
    packets = [EventPacket(header=_header(store, STAMP + int(t[0])), height=480, width=640, seq=0, time_base=0, encoding='evt3',
                           is_bigendian=False, events=np.frombuffer(encode_evt3(events[:1000]), np.uint8)),
               EventPacket(header=_header(store, STAMP + int(t[1000])), height=480, width=640, seq=1,
                           time_base=int(t[1000]), encoding='mono', is_bigendian=False,
                           events=np.frombuffer(encode_mono(events[1000:], int(t[1000])), np.uint8))]
    samples = (np.sin(np.linspace(0, 20, 320)) * 20000).astype(np.int16)   # stereo, interleaved
    AudioStamped = store.types['audio_common_msgs/msg/AudioStamped']
    Audio, AudioData, AudioInfo = (store.types[f'audio_common_msgs/msg/{n}'] for n in ('Audio', 'AudioData', 'AudioInfo'))
    empty = {k: np.zeros(0, d) for k, d in (('float32_data', np.float32), ('int32_data', np.int32),
                                            ('int24_data', np.int32), ('int8_data', np.int8), ('uint8_data', np.uint8))}
    audio = AudioStamped(header=_header(store, STAMP), audio=Audio(
        audio=AudioData(int16_data=samples, **empty), info=AudioInfo(format=8, channels=2, rate=16000, chunk=160)))

    bag = tmp_path / 'bag'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        events_conn = writer.add_connection('/events', EventPacket.__msgtype__, typestore=store)
        audio_conn = writer.add_connection('/audio', AudioStamped.__msgtype__, typestore=store)
        for i, packet in enumerate(packets):
            writer.write(events_conn, STAMP + i, store.serialize_cdr(packet, EventPacket.__msgtype__))
        writer.write(audio_conn, STAMP, store.serialize_cdr(audio, AudioStamped.__msgtype__))

    decoder, decoded, chunks = EventStreamDecoder(), [], []
    with Reader(bag) as reader:
        for connection, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == '/events':
                decoded.append(conv.event_packet_to_events(msg, decoder)[0])
            else:
                chunks.append(conv.audio_stamped_to_samples(msg))
    got = np.concatenate(decoded)
    assert got['x'].tolist() == events['x'].tolist() and got['p'].tolist() == events['p'].tolist()
    # evt3 has microsecond resolution; both packets land on one header clock (no resync).
    assert np.abs(got['t'] - (STAMP + t)).max() < 1000 and decoder.resyncs == 0
    (audio_samples, rate), = chunks
    assert rate == 16000 and audio_samples.shape == (2, 160)
    assert audio_samples[1].tolist() == pytest.approx((samples[1::2] / 2 ** 15).tolist())


def test_standard_messages_from_a_bag_use_the_same_conversions(tmp_path):
    store = typestore()
    Image = store.types['sensor_msgs/msg/Image']
    rgb = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    image = Image(header=_header(store, STAMP), height=4, width=6, encoding='bgr8', is_bigendian=0, step=18,
                  data=np.ascontiguousarray(rgb[:, :, ::-1]).reshape(-1))
    bag = tmp_path / 'bag'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/camera/image_raw', Image.__msgtype__, typestore=store)
        writer.write(connection, STAMP, store.serialize_cdr(image, Image.__msgtype__))
    with Reader(bag) as reader:
        (connection, _, raw), = list(reader.messages())
        msg = store.deserialize_cdr(raw, connection.msgtype)
    assert (conv.image_to_rgb(msg) == rgb).all() and conv.stamp_ns(msg.header) == STAMP

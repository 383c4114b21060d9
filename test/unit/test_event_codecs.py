"""EVT3 and mono decoding, checked against a word-by-word reference written from the format spec."""
import numpy as np
import pytest

from sensor_fusion.event_codecs import EventDecodeError, EventStreamDecoder, encode_evt3, encode_mono
from sensor_fusion.observation import make_events

W, H = 640, 480


def reference_evt3(words, width=W, height=H):
    """Straight per-word decoder (the event_camera_codecs rules), for comparison only."""
    out, y, base, pol, high, low, has_high, valid = [], 0, 0, 0, 0, 0, False, False
    for word in words:
        code, payload = word >> 12, word & 0xFFF
        if code == 8:
            last = (high >> 12) & 0xFFF
            if has_high and payload < last and last - payload > 10:
                high += 1 << 24
            high = (high & ~((1 << 24) - 1)) | (payload << 12)
            has_high = True
        elif code == 6:
            low = payload
            valid = valid or has_high
        elif not valid:
            continue
        elif code == 0:
            y = payload & 0x7FF
        elif code == 2:
            x = payload & 0x7FF
            if x < width and y < height:
                out.append((x, y, (high | low) * 1000, payload >> 11))
        elif code == 3:
            base, pol = payload & 0x7FF, payload >> 11
        elif code in (4, 5):
            n = 12 if code == 4 else 8
            for bit in range(n):
                if payload >> bit & 1 and base + bit < width and y < height:
                    out.append((base + bit, y, (high | low) * 1000, pol))
            base += n
    return out


def random_words(rng, n):
    """A plausible EVT3 stream: time words, rows, single events and vector groups, with wraps."""
    words, t = [], 0
    words += [(8 << 12) | 0, (6 << 12) | 0]
    for _ in range(n):
        kind = rng.integers(0, 10)
        if kind == 0:
            t += int(rng.integers(1, 3_000_000))          # big jumps cross the 24-bit wrap
            words += [(8 << 12) | ((t >> 12) & 0xFFF), (6 << 12) | (t & 0xFFF)]
        elif kind == 1:
            t += int(rng.integers(1, 50))
            words.append((6 << 12) | (t & 0xFFF)) if (t >> 12) == ((t - 1) >> 12) else \
                words.extend([(8 << 12) | ((t >> 12) & 0xFFF), (6 << 12) | (t & 0xFFF)])
        elif kind in (2, 3):
            words.append((0 << 12) | int(rng.integers(0, 500)))
        elif kind in (4, 5, 6):
            words.append((2 << 12) | (int(rng.integers(0, 2)) << 11) | int(rng.integers(0, 700)))
        elif kind == 7:
            words.append((3 << 12) | (int(rng.integers(0, 2)) << 11) | int(rng.integers(0, 650)))
        elif kind == 8:
            words.append((4 << 12) | int(rng.integers(0, 4096)))
        else:
            words.append((5 << 12) | int(rng.integers(0, 256)))
    return np.array(words, dtype='<u2')


def decode_all(words, splits):
    decoder = EventStreamDecoder(resync_s=1e6)   # constant header stamps here: compare sensor time only
    parts = []
    for a, b in zip(splits[:-1], splits[1:]):
        parts.append(decoder.decode('evt3', words[a:b].tobytes(), W, H, 0, 10**9))
    return np.concatenate(parts), decoder


@pytest.mark.parametrize('seed', range(4))
def test_evt3_matches_the_reference_word_for_word_across_packet_splits(seed):
    rng = np.random.default_rng(seed)
    words = random_words(rng, 3000)
    expected = np.array(reference_evt3(words.tolist()))
    splits = sorted({0, len(words), *rng.integers(1, len(words), 7).tolist()})
    got, decoder = decode_all(words, splits)
    assert len(got) == len(expected)
    assert got['x'].tolist() == expected[:, 0].tolist()
    assert got['y'].tolist() == expected[:, 1].tolist()
    assert got['p'].tolist() == expected[:, 3].tolist()
    # Times: on the header clock, offset by one constant (the first event anchors at the stamp).
    offsets = got['t'] - expected[:, 2]
    assert np.all(offsets == offsets[0]) and decoder.resyncs == 0


def test_evt3_time_wraps_every_2_to_24_microseconds():
    t_us = np.array([16_777_000, 16_777_215, 16_777_216 + 5, 16_777_216 + 3 * 4096 + 7])
    events = make_events([1, 2, 3, 4], [0, 0, 0, 0], t_us * 1000, [1, 0, 1, 0])
    data = encode_evt3(events)
    decoder = EventStreamDecoder()
    got = decoder.decode('evt3', data, W, H, 0, int(t_us[0]) * 1000)
    assert (got['t'] - got['t'][0]).tolist() == ((t_us - t_us[0]) * 1000).tolist()


def test_evt3_events_before_the_first_full_time_are_dropped_like_the_reference():
    words = np.array([(2 << 12) | 5, (8 << 12) | 1, (2 << 12) | 6, (6 << 12) | 3, (2 << 12) | 7], '<u2')
    got = EventStreamDecoder().decode('evt3', words.tobytes(), W, H, 0, 10**9)
    assert got['x'].tolist() == [7]


def test_evt3_vector_words_expand_to_events():
    words = np.array([(8 << 12) | 0, (6 << 12) | 10, (0 << 12) | 3, (3 << 12) | (1 << 11) | 100,
                      (4 << 12) | 0b100000000101, (5 << 12) | 0b10000001], '<u2')
    got = EventStreamDecoder().decode('evt3', words.tobytes(), W, H, 0, 10**9)
    assert got['x'].tolist() == [100, 102, 111, 112, 119]
    assert set(got['p'].tolist()) == {1} and set(got['y'].tolist()) == {3}


@pytest.mark.parametrize('data, match', [(b'\x00', 'whole 16-bit'), (np.array([0xB000], '<u2').tobytes(), 'unknown')])
def test_malformed_evt3_is_refused(data, match):
    with pytest.raises(EventDecodeError, match=match):
        EventStreamDecoder().decode('evt3', data, W, H, 0, 1)


def test_mono_round_trip_and_unknown_encoding():
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 10**9, 1000)) + 5 * 10**9
    events = make_events(rng.integers(0, W, 1000), rng.integers(0, H, 1000), t, rng.integers(0, 2, 1000))
    got = EventStreamDecoder().decode('mono', encode_mono(events, 5 * 10**9), W, H, 5 * 10**9, int(t[0]))
    assert (got == events).all()
    with pytest.raises(EventDecodeError, match='unsupported event encoding'):
        EventStreamDecoder().decode('evt2', b'', W, H, 0, 1)


def test_header_jitter_does_not_reorder_events_but_a_real_jump_resyncs():
    decoder = EventStreamDecoder(resync_s=0.010)
    first = make_events([1], [1], [1_000_000], [1])
    second = make_events([2], [1], [2_000_000], [1])
    a = decoder.decode('mono', encode_mono(first, 0), W, H, 0, 10**9)
    b = decoder.decode('mono', encode_mono(second, 0), W, H, 0, 10**9 + 3_000_000)   # 2 ms jitter
    assert b['t'][0] - a['t'][0] == 1_000_000 and decoder.resyncs == 0
    c = decoder.decode('mono', encode_mono(second, 0), W, H, 0, 10**9 + 500_000_000)
    assert decoder.resyncs == 1 and c['t'][0] == 10**9 + 500_000_000

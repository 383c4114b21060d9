"""A short video of closed-loop episodes: camera, event frame, wrench and audio traces, commanded twist.

:class:`EpisodeVideo` is fed decoded sensor values (numpy) and draws one frame per camera image;
``subscribe(node)`` attaches it to the live topics of a running loop (``sensor-fusion eval --video``,
``make demo``). Drawing uses OpenCV only, and writes MP4 (``mp4v``), which every player opens.
"""
from __future__ import annotations

import collections
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from .interfaces import COMMAND_TOPICS, SENSOR_TOPICS

PANEL = 240                 # camera and event panels are PANEL x PANEL pixels
TRACE_W, TRACE_H = 360, 80  # one trace strip
TRACE_S = 3.0               # seconds of history in the wrench and twist traces
AUDIO_S = 0.25              # seconds of audio in the waveform strip
FPS = 15.0                  # the simulator's camera rate: one video frame per camera image


class EpisodeVideo:
    def __init__(self, path: Path, max_seconds: float = 30.0, event_sensor_size: tuple[int, int] = (96, 72)):
        self.path, self.max_frames = Path(path), int(max_seconds * FPS)
        self.event_sensor_size = event_sensor_size
        self.frames = 0
        self._writer = None
        self._label = ''
        self._verdict: Optional[str] = None
        self._events = np.zeros((event_sensor_size[1], event_sensor_size[0]), np.int32)   # (H, W) +1 on, -1 off
        self._wrench = collections.deque(maxlen=int(500 * TRACE_S))    # (t_s, Fz)
        self._twist = collections.deque(maxlen=int(60 * TRACE_S))      # (t_s, vx, vy, vz)
        self._audio = collections.deque(maxlen=int(16000 * AUDIO_S))
        self._t0: Optional[int] = None
        self._last_frame: Optional[np.ndarray] = None

    # -- feeding ----------------------------------------------------------------------------------
    def start_episode(self, seed: int) -> None:
        self._label, self._verdict, self._t0 = f'seed {seed}', None, None
        self._wrench.clear()
        self._twist.clear()
        self._audio.clear()

    def end_episode(self, result: dict) -> None:
        self._verdict = f"{result['outcome']} after {float(result['time_s']):.1f} s"
        if self._last_frame is not None and self.frames < self.max_frames:
            frame = self._last_frame.copy()
            cv2.putText(frame, self._verdict, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            for _ in range(int(FPS)):           # hold the verdict on screen for a second
                self._write(frame)

    def _seconds(self, stamp_ns: int) -> float:
        if self._t0 is None:
            self._t0 = stamp_ns
        return (stamp_ns - self._t0) / 1e9

    def add_wrench(self, stamp_ns: int, wrench: np.ndarray) -> None:
        self._wrench.append((self._seconds(stamp_ns), float(wrench[2])))

    def add_twist(self, stamp_ns: int, twist: np.ndarray) -> None:
        self._twist.append((self._seconds(stamp_ns), *map(float, twist[:3])))

    def add_audio(self, samples: np.ndarray) -> None:
        self._audio.extend(np.asarray(samples, dtype=np.float32).reshape(-1).tolist())

    def add_events(self, events: np.ndarray) -> None:
        w, h = self.event_sensor_size
        keep = (events['x'] < w) & (events['y'] < h)
        e = events[keep]
        np.add.at(self._events, (e['y'].astype(np.intp), e['x'].astype(np.intp)),
                  np.where(e['p'] > 0, 1, -1))

    def add_camera(self, stamp_ns: int, rgb: np.ndarray) -> None:
        """Draws and writes one frame (the event panel shows what arrived since the previous one)."""
        if self.frames >= self.max_frames:
            return
        frame = self.compose(rgb, self._seconds(stamp_ns))
        self._events[:] = 0
        self._last_frame = frame
        self._write(frame)

    # -- drawing ----------------------------------------------------------------------------------
    def compose(self, rgb: np.ndarray, now_s: float) -> np.ndarray:
        camera = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
        events = np.full(self._events.shape + (3,), 255, np.uint8)
        events[self._events > 0] = (0, 0, 220)      # on: red
        events[self._events < 0] = (220, 80, 0)     # off: blue
        events = cv2.resize(events, (PANEL, PANEL * events.shape[0] // events.shape[1]),
                            interpolation=cv2.INTER_NEAREST)
        events = np.vstack([events, np.full((PANEL - events.shape[0], PANEL, 3), 255, np.uint8)])
        traces = np.vstack([
            self._trace('wrench Fz N', [(t, (f,)) for t, f in self._wrench], now_s, 10.0),
            self._audio_strip(),
            self._trace('twist vx vy vz m/s', [(t, v) for t, *v in self._twist], now_s, 0.2)])
        traces = traces[:PANEL] if traces.shape[0] >= PANEL else np.vstack(
            [traces, np.full((PANEL - traces.shape[0], TRACE_W, 3), 255, np.uint8)])
        frame = np.hstack([camera, events, traces])
        text = f'{self._label}  t={now_s:5.2f} s' + (f'  {self._verdict}' if self._verdict else '')
        cv2.putText(frame, text, (6, PANEL - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        cv2.putText(frame, 'events', (PANEL + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        return frame

    def _trace(self, title: str, points: list, now_s: float, scale: float) -> np.ndarray:
        strip = np.full((TRACE_H, TRACE_W, 3), 255, np.uint8)
        cv2.line(strip, (0, TRACE_H // 2), (TRACE_W, TRACE_H // 2), (200, 200, 200), 1)
        colours = ((200, 0, 0), (0, 150, 0), (0, 0, 200))
        if points:
            times = np.array([t for t, _ in points])
            values = np.array([v for _, v in points], dtype=np.float64)          # (N, K)
            xs = ((times - (now_s - TRACE_S)) / TRACE_S * TRACE_W).astype(np.int32)
            for k in range(values.shape[1]):
                ys = (TRACE_H / 2 - values[:, k] / scale * (TRACE_H / 2 - 4)).astype(np.int32)
                cv2.polylines(strip, [np.stack([xs, np.clip(ys, 0, TRACE_H - 1)], 1)], False, colours[k], 1)
        cv2.putText(strip, f'{title} (+-{scale:g}, last {TRACE_S:g} s)', (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1)
        return strip

    def _audio_strip(self) -> np.ndarray:
        strip = np.full((TRACE_H, TRACE_W, 3), 255, np.uint8)
        if self._audio:
            samples = np.asarray(self._audio, dtype=np.float32)
            xs = np.linspace(0, TRACE_W - 1, len(samples)).astype(np.int32)
            ys = (TRACE_H / 2 - np.clip(samples / 0.5, -1, 1) * (TRACE_H / 2 - 4)).astype(np.int32)
            cv2.polylines(strip, [np.stack([xs, ys], 1)], False, (90, 90, 90), 1)
        cv2.putText(strip, f'audio (last {AUDIO_S:g} s)', (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
        return strip

    # -- output -----------------------------------------------------------------------------------
    def _write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*'mp4v'), FPS,
                                           (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise RuntimeError(f'OpenCV cannot write {self.path} (mp4v)')
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> Optional[Path]:
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        return self.path

    # -- live topics ------------------------------------------------------------------------------
    def subscribe(self, node) -> None:
        """Feeds this video from a running loop's topics (decoding as the fusion node does)."""
        from geometry_msgs.msg import TwistStamped, WrenchStamped
        from sensor_msgs.msg import Image, PointCloud2

        from .decode import (ConversionError, audio_image_to_samples, image_to_rgb, pointcloud2_to_events,
                             stamp_ns, wrench_to_array)
        from .ros.qos import COMMAND_QOS, HIGH_RATE_SENSOR_QOS, SENSOR_QOS

        def guarded(handler):
            def callback(msg):
                try:
                    handler(msg)
                except (ConversionError, ValueError):
                    pass            # the video shows what decodes; the fusion node counts the rest
            return callback

        def twist(msg):
            t = msg.twist.linear
            self.add_twist(stamp_ns(msg.header), np.array([t.x, t.y, t.z]))
        subscriptions = (
            (Image, SENSOR_TOPICS['camera'][0], lambda m: self.add_camera(stamp_ns(m.header), image_to_rgb(m)),
             SENSOR_QOS),
            (PointCloud2, SENSOR_TOPICS['events'][0],
             lambda m: self.add_events(pointcloud2_to_events(m, self.event_sensor_size)), HIGH_RATE_SENSOR_QOS),
            (WrenchStamped, SENSOR_TOPICS['wrench'][0],
             lambda m: self.add_wrench(stamp_ns(m.header), wrench_to_array(m)), HIGH_RATE_SENSOR_QOS),
            (Image, SENSOR_TOPICS['audio'][0], lambda m: self.add_audio(audio_image_to_samples(m)),
             HIGH_RATE_SENSOR_QOS),
            (TwistStamped, COMMAND_TOPICS['twist'][0], twist, COMMAND_QOS))
        for msg_type, topic, handler, qos in subscriptions:
            node.create_subscription(msg_type, topic, guarded(handler), qos)


__all__ = ['EpisodeVideo']

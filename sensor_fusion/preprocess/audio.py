"""Audio preprocessing: mixdown, rational resampling, and a log-mel spectrogram computed in torch."""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch
from scipy.signal import resample_poly


def resample(samples: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Polyphase resampling of (C, S) or (S,) float audio; returns a new float32 array.

    >>> resample(np.zeros(480, np.float32), 48000, 16000).shape
    (160,)
    """
    if from_hz == to_hz:
        return samples.astype(np.float32, copy=True)
    # limit_denominator keeps the polyphase filter small for rates like 44100 -> 16000 (160/441).
    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    return resample_poly(samples, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


@lru_cache(maxsize=8)
def mel_filterbank(n_fft: int, n_mels: int, sample_rate_hz: float, f_min_hz: float = 20.0) -> torch.Tensor:
    """HTK-scale triangular mel filters, (n_mels, n_fft // 2 + 1)."""
    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)
    mel_points = torch.linspace(hz_to_mel(f_min_hz), hz_to_mel(sample_rate_hz / 2), n_mels + 2)
    hz_points = 700.0 * (10 ** (mel_points / 2595.0) - 1.0)                 # (n_mels + 2,)
    bin_hz = torch.linspace(0, sample_rate_hz / 2, n_fft // 2 + 1)          # (F,)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (bin_hz - lower) / (centre - lower)
    falling = (upper - bin_hz) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)             # (n_mels, F)


def log_mel_spectrogram(mono: torch.Tensor, sample_rate_hz: float, n_fft: int, hop: int, n_mels: int) -> torch.Tensor:
    """(S,) float samples -> (n_mels, 1 + S // hop) log-mel energies (natural log, floor 1e-6)."""
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(mono, n_fft=n_fft, hop_length=hop, window=window, center=True,
                          return_complex=True)                              # (F, frames)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    mel = mel_filterbank(n_fft, n_mels, float(sample_rate_hz)) @ power     # (n_mels, frames)
    return torch.log(mel + 1e-6)


@dataclass(frozen=True)
class AudioTransform:
    sample_rate_hz: float = 16000.0   # every input is resampled to this rate
    window_s: float = 0.256           # newest audio kept per tick, seconds
    n_fft: int = 512                  # 32 ms analysis window at 16 kHz
    hop: int = 128                    # 8 ms between frames
    n_mels: int = 32                  # mel bands

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate_hz))

    @property
    def n_frames(self) -> int:
        return 1 + self.window_samples // self.hop

    def __call__(self, audio: np.ndarray, rate_hz: float) -> np.ndarray:
        """(C, S) float audio at ``rate_hz`` -> (n_mels, n_frames) float32 log-mel."""
        mono = audio.mean(axis=0)                                           # (S,) channel mixdown
        mono = resample(mono, rate_hz, self.sample_rate_hz)
        window = np.zeros(self.window_samples, dtype=np.float32)
        newest = mono[-self.window_samples:]
        window[self.window_samples - len(newest):] = newest                 # silence before the first sample
        return log_mel_spectrogram(torch.from_numpy(window), self.sample_rate_hz,
                                   self.n_fft, self.hop, self.n_mels).numpy()

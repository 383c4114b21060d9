"""A microphone synthesised from what happens at the contacts (ROS-free).

Three sources, each attenuated by 1/distance from the microphone (free-field spherical spreading,
referenced to 1 m):

* **impacts**: a jump in contact normal force excites a damped resonance (the struck object's
  mode): an impulse of strength proportional to the force jump into a two-pole resonator
  (``impact_hz``, decay time ``impact_decay_s``);
* **scraping**: while in contact, white noise through a band-pass resonator, its amplitude
  proportional to slip speed x normal force;
* **tones**: sine sources (an instruction tone, a machine hum), phase-continuous across chunks.

Plus the microphone's own noise floor. All filters carry their state across calls, so the signal
is continuous whatever the chunk size. Used by the embedded simulator and by ``contact_audio_node``
(wrench in, audio out) for robots or Gazebo worlds without a microphone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class ToneSource:
    frequency_hz: float
    amplitude: float              # at 1 m, full scale = 1
    distance_m: float = 1.0


@dataclass(frozen=True)
class ContactAudioConfig:
    sample_rate_hz: float = 16000.0
    impact_hz: float = 1800.0          # resonance excited by impacts
    impact_decay_s: float = 0.015      # its 1/e decay time
    impact_gain: float = 0.02          # amplitude per newton of force jump, at 1 m
    impact_min_jump_n: float = 0.5     # smaller jumps are contact noise, not impacts
    scrape_hz: float = 3000.0          # centre of the scrape band
    scrape_q: float = 2.0              # band-pass quality factor
    scrape_gain: float = 0.01          # amplitude per (m/s x N), at 1 m
    noise_floor: float = 3e-4          # microphone self-noise, RMS full scale
    seed: int = 0

    def __post_init__(self):
        if not self.sample_rate_hz > 0 or not 0 < self.impact_hz < self.sample_rate_hz / 2 \
                or not 0 < self.scrape_hz < self.sample_rate_hz / 2:
            raise ValueError('sample_rate_hz must be positive and impact_hz, scrape_hz below Nyquist')
        if self.impact_decay_s <= 0 or self.scrape_q <= 0 or self.noise_floor < 0:
            raise ValueError('impact_decay_s and scrape_q must be > 0, noise_floor >= 0')


def _resonator(frequency_hz: float, pole_radius: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-pole resonator coefficients (b, a) with unit-ish peak gain."""
    theta = 2 * math.pi * frequency_hz / rate
    a = np.array([1.0, -2 * pole_radius * math.cos(theta), pole_radius ** 2])
    return np.array([1.0 - pole_radius]), a


@dataclass
class ContactAudio:
    """Call :meth:`render` once per simulation step (or wrench sample) with that step's contact state."""

    config: ContactAudioConfig = field(default_factory=ContactAudioConfig)

    def __post_init__(self):
        c = self.config
        rate = c.sample_rate_hz
        self._impact_b, self._impact_a = _resonator(c.impact_hz, math.exp(-1.0 / (c.impact_decay_s * rate)), rate)
        bandwidth = c.scrape_hz / c.scrape_q
        self._scrape_b, self._scrape_a = _resonator(c.scrape_hz, math.exp(-math.pi * bandwidth / rate), rate)
        self._impact_state = np.zeros(2)
        self._scrape_state = np.zeros(2)
        self._phases: dict[int, float] = {}
        self._previous_force = 0.0
        self._rng = np.random.default_rng(c.seed)
        self._carry = 0.0    # fractional samples owed from earlier steps (step length * rate not integral)

    def render(self, duration_s: float, normal_force_n: float, slip_speed_mps: float = 0.0,
               distance_m: float = 1.0, tones: Sequence[ToneSource] = ()) -> np.ndarray:
        """The samples covering the next ``duration_s``: (S,) float32 in [-1, 1]."""
        c = self.config
        exact = duration_s * c.sample_rate_hz + self._carry
        n = int(exact)
        self._carry = exact - n
        if n == 0:
            self._previous_force = normal_force_n
            return np.zeros(0, np.float32)
        attenuation = 1.0 / max(distance_m, 0.05)
        # Impacts: an impulse at the first sample of a step whose force jumped.
        excitation = np.zeros(n)
        jump = normal_force_n - self._previous_force
        if jump > c.impact_min_jump_n:
            excitation[0] = c.impact_gain * jump * attenuation / (1 - math.exp(-1.0 / (c.impact_decay_s * c.sample_rate_hz)))
        self._previous_force = normal_force_n
        impact, self._impact_state = lfilter(self._impact_b, self._impact_a, excitation, zi=self._impact_state)
        # Scraping: band-passed noise scaled by slip speed x normal force (zero without contact).
        noise = self._rng.standard_normal(n)
        level = c.scrape_gain * max(slip_speed_mps, 0.0) * max(normal_force_n, 0.0) * attenuation
        scrape, self._scrape_state = lfilter(self._scrape_b, self._scrape_a, noise * level, zi=self._scrape_state)
        signal = impact + scrape
        for index, tone in enumerate(tones):
            phase = self._phases.get(index, 0.0)
            step = 2 * math.pi * tone.frequency_hz / c.sample_rate_hz
            signal = signal + tone.amplitude / max(tone.distance_m, 0.05) * np.sin(phase + step * np.arange(n))
            self._phases[index] = (phase + step * n) % (2 * math.pi)
        if c.noise_floor > 0:
            signal = signal + c.noise_floor * self._rng.standard_normal(n)
        return np.clip(signal, -1.0, 1.0).astype(np.float32)

"""The contact microphone on cases with known answers."""
import numpy as np
import pytest

from sensor_fusion.sim.contact_audio import ContactAudio, ContactAudioConfig, ToneSource

STEP = 0.002   # the simulator's 2 ms physics step
RATE = 16000


def run(audio, steps, contact):
    return np.concatenate([audio.render(STEP, **contact(i)) for i in range(steps)])


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_silence_gives_silence():
    quiet = ContactAudio(ContactAudioConfig(noise_floor=0.0))
    assert np.all(run(quiet, 100, contact=lambda i: dict(normal_force_n=0.0)) == 0)
    noisy = ContactAudio()
    assert rms(run(noisy, 100, contact=lambda i: dict(normal_force_n=0.0))) == pytest.approx(3e-4, rel=0.2)


def test_an_impact_gives_a_decaying_transient_at_the_resonance():
    audio = ContactAudio(ContactAudioConfig(noise_floor=0.0))
    signal = run(audio, 100, contact=lambda i: dict(normal_force_n=0.0 if i < 10 else 8.0))
    hit = 10 * int(STEP * RATE)                       # first sample of the step where force jumped
    assert np.all(signal[:hit] == 0)
    first, later = rms(signal[hit:hit + 160]), rms(signal[hit + 960:hit + 1120])   # 0-10 ms vs 60-70 ms
    assert first > 0.01 and later < first / 20        # 15 ms decay: ~e^-4 after 60 ms
    spectrum = np.abs(np.fft.rfft(signal[hit:hit + 1024]))
    assert abs(np.argmax(spectrum) * RATE / 1024 - 1800) < 50
    # a steady press after the jump makes no further sound (180 ms later: 12 decay times)
    assert rms(signal[-160:]) < 1e-4


def test_scraping_grows_with_slip_speed_and_force():
    def level(slip, force):
        audio = ContactAudio(ContactAudioConfig(noise_floor=0.0))
        return rms(run(audio, 200, contact=lambda i: dict(normal_force_n=force, slip_speed_mps=slip))[1600:])
    assert level(0.0, 5.0) < 1e-4
    assert level(0.2, 5.0) == pytest.approx(2 * level(0.1, 5.0), rel=0.15)
    assert level(0.1, 10.0) == pytest.approx(2 * level(0.1, 5.0), rel=0.15)


def test_tones_are_phase_continuous_and_fall_off_with_distance():
    audio = ContactAudio(ContactAudioConfig(noise_floor=0.0))
    near = run(audio, 100, contact=lambda i: dict(normal_force_n=0.0, tones=[ToneSource(440.0, 0.2, 1.0)]))
    expected = 0.2 * np.sin(2 * np.pi * 440 * np.arange(len(near)) / RATE)
    assert np.allclose(near, expected, atol=1e-5)     # no clicks at the 2 ms chunk boundaries
    far = ContactAudio(ContactAudioConfig(noise_floor=0.0))
    far_signal = run(far, 100, contact=lambda i: dict(normal_force_n=0.0, tones=[ToneSource(440.0, 0.2, 2.0)]))
    assert rms(far_signal) == pytest.approx(rms(near) / 2, rel=0.01)


def test_uneven_step_lengths_lose_no_samples():
    audio = ContactAudio()
    total = sum(len(audio.render(0.0011, normal_force_n=0.0)) for _ in range(1000))
    assert total == round(1.1 * RATE) or total == round(1.1 * RATE) - 1

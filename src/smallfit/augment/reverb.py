"""A room's reverberation, from a synthetic impulse response: the sound arrives directly,
then as a tail of echoes that decays exponentially.

Recorded impulse responses cannot be had offline, and audiomentations applies only those
(ApplyImpulseResponse reads files; RoomSimulator needs pyroomacoustics). The late part of a
real room's response is well described as Gaussian noise under an exponential envelope
(Moorer 1979; Lehmann and Johansson 2008), set by the reverberation time RT60, the time
the tail takes to fall by 60 dB, and by how loud the tail is beside the direct sound.
"""

from __future__ import annotations

import random

import numpy as np
from audiomentations.core.transforms_interface import BaseWaveformTransform
from scipy.signal import fftconvolve


def impulse_response(rate: int, rt60: float, direct_to_reverb_db: float) -> np.ndarray:
    """A unit direct sound followed (after 1-5 ms) by a decaying noise tail lasting RT60,
    whose energy is `direct_to_reverb_db` below the direct sound's."""
    gap = int(rate * random.uniform(0.001, 0.005))
    length = max(int(rate * rt60), 1)
    time = np.arange(length) / rate
    tail = np.random.standard_normal(length) * 10 ** (-3 * time / rt60)  # -60 dB at rt60
    tail *= 10 ** (-direct_to_reverb_db / 20) / np.sqrt(np.sum(tail**2))
    response = np.zeros(gap + length, dtype=np.float32)
    response[0] = 1.0
    response[gap:] += tail
    return response


class SyntheticReverb(BaseWaveformTransform):
    """Convolve with a synthetic room response (RT60 and direct-to-reverb ratio drawn
    uniformly); the clip keeps its length and its peak level."""

    supports_multichannel = False

    def __init__(
        self,
        min_rt60: float = 0.2,
        max_rt60: float = 0.8,
        min_direct_to_reverb_db: float = 0.0,
        max_direct_to_reverb_db: float = 15.0,
        p: float = 0.5,
    ):
        super().__init__(p)
        self.rt60 = (min_rt60, max_rt60)
        self.ratio_db = (min_direct_to_reverb_db, max_direct_to_reverb_db)

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int) -> None:
        super().randomize_parameters(samples, sample_rate)
        if self.parameters["should_apply"]:
            rt60, ratio = random.uniform(*self.rt60), random.uniform(*self.ratio_db)
            self.parameters["response"] = impulse_response(sample_rate, rt60, ratio)

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        wet = fftconvolve(samples, self.parameters["response"])[: len(samples)]
        peak, wet_peak = float(np.abs(samples).max()), float(np.abs(wet).max())
        scale = peak / wet_peak if wet_peak > 0 else 1.0
        return (wet * scale).astype(np.float32)

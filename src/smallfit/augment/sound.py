"""Augmenting sounds (audiomentations): background noise, level, timing, pitch and speed,
and a room's reverberation (augment.reverb), the ways two recordings of one word or event
differ, so that a head trained on a few
clips learns to ignore them (a new voice is mostly another pitch and pace)."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np

from smallfit.data.audio import AugmentedSound
from smallfit.data.identity import copy_seed
from smallfit.errors import SmallfitError

RATE = 16000  # copies are made at this rate; each encoder resamples them as it does files
# Each transform with probability 1/2, in the order of a recording: the source's pitch and
# pace, the room's echoes, then its timing, level and the room's noise. Changing a value
# changes RECIPE, so cached embeddings of the old copies are not reused.
STEPS = (
    ("PitchShift", dict(min_semitones=-3.0, max_semitones=3.0, p=0.5)),
    ("TimeStretch", dict(min_rate=0.85, max_rate=1.15, leave_length_unchanged=False, p=0.5)),
    ("SyntheticReverb", dict(min_rt60=0.2, max_rt60=0.8, p=0.5)),  # living room to hall
    ("Shift", dict(min_shift=-0.1, max_shift=0.1, shift_unit="seconds", rollover=False, p=0.5)),
    ("Gain", dict(min_gain_db=-12.0, max_gain_db=6.0, p=0.5)),
    ("AddColorNoise", dict(min_snr_db=0.0, max_snr_db=30.0, p=0.5)),
)
RECIPE = "audiomentations|" + hashlib.sha256(repr(STEPS).encode()).hexdigest()[:12]


@cache
def pipeline():
    try:
        import audiomentations

        from smallfit.augment.reverb import SyntheticReverb
    except ImportError as error:
        raise SmallfitError(
            'Sound augmentation needs the audio extra: pip install -e ".[audio]"'
        ) from error
    ours = {"SyntheticReverb": SyntheticReverb}
    return audiomentations.Compose(
        [(ours.get(n) or getattr(audiomentations, n))(**p) for n, p in STEPS]
    )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's and numpy's global random states set to `seed` inside the block (where
    audiomentations draws its parameters) and restored after it."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def augment(samples: np.ndarray, rate: int, seed: int) -> np.ndarray:
    """One augmented version of `samples`, drawn from `seed`."""
    with seeded(seed):
        return pipeline()(samples, sample_rate=rate)


def augmented_sounds(items: list[Any], copies: int, seed: int) -> list[AugmentedSound]:
    """`copies` augmented versions of each item, copy by copy (all first copies, then all
    second ones), each drawn by copy_seed."""
    return [
        AugmentedSound(item, copy_seed(seed, item, copy), augment, RECIPE, RATE)
        for copy in range(copies)
        for item in items
    ]


# SpecAugment (Park et al. 2019) for fine-tuning: bands of frequency and spans of time of
# the spectrogram set to silence, so the network cannot lean on any one of them. Written
# here because torchaudio, which has it, lags our torch on the registry; it is two slices.
SPEC_MASKS = {"light": 1, "medium": 2, "strong": 3}  # masks of each kind, per preset
WIDEST_BANDS, WIDEST_FRAMES = 12, 15  # of 96 mel bands (1/8) and of 100 frames (~0.35 s)


class SoundTraining:
    """Training views of clips for fine-tuning: the waveform augmented as copies are
    (STEPS, at RATE), then SpecAugment masks on its spectrogram. Every draw comes from
    torch's generator, so finetune's seed for each augmented copy makes it repeatable."""

    def __init__(self, preset: str):
        if preset not in SPEC_MASKS:
            raise SmallfitError(
                f"Unknown sound augmentation {preset!r}; choose from none, {', '.join(SPEC_MASKS)}."
            )
        self.masks = SPEC_MASKS[preset]

    def waveform(self, item: Any) -> AugmentedSound:
        """`item` with the waveform augmentation of a fresh draw, made when it is read."""
        return AugmentedSound(item, self._draw(2**62), augment, RECIPE, RATE)

    def spectrogram(self, frames: np.ndarray) -> np.ndarray:
        """A copy of `frames` (time, bands) with `masks` frequency and time masks."""
        masked = frames.copy()
        for _ in range(self.masks):
            width = self._draw(WIDEST_BANDS + 1)
            start = self._draw(masked.shape[1] - width + 1)
            masked[:, start : start + width] = 0.0
            width = self._draw(WIDEST_FRAMES + 1)
            start = self._draw(masked.shape[0] - width + 1)
            masked[start : start + width, :] = 0.0
        return masked

    @staticmethod
    def _draw(high: int) -> int:
        """An integer in [0, high) from torch's global generator."""
        import torch

        return int(torch.randint(0, max(high, 1), (1,)))

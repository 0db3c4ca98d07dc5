"""Augmenting sounds (audiomentations): background noise, level, timing, pitch and speed,
the ways two recordings of one word or event differ, so that a head trained on a few
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
from smallfit.data.identity import item_key
from smallfit.errors import SmallfitError

RATE = 16000  # copies are made at this rate; each encoder resamples them as it does files
# Each transform with probability 1/2, in the order of a recording: the source's pitch and
# pace, then its timing, level and the room's noise. Changing a value changes RECIPE, so
# cached embeddings of the old copies are not reused.
STEPS = (
    ("PitchShift", dict(min_semitones=-3.0, max_semitones=3.0, p=0.5)),
    ("TimeStretch", dict(min_rate=0.85, max_rate=1.15, leave_length_unchanged=False, p=0.5)),
    ("Shift", dict(min_shift=-0.1, max_shift=0.1, shift_unit="seconds", rollover=False, p=0.5)),
    ("Gain", dict(min_gain_db=-12.0, max_gain_db=6.0, p=0.5)),
    ("AddColorNoise", dict(min_snr_db=0.0, max_snr_db=30.0, p=0.5)),
)
RECIPE = "audiomentations|" + hashlib.sha256(repr(STEPS).encode()).hexdigest()[:12]


@cache
def pipeline():
    try:
        import audiomentations
    except ImportError as error:
        raise SmallfitError(
            'Sound augmentation needs the audio extra: pip install -e ".[audio]"'
        ) from error
    return audiomentations.Compose([getattr(audiomentations, n)(**p) for n, p in STEPS])


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
    second ones). Each draws from (seed, the item's content, the copy number), so an item
    gets the same copies in every fold, and each copy is made and embedded once."""
    result = []
    for copy in range(copies):
        for item in items:
            key = hashlib.sha256(f"{seed}|{item_key(item)}|{copy}".encode()).digest()
            draw = int.from_bytes(key[:8], "little")
            result.append(AugmentedSound(item, draw, augment, RECIPE, RATE))
    return result

"""Reading sounds: folder trees of audio files, decoded to mono float32 at the rate an
encoder wants, with errors that name the file and say what is wrong with it.

soundfile (libsndfile, bundled in its wheel) decodes WAV, FLAC, OGG and MP3 without
ffmpeg; it comes with the `audio` extra, so it is imported only when a sound is read.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from smallfit.errors import SmallfitError, list_some

SOUND_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3"}
# A longer file is read up to here: the embeddings pool over time, so a minute of sound
# says what the file holds while bounding memory and time per item.
MAX_SECONDS = 60.0
INSTALL_HINT = 'Sounds need the audio extra: pip install -e ".[audio]"'
# libsndfile decodes what a truncated file still holds and logs the data size its header
# promised; 0 and the all-ones values are placeholders of writers that stream (no promise)
PROMISED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
STREAMED_SIZES = {0, 0x7FFFFFFF, 0xFFFFFFFF}


@dataclass(frozen=True, eq=False)
class Sound:
    """A decoded sound held in memory (an upload, or samples given to the Python API):
    mono float32 samples in [-1, 1] at `rate` Hz."""

    samples: np.ndarray
    rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1 or samples.size == 0:
            raise SmallfitError("A sound must be a non-empty 1-D array of samples.")
        if not np.isfinite(samples).all():
            raise SmallfitError("A sound's samples must be finite numbers.")
        if not isinstance(self.rate, int | np.integer) or self.rate <= 0:
            raise SmallfitError(
                f"A sound's rate must be a positive integer (Hz), not {self.rate!r}."
            )
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "rate", int(self.rate))

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate


@dataclass(frozen=True, eq=False)
class AugmentedSound:
    """`source` changed by `recipe` (a function of samples, rate and seed, named by
    `recipe_id`) with random draws from `seed`. Its samples are made only when read, and it
    is identified by what it is made from, so an embedding cache finds it without making it."""

    source: Path | Sound
    seed: int
    recipe: Callable[[np.ndarray, int, int], np.ndarray]
    recipe_id: str
    rate: int = 16000  # the rate the recipe works at


def soundfile():
    """The soundfile module, or an error saying how to install it."""
    try:
        import soundfile as module
    except ImportError as error:
        raise SmallfitError(INSTALL_HINT) from error
    return module


def is_sound_path(path: Path) -> bool:
    return path.suffix.lower() in SOUND_EXTENSIONS and not path.name.startswith(".")


def find_sounds(root: Path) -> list[Path]:
    """All sound files under `root`, recursively, in sorted order (hidden files skipped)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and is_sound_path(p))


def decode(source: Path | bytes) -> Sound:
    """A file's (or an upload's bytes') sound, mixed down to mono, up to MAX_SECONDS;
    raises SmallfitError saying why it cannot be used."""
    sf = soundfile()
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with sf.SoundFile(handle) as file:
            wanted = min(file.frames, int(MAX_SECONDS * file.samplerate))
            samples = file.read(wanted, dtype="float32", always_2d=True)
            rate = file.samplerate
            promise = PROMISED.search(file.extra_info)
    except sf.LibsndfileError as error:
        raise SmallfitError(f"not a readable sound ({error.error_string})") from None
    except (RuntimeError, TypeError, ValueError) as error:  # e.g. an unsupported sample format
        raise SmallfitError(f"not a readable sound ({error})") from None
    if wanted == 0:
        raise SmallfitError("holds no samples")
    if len(samples) < wanted:
        raise SmallfitError(f"truncated: {len(samples)} of {wanted} samples could be read")
    if promise and int(promise[1]) not in STREAMED_SIZES and int(promise[1]) > int(promise[2]):
        raise SmallfitError(
            f"truncated: its header promises {promise[1]} bytes of sound, the file holds "
            f"{promise[2]}"
        )
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise SmallfitError("holds samples that are not finite numbers")
    return Sound(mono, rate)


def load_sound(item: Path | Sound | AugmentedSound, rate: int) -> np.ndarray:
    """`item`'s mono samples at `rate` Hz (float32)."""
    if isinstance(item, AugmentedSound):
        samples = item.recipe(load_sound(item.source, item.rate), item.rate, item.seed)
        return resample(np.asarray(samples, dtype=np.float32), item.rate, rate)
    sound = item if isinstance(item, Sound) else decode(item)
    return resample(sound.samples, sound.rate, rate)


def seconds_of(item: Path | Sound | AugmentedSound) -> float:
    """How long `item` plays, up to MAX_SECONDS (a file's header is read, not its samples);
    an augmented copy is as long as its source."""
    if isinstance(item, AugmentedSound):
        return seconds_of(item.source)
    if isinstance(item, Sound):
        return min(item.seconds, MAX_SECONDS)
    return min(soundfile().info(str(item)).duration, MAX_SECONDS)


def windows(item: Path | Sound, seconds: float) -> list[Sound]:
    """`item` cut into windows of `seconds`, each starting half a window after the one
    before, the last one ending where the sound ends (so no part is left out)."""
    sound = item if isinstance(item, Sound) else decode(item)
    size = max(1, round(seconds * sound.rate))
    last = max(0, sound.samples.size - size)
    starts = sorted({*range(0, last + 1, max(1, size // 2)), last})
    return [Sound(sound.samples[s : s + size], sound.rate) for s in starts]


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` from `rate` to `target` Hz by polyphase filtering (scipy), which keeps
    what lies below the lower of the two Nyquist frequencies and removes what would alias."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    common = gcd(rate, target)
    return resample_poly(samples, target // common, rate // common).astype(np.float32)


def check_readable(paths: list[Path]) -> list[str]:
    """Each path that cannot be used, with why ("path: truncated ..."); every file is
    decoded in full, because a truncated file often has an intact header. Files longer
    than MAX_SECONDS are used in part: a warning names them."""
    bad, long = [], []
    for path in paths:
        try:
            decode(path)
        except SmallfitError as error:
            bad.append(f"{path}: {error}")
            continue
        seconds = soundfile().info(str(path)).duration
        if seconds > MAX_SECONDS:
            long.append(f"{path} ({seconds:.0f} s)")
    if long:
        warnings.warn(
            f"{len(long)} sound file(s) are longer than {MAX_SECONDS:g} s; only their first "
            f"{MAX_SECONDS:g} s are read (cut a long recording into clips to use all of "
            f"it):\n{list_some(long)}",
            stacklevel=2,
        )
    return bad


def bad_sounds_error(bad: list[str], source: str) -> SmallfitError:
    return SmallfitError(
        f"{len(bad)} sound file(s) in {source} cannot be used:\n{list_some(bad)}\n"
        "Fix or remove them, or pass --skip-bad to leave them out."
    )

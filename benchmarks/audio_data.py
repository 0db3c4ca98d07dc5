#!/usr/bin/env python
"""Build two synthetic audio benchmark sets offline, deterministically from fixed seeds.

Usage::

    python benchmarks/audio_data.py [--dest benchmarks/data] [--only keywords sounds]

or, from another benchmark script, ``load("keywords")`` / ``load("sounds")``.

The machines this project runs on reach no audio data set, so both sets are made here:

1. ``keywords`` -- spoken keyword spotting in the style of Speech Commands: the classes
   yes, no, up, down, left, right, on, off, stop, go and ``background`` (coloured noise,
   near-silence, and other words). Words are spoken by ``espeak-ng`` (``apt-get install
   espeak-ng``) with random English accent, voice variant, speed and pitch, resampled
   to 16 kHz, trimmed, placed at a random offset in a 1.0 s clip and mixed with white,
   pink or brown noise at 5-30 dB SNR. The split is by speaker: the test voice variants
   never occur in the pool, so a model must generalise to new voices.
2. ``sounds`` -- eight families of procedural sound events (bark, siren, beeps, knock,
   rain, engine, chirp, bell) made with numpy, every clip with its own random
   parameters, 1-3 s long, half of them at 44.1 kHz and half at 22.05 kHz, mixed with
   coloured noise at 10-40 dB SNR.

Each set is written to ``DEST/<set>/{pool,test}/<class>/<class>_NNN.wav`` (60 pool and
40 test clips per class, mono 16-bit PCM) with ``metadata.csv`` (how every clip was
made) and ``README.md`` (how the set was made and its limits). Every clip draws its
parameters from ``numpy.random.default_rng((set, split, class, index))``; the split
number (pool 0, test 1) keeps the test seeds apart from the pool seeds. A set is
built in ``DEST/<set>.partial`` and renamed once its ``.complete`` marker is written,
so an interrupted run leaves nothing half-written and a finished set is skipped.
Clips are made by 2 worker threads (espeak-ng runs in its own process, so threads
overlap it, and unlike a process pool they need no ``__main__`` guard in a caller). On
the 2-core development machine the keywords set took 14 s and the sounds set 17 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
from scipy import signal

DATA = Path(__file__).resolve().parent / "data"
SETS = ("keywords", "sounds")
MARKER = ".complete"
SPLITS = {"pool": 60, "test": 40}  # clips per class
SPLIT_SEEDS = {"pool": 0, "test": 1}
WORKERS = 2
NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f**e
PEAK_DBFS = (-26.0, -1.0)  # random final peak level of a clip

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
OTHER_WORDS = [
    "house", "bird", "table", "seven", "happy", "water", "marvin", "tree", "wow", "cat",
    "dog", "bed", "three", "nine", "zero", "sheila", "follow", "forward", "learn", "visual",
]  # fmt: skip
BACKGROUND_KINDS = ("word", "word", "word", "noise", "noise", "silence")  # cycled by index
KEYWORD_SR = 16_000
KEYWORD_SNR_DB = (5.0, 30.0)
SPEED_WPM = (110, 220)
PITCH = (20, 80)
# English accents (espeak-ng's own voices, not mbrola ones, which need extra data files).
ACCENTS = [
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp",
    "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
]  # fmt: skip
# Speaker variants; a family of near-identical ones (klatt*, steph*) stays in one split.
POOL_VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt2", "klatt3",
    "croak", "whisper", "Alex", "Andy", "Annie", "aunty", "belinda", "benjamin", "caleb",
    "david", "john", "linda", "max", "paul", "quincy", "steph", "travis", "grandma",
]  # fmt: skip
TEST_VARIANTS = [
    "m6", "m7", "m8", "f4", "f5", "whisperf", "Alicia", "Andrea", "boris", "ed",
    "grandpa", "norbert", "rob", "victor", "Mike",
]  # fmt: skip

SOUND_RATES = (44_100, 22_050)  # even clip indices at the first, odd at the second
SOUND_SECONDS = (1.0, 3.0)
SOUND_SNR_DB = (10.0, 40.0)


class Job(NamedTuple):
    """One clip to make: everything a worker needs."""

    set_name: str
    split: str
    label: str
    class_index: int
    index: int
    path: Path
    voices: tuple[str, ...] = ()  # keywords only: the accent+variant voices of the split


# ----------------------------------------------------------------------------- shared


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def _noise(rng: np.random.Generator, n: int, sr: int, colour: str) -> np.ndarray:
    """Unit-RMS noise of a colour, shaped in the frequency domain (flat below 20 Hz)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
    x = np.fft.irfft(spectrum * freqs ** (-NOISE_EXPONENTS[colour] / 2), n)
    x -= x.mean()
    return x / _rms(x)


def _add_noise(
    rng: np.random.Generator, x: np.ndarray, sr: int, ref_rms: float, snr_range: tuple[float, float]
) -> tuple[np.ndarray, dict[str, object]]:
    """Mix in noise of random colour at a random SNR relative to ``ref_rms``."""
    colour = str(rng.choice(list(NOISE_EXPONENTS)))
    snr = float(rng.uniform(*snr_range))
    noisy = x + _noise(rng, len(x), sr, colour) * ref_rms * 10 ** (-snr / 20)
    return noisy, {"noise": colour, "snr_db": round(snr, 2)}


def _to_peak(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale to a random peak level (the gain), so loudness is no class cue."""
    peak = float(rng.uniform(*PEAK_DBFS))
    return x * (10 ** (peak / 20) / np.abs(x).max()), round(peak, 2)


def _write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    sf.write(path, pcm, sr, subtype="PCM_16")


# ----------------------------------------------------------------------------- keywords


def _espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError(
            "espeak-ng not found on PATH; install it with `apt-get install espeak-ng`"
        )
    return path


def _espeak(word: str, voice: str, speed: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak a word; raise if espeak-ng fails, complains, or returns no audio."""
    cmd = [_espeak_binary(), "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), word]
    proc = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    stderr = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0 or stderr or len(proc.stdout) <= 44:
        raise RuntimeError(f"espeak-ng failed (exit {proc.returncode}): {' '.join(cmd)}\n{stderr}")
    x, sr = sf.read(io.BytesIO(proc.stdout), dtype="float64")
    return x, sr


def _usable_voices() -> tuple[list[str], list[str], list[str], list[str]]:
    """(accents, pool variants, test variants, dropped) that this espeak-ng speaks.

    espeak-ng silently ignores an unknown variant, so variants must also be listed.
    """
    listing = subprocess.run(
        [_espeak_binary(), "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    listed = set(re.findall(r"!v/(\S+)", listing))
    dropped: list[str] = []

    def speaks(voice: str) -> bool:
        variant = voice.partition("+")[2]
        try:
            ok = (not variant or variant in listed) and len(_espeak("yes", voice)[0]) > 0
        except RuntimeError:
            ok = False
        if not ok:
            dropped.append(voice)
        return ok

    accents = [a for a in ACCENTS if speaks(a)]
    if not accents:
        raise RuntimeError("espeak-ng speaks none of the English voices " + ", ".join(ACCENTS))
    pool = [v for v in POOL_VARIANTS if speaks(f"{accents[0]}+{v}")]
    test = [v for v in TEST_VARIANTS if speaks(f"{accents[0]}+{v}")]
    return accents, pool, test, dropped


def _trim(x: np.ndarray, frame: int = 160, top_db: float = 40.0) -> np.ndarray:
    """Cut leading and trailing 10 ms frames more than ``top_db`` below the loudest."""
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-top_db / 20))
    return x[loud[0] * frame : (loud[-1] + 1) * frame]


def _spoken_clip(
    rng: np.random.Generator, word: str, voices: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, object]]:
    """A word by a random voice at a random speed, pitch and offset, with noise."""
    voice = str(rng.choice(voices))
    speed = int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1))
    pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
    speech, sr = _espeak(word, voice, speed, pitch)
    g = math.gcd(KEYWORD_SR, sr)
    speech = _trim(signal.resample_poly(speech, KEYWORD_SR // g, sr // g))[:KEYWORD_SR]
    offset = int(rng.integers(0, KEYWORD_SR - len(speech) + 1))
    clip = np.zeros(KEYWORD_SR)
    clip[offset : offset + len(speech)] = speech
    clip, noise = _add_noise(rng, clip, KEYWORD_SR, _rms(speech), KEYWORD_SNR_DB)
    accent, _, variant = voice.partition("+")
    meta = {"word": word, "accent": accent, "variant": variant, "speed_wpm": speed}
    timing = {"offset_s": offset / KEYWORD_SR, "word_s": len(speech) / KEYWORD_SR}
    return clip, meta | {"pitch": pitch} | timing | noise


def _keyword_clip(job: Job) -> tuple[np.ndarray, int, dict[str, object]]:
    """A keyword clip; ``background`` holds other words, noise and near-silence."""
    rng = np.random.default_rng((1, SPLIT_SEEDS[job.split], job.class_index, job.index))
    kind = (
        "keyword"
        if job.label != "background"
        else BACKGROUND_KINDS[job.index % len(BACKGROUND_KINDS)]
    )
    meta: dict[str, object] = {"kind": kind}
    if kind == "silence":  # a few LSB of hiss, kept at its level
        colour = str(rng.choice(["white", "pink"]))
        level = float(rng.uniform(-80.0, -60.0))
        clip = _noise(rng, KEYWORD_SR, KEYWORD_SR, colour) * 10 ** (level / 20)
        return clip, KEYWORD_SR, meta | {"noise": colour, "rms_dbfs": round(level, 2)}
    if kind == "noise":
        colour = str(rng.choice(list(NOISE_EXPONENTS)))
        clip = _noise(rng, KEYWORD_SR, KEYWORD_SR, colour)
        meta |= {"noise": colour}
    else:
        word = job.label if kind == "keyword" else str(rng.choice(OTHER_WORDS))
        clip, spoken = _spoken_clip(rng, word, job.voices)
        meta |= spoken
    clip, peak = _to_peak(rng, clip)
    return clip, KEYWORD_SR, meta | {"peak_dbfs": peak}


# ----------------------------------------------------------------------------- sounds

MAX_HZ = 9_000.0  # below both Nyquist limits, so a family sounds the same at either rate
BELL_RATIOS = (0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.66, 3.0, 4.2, 5.4)  # church-bell partials
GLASS_RATIOS = (1.0, 2.76, 5.40, 8.93)  # a struck free bar or glass


def _times(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event`` into ``out`` from sample ``start``, cut at the end of ``out``."""
    m = max(0, min(len(event), len(out) - start))
    out[start : start + m] += event[:m]


def _fade(x: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    m = min(int(seconds * sr), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, m)
    x[:m] *= ramp
    x[len(x) - m :] *= ramp[::-1]
    return x


def _lowpass(rng: np.random.Generator, n: int, sr: int, hz: float) -> np.ndarray:
    return signal.sosfilt(
        signal.butter(2, hz, "lowpass", fs=sr, output="sos"), rng.standard_normal(n)
    )


def _bark(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-4 harmonic bursts with a falling pitch, shaped by two formant peaks, plus breath."""
    out = np.zeros(n)
    f0 = rng.uniform(250, 750)
    formants = rng.uniform(400, 900), rng.uniform(1100, 2600)
    widths = rng.uniform(150, 400), rng.uniform(300, 800)
    hiss_band = signal.butter(
        2, [formants[1] * 0.7, formants[1] * 1.4], "bandpass", fs=sr, output="sos"
    )
    breath = rng.uniform(0.05, 0.4)
    start = rng.uniform(0, 0.3)
    for _ in range(rng.integers(1, 5)):
        dur = rng.uniform(0.08, 0.25)
        t = _times(int(dur * sr), sr)
        f = f0 * rng.uniform(0.9, 1.1) * (1 + rng.uniform(0.1, 0.6) * np.exp(-t / (dur / 3)))
        phase = 2 * np.pi * np.cumsum(f) / sr
        burst = np.zeros_like(t)
        for k in range(1, min(20, int(MAX_HZ / f.max())) + 1):
            weight = sum(
                np.exp(-(((k * f - c) / w) ** 2)) for c, w in zip(formants, widths, strict=True)
            )
            burst += (weight + 0.05) * np.sin(k * phase)
        hiss = signal.sosfilt(hiss_band, rng.standard_normal(len(t)))
        burst = burst / np.abs(burst).max() + breath * hiss / np.abs(hiss).max()
        attack, decay = rng.uniform(0.005, 0.015), dur * rng.uniform(0.25, 0.5)
        envelope = (1 - np.exp(-t / attack)) * np.exp(-t / decay)
        burst = _fade(envelope * burst, sr, 0.01)
        _add_at(out, rng.uniform(0.6, 1.0) * burst, int(start * sr))
        start += dur + rng.uniform(0.08, 0.4)
    return out


def _siren(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A tone swept slowly up and down (sine, triangle or saw wail), with 1-4 harmonics."""
    t = _times(n, sr)
    centre = rng.uniform(500, 1400)
    arg = 2 * np.pi * rng.uniform(0.15, 3.0) * t + rng.uniform(0, 2 * np.pi)
    shape = rng.integers(3)
    lfo = np.sin(arg) if shape == 0 else signal.sawtooth(arg, 0.5 if shape == 1 else 0.95)
    phase = 2 * np.pi * np.cumsum(centre * (1 + rng.uniform(0.15, 0.5) * lfo)) / sr
    tilt = rng.uniform(1, 2)
    tone = sum(np.sin(k * phase) / k**tilt for k in range(1, rng.integers(1, 5) + 1))
    return _fade(tone, sr, rng.uniform(0.02, 0.3))


def _beeps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """2-12 pulses of one or two alternating pitches, sine or square-ish, evenly spaced."""
    out = np.zeros(n)
    freqs = [rng.uniform(800, 4000)]
    if rng.random() < 0.5:
        freqs.append(freqs[0] * rng.uniform(0.65, 0.9))
    period = rng.uniform(0.12, 0.6)
    t = _times(int(period * rng.uniform(0.2, 0.7) * sr), sr)
    odd_harmonics = [1] if rng.random() < 0.5 else [1, 3, 5, 7]
    start = rng.uniform(0, 0.3)
    for i in range(rng.integers(2, 13)):
        f = freqs[i % len(freqs)]
        pulse = sum(np.sin(2 * np.pi * h * f * t) / h for h in odd_harmonics if h * f < MAX_HZ)
        _add_at(out, _fade(pulse, sr, 0.003), int((start + i * period) * sr))
    return out


def _knock(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """2-6 low decaying thumps with a short click, in an uneven rhythm."""
    out = np.zeros(n)
    f, decay, click = rng.uniform(60, 220), rng.uniform(0.02, 0.08), rng.uniform(0.2, 0.8)
    click_hz = rng.uniform(800, 4000)
    t = _times(int(6 * decay * sr), sr)
    gap = rng.uniform(0.12, 0.35)
    start = rng.uniform(0, 0.3)
    for _ in range(rng.integers(2, 7)):
        thump = np.sin(2 * np.pi * f * rng.uniform(0.9, 1.1) * t) * np.exp(-t / decay)
        thump += click * _lowpass(rng, len(t), sr, click_hz) * np.exp(-t / 0.004)
        _add_at(out, rng.uniform(0.6, 1.0) * thump, int(start * sr))
        start += gap * rng.uniform(0.8, 1.2) * (2 if rng.random() < 0.2 else 1)
    return out


def _rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Band-passed noise with 40-400 tiny resonant drops a second, slowly swelling."""
    t = _times(n, sr)
    band = [rng.uniform(300, 1500), rng.uniform(3000, MAX_HZ)]
    bed = signal.sosfilt(
        signal.butter(2, band, "bandpass", fs=sr, output="sos"), rng.standard_normal(n)
    )
    drops = np.zeros(n)
    rate = rng.uniform(40, 400) / 6  # drops per second for each of 6 drop resonances
    tk = _times(int(0.01 * sr), sr)
    for f in rng.uniform(1500, 7000, size=6):
        hits = np.zeros(n)
        count = rng.poisson(rate * n / sr)
        hits[rng.integers(0, n, count)] = rng.lognormal(0.0, 0.7, count)
        kernel = np.sin(2 * np.pi * f * tk) * np.exp(-tk / rng.uniform(0.0005, 0.003))
        drops += signal.fftconvolve(hits, kernel)[:n]
    swell = 1 + rng.uniform(0, 0.4) * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
    mix = rng.uniform(0.2, 1.0) * bed / _rms(bed) + rng.uniform(2, 6) * drops
    return _fade(swell * mix, sr, 0.05)


def _engine(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """7-25 harmonics of a 25-90 Hz drifting tone, wobbling in amplitude, plus rumble."""
    t = _times(n, sr)
    drift = rng.uniform(0, 0.08) * np.sin(
        2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 6)
    )
    phase = 2 * np.pi * np.cumsum(rng.uniform(25, 90) * (1 + drift)) / sr
    tilt = rng.uniform(0.5, 1.5)
    tone = sum(
        rng.uniform(0.3, 1.0) * k**-tilt * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        for k in range(1, rng.integers(8, 26))
    )
    wobble = 1 + rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * rng.uniform(2, 10) * t)
    rumble = _lowpass(rng, n, sr, rng.uniform(300, 1000))
    mix = wobble * tone / _rms(tone) + rng.uniform(0.05, 0.3) * rumble / _rms(rumble)
    return _fade(mix, sr, rng.uniform(0.05, 0.3))


def _chirp(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-6 fast whistled sweeps, all rising or all falling in log frequency."""
    out = np.zeros(n)
    low = rng.uniform(1000, 3000)
    high = min(low * rng.uniform(1.5, 3.5), MAX_HZ)
    a, b = (low, high) if rng.random() < 0.5 else (high, low)
    second = rng.uniform(0, 0.3) if 2 * high < MAX_HZ else 0.0  # a weak 2nd harmonic
    start = rng.uniform(0, 0.3)
    for _ in range(rng.integers(1, 7)):
        dur = rng.uniform(0.04, 0.3)
        t = _times(int(dur * sr), sr)
        phase = 2 * np.pi * np.cumsum(a * (b / a) ** (t / dur)) / sr
        envelope = np.sin(np.pi * t / dur) ** rng.uniform(0.5, 2)
        _add_at(out, envelope * (np.sin(phase) + second * np.sin(2 * phase)), int(start * sr))
        start += dur + rng.uniform(0.03, 0.3)
    return out


def _bell(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-3 strikes of inharmonic partials that decay, the higher ones faster (bell or glass)."""
    t = _times(n, sr)
    if rng.random() < 0.5:
        f0, ratios = rng.uniform(800, 2500), np.array(GLASS_RATIOS)
    else:
        f0, ratios = rng.uniform(200, 900), rng.choice(BELL_RATIOS, rng.integers(4, 9), False)
    freqs = f0 * ratios * (1 + rng.normal(0, 0.02, len(ratios)))
    ring = rng.uniform(0.3, 2.5)
    note = sum(
        rng.uniform(0.2, 1.0)
        * np.exp(-t / (ring * (f0 / f) ** rng.uniform(0.5, 1.0)))
        * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for f in freqs[freqs < MAX_HZ]
    ) * (1 - np.exp(-t / 0.001))
    out = np.zeros(n)
    start = rng.uniform(0, 0.3)
    for _ in range(rng.integers(1, 4)):
        _add_at(out, rng.uniform(0.5, 1.0) * note, int(start * sr))
        start += rng.uniform(0.2, 1.0)
    return out


SOUND_CLASSES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "dog_bark": _bark,
    "siren": _siren,
    "beeps": _beeps,
    "knock": _knock,
    "rain": _rain,
    "engine": _engine,
    "chirp": _chirp,
    "bell": _bell,
}


def _sound_clip(job: Job) -> tuple[np.ndarray, int, dict[str, object]]:
    """A sound event of a random length with noise; even indices at 44.1 kHz, odd at 22.05."""
    rng = np.random.default_rng((2, SPLIT_SEEDS[job.split], job.class_index, job.index))
    sr = SOUND_RATES[job.index % 2]
    clip = SOUND_CLASSES[job.label](rng, int(rng.uniform(*SOUND_SECONDS) * sr), sr)
    clip, noise = _add_noise(rng, clip, sr, _rms(clip), SOUND_SNR_DB)
    clip, peak = _to_peak(rng, clip)
    meta = {"sample_rate": sr, "duration_s": round(len(clip) / sr, 4)}
    return clip, sr, meta | noise | {"peak_dbfs": peak}


# ----------------------------------------------------------------------------- readmes


def _keywords_readme(
    accents: list[str], pool: list[str], test: list[str], dropped: list[str]
) -> str:
    version = (
        subprocess.run([_espeak_binary(), "--version"], capture_output=True, text=True, check=True)
        .stdout.split("Data at")[0]
        .strip()
    )
    kinds = {
        split: Counter(BACKGROUND_KINDS[i % len(BACKGROUND_KINDS)] for i in range(n))
        for split, n in SPLITS.items()
    }
    background = "; ".join(
        f"{split}: {c['word']} words, {c['noise']} noise, {c['silence']} near-silence"
        for split, c in kinds.items()
    )
    return f"""\
# keywords: synthetic spoken keyword spotting

Made offline by `benchmarks/audio_data.py` from fixed seeds (to rebuild, delete this
folder and run `python benchmarks/audio_data.py --only keywords`). **Synthetic**: every
word is spoken by the espeak-ng formant synthesiser ({version}), not by a person.

## Contents

- {len(KEYWORDS) + 1} classes: {", ".join(KEYWORDS)}, background.
- `pool/<class>/`: {SPLITS["pool"]} clips per class (to train on); `test/<class>/`:
  {SPLITS["test"]} clips per class (to evaluate on).
- Every clip: 16 kHz mono 16-bit PCM WAV, exactly 1.0 s (16000 samples).
- `background`, cycled by clip index: 3 in 6 are other words ({", ".join(OTHER_WORDS)})
  said by the same voices, 2 in 6 are white, pink or brown noise only, 1 in 6 is
  near-silence (white or pink hiss at -80 to -60 dBFS RMS); {background}.
- `metadata.csv`: one row per clip: word, accent, variant, speed, pitch, offset and
  length of the word, noise colour, SNR and peak level.

## How a word clip is made

1. espeak-ng speaks the word with voice `ACCENT+VARIANT`, speed {SPEED_WPM[0]}-{SPEED_WPM[1]}
   words per minute and pitch {PITCH[0]}-{PITCH[1]}, all drawn at random.
2. The audio is resampled from espeak-ng's 22.05 kHz to 16 kHz (scipy `resample_poly`), its leading
   and trailing 10 ms frames more than 40 dB below the loudest frame are cut, and it is
   cut to 1.0 s if longer.
3. It is placed at a random offset in 1.0 s of silence.
4. White, pink or brown noise (random colour, made with numpy) is added over the whole
   second at an SNR of {KEYWORD_SNR_DB[0]:g}-{KEYWORD_SNR_DB[1]:g} dB relative to the RMS of
   the trimmed word.
5. The clip is scaled to a random peak level of {PEAK_DBFS[0]:g} to {PEAK_DBFS[1]:g} dBFS.

## Split by voice

A voice is an accent plus a speaker variant. The test variants never occur in the pool,
so every test voice is new to a model trained on the pool.

- Accents (both splits): {", ".join(accents)}
- Pool variants: {", ".join(pool)}
- Test variants: {", ".join(test)}
- Skipped because this espeak-ng did not speak them: {", ".join(dropped) or "none"}

## Limits

- espeak-ng formant speech is far from natural voices: a buzzy, robotic timbre, the same
  pronunciation rules for every speaker, no hesitations or breathing, no room echo or
  microphone colouring. Accuracy here says little about accuracy on real recordings.
- Variants change pitch, formant scaling and voicing, not articulation; accents change
  the phonemes of some words only.
- The noise is stationary and synthetic; real backgrounds (babble, music, traffic) are
  absent.
- Small: {SPLITS["pool"]} + {SPLITS["test"]} clips per class.
"""


def _sounds_readme() -> str:
    families = "\n".join(f"- `{label}`: {fn.__doc__}" for label, fn in SOUND_CLASSES.items())
    return f"""\
# sounds: procedural sound events

Made offline by `benchmarks/audio_data.py` from fixed seeds (to rebuild, delete this
folder and run `python benchmarks/audio_data.py --only sounds`). **Procedural**: every
clip is computed with numpy and scipy; none is a recording.

## Contents

- `pool/<class>/`: {SPLITS["pool"]} clips per class (to train on); `test/<class>/`:
  {SPLITS["test"]} clips per class, drawn from other random seeds.
- Mono 16-bit PCM WAV, {SOUND_SECONDS[0]:g}-{SOUND_SECONDS[1]:g} s long (random); clips with an
  even index are at {SOUND_RATES[0]} Hz, odd ones at {SOUND_RATES[1]} Hz, so a reader must
  resample.
- `metadata.csv`: one row per clip: sample rate, duration, noise colour, SNR and peak level.

## Classes

Every clip draws its own parameters (pitches, rates, decay times, counts, timing), so a
class is a family of sounds, not a template. All content is below {MAX_HZ:g} Hz.

{families}

White, pink or brown noise is added at an SNR of {SOUND_SNR_DB[0]:g}-{SOUND_SNR_DB[1]:g} dB
relative to the RMS of the whole clip (so a short event stands out more than that), and
the clip is scaled to a random peak level of {PEAK_DBFS[0]:g} to {PEAK_DBFS[1]:g} dBFS.

## Limits

- Procedural, not real recordings: each family is a simple model of its sound (a bark
  is harmonic bursts with formant peaks, rain is noise plus resonant clicks), cleaner
  and more regular than the real thing, with no room acoustics or overlapping sources.
- The families were designed to be told apart, so accuracy here is an easy sanity
  check, not an estimate for real sound event recognition.
- Small: {SPLITS["pool"]} + {SPLITS["test"]} clips per class.
"""


# ----------------------------------------------------------------------------- build


def _make_clip(job: Job) -> dict[str, object]:
    """Worker: make one clip, write it, return its metadata row."""
    clip, sr, meta = (_keyword_clip if job.set_name == "keywords" else _sound_clip)(job)
    _write_wav(job.path, clip, sr)
    file = f"{job.split}/{job.label}/{job.path.name}"
    return {"file": file, "split": job.split, "label": job.label} | meta


def build(name: str, dest: Path = DATA) -> Path:
    """Make set ``name`` in ``dest/name`` unless it is complete there; return that folder."""
    root = dest / name
    if (root / MARKER).exists():
        print(f"{name}: complete in {root}, skipped", flush=True)
        return root
    start = time.perf_counter()
    if name == "keywords":
        accents, pool_variants, test_variants, dropped = _usable_voices()
        for voice in dropped:
            print(f"{name}: espeak-ng cannot speak {voice}; skipped", flush=True)
        voices = {
            split: tuple(f"{a}+{v}" for a in accents for v in variants)
            for split, variants in (("pool", pool_variants), ("test", test_variants))
        }
        classes = [*KEYWORDS, "background"]
        readme = _keywords_readme(accents, pool_variants, test_variants, dropped)
    elif name == "sounds":
        voices = {split: () for split in SPLITS}
        classes = list(SOUND_CLASSES)
        readme = _sounds_readme()
    else:
        raise ValueError(f"unknown audio set {name!r}; choose from {', '.join(SETS)}")
    partial = dest / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    jobs = []
    for split, per_class in SPLITS.items():
        for c, label in enumerate(classes):
            folder = partial / split / label
            folder.mkdir(parents=True)
            jobs += [
                Job(name, split, label, c, i, folder / f"{label}_{i:03d}.wav", voices[split])
                for i in range(per_class)
            ]
    rows = []
    done: Counter[tuple[str, str]] = Counter()
    pool = ThreadPoolExecutor(WORKERS)
    try:
        for row in pool.map(_make_clip, jobs):
            rows.append(row)
            key = (row["split"], row["label"])
            done[key] += 1
            if done[key] == SPLITS[key[0]]:
                print(f"{name}/{key[0]}/{key[1]}: {done[key]} clips", flush=True)
    finally:  # on an error or Ctrl-C, drop the clips not started yet
        pool.shutdown(cancel_futures=True)
    with open(partial / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    (partial / "README.md").write_text(readme)
    (partial / MARKER).write_text("")
    shutil.rmtree(root, ignore_errors=True)  # a folder without the marker is unfinished
    partial.rename(root)
    print(f"{name}: {len(rows)} clips in {time.perf_counter() - start:.0f} s -> {root}", flush=True)
    return root


def load(name: str, dest: Path = DATA) -> tuple[list[Path], np.ndarray, list[Path], np.ndarray]:
    """(pool paths, pool labels (object array of class names), test paths, test labels),
    sorted by path; builds the set first if missing."""
    root = build(name, dest) if not (dest / name / MARKER).exists() else dest / name
    pool_paths, test_paths = (sorted((root / split).glob("*/*.wav")) for split in SPLITS)
    return (
        pool_paths,
        np.array([p.parent.name for p in pool_paths], dtype=object),
        test_paths,
        np.array([p.parent.name for p in test_paths], dtype=object),
    )


def speakers(name: str, paths: list[Path], dest: Path = DATA) -> np.ndarray | None:
    """Each clip's speaker, for grouped cross-validation: its espeak-ng voice variant
    (the speaker; the test split's variants are new), or the file itself for a clip
    without a voice (noise only). None for a set without speakers (sounds)."""
    if name != "keywords":
        return None
    import pandas as pd

    table = pd.read_csv(dest / name / "metadata.csv").set_index("file")
    root = dest / name
    variants = table["variant"].to_dict()
    out = []
    for path in paths:
        key = str(Path(path).relative_to(root))
        variant = variants.get(key)
        out.append(f"voice {variant}" if isinstance(variant, str) else f"clip {key}")
    return np.array(out, dtype=object)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dest", type=Path, default=DATA, help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=SETS, default=list(SETS), help="build only these sets"
    )
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.only:
            build(name, args.dest)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

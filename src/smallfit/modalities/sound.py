"""Sounds: audio files (WAV, FLAC, OGG, MP3) in class folders, or decoded samples."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smallfit.data import Dataset
from smallfit.data.audio import (
    Sound,
    bad_sounds_error,
    check_readable,
    decode,
    find_sounds,
    is_sound_path,
    seconds_of,
    windows,
)
from smallfit.errors import SmallfitError
from smallfit.modalities.base import BadUpload, Modality, RawFeatures
from smallfit.modalities.files import (
    copy_labeled,
    existing_files,
    labeled_folder,
    unlabeled_folder,
)

SILENT_PEAK = 10 ** (-60 / 20)  # -60 dBFS: nothing above the noise of a quiet room
FULL_SCALE = 0.999  # |sample| at or above: at the converter's limit (16-bit: 32735 of 32767)
CLIPPED_SHARE = 0.001  # more samples than this at full scale: the waveform was cut off
WAVEFORM_BARS = 64  # bars in a shown waveform's outline
# a sound over this many training clips long is predicted window by window: a model that
# learned from clips of a word or an event recognises one in a window of that length
WINDOWED_AFTER = 2
PLAYABLE_BYTES = 400_000  # a shown example larger than this gets its name, not a player
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
}


def waveform_svg(peaks: str) -> str:
    """An inline SVG of a waveform's outline from its snippet (comma-separated 0-99)."""
    if not peaks:
        return ""
    values = [int(v) for v in peaks.split(",")]
    bars = "".join(
        f'<rect x="{2 * i}" y="{50 - max(v, 1) / 2:.1f}" width="1.5" height="{max(v, 1)}"/>'
        for i, v in enumerate(values)
    )
    return (
        f'<svg class=wave viewBox="0 0 {2 * len(values)} 100" width="{2 * len(values)}" '
        f'height="32" role="img" aria-label="waveform" fill="#2563eb">{bars}</svg>'
    )


def player(path: Path) -> str:
    """An <audio> player carrying the file (the report is one file), or nothing when the
    file is gone or larger than PLAYABLE_BYTES."""
    if not isinstance(path, Path) or not path.is_file() or path.stat().st_size > PLAYABLE_BYTES:
        return ""
    kind = AUDIO_TYPES.get(path.suffix.lower(), "audio/wav")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<audio controls preload=none src="data:{kind};base64,{data}"></audio>'


def window_seconds(schema: dict[str, Any]) -> float:
    """The window a long sound is cut into: a training clip's length, at least the
    length every encoder pads a clip to."""
    from smallfit.backbones.audio import MIN_SECONDS

    return max(float(schema["clip_seconds"]), MIN_SECONDS)


class MfccStatistics(RawFeatures):
    """MFCCs and their changes over time, each summarised over the clip (the `mfcc`
    encoder), standardised: the audio version of "no transfer"."""

    backbone = "mfcc"
    scale = True
    dense = True

    def transform(self, items: list[Any]) -> np.ndarray:
        from smallfit import backbones

        return backbones.create(self.backbone).embed(items)


class SoundModality(Modality):
    name = "sound"
    plural = "sounds"
    python_items = "paths of audio files (WAV, FLAC, OGG, MP3) or smallfit Sound objects"
    # Spoken words are the commoner small-data task (keyword spotting); the sound-event
    # encoder joins every comparison anyway (candidate_backbones)
    default_backbone = "speech_embedding"
    candidate_backbones = ("speech_embedding", "aisfx")
    # pretrained embeddings of two kinds (probe, prototype on each encoder) and MFCC
    # statistics (classic): speech and sound-event encoders each fail on the other's data.
    # A probe also trained on augmented copies is a view that has heard other pitches,
    # paces, rooms and noise: a new voice differs from the training ones in just those ways
    candidates = (("probe", {}), ("probe", {"copies": 2}), ("prototype", {}), ("classic", {}))
    # candidates="full": fine-tuning the sound-event encoder (the speech one is ONNX, not
    # trainable here), its clips augmented and masked (SpecAugment)
    full_candidates = (("finetune", {}),)
    strategy_defaults = {"finetune": {"augment": "light"}}
    examples_per_class = 2
    background_advice = (
        "no class holds background sounds (none is named background, noise, silence, "
        "unknown or other): a model of keywords alone calls every sound one of them. If it "
        "will hear other words, noise or silence, add a folder of them with --background DIR"
    )
    upload_files = True
    upload_description = "sound files (WAV, FLAC, OGG, MP3)"

    def claims(self, item: Any) -> bool:
        if isinstance(item, Sound):
            return True
        if isinstance(item, Path):
            return is_sound_path(item)
        if isinstance(item, str) and len(item) < 4096:
            return is_sound_path(Path(item)) and Path(item).is_file()
        return False

    def from_items(self, items: list[Any]) -> tuple[list[Any], list[str]]:
        items = [Path(i) if isinstance(i, str) else i for i in items]
        names = [str(i) if isinstance(i, Path) else f"item {k}" for k, i in enumerate(items)]
        bad = check_readable([i for i in items if isinstance(i, Path)])
        if bad:
            raise bad_sounds_error(bad, "the given items")
        return items, names

    def read_path(self, path: Path, labeled: bool) -> Dataset | None:
        if path.is_dir():
            if labeled:
                return labeled_folder(path, find_sounds, self.name, self.plural, "*.wav")
            return unlabeled_folder(path, find_sounds, self.name, self.plural)
        if not is_sound_path(path):
            return None
        if labeled:
            raise SmallfitError(
                f"{path} is a single sound; labeled sounds come as a folder root/<class>/*.wav."
            )
        return Dataset(items=[path], modality=self.name, names=[str(path)], source=str(path))

    def finds(self, folder: Path) -> bool:
        return any(find_sounds(folder))

    def input_schema(self, dataset: Dataset) -> dict[str, Any] | None:
        """The training clips' median length: later sounds far longer are windowed."""
        lengths = [seconds_of(item) for item in dataset.items]
        return {"clip_seconds": round(float(np.median(lengths)), 3)} if lengths else None

    def describe_input(self, schema: dict[str, Any]) -> str:
        length = window_seconds(schema)
        return (
            f"Training clips: {schema['clip_seconds']:g} s (the median). A sound over "
            f"{WINDOWED_AFTER * length:g} s is cut into {length:g} s windows, half "
            "overlapping; its prediction is the mean over the windows that the model does "
            "not call background."
        )

    def windows(self, items: list[Any], schema: dict[str, Any] | None) -> list[list[Any]] | None:
        if not schema or "clip_seconds" not in schema:
            return None  # a model saved before windows were used
        length = window_seconds(schema)
        long = [seconds_of(item) > WINDOWED_AFTER * length for item in items]
        if not any(long):
            return None
        return [
            windows(item, length) if cut else [item] for item, cut in zip(items, long, strict=True)
        ]

    def drop_unreadable(self, dataset: Dataset, skip_bad: bool) -> Dataset:
        bad = check_readable([i for i in dataset.items if isinstance(i, Path)])
        if not bad:
            return dataset
        if not skip_bad:
            raise bad_sounds_error(bad, dataset.source)
        unusable = {entry.rsplit(": ", 1)[0] for entry in bad}
        keep = [i for i, item in enumerate(dataset.items) if str(item) not in unusable]
        if not keep:
            raise bad_sounds_error(bad, dataset.source)
        import warnings

        warnings.warn(f"Skipping {len(bad)} unusable sound(s) in {dataset.source}.", stacklevel=3)
        return dataset.subset(keep)

    def faulty_items(self, dataset: Dataset) -> list[tuple[int, str, float]]:
        """Silent sounds (peak below SILENT_PEAK) and clipped ones (over CLIPPED_SHARE of
        their samples at full scale, where the waveform was cut off)."""
        found = []
        for index, item in enumerate(dataset.items):
            samples = item.samples if isinstance(item, Sound) else decode(item).samples
            peak = float(np.abs(samples).max())
            clipped = float(np.mean(np.abs(samples) >= FULL_SCALE))
            if peak < SILENT_PEAK:
                found.append(
                    (index, f"silent (peak {20 * np.log10(max(peak, 1e-9)):.0f} dBFS)", 1.0)
                )
            elif clipped > CLIPPED_SHARE:
                found.append(
                    (
                        index,
                        f"clipped ({clipped:.1%} of its samples at full scale)",
                        min(1.0, 10 * clipped),
                    )
                )
        return found

    def raw_features(self) -> MfccStatistics:
        return MfccStatistics()

    def answer_items(self, values: list[str], rows: list[int], answers: Path) -> list[Any]:
        return existing_files(values, rows, answers, "sound")

    def write_labeled(
        self,
        data: Path,
        into: Path,
        items: list[Any],
        labels: list[Any],
        *,
        text_column: str | None,
        label_column: str | None,
    ) -> None:
        copy_labeled(data, into, items, labels)

    def snippet(self, item: Any) -> dict[str, str]:
        """The waveform's outline (WAVEFORM_BARS peaks, 0-99), kept in model.json so the
        report draws it even when the file has moved."""
        try:
            samples = item.samples if isinstance(item, Sound) else decode(item).samples
        except SmallfitError:
            return {}
        bars = np.array_split(np.abs(samples), min(WAVEFORM_BARS, samples.size))
        peaks = np.array([b.max() for b in bars])
        scaled = np.round(99 * peaks / max(float(peaks.max()), 1e-9)).astype(int)
        return {"waveform": ",".join(map(str, scaled))}

    def example_html(self, entry: dict, esc) -> str:
        """The waveform's outline and a player for the file, carried inside the report
        (one file); its name alone when the file is gone or too large to carry."""
        name = entry.get("item", "")
        path = Path(name)
        shown = f"<code>{esc(path.name)}</code>" + waveform_svg(entry.get("waveform", ""))
        return f'<span title="{esc(name)}">{shown}{player(path)}</span>'

    def item_html(self, item: Any, name: str, esc) -> str:
        outline = waveform_svg(self.snippet(item).get("waveform", ""))
        return f"<p>{outline}{player(item) if isinstance(item, Path) else ''}</p>"

    def augmented(self, items: list[Any], copies: int, seed: int) -> list[Any]:
        from smallfit.augment.sound import augmented_sounds

        return augmented_sounds(items, copies, seed)

    def short_name(self, name: str) -> str:
        return Path(name).name

    def decode_file(self, data: bytes, name: str) -> Sound:
        try:
            return decode(data)
        except SmallfitError as error:
            raise BadUpload(422, f"{name}: {error}.") from None

    def warm_up_items(self) -> list[Any]:
        return [Sound(np.zeros(16000, dtype=np.float32), 16000)]

    # The graph starts after the encoder's front end (a mel spectrogram, and for speech
    # openwakeword's own ONNX graphs), which model.onnx.json describes step by step.
    export_axes = {"frames": {0: "batch", 1: "frames"}}
    int8_refusal = (
        "--int8 is for text models: a sound model's graph is a small head on the speech "
        "encoder's frames, or aisfx's convolutions, which dynamic quantisation does not suit "
        "(as image models; benchmarks/RESULTS.md). Export sound models without --int8."
    )

    def export_graph(self, network: Any) -> Any:
        from smallfit.backbones.audio import BlockEmbedding, FramePooling, LoudestBlock

        frozen = isinstance(network, torch.nn.Sequential) and isinstance(
            network[0], FramePooling | BlockEmbedding
        )
        # a frozen encoder pools every block; a trained body sees the loudest one
        return network if frozen else torch.nn.Sequential(LoudestBlock(), network)

    def export_example(self, encoder: Any, n: int) -> dict[str, Any]:
        """`n` clips of tones in noise, all (1 + n / 2) s long (so they share a batch)."""
        rng = np.random.default_rng(n)
        time = np.arange(int((1 + n / 2) * 16000)) / 16000
        clips = [
            Sound(
                (
                    0.3 * np.sin(2 * np.pi * 220 * (k + 1) * time)
                    + 0.05 * rng.standard_normal(time.size)
                ).astype(np.float32),
                16000,
            )
            for k in range(n)
        ]
        return {"frames": torch.from_numpy(np.stack(encoder.graph_frames(clips)))}

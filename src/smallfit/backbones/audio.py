"""Sound encoders: a speech embedding for spoken words, a sound-event embedding for
everything else, and MFCC statistics as the no-transfer baseline.

Sound-event encoders fail on words and speech encoders on sounds (the HEAR benchmark:
YAMNet 0.29 on Speech Commands, wav2vec2 0.56 on ESC-50), so both kinds run in a fit's
comparison and the user's data chooses. Each clip's frame embeddings are pooled over
time (mean and max side by side): the mean says what the clip holds throughout, the max
keeps a short word or event inside a longer file from being averaged away.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smallfit.backbones.base import Encoder, weights_digest
from smallfit.backbones.cache import cache_dir
from smallfit.data.audio import INSTALL_HINT, load_sound
from smallfit.errors import SmallfitError

MIN_SECONDS = 1.0  # shorter clips are padded with silence on both sides


def centred(samples: np.ndarray, length: int) -> np.ndarray:
    """`samples` padded with zeros on both sides to at least `length`."""
    missing = length - samples.size
    if missing <= 0:
        return samples
    return np.pad(samples, (missing // 2, missing - missing // 2))


def pooled(frames: np.ndarray) -> np.ndarray:
    """(frames, d) -> (2d,): the mean and the max over time."""
    return np.concatenate([frames.mean(axis=0), frames.max(axis=0)])


class FramePooling(nn.Module):
    """(batch, frames, d) -> (batch, 2d): `pooled` as a module, for exported graphs."""

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)


def split_by(rows: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """`rows` cut into consecutive runs of `counts` rows (one run per clip)."""
    return np.split(rows, np.cumsum(counts)[:-1])


def package_file(package: str, relative: str) -> Path | None:
    """A file installed with `package` (found without importing the package, whose own
    imports may need things smallfit does not install), or None."""
    try:
        path = Path(str(importlib.metadata.distribution(package).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def librosa():
    try:
        import librosa as module
    except ImportError as error:
        raise SmallfitError(INSTALL_HINT) from error
    return module


def has_librosa() -> bool:
    return importlib.util.find_spec("librosa") is not None


# -- speech: Google's speech_embedding, as openwakeword 0.5.1 ships it (ONNX) ----------------
SPEECH_PACKAGE = "openwakeword"
SPEECH_FILES = {
    "mel": "openwakeword/resources/models/melspectrogram.onnx",
    "embedding": "openwakeword/resources/models/embedding_model.onnx",
}
SPEECH_RATE = 16000
MEL_WINDOW, MEL_STEP = 76, 8  # mel frames per embedding (~0.78 s) and between two (80 ms)


def speech_available() -> bool:
    return all(package_file(SPEECH_PACKAGE, f) for f in SPEECH_FILES.values())


class SpeechEmbedding(Encoder):
    """Google's speech_embedding (trained on speech to tell words apart), 96-d per 80 ms,
    pooled: 192-d. The mel front end and the network are the two ONNX files of
    openwakeword 0.5.1, run with onnxruntime (openwakeword's own code is not needed).

    The front end takes 16 kHz samples at 16-bit scale; its output is rescaled by
    x/10 + 2, as openwakeword does to match the original TensorFlow features.
    """

    name = "speech_embedding"
    modality = "sound"
    dim = 192
    batch_size = 32

    def __init__(self) -> None:
        super().__init__()
        import onnxruntime

        paths = {part: package_file(SPEECH_PACKAGE, f) for part, f in SPEECH_FILES.items()}
        if not all(paths.values()):
            raise SmallfitError(
                "Backbone speech_embedding needs the package openwakeword==0.5.1 (0.6 ships "
                f"no model files). {INSTALL_HINT}"
            )
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._sessions = {
            part: onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            for part, path in paths.items()
        }
        self.weights_id = "+".join(weights_digest(p) for p in paths.values())

    def identity(self) -> str:
        return f"speech_embedding|{self.weights_id}|{SPEECH_RATE}|pad{MIN_SECONDS}|mean+max"

    def _prepare(self, items: list[Any]) -> list[np.ndarray]:
        clips = [centred(load_sound(i, SPEECH_RATE), int(MIN_SECONDS * SPEECH_RATE)) for i in items]
        return [np.clip(c * 32767.0, -32768.0, 32767.0).astype(np.float32) for c in clips]

    def _forward(self, batch: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([pooled(f) for f in self._frames(batch)]))

    def _frames(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Each prepared clip's embedding frames, (windows, 96)."""
        windows, counts = [], []
        for clip in clips:
            (mel,) = self._sessions["mel"].run(None, {"input": clip[None, :]})
            mel = np.squeeze(mel).reshape(-1, 32) / 10.0 + 2.0
            starts = range(0, mel.shape[0] - MEL_WINDOW + 1, MEL_STEP)
            windows += [mel[s : s + MEL_WINDOW] for s in starts]
            counts.append(len(starts))
        stacked = np.stack(windows)[..., None].astype(np.float32)
        (frames,) = self._sessions["embedding"].run(None, {"input_1": stacked})
        return split_by(frames.reshape(len(stacked), -1), counts)

    # -- exporting: the pooling and head in model.onnx, openwakeword's two graphs beside it
    def graph_frames(self, items: list[Any]) -> list[np.ndarray]:
        """What an exported graph takes for each item: its embedding frames (windows, 96)."""
        return self._frames(self._prepare(items))

    def embedding_module(self) -> nn.Module:
        return FramePooling()

    def describe_input(self, folder: Path) -> dict:
        for part, relative in SPEECH_FILES.items():
            shutil.copyfile(package_file(SPEECH_PACKAGE, relative), folder / f"speech_{part}.onnx")
        return {
            "frames": "float32 (batch, windows, 96): the clip's speech embedding frames",
            "steps": [
                "decode; mix down to mono (the mean of the channels); resample to 16000 Hz",
                f"pad with zeros on both sides to at least {int(MIN_SECONDS * SPEECH_RATE)} "
                "samples; multiply by 32767 and clip to [-32768, 32767]",
                "speech_mel.onnx (openwakeword 0.5.1's melspectrogram.onnx): input 'input' "
                "(1, samples) -> mel frames; reshape to (frames, 32); x / 10 + 2",
                f"windows of {MEL_WINDOW} frames every {MEL_STEP} frames, stacked as "
                f"(windows, {MEL_WINDOW}, 32, 1)",
                "speech_embedding.onnx (openwakeword 0.5.1's embedding_model.onnx): input "
                "'input_1' -> (windows, 1, 1, 96); reshape to (windows, 96)",
                "clips with the same number of windows can share a batch",
            ],
            "files": ["speech_mel.onnx", "speech_embedding.onnx"],
            "licence": "openwakeword's README: CC BY-NC-SA 4.0 for its included models",
            "sample_rate": SPEECH_RATE,
        }


# -- sound events: the aisfx CNN (Ma and Lerch 2022), trained on sound-effect libraries ----
EVENTS_PACKAGE = "aisfx"
EVENTS_CHECKPOINT = "aisfx/models/checkpoint.pth"
EVENTS_RATE = 44100
EVENTS_MEL = dict(n_fft=2048, hop_length=1024, n_mels=96, fmin=0.0, fmax=22050.0, htk=True)
EVENTS_LOG_MAX = 9.457798957824707  # the paper's normalisation: log10(1e4 * power + 1) / max
BLOCK, BLOCK_STEP = 100, 50  # frames per embedded block (~2.3 s) and between two


def events_available() -> bool:
    return package_file(EVENTS_PACKAGE, EVENTS_CHECKPOINT) is not None and has_librosa()


class ConvPair(nn.Module):
    """Two 3x3 convolutions, each batch-normalised and rectified, then max pooling."""

    def __init__(self, inputs: int, outputs: int, pool: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.pool = nn.MaxPool2d(pool) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.pool(torch.relu(self.bn2(self.conv2(x))))


class SoundEventNet(nn.Module):
    """The aisfx embedding network: (blocks, 100 frames, 96 mel bands) -> (blocks, 512).
    Four pairs of convolutions (64 to 512 channels), then the mean over frequency and
    the max over time. Written here because the package's own code pins numpy 1.23 and
    librosa 0.9; parameter names follow its checkpoint's."""

    def __init__(self) -> None:
        super().__init__()
        widths = (1, 64, 128, 256, 512)
        for index in range(4):
            pool = 2 if index < 3 else 1
            self.add_module(
                f"conv_block{index + 1}", ConvPair(widths[index], widths[index + 1], pool)
            )

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        x = spectrogram[:, None]
        for index in range(4):
            x = getattr(self, f"conv_block{index + 1}")(x)
        return x.mean(dim=3).amax(dim=2)


def events_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The embedding network's weights, from a safetensors copy in smallfit's cache.

    The package ships them in a pickle (a torch checkpoint that also holds numpy
    scalars). It is read once, with torch's weights-only loader allowing just the numpy
    types that checkpoint holds, and the tensors are saved as safetensors: later loads
    read no pickle at all. It is the installed package's file, never a user's.
    """
    from safetensors.torch import load_file, save_file

    digest = weights_digest(checkpoint)
    copy = cache_dir() / "weights" / f"aisfx-{digest}.safetensors"
    if not copy.is_file():
        core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core
        allowed = [(core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype]
        allowed += [np.dtypes.Int64DType]
        with torch.serialization.safe_globals(allowed):
            state, _ = torch.load(checkpoint, map_location="cpu", weights_only=True)
        prefix = "embedding_net."
        tensors = {
            k[len(prefix) :]: v.contiguous() for k, v in state.items() if k.startswith(prefix)
        }
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(".partial")
        save_file(tensors, str(partial))
        partial.replace(copy)
    return load_file(str(copy))


class TimePooling(nn.Module):
    """(n, channels, time, bands) maps -> (n, 2 x channels): the mean over bands, then its
    mean and max over time (the mean says what the clip holds throughout, the max its
    loudest moment), as the frozen embedding pools."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        bands = maps.mean(dim=3)
        return torch.cat([bands.mean(dim=2), bands.amax(dim=2)], dim=1)


class SoundEventEncoder(Encoder):
    """The aisfx sound-event embedding: 512-d per 2.3 s block of a 44.1 kHz mel
    spectrogram, pooled over blocks: 1024-d. Clips are peak-normalised first, as in
    training; a clip shorter than a block is padded with silence.

    Its four convolution pairs are trainable layer groups whose outputs are time-frequency
    feature maps (so finetune, adapters, contrastive tuning and mixing apply), fed one
    block per clip: the loudest 2.3 s (where a short event is), with SpecAugment masks as
    the augmentation (augment.sound.SoundTraining)."""

    name = "aisfx"
    modality = "sound"
    dim = 1024
    batch_size = 16
    capabilities = frozenset({"layers", "feature_maps"})
    body_lr_ratio = 0.5  # fine-tuning rate of the unfrozen groups relative to the head's

    def __init__(self) -> None:
        super().__init__()
        checkpoint = package_file(EVENTS_PACKAGE, EVENTS_CHECKPOINT)
        if checkpoint is None:
            raise SmallfitError(
                "Backbone aisfx needs the package aisfx, installed without its pins "
                "(numpy 1.23, librosa 0.9): pip install --no-deps aisfx==0.1.2"
            )
        self.network = SoundEventNet().eval()
        self.network.load_state_dict(events_weights(checkpoint))
        self.weights_id = weights_digest(checkpoint)

    def identity(self) -> str:
        mel = ",".join(f"{k}={v}" for k, v in EVENTS_MEL.items())
        return f"aisfx|{self.weights_id}|{EVENTS_RATE}|{mel}|{BLOCK}/{BLOCK_STEP}|mean+max"

    def _prepare(self, items: list[Any]) -> list[np.ndarray]:
        return [events_spectrogram(load_sound(i, EVENTS_RATE)) for i in items]

    def _forward(self, batch: list[np.ndarray]) -> torch.Tensor:
        blocks = [spectrogram_blocks(s) for s in batch]
        frames = self.network(torch.from_numpy(np.concatenate(blocks))).numpy()
        return torch.from_numpy(
            np.stack([pooled(f) for f in split_by(frames, [len(b) for b in blocks])])
        )

    # -- exporting: the network, pooling and head in model.onnx; the spectrogram outside
    def graph_frames(self, items: list[Any]) -> list[np.ndarray]:
        """What an exported graph takes for each item: its spectrogram's blocks
        (blocks, BLOCK, 96)."""
        return [spectrogram_blocks(s) for s in self._prepare(items)]

    def embedding_module(self) -> nn.Module:
        return BlockEmbedding(self.network)

    def describe_input(self, folder: Path) -> dict:
        return {
            "frames": f"float32 (batch, blocks, {BLOCK}, 96): the clip's log-mel blocks",
            "steps": [
                "decode; mix down to mono (the mean of the channels); resample to 44100 Hz",
                "divide by the peak absolute sample (if above 0)",
                "power mel spectrogram as librosa.feature.melspectrogram(y, sr=44100, "
                "norm=1.0, power=2.0, "
                + ", ".join(f"{k}={v}" for k, v in EVENTS_MEL.items())
                + "), transposed to (frames, 96)",
                f"log10(power * 10000 + 1) / {EVENTS_LOG_MAX}",
                f"pad with zero frames at the end to at least {BLOCK} frames",
                f"blocks of {BLOCK} frames starting every {BLOCK_STEP} frames, plus a last "
                "block ending at the last frame if the others miss it",
                "clips with the same number of blocks can share a batch",
            ],
            "licence": "aisfx: CC BY 4.0 (its LICENSE file; its metadata says MIT)",
            "sample_rate": EVENTS_RATE,
        }

    # -- fine-tuning ---------------------------------------------------------------------
    def layer_groups(self) -> list[nn.Module]:
        return [getattr(self.network, f"conv_block{index + 1}") for index in range(4)]

    def pooling(self) -> nn.Module:
        return TimePooling()

    def transform(self, train: bool = False, augment: str = "light", corpus=None):
        """The training views of `augment` (light, medium, strong), or None."""
        if not train or augment == "none":
            return None
        from smallfit.augment.sound import SoundTraining

        return SoundTraining(augment)

    def body_input(self, items: list[Any], transform=None) -> torch.Tensor:
        """(n, 1, BLOCK, 96): each clip's loudest block (with `transform`: of an augmented
        waveform, then masked)."""
        blocks = []
        for item in items:
            source = item if transform is None else transform.waveform(item)
            block = loudest_block(events_spectrogram(load_sound(source, EVENTS_RATE)))
            blocks.append(block if transform is None else transform.spectrogram(block))
        return torch.from_numpy(np.stack(blocks))[:, None]


class BlockEmbedding(nn.Module):
    """(batch, blocks, BLOCK, 96) spectrogram blocks -> (batch, 1024): each block
    embedded by the network, then pooled over blocks (as SoundEventEncoder.embed)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.pool = FramePooling()

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        frames = self.network(blocks.flatten(0, 1))
        return self.pool(frames.reshape(blocks.shape[0], blocks.shape[1], -1))


class LoudestBlock(nn.Module):
    """(batch, blocks, BLOCK, 96) -> (batch, 1, BLOCK, 96): each clip's block with the
    most energy (as `loudest_block`; ties go to the first), the input of a fine-tuned body."""

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        chosen = blocks.sum(dim=(2, 3)).argmax(dim=1)
        return blocks[torch.arange(blocks.shape[0]), chosen][:, None]


def spectrogram_blocks(spectrogram: np.ndarray) -> np.ndarray:
    """(blocks, BLOCK, 96): the blocks embedding uses, stacked."""
    return np.stack([spectrogram[a : a + BLOCK] for a in block_starts(len(spectrogram))])


def loudest_block(spectrogram: np.ndarray) -> np.ndarray:
    """The block of BLOCK frames (of those embedding uses) with the most energy."""
    starts = block_starts(len(spectrogram))
    energy = [float(spectrogram[s : s + BLOCK].sum()) for s in starts]
    start = starts[int(np.argmax(energy))]
    return spectrogram[start : start + BLOCK]


def events_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames >= BLOCK, 96) normalised log-mel spectrogram of a 44.1 kHz clip."""
    peak = float(np.abs(samples).max())
    samples = samples / peak if peak > 0 else samples
    power = librosa().feature.melspectrogram(
        y=samples, sr=EVENTS_RATE, norm=1.0, power=2.0, **EVENTS_MEL
    )
    spectrogram = (np.log10(power * 10000.0 + 1.0) / EVENTS_LOG_MAX).T.astype(np.float32)
    if len(spectrogram) < BLOCK:
        spectrogram = np.pad(spectrogram, ((0, BLOCK - len(spectrogram)), (0, 0)))
    return spectrogram


def block_starts(frames: int) -> list[int]:
    """Where the blocks of a spectrogram of `frames` (>= BLOCK) start: every BLOCK_STEP,
    and a last one ending at the end, so every frame is in some block."""
    starts = list(range(0, frames - BLOCK + 1, BLOCK_STEP))
    if starts[-1] + BLOCK < frames:
        starts.append(frames - BLOCK)
    return starts


# -- no transfer: MFCC statistics --------------------------------------------------------
MFCC_RATE = 16000
MFCC = dict(n_mfcc=20, n_fft=512, hop_length=160, n_mels=40)  # 32 ms windows, 10 ms apart


class MfccEncoder(Encoder):
    """Mel-frequency cepstral coefficients and their changes over time, each summarised by
    its mean and spread over the clip (80 numbers): the classic speech and sound features,
    the no-transfer baseline (no pretrained weights)."""

    name = "mfcc"
    modality = "sound"
    dim = 4 * MFCC["n_mfcc"]
    batch_size = 64
    use_cache = False  # cheaper to recompute than to store

    def identity(self) -> str:
        return "mfcc|" + hashlib.sha256(repr(sorted(MFCC.items())).encode()).hexdigest()[:12]

    def _prepare(self, items: list[Any]) -> torch.Tensor:
        rows = []
        for item in items:
            samples = centred(load_sound(item, MFCC_RATE), MFCC["n_fft"] * 4)
            coefficients = librosa().feature.mfcc(y=samples, sr=MFCC_RATE, **MFCC)
            change = librosa().feature.delta(coefficients, width=3)
            rows.append(
                np.concatenate(
                    [f(m, axis=1) for m in (coefficients, change) for f in (np.mean, np.std)]
                )
            )
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

"""Registry of encoders: a name gives a ready, cached-embedding Encoder.

Registered names work offline from packaged weights; `timm:NAME` and `st:NAME_OR_PATH`
reach any timm or sentence-transformers model the user can load (network or local copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from smallfit.backbones.audio import (
    MfccEncoder,
    SoundEventEncoder,
    SpeechEmbedding,
    events_available,
    has_librosa,
    speech_available,
)
from smallfit.backbones.base import CAPABILITIES, Encoder
from smallfit.backbones.images import (
    PixelEncoder,
    StageImageEncoder,
    TimmImageEncoder,
    efficientnet_lite,
    efficientnet_lite_stages,
    lite_available,
    timm_hub,
)
from smallfit.backbones.text import (
    SentenceEncoder,
    minilm,
    minilm_available,
    sentence_transformer,
)
from smallfit.errors import SmallfitError


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    modality: str
    description: str
    factory: Callable[[], Encoder]
    available: Callable[[], bool]
    capabilities: frozenset[str]  # what it offers beyond embed (base.CAPABILITIES)
    licence: str  # of the weights, as the package that carries them states it


_REGISTRY: dict[str, BackboneInfo] = {}
_LOADED: dict[str, Encoder] = {}


# The encoders a prefix reaches (timm:NAME, st:NAME_OR_PATH): modality and capabilities.
_PREFIXES = {"timm:": TimmImageEncoder, "st:": SentenceEncoder}


def register(
    name: str,
    modality: str,
    description: str,
    factory: Callable[[], Encoder],
    available: Callable[[], bool] = lambda: True,
    capabilities: frozenset[str] = frozenset(),
    licence: str = "none (no weights)",
) -> None:
    """Make encoder `name` creatable; `capabilities` (keys of base.CAPABILITIES) say what
    it offers beyond `embed`, so strategies are matched to it without loading its weights;
    `licence` is what the weights' package says of them (shown by `smallfit backbones`)."""
    unknown = set(capabilities) - set(CAPABILITIES)
    if unknown:
        raise SmallfitError(f"Unknown encoder capabilities {sorted(unknown)} for {name}.")
    info = BackboneInfo(
        name, modality, description, factory, available, frozenset(capabilities), licence
    )
    _REGISTRY[name] = info


for _size, _name in (
    (224, "efficientnet_lite0"),
    (240, "efficientnet_lite1"),
    (260, "efficientnet_lite2"),
):
    register(
        _name,
        "image",
        f"EfficientNet-Lite ImageNet weights, {_size}px, 1280-d (packaged)",
        partial(efficientnet_lite, _name),
        partial(lite_available, _name),
        TimmImageEncoder.capabilities,
        "Apache-2.0 (the package's LICENSE)",
    )
register(
    "efficientnet_lite0_stages",
    "image",
    "EfficientNet-Lite0's every stage, pooled and concatenated, 224px, 2096-d (packaged)",
    lambda: efficientnet_lite_stages(create("efficientnet_lite0")),  # shares its weights
    partial(lite_available, "efficientnet_lite0"),
    StageImageEncoder.capabilities,
    "Apache-2.0 (the package's LICENSE)",
)
register(
    "minilm",
    "text",
    "all-MiniLM-L6-v2 sentence embeddings, 384-d (packaged)",
    minilm,
    minilm_available,
    SentenceEncoder.capabilities,
    "MIT (the package's metadata; the original model is Apache-2.0)",
)
register("pixels", "image", "downscaled raw pixels, no transfer (baseline)", PixelEncoder)
register(
    "speech_embedding",
    "sound",
    "Google speech_embedding (openwakeword 0.5.1, ONNX), for spoken words, 192-d pooled",
    SpeechEmbedding,
    speech_available,
    # openwakeword's README: "All of the included pre-trained models are licensed under
    # CC BY-NC-SA 4.0", with no exception for this one (Google's TF Hub original is Apache-2.0)
    licence="CC BY-NC-SA 4.0, non-commercial (openwakeword's README, all its models)",
)
register(
    "aisfx",
    "sound",
    "aisfx sound-effects CNN (Ma and Lerch 2022), for sound events, 1024-d pooled",
    SoundEventEncoder,
    events_available,
    SoundEventEncoder.capabilities,
    # the wheel's LICENSE file and README say CC BY 4.0; its metadata classifier says MIT
    licence="CC BY 4.0, cite Ma and Lerch, ISMIR 2022 (LICENSE; metadata says MIT)",
)
register(
    "mfcc",
    "sound",
    "MFCC statistics, no transfer (baseline)",
    MfccEncoder,
    has_librosa,
)


def create(name: str) -> Encoder:
    """The encoder called `name`, loaded once per process (its embedding memo is reused)."""
    if name not in _LOADED:
        if name.startswith("timm:"):
            _LOADED[name] = timm_hub(name.removeprefix("timm:"))
        elif name.startswith("st:"):
            _LOADED[name] = sentence_transformer(name.removeprefix("st:"))
        elif name in _REGISTRY:
            _LOADED[name] = _REGISTRY[name].factory()
        else:
            known = ", ".join(sorted(_REGISTRY))
            raise SmallfitError(
                f"Unknown backbone {name!r}. Known: {known}; or timm:NAME, st:NAME_OR_PATH."
            )
    return _LOADED[name]


def available(name: str) -> bool:
    """Whether registered encoder `name` can be loaded offline now (its package is installed)."""
    return name in _REGISTRY and _REGISTRY[name].available()


def modality_of(name: str) -> str:
    return _class_or_info(name).modality


def capabilities_of(name: str) -> frozenset[str]:
    """What encoder `name` offers beyond `embed`, known without loading it."""
    return _class_or_info(name).capabilities


def _class_or_info(name: str) -> BackboneInfo | type[Encoder]:
    for prefix, cls in _PREFIXES.items():
        if name.startswith(prefix):
            return cls
    if name not in _REGISTRY:
        create(name)  # raises the helpful unknown-name error
    return _REGISTRY[name]


def list_backbones() -> list[BackboneInfo]:
    return list(_REGISTRY.values())


def describe(encoder: Encoder) -> dict:
    """What a model record says of an encoder: name, cache identity, weights and precision."""
    return {
        "name": encoder.name,
        "id": encoder.cache_id,
        "weights": getattr(encoder, "weights_id", None),
        "precision": getattr(encoder, "precision", "fp32"),
    }


__all__ = [
    "Encoder",
    "available",
    "capabilities_of",
    "create",
    "describe",
    "list_backbones",
    "modality_of",
    "register",
]

"""Registry of encoders: a name gives a ready, cached-embedding Encoder.

Registered names work offline from packaged weights; `timm:NAME` and `st:NAME_OR_PATH`
reach any timm or sentence-transformers model the user can load (network or local copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from smallfit.backbones.base import Encoder
from smallfit.backbones.images import (
    PixelEncoder,
    efficientnet_lite,
    lite_available,
    timm_hub,
)
from smallfit.backbones.text import minilm, minilm_available, sentence_transformer
from smallfit.errors import SmallfitError


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    modality: str
    description: str
    factory: Callable[[], Encoder]
    available: Callable[[], bool]


_REGISTRY: dict[str, BackboneInfo] = {}
_LOADED: dict[str, Encoder] = {}


def register(name: str, modality: str, description: str, factory, available=lambda: True) -> None:
    _REGISTRY[name] = BackboneInfo(name, modality, description, factory, available)


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
    )
register(
    "minilm",
    "text",
    "all-MiniLM-L6-v2 sentence embeddings, 384-d (packaged)",
    minilm,
    minilm_available,
)
register("pixels", "image", "downscaled raw pixels, no transfer (baseline)", PixelEncoder)


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


def modality_of(name: str) -> str:
    if name.startswith("timm:"):
        return "image"
    if name.startswith("st:"):
        return "text"
    if name not in _REGISTRY:
        create(name)  # raises the helpful unknown-name error
    return _REGISTRY[name].modality


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
    "create",
    "describe",
    "list_backbones",
    "modality_of",
    "register",
]

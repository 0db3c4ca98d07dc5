"""Kinds of item (images, texts, ...) as plugins, registered by name (smallfit.modalities.base
says what a modality declares)."""

from __future__ import annotations

from smallfit.errors import SmallfitError
from smallfit.modalities.base import BadUpload, Modality
from smallfit.modalities.image import ImageModality
from smallfit.modalities.sound import SoundModality
from smallfit.modalities.table import TableModality
from smallfit.modalities.text import TextModality

_MODALITIES: dict[str, Modality] = {}


def register(cls: type[Modality]) -> type[Modality]:
    """Make a Modality subclass known by its `name` (usable as a class decorator). The
    order of registration is the order in which items given to the API are matched."""
    _MODALITIES[cls.name] = cls()
    return cls


def get(name: str) -> Modality:
    if name not in _MODALITIES:
        raise SmallfitError(f"Unknown modality {name!r}; known: {', '.join(_MODALITIES)}.")
    return _MODALITIES[name]


def shown(dataset) -> list[str]:
    """How each item of `dataset` is named for a person (CLI tables, files written)."""
    kind = get(dataset.modality)
    return [kind.shown(item, name) for item, name in zip(dataset.items, dataset.names, strict=True)]


def names() -> list[str]:
    return list(_MODALITIES)


def all_registered() -> list[Modality]:
    return list(_MODALITIES.values())


register(ImageModality)
register(TextModality)
register(TableModality)
register(SoundModality)

__all__ = ["BadUpload", "Modality", "all_registered", "get", "names", "register", "shown"]

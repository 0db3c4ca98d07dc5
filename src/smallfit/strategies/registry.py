"""Strategies by name (the way timm registers architectures)."""

from __future__ import annotations

from smallfit.errors import SmallfitError
from smallfit.strategies.base import works_on

_STRATEGIES: dict[str, type] = {}


def register(cls: type) -> type:
    _STRATEGIES[cls.name] = cls
    return cls


def create(name: str, **params):
    if name not in _STRATEGIES:
        raise SmallfitError(f"Unknown strategy {name!r}. Known: {', '.join(sorted(_STRATEGIES))}.")
    return _STRATEGIES[name](**params)


def names(modality: str | None = None) -> list[str]:
    return [n for n, cls in _STRATEGIES.items() if modality is None or works_on(cls, modality)]

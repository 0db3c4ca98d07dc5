"""Ways of adapting an encoder to the user's classes, registered by name."""

from smallfit.strategies import classic, probe, prototype, zeroshot  # noqa: F401 - registers
from smallfit.strategies.base import Strategy
from smallfit.strategies.registry import create, names, register

__all__ = ["Strategy", "create", "names", "register"]

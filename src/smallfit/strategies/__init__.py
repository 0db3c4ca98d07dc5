"""Ways of adapting an encoder to the user's classes, registered by name."""

from smallfit.strategies import (  # noqa: F401 - importing registers them
    adapters,
    classic,
    contrastive,
    ensemble,
    finetune,
    hybrid,
    learners,
    probe,
    prototype,
    scratch,
    self_training,
    zeroshot,
)
from smallfit.strategies.base import Strategy
from smallfit.strategies.registry import create, names, register

__all__ = ["Strategy", "create", "names", "register"]

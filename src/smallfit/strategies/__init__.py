"""Ways of adapting an encoder to the user's classes, registered by name."""

from smallfit import semi  # noqa: F401, E402 - registers self-training (wraps the others)
from smallfit.strategies import (  # noqa: F401 - importing registers them
    adapters,
    classic,
    contrastive,
    finetune,
    probe,
    prototype,
    scratch,
    zeroshot,
)
from smallfit.strategies.base import Strategy
from smallfit.strategies.registry import create, names, register

__all__ = ["Strategy", "create", "names", "register"]

from smallfit import ensemble  # noqa: E402, F401 - registers the `ensemble` strategy (not a candidate)

"""Batch-norm statistics that describe a network's current weights."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

REFRESH_ITEMS = 256  # training inputs a refresh reads at most (each epoch: kept cheap)


def refresh_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Set every batch-norm layer's running statistics to the mean and variance of the
    training inputs `x` (a fixed sample of REFRESH_ITEMS of them at most) under the
    model's current weights ("precise BN", Wu & Johnson 2021), before it is evaluated.

    The running statistics are otherwise moving averages over the last few dozen steps,
    taken while the weights changed under them. On a few dozen items an epoch is one or
    two steps, so they describe weights long gone: in evaluation mode a small network
    trained from scratch then gave one class to every item (12% on its own training
    images, 75% with batch statistics). One pass without gradients fixes that. Models
    without batch norm are left as they are. The loop skips this with an unlabeled loss:
    there the network also normalises unlabeled batches, which `x` does not represent.
    Written here: torch has no such pass (fvcore's PreciseBN is part of a larger framework).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(x) < 2:
        return
    if len(x) > REFRESH_ITEMS:  # a fixed sample: the statistics of a few hundred suffice
        sample = np.random.default_rng(0).permutation(len(x))[:REFRESH_ITEMS]
        x = x[torch.from_numpy(np.sort(sample))]
    model.eval()
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
        norm.train()
    # batches of nearly equal size (none of one item, which batch norm cannot normalise)
    parts = np.array_split(np.arange(len(x)), math.ceil(len(x) / max(2, batch_size)))
    with torch.no_grad():
        for part in parts:
            model(x[torch.from_numpy(part)])
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()

"""DANN (Ganin et al. 2016): domain-adversarial training as a hook of the training loop.

A small domain classifier learns to tell the pooled features of labeled (source) items
from those of target-pool items; a gradient-reversal layer between them makes the
network being trained learn features that the classifier cannot tell apart. The
reversal weight follows Ganin's ramp, weight * (2 / (1 + exp(-10 p)) - 1) over the run's
progress p, so the confusion term starts at zero, while the features are still the
pretrained ones. The domain classifier trains and is checkpointed with the run
(`UnlabeledLoss.module`) but is not part of the fitted network, so it is never saved
with the model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from smallfit.train.loop import UnlabeledLoss

# A tenth of the domain loss's gradient reaches the features at the end of the ramp:
# with tens of labels per class the labeled loss must stay in charge.
WEIGHT = 0.1
HIDDEN = 100  # Ganin et al.'s domain classifier for digits: one hidden layer of 100 units


class ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient multiplied by -scale backward (hand-written: it
    is four lines and no maintained library ships it for plain PyTorch)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


class DomainClassifier(nn.Module):
    """Features -> one logit (target vs source); `calls` counts the steps of the run so
    far (a buffer, so an interrupted run resumes on the same ramp)."""

    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(1)


def ramp(progress: float) -> float:
    """Ganin et al.'s schedule of the reversal weight: 0 at the start, near 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


class DomainAdversarial(UnlabeledLoss):
    """The DANN term for one training run.

    `target`: the inputs of the target pool as the trained network takes them (cached
    frozen activations for finetune, body inputs for adapter and lora); `features`: the
    part of the trained network from its input to the pooled features (sharing its
    weights); `steps`: the run's number of batches (epochs x batches per epoch).
    """

    def __init__(
        self,
        target: torch.Tensor,
        features: nn.Module,
        dim: int,
        steps: int,
        batch_size: int,
        seed: int,
        weight: float = WEIGHT,
    ):
        self.target, self.features = target, features
        self.steps, self.weight = steps, weight
        self.size, self.batch_size = len(target), batch_size
        torch.manual_seed(seed)
        self.module = DomainClassifier(dim)

    def tensors(self) -> list[torch.Tensor]:
        return [self.target]

    def __call__(self, model, inputs, indices):
        progress = min(1.0, float(self.module.calls) / max(1, self.steps))
        self.module.calls += 1
        scale = self.weight * ramp(progress)
        source = self.features(inputs)
        target = self.features(self.target[indices])
        logits = self.module(ReverseGradient.apply(torch.cat([source, target]), scale))
        domain = torch.cat([torch.zeros(len(source)), torch.ones(len(target))])
        return nn.functional.binary_cross_entropy_with_logits(logits, domain)


def feature_part(network: nn.Sequential) -> nn.Sequential:
    """The trained network (layer groups, pooling, dropout, linear head) up to its pooled
    features, sharing its modules."""
    return nn.Sequential(*list(network.children())[:-2])


def dann_loss(
    network: nn.Sequential, target: torch.Tensor, n_train: int, settings
) -> DomainAdversarial:
    """The DANN hook for one run of the training loop with `settings` (TrainSettings) on
    `n_train` labeled items, over `network` (layer groups, pooling, dropout, linear head)."""
    return DomainAdversarial(
        target,
        feature_part(network),
        dim=network[-1].in_features,
        steps=settings.epochs * math.ceil(n_train / settings.batch_size),
        batch_size=settings.batch_size,
        seed=settings.seed,
    )

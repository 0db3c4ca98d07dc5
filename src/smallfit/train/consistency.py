"""FixMatch consistency (Sohn et al. 2020) as an unlabeled loss of the one training loop.

For each drawn pool item the model predicts its weakly augmented view without gradient;
where the top probability reaches `threshold` (0.95 in the paper) that class becomes the
pseudo-label, and the loss is the cross-entropy of the strongly augmented view's
prediction against it, averaged over the whole drawn batch (items below the threshold
count as zero, as in the paper), weighted by `weight` (their lambda_u = 1).

The views are fixed tensors given by the caller (finetune computes them once through its
frozen lower layers, like its augmented training copies), so a step costs two forward
passes of the trained part only.
"""

from __future__ import annotations

import torch
from torch import nn

from smallfit.train.loop import UnlabeledLoss
from smallfit.train.losses import classification_loss, probabilities


class FixMatchLoss(UnlabeledLoss):
    """Pseudo-label from `weak[i]`, learn it on `strong[i]`; the loop draws the i."""

    def __init__(
        self,
        weak: torch.Tensor,
        strong: torch.Tensor,
        loss: str = "ce",
        threshold: float = 0.95,
        weight: float = 1.0,
        batch_size: int = 32,
    ):
        if len(weak) != len(strong) or len(weak) == 0:
            raise ValueError("FixMatch needs one weak and one strong view of each pool item.")
        self.weak, self.strong = weak, strong
        self.loss, self.threshold, self.weight = loss, threshold, weight
        self.size, self.batch_size = len(weak), batch_size
        self.confident_share = 0.0  # of the last drawn batch; shows whether the hook acts

    def tensors(self) -> list[torch.Tensor]:
        return [self.weak, self.strong]

    def __call__(self, model: nn.Module, inputs: torch.Tensor, indices: torch.Tensor):
        with torch.no_grad():
            guess = probabilities(model(self.weak[indices]), self.loss)
        confidence, pseudo = guess.max(dim=1)
        confident = confidence >= self.threshold
        self.confident_share = float(confident.float().mean())
        if not confident.any():
            return torch.zeros(())
        # the mean over the confident items times their share: the paper's mean over the
        # batch with zeros below the threshold, without a forward pass for those items
        logits = model(self.strong[indices[confident]])
        loss = classification_loss(logits, pseudo[confident], self.loss)
        return self.weight * self.confident_share * loss

"""`contrastive` (images and text): tune the encoder on pairs, then fit a head (SetFit-style).

Recipe (after SetFit, Tunstall et al. 2022): first train the body so that items of one
class embed close together and items of different classes apart, then fit a logistic
regression on the tuned embeddings (as `probe` does on the frozen ones). Texts train
with SetFit's cosine-similarity loss on pairs (same class -> 1, different -> 0); images
with the supervised contrastive loss (Khosla et al. 2020) over every embedding in a batch
of pairs, so that each batch holds positives for its anchors.

As in `finetune`, only the top `top_groups` layer groups are copied and trained; the
frozen lower groups run once per item and every step reads those cached activations,
looked up by item index (`CachedPairs`), so a pair costs two passes through the top
groups only.

Pairs are bounded and proportional to the data: `pairs_per_example * n` pairs, half of
them positive, each item an anchor equally often (SetFit's default draws every pair of
items, which grows with n squared). Early stopping watches the same loss on pairs of a
held-out fifth of the items (stratified), never trained on; the head then fits on all.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from smallfit.errors import SmallfitError
from smallfit.numeric import Normalise, normalise
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, OneOf
from smallfit.strategies.finetune import FrozenNormSequential, lower_activations
from smallfit.strategies.heads import LogisticHead
from smallfit.strategies.registry import register
from smallfit.train.loop import TrainSettings, early_stopping_split, train
from smallfit.train.losses import PAIR_LOSSES

# The learning rate `finetune` gives its unfrozen groups (its head rate times the
# encoder's body_lr_ratio): the rate at which these encoders' top groups tune well.
HEAD_RATE = 3e-3


def make_pairs(y: np.ndarray, pairs_per_example: int, seed: int) -> np.ndarray:
    """`pairs_per_example * len(y)` index pairs (m, 2), half same-class and half not.

    Anchors cycle through the items in a seeded order, so every item anchors as many
    pairs as any other; each partner is drawn at random among the items of the anchor's
    class (positives) or of the other classes (negatives). Classes with one member give
    no positive pairs; when no class has two, every pair is negative.
    """
    if pairs_per_example < 1:
        raise SmallfitError(f"pairs_per_example must be at least 1, not {pairs_per_example}.")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    total = pairs_per_example * len(y)
    members = {label: np.flatnonzero(y == label) for label in np.unique(y)}
    others = {label: np.flatnonzero(y != label) for label in members}
    pairable = np.flatnonzero([len(members[label]) >= 2 for label in y])
    n_positive = total // 2 if len(pairable) else 0
    pairs = np.empty((total, 2), dtype=np.int64)
    anchors = np.resize(rng.permutation(pairable), n_positive) if n_positive else []
    for row, anchor in enumerate(anchors):
        same = members[y[anchor]]
        pairs[row] = anchor, rng.choice(same[same != anchor])
    negative_anchors = np.resize(rng.permutation(len(y)), total - n_positive)
    for row, anchor in enumerate(negative_anchors, start=n_positive):
        pairs[row] = anchor, rng.choice(others[y[anchor]])
    return pairs


class CachedPairs(nn.Module):
    """Item indices (any shape) -> embeddings of those items through the upper part.

    The lower groups' outputs for every item are `table`, a buffer kept out of the state
    dict (they are inputs, not weights); each distinct item of a batch runs once.
    """

    def __init__(self, upper: nn.Module, table: torch.Tensor):
        super().__init__()
        self.upper = upper
        self.register_buffer("table", table, persistent=False)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        distinct, inverse = torch.unique(indices, return_inverse=True)
        return self.upper(self.table[distinct])[inverse]


@register
class Contrastive(Strategy):
    """Contrastive tuning of the top `top_groups` layer groups, then a logistic head.

    `pairs_per_example` pairs per training item per epoch (half positive); at most
    `epochs` passes over them, fewer when the held-out items' pair loss stops improving.
    `lr` None: the rate finetune uses for the encoder's unfrozen groups. `loss` None: the
    modality's (texts: SetFit's pair_cosine; otherwise supcon, supervised contrastive).
    """

    name = "contrastive"
    needs = frozenset({"layers"})
    trains_body = True

    constraints = {
        "pairs_per_example": [Between(1, integer=True)],
        "top_groups": [Between(1, integer=True)],
        "epochs": [Between(1, integer=True)],
        "lr": [Between(0, above=True), None],
        "loss": [OneOf(PAIR_LOSSES), None],
        "batch_size": [Between(2, integer=True)],
        "random_state": [Between(integer=True)],
    }

    def __init__(
        self,
        pairs_per_example: int = 20,
        top_groups: int = 2,
        epochs: int = 3,
        lr: float | None = None,
        loss: str | None = None,
        batch_size: int = 16,
        random_state: int = 0,
    ):
        self.pairs_per_example = pairs_per_example
        self.top_groups = top_groups
        self.epochs = epochs
        self.lr = lr
        self.loss = loss
        self.batch_size = batch_size
        self.random_state = random_state

    def _build(self, encoder) -> tuple[int, FrozenNormSequential]:
        groups = encoder.layer_groups()
        if not 1 <= self.top_groups < len(groups):
            raise SmallfitError(f"top_groups must be between 1 and {len(groups) - 1}.")
        split = len(groups) - self.top_groups
        torch.manual_seed(self.random_state)
        # copies: never touch the shared encoder's weights
        upper = FrozenNormSequential(*copy.deepcopy(groups[split:]), encoder.pooling())
        return split, upper

    def _lower(self, items, description: str) -> torch.Tensor:
        return lower_activations(self.encoder_, self.split_, items, self.batch_size, description)

    def fit(self, dataset, encoder) -> Contrastive:
        self._remember(dataset, encoder)
        self.split_, self.upper_ = self._build(encoder)
        table = self._lower(dataset.items, "Computing frozen activations")
        y = dataset.y
        fit_part, val_part = early_stopping_split(y, 0.2, self.random_state)
        self.early_stopping_ = len(val_part) > 0  # else: fixed epochs
        if not len(val_part):
            fit_part = np.arange(len(y))
        seed = self.random_state
        pairs = fit_part[make_pairs(y[fit_part], self.pairs_per_example, seed)]
        labels = torch.from_numpy(y)
        sizes = encoder.item_sizes(dataset.items)  # a pair of texts is as long as its longer
        pair_sizes = None if sizes is None else sizes[pairs].max(axis=1)
        validation = None
        if len(val_part):
            held_out = val_part[make_pairs(y[val_part], self.pairs_per_example, seed + 1)]
            if sizes is not None:  # shortest pairs first: validation batches pad little
                held_out = held_out[np.argsort(sizes[held_out].max(axis=1), kind="stable")]
            validation = (torch.from_numpy(held_out), labels[held_out])
        loss = self._resolved("loss", dataset.modality, "supcon")
        if loss not in PAIR_LOSSES:
            raise SmallfitError(f"Unknown loss {loss!r}; choose from {', '.join(PAIR_LOSSES)}.")
        settings = TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr if self.lr is not None else HEAD_RATE * encoder.body_lr_ratio,
            loss=loss,
            patience=1,  # an epoch is pairs_per_example pairs per item: already a long look
            seed=seed,
        )
        for parameter in self.upper_.parameters():
            parameter.requires_grad = True
        model = CachedPairs(self.upper_, table)
        self.history_ = train(
            model,
            list(self.upper_.children())[: self.top_groups],
            torch.from_numpy(pairs),
            labels[pairs],
            settings,
            validation,
            description=f"Contrastive tuning ({len(pairs)} pairs, {loss})",
            sizes=pair_sizes,
        )
        for parameter in self.upper_.parameters():
            parameter.requires_grad = False
        self.head_ = LogisticHead("balanced", self.random_state)
        self.head_.fit(self._embed(table), y, len(dataset.classes))
        return self

    def _embed(self, lower: torch.Tensor) -> np.ndarray:
        """Unit-length tuned embeddings from the lower groups' outputs (in chunks)."""
        self.upper_.eval()
        with torch.inference_mode():
            chunks = [self.upper_(lower[i : i + 64]) for i in range(0, len(lower), 64)]
        return normalise(torch.cat(chunks).numpy())

    def predict_proba(self, items) -> np.ndarray:
        return self.head_.predict_proba(self._embed(self._lower(list(items), "Predicting")))

    def inference_module(self) -> nn.Module:
        lower = self.encoder_.layer_groups()[: self.split_]
        return nn.Sequential(*lower, self.upper_, Normalise(), self.head_.as_module()).eval()

    def get_state(self):
        arrays, config = self.head_.get_state()
        arrays = {f"head.{k}": v for k, v in arrays.items()}
        arrays |= {f"body.{k}": v.detach().numpy() for k, v in self.upper_.state_dict().items()}
        return arrays, {"split": self.split_, "head": config}

    def set_state(self, arrays, config, encoder) -> Contrastive:
        self.encoder_ = encoder
        self.split_, self.upper_ = self._build(encoder)
        body = {k[5:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k[:5] == "body."}
        self.upper_.load_state_dict(body)
        self.upper_.eval()
        head = {k[5:]: v for k, v in arrays.items() if k[:5] == "head."}
        self.head_ = LogisticHead("balanced", self.random_state).set_state(head, config["head"])
        return self

"""`adapter` and `lora`: train a few new parameters inside a frozen pretrained body.

Both copy the encoder's layer groups, insert small trainable modules, freeze every
original weight except normalisation layers, and train the insertions with a new head
end to end on the one training loop. Only those trained parameters are saved; loading
rebuilds the body from the packaged weights and puts them back.

- `adapter` (Houlsby et al. 2019): a bottleneck (down-projection, GELU, up-projection)
  with a residual connection after every layer group — each transformer layer of a
  text encoder, each stage of an image encoder. The up-projection starts at zero, so
  the network starts exactly as the pretrained one (one adapter per layer, after its
  output, as in Pfeiffer et al. 2020, rather than Houlsby's two).
- `lora` (Hu et al. 2021), through peft: low-rank updates of the attention query and
  value projections of every transformer layer (text encoders).

Unlike `finetune`, every layer changes, so nothing below can be cached: each epoch runs
the whole body forward and backward. Image inputs are kept preprocessed (no augmentation).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from smallfit.adapt.dann import dann_loss
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, OneOf
from smallfit.strategies.finetune import (
    FrozenNormSequential,
    in_size_order,
    network_probabilities,
)
from smallfit.strategies.registry import register
from smallfit.train.loop import TrainSettings, early_stopping_split, shortest_first, train
from smallfit.train.losses import LOSSES, Probabilities

NORMS = (nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)


class ImageAdapter(nn.Module):
    """x + up(gelu(down(x))) with 1x1 convolutions over channels (n, C, H, W)."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.down = nn.Conv2d(channels, bottleneck, 1)
        self.up = nn.Conv2d(bottleneck, channels, 1)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(nn.functional.gelu(self.down(x)))


class TokenAdapter(nn.Module):
    """The same bottleneck on packed text activations (n, L, hidden + mask channel)."""

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        hidden, mask = packed[..., :-1], packed[..., -1:]
        hidden = hidden + self.up(nn.functional.gelu(self.down(hidden)))
        return torch.cat([hidden, mask], dim=-1)


def output_width(group: nn.Module) -> int:
    """Channels (images) or hidden size (text) a layer group puts out: the width of its last
    normalisation layer (every EfficientNet block and transformer layer ends with one)."""
    norms = [m for m in group.modules() if isinstance(m, NORMS)]
    last = norms[-1]
    return last.num_features if hasattr(last, "num_features") else last.normalized_shape[0]


class BodyTune(Strategy):
    """Shared by adapter and lora: build, train and save a body with trainable insertions."""

    needs = frozenset({"layers"})
    trains_body = True

    def _insert(self, groups: list[nn.Module], encoder) -> list[nn.Module]:
        """The groups with trainable modules added (the originals are copies, safe to edit)."""
        raise NotImplementedError

    def _build(self, encoder, n_classes: int) -> FrozenNormSequential:
        torch.manual_seed(self.random_state)
        groups = copy.deepcopy(encoder.layer_groups())
        pretrained = {id(p) for group in groups for p in group.parameters()}
        network = FrozenNormSequential(
            *self._insert(groups, encoder),
            encoder.pooling(),
            nn.Dropout(self.dropout),
            nn.Linear(encoder.dim, n_classes),
        )
        # Whatever is not a pretrained weight (the insertions, the head) trains, and so do
        # the normalisation layers; insertions wrap the original modules, keeping their
        # weights, so they are told apart by identity.
        for module in network.modules():
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad = (
                    isinstance(module, NORMS) or id(parameter) not in pretrained
                )
        return network

    def _inputs(self, items) -> torch.Tensor:
        """The body's input for every item, tokenised in batches of similar length."""
        encoder = self.encoder_
        return in_size_order(encoder, items, encoder.batch_size, encoder.body_input, "Reading")

    def fit(self, dataset, encoder, target_unlabeled=None) -> BodyTune:
        self._remember(dataset, encoder)
        self.network_ = self._build(encoder, len(dataset.classes))
        trained = [p for p in self.network_.parameters() if p.requires_grad]
        total = sum(p.numel() for p in self.network_.parameters())
        self.trained_fraction_ = sum(p.numel() for p in trained) / total
        x, y = self._inputs(list(dataset.items)), torch.from_numpy(dataset.y)
        sizes = encoder.item_sizes(list(dataset.items))
        fit_part, val_part = early_stopping_split(dataset.y, 0.2, self.random_state)
        self.early_stopping_ = len(val_part) > 0  # else: fixed epochs
        val_part = shortest_first(val_part, sizes)
        validation = (x[val_part], y[val_part]) if len(val_part) else None
        if validation is None:
            fit_part = np.arange(len(dataset))
        settings = TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            layer_decay=1.0,  # the insertions start from scratch at every depth
            loss=self.loss,
            seed=self.random_state,
        )
        adversarial = None
        if target_unlabeled is not None:
            target = self._inputs(list(target_unlabeled.items))
            adversarial = dann_loss(self.network_, target, len(fit_part), settings)
        self.history_ = train(
            self.network_,
            [self.network_],
            x[fit_part],
            y[fit_part],
            settings,
            validation,
            description=f"Training {self.name} ({100 * self.trained_fraction_:.1f}% of weights)",
            unlabeled=adversarial,
            sizes=sizes if sizes is None else sizes[fit_part],
        )
        return self

    def predict_proba(self, items) -> np.ndarray:
        encoder = self.encoder_
        return network_probabilities(self.inference_module(), encoder, items, encoder.batch_size)

    def inference_module(self) -> nn.Module:
        return nn.Sequential(self.network_, Probabilities(self.loss)).eval()

    def get_state(self):
        names = {name for name, p in self.network_.named_parameters() if p.requires_grad}
        state = self.network_.state_dict()
        arrays = {k: v.detach().numpy() for k, v in state.items() if k in names}
        # batch-norm statistics stay the pretrained ones (FrozenNormSequential): not saved
        config = {"n_classes": len(self.classes_), "trained_fraction": self.trained_fraction_}
        return arrays, config

    def set_state(self, arrays, config, encoder) -> BodyTune:
        self.encoder_ = encoder
        self.network_ = self._build(encoder, config["n_classes"])
        self.trained_fraction_ = config["trained_fraction"]
        missing = set(arrays) - set(self.network_.state_dict())
        if missing:
            raise ValueError(f"saved weights do not fit the network: {sorted(missing)[:5]}")
        self.network_.load_state_dict(
            {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, strict=False
        )
        self.network_.eval()
        return self


@register
class Adapter(BodyTune):
    """Bottleneck adapters after every layer group; body frozen except normalisation."""

    name = "adapter"
    search_space = {"bottleneck": [32, 16, 64], "lr": [1e-3, 3e-4, 3e-3]}

    constraints = {
        "bottleneck": [Between(1, integer=True)],
        "epochs": [Between(1, integer=True)],
        "lr": [Between(0, above=True)],
        "loss": [OneOf(LOSSES)],
        "dropout": [Between(0, 1)],
        "batch_size": [Between(1, integer=True)],
        "random_state": [Between(integer=True)],
    }

    def __init__(
        self,
        bottleneck: int = 32,
        epochs: int = 10,
        lr: float = 1e-3,
        loss: str = "ce",
        dropout: float = 0.2,
        batch_size: int = 16,
        random_state: int = 0,
    ):
        self.bottleneck = bottleneck
        self.epochs = epochs
        self.lr = lr
        self.loss = loss
        self.dropout = dropout
        self.batch_size = batch_size
        self.random_state = random_state

    def _insert(self, groups, encoder):
        # layer groups give feature maps (convolutional) or token sequences (transformer)
        adapter = ImageAdapter if "feature_maps" in encoder.capabilities else TokenAdapter
        # the stem / token embedding stays as it is: adapters follow the computed layers
        return groups[:1] + [
            nn.Sequential(group, adapter(output_width(group), self.bottleneck))
            for group in groups[1:]
        ]


@register
class Lora(BodyTune):
    """LoRA (peft) on the query and value projections of every transformer layer."""

    name = "lora"
    search_space = {"rank": [8, 4, 16], "lr": [1e-3, 3e-4, 3e-3]}
    needs = frozenset({"layers", "tokens"})

    constraints = {
        "rank": [Between(1, integer=True)],
        "alpha": [Between(0, above=True)],
        "epochs": [Between(1, integer=True)],
        "lr": [Between(0, above=True)],
        "loss": [OneOf(LOSSES)],
        "dropout": [Between(0, 1)],
        "batch_size": [Between(1, integer=True)],
        "random_state": [Between(integer=True)],
    }

    def __init__(
        self,
        rank: int = 8,
        alpha: float = 16.0,
        epochs: int = 10,
        lr: float = 1e-3,
        loss: str = "ce",
        dropout: float = 0.2,
        batch_size: int = 16,
        random_state: int = 0,
    ):
        self.rank = rank
        self.alpha = alpha
        self.epochs = epochs
        self.lr = lr
        self.loss = loss
        self.dropout = dropout
        self.batch_size = batch_size
        self.random_state = random_state

    def _insert(self, groups, encoder):
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(
            r=self.rank, lora_alpha=self.alpha, target_modules=["query", "value"], lora_dropout=0.0
        )
        return [
            inject_adapter_in_model(config, group)
            if any(name.endswith("query") for name, _ in group.named_modules())
            else group
            for group in groups
        ]

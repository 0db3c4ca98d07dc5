"""`finetune` (images and text): adapt the top of the pretrained body, not just a head.

Recipe (gradual unfreezing, after fastai/ULMFiT): train the new head with the body
frozen, then unfreeze the top layer group, then the next, each stage with a one-cycle
schedule and discriminative learning rates. The frozen lower part never changes, so
its output is computed once per image and every epoch trains only the upper part on
those cached activations (on a CPU this is what makes fine-tuning affordable). Within
a stage, the upper groups not yet unfrozen are cached the same way, once per stage.
Augmentation therefore comes as a fixed set of `copies` augmented versions of each
training image, computed once like the originals.

An encoder that supports this exposes `layer_groups()` (modules applied in sequence),
`body_input(items, transform)` (the first group's input), `pooling()` (last map to a
vector), `transform(train, augment, corpus)` (None when there is no augmentation) and
`body_lr_ratio` (the unfrozen groups' rate relative to the head's).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from smallfit import modalities
from smallfit.adapt.dann import dann_loss
from smallfit.augment import IMAGE_PRESETS
from smallfit.budget import check_active
from smallfit.errors import SmallfitError
from smallfit.progress import progress_bar
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, OneOf
from smallfit.strategies.registry import register
from smallfit.train.consistency import FixMatchLoss
from smallfit.train.loop import (
    MIXES,
    TrainSettings,
    combined,
    early_stopping_split,
    find_lr,
    find_lr_suggestion,
    shortest_first,
    train,
)
from smallfit.train.losses import LOSSES, Probabilities

UNFREEZE = ("gradual", "top", "head", "all")
CONSISTENCY = ("none", "fixmatch")
UNLABELED_RATIO = 7  # pool items drawn per labeled item and step (FixMatch's mu)


class FrozenNormSequential(nn.Sequential):
    """Sequential whose batch-norm layers keep ImageNet statistics while training.

    Batches of a few dozen images give noisier statistics than the pretrained ones.
    """

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def cat_padded(batches: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate batches, zero-padding dimension 1 to the longest.

    Text batches differ in length; a zero in the packed mask channel marks padding.
    Image batches all have one shape, and pass through unchanged.
    """
    longest = max(batch.shape[1] for batch in batches)
    padded = []
    for batch in batches:
        if batch.shape[1] < longest:
            extra = torch.zeros(batch.shape[0], longest - batch.shape[1], *batch.shape[2:])
            batch = torch.cat([batch, extra.to(batch.dtype)], dim=1)
        padded.append(batch)
    return torch.cat(padded)


def lower_activations(
    encoder, split: int, items, batch_size: int, description: str, transform=None
) -> torch.Tensor:
    """Output of the encoder's first `split` layer groups for every item (batched)."""
    groups = encoder.layer_groups()[:split]

    def run(chosen: list) -> torch.Tensor:
        batch = encoder.body_input(chosen, transform)
        with torch.inference_mode():
            for group in groups:
                batch = group(batch)
        return batch.clone()

    return in_size_order(encoder, items, batch_size, run, description)


def in_size_order(encoder, items, batch_size: int, run, description: str) -> torch.Tensor:
    """`run(list of items) -> tensor` over every item in batches of similar size
    (Encoder.item_sizes), with progress; the rows come back in the items' order."""
    return by_size(
        len(items),
        encoder.item_sizes(items),
        batch_size,
        lambda chosen: run([items[i] for i in chosen]),
        description,
    )


def by_size(
    count: int, sizes: np.ndarray | None, batch_size: int, run, description: str
) -> torch.Tensor:
    """`run(indices) -> tensor` over indices 0..count-1 in batches cut from the shortest to
    the longest item (a text batch is padded to its longest member, so batches in the
    data's order pad far more), with progress; the rows come back in index order."""
    order = np.arange(count) if sizes is None else np.argsort(sizes, kind="stable")
    outputs = []
    with progress_bar(count, description) as advance:
        for start in range(0, count, batch_size):
            check_active()  # a budgeted fit stops here too, not only per epoch
            chosen = order[start : start + batch_size]
            outputs.append(run(chosen))
            advance(len(chosen))
    return unsorted(cat_padded(outputs), order)


def frozen_output(
    modules: list[nn.Module], x: torch.Tensor, sizes: np.ndarray | None, batch_size: int
) -> torch.Tensor:
    """Output of frozen `modules` (in sequence, inference mode) for every row of `x`."""
    network = FrozenNormSequential(*modules).eval()

    def run(chosen: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return network(x[torch.from_numpy(chosen)])

    return by_size(len(x), sizes, batch_size, run, "Frozen upper layers")


def network_probabilities(network: nn.Module, encoder, items, batch_size: int) -> np.ndarray:
    """Class probabilities of `network` (body input -> probabilities) for every item."""

    def run(chosen: list) -> torch.Tensor:
        with torch.inference_mode():
            return network(encoder.body_input(chosen))

    return in_size_order(encoder, list(items), batch_size, run, "Predicting").double().numpy()


def unsorted(rows: torch.Tensor, order: np.ndarray) -> torch.Tensor:
    """`rows` computed for items taken in `order`, back in the items' own order."""
    if np.array_equal(order, np.arange(len(order))):
        return rows
    return rows[torch.from_numpy(np.argsort(order))]


@register
class FineTune(Strategy):
    """Fine-tune the top `top_groups` layer groups of an encoder and a new head.

    unfreeze="gradual": head first, then one more group per stage (default);
    "top": head and the top groups together; "head": the head only, on the body's maps;
    "all": every group and the head together from the start (nothing cached; slowest).
    lr="auto" picks the head's rate with a learning-rate range test (train.loop.find_lr).
    `augment` (none, light, medium, strong) with `copies` augmented versions per item —
    default light for images, none for texts: EDA-style word edits (augment.text) rarely
    help pretrained transformers (Longpre et al. 2020) and multiply the training time —
    and `mix` (none, mixup, cutmix) on the cached feature maps (images only).
    consistency="fixmatch" with an unlabeled pool (fit's `unlabeled`) adds FixMatch
    (train.consistency): a weak and a strong view of each pool item (light and strong
    augmentation for images; the text itself and strong EDA edits for texts), computed
    once through the frozen lower layers, pseudo-labels where the weak view's confidence
    reaches `consistency_threshold`, and `UNLABELED_RATIO` pool items per labeled one.
    """

    name = "finetune"
    # the modality adds its own choices (augmentations: Modality.search_choices)
    search_space = {
        "unfreeze": ["gradual", "top"],
        "top_groups": [2, 1, 3],
        "lr": [3e-3, 1e-3, 1e-2],
    }
    needs = frozenset({"layers"})
    trains_body = True

    constraints = {
        "unfreeze": [OneOf(UNFREEZE)],
        "top_groups": [Between(0, integer=True)],
        "epochs": [Between(1, integer=True)],
        "lr": [Between(0, above=True), OneOf(("auto",))],
        "layer_decay": [Between(0, 1)],
        "loss": [OneOf(LOSSES)],
        "dropout": [Between(0, 1)],
        "batch_size": [Between(1, integer=True)],
        "augment": [OneOf(IMAGE_PRESETS), None],
        "copies": [Between(0, integer=True)],
        "mix": [OneOf(MIXES)],
        "consistency": [OneOf(CONSISTENCY)],
        "consistency_threshold": [Between(0, 1)],
        "random_state": [Between(integer=True)],
    }

    def __init__(
        self,
        unfreeze: str = "gradual",
        top_groups: int = 2,
        epochs: int = 8,
        lr: float | str = 3e-3,
        layer_decay: float = 0.5,
        loss: str = "ce",
        dropout: float = 0.2,
        batch_size: int = 16,
        augment: str | None = None,
        copies: int = 4,
        mix: str = "none",
        consistency: str = "none",
        consistency_threshold: float = 0.95,
        random_state: int = 0,
    ):
        self.unfreeze = unfreeze
        self.top_groups = top_groups
        self.epochs = epochs
        self.lr = lr
        self.layer_decay = layer_decay
        self.loss = loss
        self.dropout = dropout
        self.batch_size = batch_size
        self.augment = augment
        self.copies = copies
        self.mix = mix
        self.consistency = consistency
        self.consistency_threshold = consistency_threshold
        self.random_state = random_state

    def _build(self, encoder, n_classes: int) -> tuple[int, FrozenNormSequential]:
        if self.mix != "none" and "feature_maps" not in encoder.capabilities:
            raise SmallfitError(
                f"mix={self.mix!r} works on images only (feature maps to cut and mix); "
                "use mix='none'."
            )
        groups = encoder.layer_groups()
        if not 0 <= self.top_groups < len(groups):
            raise SmallfitError(f"top_groups must be between 0 and {len(groups) - 1}.")
        split = 0 if self.unfreeze == "all" else len(groups) - self.top_groups
        torch.manual_seed(self.random_state)
        upper = FrozenNormSequential(
            *copy.deepcopy(groups[split:]),  # never touch the shared encoder's weights
            encoder.pooling(),
            nn.Dropout(self.dropout),
            nn.Linear(encoder.dim, n_classes),
        )
        return split, upper

    def _lower(self, items, description: str, transform=None) -> torch.Tensor:
        """Output of the frozen lower groups for every item (computed once, batched)."""
        return lower_activations(
            self.encoder_, self.split_, items, self.batch_size, description, transform
        )

    def fit(self, dataset, encoder, unlabeled=None, target_unlabeled=None) -> FineTune:
        self._remember(dataset, encoder)
        self.split_, self.upper_ = self._build(encoder, len(dataset.classes))
        x = self._lower(dataset.items, "Computing frozen activations")
        if target_unlabeled is not None:
            target = self._lower(target_unlabeled.items, "Computing target-pool activations")
        y = torch.from_numpy(dataset.y)
        fit_part, val_part = early_stopping_split(dataset.y, 0.2, self.random_state)
        self.early_stopping_ = len(val_part) > 0  # else: fixed epochs
        item_sizes = encoder.item_sizes(dataset.items)
        val_part = shortest_first(val_part, item_sizes)
        validation = (x[val_part], y[val_part]) if len(val_part) else None
        if validation is None:
            fit_part = np.arange(len(dataset))
        xs, ys = [x[fit_part]], [y[fit_part]]
        augment = self._resolved("augment", encoder.modality, "none")
        fit_items = [dataset.items[i] for i in fit_part]
        augmented = encoder.transform(train=True, augment=augment, corpus=fit_items)
        if augment != "none" and augmented is not None:
            for copy_index in range(self.copies):
                torch.manual_seed(self.random_state * 1000 + copy_index)  # repeatable copies
                xs.append(
                    self._lower(
                        fit_items,
                        f"Augmented copy {copy_index + 1}/{self.copies}",
                        augmented,
                    )
                )
                ys.append(y[fit_part])
        x, y = cat_padded(xs), torch.cat(ys)  # augmented texts may be longer or shorter
        sizes, val_sizes = None, None
        if item_sizes is not None:
            sizes, val_sizes = np.tile(item_sizes[fit_part], len(xs)), item_sizes[val_part]
        hook = self._consistency(unlabeled, fit_items)
        top = self.top_count
        blocks, head = list(self.upper_.children())[:top], self._head()
        self.lr_ = self._initial_rate(head, x, y) if self.lr == "auto" else float(self.lr)
        stages = {"gradual": range(top + 1), "top": [top], "head": [0], "all": [top]}
        self.history_ = []
        for stage in stages[self.unfreeze]:
            trainable = blocks[len(blocks) - stage :] if stage else []
            for parameter in self.upper_.parameters():
                parameter.requires_grad = False
            for module in [*trainable, head]:
                for parameter in module.parameters():
                    parameter.requires_grad = True
            settings = TrainSettings(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr_ if stage == 0 else self.lr_ * encoder.body_lr_ratio,
                layer_decay=self.layer_decay,
                loss=self.loss,
                mix=self.mix,
                seed=self.random_state + stage,
            )
            adversarial = None
            if target_unlabeled is not None and stage:  # it moves features: not head-only
                adversarial = dann_loss(self.upper_, target, len(x), settings)
            unlabeled_loss = combined([hook, adversarial])
            model, stage_x, stage_validation = self.upper_, x, validation
            frozen = blocks[: len(blocks) - stage]
            if frozen and unlabeled_loss is None and self.mix == "none":
                # the stage's frozen blocks give the same output every epoch: compute it
                # once (the hooks and the mixes act on the lower activations themselves)
                model = FrozenNormSequential(*trainable, head)
                stage_x = frozen_output(frozen, x, sizes, self.batch_size)
                if validation is not None:
                    stage_validation = (
                        frozen_output(frozen, validation[0], val_sizes, self.batch_size),
                        validation[1],
                    )
            self.history_ += train(
                model,
                [*trainable, head],
                stage_x,
                y,
                settings,
                stage_validation,
                description=f"Fine-tuning (stage {stage}: head + {stage} group(s))",
                unlabeled=unlabeled_loss,
                sizes=sizes,
            )
        for parameter in self.upper_.parameters():
            parameter.requires_grad = False
        return self

    def _consistency(self, unlabeled, fit_items: list) -> FixMatchLoss | None:
        """The FixMatch hook on the pool's two fixed views, or None (no pool, or not asked)."""
        if self.consistency == "none" or unlabeled is None:
            return None
        pool = list(unlabeled.items)
        encoder = self.encoder_
        weak = modalities.get(encoder.modality).weak_augment  # a text's: itself
        views = []
        for number, preset in enumerate((weak, "strong")):
            transform = encoder.transform(train=True, augment=preset, corpus=fit_items + pool)
            torch.manual_seed(self.random_state * 1000 + 500 + number)  # repeatable views
            views.append(self._lower(pool, f"Pool, {preset} view", transform))
        return FixMatchLoss(
            *views,
            loss=self.loss,
            threshold=self.consistency_threshold,
            batch_size=UNLABELED_RATIO * self.batch_size,
        )

    @property
    def top_count(self) -> int:
        """How many layer groups sit above the frozen, cached part (all of them for "all")."""
        return len(self.upper_) - 3  # upper = groups + pooling, dropout, linear

    def _head(self) -> nn.Sequential:
        """Pooling, dropout and the linear layer: the part above the layer groups."""
        return nn.Sequential(*list(self.upper_.children())[self.top_count :])

    def lr_range_test(self, dataset, encoder) -> tuple[float, list[tuple[float, float]]]:
        """The range test that lr="auto" runs, on all of `dataset` (for `smallfit lr-find`):
        the suggested head rate and the (rate, smoothed loss) curve."""
        self._remember(dataset, encoder)
        self.split_, self.upper_ = self._build(encoder, len(dataset.classes))
        x = self._lower(dataset.items, "Computing frozen activations")
        suggestion = self._initial_rate(self._head(), x, torch.from_numpy(dataset.y))
        return suggestion, self.lr_curve_

    def _initial_rate(self, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        """lr="auto": a learning-rate range test on the head with the body frozen."""
        for parameter in self.upper_.parameters():
            parameter.requires_grad = False
        for parameter in head.parameters():
            parameter.requires_grad = True
        settings = TrainSettings(batch_size=self.batch_size, loss=self.loss, seed=self.random_state)
        self.lr_curve_ = find_lr(self.upper_, [head], x, y, settings)[1]
        return find_lr_suggestion(self.lr_curve_)

    def predict_proba(self, items) -> np.ndarray:
        return network_probabilities(self.inference_module(), self.encoder_, items, self.batch_size)

    def inference_module(self) -> nn.Module:
        lower = self.encoder_.layer_groups()[: self.split_]
        return nn.Sequential(*lower, self.upper_, Probabilities(self.loss)).eval()

    def get_state(self):
        arrays = {k: v.detach().numpy() for k, v in self.upper_.state_dict().items()}
        return arrays, {"split": self.split_, "n_classes": len(self.classes_)}

    def set_state(self, arrays, config, encoder) -> FineTune:
        self.encoder_ = encoder
        self.split_, self.upper_ = self._build(encoder, config["n_classes"])
        self.upper_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
        self.upper_.eval()
        return self

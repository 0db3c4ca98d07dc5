"""The one training loop every trainable strategy uses.

AdamW (or SGD) with one parameter group per layer group and discriminative learning
rates (the top group gets `lr`, each group below it `layer_decay` times the one above),
a one-cycle or warm-up + cosine schedule per step, gradient clipping, gradient
accumulation, mixup or cutmix, early stopping on a held-out validation part with the best weights
restored, and a progress bar showing loss and validation accuracy per epoch.

Unlabeled data joins through one hook (`UnlabeledLoss`): each step the loop draws a
batch of unlabeled indices and adds the hook's loss to the labeled one. FixMatch-style
consistency (semi-supervised) and DANN-style domain confusion (domain adaptation) are
both such hooks, so neither needs a loop of its own.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smallfit.augment import shifted
from smallfit.budget import check_active
from smallfit.progress import progress_bar
from smallfit.train import checkpoint
from smallfit.train.checkpoint import changing_state
from smallfit.train.losses import accuracy, classification_loss
from smallfit.train.norms import refresh_batch_norm

OPTIMIZERS = ("adamw", "sgd")
MIXES = ("none", "mixup", "cutmix")
SCHEDULES = ("onecycle", "cosine", "constant")


@dataclass
class TrainSettings:
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    layer_decay: float = 0.5
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    warmup: float = 0.1
    grad_clip: float | None = 1.0
    accumulate: int = 1
    patience: int = 4
    loss: str = "ce"
    mix: str = "none"
    mix_alpha: float = 0.4
    shift: int = 0  # move each image input by up to this many pixels (augmentation)
    # recompute batch-norm statistics on the training inputs before each evaluation
    # (refresh_batch_norm); costs a forward pass an epoch, so it is for networks whose
    # statistics go stale: those trained from random weights
    refresh_norms: bool = False
    seed: int = 0


class UnlabeledLoss:
    """What the loop needs from a loss on unlabeled data.

    `module`: extra trainable weights (a domain classifier, say) or None; they train with
    the top group's learning rate and are checkpointed with the model. `size`: how many
    unlabeled items there are; `batch_size`: how many the loop draws per step. `tensors()`:
    the data the loss reads (identifies the run for checkpoints). `__call__(model,
    inputs, indices)` returns the loss for one step, given the labeled batch's inputs
    and the drawn unlabeled indices.
    """

    module: nn.Module | None = None
    size: int = 0
    batch_size: int = 32

    def tensors(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, indices: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError


class CombinedLoss(UnlabeledLoss):
    """Several unlabeled losses at once (a pool for consistency and one for adaptation)."""

    def __init__(self, parts: list[UnlabeledLoss]):
        self.parts = parts
        modules = [p.module for p in parts if p.module is not None]
        self.module = nn.ModuleList(modules) if modules else None
        self.size = max(p.size for p in parts)
        self.batch_size = max(p.batch_size for p in parts)

    def tensors(self) -> list[torch.Tensor]:
        return [t for p in self.parts for t in p.tensors()]

    def __call__(self, model, inputs, indices):
        # each part draws within its own size: indices are scaled from the largest pool
        total = 0.0
        for part in self.parts:
            own = (indices * part.size) // self.size
            total = total + part(model, inputs, own[: part.batch_size])
        return total


def combined(parts: list[UnlabeledLoss | None]) -> UnlabeledLoss | None:
    """One hook from any number of optional hooks (None when there are none)."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else CombinedLoss(present)


def parameter_groups(groups: list[nn.Module], settings: TrainSettings) -> list[dict]:
    """One optimiser group per layer group, learning rate decaying from the top down.

    Biases and normalisation weights get no weight decay (decaying them only hurts).
    """
    result = []
    for depth, module in enumerate(reversed(groups)):
        lr = settings.lr * settings.layer_decay**depth
        decayed, plain = [], []
        for parameter in module.parameters():
            if parameter.requires_grad:
                (plain if parameter.ndim <= 1 else decayed).append(parameter)
        result += [
            {"params": decayed, "lr": lr, "weight_decay": settings.weight_decay},
            {"params": plain, "lr": lr, "weight_decay": 0.0},
        ]
    return [g for g in result if g["params"]]


def make_optimizer(groups: list[dict], settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(groups)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, nesterov=True)
    raise ValueError(f"Unknown optimizer {settings.optimizer!r}; choose from {OPTIMIZERS}.")


def make_schedule(optimizer, settings: TrainSettings, total_steps: int):
    peaks = [g["lr"] for g in optimizer.param_groups]
    if settings.schedule == "onecycle" and total_steps >= 4:
        # at least 2.5 warm-up steps: torch's one-cycle divides by the warm-up length
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=peaks,
            total_steps=total_steps,
            pct_start=max(settings.warmup, 2.5 / total_steps),
        )
    if settings.schedule == "cosine":
        warmup = max(1, int(settings.warmup * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if settings.schedule in ("constant", "onecycle"):  # one-cycle needs a few steps
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"Unknown schedule {settings.schedule!r}; choose from {SCHEDULES}.")


def own_global_rng(function):
    """Run `function` on a fork of torch's global generator: the training loop seeds it (for
    dropout, which draws only from it) without changing the caller's random state."""

    @functools.wraps(function)
    def forked(*args, **kwargs):
        with torch.random.fork_rng():
            return function(*args, **kwargs)

    return forked


@own_global_rng
def train(
    model: nn.Module,
    groups: list[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    class_weight: torch.Tensor | None = None,
    description: str = "Training",
    unlabeled: UnlabeledLoss | None = None,
    sizes: np.ndarray | None = None,
) -> list[dict]:
    """Train `model` (inputs -> logits) in place; return the per-epoch history.

    With a pair loss (train.losses.PAIR_LOSSES), `x` holds pairs of item indices, `y` the
    two items' labels, and the model maps a batch of pairs to their embeddings.

    With `validation`, training stops after `patience` epochs without a lower
    validation loss and the weights of the best epoch are restored. With `unlabeled`,
    its loss on a drawn unlabeled batch is added at every step. With `sizes` (a length
    per item of `x`: Encoder.item_sizes), batches group items of similar length.
    """
    torch.manual_seed(settings.seed)  # the forked global generator (own_global_rng)
    generator = torch.Generator().manual_seed(settings.seed)
    # what trains and is checkpointed: the model, plus the unlabeled loss's own weights
    tracked = model
    if unlabeled is not None and unlabeled.module is not None:
        tracked = nn.ModuleDict({"model": model, "unlabeled": unlabeled.module})
    store = checkpoint.active()
    extra = unlabeled.tensors() if unlabeled is not None else []
    key = store and store.run_key(tracked, [x, y, *(validation or ()), *extra], settings)
    saved = store and store.load(key)
    if saved and saved["done"]:  # this run finished before an interruption
        tracked.load_state_dict(saved["weights"], strict=False)
        torch.set_rng_state(saved["rng"])
        store.restored_runs += 1
        model.eval()
        return saved["history"]
    if unlabeled is not None and unlabeled.module is not None:
        groups = [*groups[:-1], nn.ModuleList([groups[-1], unlabeled.module])]
    optimizer = make_optimizer(parameter_groups(groups, settings), settings)
    batches_per_epoch = math.ceil(len(x) / settings.batch_size)
    steps = settings.epochs * math.ceil(batches_per_epoch / settings.accumulate)
    schedule = make_schedule(optimizer, settings, steps)
    history: list[dict] = []
    best_loss, best_state, waited, stop = math.inf, None, 0, False
    if saved:  # continue an interrupted run at its next epoch
        tracked.load_state_dict(saved["weights"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["rng"])
        history, best_loss, best_state = saved["history"], saved["best_loss"], saved["best"]
        waited, stop = saved["waited"], saved["stop"]
        store.resumed_epochs += len(history)
    with progress_bar(settings.epochs, description) as advance:
        advance(len(history))
        for epoch in range(len(history), 0 if stop else settings.epochs):
            check_active()
            model.train()
            total = 0.0
            for index, batch in enumerate(
                batch_order(len(x), settings.batch_size, generator, sizes)
            ):
                inputs = shifted(x[batch], settings.shift, generator)
                inputs, partner, share = mixed(inputs, settings, generator)
                logits = model(inputs)
                loss = share * classification_loss(logits, y[batch], settings.loss, class_weight)
                if share < 1.0:
                    loss = loss + (1.0 - share) * classification_loss(
                        logits, y[batch][partner], settings.loss, class_weight
                    )
                if unlabeled is not None:
                    drawn = torch.randint(
                        unlabeled.size, (unlabeled.batch_size,), generator=generator
                    )
                    loss = loss + unlabeled(model, inputs, drawn)
                (loss / settings.accumulate).backward()
                total += loss.item() * len(batch)
                last = index + 1 == batches_per_epoch
                if (index + 1) % settings.accumulate == 0 or last:
                    if settings.grad_clip:
                        nn.utils.clip_grad_norm_(tracked.parameters(), settings.grad_clip)
                    optimizer.step()
                    optimizer.zero_grad()
                    if schedule.last_epoch + 1 < steps:
                        schedule.step()
            record = {"epoch": epoch + 1, "train_loss": total / len(x)}
            evaluated = validation is not None or epoch + 1 == settings.epochs
            if settings.refresh_norms and unlabeled is None and evaluated:
                refresh_batch_norm(model, x, settings.batch_size)
            if validation is not None:
                record |= evaluate(model, *validation, settings.loss, settings.batch_size)
                if record["val_loss"] < best_loss - 1e-4:
                    best_loss, waited = record["val_loss"], 0
                    best_state = {k: v.clone() for k, v in changing_state(tracked).items()}
                else:
                    waited += 1
            history.append(record)
            advance(status=", ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "epoch"))
            # no stopping while the learning rate still warms up: early epochs are noisy
            warmed_up = epoch + 1 >= settings.warmup * settings.epochs + settings.patience
            stop = validation is not None and waited >= settings.patience and warmed_up
            if store:
                store.save(
                    key,
                    {
                        "done": False,
                        "epoch": epoch + 1,
                        "weights": changing_state(tracked),
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "generator": generator.get_state(),
                        "rng": torch.get_rng_state(),
                        "history": history,
                        "best_loss": best_loss,
                        "best": best_state,
                        "waited": waited,
                        "stop": stop,
                    },
                )
            if stop:
                break
    if best_state is not None:
        tracked.load_state_dict(best_state, strict=False)
    model.eval()
    if store:
        store.save(
            key,
            {
                "done": True,
                "epoch": len(history),
                "weights": changing_state(tracked),
                "rng": torch.get_rng_state(),
                "history": history,
            },
        )
    return history


GROUPED_BATCHES = 8  # batches per group sorted by length: little padding, still shuffled


def batch_order(
    n: int, batch_size: int, generator: torch.Generator, sizes: np.ndarray | None = None
) -> list[torch.Tensor]:
    """One epoch's mini-batches of indices, in a random order.

    With `sizes`, the shuffled items are cut into groups of GROUPED_BATCHES batches and
    sorted by size within each group, so that a batch of texts holds similar lengths:
    a text batch is padded to its longest member, and on short-text data random batches
    are half padding (2x the work on every layer; the group_by_length idea of Hugging
    Face's Trainer). Groups keep batch membership random from epoch to epoch; the
    batches are shuffled again so that lengths do not come in a pattern.
    """
    order = torch.randperm(n, generator=generator)
    if sizes is None:
        return list(order.split(batch_size))
    sizes = torch.as_tensor(np.asarray(sizes))
    group = GROUPED_BATCHES * batch_size
    batches = []
    for start in range(0, n, group):
        members = order[start : start + group]
        by_size = torch.argsort(sizes[members], descending=True, stable=True)
        batches += list(members[by_size].split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle]


def mixed(
    x: torch.Tensor, settings: TrainSettings, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup (Zhang et al. 2018) or cutmix (Yun et al. 2019) of a batch with a shuffle of
    itself: (inputs, partner order, share of the original), share ~ Beta(alpha, alpha).

    They act on whatever the loop trains on: for `finetune` that is the cached output of
    the frozen lower layers, so mixup mixes feature maps (manifold mixup) and cutmix pastes
    a box of one feature map into another.
    """
    if settings.mix not in MIXES:
        raise ValueError(f"Unknown mix {settings.mix!r}; choose from {MIXES}.")
    if settings.mix == "none" or len(x) < 2:
        return x, torch.arange(len(x)), 1.0
    if x.ndim != 4:
        raise ValueError("mixup and cutmix work on image feature maps (n, C, H, W) only.")
    partner = torch.randperm(len(x), generator=generator)
    # Beta draws from a numpy generator seeded by the loop's: a seed gives the same run
    seed = int(torch.randint(2**31, (1,), generator=generator))
    share = float(np.random.default_rng(seed).beta(settings.mix_alpha, settings.mix_alpha))
    if settings.mix == "mixup":
        return share * x + (1 - share) * x[partner], partner, share
    height, width = x.shape[-2:]
    cut_h, cut_w = int(height * (1 - share) ** 0.5), int(width * (1 - share) ** 0.5)
    top = int(torch.randint(height - cut_h + 1, (1,), generator=generator))
    left = int(torch.randint(width - cut_w + 1, (1,), generator=generator))
    out = x.clone()
    out[..., top : top + cut_h, left : left + cut_w] = x[partner][
        ..., top : top + cut_h, left : left + cut_w
    ]
    return out, partner, 1 - cut_h * cut_w / (height * width)  # the share actually kept


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, batch_size: int
) -> dict:
    """Validation loss and accuracy, the model applied in batches (rows given shortest
    first pad little; the loss is taken on all outputs at once, as some losses need)."""
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        return {
            "val_loss": float(classification_loss(logits, y, loss).item()),
            "val_accuracy": accuracy(logits, y, loss),
        }


MIN_VALIDATION_PER_CLASS = 2  # early stopping on fewer follows one item's noise
MIN_TRAIN_PER_CLASS = 3  # and a class must keep at least this many to train on


def early_stopping_split(
    y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) for early stopping: `fraction` of each class, at least
    MIN_VALIDATION_PER_CLASS of each; no validation at all (train on everything for the
    fixed number of epochs) when some class cannot spare that many and keep
    MIN_TRAIN_PER_CLASS to train on."""
    counts = np.bincount(y)
    if counts[counts > 0].min() < MIN_VALIDATION_PER_CLASS + MIN_TRAIN_PER_CLASS:
        return np.arange(len(y)), np.array([], dtype=np.int64)
    return stratified_holdout(y, fraction, seed, minimum=MIN_VALIDATION_PER_CLASS)


def stratified_holdout(
    y: np.ndarray, fraction: float, seed: int, minimum: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of each class with at least 3 examples,
    and at least `minimum` of each such class."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        take = int(round(fraction * len(members))) if len(members) >= 3 else 0
        take = max(take, minimum) if len(members) >= 3 else 0
        validation += members[:take].tolist()
        train += members[take:].tolist()
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(validation, dtype=np.int64))


def shortest_first(indices: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
    """`indices` ordered by their items' `sizes` (as they are without sizes): a validation
    part in this order is evaluated in batches that carry little padding."""
    if sizes is None:
        return indices
    return indices[np.argsort(np.asarray(sizes)[indices], kind="stable")]


def find_lr(
    model: nn.Module,
    groups: list[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    start: float = 1e-6,
    end: float = 1.0,
    steps: int = 60,
) -> tuple[float, list[tuple[float, float]]]:
    """Learning-rate range test (Smith 2017): raise the rate exponentially over `steps`
    mini-batches, record the smoothed loss, and suggest a tenth of the rate at its minimum.

    The model's weights are restored afterwards. Returns (suggestion, [(lr, loss), ...]).
    """
    initial = copy.deepcopy(model.state_dict())
    probe = TrainSettings(**{**settings.__dict__, "lr": 1.0})
    optimizer = make_optimizer(parameter_groups(groups, probe), probe)
    multipliers = [g["lr"] for g in optimizer.param_groups]  # discriminative ratios
    generator = torch.Generator().manual_seed(settings.seed)
    factor = (end / start) ** (1 / max(steps - 1, 1))
    curve: list[tuple[float, float]] = []
    smoothed, best = 0.0, math.inf
    model.train()
    for step in range(steps):
        rate = start * factor**step
        for group, multiplier in zip(optimizer.param_groups, multipliers, strict=True):
            group["lr"] = rate * multiplier
        batch = torch.randint(0, len(x), (min(settings.batch_size, len(x)),), generator=generator)
        loss = classification_loss(model(x[batch]), y[batch], settings.loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        smoothed = 0.8 * smoothed + 0.2 * loss.item() if step else loss.item()
        curve.append((rate, smoothed))
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > 4 * best:
            break
    model.load_state_dict(initial)
    model.eval()
    return find_lr_suggestion(curve), curve


def find_lr_suggestion(curve: list[tuple[float, float]]) -> float:
    """A tenth of the rate where the smoothed loss was lowest: fast, yet short of divergence."""
    return min(curve, key=lambda point: point[1])[0] / 10

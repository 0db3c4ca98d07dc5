"""Texts: a column of a table (CSV, TSV, JSON lines, Parquet), or Python strings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from smallfit.backbones.text import pack_tokens
from smallfit.data import Dataset
from smallfit.data.dataset import check_no_missing_labels
from smallfit.data.tables import (
    LABEL_NAMES,
    check_table_path,
    check_texts,
    choose_column,
    read_table,
    write_table,
)
from smallfit.errors import SmallfitError
from smallfit.modalities.base import Modality, RawFeatures

SNIPPET = 160  # characters of a text kept in model.json for the report
NOT_BLANK = r"\S"  # a served text must hold something other than white space
MAX_FEATURES = 20000  # per vectoriser; keeps the saved vocabulary and weights small
VECTORISERS = {
    "word": dict(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
    "char": dict(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True),
}


class Tfidf(RawFeatures):
    """TF-IDF of word 1-2-grams and character 2-5-grams, side by side (each block of unit
    length per text): on raw e-mails and jargon this often beats sentence embeddings."""

    def fit(self, items: list[Any]) -> Tfidf:
        self.fit_transform(items)
        return self

    def fit_transform(self, items: list[Any]) -> sp.csr_matrix:
        # one pass over the texts: counting n-grams is most of the cost (a fold's fit on 14
        # long e-mails spent 80% of its time there), and `fit` counts them already
        self.vectorisers_, blocks = {}, []
        for name, params in VECTORISERS.items():
            vectoriser = TfidfVectorizer(max_features=MAX_FEATURES, dtype=np.float32, **params)
            blocks.append(vectoriser.fit_transform(items))
            self.vectorisers_[name] = vectoriser
        return sp.hstack(blocks).tocsr()

    def transform(self, items: list[Any]) -> sp.csr_matrix:
        return sp.hstack([v.transform(items) for v in self.vectorisers_.values()]).tocsr()

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, config = {}, {}
        for name, vectoriser in self.vectorisers_.items():
            terms = sorted(vectoriser.vocabulary_, key=vectoriser.vocabulary_.get)
            config[f"{name}_vocabulary"] = terms
            arrays[f"{name}_idf"] = vectoriser.idf_.astype(np.float32)
        return arrays, config

    def set_state(self, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> Tfidf:
        self.vectorisers_ = {}
        for name, params in VECTORISERS.items():
            terms = config[f"{name}_vocabulary"]
            vectoriser = TfidfVectorizer(
                vocabulary={t: i for i, t in enumerate(terms)}, dtype=np.float32, **params
            )
            vectoriser.idf_ = arrays[f"{name}_idf"]
            self.vectorisers_[name] = vectoriser
        return self


# column names that conventionally hold the text, in order of preference
TEXT_NAMES = ("text", "sentence", "review", "content", "document", "body", "message")


class TextModality(Modality):
    name = "text"
    plural = "texts"
    python_items = "strings"
    default_backbone = "minilm"
    # pretrained embeddings (probe, prototype), the label names (zeroshot), the words
    # themselves (classic, TF-IDF), and words and embedding in one model (hybrid):
    # different views, so their combination can beat any one
    candidates = (
        ("probe", {}),
        ("prototype", {}),
        ("zeroshot", {}),
        ("classic", {}),
        ("hybrid", {}),
    )
    # SetFit-style contrastive tuning joins fine-tuning: its evidence (Tunstall et al.
    # 2022) is few-shot text classification, where it rivals fine-tuning.
    full_candidates = (("finetune", {}), ("contrastive", {}))
    search_choices = {"finetune": {"augment": [None, "light"]}}  # None: the default (none)
    # SetFit's loss: cosine similarity of a pair towards 1 (same class) or 0
    strategy_defaults = {"contrastive": {"loss": "pair_cosine"}}
    json_field = "texts"
    json_description = "texts, each with a character other than a space"

    def claims(self, item: Any) -> bool:
        return isinstance(item, str)

    def from_items(self, items: list[Any]) -> tuple[list[Any], list[str]]:
        names = [f"item {k}" for k in range(len(items))]
        return check_texts(items, names, "the given texts"), names

    def raw_features(self) -> Tfidf:
        return Tfidf()

    def check_into(self, into: Path, data: Path) -> None:
        check_table_path(into, data)

    def write_labeled(
        self,
        data: Path,
        into: Path,
        items: list[Any],
        labels: list[Any],
        *,
        text_column: str | None,
        label_column: str | None,
    ) -> None:
        """The table `data` with the texts and labels appended as rows, in its text and
        label columns, written in the format of `into`'s extension."""
        frame = read_table(data)
        text_col, label_col = text_and_label_columns(
            frame, text_column, label_column, labeled=True, source=str(data)
        )
        rows = pd.DataFrame({text_col: items, label_col: labels})
        write_table(pd.concat([frame, rows], ignore_index=True), into)

    def shown(self, item: Any, name: str) -> str:
        return item

    def snippet(self, item: Any) -> dict[str, str]:
        text = " ".join(str(item).split())
        return {"text": text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"}

    def example_html(self, entry: dict, esc) -> str:
        name = entry.get("item", "")
        if "text" in entry:
            return f'<q title="{esc(name)}">{esc(entry["text"])}</q>'
        return f"<code>{esc(name)}</code>"

    def json_item_type(self) -> Any:
        from pydantic import Field

        return Annotated[str, Field(pattern=NOT_BLANK)]

    def json_example(self) -> list[Any]:
        return ["The striker scored twice.", "Stir the onions until golden."]

    def warm_up_items(self) -> list[Any]:
        return ["warm-up"]

    export_axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
    }

    def export_graph(self, network: Any) -> Any:
        return TextGraph(network)

    def export_example(self, encoder: Any, n: int) -> dict[str, Any]:
        """Texts of different lengths, tokenised by the encoder."""
        texts = [" ".join(["an example text"] * (i + 1)) for i in range(n)]
        packed = encoder.body_input(texts)
        return {"input_ids": packed[..., 0].long(), "attention_mask": packed[..., 1].long()}

    def near_duplicate_distances(self, items: list[Any]) -> tuple[np.ndarray, str] | None:
        return shingle_distances(items), "word 3-grams"


class TextGraph(torch.nn.Module):
    """input_ids, attention_mask -> probabilities (the network takes them packed)."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network(pack_tokens(input_ids, attention_mask))


def from_frame(
    frame: pd.DataFrame,
    *,
    text_column: str | None,
    label_column: str | None,
    labeled: bool,
    source: str = "the DataFrame",
) -> Dataset:
    """A text Dataset from a table, choosing columns by name when they are not given."""
    if frame.empty:
        raise SmallfitError(f"{source} has no rows.")
    text_col, label_col = text_and_label_columns(
        frame, text_column, label_column, labeled=labeled, source=source
    )
    names = [
        f"row {i + 2}" if source.endswith((".csv", ".tsv")) else f"row {i + 1}"
        for i in range(len(frame))
    ]
    texts = check_texts(frame[text_col].tolist(), names, source)
    labels = None
    if label_col is not None:
        labels = frame[label_col].tolist()
        check_no_missing_labels(labels, names, source)
        labels = np.array(labels, dtype=object)
    return Dataset(items=texts, modality="text", labels=labels, names=names, source=source)


def text_and_label_columns(
    frame: pd.DataFrame,
    text_column: str | None,
    label_column: str | None,
    *,
    labeled: bool,
    source: str,
) -> tuple[str, str | None]:
    """The text column and the label column (None if unlabeled and none is given), chosen
    by name when not given; a single column of strings left is taken as the text."""
    label_col = None
    if labeled or label_column is not None:
        label_col = choose_column(frame, label_column, LABEL_NAMES, "label", source)
    text_col = choose_column(
        frame,
        text_column,
        TEXT_NAMES,
        "text",
        source,
        exclude={label_col} if label_col else set(),
        fallback_only_strings=True,
    )
    return text_col, label_col


def shingle_distances(texts: list[str]) -> np.ndarray:
    """1 - Jaccard overlap of the texts' sets of case-folded word 3-grams (1 with none)."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(ngram_range=(3, 3), binary=True, lowercase=True)
    try:
        shingles = vectorizer.fit_transform(texts)
    except ValueError:  # no text has three words
        return np.ones((len(texts), len(texts)))
    shared = (shingles @ shingles.T).toarray().astype(np.float64)
    sizes = np.asarray(shingles.sum(axis=1)).ravel().astype(np.float64)
    union = sizes[:, None] + sizes[None, :] - shared
    return 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)

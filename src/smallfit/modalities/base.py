"""The Modality contract: everything smallfit knows about one kind of item, in one class.

A modality says how its items are recognised and read, checked and shown, how newly
labeled ones are written into new training data, which encoder and candidate strategies a
fit starts from, what its test-time views and search choices are, how a served model
receives them, and how near-duplicates are measured. The rest of
the library asks the registered modality (`smallfit.modalities.get(name)`) instead of
branching on its name, so a new kind of item is one new subclass, registered with
`smallfit.modalities.register`, the way strategies and encoders are registered.

Class attributes are declarations; methods have the defaults a modality of plain Python
objects needs, so a subclass overrides only what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from smallfit.data import Dataset
from smallfit.errors import SmallfitError


class BadUpload(Exception):
    """A served request's item cannot be used; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class RawFeatures:
    """An item's own features, without transfer: what the no-transfer baseline (`classic`)
    and `hybrid` learn from. `fit` learns what the features need (a vocabulary); that
    state round-trips as (arrays, config), as a strategy's does."""

    backbone: ClassVar[str | None] = None  # the encoder computing them, if one does
    scale: ClassVar[bool] = False  # standardise each column first (dense, unequal spreads)
    dense: ClassVar[bool] = False  # a numpy array (not a sparse matrix): trees can read it
    max_rank: ClassVar[int | None] = None  # the head works in at most this many directions

    def fit(self, items: list[Any]) -> RawFeatures:
        return self

    def transform(self, items: list[Any]) -> Any:
        """(n, d) features: a numpy array or a scipy sparse matrix."""
        raise NotImplementedError

    def fit_transform(self, items: list[Any]) -> Any:
        """`fit`, then the same items' features (overridden where fitting already computes
        them: TF-IDF's counting is most of its cost)."""
        return self.fit(items).transform(items)

    def encoders(self) -> list[Any]:
        """The encoders computing these features (see Strategy.encoders)."""
        from smallfit import backbones

        return [backbones.create(self.backbone)] if self.backbone else []

    def onnx_export(self) -> Any:
        """These fitted features as a scikit-learn transformer skl2onnx converts, with
        the graph's inputs (a table's: modalities.table_onnx.TableExport); raises
        NotImplementedError when they have none, SmallfitError naming why not."""
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {}

    def set_state(self, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> RawFeatures:
        return self


class LonePredictor(NamedTuple):
    """A column (or other part of the items) that alone predicts the label."""

    column: str
    accuracy: float  # cross-validated, from this column alone
    others: float  # cross-validated, from every other column together


class Modality:
    name: ClassVar[str]  # "image": Dataset.modality and model.json say it
    plural: ClassVar[str]  # "images": messages and the report
    python_items: ClassVar[str] = ""  # the Python objects it takes, for error messages
    default_backbone: ClassVar[str]  # the encoder a fit uses unless told otherwise
    # The encoders the default comparison runs each embedding strategy on, those of them
    # installed (empty: the default one alone): for kinds of item where no one encoder
    # suits all data, so that the user's data chooses.
    candidate_backbones: ClassVar[tuple[str, ...]] = ()
    # The default comparison, in order (a tie goes to the earlier): (strategy, params),
    # or (strategy, params, encoder) for a candidate whose default encoder is another
    # (the user's choice of encoder still wins; an encoder not installed falls back).
    # probe's torch head (cosine / cosine+CE loss) is no default: with a fixed number of
    # epochs it trailed the logistic head on every cross-validation we ran.
    candidates: ClassVar[tuple[tuple, ...]]
    # Costlier candidates (for images and texts the strategies that train the encoder,
    # minutes rather than seconds): they join the comparison when the user asks for them
    # (candidates="full").
    full_candidates: ClassVar[tuple[tuple[str, dict], ...]] = ()
    # Search choices that depend on the kind of item, per strategy (augmentations, mixing).
    search_choices: ClassVar[dict[str, dict[str, list]]] = {}
    # Values a strategy takes on this kind of item for a parameter it leaves None, per
    # strategy (finetune's augmentation, contrastive's pair loss).
    strategy_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    weak_augment: ClassVar[str] = "none"  # the weak view FixMatch compares a strong one with
    # Said after a fit whose classes include none named like BACKGROUND_NAMES (None: nothing):
    # for kinds of item where a model usually hears or sees things outside its classes.
    background_advice: ClassVar[str | None] = None
    examples_per_class: ClassVar[int] = 2  # shown per class in the report
    # How a served model takes its items: as uploaded files (multipart/form-data), or
    # as a JSON list in the field `json_field`.
    upload_files: ClassVar[bool] = False
    upload_description: ClassVar[str] = "files"  # what the upload field takes
    json_field: ClassVar[str] = "items"
    json_description: ClassVar[str] = "items"  # what the JSON list holds, each
    request_limits: ClassVar[dict[str, int]] = {}  # limits of its own, shown at /model

    # -- reading and checking ----------------------------------------------------------
    def claims(self, item: Any) -> bool:
        """Whether a Python item given to the API is one of this modality's."""
        return False

    def from_items(self, items: list[Any]) -> tuple[list[Any], list[str]]:
        """Python items checked (and converted, e.g. str paths to Paths), with the name
        each is shown by; raises SmallfitError naming the items that are unusable."""
        return items, [f"item {k}" for k in range(len(items))]

    def read_path(self, path: Path, labeled: bool) -> Dataset | None:
        """A folder or file (not a table) read as a Dataset, or None if it is not ours."""
        return None

    def finds(self, folder: Path) -> bool:
        """Whether `folder` holds files of this kind (anywhere below it): a folder holding
        two kinds is refused rather than half read."""
        return False

    def drop_unreadable(self, dataset: Dataset, skip_bad: bool) -> Dataset:
        """`dataset` without the items that cannot be read (skip_bad), or an error naming them."""
        return dataset

    def input_schema(self, dataset: Dataset) -> dict[str, Any] | None:
        """What a model records of its training input, to read later input the same way
        (a table's column types); None: nothing."""
        return None

    def conform(self, dataset: Dataset, schema: dict[str, Any] | None) -> Dataset:
        """`dataset` read as the model's training input was (`schema`, from input_schema),
        or an error naming what does not fit; unchanged by default."""
        return dataset

    def windows(self, items: list[Any], schema: dict[str, Any] | None) -> list[list[Any]] | None:
        """Each item as the parts a model predicts one by one and pools (a recording far
        longer than the training clips, as windows of their length); None: every item
        is predicted whole, as by default."""
        return None

    def describe_input(self, schema: dict[str, Any]) -> str:
        """The training input's `schema` (see input_schema) in words, for the CLI."""
        return ""

    def fitted_to(self, schema: dict[str, Any] | None) -> Modality:
        """This modality as a fitted model's input (`schema`) makes it, for serving: the
        JSON a request holds may depend on it (a table's columns)."""
        return self

    def raw_features(self) -> RawFeatures | None:
        """A fresh extractor of the items' own features (for classic and hybrid); None:
        this kind of item has none, and those strategies do not run on it."""
        return None

    # -- describing the data (the report) -----------------------------------------------
    def data_summary(self, dataset: Dataset) -> list[dict[str, Any]] | None:
        """What the training items' parts hold (a table's columns: type, missing share,
        range or commonest values), kept in model.info for the report; None: nothing."""
        return None

    def columns(self, dataset: Dataset) -> list[str]:
        """The parts of the items a model learns from, one at a time (a table's used
        columns), whose values permutation importance shuffles; none by default."""
        return []

    def shuffle_column(self, items: list[Any], column: str, order: np.ndarray) -> list[Any]:
        """`items` with `column`'s values taken from `items[order]` (all else unchanged)."""
        raise NotImplementedError

    # -- drift (smallfit drift) ------------------------------------------------------------
    def reference_sample(self, items: list[Any]) -> list[dict] | None:
        """What a model keeps of its sampled training `items` beside their features, as
        JSON-able records, for `column_drift`; None (the default): nothing."""
        return None

    def column_drift(self, sample: list[dict], items: list[Any]) -> list[dict[str, Any]]:
        """A two-sample test per part of an item (a table's columns) between the stored
        `sample` (see reference_sample) and new `items`: one dict each with at least
        `column`, `test`, `statistic` and `p_value` (uncorrected); none by default."""
        return []

    # -- adding labels (smallfit add-labels) ---------------------------------------------
    def written(self, item: Any, name: str) -> str:
        """How an item is written in a suggestion file's `item` column, for answer_items
        to find it again; by default as it is shown."""
        return self.shown(item, name)

    def answer_items(self, values: list[str], rows: list[int], answers: Path) -> list[Any]:
        """The items named by the `item` column of a filled-in suggestion CSV (`answers`;
        `rows`: their row numbers in the file, for errors), in order; by default the
        strings themselves."""
        return list(values)

    def check_into(self, into: Path, data: Path) -> None:
        """Raise SmallfitError, before any work, if the new path `into` cannot hold
        training data like `data`; by default any new path can."""

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
        """Write NEW training data `into`: the labeled data at `data` (read with these
        columns) plus `items` with their `labels`, leaving `data` and the items unchanged."""
        raise SmallfitError(f"add-labels cannot write new training data of {self.plural}.")

    # -- showing -----------------------------------------------------------------------
    def shown(self, item: Any, name: str) -> str:
        """How an item is named for a person in the CLI's tables and the files it writes."""
        return name

    def snippet(self, item: Any) -> dict[str, str]:
        """What model.json keeps of an example item for the report beside its name."""
        return {}

    def example_html(self, entry: dict, esc) -> str:
        """An example item in the report (`entry`: its name as "item", and its snippet)."""
        return f"<code>{esc(entry.get('item', ''))}</code>"

    def item_html(self, item: Any, name: str, esc) -> str:
        """A whole item, large, for a side-by-side comparison (the doctor's pairs page)."""
        return f"<p>{esc(str(item)[:2000])}</p>"

    def short_name(self, name: str) -> str:
        """An item's name, shortened for a table cell."""
        return name

    # -- predicting ----------------------------------------------------------------------
    def test_time_views(self, items: list[Any]) -> list[list[Any]]:
        """Other views of `items` whose predictions are averaged with theirs (--tta); none
        by default."""
        return []

    def augmented(self, items: list[Any], copies: int, seed: int) -> list[Any]:
        """`copies` augmented versions of each item (all first copies, then all second
        ones ...), the same for an item whatever else is in `items`: what a probe with
        copies also trains on."""
        raise SmallfitError(f"{self.plural.capitalize()} have no augmentation for copies.")

    # -- serving -------------------------------------------------------------------------
    def json_item_type(self) -> Any:
        """The type (pydantic annotation) of one item in a JSON request."""
        return Any

    def json_example(self) -> list[Any]:
        return []

    def decode_json(self, values: list[Any]) -> list[Any]:
        """Items as a strategy takes them, from a validated JSON request."""
        return values

    def decode_file(self, data: bytes, name: str) -> Any:
        """An uploaded file as an item (upload_files modalities)."""
        raise NotImplementedError

    def warm_up_items(self) -> list[Any]:
        """An item to predict once when a server starts."""
        raise NotImplementedError

    # -- exporting (ONNX) ----------------------------------------------------------------
    # The graph's inputs and their variable axes (axis -> name; every input has a batch).
    export_axes: ClassVar[dict[str, dict[int, str]]] = {}
    int8_refusal: ClassVar[str | None] = None  # why --int8 is refused, if it is

    def export_graph(self, network: Any) -> Any:
        """`network` (the encoder's body input in, probabilities out) as a module taking the
        named graph inputs of `export_axes`, in that order."""
        raise NotImplementedError

    def export_example(self, encoder: Any, n: int) -> dict[str, Any]:
        """Graph inputs for `n` generated items, by input name."""
        raise NotImplementedError

    # -- checking data -------------------------------------------------------------------
    def near_duplicate_distances(self, items: list[Any]) -> tuple[np.ndarray, str] | None:
        """A second, encoder-free distance between items for the near-duplicate check
        (n x n, 0 = identical) and what it is called; None: the embeddings alone."""
        return None

    def duplicate_content(self, item: Any) -> Any:
        """What of an item counts when looking for copies (hashed by data.identity): all
        of it by default."""
        return item

    def faulty_items(self, dataset: Dataset) -> list[tuple[int, str, float]]:
        """Items whose recording itself is faulty (a silent or clipped sound): (index, what
        is wrong, how badly from 0 to 1) each; none by default."""
        return []

    def lone_predictors(
        self, dataset: Dataset, seed: int = 0
    ) -> tuple[list[LonePredictor], str | None]:
        """Columns that alone predict the label (almost) perfectly while the others do
        not: likely leaks, known only once the label is. With a note on how they were
        judged (None: this kind of item has no columns, and nothing was checked)."""
        return [], None

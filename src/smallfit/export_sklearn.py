"""ONNX export of a model made of scikit-learn steps (a table model: its column
transformer and classifier), converted by skl2onnx into one graph.

The graph takes the features' own inputs (a table's: one per column, named by it) and
gives `probabilities` in the order of the model's classes, for any number of rows. It is
checked against the model on generated inputs, as the network export is (smallfit.export
runs the check and writes the files).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from smallfit.errors import SmallfitError
from smallfit.model import Model

EXAMPLES = 4  # generated rows the graph is checked on


def sklearn_form(model: Model) -> tuple[Any, Pipeline]:
    """The model's features' export form and the whole pipeline skl2onnx converts;
    NotImplementedError when the strategy is not made of scikit-learn steps, SmallfitError
    naming why its features cannot be exported."""
    from skl2onnx.sklapi import CastTransformer

    features, classifier = model.strategy.as_sklearn()
    form = features.onnx_export()
    # features in float64 as scikit-learn computes them, then float32 as the classifier
    # reads them: a tree's split then goes the same way in both
    steps = [("features", form.transformer), ("float32", CastTransformer(dtype=np.float32))]
    return form, Pipeline([*steps, ("classifier", classifier)])


def convert(form: Any, pipeline: Pipeline, path: Path) -> None:
    """Write the pipeline as ONNX at `path`, its probabilities as a tensor."""
    from skl2onnx import convert_sklearn

    classifier = pipeline.steps[-1][1]
    with warnings.catch_warnings(), integer_missing_flags():
        warnings.simplefilter("ignore")  # skl2onnx's notes on opsets and dtypes
        try:
            graph = convert_sklearn(
                pipeline,
                initial_types=form.initial_types(),
                options={id(classifier): {"zipmap": False}},
            )
        except Exception as error:  # noqa: BLE001 - any converter failure is a refusal
            raise SmallfitError(
                f"skl2onnx cannot convert this model's {type(classifier).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else error!r}"
            ) from error
    path.write_bytes(graph.SerializeToString())


@contextmanager
def integer_missing_flags():
    """Convert with skl2onnx 1.20's tree nodes' missing-value flags written as integers.

    Its HistGradientBoosting converter gives a leaf the flag `False` (a bool), which onnx
    refuses in an integer attribute, so no boosting model converts; the flag of a leaf
    is never read, and 0 is what onnx means by False.
    """
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
        flag = int(nodes_missing_value_tracks_true)
        return original(*args, nodes_missing_value_tracks_true=flag, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def describe(model: Model, form: Any, difference: float) -> dict:
    """What model.onnx.json says of a converted pipeline (besides the format)."""
    return {
        "modality": model.modality,
        "strategy": model.strategy.name,
        "backbone": model.backbone,
        "files": {"fp32": "model.onnx"},
        "inputs": list(form.inputs),
        "output": "probabilities: float32 (rows, classes), columns in the order of `classes`",
        "classes": [c if isinstance(c, int | float) else str(c) for c in model.classes],
        "input": form.describe(),
        "check": {
            "max_abs_difference_to_model": difference,
            "inputs": f"{EXAMPLES} generated rows (one all missing, one with unseen categories)",
        },
    }

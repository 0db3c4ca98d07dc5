"""Export a fitted model to ONNX: the encoder's network and the strategy's head as one graph.

The graph takes what the encoder's network takes (images: preprocessed pixels; text: token
ids and attention mask; sounds: the frames of the encoder's front end) and gives class
probabilities, for any batch size (and, for text and sounds, any length). What cannot live
in a graph (decoding and resizing images, tokenising, mel spectrograms) is described in
`model.onnx.json` next to it, with the classes in output order, so the graph runs with
ONNX Runtime alone. `int8` (text) adds a copy quantised by ONNX Runtime's
dynamic quantisation (weights stored as 8-bit integers, activations quantised on the fly).

A table model is scikit-learn steps instead (its column transformer and classifier):
skl2onnx converts those into one graph with an input per column (smallfit.export_sklearn).

Folder written: model.onnx, model.onnx.json, model.int8.onnx (with int8), tokenizer/ (text),
speech_mel.onnx and speech_embedding.onnx (the speech encoder's own graphs).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import torch
from torch import nn

from smallfit import modalities, strategies
from smallfit.errors import SmallfitError, refuse_existing
from smallfit.export_sklearn import EXAMPLES, convert, describe, sklearn_form
from smallfit.modalities.base import RawFeatures
from smallfit.model import Model, load
from smallfit.progress import progress_bar
from smallfit.strategies.base import Strategy

SIDECAR = "model.onnx.json"
FORMAT = "smallfit-onnx"
# Quantised in the int8 copy: matrix products and the token-embedding lookup (Gather), with
# a scale per output channel. Measured on Reuters R8's 2,189 test texts (a MiniLM probe;
# benchmarks/RESULTS.md): 91 -> 23 MB, 99.2% of predictions as in fp32, accuracy 93.3%
# against 93.4%, twice as fast per text. One scale per tensor matched fp32 less often
# (97.7% against 99.1% on 1,000 of those texts).
INT8_OPS = ["MatMul", "Gather"]
SKLEARN_TOLERANCE = 1e-4  # largest difference in probability a converted pipeline may have


def exportable_strategies() -> list[str]:
    """Names of the strategies that can be written as one network."""
    return [
        name
        for name in strategies.names()
        if type(strategies.create(name)).inference_module is not Strategy.inference_module
    ]


def export_onnx(
    model: Model | str | Path, out: str | Path, *, int8: bool = False, overwrite: bool = False
) -> dict:
    """Write the model as ONNX into the folder `out`; returns what model.onnx.json says.

    The graph is checked against PyTorch (a table model: against the model itself) on a
    few generated inputs; the largest absolute difference in probability is recorded in
    the description ("check").
    """
    model = model if isinstance(model, Model) else load(model)
    out = Path(out)
    _refuse_existing(out, overwrite)
    kind = modalities.get(model.modality)
    if int8 and kind.int8_refusal:
        raise SmallfitError(kind.int8_refusal)
    write = _writer(model, int8)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        description = write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)  # appears whole or not at all
    return description


def _writer(model: Model, int8: bool) -> Callable[[Path], dict]:
    """How the model is written into a folder: as one network (torch.onnx), or as
    scikit-learn steps (skl2onnx); refuses, saying why and what can be exported."""
    kind = modalities.get(model.modality)
    try:
        graph = kind.export_graph(model.strategy.inference_module()).eval()
    except NotImplementedError:
        graph = None  # not one network: perhaps scikit-learn steps
    if graph is not None:
        return lambda folder: _write(model, graph, folder, int8)
    try:
        form, pipeline = sklearn_form(model)
    except NotImplementedError:
        if _has_sklearn_form(model):
            raise SmallfitError(
                f"The {model.strategy.name} strategy cannot be exported to ONNX: it is not one "
                "scikit-learn classifier on the columns. Strategies that can: "
                f"{', '.join(sklearn_strategies())}, and an ensemble of those whose members "
                "were not softened when combined (soft voting cannot temper probabilities)."
            ) from None
        raise SmallfitError(
            f"The {model.strategy.name} strategy cannot be exported to ONNX: its features are "
            f"not computed by a network. Strategies that can: "
            f"{', '.join(exportable_strategies())}."
        ) from None
    return lambda folder: _write_sklearn(model, form, pipeline, folder)


def sklearn_strategies() -> list[str]:
    """Names of the strategies that are one scikit-learn classifier on the items' own
    features (exported by skl2onnx where those features convert, as a table's do)."""
    found = []
    for name in strategies.names():
        kind = type(strategies.create(name))
        if name != "ensemble" and kind.as_sklearn is not Strategy.as_sklearn:
            found += [] if getattr(kind, "onnx_refusal", None) else [name]
    return found


def _has_sklearn_form(model: Model) -> bool:
    """Whether the model's items have own features that convert to ONNX (a table's)."""
    features = modalities.get(model.modality).raw_features()
    return features is not None and type(features).onnx_export is not RawFeatures.onnx_export


def _write_sklearn(model: Model, form, pipeline, folder: Path) -> dict:
    """model.onnx from skl2onnx, checked against the model, and model.onnx.json."""
    rows = form.examples(EXAMPLES)
    with progress_bar(2, "Exporting to ONNX") as advance:
        convert(form, pipeline, folder / "model.onnx")
        advance()
        graph = session(folder / "model.onnx")
        outputs = [o.name for o in graph.get_outputs()]
        got = dict(zip(outputs, graph.run(None, form.feed(rows)), strict=True))
        difference = float(np.abs(got["probabilities"] - model.strategy.predict_proba(rows)).max())
        advance()
    if difference > SKLEARN_TOLERANCE:
        raise SmallfitError(
            f"The ONNX graph skl2onnx made of this {model.strategy.name} model gives "
            f"probabilities {difference:.1e} away from the model's on generated rows (at most "
            f"{SKLEARN_TOLERANCE:.0e} allowed); it was not written."
        )
    description = {"format": FORMAT, "format_version": 1} | describe(model, form, difference)
    (folder / SIDECAR).write_text(json.dumps(description, indent=2))
    return description


def _write(model: Model, graph: nn.Module, folder: Path, int8: bool) -> dict:
    """The graph (and its int8 copy), the preprocessing files and model.onnx.json."""
    encoder = model.strategy.encoder_
    kind = modalities.get(model.modality)
    example = kind.export_example(encoder, 2)
    with progress_bar(3 if int8 else 2, "Exporting to ONNX") as advance:
        _export(graph, example, kind.export_axes, folder / "model.onnx")
        advance()
        difference = _check(graph, folder / "model.onnx", kind.export_example(encoder, 3))
        advance()
        if int8:
            quantise(folder / "model.onnx", folder / "model.int8.onnx")
            advance()
    description = {
        "format": FORMAT,
        "format_version": 1,
        "modality": model.modality,
        "strategy": model.strategy.name,
        "backbone": model.backbone,
        "files": {"fp32": "model.onnx"} | ({"int8": "model.int8.onnx"} if int8 else {}),
        "inputs": list(example),
        "output": "probabilities: float32 (batch, classes), columns in the order of `classes`",
        "classes": [c if isinstance(c, int | float) else str(c) for c in model.classes],
        "input": encoder.describe_input(folder),
        "check": {"max_abs_difference_to_pytorch": difference, "inputs": "3 generated items"},
    }
    if "input" in model.info:  # what the graph leaves to its caller (a long sound's windows)
        kind = modalities.get(model.modality)
        description["training_input"] = kind.describe_input(model.info["input"])
    (folder / SIDECAR).write_text(json.dumps(description, indent=2))
    return description


def _refuse_existing(out: Path, overwrite: bool) -> None:
    """Replace only an earlier export, and only when asked to."""
    refuse_existing(out, overwrite)
    if out.exists() and not (out / SIDECAR).is_file():
        raise SmallfitError(
            f"{out} is not an earlier ONNX export (no {SIDECAR}); refusing to overwrite it. "
            "Choose another --out."
        )


def _export(
    graph: nn.Module, example: dict[str, torch.Tensor], named_axes: dict, path: Path
) -> None:
    dims = {}  # one Dim per axis name: inputs that share a name share the size
    axes = {
        name: {axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in it.items()}
        for name, it in named_axes.items()
    }
    with eager_attention(graph), warnings.catch_warnings(), redirect_stdout(StringIO()):
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and its steps
        program = torch.onnx.export(
            graph,
            tuple(example.values()),
            dynamo=True,
            input_names=list(example),
            output_names=["probabilities"],
            dynamic_shapes=tuple(axes[name] for name in example),  # by position: any names
        )
    program.save(str(path), external_data=False)


@contextmanager
def eager_attention(module: nn.Module):
    """Run transformers attention layers on their plain ("eager") path while exporting.

    Written by hand because no switch covers it: the scaled-dot-product path reshapes a
    non-contiguous tensor, which torch.onnx (torch 2.14) cannot decompose with a dynamic
    sequence length; the eager path computes the same (softmax of scaled dot products).
    """
    configs = {
        id(config): config
        for m in module.modules()
        if hasattr(config := getattr(m, "config", None), "_attn_implementation")
    }
    saved = {key: config._attn_implementation for key, config in configs.items()}
    for config in configs.values():
        config._attn_implementation = "eager"
    try:
        yield
    finally:
        for key, config in configs.items():
            config._attn_implementation = saved[key]


def _check(graph: nn.Module, path: Path, example: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between ONNX Runtime's and PyTorch's probabilities."""
    with torch.inference_mode():
        expected = graph(*example.values()).numpy()
    got = session(path).run(None, {k: v.numpy() for k, v in example.items()})[0]
    return float(np.abs(got - expected).max())


def session(path: str | Path):
    """An ONNX Runtime inference session on the CPU."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def quantise(source: Path, target: Path, op_types: list[str] = INT8_OPS) -> None:
    """ONNX Runtime's dynamic int8 quantisation (per channel) of a graph's `op_types` nodes."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process, which fails on these graphs
    try:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=op_types,
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.disable(logging.NOTSET)

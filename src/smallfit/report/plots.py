"""The report's pictures as data URIs: matplotlib figures (Agg).

Everything is embedded in the HTML as base64 so the report is one file that opens offline.
"""

from __future__ import annotations

import base64
import io

import numpy as np

DPI = 110


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height), dpi=DPI)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(alpha=0.3)
    return figure, axes


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return data_uri(buffer.getvalue(), "image/png")


def reliability_diagram(bins: list[dict]) -> str:
    """Accuracy against confidence per confidence bin, with the diagonal of a perfectly
    calibrated model; below, each bin's share of the predictions."""
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.8, 4.2), dpi=DPI, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = (bins[0]["high"] - bins[0]["low"]) * 0.9 if bins else 0.09
    total = sum(b["count"] for b in bins) or 1
    top.bar(
        centres,
        [b["accuracy"] for b in bins],
        width=width,
        color="#93c5fd",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="#dc2626")
    top.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        "o-",
        color="#1e3a8a",
    )
    top.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="accuracy")
    bottom.bar(centres, [b["count"] / total for b in bins], width=width, color="#9ca3af")
    bottom.set(xlabel="confidence (highest probability)", ylabel="share")
    for axes in (top, bottom):
        axes.spines[["top", "right"]].set_visible(False)
        axes.grid(alpha=0.3)
    return _png(figure)


def learning_curve(curve: dict) -> str:
    """Measured accuracy (with intervals) against training size, the fitted power law
    a - b * n^(-c), and its predictions for more data."""
    figure, axes = _figure(5.6, 3.6)
    sizes = np.array(curve["sizes"], dtype=float)
    accuracy = np.array(curve["accuracy"])
    low, high = np.array(curve["low"]), np.array(curve["high"])
    axes.errorbar(
        sizes,
        accuracy,
        yerr=[accuracy - low, high - accuracy],
        fmt="o",
        color="#2563eb",
        capsize=3,
        label="measured (95% interval)",
    )
    predicted = curve.get("predicted") or []
    fit = curve.get("fit")
    end = max([sizes.max(), *(p["n"] for p in predicted)])
    if fit:
        grid = np.geomspace(sizes.min(), end, 100)
        axes.plot(
            grid,
            fit["a"] - fit["b"] * grid ** (-fit["c"]),
            color="#6b7280",
            linestyle="--",
            label="fitted a - b n^-c",
        )
    if predicted:
        values = np.array([p["accuracy"] for p in predicted])
        axes.errorbar(
            [p["n"] for p in predicted],
            values,
            yerr=[values - [p["low"] for p in predicted], [p["high"] for p in predicted] - values],
            fmt="s",
            mfc="white",
            color="#d97706",
            capsize=3,
            label="predicted with more data",
        )
    axes.set_xscale("log")
    ticks = sorted({int(n) for n in sizes} | {int(p["n"]) for p in predicted})
    axes.set_xticks(ticks, [str(n) for n in ticks])
    axes.minorticks_off()
    axes.set(xlabel="labeled training items", ylabel="accuracy")
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    return _png(figure)

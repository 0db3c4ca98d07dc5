"""The model report: `render_report(model)` gives one self-contained HTML page (see html.py);
`write_report` writes it. Every `Model.save` writes `report.html` into the model directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smallfit.report.html import render_report

__all__ = ["render_report", "write_report"]


def write_report(
    model, path: str | Path, evaluations: Sequence[dict] = (), drift_checks: Sequence[dict] = ()
) -> Path:
    """Write `model`'s report (with holdout `evaluations` and `drift_checks`) to `path`."""
    path = Path(path)
    path.write_text(render_report(model, evaluations, drift_checks), encoding="utf-8")
    return path

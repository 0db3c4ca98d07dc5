"""The HTML building blocks the report's sections are made of: escaping, percentages, a
metric with its 95% interval (as text and as a bar), tables, sections, notes, and an item
shown as a person sees it (thumbnail, text snippet or name).

Every string that comes from the user's data (class names, texts, file names, sources)
goes through `esc`, so a class called "<b>x</b>" shows as text and injects nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from smallfit import modalities


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def interval_text(metric: dict | None, percent: bool = True) -> str:
    """'91.0% [87.2–94.1]' or '0.912 [0.871–0.941]'."""
    if not metric or metric.get("value") is None:
        return "n/a"
    if percent:
        return (
            f"{100 * metric['value']:.1f}% "
            f"<span class=ci>[{100 * metric['low']:.1f}–{100 * metric['high']:.1f}]</span>"
        )
    return f"{metric['value']:.3f} <span class=ci>[{metric['low']:.3f}–{metric['high']:.3f}]</span>"


def interval_bar(metric: dict | None, lowest: float = 0.0) -> str:
    """A CSS bar from `lowest` to 1: the interval as a band, the estimate as a dot."""
    if not metric or metric.get("value") is None:
        return ""
    span = max(1e-9, 1.0 - lowest)

    def at(x):
        return f"{100 * min(1.0, max(0.0, (x - lowest) / span)):.1f}%"

    width = f"{100 * max(0.0, metric['high'] - metric['low']) / span:.1f}%"
    return (
        f'<span class=ibar><span class=band style="left:{at(metric["low"])};width:{width}">'
        f'</span><span class=dot style="left:{at(metric["value"])}"></span></span>'
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def section(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    return anchor, title, f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def note(text: str) -> str:
    return f"<p class=note>{text}</p>"


def shown_item(entry: dict, modality: str) -> str:
    """An item as a person sees it, as its modality draws it (a thumbnail of an image whose
    file still exists, a text snippet), or else its name."""
    return modalities.get(modality).example_html(entry, esc)

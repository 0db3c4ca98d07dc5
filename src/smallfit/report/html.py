"""The model report: one self-contained HTML page (inline CSS, images as data URIs, no
scripts, no network) that a person reads top to bottom: a summary, then the data, the
candidates, the chosen model's metrics and errors, optional sections, and the settings.

`render_report` assembles it: the summary (written here, as it draws on every part), a table
of contents, and the sections of model_sections, extra_sections and check_sections, which
are built from the pieces in blocks.py (where user data is escaped) and styled by style.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from smallfit import modalities
from smallfit.report.blocks import esc, interval_bar, interval_text, note, section
from smallfit.report.check_sections import drift_section, evaluations_section
from smallfit.report.column_sections import columns_section, importance_section
from smallfit.report.extra_sections import (
    adaptation_section,
    doctor_section,
    unlabeled_section,
    update_section,
)
from smallfit.report.model_sections import (
    background_table,
    candidates_section,
    confusion_table,
    data_section,
    learning_curve_section,
    metrics_table,
    mistakes_section,
    per_class_table,
    reliability_block,
    settings_section,
)
from smallfit.report.style import CSS

INTERVAL_MEANING = (
    "The 95% interval comes from resampling the scored items with replacement (bootstrap) "
    "1,000 times: it is the range the accuracy would likely fall in on other data like this. "
    "With few items it is wide, and that width is the honest uncertainty."
)


def summary(model, evaluations: Sequence[dict], drift_checks: Sequence[dict]) -> str:
    info, metrics = model.info, model.metrics
    data = info.get("data", {})
    candidates = info.get("candidates", [])
    kind = modalities.get(model.modality).plural
    settings = info.get("settings", {})
    lines = []
    if metrics.get("honest"):
        honest = metrics["honest"]
        lines.append(
            f"<p class=headline>Estimated accuracy <b>{interval_text(honest)}</b> "
            f"{interval_bar(honest)}</p><p>How: {esc(honest['method'])}. "
            f"Cross-validated accuracy <b>{interval_text(metrics['accuracy'])}</b> for the "
            "chosen model itself, optimistic: the choice was made on those predictions.</p>"
        )
    elif metrics.get("accuracy"):
        lines.append(
            f"<p class=headline>Cross-validated accuracy <b>{interval_text(metrics['accuracy'])}"
            f"</b> {interval_bar(metrics['accuracy'])}</p>"
        )
    else:
        lines.append(
            "<p class=headline>No cross-validated estimate: this model was fitted without "
            "cross-validation.</p>"
        )
    chosen = f"<b>{esc(model.strategy.name)}</b> on <b>{esc(model.reads())}</b>"
    if len(candidates) > 1 and not info.get("why"):
        chosen += (
            f", the most accurate of {len(candidates)} candidates compared on the same folds "
            "(so its estimate leans slightly optimistic; a holdout is the unbiased check)"
        )
    lines.append(f"<p>Chosen: {chosen}.</p>")
    if info.get("why"):
        lines.append(f"<p>Why: {esc(info['why'][0].upper() + info['why'][1:])}</p>")
    for fixed in info.get("training_notes", []):
        lines.append(f"<p>Training: {esc(fixed)}.</p>")
    if info.get("update"):
        new = info["update"].get("new_data", {})
        lines.append(
            f"<p>An incremental update with {new.get('n_items', '?')} new labeled items from "
            f"<code>{esc(new.get('source', '?'))}</code>: see below for the accuracy on the old "
            "and the new data before and after.</p>"
        )
    folds = settings.get("folds")
    how = ""
    if settings.get("loocv"):
        how = "; leave-one-out cross-validation"
    elif folds:
        repeats = settings.get("repeats") or 1
        how = f"; {folds}-fold cross-validation" + (f", {repeats} repeats" if repeats > 1 else "")
    if groups := settings.get("groups"):
        how += f", each of {groups} groups' items kept in one fold"
    lines.append(
        f"<p>Data: <b>{data.get('n_items', '?')} {kind}</b> in <b>{len(model.classes)} "
        f"classes</b> from <code>{esc(data.get('source', '?'))}</code>{how}.</p>"
    )
    for metrics_ in evaluations:
        lines.append(
            f"<p>Holdout accuracy on <code>{esc(metrics_.get('source', '?'))}</code> "
            f"({metrics_.get('n_items', '?')} items the model never saw): "
            f"<b>{interval_text(metrics_.get('accuracy'))}</b>.</p>"
        )
    for report in drift_checks:
        badge = (
            "<span class='badge bad'>drift</span>"
            if report.get("drift")
            else ("<span class='badge good'>no drift</span>")
        )
        lines.append(f"<p>Drift check on <code>{esc(report.get('data', '?'))}</code>: {badge}</p>")
    lines.append(note(f"What the interval means: {INTERVAL_MEANING}"))
    return "<div class=summary>" + "".join(lines) + "</div>"


def render_report(
    model, evaluations: Sequence[dict] = (), drift_checks: Sequence[dict] = ()
) -> str:
    """The report of `model` (a smallfit Model) as one self-contained HTML page;
    `evaluations` are metrics from `smallfit evaluate` (holdout, with fairness slices if
    evaluated with groups) and `drift_checks` reports from `smallfit drift`."""
    info, metrics = model.info, model.metrics
    parts = [update_section(info["update"])] if info.get("update") else []
    parts.append(data_section(model))
    if info.get("data_summary"):
        parts.append(columns_section(info["data_summary"]))
    parts.append(candidates_section(model))
    if metrics:
        kind = "cross-validated" if metrics.get("kind") == "cross-validation" else "measured"
        parts += [
            section("metrics", f"Chosen model: {kind} metrics", metrics_table(metrics)),
            section("confusion", "Confusion matrix", confusion_table(metrics)),
            section(
                "per-class",
                "Per-class precision, recall and F1",
                per_class_table(metrics) + background_table(metrics),
            ),
            section(
                "reliability",
                "Reliability diagram",
                reliability_block(metrics, info.get("reliability")),
            ),
        ]
    if info.get("importance"):
        parts.append(importance_section(info["importance"]))
    parts += [learning_curve_section(model), mistakes_section(model)]
    for key, render in (
        ("unlabeled", unlabeled_section),
        ("adaptation", adaptation_section),
        ("doctor", doctor_section),
    ):
        if info.get(key):
            parts.append(render(info[key]))
    parts += [
        evaluations_section(evaluations),
        drift_section(drift_checks),
        settings_section(model),
    ]
    contents = "".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title, _ in parts)
    source = info.get("data", {}).get("source", "")
    from smallfit.version import __version__

    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>smallfit report: {esc(model.strategy.name)} on {esc(source)}</title>"
        f"<style>{CSS}</style></head><body><main>"
        f"<header><h1>Model report</h1><p class=sub>{esc(model.strategy.name)} · "
        f"{len(model.classes)} classes · <code>{esc(source)}</code></p></header>"
        + summary(model, evaluations, drift_checks)
        + f"<nav>{contents}</nav>"
        + "".join(html for _, _, html in parts)
        + f"<footer>Written by smallfit {esc(__version__)}. This page is one file: no "
        "scripts, no network; its pictures are embedded.</footer></main></body></html>\n"
    )

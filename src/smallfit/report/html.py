"""The model report: one self-contained HTML page (inline CSS, images as data URIs, no
scripts, no network) that a person reads top to bottom: a summary, then the data, the
candidates, the chosen model's metrics and errors, optional sections, and the settings.

Every string that comes from the user's data (class names, texts, file names, sources)
goes through `esc`, so a class called "<b>x</b>" shows as text and injects nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from smallfit.report import plots

METRICS = (  # key, name, shown as a percentage, what it says
    ("accuracy", "accuracy", True, "share of items classified correctly"),
    (
        "balanced_accuracy",
        "balanced accuracy",
        True,
        "mean recall over the classes; unmoved by class sizes",
    ),
    ("macro_f1", "macro F1", True, "mean over classes of the balance of precision and recall"),
    ("roc_auc", "ROC-AUC", False, "how well the probabilities rank items: 0.5 chance, 1 perfect"),
    ("log_loss", "log loss", False, "penalty for confident errors; lower is better"),
    (
        "ece",
        "calibration error (ECE)",
        False,
        "gap between confidence and accuracy; 0 = calibrated",
    ),
)
INTERVAL_MEANING = (
    "The 95% interval comes from resampling the scored items with replacement (bootstrap) "
    "1,000 times: it is the range the accuracy would likely fall in on other data like this. "
    "With few items it is wide, and that width is the honest uncertainty."
)
MAX_FINDINGS = 20


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


@lru_cache(maxsize=512)
def _thumbnail(item: str) -> str | None:
    return plots.thumbnail(item)


def shown_item(entry: dict, modality: str) -> str:
    """An item as a person sees it: its thumbnail (images whose file still exists), its text
    snippet, or else its name."""
    name = entry.get("item", "")
    if modality == "text" and "text" in entry:
        return f'<q title="{esc(name)}">{esc(entry["text"])}</q>'
    uri = _thumbnail(name) if modality == "image" else None
    if uri:
        return f'<img class=thumb src="{uri}" alt="{esc(Path(name).name)}" title="{esc(name)}">'
    return f"<code>{esc(Path(name).name if modality == 'image' else name)}</code>"


def chosen_row(candidates: list[dict]) -> dict | None:
    """The leaderboard row fit kept: the first with the highest accuracy."""
    scored = [r for r in candidates if r.get("accuracy")]
    return max(scored, key=lambda r: r["accuracy"]["value"]) if scored else None


# -- sections --------------------------------------------------------------------------
def summary(model, evaluations: Sequence[dict], drift_checks: Sequence[dict]) -> str:
    info, metrics = model.info, model.metrics
    data = info.get("data", {})
    candidates = info.get("candidates", [])
    kind = "images" if model.modality == "image" else "texts"
    settings = info.get("settings", {})
    lines = []
    if metrics.get("accuracy"):
        lines.append(
            f"<p class=headline>Cross-validated accuracy <b>{interval_text(metrics['accuracy'])}"
            f"</b> {interval_bar(metrics['accuracy'])}</p>"
        )
    else:
        lines.append(
            "<p class=headline>No cross-validated estimate: this model was fitted without "
            "cross-validation.</p>"
        )
    chosen = f"<b>{esc(model.strategy.name)}</b> on <b>{esc(model.backbone or 'no encoder')}</b>"
    if len(candidates) > 1:
        chosen += (
            f", the most accurate of {len(candidates)} candidates compared on the same folds "
            "(so its estimate leans slightly optimistic; a holdout is the unbiased check)"
        )
    lines.append(f"<p>Chosen: {chosen}.</p>")
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


def data_section(model) -> tuple[str, str, str]:
    data = model.info.get("data", {})
    counts = data.get("class_counts", {})
    samples = model.info.get("examples", {}).get("samples", {})
    largest = max(counts.values(), default=0) or 1
    shown_per_class = 4 if model.modality == "image" else 2
    cards = []
    for name, count in counts.items():
        items = samples.get(name, [])[:shown_per_class]
        cards.append(
            f"<div class=klass><div class=khead><b>{esc(name)}</b><span>{count}</span></div>"
            f'<span class=hbar style="width:{100 * count / largest:.1f}%"></span>'
            "<div class=samples>"
            + "".join(shown_item(e, model.modality) for e in items)
            + "</div></div>"
        )
    body = f"<div class=classes>{''.join(cards)}</div>"
    if counts:
        smallest = min(counts.values())
        imbalanced = " (imbalanced: watch balanced accuracy)" if largest > 2 * smallest else ""
        body += note(
            f"{sum(counts.values())} items in {len(counts)} classes, with a few examples of "
            f"each; the largest class has {largest}, the smallest {smallest}{imbalanced}."
        )
    if not samples:
        body += note("No example items were recorded with this model.")
    return section("data", "Data", body)


def candidates_section(model) -> tuple[str, str, str]:
    candidates = model.info.get("candidates", [])
    if not candidates:
        why = (
            "an update keeps the original model's strategy"
            if "update" in model.info
            else "the strategy was given"
        )
        body = note(f"No comparison of strategies: {why} ({esc(model.strategy.name)}).")
        return section("candidates", "Candidates", body)
    chosen = chosen_row(candidates)
    lows = [r["accuracy"]["low"] for r in candidates if r.get("accuracy")]
    lowest = max(0.0, min(lows, default=0.0) - 0.05)
    lowest = float(int(lowest * 10) / 10)
    rows = []
    for row in candidates:
        badge = " <span class='badge good'>chosen</span>" if row is chosen else ""
        accuracy = (
            interval_text(row["accuracy"])
            if row.get("accuracy")
            else f"skipped: {esc(row.get('skipped', ''))}"
        )
        rows.append(
            [
                f"<code>{esc(row['candidate'])}</code>{badge}",
                esc(row.get("backbone") or "–"),
                accuracy,
                interval_bar(row.get("accuracy"), lowest),
                f"{row.get('cv_seconds', 0):.1f}",
            ]
        )
    body = table(
        ["candidate", "encoder", "accuracy [95% interval]", f"{100 * lowest:.0f}% – 100%", "CV s"],
        rows,
        "leaderboard",
    )
    body += note(
        "Every candidate was cross-validated on the same splits with the same seed; the most "
        "accurate was refitted on all the data. Overlapping intervals mean the data cannot "
        "tell those candidates apart."
    )
    return section("candidates", "Candidates", body)


def metrics_table(metrics: dict) -> str:
    rows = []
    for key, name, percent, meaning in METRICS:
        if key in metrics:
            rows.append([name, interval_text(metrics[key], percent), f"<small>{meaning}</small>"])
    text = table(["metric", "value [95% interval]", "what it says"], rows, "metrics")
    repeats = metrics.get("repeats", 1)
    text += note(
        f"{metrics.get('n_items', '?')} items scored"
        + (f", each predicted once in each of {repeats} repeats" if repeats > 1 else "")
        + "."
    )
    return text


def confusion_table(metrics: dict) -> str:
    matrix, classes = metrics.get("confusion_matrix"), metrics.get("classes")
    if not matrix or not classes:
        return note("No confusion matrix was recorded.")
    vertical = " vertical" if len(classes) > 5 else ""
    head = "".join(f'<th class="col{vertical}"><span>{esc(c)}</span></th>' for c in classes)
    body = []
    for i, (name, row) in enumerate(zip(classes, matrix, strict=True)):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            colour = "37,99,235" if i == j else "220,38,38"
            dark = " dark" if share > 0.55 else ""
            title = f"true {name}, predicted {classes[j]}: {count}"
            cells.append(
                f'<td class="cell{dark}" style="background:rgba({colour},{share:.2f})" '
                f'title="{esc(title)}">{count or ""}</td>'
            )
        support = metrics.get("per_class", {}).get(str(name), {}).get("support", sum(row))
        body.append(f"<tr><th class=row>{esc(name)}</th>{''.join(cells)}<td>{support}</td></tr>")
    return (
        "<div class=scroll><table class=confusion><thead><tr><th class=corner>true ↓ "
        f"predicted →</th>{head}<th>items</th></tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></div>"
        + note(
            "Rows are the true classes, columns the predicted ones; the colour is the share "
            "of the row (blue: right, red: confused)."
            + (
                f" Each item was predicted once per repeat; cells are the {metrics['repeats']} "
                "repeats' mean count, rounded."
                if metrics.get("repeats", 1) > 1
                else ""
            )
        )
    )


def per_class_table(metrics: dict) -> str:
    per_class = metrics.get("per_class", {})
    rows = [
        [
            f"<b>{esc(name)}</b>",
            str(values.get("support", "")),
            interval_text(values.get("precision")),
            interval_text(values.get("recall")),
            interval_text(values.get("f1")),
        ]
        for name, values in per_class.items()
    ]
    return table(["class", "items", "precision", "recall", "F1"], rows, "per-class") + note(
        "Precision: of the items predicted as the class, the share that are; recall: of the "
        "class's items, the share found. A small class has a wide interval."
    )


def reliability_block(metrics: dict, fallback: list | None = None) -> str:
    bins = metrics.get("reliability") or fallback
    if not bins:
        return note("No reliability data was recorded.")
    ece = metrics.get("ece")
    return (
        f'<figure><img src="{plots.reliability_diagram(bins)}" alt="reliability diagram">'
        "<figcaption>The predictions grouped by confidence: how often those in each bin were "
        "right (bars, and the dots at their mean confidence) against the dashed diagonal of a "
        "perfectly calibrated model; below it, a model is over-confident. The lower panel shows "
        "how the predictions spread over the bins."
        + (f" Expected calibration error: {interval_text(ece, False)}." if ece else "")
        + "</figcaption></figure>"
    )


def learning_curve_section(model) -> tuple[str, str, str]:
    curve = model.info.get("learning_curve")
    if not curve or not curve.get("sizes"):
        return section("learning-curve", "Learning curve", note("Not run for this model."))
    rows = [
        [
            f"{p['factor']}× the data",
            str(p["n"]),
            interval_text({"value": p["accuracy"], "low": p["low"], "high": p["high"]}),
        ]
        for p in curve.get("predicted", [])
    ]
    fit = curve.get("fit") or {}
    body = (
        f'<figure><img src="{plots.learning_curve(curve)}" alt="learning curve"><figcaption>'
        "Cross-validated accuracy when training on subsets of the data, and a power law "
        "fitted to it"
        + (
            f" (accuracy = {fit['a']:.3f} − {fit['b']:.3f}·n<sup>−{fit['c']:.3f}</sup>)"
            if fit
            else ""
        )
        + ". It says whether labeling more data is likely to pay off.</figcaption></figure>"
    )
    if rows:
        body += table(["if you had", "items", "predicted accuracy [95% interval]"], rows)
        body += note("Predictions extrapolate the fitted curve; treat them as a rough guide.")
    return section("learning-curve", "Learning curve", body)


def mistakes_section(model) -> tuple[str, str, str]:
    examples = model.info.get("examples", {})
    mistakes = examples.get("mistakes")
    if mistakes is None:
        return section(
            "mistakes",
            "Most confident mistakes",
            note("Not recorded (no cross-validation, or a model saved before reports)."),
        )
    if not mistakes:
        return section(
            "mistakes",
            "Most confident mistakes",
            note("No out-of-fold mistakes: every item was predicted right."),
        )
    cards = "".join(
        "<div class=card>"
        + shown_item(m, model.modality)
        + f"<div><span class=lbl>true</span> <b>{esc(m['label'])}</b></div>"
        f"<div><span class=lbl>predicted</span> <b class=wrong>{esc(m['predicted'])}</b> "
        f"({100 * m['confidence']:.0f}%)</div>"
        f'<div class=name title="{esc(m["item"])}">'
        f"{esc(Path(m['item']).name if model.modality == 'image' else m['item'])}</div></div>"
        for m in mistakes
    )
    body = f"<div class=cards>{cards}</div>" + note(
        f"The {len(mistakes)} out-of-fold errors (of {examples.get('n_mistakes', '?')} among "
        f"{examples.get('n_scored', '?')} scored items) that the chosen candidate made with "
        "the highest confidence, probabilities averaged over repeats. Confident mistakes are "
        "often wrong labels or ambiguous items: worth a look."
    )
    return section("mistakes", "Most confident mistakes", body)


def update_section(record: dict) -> tuple[str, str, str]:
    accuracy = record.get("accuracy", {})
    rows = []
    for key, label in (("old_data", "old data (stored sample)"), ("new_data", "new data")):
        row = accuracy.get(key, {})
        rows.append([label, interval_text(row.get("before")), interval_text(row.get("after"))])
    previous = record.get("previous", {})
    new = record.get("new_data", {})
    added = ", ".join(esc(c) for c in record.get("new_classes", [])) or "none"
    old_source = (previous.get("data") or {}).get("source", "?")
    body = (
        f"<p>This model updates one fitted on <code>{esc(old_source)}"
        f"</code> with <b>{new.get('n_items', '?')}</b> new labeled items from "
        f"<code>{esc(new.get('source', '?'))}</code>, rehearsing {record.get('exemplars', '?')} "
        f"stored exemplars of the old data. New classes: {added}.</p>"
        + table(["data", "accuracy before", "accuracy after"], rows)
        + note(
            "Before: old data out-of-fold from the original fit, new data predicted by the old "
            "model (new classes count as errors); after: cross-validation of the update."
        )
    )
    return section("update", "Incremental update", body)


def unlabeled_section(record: dict) -> tuple[str, str, str]:
    rows = [
        [
            label,
            f"<code>{esc(part.get('candidate', '?'))}</code>",
            interval_text(part.get("accuracy")),
        ]
        for label, part in (
            ("labeled data only", record.get("labeled_only")),
            ("with the unlabeled pool", record.get("semi")),
        )
        if part  # None when no candidate of that kind was compared (or all were skipped)
    ]
    body = (
        f"<p>Unlabeled pool <code>{esc(record.get('pool', '?'))}</code>: "
        f"{record.get('n_pool', '?')} items.</p>"
        + table(["trained on", "best candidate", "cross-validated accuracy"], rows)
        + note(
            "Both are cross-validated on the same labeled folds; the pool has no labels, so "
            "every fold may use all of it."
        )
    )
    return section("unlabeled", "Semi-supervised learning", body)


def adaptation_section(record: dict) -> tuple[str, str, str]:
    body = (
        f"<p>Method <b>{esc(record.get('method', '?'))}</b>, adapted towards the unlabeled pool "
        f"<code>{esc(record.get('pool', '?'))}</code> ({record.get('n_pool', '?')} items).</p>"
    )
    return section("adaptation", "Domain adaptation", body)


def doctor_section(record: dict) -> tuple[str, str, str]:
    counts = record.get("counts", {})
    findings = record.get("findings", [])
    body = table(["finding", "items"], [[esc(k), str(v)] for k, v in counts.items()])
    if findings:
        rows = []
        for finding in findings[:MAX_FINDINGS]:
            items = finding.get("items", [])
            shown = ", ".join(f"<code>{esc(i)}</code>" for i in items[:5])
            if len(items) > 5:
                shown += f" and {len(items) - 5} more"
            rows.append(
                [
                    esc(finding.get("kind", "")),
                    shown,
                    esc(finding.get("detail", "")),
                    esc(finding.get("suggestion", "")),
                ]
            )
        body += table(["kind", "items", "detail", "suggestion"], rows, "findings")
        if len(findings) > MAX_FINDINGS:
            body += note(f"{len(findings) - MAX_FINDINGS} more findings are in model.json.")
    else:
        body += note("No problems found.")
    return section("doctor", "Data doctor", body)


def fairness_block(report: dict) -> str:
    groups = report.get("groups", {})
    if not groups:
        return ""
    rates = next(iter(groups.values())).get("selection_rate", {})
    small = set(report.get("small_groups", []))
    rows = [
        [
            f"<b>{esc(name)}</b>"
            + (" <span class='badge warn'>too few</span>" if name in small else ""),
            str(group.get("count", "")),
            interval_text(group.get("accuracy")),
            pct(group.get("recall_macro")),
            *(pct(r) for r in group.get("selection_rate", {}).values()),
        ]
        for name, group in groups.items()
    ]
    header = ["group", "items", "accuracy [95% interval]", "macro recall"] + [
        f"selected as {esc(c)}" for c in rates
    ]
    lines = []
    for key, title in (
        ("demographic_parity_difference", "Demographic parity difference"),
        ("equalized_odds_difference", "Equalised odds difference"),
    ):
        value = report.get(key, {})
        if value.get("value") is None:
            shown = "n/a (no two groups hold the class and others)"
        else:
            where = "" if report.get("positive_class") else f" (worst class: {esc(value['class'])})"
            shown = f"{value['value']:.3f}{where}"
        lines.append(f"<li>{title}: <b>{shown}</b></li>")
    text = (
        f"<h3>Fairness slices by {esc(report.get('group_column', 'group'))}</h3>"
        + table(header, rows)
        + f"<ul>{''.join(lines)}</ul>"
    )
    if small:
        text += note(
            f"Groups marked “too few” have fewer than {report.get('min_group_size', 43)} items: "
            "their accuracy's interval can be wider than ±15 points."
        )
    return text


def evaluations_section(evaluations: Sequence[dict]) -> tuple[str, str, str]:
    if not evaluations:
        body = note(
            "None included. Measure the model on labeled data it never saw with "
            "<code>smallfit evaluate MODEL DATA --output metrics.json</code>, then "
            "<code>smallfit report MODEL --evaluation metrics.json</code>."
        )
        return section("holdout", "Holdout evaluation", body)
    parts = []
    for metrics in evaluations:
        parts.append(
            f"<h3>On <code>{esc(metrics.get('source', '?'))}</code></h3>"
            + "<div class=two><div>"
            + metrics_table(metrics)
            + "</div><div>"
            + (reliability_block(metrics) if metrics.get("reliability") else "")
            + "</div></div>"
            + confusion_table(metrics)
            + per_class_table(metrics)
            + fairness_block(metrics.get("fairness", {}))
        )
    return section("holdout", "Holdout evaluation", "".join(parts))


def drift_section(drift_checks: Sequence[dict]) -> tuple[str, str, str]:
    if not drift_checks:
        body = note(
            "None included. Compare new data with the training data with "
            "<code>smallfit drift MODEL NEW_DATA --output drift.json</code>, then "
            "<code>smallfit report MODEL --drift drift.json</code>."
        )
        return section("drift", "Drift checks", body)
    parts = []
    for report in drift_checks:
        embedding = report.get("embedding", {})
        auc = embedding.get("domain_classifier_auc")
        badge = (
            "<span class='badge bad'>drift</span>"
            if report.get("drift")
            else ("<span class='badge good'>no drift</span>")
        )
        rows = [
            ["new items / training sample", f"{report.get('n_new')} / {report.get('n_reference')}"],
            [
                f"MMD² ({esc(embedding.get('encoder', '?'))} embeddings)",
                f"{embedding.get('mmd2', float('nan')):.5f}",
            ],
            [
                "p-value (permutation test)",
                f"{report.get('p_value', float('nan')):.4f} (alpha {report.get('alpha')})",
            ],
            ["domain classifier ROC-AUC (0.5 = alike)", "n/a" if auc is None else f"{auc:.3f}"],
        ]
        mix, confidence = report.get("predicted_classes"), report.get("confidence")
        if isinstance(mix, dict):
            rows.append(
                [
                    "predicted class mix: total variation",
                    f"{mix['total_variation']:.3f} (chi-square p {mix['chi2_p_value']:.4f})",
                ]
            )
        if isinstance(confidence, dict):
            rows.append(
                [
                    "mean confidence: training → new",
                    f"{confidence['reference_mean']:.3f} → {confidence['new_mean']:.3f} "
                    f"(Mann-Whitney p {confidence['mann_whitney_p_value']:.4f})",
                ]
            )
        text = (
            f"<h3>On <code>{esc(report.get('data', '?'))}</code> {badge}</h3>"
            f"<p>{esc(report.get('summary', ''))}</p>" + table(["statistic", "value"], rows)
        )
        if isinstance(mix, dict):
            text += table(
                ["class", "share predicted in training", "share predicted in new data"],
                [
                    [f"<b>{esc(c)}</b>", pct(share), pct(mix["new"].get(c))]
                    for c, share in mix["reference"].items()
                ],
            )
        parts.append(text)
    parts.append(
        note(
            "The verdict is the MMD permutation test alone (alpha is its false-alarm rate); the "
            "other statistics describe what changed and do not vote."
        )
    )
    return section("drift", "Drift checks", "".join(parts))


def settings_section(model) -> tuple[str, str, str]:
    info = model.info
    params = json.dumps(model.strategy.get_params(), default=str)
    rows = [
        ["strategy", f"<code>{esc(model.strategy.name)}</code>"],
        ["parameters", f"<code>{esc(params if len(params) < 300 else params[:299] + '…')}</code>"],
        ["encoder", esc(model.backbone or "none")],
        ["modality", esc(model.modality)],
    ]
    for key, value in info.get("settings", {}).items():
        rows.append([esc(key.replace("_", " ")), esc(value)])
    data = info.get("data", {})
    if "fingerprint" in data:
        rows.append(["data fingerprint", f"<code>{esc(data['fingerprint'])}</code>"])
    if "fit_seconds" in info:
        rows.append(["fit time", f"{info['fit_seconds']:.1f} s"])
    reference = getattr(model, "reference", None)
    if reference is not None:
        rows.append(
            [
                "stored reference sample",
                f"{len(reference)} of {reference.drawn_from} training items, embedded by "
                f"{esc(reference.encoder.get('name', '?'))} (for drift checks and updates; "
                "they travel with the model)",
            ]
        )
    versions = info.get("versions", {})
    body = (
        "<div class=two><div><h3>Settings</h3>"
        + table(["setting", "value"], rows)
        + "</div><div><h3>Library versions</h3>"
        + table(["library", "version"], [[esc(k), esc(v)] for k, v in versions.items()])
        + "</div></div>"
    )
    return section("settings", "Settings and versions", body)


# -- the page --------------------------------------------------------------------------
def render_report(
    model, evaluations: Sequence[dict] = (), drift_checks: Sequence[dict] = ()
) -> str:
    """The report of `model` (a smallfit Model) as one self-contained HTML page;
    `evaluations` are metrics from `smallfit evaluate` (holdout, with fairness slices if
    evaluated with groups) and `drift_checks` reports from `smallfit drift`."""
    info, metrics = model.info, model.metrics
    parts = [update_section(info["update"])] if info.get("update") else []
    parts += [data_section(model), candidates_section(model)]
    if metrics:
        kind = "cross-validated" if metrics.get("kind") == "cross-validation" else "measured"
        parts += [
            section("metrics", f"Chosen model: {kind} metrics", metrics_table(metrics)),
            section("confusion", "Confusion matrix", confusion_table(metrics)),
            section("per-class", "Per-class precision, recall and F1", per_class_table(metrics)),
            section(
                "reliability",
                "Reliability diagram",
                reliability_block(metrics, info.get("reliability")),
            ),
        ]
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
    from smallfit import __version__

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


CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--blue:#2563eb;--bg:#f8fafc}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px}
header h1{margin:0;font-size:28px}
.sub{margin:2px 0 16px;color:var(--muted)}
h2{font-size:20px;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:16px;margin:18px 0 8px}
section,.summary{background:#fff;border:1px solid var(--line);border-radius:10px;
padding:18px 22px;margin:0 0 18px}
.summary{border-left:5px solid var(--blue)}
.summary p{margin:6px 0}
.headline{font-size:20px}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0 0 18px;font-size:14px}
nav a{color:var(--blue);text-decoration:none}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{padding:5px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:middle}
thead th{color:var(--muted);font-weight:600;font-size:13px}
tbody tr:nth-child(even){background:#fafafa}
.ci{color:var(--muted);font-size:90%;white-space:nowrap}
.note,figcaption{color:var(--muted);font-size:13px;margin:6px 0}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;
border-radius:4px;word-break:break-all}
.ibar{position:relative;display:inline-block;width:180px;height:12px;background:#eef2ff;
border-radius:6px;vertical-align:middle}
.ibar .band{position:absolute;top:2px;height:8px;background:#93c5fd;border-radius:4px}
.ibar .dot{position:absolute;top:0;width:12px;height:12px;margin-left:-6px;border-radius:6px;
background:var(--blue)}
.headline .ibar{width:240px}
.hbar{display:inline-block;height:12px;background:#93c5fd;border-radius:3px;min-width:2px}
.classes{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.klass{border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.khead{display:flex;justify-content:space-between;margin-bottom:2px}
.khead span{color:var(--muted)}
.klass .hbar{display:block;margin-bottom:6px}
.samples{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.samples q{display:block;max-width:360px;font-size:13px;color:#374151}
img.thumb{width:64px;height:64px;object-fit:contain;background:#f3f4f6;border-radius:4px;
border:1px solid var(--line)}
.badge{display:inline-block;padding:0 8px;border-radius:9px;font-size:12px;font-weight:600}
.badge.good{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
.badge.warn{background:#fef3c7;color:#92400e}
.scroll{overflow-x:auto}
table.confusion td.cell{text-align:center;min-width:34px}
table.confusion td.dark{color:#fff}
table.confusion th.row{white-space:nowrap}
table.confusion th.vertical{height:110px;vertical-align:bottom;padding:4px 2px}
table.confusion th.vertical span{writing-mode:vertical-rl;transform:rotate(180deg);
white-space:nowrap}
.corner{font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px;font-size:13px}
.card q{display:block;margin-bottom:6px;color:#374151}
.card .lbl{color:var(--muted);display:inline-block;width:68px}
.card .wrong{color:#b91c1c}
.card .name{color:var(--muted);font-size:12px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
figure{margin:6px 0}
figure img{max-width:100%}
.two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px}
@media (max-width:800px){.two{grid-template-columns:1fr}}
footer{color:var(--muted);font-size:12px;text-align:center}
"""

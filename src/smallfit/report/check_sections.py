"""The sections of the checks made after the fit and handed to `render_report`: holdout
evaluations (`smallfit evaluate`, with fairness slices when evaluated with groups) and
drift checks (`smallfit drift`). When none was given, each says how to make one.
"""

from __future__ import annotations

from collections.abc import Sequence

from smallfit.report.blocks import esc, interval_text, note, pct, section, table
from smallfit.report.model_sections import (
    background_table,
    confusion_table,
    metrics_table,
    per_class_table,
    reliability_block,
)


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
            + background_table(metrics)
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
        encoder = embedding.get("encoder", "?")
        auc = embedding.get("domain_classifier_auc")
        badge = (
            "<span class='badge bad'>drift</span>"
            if report.get("drift")
            else ("<span class='badge good'>no drift</span>")
        )
        rows = [
            ["new items / training sample", f"{report.get('n_new')} / {report.get('n_reference')}"],
            [
                f"MMD² ({esc(embedding.get('space', f'{encoder} embeddings'))})",
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
        if report.get("columns"):
            text += table(
                ["column", "test", "p", "p (Holm)", "missing: training → new", ""],
                [_column_row(c) for c in report["columns"]],
            )
        parts.append(text)
    parts.append(
        note(
            "The verdict is the MMD permutation test (alpha is its false-alarm rate), with a "
            "table's per-column tests where there are any, all corrected together by Holm's "
            "method; the other statistics describe what changed and do not vote."
        )
    )
    return section("drift", "Drift checks", "".join(parts))


def _column_row(column: dict) -> list[str]:
    """One column's drift test as a table row (p-values empty where it had no values)."""
    tested = column.get("p_value") is not None
    return [
        f"<b>{esc(column['column'])}</b>",
        esc(column["test"]),
        f"{column['p_value']:.4f}" if tested else "n/a",
        f"{column['p_adjusted']:.4f}" if tested else "n/a",
        f"{pct(column['missing_reference'])} → {pct(column['missing_new'])}",
        "<span class='badge bad'>drifted</span>" if column.get("drifted") else "",
    ]

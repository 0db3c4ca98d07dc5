"""The sections of what a fit may record besides the model itself, each shown only when
`model.info` holds its record: an incremental update (accuracy before and after),
semi-supervised learning with an unlabeled pool, domain adaptation, and the data doctor's
findings.
"""

from __future__ import annotations

from smallfit.report.blocks import esc, interval_text, note, section, table

MAX_FINDINGS = 20


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

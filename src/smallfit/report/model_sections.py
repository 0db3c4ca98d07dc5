"""The sections that describe the fitted model, in the page's order: its data, the
candidates compared, the chosen model's metrics, confusion matrix, per-class scores and
reliability diagram, the learning curve, its most confident mistakes, and its settings.
The metric tables also show the holdout evaluations (see check_sections).
"""

from __future__ import annotations

import json

from smallfit import modalities
from smallfit.modalities.pools import background_class
from smallfit.report import plots
from smallfit.report.blocks import (
    esc,
    interval_bar,
    interval_text,
    note,
    section,
    shown_item,
    table,
)

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


def chosen_row(candidates: list[dict]) -> dict | None:
    """The leaderboard's most accurate row: the first with the highest accuracy."""
    scored = [r for r in candidates if r.get("accuracy")]
    return max(scored, key=lambda r: r["accuracy"]["value"]) if scored else None


def candidate_roles(model) -> dict[int, str]:
    """What each leaderboard row (by position) became in the model: "chosen", or
    "in the ensemble x0.75" for each member of a kept ensemble."""
    rows = model.info.get("candidates", [])
    if model.strategy.name == "ensemble":
        weights = {m["candidate"]: m["weight"] for m in model.info["ensemble"]["members"]}
        return {
            i: f"in the ensemble x{weights[row['candidate']]:.2f}"
            for i, row in enumerate(rows)
            if row["candidate"] in weights
        }
    chosen = chosen_row(rows)
    return {i: "chosen" for i, row in enumerate(rows) if row is chosen}


def data_section(model) -> tuple[str, str, str]:
    data = model.info.get("data", {})
    counts = data.get("class_counts", {})
    samples = model.info.get("examples", {}).get("samples", {})
    largest = max(counts.values(), default=0) or 1
    shown_per_class = modalities.get(model.modality).examples_per_class
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
    roles = candidate_roles(model)
    lows = [r["accuracy"]["low"] for r in candidates if r.get("accuracy")]
    lowest = max(0.0, min(lows, default=0.0) - 0.05)
    lowest = float(int(lowest * 10) / 10)
    rows = []
    for index, row in enumerate(candidates):
        role = roles.get(index)
        badge = f" <span class='badge good'>{esc(role)}</span>" if role else ""
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


def background_table(metrics: dict) -> str:
    """False accepts and false rejects per class, when one class holds the background
    (what a keyword spotter must tell apart from its words); empty otherwise."""
    matrix, classes = metrics.get("confusion_matrix"), metrics.get("classes")
    background = background_class(classes or [])
    if not matrix or background is None:
        return ""
    b = classes.index(background)
    heard = sum(matrix[b]) or 1
    rows = []
    for k, name in enumerate(classes):
        if k != b:
            total = sum(matrix[k]) or 1
            accepts, rejects = matrix[b][k], matrix[k][b]
            rows.append(
                [
                    f"<b>{esc(name)}</b>",
                    f"{accepts} ({100 * accepts / heard:.1f}%)",
                    f"{rejects} ({100 * rejects / total:.1f}%)",
                ]
            )
    header = ["class", f"false accepts (of {sum(matrix[b])} {background})", "false rejects"]
    return table(header, rows, "background") + note(
        f"False accepts: {background} items taken for the class (share of all {background} "
        f"items); false rejects: the class's items taken for {background} (share of the "
        "class's items)."
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
        f"{esc(modalities.get(model.modality).short_name(m['item']))}</div></div>"
        for m in mistakes
    )
    body = f"<div class=cards>{cards}</div>" + note(
        f"The {len(mistakes)} out-of-fold errors (of {examples.get('n_mistakes', '?')} among "
        f"{examples.get('n_scored', '?')} scored items) that the chosen candidate made with "
        "the highest confidence, probabilities averaged over repeats. Confident mistakes are "
        "often wrong labels or ambiguous items: worth a look."
    )
    return section("mistakes", "Most confident mistakes", body)


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
                f"{esc(reference.encoder.get('name', '?'))}"
                + (", with their column values" if reference.sample is not None else "")
                + " (for drift checks, suggestions and updates; they travel with the model)",
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

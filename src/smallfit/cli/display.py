"""What the commands print: results to stdout, warnings and errors to stderr (Rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smallfit.fitting.combine import PROCEDURES

out = Console()
err = Console(stderr=True)


_shown_warnings: set[str] = set()


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A `warnings.showwarning` that prints one yellow line on stderr, once per message:
    a library's warning raised in every cross-validation fold (45 times on 25 classes of
    3 texts) would bury the output."""
    text = str(message)
    if text in _shown_warnings:
        return
    _shown_warnings.add(text)
    err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def show_error(error: Exception) -> None:
    """A user error as one red line on stderr, without a traceback."""
    err.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def interval(metric: dict) -> str:
    """'value [low, high]' of a metric with its 95% interval."""
    if metric.get("value") is None:
        return "n/a"
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def print_fit(model, out_dir: Path) -> None:
    """Everything `fit` reports: the honest estimate first, then how it was reached."""
    if "resumed" in model.info:
        restored = model.info["resumed"]
        out.print(
            f"Resumed: {restored['finished_runs_restored']} finished training run(s) restored, "
            f"{restored['epochs_restored_in_interrupted_runs']} epoch(s) of an interrupted one."
        )
    if "input" in model.info:
        from smallfit import modalities

        out.print(escape(modalities.get(model.modality).describe_input(model.info["input"])))
    print_honest(model)
    print_leaderboard(model)
    print_ensemble(model.info.get("ensemble"))
    print_pool(model.info.get("unlabeled"))
    optimistic = ", optimistic: the choice was made on it" if "honest" in model.metrics else ""
    print_metrics(
        model.metrics,
        f"Chosen: {model.strategy.name} on {model.reads()} (cross-validation{optimistic})",
    )
    if "learning_curve" in model.info:
        from smallfit.evaluate.learning_curve import advice

        out.print(f"[bold]Should I label more?[/] {advice(model.info['learning_curve'])}")
    if "adaptation" in model.info:
        pool = model.info["adaptation"]
        used = f"{pool['pool_size']} target items ({escape(pool['pool_source'])})"
        out.print(
            (
                f"Adapted with {pool['method']} to {used}."
                if pool["method"]
                else f"The chosen strategy cannot adapt: {used} were not used."
            )
            + " The cross-validated estimate is measured on the labeled (source) domain and "
            "says nothing about the target: check with `smallfit evaluate` on labeled target "
            "items."
        )
    out.print(f"Model written to [bold]{out_dir}[/] in {model.info['fit_seconds']:.1f} s")


def print_leaderboard(model) -> None:
    rows = model.info.get("candidates", [])
    if not rows:
        return
    from smallfit.report.model_sections import candidate_roles

    roles = candidate_roles(model)
    table = Table(title="Candidates (cross-validated accuracy, 95% interval)")
    adapted = any("adaptation" in row for row in rows)
    for column in ("candidate", "backbone", "accuracy", "seconds") + ("adaptation",) * adapted:
        table.add_column(column)
    for index, row in enumerate(rows):
        mark = f" ← {roles[index]}" if index in roles else ""
        table.add_row(
            escape(row["candidate"]) + mark,
            str(row["backbone"] or "-"),
            interval(row["accuracy"]) if row["accuracy"] else f"skipped ({row['skipped']})",
            f"{row['cv_seconds']:.1f}",
            *([row.get("adaptation", "none")] if adapted else []),
        )
    out.print(table)


def print_ensemble(record: dict | None) -> None:
    if not record:
        return
    resampled = record["scores"]["resampled"]
    shown = "; ".join(
        f"{what} {interval(resampled[name])}"
        for name, what in PROCEDURES.items()
        if name in resampled
    )
    out.print(f"Combining (each way chosen on resampled items, scored on those left out): {shown}.")
    if "members" in record:
        members = ", ".join(f"{m['candidate']} x{m['weight']:.2f}" for m in record["members"])
        on_all = record["scores"]["selected_and_scored_on_all"]["accuracy"]
        out.print(f"Ensemble {members}; on all items, optimistically, {interval(on_all)}.")
    if "not_averaged" in record:
        left_out = ", ".join(record["not_averaged"]["candidates"])
        out.print(f"Not averaged: {left_out} ({record['not_averaged']['reason']}).")
    verdict = "kept" if record["kept"] else "not kept"
    out.print(f"Ensemble {verdict}: {record['reason']}.")


def print_pool(summary: dict | None) -> None:
    if not summary:
        return
    best = [
        f"{what} {row['candidate']} {interval(row['accuracy'])}"
        for what, row in (
            ("labeled only:", summary["labeled_only"]),
            ("with the pool:", summary["semi"]),
        )
        if row
    ]
    out.print(f"Unlabeled pool of {summary['n_pool']} items; best " + "; ".join(best))


def print_honest(model) -> None:
    """The headline: the estimate of the whole choice, then why this model."""
    honest = model.metrics.get("honest")
    if honest:
        out.print(
            f"Estimated accuracy: [bold]{interval(honest)}[/] (95% interval; "
            f"{escape(honest['method'])})."
        )
    if groups := model.info.get("settings", {}).get("groups"):
        out.print(
            f"The folds kept each group's items together ({groups} groups), so the estimate "
            "is for groups never seen in training."
        )
    if model.info.get("why"):
        out.print(f"Chosen: {escape(model.info['why'])}")
    for note in model.info.get("training_notes", []):
        out.print(f"Note: {escape(note)}.")


def print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value [95% interval]")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "ece"):
        table.add_row(key, interval(metrics[key]))
    out.print(table)
    out.print(
        f"{metrics['n_items']} items scored"
        + (
            f", {metrics['repeats']} repeats of cross-validation"
            if metrics.get("repeats", 1) > 1
            else ""
        )
    )


def print_fairness(report: dict) -> None:
    rates = next(iter(report["groups"].values()))["selection_rate"]
    table = Table(title=f"Fairness slices by {report['group_column']}")
    for column in ("group", "items", "accuracy [95% interval]", "macro recall"):
        table.add_column(column)
    for name in rates:
        table.add_column(f"selected as {name}")
    for name, group in report["groups"].items():
        small = " (too few)" if name in report["small_groups"] else ""
        table.add_row(
            name + small,
            str(group["count"]),
            interval(group["accuracy"]),
            f"{group['recall_macro']:.3f}",
            *(f"{rate:.3f}" for rate in group["selection_rate"].values()),
        )
    out.print(table)
    for key, title in (
        ("demographic_parity_difference", "Demographic parity difference"),
        ("equalized_odds_difference", "Equalised odds difference"),
    ):
        value = report[key]
        shown = "n/a (no two groups hold the class and others)"
        if value["value"] is not None:
            where = "" if report["positive_class"] else f" (worst class: {value['class']})"
            shown = f"{value['value']:.3f}{where}"
        out.print(f"{title}: {shown}")


def print_drift(report: dict) -> None:
    table = Table(title=f"{report['n_new']} new items against {report['n_reference']} training")
    table.add_column("statistic")
    table.add_column("value")
    embedding = report["embedding"]
    space = embedding.get("space", f"{embedding['encoder']} embeddings")
    table.add_row(f"MMD² ({space})", f"{embedding['mmd2']:.5f}")
    table.add_row("p-value (permutation test)", f"{report['p_value']:.4f}")
    auc = embedding["domain_classifier_auc"]
    table.add_row("domain classifier ROC-AUC (0.5 = alike)", "n/a" if auc is None else f"{auc:.3f}")
    mix, confidence = report["predicted_classes"], report["confidence"]
    if isinstance(mix, dict):
        table.add_row(
            "predicted class mix: total variation",
            f"{mix['total_variation']:.3f} (chi-square p {mix['chi2_p_value']:.4f})",
        )
        table.add_row(
            "mean confidence: training -> new",
            f"{confidence['reference_mean']:.3f} -> {confidence['new_mean']:.3f} "
            f"(Mann-Whitney p {confidence['mann_whitney_p_value']:.4f})",
        )
    out.print(table)
    if report.get("columns"):
        print_column_drift(report["columns"])
    colour = "red" if report["drift"] else "green"
    out.print(f"[bold {colour}]{escape(report['summary'])}[/]")


def print_column_drift(columns: list[dict]) -> None:
    """Each column's two-sample test (p adjusted by Holm) and its missing values."""
    table = Table(title="Columns (p adjusted for testing them all, Holm)")
    for name in ("column", "test", "statistic", "p", "p adjusted", "missing: training -> new", ""):
        table.add_column(name)
    for column in columns:
        tested = column["p_value"] is not None
        table.add_row(
            escape(column["column"]),
            escape(column["test"]),
            f"{column['statistic']:.4g}" if tested else "n/a (no values)",
            f"{column['p_value']:.4f}" if tested else "",
            f"{column['p_adjusted']:.4f}" if tested else "",
            f"{column['missing_reference']:.0%} -> {column['missing_new']:.0%}",
            "[bold red]drifted[/]" if column["drifted"] else "",
        )
    out.print(table)

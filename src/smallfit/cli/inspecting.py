"""Commands that inspect without fitting: the data (doctor), a model (report), and the
encoders available (backbones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from smallfit.cli.display import out
from smallfit.cli.options import (
    FittedOrUpdatedModelDir,
    LabelColumn,
    SkipBad,
    TextColumn,
)
from smallfit.errors import SmallfitError, refuse_existing

commands = typer.Typer()


@commands.command(
    "doctor",
    epilog="Examples:  smallfit doctor photos/ --output findings.csv   |   smallfit doctor "
    "train.csv --test test.csv --text-column review   |   smallfit doctor photos/ --html "
    "pairs.html",
)
def doctor_command(
    data: Annotated[Path, typer.Argument(help="Labeled data, laid out as for fit.")],
    test: Annotated[
        Path | None,
        typer.Option(
            help="A test set (labeled or not) to check for leakage: items also in DATA, "
            "exactly or nearly."
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(help="CSV of findings: kind, items (a JSON list), detail, score, suggestion."),
    ] = Path("findings.csv"),
    html: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML page showing each near-duplicate pair side by side."),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            help="Encoder for similarities and the probe; default per modality (tables: "
            "the rows' own features)."
        ),
    ] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Annotated[int, typer.Option(help="Random seed of the cross-validation.")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --output and --html if they exist.")
    ] = False,
) -> None:
    """Examine labeled data: exact and near duplicates, leakage into a --test set, likely
    label errors (confident learning on a probe's out-of-fold probabilities), a table's
    column that alone predicts the label, class imbalance and outliers. DATA is only
    read, never changed; the findings go to a CSV."""
    from smallfit.doctor import examine, write_pairs_html
    from smallfit.modalities.reading import read_source

    for path in (output, html):
        if path is None:
            continue
        refuse_existing(path, overwrite)
        inside = data if data.is_dir() else None
        if path.resolve() == data.resolve() or (
            inside and path.resolve().is_relative_to(inside.resolve())
        ):
            raise SmallfitError(f"{path} is inside {data}; the doctor never writes into the data.")
    dataset = read_source(
        data, labeled=True, text_column=text_column, label_column=label_column, skip_bad=skip_bad
    )
    test_set = None
    if test is not None:
        test_set = read_source(test, labeled=False, text_column=text_column, skip_bad=skip_bad)
    findings = examine(dataset, test_set, backbone=backbone, seed=seed)
    findings.write_csv(output)
    counts = Table(title=f"Doctor: {len(dataset)} items in {data}")
    counts.add_column("finding")
    counts.add_column("count")
    for kind, count in findings.counts().items():
        counts.add_row(kind.replace("_", " "), str(count))
    out.print(counts)
    top = Table(title="Most serious findings per kind")
    for column in ("kind", "items", "detail"):
        top.add_column(column)
    for kind in findings.counts():
        for finding in [f for f in findings.findings if f.kind == kind][:3]:
            top.add_row(
                kind.replace("_", " "), escape("\n".join(finding.items)), escape(finding.detail)
            )
    if top.row_count:
        out.print(top)
    for check, note in findings.notes.items():
        out.print(f"[dim]{check}: {escape(note)}[/]", highlight=False)
    if html is not None:
        write_pairs_html(findings, dataset, test_set, html)
        out.print(f"Side-by-side pairs written to [bold]{html}[/]")
    out.print(
        f"{len(findings.findings)} findings written to [bold]{output}[/]; {data} was not changed."
    )


@commands.command(
    "report",
    epilog="Examples:  smallfit report model/   |   smallfit evaluate model/ holdout/ --output "
    "metrics.json && smallfit drift model/ new/ --output drift.json; smallfit report model/ "
    "--evaluation metrics.json --drift drift.json --out report.html",
)
def report_command(
    model_dir: FittedOrUpdatedModelDir,
    evaluation: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="METRICS.json",
            help="Metrics JSON written by `smallfit evaluate --output` (holdout metrics, and "
            "fairness slices when evaluated with groups); repeat for several.",
        ),
    ] = None,
    drift: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="DRIFT.json",
            help="Report JSON written by `smallfit drift --output`; repeat for several.",
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="HTML file to write; default MODEL_DIR/report.html (the model's own report, "
            "regenerated from model.json with the files given; nothing else in MODEL_DIR "
            "changes).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out if it exists (MODEL_DIR/report.html always is).")
    ] = False,
) -> None:
    """Write the model's report: one self-contained HTML page (no scripts, no network) with
    the data, the candidates, the chosen model's metrics with 95% intervals, confusion
    matrix, per-class table, reliability diagram, learning curve, most confident mistakes,
    settings and versions, plus the holdout evaluations and drift checks given."""
    from smallfit.model import load
    from smallfit.report import write_report

    model = load(model_dir)
    target = out_file or model_dir / "report.html"
    if out_file is not None and out_file.resolve() != (model_dir / "report.html").resolve():
        refuse_existing(out_file, overwrite)
    evaluations = [
        _read_json(p, "accuracy", "`smallfit evaluate --output`") for p in evaluation or []
    ]
    checks = [_read_json(p, "p_value", "`smallfit drift --output`") for p in drift or []]
    try:
        write_report(model, target, evaluations, checks)
    except OSError as error:
        raise SmallfitError(f"Cannot write {target}: {error}") from None
    included = f" with {len(evaluations)} evaluation(s) and {len(checks)} drift check(s)"
    out.print(f"Report written to [bold]{target}[/]{included}")


def _read_json(path: Path, required: str, writer: str) -> dict:
    """A JSON object from `path` that has the key `required`, or a clear error."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SmallfitError(f"Cannot read {path}: {error}") from None
    if not isinstance(record, dict) or required not in record:
        raise SmallfitError(f"{path} is not a JSON file written by {writer} (no {required!r}).")
    return record


@commands.command("backbones")
def list_backbones() -> None:
    """List the encoders and whether each can be used offline right now."""
    from smallfit import backbones, modalities

    table = Table(title="Backbones")
    table.add_column("name", no_wrap=True)
    for column in ("modality", "offline now", "description", "licence of the weights"):
        table.add_column(column)
    defaults = {m.default_backbone for m in modalities.all_registered()}
    for info in backbones.list_backbones():
        ready = "yes" if info.available() else "no (install its package)"
        default = " (default)" if info.name in defaults else ""
        table.add_row(info.name + default, info.modality, ready, info.description, info.licence)
    out.print(table)
    out.print(
        "Also: timm:NAME and st:NAME_OR_PATH for any timm or sentence-transformers model "
        "you can load (needs a network or a local copy)."
    )

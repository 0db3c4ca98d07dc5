#!/usr/bin/env python
"""What each candidate of the default fit costs, against issue 15's rule that no candidate
may take more than a third of the whole fit.

    python benchmarks/candidate_cost.py                       # images and texts, seed 0
    python benchmarks/candidate_cost.py --slices fashion:50 --seed 1

For one default fit per slice (k training items per class, embedded cold, as a new
user's are): the wall clock of the whole `fit`, and per candidate the seconds spent
inside its own fits, over all its cross-validation folds and its refit on every item
(for an ensemble, each member's refit counts for that member). Network passes made
inside a candidate's fit (a probe's reframed copies) count for it; the passes that
embed every training item once before the comparison serve several candidates (the stage
encoder's pass also gives the prototypes their embedding), so they are shown apart, by
encoder. The chosen model's analyses (learning curve, column importance) are timed apart,
their refits included; the rest is combining and the report's records. Timing wraps the
strategies' `fit` methods (instrumentation in this script only); run it alone on the
machine, as other work slows every figure.
Writes results/candidate_cost.json and results/candidate_cost.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("SMALLFIT_QUIET", "1")

from run import RESULTS, machine  # noqa: E402

OUT = RESULTS / "candidate_cost.json"
SLICES = ["digits:10", "fashion:10", "fashion:50", "r8:8", "spam:8"]
SHARE_LIMIT = 1 / 3  # issue 15: no candidate over a third of the whole fit


class Stopwatch:
    """Seconds per candidate inside strategy fits, per encoder outside them, and per
    analysis of the chosen model (its fits there count for the analysis, not for the
    candidates)."""

    def __init__(self) -> None:
        self.inside: dict[str, float] = {}
        self.passes: dict[str, float] = {}
        self.analyses: dict[str, float] = {}
        self.analysing = False
        self.running: set[int] = set()  # the strategies whose fit is being timed (nested:
        # an ensemble's members); a pass made while any runs counts for that candidate

    def wrap_fit(self, cls) -> None:
        original = cls.fit
        watch = self

        def fit(strategy, dataset, encoder, *args, **kwargs):
            # untimed: an analysis's refits, and a parent's fit called by a subclass's
            if watch.analysing or id(strategy) in watch.running:
                return original(strategy, dataset, encoder, *args, **kwargs)
            label = candidate_label(strategy, encoder)
            watch.running.add(id(strategy))
            tic = time.perf_counter()
            try:
                return original(strategy, dataset, encoder, *args, **kwargs)
            finally:
                watch.running.discard(id(strategy))
                watch.inside[label] = watch.inside.get(label, 0.0) + time.perf_counter() - tic

        cls.fit = fit

    def wrap_passes(self, encoder_class) -> None:
        original = encoder_class._compute
        watch = self

        def compute(encoder, items, keys, description):
            tic = time.perf_counter()
            try:
                return original(encoder, items, keys, description)
            finally:
                if not (watch.running or watch.analysing):
                    seconds = time.perf_counter() - tic
                    watch.passes[encoder.name] = watch.passes.get(encoder.name, 0.0) + seconds

        encoder_class._compute = compute

    def wrap_analysis(self, module, name: str) -> None:
        original = getattr(module, name)
        watch = self

        def analysis(*args, **kwargs):
            watch.analysing = True
            tic = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                watch.analysing = False
                watch.analyses[name] = watch.analyses.get(name, 0.0) + time.perf_counter() - tic

        setattr(module, name, analysis)


def candidate_label(strategy, encoder) -> str:
    """A candidate as the leaderboard names it: strategy[copies]@encoder."""
    copies = getattr(strategy, "copies", 0)
    name = strategy.name + (f"[copies={copies}]" if copies else "")
    return f"{name}@{getattr(encoder, 'name', None)}"


def measure(name: str, k: int, seed: int, watch: Stopwatch) -> dict:
    import default_fit as bench

    from smallfit.fitting.compare import fit_dataset
    from smallfit.modalities.reading import from_python

    items, labels, _, _, modality = bench.load(name)
    picked = bench.sample_per_class(labels, k, seed)
    train = from_python([items[i] for i in picked], labels[picked])
    bench.forget(train.items)
    watch.inside.clear()
    watch.passes.clear()
    watch.analyses.clear()
    tic = time.perf_counter()
    fit_dataset(train, seed=seed)
    whole = time.perf_counter() - tic
    candidates = {label: round(s, 2) for label, s in sorted(watch.inside.items())}
    passes = {encoder: round(s, 2) for encoder, s in sorted(watch.passes.items())}
    analyses = {name: round(s, 2) for name, s in sorted(watch.analyses.items())}
    return {
        "set": name,
        "k": k,
        "seed": seed,
        "modality": modality,
        "items": len(train),
        "fit_seconds": round(whole, 2),
        "candidates": candidates,
        "shared_passes": passes,
        "analyses": analyses,
        "rest": round(
            whole - sum(candidates.values()) - sum(passes.values()) - sum(analyses.values()), 2
        ),
    }


def report(result: dict) -> str:
    lines = [
        "## What each default candidate costs (issue 15)",
        "",
        "`python benchmarks/candidate_cost.py [--slices ...] [--seed N]` (each row's own "
        "command in results/candidate_cost.json) — one default fit per slice and seed, its "
        "training items embedded "
        "cold, alone on the 2 cores. A candidate's seconds: inside its own fits, all "
        "cross-validation folds and its refit (network passes made there, such as the "
        "probe's reframed copies, included). Shared passes: every training item embedded "
        "once before the comparison, serving several candidates. Analyses: the chosen "
        "model's learning curve and column importance (their refits count there). Rest: "
        "combining and the report's records. Share: of the whole fit; "
        f"the rule is at most {SHARE_LIMIT:.0%}.",
        "",
        "| data (per class) | seed | items | whole fit s | candidate | seconds | share | "
        "shared passes s | analyses s | rest s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        passes = ", ".join(f"{e} {s:.1f}" for e, s in row["shared_passes"].items()) or "—"
        analyses = ", ".join(f"{a} {s:.1f}" for a, s in row["analyses"].items()) or "—"
        for index, (label, seconds) in enumerate(row["candidates"].items()):
            share = seconds / row["fit_seconds"]
            mark = " **over**" if share > SHARE_LIMIT else ""
            first = index == 0
            lines.append(
                f"| {row['set'] + ' (' + str(row['k']) + ')' if first else ''} "
                f"| {row['seed'] if first else ''} "
                f"| {row['items'] if first else ''} "
                f"| {row['fit_seconds'] if first else ''} "
                f"| {label} | {seconds:.1f} | {share:.1%}{mark} "
                f"| {passes if first else ''} | {analyses if first else ''} "
                f"| {row['rest'] if first else ''} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", nargs="+", default=SLICES, help="set:k, e.g. fashion:10")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-bench-")  # cold

    from smallfit.backbones.base import Encoder
    from smallfit.evaluate import learning_curve as curves
    from smallfit.fitting import compare
    from smallfit.strategies import registry

    watch = Stopwatch()
    for cls in {type(registry.create(name)) for name in registry.names()}:
        if cls.name != "ensemble":  # its members' fits are timed, each for its candidate
            watch.wrap_fit(cls)
    watch.wrap_passes(Encoder)
    watch.wrap_analysis(curves, "learning_curve")
    watch.wrap_analysis(compare, "permutation_importance")
    command = ("python benchmarks/candidate_cost.py " + " ".join(sys.argv[1:])).strip()
    # rows of other slices and seeds are kept; a slice measured again replaces its row
    result = json.loads(OUT.read_text()) if OUT.exists() else {"rows": []}
    for spec in args.slices:
        name, k = spec.split(":")
        row = measure(name, int(k), args.seed, watch) | {"command": command}
        key = (row["set"], row["k"], row["seed"])
        result["rows"] = [r for r in result["rows"] if (r["set"], r["k"], r["seed"]) != key]
        result["rows"].append(row)
        result["rows"].sort(key=lambda r: (r["set"], r["k"], r["seed"]))
        result["machine"] = machine()
        OUT.write_text(json.dumps(result, indent=2))
        (RESULTS / "candidate_cost.md").write_text(report(result))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Long recordings (issue 18): a default sound model trained on short clips, asked about
recordings several times longer, predicted whole (the clip's frames pooled, as before
windows) and window by window (the model's windows of its training clips' length, their
predictions pooled: the mean over the windows it does not call background).

    python benchmarks/long_files.py --seeds 0 1 2

Recordings are made from each set's test split (other voices, other generated events):
- keywords: a keyword clip at a random place among 5 one-second background clips (other
  words, noise, near-silence); a background recording is 6 background clips;
- sounds, "repeated": 4 clips of one class one after the other (a steady source);
- sounds, "in quiet": one clip at a random place in 8 s of hiss at -50 dBFS.
Rows already measured are kept (results/long_files.json) and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import RESULTS, machine, sample_per_class  # noqa: E402

OUT = RESULTS / "long_files.json"
COMMAND = "python benchmarks/long_files.py"
PER_CLASS = {"keywords": 20, "sounds": 15}  # test recordings made per class (and kind)
TRAIN_PER_CLASS = 10
HISS_RMS = 10 ** (-50 / 20)


def recordings(name: str, paths: list[Path], labels: np.ndarray, rng) -> list[tuple]:
    """(kind, label, samples, rate) for each long recording made from the test clips."""
    import soundfile as sf

    def read(path: Path) -> tuple[np.ndarray, int]:
        return sf.read(path, dtype="float32")

    out = []
    if name == "keywords":
        background = [p for p, y in zip(paths, labels, strict=True) if y == "background"]
        for label in np.unique(labels):
            mine = [p for p, y in zip(paths, labels, strict=True) if y == label][: PER_CLASS[name]]
            for path in mine:
                others = [p for p in background if p != path]
                bed = [read(p)[0] for p in rng.choice(others, 6, replace=False)]
                clip, rate = read(path)
                bed[int(rng.integers(6))] = clip  # a background recording stays background
                out.append(("keyword in background", label, np.concatenate(bed), rate))
        return out
    for label in np.unique(labels):
        mine = [p for p, y in zip(paths, labels, strict=True) if y == label]
        for _ in range(PER_CLASS[name]):
            picked = rng.choice(mine, 4, replace=False)
            clips = [read(p) for p in picked]
            rate = clips[0][1]
            out.append(("repeated", label, np.concatenate([c for c, _ in clips]), rate))
            clip = clips[0][0]
            bed = (HISS_RMS * rng.standard_normal(8 * rate)).astype(np.float32)
            start = int(rng.integers(bed.size - clip.size))
            bed[start : start + clip.size] += clip
            out.append(("in quiet", label, bed, rate))
    return out


def measure(name: str, seed: int) -> list[dict]:
    import audio_data

    from smallfit.data.audio import Sound
    from smallfit.fitting.compare import fit_dataset
    from smallfit.modalities.reading import from_python

    items, labels, test_paths, test_labels = audio_data.load(name)
    picked = sample_per_class(labels, TRAIN_PER_CLASS, seed)
    model = fit_dataset(from_python([items[i] for i in picked], labels[picked]), seed=seed)
    made = recordings(name, test_paths, test_labels, np.random.default_rng(1000 + seed))
    sounds = [Sound(samples, rate) for _, _, samples, rate in made]
    truth = np.array([label for _, label, _, _ in made], dtype=object)
    kinds = np.array([kind for kind, _, _, _ in made], dtype=object)
    lengths = np.array([sound.seconds for sound in sounds])
    tic = time.perf_counter()
    windowed = model.predict(sounds)
    windowed_seconds = time.perf_counter() - tic
    schema = model.info.pop("input")  # as a model without windows predicts: each file whole
    tic = time.perf_counter()
    whole = model.predict(sounds)
    whole_seconds = time.perf_counter() - tic
    rows = []
    for kind in dict.fromkeys(kinds):
        mask = kinds == kind
        rows.append(
            {
                "set": name,
                "kind": kind,
                "seed": seed,
                "recordings": int(mask.sum()),
                "seconds_each": round(float(lengths[mask].mean()), 1),
                "clip_seconds": schema["clip_seconds"],
                "whole": float((whole[mask] == truth[mask]).mean()),
                "windowed": float((windowed[mask] == truth[mask]).mean()),
                "predict_seconds": {
                    "whole": round(whole_seconds, 1),
                    "windowed": round(windowed_seconds, 1),
                },
                "chosen": model.strategy.name,
            }
        )
    return rows


def report(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "## Long recordings: predicted whole or window by window (issue 18)",
        "",
        f"`{result['command']}`, 3 seeds (the training sample and the recordings). A default "
        f"sound fit on {TRAIN_PER_CLASS} clips per class of each synthetic set's pool; "
        "recordings made from its test split (other voices, other generated events): a "
        "keyword among 5 one-second background clips (6 s), 4 clips of one sound event in a "
        "row, or one event in 8 s of hiss at -50 dBFS. Accuracy in %, mean over seeds "
        "(each seed's value in brackets). Whole: every frame of the recording pooled into "
        "one embedding, as the model's training clips are. Windowed: what `predict` does "
        "now for a sound over twice the training clips' median length. Predict times: every "
        "recording of the set at once, embeddings cached across seeds (a window that is "
        "exactly one test clip recurs), so seed 0's are the cold ones.",
        "",
        "| set | recordings | length s | window s | whole | windowed "
        "| predict s, whole / windowed (all of the set's recordings) |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["set"], r["kind"]), []).append(r)
    for (name, kind), group in groups.items():

        def cell(key: str, group: list = group) -> str:
            values = [100 * r[key] for r in group]
            each = ", ".join(f"{v:.1f}" for v in values)
            return f"{np.mean(values):.1f} ({each})"

        seconds = [r["predict_seconds"] for r in group]
        lines.append(
            f"| {name}: {kind} | {group[0]['recordings']} x {len(group)} seeds "
            f"| {np.mean([r['seconds_each'] for r in group]):.1f} "
            f"| {np.mean([r['clip_seconds'] for r in group]):.2f} "
            f"| {cell('whole')} | {cell('windowed')} "
            f"| {np.mean([s['whole'] for s in seconds]):.0f} / "
            f"{np.mean([s['windowed'] for s in seconds]):.0f} |"
        )
    lines += ["", f"Machine: {result['machine']}. Each run alone on the 2 cores."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["keywords", "sounds"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    os.environ["SMALLFIT_CACHE"] = tempfile.mkdtemp(prefix="smallfit-bench-")
    result = json.loads(OUT.read_text()) if OUT.exists() else {"rows": [], "command": COMMAND}
    result["machine"] = machine()
    if not args.report_only:
        done = {(r["set"], r["seed"]) for r in result["rows"]}
        for name in args.sets:
            for seed in args.seeds:
                if (name, seed) in done:
                    continue
                for row in measure(name, seed):
                    print(json.dumps(row), flush=True)
                    result["rows"].append(row)
                OUT.write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "long_files.md").write_text(report(result) + "\n")
    print(report(result))


if __name__ == "__main__":
    main()

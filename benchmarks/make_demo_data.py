#!/usr/bin/env python
"""Build the small Fashion-MNIST image set shipped for ``smallfit demo``.

Usage::

    python benchmarks/fetch_data.py --only fashion      # makes DEST/fashion_mnist.npz
    python benchmarks/make_demo_data.py [--dest benchmarks/data] \
        [--out src/smallfit/demo_data/fashion]

From the Fashion-MNIST *training* split it takes, for each of the 10 classes (in label
order 0..9), 30 images drawn without replacement with one
``numpy.random.default_rng(0)`` generator shared across the classes
(``rng.choice(indices_of_class, 30, replace=False)``). The first 20 drawn go to
``OUT/train/<class>/`` and the last 10 to ``OUT/holdout/<class>/``, as 28x28 greyscale
PNG files named ``<class>_<index-in-train-set>.png``. ``OUT/ATTRIBUTION.md`` is written
too. Re-running rebuilds ``OUT/train`` and ``OUT/holdout`` from scratch and gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SAFE_NAMES = [
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]
SEED = 0
N_TRAIN = 20
N_HOLDOUT = 10

ATTRIBUTION = """\
# Attribution

The images in this folder are a small subset of **Fashion-MNIST** by Zalando Research
(Han Xiao, Kashif Rasul, Roland Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017).

Fashion-MNIST is released under the MIT licence:

    The MIT License (MIT)

    Copyright (c) 2017 Zalando SE

    Permission is hereby granted, free of charge, to any person obtaining a copy of this
    software and associated documentation files (the "Software"), to deal in the Software
    without restriction, including without limitation the rights to use, copy, modify,
    merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
    permit persons to whom the Software is furnished to do so, subject to the following
    conditions:

    The above copyright notice and this permission notice shall be included in all copies
    or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
    PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
    HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
    CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE
    OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

## How this subset was chosen

- Source: the Fashion-MNIST **training** split (60,000 images; the copy in Debian's
  `dataset-fashion-mnist` package), never the test split.
- For each of the 10 classes, in label order 0..9, {n_total} images were drawn without
  replacement with a single `numpy.random.default_rng({seed})` generator shared across
  classes (`rng.choice(indices_of_class, {n_total}, replace=False)`).
- The first {n_train} drawn per class are in `train/<class>/`, the remaining {n_holdout}
  in `holdout/<class>/`: {total_train} + {total_holdout} = {total} images.
- Files are the original 28x28 greyscale images saved losslessly as PNG, named
  `<class>_<index-in-training-split>.png`.
- Folder names are filesystem-safe versions of the class names:
{class_table}

Reproduce with `python benchmarks/fetch_data.py --only fashion` followed by
`python benchmarks/make_demo_data.py` in the smallfit repository.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dest",
        type=Path,
        default=Path("benchmarks/data"),
        help="folder holding fashion_mnist.npz (default: benchmarks/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("src/smallfit/demo_data/fashion"),
        help="output folder (default: src/smallfit/demo_data/fashion)",
    )
    args = parser.parse_args(argv)

    npz = args.dest / "fashion_mnist.npz"
    if not npz.exists():
        print(
            f"error: {npz} not found; run 'python benchmarks/fetch_data.py --only fashion'",
            file=sys.stderr,
        )
        return 1
    data = np.load(npz)
    x, y = data["x_train"], data["y_train"]
    class_names = [str(c) for c in data["class_names"]]
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8, x.shape
    assert len(class_names) == len(SAFE_NAMES) == 10

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "holdout"):
        if (out / split).exists():
            shutil.rmtree(out / split)

    rng = np.random.default_rng(SEED)
    n_total = N_TRAIN + N_HOLDOUT
    for label, safe in enumerate(SAFE_NAMES):
        idx = np.flatnonzero(y == label)
        chosen = rng.choice(idx, n_total, replace=False)
        for split, picks in (("train", chosen[:N_TRAIN]), ("holdout", chosen[N_TRAIN:])):
            folder = out / split / safe
            folder.mkdir(parents=True, exist_ok=True)
            for i in picks:
                img = Image.fromarray(x[i])  # 2-D uint8 -> mode "L" (greyscale)
                assert img.mode == "L", img.mode
                img.save(folder / f"{safe}_{int(i)}.png", optimize=True)
        print(
            f"{safe:<11} ({class_names[label]}): train {sorted(chosen[:N_TRAIN].tolist())} "
            f"holdout {sorted(chosen[N_TRAIN:].tolist())}"
        )

    class_table = "\n".join(
        f"  - `{safe}`: {name} (label {i})"
        for i, (safe, name) in enumerate(zip(SAFE_NAMES, class_names, strict=True))
    )
    (out / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(
            seed=SEED,
            n_total=n_total,
            n_train=N_TRAIN,
            n_holdout=N_HOLDOUT,
            total_train=10 * N_TRAIN,
            total_holdout=10 * N_HOLDOUT,
            total=10 * n_total,
            class_table=class_table,
        )
    )
    n_files = sum(1 for _ in out.rglob("*.png"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"wrote {n_files} PNG files + ATTRIBUTION.md to {out} ({size / 1024:.1f} KiB of file data)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

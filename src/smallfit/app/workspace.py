"""The app's workspace: a folder of projects, each a folder the CLI can read too.

A project holds `project.json` (its name and kind of item), `items.csv` (one row per
example: its file or text, its class (empty: not labelled yet), and whether it is
excluded from training),
`files/` (uploaded files, copied in under safe names), and `models/<stamp>/` (fitted
model directories). Training reads `train.csv`, written from the rows not excluded, so
`smallfit fit PROJECT/train.csv` repeats a fit from the command line.

Every path the app touches is resolved and checked to lie inside the workspace, and no
symbolic link is followed: a project is what the app wrote, nothing it points to.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from smallfit.errors import SmallfitError

COLUMNS = ["id", "kind", "content", "label", "excluded"]


class Missing(SmallfitError):
    """What a request names (a project, class, example or model) does not exist."""


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 64
STAGING = ".partial"  # the suffix of a model folder that Model.save is still writing


class Workspace:
    """The projects under `root`; one lock serialises every change to a project's files."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    def inside(self, path: Path) -> Path:
        """`path` resolved, refused unless it lies inside the workspace and no part of it
        below the workspace is a symbolic link."""
        path = Path(path)
        candidate = path if path.is_absolute() else self.root / path
        if not candidate.is_relative_to(self.root) or ".." in candidate.parts:
            raise SmallfitError(f"{path} is outside the workspace.")
        walked = self.root
        for part in candidate.relative_to(self.root).parts:
            walked = walked / part
            if walked.is_symlink():
                raise SmallfitError(f"{path} is a symbolic link; the app follows none.")
        return candidate.resolve()

    def projects(self) -> list[Project]:
        found = [Project(self, p.name) for p in sorted(self.root.iterdir()) if p.is_dir()]
        return [p for p in found if (p.folder / "project.json").is_file()]

    def project(self, slug: str) -> Project:
        """The project of folder `slug`, or an error naming it."""
        if slug != safe_name(slug):
            raise Missing(f"No project {slug!r}.")
        project = Project(self, slug)
        if not (self.inside(project.folder) / "project.json").is_file():
            raise Missing(f"No project {slug!r}.")
        return project

    def create(self, name: str) -> Project:
        """A new, empty project called `name` (its folder: a safe form of the name)."""
        name = name.strip()
        if not name:
            raise SmallfitError("A project needs a name.")
        with self.lock:
            slug = safe_name(name).lower() or "project"
            taken = {p.name for p in self.root.iterdir()}
            base, number = slug, 2
            while slug in taken:
                slug, number = f"{base}-{number}", number + 1
            folder = self.inside(Path(slug))
            (folder / "files").mkdir(parents=True)
            (folder / "models").mkdir()
            project = Project(self, slug)
            project.write_meta({"name": name, "modality": None, "created": now()})
            project.write_items(pd.DataFrame(columns=COLUMNS))
            return project


class Project:
    """One project's folder and the operations on its examples."""

    def __init__(self, workspace: Workspace, slug: str):
        self.workspace = workspace
        self.slug = slug
        self.folder = workspace.root / slug

    # -- metadata ----------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return json.loads(self._path("project.json").read_text())

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self._path("project.json"), json.dumps(meta, indent=2))

    def rename(self, name: str) -> None:
        if not name.strip():
            raise SmallfitError("A project needs a name.")
        with self.workspace.lock:
            self.write_meta(self.meta() | {"name": name.strip()})

    def delete(self) -> None:
        with self.workspace.lock:
            shutil.rmtree(self.workspace.inside(self.folder))

    # -- examples ----------------------------------------------------------------------
    def items(self) -> pd.DataFrame:
        table = pd.read_csv(self._path("items.csv"), dtype={"id": str, "content": str})
        table["label"] = table["label"].fillna("").astype(str)  # "": not labelled yet
        table["excluded"] = table["excluded"].astype(bool)
        return table

    def write_items(self, table: pd.DataFrame) -> None:
        atomic_write(self._path("items.csv"), table[COLUMNS].to_csv(index=False))

    def classes(self) -> dict[str, dict[str, int]]:
        """Each class with its number of examples, and of those excluded."""
        table = self.items()
        table = table[table.label != ""]
        counts: dict[str, dict[str, int]] = {}
        for label, rows in table.groupby("label", sort=True):
            counts[str(label)] = {"count": int(len(rows)), "excluded": int(rows.excluded.sum())}
        return counts

    def unlabeled(self) -> pd.DataFrame:
        """The examples not labelled yet (and not excluded): the labelling queue's pool."""
        table = self.items()
        return table[(table.label == "") & ~table.excluded]

    def add_texts(self, texts: list[str], label: str) -> int:
        """Add texts to class `label` ("": to label later); returns how many."""
        texts = [t.strip() for t in texts if t and t.strip()]
        if not texts:
            raise SmallfitError("No text to add: every line was empty.")
        return self._add("text", [(t, label) for t in texts], "text")

    def add_file(self, name: str, data: bytes, label: str, modality: str) -> str:
        """Copy an uploaded file into files/ under a safe, unique name, in class `label`
        ("": to label later); returns its id."""
        stem = safe_name(Path(name).name)[-MAX_NAME:] or "file"
        target = self._path(f"files/{uuid.uuid4().hex[:12]}_{stem}")
        target.write_bytes(data)
        return self._add("file", [(f"files/{target.name}", label)], modality)[0]

    def _add(self, kind: str, rows: list[tuple[str, str]], modality: str):
        label = check_label(rows[0][1]) if rows[0][1].strip() else ""
        with self.workspace.lock:
            meta = self.meta()
            if meta["modality"] not in (None, modality):
                raise SmallfitError(
                    f"This project holds {meta['modality']} examples; it cannot take "
                    f"{modality} examples too. Make another project for them."
                )
            if meta["modality"] is None:
                self.write_meta(meta | {"modality": modality})
            table = self.items()
            ids = [uuid.uuid4().hex[:12] for _ in rows]
            new = pd.DataFrame(
                {
                    "id": ids,
                    "kind": kind,
                    "content": [content for content, _ in rows],
                    "label": label,
                    "excluded": False,
                }
            )
            self.write_items(pd.concat([table, new], ignore_index=True))
            return ids if kind == "file" else len(rows)

    def relabel(self, ids: list[str], label: str) -> None:
        """Move examples `ids` to class `label` (a new or an existing one)."""
        self._update(ids, "label", check_label(label))

    def unlabel(self, ids: list[str]) -> None:
        """Put examples `ids` back among those to label (undoing a label)."""
        self._update(ids, "label", "")

    def exclude(self, ids: list[str], excluded: bool) -> None:
        """Keep examples out of training (or bring them back); nothing is deleted."""
        self._update(ids, "excluded", bool(excluded))

    def rename_class(self, old: str, new: str) -> None:
        """Rename class `old` to `new`; to an existing class's name, it merges the two."""
        new = check_label(new)
        with self.workspace.lock:
            table = self.items()
            if old not in set(table.label):
                raise Missing(f"No class {old!r} in this project.")
            table.loc[table.label == old, "label"] = new
            self.write_items(table)

    def _update(self, ids: list[str], column: str, value: Any) -> None:
        with self.workspace.lock:
            table = self.items()
            unknown = sorted(set(ids) - set(table.id))
            if unknown:
                raise Missing(f"No example {unknown[0]!r} in this project.")
            table.loc[table.id.isin(ids), column] = value
            self.write_items(table)

    def model_inputs(self, rows: pd.DataFrame) -> list[Any]:
        """Examples (rows of `items`) as a model reads them: texts, or their files' paths."""
        return [r.content if r.kind == "text" else self._path(r.content) for r in rows.itertuples()]

    def example_path(self, item_id: str) -> Path:
        """The stored file of example `item_id` (an uploaded file)."""
        table = self.items()
        row = table[table.id == item_id]
        if row.empty or row.iloc[0].kind != "file":
            raise Missing(f"No file example {item_id!r} in this project.")
        return self._path(row.iloc[0].content)

    def training_table(self) -> tuple[Path, dict[str, list[str]]]:
        """train.csv: the examples not excluded, as `smallfit fit` reads them (a column of
        file paths relative to the project, or of texts, and the label); with their ids
        and labels, row by row."""
        table = self.items()
        kept = table[~table.excluded & (table.label != "")]
        if kept.label.nunique() < 2:
            raise SmallfitError("Training needs two classes with examples; add more first.")
        column = "file" if self.meta()["modality"] != "text" else "text"
        frame = pd.DataFrame({column: kept.content.tolist(), "label": kept.label.tolist()})
        path = self._path("train.csv")
        atomic_write(path, frame.to_csv(index=False))
        return path, {"ids": kept.id.tolist(), "labels": kept.label.tolist()}

    # -- models ------------------------------------------------------------------------
    def models(self) -> list[Path]:
        """Finished model folders, oldest first (not one still being saved, which
        Model.save writes as NAME.partial before renaming it)."""
        root = self._path("models")
        return sorted(
            p
            for p in root.iterdir()
            if (p / "model.json").is_file() and not p.name.endswith(STAGING)
        )

    def versions(self) -> dict[str, str]:
        """What changes when the project does: "items" (its examples and name) and
        "models" (the finished models), so that every open page can follow them."""
        stamps = [
            str(self._path(name).stat().st_mtime_ns) for name in ("items.csv", "project.json")
        ]
        return {"items": "-".join(stamps), "models": ",".join(p.name for p in self.models())}

    def model_folder(self, stamp: str) -> Path:
        if stamp != safe_name(stamp) or stamp.endswith(STAGING):
            raise Missing(f"No model {stamp!r}.")
        folder = self._path(f"models/{stamp}")
        if not (folder / "model.json").is_file():
            raise Missing(f"No model {stamp!r} in this project.")
        return folder

    def _path(self, relative: str) -> Path:
        return self.workspace.inside(self.folder / relative)


def safe_name(name: str) -> str:
    """`name` reduced to letters, digits, dots, dashes and underscores (no leading dot)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return SAFE_NAME.sub("_", plain).strip("._")[:MAX_NAME]


def check_label(label: str) -> str:
    label = str(label).strip()
    if not label:
        raise SmallfitError("A class needs a name.")
    if len(label) > 100:
        raise SmallfitError("A class name may have at most 100 characters.")
    return label


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a crash leaves the old file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")

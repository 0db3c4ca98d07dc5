"""`smallfit app`: the local web app's server. The page (static/) only shows; everything
it does goes through the JSON API under /api/ (documented at /docs), so it can be
scripted too. Projects live in a workspace folder (app.workspace); fits run as separate
processes, one at a time per project (app.jobs).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import asyncio
import io
import json
import secrets
import socket
import threading
import time
import webbrowser
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from smallfit import modalities
from smallfit.app.guard import Guard
from smallfit.app.jobs import FitConflict, Jobs
from smallfit.app.models import (
    cell_items,
    embedding_map,
    in_model_thread,
    loaded,
    model_details,
    model_summary,
    on_model_thread,
    predictions,
    queue_items,
)
from smallfit.app.workspace import Missing, Project, Workspace
from smallfit.errors import SmallfitError

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 200_000_000  # one request: several dozen photos
MAX_FILE_BYTES = 25_000_000  # one uploaded file
MAX_TEXTS = 5000  # texts pasted at once


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the project is called.")


class Texts(BaseModel):
    label: str = Field("", description="The class the texts belong to; empty: label later.")
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


class ImportFolder(BaseModel):
    folder: str = Field(
        description="A folder inside the workspace, FOLDER/<class>/<file> (or a table of "
        "texts and labels); its files are copied in, never moved."
    )


class ItemChange(BaseModel):
    ids: list[str] = Field(min_length=1, description="The examples to change.")
    label: str | None = Field(None, description="Move them to this class.")
    unlabel: bool | None = Field(None, description="Put them back among those to label.")
    excluded: bool | None = Field(None, description="Keep them out of training, or not.")


class ClassRename(BaseModel):
    old: str
    new: str = Field(description="A new name; an existing class's name merges the two.")


class FitSettings(BaseModel):
    strategy: str | None = Field(None, description="One strategy instead of the comparison.")
    preset: str | None = Field(None, description="fast, balanced or best: a search.")
    time_budget: float | None = Field(None, description="Seconds the fit may take.")
    seed: int | None = None


class TryTexts(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=64)


def create_app(workspace: str | Path, hosts: set[str], token: str | None = None) -> FastAPI:
    """The app over the projects in `workspace`, answering to `hosts` (host:port)."""
    space = Workspace(workspace)
    jobs = Jobs()
    app = FastAPI(
        title="smallfit app",
        description="Gather examples, train, understand and try a classifier, locally.",
        on_shutdown=[jobs.stop_all],
    )
    app.add_middleware(Guard, hosts=hosts, token=token, max_body_bytes=MAX_BODY_BYTES)

    @app.exception_handler(SmallfitError)
    async def user_error(request: Request, error: SmallfitError) -> JSONResponse:
        status = (
            409 if isinstance(error, FitConflict) else 404 if isinstance(error, Missing) else 422
        )
        return JSONResponse({"detail": str(error)}, status_code=status)

    def project_of(slug: str) -> Project:
        return space.project(slug)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/projects", summary="Every project of the workspace")
    def list_projects() -> list[dict[str, Any]]:
        return [summary(p, jobs) for p in space.projects()]

    @app.post("/api/projects", status_code=201, summary="Create a project")
    def create_project(body: NewProject) -> dict[str, Any]:
        return summary(space.create(body.name), jobs)

    @app.get("/api/projects/{slug}", summary="A project: its classes, examples and models")
    def get_project(slug: str) -> dict[str, Any]:
        project = project_of(slug)
        items = project.items()
        return summary(project, jobs) | {
            "items": [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "text": row.content if row.kind == "text" else None,
                    "label": row.label,
                    "excluded": bool(row.excluded),
                }
                for row in items.itertuples()
            ],
            "models": [model_summary(folder) for folder in project.models()],
        }

    @app.patch("/api/projects/{slug}", summary="Rename a project")
    def rename_project(slug: str, body: NewProject) -> dict[str, Any]:
        project = project_of(slug)
        project.rename(body.name)
        return summary(project, jobs)

    @app.delete("/api/projects/{slug}", summary="Delete a project and everything in it")
    def delete_project(slug: str, confirm: str = "") -> dict[str, str]:
        project = project_of(slug)
        if confirm != slug:
            raise HTTPException(
                400, f"Deleting removes its examples and models: confirm with ?confirm={slug}."
            )
        if jobs.status(project)["state"] == "running":
            raise HTTPException(409, "A fit of this project is running; cancel it first.")
        project.delete()
        return {"deleted": slug}

    @app.post("/api/projects/{slug}/files", status_code=201, summary="Upload example files")
    async def upload(
        slug: str,
        files: Annotated[list[UploadFile], File(description="Images or sounds.")],
        label: Annotated[str, Form(description="Their class; empty: to label later.")] = "",
    ) -> dict[str, Any]:
        project = project_of(slug)
        added = []
        for upload_file in files:
            data = await upload_file.read(MAX_FILE_BYTES + 1)
            name = upload_file.filename or "upload"
            kind, _ = checked_upload(data, name)
            added.append(project.add_file(name, data, label, kind.name))
        return {"added": len(added), "ids": added, "classes": project.classes()}

    @app.post("/api/projects/{slug}/texts", status_code=201, summary="Add pasted texts")
    def add_texts(slug: str, body: Texts) -> dict[str, Any]:
        project = project_of(slug)
        count = project.add_texts(body.texts, body.label)
        return {"added": count, "classes": project.classes()}

    @app.post("/api/projects/{slug}/import", status_code=201, summary="Import a folder")
    def import_folder(slug: str, body: ImportFolder) -> dict[str, Any]:
        from smallfit.modalities.reading import read_source

        project = project_of(slug)
        dataset = read_source(space.inside(Path(body.folder)), labeled=True)
        if dataset.modality == "text":
            add_labelled_texts(project, dataset)
        else:
            for path, label in zip(dataset.items, dataset.labels, strict=True):
                path = space.inside(path)  # no file reached through a link
                project.add_file(path.name, path.read_bytes(), str(label), dataset.modality)
        return {"added": len(dataset), "classes": project.classes()}

    @app.post(
        "/api/projects/{slug}/table",
        status_code=201,
        summary="Upload a table of texts and their classes",
    )
    async def upload_table(
        slug: str,
        file: Annotated[
            UploadFile,
            File(description="CSV, TSV, JSONL or Parquet: a text column and a label column."),
        ],
    ) -> dict[str, Any]:
        from smallfit.data.tables import is_table_path, read_table
        from smallfit.modalities.text import from_frame

        project = project_of(slug)
        data = await file.read(MAX_FILE_BYTES + 1)
        name = Path(file.filename or "upload").name
        if not is_table_path(Path(name)):
            raise HTTPException(415, f"{name} is not a table (.csv, .tsv, .jsonl, .parquet).")
        check_size(data, name)
        frame = read_table(Path(name), data)
        dataset = from_frame(frame, text_column=None, label_column=None, labeled=True, source=name)
        add_labelled_texts(project, dataset)
        return {"added": len(dataset), "classes": project.classes()}

    @app.get("/api/projects/{slug}/queue", summary="The unlabelled examples to label next")
    def queue(slug: str, n: int = 20) -> dict[str, Any]:
        """The examples not labelled yet that the newest model most needs labelled (its
        `suggest`), best first, each with the model's guess."""
        project = project_of(slug)
        models = project.models()
        if not models:
            raise HTTPException(409, "Train a model first: it chooses what to label next.")
        pool = project.unlabeled()
        if pool.empty:
            return {"model": models[-1].name, "items": []}
        return on_model_thread(queue_items, project, models[-1], pool, n)

    @app.get("/api/projects/{slug}/items/{item_id}/file", summary="An example's file")
    def item_file(slug: str, item_id: str) -> FileResponse:
        path = project_of(slug).example_path(item_id)
        return FileResponse(path, headers={"Content-Disposition": "inline"})

    @app.patch("/api/projects/{slug}/items", summary="Move, exclude or restore examples")
    def change_items(slug: str, body: ItemChange) -> dict[str, Any]:
        project = project_of(slug)
        if body.label is not None:
            project.relabel(body.ids, body.label)
        if body.unlabel:
            project.unlabel(body.ids)
        if body.excluded is not None:
            project.exclude(body.ids, body.excluded)
        return {"classes": project.classes()}

    @app.post("/api/projects/{slug}/classes/rename", summary="Rename or merge a class")
    def rename_class(slug: str, body: ClassRename) -> dict[str, Any]:
        project = project_of(slug)
        project.rename_class(body.old, body.new)
        return {"classes": project.classes()}

    @app.post("/api/projects/{slug}/fit", status_code=202, summary="Start a fit")
    def start_fit(slug: str, body: FitSettings) -> dict[str, Any]:
        settings = {k: v for k, v in body.model_dump().items() if v is not None}
        return jobs.start(project_of(slug), settings)

    @app.get("/api/projects/{slug}/fit", summary="The last fit's state")
    def fit_status(slug: str) -> dict[str, Any]:
        return jobs.status(project_of(slug))

    @app.get(
        "/api/projects/{slug}/events",
        summary="The project as server-sent events while a page shows it: its fit's state "
        "(plain messages) and its versions (`project` events), each sent when it changes",
        response_class=StreamingResponse,
    )
    async def project_events(slug: str) -> StreamingResponse:
        project = project_of(slug)

        async def stream():
            # Every open page follows the project through this stream, so two tabs show the
            # same state; a page reconnects by itself (after `retry` ms) when the server
            # restarts, and the first messages then tell it what changed meanwhile.
            yield "retry: 1000\n\n"
            sent: dict[str, str] = {}
            while True:
                try:
                    now = {
                        "": json.dumps(jobs.status(project)),
                        "project": json.dumps(project.versions()),
                    }
                except (Missing, FileNotFoundError):  # the project was deleted
                    return
                for event, message in now.items():
                    if message != sent.get(event):
                        yield f"event: {event}\n" * bool(event) + f"data: {message}\n\n"
                sent = now
                await asyncio.sleep(0.5)

        headers = {"Cache-Control": "no-store"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @app.delete("/api/projects/{slug}/fit", summary="Cancel the running fit")
    def cancel_fit(slug: str) -> dict[str, Any]:
        return jobs.cancel(project_of(slug))

    @app.get("/api/projects/{slug}/models/{stamp}", summary="A model's estimate and metrics")
    def get_model(slug: str, stamp: str) -> dict[str, Any]:
        project = project_of(slug)
        return on_model_thread(model_details, project, project.model_folder(stamp))

    @app.get(
        "/api/projects/{slug}/models/{stamp}/cell",
        summary="The examples of a confusion-matrix cell (true class, predicted class)",
    )
    def confusion_cell(slug: str, stamp: str, actual: str, predicted: str) -> dict[str, Any]:
        project = project_of(slug)
        folder = project.model_folder(stamp)
        return {"items": on_model_thread(cell_items, project, folder, actual, predicted)}

    @app.get(
        "/api/projects/{slug}/models/{stamp}/map",
        summary="The model's training examples in 2-D (principal components of embeddings)",
    )
    def examples_map(slug: str, stamp: str) -> dict[str, Any]:
        project = project_of(slug)
        return on_model_thread(embedding_map, project, project.model_folder(stamp))

    @app.get("/api/projects/{slug}/models/{stamp}/report", summary="A model's HTML report")
    def model_report(slug: str, stamp: str) -> FileResponse:
        folder = project_of(slug).model_folder(stamp)
        return FileResponse(folder / "report.html", media_type="text/html")

    @app.get("/api/projects/{slug}/models/{stamp}/download", summary="A model folder, zipped")
    def download(slug: str, stamp: str) -> StreamingResponse:
        folder = project_of(slug).model_folder(stamp)
        name = f"{slug}-{stamp}.zip"
        return StreamingResponse(
            io.BytesIO(zipped(folder)),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get(
        "/api/projects/{slug}/models/{stamp}/onnx",
        summary="The model exported to ONNX (smallfit export), zipped",
    )
    def download_onnx(slug: str, stamp: str) -> StreamingResponse:
        from smallfit.export import export_onnx

        project = project_of(slug)
        folder = project.model_folder(stamp)
        exported = folder.with_name(f"{stamp}.onnx")  # beside the model, made once
        if not (exported / "model.onnx.json").is_file():
            model = on_model_thread(loaded, folder)
            on_model_thread(export_onnx, model, exported)
        name = f"{slug}-{stamp}-onnx.zip"
        return StreamingResponse(
            io.BytesIO(zipped(exported)),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/api/projects/{slug}/models/{stamp}/predict/files", summary="Try files")
    async def try_files(
        slug: str, stamp: str, files: Annotated[list[UploadFile], File()]
    ) -> dict[str, Any]:
        folder = project_of(slug).model_folder(stamp)
        model = await in_model_thread(loaded, folder)
        kind = modalities.get(model.modality)
        items, names = [], []
        for upload_file in files[:64]:
            data = await upload_file.read(MAX_FILE_BYTES + 1)
            name = upload_file.filename or "upload"
            uploaded, item = checked_upload(data, name)
            if uploaded.name != model.modality:
                raise HTTPException(415, f"{name} is not one of the {kind.plural} it takes.")
            items.append(item)
            names.append(name)
        return await in_model_thread(predictions, model, items, names)

    @app.post("/api/projects/{slug}/models/{stamp}/predict/texts", summary="Try texts")
    def try_texts(slug: str, stamp: str, body: TryTexts) -> dict[str, Any]:
        model = on_model_thread(loaded, project_of(slug).model_folder(stamp))
        if model.modality != "text":
            raise HTTPException(415, f"This model takes {model.modality} files, not texts.")
        names = [t[:60] for t in body.texts]
        return on_model_thread(predictions, model, body.texts, names)

    return app


def check_size(data: bytes, name: str) -> None:
    """Refuse an uploaded file over MAX_FILE_BYTES (read up to one byte more)."""
    if len(data) > MAX_FILE_BYTES:
        raise HTTPException(413, f"{name} is over {MAX_FILE_BYTES // 1_000_000} MB.")


def checked_upload(data: bytes, name: str) -> tuple[modalities.Modality, Any]:
    """The modality whose files `name` is, and `data` decoded as its item; refused with a
    message otherwise (nothing uploaded is kept unless it decodes)."""
    check_size(data, name)
    kinds = [m for m in modalities.all_registered() if m.upload_files and m.claims(Path(name))]
    if not kinds:
        takes = ", ".join(
            m.upload_description for m in modalities.all_registered() if m.upload_files
        )
        raise HTTPException(415, f"{name} is not a file the app takes ({takes}).")
    try:
        return kinds[0], kinds[0].decode_file(data, name)
    except modalities.BadUpload as error:
        raise HTTPException(error.status, f"{name}: {error}") from None


def add_labelled_texts(project: Project, dataset) -> None:
    """Add a labelled text Dataset's texts to `project`, each to its class."""
    for label in dataset.classes:
        chosen = [t for t, y in zip(dataset.items, dataset.labels, strict=True) if y == label]
        project.add_texts(chosen, str(label))


def summary(project: Project, jobs: Jobs) -> dict[str, Any]:
    meta = project.meta()
    return {
        "slug": project.slug,
        "name": meta["name"],
        "modality": meta["modality"],
        "created": meta["created"],
        "classes": project.classes(),
        "unlabeled": len(project.unlabeled()),
        "fit": jobs.status(project),
    }


def zipped(folder: Path) -> bytes:
    """The model folder as a zip archive (its files under the folder's name)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()


# an open page keeps its event stream open: stop waiting for it after a second
UVICORN = {"log_level": "warning", "timeout_graceful_shutdown": 1}


def run_app(
    workspace: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
) -> None:
    """Serve the app until interrupted; beyond the loopback, with a token."""
    import uvicorn

    from smallfit.serve import is_loopback

    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"{host}:{port}"}
    app = create_app(workspace, hosts, token)
    url = f"http://{'127.0.0.1' if is_loopback(host) else host}:{port}/"
    url += f"?token={token}" if token else ""
    print(f"smallfit app: {url}  (workspace {Path(workspace).resolve()}; Ctrl+C stops it)")
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, **UVICORN)


@contextmanager
def serving(workspace: str | Path) -> Iterator[str]:
    """The app on a free local port, in a thread of this process, while the block runs;
    yields its URL (for the browser tests, the speed benchmark and the screenshots)."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(workspace, {f"127.0.0.1:{port}"})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **UVICORN))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)

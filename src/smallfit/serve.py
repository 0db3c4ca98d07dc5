"""HTTP predictions for a fitted model: `POST /predict`, `GET /model`, `GET /health` (FastAPI).

The model is loaded once, when the app is made. Its modality says what a request holds
(smallfit.modalities): uploads in the multipart field `files` (images), or a JSON list
(`{"texts": [...]}`); the OpenAPI schema at `/openapi.json` (pages at `/docs`) describes
the one that this model takes. Uploads are decoded by the modality, with the code that
reads its files for `fit` and `predict`, and never saved
(Starlette holds an upload over 1 MB in an anonymous temporary file for the request). Bad
requests get a 4xx answer whose `detail` says what is wrong: 400 for a body that cannot
be parsed, 413 for a body or image over the limits, 415 for the wrong content type, 422
for anything else.

Every model call runs on one thread (see `smallfit.batcher`), which merges the requests
waiting for it into one batch; the request threads only decode and wait.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which
# name objects local to create_app.
import ipaddress
import json
import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from smallfit import modalities
from smallfit.batcher import Batcher
from smallfit.data import Dataset
from smallfit.model import Model, load
from smallfit.version import __version__

MAX_ITEMS = 32
MAX_BODY_BYTES = 16_000_000


class Prediction(BaseModel):
    item: str = Field(description="The uploaded file's name, or texts[i] for the i-th item.")
    label: str = Field(description="The most probable class.")
    confidence: float = Field(description="Its probability.")
    probabilities: dict[str, float] = Field(description="The probability of every class.")


class Predictions(BaseModel):
    predictions: list[Prediction] = Field(description="One per item, in the order sent.")


class Error(BaseModel):
    detail: str = Field(description="What is wrong with the request.")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "The body cannot be parsed (not UTF-8, broken form)."},
    413: {"model": Error, "description": "The body or an image is larger than the limits."},
    415: {"model": Error, "description": "The content type is not the one this model takes."},
    422: {"model": Error, "description": "The request is malformed or an item cannot be read."},
}


def create_app(
    model: Model | str | Path,
    *,
    max_items: int = MAX_ITEMS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """A FastAPI app serving `model` (a Model or a model directory, loaded and checked now).

    `max_items` bounds the items in one request and `max_body_bytes` its body's size.
    """
    model = model if isinstance(model, Model) else load(model)
    classes = [str(c) for c in model.classes]
    predict_batch = Batcher(_predictor(model), max_batch=max_items)
    kind = modalities.get(model.modality).fitted_to(model.info.get("input"))
    media_type = "multipart/form-data" if kind.upload_files else "application/json"
    predict_batch(kind.warm_up_items())  # the first request should not pay for it
    app = FastAPI(
        title="smallfit model",
        summary=f"{model.strategy.name} on {model.reads()}: "
        f"{kind.plural} into {', '.join(classes)}",
        version=__version__,
    )
    app.add_middleware(
        RequestGuard,
        path="/predict",
        media_type=media_type,
        max_body_bytes=max_body_bytes,
    )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe(error.errors())}, status_code=422)

    def respond(items: list, names: list[str]) -> Predictions:
        proba = predict_batch(items)
        return Predictions(
            predictions=[
                Prediction(
                    item=name,
                    label=classes[int(row.argmax())],
                    confidence=float(row.max()),
                    probabilities=dict(zip(classes, map(float, row), strict=True)),
                )
                for name, row in zip(names, proba, strict=True)
            ]
        )

    if kind.upload_files:

        @app.post(
            "/predict",
            responses=ERRORS,
            summary=f"Classify {kind.plural}",
            description=f"Send {kind.plural} as multipart/form-data, each in a field named "
            "`files`.",
            max_body_size=max_body_bytes,
        )
        def predict_files(
            files: Annotated[
                list[UploadFile],
                File(
                    description=f"One to {max_items} {kind.upload_description}.",
                    max_length=max_items,
                ),
            ],
        ) -> Predictions:
            names = [f.filename or f"files[{i}]" for i, f in enumerate(files)]
            items = [_decoded(kind, f.file.read(), n) for f, n in zip(files, names, strict=True)]
            return respond(items, names)

    else:
        batch_model = _json_batch_model(kind, max_items)
        field = kind.json_field

        @app.post(
            "/predict",
            responses=ERRORS,
            summary=f"Classify {kind.plural}",
            description=f'Send JSON `{{"{field}": [...]}}`, e.g. '
            f'`{{"{field}": {json.dumps(kind.json_example())}}}`.',
            max_body_size=max_body_bytes,
        )
        def predict_json(batch: batch_model) -> Predictions:  # type: ignore[valid-type]
            values = getattr(batch, field)
            names = [f"{field}[{i}]" for i in range(len(values))]
            return respond(kind.decode_json(values), names)

    @app.get("/model", summary="What this model is and how good it is")
    def describe() -> dict[str, Any]:
        """Classes, modality, backbone, strategy, cross-validated metrics (with 95%
        intervals), the library versions it was fitted with and those serving it, and the
        request limits."""
        return {
            "classes": classes,
            "modality": model.modality,
            "input": media_type,
            "backbone": model.backbone,
            "strategy": {
                "name": model.strategy.name,
                "params": model.strategy.get_params(),
            },
            "metrics": model.metrics,
            "fitted_with": model.info.get("versions", {}),
            "served_with": {"smallfit": __version__, "torch": torch.__version__},
            "limits": {
                "max_items": max_items,
                "max_body_bytes": max_body_bytes,
                **kind.request_limits,
            },
        }

    @app.get("/health", summary="Is the server up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _predictor(model: Model):
    """Probabilities for decoded items; what they embed is not cached (see Model.uncached)."""

    def predict(items: list) -> np.ndarray:
        with model.uncached():
            return model.predict_proba(Dataset(items=items, modality=model.modality))

    return predict


def _json_batch_model(kind: modalities.Modality, max_items: int) -> type[BaseModel]:
    """The JSON body a modality's model takes: {json_field: [one to max_items items]}."""
    field = Field(
        min_length=1,
        max_length=max_items,
        description=f"One to {max_items} {kind.json_description}.",
        examples=[kind.json_example()],
    )
    return create_model(
        f"{kind.name.capitalize()}Batch",
        __config__=ConfigDict(extra="forbid"),
        **{kind.json_field: (list[kind.json_item_type()], field)},
    )


def _decoded(kind: modalities.Modality, data: bytes, name: str) -> Any:
    try:
        return kind.decode_file(data, name)
    except modalities.BadUpload as error:
        raise HTTPException(error.status, str(error)) from None


def _describe(errors: list[dict]) -> str:
    """FastAPI's validation errors as one readable line, e.g. 'body.texts: Field required'."""
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"])
        # A pattern in a modality's item type means "not blank"; pydantic would quote it.
        blank = error["type"] == "string_pattern_mismatch"
        lines.append(f"{where}: {'is empty or white space' if blank else error['msg']}")
    return "; ".join(lines)


class RequestGuard:
    """Answer a POST to `path` with the wrong content type (415) or a declared size over
    `max_body_bytes` (413) before its body is read, with a message naming what it takes.

    Without this FastAPI would parse the wrong type anyway and answer a confusing 422, and
    Starlette's size limit answers a declared size with a bare "Content Too Large"; that
    limit (FastAPI's max_body_size) still stops bodies sent without a declared size.
    """

    def __init__(self, app: ASGIApp, path: str, media_type: str, max_body_bytes: int):
        self.app = app
        self.path = path
        self.media_type = media_type
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watched = scope["type"] == "http" and scope["method"] == "POST"
        if watched and scope["path"] == self.path:
            refusal = self._refusal(Headers(scope=scope))
        else:
            refusal = None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)

    def _refusal(self, headers: Headers) -> tuple[int, str] | None:
        sent = headers.get("content-type", "")
        if sent.split(";")[0].strip().lower() != self.media_type:
            took = sent or "a body without a content type"
            return 415, f"This model takes {self.media_type} at {self.path}, not {took}; see /docs."
        size = headers.get("content-length", "")
        if size.isdigit() and int(size) > self.max_body_bytes:
            return 413, (
                f"The request body has {int(size):,} bytes; this server takes at most "
                f"{self.max_body_bytes:,}. Send fewer or smaller items per request."
            )
        return None


def serve(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_items: int = MAX_ITEMS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Serve a model directory over HTTP with uvicorn until interrupted."""
    import uvicorn

    # Per-request progress bars would only clutter the server's log.
    os.environ.setdefault("SMALLFIT_QUIET", "1")
    if not is_loopback(host):
        warnings.warn(
            f"Binding to {host} lets other machines reach this server, which has no "
            "authentication; use 127.0.0.1 unless that is what you want.",
            stacklevel=2,
        )
    app = create_app(model_dir, max_items=max_items, max_body_bytes=max_body_bytes)
    uvicorn.run(app, host=host, port=port, log_level="info")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

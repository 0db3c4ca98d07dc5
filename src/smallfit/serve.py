"""HTTP predictions for a fitted model: `POST /predict`, `GET /model`, `GET /health` (FastAPI).

The model is loaded once, when the app is made. Image models take multipart uploads
(field `files`, one or many), text models JSON `{"texts": [...]}`; the OpenAPI schema at
`/openapi.json` (pages at `/docs`) describes the one that this model takes. Uploads are
decoded by the same code that reads image files for `fit` and `predict` and never saved
(Starlette holds an upload over 1 MB in an anonymous temporary file for the request). Bad
requests get a 4xx answer whose `detail` says what is wrong: 400 for a body that cannot
be parsed, 413 for a body or image over the limits, 415 for the wrong content type, 422
for anything else.

Every model call runs on one thread (see `smallfit.batcher`), which merges the requests
waiting for it into one batch; the request threads only decode and wait.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which
# name objects local to create_app.
import io
import ipaddress
import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from smallfit.batcher import Batcher
from smallfit.data import Dataset, load_image
from smallfit.model import Model, load
from smallfit.version import __version__

MAX_ITEMS = 32
MAX_BODY_BYTES = 16_000_000
# Decoded, an image takes 3 bytes per pixel whatever its file size (a 20 kB PNG can hold
# 100 million pixels); this bounds one upload to 75 MB of memory, above a 24 MP photo.
MAX_IMAGE_PIXELS = 25_000_000
NOT_BLANK = r"\S"  # a text must hold something other than white space
MEDIA_TYPES = {"image": "multipart/form-data", "text": "application/json"}


class Prediction(BaseModel):
    item: str = Field(description="The uploaded file's name, or texts[i] for the i-th text.")
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
    predict_batch(_warm_up_items(model.modality))  # the first request should not pay for it
    app = FastAPI(
        title="smallfit model",
        summary=f"{model.strategy.name} on {model.backbone or 'no encoder'}: "
        f"{model.modality}s into {', '.join(classes)}",
        version=__version__,
    )
    app.add_middleware(
        RequestGuard,
        path="/predict",
        media_type=MEDIA_TYPES[model.modality],
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

    if model.modality == "image":

        @app.post(
            "/predict",
            responses=ERRORS,
            summary="Classify images",
            max_body_size=max_body_bytes,
        )
        def predict_images(
            files: Annotated[
                list[UploadFile],
                File(
                    description=f"One to {max_items} images (JPEG, PNG, BMP, GIF, WebP, TIFF).",
                    max_length=max_items,
                ),
            ],
        ) -> Predictions:
            """Send images as multipart/form-data, each in a field named `files`."""
            names = [f.filename or f"files[{i}]" for i, f in enumerate(files)]
            images = [decode_image(f.file.read(), n) for f, n in zip(files, names, strict=True)]
            return respond(images, names)

    else:
        text_batch = _text_batch_model(max_items)

        @app.post(
            "/predict",
            responses=ERRORS,
            summary="Classify texts",
            max_body_size=max_body_bytes,
        )
        def predict_texts(batch: text_batch) -> Predictions:  # type: ignore[valid-type]
            """Send JSON `{"texts": ["first text", "second text"]}`."""
            return respond(batch.texts, [f"texts[{i}]" for i in range(len(batch.texts))])

    @app.get("/model", summary="What this model is and how good it is")
    def describe() -> dict[str, Any]:
        """Classes, modality, backbone, strategy, cross-validated metrics (with 95%
        intervals), the library versions it was fitted with and those serving it, and the
        request limits."""
        return {
            "classes": classes,
            "modality": model.modality,
            "input": MEDIA_TYPES[model.modality],
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
                "max_image_pixels": MAX_IMAGE_PIXELS,
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


def _warm_up_items(modality: str) -> list:
    if modality == "image":
        return [Image.new("RGB", (224, 224), (128, 128, 128))]
    return ["warm-up"]


def _text_batch_model(max_items: int) -> type[BaseModel]:
    class TextBatch(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[Annotated[str, Field(pattern=NOT_BLANK)]] = Field(
            min_length=1,
            max_length=max_items,
            description=f"One to {max_items} texts, each with a character other than a space.",
            examples=[["The striker scored twice.", "Stir the onions until golden."]],
        )

    return TextBatch


def decode_image(data: bytes, name: str) -> Image.Image:
    """An upload as an RGB image, by the path files take (`smallfit.data.load_image`);
    refuses files that are not images and images over MAX_IMAGE_PIXELS before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{name} has too many pixels to decode safely.") from None
    except Exception:  # noqa: BLE001 - PIL raises several types; the client needs one answer
        raise HTTPException(422, f"{name} is not an image that can be read.") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise HTTPException(
            413, f"{name} is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels."
        )
    try:
        return load_image(image)
    except Exception:  # noqa: BLE001 - truncated or corrupt data fails in many ways
        raise HTTPException(422, f"{name} cannot be decoded (truncated or corrupt).") from None


def _describe(errors: list[dict]) -> str:
    """FastAPI's validation errors as one readable line, e.g. 'body.texts: Field required'."""
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"])
        # The only pattern in the schema is NOT_BLANK; pydantic would quote the regex.
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

"""The FastAPI app of ``faceprint serve``: the routers over one :class:`Service`, the limits
as middleware, and one JSON error shape for every failure.

Every route checks its key, its rate and its media type before it reads the body, so an
unauthenticated or oversized request costs the server nothing. Images come only in the body.
"""

from __future__ import annotations

import contextlib
import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from faceprint.serve.config import ServeConfig
from faceprint.serve.http_errors import ApiError
from faceprint.serve.limits import BodyLimit, ReceiveTimeout
from faceprint.serve.metrics import MeteredRequests
from faceprint.serve.routes import admin, faces, gallery, library
from faceprint.serve.service import Service

logger = logging.getLogger(__name__)


def _closing(service: Service):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    return lifespan


def _answer(error: ApiError) -> Response:
    return Response(error.body(), error.status, error.headers, "application/json")


async def _api_error(request: Request, error: ApiError) -> Response:
    return _answer(error)


async def _http_error(request: Request, error: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
    if error.status_code in (404, 405):
        detail = f"no route {request.method} {request.url.path}; the API is listed at /docs"
    # 405 carries Allow: the methods the path does take.
    return _answer(ApiError(error.status_code, code, detail, dict(error.headers or {})))


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return _answer(ApiError(400, "bad_request", problems))


async def _client_left(request: Request, error: ClientDisconnect) -> Response:
    # Nobody reads this answer; it is here so that a client leaving mid-body is not logged
    # as a server failure.
    logger.info("client left during %s %s", request.method, request.url.path)
    return _answer(ApiError(400, "client_disconnected", "the client left mid-request"))


async def _crashed(request: Request, error: Exception) -> Response:
    return _answer(ApiError(500, "internal", f"{type(error).__name__}: the server failed"))


def create_app(config: ServeConfig) -> FastAPI:
    """Build the service: load the model and gallery, start the batcher.

    Raises:
        FaceprintError: the model, gallery or keys file cannot be used.
    """
    service = Service(config)
    # FastAPIOffline serves Swagger UI's files from its own package: /docs works offline.
    app = FastAPIOffline(
        title="faceprint",
        version="1",
        description="Face detection, verification and identification. Send images as "
        "multipart/form-data and your key as 'Authorization: Bearer <key>'. Every error is "
        '`{"error": CODE, "detail": "what is wrong and what to do"}`.',
        lifespan=_closing(service),
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(ReceiveTimeout, seconds=config.body_timeout)
    app.add_middleware(BodyLimit, max_bytes=config.max_bytes)
    app.add_middleware(MeteredRequests, metrics=service.metrics)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ClientDisconnect, _client_left)
    app.add_exception_handler(Exception, _crashed)
    for area in (admin, faces, gallery, library):
        app.include_router(area.router)
    app.include_router(library.page_router)
    app.openapi = _without_fastapi_422(app)
    return app


def _without_fastapi_422(app: FastAPI):
    """FastAPI documents a 422 ``HTTPValidationError`` on every route with parameters; this
    service answers a bad parameter with 400 and its own error body (see ``_invalid``), so
    those entries are taken out and only the 422s the routes declare remain."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            for operations in spec["paths"].values():
                for operation in operations.values():
                    answer = operation["responses"].get("422", {})
                    if "HTTPValidationError" in json.dumps(answer):
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                spec.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    return openapi

"""The FastAPI app of ``faceprint serve``: routes over the pipeline, the gallery and the batcher.

Every route checks its key, its rate and its media type before it reads the body, so an
unauthenticated or oversized request costs the server nothing. Images come only in the body.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from faceprint.attributes import AttributeAnalyzer
from faceprint.errors import GalleryError, ImageError
from faceprint.gallery.enroll import FACE_CHOICES, choose_subject
from faceprint.gallery.gallery import Gallery
from faceprint.gallery.store import check_identity_name
from faceprint.images import check_min_side, image_from_bytes
from faceprint.pipeline import DEFAULT_MODEL, Face, FaceRecognizer, Region, detection_record
from faceprint.serve.batching import FaceBatcher, FacesOf
from faceprint.serve.config import ServeConfig
from faceprint.serve.http_errors import ApiError
from faceprint.serve.keys import ApiKey, KeyFile, Scope
from faceprint.serve.limits import BodyLimit, RateLimiter
from faceprint.serve.metrics import ServiceMetrics

#: Most candidates ``/v1/identify`` returns per face.
MAX_K = 20
# A url-encoded form can't carry a file, but is read so that a URL or a path sent in it is
# refused by name rather than as a media type.
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


class _IdentityConvertor(Convertor):
    """Any identity name in a path, slashes and control characters included, so that the
    route sees it and refuses it by name (Starlette's ``path`` stops at a newline)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("identity", _IdentityConvertor())


class Service:
    """What the routes share: recognizer, gallery, batcher, keys, rate limiter and metrics."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.gallery: Gallery | None = None
        model, align = config.model or DEFAULT_MODEL, config.align
        if config.gallery is not None:
            self.gallery = Gallery(
                config.gallery,
                model=config.model,
                align=config.align,
                vectors=config.vectors,
                far=config.far,
                create=True,
            )
            model, align = self.gallery.model_source, self.gallery.align
        try:
            self.recognizer = FaceRecognizer(
                model=model,
                align=align,
                device=config.device,
                precision=config.precision,
                backend=config.backend,
                calibration=config.calibration,
                far=config.verify_far,
            )
        except BaseException:
            if self.gallery is not None:
                self.gallery.close()
            raise
        if self.gallery is not None:
            self.gallery.recognizer = self.recognizer
        # SQLite transactions and the vector index are used by one thread at a time.
        self.gallery_lock = threading.Lock()
        self._attributes: AttributeAnalyzer | None = None
        self._attributes_lock = threading.Lock()
        self.keys = KeyFile(config.keys) if config.keys is not None else None
        self.limiter = RateLimiter(config.rate) if config.rate else None
        self.metrics = ServiceMetrics(lambda: self.batcher.queue_depth)
        self.batcher = FaceBatcher(
            self.recognizer,
            max_batch=config.batch_size,
            max_wait=config.batch_wait,
            max_queue=config.queue_size,
            on_batch=self.metrics.observe_batch,
        )

    def attributes(self) -> AttributeAnalyzer:
        """The attribute networks, built on first use (most deployments never analyze)."""
        with self._attributes_lock:
            if self._attributes is None:
                self._attributes = AttributeAnalyzer(device=self.config.device)
            return self._attributes

    def close(self) -> None:
        self.batcher.close()
        if self.gallery is not None:
            with self.gallery_lock:
                self.gallery.close()

    # -- checks before the body is read ----------------------------------------------------
    def authorize(self, request: Request, scope: Scope) -> ApiKey | None:
        """The caller's key record (None without a keys file), rate-limited.

        Raises:
            ApiError: 401 without a valid key, 403 for a key of too low a scope, 429 over rate.
        """
        record = None
        if self.keys is not None:
            key = _presented_key(request)
            if key is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "no API key: send 'Authorization: Bearer <key>' (or an X-API-Key header); "
                    "`faceprint keys create` makes one",
                    {"WWW-Authenticate": "Bearer"},
                )
            self.keys.reload()
            record = self.keys.check(key)
            if record is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "the API key is wrong or revoked",
                    {"WWW-Authenticate": "Bearer"},
                )
            if not record.allows(scope):
                raise ApiError(
                    403,
                    "forbidden",
                    f"key {record.name!r} has scope {record.scope!r}; this needs {scope!r}",
                )
        if self.limiter is not None:
            client = record.id if record else (request.client.host if request.client else "")
            self.limiter.take(client)
        return record

    def need_gallery(self) -> Gallery:
        if self.gallery is None:
            raise ApiError(
                404,
                "no_gallery",
                "this server runs without a gallery; start it with --gallery PATH",
            )
        return self.gallery

    # -- bodies ----------------------------------------------------------------------------
    async def images(
        self, request: Request, fields: tuple[str, ...]
    ) -> list[tuple[Image.Image, bytes]]:
        """Decode the image files uploaded as ``fields`` of a multipart form.

        Raises:
            ApiError: 415 for another media type; 400 for a missing field, a text field (a URL
                or a path) instead of a file, or an image that cannot be decoded.
        """
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(_FORMS):
            raise ApiError(
                415,
                "unsupported_media_type",
                f"send multipart/form-data with the image file(s) {', '.join(fields)}; got "
                f"{content_type or 'no Content-Type'}",
            )
        try:
            form = await request.form(max_files=len(fields), max_fields=len(fields) + 4)
        except MultiPartException as e:
            raise ApiError(400, "bad_form", f"the multipart form cannot be read: {e}") from None
        try:
            payloads = []
            for field in fields:
                value = form.get(field)
                if value is None:
                    raise ApiError(400, "missing_image", f"no file in the form field {field!r}")
                if not isinstance(value, UploadFile):
                    raise ApiError(
                        400,
                        "image_not_uploaded",
                        f"{field!r} must be an image file uploaded in the request body; URLs "
                        "and server paths are not accepted",
                    )
                payloads.append((field, await value.read()))
        finally:
            await form.close()
        decoded = []
        for field, data in payloads:
            try:
                image = await run_in_threadpool(_decode, data, field, self.config.max_pixels)
            except ImageError as e:
                raise ApiError(400, "bad_image", str(e)) from None
            decoded.append((image, data))
        return decoded

    async def faces(self, images: list[Image.Image], embed: bool = True) -> list[FacesOf]:
        return await self.batcher.faces(images, embed=embed)

    async def remove(self, request: Request, method: str, item: str | int):
        """A write-scope removal from the gallery (``Gallery.remove`` or ``remove_face``);
        an unknown identity or face is 404."""
        self.authorize(request, "write")
        gallery = self.need_gallery()
        try:
            return await self.in_gallery(getattr(gallery, method), item)
        except GalleryError as e:
            raise ApiError(404, "not_found", str(e)) from None

    async def in_gallery(self, function, *args):
        """Run a gallery call in a worker thread, one at a time."""

        def locked():
            with self.gallery_lock:
                return function(*args)

        return await run_in_threadpool(locked)


def _decode(data: bytes, name: str, max_pixels: int) -> Image.Image:
    image = image_from_bytes(data, name, max_pixels)
    check_min_side(image.size, name)
    return image


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return request.headers.get("x-api-key") or None


def _face_json(region: Region | Face) -> dict:
    return detection_record(region.box, region.probability, region.landmarks)


def _largest(found: FacesOf, field: str) -> Face:
    if not found.faces:
        raise ApiError(422, "no_face", f"no face found in {field!r}")
    return found.faces[0]  # faces come largest first


def _multipart(*fields: str, extra: dict | None = None) -> dict:
    """OpenAPI description of a multipart body (the routes read it themselves, after the key
    check)."""
    properties = {f: {"type": "string", "format": "binary"} for f in fields} | (extra or {})
    schema = {"type": "object", "properties": properties, "required": list(fields)}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


class _Metered:
    """ASGI middleware that counts every answer by route and status, and times it."""

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = route.path if route is not None else "unmatched"
            self.metrics.observe_request(
                path, scope["method"], status[0], time.perf_counter() - started
            )


def _closing(service: Service):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    return lifespan


def create_app(config: ServeConfig) -> FastAPI:
    """Build the service: load the model and gallery, start the batcher.

    Raises:
        FaceprintError: the model, gallery or keys file cannot be used.
    """
    service = Service(config)
    app = FastAPI(
        title="faceprint",
        version="1",
        description="Face detection, verification and identification. Send images as "
        "multipart/form-data and your key as 'Authorization: Bearer <key>'.",
        lifespan=_closing(service),
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=config.max_bytes)
    app.add_middleware(_Metered, metrics=service.metrics)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return Response(error.body(), error.status, error.headers, "application/json")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
        if error.status_code in (404, 405):
            detail = f"no route {request.method} {request.url.path}; the API is listed at /docs"
        return await api_error(request, ApiError(error.status_code, code, detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return await api_error(request, ApiError(400, "bad_request", problems))

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> Response:
        return await api_error(
            request, ApiError(500, "internal", f"{type(error).__name__}: the server failed")
        )

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("faceprint.serve").joinpath("page.html").read_text())

    @app.get("/healthz", summary="Liveness: no key needed")
    async def healthz() -> dict:
        return {"status": "ok", "model": service.recognizer.name}

    @app.get("/metrics", summary="Prometheus metrics (admin)")
    async def metrics(request: Request) -> Response:
        service.authorize(request, "admin")
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @app.post(
        "/v1/detect",
        summary="Faces with box, probability and landmarks (read)",
        openapi_extra=_multipart("image"),
    )
    async def detect(request: Request) -> dict:
        service.authorize(request, "read")
        [(image, _)] = await service.images(request, ("image",))
        [found] = await service.faces([image], embed=False)
        return {"faces": [_face_json(r) for r in found.regions], "ignored": found.ignored}

    @app.post(
        "/v1/analyze",
        summary="Faces with age, gender and emotion (read)",
        openapi_extra=_multipart("image"),
    )
    async def analyze(request: Request) -> dict:
        service.authorize(request, "read")
        [(image, _)] = await service.images(request, ("image",))
        [found] = await service.faces([image], embed=False)
        regions = found.regions
        attributes = await run_in_threadpool(
            service.attributes().analyze,
            image,
            [r.box for r in regions],
            [r.landmarks for r in regions],
        )
        faces = [_face_json(r) | a.to_dict() for r, a in zip(regions, attributes, strict=True)]
        return {"faces": faces, "ignored": found.ignored}

    @app.post(
        "/v1/embed", summary="Faces with their embeddings (read)", openapi_extra=_multipart("image")
    )
    async def embed(request: Request) -> dict:
        service.authorize(request, "read")
        [(image, _)] = await service.images(request, ("image",))
        [found] = await service.faces([image])
        faces = [_face_json(f) | {"embedding": f.embedding.tolist()} for f in found.faces]
        return {"model": service.recognizer.name, "faces": faces, "ignored": found.ignored}

    @app.post(
        "/v1/verify",
        summary="Are the largest faces of two images one person? (read)",
        openapi_extra=_multipart("image_a", "image_b"),
    )
    async def verify(request: Request) -> dict:
        service.authorize(request, "read")
        pairs = await service.images(request, ("image_a", "image_b"))
        found = await service.faces([image for image, _ in pairs])
        face_a, face_b = (
            _largest(f, field) for f, field in zip(found, ("image_a", "image_b"), strict=True)
        )
        distance = float(np.linalg.norm(face_a.embedding - face_b.embedding))
        recognizer = service.recognizer
        return {
            "same": distance < recognizer.threshold,
            "distance": round(distance, 6),
            "similarity": round(1.0 - distance**2 / 2.0, 6),
            "threshold": round(recognizer.threshold, 6),
            "false_accept_rate": recognizer.false_accept_rate(distance),
            "faces": [_face_json(face_a), _face_json(face_b)],
            "model": recognizer.name,
        }

    @app.post(
        "/v1/identify",
        summary="Who is each face? Candidates or unknown (read)",
        openapi_extra=_multipart("image", extra={"k": {"type": "integer", "default": 1}}),
    )
    async def identify(request: Request, k: int = 1) -> dict:
        service.authorize(request, "read")
        gallery = service.need_gallery()
        if not 1 <= k <= MAX_K:
            raise ApiError(400, "bad_request", f"k must be 1..{MAX_K}, got {k}")
        [(image, _)] = await service.images(request, ("image",))
        [found] = await service.faces([image])
        answers = []
        if found.faces:
            embeddings = np.stack([f.embedding for f in found.faces])
            answers = await service.in_gallery(gallery.search, embeddings, k)
        threshold = gallery.threshold
        faces = [
            _face_json(face)
            | {
                "name": answer.name,
                "known": answer.known,
                "distance": None if not answer.matches else round(answer.distance, 6),
                "candidates": [
                    {"name": m.name, "distance": round(m.distance, 6), "face_id": m.face_id}
                    for m in answer.matches
                ],
            }
            for face, answer in zip(found.faces, answers, strict=True)
        ]
        return {"faces": faces, "threshold": round(threshold, 6), "ignored": found.ignored}

    @app.get("/v1/identities", summary="Every identity with its face count (read)")
    async def identities(request: Request) -> dict:
        service.authorize(request, "read")
        gallery = service.need_gallery()
        listed = await service.in_gallery(gallery.list)
        return {
            "identities": [{"name": i.name, "faces": i.faces, "created": i.created} for i in listed]
        }

    @app.post(
        "/v1/identities/{name:identity}/faces",
        status_code=201,
        summary="Enrol the face of one photo under name (write)",
        openapi_extra=_multipart("image"),
    )
    async def enrol(request: Request, name: str, faces: str = "dominant") -> Response:
        record = service.authorize(request, "write")
        gallery = service.need_gallery()
        try:
            check_identity_name(name)
        except GalleryError as e:
            raise ApiError(400, "bad_name", str(e)) from None
        if faces not in FACE_CHOICES:
            raise ApiError(400, "bad_request", "faces must be dominant, largest or strict")
        [(image, data)] = await service.images(request, ("image",))
        [found] = await service.faces([image])
        chosen = choose_subject(found.faces, lambda: image.size, faces)
        if chosen.face is None:
            code = "ambiguous_faces" if chosen.ambiguous else "no_face"
            raise ApiError(422, code, f"not enrolled: {chosen.reason}")
        metadata = {"enrolled_by": record.name} if record else {}
        ids = await service.in_gallery(
            gallery.add_embeddings,
            name,
            chosen.face.embedding[None],
            ["upload"],
            [hashlib.sha256(data).hexdigest()],
            [chosen.face.box.tolist()],
            [metadata],
        )
        box = _face_json(chosen.face)["box"]
        body = {"name": name, "face_id": ids[0] if ids else None, "box": box}
        body |= {"created": bool(ids), "others_ignored": chosen.others}
        return JSONResponse(body, status_code=201 if ids else 200)

    @app.delete(
        "/v1/identities/{name:identity}", summary="Remove an identity and its faces (write)"
    )
    async def remove_identity(request: Request, name: str) -> dict:
        removed = await service.remove(request, "remove", name)
        return {"name": name, "removed_faces": removed}

    @app.delete("/v1/faces/{face_id}", summary="Remove one face (write)")
    async def remove_face(request: Request, face_id: int) -> dict:
        name = await service.remove(request, "remove_face", face_id)
        return {"face_id": face_id, "name": name}

    return app

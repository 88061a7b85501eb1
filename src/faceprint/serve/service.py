"""What the routes of ``faceprint serve`` share: the recognizer, the gallery, the batcher, keys,
limits and metrics, and the one way an uploaded image becomes a decoded one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from faceprint.attributes import AttributeAnalyzer
from faceprint.errors import ImageError
from faceprint.gallery.gallery import Gallery
from faceprint.images import ReducedImage, check_min_side, declared_size, decode_reduced
from faceprint.library.library import Library
from faceprint.pipeline import DEFAULT_MODEL, FaceRecognizer, make_detector
from faceprint.serve.batching import FaceBatcher, FacesOf
from faceprint.serve.config import ServeConfig
from faceprint.serve.http_errors import ApiError
from faceprint.serve.keys import ApiKey, KeyFile, Scope
from faceprint.serve.limits import PixelBudget, RateLimiter, detector_pixels
from faceprint.serve.metrics import ServiceMetrics

T = TypeVar("T")
# A url-encoded form can't carry a file, but is read so that a URL or a path sent in it is
# refused by name rather than as a media type.
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Upload:
    """One uploaded image, decoded.

    Attributes:
        field: the form field it came in.
        decoded: the image, reduced to at most ``--detect-pixels``, and how to map its
            pixels back onto the upload's.
        data: the uploaded bytes (their hash names the photo in the gallery).
    """

    field: str
    decoded: ReducedImage
    data: bytes

    @property
    def image(self) -> Image.Image:
        """The upright RGB image the networks see."""
        return self.decoded.image

    def to_upload(self, coords: np.ndarray) -> np.ndarray:
        """Boxes or landmarks in :attr:`image` pixels -> in the upload's own pixels."""
        return self.decoded.to_original(coords)


class Service:
    """The state behind the routes, built once per app.

    Raises:
        FaceprintError: the model, gallery or keys file cannot be used.
    """

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
                create=not config.read_only,
                open_set=config.open_set,
            )
            model, align = self.gallery.model_source, self.gallery.align
        try:
            size = config.min_face_size
            options = {} if size is None else {"min_face_size": size}
            detector = make_detector(config.detector, config.device, config.backend, **options)
            self.recognizer = FaceRecognizer(
                model=model,
                align=align,
                device=config.device,
                detector=detector,
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
        self.library: Library | None = None
        if config.library is not None:
            try:
                self.library = Library(config.library, create=False)
            except BaseException:
                if self.gallery is not None:
                    self.gallery.close()
                raise
        self.library_lock = threading.Lock()
        self._attributes: AttributeAnalyzer | None = None
        self._attributes_lock = threading.Lock()
        self.keys = KeyFile(config.keys) if config.keys is not None else None
        self.limiter = RateLimiter(config.rate) if config.rate else None
        self.pixels = PixelBudget(config.pixel_budget)
        self.metrics = ServiceMetrics(lambda: self.batcher.queue_depth, lambda: self.pixels.held)
        self.batcher = FaceBatcher(
            self.recognizer,
            max_batch=config.batch_size,
            max_wait=config.batch_wait,
            max_queue=config.queue_size,
            max_pixels=detector_pixels(config.detect_pixels, detector),
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
        if self.library is not None:
            with self.library_lock:
                self.library.close()

    def authorize(self, key: str | None, scope: Scope, client: str) -> ApiKey | None:
        """The record of the key presented (None without a keys file), rate-limited.

        Raises:
            ApiError: 401 without a valid key, 403 for a key of too low a scope, 429 over rate.
        """
        record = None
        if self.keys is not None:
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
            self.limiter.take(record.id if record else client)
        return record

    def need_gallery(self, write: bool = False) -> Gallery:
        """The gallery, for reading or for writing.

        Raises:
            ApiError: 404 without a gallery; 403 for a write to a server started --read-only.
        """
        if self.gallery is None:
            raise ApiError(
                404, "no_gallery", "this server runs without a gallery; start it with --gallery"
            )
        if write and self.config.read_only:
            raise ApiError(
                403,
                "read_only",
                "this server serves its gallery read-only (--read-only): enrolment and removal "
                "are off",
            )
        return self.gallery

    @contextlib.asynccontextmanager
    async def uploads(self, request: Request, *fields: str) -> AsyncIterator[list[Upload]]:
        """The image files uploaded as ``fields`` of a multipart form, decoded, holding their
        pixels from the budget until the block ends.

        Raises:
            ApiError: 415 for another media type; 400 for a missing field, a text field (a URL
                or a path) instead of a file, or an image that cannot be decoded; 503 when the
                pixel budget has no room.
        """
        payloads = await self._read(request, fields)
        declared = await run_in_threadpool(lambda: [declared_size(data) for _, data in payloads])
        pixels = sum(w * h for w, h in filter(None, declared))
        async with self.pixels.reserve(pixels) as held:
            decoded = []
            for field, data in payloads:
                image = await run_in_threadpool(self._decode, data, field)
                decoded.append(Upload(field, image, data))
            await held.resize(sum(u.image.width * u.image.height for u in decoded))
            yield decoded

    def _decode(self, data: bytes, field: str) -> ReducedImage:
        config = self.config
        try:
            decoded = decode_reduced(data, config.detect_pixels, field, config.max_pixels)
            check_min_side(decoded.image.size, field)  # what the detector scans
        except ImageError as e:
            raise ApiError(400, "bad_image", str(e)) from None
        except MemoryError:  # the server's to answer for, not the file's
            raise
        except Exception as e:  # a decoder's own error on a damaged file is the file's fault
            raise ApiError(
                400, "bad_image", f"{field}: cannot decode image ({type(e).__name__}: {e})"
            ) from None
        return decoded

    async def _read(self, request: Request, fields: tuple[str, ...]) -> list[tuple[str, bytes]]:
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
        return payloads

    async def faces(self, uploads: list[Upload], embed: bool = True) -> list[FacesOf]:
        """Detect (and embed) the faces of each upload, in its reduced image's pixels."""
        return await self.batcher.faces([u.image for u in uploads], embed=embed)

    def need_library(self) -> Library:
        """The photo library.

        Raises:
            ApiError: 404 without one.
        """
        if self.library is None:
            raise ApiError(
                404, "no_library", "this server runs without a library; start it with --library"
            )
        return self.library

    async def in_library(self, function: Callable[..., T], *args, **kwargs) -> T:
        """Run a library call in a worker thread, one at a time."""

        def locked():
            with self.library_lock:
                return function(*args, **kwargs)

        return await run_in_threadpool(locked)

    async def in_gallery(self, function: Callable[..., T], *args) -> T:
        """Run a gallery call in a worker thread, one at a time."""

        def locked():
            with self.gallery_lock:
                return function(*args)

        return await run_in_threadpool(locked)

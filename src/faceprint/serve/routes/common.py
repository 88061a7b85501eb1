"""What the routers share: the OpenAPI description of error answers and of multipart bodies,
and a detection's JSON in the upload's own pixels."""

from __future__ import annotations

from faceprint.pipeline import Face, Region, crop_quality, detection_record
from faceprint.serve.schemas import ErrorBody
from faceprint.serve.service import Upload

_ERRORS = {
    400: "a bad request: no image in the form, an image that cannot be decoded, a bad parameter",
    401: "no API key, or a wrong or revoked one",
    403: "the key's scope does not allow this (or the gallery is served read-only)",
    404: "no such identity or face, or the server has no gallery",
    408: "the body did not arrive within --body-timeout",
    413: "the body is larger than --max-bytes",
    415: "the body is not multipart/form-data",
    422: "no face, or no clear subject, in an image; on enrolment also low_quality: the face "
    "scores under the server's --min-quality",
    429: "over the key's --rate; retry after Retry-After seconds",
    503: "the work queue or the pixel budget is full; retry after Retry-After seconds",
}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
#: What every route behind a key can answer.
KEYED = (401, 403, 408, 413, 429)
#: ... and every route that takes images.
UPLOADING = (*KEYED, 400, 415, 503)


def errors(*statuses: int) -> dict:
    """``responses=`` for these error statuses, each with the error body."""
    out = {}
    for status in sorted(set(statuses)):
        out[status] = {"model": ErrorBody, "description": _ERRORS[status]}
        if status in (429, 503):
            out[status]["headers"] = _RETRY
    return out


def multipart(*fields: str, extra: dict | None = None) -> dict:
    """``openapi_extra=`` describing a multipart body of image files (the routes read it
    themselves, after the key check, so FastAPI must not read it first)."""
    properties = {f: {"type": "string", "format": "binary"} for f in fields} | (extra or {})
    schema = {"type": "object", "properties": properties, "required": list(fields)}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def face_json(region: Region | Face, upload: Upload, alignment=None) -> dict:
    """A detection found in ``upload``'s reduced image, in the upload's own pixels, with its
    quality: a Face's own, or for a bare Region the heuristic one measured on its crop by
    ``alignment`` (the served model's)."""
    quality = getattr(region, "quality", None)
    if quality is None:
        quality = crop_quality(upload.image, region.box, region.landmarks, alignment)
    return detection_record(
        upload.to_upload(region.box),
        region.probability,
        upload.to_upload(region.landmarks),
        quality,
    )

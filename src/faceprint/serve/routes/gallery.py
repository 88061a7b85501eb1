"""Routes over the gallery: list identities, enrol a photo's face, correct an answer (reject,
confirm), remove an identity or a face."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from faceprint.errors import GalleryError, NoFaceError
from faceprint.gallery.corrections import confirm_faces, reject_faces
from faceprint.gallery.enroll import FaceChoice, choose_subject
from faceprint.gallery.store import check_identity_name
from faceprint.quality import DEFAULT_MIN_QUALITY
from faceprint.serve.dependencies import Reader, ReadGallery, ServiceDep, WriteGallery, Writer
from faceprint.serve.http_errors import ApiError
from faceprint.serve.routes.common import KEYED, UPLOADING, errors, face_json, multipart
from faceprint.serve.schemas import (
    Confirmed,
    Enrolled,
    Identities,
    Rejected,
    RemovedFace,
    RemovedIdentity,
)

#: Face ids are SQLite rows: signed 64-bit.
_MAX_ID = 2**63 - 1


class _IdentityConvertor(Convertor):
    """Any identity name in a path, slashes and control characters included, so that the
    route sees it and refuses it by name (Starlette's ``path`` stops at a newline)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("identity", _IdentityConvertor())
router = APIRouter(prefix="/v1", tags=["gallery"])


@router.get(
    "/identities",
    summary="Every identity with its face count (read)",
    response_model=Identities,
    responses=errors(*KEYED, 404),
)
async def identities(_: Reader, gallery: ReadGallery, service: ServiceDep) -> dict:
    listed = await service.in_gallery(gallery.list)
    return {
        "identities": [{"name": i.name, "faces": i.faces, "created": i.created} for i in listed]
    }


@router.post(
    "/identities/{name:identity}/faces",
    status_code=201,
    summary="Enrol the face of one photo under name (write)",
    response_model=Enrolled,
    responses={200: {"model": Enrolled, "description": "this photo was enrolled before"}}
    | errors(*UPLOADING, 404, 422),
    openapi_extra=multipart("image"),
)
async def enrol(
    request: Request,
    name: str,
    caller: Writer,
    gallery: WriteGallery,
    service: ServiceDep,
    faces: FaceChoice = "dominant",
    min_quality: Annotated[
        float,
        Query(
            ge=0,
            le=1,
            description="refuse (422 low_quality) a face whose quality is under this; 0: any",
        ),
    ] = DEFAULT_MIN_QUALITY,
) -> JSONResponse:
    try:
        check_identity_name(name)
    except GalleryError as e:
        raise ApiError(400, "bad_name", str(e)) from None
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])
        chosen = choose_subject(found.faces, lambda: upload.image.size, faces)
    if chosen.face is None:
        code = "ambiguous_faces" if chosen.ambiguous else "no_face"
        raise ApiError(422, code, f"not enrolled: {chosen.reason}")
    quality = chosen.face.quality
    if min_quality and quality is not None and quality < min_quality:
        raise ApiError(
            422,
            "low_quality",
            f"not enrolled: the face's quality {quality:.2f} is under min_quality "
            f"{min_quality:g}; send a sharper, larger, more frontal photo",
        )
    box = face_json(chosen.face, upload)["box"]
    ids = await service.in_gallery(
        gallery.add_embeddings,
        name,
        chosen.face.embedding[None],
        ["upload"],
        [hashlib.sha256(upload.data).hexdigest()],
        [box],
        [{"enrolled_by": caller.name} if caller else {}],
    )
    body = {"name": name, "face_id": ids[0] if ids else None, "box": box}
    body |= {"created": bool(ids), "others_ignored": chosen.others}
    return JSONResponse(body, status_code=201 if ids else 200)


@router.post(
    "/identities/{name:identity}/rejections",
    status_code=201,
    summary="Not this person: the photo's face nearest to name is never named name again (write)",
    response_model=Rejected,
    responses=errors(*UPLOADING, 404, 422),
    openapi_extra=multipart("image"),
)
async def reject(
    request: Request, name: str, _: Writer, gallery: WriteGallery, service: ServiceDep
) -> dict:
    try:
        check_identity_name(name)
    except GalleryError as e:
        raise ApiError(400, "bad_name", str(e)) from None
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])
    if not found.faces:
        raise ApiError(422, "no_face", "not rejected: no face found")
    try:
        done = await service.in_gallery(reject_faces, gallery, found.faces, name, "upload")
    except GalleryError as e:
        raise ApiError(404, "not_found", str(e)) from None
    box = face_json(found.faces[done.face_index], upload)["box"]
    return {"name": done.name, "negative_id": done.id, "box": box}


@router.post(
    "/identities/{name:identity}/confirmations",
    status_code=201,
    summary="This is name: add the photo's face to the person (write)",
    response_model=Confirmed,
    responses={200: {"model": Confirmed, "description": "this photo was enrolled before"}}
    | errors(*UPLOADING, 422),
    openapi_extra=multipart("image"),
)
async def confirm(
    request: Request, name: str, caller: Writer, gallery: WriteGallery, service: ServiceDep
) -> JSONResponse:
    try:
        check_identity_name(name)
    except GalleryError as e:
        raise ApiError(400, "bad_name", str(e)) from None
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])
        size = upload.image.size
    try:
        done = await service.in_gallery(
            confirm_faces,
            gallery,
            found.faces,
            name,
            size,
            "upload",
            hashlib.sha256(upload.data).hexdigest(),
            {"enrolled_by": caller.name} if caller else {},
        )
    except NoFaceError:
        raise ApiError(422, "no_face", "not confirmed: no face found") from None
    except GalleryError as e:
        raise ApiError(422, "ambiguous_faces", f"not confirmed: {e}") from None
    body = {"name": done.name, "face_id": done.id, "created": done.id is not None}
    body |= {"box": face_json(found.faces[done.face_index], upload)["box"], "warning": done.warning}
    return JSONResponse(body, status_code=201 if done.id is not None else 200)


@router.delete(
    "/identities/{name:identity}",
    summary="Remove an identity and its faces (write)",
    response_model=RemovedIdentity,
    responses=errors(*KEYED, 404),
)
async def remove_identity(name: str, _: Writer, gallery: WriteGallery, service: ServiceDep) -> dict:
    try:
        removed = await service.in_gallery(gallery.remove, name)
    except GalleryError as e:
        raise ApiError(404, "not_found", str(e)) from None
    return {"name": name, "removed_faces": removed}


@router.delete(
    "/faces/{face_id}",
    summary="Remove one face (write)",
    response_model=RemovedFace,
    responses=errors(*KEYED, 400, 404),
)
async def remove_face(face_id: int, _: Writer, gallery: WriteGallery, service: ServiceDep) -> dict:
    if not 0 <= face_id <= _MAX_ID:
        raise ApiError(404, "not_found", f"no face with id {face_id}")
    try:
        name = await service.in_gallery(gallery.remove_face, face_id)
    except GalleryError as e:
        raise ApiError(404, "not_found", str(e)) from None
    return {"face_id": face_id, "name": name}

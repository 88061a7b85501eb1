"""Routes over a photo library (``faceprint serve --library L``): people and clusters with their
faces and thumbnails, and the verbs that change them (name, merge, split, move, forget), with
the gallery's keys and scopes; the review page at ``/library`` calls only these."""

from __future__ import annotations

import base64
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from faceprint.errors import LibraryError
from faceprint.library.library import Library, Person
from faceprint.serve.dependencies import Admin, Reader, ServiceDep, Writer
from faceprint.serve.http_errors import ApiError
from faceprint.serve.keys import ApiKey
from faceprint.serve.routes.common import KEYED, errors
from faceprint.serve.schemas import Box

#: Face and person ids are SQLite rows: signed 64-bit.
_MAX_ID = 2**63 - 1
router = APIRouter(prefix="/v1/library", tags=["library"])
page_router = APIRouter(tags=["library"])


def _library(service: ServiceDep) -> Library:
    return service.need_library()


LibraryDep = Annotated[Library, Depends(_library)]


class LibraryFace(BaseModel):
    id: int = Field(description="the face's id (for move)")
    image: str = Field(description="the photo's path in the library's folder")
    box: Box
    thumbnail: str | None = Field(
        None, description="the face as a data: URL (JPEG), for the first faces of each person"
    )


class LibraryPerson(BaseModel):
    id: int = Field(description="the person's or cluster's id")
    name: str | None = Field(description="the name; null for a cluster nobody named yet")
    faces: list[LibraryFace]
    count: int = Field(description="number of faces")


class LibraryPeople(BaseModel):
    people: list[LibraryPerson]
    counts: dict[str, int] = Field(
        description="photos, faces, pending, noise (faces in no cluster), people, clusters"
    )


class NameBody(BaseModel):
    name: str = Field(description="the new name; one another person has merges into them")


class MergeBody(BaseModel):
    into: str = Field(description="the person or cluster (id or name) that takes the faces")


class MoveBody(BaseModel):
    person: str = Field(description="a person or cluster (id or name), or a new name")


class Split(BaseModel):
    groups: list[list[int]] = Field(description="face ids per group; the first stays")


class Forgotten(BaseModel):
    id: int
    erased_faces: int


class AuditRecord(BaseModel):
    id: int
    who: str
    what: str
    at: float = Field(description="Unix time")
    details: dict


class AuditLog(BaseModel):
    entries: list[AuditRecord]


def _who(caller: ApiKey | None) -> str:
    return f"key:{caller.name}" if caller is not None else "anonymous"


def _refused(error: LibraryError) -> ApiError:
    message = str(error)
    if message.startswith("no "):
        return ApiError(404, "not_found", message)
    return ApiError(400, "refused", message)


def _person(person: Person, library: Library, thumbnails: int) -> dict:
    faces = []
    for i, face in enumerate(person.faces):
        data = library.thumbnail(face.id) if i < thumbnails else None
        faces.append(
            {
                "id": face.id,
                "image": face.image,
                "box": face.box,
                "thumbnail": None
                if data is None
                else "data:image/jpeg;base64," + base64.b64encode(data).decode(),
            }
        )
    return {"id": person.id, "name": person.name, "faces": faces, "count": len(faces)}


@page_router.get("/library", include_in_schema=False)
async def review_page() -> HTMLResponse:
    return HTMLResponse(resources.files("faceprint.serve").joinpath("library.html").read_text())


@router.get(
    "/people",
    summary="People and clusters with their faces (read)",
    response_model=LibraryPeople,
    responses=errors(*KEYED, 400, 404),
)
async def people(
    _: Reader,
    library: LibraryDep,
    service: ServiceDep,
    thumbnails: Annotated[int, Query(ge=0, le=1000, description="thumbnails per person")] = 0,
) -> dict:
    def listed() -> dict:
        return {
            "people": [_person(p, library, thumbnails) for p in library.people()],
            "counts": library.counts(),
        }

    return await service.in_library(listed)


@router.get(
    "/faces/{face_id}/thumbnail",
    summary="A face's thumbnail, JPEG (read)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}} | errors(*KEYED, 400, 404),
)
async def thumbnail(face_id: int, _: Reader, library: LibraryDep, service: ServiceDep) -> Response:
    if not 0 <= face_id <= _MAX_ID:
        raise ApiError(404, "not_found", f"no face with id {face_id}")
    try:
        data = await service.in_library(library.thumbnail, face_id)
    except LibraryError as e:
        raise _refused(e) from None
    if data is None:
        raise ApiError(404, "not_found", f"face {face_id} has no thumbnail")
    return Response(data, media_type="image/jpeg")


@router.post(
    "/people/{person}/name",
    summary="Name a cluster, or rename a person (write)",
    response_model=LibraryPerson,
    responses=errors(*KEYED, 400, 404),
)
async def name(
    person: str, body: NameBody, caller: Writer, library: LibraryDep, service: ServiceDep
) -> dict:
    try:
        named = await service.in_library(library.name, person, body.name, who=_who(caller))
    except LibraryError as e:
        raise _refused(e) from None
    return _person(named, library, 0)


@router.post(
    "/people/{person}/merge",
    summary="Move every face of a person into another (write)",
    response_model=LibraryPerson,
    responses=errors(*KEYED, 400, 404),
)
async def merge(
    person: str, body: MergeBody, caller: Writer, library: LibraryDep, service: ServiceDep
) -> dict:
    try:
        merged = await service.in_library(library.merge, person, body.into, who=_who(caller))
    except LibraryError as e:
        raise _refused(e) from None
    return _person(merged, library, 0)


@router.post(
    "/people/{person}/split",
    summary="Re-cluster a person's faces; groups but the largest become clusters (write)",
    response_model=Split,
    responses=errors(*KEYED, 400, 404),
)
async def split(person: str, caller: Writer, library: LibraryDep, service: ServiceDep) -> dict:
    try:
        groups = await service.in_library(library.split, person, who=_who(caller))
    except LibraryError as e:
        raise _refused(e) from None
    return {"groups": groups}


@router.post(
    "/faces/{face_id}/move",
    summary="Give one face to a person (write)",
    response_model=LibraryPerson,
    responses=errors(*KEYED, 400, 404),
)
async def move(
    face_id: int, body: MoveBody, caller: Writer, library: LibraryDep, service: ServiceDep
) -> dict:
    if not 0 <= face_id <= _MAX_ID:
        raise ApiError(404, "not_found", f"no face with id {face_id}")
    try:
        target = await service.in_library(library.move, face_id, body.person, who=_who(caller))
    except LibraryError as e:
        raise _refused(e) from None
    return _person(target, library, 0)


@router.delete(
    "/people/{person}",
    summary="Forget a person: erase their faces, embeddings and thumbnails (write)",
    response_model=Forgotten,
    responses=errors(*KEYED, 400, 404),
)
async def forget(person: str, caller: Writer, library: LibraryDep, service: ServiceDep) -> dict:
    def erase() -> dict:
        found = library.person(person)
        return {"id": found.id, "erased_faces": library.forget(found.id, who=_who(caller))}

    try:
        return await service.in_library(erase)
    except LibraryError as e:
        raise _refused(e) from None


@router.get(
    "/audit",
    summary="The audit log: every change, who made it and when (admin)",
    response_model=AuditLog,
    responses=errors(*KEYED, 400, 404),
)
async def audit(_: Admin, library: LibraryDep, service: ServiceDep) -> dict:
    entries = await service.in_library(library.audit_log)
    return {"entries": [e.__dict__ for e in entries]}

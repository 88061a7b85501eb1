"""Routes that look at faces in uploaded images: detect, analyze, embed, verify, identify."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from faceprint.serve.dependencies import Reader, ReadGallery, ServiceDep
from faceprint.serve.http_errors import ApiError
from faceprint.serve.routes.common import UPLOADING, errors, face_json, multipart
from faceprint.serve.schemas import Analyzed, Detected, Embedded, Identified, Verified

#: Most candidates ``/v1/identify`` returns per face.
MAX_K = 20

router = APIRouter(prefix="/v1", tags=["faces"])


@router.post(
    "/detect",
    summary="Faces with box, probability and landmarks (read)",
    response_model=Detected,
    responses=errors(*UPLOADING),
    openapi_extra=multipart("image"),
)
async def detect(request: Request, _: Reader, service: ServiceDep) -> dict:
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload], embed=False)
    alignment = service.recognizer.alignment
    faces = [face_json(r, upload, alignment) for r in found.regions]
    return {"faces": faces, "ignored": found.ignored}


@router.post(
    "/analyze",
    summary="Faces with age, gender and emotion (read)",
    response_model=Analyzed,
    responses=errors(*UPLOADING),
    openapi_extra=multipart("image"),
)
async def analyze(request: Request, _: Reader, service: ServiceDep) -> dict:
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])  # embedded: the faces' quality is the model's
        regions = found.faces
        attributes = await run_in_threadpool(
            service.attributes().analyze,
            upload.image,
            [r.box for r in regions],
            [r.landmarks for r in regions],
        )
    faces = [face_json(f, upload) | a.to_dict() for f, a in zip(regions, attributes, strict=True)]
    return {"faces": faces, "ignored": found.ignored}


@router.post(
    "/embed",
    summary="Faces with their embeddings (read)",
    response_model=Embedded,
    responses=errors(*UPLOADING),
    openapi_extra=multipart("image"),
)
async def embed(request: Request, _: Reader, service: ServiceDep) -> dict:
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])
    faces = [face_json(f, upload) | {"embedding": f.embedding.tolist()} for f in found.faces]
    return {"model": service.recognizer.name, "faces": faces, "ignored": found.ignored}


@router.post(
    "/verify",
    summary="Are the largest faces of two images one person? (read)",
    response_model=Verified,
    responses=errors(*UPLOADING, 422),
    openapi_extra=multipart("image_a", "image_b"),
)
async def verify(request: Request, _: Reader, service: ServiceDep) -> dict:
    async with service.uploads(request, "image_a", "image_b") as uploads:
        found = await service.faces(uploads)
    for faces, upload in zip(found, uploads, strict=True):
        if not faces.faces:
            raise ApiError(422, "no_face", f"no face found in {upload.field!r}")
    face_a, face_b = (f.faces[0] for f in found)  # faces come largest first
    distance = float(np.linalg.norm(face_a.embedding - face_b.embedding))
    recognizer = service.recognizer
    return {
        "same": distance < recognizer.threshold,
        "distance": round(distance, 6),
        "similarity": round(1.0 - distance**2 / 2.0, 6),
        "threshold": round(recognizer.threshold, 6),
        "false_accept_rate": recognizer.false_accept_rate(distance),
        "faces": [face_json(f, u) for f, u in zip((face_a, face_b), uploads, strict=True)],
        "model": recognizer.name,
    }


@router.post(
    "/identify",
    summary="Who is each face? Candidates or unknown (read)",
    response_model=Identified,
    responses=errors(*UPLOADING, 404),
    openapi_extra=multipart("image"),
)
async def identify(
    request: Request,
    _: Reader,
    gallery: ReadGallery,
    service: ServiceDep,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="candidates per face")] = 1,
) -> dict:
    async with service.uploads(request, "image") as [upload]:
        [found] = await service.faces([upload])
    answers = []
    if found.faces:
        embeddings = np.stack([f.embedding for f in found.faces])
        answers = await service.in_gallery(gallery.search, embeddings, k, True)
    faces = [
        face_json(face, upload)
        | {
            "name": answer.name,
            "known": answer.known,
            "distance": None if not answer.matches else round(answer.distance, 6),
            "margin": None if answer.score is None else round(answer.score, 6),
            "candidates": [
                {"name": m.name, "distance": round(m.distance, 6), "face_id": m.face_id}
                for m in answer.matches
            ],
        }
        for face, answer in zip(found.faces, answers, strict=True)
    ]
    return {
        "faces": faces,
        "threshold": round(gallery.threshold, 6),
        "ignored": found.ignored,
        "rule": gallery.rule,
        "open_set": gallery.open_set,
        "margin_threshold": (
            round(gallery.margin_threshold, 6) if gallery.open_set == "margin" else None
        ),
    }

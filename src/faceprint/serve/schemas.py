"""The service's bodies as pydantic models: every answer and every error, so that
``/openapi.json`` describes what each route can send."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

Box = Annotated[
    list[float], Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in pixels")
]
Point = Annotated[list[float], Field(min_length=2, max_length=2, description="x, y in pixels")]


class ErrorBody(BaseModel):
    """Every error answer: a short code and what to do about it."""

    error: str = Field(description="machine-readable code, e.g. too_large, bad_image")
    detail: str = Field(description="what is wrong and how to fix it")


class DetectorInfo(BaseModel):
    """The face detector that finds the faces of every route."""

    name: str = Field(description="registry name, e.g. mtcnn, centerface, mtcnn+centerface")
    settings: dict = Field(
        description="everything its answers depend on: smallest face, input scale, thresholds"
    )


class Health(BaseModel):
    status: str = Field(description="ok")
    model: str = Field(description="the embedding model served")
    detector: DetectorInfo


class DetectedFace(BaseModel):
    """One detection, in the uploaded image's own pixels."""

    box: Box
    probability: float = Field(ge=0, le=1)
    landmarks: list[Point] = Field(
        description="left eye, right eye, nose, left and right mouth corner"
    )
    quality: float = Field(
        ge=0,
        le=1,
        description="how useful the face is for recognition, higher is better (the served "
        "model's score; on /v1/detect, where nothing is embedded, the heuristic one)",
    )


class Detected(BaseModel):
    faces: list[DetectedFace] = Field(description="largest first")
    ignored: int = Field(ge=0, description="detections too unlikely or too small to recognise")


class AnalyzedFace(DetectedFace):
    age: float
    gender: str
    gender_probability: float = Field(ge=0, le=1)
    emotion: str
    emotion_probabilities: dict[str, float]


class Analyzed(BaseModel):
    faces: list[AnalyzedFace]
    ignored: int = Field(ge=0)


class EmbeddedFace(DetectedFace):
    embedding: list[float] = Field(description="unit vector of the model's embedding size")


class Embedded(BaseModel):
    model: str
    faces: list[EmbeddedFace]
    ignored: int = Field(ge=0)


class Verified(BaseModel):
    same: bool = Field(description="distance < threshold")
    distance: float = Field(ge=0, le=2, description="L2 distance of the unit embeddings")
    similarity: float = Field(ge=-1, le=1, description="cosine similarity")
    threshold: float
    false_accept_rate: float | None = Field(
        description="how often two strangers come this close; null without calibration"
    )
    faces: list[DetectedFace] = Field(description="the face compared in image_a, image_b")
    model: str


class Candidate(BaseModel):
    name: str
    distance: float
    face_id: int


class IdentifiedFace(DetectedFace):
    name: str = Field(description="the best match, or 'unknown' beyond the threshold")
    known: bool
    distance: float | None = Field(description="to the best match; null in an empty gallery")
    margin: float | None = Field(
        default=None,
        description="under the margin decision: the best match's distance minus half the "
        "second nearest person's, compared with margin_threshold; null otherwise",
    )
    candidates: list[Candidate]


class Identified(BaseModel):
    faces: list[IdentifiedFace]
    threshold: float
    ignored: int = Field(ge=0)
    rule: str = Field(
        description="how a face's distance to a person was measured: 'faces' (the closest of "
        "their faces), 'template' (their template), or 'mix' (the mean of the two)"
    )
    open_set: str = Field(
        default="distance",
        description="how a face was found to be nobody enrolled: 'distance' (its distance "
        "against threshold) or 'margin' (its margin against margin_threshold; a face with one "
        "candidate person is decided by distance)",
    )
    margin_threshold: float | None = Field(
        default=None, description="the margin threshold under the margin decision, else null"
    )


class Identity(BaseModel):
    name: str
    faces: int = Field(ge=0)
    created: float = Field(description="Unix seconds")


class Identities(BaseModel):
    identities: list[Identity]


class Enrolled(BaseModel):
    name: str
    face_id: int | None = Field(description="null when this photo was enrolled already")
    box: Box
    created: bool = Field(description="false: the same photo was enrolled before")
    others_ignored: int = Field(ge=0, description="other faces in the photo, passed over")


class RemovedIdentity(BaseModel):
    name: str
    removed_faces: int = Field(ge=0)


class RemovedFace(BaseModel):
    face_id: int
    name: str = Field(description="the identity the face belonged to")


class Rejected(BaseModel):
    name: str
    negative_id: int = Field(description="the stored negative: this face is not name")
    box: list[float]


class Confirmed(BaseModel):
    name: str
    face_id: int | None = Field(description="the added face; null when enrolled before")
    box: list[float]
    created: bool
    warning: str | None = Field(
        default=None, description="the face lies far from the person's other photos"
    )

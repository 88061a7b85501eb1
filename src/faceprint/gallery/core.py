"""``GalleryCore``: known people and their faces, searched by a real vector index; the store
plus its index, below enrolment and exchange (:class:`faceprint.gallery.Gallery` adds them).

Records live in a store (:mod:`faceprint.gallery.records`): one SQLite file (transactional,
durable under ``kill -9``) or a PostgreSQL database shared by replicas on several machines.
Vectors are served by FAISS in memory (saved so reopening is fast) or, for a gallery that
outgrows one machine, by Milvus (``vectors="http://milvus:19530"``, or a Milvus Lite ``*.db``
file). Before every search the index catches up from the store's change log, so it answers for
every write committed by any process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import GalleryError, ModelMismatchError, UncalibratedError
from faceprint.gallery.index import FaissIndex, MilvusIndex, VectorIndex, require_milvus
from faceprint.gallery.records import FaceRecord, IdentityInfo, NegativeRecord, Store
from faceprint.gallery.stores import gallery_location, open_store
from faceprint.gallery.vectors import unit_rows
from faceprint.weights.calibration import (
    distance_at_far,
    margin_score,
    margin_threshold,
    open_set_threshold,
)
from faceprint.weights.factory import get_weights
from faceprint.weights.registry import BASE_DETECTOR, DetectorCalibration

if TYPE_CHECKING:
    from faceprint.pipeline import FaceRecognizer

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"
#: Default open-set false-alarm rate: 1 in 100 never-enrolled people gets a name.
DEFAULT_FAR = 0.01
#: How a query's distance to a person is measured: ``"faces"`` the closest of the person's
#: faces, ``"template"`` the person's template (the quality-weighted mean of the unit
#: embeddings of their faces, renormalised), ``"mix"`` the mean of the two.
RULES = ("faces", "template", "mix")
#: The default rule: ``scripts/gallery_lfw.py --templates`` (all 1680 LFW people with up to 4
#: photos each enrolled) measured "template" best, DIR 0.856 at FAR 1% against 0.824 for
#: "faces" (docs/guides/gallery.md); with one photo per person the rules agree.
DEFAULT_RULE = "template"
#: How a gallery decides that a query is nobody it knows: ``"distance"``, the nearest person's
#: distance against the open-set threshold for N people; ``"margin"``, the nearest distance
#: minus a fraction of the second nearest (``d1 - beta * d2``) against the model's margin
#: threshold for N people (docs/guides/gallery.md: DIR 0.86 against 0.79 at FAR 1% among 1680
#: LFW people, one photo each, for the ensemble).
OPEN_SET_DECISIONS = ("distance", "margin")
#: A negative ("not NAME") keeps NAME from every face within this L2 distance of it: the same
#: face and near-duplicates of it (the photo re-saved, resized, cropped a little), but not,
#: as a rule, other photos of the person. Chosen, not measured; the tests hold it to a copy at
#: 200 px and JPEG quality 60 (inside) and another photo of the same man (outside).
NEGATIVE_RADIUS = 0.5
#: The 1:1 false-accept rate whose distance marks an enrolled photo as an outlier: one farther
#: from the person's template than two strangers' faces come 1 time in 1000.
OUTLIER_FAR = 1e-3
_NO = 1e6  # an assignment that may not be made (a name beyond the threshold)


@dataclass(frozen=True)
class Match:
    """One candidate identity: its name, its L2 distance by the gallery's rule (that of its
    closest face, of its template, or their mean), and its closest face."""

    name: str
    distance: float
    face_id: int


@dataclass(frozen=True)
class Identification:
    """Who a query face is: ``name`` is the best match or ``"unknown"`` beyond the threshold.

    Attributes:
        name: best identity, or ``"unknown"``.
        distance: L2 distance to the best match (``inf`` for an empty gallery).
        matches: the top-k identities, nearest first (the best one even when unknown).
        threshold: the distance (under ``open_set="margin"``: the margin score) beyond which
            the face was called unknown.
        rule: how distances to a person were measured (one of :data:`RULES`).
        score: the margin score ``d1 - beta * d2`` of the best match under
            ``open_set="margin"`` (None under ``"distance"``, or with one candidate only).
    """

    name: str
    distance: float
    matches: list[Match]
    threshold: float = float("nan")
    rule: str = "faces"
    score: float | None = None

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


_MODEL_FILE = "model_file"
#: Metadata: the change-log sequence the Milvus collection holds.
_VECTORS_SEQUENCE = "vectors_sequence"


class GalleryCore:
    """A persistent face gallery of ready embeddings: add, search, manage.

    Args:
        path: the gallery file (SQLite), or a PostgreSQL database
            (``"postgresql://user:password@host:5432/faces"``) that replicas on several
            machines share. Created on first use; an existing file that is not a gallery (even
            an empty one) is refused, never overwritten.
        model: registry name of the embedding model (``"ms-celeb-1m"``); a new gallery records
            it together with ``align``, and an existing one refuses any other.
        align: alignment method (``"box"``, ``"similarity"``, ``"dlib"``, ``"none"``; default
            the model's own).
        threshold: L2 distance beyond which a face is ``"unknown"``, fixed whatever the
            gallery's size. Given when the gallery is created, it is stored with it.
            Default: the stored one, else the open-set threshold for ``far``.
        far: the open-set false-alarm rate: the fraction of never-enrolled people who get a
            name. The threshold is read off the model's impostor-distance distribution for the
            current number of identities, so it tightens as the gallery grows. Default 1%.
        vectors: None for the embedded FAISS index, or a Milvus URI (``"http://host:19530"``,
            or a Milvus Lite file ``"faces.db"``).
        recognizer: a ready :class:`faceprint.FaceRecognizer` (its model and alignment must be
            the gallery's); otherwise built on first need.
        detector: the registry name of the detector whose faces are searched (default
            ``"mtcnn"``; the recognizer's where one is given): the open-set threshold is that
            of the model's calibration for this detector and the gallery's alignment.
        create: create the gallery if missing.
        device: where the recognizer built on first need runs (e.g. ``"cuda"``).
        rule: how a query's distance to a person is measured (:data:`RULES`; default
            :data:`DEFAULT_RULE`).
        open_set: how a query is found to be a stranger (:data:`OPEN_SET_DECISIONS`):
            ``"distance"`` (default) or ``"margin"``, where the model is calibrated for it
            (``ms-celeb-1m/box`` and ``ms-celeb-1m+dlib-resnet-v1/box`` with MTCNN's faces).
            A query with a single candidate person (a gallery of one) is decided by distance.

    Raises:
        GalleryError: the path is not a faceprint gallery (corrupt or foreign file).
        ModelMismatchError: the gallery was made with another model or alignment.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: str | None = None,
        align: str | None = None,
        threshold: float | None = None,
        vectors: str | None = None,
        recognizer: FaceRecognizer | None = None,
        create: bool = True,
        far: float = DEFAULT_FAR,
        device: str | None = None,
        detector: str | None = None,
        rule: str = DEFAULT_RULE,
        open_set: str = "distance",
    ) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
        if open_set not in OPEN_SET_DECISIONS:
            raise ValueError(
                f"open_set must be one of {', '.join(OPEN_SET_DECISIONS)}, got {open_set!r}"
            )
        self.rule = rule
        self.open_set = open_set
        self._templates: dict[str, np.ndarray] = {}  # name -> unit template, cleared on change
        self._negatives: dict[str, np.ndarray] | None = None  # name -> (n, D), read on change
        self.path = gallery_location(path)
        if vectors is not None:
            require_milvus()  # before the gallery is made
        if recognizer is not None:
            model = model or recognizer.weights.name
            align = align or recognizer.alignment.method
            detector = detector or recognizer.detector.name
        #: The detector whose calibration sets the open-set threshold.
        self.detector = detector or BASE_DETECTOR
        explicit = model is not None
        if model is None:
            from faceprint.pipeline import DEFAULT_MODEL

            model = DEFAULT_MODEL  # of a new gallery; an existing one keeps its own
        # A model file's record is stored by name, and its path kept so the gallery can
        # rebuild its recognizer when reopened.
        given = get_weights(model)
        wanted = f"{given.name}/{align or given.default_align}"
        self.store: Store = open_store(
            self.path, model=wanted, dim=given.embedding_size, create=create
        )
        existing = not self.store.created
        if given.path and not existing:
            self.store.set_meta(_MODEL_FILE, str(Path(given.path).resolve()))
        if explicit and existing and wanted != self.store.model:
            self.store.close()
            raise ModelMismatchError(
                f"{self.store.location} holds {self.store.model} embeddings; it cannot take "
                f"{wanted} ones. "
                "Use the gallery's model or a new gallery."
            )
        self.model_name, self.align = self.store.model.rsplit("/", 1)
        if threshold is not None and not existing:
            self.store.set_meta("threshold", str(float(threshold)))
        stored = self.store.meta("threshold", "")
        if threshold is None and stored:
            threshold = float(stored)
        self.fixed_threshold = None if threshold is None else float(threshold)
        self.far = float(far)
        # The record already read for `model` serves when it is the gallery's own.
        same = given.name == self.model_name
        record = given if same else get_weights(self.model_source)
        self._impostors: tuple[float, ...] | None = None
        self._exponent = 1.0
        try:
            self._calibrate(record)
        except BaseException:
            self.store.close()
            raise
        self._recognizer = None
        self._device = device
        if recognizer is not None:
            self.recognizer = recognizer
        self.vectors_uri = vectors
        self._sequence: int | None = None  # the change-log sequence the index holds
        self._saved: int | None = None  # the sequence of the saved FAISS index
        self._behind = True
        try:
            self.index: VectorIndex = self._open_index()
            self.sync()
        except BaseException:
            self.store.close()
            raise

    def _calibrate(self, record) -> None:
        """Take the open-set calibration of ``record`` for :attr:`detector` and the gallery's
        alignment (a fixed threshold needs none)."""
        try:
            calibration = record.calibration(self.detector, self.align)
        except UncalibratedError:
            if self.fixed_threshold is None:
                raise
            calibration = DetectorCalibration()
        self._impostors = calibration.impostor_distances
        self._exponent = calibration.open_set_exponent
        self._margin = calibration.margin
        if self.open_set == "margin" and self._margin is None:
            raise UncalibratedError(
                f"{self.model_name} has no open-set margin calibration for "
                f"{self.detector}/{self.align} (scripts/calibrate_margin.py); use "
                "open_set='distance'"
            )
        self.outlier_threshold: float | None = (
            distance_at_far(self._impostors, OUTLIER_FAR)
            if self._impostors is not None
            else calibration.threshold
        )
        if self.fixed_threshold is None and self._impostors is None:
            fallback = calibration.threshold
            if fallback is None:
                raise GalleryError(
                    f"{self.model_name} has no calibrated thresholds for "
                    f"{self.detector}/{self.align}; pass threshold= (--threshold)"
                )
            logger.warning(
                "%s/%s has no impostor distribution: using its 1:1 threshold %.3f, which names "
                "more strangers as the gallery grows; pass threshold= for a stricter one",
                self.model_name,
                self.align,
                fallback,
            )
            self.fixed_threshold = float(fallback)

    @property
    def model_source(self) -> str:
        """What builds the gallery's model: its registry name, or the model file it came from."""
        return self.store.meta(_MODEL_FILE, "") or self.model_name

    @property
    def model(self) -> str:
        """What made the embeddings: ``model/alignment``, e.g. ``ms-celeb-1m/box``."""
        return self.store.model

    @property
    def threshold(self) -> float:
        """The distance beyond which a face is ``"unknown"``, for the gallery as it is now.

        A fixed threshold where one was given; else the open-set threshold at ``far`` for the
        current number of identities.
        """
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        identities = self.store.identity_count()
        return open_set_threshold(self._impostors, self.far, identities, self._exponent)

    @property
    def margin_threshold(self) -> float:
        """The margin score beyond which a face is ``"unknown"`` under ``open_set="margin"``,
        for the gallery's size now (the model's table at :attr:`far`; NaN otherwise)."""
        if self._margin is None:
            return float("nan")
        identities = max(2, self.store.identity_count())
        return margin_threshold(self._margin.thresholds, self.far, identities)

    def _scores(self, row: list[Match]) -> list[float]:
        """The open-set score of each candidate of one query: its distance (held to
        :attr:`threshold`), or under ``"margin"``, where the query has two candidates or more,
        its margin against the nearest other candidate (held to :attr:`margin_threshold`)."""
        distances = [m.distance for m in row]
        if self.open_set != "margin" or len(row) < 2:
            return distances
        beta = self._margin.beta
        return [
            float(margin_score(d, distances[1] if i == 0 else distances[0], beta))
            for i, d in enumerate(distances)
        ]

    # -- the vector index ------------------------------------------------------------------
    def _open_index(self) -> VectorIndex:
        if self.vectors_uri is None:
            path = self.store.index_path()
            loaded = None if path is None else FaissIndex.load(path, self.store.dim, self.store.uid)
            if loaded is None:
                return FaissIndex(self.store.dim)
            index, self._sequence = loaded
            self._saved = self._sequence
            return index
        index = MilvusIndex(
            self.vectors_uri, self.store.dim, collection=f"faceprint_{self.store.uid[:16]}"
        )
        stamp = self.store.meta(_VECTORS_SEQUENCE, "")
        self._sequence = int(stamp) if stamp else None
        return index

    def sync(self) -> None:
        """Bring the index up to every change committed so far, by any process.

        Cheap when nothing changed (the store's poll: SQLite's ``data_version``; PostgreSQL's
        ``NOTIFY`` and the log's latest sequence); otherwise the changes after the index's
        sequence are read from the log, removed faces dropped and added ones fetched, in one
        consistent snapshot. An index the log cannot bring up to date (saved before the log
        began, or ahead of the store) is rebuilt from the store.
        """
        if not (self.store.poll() or self._behind):
            return
        self._behind = True  # until this catch-up has finished
        # Templates and negatives are kept by name, and any commit (a rename too) may change
        # what a name holds: templates are made again on demand, negatives (few) read again.
        self._templates.clear()
        with self.store.snapshot():
            changes = None if self._sequence is None else self.store.changes(self._sequence)
            negatives: dict[str, list[np.ndarray]] = {}
            for record in self.store.negatives():
                negatives.setdefault(record.identity, []).append(record.embedding)
            self._negatives = {n: np.stack(v) for n, v in negatives.items()}
            if changes is None:
                sequence = self.store.sequence
                self.index.reset()
                for ids, vectors in self.store.iter_vectors():
                    self.index.add(ids, vectors)
            else:
                sequence = changes.sequence
                if changes.removed:
                    self.index.remove(np.asarray(changes.removed, dtype=np.int64))
                if changes.added:
                    self.index.add(
                        np.asarray(changes.added, dtype=np.int64),
                        self.store.vectors(changes.added),
                    )
        if self.vectors_uri is not None and sequence != self._sequence:
            self.store.set_meta(_VECTORS_SEQUENCE, str(sequence))
        self._sequence = sequence
        self._behind = False

    def refresh(self) -> None:
        """Catch the index up with changes other processes made (searches do it themselves)."""
        self._behind = True
        self.sync()

    # -- writing ---------------------------------------------------------------------------
    def add_embeddings(
        self,
        name: str,
        embeddings: np.ndarray,
        sources: Sequence[str | None] | None = None,
        source_keys: Sequence[str | None] | None = None,
        boxes: Sequence[Sequence[float] | None] | None = None,
        metadata: Sequence[dict] | dict | None = None,
    ) -> list[int]:
        """Enrol ready embeddings under ``name`` in one transaction; returns the new face ids.

        Args:
            name: identity (created if new).
            embeddings: ``(N, D)`` float32 unit vectors from this gallery's model.
            sources: where each face came from (e.g. a file path).
            source_keys: a key per face; a face whose key is already enrolled for ``name`` is
                skipped (what makes re-running an enrolment resume instead of duplicate).
            boxes: ``(x1, y1, x2, y2)`` per face.
            metadata: a dict per face, or one dict for all.
        """
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if embeddings.shape[1] != self.store.dim:
            raise ModelMismatchError(
                f"embeddings of size {embeddings.shape[1]}; this gallery holds "
                f"{self.store.dim}-d {self.store.model} ones"
            )
        embeddings = unit_rows(embeddings, "embeddings")
        n = len(embeddings)
        meta = metadata if isinstance(metadata, Sequence) else [metadata or {}] * n
        ids = self.store.add_faces(
            name,
            embeddings,
            sources or [None] * n,
            source_keys or [None] * n,
            boxes or [None] * n,
            meta,
        )
        self.sync()
        return ids

    def remove(self, name: str) -> int:
        """Remove an identity and its faces; returns how many faces went."""
        ids = self.store.remove(name)
        self.sync()
        return len(ids)

    def remove_face(self, face_id: int) -> str:
        """Remove one face by id (an identity left without faces goes too); returns the name
        it belonged to."""
        name = self.store.remove_face(face_id)
        self.sync()
        return name

    def rename(self, old: str, new: str) -> None:
        """Rename an identity (its faces follow)."""
        self.store.rename(old, new)

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[IdentityInfo]:
        """Every identity with its face count, creation time and metadata, by name."""
        return self.store.identities()

    def faces(self, name: str | None = None) -> list[FaceRecord]:
        """Stored faces (without embeddings), of one identity or all."""
        return self.store.faces(name)

    def __len__(self) -> int:
        return self.store.face_count()

    def search(
        self, embeddings: np.ndarray, k: int = 1, joint: bool = False
    ) -> list[Identification]:
        """Identify each query embedding.

        A person's distance follows :attr:`rule` (their closest face, their template, or the
        mean of both); a name that a negative within :data:`NEGATIVE_RADIUS` of the query
        rules out is no candidate.

        Args:
            embeddings: ``(Q, D)`` (or ``(D,)``) unit embeddings from the gallery's model.
            k: how many identities to return per query.
            joint: the queries are the faces of one photo, so no two may be the same person:
                names are assigned jointly, the assignment of least total distance over names
                within the threshold (a face may stay unknown), by
                :func:`scipy.optimize.linear_sum_assignment`.

        Returns:
            One :class:`Identification` per query: the top-``k`` identities, nearest first,
            and ``"unknown"`` when even the best is beyond the threshold (or, with ``joint``,
            went to another face of the photo that is closer to it).
        """
        queries = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if queries.shape[1] != self.store.dim:
            raise ModelMismatchError(
                f"queries of size {queries.shape[1]}; this gallery holds {self.store.dim}-d "
                f"{self.store.model} embeddings"
            )
        queries = unit_rows(queries, "queries")
        self.sync()
        total = len(self.index)
        threshold = self.threshold
        if total == 0:
            return [
                Identification(UNKNOWN, float("inf"), [], threshold, self.rule) for _ in queries
            ]
        # Several faces may belong to one identity: fetch enough faces to fill k identities
        # (and, jointly, a few more, as a face may have to give up its first choice).
        depth = min(total, max(max(k, 5 if joint else 1) * 8, 32))
        sims, ids = self.index.search(queries, depth)
        # Hits are named by the store: a face removed since the index caught up is no answer.
        names = self.store.names_of(np.unique(ids[ids >= 0]).tolist())
        ranked = [
            self._candidates(query, row_sims, row_ids, names)
            for query, row_sims, row_ids in zip(queries, sims, ids, strict=True)
        ]
        scores = [self._scores(row) for row in ranked]
        # Both thresholds count the gallery's identities: read them once for the whole batch.
        by_margin = self.margin_threshold if self.open_set == "margin" else threshold
        limits = [by_margin if len(row) >= 2 else threshold for row in ranked]
        if joint and len(queries) > 1:
            chosen = _assign(ranked, scores, limits)
        else:
            chosen = [
                row[0].name if row and score[0] < limit else UNKNOWN
                for row, score, limit in zip(ranked, scores, limits, strict=True)
            ]
        results = []
        margin = self.open_set == "margin"
        for row, score, limit, name in zip(ranked, scores, limits, chosen, strict=True):
            by_name = {m.name: (m, s) for m, s in zip(row, score, strict=True)}
            best, best_score = by_name.get(name, (row[0], score[0]) if row else (None, None))
            distance = best.distance if best is not None else float("inf")
            reported = best_score if margin and len(row) >= 2 else None
            results.append(Identification(name, distance, row[:k], limit, self.rule, reported))
        return results

    def _candidates(
        self, query: np.ndarray, sims: np.ndarray, ids: np.ndarray, names: dict[int, str]
    ) -> list[Match]:
        """The identities among one query's nearest faces, nearest first by :attr:`rule`,
        without those a negative rules out."""
        closest: dict[str, Match] = {}
        for sim, face_id in zip(sims, ids, strict=True):
            name = names.get(int(face_id))
            if name is None or name in closest or self._ruled_out(query, name):
                continue
            distance = float(np.sqrt(max(0.0, 2.0 - 2.0 * float(sim))))
            closest[name] = Match(name, distance, int(face_id))
        if self.rule != "faces" and closest:
            made = {}
            for name in list(closest):
                try:
                    made[name] = self.template(name)
                except GalleryError:  # removed by another process since the index caught up
                    del closest[name]
            if not closest:
                return []
            templates = np.stack(list(made.values()))
            to_template = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (templates @ query)))
            closest = {
                m.name: Match(
                    m.name,
                    float(t if self.rule == "template" else (m.distance + t) / 2),
                    m.face_id,
                )
                for m, t in zip(closest.values(), to_template, strict=True)
            }
        return sorted(closest.values(), key=lambda m: m.distance)

    def _ruled_out(self, query: np.ndarray, name: str) -> bool:
        negatives = (self._negatives or {}).get(name)
        if negatives is None:
            return False
        nearest = float(np.max(negatives @ query))
        return np.sqrt(max(0.0, 2.0 - 2.0 * nearest)) < NEGATIVE_RADIUS

    def template(self, name: str) -> np.ndarray:
        """A person's template: the mean of the unit embeddings of their faces, each weighted
        by its ``quality`` (from the face's metadata; 1.0 where it has none), renormalised.

        Returns:
            ``(D,)`` float32 unit vector.

        Raises:
            GalleryError: no identity of that name.
        """
        cached = self._templates.get(name)
        if cached is not None:
            return cached
        with self.store.snapshot():
            records = self.store.faces(name)
            if not records:
                raise GalleryError(f"no identity called {name!r}")
            vectors = self.store.vectors([r.id for r in records])
        weights = np.array([_quality(r) for r in records], dtype=np.float32)
        template = unit_template(vectors, weights)
        self._templates[name] = template
        return template

    def outlier_distance(self, name: str, embedding: np.ndarray) -> float | None:
        """How far ``embedding`` (``(D,)`` unit) lies from ``name``'s template, where it lies
        farther than :attr:`outlier_threshold` (the model's 1:1 distance at
        :data:`OUTLIER_FAR`): a photo that looks like someone else. None where it fits, or
        where the person has no faces yet."""
        if self.outlier_threshold is None or not self.store.faces(name):
            return None
        distance = float(np.linalg.norm(self.template(name) - np.asarray(embedding).reshape(-1)))
        return distance if distance > self.outlier_threshold else None

    def add_negative(self, name: str, embedding: np.ndarray, source: str | None = None) -> int:
        """Record that the face with this ``(D,)`` unit embedding is not ``name``: it and its
        near-duplicates (within :data:`NEGATIVE_RADIUS`) are never named ``name`` again, by
        any process. Returns the negative's id."""
        embedding = unit_rows(np.atleast_2d(np.asarray(embedding, dtype=np.float32)), "embedding")
        if embedding.shape != (1, self.store.dim):
            raise ModelMismatchError(
                f"one {self.store.dim}-d embedding is wanted, got shape {embedding.shape}"
            )
        negative = self.store.add_negative(name, embedding[0], source)
        self.sync()
        return negative

    def negatives(self) -> list[NegativeRecord]:
        """Every stored negative ("not this person"), by id."""
        return self.store.negatives()

    @property
    def recognizer(self) -> FaceRecognizer:
        """The :class:`faceprint.pipeline.FaceRecognizer` matching the gallery's model."""
        if self._recognizer is None:
            from faceprint.pipeline import FaceRecognizer

            self._recognizer = FaceRecognizer(
                model=self.model_source,
                align=self.align,
                device=self._device,
                detector=self.detector,
            )
        return self._recognizer

    @recognizer.setter
    def recognizer(self, recognizer: FaceRecognizer) -> None:
        """Use a ready recognizer (built with other options: precision, backend, device).

        The open-set threshold follows its detector's calibration.

        Raises:
            ModelMismatchError: it makes another model's or alignment's embeddings.
            UncalibratedError: the model is not calibrated for its detector and the gallery's
                alignment (and the gallery has no fixed threshold).
        """
        if recognizer.name != self.store.model:
            raise ModelMismatchError(
                f"{self.store.location} holds {self.store.model} embeddings, the recognizer makes "
                f"{recognizer.name}"
            )
        if recognizer.detector.name != self.detector:
            self.detector = recognizer.detector.name
            self._calibrate(recognizer.weights)
        self._recognizer = recognizer

    def close(self) -> None:
        """Save the FAISS index, stamped with the sequence it holds (for a fast next open), and
        close. Idempotent."""
        if self.store.closed:
            return
        path = self.store.index_path()
        if isinstance(self.index, FaissIndex):
            if path is not None and self._sequence is not None and self._sequence != self._saved:
                self.index.save(path, self.store.uid, self._sequence)
        elif isinstance(self.index, MilvusIndex):
            self.index.close()
        self.store.close()

    def __enter__(self) -> GalleryCore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def unit_template(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The weighted mean of ``(N, D)`` unit vectors, renormalised to a ``(D,)`` unit vector
    (weights ``(N,)``, non-negative; all 1 by default)."""
    weights = np.ones(len(vectors), np.float32) if weights is None else weights
    if not np.any(weights > 0):
        weights = np.ones(len(vectors), np.float32)
    mean = (np.asarray(weights, np.float32)[:, None] * vectors).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else vectors[0]).astype(np.float32)


def _quality(record: FaceRecord) -> float:
    """A face's weight in its template: its quality score where one was stored, else 1."""
    quality = getattr(record, "quality", None)
    if quality is None:
        quality = record.metadata.get("quality")
    return 1.0 if quality is None else float(quality)


def _assign(
    ranked: list[list[Match]], scores: list[list[float]], thresholds: list[float]
) -> list[str]:
    """Names for the faces of one photo, no name twice: the assignment of least total score
    (distance, or margin) where each face takes one of its candidates under its threshold, or
    stays unknown at the cost of the threshold itself."""
    from scipy.optimize import linear_sum_assignment

    names = list(dict.fromkeys(m.name for row in ranked for m in row))
    column = {n: j for j, n in enumerate(names)}
    faces = len(ranked)
    cost = np.full((faces, len(names) + faces), _NO)
    for i, (row, score, threshold) in enumerate(zip(ranked, scores, thresholds, strict=True)):
        for m, value in zip(row, score, strict=True):
            if value < threshold:
                cost[i, column[m.name]] = value
        cost[i, len(names) + i] = threshold
    rows, cols = linear_sum_assignment(cost)
    chosen = [UNKNOWN] * faces
    for i, j in zip(rows, cols, strict=True):
        if j < len(names) and cost[i, j] < _NO:
            chosen[i] = names[j]
    return chosen

"""What a gallery's system of record is: the :class:`Store` interface that the SQLite store
(:mod:`faceprint.gallery.store`) and the PostgreSQL store (:mod:`faceprint.gallery.postgres_store`)
implement, and the records they hand out.

Every store keeps a change log: each committed addition or removal of a face gets a sequence
number, written in the same transaction as the change, and sequence numbers only grow. A vector
index records the sequence it reflects and catches up from the log before it answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

#: Change-log operations: a face added or removed, a negative added or removed.
ADDED, REMOVED = 1, -1
NEGATIVE_ADDED, NEGATIVE_REMOVED = 2, -2


@dataclass(frozen=True)
class FaceRecord:
    """One stored face (the embedding is kept out of listings)."""

    id: int
    identity: str
    source: str | None
    source_key: str | None
    box: list[float] | None
    added: float
    metadata: dict


@dataclass(frozen=True)
class IdentityInfo:
    """One identity: name, number of faces, creation time (Unix seconds), metadata."""

    name: str
    faces: int
    created: float
    metadata: dict


@dataclass(frozen=True)
class NegativeRecord:
    """A correction: the face with ``embedding`` (``(D,)`` unit) is not ``identity``."""

    id: int
    identity: str
    source: str | None
    added: float
    embedding: np.ndarray


@dataclass(frozen=True)
class ChangeSet:
    """What changed after a sequence number, net of itself.

    Attributes:
        sequence: the last change it holds; an index that applies it reflects this sequence.
        added: ids of faces added since and still there (their vectors are to be fetched).
        removed: ids of faces removed since that were there before it (to be dropped).
        negatives: whether a negative was added or removed since (they are to be read again).
    """

    sequence: int
    added: list[int]
    removed: list[int]
    negatives: bool = False


def net_changes(since: int, rows: Iterable[tuple[int, int, int]], floor: int) -> ChangeSet:
    """Fold change-log rows ``(sequence, face_id, op)`` in sequence order into a
    :class:`ChangeSet` after ``since`` (``floor`` when the log holds none)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    sequence = max(since, floor)
    negatives = False
    for seq, face_id, op in rows:
        sequence = max(sequence, seq)
        if op in (NEGATIVE_ADDED, NEGATIVE_REMOVED):
            negatives = True
            continue
        first.setdefault(face_id, op)
        last[face_id] = op
    # A face added and removed within the range was never in the index: it needs nothing.
    added = [f for f, op in last.items() if op == ADDED]
    removed = [f for f, op in last.items() if op == REMOVED and first[f] == REMOVED]
    return ChangeSet(sequence, added, removed, negatives)


class Store(Protocol):
    """What a gallery needs of its system of record (SQLite file or PostgreSQL database).

    Face and identity ids are never handed out twice, so an id names one face forever.

    Attributes:
        model: what made the embeddings (``"model/alignment"``).
        dim: embedding size.
        location: where it lives, for messages (a path, or a URL without its password).
        uid: a random id made with the gallery; a saved index of another gallery is refused.
        created: whether this open created the gallery.
    """

    model: str
    dim: int
    location: str
    uid: str
    created: bool

    # -- metadata ------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str:
        """The metadata value ``key``; ``default`` where absent (GalleryError if that is
        None)."""

    def set_meta(self, key: str, value: str) -> None:
        """Store metadata ``key`` (not a change of the records)."""

    # -- records -------------------------------------------------------------------------
    def add_faces(
        self,
        name: str,
        embeddings: np.ndarray,
        sources: Sequence[str | None],
        source_keys: Sequence[str | None],
        boxes: Sequence[Sequence[float] | None],
        metadata: Sequence[dict],
    ) -> list[int]:
        """Insert ``(N, D)`` float32 unit embeddings of ``name`` (created if new) in one
        transaction, skipping keys already enrolled for it; returns the new face ids."""

    def remove(self, name: str) -> list[int]:
        """Delete an identity and its faces; returns the removed face ids.

        Raises:
            GalleryError: no identity of that name.
        """

    def remove_face(self, face_id: int) -> str:
        """Delete one face (its identity too when left without faces); returns the identity.

        Raises:
            GalleryError: no face with that id (never there, or removed already).
        """

    def rename(self, old: str, new: str) -> None:
        """Rename an identity (GalleryError when ``old`` is missing or ``new`` taken)."""

    def identities(self) -> list[IdentityInfo]:
        """Every identity, by name."""

    def faces(self, name: str | None = None) -> list[FaceRecord]:
        """Stored faces, of one identity or all, by id."""

    def has_source(self, source_key: str, name: str | None = None) -> bool:
        """Whether a face from this source is enrolled (for ``name``, or for anyone)."""

    def face_count(self) -> int:
        """Number of stored faces."""

    def identity_count(self) -> int:
        """Number of identities with at least one face."""

    def vectors(self, face_ids: Sequence[int]) -> np.ndarray:
        """``(N, D)`` float32 embeddings of these faces, in order (GalleryError for a
        missing one)."""

    def names_of(self, face_ids: Sequence[int]) -> dict[int, str]:
        """Identity name of each of these faces that exists; removed ones are left out."""

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All ``(ids (n,), embeddings (n, D))`` in id order, in chunks."""

    # -- negatives -----------------------------------------------------------------------
    def add_negative(self, name: str, embedding: np.ndarray, source: str | None) -> int:
        """Record that the face with this ``(D,)`` unit embedding is not ``name`` (a change
        of the records, logged); returns the negative's id."""

    def negatives(self) -> list[NegativeRecord]:
        """Every negative, by id."""

    def remove_negatives(self, name: str) -> int:
        """Forget every negative of ``name`` (logged); returns how many went."""

    # -- the change log ------------------------------------------------------------------
    @property
    def sequence(self) -> int:
        """The sequence number of the last committed change (from any process)."""

    def changes(self, since: int) -> ChangeSet | None:
        """The net changes committed after sequence ``since``; None when the log does not
        reach back that far (or ``since`` is ahead of it): the index must be rebuilt."""

    def poll(self) -> bool:
        """Cheaply, whether the records may have changed since the last poll that said so
        (any process, this one included). True on the first call."""

    def snapshot(self) -> AbstractContextManager[None]:
        """``with store.snapshot():`` reads inside see one committed state."""

    def index_path(self) -> Path | None:
        """Where a FAISS index of this gallery may be saved, or None."""

    @property
    def closed(self) -> bool: ...

    def close(self) -> None:
        """Close the connection (idempotent)."""

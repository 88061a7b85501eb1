"""The photo library's records in SQLite: photos by content hash, their faces (box, landmarks,
embedding, thumbnail), people and unnamed clusters, and the audit log.

A sibling of the gallery file, not the gallery itself: a library holds every face of every
photo, most of them nobody's yet, with the photo each came from and a thumbnail; a gallery holds
chosen faces of named people. Named people of a gallery attract faces of the library through its
open-set search (``scan --gallery``), without the library's faces being copied into it.

The file is made like the gallery's (0600, WAL, one transaction per photo, so a process killed
mid-scan leaves every photo it finished and nothing half-written), with ``secure_delete`` on so
that deleted rows are overwritten, and :meth:`LibraryStore.compact` to VACUUM and truncate the
write-ahead log after an erasure.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import GalleryError, LibraryError
from faceprint.gallery.store import (
    _faults,
    check_identity_name,
    check_own_file,
    connect_private,
    guarded,
    identity_key,
)

__all__ = ["SCHEMA_VERSION", "AuditEntry", "FaceRow", "LibraryStore", "PersonRow", "PhotoRow"]

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x4650524C  # "FPRL": marks the SQLite file as a faceprint photo library

#: Face states: embedded but not yet given to a person or cluster, or placed (a person, a
#: cluster, or noise when ``person`` is NULL).
PENDING, PLACED = 0, 1

_SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    added REAL NOT NULL
)""",
    "CREATE INDEX photos_path ON photos(path)",
    """CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    created REAL NOT NULL
)""",
    """CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    person INTEGER REFERENCES people(id) ON DELETE SET NULL,
    state INTEGER NOT NULL DEFAULT 0,
    box TEXT NOT NULL,
    landmarks TEXT,
    probability REAL,
    embedding BLOB NOT NULL,
    thumbnail BLOB
)""",
    "CREATE INDEX faces_photo ON faces(photo)",
    "CREATE INDEX faces_person ON faces(person)",
    "CREATE INDEX faces_state ON faces(state)",
    """CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    at REAL NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
)""",
]


def _checked(name: str) -> str:
    """``name`` in NFC if it can name a person (the gallery's rules), else LibraryError."""
    try:
        return check_identity_name(name)
    except GalleryError as e:
        raise LibraryError(str(e).replace("identity name", "name")) from None


@dataclass(frozen=True)
class PhotoRow:
    """A photo of the library: its content hash, where it was last seen, and that file's
    modification time and size (a file whose path, time and size are unchanged is not read)."""

    id: int
    hash: str
    path: str
    mtime: float
    size: int


@dataclass(frozen=True)
class FaceRow:
    """A face of a photo (without its embedding): ``box`` ``(x1, y1, x2, y2)`` in the photo's
    pixels, ``landmarks`` ``(5, 2)`` or None, ``person`` its person's or cluster's id (None:
    noise, or not placed yet)."""

    id: int
    photo: int
    image: str
    person: int | None
    box: list[float]
    landmarks: list[list[float]] | None
    probability: float | None


@dataclass(frozen=True)
class PersonRow:
    """A named person, or an unnamed cluster (``name`` None), with its number of faces."""

    id: int
    name: str | None
    created: float
    faces: int


@dataclass(frozen=True)
class AuditEntry:
    """One change of the library: who made it, what it was, when (Unix time), and details
    (ids, names and counts, never vectors)."""

    id: int
    who: str
    what: str
    at: float
    details: dict


@dataclass(frozen=True)
class NewFace:
    """A face to store with its photo: ``box`` ``(4,)``, ``landmarks`` ``(5, 2)`` or None,
    ``embedding`` ``(D,)`` float32 unit vector, ``thumbnail`` JPEG bytes."""

    box: Sequence[float]
    landmarks: np.ndarray | None
    probability: float | None
    embedding: np.ndarray
    thumbnail: bytes | None


@guarded("library", LibraryError)
class LibraryStore:
    """The SQLite file of a photo library.

    Args:
        path: the file; created with the schema (mode 0600) when missing and ``create`` is set.
        model: what makes the embeddings (``"model/alignment"``); required to create.
        dim: embedding size; required to create.
        create: create the file if missing.

    Raises:
        LibraryError: the file is not a faceprint library, or is damaged, locked or read-only.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: str | None = None,
        dim: int | None = None,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        exists = self.path.exists()
        if not exists and not create:
            raise LibraryError(f"{self.path}: no such library")
        if not exists and (model is None or dim is None):
            raise LibraryError(f"{self.path}: a new library needs the model and embedding size")
        self._closed = False
        with _faults(self.path, "library", LibraryError):
            self.db = connect_private(self.path, exists, LibraryError, "library")
            try:
                self._open(exists, model, dim)
            except BaseException:
                self.db.close()
                raise

    def _open(self, exists: bool, model: str | None, dim: int | None) -> None:
        tables = check_own_file(
            self.db, self.path, exists, _APPLICATION_ID, LibraryError, "library"
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not left in free pages until a VACUUM.
        self.db.execute("PRAGMA secure_delete=ON")
        if "meta" not in tables:
            with self.transaction():
                self.db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                for statement in _SCHEMA:
                    self.db.execute(statement)
                self.db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ("schema", str(SCHEMA_VERSION)),
                        ("model", model),
                        ("dim", str(dim)),
                        ("created", str(time.time())),
                    ],
                )
        schema = int(self.meta("schema"))
        if schema > SCHEMA_VERSION:
            raise LibraryError(
                f"{self.path}: library schema {schema} is newer than this faceprint "
                f"({SCHEMA_VERSION}); upgrade faceprint"
            )
        self.model = self.meta("model")
        self.dim = int(self.meta("dim"))

    # -- transactions and metadata --------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``with store.transaction():`` one atomic write (nested ones join the outer one)."""
        if self.db.in_transaction:
            yield
            return
        with _faults(self.path, "library", LibraryError):
            self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        with _faults(self.path, "library", LibraryError):
            self.db.execute("COMMIT")

    def meta(self, key: str, default: str | None = None) -> str:
        """The metadata value ``key``; ``default`` where absent (an error if that is None)."""
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is not None:
            return row[0]
        if default is None:
            raise LibraryError(f"{self.path}: library metadata lacks {key!r}")
        return default

    # -- photos ---------------------------------------------------------------------------
    def photos(self) -> list[PhotoRow]:
        """Every photo, by id."""
        rows = self.db.execute("SELECT id, hash, path, mtime, size FROM photos ORDER BY id")
        return [PhotoRow(*r) for r in rows]

    def photo_by_hash(self, digest: str) -> PhotoRow | None:
        row = self.db.execute(
            "SELECT id, hash, path, mtime, size FROM photos WHERE hash=?", (digest,)
        ).fetchone()
        return None if row is None else PhotoRow(*row)

    def move_photo(self, photo: int, path: str, mtime: float, size: int) -> None:
        """Record that a known photo now lives at ``path`` (renamed, moved or touched)."""
        self.db.execute(
            "UPDATE photos SET path=?, mtime=?, size=? WHERE id=?", (path, mtime, size, photo)
        )

    def add_photo(
        self, digest: str, path: str, mtime: float, size: int, faces: Sequence[NewFace]
    ) -> int:
        """Store a photo and its faces (pending placement) in one transaction; returns its id."""
        with self.transaction():
            photo = self.db.execute(
                "INSERT INTO photos (hash, path, mtime, size, added) VALUES (?, ?, ?, ?, ?)",
                (digest, path, mtime, size, time.time()),
            ).lastrowid
            self.db.executemany(
                "INSERT INTO faces (photo, state, box, landmarks, probability, embedding, "
                "thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        photo,
                        PENDING,
                        json.dumps([round(float(v), 2) for v in f.box]),
                        None
                        if f.landmarks is None
                        else json.dumps(np.round(np.asarray(f.landmarks, float), 2).tolist()),
                        None if f.probability is None else float(f.probability),
                        np.ascontiguousarray(f.embedding, dtype=np.float32).tobytes(),
                        f.thumbnail,
                    )
                    for f in faces
                ],
            )
        return int(photo)

    def remove_photos(self, photos: Sequence[int]) -> int:
        """Delete photos and their faces (clusters and people left empty go too); returns the
        number of faces deleted."""
        removed = 0
        with self.transaction():
            for photo in photos:
                removed += self.db.execute("DELETE FROM faces WHERE photo=?", (photo,)).rowcount
                self.db.execute("DELETE FROM photos WHERE id=?", (photo,))
            self.prune()
        return removed

    # -- faces ----------------------------------------------------------------------------
    def face_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every face with its photo, person and state, by id.

        Returns:
            ``(ids, photos, people, states, embeddings)``: four ``(N,)`` int64 arrays (person
            -1 for none; state :data:`PENDING` or :data:`PLACED`) and ``(N, D)`` float32.
        """
        rows = self.db.execute(
            "SELECT id, photo, COALESCE(person, -1), state, embedding FROM faces ORDER BY id"
        ).fetchall()
        columns = [np.array([r[k] for r in rows], dtype=np.int64) for k in range(4)]
        vectors = (
            np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(-1, self.dim)
            if rows
            else np.zeros((0, self.dim), np.float32)
        )
        return (*columns, vectors)

    def place(self, faces: Sequence[int], people: Sequence[int | None]) -> None:
        """Give each face its person or cluster (None: noise) and mark it placed."""
        self.db.executemany(
            "UPDATE faces SET person=?, state=? WHERE id=?",
            [
                (None if p is None or p < 0 else int(p), PLACED, int(f))
                for f, p in zip(faces, people, strict=True)
            ],
        )

    def faces(self, person: int | None = None, ids: Sequence[int] | None = None) -> list[FaceRow]:
        """Faces with their photo's path, of one person or cluster, of given ids, or all."""
        sql = (
            "SELECT f.id, f.photo, p.path, f.person, f.box, f.landmarks, f.probability "
            "FROM faces f JOIN photos p ON f.photo=p.id"
        )
        args: tuple = ()
        if person is not None:
            sql += " WHERE f.person=?"
            args = (person,)
        elif ids is not None:
            sql += f" WHERE f.id IN ({','.join('?' * len(ids))})"
            args = tuple(int(i) for i in ids)
        rows = self.db.execute(sql + " ORDER BY f.id", args)
        return [
            FaceRow(i, ph, path, pe, json.loads(b), None if lm is None else json.loads(lm), pr)
            for i, ph, path, pe, b, lm, pr in rows
        ]

    def vectors(self, faces: Sequence[int]) -> np.ndarray:
        """``(N, D)`` embeddings of these faces, in the given order."""
        found = {}
        for face in faces:
            row = self.db.execute("SELECT embedding FROM faces WHERE id=?", (int(face),)).fetchone()
            if row is None:
                raise LibraryError(f"no face with id {face}")
            found[int(face)] = np.frombuffer(row[0], dtype=np.float32)
        return (
            np.stack([found[int(f)] for f in faces])
            if faces
            else np.zeros((0, self.dim), np.float32)
        )

    def thumbnail(self, face: int) -> bytes | None:
        """The face's JPEG thumbnail; None when it has none.

        Raises:
            LibraryError: no face has that id.
        """
        row = (
            self.db.execute("SELECT thumbnail FROM faces WHERE id=?", (int(face),)).fetchone()
            if 0 <= int(face) < 2**63
            else None
        )
        if row is None:
            raise LibraryError(f"no face with id {face}")
        return row[0]

    def counts(self) -> dict[str, int]:
        """Photos, faces, pending faces, noise faces, people (named) and clusters (unnamed)."""
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "photos": one("SELECT COUNT(*) FROM photos"),
            "faces": one("SELECT COUNT(*) FROM faces"),
            "pending": one(f"SELECT COUNT(*) FROM faces WHERE state={PENDING}"),
            "noise": one(f"SELECT COUNT(*) FROM faces WHERE state={PLACED} AND person IS NULL"),
            "people": one("SELECT COUNT(*) FROM people WHERE name IS NOT NULL"),
            "clusters": one("SELECT COUNT(*) FROM people WHERE name IS NULL"),
        }

    # -- people and clusters --------------------------------------------------------------
    def new_person(self, name: str | None = None) -> int:
        """A new person (``name``) or unnamed cluster (None); returns its id."""
        if name is not None:
            name = _checked(name)
        return int(
            self.db.execute(
                "INSERT INTO people (name, created) VALUES (?, ?)", (name, time.time())
            ).lastrowid
        )

    def people(self) -> list[PersonRow]:
        """Named people (by name), then clusters (largest first)."""
        rows = self.db.execute(
            "SELECT p.id, p.name, p.created, COUNT(f.id) AS n FROM people p "
            "LEFT JOIN faces f ON f.person=p.id GROUP BY p.id "
            "ORDER BY p.name IS NULL, p.name, n DESC, p.id"
        )
        return [PersonRow(*r) for r in rows]

    def person(self, key: str | int) -> PersonRow:
        """The person called ``key``, else the person or cluster whose id it is.

        Raises:
            LibraryError: neither.
        """
        name = identity_key(str(key))
        row = self.db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
        if row is None and str(key).strip().isdigit() and int(key) < 2**63:
            row = self.db.execute("SELECT id FROM people WHERE id=?", (int(key),)).fetchone()
        if row is None:
            raise LibraryError(f"no person or cluster called {key!r} (see `library people`)")
        found = [p for p in self.people() if p.id == row[0]]
        return found[0]

    def person_by_name(self, name: str) -> int | None:
        row = self.db.execute(
            "SELECT id FROM people WHERE name=?", (identity_key(name),)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_name(self, person: int, name: str) -> None:
        """Name a person or cluster (``name`` checked, and free)."""
        name = _checked(name)
        self.db.execute("UPDATE people SET name=? WHERE id=?", (name, person))

    def reassign(self, source: int, target: int) -> int:
        """Move every face of ``source`` to ``target``, delete ``source``; returns faces moved."""
        moved = self.db.execute(
            "UPDATE faces SET person=? WHERE person=?", (target, source)
        ).rowcount
        self.db.execute("DELETE FROM people WHERE id=?", (source,))
        return moved

    def move_face(self, face: int, person: int | None) -> int | None:
        """Give one face to ``person``; returns its previous person.

        Raises:
            LibraryError: no face has that id.
        """
        row = (
            self.db.execute("SELECT person FROM faces WHERE id=?", (int(face),)).fetchone()
            if 0 <= int(face) < 2**63
            else None
        )
        if row is None:
            raise LibraryError(f"no face with id {face}")
        self.db.execute(
            "UPDATE faces SET person=?, state=? WHERE id=?", (person, PLACED, int(face))
        )
        return row[0]

    def delete_person(self, person: int) -> int:
        """Delete a person or cluster and all its faces (embeddings and thumbnails); returns
        the number of faces deleted."""
        removed = self.db.execute("DELETE FROM faces WHERE person=?", (person,)).rowcount
        self.db.execute("DELETE FROM people WHERE id=?", (person,))
        return removed

    def prune(self) -> None:
        """Delete people and clusters left without faces."""
        self.db.execute(
            "DELETE FROM people WHERE NOT EXISTS (SELECT 1 FROM faces WHERE person=people.id)"
        )

    # -- audit log and compaction ---------------------------------------------------------
    def audit(self, who: str, what: str, details: dict) -> None:
        """Append an entry to the audit log (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO audit (who, what, at, details) VALUES (?, ?, ?, ?)",
            (who, what, time.time(), json.dumps(details, sort_keys=True)),
        )

    def audit_log(self) -> list[AuditEntry]:
        """Every audit entry, oldest first."""
        rows = self.db.execute("SELECT id, who, what, at, details FROM audit ORDER BY id")
        return [AuditEntry(i, w, t, a, json.loads(d)) for i, w, t, a, d in rows]

    def compact(self) -> None:
        """Rewrite the file without free pages (VACUUM) and empty the write-ahead log, so that
        deleted rows survive in no page of the file, its ``-wal`` or its ``-shm``.

        Raises:
            LibraryError: another connection holds a read open, so the log cannot be emptied.
        """
        self.db.execute("VACUUM")
        busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise LibraryError(
                f"{self.path}: another process is reading the library, so its log could not "
                "be emptied; close it and run the command again"
            )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self.db.close()
        self._closed = True

"""The gallery's records in SQLite: identities, their faces and embeddings, what made them, and
the change log that keeps every process's vector index current.

SQLite is the source of truth: every enrolment is one transaction (WAL journal), so a process
killed mid-enrolment leaves every completed enrolment in place and nothing half-written. Triggers
write each addition and removal of a face to the change log inside the same transaction, so no
writer can change the faces without the log saying so.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sqlite3
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError, GalleryError
from faceprint.gallery.records import (
    ChangeSet,
    FaceRecord,
    IdentityInfo,
    NegativeRecord,
    net_changes,
)

__all__ = ["SCHEMA_VERSION", "FaceRecord", "GalleryStore", "IdentityInfo", "check_identity_name"]

#: 1: faces and identities (ids could be handed out again); 2: ids never reused (AUTOINCREMENT)
#: and the change log; 3: negatives ("not this person" corrections), change-logged too.
SCHEMA_VERSION = 3
_APPLICATION_ID = 0x46505247  # "FPRG": marks the SQLite file as a faceprint gallery

_META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
# AUTOINCREMENT: an id is never handed out again, even after the row with the largest is gone.
_RECORDS = [
    """CREATE TABLE identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT,
    source_key TEXT,
    box TEXT,
    added REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    embedding BLOB NOT NULL,
    UNIQUE (identity_id, source_key)
)""",
    "CREATE INDEX faces_identity ON faces(identity_id)",
    "CREATE INDEX faces_source_key ON faces(source_key)",
    "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, face_id INTEGER NOT NULL, "
    "op INTEGER NOT NULL)",
]
# Deletes by ON DELETE CASCADE fire these too.
_LOG = [
    "CREATE TRIGGER faces_added AFTER INSERT ON faces BEGIN "
    "INSERT INTO changes (face_id, op) VALUES (NEW.id, 1); END",
    "CREATE TRIGGER faces_removed AFTER DELETE ON faces BEGIN "
    "INSERT INTO changes (face_id, op) VALUES (OLD.id, -1); END",
]
# A negative is a face that is not ``identity`` (a name, so it outlives the person's removal).
# Its additions and removals are logged with ops +2 and -2, so that every process's search
# sees them as it sees faces.
_NEGATIVES = [
    """CREATE TABLE negatives (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL,
    source TEXT,
    added REAL NOT NULL,
    embedding BLOB NOT NULL
)""",
    "CREATE INDEX negatives_identity ON negatives(identity)",
    "CREATE TRIGGER negatives_added AFTER INSERT ON negatives BEGIN "
    "INSERT INTO changes (face_id, op) VALUES (NEW.id, 2); END",
    "CREATE TRIGGER negatives_removed AFTER DELETE ON negatives BEGIN "
    "INSERT INTO changes (face_id, op) VALUES (OLD.id, -2); END",
]
_COLUMNS = "id, identity_id, source, source_key, box, added, metadata, embedding"


def check_identity_name(name: str) -> str:
    """Return ``name``, in Unicode NFC, if it can name an identity: 1-128 characters, no control
    characters, no leading or trailing space, and nothing a path could read as a directory
    (``/``, ``\\``, ``.``, ``..``), as names end up in file names and URLs.

    Raises:
        GalleryError: the name says what is wrong with it.
    """
    if not isinstance(name, str) or not name.strip():
        raise GalleryError("an identity name must be a non-empty string")
    name = identity_key(name)
    if len(name) > 128:
        raise GalleryError(f"identity name of {len(name)} characters; at most 128")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise GalleryError(f"identity name {name!r} holds control characters")
    if name != name.strip():
        raise GalleryError(f"identity name {name!r} starts or ends with white space")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise GalleryError(f"identity name {name!r} looks like a path; a name has no / or \\")
    return name


def identity_key(name: str | None) -> str | None:
    """``name`` in Unicode NFC: how names are stored and looked up, so that a name typed as
    composed (``é``) or decomposed (``e`` + combining accent) characters is one identity."""
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name


def _describe(path: Path, error: Exception, noun: str = "gallery") -> str:
    """One line for a fault of the ``noun`` file: what is wrong with it and what to do."""
    message = str(error)
    if "readonly" in message or isinstance(error, PermissionError):
        return (
            f"{path}: the {noun} is read-only ({message}); make the file and its folder "
            "writable (SQLite writes its -wal and -shm files beside it), or work on a copy"
        )
    if "unable to open" in message:
        return (
            f"{path}: cannot open the {noun} ({message}); the file and its folder must be "
            "readable and writable"
        )
    if "locked" in message:
        return f"{path}: another process holds the {noun} locked ({message}); try again"
    if "not a database" in message:
        return f"{path}: not a faceprint {noun} ({message})"
    if isinstance(error, OSError):
        return f"{path}: {error.strerror or message}"
    return (
        f"{path}: the {noun} file is damaged ({message}); restore it from a backup, or "
        "export what still reads and enrol the rest again"
    )


@contextlib.contextmanager
def _faults(
    path: Path, noun: str = "gallery", error: type[Exception] = GalleryError
) -> Iterator[None]:
    """The one place where faults of the file become ``error`` (GalleryError): a damaged file
    (SQLite's "malformed", text that is not UTF-8, records that do not parse), a read-only file
    or folder, a locked one. Every public method of :class:`GalleryStore` (and of the photo
    library's store) runs inside it."""
    try:
        yield
    except (sqlite3.DatabaseError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(_describe(path, e, noun)) from None


def connect_private(
    path: Path, exists: bool, error: type[FaceprintError], noun: str
) -> sqlite3.Connection:
    """A connection to the SQLite file ``path``, creating it (and its folder) first where it
    does not exist, readable and writable by its owner alone: embeddings are personal data,
    and SQLite makes the -wal/-shm files with the file's mode.

    Raises:
        error: the file cannot be created (``"<path>: cannot create the <noun> (<why>)"``).
    """
    if not exists:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as e:
            raise error(f"{path}: cannot create the {noun} ({e})") from None
    return sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)


def check_own_file(
    db: sqlite3.Connection,
    path: Path,
    exists: bool,
    application_id: int,
    error: type[FaceprintError],
    noun: str,
) -> set[str]:
    """The names of the tables of ``db``, once it is known to be faceprint's own file of its
    kind (its ``application_id`` and a ``meta`` table) where it already existed.

    Raises:
        error: an existing file is empty or another SQLite database; it is left as it is
            (only a path that did not exist is ever created).
    """
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if exists and (app_id != application_id or "meta" not in tables):
        what = "an empty file" if os.path.getsize(path) == 0 else "a SQLite database"
        raise error(f"{path}: {what}, not a faceprint {noun}; it was left as it is")
    return tables


def guarded(noun: str, error: type[Exception]) -> Callable[[type], type]:
    """A class decorator: each method and property (generators included) of a store class runs
    inside :func:`_faults`, so its SQLite faults become ``error`` naming the ``noun`` file."""
    return functools.partial(_guarded, noun=noun, error=error)


def _guarded(cls: type, noun: str = "gallery", error: type[Exception] = GalleryError) -> type:
    """Run each method and property of ``cls`` (generators included) inside :func:`_faults`."""

    def wrap(method):
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(self, *args, **kwargs):
                with _faults(self.path, noun, error):
                    yield from method(self, *args, **kwargs)

            return generator

        @functools.wraps(method)
        def plain(self, *args, **kwargs):
            with _faults(self.path, noun, error):
                return method(self, *args, **kwargs)

        return plain

    for key, value in list(vars(cls).items()):
        if isinstance(value, property):
            setattr(cls, key, property(wrap(value.fget), value.fset and wrap(value.fset)))
        elif inspect.isfunction(value) and not key.startswith("__"):
            setattr(cls, key, wrap(value))
    return cls


@_guarded
class GalleryStore:
    """SQLite file of a gallery.

    Args:
        path: the gallery file; created with the schema when missing and ``create`` is set.
        model: what made the embeddings (``"model/alignment"``); required to create.
        dim: embedding size; required to create.
        create: create the file if missing.

    Raises:
        GalleryError: the file is not a faceprint gallery (corrupt, foreign, or newer schema).
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
            raise GalleryError(f"{self.path}: no such gallery")
        if exists and self.path.is_dir():
            raise GalleryError(f"{self.path}: is a directory, not a gallery file")
        if not exists and (model is None or dim is None):
            raise GalleryError(f"{self.path}: a new gallery needs the model and embedding size")
        self.location = str(self.path)
        self._closed = False
        self._data_version: int | None = None
        self._wrote = False
        with _faults(self.path):
            self.db = connect_private(self.path, exists, GalleryError, "gallery")
            try:
                self._open(exists, model, dim)
            except BaseException:
                self.db.close()
                raise

    def _open(self, exists: bool, model: str | None, dim: int | None) -> None:
        tables = check_own_file(
            self.db, self.path, exists, _APPLICATION_ID, GalleryError, "gallery"
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.created = "meta" not in tables
        if self.created:
            # DDL is transactional in SQLite: the schema and its metadata appear together or
            # not at all.
            with self.transaction():
                self.db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                for statement in [_META, *_RECORDS, *_LOG, *_NEGATIVES]:
                    self.db.execute(statement)
                self.db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ("schema", str(SCHEMA_VERSION)),
                        ("model", model),
                        ("dim", str(dim)),
                        ("created", str(time.time())),
                        ("uid", uuid.uuid4().hex),
                        ("log_floor", "0"),
                    ],
                )
        schema = int(self.meta("schema"))
        if schema > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: gallery schema {schema} is newer than this faceprint "
                f"({SCHEMA_VERSION}); upgrade faceprint"
            )
        if schema == 1:
            self._migrate_from_1()
        if schema <= 2:
            self._migrate_from_2()
        self.model = self.meta("model")
        self.dim = int(self.meta("dim"))
        self.uid = self.meta("uid")

    def _migrate_from_1(self) -> None:
        """Schema 1 -> 2 in one transaction: faces and identities rebuilt with AUTOINCREMENT
        (their ids kept), and an empty change log whose floor no index saved before can catch
        up from, so such an index is rebuilt."""
        # Foreign keys are off while the tables are swapped (a no-op inside a transaction).
        self.db.execute("PRAGMA foreign_keys=OFF")
        try:
            with self.transaction():
                if int(self.meta("schema")) != 1:  # another process migrated it meanwhile
                    return
                generation = self.meta("generation", "0")
                self.db.execute("DROP INDEX IF EXISTS faces_identity")
                self.db.execute("DROP INDEX IF EXISTS faces_source_key")
                self.db.execute("ALTER TABLE faces RENAME TO faces_v1")
                self.db.execute("ALTER TABLE identities RENAME TO identities_v1")
                for statement in _RECORDS:
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO identities (id, name, created, metadata) "
                    "SELECT id, name, created, metadata FROM identities_v1"
                )
                self.db.execute(f"INSERT INTO faces ({_COLUMNS}) SELECT {_COLUMNS} FROM faces_v1")
                self.db.execute("DROP TABLE faces_v1")
                self.db.execute("DROP TABLE identities_v1")
                for statement in _LOG:
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)",
                    (int(generation),),
                )
                self.db.execute("DELETE FROM meta WHERE key='generation'")
                self.db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [
                        ("schema", "2"),
                        ("uid", uuid.uuid4().hex),
                        ("log_floor", str(int(generation))),
                    ],
                )
                broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise GalleryError(
                        f"{self.path}: {len(broken)} faces name no identity; the file was left "
                        "at schema 1"
                    )
        finally:
            self.db.execute("PRAGMA foreign_keys=ON")

    def _migrate_from_2(self) -> None:
        """Schema 2 -> 3 in one transaction: the negatives table and its change-log triggers."""
        with self.transaction():
            if int(self.meta("schema")) != 2:  # another process migrated it meanwhile
                return
            for statement in _NEGATIVES:
                self.db.execute(statement)
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    # -- transactions, metadata and the change log ----------------------------------------
    def transaction(self) -> _Transaction:
        """``with store.transaction():`` one atomic write (nested ones join the outer one)."""
        return _Transaction(self)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """``with store.snapshot():`` reads inside see one committed state (a WAL snapshot)."""
        if self.db.in_transaction:
            yield
            return
        with _faults(self.path):
            self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            # A fault inside leaves the read to be abandoned; its own error is the one to tell.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        with _faults(self.path):
            self.db.execute("COMMIT")

    def meta(self, key: str, default: str | None = None) -> str:
        """The metadata value ``key``; ``default`` where absent (an error if that is None)."""
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is not None:
            return row[0]
        if default is None:
            raise GalleryError(f"{self.path}: gallery metadata lacks {key!r}")
        return default

    def set_meta(self, key: str, value: str) -> None:
        """Store metadata ``key`` (not counted as a change of the records)."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def sequence(self) -> int:
        """The sequence number of the last committed change, from any process."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
        return int(row[0]) if row is not None else int(self.meta("log_floor"))

    @property
    def generation(self) -> int:
        """The same as :attr:`sequence` (its name before the change log)."""
        return self.sequence

    def changes(self, since: int) -> ChangeSet | None:
        """The net changes after sequence ``since``; None when the log cannot say them."""
        with self.snapshot():
            floor, current = int(self.meta("log_floor")), self.sequence
            if not floor <= since <= current:
                return None
            rows = self.db.execute(
                "SELECT seq, face_id, op FROM changes WHERE seq > ? ORDER BY seq", (since,)
            )
            return net_changes(since, rows, floor)

    def poll(self) -> bool:
        """Whether any process may have committed since the last poll that said so: SQLite's
        ``data_version`` (other connections) or a write through this one."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        changed = version != self._data_version or self._wrote
        self._data_version, self._wrote = version, False
        return changed

    def index_path(self) -> Path:
        """The FAISS index beside the gallery file (``people.gallery.faiss``)."""
        return self.path.with_name(self.path.name + ".faiss")

    # -- identities ----------------------------------------------------------------------
    def identity_id(
        self, name: str, create: bool = False, metadata: dict | None = None
    ) -> int | None:
        name = identity_key(name)
        row = self.db.execute("SELECT id FROM identities WHERE name=?", (name,)).fetchone()
        if row is not None:
            return row[0]
        if not create:
            return None
        check_identity_name(name)
        cur = self.db.execute(
            "INSERT INTO identities (name, created, metadata) VALUES (?, ?, ?)",
            (name, time.time(), json.dumps(metadata or {})),
        )
        return cur.lastrowid

    def identities(self) -> list[IdentityInfo]:
        rows = self.db.execute(
            "SELECT i.name, COUNT(f.id), i.created, i.metadata FROM identities i "
            "LEFT JOIN faces f ON f.identity_id = i.id GROUP BY i.id ORDER BY i.name"
        )
        return [IdentityInfo(n, c, t, json.loads(m)) for n, c, t, m in rows]

    def rename(self, old: str, new: str) -> None:
        old, new = identity_key(old), identity_key(new)
        with self.transaction():
            if self.identity_id(old) is None:
                raise GalleryError(f"no identity called {old!r}")
            if self.identity_id(new) is not None:
                raise GalleryError(f"an identity called {new!r} exists already")
            check_identity_name(new)
            self.db.execute("UPDATE identities SET name=? WHERE name=?", (new, old))
            self.db.execute("UPDATE negatives SET identity=? WHERE identity=?", (new, old))

    def remove(self, name: str) -> list[int]:
        """Delete an identity and its faces; returns the removed face ids."""
        name = identity_key(name)
        with self.transaction():
            identity = self.identity_id(name)
            if identity is None:
                raise GalleryError(f"no identity called {name!r}")
            ids = [
                r[0]
                for r in self.db.execute("SELECT id FROM faces WHERE identity_id=?", (identity,))
            ]
            self.db.execute("DELETE FROM faces WHERE identity_id=?", (identity,))
            self.db.execute("DELETE FROM identities WHERE id=?", (identity,))
        return ids

    def remove_face(self, face_id: int) -> str:
        """Delete one face; an identity left without faces goes too. Returns its identity.

        Raises:
            GalleryError: no face has that id.
        """
        with self.transaction():
            row = self.db.execute(
                "SELECT identity_id FROM faces WHERE id=?", (int(face_id),)
            ).fetchone()
            if row is None:
                raise GalleryError(f"no face with id {face_id}")
            name = self.db.execute("SELECT name FROM identities WHERE id=?", row).fetchone()[0]
            self.db.execute("DELETE FROM faces WHERE id=?", (int(face_id),))
            self.db.execute(
                "DELETE FROM identities WHERE id=? AND NOT EXISTS "
                "(SELECT 1 FROM faces WHERE identity_id=?)",
                (row[0], row[0]),
            )
        return name

    # -- faces ---------------------------------------------------------------------------
    def add_faces(
        self,
        name: str,
        embeddings: np.ndarray,
        sources: Sequence[str | None],
        source_keys: Sequence[str | None],
        boxes: Sequence[Sequence[float] | None],
        metadata: Sequence[dict],
    ) -> list[int]:
        """Insert faces of ``name`` (created if new) in one transaction; returns their ids.

        Faces whose ``source_key`` is already enrolled for this identity are skipped.
        """
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        ids = []
        with self.transaction():
            identity = self.identity_id(name, create=True)
            for emb, src, key, box, meta in zip(
                embeddings, sources, source_keys, boxes, metadata, strict=True
            ):
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO faces (identity_id, source, source_key, box, added, "
                    "metadata, embedding) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        identity,
                        src,
                        key,
                        None if box is None else json.dumps([float(v) for v in box]),
                        time.time(),
                        json.dumps(meta),
                        emb.tobytes(),
                    ),
                )
                if cur.rowcount:
                    ids.append(cur.lastrowid)
        return ids

    def has_source(self, source_key: str, name: str | None = None) -> bool:
        """Whether a face from this source is enrolled (for ``name``, or for anyone)."""
        name = identity_key(name)
        if name is None:
            row = self.db.execute(
                "SELECT 1 FROM faces WHERE source_key=? LIMIT 1", (source_key,)
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT 1 FROM faces f JOIN identities i ON f.identity_id=i.id WHERE "
                "f.source_key=? AND i.name=? LIMIT 1",
                (source_key, name),
            ).fetchone()
        return row is not None

    def face_count(self) -> int:
        """Number of stored faces."""
        return self.db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]

    def identity_count(self) -> int:
        """Number of identities with at least one face."""
        return self.db.execute("SELECT COUNT(DISTINCT identity_id) FROM faces").fetchone()[0]

    def vectors(self, face_ids: Sequence[int]) -> np.ndarray:
        """``(N, D)`` float32 embeddings of these faces, in the given order."""
        found: dict[int, bytes] = {}
        ids = [int(i) for i in face_ids]
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 900]
            rows = self.db.execute(
                f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update(rows)
        missing = [i for i in ids if i not in found]
        if missing:
            raise GalleryError(f"{self.path}: no faces with ids {missing[:5]}")
        return (
            np.stack([np.frombuffer(found[i], dtype=np.float32) for i in ids])
            if ids
            else np.zeros((0, self.dim), np.float32)
        )

    def faces(self, name: str | None = None) -> list[FaceRecord]:
        name = identity_key(name)
        sql = (
            "SELECT f.id, i.name, f.source, f.source_key, f.box, f.added, f.metadata FROM faces f "
            "JOIN identities i ON f.identity_id=i.id"
        )
        rows = self.db.execute(
            sql + (" WHERE i.name=?" if name else "") + " ORDER BY f.id", (name,) if name else ()
        )
        return [
            FaceRecord(i, n, s, k, None if b is None else json.loads(b), a, json.loads(m))
            for i, n, s, k, b, a, m in rows
        ]

    def names_of(self, face_ids: Sequence[int]) -> dict[int, str]:
        """Identity name of each face id."""
        out: dict[int, str] = {}
        ids = [int(i) for i in face_ids if i >= 0]
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 900]
            rows = self.db.execute(
                f"SELECT f.id, i.name FROM faces f JOIN identities i ON f.identity_id=i.id "
                f"WHERE f.id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update(dict(rows))
        return out

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All ``(ids (n,), embeddings (n, D))`` in id order, in chunks."""
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
                len(rows), self.dim
            )
            yield ids, vectors
            last = int(ids[-1])

    # -- negatives -----------------------------------------------------------------------
    def add_negative(self, name: str, embedding: np.ndarray, source: str | None) -> int:
        """Record that the face with this ``(D,)`` unit embedding is not ``name``; returns the
        negative's id."""
        name = check_identity_name(name)
        emb = np.ascontiguousarray(embedding, dtype=np.float32).reshape(-1)
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO negatives (identity, source, added, embedding) VALUES (?, ?, ?, ?)",
                (name, source, time.time(), emb.tobytes()),
            )
        return cur.lastrowid

    def negatives(self) -> list[NegativeRecord]:
        """Every negative, by id."""
        rows = self.db.execute(
            "SELECT id, identity, source, added, embedding FROM negatives ORDER BY id"
        )
        return [
            NegativeRecord(i, n, s, a, np.frombuffer(e, dtype=np.float32).copy())
            for i, n, s, a, e in rows
        ]

    def remove_negatives(self, name: str) -> int:
        """Forget every negative of ``name``; returns how many went."""
        with self.transaction():
            cur = self.db.execute("DELETE FROM negatives WHERE identity=?", (identity_key(name),))
        return cur.rowcount

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self.db.close()
        self._closed = True


class _Transaction:
    def __init__(self, store: GalleryStore) -> None:
        self.store = store
        self.db = store.db
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.db.in_transaction
        if self.outer:
            with _faults(self.store.path):
                self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb) -> None:
        if not self.outer:
            return
        if kind is None:
            with _faults(self.store.path):
                self.db.execute("COMMIT")
            self.store._wrote = True
        else:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

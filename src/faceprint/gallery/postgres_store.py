"""The gallery's records in PostgreSQL, for replicas on several machines sharing one gallery.

PostgreSQL is the system of record: the same tables as the SQLite store (in the schema
``faceprint`` of the database the URL names), the same change log written by a trigger in the
writing transaction, and a ``NOTIFY`` from that trigger. Each process listens on its own
connection; a notification sets a flag, and the next search catches its index up from the log
(every search also compares the log's latest sequence, one index lookup, so a write that a
client saw acknowledged by one replica is seen by the next search on any other).
Writers take one advisory lock per transaction, so sequence numbers commit in order and a reader
that has seen sequence ``n`` has seen every change up to ``n``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import GalleryError
from faceprint.extras import require
from faceprint.gallery.records import (
    ChangeSet,
    FaceRecord,
    IdentityInfo,
    NegativeRecord,
    net_changes,
)
from faceprint.gallery.store import check_identity_name, identity_key

logger = logging.getLogger(__name__)

#: 2: faces, identities and the change log; 3: negatives, change-logged too.
SCHEMA_VERSION = 3
#: The advisory lock every writer of a gallery takes (the database holds one gallery).
_LOCK = 0x46505247
_CHANNEL = "faceprint_changes"

_SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS faceprint",
    "CREATE TABLE faceprint.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE faceprint.identities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created DOUBLE PRECISION NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE faceprint.faces (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity_id BIGINT NOT NULL REFERENCES faceprint.identities(id) ON DELETE CASCADE,
    source TEXT,
    source_key TEXT,
    box TEXT,
    added DOUBLE PRECISION NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    embedding BYTEA NOT NULL,
    UNIQUE (identity_id, source_key)
)""",
    "CREATE INDEX faces_identity ON faceprint.faces(identity_id)",
    "CREATE INDEX faces_source_key ON faceprint.faces(source_key)",
    "CREATE TABLE faceprint.changes (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "face_id BIGINT NOT NULL, op SMALLINT NOT NULL)",
    f"""CREATE FUNCTION faceprint.log_face() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO faceprint.changes (face_id, op) VALUES (NEW.id, 1);
    ELSE
        INSERT INTO faceprint.changes (face_id, op) VALUES (OLD.id, -1);
    END IF;
    PERFORM pg_notify('{_CHANNEL}', '');
    RETURN NULL;
END $$""",
    "CREATE TRIGGER faces_logged AFTER INSERT OR DELETE ON faceprint.faces "
    "FOR EACH ROW EXECUTE FUNCTION faceprint.log_face()",
]
# Negatives ("not this person"), logged with ops +2 and -2 and notified like faces.
_NEGATIVES = [
    """CREATE TABLE faceprint.negatives (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity TEXT NOT NULL,
    source TEXT,
    added DOUBLE PRECISION NOT NULL,
    embedding BYTEA NOT NULL
)""",
    "CREATE INDEX negatives_identity ON faceprint.negatives(identity)",
    f"""CREATE FUNCTION faceprint.log_negative() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO faceprint.changes (face_id, op) VALUES (NEW.id, 2);
    ELSE
        INSERT INTO faceprint.changes (face_id, op) VALUES (OLD.id, -2);
    END IF;
    PERFORM pg_notify('{_CHANNEL}', '');
    RETURN NULL;
END $$""",
    "CREATE TRIGGER negatives_logged AFTER INSERT OR DELETE ON faceprint.negatives "
    "FOR EACH ROW EXECUTE FUNCTION faceprint.log_negative()",
]


def _psycopg():
    return require("psycopg", "postgres", "a PostgreSQL gallery (postgresql://...)")


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    conninfo = _psycopg().conninfo
    try:
        parts = conninfo.conninfo_to_dict(url)
    except _psycopg().ProgrammingError:
        return url.split("@")[-1]
    host = parts.get("host", "")
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '')}"


class PostgresStore:
    """A gallery in a PostgreSQL database (see :class:`faceprint.gallery.records.Store`).

    Args:
        url: ``postgresql://user:password@host:port/database``; the database holds one gallery.
        model: what made the embeddings (``"model/alignment"``); required to create.
        dim: embedding size; required to create.
        create: create the gallery's tables if the database has none.

    Raises:
        GalleryError: the server cannot be reached, there is no gallery and ``create`` is off,
            or the gallery's schema is newer than this faceprint.
    """

    def __init__(
        self, url: str, model: str | None = None, dim: int | None = None, create: bool = True
    ) -> None:
        psycopg = _psycopg()
        self._errors = psycopg.Error
        self.location = redact(url)
        self._closed = False
        self._wrote = False
        self._notified = threading.Event()
        self._notified.set()  # the first poll says "changed"
        self._stop = threading.Event()
        self._seen_sequence: int | None = None
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise GalleryError(f"{self.location}: cannot connect: {_first_line(e)}") from None
        try:
            self._open(model, dim, create)
            self._listener = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self._listener.execute(f"LISTEN {_CHANNEL}")
        except BaseException:
            self.db.close()
            raise
        self._thread = threading.Thread(
            target=self._listen, name="faceprint-gallery-listener", daemon=True
        )
        self._thread.start()

    def _open(self, model: str | None, dim: int | None, create: bool) -> None:
        try:
            with self.db.transaction():
                # One creator at a time: replicas starting together on an empty database.
                self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                exists = self._one("SELECT to_regclass('faceprint.meta')") is not None
                if not exists:
                    if not create:
                        raise GalleryError(f"{self.location}: no gallery in this database")
                    if model is None or dim is None:
                        raise GalleryError(
                            f"{self.location}: a new gallery needs the model and embedding size"
                        )
                    for statement in [*_SCHEMA, *_NEGATIVES]:
                        self.db.execute(statement)
                    for row in [
                        ("schema", str(SCHEMA_VERSION)),
                        ("model", model),
                        ("dim", str(dim)),
                        ("created", str(time.time())),
                        ("uid", uuid.uuid4().hex),
                        ("log_floor", "0"),
                    ]:
                        self.db.execute("INSERT INTO faceprint.meta VALUES (%s, %s)", row)
                elif self._one("SELECT value FROM faceprint.meta WHERE key='schema'") == "2":
                    # Schema 2 -> 3, under the creators' lock: the negatives table.
                    for statement in _NEGATIVES:
                        self.db.execute(statement)
                    self.db.execute(
                        "UPDATE faceprint.meta SET value=%s WHERE key='schema'",
                        (str(SCHEMA_VERSION),),
                    )
        except self._errors as e:
            message = f"{self.location}: cannot open the gallery: {_first_line(e)}"
            raise GalleryError(message) from None
        self.created = not exists
        schema = int(self.meta("schema"))
        if schema > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.location}: gallery schema {schema} is newer than this faceprint "
                f"({SCHEMA_VERSION}); upgrade faceprint"
            )
        self.model = self.meta("model")
        self.dim = int(self.meta("dim"))
        self.uid = self.meta("uid")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- transactions, metadata and the change log ----------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``with store.transaction():`` one atomic write; writers of the gallery take turns
        (nested ones join the outer one)."""
        if self.db.info.transaction_status != 0:  # already in one: join it
            yield
            return
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            yield
        self._wrote = True

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """``with store.snapshot():`` reads inside see one committed state (repeatable read)."""
        if self.db.info.transaction_status != 0:
            yield
            return
        with self.db.transaction():
            self.db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def meta(self, key: str, default: str | None = None) -> str:
        """The metadata value ``key``; ``default`` where absent (an error if that is None)."""
        value = self._one("SELECT value FROM faceprint.meta WHERE key=%s", (key,))
        if value is not None:
            return value
        if default is None:
            raise GalleryError(f"{self.location}: gallery metadata lacks {key!r}")
        return default

    def set_meta(self, key: str, value: str) -> None:
        """Store metadata ``key`` (not counted as a change of the records)."""
        self.db.execute(
            "INSERT INTO faceprint.meta VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    @property
    def sequence(self) -> int:
        """The sequence number of the last committed change, from any replica."""
        latest = self._one("SELECT max(seq) FROM faceprint.changes")
        return int(latest) if latest is not None else int(self.meta("log_floor"))

    @property
    def generation(self) -> int:
        """The same as :attr:`sequence`."""
        return self.sequence

    def changes(self, since: int) -> ChangeSet | None:
        """The net changes after sequence ``since``; None when the log cannot say them."""
        with self.snapshot():
            floor, current = int(self.meta("log_floor")), self.sequence
            if not floor <= since <= current:
                return None
            rows = self.db.execute(
                "SELECT seq, face_id, op FROM faceprint.changes WHERE seq > %s ORDER BY seq",
                (since,),
            )
            return net_changes(since, rows, floor)

    def poll(self) -> bool:
        """Whether a replica may have committed since the last poll that said so: a NOTIFY
        received, a write through this store, or a new latest sequence.

        The sequence (one look at the end of the log's primary key) is compared even when no
        NOTIFY came: a notification can reach this replica after the writer has answered its
        client, and that client may ask here next. It is also all there is when the listener's
        connection is lost.
        """
        notified = self._notified.is_set()
        self._notified.clear()  # before reading: a NOTIFY during the catch-up sets it again
        latest = self.sequence
        changed = notified or self._wrote or latest != self._seen_sequence
        self._seen_sequence, self._wrote = latest, False
        return changed

    def _listen(self) -> None:
        try:
            while not self._stop.is_set():
                for _ in self._listener.notifies(timeout=0.5):
                    self._notified.set()
        except self._errors as e:
            if not self._stop.is_set():
                logger.warning(
                    "%s: lost the change listener (%s); searches go by the sequence alone",
                    self.location,
                    _first_line(e),
                )

    def index_path(self) -> Path:
        """Where this machine keeps the gallery's FAISS index between runs."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "faceprint" / "galleries" / f"{self.uid}.faiss"

    # -- identities ----------------------------------------------------------------------
    def identity_id(
        self, name: str, create: bool = False, metadata: dict | None = None
    ) -> int | None:
        name = identity_key(name)
        found = self._one("SELECT id FROM faceprint.identities WHERE name=%s", (name,))
        if found is not None or not create:
            return found
        check_identity_name(name)
        return self._one(
            "INSERT INTO faceprint.identities (name, created, metadata) VALUES (%s, %s, %s) "
            "RETURNING id",
            (name, time.time(), json.dumps(metadata or {})),
        )

    def identities(self) -> list[IdentityInfo]:
        rows = self.db.execute(
            "SELECT i.name, COUNT(f.id), i.created, i.metadata FROM faceprint.identities i "
            "LEFT JOIN faceprint.faces f ON f.identity_id = i.id GROUP BY i.id ORDER BY i.name"
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
            self.db.execute("UPDATE faceprint.identities SET name=%s WHERE name=%s", (new, old))
            self.db.execute(
                "UPDATE faceprint.negatives SET identity=%s WHERE identity=%s", (new, old)
            )
            # Not a change of the faces, but templates are kept by name: other replicas look again.
            self.db.execute("SELECT pg_notify(%s, '')", (_CHANNEL,))

    def remove(self, name: str) -> list[int]:
        """Delete an identity and its faces; returns the removed face ids."""
        name = identity_key(name)
        with self.transaction():
            identity = self.identity_id(name)
            if identity is None:
                raise GalleryError(f"no identity called {name!r}")
            rows = self.db.execute(
                "DELETE FROM faceprint.faces WHERE identity_id=%s RETURNING id", (identity,)
            ).fetchall()
            self.db.execute("DELETE FROM faceprint.identities WHERE id=%s", (identity,))
        return sorted(r[0] for r in rows)

    def remove_face(self, face_id: int) -> str:
        """Delete one face; an identity left without faces goes too. Returns its identity.

        Raises:
            GalleryError: no face has that id.
        """
        with self.transaction():
            row = self.db.execute(
                "DELETE FROM faceprint.faces f USING faceprint.identities i "
                "WHERE f.id=%s AND i.id=f.identity_id RETURNING i.id, i.name",
                (int(face_id),),
            ).fetchone()
            if row is None:
                raise GalleryError(f"no face with id {face_id}")
            self.db.execute(
                "DELETE FROM faceprint.identities WHERE id=%s AND NOT EXISTS "
                "(SELECT 1 FROM faceprint.faces WHERE identity_id=%s)",
                (row[0], row[0]),
            )
        return row[1]

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
                added = self._one(
                    "INSERT INTO faceprint.faces (identity_id, source, source_key, box, added, "
                    "metadata, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (identity_id, source_key) DO NOTHING RETURNING id",
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
                if added is not None:
                    ids.append(added)
        return ids

    def has_source(self, source_key: str, name: str | None = None) -> bool:
        """Whether a face from this source is enrolled (for ``name``, or for anyone)."""
        name = identity_key(name)
        if name is None:
            return (
                self._one(
                    "SELECT 1 FROM faceprint.faces WHERE source_key=%s LIMIT 1", (source_key,)
                )
                is not None
            )
        return (
            self._one(
                "SELECT 1 FROM faceprint.faces f JOIN faceprint.identities i "
                "ON f.identity_id=i.id WHERE f.source_key=%s AND i.name=%s LIMIT 1",
                (source_key, name),
            )
            is not None
        )

    def face_count(self) -> int:
        """Number of stored faces."""
        return self._one("SELECT COUNT(*) FROM faceprint.faces")

    def identity_count(self) -> int:
        """Number of identities with at least one face."""
        return self._one("SELECT COUNT(DISTINCT identity_id) FROM faceprint.faces")

    def vectors(self, face_ids: Sequence[int]) -> np.ndarray:
        """``(N, D)`` float32 embeddings of these faces, in the given order."""
        ids = [int(i) for i in face_ids]
        found = dict(
            self.db.execute(
                "SELECT id, embedding FROM faceprint.faces WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        )
        missing = [i for i in ids if i not in found]
        if missing:
            raise GalleryError(f"{self.location}: no faces with ids {missing[:5]}")
        return (
            np.stack([np.frombuffer(found[i], dtype=np.float32) for i in ids])
            if ids
            else np.zeros((0, self.dim), np.float32)
        )

    def faces(self, name: str | None = None) -> list[FaceRecord]:
        name = identity_key(name)
        sql = (
            "SELECT f.id, i.name, f.source, f.source_key, f.box, f.added, f.metadata "
            "FROM faceprint.faces f JOIN faceprint.identities i ON f.identity_id=i.id"
        )
        rows = self.db.execute(
            sql + (" WHERE i.name=%s" if name else "") + " ORDER BY f.id", (name,) if name else ()
        )
        return [
            FaceRecord(i, n, s, k, None if b is None else json.loads(b), a, json.loads(m))
            for i, n, s, k, b, a, m in rows
        ]

    def names_of(self, face_ids: Sequence[int]) -> dict[int, str]:
        """Identity name of each face id (removed faces are left out)."""
        ids = [int(i) for i in face_ids if i >= 0]
        rows = self.db.execute(
            "SELECT f.id, i.name FROM faceprint.faces f JOIN faceprint.identities i "
            "ON f.identity_id=i.id WHERE f.id = ANY(%s)",
            (ids,),
        )
        return dict(rows.fetchall())

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All ``(ids (n,), embeddings (n, D))`` in id order, in chunks."""
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT id, embedding FROM faceprint.faces WHERE id > %s ORDER BY id LIMIT %s",
                (last, batch),
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
            return self._one(
                "INSERT INTO faceprint.negatives (identity, source, added, embedding) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (name, source, time.time(), emb.tobytes()),
            )

    def negatives(self) -> list[NegativeRecord]:
        """Every negative, by id."""
        rows = self.db.execute(
            "SELECT id, identity, source, added, embedding FROM faceprint.negatives ORDER BY id"
        )
        return [
            NegativeRecord(i, n, s, a, np.frombuffer(e, dtype=np.float32).copy())
            for i, n, s, a, e in rows.fetchall()
        ]

    def remove_negatives(self, name: str) -> int:
        """Forget every negative of ``name``; returns how many went."""
        with self.transaction():
            rows = self.db.execute(
                "DELETE FROM faceprint.negatives WHERE identity=%s RETURNING id",
                (identity_key(name),),
            ).fetchall()
        return len(rows)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop listening and close both connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.db.close()


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
